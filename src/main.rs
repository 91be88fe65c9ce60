//! Thin entry point: parse the command line, start tracing, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = ingest::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("INGEST_LOG")
                .unwrap_or_else(|_| EnvFilter::new("warn,qdrant_edge=error,sqlx=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(ingest::app::exit::FATAL);
        }
    };
    match runtime.block_on(ingest::app::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!(
                "error: {}",
                ingest::pipeline::error::one_line(&format!("{e:#}"))
            );
            ExitCode::from(ingest::app::exit::FATAL)
        }
    }
}

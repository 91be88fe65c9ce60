//! Thin entry point: parse the command line, start tracing, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc serves every allocation in the process, ONNX Runtime's C++ included (the
/// `unprefixed` build exports `malloc` and `free`). With glibc's per-thread arenas, memory freed
/// by one of the many threads stayed with its arena: peak RSS at `bench --scale 10` was
/// 716-733 MB, against 534 MB with jemalloc, which also embedded faster (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (`MALLOC_CONF` in the environment still applies on top): a
/// background thread gives dirty pages back to the system after one second, instead of ten
/// seconds and only when an allocating thread passes by; and two arenas instead of four per
/// core, so fewer arenas each hold freed pages of their own (peak RSS at `bench --scale 1`
/// 347-356 MB with eight, 330-331 MB with two, at the same speed).
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: &[u8; 70] =
    b"narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    // A child parser (PDF, DOCX, OCR) started by this program: no runtime, no logging setup.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(ingest::parse::isolate::CHILD_ARG) {
        let code = ingest::parse::isolate::child_main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let cli = ingest::cli::Cli::parse();
    ingest::logging::init(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Parsing and inference run on its blocking pool; see `KEEP_ALIVE` for why its
        // threads stay.
        .thread_keep_alive(ingest::pipeline::background::KEEP_ALIVE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ingest::logging::error_line(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(ingest::app::exit::FATAL);
        }
    };
    let result = runtime.block_on(ingest::app::run(cli));
    // Work abandoned on the blocking pool (a document let go at its soft time limit, or cut at
    // the end of a shutdown's grace period) must not hold the exit: everything the run
    // acknowledged is already durable. Child parsers die with their waiting thread.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            ingest::logging::error_line(&format!(
                "error: {}",
                ingest::pipeline::error::one_line(&format!("{e:#}"))
            ));
            ExitCode::from(ingest::app::exit::FATAL)
        }
    }
}

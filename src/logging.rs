//! Log output on stderr: human-readable text (the default) or one JSON object per line
//! (`--log-format json`, env `INGEST_LOG_FORMAT`), for log shippers.
//!
//! In JSON mode the lines meant for the user (`rejected: …`, `retry …`, the run summary) are
//! events too, with the same text in `message`, so stderr carries nothing but JSON; the run
//! (`run_id`) and the document (`source`, `job_id`, `document_id`) come from the spans the
//! event happened in (`spans`, outermost first).

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Where events of the user-facing lines go (`INGEST_LOG` directives can select it).
pub const REPORT_TARGET: &str = "ingest::report";

/// The filter when `INGEST_LOG` is not set. JSON mode also lets this crate's info events
/// (stage progress per document, run start and end) and spans through.
pub fn default_filter(format: LogFormat) -> &'static str {
    match format {
        LogFormat::Text => "warn,qdrant_edge=error,sqlx=error",
        LogFormat::Json => "warn,ingest=info,qdrant_edge=error,sqlx=error",
    }
}

/// Install the global subscriber for `format` (once per process).
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_env("INGEST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_filter(format)));
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
}

/// Whether stderr is JSON lines.
pub fn json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// A line for the user on stderr: as is in text mode, an event (warn) in JSON mode.
pub fn warn_line(line: &str) {
    if json() {
        tracing::warn!(target: REPORT_TARGET, "{line}");
    } else {
        eprintln!("{line}");
    }
}

/// An error line for the user on stderr: as is in text mode, an event (error) in JSON mode.
pub fn error_line(line: &str) {
    if json() {
        tracing::error!(target: REPORT_TARGET, "{line}");
    } else {
        eprintln!("{line}");
    }
}

/// An informational line on stderr: as is in text mode, an event (info) in JSON mode.
pub fn info_line(line: &str) {
    if json() {
        tracing::info!(target: REPORT_TARGET, "{line}");
    } else {
        eprintln!("{line}");
    }
}

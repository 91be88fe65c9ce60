//! Prometheus metrics of this process: documents per type, stage and outcome, chunks, stage
//! durations, retries, and the queue as the job store sees it. Served over HTTP by
//! `--metrics-addr` (`GET /metrics`) while a worker runs, or written as a node_exporter
//! textfile by `--metrics-file` when a run ends; both in the Prometheus text format (0.0.4).
//!
//! The counters and histograms live for the process (one run per process); the gauges are
//! read from the job store each time the exposition is produced.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use crate::pipeline::record::{DocType, Stage};
use crate::store::jobs::Jobs;

/// Stage duration buckets, seconds: 5 ms to about 10 minutes (a parse with OCR can be long).
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Queue states reported (a legacy `rejected` or `failed` row counts as `dead`).
const STATES: &[&str] = &["queued", "running", "done", "dead"];

/// What one document's stage came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The stage's output is durable (checkpointed, or stored).
    Ok,
    /// A refresh found the source unchanged: nothing ran past the fetch.
    Unchanged,
    /// A transient failure: back in the queue.
    Retry,
    /// Bad input: dead at once.
    Rejected,
    /// Out of retries: dead.
    Dead,
    /// A fatal error (configuration, schema): the run stops.
    Fatal,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unchanged => "unchanged",
            Outcome::Retry => "retry",
            Outcome::Rejected => "rejected",
            Outcome::Dead => "dead",
            Outcome::Fatal => "fatal",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    documents: IntCounterVec,
    chunks: IntCounterVec,
    stage_seconds: HistogramVec,
    retries: IntCounterVec,
    dead: IntGaugeVec,
    queue: IntGaugeVec,
}

impl Metrics {
    fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let documents = IntCounterVec::new(
            Opts::new(
                "ingest_documents_total",
                "Documents that went through a stage, by type, stage and outcome (ok, retry, rejected, dead, fatal).",
            ),
            &["type", "stage", "outcome"],
        )?;
        let chunks = IntCounterVec::new(
            Opts::new("ingest_chunks_total", "Chunks stored, by document type."),
            &["type"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "ingest_stage_duration_seconds",
                "Time one piece of work of a stage took (a document; in the embed stage, a batch).",
            )
            .buckets(BUCKETS.to_vec()),
            &["stage", "type"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "ingest_retries_total",
                "Retries scheduled after a transient failure, by type and stage.",
            ),
            &["type", "stage"],
        )?;
        let dead = IntGaugeVec::new(
            Opts::new(
                "ingest_dead_jobs",
                "Dead jobs in the queue (ingest dlq list), by type.",
            ),
            &["type"],
        )?;
        let queue = IntGaugeVec::new(
            Opts::new(
                "ingest_queue_depth",
                "Jobs in the queue by type and state (queued, running, done, dead).",
            ),
            &["type", "state"],
        )?;
        registry.register(Box::new(documents.clone()))?;
        registry.register(Box::new(chunks.clone()))?;
        registry.register(Box::new(stage_seconds.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(dead.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        Ok(Self {
            registry,
            documents,
            chunks,
            stage_seconds,
            retries,
            dead,
            queue,
        })
    }

    /// Counters of a document's stage outcome.
    pub fn document(&self, doc_type: DocType, stage: Stage, outcome: Outcome) {
        self.documents
            .with_label_values(&[doc_type.as_str(), stage.as_str(), outcome.as_str()])
            .inc();
        if outcome == Outcome::Retry {
            self.retries
                .with_label_values(&[doc_type.as_str(), stage.as_str()])
                .inc();
        }
    }

    pub fn chunks_stored(&self, doc_type: DocType, n: u64) {
        self.chunks
            .with_label_values(&[doc_type.as_str()])
            .inc_by(n);
    }

    /// One piece of work of `stage` for documents of `doc_type` (`mixed` for an embedding
    /// batch over several types) took `d`.
    pub fn stage_time(&self, stage: Stage, doc_type: &str, d: Duration) {
        self.stage_seconds
            .with_label_values(&[stage.as_str(), doc_type])
            .observe(d.as_secs_f64());
    }

    /// Read the queue gauges from the job store: every type and state, zeros included.
    pub async fn refresh_queue(&self, jobs: &Jobs) -> anyhow::Result<()> {
        let depth = jobs.queue_depth().await?;
        for t in [DocType::Norm, DocType::Jurisprudence, DocType::Doctrine] {
            for s in STATES {
                let n: i64 = depth
                    .iter()
                    .filter(|d| d.doc_type == t.as_str() && state_name(&d.state) == *s)
                    .map(|d| d.count)
                    .sum();
                self.queue.with_label_values(&[t.as_str(), s]).set(n);
                if *s == "dead" {
                    self.dead.with_label_values(&[t.as_str()]).set(n);
                }
            }
        }
        Ok(())
    }

    /// The exposition, Prometheus text format.
    pub fn encode(&self) -> anyhow::Result<String> {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .context("cannot encode the metrics")?;
        String::from_utf8(out).context("metrics are not UTF-8")
    }

    /// The exposition with fresh queue gauges.
    pub async fn exposition(&self, jobs: &Jobs) -> anyhow::Result<String> {
        self.refresh_queue(jobs).await?;
        self.encode()
    }
}

fn state_name(state: &str) -> &str {
    match state {
        "rejected" | "failed" => "dead",
        s => s,
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    // The names and labels are fixed and valid: building them cannot fail.
    METRICS.get_or_init(|| Metrics::new().expect("metric definitions are valid"))
}

/// Write the exposition to `path` as node_exporter's textfile collector reads it: to
/// `PATH.tmp` first, then renamed over `path`, so a reader never sees half a file.
pub async fn write_file(path: &Path, jobs: &Jobs) -> anyhow::Result<()> {
    let text = global().exposition(jobs).await?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .with_context(|| format!("metrics file {}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        format!(
            "metrics file {}: cannot rename {} over it",
            path.display(),
            tmp.display()
        )
    })
}

/// Serve `GET /metrics` on `addr` until the returned task is aborted. Returns the bound
/// address (port 0 picks a free one).
pub async fn serve(
    addr: &str,
    jobs: Jobs,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
    let local = listener
        .local_addr()
        .with_context(|| format!("--metrics-addr {addr}: no local address"))?;
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("metrics endpoint: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let jobs = jobs.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let jobs = jobs.clone();
                    async move { Ok::<_, Infallible>(respond(req, &jobs).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("metrics endpoint: connection ended: {e}");
                }
            });
        }
    });
    Ok((local, task))
}

async fn respond(
    req: hyper::Request<hyper::body::Incoming>,
    jobs: &Jobs,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, ctype: &str, body: String| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
    };
    if req.uri().path() != "/metrics" {
        return reply(
            404,
            "text/plain",
            "not found: the metrics are at /metrics\n".into(),
        );
    }
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return reply(405, "text/plain", "only GET /metrics\n".into());
    }
    match global().exposition(jobs).await {
        Ok(text) => reply(200, prometheus::TEXT_FORMAT, text),
        Err(e) => reply(
            503,
            "text/plain",
            format!("cannot read the job store: {e:#}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_come_out_in_the_text_format() {
        let m = Metrics::new().unwrap();
        m.document(DocType::Norm, Stage::Parse, Outcome::Ok);
        m.document(DocType::Norm, Stage::Store, Outcome::Retry);
        m.document(DocType::Doctrine, Stage::Parse, Outcome::Rejected);
        m.chunks_stored(DocType::Norm, 7);
        m.stage_time(Stage::Embed, "norm", Duration::from_millis(30));
        let text = m.encode().unwrap();
        assert!(
            text.contains("# TYPE ingest_documents_total counter"),
            "{text}"
        );
        assert!(text.contains(
            r#"ingest_documents_total{outcome="rejected",stage="parse",type="doctrine"} 1"#
        ));
        assert!(text.contains(r#"ingest_retries_total{stage="store",type="norm"} 1"#));
        assert!(text.contains(r#"ingest_chunks_total{type="norm"} 7"#));
        assert!(text.contains(
            r#"ingest_stage_duration_seconds_bucket{stage="embed",type="norm",le="0.05"} 1"#
        ));
        assert!(text.contains(
            r#"ingest_stage_duration_seconds_bucket{stage="embed",type="norm",le="0.025"} 0"#
        ));
        assert!(
            text.contains(r#"ingest_stage_duration_seconds_count{stage="embed",type="norm"} 1"#)
        );
        assert!(!text.contains("# EOF"));
    }
}

//! Watching runs: `status --json` after a real run, JSON logs carrying the run and the
//! document, the metrics textfile of a one-shot run, and a worker serving `/metrics`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::faults::two_acts;

/// Two acts and one input that is not Akoma Ntoso (rejected at parse).
fn acts_and_a_bad_one(dir: &Path) -> (PathBuf, String) {
    let bad = dir.join("not_an_act.xml");
    std::fs::write(&bad, "<html><body><p>not an act</p></body></html>\n").unwrap();
    let bad = bad.display().to_string();
    let l = list(
        dir,
        "mixed.txt",
        &[
            fixture_line("norm/it_normattiva_legge_56_2007.xml"),
            fixture_line("norm/it_normattiva_legge_gelli_bianco.xml"),
            bad.clone(),
        ],
    );
    (l, bad)
}

/// The spans of a JSON log line, outermost first.
fn spans(line: &Value) -> Vec<Value> {
    line["spans"].as_array().cloned().unwrap_or_default()
}

fn span_field(line: &Value, field: &str) -> Option<String> {
    spans(line)
        .iter()
        .rev()
        .find_map(|s| s[field].as_str().map(str::to_string))
}

#[test]
fn status_json_reports_types_stages_the_last_run_and_its_throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (l, bad) = acts_and_a_bad_one(tmp.path());
    let r = ingest(&data, &l, &[], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let summary = r.summary();
    let st = status(&data);
    assert_eq!(st["version"], 1);
    let norm = &st["by_type"]["norm"];
    assert_eq!(norm["total"], 3, "{st}");
    assert_eq!(norm["states"]["done"], 2);
    assert_eq!(norm["states"]["dead"], 1);
    assert_eq!(norm["stages"]["store"], 2);
    assert_eq!(norm["stages"]["none"], 1);
    assert!(st["by_type"].get("doctrine").is_none());

    let last = &st["last_run"];
    assert_eq!(last["run_id"], summary["run_id"]);
    assert_eq!(last["kind"], "ingest");
    assert_eq!(last["outcome"], "ok");
    assert_eq!(
        (
            last["documents_ok"].as_i64(),
            last["documents_rejected"].as_i64(),
            last["documents_failed"].as_i64(),
            last["documents"].as_i64()
        ),
        (Some(2), Some(1), Some(0), Some(3))
    );
    assert_eq!(last["chunks"], summary["chunks"]);
    assert!(last["chunks"].as_i64().unwrap() > 2);
    assert!(last["finished_at"].as_i64().unwrap() >= last["started_at"].as_i64().unwrap());
    let secs = last["elapsed_secs"].as_f64().unwrap();
    assert!(secs > 0.0, "{last}");
    let rate = last["chunks_per_hour"].as_f64().unwrap();
    let expected = last["chunks"].as_f64().unwrap() * 3600.0 / secs;
    assert!((rate - expected).abs() < 1e-6 * expected, "{last}");
    assert_eq!(st["runs"].as_array().unwrap().len(), 1);
    assert_eq!(
        st["workers"].as_array().unwrap().len(),
        0,
        "nothing runs now"
    );
    assert_eq!(st["dead_jobs"], 1);
    let errors = st["last_errors"].as_array().unwrap();
    assert_eq!(errors[0]["source"], bad.as_str());
    assert_eq!(errors[0]["stage"], "parse");
    assert_eq!(errors[0]["class"], "rejected");

    // A second run of the same list adds a run; the latest is first.
    let again = ingest(&data, &l, &[], &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    let st = status(&data);
    assert_eq!(st["runs"].as_array().unwrap().len(), 2);
    assert_eq!(st["last_run"]["run_id"], again.summary()["run_id"]);
    assert_eq!(
        st["last_run"]["documents_ok"], 0,
        "both acts were already done"
    );

    // The text form keeps its lines and names the last run.
    let text = run_args(&["status", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("documents stored: 2"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!(
            "last run: {} (ingest, ok)",
            again.summary()["run_id"].as_str().unwrap()
        )),
        "{}",
        text.stdout
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_the_run_and_the_document() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (l, bad) = acts_and_a_bad_one(tmp.path());
    let r = ingest(&data, &l, &[], &["--log-format", "json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let run_id = r.summary()["run_id"].as_str().unwrap().to_string();
    let lines: Vec<Value> = r
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", r.stderr))
        })
        .collect();
    assert!(lines.len() >= 10, "{}", r.stderr);
    for line in &lines {
        let target = line["target"].as_str().unwrap_or("");
        if target.starts_with("ingest::pipeline") || target == "ingest::report" {
            assert_eq!(
                span_field(line, "run_id").as_deref(),
                Some(run_id.as_str()),
                "{line}"
            );
        }
    }
    // Every document event names its source (and, once parsed, its document id).
    let doc_events: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            matches!(
                l["message"].as_str(),
                Some("claimed" | "stage done" | "document stored")
            )
        })
        .collect();
    // 3 claimed, 2 x 4 stage checkpoints, 2 stored.
    assert_eq!(doc_events.len(), 3 + 2 * 4 + 2, "{}", r.stderr);
    for e in &doc_events {
        let source = span_field(e, "source").unwrap_or_else(|| panic!("no source: {e}"));
        assert!(source.ends_with(".xml"), "{e}");
        assert!(spans(e).iter().any(|s| s["job_id"].is_i64()), "{e}");
    }
    let stored: Vec<&&Value> = doc_events
        .iter()
        .filter(|e| e["message"] == "document stored")
        .collect();
    assert!(stored
        .iter()
        .all(|e| span_field(e, "document_id").is_some_and(|d| d.starts_with("/akn/it/act/"))));

    // The user-facing lines are events with the same text.
    let rejected = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("rejected: "))
        })
        .unwrap_or_else(|| panic!("no rejected event:\n{}", r.stderr));
    assert_eq!(rejected["level"], "WARN");
    assert!(rejected["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("rejected: {bad}: parse stage: ")));
    assert_eq!(
        span_field(rejected, "source").as_deref(),
        Some(bad.as_str())
    );
    let summary = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("documents: "))
        })
        .unwrap_or_else(|| panic!("no summary event:\n{}", r.stderr));
    assert!(summary["message"]
        .as_str()
        .unwrap()
        .starts_with("documents: 2 ok, 1 rejected, 0 failed, 0 already done | chunks: "));
    assert_eq!(summary["documents_ok"], 2);
    assert_eq!(
        span_field(summary, "run_id").as_deref(),
        Some(run_id.as_str())
    );

    // The default stays text: the same lines, no JSON on stderr.
    let data2 = tmp.path().join("data2");
    let t = ingest(&data2, &l, &[], &[]);
    assert_eq!(t.code, 2);
    assert!(t
        .stderr
        .lines()
        .any(|l| l.starts_with(&format!("rejected: {bad}: parse stage: "))));
    assert!(!t.stderr.contains("{\""), "{}", t.stderr);
}

/// Value of one sample line (`name{labels} value`) of an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_one_shot_run_writes_its_metrics_as_a_textfile() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (l, _) = acts_and_a_bad_one(tmp.path());
    let file = tmp.path().join("ingest.prom");
    let r = ingest(&data, &l, &[], &["--metrics-file", file.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let chunks = r.summary()["chunks"].as_f64().unwrap();
    assert!(!tmp.path().join("ingest.prom.tmp").exists());
    let text = std::fs::read_to_string(&file).unwrap();
    let s = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    for stage in ["parse", "chunk", "embed", "enrich", "store"] {
        assert_eq!(
            s(&format!(
                r#"ingest_documents_total{{outcome="ok",stage="{stage}",type="norm"}}"#
            )),
            2.0
        );
    }
    assert_eq!(
        s(r#"ingest_documents_total{outcome="rejected",stage="parse",type="norm"}"#),
        1.0
    );
    assert_eq!(s(r#"ingest_chunks_total{type="norm"}"#), chunks);
    assert_eq!(s(r#"ingest_dead_jobs{type="norm"}"#), 1.0);
    assert_eq!(s(r#"ingest_dead_jobs{type="doctrine"}"#), 0.0);
    assert_eq!(s(r#"ingest_queue_depth{state="done",type="norm"}"#), 2.0);
    assert_eq!(s(r#"ingest_queue_depth{state="dead",type="norm"}"#), 1.0);
    assert_eq!(s(r#"ingest_queue_depth{state="queued",type="norm"}"#), 0.0);
    // Histograms: every bucket, cumulative, ending at +Inf = count.
    assert!(text.contains("# TYPE ingest_stage_duration_seconds histogram"));
    let parse_count = s(r#"ingest_stage_duration_seconds_count{stage="parse",type="norm"}"#);
    assert_eq!(parse_count, 3.0, "the rejected input was parsed too");
    assert_eq!(
        s(r#"ingest_stage_duration_seconds_bucket{stage="parse",type="norm",le="+Inf"}"#),
        parse_count
    );
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.starts_with(r#"ingest_stage_duration_seconds_bucket{stage="store",type="norm""#)
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.len() > 10, "{text}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(*buckets.last().unwrap(), 2.0);
    // No retries happened: the family has no sample.
    assert!(!text.contains("ingest_retries_total{"), "{text}");
    // Prometheus text format (what node_exporter reads), not OpenMetrics.
    assert!(!text.contains("# EOF"));
}

/// `GET path` over plain TCP: (status line, body).
fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[test]
fn a_worker_serves_metrics_while_it_runs_and_status_shows_it_alive() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_acts(tmp.path());
    let enq = run_args(&[
        "enqueue",
        "--type",
        "norm",
        l.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(enq.code, 0, "{}", enq.stderr);
    let mut child = Command::new(BIN)
        .args([
            "worker",
            "--no-progress",
            "--json",
            "--metrics-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound address is announced on stderr.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut announced = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("the worker ended without serving metrics:\n{announced}");
        }
        announced.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("metrics: serving http://") {
            break rest.strip_suffix("/metrics").unwrap().to_string();
        }
    };
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    assert!(!addr.ends_with(":0"), "{addr}");
    let started = Instant::now();
    let body = loop {
        let (status, body) = http_get(&addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        if sample(&body, r#"ingest_queue_depth{state="done",type="norm"}"#) == Some(2.0) {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the worker did not finish the two acts:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        sample(
            &body,
            r#"ingest_documents_total{outcome="ok",stage="store",type="norm"}"#
        ),
        Some(2.0),
        "{body}"
    );
    assert!(sample(&body, r#"ingest_chunks_total{type="norm"}"#).unwrap() > 2.0);
    assert!(body
        .contains(r#"ingest_stage_duration_seconds_bucket{stage="embed",type="norm",le="+Inf"}"#));
    assert_eq!(http_get(&addr, "/").0, "HTTP/1.1 404 Not Found");

    // While it runs (idle, waiting for jobs), status lists it as a live worker.
    let st = status(&data);
    let workers = st["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{st}");
    assert_eq!(workers[0]["kind"], "worker");
    assert_eq!(workers[0]["alive"], true);
    assert!(workers[0]["worker"]
        .as_str()
        .unwrap()
        .contains(&format!("-{}-", child.id())));

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let rest = drain.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{rest}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the endpoint ends with the worker"
    );
    let st = status(&data);
    assert_eq!(st["workers"].as_array().unwrap().len(), 0, "{st}");
    assert_eq!(st["last_run"]["kind"], "worker");
    assert_eq!(st["last_run"]["outcome"], "interrupted");
    assert_eq!(st["last_run"]["documents_ok"], 2);
}

#[test]
fn a_bad_metrics_address_is_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_acts(tmp.path());
    let r = ingest(&data, &l, &[], &["--metrics-addr", "not-an-address"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("error: --metrics-addr not-an-address: cannot listen")),
        "{}",
        r.stderr
    );
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM runs"), 0);
}

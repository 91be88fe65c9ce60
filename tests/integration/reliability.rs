//! The failure policy end to end: a process killed in each stage, poison documents, retries
//! with backoff into the dead-letter queue and back, the job queue shared by `enqueue` and
//! `worker`, and a worker stopped by a signal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::faults::{assert_same, snapshot, two_acts};

/// The bundled norm pipeline with a fast retry policy (tests cannot wait minutes).
pub fn fast_retry_pipeline(dir: &Path, max_retries: u32, max_crashes: u32) -> PathBuf {
    let bundled =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/norm.toml"))
            .unwrap();
    let (head, _) = bundled
        .split_once("[retry]")
        .expect("bundled pipeline has [retry]");
    let (_, tail) = bundled.split_once("[limits]").unwrap();
    let text = format!(
        "{head}[retry]\nbase_secs = 0.2\nfactor = 2\nmax_retries = {max_retries}\nmax_delay_secs = 1\njitter = 0.25\nmax_crashes = {max_crashes}\n\n[limits]{tail}"
    );
    let p = dir.join(format!("norm-r{max_retries}-c{max_crashes}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

type GraphRows = Vec<(Vec<String>, Value)>;

/// Nodes and edges of the embedded graph, as sorted rows with their properties parsed (key
/// order in a merged property object is not content).
fn graph(data: &Path) -> (GraphRows, GraphRows) {
    let split = |rows: Vec<Vec<String>>| -> GraphRows {
        rows.into_iter()
            .map(|mut r| {
                let props = serde_json::from_str(&r.pop().unwrap()).unwrap();
                (r, props)
            })
            .collect()
    };
    (
        split(query_rows(
            data,
            "SELECT id, label, owner, props FROM graph_nodes ORDER BY id",
        )),
        split(query_rows(
            data,
            "SELECT src, rel, dst, key, owner, props FROM graph_edges ORDER BY src, rel, dst, key",
        )),
    )
}

fn rows(data: &Path) -> Vec<Vec<String>> {
    query_rows(
        data,
        "SELECT id, source, doc_type, title, content_hash, chunk_count, model_id FROM documents ORDER BY id",
    )
}

fn with_data(data: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", data.to_str().unwrap()]);
    run_args(&all)
}

#[test]
fn kill_9_in_each_stage_then_a_rerun_equals_a_clean_run() {
    let tmp = tempfile::tempdir().unwrap();
    let l = two_acts(tmp.path());
    let clean = tmp.path().join("clean");
    assert_eq!(ingest(&clean, &l, &[], &[]).code, 0);
    let (clean_snap, clean_graph, clean_rows) = (snapshot(&clean), graph(&clean), rows(&clean));
    assert!(!clean_snap.is_empty() && !clean_graph.1.is_empty());
    for stage in ["parse", "chunk", "embed", "enrich", "store"] {
        let data = tmp.path().join(format!("killed-in-{stage}"));
        let fault = format!("crash-in-{stage}");
        let killed = ingest(&data, &l, &[("INGEST_FAULT", fault.as_str())], &[]);
        assert_eq!(
            killed.code, -1,
            "{stage}: the process dies by SIGKILL: {}",
            killed.stderr
        );
        // Nothing of the killed run is lost (completed stages) or doubled on the rerun.
        let again = ingest(&data, &l, &[], &[]);
        assert_eq!(again.code, 0, "{stage}: {}", again.stderr);
        // ... and each document resumed from its last checkpoint: every stage ran once per
        // document across the two runs (a checkpoint the rerun could not read would have
        // started its document again from parse).
        assert!(
            !again.stderr.contains("checkpoint unreadable"),
            "{stage}: {}",
            again.stderr
        );
        assert_eq!(
            query_rows(
                &data,
                "SELECT stage || '=' || runs FROM stage_counters ORDER BY stage"
            )
            .concat(),
            ["chunk=2", "embed=2", "enrich=2", "parse=2", "store=2"],
            "{stage}"
        );
        assert_same(&clean_snap, &snapshot(&data));
        assert_eq!(clean_graph, graph(&data), "{stage}: graph");
        assert_eq!(clean_rows, rows(&data), "{stage}: document rows");
        let v = with_data(&data, &["verify"]);
        assert_eq!(v.code, 0, "{stage}: {}{}", v.stdout, v.stderr);
        assert_eq!(
            scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'done'"),
            2,
            "{stage}"
        );
        // The documents the killed process held were taken back as suspects and finished.
        assert_eq!(
            scalar(&data, "SELECT COUNT(*) FROM jobs WHERE crashes > 0"),
            0,
            "{stage}: no document was charged for a crash it shared"
        );
    }
}

#[test]
fn a_poison_document_runs_alone_and_only_it_is_charged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let acts = distinct_acts(tmp.path(), 4);
    let sources: Vec<String> = std::fs::read_to_string(&acts)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let poison = sources[1].clone();
    let pipeline = fast_retry_pipeline(tmp.path(), 3, 1);
    let fault = format!(
        "crash-on:{}",
        Path::new(&poison).file_name().unwrap().to_str().unwrap()
    );
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let r = ingest(
            &data,
            &acts,
            &[("INGEST_FAULT", fault.as_str())],
            &["--pipeline", pipeline.to_str().unwrap()],
        );
        runs.push(r.code);
        if r.code != -1 {
            last = Some(r);
            break;
        }
    }
    let last = last.unwrap_or_else(|| panic!("the poison kept killing every run: {runs:?}"));
    assert!(runs.len() >= 2 && runs[0] == -1, "{runs:?}");
    assert_eq!(last.code, 2, "{}", last.stderr);
    let line = last
        .stderr
        .lines()
        .find(|l| l.starts_with("rejected: ") && l.contains(&poison))
        .unwrap_or_else(|| panic!("no line for the poison:\n{}", last.stderr));
    assert!(line.contains("poison"), "{line}");
    let done: Vec<String> = query_rows(
        &data,
        "SELECT source FROM jobs WHERE state = 'done' ORDER BY source",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let mut innocent: Vec<String> = sources.iter().filter(|s| **s != poison).cloned().collect();
    innocent.sort();
    assert_eq!(done, innocent, "every innocent document is done");
    assert_eq!(
        query_rows(
            &data,
            "SELECT source, state FROM jobs WHERE crashes > 0 OR state = 'dead'"
        ),
        vec![vec![poison.clone(), "dead".to_string()]],
        "only the poison was charged"
    );
    let dlq = with_data(&data, &["dlq", "list", "--json"]);
    assert_eq!(dlq.code, 0, "{}", dlq.stderr);
    let dead: Value = serde_json::from_str(&dlq.stdout).unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["source"], poison.as_str());
    assert_eq!(status(&data)["documents"], 3);
}

#[test]
fn transient_failures_back_off_into_the_dead_letter_queue_and_requeue_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_acts(tmp.path());
    let pipeline = fast_retry_pipeline(tmp.path(), 2, 2);
    let started = Instant::now();
    let r = ingest(
        &data,
        &l,
        &[("INGEST_FAULT", "store")],
        &["--pipeline", pipeline.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Two documents, two retries each after 0.2 s and 0.4 s (+-25%), then dead.
    for n in ["retry 1/2 in ", "retry 2/2 in "] {
        assert_eq!(
            r.stderr.lines().filter(|l| l.starts_with(n)).count(),
            2,
            "{n}\n{}",
            r.stderr
        );
    }
    let dead_lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("dead after 2 retries: ") && l.contains("store stage"))
        .collect();
    assert_eq!(dead_lines.len(), 2, "{}", r.stderr);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the backoff was waited out"
    );
    assert_eq!(r.summary()["documents_failed"], 2);
    let st = status(&data);
    assert_eq!(st["dead_jobs"], 2);
    assert_eq!(stage_runs(&st, "parse"), 2);
    assert_eq!(stage_runs(&st, "embed"), 2);
    assert_eq!(
        scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'dead' AND retries = 2 AND last_error_class = 'transient'"),
        2
    );

    let listed = with_data(&data, &["dlq", "list"]);
    assert_eq!(listed.code, 0);
    assert_eq!(listed.stdout.lines().count(), 2, "{}", listed.stdout);
    assert!(
        listed.stdout.contains("INGEST_FAULT=store"),
        "{}",
        listed.stdout
    );
    let ids: Vec<String> = query_rows(&data, "SELECT id FROM jobs ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let one = with_data(&data, &["dlq", "requeue", &ids[0]]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(one.stdout.contains("requeued 1"), "{}", one.stdout);
    let all = with_data(&data, &["dlq", "requeue", "--all"]);
    assert!(all.stdout.contains("requeued 1"), "{}", all.stdout);
    assert_eq!(status(&data)["dead_jobs"], 0);

    // A worker drains the requeued jobs from their checkpoints: nothing parsed or embedded again.
    let w = with_data(
        &data,
        &["worker", "--until-empty", "--no-progress", "--json"],
    );
    assert_eq!(w.code, 0, "{}", w.stderr);
    assert_eq!(w.summary()["documents_ok"], 2, "{}", w.stdout);
    let st = status(&data);
    assert_eq!(stage_runs(&st, "parse"), 2);
    assert_eq!(stage_runs(&st, "embed"), 2);
    assert_eq!(st["documents"], 2);
    assert_eq!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND retries = 0"
        ),
        2,
        "a requeue gives a fresh retry budget"
    );

    // Purge: a dead letter made by a rejected input goes, with its checkpoint.
    let junk = tmp.path().join("junk.xml");
    std::fs::write(&junk, b"\x00\x01 not xml").unwrap();
    let bad = list(tmp.path(), "bad.txt", &[junk.display().to_string()]);
    let r = ingest(&data, &bad, &[], &[]);
    assert_eq!(r.code, 2);
    assert_eq!(status(&data)["dead_jobs"], 1);
    let kept = with_data(&data, &["dlq", "purge", "--older-than", "1h"]);
    assert!(kept.stdout.contains("purged 0"), "{}", kept.stdout);
    let purged = with_data(&data, &["dlq", "purge"]);
    assert!(purged.stdout.contains("purged 1"), "{}", purged.stdout);
    assert_eq!(status(&data)["dead_jobs"], 0);
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM jobs"), 2);
}

#[test]
fn enqueue_is_idempotent_and_workers_take_jobs_by_priority() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let norms = two_acts(tmp.path());
    let doctrine = list(
        tmp.path(),
        "doctrine.txt",
        &[fixture_line("doctrine/tesi_piras_01-prova-scientifica.md")],
    );
    let enq = |t: &str, l: &Path| {
        let r = with_data(
            &data,
            &["enqueue", "--type", t, l.to_str().unwrap(), "--json"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<Value>(r.stdout.trim()).unwrap()
    };
    // Doctrine first in time, norms first by priority.
    assert_eq!(enq("doctrine", &doctrine)["added"], 1);
    let first = enq("norm", &norms);
    assert_eq!(
        (first["added"].as_i64(), first["priority"].as_i64()),
        (Some(2), Some(10))
    );
    let again = enq("norm", &norms);
    assert_eq!(again["added"], 0);
    assert_eq!(again["already_queued"], 2);
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM jobs"), 3);

    let w = with_data(
        &data,
        &[
            "worker",
            "--until-empty",
            "--concurrency",
            "1",
            "--no-progress",
            "--json",
        ],
    );
    assert_eq!(w.code, 0, "{}", w.stderr);
    assert_eq!(w.summary()["documents_ok"], 3, "{}", w.stdout);
    // Finish order (the line is first in, first out): norms (priority 10) before doctrine
    // (1), although doctrine was queued first.
    let order: Vec<String> = query_rows(&data, "SELECT doc_type FROM jobs ORDER BY updated_at, id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(order, ["norm", "norm", "doctrine"]);
    let done = enq("norm", &norms);
    assert_eq!(done["already_done"], 2);
    assert_eq!(done["added"], 0);
    let st = status(&data);
    assert_eq!(st["documents"], 3);
    assert_eq!(st["lease_holders"].as_array().unwrap().len(), 0);
}

#[test]
fn sigterm_stops_a_worker_which_hands_its_jobs_back_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = distinct_acts(tmp.path(), 40);
    let r = with_data(&data, &["enqueue", "--type", "norm", l.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let child = Command::new(BIN)
        .args([
            "worker",
            "--no-progress",
            "--json",
            "--grace-secs",
            "20",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'done'") < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no document finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let done = scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'done'");
    assert!(done < 40, "the worker stopped claiming ({done} done)");
    assert_eq!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM jobs WHERE state = 'running' OR lease_owner IS NOT NULL"
        ),
        0,
        "every lease was released"
    );
    assert_eq!(
        scalar(&data, "SELECT COUNT(DISTINCT document_id) FROM chunks"),
        done,
        "what is done is stored, nothing else"
    );
    let w = with_data(
        &data,
        &["worker", "--until-empty", "--no-progress", "--json"],
    );
    assert_eq!(w.code, 0, "{}", w.stderr);
    let st = status(&data);
    assert_eq!(st["documents"], 40);
    assert_eq!(stage_runs(&st, "store"), 40);
}

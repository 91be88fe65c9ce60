//! Fault tests: a store that fails, a process killed mid-run, a parser that panics.
//! Nothing acknowledged is lost, nothing is duplicated, and resumed output equals a clean run's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ingest::embed::cosine;
use ingest::store::edge::EdgeVectors;

use crate::common::*;

const MODEL: &str = "use-multilingual-v3-int8";

pub fn two_acts(dir: &Path) -> std::path::PathBuf {
    list(
        dir,
        "l.txt",
        &[
            fixture_line("norm/it_normattiva_legge_56_2007.xml"),
            fixture_line("norm/it_normattiva_legge_gelli_bianco.xml"),
        ],
    )
}

/// chunk id -> (text, embed_text, payload, vector)
/// Ingest with the store stage failing and no retries: every document goes straight to the
/// dead letters with its enrich checkpoint.
fn ingest_with_failing_store(dir: &Path, data: &Path, list: &Path) -> Run {
    let p = crate::reliability::fast_retry_pipeline(dir, 0, 2);
    ingest(
        data,
        list,
        &[("INGEST_FAULT", "store")],
        &["--pipeline", p.to_str().unwrap()],
    )
}

pub type Snapshot = BTreeMap<String, (String, String, serde_json::Value, Vec<f32>)>;

pub fn snapshot(data: &Path) -> Snapshot {
    let rows = query_rows(data, "SELECT id, text, embed_text FROM chunks ORDER BY id");
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let edge = Arc::new(EdgeVectors::new(&data.join("vectors")));
    let points = edge.retrieve(MODEL, &ids).unwrap();
    assert_eq!(points.len(), ids.len(), "every chunk has its point");
    let by_chunk: BTreeMap<String, (serde_json::Value, Vec<f32>)> = points
        .into_iter()
        .map(|p| {
            (
                p.payload["chunk_id"].as_str().unwrap().to_string(),
                (p.payload, p.vector),
            )
        })
        .collect();
    rows.into_iter()
        .map(|r| {
            let (payload, vector) = by_chunk[&r[0]].clone();
            (r[0].clone(), (r[1].clone(), r[2].clone(), payload, vector))
        })
        .collect()
}

pub fn assert_same(a: &Snapshot, b: &Snapshot) {
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb);
        assert_eq!(va.0, vb.0, "text of {ka}");
        assert_eq!(va.1, vb.1, "embedded text of {ka}");
        assert_eq!(va.2, vb.2, "payload of {ka}");
        let c = cosine(&va.3, &vb.3);
        assert!(c >= 1.0 - 1e-6, "vector of {ka}: cosine {c}");
    }
}

#[test]
fn a_failing_store_resumes_without_parsing_or_embedding_again() {
    let tmp = tempfile::tempdir().unwrap();
    let l = two_acts(tmp.path());

    let clean = tmp.path().join("clean");
    assert_eq!(ingest(&clean, &l, &[], &[]).code, 0);

    let data = tmp.path().join("data");
    let failed = ingest_with_failing_store(tmp.path(), &data, &l);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    assert_eq!(failed.summary()["documents_failed"], 2);
    assert!(failed.stderr.contains("store stage"), "{}", failed.stderr);
    let st = status(&data);
    assert_eq!(st["chunks"], 0, "nothing stored yet");
    for j in st["jobs"].as_array().unwrap() {
        assert_eq!(j["state"], "dead");
        assert_eq!(
            j["stage"], "enrich",
            "checkpoint stays at the last completed stage"
        );
    }
    let (parse, chunk, embed) = (
        stage_runs(&st, "parse"),
        stage_runs(&st, "chunk"),
        stage_runs(&st, "embed"),
    );
    assert_eq!((parse, chunk, embed), (2, 2, 2));

    let resumed = ingest(&data, &l, &[], &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let st = status(&data);
    assert_eq!(stage_runs(&st, "parse"), parse, "parse did not run again");
    assert_eq!(stage_runs(&st, "chunk"), chunk, "chunk did not run again");
    assert_eq!(stage_runs(&st, "embed"), embed, "embed did not run again");
    assert_eq!(
        stage_runs(&st, "store"),
        2 + 2,
        "one failed run per document (after its retries), then one success each"
    );

    assert_same(&snapshot(&clean), &snapshot(&data));
    let cs = status(&clean);
    for key in [
        "documents",
        "chunks",
        "vectors",
        "graph_nodes",
        "graph_edges",
    ] {
        assert_eq!(cs[key], st[key], "{key}");
    }
}

#[test]
fn a_process_killed_after_a_checkpoint_resumes_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let l = two_acts(tmp.path());
    let clean = tmp.path().join("clean");
    assert_eq!(ingest(&clean, &l, &[], &[]).code, 0);

    let data = tmp.path().join("data");
    let crashed = ingest(&data, &l, &[("INGEST_FAULT", "crash-after-embed")], &[]);
    assert_eq!(
        crashed.code, 137,
        "the fault exits abruptly: {}",
        crashed.stderr
    );
    let st = status(&data);
    assert!(stage_runs(&st, "embed") >= 1);
    let embeds_before = stage_runs(&st, "embed");

    let resumed = ingest(&data, &l, &[], &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let st = status(&data);
    assert_eq!(
        stage_runs(&st, "parse"),
        2,
        "each document parsed once across both processes"
    );
    assert_eq!(
        stage_runs(&st, "embed"),
        2,
        "the checkpointed embed ({embeds_before}) was reused"
    );
    assert_same(&snapshot(&clean), &snapshot(&data));
    assert_eq!(status(&clean)["graph_edges"], st["graph_edges"]);
}

#[test]
fn a_panicking_parser_rejects_the_input_not_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_acts(tmp.path());
    let r = ingest(&data, &l, &[("INGEST_FAULT", "parse-panic")], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.summary()["documents_rejected"], 2);
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("rejected: ") && l.contains("parser crashed"))
            .count(),
        2,
        "{}",
        r.stderr
    );
    // The same list, parser healthy: rejected inputs are tried again and land.
    let again = ingest(&data, &l, &[], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.summary()["documents_ok"], 2);
}

#[test]
fn sigterm_drains_in_flight_documents_and_a_rerun_finishes_the_list() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = distinct_acts(tmp.path(), 60);
    let child = spawn_until_one_done(&data, &l);
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    let done = scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'done'");
    assert!(done < 60, "the run stopped taking documents ({done} done)");
    assert_eq!(
        scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'running'"),
        0,
        "unfinished documents were handed back"
    );
    assert_eq!(
        scalar(&data, "SELECT COUNT(DISTINCT document_id) FROM chunks"),
        done,
        "only finished documents have chunks"
    );
    assert_eq!(
        scalar(&data, "SELECT COUNT(*) FROM chunks"),
        scalar(&data, "SELECT COALESCE(SUM(chunk_count), 0) FROM documents"),
        "finished documents are whole"
    );

    let rerun = ingest(&data, &l, &[], &[]);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let s = rerun.summary();
    assert_eq!(
        s["documents_ok"].as_i64().unwrap() + s["documents_skipped_done"].as_i64().unwrap(),
        60
    );
    let st = status(&data);
    assert_eq!(st["documents"], 60);
    let per_doc = scalar(&data, "SELECT MIN(chunk_count) FROM documents");
    assert_eq!(
        per_doc,
        scalar(&data, "SELECT MAX(chunk_count) FROM documents")
    );
    assert_eq!(
        st["chunks"].as_i64().unwrap(),
        60 * per_doc,
        "no duplicates, nothing missing"
    );
    assert_eq!(st["vectors"][MODEL], st["chunks"]);
    assert_eq!(
        stage_runs(&st, "store"),
        60,
        "every document stored exactly once"
    );
}

#[test]
fn a_checkpoint_made_with_another_model_is_not_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_acts(tmp.path());
    // Stops after enrich: the embed checkpoint holds the default model's vectors.
    let failed = ingest_with_failing_store(tmp.path(), &data, &l);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    let minilm = "all-minilm-l6-v2-int8";
    let resumed = ingest(&data, &l, &[], &["--model", minilm]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let st = status(&data);
    // Chunks are sized in the model's tokens, so the documents start again from parse.
    assert_eq!(stage_runs(&st, "parse"), 4);
    assert_eq!(stage_runs(&st, "embed"), 4);
    let chunks = st["chunks"].as_i64().unwrap();
    assert_eq!(st["vectors"][minilm].as_i64().unwrap(), chunks);
    assert_eq!(
        st["vectors"][MODEL], 0,
        "no vectors of the other model: {}",
        st["vectors"]
    );
    assert_eq!(
        scalar(
            &data,
            &format!("SELECT COUNT(*) FROM chunks WHERE model_id = '{minilm}'")
        ),
        chunks
    );
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = distinct_acts(tmp.path(), 60);
    let first = spawn_until_one_done(&data, &l);
    // Paused, the first process holds the data dir for as long as the checks take (else it
    // might finish its list first on a fast machine).
    // SAFETY: signalling our own child.
    unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGSTOP) };
    let second = ingest(&data, &l, &[], &[]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains("in use by another process"),
        "{}",
        second.stderr
    );
    assert_eq!(second.stderr.trim().lines().count(), 1, "{}", second.stderr);
    // Another model does not make it another store: the data dir is taken whole.
    let other = ingest(&data, &l, &[], &["--model", "all-minilm-l6-v2-int8"]);
    assert_eq!(other.code, 1, "{}", other.stderr);
    assert!(
        other.stderr.contains("in use by another process"),
        "{}",
        other.stderr
    );
    let reembed = run_args(&[
        "reembed",
        "--model",
        "all-minilm-l6-v2-int8",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(reembed.code, 1, "{}", reembed.stderr);
    assert!(
        reembed.stderr.contains("in use by another process"),
        "{}",
        reembed.stderr
    );
    unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGCONT) };
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        scalar(&data, "SELECT COUNT(DISTINCT run_id) FROM jobs"),
        1,
        "the refused process left the first one's jobs alone"
    );
    let st = status(&data);
    assert_eq!(st["documents"], 60);
    assert_eq!(stage_runs(&st, "store"), 60);
}

/// Start `ingest` on `list` in the background and return once it has finished a document.
pub fn spawn_until_one_done(data: &Path, list: &Path) -> std::process::Child {
    let child = std::process::Command::new(BIN)
        .args([
            "--type",
            "norm",
            list.to_str().unwrap(),
            "--no-progress",
            "--json",
            "--data-dir",
        ])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !(data.join("ingest.db").exists()
        && scalar(data, "SELECT COUNT(*) FROM jobs WHERE state = 'done'") >= 1)
    {
        assert!(
            started.elapsed().as_secs() < 120,
            "no document finished in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

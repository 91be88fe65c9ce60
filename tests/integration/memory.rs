//! Memory stays flat: ten times more distinct documents must not mean ten times the peak RSS.

use crate::common::*;

#[test]
fn peak_memory_does_not_grow_with_the_number_of_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let small = ingest(
        &tmp.path().join("d20"),
        &distinct_acts(tmp.path(), 20),
        &[],
        &[],
    );
    assert_eq!(small.code, 0, "{}", small.stderr);
    let large = ingest(
        &tmp.path().join("d200"),
        &distinct_acts(tmp.path(), 200),
        &[],
        &[],
    );
    assert_eq!(large.code, 0, "{}", large.stderr);
    let (s, l) = (small.summary(), large.summary());
    assert_eq!(s["documents_ok"], 20);
    assert_eq!(l["documents_ok"], 200);
    assert_eq!(
        l["chunks"].as_i64().unwrap(),
        10 * s["chunks"].as_i64().unwrap()
    );
    let (rs, rl) = (
        s["peak_rss_kb"].as_f64().unwrap(),
        l["peak_rss_kb"].as_f64().unwrap(),
    );
    assert!(
        rl < rs * 1.25,
        "10x the documents raised peak RSS from {rs} kB to {rl} kB"
    );
}

/// The embedded vector store's write-ahead log is memory-mapped segment by segment, and the
/// pages written stay resident until a segment retires: its segments are 4 MB, not the
/// engine's default 32 MB.
#[test]
fn the_vector_write_ahead_log_uses_small_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = ingest(&data, &distinct_acts(tmp.path(), 5), &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut segments = 0;
    for model in std::fs::read_dir(data.join("vectors")).unwrap() {
        let wal = model.unwrap().path().join("wal");
        for f in std::fs::read_dir(&wal).unwrap() {
            let f = f.unwrap();
            let len = f.metadata().unwrap().len();
            assert!(
                len <= 4 * 1024 * 1024,
                "{}: {len} bytes",
                f.path().display()
            );
            segments += 1;
        }
    }
    assert!(segments > 0, "no WAL segment under {}", data.display());
}

/// The fast stages (fetch, parse) do not run ahead of inference without bound: a runner with
/// one parse worker holds at most `in_flight_limit(1)` documents between claiming and storing
/// them, and still holds several at once (the stages overlap).
#[test]
fn documents_in_flight_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let list = distinct_acts(tmp.path(), 30);
    let r = ingest(
        &tmp.path().join("data"),
        &list,
        &[],
        &["--concurrency", "1", "--log-format", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["documents_ok"], 30);
    let (mut held, mut most, mut claimed) = (0usize, 0usize, 0usize);
    for line in r.stderr.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        match event["message"].as_str() {
            Some("claimed") => {
                held += 1;
                claimed += 1;
                most = most.max(held);
            }
            Some("document stored") => held -= 1,
            _ => {}
        }
    }
    assert_eq!(claimed, 30);
    let limit = ingest::pipeline::runner::in_flight_limit(1);
    assert!(most <= limit, "{most} documents in flight, limit {limit}");
    assert!(
        most >= 3,
        "only {most} documents in flight at once: the stages did not overlap"
    );
}

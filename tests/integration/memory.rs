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

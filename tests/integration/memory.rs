//! Memory stays flat: ten times more distinct documents must not mean ten times the peak RSS.

use std::path::Path;

use crate::common::*;

/// Write `n` distinct acts (distinct FRBR ids, numbers and text) derived from a real one.
fn distinct_acts(dir: &Path, n: usize) -> std::path::PathBuf {
    let template =
        std::fs::read_to_string(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap();
    let docs = dir.join(format!("acts{n}"));
    std::fs::create_dir_all(&docs).unwrap();
    let mut lines = Vec::new();
    for i in 0..n {
        let num = 10_000 + i;
        let text = template
            .replace("2007-05-04/56", &format!("2007-05-04/{num}"))
            .replace(
                "Giorno della memoria",
                &format!("Giorno della memoria numero {num}"),
            );
        let p = docs.join(format!("act_{num}.xml"));
        std::fs::write(&p, text).unwrap();
        lines.push(p.display().to_string());
    }
    list(dir, &format!("list{n}.txt"), &lines)
}

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

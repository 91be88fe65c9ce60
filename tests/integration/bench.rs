//! `ingest bench` runs end to end on a tiny corpus and reports sane figures (no timing
//! assertions: only that every field is there and consistent).

use crate::common::*;

#[test]
fn bench_runs_on_a_small_fixture_and_reports_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = tmp.path().join("fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    let f = "it_normattiva_legge_56_2007.xml";
    std::fs::copy(fixture(&format!("norm/{f}")), fixtures.join(f)).unwrap();
    let work = tmp.path().join("work");
    let args = |scale: &str| {
        vec![
            "bench".to_string(),
            "--scale".into(),
            scale.into(),
            "--model".into(),
            "all-minilm-l6-v2-int8".into(),
            "--fixtures".into(),
            fixtures.display().to_string(),
            "--work-dir".into(),
            work.display().to_string(),
            "--json".into(),
        ]
    };
    let one = run_args(&args("1").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(one.code, 0, "{}\n{}", one.stdout, one.stderr);
    let two = run_args(&args("2").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(two.code, 0, "{}\n{}", two.stdout, two.stderr);
    let (s1, s2) = (one.summary(), two.summary());
    assert_eq!(s1["documents"], 1);
    assert_eq!(s2["documents"], 2, "copies are distinct documents");
    let chunks = s1["chunks"].as_u64().unwrap();
    assert!(chunks > 1, "{s1}");
    assert_eq!(s2["chunks"].as_u64().unwrap(), 2 * chunks, "{s2}");
    for s in [&s1, &s2] {
        assert_eq!(s["model"], "all-minilm-l6-v2-int8");
        for k in [
            "chunks_per_hour",
            "embed_only_chunks_per_hour",
            "ratio",
            "elapsed_secs",
            "embed_only_secs",
        ] {
            assert!(s[k].as_f64().unwrap() > 0.0, "{k} in {s}");
        }
        assert!(s["peak_rss_kb"].as_u64().unwrap() > 10_000, "{s}");
        // MiniLM reuses the chunk stage's token ids: the pass times tokenising apart.
        assert!(s["tokenize_only_secs"].as_f64().unwrap() >= 0.0, "{s}");
        let stages = s["stages"].as_array().unwrap();
        let names: Vec<&str> = stages
            .iter()
            .map(|x| x["stage"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["parse", "chunk", "embed", "enrich", "store"]);
        for st in stages {
            assert!(st["busy_secs"].as_f64().unwrap() > 0.0, "{st}");
            assert!(st["units"].as_u64().unwrap() > 0, "{st}");
        }
        // Where the CPU went: some in the run and in the embed-only pass, by named thread
        // groups that add up to the process's total. (Which groups show up on a corpus this
        // small depends on 10 ms clock ticks; `app::cpu`'s unit test checks attribution.)
        for k in ["run_cpu", "embed_only_cpu"] {
            let cpu = &s[k];
            let total = cpu["total_secs"].as_f64().unwrap();
            assert!(total > 0.0, "{k}: {cpu}");
            let groups = cpu["groups"].as_array().unwrap();
            assert!(
                groups
                    .iter()
                    .all(|g| !g["name"].as_str().unwrap().is_empty()),
                "{k}: {cpu}"
            );
            let sum: f64 = groups
                .iter()
                .map(|g| g["secs"].as_f64().unwrap())
                .sum::<f64>()
                + cpu["exited_secs"].as_f64().unwrap();
            assert!((sum - total).abs() < 0.05, "{k}: {cpu}");
        }
    }
    // The work dir is cleaned up.
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);

    // Bad input: one line naming it.
    let bad = run_args(&["bench", "--fixtures", "/nonexistent-fixtures"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("/nonexistent-fixtures") && bad.stderr.lines().count() == 1,
        "{}",
        bad.stderr
    );
}

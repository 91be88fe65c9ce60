//! Command-line contract: refusals are one clear line and the documented exit codes.

use crate::common::*;

#[test]
fn an_act_given_as_another_type_is_rejected_with_the_right_type_named() {
    let tmp = tempfile::tempdir().unwrap();
    let act = fixture_line("norm/it_normattiva_legge_56_2007.xml");
    let l = list(tmp.path(), "l.txt", std::slice::from_ref(&act));
    for t in ["jurisprudence", "doctrine"] {
        let data = tmp.path().join(t);
        let r = run_args(&[
            "--type",
            t,
            l.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--no-progress",
        ]);
        assert_eq!(r.code, 2, "{t}: {}", r.stderr);
        let line = r
            .stderr
            .lines()
            .find(|l| l.starts_with("rejected: "))
            .unwrap_or_else(|| panic!("{t}: {}", r.stderr));
        assert!(line.contains(&act), "{line}");
        assert!(line.contains("ingest acts with --type norm"), "{line}");
    }
    // A pipeline file for another type is refused before anything runs.
    let pipeline = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/doctrine.toml");
    let r = run_args(&[
        "--type",
        "jurisprudence",
        l.to_str().unwrap(),
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("pipeline file is for type doctrine"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
    let r = run_args(&["--type", "statute", l.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("unknown document type \"statute\""),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_list_is_a_fatal_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_args(&[
        "--type",
        "norm",
        "/nonexistent/list.txt",
        "--data-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot open list /nonexistent/list.txt"),
        "{}",
        r.stderr
    );
}

#[test]
fn status_without_data_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_args(&[
        "status",
        "--data-dir",
        tmp.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no ingest data"), "{}", r.stderr);
}

#[test]
fn a_missing_model_names_the_make_target() {
    let tmp = tempfile::tempdir().unwrap();
    let l = list(
        tmp.path(),
        "l.txt",
        &[fixture_line("norm/it_normattiva_legge_56_2007.xml")],
    );
    let r = run_args(&[
        "--type",
        "norm",
        l.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("d").to_str().unwrap(),
        "--models-dir",
        tmp.path().join("no-models").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("make models"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_missing_onnx_runtime_library_is_a_clear_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let l = list(
        tmp.path(),
        "l.txt",
        &[fixture_line("norm/it_normattiva_legge_56_2007.xml")],
    );
    let out = std::process::Command::new(BIN)
        .args(["--type", "norm", l.to_str().unwrap(), "--data-dir"])
        .arg(tmp.path().join("d"))
        .env("ORT_DYLIB_PATH", tmp.path().join("libonnxruntime.so"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ONNX Runtime library"), "{stderr}");
    assert!(stderr.contains("make models"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

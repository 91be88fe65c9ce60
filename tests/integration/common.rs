//! Helpers shared by the integration tests: run the real binary on real fixtures in a
//! temporary data dir and read back what landed in the stores.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ingest");

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn summary(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| {
                panic!(
                    "no JSON summary in stdout:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            });
        serde_json::from_str(line).expect("summary is JSON")
    }
}

fn to_run(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ingest --type norm LIST --json` with the data dir and optional extra env.
pub fn ingest(data: &Path, list: &Path, env: &[(&str, &str)], extra: &[&str]) -> Run {
    ingest_type("norm", data, list, env, extra)
}

/// `ingest --type TYPE LIST --json` with the data dir and optional extra env.
pub fn ingest_type(
    doc_type: &str,
    data: &Path,
    list: &Path,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("--type")
        .arg(doc_type)
        .arg(list)
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .arg("--no-progress")
        .args(extra)
        .env_remove("INGEST_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    to_run(cmd.output().expect("run ingest"))
}

pub fn run_args(args: &[&str]) -> Run {
    to_run(Command::new(BIN).args(args).output().expect("run ingest"))
}

pub fn status(data: &Path) -> Value {
    let r = run_args(&["status", "--json", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(r.code, 0, "status failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("status JSON")
}

/// Runs of a stage according to `status`.
pub fn stage_runs(status: &Value, stage: &str) -> i64 {
    status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .map(|s| s["runs"].as_i64().unwrap())
        .unwrap_or(0)
}

/// Write a list file with the given lines.
pub fn list(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

pub fn fixture_line(rel: &str) -> String {
    fixture(rel).display().to_string()
}

/// Open the embedded SQLite store read-only through rusqlite-free sqlx, on a small runtime.
pub fn query_rows(data: &Path, sql: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Row;
        let db = ingest::store::sqlite::Sqlite::try_open(&data.join("ingest.db"))
            .await
            .unwrap();
        let rows = sqlx::query(sql).fetch_all(db.pool()).await.unwrap();
        let out = rows
            .iter()
            .map(|r| {
                (0..r.columns().len())
                    .map(|i| {
                        r.try_get::<String, _>(i)
                            .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
                            .or_else(|_| {
                                r.try_get::<Option<String>, _>(i)
                                    .map(|v| v.unwrap_or_default())
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        db.close().await;
        out
    })
}

pub fn scalar(data: &Path, sql: &str) -> i64 {
    query_rows(data, sql)[0][0].parse().unwrap()
}

/// Write `n` distinct acts (distinct FRBR ids, numbers and text) derived from a real one.
pub fn distinct_acts(dir: &Path, n: usize) -> std::path::PathBuf {
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

//! Nightly refresh: unchanged sources skip parsing, changed ones replace their chunks, newer
//! norm versions close the old one's validity, sources gone from the list are withdrawn,
//! overlapping refreshes do not both run, citations link to norms that arrive later, and
//! cleanup removes old dead letters with what they partly stored.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::common::*;

/// `ingest refresh --json` with its arguments and optional env.
fn refresh(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("refresh")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .arg("--no-progress")
        .env_remove("INGEST_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run ingest refresh");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Three distinct small acts (real Normattiva text, own FRBR ids) in `dir`.
fn acts(dir: &Path) -> Vec<PathBuf> {
    let template =
        std::fs::read_to_string(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap();
    (1..=3)
        .map(|n| {
            let p = dir.join(format!("act_90{n}.xml"));
            let text = template
                .replace("2007-05-04/56", &format!("2007-05-04/90{n}"))
                .replace("Giorno della memoria", &format!("Giorno della memoria {n}"));
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect()
}

fn doc_id(n: u32, version: &str) -> String {
    format!("/akn/it/act/legge/stato/2007-05-04/90{n}/ita@{version}")
}

fn lines(paths: &[&PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

#[test]
fn refresh_skips_unchanged_replaces_changed_keeps_versions_and_withdraws_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = acts(tmp.path());
    let all = list(tmp.path(), "all.txt", &lines(&[&a[0], &a[1], &a[2]]));
    assert_eq!(ingest(&data, &all, &[], &[]).code, 0);

    // Nothing changed: every source is skipped before parsing (a parse would panic here).
    let r = refresh(
        &data,
        &["--type", "norm", all.to_str().unwrap()],
        &[("INGEST_FAULT", "parse-panic")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(
        (
            s["revisited"].as_u64(),
            s["unchanged"].as_u64(),
            s["reingested"].as_u64()
        ),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND refresh = 0 AND checked_at IS NOT NULL"), 3);

    // act 1: a new version in force from 2024-03-01; act 2: same version, article 2 dropped;
    // act 3: gone from the list.
    let v1 = std::fs::read_to_string(&a[0]).unwrap();
    std::fs::write(
        &a[0],
        v1.replace("ita@2007-05-06", "ita@2024-03-01")
            .replace("Giorno della memoria 1", "Giorno del ricordo 1"),
    )
    .unwrap();
    let v2 = std::fs::read_to_string(&a[1]).unwrap();
    let start = v2.find("<article eId=\"art_2\"").unwrap();
    let end = v2[start..].find("</article>").unwrap() + start + "</article>".len();
    std::fs::write(&a[1], format!("{}{}", &v2[..start], &v2[end..])).unwrap();
    let two = list(tmp.path(), "two.txt", &lines(&[&a[0], &a[1]]));
    let r = refresh(&data, &["--type", "norm", two.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(
        (s["unchanged"].as_u64(), s["reingested"].as_u64()),
        (Some(0), Some(2)),
        "{s}"
    );
    assert_eq!(
        s["withdrawn"],
        serde_json::json!([a[2].display().to_string()])
    );
    assert!(
        r.stderr.contains(&format!(
            "withdrawn: {} ({})",
            a[2].display(),
            doc_id(3, "2007-05-06")
        )),
        "{}",
        r.stderr
    );

    // Both versions of act 1, the old one closed at the new one's date, chunks alike.
    let old = doc_id(1, "2007-05-06");
    let new = doc_id(1, "2024-03-01");
    let validity = query_rows(&data, "SELECT id, valid_from, valid_to FROM documents WHERE id LIKE '%/901/%' ORDER BY valid_from");
    assert_eq!(
        validity,
        vec![
            vec![old.clone(), "2007-05-06".into(), "2024-03-01".into()],
            vec![new.clone(), "2024-03-01".into(), String::new()],
        ]
    );
    assert_eq!(scalar(&data, &format!("SELECT COUNT(*) FROM chunks WHERE document_id = '{old}' AND valid_to = '2024-03-01'")), 2);
    // The text in force on a date.
    let in_force = |date: &str| {
        query_rows(
            &data,
            &format!(
                "SELECT text FROM chunks WHERE document_id LIKE '%/901/%' AND eid = 'art_1'
               AND valid_from <= '{date}' AND (valid_to IS NULL OR valid_to > '{date}')"
            ),
        )
    };
    let then = in_force("2010-01-01");
    let now = in_force("2025-06-30");
    assert_eq!((then.len(), now.len()), (1, 1));
    assert!(
        then[0][0].contains("Giorno della memoria 1") && now[0][0].contains("Giorno del ricordo 1"),
        "{then:?} {now:?}"
    );

    // Act 2: the superseded article is gone; act 3: gone from every store, job withdrawn.
    assert_eq!(
        scalar(
            &data,
            &format!(
                "SELECT COUNT(*) FROM chunks WHERE document_id = '{}'",
                doc_id(2, "2007-05-06")
            )
        ),
        1
    );
    assert_eq!(
        scalar(
            &data,
            &format!(
                "SELECT COUNT(*) FROM documents WHERE id = '{}'",
                doc_id(3, "2007-05-06")
            )
        ),
        0
    );
    assert_eq!(
        scalar(
            &data,
            &format!(
                "SELECT COUNT(*) FROM graph_nodes WHERE owner = '{}'",
                doc_id(3, "2007-05-06")
            )
        ),
        0
    );
    assert_eq!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM jobs WHERE withdrawn_at IS NOT NULL"
        ),
        1
    );
    assert_eq!(status(&data)["withdrawn"], 1);
    let d = data.to_str().unwrap();
    let v = run_args(&["verify", "--data-dir", d]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);

    // Listed again, the withdrawn source comes back in full.
    let r = refresh(&data, &["--type", "norm", all.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(
        (s["unchanged"].as_u64(), s["reingested"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(
        scalar(
            &data,
            &format!(
                "SELECT COUNT(*) FROM chunks WHERE document_id = '{}'",
                doc_id(3, "2007-05-06")
            )
        ),
        2
    );
    assert_eq!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM jobs WHERE withdrawn_at IS NOT NULL"
        ),
        0
    );

    // Without a LIST every known source is revisited, none withdrawn; the metrics count
    // the skipped documents.
    let prom = tmp.path().join("refresh.prom");
    let r = refresh(
        &data,
        &["--type", "norm", "--metrics-file", prom.to_str().unwrap()],
        &[("INGEST_FAULT", "parse-panic")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["unchanged"].as_u64(), Some(3));
    let metrics = std::fs::read_to_string(&prom).unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("ingest_documents_total{") && l.contains("outcome=\"unchanged\""))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(" 3"), "{line}");
    // A LIST needs exactly one type.
    let r = refresh(&data, &[all.to_str().unwrap()], &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("exactly one --type"), "{}", r.stderr);
}

/// One source over HTTP with an ETag, answering 304 to a matching If-None-Match. Records
/// the If-None-Match header of every request.
struct EtagServer {
    url: String,
    state: Arc<Mutex<(Vec<u8>, String)>>,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl EtagServer {
    fn start(body: Vec<u8>, etag: &str) -> EtagServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/act.xml", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new((body, etag.to_string())));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (st, sn) = (state.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { break };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let req = String::from_utf8_lossy(&req).to_string();
                let inm = req
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("if-none-match:"))
                    .map(|l| l.split_once(':').unwrap().1.trim().to_string());
                sn.lock().unwrap().push(inm.clone());
                let (body, etag) = st.lock().unwrap().clone();
                let resp = if inm.as_deref() == Some(etag.as_str()) {
                    format!(
                        "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes()
                } else {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                };
                let _ = s.write_all(&resp);
            }
        });
        EtagServer { url, state, seen }
    }
}

#[test]
fn refresh_asks_the_server_and_a_304_skips_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let body = std::fs::read(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap();
    let server = EtagServer::start(body.clone(), "\"v1\"");
    let l = list(tmp.path(), "http.txt", std::slice::from_ref(&server.url));
    assert_eq!(ingest(&data, &l, &[], &[]).code, 0);
    assert_eq!(
        query_rows(&data, "SELECT etag FROM jobs"),
        vec![vec!["\"v1\"".to_string()]]
    );

    let r = refresh(
        &data,
        &["--type", "norm", l.to_str().unwrap()],
        &[("INGEST_FAULT", "parse-panic")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["unchanged"].as_u64(), Some(1));
    assert_eq!(
        server
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("\"v1\"")
    );

    // A new body under a new ETag is fetched in full and re-ingested.
    let changed = String::from_utf8(body)
        .unwrap()
        .replace("Giorno della memoria", "Giorno della Memoria");
    *server.state.lock().unwrap() = (changed.into_bytes(), "\"v2\"".to_string());
    let r = refresh(&data, &["--type", "norm", l.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (
            r.summary()["unchanged"].as_u64(),
            r.summary()["reingested"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        query_rows(&data, "SELECT etag FROM jobs"),
        vec![vec!["\"v2\"".to_string()]]
    );
    assert_eq!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM chunks WHERE text LIKE '%Giorno della Memoria%'"
        ),
        1
    );
}

#[test]
fn a_refresh_holding_the_lock_makes_a_second_one_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = acts(tmp.path());
    let l = list(tmp.path(), "one.txt", &lines(&[&a[0]]));
    assert_eq!(ingest(&data, &l, &[], &[]).code, 0);
    let set_lock = |owner: &str, expires: &str| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = ingest::store::sqlite::Sqlite::try_open(&data.join("ingest.db")).await.unwrap();
            sqlx::query(&format!(
                "INSERT OR REPLACE INTO locks (name, owner, acquired_at, expires_at) VALUES ('refresh', '{owner}', 0, {expires})"
            ))
            .execute(db.pool())
            .await
            .unwrap();
            db.close().await;
        });
    };
    // A live holder elsewhere (lease far in the future): the second trigger does nothing.
    set_lock("otherhost-4242-abc", "9000000000000");
    let r = refresh(&data, &["--type", "norm"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("another refresh holds the lock (otherhost-4242-abc"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.trim().is_empty(), "no run: {}", r.stdout);
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM jobs WHERE checked_at IS NOT NULL AND refresh = 0 AND state = 'done'"), 1, "untouched since ingest");
    let checked = scalar(&data, "SELECT checked_at FROM jobs");

    // An expired lease, or a holder on this host whose process is gone, loses the lock.
    set_lock("otherhost-4242-abc", "0");
    let r = refresh(&data, &["--type", "norm"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["unchanged"].as_u64(), Some(1));
    assert!(scalar(&data, "SELECT checked_at FROM jobs") > checked);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let dead = format!("{}-{}-x", host.trim(), u32::MAX - 7);
    set_lock(&dead, "9000000000000");
    let r = refresh(&data, &["--type", "norm"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["unchanged"].as_u64(), Some(1), "{}", r.stderr);
    // A finished refresh releases the lock.
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM locks"), 0);
}

#[test]
fn a_citation_to_a_norm_not_yet_ingested_links_when_the_norm_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let text = tmp.path().join("commento.txt");
    std::fs::write(&text, "Il commento riguarda l'art. 1 della legge 4 maggio 2007, n. 56, che istituisce il Giorno della memoria, e la responsabilità dell'art. 2043 c.c.\n").unwrap();
    let docs = list(tmp.path(), "docs.txt", &[text.display().to_string()]);
    assert_eq!(ingest_type("doctrine", &data, &docs, &[], &[]).code, 0);
    let act = "urn:nir:stato:legge:2007;56";
    let cited = scalar(
        &data,
        &format!("SELECT COUNT(*) FROM citations WHERE act_id = '{act}'"),
    );
    assert!(cited >= 1);
    assert_eq!(
        scalar(&data, "SELECT COUNT(*) FROM citation_links"),
        0,
        "nothing to link to yet"
    );

    let norms = list(
        tmp.path(),
        "norms.txt",
        &[fixture_line("norm/it_normattiva_legge_56_2007.xml")],
    );
    assert_eq!(ingest(&data, &norms, &[], &[]).code, 0);
    let l56 = "/akn/it/act/legge/stato/2007-05-04/56/ita@2007-05-06";
    let src = format!("source:{}", text.display());
    assert_eq!(
        scalar(&data, &format!("SELECT COUNT(*) FROM citation_links WHERE document_id = '{src}' AND target_document_id = '{l56}'")),
        cited
    );
    // In the graph the citing chunk reaches the chunk holding article 1 of the norm through
    // the shared Article node, which existed before the norm did.
    assert_eq!(
        query_rows(&data, &format!(
            "SELECT t.src FROM graph_edges c JOIN graph_edges t ON t.dst = c.dst
             WHERE c.rel = 'CITES' AND c.owner = '{src}' AND t.rel = 'TEXT_OF' AND t.owner = '{l56}'"
        )),
        vec![vec![format!("Chunk:{l56}#art_1")]]
    );
}

#[test]
fn cleanup_removes_old_dead_letters_and_what_they_partly_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = acts(tmp.path());
    let l = list(tmp.path(), "three.txt", &lines(&[&a[0], &a[1], &a[2]]));
    assert_eq!(ingest(&data, &l, &[], &[]).code, 0);
    // Three dead letters: act 1 died long ago in its first store stage after its document
    // reached the stores (no completed store: no content hash); act 2 died recently; act 3
    // died long ago in a later run, after a completed store.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = ingest::store::sqlite::Sqlite::try_open(&data.join("ingest.db"))
            .await
            .unwrap();
        sqlx::query(
            "UPDATE jobs SET state = 'dead', stage_done = 4,
               dead_at = CASE WHEN source LIKE '%act_902%' THEN 9000000000000 ELSE 1000 END,
               content_hash = CASE WHEN source LIKE '%act_901%' THEN NULL ELSE content_hash END",
        )
        .execute(db.pool())
        .await
        .unwrap();
        db.close().await;
    });
    let d = data.to_str().unwrap();
    let r = run_args(&["cleanup", "--older-than", "24h", "--data-dir", d]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("removed 2 dead job(s)")
            && r.stdout.contains("partial outputs of 1 document(s)"),
        "{}",
        r.stdout
    );
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM jobs"), 1);
    let stored = |n: u32| {
        scalar(
            &data,
            &format!(
                "SELECT COUNT(*) FROM documents WHERE id = '{}'",
                doc_id(n, "2007-05-06")
            ),
        )
    };
    // The partial document is gone; the recent dead letter and the document an earlier run
    // stored completely stay.
    assert_eq!((stored(1), stored(2), stored(3)), (0, 1, 1));
    let v = run_args(&["verify", "--data-dir", d]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    let r = run_args(&["cleanup", "--older-than", "soon", "--data-dir", d]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("\"soon\""), "{}", r.stderr);
}

//! The same runs against server stores, started by `scripts/services/*.sh` (idempotent; `make
//! test` starts them first and stops them afterwards). A server that cannot start fails the
//! test with the script's output.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;

/// Start a service once per test process; the error (script output) is kept for every caller.
fn service(name: &str) -> Result<(), String> {
    static UP: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Result<(), String>>>> =
        OnceLock::new();
    let map = UP.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(name.to_string())
        .or_insert_with(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let script = dir.join(format!("scripts/services/{name}.sh"));
            let out = Command::new("bash")
                .arg(&script)
                .arg("up")
                .current_dir(dir)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} up failed ({}):\n{}{}",
                    script.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
}

/// The Bolt graph server `scripts/services/arcadedb.sh` runs.
fn graph_url() -> String {
    service("arcadedb").unwrap_or_else(|e| panic!("{e}"));
    let port = std::env::var("INGEST_BOLT_PORT").unwrap_or_else(|_| "17687".into());
    let pw = std::env::var("INGEST_ARCADEDB_PASSWORD").unwrap_or_else(|_| "ingest-test-pw".into());
    format!("bolt://root:{pw}@127.0.0.1:{port}/graph")
}

/// Rows of a Cypher query's `column` on the test graph server.
fn cypher(url: &str, q: &str, column: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (address, user, password, db) = ingest::store::neo4j::parse_graph_url(url).unwrap();
        let g =
            ingest::store::neo4j::Neo4jGraph::connect(&address, &user, &password, db.as_deref())
                .await
                .unwrap();
        g.rows(neo4rs::query(q), column).await.unwrap()
    })
}

/// A fresh schema in the PostgreSQL test database; the URL makes it the search path.
fn postgres_url(schema: &str) -> String {
    service("postgres").unwrap_or_else(|e| panic!("{e}"));
    let port = std::env::var("INGEST_PG_PORT").unwrap_or_else(|_| "15432".into());
    let base = format!("postgres://postgres@127.0.0.1:{port}/ingest_test");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&base).await.unwrap();
        for q in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::query(&q).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
    format!("{base}?options=-c%20search_path%3D{schema}")
}

/// The Qdrant API served by `qdrant-test-server`, emptied of earlier runs' points.
fn vector_url() -> String {
    service("qdrant").unwrap_or_else(|e| panic!("{e}"));
    let port = std::env::var("INGEST_QDRANT_PORT").unwrap_or_else(|_| "16334".into());
    let url = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let q = ingest::store::qdrant::QdrantVectors::connect(&url, None)
            .await
            .unwrap();
        for m in q.models().await.unwrap() {
            for d in q.document_ids(&m).await.unwrap() {
                q.delete_document(&m, &d).await.unwrap();
            }
        }
    });
    url
}

fn sql(url: &str, q: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows: Vec<String> = sqlx::query_scalar(q).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    })
}

/// Where a suite run writes: the embedded default, or the three servers.
enum Backend {
    Embedded,
    Servers { pg: String, graph: String },
}

impl Backend {
    fn flags(&self, vectors: &str) -> Vec<String> {
        match self {
            Backend::Embedded => Vec::new(),
            Backend::Servers { pg, graph } => server_flags(pg, vectors, graph),
        }
    }

    /// One text column of a SQL query on the relational store.
    fn sql(&self, data: &Path, q: &str) -> Vec<String> {
        match self {
            Backend::Embedded => query_rows(data, q)
                .into_iter()
                .map(|r| r[0].clone())
                .collect(),
            Backend::Servers { pg, .. } => sql(pg, q),
        }
    }

    /// Keys of the Norm nodes reached from a document's chunks by CITES and PART_OF, and the
    /// chunks that are the text of an article.
    fn cited_acts(&self, data: &Path, doc: &str) -> Vec<String> {
        match self {
            Backend::Embedded => query_rows(
                data,
                &format!(
                    "SELECT DISTINCT p.dst FROM graph_edges h
                     JOIN graph_edges c ON c.src = h.dst AND c.rel = 'CITES'
                     JOIN graph_edges p ON p.src = c.dst AND p.rel = 'PART_OF'
                     WHERE h.rel = 'HAS_CHUNK' AND h.src = 'Document:{doc}'"
                ),
            )
            .into_iter()
            .map(|r| r[0].trim_start_matches("Norm:").to_string())
            .collect(),
            Backend::Servers { graph, .. } => cypher(
                graph,
                &format!(
                    "MATCH (d:Document {{key: '{doc}'}})-[:HAS_CHUNK]->(:Chunk)-[:CITES]->(:Article)-[:PART_OF]->(n:Norm) \
                     RETURN DISTINCT n.key AS norm"
                ),
                "norm",
            ),
        }
    }

    fn text_of(&self, data: &Path, article: &str) -> Vec<String> {
        match self {
            Backend::Embedded => query_rows(
                data,
                &format!(
                    "SELECT src FROM graph_edges WHERE rel = 'TEXT_OF' AND dst = 'Article:{article}'"
                ),
            )
            .into_iter()
            .map(|r| r[0].clone())
            .collect(),
            Backend::Servers { graph, .. } => cypher(
                graph,
                &format!(
                    "MATCH (c:Chunk)-[:TEXT_OF]->(a:Article {{key: '{article}'}}) RETURN c.key AS chunk"
                ),
                "chunk",
            ),
        }
    }

    fn graph_chunks(&self, data: &Path, doc: &str) -> usize {
        match self {
            Backend::Embedded => query_rows(
                data,
                &format!(
                    "SELECT COUNT(*) FROM graph_edges WHERE rel = 'HAS_CHUNK' AND src = 'Document:{doc}'"
                ),
            )[0][0]
                .parse()
                .unwrap(),
            Backend::Servers { graph, .. } => cypher(
                graph,
                &format!(
                    "MATCH (d:Document {{key: '{doc}'}})-[:HAS_CHUNK]->(c:Chunk) RETURN toString(count(c)) AS n"
                ),
                "n",
            )
            .first()
            .map_or(0, |n| n.parse().unwrap()),
        }
    }
}

/// The same suite on either backend: ingest the bundled norms, decisions and doctrine; stores agree; each
/// store answers a query that shows the data is useful; a re-run adds nothing; delete works.
fn suite(backend: Backend, vectors: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // The bundled fixture lists: every norm, decision, doctrine text and scan.
    let lists = [
        ("norm", fixture("norms.txt")),
        ("jurisprudence", fixture("jurisprudence.txt")),
        ("doctrine", fixture("doctrine.txt")),
    ];
    let flags = backend.flags(vectors);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    for (t, l) in &lists {
        let r = ingest_type(t, &data, l, &[], &flags);
        assert_eq!(r.code, 0, "{t}: {}", r.stderr);
    }
    let with = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", data.to_str().unwrap()]);
        all.extend(flags.iter().copied());
        run_args(&all)
    };
    let v = with(&["verify"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 21 documents: stores agree"),
        "{}",
        v.stdout
    );
    assert_eq!(
        backend.sql(&data, "SELECT DISTINCT state FROM jobs"),
        vec!["done"]
    );
    // Status reads the same stores.
    let st = with(&["status", "--json"]);
    assert_eq!(st.code, 0, "{}", st.stderr);
    let st: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(st["documents"], 21, "{st:#}");
    let chunks = st["chunks"].as_i64().unwrap();
    assert!(chunks > 3000, "{st:#}");
    assert_eq!(
        st["vectors"]["use-multilingual-v3-int8"].as_i64(),
        Some(chunks),
        "{st:#}"
    );
    assert_eq!(
        st["graph_edges"]["HAS_CHUNK"].as_i64(),
        Some(chunks),
        "{st:#}"
    );
    assert_eq!(st["graph_nodes"]["Document"].as_i64(), Some(21), "{st:#}");

    // SQL: a decision's chunks in order, section by section.
    let decision = "it:cass:civ:2025;30638";
    let mut sections = backend.sql(
        &data,
        &format!("SELECT section FROM chunks WHERE document_id = '{decision}' ORDER BY ordinal"),
    );
    sections.dedup();
    assert_eq!(sections, ["header", "facts", "reasoning", "operative"]);
    // Vector search finds the article about the day of remembrance.
    let s = with(&[
        "search",
        "giornata in memoria delle vittime del terrorismo",
        "--json",
        "--limit",
        "3",
    ]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    let hits: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
    assert_eq!(
        hits[0]["document_id"], "/akn/it/act/legge/stato/2007-05-04/56/ita@2007-05-06",
        "{hits:#}"
    );
    // Graph: from a decision's chunk, CITES reaches an article and PART_OF its act; an article
    // chunk is the TEXT_OF its Article.
    let acts = backend.cited_acts(&data, decision);
    assert!(
        acts.iter().any(|n| n.starts_with("urn:nir:stato:")),
        "cited acts: {acts:?}"
    );
    assert_eq!(
        backend
            .text_of(&data, "urn:nir:stato:legge:2007;56~art1")
            .len(),
        1
    );

    // A re-run adds nothing; deleting a document leaves the others whole.
    let chunks = || backend.sql(&data, "SELECT CAST(COUNT(*) AS TEXT) FROM chunks");
    let (before, rows_before) = (backend.graph_chunks(&data, decision), chunks());
    assert!(before > 10, "{before}");
    let r = ingest_type("jurisprudence", &data, &lists[1].1, &[], &flags);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (backend.graph_chunks(&data, decision), chunks()),
        (before, rows_before)
    );
    let d = with(&["delete", decision]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert_eq!(backend.graph_chunks(&data, decision), 0);
    let v = with(&["verify"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 20 documents: stores agree"),
        "{}",
        v.stdout
    );

    // Refresh: the unchanged norms are skipped; a list without the law 56/2007 withdraws it
    // from every store; its validity was stored, and citations of it were linked.
    let l56 = "/akn/it/act/legge/stato/2007-05-04/56/ita@2007-05-06";
    assert_eq!(
        backend.sql(
            &data,
            &format!("SELECT valid_from FROM documents WHERE id = '{l56}'")
        ),
        ["2007-05-06"]
    );
    let linked = backend.sql(
        &data,
        &format!("SELECT DISTINCT target_document_id FROM citation_links WHERE target_document_id = '{l56}'"),
    );
    assert_eq!(linked, [l56]);
    let norms: Vec<String> = std::fs::read_to_string(&lists[0].1)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| fixture(l.trim()).display().to_string())
        .collect();
    let all = list(tmp.path(), "norms.txt", &norms);
    let refresh = |l: &Path| {
        let r = with(&[
            "refresh",
            "--type",
            "norm",
            l.to_str().unwrap(),
            "--json",
            "--no-progress",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.summary()
    };
    let s = refresh(&all);
    assert_eq!(s["unchanged"].as_u64(), Some(norms.len() as u64), "{s}");
    assert_eq!(s["reingested"].as_u64(), Some(0), "{s}");
    let without: Vec<String> = norms
        .iter()
        .filter(|l| !l.contains("legge_56"))
        .cloned()
        .collect();
    let fewer = list(tmp.path(), "fewer.txt", &without);
    let s = refresh(&fewer);
    assert_eq!(s["withdrawn"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(
        backend.sql(
            &data,
            &format!("SELECT CAST(COUNT(*) AS TEXT) FROM documents WHERE id = '{l56}'")
        ),
        ["0"]
    );
    let v = with(&["verify"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 19 documents: stores agree"),
        "{}",
        v.stdout
    );
}

#[test]
fn suite_on_the_embedded_default() {
    suite(Backend::Embedded, "");
}

/// The server tests share one PostgreSQL, one Qdrant and one graph (and wipe them): one at a
/// time.
fn servers_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn suite_on_postgres_qdrant_and_a_bolt_graph() {
    let _one_at_a_time = servers_lock();
    // Empty stores: earlier runs' documents would be drift for this data dir.
    let (pg, vectors, graph) = fresh_servers("it_servers");
    suite(Backend::Servers { pg, graph }, &vectors);
}

/// The three test servers emptied for one test: a fresh PostgreSQL schema, the Qdrant
/// collections without earlier points, an empty graph. Returns (pg, vectors, graph) URLs.
fn fresh_servers(schema: &str) -> (String, String, String) {
    let graph = graph_url();
    wipe_graph(&graph);
    (postgres_url(schema), vector_url(), graph)
}

/// Deletes every node of the test graph, trying again when ArcadeDB refuses. It once did,
/// in CI, with an opaque `UnknownError` (over Bolt ArcadeDB sends only the outer message; the
/// cause goes to its log). The likely cause is the background index compaction that follows
/// the previous test's writes: a transaction that meets it is refused and meant to be retried.
/// The last failure panics with the server log's tail, so the cause is on record.
fn wipe_graph(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut tries = 0;
    let error = loop {
        tries += 1;
        let result = rt.block_on(async {
            let (address, user, password, db) = ingest::store::neo4j::parse_graph_url(url)?;
            let g = ingest::store::neo4j::Neo4jGraph::connect(
                &address,
                &user,
                &password,
                db.as_deref(),
            )
            .await?;
            g.rows(
                neo4rs::query("MATCH (n) DETACH DELETE n RETURN count(*) AS n"),
                "n",
            )
            .await
        });
        match result {
            Ok(_) => return,
            Err(e) if tries < 6 => {
                eprintln!("wiping the test graph, try {tries}: {e}; trying again");
                std::thread::sleep(std::time::Duration::from_millis(500 * tries));
            }
            Err(e) => break e,
        }
    };
    let services = std::env::var_os("INGEST_SERVICES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".services"));
    let log = services.join("arcadedb/arcadedb.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    panic!(
        "cannot wipe the test graph after {tries} tries: {error}\n--- {} ---\n{}",
        log.display(),
        tail.join("\n")
    );
}

fn server_flags(pg: &str, vectors: &str, graph: &str) -> Vec<String> {
    [
        "--relational-url",
        pg,
        "--vector-url",
        vectors,
        "--graph-url",
        graph,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn spawn(args: &[String], data: &Path, env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("INGEST_FAULT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

#[test]
fn two_workers_share_a_postgres_queue_and_a_killed_one_costs_nothing() {
    let _one_at_a_time = servers_lock();
    let (pg, vectors, graph) = fresh_servers("it_workers");
    let flags = server_flags(&pg, &vectors, &graph);
    let tmp = tempfile::tempdir().unwrap();
    let l = distinct_acts(tmp.path(), 12);
    let mut enqueue: Vec<String> = vec!["enqueue".into(), "--type".into(), "norm".into()];
    enqueue.push(l.display().to_string());
    let mut args = enqueue.clone();
    args.extend(flags.iter().cloned());
    args.extend([
        "--data-dir".into(),
        tmp.path().join("a").display().to_string(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run_args(&argv);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("enqueued 12 new"), "{}", r.stdout);

    let mut worker: Vec<String> = [
        "worker",
        "--until-empty",
        "--no-progress",
        "--json",
        "--lease-secs",
        "4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    worker.extend(flags.iter().cloned());
    // Worker A is killed (SIGKILL) in its first store stage: vectors written, graph and rows
    // not. Worker B takes A's jobs back and finishes the list.
    let mut a = spawn(
        &worker,
        &tmp.path().join("a"),
        &[("INGEST_FAULT", "crash-in-store")],
    );
    // B starts once A holds a lease: started together, B (its model loaded first on a busy
    // machine) could drain the queue before A claims anything, and A would never reach a store.
    let a_holds = format!(
        "SELECT COUNT(*)::text FROM jobs WHERE lease_owner LIKE '%-{}-%'",
        a.id()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while sql(&pg, &a_holds) == ["0"] {
        assert!(
            a.try_wait().unwrap().is_none(),
            "A exited before claiming a job"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "A claimed nothing in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let b = spawn(&worker, &tmp.path().join("b"), &[]);
    let a = a.wait_with_output().unwrap();
    assert_eq!(
        a.status.code(),
        None,
        "A dies by a signal: {}",
        String::from_utf8_lossy(&a.stderr)
    );
    let b = b.wait_with_output().unwrap();
    let b_err = String::from_utf8_lossy(&b.stderr);
    assert_eq!(b.status.code(), Some(0), "{b_err}");

    assert_eq!(
        sql(
            &pg,
            "SELECT state || ' ' || COUNT(*) FROM jobs GROUP BY state"
        ),
        ["done 12"]
    );
    // Done exactly once each: one successful store per document, one row, its chunks once.
    assert_eq!(
        sql(
            &pg,
            "SELECT runs::text FROM stage_counters WHERE stage = 'store'"
        ),
        ["12"]
    );
    assert_eq!(sql(&pg, "SELECT COUNT(*)::text FROM documents"), ["12"]);
    assert_eq!(
        sql(
            &pg,
            "SELECT (COUNT(*) = COUNT(DISTINCT id))::text FROM chunks"
        ),
        ["true"]
    );
    assert!(
        sql(&pg, "SELECT COUNT(*)::text FROM jobs WHERE attempts > 1")[0] != "0",
        "A's jobs were taken over"
    );
    let mut verify: Vec<String> = vec!["verify".into()];
    verify.extend(flags.iter().cloned());
    verify.extend([
        "--data-dir".into(),
        tmp.path().join("b").display().to_string(),
    ]);
    let argv: Vec<&str> = verify.iter().map(String::as_str).collect();
    let v = run_args(&argv);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 12 documents: stores agree"),
        "{}",
        v.stdout
    );
}

/// A TCP forwarder the test can take down: while down it refuses new connections (closes them
/// at once) and cuts the open ones, as a stopped server would.
struct Outage {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Outage {
    fn forward(target: std::net::SocketAddr) -> Outage {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, c) = (down.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                {
                    let mut all = c.lock().unwrap();
                    all.push(client.try_clone().unwrap());
                    all.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Outage { port, down, conns }
    }

    fn go_down(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn come_up(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_graph_server_gone_for_seconds_mid_run_costs_retries_not_documents() {
    let _one_at_a_time = servers_lock();
    let (pg, vectors, direct) = fresh_servers("it_outage");
    let port: u16 = std::env::var("INGEST_BOLT_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(17687);
    let outage = Outage::forward(([127, 0, 0, 1], port).into());
    let via_proxy = direct.replace(&format!(":{port}/"), &format!(":{}/", outage.port));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = distinct_acts(tmp.path(), 8);
    let pipeline = crate::reliability::fast_retry_pipeline(tmp.path(), 12, 2);
    let mut args: Vec<String> = vec![
        "--type".into(),
        "norm".into(),
        l.display().to_string(),
        "--pipeline".into(),
        pipeline.display().to_string(),
        "--no-progress".into(),
        "--json".into(),
        "--concurrency".into(),
        "1".into(),
    ];
    args.extend(server_flags(&pg, &vectors, &via_proxy));
    let child = spawn(&args, &data, &[]);
    let started = std::time::Instant::now();
    // (The run creates the schema: until then there is no jobs table to ask.)
    let done = || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(&pg).await.ok()?;
            let n: Option<i64> =
                sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'done'")
                    .fetch_one(&pool)
                    .await
                    .ok();
            pool.close().await;
            n
        })
        .unwrap_or(0)
    };
    while done() == 0 {
        assert!(started.elapsed().as_secs() < 120, "no document finished");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    outage.go_down();
    std::thread::sleep(std::time::Duration::from_secs(5));
    outage.come_up();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("retry 1/12 in ") && l.contains("unreachable")),
        "the outage was retried: {stderr}"
    );
    assert_eq!(
        sql(
            &pg,
            "SELECT state || ' ' || COUNT(*) FROM jobs GROUP BY state"
        ),
        ["done 8"]
    );
    let mut verify: Vec<String> = vec![
        "verify".into(),
        "--data-dir".into(),
        data.display().to_string(),
    ];
    verify.extend(server_flags(&pg, &vectors, &direct));
    let argv: Vec<&str> = verify.iter().map(String::as_str).collect();
    let v = run_args(&argv);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 8 documents: stores agree"),
        "{}",
        v.stdout
    );
}

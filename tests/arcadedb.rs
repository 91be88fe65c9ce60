//! The Neo4j graph backend against a live Bolt server: ArcadeDB from
//! `scripts/services/arcadedb.sh` (started here when its port is closed), or the server named by
//! INGEST_TEST_NEO4J_URL (with INGEST_TEST_NEO4J_USER, INGEST_TEST_NEO4J_PASSWORD and
//! INGEST_TEST_NEO4J_DB).
//!
//! The tests share the server's database and WIPE it (every node and relationship), so they take
//! turns (one lock); point INGEST_TEST_NEO4J_URL only at a throwaway database.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ingest::store::neo4j::Neo4jGraph;
use ingest::store::plan::{GraphEdge, GraphNode, GraphPlan};
use neo4rs::{query, ConfigBuilder, Graph};
use serde_json::{json, Value};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Target {
    url: String,
    user: String,
    password: String,
    db: Option<String>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The server to test against, started once per test process when it is ours and down.
fn target() -> &'static Target {
    static TARGET: OnceLock<Result<Target, String>> = OnceLock::new();
    let t = TARGET.get_or_init(|| {
        if let Ok(url) = std::env::var("INGEST_TEST_NEO4J_URL") {
            return Ok(Target {
                url,
                user: env_or("INGEST_TEST_NEO4J_USER", "neo4j"),
                password: env_or("INGEST_TEST_NEO4J_PASSWORD", ""),
                db: std::env::var("INGEST_TEST_NEO4J_DB")
                    .ok()
                    .filter(|d| !d.is_empty()),
            });
        }
        let port: u16 = env_or("INGEST_BOLT_PORT", "17687")
            .parse()
            .map_err(|e| format!("INGEST_BOLT_PORT: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let script = dir.join("scripts/services/arcadedb.sh");
            let out = Command::new("bash")
                .arg(&script)
                .arg("up")
                .current_dir(dir)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} up failed ({}):\n{}{}",
                    script.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(Target {
            url: format!("bolt://127.0.0.1:{port}"),
            user: "root".into(),
            password: env_or("INGEST_ARCADEDB_PASSWORD", "ingest-test-pw"),
            db: Some("graph".into()),
        })
    });
    match t {
        Ok(t) => t,
        Err(e) => panic!("no Bolt server to test against: {e}"),
    }
}

/// A raw driver connection, for wiping and for queries of the tests' own.
async fn raw() -> Graph {
    let t = target();
    let mut c = ConfigBuilder::default()
        .uri(&t.url)
        .user(&t.user)
        .password(&t.password);
    if let Some(db) = &t.db {
        c = c.db(db.as_str());
    }
    Graph::connect(c.build().unwrap()).await.unwrap()
}

/// A prepared backend on an empty database.
async fn fresh() -> Neo4jGraph {
    let t = target();
    let g = Neo4jGraph::connect(&t.url, &t.user, &t.password, t.db.as_deref())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    raw()
        .await
        .run(query("MATCH (n) DETACH DELETE n"))
        .await
        .unwrap();
    g.prepare().await.unwrap();
    g
}

fn node(p: &mut GraphPlan, label: &'static str, key: &str, owned: bool, props: Value) {
    p.nodes.push(GraphNode {
        label,
        key: key.into(),
        owned,
        props,
    });
}

#[allow(clippy::too_many_arguments)]
fn edge(
    p: &mut GraphPlan,
    src: (&'static str, &str),
    rel: &'static str,
    dst: (&'static str, &str),
    key: &str,
    owned: bool,
    props: Value,
) {
    p.edges.push(GraphEdge {
        src: (src.0, src.1.into()),
        rel,
        dst: (dst.0, dst.1.into()),
        key: key.into(),
        owned,
        props,
    });
}

const DLGS_196: &str = "urn:nir:stato:decreto.legislativo:2003-06-30;196";
const ART_13: &str = "urn:nir:stato:decreto.legislativo:2003-06-30;196~art13";
const LAW_A: &str = "urn:nir:stato:legge:2020-01-10;1";
const LAW_A_ART1: &str = "urn:nir:stato:legge:2020-01-10;1~art1";
const CASS_2019: &str = "cassazione:civile:2019:100";
const CASS_2021: &str = "cassazione:civile:2021:7";

/// An Article with its shared PART_OF edge, as the real plan writes it.
fn article(p: &mut GraphPlan, id: &str, act: &str) {
    node(p, "Article", id, false, json!({ "id": id }));
    node(p, "Norm", act, false, json!({ "id": act }));
    edge(
        p,
        ("Article", id),
        "PART_OF",
        ("Norm", act),
        "",
        false,
        json!({}),
    );
}

/// Chunks with HAS_CHUNK and NEXT; ids named so that their sort order is not reading order.
fn chunks(p: &mut GraphPlan, doc: &str, names: &[&str]) -> Vec<String> {
    let ids: Vec<String> = names.iter().map(|n| format!("{doc}#{n}")).collect();
    for (i, id) in ids.iter().enumerate() {
        node(
            p,
            "Chunk",
            id,
            true,
            json!({ "id": id, "document_id": doc, "ordinal": i, "heading": names[i],
                    "eid": null, "section": "body" }),
        );
        edge(
            p,
            ("Document", doc),
            "HAS_CHUNK",
            ("Chunk", id),
            "",
            true,
            json!({ "ordinal": i }),
        );
        if i > 0 {
            edge(
                p,
                ("Chunk", &ids[i - 1]),
                "NEXT",
                ("Chunk", id),
                "",
                true,
                json!({}),
            );
        }
    }
    ids
}

/// Document A, a law: 3 chunks (or 2 with `short`), its own act and article, a citation of
/// art. 13 d.lgs. 196/2003 and (not when short) of a decision, one concept.
fn plan_a(short: bool, title: &str) -> GraphPlan {
    let mut p = GraphPlan::default();
    let d = "doc-a";
    let mut props = json!({ "id": d, "source": "normattiva", "type": "law", "title": title,
                            "urn_nir": LAW_A, "eli": null });
    if short {
        props["source"] = Value::Null;
    }
    node(&mut p, "Document", d, true, props);
    node(
        &mut p,
        "Norm",
        LAW_A,
        false,
        json!({ "id": LAW_A, "dated": "2020-01-10" }),
    );
    edge(
        &mut p,
        ("Document", d),
        "EXPRESSION_OF",
        ("Norm", LAW_A),
        "",
        true,
        json!({}),
    );
    let names: &[&str] = if short {
        &["preamble", "art1"]
    } else {
        &["preamble", "art1", "art2"]
    };
    let c = chunks(&mut p, d, names);
    article(&mut p, LAW_A_ART1, LAW_A);
    edge(
        &mut p,
        ("Chunk", &c[1]),
        "TEXT_OF",
        ("Article", LAW_A_ART1),
        "",
        true,
        json!({}),
    );
    article(&mut p, ART_13, DLGS_196);
    edge(
        &mut p,
        ("Chunk", &c[1]),
        "CITES",
        ("Article", ART_13),
        "0",
        true,
        json!({ "text": "art. 13 del d.lgs. 196/2003", "norm_id": ART_13, "origin": "regex",
                "start": 120, "end": 147 }),
    );
    if !short {
        node(
            &mut p,
            "Decision",
            CASS_2019,
            false,
            json!({ "key": CASS_2019 }),
        );
        edge(
            &mut p,
            ("Chunk", &c[2]),
            "CITES",
            ("Decision", CASS_2019),
            "1",
            true,
            json!({ "text": "Cass. civ. n. 100/2019", "origin": "regex" }),
        );
    }
    node(
        &mut p,
        "Concept",
        "privacy",
        false,
        json!({ "id": "privacy", "label": "Privacy" }),
    );
    edge(
        &mut p,
        ("Chunk", &c[1]),
        "ABOUT",
        ("Concept", "privacy"),
        "",
        true,
        json!({}),
    );
    p
}

/// Document B, a decision: 3 chunks, its Decision, two citations of the same article (parallel
/// CITES), one of A's cited decision, a concept and a court.
fn plan_b() -> GraphPlan {
    let mut p = GraphPlan::default();
    let d = "doc-b";
    node(
        &mut p,
        "Document",
        d,
        true,
        json!({ "id": d, "source": "cassazione", "type": "decision", "title": "Cass. 7/2021" }),
    );
    node(
        &mut p,
        "Decision",
        CASS_2021,
        false,
        json!({ "key": CASS_2021, "court": "Corte di cassazione", "number": "7", "year": "2021" }),
    );
    edge(
        &mut p,
        ("Document", d),
        "EXPRESSION_OF",
        ("Decision", CASS_2021),
        "",
        true,
        json!({}),
    );
    let c = chunks(&mut p, d, &["fatto", "diritto", "pqm"]);
    article(&mut p, ART_13, DLGS_196);
    for (key, start) in [("0", 10), ("1", 400)] {
        edge(
            &mut p,
            ("Chunk", &c[0]),
            "CITES",
            ("Article", ART_13),
            key,
            true,
            json!({ "text": "art. 13 d.lgs. n. 196 del 2003", "start": start }),
        );
    }
    node(
        &mut p,
        "Decision",
        CASS_2019,
        false,
        json!({ "key": CASS_2019 }),
    );
    edge(
        &mut p,
        ("Chunk", &c[1]),
        "CITES",
        ("Decision", CASS_2019),
        "2",
        true,
        json!({ "text": "Cass. n. 100 del 2019" }),
    );
    node(
        &mut p,
        "Concept",
        "privacy",
        false,
        json!({ "id": "privacy", "label": "Privacy" }),
    );
    edge(
        &mut p,
        ("Chunk", &c[2]),
        "ABOUT",
        ("Concept", "privacy"),
        "",
        true,
        json!({}),
    );
    node(
        &mut p,
        "Court",
        "Corte di cassazione",
        false,
        json!({ "name": "Corte di cassazione" }),
    );
    edge(
        &mut p,
        ("Chunk", &c[0]),
        "MENTIONS",
        ("Court", "Corte di cassazione"),
        "",
        true,
        json!({}),
    );
    p
}

type Counts = (BTreeMap<String, i64>, BTreeMap<String, i64>);

async fn counts(g: &Neo4jGraph) -> Counts {
    let (n, r) = g.counts().await.unwrap();
    (n.into_iter().collect(), r.into_iter().collect())
}

fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_of_two_documents() {
    let _turn = TURN.lock().await;
    let g = fresh().await;
    g.prepare().await.expect("prepare is idempotent");

    g.write_plan("doc-a", &plan_a(false, "Legge 1/2020"))
        .await
        .unwrap();
    g.write_plan("doc-b", &plan_b()).await.unwrap();
    let both = counts(&g).await;
    let nodes = map(&[
        ("Article", 2),
        ("Chunk", 6),
        ("Concept", 1),
        ("Court", 1),
        ("Decision", 2),
        ("Document", 2),
        ("Norm", 2),
    ]);
    let rels = map(&[
        ("ABOUT", 2),
        ("CITES", 5),
        ("EXPRESSION_OF", 2),
        ("HAS_CHUNK", 6),
        ("MENTIONS", 1),
        ("NEXT", 4),
        ("PART_OF", 2),
        ("TEXT_OF", 1),
    ]);
    assert_eq!(both, (nodes.clone(), rels.clone()));
    // prepare made `key` unique: a second Chunk with a taken key is refused.
    let dup = raw()
        .await
        .run(query("CREATE (:Chunk {key: 'doc-a#art1'})"))
        .await;
    assert!(dup.is_err(), "duplicate key accepted");
    assert_eq!(counts(&g).await, both);
    assert_eq!(g.document_ids().await.unwrap(), ["doc-a", "doc-b"]);
    assert_eq!(
        g.chunk_ids("doc-a").await.unwrap(),
        ["doc-a#preamble", "doc-a#art1", "doc-a#art2"]
    );

    // The same plans again: nothing added.
    g.write_plan("doc-a", &plan_a(false, "Legge 1/2020"))
        .await
        .unwrap();
    g.write_plan("doc-b", &plan_b()).await.unwrap();
    assert_eq!(counts(&g).await, both);

    // A with one chunk fewer (and with it its citation of the decision) and a new title.
    g.write_plan("doc-a", &plan_a(true, "Legge 10 gennaio 2020, n. 1"))
        .await
        .unwrap();
    let mut nodes2 = nodes.clone();
    nodes2.insert("Chunk".into(), 5);
    let mut rels2 = rels.clone();
    rels2.insert("CITES".into(), 4);
    rels2.insert("HAS_CHUNK".into(), 5);
    rels2.insert("NEXT".into(), 3);
    assert_eq!(counts(&g).await, (nodes2, rels2));
    assert_eq!(
        g.chunk_ids("doc-a").await.unwrap(),
        ["doc-a#preamble", "doc-a#art1"]
    );
    let title = g
        .rows(
            query("MATCH (d:Document {key: 'doc-a'}) RETURN d.title AS t"),
            "t",
        )
        .await
        .unwrap();
    assert_eq!(title, ["Legge 10 gennaio 2020, n. 1"]);
    // The owned Document node is replaced whole: a prop the new plan has not is gone.
    let doc_a = "MATCH (d:Document {key: 'doc-a'}) RETURN d.source AS s, d.owner AS o";
    assert!(g.rows(query(doc_a), "s").await.unwrap().is_empty());
    assert_eq!(g.rows(query(doc_a), "o").await.unwrap(), ["doc-a"]);

    // Deleting B removes what B owns, not the shared nodes it brought (its Decision, the court).
    assert!(g.delete_document("doc-b").await.unwrap());
    assert!(!g.delete_document("doc-b").await.unwrap());
    let after = counts(&g).await;
    assert_eq!(
        after,
        (
            map(&[
                ("Article", 2),
                ("Chunk", 2),
                ("Concept", 1),
                ("Court", 1),
                ("Decision", 2),
                ("Document", 1),
                ("Norm", 2),
            ]),
            map(&[
                ("ABOUT", 1),
                ("CITES", 1),
                ("EXPRESSION_OF", 1),
                ("HAS_CHUNK", 2),
                ("NEXT", 1),
                ("PART_OF", 2),
                ("TEXT_OF", 1),
            ])
        )
    );
    assert_eq!(g.document_ids().await.unwrap(), ["doc-a"]);
    assert!(g.chunk_ids("doc-b").await.unwrap().is_empty());
    // The shared Decision keeps the props B gave it.
    let court = g
        .rows(
            query("MATCH (d:Decision {key: $k}) RETURN d.court AS c").param("k", CASS_2021),
            "c",
        )
        .await
        .unwrap();
    assert_eq!(court, ["Corte di cassazione"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citations_lead_to_the_article_and_its_act() {
    let _turn = TURN.lock().await;
    let g = fresh().await;
    g.write_plan("doc-a", &plan_a(false, "Legge 1/2020"))
        .await
        .unwrap();
    g.write_plan("doc-b", &plan_b()).await.unwrap();

    let q = query(
        "MATCH (:Document {key: $doc})-[:HAS_CHUNK]->(c:Chunk)-[r:CITES]->(a:Article)\
         -[:PART_OF]->(n:Norm) \
         RETURN c.id AS chunk, r.key AS k, r.text AS text, a.id AS article, n.id AS norm \
         ORDER BY chunk, k",
    );
    let mut rows = raw().await.execute(q.param("doc", "doc-b")).await.unwrap();
    let mut got = Vec::new();
    while let Some(row) = rows.next().await.unwrap() {
        got.push((
            row.get::<String>("chunk").unwrap(),
            row.get::<String>("k").unwrap(),
            row.get::<String>("text").unwrap(),
            row.get::<String>("article").unwrap(),
            row.get::<String>("norm").unwrap(),
        ));
    }
    let hit = |k: &str| {
        (
            "doc-b#fatto".to_string(),
            k.to_string(),
            "art. 13 d.lgs. n. 196 del 2003".to_string(),
            ART_13.to_string(),
            DLGS_196.to_string(),
        )
    };
    assert_eq!(got, [hit("0"), hit("1")]);

    // From A, and back: which documents cite an article of d.lgs. 196/2003.
    let citing = g
        .rows(
            query(
                "MATCH (d:Document)-[:HAS_CHUNK]->(:Chunk)-[:CITES]->(:Article)\
                 -[:PART_OF]->(:Norm {id: $norm}) RETURN DISTINCT d.id AS id ORDER BY id",
            )
            .param("norm", DLGS_196),
            "id",
        )
        .await
        .unwrap();
    assert_eq!(citing, ["doc-a", "doc-b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_chunks_in_a_few_statements() {
    let _turn = TURN.lock().await;
    let g = fresh().await;
    let n = 2000;
    let doc = "doc-big";
    let mut p = GraphPlan::default();
    node(
        &mut p,
        "Document",
        doc,
        true,
        json!({ "id": doc, "title": "Codice" }),
    );
    let names: Vec<String> = (0..n).map(|i| format!("c{i:05}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = chunks(&mut p, doc, &names);
    for (i, id) in ids.iter().enumerate() {
        let concept = format!("concept-{}", i % 50);
        node(&mut p, "Concept", &concept, false, json!({ "id": concept }));
        edge(
            &mut p,
            ("Chunk", id),
            "ABOUT",
            ("Concept", &concept),
            "",
            true,
            json!({}),
        );
        let art = format!("{DLGS_196}~art{}", i % 100 + 1);
        article(&mut p, &art, DLGS_196);
        edge(
            &mut p,
            ("Chunk", id),
            "CITES",
            ("Article", &art),
            "0",
            true,
            json!({ "text": format!("art. {} d.lgs. 196/2003", i % 100 + 1) }),
        );
    }
    let statements = Neo4jGraph::write_statements(&p).unwrap();

    let t = Instant::now();
    g.write_plan(doc, &p).await.unwrap();
    let first = t.elapsed();
    let t = Instant::now();
    g.write_plan(doc, &p).await.unwrap();
    let again = t.elapsed();
    let (nodes, rels) = counts(&g).await;
    assert_eq!(nodes["Chunk"], n);
    assert_eq!(nodes["Concept"], 50);
    assert_eq!(nodes["Article"], 100);
    assert_eq!(rels["HAS_CHUNK"], n);
    assert_eq!(rels["NEXT"], n - 1);
    assert_eq!(rels["ABOUT"], n);
    assert_eq!(rels["CITES"], n);
    assert_eq!(rels["PART_OF"], 100);
    assert_eq!(g.chunk_ids(doc).await.unwrap(), ids);
    let t = Instant::now();
    assert!(g.delete_document(doc).await.unwrap());
    let delete = t.elapsed();
    eprintln!(
        "{} nodes + {} edges in {statements} MERGE statements (+4 sweep): first write {first:?}, \
         unchanged rewrite {again:?}, delete {delete:?}",
        p.nodes.len(),
        p.edges.len()
    );
    assert!(statements <= 16, "{statements} statements");
    assert!(
        first < Duration::from_secs(120),
        "first write took {first:?}"
    );
}

#[tokio::test]
async fn connection_failure_names_the_url() {
    let url = "bolt://127.0.0.1:1";
    let e = match Neo4jGraph::connect(url, "root", "x", Some("graph")).await {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => e,
    };
    eprintln!("{e}");
    assert!(e.contains(url), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_at_connect() {
    let t = target();
    let e = match Neo4jGraph::connect(&t.url, &t.user, "not-the-password", t.db.as_deref()).await {
        Ok(_) => panic!("connected with a wrong password"),
        Err(e) => e,
    };
    eprintln!("{e}");
    assert!(e.contains(&t.url), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_fails_at_connect() {
    let t = target();
    if t.db.is_none() {
        return;
    }
    let e = match Neo4jGraph::connect(&t.url, &t.user, &t.password, Some("no_such_db")).await {
        Ok(_) => panic!("connected to a database that does not exist"),
        Err(e) => e,
    };
    eprintln!("{e}");
    assert!(e.contains(&t.url), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_changes_nothing() {
    let _turn = TURN.lock().await;
    let g = fresh().await;
    g.write_plan("doc-a", &plan_a(false, "Legge 1/2020"))
        .await
        .unwrap();
    let before = counts(&g).await;
    // B's plan plus a shared edge from an Article that is nowhere: refused, and rolled back.
    let mut bad = plan_b();
    edge(
        &mut bad,
        ("Article", "urn:nir:nowhere~art1"),
        "PART_OF",
        ("Norm", DLGS_196),
        "",
        false,
        json!({}),
    );
    let e = g.write_plan("doc-b", &bad).await.unwrap_err();
    eprintln!("{e}");
    assert!(e.contains("PART_OF"), "{e}");
    assert_eq!(counts(&g).await, before);
    // The pool's connections are still good.
    g.write_plan("doc-b", &plan_b()).await.unwrap();
    assert_eq!(g.document_ids().await.unwrap(), ["doc-a", "doc-b"]);
}

/// A small document citing art. 13 d.lgs. 196/2003 from each of its 3 chunks, about privacy.
fn citing_doc(doc: &str) -> GraphPlan {
    let mut p = GraphPlan::default();
    node(&mut p, "Document", doc, true, json!({ "id": doc }));
    let c = chunks(&mut p, doc, &["a", "b", "c"]);
    article(&mut p, ART_13, DLGS_196);
    node(
        &mut p,
        "Concept",
        "privacy",
        false,
        json!({ "id": "privacy" }),
    );
    for (k, id) in c.iter().enumerate() {
        let k = k.to_string();
        edge(
            &mut p,
            ("Chunk", id),
            "CITES",
            ("Article", ART_13),
            &k,
            true,
            json!({}),
        );
        edge(
            &mut p,
            ("Chunk", id),
            "ABOUT",
            ("Concept", "privacy"),
            "",
            true,
            json!({}),
        );
    }
    p
}

async fn write_at_once(g: &std::sync::Arc<Neo4jGraph>, docs: std::ops::Range<usize>) {
    let tasks: Vec<_> = docs
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move {
                let doc = format!("doc-{i}");
                g.write_plan(&doc, &citing_doc(&doc)).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_nodes() {
    let _turn = TURN.lock().await;
    let g = std::sync::Arc::new(fresh().await);
    // Eight documents written at once, racing to create the same shared nodes (ArcadeDB refuses
    // the losers' commits: they are run again), then eight more onto the existing ones.
    write_at_once(&g, 0..8).await;
    write_at_once(&g, 8..16).await;
    let (nodes, rels) = counts(&g).await;
    assert_eq!(nodes["Document"], 16);
    assert_eq!(nodes["Chunk"], 48);
    assert_eq!(nodes["Article"], 1);
    assert_eq!(nodes["Norm"], 1);
    assert_eq!(nodes["Concept"], 1);
    assert_eq!(rels["CITES"], 48);
    assert_eq!(rels["ABOUT"], 48);
    assert_eq!(rels["PART_OF"], 1);
}

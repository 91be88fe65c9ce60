//! PostgreSQL store and job queue against a real server: `scripts/services/postgres.sh up`
//! starts one when the port is closed; a test fails (never skips) when it cannot. Each test
//! works in its own schema of the `ingest_test` database.

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest::parse::akn::RefMark;
use ingest::pipeline::error::ErrorClass;
use ingest::pipeline::record::{
    Chunk, ChunkConcept, ChunkEntity, DocType, DocumentInfo, EnrichedDocument, NormMeta, Reference,
    Stage, TextSpan,
};
use ingest::store::jobs::{AfterFailure, Claim, JobStore, Payload, Scope, Validators};
use ingest::store::pg_jobs::PgJobStore;
use ingest::store::postgres::Postgres;
use ingest::store::sqlite::Sqlite;
use ingest::store::{point_id, Annotations, RelationalStore, StoreError};
use sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::OnceCell;

static SERVER: OnceCell<String> = OnceCell::const_new();

/// `postgres://postgres@127.0.0.1:<port>`, starting the private cluster if the port is closed.
async fn server() -> &'static str {
    SERVER
        .get_or_init(|| async {
            let port: u16 = std::env::var("INGEST_PG_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(15432);
            let open = || {
                TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
                    .is_ok()
            };
            if !open() {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/services/postgres.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .arg("up")
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .stdin(Stdio::null())
                    .output()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
                assert!(
                    out.status.success() && open(),
                    "PostgreSQL is not reachable on 127.0.0.1:{port} and `{} up` could not start it ({}):\n{}{}",
                    script.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            format!("postgres://postgres@127.0.0.1:{port}")
        })
        .await
}

/// A new, empty schema for one test in the `ingest_test` database (dropped first if a
/// previous run left it); the URL makes it the connection's `search_path`. Schemas, unlike
/// databases, are dropped without a checkpoint.
async fn fresh_db(name: &str) -> String {
    let base = format!("{}/ingest_test", server().await);
    let mut admin = PgConnection::connect(&base)
        .await
        .expect("connect to ingest_test");
    let schema = format!("t_{name}");
    admin
        .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").as_str())
        .await
        .expect("fresh schema");
    format!("{base}?options=-c%20search_path%3D{schema}")
}

fn span(cs: u32, ce: u32, page: u32) -> Option<TextSpan> {
    Some(TextSpan {
        char_start: cs,
        char_end: ce,
        page_start: page,
        page_end: page,
    })
}

fn chunk(doc_id: &str, ordinal: u32, section: &str, text: &str, at: u32) -> Chunk {
    Chunk {
        id: format!("{doc_id}#{section}"),
        document_id: doc_id.into(),
        ordinal,
        eid: section.into(),
        part: None,
        parts: 1,
        unit_kind: "section".into(),
        num: None,
        heading: Some(section.to_uppercase()),
        path: vec!["Cassazione civile".into(), section.into()],
        text: text.into(),
        embed_text: format!("Cass. civ. 2021/123 | {section}\n{text}"),
        tokens: 20 + ordinal,
        refs: vec![],
        notes: vec![],
        amendments: vec![],
        repealed: false,
        attachment: None,
        section: Some(section.into()),
        span: span(at, at + text.chars().count() as u32, 1 + ordinal),
    }
}

/// A decision with three chunks, a norm and a decision citation, entities and concepts.
fn decision(id: &str) -> EnrichedDocument {
    let texts = [
        ("header", "Corte di Cassazione, sez. III civile, sentenza 12 marzo 2021 n. 123. Relatore Mario Rossi."),
        ("facts", "Il paziente agisce per il risarcimento ex art. 2043 c.c. contro l'ospedale e i medici curanti."),
        ("reasoning", "La struttura è responsabile dell'operato dei medici, come affermato da Cass. civ. n. 12345/2020."),
    ];
    let mut at = 0;
    let mut chunks = Vec::new();
    for (i, (section, text)) in texts.iter().enumerate() {
        chunks.push(chunk(id, i as u32, section, text, at));
        at += text.chars().count() as u32 + 2;
    }
    chunks[1].refs = vec![RefMark {
        href: "/akn/it/act/codice/stato/1942-03-16/262/!main#art_2043".into(),
        text: "art. 2043 c.c.".into(),
    }];
    chunks[1].notes = vec!["nota redazionale".into()];
    let text = texts.iter().map(|t| t.1).collect::<Vec<_>>().join("\n\n");
    let c = |i: usize| chunks[i].id.clone();
    let references = vec![
        Reference {
            chunk_id: c(1),
            origin: "text".into(),
            norm_id: Some("urn:nir:stato:codice.civile:1942;262~art2043".into()),
            act_id: Some("urn:nir:stato:codice.civile:1942;262".into()),
            article_id: Some("urn:nir:stato:codice.civile:1942;262~art2043".into()),
            act_dated: Some("urn:nir:stato:codice.civile:1942-03-16;262".into()),
            target_raw: None,
            text: "art. 2043 c.c.".into(),
            start: 43,
            end: 57,
            note: None,
            relative: false,
            decision_id: None,
            decision_key: None,
        },
        Reference {
            chunk_id: c(2),
            origin: "text".into(),
            norm_id: None,
            act_id: None,
            article_id: None,
            act_dated: None,
            target_raw: None,
            text: "Cass. civ. n. 12345/2020".into(),
            start: 70,
            end: 94,
            note: None,
            relative: false,
            decision_id: Some("it:cass:civ:2020;12345".into()),
            decision_key: Some("it:cass:2020;12345".into()),
        },
    ];
    let entity = |i: usize, kind: &str, text: &str, start: u32, norm: Option<&str>| ChunkEntity {
        chunk_id: c(i),
        kind: kind.into(),
        text: text.into(),
        start,
        end: start + text.len() as u32,
        normalized: norm.map(String::from),
    };
    let entities = vec![
        entity(0, "court", "Corte di Cassazione", 0, Some("it:cass")),
        entity(0, "date", "12 marzo 2021", 44, Some("2021-03-12")),
        entity(0, "person", "Mario Rossi", 81, Some("Mario Rossi")),
        entity(2, "court", "Cass. civ.", 70, Some("it:cass")),
    ];
    let concept = |i: usize, id: &str, label: &str| ChunkConcept {
        chunk_id: c(i),
        concept_id: id.into(),
        label: label.into(),
    };
    let concepts = vec![
        concept(1, "risarcimento_danno", "Risarcimento del danno"),
        concept(1, "responsabilita_medica", "Responsabilità medica"),
        concept(2, "responsabilita_medica", "Responsabilità medica"),
    ];
    EnrichedDocument {
        info: DocumentInfo {
            id: id.into(),
            source: format!("https://example.org/{id}.pdf"),
            doc_type: DocType::Jurisprudence,
            content_hash: "ab".repeat(32),
            bytes: 12345,
            title: Some("Cass. civ. sez. III, 12 marzo 2021, n. 123".into()),
            meta: NormMeta::default(),
            metadata: vec![
                ("court".into(), "Corte di Cassazione".into()),
                ("number".into(), "123".into()),
                ("date".into(), "2021-03-12".into()),
            ],
            text: Some(text),
        },
        vectors: vec![vec![0.0; 4]; chunks.len()],
        chunks,
        model_id: "model-a".into(),
        references,
        entities,
        concepts,
    }
}

/// `doc` without its last chunk and everything attached to it.
fn without_last_chunk(doc: &EnrichedDocument) -> EnrichedDocument {
    let mut d = doc.clone();
    let gone = d.chunks.pop().unwrap().id;
    d.vectors.pop();
    d.references.retain(|r| r.chunk_id != gone);
    d.entities.retain(|e| e.chunk_id != gone);
    d.concepts.retain(|c| c.chunk_id != gone);
    d
}

fn annotations(doc: &EnrichedDocument) -> Annotations {
    Annotations {
        references: doc.references.clone(),
        entities: doc.entities.clone(),
        concepts: doc.concepts.clone(),
    }
}

/// Row counts of the document's tables, for one document or all.
async fn counts(pg: &Postgres, document_id: Option<&str>) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (table, col) in [
        ("documents", "id"),
        ("chunks", "document_id"),
        ("citations", "document_id"),
        ("entities", "document_id"),
        ("chunk_concepts", "document_id"),
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE $1::text IS NULL OR {col} = $1"
        ))
        .bind(document_id)
        .fetch_one(pg.pool())
        .await
        .unwrap();
        out.push((table.to_string(), n));
    }
    out
}

fn n(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

#[tokio::test]
async fn migrations_apply_once_and_connect_is_idempotent() {
    let url = fresh_db("migrations").await;
    // Two processes opening a new database at once: one migrates, the other waits.
    let (a, b) = tokio::join!(Postgres::connect(&url), Postgres::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let c = Postgres::connect(&url).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(c.pool())
        .await
        .unwrap();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(c.pool())
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "chunk_concepts",
            "chunks",
            "citation_links",
            "citations",
            "concepts",
            "documents",
            "entities",
            "job_errors",
            "job_payloads",
            "jobs",
            "locks",
            "runs",
            "schema_migrations",
            "stage_counters"
        ]
    );
    // A database migrated by a newer binary is refused.
    sqlx::query("INSERT INTO schema_migrations VALUES (99, 0)")
        .execute(c.pool())
        .await
        .unwrap();
    let err = Postgres::connect(&url).await.err().expect("newer schema");
    assert!(matches!(err, StoreError::Schema(_)), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    for db in [a, b, c] {
        db.close().await;
    }
}

#[tokio::test]
async fn connection_errors_name_the_url_without_password() {
    let err = Postgres::connect("postgres://someone:s3cret@127.0.0.1:1/nowhere")
        .await
        .err()
        .expect("nothing listens on port 1");
    let msg = err.to_string();
    assert!(
        msg.contains("postgres://someone:***@127.0.0.1:1/nowhere"),
        "{msg}"
    );
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[tokio::test]
async fn document_round_trip_replace_delete_and_lexical_search() {
    let url = fresh_db("documents").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let doc = decision("cass-2021-123");
    let id = doc.info.id.as_str();
    pg.upsert_document(&doc).await.unwrap();

    let full = n(&[
        ("documents", 1),
        ("chunks", 3),
        ("citations", 2),
        ("entities", 4),
        ("chunk_concepts", 3),
    ]);
    assert_eq!(counts(&pg, Some(id)).await, full);
    assert_eq!(pg.count_documents().await.unwrap(), 1);
    assert_eq!(pg.count_chunks().await.unwrap(), 3);
    let ordered: Vec<String> =
        sqlx::query_scalar("SELECT id FROM chunks WHERE document_id = $1 ORDER BY ordinal")
            .bind(id)
            .fetch_all(pg.pool())
            .await
            .unwrap();
    let ids: Vec<String> = doc.chunks.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ordered, ids);
    assert_eq!(pg.chunk_ids(id).await.unwrap(), ids);

    // Derived columns: JSONB lists, the point id, the tsvector.
    let r = sqlx::query(
        "SELECT referenced_norm_ids, referenced_decision_ids, related_concept_ids,
           point_id::text AS point_id, tsv::text AS tsv, jsonb_typeof(path) AS path_type
         FROM chunks WHERE id = $1",
    )
    .bind(&ids[1])
    .fetch_one(pg.pool())
    .await
    .unwrap();
    let json = |c: &str| r.get::<serde_json::Value, _>(c);
    assert_eq!(
        json("referenced_norm_ids"),
        serde_json::json!(["urn:nir:stato:codice.civile:1942;262~art2043"])
    );
    assert_eq!(json("referenced_decision_ids"), serde_json::json!([]));
    assert_eq!(
        json("related_concept_ids"),
        serde_json::json!(["risarcimento_danno", "responsabilita_medica"])
    );
    assert_eq!(
        r.get::<String, _>("point_id"),
        point_id(&ids[1]).to_string()
    );
    assert_eq!(r.get::<String, _>("path_type"), "array");
    assert!(r.get::<String, _>("tsv").contains("'medic'"));
    let decisions: serde_json::Value =
        sqlx::query_scalar("SELECT referenced_decision_ids FROM chunks WHERE id = $1")
            .bind(&ids[2])
            .fetch_one(pg.pool())
            .await
            .unwrap();
    assert_eq!(decisions, serde_json::json!(["it:cass:civ:2020;12345"]));

    // What was written is what is read back.
    let (info, chunks) = pg.load_document(id).await.unwrap().expect("stored");
    assert_eq!(info, doc.info);
    assert_eq!(chunks, doc.chunks);
    assert_eq!(pg.load_annotations(id).await.unwrap(), annotations(&doc));
    assert!(pg.load_document("missing").await.unwrap().is_none());
    assert_eq!(
        pg.load_annotations("missing").await.unwrap(),
        Annotations::default()
    );

    // Replaying the same document adds nothing.
    pg.upsert_document(&doc).await.unwrap();
    assert_eq!(counts(&pg, Some(id)).await, full);
    let concepts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM concepts")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(concepts, 2);

    // Lexical search: Italian stemming matches inflected forms.
    let hits = pg
        .lexical_search("responsabilità medica", 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].0.as_str(), hits[0].1.as_str()),
        (ids[2].as_str(), id)
    );
    assert!(hits[0].2 > 0.0);
    let hits = pg.lexical_search("medici -ospedale", 10).await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].0, ids[2]);
    assert!(pg
        .lexical_search("urbanistica", 10)
        .await
        .unwrap()
        .is_empty());
    assert!(pg.lexical_search("", 10).await.unwrap().is_empty());

    // A new version with one chunk fewer: the chunk and its annotations go.
    let shorter = without_last_chunk(&doc);
    pg.upsert_document(&shorter).await.unwrap();
    assert_eq!(
        counts(&pg, Some(id)).await,
        n(&[
            ("documents", 1),
            ("chunks", 2),
            ("citations", 1),
            ("entities", 3),
            ("chunk_concepts", 2),
        ])
    );
    let (_, chunks) = pg.load_document(id).await.unwrap().unwrap();
    assert_eq!(chunks, shorter.chunks);
    assert_eq!(
        pg.load_annotations(id).await.unwrap(),
        annotations(&shorter)
    );
    for table in ["citations", "entities", "chunk_concepts"] {
        let left: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE chunk_id = $1"))
                .bind(&ids[2])
                .fetch_one(pg.pool())
                .await
                .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    assert!(pg
        .lexical_search("responsabilità medica", 10)
        .await
        .unwrap()
        .is_empty());

    // Model change: document, chunk tokens, and finished jobs of the document.
    pg.set_model(id, "model-b", &[(ids[0].clone(), 7), (ids[1].clone(), 9)])
        .await
        .unwrap();
    let (_, chunks) = pg.load_document(id).await.unwrap().unwrap();
    assert_eq!(chunks.iter().map(|c| c.tokens).collect::<Vec<_>>(), [7, 9]);
    assert_eq!(
        pg.documents_not_on_model("model-b").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(pg.documents_not_on_model("model-a").await.unwrap(), [id]);

    // Delete removes that document only.
    let other = decision("cass-2021-456");
    pg.upsert_document(&other).await.unwrap();
    assert_eq!(
        pg.document_ids().await.unwrap(),
        ["cass-2021-123", "cass-2021-456"]
    );
    assert_eq!(pg.find_document(id).await.unwrap().as_deref(), Some(id));
    assert_eq!(
        pg.find_document(&other.info.source)
            .await
            .unwrap()
            .as_deref(),
        Some("cass-2021-456")
    );
    assert_eq!(pg.find_document("nope").await.unwrap(), None);
    assert!(pg.delete_document(id).await.unwrap());
    assert!(!pg.delete_document(id).await.unwrap());
    assert_eq!(
        counts(&pg, Some(id)).await,
        n(&[
            ("documents", 0),
            ("chunks", 0),
            ("citations", 0),
            ("entities", 0),
            ("chunk_concepts", 0),
        ])
    );
    assert_eq!(counts(&pg, Some(&other.info.id)).await, full);
    assert_eq!(
        pg.load_annotations(&other.info.id).await.unwrap(),
        annotations(&other)
    );
    assert_eq!(pg.document_ids().await.unwrap(), ["cass-2021-456"]);
    pg.close().await;
}

#[tokio::test]
async fn postgres_and_sqlite_store_the_same_document() {
    let url = fresh_db("parity").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let path = std::env::temp_dir().join(format!("ingest-parity-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let lite = Sqlite::try_open(&path).await.unwrap();
    let mut doc = decision("cass-2021-789");
    // A norm-like chunk too: no span or section, split part, repealed, notes and refs.
    let mut c = doc.chunks[2].clone();
    c.id = format!("{}#art_1~p2", doc.info.id);
    c.ordinal = 3;
    c.part = Some(2);
    c.parts = 3;
    c.section = None;
    c.span = None;
    c.repealed = true;
    c.attachment = Some("allegato A".into());
    c.amendments = vec!["((parole inserite))".into()];
    doc.chunks.push(c);
    doc.info.meta.urn_nir = Some("urn:nir:stato:legge:1990;241".into());
    for store in [&pg as &dyn RelationalStore, &lite] {
        store.upsert_document(&doc).await.unwrap();
        store
            .upsert_document(&without_last_chunk(&doc))
            .await
            .unwrap();
        store.upsert_document(&doc).await.unwrap();
    }
    let id = &doc.info.id;
    assert_eq!(
        pg.load_document(id).await.unwrap(),
        lite.load_document(id).await.unwrap()
    );
    assert_eq!(
        pg.load_annotations(id).await.unwrap(),
        lite.load_annotations(id).await.unwrap()
    );
    assert_eq!(pg.load_annotations(id).await.unwrap(), annotations(&doc));
    assert_eq!(
        pg.chunk_ids(id).await.unwrap(),
        lite.chunk_ids(id).await.unwrap()
    );
    lite.close().await;
    let _ = std::fs::remove_file(&path);
    pg.close().await;
}

#[tokio::test]
async fn concurrent_writers_of_shared_concepts_do_not_deadlock() {
    let url = fresh_db("concurrent_upserts").await;
    let pg = Arc::new(Postgres::connect(&url).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pg = pg.clone();
        tasks.push(tokio::spawn(async move {
            let mut doc = decision(&format!("doc-{}", i % 4));
            if i % 2 == 1 {
                doc.concepts.reverse();
            }
            for _ in 0..5 {
                pg.upsert_document(&doc).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(pg.count_documents().await.unwrap(), 4);
    assert_eq!(pg.count_chunks().await.unwrap(), 12);
}

#[tokio::test]
async fn large_document_upserts_in_batches() {
    let url = fresh_db("bulk").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let mut doc = decision("bulk-doc");
    let template = doc.chunks[2].clone();
    doc.chunks = (0..2000)
        .map(|i| {
            let mut c = template.clone();
            c.id = format!("bulk-doc#c{i:05}");
            c.ordinal = i;
            c.text = format!("{} Paragrafo {i}.", template.text.repeat(4));
            c.embed_text = c.text.clone();
            c
        })
        .collect();
    doc.references = (0..2000)
        .map(|i| Reference {
            chunk_id: format!("bulk-doc#c{i:05}"),
            ..doc.references[0].clone()
        })
        .collect();
    doc.entities = (0..2000)
        .map(|i| ChunkEntity {
            chunk_id: format!("bulk-doc#c{i:05}"),
            ..doc.entities[0].clone()
        })
        .collect();
    doc.concepts = (0..2000)
        .map(|i| ChunkConcept {
            chunk_id: format!("bulk-doc#c{i:05}"),
            ..doc.concepts[i % 3].clone()
        })
        .collect();
    let t = Instant::now();
    pg.upsert_document(&doc).await.unwrap();
    let first = t.elapsed();
    let t = Instant::now();
    pg.upsert_document(&doc).await.unwrap();
    let again = t.elapsed();
    let t = Instant::now();
    let (_, chunks) = pg.load_document("bulk-doc").await.unwrap().unwrap();
    let load = t.elapsed();
    assert_eq!(chunks.len(), 2000);
    assert_eq!(chunks, doc.chunks);
    assert_eq!(
        counts(&pg, Some("bulk-doc")).await,
        n(&[
            ("documents", 1),
            ("chunks", 2000),
            ("citations", 2000),
            ("entities", 2000),
            ("chunk_concepts", 2000),
        ])
    );
    eprintln!(
        "2000 chunks (+2000 citations, entities, concept links): insert {first:?}, re-upsert {again:?}, load {load:?}"
    );
    pg.close().await;
}

fn scope(run: &str) -> Scope {
    Scope {
        run_id: Some(run.to_string()),
        types: Vec::new(),
    }
}

fn sources(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://example.org/doc/{i:03}.xml"))
        .collect()
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let url = fresh_db("claims").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let a = PgJobStore::new(pg.pool().clone(), Duration::from_secs(60));
    // A second "process": its own pool and lease owner.
    let other = Postgres::connect(&url).await.unwrap();
    let b = PgJobStore::new(other.pool().clone(), Duration::from_secs(60));
    assert_ne!(a.owner(), b.owner());
    let stats = a
        .enqueue("run", DocType::Norm, 0, &sources(200))
        .await
        .unwrap();
    assert_eq!(stats.added, 200);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = store.claim_next(&scope("run")).await? {
                store
                    .checkpoint(&c, Stage::Parse, b"parsed", None, None)
                    .await?;
                mine.push((c.id, store.owner().to_string()));
            }
            Ok::<_, StoreError>(mine)
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap().unwrap());
    }
    let ids: HashSet<i64> = claimed.iter().map(|c| c.0).collect();
    assert_eq!(claimed.len(), 200, "every job claimed once");
    assert_eq!(ids.len(), 200, "no job claimed twice");
    let owners: HashSet<&str> = claimed.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(owners.len(), 2, "both stores claimed jobs");
    // Leases are held: nothing left to claim, and the rows record their owner and epoch 1.
    assert!(a.claim_next(&scope("run")).await.unwrap().is_none());
    let (running, epochs): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), SUM(lease_epoch)::bigint FROM jobs WHERE state = 'running' AND stage_done = 1",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap();
    assert_eq!((running, epochs), (200, 200));
}

fn payload(stage: i64, data: &[u8], delta: Option<&[u8]>) -> Payload {
    Payload {
        stage,
        data: data.to_vec(),
        delta: delta.map(<[u8]>::to_vec),
    }
}

#[tokio::test]
async fn leases_epochs_and_checkpoints() {
    let url = fresh_db("leases").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let a = PgJobStore::new(pg.pool().clone(), Duration::from_millis(1000));
    let b = PgJobStore::new(pg.pool().clone(), Duration::from_secs(60));
    a.enqueue("run", DocType::Norm, 0, &sources(1))
        .await
        .unwrap();
    let ca = a.claim_next(&scope("run")).await.unwrap().expect("claim");
    assert_eq!((ca.epoch, ca.attempts, ca.stage_done), (1, 1, 0));
    a.checkpoint(&ca, Stage::Parse, b"one", Some("doc-1"), None)
        .await
        .unwrap();
    assert_eq!(
        a.load_payload(ca.id).await.unwrap(),
        Some(payload(1, b"one", None))
    );
    // A stale epoch is refused and changes nothing.
    let stale = Claim {
        epoch: ca.epoch - 1,
        ..ca.clone()
    };
    let err = a
        .checkpoint(&stale, Stage::Chunk, b"two", None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseLost { epoch: 0, .. }),
        "{err}"
    );
    assert_eq!(
        a.load_payload(ca.id).await.unwrap(),
        Some(payload(1, b"one", None))
    );
    // The lease is live: another owner cannot take it; once expired, it can.
    assert!(b.claim_next(&scope("run")).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cb = b
        .claim_next(&scope("run"))
        .await
        .unwrap()
        .expect("expired lease taken over");
    assert_eq!(
        (cb.id, cb.epoch, cb.attempts, cb.stage_done),
        (ca.id, 2, 2, 1)
    );
    // The old holder can no longer checkpoint, finish, fail or release.
    for err in [
        a.checkpoint(&ca, Stage::Chunk, b"late", None, None).await,
        a.finish(&ca, "doc-1", "hash", &Validators::default()).await,
        a.fail(
            &ca,
            Stage::Chunk,
            ErrorClass::Transient,
            "late",
            AfterFailure::Dead,
        )
        .await,
        a.reset(&ca).await,
    ] {
        assert!(matches!(err, Err(StoreError::LeaseLost { .. })), "{err:?}");
    }
    a.release(&ca).await.unwrap();
    assert_eq!(b.run_states("run").await.unwrap(), [("running".into(), 1)]);
    // The new holder carries on from the checkpoint.
    assert_eq!(
        b.load_payload(cb.id).await.unwrap(),
        Some(payload(1, b"one", None))
    );
    // Enrich adds to the embed checkpoint, which it needs; a later full checkpoint replaces
    // both parts.
    let err = b
        .checkpoint_delta(&cb, Stage::Enrich, b"refs")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Payload(m) if m.contains("no embed checkpoint")),
        "{err}"
    );
    b.checkpoint(&cb, Stage::Embed, b"vectors", None, Some("model-a"))
        .await
        .unwrap();
    b.checkpoint_delta(&cb, Stage::Enrich, b"refs")
        .await
        .unwrap();
    assert_eq!(
        b.load_payload(cb.id).await.unwrap(),
        Some(payload(4, b"vectors", Some(b"refs")))
    );
    let stage_done: i64 = sqlx::query_scalar("SELECT stage_done FROM jobs WHERE id = $1")
        .bind(cb.id)
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(stage_done, 4);
    // A stale holder cannot add to it either.
    assert!(matches!(
        a.checkpoint_delta(&ca, Stage::Enrich, b"late").await,
        Err(StoreError::LeaseLost { .. })
    ));
    b.checkpoint(&cb, Stage::Parse, b"one", None, None)
        .await
        .unwrap();
    assert_eq!(
        b.load_payload(cb.id).await.unwrap(),
        Some(payload(1, b"one", None))
    );
    b.checkpoint(&cb, Stage::Chunk, b"chunked", None, Some("model-a"))
        .await
        .unwrap();
    b.reset(&cb).await.unwrap();
    assert_eq!(b.load_payload(cb.id).await.unwrap(), None);
    let (stage_done, model): (i64, Option<String>) =
        sqlx::query_as("SELECT stage_done, model_id FROM jobs WHERE id = $1")
            .bind(cb.id)
            .fetch_one(pg.pool())
            .await
            .unwrap();
    assert_eq!((stage_done, model), (0, None));
    // Release gives it back with its checkpoint; the next claim bumps the epoch.
    b.checkpoint(&cb, Stage::Parse, b"again", None, None)
        .await
        .unwrap();
    b.release(&cb).await.unwrap();
    let cc = b.claim_next(&scope("run")).await.unwrap().unwrap();
    assert_eq!((cc.epoch, cc.attempts, cc.stage_done), (3, 3, 1));
    b.finish(&cc, "doc-1", "hash", &Validators::default())
        .await
        .unwrap();
    assert_eq!(b.load_payload(cc.id).await.unwrap(), None);
    assert_eq!(b.run_states("run").await.unwrap(), [("done".into(), 1)]);
    // Forgetting a source drops its job and checkpoint.
    let more = sources(2);
    b.enqueue("run", DocType::Norm, 0, &more[1..])
        .await
        .unwrap();
    let cd = b.claim_next(&scope("run")).await.unwrap().unwrap();
    b.checkpoint(&cd, Stage::Parse, b"x", None, None)
        .await
        .unwrap();
    assert_eq!(b.forget("no-such-doc", Some(&more[1])).await.unwrap(), 1);
    assert_eq!(b.load_payload(cd.id).await.unwrap(), None);
    assert_eq!(b.forget("doc-1", None).await.unwrap(), 1);
    assert!(b.run_states("run").await.unwrap().is_empty());
}

#[tokio::test]
async fn dead_local_leases_are_released() {
    let url = fresh_db("dead_leases").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let store = PgJobStore::new(pg.pool().clone(), Duration::from_secs(60));
    store
        .enqueue("run", DocType::Norm, 0, &sources(3))
        .await
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let owners = [
        format!("{host}-{dead_pid}-0000dead"), // dead process here
        format!("{host}-{}-0000beef", std::process::id()), // alive process here
        format!("elsewhere-{dead_pid}-0000cafe"), // another host
    ];
    for (i, owner) in owners.iter().enumerate() {
        sqlx::query(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = ingest_now_ms() + 60000
             WHERE source = $2",
        )
        .bind(owner)
        .bind(&sources(3)[i])
        .execute(pg.pool())
        .await
        .unwrap();
    }
    assert_eq!(store.release_dead_local_leases().await.unwrap(), 1);
    assert_eq!(
        store.run_states("run").await.unwrap(),
        [("queued".into(), 1), ("running".into(), 2)]
    );
    let c = store.claim_next(&scope("run")).await.unwrap().unwrap();
    assert_eq!(c.source, sources(3)[0]);
}

/// One scripted life of a few jobs, written once for both job stores: its observable results.
macro_rules! job_scenario {
    ($store:expr, $pool:expr) => {{
        let s = $store;
        let mut log: Vec<String> = Vec::new();
        let list = sources(4);
        let mut with_dup = list.clone();
        with_dup.push(list[0].clone());
        log.push(format!(
            "{:?}",
            s.enqueue("r1", DocType::Norm, 0, &with_dup).await.unwrap()
        ));
        let mut claims = Vec::new();
        while let Some(c) = s.claim_next(&scope("r1")).await.unwrap() {
            log.push(format!(
                "claim {} {} {} {}",
                c.source, c.epoch, c.attempts, c.stage_done
            ));
            claims.push(c);
        }
        let [c0, c1, c2, c3] = <[_; 4]>::try_from(claims).unwrap();
        s.checkpoint(&c0, Stage::Parse, b"p", Some("d0"), None)
            .await
            .unwrap();
        s.checkpoint(&c0, Stage::Embed, b"e", None, Some("m"))
            .await
            .unwrap();
        s.checkpoint_delta(&c0, Stage::Enrich, b"x").await.unwrap();
        log.push(format!("{:?}", s.load_payload(c0.id).await.unwrap()));
        log.push(format!(
            "{:?}",
            s.checkpoint_delta(&c0, Stage::Store, b"y").await.is_ok()
        ));
        s.finish(&c0, "d0", "h0", &Validators::default())
            .await
            .unwrap();
        s.checkpoint(&c1, Stage::Parse, b"p", Some("d1"), None)
            .await
            .unwrap();
        s.fail(
            &c1,
            Stage::Chunk,
            ErrorClass::Rejected,
            "bad input",
            AfterFailure::Dead,
        )
        .await
        .unwrap();
        s.fail(
            &c2,
            Stage::Parse,
            ErrorClass::Transient,
            "timeout",
            AfterFailure::RetryAfter(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
        s.release(&c3).await.unwrap();
        log.push(format!("{:?}", s.run_states("r1").await.unwrap()));
        log.push(format!("{:?}", s.load_payload(c1.id).await.unwrap()));
        // The rejected input is a dead letter; the transient failure waits for its retry.
        let pending = s.pending(&scope("r1")).await.unwrap();
        log.push(format!(
            "pending {} due later {:?}",
            pending.open,
            pending.next_due_in_ms.map(|d| d > 3_000_000)
        ));
        let dead = s.dead(10).await.unwrap();
        log.push(format!(
            "dead {:?}",
            dead.iter()
                .map(|d| (&d.source, &d.stage, &d.class, &d.error, d.retries))
                .collect::<Vec<_>>()
        ));
        log.push(format!("heartbeat {}", s.heartbeat().await.unwrap()));
        log.push(format!(
            "requeue {}",
            s.requeue_dead(&[c1.id]).await.unwrap()
        ));
        log.push(format!(
            "dead after requeue {}",
            s.dead(10).await.unwrap().len()
        ));
        // A second run of the list: done stays done, failures are queued again.
        log.push(format!(
            "{:?}",
            s.enqueue("r2", DocType::Norm, 5, &list).await.unwrap()
        ));
        log.push(format!("{:?}", s.run_states("r2").await.unwrap()));
        while let Some(c) = s.claim_next(&scope("r2")).await.unwrap() {
            log.push(format!(
                "claim {} {} {} {} {:?}",
                c.source, c.epoch, c.attempts, c.stage_done, c.document_id
            ));
            let v = Validators {
                etag: Some(format!("\"{}\"", c.id)),
                last_modified: None,
            };
            s.finish(&c, "d", "h", &v).await.unwrap();
        }
        log.push(format!("{:?}", s.run_states("r2").await.unwrap()));
        // A refresh revisits what is done; an unchanged source finishes without any stage.
        log.push(format!(
            "revisit {}",
            s.revisit("r3", &[DocType::Norm], None).await.unwrap()
        ));
        while let Some(c) = s.claim_next(&scope("r3")).await.unwrap() {
            log.push(format!(
                "refresh claim {} {} {} {:?} {:?}",
                c.source, c.refresh, c.stage_done, c.content_hash, c.validators.etag
            ));
            let v = Validators {
                etag: None,
                last_modified: Some("Tue, 01 Dec 2026 00:00:00 GMT".into()),
            };
            s.finish_unchanged(&c, &v).await.unwrap();
        }
        log.push(format!(
            "done elsewhere {} {}",
            s.document_done_elsewhere("d").await.unwrap(),
            s.document_done_elsewhere("zz").await.unwrap()
        ));
        let missing = s.missing(DocType::Norm, &list[..2]).await.unwrap();
        log.push(format!(
            "missing {:?}",
            missing.iter().map(|m| &m.source).collect::<Vec<_>>()
        ));
        log.push(format!(
            "withdrawn {}",
            s.mark_withdrawn(missing[0].id).await.unwrap()
        ));
        log.push(format!(
            "missing after {}",
            s.missing(DocType::Norm, &list[..2]).await.unwrap().len()
        ));
        log.push(format!(
            "revisit listed {}",
            s.revisit("r4", &[DocType::Norm], Some(&list))
                .await
                .unwrap()
        ));
        log.push(format!(
            "reinstate {}",
            s.reinstate(DocType::Norm, &list).await.unwrap()
        ));
        log.push(format!("lock {:?}", s.try_lock("refresh").await.unwrap()));
        log.push(format!(
            "lock again {:?}",
            s.try_lock("refresh").await.unwrap()
        ));
        log.push(format!("renew {}", s.renew_lock("refresh").await.unwrap()));
        s.unlock("refresh").await.unwrap();
        log.push(format!(
            "renew unlocked {}",
            s.renew_lock("refresh").await.unwrap()
        ));
        for r in sqlx::query(
            "SELECT source, state, refresh, etag, last_modified, withdrawn_at IS NOT NULL,
               checked_at IS NOT NULL FROM jobs ORDER BY source",
        )
        .fetch_all($pool)
        .await
        .unwrap()
        {
            log.push(format!(
                "refresh row {} {} {} {:?} {:?} {} {}",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.try_get::<bool, _>(2)
                    .unwrap_or_else(|_| r.get::<i64, _>(2) != 0),
                r.get::<Option<String>, _>(3),
                r.get::<Option<String>, _>(4),
                r.get::<bool, _>(5),
                r.get::<bool, _>(6),
            ));
        }
        // Forget by document id (every job that produced it) and by source.
        log.push(format!("forget {}", s.forget("d0", None).await.unwrap()));
        log.push(format!(
            "forget {}",
            s.forget("none", Some(&list[1])).await.unwrap()
        ));
        log.push(format!("forget {}", s.forget("none", None).await.unwrap()));
        let payloads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_payloads")
            .fetch_one($pool)
            .await
            .unwrap();
        log.push(format!("payloads {payloads}"));
        let rows = sqlx::query(
            "SELECT source, state, stage_done, document_id, model_id, attempts, lease_epoch,
               last_error, last_error_stage, last_error_class, content_hash, priority, run_id
             FROM jobs ORDER BY source",
        )
        .fetch_all($pool)
        .await
        .unwrap();
        for r in rows {
            log.push(format!(
                "{} {} {} {:?} {:?} {} {} {:?} {:?} {:?} {:?} {} {:?}",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2),
                r.get::<Option<String>, _>(3),
                r.get::<Option<String>, _>(4),
                r.get::<i64, _>(5),
                r.get::<i64, _>(6),
                r.get::<Option<String>, _>(7),
                r.get::<Option<String>, _>(8),
                r.get::<Option<String>, _>(9),
                r.get::<Option<String>, _>(10),
                r.get::<i64, _>(11),
                r.get::<Option<String>, _>(12),
            ));
        }
        for r in sqlx::query("SELECT stage, runs, failures FROM stage_counters ORDER BY stage")
            .fetch_all($pool)
            .await
            .unwrap()
        {
            log.push(format!(
                "{} {} {}",
                r.get::<String, _>(0),
                r.get::<i64, _>(1),
                r.get::<i64, _>(2)
            ));
        }
        // Runs: recorded at start, completed at the end; queue depth per type and state.
        s.start_run("r1", "ingest").await.unwrap();
        let open = s.open_runs().await.unwrap();
        log.push(format!(
            "open runs {} {} {}",
            open.len(),
            open[0].kind,
            open[0].worker == s.owner()
        ));
        let totals = ingest::store::runs::RunTotals {
            ok: 3,
            rejected: 1,
            retried: 2,
            chunks: 17,
            ..Default::default()
        };
        s.finish_run("r1", &totals).await.unwrap();
        let r = s.runs(5).await.unwrap().remove(0);
        log.push(format!(
            "run {} {} {} {} {} {} {:?} {} {}",
            r.run_id,
            r.documents_ok,
            r.documents_rejected,
            r.documents_failed,
            r.documents_retried,
            r.chunks,
            r.outcome,
            r.finished_at.is_some_and(|f| f >= r.started_at),
            s.open_runs().await.unwrap().len()
        ));
        log.push(format!("depth {:?}", s.queue_depth().await.unwrap()));
        for r in sqlx::query("SELECT source, stage, class, message FROM job_errors ORDER BY id")
            .fetch_all($pool)
            .await
            .unwrap()
        {
            log.push(format!(
                "{} {} {} {}",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<String, _>(2),
                r.get::<String, _>(3)
            ));
        }
        log
    }};
}

#[tokio::test]
async fn job_store_behaves_like_the_sqlite_one() {
    let url = fresh_db("jobs_parity").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let pg_store = PgJobStore::new(pg.pool().clone(), Duration::from_secs(60));
    let pg_log = job_scenario!(&pg_store, pg.pool());

    let path = std::env::temp_dir().join(format!("ingest-jobs-parity-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let lite = Sqlite::try_open(&path).await.unwrap();
    let lite_store = JobStore::new(lite.pool().clone(), Duration::from_secs(60));
    let lite_log = job_scenario!(&lite_store, lite.pool());
    lite.close().await;
    let _ = std::fs::remove_file(&path);

    assert_eq!(pg_log, lite_log);
    // Spot checks, so equal-but-wrong cannot pass unnoticed.
    assert!(
        pg_log[0].contains("added: 4") && pg_log[0].contains("pending: 1"),
        "{}",
        pg_log[0]
    );
    assert!(
        pg_log
            .iter()
            .any(|l| l.contains("already_done: 1, pending: 3") && l.contains("requeued: 0")),
        "{pg_log:#?}"
    );
    assert!(
        pg_log.contains(&"pending 2 due later Some(false)".to_string()),
        "{pg_log:#?}"
    );
    assert!(
        pg_log.iter().any(|l| l.starts_with("dead [")
            && l.contains("001.xml")
            && l.contains("\"rejected\"")
            && l.contains("bad input")
            && !l.contains("002.xml")),
        "{pg_log:#?}"
    );
    assert!(
        pg_log.contains(&"Some(Payload { stage: 4, data: [101], delta: Some([120]) })".to_string()),
        "enrich added to the embed checkpoint: {pg_log:#?}"
    );
    assert!(
        pg_log.contains(&"false".to_string()),
        "no addition to an addition: {pg_log:#?}"
    );
    assert!(pg_log.contains(&"requeue 1".to_string()), "{pg_log:#?}");
    assert!(
        pg_log.contains(&"dead after requeue 0".to_string()),
        "{pg_log:#?}"
    );
    assert!(pg_log.contains(&"parse 3 1".to_string()), "{pg_log:#?}");
    assert!(
        pg_log
            .iter()
            .any(|l| l.contains("001.xml 2 2 1 Some(\"d1\")")),
        "{pg_log:#?}"
    );
    assert!(pg_log.contains(&"forget 1".to_string()), "{pg_log:#?}");
    // Three sources are done (the fourth waits for its retry): all three are revisited,
    // with the hash and ETag they were stored with.
    let expect = |line: &str| assert!(pg_log.contains(&line.to_string()), "{line}: {pg_log:#?}");
    expect("revisit 3");
    expect(r#"refresh claim https://example.org/doc/001.xml true 0 Some("h") Some("\"2\"")"#);
    assert_eq!(
        pg_log
            .iter()
            .filter(|l| l.starts_with("refresh claim"))
            .count(),
        3
    );
    expect("done elsewhere true false");
    expect(r#"missing ["https://example.org/doc/003.xml"]"#);
    expect("withdrawn true");
    expect("missing after 0");
    // The withdrawn source is not revisited; listing it again reinstates it.
    expect("revisit listed 2");
    expect("reinstate 1");
    expect("lock None");
    expect("lock again None");
    expect("renew true");
    expect("renew unlocked false");
    assert!(
        pg_log.contains(&"open runs 1 ingest true".to_string()),
        "{pg_log:#?}"
    );
    assert!(
        pg_log.contains(&"run r1 3 1 0 2 17 Some(\"ok\") true 0".to_string()),
        "{pg_log:#?}"
    );
    assert!(
        pg_log
            .iter()
            .any(|l| l.starts_with("depth [") && l.contains("state: \"queued\", count: 2")),
        "{pg_log:#?}"
    );
}

#[tokio::test]
async fn the_refresh_lock_has_one_holder_at_a_time() {
    let url = fresh_db("refresh_lock").await;
    let pg = Postgres::connect(&url).await.unwrap();
    let a = PgJobStore::new(pg.pool().clone(), Duration::from_millis(300));
    let b = PgJobStore::new(pg.pool().clone(), Duration::from_millis(300));
    assert_eq!(a.try_lock("refresh").await.unwrap(), None);
    let held = b.try_lock("refresh").await.unwrap().expect("a holds it");
    assert_eq!(held.owner, a.owner());
    assert!(!b.renew_lock("refresh").await.unwrap());
    // Both at once: exactly one wins.
    a.unlock("refresh").await.unwrap();
    let (ra, rb) = tokio::join!(a.try_lock("refresh"), b.try_lock("refresh"));
    assert_eq!(
        [ra.unwrap().is_none(), rb.unwrap().is_none()]
            .iter()
            .filter(|x| **x)
            .count(),
        1
    );
    // A holder that stops renewing loses the lock when its lease runs out.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let c = PgJobStore::new(pg.pool().clone(), Duration::from_secs(60));
    assert_eq!(c.try_lock("refresh").await.unwrap(), None);
    assert!(a.try_lock("refresh").await.unwrap().is_some());
}

//! The Qdrant backend against the TEST server, both in this process: the server runs in a
//! tokio task on an ephemeral port, backed by qdrant-edge in a temporary directory.

#[allow(dead_code)]
#[path = "../src/bin/qdrant-test-server.rs"]
mod server;

use std::path::Path;
use std::time::Instant;

use ingest::store::qdrant::{collection_name, QdrantVectors, INDEXED_FIELDS};
use qdrant_client::qdrant::{
    r#match::MatchValue, Condition, CountPointsBuilder, Filter, PrefetchQueryBuilder,
    QueryPointsBuilder, Range, RecommendPointsBuilder, ScrollPointsBuilder, SearchPointsBuilder,
    UpdateCollectionBuilder,
};
use qdrant_client::{Qdrant, QdrantError};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

const MODEL: &str = "test/model-a";
const DIM: usize = 8;
const DOCS: usize = 50;
const CHUNKS: usize = 20;

struct Running {
    url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

async fn start(dir: &Path, api_key: Option<&str>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let dir = dir.to_path_buf();
    let key = api_key.map(str::to_string);
    let task = tokio::spawn(async move {
        server::serve(listener, &dir, key, async {
            let _ = stopped.await;
        })
        .await
    });
    Running { url, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn raw_client(url: &str) -> Qdrant {
    Qdrant::from_url(url)
        .skip_compatibility_check()
        .build()
        .unwrap()
}

fn status_code(e: QdrantError) -> tonic::Code {
    match e {
        QdrantError::ResponseError { status } => status.code(),
        other => panic!("not a gRPC status: {other}"),
    }
}

/// Deterministic pseudo-random vectors: distinct enough that each point is its own nearest.
fn vector(seed: usize) -> Vec<f32> {
    let mut x = (seed as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn chunk_id(doc: usize, chunk: usize) -> String {
    format!("doc-{doc}#{chunk}")
}

fn point_id(chunk_id: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, chunk_id.as_bytes())
}

fn payload(doc: usize, chunk: usize) -> Value {
    json!({
        "chunk_id": chunk_id(doc, chunk),
        "document_id": format!("doc-{doc}"),
        "doc_type": if doc.is_multiple_of(2) { "norm" } else { "decision" },
        "model_id": MODEL,
        "section": format!("art. {chunk}"),
        "related_concept_ids": [format!("c{}", doc % 7), format!("k{}", doc % 5)],
        "referenced_norm_ids": [],
        "referenced_decision_ids": [format!("d{doc}")],
        "text": format!("testo del documento {doc}, parte {chunk}"),
        "position": chunk,
    })
}

fn points() -> Vec<(Uuid, Vec<f32>, Value)> {
    let mut out = Vec::new();
    for doc in 0..DOCS {
        for chunk in 0..CHUNKS {
            let id = chunk_id(doc, chunk);
            out.push((
                point_id(&id),
                vector(doc * CHUNKS + chunk),
                payload(doc, chunk),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_against_test_server() {
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path(), None).await;
    let store = QdrantVectors::connect(&running.url, None).await.unwrap();
    assert!(store.server_version().starts_with("1."));
    assert!(store.models().await.unwrap().is_empty());
    assert_eq!(store.count(MODEL).await.unwrap(), 0, "no collection yet: 0");
    assert!(store.search(MODEL, vector(1), 3).await.unwrap().is_empty());

    // prepare: idempotent; another size is refused naming both sizes
    store.prepare(MODEL, DIM).await.unwrap();
    store.prepare(MODEL, DIM).await.unwrap();
    let err = store.prepare(MODEL, 16).await.unwrap_err();
    assert!(err.contains("8-dimensional") && err.contains("16"), "{err}");
    assert!(
        err.contains(&running.url) && err.contains(&collection_name(MODEL)),
        "{err}"
    );
    assert!(!err.contains('\n'));
    assert_eq!(store.models().await.unwrap(), vec![MODEL.to_string()]);

    let raw = raw_client(&running.url);
    let info = raw
        .collection_info(collection_name(MODEL))
        .await
        .unwrap()
        .result
        .unwrap();
    for field in INDEXED_FIELDS {
        assert!(info.payload_schema.contains_key(field), "index on {field}");
    }
    let metadata = info.config.unwrap().metadata;
    assert_eq!(
        metadata["ingest_model_id"].as_str().map(String::as_str),
        Some(MODEL)
    );

    // upsert 1000 points
    let all = points();
    assert_eq!(all.len(), 1000);
    let started = Instant::now();
    store.upsert(MODEL, all.clone()).await.unwrap();
    eprintln!("upsert of 1000 points: {:?}", started.elapsed());
    assert_eq!(store.count(MODEL).await.unwrap(), 1000);
    // upserting again replaces, does not add
    store.upsert(MODEL, all[..10].to_vec()).await.unwrap();
    assert_eq!(store.count(MODEL).await.unwrap(), 1000);

    // search: a point's own vector (slightly off) finds that point first
    let target = 537;
    let (doc, chunk) = (target / CHUNKS, target % CHUNKS);
    let mut query = vector(target);
    query[0] += 0.001;
    let started = Instant::now();
    let hits = store.search(MODEL, query, 5).await.unwrap();
    eprintln!("search: {:?}", started.elapsed());
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].0, chunk_id(doc, chunk));
    assert_eq!(hits[0].1, format!("doc-{doc}"));
    assert!(hits[0].2 > 0.999, "score {}", hits[0].2);
    assert!(hits.windows(2).all(|w| w[0].2 >= w[1].2));
    assert_eq!(hits[0].3, payload(doc, chunk));

    // filters on array payload fields (keyword match on any element)
    let concept_c3 = (0..DOCS).filter(|d| d % 7 == 3).count() * CHUNKS;
    let n = raw
        .count(
            CountPointsBuilder::new(collection_name(MODEL))
                .filter(Filter::must([Condition::matches(
                    "related_concept_ids",
                    "c3".to_string(),
                )]))
                .exact(true),
        )
        .await
        .unwrap()
        .result
        .unwrap()
        .count;
    assert_eq!(n as usize, concept_c3);
    let n = raw
        .count(
            CountPointsBuilder::new(collection_name(MODEL))
                .filter(Filter {
                    must: vec![Condition::matches("doc_type", "norm".to_string())],
                    must_not: vec![Condition::matches(
                        "related_concept_ids",
                        vec!["k0".to_string(), "k1".to_string()],
                    )],
                    ..Default::default()
                })
                .exact(true),
        )
        .await
        .unwrap()
        .result
        .unwrap()
        .count;
    let expected = (0..DOCS)
        .filter(|d| d.is_multiple_of(2) && d % 5 != 0 && d % 5 != 1)
        .count()
        * CHUNKS;
    assert_eq!(n as usize, expected);

    // chunk ids of a document; distinct document ids
    let mut ids = store.document_chunk_ids(MODEL, "doc-3").await.unwrap();
    ids.sort();
    let mut expected: Vec<String> = (0..CHUNKS).map(|c| chunk_id(3, c)).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let docs = store.document_ids(MODEL).await.unwrap();
    assert_eq!(docs.len(), DOCS);
    assert!(docs.contains(&"doc-49".to_string()));

    // delete by document: only that document goes
    store.delete_document(MODEL, "doc-3").await.unwrap();
    assert_eq!(store.count(MODEL).await.unwrap(), 980);
    assert!(store
        .document_chunk_ids(MODEL, "doc-3")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .document_chunk_ids(MODEL, "doc-4")
            .await
            .unwrap()
            .len(),
        CHUNKS
    );
    assert_eq!(store.document_ids(MODEL).await.unwrap().len(), DOCS - 1);
    store.delete_document(MODEL, "no such doc").await.unwrap();
    assert_eq!(store.count(MODEL).await.unwrap(), 980);

    // delete by ids
    let gone: Vec<Uuid> = (0..5).map(|c| point_id(&chunk_id(4, c))).collect();
    store.delete_points(MODEL, &gone).await.unwrap();
    assert_eq!(store.count(MODEL).await.unwrap(), 975);
    assert_eq!(
        store
            .document_chunk_ids(MODEL, "doc-4")
            .await
            .unwrap()
            .len(),
        CHUNKS - 5
    );

    // retrieve: present ones with payload and (normalized, cosine) vector; missing skipped
    let wanted = [
        point_id(&chunk_id(5, 0)),
        point_id(&chunk_id(5, 1)),
        gone[0],
        point_id(&chunk_id(5, 2)),
    ];
    let got = store.retrieve(MODEL, &wanted).await.unwrap();
    assert_eq!(got.len(), 3);
    for (id, payload_got, vector_got) in &got {
        let uuid = Uuid::parse_str(id).unwrap();
        let c = (0..3).find(|c| point_id(&chunk_id(5, *c)) == uuid).unwrap();
        assert_eq!(payload_got, &payload(5, c));
        let expected = normalized(&vector(5 * CHUNKS + c));
        assert_eq!(vector_got.len(), DIM);
        assert!(vector_got
            .iter()
            .zip(&expected)
            .all(|(a, b)| (a - b).abs() < 1e-5));
    }

    // a payload that is not an object is refused before sending
    let err = store
        .upsert(MODEL, vec![(Uuid::new_v4(), vector(1), json!([1, 2]))])
        .await
        .unwrap_err();
    assert!(err.contains("not a JSON object"), "{err}");
    // a wrong-sized vector is refused by the server, one line naming the collection
    let err = store
        .upsert(MODEL, vec![(Uuid::new_v4(), vec![1.0; 3], json!({}))])
        .await
        .unwrap_err();
    assert!(err.contains("expected dim: 8, got 3"), "{err}");
    assert!(
        err.contains(&collection_name(MODEL)) && !err.contains('\n'),
        "{err}"
    );

    // calls the server does not serve answer UNIMPLEMENTED, never a silent success
    let e = raw
        .recommend(RecommendPointsBuilder::new(collection_name(MODEL), 3).add_positive(1))
        .await
        .unwrap_err();
    assert_eq!(status_code(e), tonic::Code::Unimplemented);
    let e = raw
        .create_snapshot(collection_name(MODEL))
        .await
        .unwrap_err();
    assert_eq!(status_code(e), tonic::Code::Unimplemented);
    let e = raw
        .update_collection(UpdateCollectionBuilder::new(collection_name(MODEL)))
        .await
        .unwrap_err();
    assert_eq!(status_code(e), tonic::Code::Unimplemented);
    // ... and so do options of served calls that it does not honour
    let e = raw
        .query(
            QueryPointsBuilder::new(collection_name(MODEL))
                .prefetch(vec![PrefetchQueryBuilder::default()
                    .query(vector(1))
                    .build()])
                .query(vector(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(status_code(e), tonic::Code::Unimplemented);

    // restart on the same data dir: everything is still there
    drop(store);
    drop(raw);
    running.stop().await;
    let running = start(data.path(), None).await;
    let store = QdrantVectors::connect(&running.url, None).await.unwrap();
    assert_eq!(store.models().await.unwrap(), vec![MODEL.to_string()]);
    assert_eq!(store.count(MODEL).await.unwrap(), 975);
    store.prepare(MODEL, DIM).await.unwrap();
    let hits = store.search(MODEL, vector(target), 1).await.unwrap();
    assert_eq!(hits[0].0, chunk_id(doc, chunk));
    assert_eq!(store.document_ids(MODEL).await.unwrap().len(), DOCS - 1);
    let raw = raw_client(&running.url);
    let info = raw
        .collection_info(collection_name(MODEL))
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(info.payload_schema.len(), INDEXED_FIELDS.len());

    // deleting the collection removes it from the models
    assert!(
        raw.delete_collection(collection_name(MODEL))
            .await
            .unwrap()
            .result
    );
    assert!(store.models().await.unwrap().is_empty());
    assert_eq!(store.count(MODEL).await.unwrap(), 0);
    drop(store);
    drop(raw);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_checked_when_set() {
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path(), Some("s3cret")).await;
    // health checks answer without a key; the rest do not
    let anonymous = QdrantVectors::connect(&running.url, None).await.unwrap();
    let err = anonymous.models().await.unwrap_err();
    assert!(err.contains("Unauthenticated"), "{err}");
    let wrong = QdrantVectors::connect(&running.url, Some("nope".into()))
        .await
        .unwrap();
    assert!(wrong.prepare(MODEL, DIM).await.is_err());
    let keyed = QdrantVectors::connect(&running.url, Some("s3cret".into()))
        .await
        .unwrap();
    keyed.prepare(MODEL, DIM).await.unwrap();
    assert_eq!(keyed.models().await.unwrap(), vec![MODEL.to_string()]);
    drop((anonymous, wrong, keyed));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_one_line_error_naming_the_url() {
    // a port that was free a moment ago
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = match QdrantVectors::connect(&url, None).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e,
    };
    assert!(err.contains(&url) && !err.contains('\n'), "{err}");
}

async fn count_where(raw: &Qdrant, filter: Filter) -> Result<u64, tonic::Code> {
    raw.count(
        CountPointsBuilder::new(collection_name(MODEL))
            .filter(filter)
            .exact(true),
    )
    .await
    .map(|r| r.result.unwrap().count)
    .map_err(status_code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_search_and_scroll_are_served_by_the_engine() {
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path(), None).await;
    let store = QdrantVectors::connect(&running.url, None).await.unwrap();
    store.prepare(MODEL, DIM).await.unwrap();
    store.upsert(MODEL, points()).await.unwrap();
    let raw = raw_client(&running.url);
    let docs_where =
        |f: &dyn Fn(usize) -> bool| ((0..DOCS).filter(|d| f(*d)).count() * CHUNKS) as u64;
    let keyword =
        |field: &str, value: &str| Condition::matches(field, MatchValue::Keyword(value.into()));

    let should = Filter::should([keyword("doc_type", "norm"), keyword("document_id", "doc-1")]);
    assert_eq!(
        count_where(&raw, should).await,
        Ok(docs_where(&|d| d.is_multiple_of(2) || d == 1))
    );
    let min_should = Filter::min_should(
        2,
        [
            keyword("doc_type", "norm"),
            keyword("related_concept_ids", "c0"),
            keyword("related_concept_ids", "k0"),
        ],
    );
    let two_of = |d: usize| {
        [
            d.is_multiple_of(2),
            d.is_multiple_of(7),
            d.is_multiple_of(5),
        ]
        .iter()
        .filter(|b| **b)
        .count()
            >= 2
    };
    assert_eq!(count_where(&raw, min_should).await, Ok(docs_where(&two_of)));
    let nested = Filter::must([Condition::from(Filter::should([
        keyword("document_id", "doc-1"),
        keyword("document_id", "doc-2"),
    ]))]);
    assert_eq!(count_where(&raw, nested).await, Ok(2 * CHUNKS as u64));
    let ids: Vec<String> = (0..3)
        .map(|c| point_id(&chunk_id(9, c)).to_string())
        .collect();
    assert_eq!(
        count_where(&raw, Filter::must([Condition::has_id(ids)])).await,
        Ok(3)
    );
    let range = Condition::range(
        "position",
        Range {
            gte: Some(5.0),
            lt: Some(10.0),
            ..Default::default()
        },
    );
    assert_eq!(
        count_where(&raw, Filter::must([range])).await,
        Ok(5 * DOCS as u64)
    );
    assert_eq!(
        count_where(
            &raw,
            Filter::must([Condition::matches("position", vec![1i64, 2])])
        )
        .await,
        Ok(2 * DOCS as u64)
    );
    assert_eq!(
        count_where(
            &raw,
            Filter::must([Condition::is_empty("referenced_norm_ids")])
        )
        .await,
        Ok(1000)
    );
    assert_eq!(
        count_where(
            &raw,
            Filter::must([Condition::matches(
                "doc_type",
                !MatchValue::from(vec!["norm".to_string()])
            )])
        )
        .await,
        Ok(docs_where(&|d| d % 2 == 1))
    );
    assert_eq!(
        count_where(
            &raw,
            Filter::must([Condition::matches_text("text", "parte 7")])
        )
        .await,
        Ok(DOCS as u64)
    );
    assert_eq!(
        count_where(
            &raw,
            Filter::must([Condition::matches_prefix("text", "testo")])
        )
        .await,
        Err(tonic::Code::Unimplemented)
    );

    // the older Search call, with a filter and a threshold
    let hits = raw
        .search_points(
            SearchPointsBuilder::new(collection_name(MODEL), vector(7 * CHUNKS + 3), 5)
                .filter(Filter::must([keyword("document_id", "doc-7")]))
                .with_payload(true),
        )
        .await
        .unwrap()
        .result;
    assert_eq!(hits.len(), 5);
    assert!(hits
        .iter()
        .all(|h| h.payload["document_id"].as_str().map(String::as_str) == Some("doc-7")));
    assert_eq!(
        hits[0].payload["chunk_id"].as_str().map(String::as_str),
        Some(chunk_id(7, 3).as_str())
    );

    // scroll pages cover every point exactly once
    let mut seen = std::collections::HashSet::new();
    let mut offset = None;
    loop {
        let mut request = ScrollPointsBuilder::new(collection_name(MODEL)).limit(128);
        if let Some(o) = offset.take() {
            request = request.offset(o);
        }
        let page = raw.scroll(request).await.unwrap();
        assert!(page.result.len() <= 128);
        for p in page.result {
            assert!(seen.insert(format!("{:?}", p.id)));
        }
        match page.next_page_offset {
            Some(o) => offset = Some(o),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000);

    drop((store, raw));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_batches_across_models_of_different_sizes() {
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path(), None).await;
    let store = QdrantVectors::connect(&running.url, None).await.unwrap();
    let small = "other_model.v1";
    store.prepare(MODEL, DIM).await.unwrap();
    store.prepare(small, 4).await.unwrap();
    // one document larger than a scroll page, six small ones: 2100 points
    let mut points = Vec::new();
    for i in 0..2100usize {
        let doc = if i < 1500 {
            "big".to_string()
        } else {
            format!("small-{}", i % 6)
        };
        let chunk = format!("{doc}#{i}");
        points.push((
            point_id(&chunk),
            vec![1.0 + i as f32, 2.0, 3.0, (i % 7) as f32],
            json!({ "chunk_id": chunk, "document_id": doc }),
        ));
    }
    let started = Instant::now();
    store.upsert(small, points.clone()).await.unwrap();
    eprintln!("upsert of 2100 points: {:?}", started.elapsed());
    assert_eq!(store.count(small).await.unwrap(), 2100);
    assert_eq!(store.count(MODEL).await.unwrap(), 0);
    assert_eq!(
        store.models().await.unwrap(),
        vec![small.to_string(), MODEL.to_string()]
    );
    assert_eq!(store.document_ids(small).await.unwrap().len(), 7);
    assert_eq!(
        store.document_chunk_ids(small, "big").await.unwrap().len(),
        1500
    );
    let ids: Vec<Uuid> = points[..600].iter().map(|p| p.0).collect();
    assert_eq!(store.retrieve(small, &ids).await.unwrap().len(), 600);
    store.delete_points(small, &ids).await.unwrap();
    assert_eq!(
        store.document_chunk_ids(small, "big").await.unwrap().len(),
        900
    );
    assert!(store.retrieve(small, &ids).await.unwrap().is_empty());
    // a client still connected does not hold up the shutdown
    tokio::time::timeout(std::time::Duration::from_secs(20), running.stop())
        .await
        .expect("server stops while a client is connected");
    drop(store);
}

/// Against a server already running (the TEST server via `scripts/services/qdrant.sh up`, or a
/// real Qdrant): `INGEST_QDRANT_URL=http://127.0.0.1:16334 cargo test -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs INGEST_QDRANT_URL pointing at a running server"]
async fn against_running_server_from_env() {
    let url = std::env::var("INGEST_QDRANT_URL").expect("INGEST_QDRANT_URL");
    let key = std::env::var("INGEST_QDRANT_API_KEY").ok();
    let store = QdrantVectors::connect(&url, key).await.unwrap();
    let model = format!("smoke/{}", Uuid::new_v4());
    store.prepare(&model, DIM).await.unwrap();
    store.upsert(&model, points()).await.unwrap();
    assert_eq!(store.count(&model).await.unwrap(), 1000);
    let hits = store.search(&model, vector(42), 1).await.unwrap();
    assert_eq!(hits[0].0, chunk_id(42 / CHUNKS, 42 % CHUNKS));
    store.delete_document(&model, "doc-0").await.unwrap();
    assert_eq!(store.count(&model).await.unwrap(), 980);
    assert!(store.models().await.unwrap().contains(&model));
    Qdrant::from_url(&url)
        .api_key(std::env::var("INGEST_QDRANT_API_KEY").ok())
        .skip_compatibility_check()
        .build()
        .unwrap()
        .delete_collection(collection_name(&model))
        .await
        .unwrap();
}

//! The graph in a Neo4j-compatible server over Bolt (Neo4j 5, or ArcadeDB's Bolt plugin), written
//! from the same [`GraphPlan`] as the embedded graph.
//!
//! On the server every node carries its plan key in a `key` property (besides its own props:
//! `id`, `name`, ...), unique per label. What a document owns, its `Document` and `Chunk` nodes
//! and every edge marked owned in its plan, also carries `owner` (the document id) and `rev` (the
//! write that last put it there). Shared nodes (`Norm`, `Article`, `Decision`, `Concept`,
//! `Court`, `Organization`, `Place`) and shared edges (`PART_OF`) have no `owner`: they are
//! MERGEd, their props merged in, and no document ever removes them.
//!
//! [`Neo4jGraph::write_plan`] runs in one transaction: it MERGEs the plan's nodes (one UNWIND
//! statement per label and batch) and edges (one per source label, type, target label and
//! batch), stamping owned ones with a fresh `rev`, then deletes the document's owned edges and
//! nodes whose `rev` is another: what the previous version of the document had and this one
//! has not. Re-writing an unchanged plan therefore changes no count. An owned edge must start at
//! a node the document owns (the plan's `HAS_CHUNK`, `NEXT`, `EXPRESSION_OF`, `TEXT_OF`, `CITES`,
//! `ABOUT` and `MENTIONS` all start at its `Document` or a `Chunk`), which is how the sweep and
//! [`Neo4jGraph::delete_document`] find them without a scan of all relationships.
//!
//! Only plain Cypher: no APOC, no element ids. Labels and relationship types cannot be query
//! parameters, so they are written into the statement text, checked to be plain identifiers.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use neo4rs::{
    query, BoltBoolean, BoltFloat, BoltInteger, BoltList, BoltMap, BoltNull, BoltString, BoltType,
    ConfigBuilder, Graph, Query, Txn,
};
use serde_json::{Map, Value};

use super::plan::{GraphEdge, GraphNode, GraphPlan};

/// Every node label of the graph model: each gets a uniqueness constraint on `key`.
pub const NODE_LABELS: [&str; 9] = [
    "Document",
    "Chunk",
    "Norm",
    "Article",
    "Decision",
    "Concept",
    "Court",
    "Organization",
    "Place",
];

/// Labels of the nodes a document owns (carry `owner`); indexed on `owner`.
pub const OWNED_LABELS: [&str; 2] = ["Document", "Chunk"];

/// Times a write is tried when it keeps losing races with other writers.
const MAX_TRIES: u32 = 10;

/// How a write that found fewer endpoints than edges fails.
const MISSING_ENDPOINT: &str = "a start or end node is missing";

/// Rows per UNWIND statement, at most.
const BATCH_ROWS: usize = 1000;
/// Rough bytes of parameters per UNWIND statement, at most (ArcadeDB takes Bolt messages up to
/// 16 MiB by default; Neo4j has no such limit).
const BATCH_BYTES: usize = 4 << 20;

/// A connection pool to one database of a Bolt server.
pub struct Neo4jGraph {
    graph: Graph,
    url: String,
}

impl Neo4jGraph {
    /// Connects to `url` (like `bolt://127.0.0.1:7687`) as `user`, on database `db` (the
    /// server's default database when `None`; ArcadeDB: `"graph"`), and checks that it answers.
    pub async fn connect(
        url: &str,
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> Result<Self, String> {
        let mut config = ConfigBuilder::default()
            .uri(url)
            .user(user)
            .password(password)
            .max_connections(4)
            .fetch_size(1000);
        if let Some(db) = db.filter(|d| !d.is_empty()) {
            config = config.db(db);
        }
        let config = config
            .build()
            .map_err(|e| format!("neo4j: bad configuration for {url}: {}", one_line(&e)))?;
        let graph = Graph::connect(config)
            .await
            .map_err(|e| format!("neo4j: cannot connect to {url}: {}", one_line(&e)))?;
        let this = Neo4jGraph {
            graph,
            url: url.to_string(),
        };
        // The pool connects lazily: make one connection now, so a wrong address, password or
        // database fails here, and at once (the driver's own queries retry for up to a minute).
        let mut txn = this.begin().await?;
        execute_count(&mut txn, query("RETURN 1 AS n"), "probe")
            .await
            .map_err(|e| {
                format!(
                    "neo4j: cannot use {url}: {}",
                    e.trim_start_matches("neo4j: ")
                )
            })?;
        txn.rollback()
            .await
            .map_err(|e| format!("neo4j: cannot use {url}: {}", one_line(&e)))?;
        Ok(this)
    }

    /// Creates the uniqueness constraints on `key` for every label and the `owner` indexes of
    /// the owned labels, if they do not exist yet. Idempotent.
    pub async fn prepare(&self) -> Result<(), String> {
        for label in NODE_LABELS {
            let name = label.to_lowercase();
            let q = format!(
                "CREATE CONSTRAINT {name}_key IF NOT EXISTS FOR (n:{label}) REQUIRE n.key IS UNIQUE"
            );
            self.run(query(&q), &q).await?;
        }
        for label in OWNED_LABELS {
            let name = label.to_lowercase();
            let q = format!("CREATE INDEX {name}_owner IF NOT EXISTS FOR (n:{label}) ON (n.owner)");
            self.run(query(&q), &q).await?;
        }
        Ok(())
    }

    /// Makes what `document_id` owns in the graph exactly `plan`, in one transaction: upserts
    /// its nodes and edges and removes the owned nodes and edges of an earlier version that
    /// `plan` no longer has. Shared nodes and edges are merged, never removed.
    pub async fn write_plan(&self, document_id: &str, plan: &GraphPlan) -> Result<(), String> {
        if document_id.is_empty() {
            return Err("neo4j: write_plan needs a document id".to_string());
        }
        self.retrying(document_id, || self.write_once(document_id, plan))
            .await
    }

    async fn write_once(&self, document_id: &str, plan: &GraphPlan) -> Result<(), String> {
        let rev = new_rev();
        let statements = plan_statements(document_id, &rev, plan)?;
        let mut txn = self.begin().await?;
        let result = async {
            for s in statements {
                let t0 = Instant::now();
                let n = execute_count(&mut txn, s.query, &s.what).await?;
                tracing::debug!(target: "neo4j", statement = %s.what, rows = n,
                                elapsed = ?t0.elapsed(), "merged");
                if let Some(want) = s.expect {
                    if n != want {
                        return Err(format!(
                            "neo4j: {}: only {n} written: {MISSING_ENDPOINT}",
                            s.what
                        ));
                    }
                }
            }
            sweep(&mut txn, document_id, Some(&rev)).await
        }
        .await;
        self.finish(txn, result).await.map(|_| ())
    }

    /// Runs a whole transaction again when it lost a race with another writer: a transient
    /// error (Neo4j: deadlock, lock timeout), or ArcadeDB's optimistic concurrency refusing the
    /// commit (a shared node MERGEd by two transactions at once: duplicate key; a record
    /// changed by another: concurrent modification).
    async fn retrying<T, F, Fut>(&self, document_id: &str, mut attempt: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(e) if lost_race(&e, tries) => {
                    let backoff = Duration::from_millis(20 << tries.min(5)) + jitter();
                    tracing::debug!(target: "neo4j", document_id, tries, ?backoff, error = %e,
                                    "retrying after a conflict");
                    tokio::time::sleep(backoff).await;
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    /// How many MERGE statements [`Neo4jGraph::write_plan`] sends for `plan` (it then sends
    /// four more to remove what is stale).
    pub fn write_statements(plan: &GraphPlan) -> Result<usize, String> {
        plan_statements("-", "-", plan).map(|s| s.len())
    }

    /// Removes what `document_id` owns: its owned nodes and, with them, every edge they have.
    /// Whether it had anything.
    pub async fn delete_document(&self, document_id: &str) -> Result<bool, String> {
        self.retrying(document_id, || async {
            let mut txn = self.begin().await?;
            let result = sweep(&mut txn, document_id, None).await;
            self.finish(txn, result).await.map(|n| n > 0)
        })
        .await
    }

    /// The document's chunk ids in reading order (`ordinal`), through its `HAS_CHUNK` edges.
    pub async fn chunk_ids(&self, document_id: &str) -> Result<Vec<String>, String> {
        let q = query(
            "MATCH (d:Document {key: $doc})-[:HAS_CHUNK]->(c:Chunk) \
             RETURN c.key AS id ORDER BY c.ordinal, c.key",
        )
        .param("doc", document_id);
        self.rows(q, "id").await
    }

    /// Every document's id, sorted.
    pub async fn document_ids(&self) -> Result<Vec<String>, String> {
        self.rows(
            query("MATCH (d:Document) RETURN d.key AS id ORDER BY id"),
            "id",
        )
        .await
    }

    /// Nodes per label and relationships per type, each sorted by name.
    #[allow(clippy::type_complexity)]
    pub async fn counts(&self) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>), String> {
        let nodes = self
            .pairs(query(
                "MATCH (n) UNWIND labels(n) AS name RETURN name, count(*) AS n ORDER BY name",
            ))
            .await?;
        let rels = self
            .pairs(query(
                "MATCH ()-[r]->() RETURN type(r) AS name, count(*) AS n ORDER BY name",
            ))
            .await?;
        Ok((nodes, rels))
    }

    /// The rows of a read query, as strings (null rows left out). For callers' own queries too.
    pub async fn rows(&self, q: Query, column: &str) -> Result<Vec<String>, String> {
        let mut stream = self.graph.execute(q).await.map_err(|e| self.err(&e))?;
        let mut out = Vec::new();
        while let Some(row) = stream.next().await.map_err(|e| self.err(&e))? {
            match row.get::<Option<BoltType>>(column) {
                Ok(None) | Ok(Some(BoltType::Null(_))) => {}
                Ok(Some(BoltType::String(s))) => out.push(s.value),
                Ok(Some(other)) => out.push(other.to_string()),
                Err(e) => return Err(format!("neo4j: column {column}: {e}")),
            }
        }
        Ok(out)
    }

    async fn pairs(&self, q: Query) -> Result<Vec<(String, i64)>, String> {
        let mut stream = self.graph.execute(q).await.map_err(|e| self.err(&e))?;
        let mut out = Vec::new();
        while let Some(row) = stream.next().await.map_err(|e| self.err(&e))? {
            let name: String = row.get("name").map_err(|e| format!("neo4j: name: {e}"))?;
            let n: i64 = row.get("n").map_err(|e| format!("neo4j: count: {e}"))?;
            out.push((name, n));
        }
        Ok(out)
    }

    async fn run(&self, q: Query, what: &str) -> Result<(), String> {
        self.graph
            .run(q)
            .await
            .map_err(|e| format!("neo4j: {what}: {}", one_line(&e)))
    }

    async fn begin(&self) -> Result<Txn, String> {
        self.graph
            .start_txn()
            .await
            .map_err(|e| format!("neo4j: cannot connect to {}: {}", self.url, one_line(&e)))
    }

    /// Commits on success, rolls back on failure (the pool also resets a connection it gets
    /// back, so a failed rollback leaves nothing open).
    async fn finish<T>(&self, txn: Txn, result: Result<T, String>) -> Result<T, String> {
        match result {
            Ok(v) => {
                txn.commit()
                    .await
                    .map_err(|e| format!("neo4j: commit: {}", one_line(&e)))?;
                Ok(v)
            }
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    fn err(&self, e: &neo4rs::Error) -> String {
        match e {
            neo4rs::Error::IOError { .. } | neo4rs::Error::ConnectionError => {
                format!("neo4j: {}: {}", self.url, one_line(e))
            }
            _ => format!("neo4j: {}", one_line(e)),
        }
    }
}

type Props = Map<String, Value>;

/// One statement of a write, with what it is for error messages and, for edges, how many rows
/// it must write.
struct Statement {
    query: Query,
    what: String,
    expect: Option<i64>,
}

/// The MERGE statements of a plan, nodes first: deduplicated, grouped and batched.
fn plan_statements(doc: &str, rev: &str, plan: &GraphPlan) -> Result<Vec<Statement>, String> {
    // (label, key) -> (owned, props), props of repeated nodes merged in plan order.
    let mut nodes: BTreeMap<(&'static str, &str), (bool, Props)> = BTreeMap::new();
    for GraphNode {
        label,
        key,
        owned,
        props,
    } in &plan.nodes
    {
        ident(label)?;
        if *owned && !OWNED_LABELS.contains(label) {
            return Err(format!(
                "neo4j: {label} {key}: a document owns only {} nodes",
                OWNED_LABELS.join(" and ")
            ));
        }
        let props = clean_props(props, || format!("{label} {key}"))?;
        let entry = nodes
            .entry((label, key.as_str()))
            .or_insert_with(|| (false, Map::new()));
        entry.0 |= owned;
        entry.1.extend(props);
    }
    // (src label, rel, dst label, owned) -> (src, dst, key) -> props.
    type EdgeGroup<'a> = BTreeMap<(&'a str, &'a str, &'a str), Props>;
    let mut edges: BTreeMap<(&'static str, &'static str, &'static str, bool), EdgeGroup> =
        BTreeMap::new();
    for GraphEdge {
        src,
        rel,
        dst,
        key,
        owned,
        props,
    } in &plan.edges
    {
        ident(src.0)?;
        ident(rel)?;
        ident(dst.0)?;
        let what = || format!("({} {})-[{rel} {key}]->({} {})", src.0, src.1, dst.0, dst.1);
        if *owned && !nodes.get(&(src.0, src.1.as_str())).is_some_and(|n| n.0) {
            return Err(format!(
                "neo4j: owned edge {} must start at a node the document owns",
                what()
            ));
        }
        let props = clean_props(props, what)?;
        edges
            .entry((src.0, rel, dst.0, *owned))
            .or_default()
            .entry((src.1.as_str(), dst.1.as_str(), key.as_str()))
            .or_default()
            .extend(props);
    }

    let mut out = Vec::new();
    let mut by_label: BTreeMap<(&str, bool), Vec<Value>> = BTreeMap::new();
    for ((label, key), (owned, mut props)) in nodes {
        props.insert("key".into(), key.into());
        if owned {
            props.insert("owner".into(), doc.into());
            props.insert("rev".into(), rev.into());
        }
        by_label
            .entry((label, owned))
            .or_default()
            .push(serde_json::json!({ "key": key, "props": props }));
    }
    for ((label, owned), rows) in by_label {
        // Owned nodes are replaced whole; shared ones get the plan's props merged in.
        let set = if owned { "=" } else { "+=" };
        let text = format!(
            "UNWIND $rows AS row MERGE (n:{label} {{key: row.key}}) SET n {set} row.props \
             RETURN count(n) AS n"
        );
        for batch in batches(rows) {
            out.push(Statement {
                what: format!("{} {label} nodes", batch.len()),
                expect: None,
                query: query(&text).param("rows", to_bolt(Value::Array(batch))),
            });
        }
    }
    for ((src, rel, dst, owned), group) in edges {
        // Some engines (ArcadeDB) look for an existing edge by walking the edges of the node
        // the MERGE pattern names first: name first the side with more distinct nodes, so a
        // Document's thousands of HAS_CHUNK edges are not walked once per chunk.
        let srcs = group.keys().map(|k| k.0).collect::<BTreeSet<_>>().len();
        let dsts = group.keys().map(|k| k.1).collect::<BTreeSet<_>>().len();
        let from_dst = srcs < dsts;
        let rows: Vec<Value> = group
            .into_iter()
            .map(|((s, d, key), mut props)| {
                props.insert("key".into(), key.into());
                if owned {
                    props.insert("owner".into(), doc.into());
                    props.insert("rev".into(), rev.into());
                }
                serde_json::json!({ "src": s, "dst": d, "key": key, "props": props })
            })
            .collect();
        let set = if owned { "=" } else { "+=" };
        let pattern = if from_dst {
            format!("(b)<-[r:{rel} {{key: row.key}}]-(a)")
        } else {
            format!("(a)-[r:{rel} {{key: row.key}}]->(b)")
        };
        let text = format!(
            "UNWIND $rows AS row MATCH (a:{src} {{key: row.src}}) MATCH (b:{dst} {{key: row.dst}}) \
             MERGE {pattern} SET r {set} row.props RETURN count(r) AS n"
        );
        for batch in batches(rows) {
            out.push(Statement {
                what: format!("{} {src}-{rel}->{dst} edges", batch.len()),
                expect: Some(batch.len() as i64),
                query: query(&text).param("rows", to_bolt(Value::Array(batch))),
            });
        }
    }
    Ok(out)
}

/// Deletes the owned edges and nodes of `doc` whose `rev` is not `keep` (all of them when
/// `keep` is `None`). The number of nodes deleted.
async fn sweep(txn: &mut Txn, doc: &str, keep: Option<&str>) -> Result<i64, String> {
    let rev = keep.unwrap_or_default();
    let stale = if keep.is_some() {
        " WHERE n.rev <> $rev"
    } else {
        ""
    };
    let mut deleted = 0;
    for label in OWNED_LABELS {
        if keep.is_some() {
            // Stale owned edges of nodes that stay: those of deleted nodes go with them.
            let text = format!(
                "MATCH (n:{label} {{owner: $doc}})-[r]->() WHERE r.owner = $doc AND r.rev <> $rev \
                 DELETE r RETURN count(*) AS n"
            );
            let t0 = Instant::now();
            let q = query(&text).param("doc", doc).param("rev", rev);
            let n = execute_count(txn, q, &format!("stale edges of {label} nodes")).await?;
            tracing::debug!(target: "neo4j", label, edges = n, elapsed = ?t0.elapsed(), "swept");
        }
        let text = format!(
            "MATCH (n:{label} {{owner: $doc}}){stale} DETACH DELETE n RETURN count(*) AS n"
        );
        let t0 = Instant::now();
        let q = query(&text).param("doc", doc).param("rev", rev);
        let n = execute_count(txn, q, &format!("delete {label} nodes")).await?;
        tracing::debug!(target: "neo4j", label, nodes = n, elapsed = ?t0.elapsed(), "swept");
        deleted += n;
    }
    Ok(deleted)
}

/// Runs a statement that returns one row with an integer column `n`, in `txn`.
async fn execute_count(txn: &mut Txn, q: Query, what: &str) -> Result<i64, String> {
    let fail = |e: neo4rs::Error| format!("neo4j: {what}: {}", one_line(&e));
    let mut stream = txn.execute(q).await.map_err(fail)?;
    let mut n = 0;
    while let Some(row) = stream.next(txn.handle()).await.map_err(fail)? {
        n += row.get::<i64>("n").unwrap_or(0);
    }
    Ok(n)
}

/// Splits rows into batches of at most [`BATCH_ROWS`] rows and about [`BATCH_BYTES`] bytes.
fn batches(rows: Vec<Value>) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let size = approx_size(&row);
        if !batch.is_empty() && (batch.len() >= BATCH_ROWS || bytes + size > BATCH_BYTES) {
            out.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += size;
        batch.push(row);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

fn approx_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 4,
        Value::Array(a) => 4 + a.iter().map(approx_size).sum::<usize>(),
        Value::Object(m) => {
            4 + m
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_size(v))
                .sum::<usize>()
        }
        _ => 9,
    }
}

/// A plan's props as storable properties: nulls left out (a shared node keeps what another
/// document set), maps and mixed lists as JSON text (a property holds only scalars and
/// homogeneous lists of scalars).
fn clean_props(props: &Value, what: impl Fn() -> String) -> Result<Map<String, Value>, String> {
    let map = match props {
        Value::Object(m) => m,
        Value::Null => return Ok(Map::new()),
        _ => return Err(format!("neo4j: props of {} are not a JSON object", what())),
    };
    let mut out = Map::new();
    for (k, v) in map {
        if matches!(k.as_str(), "owner" | "rev") {
            return Err(format!(
                "neo4j: props of {} use the reserved name {k}",
                what()
            ));
        }
        let v = match v {
            Value::Null => continue,
            Value::Object(_) => Value::String(v.to_string()),
            Value::Array(items) if !homogeneous_scalars(items) => Value::String(v.to_string()),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Ok(out)
}

fn homogeneous_scalars(items: &[Value]) -> bool {
    let kind = |v: &Value| match v {
        Value::Bool(_) => 1,
        Value::Number(n) if n.is_f64() => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        _ => 0,
    };
    match items.first() {
        None => true,
        Some(first) => {
            let k = kind(first);
            k != 0 && items.iter().all(|v| kind(v) == k)
        }
    }
}

/// JSON as a Bolt value (integers beyond i64 become floats).
fn to_bolt(v: Value) -> BoltType {
    match v {
        Value::Null => BoltType::Null(BoltNull),
        Value::Bool(b) => BoltType::Boolean(BoltBoolean::new(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => BoltType::Integer(BoltInteger::new(i)),
            None => BoltType::Float(BoltFloat::new(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => BoltType::String(BoltString::from(s)),
        Value::Array(items) => BoltType::List(BoltList::from(
            items.into_iter().map(to_bolt).collect::<Vec<_>>(),
        )),
        Value::Object(m) => BoltType::Map(
            m.into_iter()
                .map(|(k, v)| (BoltString::from(k), to_bolt(v)))
                .collect::<BoltMap>(),
        ),
    }
}

/// Labels and relationship types go into the statement text: plain identifiers only.
fn ident(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "neo4j: {name:?} is not a plain label or relationship type"
        ))
    }
}

/// Whether an error is a transaction that lost a race with another one, worth running again
/// after `tries` tries. A missing endpoint is a race too on ArcadeDB, a few times: a node MERGEd
/// in this transaction while another commits the same key is found by neither (this transaction
/// would then fail to commit anyway); past that it is a plan that names a node it lacks.
fn lost_race(e: &str, tries: u32) -> bool {
    let conflict = [
        "Neo.TransientError.",
        "ConstraintValidationFailed",
        "ConcurrentModification",
    ]
    .iter()
    .any(|m| e.contains(m));
    (conflict && tries < MAX_TRIES)
        || ((e.contains(MISSING_ENDPOINT) || e.contains(OPAQUE_FAILURE)) && tries < 3)
}

/// How ArcadeDB reports over Bolt every failure of a command, the ones it means to be retried
/// included (a concurrent modification, as when a transaction meets the index compaction
/// that follows heavy writes): only the outer message, under this code. Tried a few times;
/// a real error fails the same way each time.
const OPAQUE_FAILURE: &str = "Neo.DatabaseError.General.UnknownError";

/// Up to 20 ms of noise, so writers that collided do not collide again in step.
fn jitter() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_micros(u64::from(nanos % 20_000))
}

/// A fresh write stamp: distinct for every write of this process and, by the clock, of others.
fn new_rev() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:x}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// An error on one line, at most 400 characters.
fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    // neo4rs 0.8 shows a server's FAILURE to BEGIN/COMMIT as a Debug dump of its metadata.
    let text = match (bolt_string(&text, "code"), bolt_string(&text, "message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => text,
    };
    let mut s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The value of `field` in the Debug form of a neo4rs `BoltMap` of strings.
fn bolt_string<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    let start = format!("value: \"{field}\" }}: String(BoltString {{ value: \"");
    let rest = &text[text.find(&start)? + start.len()..];
    Some(&rest[..rest.find("\" })")?])
}

/// Connection settings from a store URL: `bolt://USER:PASSWORD@HOST:PORT/DATABASE` (also
/// `neo4j://`); user `neo4j` and the server's default database when absent. The password may
/// also come from `INGEST_GRAPH_PASSWORD`.
pub fn parse_graph_url(url: &str) -> Result<(String, String, String, Option<String>), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("graph URL {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "bolt" | "neo4j" | "bolt+s" | "neo4j+s") {
        return Err(format!(
            "graph URL {url:?}: expected bolt:// or neo4j://, or \"sqlite\" for the embedded graph"
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("graph URL {url:?}: no host"))?;
    let address = format!(
        "{}://{host}:{}",
        parsed.scheme(),
        parsed.port().unwrap_or(7687)
    );
    let user = match parsed.username() {
        "" => "neo4j".to_string(),
        u => u.to_string(),
    };
    let password = match parsed.password() {
        Some(p) => url_decode(p),
        None => std::env::var("INGEST_GRAPH_PASSWORD").unwrap_or_default(),
    };
    let db = parsed
        .path()
        .trim_matches('/')
        .split('/')
        .next()
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    Ok((address, user, password, db))
}

fn url_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// A URL with its password hidden, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[async_trait::async_trait]
impl super::GraphStore for Neo4jGraph {
    async fn upsert_document(
        &self,
        doc: &crate::pipeline::record::EnrichedDocument,
    ) -> Result<(), super::StoreError> {
        let plan = super::plan::graph_plan(doc);
        self.write_plan(&doc.info.id, &plan)
            .await
            .map_err(super::StoreError::graph)
    }

    async fn document_chunk_ids(
        &self,
        document_id: &str,
    ) -> Result<Vec<String>, super::StoreError> {
        let mut ids = self
            .chunk_ids(document_id)
            .await
            .map_err(super::StoreError::graph)?;
        ids.sort();
        Ok(ids)
    }

    async fn document_ids(&self) -> Result<Vec<String>, super::StoreError> {
        let mut ids = Neo4jGraph::document_ids(self)
            .await
            .map_err(super::StoreError::graph)?;
        ids.sort();
        Ok(ids)
    }

    async fn delete_document(&self, document_id: &str) -> Result<(), super::StoreError> {
        Neo4jGraph::delete_document(self, document_id)
            .await
            .map(|_| ())
            .map_err(super::StoreError::graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_well() {
        let dump = r#"unexpected response for BEGIN: Failure(Failure { metadata: BoltMap { value: {BoltString { value: "code" }: String(BoltString { value: "Neo.ClientError.Database.DatabaseNotFound" }), BoltString { value: "message" }: String(BoltString { value: "Cannot open database: x" })} } })"#;
        assert_eq!(
            one_line(&dump),
            "Neo.ClientError.Database.DatabaseNotFound: Cannot open database: x"
        );
        assert_eq!(one_line(&"a\n  b"), "a b");
    }

    #[test]
    fn which_failures_are_tried_again() {
        let conflict = "neo4j: Neo.TransientError.Transaction.DeadlockDetected: deadlock";
        assert!(lost_race(conflict, 1) && lost_race(conflict, MAX_TRIES - 1));
        assert!(!lost_race(conflict, MAX_TRIES));
        // ArcadeDB's opaque failure (the one a graph wipe got in CI) and a missing endpoint:
        // a few times only.
        let opaque = "neo4j: Neo4j error `Neo.DatabaseError.General.UnknownError`: Error \
                      executing Cypher command: MATCH (n) DETACH DELETE n";
        let missing = format!("neo4j: x: only 3 written: {MISSING_ENDPOINT}");
        for e in [opaque, missing.as_str()] {
            assert!(lost_race(e, 1) && lost_race(e, 2), "{e}");
            assert!(!lost_race(e, 3), "{e}");
        }
        assert!(!lost_race(
            "neo4j: Neo.ClientError.Security.Unauthorized: no",
            1
        ));
    }

    #[test]
    fn idents() {
        assert!(ident("HAS_CHUNK").is_ok());
        assert!(ident("Chunk").is_ok());
        assert!(ident("").is_err());
        assert!(ident("a b").is_err());
        assert!(ident("X`) DETACH DELETE (n").is_err());
    }

    #[test]
    fn props_are_storable() {
        let p =
            serde_json::json!({"a": null, "b": {"c": 1}, "d": [1, "x"], "e": ["x", "y"], "f": 2});
        let out = clean_props(&p, String::new).unwrap();
        assert!(!out.contains_key("a"));
        assert_eq!(out["b"], Value::String("{\"c\":1}".into()));
        assert_eq!(out["d"], Value::String("[1,\"x\"]".into()));
        assert_eq!(out["e"], serde_json::json!(["x", "y"]));
        assert_eq!(out["f"], serde_json::json!(2));
        assert!(clean_props(&serde_json::json!({"owner": "x"}), String::new).is_err());
        assert!(clean_props(&serde_json::json!([1]), String::new).is_err());
    }

    #[test]
    fn batching() {
        let rows: Vec<Value> = (0..2500).map(|i| serde_json::json!({ "key": i })).collect();
        let b = batches(rows);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let big: Vec<Value> = (0..3).map(|_| Value::String("x".repeat(3 << 20))).collect();
        assert_eq!(batches(big).len(), 3);
    }

    #[test]
    fn duplicates_merge_and_owned_edges_need_owned_sources() {
        let node = |label, key: &str, owned, props| GraphNode {
            label,
            key: key.into(),
            owned,
            props,
        };
        let mut plan = GraphPlan::default();
        plan.nodes
            .push(node("Document", "d", true, serde_json::json!({"id": "d"})));
        plan.nodes.push(node(
            "Decision",
            "k",
            false,
            serde_json::json!({"key": "k", "court": "x"}),
        ));
        plan.nodes.push(node(
            "Decision",
            "k",
            false,
            serde_json::json!({"key": "k"}),
        ));
        let edge = |src: (&'static str, &str), owned| GraphEdge {
            src: (src.0, src.1.into()),
            rel: "EXPRESSION_OF",
            dst: ("Decision", "k".into()),
            key: String::new(),
            owned,
            props: serde_json::json!({}),
        };
        plan.edges.push(edge(("Document", "d"), true));
        plan.edges.push(edge(("Document", "d"), true));
        let s = plan_statements("d", "r", &plan).unwrap();
        // Decision, Document, one edge group: three statements, duplicates merged.
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].expect, Some(1));
        plan.edges.push(edge(("Decision", "k"), true));
        assert!(plan_statements("d", "r", &plan).is_err());
    }
}

//! The PostgreSQL relational store: documents, chunks, citations, entities and concepts (the
//! graph lives in Neo4j or SQLite), plus lexical search over an Italian `tsvector` of the
//! chunk text. Each document is written in one transaction of multi-row statements; queries
//! are checked at run time, so no database is needed to compile.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, QueryBuilder, Row};

use super::{point_id, Annotations, RelationalStore, StoreError};
use crate::pipeline::record::{
    Chunk, ChunkConcept, ChunkEntity, DocType, DocumentInfo, EnrichedDocument, Reference, TextSpan,
};

/// Ordered schema migrations; each runs once, in a transaction, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_init.sql")),
    (2, include_str!("migrations/postgres/0002_reliability.sql")),
    (3, include_str!("migrations/postgres/0003_refresh.sql")),
    (4, include_str!("migrations/postgres/0004_runs.sql")),
    (
        5,
        include_str!("migrations/postgres/0005_payload_delta.sql"),
    ),
];
/// Advisory lock key ("ingest") that serialises migrations across processes, per database.
const MIGRATION_LOCK: i64 = 0x696e_6765_7374;
const POOL_SIZE: u32 = 8;
/// How long an operation waits for a pooled connection before it is a transient error.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows per multi-row INSERT (at most 28 columns: far below the 65 535 bind parameters).
const BATCH_ROWS: usize = 500;

#[derive(Clone)]
pub struct Postgres {
    pool: PgPool,
}

impl Postgres {
    /// Connect to `url` (`postgres://user[:password]@host[:port]/db`) and bring the schema up
    /// to date. Errors name the URL with its password masked.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("{shown}: {e}")))?
            .application_name("ingest");
        // One direct connection first: it fails at once when the server is unreachable,
        // where the pool would retry until its acquire timeout.
        let mut conn = PgConnection::connect_with(&opts)
            .await
            .map_err(|e| StoreError::Database(format!("{shown}: {e}")))?;
        migrate(&mut conn).await.map_err(|e| at_url(&shown, e))?;
        conn.close().await.map_err(|e| at_url(&shown, e.into()))?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("{shown}: {e}")))?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Chunks whose text matches `query` (web-search syntax: words, "phrases", -excluded,
    /// `or`), Italian stemming, best first: (chunk id, document id, rank).
    pub async fn lexical_search(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(String, String, f32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.document_id, ts_rank(c.tsv, q) AS rank
             FROM chunks c, websearch_to_tsquery('italian', $1) AS q
             WHERE c.tsv @@ q
             ORDER BY rank DESC, c.id
             LIMIT $2",
        )
        .bind(query)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("id"), r.get("document_id"), r.get("rank")))
            .collect())
    }
}

/// Apply missing migrations in one transaction under an advisory lock, so processes
/// connecting to the same new database at once cannot race each other.
async fn migrate(conn: &mut PgConnection) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await?;
    let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if let Some(v) = applied.iter().find(|v| **v > newest) {
        return Err(StoreError::Schema(format!(
            "database schema version {v} is newer than this binary understands ({newest})"
        )));
    }
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at)
             VALUES ($1, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT)",
        )
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The error, its message prefixed with the (redacted) URL.
fn at_url(shown: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Database(m) => StoreError::Database(format!("{shown}: {m}")),
        StoreError::Busy(m) => StoreError::Busy(format!("{shown}: {m}")),
        StoreError::Schema(m) => StoreError::Schema(format!("{shown}: {m}")),
        other => other,
    }
}

/// `url` with the password (in the user info or a `password=` parameter) replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return "<database URL>".into();
    };
    let (head, rest) = url.split_at(scheme_end);
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!("{}:***{}", &authority[..colon], &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

/// Current time on the server clock, epoch milliseconds (see `ingest_now_ms()`).
const NOW_MS: &str = "ingest_now_ms()";

/// Insert `rows` with one multi-row `INSERT` per [`BATCH_ROWS`]: `head` names the table and
/// columns, `tail` is the conflict clause, `push` binds one row's values.
async fn insert_rows<'a, R, F>(
    conn: &mut PgConnection,
    head: &str,
    tail: &str,
    rows: &[R],
    mut push: F,
) -> Result<(), StoreError>
where
    R: Copy + 'a,
    F: FnMut(Separated<'_, 'a, sqlx::Postgres, &'static str>, R),
{
    for batch in rows.chunks(BATCH_ROWS) {
        let mut qb = QueryBuilder::<'a, sqlx::Postgres>::new(head);
        qb.push(" ");
        qb.push_values(batch.iter().copied(), &mut push);
        qb.push(" ");
        qb.push(tail);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Items whose key does not occur again later: a multi-row upsert may touch a row only once,
/// and the last occurrence is what row-by-row upserts would leave.
fn last_per_key<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, t) in items.iter().enumerate() {
        last.insert(key(t), i);
    }
    items
        .iter()
        .enumerate()
        .filter(|(i, t)| last.get(key(t)) == Some(i))
        .map(|(_, t)| t)
        .collect()
}

fn decode_json<T: DeserializeOwned>(
    r: &PgRow,
    col: &str,
    document_id: &str,
) -> Result<T, StoreError> {
    r.try_get::<Json<T>, _>(col)
        .map(|j| j.0)
        .map_err(|e| StoreError::Schema(format!("{document_id}: stored {col}: {e}")))
}

#[async_trait]
impl RelationalStore for Postgres {
    async fn chunk_ids(&self, document_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM chunks WHERE document_id = $1 ORDER BY ordinal")
                .bind(document_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn upsert_document(&self, doc: &EnrichedDocument) -> Result<(), StoreError> {
        let info = &doc.info;
        let mut tx = self.pool.begin().await?;
        // The document row first: its lock serialises concurrent writers of one document.
        sqlx::query(&format!(
            "INSERT INTO documents (id, source, doc_type, title, content_hash, bytes, meta, chunk_count,
               model_id, updated_at, metadata, text)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {NOW_MS}, $10, $11)
             ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, doc_type = EXCLUDED.doc_type,
               title = EXCLUDED.title, content_hash = EXCLUDED.content_hash, bytes = EXCLUDED.bytes,
               meta = EXCLUDED.meta, chunk_count = EXCLUDED.chunk_count, model_id = EXCLUDED.model_id,
               updated_at = EXCLUDED.updated_at, metadata = EXCLUDED.metadata, text = EXCLUDED.text"
        ))
        .bind(&info.id)
        .bind(&info.source)
        .bind(info.doc_type.as_str())
        .bind(&info.title)
        .bind(&info.content_hash)
        .bind(info.bytes as i64)
        .bind(Json(&info.meta))
        .bind(doc.chunks.len() as i64)
        .bind(&doc.model_id)
        .bind(Json(&info.metadata))
        .bind(&info.text)
        .execute(&mut *tx)
        .await?;

        let ids: Vec<&str> = doc.chunks.iter().map(|c| c.id.as_str()).collect();
        sqlx::query("DELETE FROM chunks WHERE document_id = $1 AND NOT (id = ANY($2))")
            .bind(&info.id)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;

        let chunks = last_per_key(&doc.chunks, |c| &c.id);
        insert_rows(
            &mut tx,
            "INSERT INTO chunks (id, document_id, ordinal, eid, part, parts, unit_kind, num, heading, path,
               text, embed_text, tokens, refs, notes, amendments, repealed, attachment, point_id, model_id,
               referenced_norm_ids, section, char_start, char_end, page_start, page_end,
               related_concept_ids, referenced_decision_ids)",
            "ON CONFLICT (id) DO UPDATE SET document_id = EXCLUDED.document_id, ordinal = EXCLUDED.ordinal,
               eid = EXCLUDED.eid, part = EXCLUDED.part, parts = EXCLUDED.parts, unit_kind = EXCLUDED.unit_kind,
               num = EXCLUDED.num, heading = EXCLUDED.heading, path = EXCLUDED.path, text = EXCLUDED.text,
               embed_text = EXCLUDED.embed_text, tokens = EXCLUDED.tokens, refs = EXCLUDED.refs,
               notes = EXCLUDED.notes, amendments = EXCLUDED.amendments, repealed = EXCLUDED.repealed,
               attachment = EXCLUDED.attachment, point_id = EXCLUDED.point_id, model_id = EXCLUDED.model_id,
               referenced_norm_ids = EXCLUDED.referenced_norm_ids, section = EXCLUDED.section,
               char_start = EXCLUDED.char_start, char_end = EXCLUDED.char_end,
               page_start = EXCLUDED.page_start, page_end = EXCLUDED.page_end,
               related_concept_ids = EXCLUDED.related_concept_ids,
               referenced_decision_ids = EXCLUDED.referenced_decision_ids",
            &chunks,
            |mut b, c: &Chunk| {
                b.push_bind(&c.id)
                    .push_bind(&c.document_id)
                    .push_bind(c.ordinal as i64)
                    .push_bind(&c.eid)
                    .push_bind(c.part.map(|p| p as i64))
                    .push_bind(c.parts as i64)
                    .push_bind(&c.unit_kind)
                    .push_bind(&c.num)
                    .push_bind(&c.heading)
                    .push_bind(Json(&c.path))
                    .push_bind(&c.text)
                    .push_bind(&c.embed_text)
                    .push_bind(c.tokens as i64)
                    .push_bind(Json(&c.refs))
                    .push_bind(Json(&c.notes))
                    .push_bind(Json(&c.amendments))
                    .push_bind(c.repealed)
                    .push_bind(&c.attachment)
                    .push_bind(point_id(&c.id).to_string())
                    .push_unseparated("::uuid")
                    .push_bind(&doc.model_id)
                    .push_bind(Json(crate::enrich::referenced_norm_ids(
                        &c.id,
                        &doc.references,
                    )))
                    .push_bind(&c.section)
                    .push_bind(c.span.map(|s| s.char_start as i64))
                    .push_bind(c.span.map(|s| s.char_end as i64))
                    .push_bind(c.span.map(|s| s.page_start as i64))
                    .push_bind(c.span.map(|s| s.page_end as i64))
                    .push_bind(Json(doc.concept_ids(&c.id)))
                    .push_bind(Json(crate::enrich::referenced_decision_ids(
                        &c.id,
                        &doc.references,
                    )));
            },
        )
        .await?;

        // Annotations are replaced as a whole.
        for table in ["entities", "chunk_concepts", "citations"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE document_id = $1"))
                .bind(&info.id)
                .execute(&mut *tx)
                .await?;
        }
        let entities: Vec<(i64, &ChunkEntity)> = (0..).zip(&doc.entities).collect();
        insert_rows(
            &mut tx,
            "INSERT INTO entities (chunk_id, document_id, seq, kind, text, start_byte, end_byte, normalized)",
            "",
            &entities,
            |mut b, (seq, e): (i64, &ChunkEntity)| {
                b.push_bind(&e.chunk_id)
                    .push_bind(&info.id)
                    .push_bind(seq)
                    .push_bind(&e.kind)
                    .push_bind(&e.text)
                    .push_bind(e.start as i64)
                    .push_bind(e.end as i64)
                    .push_bind(&e.normalized);
            },
        )
        .await?;
        // Concepts are shared between documents: lock them in id order (no deadlock between
        // writers of two documents) and rewrite only changed labels.
        let mut concepts = last_per_key(&doc.concepts, |c| &c.concept_id);
        concepts.sort_by(|a, b| a.concept_id.cmp(&b.concept_id));
        insert_rows(
            &mut tx,
            "INSERT INTO concepts (id, label)",
            "ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label
             WHERE concepts.label IS DISTINCT FROM EXCLUDED.label",
            &concepts,
            |mut b, c: &ChunkConcept| {
                b.push_bind(&c.concept_id).push_bind(&c.label);
            },
        )
        .await?;
        let links: Vec<(i64, &ChunkConcept)> = (0..).zip(&doc.concepts).collect();
        insert_rows(
            &mut tx,
            "INSERT INTO chunk_concepts (chunk_id, concept_id, document_id, seq)",
            "ON CONFLICT (chunk_id, concept_id) DO NOTHING",
            &links,
            |mut b, (seq, c): (i64, &ChunkConcept)| {
                b.push_bind(&c.chunk_id)
                    .push_bind(&c.concept_id)
                    .push_bind(&info.id)
                    .push_bind(seq);
            },
        )
        .await?;
        let references: Vec<(i64, &Reference)> = (0..).zip(&doc.references).collect();
        insert_rows(
            &mut tx,
            "INSERT INTO citations (chunk_id, document_id, seq, origin, norm_id, act_id, article_id, act_dated,
               target_raw, text, start_byte, end_byte, note, relative, decision_id, decision_key)",
            "",
            &references,
            |mut b, (seq, r): (i64, &Reference)| {
                b.push_bind(&r.chunk_id)
                    .push_bind(&info.id)
                    .push_bind(seq)
                    .push_bind(&r.origin)
                    .push_bind(&r.norm_id)
                    .push_bind(&r.act_id)
                    .push_bind(&r.article_id)
                    .push_bind(&r.act_dated)
                    .push_bind(&r.target_raw)
                    .push_bind(&r.text)
                    .push_bind(r.start as i64)
                    .push_bind(r.end as i64)
                    .push_bind(r.note.map(|n| n as i64))
                    .push_bind(r.relative)
                    .push_bind(&r.decision_id)
                    .push_bind(&r.decision_key);
            },
        )
        .await?;
        // See the SQLite store: act id, validity of a norm version, shared by its chunks.
        sqlx::query(
            "UPDATE documents SET act_id = $1, valid_from = $2,
               valid_to = CASE WHEN valid_from IS NOT DISTINCT FROM $2 THEN valid_to ELSE NULL END
             WHERE id = $3",
        )
        .bind(crate::enrich::document_act(&info.meta).map(|a| a.id()))
        .bind(info.valid_from())
        .bind(&info.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE chunks c SET valid_from = d.valid_from, valid_to = d.valid_to
             FROM documents d WHERE d.id = $1 AND c.document_id = $1",
        )
        .bind(&info.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn validity(
        &self,
        document_id: &str,
    ) -> Result<Option<(Option<String>, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT valid_from, valid_to FROM documents WHERE id = $1")
            .bind(document_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("valid_from"), r.get("valid_to"))))
    }

    async fn close_validity(&self, document_id: &str, valid_to: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE documents SET valid_to = $1 WHERE id = $2")
            .bind(valid_to)
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE chunks SET valid_to = $1 WHERE document_id = $2")
            .bind(valid_to)
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn count_documents(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn documents_not_on_model(&self, model_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM documents WHERE model_id <> $1 ORDER BY id")
                .bind(model_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn load_document(
        &self,
        document_id: &str,
    ) -> Result<Option<(DocumentInfo, Vec<Chunk>)>, StoreError> {
        let Some(d) = sqlx::query(
            "SELECT id, source, doc_type, title, content_hash, bytes, meta, metadata, text
             FROM documents WHERE id = $1",
        )
        .bind(document_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let doc_type: String = d.get("doc_type");
        let info = DocumentInfo {
            id: d.get("id"),
            source: d.get("source"),
            doc_type: doc_type
                .parse::<DocType>()
                .map_err(|e| StoreError::Schema(format!("{document_id}: stored type: {e}")))?,
            content_hash: d.get("content_hash"),
            bytes: d.get::<i64, _>("bytes") as u64,
            title: d.get("title"),
            meta: decode_json(&d, "meta", document_id)?,
            metadata: decode_json(&d, "metadata", document_id)?,
            text: d.get("text"),
        };
        let rows = sqlx::query(
            "SELECT id, document_id, ordinal, eid, part, parts, unit_kind, num, heading, path, text,
               embed_text, tokens, refs, notes, amendments, repealed, attachment, section,
               char_start, char_end, page_start, page_end
             FROM chunks WHERE document_id = $1 ORDER BY ordinal",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?;
        let mut chunks = Vec::with_capacity(rows.len());
        for r in rows {
            chunks.push(Chunk {
                id: r.get("id"),
                document_id: r.get("document_id"),
                ordinal: r.get::<i64, _>("ordinal") as u32,
                eid: r.get("eid"),
                part: r.get::<Option<i64>, _>("part").map(|p| p as u32),
                parts: r.get::<i64, _>("parts") as u32,
                unit_kind: r.get("unit_kind"),
                num: r.get("num"),
                heading: r.get("heading"),
                path: decode_json(&r, "path", document_id)?,
                text: r.get("text"),
                embed_text: r.get("embed_text"),
                tokens: r.get::<i64, _>("tokens") as u32,
                refs: decode_json(&r, "refs", document_id)?,
                notes: decode_json(&r, "notes", document_id)?,
                amendments: decode_json(&r, "amendments", document_id)?,
                repealed: r.get("repealed"),
                attachment: r.get("attachment"),
                section: r.get("section"),
                span: match (
                    r.get::<Option<i64>, _>("char_start"),
                    r.get::<Option<i64>, _>("char_end"),
                    r.get::<Option<i64>, _>("page_start"),
                    r.get::<Option<i64>, _>("page_end"),
                ) {
                    (Some(cs), Some(ce), Some(ps), Some(pe)) => Some(TextSpan {
                        char_start: cs as u32,
                        char_end: ce as u32,
                        page_start: ps as u32,
                        page_end: pe as u32,
                    }),
                    _ => None,
                },
            });
        }
        Ok(Some((info, chunks)))
    }

    async fn load_annotations(&self, document_id: &str) -> Result<Annotations, StoreError> {
        let references = sqlx::query(
            "SELECT chunk_id, origin, norm_id, act_id, article_id, act_dated, target_raw, text,
               start_byte, end_byte, note, relative, decision_id, decision_key
             FROM citations WHERE document_id = $1 ORDER BY seq",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| Reference {
            chunk_id: r.get("chunk_id"),
            origin: r.get("origin"),
            norm_id: r.get("norm_id"),
            act_id: r.get("act_id"),
            article_id: r.get("article_id"),
            act_dated: r.get("act_dated"),
            target_raw: r.get("target_raw"),
            text: r.get("text"),
            start: r.get::<i64, _>("start_byte") as u32,
            end: r.get::<i64, _>("end_byte") as u32,
            note: r.get::<Option<i64>, _>("note").map(|n| n as u32),
            relative: r.get("relative"),
            decision_id: r.get("decision_id"),
            decision_key: r.get("decision_key"),
        })
        .collect();
        let entities = sqlx::query(
            "SELECT chunk_id, kind, text, start_byte, end_byte, normalized FROM entities
             WHERE document_id = $1 ORDER BY seq",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| ChunkEntity {
            chunk_id: r.get("chunk_id"),
            kind: r.get("kind"),
            text: r.get("text"),
            start: r.get::<i64, _>("start_byte") as u32,
            end: r.get::<i64, _>("end_byte") as u32,
            normalized: r.get("normalized"),
        })
        .collect();
        let concepts = sqlx::query(
            "SELECT cc.chunk_id, cc.concept_id, c.label FROM chunk_concepts cc
             JOIN concepts c ON c.id = cc.concept_id JOIN chunks ch ON ch.id = cc.chunk_id
             WHERE cc.document_id = $1 ORDER BY ch.ordinal, cc.seq",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| ChunkConcept {
            chunk_id: r.get("chunk_id"),
            concept_id: r.get("concept_id"),
            label: r.get("label"),
        })
        .collect();
        Ok(Annotations {
            references,
            entities,
            concepts,
        })
    }

    async fn set_model(
        &self,
        document_id: &str,
        model_id: &str,
        tokens: &[(String, u32)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "UPDATE documents SET model_id = $1, updated_at = {NOW_MS} WHERE id = $2"
        ))
        .bind(model_id)
        .bind(document_id)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<&str> = tokens.iter().map(|(id, _)| id.as_str()).collect();
        let counts: Vec<i64> = tokens.iter().map(|(_, t)| *t as i64).collect();
        sqlx::query(
            "UPDATE chunks c SET model_id = $1, tokens = t.tokens
             FROM UNNEST($2::text[], $3::bigint[]) AS t(id, tokens) WHERE c.id = t.id",
        )
        .bind(model_id)
        .bind(&ids)
        .bind(&counts)
        .execute(&mut *tx)
        .await?;
        // The job's embed checkpoint now names the model its vectors come from.
        // Only finished jobs: an unfinished one's embed checkpoint still holds the old vectors.
        sqlx::query("UPDATE jobs SET model_id = $1 WHERE document_id = $2 AND state = 'done'")
            .bind(model_id)
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn count_chunks(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn document_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM documents ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn find_document(&self, id_or_source: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM documents WHERE id = $1 OR source = $1
             ORDER BY id = $1 DESC, id LIMIT 1",
        )
        .bind(id_or_source)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_document(&self, document_id: &str) -> Result<bool, StoreError> {
        // Chunks, citations, entities and concept links go with it (ON DELETE CASCADE);
        // concepts are shared vocabulary and stay.
        let n = sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(document_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db?sslmode=disable"),
            "postgres://u:***@h:5432/db?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=secret&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/db"),
            "postgres://127.0.0.1/db"
        );
        assert_eq!(redact_url("u:p@h"), "<database URL>");
    }

    #[test]
    fn last_per_key_keeps_last_occurrence_in_order() {
        let v = ["a1", "b1", "a2", "c1"];
        let out: Vec<&&str> = last_per_key(&v, |s| &s[..1]);
        assert_eq!(out, [&"b1", &"a2", &"c1"]);
    }
}

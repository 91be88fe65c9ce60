//! The embedded relational store: one SQLite database (WAL mode) holding documents, chunks,
//! the graph as node/edge tables, and the job/checkpoint table. Queries are checked at run
//! time, so no database is needed to compile.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{point_id, Annotations, GraphStore, RelationalStore, StoreError};
use crate::pipeline::record::{
    Chunk, ChunkConcept, ChunkEntity, DocType, DocumentInfo, EnrichedDocument, Reference, TextSpan,
};

/// Connections in the pool: SQLite has one writer; a few readers serve `status`.
const POOL_SIZE: u32 = 4;
/// How long a writer waits for the lock before the operation is a transient error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Ordered schema migrations; each runs once, in a transaction, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_init.sql")),
    (2, include_str!("migrations/sqlite/0002_citations.sql")),
    (3, include_str!("migrations/sqlite/0003_text_documents.sql")),
    (4, include_str!("migrations/sqlite/0004_reliability.sql")),
    (5, include_str!("migrations/sqlite/0005_refresh.sql")),
    (6, include_str!("migrations/sqlite/0006_runs.sql")),
    (7, include_str!("migrations/sqlite/0007_payload_delta.sql")),
];

#[derive(Clone)]
pub struct Sqlite {
    pool: SqlitePool,
}

impl Sqlite {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub async fn try_open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Database(format!("{}: {e}", path.display())))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Checkpoints must survive power loss, not just a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("{}: {e}", path.display())))?;
        let db = Self { pool };
        db.migrate().await?;
        Ok(db)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Apply missing migrations under SQLite's write lock (`BEGIN IMMEDIATE`), so processes
    /// opening the same new database at once cannot race each other.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let applied = apply_migrations(&mut conn).await;
        let end = if applied.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        sqlx::raw_sql(end).execute(&mut *conn).await?;
        applied
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn apply_migrations(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
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
        sqlx::raw_sql(sql).execute(&mut *conn).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Start a write transaction holding SQLite's write lock from its first statement
/// (`BEGIN IMMEDIATE`). A deferred transaction that reads before it writes cannot wait for a
/// busy database: it fails at once with "database is locked" when another process writes.
pub async fn write_tx(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[async_trait]
impl RelationalStore for Sqlite {
    async fn chunk_ids(&self, document_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal")
                .bind(document_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn upsert_document(&self, doc: &EnrichedDocument) -> Result<(), StoreError> {
        let info = &doc.info;
        let mut tx = write_tx(&self.pool).await?;
        sqlx::query(
            "INSERT INTO documents (id, source, doc_type, title, content_hash, bytes, meta, chunk_count, model_id, updated_at,
               metadata, text)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET source = excluded.source, doc_type = excluded.doc_type,
               title = excluded.title, content_hash = excluded.content_hash, bytes = excluded.bytes,
               meta = excluded.meta, chunk_count = excluded.chunk_count, model_id = excluded.model_id,
               updated_at = excluded.updated_at, metadata = excluded.metadata, text = excluded.text",
        )
        .bind(&info.id)
        .bind(&info.source)
        .bind(info.doc_type.as_str())
        .bind(&info.title)
        .bind(&info.content_hash)
        .bind(info.bytes as i64)
        .bind(to_json(&info.meta))
        .bind(doc.chunks.len() as i64)
        .bind(&doc.model_id)
        .bind(now_ms())
        .bind(to_json(&info.metadata))
        .bind(&info.text)
        .execute(&mut *tx)
        .await?;
        let ids: Vec<&str> = doc.chunks.iter().map(|c| c.id.as_str()).collect();
        sqlx::query(
            "DELETE FROM chunks WHERE document_id = ? AND id NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(&info.id)
        .bind(to_json(&ids))
        .execute(&mut *tx)
        .await?;
        let chunk_row = |_: usize, c: &crate::pipeline::record::Chunk| {
            json!([
                c.id,
                c.document_id,
                c.ordinal,
                c.eid,
                c.part,
                c.parts,
                c.unit_kind,
                c.num,
                c.heading,
                to_json(&c.path),
                c.text,
                c.embed_text,
                c.tokens,
                to_json(&c.refs),
                to_json(&c.notes),
                to_json(&c.amendments),
                c.repealed,
                c.attachment,
                point_id(&c.id).to_string(),
                doc.model_id,
                to_json(&crate::enrich::referenced_norm_ids(&c.id, &doc.references)),
                c.section,
                c.span.map(|s| s.char_start),
                c.span.map(|s| s.char_end),
                c.span.map(|s| s.page_start),
                c.span.map(|s| s.page_end),
                to_json(&doc.concept_ids(&c.id)),
                to_json(&crate::enrich::referenced_decision_ids(
                    &c.id,
                    &doc.references
                )),
            ])
        };
        let sql = format!(
            "INSERT INTO chunks (id, document_id, ordinal, eid, part, parts, unit_kind, num, heading, path,
               text, embed_text, tokens, refs, notes, amendments, repealed, attachment, point_id, model_id,
               referenced_norm_ids, section, char_start, char_end, page_start, page_end,
               related_concept_ids, referenced_decision_ids)
             SELECT {} FROM json_each(?) WHERE true
             ON CONFLICT(id) DO UPDATE SET document_id = excluded.document_id, ordinal = excluded.ordinal,
               eid = excluded.eid, part = excluded.part, parts = excluded.parts, unit_kind = excluded.unit_kind,
               num = excluded.num, heading = excluded.heading, path = excluded.path, text = excluded.text,
               embed_text = excluded.embed_text, tokens = excluded.tokens, refs = excluded.refs,
               notes = excluded.notes, amendments = excluded.amendments, repealed = excluded.repealed,
               attachment = excluded.attachment, point_id = excluded.point_id, model_id = excluded.model_id,
               referenced_norm_ids = excluded.referenced_norm_ids, section = excluded.section,
               char_start = excluded.char_start, char_end = excluded.char_end,
               page_start = excluded.page_start, page_end = excluded.page_end,
               related_concept_ids = excluded.related_concept_ids,
               referenced_decision_ids = excluded.referenced_decision_ids",
            row_columns(28)
        );
        insert_rows(&mut tx, &sql, &doc.chunks, chunk_row).await?;
        for table in ["entities", "chunk_concepts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE document_id = ?"))
                .bind(&info.id)
                .execute(&mut *tx)
                .await?;
        }
        let entity_row = |seq: usize, e: &crate::pipeline::record::ChunkEntity| {
            json!([
                e.chunk_id,
                info.id,
                seq,
                e.kind,
                e.text,
                e.start,
                e.end,
                e.normalized
            ])
        };
        let sql = format!(
            "INSERT INTO entities (chunk_id, document_id, seq, kind, text, start_byte, end_byte, normalized)
             SELECT {} FROM json_each(?)",
            row_columns(8)
        );
        insert_rows(&mut tx, &sql, &doc.entities, entity_row).await?;
        let concept_row = |_: usize, c: &crate::pipeline::record::ChunkConcept| {
            json!([c.concept_id, c.label, c.chunk_id, info.id])
        };
        insert_rows(
            &mut tx,
            "INSERT INTO concepts (id, label) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true
             ON CONFLICT(id) DO UPDATE SET label = excluded.label",
            &doc.concepts,
            concept_row,
        )
        .await?;
        insert_rows(
            &mut tx,
            "INSERT INTO chunk_concepts (chunk_id, concept_id, document_id)
             SELECT value ->> 2, value ->> 0, value ->> 3 FROM json_each(?) WHERE true
             ON CONFLICT(chunk_id, concept_id) DO NOTHING",
            &doc.concepts,
            concept_row,
        )
        .await?;
        sqlx::query("DELETE FROM citations WHERE document_id = ?")
            .bind(&info.id)
            .execute(&mut *tx)
            .await?;
        let citation_row = |seq: usize, r: &crate::pipeline::record::Reference| {
            json!([
                r.chunk_id,
                info.id,
                seq,
                r.origin,
                r.norm_id,
                r.act_id,
                r.article_id,
                r.act_dated,
                r.target_raw,
                r.text,
                r.start,
                r.end,
                r.note,
                r.relative,
                r.decision_id,
                r.decision_key,
            ])
        };
        let sql = format!(
            "INSERT INTO citations (chunk_id, document_id, seq, origin, norm_id, act_id, article_id, act_dated,
               target_raw, text, start_byte, end_byte, note, relative, decision_id, decision_key)
             SELECT {} FROM json_each(?)",
            row_columns(16)
        );
        insert_rows(&mut tx, &sql, &doc.references, citation_row).await?;
        // The act it expresses and, for a norm version, from when it is in force; its chunks
        // share the document's validity (valid_to is closed later, by a newer version).
        sqlx::query(
            "UPDATE documents SET act_id = ?, valid_from = ?,
               valid_to = CASE WHEN valid_from IS ? THEN valid_to ELSE NULL END WHERE id = ?",
        )
        .bind(crate::enrich::document_act(&info.meta).map(|a| a.id()))
        .bind(info.valid_from())
        .bind(info.valid_from())
        .bind(&info.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE chunks SET valid_from = d.valid_from, valid_to = d.valid_to
             FROM (SELECT valid_from, valid_to FROM documents WHERE id = ?1) AS d
             WHERE chunks.document_id = ?1",
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
        let row = sqlx::query("SELECT valid_from, valid_to FROM documents WHERE id = ?")
            .bind(document_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("valid_from"), r.get("valid_to"))))
    }

    async fn close_validity(&self, document_id: &str, valid_to: &str) -> Result<(), StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        for table in ["documents", "chunks"] {
            let key = if table == "documents" {
                "id"
            } else {
                "document_id"
            };
            sqlx::query(&format!("UPDATE {table} SET valid_to = ? WHERE {key} = ?"))
                .bind(valid_to)
                .bind(document_id)
                .execute(&mut *tx)
                .await?;
        }
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
            sqlx::query_scalar("SELECT id FROM documents WHERE model_id != ? ORDER BY id")
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
            "SELECT id, source, doc_type, title, content_hash, bytes, meta, metadata, text FROM documents WHERE id = ?",
        )
        .bind(document_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let bad = |what: &str, e: String| {
            StoreError::Schema(format!("{document_id}: stored {what}: {e}"))
        };
        let doc_type: String = d.get("doc_type");
        let meta: String = d.get("meta");
        let info = DocumentInfo {
            id: d.get("id"),
            source: d.get("source"),
            doc_type: doc_type.parse::<DocType>().map_err(|e| bad("type", e))?,
            content_hash: d.get("content_hash"),
            bytes: d.get::<i64, _>("bytes") as u64,
            title: d.get("title"),
            meta: serde_json::from_str(&meta).map_err(|e| bad("meta", e.to_string()))?,
            metadata: serde_json::from_str(&d.get::<String, _>("metadata"))
                .map_err(|e| bad("metadata", e.to_string()))?,
            text: d.get("text"),
        };
        let rows = sqlx::query(
            "SELECT id, document_id, ordinal, eid, part, parts, unit_kind, num, heading, path, text,
               embed_text, tokens, refs, notes, amendments, repealed, attachment, section,
               char_start, char_end, page_start, page_end
             FROM chunks WHERE document_id = ? ORDER BY ordinal",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?;
        let mut chunks = Vec::with_capacity(rows.len());
        for r in rows {
            let json = |col: &str| -> Result<serde_json::Value, StoreError> {
                serde_json::from_str(&r.get::<String, _>(col)).map_err(|e| bad(col, e.to_string()))
            };
            let from = |col: &str| -> Result<Vec<String>, StoreError> {
                serde_json::from_value(json(col)?).map_err(|e| bad(col, e.to_string()))
            };
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
                path: from("path")?,
                text: r.get("text"),
                embed_text: r.get("embed_text"),
                tokens: r.get::<i64, _>("tokens") as u32,
                refs: serde_json::from_value(json("refs")?)
                    .map_err(|e| bad("refs", e.to_string()))?,
                notes: from("notes")?,
                amendments: from("amendments")?,
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

    async fn document_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM documents ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn find_document(&self, id_or_source: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM documents WHERE id = ?1
             UNION ALL SELECT id FROM documents WHERE source = ?1 LIMIT 1",
        )
        .bind(id_or_source)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_document(&self, document_id: &str) -> Result<bool, StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        for table in ["citations", "entities", "chunk_concepts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE document_id = ?"))
                .bind(document_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM chunks WHERE document_id = ?")
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(document_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn load_annotations(&self, document_id: &str) -> Result<Annotations, StoreError> {
        let references = sqlx::query(
            "SELECT chunk_id, origin, norm_id, act_id, article_id, act_dated, target_raw, text,
               start_byte, end_byte, note, relative, decision_id, decision_key
             FROM citations WHERE document_id = ? ORDER BY seq",
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
             WHERE document_id = ? ORDER BY seq",
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
             WHERE cc.document_id = ? ORDER BY ch.ordinal, cc.rowid",
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
        let mut tx = write_tx(&self.pool).await?;
        sqlx::query("UPDATE documents SET model_id = ?, updated_at = ? WHERE id = ?")
            .bind(model_id)
            .bind(now_ms())
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        for (id, t) in tokens {
            sqlx::query("UPDATE chunks SET model_id = ?, tokens = ? WHERE id = ?")
                .bind(model_id)
                .bind(*t as i64)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // The job's embed checkpoint now names the model its vectors come from.
        // Only finished jobs: an unfinished one's embed checkpoint still holds the old vectors.
        sqlx::query("UPDATE jobs SET model_id = ? WHERE document_id = ? AND state = 'done'")
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
}

/// Graph node ids are prefixed by label so a chunk and a norm can never collide.
pub fn node_id(label: &str, key: &str) -> String {
    format!("{label}:{key}")
}

#[async_trait]
impl GraphStore for Sqlite {
    async fn document_chunk_ids(&self, document_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT json_extract(props, '$.id') FROM graph_nodes
             WHERE owner = ? AND label = 'Chunk' ORDER BY 1",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn document_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT json_extract(props, '$.id') FROM graph_nodes WHERE label = 'Document' ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_document(&self, document_id: &str) -> Result<(), StoreError> {
        let mut tx = write_tx(&self.pool).await?;
        sqlx::query("DELETE FROM graph_edges WHERE owner = ?")
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM graph_nodes WHERE owner = ? AND label IN ('Chunk', 'Document')")
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_document(&self, doc: &EnrichedDocument) -> Result<(), StoreError> {
        let info = &doc.info;
        let mut tx = write_tx(&self.pool).await?;
        // Replace what this document owned: its chunk nodes and every edge it created.
        sqlx::query("DELETE FROM graph_edges WHERE owner = ?")
            .bind(&info.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM graph_nodes WHERE owner = ? AND label = 'Chunk'")
            .bind(&info.id)
            .execute(&mut *tx)
            .await?;
        // A part at a time: a large act's whole plan is tens of megabytes of JSON values.
        let parts = crate::store::plan::graph_plan_parts(doc, crate::store::plan::PLAN_PART_CHUNKS);
        for plan in parts {
            // Shared nodes (norms) keep their first owner-less row; properties merge on conflict.
            let node_row = |_: usize, n: &crate::store::plan::GraphNode| {
                json!([
                    node_id(n.label, &n.key),
                    n.label,
                    n.owned.then_some(info.id.as_str()),
                    n.props.to_string()
                ])
            };
            insert_rows(
                &mut tx,
                "INSERT INTO graph_nodes (id, label, owner, props)
                 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true
                 ON CONFLICT(id) DO UPDATE SET props = json_patch(graph_nodes.props, excluded.props),
                   owner = COALESCE(excluded.owner, graph_nodes.owner)",
                &plan.nodes,
                node_row,
            )
            .await?;
            // Shared structure (an article's PART_OF) is owned by no document and kept as it is.
            let edge_row = |_: usize, e: &crate::store::plan::GraphEdge| {
                json!([
                    node_id(e.src.0, &e.src.1),
                    e.rel,
                    node_id(e.dst.0, &e.dst.1),
                    e.key,
                    if e.owned { info.id.as_str() } else { "" },
                    e.props.to_string()
                ])
            };
            insert_rows(
                &mut tx,
                "INSERT INTO graph_edges (src, rel, dst, key, owner, props)
                 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5
                 FROM json_each(?) WHERE true
                 ON CONFLICT(src, rel, dst, key) DO UPDATE SET owner = excluded.owner, props = excluded.props
                   WHERE excluded.owner <> ''",
                &plan.edges,
                edge_row,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Rows per bulk statement: few statements, and a bounded JSON text for each.
const ROWS_PER_STATEMENT: usize = 256;

/// Run `sql`, which reads its rows from `json_each(?)` with `value ->> i`, over the rows
/// `row` makes of `items` (with their index), in parts of `ROWS_PER_STATEMENT`: a document's thousands of rows take a few statements, not
/// one per row. Rows are applied in order, so conflicts resolve as row-by-row inserts would.
async fn insert_rows<T: Sync>(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &str,
    items: &[T],
    row: impl Fn(usize, &T) -> serde_json::Value + Sync,
) -> Result<(), StoreError> {
    for (k, part) in items.chunks(ROWS_PER_STATEMENT).enumerate() {
        let rows: Vec<serde_json::Value> = part
            .iter()
            .enumerate()
            .map(|(i, item)| row(k * ROWS_PER_STATEMENT + i, item))
            .collect();
        sqlx::query(sql)
            .bind(serde_json::Value::Array(rows).to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// `value ->> 0, value ->> 1, …`: the select list reading `n` columns of an `insert_rows` row.
fn row_columns(n: usize) -> String {
    (0..n)
        .map(|i| format!("value ->> {i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts of graph nodes per label and edges per relationship, for status and tests.
pub async fn graph_counts(
    pool: &SqlitePool,
) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>), StoreError> {
    let nodes =
        sqlx::query("SELECT label, COUNT(*) AS n FROM graph_nodes GROUP BY label ORDER BY label")
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get::<String, _>("label"), r.get::<i64, _>("n")))
            .collect();
    let edges = sqlx::query("SELECT rel, COUNT(*) AS n FROM graph_edges GROUP BY rel ORDER BY rel")
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| (r.get::<String, _>("rel"), r.get::<i64, _>("n")))
        .collect();
    Ok((nodes, edges))
}

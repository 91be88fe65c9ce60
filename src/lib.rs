//! `ingest`: public legal documents in, search-ready knowledge out.
//!
//! Five typed stages joined by bounded channels: [`parse`] → [`chunk`] → [`embed`] →
//! [`enrich`] → [`store`]. The [`pipeline::runner`] owns channels, checkpoints and retries;
//! stages are plain functions over one document or one batch.

pub mod app;
pub mod chunk;
pub mod cli;
pub mod config;
pub mod embed;
pub mod enrich;
pub mod fetch;
pub mod logging;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod status;
pub mod store;

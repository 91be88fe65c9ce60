//! Parse: turn fetched bytes into a [`Document`]. Parsers are pure functions over bytes; the
//! runner calls them on the blocking pool and turns a parser panic into a rejection of that
//! one input.

pub mod akn;
pub mod docx;
pub mod html;
pub mod pdf;
pub mod text;
pub mod textdoc;

use sha2::{Digest, Sha256};

use crate::pipeline::error::{Classify, ErrorClass};
use crate::pipeline::record::{DocType, Document, DocumentBody, DocumentInfo, NormMeta};

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("Akoma Ntoso: {0}")]
    Akn(#[from] akn::AknError),
    #[error("parser crashed: {0}")]
    Panicked(String),
    #[error("type {0} is not supported yet")]
    Unsupported(DocType),
}

impl Classify for ParseError {
    fn class(&self) -> ErrorClass {
        match self {
            ParseError::Akn(_) | ParseError::Panicked(_) => ErrorClass::Rejected,
            ParseError::Unsupported(_) => ErrorClass::Fatal,
        }
    }
}

thread_local! {
    /// Set while a parser runs under `catch_unwind`: its panics become rejections with their
    /// message, so the default hook's stderr dump would only garble the run's output.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(|g| g.get()) {
                tracing::debug!("parser panicked: {info}");
            } else {
                previous(info);
            }
        }));
    });
}

/// The message a caught panic carried.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parse a fetched source. Panics inside third-party parsers are caught and reported as
/// a rejection of this input.
pub fn parse(doc_type: DocType, source: &str, bytes: &[u8]) -> Result<Document, ParseError> {
    parse_with(doc_type, source, bytes, |_| ())
}

/// [`parse`] with a hook run first, inside the same panic guard (used by fault tests).
pub fn parse_with(
    doc_type: DocType,
    source: &str,
    bytes: &[u8],
    before: impl FnOnce(&[u8]),
) -> Result<Document, ParseError> {
    install_quiet_panic_hook();
    GUARDED.with(|g| g.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        before(bytes);
        parse_inner(doc_type, source, bytes)
    }));
    GUARDED.with(|g| g.set(false));
    match outcome {
        Ok(r) => r,
        Err(payload) => Err(ParseError::Panicked(panic_message(payload))),
    }
}

fn parse_inner(doc_type: DocType, source: &str, bytes: &[u8]) -> Result<Document, ParseError> {
    match doc_type {
        DocType::Norm => {
            let doc = akn::parse(bytes)?;
            Ok(norm_document(source, bytes, doc))
        }
        other => Err(ParseError::Unsupported(other)),
    }
}

/// A norm's identity is its FRBR expression (two versions of an act stay distinct);
/// without one, the work; without that, its source.
pub fn norm_document_id(doc: &akn::AknDocument, source: &str) -> String {
    doc.expression_uri
        .as_deref()
        .or(doc.expression_this.as_deref())
        .or(doc.work_uri.as_deref())
        .or(doc.work_this.as_deref())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("source:{source}"))
}

fn norm_document(source: &str, bytes: &[u8], doc: akn::AknDocument) -> Document {
    let id = norm_document_id(&doc, source);
    let unit_kind = match doc.unit_kind {
        akn::UnitKind::Article => "article",
        akn::UnitKind::Section => "section",
        akn::UnitKind::Body => "body",
    };
    let meta = NormMeta {
        doc_kind: Some(doc.doc_kind.clone()),
        work_this: doc.work_this.clone(),
        work_uri: doc.work_uri.clone(),
        expression_this: doc.expression_this.clone(),
        expression_uri: doc.expression_uri.clone(),
        urn_nir: doc.urn_nir.clone(),
        eli: doc.eli.clone(),
        language: doc.language.clone(),
        work_date: doc.work_date.clone(),
        expression_date: doc.expression_date.clone(),
        unit_kind: Some(unit_kind.to_string()),
    };
    let title = doc.title.clone().or_else(|| {
        std::path::Path::new(source)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
    });
    Document {
        info: DocumentInfo {
            id,
            source: source.to_string(),
            doc_type: DocType::Norm,
            content_hash: sha256_hex(bytes),
            bytes: bytes.len() as u64,
            title,
            meta,
        },
        body: DocumentBody::Akn(doc),
    }
}

//! Parse: turn fetched bytes into a [`Document`]. Parsers are pure functions over bytes; the
//! runner calls them on the blocking pool and turns a parser panic into a rejection of that
//! one input.

pub mod akn;
pub mod docx;
pub mod html;
pub mod isolate;
pub mod ocr;
pub mod pdf;
pub mod text;
pub mod textdoc;

use sha2::{Digest, Sha256};

use crate::pipeline::error::{Classify, ErrorClass};
use crate::pipeline::record::{DocType, Document, DocumentBody, DocumentInfo, NormMeta};
use textdoc::TextDocument;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("Akoma Ntoso: {0}")]
    Akn(#[from] akn::AknError),
    #[error("parser crashed: {0}")]
    Panicked(String),
    /// A text-document parser (PDF, OCR, HTML, DOCX, text) refused the input.
    #[error("{format}: {message}")]
    Text {
        format: &'static str,
        message: String,
    },
    #[error("{0}")]
    WrongType(String),
}

impl Classify for ParseError {
    fn class(&self) -> ErrorClass {
        match self {
            ParseError::Akn(_)
            | ParseError::Panicked(_)
            | ParseError::Text { .. }
            | ParseError::WrongType(_) => ErrorClass::Rejected,
        }
    }
}

thread_local! {
    /// Set while a parser runs under `catch_unwind`: its panics become rejections with their
    /// message, so the default hook's stderr dump would only garble the run's output.
    pub(crate) static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) fn install_quiet_panic_hook() {
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
    parse_with(doc_type, source, bytes, &ParseOptions::default(), |_| ())
}

/// [`parse`] with a hook run first, inside the same panic guard (used by fault tests).
pub fn parse_with(
    doc_type: DocType,
    source: &str,
    bytes: &[u8],
    opts: &ParseOptions,
    before: impl FnOnce(&[u8]),
) -> Result<Document, ParseError> {
    install_quiet_panic_hook();
    GUARDED.with(|g| g.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        before(bytes);
        parse_inner(doc_type, source, bytes, opts)
    }));
    GUARDED.with(|g| g.set(false));
    match outcome {
        Ok(r) => r,
        Err(payload) => Err(ParseError::Panicked(panic_message(payload))),
    }
}

/// How text documents are parsed: OCR settings, and whether the risky parsers run in a child
/// process (and under which limits).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseOptions {
    pub isolation: Option<isolate::Isolation>,
    pub ocr: ocr::OcrConfig,
}

/// What an input is, from its bytes (and, for Markdown vs plain text, its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Akn,
    Pdf,
    Docx,
    Image,
    Html,
    Markdown,
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Akn => "akn",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Image => "image",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Text => "text",
        }
    }
}

/// Sniff the format: magic bytes first (PDF, ZIP/DOCX, PNG, JPEG, TIFF), then markup
/// (`<akomaNtoso`, `<html`), then the file extension (`.md`), else plain text.
pub fn sniff(source: &str, bytes: &[u8]) -> Format {
    let head = &bytes[..bytes.len().min(1024)];
    let lower_ext = source
        .rsplit(['/', '\\'])
        .next()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let lower_ext = lower_ext.split(['?', '#']).next().unwrap_or_default();
    let texty = matches!(lower_ext, "txt" | "md" | "markdown" | "text");
    // A text file may quote "%PDF-" or "<html": its extension wins unless the magic opens it.
    if head.starts_with(b"%PDF-") || (!texty && head.windows(5).any(|w| w == b"%PDF-")) {
        return Format::Pdf;
    }
    if head.starts_with(b"PK\x03\x04") {
        return Format::Docx;
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
    {
        return Format::Image;
    }
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if (!texty || text.starts_with('<')) && text.contains("<akomantoso") {
        return Format::Akn;
    }
    if text.starts_with("<!doctype html")
        || text.starts_with("<html")
        || (!texty && text.contains("<html"))
        || matches!(lower_ext, "html" | "htm" | "xhtml")
    {
        return Format::Html;
    }
    if text.starts_with("<?xml") && !matches!(lower_ext, "txt" | "md") {
        // XML that is not Akoma Ntoso: let the AKN parser say why.
        return Format::Akn;
    }
    if matches!(lower_ext, "md" | "markdown") {
        return Format::Markdown;
    }
    Format::Text
}

fn parse_inner(
    doc_type: DocType,
    source: &str,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<Document, ParseError> {
    if doc_type == DocType::Norm {
        let doc = akn::parse(bytes)?;
        return Ok(norm_document(source, bytes, doc));
    }
    let format = sniff(source, bytes);
    let text_err = |message: String| ParseError::Text {
        format: format.as_str(),
        message,
    };
    let doc = match format {
        Format::Akn => {
            let meta = akn::parse(bytes)?;
            if meta.doc_kind != "judgment" {
                return Err(ParseError::WrongType(format!(
                    "Akoma Ntoso <{}> is not a judgment: ingest acts with --type norm",
                    meta.doc_kind
                )));
            }
            let mut doc = akn::judgment_document(bytes)?;
            for (k, v) in [
                ("title", meta.title.clone()),
                ("date", meta.work_date.clone()),
                ("frbr_work", meta.work_this.clone()),
                ("frbr_expression", meta.expression_this.clone()),
                ("language", meta.language.clone()),
            ] {
                if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                    doc.metadata.push((k.to_string(), v));
                }
            }
            doc
        }
        Format::Pdf | Format::Docx | Format::Image => {
            let risky = match format {
                Format::Pdf => isolate::RiskyFormat::Pdf,
                Format::Docx => isolate::RiskyFormat::Docx,
                _ => isolate::RiskyFormat::Image,
            };
            match &opts.isolation {
                Some(iso) => isolate::parse_in_child(iso, risky, bytes, &opts.ocr),
                None => isolate::parse_risky(risky, bytes, &opts.ocr),
            }
            .map_err(text_err)?
        }
        Format::Html => html::parse_html(bytes).map_err(|e| text_err(e.to_string()))?,
        Format::Markdown => {
            text::parse_markdown(&text::decode(bytes).map_err(|e| text_err(e.to_string()))?)
        }
        Format::Text => {
            let text = text::decode(bytes).map_err(|e| text_err(e.to_string()))?;
            match decision_pages(doc_type, &text) {
                // A decision extracted from a PDF: clean it as the PDF would be.
                Some(pages) => {
                    pdf::document_from_pages(&pages).map_err(|e| text_err(e.to_string()))?
                }
                None => text::parse_plain(&text),
            }
        }
    };
    if doc.text.trim().is_empty() {
        return Err(text_err("no text in the document".into()));
    }
    Ok(text_document(doc_type, format, source, bytes, doc))
}

/// The pages of a decision given as text extracted from a PDF (italgiure exports: a stamp
/// block between rules, `--- Pagina N ---` page markers), or `None` for other text.
fn decision_pages(doc_type: DocType, text: &str) -> Option<Vec<String>> {
    if doc_type != DocType::Jurisprudence {
        return None;
    }
    let is_marker = |l: &str| {
        let t = l.trim();
        t.starts_with("--- Pagina ") && t.ends_with("---")
    };
    let has_stamp = text.lines().take(20).any(|l| {
        let t = l.trim_start();
        (t.starts_with("Civile ") || t.starts_with("Penale ")) && t.contains(" Num. ")
    });
    if !has_stamp && !text.lines().any(is_marker) {
        return None;
    }
    let mut pages = vec![String::new()];
    for line in text.lines() {
        if is_marker(line) {
            pages.push(String::new());
            continue;
        }
        let t = line.trim();
        if t.len() >= 5 && t.chars().all(|c| c == '=' || c == '-') {
            continue;
        }
        let page = pages.last_mut().expect("one page at least");
        page.push_str(line);
        page.push('\n');
    }
    // Empty pages stay: page numbers follow the markers.
    if pages.first().is_some_and(|p| p.trim().is_empty()) && pages.len() > 1 {
        pages.remove(0);
    }
    Some(pages)
}

/// PDF text layer, with OCR for the pages that have none (a wholly scanned PDF is OCRed
/// throughout). OCRed pages go through the same cleaning as the text layer (stamps,
/// watermarks, running headers). When some pages have a text layer, OCR trouble on the others
/// (a blank page, missing language data) is recorded, not fatal. Encrypted, corrupt and
/// unsupported PDFs are refused with the reason.
pub fn pdf_with_ocr(bytes: &[u8], cfg: &ocr::OcrConfig) -> Result<TextDocument, String> {
    let mut raw = pdf::extract_pages(bytes).map_err(|e| e.to_string())?;
    let missing = pdf::pages_without_text(&raw);
    if missing.len() == raw.len() {
        return ocr::pdf_document(bytes, cfg)
            .map_err(|e| format!("no text layer, and OCR failed: {e}"));
    }
    let mut notes: Vec<(String, String)> = Vec::new();
    if !missing.is_empty() {
        let list = |pages: &[usize]| {
            pages
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match ocr::ocr_pdf(bytes, Some(&missing), cfg) {
            Ok(pages) => {
                let mut read = Vec::new();
                for (page, p) in pages {
                    if let Some(slot) = raw.get_mut(page.wrapping_sub(1)) {
                        if !p.text.trim().is_empty() {
                            *slot = p.text;
                            read.push(page);
                        }
                    }
                }
                if !read.is_empty() {
                    notes.push(("ocr_pages".into(), list(&read)));
                }
            }
            Err(ocr::OcrError::NoText { .. }) => {}
            Err(e) => {
                tracing::warn!("OCR of pages {} failed: {e}", list(&missing));
                notes.push(("ocr_failed_pages".into(), list(&missing)));
            }
        }
    }
    let mut doc = pdf::document_from_pages(&raw).map_err(|e| e.to_string())?;
    doc.metadata.retain(|(k, _)| k != "pages_without_text");
    doc.metadata.extend(notes);
    Ok(doc)
}

/// Identity and metadata of a text document. A decision whose court, number and year are
/// known gets its canonical id (the one citations to it resolve to); anything else is
/// identified by its source.
fn text_document(
    doc_type: DocType,
    format: Format,
    source: &str,
    bytes: &[u8],
    mut doc: TextDocument,
) -> Document {
    let mut metadata = std::mem::take(&mut doc.metadata);
    let set = |metadata: &mut Vec<(String, String)>, k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            if !metadata.iter().any(|(key, _)| key == k) {
                metadata.push((k.to_string(), v));
            }
        }
    };
    if doc_type == DocType::Jurisprudence {
        let m = crate::chunk::section::sections(&doc).1;
        set(&mut metadata, "court", m.court);
        set(&mut metadata, "section", m.section);
        set(&mut metadata, "kind", m.kind.map(|k| k.to_lowercase()));
        set(&mut metadata, "number", m.number);
        set(&mut metadata, "year", m.year);
        set(&mut metadata, "date", m.date);
        set(&mut metadata, "ecli", m.ecli);
        if !m.judges.is_empty() {
            set(&mut metadata, "judges", Some(m.judges.join("; ")));
        }
    }
    set(&mut metadata, "format", Some(format.as_str().to_string()));
    let get = |k: &str| {
        metadata
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let decision = match (
        get("court").and_then(|c| crate::enrich::decisions::court_code(&c)),
        get("number"),
        get("year"),
    ) {
        (Some(court), Some(number), Some(year)) if doc_type == DocType::Jurisprudence => {
            let area = get("area").and_then(|a| match a.to_lowercase().as_str() {
                "civile" | "civ" => Some("civ"),
                "penale" | "pen" => Some("pen"),
                _ => None,
            });
            // Civil and criminal Cassazione decisions are numbered apart: without the area
            // the id would not be unique, so such a decision keeps its source as identity.
            if court == "cass" && area.is_none() {
                None
            } else {
                Some((
                    crate::enrich::decisions::decision_id(court, area, &number, &year),
                    court,
                    area,
                    number,
                    year,
                ))
            }
        }
        _ => None,
    };
    let id = decision
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| format!("source:{source}"));
    // An identified decision is titled by court, kind and number (a title from the file may
    // name the parties: personal data); anything else keeps the title it carries.
    let canonical_title = decision.as_ref().map(|(_, court, area, number, year)| {
        let court = match (*court, *area) {
            ("cass", Some("civ")) => "Cass. civ.".to_string(),
            ("cass", Some("pen")) => "Cass. pen.".to_string(),
            ("cass", None) => "Cass.".to_string(),
            ("cost", _) => "Corte cost.".to_string(),
            (other, _) => other.to_string(),
        };
        let section = get("section").map(|s| format!(" {s}")).unwrap_or_default();
        let kind = get("kind").map(|k| format!(" {k}")).unwrap_or_default();
        format!("{court}{section}{kind} n. {number}/{year}")
    });
    let title = canonical_title.or_else(|| get("title")).or_else(|| {
        std::path::Path::new(source)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
    });
    if let Some((id, court, _, number, year)) = &decision {
        set(&mut metadata, "decision_id", Some(id.clone()));
        set(
            &mut metadata,
            "decision_key",
            Some(crate::enrich::decisions::decision_key(court, number, year)),
        );
    }
    Document {
        info: DocumentInfo {
            id,
            source: source.to_string(),
            doc_type,
            content_hash: sha256_hex(bytes),
            bytes: bytes.len() as u64,
            title,
            meta: NormMeta::default(),
            metadata,
            text: Some(doc.text.clone()),
        },
        body: DocumentBody::Text(doc),
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
            metadata: Vec::new(),
            text: None,
        },
        body: DocumentBody::Akn(doc),
    }
}

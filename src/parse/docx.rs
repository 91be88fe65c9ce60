//! DOCX (Word) → [`TextDocument`] with `docx-rs`.
//!
//! Body paragraphs in order; headings by paragraph style (the style's name "heading N",
//! "Title", its outline level, or a localised style id such as `Titolo1`, `Heading2`,
//! `Titolo`) or by the paragraph's own outline level; list paragraphs (numbering, or a
//! "List …" / `Paragrafoelenco` style) → `ListItem`; tables → `Table` (cells " | ", rows "\n";
//! a cell's paragraphs joined by spaces). Content controls (`w:sdt`) are read through; table
//! of contents paragraphs (`TOC …` styles), deleted and moved-from text, hidden runs, field
//! instructions, comments, footnotes, headers and footers are not part of the text.
//!
//! Metadata from `docProps/core.xml`: `title`, `author` (one per `;`-separated creator),
//! `date` (created), `modified`, `language`, `subject`, `description`, `keywords`; when the
//! core title (author, date) is empty, the first `Title` (`Author`, `Date`) styled paragraph.
//!
//! Zip bombs: before `docx-rs` sees the bytes, every entry of the archive is checked: the sizes
//! the central directory declares (`docx-rs` allocates what they say), then the bytes each
//! entry really inflates to, counted while inflating into a sink. Over
//! [`DocxLimits::max_total_uncompressed`] in all, or an entry inflating more than
//! [`DocxLimits::max_ratio`] times its compressed size (past [`DocxLimits::ratio_floor`]), or
//! more than [`DocxLimits::max_entries`] entries → [`DocxError::ZipBomb`].
//!
//! Hangs and crashes: docx-rs 0.4 loops forever on some inputs (it ignores the end of the XML
//! input: a truncated part, a part whose root is not the one it waits for, another Office
//! format such as .xlsx) and recurses on nested tables. So every XML part is first read with
//! docx-rs's own XML reader: it must be well formed, have one root, nest at most
//! [`MAX_XML_DEPTH`] deep; `.rels` parts must be `<Relationships>`, the styles part
//! `<styles>`, the main part a `<document>` → else [`DocxError::CorruptEntry`] or
//! [`DocxError::Docx`]. A panic inside the guard or docx-rs (it unwraps read errors and
//! indexes attributes) is caught and returned as [`DocxError::Panicked`].

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use docx_rs::{
    DocumentChild, Paragraph, ParagraphChild, Run, RunChild, StructuredDataTag,
    StructuredDataTagChild, Table, TableCellContent, TableChild, TableRowChild,
};
use regex::Regex;

use crate::parse::textdoc::{BlockKind, TextDocument};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocxError {
    #[error("empty input: no DOCX")]
    Empty,
    #[error("not a DOCX: not a readable ZIP archive ({0})")]
    NotZip(String),
    #[error("corrupt DOCX: entry {name}: {reason}")]
    CorruptEntry { name: String, reason: String },
    #[error("DOCX refused as a possible zip bomb: {0}")]
    ZipBomb(String),
    /// A part refers to an entity its DTD declares (entity expansion, external entity).
    #[error("DOCX refused: entry {name}: {reason}")]
    Entity { name: String, reason: String },
    #[error("unreadable DOCX content: {0}")]
    Docx(String),
    #[error("no readable text in the DOCX")]
    NoText,
    #[error("DOCX parser crashed: {0}")]
    Panicked(String),
}

/// Caps on what a DOCX may inflate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocxLimits {
    /// All entries together, inflated (declared and real).
    pub max_total_uncompressed: u64,
    /// Largest inflated/compressed ratio for one entry…
    pub max_ratio: u64,
    /// …once the entry inflates past this many bytes (small entries may compress very well).
    pub ratio_floor: u64,
    pub max_entries: usize,
}

impl Default for DocxLimits {
    fn default() -> Self {
        DocxLimits {
            max_total_uncompressed: 200 * 1024 * 1024,
            max_ratio: 200,
            ratio_floor: 1024 * 1024,
            max_entries: 10_000,
        }
    }
}

/// Parse a DOCX with the default [`DocxLimits`].
pub fn parse_docx(bytes: &[u8]) -> Result<TextDocument, DocxError> {
    parse_docx_with_limits(bytes, &DocxLimits::default())
}

pub fn parse_docx_with_limits(
    bytes: &[u8],
    limits: &DocxLimits,
) -> Result<TextDocument, DocxError> {
    if bytes.is_empty() {
        return Err(DocxError::Empty);
    }
    // The zip and XML readers used by the guard are third-party code too: all under the
    // panic guard.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let core = check_zip(bytes, limits)?;
        let options = docx_rs::ReadDocxOptions::default().with_image_previews(false);
        docx_rs::read_docx_with_options(bytes, options)
            .map(|docx| extract(&docx, core.as_deref()))
            .map_err(|e| DocxError::Docx(e.to_string()))
    }));
    let doc = outcome.map_err(|p| DocxError::Panicked(crate::parse::panic_message(p)))??;
    if doc.blocks.is_empty() {
        return Err(DocxError::NoText);
    }
    Ok(doc)
}

// ----- the zip guard -----------------------------------------------------------------------

const MIB: f64 = 1024.0 * 1024.0;

/// Check every entry's declared and real inflated size and every XML part's shape (see the
/// module doc); return the text of the core properties part when there is one (read here,
/// since the archive is open anyway).
fn check_zip(bytes: &[u8], limits: &DocxLimits) -> Result<Option<String>, DocxError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| DocxError::NotZip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(DocxError::ZipBomb(format!(
            "{} entries (at most {})",
            archive.len(),
            limits.max_entries
        )));
    }
    let too_big = |what: &str, n: u64| {
        DocxError::ZipBomb(format!(
            "{what} {:.1} MiB uncompressed (at most {:.1} MiB)",
            n as f64 / MIB,
            limits.max_total_uncompressed as f64 / MIB
        ))
    };
    let absurd_ratio = |size: u64, compressed: u64| {
        size > limits.ratio_floor && size / compressed.max(1) > limits.max_ratio
    };
    let ratio_error = |name: &str, size: u64, compressed: u64| {
        DocxError::ZipBomb(format!(
            "entry {name} inflates {size} bytes from {compressed} (ratio over {})",
            limits.max_ratio
        ))
    };

    // 1. What the central directory declares (docx-rs pre-allocates it), before inflating.
    let mut declared = 0u64;
    let mut core_name: Option<String> = None;
    for i in 0..archive.len() {
        let f = archive
            .by_index_raw(i)
            .map_err(|e| DocxError::CorruptEntry {
                name: format!("#{i}"),
                reason: e.to_string(),
            })?;
        let (size, compressed) = (f.size(), f.compressed_size());
        if absurd_ratio(size, compressed) {
            return Err(ratio_error(f.name(), size, compressed));
        }
        declared = declared.saturating_add(size);
        if declared > limits.max_total_uncompressed {
            return Err(too_big("entries declare", declared));
        }
        if f.name().eq_ignore_ascii_case("docProps/core.xml") {
            core_name = Some(f.name().to_string());
        }
    }

    // 2. What the entries really inflate to: a lying header does not get past this. XML parts
    //    are checked for well-formedness on the way (docx-rs loops forever on some malformed
    //    XML, e.g. a truncated document.xml: it never looks for the end of the input).
    let mut inflated = 0u64;
    let mut core = None;
    let mut package_rels = None;
    let mut part_rels: HashMap<String, String> = HashMap::new();
    let mut roots: HashMap<String, String> = HashMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| DocxError::CorruptEntry {
            name: format!("#{i}"),
            reason: e.to_string(),
        })?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let compressed = f.compressed_size();
        let budget = limits.max_total_uncompressed - inflated;
        let lower = name.to_ascii_lowercase();
        let is_xml = lower.ends_with(".xml") || lower.ends_with(".rels");
        let mut kept = Vec::new();
        let mut sink = CountingSink {
            n: 0,
            keep: is_xml.then_some(&mut kept),
        };
        // Never more than the entry declares (step 1 kept those under the cap): a header that
        // lies low is caught one byte past its claim, not after inflating up to the cap.
        let declared = f.size();
        std::io::copy(&mut (&mut f).take(budget.min(declared) + 1), &mut sink).map_err(|e| {
            DocxError::CorruptEntry {
                name: name.clone(),
                reason: e.to_string(),
            }
        })?;
        let n = sink.n;
        if n > declared {
            return Err(DocxError::ZipBomb(format!(
                "entry {name} inflates past the {declared} bytes its header declares (a lying header)"
            )));
        }
        if n > budget {
            return Err(too_big(
                &format!("entry {name} inflates past the cap:"),
                inflated + n,
            ));
        }
        if absurd_ratio(n, compressed) {
            return Err(ratio_error(&name, n, compressed));
        }
        inflated += n;
        if is_xml {
            let root = check_xml(&name, &kept)?;
            // docx-rs reads every relationships part until a closing </Relationships>.
            if lower.ends_with(".rels") && root != "Relationships" {
                return Err(DocxError::CorruptEntry {
                    name,
                    reason: format!("a relationships part whose root is <{root}>"),
                });
            }
            if core_name.as_deref() == Some(name.as_str()) {
                core = Some(String::from_utf8_lossy(&kept).into_owned());
            } else if name == "_rels/.rels" {
                package_rels = Some(String::from_utf8_lossy(&kept).into_owned());
            } else if lower.ends_with(".rels") {
                part_rels.insert(name.clone(), String::from_utf8_lossy(&kept).into_owned());
            }
            roots.insert(name.trim_start_matches('/').to_string(), root);
        }
    }

    // 3. The main part must be a WordprocessingML document (docx-rs hangs on other Office
    //    files: an .xlsx's workbook, an .pptx's presentation).
    let main = package_rels
        .as_deref()
        .and_then(|r| {
            relationships(r)
                .into_iter()
                .find(|(ty, _)| ty.ends_with("/officeDocument"))
                .map(|(_, target)| target)
        })
        .unwrap_or_else(|| "word/document.xml".to_string());
    let main = main.replace('\\', "/");
    let main = main.trim_start_matches('/');
    match roots.get(main) {
        Some(root) if root == "document" => {}
        Some(root) => {
            return Err(DocxError::Docx(format!(
                "main part {main} is a <{root}>, not a Word document (another Office format?)"
            )))
        }
        None => {
            return Err(DocxError::Docx(format!(
                "no Word document part ({main} missing)"
            )))
        }
    }
    // 4. docx-rs reads the styles part until a closing </styles>.
    let (dir, file) = main.rsplit_once('/').unwrap_or(("", main));
    let rels_name = if dir.is_empty() {
        format!("_rels/{file}.rels")
    } else {
        format!("{dir}/_rels/{file}.rels")
    };
    if let Some(rels) = part_rels.get(&rels_name) {
        for (ty, target) in relationships(rels) {
            if !ty.ends_with("/styles") {
                continue;
            }
            let target = target.replace('\\', "/");
            let path = match target.strip_prefix('/') {
                Some(abs) => abs.to_string(),
                None if dir.is_empty() => target,
                None => format!("{dir}/{target}"),
            };
            if let Some(root) = roots.get(&path) {
                if root != "styles" {
                    return Err(DocxError::CorruptEntry {
                        name: path,
                        reason: format!("a styles part whose root is <{root}>"),
                    });
                }
            }
        }
    }
    Ok(core)
}

/// Deepest XML nesting accepted: docx-rs reads nested tables recursively (a stack overflow
/// aborts the process, no catch_unwind helps). Real documents stay far below (text boxes in
/// drawings in nested tables: ~40).
const MAX_XML_DEPTH: usize = 128;

/// Well-formedness as docx-rs's own XML reader sees it: no reader error, every element
/// closed, one root element, nesting within [`MAX_XML_DEPTH`]. Returns the root element's
/// local name.
fn check_xml(name: &str, data: &[u8]) -> Result<String, DocxError> {
    let data = data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(data);
    let bad = |reason: String| DocxError::CorruptEntry {
        name: name.to_string(),
        reason,
    };
    let mut r = docx_rs::EventReader::new(data);
    let mut depth = 0usize;
    let mut root = None;
    loop {
        match r.next_event() {
            Ok(docx_rs::XmlEvent::StartElement { name: n, .. }) => {
                if depth == 0 && root.is_some() {
                    return Err(bad("malformed XML: more than one root element".into()));
                }
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(bad(format!(
                        "XML nested deeper than {MAX_XML_DEPTH} elements"
                    )));
                }
                if root.is_none() {
                    root = Some(n.local_name);
                }
            }
            Ok(docx_rs::XmlEvent::EndElement { .. }) => {
                if depth == 0 {
                    return Err(bad("malformed XML: end tag without a start".into()));
                }
                depth -= 1;
            }
            Ok(docx_rs::XmlEvent::EndDocument) => break,
            Ok(_) => {}
            Err(e) => {
                let message = e.to_string();
                if let Some(reason) = crate::parse::akn::unrecognized_entity(&message)
                    .and_then(|entity| crate::parse::akn::entity_refusal(data, entity))
                {
                    return Err(DocxError::Entity {
                        name: name.to_string(),
                        reason,
                    });
                }
                return Err(bad(format!("malformed XML: {message}")));
            }
        }
    }
    if depth != 0 {
        return Err(bad(format!(
            "malformed XML: {depth} element(s) never closed (truncated?)"
        )));
    }
    root.ok_or_else(|| bad("malformed XML: no root element".into()))
}

fn rel_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?s)<(?:[A-Za-z0-9_]+:)?Relationship\s[^>]*>")
}
fn attr_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')"#)
}

/// (Type, Target) of each relationship in a `.rels` part.
fn relationships(rels: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in rel_re().find_iter(rels) {
        let mut ty = String::new();
        let mut target = String::new();
        for c in attr_re().captures_iter(m.as_str()) {
            let v = c.get(2).or(c.get(3)).map_or("", |v| v.as_str());
            match &c[1] {
                "Type" => ty = unescape_xml(v),
                "Target" => target = unescape_xml(v),
                _ => {}
            }
        }
        out.push((ty, target));
    }
    out
}

struct CountingSink<'a> {
    n: u64,
    keep: Option<&'a mut Vec<u8>>,
}

impl std::io::Write for CountingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.n += buf.len() as u64;
        if let Some(k) = self.keep.as_mut() {
            k.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ----- styles --------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct StyleInfo {
    heading: Option<u8>,
    list: bool,
    toc: bool,
    title: bool,
    author: bool,
    date: bool,
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("static regex"))
}

fn heading_id_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)^(?:heading|titolo|titre|berschrift|[uü]berschrift|t[ií]tulo|kop)\s*([1-9])$",
    )
}
fn title_id_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?i)^(?:title|titolo|titel|titre|t[ií]tulo)$")
}
fn list_id_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)^(?:list|elenco|paragrafoelenco|puntoelenco|numeroelenco|listenabsatz)",
    )
}
fn toc_id_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)^(?:toc|sommario|indice|titolosommario|verzeichnis)",
    )
}

fn style_map(docx: &docx_rs::Docx) -> HashMap<String, StyleInfo> {
    let mut map = HashMap::new();
    for s in &docx.styles.styles {
        let id = s.style_id.as_str();
        let name = &s.name;
        let toc = name.starts_with("toc") || name.starts_with("TOC") || toc_id_re().is_match(id);
        let title = name.starts_with("Title") || title_id_re().is_match(id);
        let heading = if toc {
            None
        } else if title {
            Some(1)
        } else if name.is_heading() {
            name.get_heading_number()
                .and_then(|n| u8::try_from(n).ok())
                .filter(|n| (1..=9).contains(n))
        } else {
            None
        }
        .or_else(|| {
            if toc {
                return None;
            }
            s.paragraph_property
                .outline_lvl
                .as_ref()
                .filter(|o| o.v < 9)
                .map(|o| o.v as u8 + 1)
        })
        .or_else(|| {
            heading_id_re()
                .captures(id)
                .and_then(|c| c[1].parse::<u8>().ok())
        });
        let list = name.starts_with("List")
            || list_id_re().is_match(id)
            || s.paragraph_property
                .numbering_property
                .as_ref()
                .is_some_and(|n| n.id.as_ref().is_some_and(|i| i.id > 0));
        map.insert(
            s.style_id.clone(),
            StyleInfo {
                heading,
                list,
                toc,
                title,
                author: id.eq_ignore_ascii_case("author"),
                date: id.eq_ignore_ascii_case("date"),
            },
        );
    }
    map
}

/// What a paragraph is, from its style, its own outline level and numbering.
fn classify(p: &Paragraph, styles: &HashMap<String, StyleInfo>) -> (Option<BlockKind>, StyleInfo) {
    let id = p.property.style.as_ref().map(|s| s.val.as_str());
    let info = id
        .and_then(|id| styles.get(id).copied())
        .or_else(|| {
            // Style ids not defined in styles.xml: go by the id alone.
            id.map(|id| StyleInfo {
                heading: heading_id_re()
                    .captures(id)
                    .and_then(|c| c[1].parse::<u8>().ok())
                    .or_else(|| title_id_re().is_match(id).then_some(1)),
                list: list_id_re().is_match(id),
                toc: toc_id_re().is_match(id),
                title: title_id_re().is_match(id),
                ..StyleInfo::default()
            })
        })
        .unwrap_or_default();
    if info.toc {
        return (None, info);
    }
    let own_outline = p
        .property
        .outline_lvl
        .as_ref()
        .filter(|o| o.v < 9)
        .map(|o| o.v as u8 + 1);
    if let Some(level) = info.heading.or(own_outline) {
        return (Some(BlockKind::Heading(level)), info);
    }
    let numbered = p
        .property
        .numbering_property
        .as_ref()
        .is_some_and(|n| n.id.as_ref().is_some_and(|i| i.id > 0));
    if numbered || info.list {
        return (Some(BlockKind::ListItem), info);
    }
    (Some(BlockKind::Paragraph), info)
}

// ----- text ----------------------------------------------------------------------------------

/// Bound on this module's own recursion (tables in tables, content controls in content
/// controls); the XML check already refuses deeper documents.
const MAX_DEPTH: usize = MAX_XML_DEPTH;

fn run_text(r: &Run, out: &mut String) {
    if r.run_property.vanish.is_some() {
        return;
    }
    for c in &r.children {
        match c {
            RunChild::Text(t) => out.push_str(&t.text),
            RunChild::Tab(_) | RunChild::PTab(_) => out.push('\t'),
            RunChild::Break(_) | RunChild::CarriageReturn(_) => out.push('\n'),
            _ => {}
        }
    }
}

fn paragraph_children_text(children: &[ParagraphChild], out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for c in children {
        match c {
            ParagraphChild::Run(r) => run_text(r, out),
            ParagraphChild::Insert(i) => {
                for ic in &i.children {
                    if let docx_rs::InsertChild::Run(r) = ic {
                        run_text(r, out);
                    }
                }
            }
            ParagraphChild::MoveTo(m) => {
                for mc in &m.children {
                    if let docx_rs::MoveToChild::Run(r) = mc {
                        run_text(r, out);
                    }
                }
            }
            ParagraphChild::Hyperlink(h) => paragraph_children_text(&h.children, out, depth + 1),
            ParagraphChild::StructuredDataTag(s) => sdt_inline_text(s, out, depth + 1),
            _ => {}
        }
    }
}

fn sdt_inline_text(s: &StructuredDataTag, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for c in &s.children {
        match c {
            StructuredDataTagChild::Run(r) => run_text(r, out),
            StructuredDataTagChild::Paragraph(p) => {
                paragraph_children_text(&p.children, out, depth + 1);
                out.push(' ');
            }
            StructuredDataTagChild::Table(t) => {
                out.push_str(&table_text(t, depth + 1).replace('\n', " / "));
                out.push(' ');
            }
            StructuredDataTagChild::StructuredDataTag(s) => sdt_inline_text(s, out, depth + 1),
            _ => {}
        }
    }
}

/// Tabs to spaces, runs of spaces collapsed, line breaks kept, lines trimmed.
fn tidy(s: &str) -> String {
    s.split('\n')
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn paragraph_text(p: &Paragraph, depth: usize) -> String {
    let mut s = String::new();
    paragraph_children_text(&p.children, &mut s, depth);
    tidy(&s)
}

/// Rows "\n", cells " | "; a cell's paragraphs joined with spaces; a nested table's rows
/// joined with " / " inside its cell.
fn table_text(t: &Table, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return String::new();
    }
    let mut rows = Vec::new();
    for TableChild::TableRow(row) in &t.rows {
        let cells: Vec<String> = row
            .cells
            .iter()
            .map(|TableRowChild::TableCell(cell)| {
                let parts: Vec<String> = cell
                    .children
                    .iter()
                    .map(|c| match c {
                        TableCellContent::Paragraph(p) => paragraph_text(p, depth + 1),
                        TableCellContent::Table(t) => table_text(t, depth + 1).replace('\n', " / "),
                        TableCellContent::StructuredDataTag(s) => {
                            let mut out = String::new();
                            sdt_inline_text(s, &mut out, depth + 1);
                            out
                        }
                        TableCellContent::TableOfContents(_) => String::new(),
                    })
                    .collect();
                parts
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push(cells.join(" | "));
        }
    }
    rows.join("\n")
}

#[derive(Default)]
struct BodyMeta {
    title: Option<String>,
    author: Option<String>,
    date: Option<String>,
}

struct Body<'a> {
    styles: &'a HashMap<String, StyleInfo>,
    blocks: Vec<(BlockKind, u32, String)>,
    meta: BodyMeta,
}

impl Body<'_> {
    fn paragraph(&mut self, p: &Paragraph) {
        let (kind, info) = classify(p, self.styles);
        let Some(kind) = kind else {
            return;
        };
        let text = paragraph_text(p, 0);
        if text.is_empty() {
            return;
        }
        let slot = if info.title {
            Some(&mut self.meta.title)
        } else if info.author {
            Some(&mut self.meta.author)
        } else if info.date {
            Some(&mut self.meta.date)
        } else {
            None
        };
        if let Some(slot) = slot {
            if slot.is_none() {
                *slot = Some(text.replace('\n', " "));
            }
        }
        self.blocks.push((kind, 0, text));
    }

    fn table(&mut self, t: &Table) {
        let text = table_text(t, 0);
        if !text.is_empty() {
            self.blocks.push((BlockKind::Table, 0, text));
        }
    }

    fn sdt(&mut self, s: &StructuredDataTag, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let mut inline = String::new();
        for c in &s.children {
            match c {
                StructuredDataTagChild::Paragraph(p) => self.paragraph(p),
                StructuredDataTagChild::Table(t) => self.table(t),
                StructuredDataTagChild::StructuredDataTag(s) => self.sdt(s, depth + 1),
                StructuredDataTagChild::Run(r) => run_text(r, &mut inline),
                _ => {}
            }
        }
        let inline = tidy(&inline);
        if !inline.is_empty() {
            self.blocks.push((BlockKind::Paragraph, 0, inline));
        }
    }
}

fn extract(docx: &docx_rs::Docx, core: Option<&str>) -> TextDocument {
    let styles = style_map(docx);
    let mut body = Body {
        styles: &styles,
        blocks: Vec::new(),
        meta: BodyMeta::default(),
    };
    for child in &docx.document.children {
        match child {
            DocumentChild::Paragraph(p) => body.paragraph(p),
            DocumentChild::Table(t) => body.table(t),
            DocumentChild::StructuredDataTag(s) => body.sdt(s, 0),
            _ => {}
        }
    }
    let mut metadata = core.map(core_properties).unwrap_or_default();
    for (key, value) in [
        ("title", body.meta.title.take()),
        ("author", body.meta.author.take()),
        ("date", body.meta.date.take()),
    ] {
        if let Some(v) = value {
            if !metadata.iter().any(|(k, _)| k == key) {
                metadata.push((key.to_string(), v));
            }
        }
    }
    // Canonical key order (stable: several authors keep theirs).
    metadata.sort_by_key(|(k, _)| {
        CORE_KEYS
            .iter()
            .position(|c| c == k)
            .unwrap_or(CORE_KEYS.len())
    });
    TextDocument::from_blocks(body.blocks, metadata, 0)
}

// ----- core properties -----------------------------------------------------------------------

fn core_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?s)<(?:[A-Za-z0-9_]+:)?(title|creator|subject|description|keywords|language|created|modified)(?:\s[^>]*)?>(.*?)</(?:[A-Za-z0-9_]+:)?(?:title|creator|subject|description|keywords|language|created|modified)>",
    )
}

/// Metadata keys, in the order they are listed.
const CORE_KEYS: [&str; 8] = [
    "title",
    "author",
    "date",
    "modified",
    "language",
    "subject",
    "description",
    "keywords",
];

/// `docProps/core.xml` → metadata in the [`CORE_KEYS`] order.
fn core_properties(xml: &str) -> Vec<(String, String)> {
    let mut found: HashMap<&'static str, Vec<String>> = HashMap::new();
    for c in core_re().captures_iter(xml) {
        let value = unescape_xml(c[2].trim());
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        if value.is_empty() {
            continue;
        }
        let key = match &c[1] {
            "title" => "title",
            "creator" => "author",
            "created" => "date",
            "modified" => "modified",
            "language" => "language",
            "subject" => "subject",
            "description" => "description",
            "keywords" => "keywords",
            _ => continue,
        };
        let values: Vec<String> = if key == "author" {
            value
                .split(';')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect()
        } else {
            vec![value]
        };
        found.entry(key).or_default().extend(values);
    }
    let mut out = Vec::new();
    for key in CORE_KEYS {
        if let Some(vs) = found.remove(key) {
            let vs: Vec<String> = if key == "author" {
                vs
            } else {
                vs.into_iter().take(1).collect()
            };
            for v in vs {
                out.push((key.to_string(), v));
            }
        }
    }
    out
}

fn unescape_xml(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent.strip_prefix('#').and_then(|n| {
                let v = match n.strip_prefix(['x', 'X']) {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => n.parse().ok(),
                };
                v.and_then(char::from_u32)
            }),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const ONDATA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/docx/ondata_email_schema_dati.docx"
    );
    const COMMENTS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/docx/docling_docx_comments.docx"
    );

    fn count(doc: &TextDocument, pred: impl Fn(BlockKind) -> bool) -> usize {
        doc.blocks.iter().filter(|b| pred(b.kind)).count()
    }

    #[test]
    fn ondata_docx_tables_paragraphs_and_text() {
        let bytes = std::fs::read(ONDATA).expect("fixture");
        let doc = parse_docx(&bytes).expect("parses");

        // MANIFEST: docx-rs sees 129 top-level paragraphs and 12 tables. Counted here: 13 of
        // the 129 `w:p` have no text (12 spacers before page breaks, one holding a single
        // space) and give no block; the other 116 are, by style, 1 Title (→ Heading(1)),
        // 7 Heading2, 12 Heading3, 3 Heading4, 36 numbered list paragraphs (→ ListItem) and
        // 57 FirstParagraph/BodyText/TableCaption/Subtitle paragraphs. The table of contents
        // (a content control holding a "TOC Heading" paragraph and an empty field) is no text.
        let raw = docx_rs::read_docx(&bytes).unwrap();
        let top_paragraphs = raw
            .document
            .children
            .iter()
            .filter(|c| matches!(c, DocumentChild::Paragraph(_)))
            .count();
        let table_rows: Vec<usize> = raw
            .document
            .children
            .iter()
            .filter_map(|c| match c {
                DocumentChild::Table(t) => Some(t.rows.len()),
                _ => None,
            })
            .collect();
        assert_eq!(top_paragraphs, 129);
        assert_eq!(table_rows, [2, 4, 19, 14, 9, 16, 5, 32, 2, 8, 12, 13]);
        assert_eq!(count(&doc, |k| k == BlockKind::Table), 12);
        assert_eq!(count(&doc, |k| k == BlockKind::Heading(1)), 1);
        assert_eq!(count(&doc, |k| k == BlockKind::Heading(2)), 7);
        assert_eq!(count(&doc, |k| k == BlockKind::Heading(3)), 12);
        assert_eq!(count(&doc, |k| k == BlockKind::Heading(4)), 3);
        assert_eq!(count(&doc, |k| k == BlockKind::ListItem), 36);
        assert_eq!(count(&doc, |k| k == BlockKind::Paragraph), 57);
        assert_eq!(count(&doc, |k| k != BlockKind::Table), 129 - 13);

        let heads: Vec<&str> = doc
            .blocks
            .iter()
            .filter(|b| matches!(b.kind, BlockKind::Heading(_)))
            .map(|b| doc.block_text(b))
            .take(4)
            .collect();
        assert_eq!(
            heads,
            [
                "Proposta Schema Dati sulla Violenza di Genere",
                "📝 Cronologia aggiornamenti",
                "Introduzione",
                "Supporto normativo aggiuntivo: la Legge 181/2025",
            ]
        );
        // An Italian sentence of the body, with the hyperlinked words ("la Legge 53/2022")
        // that docx-rs's own raw_text() leaves out.
        assert!(doc.text.contains(
            "Questa pagina definisce una proposta di schema dati da pubblicare sul tema dei \
             femminicidi"
        ));
        assert!(doc.text.contains(
            "Nuovo reato di femminicidio: L’articolo 1, lettera a) introduce il nuovo art. \
             577-bis CP (Femminicidio)."
        ));
        assert!(doc.text.contains(
            "Aggiunti 3 reati previsti dalla Direttiva UE 2024/1385 (stalking online, molestie \
             online, istigazione alla violenza/odio online)"
        ));
        // Tables: one line per row, cells joined by " | ".
        let tables: Vec<&str> = doc
            .blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Table)
            .map(|b| doc.block_text(b))
            .collect();
        let lines: Vec<usize> = tables.iter().map(|t| t.lines().count()).collect();
        assert_eq!(lines, table_rows);
        // Two of them are one-column boxes ("Nota…", "Reati aggiuntivi…"): no " | ".
        let single_column: Vec<usize> = (0..tables.len())
            .filter(|&i| !tables[i].contains(" | "))
            .collect();
        assert_eq!(single_column, [0, 8]);
        assert!(tables.contains(
            &"Codice | Valore\nFIS | Violenza fisica\nSES | Violenza sessuale\nPSI | Violenza \
              psicologica\nECO | Violenza economica"
        ));
        // Table of contents and footnotes are not in the text.
        assert!(!doc.text.contains("Indice"));
        assert_eq!(
            doc.metadata,
            vec![
                (
                    "title".to_string(),
                    "Proposta Schema Dati sulla Violenza di Genere".to_string()
                ),
                ("date".to_string(), "2026-01-07T15:43:18Z".to_string()),
                ("modified".to_string(), "2026-01-07T15:43:18Z".to_string()),
                ("language".to_string(), "it".to_string()),
            ]
        );
        for b in &doc.blocks {
            assert_eq!(&doc.text[b.start..b.end], doc.block_text(b));
        }
    }

    #[test]
    fn comments_docx_has_five_paragraphs_and_no_comment_text() {
        let bytes = std::fs::read(COMMENTS).expect("fixture");
        let doc = parse_docx(&bytes).expect("parses");
        let texts: Vec<(BlockKind, &str)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, doc.block_text(b)))
            .collect();
        assert_eq!(
            texts,
            [
                (BlockKind::Heading(1), "Document with Comments"),
                (
                    BlockKind::Paragraph,
                    "This is the first paragraph that has a comment attached to it."
                ),
                (
                    BlockKind::Paragraph,
                    "This second paragraph also has a reviewer annotation."
                ),
                (
                    BlockKind::Paragraph,
                    "This third paragraph has no comments attached to it."
                ),
                (
                    BlockKind::Paragraph,
                    "This paragraph has an anonymous comment."
                ),
            ]
        );
        // The comments exist in the file (docx-rs reads them) but not in the text.
        let raw = docx_rs::read_docx(&bytes).unwrap();
        let mut comment_text = String::new();
        for c in raw.comments.inner() {
            for child in &c.children {
                if let docx_rs::CommentChild::Paragraph(p) = child {
                    comment_text.push_str(&p.raw_text());
                    comment_text.push('\n');
                }
            }
        }
        assert!(!comment_text.trim().is_empty());
        for line in comment_text.lines().filter(|l| !l.trim().is_empty()) {
            assert!(!doc.text.contains(line.trim()), "comment {line:?} in body");
        }
        // Core properties: creator and dates; the empty title falls back to the Title paragraph.
        assert_eq!(
            doc.metadata,
            vec![
                ("title".to_string(), "Document with Comments".to_string()),
                ("author".to_string(), "python-docx".to_string()),
                ("date".to_string(), "2013-12-23T23:15:00Z".to_string()),
                ("modified".to_string(), "2013-12-23T23:15:00Z".to_string()),
                (
                    "description".to_string(),
                    "generated by python-docx".to_string()
                ),
            ]
        );
    }

    /// A minimal DOCX: the four parts docx-rs needs, with `document` as word/document.xml.
    fn docx_with(document: &[u8], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        w.start_file("[Content_Types].xml", opts).unwrap();
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).unwrap();
        w.start_file("_rels/.rels", opts).unwrap();
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#).unwrap();
        w.start_file("word/_rels/document.xml.rels", opts).unwrap();
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>"#).unwrap();
        w.start_file("word/document.xml", opts).unwrap();
        w.write_all(document).unwrap();
        w.finish().unwrap().into_inner()
    }

    const SMALL_DOC: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:pPr><w:pStyle w:val="Titolo1"/></w:pPr><w:r><w:t>Art. 1</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">Il presente decreto disciplina </w:t></w:r><w:r><w:rPr><w:vanish/></w:rPr><w:t>NASCOSTO</w:t></w:r><w:del><w:r><w:delText>CANCELLATO</w:delText></w:r></w:del><w:ins><w:r><w:t>la responsabilit&#224; degli enti.</w:t></w:r></w:ins></w:p><w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>a) i reati;</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>Art.</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Sanzione</w:t></w:r></w:p><w:p><w:r><w:t>pecuniaria</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:p><w:r><w:t>10</w:t></w:r></w:p></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl></w:body></w:document>"#;

    #[test]
    fn minimal_docx_styles_lists_tables_and_hidden_text() {
        let doc = parse_docx(&docx_with(SMALL_DOC, zip::CompressionMethod::Deflated)).unwrap();
        let texts: Vec<(BlockKind, &str)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, doc.block_text(b)))
            .collect();
        assert_eq!(
            texts,
            [
                (BlockKind::Heading(1), "Art. 1"),
                (
                    BlockKind::Paragraph,
                    "Il presente decreto disciplina la responsabilità degli enti."
                ),
                (BlockKind::ListItem, "a) i reati;"),
                // The empty last cell's separator stays; the block is trimmed.
                (BlockKind::Table, "Art. | Sanzione pecuniaria\n10 |"),
            ]
        );
        assert!(doc.metadata.is_empty());
    }

    #[test]
    fn zip_bomb_over_the_cap_is_refused() {
        // document.xml inflates to 201 MiB (> the 200 MiB default cap) from ~200 KiB.
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("word/document.xml", opts).unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..201 {
            w.write_all(&chunk).unwrap();
        }
        let bomb = w.finish().unwrap().into_inner();
        assert!(bomb.len() < 1024 * 1024, "bomb is {} bytes", bomb.len());
        let err = parse_docx(&bomb).unwrap_err();
        assert!(matches!(err, DocxError::ZipBomb(_)), "{err}");
        assert!(err.to_string().contains("zip bomb"), "{err}");
        // Without the ratio rule, the size cap alone refuses it.
        let limits = DocxLimits {
            max_ratio: u64::MAX,
            ..DocxLimits::default()
        };
        let err = parse_docx_with_limits(&bomb, &limits).unwrap_err();
        assert!(
            matches!(&err, DocxError::ZipBomb(m) if m.contains("201.0 MiB uncompressed (at most 200.0 MiB)")),
            "{err}"
        );
    }

    #[test]
    fn zip_bomb_with_absurd_ratio_is_refused() {
        // 20 MiB of one byte: well under the total cap, but ~1000:1.
        let body = vec![b'a'; 20 * 1024 * 1024];
        let bomb = docx_with(&body, zip::CompressionMethod::Deflated);
        let err = parse_docx(&bomb).unwrap_err();
        assert!(
            matches!(&err, DocxError::ZipBomb(m) if m.contains("word/document.xml") && m.contains("ratio")),
            "{err}"
        );
    }

    /// Patch the declared uncompressed size of every entry (local headers and central
    /// directory) to `size`: a lying header.
    fn lie_about_sizes(zip: &mut [u8], size: u32) {
        let mut i = 0;
        while i + 30 <= zip.len() {
            match &zip[i..i + 4] {
                [0x50, 0x4B, 0x03, 0x04] => {
                    zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes())
                }
                [0x50, 0x4B, 0x01, 0x02] if i + 46 <= zip.len() => {
                    zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes())
                }
                _ => {}
            }
            i += 1;
        }
    }

    #[test]
    fn zip_bomb_with_lying_sizes_is_refused_while_inflating() {
        let mut body = SMALL_DOC.to_vec();
        body.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
        let mut bomb = docx_with(&body, zip::CompressionMethod::Deflated);
        lie_about_sizes(&mut bomb, 100);
        let limits = DocxLimits {
            max_total_uncompressed: 1024 * 1024,
            max_ratio: u64::MAX,
            ..DocxLimits::default()
        };
        // Caught one byte past the lie, whatever the caps: never the 3 MiB in memory.
        for limits in [limits, DocxLimits::default()] {
            // Every header lies: the first entry read is caught.
            let err = parse_docx_with_limits(&bomb, &limits).unwrap_err();
            assert_eq!(
                err.to_string(),
                "DOCX refused as a possible zip bomb: entry [Content_Types].xml inflates past the \
                 100 bytes its header declares (a lying header)"
            );
        }
    }

    #[test]
    fn dtd_entities_in_a_part_are_refused_by_name() {
        let laughs = br#"<?xml version="1.0"?>
<!DOCTYPE w:document [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>"#;
        let err = parse_docx(&docx_with(laughs, zip::CompressionMethod::Deflated)).unwrap_err();
        assert!(
            matches!(&err, DocxError::Entity { name, .. } if name == "word/document.xml"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("&b; is an entity declared in the DTD"),
            "{err}"
        );
        let xxe = br#"<?xml version="1.0"?>
<!DOCTYPE w:document [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"#;
        let err = parse_docx(&docx_with(xxe, zip::CompressionMethod::Deflated)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DOCX refused: entry word/document.xml: &x; is an external entity \
             (\"file:///etc/passwd\"), declared in the DTD: external entities are never read (XXE)"
        );
        // An entity nobody declared stays a malformed part.
        let undeclared = br#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&nope;</w:t></w:r></w:p></w:body></w:document>"#;
        let err = parse_docx(&docx_with(undeclared, zip::CompressionMethod::Deflated)).unwrap_err();
        assert!(matches!(err, DocxError::CorruptEntry { .. }), "{err:?}");
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert_eq!(parse_docx(b""), Err(DocxError::Empty));
        // Random bytes (deterministic xorshift).
        let mut x: u64 = 0x0123_4567_89AB_CDEF;
        for _ in 0..20 {
            let junk: Vec<u8> = (0..8192)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 40) as u8
                })
                .collect();
            assert!(matches!(parse_docx(&junk), Err(DocxError::NotZip(_))));
        }
        // Plain text is not a DOCX.
        let err = parse_docx("Art. 1 – Oggetto".as_bytes()).unwrap_err();
        assert!(matches!(err, DocxError::NotZip(_)));
        assert!(err.to_string().starts_with("not a DOCX"), "{err}");

        let good = std::fs::read(ONDATA).unwrap();
        // Truncated: the central directory at the end is gone.
        for cut in [good.len() / 2, good.len() - 10, 100] {
            let err = parse_docx(&good[..cut]).unwrap_err();
            assert!(matches!(err, DocxError::NotZip(_)), "cut {cut}: {err}");
        }
        // Central directory intact, deflate data of document.xml damaged.
        let mut damaged = docx_with(SMALL_DOC, zip::CompressionMethod::Deflated);
        let at = find(&damaged, b"word/document.xml").unwrap() + 40;
        for b in &mut damaged[at..at + 40] {
            *b ^= 0x5A;
        }
        let err = parse_docx(&damaged).unwrap_err();
        assert!(
            matches!(err, DocxError::CorruptEntry { ref name, .. } if name == "word/document.xml"),
            "{err}"
        );
        // A zip that is not a DOCX, and a DOCX whose XML is junk.
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("hello.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"ciao").unwrap();
        let not_docx = w.finish().unwrap().into_inner();
        assert!(matches!(parse_docx(&not_docx), Err(DocxError::Docx(_))));
        let junk_xml = docx_with(b"<w:document><w:body><w:p>", zip::CompressionMethod::Stored);
        assert!(parse_docx(&junk_xml).is_err());
        let no_text = docx_with(
            br#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p/></w:body></w:document>"#,
            zip::CompressionMethod::Stored,
        );
        assert_eq!(parse_docx(&no_text), Err(DocxError::NoText));
    }

    #[test]
    fn other_packages_and_bad_parts_are_refused_without_hanging() {
        // An .xlsx-like package: its main part is a <workbook> (docx-rs 0.4 hangs on it).
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file("[Content_Types].xml", opts).unwrap();
        w.write_all(
            br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
        )
        .unwrap();
        w.start_file("_rels/.rels", opts).unwrap();
        w.write_all(br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#).unwrap();
        w.start_file("xl/workbook.xml", opts).unwrap();
        w.write_all(
            br#"<workbook><sheets><sheet name="Foglio1" sheetId="1"/></sheets></workbook>"#,
        )
        .unwrap();
        let xlsx = w.finish().unwrap().into_inner();
        let err = parse_docx(&xlsx).unwrap_err();
        assert!(
            matches!(&err, DocxError::Docx(m) if m.contains("<workbook>")),
            "{err}"
        );

        // A styles part whose root is not <styles> (docx-rs waits for </styles> forever).
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in [
            ("[Content_Types].xml", &br#"<Types/>"#[..]),
            ("_rels/.rels", br#"<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#),
            ("word/_rels/document.xml.rels", br#"<Relationships><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#),
            ("word/styles.xml", br#"<w:sym xmlns:w="urn:w"><w:style w:styleId="x"/></w:sym>"#),
            ("word/document.xml", SMALL_DOC),
        ] {
            w.start_file(name, opts).unwrap();
            w.write_all(body).unwrap();
        }
        let bad_styles = w.finish().unwrap().into_inner();
        let err = parse_docx(&bad_styles).unwrap_err();
        assert!(
            matches!(&err, DocxError::CorruptEntry { name, .. } if name == "word/styles.xml"),
            "{err}"
        );

        // An empty relationships part, a relationships part with another root.
        for rels in [&b""[..], b"<Types/>"] {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            w.start_file("_rels/.rels", opts).unwrap();
            w.write_all(rels).unwrap();
            w.start_file("word/document.xml", opts).unwrap();
            w.write_all(SMALL_DOC).unwrap();
            let pkg = w.finish().unwrap().into_inner();
            let err = parse_docx(&pkg).unwrap_err();
            assert!(
                matches!(&err, DocxError::CorruptEntry { name, .. } if name == "_rels/.rels"),
                "{err}"
            );
        }
    }

    fn nested_tables(levels: usize) -> Vec<u8> {
        let mut x = String::from(
            r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#,
        );
        x.push_str(&"<w:tbl><w:tr><w:tc>".repeat(levels));
        x.push_str("<w:p><w:r><w:t>fondo</w:t></w:r></w:p>");
        x.push_str(&"</w:tc></w:tr></w:tbl>".repeat(levels));
        x.push_str("</w:body></w:document>");
        docx_with(x.as_bytes(), zip::CompressionMethod::Deflated)
    }

    #[test]
    fn deep_nesting_is_read_up_to_the_cap_and_refused_past_it() {
        // 2 + 3 × 41 + 3 = 128 levels of XML, the cap: read. docx-rs reads nested tables
        // recursively; this depth needs under 1 MiB of stack (threads get 2 MiB), while 83
        // nested tables already need 2 MiB: hence the cap.
        let doc = parse_docx(&nested_tables(41)).unwrap();
        assert_eq!(doc.blocks.len(), 1);
        assert_eq!(doc.blocks[0].kind, BlockKind::Table);
        assert_eq!(doc.text, "fondo");
        let err = parse_docx(&nested_tables(5_000)).unwrap_err();
        assert!(
            matches!(&err, DocxError::CorruptEntry { reason, .. } if reason.contains("nested deeper")),
            "{err}"
        );
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn core_properties_are_read() {
        let xml = r#"<cp:coreProperties xmlns:dc="x"><dc:title>Sentenza &amp; note</dc:title><dc:creator>Rossi; Bianchi</dc:creator><dcterms:created xsi:type="dcterms:W3CDTF">2024-01-02T00:00:00Z</dcterms:created><dc:subject/><cp:keywords>231, enti</cp:keywords></cp:coreProperties>"#;
        assert_eq!(
            core_properties(xml),
            vec![
                ("title".to_string(), "Sentenza & note".to_string()),
                ("author".to_string(), "Rossi".to_string()),
                ("author".to_string(), "Bianchi".to_string()),
                ("date".to_string(), "2024-01-02T00:00:00Z".to_string()),
                ("keywords".to_string(), "231, enti".to_string()),
            ]
        );
    }
}

//! PDF → [`TextDocument`] with `pdf-extract` (0.12), one page at a time.
//!
//! `pdf-extract` panics on purpose on PDFs it does not support (and on many corrupt ones), so
//! extraction runs under `catch_unwind` and a panic becomes [`PdfError::Panicked`], a rejection
//! of this one input. Whole-document extraction has been reported to hang: this module only
//! extracts page by page; a hard deadline (child process) is the caller's job.
//!
//! What is not the document's own text is removed before anything looks for headings:
//! - known stamps: the Cassazione page stamp block (`Civile Ord. Sez. 5 Num. 30636 Anno 2025`,
//!   `Presidente: …`, `Relatore: …`, `Data pubblicazione: …`) and the vertical watermark
//!   `Corte di Cassazione - copia non ufficiale`, which the extractor glues onto whatever line it
//!   lands on (`P.Q.M. Corte di Cassazione - copia non ufficiale`);
//! - generic: lines repeated at the top or bottom of most pages (running headers/footers), a
//!   suffix glued onto the last line of most pages (watermarks), page-number lines;
//! - end-of-line hyphenation (`ricor-` / `rente` → `ricorrente`), soft hyphens.
//!
//! Lines are then regrouped into paragraphs. On the Cassazione PDFs the extractor puts a blank
//! line after every line, so only blank lines beyond the document's usual spacing mark a
//! paragraph break; a paragraph also ends on a short line that ends a sentence, around a
//! heading-like line or a party's role (`-ricorrente-`), and before a numbered point. Inside
//! a paragraph, lines are joined with a space and runs of whitespace collapsed.
//!
//! Panics are caught here, but the default panic hook still prints them: callers that want a
//! quiet log run this under their own hook (as `parse::parse_with` does).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use regex::Regex;

use crate::parse::textdoc::{BlockKind, TextDocument};

/// Why a PDF was rejected.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The PDF is encrypted with a user password: its text cannot be read.
    #[error("PDF is encrypted (password required): cannot extract its text")]
    Encrypted,
    /// The extractor panicked on this input (unsupported or corrupt PDF).
    #[error("PDF extractor panicked (unsupported or corrupt PDF): {0}")]
    Panicked(String),
    /// Not a PDF, or a PDF whose structure cannot be read.
    #[error("malformed PDF: {0}")]
    Malformed(String),
    /// No page has a text layer (scanned document): the caller may OCR it.
    #[error("PDF has no text layer on any page (scanned?): OCR needed")]
    NoText,
}

/// Raw per-page text, as `pdf-extract` gives it (catch_unwind around pdf-extract).
pub fn extract_pages(bytes: &[u8]) -> Result<Vec<String>, PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::Malformed("empty input".into()));
    }
    let head = &bytes[..bytes.len().min(1024)];
    if find_bytes(head, b"%PDF-").is_none() {
        return Err(PdfError::Malformed(
            "not a PDF: no %PDF- header in the first 1024 bytes".into(),
        ));
    }
    let encrypted = declares_encryption(bytes);
    // A PDF ends with `%%EOF`: without it, a failure is most likely a cut-off download or copy.
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    let hint = if find_bytes(tail, b"%%EOF").is_none() {
        " (truncated? no %%EOF at the end)"
    } else {
        ""
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| extract_checked(bytes)));
    let outcome = match outcome {
        Ok(Err(Extract::Loop(why))) => return Err(PdfError::Malformed(why)),
        Ok(Err(Extract::Output(e))) => Ok(Err(e)),
        Ok(Ok(pages)) => Ok(Ok(pages)),
        Err(payload) => Err(payload),
    };
    match outcome {
        Ok(Ok(pages)) if pages.is_empty() => Err(if encrypted {
            PdfError::Encrypted
        } else {
            PdfError::Malformed(format!("no page could be read{hint}"))
        }),
        Ok(Ok(pages)) => Ok(pages
            .into_iter()
            .map(|p| p.replace("\r\n", "\n").replace('\r', "\n"))
            .collect()),
        Ok(Err(e)) => {
            let debug = format!("{e:?}");
            if debug.contains("Decryption") || debug.contains("InvalidPassword") {
                Err(PdfError::Encrypted)
            } else if encrypted {
                Err(PdfError::Malformed(format!("{e} (the PDF is encrypted)")))
            } else {
                Err(PdfError::Malformed(format!("{e}{hint}")))
            }
        }
        Err(payload) => {
            let msg = crate::parse::panic_message(payload);
            if encrypted {
                Err(PdfError::Panicked(format!("{msg} (the PDF is encrypted)")))
            } else {
                Err(PdfError::Panicked(format!("{msg}{hint}")))
            }
        }
    }
}

enum Extract {
    Output(pdf_extract::OutputError),
    /// A structure the extractor would follow without end.
    Loop(String),
}

/// `pdf_extract::extract_text_from_mem_by_pages`, with the document's structure checked for
/// loops the extractor follows without end (see [`structural_loop`]) between loading and
/// extracting.
fn extract_checked(bytes: &[u8]) -> Result<Vec<String>, Extract> {
    use pdf_extract::{Document, OutputError};
    let mut doc =
        Document::load_mem(bytes).map_err(|e| Extract::Output(OutputError::PdfError(e)))?;
    if doc.is_encrypted() {
        doc.decrypt("")
            .map_err(|e| Extract::Output(OutputError::PdfError(e)))?;
    }
    if let Some(why) = structural_loop(&doc) {
        return Err(Extract::Loop(why));
    }
    let mut pages = Vec::new();
    for page_num in 1.. {
        let mut text = String::new();
        {
            let mut out = pdf_extract::PlainTextOutput::new(&mut text);
            if pdf_extract::output_doc_page(&doc, &mut out, page_num).is_err() {
                break;
            }
        }
        pages.push(text);
    }
    Ok(pages)
}

/// Form XObjects drawn inside each other at most this deep (real documents: a handful).
const MAX_FORM_DEPTH: usize = 32;
/// Content streams one page may make the extractor run, counting every repeated drawing of a
/// form (forms drawing each other several times multiply: a "drawing bomb").
const MAX_FORM_RUNS: u64 = 100_000;

/// Why extracting this document would never end, if it would not: `pdf-extract` looks up a
/// page's inherited attributes up its `/Parent` chain with no cycle check (a looping page tree
/// hangs it), and draws form XObjects by recursion with no cycle or depth check (a form that
/// draws itself, directly or through others, overflows the stack: the process aborts).
fn structural_loop(doc: &pdf_extract::Document) -> Option<String> {
    use std::collections::{HashMap, HashSet};
    let pages = doc.get_pages();
    // Parent chains: each node is walked once; a chain that comes back on itself is a loop.
    let mut ends: HashSet<pdf_extract::ObjectId> = HashSet::new();
    for (num, id) in &pages {
        let mut path: Vec<pdf_extract::ObjectId> = vec![*id];
        let mut node = doc.get_dictionary(*id).ok();
        while let Some(dict) = node {
            let Ok(parent) = dict.get(b"Parent").and_then(|p| p.as_reference()) else {
                break;
            };
            if ends.contains(&parent) {
                break;
            }
            if path.contains(&parent) {
                return Some(format!(
                    "the page tree loops: page {num}'s /Parent chain comes back to object {} {} R",
                    parent.0, parent.1
                ));
            }
            path.push(parent);
            node = doc.get_dictionary(parent).ok();
        }
        ends.extend(path);
    }
    // Forms: how many content streams drawing a form runs (itself included), memoised per form
    // and resources in effect; a form met again while it is being drawn is a loop.
    let mut runs: HashMap<(pdf_extract::ObjectId, usize), u64> = HashMap::new();
    for (num, id) in &pages {
        let Some(resources) = inherited(doc, *id, b"Resources") else {
            continue;
        };
        // Which of the page's forms its content draws does not matter: count them all.
        let mut total = 1u64;
        for form in xobjects(doc, resources) {
            let mut stack = Vec::new();
            match form_runs(doc, form, resources, &mut stack, &mut runs) {
                Ok(n) => total = total.saturating_add(n),
                Err(why) => return Some(format!("page {num}: {why}")),
            }
            if total > MAX_FORM_RUNS {
                return Some(format!(
                    "page {num}: form XObjects draw each other over {MAX_FORM_RUNS} times"
                ));
            }
        }
    }
    None
}

/// A page attribute, looked up the `/Parent` chain (only called once the chains are known
/// not to loop).
fn inherited<'a>(
    doc: &'a pdf_extract::Document,
    page: pdf_extract::ObjectId,
    key: &[u8],
) -> Option<&'a pdf_extract::Dictionary> {
    let mut node = doc.get_dictionary(page).ok()?;
    loop {
        if let Ok(obj) = node.get(key) {
            return doc.dereference(obj).ok()?.1.as_dict().ok();
        }
        let parent = node.get(b"Parent").and_then(|p| p.as_reference()).ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
}

/// The XObjects a resource dictionary names: (name, object id).
fn xobjects<'a>(
    doc: &'a pdf_extract::Document,
    resources: &'a pdf_extract::Dictionary,
) -> Vec<(&'a [u8], pdf_extract::ObjectId)> {
    let Some(dict) = resources
        .get(b"XObject")
        .ok()
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok())
    else {
        return Vec::new();
    };
    dict.iter()
        .filter_map(|(name, o)| o.as_reference().ok().map(|id| (name.as_slice(), id)))
        .collect()
}

/// Content streams drawing form `form` (with `resources` in effect when it has none of its
/// own) makes the extractor run, itself included; `Err` when it loops or nests too deep.
fn form_runs(
    doc: &pdf_extract::Document,
    (name, form): (&[u8], pdf_extract::ObjectId),
    resources: &pdf_extract::Dictionary,
    stack: &mut Vec<pdf_extract::ObjectId>,
    runs: &mut std::collections::HashMap<(pdf_extract::ObjectId, usize), u64>,
) -> Result<u64, String> {
    let Ok(stream) = doc.get_object(form).and_then(|o| o.as_stream()) else {
        return Ok(0);
    };
    if stack.contains(&form) {
        return Err(format!(
            "form XObject /{} ({} {} R) draws itself: an endless drawing loop",
            String::from_utf8_lossy(name),
            form.0,
            form.1
        ));
    }
    if stack.len() >= MAX_FORM_DEPTH {
        return Err(format!("form XObjects nested deeper than {MAX_FORM_DEPTH}"));
    }
    // The extractor draws any XObject as a form, images too: an image's data may hold `Do`.
    let resources = stream
        .dict
        .get(b"Resources")
        .ok()
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok())
        .unwrap_or(resources);
    let key = (form, std::ptr::from_ref(resources) as usize);
    if let Some(n) = runs.get(&key) {
        return Ok(*n);
    }
    let mut total = 1u64;
    let data = stream
        .decompressed_content()
        .unwrap_or_else(|_| stream.content.clone());
    if find_bytes(&data, b"Do").is_some() {
        let named = xobjects(doc, resources);
        let ops = pdf_extract::content::Content::decode(&data)
            .map(|c| c.operations)
            .unwrap_or_default();
        stack.push(form);
        for op in ops.iter().filter(|op| op.operator == "Do") {
            let Some(drawn) = op.operands.first().and_then(|o| o.as_name().ok()) else {
                continue;
            };
            let Some(child) = named.iter().find(|(n, _)| *n == drawn) else {
                continue;
            };
            let n = form_runs(doc, *child, resources, stack, runs)?;
            total = total.saturating_add(n);
            if total > MAX_FORM_RUNS {
                break;
            }
        }
        stack.pop();
    }
    runs.insert(key, total);
    Ok(total)
}

/// 1-based numbers of the pages that have no text of their own (scanned pages, or pages whose
/// only text is a stamp/watermark): the caller may OCR them.
pub fn pages_without_text(pages: &[String]) -> Vec<usize> {
    clean_pages(pages)
        .iter()
        .enumerate()
        .filter(|(_, p)| !has_text(p))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Remove stamps, watermarks, repeated header/footer lines (a line repeated on most pages), fix
/// end-of-line hyphenation, normalise whitespace; keep page boundaries (one output string per
/// input page). Each output page is its paragraphs joined by "\n\n", a paragraph on one line.
/// Generic (works for any PDF), with the Cassazione patterns as known cases.
pub fn clean_pages(pages: &[String]) -> Vec<String> {
    // 1. Lines per page: known watermarks cut out, known stamp lines dropped, blank lines gone.
    let mut pages: Vec<Vec<Line>> = pages.iter().map(|p| page_lines(p)).collect();
    // 2. Page numbers at the top or bottom of a page.
    for lines in pages.iter_mut() {
        drop_page_numbers(lines);
    }
    // 3. Running headers/footers and glued watermarks repeated on most pages.
    drop_repeated_lines(&mut pages);
    strip_repeated_suffix(&mut pages);
    for lines in pages.iter_mut() {
        lines.retain(|l| !l.text.is_empty());
    }
    // 4. End-of-line hyphenation, inside pages and across page breaks.
    join_hyphenated(&mut pages);
    // 5. Paragraphs.
    let layout = layout(&pages);
    pages
        .iter()
        .map(|lines| paragraphs(lines, &layout).join("\n\n"))
        .collect()
}

/// Extract + clean + split into paragraph blocks ([`BlockKind::Paragraph`], 1-based page numbers),
/// with metadata read from the stamp before it is removed: `court` ("Corte di Cassazione"),
/// `area` ("civile"), `kind` ("ordinanza", "ordinanza interlocutoria", "sentenza", "decreto"),
/// `section` ("Sez. 5"), `number`, `year`, `presidente`, `relatore`, `data_pubblicazione`
/// (as printed, dd/mm/yyyy) and `date` (ISO). Pages without text (scanned) are listed in
/// `pages_without_text` ("2,5"); when no page has text the result is [`PdfError::NoText`].
/// A paragraph that runs over a page break is one block, on the page where it starts.
pub fn parse_pdf(bytes: &[u8]) -> Result<TextDocument, PdfError> {
    let raw = extract_pages(bytes)?;
    document_from_pages(&raw)
}

/// [`parse_pdf`] after extraction: clean raw page texts (stamps, running headers, watermarks,
/// hyphenation) into paragraph blocks with the stamp's metadata. Also used for decisions that
/// arrive as text already extracted from a PDF, page by page.
pub fn document_from_pages(raw: &[String]) -> Result<TextDocument, PdfError> {
    let raw = raw.to_vec();
    let mut metadata = stamp_metadata(&raw);
    let cleaned = clean_pages(&raw);
    let empty: Vec<String> = cleaned
        .iter()
        .enumerate()
        .filter(|(_, p)| !has_text(p))
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if empty.len() == cleaned.len() {
        return Err(PdfError::NoText);
    }
    if !empty.is_empty() {
        // Some pages are scanned: the caller may OCR them (1-based, comma-separated).
        metadata.push(("pages_without_text".into(), empty.join(",")));
    }
    let mut blocks: Vec<(BlockKind, u32, String)> = Vec::new();
    for (i, page) in cleaned.iter().enumerate() {
        let page_no = i as u32 + 1;
        let mut first = true;
        for para in page.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            if first {
                first = false;
                if let Some(last) = blocks.last_mut() {
                    if continues_on_next_page(&last.2, para) {
                        last.2.push(' ');
                        last.2.push_str(para);
                        continue;
                    }
                }
            }
            blocks.push((BlockKind::Paragraph, page_no, para.to_string()));
        }
    }
    Ok(TextDocument::from_blocks(
        blocks,
        metadata,
        raw.len() as u32,
    ))
}

// ---------------------------------------------------------------------------------------------
// Patterns

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// The Cassazione vertical watermark, wherever the extractor put it.
fn watermark_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)corte\s+di\s+cassazione\s*[-\u{2010}-\u{2015}]\s*copia\s+non\s+ufficiale",
    )
}

/// The Cassazione (italgiure) stamp line: `Civile Ord. Sez. 5   Num. 30636  Anno 2025`.
fn stamp_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)\b(Civile|Penale)\s+(Ord|Sent|Decr)\.?((?:\s+Int(?:erloc(?:utoria)?)?\.?)?)\s+Sez\.?\s*([0-9A-Z]{1,3}(?:\s*-\s*[0-9A-Z]{1,3})?)\s+Num\.?\s*(\d+)\s+Anno\s+(\d{4})",
    )
}

/// Whole lines of the stamp block (`Presidente:` and `Relatore:` may be empty on decrees).
fn stamp_line_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)^(?:(?:Civile|Penale)\s+(?:Ord|Sent|Decr)\.?.{0,40}\bNum\.?\s*\d+\s+Anno\s+\d{4}|(?:Presidente|Relatore)\s*:.{0,80}|Data\s+pubblicazione\s*:.{0,30})$",
    )
}

fn stamp_field_re(field: &'static str) -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    static R: OnceLock<Regex> = OnceLock::new();
    static D: OnceLock<Regex> = OnceLock::new();
    match field {
        "Presidente" => re(&P, r"(?mi)^[ \t]*Presidente[ \t]*:[ \t]*(.*?)[ \t]*$"),
        "Relatore" => re(&R, r"(?mi)^[ \t]*Relatore[ \t]*:[ \t]*(.*?)[ \t]*$"),
        _ => re(
            &D,
            r"(?mi)^[ \t]*Data[ \t]+pubblicazione[ \t]*:[ \t]*(\d{1,2})/(\d{1,2})/(\d{4})",
        ),
    }
}

/// A page-number line: `2`, `2 di 5`, `- 2 -`, `Pagina 2`, `pag. 2 di 5`, `2/5`.
fn page_number_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)^(?:[-\u{2013}\u{2014}]\s*)?(?:pag(?:ina|\.)?\s*)?\d{1,4}(?:\s*(?:di|of|/)\s*\d{1,4})?(?:\s*[-\u{2013}\u{2014}])?$",
    )
}

/// A numbered point at the start of a line: `1.`, `1.1.`, `2.-`, `3)`, `a)`, `iv)`.
fn numbering_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?:\d{1,3}(?:\.\d{1,3})*\.(?:\s*[-\u{2013}])?|\d{1,3}\)|[a-z]\)|[ivx]{1,5}\))\s",
    )
}

/// Decision headings that may be glued at the start of a line (`FATTI DI CAUSA 1. In punto…`).
fn glued_heading_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(FATTI DI CAUSA|SVOLGIMENTO DEL PROCESSO|RITENUTO IN FATTO|RAGIONI DELLA DECISIONE|MOTIVI DELLA DECISIONE|CONSIDERATO IN DIRITTO|RILEVATO CHE|CONSIDERATO CHE|PER QUESTI MOTIVI|P\.\s?Q\.\s?M\.)[:.]?\s+(\S.*)$",
    )
}

/// Mixed-case headings that count only alone on their line (`Rilevato che`, `Fatto`). Single
/// words only capitalised and without a full stop: a line that is just `fatto.` ends a sentence.
fn lone_heading_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?:(?i:(?:rilevato|considerato|ritenuto|premesso) che|in fatto|in diritto|ritenuto in fatto|considerato in diritto|fatti di causa|ragioni della decisione|motivi della decisione|svolgimento del processo|per questi motivi)\s*[:.]?|(?:Rilevato|Considerato|Ritenuto|Premesso|Osserva|OSSERVA|Fatto|FATTO|Diritto|DIRITTO)\s*:?)$",
    )
}

/// An abbreviation that ends a line without ending the sentence (`Cass. n.`, `art.`).
fn abbreviation_end_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)(?:^|[\s(])(?:n|nn|art|artt|cfr|v|p|pp|pag|lett|co|Cass|sez|cod|proc|civ|pen|d|l|dott|avv|sig|s|ss|ecc)\.$",
    )
}

// ---------------------------------------------------------------------------------------------
// Cleaning

#[derive(Debug, Clone)]
struct Line {
    /// Whitespace-collapsed text.
    text: String,
    /// Width in characters as extracted (inner runs of spaces kept), for paragraph detection.
    width: usize,
    /// Blank lines between this line and the previous text line of the page.
    gap: usize,
}

impl Line {
    fn new(raw: &str, gap: usize) -> Line {
        let trimmed = raw.trim();
        Line {
            text: collapse_ws(trimmed),
            width: trimmed.chars().count(),
            gap,
        }
    }
}

fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Normalise characters the extractor leaves around: NBSP and friends, ligatures.
fn normalise_chars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\t' => {
                out.push(' ')
            }
            '\u{200B}' | '\u{FEFF}' => {}
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            _ => out.push(c),
        }
    }
    out
}

fn page_lines(page: &str) -> Vec<Line> {
    let page = normalise_chars(page);
    let page = watermark_re().replace_all(&page, " ");
    let mut out = Vec::new();
    let mut gap = 0;
    for raw in page.lines() {
        let line = Line::new(raw, gap);
        if line.text.is_empty() {
            gap += 1;
            continue;
        }
        if stamp_line_re().is_match(&line.text) {
            continue;
        }
        gap = 0;
        // A known decision heading glued to the text that follows it: split it off.
        if let Some(c) = glued_heading_re().captures(&line.text) {
            let (h, rest) = (c[1].to_string(), c[2].to_string());
            let rest_width = line.width.saturating_sub(h.chars().count() + 1);
            out.push(Line {
                width: h.chars().count(),
                text: h,
                gap: line.gap,
            });
            out.push(Line {
                text: rest,
                width: rest_width,
                gap: 0,
            });
            continue;
        }
        out.push(line);
    }
    out
}

fn drop_page_numbers(lines: &mut Vec<Line>) {
    let n = lines.len();
    let edge: Vec<usize> = (0..n.min(2)).chain(n.saturating_sub(2)..n).collect();
    let mut drop = vec![false; n];
    for i in edge {
        if page_number_re().is_match(&lines[i].text) {
            drop[i] = true;
        }
    }
    let mut i = 0;
    lines.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
}

/// A line's identity for repetition: lower case, digits folded (page numbers differ).
fn repetition_key(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .flat_map(char::to_lowercase)
        .collect()
}

/// How many pages must carry a header/footer line for it to count as repeated.
fn repeated_threshold(pages: usize) -> Option<usize> {
    if pages < 3 {
        None
    } else {
        Some((pages * 3).div_ceil(5).max(3))
    }
}

const EDGE_LINES: usize = 3;

fn drop_repeated_lines(pages: &mut [Vec<Line>]) {
    let Some(threshold) = repeated_threshold(pages.len()) else {
        return;
    };
    let edge = |n: usize, i: usize| i < EDGE_LINES || i + EDGE_LINES >= n;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for lines in pages.iter() {
        let mut seen = std::collections::HashSet::new();
        for (i, l) in lines.iter().enumerate() {
            if edge(lines.len(), i) {
                let key = repetition_key(&l.text);
                if seen.insert(key.clone()) {
                    *counts.entry(key).or_default() += 1;
                }
            }
        }
    }
    for lines in pages.iter_mut() {
        let n = lines.len();
        let mut i = 0;
        lines.retain(|l| {
            i += 1;
            !(edge(n, i - 1)
                && counts
                    .get(&repetition_key(&l.text))
                    .is_some_and(|&c| c >= threshold))
        });
    }
}

/// A watermark the extractor glued onto the last line of most pages: the longest run of
/// 3 to 10 trailing words shared by the last lines of most pages (15 characters at least).
fn strip_repeated_suffix(pages: &mut [Vec<Line>]) {
    let Some(threshold) = repeated_threshold(pages.len()) else {
        return;
    };
    let lasts: Vec<Vec<&str>> = pages
        .iter()
        .filter_map(|p| p.last())
        .map(|l| l.text.split(' ').collect())
        .collect();
    let mut best: Option<String> = None;
    for words in &lasts {
        for k in (3..=words.len().min(10)).rev() {
            let suffix = words[words.len() - k..].join(" ");
            if suffix.chars().count() < 15 {
                continue;
            }
            let key = repetition_key(&suffix);
            let count = lasts
                .iter()
                .filter(|w| repetition_key(&w.join(" ")).ends_with(&key))
                .count();
            if count >= threshold {
                if best.as_ref().is_none_or(|b| b.len() < suffix.len()) {
                    best = Some(suffix);
                }
                break;
            }
        }
    }
    let Some(suffix) = best else { return };
    let key = repetition_key(&suffix);
    for lines in pages.iter_mut() {
        for l in lines.iter_mut() {
            let lk = repetition_key(&l.text);
            if lk.ends_with(&key) {
                // Keys fold only ASCII digits and case, so byte lengths can differ: cut by chars.
                let keep = l.text.chars().count() - suffix.chars().count();
                let cut: String = l.text.chars().take(keep).collect();
                let removed = l.text.chars().count() - cut.chars().count();
                l.text = cut.trim_end().to_string();
                l.width = l.width.saturating_sub(removed);
            }
        }
    }
}

/// The word fragment that ends a line with a hyphenation: `ricor-` (letters, then a hyphen or
/// soft hyphen). Returns the byte index of the hyphen.
fn hyphenated_end(text: &str) -> Option<usize> {
    let last = text.rsplit(' ').next()?;
    let mut chars: Vec<(usize, char)> = last.char_indices().collect();
    let (hy_idx, hy) = chars.pop()?;
    if !matches!(hy, '-' | '\u{00AD}' | '\u{2010}') {
        return None;
    }
    // At least two letters before the hyphen, and only letters in the fragment (`-ricorrente-`
    // and `art.-` are not hyphenations), or a number (`380-` / `bis`, joined keeping the hyphen).
    let letters = chars.len() >= 2 && chars.iter().all(|(_, c)| c.is_alphabetic());
    let number = !chars.is_empty() && chars.iter().all(|(_, c)| c.is_ascii_digit());
    if !letters && !number {
        return None;
    }
    Some(text.len() - last.len() + hy_idx)
}

fn starts_lowercase(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_lowercase())
}

fn join_hyphenated(pages: &mut [Vec<Line>]) {
    // Soft hyphens inside a line are invisible break hints: drop them.
    for lines in pages.iter_mut() {
        for l in lines.iter_mut() {
            if l.text.contains('\u{00AD}') {
                let ends_soft = l.text.ends_with('\u{00AD}');
                l.text = l.text.replace('\u{00AD}', "");
                if ends_soft {
                    l.text.push('\u{00AD}');
                }
            }
        }
    }
    // Within a page: move the rest of the word up onto the line where it starts.
    for lines in pages.iter_mut() {
        let mut i = 0;
        while i + 1 < lines.len() {
            try_join(lines, i);
            i += 1;
        }
    }
    // Across a page break: the word's end moves to the page where the word starts.
    for p in 0..pages.len().saturating_sub(1) {
        let (left, right) = pages.split_at_mut(p + 1);
        let (Some(last), Some(first)) = (left[p].last_mut(), right[0].first_mut()) else {
            continue;
        };
        join_pair(last, first);
        if first.text.is_empty() {
            right[0].remove(0);
        }
    }
    for lines in pages.iter_mut() {
        lines.retain(|l| !l.text.is_empty());
        for l in lines.iter_mut() {
            if l.text.ends_with('\u{00AD}') {
                l.text.pop();
            }
        }
    }
}

fn try_join(lines: &mut [Line], i: usize) {
    let (a, b) = lines.split_at_mut(i + 1);
    join_pair(&mut a[i], &mut b[0]);
}

/// If `a` ends with a hyphenated fragment and `b` goes on in lower case, move `b`'s first word
/// (without the hyphen) onto `a`.
fn join_pair(a: &mut Line, b: &mut Line) {
    let Some(hy) = hyphenated_end(&a.text) else {
        return;
    };
    if !starts_lowercase(&b.text) {
        return;
    }
    let (word, rest) = match b.text.split_once(' ') {
        Some((w, r)) => (w.to_string(), r.to_string()),
        None => (b.text.clone(), String::new()),
    };
    // `art. 380-` / `bis`, `comma 1-` / `quater`: a compound after a number keeps its hyphen.
    let keep_hyphen = a.text[..hy].ends_with(|c: char| c.is_ascii_digit());
    a.text.truncate(if keep_hyphen { hy + 1 } else { hy });
    a.text.push_str(&word);
    b.width = b.width.saturating_sub(word.chars().count() + 1);
    b.text = rest;
}

/// Layout facts of the whole document used to regroup lines into paragraphs.
struct Layout {
    /// The width of a full line: the 80th percentile of line widths.
    typical: usize,
    /// The usual number of blank lines between two lines of a paragraph (the extractor puts
    /// one after every line on some PDFs, none on others): more than this is a paragraph break.
    usual_gap: usize,
}

fn layout(pages: &[Vec<Line>]) -> Layout {
    let mut widths: Vec<usize> = pages.iter().flatten().map(|l| l.width).collect();
    widths.sort_unstable();
    let typical = match widths.len() {
        0 => 0,
        n => widths[(n * 4 / 5).min(n - 1)],
    };
    let mut gaps: std::collections::BTreeMap<usize, usize> = Default::default();
    for lines in pages {
        for l in lines.iter().skip(1) {
            *gaps.entry(l.gap).or_default() += 1;
        }
    }
    let usual_gap = gaps
        .iter()
        .max_by_key(|(gap, count)| (**count, std::cmp::Reverse(**gap)))
        .map(|(gap, _)| *gap)
        .unwrap_or(0);
    Layout { typical, usual_gap }
}

/// A party's role between dashes, alone on its line: `-ricorrente-`, `- controricorrente -`.
fn role_marker_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^[-\u{2013}\u{2014}]\s*\p{L}[\p{L} ]{2,40}?\s*[-\u{2013}\u{2014}]$",
    )
}

fn ends_sentence(text: &str) -> bool {
    let t = text.trim_end_matches(['»', '”', '"', '’', '\'', ')', ']']);
    t.ends_with(['.', ';', ':', '!', '?']) && !abbreviation_end_re().is_match(t)
}

/// A line that stands alone as a heading: short, upper case (`FATTI DI CAUSA`, `P.Q.M.`), or a
/// known mixed-case heading alone on its line (`Rilevato che`).
fn heading_like(text: &str) -> bool {
    if text.chars().count() > 40 || text.contains([',', ';']) {
        return lone_heading_re().is_match(text);
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    (letters >= 3 && !text.chars().any(|c| c.is_lowercase())) || lone_heading_re().is_match(text)
}

/// A line that stands on its own: a heading or a party's role marker.
fn stands_alone(text: &str) -> bool {
    heading_like(text) || role_marker_re().is_match(text)
}

fn paragraphs(lines: &[Line], layout: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, l) in lines.iter().enumerate() {
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&l.text);
        let Some(next) = lines.get(i + 1) else { break };
        let short = l.width * 4 < layout.typical * 3;
        let very_short = l.width * 2 < layout.typical;
        let end = ends_sentence(&l.text);
        let brk = next.gap > layout.usual_gap
            || stands_alone(&l.text)
            || stands_alone(&next.text)
            || very_short
            || (short && end)
            || (end && numbering_re().is_match(&next.text));
        if brk {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether the first paragraph of a page goes on from the last one of the previous page.
fn continues_on_next_page(prev: &str, next: &str) -> bool {
    if stands_alone(prev) || stands_alone(next) || numbering_re().is_match(next) {
        return false;
    }
    starts_lowercase(next) || !ends_sentence(prev)
}

fn has_text(page: &str) -> bool {
    page.chars().filter(|c| c.is_alphanumeric()).count() >= 3
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether the trailer declares encryption (`/Encrypt` outside streams, in practice).
fn declares_encryption(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(p) = find_bytes(&bytes[from..], b"/Encrypt") {
        let after = bytes.get(from + p + 8).copied().unwrap_or(b' ');
        // `/EncryptMetadata` is a key inside the encryption dictionary, not the trailer key.
        if !after.is_ascii_alphanumeric() {
            return true;
        }
        from += p + 8;
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Metadata from the stamp

fn stamp_metadata(raw: &[String]) -> Vec<(String, String)> {
    let mut meta: Vec<(String, String)> = Vec::new();
    let all = raw
        .iter()
        .map(|p| normalise_chars(p))
        .collect::<Vec<_>>()
        .join("\n");
    let stamp = stamp_re().captures(&all);
    if stamp.is_some() || watermark_re().is_match(&all) {
        meta.push(("court".into(), "Corte di Cassazione".into()));
    }
    if let Some(c) = stamp {
        meta.push(("area".into(), c[1].to_lowercase()));
        let interlocutory = !c[3].trim().is_empty();
        let kind = match c[2].to_ascii_lowercase().as_str() {
            "ord" if interlocutory => "ordinanza interlocutoria",
            "ord" => "ordinanza",
            "sent" => "sentenza",
            _ => "decreto",
        };
        meta.push(("kind".into(), kind.into()));
        meta.push(("section".into(), format!("Sez. {}", collapse_ws(&c[4]))));
        meta.push(("number".into(), c[5].to_string()));
        meta.push(("year".into(), c[6].to_string()));
    }
    for (field, key) in [("Presidente", "presidente"), ("Relatore", "relatore")] {
        if let Some(c) = stamp_field_re(field).captures(&all) {
            let v = collapse_ws(&c[1]);
            if !v.is_empty() {
                meta.push((key.into(), v));
            }
        }
    }
    if let Some(c) = stamp_field_re("Data").captures(&all) {
        let (d, m, y) = (&c[1], &c[2], &c[3]);
        meta.push(("data_pubblicazione".into(), format!("{d}/{m}/{y}")));
        if let (Ok(d), Ok(m)) = (d.parse::<u32>(), m.parse::<u32>()) {
            meta.push(("date".into(), format!("{y}-{m:02}-{d:02}")));
        }
    }
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jurisprudence/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{name}")).expect("fixture")
    }

    /// (file, pages, kind, number, presidente, relatore) from MANIFEST.tsv and the stamps.
    type Case = (
        &'static str,
        usize,
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );
    const CASSAZIONE: [Case; 4] = [
        (
            "cass_snciv2025530636O.pdf",
            5,
            "ordinanza",
            "30636",
            Some("LA ROCCA GIOVANNI"),
            Some("LEUZZI SALVATORE"),
        ),
        (
            "cass_snciv2025530638S.pdf",
            14,
            "sentenza",
            "30638",
            Some("NAPOLITANO LUCIO"),
            Some("SALEMME ANDREA ANTONIO"),
        ),
        (
            "cass_snciv2025530646O.pdf",
            4,
            "ordinanza",
            "30646",
            Some("FUOCHI TINARELLI GIUSEPPE"),
            Some("NONNO GIACOMO MARIA"),
        ),
        (
            "cass_snciv_2025_n29955_tD.clean.pdf",
            2,
            "decreto",
            "29955",
            None,
            None,
        ),
    ];

    fn meta<'a>(doc: &'a TextDocument, key: &str) -> Option<&'a str> {
        doc.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn extracts_every_page_of_the_cassazione_pdfs() {
        for (file, pages, ..) in CASSAZIONE {
            let raw = extract_pages(&fixture(file)).unwrap();
            assert_eq!(raw.len(), pages, "{file}");
            assert!(pages_without_text(&raw).is_empty(), "{file}");
            let doc = parse_pdf(&fixture(file)).unwrap();
            assert_eq!(doc.pages as usize, pages, "{file}");
            assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Paragraph));
            // Page numbers are set, start on page 1, never decrease, reach the last page.
            assert_eq!(doc.blocks[0].page, 1, "{file}");
            assert!(doc.blocks.windows(2).all(|w| w[0].page <= w[1].page));
            assert_eq!(doc.blocks.last().unwrap().page as usize, pages, "{file}");
        }
    }

    #[test]
    fn stamps_watermarks_and_page_numbers_are_removed() {
        for (file, pages, _, number, ..) in CASSAZIONE {
            let raw = extract_pages(&fixture(file)).unwrap().join("\n");
            // They are there in the extractor's output…
            for s in [
                "copia non ufficiale",
                "Data pubblicazione",
                "Relatore",
                "Num. ",
            ] {
                assert!(raw.contains(s), "{file}: raw text lacks {s:?}");
            }
            assert!(raw.contains(number), "{file}");
            // …and gone from the document's text.
            let doc = parse_pdf(&fixture(file)).unwrap();
            for s in [
                "copia non ufficiale",
                "Corte di Cassazione - ",
                "Data pubblicazione",
                "Relatore",
                "Presidente:",
                "Anno 2025",
                "Civile Ord.",
                "Civile Sent.",
                "Civile Decr.",
            ] {
                assert!(!doc.text.contains(s), "{file}: {s:?} left in text");
            }
            for p in 2..=pages {
                let footer = format!("{p} di {pages}");
                assert!(!doc.text.contains(&footer), "{file}: {footer:?} left");
            }
            // No line of the cleaned text is only a page number.
            assert!(doc
                .text
                .split("\n\n")
                .all(|b| !page_number_re().is_match(b.trim())));
        }
    }

    #[test]
    fn watermark_glued_to_a_line_is_cut_and_the_sentence_rejoined_across_pages() {
        let file = "cass_snciv2025530636O.pdf";
        let raw = extract_pages(&fixture(file)).unwrap();
        // The extractor glues the watermark to the last line of page 1 (mid-sentence).
        assert!(raw[0].contains("sulla  base  di Corte di Cassazione - copia non ufficiale"));
        let doc = parse_pdf(&fixture(file)).unwrap();
        assert!(doc
            .text
            .contains("sulla base di distinti rilievi, tra i quali la ricostruzione"));
        // The paragraph that runs over the page break is one block, on page 1.
        let b = doc
            .blocks
            .iter()
            .find(|b| doc.block_text(b).contains("sulla base di distinti"))
            .unwrap();
        assert_eq!(b.page, 1);
    }

    #[test]
    fn heading_glued_to_the_watermark_stands_alone_after_cleaning() {
        // The issue's case, on a real page: `P.Q.M. Corte di Cassazione - copia non ufficiale`.
        let mut raw = extract_pages(&fixture("cass_snciv2025530636O.pdf")).unwrap();
        assert!(raw[3].contains("P.Q.M. \n\n"));
        raw[3] = raw[3].replace(
            "P.Q.M. \n\n",
            "P.Q.M. Corte di Cassazione - copia non ufficiale\n\n",
        );
        let cleaned = clean_pages(&raw);
        let paras: Vec<&str> = cleaned[3].split("\n\n").collect();
        let i = paras
            .iter()
            .position(|p| *p == "P.Q.M.")
            .expect("P.Q.M. alone");
        assert!(paras[i + 1].starts_with("La Corte rigetta il ricorso"));
        // Heading glued to the text after it on the same line: split off too.
        let pages = vec![
            "testo precedente della decisione.\n\nP.Q.M. La Corte rigetta il ricorso.\n"
                .to_string(),
        ];
        let cleaned = clean_pages(&pages);
        assert!(cleaned[0].contains("\n\nP.Q.M.\n\nLa Corte rigetta il ricorso."));
    }

    #[test]
    fn end_of_line_hyphenation_is_joined() {
        // None of the Cassazione fixtures hyphenates at line ends (checked with pdftotext too):
        // hyphenate a word on a real page, as a PDF that breaks words would.
        let mut raw = extract_pages(&fixture("cass_snciv2025530636O.pdf")).unwrap();
        let before = "l’infondatezza  della \n\npretesa impositiva.";
        assert!(raw[1].contains(before));
        raw[1] = raw[1].replace(before, "l’infondatezza  della  pre-\n\ntesa impositiva.");
        let cleaned = clean_pages(&raw);
        assert!(cleaned[1].contains("l’infondatezza della pretesa impositiva."));
        assert!(!cleaned[1].contains("pre-"));

        // Synthetic: within a page, soft hyphen, across a page break, and numbers.
        let pages = vec![
            "La contribuen-\nte ha proposto ricorso per cas\u{ad}\nsazione e la Com-\nmis\u{ad}sione \
             tributaria ha ri-"
                .to_string(),
            "gettato l'appello ai sensi dell'art. 380-\nbis c.p.c. e del comma 1-\nquater.".to_string(),
        ];
        let cleaned = clean_pages(&pages).join("\n");
        for w in [
            "contribuente",
            "cassazione",
            "Commissione",
            "rigettato",
            "380-bis",
            "1-quater",
        ] {
            assert!(cleaned.contains(w), "{w:?} not joined in {cleaned:?}");
        }
        assert!(!cleaned.contains('\u{ad}'));
    }

    #[test]
    fn dashes_and_compounds_are_not_taken_for_hyphenation() {
        for (file, ..) in CASSAZIONE {
            let doc = parse_pdf(&fixture(file)).unwrap();
            assert!(!doc.text.contains("ricorrente-contro"), "{file}");
            assert!(doc.text.contains("-ricorrente-\n\n"), "{file}");
        }
        let doc = parse_pdf(&fixture("cass_snciv2025530636O.pdf")).unwrap();
        for s in [
            "-ricorrente-",
            "-controricorrente-",
            "comma 1-quater",
            "comma 1-bis",
            "2002-2005",
        ] {
            assert!(doc.text.contains(s), "{s:?}");
        }
        // A spaced dash at a line end (the .txt fixture's "declaratoria -" / "d’inammissibilità").
        let pages =
            vec!["valutazione - e conseguente declaratoria -\nd’inammissibilità, per".to_string()];
        assert!(clean_pages(&pages)[0].contains("declaratoria - d’inammissibilità"));
    }

    #[test]
    fn metadata_comes_from_the_stamp() {
        for (file, _, kind, number, presidente, relatore) in CASSAZIONE {
            let doc = parse_pdf(&fixture(file)).unwrap();
            assert_eq!(meta(&doc, "court"), Some("Corte di Cassazione"), "{file}");
            assert_eq!(meta(&doc, "section"), Some("Sez. 5"), "{file}");
            assert_eq!(meta(&doc, "kind"), Some(kind), "{file}");
            assert_eq!(meta(&doc, "number"), Some(number), "{file}");
            assert_eq!(meta(&doc, "year"), Some("2025"), "{file}");
            assert_eq!(meta(&doc, "presidente"), presidente, "{file}");
            assert_eq!(meta(&doc, "relatore"), relatore, "{file}");
        }
        let doc = parse_pdf(&fixture("cass_snciv2025530636O.pdf")).unwrap();
        assert_eq!(meta(&doc, "data_pubblicazione"), Some("20/11/2025"));
        assert_eq!(meta(&doc, "date"), Some("2025-11-20"));
        let doc = parse_pdf(&fixture("cass_snciv_2025_n29955_tD.clean.pdf")).unwrap();
        assert_eq!(meta(&doc, "date"), Some("2025-11-13"));
    }

    #[test]
    fn short_lines_that_end_a_sentence_are_no_headings() {
        let pages = vec![
            "Il Collegio ha accertato la circostanza in punto di fatto e di diritto, e la sua\n\
             rilevanza ai fini della decisione della causa di cui al ricorso in esame, in\n\
             fatto.\n\
             Rilevato che\n\
             la Corte ha deciso.\n"
                .to_string(),
        ];
        let cleaned = clean_pages(&pages);
        let paras: Vec<&str> = cleaned[0].split("\n\n").collect();
        assert!(paras[0].ends_with("in esame, in fatto."), "{paras:?}");
        assert_eq!(paras[1], "Rilevato che");
        assert_eq!(paras[2], "la Corte ha deciso.");
    }

    #[test]
    fn headings_are_their_own_paragraphs() {
        let doc = parse_pdf(&fixture("cass_snciv2025530646O.pdf")).unwrap();
        let blocks: Vec<&str> = doc.blocks.iter().map(|b| doc.block_text(b)).collect();
        for h in ["ORDINANZA", "RILEVATO CHE", "CONSIDERATO CHE", "P.Q.M."] {
            assert!(blocks.contains(&h), "{h}");
        }
        let i = blocks.iter().position(|b| *b == "CONSIDERATO CHE").unwrap();
        assert!(blocks[i + 1].starts_with("1. in caso di omessa pronuncia"));
        assert_eq!(doc.blocks[i].page, 2);
    }

    #[test]
    fn truncated_pdf_is_a_clear_error_not_a_panic() {
        let bytes = fixture("cass_snciv2025530646O.pdf");
        let half = &bytes[..bytes.len() / 2];
        match parse_pdf(half) {
            Err(PdfError::Malformed(reason)) => {
                assert!(
                    reason.ends_with("(truncated? no %%EOF at the end)"),
                    "{reason}"
                )
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        // Wherever it is cut, parsing returns (no panic escapes).
        for cut in [
            0,
            1,
            8,
            100,
            1000,
            4096,
            bytes.len() / 3,
            bytes.len() - 200,
            bytes.len() - 1,
        ] {
            let r = parse_pdf(&bytes[..cut]);
            if let Err(e) = &r {
                assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn empty_and_random_bytes_are_errors() {
        assert!(matches!(parse_pdf(&[]), Err(PdfError::Malformed(m)) if m.contains("empty")));
        assert!(matches!(extract_pages(&[]), Err(PdfError::Malformed(_))));
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut random = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect()
        };
        for n in [1, 7, 512, 4096, 65536] {
            let bytes = random(n);
            assert!(
                matches!(parse_pdf(&bytes), Err(PdfError::Malformed(_))),
                "{n}"
            );
            // Random bytes behind a PDF header: still an error, never a panic.
            let mut with_header = b"%PDF-1.7\n".to_vec();
            with_header.extend(random(n));
            assert!(parse_pdf(&with_header).is_err(), "{n}");
        }
    }

    #[test]
    fn randomly_corrupted_pdfs_never_panic_out() {
        let bytes = fixture("cass_snciv2025530646O.pdf");
        let mut seed: u64 = 777;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let mut panicked = 0;
        for _ in 0..60 {
            let mut c = bytes.clone();
            for _ in 0..1 + next() % 30 {
                let i = next() % c.len();
                c[i] = next() as u8;
            }
            match parse_pdf(&c) {
                Ok(doc) => assert!(!doc.text.is_empty()),
                Err(PdfError::Panicked(m)) => {
                    panicked += 1;
                    assert!(!m.is_empty());
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        // pdf-extract does panic on some of these: they were caught.
        assert!(panicked > 0);
    }

    #[test]
    fn a_panic_inside_pdf_extract_becomes_a_rejection() {
        // Point page 1's font F5 at object 99, which is not a font (same byte length, so the
        // cross-reference table stays valid): pdf-extract panics ("wrong type").
        let mut bytes = fixture("cass_snciv2025530646O.pdf");
        let at = find_bytes(&bytes, b"/F5 27 0 R").expect("font reference") + 4;
        bytes[at..at + 2].copy_from_slice(b"99");
        match parse_pdf(&bytes) {
            Err(PdfError::Panicked(msg)) => assert!(!msg.is_empty()),
            other => panic!("expected Panicked, got {other:?}"),
        }
    }

    #[test]
    fn encrypted_pdf_is_rejected_clearly() {
        // cass_snciv2025530646O.pdf encrypted with qpdf (AES-256, user password "secret-user").
        let err = parse_pdf(&fixture(
            "cass_snciv2025530646O.encrypted-user-password.pdf",
        ))
        .unwrap_err();
        assert!(matches!(err, PdfError::Encrypted), "{err:?}");
        assert!(err.to_string().contains("encrypted"));
        // Encrypted with an empty user password (permissions only): readable, same text.
        let open = parse_pdf(&fixture("cass_snciv2025530646O.encrypted-owner-only.pdf")).unwrap();
        let plain = parse_pdf(&fixture("cass_snciv2025530646O.pdf")).unwrap();
        assert_eq!(open.text, plain.text);
    }

    #[test]
    fn scanned_pdf_has_no_text() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/image/docling_ocr_test_scanned.pdf"
        );
        let bytes = std::fs::read(path).unwrap();
        let raw = extract_pages(&bytes).unwrap();
        assert_eq!(pages_without_text(&raw), vec![1]);
        assert!(matches!(parse_pdf(&bytes), Err(PdfError::NoText)));
        // A page whose only text is the stamp and watermark counts as a page without text.
        let pages = vec![
            "Testo della prima pagina della decisione.".to_string(),
            " Corte di Cassazione - copia non ufficiale\nCivile Ord. Sez. 5   Num. 1  Anno 2025\n\n  2 di 3 \n".to_string(),
            "".to_string(),
        ];
        assert_eq!(pages_without_text(&pages), vec![2, 3]);
    }

    #[test]
    fn repeated_running_headers_are_removed_generically() {
        let pages: Vec<String> = (1..=5)
            .map(|p| {
                format!(
                    "Tribunale di Milano - Sezione lavoro\nRG n. 1234/2024\n\nTesto proprio della pagina {p}, \
                     con parole diverse: {}.\n\nDocumento firmato digitalmente da MARIO ROSSI il 0{p}/03/2024\nPagina {p} di 5\n",
                    ["alfa", "beta", "gamma", "delta", "epsilon"][p - 1]
                )
            })
            .collect();
        let cleaned = clean_pages(&pages);
        assert_eq!(cleaned.len(), 5);
        for (i, p) in cleaned.iter().enumerate() {
            assert!(!p.contains("Tribunale di Milano"), "{p}");
            assert!(!p.contains("firmato digitalmente"), "{p}");
            assert!(!p.contains("di 5"), "{p}");
            assert!(p.contains(&format!("Testo proprio della pagina {}", i + 1)));
        }
    }

    /// A PDF from numbered object bodies, with a correct cross-reference table; object 1 is
    /// the catalog.
    fn build_pdf(objects: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = std::collections::BTreeMap::new();
        for (num, body) in objects {
            offsets.insert(*num, out.len());
            out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let size = offsets.keys().max().copied().unwrap_or(0) + 1;
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
        for n in 1..size {
            match offsets.get(&n) {
                Some(o) => out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes()),
                None => out.extend_from_slice(b"0000000000 65535 f \n"),
            }
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n")
                .as_bytes(),
        );
        out
    }

    fn stream(dict: &str, data: &str) -> Vec<u8> {
        format!(
            "<< {dict} /Length {} >>\nstream\n{data}\nendstream",
            data.len()
        )
        .into_bytes()
    }

    const TEXT: &str = "BT /F1 12 Tf 72 720 Td (Il ricorso e rigettato.) Tj ET";
    const FONT: &str = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

    /// One page drawing forms 10.. (`forms`: resources and content of each).
    fn page_with_forms(forms: &[(&str, &str)]) -> Vec<u8> {
        let names: String = (0..forms.len())
            .map(|i| format!("/X{i} {} 0 R ", 10 + i))
            .collect();
        let mut objects = vec![
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
            (
                3,
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
                     /Resources << /Font << /F1 5 0 R >> /XObject << {names}>> >> >>"
                )
                .into_bytes(),
            ),
            (4, stream("", &format!("{TEXT} /X0 Do"))),
            (5, FONT.as_bytes().to_vec()),
        ];
        for (i, (resources, content)) in forms.iter().enumerate() {
            objects.push((
                10 + i as u32,
                stream(
                    &format!("/Type /XObject /Subtype /Form /BBox [0 0 612 792] {resources}"),
                    content,
                ),
            ));
        }
        build_pdf(&objects)
    }

    fn malformed(bytes: &[u8]) -> String {
        match extract_pages(bytes) {
            Err(PdfError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn a_looping_page_tree_is_refused_not_followed() {
        // The page has no MediaBox: the extractor would look for one up a /Parent chain that
        // goes round 2 -> 6 -> 2 for ever.
        let pdf = build_pdf(&[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (
                2,
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 6 0 R >>".to_vec(),
            ),
            (
                3,
                b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>".to_vec(),
            ),
            (4, stream("", TEXT)),
            (
                6,
                b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>".to_vec(),
            ),
        ]);
        let started = std::time::Instant::now();
        let m = malformed(&pdf);
        assert!(m.contains("the page tree loops"), "{m}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn forms_that_draw_themselves_are_refused_before_the_stack_overflows() {
        // Directly.
        let m = malformed(&page_with_forms(&[(
            "/Resources << /XObject << /X0 10 0 R >> >>",
            "/X0 Do",
        )]));
        assert!(m.contains("form XObject /X0 (10 0 R) draws itself"), "{m}");
        // Through another form, each with its own resources.
        let m = malformed(&page_with_forms(&[
            ("/Resources << /XObject << /B 11 0 R >> >>", "/B Do"),
            ("/Resources << /XObject << /A 10 0 R >> >>", "q /A Do Q"),
        ]));
        assert!(m.contains("draws itself"), "{m}");
        // A form without resources draws with the page's, which name it.
        let m = malformed(&page_with_forms(&[("", "/X0 Do")]));
        assert!(m.contains("draws itself"), "{m}");
    }

    #[test]
    fn forms_that_multiply_each_other_are_refused() {
        // Each form draws the next ten times: 10^6 drawings of the last one.
        let forms: Vec<(String, String)> = (0..7)
            .map(|i| {
                if i == 6 {
                    (String::new(), TEXT.to_string())
                } else {
                    (
                        format!("/Resources << /XObject << /N {} 0 R >> >>", 11 + i),
                        "/N Do ".repeat(10),
                    )
                }
            })
            .collect();
        let forms: Vec<(&str, &str)> = forms
            .iter()
            .map(|(r, c)| (r.as_str(), c.as_str()))
            .collect();
        let m = malformed(&page_with_forms(&forms));
        assert!(m.contains("draw each other over 100000 times"), "{m}");
    }

    #[test]
    fn forms_drawn_often_and_resources_naming_themselves_are_fine() {
        // The form's resources name itself (producers share one resource dictionary) but its
        // content does not draw it; the page draws it; a second form is drawn twice.
        let pdf = page_with_forms(&[
            (
                "/Resources << /Font << /F1 5 0 R >> /XObject << /X0 10 0 R /Y 11 0 R >> >>",
                &format!("{TEXT} /Y Do /Y Do"),
            ),
            ("/Resources << /Font << /F1 5 0 R >> >>", TEXT),
        ]);
        let pages = extract_pages(&pdf).unwrap();
        assert_eq!(pages.len(), 1);
        assert!(pages[0].contains("Il ricorso e rigettato."), "{pages:?}");
    }
}

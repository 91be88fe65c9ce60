//! HTML (doctrine articles, court and journal pages) → [`TextDocument`].
//!
//! The readable text with its structure: `h1`–`h6` → `Heading(level)`, `p`, `blockquote`,
//! `pre`, `dd`… → `Paragraph`, `li` → `ListItem`, data tables → `Table` (cells " | ", rows
//! "\n"). Page furniture is dropped: `script`, `style`, `nav`, `header` (unless it is an
//! article's or the main content's own header), `footer`, `aside`, `noscript`, `template`,
//! `form`, embedded objects, hidden elements and ARIA landmarks for navigation, banner and
//! footer. When the page has a `<main>` (or `role="main"`) only that is read; else its
//! top-level `<article>`s; unless they hold under a quarter of the page's text (an empty
//! `<main>`, article cards beside the real text), in which case the whole body.
//!
//! Metadata: `title` (citation_title, DC.title, og:title, `<title>`, else the first `h1`),
//! `author` (one entry per author), `date`, `modified`, `language`, `description`,
//! `keywords`, `publisher`, `identifier`, and any other `dc.*`/`dcterms.*`/`citation_*`
//! meta under its own lower-case name. `encoding` is recorded when the bytes were not UTF-8.
//!
//! Bytes: UTF-8 (BOM dropped), UTF-16 with a BOM; anything else that is not valid UTF-8 is
//! read as Windows-1252 (a superset of Latin-1's printable range) or ISO-8859-15 when
//! declared. Empty input, binary junk and pages without any text are errors; a panic inside
//! the HTML parser is caught and returned as [`HtmlError::Panicked`].

use std::panic::{catch_unwind, AssertUnwindSafe};

use scraper::{ElementRef, Html, Node};

use crate::parse::textdoc::{BlockKind, TextDocument};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HtmlError {
    #[error("empty input: no HTML")]
    Empty,
    #[error("binary data, not HTML: {0}")]
    Binary(String),
    #[error("no readable text in the page")]
    NoText,
    #[error("HTML parser crashed: {0}")]
    Panicked(String),
}

/// Deeper than this, an element's text is taken flat (no blocks): keeps the recursion bounded
/// on pathological nesting.
const MAX_DEPTH: usize = 200;
/// Control characters (other than whitespace) above this share (per mille) mean binary data.
const MAX_CONTROL_PER_MILLE: usize = 10;

/// Parse an HTML page.
pub fn parse_html(bytes: &[u8]) -> Result<TextDocument, HtmlError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(HtmlError::Empty);
    }
    let (text, encoding) = decode(bytes)?;
    check_text(&text)?;
    let doc = catch_unwind(AssertUnwindSafe(|| extract(&text, encoding)))
        .map_err(|p| HtmlError::Panicked(crate::parse::panic_message(p)))?;
    if doc.blocks.is_empty() {
        return Err(HtmlError::NoText);
    }
    Ok(doc)
}

// ----- bytes → text --------------------------------------------------------------------------

/// Returns the text and, when it was not UTF-8, the encoding used.
fn decode(bytes: &[u8]) -> Result<(String, Option<&'static str>), HtmlError> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return Ok((String::from_utf8_lossy(rest).into_owned(), None));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return Ok((utf16(rest, u16::from_le_bytes), Some("utf-16le")));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return Ok((utf16(rest, u16::from_be_bytes), Some("utf-16be")));
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(HtmlError::Binary(format!("NUL byte at offset {offset}")));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_string(), None));
    }
    match declared_charset(bytes).as_deref() {
        // Declared UTF-8 with a few bad bytes: keep the rest, replace those.
        Some("utf-8" | "utf8") => Ok((String::from_utf8_lossy(bytes).into_owned(), None)),
        Some("iso-8859-15" | "iso8859-15" | "latin9" | "latin-9") => Ok((
            bytes.iter().map(|&b| latin9(b)).collect(),
            Some("iso-8859-15"),
        )),
        _ => Ok((
            bytes.iter().map(|&b| cp1252(b)).collect(),
            Some("windows-1252"),
        )),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// The `charset` of a `<meta charset=…>` or `<meta http-equiv … content="…; charset=…">`
/// in the first 4 KiB, lower-cased.
fn declared_charset(bytes: &[u8]) -> Option<String> {
    let head: String = bytes
        .iter()
        .take(4096)
        .map(|&b| {
            if b.is_ascii() {
                b.to_ascii_lowercase() as char
            } else {
                ' '
            }
        })
        .collect();
    let at = head.find("charset")?;
    let rest = head[at + "charset".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let label: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    (!label.is_empty()).then_some(label)
}

/// Windows-1252: Latin-1 plus printable characters in 0x80–0x9F.
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

fn latin9(b: u8) -> char {
    match b {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        _ => b as char,
    }
}

fn check_text(text: &str) -> Result<(), HtmlError> {
    if text.trim().is_empty() {
        return Err(HtmlError::Empty);
    }
    if let Some(offset) = text.find('\0') {
        return Err(HtmlError::Binary(format!(
            "NUL character at offset {offset}"
        )));
    }
    let mut total = 0usize;
    let mut control = 0usize;
    for c in text.chars() {
        total += 1;
        if c.is_control() && !c.is_whitespace() {
            control += 1;
        }
    }
    if control * 1000 > total * MAX_CONTROL_PER_MILLE {
        return Err(HtmlError::Binary(format!(
            "{control} of {total} characters are control characters"
        )));
    }
    Ok(())
}

// ----- the walk --------------------------------------------------------------------------------

fn extract(text: &str, encoding: Option<&'static str>) -> TextDocument {
    let html = Html::parse_document(text);
    let root = html.root_element();
    let body = root
        .child_elements()
        .find(|e| e.value().name() == "body")
        .unwrap_or(root);

    let roots = content_roots(root, body);
    let blocks = walk_roots(&roots);
    let mut metadata = metadata(&html, root, &blocks);
    if let Some(enc) = encoding {
        metadata.push(("encoding".into(), enc.into()));
    }
    TextDocument::from_blocks(blocks, metadata, 0)
}

fn walk_roots(roots: &[ElementRef<'_>]) -> Vec<(BlockKind, u32, String)> {
    let mut w = Walker::default();
    for r in roots {
        w.element(*r, 0);
        w.flush();
    }
    w.blocks
}

/// `<main>`/`role=main` if any, else the top-level `<article>`s, when they hold at least a
/// quarter of the body's text (an empty `<main>`, a teaser `<article>` beside the real text
/// are not the content); else the body.
fn content_roots<'a>(root: ElementRef<'a>, body: ElementRef<'a>) -> Vec<ElementRef<'a>> {
    let mut main = None;
    let mut articles = Vec::new();
    for n in root.descendants() {
        let Some(e) = ElementRef::wrap(n) else {
            continue;
        };
        let name = e.value().name();
        if main.is_none()
            && (name == "main"
                || e.value()
                    .attr("role")
                    .is_some_and(|r| r.eq_ignore_ascii_case("main")))
            && !has_ancestor(e, |a| a.value().name() == "template")
        {
            main = Some(e);
        }
        if name == "article"
            && !has_ancestor(e, |a| matches!(a.value().name(), "article" | "template"))
        {
            articles.push(e);
        }
    }
    let candidates = match main {
        Some(m) => vec![m],
        None => articles,
    };
    if !candidates.is_empty() {
        let in_candidates = text_len(&walk_roots(&candidates));
        let in_body = text_len(&walk_roots(&[body]));
        if in_candidates > 0 && in_candidates * 4 >= in_body {
            return candidates;
        }
    }
    vec![body]
}

fn text_len(blocks: &[(BlockKind, u32, String)]) -> usize {
    blocks.iter().map(|(_, _, t)| t.trim().len()).sum()
}

fn has_ancestor(e: ElementRef<'_>, pred: impl Fn(ElementRef<'_>) -> bool) -> bool {
    e.ancestors().filter_map(ElementRef::wrap).any(pred)
}

/// Elements whose content is not part of the readable text.
fn is_dropped(el: ElementRef<'_>) -> bool {
    let e = el.value();
    let name = e.name();
    match name {
        "script" | "style" | "nav" | "aside" | "noscript" | "template" | "form" | "footer"
        | "svg" | "iframe" | "object" | "embed" | "canvas" | "button" | "select" | "textarea"
        | "input" | "head" | "title" | "link" | "meta" | "dialog" | "audio" | "video" | "map"
        | "frameset" | "frame" => return true,
        // A page header is furniture; an article's (or the main content's) header holds its
        // title and byline.
        "header" if !has_ancestor(el, |a| matches!(a.value().name(), "article" | "main")) => {
            return true
        }
        _ => {}
    }
    if e.attr("hidden").is_some() {
        return true;
    }
    if e.attr("aria-hidden")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if let Some(role) = e.attr("role") {
        let role = role.trim().to_ascii_lowercase();
        if matches!(
            role.as_str(),
            "navigation" | "banner" | "contentinfo" | "complementary" | "search" | "dialog"
        ) {
            return true;
        }
    }
    if let Some(style) = e.attr("style") {
        let s: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if s.contains("display:none") || s.contains("visibility:hidden") {
            return true;
        }
    }
    false
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Block-level elements: a boundary between pieces of text.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "blockquote"
            | "body"
            | "center"
            | "dd"
            | "details"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "main"
            | "menu"
            | "ol"
            | "p"
            | "section"
            | "summary"
            | "ul"
            | "caption"
            | "tr"
            | "td"
            | "th"
            | "tbody"
            | "thead"
            | "tfoot"
            | "table"
            | "li"
            | "pre"
    )
}

/// Running text of a block, whitespace collapsed as a browser does; `<br>` is a newline.
#[derive(Default)]
struct Inline {
    s: String,
}

impl Inline {
    fn push_text(&mut self, t: &str) {
        for c in t.chars() {
            if c.is_whitespace() {
                if !self.s.is_empty() && !self.s.ends_with([' ', '\n']) {
                    self.s.push(' ');
                }
            } else {
                self.s.push(c);
            }
        }
    }
    fn space(&mut self) {
        if !self.s.is_empty() && !self.s.ends_with([' ', '\n']) {
            self.s.push(' ');
        }
    }
    fn newline(&mut self) {
        while self.s.ends_with(' ') {
            self.s.pop();
        }
        if !self.s.is_empty() && !self.s.ends_with('\n') {
            self.s.push('\n');
        }
    }
    fn take(&mut self) -> String {
        let out = self
            .s
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
        self.s.clear();
        out
    }
}

#[derive(Default)]
struct Walker {
    blocks: Vec<(BlockKind, u32, String)>,
    inline: Inline,
    /// Inside an `li`: block boundaries inside it are spaces, the text is one list item.
    in_item: bool,
}

impl Walker {
    fn flush(&mut self) {
        let t = self.inline.take();
        if !t.is_empty() {
            let kind = if self.in_item {
                BlockKind::ListItem
            } else {
                BlockKind::Paragraph
            };
            self.blocks.push((kind, 0, t));
        }
    }

    fn boundary(&mut self) {
        if self.in_item {
            self.inline.space();
        } else {
            self.flush();
        }
    }

    fn children(&mut self, n: ElementRef<'_>, depth: usize) {
        for c in n.children() {
            if let Node::Text(t) = c.value() {
                self.inline.push_text(t);
            } else if let Some(child) = ElementRef::wrap(c) {
                self.element(child, depth + 1);
            }
        }
    }

    fn element(&mut self, n: ElementRef<'_>, depth: usize) {
        let e = n.value();
        if is_dropped(n) {
            return;
        }
        if depth > MAX_DEPTH {
            let t = flat_text(n, false);
            self.inline.push_text(&t);
            return;
        }
        let name = e.name();
        if let Some(level) = heading_level(name) {
            self.hard_flush();
            let t = flat_text(n, false);
            let t = collapse(&t);
            if !t.is_empty() {
                self.blocks.push((BlockKind::Heading(level), 0, t));
            }
            return;
        }
        match name {
            "br" => self.inline.newline(),
            "hr" => self.boundary(),
            "pre" => {
                self.hard_flush();
                let t = flat_text(n, true);
                let kind = if self.in_item {
                    BlockKind::ListItem
                } else {
                    BlockKind::Paragraph
                };
                self.blocks
                    .push((kind, 0, t.trim_matches('\n').to_string()));
            }
            "li" => {
                self.hard_flush();
                let was = std::mem::replace(&mut self.in_item, true);
                self.children(n, depth);
                self.flush();
                self.in_item = was;
            }
            "ul" | "ol" | "menu" | "dir" => {
                // A nested list ends the text of the item that holds it.
                self.hard_flush();
                self.children(n, depth);
                self.hard_flush();
            }
            "table" if !is_layout_table(n) => {
                self.hard_flush();
                let was = std::mem::replace(&mut self.in_item, false);
                if let Some(caption) = n
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "caption")
                {
                    let t = collapse(&flat_text(caption, false));
                    if !t.is_empty() {
                        self.blocks.push((BlockKind::Paragraph, 0, t));
                    }
                }
                let t = table_text(n);
                if !t.is_empty() {
                    self.blocks.push((BlockKind::Table, 0, t));
                }
                self.in_item = was;
            }
            _ if is_block(name) => {
                self.boundary();
                self.children(n, depth);
                self.boundary();
            }
            _ => self.children(n, depth),
        }
    }

    /// End the current block even inside a list item (the item's text so far is one item).
    fn hard_flush(&mut self) {
        self.flush();
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text under `n` without the dropped elements, iteratively (no recursion). With
/// `preserve` the whitespace is kept as written (`pre`), else `<br>` and blocks are spaces
/// or newlines to be collapsed by the caller.
fn flat_text(n: ElementRef<'_>, preserve: bool) -> String {
    let mut out = String::new();
    let mut stack = vec![*n];
    let mut first = true;
    while let Some(cur) = stack.pop() {
        match cur.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => {
                if !first && ElementRef::wrap(cur).is_some_and(is_dropped) {
                    continue;
                }
                let name = e.name();
                if name == "br" {
                    out.push('\n');
                } else if !preserve && (is_block(name) || heading_level(name).is_some()) {
                    out.push(' ');
                }
                // Children in document order: push reversed.
                let kids: Vec<_> = cur.children().collect();
                stack.extend(kids.into_iter().rev());
            }
            _ => {}
        }
        first = false;
    }
    out
}

/// A table used for page layout rather than data: it has a nested table or headings, or a
/// single column. Its cells are walked as ordinary blocks.
fn is_layout_table(table: ElementRef<'_>) -> bool {
    let mut max_cells = 0usize;
    let mut stack: Vec<_> = table.children().collect();
    while let Some(cur) = stack.pop() {
        let Some(e) = ElementRef::wrap(cur) else {
            continue;
        };
        let name = e.value().name();
        if name == "table" || heading_level(name).is_some() {
            return true;
        }
        if name == "tr" {
            let cells = cur
                .children()
                .filter_map(ElementRef::wrap)
                .filter(|c| matches!(c.value().name(), "td" | "th"))
                .count();
            max_cells = max_cells.max(cells);
        }
        stack.extend(cur.children());
    }
    max_cells <= 1
}

/// Rows of this table (not of nested ones), cells joined by " | ", rows by "\n".
fn table_text(table: ElementRef<'_>) -> String {
    let mut rows = Vec::new();
    let mut stack: Vec<_> = table.children().collect::<Vec<_>>();
    stack.reverse();
    while let Some(cur) = stack.pop() {
        let Some(e) = ElementRef::wrap(cur) else {
            continue;
        };
        if is_dropped(e) {
            continue;
        }
        match e.value().name() {
            "tr" => {
                let cells: Vec<String> = cur
                    .children()
                    .filter_map(ElementRef::wrap)
                    .filter(|c| matches!(c.value().name(), "td" | "th"))
                    .map(|c| collapse(&flat_text(c, false)))
                    .collect();
                if cells.iter().any(|c| !c.is_empty()) {
                    rows.push(cells.join(" | "));
                }
            }
            "table" | "caption" => {}
            _ => {
                let mut kids: Vec<_> = cur.children().collect();
                kids.reverse();
                stack.extend(kids);
            }
        }
    }
    rows.join("\n")
}

// ----- metadata --------------------------------------------------------------------------------

/// Single-valued keys and the rank of each source (lower wins).
fn single_rank(source: &str) -> Option<(&'static str, u8)> {
    Some(match source {
        "citation_title" => ("title", 0),
        "dc.title" | "dcterms.title" => ("title", 1),
        "og:title" => ("title", 2),
        "<title>" => ("title", 3),
        "<h1>" => ("title", 4),
        "citation_publication_date" => ("date", 0),
        "citation_date" | "citation_online_date" => ("date", 1),
        "dc.date" | "dcterms.date" | "dc.date.issued" | "dcterms.issued" => ("date", 2),
        "dcterms.created" | "dc.date.created" => ("date", 3),
        "article:published_time" | "datepublished" | "og:published_time" => ("date", 4),
        "date" => ("date", 5),
        "article:modified_time" | "dcterms.modified" | "datemodified" | "last-modified" => {
            ("modified", 0)
        }
        "citation_language" => ("language", 0),
        "dc.language" | "dcterms.language" | "content-language" => ("language", 1),
        "<html lang>" => ("language", 2),
        "citation_abstract" => ("description", 0),
        "dc.description" | "dcterms.abstract" | "dcterms.description" => ("description", 1),
        "description" => ("description", 2),
        "og:description" => ("description", 3),
        "citation_publisher" => ("publisher", 0),
        "dc.publisher" | "dcterms.publisher" => ("publisher", 1),
        "og:site_name" => ("publisher", 2),
        "citation_doi" => ("identifier", 0),
        "dc.identifier" | "dcterms.identifier" => ("identifier", 1),
        "citation_journal_title" => ("journal", 0),
        _ => return None,
    })
}

/// Multi-valued keys.
fn multi_key(source: &str) -> Option<&'static str> {
    Some(match source {
        "author"
        | "citation_author"
        | "dc.creator"
        | "dcterms.creator"
        | "article:author"
        | "book:author"
        | "dc.contributor.author" => "author",
        "keywords" | "citation_keywords" | "dc.subject" | "dcterms.subject" | "article:tag"
        | "news_keywords" => "keywords",
        _ => return None,
    })
}

const KEY_ORDER: [&str; 9] = [
    "title",
    "author",
    "date",
    "modified",
    "language",
    "description",
    "keywords",
    "publisher",
    "journal",
];

fn metadata(
    html: &Html,
    root: ElementRef<'_>,
    blocks: &[(BlockKind, u32, String)],
) -> Vec<(String, String)> {
    let mut single: Vec<(&'static str, u8, String)> = Vec::new();
    let mut multi: Vec<(String, String)> = Vec::new();
    let mut offer = |source: &str, value: &str| {
        let value = collapse(value);
        if value.is_empty() {
            return;
        }
        if let Some((key, rank)) = single_rank(source) {
            match single.iter_mut().find(|(k, _, _)| *k == key) {
                Some(slot) if slot.1 > rank => {
                    slot.1 = rank;
                    slot.2 = value;
                }
                Some(_) => {}
                None => single.push((key, rank, value)),
            }
        } else if let Some(key) = multi_key(source) {
            // Profile links are not names.
            if key == "author" && (value.starts_with("http://") || value.starts_with("https://")) {
                return;
            }
            if !multi.iter().any(|(k, v)| k == key && *v == value) {
                multi.push((key.to_string(), value));
            }
        } else if (source.starts_with("dc.")
            || source.starts_with("dcterms.")
            || source.starts_with("citation_"))
            && !multi.iter().any(|(k, v)| k == source && *v == value)
        {
            multi.push((source.to_string(), value));
        }
    };

    if let Some(lang) = root.value().attr("lang") {
        offer("<html lang>", lang);
    }
    let mut seen_title = false;
    for n in html.tree.root().descendants() {
        let Some(e) = ElementRef::wrap(n) else {
            continue;
        };
        match e.value().name() {
            "title" if !seen_title && !has_ancestor(e, |a| a.value().name() == "svg") => {
                seen_title = true;
                offer("<title>", &e.text().collect::<String>());
            }
            "meta" => {
                let Some(content) = e.value().attr("content") else {
                    continue;
                };
                for attr in ["name", "property", "itemprop", "http-equiv"] {
                    if let Some(k) = e.value().attr(attr) {
                        offer(&k.trim().to_ascii_lowercase(), content);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some((_, _, h1)) = blocks.iter().find(|(k, _, _)| *k == BlockKind::Heading(1)) {
        offer("<h1>", h1);
    }

    let mut out: Vec<(String, String)> = Vec::new();
    for key in KEY_ORDER {
        for (k, _, v) in single.iter().filter(|(k, _, _)| *k == key) {
            out.push((k.to_string(), v.clone()));
        }
        for (k, v) in multi.iter().filter(|(k, _)| k == key) {
            out.push((k.clone(), v.clone()));
        }
    }
    for (k, _, v) in &single {
        if !KEY_ORDER.contains(k) {
            out.push((k.to_string(), v.clone()));
        }
    }
    for (k, v) in &multi {
        if !KEY_ORDER.contains(&k.as_str()) {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const THESIS_HTML: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/doctrine/tesi_piras_01-prova-scientifica.rendered.html"
    );
    const THESIS_MD: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/doctrine/tesi_piras_01-prova-scientifica.md"
    );

    /// The nine headings (h1–h4 in the rendering), in order.
    const THESIS_HEADINGS: [(u8, &str); 9] = [
        (
            1,
            "Approccio scientifico all'informatica forense e alla prova informatica",
        ),
        (2, "Definizione di informatica forense"),
        (2, "Ambiti di rilevanza dell'informatica forense"),
        (3, "Diritto penale sostanziale"),
        (3, "Diritto processuale penale"),
        (3, "Altre branche del diritto"),
        (2, "Problemi dell'informatica forense"),
        (2, "Rigore scientifico nell'informatica forense"),
        (2, "Prova informatica e perizia"),
    ];

    fn thesis() -> TextDocument {
        parse_html(&std::fs::read(THESIS_HTML).expect("fixture")).expect("parses")
    }

    fn headings(doc: &TextDocument) -> Vec<(u8, String)> {
        doc.blocks
            .iter()
            .filter_map(|b| match b.kind {
                BlockKind::Heading(l) => Some((l, doc.block_text(b).to_string())),
                _ => None,
            })
            .collect()
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn thesis_rendering_has_the_nine_headings() {
        let doc = thesis();
        let want: Vec<(u8, String)> = THESIS_HEADINGS
            .iter()
            .map(|(l, t)| (*l, t.to_string()))
            .collect();
        assert_eq!(headings(&doc), want);
        let title = &doc.metadata.iter().find(|(k, _)| k == "title").unwrap().1;
        assert!(title.starts_with(
            "Approccio scientifico all'informatica forense e alla prova informatica (L. Piras"
        ));
        assert!(doc.metadata.contains(&("language".into(), "it".into())));
        assert_eq!(doc.pages, 0);
        // Only the article's text: no markup, nothing from <head>.
        assert!(!doc.text.contains('<') && !doc.text.contains("python-markdown"));
        assert!(doc.text.starts_with("Approccio scientifico"));
        for b in &doc.blocks {
            assert_eq!(&doc.text[b.start..b.end], doc.block_text(b));
        }
    }

    #[test]
    fn thesis_rendering_paragraphs_match_the_markdown() {
        let html = thesis();
        let md_bytes = std::fs::read(THESIS_MD).expect("fixture");
        let md = crate::parse::text::parse_markdown(std::str::from_utf8(&md_bytes).unwrap());
        let texts = |d: &TextDocument, kind: BlockKind| -> Vec<String> {
            d.blocks
                .iter()
                .filter(|b| b.kind == kind)
                .map(|b| squash(d.block_text(b)))
                .collect()
        };
        let (hp, mp) = (
            texts(&html, BlockKind::Paragraph),
            texts(&md, BlockKind::Paragraph),
        );
        // 49 <p> in the rendering: the same paragraphs, the same texts.
        assert_eq!(hp.len(), 49);
        assert_eq!(hp.len(), mp.len());
        // Sampled: the first (an &hellip; entity and two footnotes), one with emphasis inside
        // a quotation, the block quote, the last.
        for i in [0, 3, hp.len() - 1] {
            assert_eq!(hp[i], mp[i], "paragraph {i}");
        }
        let quote = |v: &[String]| {
            v.iter()
                .find(|p| p.starts_with("La perizia è ammessa quando occorre"))
                .cloned()
        };
        assert_eq!(quote(&hp), quote(&mp));
        assert!(quote(&hp).is_some());
        // In fact every paragraph and list item agrees.
        assert_eq!(hp, mp);
        assert_eq!(
            texts(&html, BlockKind::ListItem),
            texts(&md, BlockKind::ListItem)
        );
        assert_eq!(texts(&html, BlockKind::ListItem).len(), 12);
        // The footnotes are there as text.
        assert_eq!(html.text.matches("^[").count(), 111);
    }

    #[test]
    fn furniture_is_dropped_and_main_content_preferred() {
        let page = r#"<!doctype html><html lang="it"><head>
            <title>Sito - Articolo</title>
            <meta name="author" content="Mario Rossi">
            <meta name="citation_author" content="Anna Bianchi">
            <meta property="article:author" content="https://facebook.com/x">
            <meta property="article:published_time" content="2024-03-01T10:00:00Z">
            <meta name="citation_publication_date" content="2024/02/28">
            <meta name="DC.publisher" content="Rivista di diritto">
            <meta name="citation_doi" content="10.1000/xyz">
            <meta name="citation_volume" content="12">
            <style>p { color: red }</style>
            <script>var tracking = "SCRIPT TEXT";</script>
            </head><body>
            <header><a href="/">HOME</a> <h1>Nome del sito</h1></header>
            <nav><ul><li>Menu uno</li><li>Menu due</li></ul></nav>
            <main>
              <article>
                <header><h1>La responsabilità dell'ente</h1><p>di Mario Rossi</p></header>
                <p>Il d.lgs. 231/2001   disciplina
                   la responsabilità <em>amministrativa</em> degli enti.<br>A capo.</p>
                <script>document.write("INLINE SCRIPT")</script>
                <noscript>NOSCRIPT TEXT</noscript>
                <div>Testo in un div <span>con span</span><div>e un div annidato</div></div>
                <h2>Art. 5</h2>
                <blockquote>L'ente è responsabile per i reati commessi nel suo interesse.</blockquote>
                <ol><li>soggetti apicali<ul><li>amministratori</li></ul></li><li><p>sottoposti</p><p>alla direzione</p></li></ol>
                <table><caption>Sanzioni</caption><tr><th>Tipo</th><th>Art.</th></tr>
                  <tr><td>pecuniarie</td><td>10</td></tr><tr><td>interdittive</td><td>9</td></tr></table>
                <pre>  riga 1
  riga 2</pre>
                <p hidden>HIDDEN TEXT</p><p style="display: none">NONE TEXT</p>
                <div aria-hidden="true">ARIA HIDDEN</div>
                <form><label>Cerca</label><input value="x"></form>
                <footer>Condividi su FOOTER</footer>
              </article>
            </main>
            <aside>ASIDE TEXT</aside>
            <footer>© 2024 FOOTER</footer>
            </body></html>"#;
        let doc = parse_html(page.as_bytes()).unwrap();
        for junk in [
            "SCRIPT",
            "color: red",
            "HOME",
            "Nome del sito",
            "Menu uno",
            "NOSCRIPT",
            "HIDDEN",
            "NONE TEXT",
            "ARIA",
            "Cerca",
            "FOOTER",
            "ASIDE",
        ] {
            assert!(!doc.text.contains(junk), "{junk} leaked: {}", doc.text);
        }
        let blocks: Vec<(BlockKind, &str)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, doc.block_text(b)))
            .collect();
        assert_eq!(
            blocks,
            vec![
                (BlockKind::Heading(1), "La responsabilità dell'ente"),
                (BlockKind::Paragraph, "di Mario Rossi"),
                (
                    BlockKind::Paragraph,
                    "Il d.lgs. 231/2001 disciplina la responsabilità amministrativa degli enti.\nA capo."
                ),
                (BlockKind::Paragraph, "Testo in un div con span"),
                (BlockKind::Paragraph, "e un div annidato"),
                (BlockKind::Heading(2), "Art. 5"),
                (
                    BlockKind::Paragraph,
                    "L'ente è responsabile per i reati commessi nel suo interesse."
                ),
                (BlockKind::ListItem, "soggetti apicali"),
                (BlockKind::ListItem, "amministratori"),
                (BlockKind::ListItem, "sottoposti alla direzione"),
                (BlockKind::Paragraph, "Sanzioni"),
                (
                    BlockKind::Table,
                    "Tipo | Art.\npecuniarie | 10\ninterdittive | 9"
                ),
                (BlockKind::Paragraph, "riga 1\n  riga 2"),
            ]
        );
        let meta: Vec<(&str, &str)> = doc
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            meta,
            [
                ("title", "Sito - Articolo"),
                ("author", "Mario Rossi"),
                ("author", "Anna Bianchi"),
                ("date", "2024/02/28"),
                ("language", "it"),
                ("publisher", "Rivista di diritto"),
                ("identifier", "10.1000/xyz"),
                ("citation_volume", "12"),
            ]
        );
    }

    #[test]
    fn articles_listing_falls_back_to_body_and_h1_gives_the_title() {
        // A small teaser <article> next to the real text: the body is read.
        let long = "Testo della massima. ".repeat(40);
        let page = format!(
            "<html><body><h1>Cass. civ. n. 1/2024</h1><div><p>{long}</p></div>\
             <article><p>Correlati</p></article></body></html>"
        );
        let doc = parse_html(page.as_bytes()).unwrap();
        assert!(doc.text.contains("Testo della massima."));
        assert!(doc.text.contains("Correlati"));
        assert_eq!(
            doc.metadata,
            vec![("title".to_string(), "Cass. civ. n. 1/2024".to_string())]
        );
        // One real article: only it.
        let page = format!(
            "<html><body><div class=menu>Menu</div><article><h2>Titolo</h2><p>{long}</p></article></body></html>"
        );
        let doc = parse_html(page.as_bytes()).unwrap();
        assert!(!doc.text.contains("Menu"));
        assert_eq!(doc.block_text(&doc.blocks[0]), "Titolo");
    }

    #[test]
    fn an_empty_main_does_not_hide_the_text() {
        let page = "<html><body><main></main><div><h1>Ordinanza</h1><p>Il Tribunale dispone.</p></div></body></html>";
        let doc = parse_html(page.as_bytes()).unwrap();
        assert_eq!(doc.text, "Ordinanza\n\nIl Tribunale dispone.");
    }

    #[test]
    fn layout_tables_are_walked_as_blocks() {
        let page = "<html><body><table><tr><td><h1>Sentenza</h1><p>Primo.</p><p>Secondo.</p></td></tr></table></body></html>";
        let doc = parse_html(page.as_bytes()).unwrap();
        let kinds: Vec<BlockKind> = doc.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Heading(1),
                BlockKind::Paragraph,
                BlockKind::Paragraph
            ]
        );
    }

    #[test]
    fn non_utf8_pages_are_read_as_windows_1252() {
        let mut page = b"<html><head><meta charset=\"iso-8859-1\"><title>Perch".to_vec();
        page.push(0xE9); // é
        page.extend_from_slice(b"</title></head><body><p>L'attivit");
        page.push(0xE0); // à
        page.extend_from_slice(b" del perito costa 100 ");
        page.push(0x80); // € in Windows-1252
        page.extend_from_slice(b" ");
        page.push(0x93); // “
        page.extend_from_slice(b"ok");
        page.push(0x94); // ”
        page.extend_from_slice(b"</p></body></html>");
        let doc = parse_html(&page).unwrap();
        assert_eq!(doc.text, "L'attività del perito costa 100 € “ok”");
        assert!(doc.metadata.contains(&("title".into(), "Perché".into())));
        assert!(doc
            .metadata
            .contains(&("encoding".into(), "windows-1252".into())));
        // ISO-8859-15 when declared: 0xA4 is €.
        let doc = parse_html(b"<meta charset=ISO-8859-15><p>costo \xA4 10, perch\xE9</p>").unwrap();
        assert_eq!(doc.text, "costo € 10, perché");
        // UTF-16 with a BOM.
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<p>è così</p>".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(parse_html(&utf16).unwrap().text, "è così");
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert_eq!(parse_html(b""), Err(HtmlError::Empty));
        assert_eq!(parse_html(b"  \n "), Err(HtmlError::Empty));
        assert_eq!(
            parse_html(
                b"<html><head><title>x</title><script>a()</script></head><body> </body></html>"
            ),
            Err(HtmlError::NoText)
        );
        assert!(matches!(
            parse_html(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Err(HtmlError::Binary(_))
        ));
        // Random bytes (deterministic xorshift): an error, never a panic.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..50 {
            let junk: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8
                })
                .collect();
            let e = parse_html(&junk).unwrap_err();
            assert!(matches!(e, HtmlError::Binary(_)), "{e}");
        }
        assert!(HtmlError::NoText.to_string().contains("no readable text"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 20_000;
        let page = format!(
            "<html><body>{}testo profondo{}</body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let doc = parse_html(page.as_bytes()).unwrap();
        assert_eq!(doc.text, "testo profondo");
        let page = format!("<p>{}fine", "<b><i>".repeat(5_000));
        assert!(parse_html(page.as_bytes()).unwrap().text.contains("fine"));
    }
}

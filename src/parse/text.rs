//! Plain text and Markdown → [`TextDocument`].
//!
//! * [`decode`] turns bytes into text: UTF-8 (a UTF-8 BOM is dropped, UTF-16 with a BOM is
//!   accepted), and refuses what is not text: empty input, NUL bytes, a high share of control
//!   characters, bytes that are not UTF-8.
//! * [`parse_markdown`]: Pandoc/CommonMark-style Markdown read line by line: ATX (`# …`) and
//!   setext headings, paragraphs, list items, block quotes (as paragraphs), fenced code (as a
//!   paragraph), pipe tables, YAML front matter and Pandoc `%` title blocks → metadata. Inline
//!   markup is reduced to its text (emphasis, links, code spans, entities); Pandoc inline
//!   footnotes `^[…]` stay in the paragraph's text because they carry the citations.
//! * [`parse_plain`]: paragraphs split on blank lines (line breaks inside kept); short lines
//!   written all in capitals ("FATTI DI CAUSA", "P.Q.M.") become headings, as in Italian
//!   judgments; lines that are only a rule (`=====`) are dropped.

use std::sync::OnceLock;

use regex::Regex;

use crate::parse::textdoc::{BlockKind, TextDocument};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("empty input: no text")]
    Empty,
    #[error("binary data, not text: NUL byte at offset {offset}")]
    NulByte { offset: usize },
    #[error("binary data, not text: {control} of {total} characters are control characters")]
    ControlChars { control: usize, total: usize },
    #[error(
        "not UTF-8: invalid byte sequence at offset {offset} (re-encode the file as UTF-8; \
         Latin-1/Windows-1252 text is not guessed)"
    )]
    NotUtf8 { offset: usize },
    #[error("invalid UTF-16 text (after a UTF-16 byte-order mark)")]
    BadUtf16,
}

/// Share of control characters (other than tab, line feed, carriage return, form feed) above
/// which input is refused as binary, in per mille.
const MAX_CONTROL_PER_MILLE: usize = 10;

/// Decode bytes as text: UTF-8 (BOM stripped) or UTF-16 with a BOM. Refuses empty (or only
/// whitespace) input, NUL bytes, invalid UTF-8 and text with more than 1% control characters.
pub fn decode(bytes: &[u8]) -> Result<String, TextError> {
    let text = if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        utf8(rest)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16(rest, u16::from_le_bytes)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        utf16(rest, u16::from_be_bytes)?
    } else {
        utf8(bytes)?
    };
    if text.trim().is_empty() {
        return Err(TextError::Empty);
    }
    if let Some(offset) = text.find('\0') {
        return Err(TextError::NulByte { offset });
    }
    let mut total = 0usize;
    let mut control = 0usize;
    for c in text.chars() {
        total += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{0C}') {
            control += 1;
        }
    }
    if control * 1000 > total * MAX_CONTROL_PER_MILLE {
        return Err(TextError::ControlChars { control, total });
    }
    Ok(text)
}

fn utf8(bytes: &[u8]) -> Result<String, TextError> {
    if bytes.is_empty() {
        return Err(TextError::Empty);
    }
    // NUL first: binary files usually have one early, and "binary" is the better message.
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(TextError::NulByte { offset });
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => Err(TextError::NotUtf8 {
            offset: e.valid_up_to(),
        }),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, TextError> {
    if bytes.is_empty() {
        return Err(TextError::Empty);
    }
    if !bytes.len().is_multiple_of(2) {
        return Err(TextError::BadUtf16);
    }
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| TextError::BadUtf16)
}

// ---------------------------------------------------------------------------------------------
// Plain text
// ---------------------------------------------------------------------------------------------

/// Plain text: blocks are separated by blank lines; line breaks inside a block are kept.
/// A line on its own that is short and written all in capitals becomes a `Heading(1)`
/// (judgments: "ORDINANZA", "FATTI DI CAUSA", "RAGIONI DELLA DECISIONE", "P.Q.M.").
pub fn parse_plain(text: &str) -> TextDocument {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut blocks: Vec<(BlockKind, u32, String)> = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<(BlockKind, u32, String)>| {
        if !para.is_empty() {
            blocks.push((BlockKind::Paragraph, 0, para.join("\n")));
            para.clear();
        }
    };
    for raw in text.lines() {
        let line = raw.trim_end();
        if line.trim().is_empty() || is_rule_line(line) {
            flush(&mut para, &mut blocks);
        } else if is_caps_heading(line) {
            flush(&mut para, &mut blocks);
            blocks.push((BlockKind::Heading(1), 0, line.trim().to_string()));
        } else {
            para.push(line);
        }
    }
    flush(&mut para, &mut blocks);
    TextDocument::from_blocks(blocks, Vec::new(), 0)
}

/// A line made only of one repeated punctuation character (`=====`, `-----`, `*****`, `____`).
fn is_rule_line(line: &str) -> bool {
    let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let mut chars = t.chars();
    match chars.next() {
        Some(first) if matches!(first, '=' | '-' | '*' | '_' | '~' | '#') => {
            t.chars().count() >= 3 && chars.all(|c| c == first)
        }
        _ => false,
    }
}

/// Short line, at least three letters, all letters capitals, no lower case, not ending like a
/// sentence that continues (`,` `;`).
fn is_caps_heading(line: &str) -> bool {
    let t = line.trim();
    if t.chars().count() > 60 || t.split_whitespace().count() > 8 {
        return false;
    }
    if t.ends_with(',') || t.ends_with(';') || t.ends_with('-') {
        return false;
    }
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    letters >= 3
        && t.chars()
            .filter(|c| c.is_alphabetic())
            .all(|c| c.is_uppercase())
        // Mostly letters: "2025 - 12 - 1 ABC" style stamps are not headings.
        && letters * 2 >= t.chars().filter(|c| !c.is_whitespace()).count()
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("static regex"))
}

fn atx_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
}
fn list_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // "a)" and "(iv)" are common in Italian legal lists; "L. 53/2022" is not a list marker.
    re(
        &R,
        r"^(\s*)(?:[-*+]|\d{1,9}[.)]|[a-z]\)|\(\w{1,4}\))[ \t]+(.*)$",
    )
}
fn fence_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^ {0,3}(`{3,}|~{3,})")
}
fn thematic_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$",
    )
}
fn setext_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^ {0,3}(=+|-+)[ \t]*$")
}
fn table_sep_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
}

#[derive(PartialEq)]
enum Open {
    None,
    Para,
    Item,
}

struct MdBuilder {
    blocks: Vec<(BlockKind, u32, String)>,
    lines: Vec<String>,
    open: Open,
}

impl MdBuilder {
    fn flush(&mut self) {
        if self.open != Open::None && !self.lines.is_empty() {
            let kind = if self.open == Open::Item {
                BlockKind::ListItem
            } else {
                BlockKind::Paragraph
            };
            let joined = join_soft_lines(&self.lines);
            self.blocks.push((kind, 0, inline_to_text(&joined)));
        }
        self.lines.clear();
        self.open = Open::None;
    }
    fn push(&mut self, kind: BlockKind, text: String) {
        self.flush();
        self.blocks.push((kind, 0, text));
    }
}

/// Lines of one paragraph joined: a soft break is a space, a hard break (two trailing spaces
/// or a trailing backslash) a newline.
fn join_soft_lines(lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let hard = l.ends_with("  ") || (l.ends_with('\\') && !l.ends_with("\\\\"));
        let t = l.trim();
        let t = if hard { t.trim_end_matches('\\') } else { t };
        out.push_str(t.trim_end());
        if i + 1 < lines.len() {
            out.push(if hard { '\n' } else { ' ' });
        }
    }
    out
}

/// Markdown (Pandoc flavour) → blocks. Never fails: whatever is not recognised is text.
pub fn parse_markdown(text: &str) -> TextDocument {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let all: Vec<&str> = text.lines().collect();
    let (mut metadata, start) = front_matter(&all);
    let mut b = MdBuilder {
        blocks: Vec::new(),
        lines: Vec::new(),
        open: Open::None,
    };
    let mut i = start;
    // The indentation of the marker of the list item being continued.
    let mut item_indent = 0usize;
    let mut after_blank = false;
    while i < all.len() {
        let line = all[i].trim_end_matches('\r');
        i += 1;
        if line.trim().is_empty() {
            // A blank line closes a paragraph; a list item may go on with indented lines.
            if b.open == Open::Para {
                b.flush();
            }
            after_blank = true;
            continue;
        }
        let blank_before = std::mem::replace(&mut after_blank, false);
        let indent = line.len() - line.trim_start().len();

        // Fenced code: kept verbatim as one paragraph.
        if let Some(c) = fence_re().captures(line) {
            let fence = c[1].to_string();
            b.flush();
            let mut code = Vec::new();
            while i < all.len() {
                let l = all[i].trim_end_matches('\r');
                i += 1;
                let lt = l.trim_start();
                if lt.starts_with(&fence)
                    && lt.trim_end().chars().all(|ch| ch == fence_char(&fence))
                {
                    break;
                }
                code.push(l);
            }
            b.push(BlockKind::Paragraph, code.join("\n"));
            continue;
        }
        // An indented line after a blank line inside a list item: the item goes on.
        if b.open == Open::Item && blank_before && indent > item_indent {
            b.lines.push(line.to_string());
            continue;
        }
        if b.open == Open::Item && blank_before {
            b.flush();
        }
        // ATX heading.
        if let Some(c) = atx_re().captures(line) {
            let level = c[1].len() as u8;
            let t = c.get(2).map_or("", |m| m.as_str());
            let t = strip_closing_hashes(t);
            let t = strip_attributes(t);
            b.push(BlockKind::Heading(level), inline_to_text(t));
            continue;
        }
        // Setext underline under a paragraph.
        if b.open == Open::Para {
            if let Some(c) = setext_re().captures(line) {
                let level = if c[1].starts_with('=') { 1 } else { 2 };
                let joined = join_soft_lines(&b.lines);
                b.lines.clear();
                b.open = Open::None;
                b.push(
                    BlockKind::Heading(level),
                    inline_to_text(strip_attributes(&joined)),
                );
                continue;
            }
        }
        if thematic_re().is_match(line) {
            b.flush();
            continue;
        }
        // Pipe table: a header row followed by a separator row.
        if line.trim_start().starts_with('|')
            && i < all.len()
            && table_sep_re().is_match(all[i])
            && b.open != Open::Para
        {
            b.flush();
            let mut rows = vec![table_row(line)];
            i += 1; // the separator
            while i < all.len() && all[i].trim_start().starts_with('|') {
                rows.push(table_row(all[i]));
                i += 1;
            }
            b.push(BlockKind::Table, rows.join("\n"));
            continue;
        }
        // List item (nested items are items of their own).
        if let Some(c) = list_re().captures(line) {
            // "1990. fu un anno…" in running text is not a list: only after a block boundary
            // or inside a list.
            if b.open != Open::Para || is_bullet(line) {
                b.flush();
                b.open = Open::Item;
                item_indent = c[1].len();
                b.lines.push(c[2].to_string());
                continue;
            }
        }
        // Block quote: its text is a paragraph.
        if let Some(q) = strip_quote(line) {
            if b.open != Open::Para {
                b.flush();
                b.open = Open::Para;
            }
            if q.trim().is_empty() {
                b.flush();
            } else {
                b.lines.push(q.to_string());
            }
            continue;
        }
        // Continuation or start of a paragraph.
        if b.open == Open::None {
            b.open = Open::Para;
        }
        b.lines.push(line.to_string());
    }
    b.flush();
    if !metadata.iter().any(|(k, _)| k == "title") {
        if let Some((_, _, t)) = b
            .blocks
            .iter()
            .find(|(k, _, t)| *k == BlockKind::Heading(1) && !t.trim().is_empty())
        {
            metadata.push(("title".into(), t.trim().to_string()));
        }
    }
    TextDocument::from_blocks(b.blocks, metadata, 0)
}

fn fence_char(fence: &str) -> char {
    fence.chars().next().unwrap_or('`')
}

fn is_bullet(line: &str) -> bool {
    matches!(line.trim_start().chars().next(), Some('-' | '*' | '+'))
}

fn strip_quote(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let rest = t.strip_prefix('>')?;
    // Nested quotes: "> > text".
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    Some(strip_quote(rest).unwrap_or(rest))
}

fn strip_closing_hashes(t: &str) -> &str {
    let trimmed = t.trim_end();
    let without = trimmed.trim_end_matches('#');
    if without.len() == trimmed.len() {
        return trimmed;
    }
    if without.is_empty() {
        return "";
    }
    if without.ends_with(' ') || without.ends_with('\t') {
        without.trim_end()
    } else {
        trimmed
    }
}

/// Pandoc header attributes: `Title {#id .class}`.
fn strip_attributes(t: &str) -> &str {
    let t = t.trim_end();
    if t.ends_with('}') {
        if let Some(open) = t.rfind(" {") {
            let attrs = &t[open + 2..t.len() - 1];
            if attrs.starts_with('#') || attrs.starts_with('.') || attrs.starts_with('-') {
                return t[..open].trim_end();
            }
        }
    }
    t
}

fn table_row(line: &str) -> String {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|')
        .map(|c| inline_to_text(c.trim()))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Front matter: YAML between `---` and `---`/`...` on the first line, or a Pandoc title
/// block (`% title`, `% author(s)`, `% date`). Returns metadata and the first body line.
fn front_matter(lines: &[&str]) -> (Vec<(String, String)>, usize) {
    let mut meta = Vec::new();
    let first = lines.first().map(|l| l.trim_end());
    if first == Some("---") {
        let end = lines
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, l)| matches!(l.trim_end(), "---" | "..."))
            .map(|(n, _)| n);
        // Only a block that looks like YAML: otherwise "---" is a thematic break.
        if let Some(end) = end {
            let body = &lines[1..end];
            if body.iter().any(|l| yaml_key(l).is_some()) {
                meta = yaml_metadata(body);
                return (meta, end + 1);
            }
        }
    }
    if first.is_some_and(|l| l.starts_with('%')) {
        let mut n = 0;
        let keys = ["title", "author", "date"];
        while n < lines.len() && n < 3 && lines[n].starts_with('%') {
            let v = lines[n][1..].trim();
            if !v.is_empty() {
                if keys[n] == "author" {
                    for a in v.split(';').map(str::trim).filter(|a| !a.is_empty()) {
                        meta.push(("author".into(), a.to_string()));
                    }
                } else {
                    meta.push((keys[n].into(), v.to_string()));
                }
            }
            n += 1;
        }
        return (meta, n);
    }
    (meta, 0)
}

fn yaml_key(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(' ') || line.starts_with('\t') || line.starts_with('#') {
        return None;
    }
    let (k, v) = line.split_once(':')?;
    let k = k.trim();
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    Some((k, v.trim()))
}

fn normalize_key(k: &str) -> String {
    let k = k.to_lowercase();
    match k.as_str() {
        "authors" | "autore" | "autori" | "creator" => "author".into(),
        "titolo" => "title".into(),
        "data" => "date".into(),
        _ => k,
    }
}

/// A small subset of YAML: `key: scalar`, `key: [a, b]`, and `key:` followed by `- item` or
/// `- name: item` lines. Block scalars (`|`, `>`) take their indented lines.
fn yaml_metadata(lines: &[&str]) -> Vec<(String, String)> {
    let mut meta = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let Some((k, v)) = yaml_key(lines[n]) else {
            n += 1;
            continue;
        };
        let key = normalize_key(k);
        n += 1;
        if v.is_empty() || v == "|" || v == ">" || v == "|-" || v == ">-" {
            let mut parts = Vec::new();
            let mut items = Vec::new();
            while n < lines.len() && (lines[n].starts_with(' ') || lines[n].starts_with('-')) {
                let l = lines[n].trim();
                if let Some(item) = l.strip_prefix("- ") {
                    let item = item.trim();
                    // "- name: X" (Pandoc author objects)
                    let item = match item.split_once(':') {
                        Some((ik, iv)) if matches!(ik.trim(), "name" | "nome") => iv.trim(),
                        _ => item,
                    };
                    items.push(unquote(item));
                } else if !l.is_empty() && !v.is_empty() {
                    // Block scalar text (`|` or `>`); nested mappings under `key:` are skipped.
                    parts.push(l.to_string());
                }
                n += 1;
            }
            for it in items.into_iter().filter(|s| !s.is_empty()) {
                meta.push((key.clone(), it));
            }
            if !parts.is_empty() {
                meta.push((key.clone(), parts.join(" ")));
            }
        } else if let Some(list) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            for it in list.split(',').map(|s| unquote(s.trim())) {
                if !it.is_empty() {
                    meta.push((key.clone(), it));
                }
            }
        } else {
            let s = unquote(v);
            if !s.is_empty() {
                meta.push((key, s));
            }
        }
    }
    meta
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        &s[1..s.len() - 1]
    } else {
        s
    };
    s.to_string()
}

// ----- inline markup -------------------------------------------------------------------------

fn code_span_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(`+)([^`]|[^`].*?[^`])(`+)")
}
fn image_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"!\[([^\]]*)\]\([^)]*\)")
}
fn link_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // Not preceded by '^' (a Pandoc footnote `^[...]` followed by a parenthesis).
    re(
        &R,
        r"(^|[^\^!\\])\[([^\]\[]*)\]\((?:[^()\s]+|<[^>]*>)(?:\s+[^)]*)?\)",
    )
}
fn span_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(^|[^\^!\\])\[([^\]\[]*)\]\{[^}]*\}")
}
fn autolink_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"<((?:https?|ftp|mailto):[^>\s]+|[\w.+-]+@[\w-]+\.[\w.-]+)>",
    )
}
fn strong_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(\*\*|__)(\S(?:.*?\S)?)(\*\*|__)")
}
fn em_star_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"\*(\S(?:[^*]*?\S)?)\*")
}
fn em_under_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // Intraword underscores (id_evento) are not emphasis.
    re(&R, r"(^|[^\w\\])_(\S(?:[^_]*?\S)?)_($|[^\w])")
}
fn strike_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"~~(\S(?:.*?\S)?)~~")
}
fn entity_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});",
    )
}
fn html_tag_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->")
}

/// Markdown inline markup → its text. Footnotes `^[…]`, citations `@key` and brackets that
/// are not links (`[A]ny`) stay as written.
fn inline_to_text(s: &str) -> String {
    // Code spans first: their content is literal. Protect it from the other rules by
    // swapping it out for placeholders (private-use characters cannot occur in code spans
    // of real documents, and are removed if they do).
    let mut codes: Vec<String> = Vec::new();
    let s = s.replace(['\u{E000}', '\u{E001}'], "");
    let s = code_span_re().replace_all(&s, |c: &regex::Captures| {
        if c[1].len() != c[3].len() {
            return c[0].to_string();
        }
        codes.push(c[2].trim().to_string());
        format!("\u{E000}{}\u{E001}", codes.len() - 1)
    });
    let s = autolink_re().replace_all(&s, "$1");
    let s = image_re().replace_all(&s, "$1");
    let s = link_re().replace_all(&s, "$1$2");
    let s = span_re().replace_all(&s, "$1$2");
    let s = html_tag_re().replace_all(&s, "");
    let s = strong_re().replace_all(&s, |c: &regex::Captures| {
        if c[1] == c[3] {
            c[2].to_string()
        } else {
            c[0].to_string()
        }
    });
    let s = em_star_re().replace_all(&s, "$1");
    let s = em_under_re().replace_all(&s, "$1$2$3");
    let s = strike_re().replace_all(&s, "$1");
    let s = unescape_backslashes(&s);
    let s = decode_entities(&s);
    // Put the code spans back.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(start) = rest.find('\u{E000}') {
        out.push_str(&rest[..start]);
        let after = &rest[start + '\u{E000}'.len_utf8()..];
        match after.find('\u{E001}') {
            Some(end) => {
                if let Some(code) = after[..end]
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| codes.get(n))
                {
                    out.push_str(code);
                }
                rest = &after[end + '\u{E001}'.len_utf8()..];
            }
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn unescape_backslashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n.is_ascii_punctuation() {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// Named and numeric character references (the common named ones: Pandoc passes raw HTML
/// entities through, a browser shows their character).
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    entity_re()
        .replace_all(s, |c: &regex::Captures| {
            let name = &c[1];
            let ch = if let Some(num) = name.strip_prefix('#') {
                let n = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    num.parse::<u32>().ok()
                };
                n.and_then(char::from_u32).filter(|c| *c != '\0')
            } else {
                named_entity(name)
            };
            match ch {
                Some(ch) => ch.to_string(),
                None => c[0].to_string(),
            }
        })
        .into_owned()
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "sect" => '§',
        "para" => '¶',
        "deg" => '°',
        "euro" => '€',
        "copy" => '©',
        "reg" => '®',
        "middot" => '·',
        "bull" => '•',
        "shy" => '\u{AD}',
        "agrave" => 'à',
        "aacute" => 'á',
        "egrave" => 'è',
        "eacute" => 'é',
        "igrave" => 'ì',
        "iacute" => 'í',
        "ograve" => 'ò',
        "oacute" => 'ó',
        "ugrave" => 'ù',
        "uacute" => 'ú',
        "Agrave" => 'À',
        "Egrave" => 'È',
        "Eacute" => 'É',
        "Igrave" => 'Ì',
        "Ograve" => 'Ò',
        "Ugrave" => 'Ù',
        "ordf" => 'ª',
        "ordm" => 'º',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const THESIS_MD: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/doctrine/tesi_piras_01-prova-scientifica.md"
    );

    /// The nine headings of the thesis chapter, in order, with their levels (MANIFEST.tsv
    /// lists the first six; the rest read from the file).
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

    fn headings(doc: &TextDocument) -> Vec<(u8, String)> {
        doc.blocks
            .iter()
            .filter_map(|b| match b.kind {
                BlockKind::Heading(l) => Some((l, doc.block_text(b).to_string())),
                _ => None,
            })
            .collect()
    }

    fn thesis() -> TextDocument {
        let bytes = std::fs::read(THESIS_MD).expect("fixture");
        parse_markdown(&decode(&bytes).expect("utf-8"))
    }

    #[test]
    fn thesis_markdown_has_its_nine_headings() {
        let doc = thesis();
        let got = headings(&doc);
        let want: Vec<(u8, String)> = THESIS_HEADINGS
            .iter()
            .map(|(l, t)| (*l, t.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            doc.metadata,
            vec![(
                "title".to_string(),
                "Approccio scientifico all'informatica forense e alla prova informatica"
                    .to_string()
            )]
        );
    }

    #[test]
    fn thesis_markdown_keeps_footnotes_in_paragraphs() {
        let doc = thesis();
        // 111 inline footnotes in the source (MANIFEST); all kept.
        assert_eq!(doc.text.matches("^[").count(), 111);
        let first = doc
            .blocks
            .iter()
            .find(|b| b.kind == BlockKind::Paragraph)
            .unwrap();
        assert_eq!(
            doc.block_text(first),
            "Nel tempo, sono state date numerose definizioni dell'informatica forense,^[Per un \
             elenco, v. @Gammarota2016, p. 16.] che iniziano con \"l'informatica forense riguarda \
             la …\", e continuano con un elenco di attività tipiche.^[Ad esempio, la ricerca, \
             protezione, identificazione, estrazione, documentazione, analisi, esibizione, \
             conservazione, interpretazione, ecc. di mezzi di prova, prove informatiche o \
             elettroniche, dati del computer, ecc.]"
        );
        // A norm citation inside a footnote survives.
        assert!(doc.text.contains("art. 55 co. 1 c.p.p."));
        // Lists and the block quote.
        let items: Vec<&str> = doc
            .blocks
            .iter()
            .filter(|b| b.kind == BlockKind::ListItem)
            .map(|b| doc.block_text(b))
            .collect();
        assert_eq!(items.len(), 12);
        assert!(items[0].starts_with("Spesso si concentrano solo sugli aspetti tecnici"));
        assert!(doc.blocks.iter().any(|b| b.kind == BlockKind::Paragraph
            && doc
                .block_text(b)
                .starts_with("La perizia è ammessa quando occorre")));
        // Emphasis markers gone, the words kept.
        assert!(doc
            .text
            .contains("la definizione di digital evidence^[Prova informatica.]"));
        for b in &doc.blocks {
            assert_eq!(doc.block_text(b), doc.block_text(b).trim());
        }
    }

    #[test]
    fn markdown_front_matter_setext_fences_and_tables() {
        let md = "---\ntitle: \"Sentenza n. 123/2024\"\nauthor:\n  - Mario Rossi\n  - name: Anna Bianchi\ndate: 2024-05-01\ntags: [civile, appalto]\n---\n\nIntroduzione\n============\n\nTesto del *primo* paragrafo\ncon [un link](https://example.org) e `art_1`.\n\nSezione\n-------\n\n```\nfn main() {}\n```\n\n| Art. | Rubrica |\n|---|---|\n| 1 | Oggetto |\n| 2 | Definizioni |\n\n1. primo punto\n   che continua\n2. secondo punto\n\n***\n\nid_evento e id_vittima restano.\n";
        let doc = parse_markdown(md);
        assert_eq!(
            doc.metadata,
            vec![
                ("title".into(), "Sentenza n. 123/2024".into()),
                ("author".into(), "Mario Rossi".into()),
                ("author".into(), "Anna Bianchi".into()),
                ("date".into(), "2024-05-01".into()),
                ("tags".into(), "civile".into()),
                ("tags".into(), "appalto".into()),
            ]
        );
        let kinds: Vec<(BlockKind, &str)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, doc.block_text(b)))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (BlockKind::Heading(1), "Introduzione"),
                (
                    BlockKind::Paragraph,
                    "Testo del primo paragrafo con un link e art_1."
                ),
                (BlockKind::Heading(2), "Sezione"),
                (BlockKind::Paragraph, "fn main() {}"),
                (
                    BlockKind::Table,
                    "Art. | Rubrica\n1 | Oggetto\n2 | Definizioni"
                ),
                (BlockKind::ListItem, "primo punto che continua"),
                (BlockKind::ListItem, "secondo punto"),
                (BlockKind::Paragraph, "id_evento e id_vittima restano."),
            ]
        );
        // Offsets index the extracted text.
        for b in &doc.blocks {
            assert_eq!(&doc.text[b.start..b.end], doc.block_text(b));
        }
    }

    #[test]
    fn markdown_pandoc_title_block_and_atx_variants() {
        let md = "% Il titolo\n% Rossi; Verdi\n% 1 gennaio 2024\n\n## Capo I ##\n### Art. 1 {#art1}\n#nohashspace\n";
        let doc = parse_markdown(md);
        assert_eq!(
            doc.metadata,
            vec![
                ("title".into(), "Il titolo".into()),
                ("author".into(), "Rossi".into()),
                ("author".into(), "Verdi".into()),
                ("date".into(), "1 gennaio 2024".into()),
            ]
        );
        assert_eq!(
            headings(&doc),
            vec![(2, "Capo I".to_string()), (3, "Art. 1".to_string())]
        );
        assert!(doc.text.ends_with("#nohashspace"));
    }

    #[test]
    fn plain_text_paragraphs_and_capital_headings() {
        let txt = "======================\nCivile Ord. Sez. 5   Num. 30039  Anno 2025\nPresidente: FUOCHI TINARELLI GIUSEPPE\n======================\n\nORDINANZA\nsul ricorso (iscritto al n. 12952/2018 R.G.) proposto da:\nAGENZIA DELLE ENTRATE (Codice Fiscale: 06363391001), in persona\ndel Direttore pro tempore;\nFATTI DI CAUSA\n1.- In punto di fatto si osserva che\nl’Agenzia delle Entrate emetteva avviso.\n\nRAGIONI DELLA DECISIONE\n1. Il ricorso è infondato.\nP.Q.M.\nLa Corte rigetta il ricorso.\n";
        let doc = parse_plain(txt);
        let h: Vec<String> = headings(&doc).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            h,
            [
                "ORDINANZA",
                "FATTI DI CAUSA",
                "RAGIONI DELLA DECISIONE",
                "P.Q.M."
            ]
        );
        assert_eq!(
            doc.block_text(&doc.blocks[0]),
            "Civile Ord. Sez. 5   Num. 30039  Anno 2025\nPresidente: FUOCHI TINARELLI GIUSEPPE"
        );
        assert!(doc.text.contains(
            "AGENZIA DELLE ENTRATE (Codice Fiscale: 06363391001), in persona\ndel Direttore"
        ));
        assert!(!doc.text.contains("====="));
        assert_eq!(
            doc.block_text(doc.blocks.last().unwrap()),
            "La Corte rigetta il ricorso."
        );
        for b in &doc.blocks {
            assert_eq!(&doc.text[b.start..b.end], doc.block_text(b));
            assert_eq!(b.page, 0);
        }
        assert_eq!(doc.pages, 0);
    }

    #[test]
    fn decode_accepts_text_and_refuses_junk() {
        assert_eq!(decode(b"\xEF\xBB\xBFart. 1").unwrap(), "art. 1");
        assert_eq!(decode("perché è così".as_bytes()).unwrap(), "perché è così");
        // UTF-16LE with BOM.
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("è".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(&utf16).unwrap(), "è");
        assert_eq!(decode(b""), Err(TextError::Empty));
        assert_eq!(decode(b"  \n\t "), Err(TextError::Empty));
        assert_eq!(decode(b"\xEF\xBB\xBF"), Err(TextError::Empty));
        assert_eq!(decode(b"abc\0def"), Err(TextError::NulByte { offset: 3 }));
        // Latin-1 "perché": the é is 0xE9, not UTF-8.
        assert_eq!(
            decode(b"perch\xE9 no"),
            Err(TextError::NotUtf8 { offset: 5 })
        );
        assert!(matches!(
            decode(b"\x01\x02\x03\x04 text \x05\x06"),
            Err(TextError::ControlChars { .. })
        ));
        // Random bytes: always an error, never a panic.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..50 {
            let junk: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let e = decode(&junk).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
        // The messages say what is wrong.
        assert!(TextError::NotUtf8 { offset: 5 }
            .to_string()
            .contains("not UTF-8"));
        assert!(TextError::NulByte { offset: 3 }
            .to_string()
            .contains("binary"));
    }

    #[test]
    fn parsers_never_panic_on_odd_input() {
        for s in [
            "",
            "#",
            "---",
            "---\n---",
            "---\ntitle:\n---",
            "```",
            "| a |\n|---|",
            ">",
            "> > ",
            "- ",
            "* * *",
            "\u{E000}0\u{E001}",
            "`` ` ``",
            "&#0; &#xFFFFFF; &bogus;",
            "%",
            "=\n=",
            "a\n===",
        ] {
            let d = parse_markdown(s);
            for b in &d.blocks {
                let _ = d.block_text(b);
            }
            let d = parse_plain(s);
            for b in &d.blocks {
                let _ = d.block_text(b);
            }
        }
        assert!(parse_markdown("").blocks.is_empty());
    }
}

//! Akoma Ntoso (AKN 3.0 and older CSD drafts) parser.
//!
//! This module owns the conversion of one Akoma Ntoso XML document (Normattiva
//! exports, Senato bulk data, LegalDocML samples, Laws.Africa, ...) into an
//! [`AknDocument`]: FRBR identification metadata plus the list of normative
//! *units* (articles, or sections when the act has no articles, or the whole
//! body when it has neither), each split into paragraphs (commi) with their
//! references, editorial notes and Normattiva "(( ... ))" amendment markers.
//!
//! Design:
//! * Streaming only (quick-xml `Reader` over the input slice, two passes: a cheap
//!   pre-scan that validates the XML and decides the unit kind, then the
//!   extraction pass). No DOM is built; memory is proportional to the output.
//! * Elements are matched by local name only, so any namespace or prefix works.
//! * Entities are never expanded beyond the five XML built-ins and character
//!   references: an undefined entity is an [`AknError::Xml`]; a reference to an entity the
//!   document's DTD declares (entity expansion, "billion laughs"; an external entity, XXE) is
//!   an [`AknError::Entity`] naming it. Nothing a DTD names is ever read.
//! * Binary data (a NUL byte, or a first element whose name is not an XML name) is
//!   [`AknError::NotAkn`] saying so, never echoing the bytes.
//! * Never panics on arbitrary input.
//!
//! Units:
//! * `UnitKind::Article` when the document has an `<article>` outside
//!   quotedStructure/mod/quotedText (or fragmented "…-art. N" attachments),
//!   else `Section` when it has a `<section>`, else `Body` (one unit, eid
//!   "body", with the body text, or the preface/preamble text when the body is
//!   empty; in Body mode each top-level `<p>` is a paragraph).
//! * Attachments (`attachment/doc`, and legacy root-level
//!   `components/component/doc`) also yield units, with
//!   `attachment = Some(doc @name)` and a path starting `"attachment <name>"`:
//!   their articles/sections (eid prefixed `"att_<name>__"`) if they have any,
//!   else the whole doc as one unit (eid `"att_<name>"`). Normattiva fragmented
//!   exports ("Codice Penale-art. N") become one article unit each, with num,
//!   rubrica and the "CODICE PENALE Art. N." prefix parsed out of the text.
//! * Paragraph level = `<paragraph>` / `<subsection>` children of the unit
//!   (not nested in lists/points); text outside them becomes an unnumbered
//!   paragraph. Lists, points, tables stay inside their paragraph's text.
//! * Editorial content goes to `notes`: `<authorialNote>` and Normattiva
//!   "---- AGGIORNAMENTO (N)" blocks.
//! * Normattiva "(( … ))": delimiters removed, inner text kept and copied to
//!   `amendments`; pure note numbers "((119))" are removed from the text.
//!
//! Text normalisation: inside a line, runs of whitespace collapse to one space;
//! line breaks (from the source text, which Normattiva uses for commi and
//! ASCII-art tables, and from block elements) are kept as single `\n` (a
//! newline followed by indentation is XML pretty-printing and becomes a
//! space); empty lines are dropped; the result is trimmed. Single-line fields (num, heading,
//! title, path entries, reference texts) collapse every whitespace run,
//! newlines included, to one space.

use std::collections::{HashMap, HashSet};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AknError {
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("not an Akoma Ntoso document: {0}")]
    NotAkn(String),
    #[error("refused at byte {position}: {message}")]
    Entity { position: u64, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AknDocument {
    /// Local name of the document element under `<akomaNtoso>`: "act", "bill", "amendment", ...
    pub doc_kind: String,
    /// Its `@name` attribute.
    pub doc_name: Option<String>,
    /// meta/identification/FRBRWork/FRBRthis/@value
    pub work_this: Option<String>,
    /// FRBRWork/FRBRuri/@value
    pub work_uri: Option<String>,
    /// FRBRExpression/FRBRthis/@value
    pub expression_this: Option<String>,
    /// FRBRExpression/FRBRuri/@value
    pub expression_uri: Option<String>,
    /// `FRBRWork/FRBRalias[@name="urn:nir"]/@value`
    pub urn_nir: Option<String>,
    /// `FRBRWork/FRBRalias[@name="eli"]/@value`
    pub eli: Option<String>,
    /// docTitle, else ELI title in FRBRWork preservation, else another FRBRalias, else shortTitle.
    pub title: Option<String>,
    /// FRBRExpression/FRBRlanguage/@language
    pub language: Option<String>,
    /// FRBRWork/FRBRdate/@date
    pub work_date: Option<String>,
    /// FRBRExpression/FRBRdate/@date
    pub expression_date: Option<String>,
    pub unit_kind: UnitKind,
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum UnitKind {
    Article,
    Section,
    Body,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unit {
    /// eId (or id / wId); synthesized as `"<kind>_n<ordinal>"` when absent; unique in the document.
    pub eid: String,
    /// Text of `<num>`, e.g. "Art. 1."; for fragmented code articles "Art. N" (e.g. "Art. 3-bis").
    pub num: Option<String>,
    /// Rubrica.
    pub heading: Option<String>,
    /// Hierarchy containers above the unit, outermost first ("chapter Capo I ...").
    pub path: Vec<String>,
    /// Normative text split at paragraph (comma) level; never empty.
    pub paragraphs: Vec<Paragraph>,
    /// Editorial notes (authorialNote, Normattiva "AGGIORNAMENTO" blocks).
    pub notes: Vec<String>,
    /// Contents of Normattiva "(( ... ))" markers, in order.
    pub amendments: Vec<String>,
    /// The unit is a repeal notice ("((ARTICOLO ABROGATO DAL ...))").
    pub repealed: bool,
    /// `Some(doc @name)` when the unit comes from an attachment.
    pub attachment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Paragraph {
    pub eid: Option<String>,
    pub num: Option<String>,
    /// Normalised text without the num, authorialNote content and "((" "))" markers.
    pub text: String,
    pub refs: Vec<RefMark>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefMark {
    pub href: String,
    pub text: String,
}

/// Parse one Akoma Ntoso document.
pub fn parse(xml: &[u8]) -> Result<AknDocument, AknError> {
    let mut scan = Scanner::default();
    drive(xml, &mut scan)?;
    if !scan.doc_seen {
        return Err(AknError::NotAkn(
            "<akomaNtoso> has no document element".to_string(),
        ));
    }
    let kind = if scan.has_article || scan.has_fragment {
        UnitKind::Article
    } else if scan.has_section {
        UnitKind::Section
    } else {
        UnitKind::Body
    };
    let mut b = Builder::new(kind, scan.att);
    drive(xml, &mut b)?;
    Ok(b.into_document())
}

// ---------------------------------------------------------------------------
// Element classification
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    AkomaNtoso,
    Meta,
    FrbrWork,
    FrbrExpression,
    FrbrManifestation,
    FrbrThis,
    FrbrUri,
    FrbrAlias,
    FrbrDate,
    FrbrLanguage,
    Article,
    Section,
    Subsection,
    Paragraph,
    P,
    Num,
    Heading,
    Subheading,
    Book,
    Part,
    Title,
    Chapter,
    Subtitle,
    Subchapter,
    Attachments,
    Attachment,
    Components,
    Component,
    DocumentRef,
    AuthorialNote,
    NoteRef,
    Del,
    Ref,
    Rref,
    Quoted,
    QuotedInline,
    DocTitle,
    ShortTitle,
    Cell,
    Break,
    Sub,
    Inline,
    BodyLike,
    Other,
}

fn classify(name: &[u8]) -> Tag {
    match name {
        b"akomaNtoso" => Tag::AkomaNtoso,
        b"meta" => Tag::Meta,
        b"FRBRWork" => Tag::FrbrWork,
        b"FRBRExpression" => Tag::FrbrExpression,
        b"FRBRManifestation" => Tag::FrbrManifestation,
        b"FRBRthis" => Tag::FrbrThis,
        b"FRBRuri" => Tag::FrbrUri,
        b"FRBRalias" => Tag::FrbrAlias,
        b"FRBRdate" => Tag::FrbrDate,
        b"FRBRlanguage" => Tag::FrbrLanguage,
        b"article" => Tag::Article,
        b"section" => Tag::Section,
        b"subsection" => Tag::Subsection,
        b"paragraph" => Tag::Paragraph,
        b"p" => Tag::P,
        b"num" => Tag::Num,
        b"heading" => Tag::Heading,
        b"subheading" => Tag::Subheading,
        b"book" => Tag::Book,
        b"part" => Tag::Part,
        b"title" => Tag::Title,
        b"chapter" => Tag::Chapter,
        b"subtitle" => Tag::Subtitle,
        b"subchapter" => Tag::Subchapter,
        b"attachments" => Tag::Attachments,
        b"attachment" => Tag::Attachment,
        b"components" => Tag::Components,
        b"component" => Tag::Component,
        b"documentRef" | b"componentRef" => Tag::DocumentRef,
        b"authorialNote" => Tag::AuthorialNote,
        b"noteRef" => Tag::NoteRef,
        b"del" => Tag::Del,
        b"ref" => Tag::Ref,
        b"rref" => Tag::Rref,
        b"quotedStructure" | b"embeddedStructure" => Tag::Quoted,
        b"quotedText" | b"embeddedText" | b"mod" => Tag::QuotedInline,
        b"docTitle" => Tag::DocTitle,
        b"shortTitle" => Tag::ShortTitle,
        b"td" | b"th" => Tag::Cell,
        b"br" | b"eol" | b"eop" => Tag::Break,
        b"list" | b"point" | b"item" | b"blockList" | b"indent" | b"alinea" | b"clause"
        | b"subparagraph" | b"table" | b"tblock" | b"ul" | b"ol" | b"li" => Tag::Sub,
        b"b" | b"i" | b"u" | b"sup" | b"sub" | b"span" | b"a" | b"abbr" | b"term" | b"def"
        | b"date" | b"time" | b"entity" | b"person" | b"organization" | b"concept" | b"object"
        | b"event" | b"location" | b"process" | b"role" | b"quantity" | b"docType"
        | b"docNumber" | b"docProponent" | b"docDate" | b"docStatus" | b"docJurisdiction"
        | b"docCommittee" | b"docIntroducer" | b"docStage" | b"docAuthority" | b"docPurpose"
        | b"legislature" | b"session" | b"affectedDocument" | b"relatedDocument" | b"change"
        | b"inline" | b"mark" | b"ins" | b"mmod" | b"mref" | b"outcome" | b"judge" | b"party"
        | b"lawyer" | b"courtType" | b"neutralCitation" | b"argument" | b"remedy" | b"opinion"
        | b"signature" | b"fillIn" | b"omissis" | b"placeholder" | b"decoration" | b"vote"
        | b"extractText" | b"img" | b"recordedTime" | b"marker" | b"sig" => Tag::Inline,
        _ if name == b"body" || name.ends_with(b"Body") => Tag::BodyLike,
        _ => Tag::Other,
    }
}

fn is_inline(tag: Tag) -> bool {
    matches!(
        tag,
        Tag::Inline
            | Tag::Ref
            | Tag::Rref
            | Tag::QuotedInline
            | Tag::DocTitle
            | Tag::ShortTitle
            | Tag::AuthorialNote
            | Tag::NoteRef
            | Tag::Del
            | Tag::Break
    )
}

/// A document element that is an attachment (AKN 3.0 `attachment/doc`, older
/// `attachments/doc`, and `component(s)` wrappers).
fn is_att_doc(parent: Tag, tag: Tag) -> bool {
    match parent {
        Tag::Attachment | Tag::Component => !matches!(tag, Tag::DocumentRef | Tag::Meta),
        Tag::Attachments | Tag::Components => !matches!(
            tag,
            Tag::Attachment | Tag::Component | Tag::DocumentRef | Tag::Meta
        ),
        _ => false,
    }
}

/// Fragmented Normattiva exports name each code article "Codice Penale-art. N".
fn fragment_label(name: &str) -> Option<&str> {
    let lower = name.to_ascii_lowercase();
    let i = lower.rfind("-art.")?;
    let rest = name.get(i + 5..)?.trim();
    if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        Some(rest)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Judgments: the parts the markup labels
// ---------------------------------------------------------------------------

/// Parts of a judgment body, as Akoma Ntoso names them.
const JUDGMENT_PARTS: &[&str] = &[
    "introduction",
    "background",
    "arguments",
    "remedies",
    "motivation",
    "decision",
];

/// Block elements: each starts a new paragraph of the extracted text.
const JUDGMENT_BLOCKS: &[&str] = &[
    "p",
    "heading",
    "subheading",
    "num",
    "item",
    "tr",
    "li",
    "blockList",
    "listIntroduction",
    "docTitle",
    "title",
];

/// An Akoma Ntoso `judgment` as a text document whose [`Part`]s are the `header` and the
/// parts of `judgmentBody` (introduction, background, arguments, remedies, motivation,
/// decision) in document order. Metadata and editorial notes are left out of the text.
pub fn judgment_document(xml: &[u8]) -> Result<crate::parse::textdoc::TextDocument, AknError> {
    let mut h = JudgmentHandler::default();
    drive(xml, &mut h)?;
    h.flush();
    if h.parts.is_empty() {
        return Err(AknError::NotAkn(
            "no <header> or <judgmentBody> part with text".to_string(),
        ));
    }
    let mut blocks = Vec::new();
    for (_, paras) in &h.parts {
        for p in paras {
            blocks.push((crate::parse::textdoc::BlockKind::Paragraph, 0, p.clone()));
        }
    }
    let mut doc = crate::parse::textdoc::TextDocument::from_blocks(blocks, Vec::new(), 0);
    // from_blocks keeps every (non-empty, trimmed) paragraph in order: walk them per part.
    let mut i = 0;
    for (name, paras) in &h.parts {
        let n = paras.len();
        if n == 0 {
            continue;
        }
        let (first, last) = (&doc.blocks[i], &doc.blocks[i + n - 1]);
        doc.parts.push(crate::parse::textdoc::Part {
            name: name.clone(),
            start: first.start,
            end: last.end,
        });
        i += n;
    }
    Ok(doc)
}

#[derive(Default)]
struct JudgmentHandler {
    stack: Vec<String>,
    /// Depth in `stack` of the part being read, and its name.
    part: Option<(usize, String)>,
    skip_depth: Option<usize>,
    current: String,
    parts: Vec<(String, Vec<String>)>,
}

impl JudgmentHandler {
    fn flush(&mut self) {
        let text = self
            .current
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        self.current.clear();
        if text.is_empty() {
            return;
        }
        if let Some((_, name)) = &self.part {
            match self.parts.last_mut() {
                Some((n, paras)) if n == name => paras.push(text),
                _ => self.parts.push((name.clone(), vec![text])),
            }
        }
    }
}

impl Handler for JudgmentHandler {
    fn start(&mut self, e: &BytesStart<'_>, _pos: u64) -> Result<(), AknError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let depth = self.stack.len();
        if self.skip_depth.is_none()
            && matches!(
                name.as_str(),
                "meta" | "authorialNote" | "noteRef" | "notes"
            )
        {
            self.skip_depth = Some(depth);
        }
        if self.skip_depth.is_none() {
            let parent = self.stack.last().map(String::as_str);
            let starts_part = name == "header"
                || name == "conclusions"
                || (parent == Some("judgmentBody") && JUDGMENT_PARTS.contains(&name.as_str()));
            if starts_part && self.part.is_none() {
                self.flush();
                self.part = Some((depth, name.clone()));
            } else if JUDGMENT_BLOCKS.contains(&name.as_str()) {
                self.flush();
            }
        }
        self.stack.push(name);
        Ok(())
    }

    fn end(&mut self) {
        let Some(name) = self.stack.pop() else { return };
        let depth = self.stack.len();
        if self.skip_depth == Some(depth) {
            self.skip_depth = None;
            return;
        }
        if self.skip_depth.is_some() {
            return;
        }
        if JUDGMENT_BLOCKS.contains(&name.as_str()) && name != "num" {
            self.flush();
        } else if name == "num" {
            self.current.push(' ');
        }
        if self.part.as_ref().is_some_and(|(d, _)| *d == depth) {
            self.flush();
            self.part = None;
        }
    }

    fn text(&mut self, s: &str) {
        if self.skip_depth.is_none() && self.part.is_some() {
            self.current.push_str(s);
        }
    }
}

// ---------------------------------------------------------------------------
// Event driver shared by both passes
// ---------------------------------------------------------------------------

trait Handler {
    fn start(&mut self, e: &BytesStart<'_>, pos: u64) -> Result<(), AknError>;
    fn end(&mut self);
    fn text(&mut self, s: &str);
}

/// Longest message kept from the XML reader (it quotes the input, e.g. a mismatched end tag).
const XML_ERR_MAX_CHARS: usize = 200;

/// An XML error whose message is one bounded line: the reader quotes input bytes (an end tag
/// "name" can hold line breaks and run to the end of the file), and errors end up in logs.
fn xml_err(position: u64, message: impl Into<String>) -> AknError {
    let message = message.into();
    let mut one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = one_line.char_indices().nth(XML_ERR_MAX_CHARS) {
        one_line.truncate(cut);
        one_line.push('…');
    }
    AknError::Xml {
        position,
        message: one_line,
    }
}

fn drive<H: Handler>(xml: &[u8], h: &mut H) -> Result<(), AknError> {
    // XML 1.0 has no NUL character: a NUL means binary data (quick-xml would skip it as text
    // before the root and then report garbage as an element name).
    if let Some(at) = xml.iter().position(|b| *b == 0) {
        return Err(AknError::NotAkn(format!(
            "binary data, not XML (NUL byte at offset {at})"
        )));
    }
    let mut entities = Vec::new();
    drive_events(xml, h, &mut entities).map_err(|e| entity_refused(e, &entities))
}

/// An `<!ENTITY>` the document's DTD declares: its name and, for an external entity, what it
/// points at.
#[derive(Debug)]
struct EntityDecl {
    name: String,
    external: Option<String>,
}

/// The general entities declared in a DOCTYPE's internal subset.
fn entity_decls(doctype: &str) -> Vec<EntityDecl> {
    static DECL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = DECL.get_or_init(|| {
        regex::Regex::new(
            r#"<!ENTITY\s+([^\s%"'<>]+)\s+(?:(?:SYSTEM|PUBLIC\s+(?:"[^"]*"|'[^']*'))\s*(?:"([^"]*)"|'([^']*)'))?"#,
        )
        .expect("entity declaration pattern")
    });
    re.captures_iter(doctype)
        .map(|c| EntityDecl {
            name: c[1].to_string(),
            external: c.get(2).or(c.get(3)).map(|m| m.as_str().to_string()),
        })
        .collect()
}

/// A reference to an entity the DTD declares, reported as what it is: never expanded, never
/// read.
fn entity_refused(e: AknError, entities: &[EntityDecl]) -> AknError {
    let AknError::Xml { position, message } = &e else {
        return e;
    };
    match unrecognized_entity(message).and_then(|name| refusal(entities, name)) {
        Some(message) => AknError::Entity {
            position: *position,
            message,
        },
        None => e,
    }
}

/// The entity an XML reader's "unrecognized entity `name`" error names.
pub(crate) fn unrecognized_entity(message: &str) -> Option<&str> {
    message
        .split_once("unrecognized entity `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// Why a reference to `name` is refused, when `entities` declares it.
fn refusal(entities: &[EntityDecl], name: &str) -> Option<String> {
    let decl = entities.iter().find(|d| d.name == name)?;
    Some(match &decl.external {
        Some(target) => {
            let target: String = target.chars().take(120).collect();
            format!(
                "&{name}; is an external entity (\"{target}\"), declared in the DTD: external \
                 entities are never read (XXE)"
            )
        }
        None => format!(
            "&{name}; is an entity declared in the DTD: DTD entities are never expanded \
             (entity expansion, as in a billion-laughs attack)"
        ),
    })
}

/// [`refusal`] for a reference to `name` in `xml` (any XML: the DOCTYPE is found in its bytes),
/// for readers that do not report the DOCTYPE.
pub(crate) fn entity_refusal(xml: &[u8], name: &str) -> Option<String> {
    let start = xml.windows(9).position(|w| w == b"<!DOCTYPE")?;
    let rest = &xml[start..];
    let end = rest
        .windows(2)
        .position(|w| w == b"]>")
        .map_or(rest.len(), |e| e + 2);
    refusal(&entity_decls(&String::from_utf8_lossy(&rest[..end])), name)
}

fn drive_events<H: Handler>(
    xml: &[u8],
    h: &mut H,
    entities: &mut Vec<EntityDecl>,
) -> Result<(), AknError> {
    let mut reader = Reader::from_reader(xml);
    {
        let c = reader.config_mut();
        c.check_end_names = true;
        c.allow_unmatched_ends = false;
        c.expand_empty_elements = false;
        c.trim_text(false);
    }
    let mut buf = Vec::with_capacity(4096);
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        buf.clear();
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let pos = reader.error_position();
                return Err(xml_err(pos, e.to_string()));
            }
        };
        let pos = reader.buffer_position();
        match ev {
            Event::Start(e) => {
                if depth == 0 {
                    check_root(&e, &mut root_seen, pos)?;
                }
                depth += 1;
                h.start(&e, pos)?;
            }
            Event::Empty(e) => {
                if depth == 0 {
                    check_root(&e, &mut root_seen, pos)?;
                }
                h.start(&e, pos)?;
                h.end();
            }
            Event::End(_) => {
                if depth == 0 {
                    return Err(xml_err(pos, "unmatched end tag"));
                }
                depth -= 1;
                h.end();
            }
            Event::Text(t) => {
                if depth == 0 {
                    continue;
                }
                let s = t.unescape().map_err(|e| xml_err(pos, e.to_string()))?;
                h.text(&s);
            }
            Event::CData(c) => {
                if depth == 0 {
                    continue;
                }
                let s = std::str::from_utf8(&c)
                    .map_err(|e| xml_err(pos, format!("invalid UTF-8 in CDATA: {e}")))?;
                h.text(s);
            }
            Event::Eof => {
                if depth > 0 {
                    return Err(xml_err(
                        pos,
                        format!("unexpected end of input with {depth} unclosed element(s)"),
                    ));
                }
                if !root_seen {
                    return Err(AknError::NotAkn("no root element".to_string()));
                }
                return Ok(());
            }
            Event::DocType(d) => {
                entities.extend(entity_decls(&String::from_utf8_lossy(&d)));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

fn check_root(e: &BytesStart<'_>, root_seen: &mut bool, pos: u64) -> Result<(), AknError> {
    if *root_seen {
        return Err(xml_err(pos, "more than one root element"));
    }
    *root_seen = true;
    let local = e.local_name();
    if !is_xml_name(local.as_ref()) {
        return Err(AknError::NotAkn(
            "binary data or not XML: the first element's name is not an XML name".to_string(),
        ));
    }
    if local.as_ref() != b"akomaNtoso" {
        return Err(AknError::NotAkn(format!(
            "root element is <{}>",
            String::from_utf8_lossy(local.as_ref())
        )));
    }
    Ok(())
}

/// An XML name, as far as telling markup from binary data goes: UTF-8, starting with a letter
/// or `_`, then letters, digits, `-`, `.`, `_`, `:`.
fn is_xml_name(name: &[u8]) -> bool {
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '\u{b7}'))
}

fn get_attr(e: &BytesStart<'_>, key: &[u8], pos: u64) -> Result<Option<String>, AknError> {
    for a in e.attributes() {
        let a = a.map_err(|err| xml_err(pos, err.to_string()))?;
        if a.key.local_name().as_ref() == key {
            let v = a
                .unescape_value()
                .map_err(|err| xml_err(pos, err.to_string()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn id_attr(e: &BytesStart<'_>, pos: u64) -> Result<Option<String>, AknError> {
    for key in [&b"eId"[..], b"id", b"wId"] {
        if let Some(v) = get_attr(e, key, pos)? {
            let v = v.trim();
            if !v.is_empty() {
                return Ok(Some(v.to_string()));
            }
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------
// Pass 1: validation + unit kind decision
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default)]
struct AttInfo {
    has_article: bool,
    has_section: bool,
}

#[derive(Default)]
struct Scanner {
    stack: Vec<(Tag, u8)>,
    skip: usize,
    quoted: usize,
    doc_seen: bool,
    has_article: bool,
    has_section: bool,
    has_fragment: bool,
    att: Vec<AttInfo>,
    att_stack: Vec<usize>,
}

const S_SKIP: u8 = 1;
const S_QUOTED: u8 = 2;
const S_ATT: u8 = 4;

impl Handler for Scanner {
    fn start(&mut self, e: &BytesStart<'_>, pos: u64) -> Result<(), AknError> {
        let tag = classify(e.local_name().as_ref());
        let parent = self.stack.last().map(|f| f.0);
        let mut flags = 0u8;
        if self.skip > 0 || matches!(tag, Tag::Meta | Tag::NoteRef | Tag::Del) {
            self.skip += 1;
            self.stack.push((tag, S_SKIP));
            return Ok(());
        }
        if parent == Some(Tag::AkomaNtoso) && !self.doc_seen {
            self.doc_seen = true;
        }
        if matches!(tag, Tag::Quoted | Tag::QuotedInline) {
            self.quoted += 1;
            flags |= S_QUOTED;
        }
        if self.quoted == 0 {
            if let Some(p) = parent {
                if is_att_doc(p, tag) {
                    let idx = self.att.len();
                    self.att.push(AttInfo::default());
                    self.att_stack.push(idx);
                    flags |= S_ATT;
                    if let Some(name) = get_attr(e, b"name", pos)? {
                        if fragment_label(&name).is_some() {
                            self.has_fragment = true;
                        }
                    }
                }
            }
            match tag {
                Tag::Article => {
                    self.has_article = true;
                    if let Some(&i) = self.att_stack.last() {
                        self.att[i].has_article = true;
                    }
                }
                Tag::Section => {
                    self.has_section = true;
                    if let Some(&i) = self.att_stack.last() {
                        self.att[i].has_section = true;
                    }
                }
                _ => {}
            }
        }
        self.stack.push((tag, flags));
        Ok(())
    }

    fn end(&mut self) {
        if let Some((_, flags)) = self.stack.pop() {
            if flags & S_SKIP != 0 {
                self.skip = self.skip.saturating_sub(1);
            }
            if flags & S_QUOTED != 0 {
                self.quoted = self.quoted.saturating_sub(1);
            }
            if flags & S_ATT != 0 {
                self.att_stack.pop();
            }
        }
    }

    fn text(&mut self, _s: &str) {}
}

// ---------------------------------------------------------------------------
// Pass 2: extraction
// ---------------------------------------------------------------------------

/// Sentinel pushed after a sub-level `<num>` so that "a)" and the following
/// block text stay on one line ("a) text").
const GLUE: char = '\u{1}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Drop,
    Loose,
    Para,
    UnitNum,
    UnitHeading,
    ParaNum,
    Note,
    ContNum,
    ContHeading,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    Root,
    DocElem,
    MainMeta,
    Frbr,
    AttDoc,
    Container,
    ContField,
    Unit,
    UnitField,
    Para,
    ParaNum,
    Note,
    BodyElem,
    FrontElem,
}

const MAX_PATH: usize = 32;

const F_SKIP: u16 = 1;
const F_QUOTED: u16 = 2;
const F_SUB: u16 = 4;
const F_REF: u16 = 8;
const F_CELL: u16 = 16;
const F_TITLE: u16 = 32;
const F_SHORT: u16 = 64;
const F_BLOCK: u16 = 128;
const F_GLUE: u16 = 256;
const F_SINK: u16 = 512;

struct Frame {
    tag: Tag,
    role: Role,
    flags: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrbrSec {
    Work,
    Expression,
    Manifestation,
}

#[derive(Default)]
struct RawPara {
    eid: Option<String>,
    num: String,
    has_num: bool,
    text: String,
    refs: Vec<RefMark>,
}

impl RawPara {
    fn is_blank(&self) -> bool {
        !self.has_num
            && self.refs.is_empty()
            && self.text.chars().all(|c| c.is_whitespace() || c == GLUE)
    }
}

struct UnitBuilder {
    eid: Option<String>,
    eid_prefix: Option<String>,
    abbr: &'static str,
    path: Vec<String>,
    attachment: Option<String>,
    /// Doc name of a fragmented-export article ("Codice Penale-art. N").
    fragment: Option<String>,
    num: String,
    has_num: bool,
    heading: String,
    has_heading: bool,
    paras: Vec<RawPara>,
    loose: RawPara,
    cur: Option<RawPara>,
    notes: Vec<String>,
    sub_depth: usize,
}

impl UnitBuilder {
    fn new(eid: Option<String>, abbr: &'static str, path: Vec<String>) -> Self {
        UnitBuilder {
            eid,
            eid_prefix: None,
            abbr,
            path,
            attachment: None,
            fragment: None,
            num: String::new(),
            has_num: false,
            heading: String::new(),
            has_heading: false,
            paras: Vec::new(),
            loose: RawPara::default(),
            cur: None,
            notes: Vec::new(),
            sub_depth: 0,
        }
    }

    fn flush_loose(&mut self) {
        let loose = std::mem::take(&mut self.loose);
        if !loose.is_blank() {
            self.paras.push(loose);
        }
    }
}

struct Cont {
    kind: &'static str,
    num: String,
    heading: String,
}

impl Cont {
    fn label(&self) -> String {
        let mut s = String::from(self.kind);
        let num = norm_line(&strip_delims(&self.num));
        if num.chars().any(|c| c.is_alphanumeric()) {
            s.push(' ');
            s.push_str(&num);
        }
        let heading = norm_line(&strip_delims(&self.heading));
        if !heading.is_empty() {
            s.push(' ');
            s.push_str(&heading);
        }
        s
    }
}

struct Att {
    name: String,
    san: String,
    whole: bool,
}

struct Builder {
    kind: UnitKind,
    att_info: Vec<AttInfo>,
    doc: AknDocument,
    frames: Vec<Frame>,
    sinks: Vec<Sink>,
    skip: usize,
    quoted: usize,
    note: usize,
    cell: usize,
    main_meta: bool,
    meta_done: bool,
    frbr: Option<FrbrSec>,
    doc_seen: bool,
    in_main: bool,
    att_count: usize,
    atts: Vec<Att>,
    containers: Vec<Cont>,
    unit: Option<UnitBuilder>,
    body_b: Option<UnitBuilder>,
    front_b: Option<UnitBuilder>,
    note_buf: String,
    open_ref: Option<(String, String)>,
    title_buf: String,
    title_active: bool,
    title_done: bool,
    short_buf: String,
    short_active: bool,
    short_done: bool,
    eli_title: Option<String>,
    alias_title: Option<String>,
    synth: usize,
}

/// `content` of an element with `property="eli:title"` (Normattiva `nrdfa:span`).
fn eli_title_content(e: &BytesStart<'_>, pos: u64) -> Result<Option<String>, AknError> {
    if get_attr(e, b"property", pos)?.as_deref() == Some("eli:title") {
        Ok(get_attr(e, b"content", pos)?.map(|c| norm_line(&c)))
    } else {
        Ok(None)
    }
}

fn set_once(slot: &mut Option<String>, v: Option<String>) {
    if slot.is_none() {
        if let Some(v) = v {
            let v = v.trim();
            if !v.is_empty() {
                *slot = Some(v.to_string());
            }
        }
    }
}

impl Builder {
    fn new(kind: UnitKind, att_info: Vec<AttInfo>) -> Self {
        Builder {
            kind,
            att_info,
            doc: AknDocument {
                doc_kind: String::new(),
                doc_name: None,
                work_this: None,
                work_uri: None,
                expression_this: None,
                expression_uri: None,
                urn_nir: None,
                eli: None,
                title: None,
                language: None,
                work_date: None,
                expression_date: None,
                unit_kind: kind,
                units: Vec::new(),
            },
            frames: Vec::with_capacity(64),
            sinks: Vec::with_capacity(16),
            skip: 0,
            quoted: 0,
            note: 0,
            cell: 0,
            main_meta: false,
            meta_done: false,
            frbr: None,
            doc_seen: false,
            in_main: false,
            att_count: 0,
            atts: Vec::new(),
            containers: Vec::new(),
            unit: None,
            body_b: None,
            front_b: None,
            note_buf: String::new(),
            open_ref: None,
            title_buf: String::new(),
            title_active: false,
            title_done: false,
            short_buf: String::new(),
            short_active: false,
            short_done: false,
            eli_title: None,
            alias_title: None,
            synth: 0,
        }
    }

    fn top_sink(&self) -> Sink {
        self.sinks.last().copied().unwrap_or(Sink::Drop)
    }

    fn sink_buf(&mut self) -> Option<&mut String> {
        match self.top_sink() {
            Sink::Drop => None,
            Sink::Loose => self.unit.as_mut().map(|u| &mut u.loose.text),
            Sink::Para => self
                .unit
                .as_mut()
                .and_then(|u| u.cur.as_mut())
                .map(|p| &mut p.text),
            Sink::UnitNum => self.unit.as_mut().map(|u| &mut u.num),
            Sink::UnitHeading => self.unit.as_mut().map(|u| &mut u.heading),
            Sink::ParaNum => self
                .unit
                .as_mut()
                .and_then(|u| u.cur.as_mut())
                .map(|p| &mut p.num),
            Sink::Note => Some(&mut self.note_buf),
            Sink::ContNum => self.containers.last_mut().map(|c| &mut c.num),
            Sink::ContHeading => self.containers.last_mut().map(|c| &mut c.heading),
        }
    }

    fn push_char(&mut self, c: char) {
        if let Some(b) = self.sink_buf() {
            b.push(c);
        }
    }

    fn emit_break(&mut self) {
        let c = if self.cell > 0 { ' ' } else { '\n' };
        self.push_char(c);
    }

    fn path(&self) -> Vec<String> {
        // Real acts nest a handful of levels; the cap keeps adversarial
        // nesting from making the output quadratic.
        self.containers
            .iter()
            .take(MAX_PATH)
            .map(Cont::label)
            .collect()
    }

    fn is_container(&self, tag: Tag) -> bool {
        match tag {
            Tag::Book
            | Tag::Part
            | Tag::Title
            | Tag::Chapter
            | Tag::Subtitle
            | Tag::Subchapter
            | Tag::Subsection => true,
            Tag::Section => self.kind == UnitKind::Article,
            _ => false,
        }
    }

    fn unit_tag(&self) -> Option<Tag> {
        match self.kind {
            UnitKind::Article => Some(Tag::Article),
            UnitKind::Section => Some(Tag::Section),
            UnitKind::Body => None,
        }
    }

    fn meta_start(&mut self, tag: Tag, e: &BytesStart<'_>, pos: u64) -> Result<Role, AknError> {
        match tag {
            Tag::FrbrWork => {
                self.frbr = Some(FrbrSec::Work);
                return Ok(Role::Frbr);
            }
            Tag::FrbrExpression => {
                self.frbr = Some(FrbrSec::Expression);
                return Ok(Role::Frbr);
            }
            Tag::FrbrManifestation => {
                self.frbr = Some(FrbrSec::Manifestation);
                return Ok(Role::Frbr);
            }
            _ => {}
        }
        let d = &mut self.doc;
        match (self.frbr, tag) {
            (Some(FrbrSec::Work), Tag::FrbrThis) => {
                set_once(&mut d.work_this, get_attr(e, b"value", pos)?)
            }
            (Some(FrbrSec::Work), Tag::FrbrUri) => {
                set_once(&mut d.work_uri, get_attr(e, b"value", pos)?)
            }
            (Some(FrbrSec::Work), Tag::FrbrDate) => {
                set_once(&mut d.work_date, get_attr(e, b"date", pos)?)
            }
            (Some(FrbrSec::Work), Tag::FrbrAlias) => {
                let name = get_attr(e, b"name", pos)?.unwrap_or_default();
                let value = get_attr(e, b"value", pos)?;
                match name.trim() {
                    "urn:nir" => set_once(&mut d.urn_nir, value),
                    "eli" => set_once(&mut d.eli, value),
                    _ => set_once(&mut self.alias_title, value.map(|v| norm_line(&v))),
                }
            }
            (Some(FrbrSec::Expression), Tag::FrbrThis) => {
                set_once(&mut d.expression_this, get_attr(e, b"value", pos)?)
            }
            (Some(FrbrSec::Expression), Tag::FrbrUri) => {
                set_once(&mut d.expression_uri, get_attr(e, b"value", pos)?)
            }
            (Some(FrbrSec::Expression), Tag::FrbrDate) => {
                set_once(&mut d.expression_date, get_attr(e, b"date", pos)?)
            }
            (Some(FrbrSec::Expression), Tag::FrbrLanguage) => {
                set_once(&mut d.language, get_attr(e, b"language", pos)?)
            }
            (Some(FrbrSec::Work), _) if self.eli_title.is_none() => {
                let content = eli_title_content(e, pos)?;
                set_once(&mut self.eli_title, content);
            }
            _ => {}
        }
        Ok(Role::None)
    }

    fn finish_unit(&mut self, b: UnitBuilder) -> Unit {
        let eid = match b.eid.clone() {
            Some(e) => e,
            None => {
                self.synth += 1;
                let base = format!("{}_n{}", b.abbr, self.synth);
                match &b.eid_prefix {
                    Some(p) => format!("{p}{base}"),
                    None => base,
                }
            }
        };
        build_unit(b, eid)
    }

    fn close_unit(&mut self) {
        if let Some(b) = self.unit.take() {
            let u = self.finish_unit(b);
            self.doc.units.push(u);
        }
    }

    fn finish_body(&mut self) {
        let body = self.body_b.take().map(|b| self.finish_unit(b));
        let front = self.front_b.take().map(|b| self.finish_unit(b));
        let unit = match (body, front) {
            (Some(b), _) if !unit_is_empty(&b) => b,
            (b, Some(f)) if !unit_is_empty(&f) => {
                let _ = b;
                f
            }
            (Some(b), _) => b,
            (None, Some(f)) => f,
            (None, None) => build_unit(
                UnitBuilder::new(Some("body".into()), "body", Vec::new()),
                "body".into(),
            ),
        };
        self.doc.units.insert(0, unit);
    }

    fn into_document(mut self) -> AknDocument {
        // Title fallback chain.
        let title = non_empty(norm_line(&strip_delims(&self.title_buf)))
            .filter(|_| self.title_done)
            .or(self.eli_title.take())
            .or(self.alias_title.take())
            .or_else(|| non_empty(norm_line(&self.short_buf)));
        self.doc.title = title;
        // Unique eids: duplicates get "_2", "_3", ... (linear time even for
        // adversarial inputs with one eid repeated many times).
        let mut seen: HashSet<String> = HashSet::with_capacity(self.doc.units.len());
        let mut next: HashMap<String, usize> = HashMap::new();
        for u in &mut self.doc.units {
            if seen.insert(u.eid.clone()) {
                continue;
            }
            let n = next.entry(u.eid.clone()).or_insert(2);
            loop {
                let cand = format!("{}_{}", u.eid, n);
                *n += 1;
                if seen.insert(cand.clone()) {
                    u.eid = cand;
                    break;
                }
            }
        }
        self.doc
    }
}

impl Handler for Builder {
    fn start(&mut self, e: &BytesStart<'_>, pos: u64) -> Result<(), AknError> {
        let local = e.local_name();
        let tag = classify(local.as_ref());
        let (ptag, prole) = match self.frames.last() {
            Some(f) => (f.tag, f.role),
            None => {
                self.frames.push(Frame {
                    tag,
                    role: Role::Root,
                    flags: 0,
                });
                return Ok(());
            }
        };
        let mut f = Frame {
            tag,
            role: Role::None,
            flags: 0,
        };
        if self.skip > 0 {
            self.skip += 1;
            f.flags |= F_SKIP;
            self.frames.push(f);
            return Ok(());
        }
        if self.main_meta {
            f.role = self.meta_start(tag, e, pos)?;
            self.frames.push(f);
            return Ok(());
        }
        // The document element.
        if prole == Role::Root && !self.doc_seen {
            self.doc_seen = true;
            self.in_main = true;
            self.doc.doc_kind = String::from_utf8_lossy(local.as_ref()).into_owned();
            self.doc.doc_name = get_attr(e, b"name", pos)?;
            f.role = Role::DocElem;
            self.frames.push(f);
            return Ok(());
        }
        if tag == Tag::Meta {
            if prole == Role::DocElem && self.in_main && !self.meta_done {
                self.main_meta = true;
                f.role = Role::MainMeta;
            } else {
                self.skip += 1;
                f.flags |= F_SKIP;
            }
            self.frames.push(f);
            return Ok(());
        }
        if matches!(tag, Tag::NoteRef | Tag::Del) {
            self.skip += 1;
            f.flags |= F_SKIP;
            self.frames.push(f);
            return Ok(());
        }
        let in_scope = self.in_main || !self.atts.is_empty();

        // Attachments.
        if self.quoted == 0 && is_att_doc(ptag, tag) {
            let idx = self.att_count;
            self.att_count += 1;
            if self.unit.is_none() {
                let name = get_attr(e, b"name", pos)?
                    .map(|n| norm_line(&n))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| {
                        format!("{} {}", String::from_utf8_lossy(local.as_ref()), idx + 1)
                    });
                let info = self.att_info.get(idx).copied().unwrap_or_default();
                let has_units = match self.kind {
                    UnitKind::Article => info.has_article,
                    UnitKind::Section => info.has_section,
                    UnitKind::Body => false,
                };
                let san = sanitize(&name);
                self.containers.push(Cont {
                    kind: "attachment",
                    num: String::new(),
                    heading: name.clone(),
                });
                if !has_units {
                    let mut ub = UnitBuilder::new(Some(format!("att_{san}")), "att", self.path());
                    ub.attachment = Some(name.clone());
                    if fragment_label(&name).is_some() {
                        ub.fragment = Some(name.clone());
                    }
                    self.unit = Some(ub);
                    self.sinks.push(Sink::Loose);
                    f.flags |= F_SINK;
                }
                self.atts.push(Att {
                    name,
                    san,
                    whole: !has_units,
                });
                f.role = Role::AttDoc;
                self.frames.push(f);
                return Ok(());
            }
        }

        if matches!(tag, Tag::Quoted | Tag::QuotedInline) {
            self.quoted += 1;
            f.flags |= F_QUOTED;
        }

        if tag == Tag::AuthorialNote {
            self.note += 1;
            if self.note == 1 {
                self.note_buf.clear();
            }
            self.sinks.push(Sink::Note);
            f.flags |= F_SINK;
            f.role = Role::Note;
            self.frames.push(f);
            return Ok(());
        }

        // Body mode: direct children of the document element.
        if self.kind == UnitKind::Body && prole == Role::DocElem && self.unit.is_none() {
            if tag == Tag::BodyLike {
                let ub = self
                    .body_b
                    .take()
                    .unwrap_or_else(|| UnitBuilder::new(Some("body".into()), "body", Vec::new()));
                self.unit = Some(ub);
                self.sinks.push(Sink::Loose);
                f.flags |= F_SINK;
                f.role = Role::BodyElem;
                self.frames.push(f);
                return Ok(());
            }
            if !matches!(tag, Tag::Attachments | Tag::Components) {
                let ub = self
                    .front_b
                    .take()
                    .unwrap_or_else(|| UnitBuilder::new(Some("body".into()), "body", Vec::new()));
                self.unit = Some(ub);
                self.sinks.push(Sink::Loose);
                f.flags |= F_SINK;
                f.role = Role::FrontElem;
                // fall through: docTitle etc. still need handling inside.
            }
        }

        if self.in_main && self.atts.is_empty() && self.note == 0 {
            if tag == Tag::DocTitle && !self.title_done && !self.title_active {
                self.title_active = true;
                f.flags |= F_TITLE;
            } else if tag == Tag::ShortTitle && !self.short_done && !self.short_active {
                self.short_active = true;
                f.flags |= F_SHORT;
            }
        }

        if f.role == Role::None {
            // Hierarchy containers.
            if self.unit.is_none()
                && self.quoted == 0
                && self.note == 0
                && in_scope
                && self.is_container(tag)
            {
                let kind = match tag {
                    Tag::Book => "book",
                    Tag::Part => "part",
                    Tag::Title => "title",
                    Tag::Chapter => "chapter",
                    Tag::Subtitle => "subtitle",
                    Tag::Subchapter => "subchapter",
                    Tag::Subsection => "subsection",
                    _ => "section",
                };
                self.containers.push(Cont {
                    kind,
                    num: String::new(),
                    heading: String::new(),
                });
                self.sinks.push(Sink::Drop);
                f.flags |= F_SINK;
                f.role = Role::Container;
                self.frames.push(f);
                return Ok(());
            }
            if prole == Role::Container && matches!(tag, Tag::Num | Tag::Heading | Tag::Subheading)
            {
                let sink = if tag == Tag::Num {
                    Sink::ContNum
                } else {
                    Sink::ContHeading
                };
                self.sinks.push(sink);
                self.push_char(' ');
                f.flags |= F_SINK;
                f.role = Role::ContField;
                self.frames.push(f);
                return Ok(());
            }
            // Units.
            if self.unit.is_none()
                && self.quoted == 0
                && self.note == 0
                && in_scope
                && Some(tag) == self.unit_tag()
                && self.atts.last().is_none_or(|a| !a.whole)
            {
                let abbr = if tag == Tag::Article { "art" } else { "sec" };
                let prefix = self.atts.last().map(|a| format!("att_{}__", a.san));
                let eid = id_attr(e, pos)?.map(|id| match &prefix {
                    Some(p) => format!("{p}{id}"),
                    None => id,
                });
                let mut ub = UnitBuilder::new(eid, abbr, self.path());
                ub.eid_prefix = prefix;
                ub.attachment = self.atts.last().map(|a| a.name.clone());
                self.unit = Some(ub);
                self.sinks.push(Sink::Loose);
                f.flags |= F_SINK;
                f.role = Role::Unit;
                self.frames.push(f);
                return Ok(());
            }
            if prole == Role::Unit
                && self.top_sink() == Sink::Loose
                && matches!(tag, Tag::Num | Tag::Heading | Tag::Subheading)
            {
                let sink = if tag == Tag::Num {
                    Sink::UnitNum
                } else {
                    Sink::UnitHeading
                };
                if let Some(u) = self.unit.as_mut() {
                    if sink == Sink::UnitNum {
                        u.has_num = true;
                        u.num.push(' ');
                    } else {
                        u.has_heading = true;
                        u.heading.push(' ');
                    }
                }
                self.sinks.push(sink);
                f.flags |= F_SINK;
                f.role = Role::UnitField;
                self.frames.push(f);
                return Ok(());
            }
            // Paragraph level (commi / subsections).
            let para_tag = matches!(tag, Tag::Paragraph | Tag::Subsection)
                || (self.kind == UnitKind::Body && tag == Tag::P);
            if para_tag && self.quoted == 0 && self.top_sink() == Sink::Loose {
                let eid = id_attr(e, pos)?;
                if let Some(u) = self.unit.as_mut() {
                    if u.sub_depth == 0 {
                        u.flush_loose();
                        u.cur = Some(RawPara {
                            eid,
                            ..RawPara::default()
                        });
                        self.sinks.push(Sink::Para);
                        f.flags |= F_SINK;
                        f.role = Role::Para;
                        self.frames.push(f);
                        return Ok(());
                    }
                }
            }
            if prole == Role::Para && tag == Tag::Num && self.top_sink() == Sink::Para {
                if let Some(p) = self.unit.as_mut().and_then(|u| u.cur.as_mut()) {
                    p.has_num = true;
                    p.num.push(' ');
                }
                self.sinks.push(Sink::ParaNum);
                f.flags |= F_SINK;
                f.role = Role::ParaNum;
                self.frames.push(f);
                return Ok(());
            }
        }

        if tag == Tag::Sub && self.top_sink() == Sink::Loose {
            if let Some(u) = self.unit.as_mut() {
                u.sub_depth += 1;
                f.flags |= F_SUB;
            }
        }
        if matches!(tag, Tag::Ref | Tag::Rref)
            && self.open_ref.is_none()
            && matches!(self.top_sink(), Sink::Loose | Sink::Para)
            && self.unit.is_some()
        {
            let href = if tag == Tag::Ref {
                get_attr(e, b"href", pos)?
            } else {
                match get_attr(e, b"from", pos)? {
                    Some(h) => Some(h),
                    None => get_attr(e, b"href", pos)?,
                }
            };
            self.open_ref = Some((href.unwrap_or_default(), String::new()));
            f.flags |= F_REF;
        }
        if tag == Tag::Cell {
            self.cell += 1;
            f.flags |= F_CELL;
        }
        if tag == Tag::Break {
            self.push_char('\n');
        } else if tag == Tag::Num {
            self.emit_break();
            f.flags |= F_GLUE;
        } else if !is_inline(tag) {
            self.emit_break();
            f.flags |= F_BLOCK;
        }
        self.frames.push(f);
        Ok(())
    }

    fn end(&mut self) {
        let Some(f) = self.frames.pop() else {
            return;
        };
        if f.flags & F_SKIP != 0 {
            self.skip = self.skip.saturating_sub(1);
            return;
        }
        if f.flags & F_REF != 0 {
            if let Some((href, text)) = self.open_ref.take() {
                let rm = RefMark {
                    href: href.trim().to_string(),
                    text: norm_line(&text),
                };
                let sink = self.top_sink();
                if let Some(u) = self.unit.as_mut() {
                    match sink {
                        Sink::Para => {
                            if let Some(p) = u.cur.as_mut() {
                                p.refs.push(rm);
                            }
                        }
                        Sink::Loose => u.loose.refs.push(rm),
                        _ => {}
                    }
                }
            }
        }
        if f.flags & F_BLOCK != 0 {
            self.emit_break();
        }
        if f.flags & F_GLUE != 0 {
            self.push_char(GLUE);
        }
        if f.flags & F_CELL != 0 {
            self.cell = self.cell.saturating_sub(1);
        }
        if f.flags & F_SUB != 0 {
            if let Some(u) = self.unit.as_mut() {
                u.sub_depth = u.sub_depth.saturating_sub(1);
            }
        }
        if f.flags & F_TITLE != 0 {
            self.title_active = false;
            self.title_done = true;
        }
        if f.flags & F_SHORT != 0 {
            self.short_active = false;
            self.short_done = true;
        }
        if f.flags & F_QUOTED != 0 {
            self.quoted = self.quoted.saturating_sub(1);
        }
        match f.role {
            Role::MainMeta => {
                self.main_meta = false;
                self.meta_done = true;
            }
            Role::Frbr => self.frbr = None,
            Role::DocElem => {
                self.in_main = false;
                if self.kind == UnitKind::Body {
                    if let Some(u) = self.unit.take() {
                        // Unbalanced state cannot happen with well-formed XML;
                        // keep whatever was collected.
                        self.body_b.get_or_insert(u);
                    }
                    self.finish_body();
                }
            }
            Role::AttDoc => {
                if let Some(att) = self.atts.pop() {
                    if att.whole {
                        self.close_unit();
                    }
                }
                self.containers.pop();
            }
            Role::Container => {
                self.containers.pop();
            }
            Role::Unit => self.close_unit(),
            Role::Para => {
                if let Some(u) = self.unit.as_mut() {
                    if let Some(p) = u.cur.take() {
                        u.paras.push(p);
                    }
                }
            }
            Role::Note => {
                self.note = self.note.saturating_sub(1);
                if self.note == 0 {
                    let t = norm_text(&self.note_buf);
                    self.note_buf.clear();
                    if !t.is_empty() {
                        if let Some(u) = self.unit.as_mut() {
                            u.notes.push(t);
                        }
                    }
                }
            }
            Role::BodyElem => {
                if let Some(mut u) = self.unit.take() {
                    u.flush_loose();
                    self.body_b = Some(u);
                }
            }
            Role::FrontElem => {
                if let Some(mut u) = self.unit.take() {
                    u.flush_loose();
                    self.front_b = Some(u);
                }
            }
            Role::None | Role::Root | Role::ContField | Role::UnitField | Role::ParaNum => {}
        }
        if f.flags & F_SINK != 0 {
            self.sinks.pop();
        }
    }

    fn text(&mut self, s: &str) {
        if self.skip > 0 || self.main_meta {
            return;
        }
        // Whitespace-only nodes between inline elements of a <p> keep their
        // line break (in Normattiva "</ins>\n   <ins>" separates rubrica and
        // text); elsewhere (between blocks, in tables) it is indentation.
        let parent = self.frames.last().map_or(Tag::Other, |f| f.tag);
        let keep = self.cell == 0
            && (parent == Tag::P || is_inline(parent))
            && s.chars().all(char::is_whitespace);
        let folded = if keep {
            std::borrow::Cow::Borrowed(s)
        } else {
            fold_newlines(s)
        };
        let s: &str = &folded;
        if self.note == 0 {
            if self.title_active {
                self.title_buf.push_str(s);
            }
            if self.short_active {
                self.short_buf.push_str(s);
            }
        }
        let sink = self.top_sink();
        if let Some(b) = self.sink_buf() {
            b.push_str(s);
        }
        if matches!(sink, Sink::Loose | Sink::Para) {
            if let Some((_, t)) = self.open_ref.as_mut() {
                t.push_str(s);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Unit post-processing
// ---------------------------------------------------------------------------

fn unit_is_empty(u: &Unit) -> bool {
    u.paragraphs.iter().all(|p| p.text.is_empty())
}

fn build_unit(mut b: UnitBuilder, eid: String) -> Unit {
    b.flush_loose();
    if let Some(p) = b.cur.take() {
        b.paras.push(p);
    }
    let mut amendments = Vec::new();
    let mut notes = std::mem::take(&mut b.notes);

    // A Normattiva conversion glitch puts a whole article inside <heading>:
    // "(Rubrica). \n 1. text..." -> heading "Rubrica", the rest is spilled
    // into a leading paragraph.
    let mut spill = None;
    let mut heading = if b.has_heading {
        let mut m = Markers::default();
        let s = m.strip(&b.heading, &mut amendments);
        m.finish(&mut amendments);
        let t = norm_text(&s);
        match matching_paren(&t).filter(|_| t.starts_with('(')) {
            Some(close) => {
                let rest =
                    t[close + 1..].trim_start_matches(|c: char| c == '.' || c.is_whitespace());
                if !rest.is_empty() {
                    spill = Some(rest.to_string());
                }
                clean_heading(&t[..=close])
            }
            None => clean_heading(&t),
        }
    } else {
        None
    };
    let mut num = if b.has_num {
        non_empty(norm_line(&strip_delims(&b.num)))
    } else {
        None
    };

    let mut markers = Markers::default();
    let mut paras = Vec::with_capacity(b.paras.len());
    for rp in std::mem::take(&mut b.paras) {
        let (body, note) = split_update_note(&rp.text);
        let mut refs = rp.refs;
        if let Some(n) = note {
            let t = norm_text(n);
            if !t.is_empty() {
                notes.push(t);
            }
            // Refs that belonged to the editorial block go with it.
            let kept = norm_line(body);
            refs.retain(|r| kept.contains(r.text.as_str()));
        }
        let stripped = markers.strip(body, &mut amendments);
        markers.paragraph_break();
        let text = norm_text(&stripped);
        let pnum = if rp.has_num {
            non_empty(norm_line(&strip_delims(&rp.num)))
        } else {
            None
        };
        if text.is_empty() && pnum.is_none() && refs.is_empty() {
            continue;
        }
        paras.push(Paragraph {
            eid: rp.eid,
            num: pnum,
            text,
            refs,
        });
    }
    markers.finish(&mut amendments);
    if let Some(text) = spill {
        paras.insert(
            0,
            Paragraph {
                eid: None,
                num: None,
                text,
                refs: Vec::new(),
            },
        );
    }

    if let Some(name) = b.fragment.as_deref() {
        let (fnum, fheading) = apply_fragment(&mut paras, name);
        if fnum.is_some() {
            num = fnum;
        }
        if heading.is_none() {
            heading = fheading;
        }
    } else if heading.is_none() && matches!(b.abbr, "art" | "sec") {
        // Only for real <article>/<section> units, not whole-body or
        // whole-attachment units.
        heading = heading_fallback(&mut paras);
    }
    if paras.is_empty() {
        paras.push(Paragraph {
            eid: None,
            num: None,
            text: String::new(),
            refs: Vec::new(),
        });
    }
    let repealed = is_repealed(&paras);
    Unit {
        eid,
        num,
        heading,
        path: b.path,
        paragraphs: paras,
        notes,
        amendments,
        repealed,
        attachment: b.attachment,
    }
}

/// Heading fallback (Normattiva exports often have an empty `<heading/>` and
/// put the rubrica in an unnumbered first `<paragraph>`). Rule, applied only
/// when the unit's `<heading>` is absent or empty after normalisation:
///
/// the first paragraph (after dropping paragraphs that were only "((" / "))"
/// marker lines and moving "AGGIORNAMENTO" blocks to notes) is taken as the
/// rubrica iff
///   1. it has no `<num>`, and
///   2. its text has at most 3 lines (Normattiva hard-wraps long rubriche),
///      joined into at most 250 characters, and does not
///      contain "ABROGAT" / "SOPPRESS" (repeal notices are normative text), and
///   3. either it is wholly wrapped in parentheses — "(Soggetti)" or
///      "(Soggetti)." — or at least one more paragraph (with text or a num)
///      follows it and it does not end with ':' ';' ','.
///
/// The heading is that text with surrounding parentheses and one trailing '.'
/// removed, and the paragraph is dropped from `paragraphs` (its refs too).
fn heading_fallback(paras: &mut Vec<Paragraph>) -> Option<String> {
    let p0 = paras.first()?;
    if p0.num.is_some() {
        return None;
    }
    if p0.text.lines().count() > 3 {
        return None;
    }
    let joined = norm_line(&p0.text);
    let t = joined.as_str();
    if t.is_empty() || t.chars().count() > 250 {
        return None;
    }
    let up = t.to_uppercase();
    if up.contains("ABROGAT") || up.contains("SOPPRESS") {
        return None;
    }
    let paren = wrapped_in_parens(t);
    let has_more = paras[1..]
        .iter()
        .any(|p| !p.text.is_empty() || p.num.is_some());
    let bad_end = t.ends_with(':') || t.ends_with(';') || t.ends_with(',');
    if !(paren || (has_more && !bad_end)) {
        return None;
    }
    let h = clean_heading(t)?;
    paras.remove(0);
    Some(h)
}

/// Fragmented export article ("Codice Penale-art. N"): the first paragraph
/// starts with an optional code name line ("CODICE PENALE") or the doc name,
/// then "Art. N[-suffix][.]", then the rubrica, normally "(...)" but in a few
/// articles an unparenthesised line. Returns (num, heading) and strips them
/// from the first paragraph.
fn apply_fragment(paras: &mut Vec<Paragraph>, name: &str) -> (Option<String>, Option<String>) {
    let num_from_name = fragment_label(name).map(|l| {
        let l = norm_line(l);
        format!("Art. {}", l.replacen(' ', "-", 1))
    });
    let Some(p0) = paras.first_mut() else {
        return (num_from_name, None);
    };
    let full = p0.text.clone();
    let mut rest: &str = full.trim_start();
    // 1. Prefix: doc name, or a code name line before "Art.".
    if let Some(head) = rest.get(..name.len()) {
        if head.eq_ignore_ascii_case(name) {
            rest = rest[name.len()..].trim_start();
        }
    }
    if !starts_with_art(rest) {
        if let Some(nl) = rest.find('\n') {
            let second = rest[nl + 1..].trim_start();
            if nl <= 80 && starts_with_art(second) {
                rest = second;
            }
        }
    }
    // 2. "Art. N".
    let mut inline_num = None;
    if let Some(after) = parse_art_label(rest) {
        let label = rest[..rest.len() - after.len()].trim();
        inline_num = non_empty(label.trim_end_matches('.').trim().to_string());
        rest = after;
    }
    let prefix_len = full.len() - rest.len();
    rest = rest.trim_start();
    // 3. Rubrica.
    let mut heading = None;
    if rest.starts_with('(') {
        if let Some(close) = matching_paren(rest) {
            if close <= 600 {
                heading = clean_heading(&rest[1..close]);
                rest =
                    rest[close + 1..].trim_start_matches(|c: char| c == '.' || c.is_whitespace());
            }
        }
    } else if let Some(nl) = rest.find('\n') {
        let line = rest[..nl].trim();
        let after = rest[nl + 1..].trim();
        if !after.is_empty() && plausible_plain_heading(line) {
            heading = clean_heading(line);
            rest = after;
        }
    }
    // Drop the self-reference ref that carried "CODICE PENALE Art. N".
    if let Some(r0) = p0.refs.first() {
        let prefix = norm_line(&full[..prefix_len]);
        if !r0.text.is_empty() && prefix.contains(r0.text.as_str()) {
            p0.refs.remove(0);
        }
    }
    p0.text = rest.trim().to_string();
    if p0.text.is_empty() && p0.num.is_none() && p0.refs.is_empty() {
        paras.remove(0);
    }
    (num_from_name.or(inline_num), heading)
}

fn starts_with_art(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 4
        && b[..3].eq_ignore_ascii_case(b"art")
        && (b[3] == b'.' || b[3] == b' ' || b[3].is_ascii_digit() || b[3..].starts_with(b"icolo"))
}

/// Parses "Art. 12", "Art. 3-bis.", "Art. 35 bis.", "Art. 648-ter.1", "Articolo 5"
/// at the start of `s`; returns the remainder.
fn parse_art_label(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 4 || !b[..3].eq_ignore_ascii_case(b"art") {
        return None;
    }
    let mut i = 3;
    if b.len() >= i + 5 && b[i..i + 5].eq_ignore_ascii_case(b"icolo") {
        i += 5;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
    }
    while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
        i += 1;
    }
    let d0 = i;
    while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
    }
    if i == d0 {
        return None;
    }
    // Latin suffix.
    let j = i;
    let mut k = i;
    if b.get(k).is_some_and(|c| *c == b'-' || *c == b' ') {
        k += 1;
    }
    let w0 = k;
    while b.get(k).is_some_and(|c| c.is_ascii_alphabetic()) {
        k += 1;
    }
    let word = s.get(w0..k).unwrap_or("").to_ascii_lowercase();
    if k > w0 && is_latin_suffix(&word) {
        i = k;
    } else {
        i = j;
    }
    // ".1" sub-number.
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
    }
    s.get(i..)
}

fn is_latin_suffix(w: &str) -> bool {
    matches!(w, "bis" | "ter" | "quater") || (w.len() >= 5 && w.ends_with("ies"))
}

fn plausible_plain_heading(line: &str) -> bool {
    let up = line.to_uppercase();
    line.chars().next().is_some_and(|c| c.is_uppercase())
        && line.chars().count() <= 600
        && !line.ends_with(':')
        && !line.ends_with(';')
        && !line.ends_with(',')
        && !up.contains("ABROGAT")
        && !up.contains("SOPPRESS")
        && !up.contains("NON PIU' PREVIST")
}

fn is_repealed(paras: &[Paragraph]) -> bool {
    let mut joined = String::new();
    for p in paras {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(&p.text);
        if joined.len() > 2000 {
            break;
        }
    }
    let t =
        joined.trim_start_matches(|c: char| c == '(' || c == '[' || c == '"' || c.is_whitespace());
    let head: String = t.chars().take(200).collect::<String>().to_uppercase();
    if head.contains("ARTICOLO ABROGATO") {
        return true;
    }
    if t.chars().count() > 400 {
        return false;
    }
    let up = t.to_uppercase();
    let notice = up.contains("ABROGA")
        || up.contains("SOPPRESS")
        || up.contains("SOSTITUIT")
        || up.contains("NON PIU' PREVIST")
        || up.contains("NON PIÙ PREVIST");
    // Normattiva writes whole-article notices in capitals:
    // "ARTICOLO DA RITENERSI SOPPRESSO ...", "IL D.P.R. ... HA CONFERMATO
    // L'ABROGAZIONE DEL PRESENTE ARTICOLO", "ARTICOLO SOSTITUITO DA ...".
    let all_caps = !t.chars().any(|c| c.is_lowercase());
    (notice && (all_caps || up.starts_with("ARTICOLO") || up.starts_with("ART.")))
        || up.starts_with("REPEALED")
}

/// Splits a Normattiva "AGGIORNAMENTO (N)" editorial block (optionally preceded
/// by a line of dashes) off the end of a paragraph's raw text.
fn split_update_note(raw: &str) -> (&str, Option<&str>) {
    let mut offset = 0usize;
    let mut prev_dash: Option<usize> = None;
    for line in raw.split('\n') {
        let start = offset;
        offset += line.len() + 1;
        let t = line.trim_matches(|c: char| c.is_whitespace() || c == GLUE);
        if t.is_empty() {
            continue;
        }
        if let Some(rest) = t.strip_prefix("AGGIORNAMENTO") {
            if rest.is_empty() || rest.starts_with([' ', '(', '\t']) {
                let s = prev_dash.unwrap_or(start);
                return (&raw[..s], Some(&raw[s..]));
            }
        }
        prev_dash = if t.len() >= 3 && t.bytes().all(|c| c == b'-') {
            Some(start)
        } else {
            None
        };
    }
    (raw, None)
}

// ---------------------------------------------------------------------------
// Normattiva "(( ... ))" markers
// ---------------------------------------------------------------------------

/// Streaming "(( ... ))" state, kept across the paragraphs of one unit.
#[derive(Default)]
struct Markers {
    depth: usize,
    cur: String,
    /// Offset in the current output where the open marker started (same paragraph only).
    open_pos: Option<usize>,
}

impl Markers {
    fn strip(&mut self, raw: &str, amendments: &mut Vec<String>) -> String {
        let b = raw.as_bytes();
        let mut out = String::with_capacity(raw.len());
        let mut seg = 0usize;
        let mut i = 0usize;
        while i < b.len() {
            let c = b[i];
            if c != b'(' && c != b')' {
                i += 1;
                continue;
            }
            let mut k = i;
            while k < b.len() && b[k] == c {
                k += 1;
            }
            let run = k - i;
            if run < 2 || (c == b')' && self.depth == 0) {
                i = k;
                continue;
            }
            // Flush the plain segment before the run.
            self.emit(&mut out, &raw[seg..i]);
            let extra = &raw[i..i + run - 2];
            if c == b'(' {
                // Delimiter = first two parens, the rest is content.
                if self.depth == 0 {
                    // "Peculato ((, indebita ...))" -> "Peculato, indebita ..."
                    if run == 2 && b.get(k).is_some_and(|n| b",.;:".contains(n)) {
                        let trimmed = out.trim_end_matches([' ', '\t']).len();
                        out.truncate(trimmed);
                    }
                    self.open_pos = Some(out.len());
                    self.cur.clear();
                }
                self.depth += 1;
                self.emit(&mut out, extra);
            } else {
                // Delimiter = last two parens.
                self.emit(&mut out, extra);
                self.depth -= 1;
                if self.depth == 0 {
                    self.close(&mut out, amendments);
                }
            }
            i = k;
            seg = k;
        }
        self.emit(&mut out, &raw[seg..]);
        out
    }

    fn emit(&mut self, out: &mut String, s: &str) {
        out.push_str(s);
        if self.depth > 0 {
            self.cur.push_str(s);
        }
    }

    fn close(&mut self, out: &mut String, amendments: &mut Vec<String>) {
        let inner = std::mem::take(&mut self.cur);
        let open = self.open_pos.take();
        let compact: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
        if is_note_number(&compact) {
            if let Some(p) = open {
                if p <= out.len() {
                    out.truncate(p);
                }
            }
            amendments.push(compact);
        } else {
            let t = norm_text(&inner);
            if !t.is_empty() {
                amendments.push(t);
            }
        }
    }

    fn paragraph_break(&mut self) {
        self.open_pos = None;
        if self.depth > 0 {
            self.cur.push('\n');
        }
    }

    fn finish(&mut self, amendments: &mut Vec<String>) {
        if self.depth > 0 {
            self.depth = 0;
            self.open_pos = None;
            let t = norm_text(&std::mem::take(&mut self.cur));
            if !t.is_empty() {
                amendments.push(t);
            }
        }
    }
}

/// "119", "24a": Normattiva note-number markers.
fn is_note_number(s: &str) -> bool {
    let digits = s.bytes().take_while(|c| c.is_ascii_digit()).count();
    let rest = &s.as_bytes()[digits..];
    digits > 0 && rest.len() <= 2 && rest.iter().all(|c| c.is_ascii_lowercase())
}

fn strip_delims(s: &str) -> String {
    if !s.contains("((") {
        return s.to_string();
    }
    let mut m = Markers::default();
    let mut sink = Vec::new();
    m.strip(s, &mut sink)
}

// ---------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------

/// Source line breaks: a single newline followed by indentation (two or more
/// spaces, or a tab) is XML pretty-printing / hard wrapping and becomes a
/// space; other newlines (Normattiva line structure, blank lines, ASCII-art
/// tables) are kept. Also neutralises the GLUE sentinel in input text.
/// Not applied to whitespace-only text nodes inside a `<p>` or inline element.
fn fold_newlines(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\n') && !s.contains(GLUE) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == GLUE {
            out.push(' ');
            continue;
        }
        if !c.is_whitespace() {
            out.push(c);
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_whitespace() {
                break;
            }
            end = j + d.len_utf8();
            chars.next();
        }
        let run = &s[i..end];
        let newlines = run.matches('\n').count();
        if newlines == 1 {
            let after = &run[run.rfind('\n').map_or(0, |p| p + 1)..];
            if after.contains('\t') || after.chars().filter(|c| *c == ' ').count() >= 2 {
                out.push(' ');
                continue;
            }
        }
        out.push_str(run);
    }
    std::borrow::Cow::Owned(out)
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// Collapse every whitespace run (newlines included) to one space; trim.
fn norm_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            pending = true;
            continue;
        }
        if pending && !out.is_empty() {
            out.push(' ');
        }
        pending = false;
        out.push(c);
    }
    out
}

/// Multi-line normalisation: whitespace runs inside a line become one space,
/// line breaks are kept (one `\n`, empty lines dropped), result trimmed. A
/// GLUE sentinel joins what follows onto the current line with one space.
fn norm_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut newline = false;
    let mut glue = false;
    for c in s.chars() {
        if c == GLUE {
            glue = true;
            space = true;
            continue;
        }
        if c == '\n' {
            if !glue {
                newline = true;
            }
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if !out.is_empty() {
            if newline {
                out.push('\n');
            } else if space {
                out.push(' ');
            }
        }
        newline = false;
        space = false;
        glue = false;
        out.push(c);
    }
    out
}

/// Index of the ')' matching the '(' at byte 0.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// "(Soggetti)" or "(Soggetti)." (whole text inside one pair of parentheses).
fn wrapped_in_parens(t: &str) -> bool {
    if !t.starts_with('(') {
        return false;
    }
    match matching_paren(t) {
        Some(close) => t[close + 1..]
            .chars()
            .all(|c| c == '.' || c.is_whitespace()),
        None => false,
    }
}

fn strip_one_dot(t: &str) -> &str {
    if t.ends_with('.') && !t.ends_with("..") {
        t[..t.len() - 1].trim_end()
    } else {
        t
    }
}

fn clean_heading(s: &str) -> Option<String> {
    let line = norm_line(s);
    let mut t = strip_one_dot(line.trim());
    if wrapped_in_parens(t) {
        if let Some(close) = matching_paren(t) {
            t = t[1..close].trim();
            t = strip_one_dot(t);
        }
    }
    non_empty(t.trim().to_string())
}

/// Lowercase; whitespace -> '_'; '.' removed; keep [a-z0-9_-]; other chars -> '_'.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if c == '.' {
            continue;
        }
        if c.is_whitespace() {
            out.push('_');
        } else if c.is_alphanumeric() || c == '-' || c == '_' {
            out.extend(c.to_lowercase());
        } else {
            out.push('_');
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixtures live in `<crate>/fixtures/norm/`.
    macro_rules! fixture {
        ($file:literal) => {{
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/norm/", $file);
            std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
        }};
    }

    fn unit_text(u: &Unit) -> String {
        u.paragraphs
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn akn(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<akomaNtoso xmlns="http://docs.oasis-open.org/legaldocml/ns/akn/3.0">
  <act name="test">
    <meta><identification source="x">
      <FRBRWork><FRBRthis value="/akn/it/act/legge/stato/2000-01-01/1/!main"/>
        <FRBRuri value="/akn/it/act/legge/stato/2000-01-01/1"/>
        <FRBRalias name="urn:nir" value="urn:nir:stato:legge:2000-01-01;1"/>
        <FRBRdate date="2000-01-01" name=""/></FRBRWork>
      <FRBRExpression><FRBRthis value="/akn/it/act/legge/stato/2000-01-01/1/ita@/!main"/>
        <FRBRlanguage language="ita"/></FRBRExpression>
    </identification></meta>
    <body>{body}</body>
  </act>
</akomaNtoso>"#
        )
    }

    // ---- fixtures -------------------------------------------------------

    #[test]
    fn dlgs_231_2001() {
        let d = parse(&fixture!("it_normattiva_dlgs_231_2001.xml")).unwrap();
        assert_eq!(d.unit_kind, UnitKind::Article);
        assert_eq!(d.units.len(), 109);
        assert_eq!(d.doc_kind, "act");
        assert_eq!(d.doc_name.as_deref(), Some("monovigente"));
        assert_eq!(
            d.work_this.as_deref(),
            Some("/akn/it/act/decreto_legislativo/stato/2001-06-08/231/!main")
        );
        assert_eq!(
            d.expression_this.as_deref(),
            Some("/akn/it/act/decreto_legislativo/stato/2001-06-08/231/ita@2026-01-24/!main")
        );
        assert_eq!(
            d.expression_uri.as_deref(),
            Some("/akn/it/act/decreto_legislativo/stato/2001-06-08/231/ita@2026-01-24")
        );
        assert_eq!(
            d.urn_nir.as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2001-06-08;231")
        );
        assert_eq!(
            d.eli.as_deref(),
            Some("eli/id/2001/06/19/001G0293/CONSOLIDATED/20260124")
        );
        assert_eq!(d.language.as_deref(), Some("ita"));
        assert_eq!(d.work_date.as_deref(), Some("2001-06-08"));
        assert_eq!(d.expression_date.as_deref(), Some("2026-01-24"));
        assert!(d
            .title
            .as_deref()
            .unwrap()
            .starts_with("Disciplina della responsabilita' amministrativa"));

        let a1 = &d.units[0];
        assert_eq!(a1.eid, "art_1");
        assert_eq!(a1.num.as_deref(), Some("Art. 1."));
        assert_eq!(a1.heading.as_deref(), Some("Soggetti"));
        assert_eq!(a1.paragraphs.len(), 3);
        assert_eq!(a1.paragraphs[0].num.as_deref(), Some("1."));
        assert_eq!(a1.paragraphs[0].eid.as_deref(), Some("art_1__para_1"));
        assert!(a1.paragraphs[0]
            .text
            .starts_with("Il presente decreto legislativo disciplina"));
        assert_eq!(a1.path[0], "chapter Capo I RESPONSABILITA' AMMINISTRATIVA DELL'ENTE SEZIONE I Principi generali e criteri di attribuzione della responsabilita' amministrativa");
        assert!(a1.notes.iter().any(|n| n.contains("Avvertenza")));
        for u in &d.units {
            for p in &u.paragraphs {
                assert!(!p.text.contains("Avvertenza"), "{}", u.eid);
                assert!(!p.text.contains("(("), "{}: {}", u.eid, p.text);
            }
        }
        // Heading fallback: empty <heading/>, rubrica in the first unnumbered paragraph.
        let a25 = d.units.iter().find(|u| u.eid == "art_25").unwrap();
        assert!(a25
            .heading
            .as_deref()
            .unwrap()
            .starts_with("Peculato, indebita destinazione di denaro o cose mobili, concussione"));
        assert_eq!(a25.paragraphs[0].num.as_deref(), Some("1."));
        // Heading from <heading><ins>(( (...). ))</ins></heading>.
        let a24t = d.units.iter().find(|u| u.eid == "art_24-ter").unwrap();
        assert_eq!(
            a24t.heading.as_deref(),
            Some("Delitti di criminalita' organizzata")
        );
        // The "((" / "))" marker-only paragraphs are gone.
        assert!(a24t.paragraphs.iter().all(|p| !p.text.is_empty()));
        let a75 = d.units.iter().find(|u| u.eid == "art_75").unwrap();
        assert!(a75.repealed);
        assert!(a75.paragraphs[0]
            .text
            .starts_with("ARTICOLO ABROGATO DAL D.P.R."));
        // Refs.
        let nrefs: usize = d
            .units
            .iter()
            .flat_map(|u| &u.paragraphs)
            .map(|p| p.refs.len())
            .sum();
        assert!(nrefs > 100, "{nrefs}");
        assert!(d
            .units
            .iter()
            .flat_map(|u| &u.paragraphs)
            .flat_map(|p| &p.refs)
            .all(|r| !r.href.is_empty() && !r.text.is_empty()));
    }

    #[test]
    fn dlgs_82_2005_cad() {
        let d = parse(&fixture!("it_normattiva_dlgs_82_2005_CAD.xml")).unwrap();
        assert_eq!(d.unit_kind, UnitKind::Article);
        assert_eq!(d.units.len(), 121);
        assert_eq!(
            d.urn_nir.as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2005-03-07;82")
        );
        let a28 = d.units.iter().find(|u| u.eid == "art_28").unwrap();
        assert_eq!(
            a28.heading.as_deref(),
            Some("Certificati di firma elettronica qualificata")
        );
        let a4 = d.units.iter().find(|u| u.eid == "art_4").unwrap();
        assert!(a4.repealed);
        assert_eq!(a4.heading, None);
        let a6 = d.units.iter().find(|u| u.eid == "art_6").unwrap();
        assert_eq!(
            a6.heading.as_deref(),
            Some("Utilizzo del domicilio digitale")
        );
        assert_eq!(a6.paragraphs[0].num.as_deref(), Some("1."));
        // Amended text spanning several paragraphs stays in the text and is
        // recorded in amendments.
        assert!(a6
            .amendments
            .iter()
            .any(|a| a.contains("Le comunicazioni tramite i domicili digitali")));
        let a6ter = d.units.iter().find(|u| u.eid == "art_6-ter").unwrap();
        assert_eq!(
            a6ter.heading.as_deref(),
            Some("Indice dei domicili digitali delle pubbliche amministrazioni e dei gestori di pubblici servizi")
        );
    }

    #[test]
    fn legge_56_2007() {
        let d = parse(&fixture!("it_normattiva_legge_56_2007.xml")).unwrap();
        assert_eq!(d.units.len(), 2);
        assert_eq!(d.units[0].heading, None);
        assert_eq!(d.units[0].paragraphs.len(), 2);
        assert_eq!(
            d.urn_nir.as_deref(),
            Some("urn:nir:stato:legge:2007-05-04;56")
        );
    }

    #[test]
    fn legge_gelli_bianco() {
        let d = parse(&fixture!("it_normattiva_legge_gelli_bianco.xml")).unwrap();
        assert_eq!(d.units.len(), 18);
        assert_eq!(
            d.units[0].heading.as_deref(),
            Some("Sicurezza delle cure in sanita'")
        );
        assert_eq!(d.units[0].paragraphs[0].num.as_deref(), Some("1."));
        // sections inside articles only wrap authorialNotes.
        assert!(d.units.iter().filter(|u| !u.notes.is_empty()).count() >= 8);
    }

    #[test]
    fn legge_bilancio_2023() {
        let d = parse(&fixture!("it_normattiva_legge_bilancio_2023.xml")).unwrap();
        assert_eq!(d.unit_kind, UnitKind::Article);
        let body: Vec<&Unit> = d.units.iter().filter(|u| u.attachment.is_none()).collect();
        assert_eq!(body.len(), 21);
        // 6 attachments ("Allegato 1", ...) without articles: one unit each.
        assert_eq!(d.units.len(), 27);
        assert!(
            body[0].paragraphs.len() >= 900,
            "{}",
            body[0].paragraphs.len()
        );
        assert_eq!(body[0].num.as_deref(), Some("Art. 1."));
        assert!(body[0]
            .heading
            .as_deref()
            .unwrap()
            .starts_with("Risultati differenziali"));
        assert!(body[0].notes.iter().any(|n| n.contains("AGGIORNAMENTO")));
        let att = d.units.iter().find(|u| u.eid == "att_allegato_1").unwrap();
        assert_eq!(att.attachment.as_deref(), Some("Allegato 1"));
        assert_eq!(att.path, vec!["attachment Allegato 1".to_string()]);
        // ASCII-art tables keep their lines.
        assert!(unit_text(att).lines().count() > 10);
    }

    #[test]
    fn codice_penale_fragmented() {
        let d = parse(&fixture!("it_normattiva_codice_penale.xml")).unwrap();
        assert_eq!(d.unit_kind, UnitKind::Article);
        assert_eq!(d.units.len(), 990);
        assert_eq!(
            d.units.iter().filter(|u| u.attachment.is_some()).count(),
            987
        );
        let a1 = d
            .units
            .iter()
            .find(|u| u.num.as_deref() == Some("Art. 1") && u.attachment.is_some())
            .unwrap();
        assert_eq!(a1.eid, "att_codice_penale-art_1");
        assert_eq!(a1.attachment.as_deref(), Some("Codice Penale-art. 1"));
        assert_eq!(
            a1.heading.as_deref(),
            Some("Reati e pene: disposizione espressa di legge")
        );
        assert!(a1.paragraphs[0]
            .text
            .starts_with("Nessuno puo' essere punito"));
        assert!(a1.paragraphs[0].refs.is_empty());
        assert_eq!(a1.path, vec!["attachment Codice Penale-art. 1".to_string()]);
        let a3b = d
            .units
            .iter()
            .find(|u| u.eid == "att_codice_penale-art_3_bis")
            .unwrap();
        assert_eq!(a3b.num.as_deref(), Some("Art. 3-bis"));
        assert_eq!(
            a3b.heading.as_deref(),
            Some("Principio della riserva di codice")
        );
        assert!(a3b.paragraphs[0].text.starts_with("Nuove disposizioni"));
        let a280 = d
            .units
            .iter()
            .find(|u| u.eid == "att_codice_penale-art_280")
            .unwrap();
        assert_eq!(
            a280.heading.as_deref(),
            Some("Attentato per finalita' terroristiche o di eversione")
        );
        assert!(a280.notes.iter().any(|n| n.contains("AGGIORNAMENTO (92)")));
        let a5 = d
            .units
            .iter()
            .find(|u| u.eid == "att_codice_penale-art_5")
            .unwrap();
        assert!(a5.amendments.iter().any(|a| a == "109"));
        assert!(!unit_text(a5).contains("109"));
        let a519 = d
            .units
            .iter()
            .find(|u| u.eid == "att_codice_penale-art_519")
            .unwrap();
        assert!(a519.repealed);
        assert_eq!(a519.num.as_deref(), Some("Art. 519"));
        assert!(unit_text(a519).starts_with("ARTICOLO ABROGATO DALLA L. 15 FEBBRAIO 1996"));
        assert!(d.units.iter().filter(|u| u.repealed).count() >= 10);
        let eids: HashSet<&str> = d.units.iter().map(|u| u.eid.as_str()).collect();
        assert_eq!(eids.len(), d.units.len());
        // Decree articles.
        assert_eq!(d.units[0].eid, "art_1");
        assert_eq!(d.units[0].num.as_deref(), Some("Art. 1."));
        for u in &d.units {
            assert!(
                !u.paragraphs
                    .iter()
                    .any(|p| p.text.contains("AGGIORNAMENTO")),
                "{}",
                u.eid
            );
            if u.attachment.is_some() {
                assert!(u.num.as_deref().unwrap().starts_with("Art. "), "{}", u.eid);
            }
        }
    }

    #[test]
    fn lawsafrica_sections() {
        let d = parse(&fixture!("lawsafrica_slaw_community-fire-safety.xml")).unwrap();
        assert_eq!(d.unit_kind, UnitKind::Section);
        let body: Vec<&Unit> = d.units.iter().filter(|u| u.attachment.is_none()).collect();
        assert_eq!(body.len(), 62);
        // + 9 sections of the root-level <components> "schedules" doc.
        assert_eq!(d.units.len(), 71);
        assert!(body
            .iter()
            .all(|u| u.path.len() == 1 && u.path[0].starts_with("chapter ")));
        assert_eq!(body[0].path, vec!["chapter 1 Definitions".to_string()]);
        assert_eq!(body[0].eid, "section-1");
        assert_eq!(body[0].num.as_deref(), Some("1."));
        assert_eq!(body[0].heading.as_deref(), Some("Definitions"));
        assert!(unit_text(body[0]).contains("\"above ground storage tank\" means a tank"));
        assert_eq!(d.title.as_deref(), Some("Community Fire Safety By-law"));
        assert_eq!(d.language.as_deref(), Some("eng"));
        let sched = d.units.iter().find(|u| u.attachment.is_some()).unwrap();
        assert_eq!(sched.path[0], "attachment schedules");
        assert!(sched.eid.starts_with("att_schedules__"));
    }

    #[test]
    fn legaldocml_uk_sections_not_in_mod() {
        let d = parse(&fixture!("legaldocml_uk_pga-2014-27-enacted-data.xml")).unwrap();
        assert_eq!(d.unit_kind, UnitKind::Section);
        assert_eq!(d.units.len(), 8);
        assert_eq!(d.units[0].eid, "sec_1");
        assert_eq!(
            d.units[0].heading.as_deref(),
            Some("Powers for retention of relevant communications data subject to safeguards")
        );
        assert_eq!(
            d.units[0].paragraphs[0].eid.as_deref(),
            Some("sec_1__subsec_1")
        );
        // Text of quotedStructure inside mod stays in the enclosing section.
        let all: String = d.units.iter().map(unit_text).collect::<Vec<_>>().join("\n");
        assert!(all.contains("A copy of a warrant may be served under subsection (2)"));
        assert!(d.units.iter().all(|u| !u.eid.starts_with("mod_")));
        assert!(d
            .title
            .as_deref()
            .unwrap()
            .starts_with("An Act to make provision"));
        // rref inside mod.
        assert!(d
            .units
            .iter()
            .flat_map(|u| &u.paragraphs)
            .flat_map(|p| &p.refs)
            .any(|r| r.href == "#sec_1" && r.text == "Sections 1 to 7"));
    }

    #[test]
    fn senato_amendment_body() {
        let d = parse(&fixture!("senato_leg13_as755_em_00189156.akn.xml")).unwrap();
        assert_eq!(d.doc_kind, "amendment");
        assert_eq!(d.unit_kind, UnitKind::Body);
        assert_eq!(d.units.len(), 1);
        assert_eq!(d.units[0].eid, "body");
        let t = unit_text(&d.units[0]);
        assert!(
            t.contains("Al comma 1, primo periodo, sopprimere le parole:"),
            "{t}"
        );
        assert!(t.contains("«in tutti i suoi generi e manifestazioni»"));
        assert_eq!(
            d.work_this.as_deref(),
            Some("http://dati.senato.it/13/Emend/S/755/A/1.1/main")
        );
        assert_eq!(d.language.as_deref(), Some("it"));
    }

    #[test]
    fn normattiva_units_have_text_or_are_repealed() {
        let files: [(&str, Vec<u8>); 6] = [
            ("codice_penale", fixture!("it_normattiva_codice_penale.xml")),
            ("dlgs_231_2001", fixture!("it_normattiva_dlgs_231_2001.xml")),
            (
                "dlgs_82_2005_CAD",
                fixture!("it_normattiva_dlgs_82_2005_CAD.xml"),
            ),
            ("legge_56_2007", fixture!("it_normattiva_legge_56_2007.xml")),
            (
                "legge_bilancio_2023",
                fixture!("it_normattiva_legge_bilancio_2023.xml"),
            ),
            (
                "legge_gelli_bianco",
                fixture!("it_normattiva_legge_gelli_bianco.xml"),
            ),
        ];
        for (f, xml) in &files {
            let d = parse(xml).unwrap();
            for u in &d.units {
                assert!(
                    !unit_text(u).trim().is_empty() || u.repealed,
                    "{f}: {} has no text",
                    u.eid
                );
                assert!(!u.paragraphs.is_empty());
            }
            let eids: HashSet<&str> = d.units.iter().map(|u| u.eid.as_str()).collect();
            assert_eq!(eids.len(), d.units.len(), "{f}");
        }
    }

    // ---- inline documents ---------------------------------------------------

    #[test]
    fn amendment_markers() {
        let xml = akn(
            r#"<article eId="art_1"><num>Art. 1.</num><heading>Prova</heading>
            <paragraph eId="art_1__para_1"><num>1.</num><content><p>La multa e' <ins>((non inferiore a euro 50))</ins>, ((ne' superiore a euro 50.000)).((119))</p></content></paragraph>
            <paragraph><content><p>((</p></content></paragraph>
            <paragraph eId="art_1__para_2"><num>2.</num><content><p>Comma inserito.</p></content></paragraph>
            <paragraph><content><p>))</p></content></paragraph>
            <paragraph eId="art_1__para_3"><num>3.</num><content><p>Si applica la lettera a))) e la lettera b)) del comma 1 ((24a)).</p></content></paragraph>
            </article>"#,
        );
        let d = parse(xml.as_bytes()).unwrap();
        let u = &d.units[0];
        assert_eq!(u.paragraphs.len(), 3);
        assert_eq!(
            u.paragraphs[0].text,
            "La multa e' non inferiore a euro 50, ne' superiore a euro 50.000."
        );
        assert_eq!(u.paragraphs[1].text, "Comma inserito.");
        assert_eq!(
            u.paragraphs[2].text,
            "Si applica la lettera a))) e la lettera b)) del comma 1 ."
        );
        assert_eq!(
            u.amendments,
            vec![
                "non inferiore a euro 50".to_string(),
                "ne' superiore a euro 50.000".to_string(),
                "119".to_string(),
                "Comma inserito.".to_string(),
                "24a".to_string(),
            ]
        );
        assert!(!u.repealed);
    }

    #[test]
    fn markers_across_inline_elements_and_repealed() {
        let xml = akn(r#"<article eId="art_2"><num>Art. 2.</num><heading/>
            <paragraph><content><p>((ARTICOLO ABROGATO DAL <ref href="/akn/x">D.LGS. 1 GENNAIO 2000, N. 1</ref>))</p></content></paragraph>
            </article>
            <article eId="art_3"><num>Art. 3.</num><heading/>
            <paragraph><content><p>Testo <b>((con</b> modifica)) finale <ins>((a))</ins>)</p></content></paragraph>
            </article>"#);
        let d = parse(xml.as_bytes()).unwrap();
        let a2 = &d.units[0];
        assert!(a2.repealed);
        assert_eq!(a2.heading, None);
        assert_eq!(
            a2.paragraphs[0].text,
            "ARTICOLO ABROGATO DAL D.LGS. 1 GENNAIO 2000, N. 1"
        );
        assert_eq!(
            a2.paragraphs[0].refs,
            vec![RefMark {
                href: "/akn/x".into(),
                text: "D.LGS. 1 GENNAIO 2000, N. 1".into()
            }]
        );
        assert_eq!(a2.amendments.len(), 1);
        let a3 = &d.units[1];
        assert_eq!(a3.paragraphs[0].text, "Testo con modifica finale a)");
        assert_eq!(
            a3.amendments,
            vec!["con modifica".to_string(), "a)".to_string()]
        );
        assert!(!a3.repealed);
    }

    #[test]
    fn authorial_notes_removed_from_text() {
        let xml = akn(
            r#"<chapter eId="chp_1"><num>Capo I</num><heading>Disposizioni <i>generali</i></heading>
            <article eId="art_1"><num>Art. 1.</num><heading>Oggetto</heading>
            <paragraph eId="p1"><num>1.</num><content><p>Testo<authorialNote eId="n1"><p>Nota   redazionale <ref href="/x">art. 5</ref></p></authorialNote> normativo <ref href="/akn/y">art. 3</ref>.</p></content></paragraph>
            <section><content><p><authorialNote eId="n2"><p>Avvertenza: note</p></authorialNote></p></content></section>
            </article></chapter>"#,
        );
        let d = parse(xml.as_bytes()).unwrap();
        assert_eq!(d.units.len(), 1);
        let u = &d.units[0];
        assert_eq!(
            u.path,
            vec!["chapter Capo I Disposizioni generali".to_string()]
        );
        assert_eq!(u.paragraphs.len(), 1);
        assert_eq!(u.paragraphs[0].text, "Testo normativo art. 3.");
        assert_eq!(
            u.paragraphs[0].refs,
            vec![RefMark {
                href: "/akn/y".into(),
                text: "art. 3".into()
            }]
        );
        assert_eq!(
            u.notes,
            vec![
                "Nota redazionale art. 5".to_string(),
                "Avvertenza: note".to_string()
            ]
        );
    }

    #[test]
    fn quoted_structure_articles_are_not_units() {
        let xml = akn(
            r#"<article eId="art_1"><num>Art. 1.</num><heading>Modifiche</heading>
            <paragraph eId="art_1__para_1"><num>1.</num><content><p>All'articolo 2 e' aggiunto:
              <mod eId="mod_1"><quotedStructure eId="qs_1">
                <article eId="mod_1__art_2-bis"><num>Art. 2-bis.</num><heading>Nuovo</heading>
                  <paragraph eId="mod_1__para_1"><num>1.</num><content><p>Testo inserito.</p></content></paragraph>
                </article></quotedStructure></mod></p></content></paragraph>
            </article>
            <article><num>Art. 2.</num><heading>Altro</heading><content><p>Senza commi</p></content></article>"#,
        );
        let d = parse(xml.as_bytes()).unwrap();
        assert_eq!(d.units.len(), 2);
        assert_eq!(d.units[0].paragraphs.len(), 1);
        let t = &d.units[0].paragraphs[0].text;
        assert!(t.contains("All'articolo 2 e' aggiunto:"), "{t}");
        assert!(t.contains("Art. 2-bis."), "{t}");
        assert!(t.contains("Testo inserito."), "{t}");
        // Synthesized eid; a unit without paragraphs gets one with all its text.
        assert_eq!(d.units[1].eid, "art_n1");
        assert_eq!(d.units[1].paragraphs.len(), 1);
        assert_eq!(d.units[1].paragraphs[0].text, "Senza commi");
    }

    #[test]
    fn lists_and_tables_do_not_glue_words() {
        let xml = akn(r#"<article eId="art_1"><num>Art. 1</num>
            <paragraph eId="a"><num>1.</num><list><intro><p>Si intende per:</p></intro><point><num>a)</num><content><p>primo</p></content></point><point><num>b)</num><content><p>secondo</p></content></point></list></paragraph>
            <paragraph eId="b"><num>2.</num><content><table><tr><td><p>x</p></td><td><p>y</p></td></tr><tr><td>z</td><td>w</td></tr></table></content></paragraph>
            </article>"#);
        let d = parse(xml.as_bytes()).unwrap();
        let u = &d.units[0];
        assert_eq!(u.heading, None);
        assert_eq!(
            u.paragraphs[0].text,
            "Si intende per:\na) primo\nb) secondo"
        );
        assert_eq!(u.paragraphs[1].text, "x y\nz w");
    }

    #[test]
    fn heading_fallback_rules() {
        let xml = akn(r#"<article eId="art_1"><num>Art. 1.</num><heading/>
              <paragraph><content><p>(Soggetti)</p></content></paragraph>
              <paragraph eId="p1"><num>1.</num><content><p>Testo.</p></content></paragraph></article>
            <article eId="art_2"><num>Art. 2.</num><heading> </heading>
              <paragraph><content><p>Unico comma non numerato del decreto.</p></content></paragraph></article>
            <article eId="art_3"><num>Art. 3.</num>
              <paragraph><content><p>Definizioni</p></content></paragraph>
              <paragraph eId="p3"><num>1.</num><content><p>Ai fini:</p></content></paragraph></article>"#);
        let d = parse(xml.as_bytes()).unwrap();
        assert_eq!(d.units[0].heading.as_deref(), Some("Soggetti"));
        assert_eq!(d.units[0].paragraphs.len(), 1);
        assert_eq!(d.units[1].heading, None);
        assert_eq!(
            d.units[1].paragraphs[0].text,
            "Unico comma non numerato del decreto."
        );
        assert_eq!(d.units[2].heading.as_deref(), Some("Definizioni"));
    }

    #[test]
    fn attachments_with_and_without_articles() {
        let xml = r#"<akomaNtoso><act name="x"><meta/>
          <body><article eId="art_1"><num>Art. 1</num><heading>Uno</heading><paragraph eId="art_1__para_1"><num>1.</num><content><p>Corpo.</p></content></paragraph></article>
            <article eId="art_1"><num>Art. 1</num><content><p>Duplicato.</p></content></article></body>
          <attachments>
            <attachment><doc name="Allegato A"><meta><identification source="x"><FRBRWork><FRBRthis value="/att"/></FRBRWork></identification></meta>
              <mainBody><chapter><num>Capo I</num><heading>Norme</heading>
                <article eId="art_1"><num>Art. 1</num><heading>(Oggetto)</heading><paragraph><num>1.</num><content><p>Testo allegato.</p></content></paragraph></article>
                <article><num>Art. 2</num><paragraph><num>1.</num><content><p>Secondo.</p></content></paragraph></article>
              </chapter></mainBody></doc></attachment>
            <attachment><doc name="Tabella B"><mainBody><p>Voce 1</p><p>Voce 2</p></mainBody></doc></attachment>
          </attachments></act></akomaNtoso>"#;
        let d = parse(xml.as_bytes()).unwrap();
        assert_eq!(d.work_this, None, "attachment meta must not leak");
        let eids: Vec<&str> = d.units.iter().map(|u| u.eid.as_str()).collect();
        assert_eq!(
            eids,
            vec![
                "art_1",
                "art_1_2",
                "att_allegato_a__art_1",
                "att_allegato_a__art_n1",
                "att_tabella_b"
            ]
        );
        let a = &d.units[2];
        assert_eq!(a.attachment.as_deref(), Some("Allegato A"));
        assert_eq!(
            a.path,
            vec![
                "attachment Allegato A".to_string(),
                "chapter Capo I Norme".to_string()
            ]
        );
        assert_eq!(a.heading.as_deref(), Some("Oggetto"));
        let t = &d.units[4];
        assert_eq!(t.path, vec!["attachment Tabella B".to_string()]);
        assert_eq!(t.paragraphs[0].text, "Voce 1\nVoce 2");
    }

    #[test]
    fn judgment_parts_in_document_order() {
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/jurisprudence/legaldocml_za_Judgement_2008-11-26.xml"
        ))
        .unwrap();
        let d = judgment_document(&xml).unwrap();
        let names: Vec<&str> = d.parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "header",
                "background",
                "introduction",
                "motivation",
                "decision",
                "conclusions"
            ]
        );
        for w in d.parts.windows(2) {
            assert!(w[0].end <= w[1].start);
        }
        let decision = &d.parts[4];
        let text = &d.text[decision.start..decision.end];
        assert!(!text.is_empty());
        assert!(!d.text.contains("FRBR"), "metadata stays out of the text");
    }

    #[test]
    fn body_mode_judgment_and_preface_fallback() {
        let judgment = r#"<akomaNtoso><judgment name="sentenza"><meta/>
          <header><p>Corte di Cassazione</p></header>
          <judgmentBody><introduction><p>Primo capoverso.</p><p>Secondo <ref href="/akn/it/act/x">art. 5</ref>.</p></introduction>
            <decision><p>P.Q.M. rigetta<authorialNote><p>nota</p></authorialNote>.</p></decision></judgmentBody>
          </judgment></akomaNtoso>"#;
        let d = parse(judgment.as_bytes()).unwrap();
        assert_eq!(d.doc_kind, "judgment");
        assert_eq!(d.unit_kind, UnitKind::Body);
        assert_eq!(d.units.len(), 1);
        let u = &d.units[0];
        assert_eq!(u.eid, "body");
        let texts: Vec<&str> = u.paragraphs.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["Primo capoverso.", "Secondo art. 5.", "P.Q.M. rigetta."]
        );
        assert_eq!(u.paragraphs[1].refs[0].href, "/akn/it/act/x");
        assert_eq!(u.notes, vec!["nota".to_string()]);

        let preface_only = r#"<akomaNtoso><doc name="comunicato"><meta/>
          <preface><p><docTitle>Comunicato</docTitle></p><p>Testo del comunicato.</p></preface>
          <mainBody/></doc></akomaNtoso>"#;
        let d = parse(preface_only.as_bytes()).unwrap();
        assert_eq!(d.title.as_deref(), Some("Comunicato"));
        assert_eq!(d.units.len(), 1);
        assert_eq!(d.units[0].eid, "body");
        assert_eq!(unit_text(&d.units[0]), "Comunicato\nTesto del comunicato.");
    }

    #[test]
    fn prefixed_namespace_cdata_comments_and_entities() {
        let xml = r#"<?xml version="1.0"?>
<!-- comment --><?pi x?>
<an:akomaNtoso xmlns:an="http://docs.oasis-open.org/legaldocml/ns/akn/3.0/CSD03">
 <an:bill name="ddl"><an:meta><an:identification source="x"><an:FRBRWork>
   <an:FRBRthis value="/a&amp;b"/></an:FRBRWork></an:identification></an:meta>
 <an:preface><an:p><an:docTitle>Titolo &#232; &lt;ok&gt;</an:docTitle></an:p></an:preface>
 <an:body><an:article an:eId="art_1"><an:num>Art. 1</an:num>
  <an:paragraph><an:content><an:p>A <![CDATA[<raw> & text]]> B<!-- hidden --> C</an:p></an:content></an:paragraph>
 </an:article></an:body></an:bill></an:akomaNtoso>"#;
        let d = parse(xml.as_bytes()).unwrap();
        assert_eq!(d.doc_kind, "bill");
        assert_eq!(d.work_this.as_deref(), Some("/a&b"));
        assert_eq!(d.title.as_deref(), Some("Titolo è <ok>"));
        assert_eq!(d.units[0].eid, "art_1");
        assert_eq!(d.units[0].paragraphs[0].text, "A <raw> & text B C");
    }

    #[test]
    fn dtd_entities_are_never_expanded() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE akomaNtoso [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<akomaNtoso><act><body><article eId="a"><paragraph><content><p>&c;</p></content></paragraph></article></body></act></akomaNtoso>"#;
        match parse(laughs.as_bytes()) {
            Err(e @ AknError::Entity { .. }) => {
                let m = e.to_string();
                assert!(m.contains("&c;") && m.contains("never expanded"), "{m}");
                assert!(m.contains("billion-laughs"), "{m}");
            }
            other => panic!("expected an Entity error, got {other:?}"),
        }
        let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE akomaNtoso [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<akomaNtoso><act><body><article eId="a"><paragraph><content><p>&x;</p></content></paragraph></article></body></act></akomaNtoso>"#;
        match parse(xxe.as_bytes()) {
            Err(e @ AknError::Entity { .. }) => {
                let m = e.to_string();
                assert!(
                    m.contains("&x; is an external entity (\"file:///etc/passwd\")")
                        && m.contains("never read (XXE)"),
                    "{m}"
                );
            }
            other => panic!("expected an Entity error, got {other:?}"),
        }
        // In an attribute, and PUBLIC with single quotes: the same.
        let public = r#"<!DOCTYPE akomaNtoso [<!ENTITY y PUBLIC "-//x//EN" 'http://evil.example/y'>]>
<akomaNtoso><act name="&y;"><body/></act></akomaNtoso>"#;
        match parse(public.as_bytes()) {
            Err(e @ AknError::Entity { .. }) => {
                assert!(e.to_string().contains("\"http://evil.example/y\""), "{e}")
            }
            other => panic!("expected an Entity error, got {other:?}"),
        }
        // An entity nobody declared stays a plain XML error.
        assert!(matches!(
            parse(b"<akomaNtoso><act><body><p>&nope;</p></body></act></akomaNtoso>"),
            Err(AknError::Xml { .. })
        ));
        // A parameter entity and an external DTD subset: never fetched, the document parses.
        let param = r#"<!DOCTYPE akomaNtoso SYSTEM "file:///etc/passwd" [<!ENTITY % p SYSTEM "file:///etc/shadow"> %p;]>
<akomaNtoso><act><body><article eId="a"><paragraph><content><p>ok</p></content></paragraph></article></body></act></akomaNtoso>"#;
        assert_eq!(
            parse(param.as_bytes()).unwrap().units[0].paragraphs[0].text,
            "ok"
        );
        // Declared but unused: parses, nothing expanded.
        let unused = r#"<!DOCTYPE akomaNtoso [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<akomaNtoso><act><body><article eId="a"><paragraph><content><p>ok</p></content></paragraph></article></body></act></akomaNtoso>"#;
        let d = parse(unused.as_bytes()).unwrap();
        assert_eq!(d.units[0].paragraphs[0].text, "ok");
    }

    #[test]
    fn binary_data_is_named_not_echoed() {
        let junk = [0x89u8, 0x1b, b'<', 0xff, 0x7f, b'q', b'>', 0, 7];
        match parse(&junk) {
            Err(e @ AknError::NotAkn(_)) => {
                assert_eq!(
                    e.to_string(),
                    "not an Akoma Ntoso document: binary data, not XML (NUL byte at offset 7)"
                )
            }
            other => panic!("expected NotAkn, got {other:?}"),
        }
        // No NUL: the bytes that pass for an element name are not echoed either.
        match parse(&[0x89u8, 0x1b, b'<', 0xc3, 0x28, 0x7f, b'>', 7]) {
            Err(e @ AknError::NotAkn(_)) => {
                let m = e.to_string();
                assert!(m.contains("binary data or not XML"), "{m}");
                assert!(m.chars().all(|c| !c.is_control()), "{m:?}");
            }
            other => panic!("expected NotAkn, got {other:?}"),
        }
        assert!(is_xml_name(b"an:akomaNtoso") && is_xml_name(b"_x-1.2"));
        assert!(!is_xml_name(b"1abc") && !is_xml_name(b"a\x7fb") && !is_xml_name(b""));
    }

    #[test]
    fn malformed_and_foreign_inputs() {
        assert!(matches!(
            parse(b"<html><body>x</body></html>"),
            Err(AknError::NotAkn(_))
        ));
        assert!(matches!(parse(b""), Err(AknError::NotAkn(_))));
        assert!(matches!(parse(b"<akomaNtoso/>"), Err(AknError::NotAkn(_))));
        match parse(b"<akomaNtoso><act><body></act></akomaNtoso>") {
            Err(AknError::Xml { position, .. }) => assert!(position > 0),
            other => panic!("expected Xml error, got {other:?}"),
        }
        assert!(matches!(
            parse(b"<akomaNtoso><act><body>"),
            Err(AknError::Xml { .. })
        ));
        let xml = fixture!("legaldocml_uk_pga-2014-27-enacted-data.xml");
        assert!(matches!(
            parse(&xml[..xml.len() / 2]),
            Err(AknError::Xml { .. })
        ));
    }

    /// Fuzzing found the reader's mismatched-end-tag error quoting a multi-line "name".
    #[test]
    fn xml_errors_are_one_bounded_line() {
        let xml = b"<akomaNtoso><act><body><p>x</pa del 1930. \n</p>\n</body></act></akomaNtoso>";
        let msg = parse(xml).unwrap_err().to_string();
        assert!(msg.starts_with("malformed XML at byte"), "{msg}");
        assert!(!msg.contains('\n'), "{msg:?}");
        let long = format!("<akomaNtoso><act></{}></akomaNtoso>", "a\n".repeat(10_000));
        let msg = parse(long.as_bytes()).unwrap_err().to_string();
        assert!(!msg.contains('\n') && msg.chars().count() < 300, "{msg:?}");
    }

    #[test]
    fn truncated_fixture_is_always_an_error() {
        let xml = fixture!("it_normattiva_legge_56_2007.xml");
        let end = xml
            .windows(13)
            .rposition(|w| w == b"</akomaNtoso>")
            .unwrap();
        let mut cut = 0;
        while cut < end {
            assert!(parse(&xml[..cut]).is_err(), "cut at {cut} parsed");
            cut += 7;
        }
        assert!(parse(&xml).is_ok());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..300 {
            let len = (next() % 2048) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            assert!(parse(&bytes).is_err(), "random input {i} parsed");
        }
        // Mutations of a real document: must not panic (Ok or Err both fine).
        let base = fixture!("it_normattiva_legge_56_2007.xml");
        for _ in 0..300 {
            let mut m = base.clone();
            for _ in 0..(1 + next() % 8) {
                let at = (next() as usize) % m.len();
                m[at] = b"<>/&;()\"' ax\n"[(next() % 13) as usize];
            }
            let _ = parse(&m);
        }
    }

    #[test]
    fn serde_roundtrip_shape() {
        // bincode is not a dependency here; check Serialize/Deserialize derive
        // compiles and PartialEq works on the whole document.
        fn assert_serde<T: Serialize + for<'de> Deserialize<'de>>() {}
        assert_serde::<AknDocument>();
        let d = parse(&fixture!("it_normattiva_legge_56_2007.xml")).unwrap();
        assert_eq!(d.clone(), d);
    }

    /// `cargo test --release -- --ignored --nocapture throughput`
    #[test]
    #[ignore]
    fn throughput() {
        let xml = fixture!("it_normattiva_codice_penale.xml");
        let n = 20;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let d = parse(&xml).unwrap();
            assert_eq!(d.units.len(), 990);
        }
        let secs = t.elapsed().as_secs_f64();
        let mb = (xml.len() * n) as f64 / 1e6;
        eprintln!(
            "codice penale: {:.1} MB/s ({:.1} ms/parse)",
            mb / secs,
            secs * 1000.0 / n as f64
        );
    }
}

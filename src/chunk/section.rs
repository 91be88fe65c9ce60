//! Sections of a court decision (Italian practice): the header (intestazione: court, section,
//! kind, number, parties), the facts (`FATTI DI CAUSA`, `SVOLGIMENTO DEL PROCESSO`,
//! `RITENUTO IN FATTO`, `Rilevato che`), the reasoning (`RAGIONI DELLA DECISIONE`,
//! `MOTIVI DELLA DECISIONE`, `CONSIDERATO IN DIRITTO`, `Considerato che`) and the operative part
//! (`P.Q.M.`, `Per questi motivi`, and the dispositive words that follow).
//!
//! Headings are found on the cleaned text of a [`TextDocument`]:
//! - upper-case headings anywhere a line or a sentence starts, even glued to the text after them
//!   (`FATTI DI CAUSA 1. In punto…`, `…controricorso. P.Q.M. La Corte…`);
//! - mixed-case ones (`Rilevato che`, `Per questi motivi`) at the start of a line, alone on it or
//!   followed by a colon — so that a decree's `Considerato che è trascorso il termine…` or a
//!   quoted `“Considerato che”` is not taken for a heading.
//!
//! Sections follow the order header → facts → reasoning → operative; any of them may be missing
//! (a decree may have only a header and an operative part). Offsets are bytes into
//! [`TextDocument::text`].

use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::parse::textdoc::TextDocument;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SectionKind {
    Header,
    Facts,
    Reasoning,
    Operative,
}

impl SectionKind {
    fn rank(self) -> u8 {
        match self {
            SectionKind::Header => 0,
            SectionKind::Facts => 1,
            SectionKind::Reasoning => 2,
            SectionKind::Operative => 3,
        }
    }

    /// A short label for chunk context (`header`, `facts`, `reasoning`, `operative`).
    pub fn label(self) -> &'static str {
        match self {
            SectionKind::Header => "header",
            SectionKind::Facts => "facts",
            SectionKind::Reasoning => "reasoning",
            SectionKind::Operative => "operative",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub kind: SectionKind,
    /// The heading as written (`FATTI DI CAUSA`, `P.Q.M.`; for the header, the decision's kind
    /// line such as `ORDINANZA`), if there is one.
    pub heading: Option<String>,
    /// Byte offsets into the TextDocument text (the heading included).
    pub start: usize,
    pub end: usize,
    /// Page where the section starts (0 when the source has no pages).
    pub first_page: u32,
}

impl Section {
    pub fn text<'a>(&self, doc: &'a TextDocument) -> &'a str {
        &doc.text[self.start..self.end]
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionMeta {
    pub court: Option<String>,
    /// `Sez. 5`, `Sez. U`, `Sez. L`.
    pub section: Option<String>,
    /// SENTENZA, ORDINANZA, ORDINANZA INTERLOCUTORIA, DECRETO
    pub kind: Option<String>,
    pub number: Option<String>,
    pub year: Option<String>,
    /// ISO date (YYYY-MM-DD): publication date when known, else the date of the decision.
    pub date: Option<String>,
    pub ecli: Option<String>,
    /// Presidente, relatore and signatories, without duplicates.
    pub judges: Vec<String>,
}

/// Split a decision into labelled sections in document order.
pub fn sections(doc: &TextDocument) -> (Vec<Section>, DecisionMeta) {
    let text = doc.text.as_str();
    let mut out = Vec::new();
    if text.trim().is_empty() {
        return (Vec::new(), meta(doc, None, &[]));
    }

    // Section starts, in order and in rank order.
    let mut starts: Vec<Heading> = Vec::new();
    let mut rank = 0;
    for h in heading_candidates(text) {
        if h.kind.rank() > rank && starts.last().is_none_or(|l| h.start >= l.end) {
            rank = h.kind.rank();
            starts.push(h);
        }
    }
    if !starts.iter().any(|h| h.kind == SectionKind::Operative) {
        let from = starts.last().map_or(0, |h| h.end);
        if let Some(h) = dispositive_start(text, from) {
            starts.push(h);
        }
    }

    let first = starts.first().map_or(text.len(), |h| h.start);
    let kind_line = kind_heading(&text[..first]);
    if !text[..first].trim().is_empty() || starts.is_empty() {
        out.push(Section {
            kind: SectionKind::Header,
            heading: kind_line.clone(),
            start: leading_ws(text, 0),
            end: 0,
            first_page: 0,
        });
    }
    for h in &starts {
        out.push(Section {
            kind: h.kind,
            heading: (!h.text.is_empty()).then(|| h.text.clone()),
            start: h.start,
            end: 0,
            first_page: 0,
        });
    }
    for i in 0..out.len() {
        let next = out.get(i + 1).map_or(text.len(), |s| s.start);
        out[i].end = out[i].start + text[out[i].start..next].trim_end().len();
        out[i].first_page = page_at(doc, out[i].start);
    }
    let m = meta(doc, kind_line, &out);
    (out, m)
}

/// Split a long section (`range` in `text`) into parts of at most `max_chars` characters, cut
/// at paragraph boundaries ("\n\n"; else a line break, a sentence end, a space), each part
/// after the first starting about `overlap_chars` characters before the previous one ended
/// (at a word start). Parts keep their section's label: see [`split_section`].
pub fn split_long(
    text: &str,
    range: Range<usize>,
    max_chars: usize,
    overlap_chars: usize,
) -> Vec<Range<usize>> {
    let range = trim_range(text, range);
    if range.is_empty() {
        return Vec::new();
    }
    let max_chars = max_chars.max(1);
    let overlap_chars = overlap_chars.min(max_chars / 2);
    let mut out = Vec::new();
    let mut cur = range.start;
    // Each part ends after the previous one (so an overlap never swallows a whole part).
    let mut prev_end = range.start;
    loop {
        let limit = advance_chars(text, cur, max_chars);
        if limit >= range.end {
            out.push(trim_range(text, cur..range.end));
            break;
        }
        let half = advance_chars(text, cur, max_chars / 2).max(prev_end + 1);
        let cut = best_cut(text, cur, limit, half)
            .or_else(|| best_cut(text, cur, limit, prev_end + 1))
            .unwrap_or(limit);
        let mut part = trim_range(text, cur..cut);
        if part.end <= prev_end && !out.is_empty() {
            part = trim_range(text, cur..limit);
            if part.end <= prev_end {
                // Only whitespace from the previous part's end up to the limit: this part would
                // lie inside the previous one. Drop the overlap and start after that part.
                let after = leading_ws(text, prev_end);
                if after >= range.end {
                    break;
                }
                cur = after;
                continue;
            }
        }
        prev_end = part.end;
        out.push(part);
        // The next part starts at most `overlap_chars` before the cut: at the first paragraph
        // or sentence start in that stretch, else at its first word start.
        let mut next = back_chars(text, cut, overlap_chars);
        if next < cut && next > 0 && !text[..next].ends_with(char::is_whitespace) {
            let window = &text[next..cut];
            next += ["\n\n", ". ", "; "]
                .iter()
                .find_map(|sep| window.find(sep).map(|i| i + sep.len()))
                .or_else(|| window.find(char::is_whitespace))
                .unwrap_or(window.len());
        }
        next = leading_ws(text, next);
        if next <= cur {
            next = leading_ws(text, cut);
        }
        if next >= range.end {
            break;
        }
        cur = next;
    }
    out
}

/// Where to end a part that starts at `cur` and may not go past `limit`: after the last
/// paragraph break, else line break, sentence end, clause end, space, found at or after `min`.
fn best_cut(text: &str, cur: usize, limit: usize, min: usize) -> Option<usize> {
    const SEPARATORS: [(&str, usize); 7] = [
        ("\n\n", 0),
        ("\n", 0),
        (". ", 1),
        ("; ", 1),
        (": ", 1),
        (", ", 1),
        (" ", 0),
    ];
    let window = &text[cur..limit];
    SEPARATORS.iter().find_map(|(sep, keep)| {
        window
            .rmatch_indices(sep)
            .map(|(i, _)| cur + i + keep)
            .find(|&i| i >= min && !text[cur..i].trim().is_empty())
    })
}

/// [`split_long`] applied to a section: parts keep its kind and heading; each part's first page
/// is the page where it starts.
pub fn split_section(
    doc: &TextDocument,
    section: &Section,
    max_chars: usize,
    overlap_chars: usize,
) -> Vec<Section> {
    split_long(
        &doc.text,
        section.start..section.end,
        max_chars,
        overlap_chars,
    )
    .into_iter()
    .map(|r| Section {
        kind: section.kind,
        heading: section.heading.clone(),
        first_page: page_at(doc, r.start),
        start: r.start,
        end: r.end,
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Headings

#[derive(Debug, Clone)]
struct Heading {
    kind: SectionKind,
    text: String,
    start: usize,
    end: usize,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// Upper-case headings where a line or a sentence starts; they may be glued to what follows.
fn upper_heading_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?m)(?:^[ \t]*|[.;:!?»”)\]][ \t]+)(FATTI DI CAUSA|SVOLGIMENTO DEL PROCESSO|SVOLGIMENTO DEL GIUDIZIO|RITENUTO IN FATTO|RILEVATO CHE|RAGIONI DELLA DECISIONE|MOTIVI DELLA DECISIONE|CONSIDERATO IN DIRITTO|CONSIDERATO CHE|PER QUESTI MOTIVI|P\.[ \t]?Q\.[ \t]?M\.?)(?:[ \t]*[:.]?)(?:[ \t]|$)",
    )
}

/// Mixed-case headings alone on their line (a trailing colon or full stop allowed). Single
/// words (`Fatto`, `Diritto`, `Rilevato`) only capitalised and without a full stop, so that a
/// hard-wrapped line ending a sentence (`fatto.`) is not taken for one.
fn lone_heading_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?m)^[ \t]*(?:((?i:fatti di causa|svolgimento del processo|svolgimento del giudizio|ritenuto in fatto|rilevato che|ragioni della decisione|motivi della decisione|considerato in diritto|considerato che|p\.[ \t]?q\.[ \t]?m\.?|per questi motivi))[ \t]*[:.]?|((?:In |IN )?(?:Fatto|FATTO|Diritto|DIRITTO)|Rilevato|RILEVATO|Considerato|CONSIDERATO)[ \t]*:?)[ \t]*$",
    )
}

/// Mixed-case headings at the start of a line, glued to text by a colon (`Rilevato che: la…`),
/// and the operative formulas glued to the dispositive (`Per questi motivi, la Corte…`).
fn lead_heading_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?mi)^[ \t]*(?:(rilevato che|considerato che|ritenuto in fatto|considerato in diritto)[ \t]*:|(p\.[ \t]?q\.[ \t]?m\.|per questi motivi)[ \t]*[,:]?)[ \t]*\S",
    )
}

fn heading_kind(h: &str) -> SectionKind {
    let h = h.to_lowercase();
    let h = h.trim_end_matches([':', '.', ' ']);
    if h.starts_with("p.") || h.starts_with("per questi") {
        SectionKind::Operative
    } else if h.starts_with("fatt")
        || h.starts_with("svolgimento")
        || h.starts_with("ritenuto")
        || h.starts_with("rilevato")
        || h == "in fatto"
    {
        SectionKind::Facts
    } else {
        SectionKind::Reasoning
    }
}

fn heading_candidates(text: &str) -> Vec<Heading> {
    let mut out: Vec<Heading> = Vec::new();
    let mut push = |m: regex::Match<'_>| {
        let t = m.as_str().trim().trim_end_matches(':').trim_end();
        out.push(Heading {
            kind: heading_kind(t),
            text: t.to_string(),
            start: m.start(),
            end: m.end(),
        });
    };
    for c in upper_heading_re().captures_iter(text) {
        push(c.get(1).expect("group 1"));
    }
    for c in lone_heading_re().captures_iter(text) {
        push(c.get(1).or_else(|| c.get(2)).expect("one group"));
    }
    for c in lead_heading_re().captures_iter(text) {
        push(c.get(1).or_else(|| c.get(2)).expect("one group"));
    }
    out.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    out.dedup_by_key(|h| h.start);
    out
}

/// Without a P.Q.M. heading, the operative part is the closing run of paragraphs made of
/// dispositive words (`Rigetta il ricorso`, `La Corte dichiara…`), the closing formula
/// (`Così deciso…`, `Il Presidente`) and signatures; it starts at its first dispositive paragraph.
fn dispositive_start(text: &str, from: usize) -> Option<Heading> {
    static D: OnceLock<Regex> = OnceLock::new();
    static C: OnceLock<Regex> = OnceLock::new();
    let dispositive = re(
        &D,
        r"^(?:(?:La Corte|Il Collegio|La Corte Suprema di Cassazione)[ \t,]+)?(?i:rigetta|accoglie|dichiara|cassa|rinvia|dispone|condanna|compensa|respinge|annulla|rimette)\b",
    );
    let closing = re(
        &C,
        r"^(?i:cos[ìi] deciso|il presidente|il consigliere|il relatore|l'estensore|il funzionario|depositat[oa]|ai sensi dell.art\. 13)",
    );
    let mut paras: Vec<(usize, &str)> = Vec::new();
    let mut pos = 0;
    for p in text.split("\n\n") {
        let lead = p.len() - p.trim_start().len();
        if pos >= from && !p.trim().is_empty() {
            paras.push((pos + lead, p.trim()));
        }
        pos += p.len() + 2;
    }
    let mut found = None;
    for (start, p) in paras.iter().rev() {
        if dispositive.is_match(p) {
            found = Some(*start);
        } else {
            let closing_words = closing.is_match(p)
                || !p.chars().any(char::is_alphabetic)
                || (p.chars().count() < 80 && !p.ends_with(['.', ';', ':']));
            if !closing_words {
                break;
            }
        }
    }
    found.map(|start| Heading {
        kind: SectionKind::Operative,
        text: String::new(),
        start,
        end: start,
    })
}

/// The decision's kind as written in the header (`ORDINANZA`, `ORDINANZA INTERLOCUTORIA`,
/// `SENTENZA`, `DECRETO`), upper case.
fn kind_heading(header: &str) -> Option<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = re(
        &R,
        r"(?m)^[ \t]*(?:(SENTENZA|ORDINANZA|DECRETO)(?:[ \t\n]+(INTERLOCUTORIA))?\b|(?i:(sentenza|ordinanza|decreto)(?:[ \t]+(interlocutoria))?)[ \t]*$)",
    );
    let c = r.captures(header)?;
    let kind = c.get(1).or_else(|| c.get(3))?;
    let inter = c.get(2).or_else(|| c.get(4)).is_some();
    let mut k = kind.as_str().to_uppercase();
    if inter {
        k.push_str(" INTERLOCUTORIA");
    }
    Some(k)
}

// ---------------------------------------------------------------------------------------------
// Metadata

fn stamp_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)\b(Civile|Penale)\s+(Ord|Sent|Decr)\.?((?:\s+Int(?:erloc(?:utoria)?)?\.?)?)\s+Sez\.?\s*([0-9A-Z]{1,3}(?:\s*-\s*[0-9A-Z]{1,3})?)\s+Num\.?\s*(\d+)\s+Anno\s+(\d{4})",
    )
}

fn field_re(which: u8) -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    static R: OnceLock<Regex> = OnceLock::new();
    static D: OnceLock<Regex> = OnceLock::new();
    static E: OnceLock<Regex> = OnceLock::new();
    match which {
        0 => re(&P, r"(?m)^[ \t]*Presidente[ \t]*:[ \t]*(.*?)[ \t]*$"),
        1 => re(&R, r"(?m)^[ \t]*Relatore[ \t]*:[ \t]*(.*?)[ \t]*$"),
        2 => re(
            &D,
            r"(?mi)^[ \t]*Data[ \t]+pubblicazione[ \t]*:[ \t]*(\d{1,2})/(\d{1,2})/(\d{4})",
        ),
        _ => re(
            &E,
            r"\bECLI:[A-Z]{2}:[A-Z0-9]{1,7}:\d{4}:[A-Za-z0-9.]{1,30}",
        ),
    }
}

/// `Così deciso in Roma, il 25/09/2025` / `… in data 8 luglio 2025`.
fn decided_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?i)Cos[ìi]\s+deciso\b[^\n]{0,60}?\b(\d{1,2})(?:\s*/\s*(\d{1,2})\s*/\s*|\s+(gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre)\s+)(\d{4})",
    )
}

/// A signature: `Il Presidente` / `Il Consigliere relatore` followed by a name.
fn signature_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"(?m)^[ \t]*Il[ \t]+(?:Presidente|Consigliere(?:[ \t]+(?:relatore|estensore))?|Relatore|Estensore)[ \t]*\n+[ \t]*([^\n]{3,80}?)[ \t]*$",
    )
}

fn person_name(s: &str) -> Option<String> {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let words: Vec<&str> = s.split(' ').collect();
    const NOT_NAMES: [&str; 12] = [
        "il",
        "la",
        "lo",
        "presidente",
        "consigliere",
        "relatore",
        "estensore",
        "cancelliere",
        "funzionario",
        "giudiziario",
        "corte",
        "roma",
    ];
    let ok = (2..=6).contains(&words.len())
        && !words
            .iter()
            .any(|w| NOT_NAMES.contains(&w.to_lowercase().as_str()))
        && words.iter().all(|w| {
            w.chars().next().is_some_and(|c| c.is_uppercase())
                && w.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '.' | '-'))
        });
    ok.then_some(s)
}

fn month_number(m: &str) -> Option<u32> {
    crate::enrich::citations::month_from(m)
}

fn iso_date(d: &str, m: u32, y: &str) -> Option<String> {
    let d: u32 = d.parse().ok()?;
    ((1..=31).contains(&d) && (1..=12).contains(&m)).then(|| format!("{y}-{m:02}-{d:02}"))
}

fn same_person(a: &str, b: &str) -> bool {
    let key = |s: &str| {
        let mut w: Vec<String> = s.split_whitespace().map(|w| w.to_uppercase()).collect();
        w.sort();
        w
    };
    key(a) == key(b)
}

fn meta(doc: &TextDocument, kind_line: Option<String>, sections: &[Section]) -> DecisionMeta {
    let text = doc.text.as_str();
    let get = |k: &str| {
        doc.metadata
            .iter()
            .find(|(key, v)| key.eq_ignore_ascii_case(k) && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
    };
    let mut m = DecisionMeta {
        court: get("court"),
        section: get("section"),
        kind: kind_line.or_else(|| get("kind").map(|k| k.to_uppercase())),
        number: get("number"),
        year: get("year"),
        date: get("date"),
        ecli: get("ecli"),
        judges: Vec::new(),
    };
    let stamp = stamp_re().captures(text);
    if let Some(c) = &stamp {
        m.court.get_or_insert_with(|| "Corte di Cassazione".into());
        m.section
            .get_or_insert_with(|| format!("Sez. {}", c[4].split_whitespace().collect::<String>()));
        m.number.get_or_insert_with(|| c[5].to_string());
        m.year.get_or_insert_with(|| c[6].to_string());
        m.kind.get_or_insert_with(|| {
            match (c[2].to_ascii_lowercase().as_str(), c[3].trim().is_empty()) {
                ("ord", true) => "ORDINANZA",
                ("ord", false) => "ORDINANZA INTERLOCUTORIA",
                ("sent", _) => "SENTENZA",
                _ => "DECRETO",
            }
            .to_string()
        });
    }
    if m.court.is_none() {
        static R: OnceLock<Regex> = OnceLock::new();
        let r = re(&R, r"(?i)\bcorte\s+(?:suprema\s+)?di\s+cassazione\b");
        // The court that decides is named in the header or in the operative part; elsewhere
        // a court is usually cited.
        let decides = sections
            .iter()
            .filter(|s| matches!(s.kind, SectionKind::Header | SectionKind::Operative))
            .any(|s| r.is_match(s.text(doc)));
        if decides {
            m.court = Some("Corte di Cassazione".into());
        }
    }
    if m.ecli.is_none() {
        m.ecli = field_re(3)
            .find(text)
            .map(|e| e.as_str().trim_end_matches('.').to_string());
    }
    if m.date.is_none() {
        m.date = field_re(2)
            .captures(text)
            .and_then(|c| iso_date(&c[1], c[2].parse().ok()?, &c[3]))
            .or_else(|| {
                let c = decided_re().captures(text)?;
                let month = match (c.get(2), c.get(3)) {
                    (Some(n), _) => n.as_str().parse().ok()?,
                    (None, Some(name)) => month_number(name.as_str())?,
                    _ => return None,
                };
                iso_date(&c[1], month, &c[4])
            });
    }
    // Judges: presidente and relatore from the stamp, then signatures.
    let mut judges: Vec<String> = Vec::new();
    let mut add = |name: Option<String>| {
        if let Some(n) = name.map(|n| n.split_whitespace().collect::<Vec<_>>().join(" ")) {
            if !n.is_empty() && !judges.iter().any(|j| same_person(j, &n)) {
                judges.push(n);
            }
        }
    };
    add(get("presidente").or_else(|| {
        field_re(0)
            .captures(text)
            .map(|c| c[1].to_string())
            .filter(|s| !s.is_empty())
    }));
    add(get("relatore").or_else(|| {
        field_re(1)
            .captures(text)
            .map(|c| c[1].to_string())
            .filter(|s| !s.is_empty())
    }));
    if let Some(op) = sections.iter().find(|s| s.kind == SectionKind::Operative) {
        let op_text = op.text(doc);
        for c in signature_re().captures_iter(op_text) {
            add(person_name(&c[1]));
        }
        // An unlabelled signature right after `Così deciso …` (decrees).
        if let Some(d) = decided_re().find(op_text) {
            let after = &op_text[d.end()..];
            let rest = after.split_once('\n').map_or("", |(_, r)| r);
            if let Some(line) = rest.lines().map(str::trim).find(|l| !l.is_empty()) {
                add(person_name(line));
            }
        }
    }
    m.judges = judges;
    m
}

// ---------------------------------------------------------------------------------------------
// Offsets

fn page_at(doc: &TextDocument, pos: usize) -> u32 {
    doc.blocks
        .iter()
        .find(|b| pos < b.end)
        .or(doc.blocks.last())
        .map_or(0, |b| b.page)
}

fn leading_ws(text: &str, pos: usize) -> usize {
    pos + (text[pos..].len() - text[pos..].trim_start().len())
}

fn trim_range(text: &str, r: Range<usize>) -> Range<usize> {
    let s = &text[r.clone()];
    let start = r.start + (s.len() - s.trim_start().len());
    let end = r.start + s.trim_end().len();
    start..end.max(start)
}

/// Byte position `n` characters after `pos` (or the end).
fn advance_chars(text: &str, pos: usize, n: usize) -> usize {
    text[pos..]
        .char_indices()
        .nth(n)
        .map_or(text.len(), |(i, _)| pos + i)
}

/// Byte position `n` characters before `pos` (or the start).
fn back_chars(text: &str, pos: usize, n: usize) -> usize {
    if n == 0 {
        return pos;
    }
    text[..pos]
        .char_indices()
        .rev()
        .nth(n - 1)
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::pdf::parse_pdf;
    use crate::parse::textdoc::BlockKind;
    use SectionKind::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jurisprudence/");

    fn pdf(name: &str) -> TextDocument {
        parse_pdf(&std::fs::read(format!("{DIR}{name}")).expect("fixture")).expect("parses")
    }

    /// The .txt decision as a TextDocument: paragraphs split on blank lines, page 0.
    fn txt(name: &str) -> TextDocument {
        let text = std::fs::read_to_string(format!("{DIR}{name}")).expect("fixture");
        let blocks = text
            .split("\n\n")
            .map(|b| (BlockKind::Paragraph, 0, b.to_string()))
            .collect();
        TextDocument::from_blocks(blocks, Vec::new(), 0)
    }

    fn doc_from(text: &str) -> TextDocument {
        let blocks = text
            .split("\n\n")
            .map(|b| (BlockKind::Paragraph, 1, b.to_string()))
            .collect();
        TextDocument::from_blocks(blocks, Vec::new(), 1)
    }

    fn shape(secs: &[Section]) -> Vec<(SectionKind, String)> {
        secs.iter()
            .map(|s| (s.kind, s.heading.clone().unwrap_or_default().to_uppercase()))
            .collect()
    }

    fn kinds_and_headings(list: &[(SectionKind, &str)]) -> Vec<(SectionKind, String)> {
        list.iter().map(|(k, h)| (*k, h.to_uppercase())).collect()
    }

    fn assert_well_formed(doc: &TextDocument, secs: &[Section]) {
        for w in secs.windows(2) {
            assert!(w[0].end <= w[1].start, "{w:?}");
            assert!(w[0].kind.rank() < w[1].kind.rank());
            // Nothing but whitespace between two sections.
            assert!(doc.text[w[0].end..w[1].start].trim().is_empty());
        }
        for s in secs {
            assert!(s.start < s.end && s.end <= doc.text.len());
            let t = s.text(doc);
            assert_eq!(t, t.trim());
            match (&s.heading, s.kind) {
                (Some(h), Header) => assert!(t.contains(h.as_str())),
                (Some(h), _) => assert!(t.starts_with(h.as_str()), "{h:?} does not open {t:.40}"),
                (None, _) => {}
            }
        }
        // The sections cover the whole text.
        assert!(doc.text[..secs[0].start].trim().is_empty());
        assert!(doc.text[secs.last().unwrap().end..].trim().is_empty());
    }

    /// The MANIFEST's headings per file, in order.
    #[test]
    fn cassazione_decisions_split_in_the_manifest_order() {
        type Case = (&'static str, TextDocument, Vec<(SectionKind, &'static str)>);
        let cases: [Case; 5] = [
            (
                "636",
                pdf("cass_snciv2025530636O.pdf"),
                vec![
                    (Header, "ORDINANZA"),
                    (Facts, "FATTI DI CAUSA"),
                    (Reasoning, "RAGIONI DELLA DECISIONE"),
                    (Operative, "P.Q.M."),
                ],
            ),
            (
                "638",
                pdf("cass_snciv2025530638S.pdf"),
                vec![
                    (Header, "SENTENZA"),
                    (Facts, "FATTI DI CAUSA"),
                    (Reasoning, "RAGIONI DELLA DECISIONE"),
                    (Operative, "P.Q.M."),
                ],
            ),
            (
                "646",
                pdf("cass_snciv2025530646O.pdf"),
                vec![
                    (Header, "ORDINANZA"),
                    (Facts, "Rilevato che"),
                    (Reasoning, "Considerato che"),
                    (Operative, "P.Q.M."),
                ],
            ),
            (
                "29955",
                pdf("cass_snciv_2025_n29955_tD.clean.pdf"),
                vec![(Header, "DECRETO"), (Operative, "P.Q.M.")],
            ),
            (
                "039 (txt)",
                txt("cass_snciv2025530039O.txt"),
                vec![
                    (Header, "ORDINANZA"),
                    (Facts, "FATTI DI CAUSA"),
                    (Reasoning, "RAGIONI DELLA DECISIONE"),
                    (Operative, "P.Q.M."),
                ],
            ),
        ];
        for (name, doc, expected) in cases {
            let (secs, _) = sections(&doc);
            assert_eq!(shape(&secs), kinds_and_headings(&expected), "{name}");
            assert_well_formed(&doc, &secs);
        }
    }

    #[test]
    fn sections_hold_the_right_text_and_pages() {
        let doc = pdf("cass_snciv2025530636O.pdf");
        let (secs, _) = sections(&doc);
        let text = |k: SectionKind| secs.iter().find(|s| s.kind == k).unwrap().text(&doc);
        assert!(text(Header).contains("sul ricorso iscritto al n. 10733/2017 R.G."));
        assert!(text(Header).ends_with("dal Consigliere SALVATORE LEUZZI."));
        assert!(text(Facts).contains("Con avviso di accertamento notificato nel 2014"));
        assert!(text(Facts).ends_with("L’Agenzia delle Entrate ha resistito con controricorso."));
        assert!(text(Reasoning).contains("Il motivo unico non coglie nel segno e va disatteso."));
        assert!(text(Operative).contains("La Corte rigetta il ricorso"));
        assert!(text(Operative).ends_with("GIOVANNI LA ROCCA"));
        let pages: Vec<u32> = secs.iter().map(|s| s.first_page).collect();
        assert_eq!(pages, vec![1, 1, 2, 4]);

        let doc = pdf("cass_snciv2025530638S.pdf");
        let (secs, _) = sections(&doc);
        let pages: Vec<u32> = secs.iter().map(|s| s.first_page).collect();
        assert_eq!(pages, vec![1, 2, 4, 14]);

        // The decree's body ("Considerato che è trascorso il termine…", "Ritenuto, pertanto,
        // che…") is no heading: header, then the operative part.
        let doc = pdf("cass_snciv_2025_n29955_tD.clean.pdf");
        let (secs, _) = sections(&doc);
        assert!(secs[0]
            .text(&doc)
            .contains("Considerato che è trascorso il termine"));
        assert!(secs[1]
            .text(&doc)
            .contains("Dichiara estinto il giudizio di cassazione."));

        // “Considerato che” quoted in the operative part of 646 is no heading either.
        let doc = pdf("cass_snciv2025530646O.pdf");
        let (secs, _) = sections(&doc);
        assert!(secs[3].text(&doc).contains("relativa al “Considerato che”"));
    }

    #[test]
    fn metadata_per_decision() {
        let cases = [
            (
                "cass_snciv2025530636O.pdf",
                "ORDINANZA",
                "30636",
                "2025-11-20",
            ),
            (
                "cass_snciv2025530638S.pdf",
                "SENTENZA",
                "30638",
                "2025-11-20",
            ),
            (
                "cass_snciv2025530646O.pdf",
                "ORDINANZA",
                "30646",
                "2025-11-20",
            ),
            (
                "cass_snciv_2025_n29955_tD.clean.pdf",
                "DECRETO",
                "29955",
                "2025-11-13",
            ),
        ];
        for (file, kind, number, date) in cases {
            let (_, m) = sections(&pdf(file));
            assert_eq!(m.court.as_deref(), Some("Corte di Cassazione"), "{file}");
            assert_eq!(m.section.as_deref(), Some("Sez. 5"), "{file}");
            assert_eq!(m.kind.as_deref(), Some(kind), "{file}");
            assert_eq!(m.number.as_deref(), Some(number), "{file}");
            assert_eq!(m.year.as_deref(), Some("2025"), "{file}");
            assert_eq!(m.date.as_deref(), Some(date), "{file}");
            assert_eq!(m.ecli, None, "{file}");
        }
        let (_, m) = sections(&pdf("cass_snciv2025530636O.pdf"));
        // The signature "GIOVANNI LA ROCCA" is the stamp's "LA ROCCA GIOVANNI": one judge.
        assert_eq!(m.judges, vec!["LA ROCCA GIOVANNI", "LEUZZI SALVATORE"]);
        // The decree's stamp has empty Presidente/Relatore: the signature names the judge.
        let (_, m) = sections(&pdf("cass_snciv_2025_n29955_tD.clean.pdf"));
        assert_eq!(m.judges, vec!["Andrea Antonio Salemme"]);

        // The .txt has no metadata of its own: everything comes from its text.
        let (_, m) = sections(&txt("cass_snciv2025530039O.txt"));
        assert_eq!(
            m,
            DecisionMeta {
                court: Some("Corte di Cassazione".into()),
                section: Some("Sez. 5".into()),
                kind: Some("ORDINANZA".into()),
                number: Some("30039".into()),
                year: Some("2025".into()),
                date: Some("2025-11-13".into()),
                ecli: None,
                judges: vec![
                    "FUOCHI TINARELLI GIUSEPPE".into(),
                    "GRAZIANO FRANCESCO".into()
                ],
            }
        );
    }

    #[test]
    fn glued_headings_ecli_and_interlocutory_orders() {
        let doc = doc_from(
            "CORTE SUPREMA DI CASSAZIONE\n\nORDINANZA\nINTERLOCUTORIA\n\nsul ricorso n. 1/2024. \
             ECLI:IT:CASS:2025:12345CIV.\n\nSVOLGIMENTO DEL PROCESSO La Corte d'appello ha deciso. \
             MOTIVI DELLA DECISIONE Il ricorso è fondato.\n\nPer questi motivi, la Corte rimette la \
             causa alla pubblica udienza.\n\nCosì deciso in Roma, in data 8 luglio 2025.",
        );
        let (secs, m) = sections(&doc);
        assert_eq!(
            shape(&secs),
            kinds_and_headings(&[
                (Header, "ORDINANZA INTERLOCUTORIA"),
                (Facts, "SVOLGIMENTO DEL PROCESSO"),
                (Reasoning, "MOTIVI DELLA DECISIONE"),
                (Operative, "Per questi motivi"),
            ])
        );
        assert_eq!(
            secs[1].text(&doc),
            "SVOLGIMENTO DEL PROCESSO La Corte d'appello ha deciso."
        );
        assert_eq!(m.kind.as_deref(), Some("ORDINANZA INTERLOCUTORIA"));
        assert_eq!(m.ecli.as_deref(), Some("ECLI:IT:CASS:2025:12345CIV"));
        assert_eq!(m.court.as_deref(), Some("Corte di Cassazione"));
        assert_eq!(m.date.as_deref(), Some("2025-07-08"));

        // Mixed-case headings with a colon; RITENUTO IN FATTO / CONSIDERATO IN DIRITTO.
        let doc = doc_from(
            "SENTENZA\n\nRitenuto in fatto: il tribunale ha deciso.\n\nCONSIDERATO IN DIRITTO\n\n\
             Il motivo è infondato. P.Q.M. rigetta il ricorso.",
        );
        let (secs, _) = sections(&doc);
        assert_eq!(
            shape(&secs),
            kinds_and_headings(&[
                (Header, "SENTENZA"),
                (Facts, "Ritenuto in fatto"),
                (Reasoning, "CONSIDERATO IN DIRITTO"),
                (Operative, "P.Q.M."),
            ])
        );
        assert_eq!(secs[3].text(&doc), "P.Q.M. rigetta il ricorso.");

        // Hard-wrapped text: a line that is only `fatto.` ends a sentence, it is no heading;
        // a capitalised `Fatto` / `Diritto` alone on its line is one.
        let doc = doc_from(
            "SENTENZA\nsul ricorso, accertata la circostanza di\nfatto.\n\nFatto\nIl tribunale \
             ha deciso in\ndiritto.\n\nDiritto\nIl motivo è infondato.\n\nP.Q.M.\nrigetta.",
        );
        let (secs, _) = sections(&doc);
        assert_eq!(
            shape(&secs),
            kinds_and_headings(&[
                (Header, "SENTENZA"),
                (Facts, "Fatto"),
                (Reasoning, "Diritto"),
                (Operative, "P.Q.M."),
            ])
        );
    }

    #[test]
    fn decree_with_only_an_operative_part_is_valid() {
        let doc = doc_from("P.Q.M.\n\nDichiara estinto il giudizio di cassazione.");
        let (secs, m) = sections(&doc);
        assert_eq!(shape(&secs), kinds_and_headings(&[(Operative, "P.Q.M.")]));
        assert_eq!(secs[0].start, 0);
        assert_eq!(secs[0].end, doc.text.len());
        assert_eq!(m, DecisionMeta::default());

        // Without a P.Q.M. heading the dispositive words open the operative part.
        let doc = doc_from(
            "DECRETO\n\nsul ricorso proposto da Tizio.\n\nDichiara estinto il giudizio.\n\n\
             Così deciso in Roma, il 10/11/2025",
        );
        let (secs, m) = sections(&doc);
        assert_eq!(
            secs.iter()
                .map(|s| (s.kind, s.heading.clone()))
                .collect::<Vec<_>>(),
            vec![(Header, Some("DECRETO".into())), (Operative, None)]
        );
        assert!(secs[1].text(&doc).starts_with("Dichiara estinto"));
        assert_eq!(m.date.as_deref(), Some("2025-11-10"));

        assert!(sections(&doc_from("   ")).0.is_empty());
        // Text without any heading: one header section.
        let doc = doc_from("Un testo qualsiasi, senza intestazioni.\n\nÈ tutto.");
        let (secs, _) = sections(&doc);
        assert_eq!(secs.len(), 1);
        assert_eq!(
            (secs[0].kind, secs[0].start, secs[0].end),
            (Header, 0, doc.text.len())
        );
        // Headings at the very end, glued, repeated: no panic, order kept.
        for t in [
            "P.Q.M.",
            "FATTI DI CAUSA",
            "x. P.Q.M.",
            "P.Q.M. P.Q.M.",
            "«Rilevato che»",
            "à\nP.Q.M.",
        ] {
            let doc = doc_from(t);
            let (secs, _) = sections(&doc);
            assert_well_formed(&doc, &secs);
        }
    }

    /// Fuzzing found a part inside the previous one when only whitespace followed that part up
    /// to the limit (here "\0\0" again, after "\0\r\0\0").
    #[test]
    fn split_after_a_whitespace_run_moves_forward() {
        for (text, max, overlap) in [
            ("\0\r\0\0 \r\r4", 5, 2),
            (
                "alfa beta gamma                                        delta",
                20,
                8,
            ),
        ] {
            let parts = split_long(text, 0..text.len(), max, overlap);
            assert!(!parts.is_empty(), "{text:?}");
            for w in parts.windows(2) {
                assert!(w[0].start < w[1].start && w[0].end < w[1].end, "{parts:?}");
            }
            assert_eq!(parts.last().unwrap().end, text.len());
        }
    }

    #[test]
    fn long_sections_split_at_paragraphs_with_overlap() {
        let doc = pdf("cass_snciv2025530638S.pdf");
        let (secs, _) = sections(&doc);
        let reasoning = secs.iter().find(|s| s.kind == Reasoning).unwrap();
        let len = reasoning.text(&doc).chars().count();
        assert!(len > 10_000, "{len}");
        let parts = split_long(&doc.text, reasoning.start..reasoning.end, 2000, 200);
        assert!(parts.len() >= len / 2000);
        assert_eq!(parts[0].start, reasoning.start);
        assert_eq!(parts.last().unwrap().end, reasoning.end);
        let mut at_paragraph = 0;
        for (i, p) in parts.iter().enumerate() {
            let t = &doc.text[p.clone()];
            assert!(t.chars().count() <= 2000);
            assert_eq!(t, t.trim());
            if doc.text[p.end..].starts_with("\n\n") {
                at_paragraph += 1;
            }
            if let Some(next) = parts.get(i + 1) {
                // Overlap, and progress.
                assert!(next.start < p.end && next.start > p.start, "{p:?} {next:?}");
                assert!(p.end - next.start <= 200 * 4);
            }
        }
        // Most cuts fall on paragraph boundaries.
        assert!(
            at_paragraph * 2 >= parts.len() - 1,
            "{at_paragraph} of {}",
            parts.len()
        );

        // Without overlap the parts tile the section: all its words, once, in order.
        let parts = split_long(&doc.text, reasoning.start..reasoning.end, 2000, 0);
        let joined: Vec<&str> = parts
            .iter()
            .flat_map(|p| doc.text[p.clone()].split_whitespace())
            .collect();
        let words: Vec<&str> = reasoning.text(&doc).split_whitespace().collect();
        assert_eq!(joined, words);

        // Parts keep the section's label.
        let labelled = split_section(&doc, reasoning, 2000, 200);
        assert!(labelled.len() > 1);
        assert!(labelled.iter().all(
            |s| s.kind == Reasoning && s.heading.as_deref() == Some("RAGIONI DELLA DECISIONE")
        ));
        assert_eq!(labelled[0].first_page, 4);
        assert!(labelled
            .windows(2)
            .all(|w| w[0].first_page <= w[1].first_page));
        assert!(labelled.last().unwrap().first_page >= 12);

        // Short: one range, trimmed. A paragraph longer than the limit: cut at sentences.
        let text = "  Breve.  ";
        assert_eq!(split_long(text, 0..text.len(), 100, 10), vec![2..8]);
        let text = "Prima frase è qui. Seconda frase è là. Terza frase è lì.";
        let parts = split_long(text, 0..text.len(), 25, 0);
        let parts: Vec<&str> = parts.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            parts,
            vec![
                "Prima frase è qui.",
                "Seconda frase è là.",
                "Terza frase è lì."
            ]
        );
        // Any limits, on multi-byte text: ranges on char boundaries, in order, non-empty.
        let op = secs.iter().find(|s| s.kind == Operative).unwrap();
        for max in [1, 2, 3, 7, 50, 333, 5000] {
            for overlap in [0, 1, 5, 100, 10_000] {
                let parts = split_long(&doc.text, op.start..op.end, max, overlap);
                assert!(!parts.is_empty());
                for w in parts.windows(2) {
                    assert!(w[0].start < w[1].start && w[0].end < w[1].end);
                }
                for p in &parts {
                    assert!(!doc.text[p.clone()].trim().is_empty());
                    assert!(doc.text[p.clone()].chars().count() <= max.max(1));
                }
            }
        }
        // Degenerate limits still make progress.
        let parts = split_long(text, 0..text.len(), 1, 5);
        assert!(!parts.is_empty() && parts.iter().all(|r| !r.is_empty()));
    }
}

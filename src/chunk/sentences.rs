//! Sentence splitting for Italian legal text (Markdown doctrine, PDF-extracted decisions,
//! plain text of norms).
//!
//! [`split_sentences`] returns byte ranges, in order, that together cover every
//! non-whitespace character of the input; each range is trimmed of surrounding whitespace and
//! what lies between two ranges is whitespace only. One left-to-right pass (plus one pass to
//! find footnotes), no regular expressions, no slicing inside a character, no panics.
//!
//! Where a sentence ends:
//!
//! * after `.`, `!`, `?`, `…` or `...`, together with any closing quotes, brackets, guillemets,
//!   emphasis marks and footnotes that follow (`fondamento.».`, `alibi.*"^[…]`), when
//!   whitespace follows and the next word does not continue the sentence (see below);
//! * at a blank line (paragraph break), always, whatever precedes it;
//! * around a Markdown heading (`# …`) and around a line written in capitals (two letters or
//!   more, none lowercase: `FATTI DI CAUSA`, `P.Q.M.`): such a line is a sentence of its own;
//! * before a list item: a bullet line (`- `, `* `, `+ `, `• `), a numbered paragraph of
//!   judgments (`1.- `, `2 - `), or an ordered item (`1. `, `1) `) that follows a line ending
//!   in `;` or `:` or another list item.
//!
//! Where it does not end:
//!
//! * inside a Pandoc inline footnote `^[…]`: the footnote is opaque and stays in the
//!   sentence it annotates, however many periods it contains;
//! * when the next word starts with a lowercase letter (`ecc. di`, `art.\n380-bis.1. c.p.c.`),
//!   with `(` or `[` (a citation or note reference after the period), or with a digit, unless
//!   that digit opens a new line after an ordinary word (`pag. 6`, `€. 5.900,00`,
//!   `A.C. 8 luglio`, `Rv.\n664120-01`; but `del 1992.\n2.- La censura` ends);
//! * after a *prefix* abbreviation, which always introduces what follows (`art.`, `n.`,
//!   `Cass.`, `Sez.`, `d.lgs.`, `cfr.`, `v.`, …), and after a single letter, taken as an
//!   initial (`G. Rossi`, `Sez. U.`), whatever the next word (only a blank line or the end of
//!   the text ends a sentence there);
//! * after `?`, `!` or an ellipsis when the next word starts with a lowercase letter;
//! * after a *suffix* abbreviation, which can close a citation and a sentence with it
//!   (`c.p.c.`, `Cost.`, `ecc.`, `cit.`, `ss.`, `S.p.A.`, …), unless the next word starts with
//!   a capital letter that is not itself a citation continuation (`Cass. civ. Sez. U.`):
//!   `dell'art. 112 c.p.c.\nSostiene` is two sentences, `c.p.c., la nullità` is one;
//! * after a paragraph number at the start of a line (`1. `, `2.1. `, `IV. `);
//! * after an ellipsis that marks an omission (`[...]`, `(…)`), and after `;` or `:`;
//! * at a single line break (PDF text wraps lines inside sentences).

use std::ops::Range;

/// Longest word, in bytes, that can be an abbreviation; longer words are ordinary words.
const MAX_WORD: usize = 64;

/// How an abbreviation relates to what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abbrev {
    /// Always followed by what it introduces (`art. 5`, `n. 3`, `Cass. civ.`): never ends a
    /// sentence inside a paragraph.
    Prefix,
    /// May close a citation and the sentence (`art. 2043 c.c.`, `art. 111 Cost.`): ends a
    /// sentence only before a capitalised word.
    Suffix,
}

/// Prefix abbreviations, lowercase, without the final dot. Single letters are initials and
/// count as prefixes without being listed.
const PREFIX: &[&str] = &[
    "all", "app", "art", "artt", "att", "avv", "c.d", "ca", "cap", "capp", "cass", "cd", "cfr",
    "circ", "co", "cod", "comm", "conf", "cons", "conv", "cpv", "cron", "d.d.l", "d.l", "d.l.gs",
    "d.lg", "d.lgs", "d.m", "d.p.c.m", "d.p.r", "ddl", "decr", "delib", "dir", "disp", "dl",
    "dlgs", "dott", "dpr", "e.g", "ed", "es", "fig", "g.u", "giur", "giust", "i.e", "ing", "lett",
    "mass", "modif", "nn", "nt", "num", "on", "op", "ord", "ordd", "p.es", "pag", "pagg", "par",
    "parr", "pp", "pres", "proc", "prof", "r.d", "r.d.l", "racc", "reg", "rel", "rep", "ric",
    "riv", "rv", "sent", "sentt", "sez", "sezz", "sig", "sig.ra", "sigg", "t.a.r", "tab", "trad",
    "trib", "vd", "vol", "voll", "vs",
];

/// Suffix abbreviations, lowercase, without the final dot. Unknown dotted abbreviations made
/// of letters only (`U.S.A.`) are treated as suffixes too.
const SUFFIX: &[&str] = &[
    "a.c", "amm", "c.a.d", "c.c", "c.d.s", "c.n", "c.p", "c.p.a", "c.p.c", "c.p.p", "cit", "civ",
    "cost", "d.c", "ecc", "eds", "etc", "ibid", "id", "it", "loc", "n.d", "n.d.a", "n.d.r",
    "n.d.t", "p.m", "p.q.m", "pen", "r.g", "s.a.s", "s.m", "s.m.i", "s.n.c", "s.p.a", "s.r.l",
    "s.s", "s.u", "seg", "segg", "sez.u", "sgg", "ss", "ss.mm.ii", "ss.uu", "st", "t.u", "t.u.b",
    "t.u.e.l", "t.u.f", "u.e",
];

/// Words that continue a citation after a suffix abbreviation even though capitalised
/// (`Cass. pen. Sez. VI`), lowercase, trailing punctuation removed.
const CONTINUATIONS: &[&str] = &["rv", "s.u", "sez", "sez.u", "sezz", "ss.uu"];

/// Byte ranges of the sentences of `text`, in order, trimmed of surrounding whitespace.
///
/// Every non-whitespace character of `text` is in exactly one range; the gaps between ranges
/// (and before the first and after the last) are whitespace only. Empty or whitespace-only
/// input gives no range. See the module documentation for the rules.
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let cuts = Scanner::new(text).cut_points();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(text.len())) {
        if cut > start {
            push_trimmed(text, start..cut, &mut out);
            start = cut;
        }
    }
    out
}

/// Whether the `.` at byte `dot_index` of `text` closes a known abbreviation (`art.`,
/// `c.p.c.`, `d.lgs.`, `Cass.`, …), an unknown dotted abbreviation (`U.S.A.`) or an initial
/// (`G.`), as opposed to ending an ordinary word or a number. Out-of-range indices, indices
/// that are not a `.` and words too long to be abbreviations give `false`.
pub fn is_abbreviation_before(text: &str, dot_index: usize) -> bool {
    if text.as_bytes().get(dot_index) != Some(&b'.') {
        return false;
    }
    match word_before(text, dot_index) {
        Some((word, _)) => classify(word).is_some(),
        None => false,
    }
}

/// Pushes `range` trimmed of whitespace, if anything is left.
fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let Some(piece) = text.get(range.clone()) else {
        return;
    };
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead + trail < piece.len() {
        out.push(range.start + lead..range.end - trail);
    }
}

/// What a line starts with, as far as sentence boundaries care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Only whitespace: a paragraph break.
    Blank,
    /// Markdown heading or a line in capitals: a sentence of its own ending at the byte given.
    Own(usize),
    /// Bullet item (`- `, `* `, `+ `, `• `).
    Bullet,
    /// Numbered paragraph of a judgment (`1.- `, `2 - `).
    Numbered,
    /// Ordered list item (`1. `, `1) `).
    Ordered,
    /// Anything else.
    Text,
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    /// Outermost Pandoc inline footnotes `^[…]`, as (start of `^`, end after `]`), sorted.
    notes: Vec<(usize, usize)>,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            b: text.as_bytes(),
            notes: footnotes(text),
        }
    }

    /// End of the footnote starting at byte `i`, if one does.
    fn note_at(&self, i: usize) -> Option<usize> {
        if self.b.get(i) != Some(&b'^') {
            return None;
        }
        self.notes
            .binary_search_by_key(&i, |n| n.0)
            .ok()
            .map(|k| self.notes[k].1)
    }

    /// Byte offsets where a new sentence may start, non-decreasing.
    fn cut_points(&self) -> Vec<usize> {
        let (b, n) = (self.b, self.b.len());
        let mut cuts: Vec<usize> = Vec::new();
        let push = |cuts: &mut Vec<usize>, at: usize| {
            if cuts.last().is_none_or(|&last| last < at) {
                cuts.push(at);
            }
        };
        let mut pending: Option<usize> = None;
        let mut line_start = true;
        let mut in_list = false;
        // Last non-whitespace byte outside footnotes.
        let mut last_sig = b'\n';
        let mut i = 0;
        while i < n {
            if let Some(p) = pending {
                if i >= p {
                    push(&mut cuts, p);
                    pending = None;
                }
            }
            if line_start {
                line_start = false;
                match self.line_kind(i) {
                    LineKind::Blank => {
                        push(&mut cuts, i);
                        in_list = false;
                    }
                    LineKind::Own(end) => {
                        push(&mut cuts, i);
                        pending = Some(end);
                        in_list = false;
                    }
                    LineKind::Bullet => {
                        push(&mut cuts, i);
                        in_list = true;
                    }
                    LineKind::Numbered => push(&mut cuts, i),
                    LineKind::Ordered => {
                        if in_list || matches!(last_sig, b';' | b':') {
                            push(&mut cuts, i);
                            in_list = true;
                        }
                    }
                    LineKind::Text => {}
                }
            }
            if let Some(end) = self.note_at(i) {
                i = end;
                continue;
            }
            let c = b[i];
            if c == b'\n' {
                line_start = true;
                i += 1;
                continue;
            }
            if is_terminator(b, i) {
                let (end, cut) = self.sentence_end(i);
                if cut {
                    push(&mut cuts, end);
                }
                last_sig = b[end - 1];
                i = end;
                continue;
            }
            if !c.is_ascii_whitespace() {
                last_sig = c;
            }
            i += 1;
        }
        if let Some(p) = pending {
            push(&mut cuts, p);
        }
        cuts
    }

    /// Classifies the line starting at byte `start`.
    fn line_kind(&self, start: usize) -> LineKind {
        let b = self.b;
        let n = b.len();
        // Blank line?
        let rest = &self.text[start..];
        let line = match rest.find('\n') {
            Some(k) => &rest[..k],
            None => rest,
        };
        if line.trim().is_empty() {
            return LineKind::Blank;
        }
        let mut j = start;
        while j < n && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        let indent = j - start;
        let at = |k: usize| b.get(k).copied().unwrap_or(b'\n');
        let spaced = |k: usize| matches!(at(k), b' ' | b'\t' | b'\n' | b'\r');
        // Markdown ATX heading.
        if indent <= 3 && at(j) == b'#' {
            let mut k = j;
            while at(k) == b'#' {
                k += 1;
            }
            if k - j <= 6 && spaced(k) {
                return LineKind::Own(self.logical_line_end(start));
            }
        }
        // Bullets.
        if matches!(at(j), b'-' | b'*' | b'+') && matches!(at(j + 1), b' ' | b'\t') {
            return LineKind::Bullet;
        }
        if b[j..].starts_with("• ".as_bytes()) {
            return LineKind::Bullet;
        }
        // Numbers: `1.- `, `1 - `, `1.1.- `, `1. `, `1) `.
        if at(j).is_ascii_digit() {
            let mut k = j;
            let mut group = 0;
            while at(k).is_ascii_digit() {
                k += 1;
                group += 1;
            }
            if group <= 3 {
                while at(k) == b'.' && at(k + 1).is_ascii_digit() {
                    k += 1;
                    let g = k;
                    while at(k).is_ascii_digit() {
                        k += 1;
                    }
                    if k - g > 3 {
                        return self.caps_or_text(start, line);
                    }
                }
                let dot = at(k) == b'.';
                let mut m = if dot { k + 1 } else { k };
                if at(m) == b' ' && is_dash(b, m + 1) {
                    m += 1;
                }
                if is_dash(b, m) {
                    let after = m + dash_len(b, m);
                    if spaced(after) {
                        return LineKind::Numbered;
                    }
                }
                if (dot && spaced(k + 1)) || (at(k) == b')' && spaced(k + 1)) {
                    return LineKind::Ordered;
                }
            }
        }
        self.caps_or_text(start, line)
    }

    /// A line with at least two letters and no lowercase letter is a sentence of its own.
    fn caps_or_text(&self, start: usize, line: &str) -> LineKind {
        let mut upper = 0;
        for ch in line.chars() {
            if ch.is_lowercase() {
                return LineKind::Text;
            }
            if ch.is_alphabetic() {
                upper += 1;
            }
        }
        if upper >= 2 {
            LineKind::Own(self.logical_line_end(start))
        } else {
            LineKind::Text
        }
    }

    /// End of the line starting at `start`, footnotes spanning line breaks included.
    fn logical_line_end(&self, start: usize) -> usize {
        let n = self.b.len();
        let mut k = start;
        while k < n {
            if let Some(end) = self.note_at(k) {
                k = end;
                continue;
            }
            if self.b[k] == b'\n' {
                return k;
            }
            k += 1;
        }
        n
    }

    /// At a terminator at byte `i`: the end of the terminator run (closing marks and footnotes
    /// included) and whether a sentence ends there.
    fn sentence_end(&self, i: usize) -> (usize, bool) {
        let b = self.b;
        let n = b.len();
        let ellipsis = b[i..].starts_with(b"..") || b[i..].starts_with("…".as_bytes());
        let mut strong = false;
        let mut closed = false;
        let mut j = i;
        while j < n {
            match b[j] {
                b'.' => j += 1,
                b'!' | b'?' => {
                    strong = true;
                    j += 1;
                }
                _ => {
                    if b[j..].starts_with("…".as_bytes()) {
                        j += "…".len();
                    } else if let Some(len) = closer_len(b, j) {
                        closed = true;
                        j += len;
                    } else if let Some(end) = self.note_at(j) {
                        closed = true;
                        j = end;
                    } else {
                        break;
                    }
                }
            }
        }
        if j >= n {
            return (j, true);
        }
        // Whitespace must follow.
        let Some(after) = self.text.get(j..) else {
            return (j, false);
        };
        if !after.chars().next().is_some_and(char::is_whitespace) {
            return (j, false);
        }
        // Skip whitespace, noting line breaks and blank lines.
        let mut newlines = 0;
        let mut blank = false;
        let mut k = j;
        for (off, ch) in after.char_indices() {
            if !ch.is_whitespace() {
                k = j + off;
                break;
            }
            if ch == '\n' {
                newlines += 1;
                if newlines >= 2 {
                    blank = true;
                }
            }
            k = j + off + ch.len_utf8();
        }
        if k >= n || blank {
            return (j, true);
        }
        let next_line = newlines > 0;
        // First character of the next word, opening quotes and emphasis skipped.
        let next_word = &self.text[k..];
        let first = next_word.chars().find(|&c| !is_opener(c)).unwrap_or(' ');
        let lowercase = first.is_lowercase();
        let bracket = first == '(' || first == '[';
        let digit = first.is_numeric();
        let capital = (first.is_alphabetic() && !first.is_lowercase()) || first == '@';

        if ellipsis || strong {
            if ellipsis && i > 0 && matches!(b[i - 1], b'[' | b'(') {
                return (j, false);
            }
            let cut = if lowercase || bracket {
                false
            } else if digit {
                next_line
            } else {
                capital || next_line
            };
            return (j, cut);
        }

        let word = word_before(self.text, i);
        if let Some((w, line_initial)) = word {
            if line_initial && is_enumerator(w) {
                return (j, false);
            }
        }
        let class = match word {
            Some((w, _)) => match classify(w) {
                Some(Abbrev::Prefix) if closed => Some(Abbrev::Suffix),
                c => c,
            },
            None => None,
        };
        let has_word = match word {
            Some((w, _)) => w.chars().any(char::is_alphanumeric),
            None => true,
        };
        let cut = if lowercase || bracket {
            false
        } else if digit {
            next_line && has_word && class.is_none()
        } else if capital {
            match class {
                Some(Abbrev::Prefix) => false,
                Some(Abbrev::Suffix) => !is_continuation(next_word),
                None => true,
            }
        } else {
            next_line && class != Some(Abbrev::Prefix)
        };
        (j, cut)
    }
}

/// `.`, `!`, `?` or `…` at byte `i`.
fn is_terminator(b: &[u8], i: usize) -> bool {
    matches!(b[i], b'.' | b'!' | b'?') || b[i..].starts_with("…".as_bytes())
}

/// Length of a closing mark at byte `i`: brackets, quotes, guillemets, emphasis.
fn closer_len(b: &[u8], i: usize) -> Option<usize> {
    match b[i] {
        b')' | b']' | b'"' | b'\'' | b'*' | b'_' => Some(1),
        _ => ["»", "”", "’", "›"]
            .iter()
            .find(|s| b[i..].starts_with(s.as_bytes()))
            .map(|s| s.len()),
    }
}

/// Opening marks skipped when looking at the first letter of the next sentence.
fn is_opener(c: char) -> bool {
    matches!(c, '«' | '"' | '“' | '‘' | '\'' | '*' | '_' | '„' | '‹')
}

/// `-`, `–` or `—` at byte `i`.
fn is_dash(b: &[u8], i: usize) -> bool {
    dash_len(b, i) > 0
}

fn dash_len(b: &[u8], i: usize) -> usize {
    let rest = b.get(i..).unwrap_or(&[]);
    if rest.first() == Some(&b'-') {
        1
    } else if rest.starts_with("–".as_bytes()) || rest.starts_with("—".as_bytes()) {
        3
    } else {
        0
    }
}

/// The word before the `.` at byte `dot` (without the dot), with leading brackets, quotes
/// and elided articles removed (`(dell’art` → `art`), and whether that word is the first on
/// its line. `None` when the word is longer than an abbreviation can be.
fn word_before(text: &str, dot: usize) -> Option<(&str, bool)> {
    let b = text.as_bytes();
    let mut s = dot;
    while s > 0 && !b[s - 1].is_ascii_whitespace() {
        if dot - s >= MAX_WORD {
            return None;
        }
        s -= 1;
    }
    let raw = text.get(s..dot)?;
    let raw = raw.rsplit(char::is_whitespace).next().unwrap_or(raw);
    let mut line_initial = true;
    let mut k = s;
    while k > 0 && b[k - 1] != b'\n' {
        if !b[k - 1].is_ascii_whitespace() {
            line_initial = false;
            break;
        }
        k -= 1;
    }
    let word = raw.rsplit(['\'', '’']).next().unwrap_or(raw);
    let word = word.trim_start_matches(|c: char| {
        matches!(
            c,
            '(' | '[' | '{' | '«' | '"' | '“' | '‘' | '„' | '‹' | '*' | '_' | '<' | '/'
        )
    });
    Some((word, line_initial && word.len() == raw.len()))
}

/// Paragraph numbers that may open a line: `1`, `2.1`, `IV`, `a`.
fn is_enumerator(word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let numeric = word.split('.').all(|g| !g.is_empty() && g.len() <= 3)
        && word.chars().all(|c| c.is_ascii_digit() || c == '.');
    let roman = word.len() <= 6 && word.chars().all(|c| matches!(c, 'I' | 'V' | 'X' | 'L'));
    let letter = word.len() == 1 && word.chars().all(|c| c.is_ascii_alphabetic());
    numeric || roman || letter
}

/// Abbreviation class of `word` (the text before a final dot), if it is one.
fn classify(word: &str) -> Option<Abbrev> {
    if word.is_empty() || word.len() > 16 {
        return None;
    }
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return c.is_alphabetic().then_some(Abbrev::Prefix);
    }
    let lower = word.to_lowercase();
    if PREFIX.binary_search(&lower.as_str()).is_ok() {
        return Some(Abbrev::Prefix);
    }
    if SUFFIX.binary_search(&lower.as_str()).is_ok() {
        return Some(Abbrev::Suffix);
    }
    // Unknown dotted abbreviation of letters only: `U.S.A`, `A.C`.
    let dotted = word.contains('.')
        && !word.starts_with('.')
        && !word.contains("..")
        && word.chars().all(|c| c.is_alphabetic() || c == '.')
        && word.split('.').all(|g| g.chars().count() <= 3);
    dotted.then_some(Abbrev::Suffix)
}

/// Whether the word starting `next` continues a citation (`Sez.`, `S.U.`, `Rv.`).
fn is_continuation(next: &str) -> bool {
    let word: String = next
        .chars()
        .take(10)
        .take_while(|c| !c.is_whitespace())
        .collect();
    let lower = word.trim_end_matches(['.', ',', ';', ':']).to_lowercase();
    CONTINUATIONS.contains(&lower.as_str())
}

/// Outermost Pandoc inline footnotes `^[…]` with balanced brackets, as (start, end) byte
/// pairs sorted by start. A footnote cannot contain a blank line: an unclosed `^[` is text.
fn footnotes(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut line_blank = true;
    for (i, ch) in text.char_indices() {
        match ch {
            '\n' => {
                if line_blank {
                    open.clear();
                }
                line_blank = true;
            }
            '[' => {
                open.push(i);
                line_blank = false;
            }
            ']' => {
                if let Some(o) = open.pop() {
                    if o > 0 && b[o - 1] == b'^' {
                        found.push((o - 1, i + 1));
                    }
                }
                line_blank = false;
            }
            c if c.is_whitespace() => {}
            _ => line_blank = false,
        }
    }
    // Inner footnotes close before the outer ones: keep the outermost, in order of start.
    found.sort_unstable();
    let mut notes: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for (s, e) in found {
        if notes.last().is_none_or(|&(_, last_end)| s >= last_end) {
            notes.push((s, e));
        }
    }
    notes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Fixtures live in `<crate>/fixtures/`.
    fn fixture(path: &str) -> String {
        let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
    }

    const THESIS: &str = "doctrine/tesi_piras_01-prova-scientifica.md";
    const DECISION: &str = "jurisprudence/cass_snciv2025530039O.txt";

    /// Marks an expected sentence boundary in the cases below; it is removed from the input.
    const CUT: char = '‖';

    fn sentences(text: &str) -> Vec<&str> {
        let ranges = split_sentences(text);
        check_ranges(text, &ranges);
        ranges.into_iter().map(|r| &text[r]).collect()
    }

    /// Ranges in order, non-empty, trimmed, on char boundaries, with only whitespace around.
    fn check_ranges(text: &str, ranges: &[Range<usize>]) {
        let mut pos = 0;
        for r in ranges {
            assert!(r.start >= pos && r.start < r.end, "{ranges:?}");
            let gap = text.get(pos..r.start).expect("gap on char boundaries");
            assert!(gap.trim().is_empty(), "non-whitespace lost: {gap:?}");
            let s = text.get(r.clone()).expect("range on char boundaries");
            assert_eq!(s, s.trim(), "untrimmed sentence {s:?}");
            pos = r.end;
        }
        assert!(
            text[pos..].trim().is_empty(),
            "tail lost: {:?}",
            &text[pos..]
        );
    }

    fn check_marked(marked: &str) {
        let input: String = marked.chars().filter(|&c| c != CUT).collect();
        let expected: Vec<&str> = marked
            .split(CUT)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(sentences(&input), expected, "input: {input:?}");
    }

    /// Real fragments, copied verbatim from the fixtures (file and line in the comment), with
    /// the expected boundaries marked by hand.
    const CORPUS: &[&str] = &[
        // jurisprudence/cass_snciv2025530039O.txt line 89-93: ai sensi dell'art. 360, comma 1, n. 4), c.p.c., la nullità; d.lgs. n.\n546 del 1992; ends after c.p.c. before a capital
        "1.- Con il primo motivo, il ricorrente denuncia, ai sensi dell’art. 360,\ncomma 1, n. 4), c.p.c., la nullità della sentenza impugnata, per la sua\nmotivazione apparente, deducendo la violazione dell’art. 36 del d.lgs. n.\n546 del 1992 e dell’art. 112 c.p.c.‖\nSostiene, in particolare, che nella motivazione della sentenza",
        // jurisprudence/cass_snciv2025530039O.txt line 122-126: Cass. civ., Sez. U., sentenza n. 8053 del 7 aprile 2014; ends after Cost.
        "ed effettiva sia dal punto di vista grafico che contenutistico (Cass. civ.,\nSez. U., sentenza n. 8053 del 7 aprile 2014, Rv. 629830-01), ponendosi\nsenz’altro in linea con il minimo costituzionale di cui all’art. 111, comma\n6, Cost.‖\nAl riguardo, deve, infatti, ricordarsi il principio nomofilattico in base al",
        // jurisprudence/cass_snciv2025530039O.txt line 86-89: art.\n380-bis.1. c.p.c. then an all-caps heading line
        "5.- Il contribuente ha depositato memoria illustrativa, ai sensi dell’art.\n380-bis.1. c.p.c.‖\nRAGIONI DELLA DECISIONE‖\n1.- Con il primo motivo, il ricorrente denuncia, ai sensi dell’art. 360,",
        // jurisprudence/cass_snciv2025530039O.txt line 30-33: semicolon does not end; heading line; numbered paragraph 1.-
        "letta la memoria illustrativa depositata nell’interesse del ricorrente, ai\nsensi dell’art. 380-bis.1. c.p.c.;‖\nFATTI DI CAUSA‖\n1.- In punto di fatto e limitando l’esposizione alle sole circostanze",
        // jurisprudence/cass_snciv2025530039O.txt line 37-38: a real end after an acronym
        "e finitura di edifici, accertando un maggior reddito per imposte dirette e\nIVA.‖ Nel ricorso introduttivo del giudizio di primo grado, dunque, il",
        // jurisprudence/cass_snciv2025530039O.txt line 73-75: sentences inside guillemets
        "La CTR del Piemonte, con la sentenza impugnata, rigettava l’appello\nosservando che: «Il rilievo non specificamente contestato per la voce ratei\npassivi determina la definitività della ripresa.‖ L'attività di accertamento non",
        // jurisprudence/cass_snciv2025530039O.txt line 78-84: closing guillemet and period after the period; numbered 3.-
        "settore.‖ Il contribuente nonostante fosse stato invitato dall’Ufficio non ha\nprodotto motivazioni utili a confutare il maggiore reddito e pertanto le\ncensure riguardanti la mancata valutazione delle giustificazioni risulta\ndestituita di fondamento.».‖\n3.- Avverso la menzionata sentenza d’appello, il contribuente Gjyzeli",
        // jurisprudence/cass_snciv2025530039O.txt line 127-130: cod. proc. civ., d.l., n., conv. mid-sentence
        "«La riformulazione dell'art. 360, primo comma, n. 5, cod. proc. civ.,\ndisposta dall'art. 54 del d.l. 22 giugno 2012, n. 83, conv. in legge 7 agosto\n2012, n. 134, deve essere interpretata, alla luce dei canoni ermeneutici",
        // jurisprudence/cass_snciv2025530039O.txt line 144-150: Cass.\nciv., Sez. U., Rv.\n664120-01
        "rilevanza del semplice difetto di \"sufficienza\" della motivazione» (Cass.\nciv., Sez. U., sentenza n. 8053 del 7 aprile 2014, Rv. 629830-01, cui\nhanno fatto seguito numerose pronunce conformi delle sezioni ordinarie,\ntra cui Cass. civ., Sez. 1, ordinanza n. 7090 del 3 marzo 2022, Rv.\n664120-01, nonché Cass. civ., Sez. T, ordinanza n. 6986 del 9 marzo\n2023, Rv. 667340-01, in motivazione).‖\n3.- Con il secondo motivo,",
        // jurisprudence/cass_snciv2025530039O.txt line 154-156: artt., d.l. n., conv. con\nmodif. dalla l. n.
        "la violazione degli artt. 62-bis e 62-sexies d.l. n. 331 del 1993 (conv. con\nmodif. dalla l. n. 427 del 1993).‖\nSostiene, in particolare,",
        // jurisprudence/cass_snciv2025530039O.txt line 173-176: quote then (cfr., … alla pag.\n6).
        "probatorio nell'ottica dell'intera posizione fiscale del contribuente.» (cfr.,\nall’uopo, il ricorso introduttivo del presente giudizio di legittimità, alla pag.\n6).‖\nNon sarebbe sufficiente, dunque,",
        // jurisprudence/cass_snciv2025530039O.txt line 182-183: d.l. n. 331, d.P.R. n. 600
        "quanto, in netta violazione dell’art. 62-sexies d.l. n. 331 del 1993 e\ndell’art. 39 d.P.R. n. 600 del 1973, sarebbe stato tralasciato di chiarire se",
        // jurisprudence/cass_snciv2025530039O.txt line 188-189: ordinary end mid-line
        "dimostrazione dell'applicabilità in concreto dello standard prescelto.‖ In\naltri termini, secondo la prospettazione del ricorrente, nell’avviso",
        // jurisprudence/cass_snciv2025530039O.txt line 207-212: (cfr. Cass. civ.,\nSez. 1, … Cass.\nciv., Sez. 2 … Rv. 667202-01).
        "invece necessario per dar ingresso alla censura proposta (cfr. Cass. civ.,\nSez. 1, sentenza n. 26774 del 22 dicembre 2016, Rv. 643244-03; Cass.\nciv., Sez. 2, sentenza n. 5528 del 10 marzo 2014, Rv. 630359-01 e, più\nrecentemente, Cass. civ., Sez. 3, ordinanza n. 5947 del 28 febbraio 2023,\nRv. 667202-01).‖\nNon v’è, poi, evidenza alcuna",
        // jurisprudence/cass_snciv2025530039O.txt line 218-219: artt. 62-bis e 62-sexies d.l.\nn. 331
        "Con riguardo alla dedotta violazione degli artt. 62-bis e 62-sexies d.l.\nn. 331 del 1993 (conv. con modif. dalla l. n. 427 del 1993), è appena il",
        // jurisprudence/cass_snciv2025530039O.txt line 243-246: quote end .» followed by (Cass. … stays in the sentence
        "perciò al sindacato di legittimità.» (Cass. civ., Sez. 1, ordinanza n. 640\ndel 14 gennaio 2019, Rv. 652398-01; conf. Cass. civ., Sez. 3, sentenza\nn. 7187 del 4 marzo 2022, Rv. 664394-01; cfr., altresì, in epoca recente,",
        // jurisprudence/cass_snciv2025530039O.txt line 263-264: Rv.\n670888-01). E ciò
        "suo insieme (Cass. civ., ordinanza n. 10927 del 23 aprile 2024, Rv.\n670888-01).‖ E ciò, in quanto il ricorrente per cassazione non può rimettere",
        // jurisprudence/cass_snciv2025530039O.txt line 299-302: art. 17,\ncomma 6, d.P.R. n. 633 del 1972.
        "6.- Con il quarto motivo, il ricorrente denuncia, ai sensi dell’art. 360,\ncomma 1, n. 3), c.p.c., la violazione e falsa applicazione dell’art. 17,\ncomma 6, d.P.R. n. 633 del 1972.‖\nSostiene, al riguardo, che tale disposizione non richiede, in alcun",
        // jurisprudence/cass_snciv2025530039O.txt line 331-334: artt. 23, 35 e 53 Cost.\nSostiene
        "8.- Con il quinto (e ultimo) motivo, il ricorrente denuncia, ai sensi\ndell’art. 360, comma 1, n. 3), c.p.c., violazione e falsa applicazione degli\nartt. 23, 35 e 53 Cost.‖\nSostiene, al riguardo, che l’accertamento operato con la semplice",
        // jurisprudence/cass_snciv2025530039O.txt line 383-386: P.Q.M. is a line of its own
        "pari a quello previsto per l’impugnazione, se dovuto.‖\nP.Q.M.‖\nLa Corte Suprema di Cassazione\nRigetta il ricorso e condanna il ricorrente al pagamento, in favore della",
        // jurisprudence/cass_snciv2025530039O.txt line 387-389: €. 5.900,00
        "controricorrente, delle spese del presente giudizio di legittimità, che si\nliquidano in complessivi €. 5.900,00 (euro cinquemilanovecento/00), oltre\nspese prenotate a debito.",
        // jurisprudence/cass_snciv2025530039O.txt line 8-12: R.G. | Cron. | Rep. | A.C. 8 luglio; blank line; ORDINANZA
        "Registro: n. 12952/2018 R.G. | Cron. | Rep. | A.C. 8 luglio 2025\nOggetto: IVA, IRPEF e IRAP - Reddito d'impresa - Studi di settore.‖\n\nORDINANZA‖\nsul ricorso (iscritto al n. 12952/2018 R.G.) proposto da:",
        // jurisprudence/cass_snciv2025530039O.txt line 15-17: PDF list marker - ricorrente -
        "domicilio digitale in atti;‖\n- ricorrente -\ncontro",
        // jurisprudence/cass_snciv2025530039O.txt line 25-26: dott. Francesco Graziano
        "udita la relazione della causa svolta, nella camera di consiglio dell’8\nluglio 2025, dal Consigliere relatore dott. Francesco Graziano;",
        // jurisprudence/cass_snciv2025530039O.txt line 2-3: Civile Ord. Sez. 5   Num. 30039
        "Civile Ord. Sez. 5   Num. 30039  Anno 2025\nPresidente: FUOCHI TINARELLI GIUSEPPE",
        // jurisprudence/cass_snciv2025530039O.txt line 394-397: signature block
        "art. 13, se dovuto.‖\nCosì deciso in Roma, in data 8 luglio 2025.‖\nIl Presidente\nGiuseppe Fuochi Tinarelli",
        // jurisprudence/cass_snciv2025530039O.txt line 60-65: blank lines always end a sentence, even mid-sentence (page break)
        "evidenziava la violazione del principio di buona fede e di tutela\n2‖\n\n--- Pagina 3 ---‖\n\ndell’affidamento, non avendo l’amministrazione finanziaria attribuito",
        // doctrine/tesi_piras_01-prova-scientifica.md line 5: footnotes with v. @Gammarota2016, p. 16. and ecc. inside stay in the sentence
        "Nel tempo, sono state date numerose definizioni dell'informatica forense,^[Per un elenco, v. @Gammarota2016, p. 16.] che iniziano con \"l'informatica forense riguarda la &hellip;\", e continuano con un elenco di attività tipiche.^[Ad esempio, la ricerca, protezione, identificazione, estrazione, documentazione, analisi, esibizione, conservazione, interpretazione, ecc. di mezzi di prova, prove informatiche o elettroniche, dati del computer, ecc.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 21: footnote with 'art. 55 co. 1 c.p.p.)' and 'art. 20 co. 1-ter CAD)' inside a list item
        "- \"Trattamento\": significa la corretta gestione del dato informatico per qualsiasi fine,^[Le regole sul trattamento dei dati non valgono solo all'interno dei procedimenti decisionali, ma anche per garantire il corretto trattamento dei dati informatici come atti giuridici. Ad esempio, si consideri come l'uso di firme elettroniche fanno fede fino a prova contraria (art. 20 co. 1-ter CAD). L'uso e verifica delle firme digitali interessa all'informatica forense, anche se l'atto non sarà presumibilmente usato in un procedimento giudiziario.] e in qualsiasi momento;^[Anche prima dell'intervento del personale specializzato (ad esempio, la PG deve assicurare le fonti di prova; art. 55 co. 1 c.p.p.), e anche dopo la conclusione definitiva del procedimento (si pensi ai casi di impugnazioni straordinarie).]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 16: sentence ends after its footnote
        "Il pregio di questa definizione è che collega esplicitamente la prova informatica al diritto penale, ed indica la sua funzione in maniera generale.^[L'elenco al termine della definizione ha una finalità puramente illustrativa, e non definitoria.]‖ Il problema fondamentale è che non indica come la prova informatica deve essere trattata, e a quali discipline si deve fare riferimento.",
        // doctrine/tesi_piras_01-prova-scientifica.md line 18: closing quote after the period
        "La definizione di informatica forense data da @Gammarota2016 [26--27] risolve il secondo problema: \"L'informatica forense studia le norme giuridiche ed le tecniche informatiche per il trattamento dei dati digitali a fini processuali.\"‖ La definizione è breve, ma l'autore evidenzia la necessità di interpretarla nella maniera più ampia possibile:",
        // doctrine/tesi_piras_01-prova-scientifica.md line 14: emphasis and quote close after the period, then the footnote
        "Si consideri la definizione di *digital evidence*^[Prova informatica.] data da @Casey2011 [7]: \"*[A]ny data stored or transmitted using a computer that support or refute a theory of how an offense occurred or that address critical elements of the offense such as intent or alibi.*\"^[Qualsiasi dato archiviato o trasmesso per mezzo di un computer che corrobora o confuta una teoria su come si sia verificato un reato, o che riguarda gli elementi più importanti del reato, come il movente o l'alibi.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 9-10: Markdown list items
        "- Spesso si concentrano solo sugli aspetti tecnici e non sempre evidenziano l'aspetto \"forense\" della disciplina;^[Ossia, il fatto che le attività dell'informatica forense sono tendenzialmente destinate a confluire all'interno di un procedimento giudiziario, e non sono semplicemente attività di studio, ricerca e analisi fini a sé stesse, o destinate ad essere utilizzate da privati.]‖\n- L'uso di elenchi dà l'impressione della tassatività^[È difficile immaginare in anticipo ed in astratto ogni attività tipica, ed in ogni caso, l'evoluzione della disciplina può portare alla definizione di nuove attività tipiche.] e pone problemi di interpretazione.^[Ad esempio, si può discutere se i termini \"conservazione\" e \"protezione\" significhino la stessa cosa, oppure se la \"conservazione\" riguardi la creazione di copie di backup ed il controllo periodico dell'integrità dei dati, mentre la \"protezione\" riguardi l'applicazione di misure di sicurezza come cifratura e controllo degli accessi.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 33: period after a Pandoc citation; V. @Gammarota2016, p. 71. in the note
        "Negli Stati Uniti, la prima legge fu approvata in Florida nel 1978 e quasi tutti gli altri Stati si dotarono di proprie leggi nel corso di poco più di un decennio [@Nugent1991, 2--4].‖ In Italia, il codice penale viene riformato nel 1993.^[La Legge 23 dicembre 1993, n. 547 (\"Modificazioni ed integrazioni alle norme del codice penale e del codice di procedura penale in tema di criminalità informatica.\") modifica i reati tradizionali, aggiungendo riferimenti espliciti ai sistemi informatici e telematici, ed i dati e programmi in essi contenuti. V. @Gammarota2016, p. 71.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 37: art. 635-*bis* c.p. and art. 640-*ter* c.p. in the note
        "Nei reati informatici \"propri\", il bene (o uno dei beni) protetti sono i dati o sistemi informatici.^[Ad esempio, nel danneggiamento di informazioni, dati e programmi informatici (art. 635-*bis* c.p.) l'unico bene protetto sono i dati in sé, mentre nella frode informatica (art. 640-*ter* c.p.) si protegge sia il corretto funzionamento del sistema informatico, sia il patrimonio della persona (ad esempio, i *ransomware* sono un caso di frode informatica, perché criptano i dati e programmi degli utenti, impedendone l'uso e accesso, e richiedono il pagamento di un riscatto per decriptarli).]‖ Per la prova di questo tipo di reati, è assolutamente necessario acquisire i dati informatici.^[Altrimenti, sarebbe impossibile provare che il sistema informatico è stato aggredito dal reato.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 140: (art. 234 c.p.p.), (art. 515 c.p.p.), (art. 526 co. 1 c.p.p.).
        "È preferibile evitare di acquisire i dati informatici come se fossero documenti (art. 234 c.p.p.), perché sarebbero inseriti nel fascicolo del dibattimento (art. 515 c.p.p.), ed il giudice ne prenderebbe direttamente cognizione ai fini della decisione (art. 526 co. 1 c.p.p.).^[In questo caso, esiste il rischio che il giudice valuti i dati così come si presentano visivamente, e non sia in grado di valutare se il documento sia stato acquisito correttamente, se sia stato manipolato, ecc. Questo tipo di ignoranza è scusabile, perché queste conoscenze vanno oltre la conoscenza della persona media, ma è proprio per questo motivo che il giudice è tenuto a richiedere la perizia. Come regola generale, è preferibile partire sempre dal presupposto che la perizia serva, ed escludere il suo utilizzo solo in casi marginali. Ad esempio, il dato informatico viene acquisito come documento, ma viene usato solo *ad abundantiam* per corroborare una ricostruzione dei fatti che è già largamente supportata da prove più affidabili.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 132: ^[Art. 220 co. 1 c.p.p.]
        "La perizia è il mezzo di prova ideale per l'introduzione di conoscenze scientifiche all'interno del processo, e dato che l'informatica forense può essere considerata una scienza che studia il trattamento dei dati informatici, si può affermare che la prova informatica tende a coincidere con la perizia.‖ Secondo il codice di procedura penale:^[Art. 220 co. 1 c.p.p.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 59-63: line breaks inside a sentence, footnote at each line end
        "I principi, le tecniche e le conoscenze dell'informatica forense possono trovare applicazione anche nelle altre branche del diritto, ogni volta che il trattamento dei dati informatici diventa rilevante per il compimento di una qualsiasi operazione che produce effetti giuridici,^[È irragionevole pensare che gli standard stringenti dell'informatica forense debbano trovare applicazione solo all'interno del diritto penale, perché è la branca del diritto che più di tutte va a incidere sui diritti fondamentali della persona. L'informatica forense prevede quegli standard perché i dati informatici hanno delle caratteristiche intrinseche particolari che li necessitano, e pertanto, devono essere sempre trattati allo stesso modo, indipendentemente dal contesto in cui vengono usati.]\ncome la dimostrazione della responsabilità,^[Ad esempio, si immagini l'uso di dati informatici come prove in un giudizio civile, amministrativo, tributario, ecc.; oppure nelle procedure di *ADR* (*alternative dispute resolution*, risoluzione alternativa delle controversie) come l'arbitrato]\nl'applicazione di sanzioni^[Ad esempio, i procedimenti disciplinari nei confronti di dipendenti della PA, avvocati, sportivi, ecc.]\ne l'adozione di atti che producono effetti giuridici.^[Ad esempio, si pensi all'istruttoria nel procedimento amministrativo, finalizzata all'emanazione di un atto. È importante garantire almeno la corretta acquisizione e conservazione dei dati informatici che saranno usati ai fini della decisione.]‖\nInoltre, devono anche essere applicate agli atti giuridici in formato digitale.^[Ad esempio, nel processo telematico gli atti stessi del processo sono rappresentati come dati informatici, ed è estremamente importante dimostrare l'autenticità mediante l'uso di firme digitali, garantire la loro corretta conservazione, ed essere in grado di rilevare eventuali modificazioni. Lo stesso ragionamento vale anche per qualsiasi atto con valore giuridico che si forma e ha rilevanza all'esterno del processo, specie se quell'atto potrebbe formare in seguito oggetto di controversia (ad esempio, atti della PA, o contratti fra privati). Maggiori sono le cautele utilizzate, e maggiore è l'affidabilità di quell'atto.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 1-3: Markdown headings
        "# Approccio scientifico all'informatica forense e alla prova informatica‖\n\n## Definizione di informatica forense",
        // doctrine/tesi_piras_01-prova-scientifica.md line 118: two sentences in one list item
        "- L'esperimento viene condiviso con altri ricercatori, in modo da garantire che sia ripetibile,^[Ossia, altre persone possono svolgere le stesse azioni.] ed i risultati siano riproducibili.^[Ossia, svolgere le stesse azioni porta agli stessi risultati.]‖ La riproduzione dei risultati degli esperimenti da parte di altri ricercatori rafforza la validità della prima verificazione;^[Se un certo comportamento non può essere osservato con regolarità, non può formare la base di teorie scientifiche. A questo fine, è estremamente importante che i ricercatori siano il più trasparenti possibile con la loro ricerca, in modo da permettere ed agevolare un controllo diffuso delle loro teorie.]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 105-106: V. R. Munroe, n.d. in the note; new line starting lowercase
        "Entrambe sono strumenti usati dalle altre scienze, ma non sono scienze in sé,^[V. @Bilaniuk1996. In ultima analisi, tutte le scienze naturali sono fondate sulla matematica. Ad esempio, la sociologia si fonda sulla psicologia, che si fonda sulla biologia, che si fonda sulla chimica, che si fonda sulla fisica, che per ultima si fonda direttamente sulla matematica, che può essere definita la scienza più \"pura\", perché non studia né gli esseri umani, né la natura materiale, ma fenomeni completamente astratti. V. R. Munroe, *Purity*, n.d., <https://xkcd.com/435/>.]\ndata la loro natura deduttiva.‖ Tuttavia, è possibile argomentare che l'informatica forense^[Intesa come l'applicazione dell'informatica per il trattamento dei dati ai fini processuali.] sia una scienza naturale a pieno titolo.",
        // doctrine/tesi_piras_01-prova-scientifica.md line 49: V @Gammarota2016 in the note
        "Negli Stati Uniti la cultura processuale è stata sempre aperta alla discussione dei principi, strumenti e metodologie scientifiche usate per ricostruire e valutare il fatto all'interno del contraddittorio, e questo adattamento non ha incontrato difficoltà.‖ Viceversa, in Italia la cultura processuale preferisce l'uso delle prove precostituite alle prove costituende.^[Ossia, si preferiscono le prove di natura documentale, che si formano al di fuori del processo, rispetto alle prove che si formano all'interno del dibattimento. V @Gammarota2016, pp. 11--12, 22--23]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 153: (art. 380 c.p.) (v. @Canestrari2016, p. 273).] ma
        "L'attività del consulente tecnico del difensore deve essere necessariamente favorevole all'assistito,^[Se causasse un danno con dolo, integrerebbe il reato di consulenza infedele (art. 380 c.p.) (v. @Canestrari2016, p. 273).] ma non può spingersi fino alla commissione di un reato.^[Ad esempio, le attività materiali che ostacolano le indagini (come distruggere o manipolare le prove) integrerebbero il reato di favoreggiamento personale (art. 378 c.p.) (v. @Canestrari2016, p. 252).]",
        // doctrine/tesi_piras_01-prova-scientifica.md line 155: [@Canestrari2016, p. 265] and art. 111 co. 4 Cost. in the note
        "Il perito, e a maggior ragione i consulenti tecnici, possono anche arrivare a \"conclusioni divergenti rispetto all'opinione comune corrente\" [@Canestrari2016, p. 265] purché motivino adeguatamente il loro operato e le loro conclusioni durante il contraddittorio.^[Si potrebbe affermare che la funzione del perito e dei consulenti è di garantire la più piena attuazione del diritto di difesa, ed in particolare, dell'art. 111 co. 4 Cost., secondo cui nel processo penale la prova si forma in contraddittorio. Per quanto riguarda le prove scientifiche (in questo caso, la prova che ha per oggetto dati informatici) è importante garantire che la prova si formi all'interno di un contraddittorio tecnico. Nel caso ideale, entrambe le parti si doteranno di consulenti prima della perizia, e il perito sarà il primo soggetto che andrà a interagire con i dati.]",
    ];

    #[test]
    fn corpus_fragments() {
        assert!(CORPUS.len() >= 25);
        let thesis = fixture(THESIS);
        let decision = fixture(DECISION);
        for marked in CORPUS {
            let input: String = marked.chars().filter(|&c| c != CUT).collect();
            assert!(
                thesis.contains(&input) || decision.contains(&input),
                "not verbatim from the fixtures: {input:?}"
            );
            check_marked(marked);
        }
    }

    #[test]
    fn abbreviations_inside_sentences() {
        for marked in [
            "Il ricorrente denuncia, ai sensi dell'art. 360, comma 1, n. 4, c.p.c., la nullità della sentenza.",
            "La motivazione è effettiva (Cass. civ., Sez. U., sentenza n. 8053 del 7 aprile 2014).",
            "La PG deve assicurare le fonti di prova (cfr. art. 55 co. 1 c.p.p.).‖ Il PM dirige le indagini.",
            "Si applica l'art. 36 del d.lgs. n. 546 del 1992 e l'art. 39 del d.P.R. n. 600 del 1973.",
            "V. D.Lgs. 30 giugno 2003, n. 196, D.P.R. 445/2000, L. 241/1990 e R.D. 1398/1930.",
            "Pubblicato in G.U. n. 5 del 2020, v. artt. 1 ss. e segg. del reg. UE 2016/679 e dir. 95/46.",
            "Cfr. Cass. S.U. n. 123/2020, Cass. pen. Sez. VI, sent. n. 5, ord. n. 6, pag. 7, pp. 8-9.",
            "Si veda cap. 2, par. 3, lett. a), p. 10, nn. 4 e 5, cod. civ., proc. pen., vol. II, op. cit., p. 4.",
            "Lo ha scritto il Dott. Rossi, con l'avv. Bianchi e il Prof. Verdi, per conto della Alfa S.p.A. e della Beta s.r.l. di Roma.",
            "Ne parla G. Rossi, trad. it. di A. Bianchi, ed. Giuffrè, n.d.r. inclusa.",
            "Il termine è di 1.5 giorni, come da n. 3.‖ Inoltre vale il punto 2.1 dell'allegato.",
            "Sono richiesti documenti, dichiarazioni, ecc. che il giudice valuta liberamente.",
            "Lo prevede l'art. 111 Cost. e la giurisprudenza (cit.) lo conferma.",
            "Lo afferma il Sig. Neri, es. a pag. 3.",
            "Così Cons. St. Sez. IV, n. 5, e T.A.R. Lazio, Sez. I, nella causa Rossi vs. Bianchi.",
        ] {
            check_marked(marked);
        }
    }

    #[test]
    fn real_ends_after_abbreviation_like_tokens() {
        for marked in [
            // A suffix abbreviation closes the citation and the sentence before a capital.
            "Il danno è risarcibile ex art. 2043 c.c.‖ Il giudice lo liquida.",
            "Lo vieta l'art. 111 Cost.‖\nAl riguardo, deve ricordarsi il principio.",
            "Sono esclusi i beni di consumo, ecc.‖ Restano le opere.",
            "Così la società Alfa S.p.A.‖ La società Beta invece no.",
            // At the end of a paragraph any abbreviation ends the sentence.
            "Si veda, per tutti, l'art.‖\n\nIl giudice decide.",
            "Così dispone il c.c.‖\n\nNel caso in esame",
            "Il rinvio è all'art. 5 ss.‖\n\n## Conclusioni",
            "Vedi p.‖\n\n1. Primo punto",
            "Secondo l'art. 2043 c.c.",
        ] {
            check_marked(marked);
        }
    }

    #[test]
    fn punctuation_numbers_and_layout() {
        for marked in [
            // Decimals, numbering, initials.
            "Il valore è 1.2 volte il minimo.‖ Poi cresce.",
            "1.- Con il primo motivo si deduce la nullità.‖\n2.- Con il secondo motivo si deduce altro.",
            "1. Primo punto del ragionamento.‖\n2. Secondo punto.",
            "Secondo A. B. Rossi e G. Verdi il punto è chiaro.",
            // Ellipses.
            "Il giudice sospese... e poi riprese.",
            "Il giudice sospese...‖ Poi riprese.",
            "Il giudice sospese…‖ Poi riprese.",
            "«[...] Il giudice può disporre la perizia» (art. 220 c.p.p.).‖ Non",
            // Quotes and brackets after the period.
            "Disse: «È finita.»‖ Poi tacque.",
            "Disse: «È finita».‖ Poi tacque.",
            "Lo scrive (v. sopra).‖ Poi aggiunge.",
            "Lo dice \"chiaramente.\"‖ Poi aggiunge “altro.”‖ Fine.",
            // Question and exclamation marks.
            "È ammissibile?‖ No!‖ Lo esclude la legge.",
            "Perché? perché lo dice la legge.",
            // Semicolons and colons do not end.
            "Il ricorso è infondato; le spese seguono la soccombenza: così deciso.",
            // Line breaks inside a sentence, blank line between paragraphs.
            "Il ricorso\nè infondato\ne va respinto.‖\nLe spese\nseguono.‖\n\nNuovo paragrafo\nsenza punto‖\n\nAltro",
            // Markdown headings and list items.
            "# Titolo‖\nTesto del paragrafo.‖\n## Sezione‖\n- primo elemento;‖\n- secondo elemento‖\n* terzo‖\n+ quarto",
            "Elenco:‖\n1. uno;‖\n2. due;‖\n3) tre.",
            // Footnotes stay in the sentence they annotate.
            "Frase annotata.^[Nota. Con due frasi, art. 5 e ss. Fine.]‖ Frase seguente.",
            "Frase^[Nota [con parentesi] interne.] con nota.‖ Altra.",
            "Frase con nota su due righe^[Prima riga.\nSeconda riga.] e fine.",
            // An unclosed footnote is text.
            "Nota aperta ^[senza chiusura.‖ Altra frase.",
            // All-caps lines.
            "RAGIONI DELLA DECISIONE‖\nIl ricorso è infondato.",
        ] {
            check_marked(marked);
        }
    }

    #[test]
    fn listed_abbreviations_do_not_end_before_lowercase_or_numbers() {
        let listed = [
            "art.", "artt.", "c.c.", "c.p.", "c.p.c.", "c.p.p.", "cod.", "proc.", "civ.", "pen.",
            "co.", "comm.", "n.", "nn.", "lett.", "cfr.", "sez.", "sent.", "ord.", "cass.",
            "Cass.", "Sez.", "U.", "S.U.", "pag.", "pp.", "p.", "par.", "cap.", "ss.", "segg.",
            "ecc.", "es.", "v.", "d.lgs.", "D.Lgs.", "d.l.", "d.P.R.", "D.P.R.", "l.", "L.",
            "R.D.", "G.U.", "reg.", "dir.", "Cost.", "cit.", "op.", "vol.", "ed.", "trad.",
            "n.d.r.", "Dott.", "dott.", "avv.", "Avv.", "prof.", "Prof.", "Sig.", "sig.", "S.p.A.",
            "s.r.l.", "S.r.l.", "Rv.", "cd.", "conv.", "modif.", "conf.",
        ];
        for abbr in listed {
            for text in [
                format!("Si veda {abbr} del testo citato."),
                format!("Si veda {abbr} 12 del testo citato."),
                format!("Si veda {abbr}\n12 del testo citato."),
                format!("Si veda {abbr}, come detto."),
                format!("Si veda {abbr} Sez. 3 del testo citato."),
            ] {
                assert_eq!(sentences(&text), vec![text.as_str()], "{abbr}");
            }
            let dot = "Si veda ".len() + abbr.len() - 1;
            let text = format!("Si veda {abbr} x");
            assert!(is_abbreviation_before(&text, dot), "{abbr}");
        }
        // Prefix abbreviations do not end a sentence even before a capital.
        for abbr in [
            "art.", "artt.", "n.", "cfr.", "Cass.", "Sez.", "sez.", "v.", "V.", "d.lgs.", "D.Lgs.",
            "d.P.R.", "L.", "l.", "R.D.", "G.U.", "cod.", "proc.", "Dott.", "avv.", "Prof.",
            "Sig.", "pag.", "p.", "pp.", "par.", "cap.", "lett.", "sent.", "ord.", "es.", "reg.",
            "dir.", "op.", "vol.", "trad.", "co.", "U.", "G.",
        ] {
            let text = format!("Si veda {abbr} Rossi e altri.");
            assert_eq!(sentences(&text), vec![text.as_str()], "{abbr}");
        }
        for (text, dot) in [
            ("fine. Poi", 4),
            ("2007. Poi", 4),
            ("a", 0),
            ("art.", 9),
            ("", 0),
        ] {
            assert!(!is_abbreviation_before(text, dot), "{text:?} {dot}");
        }
    }

    #[test]
    fn abbreviation_tables_are_sorted_lowercase() {
        for table in [PREFIX, SUFFIX] {
            assert!(table.windows(2).all(|w| w[0] < w[1]), "{table:?}");
            assert!(table.iter().all(|a| *a == a.to_lowercase()));
        }
        assert!(PREFIX.iter().all(|a| !SUFFIX.contains(a)));
    }

    /// Whole files: coverage, and no sentence ends right after `art.`, `c.c.` or any other
    /// abbreviation that always introduces something.
    #[test]
    fn whole_files() {
        for (path, expected) in [(THESIS, 111), (DECISION, 88)] {
            let text = fixture(path);
            let ranges = split_sentences(&text);
            check_ranges(&text, &ranges);
            assert_eq!(ranges.len(), expected, "{path}");
            for r in &ranges {
                let s = &text[r.clone()];
                assert!(
                    !s.ends_with("art.") && !s.ends_with("c.c."),
                    "{path}: {s:?}"
                );
                let last = s.split_whitespace().last().unwrap_or("");
                if let Some(word) = last.strip_suffix('.') {
                    let word = word.rsplit(['\'', '’', '(']).next().unwrap_or(word);
                    assert_ne!(classify(word), Some(Abbrev::Prefix), "{path}: {s:?}");
                }
            }
        }
        // Footnotes are never split: every `^[` of the thesis is in the sentence that holds
        // its `]`.
        let text = fixture(THESIS);
        let notes = footnotes(&text);
        assert_eq!(notes.len(), 111);
        let ranges = split_sentences(&text);
        for (s, e) in notes {
            assert!(
                ranges.iter().any(|r| r.start <= s && e <= r.end),
                "{}",
                &text[s..e]
            );
        }
    }

    /// Deterministic pseudo-random generator (xorshift64*).
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random text from pieces that exercise every rule, plus multi-byte characters.
    pub(crate) fn random_text(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            ".",
            "..",
            "...",
            "…",
            "!",
            "?",
            ";",
            ":",
            ",",
            " ",
            " ",
            " ",
            "\n",
            "\n\n",
            "\r\n",
            "\t",
            "\u{a0}",
            "^[",
            "[",
            "]",
            "^",
            "(",
            ")",
            "«",
            "»",
            "\"",
            "'",
            "’",
            "“",
            "”",
            "*",
            "_",
            "#",
            "# ",
            "- ",
            "* ",
            "• ",
            "1. ",
            "1.- ",
            "2) ",
            "12",
            "art",
            "art.",
            "c.p.c.",
            "Cass.",
            "Sez.",
            "U.",
            "P.Q.M.",
            "RAGIONI",
            "Il",
            "il",
            "è",
            "È",
            "ß",
            "日本",
            "😀",
            "@x",
            "€",
            "é\u{301}",
            "a",
            "B",
            "x.y",
            "IV.",
            "–",
            "—",
        ];
        let len = rng.below(120);
        (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
    }

    #[test]
    fn random_and_unicode_input_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let text = random_text(&mut rng);
            let ranges = split_sentences(&text);
            check_ranges(&text, &ranges);
            for i in 0..=text.len() + 1 {
                let _ = is_abbreviation_before(&text, i);
            }
        }
        // Arbitrary bytes, made valid UTF-8.
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            check_ranges(&text, &split_sentences(&text));
        }
        for text in [
            "", " ", "\n\n", ".", "^[", "]", "^[]", "…", "‖", "a.", " . . ", "#",
        ] {
            check_ranges(text, &split_sentences(text));
        }
    }

    /// Inputs that would be quadratic for a careless scanner finish quickly.
    #[test]
    fn adversarial_inputs_scale_linearly() {
        let n = 200_000;
        for text in [
            "a.".repeat(n),
            "a. ".repeat(n),
            "^[".repeat(n),
            "^[ ".repeat(n) + "]",
            ".".repeat(n),
            "x".repeat(n) + ". Y",
            "«".repeat(n),
            ". «".repeat(n),
            " \n".repeat(n),
            "A\n".repeat(n),
            "1.- ".repeat(n),
            "art. ".repeat(n),
        ] {
            let start = std::time::Instant::now();
            check_ranges(&text, &split_sentences(&text));
            assert!(start.elapsed().as_secs() < 20, "{:?}", &text[..10]);
        }
    }
}

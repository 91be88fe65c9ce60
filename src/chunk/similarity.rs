//! Semantic chunker for doctrine: chunk boundaries where the meaning shifts, measured by the
//! cosine similarity of sentence embeddings on either side of each sentence gap.
//!
//! The document is cut into *sections* at every heading (a chunk never spans a heading; the
//! heading texts become the chunk's `headings`). Each section is split into sentences with
//! [`split_sentences`], block by block; a sentence longer than `max_tokens` is cut into pieces
//! at word boundaries first, and every piece then counts as a sentence ("unit" below).
//!
//! Every unit is embedded once. For the gap after unit `i` the chunker takes the mean of the
//! (L2-normalised) vectors of the `window` units before the gap and of the `window` units
//! after it, within the section, and their cosine is the gap's similarity. A new chunk starts
//! at a gap whose similarity is below `threshold` *and* is the bottom of its dip (no higher
//! than the next gap's, lower than the previous one's). The second condition is needed
//! because windows smear a shift: one sharp change of topic drags the `2 * window - 1` gaps
//! around it under the threshold, and cutting at all of them would leave one-sentence
//! fragments on both sides (see the test `one_shift_gives_one_boundary`).
//!
//! Why windows, and what the default threshold means: neighbouring sentences of one topic
//! typically score 0.3–0.8 with a multilingual sentence encoder, too noisy to cut on. The mean
//! of `w` sentences that are pairwise similar `p` has squared norm `(1 + (w - 1) p) / w`, so two
//! adjacent windows of the same homogeneous text score `w p / (1 + (w - 1) p)`: with `w = 3`,
//! the default `0.72` is reached at `p ≈ 0.46`, in the middle of that range, while a change of
//! topic (cross-window similarity well below the within-window one) falls clearly under it.
//!
//! Near a section edge a window has fewer than `window` units, and fewer sentences of the same
//! text score lower (`p` itself for one against one). So that edges are not cut more often than
//! the middle, the threshold for a gap compared with windows of `a` and `b` units is what the
//! homogeneous text at the threshold (the `p` above) scores with those sizes:
//! `p / sqrt(((1 + (a - 1) p) / a) ((1 + (b - 1) p) / b))`; with full windows it is `threshold`
//! itself (thresholds outside `(0, 1)` are used as they are). Similarity minus that threshold
//! is the gap's *excess*; it is what the dips, splits and merges compare.
//!
//! Sizes, in model tokens of the chunk text (`TokenCount`):
//!
//! * a chunk over `max_tokens` is split at its lowest-excess gap among those that leave both
//!   parts at least `min_tokens` (the lowest of all if none does), recursively; since every
//!   unit fits, every chunk fits;
//! * then chunks under `min_tokens` are merged into a neighbour of the same section, most
//!   similar pair first: repeatedly, of the boundaries next to a chunk under `min_tokens`, the
//!   one with the highest excess (windows clipped to the two chunks) is removed, unless the
//!   merged chunk would exceed `max_tokens` (then that boundary stays). So a small chunk joins
//!   its more similar neighbour, or the other one when that one is too big. A chunk stays
//!   under `min_tokens` only when it is its whole section or when both merges would exceed
//!   `max_tokens`.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::sentences::{is_abbreviation_before, split_sentences};
use super::TokenCount;
use crate::parse::textdoc::{BlockKind, TextDocument};

/// Sentences sent to `embed` per call (the last call may have fewer).
pub const EMBED_BATCH: usize = 32;

/// Embeds a batch of sentences, one vector per text (any length; normalised here).
pub type EmbedBatch<'a, E> = dyn FnMut(&[&str]) -> Result<Vec<Vec<f32>>, E> + 'a;

/// Settings of [`chunk_by_similarity`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimilarityConfig {
    /// A chunk boundary falls where the cosine between the means of the windows before and
    /// after a gap is below this (see the module documentation).
    pub threshold: f32,
    /// Sentences per side in the compared windows (`0` is taken as `1`).
    pub window: usize,
    /// Smaller chunks are merged into a neighbour when the result fits `max_tokens`.
    pub min_tokens: usize,
    /// Largest chunk, in model tokens; longer sentences are cut at word boundaries.
    pub max_tokens: usize,
}

impl Default for SimilarityConfig {
    fn default() -> Self {
        SimilarityConfig {
            threshold: 0.72,
            window: 3,
            min_tokens: 64,
            max_tokens: 256,
        }
    }
}

/// One chunk: byte range into `doc.text`, plus the heading path that applies (nearest
/// preceding heading texts by level, outermost first) and the first page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimChunk {
    /// Start of the chunk's first sentence in `doc.text` (bytes).
    pub start: usize,
    /// End of the chunk's last sentence in `doc.text` (bytes).
    pub end: usize,
    /// Heading texts in force, outermost first (empty before the first heading).
    pub headings: Vec<String>,
    /// Page of the block where the chunk starts (0 when the source has no pages).
    pub page: u32,
}

/// Chunks of the non-heading blocks of `doc`, in document order, deterministic for a
/// deterministic `embed` and `tokens` (see the module documentation for the algorithm).
///
/// `embed` receives batches of at most [`EMBED_BATCH`] sentence texts and returns one vector
/// per text (normalised here; a missing vector counts as a zero vector, similarity 0). It is
/// not called for sections of a single sentence, nor at all for a document without text; its
/// first error is returned as is.
///
/// Chunks never span a heading, never overlap, and together cover every sentence once, in
/// order; each runs from the start of its first sentence (or piece) to the end of its last.
pub fn chunk_by_similarity<E>(
    doc: &TextDocument,
    cfg: &SimilarityConfig,
    tokens: &dyn TokenCount,
    embed: &mut EmbedBatch<'_, E>,
) -> Result<Vec<SimChunk>, E> {
    let text = doc.text.as_str();
    let sections = sections(doc, cfg.max_tokens, tokens);

    // Embed the units of every section that has a gap to measure, once each.
    let texts: Vec<&str> = sections
        .iter()
        .filter(|s| s.units.len() > 1)
        .flat_map(|s| s.units.iter().map(|u| &text[u.range.clone()]))
        .collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for batch in texts.chunks(EMBED_BATCH) {
        let mut got = embed(batch)?;
        got.resize_with(batch.len(), Vec::new);
        vectors.extend(got.into_iter().map(normalised));
    }

    let mut out = Vec::new();
    let mut next_vector = 0;
    for section in &sections {
        let n = section.units.len();
        let vecs: &[Vec<f32>] = if n > 1 {
            next_vector += n;
            &vectors[next_vector - n..next_vector]
        } else {
            &[]
        };
        let ctx = Section {
            text,
            units: &section.units,
            vecs,
            window: cfg.window.max(1),
            threshold: cfg.threshold,
            min: cfg.min_tokens,
            max: cfg.max_tokens,
            tokens,
        };
        for (a, b) in ctx.chunks() {
            out.push(SimChunk {
                start: section.units[a].range.start,
                end: section.units[b].range.end,
                headings: section.headings.clone(),
                page: section.units[a].page,
            });
        }
    }
    Ok(out)
}

/// A sentence, or a piece of a sentence over `max_tokens`.
#[derive(Debug)]
struct Unit {
    /// Bytes in `doc.text`.
    range: Range<usize>,
    /// Page of the block it comes from.
    page: u32,
}

/// The units between two headings, with the heading path above them.
#[derive(Debug, Default)]
struct UnitSection {
    headings: Vec<String>,
    units: Vec<Unit>,
}

/// Sections of `doc` (only those with text), cut at every heading.
fn sections(doc: &TextDocument, max: usize, tokens: &dyn TokenCount) -> Vec<UnitSection> {
    let text = doc.text.as_str();
    let mut out = Vec::new();
    let mut path: Vec<(u8, String)> = Vec::new();
    let mut current = UnitSection::default();
    for block in &doc.blocks {
        let Some(block_text) = text.get(block.start..block.end) else {
            continue;
        };
        match block.kind {
            BlockKind::Heading(level) => {
                if !current.units.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                while path.last().is_some_and(|(l, _)| *l >= level) {
                    path.pop();
                }
                let title = block_text.split_whitespace().collect::<Vec<_>>().join(" ");
                if !title.is_empty() {
                    path.push((level, title));
                }
                current.headings = path.iter().map(|(_, t)| t.clone()).collect();
            }
            BlockKind::Paragraph | BlockKind::ListItem | BlockKind::Table => {
                for s in split_sentences(block_text) {
                    let range = block.start + s.start..block.start + s.end;
                    let page = block.page;
                    if tokens.tokens(&text[range.clone()]) <= max {
                        current.units.push(Unit { range, page });
                    } else {
                        for range in cut_long(text, range, max, tokens) {
                            current.units.push(Unit { range, page });
                        }
                    }
                }
            }
        }
    }
    if !current.units.is_empty() {
        out.push(current);
    }
    out
}

/// Cuts `range` of `text` into trimmed pieces of at most `max` tokens each, at the last word
/// boundary that fits, not right after an abbreviation (`art.`, `c.c.`) unless no other
/// boundary fits; inside a word (on a char boundary) only when a single word does not fit,
/// and one character at least per piece. Token counts are assumed to grow with the text.
fn cut_long(
    text: &str,
    range: Range<usize>,
    max: usize,
    tokens: &dyn TokenCount,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let end = range.end;
    let mut p = range.start;
    while p < end {
        let fits = |q: usize| tokens.tokens(&text[p..q]) <= max;
        if fits(end) {
            out.push(p..end);
            break;
        }
        // Ends of words: whitespace right after a non-whitespace character.
        let mut word_ends = Vec::new();
        let mut prev_space = true;
        for (o, c) in text[p..end].char_indices() {
            let space = c.is_whitespace();
            if space && !prev_space {
                word_ends.push(p + o);
            }
            prev_space = space;
        }
        let fitting = fitting_prefix(word_ends.len(), |k| fits(word_ends[k]));
        let piece_end = if fitting > 0 {
            let after_abbreviation =
                |q: usize| text.as_bytes()[q - 1] == b'.' && is_abbreviation_before(text, q - 1);
            word_ends[..fitting]
                .iter()
                .rev()
                .copied()
                .find(|&q| !after_abbreviation(q))
                .unwrap_or(word_ends[fitting - 1])
        } else {
            // The first word alone does not fit: cut it on a char boundary.
            let word_end = word_ends.first().copied().unwrap_or(end);
            let bounds: Vec<usize> = text[p..word_end]
                .char_indices()
                .skip(1)
                .map(|(o, _)| p + o)
                .collect();
            match fitting_prefix(bounds.len(), |k| fits(bounds[k])) {
                0 => bounds.first().copied().unwrap_or(word_end),
                k => bounds[k - 1],
            }
        };
        out.push(p..piece_end);
        let after = &text[piece_end..end];
        p = piece_end + (after.len() - after.trim_start().len());
    }
    out
}

/// How many of the candidates `0..n` fit, for a `fits` that holds up to some index and not
/// after it: galloping then binary search, so the cost follows the answer, not `n`.
fn fitting_prefix(n: usize, fits: impl Fn(usize) -> bool) -> usize {
    // Every index below `lo` fits; `hi` and above do not.
    let (mut lo, mut hi) = (0, n);
    let mut step = 1;
    while lo < hi {
        let probe = (lo + step - 1).min(hi - 1);
        if fits(probe) {
            lo = probe + 1;
            step *= 2;
        } else {
            hi = probe;
            break;
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// One section being chunked: units, their vectors (empty for a single unit) and settings.
struct Section<'a> {
    text: &'a str,
    units: &'a [Unit],
    vecs: &'a [Vec<f32>],
    window: usize,
    threshold: f32,
    min: usize,
    max: usize,
    tokens: &'a dyn TokenCount,
}

impl Section<'_> {
    /// Chunks as inclusive unit index pairs, in order.
    fn chunks(&self) -> Vec<(usize, usize)> {
        let n = self.units.len();
        if n <= 1 {
            return (0..n).map(|i| (i, i)).collect();
        }
        // Excess of every gap (gap `g` is between units `g` and `g + 1`), windows in the section.
        let gaps: Vec<f32> = (0..n - 1).map(|g| self.excess(0, g, n - 1)).collect();
        // Boundaries: gaps below the threshold that are the bottom of their dip.
        let mut chunks = Vec::new();
        let mut first = 0;
        for (g, &e) in gaps.iter().enumerate() {
            let bottom = (g == 0 || e < gaps[g - 1]) && gaps.get(g + 1).is_none_or(|&n| e <= n);
            if e < 0.0 && bottom {
                chunks.push((first, g));
                first = g + 1;
            }
        }
        chunks.push((first, n - 1));
        let mut sized = Vec::with_capacity(chunks.len());
        for (a, b) in chunks {
            self.split(a, b, &gaps, &mut sized);
        }
        self.merge(sized)
    }

    /// Tokens of the text from the start of unit `a` to the end of unit `b`.
    fn size(&self, a: usize, b: usize) -> usize {
        let (s, e) = (self.units[a].range.start, self.units[b].range.end);
        self.tokens.tokens(&self.text[s..e])
    }

    /// Similarity across the gap after unit `g`, minus the threshold for the window sizes used,
    /// with windows kept within units `lo..=hi`.
    fn excess(&self, lo: usize, g: usize, hi: usize) -> f32 {
        let left = lo.max((g + 1).saturating_sub(self.window))..g + 1;
        let right = g + 1..(g + 1).saturating_add(self.window).min(hi + 1);
        let sim = cosine(
            &mean(&self.vecs[left.clone()]),
            &mean(&self.vecs[right.clone()]),
        );
        sim - shape_threshold(self.threshold, self.window, left.len(), right.len())
    }

    /// Pushes `a..=b` to `out`, split at lowest-excess gaps until every part fits `max`.
    fn split(&self, a: usize, b: usize, gaps: &[f32], out: &mut Vec<(usize, usize, usize)>) {
        let mut stack = vec![(a, b)];
        while let Some((a, b)) = stack.pop() {
            let size = self.size(a, b);
            if a == b || size <= self.max {
                out.push((a, b, size));
                continue;
            }
            let mut order: Vec<usize> = (a..b).collect();
            order.sort_by(|&x, &y| gaps[x].total_cmp(&gaps[y]).then(x.cmp(&y)));
            let cut = order
                .iter()
                .copied()
                .find(|&g| self.size(a, g) >= self.min && self.size(g + 1, b) >= self.min)
                .unwrap_or(order[0]);
            stack.push((cut + 1, b));
            stack.push((a, cut));
        }
    }

    /// Merges chunks (with their sizes) under `min` into a neighbour: repeatedly across the
    /// boundary with the highest excess among those next to a chunk under `min`, skipping
    /// boundaries where the merged chunk would exceed `max`.
    fn merge(&self, mut chunks: Vec<(usize, usize, usize)>) -> Vec<(usize, usize)> {
        // Excess across the boundary after each chunk but the last; `None` once a merge there is
        // known to exceed `max` (for good: chunks only grow).
        let mut bounds: Vec<Option<f32>> = chunks
            .windows(2)
            .map(|w| Some(self.boundary(w[0], w[1])))
            .collect();
        loop {
            let small = |j: usize| chunks[j].2 < self.min || chunks[j + 1].2 < self.min;
            let best = (0..bounds.len())
                .filter(|&j| small(j))
                .filter_map(|j| bounds[j].map(|e| (j, e)))
                .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)));
            let Some((j, _)) = best else {
                break;
            };
            let (a, b) = (chunks[j].0, chunks[j + 1].1);
            let size = self.size(a, b);
            if size > self.max {
                bounds[j] = None;
                continue;
            }
            chunks[j] = (a, b, size);
            chunks.remove(j + 1);
            bounds.remove(j);
            if j > 0 && bounds[j - 1].is_some() {
                bounds[j - 1] = Some(self.boundary(chunks[j - 1], chunks[j]));
            }
            if j < bounds.len() && bounds[j].is_some() {
                bounds[j] = Some(self.boundary(chunks[j], chunks[j + 1]));
            }
        }
        chunks.into_iter().map(|(a, b, _)| (a, b)).collect()
    }

    /// Excess across the boundary between adjacent chunks `x` and `y`, windows kept in them.
    fn boundary(&self, x: (usize, usize, usize), y: (usize, usize, usize)) -> f32 {
        self.excess(x.0, x.1, y.1)
    }
}

/// The threshold for windows of `a` and `b` units that matches `threshold` for two windows of
/// `window` units, on text whose sentences are all equally similar (module documentation).
fn shape_threshold(threshold: f32, window: usize, a: usize, b: usize) -> f32 {
    if (a == window && b == window) || !(threshold > 0.0 && threshold < 1.0) {
        return threshold;
    }
    let w = window as f32;
    // Pairwise similarity `p` at which two full windows score exactly `threshold`.
    let p = threshold / (w - (w - 1.0) * threshold);
    let norm = |k: usize| ((1.0 + (k as f32 - 1.0) * p) / k as f32).sqrt();
    p / (norm(a.max(1)) * norm(b.max(1)))
}

/// `v` scaled to unit length; zero (all components) when its length is zero or not finite.
fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
    v
}

/// Component-wise mean (vectors of different lengths padded with zeros).
fn mean(vecs: &[Vec<f32>]) -> Vec<f32> {
    let dim = vecs.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0.0f32; dim];
    for v in vecs {
        for (o, x) in out.iter_mut().zip(v) {
            *o += x;
        }
    }
    let n = vecs.len().max(1) as f32;
    out.iter_mut().for_each(|o| *o /= n);
    out
}

/// Cosine similarity; 0 when either vector is zero or the result is not finite.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    let c = dot / (na * nb);
    if na > 0.0 && nb > 0.0 && c.is_finite() {
        c
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::textdoc::Block;
    use std::convert::Infallible;

    fn fixture(path: &str) -> String {
        let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
    }

    const THESIS: &str = "doctrine/tesi_piras_01-prova-scientifica.md";
    const DECISION: &str = "jurisprudence/cass_snciv2025530039O.txt";

    /// Dimensions of the fake embedding.
    const DIM: usize = 512;

    /// Fake deterministic embedder: content words (four letters or more, not in a short
    /// stop-word list), lowercased, cut to a six-letter stem, hashed (FNV-1a, with a sign bit
    /// so that collisions cancel out on average) into `DIM` dimensions and counted. Shared
    /// vocabulary gives the similarity.
    fn bag_of_words(text: &str) -> Vec<f32> {
        const STOP: &[&str] = &[
            "agli", "alla", "alle", "anche", "come", "dall", "dalla", "dalle", "degli", "dell",
            "della", "delle", "dello", "essere", "loro", "nell", "nella", "nelle", "nello", "ogni",
            "però", "quale", "quali", "quando", "quella", "quello", "questa", "questo", "senza",
            "solo", "sono", "stata", "stato", "sull", "sulla", "tutti",
        ];
        let mut v = vec![0.0f32; DIM];
        for w in text.split(|c: char| !c.is_alphabetic()) {
            let w = w.to_lowercase();
            if w.chars().count() < 4 || STOP.contains(&w.as_str()) {
                continue;
            }
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for c in w.chars().take(6) {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
            }
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[(h % DIM as u64) as usize] += sign;
        }
        v
    }

    fn fake_embed(batch: &[&str]) -> Result<Vec<Vec<f32>>, Infallible> {
        Ok(batch.iter().map(|t| bag_of_words(t)).collect())
    }

    /// Fake token counter: words * 1.3, rounded up.
    fn fake_tokens(text: &str) -> usize {
        (text.split_whitespace().count() * 13).div_ceil(10)
    }

    fn run(doc: &TextDocument, cfg: &SimilarityConfig) -> Vec<SimChunk> {
        chunk_by_similarity(doc, cfg, &fake_tokens, &mut fake_embed).unwrap()
    }

    fn paragraph(text: &str) -> TextDocument {
        TextDocument::from_blocks(vec![(BlockKind::Paragraph, 0, text.into())], vec![], 0)
    }

    fn config(
        threshold: f32,
        window: usize,
        min_tokens: usize,
        max_tokens: usize,
    ) -> SimilarityConfig {
        SimilarityConfig {
            threshold,
            window,
            min_tokens,
            max_tokens,
        }
    }

    /// Test-only Markdown splitter: blocks on blank lines; `#` lines are headings, `- ` blocks
    /// list items; a new page every eight blocks.
    fn markdown(md: &str) -> TextDocument {
        let mut blocks = Vec::new();
        for (i, block) in md.split("\n\n").enumerate() {
            let block = block.trim();
            let page = 1 + i as u32 / 8;
            let hashes = block.chars().take_while(|&c| c == '#').count();
            if hashes > 0 && !block.contains('\n') {
                let title = block[hashes..].trim().to_string();
                blocks.push((BlockKind::Heading(hashes as u8), page, title));
            } else if block.starts_with("- ") {
                blocks.push((BlockKind::ListItem, page, block.to_string()));
            } else {
                blocks.push((BlockKind::Paragraph, page, block.to_string()));
            }
        }
        let pages = blocks.last().map_or(0, |b| b.1);
        TextDocument::from_blocks(blocks, vec![], pages)
    }

    /// `count` sentences of `text` from the one starting with `from`, whitespace collapsed.
    fn passage(text: &str, from: &str, count: usize) -> String {
        let at = text
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} not found"));
        let rest = &text[at..];
        let sentences = split_sentences(rest);
        let words = rest[..sentences[count - 1].end].split_whitespace();
        let p = words.collect::<Vec<_>>().join(" ");
        assert_eq!(split_sentences(&p).len(), count, "{p}");
        assert!((550..=1500).contains(&p.len()), "{} {p}", p.len());
        p
    }

    /// Index of the section (headings seen so far) of byte `at`.
    fn section_of(doc: &TextDocument, at: usize) -> usize {
        doc.blocks
            .iter()
            .filter(|b| matches!(b.kind, BlockKind::Heading(_)) && b.end <= at)
            .count()
    }

    /// Whether the chunk text ends right after an abbreviation that cannot end a sentence
    /// (`art.`, `n.`, `cfr.`, an initial) or after `c.c.` that the sentence splitter did not
    /// take as a sentence end.
    fn ends_badly(text: &str, end: usize, sentence_ends: &[usize]) -> bool {
        let s = &text[..end];
        let dot_abbrev = s.ends_with('.') && is_abbreviation_before(text, end - 1);
        s.ends_with("art.") || (dot_abbrev && !sentence_ends.contains(&end))
    }

    /// Everything the chunker promises, on any document and settings.
    fn check(doc: &TextDocument, cfg: &SimilarityConfig, chunks: &[SimChunk]) {
        let text = &doc.text;
        let size = |a: usize, b: usize| fake_tokens(&text[a..b]);
        let body: Vec<&Block> = doc
            .blocks
            .iter()
            .filter(|b| !matches!(b.kind, BlockKind::Heading(_)))
            .collect();
        let sentences: Vec<Range<usize>> = body
            .iter()
            .flat_map(|b| {
                let t = doc.block_text(b);
                split_sentences(t)
                    .into_iter()
                    .map(|s| b.start + s.start..b.start + s.end)
            })
            .collect();
        let ends: Vec<usize> = sentences.iter().map(|s| s.end).collect();
        for (k, c) in chunks.iter().enumerate() {
            let s = &text[c.start..c.end];
            assert!(!s.is_empty() && s == s.trim(), "chunk {k}: {s:?}");
            if k > 0 {
                assert!(chunks[k - 1].end < c.start, "order {k}");
            }
            // Never across a heading; the right heading path and page.
            assert_eq!(
                section_of(doc, c.start),
                section_of(doc, c.end),
                "chunk {k}"
            );
            let mut path: Vec<(u8, &str)> = Vec::new();
            for b in doc.blocks.iter().filter(|b| b.end <= c.start) {
                if let BlockKind::Heading(level) = b.kind {
                    path.retain(|(l, _)| *l < level);
                    path.push((level, doc.block_text(b)));
                }
            }
            let want: Vec<&str> = path.iter().map(|(_, t)| *t).collect();
            assert_eq!(c.headings, want, "chunk {k}");
            let block = doc
                .blocks
                .iter()
                .find(|b| b.start <= c.start && c.start < b.end);
            assert_eq!(Some(c.page), block.map(|b| b.page), "chunk {k}");
            // Sizes.
            let tokens = size(c.start, c.end);
            assert!(tokens <= cfg.max_tokens, "chunk {k}: {tokens} tokens");
            if tokens < cfg.min_tokens {
                let sec = section_of(doc, c.start);
                let same = |j: usize| chunks.get(j).filter(|o| section_of(doc, o.start) == sec);
                let prev = k.checked_sub(1).and_then(same);
                let next = same(k + 1);
                for n in prev.iter().chain(next.iter()) {
                    let (a, b) = (n.start.min(c.start), n.end.max(c.end));
                    assert!(size(a, b) > cfg.max_tokens, "chunk {k} could merge");
                }
            }
            assert!(!ends_badly(text, c.end, &ends), "chunk {k}: {s:?}");
        }
        // Every sentence in exactly one chunk (pieces of a sentence over `max_tokens` in
        // consecutive ones); every non-whitespace byte of the body in exactly one chunk.
        for s in &sentences {
            let holders: Vec<&SimChunk> = chunks
                .iter()
                .filter(|c| c.start < s.end && s.start < c.end)
                .collect();
            assert!(!holders.is_empty(), "sentence {s:?} lost");
            if fake_tokens(&text[s.clone()]) <= cfg.max_tokens {
                assert_eq!(holders.len(), 1, "sentence {s:?}");
                assert!(holders[0].start <= s.start && s.end <= holders[0].end);
            }
        }
        let mut covered = 0;
        for b in &body {
            for (i, ch) in doc.block_text(b).char_indices() {
                let at = b.start + i;
                if !ch.is_whitespace() {
                    let n = chunks
                        .iter()
                        .filter(|c| c.start <= at && at < c.end)
                        .count();
                    assert_eq!(n, 1, "byte {at}");
                    covered += 1;
                }
            }
        }
        let in_chunks: usize = chunks
            .iter()
            .map(|c| {
                text[c.start..c.end]
                    .chars()
                    .filter(|ch| !ch.is_whitespace())
                    .count()
            })
            .sum();
        assert_eq!(covered, in_chunks, "heading text inside a chunk");
    }

    /// Passages for the joins: start of the first sentence, number of sentences.
    const THESIS_PASSAGES: &[(&str, usize)] = &[
        ("Il problema fondamentale era la possibilità", 4),
        ("Nel software libero non è necessario", 4),
        ("Dato che l'introduzione dei reati informatici", 4),
        ("Tuttavia, rimane sempre la possibilità", 4),
        ("Negli Stati Uniti, la prima legge fu approvata", 4),
    ];
    const DECISION_PASSAGES: &[(&str, usize)] = &[
        ("In punto di fatto", 3),
        ("Non sarebbe sufficiente, dunque", 3),
        ("La CTP di Alessandria", 3),
        ("Sosteneva, inoltre, la violazione", 3),
    ];

    #[test]
    fn unrelated_passages_split_at_the_join() {
        let (thesis, decision) = (fixture(THESIS), fixture(DECISION));
        let mut exact = 0;
        let mut cases = 0;
        for &(t, tn) in THESIS_PASSAGES {
            for &(d, dn) in DECISION_PASSAGES {
                let a = passage(&thesis, t, tn);
                let b = passage(&decision, d, dn);
                let doc = paragraph(&format!("{a} {b}"));
                let sentences = split_sentences(&doc.text);
                let join = sentences.iter().position(|s| s.start > a.len()).unwrap();
                let total = fake_tokens(&doc.text);
                for cfg in [
                    // The defaults: with bag-of-words vectors every gap is under 0.72, so the
                    // dips and the merges decide.
                    config(0.72, 3, 60, 1000),
                    config(0.72, 2, 60, 1000),
                    // A threshold on the scale of the fake embedder.
                    config(0.25, 3, 60, 1000),
                    // No threshold cut at all: one split because of `max_tokens`.
                    config(0.0, 3, 60, total - 1),
                ] {
                    let chunks = run(&doc, &cfg);
                    check(&doc, &cfg, &chunks);
                    let starts: Vec<usize> = chunks[1..]
                        .iter()
                        .map(|c| sentences.iter().position(|s| s.start == c.start).unwrap())
                        .collect();
                    let what = format!("{t:?} + {d:?}, {cfg:?}: join {join}, starts {starts:?}");
                    assert!(!starts.is_empty() && starts.len() <= 2, "{what}");
                    assert!(
                        starts.iter().any(|&s| s + 1 >= join && s <= join + 1),
                        "{what}"
                    );
                    exact += usize::from(starts.contains(&join));
                    cases += 1;
                }
            }
        }
        assert!(
            exact * 10 >= cases * 8,
            "{exact} of {cases} exactly at the join"
        );
    }

    #[test]
    fn whole_thesis() {
        let doc = markdown(&fixture(THESIS));
        assert!(
            doc.blocks
                .iter()
                .filter(|b| b.kind == BlockKind::Heading(3))
                .count()
                >= 3
        );
        for cfg in [
            SimilarityConfig::default(),
            config(0.25, 3, 64, 256),
            config(0.72, 2, 100, 400),
        ] {
            let mut calls = Vec::new();
            let mut embed = |batch: &[&str]| {
                calls.push(batch.len());
                fake_embed(batch)
            };
            let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
            check(&doc, &cfg, &chunks);
            // Each sentence embedded once, in batches of at most 32.
            assert!(
                calls.iter().all(|&n| (1..=EMBED_BATCH).contains(&n)),
                "{calls:?}"
            );
            let sentences: usize = doc
                .blocks
                .iter()
                .filter(|b| !matches!(b.kind, BlockKind::Heading(_)))
                .map(|b| split_sentences(doc.block_text(b)).len())
                .sum();
            let embedded: usize = calls.iter().sum();
            assert!(
                embedded >= sentences && embedded <= sentences + 20,
                "{embedded}"
            );
            // Sizes spread between the bounds, not pinned at either.
            let sizes: Vec<usize> = chunks
                .iter()
                .map(|c| fake_tokens(&doc.text[c.start..c.end]))
                .collect();
            let (lo, hi) = (cfg.min_tokens * 11 / 10, cfg.max_tokens * 9 / 10);
            let middle = sizes.iter().filter(|&&s| lo < s && s < hi).count();
            assert!(middle * 2 >= sizes.len(), "{cfg:?}: {sizes:?}");
            let under = sizes.iter().filter(|&&s| s < cfg.min_tokens).count();
            assert!(under * 10 <= sizes.len(), "{cfg:?}: {sizes:?}");
            assert!(chunks.len() >= 20, "{}", chunks.len());
            assert!(chunks.iter().any(|c| c.headings.len() == 3));
            assert!(chunks.iter().any(|c| c.page > 1));
            // Deterministic.
            assert_eq!(run(&doc, &cfg), chunks);
        }
    }

    #[test]
    fn whole_decision() {
        // PDF text: no headings, line-wrapped sentences, citations full of abbreviations.
        let text = fixture(DECISION);
        let doc = TextDocument::from_blocks(
            text.split("\n\n")
                .map(|b| (BlockKind::Paragraph, 1, b.to_string()))
                .collect(),
            vec![],
            1,
        );
        for cfg in [SimilarityConfig::default(), config(0.25, 3, 30, 80)] {
            let chunks = run(&doc, &cfg);
            check(&doc, &cfg, &chunks);
            assert!(chunks.iter().all(|c| c.headings.is_empty() && c.page == 1));
        }
    }

    /// Embedder for planted topics: a sentence gets the unit vector of its first letter.
    fn by_initial(batch: &[&str]) -> Result<Vec<Vec<f32>>, Infallible> {
        Ok(batch
            .iter()
            .map(|t| {
                let mut v = vec![0.0; 26];
                let c = t.bytes().next().unwrap_or(b'a').to_ascii_lowercase();
                v[usize::from(c.saturating_sub(b'a')) % 26] = 1.0;
                v
            })
            .collect())
    }

    fn texts(doc: &TextDocument, chunks: &[SimChunk]) -> Vec<String> {
        chunks
            .iter()
            .map(|c| doc.text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn one_shift_gives_one_boundary() {
        let text = "Alfa uno. Alfa due. Alfa tre. Alfa quattro. Alfa cinque. \
                    Beta uno. Beta due. Beta tre. Beta quattro. Beta cinque.";
        let doc = paragraph(text);
        for window in 1..=4 {
            let cfg = config(0.72, window, 0, 1000);
            let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut by_initial).unwrap();
            assert_eq!(
                texts(&doc, &chunks),
                [
                    "Alfa uno. Alfa due. Alfa tre. Alfa quattro. Alfa cinque.",
                    "Beta uno. Beta due. Beta tre. Beta quattro. Beta cinque."
                ],
                "window {window}"
            );
        }
        // Three topics, the middle one short: two boundaries.
        let doc = paragraph("Alfa uno. Alfa due. Alfa tre. Alfa quattro. Gamma uno. Gamma due. Delta uno. Delta due. Delta tre. Delta quattro.");
        let cfg = config(0.72, 2, 0, 1000);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut by_initial).unwrap();
        assert_eq!(
            texts(&doc, &chunks),
            [
                "Alfa uno. Alfa due. Alfa tre. Alfa quattro.",
                "Gamma uno. Gamma due.",
                "Delta uno. Delta due. Delta tre. Delta quattro."
            ]
        );
        // One topic: one chunk, whatever the window; below the threshold everywhere: cut
        // at every dip, then merged back up to `min_tokens`.
        let doc = paragraph("Alfa uno. Alfa due. Alfa tre. Alfa quattro. Alfa cinque.");
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut by_initial).unwrap();
        assert_eq!(chunks.len(), 1);
    }

    #[test]
    fn small_chunks_merge_into_the_more_similar_neighbour() {
        // "Beta" is a topic of its own but too small: it joins the chunk it resembles more.
        let text = "Alfa uno. Alfa due. Alfa tre. Beta uno. Beta due. \
                    Bravo uno. Bravo due. Bravo tre. Bravo quattro.";
        let doc = paragraph(text);
        let mut embed = |batch: &[&str]| {
            Ok::<_, Infallible>(
                batch
                    .iter()
                    .map(|t| match &t[..2] {
                        "Al" => vec![1.0, 0.0, 0.0],
                        "Be" => vec![0.0, 0.6, 0.8],
                        _ => vec![0.0, 1.0, 0.0],
                    })
                    .collect(),
            )
        };
        // Without `min_tokens`: three topics.
        let cfg = config(0.9, 1, 0, 1000);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
        assert_eq!(chunks.len(), 3);
        // "Beta uno. Beta due." is 6 tokens.
        let cfg = config(0.9, 1, 7, 1000);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
        check(&doc, &cfg, &chunks);
        assert_eq!(
            texts(&doc, &chunks),
            [
                "Alfa uno. Alfa due. Alfa tre.",
                "Beta uno. Beta due. Bravo uno. Bravo due. Bravo tre. Bravo quattro."
            ]
        );
        // Into the other neighbour when the more similar one would grow over `max_tokens`
        // (Beta + Bravo is 16 tokens, Alfa + Beta 13).
        let cfg = config(0.9, 1, 7, 14);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
        check(&doc, &cfg, &chunks);
        assert_eq!(
            texts(&doc, &chunks),
            [
                "Alfa uno. Alfa due. Alfa tre. Beta uno. Beta due.",
                "Bravo uno. Bravo due. Bravo tre. Bravo quattro."
            ]
        );
        // Both too big: it stays small.
        let cfg = config(0.9, 1, 7, 12);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
        check(&doc, &cfg, &chunks);
        assert_eq!(texts(&doc, &chunks)[1], "Beta uno. Beta due.");
    }

    #[test]
    fn over_max_splits_at_the_lowest_gap_keeping_min() {
        // One topic for the threshold (0.1), but the similarity dips between the 4th and 5th
        // sentence; 8 sentences of 4 tokens (3 words * 1.3) do not fit in 20 tokens.
        let text = "Uno alfa beta. Uno gamma delta. Uno epsilon zeta. Uno eta theta. Due alfa beta. Due gamma delta. Due epsilon zeta. Due eta theta.";
        let doc = paragraph(text);
        let mut embed = |batch: &[&str]| {
            Ok::<_, Infallible>(
                batch
                    .iter()
                    .map(|t| {
                        if t.starts_with("Uno") {
                            vec![1.0, 0.2]
                        } else {
                            vec![0.2, 1.0]
                        }
                    })
                    .collect(),
            )
        };
        let cfg = config(0.1, 2, 8, 20);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
        assert_eq!(
            texts(&doc, &chunks),
            [
                "Uno alfa beta. Uno gamma delta. Uno epsilon zeta. Uno eta theta.",
                "Due alfa beta. Due gamma delta. Due epsilon zeta. Due eta theta."
            ]
        );
        check(&doc, &cfg, &chunks);
        // Tighter: still splits, every part fits and none is below `min_tokens`.
        let cfg = SimilarityConfig {
            max_tokens: 12,
            ..cfg
        };
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut embed).unwrap();
        check(&doc, &cfg, &chunks);
        assert!(chunks.len() >= 3);
    }

    #[test]
    fn headings_are_hard_boundaries() {
        let doc = TextDocument::from_blocks(
            vec![
                (
                    BlockKind::Paragraph,
                    1,
                    "Premessa senza titolo. Ancora premessa.".into(),
                ),
                (BlockKind::Heading(1), 1, "Capitolo primo".into()),
                (BlockKind::Heading(2), 1, "Sezione uno".into()),
                (
                    BlockKind::Paragraph,
                    2,
                    "Testo della sezione uno. Altro testo.".into(),
                ),
                (
                    BlockKind::ListItem,
                    2,
                    "- una voce; - un'altra voce.".into(),
                ),
                (BlockKind::Heading(3), 3, "Paragrafo".into()),
                (BlockKind::Paragraph, 3, "Testo del paragrafo.".into()),
                (BlockKind::Heading(2), 4, "Sezione due".into()),
                (BlockKind::Table, 4, "a | b\nc | d".into()),
                (BlockKind::Heading(1), 5, "Capitolo secondo".into()),
                (BlockKind::Heading(2), 5, "Vuota".into()),
                (BlockKind::Heading(3), 5, "Anche questa".into()),
                (BlockKind::Paragraph, 6, "Fine.".into()),
            ],
            vec![],
            6,
        );
        // Everything similar, no size limits that matter: one chunk per section.
        let cfg = config(-1.0, 3, 1000, 1000);
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut by_initial).unwrap();
        check(&doc, &cfg, &chunks);
        let got: Vec<(&str, Vec<&str>, u32)> = chunks
            .iter()
            .map(|c| {
                let h = c.headings.iter().map(String::as_str).collect();
                (&doc.text[c.start..c.end], h, c.page)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Premessa senza titolo. Ancora premessa.", vec![], 1),
                (
                    "Testo della sezione uno. Altro testo.\n\n- una voce; - un'altra voce.",
                    vec!["Capitolo primo", "Sezione uno"],
                    2
                ),
                (
                    "Testo del paragrafo.",
                    vec!["Capitolo primo", "Sezione uno", "Paragrafo"],
                    3
                ),
                ("a | b\nc | d", vec!["Capitolo primo", "Sezione due"], 4),
                (
                    "Fine.",
                    vec!["Capitolo secondo", "Vuota", "Anche questa"],
                    6
                ),
            ]
        );
    }

    #[test]
    fn abbreviations_never_end_a_chunk() {
        // Tiny limits force a boundary at nearly every sentence; `art.` and the `c.c.` inside
        // a sentence never end one.
        let text = "La responsabilità è regolata dall'art. 2043 c.c. e dall'art. 2059 c.c. nel \
                    caso di danno non patrimoniale. Il danno va provato ai sensi dell'art. 2697 \
                    c.c. dal danneggiato. Si veda anche l'art. 1218 c.c. Cfr. artt. 1223 ss. c.c. \
                    sul nesso di causalità.";
        let sentences: Vec<&str> = split_sentences(text)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(sentences.len(), 4);
        assert!(sentences[2].ends_with("1218 c.c."));
        let doc = paragraph(text);
        for max in [6, 12, 20, 40] {
            let cfg = config(0.99, 1, 0, max);
            let chunks = run(&doc, &cfg);
            check(&doc, &cfg, &chunks);
            assert!(chunks.len() >= 2);
            for c in &chunks {
                let s = &doc.text[c.start..c.end];
                for abbrev in ["art.", "artt.", "Cfr.", "ss."] {
                    assert!(!s.ends_with(abbrev), "{max}: {s:?}");
                }
                // `c.c.` ends a chunk only where it ends a sentence.
                assert!(
                    !s.ends_with("c.c.") || s.ends_with("1218 c.c."),
                    "{max}: {s:?}"
                );
            }
        }
    }

    #[test]
    fn long_sentence_is_cut_at_word_boundaries() {
        let sentence = format!(
            "Premessa breve. {}fine della frase lunga. Chiusa.",
            "ai sensi dell'art. 360 c.p.c. la nullità è dedotta e ".repeat(60)
        );
        let doc = paragraph(&sentence);
        let cfg = config(0.72, 3, 20, 50);
        let chunks = run(&doc, &cfg);
        check(&doc, &cfg, &chunks);
        assert!(chunks.len() >= 10);
        for c in &chunks {
            let s = &doc.text[c.start..c.end];
            assert!(!s.ends_with("art."), "{s:?}");
            let after = &doc.text[c.end..];
            assert!(after.is_empty() || after.starts_with(char::is_whitespace));
        }
        // A single word over the limit is cut inside, on char boundaries.
        let doc = paragraph(&format!("Inizio. {} fine.", "è".repeat(40)));
        let chars = |t: &str| t.chars().count();
        let cfg = config(0.72, 3, 0, 10);
        let chunks = chunk_by_similarity(&doc, &cfg, &chars, &mut fake_embed).unwrap();
        assert!(chunks
            .iter()
            .all(|c| chars(&doc.text[c.start..c.end]) <= 10));
        let covered: usize = chunks
            .iter()
            .map(|c| chars(&doc.text[c.start..c.end]))
            .sum();
        assert_eq!(covered, chars(&doc.text) - 2);
    }

    #[test]
    fn edge_cases() {
        let cfg = SimilarityConfig::default();
        let mut calls = 0;
        let mut counting = |batch: &[&str]| {
            calls += 1;
            fake_embed(batch)
        };
        // Empty document; headings only: no chunk, no embedding.
        let empty = TextDocument::from_blocks(vec![], vec![], 0);
        assert!(
            chunk_by_similarity(&empty, &cfg, &fake_tokens, &mut counting)
                .unwrap()
                .is_empty()
        );
        let headings = TextDocument::from_blocks(
            vec![
                (BlockKind::Heading(1), 1, "Titolo".into()),
                (BlockKind::Heading(2), 1, "Sottotitolo".into()),
            ],
            vec![],
            1,
        );
        let got = chunk_by_similarity(&headings, &cfg, &fake_tokens, &mut counting).unwrap();
        assert!(got.is_empty());
        // One sentence: one chunk, nothing to compare, no embedding.
        let one = TextDocument::from_blocks(
            vec![
                (BlockKind::Heading(1), 3, "Titolo".into()),
                (
                    BlockKind::Paragraph,
                    4,
                    "  Il ricorso è infondato.  ".into(),
                ),
            ],
            vec![],
            4,
        );
        let got = chunk_by_similarity(&one, &cfg, &fake_tokens, &mut counting).unwrap();
        assert_eq!(calls, 0);
        assert_eq!(
            got,
            vec![SimChunk {
                start: 8,
                end: 32,
                headings: vec!["Titolo".into()],
                page: 4
            }]
        );
        assert_eq!(&one.text[8..32], "Il ricorso è infondato.");
        // Zero, missing or odd vectors: no panic, every sentence still chunked.
        let doc = paragraph("Primo. Secondo. Terzo. Quarto.");
        let mut odd = |batch: &[&str]| {
            Ok::<_, Infallible>(match batch.len() {
                0 | 1 => vec![],
                n => (0..n - 1).map(|i| vec![f32::NAN; i]).collect(),
            })
        };
        let chunks = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut odd).unwrap();
        check(&doc, &cfg, &chunks);
    }

    #[test]
    fn embed_errors_propagate() {
        let cfg = SimilarityConfig::default();
        let doc = paragraph("Primo periodo. Secondo periodo.");
        let mut failing = |_: &[&str]| Err::<Vec<Vec<f32>>, _>("model gone");
        assert_eq!(
            chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut failing),
            Err("model gone")
        );
        // An error in a later batch, after earlier ones succeeded.
        let text: String = (0..70).map(|i| format!("Periodo numero {i}. ")).collect();
        let doc = paragraph(&text);
        let mut calls = 0;
        let mut second_fails = |batch: &[&str]| {
            calls += 1;
            if calls == 2 {
                Err(calls)
            } else {
                Ok(batch.iter().map(|t| bag_of_words(t)).collect())
            }
        };
        let got = chunk_by_similarity(&doc, &cfg, &fake_tokens, &mut second_fails);
        assert_eq!(got, Err(2));
        assert_eq!(calls, 2);
    }

    #[test]
    fn takes_boxed_and_reborrowed_embedders() {
        type EmbedFn<'a> = dyn FnMut(&[&str]) -> Result<Vec<Vec<f32>>, String> + 'a;
        fn through(doc: &TextDocument, embed: &mut EmbedFn<'_>) -> Result<usize, String> {
            let cfg = SimilarityConfig::default();
            Ok(chunk_by_similarity(doc, &cfg, &fake_tokens, &mut *embed)?.len())
        }
        let doc = paragraph("Primo periodo. Secondo periodo.");
        let mut boxed: Box<EmbedFn<'_>> =
            Box::new(|b: &[&str]| Ok(b.iter().map(|t| bag_of_words(t)).collect()));
        assert_eq!(through(&doc, &mut *boxed), Ok(1));
        let mut failing = |_: &[&str]| Err("no model".to_string());
        assert_eq!(through(&doc, &mut failing), Err("no model".to_string()));
    }

    #[test]
    fn fitting_prefix_finds_the_boundary() {
        for n in 0..40 {
            for limit in 0..=n {
                let probes = std::cell::Cell::new(0);
                let got = fitting_prefix(n, |k| {
                    probes.set(probes.get() + 1);
                    k < limit
                });
                assert_eq!(got, limit, "{n} {limit}");
                assert!(probes.get() <= 2 * (usize::BITS - limit.leading_zeros()) as usize + 2);
            }
        }
    }

    #[test]
    fn edge_windows_get_a_matching_threshold() {
        assert_eq!(shape_threshold(0.72, 3, 3, 3), 0.72);
        let p = shape_threshold(0.72, 3, 1, 1);
        assert!((p - 0.72 / 1.56).abs() < 1e-6, "{p}");
        // Homogeneous text at pairwise similarity p scores exactly the shaped threshold.
        for (a, b) in [(1, 3), (2, 3), (1, 2), (2, 2)] {
            let t = shape_threshold(0.72, 3, a, b);
            assert!(p < t && t < 0.72, "{a} {b} {t}");
        }
        assert_eq!(shape_threshold(0.0, 3, 1, 3), 0.0);
        assert_eq!(shape_threshold(1.5, 3, 1, 3), 1.5);
    }
}

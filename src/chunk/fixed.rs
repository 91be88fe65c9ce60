//! Size-based fallback chunker: packs whole sentences into chunks of at most `max_chars`
//! characters, consecutive chunks sharing about `overlap_chars` characters of whole
//! sentences. Used for text that has no structure of its own (doctrine, decisions, free
//! text); norms are chunked by article instead.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::sentences::{is_abbreviation_before, split_sentences};

/// Size-based chunker over sentences. Sizes are in characters (`char`s), not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FixedChunker {
    /// Longest chunk, in characters. A sentence longer than this is cut at word boundaries
    /// into pieces that each fit.
    pub max_chars: usize,
    /// Characters of whole sentences repeated at the start of the next chunk (taken as at
    /// most `max_chars / 2`). `0` turns overlap off.
    pub overlap_chars: usize,
}

impl Default for FixedChunker {
    fn default() -> Self {
        FixedChunker {
            max_chars: 4000,
            overlap_chars: 400,
        }
    }
}

impl FixedChunker {
    /// Byte ranges of chunks over `text`, in order, deterministic.
    ///
    /// * A chunk is a run of consecutive sentences (from [`split_sentences`]), from the start
    ///   of its first to the end of its last, at most `max_chars` characters long. A sentence
    ///   longer than `max_chars` is cut into pieces at word boundaries (never right after an
    ///   abbreviation such as `art.`; mid-word only if a single word is too long), and each
    ///   piece then counts as a sentence, so every chunk fits.
    /// * Every sentence (or piece) is in at least one chunk; chunk starts and ends increase.
    /// * Overlap: when the previous chunk has more than one sentence, the next chunk starts
    ///   with its last sentences, as many as fit in `overlap_chars` and at least one, but never
    ///   the whole previous chunk. A last sentence longer than `2 * overlap_chars` is not
    ///   repeated: the chunk is ended one or more sentences earlier when that keeps it at
    ///   least half full (so the overlap can be a short sentence), otherwise the next chunk
    ///   starts without overlap. Overlap is also dropped, sentence by sentence, when it would
    ///   not leave room for the next new sentence.
    pub fn chunk(&self, text: &str) -> Vec<Range<usize>> {
        let max = self.max_chars.max(1);
        let units = units(text, max);
        let m = units.len();
        if m == 0 {
            return Vec::new();
        }
        let (cs, ce) = char_offsets(text, &units);
        // Characters from the start of unit `a` to the end of unit `b`.
        let span = |a: usize, b: usize| ce[b] - cs[a];
        // At most half a chunk of overlap, so every chunk moves on by half a chunk or more.
        let overlap = self.overlap_chars.min(max / 2);
        let cap = overlap.saturating_mul(2);
        let mut chunks = Vec::new();
        let mut first = 0;
        // Every chunk must end past the previous one.
        let mut min_last = 0;
        loop {
            let mut last = first;
            while last + 1 < m && span(first, last + 1) <= max {
                last += 1;
            }
            if overlap > 0 && last + 1 < m && last > first && span(last, last) > cap {
                // End on a sentence short enough to repeat, if the chunk stays half full.
                let mut e = last - 1;
                while e > first && e >= min_last && span(e, e) > cap {
                    e -= 1;
                }
                if e > first && e >= min_last && span(e, e) <= cap && span(first, e) >= max / 2 {
                    last = e;
                }
            }
            chunks.push(units[first].start..units[last].end);
            if last + 1 >= m {
                break;
            }
            let mut next = last + 1;
            if overlap > 0 && last > first && span(last, last) <= cap {
                next = last;
                while next > first + 1 && span(next - 1, last) <= overlap {
                    next -= 1;
                }
            }
            while next <= last && span(next, last + 1) > max {
                next += 1;
            }
            min_last = last + 1;
            first = next;
        }
        chunks
    }
}

/// Sentences of `text`, those longer than `max` characters cut into pieces that fit.
fn units(text: &str, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for sentence in split_sentences(text) {
        let s = &text[sentence.clone()];
        if s.chars().nth(max).is_none() {
            out.push(sentence);
        } else {
            cut_long(text, sentence, max, &mut out);
        }
    }
    out
}

/// Cuts `range` of `text` into pieces of at most `max` characters at the last whitespace that
/// fits, preferring whitespace not preceded by an abbreviation; mid-word (on a char boundary)
/// only when a single word is longer than `max`.
fn cut_long(text: &str, range: Range<usize>, max: usize, out: &mut Vec<Range<usize>>) {
    let mut p = range.start;
    let end = range.end;
    while p < end {
        let rest = &text[p..end];
        let Some((off, _)) = rest.char_indices().nth(max) else {
            out.push(p..end);
            return;
        };
        let q = p + off;
        // Last whitespace in (p, q] (cutting there leaves at most `max` characters), not right
        // after an abbreviation if possible.
        let mut cut = None;
        let mut any_space = None;
        let q_is_space = text[q..].chars().next().is_some_and(char::is_whitespace);
        let candidates = std::iter::once(off).filter(|_| q_is_space).chain(
            rest[..off]
                .char_indices()
                .rev()
                .filter(|&(o, c)| o > 0 && c.is_whitespace())
                .map(|(o, _)| o),
        );
        for o in candidates {
            let w = p + o;
            any_space.get_or_insert(w);
            let prev_dot = text.as_bytes()[w - 1] == b'.';
            if !(prev_dot && is_abbreviation_before(text, w - 1)) {
                cut = Some(w);
                break;
            }
        }
        let piece_end = cut.or(any_space).unwrap_or(q);
        let piece = &text[p..piece_end];
        let trimmed = piece.trim_end();
        if !trimmed.is_empty() {
            out.push(p..p + trimmed.len());
        }
        // Next piece starts at the next non-whitespace character.
        let after = &text[piece_end..end];
        p = piece_end + (after.len() - after.trim_start().len());
    }
}

/// Character offsets of the starts and ends of `units` (sorted, disjoint byte ranges).
fn char_offsets(text: &str, units: &[Range<usize>]) -> (Vec<usize>, Vec<usize>) {
    let mut starts = Vec::with_capacity(units.len());
    let mut ends = Vec::with_capacity(units.len());
    let (mut byte, mut chars) = (0, 0);
    for u in units {
        chars += text[byte..u.start].chars().count();
        starts.push(chars);
        chars += text[u.start..u.end].chars().count();
        ends.push(chars);
        byte = u.end;
    }
    (starts, ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> String {
        let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
    }

    const THESIS: &str = "doctrine/tesi_piras_01-prova-scientifica.md";
    const DECISION: &str = "jurisprudence/cass_snciv2025530039O.txt";

    fn chars(text: &str, r: &Range<usize>) -> usize {
        text[r.clone()].chars().count()
    }

    /// Invariants that hold for any input and settings: chunks fit, are trimmed, in order,
    /// never contain one another, and together cover every non-whitespace character.
    fn check_chunks(text: &str, chunker: &FixedChunker, chunks: &[Range<usize>]) {
        let max = chunker.max_chars.max(1);
        let mut covered = 0;
        for (k, c) in chunks.iter().enumerate() {
            let s = text.get(c.clone()).expect("chunk on char boundaries");
            assert!(!s.is_empty() && s == s.trim(), "chunk {k}: {s:?}");
            assert!(s.chars().count() <= max, "chunk {k} too long");
            if k > 0 {
                let p = &chunks[k - 1];
                assert!(p.start < c.start && p.end < c.end, "order {p:?} {c:?}");
            }
            assert!(
                text[covered..c.start.max(covered)].trim().is_empty(),
                "gap before {k}"
            );
            covered = covered.max(c.end);
        }
        assert!(text[covered..].trim().is_empty(), "tail not covered");
        // Every sentence that fits is whole in some chunk.
        for s in split_sentences(text) {
            if chars(text, &s) <= max {
                assert!(
                    chunks.iter().any(|c| c.start <= s.start && s.end <= c.end),
                    "sentence {s:?} split"
                );
            }
        }
    }

    fn overlap(a: &Range<usize>, b: &Range<usize>) -> Option<Range<usize>> {
        (b.start < a.end).then_some(b.start..a.end)
    }

    fn ends_after_prefix_abbreviation(s: &str) -> bool {
        s.ends_with("art.")
            || is_abbreviation_before(s, s.len().wrapping_sub(1)) && {
                // Suffix abbreviations (c.p.c., Cost.) legitimately end sentences.
                let last = s.split_whitespace().last().unwrap_or("");
                ![
                    "c.p.c.", "c.p.p.", "c.p.", "c.c.", "Cost.", "ecc.", "P.Q.M.",
                ]
                .iter()
                .any(|x| last.ends_with(x))
            }
    }

    #[test]
    fn defaults() {
        let c = FixedChunker::default();
        assert_eq!((c.max_chars, c.overlap_chars), (4000, 400));
    }

    #[test]
    fn whole_thesis() {
        let text = fixture(THESIS);
        let chunker = FixedChunker::default();
        let chunks = chunker.chunk(&text);
        check_chunks(&text, &chunker, &chunks);
        assert!(chunks.len() >= 14, "{}", chunks.len());
        // Every sentence inside one chunk (no thesis sentence is over 4000 characters).
        let sentences = split_sentences(&text);
        assert!(sentences.iter().all(|s| chars(&text, s) <= 4000));
        for s in &sentences {
            assert!(
                chunks.iter().any(|c| c.start <= s.start && s.end <= c.end),
                "{s:?}"
            );
        }
        // Chunks start and end at sentence boundaries.
        for c in &chunks {
            assert!(sentences.iter().any(|s| s.start == c.start));
            assert!(sentences.iter().any(|s| s.end == c.end));
            assert!(!ends_after_prefix_abbreviation(&text[c.clone()]), "{c:?}");
        }
        // Overlaps: whole sentences, at most ~2 * 400 characters, never a whole chunk, and
        // missing only where the previous chunk's last sentence is over 800 characters.
        let mut with_overlap = 0;
        for w in chunks.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            match overlap(a, b) {
                Some(o) => {
                    with_overlap += 1;
                    assert!(chars(&text, &o) <= 800, "overlap {o:?}");
                    assert!(sentences.iter().any(|s| s.start == o.start));
                    assert!(o.start > a.start, "whole chunk repeated");
                }
                None => {
                    let last = sentences.iter().rfind(|s| s.end <= a.end).unwrap();
                    assert!(chars(&text, last) > 800, "no overlap after {a:?}");
                }
            }
        }
        assert!(
            with_overlap * 10 >= (chunks.len() - 1) * 8,
            "{with_overlap}/{}",
            chunks.len()
        );
        // Deterministic.
        assert_eq!(chunker.chunk(&text), chunks);
    }

    #[test]
    fn whole_decision() {
        let text = fixture(DECISION);
        for chunker in [
            FixedChunker::default(),
            FixedChunker {
                max_chars: 1000,
                overlap_chars: 200,
            },
            FixedChunker {
                max_chars: 300,
                overlap_chars: 0,
            },
        ] {
            let chunks = chunker.chunk(&text);
            check_chunks(&text, &chunker, &chunks);
            for c in &chunks {
                assert!(!ends_after_prefix_abbreviation(&text[c.clone()]), "{c:?}");
            }
            if chunker.overlap_chars == 0 {
                assert!(chunks.windows(2).all(|w| overlap(&w[0], &w[1]).is_none()));
            } else {
                assert!(chunks.windows(2).any(|w| overlap(&w[0], &w[1]).is_some()));
            }
        }
    }

    #[test]
    fn small_text_is_one_chunk() {
        let text = "  Il ricorso è infondato. Le spese seguono la soccombenza.  ";
        assert_eq!(FixedChunker::default().chunk(text), vec![2..text.len() - 2]);
        assert!(FixedChunker::default().chunk("").is_empty());
        assert!(FixedChunker::default().chunk(" \n\t ").is_empty());
    }

    #[test]
    fn overlap_is_whole_trailing_sentences() {
        // Ten sentences of 20 characters (plus a space between them).
        let text: String = (0..10)
            .map(|i| format!("Frase numero {i:02} ok."))
            .collect::<Vec<_>>()
            .join(" ");
        let chunker = FixedChunker {
            max_chars: 70,
            overlap_chars: 25,
        };
        let chunks = chunker.chunk(&text);
        check_chunks(&text, &chunker, &chunks);
        let got: Vec<&str> = chunks.iter().map(|c| &text[c.clone()]).collect();
        assert_eq!(
            got,
            vec![
                "Frase numero 00 ok. Frase numero 01 ok. Frase numero 02 ok.",
                "Frase numero 02 ok. Frase numero 03 ok. Frase numero 04 ok.",
                "Frase numero 04 ok. Frase numero 05 ok. Frase numero 06 ok.",
                "Frase numero 06 ok. Frase numero 07 ok. Frase numero 08 ok.",
                "Frase numero 08 ok. Frase numero 09 ok.",
            ]
        );
        // More overlap budget: two sentences, never the whole previous chunk.
        let chunker = FixedChunker {
            max_chars: 80,
            overlap_chars: 40,
        };
        let got: Vec<&str> = chunker.chunk(&text).into_iter().map(|c| &text[c]).collect();
        assert_eq!(
            got[0],
            "Frase numero 00 ok. Frase numero 01 ok. Frase numero 02 ok. Frase numero 03 ok."
        );
        assert_eq!(
            got[1],
            "Frase numero 02 ok. Frase numero 03 ok. Frase numero 04 ok. Frase numero 05 ok."
        );
        // Overlap is capped at half a chunk.
        let chunker = FixedChunker {
            max_chars: 80,
            overlap_chars: 1000,
        };
        let got: Vec<&str> = chunker.chunk(&text).into_iter().map(|c| &text[c]).collect();
        assert_eq!(
            got[1],
            "Frase numero 02 ok. Frase numero 03 ok. Frase numero 04 ok. Frase numero 05 ok."
        );
        // Chunks of a single sentence have no overlap.
        let chunker = FixedChunker {
            max_chars: 25,
            overlap_chars: 10,
        };
        let chunks = chunker.chunk(&text);
        assert_eq!(chunks.len(), 10);
        assert!(chunks.windows(2).all(|w| overlap(&w[0], &w[1]).is_none()));
    }

    #[test]
    fn long_sentence_is_cut_at_word_boundaries() {
        // One sentence of about 10,000 characters with abbreviations along the way.
        let text = format!(
            "Premessa breve. {}fine della frase lunga. Chiusa.",
            "ai sensi dell'art. 360 c.p.c. la nullità è dedotta e ".repeat(190)
        );
        let chunker = FixedChunker::default();
        let chunks = chunker.chunk(&text);
        check_chunks(&text, &chunker, &chunks);
        assert!(chunks.len() >= 3);
        for c in &chunks {
            let s = &text[c.clone()];
            assert!(!s.ends_with("art."), "{:?}", &s[s.len() - 20..]);
            // Cut between words: the chunk is followed by whitespace or the end.
            assert!(text[c.end..].is_empty() || text[c.end..].starts_with(char::is_whitespace));
            assert!(c.start == 0 || text[..c.start].ends_with(char::is_whitespace));
        }
        assert!(chunks.iter().filter(|c| chars(&text, c) > 3900).count() >= 2);
    }

    #[test]
    fn abbreviation_cut_only_as_last_resort() {
        let text = "art. art. art. art. art. art.";
        let chunker = FixedChunker {
            max_chars: 12,
            overlap_chars: 0,
        };
        let got: Vec<&str> = chunker.chunk(text).into_iter().map(|c| &text[c]).collect();
        assert_eq!(got, vec!["art. art.", "art. art.", "art. art."]);
        let text = "Vedi l'art. 5 e l'art. 6 del codice.";
        let chunker = FixedChunker {
            max_chars: 14,
            overlap_chars: 0,
        };
        let got: Vec<&str> = chunker.chunk(text).into_iter().map(|c| &text[c]).collect();
        assert_eq!(got, vec!["Vedi l'art. 5", "e l'art. 6 del", "codice."]);
    }

    #[test]
    fn long_word_is_cut_on_char_boundaries() {
        let text = format!("Inizio. {} fine.", "è".repeat(50));
        let chunker = FixedChunker {
            max_chars: 8,
            overlap_chars: 2,
        };
        let chunks = chunker.chunk(&text);
        check_chunks(&text, &chunker, &chunks);
        assert!(chunks.iter().any(|c| text[c.clone()] == "è".repeat(8)));
        let chunker = FixedChunker {
            max_chars: 0,
            overlap_chars: 0,
        };
        let chunks = chunker.chunk("abc dè");
        assert_eq!(chunks, vec![0..1, 1..2, 2..3, 4..5, 5..7]);
    }

    #[test]
    fn random_and_unicode_input_never_panics() {
        use crate::chunk::sentences::tests::{random_text, Rng};
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        for _ in 0..3000 {
            let text = random_text(&mut rng);
            let chunker = FixedChunker {
                max_chars: rng.below(60),
                overlap_chars: rng.below(40),
            };
            let chunks = chunker.chunk(&text);
            check_chunks(&text, &chunker, &chunks);
        }
    }
}

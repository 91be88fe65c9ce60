//! Tokenising a long text piece by piece, with the ids of the whole.
//!
//! `tokenizers` keeps an alignment pair (16 bytes) for every byte of the text it normalises
//! and copies the normalised string at each normaliser step, so tokenising a text costs
//! dozens of times its size while it runs. The chunkers count whole units before cutting
//! them, and the legge di bilancio's article 1 is about a megabyte: counting it held ~75 MB
//! at once (heaptrack), the run's peak.
//!
//! Texts longer than a piece are cut at a single ASCII space between two ASCII letters or
//! digits (`…x y…`: the space starts the next piece), tokenised without special tokens, and
//! the encodings merged and post-processed once. That gives the ids of the whole text for
//! both models' pipelines:
//! - the normalisers (SentencePiece's precompiled NFKC map and whitespace rules; BERT's
//!   cleaning, accent stripping and lowercasing) work per character or grapheme, and the
//!   space between two ASCII alphanumerics is its own grapheme, maps to itself, and is
//!   no part of a run of spaces;
//! - the multilingual default strips one leading space of the normalised text and then
//!   prefixes `▁`: a piece starting `" y"` becomes `"▁y"`, which is where the whole text's
//!   Metaspace split puts the token boundary anyway; BERT splits at whitespace;
//! - the models tokenise each pre-token independently, and the special tokens come from the
//!   one post-processing of the merged encoding.
//!
//! `tests`: equal ids to whole-text tokenising on fixture texts with pieces of a few bytes,
//! for both models (`tests/integration/embed.rs`), and the cutting rule here.

use tokenizers::{
    Decoder, Encoding, Model, Normalizer, PostProcessor, PreTokenizer, Result, TokenizerImpl,
};

/// Texts up to this many bytes are tokenised whole.
pub const PIECE_BYTES: usize = 16 * 1024;

/// The encoding of `text` with special tokens, as `encode_fast(text, true)` gives it,
/// tokenised in pieces of about `piece_bytes`.
pub fn encode<M, N, PT, PP, D>(
    tokenizer: &TokenizerImpl<M, N, PT, PP, D>,
    text: &str,
    piece_bytes: usize,
) -> Result<Encoding>
where
    M: Model,
    N: Normalizer,
    PT: PreTokenizer,
    PP: PostProcessor,
    D: Decoder,
{
    if text.len() <= piece_bytes {
        return tokenizer.encode_fast(text, true);
    }
    let parts = pieces(text, piece_bytes)
        .map(|p| tokenizer.encode_fast(p, false))
        .collect::<Result<Vec<_>>>()?;
    tokenizer.post_process(Encoding::merge(parts, true), None, true)
}

/// `text` cut into consecutive pieces of at least `piece_bytes` (the last may be shorter),
/// each cut at a space between two ASCII alphanumerics; a text without such a space after
/// the mark stays one piece.
pub fn pieces(text: &str, piece_bytes: usize) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let from = start + piece_bytes.max(1);
        let cut = (from..bytes.len().saturating_sub(1))
            .find(|&i| {
                bytes[i] == b' '
                    && bytes[i - 1].is_ascii_alphanumeric()
                    && bytes[i + 1].is_ascii_alphanumeric()
            })
            .unwrap_or(bytes.len());
        // `cut` is an ASCII byte or the end: a char boundary.
        let piece = &text[start..cut];
        start = cut;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_only_at_a_space_between_ascii_alphanumerics() {
        let text = "Art. 12 bis, comma  uno è vero: a b";
        let got: Vec<&str> = pieces(text, 1).collect();
        assert_eq!(got.concat(), text, "the pieces are the text");
        for p in &got[1..] {
            let b = p.as_bytes();
            assert_eq!(b[0], b' ', "{p:?} starts at the cut space");
            assert!(b[1].is_ascii_alphanumeric(), "{p:?}");
        }
        for p in &got[..got.len() - 1] {
            assert!(
                p.as_bytes()[p.len() - 1].is_ascii_alphanumeric(),
                "{p:?} ends before the cut space"
            );
        }
        // Not after "Art." or "bis," or "vero:", not in "comma  uno", not next to "è".
        assert_eq!(got, ["Art. 12", " bis, comma  uno è vero: a", " b"]);
    }

    #[test]
    fn short_texts_and_texts_without_a_cut_stay_whole() {
        assert_eq!(pieces("", 4).count(), 0);
        assert_eq!(pieces("abc def", 100).collect::<Vec<_>>(), ["abc def"]);
        let no_cut = "àààà,,,, ....";
        assert_eq!(pieces(no_cut, 2).collect::<Vec<_>>(), [no_cut]);
        let pieces: Vec<&str> = pieces("aa bb cc dd", 3).collect();
        assert_eq!(pieces, ["aa bb", " cc", " dd"]);
    }
}

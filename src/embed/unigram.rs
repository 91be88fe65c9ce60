//! The multilingual default's SentencePiece unigram model, for the `tokenizers` pipeline, on a
//! compact trie.
//!
//! `tokenizers`' own `Unigram` keeps its 128,000 pieces in a byte trie with a hash map in every
//! node: about 90 MB resident, more than the ONNX session's weights. Here the trie is three flat
//! arrays (nodes, sorted edge labels, edge targets; about 12 MB), and the best path is found
//! exactly as `Unigram`'s default (optimised) encoder finds it, so the ids are the same: pieces
//! are tried shortest first, a later candidate replaces an earlier one only with a strictly
//! better score, a character no piece covers is unknown (scored below every piece), and
//! consecutive unknowns fuse. The normaliser, pre-tokeniser and post-processor are
//! `tokenizers`' own, read from the same `tokenizer.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::unigram::UnigramTrainer;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{Model, Token, TokenizerImpl};

/// What `tokenizers` subtracts from the lowest piece score to score an unknown character.
const UNK_PENALTY: f64 = 10.0;

/// The tokenizer the multilingual default runs.
pub type UnigramTokenizer = TokenizerImpl<
    CompactUnigram,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

#[derive(Debug, Clone, Copy)]
struct Node {
    /// This node's edges: `labels[first..first + len]`, sorted, and their targets.
    first: u32,
    len: u32,
    /// Id + 1 of the piece spelled by the path to this node; 0 when none ends here.
    piece: u32,
}

/// A unigram model: pieces with their log-probabilities, found through a flat byte trie.
#[derive(Debug, Clone)]
pub struct CompactUnigram {
    vocab: Vec<(String, f64)>,
    unk_id: Option<u32>,
    min_score: f64,
    nodes: Vec<Node>,
    labels: Vec<u8>,
    targets: Vec<u32>,
}

impl CompactUnigram {
    pub fn new(vocab: Vec<(String, f64)>, unk_id: Option<usize>) -> Result<Self, String> {
        if vocab.is_empty() {
            return Err("the vocabulary is empty".into());
        }
        if vocab.len() >= u32::MAX as usize {
            return Err("the vocabulary is too large".into());
        }
        if unk_id.is_some_and(|u| u >= vocab.len()) {
            return Err("unk_id is outside the vocabulary".into());
        }
        let min_score = vocab.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let mut keys: Vec<(&[u8], u32)> = vocab
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.as_bytes(), i as u32))
            .collect();
        keys.sort_unstable();
        let mut m = Self {
            vocab: Vec::new(),
            unk_id: unk_id.map(|u| u as u32),
            min_score,
            nodes: Vec::new(),
            labels: Vec::new(),
            targets: Vec::new(),
        };
        m.add(&keys, 0);
        m.nodes.shrink_to_fit();
        m.labels.shrink_to_fit();
        m.targets.shrink_to_fit();
        m.vocab = vocab;
        Ok(m)
    }

    /// Add the node for `keys` (sorted, all sharing their first `depth` bytes) and, depth
    /// first, its children; returns its index. A node's edges are reserved before its
    /// children are built, so they stay contiguous.
    fn add(&mut self, keys: &[(&[u8], u32)], depth: usize) -> u32 {
        let me = self.nodes.len();
        self.nodes.push(Node {
            first: 0,
            len: 0,
            piece: 0,
        });
        // Keys ending here sort first; of equal pieces the last one in the vocabulary wins,
        // as in `tokenizers`, whose piece-to-id map keeps the last.
        let ending = keys.iter().take_while(|k| k.0.len() == depth).count();
        if ending > 0 {
            self.nodes[me].piece = keys[ending - 1].1 + 1;
        }
        let rest = &keys[ending..];
        let mut groups: Vec<(u8, usize, usize)> = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let b = rest[i].0[depth];
            let n = rest[i..].iter().take_while(|k| k.0[depth] == b).count();
            groups.push((b, i, i + n));
            i += n;
        }
        let first = self.labels.len();
        self.nodes[me].first = first as u32;
        self.nodes[me].len = groups.len() as u32;
        for &(b, _, _) in &groups {
            self.labels.push(b);
            self.targets.push(0);
        }
        for (k, &(_, start, end)) in groups.iter().enumerate() {
            let child = self.add(&rest[start..end], depth + 1);
            self.targets[first + k] = child;
        }
        me as u32
    }

    fn child(&self, node: usize, byte: u8) -> Option<usize> {
        let n = self.nodes[node];
        let (first, len) = (n.first as usize, n.len as usize);
        let labels = &self.labels[first..first + len];
        labels
            .binary_search(&byte)
            .ok()
            .map(|k| self.targets[first + k] as usize)
    }

    /// The pieces of `sentence` on the best path: (id, start, end) in bytes.
    fn best_path(&self, sentence: &str) -> Result<Vec<(u32, usize, usize)>, String> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f64,
            starts_at: Option<usize>,
        }
        let bytes = sentence.as_bytes();
        let size = bytes.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            Best {
                id: 0,
                score: 0.0,
                starts_at: None,
            };
            size + 1
        ];
        let mut starts_at = 0;
        while starts_at < size {
            let here = best[starts_at].score;
            let mblen = sentence[starts_at..]
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(1);
            let mut has_single = false;
            let (mut node, mut pos) = (0usize, starts_at);
            while pos < size {
                let Some(next) = self.child(node, bytes[pos]) else {
                    break;
                };
                node = next;
                pos += 1;
                let piece = self.nodes[node].piece;
                if piece == 0 {
                    continue;
                }
                let id = piece - 1;
                let score = self.vocab[id as usize].1 + here;
                let target = &mut best[pos];
                if target.starts_at.is_none() || score > target.score {
                    *target = Best {
                        id,
                        score,
                        starts_at: Some(starts_at),
                    };
                }
                if pos - starts_at == mblen {
                    has_single = true;
                }
            }
            if !has_single {
                let unk = self
                    .unk_id
                    .ok_or_else(|| "an unknown character and no unk_id".to_string())?;
                let score = unk_score + here;
                let target = &mut best[starts_at + mblen];
                if target.starts_at.is_none() || score > target.score {
                    *target = Best {
                        id: unk,
                        score,
                        starts_at: Some(starts_at),
                    };
                }
            }
            starts_at += mblen;
        }
        let mut out = Vec::new();
        let mut unk_run_end: Option<usize> = None;
        let mut ends_at = size;
        while ends_at > 0 {
            let node = best[ends_at];
            let start = node
                .starts_at
                .ok_or_else(|| format!("no path to byte {ends_at}"))?;
            if Some(node.id) == self.unk_id {
                unk_run_end.get_or_insert(ends_at);
            } else {
                if let (Some(end), Some(unk)) = (unk_run_end.take(), self.unk_id) {
                    out.push((unk, ends_at, end));
                }
                out.push((node.id, start, ends_at));
            }
            ends_at = start;
        }
        if let (Some(end), Some(unk)) = (unk_run_end, self.unk_id) {
            out.push((unk, 0, end));
        }
        out.reverse();
        Ok(out)
    }
}

impl Model for CompactUnigram {
    type Trainer = UnigramTrainer;

    fn tokenize(&self, sentence: &str) -> tokenizers::Result<Vec<Token>> {
        if sentence.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .best_path(sentence)?
            .into_iter()
            .map(|(id, s, e)| Token::new(id, sentence[s..e].to_string(), (s, e)))
            .collect())
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        let mut node = 0;
        for &b in token.as_bytes() {
            node = self.child(node, b)?;
        }
        self.nodes[node].piece.checked_sub(1)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.vocab.get(id as usize).map(|p| p.0.clone())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        self.vocab
            .iter()
            .enumerate()
            .map(|(i, p)| (p.0.clone(), i as u32))
            .collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.vocab.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err("saving is not supported: the model is read from tokenizer.json".into())
    }

    fn get_trainer(&self) -> UnigramTrainer {
        UnigramTrainer::default()
    }
}

#[derive(Deserialize)]
struct TokenizerFile {
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    decoder: Option<DecoderWrapper>,
    #[serde(default)]
    added_tokens: Vec<serde_json::Value>,
    model: ModelFile,
}

#[derive(Deserialize)]
struct ModelFile {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<usize>,
    vocab: Vec<(String, f64)>,
    #[serde(default)]
    byte_fallback: bool,
}

/// Read a `tokenizer.json` whose model is a unigram model (without byte fallback or added
/// tokens, which this model does not reproduce).
pub fn load(path: &Path) -> Result<UnigramTokenizer, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: TokenizerFile =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    drop(bytes);
    if file.model.kind != "Unigram" {
        return Err(format!(
            "{}: model type {:?}, expected Unigram",
            path.display(),
            file.model.kind
        ));
    }
    if file.model.byte_fallback || !file.added_tokens.is_empty() {
        return Err(format!(
            "{}: byte fallback and added tokens are not supported",
            path.display()
        ));
    }
    let model = CompactUnigram::new(file.model.vocab, file.model.unk_id)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tokenizer = UnigramTokenizer::new(model);
    tokenizer
        .with_normalizer(file.normalizer)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tokenizer
        .with_pre_tokenizer(file.pre_tokenizer)
        .with_post_processor(file.post_processor)
        .with_decoder(file.decoder);
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::unigram::Unigram;

    fn vocab() -> Vec<(String, f64)> {
        [
            ("<unk>", 0.0),
            ("a", 0.0),
            ("b", 0.0),
            ("c", 0.0),
            ("d", 0.0),
            ("cd", 1.0),
            ("ab", 2.0),
            ("abc", 5.0),
            ("abcd", 10.0),
            ("é", -1.0),
            ("àb", -0.5),
            ("bb", -3.0),
            ("bbb", -2.0),
        ]
        .iter()
        .map(|(p, s)| (p.to_string(), *s))
        .collect()
    }

    fn ids(m: &impl Model, s: &str) -> Vec<(u32, String, (usize, usize))> {
        m.tokenize(s)
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.value, t.offsets))
            .collect()
    }

    #[test]
    fn the_documented_example() {
        let m = CompactUnigram::new(vocab(), Some(0)).unwrap();
        let got: Vec<String> = ids(&m, "abcdacdxx").into_iter().map(|t| t.1).collect();
        assert_eq!(got, ["abcd", "a", "cd", "xx"], "unknowns fuse");
        assert_eq!(m.token_to_id("abc"), Some(7));
        assert_eq!(m.token_to_id("abx"), None);
        assert_eq!(m.token_to_id("bb"), Some(11));
        assert_eq!(m.id_to_token(5).as_deref(), Some("cd"));
        assert_eq!(m.get_vocab_size(), 13);
    }

    #[test]
    fn same_tokens_as_the_tokenizers_unigram_on_every_short_string() {
        // Every string of up to 5 characters over an alphabet with multi-byte and unknown
        // characters: ids, pieces and offsets equal `tokenizers`' own.
        let ours = CompactUnigram::new(vocab(), Some(0)).unwrap();
        let theirs = Unigram::from(vocab(), Some(0), false).unwrap();
        let alphabet = ['a', 'b', 'c', 'd', 'é', 'à', 'x', '€'];
        let mut strings = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            let mut next = Vec::new();
            for s in &strings {
                for c in alphabet {
                    let t = format!("{s}{c}");
                    assert_eq!(ids(&ours, &t), ids(&theirs, &t), "{t:?}");
                    checked += 1;
                    next.push(t);
                }
            }
            strings = next;
        }
        assert_eq!(checked, 8 + 64 + 512 + 4096 + 32768);
    }

    #[test]
    fn the_last_of_equal_pieces_wins_as_in_tokenizers() {
        let mut v = vocab();
        v.push(("cd".into(), 1.0));
        let ours = CompactUnigram::new(v.clone(), Some(0)).unwrap();
        let theirs = Unigram::from(v, Some(0), false).unwrap();
        assert_eq!(ids(&ours, "acd"), ids(&theirs, "acd"));
        assert_eq!(ours.token_to_id("cd"), Some(13));
    }

    #[test]
    fn bad_vocabularies_are_refused() {
        assert!(CompactUnigram::new(Vec::new(), None).is_err());
        assert!(CompactUnigram::new(vocab(), Some(99)).is_err());
        let m = CompactUnigram::new(vocab(), None).unwrap();
        assert!(
            m.tokenize("x").is_err(),
            "an unknown character needs unk_id"
        );
    }
}

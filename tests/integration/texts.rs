//! Decisions and doctrine end to end on the embedded default: real PDFs (text layer and
//! scanned), plain text, Markdown, HTML, DOCX and an Akoma Ntoso judgment, through the real
//! parsers (risky ones in child processes), chunkers, model, enrichment and stores.

use std::path::Path;
use std::sync::Arc;

use ingest::store::edge::EdgeVectors;

use crate::common::*;

const MODEL: &str = "use-multilingual-v3-int8";

/// Section labels of a document's chunks in order, consecutive repeats collapsed.
fn section_sequence(data: &Path, source_suffix: &str) -> Vec<String> {
    let rows = query_rows(
        data,
        &format!(
            "SELECT c.section FROM chunks c JOIN documents d ON d.id = c.document_id
             WHERE d.source LIKE '%{source_suffix}' ORDER BY c.ordinal"
        ),
    );
    let mut out: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
    out.dedup();
    out
}

fn decisions_list(dir: &Path) -> std::path::PathBuf {
    list(
        dir,
        "decisions.txt",
        &[
            fixture_line("jurisprudence/cass_snciv2025530636O.pdf"),
            fixture_line("jurisprudence/cass_snciv2025530638S.pdf"),
            fixture_line("jurisprudence/cass_snciv2025530646O.pdf"),
            fixture_line("jurisprudence/cass_snciv_2025_n29955_tD.clean.pdf"),
            fixture_line("jurisprudence/cass_snciv2025530039O.txt"),
            fixture_line("jurisprudence/legaldocml_za_Judgement_2008-11-26.xml"),
        ],
    )
}

#[test]
fn decisions_land_with_their_sections_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let list = decisions_list(tmp.path());
    let r = ingest_type("jurisprudence", &data, &list, &[], &[]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.summary()["documents_ok"], 6, "{}", r.stderr);

    // Headings per the corpus MANIFEST, as section labels.
    let full = ["header", "facts", "reasoning", "operative"];
    for pdf in [
        "cass_snciv2025530636O.pdf",
        "cass_snciv2025530638S.pdf",
        "cass_snciv2025530646O.pdf",
        "cass_snciv2025530039O.txt",
    ] {
        assert_eq!(section_sequence(&data, pdf), full, "{pdf}");
    }
    assert_eq!(
        section_sequence(&data, "cass_snciv_2025_n29955_tD.clean.pdf"),
        ["header", "operative"],
        "a decree with only an operative part"
    );
    assert_eq!(
        section_sequence(&data, "legaldocml_za_Judgement_2008-11-26.xml"),
        ["header", "facts", "header", "reasoning", "operative"]
    );

    // Stamps, watermarks and running headers are not in any chunk.
    for pattern in [
        "%copia non ufficiale%",
        "%Data pubblicazione%",
        "%Num. 30636 Anno%",
    ] {
        let n = scalar(
            &data,
            &format!("SELECT COUNT(*) FROM chunks WHERE text LIKE '{pattern}'"),
        );
        assert_eq!(n, 0, "{pattern} left in chunk text");
    }

    // Decisions get canonical ids from court, area, number and year; metadata is kept.
    let ids: Vec<String> = query_rows(
        &data,
        "SELECT id FROM documents WHERE source LIKE '%.pdf' ORDER BY id",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert!(
        ids.contains(&"it:cass:civ:2025;30636".to_string()),
        "{ids:?}"
    );
    assert!(
        ids.iter().all(|i| i.starts_with("it:cass:civ:2025;")),
        "{ids:?}"
    );
    let meta = &query_rows(
        &data,
        "SELECT metadata, title FROM documents WHERE id = 'it:cass:civ:2025;30636'",
    )[0];
    assert!(meta[0].contains("\"ordinanza\""), "{}", meta[0]);
    assert!(meta[1].contains("30636/2025"), "{}", meta[1]);

    // Chunks carry pages and character offsets into the stored extracted text.
    let rows = query_rows(
        &data,
        "SELECT c.text, c.char_start, c.char_end, c.page_start, c.page_end, d.text
         FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE d.id = 'it:cass:civ:2025;30638' ORDER BY c.ordinal",
    );
    assert!(rows.len() > 4);
    for row in &rows {
        let (cs, ce): (usize, usize) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        let slice: String = row[5].chars().skip(cs).take(ce - cs).collect();
        assert_eq!(slice, row[0]);
        let (ps, pe): (u32, u32) = (row[3].parse().unwrap(), row[4].parse().unwrap());
        assert!(ps >= 1 && pe >= ps && pe <= 14);
    }
    assert!(rows.last().unwrap()[4].parse::<u32>().unwrap() >= 13);

    // Enrichment: norm and decision citations, entities, concepts.
    let decision_refs = scalar(
        &data,
        "SELECT COUNT(*) FROM citations WHERE decision_id IS NOT NULL",
    );
    assert!(decision_refs >= 3, "decision citations: {decision_refs}");
    let norm_refs = scalar(
        &data,
        "SELECT COUNT(*) FROM citations WHERE norm_id LIKE 'urn:nir:%'",
    );
    assert!(norm_refs >= 10, "norm citations: {norm_refs}");
    let concepts = scalar(
        &data,
        "SELECT COUNT(*) FROM chunk_concepts WHERE concept_id = 'ricorso-per-cassazione'",
    );
    assert!(concepts >= 1);
    let persons = scalar(&data, "SELECT COUNT(*) FROM entities WHERE kind = 'person'");
    assert!(persons >= 1, "judges' names are found (and marked)");
    let courts = scalar(&data, "SELECT COUNT(*) FROM entities WHERE kind = 'court'");
    assert!(courts >= 1);

    // People's names stay out of the vector payload; concepts and sections are in it.
    let chunk_ids: Vec<String> = query_rows(&data, "SELECT id FROM chunks")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let person_names: Vec<String> = query_rows(
        &data,
        "SELECT DISTINCT text FROM entities WHERE kind = 'person'",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let points = {
        // Dropped before the next run: the embedded store admits one process at a time.
        let edge = Arc::new(EdgeVectors::new(&data.join("vectors")));
        edge.retrieve(MODEL, &chunk_ids).unwrap()
    };
    assert_eq!(points.len(), chunk_ids.len());
    let mut with_concepts = 0;
    for p in &points {
        let entities = p.payload["entities"].as_array().unwrap();
        assert!(entities.iter().all(|e| e["kind"] != "person"));
        let payload = p.payload.to_string();
        for name in &person_names {
            assert!(
                !payload.contains(name.as_str()),
                "{name} in the payload: {payload}"
            );
        }
        assert!(payload.contains("\"section\""));
        if !p.payload["related_concept_ids"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            with_concepts += 1;
        }
    }
    assert!(with_concepts > 0);

    // Graph: decisions, their citations and concepts.
    let st = status(&data);
    assert!(st["graph_nodes"]["Decision"].as_i64().unwrap() >= 4);
    assert!(st["graph_edges"]["ABOUT"].as_i64().unwrap() >= 1);

    // Re-ingesting the same list changes nothing.
    let before = scalar(&data, "SELECT COUNT(*) FROM chunks");
    let r = ingest_type("jurisprudence", &data, &list, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM chunks"), before);
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM documents"), 6);
}

#[test]
fn bad_decisions_are_rejected_one_line_each_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let pdf = std::fs::read(fixture("jurisprudence/cass_snciv2025530636O.pdf")).unwrap();
    let corrupt = tmp.path().join("corrupt.pdf");
    std::fs::write(&corrupt, &pdf[..pdf.len() / 3]).unwrap();
    let empty = tmp.path().join("empty.pdf");
    std::fs::write(&empty, b"").unwrap();
    let lines = vec![
        corrupt.display().to_string(),
        empty.display().to_string(),
        fixture_line("image/blank_white.png"),
        fixture_line("jurisprudence/cass_snciv2025530646O.encrypted-user-password.pdf"),
        fixture_line("jurisprudence/cass_snciv2025530039O.txt"),
    ];
    let list = list(tmp.path(), "bad.txt", &lines);
    let r = ingest_type("jurisprudence", &data, &list, &[], &[]);
    assert_eq!(r.code, 2, "some inputs rejected: {}", r.stderr);
    let s = r.summary();
    assert_eq!(s["documents_ok"], 1, "{}", r.stderr);
    assert_eq!(s["documents_rejected"], 4, "{}", r.stderr);
    let rejected: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("rejected: "))
        .collect();
    assert_eq!(rejected.len(), 4, "{}", r.stderr);
    for (source, cause) in [
        (&lines[0], "pdf"),
        (&lines[1], "empty"),
        (&lines[2], "no text"),
        (&lines[3], "encrypted"),
    ] {
        let line = rejected
            .iter()
            .find(|l| l.contains(source.as_str()))
            .unwrap_or_else(|| panic!("no rejection for {source}: {}", r.stderr));
        assert!(
            line.to_lowercase().contains(cause),
            "{line} should say {cause}"
        );
    }
}

/// A pipeline that is the bundled jurisprudence one with a short parser deadline.
fn short_deadline_pipeline(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/jurisprudence.toml"),
    )
    .unwrap()
    .replace("deadline_secs = 300", "deadline_secs = 10")
    .replace("max_memory_mb = 4096", "max_memory_mb = 1024");
    let p = dir.join("short.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn hung_crashing_or_runaway_parsers_cost_one_input() {
    for (fault, cause) in [
        ("parse-hang", "deadline"),
        ("parse-abort", "signal 6"),
        ("parse-oom", "memory limit 1024 MB"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let pipeline = short_deadline_pipeline(tmp.path());
        let lines = vec![
            fixture_line("jurisprudence/cass_snciv2025530636O.pdf"),
            fixture_line("jurisprudence/cass_snciv2025530039O.txt"),
        ];
        let list = list(tmp.path(), "l.txt", &lines);
        let r = ingest_type(
            "jurisprudence",
            &data,
            &list,
            &[("INGEST_FAULT", fault)],
            &["--pipeline", pipeline.to_str().unwrap()],
        );
        assert_eq!(r.code, 2, "{fault}: {}", r.stderr);
        let s = r.summary();
        assert_eq!(s["documents_ok"], 1, "{fault}: the text decision lands");
        assert_eq!(s["documents_rejected"], 1, "{fault}: {}", r.stderr);
        let line = r
            .stderr
            .lines()
            .find(|l| l.starts_with("rejected: ") && l.contains(lines[0].as_str()))
            .unwrap_or_else(|| panic!("{fault}: {}", r.stderr));
        assert!(line.contains(cause), "{fault}: {line}");
    }
}

#[test]
fn a_document_over_its_soft_time_limit_is_stopped_and_dead_after_its_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Soft limit 2 s, hard (child killed) 60 s, one retry after 0.2 s.
    let text = std::fs::read_to_string(short_deadline_pipeline(tmp.path()))
        .unwrap()
        .replace("deadline_secs = 10", "deadline_secs = 60")
        .replace("soft_secs = 900", "soft_secs = 2")
        .replace("base_secs = 60", "base_secs = 0.2")
        .replace("max_retries = 3", "max_retries = 1");
    let pipeline = tmp.path().join("soft.toml");
    std::fs::write(&pipeline, text).unwrap();
    let lines = vec![
        fixture_line("jurisprudence/cass_snciv2025530636O.pdf"),
        fixture_line("jurisprudence/cass_snciv2025530039O.txt"),
    ];
    let list = list(tmp.path(), "l.txt", &lines);
    let started = std::time::Instant::now();
    let r = ingest_type(
        "jurisprudence",
        &data,
        &list,
        &[("INGEST_FAULT", "parse-hang")],
        &["--pipeline", pipeline.to_str().unwrap()],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "stopped at the soft limit, not the hard one"
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.summary()["documents_ok"], 1, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("retry 1/1 in ")
            && l.contains(lines[0].as_str())
            && l.contains("time limit")),
        "{}",
        r.stderr
    );
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("dead after 1 retries: ") && l.contains(lines[0].as_str()))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(line.contains("parse stage: time limit"), "{line}");
}

#[test]
fn doctrine_lands_in_similarity_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lines = vec![
        fixture_line("doctrine/tesi_piras_01-prova-scientifica.md"),
        fixture_line("doctrine/tesi_piras_01-prova-scientifica.rendered.html"),
        fixture_line("docx/ondata_email_schema_dati.docx"),
    ];
    let list = list(tmp.path(), "doctrine.txt", &lines);
    let r = ingest_type("doctrine", &data, &list, &[], &[]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.summary()["documents_ok"], 3);

    let rows = query_rows(
        &data,
        "SELECT c.text, c.tokens, c.path, c.char_end, d.text FROM chunks c
         JOIN documents d ON d.id = c.document_id
         WHERE d.source LIKE '%.md' ORDER BY c.ordinal",
    );
    assert!(rows.len() >= 10, "{} chunks", rows.len());
    let tokens: Vec<i64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(tokens.iter().all(|t| *t <= 256), "{tokens:?}");
    let (min, max) = (*tokens.iter().min().unwrap(), *tokens.iter().max().unwrap());
    let pinned = tokens.iter().filter(|t| **t == min || **t == max).count();
    assert!(
        pinned < tokens.len() / 2,
        "sizes vary with the text: {tokens:?}"
    );
    for row in &rows {
        let text = row[0].trim_end();
        assert!(
            !text.ends_with(" art.") && !text.ends_with(" artt."),
            "{text}"
        );
        // "c.c." may end a sentence; it must not end a chunk mid-sentence.
        if text.ends_with("c.c.") {
            let end: usize = row[3].parse().unwrap();
            let next = row[4].chars().skip(end).find(|c| !c.is_whitespace());
            assert!(
                !next.is_some_and(|c| c.is_lowercase()),
                "chunk breaks after c.c. mid-sentence: {text}"
            );
        }
    }
    // Headings travel as the chunk's path.
    assert!(rows
        .iter()
        .any(|r| r[2].contains("Diritto processuale penale")));
    assert!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM chunk_concepts WHERE concept_id = 'prova-scientifica'"
        ) >= 1
    );
    // The DOCX's tables and headings are text too.
    assert!(
        scalar(
            &data,
            "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id
             WHERE d.source LIKE '%.docx'"
        ) >= 5
    );
}

#[test]
fn similarity_boundary_falls_at_the_join_of_unrelated_passages() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (a, b, joined) = joined_passages();
    let file = tmp.path().join("joined.txt");
    std::fs::write(&file, &joined).unwrap();
    let list = list(tmp.path(), "j.txt", &[file.display().to_string()]);
    let r = ingest_type("doctrine", &data, &list, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc_text = &query_rows(&data, "SELECT text FROM documents")[0][0];
    let join_byte = doc_text
        .find(b.trim_start())
        .expect("second passage in the text");
    assert!(join_byte > a.len() / 2);
    let sentences = ingest::chunk::sentences::split_sentences(doc_text);
    let sentence_of = |byte: usize| sentences.iter().position(|s| s.end > byte).unwrap();
    let join_sentence = sentence_of(join_byte);
    let starts: Vec<usize> = query_rows(&data, "SELECT char_start FROM chunks ORDER BY ordinal")
        .into_iter()
        .skip(1)
        .map(|r| {
            let chars: usize = r[0].parse().unwrap();
            doc_text
                .char_indices()
                .nth(chars)
                .map_or(doc_text.len(), |(i, _)| i)
        })
        .collect();
    assert!(!starts.is_empty(), "the joined text is split");
    let nearest = starts
        .iter()
        .map(|s| sentence_of(*s).abs_diff(join_sentence))
        .min()
        .unwrap();
    assert!(
        nearest <= 1,
        "a boundary within one sentence of the join (sentence {join_sentence}); starts at sentences {:?}",
        starts.iter().map(|s| sentence_of(*s)).collect::<Vec<_>>()
    );
}

/// Drop Pandoc inline footnotes `^[...]` (brackets nest).
fn strip_footnotes(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if depth == 0 && c == '^' && chars.peek() == Some(&'[') {
            chars.next();
            depth = 1;
        } else if depth > 0 {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Two unrelated real passages (doctrine on digital forensics; a tax decision's facts), joined
/// into one paragraph with no heading between them.
pub fn joined_passages() -> (String, String, String) {
    let md =
        std::fs::read_to_string(fixture("doctrine/tesi_piras_01-prova-scientifica.md")).unwrap();
    let txt = std::fs::read_to_string(fixture("jurisprudence/cass_snciv2025530039O.txt")).unwrap();
    let para = |text: &str, needle: &str| -> String {
        let start = text.find(needle).unwrap_or_else(|| panic!("{needle}"));
        let rest = &text[start..];
        let end = rest.find("\n\n").unwrap_or(rest.len());
        rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let a = strip_footnotes(&para(&md, "Il giudice è *peritus"));
    let b = para(&txt, "In punto di fatto");
    // About a thousand characters of the decision, ending at a sentence end.
    let cut = b[..b.len().min(1000)]
        .rfind(". ")
        .map_or(b.len(), |i| i + 1);
    let b = b[..cut].to_string();
    let joined = format!("{a} {b}\n");
    (a, b, joined)
}

#[test]
fn scanned_documents_are_read_by_ocr() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lines = vec![
        fixture_line("image/synthetic_it_legal_300dpi.png"),
        fixture_line("image/docling_ocr_test_scanned.pdf"),
        fixture_line("image/docling_ocr_test_rotated_180_scanned.pdf"),
    ];
    let list = list(tmp.path(), "scans.txt", &lines);
    let r = ingest_type("doctrine", &data, &list, &[], &[]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.summary()["documents_ok"], 3);
    let text_of = |suffix: &str| {
        query_rows(
            &data,
            &format!("SELECT text FROM documents WHERE source LIKE '%{suffix}'"),
        )[0][0]
            .clone()
    };
    let gt = std::fs::read_to_string(fixture("image/synthetic_it_legal.gt.txt")).unwrap();
    let png = text_of("synthetic_it_legal_300dpi.png");
    let first_words: Vec<&str> = gt.split_whitespace().take(6).collect();
    assert!(
        png.contains(&first_words.join(" ")),
        "{png:?} vs {first_words:?}"
    );
    let upright = text_of("docling_ocr_test_scanned.pdf");
    let rotated = text_of("docling_ocr_test_rotated_180_scanned.pdf");
    assert!(
        upright.contains("Docling bundles PDF document conversion"),
        "{upright:?}"
    );
    let cer = ingest::parse::ocr::cer(&upright, &rotated);
    assert!(
        cer < 0.05,
        "upside-down scan reads like the upright one: CER {cer}"
    );
}

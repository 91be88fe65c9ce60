//! Norms end to end on the embedded default: real parser, real model, real stores.

use std::sync::Arc;

use ingest::store::edge::EdgeVectors;

use crate::common::*;

const MODEL: &str = "use-multilingual-v3-int8";
const L56: &str = "/akn/it/act/legge/stato/2007-05-04/56/ita@2007-05-06";
const GELLI: &str = "/akn/it/act/legge/stato/2017-03-08/24/ita@2023-01-01";
const D231: &str = "/akn/it/act/decreto_legislativo/stato/2001-06-08/231/ita@2026-01-24";

fn small_list(dir: &std::path::Path) -> std::path::PathBuf {
    list(
        dir,
        "norms.txt",
        &[
            "# three acts".to_string(),
            fixture_line("norm/it_normattiva_legge_56_2007.xml"),
            String::new(),
            fixture_line("norm/it_normattiva_legge_gelli_bianco.xml"),
            fixture_line("norm/it_normattiva_dlgs_231_2001.xml"),
        ],
    )
}

fn units(data: &std::path::Path, doc: &str) -> i64 {
    scalar(
        data,
        &format!("SELECT COUNT(DISTINCT eid) FROM chunks WHERE document_id = '{doc}'"),
    )
}

#[test]
fn small_acts_land_in_every_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let r = ingest(&data, &small_list(tmp.path()), &[], &[]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let s = r.summary();
    assert_eq!(s["documents_ok"], 3);
    assert_eq!(s["documents_rejected"], 0);

    // Unit counts from the corpus MANIFEST: one chunk identity per article.
    assert_eq!(units(&data, L56), 2);
    assert_eq!(units(&data, GELLI), 18);
    assert_eq!(units(&data, D231), 109);

    let st = status(&data);
    assert_eq!(st["documents"], 3);
    let chunks = st["chunks"].as_i64().unwrap();
    assert_eq!(s["chunks"].as_i64().unwrap(), chunks);
    assert!(chunks >= 2 + 18 + 109);
    assert_eq!(
        st["vectors"][MODEL].as_i64().unwrap(),
        chunks,
        "one point per chunk"
    );
    assert_eq!(st["graph_edges"]["HAS_CHUNK"].as_i64().unwrap(), chunks);
    assert_eq!(st["graph_edges"]["NEXT"].as_i64().unwrap(), chunks - 3);
    assert!(
        st["graph_edges"]["CITES"].as_i64().unwrap() > 0,
        "231 marks up references"
    );
    assert_eq!(stage_runs(&st, "parse"), 3);
    assert_eq!(stage_runs(&st, "store"), 3);
    for j in st["jobs"].as_array().unwrap() {
        assert_eq!(j["state"], "done");
        assert_eq!(j["stage"], "store");
    }

    // Stored text is the unit's own; the embedded text adds the context header.
    let rows = query_rows(
        &data,
        &format!("SELECT id, heading, text, embed_text FROM chunks WHERE document_id = '{D231}' AND eid = 'art_1'"),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], format!("{D231}#art_1"));
    assert_eq!(rows[0][1], "Soggetti");
    assert!(
        rows[0][2].starts_with("1. Il presente decreto legislativo disciplina"),
        "{}",
        rows[0][2]
    );
    assert!(
        !rows[0][2].contains("Avvertenza"),
        "editorial notes stay out of the text"
    );
    assert!(rows[0][3].contains("Art. 1") && rows[0][3].ends_with(&rows[0][2]));

    // Citations resolve to canonical ids and join the cited article's own chunks in the graph.
    let art5 = "urn:nir:stato:decreto.legislativo:2001;231~art5";
    let rows = query_rows(
        &data,
        &format!("SELECT referenced_norm_ids FROM chunks WHERE document_id = '{D231}' AND eid = 'art_6' ORDER BY ordinal LIMIT 1"),
    );
    assert!(
        rows[0][0].contains(&format!("\"{art5}-com1-leta\"")),
        "{}",
        rows[0][0]
    );
    let joined = scalar(
        &data,
        &format!(
            "SELECT COUNT(DISTINCT c.src) FROM graph_edges c JOIN graph_edges t ON t.dst = c.dst AND t.rel = 'TEXT_OF'
             WHERE c.rel = 'CITES' AND c.dst = 'Article:{art5}' AND t.src LIKE 'Chunk:{D231}#art_5%'"
        ),
    );
    assert!(
        joined >= 3,
        "chunks citing art. 5 reach its text through the graph: {joined}"
    );
    for origin in ["markup", "text", "note"] {
        let n = scalar(
            &data,
            &format!(
                "SELECT COUNT(*) FROM citations WHERE origin = '{origin}' AND norm_id IS NOT NULL"
            ),
        );
        assert!(n > 0, "no {origin} citations");
    }

    // Semantic check of the multilingual default: Italian queries that paraphrase (do not
    // repeat) article rubricas; the intended article must come first for at least 4 of 5.
    let paraphrases = [
        (
            "per quanto tempo possono essere applicate al massimo le misure cautelari all'ente",
            D231,
            "art_51",
        ),
        (
            "l'obbligo per ospedali e cliniche di stipulare una polizza assicurativa",
            GELLI,
            "art_10",
        ),
        (
            "la giornata in memoria delle vittime degli attentati terroristici",
            L56,
            "art_1",
        ),
        (
            "sequestro e confisca dei guadagni ottenuti con il reato",
            D231,
            "art_19",
        ),
        (
            "il fondo che risarcisce i danni causati dalla responsabilità sanitaria",
            GELLI,
            "art_14",
        ),
    ];
    let found: Vec<&str> = paraphrases
        .iter()
        .filter(|(q, doc, eid)| search_top(&data, q) == (doc.to_string(), eid.to_string()))
        .map(|(q, _, _)| *q)
        .collect();
    assert!(
        found.len() >= 4,
        "only {} of 5 paraphrases found their article: {found:?}",
        found.len()
    );

    // Search: a chunk's own embedded text finds that chunk first.
    for (doc, eid) in [
        (D231, "art_51"),
        (D231, "art_25-novies"),
        (GELLI, "art_1"),
        (L56, "art_2"),
    ] {
        let rows = query_rows(
            &data,
            &format!("SELECT embed_text FROM chunks WHERE document_id = '{doc}' AND eid = '{eid}' ORDER BY ordinal LIMIT 1"),
        );
        assert_eq!(
            search_top(&data, &rows[0][0]),
            (doc.to_string(), eid.to_string())
        );
    }

    // Vector payloads name the document, unit and model.
    let ids: Vec<String> = query_rows(
        &data,
        &format!("SELECT id FROM chunks WHERE document_id = '{L56}' ORDER BY ordinal"),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let edge = Arc::new(EdgeVectors::new(&data.join("vectors")));
    let points = edge.retrieve(MODEL, &ids).unwrap();
    assert_eq!(points.len(), 2);
    for p in &points {
        assert_eq!(p.payload["document_id"], L56);
        assert_eq!(p.payload["model_id"], MODEL);
        assert_eq!(p.payload["doc_type"], "norm");
        assert_eq!(p.vector.len(), 512);
    }
}

/// `ingest search` finds an article from its rubrica (the context header carries it).
fn search_top(data: &std::path::Path, query: &str) -> (String, String) {
    let r = run_args(&[
        "search",
        query,
        "--limit",
        "3",
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let top = &v[0];
    (
        top["document_id"].as_str().unwrap().to_string(),
        top["eid"].as_str().unwrap().to_string(),
    )
}

/// A list of the two small acts (legge 56/2007, legge Gelli-Bianco) in `dir`.
fn two_small_acts(dir: &std::path::Path) -> std::path::PathBuf {
    list(
        dir,
        "l.txt",
        &[
            fixture_line("norm/it_normattiva_legge_56_2007.xml"),
            fixture_line("norm/it_normattiva_legge_gelli_bianco.xml"),
        ],
    )
}

#[test]
fn the_same_list_twice_leaves_identical_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_small_acts(tmp.path());
    assert_eq!(ingest(&data, &l, &[], &[]).code, 0);
    let first = status(&data);
    let again = ingest(&data, &l, &[], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let s = again.summary();
    assert_eq!(s["documents_skipped_done"], 2);
    assert_eq!(s["chunks"], 0, "a finished list writes nothing new");
    let second = status(&data);
    for key in [
        "documents",
        "chunks",
        "vectors",
        "graph_nodes",
        "graph_edges",
        "stages",
        "jobs",
    ] {
        assert_eq!(first[key], second[key], "{key} changed on the second run");
    }
}

#[test]
fn long_articles_split_into_parts_that_keep_their_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let pipeline = tmp.path().join("small.toml");
    std::fs::write(&pipeline, "type = \"norm\"\n[chunk]\nmax_tokens = 96\n").unwrap();
    let l = list(
        tmp.path(),
        "l.txt",
        &[fixture_line("norm/it_normattiva_legge_gelli_bianco.xml")],
    );
    let r = ingest(&data, &l, &[], &["--pipeline", pipeline.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(units(&data, GELLI), 18);
    let rows = query_rows(
        &data,
        "SELECT eid, COALESCE(part, 0), parts, tokens, id FROM chunks ORDER BY ordinal",
    );
    assert!(rows.len() > 18, "a 96-token budget must split articles");
    let mut last: Option<(String, i64)> = None;
    for r in &rows {
        let (eid, part, parts, tokens) = (
            r[0].clone(),
            r[1].parse::<i64>().unwrap(),
            r[2].parse::<i64>().unwrap(),
            r[3].parse::<i64>().unwrap(),
        );
        assert!(tokens <= 96, "chunk {} has {tokens} tokens", r[4]);
        if parts > 1 {
            assert!(r[4].ends_with(&format!("#{eid}~p{part}")), "{}", r[4]);
            match &last {
                Some((le, lp)) if *le == eid => assert_eq!(part, lp + 1),
                _ => assert_eq!(part, 1),
            }
        } else {
            assert_eq!(part, 0);
        }
        last = Some((eid, part));
    }
}

#[test]
fn bad_inputs_are_rejected_one_line_each_and_the_rest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let junk = tmp.path().join("junk.xml");
    std::fs::write(&junk, [0u8, 159, 146, 150, 0xff, 0xfe, 7, 8, 9]).unwrap();
    let html = tmp.path().join("page.xml");
    std::fs::write(&html, "<html><body><p>not a norm</p></body></html>").unwrap();
    let empty = tmp.path().join("empty.xml");
    std::fs::write(&empty, "").unwrap();
    let truncated = tmp.path().join("truncated.xml");
    let full = std::fs::read(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let missing = tmp.path().join("missing.xml");
    let l = list(
        tmp.path(),
        "l.txt",
        &[
            junk.display().to_string(),
            html.display().to_string(),
            empty.display().to_string(),
            truncated.display().to_string(),
            missing.display().to_string(),
            "gopher://old.example/x".to_string(),
            fixture_line("norm/it_normattiva_legge_56_2007.xml"),
        ],
    );
    let r = ingest(&data, &l, &[], &[]);
    assert_eq!(r.code, 2, "some rejected -> exit 2; stderr: {}", r.stderr);
    let s = r.summary();
    assert_eq!(s["documents_ok"], 1);
    assert_eq!(s["documents_rejected"], 6);
    let rejected: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("rejected: "))
        .collect();
    assert_eq!(
        rejected.len(),
        6,
        "one line per rejected input:\n{}",
        r.stderr
    );
    for p in [&junk, &html, &empty, &truncated, &missing] {
        let line = rejected
            .iter()
            .find(|l| l.contains(&format!(": {}: ", p.display())))
            .unwrap_or_else(|| panic!("no line for {}:\n{}", p.display(), r.stderr));
        assert!(line.contains("parse stage"), "{line}");
    }
    assert!(
        r.stderr.contains("not an Akoma Ntoso document"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("file not found"), "{}", r.stderr);
    assert!(r.stderr.contains("input is empty"), "{}", r.stderr);
    assert!(
        r.stderr.contains("gopher://old.example/x") && r.stderr.contains("unsupported scheme"),
        "{}",
        r.stderr
    );
    let st = status(&data);
    assert_eq!(st["documents"], 1);
    assert_eq!(st["last_errors"].as_array().unwrap().len(), 5);
}

/// A tiny HTTP server on loopback: /ok serves a fixture, /gone answers 404, /flaky answers
/// 500 once and then the fixture.
fn serve(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut flaky_seen = false;
        listener.set_nonblocking(false).unwrap();
        for _ in 0..6 {
            let Ok((mut s, _)) = listener.accept() else {
                break;
            };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, payload): (&str, &[u8]) = match path.as_str() {
                "/ok.xml" => ("200 OK", &body),
                "/flaky.xml" if !flaky_seen => {
                    flaky_seen = true;
                    ("500 Internal Server Error", b"oops")
                }
                "/flaky.xml" => ("200 OK", &body),
                _ => ("404 Not Found", b"no"),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(payload);
        }
    });
    (format!("http://{addr}"), handle)
}

#[test]
fn http_sources_404_rejects_and_500_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let body = std::fs::read(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap();
    let flaky = String::from_utf8(body.clone())
        .unwrap()
        .replace("2007-05-04/56", "2007-05-04/9956");
    let (base, _h) = serve(flaky.into_bytes());
    let ok_body = body;
    let (base_ok, _h2) = serve(ok_body);
    let l = list(
        tmp.path(),
        "l.txt",
        &[
            format!("{base_ok}/ok.xml"),
            format!("{base}/gone.xml"),
            format!("{base}/flaky.xml"),
        ],
    );
    let r = ingest(&data, &l, &[], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["documents_ok"], 2, "{}", r.stderr);
    assert_eq!(s["documents_rejected"], 1);
    assert!(
        r.stderr
            .contains(&format!("rejected: {base}/gone.xml: parse stage: HTTP 404")),
        "{}",
        r.stderr
    );
    assert_eq!(status(&data)["documents"], 2);
}

#[test]
fn reembed_moves_stored_chunks_to_another_model_without_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_small_acts(tmp.path());
    assert_eq!(ingest(&data, &l, &[], &[]).code, 0);
    let before = status(&data);
    let chunks = before["chunks"].as_i64().unwrap();
    let minilm = "all-minilm-l6-v2-int8";
    let d = data.to_str().unwrap();
    let r = run_args(&["reembed", "--model", minilm, "--json", "--data-dir", d]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(s["documents"], 2);
    assert_eq!(s["chunks"].as_i64().unwrap(), chunks);
    let after = status(&data);
    assert_eq!(after["vectors"][minilm].as_i64().unwrap(), chunks);
    for stage in ["parse", "chunk", "embed", "enrich", "store"] {
        assert_eq!(
            stage_runs(&before, stage),
            stage_runs(&after, stage),
            "{stage} ran again"
        );
    }
    assert_eq!(
        scalar(
            &data,
            &format!("SELECT COUNT(*) FROM chunks WHERE model_id = '{minilm}'")
        ),
        chunks
    );
    // The new collection holds 384-d vectors with the same chunk ids and payloads.
    let ids: Vec<String> = query_rows(&data, "SELECT id FROM chunks ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    {
        // Opened in this process, the collection is locked: close it before the next command.
        let edge = Arc::new(EdgeVectors::new(&data.join("vectors")));
        let points = edge.retrieve(minilm, &ids).unwrap();
        assert_eq!(points.len(), ids.len());
        assert!(points
            .iter()
            .all(|p| p.vector.len() == 384 && p.payload["model_id"] == minilm));
    }
    // Idempotent: nothing left to move.
    let again = run_args(&["reembed", "--model", minilm, "--json", "--data-dir", d]);
    let s: serde_json::Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(s["documents"], 0);
    // Search through the new collection.
    let hits = run_args(&[
        "search",
        "Giorno della memoria",
        "--model",
        minilm,
        "--json",
        "--data-dir",
        d,
    ]);
    assert_eq!(hits.code, 0, "{}", hits.stderr);
    assert!(hits.stdout.contains(L56));
}

#[test]
fn a_changed_version_under_the_same_id_replaces_superseded_chunks_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let original =
        std::fs::read_to_string(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap();
    // The same expression (same document id) without its article 2, from another source.
    let start = original.find("<article eId=\"art_2\"").unwrap();
    let end = original[start..].find("</article>").unwrap() + start + "</article>".len();
    let changed = format!("{}{}", &original[..start], &original[end..]);
    let copy = tmp.path().join("legge_56_changed.xml");
    std::fs::write(&copy, changed).unwrap();

    let first = list(
        tmp.path(),
        "a.txt",
        &[fixture_line("norm/it_normattiva_legge_56_2007.xml")],
    );
    assert_eq!(ingest(&data, &first, &[], &[]).code, 0);
    let d = data.to_str().unwrap();
    // A second model's collection holds the old chunks too.
    assert_eq!(
        run_args(&[
            "reembed",
            "--model",
            "all-minilm-l6-v2-int8",
            "--data-dir",
            d
        ])
        .code,
        0
    );
    let art2 = format!("{L56}#art_2");
    assert_eq!(
        scalar(
            &data,
            &format!("SELECT COUNT(*) FROM chunks WHERE id = '{art2}'")
        ),
        1
    );

    let second = list(tmp.path(), "b.txt", &[copy.display().to_string()]);
    let r = ingest(&data, &second, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        scalar(&data, "SELECT COUNT(*) FROM documents"),
        1,
        "same id, one document"
    );
    assert_eq!(
        scalar(
            &data,
            &format!("SELECT COUNT(*) FROM chunks WHERE id = '{art2}'")
        ),
        0
    );
    assert_eq!(
        scalar(
            &data,
            &format!("SELECT COUNT(*) FROM graph_nodes WHERE id = 'Chunk:{art2}'")
        ),
        0
    );
    assert_eq!(scalar(&data, &format!("SELECT COUNT(*) FROM graph_edges WHERE src = 'Chunk:{art2}' OR dst = 'Chunk:{art2}'")), 0);
    let edge = Arc::new(EdgeVectors::new(&data.join("vectors")));
    for model in [MODEL, "all-minilm-l6-v2-int8"] {
        assert!(
            edge.retrieve(model, std::slice::from_ref(&art2))
                .unwrap()
                .is_empty(),
            "{model} still holds {art2}"
        );
        assert_eq!(
            edge.retrieve(model, &[format!("{L56}#art_1")])
                .unwrap()
                .len(),
            1,
            "{model}"
        );
    }
}

#[test]
fn length_bucketed_batches_give_every_chunk_its_own_vector() {
    // MiniLM's vectors do not depend on their batch, so the embed stage sorts a window of
    // chunks from both acts by length before cutting batches: each vector must still land on
    // its own chunk (equal to that text embedded alone).
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let l = two_small_acts(tmp.path());
    let minilm = "all-minilm-l6-v2-int8";
    let r = ingest(&data, &l, &[], &["--model", minilm]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = query_rows(
        &data,
        "SELECT id, embed_text, tokens FROM chunks ORDER BY document_id, ordinal",
    );
    let tokens: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let (lo, hi) = (tokens.iter().min().unwrap(), tokens.iter().max().unwrap());
    assert!(
        lo * 2 < *hi,
        "lengths {lo}..{hi}: sorting must reorder them"
    );
    assert!(
        ingest::embed::length_sorted_batches(&tokens, 32, 1024)
            .iter()
            .any(|b| b.windows(2).any(|w| w[0] > w[1])),
        "some batch takes chunks out of their order"
    );
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let stored: std::collections::HashMap<String, Vec<f32>> = {
        let edge = Arc::new(EdgeVectors::new(&data.join("vectors")));
        edge.retrieve(minilm, &ids)
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.payload["chunk_id"].as_str().unwrap().to_string(),
                    p.vector,
                )
            })
            .collect()
    };
    assert_eq!(stored.len(), rows.len());
    let m = ingest::embed::load(minilm, &ingest::embed::default_models_dir()).unwrap();
    for r in &rows {
        let alone = m.embed(&[r[1].as_str()]).unwrap().remove(0);
        let c = ingest::embed::cosine(&alone, &stored[&r[0]]);
        assert!(
            c > 0.9999,
            "{}: cosine {c} with its text embedded alone",
            r[0]
        );
    }
}

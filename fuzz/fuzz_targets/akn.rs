//! Akoma Ntoso parser: `ingest::parse::akn::parse` (acts) and `judgment_document`
//! (judgments) on arbitrary bytes.
//!
//! Invariants beyond "does not panic" (see the module docs of `src/parse/akn.rs`):
//! * the result is `Ok` or an error whose message is one line;
//! * unit eids are non-empty and unique in the document; every unit has a paragraph;
//! * single-line fields (num, heading, title, path entries, reference texts) hold no line break;
//! * paragraph text is trimmed and has no empty line;
//! * a judgment's parts are ordered, non-overlapping, within the text and on char boundaries.
#![no_main]

use std::collections::HashSet;

use ingest::parse::akn;
use libfuzzer_sys::fuzz_target;

fn one_line(what: &str, s: &str) {
    assert!(!s.contains(['\n', '\r']), "{what} spans lines: {s:?}");
}

fn check_error(e: &akn::AknError) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    one_line("error message", &msg);
}

fuzz_target!(|data: &[u8]| {
    match akn::parse(data) {
        Err(e) => check_error(&e),
        Ok(doc) => {
            if let Some(t) = &doc.title {
                one_line("title", t);
            }
            let mut eids = HashSet::new();
            for u in &doc.units {
                assert!(!u.eid.is_empty(), "empty eid");
                assert!(eids.insert(u.eid.as_str()), "duplicate eid {:?}", u.eid);
                assert!(
                    !u.paragraphs.is_empty(),
                    "unit {:?} has no paragraph",
                    u.eid
                );
                for s in u.num.iter().chain(&u.heading).chain(&u.path) {
                    one_line("unit field", s);
                }
                for p in &u.paragraphs {
                    if let Some(n) = &p.num {
                        one_line("paragraph num", n);
                    }
                    assert_eq!(p.text, p.text.trim(), "paragraph text not trimmed");
                    assert!(!p.text.contains("\n\n"), "empty line in {:?}", p.text);
                    for r in &p.refs {
                        one_line("ref text", &r.text);
                    }
                }
            }
        }
    }

    match akn::judgment_document(data) {
        Err(e) => check_error(&e),
        Ok(doc) => {
            let text = doc.text.as_str();
            assert!(!doc.parts.is_empty());
            let mut prev_end = 0;
            for p in &doc.parts {
                assert!(
                    prev_end <= p.start && p.start <= p.end && p.end <= text.len(),
                    "{p:?}"
                );
                assert!(text.is_char_boundary(p.start) && text.is_char_boundary(p.end));
                prev_end = p.end;
            }
            for b in &doc.blocks {
                assert!(b.start <= b.end && b.end <= text.len());
                let _ = doc.block_text(b);
            }
        }
    }
});

//! Citation extractor: `ingest::enrich::citations::extract` on arbitrary text (and
//! `key_from_href` on the same string), under a citing context chosen by the first byte.
//!
//! Invariants beyond "does not panic" (see the module docs of `src/enrich/citations.rs`):
//! * every span is non-empty, lies within the input, on char boundaries, and `text` is exactly
//!   the spanned input;
//! * citations come sorted by (start, end) and carry the origin they were asked for;
//! * keys are URN:NIR (`urn:nir:...`), article ids are lowercase without spaces or hyphens,
//!   a detail only comes with an article, and the act key reads back as the same act.
#![no_main]

use ingest::enrich::citations::{extract, key_from_href, CitationOrigin, CitingContext, NormKey};
use libfuzzer_sys::fuzz_target;

fn check_key(k: &NormKey) {
    assert!(k.act.starts_with("urn:nir:"), "{k:?}");
    if let Some(d) = &k.act_dated {
        assert!(d.starts_with("urn:nir:"), "{k:?}");
    }
    if let Some(a) = &k.article {
        assert!(!a.is_empty(), "{k:?}");
        assert!(
            !a.chars()
                .any(|c| c.is_whitespace() || c == '-' || c.is_uppercase()),
            "article id {a:?}"
        );
    }
    assert!(
        k.detail.is_none() || k.article.is_some(),
        "detail without article: {k:?}"
    );
    assert!(k.id().starts_with(&k.act));
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();

    let act = key_from_href("urn:nir:stato:decreto.legislativo:2001-06-08;231");
    let ctx = match sel % 3 {
        0 => CitingContext::default(),
        1 => CitingContext::new(act, None),
        _ => CitingContext::new(act, Some("2-bis")),
    };
    let origin = if sel & 0x80 == 0 {
        CitationOrigin::Text
    } else {
        CitationOrigin::Note
    };

    let cits = extract(text, &ctx, origin);
    let mut prev = (0, 0);
    for c in &cits {
        assert!(
            c.start < c.end && c.end <= text.len(),
            "span {}..{} of {}",
            c.start,
            c.end,
            text.len()
        );
        assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end));
        assert_eq!(c.text, text[c.start..c.end]);
        assert!((c.start, c.end) >= prev, "not sorted");
        prev = (c.start, c.end);
        assert_eq!(c.origin, origin);
        check_key(&c.key);
        let back = key_from_href(&c.key.act).map(|k| k.act);
        assert_eq!(
            back.as_deref(),
            Some(c.key.act.as_str()),
            "act key does not read back"
        );
    }

    if let Some(k) = key_from_href(text) {
        check_key(&k);
    }
});

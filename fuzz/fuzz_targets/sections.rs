//! Section detector: `ingest::chunk::section::sections` on a plain-text decision (built with
//! `parse_plain`, as the pipeline does for `.txt` input), then `split_section` on each section.
//!
//! Invariants beyond "does not panic" (the module's own `assert_well_formed` test helper):
//! * sections are ordered, non-overlapping, non-empty, trimmed, within the text, on char
//!   boundaries, with only whitespace between and around them;
//! * kinds strictly follow header → facts → reasoning → operative;
//! * a non-header section's heading opens its text;
//! * split parts lie inside their section, in order: each starts and ends after the previous one.
#![no_main]

use ingest::chunk::section::{sections, split_section, SectionKind};
use ingest::parse::text::parse_plain;
use libfuzzer_sys::fuzz_target;

fn rank(k: SectionKind) -> u8 {
    match k {
        SectionKind::Header => 0,
        SectionKind::Facts => 1,
        SectionKind::Reasoning => 2,
        SectionKind::Operative => 3,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let doc = parse_plain(&input);
    let text = doc.text.as_str();
    let (secs, _meta) = sections(&doc);

    if text.trim().is_empty() {
        assert!(secs.is_empty());
        return;
    }
    assert!(!secs.is_empty());
    for s in &secs {
        assert!(
            s.start < s.end && s.end <= text.len(),
            "{s:?} in {}",
            text.len()
        );
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        let t = s.text(&doc);
        assert_eq!(t, t.trim(), "{s:?}");
        if let (Some(h), false) = (&s.heading, s.kind == SectionKind::Header) {
            assert!(t.starts_with(h.as_str()), "{h:?} does not open {t:?}");
        }
    }
    for w in secs.windows(2) {
        assert!(w[0].end <= w[1].start, "{w:?}");
        assert!(rank(w[0].kind) < rank(w[1].kind), "{w:?}");
        assert!(text[w[0].end..w[1].start].trim().is_empty());
    }
    assert!(text[..secs[0].start].trim().is_empty());
    assert!(text[secs[secs.len() - 1].end..].trim().is_empty());

    // Splitting: sizes from the selector byte (1..=256 chars, overlap up to half).
    let max_chars = usize::from(sel) + 1;
    let overlap = usize::from(sel.rotate_left(3)) % (max_chars / 2 + 1);
    for s in &secs {
        let parts = split_section(&doc, s, max_chars, overlap);
        assert!(!parts.is_empty());
        let (mut prev_start, mut prev_end) = (s.start, s.start);
        for (i, p) in parts.iter().enumerate() {
            assert!(
                s.start <= p.start && p.start < p.end && p.end <= s.end,
                "{p:?} of {s:?}"
            );
            assert!(text.is_char_boundary(p.start) && text.is_char_boundary(p.end));
            assert!(
                i == 0 || (p.start > prev_start && p.end > prev_end),
                "part {i} of {parts:?}"
            );
            assert_eq!(p.kind, s.kind);
            (prev_start, prev_end) = (p.start, p.end);
        }
    }
});

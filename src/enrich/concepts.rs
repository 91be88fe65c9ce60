//! Concept linking: mentions of legal concepts of a user-replaceable vocabulary
//! (`pipelines/concepts.tsv`), so chunks can be tagged and linked by stable concept ids
//! (`responsabilita-extracontrattuale`, `avviso-di-accertamento`, ...).
//!
//! # Vocabulary format
//!
//! `id<TAB>preferred label<TAB>synonym|synonym|...`, one concept a line; `#` comment lines
//! and blank lines are ignored; the synonyms column may be empty or missing. Ids are lowercase
//! ASCII words joined by `-`. Errors name `origin:line`.
//!
//! # Matching rules
//!
//! * Text and phrases are compared word by word after folding: lowercase, Latin accents removed
//!   ("nullità" = "nullita" = "NULLITA'" — the apostrophe used as an accent is a separator),
//!   anything that is not a letter or digit separates words ("decreto-legge" = "decreto legge",
//!   "d'appalto" = "d appalto"). Words match whole: "reatino" does not contain "reato".
//! * Function words inside a phrase are interchangeable within their class, so a phrase in the
//!   singular also matches the plural: articles (il/lo/la/l'/i/gli/le), "di"/"d'", and each
//!   articulated preposition (del/dello/della/dell'/dei/degli/delle; al..., dal..., nel...,
//!   sul...): "risarcimento del danno" = "risarcimento dei danni", "contratto di appalto" =
//!   "contratto d'appalto".
//! * Each other word also matches its regular singular/plural counterpart, generated from its
//!   ending: -o ↔ -i, -a → -e, -e → -i, -i → -o/-e, -co → -ci/-chi, -go → -gi/-ghi, -ca → -che,
//!   -ga → -ghe, -cia/-gia → -ce/-ge (and -cie/-gie), -io → -i/-ii, -ma → -me/-mi, -che → -ca,
//!   -chi → -co, -ghe → -ga, -ghi → -go. Not inflected: words of three letters or less, acronyms written in capitals
//!   (IVA, PEC), words ending in an accented vowel (nullità) or a consonant. There is no
//!   stemming: only these exact forms match, so unrelated words sharing a stem do not.
//!   Irregular forms are listed as synonyms.
//! * A phrase does not run across a sentence boundary (`.`, `;`, `:`, `?`, `!`, blank line);
//!   commas, quotes, parentheses and line breaks inside a phrase are fine.
//! * The longest phrase wins at a position ("danno non patrimoniale" over "danno"); matches do
//!   not overlap and are reported left to right. A phrase written in the vocabulary beats a
//!   generated inflection of another concept's phrase; between two generated forms the
//!   concept listed first wins.

use super::fold_char;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One concept of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concept {
    /// Stable id (`responsabilita-extracontrattuale`).
    pub id: String,
    /// Preferred label (`responsabilità extracontrattuale`).
    pub label: String,
    pub synonyms: Vec<String>,
}

/// A mention of a concept in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConceptMatch {
    pub concept_id: String,
    /// Byte span in the text given to [`Vocabulary::find`].
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Default, Clone)]
struct Node {
    children: HashMap<String, usize>,
    /// (concept index, written in the vocabulary rather than generated).
    terminal: Option<(usize, bool)>,
}

/// A parsed vocabulary with its phrase index.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    concepts: Vec<Concept>,
    nodes: Vec<Node>,
}

// ---------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------

/// A word of a text: byte span, folded form, and whether a sentence boundary (`.`, `;`, `:`,
/// `?`, `!` or a blank line) separates it from the previous word.
struct Word {
    start: usize,
    end: usize,
    folded: String,
    boundary: bool,
}

fn words(text: &str) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::with_capacity(text.len() / 6);
    let mut cur: Option<Word> = None;
    let mut gap_boundary = false;
    let mut newlines = 0;
    for (i, c) in text.char_indices() {
        match fold_char(c) {
            Some(f) => {
                let w = cur.get_or_insert_with(|| Word {
                    start: i,
                    end: i,
                    folded: String::new(),
                    boundary: gap_boundary || newlines > 1,
                });
                w.folded.push(f);
                gap_boundary = false;
                newlines = 0;
            }
            None => {
                if let Some(mut w) = cur.take() {
                    w.end = i;
                    out.push(w);
                }
                match c {
                    '.' | ';' | ':' | '?' | '!' => gap_boundary = true,
                    '\n' => newlines += 1,
                    _ => {}
                }
            }
        }
    }
    if let Some(mut w) = cur {
        w.end = text.len();
        out.push(w);
    }
    out
}

/// Function-word classes: every member matches every other member of its class.
const CLASSES: &[(&str, &[&str])] = &[
    ("#art", &["il", "lo", "la", "l", "i", "gli", "le"]),
    ("#di", &["di", "d"]),
    (
        "#del",
        &["del", "dello", "della", "dell", "dei", "degli", "delle"],
    ),
    ("#al", &["al", "allo", "alla", "all", "ai", "agli", "alle"]),
    (
        "#dal",
        &["dal", "dallo", "dalla", "dall", "dai", "dagli", "dalle"],
    ),
    (
        "#nel",
        &["nel", "nello", "nella", "nell", "nei", "negli", "nelle"],
    ),
    (
        "#sul",
        &["sul", "sullo", "sulla", "sull", "sui", "sugli", "sulle"],
    ),
    ("#un", &["un", "uno", "una"]),
];

static CLASS_OF: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    CLASSES
        .iter()
        .flat_map(|(class, ws)| ws.iter().map(move |w| (*w, *class)))
        .collect()
});

/// The trie key of a folded text word: its class for function words, else the word.
fn key(w: &str) -> &str {
    CLASS_OF.get(w).copied().unwrap_or(w)
}

/// Endings and their counterparts (longest ending first).
const INFLECTIONS: &[(&str, &[&str])] = &[
    ("cia", &["ce", "cie"]),
    ("gia", &["ge", "gie"]),
    ("che", &["ca"]),
    ("ghe", &["ga"]),
    ("chi", &["co"]),
    ("ghi", &["go"]),
    ("io", &["i", "ii"]),
    ("co", &["ci", "chi"]),
    ("go", &["gi", "ghi"]),
    ("ca", &["che"]),
    ("ga", &["ghe"]),
    ("ma", &["mi", "me"]),
    ("o", &["i"]),
    ("a", &["e"]),
    ("e", &["i"]),
    ("i", &["o", "e"]),
];

/// Accepted forms of one vocabulary word as written (`original`, to see accents and capitals).
fn forms(original: &str, folded: &str) -> Vec<String> {
    let class = key(folded);
    if class != folded {
        return vec![class.to_string()];
    }
    let mut out = vec![folded.to_string()];
    let accented_end = original
        .chars()
        .last()
        .is_some_and(|c| c.is_alphabetic() && !c.is_ascii());
    let acronym = original.chars().filter(|c| c.is_alphabetic()).count() > 1
        && original
            .chars()
            .all(|c| !c.is_alphabetic() || c.is_uppercase());
    if folded.len() <= 3 || accented_end || acronym || folded.bytes().any(|b| b.is_ascii_digit()) {
        return out;
    }
    if let Some((end, alts)) = INFLECTIONS.iter().find(|(e, _)| folded.ends_with(e)) {
        let stem = &folded[..folded.len() - end.len()];
        out.extend(alts.iter().map(|a| format!("{stem}{a}")));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Vocabulary {
    /// Parse the TSV format (see the module docs). Errors name `origin:line`.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let mut v = Vocabulary {
            concepts: Vec::new(),
            nodes: vec![Node::default()],
        };
        let mut ids: HashMap<String, usize> = HashMap::new();
        // Exact phrase keys (classes applied, no inflection) → (concept, line).
        let mut phrases: HashMap<Vec<String>, (usize, usize)> = HashMap::new();
        let mut pending: Vec<(usize, Vec<(String, String)>)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r');
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = l.split('\t').collect();
            if cols.len() < 2 || cols.len() > 3 {
                return Err(format!(
                    "{origin}:{line}: expected `id<TAB>label<TAB>synonyms`, got {} column(s)",
                    cols.len()
                ));
            }
            let id = cols[0].trim();
            if !valid_id(id) {
                return Err(format!(
                    "{origin}:{line}: invalid id `{id}` (lowercase ASCII letters and digits joined by '-')"
                ));
            }
            if let Some(prev) = ids.get(id) {
                return Err(format!(
                    "{origin}:{line}: duplicate id `{id}` (line {prev})"
                ));
            }
            ids.insert(id.to_string(), line);
            let label = cols[1].trim();
            if label.is_empty() {
                return Err(format!("{origin}:{line}: empty label for `{id}`"));
            }
            let synonyms: Vec<String> = cols
                .get(2)
                .map(|s| {
                    s.split('|')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let idx = v.concepts.len();
            let mut concept_phrases = Vec::new();
            for phrase in std::iter::once(label).chain(synonyms.iter().map(String::as_str)) {
                let ws = words(phrase);
                if ws.is_empty() {
                    return Err(format!("{origin}:{line}: phrase `{phrase}` has no words"));
                }
                let exact: Vec<String> = ws.iter().map(|w| key(&w.folded).to_string()).collect();
                match phrases.get(&exact) {
                    Some(&(other, oline)) if other != idx => {
                        return Err(format!(
                            "{origin}:{line}: phrase `{phrase}` already names `{}` (line {oline})",
                            v.concepts[other].id
                        ));
                    }
                    _ => {
                        phrases.insert(exact, (idx, line));
                    }
                }
                concept_phrases.push(
                    ws.into_iter()
                        .map(|w| (phrase[w.start..w.end].to_string(), w.folded))
                        .collect(),
                );
            }
            v.concepts.push(Concept {
                id: id.to_string(),
                label: label.to_string(),
                synonyms,
            });
            for p in concept_phrases {
                pending.push((idx, p));
            }
        }
        // Written phrases first, so that they beat generated inflections of other phrases.
        for (idx, p) in &pending {
            let exact: Vec<String> = p.iter().map(|(_, w)| key(w).to_string()).collect();
            v.insert(&exact, *idx, true);
        }
        for (idx, p) in &pending {
            let alts: Vec<Vec<String>> = p.iter().map(|(o, w)| forms(o, w)).collect();
            v.insert_all(&alts, *idx);
        }
        Ok(v)
    }

    /// The vocabulary shipped with the pipeline (`pipelines/concepts.tsv`).
    pub fn bundled() -> &'static Vocabulary {
        static V: LazyLock<Vocabulary> = LazyLock::new(|| {
            Vocabulary::parse(
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/pipelines/concepts.tsv"
                )),
                "pipelines/concepts.tsv",
            )
            .expect("bundled vocabulary parses (checked by tests)")
        });
        &V
    }

    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }

    /// The concept with this id.
    pub fn concept(&self, id: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.id == id)
    }

    fn insert(&mut self, keys: &[String], idx: usize, written: bool) {
        let mut n = 0;
        for k in keys {
            n = match self.nodes[n].children.get(k) {
                Some(&c) => c,
                None => {
                    self.nodes.push(Node::default());
                    let c = self.nodes.len() - 1;
                    self.nodes[n].children.insert(k.clone(), c);
                    c
                }
            };
        }
        let t = &mut self.nodes[n].terminal;
        match t {
            None => *t = Some((idx, written)),
            Some((_, false)) if written => *t = Some((idx, written)),
            _ => {}
        }
    }

    /// Insert every combination of the words' forms (generated, not written).
    fn insert_all(&mut self, alts: &[Vec<String>], idx: usize) {
        let mut combo: Vec<String> = Vec::with_capacity(alts.len());
        self.combine(alts, 0, &mut combo, idx);
    }

    fn combine(&mut self, alts: &[Vec<String>], i: usize, combo: &mut Vec<String>, idx: usize) {
        if i == alts.len() {
            let keys = combo.clone();
            self.insert(&keys, idx, false);
            return;
        }
        for f in &alts[i] {
            combo.push(f.clone());
            self.combine(alts, i + 1, combo, idx);
            combo.pop();
        }
    }

    /// Mentions of the vocabulary's concepts in `text`, left to right, longest first, without
    /// overlaps.
    pub fn find(&self, text: &str) -> Vec<ConceptMatch> {
        let ws = words(text);
        let mut out = Vec::new();
        let mut i = 0;
        while i < ws.len() {
            let mut n = 0;
            let mut best: Option<(usize, usize)> = None;
            for (j, w) in ws.iter().enumerate().skip(i).take(24) {
                if j > i && w.boundary {
                    break;
                }
                match self.nodes[n].children.get(key(&w.folded)) {
                    Some(&c) => {
                        n = c;
                        if let Some((idx, _)) = self.nodes[n].terminal {
                            best = Some((idx, j));
                        }
                    }
                    None => break,
                }
            }
            match best {
                Some((idx, j)) => {
                    out.push(ConceptMatch {
                        concept_id: self.concepts[idx].id.clone(),
                        start: ws[i].start,
                        end: ws[j].end,
                    });
                    i = j + 1;
                }
                None => i += 1,
            }
        }
        out
    }

    /// Distinct ids of the concepts mentioned in `text`, in order of first mention.
    pub fn related_concept_ids(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.find(text) {
            if !out.contains(&m.concept_id) {
                out.push(m.concept_id);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &Vocabulary, text: &str) -> Vec<(String, String)> {
        v.find(text)
            .into_iter()
            .map(|m| {
                assert!(m.start < m.end && m.end <= text.len());
                (m.concept_id, text[m.start..m.end].to_string())
            })
            .collect()
    }

    fn assert_ids(text: &str, expect: &[(&str, &str)]) {
        let got = ids(Vocabulary::bundled(), text);
        let exp: Vec<(String, String)> = expect
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, exp, "text: {text:?}");
    }

    /// Real sentences (file:line; PDFs as `pdftotext -layout`; norms: line of the XML, tags
    /// stripped; DOCX: paragraph of word/document.xml).
    #[rustfmt::skip]
    const CORPUS: &[(&str, &[(&str, &str)])] = &[
        // jurisprudence/cass_snciv2025530039O.txt:83-84
        ("il contribuente Gjyzeli\nArdian ha proposto ricorso per cassazione, affidato a cinque motivi.", &[
            ("ricorso-per-cassazione", "ricorso per cassazione"),
        ]),
        // cass_snciv2025530039O.txt:34-35 (elided article before the phrase)
        ("si osserva che l’Agenzia delle Entrate emetteva\navviso di accertamento per l’anno d’imposta 2007, a carico del", &[
            ("avviso-di-accertamento", "avviso di accertamento"),
        ]),
        // cass_snciv2025530039O.txt:39-41 (acronym after an elision; English synonym)
        ("contribuente contestava il mancato riconoscimento dell’IVA con\napplicazione dell’aliquota agevolata (il cd. reverse charge) nonché\nl’applicazione dello studio di settore così come rivisto", &[
            ("iva", "IVA"),
            ("inversione-contabile", "reverse charge"),
            ("studi-di-settore", "studio di settore"),
        ]),
        // cass_snciv2025530039O.txt:89-91
        ("comma 1, n. 4), c.p.c., la nullità della sentenza impugnata, per la sua\nmotivazione apparente, deducendo la violazione dell’art. 36 del d.lgs. n.", &[
            ("nullita", "nullità"),
            ("motivazione-apparente", "motivazione apparente"),
        ]),
        // cass_snciv2025530039O.txt:194
        ("4.- La censura risulta palesemente inammissibile, sotto plurimi profili.", &[
            ("inammissibilita", "inammissibile"),
        ]),
        // cass_snciv2025530039O.txt:373-375, :382
        ("il ricorso deve essere respinto e il contribuente\ncondannato al pagamento delle spese processuali nella misura liquidata in\ndispositivo.", &[
            ("spese-di-lite", "spese processuali"),
        ]),
        ("parte del ricorrente, di un ulteriore importo a titolo di contributo unificato", &[
            ("contributo-unificato", "contributo unificato"),
        ]),
        // cass_snciv2025530638S.pdf (layout) :194-195 (phrase across a line break)
        ("     5. Con il secondo motivo si denuncia violazione e falsa\napplicazione degli artt. 115 e 116 cod. proc. civ. e 2697 cod. civ., ai", &[
            ("violazione-di-legge", "violazione e falsa\napplicazione"),
        ]),
        // cass_snciv2025530638S.pdf (layout) :261-262, :540 (longest phrase: not "rinvio")
        ("cui, in tema di accertamento nei confronti di chi abbia gestito “uti\ndominus” una società di capitali, ridotta a mero schermo, si", &[
            ("societa-di-capitali", "società di capitali"),
        ]),
        ("motivo, la sentenza impugnata deve essere cassata con rinvio, per", &[
            ("cassazione-con-rinvio", "cassata con rinvio"),
        ]),
        // cass_snciv2025530646O.pdf (layout) :52-53 (plural of a singular label)
        ("correzione degli errori materiali di cui agli artt. 287 e 288 cod. proc.\nciv., e non dagli ordinari mezzi di impugnazione, non potendo la", &[
            ("correzione-errore-materiale", "correzione degli errori materiali"),
            ("impugnazione", "mezzi di impugnazione"),
        ]),
        // norm/it_normattiva_legge_gelli_bianco.xml:632 ("responsabilita'" with the accent as apostrophe)
        ("Chi intende esercitare un'azione innanzi al giudice civile relativa a una controversia di risarcimento del danno derivante da responsabilita' sanitaria e' tenuto preliminarmente a proporre ricorso", &[
            ("risarcimento-del-danno", "risarcimento del danno"),
            ("responsabilita-medica", "responsabilita' sanitaria"),
        ]),
        // norm/it_normattiva_dlgs_82_2005_CAD.xml:1216
        ("((1-bis. Il documento informatico soddisfa il requisito della forma scritta e ha l'efficacia prevista dall'articolo 2702 del Codice civile quando vi e' apposta una firma digitale, altro tipo di firma elettronica qualificata o una firma elettronica avanzata", &[
            ("documento-informatico", "documento informatico"),
            ("firma-digitale", "firma digitale"),
            ("firma-elettronica", "firma elettronica qualificata"),
            ("firma-elettronica", "firma elettronica avanzata"),
        ]),
        // norm/it_normattiva_codice_penale.xml:9083
        ("La Corte Costituzionale, con sentenza 19-22 febbraio 1985, n. 51 (in G.U. 1ª s.s. 27/02/1985, n. 50), ha dichiarato \"l'illegittimita' costituzionale dell'art. 1", &[
            ("legittimita-costituzionale", "illegittimita' costituzionale"),
        ]),
        // doctrine/tesi_piras_01-prova-scientifica.md:29
        ("Il pregio di questa definizione è che collega esplicitamente la prova informatica al diritto penale, ed indica la sua funzione in maniera generale.", &[
            ("prova-informatica", "prova informatica"),
        ]),
        // docx/ondata_email_schema_dati.docx, paragraph 24
        ("Nuovo reato di femminicidio: L’articolo 1, lettera a) introduce il nuovo art. 577-bis CP (Femminicidio).", &[
            ("reato", "reato"),
            ("femminicidio", "femminicidio"),
            ("femminicidio", "Femminicidio"),
        ]),
        // image/synthetic_it_legal.gt.txt:2-3 ("doloso" is not "dolo")
        ("Qualunque fatto doloso o colposo, che cagiona ad altri un danno ingiusto,\nobbliga colui che ha commesso il fatto a risarcire il danno.", &[
            ("responsabilita-extracontrattuale", "danno ingiusto"),
            ("risarcimento-del-danno", "risarcire il danno"),
        ]),
    ];

    #[test]
    fn corpus_sentences() {
        for (text, expect) in CORPUS {
            assert_ids(text, expect);
        }
    }

    #[test]
    fn inflections_and_function_words() {
        assert_ids(
            "i danni e i reati; due ricorsi per cassazione",
            &[
                ("danno", "danni"),
                ("reato", "reati"),
                ("ricorso-per-cassazione", "ricorsi per cassazione"),
            ],
        );
        assert_ids(
            "il risarcimento dei danni nei contratti d'appalto",
            &[
                ("risarcimento-del-danno", "risarcimento dei danni"),
                ("contratto-di-appalto", "contratti d'appalto"),
            ],
        );
        assert_ids(
            "prove scientifiche, consulenti tecnici, perizie e notificazioni",
            &[
                ("prova-scientifica", "prove scientifiche"),
                ("consulenza-tecnica", "consulenti tecnici"),
                ("perizia", "perizie"),
                ("notificazione", "notificazioni"),
            ],
        );
        assert_ids(
            "il dato personale e i dati personali",
            &[
                ("dati-personali", "dato personale"),
                ("dati-personali", "dati personali"),
            ],
        );
        // Accent- and case-insensitive.
        assert_ids(
            "NULLITA' del contratto; Responsabilità Extracontrattuale",
            &[
                ("nullita", "NULLITA"),
                (
                    "responsabilita-extracontrattuale",
                    "Responsabilità Extracontrattuale",
                ),
            ],
        );
    }

    #[test]
    fn longest_match_and_word_boundaries() {
        assert_ids(
            "il danno non patrimoniale e il danno",
            &[
                ("danno-non-patrimoniale", "danno non patrimoniale"),
                ("danno", "danno"),
            ],
        );
        assert_ids(
            "i danni non patrimoniali",
            &[("danno-non-patrimoniale", "danni non patrimoniali")],
        );
        assert_ids(
            "il sequestro di persona e il sequestro preventivo",
            &[
                ("sequestro-di-persona", "sequestro di persona"),
                ("sequestro", "sequestro preventivo"),
            ],
        );
        for t in [
            "un cittadino reatino, un fatto dannoso, un appellante, il codice penale",
            "la separazione dei poteri, Ivana, le penali contrattuali",
            "la firma. Digitale e' il timbro",
            "",
        ] {
            assert!(
                ids(Vocabulary::bundled(), t).is_empty(),
                "{t:?}: {:?}",
                ids(Vocabulary::bundled(), t)
            );
        }
    }

    #[test]
    fn related_ids_in_first_occurrence_order() {
        let v = Vocabulary::bundled();
        assert_eq!(
            v.related_concept_ids("reato e pena; la pena per il reato; dolo"),
            vec!["reato", "pena", "dolo"]
        );
        assert!(v.related_concept_ids("nulla di rilevante").is_empty());
    }

    #[test]
    fn bundled_vocabulary() {
        let v = Vocabulary::bundled();
        assert!(
            (60..=150).contains(&v.concepts().len()),
            "{}",
            v.concepts().len()
        );
        let c = v
            .concept("responsabilita-amministrativa-enti")
            .expect("concept");
        assert_eq!(c.label, "responsabilità amministrativa degli enti");
        assert!(v.concepts().iter().all(|c| valid_id(&c.id)));
    }

    #[test]
    fn parse_errors_name_origin_and_line() {
        let err = |t: &str| Vocabulary::parse(t, "vocab.tsv").expect_err("must fail");
        assert!(err("# c\n\nreato\treato\nDanno\tdanno\n")
            .starts_with("vocab.tsv:4: invalid id `Danno`"));
        assert!(err("reato reato\n").starts_with("vocab.tsv:1: expected"));
        assert!(err("a\tb\tc\td\n").starts_with("vocab.tsv:1: expected"));
        assert!(err("reato\treato\nreato\tdelitto\n")
            .starts_with("vocab.tsv:2: duplicate id `reato` (line 1)"));
        assert!(err("reato\t \n").starts_with("vocab.tsv:1: empty label"));
        assert!(err("reato\treato\t--\n").starts_with("vocab.tsv:1: phrase `--` has no words"));
        let e = err("reato\treato\ndelitto\tdelitto\tReato\n");
        assert!(
            e.starts_with("vocab.tsv:2: phrase `Reato` already names `reato` (line 1)"),
            "{e}"
        );
        // Function-word variants are the same phrase.
        let e = err("a\tcontratto di appalto\nb\tcontratto d'appalto\n");
        assert!(e.starts_with("vocab.tsv:2: phrase"), "{e}");
    }

    #[test]
    fn user_vocabulary_replaces_bundled() {
        let v = Vocabulary::parse(
            "# mine\ngdpr\tregolamento generale sulla protezione dei dati\tGDPR\n\npena\tpena\t\n",
            "mine.tsv",
        )
        .expect("parses");
        assert_eq!(v.concepts().len(), 2);
        assert_eq!(v.concepts()[1].synonyms, Vec::<String>::new());
        assert_eq!(
            v.related_concept_ids(
                "Il GDPR (Regolamento generale sulla protezione dei dati) e le pene"
            ),
            vec!["gdpr", "pena"]
        );
        // A written phrase of one concept beats a generated form of another.
        let v = Vocabulary::parse("a\tpena\nb\tpene\n", "x.tsv").expect("parses");
        assert_eq!(v.related_concept_ids("le pene"), vec!["b"]);
        assert_eq!(v.related_concept_ids("la pena"), vec!["a"]);
    }
}

//! Named entities in Italian legal text: courts, organisations, persons, dates, places, money.
//!
//! Rules and gazetteers, precision over recall: an entity is produced only where a title, a
//! court or company keyword, a preposition or a gazetteer entry makes it unambiguous.
//!
//! # What is recognised
//!
//! | kind | how | normalised |
//! |---|---|---|
//! | court | gazetteer (`court` entries: "Corte di Cassazione", "Corte costituzionale", ...); rules for courts named after a seat: "Tribunale di Roma", "Corte d'appello di Milano", "TAR Lazio" / "Tribunale amministrativo regionale del Lazio", "Commissione tributaria regionale della Lombardia" / "CTR del Piemonte" / "CTP di Alessandria", "Corte di giustizia tributaria di secondo grado della Campania", "Giudice di pace di Bari"; sections ("Sezione Quinta Civile", "SEZIONE TRIBUTARIA", "Sezioni Unite") alone or joined to the court right before them | court code of [`super::decisions::court_id`] (`cass`, `trib-roma`, `ctr-campania`); none for a section alone |
//! | organization | gazetteer (`organization` entries: public bodies, authorities, ministries, regions); rules: "Comune di X", "Provincia di X", "Città metropolitana di X", "Camera di commercio ... di X", "Procura della Repubblica presso il Tribunale di X", "Università ... di X"; companies: capitalised name + legal form ("S.O.S. WILD S.R.L.", "GRM s.r.l.", "Riscossione Sicilia s.p.a.", "LA FARMACIA DELLA GALLERIA SAS", "Rossi & Figli S.n.c.") | canonical gazetteer name; rules: as written ("Comune di Milano"; capitals in sentence case: "Camera di commercio di Roma"); companies: name + standard form ("GRM S.r.l.") |
//! | person | a title before a capitalised name: "Presidente:", "Relatore:" (italgiure header, same line), "dott.", "dott.ssa", "dr.", "avv.", "avvocato", "prof.", "Pres.", "Rel.", "Cons.", "Consigliere (relatore)", "Il Presidente", "(Sostituto) Procuratore Generale", "sig.", "notaio", ... (chained: "Consigliere relatore dott. Francesco Graziano") | none (personal data) |
//! | date | "12 marzo 2020", "1° gennaio 2021", "12/03/2020", "12.03.2020", "12-03-2020"; "dicembre 2009" | ISO `2020-03-12`, `2009-12` |
//! | place | gazetteer (`place`: Italy, regions, provincial capitals) right after a preposition ("in Roma", "di Napoli", "nelle Marche", "in ROMA VIA ...") | canonical name |
//! | money | "euro 1.234,56", "€ 5.900,00", "€. 5.900,00", "Euro 200.000", "5.000 euro", "2 milioni di euro", "lire 1.000.000" | `1234.56 EUR`, `1000000.00 ITL` |
//!
//! The text of a person is the name without the title. Entities are sorted by start and do
//! not overlap: the longest wins ("Tribunale di Roma" over "Roma", "Procura generale presso la
//! Corte di cassazione" over "Corte di cassazione"), ties go to the earlier start.
//!
//! # Pseudonymised decisions
//!
//! Cassazione decisions replace parties with "(Omissis)", placeholder names ("Alfa S.r.l.",
//! "Beta", "Tizio", "Caio", "Sempronio", "Mevio") and initials ("R.M."). These give no entity:
//! placeholder names and names made only of initials are dropped, "Omissis" stops a name.
//!
//! Not produced (by design): "Stato", "Corte", "Ufficio" alone; "questa Corte"; capitalised
//! words at the start of a sentence; names without a title (parties in capitals in the header,
//! "Gjyzeli Ardian"); places without a preposition ("Roma, 12 marzo"); streets ("Via Roma").
//!
//! Known limits: a person's name written across a page stamp, or with more than five words, is
//! cut; a company name preceded by a capitalised word that is not part of it ("Ricorre Gamma
//! S.r.l.") keeps that word unless it is a common function word; dates with two-digit years and
//! amounts in words ("euro cinquemilanovecento/00") are not read.

use super::citations::MONTHS_RE;
use super::fold_char;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

use super::decisions::court_id;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    Court,
    /// Legal persons and public bodies.
    Organization,
    Person,
    Date,
    Place,
    Money,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Court => "court",
            EntityKind::Organization => "organization",
            EntityKind::Person => "person",
            EntityKind::Date => "date",
            EntityKind::Place => "place",
            EntityKind::Money => "money",
        }
    }

    /// Whether the entity is personal data (GDPR): only persons.
    pub fn is_personal_data(self) -> bool {
        matches!(self, EntityKind::Person)
    }

    /// Kinds a gazetteer may list.
    fn from_gazetteer(s: &str) -> Option<Self> {
        match s {
            "court" => Some(EntityKind::Court),
            "organization" => Some(EntityKind::Organization),
            "place" => Some(EntityKind::Place),
            _ => None,
        }
    }
}

/// One entity found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub text: String,
    /// Byte span of `text` in the text given to [`find_entities`].
    pub start: usize,
    pub end: usize,
    /// ISO date, amount ("1234.56 EUR"), court code, canonical organisation / place name.
    pub normalized: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Tokens (shared by the gazetteer and the rules)
// ---------------------------------------------------------------------------------------------

/// Word tokens of a text: byte span in the text and range in the folded buffer.
struct Tokens {
    folded: String,
    toks: Vec<(usize, usize, usize, usize)>,
}

impl Tokens {
    fn new(text: &str) -> Self {
        let mut folded = String::with_capacity(text.len());
        let mut toks = Vec::with_capacity(text.len() / 6);
        let mut cur: Option<(usize, usize)> = None;
        for (i, c) in text.char_indices() {
            match fold_char(c) {
                Some(f) => {
                    if cur.is_none() {
                        cur = Some((i, folded.len()));
                    }
                    folded.push(f);
                }
                None => {
                    if let Some((s, fs)) = cur.take() {
                        toks.push((s, i, fs, folded.len()));
                    }
                }
            }
        }
        if let Some((s, fs)) = cur {
            toks.push((s, text.len(), fs, folded.len()));
        }
        Tokens { folded, toks }
    }

    fn word(&self, i: usize) -> &str {
        let (_, _, a, b) = self.toks[i];
        &self.folded[a..b]
    }

    /// Index of the first token starting at or after `pos`.
    fn at(&self, pos: usize) -> usize {
        self.toks.partition_point(|t| t.0 < pos)
    }
}

fn fold_words(s: &str) -> Vec<String> {
    let t = Tokens::new(s);
    (0..t.toks.len()).map(|i| t.word(i).to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Gazetteer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct GazEntry {
    kind: EntityKind,
    canonical: String,
    /// Value of `Entity::normalized`.
    normalized: String,
    line: usize,
}

#[derive(Debug, Default, Clone)]
struct Node {
    children: HashMap<String, usize>,
    entry: Option<usize>,
}

/// Names of courts, organisations and places (user-replaceable: `pipelines/gazetteer.tsv`).
#[derive(Debug, Clone)]
pub struct Gazetteer {
    entries: Vec<GazEntry>,
    /// Word trie of the aliases (folded words).
    nodes: Vec<Node>,
}

impl Gazetteer {
    /// Parse the TSV format `kind<TAB>canonical name<TAB>alias|alias|...` (`#` comments, blank
    /// lines ignored). Errors name `origin:line`.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let mut g = Gazetteer {
            entries: Vec::new(),
            nodes: vec![Node::default()],
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r');
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = l.split('\t').collect();
            if cols.len() < 2 || cols.len() > 3 {
                return Err(format!(
                    "{origin}:{line}: expected `kind<TAB>canonical name<TAB>aliases`, got {} column(s)",
                    cols.len()
                ));
            }
            let kind = EntityKind::from_gazetteer(cols[0].trim()).ok_or_else(|| {
                format!(
                    "{origin}:{line}: unknown kind `{}` (court, organization or place)",
                    cols[0].trim()
                )
            })?;
            let canonical = cols[1].trim();
            if fold_words(canonical).is_empty() {
                return Err(format!("{origin}:{line}: empty canonical name"));
            }
            let normalized = match kind {
                EntityKind::Court => court_id(canonical).unwrap_or_else(|| canonical.to_string()),
                _ => canonical.to_string(),
            };
            let idx = g.entries.len();
            g.entries.push(GazEntry {
                kind,
                canonical: canonical.to_string(),
                normalized,
                line,
            });
            let aliases = cols.get(2).copied().unwrap_or("");
            for alias in std::iter::once(canonical).chain(aliases.split('|')) {
                let alias = alias.trim();
                if alias.is_empty() {
                    continue;
                }
                let words = fold_words(alias);
                if words.is_empty() {
                    return Err(format!("{origin}:{line}: alias `{alias}` has no words"));
                }
                g.insert(&words, idx).map_err(|other| {
                    format!(
                        "{origin}:{line}: alias `{alias}` already names `{}` (line {})",
                        g.entries[other].canonical, g.entries[other].line
                    )
                })?;
            }
        }
        Ok(g)
    }

    /// The gazetteer shipped with the pipeline (`pipelines/gazetteer.tsv`).
    pub fn bundled() -> &'static Gazetteer {
        static G: LazyLock<Gazetteer> = LazyLock::new(|| {
            Gazetteer::parse(
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/pipelines/gazetteer.tsv"
                )),
                "pipelines/gazetteer.tsv",
            )
            .expect("bundled gazetteer parses (checked by tests)")
        });
        &G
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Kind and canonical name of a name written exactly as one of the aliases (case- and
    /// accent-insensitive).
    pub fn lookup(&self, name: &str) -> Option<(EntityKind, &str)> {
        let mut n = 0;
        for w in fold_words(name) {
            n = *self.nodes[n].children.get(&w)?;
        }
        let e = &self.entries[self.nodes[n].entry?];
        Some((e.kind, e.canonical.as_str()))
    }

    /// Ok, or Err(entry already using the alias).
    fn insert(&mut self, words: &[String], idx: usize) -> Result<(), usize> {
        let mut n = 0;
        for w in words {
            n = match self.nodes[n].children.get(w) {
                Some(&c) => c,
                None => {
                    self.nodes.push(Node::default());
                    let c = self.nodes.len() - 1;
                    self.nodes[n].children.insert(w.clone(), c);
                    c
                }
            };
        }
        match self.nodes[n].entry {
            Some(other) if other != idx => Err(other),
            _ => {
                self.nodes[n].entry = Some(idx);
                Ok(())
            }
        }
    }

    /// Longest alias starting at token `i`: (entry, number of tokens).
    fn longest_at(&self, t: &Tokens, i: usize) -> Option<(usize, usize)> {
        let mut n = 0;
        let mut best = None;
        for j in i..t.toks.len().min(i + 16) {
            match self.nodes[n].children.get(t.word(j)) {
                Some(&c) => {
                    n = c;
                    if let Some(e) = self.nodes[n].entry {
                        best = Some((e, j + 1 - i));
                    }
                }
                None => break,
            }
        }
        best
    }
}

// ---------------------------------------------------------------------------------------------
// Tables and regexes
// ---------------------------------------------------------------------------------------------

/// ASCII word boundary (the Unicode one would make the lazy DFA give up on Italian text).
const B: &str = r"(?-u:\b)";

/// Prepositions (folded) after which a gazetteer place is taken.
const PLACE_PREPS: &[&str] = &[
    "in", "a", "ad", "di", "da", "del", "della", "dell", "nel", "nella", "nell", "nelle", "dal",
    "dalla", "dall", "al", "alla", "all", "per", "tra", "fra", "presso", "verso", "su", "sul",
    "sulla",
];

/// Placeholder names of pseudonymised decisions (folded).
const PSEUDONYMS: &[&str] = &[
    "alfa",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "kappa",
    "lambda",
    "sigma",
    "omega",
    "tizio",
    "tizia",
    "caio",
    "caia",
    "sempronio",
    "sempronia",
    "mevio",
    "mevia",
    "filano",
    "filana",
    "omissis",
    "x",
    "xx",
    "xxx",
    "xy",
    "y",
    "z",
    "nn",
];

/// Words that end a person's name whatever their case (folded).
const NAME_STOP: &[&str] = &[
    "corte",
    "cassazione",
    "tribunale",
    "stato",
    "repubblica",
    "agenzia",
    "commissione",
    "ministero",
    "comune",
    "regione",
    "provincia",
    "consiglio",
    "sezione",
    "sezioni",
    "relatore",
    "presidente",
    "consigliere",
    "estensore",
    "data",
    "pubblico",
    "procuratore",
    "generale",
    "sostituto",
    "avvocatura",
    "entrate",
    "ufficio",
    "collegio",
    "omissis",
    "ricorrente",
    "controricorrente",
    "resistente",
    "intimato",
    "intimata",
    "fatti",
    "ragioni",
    "ordinanza",
    "sentenza",
    "decreto",
    "via",
    "piazza",
    "viale",
    "corso",
    "largo",
    "studio",
    "srl",
    "spa",
    "sas",
    "snc",
    "dott",
    "avv",
    "prof",
    "udienza",
    "camera",
    "codice",
    "fiscale",
    "legge",
    "art",
    "artt",
    "rilevato",
    "considerato",
    "ritenuto",
    "visto",
];

/// Capitalised function words: end a name (and are dropped from the start of a company name).
const FUNCTION_WORDS: &[&str] = &[
    "Il",
    "La",
    "Lo",
    "Le",
    "Gli",
    "I",
    "L",
    "Un",
    "Una",
    "Uno",
    "In",
    "Con",
    "Per",
    "Nel",
    "Nella",
    "Nei",
    "Nelle",
    "Sul",
    "Sulla",
    "Tra",
    "Fra",
    "Da",
    "Dal",
    "Dalla",
    "Di",
    "Del",
    "Della",
    "Dei",
    "Degli",
    "Delle",
    "Al",
    "Alla",
    "A",
    "E",
    "Ed",
    "O",
    "Ma",
    "Se",
    "Che",
    "Contro",
    "Verso",
    "Ricorre",
    "Ricorrente",
    "Società",
    "Ditta",
    "Impresa",
    "Avverso",
    "Anche",
    "Quindi",
    "Pertanto",
    "Inoltre",
    "Già",
    "Sia",
    "Cfr",
    "Ne",
    "Non",
];

/// Name particles accepted inside a name when a name word follows ("Di Stefano", "LA ROCCA").
const PARTICLES: &[&str] = &[
    "di", "de", "del", "della", "dello", "dei", "degli", "da", "dal", "dalla", "la", "lo", "li",
    "le", "van", "von", "mac", "d",
];

fn rx(p: &str) -> Regex {
    // Patterns are constants of this module; a failure is a programming error caught by tests.
    Regex::new(p).expect("entities: static regex")
}

/// Capitalised or all-capital words of a place (up to five, with "d'" / "di" inside).
const PLACE_P: &str = r"\p{Lu}[\p{L}'’]*(?:(?:[ \t]+|-)(?:(?:d['’]\s?|di[ \t]+|de[ \t]+|DI[ \t]+))?\p{Lu}[\p{L}'’]*){0,4}";

/// A connector between a court / body keyword and its place, with the following blank.
const OF_P: &str = r"(?i:(?:della|dello|delle|del|di|per\s+(?:il|la))\s+|(?:dell|per\s+l)['’]\s?)";

/// Court keywords; the place after them is read with [`PLACE_AT`].
static COURT_RULES: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"{B}(?:(?P<tarkw>T\.\s?A\.\s?R\.|TAR{B}|Tar{B}|(?i:tribunale\s+amministrativo\s+regionale))(?:\s+{OF_P}|\s+)|(?P<tribkw>(?:Tribunale|TRIBUNALE)(?i:\s+ordinario|\s+per\s+i\s+minorenni|\s+di\s+sorveglianza)?)\s+(?i:(?:di|del|della)\s+|dell['’]\s?)|(?P<appkw>(?i:corte\s+(?:d['’]\s?|di\s+)appello))\s+(?i:(?:di|del)\s+|dell['’]\s?)?|(?P<ctkw>(?i:commissione\s+tributaria\s+(?:regionale|provinciale)))(?:\s+{OF_P}|\s+)?|(?P<ctakw>C\.\s?T\.\s?[RP]\.|CT[RP]{B})(?:\s+{OF_P}|\s+)|(?P<cgtkw>(?i:corte\s+di\s+giustizia\s+tributaria\s+di\s+(?:primo|secondo)\s+grado))(?:\s+{OF_P}|\s+)?|(?P<gdpkw>(?i:giudice\s+di\s+pace))\s+(?i:di\s+))"
    ))
});

/// Court rules: (keyword group, place optional).
const COURT_GROUPS: &[(&str, bool)] = &[
    ("tarkw", false),
    ("tribkw", false),
    ("appkw", false),
    ("ctkw", true),
    ("ctakw", false),
    ("cgtkw", true),
    ("gdpkw", false),
];

/// A place at the start of the text.
static PLACE_AT: LazyLock<Regex> = LazyLock::new(|| rx(&format!("^{PLACE_P}")));

static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    // Numbered sections only with "Civile" / "Penale": a bare "Sezione I" is a heading of a norm.
    rx(&format!(
        r"{B}(?:(?:Sezione|SEZIONE)\s+(?:(?i:prima|seconda|terza|quarta|quinta|sesta|settima|[IVX]{{1,4}}|[0-9]{{1,2}})\s+(?i:civile|penale)|(?i:lavoro|tributaria|feriale)(?:\s+(?i:civile|penale))?)|(?:Sezioni|SEZIONI)\s+(?i:unite)(?:\s+(?i:civili|penali))?){B}"
    ))
});

/// Public-body keywords followed by their place (read with [`PLACE_AT`]).
static ORG_RULES: LazyLock<Regex> = LazyLock::new(|| {
    let of = r"(?i:(?:di|del|della)\s+|dell['’]\s?)";
    rx(&format!(
        r"{B}(?:(?i:comune|provincia|citt[àa]\s+metropolitana|prefettura|questura)|(?i:camera\s+di\s+commercio)(?:(?:\s*,\s*|\s+)(?i:industria|artigianato|e|agricoltura))*|(?i:procura\s+della\s+repubblica\s+presso\s+il\s+tribunale(?:\s+per\s+i\s+minorenni)?)|(?i:universit[àa](?:\s+(?:degli\s+studi|statale|cattolica(?:\s+del\s+sacro\s+cuore)?))?))\s+{of}"
    ))
});

/// Legal forms of companies.
const FORM_P: &str = r"(?i:s\.\s?r\.\s?l\.\s?s\.|s\.\s?r\.\s?l\.|s\.\s?p\.\s?a\.|s\.\s?a\.\s?p\.\s?a\.|s\.\s?n\.\s?c\.|s\.\s?a\.\s?s\.|s\.\s?c\.\s?a\.\s?r\.\s?l\.|s\.\s?c\.\s?r\.\s?l\.|soc\.\s?coop\.(?:\s?a\s?r\.\s?l\.)?|societ[àa]\s+cooperativa)|(?:SRLS|SRL|SPA|SAPA|SNC|SAS|SCARL|Srls|Srl|Spa|Snc|Sas|Scarl)(?-u:\b)";

static COMPANY_FORM: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"{B}(?P<form>{FORM_P})")));
/// A word that is itself a legal form (ends a company name read backwards).
static FORM_WORD: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"^(?:{FORM_P})[.,;:]?$")));

static NAME_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    rx(r"^(?:\p{Lu}[\p{L}'’&.\-]*|[0-9]+|&|e|di|de|del|della|dei|degli|delle|d['’]\S*)$")
});

static PERSON_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?m)(?P<header>^[ \t]*(?:Presidente|Relatore|Consigliere|Estensore)[ \t]*:[ \t]*)|(?P<inline>(?:{B}(?:(?i:dott\.ssa|dott\.|dr\.ssa|dr\.|avv\.(?:to)?|avvocat[oa]|avvocatessa|prof\.ssa|prof\.|professor(?:e|essa)?|sig\.ra|sig\.|signor[a]?|notaio|ing\.|geom\.|rag\.)|Pres\.|Rel\.|Cons\.|Est\.|(?:Il|IL|il)\s+(?:Presidente|Relatore|Consigliere(?:\s+(?:relatore|estensore))?)|Consigliere(?:\s+(?:relatore|estensore))?|(?:Sostituto\s+)?Procuratore\s+[Gg]enerale)(?:[ \t]*\n[ \t]*|[ \t]+))+)"
    ))
});

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"{B}(?:(?P<d1>[0-9]{{1,2}})\s*[°º]?\s+(?P<m1>(?i:{MONTHS_RE}))\s+(?P<y1>[0-9]{{4}})|(?P<d2>[0-9]{{1,2}})(?P<sep>[/.\-])(?P<m2>[0-9]{{1,2}})[/.\-](?P<y2>[0-9]{{4}})|(?P<m3>(?i:{MONTHS_RE}))\s+(?P<y3>[0-9]{{4}})){B}"
    ))
});

const AMOUNT: &str = r"[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]{1,2})?|[0-9]+(?:,[0-9]{1,2})?";

static MONEY: LazyLock<Regex> = LazyLock::new(|| {
    let scale = "(?i:milioni|milione|miliardi|miliardo|mila)";
    rx(&format!(
        r"(?P<pre>(?:{B}(?i:euro|eur){B}|€)\.?\s*(?P<a1>{AMOUNT}){B}(?:\s+(?P<scale1>{scale}){B})?)|(?P<post>{B}(?P<a2>{AMOUNT})\s*(?:(?P<scale>{scale})\s+(?i:di\s+)?)?(?:(?i:euro|eur){B}|€))|(?P<lire>(?:{B}(?i:lire|lit){B}\.?\s*(?P<a3>{AMOUNT}){B}(?:\s+(?P<scale3>{scale}){B})?)|{B}(?P<a4>{AMOUNT})\s+(?:(?P<scale2>{scale})\s+(?i:di\s+)?)?(?i:lire){B})"
    ))
});

// ---------------------------------------------------------------------------------------------
// Finder
// ---------------------------------------------------------------------------------------------

fn is_pseudonym(w: &str) -> bool {
    let f = fold_words(w).concat();
    f.is_empty() || PSEUDONYMS.contains(&f.as_str())
}

fn starts_upper(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_uppercase)
}

fn is_all_caps(s: &str) -> bool {
    let mut letters = s.chars().filter(|c| c.is_alphabetic()).peekable();
    letters.peek().is_some() && letters.all(char::is_uppercase)
}

fn entity(text: &str, kind: EntityKind, start: usize, end: usize, norm: Option<String>) -> Entity {
    Entity {
        kind,
        text: text[start..end].to_string(),
        start,
        end,
        normalized: norm,
    }
}

/// A place read by PLACE_P, cut before words that are not part of it; (text end offset).
fn place_len(s: &str) -> usize {
    const STOP: &[&str] = &[
        "Sez", "Sezione", "SEZIONE", "Via", "VIA", "Piazza", "PIAZZA", "Il", "La", "In", "Con",
        "Per", "Nel", "Corte", "Rigetta", "Accoglie", "Dichiara", "Cassa", "Sent",
    ];
    let mut end = 0;
    for w in s.split([' ', '\t', '-']) {
        if w.is_empty() {
            continue;
        }
        if STOP.contains(&w.trim_end_matches('.')) {
            break;
        }
        let off = w.as_ptr() as usize - s.as_ptr() as usize;
        end = off + w.len();
    }
    s[..end].trim_end_matches(['\'', '’']).len()
}

fn iso_date(d: u32, m: u32, y: u32) -> Option<String> {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((1..=days).contains(&d) && (1000..=2999).contains(&y)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

fn month_of(name: &str) -> Option<u32> {
    super::citations::month_from(name)
}

/// "1.234,56" → cents.
fn cents(a: &str) -> Option<u64> {
    let (int, dec) = match a.split_once(',') {
        Some((i, d)) => (i, d),
        None => (a, ""),
    };
    let int: u64 = int.replace('.', "").parse().ok()?;
    let dec: u64 = match dec.len() {
        0 => 0,
        1 => dec.parse::<u64>().ok()? * 10,
        _ => dec.parse().ok()?,
    };
    int.checked_mul(100)?.checked_add(dec)
}

fn scale_of(s: Option<&str>) -> u64 {
    match s.map(str::to_lowercase).as_deref() {
        Some("mila") => 1_000,
        Some("milione" | "milioni") => 1_000_000,
        Some("miliardo" | "miliardi") => 1_000_000_000,
        _ => 1,
    }
}

fn money_norm(a: &str, scale: u64, cur: &str) -> Option<String> {
    let c = cents(a)?.checked_mul(scale)?;
    Some(format!("{}.{:02} {cur}", c / 100, c % 100))
}

struct Finder<'a> {
    text: &'a str,
    toks: Tokens,
    gaz: &'a Gazetteer,
    out: Vec<Entity>,
}

impl<'a> Finder<'a> {
    fn gazetteer(&mut self) {
        let mut i = 0;
        while i < self.toks.toks.len() {
            let Some((e, n)) = self.gaz.longest_at(&self.toks, i) else {
                i += 1;
                continue;
            };
            let (s, _, _, _) = self.toks.toks[i];
            let (_, end, _, _) = self.toks.toks[i + n - 1];
            let entry = &self.gaz.entries[e];
            let first = &self.text[s..self.toks.toks[i].1];
            let mut ok = starts_upper(first);
            if entry.kind == EntityKind::Place {
                // Only right after a preposition ("in Roma", "di Napoli").
                ok &= i > 0 && PLACE_PREPS.contains(&self.toks.word(i - 1)) && {
                    let gap = &self.text[self.toks.toks[i - 1].1..s];
                    gap.chars()
                        .all(|c| c.is_whitespace() || c == '\'' || c == '’')
                };
            }
            if ok {
                self.out.push(entity(
                    self.text,
                    entry.kind,
                    s,
                    end,
                    Some(entry.normalized.clone()),
                ));
                i += n;
            } else {
                i += 1;
            }
        }
    }

    /// Length of the place at `pos` (0 when none).
    fn place_at(&self, pos: usize) -> usize {
        PLACE_AT
            .find(&self.text[pos..])
            .map_or(0, |m| place_len(m.as_str()))
    }

    fn courts(&mut self) {
        for c in COURT_RULES.captures_iter(self.text) {
            let m = c.get(0).expect("group 0");
            if !starts_upper(m.as_str()) {
                continue;
            }
            let Some(&(kw, optional)) = COURT_GROUPS.iter().find(|(k, _)| c.name(k).is_some())
            else {
                continue;
            };
            let kw_end = c.name(kw).expect("keyword group").end();
            let l = self.place_at(m.end());
            let end = match (l, optional) {
                (0, true) => kw_end,
                (0, false) => continue,
                (l, _) => m.end() + l,
            };
            let name = &self.text[m.start()..end];
            let norm = court_id(name);
            if kw == "tarkw" && norm.is_none() {
                continue;
            }
            self.out
                .push(entity(self.text, EntityKind::Court, m.start(), end, norm));
        }
        for m in SECTION.find_iter(self.text) {
            self.out.push(entity(
                self.text,
                EntityKind::Court,
                m.start(),
                m.end(),
                None,
            ));
        }
    }

    fn organizations(&mut self) {
        for m in ORG_RULES.find_iter(self.text) {
            if !starts_upper(m.as_str()) {
                continue;
            }
            let l = self.place_at(m.end());
            let place = &self.text[m.end()..m.end() + l];
            if l == 0 || is_pseudonym(place) {
                continue;
            }
            let end = m.end() + l;
            let norm = format!("{}{}", sentence_case(m.as_str()), place_case(place));
            self.out.push(entity(
                self.text,
                EntityKind::Organization,
                m.start(),
                end,
                Some(norm),
            ));
        }
    }

    fn companies(&mut self) {
        for c in COMPANY_FORM.captures_iter(self.text) {
            let f = c.name("form").expect("form");
            let Some(start) = self.company_name_start(f.start()) else {
                continue;
            };
            let name = normalize_spaces(&self.text[start..f.start()]);
            let norm = format!("{name} {}", standard_form(f.as_str()));
            self.out.push(entity(
                self.text,
                EntityKind::Organization,
                start,
                f.end(),
                Some(norm),
            ));
        }
    }

    /// Start of the company name before a legal form at `form_start`: capitalised / capital
    /// words (and "&", "e", "di" between them), at most one line break between words.
    fn company_name_start(&self, form_start: usize) -> Option<usize> {
        let mut words: Vec<(usize, &str)> = Vec::new();
        let mut end = form_start;
        for _ in 0..8 {
            let head = &self.text[..end];
            let t = head.trim_end_matches([' ', '\t', '\r']);
            if t.len() == head.len() {
                break;
            }
            let t = match t.strip_suffix('\n') {
                Some(t) => t.trim_end_matches([' ', '\t', '\r']),
                None => t,
            };
            if t.ends_with('\n') || t.is_empty() {
                break;
            }
            let ws = t
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_whitespace())
                .map_or(0, |(i, c)| i + c.len_utf8());
            let raw = &t[ws..];
            let w = raw.trim_start_matches(['‘', '\'', '"', '“', '«', '(', '[']);
            let quoted = w.len() != raw.len();
            let numbering = w.ends_with('.') && w.chars().any(|c| c.is_ascii_digit());
            if w.is_empty() || !NAME_TOKEN.is_match(w) || numbering || FORM_WORD.is_match(w) {
                break;
            }
            words.push((ws + (raw.len() - w.len()), w));
            if quoted {
                break;
            }
            end = ws;
        }
        words.reverse();
        // Drop leading connectors and (in mixed-case names) capitalised function words.
        let caps = words
            .iter()
            .all(|(_, w)| is_all_caps(w) || !w.chars().any(char::is_alphabetic));
        let skip = words
            .iter()
            .take_while(|(_, w)| {
                w.starts_with(char::is_lowercase)
                    || *w == "&"
                    || (!caps && FUNCTION_WORDS.contains(w))
            })
            .count();
        let words = &words[skip..];
        let &(start, _) = words.first()?;
        let names: Vec<&str> = words.iter().map(|(_, w)| *w).collect();
        let initials_only = names
            .iter()
            .all(|w| w.chars().filter(|c| c.is_alphabetic()).count() <= 1);
        let capitalised: Vec<&&str> = names.iter().filter(|w| starts_upper(w)).collect();
        if capitalised.iter().all(|w| is_pseudonym(w)) || initials_only {
            return None;
        }
        Some(start)
    }

    fn persons(&mut self) {
        for c in PERSON_TITLE.captures_iter(self.text) {
            let m = c.get(0).expect("group 0");
            let header = c.name("header").is_some();
            if header && m.as_str().ends_with('\n') {
                continue;
            }
            if let Some((s, e)) = self.name_at(m.end(), header) {
                self.out
                    .push(entity(self.text, EntityKind::Person, s, e, None));
            }
        }
    }

    /// A person's name starting at `pos`: (start, end). Header names stay on their line;
    /// inline names may wrap once.
    fn name_at(&self, pos: usize, header: bool) -> Option<(usize, usize)> {
        let toks = &self.toks.toks;
        let mut i = self.toks.at(pos);
        let mut words: Vec<(usize, usize)> = Vec::new();
        let mut prev_end = pos;
        while let Some(&(s, e, _, _)) = toks.get(i) {
            if words.len() == 5 {
                break;
            }
            let gap = &self.text[prev_end..s];
            let newlines = gap.matches('\n').count();
            let blank = gap.chars().all(char::is_whitespace);
            let allowed = if words.is_empty() {
                0
            } else {
                usize::from(!header)
            };
            if !blank || newlines > allowed {
                break;
            }
            let w = &self.text[s..e];
            let folded = self.toks.word(i);
            if !starts_upper(w) || NAME_STOP.contains(&folded) {
                break;
            }
            let next = toks.get(i + 1).map(|&(ns, ne, _, _)| (ns, ne));
            if w.chars().count() == 1 {
                let after = &self.text[e..];
                // "D’Ambrosio": an elided particle glued to the name.
                if let Some((ns, ne)) = next {
                    let glue = &self.text[e..ns];
                    if (glue == "'" || glue == "’") && starts_upper(&self.text[ns..ne]) {
                        words.push((s, ne));
                        prev_end = ne;
                        i += 2;
                        continue;
                    }
                }
                if after.starts_with('.') {
                    // An initial ("M. Rossi").
                    words.push((s, e + 1));
                    prev_end = e + 1;
                    i += 1;
                    continue;
                }
                break;
            }
            if FUNCTION_WORDS.contains(&w) {
                // Particles are kept inside a name when a name word follows ("Di Stefano").
                let particle_ok = PARTICLES.contains(&folded)
                    && !words.is_empty()
                    && next.is_some_and(|(ns, ne)| {
                        starts_upper(&self.text[ns..ne])
                            && self.text[e..ns].chars().all(|c| c == ' ' || c == '\t')
                            && !NAME_STOP.contains(&self.toks.word(i + 1))
                            && !FUNCTION_WORDS.contains(&&self.text[ns..ne])
                    });
                if !particle_ok {
                    break;
                }
            }
            words.push((s, e));
            prev_end = e;
            i += 1;
        }
        // A name does not end with a particle or an initial.
        while let Some(&(s, e)) = words.last() {
            let w = &self.text[s..e];
            if PARTICLES.contains(&w.to_lowercase().as_str()) || w.ends_with('.') {
                words.pop();
            } else {
                break;
            }
        }
        let (&(start, _), &(_, end)) = (words.first()?, words.last()?);
        let all: Vec<&str> = words.iter().map(|&(s, e)| &self.text[s..e]).collect();
        if all.iter().any(|w| is_pseudonym(w)) {
            return None;
        }
        Some((start, end))
    }

    fn dates(&mut self) {
        for c in DATE.captures_iter(self.text) {
            let m = c.get(0).expect("group 0");
            // A numeric date is not part of a longer number ("n. 1528/02/2017", "1.2.3.2020").
            let before = self.text[..m.start()].chars().next_back();
            let after = self.text[m.end()..].chars().next();
            if c.name("d2").is_some()
                && (before.is_some_and(|b| b.is_ascii_digit() || matches!(b, '/' | '.' | '-'))
                    || after.is_some_and(|a| a.is_ascii_digit() || matches!(a, '/' | '-')))
            {
                continue;
            }
            let norm = if let Some(d) = c.name("d1") {
                let (Ok(d), Some(mo), Ok(y)) = (
                    d.as_str().parse::<u32>(),
                    month_of(&c["m1"]),
                    c["y1"].parse::<u32>(),
                ) else {
                    continue;
                };
                iso_date(d, mo, y)
            } else if let Some(d) = c.name("d2") {
                let (Ok(d), Ok(mo), Ok(y)) = (
                    d.as_str().parse::<u32>(),
                    c["m2"].parse::<u32>(),
                    c["y2"].parse::<u32>(),
                ) else {
                    continue;
                };
                iso_date(d, mo, y)
            } else {
                let (Some(mo), Ok(y)) = (month_of(&c["m3"]), c["y3"].parse::<u32>()) else {
                    continue;
                };
                (1000..=2999)
                    .contains(&y)
                    .then(|| format!("{y:04}-{mo:02}"))
            };
            let Some(norm) = norm else { continue };
            self.out.push(entity(
                self.text,
                EntityKind::Date,
                m.start(),
                m.end(),
                Some(norm),
            ));
        }
    }

    fn money(&mut self) {
        for c in MONEY.captures_iter(self.text) {
            let m = c.get(0).expect("group 0");
            let sc = |g: &str| scale_of(c.name(g).map(|s| s.as_str()));
            let rest = &self.text[m.end()..];
            let norm = if let Some(a) = c.name("a1") {
                money_norm(a.as_str(), sc("scale1"), "EUR")
            } else if let Some(a) = c.name("a2") {
                // "2023 euro 1.000": the amount is the one after the currency.
                if rest
                    .trim_start()
                    .starts_with(|ch: char| ch.is_ascii_digit())
                {
                    continue;
                }
                money_norm(a.as_str(), sc("scale"), "EUR")
            } else if let Some(a) = c.name("a3") {
                money_norm(a.as_str(), sc("scale3"), "ITL")
            } else if let Some(a) = c.name("a4") {
                money_norm(a.as_str(), sc("scale2"), "ITL")
            } else {
                None
            };
            let Some(norm) = norm else { continue };
            // An amount glued to more digits is something else ("euro 2.40" in English style).
            let mut r = rest.chars();
            let glued = match (r.next(), r.next()) {
                (Some(d), _) if d.is_ascii_digit() => true,
                (Some('.' | ','), Some(d)) if d.is_ascii_digit() => true,
                _ => false,
            };
            if glued {
                continue;
            }
            self.out.push(entity(
                self.text,
                EntityKind::Money,
                m.start(),
                m.end(),
                Some(norm),
            ));
        }
    }
}

/// A keyword as written, or in sentence case when written in capitals: "CAMERA DI COMMERCIO DI "
/// → "Camera di commercio di " ("dell'" keeps no blank after it).
fn sentence_case(s: &str) -> String {
    let s = normalize_spaces(s);
    let s = if is_all_caps(&s) { s.to_lowercase() } else { s };
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['\'', '’']) {
        out.push(' ');
    }
    out
}

/// A place as written, or capitalised word by word when written in capitals ("ROMA" → "Roma").
fn place_case(s: &str) -> String {
    let s = normalize_spaces(s);
    if !is_all_caps(&s) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for ch in s.chars() {
        if start {
            out.extend(ch.to_uppercase());
        } else {
            out.extend(ch.to_lowercase());
        }
        start = !ch.is_alphabetic();
    }
    out
}

fn normalize_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn standard_form(f: &str) -> &'static str {
    let k: String = f
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    match k.as_str() {
        "srls" => "S.r.l.s.",
        "srl" => "S.r.l.",
        "spa" => "S.p.A.",
        "sapa" => "S.a.p.A.",
        "snc" => "S.n.c.",
        "sas" => "S.a.s.",
        "scarl" => "S.c.a r.l.",
        "scrl" => "S.c.r.l.",
        _ => "Soc. coop.",
    }
}

/// Resolve overlaps: the longest wins, then the earlier; result sorted by start.
fn resolve(mut cands: Vec<Entity>) -> Vec<Entity> {
    cands.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(a.start.cmp(&b.start))
    });
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut out = Vec::new();
    for e in cands {
        let i = taken.partition_point(|&(s, _)| s < e.end);
        let overlaps = i > 0 && taken[i - 1].1 > e.start;
        if overlaps || (i < taken.len() && taken[i].0 < e.end) {
            continue;
        }
        taken.insert(i, (e.start, e.end));
        out.push(e);
    }
    out.sort_by_key(|e| (e.start, e.end));
    out
}

/// A court followed by its section ("CORTE SUPREMA DI CASSAZIONE\nSEZIONE TERZA CIVILE")
/// becomes one entity with the court's code.
fn join_sections(text: &str, ents: Vec<Entity>) -> Vec<Entity> {
    let mut out: Vec<Entity> = Vec::with_capacity(ents.len());
    for e in ents {
        if let Some(last) = out.last_mut() {
            let gap = &text[last.end..e.start.max(last.end)];
            if last.kind == EntityKind::Court
                && e.kind == EntityKind::Court
                && e.normalized.is_none()
                && last.normalized.is_some()
                && e.start >= last.end
                && gap.len() <= 8
                && gap
                    .chars()
                    .all(|c| c.is_whitespace() || matches!(c, ',' | '-' | '–'))
            {
                last.end = e.end;
                last.text = text[last.start..last.end].to_string();
                continue;
            }
        }
        out.push(e);
    }
    out
}

/// Entities of `text`, sorted by start, without overlaps (longest wins). See the module docs.
pub fn find_entities(text: &str, gaz: &Gazetteer) -> Vec<Entity> {
    let mut f = Finder {
        text,
        toks: Tokens::new(text),
        gaz,
        out: Vec::new(),
    };
    f.gazetteer();
    f.courts();
    f.organizations();
    f.companies();
    f.persons();
    f.dates();
    f.money();
    let ents = resolve(f.out);
    join_sections(text, ents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntityKind::{Court, Date, Money, Organization as Org, Person, Place};

    type Exp = (EntityKind, &'static str, Option<&'static str>);

    fn check(text: &str, ents: &[Entity]) {
        let mut last_end = 0;
        for e in ents {
            assert!(e.start < e.end && e.end <= text.len(), "{e:?}");
            assert_eq!(&text[e.start..e.end], e.text, "{e:?}");
            assert!(e.start >= last_end, "overlap or unsorted: {e:?}");
            last_end = e.end;
        }
    }

    fn found(text: &str) -> Vec<(EntityKind, String, Option<String>)> {
        let ents = find_entities(text, Gazetteer::bundled());
        check(text, &ents);
        ents.into_iter()
            .map(|e| (e.kind, e.text, e.normalized))
            .collect()
    }

    fn assert_found(text: &str, expect: &[Exp]) {
        let got = found(text);
        let exp: Vec<(EntityKind, String, Option<String>)> = expect
            .iter()
            .map(|(k, t, n)| (*k, t.to_string(), n.map(str::to_string)))
            .collect();
        assert_eq!(got, exp, "text: {text:?}");
    }

    /// Real sentences (file:line; PDFs as `pdftotext -layout` output; DOCX paragraphs of
    /// word/document.xml; norms: line of the Akoma Ntoso XML, tags stripped).
    #[rustfmt::skip]
    const CORPUS: &[(&str, &[Exp])] = &[
        // jurisprudence/cass_snciv2025530039O.txt:3-5 (italgiure header)
        ("Presidente: FUOCHI TINARELLI GIUSEPPE\nRelatore: GRAZIANO FRANCESCO\nData pubblicazione: 13/11/2025", &[
            (Person, "FUOCHI TINARELLI GIUSEPPE", None),
            (Person, "GRAZIANO FRANCESCO", None),
            (Date, "13/11/2025", Some("2025-11-13")),
        ]),
        // cass_snciv2025530039O.txt:13-15 (the party has no title: not a person here)
        ("GJYZELI ARDIAN (Codice Fiscale: GJY RDN 71B27 Z100S),\nrappresentato e difeso dall’avvocato Paolo Maria Federico Candida , con\ndomicilio digitale in atti;", &[
            (Person, "Paolo Maria Federico Candida", None),
        ]),
        // cass_snciv2025530039O.txt:18-21
        ("AGENZIA DELLE ENTRATE (Codice Fiscale: 06363391001), in persona\ndel Direttore pro tempore, rappresentata e difesa dall’Avvocatura Generale\ndello Stato e domiciliata presso gli uffici di quest’ultima, siti in Roma, alla\nVia dei Portoghesi n. 12, con domicilio digitale in atti;", &[
            (Org, "AGENZIA DELLE ENTRATE", Some("Agenzia delle Entrate")),
            (Org, "Avvocatura Generale\ndello Stato", Some("Avvocatura Generale dello Stato")),
            (Place, "Roma", Some("Roma")),
        ]),
        // cass_snciv2025530039O.txt:23-24
        ("avverso la sentenza della Commissione Tributaria Regionale del\nPiemonte n. 1528/02/2017, pubblicata il 30 ottobre 2017;", &[
            (Court, "Commissione Tributaria Regionale del\nPiemonte", Some("ctr-piemonte")),
            (Date, "30 ottobre 2017", Some("2017-10-30")),
        ]),
        // cass_snciv2025530039O.txt:25-26 (chained titles)
        ("udita la relazione della causa svolta, nella camera di consiglio dell’8\nluglio 2025, dal Consigliere relatore dott. Francesco Graziano;", &[
            (Date, "8\nluglio 2025", Some("2025-07-08")),
            (Person, "Francesco Graziano", None),
        ]),
        // cass_snciv2025530039O.txt:45, :73
        ("La CTP di Alessandria, con la sentenza di primo grado, rigettava il", &[
            (Court, "CTP di Alessandria", Some("ctp-alessandria")),
        ]),
        ("La CTR del Piemonte, con la sentenza impugnata, rigettava l’appello", &[
            (Court, "CTR del Piemonte", Some("ctr-piemonte")),
        ]),
        // cass_snciv2025530039O.txt:384-389
        ("P.Q.M.\nLa Corte Suprema di Cassazione\nRigetta il ricorso e condanna il ricorrente al pagamento, in favore della\ncontroricorrente, delle spese del presente giudizio di legittimità, che si\nliquidano in complessivi €. 5.900,00 (euro cinquemilanovecento/00), oltre", &[
            (Court, "Corte Suprema di Cassazione", Some("cass")),
            (Money, "€. 5.900,00", Some("5900.00 EUR")),
        ]),
        // cass_snciv2025530039O.txt:395-397
        ("Così deciso in Roma, in data 8 luglio 2025.\nIl Presidente\nGiuseppe Fuochi Tinarelli\n12", &[
            (Place, "Roma", Some("Roma")),
            (Date, "8 luglio 2025", Some("2025-07-08")),
            (Person, "Giuseppe Fuochi Tinarelli", None),
        ]),
        // cass_snciv2025530636O.pdf (layout) :12-15
        ("LA FARMACIA DELLA GALLERIA SAS, elettivamente domiciliata in\nROMA VIA VITTORIO VENETO N 146, presso lo, STUDIO LEGALE E\nTRIBUTARIO APOLLONI & PARTNERS, rappresentata e difesa\ndall'avvocato MOCCI MAURO (MCCMRA53R12C773E);", &[
            (Org, "LA FARMACIA DELLA GALLERIA SAS", Some("LA FARMACIA DELLA GALLERIA S.a.s.")),
            (Place, "ROMA", Some("Roma")),
            (Person, "MOCCI MAURO", None),
        ]),
        // cass_snciv2025530636O.pdf (layout) :18 (misspelt "DELL'ENTRATE" is an alias)
        ("AGENZIA DELL'ENTRATE DIREZIONE PROVINCIALE DI PERUGIA,", &[
            (Org, "AGENZIA DELL'ENTRATE", Some("Agenzia delle Entrate")),
            (Place, "PERUGIA", Some("Perugia")),
        ]),
        // cass_snciv2025530636O.pdf (layout) :158-160 (sign-off on the next line)
        ("Così deciso in Roma, il 25/09/2025.\n                             Il Presidente\n                        GIOVANNI LA ROCCA\n", &[
            (Place, "Roma", Some("Roma")),
            (Date, "25/09/2025", Some("2025-09-25")),
            (Person, "GIOVANNI LA ROCCA", None),
        ]),
        // cass_snciv2025530646O.pdf (layout) :14-15
        ("GRM SRL IN LIQUIDAZIONE, domiciliata ex lege in ROMA, PIAZZA\nCAVOUR, presso la CANCELLERIA della CORTE di CASSAZIONE,", &[
            (Org, "GRM SRL", Some("GRM S.r.l.")),
            (Place, "ROMA", Some("Roma")),
            (Court, "CORTE di CASSAZIONE", Some("cass")),
        ]),
        // cass_snciv2025530646O.pdf (layout) :20-21
        ("RISCOSSIONE SICILIA SPA, elettivamente domiciliata in ROMA, VIA\nCOLA DI RIENZO 180, presso lo studio dell’avvocato SALVO CARMELA", &[
            (Org, "RISCOSSIONE SICILIA SPA", Some("RISCOSSIONE SICILIA S.p.A.")),
            (Place, "ROMA", Some("Roma")),
            (Person, "SALVO CARMELA", None),
        ]),
        // cass_snciv2025530646O.pdf (layout) :41-43
        ("legittimità che liquida in euro 12.300,00 per compensi, oltre alle\nspese forfettarie nella misura del 15 per cento, ed agli accessori di\nlegge, agli esborsi liquidati in Euro 200,00», senza disporre la", &[
            (Money, "euro 12.300,00", Some("12300.00 EUR")),
            (Money, "Euro 200,00", Some("200.00 EUR")),
        ]),
        // cass_snciv2025530646O.txt:49 (pdftotext default)
        ("2. Riscossione Sicilia s.p.a. e l’Agenzia delle entrate non hanno", &[
            (Org, "Riscossione Sicilia s.p.a.", Some("Riscossione Sicilia S.p.A.")),
            (Org, "Agenzia delle entrate", Some("Agenzia delle Entrate")),
        ]),
        // cass_snciv_2025_n29955_tD.clean.pdf (layout) :23, :33
        ("AGENZIA       DELLE    ENTRATE     RISCOSSIONE,     AGENZIA      DELLE", &[
            (Org, "AGENZIA       DELLE    ENTRATE     RISCOSSIONE", Some("Agenzia delle Entrate - Riscossione")),
        ]),
        ("AMA SPA, REGIONE LAZIO, CAMERA DI COMMERCIO DI ROMA", &[
            (Org, "AMA SPA", Some("AMA S.p.A.")),
            (Org, "REGIONE LAZIO", Some("Regione Lazio")),
            (Org, "CAMERA DI COMMERCIO DI ROMA", Some("Camera di commercio di Roma")),
        ]),
        // cass_snciv2025530638S.pdf (layout) :118-120
        ("questa Suprema Corte, in persona del Sostituto Procuratore\nGenerale Dott. Fulvio Troncone, giusta requisitoria scritta del 18\ngiugno 2025, conclude per l’accoglimento del ricorso.", &[
            (Person, "Fulvio Troncone", None),
            (Date, "18\ngiugno 2025", Some("2025-06-18")),
        ]),
        // cass_snciv2025530638S.pdf (layout) :130-132 (name wraps; elided particle)
        ("persone dell’Avv. Francesca D’Ambrosio, per l’Avvocatura generale\ndello Stato, in rappresentanza dell’Agenzia, e dell’Avv. Fabio\nBenincasa, in rappresentanza del contribuente, si riportano alle", &[
            (Person, "Francesca D’Ambrosio", None),
            (Org, "Avvocatura generale\ndello Stato", Some("Avvocatura Generale dello Stato")),
            (Person, "Fabio\nBenincasa", None),
        ]),
        // cass_snciv2025530638S.pdf (layout) :189, :60-61, :88-89
        ("della ‘S.O.S. Wild s.r.l.’ anche successivamente al 09.10.2009 […]”.", &[
            (Org, "S.O.S. Wild s.r.l.", Some("S.O.S. Wild S.r.l.")),
            (Date, "09.10.2009", Some("2009-10-09")),
        ]),
        ("carica di amministratore unico dal 12 dicembre 2001 al 9 ottobre\n2009, allorquando", &[
            (Date, "12 dicembre 2001", Some("2001-12-12")),
            (Date, "9 ottobre\n2009", Some("2009-10-09")),
        ]),
        ("società era stata cancellata dal registro delle imprese nel dicembre\n2009 e che il PVC", &[
            (Date, "dicembre\n2009", Some("2009-12")),
        ]),
        // cass_snciv2025530638S.pdf (layout) :552-553
        ("con rinvio alla Corte di giustizia tributaria di secondo grado della\nCampania, in diversa composizione, per nuovo esame", &[
            (Court, "Corte di giustizia tributaria di secondo grado della\nCampania", Some("cgt2-campania")),
        ]),
        // image/synthetic_it_legal.gt.txt:4-5, :14 (court and section joined)
        ("LA CORTE SUPREMA DI CASSAZIONE\nSEZIONE TERZA CIVILE\nSvolgimento del processo", &[
            (Court, "CORTE SUPREMA DI CASSAZIONE\nSEZIONE TERZA CIVILE", Some("cass")),
        ]),
        ("delle spese del giudizio di legittimità, liquidate in euro 5.200,00.", &[
            (Money, "euro 5.200,00", Some("5200.00 EUR")),
        ]),
        // docx/ondata_email_schema_dati.docx, paragraphs 17 and 19
        ("Un Centro elaborazione dati presso il Ministero della Giustizia per rilevare i dati su 27 reati di violenza (art. 5, comma 3)", &[
            (Org, "Ministero della Giustizia", Some("Ministero della giustizia")),
        ]),
        ("Trasmissione periodica dei dati all’ISTAT e al Dipartimento per le Pari Opportunità", &[
            (Org, "ISTAT", Some("Istituto nazionale di statistica")),
            (Org, "Dipartimento per le Pari Opportunità", Some("Dipartimento per le pari opportunità")),
        ]),
        // doctrine/tesi_piras_01-prova-scientifica.md:53, :33
        ("Ratifica ed esecuzione della Convenzione del Consiglio d'Europa sulla criminalità informatica, fatta a Budapest il 23 novembre 2001", &[
            (Org, "Consiglio d'Europa", Some("Consiglio d'Europa")),
            (Date, "23 novembre 2001", Some("2001-11-23")),
        ]),
        ("In Italia, il codice penale viene riformato nel 1993.", &[
            (Place, "Italia", Some("Italia")),
        ]),
        // norm/it_normattiva_codice_penale.xml:9083 (date of a range; G.U. date)
        ("La Corte Costituzionale, con sentenza 19-22 febbraio 1985, n. 51 (in G.U. 1ª s.s. 27/02/1985, n. 50), ha dichiarato", &[
            (Court, "Corte Costituzionale", Some("cost")),
            (Date, "22 febbraio 1985", Some("1985-02-22")),
            (Date, "27/02/1985", Some("1985-02-27")),
        ]),
        // norm/it_normattiva_legge_bilancio_2023.xml:8617
        ("dell'ordinanza del Capo del Dipartimento della protezione civile n. 883 del 31 marzo 2022, pubblicata", &[
            (Org, "Dipartimento della protezione civile", Some("Dipartimento della protezione civile")),
            (Date, "31 marzo 2022", Some("2022-03-31")),
        ]),
        // norm/it_normattiva_legge_bilancio_2023.txt (amounts with a scale)
        ("sono sostituite dalle seguenti: « euro 8 milioni per gli anni 2021 e 2022 ed euro 15 milioni", &[
            (Money, "euro 8 milioni", Some("8000000.00 EUR")),
            (Money, "euro 15 milioni", Some("15000000.00 EUR")),
        ]),
    ];

    /// Must give no entity.
    #[rustfmt::skip]
    const NEGATIVE: &[&str] = &[
        // cass_snciv2025530638S.pdf (layout) :455 ("Stato" alone)
        "territorio dello Stato” (Cass. n. 43 del 2017).",
        // cass_snciv2025530636O.pdf (layout) :91 ("Corte" alone)
        "ricorrente cozza con il principio affermato da questa Corte, alla cui",
        // cass_snciv_2025_n29955_tD.clean.pdf (layout) :2-3 (empty header fields)
        "Presidente:\nRelatore:\n",
        // cass_snciv2025530039O.txt:385-386 minus the court: sentence-initial capitals
        "Rigetta il ricorso e condanna il ricorrente al pagamento",
        // norm/it_normattiva_dlgs_82_2005_CAD.xml:3515 ("Fermo" is a provincial capital)
        "Fermo restando quanto previsto al comma 1, chiunque ha facolta' di eleggere",
        // norm/it_normattiva_dlgs_231_2001.xml:907 (a section heading of a norm)
        "RESPONSABILITA' AMMINISTRATIVA DELL'ENTE  SEZIONE I Principi generali",
        // cass_snciv2025530039O.txt:12 (registry number is no date)
        "sul ricorso (iscritto al n. 12952/2018 R.G.) proposto da:",
        // pseudonymised decisions (synthetic, italgiure style)
        "proposto da (Omissis), rappresentato e difeso dall'avv. Tizio Caio, contro Alfa S.r.l. e Beta S.p.A.",
        "il sig. R.M. e la società Gamma s.n.c.",
        "Omissis",
        // synthetic
        "residente in Via Roma n. 5, in un prato",
        "il quindici per cento, pari a euro cinquemilanovecento/00",
        "Il Presidente\n\nCorte",
        "la corte d'appello e il tribunale di primo grado",
        "nel periodo 2002-2005 e ai sensi dell'art. 2043 c.c.",
    ];

    #[test]
    fn corpus_sentences() {
        for (text, expect) in CORPUS {
            assert_found(text, expect);
        }
    }

    #[test]
    fn negatives_give_nothing() {
        for t in NEGATIVE {
            assert!(found(t).is_empty(), "{t:?}: {:#?}", found(t));
        }
    }

    #[test]
    fn more_forms() {
        assert_found(
            "Tribunale di Roma, Corte d'appello di Milano e TAR Lazio",
            &[
                (Court, "Tribunale di Roma", Some("trib-roma")),
                (Court, "Corte d'appello di Milano", Some("app-milano")),
                (Court, "TAR Lazio", Some("tar-lazio")),
            ],
        );
        assert_found(
            "la Commissione tributaria regionale della Lombardia e il Consiglio di Stato",
            &[
                (
                    Court,
                    "Commissione tributaria regionale della Lombardia",
                    Some("ctr-lombardia"),
                ),
                (Court, "Consiglio di Stato", Some("cds")),
            ],
        );
        assert_found(
            "Corte di Cassazione, Sezione Quinta Civile; la Sezione Lavoro; le Sezioni Unite",
            &[
                (
                    Court,
                    "Corte di Cassazione, Sezione Quinta Civile",
                    Some("cass"),
                ),
                (Court, "Sezione Lavoro", None),
                (Court, "Sezioni Unite", None),
            ],
        );
        assert_found(
            "il Comune di Milano, l'INPS, l'INAIL, la Banca d'Italia e la Consob",
            &[
                (Org, "Comune di Milano", Some("Comune di Milano")),
                (
                    Org,
                    "INPS",
                    Some("Istituto nazionale della previdenza sociale"),
                ),
                (
                    Org,
                    "INAIL",
                    Some("Istituto nazionale per l'assicurazione contro gli infortuni sul lavoro"),
                ),
                (Org, "Banca d'Italia", Some("Banca d'Italia")),
                (
                    Org,
                    "Consob",
                    Some("Commissione nazionale per le società e la borsa"),
                ),
            ],
        );
        assert_found(
            "Ministero dell'economia e delle finanze e Agenzia delle Entrate - Riscossione",
            &[
                (
                    Org,
                    "Ministero dell'economia e delle finanze",
                    Some("Ministero dell'economia e delle finanze"),
                ),
                (
                    Org,
                    "Agenzia delle Entrate - Riscossione",
                    Some("Agenzia delle Entrate - Riscossione"),
                ),
            ],
        );
        // "costruzioni" is lowercase: no name before "soc. coop.".
        assert_found(
            "Rossi & Figli S.n.c., Verdi costruzioni soc. coop. e Bianchi S.a.s.",
            &[
                (Org, "Rossi & Figli S.n.c.", Some("Rossi & Figli S.n.c.")),
                (Org, "Bianchi S.a.s.", Some("Bianchi S.a.s.")),
            ],
        );
        assert_found(
            "dal 1° gennaio 2021 al 31.12.2021; 29/02/2021 non esiste",
            &[
                (Date, "1° gennaio 2021", Some("2021-01-01")),
                (Date, "31.12.2021", Some("2021-12-31")),
            ],
        );
        assert_found(
            "€ 1.234,56, Euro 200.000, 5.000 euro, lire 1.000.000 e 2,5 milioni di euro",
            &[
                (Money, "€ 1.234,56", Some("1234.56 EUR")),
                (Money, "Euro 200.000", Some("200000.00 EUR")),
                (Money, "5.000 euro", Some("5000.00 EUR")),
                (Money, "lire 1.000.000", Some("1000000.00 ITL")),
                (Money, "2,5 milioni di euro", Some("2500000.00 EUR")),
            ],
        );
        assert_found(
            "Pres. Mario Rossi, Rel. dott.ssa Anna Di Stefano; prof. M. Bianchi",
            &[
                (Person, "Mario Rossi", None),
                (Person, "Anna Di Stefano", None),
                (Person, "M. Bianchi", None),
            ],
        );
        assert_found(
            "Cons. Rel. Bianchi;\nPresidente: STALLA GIACOMO MARIA",
            &[
                (Person, "Bianchi", None),
                (Person, "STALLA GIACOMO MARIA", None),
            ],
        );
        // "Cons. Stato" is a court abbreviation, not a councillor named Stato.
        assert!(found("Cons. Stato, sez. VI").iter().all(|e| e.0 != Person));
    }

    #[test]
    fn pathological_input_stays_fast() {
        let t = "dott. ".repeat(20_000)
            + &"Alfa Beta Gamma Delta S.r.l. ".repeat(20_000)
            + &"Tribunale di ".repeat(20_000)
            + &"12/12/".repeat(20_000);
        let ents = find_entities(&t, Gazetteer::bundled());
        check(&t, &ents);
    }

    #[test]
    fn kinds() {
        assert_eq!(Court.as_str(), "court");
        assert_eq!(Org.as_str(), "organization");
        assert_eq!(Money.as_str(), "money");
        assert!(Person.is_personal_data());
        assert!([Court, Org, Date, Place, Money]
            .iter()
            .all(|k| !k.is_personal_data()));
    }

    #[test]
    fn gazetteer_parse_and_errors() {
        let g = Gazetteer::bundled();
        assert!(g.len() > 200);
        assert_eq!(
            g.lookup("agenzia delle entrate"),
            Some((Org, "Agenzia delle Entrate"))
        );
        assert_eq!(g.lookup("ROMA"), Some((Place, "Roma")));
        assert_eq!(g.lookup("Stato"), None);
        let err = |t: &str| Gazetteer::parse(t, "my.tsv").expect_err("must fail");
        assert!(err("# c\nplace\tRoma\nperson\tMario Rossi\n")
            .starts_with("my.tsv:3: unknown kind `person`"));
        assert!(err("place Roma\n").starts_with("my.tsv:1: expected"));
        assert!(err("place\t  \n").starts_with("my.tsv:1: empty canonical"));
        let e = err("place\tRoma\norganization\tComune\tRoma\n");
        assert!(
            e.starts_with("my.tsv:2: alias `Roma` already names `Roma` (line 1)"),
            "{e}"
        );
        // A user gazetteer replaces the bundled one.
        let g = Gazetteer::parse("place\tArienzo\t\norganization\tStudio Alfa\n", "user.tsv")
            .expect("parses");
        let ents = find_entities("dalla Via Pizzola n. 5 di Arienzo, Roma", &g);
        assert_eq!(
            ents.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(),
            vec!["Arienzo"]
        );
    }

    #[test]
    fn whole_corpus_files_sorted_without_overlaps() {
        for f in [
            "jurisprudence/cass_snciv2025530039O.txt",
            "doctrine/tesi_piras_01-prova-scientifica.md",
        ] {
            let p = format!("{}/fixtures/{f}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
            let ents = find_entities(&text, Gazetteer::bundled());
            check(&text, &ents);
            // Persons only from titles: the party (no title) is not one.
            assert!(
                !ents
                    .iter()
                    .any(|e| e.kind == Person && e.text.contains("ARDIAN")),
                "{f}"
            );
        }
    }
}

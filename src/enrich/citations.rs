//! Norm citations: canonical keys for Italian acts and the citations that point at them.
//!
//! Three sources feed the same key space:
//!
//! * Akoma Ntoso markup: `<ref href="/akn/it/act/decretoLegislativo/stato/2001-06-08/231/!main#art_5">`
//!   and FRBR metadata ([`key_from_href`], [`act_key_from_frbr`], [`citation_from_ref`]);
//! * modification / Normattiva hrefs already in URN:NIR form
//!   (`urn:nir:stato:decreto.legislativo:2005-03-07;82#75`, `...;262#CODICE CIVILE-art. 2712`,
//!   `...;241~art2bis-com1`);
//! * plain text (decisions, doctrine, the norm's own paragraphs, editorial notes): [`extract`].
//!
//! # Key forms (the contract with the stores)
//!
//! | what | form | example |
//! |---|---|---|
//! | act (always year-only) | `urn:nir:<authority>:<type>:<YYYY>;<number>` | `urn:nir:stato:legge:1990;241` |
//! | act, full date (separate field, when known) | `urn:nir:<authority>:<type>:<YYYY-MM-DD>;<number>` | `urn:nir:stato:legge:1990-08-07;241` |
//! | Constitution (no number) | `urn:nir:stato:costituzione:1947` (dated `...:1947-12-27`) | `urn:nir:stato:costituzione:1947~art117-com2-letr` |
//! | article | act + `~art<N><suffix>[.<n>]` | `urn:nir:stato:legge:1990;241~art2bis`, `...:regio.decreto:1940;1443~art380bis.1` |
//! | detail | article id + `-com<N><suffix>` / `-let<x><suffix>` / `-num<N>`, in that order | `urn:nir:stato:regio.decreto:1940;1443~art360-com1-num3` |
//!
//! * Only the year is in `act`, so text without a day ("d.lgs. n. 231/2001") and markup with a
//!   full date agree; `act_dated` carries the dated form when the source gives the day (and for
//!   the codes of the alias table, whose dates are fixed).
//! * `<authority>` is `stato` for national acts (also for D.P.R., whose official URN uses
//!   `presidente.repubblica`, as Normattiva does); regional / ministerial acts from markup keep
//!   their issuer (`urn:nir:regione.lombardia:legge:2005;12`,
//!   `urn:nir:ministero.sanita:decreto:1989;298`). From text only national acts and the D.P.C.M.
//!   (`urn:nir:presidente.consiglio:decreto:2013;159`, Normattiva's issuer) are produced.
//! * `<type>` is the URN:NIR dotted form: `legge`, `decreto.legge`, `decreto.legislativo`,
//!   `decreto.del.presidente.della.repubblica`, `regio.decreto`, `regio.decreto.legge`,
//!   `legge.costituzionale`, `costituzione`, `decreto.legislativo.luogotenenziale`, ... (see
//!   [`normalize_type`]).
//! * Codes resolve to the act that approved them (alias table, [`code_key`]): c.c. → R.D.
//!   16 marzo 1942 n. 262; c.p. → R.D. 19 ottobre 1930 n. 1398; c.p.c. → R.D. 28 ottobre 1940
//!   n. 1443; c.p.p. → D.P.R. 22 settembre 1988 n. 447; Cost. → the Constitution; also CAD,
//!   disp. att. c.c./c.p.c./c.p.p./c.p. (also "norme att."), l. fall., c.d.s., cod. cons.,
//!   codice privacy, c.p.a., cod. ass., TUIR, TUB, TUF, TUEL, cod. nav., CCII, statuto dei
//!   lavoratori, a few other codes and testi unici by full name, and "<regolamento | testo
//!   unico | codice> ... di cui al <act>" resolves to that act.
//! * Article ids are lowercase without spaces/hyphens: "art. 62-*bis*" → `62bis`,
//!   "380-bis.1" → `380bis.1`. Detail is only kept together with an article.
//!
//! # Text extraction
//!
//! One pass of an anchor regex over the text; at each anchor a small hand-written parser made
//! of anchored regexes reads the citation (article list → details → connector → act). Work is
//! linear in the text size (the `regex` crate guarantees linear matching; every parse step moves
//! forward). Relative references ("art. 5 del presente decreto", bare "art. 5", "comma 2",
//! "articolo precedente") resolve against [`CitingContext`] and are flagged `relative`;
//! anaphora ("del medesimo decreto", "d.lgs. cit.", "dello stesso art. 13") resolve against the
//! most recent citation of the same text and are flagged `relative` too. A sentence-initial
//! "All'articolo N del <act> ..." (the amendment formula) makes later bare "comma N" in the same
//! text point at that article instead of the citing one.
//!
//! Spans follow Normattiva's own `<ref>` markup for lists: in "artt. 17 e 22 del codice
//! penale" the first citation covers "artt. 17", the last "22 del codice penale"; a single
//! citation covers the whole expression ("art. 360, comma 1, n. 3, c.p.c."). Several details of
//! one article ("co. 4 e 5") share that article's span.
//!
//! Ranges ("artt. 213--216", "commi da 2 a 5") expand when both ends are plain numbers at most
//! 50 apart, else give their two ends. Lists are capped (200 articles / values, 6 detail
//! levels) so that pathological input stays linear.
//!
//! Known limits: citations split across calls (amendment lists whose points are separate
//! paragraphs) cannot see the "All'articolo ..." of the previous call; quoted new text («...»)
//! inside amendments, and bare "comma N" that in fact points back at another act's article
//! ("articolo 416 del codice penale, ad esclusione del sesto comma"), resolve to the citing
//! article; editorial notes describing amendments ("la modifica dell'art. 2712, comma 1") resolve
//! bare articles to the citing act; regional laws, D.M., EU acts, the preleggi and acts whose
//! identity depends on the date ("codice dei contratti pubblici") are not produced from text
//! (articles followed by them are dropped, not misattributed); lists interrupted by prose
//! ("317, 319, aggravato ai sensi dell'articolo 319-bis ..., 319-ter") are cut; "ultimo comma"
//! keeps the article without detail; two-digit years map `00..=30` → 20xx, else 19xx.

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// Where a citation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CitationOrigin {
    /// An Akoma Ntoso `<ref href>` (or modification source/destination).
    Markup,
    /// Running text.
    Text,
    /// An editorial note / footnote.
    Note,
}

/// Canonical key of a cited norm (act, optionally article and detail). See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NormKey {
    /// `urn:nir:stato:legge:1990;241` (year only).
    pub act: String,
    /// `urn:nir:stato:legge:1990-08-07;241` when the day is known.
    pub act_dated: Option<String>,
    /// `2bis` (lowercase, no spaces/hyphens) when an article is cited.
    pub article: Option<String>,
    /// `com2-letr` comma/letter/number detail when known (only with an article).
    pub detail: Option<String>,
}

impl NormKey {
    /// act + `~art<N>` when article, + `-<detail>` when detail: the stable id used across stores.
    pub fn id(&self) -> String {
        let mut s = self.article_id();
        if self.article.is_some() {
            if let Some(d) = &self.detail {
                s.push('-');
                s.push_str(d);
            }
        }
        s
    }

    /// act + `~art<N>` (no detail) or act.
    pub fn article_id(&self) -> String {
        match &self.article {
            Some(a) => format!("{}~art{}", self.act, a),
            None => self.act.clone(),
        }
    }

    /// Like [`NormKey::id`] but on the dated act form, when the day is known.
    pub fn dated_id(&self) -> Option<String> {
        let dated = self.act_dated.as_ref()?;
        let k = NormKey {
            act: dated.clone(),
            act_dated: None,
            article: self.article.clone(),
            detail: self.detail.clone(),
        };
        Some(k.id())
    }

    /// The act alone (article and detail dropped).
    pub fn act_key(&self) -> NormKey {
        NormKey {
            act: self.act.clone(),
            act_dated: self.act_dated.clone(),
            article: None,
            detail: None,
        }
    }

    /// The act's URN:NIR type (`legge`, `decreto.legislativo`, ...).
    pub fn act_type(&self) -> Option<&str> {
        act_type_of(&self.act)
    }

    fn with(&self, article: &str, detail: Option<String>) -> NormKey {
        NormKey {
            act: self.act.clone(),
            act_dated: self.act_dated.clone(),
            article: Some(article.to_string()),
            detail,
        }
    }
}

/// One citation found in a text or in markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub key: NormKey,
    /// Byte offsets into the text given to the extractor (for markup: offsets of the ref text
    /// within the paragraph text if the caller gives them, else 0..0).
    pub start: usize,
    pub end: usize,
    /// The matched text.
    pub text: String,
    pub origin: CitationOrigin,
    /// The act (or article) was not written in the span and was resolved from context: the
    /// citing act/article, or (anaphora: "medesimo", "stesso", "cit.") an earlier citation.
    pub relative: bool,
}

/// The act (and article) doing the citing, for relative references.
#[derive(Debug, Clone, Default)]
pub struct CitingContext {
    /// The citing act's key (article None).
    pub act: Option<NormKey>,
    /// Current article ("5", "2bis").
    pub article: Option<String>,
}

impl CitingContext {
    /// Context for `act` (article dropped) and the current article ("2-bis" → "2bis").
    pub fn new(act: Option<NormKey>, article: Option<&str>) -> Self {
        CitingContext {
            act: act.map(|a| a.act_key()),
            article: article.and_then(norm_article),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

const DPR: &str = "decreto.del.presidente.della.repubblica";
const DLCPS: &str = "decreto.legislativo.del.capo.provvisorio.dello.stato";

/// Latin ordinal suffixes of inserted articles/commas ("2-bis").
const SUF: &str = "bis|ter|quater|quinquies|sexies|septies|octies|novies|nonies|decies|undecies|\
duodecies|terdecies|tredecies|quaterdecies|quinquiesdecies|quindecies|sexiesdecies|sedecies|\
septiesdecies|septdecies|octiesdecies|duodevicies|noviesdecies|undevicies|vicies";

/// ASCII word boundary (the Unicode one would make the lazy DFA give up on Italian text).
const B: &str = r"(?-u:\b)";

const ORDW: &str = "primo|secondo|terzo|quarto|quinto|sesto|settimo|ottavo|nono|decimo|\
undicesimo|dodicesimo|tredicesimo|quattordicesimo|quindicesimo|sedicesimo|diciassettesimo|\
diciottesimo|diciannovesimo|ventesimo|ultimo|penultimo|terzultimo";

const ORD_VALUES: [&str; 20] = [
    "primo",
    "secondo",
    "terzo",
    "quarto",
    "quinto",
    "sesto",
    "settimo",
    "ottavo",
    "nono",
    "decimo",
    "undicesimo",
    "dodicesimo",
    "tredicesimo",
    "quattordicesimo",
    "quindicesimo",
    "sedicesimo",
    "diciassettesimo",
    "diciottesimo",
    "diciannovesimo",
    "ventesimo",
];

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];
/// The month names as a regex alternation (shared by every date pattern of the enrich stage).
pub(crate) const MONTHS_RE: &str =
    "gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre";

/// An act of the alias table (codes and testi unici).
#[derive(Debug, Clone, Copy)]
struct Code {
    ty: &'static str,
    y: u32,
    m: u32,
    d: u32,
    num: Option<&'static str>,
}

const fn code(ty: &'static str, y: u32, m: u32, d: u32, num: &'static str) -> Code {
    Code {
        ty,
        y,
        m,
        d,
        num: Some(num),
    }
}

const CC: Code = code("regio.decreto", 1942, 3, 16, "262");
const CP: Code = code("regio.decreto", 1930, 10, 19, "1398");
const CPC: Code = code("regio.decreto", 1940, 10, 28, "1443");
const CPP: Code = code(DPR, 1988, 9, 22, "447");
const COST: Code = Code {
    ty: "costituzione",
    y: 1947,
    m: 12,
    d: 27,
    num: None,
};
const CAD: Code = code("decreto.legislativo", 2005, 3, 7, "82");
const DA_CC: Code = code("regio.decreto", 1942, 3, 30, "318");
const DA_CPC: Code = code("regio.decreto", 1941, 12, 18, "1368");
const DA_CPP: Code = code("decreto.legislativo", 1989, 7, 28, "271");
const DA_CP: Code = code("regio.decreto", 1931, 5, 28, "601");
const LFALL: Code = code("regio.decreto", 1942, 3, 16, "267");
const CDS: Code = code("decreto.legislativo", 1992, 4, 30, "285");
const CCONS: Code = code("decreto.legislativo", 2005, 9, 6, "206");
const PRIV: Code = code("decreto.legislativo", 2003, 6, 30, "196");
const TUIR: Code = code(DPR, 1986, 12, 22, "917");
const TUB: Code = code("decreto.legislativo", 1993, 9, 1, "385");
const TUF: Code = code("decreto.legislativo", 1998, 2, 24, "58");
const TUEL: Code = code("decreto.legislativo", 2000, 8, 18, "267");
const CNAV: Code = code("regio.decreto", 1942, 3, 30, "327");
const CCII: Code = code("decreto.legislativo", 2019, 1, 12, "14");
const STLAV: Code = code("legge", 1970, 5, 20, "300");
const CPA: Code = code("decreto.legislativo", 2010, 7, 2, "104");
const CAP: Code = code("decreto.legislativo", 2005, 9, 7, "209");
const COM: Code = code("decreto.legislativo", 2010, 3, 15, "66");
const CBC: Code = code("decreto.legislativo", 2004, 1, 22, "42");
const CAMB: Code = code("decreto.legislativo", 2006, 4, 3, "152");
const CAM: Code = code("decreto.legislativo", 2011, 9, 6, "159");
const CCE: Code = code("decreto.legislativo", 2003, 8, 1, "259");
const CPI: Code = code("decreto.legislativo", 2005, 2, 10, "30");
const CTS: Code = code("decreto.legislativo", 2017, 7, 3, "117");
const CPO: Code = code("decreto.legislativo", 2006, 4, 11, "198");
const TUSG: Code = code(DPR, 2002, 5, 30, "115");
const TUDA: Code = code(DPR, 2000, 12, 28, "445");
const TUED: Code = code(DPR, 2001, 6, 6, "380");
const TUIMM: Code = code("decreto.legislativo", 1998, 7, 25, "286");

/// Compact spelling (lowercase, ASCII alphanumerics only) → code.
const CODE_ALIASES: &[(&str, Code)] = &[
    ("cc", CC),
    ("codciv", CC),
    ("codicecivile", CC),
    ("cp", CP),
    ("codpen", CP),
    ("codicepenale", CP),
    ("cpc", CPC),
    ("codprocciv", CPC),
    ("codicediproceduracivile", CPC),
    ("codiceproceduracivile", CPC),
    ("cpp", CPP),
    ("codprocpen", CPP),
    ("codicediprocedurapenale", CPP),
    ("codiceprocedurapenale", CPP),
    ("cost", COST),
    ("costituzione", COST),
    ("cad", CAD),
    ("codicedellamministrazionedigitale", CAD),
    ("dispattcc", DA_CC),
    ("dispattcpc", DA_CPC),
    ("dispattcpp", DA_CPP),
    ("dispattcp", DA_CP),
    ("lfall", LFALL),
    ("leggefallimentare", LFALL),
    ("cds", CDS),
    ("codstrada", CDS),
    ("codicedellastrada", CDS),
    ("codcons", CCONS),
    ("codicedelconsumo", CCONS),
    ("codiceprivacy", PRIV),
    ("codicedellaprivacy", PRIV),
    ("tuir", TUIR),
    ("tub", TUB),
    ("tuf", TUF),
    ("tuel", TUEL),
    ("codnav", CNAV),
    ("codicedellanavigazione", CNAV),
    ("ccii", CCII),
    ("stlav", STLAV),
    ("statutodeilavoratori", STLAV),
    ("cpa", CPA),
    ("codiceprocessoamministrativo", CPA),
    ("codicedelprocessoamministrativo", CPA),
    ("codiceassicurazioniprivate", CAP),
    ("codicedelleassicurazioniprivate", CAP),
    ("codicedellordinamentomilitare", COM),
    ("codicedeibeniculturaliedelpaesaggio", CBC),
    ("codicedellambiente", CAMB),
    ("codiceantimafia", CAM),
    ("codicedellecomunicazionielettroniche", CCE),
    ("codicedellaproprietaindustriale", CPI),
    ("codicedelterzosettore", CTS),
    ("codicedellepariopportunita", CPO),
];

/// Compact spelling → URN:NIR type.
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("legge", "legge"),
    ("l", "legge"),
    ("lg", "legge"),
    ("decretolegislativo", "decreto.legislativo"),
    ("dlgs", "decreto.legislativo"),
    ("dlg", "decreto.legislativo"),
    ("dleg", "decreto.legislativo"),
    ("dlegs", "decreto.legislativo"),
    ("dlegvo", "decreto.legislativo"),
    ("dlvo", "decreto.legislativo"),
    ("decretolgs", "decreto.legislativo"),
    ("decretolegge", "decreto.legge"),
    ("dl", "decreto.legge"),
    ("decretodelpresidentedellarepubblica", DPR),
    ("decretopresidentedellarepubblica", DPR),
    ("decretopresidenterepubblica", DPR),
    ("dpr", DPR),
    ("regiodecreto", "regio.decreto"),
    ("rd", "regio.decreto"),
    ("regiodecretolegge", "regio.decreto.legge"),
    ("rdl", "regio.decreto.legge"),
    ("regiodecretolegislativo", "regio.decreto.legislativo"),
    ("rdlgs", "regio.decreto.legislativo"),
    ("leggecostituzionale", "legge.costituzionale"),
    ("leggecost", "legge.costituzionale"),
    ("lcost", "legge.costituzionale"),
    ("costituzione", "costituzione"),
    ("cost", "costituzione"),
    (
        "decretolegislativoluogotenenziale",
        "decreto.legislativo.luogotenenziale",
    ),
    ("dlgslgt", "decreto.legislativo.luogotenenziale"),
    ("dlgsluogotenenziale", "decreto.legislativo.luogotenenziale"),
    ("dlgt", "decreto.legislativo.luogotenenziale"),
    ("decretoluogotenenziale", "decreto.luogotenenziale"),
    ("dlt", "decreto.luogotenenziale"),
    ("decretolegislativodelcapoprovvisoriodellostato", DLCPS),
    ("decretolegislativocapoprovvisoriostato", DLCPS),
    ("dlcps", DLCPS),
    ("dlgscps", DLCPS),
    ("decreto", "decreto"),
    ("circolare", "circolare"),
    ("delibera", "deliberazione"),
    ("deliberazione", "deliberazione"),
    ("regolamento", "regolamento"),
    ("ordinanza", "ordinanza"),
];

/// Types whose authority is always the State (unless a region issued them).
const NATIONAL: &[&str] = &[
    "legge",
    "decreto.legge",
    "decreto.legislativo",
    DPR,
    "regio.decreto",
    "regio.decreto.legge",
    "regio.decreto.legislativo",
    "legge.costituzionale",
    "costituzione",
    "decreto.legislativo.luogotenenziale",
    "decreto.luogotenenziale",
    DLCPS,
];

/// Text spellings of act types, tried in order (longest first). No capture groups inside.
const TYPE_PATTERNS: &[(&str, &str)] = &[
    (
        r"decreto\s+del\s+presidente\s+del\s+consiglio\s+dei\s+ministri|d\.\s?p\.\s?c\.\s?m(?-u:\b)\.?|dpcm(?-u:\b)",
        "decreto",
    ),
    (
        r"decreto\s+legislativo\s+luogotenenziale|d\.\s?lgs\.\s?lgt\.?|d\.\s?lgs\.\s?luogotenenziale|d\.\s?lgt\.?",
        "decreto.legislativo.luogotenenziale",
    ),
    (
        r"(?:decreto\s+legislativo|d\.\s?lgs\.)\s+del\s+capo\s+provvisorio\s+dello\s+stato|d\.\s?lgs\.\s?c\.\s?p\.\s?s\.?|d\.\s?l\.\s?c\.\s?p\.\s?s\.?",
        DLCPS,
    ),
    (r"decreto\s+luogotenenziale", "decreto.luogotenenziale"),
    (r"decreti\s+legislativi(?-u:\b)", "decreto.legislativo"),
    (r"decreti[\s\-]+legge(?-u:\b)", "decreto.legge"),
    (
        r"decreti\s+del\s+presidente\s+della\s+repubblica(?-u:\b)",
        DPR,
    ),
    (r"regi\s+decreti(?-u:\b)", "regio.decreto"),
    (r"leggi(?-u:\b)", "legge"),
    (
        r"decreto\s+legislativo|decreto\s+lgs\.|d\.\s?lgs(?-u:\b)\.?|d\.\s?lg\.|d\.\s?leg(?:s|vo)?\.|d\.\s?l\.\s?vo(?-u:\b)\.?|d\.\s?lvo(?-u:\b)\.?|dlgs(?-u:\b)\.?",
        "decreto.legislativo",
    ),
    (
        r"regio\s+decreto[\s\-]+legge|regio\s+d\.\s?-?\s?l\.|r\.\s?d\.\s?l\.|rdl(?-u:\b)",
        "regio.decreto.legge",
    ),
    (
        r"regio\s+decreto\s+legislativo|r\.\s?d\.\s?lgs\.",
        "regio.decreto.legislativo",
    ),
    (r"regio\s+decreto|r\.\s?d\.|rd(?-u:\b)", "regio.decreto"),
    (
        r"decreto[\s\-]+legge|d\.\s?-?\s?l\.|dl(?-u:\b)",
        "decreto.legge",
    ),
    (
        r"decreto\s+del\s+presidente\s+della\s+repubblica|d\.\s?p\.\s?r(?-u:\b)\.?|dpr(?-u:\b)",
        DPR,
    ),
    (
        r"legge\s+costituzionale|legge\s+cost\.|l\.\s?cost\.",
        "legge.costituzionale",
    ),
    (r"legge(?-u:\b)|l\.|lg\.", "legge"),
];

/// Text spellings of codes: (pattern, code, full name usable without an article).
const CODE_PATTERNS: &[(&str, Code, bool)] = &[
    (r"codice\s+(?:di\s+)?procedura\s+penale(?-u:\b)", CPP, true),
    (r"codice\s+(?:di\s+)?procedura\s+civile(?-u:\b)", CPC, true),
    (r"codice\s+penale(?-u:\b)", CP, true),
    (r"codice\s+civile(?-u:\b)", CC, true),
    (
        r"codice\s+dell['’]\s?amministrazione\s+digitale(?-u:\b)",
        CAD,
        true,
    ),
    (r"codice\s+della\s+strada(?-u:\b)", CDS, true),
    (r"codice\s+del\s+consumo(?-u:\b)", CCONS, true),
    (
        r"codice\s+(?:della\s+privacy|in\s+materia\s+di\s+protezione\s+dei\s+dati\s+personali)(?-u:\b)",
        PRIV,
        true,
    ),
    (r"codice\s+della\s+navigazione(?-u:\b)", CNAV, true),
    (
        r"codice\s+della\s+crisi\s+d['’]\s?impresa(?:\s+e\s+dell['’]\s?insolvenza)?(?-u:\b)",
        CCII,
        true,
    ),
    (r"costituzione(?-u:\b)", COST, true),
    (r"legge\s+fallimentare(?-u:\b)", LFALL, true),
    (r"statuto\s+dei\s+lavoratori(?-u:\b)", STLAV, true),
    (
        r"codice\s+del\s+processo\s+amministrativo(?-u:\b)",
        CPA,
        true,
    ),
    (
        r"codice\s+delle\s+assicurazioni\s+private(?-u:\b)",
        CAP,
        true,
    ),
    (
        r"codice\s+dell['’]\s?ordinamento\s+militare(?-u:\b)",
        COM,
        true,
    ),
    (
        r"codice\s+dei\s+beni\s+culturali(?:\s+e\s+del\s+paesaggio)?(?-u:\b)",
        CBC,
        true,
    ),
    (r"codice\s+dell['’]\s?ambiente(?-u:\b)", CAMB, true),
    (
        r"codice\s+(?:antimafia|delle\s+leggi\s+antimafia)(?-u:\b)",
        CAM,
        true,
    ),
    (
        r"codice\s+delle\s+comunicazioni\s+elettroniche(?-u:\b)",
        CCE,
        true,
    ),
    (
        r"codice\s+della\s+propriet(?:à|a['’])\s+industriale(?-u:\b)",
        CPI,
        true,
    ),
    (r"codice\s+del\s+terzo\s+settore(?-u:\b)", CTS, true),
    (r"codice\s+delle\s+pari\s+opportunit(?:à|a['’])", CPO, true),
    (
        r"testo\s+unico\s+delle\s+disposizioni\s+legislative\s+e\s+regolamentari\s+in\s+materia\s+di\s+spese\s+di\s+giustizia(?-u:\b)",
        TUSG,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+disposizioni\s+legislative\s+e\s+regolamentari\s+in\s+materia\s+di\s+documentazione\s+amministrativa(?-u:\b)",
        TUDA,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+disposizioni\s+legislative\s+e\s+regolamentari\s+in\s+materia\s+edilizia(?-u:\b)",
        TUED,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+leggi\s+sull['’]\s?ordinamento\s+degli\s+enti\s+locali(?-u:\b)",
        TUEL,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+leggi\s+in\s+materia\s+bancaria\s+e\s+creditizia(?-u:\b)",
        TUB,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+disposizioni\s+in\s+materia\s+di\s+intermediazione\s+finanziaria(?-u:\b)",
        TUF,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+imposte\s+sui\s+redditi(?-u:\b)",
        TUIR,
        true,
    ),
    (
        r"testo\s+unico\s+delle\s+disposizioni\s+concernenti\s+la\s+disciplina\s+dell['’]\s?immigrazione(?-u:\b)",
        TUIMM,
        true,
    ),
    (r"c\.\s?c\.\s?i\.\s?i\.?|ccii(?-u:\b)", CCII, false),
    (r"c\.\s?p\.\s?p(?-u:\b)\.?", CPP, false),
    (
        r"cod(?:ice)?\.?\s?(?:di\s+)?proc(?:edura)?\.?\s?pen(?:ale)?(?-u:\b)\.?",
        CPP,
        false,
    ),
    (r"c\.\s?p\.\s?c(?-u:\b)\.?", CPC, false),
    (
        r"cod(?:ice)?\.?\s?(?:di\s+)?proc(?:edura)?\.?\s?civ(?:ile)?(?-u:\b)\.?",
        CPC,
        false,
    ),
    (r"c\.\s?p(?-u:\b)\.?", CP, false),
    (r"cod\.\s?pen(?:ale)?(?-u:\b)\.?", CP, false),
    (r"c\.\s?c(?-u:\b)\.?", CC, false),
    (r"cod\.\s?civ(?:ile)?(?-u:\b)\.?", CC, false),
    (r"cost(?-u:\b)\.?", COST, false),
    (r"c\.\s?a\.\s?d\.?|cad(?-u:\b)", CAD, false),
    (r"l\.\s?fall(?-u:\b)\.?", LFALL, false),
    (r"c\.\s?d\.\s?s\.?|cod\.\s?strada(?-u:\b)", CDS, false),
    (r"cod\.\s?cons(?-u:\b)\.?", CCONS, false),
    (r"cod\.\s?privacy(?-u:\b)", PRIV, false),
    (r"t\.\s?u\.\s?i\.\s?r\.?|tuir(?-u:\b)", TUIR, false),
    (r"t\.\s?u\.\s?e\.\s?l\.?|tuel(?-u:\b)", TUEL, false),
    (r"t\.\s?u\.\s?b\.?|tub(?-u:\b)", TUB, false),
    (r"t\.\s?u\.\s?f\.?|tuf(?-u:\b)", TUF, false),
    (r"cod\.\s?nav(?-u:\b)\.?", CNAV, false),
    (r"st\.\s?lav(?-u:\b)\.?", STLAV, false),
    (r"c\.\s?p\.\s?a(?-u:\b)\.?", CPA, false),
    (r"cod\.\s?ass(?-u:\b)\.?", CAP, false),
];

// ---------------------------------------------------------------------------------------------
// Regexes (compiled once)
// ---------------------------------------------------------------------------------------------

fn rx(p: &str) -> Regex {
    // Patterns are constants of this module; a failure is a programming error caught by tests.
    Regex::new(p).expect("citations: static regex")
}

fn ord_item() -> String {
    format!(r"(?:(?:{ORDW}){B}|[0-9]{{1,3}}\s*[°º])")
}

/// The anchors of the single scan. Named groups tell which parser to run.
static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
    let ord = ord_item();
    rx(&format!(
        r"(?i)(?P<ana>{B}(?:stess[oa]|medesim[oa]|predett[oa]|citat[oa]|suddett[oa])\s+(?:art{B}|articol[oi]{B}))|(?P<art>{B}(?:artt?{B}|articol[oi]{B}))|(?P<det>{B}(?:comm[ai]{B}|co\.|letter[ae]{B}|lett\.|{ord}(?:(?:\s*,\s*(?:e\s+)?|\s+e\s+){ord})*\s+comm[ai]{B}))|(?P<num>{B}(?:nn?\.|numer[oi]{B}))|(?P<act>{B}(?:(?:legge|leggi|lg|dpr|dpcm|dlgs|dl|decret[oi]|regio|regi|rd|codice|costituzione|statuto|testo){B}|l\.|d\.\s?l|d\.\s?p|r\.\s?d\.))"
    ))
});

static ART_KW: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(?:artt\.|art\.|articoli{B}|articolo{B}|artt{B}|art{B})\s*"
    ))
});
static PREC: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"(?i)^(precedente|successivo){B}")));
static ARTNUM: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^([0-9]{{1,5}})(?:\s?[\-‐‑–]?\s?[*_]{{0,2}}({SUF}){B}[*_]{{0,2}}(?:\.([0-9]{{1,2}}){B})?)?"
    ))
});
static NUMSUF: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^([0-9]{{1,4}})(?:\s*[°º])?(?:\s?[\-‐‑]?\s?[*_]{{0,2}}({SUF}){B}[*_]{{0,2}})?"
    ))
});
static DA: LazyLock<Regex> = LazyLock::new(|| rx(r"(?i)^da\s+"));
static A_SEP: LazyLock<Regex> = LazyLock::new(|| rx(r"(?i)^\s+a\s+"));
static RANGE_SEP: LazyLock<Regex> = LazyLock::new(|| rx(r"^\s*(?:--|-|–|—|‐|‑)\s*"));
/// Whitespace or Normattiva's "((" / "))" markers around amended text.
const W: &str = r"(?:\s|\(\(|\)\))";
static LIST_SEP: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(?:{W}*,{W}*(?:(?:e|ed|o|nonch[eé]|nonche['’]){W}+)?|{W}+(?:e|ed|o|oppure|ovvero|nonch[eé]|nonche['’]){W}+)"
    ))
});
static ART_CONT: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"(?i)^(?:\s*,\s*(?:(?:e|ed|o|nonch[eé]|nonche['’]|ovvero|oppure)\s+)?|\s+(?:e|ed|o|nonch[eé]|nonche['’]|ovvero|oppure)\s+)(?:(?:all|dell|nell|dall|sull)['’]\s*|(?:agli|degli|negli|dagli|sugli|gli|l['’])\s*)?",
    )
});
static LETTER_SEP: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?i)^(?:\s*,\s*(?:(?:e|ed|o)\s+)?|\s+(?:e|ed|o)\s+)"));
static WS: LazyLock<Regex> = LazyLock::new(|| rx(r"^\s*"));
static DETAIL_SEP: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"^(?:{W}|,)*")));
static COMMA_KW: LazyLock<Regex> = LazyLock::new(|| rx(r"(?i)^(commi|comma|co\.)\s*"));
static COMMA_ORD_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^((?:{ORDW}){B}(?:(?:\s*,\s*(?:e\s+)?|\s+e\s+)(?:{ORDW}){B})*)"
    ))
});
static ORD_COMMA: LazyLock<Regex> = LazyLock::new(|| {
    let ord = ord_item();
    rx(&format!(
        r"(?i)^({ord}(?:(?:\s*,\s*(?:e\s+)?|\s+e\s+){ord})*)\s+comm[ai]{B}"
    ))
});
static ORD_ONE: LazyLock<Regex> =
    LazyLock::new(|| rx(&format!(r"(?i)(?:({ORDW}){B}|([0-9]{{1,3}})\s*[°º])")));
static PERIODO: LazyLock<Regex> = LazyLock::new(|| {
    let ord = ord_item();
    rx(&format!(
        r"(?i)^(?:{ord}(?:(?:\s*,\s*(?:e\s+)?|\s+e\s+){ord})*\s+period[oi]{B}|period[oi]\s+[0-9]{{1,2}}{B}|(?:prima|seconda|ultima)\s+parte{B}|alinea{B})"
    ))
});
static LETTER_KW: LazyLock<Regex> =
    LazyLock::new(|| rx(&format!(r"(?i)^(lettere|lettera|lett\.|let\.|lett{B})\s*")));
static LETTER: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^[*_]{{0,2}}([a-z]{{1,3}})(?:\s?[\-‐]?\s?({SUF}))?{B}[*_]{{0,2}}(\s*\))?"
    ))
});
static NUMERO_KW: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?i)^(numeri|numero|nn\.|num\.|nr\.|n\.|n°)\s*"));
static CLOSE_PAREN: LazyLock<Regex> = LazyLock::new(|| rx(r"^\s*\)"));
static ACT_NUMBER_AHEAD: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?i)^(?:\s*/\s*[0-9]|\s*,?\s+dell?['’]?\s*[0-9])"));
static SEQ: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"(?i)^\s*,?\s*(?:(?:e\s+)?(?:ss|segg|sgg)\.|e\s+seguenti|e\s+successiv[ei](?:\s+modificazioni(?:\s+e\s+integrazioni)?)?|e\s+s\.\s?m\.(?:\s?i\.)?)",
    )
});
static CIT: LazyLock<Regex> = LazyLock::new(|| rx(r"(?i)^\s*,?\s*(?:ult\.\s?)?cit\."));
static CONN: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(?:{W}|,)*(?:(della|dello|delle|degli|dei|del){B}\s*|(dell['’])\s*)?"
    ))
});
static CHAIN_CONN: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^[\s,]*(?:(?:della|dello|delle|degli|dei|del){B}\s*|dell['’]\s*)"
    ))
});
static PRES_ART: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(presente|medesimo|stesso|citato|predetto|suddetto)\s+(?:articolo{B}|art\.)"
    ))
});
static ADJ: LazyLock<Regex> = LazyLock::new(|| {
    rx(r"(?i)^(presente|stess[oa]|medesim[oa]|citat[oa]|predett[oa]|suddett[oa]|richiamat[oa])\s+")
});
static VIA: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(?:regolamento|testo\s+unico|codice){B}[^;:.()«»]{{0,240}}?(?:,\s*|\s)(?:di\s+cui\s+(?:al|alla|all['’])|approvat[oa]\s+(?:con|dal|dalla|col)|emanat[oa]\s+(?:con|dal|col)|adottat[oa]\s+(?:con|dal|col)){B}\s*"
    ))
});
static ANA_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?i)^(?:stess[oa]|medesim[oa]|predett[oa]|citat[oa]|suddett[oa])\s+"));
static GENERIC_ACT: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(decreto\s+legislativo|decreto[\s\-]+legge|decreto|legge|codice|testo\s+unico|regolamento|provvedimento|atto){B}"
    ))
});
static TYPE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let alts: Vec<String> = TYPE_PATTERNS
        .iter()
        .map(|(p, _)| format!("({p})"))
        .collect();
    rx(&format!("(?i)^(?:{})", alts.join("|")))
});
static CODE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let alts: Vec<String> = CODE_PATTERNS
        .iter()
        .map(|(p, _, _)| format!("({p})"))
        .collect();
    rx(&format!("(?i)^(?:{})", alts.join("|")))
});
static TYPE_CIT: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^\s*,?\s*(?:(?:ult\.\s?)?cit\.|citat[oa]{B})"
    ))
});
static DISP_ATT: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"(?i)^(?:(?:disp\.|norme)\s?att\.(?:\s?(?:e\s+)?trans\.)?|disposizioni\s+(?:per\s+l['’]\s?|di\s+)attuazione(?:\s+e\s+transitorie)?)\s*(?:(?:del|al)\s+)?",
    )
});
static DISP_PREL: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"(?i)^(?:disp\.\s?prel\.(?:\s?(?:al\s+)?c\.\s?c\.?)?|preleggi|disposizioni\s+(?:preliminari|sulla\s+legge\s+in\s+generale))",
    )
});
static FOREIGN: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^(?:cedu|tfue|tue{B}|trattat|convenzion|conv\.|carta|direttiv|dir\.|regolament|reg\.|gdpr|statut|legge\s+regional|l\.\s?r\.|l\.\s?reg|d\.\s?m\.|dm{B}|decreto\s+ministeriale|decreto\s+del\s+ministr|decreto\s+interministeriale|codice\s+deontologic|disp\.|disposizioni|allegat|all\.|tabell|protocoll|testo\s+unico)"
    ))
});
static ABBR: LazyLock<Regex> = LazyLock::new(|| rx(r"^[A-Za-z]{1,6}\.(?:\s?[A-Za-z]{1,6}\.)*"));
static ACRONYM: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"^[A-Z]{{2,8}}{B}")));
static CONT_SEP: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?i)^(?:\s*,\s*(?:(?:e|ed)\s+)?|\s+(?:e|ed)\s+)"));
static NUM_ONLY: LazyLock<Regex> =
    LazyLock::new(|| rx(&format!(r"(?i)^(?:n\.|n°|nr\.)\s*([0-9]{{1,5}}){B}")));
static ACT_FIRST_SEP: LazyLock<Regex> = LazyLock::new(|| rx(r"^\s*,?\s*"));

static ID_DATE_NUM: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^\s*(?:del\s+|dell['’]\s*)?([0-9]{{1,2}})\s*(?:°|º)?\s+({MONTHS_RE})\s+([0-9]{{4}})\s*,?\s*(?:n\.|n°|nr\.?|num\.|numero|n{B})\s*([0-9]{{1,5}}){B}"
    ))
});
static ID_NUMDATE_NUM: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^\s*(?:del\s+)?([0-9]{{1,2}})[./]([0-9]{{1,2}})[./]([0-9]{{4}})\s*,?\s*(?:n\.|n°|nr\.?|num\.|numero|n{B})\s*([0-9]{{1,5}}){B}"
    ))
});
static ID_NUM_SLASH: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^\s*(?:(?:n\.|n°|nr\.?|num\.|numero)\s*)?([0-9]{{1,5}})\s*/\s*([0-9]{{4}}|[0-9]{{2}}){B}"
    ))
});
static ID_NUM_DEL: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)^\s*(?:(?:n\.|n°|nr\.?|num\.|numero)\s*)?([0-9]{{1,5}})\s*,?\s+(?:del|dell['’])\s*(?:([0-9]{{1,2}})\s*(?:°|º)?\s+({MONTHS_RE})\s+)?([0-9]{{4}}){B}"
    ))
});

static FRAG_ART: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?i)(?:^|[^a-z])art[_.\s]*([0-9]{{1,5}}(?:\s*[\-_]?\s*(?:{SUF}){B})?(?:\.[0-9]{{1,3}})?)((?:-[a-z][0-9a-z.]*)*)"
    ))
});
static FRAG_BARE: LazyLock<Regex> =
    LazyLock::new(|| rx(&format!(r"(?i)^([0-9]{{1,5}}(?:\s*[\-_]?\s*(?:{SUF}))?)$")));
static ARTICLE_ID: LazyLock<Regex> =
    LazyLock::new(|| rx(&format!(r"^[0-9]{{1,5}}(?:{SUF})?(?:\.[0-9]{{1,3}})?$")));
static DETAIL_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| rx(r"^(?:com|let|num|par|per|pnt|cpv)[0-9a-z.]*$"));
static SUFFIX_ONLY: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"^(?:{SUF})$")));

// ---------------------------------------------------------------------------------------------
// Public functions: types, codes, hrefs
// ---------------------------------------------------------------------------------------------

fn compact(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Normalise a type spelling to the URN:NIR dotted form ("d.lgs." -> "decreto.legislativo");
/// None if unknown. Codes ("c.c.", "codice.civile") are not types: see [`code_key`].
pub fn normalize_type(s: &str) -> Option<&'static str> {
    let c = compact(s);
    TYPE_ALIASES.iter().find(|(k, _)| *k == c).map(|(_, v)| *v)
}

/// Key of a code / consolidated text from the alias table ("c.c.", "codice.civile", "Cost.",
/// "c.p.p.", "CAD", "disp. att. c.p.c.", "TUIR", ...). None if not in the table.
pub fn code_key(s: &str) -> Option<NormKey> {
    let c = compact(s);
    CODE_ALIASES
        .iter()
        .find(|(k, _)| *k == c)
        .map(|(_, code)| code_norm_key(code))
}

fn code_norm_key(c: &Code) -> NormKey {
    make_act("stato", c.ty, c.y, Some((c.m, c.d)), c.num)
}

fn make_act(auth: &str, ty: &str, year: u32, md: Option<(u32, u32)>, num: Option<&str>) -> NormKey {
    let num = if ty == "costituzione" { None } else { num };
    let build = |date: String| match num {
        Some(n) => format!("urn:nir:{auth}:{ty}:{date};{n}"),
        None => format!("urn:nir:{auth}:{ty}:{date}"),
    };
    NormKey {
        act: build(format!("{year:04}")),
        act_dated: md.map(|(m, d)| build(format!("{year:04}-{m:02}-{d:02}"))),
        article: None,
        detail: None,
    }
}

fn act_type_of(act: &str) -> Option<&str> {
    act.split(':').nth(3)
}

/// "2-bis" / "2 bis" / "590 SEXIES" / "380-bis.1" → "2bis" / "590sexies" / "380bis.1".
fn norm_article(s: &str) -> Option<String> {
    let a: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_' | '*' | '‐' | '‑' | '–'))
        .collect();
    ARTICLE_ID.is_match(&a).then_some(a)
}

/// Parse an Akoma Ntoso href or a urn:nir string into a key. None if it is not a reference to
/// an Italian act.
pub fn key_from_href(href: &str) -> Option<NormKey> {
    let h = href.trim();
    if h.is_empty() || h.len() > 4096 {
        return None;
    }
    let h = h
        .replace("%20", " ")
        .replace("%7E", "~")
        .replace("%7e", "~");
    let lower = h.to_ascii_lowercase();
    if let Some(i) = lower.find("urn:nir:") {
        return parse_urn(&h[i + 8..]);
    }
    if let Some(i) = lower.find("/akn/it/") {
        return parse_akn(&h[i + 8..]);
    }
    if lower.starts_with("akn/it/") {
        return parse_akn(&h[7..]);
    }
    None
}

/// Like [`key_from_href`], plus document-internal hrefs (`#art_5-com2`) resolved to the citing
/// act of `ctx`.
pub fn resolve_href(href: &str, ctx: &CitingContext) -> Option<NormKey> {
    let h = href.trim();
    if let Some(frag) = h.strip_prefix('#') {
        let act = ctx.act.as_ref()?.act_key();
        let (article, detail) = parse_fragment(frag);
        let article = article?;
        return Some(act.with(&article, detail));
    }
    key_from_href(h)
}

/// Canonical key of an act from AKN FRBR metadata (e.g. work FRBRthis
/// "/akn/it/act/decreto_legislativo/stato/2001-06-08/231/!main" or urn:nir alias
/// "urn:nir:stato:decreto.legislativo:2001-06-08;231"). Article and detail are dropped.
pub fn act_key_from_frbr(frbr_or_urn: &str) -> Option<NormKey> {
    key_from_href(frbr_or_urn).map(|k| k.act_key())
}

/// A markup citation: `href` of a `<ref>` whose text `text` sits at `start..end` of the
/// paragraph text (pass 0, 0 when unknown). None when the href is not an Italian act.
pub fn citation_from_ref(href: &str, text: &str, start: usize, end: usize) -> Option<Citation> {
    let key = key_from_href(href)?;
    Some(Citation {
        key,
        start,
        end: end.max(start),
        text: text.to_string(),
        origin: CitationOrigin::Markup,
        relative: false,
    })
}

fn parse_date(s: &str) -> Option<(u32, Option<(u32, u32)>)> {
    let s = s.trim();
    let mut it = s.split('-');
    let y = it.next()?;
    if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: u32 = y.parse().ok()?;
    if !(1000..=2999).contains(&y) {
        return None;
    }
    let m = it.next().and_then(|m| m.parse::<u32>().ok());
    let d = it
        .next()
        .and_then(|d| d.get(..2.min(d.len()))?.parse::<u32>().ok());
    let md = match (m, d) {
        (Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d) => Some((m, d)),
        _ => None,
    };
    Some((y, md))
}

fn normalize_issuer(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if matches!(c, '.' | '_' | ' ' | '-') && !out.is_empty() && !out.ends_with('.') {
            out.push('.');
        }
    }
    out
}

fn valid_authority(a: &str) -> bool {
    !a.is_empty()
        && !a.ends_with('.')
        && !a.starts_with('.')
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.')
}

/// Resolve (type, issuer, date, number) from markup into an act key.
fn act_from_parts(ty: &str, issuer: &str, date: &str, number: &str) -> Option<NormKey> {
    if let Some(k) = code_key(ty) {
        return Some(k);
    }
    let mut t = normalize_type(ty)?;
    let iss = normalize_issuer(issuer);
    if t == "decreto.legislativo" && iss == "capo.provvisorio.stato" {
        t = DLCPS;
    }
    if t == "decreto" && iss == "presidente.repubblica" {
        t = DPR;
    }
    let auth: String = if NATIONAL.contains(&t) {
        if iss.starts_with("regione.") || iss.starts_with("provincia.") {
            if !valid_authority(&iss) {
                return None;
            }
            iss
        } else {
            "stato".to_string()
        }
    } else if valid_authority(&iss) {
        iss
    } else {
        return None;
    };
    let (y, md) = parse_date(date)?;
    if t == "costituzione" {
        return Some(make_act(&auth, t, y, md, None));
    }
    let num = number.trim().to_ascii_lowercase();
    if num.is_empty()
        || num.len() > 32
        || !num.bytes().next().is_some_and(|b| b.is_ascii_digit())
        || !num
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    Some(make_act(&auth, t, y, md, Some(&num)))
}

fn parse_akn(rest: &str) -> Option<NormKey> {
    let (path, frag) = match rest.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (rest, None),
    };
    let (path, tilde) = match path.split_once('~') {
        Some((p, t)) => (p, Some(t)),
        None => (path, None),
    };
    let segs: Vec<&str> = path.split('/').collect();
    if segs.first().map(|s| s.to_ascii_lowercase()) != Some("act".to_string()) {
        return None;
    }
    let ty = *segs.get(1)?;
    // issuer is optional: find the date segment.
    let is_date = |s: &str| s.len() >= 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    let (issuer, di) = if segs.get(2).is_some_and(|s| is_date(s)) {
        ("", 2)
    } else {
        (*segs.get(2)?, 3)
    };
    let date = *segs.get(di)?;
    if !is_date(date) {
        return None;
    }
    let number = segs
        .get(di + 1)
        .copied()
        .filter(|s| !s.starts_with('!') && !s.contains('@'))
        .unwrap_or("");
    let act = act_from_parts(ty, issuer, date, number)?;
    let (article, detail) = tilde.or(frag).map(parse_fragment).unwrap_or((None, None));
    Some(match article {
        Some(a) => act.with(&a, detail),
        None => act,
    })
}

fn parse_urn(rest: &str) -> Option<NormKey> {
    let (main, frag) = match rest.split_once('#') {
        Some((m, f)) => (m, Some(f)),
        None => (rest, None),
    };
    let (main, tilde) = match main.split_once('~') {
        Some((m, t)) => (m, Some(t)),
        None => (main, None),
    };
    let mut parts = main.splitn(3, ':');
    let auth = parts.next()?.trim();
    let ty = parts.next()?.trim();
    let rest = parts.next()?.trim();
    let (date_s, num_s) = match rest.split_once(';') {
        Some((d, n)) => (d, n),
        None => (rest, ""),
    };
    let date = date_s.split(',').next().unwrap_or("");
    let date = date.split(['@', '!', '$', ' ']).next().unwrap_or("");
    let number: String = num_s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    let act = act_from_parts(ty, auth, date, &number)?;
    let frag = tilde
        .map(|t| t.split(['!', '@', '$']).next().unwrap_or(""))
        .or(frag);
    let (article, detail) = frag.map(parse_fragment).unwrap_or((None, None));
    Some(match article {
        Some(a) => act.with(&a, detail),
        None => act,
    })
}

/// `art_2bis-com1-leta`, `art5-com2`, `75`, `CODICE CIVILE-art. 2712`, `Codice Penale-art. 590
/// sexies` → (article, detail). Detail is dropped when no article is found (`art_com2-letb`).
fn parse_fragment(f: &str) -> (Option<String>, Option<String>) {
    let f = f.trim();
    if f.is_empty() || f.len() > 512 {
        return (None, None);
    }
    if let Some(c) = FRAG_BARE.captures(f) {
        return (c.get(1).and_then(|m| norm_article(m.as_str())), None);
    }
    let Some(c) = FRAG_ART.captures(f) else {
        return (None, None);
    };
    let Some(article) = c.get(1).and_then(|m| norm_article(m.as_str())) else {
        return (None, None);
    };
    let mut toks: Vec<String> = Vec::new();
    if let Some(tail) = c.get(2) {
        for t in tail.as_str().split('-').filter(|t| !t.is_empty()) {
            let t = t.to_ascii_lowercase();
            if SUFFIX_ONLY.is_match(&t) {
                if let Some(last) = toks.last_mut() {
                    last.push_str(&t);
                    continue;
                }
                break;
            }
            if DETAIL_TOKEN.is_match(&t) {
                toks.push(t);
            } else {
                break;
            }
        }
    }
    let detail = (!toks.is_empty()).then(|| toks.join("-"));
    (Some(article), detail)
}

// ---------------------------------------------------------------------------------------------
// Text extraction
// ---------------------------------------------------------------------------------------------

/// Find citations in plain text. `origin` is Text or Note (the caller knows which).
pub fn extract(text: &str, ctx: &CitingContext, origin: CitationOrigin) -> Vec<Citation> {
    let mut sc = Scanner {
        text,
        ctx,
        origin,
        out: Vec::new(),
        novella: None,
    };
    sc.run();
    let mut out = sc.out;
    out.sort_by_key(|c| (c.start, c.end));
    out
}

/// Bounds that keep pathological inputs linear (real citations are far below them).
const MAX_LEVELS: usize = 6;
const MAX_ITEMS: usize = 200;
const MAX_VALUES: usize = 200;
/// How many earlier citations anaphora ("medesimo decreto", "cit.") looks back.
const ANAPHORA_WINDOW: usize = 256;

/// Rank of a detail level in the canonical order com → let → num.
const R_COM: u8 = 0;
const R_LET: u8 = 1;
const R_NUM: u8 = 2;

type Alt = Vec<(u8, String)>;
/// (month, day) when the day is known.
type MonthDay = Option<(u32, u32)>;

enum Unit {
    /// A detail level; empty tokens = level present but its value unknown ("ultimo comma").
    Level(u8, Vec<String>),
    /// Consumed, no detail ("secondo periodo").
    Ignore,
}

struct Item {
    arts: Vec<String>,
    details: Vec<Alt>,
    start: usize,
    end: usize,
}

struct ArtParse {
    items: Vec<Item>,
    /// Resolved act (article-less) and whether it came from context.
    target: Option<(NormKey, bool)>,
    /// End of the whole expression (items + act).
    end: usize,
    /// The act was the `default_act` passed in (act-first form).
    by_default: bool,
}

enum ActRes {
    Explicit(NormKey),
    /// "presente decreto": the citing act.
    Relative,
    /// "medesimo decreto", "d.lgs. cit.": latest cited act matching the filter.
    Anaphora(Filter),
    /// Another instrument we do not key (preleggi): consume, drop.
    Skip,
}

#[derive(Clone, Copy)]
enum Filter {
    Any,
    Exact(&'static str),
    Contains(&'static str),
}

impl Filter {
    fn accepts(&self, act: &str) -> bool {
        let t = act_type_of(act).unwrap_or("");
        match self {
            Filter::Any => true,
            Filter::Exact(x) => t == *x,
            Filter::Contains(x) => t.contains(x),
        }
    }
}

struct Scanner<'t, 'c> {
    text: &'t str,
    ctx: &'c CitingContext,
    origin: CitationOrigin,
    out: Vec<Citation>,
    /// Article opened by a sentence-initial "All'articolo N del ..." (amendment formula).
    novella: Option<NormKey>,
}

fn caps_at<'a>(re: &Regex, text: &'a str, pos: usize) -> Option<Captures<'a>> {
    text.get(pos..).and_then(|s| re.captures(s))
}

fn len_at(re: &Regex, text: &str, pos: usize) -> Option<usize> {
    text.get(pos..).and_then(|s| re.find(s)).map(|m| m.end())
}

fn next_char_is_alnum(text: &str, pos: usize) -> bool {
    text.get(pos..)
        .and_then(|s| s.chars().next())
        .is_some_and(char::is_alphanumeric)
}

fn next_byte_is_digit(text: &str, pos: usize) -> bool {
    text.as_bytes().get(pos).is_some_and(u8::is_ascii_digit)
}

fn ord_value(word: &str) -> Option<u32> {
    let w = word.to_lowercase();
    ORD_VALUES
        .iter()
        .position(|o| *o == w)
        .map(|i| i as u32 + 1)
}

/// "primo, secondo e quinto" / "2°" → ["com1", "com2", "com5"]; empty when one is unknown
/// ("ultimo").
fn ord_tokens(list: &str) -> Vec<String> {
    let mut toks = Vec::new();
    for o in ORD_ONE.captures_iter(list) {
        let v = match (o.get(1), o.get(2)) {
            (Some(w), _) => ord_value(w.as_str()),
            (None, Some(n)) => n.as_str().parse::<u32>().ok().filter(|n| *n > 0),
            _ => None,
        };
        match v {
            Some(n) if toks.len() < MAX_VALUES => toks.push(format!("com{n}")),
            _ => return Vec::new(),
        }
    }
    toks
}

fn year_from(s: &str) -> Option<u32> {
    let y: u32 = s.parse().ok()?;
    let y = if s.len() == 2 {
        if y <= 30 {
            2000 + y
        } else {
            1900 + y
        }
    } else {
        y
    };
    (1800..=2100).contains(&y).then_some(y)
}

/// 1-based number of an Italian month name ("agosto" -> 8), any case.
pub fn month_from(s: &str) -> Option<u32> {
    let l = s.to_lowercase();
    MONTHS.iter().position(|m| *m == l).map(|i| i as u32 + 1)
}

fn act_number(s: &str) -> Option<String> {
    let n: u32 = s.parse().ok()?;
    (n > 0).then(|| n.to_string())
}

/// Expand a range "213--216" when both ends are plain numbers close together; else the ends.
fn expand(a: &str, b: &str) -> Vec<String> {
    if let (Ok(x), Ok(y)) = (a.parse::<u32>(), b.parse::<u32>()) {
        if a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
            && x < y
            && y - x <= 50
        {
            return (x..=y).map(|n| n.to_string()).collect();
        }
    }
    if a == b {
        vec![a.to_string()]
    } else {
        vec![a.to_string(), b.to_string()]
    }
}

fn combine(levels: &[(u8, Vec<String>)]) -> Vec<Alt> {
    let mut alts: Vec<Alt> = vec![Vec::new()];
    for (rank, toks) in levels {
        if toks.is_empty() || alts.len() != 1 {
            break;
        }
        let base = alts.pop().unwrap_or_default();
        alts = toks
            .iter()
            .map(|t| {
                let mut v = base.clone();
                v.push((*rank, t.clone()));
                v
            })
            .collect();
    }
    alts
}

fn detail_string(a: &[(u8, String)], b: &[(u8, String)]) -> Option<String> {
    let mut all: Vec<(u8, String)> = a.iter().chain(b.iter()).cloned().collect();
    all.sort_by_key(|(r, _)| *r);
    all.dedup_by_key(|(r, _)| *r);
    if all.is_empty() {
        None
    } else {
        Some(
            all.into_iter()
                .map(|(_, t)| t)
                .collect::<Vec<_>>()
                .join("-"),
        )
    }
}

impl Scanner<'_, '_> {
    fn run(&mut self) {
        let text = self.text;
        let mut pos = 0;
        while pos < text.len() {
            let Some(caps) = ANCHOR.captures_at(text, pos) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            let s = m.start();
            let next = if caps.name("ana").is_some() {
                self.at_anaphoric_article(s)
            } else if caps.name("art").is_some() {
                self.at_article(s)
            } else if caps.name("det").is_some() {
                self.at_chain(s, false)
            } else if caps.name("num").is_some() {
                self.at_chain(s, true)
            } else {
                self.at_act(s)
            };
            let mut np = next.max(m.end()).max(s + 1);
            while np < text.len() && !text.is_char_boundary(np) {
                np += 1;
            }
            pos = np;
        }
    }

    fn push(&mut self, key: NormKey, start: usize, end: usize, relative: bool) {
        let Some(t) = self.text.get(start..end) else {
            return;
        };
        if self
            .out
            .iter()
            .rev()
            .take(8)
            .any(|c| c.start == start && c.end == end && c.key == key)
        {
            return;
        }
        self.out.push(Citation {
            key,
            start,
            end,
            text: t.to_string(),
            origin: self.origin,
            relative,
        });
    }

    fn ctx_act(&self) -> Option<NormKey> {
        self.ctx.act.as_ref().map(NormKey::act_key)
    }

    fn ctx_article(&self) -> Option<String> {
        self.ctx.article.as_deref().and_then(norm_article)
    }

    fn last_act(&self, f: Filter) -> Option<NormKey> {
        self.out
            .iter()
            .rev()
            .take(ANAPHORA_WINDOW)
            .find(|c| f.accepts(&c.key.act))
            .map(|c| c.key.act_key())
    }

    fn act_by_article(&self, art: &str) -> Option<NormKey> {
        self.out
            .iter()
            .rev()
            .take(ANAPHORA_WINDOW)
            .find(|c| c.key.article.as_deref() == Some(art))
            .map(|c| c.key.act_key())
            .or_else(|| self.last_act(Filter::Any))
    }

    // ---- small parsers (all anchored at `p`, returning absolute ends) ----

    fn artnum(&self, p: usize) -> Option<(String, usize, bool)> {
        let c = caps_at(&ARTNUM, self.text, p)?;
        let m = c.get(0)?;
        let end = p + m.end();
        if next_byte_is_digit(self.text, end) {
            return None;
        }
        if self.text.get(end..).is_some_and(|r| {
            r.starts_with('/') && r.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
        }) {
            return None;
        }
        let mut a = c.get(1)?.as_str().trim_start_matches('0').to_string();
        if a.is_empty() {
            return None;
        }
        if let Some(s) = c.get(2) {
            // (?i) also matches "ſ"/"K": keep ids ASCII.
            if !s.as_str().is_ascii() {
                return None;
            }
            a.push_str(&s.as_str().to_ascii_lowercase());
        }
        let dotted = c.get(3).is_some();
        if let Some(d) = c.get(3) {
            a.push('.');
            a.push_str(d.as_str());
        }
        Some((a, end, dotted))
    }

    fn numsuf(&self, p: usize) -> Option<(String, usize)> {
        let c = caps_at(&NUMSUF, self.text, p)?;
        let end = p + c.get(0)?.end();
        if next_byte_is_digit(self.text, end) {
            return None;
        }
        let mut n = c.get(1)?.as_str().trim_start_matches('0').to_string();
        if n.is_empty() {
            return None;
        }
        if let Some(s) = c.get(2) {
            if !s.as_str().is_ascii() {
                return None;
            }
            n.push_str(&s.as_str().to_ascii_lowercase());
        }
        Some((n, end))
    }

    /// A list of comma/number values: "1", "1 e 2", "da 2 a 5", "1--1-ter", "2, 3 e 4".
    fn num_list(&self, p: usize, greedy: bool, max_digits: usize) -> Option<(Vec<String>, usize)> {
        let mut vals: Vec<String> = Vec::new();
        let mut q = p;
        loop {
            let da = len_at(&DA, self.text, q);
            let Some((n1, mut e)) = self.numsuf(q + da.unwrap_or(0)) else {
                break;
            };
            if n1.bytes().take_while(u8::is_ascii_digit).count() > max_digits {
                break;
            }
            let mut cur = vec![n1];
            let sep = if da.is_some() {
                len_at(&A_SEP, self.text, e)
            } else {
                len_at(&RANGE_SEP, self.text, e)
            };
            if let Some(l) = sep {
                if let Some((n2, e2)) = self.numsuf(e + l) {
                    let first = cur.pop().unwrap_or_default();
                    cur = expand(&first, &n2);
                    e = e2;
                }
            }
            vals.extend(cur);
            q = e;
            if !greedy || vals.len() >= MAX_VALUES {
                break;
            }
            match len_at(&LIST_SEP, self.text, q) {
                Some(l)
                    if self
                        .numsuf(q + l + len_at(&DA, self.text, q + l).unwrap_or(0))
                        .is_some() =>
                {
                    q += l;
                }
                _ => break,
            }
        }
        if vals.is_empty() {
            None
        } else {
            Some((vals, q))
        }
    }

    fn letter(&self, p: usize, lone_ok: bool) -> Option<(String, usize)> {
        let c = caps_at(&LETTER, self.text, p)?;
        let raw = c.get(1)?.as_str();
        // Points are lowercase letters; "lettere D ed E" name annexes, tables, ...
        if !raw.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        let l = raw.to_string();
        let paren = c.get(3).is_some();
        if !(paren || (lone_ok && l.chars().count() == 1)) {
            return None;
        }
        let end = p + c.get(0)?.end();
        let mut t = l;
        if let Some(s) = c.get(2) {
            if !s.as_str().is_ascii() {
                return None;
            }
            t.push_str(&s.as_str().to_ascii_lowercase());
        }
        Some((t, end))
    }

    /// One detail unit at `p` (no leading separator).
    fn detail_unit(&self, p: usize, greedy_singular: bool) -> Option<(Unit, usize)> {
        let text = self.text;
        if let Some(c) = caps_at(&COMMA_KW, text, p) {
            let kw = c.get(1)?.as_str().to_lowercase();
            let q = p + c.get(0)?.end();
            if let Some(o) = caps_at(&COMMA_ORD_AFTER, text, q) {
                let end = q + o.get(0)?.end();
                return Some((Unit::Level(R_COM, ord_tokens(o.get(1)?.as_str())), end));
            }
            let greedy = kw != "comma" || greedy_singular;
            let (vals, e) = self.num_list(q, greedy, 4)?;
            let toks = vals.into_iter().map(|v| format!("com{v}")).collect();
            return Some((Unit::Level(R_COM, toks), e));
        }
        if let Some(c) = caps_at(&ORD_COMMA, text, p) {
            let end = p + c.get(0)?.end();
            return Some((Unit::Level(R_COM, ord_tokens(c.get(1)?.as_str())), end));
        }
        if let Some(e) = len_at(&PERIODO, text, p) {
            return Some((Unit::Ignore, p + e));
        }
        if let Some(c) = caps_at(&LETTER_KW, text, p) {
            let q = p + c.get(0)?.end();
            let (l1, mut e) = self.letter(q, true)?;
            let mut toks = vec![format!("let{l1}")];
            // Further letters need their ")": "lettere a) e b)", "lettera a), e), f)".
            while let Some(l) = len_at(&LETTER_SEP, text, e) {
                match self.letter(e + l, false) {
                    Some((lx, ex)) if toks.len() < MAX_VALUES => {
                        toks.push(format!("let{lx}"));
                        e = ex;
                    }
                    _ => break,
                }
            }
            return Some((Unit::Level(R_LET, toks), e));
        }
        if let Some(c) = caps_at(&NUMERO_KW, text, p) {
            let kw = c.get(1)?.as_str().to_lowercase();
            let q = p + c.get(0)?.end();
            let plural = kw == "numeri" || kw == "nn.";
            let (vals, mut e) = self.num_list(q, plural, 3)?;
            if len_at(&ACT_NUMBER_AHEAD, text, e).is_some() {
                return None;
            }
            if let Some(l) = len_at(&CLOSE_PAREN, text, e) {
                e += l;
            }
            let toks = vals.into_iter().map(|v| format!("num{v}")).collect();
            return Some((Unit::Level(R_NUM, toks), e));
        }
        None
    }

    /// Detail units following an article number: ", comma 1, lett. a)", "co. 4 e 5".
    fn details_after(
        &self,
        mut q: usize,
        greedy_singular: bool,
    ) -> (Vec<(u8, Vec<String>)>, usize) {
        let mut levels = Vec::new();
        while levels.len() < MAX_LEVELS {
            let q0 = q + len_at(&DETAIL_SEP, self.text, q).unwrap_or(0);
            match self.detail_unit(q0, greedy_singular) {
                Some((Unit::Level(r, t), e)) => {
                    levels.push((r, t));
                    q = e;
                }
                Some((Unit::Ignore, e)) => q = e,
                None => break,
            }
        }
        (levels, q)
    }

    /// Type + identifier ("d.lgs. n. 231/2001", "legge 7 agosto 1990, n. 241").
    fn typed_act(&self, p: usize) -> Option<(ActRes, usize)> {
        let text = self.text;
        let c = caps_at(&TYPE_RE, text, p)?;
        let idx = (1..c.len()).find(|i| c.get(*i).is_some())?;
        let ty = TYPE_PATTERNS.get(idx - 1)?.1;
        let m = c.get(0)?;
        let q = p + m.end();
        if ty == "legge" && m.as_str().len() <= 3 && m.as_str() != "lg." {
            // "Sez. L." (labour section of the Cassazione) is not a law.
            let mut b0 = p.saturating_sub(12);
            while b0 > 0 && !text.is_char_boundary(b0) {
                b0 -= 1;
            }
            let before = text.get(b0..p).unwrap_or("").trim_end().to_lowercase();
            if before.ends_with("sez.") || before.ends_with("sez") || before.ends_with("sezione") {
                return None;
            }
        }
        if let Some(l) = len_at(&TYPE_CIT, text, q) {
            return Some((ActRes::Anaphora(Filter::Exact(ty)), q + l));
        }
        let (y, md, num, end) = self.act_id(q)?;
        // The only non-"stato" type of the text table is the D.P.C.M.
        let auth = if ty == "decreto" {
            "presidente.consiglio"
        } else {
            "stato"
        };
        Some((ActRes::Explicit(make_act(auth, ty, y, md, Some(&num))), end))
    }

    /// The identifier after a type: date and number in the usual forms.
    fn act_id(&self, q: usize) -> Option<(u32, MonthDay, String, usize)> {
        let text = self.text;
        let valid_md = |m: Option<u32>, d: Option<u32>| match (m, d) {
            (Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d) => Some((m, d)),
            _ => None,
        };
        if let Some(c) = caps_at(&ID_DATE_NUM, text, q) {
            let d = c.get(1)?.as_str().parse().ok();
            let m = month_from(c.get(2)?.as_str());
            let y = year_from(c.get(3)?.as_str())?;
            let n = act_number(c.get(4)?.as_str())?;
            return Some((y, valid_md(m, d), n, q + c.get(0)?.end()));
        }
        if let Some(c) = caps_at(&ID_NUMDATE_NUM, text, q) {
            let d = c.get(1)?.as_str().parse().ok();
            let m = c.get(2)?.as_str().parse().ok();
            let y = year_from(c.get(3)?.as_str())?;
            let n = act_number(c.get(4)?.as_str())?;
            return Some((y, valid_md(m, d), n, q + c.get(0)?.end()));
        }
        if let Some(c) = caps_at(&ID_NUM_SLASH, text, q) {
            let end = q + c.get(0)?.end();
            let r = text.get(end..).unwrap_or("");
            if r.starts_with('/') || r.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                return None;
            }
            let n = act_number(c.get(1)?.as_str())?;
            let y = year_from(c.get(2)?.as_str())?;
            return Some((y, None, n, end));
        }
        if let Some(c) = caps_at(&ID_NUM_DEL, text, q) {
            let n = act_number(c.get(1)?.as_str())?;
            let y = year_from(c.get(4)?.as_str())?;
            let d = c.get(2).and_then(|d| d.as_str().parse().ok());
            let m = c.get(3).and_then(|m| month_from(m.as_str()));
            return Some((y, valid_md(m, d), n, q + c.get(0)?.end()));
        }
        None
    }

    fn code_at(&self, p: usize, after_article: bool) -> Option<(Code, usize)> {
        let c = caps_at(&CODE_RE, self.text, p)?;
        let idx = (1..c.len()).find(|i| c.get(*i).is_some())?;
        let (_, code, full) = CODE_PATTERNS.get(idx - 1)?;
        let m = c.get(0)?;
        let end = p + m.end();
        if next_char_is_alnum(self.text, end) {
            return None;
        }
        if !after_article {
            if !full {
                return None;
            }
            // "Costituzione" alone must be capitalised ("costituzione di parte civile").
            if code.ty == "costituzione" && !m.as_str().starts_with('C') {
                return None;
            }
        }
        Some((*code, end))
    }

    /// An act designation at `p`: code, disp. att., "presente decreto", "medesimo decreto",
    /// or type + identifier.
    fn parse_act(&self, p: usize, after_article: bool) -> Option<(ActRes, usize)> {
        let text = self.text;
        if let Some(c) = caps_at(&ADJ, text, p) {
            let adj = c.get(1)?.as_str().to_lowercase();
            let q = p + c.get(0)?.end();
            if adj == "presente" {
                let g = caps_at(&GENERIC_ACT, text, q)?;
                return Some((ActRes::Relative, q + g.get(0)?.end()));
            }
            if let Some(r) = self.typed_act(q).or_else(|| self.via_act(q)) {
                return Some(r);
            }
            if let Some((code, e)) = self.code_at(q, true) {
                return Some((ActRes::Explicit(code_norm_key(&code)), e));
            }
            let g = caps_at(&GENERIC_ACT, text, q)?;
            let word = compact(g.get(1)?.as_str());
            let f = match word.as_str() {
                "decretolegislativo" => Filter::Exact("decreto.legislativo"),
                "decretolegge" => Filter::Exact("decreto.legge"),
                "decreto" => Filter::Contains("decreto"),
                "legge" => Filter::Exact("legge"),
                _ => Filter::Any,
            };
            return Some((ActRes::Anaphora(f), q + g.get(0)?.end()));
        }
        if after_article {
            if let Some(l) = len_at(&DISP_ATT, text, p) {
                let q = p + l;
                if let Some((code, e)) = self.code_at(q, true) {
                    let mapped = match code.num {
                        Some("262") => Some(DA_CC),
                        Some("1443") => Some(DA_CPC),
                        Some("447") => Some(DA_CPP),
                        Some("1398") => Some(DA_CP),
                        _ => None,
                    };
                    return Some(match mapped {
                        Some(m) => (ActRes::Explicit(code_norm_key(&m)), e),
                        None => (ActRes::Skip, e),
                    });
                }
                return Some((ActRes::Skip, q));
            }
            if let Some(l) = len_at(&DISP_PREL, text, p) {
                return Some((ActRes::Skip, p + l));
            }
        }
        if let Some((code, e)) = self.code_at(p, after_article) {
            return Some((ActRes::Explicit(code_norm_key(&code)), e));
        }
        if let Some(r) = self.typed_act(p) {
            return Some(r);
        }
        if after_article {
            return self.via_act(p);
        }
        None
    }

    /// "regolamento / testo unico / codice ... di cui al <act>" → that act.
    fn via_act(&self, p: usize) -> Option<(ActRes, usize)> {
        let q = p + len_at(&VIA, self.text, p)?;
        if let Some((code, e)) = self.code_at(q, true) {
            return Some((ActRes::Explicit(code_norm_key(&code)), e));
        }
        match self.typed_act(q)? {
            (ActRes::Explicit(k), e) => Some((ActRes::Explicit(k), e)),
            _ => None,
        }
    }

    fn resolve(&self, res: ActRes) -> Option<(NormKey, bool)> {
        match res {
            ActRes::Explicit(k) => Some((k, false)),
            ActRes::Relative => self.ctx_act().map(|a| (a, true)),
            ActRes::Anaphora(f) => self.last_act(f).map(|a| (a, true)),
            ActRes::Skip => None,
        }
    }

    /// "art. 5, comma 1, lett. a), del d.lgs. ...", "artt. 1, 2 e 3 c.p.p.", "articolo precedente".
    fn parse_article_expr(
        &self,
        kw_start: usize,
        anaphoric: bool,
        default_act: Option<&NormKey>,
    ) -> Option<ArtParse> {
        let text = self.text;
        let kw = caps_at(&ART_KW, text, kw_start)?;
        let kwt = kw.get(0)?.as_str().to_lowercase();
        let mut plural = kwt.starts_with("artt") || kwt.starts_with("articoli");
        let mut p = kw_start + kw.get(0)?.end();
        let empty = |end| ArtParse {
            items: Vec::new(),
            target: None,
            end,
            by_default: false,
        };

        if let Some(c) = caps_at(&PREC, text, p) {
            let end = p + c.get(0)?.end();
            let prec = c.get(1)?.as_str().eq_ignore_ascii_case("precedente");
            let n = self
                .ctx_article()
                .and_then(|a| a.parse::<u32>().ok())
                .and_then(|n| {
                    if prec {
                        n.checked_sub(1)
                    } else {
                        n.checked_add(1)
                    }
                })
                .filter(|n| *n > 0);
            return Some(match (n, self.ctx_act()) {
                (Some(n), Some(act)) => ArtParse {
                    items: vec![Item {
                        arts: vec![n.to_string()],
                        details: vec![Vec::new()],
                        start: kw_start,
                        end,
                    }],
                    target: Some((act, true)),
                    end,
                    by_default: false,
                },
                _ => empty(end),
            });
        }

        let mut items: Vec<Item> = Vec::new();
        let mut dotted_last = false;
        let mut item_start = kw_start;
        loop {
            let da = len_at(&DA, text, p);
            let Some((n1, e1, dotted)) = self.artnum(p + da.unwrap_or(0)) else {
                break;
            };
            let start = item_start;
            let mut arts = vec![n1];
            let mut q = e1;
            let sep = if da.is_some() {
                len_at(&A_SEP, text, q)
            } else {
                len_at(&RANGE_SEP, text, q)
            };
            if let Some(l) = sep {
                if let Some((n2, e2, _)) = self.artnum(q + l) {
                    let first = arts.pop().unwrap_or_default();
                    arts = expand(&first, &n2);
                    q = e2;
                }
            }
            let (levels, mut q) = self.details_after(q, !plural);
            let mut details = combine(&levels);
            // "articolo 133, primo comma, numero 3), e secondo comma": another comma group.
            while details.len() < MAX_VALUES {
                let Some(l) = len_at(&LIST_SEP, text, q) else {
                    break;
                };
                match self.detail_unit(q + l, !plural) {
                    Some((Unit::Level(R_COM, _), _)) => {}
                    _ => break,
                }
                let (more, e) = self.details_after(q + l, !plural);
                details.extend(combine(&more));
                q = e;
            }
            items.push(Item {
                arts,
                details,
                start,
                end: q,
            });
            dotted_last = dotted;
            if items.len() >= MAX_ITEMS {
                break;
            }
            if let Some(l) = len_at(&LIST_SEP, text, q) {
                if self
                    .artnum(q + l + len_at(&DA, text, q + l).unwrap_or(0))
                    .is_some()
                {
                    p = q + l;
                    item_start = p;
                    continue;
                }
            }
            // "all'articolo 136, comma 1, e all'articolo 142, comma 1, del codice ...":
            // one act for articles each introduced by its own keyword.
            if let Some(l) = len_at(&ART_CONT, text, q) {
                if let Some(k) = caps_at(&ART_KW, text, q + l) {
                    let kl = k.get(0).map_or(0, |m| m.end());
                    if self.artnum(q + l + kl).is_some() {
                        let kt = k
                            .get(0)
                            .map(|m| m.as_str().to_lowercase())
                            .unwrap_or_default();
                        plural = kt.starts_with("artt") || kt.starts_with("articoli");
                        item_start = q + l;
                        p = q + l + kl;
                        continue;
                    }
                }
            }
            break;
        }
        let Some(last) = items.last_mut() else {
            return Some(empty(p));
        };
        let mut end = last.end;
        if let Some(l) = len_at(&SEQ, text, end) {
            end += l;
            last.end = end;
        }
        let first_art = items
            .first()
            .and_then(|i| i.arts.first())
            .cloned()
            .unwrap_or_default();

        let mut q = end;
        if dotted_last && text.get(q..).is_some_and(|r| r.starts_with('.')) {
            q += 1;
        }
        let mut by_default = false;
        let target = if let Some(l) = len_at(&CIT, text, q) {
            end = q + l;
            self.act_by_article(&first_art).map(|a| (a, true))
        } else {
            let conn = caps_at(&CONN, text, q)?;
            let has_conn = conn.get(1).is_some() || conn.get(2).is_some();
            let p2 = q + conn.get(0)?.end();
            match self.parse_act(p2, true) {
                Some((res, e)) => {
                    end = e;
                    self.resolve(res)
                }
                None => {
                    if has_conn
                        || len_at(&FOREIGN, text, p2).is_some()
                        || len_at(&ABBR, text, p2).is_some()
                        || len_at(&ACRONYM, text, p2).is_some()
                    {
                        None
                    } else if let Some(d) = default_act {
                        by_default = true;
                        Some((d.act_key(), false))
                    } else if anaphoric {
                        self.last_act(Filter::Any).map(|a| (a, true))
                    } else {
                        self.ctx_act().map(|a| (a, true))
                    }
                }
            }
        };
        Some(ArtParse {
            items,
            target,
            end,
            by_default,
        })
    }

    fn emit_art(&mut self, ap: &ArtParse, span_start: Option<usize>, chain: &[Alt]) {
        let Some((act, rel)) = ap.target.clone() else {
            return;
        };
        let no_chain: Vec<Alt> = vec![Vec::new()];
        let chain = if chain.is_empty() {
            &no_chain[..]
        } else {
            chain
        };
        let n = ap.items.len();
        for (i, it) in ap.items.iter().enumerate() {
            let start = if i == 0 {
                span_start.unwrap_or(it.start)
            } else {
                it.start
            };
            let end = if i + 1 == n {
                ap.end.max(it.end)
            } else {
                it.end
            };
            for art in &it.arts {
                for d in &it.details {
                    for ch in chain {
                        let key = act.with(art, detail_string(ch, d));
                        self.push(key, start, end, rel);
                    }
                }
            }
        }
    }

    fn at_article(&mut self, s: usize) -> usize {
        let Some(ap) = self.parse_article_expr(s, false, None) else {
            return s + 1;
        };
        if !ap.items.is_empty() {
            if let Some((act, false)) = &ap.target {
                let before = self.text.get(..s).unwrap_or("");
                if before.ends_with("All'") || before.ends_with("All’") {
                    if let Some(a) = ap.items.first().and_then(|i| i.arts.first()) {
                        self.novella = Some(act.with(a, None));
                    }
                }
            }
        }
        self.emit_art(&ap, None, &[]);
        ap.end
    }

    fn at_anaphoric_article(&mut self, s: usize) -> usize {
        let Some(l) = len_at(&ANA_PREFIX, self.text, s) else {
            return s + 1;
        };
        let Some(ap) = self.parse_article_expr(s + l, true, None) else {
            return s + l;
        };
        self.emit_art(&ap, Some(s), &[]);
        ap.end
    }

    /// Detail-first references: "comma 2", "al comma 1, lettera a), dell'articolo 5 del ...",
    /// "lettera b) del comma 1", "commi da 2 a 5 del presente articolo", "n. 1 dell'articolo
    /// precedente" (number-first needs an article target).
    fn at_chain(&mut self, s: usize, numfirst: bool) -> usize {
        let text = self.text;
        let mut levels: Vec<(u8, Vec<String>)> = Vec::new();
        let Some((u, mut p)) = self.detail_unit(s, true) else {
            return s + 1;
        };
        if let Unit::Level(r, t) = u {
            levels.push((r, t));
        }
        let mut has_conn = false;
        let tp;
        loop {
            if levels.len() >= MAX_LEVELS {
                tp = p;
                break;
            }
            let q = p + len_at(&DETAIL_SEP, text, p).unwrap_or(0);
            if let Some((u, e)) = self.detail_unit(q, true) {
                if let Unit::Level(r, t) = u {
                    levels.push((r, t));
                }
                p = e;
                continue;
            }
            if let Some(l) = len_at(&CHAIN_CONN, text, p) {
                if let Some((u, e)) = self.detail_unit(p + l, true) {
                    if let Unit::Level(r, t) = u {
                        levels.push((r, t));
                    }
                    p = e;
                    continue;
                }
                has_conn = true;
                tp = p + l;
            } else {
                tp = q;
            }
            break;
        }
        let chain = combine(&levels);
        let informative = chain.iter().any(|a| !a.is_empty());

        // "del presente articolo", "del medesimo articolo 7", "dello stesso art. 13"
        if let Some(c) = caps_at(&PRES_ART, text, tp) {
            let adj = c
                .get(1)
                .map(|m| m.as_str().to_lowercase())
                .unwrap_or_default();
            let mut e = tp + c.get(0).map_or(0, |m| m.end());
            let target: Option<NormKey> = if adj == "presente" {
                match (self.ctx_act(), self.ctx_article()) {
                    (Some(act), Some(a)) => Some(act.with(&a, None)),
                    _ => None,
                }
            } else if let Some((a, ea, _)) = self.artnum(e + len_at(&WS, text, e).unwrap_or(0)) {
                e = ea;
                self.last_act(Filter::Any).map(|act| act.with(&a, None))
            } else {
                self.out
                    .iter()
                    .rev()
                    .take(ANAPHORA_WINDOW)
                    .find(|c| c.key.article.is_some())
                    .map(|c| c.key.with(c.key.article.as_deref().unwrap_or(""), None))
            };
            if let Some(t) = target {
                let art = t.article.clone().unwrap_or_default();
                for ch in &chain {
                    self.push(t.with(&art, detail_string(ch, &[])), s, e, true);
                }
            }
            return e;
        }
        if len_at(&ART_KW, text, tp).is_some() {
            if let Some(ap) = self.parse_article_expr(tp, false, None) {
                if !ap.items.is_empty() {
                    self.emit_art(&ap, Some(s), &chain);
                    return ap.end;
                }
            }
            return p;
        }
        if has_conn || numfirst || !informative {
            return p;
        }
        let target = self
            .novella
            .clone()
            .or_else(|| match (self.ctx_act(), self.ctx_article()) {
                (Some(act), Some(a)) => Some(act.with(&a, None)),
                _ => None,
            });
        if let Some(t) = target {
            let art = t.article.clone().unwrap_or_default();
            for ch in &chain {
                self.push(t.with(&art, detail_string(ch, &[])), s, p, true);
            }
        }
        p
    }

    /// An act named on its own ("legge 7 agosto 1990, n. 241", "codice civile"), possibly
    /// followed by its article ("L. n. 241/1990, art. 2").
    fn at_act(&mut self, s: usize) -> usize {
        let Some((res, e)) = self.parse_act(s, false) else {
            return s + 1;
        };
        let ActRes::Explicit(key) = res else {
            return e;
        };
        let q = e + len_at(&ACT_FIRST_SEP, self.text, e).unwrap_or(0);
        if len_at(&ART_KW, self.text, q).is_some() {
            if let Some(ap) = self.parse_article_expr(q, false, Some(&key)) {
                if ap.by_default && !ap.items.is_empty() {
                    self.emit_art(&ap, Some(s), &[]);
                    return ap.end;
                }
            }
        }
        let head = self.text.get(s..e).unwrap_or("").to_lowercase();
        let plural =
            head.starts_with("decreti") || head.starts_with("leggi") || head.starts_with("regi ");
        let mut e = e;
        if plural {
            // "decreti legislativi 14 settembre 2015, n. 149 e n. 150": same type (and date).
            let parts = split_act(&key);
            self.push(key, s, e, false);
            let Some((auth, ty, y, md)) = parts else {
                return e;
            };
            while let Some(l) = len_at(&CONT_SEP, self.text, e) {
                let q = e + l;
                if let Some((y2, md2, n, e2)) = self.act_id(q) {
                    self.push(make_act(&auth, &ty, y2, md2, Some(&n)), q, e2, false);
                    e = e2;
                } else if let Some(c) = caps_at(&NUM_ONLY, self.text, q) {
                    let Some(n) = c.get(1).and_then(|m| act_number(m.as_str())) else {
                        break;
                    };
                    let e2 = q + c.get(0).map_or(0, |m| m.end());
                    self.push(make_act(&auth, &ty, y, md, Some(&n)), q, e2, false);
                    e = e2;
                } else {
                    break;
                }
            }
            return e;
        }
        self.push(key, s, e, false);
        e
    }
}

/// (authority, type, year, month-day) of an act key.
fn split_act(k: &NormKey) -> Option<(String, String, u32, MonthDay)> {
    let mut it = k.act.split(':');
    let auth = it.nth(2)?.to_string();
    let ty = it.next()?.to_string();
    let y: u32 = it.next()?.split(';').next()?.parse().ok()?;
    let md = k.act_dated.as_deref().and_then(|d| {
        let date = d.split(':').nth(4)?.split(';').next()?;
        parse_date(date).and_then(|(_, md)| md)
    });
    Some((auth, ty, y, md))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use CitationOrigin::{Note, Text};

    const NONE: &str = "";
    const D231: &str = "/akn/it/act/decreto_legislativo/stato/2001-06-08/231/!main";
    const GELLI: &str = "/akn/it/act/legge/stato/2017-03-08/24/!main";
    const BIL2023: &str = "/akn/it/act/legge/stato/2022-12-29/197/!main";
    const CP: &str = "/akn/it/act/regioDecreto/stato/1930-10-19/1398/!main";

    struct Case {
        text: &'static str,
        /// (FRBRthis of the citing act or "", current article)
        ctx: (&'static str, Option<&'static str>),
        origin: CitationOrigin,
        /// ids in text order; " (rel)" marks a relative/anaphoric citation.
        expect: &'static [&'static str],
    }

    fn ctx_of(frbr: &str, article: Option<&str>) -> CitingContext {
        CitingContext::new(act_key_from_frbr(frbr), article)
    }

    fn ids(cits: &[Citation]) -> Vec<String> {
        cits.iter()
            .map(|c| {
                if c.relative {
                    format!("{} (rel)", c.key.id())
                } else {
                    c.key.id()
                }
            })
            .collect()
    }

    fn check_spans(text: &str, cits: &[Citation]) {
        for c in cits {
            assert!(c.start < c.end && c.end <= text.len(), "{c:?}");
            assert_eq!(&text[c.start..c.end], c.text);
            assert_eq!(c.text.trim(), c.text, "span with outer whitespace: {c:?}");
        }
    }

    /// Real sentences from the corpus (file and line in the comment); ids checked by hand.
    /// Files: /work/shared/corpus/jurisprudence/, /work/shared/corpus/doctrine/,
    /// fixtures/norm/ (paragraph text of the Akoma Ntoso line, tags stripped).
    #[rustfmt::skip]
    const CORPUS: &[Case] = &[
        // cass_snciv2025530039O.txt line 30-31
        Case {
            text: "letta la memoria illustrativa depositata nell’interesse del ricorrente, ai\nsensi dell’art. 380-bis.1. c.p.c.;",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art380bis.1"],
        },
        // cass_snciv2025530039O.txt line 89-92
        Case {
            text: "1.- Con il primo motivo, il ricorrente denuncia, ai sensi dell’art. 360,\ncomma 1, n. 4), c.p.c., la nullità della sentenza impugnata, per la sua\nmotivazione apparente, deducendo la violazione dell’art. 36 del d.lgs. n.\n546 del 1992 e dell’art. 112 c.p.c.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num4", "urn:nir:stato:decreto.legislativo:1992;546~art36", "urn:nir:stato:regio.decreto:1940;1443~art112"],
        },
        // cass_snciv2025530039O.txt line 122-125
        Case {
            text: "ed effettiva sia dal punto di vista grafico che contenutistico (Cass. civ.,\nSez. U., sentenza n. 8053 del 7 aprile 2014, Rv. 629830-01), ponendosi\nsenz’altro in linea con il minimo costituzionale di cui all’art. 111, comma\n6, Cost.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:costituzione:1947~art111-com6"],
        },
        // cass_snciv2025530039O.txt line 127-130
        Case {
            text: "quale «La riformulazione dell'art. 360, primo comma, n. 5, cod. proc. civ.,\ndisposta dall'art. 54 del d.l. 22 giugno 2012, n. 83, conv. in legge 7 agosto\n2012, n. 134, deve essere interpretata, alla luce dei canoni ermeneutici\ndettati dall'art. 12 delle preleggi, come riduzione al \"minimo",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num5", "urn:nir:stato:decreto.legge:2012;83~art54", "urn:nir:stato:legge:2012;134"],
        },
        // cass_snciv2025530039O.txt line 150-155
        Case {
            text: "3.- Con il secondo motivo, il ricorrente denuncia, ai sensi dell’art. 360,\ncomma 1, n. 5), c.p.c., la «motivazione insufficiente» in ordine ad un fatto\ndecisivo costituito dalle ragioni che il contribuente aveva trasmesso\nall'amministrazione finanziaria ottemperando all'invito al contraddittorio e\nla violazione degli artt. 62-bis e 62-sexies d.l. n. 331 del 1993 (conv. con\nmodif. dalla l. n. 427 del 1993).",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num5", "urn:nir:stato:decreto.legge:1993;331~art62bis", "urn:nir:stato:decreto.legge:1993;331~art62sexies", "urn:nir:stato:legge:1993;427"],
        },
        // cass_snciv2025530039O.txt line 181-183
        Case {
            text: "La motivazione dell’atto impositivo sarebbe dunque insufficiente in\nquanto, in netta violazione dell’art. 62-sexies d.l. n. 331 del 1993 e\ndell’art. 39 d.P.R. n. 600 del 1973, sarebbe stato tralasciato di chiarire se",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.legge:1993;331~art62sexies", "urn:nir:stato:decreto.del.presidente.della.repubblica:1973;600~art39"],
        },
        // cass_snciv2025530039O.txt line 196-198
        Case {
            text: "denunciato ai sensi dell’art. 360, comma 1, n. 5), c.p.c., trattandosi di\ncensura formulata in violazione del disposto di cui all’art. 348-ter c.p.c.,\nora art. 360, comma 4, c.p.c., vertendosi, nella specie, in ipotesi di doppia",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num5", "urn:nir:stato:regio.decreto:1940;1443~art348ter", "urn:nir:stato:regio.decreto:1940;1443~art360-com4"],
        },
        // cass_snciv2025530039O.txt line 221-222
        Case {
            text: "base al quale «Le espressioni violazione o falsa applicazione di legge, di\ncui all’art. 360, comma 1, n. 3 c.p.c., descrivono i due momenti in cui si",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num3"],
        },
        // cass_snciv2025530039O.txt line 288-290
        Case {
            text: "5.- Con il terzo motivo, il ricorrente denuncia, ai sensi dell’art. 360,\ncomma 1, n. 3), c.p.c., la violazione e falsa applicazione dell’art. 10 l. n.\n212 del 2000.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num3", "urn:nir:stato:legge:2000;212~art10"],
        },
        // cass_snciv2025530039O.txt line 299-301
        Case {
            text: "6.- Con il quarto motivo, il ricorrente denuncia, ai sensi dell’art. 360,\ncomma 1, n. 3), c.p.c., la violazione e falsa applicazione dell’art. 17,\ncomma 6, d.P.R. n. 633 del 1972.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num3", "urn:nir:stato:decreto.del.presidente.della.repubblica:1972;633~art17-com6"],
        },
        // cass_snciv2025530039O.txt line 331-333
        Case {
            text: "8.- Con il quinto (e ultimo) motivo, il ricorrente denuncia, ai sensi\ndell’art. 360, comma 1, n. 3), c.p.c., violazione e falsa applicazione degli\nartt. 23, 35 e 53 Cost.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com1-num3", "urn:nir:stato:costituzione:1947~art23", "urn:nir:stato:costituzione:1947~art35", "urn:nir:stato:costituzione:1947~art53"],
        },
        // cass_snciv2025530039O.txt line 380-383
        Case {
            text: "11.- Sussistono i presupposti processuali per il versamento - ai sensi\ndell’art. 13, comma 1-quater, del d.P.R. 30 maggio 2002, n. 115 -, da\nparte del ricorrente, di un ulteriore importo a titolo di contributo unificato\npari a quello previsto per l’impugnazione, se dovuto.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:2002;115~art13-com1quater"],
        },
        // cass_snciv2025530039O.txt line 390-394
        Case {
            text: "Ai sensi dell’art. 13, comma 1-quater, del d.P.R. n. 115 del 2002, dà\natto della sussistenza dei presupposti processuali per il versamento, da\nparte del ricorrente, di un ulteriore importo a titolo di contributo unificato\npari a quello previsto per il ricorso a norma del comma 1-bis dello stesso\nart. 13, se dovuto.",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:2002;115~art13-com1quater", "urn:nir:stato:decreto.del.presidente.della.repubblica:2002;115~art13-com1bis (rel)"],
        },
        // cass_snciv2025530039O.txt line 8 (negative: register numbers "n. 12952/2018 R.G.", dates alone)
        Case {
            text: "Registro: n. 12952/2018 R.G. | Cron. | Rep. | A.C. 8 luglio 2025",
            ctx: (NONE, None),
            origin: Text,
            expect: &[],
        },
        // cass_snciv2025530039O.txt line 21 (negative: street number "n. 12")
        Case {
            text: "Via dei Portoghesi n. 12, con domicilio digitale in atti;",
            ctx: (NONE, None),
            origin: Text,
            expect: &[],
        },
        // cass_snciv2025530039O.txt line 23-24 (negative: decision number "n. 1528/02/2017", date alone)
        Case {
            text: "avverso la sentenza della Commissione Tributaria Regionale del\nPiemonte n. 1528/02/2017, pubblicata il 30 ottobre 2017;",
            ctx: (NONE, None),
            origin: Text,
            expect: &[],
        },
        // cass_snciv2025530039O.txt line 144-149 (negative: case-law citations "sentenza n. 8053 del 7 aprile 2014", "Rv. 629830-01")
        Case {
            text: "rilevanza del semplice difetto di \"sufficienza\" della motivazione» (Cass.\nciv., Sez. U., sentenza n. 8053 del 7 aprile 2014, Rv. 629830-01, cui\nhanno fatto seguito numerose pronunce conformi delle sezioni ordinarie,\ntra cui Cass. civ., Sez. 1, ordinanza n. 7090 del 3 marzo 2022, Rv.\n664120-01, nonché Cass. civ., Sez. T, ordinanza n. 6986 del 9 marzo\n2023, Rv. 667340-01, in motivazione).",
            ctx: (NONE, None),
            origin: Text,
            expect: &[],
        },
        // cass_snciv2025530039O.txt line 240-244 (negative: article without act and no citing context)
        Case {
            text: "rientra nell’ambito applicativo dell’art. 360, comma 1, n. 3, l’allegazione\ndi un’erronea ricognizione della fattispecie concreta a mezzo delle\nrisultanze di causa che è, invece, esterna all’esatta interpretazione della\nnorma e inerisce alla tipica valutazione del giudice di merito, sottratta\nperciò al sindacato di legittimità.» (Cass. civ., Sez. 1, ordinanza n. 640",
            ctx: (NONE, None),
            origin: Text,
            expect: &[],
        },
        // cass_snciv2025530039O.txt line 386-389 (negative: amount in euro "€. 5.900,00")
        Case {
            text: "Rigetta il ricorso e condanna il ricorrente al pagamento, in favore della\ncontroricorrente, delle spese del presente giudizio di legittimità, che si\nliquidano in complessivi €. 5.900,00 (euro cinquemilanovecento/00), oltre\nspese prenotate a debito.",
            ctx: (NONE, None),
            origin: Text,
            expect: &[],
        },
        // tesi_piras_01-prova-scientifica.md line 21
        Case {
            text: "Ad esempio, si consideri come l'uso di firme elettroniche fanno fede fino a prova contraria (art. 20 co. 1-ter CAD).",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.legislativo:2005;82~art20-com1ter"],
        },
        // tesi_piras_01-prova-scientifica.md line 21
        Case {
            text: "(ad esempio, la PG deve assicurare le fonti di prova; art. 55 co. 1 c.p.p.)",
            ctx: (NONE, None),
            origin: Note,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art55-com1"],
        },
        // tesi_piras_01-prova-scientifica.md line 33
        Case {
            text: "^[La Legge 23 dicembre 1993, n. 547",
            ctx: (NONE, None),
            origin: Note,
            expect: &["urn:nir:stato:legge:1993;547"],
        },
        // tesi_piras_01-prova-scientifica.md line 37
        Case {
            text: "nel danneggiamento di informazioni, dati e programmi informatici (art. 635-*bis* c.p.) l'unico bene protetto sono i dati in sé, mentre nella frode informatica (art. 640-*ter* c.p.) si protegge sia",
            ctx: (NONE, None),
            origin: Note,
            expect: &["urn:nir:stato:regio.decreto:1930;1398~art635bis", "urn:nir:stato:regio.decreto:1930;1398~art640ter"],
        },
        // tesi_piras_01-prova-scientifica.md line 51
        Case {
            text: "Un intero articolo è dedicato agli atti preliminari, si prevede l'esecuzione e la menzione di questi adempimenti nel verbale a pena di nullità, e gli articoli successivi regolano lo svolgimento, e altri tipi di ricognizione (artt. 213--216 c.p.p.).",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art213", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art214", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art215", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art216"],
        },
        // tesi_piras_01-prova-scientifica.md line 55 (negative: articles without act in a footnote, no citing context)
        Case {
            text: "^[Le modifiche riguardano le ispezioni (art. 244), perquisizioni (art. 247), il sequestro di corrispondenza (art. 254 e 254-bis), la custodia delle cose sequestrate (art. 259), le perquisizioni in caso di flagranza o evasione (art. 352) e gli accertamenti urgenti (art. 354).",
            ctx: (NONE, None),
            origin: Note,
            expect: &[],
        },
        // tesi_piras_01-prova-scientifica.md line 138
        Case {
            text: "l'obbligo di motivazione delle decisioni del giudice (art. 116 co. 6 Cost., art. 546 co. 1 lett. *e* c.p.p.).",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:costituzione:1947~art116-com6", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art546-com1-lete"],
        },
        // tesi_piras_01-prova-scientifica.md line 145
        Case {
            text: "l'ispezione (art. 244 co. 2 c.p.p.) o perquisizione (art. 247 co. 1-*bis* c.p.p.) di un sistema informatico,",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art244-com2", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art247-com1bis"],
        },
        // tesi_piras_01-prova-scientifica.md line 146
        Case {
            text: "come irripetibili perché i dati informatici possono essere \"soggett[i] a modificazione\" (art. 360 c.p.p.) o perché l'accertamento potrebbe \"determina[re] modificazioni delle cose\" (art. 127 disp. att. c.p.p.).",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art360", "urn:nir:stato:decreto.legislativo:1989;271~art127"],
        },
        // tesi_piras_01-prova-scientifica.md line 146
        Case {
            text: "i risultati dell'accertamento sono inutilizzabili (art. 360 co. 4 e 5 c.p.c).",
            ctx: (NONE, None),
            origin: Note,
            expect: &["urn:nir:stato:regio.decreto:1940;1443~art360-com4", "urn:nir:stato:regio.decreto:1940;1443~art360-com5"],
        },
        // tesi_piras_01-prova-scientifica.md line 148
        Case {
            text: "potranno presentare il loro parere anche con memorie (art. 233 co. 1--1-*ter* c.p.p.).",
            ctx: (NONE, None),
            origin: Note,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art233-com1", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art233-com1ter"],
        },
        // it_normattiva_dlgs_231_2001.xml line 245
        Case {
            text: "In relazione alla commissione di taluno dei delitti di cui agli articoli 416, sesto comma, 416-bis, 416-ter e 630 del codice penale, ai delitti commessi avvalendosi delle condizioni previste dal predetto articolo 416-bis ovvero al fine di agevolare l'attivita' delle associazioni previste dallo stesso articolo, nonche' ai delitti previsti dall'articolo 74 del testo unico di cui al decreto del Presidente della Repubblica 9 ottobre 1990, n. 309, si applica la sanzione pecuniaria da quattrocento a mille quote.",
            ctx: (D231, Some("24-ter")),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1930;1398~art416-com6", "urn:nir:stato:regio.decreto:1930;1398~art416bis", "urn:nir:stato:regio.decreto:1930;1398~art416ter", "urn:nir:stato:regio.decreto:1930;1398~art630", "urn:nir:stato:regio.decreto:1930;1398~art416bis (rel)", "urn:nir:stato:decreto.del.presidente.della.repubblica:1990;309~art74"],
        },
        // it_normattiva_dlgs_231_2001.xml line 246
        Case {
            text: "ovvero di cui all'articolo 407, comma 2, lettera a), numero 5), del codice di procedura penale, si applica la sanzione pecuniaria da trecento a ottocento quote.",
            ctx: (D231, Some("24-ter")),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art407-com2-leta-num5"],
        },
        // it_normattiva_dlgs_231_2001.xml line 316
        Case {
            text: "Nel caso di condanna per i delitti di cui alla lettera b) del comma 1 si applicano all'ente le sanzioni interdittive previste dall'articolo 9, comma 2",
            ctx: (D231, Some("25-bis.1")),
            origin: Text,
            expect: &["urn:nir:stato:decreto.legislativo:2001;231~art25bis.1-com1-letb (rel)", "urn:nir:stato:decreto.legislativo:2001;231~art9-com2 (rel)"],
        },
        // it_normattiva_dlgs_231_2001.xml line 467
        Case {
            text: "((per la violazione degli articoli 275-bis, primo, secondo, e quinto comma, e 275-quater, primo comma, del codice penale, nonche' dell'articolo 12, comma 1-bis, del decreto legislativo 25 luglio 1998, n. 286, la sanzione pecuniaria della percentuale dall'1 per cento al 5 per cento del fatturato globale dell'ente nell'esercizio finanziario precedente quello in cui e' stato commesso il reato o, se inferiore, nell'esercizio finanziario precedente l'applicazione della sanzione pecuniaria;))",
            ctx: (D231, Some("25-octies.2")),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1930;1398~art275bis-com1", "urn:nir:stato:regio.decreto:1930;1398~art275bis-com2", "urn:nir:stato:regio.decreto:1930;1398~art275bis-com5", "urn:nir:stato:regio.decreto:1930;1398~art275quater-com1", "urn:nir:stato:decreto.legislativo:1998;286~art12-com1bis"],
        },
        // it_normattiva_dlgs_231_2001.xml line 539
        Case {
            text: "((dell'articolo 16, comma 3, del presente decreto))",
            ctx: (D231, Some("16")),
            origin: Text,
            expect: &["urn:nir:stato:decreto.legislativo:2001;231~art16-com3 (rel)"],
        },
        // it_normattiva_dlgs_231_2001.xml line 663
        Case {
            text: "((Nel caso di condanna o di applicazione della pena su richiesta delle parti, a norma dell'articolo 444 del codice di procedura penale, o di decreto penale di condanna, ai sensi dell'articolo 459 del codice di procedura penale, per i delitti di cui al comma 1 del presente articolo, si applicano all'ente le sanzioni interdittive previste dall'articolo 9, comma 2, del presente decreto per una durata non superiore a due anni.))",
            ctx: (D231, Some("25-undevicies")),
            origin: Text,
            expect: &["urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art444", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art459", "urn:nir:stato:decreto.legislativo:2001;231~art25undevicies-com1 (rel)", "urn:nir:stato:decreto.legislativo:2001;231~art9-com2 (rel)"],
        },
        // it_normattiva_dlgs_231_2001.xml line 1053
        Case {
            text: "Il cittadino o lo straniero che commette in territorio estero un delitto politico non compreso tra quelli indicati nel n. 1 dell'articolo precedente, e' punito secondo la legge italiana, a richiesta del Ministro della giustizia.",
            ctx: (CP, Some("8")),
            origin: Note,
            expect: &["urn:nir:stato:regio.decreto:1930;1398~art7-num1 (rel)"],
        },
        // it_normattiva_dlgs_231_2001.xml line 1046-1047 (quoted heading "Art. 7 (...)" resolves to the citing code)
        Case {
            text: "- Si riporta il testo degli articoli 7, 8, 9 e 10 del codice penale:\n\"Art. 7 (Reati commessi all'estero). - E' punito secondo la legge italiana il cittadino o lo straniero che commette in territorio estero taluno dei seguenti reati:",
            ctx: (CP, Some("7")),
            origin: Note,
            expect: &["urn:nir:stato:regio.decreto:1930;1398~art7", "urn:nir:stato:regio.decreto:1930;1398~art8", "urn:nir:stato:regio.decreto:1930;1398~art9", "urn:nir:stato:regio.decreto:1930;1398~art10", "urn:nir:stato:regio.decreto:1930;1398~art7 (rel)"],
        },
        // it_normattiva_legge_gelli_bianco.xml line 523
        Case {
            text: "All'articolo 3 del decreto-legge 13 settembre 2012, n. 158, convertito, con modificazioni, dalla legge 8 novembre 2012, n. 189, il comma 1 e' abrogato.",
            ctx: (GELLI, Some("11")),
            origin: Text,
            expect: &["urn:nir:stato:decreto.legge:2012;158~art3", "urn:nir:stato:legge:2012;189", "urn:nir:stato:decreto.legge:2012;158~art3-com1 (rel)"],
        },
        // it_normattiva_legge_gelli_bianco.xml line 716
        Case {
            text: "In caso di accoglimento della domanda di risarcimento proposta dal danneggiato nei confronti della struttura sanitaria o sociosanitaria pubblica, ai sensi dei commi 1 e 2 dell'articolo 7, o dell'esercente la professione sanitaria, ai sensi del comma 3 del medesimo articolo 7, l'azione di responsabilita' amministrativa",
            ctx: (GELLI, Some("9")),
            origin: Text,
            expect: &["urn:nir:stato:legge:2017;24~art7-com1 (rel)", "urn:nir:stato:legge:2017;24~art7-com2 (rel)", "urn:nir:stato:legge:2017;24~art7-com3 (rel)"],
        },
        // it_normattiva_legge_bilancio_2023.xml line 509
        Case {
            text: "I crediti d'imposta di cui ai commi da 2 a 5 del presente articolo sono utilizzabili esclusivamente in compensazione ai sensi dell'articolo 17 del decreto legislativo 9 luglio 1997, n. 241, entro la data del 16 novembre 2023. Non si applicano i limiti di cui all'articolo 1, comma 53, della legge 24 dicembre 2007, n. 244, e all'articolo 34 della legge 23 dicembre 2000, n. 388. I crediti d'imposta non concorrono alla formazione del reddito d'impresa ne' della base imponibile dell'imposta regionale sulle attivita' produttive e non rilevano ai fini del rapporto di cui agli articoli 61 e 109, comma 5, del testo unico delle imposte sui redditi, di cui al decreto del Presidente della Repubblica 22 dicembre 1986, n. 917.",
            ctx: (BIL2023, Some("1")),
            origin: Text,
            expect: &["urn:nir:stato:legge:2022;197~art1-com2 (rel)", "urn:nir:stato:legge:2022;197~art1-com3 (rel)", "urn:nir:stato:legge:2022;197~art1-com4 (rel)", "urn:nir:stato:legge:2022;197~art1-com5 (rel)", "urn:nir:stato:decreto.legislativo:1997;241~art17", "urn:nir:stato:legge:2007;244~art1-com53", "urn:nir:stato:legge:2000;388~art34", "urn:nir:stato:decreto.del.presidente.della.repubblica:1986;917~art61", "urn:nir:stato:decreto.del.presidente.della.repubblica:1986;917~art109-com5", "urn:nir:stato:decreto.del.presidente.della.repubblica:1986;917"],
        },
        // it_normattiva_legge_bilancio_2023.xml line 519
        Case {
            text: "quelle dell'articolo 121, commi da 4 a 6, del citato decreto-legge n. 34 del 2020.",
            ctx: (BIL2023, Some("1")),
            origin: Text,
            expect: &["urn:nir:stato:decreto.legge:2020;34~art121-com4", "urn:nir:stato:decreto.legge:2020;34~art121-com5", "urn:nir:stato:decreto.legge:2020;34~art121-com6"],
        },
        // it_normattiva_legge_bilancio_2023.xml line 571
        Case {
            text: "Per le finalita' di cui al comma 11, un importo pari a 963 milioni di euro per l'anno 2023 e' trasferito alla Cassa per i servizi energetici e ambientali entro il 28 febbraio 2023.",
            ctx: (BIL2023, Some("1")),
            origin: Text,
            expect: &["urn:nir:stato:legge:2022;197~art1-com11 (rel)"],
        },
        // it_normattiva_legge_bilancio_2023.xml line 492 (negative: percentage "45 per cento")
        Case {
            text: "un contributo straordinario, sotto forma di credito d'imposta, pari al 45 per cento della spesa",
            ctx: (BIL2023, Some("1")),
            origin: Text,
            expect: &[],
        },
        // it_normattiva_legge_bilancio_2023.xml line 136
        Case {
            text: "nel modificare l'art. 35, commi 2 e 3 del D.Lgs. 10 ottobre 2022, n. 149 (in S.O. n. 38, relativo alla G.U. 17/10/2022, n. 243)",
            ctx: (BIL2023, Some("1")),
            origin: Note,
            expect: &["urn:nir:stato:decreto.legislativo:2022;149~art35-com2", "urn:nir:stato:decreto.legislativo:2022;149~art35-com3"],
        },
        // it_normattiva_dlgs_82_2005_CAD.xml line 2956
        Case {
            text: "Visti gli articoli 76, 87 e 117, secondo comma, lettera r), della Costituzione;",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:costituzione:1947~art76", "urn:nir:stato:costituzione:1947~art87", "urn:nir:stato:costituzione:1947~art117-com2-letr"],
        },
        // it_normattiva_dlgs_82_2005_CAD.xml line 4245
        Case {
            text: "In attuazione del disposto dell'articolo 117, secondo comma, lettera r), della Costituzione, lo Stato disciplina",
            ctx: (NONE, None),
            origin: Text,
            expect: &["urn:nir:stato:costituzione:1947~art117-com2-letr"],
        },
        // it_normattiva_codice_penale.xml line 12564
        Case {
            text: "Ai fini dell'applicazione del primo comma non si tiene conto dei criteri di cui all'articolo 133, primo comma, numero 3), e secondo comma, nei casi previsti dall'articolo 99, quarto comma, in relazione ai delitti previsti dall'articolo 407, comma 2, lettera a), del codice di procedura penale, nel caso in cui siano puniti con la pena della reclusione non inferiore nel minimo a cinque anni.",
            ctx: (CP, Some("62-bis")),
            origin: Text,
            expect: &["urn:nir:stato:regio.decreto:1930;1398~art62bis-com1 (rel)", "urn:nir:stato:regio.decreto:1930;1398~art133-com1-num3 (rel)", "urn:nir:stato:regio.decreto:1930;1398~art133-com2 (rel)", "urn:nir:stato:regio.decreto:1930;1398~art99-com4 (rel)", "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447~art407-com2-leta"],
        },
    ];

    #[test]
    fn corpus_sentences() {
        assert!(CORPUS.len() >= 30);
        for case in CORPUS {
            let ctx = ctx_of(case.ctx.0, case.ctx.1);
            let cits = extract(case.text, &ctx, case.origin);
            check_spans(case.text, &cits);
            assert!(cits.iter().all(|c| c.origin == case.origin));
            assert_eq!(ids(&cits), case.expect, "text: {}", case.text);
        }
    }

    fn one(text: &str, ctx: &CitingContext) -> NormKey {
        let cits = extract(text, ctx, Text);
        assert_eq!(cits.len(), 1, "{text}: {cits:?}");
        cits[0].key.clone()
    }

    fn key(act: &str, dated: Option<&str>, article: Option<&str>, detail: Option<&str>) -> NormKey {
        NormKey {
            act: act.to_string(),
            act_dated: dated.map(str::to_string),
            article: article.map(str::to_string),
            detail: detail.map(str::to_string),
        }
    }

    const RD_CC: &str = "urn:nir:stato:regio.decreto:1942;262";
    const RD_CC_DATED: &str = "urn:nir:stato:regio.decreto:1942-03-16;262";
    const RD_CPC: &str = "urn:nir:stato:regio.decreto:1940;1443";
    const RD_CPC_DATED: &str = "urn:nir:stato:regio.decreto:1940-10-28;1443";
    const DPR_CPP: &str = "urn:nir:stato:decreto.del.presidente.della.repubblica:1988;447";
    const COST: &str = "urn:nir:stato:costituzione:1947";
    const COST_DATED: &str = "urn:nir:stato:costituzione:1947-12-27";

    #[test]
    fn brief_examples() {
        let none = CitingContext::default();
        assert_eq!(
            one("art. 2043 c.c.", &none),
            key(RD_CC, Some(RD_CC_DATED), Some("2043"), None)
        );
        let cits = extract("artt. 1 e 2 c.p.p.", &none, Text);
        assert_eq!(
            ids(&cits),
            [format!("{DPR_CPP}~art1"), format!("{DPR_CPP}~art2")]
        );
        assert_eq!(
            one("art. 360, comma 1, n. 3, c.p.c.", &none),
            key(RD_CPC, Some(RD_CPC_DATED), Some("360"), Some("com1-num3"))
        );
        assert_eq!(
            one("art. 360, comma 1, n. 3, c.p.c.", &none).id(),
            "urn:nir:stato:regio.decreto:1940;1443~art360-com1-num3"
        );
        assert_eq!(
            one("legge 7 agosto 1990, n. 241", &none),
            key(
                "urn:nir:stato:legge:1990;241",
                Some("urn:nir:stato:legge:1990-08-07;241"),
                None,
                None
            )
        );
        assert_eq!(
            one("L. n. 197/2022", &none),
            key("urn:nir:stato:legge:2022;197", None, None, None)
        );
        assert_eq!(
            one("d.P.R. 445/2000", &none).id(),
            "urn:nir:stato:decreto.del.presidente.della.repubblica:2000;445"
        );
        assert_eq!(
            one("DPR n. 600 del 1973", &none).id(),
            "urn:nir:stato:decreto.del.presidente.della.repubblica:1973;600"
        );
        assert_eq!(
            one("art. 117, secondo comma, lettera r), Cost.", &none),
            key(COST, Some(COST_DATED), Some("117"), Some("com2-letr"))
        );
        assert_eq!(
            one("d.lgs. n. 231/2001", &none).id(),
            "urn:nir:stato:decreto.legislativo:2001;231"
        );
        assert_eq!(
            one("art. 2-bis della legge n. 241 del 1990", &none).id(),
            "urn:nir:stato:legge:1990;241~art2bis"
        );
        let cits = extract("artt. 1, 2 e 3 c.p.p.", &none, Text);
        assert_eq!(cits.len(), 3);
        assert_eq!(cits[2].key.article.as_deref(), Some("3"));
    }

    #[test]
    fn type_spellings() {
        for s in [
            "decretoLegislativo",
            "decreto_legislativo",
            "DECRETO_LEGISLATIVO",
            "d.lgs.",
            "D.Lgs.",
            "decreto legislativo",
            "decreto.legislativo",
            "D. Lgs.",
            "dlgs",
        ] {
            assert_eq!(normalize_type(s), Some("decreto.legislativo"), "{s}");
        }
        for (s, t) in [
            ("legge", "legge"),
            ("LEGGE", "legge"),
            ("L.", "legge"),
            ("decretoLegge", "decreto.legge"),
            ("DECRETO-LEGGE", "decreto.legge"),
            ("d.l.", "decreto.legge"),
            ("decretoDelPresidenteDellaRepubblica", DPR),
            ("DECRETO_DEL_PRESIDENTE_DELLA_REPUBBLICA", DPR),
            ("d.P.R.", DPR),
            ("DPR", DPR),
            ("regioDecreto", "regio.decreto"),
            ("REGIO_DECRETO", "regio.decreto"),
            ("R.D.", "regio.decreto"),
            ("regio.decreto.legge", "regio.decreto.legge"),
            ("legge costituzionale", "legge.costituzionale"),
            ("legge.costituzionale", "legge.costituzionale"),
            ("costituzione", "costituzione"),
            ("Cost.", "costituzione"),
            (
                "decreto.legislativo.luogotenenziale",
                "decreto.legislativo.luogotenenziale",
            ),
            (
                "DECRETO_LEGISLATIVO_DEL_CAPO_PROVVISORIO_DELLO_STATO",
                DLCPS,
            ),
        ] {
            assert_eq!(normalize_type(s), Some(t), "{s}");
        }
        assert_eq!(normalize_type("direttivaUe"), None);
        assert_eq!(normalize_type("codice.civile"), None);
        assert_eq!(normalize_type(""), None);
        // text spellings produce the same key
        let none = CitingContext::default();
        for t in [
            "d.lgs. 8 giugno 2001, n. 231",
            "D.Lgs. 8 giugno 2001, n. 231",
            "decreto legislativo 8 giugno 2001, n. 231",
            "D. Lgs. n. 231/2001",
            "d.lgs. 231/01",
            "decreto legislativo n. 231 del 2001",
            "d.lgs. n. 231 dell'8 giugno 2001",
        ] {
            assert_eq!(
                one(t, &none).act,
                "urn:nir:stato:decreto.legislativo:2001;231",
                "{t}"
            );
        }
        assert_eq!(
            one("D.Lgs. 8 giugno 2001, n. 231", &none)
                .act_dated
                .as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2001-06-08;231")
        );
    }

    #[test]
    fn code_aliases() {
        assert_eq!(code_key("c.c.").map(|k| k.act), Some(RD_CC.to_string()));
        assert_eq!(
            code_key("codice.civile").map(|k| k.act),
            Some(RD_CC.to_string())
        );
        assert_eq!(
            code_key("c.p.").map(|k| k.act).as_deref(),
            Some("urn:nir:stato:regio.decreto:1930;1398")
        );
        assert_eq!(code_key("c.p.c.").map(|k| k.act), Some(RD_CPC.to_string()));
        assert_eq!(code_key("c.p.p.").map(|k| k.act), Some(DPR_CPP.to_string()));
        assert_eq!(code_key("Cost.").map(|k| k.act), Some(COST.to_string()));
        assert_eq!(
            code_key("codice.procedura.penale").map(|k| k.act),
            Some(DPR_CPP.to_string())
        );
        assert_eq!(code_key("nonsense"), None);
        let none = CitingContext::default();
        for (t, act) in [
            ("art. 2043 cod. civ.", RD_CC),
            ("art. 2043 del codice civile", RD_CC),
            ("art. 360 cod. proc. civ.", RD_CPC),
            ("art. 360 del codice di procedura civile", RD_CPC),
            ("art. 55 cod. proc. pen.", DPR_CPP),
            ("art. 3 della Costituzione", COST),
            ("art. 3 Cost.", COST),
            (
                "art. 127 disp. att. c.p.p.",
                "urn:nir:stato:decreto.legislativo:1989;271",
            ),
            (
                "art. 118 disp. att. c.p.c.",
                "urn:nir:stato:regio.decreto:1941;1368",
            ),
            ("art. 20 CAD", "urn:nir:stato:decreto.legislativo:2005;82"),
            ("art. 67 l. fall.", "urn:nir:stato:regio.decreto:1942;267"),
        ] {
            assert_eq!(one(t, &none).act, act, "{t}");
        }
        // a lone abbreviation is not a citation, the full name is
        assert!(extract("il c.c. prevede", &none, Text).is_empty());
        assert_eq!(one("secondo il codice civile", &none).id(), RD_CC);
        // "costituzione di parte civile" is not the Constitution
        assert!(extract("la costituzione di parte civile", &none, Text).is_empty());
    }

    #[test]
    fn key_forms() {
        let k = key(
            "urn:nir:stato:legge:1990;241",
            Some("urn:nir:stato:legge:1990-08-07;241"),
            Some("2bis"),
            Some("com1-leta"),
        );
        assert_eq!(k.id(), "urn:nir:stato:legge:1990;241~art2bis-com1-leta");
        assert_eq!(k.article_id(), "urn:nir:stato:legge:1990;241~art2bis");
        assert_eq!(
            k.dated_id().as_deref(),
            Some("urn:nir:stato:legge:1990-08-07;241~art2bis-com1-leta")
        );
        assert_eq!(k.act_key().id(), "urn:nir:stato:legge:1990;241");
        assert_eq!(k.act_type(), Some("legge"));
        // detail is meaningless without an article
        let k = key("urn:nir:stato:legge:1990;241", None, None, Some("com1"));
        assert_eq!(k.id(), "urn:nir:stato:legge:1990;241");
    }

    #[test]
    fn akn_hrefs() {
        // the example of the requirement
        let k = key_from_href("/akn/it/act/decretoLegislativo/stato/2001-06-08/231/!main#art_5")
            .unwrap();
        assert_eq!(
            k,
            key(
                "urn:nir:stato:decreto.legislativo:2001;231",
                Some("urn:nir:stato:decreto.legislativo:2001-06-08;231"),
                Some("5"),
                None
            )
        );
        // fixtures/norm/it_normattiva_legge_gelli_bianco.xml line 326
        let k = key_from_href("/akn/it/act/legge/stato/2015-12-28/208/!main#art_1-com539").unwrap();
        assert_eq!(k.id(), "urn:nir:stato:legge:2015;208~art1-com539");
        assert_eq!(k.article.as_deref(), Some("1"));
        assert_eq!(k.detail.as_deref(), Some("com539"));
        // fixtures/norm/it_normattiva_codice_penale.xml line 12564 (issuer presidente.repubblica)
        let k = key_from_href(
            "/akn/it/act/codice.procedura.penale/presidente.repubblica/1988-09-22/447/!main#art_407-com2-leta",
        )
        .unwrap();
        assert_eq!(k.id(), format!("{DPR_CPP}~art407-com2-leta"));
        assert_eq!(
            k.act_dated.as_deref(),
            Some("urn:nir:stato:decreto.del.presidente.della.repubblica:1988-09-22;447")
        );
        // fixtures/norm/it_normattiva_codice_penale.xml line 10930
        let k = key_from_href("/akn/it/act/codice.civile/stato/1942-03-16/262/!main").unwrap();
        assert_eq!(k, key(RD_CC, Some(RD_CC_DATED), None, None));
        // fixtures/norm/it_normattiva_dlgs_82_2005_CAD.xml line 4245
        let k = key_from_href(
            "/akn/it/act/costituzione/stato/1947-12-27/const/!main#art_117-com2-letr",
        )
        .unwrap();
        assert_eq!(
            k,
            key(COST, Some(COST_DATED), Some("117"), Some("com2-letr"))
        );
        // the same article from text and markup: same id
        let none = CitingContext::default();
        assert_eq!(
            one(
                "In attuazione del disposto dell'articolo 117, secondo comma, lettera r), della Costituzione",
                &none
            )
            .id(),
            k.id()
        );
        // fixtures/norm/it_normattiva_codice_penale.xml lines 8590, 8501, 9484, 8484, 18701
        for (href, id) in [
            ("/akn/it/act/DECRETO_LEGISLATIVO/stato/1989-07-28/271/!main", "urn:nir:stato:decreto.legislativo:1989;271"),
            ("/akn/it/act/DECRETO-LEGGE/stato/1961-06-24/510/!main", "urn:nir:stato:decreto.legge:1961;510"),
            (
                "/akn/it/act/decreto.legislativo.luogotenenziale/stato/1944-08-10/224/!main",
                "urn:nir:stato:decreto.legislativo.luogotenenziale:1944;224",
            ),
            (
                "/akn/it/act/DECRETO_LEGISLATIVO_DEL_CAPO_PROVVISORIO_DELLO_STATO/stato/1946-11-20/340/!main",
                "urn:nir:stato:decreto.legislativo.del.capo.provvisorio.dello.stato:1946;340",
            ),
            (
                "/akn/it/act/decreto.legislativo/capo.provvisorio.stato/1946-12-11/653/!main",
                "urn:nir:stato:decreto.legislativo.del.capo.provvisorio.dello.stato:1946;653",
            ),
            // fixtures/norm/it_normattiva_legge_bilancio_2023.xml line 5558 (ministerial decree)
            (
                "/akn/it/act/decreto/ministero.sanita/1989-07-20/298/!main",
                "urn:nir:ministero.sanita:decreto:1989;298",
            ),
        ] {
            assert_eq!(key_from_href(href).map(|k| k.id()).as_deref(), Some(id), "{href}");
        }
        // fixtures/norm/it_normattiva_codice_penale.xml line 45610: Normattiva lost the article
        let k = key_from_href(
            "/akn/it/act/decretoLegislativo/stato/2005-07-18/171/!main#art_com2-letb",
        )
        .unwrap();
        assert_eq!(k.id(), "urn:nir:stato:decreto.legislativo:2005;171");
        assert_eq!(k.detail, None);
        // not Italian acts / not acts: codice_penale.xml 12985, legge_bilancio_2023.xml 10373,
        // legaldocml_uk_pga-2014-27-enacted-data.xml 45
        for href in [
            "/akn/it/act/direttivaUe/eu/2018/1673/!main",
            "/akn/it/act/legge/regione./2022-11-14/17/!main",
            "/akn/uk/act/2000-07-28/chapter23/main#sec_11__subsec_2A",
            "#ins_1",
            "",
            "http://www.legislation.gov.uk/id/ukpga/2014/27/enacted/",
        ] {
            assert_eq!(key_from_href(href), None, "{href}");
        }
    }

    #[test]
    fn urn_hrefs() {
        // fixtures/norm/it_normattiva_dlgs_82_2005_CAD.xml line 132 (modification source)
        let k = key_from_href("urn:nir:stato:decreto.legislativo:2005-03-07;82#75").unwrap();
        assert_eq!(k.id(), "urn:nir:stato:decreto.legislativo:2005;82~art75");
        assert_eq!(
            k.act_dated.as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2005-03-07;82")
        );
        // fixtures/norm/it_normattiva_dlgs_82_2005_CAD.xml line 119 (modification destination)
        let k = key_from_href("urn:nir:stato:regio.decreto:1942-03-16;262#CODICE CIVILE-art. 2712")
            .unwrap();
        assert_eq!(k.id(), format!("{RD_CC}~art2712"));
        // fixtures/norm/it_normattiva_legge_gelli_bianco.xml line 92
        let k = key_from_href(
            "urn:nir:stato:regio.decreto:1930-10-19;1398#Codice Penale-art. 590 sexies",
        )
        .unwrap();
        assert_eq!(k.id(), "urn:nir:stato:regio.decreto:1930;1398~art590sexies");
        // empty fragment: the act
        let k = key_from_href("urn:nir:stato:legge:2015-12-28;208#").unwrap();
        assert_eq!(k.id(), "urn:nir:stato:legge:2015;208");
        // URN:NIR article partition, Normattiva resolver URL
        let k = key_from_href("urn:nir:stato:legge:1990-08-07;241~art2bis-com1").unwrap();
        assert_eq!(k.id(), "urn:nir:stato:legge:1990;241~art2bis-com1");
        let k = key_from_href(
            "https://www.normattiva.it/uri-res/N2Ls?urn:nir:stato:decreto.legislativo:2001-06-08;231~art5!vig=2020-01-01",
        )
        .unwrap();
        assert_eq!(k.id(), "urn:nir:stato:decreto.legislativo:2001;231~art5");
        let k = key_from_href("urn:nir:presidente.repubblica:decreto:2000-12-28;445").unwrap();
        assert_eq!(
            k.id(),
            "urn:nir:stato:decreto.del.presidente.della.repubblica:2000;445"
        );
        assert_eq!(key_from_href("urn:nir:stato:legge"), None);
        assert_eq!(key_from_href("urn:nir:stato:pippo:1990;1"), None);
    }

    #[test]
    fn frbr_and_markup() {
        // fixtures/norm/it_normattiva_dlgs_231_2001.xml lines 6, 8, 26
        let a = act_key_from_frbr("/akn/it/act/decreto_legislativo/stato/2001-06-08/231/!main")
            .unwrap();
        let b = act_key_from_frbr("urn:nir:stato:decreto.legislativo:2001-06-08;231").unwrap();
        let c = act_key_from_frbr(
            "/akn/it/act/decreto_legislativo/stato/2001-06-08/231/ita@2026-01-24/!main",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.act, "urn:nir:stato:decreto.legislativo:2001;231");
        assert_eq!(
            a.act_dated.as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2001-06-08;231")
        );
        assert_eq!(a.article, None);
        // the year-only key agrees with text that has no day
        let none = CitingContext::default();
        assert_eq!(one("d.lgs. n. 231/2001", &none).act, a.act);
        // fixtures/norm/it_normattiva_codice_penale.xml: <ref href="...#art_2">art. 2 c.p.</ref>
        let c = citation_from_ref(
            "/akn/it/act/regioDecreto/stato/1930-10-19/1398/!main#art_2",
            "art. 2 c.p.",
            10,
            21,
        )
        .unwrap();
        assert_eq!(c.origin, CitationOrigin::Markup);
        assert!(!c.relative);
        assert_eq!((c.start, c.end), (10, 21));
        assert_eq!(c.key, one("art. 2 c.p.", &none));
        // internal hrefs resolve against the citing act
        let ctx = ctx_of(D231, Some("5"));
        assert_eq!(
            resolve_href("#art_6-com1", &ctx).map(|k| k.id()).as_deref(),
            Some("urn:nir:stato:decreto.legislativo:2001;231~art6-com1")
        );
        assert_eq!(resolve_href("#ins_1", &ctx), None);
    }

    #[test]
    fn relative_references() {
        let none = CitingContext::default();
        let d231 = ctx_of(D231, Some("5"));
        let base = "urn:nir:stato:decreto.legislativo:2001;231";
        // "art. 5 del presente decreto"
        let cits = extract("ai sensi dell'art. 5 del presente decreto", &d231, Text);
        assert_eq!(ids(&cits), [format!("{base}~art5 (rel)")]);
        assert_eq!(cits[0].text, "art. 5 del presente decreto");
        assert!(extract("ai sensi dell'art. 5 del presente decreto", &none, Text).is_empty());
        // an article alone resolves only with a context
        assert_eq!(
            ids(&extract("previsto dall'art. 6.", &d231, Text)),
            [format!("{base}~art6 (rel)")]
        );
        assert!(extract("previsto dall'art. 6.", &none, Text).is_empty());
        // ... never when another instrument follows
        assert!(extract("ai sensi dell'articolo 6 della direttiva", &d231, Text).is_empty());
        assert!(extract("art. 6 CEDU", &d231, Text).is_empty());
        assert!(extract("art. 12 delle preleggi", &d231, Text).is_empty());
        // "comma 2": same act, same article
        let cits = extract("di cui al comma 2", &d231, Text);
        assert_eq!(ids(&cits), [format!("{base}~art5-com2 (rel)")]);
        assert_eq!(cits[0].key.detail.as_deref(), Some("com2"));
        assert!(extract("di cui al comma 2", &none, Text).is_empty());
        assert!(extract("di cui al comma 2", &ctx_of(D231, None), Text).is_empty());
        // "commi 1 e 2", "lettera b) del comma 1", "comma 1 del presente articolo"
        assert_eq!(
            ids(&extract("indicati nei commi 1 e 2", &d231, Text)),
            [
                format!("{base}~art5-com1 (rel)"),
                format!("{base}~art5-com2 (rel)")
            ]
        );
        assert_eq!(
            ids(&extract("di cui alla lettera b) del comma 1", &d231, Text)),
            [format!("{base}~art5-com1-letb (rel)")]
        );
        // "articolo precedente" / "successivo"
        assert_eq!(
            ids(&extract(
                "nei casi previsti dall'articolo precedente",
                &d231,
                Text
            )),
            [format!("{base}~art4 (rel)")]
        );
        assert_eq!(
            ids(&extract("ai sensi dell'articolo successivo", &d231, Text)),
            [format!("{base}~art6 (rel)")]
        );
        assert!(extract(
            "dall'articolo precedente",
            &ctx_of(D231, Some("2-bis")),
            Text
        )
        .is_empty());
        assert!(extract("dall'articolo precedente", &ctx_of(D231, Some("1")), Text).is_empty());
        assert!(extract("dall'articolo precedente", &none, Text).is_empty());
        // comma-first reference to another act's article
        assert_eq!(
            ids(&extract(
                "al comma 1 dell'articolo 6 del decreto legislativo 8 giugno 2001, n. 231",
                &ctx_of(GELLI, Some("3")),
                Text
            )),
            [format!("{base}~art6-com1")]
        );
        // anaphora
        assert_eq!(
            ids(&extract(
                "art. 5 d.lgs. n. 231/2001 e art. 6 del medesimo decreto",
                &none,
                Text
            )),
            [format!("{base}~art5"), format!("{base}~art6 (rel)")]
        );
        assert_eq!(
            ids(&extract(
                "art. 5 d.lgs. n. 231/2001; art. 6 d.lgs. cit.",
                &none,
                Text
            )),
            [format!("{base}~art5"), format!("{base}~art6 (rel)")]
        );
        // act named first, article after it
        assert_eq!(
            ids(&extract("L. 7 agosto 1990, n. 241, art. 2", &none, Text)),
            ["urn:nir:stato:legge:1990;241~art2"]
        );
        // distributed list: one act for both articles
        assert_eq!(
            ids(&extract(
                "di cui all'articolo 136, comma 1, lettere b) e c), e all'articolo 142, comma 1, del codice dei beni culturali e del paesaggio",
                &ctx_of(BIL2023, Some("1")),
                Text
            )),
            [
                "urn:nir:stato:decreto.legislativo:2004;42~art136-com1-letb",
                "urn:nir:stato:decreto.legislativo:2004;42~art136-com1-letc",
                "urn:nir:stato:decreto.legislativo:2004;42~art142-com1",
            ]
        );
    }

    #[test]
    fn negatives() {
        let none = CitingContext::default();
        let ctx = ctx_of(BIL2023, Some("1"));
        for t in [
            "un importo pari a 963 milioni di euro per l'anno 2023",
            "complessivi €. 5.900,00 (euro cinquemilanovecento/00)",
            "entro il 28 febbraio 2023",
            "pubblicata il 30 ottobre 2017",
            "pari al 45 per cento della spesa, ovvero al 5%",
            "1. Le disposizioni si applicano.\n2. Il comma e' abrogato.\n3) delitti contro la personalita' dello Stato;",
            "1) delitti contro la personalita' dello Stato;\n2) delitti di contraffazione del sigillo dello Stato",
            "Gazzetta Ufficiale n. 300 del 27 dicembre 2017",
            "(in G.U. 1ª s.s. 30/03/1988, n. 13)",
            "Cass. civ., Sez. L. 12 marzo 2020, n. 6543",
            "sentenza n. 8053 del 7 aprile 2014",
            "la legge di conversione del presente decreto",
            "Un intero articolo è dedicato agli atti preliminari",
            "gli articoli successivi regolano lo svolgimento",
            "lettere D ed E della circolare",
            "L. Rossi, Manuale, 2020, p. 12",
            "il decreto del Ministro della salute",
        ] {
            let cits = extract(t, &none, Text);
            assert!(cits.is_empty(), "{t}: {cits:?}");
            let cits = extract(t, &ctx, Text);
            let wrong: Vec<_> = cits.iter().filter(|c| !c.key.id().contains("~art1-com")).collect();
            assert!(wrong.is_empty(), "{t}: {wrong:?}");
        }
    }

    #[test]
    fn list_spans_follow_normattiva_markup() {
        // fixtures/norm/it_normattiva_dlgs_82_2005_CAD.xml line 2956: Normattiva marks
        // "articoli 76", "87" and "117, secondo comma, lettera r), della Costituzione".
        let t = "Visti gli articoli 76, 87 e 117, secondo comma, lettera r), della Costituzione;";
        let cits = extract(t, &CitingContext::default(), Text);
        let texts: Vec<&str> = cits.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "articoli 76",
                "87",
                "117, secondo comma, lettera r), della Costituzione"
            ]
        );
        let t = "artt. 1, 2 e 3 c.p.p.";
        let cits = extract(t, &CitingContext::default(), Text);
        let spans: Vec<(usize, usize)> = cits.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(spans, [(0, 7), (9, 10), (13, t.len())]);
    }

    #[test]
    fn note_origin_is_kept() {
        let cits = extract(
            "(art. 360 co. 4 e 5 c.p.c).",
            &CitingContext::default(),
            Note,
        );
        assert_eq!(cits.len(), 2);
        assert!(cits.iter().all(|c| c.origin == Note));
    }

    /// Deterministic xorshift so the test needs no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics_on_random_input() {
        let pieces = [
            "art.",
            "artt.",
            " ",
            "  ",
            "\n",
            ",",
            " e ",
            "comma",
            "commi",
            "co.",
            "n.",
            "lett.",
            "lettera",
            "a)",
            "bis",
            "-",
            "--",
            "1",
            "2",
            "360",
            "99999",
            "123456",
            "c.c.",
            "c.p.p",
            "Cost.",
            "d.lgs.",
            "legge",
            "L.",
            "del",
            "dell'",
            "dell’",
            "presente",
            "decreto",
            "medesimo",
            "cit.",
            "articolo",
            "precedente",
            "primo",
            "da",
            " a ",
            "/",
            "2001",
            "01",
            "7 agosto 1990",
            "((",
            "))",
            "à",
            "’",
            "«",
            "»",
            "€",
            "°",
            "ª",
            "\u{a0}",
            "\u{200b}",
            "日本",
            "🙂",
            "\u{0301}",
            "K",
            "ſ",
            "x",
            ".",
            ";",
            "(",
            ")",
            "*",
            "_",
            "disp. att.",
            "preleggi",
            "All'",
            "stesso",
            "urn:nir:",
            "#art_",
            "~art",
            "di cui al",
            "regolamento",
        ];
        let ctxs = [
            CitingContext::default(),
            ctx_of(D231, Some("5")),
            ctx_of(CP, Some("62-bis")),
            CitingContext {
                act: act_key_from_frbr(D231),
                article: Some("∞".to_string()),
            },
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            let n = (rng.next() % 40) as usize;
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(pieces[(rng.next() % pieces.len() as u64) as usize]);
            }
            let ctx = &ctxs[round % ctxs.len()];
            let cits = extract(&s, ctx, Text);
            for c in &cits {
                assert!(c.start < c.end && c.end <= s.len());
                assert!(s.is_char_boundary(c.start) && s.is_char_boundary(c.end));
                assert_eq!(&s[c.start..c.end], c.text);
            }
            let _ = key_from_href(&s);
            let _ = act_key_from_frbr(&s);
            let _ = normalize_type(&s);
            let _ = code_key(&s);
            let _ = resolve_href(&s, ctx);
        }
        // random code points, including control characters and invalid-looking sequences
        for _ in 0..2000 {
            let n = (rng.next() % 64) as usize;
            let s: String = (0..n)
                .filter_map(|_| char::from_u32((rng.next() % 0x11_0000) as u32))
                .collect();
            for c in extract(&s, &ctxs[1], Text) {
                assert_eq!(&s[c.start..c.end], c.text);
            }
            let _ = key_from_href(&s);
        }
        // every prefix/suffix of a dense real sentence
        let t = CORPUS[1].text;
        for (i, _) in t.char_indices() {
            let _ = extract(&t[i..], &ctxs[1], Text);
            let _ = extract(&t[..i], &ctxs[1], Text);
        }
    }

    #[test]
    fn one_megabyte_is_fast() {
        let mut big = String::new();
        let mut i = 0;
        while big.len() < 1_000_000 {
            big.push_str(CORPUS[i % CORPUS.len()].text);
            big.push('\n');
            i += 1;
        }
        let ctx = ctx_of(D231, Some("5"));
        let t = std::time::Instant::now();
        let cits = extract(&big, &ctx, Text);
        let real = t.elapsed();
        assert!(cits.len() > 1000);
        // adversarial (250 KB each): an anchor every few bytes, long lists, long whitespace runs
        let mut worst = std::time::Duration::ZERO;
        for adv in [
            "art. ".repeat(50_000),
            "comma ".repeat(42_000),
            "n. 1 ".repeat(50_000),
            "l. 12/".repeat(42_000),
            format!("commi {}", "1 e ".repeat(62_000)),
            format!("art.{}5 c.c.", " ".repeat(250_000)),
            format!("artt. {}", "1, ".repeat(83_000)),
        ] {
            let t = std::time::Instant::now();
            let _ = extract(&adv, &ctx, Text);
            worst = worst.max(t.elapsed());
        }
        // Generous bounds for unoptimised test builds; release: ~30 ms per MB of real text,
        // <= ~0.3 s per MB of adversarial text.
        assert!(real.as_secs_f64() < 5.0, "1 MB real text took {real:?}");
        assert!(
            worst.as_secs_f64() < 5.0,
            "adversarial 250 KB took {worst:?}"
        );
    }

    #[test]
    fn serde_derives() {
        fn assert_serde<T: Serialize + for<'de> Deserialize<'de>>() {}
        assert_serde::<Citation>();
        assert_serde::<NormKey>();
        assert_serde::<CitationOrigin>();
    }
}

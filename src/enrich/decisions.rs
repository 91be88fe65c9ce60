//! Court decisions: canonical ids and the citations that point at them.
//!
//! The same id is produced for a decision cited in running text ("Cass. civ., Sez. U.,
//! sentenza n. 8053 del 7 aprile 2014") and for an ingested decision (from its parts, with
//! [`decision_id`], or from the italgiure stamp "Civile Ord. Sez. 5 Num. 30039 Anno 2025",
//! [`decision_from_header`]), so stores can join a citation to the cited decision.
//!
//! # Id forms (the contract with the stores)
//!
//! | what | form | example |
//! |---|---|---|
//! | Italian decision, area known | `it:<court>:<area>:<year>;<number>` | `it:cass:civ:2014;8053` |
//! | Italian decision, area not stated | `it:<court>:<year>;<number>` | `it:cost:2004;204` |
//! | join key (always without area) | `it:<court>:<year>;<number>` | `it:cass:2014;8053` |
//! | EU courts | `eu:<court>:<year>;<case>` | `eu:cgue:2018;C-311`, `eu:cedu:2010;18640` |
//! | ECLI without a decision number | the ECLI, lowercase | `ecli:eu:c:2019:123` |
//!
//! * `<court>` is a lowercase code ([`court_code`] for the fixed table, [`court_id`] also for
//!   courts named after a seat): `cass`, `cost`, `cds` (Consiglio di Stato), `cgars`, `cdc`
//!   (Corte dei conti), `ctc`, `tar-<region>` / `tar-<region>-<seat>` for the detached seats
//!   (`tar-lombardia-brescia`), `ctr-<region>`, `ctp-<seat>`, `cgt1-<seat>` / `cgt2-<region>`
//!   (Corti di giustizia tributaria di primo / secondo grado), `trib-<seat>`, `app-<seat>`
//!   (Corte d'appello), `gdp-<seat>`, `tribmin-<seat>`, `tribsorv-<seat>`, `cgue` (Corte di
//!   giustizia), `tue` (Tribunale UE), `cedu` (Corte EDU). Seats are slugs of the place as
//!   written, articles and prepositions dropped ("Reggio di Calabria" → `reggio-calabria`,
//!   "L'Aquila" → `aquila`); a regional capital after `tar`/`ctr`/`cgt2` maps to its region
//!   ("CTR Napoli" → `ctr-campania`).
//! * `<area>` is `civ` or `pen`, only when the citation states it: "Cass. civ.", "Cass. pen.",
//!   "sez. lav." / "Sez. L", "sez. trib." / "Sez. T" and the civil sub-sections "Sez. 6 - 5" give
//!   `civ`; "Sez. U" keeps the area only if it is stated ("Sez. U civ."). Numbered sections
//!   alone do not give an area (both the civil and the criminal side number them).
//! * `<number>` has dots and leading zeros removed ("12.345" → `12345`); EU case numbers keep
//!   their letter ("C-311", "T-123").
//! * `<year>` is the year of the number: a four-digit year as written; otherwise the year of
//!   the date in the citation ("Cass., 12 marzo 2020, n. 12345" → 2020; for a date range
//!   "19-22 febbraio 1985" or "20 novembre 2025 - 22 gennaio 2026" the last date, the deposit);
//!   a penal "(dep. 2020)" overrides. A two-digit year ("n. 12345/20") is expanded when
//!   unambiguous: if the citation carries a date, the date's year when its last two digits agree;
//!   without a date, `00..=30` → 20xx and `31..=99` → 19xx (the rule of the norm citations). A
//!   two-digit year that disagrees with the date in the same citation is kept as written (`20`).
//! * The key is for joining when the area is not stated; it can collide between a civil and a
//!   criminal Cassazione decision with the same number and year, and between sections of courts
//!   that number per section (Corte dei conti regional sections).
//! * ECLI: `ecli` holds the normalised (uppercase) identifier. For Italian ECLIs of the table
//!   (`CASS`, `COST`, `CDS`, `CGARS`) court, year, number and area come from the ECLI
//!   (`ECLI:IT:CASS:2020:12345CIV` → `it:cass:civ:2020;12345`), so the id matches the text form.
//!   An ECLI written right after a citation is attached to it.
//!
//! # What is recognised (precision over recall)
//!
//! A citation needs a court or an unmistakable Cassazione marker right before the number:
//!
//! * court first: `<court> [qualifiers] <number> [year]`, qualifiers being area ("civ.",
//!   "pen."), section ("sez. III", "Sez. 5", "Sez. U", "Sez. Un.", "S.U.", "SS.UU.",
//!   "Sezioni Unite", "Ad. plen.", "Grande Sezione"), type ("sent.", "sentenza", "ord.",
//!   "ordinanza", "decreto", "con sentenza") and date ("12 marzo 2020", "12/03/2020", ranges);
//!   the number is "n. 12345/2020", "n. 12345 del 2020", "n. 12345 del 12 marzo 2020",
//!   "n. 1528/02/2017" (tax commissions: number/section/year), "n. 12345" after a date, or a
//!   bare "15302 del 31/05/2023" / "12345/2020" (a year is then required);
//! * italgiure section form without court: "Sez. U, Sentenza n. 11747 del 2019",
//!   "Sez. 5, n. 1234 del 2020", "Sez. 6 - 5, Ordinanza ..." (capital "Sez." with U, L, T, F or
//!   an Arabic number) → Cassazione;
//! * number first: "sentenza n. 204 del 2004 della Corte costituzionale"; or a decision type
//!   and number followed by an italgiure "Rv." massima number ("Sentenza n. 11167 del 6 aprile
//!   2022, Rv. 664412-01") → Cassazione;
//! * lists: "Cass. nn. 11632 del 2024; 16775 del 2020", "Corte cost. n. 1/2014 e n. 35/2017"
//!   (continuations must carry a year);
//! * "Rv. 664120-01" after a citation is part of its text (not an id); so is "(dep. 2020)";
//! * EU: "Corte giust. UE, 16 luglio 2020, C-311/18", "causa C-311/18" (also without court:
//!   the C-/T- case number is distinctive), "Corte EDU, ..., ric. n. 18640/10";
//! * ECLI anywhere ("ECLI:IT:CASS:2020:12345CIV", "ECLI:IT:COST:2024:204", "ECLI:EU:C:2019:123").
//!
//! Not produced: numbers without a court ("ordinanza n. 5451 del 18 novembre 2011", "legge n.
//! 241/1990", "n. 12/2020", "ricorso n. 994 del 2009"), a court without a number ("plurime
//! pronunce della Corte di Cassazione"), ruolo generale numbers ("n. 1234/2018 R.G."), "questa
//! Corte" / "sentenza n. 68 del 2012 di questa Corte" (the court is the citing one, unknown
//! here), CEDU judgments cited by party names only.
//!
//! Known limits: a citation broken by a page stamp (pdf text) is lost or cut; a penal citation
//! with the hearing date and no year of its own takes the hearing year; "questa Corte" is not
//! resolved; Corte dei conti numbers are per section, so their keys can collide.

use super::citations::MONTHS_RE;
use super::fold_char;
use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// One decision cited in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionCitation {
    /// Byte span of `text` in the text given to [`find_decision_citations`].
    pub start: usize,
    pub end: usize,
    /// The citing text (including a trailing "Rv. ..." or ECLI).
    pub text: String,
    /// Canonical id (`it:cass:civ:2014;8053`), see the module docs.
    pub id: String,
    /// Join key without area (`it:cass:2014;8053`).
    pub key: String,
    /// Court code (`cass`, `cost`, `tar-lazio`, ...).
    pub court: String,
    /// `civ` / `pen` when stated.
    pub area: Option<String>,
    /// Section as written, normalised: `U` (Sezioni Unite), `L`, `T`, `F`, Arabic numbers
    /// (`3` for "III"), `6-5`, `ap` (Adunanza plenaria), `gs` / `gc` (Grande Sezione / Camera).
    pub section: Option<String>,
    pub number: Option<String>,
    pub year: Option<String>,
    /// Normalised ECLI when written.
    pub ecli: Option<String>,
}

/// A parsed European Case Law Identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ecli {
    /// Normalised (uppercase, no spaces): `ECLI:IT:CASS:2020:12345CIV`.
    pub ecli: String,
    /// `IT`, `EU`, `CE`, ...
    pub country: String,
    /// The ECLI court code as written (`CASS`, `C`, `ECHR`).
    pub court_code: String,
    pub year: String,
    /// The ordinal part (`12345CIV`).
    pub ordinal: String,
    /// Our court code when the ECLI court is in the table (`cass`, `cost`, `cds`, `cgars`,
    /// `cgue`, `tue`, `cedu`).
    pub court: Option<String>,
    /// `civ` / `pen` for Cassazione ECLIs.
    pub area: Option<String>,
    /// Decision number, for the Italian courts of the table.
    pub number: Option<String>,
}

impl Ecli {
    /// Canonical id: from court/year/number when known, else the ECLI itself in lowercase.
    pub fn id(&self) -> String {
        match (&self.court, &self.number) {
            (Some(c), Some(n)) => decision_id(c, self.area.as_deref(), n, &self.year),
            _ => self.ecli.to_lowercase(),
        }
    }

    /// Join key: like [`Ecli::id`] without area.
    pub fn key(&self) -> String {
        match (&self.court, &self.number) {
            (Some(c), Some(n)) => decision_key(c, n, &self.year),
            _ => self.ecli.to_lowercase(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

/// Courts whose ids use the `eu:` prefix.
const EU_COURTS: &[&str] = &["cgue", "tue", "tfp", "cedu"];

fn prefix(court: &str) -> &'static str {
    if EU_COURTS.contains(&court) {
        "eu"
    } else {
        "it"
    }
}

/// "12.345" → "12345", "0042" → "42"; EU case numbers ("c-311") uppercase their letter.
fn norm_number(n: &str) -> String {
    let t = n.trim();
    if t.contains('-') && t.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return t.to_uppercase();
    }
    let digits: String = t.chars().filter(|c| !matches!(c, '.' | ' ')).collect();
    let s = digits.trim_start_matches('0');
    if s.is_empty() && !digits.is_empty() {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// The canonical id of a decision from its parts: used both for citations and for the id of an
/// ingested decision, so they join. `it:<court>[:<area>]:<year>;<number>` (`eu:` for EU courts,
/// which never carry an area). The number is normalised ("12.345" → "12345").
pub fn decision_id(court: &str, area: Option<&str>, number: &str, year: &str) -> String {
    let court = court.trim().to_lowercase();
    let p = prefix(&court);
    let number = norm_number(number);
    let year = year.trim();
    match area.map(str::trim).filter(|a| !a.is_empty() && p == "it") {
        Some(a) => format!("{p}:{court}:{}:{year};{number}", a.to_lowercase()),
        None => format!("{p}:{court}:{year};{number}"),
    }
}

/// The join key of a decision: `it:<court>:<year>;<number>` (never an area).
pub fn decision_key(court: &str, number: &str, year: &str) -> String {
    decision_id(court, None, number, year)
}

// ---------------------------------------------------------------------------------------------
// Court table
// ---------------------------------------------------------------------------------------------

/// Courts with a fixed name. Aliases are compared in compact form (see [`compact`]), so
/// "C. cost." = "C.cost." = "c cost" and "Consiglio di Stato" = "Consiglio Stato".
const FIXED_COURTS: &[(&str, &[&str])] = &[
    (
        "cass",
        &[
            "Corte di Cassazione",
            "Corte Suprema di Cassazione",
            "Suprema Corte di Cassazione",
            "Suprema Corte",
            "Cassazione",
            "Cass.",
            "Corte Cass.",
            "Cass. civ.",
            "Cass. pen.",
            "Cassazione civile",
            "Cassazione penale",
            "S.C.",
            "Sezioni Unite",
            "S.U.",
            "SS.UU.",
        ],
    ),
    (
        "cost",
        &[
            "Corte costituzionale",
            "Corte cost.",
            "C. cost.",
            "Corte Cost.",
            "Consulta",
        ],
    ),
    (
        "cds",
        &[
            "Consiglio di Stato",
            "Cons. Stato",
            "Cons. di Stato",
            "Cons. St.",
            "C.d.S.",
            "CdS",
            "C. Stato",
        ],
    ),
    (
        "cgars",
        &[
            "Consiglio di giustizia amministrativa per la Regione siciliana",
            "Consiglio di giustizia amministrativa",
            "C.G.A.R.S.",
            "CGARS",
            "C.G.A.",
            "CGA",
        ],
    ),
    (
        "cdc",
        &["Corte dei conti", "Corte conti", "C. conti", "C. dei conti"],
    ),
    (
        "ctc",
        &["Commissione tributaria centrale", "Comm. trib. centr."],
    ),
    (
        "cgue",
        &[
            "Corte di giustizia",
            "Corte di giustizia dell'Unione europea",
            "Corte di giustizia UE",
            "Corte di giustizia U.E.",
            "Corte di giustizia CE",
            "Corte di giustizia europea",
            "Corte di giustizia delle Comunità europee",
            "Corte giust.",
            "Corte giust. UE",
            "Corte giust. CE",
            "CGUE",
            "C.G.U.E.",
            "CGCE",
            "CGE",
        ],
    ),
    (
        "tue",
        &[
            "Tribunale dell'Unione europea",
            "Tribunale UE",
            "Trib. UE",
            "Tribunale di primo grado delle Comunità europee",
        ],
    ),
    (
        "cedu",
        &[
            "Corte europea dei diritti dell'uomo",
            "Corte EDU",
            "Corte E.D.U.",
            "Corte eur. dir. uomo",
            "Corte europea dei diritti umani",
            "CEDU",
        ],
    ),
];

/// Regions: (slug, aliases, regional capital).
const REGIONS: &[(&str, &[&str], &str)] = &[
    ("piemonte", &["Piemonte"], "Torino"),
    (
        "valle-d-aosta",
        &["Valle d'Aosta", "Val d'Aosta", "Vallée d'Aoste"],
        "Aosta",
    ),
    ("lombardia", &["Lombardia"], "Milano"),
    (
        "trentino-alto-adige",
        &["Trentino-Alto Adige", "Trentino Alto Adige", "Trentino"],
        "Trento",
    ),
    ("veneto", &["Veneto"], "Venezia"),
    (
        "friuli-venezia-giulia",
        &["Friuli-Venezia Giulia", "Friuli Venezia Giulia", "Friuli"],
        "Trieste",
    ),
    ("liguria", &["Liguria"], "Genova"),
    (
        "emilia-romagna",
        &["Emilia-Romagna", "Emilia Romagna"],
        "Bologna",
    ),
    ("toscana", &["Toscana"], "Firenze"),
    ("umbria", &["Umbria"], "Perugia"),
    ("marche", &["Marche"], "Ancona"),
    ("lazio", &["Lazio"], "Roma"),
    ("abruzzo", &["Abruzzo"], "L'Aquila"),
    ("molise", &["Molise"], "Campobasso"),
    ("campania", &["Campania"], "Napoli"),
    ("puglia", &["Puglia", "Puglie"], "Bari"),
    ("basilicata", &["Basilicata"], "Potenza"),
    ("calabria", &["Calabria"], "Catanzaro"),
    ("sicilia", &["Sicilia"], "Palermo"),
    ("sardegna", &["Sardegna"], "Cagliari"),
];

/// Detached seats of the regional administrative courts: (seat, region slug).
const TAR_DETACHED: &[(&str, &str)] = &[
    ("Brescia", "lombardia"),
    ("Parma", "emilia-romagna"),
    ("Pescara", "abruzzo"),
    ("Latina", "lazio"),
    ("Salerno", "campania"),
    ("Lecce", "puglia"),
    ("Reggio Calabria", "calabria"),
    ("Catania", "sicilia"),
    ("Bolzano", "trentino-alto-adige"),
];

/// Articles and prepositions dropped when comparing court names and building seat slugs.
const CONNECTORS: &[&str] = &[
    "di", "del", "della", "dello", "dell", "dei", "degli", "delle", "d", "de", "per", "il", "la",
    "lo", "l", "i", "gli", "le", "in", "presso",
];

/// Lowercase, accents folded, split on anything that is not a letter or digit.
fn fold_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match fold_char(c) {
            Some(f) => cur.push(f),
            None => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn significant(s: &str) -> Vec<String> {
    fold_tokens(s)
        .into_iter()
        .filter(|t| !CONNECTORS.contains(&t.as_str()))
        .collect()
}

/// Compact comparison form of a court name: folded tokens without connectors, concatenated.
fn compact(s: &str) -> String {
    significant(s).concat()
}

fn slug(tokens: &[String]) -> String {
    tokens.join("-")
}

static COURT_TABLE: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut m: HashMap<String, String> = HashMap::new();
    for (code, aliases) in FIXED_COURTS {
        for a in *aliases {
            m.insert(compact(a), code.to_string());
        }
    }
    const TAR_NAMES: [&str; 3] = ["TAR", "T.A.R.", "Tribunale amministrativo regionale"];
    for (region, aliases, capital) in REGIONS {
        let code = format!("tar-{region}");
        for t in TAR_NAMES {
            for a in aliases.iter().chain(std::iter::once(capital)) {
                m.insert(compact(&format!("{t} {a}")), code.clone());
                m.insert(compact(&format!("{t} {a} {capital}")), code.clone());
            }
        }
    }
    for (seat, region) in TAR_DETACHED {
        let code = format!("tar-{region}-{}", slug(&significant(seat)));
        let (_, aliases, _) = REGIONS
            .iter()
            .find(|(r, _, _)| r == region)
            .expect("TAR_DETACHED names a region of REGIONS");
        for t in TAR_NAMES {
            m.insert(compact(&format!("{t} {seat}")), code.clone());
            for a in *aliases {
                m.insert(compact(&format!("{t} {a} {seat}")), code.clone());
                m.insert(
                    compact(&format!("{t} {a} sezione staccata di {seat}")),
                    code.clone(),
                );
            }
        }
    }
    m
});

/// Region slug of a place written after a regional court ("Lazio", "Roma", "Emilia Romagna").
fn region_of(place: &[String]) -> Option<&'static str> {
    let c = place.concat();
    REGIONS.iter().find_map(|(slug, aliases, capital)| {
        (aliases.iter().any(|a| compact(a) == c) || compact(capital) == c).then_some(*slug)
    })
}

/// Code of a court with a fixed name or a regional administrative court: "Corte di
/// Cassazione" / "Cass." / "Cassazione" → `cass`, "Corte costituzionale" / "Corte cost." /
/// "C. cost." → `cost`, "Consiglio di Stato" / "Cons. Stato" / "C.d.S." → `cds`, "Corte dei
/// conti" → `cdc`, "T.A.R. Lazio" / "TAR per il Lazio" / "TAR Lazio, Roma" → `tar-lazio`,
/// "TAR Lombardia, Brescia" → `tar-lombardia-brescia`, "CGUE" / "Corte di giustizia" → `cgue`,
/// "Corte EDU" → `cedu`. The table is [`FIXED_COURTS`] + [`REGIONS`] + [`TAR_DETACHED`].
/// Courts named after any seat (Tribunale, Corte d'appello, tax courts) are in [`court_id`].
pub fn court_code(name: &str) -> Option<&'static str> {
    let table: &'static HashMap<String, String> = &COURT_TABLE;
    table.get(&compact(name)).map(String::as_str)
}

/// Court code for any court name: [`court_code`], plus the courts named after a seat:
/// "Tribunale di Roma" / "Trib. Roma" → `trib-roma`, "Corte d'appello di Milano" / "App.
/// Milano" → `app-milano`, "Commissione tributaria regionale del Piemonte" / "CTR Piemonte" →
/// `ctr-piemonte` ("CTR Napoli" → `ctr-campania`), "CTP di Alessandria" → `ctp-alessandria`,
/// "Corte di giustizia tributaria di secondo grado della Campania" → `cgt2-campania`,
/// "... di primo grado di Roma" → `cgt1-roma`, "Giudice di pace di Bari" → `gdp-bari`,
/// "Tribunale per i minorenni di Roma" → `tribmin-roma`, "Tribunale di sorveglianza di Roma"
/// → `tribsorv-roma`.
pub fn court_id(name: &str) -> Option<String> {
    if let Some(c) = court_code(name) {
        return Some(c.to_string());
    }
    let toks = significant(name);
    let t: Vec<&str> = toks.iter().map(String::as_str).collect();
    let seat = |n: usize| -> Option<Vec<String>> {
        let rest = toks.get(n..)?;
        (!rest.is_empty() && rest.iter().all(|w| w.chars().any(|c| c.is_alphabetic())))
            .then(|| rest.to_vec())
    };
    let regional = |kind: &str, n: usize| -> Option<String> {
        let s = seat(n)?;
        Some(match region_of(&s) {
            Some(r) => format!("{kind}-{r}"),
            None => format!("{kind}-{}", slug(&s)),
        })
    };
    let local = |kind: &str, n: usize| seat(n).map(|s| format!("{kind}-{}", slug(&s)));
    match t.as_slice() {
        ["tribunale" | "trib", "minorenni", ..] => local("tribmin", 2),
        ["tribunale" | "trib", "sorveglianza" | "sorv", ..] => local("tribsorv", 2),
        ["tribunale" | "trib", "ordinario", ..] => local("trib", 2),
        ["tribunale" | "trib", ..] => local("trib", 1),
        ["corte", "appello", ..] | ["c", "app", ..] => local("app", 2),
        ["app", ..] => local("app", 1),
        ["commissione", "tributaria", "regionale", ..] | ["comm", "trib", "reg", ..] => {
            regional("ctr", 3)
        }
        ["c", "t", "r", ..] => regional("ctr", 3),
        ["ctr", ..] => regional("ctr", 1),
        ["commissione", "tributaria", "provinciale", ..] | ["comm", "trib", "prov", ..] => {
            local("ctp", 3)
        }
        ["c", "t", "p", ..] => local("ctp", 3),
        ["ctp", ..] => local("ctp", 1),
        ["corte", "giustizia", "tributaria", g, ..] | ["cgt", g, ..] => {
            let n = if t[0] == "cgt" { 2 } else { 4 };
            let n = if t.get(n) == Some(&"grado") { n + 1 } else { n };
            match *g {
                "primo" | "i" | "1" => local("cgt1", n),
                "secondo" | "ii" | "2" => regional("cgt2", n),
                _ => None,
            }
        }
        ["giudice", "pace", ..] => local("gdp", 2),
        ["gdp", ..] => local("gdp", 1),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// ECLI
// ---------------------------------------------------------------------------------------------

const ECLI_P: &str =
    r"[Ee][Cc][Ll][Ii]\s?:\s?[A-Za-z]{2}:[A-Za-z0-9]{1,7}:[0-9]{4}:[A-Za-z0-9.]{1,25}";

static ECLI_FULL: LazyLock<Regex> = LazyLock::new(|| rx(&format!("^{ECLI_P}$")));

/// Parse an ECLI (`ECLI:IT:CASS:2020:12345CIV`, `ECLI:IT:COST:2024:204`, `ECLI:EU:C:2019:123`,
/// any case, trailing dot tolerated). Italian ECLIs of Cassazione, Corte costituzionale,
/// Consiglio di Stato and CGARS give the decision number (and area for Cassazione: `CIV` /
/// `PEN` suffix), so [`Ecli::id`] equals the id of the same decision cited in text.
pub fn parse_ecli(s: &str) -> Option<Ecli> {
    let t = s.trim().trim_end_matches(['.', ',', ';', ')']);
    if !ECLI_FULL.is_match(t) {
        return None;
    }
    let norm: String = t
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let parts: Vec<&str> = norm.splitn(5, ':').collect();
    let [_, country, court_code, year, ordinal] = parts.as_slice() else {
        return None;
    };
    let digits: String = ordinal.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &ordinal[digits.len()..];
    let number = (!digits.is_empty()).then(|| norm_number(&digits));
    let (court, area, number) = match (*country, *court_code) {
        ("IT", "CASS") => {
            let area = match suffix {
                "CIV" => Some("civ".to_string()),
                "PEN" => Some("pen".to_string()),
                _ => None,
            };
            (Some("cass"), area, number)
        }
        ("IT", "COST") => (Some("cost"), None, number),
        ("IT", "CDS") => (Some("cds"), None, number),
        ("IT", "CGARS") => (Some("cgars"), None, number),
        ("EU", "C") => (Some("cgue"), None, None),
        ("EU", "T") => (Some("tue"), None, None),
        ("EU", "F") => (Some("tfp"), None, None),
        ("CE", "ECHR") => (Some("cedu"), None, None),
        _ => (None, None, None),
    };
    Some(Ecli {
        ecli: norm.clone(),
        country: country.to_string(),
        court_code: court_code.to_string(),
        year: year.to_string(),
        ordinal: ordinal.to_string(),
        court: court.map(str::to_string),
        area,
        number,
    })
}

// ---------------------------------------------------------------------------------------------
// Regexes (compiled once)
// ---------------------------------------------------------------------------------------------

/// ASCII word boundary (the Unicode one would make the lazy DFA give up on Italian text).
const B: &str = r"(?-u:\b)";

fn rx(p: &str) -> Regex {
    // Patterns are constants of this module; a failure is a programming error caught by tests.
    Regex::new(p).expect("decisions: static regex")
}

/// A single date; the year is in group `y1` (day month year) or `y2` (dd/mm/yyyy).
fn date_p() -> String {
    format!(
        r"(?:[0-9]{{1,2}}\s*[°º]?\s+(?i:{MONTHS_RE})\s+(?P<y1>[0-9]{{4}})|[0-9]{{1,2}}\s*[./-]\s*[0-9]{{1,2}}\s*[./-]\s*(?P<y2>[0-9]{{4}})){B}"
    )
}

/// A preposition between a court keyword and its seat, with the blank after it (so that
/// "TAR Delfino" is not read as "TAR del fino").
const OF: &str = r"(?i:(?:della|dello|delle|del|di|per\s+(?:il|la))\s+|(?:dell|per\s+l)['’]\s?)";

/// The court anchors of the scan: one named group per court kind.
fn court_alternatives() -> String {
    let apos = "['’]";
    [
        // Tax courts and TAR first: "Corte di giustizia tributaria" before the EU court,
        // "Tribunale amministrativo" before the Tribunale.
        format!(r"(?P<cgt>(?i:corte\s+(?:di\s+)?giustizia\s+tributaria)|C\.\s?G\.\s?T\.|CGT{B})\s+(?i:di\s+)?(?P<cgtg>(?i:primo|secondo)|II|I|[12]\s*°?)(?:\s+(?i:grado))?(?:\s+{OF})?\s*"),
        format!(r"(?P<tar>(?i:tribunale\s+amministrativo\s+regionale)|T\.\s?A\.\s?R\.|TAR{B}|Tar{B})(?:\s+{OF})?\s*"),
        format!(r"(?P<ctr>(?i:commissione\s+tributaria\s+regionale)|(?i:comm\.\s?trib\.\s?reg\.)|C\.\s?T\.\s?R\.|CTR{B})(?:\s+{OF})?\s*"),
        format!(r"(?P<ctp>(?i:commissione\s+tributaria\s+provinciale)|(?i:comm\.\s?trib\.\s?prov\.)|C\.\s?T\.\s?P\.|CTP{B})(?:\s+{OF})?\s*"),
        r"(?P<ctc>(?i:commissione\s+tributaria\s+centrale)|(?i:comm\.\s?trib\.\s?centr\.))".to_string(),
        format!(r"(?P<cgue>(?i:corte\s+(?:di\s+)?giustizia)(?:\s+(?:UE|CE|U\.E\.|C\.E\.|(?i:dell{apos}\s?unione\s+europea|delle\s+comunit[àa]\s+europee|europea)))?|Corte\s+giust\.(?:\s*(?:UE|CE|U\.E\.))?|CGUE{B}|C\.G\.U\.E\.|CGCE{B}|CGE{B}|(?i:tribunale\s+dell{apos}\s?unione\s+europea)|Trib(?:unale|\.)\s+UE{B})"),
        format!(r"(?P<cedu>Corte\s+EDU{B}|Corte\s+E\.D\.U\.|(?i:corte\s+europea\s+dei\s+diritti\s+(?:dell{apos}\s?uomo|umani))|Corte\s+eur\.\s+dir\.\s+uomo|CEDU{B})"),
        r"(?P<tribmin>Trib(?:unale|\.)\s+(?i:per\s+i\s+)?(?i:minorenni|min\.)\s+(?i:di\s+)?)".to_string(),
        r"(?P<tribsorv>Trib(?:unale|\.)\s+(?i:di\s+)?(?i:sorveglianza|sorv\.)\s+(?i:di\s+)?)".to_string(),
        r"(?P<trib>Trib(?:unale|\.)\s+(?i:ordinario\s+)?(?i:di\s+)?)".to_string(),
        format!(r"(?P<app>Corte\s+(?:d{apos}\s?|di\s+)[Aa]ppello\s+(?i:di\s+)?|C\.\s?[Aa]pp\.\s+|App\.\s+(?i:di\s+)?)"),
        r"(?P<gdp>(?i:giudice\s+di\s+pace)\s+(?i:di\s+)?|G\.\s?d\.\s?P\.\s+(?i:di\s+)?|GdP\s+(?i:di\s+)?)".to_string(),
        format!(r"(?P<cass>(?i:corte\s+(?:suprema\s+)?(?:di\s+)?cassazione|suprema\s+corte\s+di\s+cassazione)|Corte\s+Cass\.|Cassazione|CASSAZIONE{B}|Cass\.|Cass{B})"),
        r"(?P<cost>(?i:corte\s+costituzionale)|Corte\s+[Cc]ost\.|C\.\s?[Cc]ost\.)".to_string(),
        format!(r"(?P<cgars>(?i:consiglio\s+di\s+giustizia\s+amministrativa)(?:\s+(?i:per\s+la\s+regione\s+siciliana))?|C\.G\.A\.R\.S\.|CGARS{B}|C\.G\.A\.)"),
        format!(r"(?P<cds>(?i:consiglio\s+di\s+stato)|Cons\.\s?(?:di\s+)?St(?:ato{B}|\.)|C\.\s?d\.\s?S\.|CdS{B}|C\.\s?Stato{B})"),
        format!(r"(?P<cdc>(?i:corte\s+dei\s+conti)|Corte\s+conti{B}|C\.\s?(?:dei\s+)?conti{B})"),
    ]
    .join("|")
}

const COURT_GROUPS: &[&str] = &[
    "cgt", "tar", "ctr", "ctp", "ctc", "cgue", "cedu", "tribmin", "tribsorv", "trib", "app", "gdp",
    "cass", "cost", "cgars", "cds", "cdc",
];

/// The anchors of the single scan.
static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"(?P<ecli>{ECLI_P})|{B}(?:{})|(?P<sez>{B}Sez\.\s*(?:Un\.|U{B}|L{B}|T{B}|F{B}|[0-9]{{1,2}}{B}))|(?P<causa>{B}(?i:caus[ae])\s+(?i:riunite\s+)?(?:n\.\s*)?[CTF]\s?[-‐–]\s?[0-9])|(?P<numfirst>{B}(?i:sentenz[ae]|sent\.|ordinanz[ae]|ord\.|decreto|decisione|pronuncia)\s+(?:n\.|n°|nr\.))",
        court_alternatives()
    ))
});

/// The court alternatives anchored at the start (for "sentenza n. ... della Corte ...").
static COURT_AT: LazyLock<Regex> = LazyLock::new(|| rx(&format!(r"^(?:{})", court_alternatives())));

static SEP: LazyLock<Regex> = LazyLock::new(|| rx(r"^[\s,\-–]*"));
static AREA: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?i:(?P<civ>civ(?:ile|ili)?|lav(?:oro)?|trib(?:utaria)?)|(?P<pen>pen(?:ale|ali)?)){B}\.?"
    ))
});
static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?:(?i:sez(?:ion[ei]|\.)?|sezz\.)\s*(?:(?P<un>(?i:un(?:ite|\.)?|u){B}\.?)|(?P<l>(?i:l(?:av(?:oro)?)?){B}\.?)|(?P<t>(?i:t(?:rib(?:utaria)?)?){B}\.?)|(?P<f>(?i:f(?:er(?:iale)?)?){B}\.?)|(?P<num>[0-9]{{1,2}})(?:\s*-\s*(?P<sub>[0-9]){B})?|(?P<rom>[IVX]{{1,5}})(?:\s*-\s*(?:(?P<romsuf>(?i:bis|ter|quater))|(?P<romsub>[0-9])))?{B}|(?P<ord>(?i:prima|seconda|terza|quarta|quinta|sesta|settima)){B}|(?P<giur>(?i:giur(?:isdizionale|\.)?)\s+(?i:(?:reg(?:ionale|\.)?\s+)?(?:per\s+(?:il|la|l['’])\s*|del(?:la|l['’])?\s*)?)(?P<giurplace>\p{{Lu}}[\p{{L}}'’]+(?:[ \t-]+\p{{Lu}}[\p{{L}}'’]+)?))|(?P<riun>(?i:riun(?:ite|\.))))|(?P<su>S\.\s?U\.|SS\.\s?UU\.|(?i:sezioni\s+unite))|(?P<ap>(?i:ad(?:unanza|\.)\s*plen(?:aria|\.)))|(?P<gs>(?i:grande\s+sezione))|(?P<gc>(?i:grande\s+camera)))\s*(?:(?P<sciv>(?i:civ(?:ile|ili)?){B}\.?)|(?P<spen>(?i:pen(?:ale|ali)?){B}\.?))?"
    ))
});
/// A bare Roman section after an administrative court ("TAR Lombardia, Milano, II n. 3461").
static BARE_ROMAN: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?P<rom>[IVX]{{1,4}})(?:-(?P<romsuf>bis|ter|quater))?{B}"
    ))
});
static DOCTYPE: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?i:(?:con\s+(?:la\s+|l['’]\s?)?)?(?:sentenz[ae]|sent\.|ordinanz[ae](?:\s+interlocutori[ae])?|ord\.(?:\s*interl\.)?|decreto|decr\.|decisione|dec\.|pronuncia|parere)){B}?"
    ))
});
static DATE_Q: LazyLock<Regex> = LazyLock::new(|| {
    let d = date_p();
    rx(&format!(
        r"^(?i:(?:del|dell['’]|in\s+data|ud\.|udienza|dep\.|depositata\s+il)\s*)?(?:[0-9]{{1,2}}\s*[°º]?(?:\s+(?i:{MONTHS_RE}))?(?:\s+[0-9]{{4}})?\s*[-–—]\s*)?{d}"
    ))
});
/// Party names in EU / CEDU citations ("Grande Stevens c. Italia", "Schrems II").
static PARTIES: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"^\p{Lu}[\p{L}'’.\- ]{0,60}?\s+(?:c\.|contro|v\.)\s+\p{Lu}[\p{L}'’.\-]*(?:\s+\p{Lu}[\p{L}'’.\-]*){0,3}",
    )
});
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?:(?P<n>(?i:nn?\.|n°|nr\.?|num\.|numero))\s*)?(?P<num>[0-9]{{1,3}}(?:\.[0-9]{{3}})+|[0-9]{{1,6}}){B}"
    ))
});
static SLASH_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^\s?/\s?(?:(?P<sec>[0-9]{{1,2}})\s?/\s?)?(?P<year>[0-9]{{4}}|[0-9]{{2}}){B}"
    ))
});
static DEL_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    let d = date_p();
    rx(&format!(
        r"^\s*,?\s*(?i:del|dell['’])\s*(?:{d}|(?P<year>[0-9]{{4}}){B})"
    ))
});
static RG: LazyLock<Regex> = LazyLock::new(|| rx(r"^\s*R\.\s?G\.|^\s*(?i:r\.g\.|reg\.\s?gen)"));
static DEP: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^\s*\((?i:dep(?:\.|osito|ositata)?)\s*(?:[0-9]{{1,2}}[./-][0-9]{{1,2}}[./-]|[0-9]{{1,2}}\s+(?i:{MONTHS_RE})\s+)?(?P<year>[0-9]{{4}})\)"
    ))
});
static RV: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"^\s*[,;]?\s*\(?\s*Rv\.?\s*[0-9]{6}(?:\s*[-–]\s*[0-9]{2})?(?:\s*[,;]\s*(?:Rv\.?\s*)?[0-9]{6}(?:\s*[-–]\s*[0-9]{2})?)*\s*\)?",
    )
});
static RV_AHEAD: LazyLock<Regex> = LazyLock::new(|| rx(r"^\s*[,;]?\s*\(?\s*Rv\.?\s*[0-9]{6}"));
static ECLI_AFTER: LazyLock<Regex> =
    LazyLock::new(|| rx(&format!(r"^\s*[,;(]?\s*(?P<e>{ECLI_P})\)?")));
static CONT: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^\s*(?:[,;]\s*(?:(?i:e|ed|nonch[ée]){B}\s*)?|(?i:e|ed|nonch[ée]){B}\s*)(?P<body>(?:(?i:nn?\.|n°|nr\.)\s*)?(?P<num>[0-9]{{1,3}}(?:\.[0-9]{{3}})+|[0-9]{{1,6}})){B}"
    ))
});
static EU_CASE: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?:(?i:caus[ae]|proc(?:edimento|\.)|case)\s+(?i:riunite\s+)?)?(?:n\.\s*)?(?P<l>[CTF])\s?[-‐–]\s?(?P<num>[0-9]{{1,4}})\s?/\s?(?P<year>[0-9]{{4}}|[0-9]{{2}}){B}(?:\s*P{B})?"
    ))
});
static EU_CONT: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^\s*(?:,|(?i:e|ed){B})\s*(?:(?i:caus[ae])\s+)?(?P<l>[CTF])\s?[-‐–]\s?(?P<num>[0-9]{{1,4}})\s?/\s?(?P<year>[0-9]{{4}}|[0-9]{{2}}){B}(?:\s*P{B})?"
    ))
});
static CEDU_APP: LazyLock<Regex> = LazyLock::new(|| {
    rx(&format!(
        r"^(?i:ric(?:orso|\.)|application|appl\.)\s*(?i:nn?\.|no\.|n°)?\s*(?P<num>[0-9]{{1,6}})\s?/\s?(?P<year>[0-9]{{4}}|[0-9]{{2}}){B}"
    ))
});
/// "della Corte costituzionale" / "delle Sezioni Unite" after a number-first citation.
static OF_COURT: LazyLock<Regex> =
    LazyLock::new(|| rx(r"^\s*,?\s*(?i:della|delle|dell['’]|del|dalla|dal)\s*"));
static OF_SU: LazyLock<Regex> =
    LazyLock::new(|| rx(r"^(?i:sezioni\s+unite)(?:\s+(?i:(?P<civ>civili)|(?P<pen>penali)))?"));
static PLACE: LazyLock<Regex> = LazyLock::new(|| {
    rx(r"^\p{Lu}[\p{L}'’]*(?:(?:[ \t]+|-)(?:(?:d['’]\s?|di[ \t]+|de[ \t]+))?\p{Lu}[\p{L}'’]*){0,4}")
});
static SEAT_AFTER: LazyLock<Regex> =
    LazyLock::new(|| rx(r"^\s*[,\-–]?\s*(?:(?i:(?:sez(?:ione|\.)\s+)?staccata\s+(?:di\s+)?))?"));
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"(?m)^\s*(?P<area>Civile|Penale)\s+(?:Ord|Sent|Decr|Ord\.|Sent\.|Decr\.)\.?\s+Sez\.\s*(?P<sec>[0-9A-Z]{1,2}(?:\s*-\s*[0-9])?)\s+Num\.\s*(?P<num>[0-9]{1,6})\s+Anno\s+(?P<year>[0-9]{4})",
    )
});

/// Words that end a place name read after a court keyword.
const PLACE_STOP: &[&str] = &[
    "Sez",
    "Sezione",
    "Sezioni",
    "Sent",
    "Sentenza",
    "Ord",
    "Ordinanza",
    "Decreto",
    "Civ",
    "Pen",
    "Grande",
    "Ad",
    "Il",
    "La",
    "Lo",
    "Le",
    "Gli",
    "In",
    "Con",
    "Per",
    "Nel",
    "Nella",
    "Ud",
    "Rv",
    "Pres",
    "Rel",
    "Est",
    "Cons",
    "Ricorso",
];

// ---------------------------------------------------------------------------------------------
// Scanner
// ---------------------------------------------------------------------------------------------

/// Qualifiers read between the court and the number.
#[derive(Default, Clone)]
struct Quals {
    area: Option<&'static str>,
    section: Option<String>,
    /// Year of the (last) date.
    date_year: Option<String>,
}

struct NumYear {
    /// Start of the number (or its "n."), for list continuations.
    start: usize,
    number: String,
    year: String,
    end: usize,
}

fn year_of(raw: &str, date_year: Option<&str>) -> String {
    if raw.len() == 4 {
        return raw.to_string();
    }
    if let Some(d) = date_year {
        return if d.ends_with(raw) {
            d.to_string()
        } else {
            raw.to_string()
        };
    }
    match raw.parse::<u32>() {
        Ok(y) if y <= 30 => format!("20{raw}"),
        Ok(_) => format!("19{raw}"),
        Err(_) => raw.to_string(),
    }
}

fn plausible_year(y: &str) -> bool {
    y.len() != 4 || y.parse::<u32>().is_ok_and(|y| (1800..=2100).contains(&y))
}

fn roman(s: &str) -> Option<u32> {
    let mut total = 0u32;
    let mut prev = 0u32;
    for c in s.chars().rev() {
        let v = match c {
            'I' => 1,
            'V' => 5,
            'X' => 10,
            _ => return None,
        };
        if v < prev {
            total = total.checked_sub(v)?;
        } else {
            total += v;
            prev = v;
        }
    }
    (total > 0).then_some(total)
}

fn date_year(c: &Captures) -> Option<String> {
    c.name("y1")
        .or_else(|| c.name("y2"))
        .map(|m| m.as_str().to_string())
}

struct Scanner<'t> {
    text: &'t str,
    out: Vec<DecisionCitation>,
}

impl<'t> Scanner<'t> {
    fn rest(&self, pos: usize) -> &'t str {
        &self.text[pos..]
    }

    fn skip_sep(&self, pos: usize) -> usize {
        pos + SEP.find(self.rest(pos)).map_or(0, |m| m.end())
    }

    fn run(&mut self) {
        let mut pos = 0;
        while pos < self.text.len() {
            let Some(c) = ANCHOR.captures_at(self.text, pos) else {
                break;
            };
            let m = c.get(0).expect("group 0");
            let next = match self.at_anchor(&c) {
                Some(end) if end > m.start() => end,
                _ => m.end().max(m.start() + 1),
            };
            pos = next;
            while !self.text.is_char_boundary(pos) {
                pos += 1;
            }
        }
    }

    /// Parse a citation at an anchor; Some(end) when one was produced.
    fn at_anchor(&mut self, c: &Captures) -> Option<usize> {
        let m = c.get(0)?;
        if let Some(e) = c.name("ecli") {
            let ecli = parse_ecli(e.as_str())?;
            let (court, area, number, year) = match (&ecli.court, &ecli.number) {
                (Some(court), Some(n)) => (
                    court.clone(),
                    ecli.area.clone(),
                    Some(n.clone()),
                    Some(ecli.year.clone()),
                ),
                (court, _) => (
                    court
                        .clone()
                        .unwrap_or_else(|| ecli.court_code.to_lowercase()),
                    None,
                    None,
                    Some(ecli.year.clone()),
                ),
            };
            let (id, key) = (ecli.id(), ecli.key());
            self.out.push(DecisionCitation {
                start: e.start(),
                end: e.end(),
                text: e.as_str().to_string(),
                id,
                key,
                court,
                area,
                section: None,
                number,
                year,
                ecli: Some(ecli.ecli),
            });
            return Some(e.end());
        }
        if c.name("sez").is_some() {
            return self.court_first("cass", m.start(), m.start(), Quals::default());
        }
        if c.name("causa").is_some() {
            return self.eu_case(false, m.start(), m.start());
        }
        if c.name("numfirst").is_some() {
            return self.number_first(m.start());
        }
        let group = COURT_GROUPS.iter().find(|g| c.name(g).is_some())?;
        let (court, after) = self.court_name(group, c)?;
        match court.as_str() {
            "cgue" | "tue" => self.eu_case(true, m.start(), after),
            _ => self.court_first(&court, m.start(), after, Quals::default()),
        }
    }

    /// Court code and end of the court name at an anchor (reading the seat for courts named
    /// after a place).
    fn court_name(&self, group: &str, c: &Captures) -> Option<(String, usize)> {
        let m = c.get(0)?;
        let needs_place = matches!(
            group,
            "cgt" | "tar" | "ctr" | "ctp" | "trib" | "tribmin" | "tribsorv" | "app" | "gdp"
        );
        if !needs_place {
            let code = match group {
                "cgue" => court_code(m.as_str()).unwrap_or("cgue"),
                other => other,
            };
            return Some((code.to_string(), m.end()));
        }
        let (place, mut end) = self.place(m.end())?;
        let head = match group {
            "cgt" => {
                let g = c.name("cgtg")?.as_str().to_lowercase();
                let grade = if g.starts_with('s') || g.starts_with("ii") || g.starts_with('2') {
                    "secondo"
                } else {
                    "primo"
                };
                format!("corte giustizia tributaria {grade} grado")
            }
            "tar" => "tar".to_string(),
            "ctr" => "ctr".to_string(),
            "ctp" => "ctp".to_string(),
            "trib" => "tribunale".to_string(),
            "tribmin" => "tribunale minorenni".to_string(),
            "tribsorv" => "tribunale sorveglianza".to_string(),
            "app" => "corte appello".to_string(),
            _ => "giudice pace".to_string(),
        };
        let mut name = format!("{head} {place}");
        if group == "tar" {
            // "TAR Lombardia, Milano" / "TAR Lombardia - Brescia" / "sez. staccata di Brescia".
            let s = SEAT_AFTER.find(self.rest(end))?;
            if let Some((seat, seat_end)) = self.place(end + s.end()) {
                let with_seat = format!("{name} {seat}");
                if court_code(&with_seat).is_some() {
                    name = with_seat;
                    end = seat_end;
                }
            }
            return court_code(&name).map(|c| (c.to_string(), end));
        }
        court_id(&name).map(|c| (c, end))
    }

    /// A place name (capitalised words) at `pos`, cut before qualifier words.
    fn place(&self, pos: usize) -> Option<(String, usize)> {
        let m = PLACE.find(self.rest(pos))?;
        let s = m.as_str();
        let mut end = 0;
        for w in s.split([' ', '\t', '-']) {
            if w.is_empty() {
                continue;
            }
            let bare = w.trim_end_matches('.');
            if PLACE_STOP.contains(&bare) {
                break;
            }
            let off = w.as_ptr() as usize - s.as_ptr() as usize;
            end = off + w.len();
        }
        let place = s[..end].trim_end_matches(['\'', '’']);
        let end = place.len();
        (end > 0).then(|| (place.to_string(), pos + end))
    }

    /// Qualifiers (area, section, type, date) from `pos`; returns them and the position after.
    fn qualifiers(&self, court: &str, mut pos: usize, q: &mut Quals) -> usize {
        for _ in 0..12 {
            let sep = SEP.find(self.rest(pos)).map_or(0, |m| m.end());
            let p = pos + sep;
            let r = self.rest(p);
            if let Some(c) = SECTION.captures(r) {
                if let Some(s) = section_of(&c) {
                    q.section = Some(s.0);
                    if let Some(a) = s.1 {
                        q.area = Some(a);
                    }
                    let m = c.get(0).expect("group 0");
                    if m.end() > 0 {
                        pos = p + m.end();
                        continue;
                    }
                }
            }
            if let Some(c) = AREA.captures(r) {
                q.area = Some(if c.name("pen").is_some() {
                    "pen"
                } else {
                    "civ"
                });
                let l = r.get(..4).unwrap_or(r).to_lowercase();
                if l.starts_with("lav") {
                    q.section.get_or_insert_with(|| "L".to_string());
                } else if l.starts_with("trib") {
                    q.section.get_or_insert_with(|| "T".to_string());
                }
                pos = p + c.get(0).expect("group 0").end();
                continue;
            }
            if matches!(court, "cds" | "cgars" | "cdc") || court.starts_with("tar") {
                if let Some(c) = BARE_ROMAN.captures(r) {
                    if let Some(n) = roman(&c["rom"]) {
                        let suf = c.name("romsuf").map(|m| format!("-{}", m.as_str()));
                        q.section = Some(format!("{n}{}", suf.unwrap_or_default()));
                        pos = p + c.get(0).expect("group 0").end();
                        continue;
                    }
                }
            }
            if let Some(m) = DOCTYPE.find(r) {
                if m.end() > 0 {
                    pos = p + m.end();
                    continue;
                }
            }
            if let Some(c) = DATE_Q.captures(r) {
                q.date_year = date_year(&c);
                pos = p + c.get(0).expect("group 0").end();
                continue;
            }
            if matches!(court, "cedu" | "cgue" | "tue") {
                if let Some(m) = PARTIES.find(r) {
                    pos = p + m.end();
                    continue;
                }
            }
            break;
        }
        pos
    }

    /// Number and year at `pos` (after qualifiers).
    fn number_year(&self, pos: usize, q: &Quals, cont: bool) -> Option<NumYear> {
        let pos = if cont { pos } else { self.skip_sep(pos) };
        let r = self.rest(pos);
        let (num, has_n, start, mut end) = if cont {
            let c = CONT.captures(r)?;
            let n = c.name("num")?;
            (
                n.as_str(),
                true,
                pos + c.name("body")?.start(),
                pos + n.end(),
            )
        } else {
            let c = NUMBER.captures(r)?;
            let n = c.name("num")?;
            (n.as_str(), c.name("n").is_some(), pos, pos + n.end())
        };
        let r = self.rest(end);
        let year = if let Some(c) = SLASH_YEAR.captures(r) {
            end += c.get(0)?.end();
            Some(year_of(&c["year"], q.date_year.as_deref()))
        } else if let Some(c) = DEL_YEAR.captures(r) {
            end += c.get(0)?.end();
            let y = c
                .name("year")
                .map(|m| m.as_str().to_string())
                .or_else(|| date_year(&c))?;
            Some(y)
        } else if has_n && !cont {
            q.date_year.clone()
        } else {
            None
        }?;
        if !plausible_year(&year) || RG.is_match(self.rest(end)) {
            return None;
        }
        let mut year = year;
        if let Some(c) = DEP.captures(self.rest(end)) {
            year = c["year"].to_string();
            end += c.get(0)?.end();
        }
        Some(NumYear {
            start,
            number: norm_number(num),
            year,
            end,
        })
    }

    /// "Rv. ..." and ECLI after a citation: the new end and the ECLI.
    fn trailer(&self, mut end: usize) -> (usize, Option<Ecli>) {
        if let Some(m) = RV.find(self.rest(end)) {
            let t = m.as_str().trim_end();
            // Keep a closing parenthesis only when the "Rv." opened one.
            let t = if t.ends_with(')') && !t.contains('(') {
                t[..t.len() - 1].trim_end()
            } else {
                t
            };
            end += t.len();
        }
        let mut ecli = None;
        if let Some(c) = ECLI_AFTER.captures(self.rest(end)) {
            if let Some(e) = parse_ecli(&c["e"]) {
                end += c.name("e").map_or(0, |m| m.end());
                ecli = Some(e);
            }
        }
        (end, ecli)
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        start: usize,
        end: usize,
        court: &str,
        q: &Quals,
        number: &str,
        year: &str,
        ecli: Option<Ecli>,
    ) {
        let (mut court, mut area, mut number, mut year) = (
            court.to_string(),
            q.area.map(str::to_string),
            number.to_string(),
            year.to_string(),
        );
        if let Some(e) = &ecli {
            if let (Some(c), Some(n)) = (&e.court, &e.number) {
                court = c.clone();
                number = n.clone();
                year = e.year.clone();
                if e.area.is_some() {
                    area = e.area.clone();
                }
            }
        }
        if EU_COURTS.contains(&court.as_str()) {
            area = None;
        }
        let text = self.text[start..end].trim_end();
        let end = start + text.len();
        self.out.push(DecisionCitation {
            start,
            end,
            text: text.to_string(),
            id: decision_id(&court, area.as_deref(), &number, &year),
            key: decision_key(&court, &number, &year),
            court,
            area,
            section: q.section.clone(),
            number: Some(number),
            year: Some(year),
            ecli: ecli.map(|e| e.ecli),
        });
    }

    /// `<court> [qualifiers] <number> [year]` (+ list continuations).
    fn court_first(
        &mut self,
        court: &str,
        start: usize,
        after: usize,
        mut q: Quals,
    ) -> Option<usize> {
        if court == "cedu" {
            return self.cedu(start, after);
        }
        let pos = self.qualifiers(court, after, &mut q);
        let ny = self.number_year(pos, &q, false)?;
        let (end, ecli) = self.trailer(ny.end);
        self.push(start, end, court, &q, &ny.number, &ny.year, ecli);
        Some(self.continuations(court, &q, end))
    }

    /// List continuations ("; 16775 del 2020", "e n. 35/2017"): same court, area and section.
    fn continuations(&mut self, court: &str, q: &Quals, mut end: usize) -> usize {
        let cq = Quals {
            date_year: None,
            ..q.clone()
        };
        for _ in 0..50 {
            let Some(ny) = self.number_year(end, &cq, true) else {
                break;
            };
            let (e, ecli) = self.trailer(ny.end);
            self.push(ny.start, e, court, &cq, &ny.number, &ny.year, ecli);
            end = e;
        }
        end
    }

    /// Corte EDU: application number.
    fn cedu(&mut self, start: usize, after: usize) -> Option<usize> {
        let mut q = Quals::default();
        let pos = self.skip_sep(self.qualifiers("cedu", after, &mut q));
        let c = CEDU_APP.captures(self.rest(pos))?;
        let year = year_of(&c["year"], None);
        let end = pos + c.get(0)?.end();
        let (end, ecli) = self.trailer(end);
        self.push(start, end, "cedu", &q, &c["num"], &year, ecli);
        Some(end)
    }

    /// EU case numbers: "Corte giust. UE, 16 luglio 2020, C-311/18", "causa C-311/18".
    fn eu_case(&mut self, court: bool, start: usize, after: usize) -> Option<usize> {
        let mut q = Quals::default();
        let pos = if court {
            self.skip_sep(self.qualifiers("cgue", after, &mut q))
        } else {
            after
        };
        let c = EU_CASE.captures(self.rest(pos))?;
        let mut end = pos + c.get(0)?.end();
        let mut cases = vec![(
            start,
            end,
            c["l"].to_string(),
            c["num"].to_string(),
            c["year"].to_string(),
        )];
        while let Some(c) = EU_CONT.captures(self.rest(end)) {
            let m = c.get(0)?;
            let s = end + c.name("l")?.start();
            end += m.end();
            cases.push((
                s,
                end,
                c["l"].to_string(),
                c["num"].to_string(),
                c["year"].to_string(),
            ));
        }
        let n = cases.len();
        for (i, (s, mut e, l, num, y)) in cases.into_iter().enumerate() {
            // The case letter names the court (C: Corte di giustizia, T: Tribunale, F: Tribunale
            // della funzione pubblica), whatever court name was written.
            let code = match l.as_str() {
                "T" => "tue",
                "F" => "tfp",
                _ => "cgue",
            };
            let mut ecli = None;
            if i + 1 == n {
                let t = self.trailer(e);
                e = t.0;
                ecli = t.1;
            }
            let number = format!("{l}-{}", norm_number(&num));
            let year = year_of(&y, None);
            self.push(s, e, code, &q, &number, &year, ecli);
        }
        Some(end)
    }

    /// "sentenza n. 204 del 2004 della Corte costituzionale"; "Sentenza n. 11167 del 6 aprile
    /// 2022, Rv. 664412-01" (Cassazione).
    fn number_first(&mut self, start: usize) -> Option<usize> {
        let d = DOCTYPE.find(self.rest(start))?;
        let pos = start + d.end();
        let pos = pos + SEP.find(self.rest(pos)).map_or(0, |m| m.end());
        let ny = self.number_year(pos, &Quals::default(), false)?;
        let r = self.rest(ny.end);
        if RV_AHEAD.is_match(r) {
            let (end, ecli) = self.trailer(ny.end);
            self.push(
                start,
                end,
                "cass",
                &Quals::default(),
                &ny.number,
                &ny.year,
                ecli,
            );
            return Some(end);
        }
        let of = OF_COURT.find(r)?;
        let cpos = ny.end + of.end();
        let cr = self.rest(cpos);
        let mut q = Quals::default();
        let (court, cend) = if let Some(c) = OF_SU.captures(cr) {
            q.section = Some("U".to_string());
            q.area = if c.name("civ").is_some() {
                Some("civ")
            } else if c.name("pen").is_some() {
                Some("pen")
            } else {
                None
            };
            ("cass".to_string(), cpos + c.get(0)?.end())
        } else {
            let c = COURT_AT.captures(cr)?;
            let group = COURT_GROUPS.iter().find(|g| c.name(g).is_some())?;
            let (court, e) = self.court_name(group, &c)?;
            (court, cpos + e)
        };
        if EU_COURTS.contains(&court.as_str()) {
            return None;
        }
        self.push(start, cend, &court, &q, &ny.number, &ny.year, None);
        Some(cend)
    }
}

/// (section, area implied) from a SECTION match.
fn section_of(c: &Captures) -> Option<(String, Option<&'static str>)> {
    let mut area = if c.name("sciv").is_some() {
        Some("civ")
    } else if c.name("spen").is_some() {
        Some("pen")
    } else {
        None
    };
    let s = if c.name("un").is_some() || c.name("su").is_some() {
        "U".to_string()
    } else if c.name("l").is_some() {
        area = area.or(Some("civ"));
        "L".to_string()
    } else if c.name("t").is_some() {
        area = area.or(Some("civ"));
        "T".to_string()
    } else if c.name("f").is_some() {
        "F".to_string()
    } else if let Some(n) = c.name("num") {
        let n = norm_number(n.as_str());
        match c.name("sub") {
            Some(sub) => {
                area = area.or(Some("civ"));
                format!("{n}-{}", sub.as_str())
            }
            None => n,
        }
    } else if let Some(r) = c.name("rom") {
        let n = roman(r.as_str())?;
        match (c.name("romsuf"), c.name("romsub")) {
            (Some(s), _) => format!("{n}-{}", s.as_str().to_lowercase()),
            (None, Some(sub)) => {
                // "VI-5": a civil sub-section.
                area = area.or(Some("civ"));
                format!("{n}-{}", sub.as_str())
            }
            (None, None) => n.to_string(),
        }
    } else if let Some(o) = c.name("ord") {
        let i = [
            "prima", "seconda", "terza", "quarta", "quinta", "sesta", "settima",
        ]
        .iter()
        .position(|w| o.as_str().eq_ignore_ascii_case(w))?;
        (i + 1).to_string()
    } else if let Some(p) = c.name("giurplace") {
        format!("giur-{}", slug(&significant(p.as_str())))
    } else if c.name("riun").is_some() {
        "riun".to_string()
    } else if c.name("ap").is_some() {
        "ap".to_string()
    } else if c.name("gs").is_some() {
        "gs".to_string()
    } else if c.name("gc").is_some() {
        "gc".to_string()
    } else {
        return None;
    };
    Some((s, area))
}

/// Every decision cited in `text`, in text order. See the module docs for the forms.
pub fn find_decision_citations(text: &str) -> Vec<DecisionCitation> {
    let mut sc = Scanner {
        text,
        out: Vec::new(),
    };
    sc.run();
    let mut out = sc.out;
    out.sort_by_key(|c| (c.start, c.end));
    out
}

/// The decision a Cassazione (italgiure) text is, from its stamp "Civile Ord. Sez. 5 Num. 30039
/// Anno 2025" → `it:cass:civ:2025;30039`: the id an ingested decision gets, equal to the id of
/// its citations. `start`/`end`/`text` are the stamp.
pub fn decision_from_header(text: &str) -> Option<DecisionCitation> {
    let c = HEADER.captures(text)?;
    let m = c.get(0)?;
    let area = if &c["area"] == "Civile" { "civ" } else { "pen" };
    let sec = c["sec"].split_whitespace().collect::<String>();
    let lead = m.as_str().len() - m.as_str().trim_start().len();
    Some(DecisionCitation {
        start: m.start() + lead,
        end: m.end(),
        text: m.as_str().trim_start().to_string(),
        id: decision_id("cass", Some(area), &c["num"], &c["year"]),
        key: decision_key("cass", &c["num"], &c["year"]),
        court: "cass".to_string(),
        area: Some(area.to_string()),
        section: Some(sec),
        number: Some(norm_number(&c["num"])),
        year: Some(c["year"].to_string()),
        ecli: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        text: &'static str,
        /// (id, cited text) in text order.
        expect: &'static [(&'static str, &'static str)],
    }

    /// A corpus file, from the repository's `fixtures/`.
    fn corpus_file(rel: &str) -> String {
        let p = format!("{}/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn check_spans(text: &str, cits: &[DecisionCitation]) {
        for c in cits {
            assert!(c.start < c.end && c.end <= text.len(), "{c:?}");
            assert_eq!(&text[c.start..c.end], c.text);
            assert_eq!(c.text.trim(), c.text, "span with outer whitespace: {c:?}");
            if let (Some(n), Some(y)) = (&c.number, &c.year) {
                assert_eq!(c.key, decision_key(&c.court, n, y), "{c:?}");
                assert_eq!(
                    c.id,
                    decision_id(&c.court, c.area.as_deref(), n, y),
                    "{c:?}"
                );
            }
        }
    }

    fn run(cases: &[Case]) {
        for case in cases {
            let cits = find_decision_citations(case.text);
            check_spans(case.text, &cits);
            let got: Vec<(&str, &str)> = cits
                .iter()
                .map(|c| (c.id.as_str(), c.text.as_str()))
                .collect();
            assert_eq!(got, case.expect, "text: {:?}\n{cits:#?}", case.text);
        }
    }

    /// Real sentences from the corpus (file:line; PDFs as `pdftotext -layout` output), ids checked
    /// by hand. Files: fixtures/jurisprudence/, fixtures/norm/ (Normattiva
    /// editorial notes, line of the XML, tags stripped).
    #[rustfmt::skip]
    const CORPUS: &[Case] = &[
        // cass_snciv2025530039O.txt:122-123
        Case {
            text: "ed effettiva sia dal punto di vista grafico che contenutistico (Cass. civ.,\nSez. U., sentenza n. 8053 del 7 aprile 2014, Rv. 629830-01), ponendosi",
            expect: &[("it:cass:civ:2014;8053", "Cass. civ.,\nSez. U., sentenza n. 8053 del 7 aprile 2014, Rv. 629830-01")],
        },
        // cass_snciv2025530039O.txt:147-149 (Rv. split over lines; "Sez. T" = tributaria → civ)
        Case {
            text: "tra cui Cass. civ., Sez. 1, ordinanza n. 7090 del 3 marzo 2022, Rv.\n664120-01, nonché Cass. civ., Sez. T, ordinanza n. 6986 del 9 marzo\n2023, Rv. 667340-01, in motivazione).",
            expect: &[
                ("it:cass:civ:2022;7090", "Cass. civ., Sez. 1, ordinanza n. 7090 del 3 marzo 2022, Rv.\n664120-01"),
                ("it:cass:civ:2023;6986", "Cass. civ., Sez. T, ordinanza n. 6986 del 9 marzo\n2023, Rv. 667340-01"),
            ],
        },
        // cass_snciv2025530039O.txt:244-247
        Case {
            text: "perciò al sindacato di legittimità.» (Cass. civ., Sez. 1, ordinanza n. 640\ndel 14 gennaio 2019, Rv. 652398-01; conf. Cass. civ., Sez. 3, sentenza\nn. 7187 del 4 marzo 2022, Rv. 664394-01; cfr., altresì, in epoca recente,\nCass. civ., Sez. 5, sentenza n. 25182 del 19 settembre 2024, secondo cui",
            expect: &[
                ("it:cass:civ:2019;640", "Cass. civ., Sez. 1, ordinanza n. 640\ndel 14 gennaio 2019, Rv. 652398-01"),
                ("it:cass:civ:2022;7187", "Cass. civ., Sez. 3, sentenza\nn. 7187 del 4 marzo 2022, Rv. 664394-01"),
                ("it:cass:civ:2024;25182", "Cass. civ., Sez. 5, sentenza n. 25182 del 19 settembre 2024"),
            ],
        },
        // cass_snciv2025530039O.txt:263 (no section)
        Case {
            text: "suo insieme (Cass. civ., ordinanza n. 10927 del 23 aprile 2024, Rv.\n670888-01). E ciò",
            expect: &[("it:cass:civ:2024;10927", "Cass. civ., ordinanza n. 10927 del 23 aprile 2024, Rv.\n670888-01")],
        },
        // cass_snciv2025530039O.txt:358-359: no court written, but an italgiure "Rv." massima
        Case {
            text: "Aggiungasi che questa Corte regolatrice, sempre a sezioni unite\n(Sentenza n. 11167 del 6 aprile 2022, Rv. 664412-01), ha",
            expect: &[("it:cass:2022;11167", "Sentenza n. 11167 del 6 aprile 2022, Rv. 664412-01")],
        },
        // cass_snciv2025530039O.txt:23-24: the appealed decision (number/section/year)
        Case {
            text: "avverso la sentenza della Commissione Tributaria Regionale del\nPiemonte n. 1528/02/2017, pubblicata il 30 ottobre 2017;",
            expect: &[("it:ctr-piemonte:2017;1528", "Commissione Tributaria Regionale del\nPiemonte n. 1528/02/2017")],
        },
        // cass_snciv2025530638S.pdf (layout) :28 (regional capital → region)
        Case {
            text: "-controricorrente-\navverso la SENTENZA di COMMISSIONE TRIBUTARIA REGIONALE\nNAPOLI n. 9627/2017 depositata il 13/11/2017.",
            expect: &[("it:ctr-campania:2017;9627", "COMMISSIONE TRIBUTARIA REGIONALE\nNAPOLI n. 9627/2017")],
        },
        // cass_snciv_2025_n29955_tD.clean.pdf (layout) :37 ("n.4729")
        Case {
            text: "avverso SENTENZA di COMMISSIONE TRIBUTARIA REGIONALE\nROMA n.4729/2021 depositata il 25/10/2021",
            expect: &[("it:ctr-lazio:2021;4729", "COMMISSIONE TRIBUTARIA REGIONALE\nROMA n.4729/2021")],
        },
        // cass_snciv2025530636O.pdf (layout) :23
        Case {
            text: "-controricorrente-\navverso SENTENZA di COMMISSIONE TRIBUTARIA REGIONALE\nDELL’UMBRIA n. 507/2016 depositata il 25/10/2016.",
            expect: &[("it:ctr-umbria:2016;507", "COMMISSIONE TRIBUTARIA REGIONALE\nDELL’UMBRIA n. 507/2016")],
        },
        // cass_snciv2025530636O.pdf (layout) :59-61
        Case {
            text: "contribuente richiama, a sostegno della censura, la sentenza della\nCorte costituzionale n. 37 del 17 marzo 2015, che ha dichiarato",
            expect: &[("it:cost:2015;37", "Corte costituzionale n. 37 del 17 marzo 2015")],
        },
        // cass_snciv2025530636O.pdf (layout) :112 (justified spacing) and :112-113
        Case {
            text: "direttiva da lui delegato nell'esercizio dei poteri organizzativi” (Cass.       n.    18515    del    2010).",
            expect: &[("it:cass:2010;18515", "Cass.       n.    18515    del    2010")],
        },
        Case {
            text: "dell'art. 363, comma 3, c.p.c.) (Cass. n. 22810 del 2015; Cass. n.\n5177 del 2020).",
            expect: &[("it:cass:2015;22810", "Cass. n. 22810 del 2015"), ("it:cass:2020;5177", "Cass. n.\n5177 del 2020")],
        },
        // cass_snciv2025530638S.pdf (layout) :175, :303-306 ("S.U.", dd/mm/yyyy dates)
        Case {
            text: "procedendo” (Cass. Sez. U n. 8053 del 2014).",
            expect: &[("it:cass:2014;8053", "Cass. Sez. U n. 8053 del 2014")],
        },
        Case {
            text: "esperienza (Cass. n. 13807 del 22/05/2019; Cass. n. 4168\ndel 21/02/2018; Cass. n. 17833 del 19/07/2017; Cass. n.\n25129    del    7/12/2016;      già    Cass.    S.U.     n.    9961      del\n13/11/1996).",
            expect: &[
                ("it:cass:2019;13807", "Cass. n. 13807 del 22/05/2019"),
                ("it:cass:2018;4168", "Cass. n. 4168\ndel 21/02/2018"),
                ("it:cass:2017;17833", "Cass. n. 17833 del 19/07/2017"),
                ("it:cass:2016;25129", "Cass. n.\n25129    del    7/12/2016"),
                ("it:cass:1996;9961", "Cass.    S.U.     n.    9961      del\n13/11/1996"),
            ],
        },
        // cass_snciv2025530638S.pdf (layout) :363-367 (date before the number, Roman sections)
        Case {
            text: "l'indirizzo, il controllo e il coordinamento delle società (Cass.,\nSez. I, 26 febbraio 1990, n. 1439; Cass., Sez. I, 16 gennaio\n1999, n. 405; Cass., Sez. U., 29 novembre\n2006, n. 25275;",
            expect: &[
                ("it:cass:1990;1439", "Cass.,\nSez. I, 26 febbraio 1990, n. 1439"),
                ("it:cass:1999;405", "Cass., Sez. I, 16 gennaio\n1999, n. 405"),
                ("it:cass:2006;25275", "Cass., Sez. U., 29 novembre\n2006, n. 25275"),
            ],
        },
        // cass_snciv2025530638S.pdf (layout) :419-420 ("nn." list)
        Case {
            text: "giuridica contribuente” (Cass. nn. 11632 del 2024; 16775 del\n2020). Conseguentemente,",
            expect: &[("it:cass:2024;11632", "Cass. nn. 11632 del 2024"), ("it:cass:2020;16775", "16775 del\n2020")],
        },
        // cass_snciv2025530646O.pdf (layout) :10-11 and :79 ("Cass." without "n.")
        Case {
            text: "di correzione dell’errore materiale della sentenza della Corte di\ncassazione n. 30792 del 02/12/2024 pronunciata sul ricorso iscritto al",
            expect: &[("it:cass:2024;30792", "Corte di\ncassazione n. 30792 del 02/12/2024")],
        },
        Case {
            text: "procura (cfr. Cass. 15302 del 31/05/2023);",
            expect: &[("it:cass:2023;15302", "Cass. 15302 del 31/05/2023")],
        },
        // it_normattiva_codice_penale.xml:9083 (date range: decision - deposit)
        Case {
            text: "La Corte Costituzionale, con sentenza 19-22 febbraio 1985, n. 51 (in G.U. 1ª s.s. 27/02/1985, n. 50), ha dichiarato",
            expect: &[("it:cost:1985;51", "Corte Costituzionale, con sentenza 19-22 febbraio 1985, n. 51")],
        },
        // it_normattiva_codice_penale.xml:15935 (deposited the following year: the number's year)
        Case {
            text: "La Corte Costituzionale con sentenza 20 novembre 2025 - 22 gennaio 2026, n. 5 (in G.U. 1ª s.s. 28/1/2026, n. 4), ha dichiarato",
            expect: &[("it:cost:2026;5", "Corte Costituzionale con sentenza 20 novembre 2025 - 22 gennaio 2026, n. 5")],
        },
        // it_normattiva_dlgs_82_2005_CAD.xml:3439
        Case {
            text: "La Corte Costituzionale, con sentenza 11 dicembre 2024 - 23 gennaio 2025, n. 3 (in G.U. 1a s.s. 29/1/2025, n. 5), ha dichiarato",
            expect: &[("it:cost:2025;3", "Corte Costituzionale, con sentenza 11 dicembre 2024 - 23 gennaio 2025, n. 3")],
        },
        // it_normattiva_legge_bilancio_2023.xml:2313
        Case {
            text: "In considerazione della sentenza della Corte costituzionale n. 62 del 2020, in attuazione dell'accordo",
            expect: &[("it:cost:2020;62", "Corte costituzionale n. 62 del 2020")],
        },
    ];

    /// Texts that must not give a decision (file:line where from the corpus).
    #[rustfmt::skip]
    const NEGATIVE: &[&str] = &[
        // cass_snciv2025530039O.txt:12 (ruolo generale number, no court)
        "sul ricorso (iscritto al n. 12952/2018 R.G.) proposto da:",
        // cass_snciv2025530039O.txt:351-352 ("cassazione" lowercase is not a court here)
        "prospettata direttamente come motivo di ricorso per cassazione ex art.\n360, comma 1, n. 3), c.p.c.",
        // cass_snciv2025530039O.txt:385-386 (court, no number)
        "La Corte Suprema di Cassazione\nRigetta il ricorso e condanna il ricorrente al pagamento",
        // cass_snciv2025530039O.txt:2 (the decision's own stamp: see decision_from_header)
        "Civile Ord. Sez. 5   Num. 30039  Anno 2025",
        // cass_snciv2025530636O.pdf (layout) :65-66, :79
        "contribuente invoca, inoltre, plurime pronunce della Corte di\nCassazione dalle quali si evincerebbe",
        "da parte di funzionario investito dall’ordinanza n. 5451 del 18 novembre 2011",
        // cass_snciv2025530638S.pdf (layout) :81 (a lower court's decision, court not named)
        "quale, con sentenza n. 16051 del 3 ottobre 2016, accoglieva il",
        // cass_snciv2025530039O.txt:91-92, :381 (norms)
        "deducendo la violazione dell’art. 36 del d.lgs. n.\n546 del 1992 e dell’art. 112 c.p.c.",
        "dell’art. 13, comma 1-quater, del d.P.R. 30 maggio 2002, n. 115 -, da",
        // it_normattiva_codice_penale.xml:12638 (no decision number; the G.U. number is not one)
        "La Corte costituzionale con sentenza 7 aprile - 27 maggio 2025 (in G.U. 1ª s.s. 28/5/2025, n. 22) ha dichiarato",
        // it_normattiva_codice_penale.xml:12972 ("questa Corte": the citing court, unknown here)
        "introdotta con sentenza n. 68 del 2012 di questa Corte, in relazione al reato di sequestro",
        // it_normattiva_codice_penale.xml:8976
        "Registrato alla Corte dei conti, addi' 22 ottobre 1930-VIIII",
        // it_normattiva_legge_bilancio_2023.xml:8617
        "dell'ordinanza del Capo del Dipartimento della protezione civile n. 883 del 31 marzo 2022",
        // image/synthetic_it_legal.gt.txt:11
        "n. 3, c.p.c. e la sentenza n. 12345/2019 (perché, però, città).",
        // docx/ondata_email_schema_dati.docx (document.xml paragraph 2)
        "Basata sulla Legge 53 del 5 maggio 2022",
        // doctrine/tesi_piras_01-prova-scientifica.md:85, :59
        "con GNU *shred*, v. @GNUCoreutilsManual, sez. 11.6), è possibile",
        "La Legge 23 dicembre 1993, n. 547 (\"Modificazioni ed integrazioni\")",
        // synthetic
        "ai sensi della legge n. 241/1990 e della legge 7 agosto 1990, n. 241",
        "come stabilito al punto n. 12/2020 del verbale",
        "Cass. n. 1234/2018 R.G.",
        "Con ricorso n. 994 del 2009 la società espone",
        "in violazione dell'art. 6 CEDU e della Corte di giustizia",
    ];

    /// The forms of the brief and other common ones (synthetic).
    #[rustfmt::skip]
    const FORMS: &[(&str, &str, Option<&str>)] = &[
        // (text, id, section)
        ("Cass. n. 12345/2020", "it:cass:2020;12345", None),
        ("Cass., 12 marzo 2020, n. 12345", "it:cass:2020;12345", None),
        ("Cass. civ., sez. III, 12/03/2020, n. 12345", "it:cass:civ:2020;12345", Some("3")),
        ("Cass. Sez. U, n. 5 del 2021", "it:cass:2021;5", Some("U")),
        ("Cass. Sez. Un., 11 novembre 2008, n. 26972", "it:cass:2008;26972", Some("U")),
        ("Cass. pen., Sez. IV, n. 1234/2019", "it:cass:pen:2019;1234", Some("4")),
        ("Sez. U, Sentenza n. 11747 del 2019", "it:cass:2019;11747", Some("U")),
        ("Cass. sez. 5, ordinanza n. 30636 del 2025", "it:cass:2025;30636", Some("5")),
        ("Corte cost. sent. n. 204/2024", "it:cost:2024;204", None),
        ("Corte costituzionale, sentenza n. 204 del 2004", "it:cost:2004;204", None),
        ("C. cost. n. 1/2014", "it:cost:2014;1", None),
        ("Cons. Stato, sez. VI, n. 1234/2020", "it:cds:2020;1234", Some("6")),
        ("Cass. n. 28300 del 2023", "it:cass:2023;28300", None),
        ("Sez. 5, n. 1234 del 2020", "it:cass:2020;1234", Some("5")),
        ("(Cass. Sez. U. n. 2061/2021)", "it:cass:2021;2061", Some("U")),
        ("Cass. civ., Sez. Un., n. 12.345/2020", "it:cass:civ:2020;12345", Some("U")),
        ("Cass. sez. un. civ. n. 500/1999", "it:cass:civ:1999;500", Some("U")),
        ("Cass. SS.UU. n. 8053/2014", "it:cass:2014;8053", Some("U")),
        ("Cassazione civile, sez. lav., 05/02/2019, n. 3311", "it:cass:civ:2019;3311", Some("L")),
        ("Sez. L, Sentenza n. 123 del 2018", "it:cass:civ:2018;123", Some("L")),
        ("Sez. 6 - 5, Ordinanza n. 4567 del 2017", "it:cass:civ:2017;4567", Some("6-5")),
        ("Cass., sez. VI-5, ord. n. 4567/2017", "it:cass:civ:2017;4567", Some("6-5")),
        ("Cass. trib. n. 7/2021", "it:cass:civ:2021;7", Some("T")),
        ("Cass. pen., Sez. 4, n. 1234 del 12/12/2019 (dep. 2020)", "it:cass:pen:2020;1234", Some("4")),
        ("Cass. n. 12345/20", "it:cass:2020;12345", None),
        ("Cass. n. 4321/98", "it:cass:1998;4321", None),
        ("Cass., 12 marzo 2020, n. 12345/20", "it:cass:2020;12345", None),
        // two-digit year disagreeing with the date: kept as written
        ("Cass., 12 marzo 2019, n. 12345/20", "it:cass:20;12345", None),
        ("Corte di Cassazione, Sezione Quinta Civile, ordinanza n. 00123 del 2022", "it:cass:civ:2022;123", Some("5")),
        ("Cons. Stato, Ad. plen., n. 3/2020", "it:cds:2020;3", Some("ap")),
        ("Consiglio di Stato, sez. IV, 3 marzo 2021, n. 1845", "it:cds:2021;1845", Some("4")),
        ("TAR Lazio, Roma, sez. II, n. 1234/2020", "it:tar-lazio:2020;1234", Some("2")),
        ("T.A.R. per la Lombardia, Brescia, sez. I, 12 marzo 2020, n. 200", "it:tar-lombardia-brescia:2020;200", Some("1")),
        ("T.A.R. Calabria Catanzaro Sez. I, Sent., 17-10-2011, n. 1276", "it:tar-calabria:2011;1276", Some("1")),
        ("TAR Lombardia, Milano, II n. 3461 del 3 dicembre 2024", "it:tar-lombardia:2024;3461", Some("2")),
        ("T.A.R. della Puglia, Lecce, sez. II, n. 5/2020", "it:tar-puglia-lecce:2020;5", Some("2")),
        ("Corte dei conti, sez. giur. Lazio, n. 123/2020", "it:cdc:2020;123", Some("giur-lazio")),
        ("Trib. Milano, 12 marzo 2020, n. 1234", "it:trib-milano:2020;1234", None),
        ("Tribunale di Roma, sez. XVII, sentenza n. 4567 del 2019", "it:trib-roma:2019;4567", Some("17")),
        ("Corte d'appello di Milano, sent. n. 123/2021", "it:app-milano:2021;123", None),
        ("App. Reggio Calabria, 3 maggio 2018, n. 99", "it:app-reggio-calabria:2018;99", None),
        ("Corte di giustizia tributaria di secondo grado della Campania, sent. n. 55/2024", "it:cgt2-campania:2024;55", None),
        ("CTP di Alessandria n. 12/2015", "it:ctp-alessandria:2015;12", None),
        ("sentenza n. 204 del 2004 della Corte costituzionale", "it:cost:2004;204", None),
        ("ordinanza n. 123/2020 delle Sezioni Unite civili", "it:cass:civ:2020;123", Some("U")),
        ("causa C-311/18", "eu:cgue:2018;C-311", None),
        ("Corte giust. UE, Grande Sezione, 16 luglio 2020, C-311/18, Schrems II", "eu:cgue:2018;C-311", Some("gs")),
        ("Trib. UE, 5 ottobre 2020, causa T-249/17", "eu:tue:2017;T-249", None),
        ("Corte EDU, Grande Camera, 4 marzo 2014, Grande Stevens c. Italia, ric. n. 18640/10", "eu:cedu:2010;18640", Some("gc")),
        ("ECLI:IT:CASS:2020:12345CIV", "it:cass:civ:2020;12345", None),
        ("ECLI:IT:COST:2024:204", "it:cost:2024;204", None),
        ("ecli:it:cass:2019:1234pen.", "it:cass:pen:2019;1234", None),
        ("ECLI:EU:C:2019:123", "ecli:eu:c:2019:123", None),
    ];

    #[test]
    fn corpus_sentences() {
        run(CORPUS);
    }

    #[test]
    fn negatives_give_nothing() {
        for t in NEGATIVE {
            let c = find_decision_citations(t);
            assert!(c.is_empty(), "{t:?} gave {c:#?}");
        }
    }

    #[test]
    fn forms() {
        for (text, id, section) in FORMS {
            let c = find_decision_citations(text);
            check_spans(text, &c);
            assert_eq!(c.len(), 1, "{text:?}: {c:#?}");
            assert_eq!(c[0].id, *id, "{text:?}: {c:#?}");
            assert_eq!(c[0].section.as_deref(), *section, "{text:?}: {c:#?}");
        }
    }

    #[test]
    fn fields_and_keys() {
        let c = &find_decision_citations("Cass. civ., sez. III, 12/03/2020, n. 12.345")[0];
        assert_eq!(c.court, "cass");
        assert_eq!(c.area.as_deref(), Some("civ"));
        assert_eq!(c.number.as_deref(), Some("12345"));
        assert_eq!(c.year.as_deref(), Some("2020"));
        assert_eq!(c.key, "it:cass:2020;12345");
        assert_eq!(c.ecli, None);
        // Same decision, area not stated: different id, same key.
        let d = &find_decision_citations("Cass. n. 12345 del 2020")[0];
        assert_eq!(d.id, "it:cass:2020;12345");
        assert_eq!(d.key, c.key);
    }

    #[test]
    fn lists_and_trailers() {
        let t = "Corte cost. n. 1/2014 e n. 35/2017; cause riunite C-511/18, C-512/18 e C-520/18";
        let c = find_decision_citations(t);
        check_spans(t, &c);
        let got: Vec<(&str, &str)> = c.iter().map(|c| (c.id.as_str(), c.text.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("it:cost:2014;1", "Corte cost. n. 1/2014"),
                ("it:cost:2017;35", "n. 35/2017"),
                ("eu:cgue:2018;C-511", "cause riunite C-511/18"),
                ("eu:cgue:2018;C-512", "C-512/18"),
                ("eu:cgue:2018;C-520", "C-520/18"),
            ]
        );
        // An ECLI after the citation is attached, and gives the id.
        let t = "Corte cost., sentenza n. 204/2024, ECLI:IT:COST:2024:204.";
        let c = find_decision_citations(t);
        check_spans(t, &c);
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!(c[0].ecli.as_deref(), Some("ECLI:IT:COST:2024:204"));
        assert_eq!(c[0].id, "it:cost:2024;204");
        // The ECLI's area completes the text form.
        let t = "Cass. n. 12345/2020 (ECLI:IT:CASS:2020:12345CIV)";
        let c = find_decision_citations(t);
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!(c[0].id, "it:cass:civ:2020;12345");
        assert_eq!(c[0].key, "it:cass:2020;12345");
        // italgiure massima with "(Rv. ...)" in parentheses.
        let t = "Sez. 3 - , Ordinanza n. 30636 del 12/03/2020 (Rv. 657001 - 01).";
        let c = find_decision_citations(t);
        check_spans(t, &c);
        assert_eq!(
            c[0].text,
            "Sez. 3 - , Ordinanza n. 30636 del 12/03/2020 (Rv. 657001 - 01)"
        );
        assert_eq!(c[0].id, "it:cass:2020;30636");
    }

    #[test]
    fn ecli_parsing() {
        let e = parse_ecli("ECLI:IT:CASS:2020:12345CIV").expect("ecli");
        assert_eq!(e.court.as_deref(), Some("cass"));
        assert_eq!(e.area.as_deref(), Some("civ"));
        assert_eq!(e.number.as_deref(), Some("12345"));
        assert_eq!(e.year, "2020");
        assert_eq!(e.id(), "it:cass:civ:2020;12345");
        assert_eq!(e.key(), "it:cass:2020;12345");
        let e = parse_ecli("ecli:it:cost:2024:204").expect("ecli");
        assert_eq!(e.ecli, "ECLI:IT:COST:2024:204");
        assert_eq!(e.id(), "it:cost:2024;204");
        let e = parse_ecli("ECLI:EU:C:2019:123").expect("ecli");
        assert_eq!(
            (e.country.as_str(), e.court.as_deref()),
            ("EU", Some("cgue"))
        );
        assert_eq!(e.number, None);
        assert_eq!(e.id(), "ecli:eu:c:2019:123");
        let e = parse_ecli("ECLI:IT:TARLAZ:2020:1234SENT").expect("ecli");
        assert_eq!(e.court, None);
        assert_eq!(e.id(), "ecli:it:tarlaz:2020:1234sent");
        assert_eq!(parse_ecli("ECLI:IT:CASS:20:1"), None);
        assert_eq!(parse_ecli("Cass. n. 1/2020"), None);
    }

    #[test]
    fn ids_from_parts() {
        assert_eq!(
            decision_id("cass", Some("civ"), "12.345", "2020"),
            "it:cass:civ:2020;12345"
        );
        assert_eq!(
            decision_id("cass", None, "012345", "2020"),
            "it:cass:2020;12345"
        );
        assert_eq!(decision_id("CASS", Some(""), "5", "2021"), "it:cass:2021;5");
        assert_eq!(
            decision_id("cgue", Some("civ"), "c-311", "2018"),
            "eu:cgue:2018;C-311"
        );
        assert_eq!(decision_key("cass", "12345", "2020"), "it:cass:2020;12345");
    }

    #[test]
    fn ingested_decision_joins_its_citations() {
        // cass_snciv2025530039O.txt:2
        let text = corpus_file("jurisprudence/cass_snciv2025530039O.txt");
        let h = decision_from_header(&text).expect("italgiure stamp");
        assert_eq!(h.id, "it:cass:civ:2025;30039");
        assert_eq!(h.section.as_deref(), Some("5"));
        assert_eq!(&text[h.start..h.end], h.text);
        let cited =
            find_decision_citations("Cass. civ., sez. 5, ordinanza n. 30039 del 13/11/2025");
        assert_eq!(cited[0].id, h.id);
        let cited = find_decision_citations("Cass. n. 30039/2025");
        assert_eq!(cited[0].key, h.key);
        assert_eq!(
            decision_from_header("Civile Ord. Sez. 5 Num. 30636 Anno 2025")
                .map(|d| d.id)
                .as_deref(),
            Some("it:cass:civ:2025;30636")
        );
        assert_eq!(
            decision_from_header("Penale Sent. Sez. 4 Num. 1234 Anno 2019")
                .map(|d| d.id)
                .as_deref(),
            Some("it:cass:pen:2019;1234")
        );
        assert_eq!(decision_from_header("Il Presidente"), None);
    }

    #[test]
    fn court_codes() {
        for (name, code) in [
            ("Corte di Cassazione", "cass"),
            ("Corte Suprema di Cassazione", "cass"),
            ("Cass.", "cass"),
            ("Cassazione", "cass"),
            ("Corte costituzionale", "cost"),
            ("Corte cost.", "cost"),
            ("C. cost.", "cost"),
            ("Consiglio di Stato", "cds"),
            ("Cons. Stato", "cds"),
            ("C.d.S.", "cds"),
            ("Corte dei conti", "cdc"),
            ("T.A.R. Lazio", "tar-lazio"),
            ("TAR per il Lazio", "tar-lazio"),
            (
                "Tribunale amministrativo regionale della Lombardia",
                "tar-lombardia",
            ),
            ("TAR Lombardia - Brescia", "tar-lombardia-brescia"),
            ("TAR Brescia", "tar-lombardia-brescia"),
            ("TAR Emilia-Romagna", "tar-emilia-romagna"),
            ("CGUE", "cgue"),
            ("Corte di giustizia dell'Unione europea", "cgue"),
            ("Corte EDU", "cedu"),
            ("Corte europea dei diritti dell’uomo", "cedu"),
        ] {
            assert_eq!(court_code(name), Some(code), "{name}");
            assert_eq!(court_id(name).as_deref(), Some(code), "{name}");
        }
        for (name, id) in [
            ("Tribunale di Roma", "trib-roma"),
            (
                "Trib. Santa Maria Capua Vetere",
                "trib-santa-maria-capua-vetere",
            ),
            ("Corte d'appello di Milano", "app-milano"),
            (
                "Corte d’Appello di Reggio di Calabria",
                "app-reggio-calabria",
            ),
            (
                "Commissione tributaria regionale del Piemonte",
                "ctr-piemonte",
            ),
            ("CTR Napoli", "ctr-campania"),
            (
                "Commissione tributaria provinciale di Perugia",
                "ctp-perugia",
            ),
            (
                "Corte di giustizia tributaria di secondo grado della Campania",
                "cgt2-campania",
            ),
            (
                "Corte di giustizia tributaria di primo grado di Roma",
                "cgt1-roma",
            ),
            ("Giudice di pace di Bari", "gdp-bari"),
            ("Tribunale per i minorenni di Roma", "tribmin-roma"),
        ] {
            assert_eq!(court_id(name).as_deref(), Some(id), "{name}");
        }
        for name in [
            "Corte",
            "Tribunale",
            "Stato",
            "Sezione",
            "TAR",
            "Corte d'appello",
        ] {
            assert_eq!(court_id(name), None, "{name}");
        }
    }

    #[test]
    fn whole_corpus_files_are_precise() {
        // Every citation found in the Cassazione text is to Cassazione or to the appealed CTR
        // decision; none comes from norms/registry numbers.
        let text = corpus_file("jurisprudence/cass_snciv2025530039O.txt");
        let cits = find_decision_citations(&text);
        check_spans(&text, &cits);
        assert_eq!(cits.len(), 18, "{cits:#?}");
        assert!(cits
            .iter()
            .all(|c| c.court == "cass" || c.court == "ctr-piemonte"));
    }

    #[test]
    fn pathological_input_stays_fast() {
        let t = "Cass., Sez. U, ".repeat(20_000) + &"n. 1/2020; ".repeat(20_000);
        let c = find_decision_citations(&t);
        assert!(!c.is_empty());
    }
}

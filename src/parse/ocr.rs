//! OCR of scanned pages (PNG, JPEG and TIFF images; image-only PDFs) with Tesseract 5 through
//! its C API (`tesseract-sys`) and Leptonica (`leptonica-sys`). Needs the Debian packages
//! `libtesseract5`, `tesseract-ocr-ita`, `tesseract-ocr-eng`, `tesseract-ocr-osd` and, for PDFs,
//! `poppler-utils` (`pdftoppm`, `pdfinfo`).
//!
//! Each page:
//! 1. decoded by Leptonica and converted to 8-bit grey (transparency flattened onto white);
//! 2. orientation: Tesseract OSD (`osd.traineddata`, `DetectOrientationScript`) tells by how much
//!    the scan is turned clockwise, and the page is turned back before OCR. If OSD is missing
//!    or finds too little text and the reading is mediocre (mean word confidence below 85), or
//!    OSD answered but the reading is poor (below 60), the other right angles are tried too and
//!    the best mean confidence wins;
//! 3. degraded scans: a 3×3 median filter and a 2× upscale. Tried first on images whose stated
//!    resolution is below 200 dpi, otherwise as a retry when the mean confidence is below 85;
//!    the reading with the better confidence is kept. No fixed-threshold binarisation (it makes
//!    noisy scans worse): Tesseract thresholds the grey image itself;
//! 4. text clean-up: spaces trimmed, lines without a letter or digit dropped (scan borders),
//!    page numbers on the first or last line dropped, end-of-line hyphenation joined (`ricor-` / `rente` → `ricorrente`), paragraph breaks
//!    (blank lines) kept. A page with no letter or digit left, or whose mean confidence is below
//!    [`OcrConfig::min_confidence`], has no text (empty `text`).
//!
//! Threads: a call OCRs its pages one at a time on the calling thread, with Tesseract engines
//! of its own (initialised per call, about 0.4 s). Debian's libtesseract uses OpenMP, whose
//! extra threads make OCR about 4× slower on a busy 2-core machine. `OMP_THREAD_LIMIT=1` only
//! works in the environment the process starts with (libgomp reads it when it is loaded), so
//! before each recognition this module calls `omp_set_max_active_levels(0)` on the calling
//! thread (looked up with `dlsym`, skipped when the library has no OpenMP), which runs every
//! OpenMP region on that one thread. For parallelism, OCR several documents on several threads.
//!
//! Limits: the recognition attempts of one page share a 60 s budget (Tesseract's deadline
//! monitor), and a page that runs out of it has no text; images over 150 megapixels are refused;
//! `pdftoppm`/`pdfinfo` get 120 s per call. Leptonica's error messages are silenced and
//! Tesseract's diagnostics go to `/dev/null` (process-wide settings of those libraries).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::raw::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr::{self, NonNull};
use std::sync::Once;
use std::time::{Duration, Instant};

use leptonica_sys as lept;
use tesseract_sys as tess;

use crate::parse::textdoc::{BlockKind, TextDocument};

/// OCR settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct OcrConfig {
    /// Tesseract languages joined by `+` (traineddata names), e.g. `"ita+eng"`.
    pub languages: String,
    /// Resolution at which PDF pages are rasterised (clamped to 72..=1200).
    pub dpi: u32,
    /// Directory holding the `*.traineddata` files; `None`: `TESSDATA_PREFIX` or Tesseract's
    /// built-in default (`/usr/share/tesseract-ocr/5/tessdata` on Debian).
    pub tessdata_dir: Option<PathBuf>,
    /// Mean word confidence (0–100) below which a page counts as having no text. Upside-down or
    /// non-text pages read at 15–45, clean text at 90+, noisy scans at 70+.
    pub min_confidence: f32,
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            languages: "ita+eng".into(),
            dpi: 300,
            tessdata_dir: None,
            min_confidence: 40.0,
        }
    }
}

/// Why OCR gave no result.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error("empty input")]
    Empty,
    #[error("not an image (PNG, JPEG or TIFF expected): {0}")]
    NotAnImage(String),
    #[error("cannot decode the {0} image (corrupt or unsupported)")]
    Decode(&'static str),
    #[error("image too large: {width}x{height} pixels (limit {limit} pixels)")]
    TooLarge { width: u64, height: u64, limit: u64 },
    #[error("invalid OCR language list {0:?}: expected traineddata names joined by '+', like \"ita+eng\"")]
    InvalidLanguages(String),
    #[error("tesseract init failed for languages {languages:?}: {hint}")]
    TesseractInit { languages: String, hint: String },
    #[error("image processing failed: {0}")]
    Image(&'static str),
    #[error("not a PDF: no %PDF- header in the first 1024 bytes")]
    NotAPdf,
    #[error("PDF page {page} does not exist (pages are 1-based; the PDF has {pages})")]
    PageOutOfRange { page: usize, pages: usize },
    #[error("{0} not found: install the Debian package poppler-utils")]
    PdftoppmMissing(&'static str),
    #[error("PDF rasterising failed: {0}")]
    Pdftoppm(String),
    #[error("no text found (every page empty or below OCR confidence {min_confidence})")]
    NoText { min_confidence: f32 },
    #[error("OCR I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One OCRed page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OcrPage {
    /// Cleaned text: lines joined by "\n", paragraphs by "\n\n"; empty when the page has no text.
    pub text: String,
    /// Tesseract's mean word confidence, 0–100.
    pub confidence: f32,
    /// How far the scan was found turned clockwise (0, 90, 180, 270); it was turned back before
    /// OCR. Tesseract's layout analysis reads some sideways pages as they are, so without OSD a
    /// sideways page may read well at 0.
    pub rotation_degrees: u32,
}

/// OCR one image (PNG, JPEG or TIFF, told by its magic bytes); every page of a multi-page TIFF.
/// Pages without text are kept with empty text; [`OcrError::NoText`] when no page has any.
pub fn ocr_image(bytes: &[u8], cfg: &OcrConfig) -> Result<Vec<OcrPage>, OcrError> {
    let file = ImageFile::open(bytes)?;
    let first = file.page(0).unwrap_or(Err(OcrError::Decode(file.format)))?;
    let mut ocr = Ocr::new(cfg, true)?;
    let mut out = vec![ocr.page(&first)?];
    drop(first);
    for n in 1.. {
        match file.page(n) {
            Some(img) => out.push(ocr.page(&img?)?),
            None => break,
        }
    }
    if out.iter().all(|p| p.text.is_empty()) {
        return Err(no_text(cfg));
    }
    Ok(out)
}

/// Rasterise the given 1-based pages of a PDF (all pages when `None`) with
/// `pdftoppm -r <dpi> -gray -tiff`, one page at a time in a temporary directory, and OCR each
/// (pages too big for 150 megapixels at `dpi` get a lower one).
/// Returns (page, result) in ascending page order, duplicates removed; pages without text are
/// kept with empty text, and [`OcrError::NoText`] is returned when no page has any.
pub fn ocr_pdf(
    bytes: &[u8],
    pages: Option<&[usize]>,
    cfg: &OcrConfig,
) -> Result<Vec<(usize, OcrPage)>, OcrError> {
    if bytes.is_empty() {
        return Err(OcrError::Empty);
    }
    if !is_pdf(bytes) {
        return Err(OcrError::NotAPdf);
    }
    let mut ocr = Ocr::new(cfg, true)?;
    let dir = tempfile::Builder::new().prefix("ingest-ocr-").tempdir()?;
    let pdf = dir.path().join("in.pdf");
    std::fs::write(&pdf, bytes)?;
    let sizes = pdf_page_sizes(&pdf, dir.path())?;
    let count = sizes.len();
    let wanted: Vec<usize> = match pages {
        None => (1..=count).collect(),
        Some(list) => {
            let mut v = list.to_vec();
            v.sort_unstable();
            v.dedup();
            if let Some(&bad) = v.iter().find(|&&p| p == 0 || p > count) {
                return Err(OcrError::PageOutOfRange {
                    page: bad,
                    pages: count,
                });
            }
            v
        }
    };
    let dpi = cfg.dpi.clamp(72, 1200);
    let mut out = Vec::with_capacity(wanted.len());
    for p in wanted {
        let dpi = page_dpi(dpi, sizes[p - 1]);
        let tiff = rasterise(&pdf, p, dpi, dir.path())?;
        let file = ImageFile::open(&tiff)?;
        let mut img = file.page(0).unwrap_or(Err(OcrError::Decode("TIFF")))?;
        img.set_resolution(dpi as i32);
        out.push((p, ocr.page(&img)?));
    }
    if out.iter().all(|(_, p)| p.text.is_empty()) {
        return Err(no_text(cfg));
    }
    Ok(out)
}

/// [`ocr_image`] as a [`TextDocument`]: one [`BlockKind::Paragraph`] per paragraph (lines joined
/// with a space), 1-based page numbers (TIFF pages), `pages` = number of pages. Metadata:
/// `ocr` = `tesseract`, `ocr_languages`, `ocr_confidence` (mean over pages with text, one
/// decimal), and `pages_without_text` ("2,5") when some pages have none.
pub fn image_document(bytes: &[u8], cfg: &OcrConfig) -> Result<TextDocument, OcrError> {
    let pages = ocr_image(bytes, cfg)?;
    let numbered: Vec<(usize, OcrPage)> = pages
        .into_iter()
        .enumerate()
        .map(|(i, p)| (i + 1, p))
        .collect();
    Ok(to_document(&numbered, cfg))
}

/// [`ocr_pdf`] on every page as a [`TextDocument`], like [`image_document`]. A paragraph that
/// goes on over a page break (next page starts in lower case) is one block, on its first page.
pub fn pdf_document(bytes: &[u8], cfg: &OcrConfig) -> Result<TextDocument, OcrError> {
    let pages = ocr_pdf(bytes, None, cfg)?;
    Ok(to_document(&pages, cfg))
}

/// Character error rate: Levenshtein distance over chars divided by the reference length, after
/// collapsing whitespace runs to one space and trimming both. An empty reference gives 0.0 for
/// an empty hypothesis and 1.0 otherwise.
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let norm = |s: &str| -> Vec<char> {
        let mut v = Vec::new();
        for (i, w) in s.split_whitespace().enumerate() {
            if i > 0 {
                v.push(' ');
            }
            v.extend(w.chars());
        }
        v
    };
    let (r, h) = (norm(reference), norm(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    let mut cur = vec![0usize; h.len() + 1];
    for (i, rc) in r.iter().enumerate() {
        cur[0] = i + 1;
        for (j, hc) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rc != hc);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[h.len()] as f64 / r.len() as f64
}

// ---------------------------------------------------------------------------------------------
// Page pipeline

/// Below this mean confidence a reading is retried (other preprocessing; other rotations when
/// OSD gave no answer).
const GOOD_CONFIDENCE: f32 = 85.0;
/// Below this, an OSD answer is doubted and the other rotations are tried.
const POOR_CONFIDENCE: f32 = 60.0;
/// Images stating a lower resolution get the median + 2× upscale first.
const LOW_DPI: i32 = 200;
/// Time for all recognition attempts of one page.
const PAGE_BUDGET: Duration = Duration::from_secs(60);
/// Largest image accepted (width × height).
const MAX_PIXELS: u64 = 150_000_000;
/// Time limit for one `pdftoppm`/`pdfinfo` run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn no_text(cfg: &OcrConfig) -> OcrError {
    OcrError::NoText {
        min_confidence: cfg.min_confidence,
    }
}

/// The engines of one call.
struct Ocr {
    main: Engine,
    /// `None` when `osd.traineddata` is missing: orientation by trying rotations.
    osd: Option<Engine>,
    min_confidence: f32,
    budget: Duration,
}

/// One recognition of a page.
struct Reading {
    text: String,
    confidence: f32,
    rotation: u32,
}

impl Ocr {
    fn new(cfg: &OcrConfig, with_osd: bool) -> Result<Ocr, OcrError> {
        let langs = parse_languages(&cfg.languages)?;
        let datapath = match &cfg.tessdata_dir {
            Some(d) => Some(CString::new(d.to_string_lossy().into_owned()).map_err(|_| {
                OcrError::TesseractInit {
                    languages: cfg.languages.clone(),
                    hint: "tessdata_dir contains a NUL byte".into(),
                }
            })?),
            None => None,
        };
        let lang_c = CString::new(langs.join("+")).expect("validated: no NUL");
        let main = Engine::new(
            datapath.as_deref(),
            &lang_c,
            tess::TessOcrEngineMode_OEM_DEFAULT,
        )
        .ok_or_else(|| OcrError::TesseractInit {
            languages: cfg.languages.clone(),
            hint: init_hint(&langs, cfg.tessdata_dir.as_deref()),
        })?;
        let data_dir = tessdata_dir(cfg.tessdata_dir.as_deref());
        let osd_missing = data_dir.is_some_and(|d| !d.join("osd.traineddata").is_file());
        let osd = if with_osd && !osd_missing {
            Engine::new(
                datapath.as_deref(),
                c"osd",
                tess::TessOcrEngineMode_OEM_TESSERACT_ONLY,
            )
        } else {
            None
        };
        Ok(Ocr {
            main,
            osd,
            min_confidence: cfg.min_confidence,
            budget: PAGE_BUDGET,
        })
    }

    fn page(&mut self, img: &Pix) -> Result<OcrPage, OcrError> {
        let grey = img.to_grey()?;
        let deadline = Instant::now() + self.budget;
        let low_res = (1..LOW_DPI).contains(&grey.xres());
        let osd = self.osd.as_mut().and_then(|e| e.orientation(&grey));
        let first = osd.unwrap_or(0);
        let mut best = self.read(&grey, first, low_res, deadline)?;
        let doubt = if osd.is_some() {
            POOR_CONFIDENCE
        } else {
            GOOD_CONFIDENCE
        };
        if best.confidence < doubt {
            // Upside-down scans first; Tesseract's layout analysis reads some sideways text
            // as it is, so the first good reading ends the search.
            for rotation in [180, 0, 90, 270] {
                if best.confidence >= GOOD_CONFIDENCE {
                    break;
                }
                if rotation != first && Instant::now() < deadline {
                    let r = self.read(&grey, rotation, low_res, deadline)?;
                    if r.confidence > best.confidence {
                        best = r;
                    }
                }
            }
        }
        if best.confidence < GOOD_CONFIDENCE && Instant::now() < deadline {
            let r = self.read(&grey, best.rotation, !low_res, deadline)?;
            if r.confidence > best.confidence {
                best = r;
            }
        }
        if best.confidence < self.min_confidence {
            best.text.clear();
        }
        Ok(OcrPage {
            text: best.text,
            confidence: best.confidence,
            rotation_degrees: best.rotation,
        })
    }

    /// Turn the page back by `rotation` (clockwise degrees of the scan), optionally enhance, OCR.
    fn read(
        &mut self,
        grey: &Pix,
        rotation: u32,
        enhance: bool,
        deadline: Instant,
    ) -> Result<Reading, OcrError> {
        let turned;
        let upright = if rotation == 0 {
            grey
        } else {
            turned = grey.rotate_orth(((360 - rotation) / 90 % 4) as c_int)?;
            &turned
        };
        let enhanced;
        let input = if enhance {
            enhanced = upright.enhance()?;
            &enhanced
        } else {
            upright
        };
        let (text, confidence) = match self.main.recognise(input, deadline) {
            Some((raw, conf)) => {
                let text = clean_text(&raw);
                let conf = if text.is_empty() { 0.0 } else { conf };
                (text, conf)
            }
            None => (String::new(), 0.0),
        };
        Ok(Reading {
            text,
            confidence,
            rotation,
        })
    }
}

/// Languages split on '+', each a plausible traineddata name.
fn parse_languages(s: &str) -> Result<Vec<String>, OcrError> {
    let langs: Vec<String> = s.split('+').map(|l| l.trim().to_string()).collect();
    let ok = |l: &String| {
        !l.is_empty()
            && l.len() <= 64
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if langs.iter().all(ok) {
        Ok(langs)
    } else {
        Err(OcrError::InvalidLanguages(s.to_string()))
    }
}

/// The tessdata directory in use, as far as it can be told without Tesseract.
fn tessdata_dir(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = configured {
        return Some(d.to_path_buf());
    }
    let env = std::env::var_os("TESSDATA_PREFIX").map(PathBuf::from);
    let mut candidates = env.into_iter().chain(
        [
            "/usr/share/tesseract-ocr/5/tessdata",
            "/usr/share/tesseract-ocr/4.00/tessdata",
            "/usr/local/share/tessdata",
            "/usr/share/tessdata",
        ]
        .into_iter()
        .map(PathBuf::from),
    );
    candidates.find(|d| d.is_dir())
}

/// Which traineddata files are missing, and the Debian packages that ship them.
fn init_hint(langs: &[String], configured: Option<&Path>) -> String {
    let Some(dir) = tessdata_dir(configured) else {
        return "no tessdata directory found: install the Debian packages tesseract-ocr-<lang> (e.g. tesseract-ocr-ita) or set TESSDATA_PREFIX".into();
    };
    let missing: Vec<&String> = langs
        .iter()
        .filter(|l| !dir.join(format!("{l}.traineddata")).is_file())
        .collect();
    if missing.is_empty() {
        return format!(
            "traineddata present in {} but unusable (corrupt, or made for another Tesseract version)",
            dir.display()
        );
    }
    let names: Vec<&str> = missing.iter().map(|l| l.as_str()).collect();
    let packages: Vec<String> = missing
        .iter()
        .map(|l| format!("tesseract-ocr-{}", l.to_lowercase().replace('_', "-")))
        .collect();
    format!(
        "no traineddata for {} in {}: install the Debian package {}",
        names.join(", "),
        dir.display(),
        packages.join(" ")
    )
}

// ---------------------------------------------------------------------------------------------
// Text clean-up and documents

/// Trim, drop lines without a letter or digit and page numbers ("2 di 5", "- 3 -") on the
/// first or last line, join end-of-line hyphenation, keep paragraphs.
fn clean_text(raw: &str) -> String {
    let mut lines: Vec<String> = raw.lines().map(normalise_line).collect();
    for edge in [true, false] {
        let found = if edge {
            lines.iter().position(|l| !l.is_empty())
        } else {
            lines.iter().rposition(|l| !l.is_empty())
        };
        if let Some(i) = found {
            if is_page_number(&lines[i]) {
                lines[i].clear();
            }
        }
    }
    let mut paras: Vec<Vec<String>> = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    for line in lines {
        if line.is_empty() {
            if !cur.is_empty() {
                paras.push(std::mem::take(&mut cur));
            }
        } else if line.chars().any(char::is_alphanumeric) {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        paras.push(cur);
    }
    // A paragraph break after a hyphenated fragment is a layout artefact: the word goes on.
    let mut merged: Vec<Vec<String>> = Vec::new();
    for p in paras {
        if let Some(last) = merged.last_mut() {
            let tail = last.last().map(String::as_str).unwrap_or("");
            if hyphenated_end(tail).is_some() && starts_lowercase(&p[0]) {
                last.extend(p);
                continue;
            }
        }
        merged.push(p);
    }
    for p in merged.iter_mut() {
        let mut i = 0;
        while i + 1 < p.len() {
            let (a, b) = p.split_at_mut(i + 1);
            join_hyphenated(&mut a[i], &mut b[0]);
            if b[0].is_empty() {
                p.remove(i + 1);
            } else {
                i += 1;
            }
        }
    }
    merged
        .iter()
        .map(|p| p.join("\n"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// "2 di 5", "- 3 -", "pag. 4", "Page 2 of 9".
fn is_page_number(line: &str) -> bool {
    let words: Vec<String> = line
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—' | '/' | '.' | '|'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    line.chars().count() <= 24
        && words.iter().any(|w| w.chars().all(|c| c.is_ascii_digit()))
        && words.iter().all(|w| {
            w.chars().all(|c| c.is_ascii_digit())
                || matches!(w.as_str(), "di" | "pag" | "pagina" | "page" | "of" | "p")
        })
}

/// Whitespace runs to one space, trimmed; ligatures spelled out; soft hyphens inside the line
/// dropped.
fn normalise_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let out = out
        .replace(['\u{200B}', '\u{FEFF}'], "")
        .replace('\u{FB00}', "ff")
        .replace('\u{FB01}', "fi")
        .replace('\u{FB02}', "fl")
        .replace('\u{FB03}', "ffi")
        .replace('\u{FB04}', "ffl");
    match out.strip_suffix('\u{00AD}') {
        Some(head) => format!("{}\u{00AD}", head.replace('\u{00AD}', "")),
        None => out.replace('\u{00AD}', ""),
    }
}

/// Byte index of the hyphen ending `text` after a word fragment (two or more letters, or a
/// number as in `380-` / `bis`).
fn hyphenated_end(text: &str) -> Option<usize> {
    let last = text.rsplit(' ').next()?;
    let (hy_idx, hy) = last.char_indices().next_back()?;
    if !matches!(hy, '-' | '\u{00AD}' | '\u{2010}' | '¬') {
        return None;
    }
    let frag = &last[..hy_idx];
    let letters = frag.chars().count() >= 2 && frag.chars().all(char::is_alphabetic);
    let number = !frag.is_empty() && frag.chars().all(|c| c.is_ascii_digit());
    (letters || number).then(|| text.len() - last.len() + hy_idx)
}

fn starts_lowercase(text: &str) -> bool {
    text.chars().next().is_some_and(char::is_lowercase)
}

/// If `a` ends with a hyphenated fragment and `b` goes on in lower case, move `b`'s first word
/// onto `a` (without the hyphen, kept after a number: `380-bis`).
fn join_hyphenated(a: &mut String, b: &mut String) {
    let Some(hy) = hyphenated_end(a) else {
        return;
    };
    if !starts_lowercase(b) {
        return;
    }
    let number = a[..hy].ends_with(|c: char| c.is_ascii_digit());
    let (word, rest) = match b.split_once(' ') {
        Some((w, r)) => (w.to_string(), r.to_string()),
        None => (b.clone(), String::new()),
    };
    if number {
        a.truncate(hy);
        a.push('-');
    } else {
        a.truncate(hy);
    }
    a.push_str(&word);
    *b = rest;
}

fn to_document(pages: &[(usize, OcrPage)], cfg: &OcrConfig) -> TextDocument {
    let mut blocks: Vec<(BlockKind, u32, String)> = Vec::new();
    let mut empty = Vec::new();
    let mut conf_sum = 0.0f64;
    let mut with_text = 0usize;
    for (page_no, page) in pages {
        if page.text.is_empty() {
            empty.push(page_no.to_string());
            continue;
        }
        conf_sum += f64::from(page.confidence);
        with_text += 1;
        for (i, para) in page.text.split("\n\n").enumerate() {
            let mut text = para.lines().collect::<Vec<_>>().join(" ");
            if i == 0 {
                if let Some(last) = blocks.last_mut() {
                    if starts_lowercase(&text) {
                        if let Some(hy) = hyphenated_end(&last.2) {
                            last.2.truncate(hy);
                        } else {
                            last.2.push(' ');
                        }
                        last.2.push_str(&text);
                        continue;
                    }
                }
            }
            text.truncate(text.trim_end().len());
            blocks.push((BlockKind::Paragraph, *page_no as u32, text));
        }
    }
    let mut metadata = vec![
        ("ocr".to_string(), "tesseract".to_string()),
        ("ocr_languages".to_string(), cfg.languages.clone()),
        (
            "ocr_confidence".to_string(),
            format!("{:.1}", conf_sum / with_text.max(1) as f64),
        ),
    ];
    if !empty.is_empty() {
        metadata.push(("pages_without_text".to_string(), empty.join(",")));
    }
    let count = pages.iter().map(|(p, _)| *p).max().unwrap_or(0);
    TextDocument::from_blocks(blocks, metadata, count as u32)
}

// ---------------------------------------------------------------------------------------------
// PDF rasterising (poppler-utils)

/// Size in points (width × height) of every page, `None` where `pdfinfo` does not say.
fn pdf_page_sizes(pdf: &Path, dir: &Path) -> Result<Vec<Option<(f64, f64)>>, OcrError> {
    let args: [&std::ffi::OsStr; 5] = [
        "-f".as_ref(),
        "1".as_ref(),
        "-l".as_ref(),
        "1000000".as_ref(),
        pdf.as_os_str(),
    ];
    let out = run_tool("pdfinfo", &args, dir)?;
    let count: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| OcrError::Pdftoppm("pdfinfo printed no page count".into()))?;
    let mut sizes = vec![None; count];
    // "Page    1 size:  595.201 x 841.922 pts (A4)"
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("Page ") else {
            continue;
        };
        let Some((n, size)) = rest.split_once(" size:") else {
            continue;
        };
        let mut it = size.split_whitespace();
        let (w, x, h) = (it.next(), it.next(), it.next());
        if let (Ok(n), Some(Ok(w)), Some("x"), Some(Ok(h))) = (
            n.trim().parse::<usize>(),
            w.map(str::parse::<f64>),
            x,
            h.map(str::parse::<f64>),
        ) {
            if (1..=count).contains(&n) && w > 0.0 && h > 0.0 {
                sizes[n - 1] = Some((w, h));
            }
        }
    }
    Ok(sizes)
}

/// `dpi`, lowered for a page so big that it would pass [`MAX_PIXELS`].
fn page_dpi(dpi: u32, size: Option<(f64, f64)>) -> u32 {
    match size {
        Some((w, h)) => {
            let fit = (MAX_PIXELS as f64 / (w / 72.0 * h / 72.0)).sqrt() * 0.99;
            (dpi as f64).min(fit).max(1.0) as u32
        }
        None => dpi,
    }
}

/// `pdftoppm` one page to an uncompressed grey TIFF (PNG encoding would take longer than the
/// OCR of a simple page); returns its bytes (the file is removed).
fn rasterise(pdf: &Path, page: usize, dpi: u32, dir: &Path) -> Result<Vec<u8>, OcrError> {
    let stem = dir.join("page");
    let (p, r) = (page.to_string(), dpi.to_string());
    let args: [&std::ffi::OsStr; 11] = [
        "-r".as_ref(),
        r.as_ref(),
        "-gray".as_ref(),
        "-tiff".as_ref(),
        "-f".as_ref(),
        p.as_ref(),
        "-l".as_ref(),
        p.as_ref(),
        "-singlefile".as_ref(),
        pdf.as_os_str(),
        stem.as_os_str(),
    ];
    run_tool("pdftoppm", &args, dir)?;
    let tif = stem.with_extension("tif");
    let bytes = std::fs::read(&tif)
        .map_err(|e| OcrError::Pdftoppm(format!("pdftoppm wrote no image for page {page}: {e}")))?;
    std::fs::remove_file(&tif)?;
    Ok(bytes)
}

/// Run a poppler tool with output to files in `dir` and a time limit; its stdout.
fn run_tool(
    program: &'static str,
    args: &[&std::ffi::OsStr],
    dir: &Path,
) -> Result<String, OcrError> {
    let out_path = dir.join(format!("{program}.out"));
    let err_path = dir.join(format!("{program}.err"));
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OcrError::PdftoppmMissing(program))
        }
        Err(e) => return Err(e.into()),
    };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > TOOL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(OcrError::Pdftoppm(format!(
                "{program} timed out after {} s",
                TOOL_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if !status.success() {
        let err = std::fs::read(&err_path).unwrap_or_default();
        let err = String::from_utf8_lossy(&err);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(OcrError::Pdftoppm(format!(
            "{program} failed ({status}): {}",
            first.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&std::fs::read(&out_path)?).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Leptonica images

/// An owned reference to a Leptonica image (reference-counted by Leptonica).
struct Pix(NonNull<lept::PIX>);

impl Drop for Pix {
    fn drop(&mut self) {
        let mut p = self.0.as_ptr();
        // SAFETY: we own one reference; pixDestroy releases it and nulls our copy of the pointer.
        unsafe { lept::pixDestroy(&mut p) };
    }
}

impl Pix {
    /// Take ownership of a Leptonica result; null (allocation or format failure) → error.
    fn own(p: *mut lept::PIX, what: &'static str) -> Result<Pix, OcrError> {
        NonNull::new(p).map(Pix).ok_or(OcrError::Image(what))
    }

    fn ptr(&self) -> *mut lept::PIX {
        self.0.as_ptr()
    }

    fn width(&self) -> i32 {
        // SAFETY (all accessors and transforms below): `self` is a live image; Leptonica reads
        // it and returns a new image (or null), never keeping or freeing the input.
        unsafe { lept::pixGetWidth(self.ptr()) }
    }

    fn height(&self) -> i32 {
        unsafe { lept::pixGetHeight(self.ptr()) }
    }

    fn xres(&self) -> i32 {
        unsafe { lept::pixGetXRes(self.ptr()) }
    }

    fn set_resolution(&mut self, dpi: i32) {
        unsafe { lept::pixSetResolution(self.ptr(), dpi, dpi) };
    }

    /// 8-bit grey, no colormap; RGBA flattened onto white first.
    fn to_grey(&self) -> Result<Pix, OcrError> {
        let blended;
        let rgba =
            unsafe { lept::pixGetDepth(self.ptr()) == 32 && lept::pixGetSpp(self.ptr()) == 4 };
        let src = if rgba {
            blended = Pix::own(
                unsafe { lept::pixAlphaBlendUniform(self.ptr(), 0xffff_ff00) },
                "alpha blend",
            )?;
            &blended
        } else {
            self
        };
        Pix::own(
            unsafe { lept::pixConvertTo8(src.ptr(), 0) },
            "convert to grey",
        )
    }

    /// Rotated clockwise by `quads` right angles.
    fn rotate_orth(&self, quads: c_int) -> Result<Pix, OcrError> {
        Pix::own(unsafe { lept::pixRotateOrth(self.ptr(), quads) }, "rotate")
    }

    /// 3×3 median filter, then 2× upscale (linear interpolation); resolution doubled.
    fn enhance(&self) -> Result<Pix, OcrError> {
        let m = Pix::own(
            unsafe { lept::pixMedianFilter(self.ptr(), 3, 3) },
            "median filter",
        )?;
        Pix::own(unsafe { lept::pixScale(m.ptr(), 2.0, 2.0) }, "scale")
    }
}

/// An image file whose pages are decoded one at a time (a long TIFF is never whole in memory).
struct ImageFile<'a> {
    bytes: &'a [u8],
    format: &'static str,
}

impl<'a> ImageFile<'a> {
    /// Format by magic bytes, and a header that Leptonica can read, within [`MAX_PIXELS`].
    fn open(bytes: &'a [u8]) -> Result<ImageFile<'a>, OcrError> {
        global_init();
        if bytes.is_empty() {
            return Err(OcrError::Empty);
        }
        let format = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "PNG"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "JPEG"
        } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
            "TIFF"
        } else if is_pdf(bytes) {
            return Err(OcrError::NotAnImage("this is a PDF (use ocr_pdf)".into()));
        } else {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(OcrError::NotAnImage(format!(
                "unknown magic bytes {}",
                head.join(" ")
            )));
        };
        let (mut fmt, mut w, mut h, mut bps, mut spp, mut cmap) = (0, 0, 0, 0, 0, 0);
        // SAFETY: reads `bytes` only within its length; the out-pointers are live locals.
        let bad = unsafe {
            lept::pixReadHeaderMem(
                bytes.as_ptr(),
                bytes.len(),
                &mut fmt,
                &mut w,
                &mut h,
                &mut bps,
                &mut spp,
                &mut cmap,
            )
        };
        if bad != 0 || w <= 0 || h <= 0 {
            return Err(OcrError::Decode(format));
        }
        check_size(w, h)?;
        Ok(ImageFile { bytes, format })
    }

    /// Page `n` (0-based); `None` past the last page. TIFF pages are read up to the first one
    /// that cannot be decoded.
    fn page(&self, n: usize) -> Option<Result<Pix, OcrError>> {
        let p = if self.format == "TIFF" {
            let n = c_int::try_from(n).ok()?;
            // SAFETY: Leptonica reads `bytes` only within its length and returns a new image.
            unsafe { lept::pixReadMemTiff(self.bytes.as_ptr(), self.bytes.len(), n) }
        } else if n == 0 {
            // SAFETY: as above.
            unsafe { lept::pixReadMem(self.bytes.as_ptr(), self.bytes.len()) }
        } else {
            return None;
        };
        match Pix::own(p, "decode") {
            Ok(pix) => Some(check_size(pix.width(), pix.height()).map(|()| pix)),
            Err(_) if n == 0 => Some(Err(OcrError::Decode(self.format))),
            Err(_) => None,
        }
    }
}

fn is_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
}

fn check_size(w: i32, h: i32) -> Result<(), OcrError> {
    let (w, h) = (w.max(0) as u64, h.max(0) as u64);
    if w * h > MAX_PIXELS {
        return Err(OcrError::TooLarge {
            width: w,
            height: h,
            limit: MAX_PIXELS,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tesseract engines

/// A `TessBaseAPI` owned by one call on one thread (the type is neither `Send` nor `Sync`).
struct Engine(NonNull<tess::TessBaseAPI>);

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: we own the handle; TessBaseAPIDelete ends and frees it.
        unsafe { tess::TessBaseAPIDelete(self.0.as_ptr()) };
    }
}

/// Process-wide library settings, once: Leptonica's messages off.
fn global_init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets a global int in Leptonica.
        unsafe { lept::setMsgSeverity(lept::L_SEVERITY_NONE as c_int) };
    });
}

/// Run OpenMP regions started from this thread on this thread alone (see the module docs).
fn single_threaded_openmp() {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        }
        static SET_MAX_ACTIVE_LEVELS: std::sync::OnceLock<Option<extern "C" fn(c_int)>> =
            std::sync::OnceLock::new();
        let f = SET_MAX_ACTIVE_LEVELS.get_or_init(|| {
            // SAFETY: dlsym with RTLD_DEFAULT (null on Linux) only looks a symbol up in the
            // loaded libraries (libgomp comes with libtesseract). The OpenMP specification fixes
            // the function's signature: `void omp_set_max_active_levels(int)`.
            unsafe {
                let f = dlsym(ptr::null_mut(), c"omp_set_max_active_levels".as_ptr());
                (!f.is_null()).then(|| std::mem::transmute::<*mut c_void, extern "C" fn(c_int)>(f))
            }
        });
        if let Some(f) = f {
            f(0);
        }
    }
}

impl Engine {
    fn new(datapath: Option<&CStr>, lang: &CStr, oem: tess::TessOcrEngineMode) -> Option<Engine> {
        global_init();
        // SAFETY: create/init on a fresh handle; the C strings outlive the call (Tesseract
        // copies them). A handle whose init failed is still deleted by Drop.
        let api = NonNull::new(unsafe { tess::TessBaseAPICreate() })?;
        let engine = Engine(api);
        let rc = unsafe {
            tess::TessBaseAPIInit2(
                api.as_ptr(),
                datapath.map_or(ptr::null(), CStr::as_ptr),
                lang.as_ptr(),
                oem,
            )
        };
        if rc != 0 || !engine.loaded(lang) {
            return None;
        }
        #[cfg(unix)]
        unsafe {
            // Tesseract's diagnostics ("Empty page!!", "Too few characters", resolution
            // warnings) would garble the caller's output.
            tess::TessBaseAPISetVariable(
                api.as_ptr(),
                c"debug_file".as_ptr(),
                c"/dev/null".as_ptr(),
            );
        }
        Some(engine)
    }

    /// Whether every language of `lang` ("ita+eng") was loaded: Tesseract skips a missing
    /// language after the first one with only a message.
    fn loaded(&self, lang: &CStr) -> bool {
        let mut loaded = Vec::new();
        // SAFETY: live handle; the array is null-terminated, its strings are copied before
        // TessDeleteTextArray frees it.
        unsafe {
            let arr = tess::TessBaseAPIGetLoadedLanguagesAsVector(self.0.as_ptr());
            if arr.is_null() {
                return false;
            }
            let mut i = 0;
            while !(*arr.add(i)).is_null() {
                loaded.push(CStr::from_ptr(*arr.add(i)).to_string_lossy().into_owned());
                i += 1;
            }
            tess::TessDeleteTextArray(arr);
        }
        lang.to_string_lossy()
            .split('+')
            .all(|l| loaded.iter().any(|x| x == l))
    }

    fn set_image(&mut self, pix: &Pix) {
        // SAFETY: live handle and image; SetImage2 copies the image (Tesseract 5's thresholder
        // keeps a pixCopy) and holds no reference to ours.
        unsafe {
            tess::TessBaseAPISetImage2(self.0.as_ptr(), pix.ptr());
            if pix.xres() > 0 {
                tess::TessBaseAPISetSourceResolution(self.0.as_ptr(), pix.xres());
            }
        }
    }

    /// Text and mean word confidence; `None` when recognition fails or passes the deadline.
    fn recognise(&mut self, pix: &Pix, deadline: Instant) -> Option<(String, f32)> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        single_threaded_openmp();
        let api = self.0.as_ptr();
        let monitor = Monitor::new()?;
        let ms = c_int::try_from(left.as_millis())
            .unwrap_or(c_int::MAX)
            .max(1);
        self.set_image(pix);
        // SAFETY: live handle and monitor; the text is copied before TessDeleteText.
        unsafe {
            tess::TessMonitorSetDeadlineMSecs(monitor.0.as_ptr(), ms);
            tess::TessBaseAPISetPageSegMode(api, tess::TessPageSegMode_PSM_AUTO);
            let result = if tess::TessBaseAPIRecognize(api, monitor.0.as_ptr()) == 0 {
                let t = tess::TessBaseAPIGetUTF8Text(api);
                if t.is_null() {
                    None
                } else {
                    let s = CStr::from_ptr(t).to_string_lossy().into_owned();
                    tess::TessDeleteText(t);
                    Some((s, tess::TessBaseAPIMeanTextConf(api) as f32))
                }
            } else {
                None
            };
            tess::TessBaseAPIClear(api);
            result
        }
    }

    /// OSD: how far the page is turned clockwise (0, 90, 180, 270); `None` when OSD fails
    /// (too little text).
    fn orientation(&mut self, pix: &Pix) -> Option<u32> {
        single_threaded_openmp();
        let api = self.0.as_ptr();
        let (mut deg, mut conf, mut script, mut script_conf) = (0, 0f32, ptr::null(), 0f32);
        self.set_image(pix);
        // SAFETY: live handle; out-pointers are live locals; `script` points into Tesseract's
        // tables and is not used.
        let ok = unsafe {
            tess::TessBaseAPISetPageSegMode(api, tess::TessPageSegMode_PSM_OSD_ONLY);
            let ok = tess::TessBaseAPIDetectOrientationScript(
                api,
                &mut deg,
                &mut conf,
                &mut script,
                &mut script_conf,
            );
            tess::TessBaseAPIClear(api);
            ok
        };
        (ok != 0 && matches!(deg, 0 | 90 | 180 | 270)).then_some(deg as u32)
    }
}

/// A Tesseract progress monitor, used for its deadline.
struct Monitor(NonNull<tess::ETEXT_DESC>);

impl Monitor {
    fn new() -> Option<Monitor> {
        // SAFETY: plain allocation, freed in Drop.
        NonNull::new(unsafe { tess::TessMonitorCreate() }).map(Monitor)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // SAFETY: we own it and Tesseract keeps no reference after Recognize returns.
        unsafe { tess::TessMonitorDelete(self.0.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/image/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn ground_truth() -> String {
        String::from_utf8(fixture("synthetic_it_legal.gt.txt")).unwrap()
    }

    /// Encode an image (IFF_PNG, IFF_JFIF_JPEG, ...) with Leptonica.
    fn encode(pix: &Pix, format: u32) -> Vec<u8> {
        let (mut data, mut size) = (ptr::null_mut(), 0usize);
        unsafe {
            assert_eq!(
                lept::pixWriteMem(&mut data, &mut size, pix.ptr(), format as c_int),
                0
            );
            let v = std::slice::from_raw_parts(data, size).to_vec();
            lept::lept_free(data.cast());
            v
        }
    }

    fn synthetic_grey() -> Pix {
        ImageFile::open(&fixture("synthetic_it_legal_300dpi.png"))
            .unwrap()
            .page(0)
            .unwrap()
            .unwrap()
            .to_grey()
            .unwrap()
    }

    /// Deterministic noise: 64-bit LCG (Knuth's MMIX constants), fixed seed.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    /// A bad scan of the 300 dpi page: turned 1°, 3×3 blur, 150 dpi, grain ±60 and 1.6% salt
    /// and pepper.
    fn degrade(src: &Pix) -> Pix {
        unsafe {
            let r = Pix::own(
                lept::pixRotate(
                    src.ptr(),
                    1f32.to_radians(),
                    lept::L_ROTATE_AREA_MAP as c_int,
                    lept::L_BRING_IN_WHITE as c_int,
                    0,
                    0,
                ),
                "rotate",
            )
            .unwrap();
            let b = Pix::own(lept::pixBlockconv(r.ptr(), 1, 1), "blur").unwrap();
            let mut s = Pix::own(lept::pixScale(b.ptr(), 0.5, 0.5), "scale").unwrap();
            let mut rng = Lcg(42);
            for y in 0..s.height() {
                for x in 0..s.width() {
                    let mut v = 0u32;
                    lept::pixGetPixel(s.ptr(), x, y, &mut v);
                    let roll = rng.next() % 1000;
                    let nv = if roll < 8 {
                        0
                    } else if roll < 16 {
                        255
                    } else {
                        let n = (rng.next() % 61) as i32 + (rng.next() % 61) as i32 - 60;
                        (v as i32 + n).clamp(0, 255) as u32
                    };
                    lept::pixSetPixel(s.ptr(), x, y, nv);
                }
            }
            s.set_resolution(150);
            s
        }
    }

    fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        eprintln!("{what}: {:.2} s", t.elapsed().as_secs_f64());
        r
    }

    #[test]
    fn synthetic_png_cer_under_2_percent() {
        let cfg = OcrConfig::default();
        let pages = timed("synthetic 300 dpi PNG", || {
            ocr_image(&fixture("synthetic_it_legal_300dpi.png"), &cfg).unwrap()
        });
        assert_eq!(pages.len(), 1);
        let c = cer(&ground_truth(), &pages[0].text);
        eprintln!("synthetic CER {c:.4} conf {}", pages[0].confidence);
        assert!(c <= 0.02, "CER {c}\n{}", pages[0].text);
        assert_eq!(pages[0].rotation_degrees, 0);
        assert!(pages[0].confidence > 85.0);
    }

    #[test]
    fn degraded_scan_cer_under_3_percent() {
        let cfg = OcrConfig::default();
        let gt = ground_truth();
        let bad = degrade(&synthetic_grey());
        // Stated 150 dpi: enhanced first.
        let png = encode(&bad, lept::IFF_PNG);
        let pages = timed("degraded 150 dpi", || ocr_image(&png, &cfg).unwrap());
        let c = cer(&gt, &pages[0].text);
        eprintln!("degraded CER {c:.4} conf {}", pages[0].confidence);
        assert!(c <= 0.03, "CER {c}\n{}", pages[0].text);
        // No resolution stated: plain reading first, enhanced as the low-confidence retry.
        unsafe {
            lept::pixSetXRes(bad.ptr(), 0);
            lept::pixSetYRes(bad.ptr(), 0);
        }
        let png = encode(&bad, lept::IFF_PNG);
        let pages = timed("degraded, no dpi", || ocr_image(&png, &cfg).unwrap());
        let c = cer(&gt, &pages[0].text);
        eprintln!("degraded (no dpi) CER {c:.4} conf {}", pages[0].confidence);
        assert!(c <= 0.03, "CER {c}\n{}", pages[0].text);
    }

    #[test]
    fn sideways_jpeg_is_turned_back() {
        let turned = synthetic_grey().rotate_orth(1).unwrap();
        let jpeg = encode(&turned, lept::IFF_JFIF_JPEG);
        let pages = timed("sideways JPEG", || {
            ocr_image(&jpeg, &OcrConfig::default()).unwrap()
        });
        assert_eq!(pages[0].rotation_degrees, 90);
        let c = cer(&ground_truth(), &pages[0].text);
        assert!(c <= 0.02, "CER {c}\n{}", pages[0].text);
    }

    #[test]
    fn multipage_tiff_gives_every_page() {
        let page = synthetic_grey();
        let blank = Pix::own(unsafe { lept::pixCreate(1200, 800, 8) }, "create").unwrap();
        unsafe { lept::pixSetAll(blank.ptr()) };
        let tiff = unsafe {
            let pixa = lept::pixaCreate(2);
            lept::pixaAddPix(pixa, page.ptr(), lept::L_COPY as c_int);
            lept::pixaAddPix(pixa, blank.ptr(), lept::L_COPY as c_int);
            let (mut data, mut size) = (ptr::null_mut(), 0usize);
            assert_eq!(
                lept::pixaWriteMemMultipageTiff(&mut data, &mut size, pixa),
                0
            );
            let mut pixa = pixa;
            lept::pixaDestroy(&mut pixa);
            let v = std::slice::from_raw_parts(data, size).to_vec();
            lept::lept_free(data.cast());
            v
        };
        let doc = timed("2-page TIFF", || {
            image_document(&tiff, &OcrConfig::default()).unwrap()
        });
        assert_eq!(doc.pages, 2);
        assert!(doc.blocks.iter().all(|b| b.page == 1));
        assert!(doc.text.contains("LA CORTE SUPREMA DI CASSAZIONE"));
        let meta = |k: &str| {
            doc.metadata
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(meta("ocr"), Some("tesseract"));
        assert_eq!(meta("ocr_languages"), Some("ita+eng"));
        assert_eq!(meta("pages_without_text"), Some("2"));
        let conf: f32 = meta("ocr_confidence").unwrap().parse().unwrap();
        assert!(conf > 85.0);
    }

    #[test]
    fn scanned_pdfs_upright_and_upside_down() {
        let cfg = OcrConfig::default();
        let up = timed("upright PDF page", || {
            ocr_pdf(&fixture("docling_ocr_test_scanned.pdf"), None, &cfg).unwrap()
        });
        let down = timed("upside-down PDF page", || {
            ocr_pdf(
                &fixture("docling_ocr_test_rotated_180_scanned.pdf"),
                Some(&[1, 1]),
                &cfg,
            )
            .unwrap()
        });
        assert_eq!((up.len(), down.len()), (1, 1));
        let (up, down) = (&up[0].1, &down[0].1);
        for w in [
            "Docling",
            "bundles",
            "PDF",
            "document",
            "conversion",
            "JSON",
            "Markdown",
            "self contained",
            "package",
        ] {
            assert!(up.text.contains(w), "{w:?} missing in {:?}", up.text);
        }
        assert_eq!(up.rotation_degrees, 0);
        assert_eq!(down.rotation_degrees, 180);
        let c = cer(&up.text, &down.text);
        assert!(
            c <= 0.02,
            "upright vs upside-down CER {c}: {:?} / {:?}",
            up.text,
            down.text
        );
        let doc = pdf_document(&fixture("docling_ocr_test_rotated_180_scanned.pdf"), &cfg).unwrap();
        assert_eq!(doc.pages, 1);
        assert_eq!(doc.blocks[0].page, 1);
        assert!(
            doc.text
                .starts_with("Docling bundles PDF document conversion to JSON"),
            "{:?}",
            doc.text
        );
    }

    #[test]
    fn without_osd_rotations_are_tried() {
        let png = fixture("synthetic_it_legal_300dpi.png");
        let upside_down = synthetic_grey().rotate_orth(2).unwrap();
        let mut ocr = Ocr::new(&OcrConfig::default(), false).unwrap();
        let page = timed("upside down, no OSD", || ocr.page(&upside_down).unwrap());
        assert_eq!(page.rotation_degrees, 180);
        assert!(cer(&ground_truth(), &page.text) <= 0.02);
        let upright = ImageFile::open(&png).unwrap().page(0).unwrap().unwrap();
        assert_eq!(ocr.page(&upright).unwrap().rotation_degrees, 0);
    }

    #[test]
    fn page_budget_bounds_a_noise_page() {
        let mut noise = Pix::own(unsafe { lept::pixCreate(1500, 1500, 8) }, "create").unwrap();
        let mut rng = Lcg(7);
        for y in 0..1500 {
            for x in 0..1500 {
                unsafe { lept::pixSetPixel(noise.ptr(), x, y, rng.next() % 256) };
            }
        }
        noise.set_resolution(300);
        let mut ocr = Ocr::new(&OcrConfig::default(), true).unwrap();
        ocr.budget = Duration::from_secs(3);
        let t = Instant::now();
        let page = ocr.page(&noise).unwrap();
        eprintln!(
            "noise page: {:.1} s, conf {}",
            t.elapsed().as_secs_f64(),
            page.confidence
        );
        assert!(page.text.is_empty());
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg = OcrConfig::default();
        assert!(matches!(ocr_image(b"", &cfg), Err(OcrError::Empty)));
        assert!(matches!(
            ocr_image(b"\x00\x01garbage bytes", &cfg),
            Err(OcrError::NotAnImage(_))
        ));
        let pdf = fixture("docling_ocr_test_scanned.pdf");
        assert!(matches!(
            ocr_image(&pdf, &cfg),
            Err(OcrError::NotAnImage(_))
        ));
        let png = fixture("synthetic_it_legal_300dpi.png");
        assert!(matches!(
            ocr_image(&png[..8], &cfg),
            Err(OcrError::Decode("PNG"))
        ));
        assert!(ocr_image(&png[..png.len() / 2], &cfg).is_err());
        let mut fake_jpeg = vec![0xff, 0xd8, 0xff, 0xe0];
        fake_jpeg.extend_from_slice(&[0x55; 300]);
        assert!(matches!(
            ocr_image(&fake_jpeg, &cfg),
            Err(OcrError::Decode("JPEG"))
        ));
        assert!(matches!(
            ocr_image(b"II*\0\xff\xff\xff\xff", &cfg),
            Err(OcrError::Decode("TIFF"))
        ));

        let white = Pix::own(unsafe { lept::pixCreate(1700, 2200, 8) }, "create").unwrap();
        unsafe { lept::pixSetAll(white.ptr()) };
        let blank = encode(&white, lept::IFF_PNG);
        let e = ocr_image(&blank, &cfg).unwrap_err();
        assert!(matches!(e, OcrError::NoText { .. }), "{e}");
        assert!(matches!(
            image_document(&blank, &cfg),
            Err(OcrError::NoText { .. })
        ));

        assert!(matches!(ocr_pdf(b"", None, &cfg), Err(OcrError::Empty)));
        assert!(matches!(ocr_pdf(&png, None, &cfg), Err(OcrError::NotAPdf)));
        let broken = b"%PDF-1.4\n1 0 obj garbage\n%%EOF".to_vec();
        assert!(matches!(
            ocr_pdf(&broken, None, &cfg),
            Err(OcrError::Pdftoppm(_))
        ));
        assert!(matches!(
            ocr_pdf(&pdf, Some(&[2]), &cfg),
            Err(OcrError::PageOutOfRange { page: 2, pages: 1 })
        ));
        assert!(matches!(
            ocr_pdf(&pdf, Some(&[0]), &cfg),
            Err(OcrError::PageOutOfRange { page: 0, .. })
        ));
    }

    fn jurisprudence(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/fixtures/jurisprudence/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A real Cassazione page rendered at 300 dpi reads like its text layer.
    #[test]
    fn cassazione_page_matches_its_text_layer() {
        let pdf = jurisprudence("cass_snciv2025530636O.pdf");
        let pages = timed("Cassazione page 2 (dense A4)", || {
            ocr_pdf(&pdf, Some(&[2]), &OcrConfig::default()).unwrap()
        });
        let (n, page) = &pages[0];
        assert_eq!(*n, 2);
        let out = Command::new("pdftotext")
            .args(["-layout", "-f", "2", "-l", "2"])
            .arg(format!(
                "{}/fixtures/jurisprudence/cass_snciv2025530636O.pdf",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg("-")
            .output()
            .unwrap();
        // The watermark is vertical text that OCR leaves out; the text layer's apostrophes are
        // typographic.
        let layer = String::from_utf8_lossy(&out.stdout)
            .replace("Corte di Cassazione - copia non ufficiale", "")
            .replace('’', "'");
        let c = cer(&layer, &page.text.replace('’', "'"));
        eprintln!(
            "Cassazione page 2: CER vs text layer {c:.4}, conf {}\n{}",
            page.confidence, page.text
        );
        assert!(c <= 0.02, "CER {c}");
    }

    #[test]
    fn encrypted_pdf_is_a_clear_error() {
        let cfg = OcrConfig::default();
        let e = ocr_pdf(
            &jurisprudence("cass_snciv2025530646O.encrypted-user-password.pdf"),
            None,
            &cfg,
        )
        .unwrap_err();
        assert!(matches!(e, OcrError::Pdftoppm(_)), "{e}");
        assert!(e.to_string().contains("password"), "{e}");
    }

    #[test]
    fn huge_pdf_pages_get_a_lower_dpi() {
        assert_eq!(page_dpi(300, Some((595.0, 842.0))), 300);
        assert_eq!(page_dpi(300, None), 300);
        let d = page_dpi(300, Some((14400.0, 14400.0)));
        assert!(d < 62 && d > 55, "{d}");
        let px = (14400.0 / 72.0 * d as f64).powi(2);
        assert!(px <= MAX_PIXELS as f64);
    }

    /// `cargo test --release per_page_timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn per_page_timing() {
        let cfg = OcrConfig::default();
        let t = Instant::now();
        let mut ocr = Ocr::new(&cfg, true).unwrap();
        eprintln!("engines (ita+eng, osd): {:.2} s", t.elapsed().as_secs_f64());
        let dir = tempfile::tempdir().unwrap();
        let raster = |pdf: &[u8], page: usize| {
            let path = dir.path().join("t.pdf");
            std::fs::write(&path, pdf).unwrap();
            let t = Instant::now();
            let png = rasterise(&path, page, 300, dir.path()).unwrap();
            eprintln!("  pdftoppm 300 dpi: {:.2} s", t.elapsed().as_secs_f64());
            let mut p = ImageFile::open(&png).unwrap().page(0).unwrap().unwrap();
            p.set_resolution(300);
            p
        };
        let cass = jurisprudence("cass_snciv2025530636O.pdf");
        let mut cases: Vec<(String, Pix)> = vec![
            ("synthetic 300 dpi".into(), synthetic_grey()),
            ("degraded 150 dpi".into(), degrade(&synthetic_grey())),
            (
                "docling upright".into(),
                raster(&fixture("docling_ocr_test_scanned.pdf"), 1),
            ),
            (
                "docling 180".into(),
                raster(&fixture("docling_ocr_test_rotated_180_scanned.pdf"), 1),
            ),
        ];
        for p in 1..=3 {
            cases.push((format!("Cassazione p.{p}"), raster(&cass, p)));
        }
        let upside = raster(&cass, 2).rotate_orth(2).unwrap();
        cases.push(("Cassazione p.2 upside down".into(), upside));
        for (name, pix) in &cases {
            let grey = pix.to_grey().unwrap();
            let t = Instant::now();
            let osd = ocr.osd.as_mut().unwrap().orientation(&grey);
            eprintln!("  OSD alone: {osd:?} in {:.2} s", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let page = ocr.page(pix).unwrap();
            eprintln!(
                "{name}: {:.2} s, conf {}, rotation {}, {} chars",
                t.elapsed().as_secs_f64(),
                page.confidence,
                page.rotation_degrees,
                page.text.len()
            );
        }
    }

    #[test]
    fn language_errors_name_the_package() {
        let cfg = |l: &str| OcrConfig {
            languages: l.into(),
            ..OcrConfig::default()
        };
        let png = fixture("synthetic_it_legal_300dpi.png");
        for bad in ["", "ita+", "ita;eng", "ita eng", "../ita"] {
            assert!(
                matches!(
                    ocr_image(&png, &cfg(bad)),
                    Err(OcrError::InvalidLanguages(_))
                ),
                "{bad:?}"
            );
        }
        let e = ocr_image(&png, &cfg("ita+zzz_qq")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, OcrError::TesseractInit { .. }));
        assert!(
            msg.contains("tesseract-ocr-zzz-qq") && !msg.contains("tesseract-ocr-ita"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
        let dir = tempfile::tempdir().unwrap();
        let e = ocr_image(
            &png,
            &OcrConfig {
                tessdata_dir: Some(dir.path().into()),
                ..OcrConfig::default()
            },
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("tesseract-ocr-ita tesseract-ocr-eng"),
            "{e}"
        );
    }

    #[test]
    fn config_serde_defaults() {
        let cfg: OcrConfig = serde_json::from_str(r#"{"dpi": 200}"#).unwrap();
        assert_eq!(cfg.dpi, 200);
        assert_eq!(cfg.languages, "ita+eng");
        assert_eq!(cfg.min_confidence, OcrConfig::default().min_confidence);
    }

    #[test]
    fn cer_counts_char_edits() {
        assert_eq!(cer("abc", "abc"), 0.0);
        assert_eq!(cer("  a \n b\tc ", "a b c"), 0.0);
        assert!((cer("abcd", "abxd") - 0.25).abs() < 1e-12);
        assert!((cer("abcd", "abd") - 0.25).abs() < 1e-12);
        assert!((cer("abcd", "abcde") - 0.25).abs() < 1e-12);
        assert!((cer("città", "citta") - 0.2).abs() < 1e-12);
        assert!((cer("ab", "") - 1.0).abs() < 1e-12);
        assert!((cer("kitten", "sitting") - 0.5).abs() < 1e-12);
        assert_eq!(cer("", ""), 0.0);
        assert_eq!(cer(" \n", "x"), 1.0);
    }

    #[test]
    fn clean_text_joins_hyphens_and_keeps_paragraphs() {
        let raw = "La ricor-  \nrente conveniva in giu-\ndizio.\n\n\n| — |\nSecondo  paragrafo, art. 380-\nbis c.p.c.\nFine-\nRiga\n\x0c";
        assert_eq!(
            clean_text(raw),
            "La ricorrente\nconveniva in giudizio.\n\nSecondo paragrafo, art. 380-bis\nc.p.c.\nFine-\nRiga"
        );
        assert_eq!(clean_text("pa-\n\nrola e altro"), "parola\ne altro");
        assert_eq!(clean_text("ﬁne del\u{00AD}la causa"), "fine della causa");
        assert_eq!(clean_text(" \n\n ---- \n"), "");
        assert_eq!(clean_text("- 2 -\nTesto\n2012.\n\n2 di 5"), "Testo\n2012.");
        assert_eq!(clean_text("Pag. 3\nTesto"), "Testo");
        assert_eq!(clean_text("Page 2 of 9"), "");
        assert_eq!(clean_text("Art. 3\nTesto\nn. 3"), "Art. 3\nTesto\nn. 3");
    }

    #[test]
    fn document_blocks_follow_paragraphs_and_pages() {
        let page = |t: &str| OcrPage {
            text: t.into(),
            confidence: 90.0,
            rotation_degrees: 0,
        };
        let pages = vec![
            (1, page("Titolo\n\nPrima riga\nseconda riga del ricor-")),
            (2, page("rente che continua.\n\nNuovo paragrafo.")),
            (3, page("")),
        ];
        let doc = to_document(&pages, &OcrConfig::default());
        let blocks: Vec<(&str, u32)> = doc
            .blocks
            .iter()
            .map(|b| (doc.block_text(b), b.page))
            .collect();
        assert_eq!(
            blocks,
            vec![
                ("Titolo", 1),
                ("Prima riga seconda riga del ricorrente che continua.", 1),
                ("Nuovo paragrafo.", 2)
            ]
        );
        assert_eq!(doc.pages, 3);
        assert!(doc
            .metadata
            .contains(&("ocr_confidence".into(), "90.0".into())));
        assert!(doc
            .metadata
            .contains(&("pages_without_text".into(), "3".into())));
    }
}

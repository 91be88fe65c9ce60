//! Hostile inputs: truncated and looping PDFs, zip bombs, billion laughs, external entities,
//! binary junk, empty files, HTTP sources that fail, flap, stall or never stop. Each costs only
//! itself: one stderr line naming the input and the cause, the good documents of the same
//! list land, memory stays bounded, and nothing outside the data dir is read into the stores
//! or written. The hostile files are generated here, in the test's own directory.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::common::*;

/// Text of the file outside the data dir that external entities point at.
const SECRET: &str = "HOSTILE-OUTSIDE-7f3a9c2e: this must never be stored";
const MAX_BYTES: u64 = 1024 * 1024;
/// Peak RSS allowed for a run that meets the bombs (the model alone takes a few hundred MB).
const RSS_BOUND_KB: u64 = 1536 * 1024;

fn l56() -> String {
    std::fs::read_to_string(fixture("norm/it_normattiva_legge_56_2007.xml")).unwrap()
}

/// The L56 act under another number (another document id).
fn act(number: u32) -> String {
    l56().replace("2007-05-04/56", &format!("2007-05-04/{number}"))
}

/// L56 under `number` with `doctype` after the XML declaration and, when given, the title
/// phrase replaced by an entity reference.
fn act_with_doctype(number: u32, doctype: &str, reference: Option<&str>) -> String {
    let text = act(number);
    let (decl, rest) = text.split_once("?>").expect("an XML declaration");
    let rest = match reference {
        Some(r) => rest.replacen("Giorno della memoria", r, 1),
        None => rest.to_string(),
    };
    format!("{decl}?>\n{doctype}{rest}")
}

/// A DTD for `root` where `&lol{levels};` stands for 10^levels "lol"s.
fn billion_laughs(root: &str, levels: u32) -> String {
    let mut dtd = format!("<!DOCTYPE {root} [\n <!ENTITY lol0 \"lol\">\n");
    for i in 1..=levels {
        dtd.push_str(&format!(
            " <!ENTITY lol{i} \"{}\">\n",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    dtd.push_str("]>\n");
    dtd
}

// ----- files -----------------------------------------------------------------------------

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// Every file under `root` except those under `skip`: size, modification time and content hash.
fn snapshot(root: &Path, skip: &Path) -> BTreeMap<PathBuf, (u64, SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.starts_with(skip) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                // A directory by its entries (its time changes with theirs).
                out.insert(path.clone(), (0, SystemTime::UNIX_EPOCH, Vec::new()));
                dirs.push(path);
                continue;
            }
            let mut hash = Sha256::new();
            let mut f = std::fs::File::open(&path).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
            out.insert(
                path,
                (
                    meta.len(),
                    meta.modified().unwrap(),
                    hash.finalize().to_vec(),
                ),
            );
        }
    }
    out
}

/// Whether any file under `dir` holds `needle` (the stores' files, raw: rows, WAL, vectors).
fn any_file_contains(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if std::fs::read(&path)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                return Some(path);
            }
        }
    }
    None
}

/// A file ONNX Runtime writes to TMPDIR when its environment is created, whatever the input
/// and even with telemetry events disabled (`with_telemetry(false)`): the Linux builds' session
/// marker (with `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`). Not the parsers'.
const ORT_SESSION_FILES: &[&str] = &[".ses"];

/// Run `ingest` with the list's sources in `tmp` and TMPDIR inside it; assert that nothing in
/// `tmp` but the data dir changed, and that TMPDIR is left as it was (child parsers' scratch
/// directories removed), but for [`ORT_SESSION_FILES`].
fn run_confined(tmp: &Path, doc_type: &str, list: &Path, pipeline: &Path) -> Run {
    let data = tmp.join("data");
    let scratch = tmp.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let before = snapshot(tmp, &data);
    let r = ingest_type(
        doc_type,
        &data,
        list,
        &[("TMPDIR", scratch.to_str().unwrap())],
        &["--pipeline", pipeline.to_str().unwrap()],
    );
    let mut after = snapshot(tmp, &data);
    for name in ORT_SESSION_FILES {
        after.remove(&scratch.join(name));
    }
    for (path, state) in &after {
        match before.get(path) {
            None => panic!("{} was created outside the data dir", path.display()),
            Some(old) if old != state => {
                panic!("{} was changed outside the data dir", path.display())
            }
            _ => {}
        }
    }
    for path in before.keys() {
        assert!(after.contains_key(path), "{} was removed", path.display());
    }
    r
}

fn pipeline(dir: &Path, doc_type: &str, parse: &str) -> PathBuf {
    let p = dir.join(format!("{doc_type}-hostile.toml"));
    // One quick retry for transient failures (the bundled policy waits minutes).
    std::fs::write(
        &p,
        format!(
            "type = \"{doc_type}\"\n\n[parse]\n{parse}\n\n[retry]\nbase_secs = 0.2\nmax_delay_secs = 1\nmax_retries = 1\n"
        ),
    )
    .unwrap();
    p
}

/// The one stderr line about `source`, checked to be a rejection that says `cause`.
fn reason<'a>(r: &'a Run, source: &str, cause: &str) -> &'a str {
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(&format!(": {source}: ")))
        .collect();
    assert_eq!(lines.len(), 1, "one line about {source}:\n{}", r.stderr);
    let line = lines[0];
    assert!(
        line.starts_with(&format!("rejected: {source}: parse stage: ")),
        "{line}"
    );
    assert!(line.contains(cause), "{line} should say {cause:?}");
    line
}

fn no_line_about(r: &Run, source: &str) {
    assert!(
        !r.stderr.contains(&format!(": {source}: ")),
        "{source} is a good input:\n{}",
        r.stderr
    );
}

fn documents(data: &Path) -> Vec<String> {
    query_rows(data, "SELECT source FROM documents ORDER BY source")
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

/// Nothing of `needle` in any chunk, in any document's text, or anywhere in the data dir.
fn never_stored(data: &Path, needle: &str) {
    let esc = needle.replace('\'', "''");
    for sql in [
        format!("SELECT COUNT(*) FROM chunks WHERE instr(text, '{esc}') > 0 OR instr(embed_text, '{esc}') > 0"),
        format!("SELECT COUNT(*) FROM documents WHERE instr(COALESCE(text, ''), '{esc}') > 0 OR instr(COALESCE(title, ''), '{esc}') > 0"),
    ] {
        assert_eq!(scalar(data, &sql), 0, "{needle:?} stored: {sql}");
    }
    assert_eq!(
        any_file_contains(data, needle.as_bytes()),
        None,
        "{needle:?} is in a file of the data dir"
    );
}

// ----- HTTP ------------------------------------------------------------------------------

/// A loopback server, one thread per connection:
/// - `/good.xml` an act; `/gone.xml` 404; `/flaky.xml` 500 once, then another act;
/// - `/stall.xml` headers and a few bytes, then nothing, ever;
/// - `/endless.xml` no Content-Length, bytes until the client hangs up;
/// - `/chunked.xml` `Content-Length: 64` and a chunked body far over it, until the client hangs up;
/// - `/huge.xml` declares 5 GB (and sends a few bytes).
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let flaky_failed = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let flaky_failed = flaky_failed.clone();
            std::thread::spawn(move || respond(stream, &flaky_failed));
        }
    });
    format!("http://{addr}")
}

fn respond(mut s: TcpStream, flaky_failed: &AtomicBool) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let req = String::from_utf8_lossy(&req).to_string();
    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
    let send = |s: &mut TcpStream, status: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body);
    };
    let block = [b'x'; 64 * 1024];
    match path.as_str() {
        "/good.xml" => send(&mut s, "200 OK", act(9957).as_bytes()),
        "/flaky.xml" if !flaky_failed.swap(true, Ordering::SeqCst) => {
            send(&mut s, "500 Internal Server Error", b"oops")
        }
        "/flaky.xml" => send(&mut s, "200 OK", act(9956).as_bytes()),
        "/stall.xml" => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n<?xml ver");
            let _ = s.flush();
            // Never another byte; the connection stays open until the client gives up.
            let mut sink = [0u8; 16];
            let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
            while let Ok(n) = s.read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
        }
        "/endless.xml" => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            for _ in 0..4096 {
                if s.write_all(&block).is_err() {
                    break;
                }
            }
        }
        "/chunked.xml" => {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            for _ in 0..4096 {
                let mut chunk = format!("{:x}\r\n", block.len()).into_bytes();
                chunk.extend_from_slice(&block);
                chunk.extend_from_slice(b"\r\n");
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        "/huge.xml" => {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n<?xml",
            );
        }
        _ => send(&mut s, "404 Not Found", b"no"),
    }
}

// ----- PDF and DOCX ----------------------------------------------------------------------

/// A PDF from numbered object bodies with a correct cross-reference table (object 1 is the
/// catalog); `prev_self` adds a `/Prev` that points the table at itself.
fn build_pdf(objects: &[(u32, Vec<u8>)], prev_self: bool) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = BTreeMap::new();
    for (num, body) in objects {
        offsets.insert(*num, out.len());
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let size = offsets.keys().max().copied().unwrap_or(0) + 1;
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for n in 1..size {
        match offsets.get(&n) {
            Some(o) => out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes()),
            None => out.extend_from_slice(b"0000000000 65535 f \n"),
        }
    }
    let prev = if prev_self {
        format!(" /Prev {xref}")
    } else {
        String::new()
    };
    out.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root 1 0 R{prev} >>\nstartxref\n{xref}\n%%EOF\n")
            .as_bytes(),
    );
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

const FONT: &[u8] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

fn text_op(text: &str) -> Vec<u8> {
    format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET").into_bytes()
}

/// A one-page PDF whose text layer says `text`.
fn good_pdf(text: &str, prev_self: bool) -> Vec<u8> {
    build_pdf(
        &[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
            (
                3,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
            ),
            (4, stream("", &text_op(text))),
            (5, FONT.to_vec()),
        ],
        prev_self,
    )
}

/// The page has no MediaBox: it is looked up a /Parent chain 2 -> 6 -> 2 -> ...
fn cyclic_page_tree_pdf() -> Vec<u8> {
    build_pdf(
        &[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (
                2,
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 6 0 R >>".to_vec(),
            ),
            (
                3,
                b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
            ),
            (4, stream("", &text_op("Pagina in un albero ciclico."))),
            (5, FONT.to_vec()),
            (
                6,
                b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>".to_vec(),
            ),
        ],
        false,
    )
}

/// A form XObject whose content draws itself.
fn self_drawing_form_pdf() -> Vec<u8> {
    build_pdf(
        &[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
            (
                3,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> /Contents 4 0 R >>".to_vec(),
            ),
            (4, stream("", &[text_op("Disegno senza fine."), b" /X1 Do".to_vec()].concat())),
            (5, FONT.to_vec()),
            (
                6,
                stream(
                    "/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /X1 6 0 R >> >>",
                    b"/X1 Do",
                ),
            ),
        ],
        false,
    )
}

/// An object stream that holds itself and /Extends itself; the cross-reference stream puts the
/// catalog, page tree and page inside it.
fn self_containing_object_stream_pdf() -> Vec<u8> {
    let inner: [(u32, &str); 4] = [
        (1, "<< /Type /Catalog /Pages 2 0 R >>"),
        (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (
            3,
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        ),
        (6, "6 0 R"),
    ];
    let (mut header, mut body) = (String::new(), String::new());
    for (num, obj) in inner {
        header.push_str(&format!("{num} {} ", body.len()));
        body.push_str(obj);
        body.push('\n');
    }
    let mut out = b"%PDF-1.5\n".to_vec();
    let mut offsets = BTreeMap::new();
    let mut add = |out: &mut Vec<u8>, num: u32, obj: Vec<u8>| {
        offsets.insert(num, out.len());
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(&obj);
        out.extend_from_slice(b"\nendobj\n");
    };
    add(&mut out, 4, stream("", &text_op("Flusso di oggetti.")));
    add(&mut out, 5, FONT.to_vec());
    add(
        &mut out,
        6,
        stream(
            &format!("/Type /ObjStm /N 4 /First {} /Extends 6 0 R", header.len()),
            format!("{header}{body}").as_bytes(),
        ),
    );
    let xref = out.len();
    let mut rows = Vec::new();
    for n in 0u32..8 {
        let (kind, field, index): (u8, usize, u8) = match n {
            1..=3 => (2, 6, (n - 1) as u8),
            6 => (2, 6, 3),
            4 | 5 => (1, offsets[&n], 0),
            7 => (1, xref, 0),
            _ => (0, 0, 255),
        };
        rows.push(kind);
        rows.extend_from_slice(&(field as u16).to_be_bytes());
        rows.push(index);
    }
    out.extend_from_slice(b"7 0 obj\n");
    out.extend_from_slice(&stream(
        &format!("/Type /XRef /Size 8 /W [1 2 1] /Root 1 0 R /Prev {xref}"),
        &rows,
    ));
    out.extend_from_slice(format!("\nendobj\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    out
}

/// The entries of a DOCX fixture with `word/document.xml` replaced.
fn docx_with_document(document: &[u8]) -> Vec<u8> {
    let base = std::fs::read(fixture("docx/docling_docx_comments.docx")).unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(base)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        w.start_file(name.as_str(), options).unwrap();
        if name == "word/document.xml" {
            w.write_all(document).unwrap();
        } else {
            w.write_all(&bytes).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn docx_document_xml() -> String {
    let base = std::fs::read(fixture("docx/docling_docx_comments.docx")).unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(base)).unwrap();
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

/// `word/document.xml` with a DOCTYPE and the first paragraph's text replaced by `reference`.
fn docx_with_doctype(doctype: &str, reference: &str) -> Vec<u8> {
    let xml = docx_document_xml();
    let (decl, rest) = xml.split_once("?>").unwrap();
    let rest = rest.replacen("Document with Comments", reference, 1);
    docx_with_document(format!("{decl}?>\n{doctype}{rest}").as_bytes())
}

/// Zip bombs: `word/document.xml` inflates to 256 MiB of blanks from a few hundred KiB.
/// `honest` declares that size; otherwise the headers say 4 KiB.
fn docx_bombs() -> (Vec<u8>, Vec<u8>) {
    let xml = docx_document_xml();
    let (open, close) = xml.split_at(xml.find("<w:body>").unwrap() + "<w:body>".len());
    let base = std::fs::read(fixture("docx/docling_docx_comments.docx")).unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(base)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_string();
        w.start_file(name.as_str(), options).unwrap();
        if name == "word/document.xml" {
            w.write_all(open.as_bytes()).unwrap();
            let blanks = vec![b' '; 1 << 20];
            for _ in 0..256 {
                w.write_all(&blanks).unwrap();
            }
            w.write_all(close.as_bytes()).unwrap();
        } else {
            std::io::copy(&mut entry, &mut w).unwrap();
        }
    }
    let honest = w.finish().unwrap().into_inner();
    let mut lying = honest.clone();
    let name = b"word/document.xml";
    // Local file headers (size at 22, name at 30) and central directory headers (size at 24,
    // name at 46): the uncompressed size of the document part becomes 4096.
    for (sig, size_at, name_at) in [(b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)] {
        let mut patched = 0;
        for at in 0..lying.len().saturating_sub(name_at + name.len()) {
            if &lying[at..at + 4] == sig && &lying[at + name_at..at + name_at + name.len()] == name
            {
                lying[at + size_at..at + size_at + 4].copy_from_slice(&4096u32.to_le_bytes());
                patched += 1;
            }
        }
        assert_eq!(patched, 1, "one header to patch");
    }
    (honest, lying)
}

fn refused_bombs(r: &Run, honest: &str, lying: &str) {
    // Declared sizes, before anything is inflated.
    reason(
        r,
        honest,
        "docx: DOCX refused as a possible zip bomb: entries declare 256.0 MiB uncompressed (at most 200.0 MiB)",
    );
    // Real sizes, while inflating: one byte past the lie.
    reason(
        r,
        lying,
        "docx: DOCX refused as a possible zip bomb: entry word/document.xml inflates past the 4096 bytes its header declares (a lying header)",
    );
}

fn docx_laughs_refused(r: &Run, source: &str) {
    reason(
        r,
        source,
        "docx: DOCX refused: entry word/document.xml: &lol9; is an entity declared in the DTD: DTD entities are never expanded (entity expansion, as in a billion-laughs attack)",
    );
}

// ----- the tests -------------------------------------------------------------------------

#[test]
fn hostile_xml_and_http_sources_cost_only_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let outside = write(dir, "outside.txt", SECRET);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let passwd_line = passwd.lines().next().unwrap_or("root:x:0:0").to_string();

    let laughs = write(
        dir,
        "laughs.xml",
        act_with_doctype(9001, &billion_laughs("akomaNtoso", 9), Some("&lol9;")),
    );
    let xxe_passwd = write(
        dir,
        "xxe_passwd.xml",
        act_with_doctype(
            9002,
            "<!DOCTYPE akomaNtoso [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n",
            Some("&xxe;"),
        ),
    );
    let xxe_outside = write(
        dir,
        "xxe_outside.xml",
        act_with_doctype(
            9003,
            &format!("<!DOCTYPE akomaNtoso [<!ENTITY xxe SYSTEM \"file://{outside}\">]>\n"),
            Some("&xxe;"),
        ),
    );
    // Declared and never referenced, and an external DTD with a parameter entity: the acts
    // land, and what they point at is never read.
    let xxe_unused = write(
        dir,
        "xxe_unused.xml",
        act_with_doctype(
            9004,
            &format!("<!DOCTYPE akomaNtoso [<!ENTITY xxe SYSTEM \"file://{outside}\">]>\n"),
            None,
        ),
    );
    let xxe_param = write(
        dir,
        "xxe_param.xml",
        act_with_doctype(
            9005,
            &format!(
                "<!DOCTYPE akomaNtoso SYSTEM \"file://{outside}\" [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n"
            ),
            None,
        ),
    );
    let junk = write(dir, "junk.xml", junk_bytes());
    let empty = write(dir, "empty.xml", b"");
    let huge = dir.join("huge.xml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(64 * MAX_BYTES)
        .unwrap();
    let huge = huge.display().to_string();
    let good = fixture_line("norm/it_normattiva_legge_56_2007.xml");

    let base = serve();
    let url = |p: &str| format!("{base}/{p}");
    let lines = vec![
        laughs.clone(),
        xxe_passwd.clone(),
        xxe_outside.clone(),
        xxe_unused.clone(),
        xxe_param.clone(),
        junk.clone(),
        empty.clone(),
        huge.clone(),
        good.clone(),
        url("good.xml"),
        url("gone.xml"),
        url("flaky.xml"),
        url("stall.xml"),
        url("endless.xml"),
        url("chunked.xml"),
        url("huge.xml"),
    ];
    let list = list(dir, "hostile.txt", &lines);
    let pipeline = pipeline(
        dir,
        "norm",
        &format!("max_bytes = {MAX_BYTES}\nhttp_timeout_secs = 2\nfetch_attempts = 2"),
    );

    let started = std::time::Instant::now();
    let r = run_confined(dir, "norm", &list, &pipeline);
    let elapsed = started.elapsed();
    assert_eq!(r.code, 2, "some inputs rejected: {}", r.stderr);
    let s = r.summary();
    assert!(s["fatal"].is_null(), "{s}");
    assert_eq!(s["documents_ok"], 5, "{}", r.stderr);
    assert_eq!(s["documents_rejected"], 10, "{}", r.stderr);
    assert_eq!(s["documents_failed"], 1, "{}", r.stderr);
    let rss = s["peak_rss_kb"].as_u64().unwrap();
    assert!(rss < RSS_BOUND_KB, "peak RSS {rss} kB");
    // Twice two 2 s read timeouts and the backoffs for the stalled body: far below the 15x
    // overall cap.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");

    reason(&r, &laughs, "&lol9; is an entity declared in the DTD");
    reason(
        &r,
        &laughs,
        "never expanded (entity expansion, as in a billion-laughs attack)",
    );
    reason(
        &r,
        &xxe_passwd,
        "&xxe; is an external entity (\"file:///etc/passwd\")",
    );
    reason(
        &r,
        &xxe_outside,
        &format!("&xxe; is an external entity (\"file://{outside}\"), declared in the DTD: external entities are never read (XXE)"),
    );
    reason(
        &r,
        &junk,
        "Akoma Ntoso: not an Akoma Ntoso document: binary data, not XML (NUL byte at offset 6)",
    );
    reason(&r, &empty, "input is empty");
    reason(
        &r,
        &huge,
        &format!(
            "input is {} bytes, over the {MAX_BYTES}-byte limit",
            64 * MAX_BYTES
        ),
    );
    reason(&r, &url("gone.xml"), "HTTP 404");
    // No length, and a length the chunked body ignores: cut off just past the limit.
    for p in ["endless.xml", "chunked.xml"] {
        let line = reason(
            &r,
            &url(p),
            &format!("input is over the {MAX_BYTES}-byte limit (stopped reading after "),
        );
        let read: u64 = line
            .rsplit("after ")
            .next()
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(read <= MAX_BYTES + 256 * 1024, "{line}");
    }
    reason(
        &r,
        &url("huge.xml"),
        &format!(
            "input declares 5000000000 bytes (Content-Length), over the {MAX_BYTES}-byte limit"
        ),
    );
    // Transient, by the read timeout: retried once after a backoff, then a dead letter.
    let stall = url("stall.xml");
    let stalled: Vec<&str> = r.stderr.lines().filter(|l| l.contains(&stall)).collect();
    assert_eq!(stalled.len(), 2, "{}", r.stderr);
    assert!(
        stalled[0].starts_with("retry 1/1 in ")
            && stalled[0].ends_with(&format!(
                ": {stall}: parse stage: timed out: no data from the server for 2 s (after 2 attempts)"
            )),
        "{}",
        stalled[0]
    );
    assert_eq!(stalled[1], format!(
        "dead after 1 retries: {stall}: parse stage: timed out: no data from the server for 2 s (after 2 attempts)"
    ));
    for ok in [
        &xxe_unused,
        &xxe_param,
        &good,
        &url("good.xml"),
        &url("flaky.xml"),
    ] {
        no_line_about(&r, ok);
    }
    let mut expected = vec![
        xxe_unused.clone(),
        xxe_param.clone(),
        good.clone(),
        url("good.xml"),
        url("flaky.xml"),
    ];
    expected.sort();
    assert_eq!(documents(&data), expected);
    assert_eq!(
        scalar(
            &data,
            "SELECT COUNT(DISTINCT document_id) FROM chunks WHERE text LIKE '%Giorno della memoria%'"
        ),
        5
    );
    never_stored(&data, SECRET);
    never_stored(&data, "HOSTILE-OUTSIDE");
    never_stored(&data, &passwd_line);
}

/// Binary bytes with a NUL at offset 6 and a tag-like start.
fn junk_bytes() -> Vec<u8> {
    let mut junk = b"\x89\x1b<\xff\x7f>\x00".to_vec();
    junk.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    junk
}

#[test]
fn hostile_pdfs_and_docx_cost_only_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let outside = write(dir, "outside.txt", SECRET);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let passwd_line = passwd.lines().next().unwrap_or("root:x:0:0").to_string();

    let decision = std::fs::read(fixture("jurisprudence/cass_snciv2025530636O.pdf")).unwrap();
    let truncated = write(dir, "truncated.pdf", &decision[..decision.len() / 3]);
    let cyclic = write(dir, "cyclic_page_tree.pdf", cyclic_page_tree_pdf());
    let self_drawing = write(dir, "self_drawing_form.pdf", self_drawing_form_pdf());
    let objstm = write(dir, "objstm_loop.pdf", self_containing_object_stream_pdf());
    // A cross-reference table whose /Prev is itself: read once, the document lands.
    let prev_loop = write(
        dir,
        "xref_prev_loop.pdf",
        good_pdf(
            "Tabella dei riferimenti circolare ma testo leggibile.",
            true,
        ),
    );
    let good_pdf = write(
        dir,
        "good.pdf",
        good_pdf(
            "La responsabilita del custode non richiede la colpa.",
            false,
        ),
    );
    let (bomb, lying_bomb) = docx_bombs();
    let bomb = write(dir, "bomb.docx", bomb);
    let lying_bomb = write(dir, "lying_bomb.docx", lying_bomb);
    let laughs = write(
        dir,
        "laughs.docx",
        docx_with_doctype(&billion_laughs("w:document", 9), "&lol9;"),
    );
    let xxe = write(
        dir,
        "xxe.docx",
        docx_with_doctype(
            &format!("<!DOCTYPE w:document [<!ENTITY xxe SYSTEM \"file://{outside}\">]>\n"),
            "&xxe;",
        ),
    );
    let xxe_passwd = write(
        dir,
        "xxe_passwd.docx",
        docx_with_doctype(
            "<!DOCTYPE w:document [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n",
            "&xxe;",
        ),
    );
    let junk = write(dir, "junk.xml", junk_bytes());
    let good_docx = fixture_line("docx/ondata_email_schema_dati.docx");
    let lines = vec![
        truncated.clone(),
        cyclic.clone(),
        self_drawing.clone(),
        objstm.clone(),
        prev_loop.clone(),
        good_pdf.clone(),
        bomb.clone(),
        lying_bomb.clone(),
        laughs.clone(),
        xxe.clone(),
        xxe_passwd.clone(),
        junk.clone(),
        good_docx.clone(),
    ];
    let list = list(dir, "hostile.txt", &lines);
    // Risky parsers in child processes, with a deadline a loop would hit.
    let pipeline = pipeline(
        dir,
        "doctrine",
        "isolate = true\ndeadline_secs = 30\nmax_memory_mb = 1024",
    );

    let started = std::time::Instant::now();
    let r = run_confined(dir, "doctrine", &list, &pipeline);
    let elapsed = started.elapsed();
    assert_eq!(r.code, 2, "some inputs rejected: {}", r.stderr);
    let s = r.summary();
    assert!(s["fatal"].is_null(), "{s}");
    assert_eq!(s["documents_ok"], 3, "{}", r.stderr);
    assert_eq!(s["documents_rejected"], 10, "{}", r.stderr);
    assert_eq!(s["documents_failed"], 0, "{}", r.stderr);
    // The loops are refused, not waited out: no parser ran into its 30 s deadline.
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert!(!r.stderr.contains("deadline"), "{}", r.stderr);

    reason(
        &r,
        &truncated,
        "pdf: malformed PDF: PDF error: failed parsing cross reference table: invalid start value (truncated? no %%EOF at the end)",
    );
    reason(
        &r,
        &cyclic,
        "pdf: malformed PDF: the page tree loops: page 1's /Parent chain comes back to object 2 0 R",
    );
    reason(
        &r,
        &self_drawing,
        "pdf: malformed PDF: page 1: form XObject /X1 (6 0 R) draws itself: an endless drawing loop",
    );
    reason(&r, &objstm, "pdf: malformed PDF: no page could be read");
    refused_bombs(&r, &bomb, &lying_bomb);
    docx_laughs_refused(&r, &laughs);
    reason(
        &r,
        &xxe,
        &format!("docx: DOCX refused: entry word/document.xml: &xxe; is an external entity (\"file://{outside}\"), declared in the DTD: external entities are never read (XXE)"),
    );
    reason(
        &r,
        &xxe_passwd,
        "docx: DOCX refused: entry word/document.xml: &xxe; is an external entity (\"file:///etc/passwd\")",
    );
    reason(
        &r,
        &junk,
        "text: binary data, not text: NUL byte at offset 6",
    );
    for ok in [&prev_loop, &good_pdf, &good_docx] {
        no_line_about(&r, ok);
    }
    let mut expected = vec![prev_loop.clone(), good_pdf.clone(), good_docx.clone()];
    expected.sort();
    assert_eq!(documents(&data), expected);
    for (source, text) in [
        (&prev_loop, "circolare ma testo leggibile"),
        (&good_pdf, "non richiede la colpa"),
    ] {
        assert_eq!(
            scalar(
                &data,
                &format!(
                    "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id
                     WHERE d.source = '{source}' AND c.text LIKE '%{text}%'"
                )
            ),
            1,
            "{source}"
        );
    }
    never_stored(&data, SECRET);
    never_stored(&data, "HOSTILE-OUTSIDE");
    never_stored(&data, &passwd_line);
}

/// The bombs parsed in this process (no child, no address-space limit): the guards alone keep
/// memory bounded and name the cause.
#[test]
fn bombs_parsed_in_process_keep_memory_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let (bomb, lying_bomb) = docx_bombs();
    let bomb = write(dir, "bomb.docx", bomb);
    let lying_bomb = write(dir, "lying_bomb.docx", lying_bomb);
    let docx_laughs = write(
        dir,
        "laughs.docx",
        docx_with_doctype(&billion_laughs("w:document", 9), "&lol9;"),
    );
    // Deeper than the usual nine levels: 10^12 "lol"s if anything expanded it.
    let xml_laughs = write(
        dir,
        "laughs.xml",
        act_with_doctype(9010, &billion_laughs("akomaNtoso", 12), Some("&lol12;")),
    );
    let good_docx = fixture_line("docx/ondata_email_schema_dati.docx");
    let lines = vec![
        bomb.clone(),
        lying_bomb.clone(),
        docx_laughs.clone(),
        xml_laughs.clone(),
        good_docx.clone(),
    ];
    let list = list(dir, "bombs.txt", &lines);
    let pipeline = pipeline(dir, "doctrine", "isolate = false");
    let r = run_confined(dir, "doctrine", &list, &pipeline);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["documents_ok"], 1, "{}", r.stderr);
    assert_eq!(s["documents_rejected"], 4, "{}", r.stderr);
    let rss = s["peak_rss_kb"].as_u64().unwrap();
    assert!(rss < RSS_BOUND_KB, "peak RSS {rss} kB");
    refused_bombs(&r, &bomb, &lying_bomb);
    docx_laughs_refused(&r, &docx_laughs);
    // Doctrine sniffs XML: the Akoma Ntoso parser refuses it before the type check.
    reason(&r, &xml_laughs, "Akoma Ntoso: refused at byte ");
    reason(&r, &xml_laughs, "&lol12; is an entity declared in the DTD: DTD entities are never expanded (entity expansion, as in a billion-laughs attack)");
    no_line_about(&r, &good_docx);
    assert_eq!(documents(&data), [good_docx]);
}

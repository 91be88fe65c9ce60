//! Risky parsers (PDF, DOCX, OCR) run in a child process of the same binary, under a deadline
//! and an address-space limit. `catch_unwind` cannot stop an abort, a stack overflow, a
//! runaway allocation or a hang; a child can be killed, and its crash costs only that input.
//!
//! Protocol: the parent runs `<exe> __parse-child <format> <ocr-config-json>`, writes the
//! input bytes to the child's stdin and reads one bincode-encoded `Result<TextDocument,
//! String>` from its stdout. Whatever goes wrong in between (non-zero exit, a signal, a
//! timeout, garbage output) is one rejection with its reason.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ocr::OcrConfig;
use super::textdoc::TextDocument;

/// The hidden subcommand that marks a child parser.
pub const CHILD_ARG: &str = "__parse-child";

/// Limits for a child parser.
#[derive(Debug, Clone, PartialEq)]
pub struct Isolation {
    /// The binary to run (this program).
    pub exe: PathBuf,
    pub deadline: Duration,
    /// Address-space limit (RLIMIT_AS) of the child, bytes.
    pub max_memory: u64,
}

/// Formats a child can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskyFormat {
    Pdf,
    Docx,
    Image,
}

impl RiskyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskyFormat::Pdf => "pdf",
            RiskyFormat::Docx => "docx",
            RiskyFormat::Image => "image",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pdf" => Some(RiskyFormat::Pdf),
            "docx" => Some(RiskyFormat::Docx),
            "image" => Some(RiskyFormat::Image),
            _ => None,
        }
    }
}

/// Parse in-process (the child's work; also used when isolation is off).
pub fn parse_risky(
    format: RiskyFormat,
    bytes: &[u8],
    ocr: &OcrConfig,
) -> Result<TextDocument, String> {
    match format {
        RiskyFormat::Pdf => super::pdf_with_ocr(bytes, ocr),
        RiskyFormat::Docx => super::docx::parse_docx(bytes).map_err(|e| e.to_string()),
        RiskyFormat::Image => super::ocr::image_document(bytes, ocr).map_err(|e| e.to_string()),
    }
}

/// Parse in a child process under `iso`'s limits.
pub fn parse_in_child(
    iso: &Isolation,
    format: RiskyFormat,
    bytes: &[u8],
    ocr: &OcrConfig,
) -> Result<TextDocument, String> {
    let ocr_json = serde_json::to_string(ocr).map_err(|e| format!("encode OCR config: {e}"))?;
    // The child's temporary files (rasterised pages) live in a directory this process owns and
    // removes, even when the child is killed.
    let scratch = tempfile::Builder::new()
        .prefix("ingest-parse-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let mut cmd = Command::new(&iso.exe);
    cmd.env("TMPDIR", scratch.path());
    cmd.arg(CHILD_ARG)
        .arg(format.as_str())
        .arg(ocr_json)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Pages are read one at a time: tesseract's OpenMP threads would only compete with
        // the other workers for the cores.
        .env("OMP_THREAD_LIMIT", "1")
        .env("RUST_BACKTRACE", "0");
    limit_child(&mut cmd, iso.max_memory);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the parser process {}: {e}", iso.exe.display()))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let input = bytes.to_vec();
    // A child that dies early closes its stdin: the write error is expected then.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    // Drained to the end (a full pipe would block the child); the last 64 KiB are kept.
    let err_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.len() > 128 * 1024 {
                out.drain(..out.len() - 64 * 1024);
            }
        }
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= iso.deadline => {
                kill_group(&mut child);
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("parser process: {e}"));
            }
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!(
            "{} parser exceeded its {} s deadline and was killed",
            format.as_str(),
            iso.deadline.as_secs_f64()
        ));
    };
    if status.success() {
        return bincode::deserialize::<Result<TextDocument, String>>(&out)
            .map_err(|e| format!("parser process returned unreadable output: {e}"))?;
    }
    // The most telling line the child wrote: an allocation failure, else the last line.
    let err = String::from_utf8_lossy(&err);
    let lines: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let last_line = lines
        .iter()
        .find(|l| l.contains("memory allocation"))
        .or_else(|| lines.iter().rev().find(|l| !l.contains("backtrace")))
        .map(|l| crate::pipeline::error::one_line(l))
        .unwrap_or_default();
    let limit_mb = iso.max_memory / (1024 * 1024);
    let how = match signal_of(&status) {
        Some(sig) => format!("was killed by signal {sig} ({})", signal_name(sig)),
        None => format!("exited with {status}"),
    };
    let hint = if last_line.contains("memory allocation") || last_line.contains("alloc") {
        format!(" (memory limit {limit_mb} MB)")
    } else {
        String::new()
    };
    if last_line.is_empty() {
        Err(format!("{} parser process {how}{hint}", format.as_str()))
    } else {
        Err(format!(
            "{} parser process {how}{hint}: {last_line}",
            format.as_str()
        ))
    }
}

/// Kill the child and whatever it started (it leads its own process group), then reap it.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    // SAFETY: plain syscall on the child's process group id.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        6 => "SIGABRT: aborted",
        9 => "SIGKILL",
        11 => "SIGSEGV: crashed",
        7 => "SIGBUS: crashed",
        4 => "SIGILL: crashed",
        8 => "SIGFPE: crashed",
        _ => "crashed",
    }
}

#[cfg(unix)]
fn limit_child(cmd: &mut Command, max_memory: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls (setpgid, prctl, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Its own process group, so a kill reaches the tools it starts (pdftoppm).
            libc::setpgid(0, 0);
            // Dies with the thread that waits for it: a worker killed (or a document let go
            // at its soft time limit and then the process ending) leaves no parser behind.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            let mem = libc::rlimit {
                rlim_cur: max_memory as libc::rlim_t,
                rlim_max: max_memory as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &mem) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // No core dumps from crashing parsers.
            let core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &core);
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn limit_child(_: &mut Command, _: u64) {}

/// Entry point of the child: `args` are the arguments after [`CHILD_ARG`]. Reads the input
/// from stdin, writes the encoded result to stdout; returns the exit code.
pub fn child_main(args: &[String]) -> i32 {
    let Some(format) = args.first().and_then(|f| RiskyFormat::parse(f)) else {
        eprintln!("{CHILD_ARG}: expected a format (pdf, docx, image)");
        return 2;
    };
    let ocr: OcrConfig = match args.get(1).map(|j| serde_json::from_str(j)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            eprintln!("{CHILD_ARG}: bad OCR config: {e}");
            return 2;
        }
        None => OcrConfig::default(),
    };
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("{CHILD_ARG}: read input: {e}");
        return 2;
    }
    // Test switches: the parent must survive a hung or aborting parser.
    match std::env::var("INGEST_FAULT").as_deref() {
        Ok("parse-hang") => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        Ok("parse-abort") => std::process::abort(),
        Ok("parse-oom") => {
            // Grow until the address-space limit stops us (the allocation failure aborts).
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(vec![1u8; 64 << 20]);
            }
        }
        _ => {}
    }
    super::install_quiet_panic_hook();
    super::GUARDED.with(|g| g.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_risky(format, &bytes, &ocr)
    }))
    .unwrap_or_else(|p| Err(format!("parser crashed: {}", super::panic_message(p))));
    let encoded = match bincode::serialize(&result) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{CHILD_ARG}: encode result: {e}");
            return 2;
        }
    };
    let mut out = std::io::stdout().lock();
    if out.write_all(&encoded).and_then(|_| out.flush()).is_err() {
        return 2;
    }
    0
}

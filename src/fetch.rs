//! Getting the bytes of a source: local paths, `file://` and `http(s)://` URLs.
//! Sources are normalised once (absolute paths, parsed URLs) so the same input always maps
//! to the same job, whatever the working directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use url::Url;

use crate::pipeline::error::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("not a usable source: {0}")]
    InvalidSource(String),
    #[error("file not found")]
    FileNotFound,
    #[error("cannot read file: {0}")]
    Io(std::io::Error),
    #[error("input is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error("input declares {size} bytes (Content-Length), over the {limit}-byte limit")]
    TooLargeDeclared { size: u64, limit: u64 },
    /// A body with no length, or one other than it declared, that went on past the limit.
    #[error("input is over the {limit}-byte limit (stopped reading after {read} bytes)")]
    TooLargeBody { read: u64, limit: u64 },
    #[error("input is empty")]
    Empty,
    #[error("HTTP {status}")]
    HttpStatus { status: u16 },
    #[error("timed out: no data from the server for {read_secs} s")]
    Timeout { read_secs: u64 },
    #[error("timed out: the download took over {total_secs} s")]
    TotalTimeout { total_secs: u64 },
    #[error("HTTP request failed: {0}")]
    Http(String),
    /// A transient failure that lasted through every attempt.
    #[error("{last} (after {attempts} attempts)")]
    GaveUp {
        attempts: u32,
        last: Box<FetchError>,
    },
}

impl Classify for FetchError {
    fn class(&self) -> ErrorClass {
        match self {
            FetchError::InvalidSource(_)
            | FetchError::FileNotFound
            | FetchError::TooLarge { .. }
            | FetchError::TooLargeDeclared { .. }
            | FetchError::TooLargeBody { .. }
            | FetchError::Empty => ErrorClass::Rejected,
            FetchError::Io(e) => match e.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::IsADirectory => {
                    ErrorClass::Rejected
                }
                _ => ErrorClass::Transient,
            },
            FetchError::HttpStatus { status } => {
                if *status == 429 || *status >= 500 || *status == 408 {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Rejected
                }
            }
            FetchError::Timeout { .. } | FetchError::TotalTimeout { .. } | FetchError::Http(_) => {
                ErrorClass::Transient
            }
            FetchError::GaveUp { last, .. } => last.class(),
        }
    }
}

/// A normalised source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Http(Url),
}

impl Source {
    /// Normalise one line of a list. Relative paths are taken relative to `base`
    /// (the directory of the list file).
    pub fn resolve(line: &str, base: &Path) -> Result<Source, FetchError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(FetchError::InvalidSource("empty source".into()));
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url =
                Url::parse(line).map_err(|e| FetchError::InvalidSource(format!("{line}: {e}")))?;
            return Ok(Source::Http(url));
        }
        if lower.starts_with("file://") {
            let url =
                Url::parse(line).map_err(|e| FetchError::InvalidSource(format!("{line}: {e}")))?;
            let path = url
                .to_file_path()
                .map_err(|_| FetchError::InvalidSource(format!("{line}: not a local file URL")))?;
            return Ok(Source::File(path));
        }
        if let Some((scheme, _)) = line.split_once("://") {
            return Err(FetchError::InvalidSource(format!(
                "{line}: unsupported scheme {scheme:?} (use a path, file://, http:// or https://)"
            )));
        }
        let p = Path::new(line);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        let abs = std::path::absolute(&joined).unwrap_or(joined);
        Ok(Source::File(normalize_path(&abs)))
    }

    /// The canonical string that identifies the source in jobs and stores.
    pub fn key(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Http(u) => u.to_string(),
        }
    }

    /// Rebuild a source from its key.
    pub fn from_key(key: &str) -> Result<Source, FetchError> {
        Source::resolve(key, Path::new("/"))
    }
}

/// Remove `.` and `..` components without touching the filesystem.
fn normalize_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// HTTP cache validators of a fetched body (for a conditional GET next time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The answer to a conditional fetch.
#[derive(Debug)]
pub enum Fetched {
    Body {
        bytes: Vec<u8>,
        /// What the server said about this body (none for files).
        validators: Validators,
    },
    /// The server confirmed the body is the one these validators describe (HTTP 304).
    NotModified,
}

/// Fetches sources with size caps, timeouts and a small retry loop for transient failures.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_bytes: u64,
    /// Longest wait for data (each read); the whole download may take [`TOTAL_TIMEOUT_FACTOR`]
    /// times this.
    timeout: Duration,
    attempts: u32,
    base_backoff: Duration,
}

impl Fetcher {
    pub fn try_new(
        max_bytes: u64,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            // `timeout` bounds each read (a stalled server), not the whole body: a large act on
            // a slow link keeps going while bytes flow, up to a generous overall deadline.
            .read_timeout(timeout)
            .timeout(timeout * TOTAL_TIMEOUT_FACTOR)
            .user_agent(concat!("ingest/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            max_bytes,
            timeout,
            attempts: attempts.max(1),
            base_backoff: Duration::from_millis(500),
        })
    }

    /// Shorter backoff, for tests against local servers.
    pub fn with_base_backoff(mut self, d: Duration) -> Self {
        self.base_backoff = d;
        self
    }

    pub async fn fetch(&self, source: &Source) -> Result<Vec<u8>, FetchError> {
        match self
            .fetch_if_changed(source, &Validators::default())
            .await?
        {
            Fetched::Body { bytes, .. } => Ok(bytes),
            // Without validators no server answers 304; one that does is broken.
            Fetched::NotModified => Err(FetchError::HttpStatus { status: 304 }),
        }
    }

    /// Fetch `source`, conditionally on `known` validators for HTTP (If-None-Match,
    /// If-Modified-Since): a 304 answer is [`Fetched::NotModified`]. Files are always read.
    pub async fn fetch_if_changed(
        &self,
        source: &Source,
        known: &Validators,
    ) -> Result<Fetched, FetchError> {
        match source {
            Source::File(p) => Ok(Fetched::Body {
                bytes: self.read_file(p).await?,
                validators: Validators::default(),
            }),
            Source::Http(u) => {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.get(u, known).await {
                        Err(e) if e.class() == ErrorClass::Transient && attempt < self.attempts => {
                            let exp = self.base_backoff * 2u32.pow(attempt - 1);
                            let jitter = rand::thread_rng().gen_range(0.75..1.25);
                            tokio::time::sleep(exp.mul_f64(jitter)).await;
                        }
                        Err(e) if e.class() == ErrorClass::Transient && attempt > 1 => {
                            return Err(FetchError::GaveUp {
                                attempts: attempt,
                                last: Box::new(e),
                            })
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    async fn read_file(&self, p: &Path) -> Result<Vec<u8>, FetchError> {
        let meta = tokio::fs::metadata(p).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FetchError::FileNotFound,
            _ => FetchError::Io(e),
        })?;
        if meta.is_dir() {
            return Err(FetchError::InvalidSource("is a directory".into()));
        }
        // FIFOs and devices report no size and may never end: only regular files are read.
        if !meta.is_file() {
            return Err(FetchError::InvalidSource("not a regular file".into()));
        }
        if meta.len() > self.max_bytes {
            return Err(FetchError::TooLarge {
                size: meta.len(),
                limit: self.max_bytes,
            });
        }
        // Read at most one byte past the cap: a file that grew since `metadata` is still caught.
        let file = tokio::fs::File::open(p).await.map_err(FetchError::Io)?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        tokio::io::AsyncReadExt::read_to_end(
            &mut tokio::io::AsyncReadExt::take(file, self.max_bytes + 1),
            &mut bytes,
        )
        .await
        .map_err(FetchError::Io)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(FetchError::TooLarge {
                size: bytes.len() as u64,
                limit: self.max_bytes,
            });
        }
        if bytes.is_empty() {
            return Err(FetchError::Empty);
        }
        Ok(bytes)
    }

    async fn get(&self, url: &Url, known: &Validators) -> Result<Fetched, FetchError> {
        let started = std::time::Instant::now();
        let map = |e: reqwest::Error| self.map_reqwest(e, started);
        let mut req = self.client.get(url.clone());
        if let Some(etag) = &known.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &known.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(map)?;
        let status = resp.status().as_u16();
        if status == 304 && (known.etag.is_some() || known.last_modified.is_some()) {
            return Ok(Fetched::NotModified);
        }
        if !resp.status().is_success() {
            return Err(FetchError::HttpStatus { status });
        }
        if let Some(len) = resp.content_length() {
            if len > self.max_bytes {
                return Err(FetchError::TooLargeDeclared {
                    size: len,
                    limit: self.max_bytes,
                });
            }
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map)? {
            if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(FetchError::TooLargeBody {
                    read: body.len() as u64 + chunk.len() as u64,
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err(FetchError::Empty);
        }
        Ok(Fetched::Body {
            bytes: body,
            validators,
        })
    }
}

/// The whole download may take this many times the read timeout.
const TOTAL_TIMEOUT_FACTOR: u32 = 15;

impl Fetcher {
    /// A request that began at `started` failed: which timeout fired, if one did.
    fn map_reqwest(&self, e: reqwest::Error, started: std::time::Instant) -> FetchError {
        if !e.is_timeout() {
            return FetchError::Http(crate::pipeline::error::one_line(&e.to_string()));
        }
        let total = self.timeout * TOTAL_TIMEOUT_FACTOR;
        if started.elapsed() >= total {
            FetchError::TotalTimeout {
                total_secs: total.as_secs(),
            }
        } else {
            FetchError::Timeout {
                read_secs: self.timeout.as_secs(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_and_urls() {
        let base = Path::new("/data/lists");
        assert_eq!(
            Source::resolve("norm/a.xml", base).unwrap().key(),
            "/data/lists/norm/a.xml"
        );
        assert_eq!(
            Source::resolve("../x/./b.xml", base).unwrap().key(),
            "/data/x/b.xml"
        );
        assert_eq!(
            Source::resolve("file:///tmp/c.xml", base).unwrap().key(),
            "/tmp/c.xml"
        );
        assert_eq!(
            Source::resolve("https://example.org/a?b=1", base)
                .unwrap()
                .key(),
            "https://example.org/a?b=1"
        );
        assert!(Source::resolve("ftp://x/y", base).is_err());
    }

    #[test]
    fn http_status_classes() {
        let class = |s| FetchError::HttpStatus { status: s }.class();
        assert_eq!(class(404), ErrorClass::Rejected);
        assert_eq!(class(410), ErrorClass::Rejected);
        assert_eq!(class(429), ErrorClass::Transient);
        assert_eq!(class(503), ErrorClass::Transient);
        assert_eq!(
            FetchError::Timeout { read_secs: 2 }.class(),
            ErrorClass::Transient
        );
        let gave_up = FetchError::GaveUp {
            attempts: 3,
            last: Box::new(FetchError::HttpStatus { status: 503 }),
        };
        assert_eq!(gave_up.class(), ErrorClass::Transient);
        assert_eq!(gave_up.to_string(), "HTTP 503 (after 3 attempts)");
        assert_eq!(FetchError::FileNotFound.class(), ErrorClass::Rejected);
    }

    #[tokio::test]
    async fn local_file_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let f = Fetcher::try_new(10, Duration::from_secs(1), 1).unwrap();
        let missing = Source::File(tmp.path().join("nope.xml"));
        assert!(matches!(
            f.fetch(&missing).await,
            Err(FetchError::FileNotFound)
        ));
        let big = tmp.path().join("big.xml");
        std::fs::write(&big, vec![b'a'; 11]).unwrap();
        assert!(matches!(
            f.fetch(&Source::File(big)).await,
            Err(FetchError::TooLarge {
                size: 11,
                limit: 10
            })
        ));
        let empty = tmp.path().join("empty.xml");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            f.fetch(&Source::File(empty)).await,
            Err(FetchError::Empty)
        ));
    }

    /// A loopback server answering every connection with `respond(path, stream)`.
    fn serve(respond: fn(&str, &mut std::net::TcpStream)) -> String {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { break };
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let req = String::from_utf8_lossy(&req).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                    respond(&path, &mut s);
                });
            }
        });
        format!("http://{addr}")
    }

    fn respond(path: &str, s: &mut std::net::TcpStream) {
        use std::io::Write;
        match path {
            "/stall" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc");
                std::thread::sleep(Duration::from_secs(10));
            }
            "/endless" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                for _ in 0..1000 {
                    if s.write_all(&[b'x'; 4096]).is_err() {
                        break;
                    }
                }
            }
            "/declared" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\nabc");
            }
            _ => {
                let _ = s.write_all(
                    b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    }

    #[tokio::test]
    async fn hostile_http_bodies_are_cut_short_with_their_reason() {
        let base = serve(respond);
        let f = Fetcher::try_new(10_000, Duration::from_secs(1), 2)
            .unwrap()
            .with_base_backoff(Duration::from_millis(10));
        let get = |p: &str| Source::Http(Url::parse(&format!("{base}{p}")).unwrap());

        let started = std::time::Instant::now();
        let stalled = f.fetch(&get("/stall")).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "read timeout, twice"
        );
        assert_eq!(
            stalled.to_string(),
            "timed out: no data from the server for 1 s (after 2 attempts)"
        );
        assert_eq!(stalled.class(), ErrorClass::Transient);

        let endless = f.fetch(&get("/endless")).await.unwrap_err();
        assert!(
            matches!(endless, FetchError::TooLargeBody { read, limit: 10_000 } if read > 10_000),
            "{endless:?}"
        );
        assert!(endless
            .to_string()
            .starts_with("input is over the 10000-byte limit (stopped reading after "));
        assert_eq!(endless.class(), ErrorClass::Rejected);

        let declared = f.fetch(&get("/declared")).await.unwrap_err();
        assert_eq!(
            declared.to_string(),
            "input declares 99999 bytes (Content-Length), over the 10000-byte limit"
        );

        let unavailable = f.fetch(&get("/down")).await.unwrap_err();
        assert_eq!(unavailable.to_string(), "HTTP 503 (after 2 attempts)");
        // One attempt: the error as it is.
        let once = Fetcher::try_new(10_000, Duration::from_secs(1), 1).unwrap();
        assert_eq!(
            once.fetch(&get("/down")).await.unwrap_err().to_string(),
            "HTTP 503"
        );
    }
}

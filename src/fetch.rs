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
    #[error("input is empty")]
    Empty,
    #[error("HTTP {status}")]
    HttpStatus { status: u16 },
    #[error("request timed out")]
    Timeout,
    #[error("HTTP request failed: {0}")]
    Http(String),
}

impl Classify for FetchError {
    fn class(&self) -> ErrorClass {
        match self {
            FetchError::InvalidSource(_)
            | FetchError::FileNotFound
            | FetchError::TooLarge { .. }
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
            FetchError::Timeout | FetchError::Http(_) => ErrorClass::Transient,
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

/// Fetches sources with size caps, timeouts and a small retry loop for transient failures.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_bytes: u64,
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
            .timeout(timeout * 15)
            .user_agent(concat!("ingest/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            max_bytes,
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
        match source {
            Source::File(p) => self.read_file(p).await,
            Source::Http(u) => {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.get(u).await {
                        Err(e) if e.class() == ErrorClass::Transient && attempt < self.attempts => {
                            let exp = self.base_backoff * 2u32.pow(attempt - 1);
                            let jitter = rand::thread_rng().gen_range(0.75..1.25);
                            tokio::time::sleep(exp.mul_f64(jitter)).await;
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

    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let mut resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(map_reqwest)?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(FetchError::HttpStatus { status });
        }
        if let Some(len) = resp.content_length() {
            if len > self.max_bytes {
                return Err(FetchError::TooLarge {
                    size: len,
                    limit: self.max_bytes,
                });
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map_reqwest)? {
            if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(FetchError::TooLarge {
                    size: body.len() as u64 + chunk.len() as u64,
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err(FetchError::Empty);
        }
        Ok(body)
    }
}

fn map_reqwest(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Http(crate::pipeline::error::one_line(&e.to_string()))
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
        assert_eq!(FetchError::Timeout.class(), ErrorClass::Transient);
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
}

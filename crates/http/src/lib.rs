//! HTTP(S) sources: the file an `ADD <url>` brings, fetched into the store as a one-file layer
//! before the build is solved (as base images are resolved before it), so that cache keys
//! can name what was fetched.
//!
//! BuildKit's semantics (`source/http`, `dockerfile2llb`): the layer holds `/<filename>`, mode
//! 0600 and owned by root (a `--chmod`/`--chown` of the ADD applies in the copy that follows),
//! with the mtime the server's `Last-Modified` gives, else the time of the download; it is
//! never unpacked. Every build asks the server again, with `If-None-Match` / `If-Modified-Since`
//! from the last fetch, so an unchanged file costs one round trip and no download; a body equal
//! to the last one (same digest and `Last-Modified`) reuses the last layer, so the steps after
//! it stay cached even when the server gives no validators. With `--checksum`, a stored fetch
//! with that digest is used without asking, and a body with another digest is an error.
//! Proxies come from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, lower case too),
//! as docker's builder takes them.
//!
//! Hostile servers: the body streams to a store temp file while it is hashed (memory stays
//! flat whatever its size); a connect timeout and an idle timeout bound a silent server;
//! connection failures, 5xx, 408 and 429 are retried (three attempts) and everything else is
//! reported at once with the URL and the status. Nothing is published in the store unless
//! the whole body arrived (and matched its checksum).

#![deny(clippy::indexing_slicing)]

use cairn_store::{HttpRecord, LayerId, LayerRecord, OciDigest, Store};
mod checksum;

pub use checksum::Checksum;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;

/// What a build fetches: a URL, saved as `filename` in the source's layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub url: String,
    pub filename: String,
    /// `ALGO:HEX` the body must hash to (see [`Checksum`]).
    pub checksum: Option<String>,
}

/// A source as it is in the store now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub layer: LayerId,
    /// sha256 of the body.
    pub digest: OciDigest,
    /// Bytes downloaded; `None` when the stored fetch was still good (not modified, or pinned
    /// by its checksum).
    pub downloaded: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: {reason}")]
    BadSource { url: String, reason: String },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: String },
    #[error("{url}: {cause} (after {attempts} attempts)")]
    Transport {
        url: String,
        cause: String,
        attempts: u32,
    },
    // BuildKit's wording (CI scripts grep for "digest mismatch").
    #[error("digest mismatch for {url}: {actual} (expected: {expected})")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: writing the download to {path}: {source}")]
    Io {
        url: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url}: {source}")]
    Store {
        url: String,
        source: cairn_store::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Network timeouts of HTTP sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// No byte for this long: the attempt fails (and may be retried).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }
}

/// Attempts per source before a transient failure is final.
const ATTEMPTS: u32 = 3;

/// Fetches HTTP sources into a store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Fetcher {
    store: Store,
    client: reqwest::Client,
    max_size: u64,
}

/// The largest download a build takes by default (a server that streams without end is cut
/// off here rather than filling the disk; BuildKit has no limit).
pub const MAX_SIZE: u64 = 16 << 30;

/// How one attempt failed.
enum Failure {
    /// Worth another attempt; the text is the cause.
    Transient(String),
    Fatal(Error),
}

impl Fetcher {
    pub fn new(store: Store, timeouts: Timeouts) -> Result<Fetcher, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.idle)
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("making an http client: {e}"))?;
        Ok(Fetcher {
            store,
            client,
            max_size: MAX_SIZE,
        })
    }

    /// The same fetcher with another size limit.
    pub fn with_max_size(self, max_size: u64) -> Fetcher {
        Fetcher { max_size, ..self }
    }

    /// Make `src` present in the store: the stored fetch if it is still good, else a new one.
    pub async fn fetch(&self, src: &Source) -> Result<Fetched> {
        let url = &src.url;
        let store_err = |source| Error::Store {
            url: url.clone(),
            source,
        };
        let prev = match self.store.http_get(url, &src.filename).map_err(store_err)? {
            Some(rec) if self.store.layer(&rec.layer).map_err(store_err)?.is_some() => Some(rec),
            _ => None,
        };
        let checksum = check_source(src)?;
        if let (Some(want), Some(rec)) = (&checksum, &prev)
            && want.is_sha256(rec.digest.as_str())
        {
            return Ok(Fetched {
                layer: rec.layer.clone(),
                digest: rec.digest.clone(),
                downloaded: None,
            });
        }
        let mut attempt = 1;
        loop {
            match self.attempt(src, prev.as_ref()).await {
                Ok(f) => return Ok(f),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(cause)) if attempt >= ATTEMPTS => {
                    return Err(Error::Transport {
                        url: url.clone(),
                        cause,
                        attempts: attempt,
                    });
                }
                Err(Failure::Transient(cause)) => {
                    tracing::debug!(%url, attempt, %cause, "retrying");
                    tokio::time::sleep(Duration::from_millis(500) * attempt).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, src: &Source, prev: Option<&HttpRecord>) -> Result<Fetched, Failure> {
        let url = &src.url;
        let mut request = self.client.get(url);
        if let Some(rec) = prev {
            if let Some(etag) = &rec.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(lm) = &rec.last_modified {
                request = request.header("If-Modified-Since", lm);
            }
        }
        let response = request.send().await.map_err(|e| transient(&e))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED
            && let Some(rec) = prev
        {
            return Ok(Fetched {
                layer: rec.layer.clone(),
                digest: rec.digest.clone(),
                downloaded: None,
            });
        }
        if !status.is_success() {
            let described = status.to_string();
            return Err(match status.as_u16() {
                408 | 429 | 500..=599 => {
                    Failure::Transient(format!("the server answered {described}"))
                }
                _ => Failure::Fatal(Error::Status {
                    url: url.clone(),
                    status: described,
                }),
            });
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(n) = response.content_length()
            && n > self.max_size
        {
            return Err(Failure::Fatal(Error::BadSource {
                url: url.clone(),
                reason: format!(
                    "the download is larger than {} bytes: refused",
                    self.max_size
                ),
            }));
        }
        let etag = header("etag");
        let last_modified = header("last-modified");
        let fatal = |e| Failure::Fatal(e);
        let store_err = |source| {
            fatal(Error::Store {
                url: url.clone(),
                source,
            })
        };
        let staging = self.store.staging().map_err(store_err)?;
        let path = staging.upper().join(&src.filename);
        let io_err = |source| {
            fatal(Error::Io {
                url: url.clone(),
                path: path.clone(),
                source,
            })
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .await
            .map_err(io_err)?;
        let mut hasher = Sha256::new();
        // A checksum of another algorithm than the stored sha256 gets its own hasher.
        let mut checksum_hasher = check_source(src).map_err(fatal)?.map(|c| c.hasher());
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| transient(&e))?;
            hasher.update(&chunk);
            if let Some(h) = &mut checksum_hasher {
                h.update(&chunk);
            }
            size += chunk.len() as u64;
            if size > self.max_size {
                return Err(fatal(Error::BadSource {
                    url: url.clone(),
                    reason: format!(
                        "the download is larger than {} bytes: refused",
                        self.max_size
                    ),
                }));
            }
            file.write_all(&chunk).await.map_err(io_err)?;
        }
        file.flush().await.map_err(io_err)?;
        let file = file.into_std().await;
        let digest = OciDigest::from_sha256(hasher.finalize().into());
        if let (Some(want), Some(h)) = (&src.checksum, checksum_hasher) {
            let actual = h.finish();
            if actual != *want {
                return Err(fatal(Error::Checksum {
                    url: url.clone(),
                    expected: want.clone(),
                    actual,
                }));
            }
        }
        let downloaded = Some(size);
        // The same body with the same Last-Modified as the stored fetch: its layer, so what
        // follows stays cached even without validators.
        if let Some(rec) = prev
            && rec.digest == digest
            && rec.last_modified == last_modified
        {
            let rec = HttpRecord {
                etag,
                ..rec.clone()
            };
            self.store.http_put(&rec).map_err(store_err)?;
            return Ok(Fetched {
                layer: rec.layer,
                digest,
                downloaded,
            });
        }
        if let Some(mtime) = last_modified
            .as_deref()
            .and_then(|lm| httpdate::parse_http_date(lm).ok())
        {
            file.set_modified(mtime).map_err(io_err)?;
        }
        drop(file);
        let store = self.store.clone();
        let layer = tokio::task::spawn_blocking(move || -> Result<LayerId, String> {
            let id = cairn_oci::content_digest(staging.upper()).map_err(|e| e.to_string())?;
            store
                .commit_layer(staging, &id, LayerRecord::default())
                .map_err(|e| e.to_string())?;
            Ok(id)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|reason| {
            fatal(Error::BadSource {
                url: url.clone(),
                reason: format!("storing the download: {reason}"),
            })
        })?;
        let rec = HttpRecord {
            url: url.clone(),
            filename: src.filename.clone(),
            digest: digest.clone(),
            layer: layer.clone(),
            etag,
            last_modified,
        };
        self.store.http_put(&rec).map_err(store_err)?;
        Ok(Fetched {
            layer,
            digest,
            downloaded,
        })
    }
}

/// A transport error as a transient failure, with its causes.
fn transient(e: &reqwest::Error) -> Failure {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Failure::Transient(text)
}

/// What a frontend asked for must be fetchable and storable: an http(s) URL, a file name that
/// is one path component, a well-formed checksum (returned).
fn check_source(src: &Source) -> Result<Option<Checksum>> {
    let bad = |reason: String| Error::BadSource {
        url: src.url.clone(),
        reason,
    };
    let scheme = src
        .url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(bad("only http:// and https:// URLs can be fetched".into()));
    }
    let f = &src.filename;
    if f.is_empty() || f == "." || f == ".." || f.contains('/') || f.contains('\0') {
        return Err(bad(format!("{f:?} is not a file name")));
    }
    src.checksum
        .as_deref()
        .map(|c| Checksum::parse(c).map_err(|e| bad(format!("checksum {c:?}: {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(url: &str, filename: &str, checksum: Option<&str>) -> Source {
        Source {
            url: url.into(),
            filename: filename.into(),
            checksum: checksum.map(str::to_string),
        }
    }

    /// A server on 127.0.0.1 that answers every request with `head` and then spaces, for as
    /// long as anyone reads.
    fn endless_server(head: &'static str) -> u16 {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    if s.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                    while s.write_all(chunk.as_bytes()).is_ok() {}
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn an_endless_or_huge_download_is_cut_off_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let fetcher = Fetcher::new(store.clone(), Timeouts::default())
            .expect("fetcher")
            .with_max_size(1 << 20);
        for head in [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
        ] {
            let port = endless_server(head);
            let url = format!("http://127.0.0.1:{port}/f");
            let err = fetcher
                .fetch(&src(&url, "f", None))
                .await
                .expect_err("refused");
            assert!(
                err.to_string().contains("larger than 1048576 bytes"),
                "{err}"
            );
            assert!(
                store.http_get(&url, "f").expect("read").is_none(),
                "nothing recorded"
            );
        }
    }

    #[test]
    fn sources_are_checked_before_any_request() {
        assert!(check_source(&src("https://example.com/a", "a", None)).is_ok());
        assert!(check_source(&src("HTTP://example.com/a", "a", None)).is_ok());
        for bad in [
            src("file:///etc/passwd", "passwd", None),
            src("ftp://example.com/a", "a", None),
            src("https://example.com/a", "../a", None),
            src("https://example.com/a", "..", None),
            src("https://example.com/a", "", None),
            src("https://example.com/a", "a", Some("md5:abc")),
            src("https://example.com/a", "a", Some("sha256:ABC")),
        ] {
            assert!(check_source(&bad).is_err(), "{bad:?}");
        }
    }
}

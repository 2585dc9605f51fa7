//! The crate's error type. Every variant names the thing that failed — a path on disk, a
//! tar entry, an archive member — because "permission denied" alone is useless when a layer
//! has fifty thousand files.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on a path failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A tar entry is malformed or hostile (escapes the destination, bad link, ...).
    #[error("layer entry {entry:?}: {reason}")]
    Entry { entry: String, reason: String },
    /// Writing or reading a tar entry failed.
    #[error("layer entry {entry:?}: {source}")]
    EntryIo { entry: String, source: io::Error },
    /// Reading or writing a tar stream as a whole failed.
    #[error("{what}: {source}")]
    Stream { what: String, source: io::Error },
    /// The store refused an operation.
    #[error(transparent)]
    Store(#[from] cairn_store::Error),
    /// An image archive or layout is not what it claims to be.
    #[error("image archive {}: {reason}", path.display())]
    Archive { path: PathBuf, reason: String },
    /// Content did not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A JSON document (config, manifest, index) could not be parsed or written.
    #[error("{what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    /// A layer the caller referenced is not in the store.
    #[error(
        "layer {0} is not in the store, or its record is damaged: build with --no-cache to \
         make it again, or pull/load the image it came from again"
    )]
    MissingLayer(String),
    /// Anything else the caller asked for that cannot be done.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn entry(entry: impl AsRef<[u8]>, reason: impl Into<String>) -> Self {
        Error::Entry {
            entry: String::from_utf8_lossy(entry.as_ref()).into_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn entry_io(entry: impl AsRef<[u8]>, source: io::Error) -> Self {
        Error::EntryIo {
            entry: String::from_utf8_lossy(entry.as_ref()).into_owned(),
            source,
        }
    }

    pub(crate) fn stream(what: impl Into<String>, source: io::Error) -> Self {
        Error::Stream {
            what: what.into(),
            source,
        }
    }
}

/// `rustix` errors as `std::io::Error`.
pub(crate) fn rio(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

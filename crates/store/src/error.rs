//! The store's one error type.
//!
//! Every variant names *where* (a path, a digest, an id) and *why*; the underlying cause is kept
//! as the error `source` so the CLI can print the whole chain. Nothing here prints.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::OciDigest;

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation on `path` failed.
    #[error("store I/O error at {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file in the store is not what it should be and cannot be repaired by ignoring it.
    #[error("corrupt store file {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A record (or the store layout) was written by a format version this build does not read.
    #[error(
        "{}: format version {found} is not supported (this cairn reads version {supported}); \
         was the store written by a newer cairn?",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Written bytes did not hash to the digest the caller expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        expected: OciDigest,
        actual: OciDigest,
    },
    /// A stored blob's bytes do not hash to its name (bit rot or tampering); the file was removed.
    #[error("corrupt blob {}: content hashes to {actual}, not {expected}", path.display())]
    CorruptBlob {
        path: PathBuf,
        expected: OciDigest,
        actual: OciDigest,
    },
    /// The blob is not in the store.
    #[error("blob {digest} is not in the store ({})", path.display())]
    BlobNotFound { digest: OciDigest, path: PathBuf },
    /// The layer has no committed record in the store.
    #[error("layer {id} is not in the store")]
    LayerNotFound { id: String },
    /// A string that should be an OCI sha256 digest is not one.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest { input: String, reason: &'static str },
    /// A layer id is not 64 lowercase hex characters.
    #[error("invalid layer id {id:?}: expected 64 lowercase hex characters")]
    InvalidLayerId { id: String },
    /// An image name the store cannot key on (empty).
    #[error("invalid image name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// Serializing a record failed.
    #[error("encoding record for {}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: postcard::Error,
    },
}

impl Error {
    /// Wrap an I/O error with the path it happened on.
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Whether this is an I/O "not found".
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            Error::BlobNotFound { .. } | Error::LayerNotFound { .. } => true,
            _ => false,
        }
    }
}

/// `map_err` helper: `.map_err(io_at(&path))`.
pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::io(path, source)
}

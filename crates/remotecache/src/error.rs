//! What can go wrong with a shared cache. A cache is someone else's data: the solver treats a
//! failed fetch as a miss (with a warning), so these errors explain, they never stop a build
//! that could go on without the cache.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cache's documents do not read as a cairn cache (version, JSON, digests).
    #[error("{0}")]
    Invalid(String),
    /// A blob does not match the digest it is named by.
    #[error("{path}: blob does not match its digest {expected} (got {actual})")]
    Mismatch {
        path: String,
        expected: String,
        actual: String,
    },
    /// A cached layer unpacks to other content than its id says.
    #[error("cached layer {id} unpacks to different content ({actual})")]
    WrongContent {
        id: cairn_store::LayerId,
        actual: cairn_store::LayerId,
    },
    #[error(transparent)]
    Store(#[from] cairn_store::Error),
    #[error(transparent)]
    Oci(#[from] cairn_oci::Error),
    #[error(transparent)]
    Registry(Box<cairn_registry::Error>),
    /// What was being done, and why it failed.
    #[error("{message}")]
    Context {
        message: String,
        #[source]
        source: Box<Error>,
    },
    #[error("invalid cache reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
}

impl From<cairn_registry::Error> for Error {
    fn from(e: cairn_registry::Error) -> Self {
        Error::Registry(Box::new(e))
    }
}

impl Error {
    /// This error as the cause of `message`.
    pub fn context(self, message: impl std::fmt::Display) -> Error {
        Error::Context {
            message: message.to_string(),
            source: Box::new(self),
        }
    }
}

pub(crate) fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

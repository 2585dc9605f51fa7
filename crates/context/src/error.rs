//! The error type of scanning and selecting. Every variant names the path it is about: a path
//! on disk for I/O, the `COPY` source (as written) or context-relative path for selections.

use std::io;
use std::path::PathBuf;

use crate::ignore::PatternError;

/// `Result` with [`ContextError`].
pub type Result<T, E = ContextError> = std::result::Result<T, E>;

/// Why the context could not be scanned or a selection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A filesystem operation on a path failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The context root is not a directory.
    #[error("{}: the build context is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// A file name in the context is not valid UTF-8 (patterns and digests need text).
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },
    /// A file kept changing (or was replaced) while it was being hashed.
    #[error("{}: file changed while the build context was being read", path.display())]
    ChangedDuringScan { path: PathBuf },
    /// A `.dockerignore` pattern failed while walking (upstream reports these lazily).
    #[error("{path}: .dockerignore: {source}")]
    Ignore { path: String, source: PatternError },
    /// A `COPY` source selects nothing (and has no wildcard).
    #[error("\"{src}\": not found in the build context")]
    NotFound { src: String },
    /// A source path, or a symlink on the way to it, leads outside the context.
    #[error("{path}: points outside the build context")]
    OutsideContext { path: String },
    /// A file a step read from the context is not the one the step's cache key was computed
    /// from: it changed while the build ran.
    #[error(
        "{path}: the file changed in the build context while the build ran (its cache key was \
         computed from the earlier content); build again"
    )]
    ChangedDuringBuild { path: String },
    /// Resolving a source path met too many symlinks (a loop).
    #[error("{path}: too many levels of symbolic links")]
    SymlinkLoop { path: String },
    /// A wildcard source is not valid `filepath.Match` syntax.
    #[error("{src}: syntax error in pattern")]
    BadSource { src: String },
    /// An `--exclude` pattern is invalid.
    #[error("invalid exclude pattern: {source}")]
    Exclude { source: PatternError },
}

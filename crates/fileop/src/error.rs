//! The crate's error type.
//!
//! Why one enum with the path in every variant: a failing COPY is reported to the user at the
//! Dockerfile line that caused it, and the message must say *which* file and *why* without the
//! host paths of the sandbox (paths are shown as seen inside the container, or relative to the
//! source input for source-side problems).

use std::io;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a file action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller broke this crate's contract (a bug in cairn, not in the build).
    #[error("internal error: {0}")]
    Internal(String),
    /// A named (non-wildcard) source does not exist in its input. BuildKit's words
    /// (`"/path": not found`), which CI scripts grep for; `input` is for debugging only.
    #[error("\"/{}\": not found", path.trim_start_matches('/'))]
    SourceNotFound { input: u32, path: String },
    /// A wildcard matched nothing and `allow_empty_wildcard` is off.
    #[error(
        "COPY failed: no source files were specified ({pattern} matched nothing in source input {input})"
    )]
    NoSourceFiles { input: u32, pattern: String },
    /// A wildcard that is not `filepath.Match` syntax (Go's `ErrBadPattern` words).
    #[error("syntax error in pattern {pattern:?}")]
    BadPattern { pattern: String },
    /// `CopyAction::source` points past the inputs given to [`crate::apply`].
    #[error("COPY failed: the action uses source input {input} but only {available} were given")]
    MissingInput { input: u32, available: usize },
    /// Several files were copied onto one path that is not a directory.
    #[error(
        "COPY failed: copying more than one file to {dest} requires a directory destination ending with /"
    )]
    DestNotDirectory { dest: String },
    /// `--chown` names a user that the target's `/etc/passwd` does not list.
    #[error("failed to resolve user {name:?}: no such user in /etc/passwd")]
    NoSuchUser { name: String },
    /// `--chown` names a group that the target's `/etc/group` does not list.
    #[error("failed to resolve group {name:?}: no such group in /etc/group")]
    NoSuchGroup { name: String },
    /// The target's `/etc/passwd` or `/etc/group` could not be read.
    #[error("failed to resolve {what} {name:?}: cannot read {file}: {source}")]
    IdFile {
        what: &'static str,
        name: String,
        file: &'static str,
        #[source]
        source: io::Error,
    },
    /// `--chmod` is neither octal bits nor a symbolic mode.
    #[error("invalid mode {mode:?}: expected octal bits (755) or a symbolic mode (u+x,g-w)")]
    InvalidMode { mode: String },
    /// An include / exclude pattern is malformed.
    #[error("invalid {kind} pattern {pattern:?}: {reason}")]
    InvalidPattern {
        kind: &'static str,
        pattern: String,
        reason: String,
    },
    /// More than 255 symlinks were followed while resolving a path.
    #[error("too many levels of symbolic links (more than 255) resolving {path}")]
    TooManyLinks { path: String },
    /// A directory was to be created or copied where a non-directory exists.
    #[error("cannot copy to non-directory: {path}")]
    NotADirectory { path: String },
    /// A file was to be written where a directory exists.
    #[error("cannot replace directory {path} with a file")]
    IsADirectory { path: String },
    /// The path names the root itself where a file or link is needed.
    #[error("invalid path {path:?}: it names the root directory")]
    RootPath { path: String },
    /// An archive given to ADD is malformed or unsafe.
    #[error("failed to unpack {archive}: entry {entry:?}: {reason}")]
    Archive {
        archive: String,
        entry: String,
        reason: String,
    },
    /// A system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Build an [`Error::Io`]; `path` is the in-container (or in-source) path.
    pub(crate) fn io(op: &'static str, path: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// True for "does not exist" (including a missing directory in the middle of the path).
pub(crate) fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

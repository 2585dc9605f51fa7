//! File-action semantics (see docs/execution-design.md, "crates/fileop").
//!
//! [`apply`] runs the [`FileAction`]s of a file op (COPY, ADD, WORKDIR, heredocs...) on a
//! plain directory tree, reproducing what `docker build` (BuildKit's file op backend and
//! fsutil's copier) does, and never touching anything outside the tree: every path inside the
//! target — and every path inside a source — is resolved *within* its root, symlinks included
//! ([`resolve_in_root`]).
//!
//! Modules, each small and documented with its reason to exist:
//! [`resolve`] (confinement), `pattern` (wildcards), `owner` (`--chown` lookup), `mode`
//! (`--chmod`), `copy` (COPY/ADD), `archive` (ADD's archive unpacking), `actions`
//! (Mkdir/Mkfile/Rm/Symlink), `meta` (ownership, modes, times, xattrs).
#![deny(clippy::indexing_slicing)]

mod actions;
mod archive;
mod copy;
mod error;
mod meta;
mod mode;
mod owner;
mod pattern;
pub mod resolve;
mod reuse;

use std::path::{Path, PathBuf};

use cairn_ir::FileAction;

pub use archive::extract_tar;
pub use error::{Error, Result};
pub use resolve::resolve_in_root;
pub use reuse::{CopiedFile, CopyPlan, CopyTracker, ReuseStats};

/// Whose ownership the files of a source input keep when the copy has no `--chown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceOwnership {
    /// Keep the uid/gid the files have in the source (BuildKit's file op: `COPY --from=stage`
    /// keeps ownership).
    #[default]
    Preserve,
    /// Copy as 0:0 — what `docker build` does for the build context, whose files reach the
    /// builder owned by root whatever their owner on the client.
    Root,
}

/// A source input: a directory holding its files, and how their ownership is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub ownership: SourceOwnership,
    /// `.dockerignore` patterns, relative to the source root: matching files are invisible to
    /// every copy from this source (as if they were not in the build context).
    pub ignore: Vec<String>,
}

impl Source {
    /// Another stage's or an image's filesystem: ownership preserved.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Source {
            path: path.into(),
            ownership: SourceOwnership::Preserve,
            ignore: Vec::new(),
        }
    }

    /// The build context (or any client-side directory): files are copied as 0:0 unless
    /// `--chown` says otherwise.
    pub fn context(path: impl Into<PathBuf>) -> Self {
        Source {
            path: path.into(),
            ownership: SourceOwnership::Root,
            ignore: Vec::new(),
        }
    }

    /// Hide the files matching these `.dockerignore` patterns.
    pub fn with_ignore(mut self, patterns: Vec<String>) -> Self {
        self.ignore = patterns;
        self
    }
}

/// Apply `actions` in order to the tree at `root`. `sources[i]` is the directory holding source
/// input `i` (`CopyAction::source`); ownership of source files is preserved (see
/// [`apply_with`] to copy the build context as root-owned).
pub fn apply(root: &Path, sources: &[PathBuf], actions: &[FileAction]) -> Result<()> {
    let sources: Vec<Source> = sources.iter().map(Source::new).collect();
    apply_with(root, &sources, actions)
}

/// [`apply`] with per-source ownership handling.
pub fn apply_with(root: &Path, sources: &[Source], actions: &[FileAction]) -> Result<()> {
    for action in actions {
        actions::apply_one(root, sources, action, None)?;
    }
    Ok(())
}

/// [`apply_with`], following the regular files copied from the tracker's inputs and leaving
/// the unchanged ones its plan names uncreated (see [`CopyTracker`]): the caller links
/// them with [`CopyTracker::link_deferred`] once `root`'s overlay is unmounted. Only for
/// actions that are all copies without archive unpacking: anything else is refused.
pub fn apply_tracked(
    root: &Path,
    sources: &[Source],
    actions: &[FileAction],
    tracker: &mut CopyTracker,
) -> Result<()> {
    if let Some(a) = actions.iter().find(|a| !reuse::trackable(a)) {
        return Err(Error::Internal(format!(
            "a tracked copy holds an action that is not a plain copy: {a:?}"
        )));
    }
    for action in actions {
        actions::apply_one(root, sources, action, Some(&mut *tracker))?;
    }
    Ok(())
}

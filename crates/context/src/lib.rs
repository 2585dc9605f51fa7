//! Build-context handling for cairn: which files of the context exist for the build, what
//! they contain, and what each `COPY` reads.
//!
//! * [`ignore`] — the `.dockerignore` matcher (moby/patternmatcher semantics, pure).
//! * [`scan`] (`index`, `walk`, `hash`) — walk the context once with the matcher applied,
//!   never following symlinks, and hash regular files with blake3 in parallel, reusing the
//!   [`StatCache`] (`statcache`) for files whose `stat` is unchanged.
//! * [`ContextIndex::selection_digest`] / [`ContextIndex::files_for`] (`select`, `wildcard`)
//!   — exactly the entries a `COPY <src>` selects (paths, wildcards, excludes, symlinks
//!   resolved inside the context) and their canonical digest, independent of mtimes and of
//!   where the context lives.
//!
//! Scanning does I/O (reads the context); selecting works on the index only. Nothing here
//! prints.
#![deny(clippy::indexing_slicing)]

mod error;
mod hash;
pub mod ignore;
mod index;
mod select;
mod statcache;
mod walk;
pub mod wildcard;

pub use error::{ContextError, Result};

/// The most symlinks one path resolution follows, everywhere cairn resolves a path inside a
/// root: the context's key selection (`select`), fileop's in-root resolution and the sandbox
/// helper's fd walk. One number, so a chain of links is either followed by all three (the copy
/// copies what the key named) or refused by all. 255 is containerd's `fs.RootPath` limit,
/// which BuildKit's file ops use.
pub const MAX_SYMLINK_HOPS: usize = 255;

/// Go's `path.Clean` (`filepath.Clean` on Unix), exactly: the one port of it, for every crate
/// whose paths must clean as BuildKit's do (patterns, COPY sources and destinations, mount
/// targets, in-root paths).
pub fn go_clean(path: &str) -> String {
    ignore::clean_path(path)
}

/// [`go_clean`] of `p` made absolute (`path.Clean("/" + p)`): never above `/`.
pub fn go_clean_abs(p: &str) -> String {
    go_clean(&format!("/{p}"))
}
pub use ignore::{
    IgnoreMatcher, MatchInfo, Pattern, PatternError, ignore_file_candidates, read_ignore_file,
};
pub use index::{ContextIndex, Entry, EntryKind, ScanStats, Stamp, scan, scan_with};
pub use select::Selected;
pub use statcache::{DEFAULT_RACY_WINDOW, StatCache};

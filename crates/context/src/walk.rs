//! Walking the context directory once, with the `.dockerignore` matcher applied.
//!
//! The walk never follows symlinks: entries are `lstat`ed and a symlink is recorded as a
//! symlink with its target. Ignoring is incremental ([`IgnoreMatcher::matches_using_parent`],
//! each directory handing its [`MatchInfo`] to its children). An ignored directory is skipped
//! whole unless an exclusion (`!`) pattern could re-include something below it — moby's rule,
//! made a little more careful (see [`may_reinclude_below`]). When something below an ignored
//! directory is re-included, the ignored directories on its way are recorded too (as
//! BuildKit's fsutil walker does), so every recorded entry has its parents.
//!
//! Regular files are looked up in the stat cache here; the ones that miss are hashed
//! afterwards, in parallel ([`crate::hash`]).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{ContextError, Result};
use crate::ignore::{IgnoreMatcher, MatchInfo};
use crate::index::{Entry, EntryKind};
use crate::statcache::{FileStat, StatCache};

/// One recorded entry, with what the hashing step needs.
#[derive(Debug)]
pub(crate) struct Walked {
    /// For a regular file, its `lstat` is in `entry.stamp` and its hash in `entry.kind` when
    /// the stat cache served it.
    pub(crate) entry: Entry,
    /// The stat cache served the file's hash.
    pub(crate) cached: bool,
}

/// A directory still to be read.
struct PendingDir {
    rel: String,
    abs: PathBuf,
    info: MatchInfo,
}

/// Walk `root` (a directory); entries come back in no particular order.
pub(crate) fn walk(
    root: &Path,
    ignore: &IgnoreMatcher,
    cache: Option<&StatCache>,
) -> Result<Vec<Walked>> {
    let mut out = Vec::new();
    // Ignored directories we descended into, recorded only if something below is included.
    let mut deferred: HashMap<String, Walked> = HashMap::new();
    let mut stack = vec![PendingDir {
        rel: String::new(),
        abs: root.to_path_buf(),
        info: MatchInfo::default(),
    }];
    while let Some(dir) = stack.pop() {
        // Deciding what to skip is cheap and ordered; the `lstat`s are the cost of a walk, so
        // they run in parallel for each directory's kept entries.
        let mut kept = Vec::new();
        for (name, abs, file_type) in read_dir_sorted(&dir.abs)? {
            let rel = if dir.rel.is_empty() {
                name
            } else {
                format!("{}/{name}", dir.rel)
            };
            let (ignored, info) =
                ignore
                    .matches_using_parent(&rel, &dir.info)
                    .map_err(|source| ContextError::Ignore {
                        path: rel.clone(),
                        source,
                    })?;
            let is_dir = file_type.is_dir();
            if ignored && !(is_dir && may_reinclude_below(ignore, &rel)) {
                continue;
            }
            kept.push((rel, abs, ignored, info));
        }
        let dir_fd = rustix::fs::open(
            &dir.abs,
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| ContextError::Io {
            path: dir.abs.clone(),
            source: e.into(),
        })?;
        let stated: Vec<Result<Option<(Walked, bool)>>> = kept
            .par_iter()
            .map(|(rel, abs, _, _)| {
                let name = abs.file_name().unwrap_or_default();
                match rustix::fs::statat(&dir_fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => {
                        let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
                        Ok(Some((record(rel.clone(), &st, abs, cache)?, is_dir)))
                    }
                    // Deleted since it was listed: it is simply not part of this scan.
                    Err(rustix::io::Errno::NOENT) => Ok(None),
                    Err(e) => Err(ContextError::Io {
                        path: abs.clone(),
                        source: e.into(),
                    }),
                }
            })
            .collect();
        for ((rel, abs, ignored, info), result) in kept.into_iter().zip(stated) {
            let Some((walked, is_dir)) = result? else {
                continue;
            };
            if is_dir {
                stack.push(PendingDir {
                    rel: rel.clone(),
                    abs,
                    info,
                });
            }
            if ignored {
                deferred.insert(rel, walked);
            } else {
                include(&mut out, &mut deferred, walked);
            }
        }
    }
    Ok(out)
}

/// Record `walked`, and first the deferred (ignored) directories above it.
fn include(out: &mut Vec<Walked>, deferred: &mut HashMap<String, Walked>, walked: Walked) {
    if !deferred.is_empty() {
        let mut path = walked.entry.path.as_str();
        while let Some(i) = path.rfind('/') {
            path = &path[..i];
            match deferred.remove(path) {
                Some(parent) => out.push(parent),
                None => break,
            }
        }
    }
    out.push(walked);
}

/// The entries of a directory as (UTF-8 name, absolute path, type), sorted by name.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, PathBuf, fs::FileType)>> {
    let io_err = |source| ContextError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let abs = entry.path();
        let file_type = entry.file_type().map_err(|source| ContextError::Io {
            path: abs.clone(),
            source,
        })?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| ContextError::NonUtf8Path { path: abs.clone() })?;
        out.push((name, abs, file_type));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Build the entry for one `lstat`ed path.
fn record(
    rel: String,
    meta: &rustix::fs::Stat,
    abs: &Path,
    cache: Option<&StatCache>,
) -> Result<Walked> {
    let ft = rustix::fs::FileType::from_raw_mode(meta.st_mode);
    let mut stat = None;
    let mut cached = false;
    let (kind, size) = if ft.is_file() {
        let s = FileStat::from_stat(meta);
        let hit = cache.and_then(|c| c.lookup(&rel, &s));
        cached = hit.is_some();
        let size = s.size;
        stat = Some(s);
        (
            EntryKind::File {
                hash: hit.unwrap_or([0; 32]),
            },
            size,
        )
    } else if ft.is_dir() {
        // Directory sizes depend on the filesystem, not on the content: never recorded.
        (EntryKind::Dir, 0)
    } else if ft == rustix::fs::FileType::Symlink {
        let target = fs::read_link(abs).map_err(|source| ContextError::Io {
            path: abs.to_path_buf(),
            source,
        })?;
        let size = target.as_os_str().len() as u64;
        (EntryKind::Symlink { target }, size)
    } else {
        (EntryKind::Other, 0)
    };
    Ok(Walked {
        entry: Entry {
            path: rel,
            kind,
            mode: meta.st_mode & 0o7777,
            uid: meta.st_uid,
            gid: meta.st_gid,
            size,
            stamp: stat.as_ref().map(crate::index::Stamp::from),
        },
        cached,
    })
}

/// Could an exclusion pattern re-include something below the ignored directory `dir`?
///
/// moby descends when an exclusion pattern starts with `dir/`. That misses wildcards
/// (`!*/keep`) and `**`, so this is deliberately generous — descending too often only costs
/// time, skipping too eagerly would drop files: a pattern counts unless one of its literal
/// leading segments differs from `dir`'s, or it has no more segments than `dir` (without
/// `**`, a pattern only matches paths with exactly its number of segments, and one that
/// matched `dir` or an ancestor applied to `dir` already).
pub(crate) fn may_reinclude_below(ignore: &IgnoreMatcher, dir: &str) -> bool {
    if !ignore.has_exclusions() {
        return false;
    }
    let dir_segments: Vec<&str> = dir.split('/').collect();
    ignore
        .patterns()
        .iter()
        .filter(|p| p.is_exclusion())
        .any(|p| pattern_may_reach_below(p.text(), &dir_segments))
}

fn pattern_may_reach_below(pattern: &str, dir: &[&str]) -> bool {
    // `**` spans segments; an escape or a class (`[/]`) may hide a `/`.
    if pattern.contains("**") || pattern.contains(['\\', '[']) || pattern.starts_with('/') {
        return true;
    }
    let segments: Vec<&str> = pattern.split('/').collect();
    if segments.len() <= dir.len() {
        return false;
    }
    segments
        .iter()
        .zip(dir)
        .all(|(p, d)| p.contains(['*', '?']) || p == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(patterns: &[&str], dir: &str) -> bool {
        let m = IgnoreMatcher::new(patterns).expect("valid patterns");
        may_reinclude_below(&m, dir)
    }

    #[test]
    fn descend_only_when_an_exclusion_can_reach_below() {
        assert!(!reach(&["a"], "a"));
        assert!(reach(&["a", "!a/keep"], "a"));
        assert!(!reach(&["a", "!b/keep"], "a"));
        assert!(reach(&["a", "!*/keep"], "a"));
        assert!(reach(&["a", "!**/keep"], "a"));
        assert!(reach(&["a", "!a/b/c"], "a/b"));
        assert!(!reach(&["a", "!a/b/c"], "a/x"));
        assert!(!reach(&["a", "!a"], "a"));
        assert!(!reach(&["a/b", "!a/c"], "a/b"));
    }
}

//! Walking the context directory once, with the `.dockerignore` matcher applied.
//!
//! The walk never follows symlinks: entries are `lstat`ed (relative to their directory's
//! descriptor, and directories are opened relative to their parent's with `O_NOFOLLOW`), and a
//! symlink is recorded as a symlink with its target. Ignoring is incremental
//! ([`IgnoreMatcher::matches_using_parent`], each directory handing its [`MatchInfo`] to its
//! children). An ignored directory is skipped whole unless an exclusion (`!`) pattern could
//! re-include something below it — moby's rule, made a little more careful (see
//! [`may_reinclude_below`]). When something below an ignored directory is re-included, the
//! ignored directories on its way are recorded too (as BuildKit's fsutil walker does), so every
//! recorded entry has its parents.
//!
//! **Parallel by directory.** Each directory is one task on rayon's pool (list, match, `lstat`
//! its entries, hand its subdirectories on as new tasks). A fork-join per directory over its
//! entries, the first design, made tens of thousands of thread wake-ups for a 100,000-file
//! context and was slower than no parallelism at all.
//!
//! Regular files are looked up in the stat cache here; the ones that miss are hashed
//! afterwards, in parallel ([`crate::hash`]).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use crate::error::{ContextError, Result};
use crate::ignore::{IgnoreMatcher, MatchInfo};
use crate::index::{Entry, EntryKind};
use crate::statcache::{FileStat, StatCache};

/// One recorded entry, with what the hashing step needs.
#[derive(Debug, Clone)]
pub(crate) struct Walked {
    /// For a regular file, its `lstat` is in `entry.stamp` and its hash in `entry.kind` when
    /// the stat cache served it.
    pub(crate) entry: Entry,
    /// The stat cache served the file's hash.
    pub(crate) cached: bool,
}

/// A directory still to be read.
struct PendingDir {
    fd: OwnedFd,
    rel: String,
    abs: PathBuf,
    info: MatchInfo,
    /// The ignored directories above this one (outermost first) not yet recorded: they are
    /// recorded with the first entry below them that is included.
    ignored_above: Arc<Vec<Walked>>,
}

/// What a walk found: the entries, sorted by path, and the regular files among them the stat
/// cache did not serve (to be hashed), sorted too.
pub(crate) struct Walk {
    pub(crate) entries: Vec<Entry>,
    pub(crate) pending: Vec<String>,
}

/// What the tasks share.
struct Shared<'a> {
    ignore: &'a IgnoreMatcher,
    cache: Option<&'a StatCache>,
    /// The entries, as each directory's task finds them: one vector for all, made as big as
    /// the last scan's (the stat cache's) files from the start, so a big context's entries are
    /// never held twice (per-directory vectors and their concatenation, or a doubled buffer
    /// and its copy).
    out: Mutex<Vec<Entry>>,
    /// Regular files the stat cache did not serve.
    pending: Mutex<Vec<String>>,
    error: Mutex<Option<ContextError>>,
    /// Some ignored directory was recorded (maybe more than once: see [`walk`]).
    deferred: std::sync::atomic::AtomicBool,
}

/// Walk `root` (a directory); entries come back sorted by path.
pub(crate) fn walk(root: &Path, ignore: &IgnoreMatcher, cache: Option<&StatCache>) -> Result<Walk> {
    let fd = open_dir(None, root.as_os_str(), root)?;
    // The last scan's files, and room for the directories (a hundred files to one, typically).
    let expected = cache.map_or(0, |c| c.len().saturating_add(c.len() / 16 + 16));
    let shared = Shared {
        ignore,
        cache,
        out: Mutex::new(Vec::with_capacity(expected)),
        pending: Mutex::new(Vec::new()),
        error: Mutex::new(None),
        deferred: Default::default(),
    };
    let top = PendingDir {
        fd,
        rel: String::new(),
        abs: root.to_path_buf(),
        info: MatchInfo::default(),
        ignored_above: Arc::default(),
    };
    rayon::scope(|s| visit(s, &shared, top));
    if let Some(e) = shared.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut entries = shared.out.into_inner().unwrap_or_else(|p| p.into_inner());
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    if shared.deferred.into_inner() {
        // Ignored directories are recorded by every task that includes something below them.
        entries.dedup_by(|a, b| a.path == b.path);
    }
    let mut pending = shared
        .pending
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    pending.sort_unstable();
    Ok(Walk { entries, pending })
}

/// One directory's task: its entries go to `shared.out`, its subdirectories to new tasks.
fn visit<'s>(scope: &rayon::Scope<'s>, shared: &'s Shared<'s>, dir: PendingDir) {
    if shared.error.lock().map(|e| e.is_some()).unwrap_or(true) {
        return;
    }
    match read(shared, &dir) {
        Ok((entries, subdirs)) => {
            let unhashed: Vec<String> = entries
                .iter()
                .filter(|w| w.entry.stamp.is_some() && !w.cached)
                .map(|w| w.entry.path.clone())
                .collect();
            if !unhashed.is_empty()
                && let Ok(mut pending) = shared.pending.lock()
            {
                pending.extend(unhashed);
            }
            if !entries.is_empty()
                && let Ok(mut out) = shared.out.lock()
            {
                out.extend(entries.into_iter().map(|w| w.entry));
            }
            for sub in subdirs {
                scope.spawn(move |s| visit(s, shared, sub));
            }
        }
        Err(e) => {
            if let Ok(mut slot) = shared.error.lock() {
                slot.get_or_insert(e);
            }
        }
    }
}

/// List, match and `lstat` the entries of `dir`.
fn read(shared: &Shared<'_>, dir: &PendingDir) -> Result<(Vec<Walked>, Vec<PendingDir>)> {
    let io_err = |path: PathBuf| {
        move |e: rustix::io::Errno| ContextError::Io {
            path,
            source: e.into(),
        }
    };
    let mut entries = Vec::new();
    let mut subdirs = Vec::new();
    let listing = Dir::read_from(&dir.fd).map_err(io_err(dir.abs.clone()))?;
    for item in listing {
        let item = item.map_err(io_err(dir.abs.clone()))?;
        let name = item.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let Ok(name) = std::str::from_utf8(name) else {
            return Err(ContextError::NonUtf8Path {
                path: dir.abs.join(OsStr::from_bytes(name)),
            });
        };
        let rel = if dir.rel.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", dir.rel)
        };
        let (ignored, info) = shared
            .ignore
            .matches_using_parent(&rel, &dir.info)
            .map_err(|source| ContextError::Ignore {
                path: rel.clone(),
                source,
            })?;
        if ignored {
            // Only a directory that an exclusion may reach below is looked at.
            let listed = item.file_type();
            let may_be_dir = listed == FileType::Directory || listed == FileType::Unknown;
            if !(may_be_dir && may_reinclude_below(shared.ignore, &rel)) {
                continue;
            }
        }
        let st = match rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Deleted since it was listed: it is simply not part of this scan.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_err(dir.abs.join(name))(e)),
        };
        let is_dir = FileType::from_raw_mode(st.st_mode).is_dir();
        if ignored && !is_dir {
            continue;
        }
        let walked = record(rel, &st, &dir.fd, name, &dir.abs, shared.cache)?;
        let ignored_above = if ignored {
            let mut chain = Vec::with_capacity(dir.ignored_above.len() + 1);
            chain.extend(dir.ignored_above.iter().cloned());
            chain.push(walked.clone());
            Arc::new(chain)
        } else {
            if !dir.ignored_above.is_empty() {
                shared
                    .deferred
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                entries.extend(dir.ignored_above.iter().cloned());
            }
            Arc::default()
        };
        if is_dir {
            let abs = dir.abs.join(name);
            match open_dir(Some(&dir.fd), OsStr::new(name), &abs) {
                Ok(fd) => subdirs.push(PendingDir {
                    fd,
                    rel: walked.entry.path.clone(),
                    abs,
                    info,
                    ignored_above,
                }),
                Err(ContextError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        if !ignored {
            entries.push(walked);
        }
    }
    Ok((entries, subdirs))
}

/// Open directory `name` (relative to `parent`, or absolute) for listing, never through a
/// symlink put in its place since it was `lstat`ed. `abs` names it in errors.
fn open_dir(parent: Option<&OwnedFd>, name: &OsStr, abs: &Path) -> Result<OwnedFd> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    let opened = match parent {
        Some(fd) => rustix::fs::openat(fd, name, flags | OFlags::NOFOLLOW, Mode::empty()),
        None => rustix::fs::open(name, flags, Mode::empty()),
    };
    opened.map_err(|e| ContextError::Io {
        path: abs.to_path_buf(),
        source: e.into(),
    })
}

/// Build the entry for one `lstat`ed entry `name` of directory `dir_fd` (`dir_abs`).
fn record(
    rel: String,
    meta: &rustix::fs::Stat,
    dir_fd: &OwnedFd,
    name: &str,
    dir_abs: &Path,
    cache: Option<&StatCache>,
) -> Result<Walked> {
    let ft = FileType::from_raw_mode(meta.st_mode);
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
    } else if ft == FileType::Symlink {
        let target =
            rustix::fs::readlinkat(dir_fd, name, Vec::new()).map_err(|e| ContextError::Io {
                path: dir_abs.join(name),
                source: e.into(),
            })?;
        let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
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

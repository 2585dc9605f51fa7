//! [`scan`] and its result, the [`ContextIndex`]: every non-ignored entry of the context,
//! sorted by path, with file contents hashed.
//!
//! Paths are relative to the context root, `/`-separated, without `.` or `..` segments; the
//! root itself is not an entry (its mode and owner depend on where the context lives, not on
//! what it contains). Because paths sort bytewise, everything below a directory `d` is one
//! contiguous run (the paths starting with `d/`), which selections rely on.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{ContextError, Result};
use crate::hash;
use crate::ignore::IgnoreMatcher;
use crate::statcache::{CachedFile, FileStat, StatCache};
use crate::walk;

/// What an entry is, with its content identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file and the blake3 of its content.
    File { hash: [u8; 32] },
    /// A directory.
    Dir,
    /// A symlink and its target (recorded, never followed by the walk).
    Symlink { target: PathBuf },
    /// A FIFO, socket or device node.
    Other,
}

impl EntryKind {
    /// `file`, `dir`, `symlink` or `other`.
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::File { .. } => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Other => "other",
        }
    }
}

/// One entry of the context. Two entries are equal when they describe the same content (path,
/// kind, content hash, mode, owner, size); the stamp says which version of the file on disk it
/// was read from and takes no part.
#[derive(Debug, Clone, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated, clean.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits with setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// File size; the target length for a symlink; 0 for directories and others.
    pub size: u64,
    /// For a regular file, its `stat` when its content was hashed: what
    /// [`ContextIndex::check_unchanged`] compares against, so a copy never carries content
    /// other than what the key was computed from.
    pub stamp: Option<Stamp>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        let Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            size,
            stamp: _,
        } = self;
        (path, kind, mode, uid, gid, size)
            == (
                &other.path,
                &other.kind,
                &other.mode,
                &other.uid,
                &other.gid,
                &other.size,
            )
    }
}

/// The `stat` fields that change whenever a file's content can have: size, modification and
/// change times (nanoseconds), inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
}

impl From<&crate::statcache::FileStat> for Stamp {
    fn from(s: &crate::statcache::FileStat) -> Self {
        Stamp {
            size: s.size,
            mtime_ns: s.mtime_ns,
            ctime_ns: s.ctime_ns,
            ino: s.ino,
        }
    }
}

/// How the files of a scan got their hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Files read and hashed.
    pub hashed: usize,
    /// Files whose hash came from the stat cache.
    pub cached: usize,
}

/// The scanned context (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextIndex {
    entries: Vec<Entry>,
    stats: ScanStats,
    /// For a scan: the canonical root, when it started (ns) and the stat cache's racy window
    /// (a file changed within the window before the start is not kept in the cache).
    scanned: Option<(PathBuf, i128, std::time::Duration)>,
}

impl ContextIndex {
    /// An index from entries that did not come from a scan (tests, other sources). Paths must
    /// be clean and relative, as in a scan; the entries are sorted and duplicates dropped.
    pub fn from_entries(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries.dedup_by(|a, b| a.path == b.path);
        ContextIndex {
            entries,
            stats: ScanStats::default(),
            scanned: None,
        }
    }

    /// All entries, sorted by path.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for an empty context.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `path` (relative, clean).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        let i = self
            .entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()?;
        self.entries.get(i)
    }

    /// The stat cache this scan leaves for the next one ([`StatCache::to_bytes`]'s format),
    /// written straight from the entries: a second map of every file's stat and hash is what
    /// made a big context's scan hold each file twice. Files changed within the racy window
    /// before the scan are left out (hashed again next time). Empty for an index that did
    /// not come from a scan.
    pub fn stat_cache_bytes(&self) -> Vec<u8> {
        let Some((root, started, window)) = &self.scanned else {
            return Vec::new();
        };
        let files = self.entries.iter().filter_map(|e| {
            let (EntryKind::File { hash }, Some(stamp)) = (&e.kind, e.stamp) else {
                return None;
            };
            let stat = FileStat {
                size: stamp.size,
                mtime_ns: stamp.mtime_ns,
                ctime_ns: stamp.ctime_ns,
                ino: stamp.ino,
                mode: e.mode | 0o100000,
                uid: e.uid,
                gid: e.gid,
            };
            (!stat.is_racy(*started, *window))
                .then_some((e.path.as_str(), CachedFile { stat, hash: *hash }))
        });
        StatCache::encode(root, files)
    }

    /// How many files were hashed and how many came from the stat cache.
    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    /// Everything below directory `dir` (`""` is the root), sorted.
    pub(crate) fn below(&self, dir: &str) -> &[Entry] {
        if dir.is_empty() {
            return &self.entries;
        }
        let prefix = format!("{dir}/");
        let start = self
            .entries
            .partition_point(|e| e.path.as_str() < prefix.as_str());
        // Paths with a common prefix are contiguous in the sorted entries.
        let rest = self.entries.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .take_while(|e| e.path.starts_with(&prefix))
            .count();
        rest.get(..len).unwrap_or_default()
    }

    /// The names of the direct children of directory `dir` (`""` is the root).
    pub(crate) fn child_names<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> {
        let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        self.below(dir)
            .iter()
            .map(move |e| &e.path[skip..])
            .filter(|name| !name.contains('/'))
    }
}

/// Walk the context at `root` once with `ignore` applied, hash regular files with blake3 in
/// parallel, and serve unchanged files from `cache` — which is then replaced by the hashes
/// of this scan (see [`StatCache`] for which ones are kept).
pub fn scan(root: &Path, ignore: &IgnoreMatcher, cache: &mut StatCache) -> Result<ContextIndex> {
    let window = cache.racy_window();
    let index = scan_with(root, ignore, std::mem::take(cache))?;
    *cache = StatCache::from_vec(index.stat_cache_bytes()).with_racy_window(window);
    Ok(index)
}

/// [`scan`], consuming the cache: it is freed as soon as the walk has used it, and the next
/// scan's cache is [`ContextIndex::stat_cache_bytes`]. Why: a big context's scan otherwise
/// holds every file three times (the old cache, the entries, the new cache).
pub fn scan_with(root: &Path, ignore: &IgnoreMatcher, cache: StatCache) -> Result<ContextIndex> {
    let io = |source| ContextError::Io {
        path: root.to_path_buf(),
        source,
    };
    let root = fs::canonicalize(root).map_err(io)?;
    if !fs::metadata(&root).map_err(io)?.is_dir() {
        return Err(ContextError::NotADirectory { path: root });
    }
    // What the saved stat cache may keep: files whose times are older than the racy window
    // at the scan's start (a hashed file was read after that, so this is stricter than
    // checking at hashing time).
    let started = (crate::hash::now_ns(), cache.racy_window());
    let usable = cache.is_for(&root).then_some(&cache);
    let walk::Walk {
        mut entries,
        pending,
    } = walk::walk(&root, ignore, usable)?;
    drop(cache);

    // Files to hash: those the cache did not serve.
    let paths: Vec<PathBuf> = pending.iter().map(|p| root.join(p)).collect();
    let hashed = hash::hash_files(&paths)?;
    let files = entries.iter().filter(|e| e.stamp.is_some()).count();
    for (path, h) in pending.iter().zip(&hashed) {
        let Some(entry) = entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .and_then(|i| entries.get_mut(i))
        else {
            continue;
        };
        // The stat read with the content wins over the walk's (the file may have changed).
        entry.kind = EntryKind::File { hash: h.hash };
        entry.size = h.stat.size;
        entry.mode = h.stat.mode & 0o7777;
        entry.uid = h.stat.uid;
        entry.gid = h.stat.gid;
        entry.stamp = Some(Stamp::from(&h.stat));
    }
    Ok(ContextIndex {
        entries,
        stats: ScanStats {
            hashed: paths.len(),
            cached: files.saturating_sub(pending.len()),
        },
        scanned: Some((root, started.0, started.1)),
    })
}

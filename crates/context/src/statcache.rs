//! The stat cache: content hashes of context files, reused while a file's `stat` is unchanged.
//!
//! An entry maps a context-relative path to the `lstat` fields that change whenever the
//! content can have changed — size, mtime, ctime, inode, mode, owner — and the blake3 of the
//! content. [`crate::scan`] serves a file from the cache only when all of them are equal; ctime
//! is the guard against tools that restore mtimes (`cp -p`, `tar x`, `rsync -t`), since no
//! user-space call can set it.
//!
//! **Racy entries.** File timestamps have a granularity (a kernel tick on Linux, up to seconds
//! elsewhere), so a file rewritten with the same size right after it was hashed can keep an
//! identical stat. Like git's "racily clean" index entries, a hash is therefore only cached
//! when the file's mtime and ctime are older than [`StatCache::racy_window`] at the moment
//! it was read; a younger file is hashed again by the next scan (see
//! [`StatCache::with_racy_window`]).
//!
//! **Persistence.** [`StatCache::to_bytes`] writes `CAIRNSC` + a little-endian u32 format
//! version + the body described at [`StatCache::encode`]: fixed-size records sorted by path
//! and the paths after them, so a loaded cache is searched where it lies (binary search over
//! the records) instead of being decoded into a map — building a map of 100,000 paths was a
//! fifth of a big context's no-op rebuild, and held every path twice. [`StatCache::from_bytes`]
//! is forgiving: a cache is only an optimisation, so anything it cannot read (garbage,
//! truncation, another version) yields an empty cache instead of an error, and a record whose
//! path lies outside the file is a miss. The cache also remembers the context root it
//! describes and is emptied when scanned against another one.

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MAGIC: &[u8; 7] = b"CAIRNSC";
/// 2: postcard, times as i64 nanoseconds. 3: fixed-size records searched in place.
const FORMAT_VERSION: u32 = 3;
/// The bytes before the body: magic and version.
const PREFIX: usize = MAGIC.len() + 4;
/// One record: path offset and length (u32 each), size, mtime, ctime, inode (8 bytes each),
/// mode, uid, gid (4 bytes each), the blake3 hash.
const RECORD: usize = 4 + 4 + 8 * 4 + 4 * 3 + 32;

/// The default [`StatCache::racy_window`].
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// The `stat` fields that identify one version of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub(crate) size: u64,
    /// Nanoseconds since the epoch, saturated to i64 (years 1677-2262; ctime, which only
    /// the kernel sets, is always inside).
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
    pub(crate) ino: u64,
    /// The full `st_mode` (type and permission bits).
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl FileStat {
    /// From a raw `stat` (the walk uses `fstatat` relative to the directory, which is cheaper
    /// than resolving every path from the root).
    pub(crate) fn from_stat(st: &rustix::fs::Stat) -> Self {
        FileStat {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: nanos(st.st_mtime, i64::from(st.st_mtime_nsec as u32)),
            ctime_ns: nanos(st.st_ctime, i64::from(st.st_ctime_nsec as u32)),
            ino: st.st_ino,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }

    pub(crate) fn from_metadata(m: &Metadata) -> Self {
        FileStat {
            size: m.size(),
            mtime_ns: nanos(m.mtime(), m.mtime_nsec()),
            ctime_ns: nanos(m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
        }
    }

    /// Could the file still change without changing this stat, seen at `now_ns`?
    pub(crate) fn is_racy(&self, now_ns: i128, window: Duration) -> bool {
        let window_ns = i128::try_from(window.as_nanos()).unwrap_or(i128::MAX);
        i128::from(self.mtime_ns.max(self.ctime_ns)) >= now_ns.saturating_sub(window_ns)
    }
}

/// `secs` + `nsec` as nanoseconds since the epoch, saturated to i64.
pub(crate) fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// One cached file: its stat when hashed, and the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachedFile {
    pub(crate) stat: FileStat,
    pub(crate) hash: [u8; 32],
}

impl CachedFile {
    /// The record's fields after the path's offset and length.
    fn write(&self, out: &mut Vec<u8>) {
        let s = &self.stat;
        out.extend_from_slice(&s.size.to_le_bytes());
        out.extend_from_slice(&s.mtime_ns.to_le_bytes());
        out.extend_from_slice(&s.ctime_ns.to_le_bytes());
        out.extend_from_slice(&s.ino.to_le_bytes());
        out.extend_from_slice(&s.mode.to_le_bytes());
        out.extend_from_slice(&s.uid.to_le_bytes());
        out.extend_from_slice(&s.gid.to_le_bytes());
        out.extend_from_slice(&self.hash);
    }

    /// The inverse of [`CachedFile::write`], from a whole record.
    fn read(record: &[u8; RECORD]) -> Self {
        let mut r = Reader(&record[8..]);
        let stat = FileStat {
            size: u64::from_le_bytes(r.take()),
            mtime_ns: i64::from_le_bytes(r.take()),
            ctime_ns: i64::from_le_bytes(r.take()),
            ino: u64::from_le_bytes(r.take()),
            mode: u32::from_le_bytes(r.take()),
            uid: u32::from_le_bytes(r.take()),
            gid: u32::from_le_bytes(r.take()),
        };
        CachedFile {
            stat,
            hash: r.take(),
        }
    }
}

/// Fixed-size fields off the front of a record (whose length is checked by its type).
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_first_chunk::<N>().unwrap_or((&[0; N], &[]));
        self.0 = rest;
        *head
    }
}

/// Content hashes of a context's files, keyed by relative path (see the module docs).
#[derive(Debug, Clone)]
pub struct StatCache {
    root: Option<PathBuf>,
    /// The whole saved file; empty for a cache that holds nothing.
    bytes: Vec<u8>,
    /// Where the records start in `bytes`, and how many there are.
    records: usize,
    count: usize,
    /// Where the paths start in `bytes`.
    paths: usize,
    racy_window: Duration,
}

impl Default for StatCache {
    fn default() -> Self {
        StatCache {
            root: None,
            bytes: Vec::new(),
            records: 0,
            count: 0,
            paths: 0,
            racy_window: DEFAULT_RACY_WINDOW,
        }
    }
}

impl StatCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set how old a file's mtime/ctime must be when it is hashed for the hash to be cached
    /// ([`DEFAULT_RACY_WINDOW`] by default). `Duration::ZERO` trusts every stat, which is only
    /// safe when nothing writes to the context during or right after a scan (tests).
    pub fn with_racy_window(mut self, window: Duration) -> Self {
        self.racy_window = window;
        self
    }

    /// See [`StatCache::with_racy_window`].
    pub fn racy_window(&self) -> Duration {
        self.racy_window
    }

    /// The number of cached files.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The context root the entries belong to (canonical), if any scan filled the cache.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Record `i`'s bytes (`i < count`).
    fn record(&self, i: usize) -> Option<&[u8; RECORD]> {
        let start = self.records.checked_add(i.checked_mul(RECORD)?)?;
        self.bytes.get(start..)?.first_chunk::<RECORD>()
    }

    /// Record `i`'s path; `None` when it points outside the file (a damaged cache).
    fn path(&self, record: &[u8; RECORD]) -> Option<&[u8]> {
        let off = u32::from_le_bytes(*record.first_chunk::<4>()?) as usize;
        let len = u32::from_le_bytes(*record[4..].first_chunk::<4>()?) as usize;
        let start = self.paths.checked_add(off)?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The cached hash of `path` when its stat is still `stat`.
    pub(crate) fn lookup(&self, path: &str, stat: &FileStat) -> Option<[u8; 32]> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let record = self.record(mid)?;
            match self.path(record)?.cmp(path.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let cached = CachedFile::read(record);
                    return (cached.stat == *stat).then_some(cached.hash);
                }
            }
        }
        None
    }

    /// Is this cache about the context at `root`?
    pub(crate) fn is_for(&self, root: &Path) -> bool {
        self.root.as_deref() == Some(root)
    }

    /// A cache of `files` of `root` (tests).
    #[cfg(test)]
    pub(crate) fn of(root: PathBuf, mut files: Vec<(String, CachedFile)>) -> Self {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Self::from_vec(Self::encode(
            &root,
            files.iter().map(|(p, f)| (p.as_str(), *f)),
        ))
    }

    /// Every cached file, in path order (tests).
    #[cfg(test)]
    pub(crate) fn files(&self) -> Vec<(String, CachedFile)> {
        (0..self.count)
            .filter_map(|i| {
                let record = self.record(i)?;
                let path = String::from_utf8(self.path(record)?.to_vec()).ok()?;
                Some((path, CachedFile::read(record)))
            })
            .collect()
    }

    /// Serialize: `CAIRNSC`, a little-endian u32 version, the body (records, then paths: see
    /// the module docs). Deterministic.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.bytes.is_empty() {
            return Self::encode_body(None, std::iter::empty());
        }
        self.bytes.clone()
    }

    /// The bytes of a cache of `root` holding `files`, which must come sorted by path (a
    /// misplaced one is only never found). The body: the root's length (u32, 0 for none) and
    /// bytes, the number of records (u32), the records ([`RECORD`] bytes each, little-endian:
    /// path offset and length into the paths, size, mtime, ctime, inode, mode, uid, gid,
    /// hash), then the paths. Written into one buffer of the exact size (the files are
    /// iterated three times), since a big context's cache is megabytes. Files past u32
    /// offsets are left out (hashed again next time).
    pub(crate) fn encode<'a>(
        root: &Path,
        files: impl Iterator<Item = (&'a str, CachedFile)> + Clone,
    ) -> Vec<u8> {
        Self::encode_body(Some(root.as_os_str().as_bytes()), files)
    }

    fn encode_body<'a>(
        root: Option<&[u8]>,
        files: impl Iterator<Item = (&'a str, CachedFile)> + Clone,
    ) -> Vec<u8> {
        let root = root.unwrap_or_default();
        let Ok(root_len) = u32::try_from(root.len()) else {
            return Vec::new();
        };
        // How many files fit u32 offsets, and their paths' length.
        let (mut count, mut path_bytes) = (0u32, 0u32);
        for (path, _) in files.clone() {
            let (Some(next), Some(end)) = (
                count.checked_add(1),
                u32::try_from(path.len())
                    .ok()
                    .and_then(|l| path_bytes.checked_add(l)),
            ) else {
                break;
            };
            count = next;
            path_bytes = end;
        }
        let size = PREFIX + 8 + root.len() + count as usize * RECORD + path_bytes as usize;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&root_len.to_le_bytes());
        out.extend_from_slice(root);
        out.extend_from_slice(&count.to_le_bytes());
        let mut off = 0u32;
        for (path, file) in files.clone().take(count as usize) {
            // Fits: the first pass checked every offset up to `path_bytes`.
            let len = path.len() as u32;
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            file.write(&mut out);
            off += len;
        }
        for (path, _) in files.take(count as usize) {
            out.extend_from_slice(path.as_bytes());
        }
        out
    }

    /// Read [`StatCache::to_bytes`] output. Anything unreadable gives an empty cache.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::from_vec(bytes.to_vec())
    }

    /// [`StatCache::from_bytes`], keeping `bytes` as the cache (no copy).
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self::try_from_vec(bytes).unwrap_or_default()
    }

    fn try_from_vec(bytes: Vec<u8>) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let (version, rest) = rest.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*version) != FORMAT_VERSION {
            return None;
        }
        let (root_len, rest) = rest.split_first_chunk::<4>()?;
        let root_len = u32::from_le_bytes(*root_len) as usize;
        let root = rest.get(..root_len)?;
        let (count, _) = rest.get(root_len..)?.split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*count) as usize;
        let records = PREFIX + 4 + root_len + 4;
        let paths = records.checked_add(count.checked_mul(RECORD)?)?;
        if paths > bytes.len() {
            return None;
        }
        let root = (!root.is_empty()).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(root)));
        Some(StatCache {
            root,
            bytes,
            records,
            count,
            paths,
            racy_window: DEFAULT_RACY_WINDOW,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, hash: u8) -> CachedFile {
        CachedFile {
            stat: FileStat {
                size,
                mtime_ns: 1_700_000_000_123_456_789,
                ctime_ns: -1_700_000_001_000_000_000,
                ino: 42,
                mode: 0o100644,
                uid: 1000,
                gid: u32::MAX,
            },
            hash: [hash; 32],
        }
    }

    fn sample() -> StatCache {
        StatCache::of(
            PathBuf::from("/ctx"),
            vec![
                ("c".to_string(), file(5, 9)),
                ("a/b.txt".to_string(), file(u64::MAX, 7)),
            ],
        )
    }

    #[test]
    fn round_trip() {
        let cache = sample();
        let bytes = cache.to_bytes();
        assert!(bytes.starts_with(b"CAIRNSC\x03\x00\x00\x00"));
        let back = StatCache::from_bytes(&bytes);
        assert_eq!(back.len(), 2);
        assert_eq!(back.root(), Some(Path::new("/ctx")));
        assert_eq!(back.files(), cache.files());
        assert_eq!(back.files()[0], ("a/b.txt".to_string(), file(u64::MAX, 7)));
        assert_eq!(back.to_bytes(), bytes, "deterministic");
    }

    #[test]
    fn lookup_needs_the_path_and_the_same_stat() {
        let names: Vec<String> = (0..1000).map(|i| format!("d{}/f{i}", i % 7)).collect();
        let cache = StatCache::of(
            PathBuf::from("/ctx"),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), file(i as u64, i as u8)))
                .collect(),
        );
        for (i, n) in names.iter().enumerate() {
            assert_eq!(
                cache.lookup(n, &file(i as u64, 0).stat),
                Some([i as u8; 32]),
                "{n}"
            );
            assert_eq!(
                cache.lookup(n, &file(i as u64 + 1, 0).stat),
                None,
                "stat changed: {n}"
            );
        }
        for missing in ["", "d0", "d0/", "d9/f1", "d1/f10000", "zzz"] {
            assert_eq!(cache.lookup(missing, &file(0, 0).stat), None, "{missing}");
        }
        assert_eq!(StatCache::new().lookup("c", &file(5, 0).stat), None);
    }

    #[test]
    fn garbage_gives_an_empty_cache() {
        let bytes = sample().to_bytes();
        for bad in [
            &b""[..],
            b"garbage",
            b"CAIRNSC",
            b"CAIRNSC\x03\x00\x00\x00",
            b"CAIRNSC\x02\x00\x00\x00",
            &bytes[..bytes.len() - 1 - "a/b.txtc".len() - RECORD],
        ] {
            assert!(StatCache::from_bytes(bad).is_empty(), "{bad:?}");
        }
        let mut other_version = bytes.clone();
        other_version[7] = 4;
        assert!(StatCache::from_bytes(&other_version).is_empty());
        let mut huge_count = bytes.clone();
        let at = PREFIX + 4 + "/ctx".len();
        huge_count[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(StatCache::from_bytes(&huge_count).is_empty());
    }

    #[test]
    fn a_damaged_record_is_a_miss_not_a_panic() {
        let bytes = sample().to_bytes();
        // Paths cut short: the second record's path lies past the end.
        let cut = StatCache::from_bytes(&bytes[..bytes.len() - 1]);
        assert_eq!(cut.len(), 2);
        // The search may stop at the damaged record: a miss, never another file's hash.
        let found = cut.lookup("a/b.txt", &file(u64::MAX, 0).stat);
        assert!(found.is_none() || found == Some([7; 32]), "{found:?}");
        assert_eq!(cut.lookup("c", &file(5, 0).stat), None);
        // A path offset far outside the file.
        let mut far = bytes.clone();
        let first = PREFIX + 4 + "/ctx".len() + 4;
        far[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let far = StatCache::from_bytes(&far);
        assert_eq!(far.lookup("a/b.txt", &file(u64::MAX, 0).stat), None);
    }

    #[test]
    fn racy_window() {
        let mut stat = file(5, 9).stat;
        stat.mtime_ns = 1_000;
        stat.ctime_ns = 2_000;
        assert!(stat.is_racy(2_500, Duration::from_nanos(1_000)));
        assert!(!stat.is_racy(3_001, Duration::from_nanos(1_000)));
        assert!(!stat.is_racy(2_001, Duration::ZERO));
        assert!(stat.is_racy(2_000, Duration::ZERO));
    }
}

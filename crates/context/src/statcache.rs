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
//! version + postcard. [`StatCache::from_bytes`] is forgiving: a cache is only an
//! optimisation, so anything it cannot read (garbage, truncation, another version) yields an
//! empty cache instead of an error. The cache also remembers the context root it describes and
//! is emptied when scanned against another one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast, non-cryptographic hasher for the stat cache's path keys (the Fx hash of rustc):
/// the keys are local file names, there is nothing to defend against, and SipHash over 30,000
/// paths showed in no-op rebuild profiles.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
}

/// The map type of the stat cache.
pub(crate) type PathMap<V> = HashMap<String, V, BuildHasherDefault<FxHasher>>;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 7] = b"CAIRNSC";
/// 2: times as i64 nanoseconds (were i128).
const FORMAT_VERSION: u32 = 2;

/// The default [`StatCache::racy_window`].
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// The `stat` fields that identify one version of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedFile {
    pub(crate) stat: FileStat,
    pub(crate) hash: [u8; 32],
}

/// Content hashes of a context's files, keyed by relative path (see the module docs).
#[derive(Debug, Clone)]
pub struct StatCache {
    root: Option<PathBuf>,
    files: PathMap<CachedFile>,
    racy_window: Duration,
}

impl Default for StatCache {
    fn default() -> Self {
        StatCache {
            root: None,
            files: PathMap::default(),
            racy_window: DEFAULT_RACY_WINDOW,
        }
    }
}

/// The same bytes, read straight into the lookup map (postcard encodes a sequence of pairs and
/// a map identically), without an intermediate vector.
#[derive(Deserialize)]
struct CacheFileMap {
    root: Option<Vec<u8>>,
    files: PathMap<CachedFile>,
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
        self.files.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The context root the entries belong to (canonical), if any scan filled the cache.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The cached hash of `path` when its stat is still `stat`.
    pub(crate) fn lookup(&self, path: &str, stat: &FileStat) -> Option<[u8; 32]> {
        self.files
            .get(path)
            .filter(|c| c.stat == *stat)
            .map(|c| c.hash)
    }

    /// Is this cache about the context at `root`?
    pub(crate) fn is_for(&self, root: &Path) -> bool {
        self.root.as_deref() == Some(root)
    }

    /// Replace the contents with `files` of `root` (tests).
    #[cfg(test)]
    pub(crate) fn replace(&mut self, root: PathBuf, files: PathMap<CachedFile>) {
        self.root = Some(root);
        self.files = files;
    }

    /// Serialize: `CAIRNSC`, a little-endian u32 version, postcard. Deterministic (sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut files: Vec<(&str, CachedFile)> =
            self.files.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        files.sort_unstable_by(|a, b| a.0.cmp(b.0));
        match &self.root {
            Some(root) => Self::encode(root, files.into_iter()),
            None => Self::encode_body(None, files.into_iter()),
        }
    }

    /// The bytes of a cache of `root` holding `files` (in the order given: sorted by path).
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
        /// The files as a postcard sequence, written as they are iterated (the length first).
        struct Files<I>(I);
        impl<'a, I: Iterator<Item = (&'a str, CachedFile)> + Clone> Serialize for Files<I> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(self.0.clone().count()))?;
                for f in self.0.clone() {
                    seq.serialize_element(&f)?;
                }
                seq.end()
            }
        }
        #[derive(Serialize)]
        #[serde(bound = "")]
        struct Body<'r, 'a, I: Iterator<Item = (&'a str, CachedFile)> + Clone> {
            root: Option<&'r [u8]>,
            files: Files<I>,
            #[serde(skip)]
            paths: std::marker::PhantomData<&'a ()>,
        }
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Serializing plain data into a Vec cannot fail; an empty body would only cost a
        // re-hash on the next scan.
        let body = Body {
            root,
            files: Files(files),
            paths: std::marker::PhantomData,
        };
        if let Ok(encoded) = postcard::to_extend(&body, out) {
            return encoded;
        }
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out
    }

    /// Deserialize [`StatCache::to_bytes`] output. Anything unreadable gives an empty cache.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::try_from_bytes(bytes).unwrap_or_default()
    }

    fn try_from_bytes(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let (version, body) = rest.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*version) != FORMAT_VERSION {
            return None;
        }
        let (file, remainder): (CacheFileMap, _) = postcard::take_from_bytes(body).ok()?;
        if !remainder.is_empty() {
            return None;
        }
        let root = file
            .root
            .map(|r| PathBuf::from(std::ffi::OsStr::from_bytes(&r)));
        Some(StatCache {
            root,
            files: file.files,
            racy_window: DEFAULT_RACY_WINDOW,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StatCache {
        let stat = FileStat {
            size: 5,
            mtime_ns: 1_700_000_000_123_456_789,
            ctime_ns: 1_700_000_001_000_000_000,
            ino: 42,
            mode: 0o100644,
            uid: 1000,
            gid: 1000,
        };
        let mut files = PathMap::default();
        files.insert(
            "a/b.txt".to_string(),
            CachedFile {
                stat,
                hash: [7; 32],
            },
        );
        files.insert(
            "c".to_string(),
            CachedFile {
                stat,
                hash: [9; 32],
            },
        );
        let mut cache = StatCache::new();
        cache.replace(PathBuf::from("/ctx"), files);
        cache
    }

    #[test]
    fn round_trip() {
        let cache = sample();
        let bytes = cache.to_bytes();
        assert!(bytes.starts_with(b"CAIRNSC\x02\x00\x00\x00"));
        let back = StatCache::from_bytes(&bytes);
        assert_eq!(back.len(), 2);
        assert_eq!(back.root(), Some(Path::new("/ctx")));
        assert_eq!(back.files, cache.files);
        assert_eq!(back.to_bytes(), bytes, "deterministic");
    }

    #[test]
    fn garbage_gives_an_empty_cache() {
        let bytes = sample().to_bytes();
        for bad in [
            &b""[..],
            b"garbage",
            b"CAIRNSC",
            b"CAIRNSC\x02\x00\x00\x00",
            b"CAIRNSC\x01\x00\x00\x00",
            &bytes[..bytes.len() - 1],
        ] {
            assert!(StatCache::from_bytes(bad).is_empty(), "{bad:?}");
        }
        let mut other_version = bytes.clone();
        other_version[7] = 3;
        assert!(StatCache::from_bytes(&other_version).is_empty());
        let mut trailing = bytes;
        trailing.push(0);
        assert!(StatCache::from_bytes(&trailing).is_empty());
    }

    #[test]
    fn racy_window() {
        let mut stat = sample().files["c"].stat;
        stat.mtime_ns = 1_000;
        stat.ctime_ns = 2_000;
        assert!(stat.is_racy(2_500, Duration::from_nanos(1_000)));
        assert!(!stat.is_racy(3_001, Duration::from_nanos(1_000)));
        assert!(!stat.is_racy(2_001, Duration::ZERO));
        assert!(stat.is_racy(2_000, Duration::ZERO));
    }
}

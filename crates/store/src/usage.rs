//! `cairn du`: where a store's space goes, by kind. Sizes are of the files as they lie on
//! disk (a file hard-linked into several places counted once), so the kinds add up to what
//! deleting the store would free.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::Store;
use crate::digest::is_layer_id;
use crate::error::{Result, io_at};

/// Count and bytes of one kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub count: u64,
    pub bytes: u64,
}

/// A store's space by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Unpacked layers some image (`cairn images`) uses.
    pub image_layers: Amount,
    /// Unpacked layers no image uses: build cache only.
    pub cache_layers: Amount,
    /// Of `image_layers`, those a cache record also names (shared between the two).
    pub shared_layers: Amount,
    /// Compressed blobs (layer tars, configs, manifests) made for exports and pulls.
    pub blobs: Amount,
    /// Build-cache records (keys → layers).
    pub cache_records: Amount,
    /// `RUN --mount=type=cache` directories.
    pub cache_mounts: Amount,
    /// Everything else: HTTP and git sources, registry hints, stat caches, scratch.
    pub other: Amount,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.image_layers.bytes
            + self.cache_layers.bytes
            + self.blobs.bytes
            + self.cache_records.bytes
            + self.cache_mounts.bytes
            + self.other.bytes
    }
}

/// Bytes under `path` (not following symlinks), each inode once across the whole count.
pub(crate) fn bytes_under(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = 0;
    if seen.insert((meta.dev(), meta.ino())) {
        total += meta.blocks() * 512;
    }
    if meta.is_dir()
        && let Ok(entries) = fs::read_dir(path)
    {
        for e in entries.flatten() {
            total += bytes_under(&e.path(), seen);
        }
    }
    total
}

/// One entry's share of the disk as layer sizes count it: its blocks, divided among its links
/// when it is a multiply linked file. The one rule for [`Store::set_layer_size`]'s callers
/// and the store's own measuring.
pub fn disk_share(meta: &fs::Metadata) -> u64 {
    let blocks = meta.blocks() * 512;
    if meta.is_file() {
        blocks / meta.nlink().max(1)
    } else {
        blocks
    }
}

/// A layer directory's share of the disk: every entry's blocks, a file with N links counted
/// 1/N (layers share unchanged files' inodes since copies reuse their previous result, so
/// the shares of one inode add up to its size across the layers holding it).
pub(crate) fn layer_share(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = disk_share(&meta);
    if meta.is_dir()
        && let Ok(entries) = fs::read_dir(path)
    {
        for e in entries.flatten() {
            total += layer_share(&e.path());
        }
    }
    total
}

impl Store {
    /// A layer's share of the disk (every entry's blocks, a file with N links counted 1/N),
    /// remembered in `sizes/<id>` once measured: layers never change, and measuring every
    /// layer at every automatic GC made each build's GC walk the whole store (4.5 s with 30
    /// layers of 100,000 files).
    /// A share goes stale when a layer sharing its inodes goes; it is an estimate for the
    /// GC's budget, not a count (`cairn du` counts).
    pub fn layer_size(&self, id: &str) -> u64 {
        let path = self.layout().sizes.join(id);
        // A number of at most 20 digits: anything longer is not one of ours.
        let mut text = String::new();
        let read = fs::File::open(&path).and_then(|f| {
            use std::io::Read as _;
            f.take(32).read_to_string(&mut text)
        });
        if let Some(n) = read.ok().and_then(|_| text.trim().parse::<u64>().ok()) {
            return n;
        }
        let n = layer_share(&self.layer_dir(id));
        self.set_layer_size(id, n);
        n
    }

    /// Remember layer `id`'s share of the disk (its committer knows it from its own walk).
    /// Best effort: a size that could not be written is measured again when needed.
    pub fn set_layer_size(&self, id: &str, bytes: u64) {
        if crate::is_layer_id(id) {
            let path = self.layout().sizes.join(id);
            let _ =
                crate::atomic::write_file_atomically(&path, bytes.to_string().as_bytes(), false);
        }
    }

    /// Where the store's space goes (see [`Usage`]).
    pub fn usage(&self) -> Result<Usage> {
        let layout = self.layout();
        let mut seen = HashSet::new();
        let mut u = Usage::default();
        let in_images = self.layers_in_use()?;
        let mut in_cache: HashSet<String> = HashSet::new();
        let dir = &layout.cache;
        for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
            u.cache_records.count += 1;
            u.cache_records.bytes += bytes_under(&entry.path(), &mut seen);
            let key = entry.file_name().to_string_lossy().into_owned();
            if let Some(k) = crate::CacheKey::from_hex(&key)
                && let Ok(Some(rec)) = self.cache_get(&k)
            {
                in_cache.extend(rec.layers.iter().map(|l| l.to_string()));
            }
        }
        let dir = &layout.layers;
        for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".rec").unwrap_or(&name);
            let bytes = bytes_under(&entry.path(), &mut seen);
            if !is_layer_id(id) {
                u.other.bytes += bytes;
                continue;
            }
            let is_dir = !name.ends_with(".rec");
            let kind = if in_images.contains(id) {
                if is_dir && in_cache.contains(id) {
                    u.shared_layers.count += 1;
                    u.shared_layers.bytes += bytes;
                }
                &mut u.image_layers
            } else {
                &mut u.cache_layers
            };
            kind.bytes += bytes;
            if is_dir {
                kind.count += 1;
            }
        }
        let dir = &layout.blobs;
        for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
            u.blobs.count += 1;
            u.blobs.bytes += bytes_under(&entry.path(), &mut seen);
        }
        let dir = &layout.mounts;
        for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
            u.cache_mounts.count += 1;
            u.cache_mounts.bytes += bytes_under(&entry.path(), &mut seen);
        }
        // Everything not counted above (images, http, git, stat, registry, locks, tmp…).
        for entry in fs::read_dir(&layout.root)
            .map_err(io_at(&layout.root))?
            .flatten()
        {
            let p = entry.path();
            if p == layout.cache
                || p == layout.layers
                || p == layout.mounts
                || p == layout.root.join("blobs")
            {
                continue;
            }
            u.other.bytes += bytes_under(&p, &mut seen);
        }
        Ok(u)
    }
}

#[cfg(test)]
mod layer_size_tests {
    use super::*;
    use crate::Store;

    /// A file two layers share counts half in each; a measured size is remembered (a layer
    /// never changes, so it is not measured again).
    #[test]
    fn shared_files_count_once_across_layers_and_sizes_are_remembered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        for id in [&a, &b] {
            fs::create_dir_all(store.layer_dir(id)).expect("layer");
        }
        fs::write(store.layer_dir(&a).join("f"), vec![7u8; 1 << 20]).expect("write");
        fs::hard_link(store.layer_dir(&a).join("f"), store.layer_dir(&b).join("f")).expect("link");
        let (sa, sb) = (store.layer_size(&a), store.layer_size(&b));
        let file = fs::metadata(store.layer_dir(&a).join("f"))
            .expect("stat")
            .blocks()
            * 512;
        let dir_blocks = fs::metadata(store.layer_dir(&a)).expect("stat").blocks() * 512;
        assert_eq!(sa, dir_blocks + file / 2);
        assert_eq!(sa + sb, 2 * dir_blocks + file);
        fs::write(store.layer_dir(&a).join("g"), vec![1u8; 1 << 20]).expect("write");
        assert_eq!(store.layer_size(&a), sa, "remembered, not measured again");
    }
}

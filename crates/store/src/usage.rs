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

impl Store {
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

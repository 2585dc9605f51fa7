//! cairn's embedded store: content-addressed blobs, unpacked layers, and the small indexes
//! (build cache, image names, context stat caches), shared safely by concurrent cairn processes
//! without a daemon. See `docs/execution-design.md` for the contract.
//!
//! Layout under the root ([`Store::default_root`]):
//!
//! ```text
//! layout                  layout version ("cairn-store layout 1")
//! blobs/sha256/<hex>      blobs, named by their sha256
//! layers/<id>/            unpacked overlay-style layer diffs; layers/<id>.rec their records
//! cache/<hex key>         build cache entries
//! images/<escaped name>   image names
//! stat/<key>              context stat caches
//! http/<key>              HTTP sources (`ADD <url>`): validators and the layer of the last fetch
//! git/<key>               git sources (`ADD <repo>.git`): the layer of each commit checked out
//! mounts/<escaped id>/    RUN --mount=type=cache directories
//! tmp/                    in-progress writes and staging dirs (garbage unless locked)
//! locks/                  flock files for named locks
//! ```
//!
//! Rules every module keeps: writes go through `tmp/` and become visible by an atomic rename
//! (`atomic.rs`); records are versioned and checksummed, and a torn one reads as absent
//! (`record.rs`); everything in `tmp/` is locked by a live owner or is garbage (`tmp.rs`).
#![deny(clippy::indexing_slicing)]

mod atomic;
mod blob;
mod check;
mod container;
mod copies;
mod digest;
mod error;
mod escape;
mod hints;
mod history;
mod index;
mod layer;
mod lock;
mod prune;
mod record;
mod root;
mod stack;
mod tmp;
mod usage;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use atomic::{copy_file_atomically, write_file_atomically};
pub use blob::{BlobReader, BlobWriter};
pub use check::CheckReport;
pub use container::{ContainerRecord, is_container_id};
pub use copies::{CopiedFile, CopiedFileView, CopyRecord, CopyRecordView};
pub use digest::{CacheKey, LayerId, OciDigest, is_layer_id};
pub use error::{Error, Result};
pub use hints::BlobOrigin;
pub use history::MAX_HISTORY;
pub use index::{CacheRecord, GitCheckout, GitRecord, HttpRecord, ImageRecord, NamedImage};
pub use layer::{Compression, LayerBlob, LayerRecord, Staging};
pub use lock::StoreLock;
pub use stack::LayerStack;

use error::io_at;
pub use prune::{PruneOptions, PruneReport, Pruned};
pub use root::LAYOUT_FILE;
use root::Layout;
pub use usage::{Amount, Usage, disk_share};

/// A handle on an opened store. Cheap to clone; usable from any thread.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    /// The store's in-use lock (`locks/.in-use`), shared while this store is open: prune takes
    /// it exclusively, so it never removes what an open store (a running build, a pull) may
    /// be using.
    _in_use: Option<std::fs::File>,
}

/// The in-use lock's file name (a `.` name no escaped lock name can be).
const IN_USE: &str = ".in-use";

impl Store {
    /// Open (creating if needed) the store at `root`, and remove leftovers of crashed writers
    /// from `tmp/`. Any number of stores may be open on one root, in one or many processes;
    /// while one is, [`Store::prune`] waits.
    pub fn open(root: &Path) -> Result<Store> {
        let root = std::path::absolute(root).map_err(io_at(root))?;
        let layout = Layout::new(root);
        layout.create()?;
        let in_use = lock::lock_path(&layout.locks.join(IN_USE), false)?;
        layout.tmp.collect_garbage()?;
        Ok(Store {
            inner: Arc::new(Inner {
                layout,
                _in_use: Some(in_use),
            }),
        })
    }

    /// Open the store at `root` for pruning: without the shared in-use lock (see
    /// [`Store::prune`], which takes it exclusively).
    pub fn open_for_prune(root: &Path) -> Result<Store> {
        let root = std::path::absolute(root).map_err(io_at(root))?;
        let layout = Layout::new(root);
        layout.create()?;
        Ok(Store {
            inner: Arc::new(Inner {
                layout,
                _in_use: None,
            }),
        })
    }

    /// The in-use lock, exclusively: `None` at once if a store is open elsewhere (with `wait`,
    /// waits for it instead).
    pub(crate) fn exclusive_use(&self, wait: bool) -> Result<Option<std::fs::File>> {
        let path = self.layout().locks.join(IN_USE);
        if wait {
            return lock::lock_path(&path, true).map(Some);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_at(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    /// The root to use when none is given: `$CAIRN_ROOT`; else `/var/lib/cairn` when running as
    /// root; else `$XDG_DATA_HOME/cairn`; else `~/.local/share/cairn`.
    pub fn default_root() -> PathBuf {
        root::default_root()
    }

    /// The store's root directory (absolute).
    pub fn root(&self) -> &Path {
        &self.inner.layout.root
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The persistent directory of a `RUN --mount=type=cache` id, created on demand. Any id is
    /// accepted; it is mapped to a safe, unique directory name.
    pub fn cache_mount_dir(&self, id: &str) -> Result<PathBuf> {
        let dir = self.layout().mounts.join(escape::hashed(id));
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(io_at(&dir))?;
        Ok(dir)
    }

    /// Take the exclusive lock named `name`, waiting for it. Released when the guard drops.
    /// Excludes other processes and other threads alike (taking it twice in one thread
    /// deadlocks).
    pub fn lock(&self, name: &str) -> Result<StoreLock> {
        lock::lock(&self.layout().locks, name)
    }

    /// Take the lock named `name` if it is free; `None` if someone holds it.
    pub fn try_lock(&self, name: &str) -> Result<Option<StoreLock>> {
        lock::try_lock(&self.layout().locks, name)
    }

    /// Remove unlocked leftovers from `tmp/` now (also done by [`Store::open`]). Returns how
    /// many entries were removed.
    pub fn collect_garbage(&self) -> Result<usize> {
        self.layout().tmp.collect_garbage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shareable_across_threads() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        fn sendable<T: Send + 'static>() {}
        shareable::<Store>();
        shareable::<OciDigest>();
        sendable::<Staging>();
        sendable::<BlobWriter>();
        sendable::<StoreLock>();
    }
}

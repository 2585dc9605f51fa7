//! The `tmp/` area: where every write starts, and its garbage collection.
//!
//! Why here and not next to the target: `tmp/` is on the same filesystem as everything else
//! (so the final `rename` is atomic) and it is the one place where leftovers of crashed writers
//! can be recognised and removed without reading any index.
//!
//! Liveness protocol: every entry in `tmp/` is flock'ed exclusively by its creator for as long
//! as it is in use — a temp file locks itself, a staging directory locks its `.lock` file. On
//! `Store::open`, anything in `tmp/` whose lock can be taken belongs to nobody alive and is
//! removed. To close the window between creating an entry and locking it, creators hold a
//! *shared* lock on `locks/.tmp-gc` while they do both, and the collector holds it exclusively.

use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::atomic::remove_tree;
use crate::error::{Error, Result, io_at};
use crate::lock::lock_path;

/// Name of the lock file inside a staging directory.
pub(crate) const STAGING_LOCK: &str = ".lock";

#[derive(Debug)]
pub(crate) struct TmpArea {
    dir: PathBuf,
    gc_lock: PathBuf,
}

impl TmpArea {
    pub(crate) fn new(dir: PathBuf, locks_dir: &Path) -> Self {
        TmpArea {
            dir,
            gc_lock: locks_dir.join(".tmp-gc"),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new temp file in `tmp/`, created with `mode` and locked by us until dropped or
    /// persisted (the lock then lives on with the returned file handle).
    pub(crate) fn temp_file(&self, prefix: &str, mode: u32) -> Result<NamedTempFile> {
        let _guard = lock_path(&self.gc_lock, false)?;
        let file = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(Permissions::from_mode(mode))
            .tempfile_in(&self.dir)
            .map_err(io_at(&self.dir))?;
        file.as_file().try_lock().map_err(|e| {
            let e = match e {
                TryLockError::Error(e) => e,
                TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
            };
            Error::io(file.path(), e)
        })?;
        Ok(file)
    }

    /// A new directory in `tmp/` holding a locked `.lock` file. Returns its path and the lock.
    pub(crate) fn locked_dir(&self, prefix: &str) -> Result<(PathBuf, File)> {
        let _guard = lock_path(&self.gc_lock, false)?;
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.dir)
            .map_err(io_at(&self.dir))?
            .keep();
        let lock_file = dir.join(STAGING_LOCK);
        let made = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_file)
            .map_err(io_at(&lock_file))
            .and_then(|f| match f.try_lock() {
                Ok(()) => Ok(f),
                Err(TryLockError::Error(e)) => Err(Error::io(&lock_file, e)),
                Err(TryLockError::WouldBlock) => Err(Error::io(
                    &lock_file,
                    io::Error::from(io::ErrorKind::WouldBlock),
                )),
            });
        match made {
            Ok(f) => Ok((dir, f)),
            Err(e) => {
                let _ = remove_tree(&dir);
                Err(e)
            }
        }
    }

    /// Remove every entry of `tmp/` that no live process holds. Best effort: an entry that
    /// cannot be inspected or removed is left for next time. Returns how many were removed.
    pub(crate) fn collect_garbage(&self) -> Result<usize> {
        let _guard = lock_path(&self.gc_lock, true)?;
        let entries = fs::read_dir(&self.dir).map_err(io_at(&self.dir))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let owner = if kind.is_dir() {
                path.join(STAGING_LOCK)
            } else if kind.is_file() {
                path.clone()
            } else {
                // Symlinks, fifos, sockets: nothing of ours; never followed, just unlinked.
                if fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
                continue;
            };
            // Hold the owner's lock (if we can get it) until the entry is gone.
            let held = match File::open(&owner) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => Some(f),
                    Err(_) => continue, // alive (or uninspectable): leave it
                },
                // A staging directory without its lock file was never finished (or is being
                // removed by its owner): garbage either way.
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(_) => continue,
            };
            let gone = if kind.is_dir() {
                remove_tree(&path)
            } else {
                fs::remove_file(&path)
            };
            drop(held);
            if gone.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

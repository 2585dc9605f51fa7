//! Named cross-process locks (`locks/<escaped name>`), built on `std::fs::File::lock` (flock).
//!
//! Why flock: it is released by the kernel when the holder dies, so a crashed build never leaves
//! a stale lock behind, and it needs no daemon. Each acquisition opens its own file description,
//! so two threads of one process exclude each other just like two processes do. Lock files are
//! never deleted: unlinking a lock file while someone waits on it would split the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_at};
use crate::escape;

/// An exclusive lock on a store key; released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    name: String,
    path: PathBuf,
}

impl StoreLock {
    /// The name the lock was taken on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just makes it prompt.
        let _ = self.file.unlock();
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_at(path))
}

/// Block until the lock named `name` under `dir` is ours.
pub(crate) fn lock(dir: &Path, name: &str) -> Result<StoreLock> {
    let path = dir.join(escape::hashed(name));
    let file = open_lock_file(&path)?;
    file.lock().map_err(io_at(&path))?;
    Ok(StoreLock {
        file,
        name: name.to_owned(),
        path,
    })
}

/// Take the lock named `name` under `dir` if nobody holds it.
pub(crate) fn try_lock(dir: &Path, name: &str) -> Result<Option<StoreLock>> {
    let path = dir.join(escape::hashed(name));
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(StoreLock {
            file,
            name: name.to_owned(),
            path,
        })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Open (creating) a lock file at an exact path and take it shared or exclusive, blocking.
/// Used for the store's internal `.`-named locks, which no escaped name can collide with.
pub(crate) fn lock_path(path: &Path, exclusive: bool) -> Result<File> {
    let file = open_lock_file(path)?;
    if exclusive {
        file.lock().map_err(io_at(path))?;
    } else {
        file.lock_shared().map_err(io_at(path))?;
    }
    Ok(file)
}

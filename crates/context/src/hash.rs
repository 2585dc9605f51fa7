//! Hashing regular files with blake3, in parallel (rayon).
//!
//! Each file is opened with `O_NOFOLLOW | O_NONBLOCK`, so a file swapped for a symlink or a
//! FIFO after the walk saw it can neither lead outside the context nor block the scan. The
//! file is `fstat`ed before and after reading; when the two differ it changed while being
//! read and is read again (a few times, then [`ContextError::ChangedDuringScan`]). The stat
//! taken before reading is the one recorded, so a later change is always visible to the
//! stat cache.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{ContextError, Result};
use crate::statcache::FileStat;

/// How often a file that keeps changing while it is read is retried.
const ATTEMPTS: usize = 3;

/// The result of hashing one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hashed {
    /// The stat the hash belongs to (taken right before reading).
    pub(crate) stat: FileStat,
    pub(crate) hash: [u8; 32],
}

/// Hash every path in parallel; the results are in the order of `paths`.
pub(crate) fn hash_files(paths: &[PathBuf]) -> Result<Vec<Hashed>> {
    paths.par_iter().map(|p| hash_file(p)).collect()
}

/// Hash one regular file (see the module docs).
pub(crate) fn hash_file(path: &Path) -> Result<Hashed> {
    let io = |source: std::io::Error| ContextError::Io {
        path: path.to_path_buf(),
        source,
    };
    let changed = || ContextError::ChangedDuringScan {
        path: path.to_path_buf(),
    };
    for _ in 0..ATTEMPTS {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            // O_NOFOLLOW on a symlink: it was replaced after the walk.
            Err(Errno::LOOP) => return Err(changed()),
            Err(e) => return Err(io(e.into())),
        };
        let mut file = File::from(fd);
        let before = file.metadata().map_err(io)?;
        if !before.is_file() {
            return Err(changed());
        }
        let before = FileStat::from_metadata(&before);
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(&mut file).map_err(io)?;
        let after = FileStat::from_metadata(&file.metadata().map_err(io)?);
        if after != before {
            continue;
        }
        return Ok(Hashed {
            stat: before,
            hash: *hasher.finalize().as_bytes(),
        });
    }
    Err(changed())
}

/// The wall clock in nanoseconds since the epoch (file timestamps use the same clock).
pub(crate) fn now_ns() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

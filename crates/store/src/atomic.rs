//! Crash-safe file publication and defensive reading.
//!
//! Why: several cairn processes share one store and any of them may be killed at any moment.
//! So a file is written in `tmp/`, fsync'ed, renamed into place, and the directory fsync'ed:
//! readers see either nothing or the complete file, and after a crash the rename is durable.
//! Records read back are checked (see `record.rs`); a torn one is removed and reported absent.
//!
//! Also here: removing trees that overlayfs left unremovable (a `work/work` with mode 000,
//! read-only directories in an upper dir).

use std::fs::{self, File, Metadata, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tempfile::NamedTempFile;

use crate::error::{Error, Result, io_at};
use crate::record::{self, DecodeError, Kind};
use crate::tmp::TmpArea;

/// Mode of published files (before umask).
pub(crate) const FILE_MODE: u32 = 0o644;

/// Whether publishing may replace an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Last writer wins.
    Yes,
    /// Keep whatever is already there.
    No,
}

/// fsync a directory so a rename into it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Rename a complete, fsync'ed temp file to `target` and fsync the directory.
/// Returns `false` if `replace` is `No` and `target` already existed (the temp is dropped).
pub(crate) fn publish(tmp: NamedTempFile, target: &Path, replace: Replace) -> Result<bool> {
    let persisted = match replace {
        Replace::Yes => tmp.persist(target),
        Replace::No => tmp.persist_noclobber(target),
    };
    match persisted {
        Ok(_file) => {}
        Err(e) if replace == Replace::No && e.error.kind() == io::ErrorKind::AlreadyExists => {
            return Ok(false);
        }
        Err(e) => return Err(Error::io(target, e.error)),
    }
    fsync_dir(parent_of(target))?;
    Ok(true)
}

/// Atomically write `bytes` to `target`.
pub(crate) fn write_file(
    tmp: &TmpArea,
    target: &Path,
    bytes: &[u8],
    replace: Replace,
) -> Result<bool> {
    let mut file = tmp.temp_file(".rec-", FILE_MODE)?;
    let path = file.path().to_path_buf();
    file.write_all(bytes).map_err(io_at(&path))?;
    file.as_file().sync_all().map_err(io_at(&path))?;
    publish(file, target, replace)
}

/// Atomically write a record.
pub(crate) fn write_record<T: Serialize>(
    tmp: &TmpArea,
    target: &Path,
    kind: Kind,
    value: &T,
    replace: Replace,
) -> Result<bool> {
    let mut file = tmp.temp_file(".rec-", FILE_MODE)?;
    let path = file.path().to_path_buf();
    // Streamed: a big record (a copy's 100,000 files) is never a buffer of its size.
    let out = io::BufWriter::with_capacity(64 * 1024, file.as_file_mut());
    let out = record::write(kind, value, out).map_err(|e| match e {
        record::WriteError::Encode(source) => Error::Encode {
            path: target.to_path_buf(),
            source,
        },
        record::WriteError::Io(e) => Error::io(&path, e),
    })?;
    out.into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.as_file().sync_all().map_err(io_at(&path))?;
    publish(file, target, replace)
}

/// Read a file's bytes and the identity of the inode they came from; `None` if absent.
fn read_with_meta(path: &Path) -> Result<Option<(Vec<u8>, Metadata)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let meta = file.metadata().map_err(io_at(path))?;
    if !meta.is_file() {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "expected a regular file".to_owned(),
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io_at(path))?;
    Ok(Some((bytes, meta)))
}

/// Remove `path` only if it is still the inode described by `meta` — a concurrent writer may
/// have just renamed a good file over the bad one. Best effort: the window is tiny and the
/// worst case is a lost cache entry, never a wrong one.
pub(crate) fn remove_if_same(path: &Path, meta: &Metadata) {
    if let Ok(now) = fs::symlink_metadata(path)
        && now.dev() == meta.dev()
        && now.ino() == meta.ino()
    {
        let _ = fs::remove_file(path);
    }
}

/// The raw payload of the record at `path`, `None` if absent or torn (a torn file is removed).
pub(crate) fn read_record_raw(path: &Path, kind: Kind) -> Result<Option<Vec<u8>>> {
    let Some((bytes, meta)) = read_with_meta(path)? else {
        return Ok(None);
    };
    match record::decode_raw(kind, &bytes) {
        // The payload is the end of the bytes read: the header is cut off in place, so a big
        // record (a stat cache) is never held twice.
        Ok(payload) => {
            let header = bytes.len().saturating_sub(payload.len());
            let mut bytes = bytes;
            bytes.drain(..header);
            Ok(Some(bytes))
        }
        Err(e) => torn_or_error(path, &meta, e),
    }
}

/// The record at `path`, `None` if absent or torn (a torn file is removed).
pub(crate) fn read_record<T: DeserializeOwned>(path: &Path, kind: Kind) -> Result<Option<T>> {
    let Some((bytes, meta)) = read_with_meta(path)? else {
        return Ok(None);
    };
    match record::decode(kind, &bytes) {
        Ok(value) => Ok(Some(value)),
        Err(e) => torn_or_error(path, &meta, e),
    }
}

/// Like [`read_record`], also reading a payload in the record's previous layout `Old` (a
/// record that gained a trailing field: postcard cannot skip a missing one).
pub(crate) fn read_record_or_old<T, Old>(path: &Path, kind: Kind) -> Result<Option<T>>
where
    T: DeserializeOwned,
    Old: DeserializeOwned + Into<T>,
{
    let Some((bytes, meta)) = read_with_meta(path)? else {
        return Ok(None);
    };
    match record::decode::<T>(kind, &bytes) {
        Ok(value) => Ok(Some(value)),
        Err(DecodeError::Torn(_)) => match record::decode::<Old>(kind, &bytes) {
            Ok(old) => Ok(Some(old.into())),
            Err(e) => torn_or_error(path, &meta, e),
        },
        Err(e) => torn_or_error(path, &meta, e),
    }
}

fn torn_or_error<T>(path: &Path, meta: &Metadata, e: DecodeError) -> Result<Option<T>> {
    match e {
        DecodeError::Torn(_) => {
            remove_if_same(path, meta);
            Ok(None)
        }
        DecodeError::UnknownVersion(found) => Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: u32::from(found),
            supported: u32::from(record::VERSION),
        }),
    }
}

/// Remove a directory tree (or file), also when it contains directories we may not read or
/// write: every directory is made `u+rwx` before its contents are removed. Symlinks are never
/// followed. A missing `path` is success.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return fs::remove_file(path);
    }
    match fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    make_removable(path);
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// chmod u+rwx every directory under `root` (iteratively: trees can be deep). Errors are
/// ignored; the removal that follows reports what is still in the way.
fn make_removable(root: &Path) {
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&dir) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = fs::set_permissions(&dir, Permissions::from_mode((mode & 0o7777) | 0o700));
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
}

/// Atomically write `bytes` to `target` outside the store (an exported cache directory, an
/// output): a temp file beside it, fsync'ed, renamed into place, the directory fsync'ed. Made
/// with mode 0644 before the umask. `Replace::No` semantics when `keep_existing`: an existing
/// file is left as it is (content-addressed files).
pub fn write_file_atomically(target: &Path, bytes: &[u8], keep_existing: bool) -> Result<()> {
    let dir = parent_of(target);
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let mut file = tempfile::Builder::new()
        .prefix(".cairn-tmp-")
        .permissions(Permissions::from_mode(FILE_MODE))
        .tempfile_in(dir)
        .map_err(io_at(dir))?;
    let path = file.path().to_path_buf();
    file.write_all(bytes).map_err(io_at(&path))?;
    file.as_file().sync_all().map_err(io_at(&path))?;
    let replace = if keep_existing {
        Replace::No
    } else {
        Replace::Yes
    };
    publish(file, target, replace)?;
    Ok(())
}

/// Copy the file `source` to `target` outside the store, atomically as
/// [`write_file_atomically`] writes (streamed, never whole in memory).
pub fn copy_file_atomically(source: &Path, target: &Path, keep_existing: bool) -> Result<()> {
    let dir = parent_of(target);
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let mut file = tempfile::Builder::new()
        .prefix(".cairn-tmp-")
        .permissions(Permissions::from_mode(FILE_MODE))
        .tempfile_in(dir)
        .map_err(io_at(dir))?;
    let mut from = File::open(source).map_err(io_at(source))?;
    io::copy(&mut from, file.as_file_mut()).map_err(io_at(target))?;
    file.as_file().sync_all().map_err(io_at(target))?;
    let replace = if keep_existing {
        Replace::No
    } else {
        Replace::Yes
    };
    publish(file, target, replace)?;
    Ok(())
}

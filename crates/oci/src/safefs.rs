//! Writing into a directory tree without ever following a symlink out of it.
//!
//! Every path is handled as a list of already-normalized components and resolved one
//! component at a time from a directory fd with `openat(O_DIRECTORY | O_NOFOLLOW)`: a
//! component that is a symlink (or anything but a directory) stops the walk with an error, so
//! an entry like `a/etc/passwd` after `a -> /` cannot escape. Final names are created with
//! `*at` calls relative to the verified parent fd and never followed either.

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Why resolving a path inside the root failed.
#[derive(Debug)]
pub enum ResolveError {
    /// A parent component exists but is a symlink or not a directory.
    NotADir(Vec<u8>),
    Io(io::Error),
}

/// A directory that writes are confined to.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    /// Open the directory at `components` (empty = the root), creating missing directories
    /// (mode 0755, owned by the caller) when `create` is set.
    pub fn open_dir(&self, components: &[&[u8]], create: bool) -> Result<OwnedFd, ResolveError> {
        let mut cur = rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| ResolveError::Io(e.into()))?;
        for (i, comp) in components.iter().enumerate() {
            let so_far = || {
                let walked: Vec<&[u8]> = components.iter().take(i + 1).copied().collect();
                walked.join(&b'/')
            };
            let next = match rustix::fs::openat(&cur, os(comp), DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, os(comp), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ResolveError::Io(e.into())),
                    }
                    rustix::fs::openat(&cur, os(comp), DIR_FLAGS, Mode::empty()).map_err(|e| {
                        match e {
                            Errno::LOOP | Errno::NOTDIR => ResolveError::NotADir(so_far()),
                            e => ResolveError::Io(e.into()),
                        }
                    })?
                }
                Err(Errno::LOOP | Errno::NOTDIR) => return Err(ResolveError::NotADir(so_far())),
                Err(e) => return Err(ResolveError::Io(e.into())),
            };
            cur = next;
        }
        Ok(cur)
    }
}

/// File type of `name` in `dir` without following it; `None` if absent.
pub fn type_at(dir: impl AsFd, name: &[u8]) -> io::Result<Option<FileType>> {
    match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Remove `name` in `dir` whatever it is (directories recursively, symlinks not followed).
pub fn remove_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dir = dir.as_fd();
    match type_at(dir, name)? {
        None => Ok(()),
        Some(FileType::Directory) => remove_all_at(dir, name),
        Some(_) => Ok(rustix::fs::unlinkat(dir, os(name), AtFlags::empty())?),
    }
}

fn remove_all_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dir = dir.as_fd();
    let fd = rustix::fs::openat(dir, os(name), DIR_FLAGS, Mode::empty())?;
    clear_dir(&fd)?;
    Ok(rustix::fs::unlinkat(dir, os(name), AtFlags::REMOVEDIR)?)
}

/// Remove everything inside the directory `fd`.
pub fn clear_dir(fd: impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd();
    for name in list_dir(fd)? {
        remove_at(fd, &name)?;
    }
    Ok(())
}

/// Names in the directory `fd`, without `.` and `..`.
pub fn list_dir(fd: impl AsFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

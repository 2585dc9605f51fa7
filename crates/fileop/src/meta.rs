//! Metadata helpers: ownership, permission bits, timestamps, xattrs, directory creation.
//!
//! Why separate: COPY, ADD's unpacking and the Mkdir/Mkfile actions all need the same careful
//! primitives — `lchown`/`utimensat(AT_SYMLINK_NOFOLLOW)` so a link is never followed, a chmod
//! that is explicit (not left to the process umask), xattrs copied except overlayfs' private
//! `trusted.overlay.*` (which would corrupt the layer's whiteout/opaque marks), and a
//! `mkdir -p` that only ever creates below a root-resolved path.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, XattrFlags};

use crate::error::{Error, Result};
use crate::owner::Ids;
use crate::resolve::{resolve_in_root, show};

pub(crate) fn chown(root: &Path, path: &Path, ids: Ids) -> Result<()> {
    lchown(path, Some(ids.uid), Some(ids.gid)).map_err(|e| Error::io("chown", show(root, path), e))
}

/// Set the permission and special bits of a non-symlink.
pub(crate) fn chmod(root: &Path, path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| Error::io("chmod", show(root, path), e))
}

/// Set access and modification times without following a symlink.
pub(crate) fn set_times(
    root: &Path,
    path: &Path,
    atime: (i64, i64),
    mtime: (i64, i64),
) -> Result<()> {
    let ts = |(s, ns): (i64, i64)| Timespec {
        tv_sec: s,
        tv_nsec: ns,
    };
    let times = Timestamps {
        last_access: ts(atime),
        last_modification: ts(mtime),
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("set times of", show(root, path), e.into()))
}

/// Copy extended attributes from `src` to `dst` (neither followed if a symlink). Failures are
/// ignored, as BuildKit does (the target filesystem may not support a namespace).
pub(crate) fn copy_xattrs(src: &Path, dst: &Path) {
    let Ok(len) = rustix::fs::llistxattr_query(src) else {
        return;
    };
    if len == 0 {
        return;
    }
    let mut names = vec![0u8; len];
    let Ok(len) = rustix::fs::llistxattr(src, &mut names[..]) else {
        return;
    };
    names.truncate(len);
    for name in names.split(|b| *b == 0) {
        if name.is_empty() || name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let name = OsStr::from_bytes(name);
        let Ok(size) = rustix::fs::lgetxattr_query(src, name) else {
            continue;
        };
        let mut value = vec![0u8; size];
        if let Ok(n) = rustix::fs::lgetxattr(src, name, &mut value[..]) {
            value.truncate(n);
            let _ = rustix::fs::lsetxattr(dst, name, &value, XattrFlags::empty());
        }
    }
}

/// `mkdir -p` of the in-root path `path`: resolved in `root` first, then each missing
/// component created with `mode` (exactly, not umask-reduced) and, when given, `owner`.
/// Existing directories are left untouched; an existing non-directory is an error.
pub(crate) fn mkdir_all(root: &Path, path: &str, mode: u32, owner: Option<Ids>) -> Result<()> {
    let host = resolve_in_root(root, path, true)?;
    mkdir_all_host(root, &host, mode, owner)
}

/// [`mkdir_all`] for a host path below `root` (re-resolved, so a symlink in it stays inside).
pub(crate) fn mkdir_all_host(
    root: &Path,
    host: &Path,
    mode: u32,
    owner: Option<Ids>,
) -> Result<()> {
    let rel = host.strip_prefix(root).unwrap_or(host);
    let host = resolve_in_root(root, rel, true)?;
    let rel = host.strip_prefix(root).unwrap_or(&host).to_path_buf();
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(Error::NotADirectory {
                    path: show(root, &cur),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("mkdir", show(root, &cur), e)),
        }
        if let Err(e) = fs::create_dir(&cur) {
            // Lost a race with another creator: fine if it is a directory.
            if !(e.kind() == std::io::ErrorKind::AlreadyExists
                && fs::symlink_metadata(&cur).is_ok_and(|m| m.is_dir()))
            {
                return Err(Error::io("mkdir", show(root, &cur), e));
            }
            continue;
        }
        chmod(root, &cur, mode)?;
        if let Some(ids) = owner {
            chown(root, &cur, ids)?;
        }
    }
    Ok(())
}

/// Remove `path` (not followed): a directory recursively, anything else by unlinking it.
pub(crate) fn remove_all(root: &Path, path: &Path) -> Result<()> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    res.map_err(|e| Error::io("remove", show(root, path), e))
}

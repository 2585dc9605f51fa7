//! Mkdir, Mkfile, Rm and Symlink, and the dispatch of every action.
//!
//! Why these exact rules: they are what BuildKit's file op backend does, with every path
//! resolved inside the root. Mkdir follows symlinks (WORKDIR into a linked directory works), is
//! a no-op on an existing path and applies mode/owner only to what it creates. Mkfile writes a
//! temporary file next to the target and renames it into place — the target is replaced,
//! never opened, so a device node or a link left there is not written through; unlike
//! BuildKit it creates missing parents (cairn lowers `COPY <<EOF /new/dir/f` to a Mkfile).
//! Rm resolves the parent, then removes the named entry itself (a link, not its target). Symlink
//! creates the link without following an existing last component.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, symlink};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_ir::{FileAction, Owner};
use rustix::fs::OFlags;

use crate::error::{Error, Result, is_not_found};
use crate::owner::{self, Ids};
use crate::resolve::{clean_abs, resolve_in_root, show};
use crate::{Source, copy, meta, pattern};

pub(crate) fn apply_one(
    root: &Path,
    sources: &[Source],
    action: &FileAction,
    tracker: Option<&mut crate::CopyTracker>,
) -> Result<()> {
    match action {
        FileAction::Copy(c) => copy::copy(root, sources, c, tracker),
        FileAction::Mkdir {
            path,
            mode,
            make_parents,
            owner,
        } => mkdir(root, path, *mode, *make_parents, owner.as_ref()),
        FileAction::Mkfile {
            path,
            mode,
            data,
            owner,
        } => mkfile(root, path, *mode, data, owner.as_ref()),
        FileAction::Rm {
            path,
            allow_not_found,
            allow_wildcard,
        } => rm(root, path, *allow_not_found, *allow_wildcard),
        FileAction::Symlink { target, link } => make_symlink(root, target, link),
    }
}

fn resolve_owner(root: &Path, owner: Option<&Owner>) -> Result<Option<Ids>> {
    owner.map(|o| owner::resolve(root, o)).transpose()
}

fn mkdir(root: &Path, path: &str, mode: u32, parents: bool, owner: Option<&Owner>) -> Result<()> {
    let ids = resolve_owner(root, owner)?;
    let host = resolve_in_root(root, path, true)?;
    if parents {
        return meta::mkdir_all_host(root, &host, mode & 0o777, ids);
    }
    match fs::create_dir(&host) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Error::io("mkdir", path, e)),
    }
    meta::chmod(root, &host, mode & 0o777)?;
    if let Some(ids) = ids {
        meta::chown(root, &host, ids)?;
    }
    Ok(())
}

fn mkfile(root: &Path, path: &str, mode: u32, data: &[u8], owner: Option<&Owner>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ids = resolve_owner(root, owner)?;
    let host = resolve_in_root(root, path, true)?;
    let Some(parent) = host.parent().filter(|_| host != root) else {
        return Err(Error::RootPath {
            path: path.to_string(),
        });
    };
    meta::mkdir_all_host(root, parent, 0o755, ids)?;
    let tmp = parent.join(format!(
        ".cairn-mkfile-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)
            .map_err(|e| Error::io("create", path, e))?;
        f.write_all(data).map_err(|e| Error::io("write", path, e))?;
        drop(f);
        meta::chmod(root, &tmp, mode & 0o777)?;
        if let Some(ids) = ids {
            meta::chown(root, &tmp, ids)?;
        }
        fs::rename(&tmp, &host).map_err(|e| Error::io("write", path, e))
    };
    let res = write();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn rm(root: &Path, path: &str, allow_not_found: bool, allow_wildcard: bool) -> Result<()> {
    let paths = if allow_wildcard {
        match pattern::resolve_wildcards(root, path, false)? {
            Some(p) => p,
            None if allow_not_found => return Ok(()),
            None => vec![path.to_string()],
        }
    } else {
        vec![path.to_string()]
    };
    for p in paths {
        let clean = clean_abs(&p);
        let Some((dir, name)) = clean.rsplit_once('/').filter(|(_, n)| !n.is_empty()) else {
            return Err(Error::RootPath { path: p });
        };
        let target =
            resolve_in_root(root, if dir.is_empty() { "/" } else { dir }, true)?.join(name);
        match fs::symlink_metadata(&target) {
            Ok(_) => meta::remove_all(root, &target)?,
            Err(e) if is_not_found(&e) && allow_not_found => {}
            Err(e) => return Err(Error::io("remove", show(root, &target), e)),
        }
    }
    Ok(())
}

fn make_symlink(root: &Path, target: &str, link: &str) -> Result<()> {
    let host = resolve_in_root(root, link, false)?;
    if host == root {
        return Err(Error::RootPath {
            path: link.to_string(),
        });
    }
    symlink(target, &host).map_err(|e| Error::io("symlink", show(root, &host), e))
}

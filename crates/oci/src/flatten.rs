//! Flattening a stack of overlay-form layer dirs into one plain tree, the way overlayfs would
//! present it: each layer is applied bottom to top, whiteouts delete, opaque directories drop
//! what lower layers put in them. Used by `-o type=local` and `type=tar` exports.
//!
//! The destination is written through [`crate::safefs`], so a symlink left by a lower layer
//! can never redirect a write from an upper one.

use crate::error::{Error, Result, rio};
use crate::meta::{self, Meta};
use crate::safefs::{self, Root, os};
use crate::unpack::resolve_error;
use crate::walk::{Entry, Kind, walk};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What may be created outside the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// Character and block device nodes are created (inside the store, or when the user
    /// asked for them).
    Create,
    /// Device nodes are left out: an image's `/dev/sda` node, exported to the host, would
    /// open the host's disk to whoever can reach the file.
    Omit,
}

/// Apply layer dirs bottom→top into `dest` as a plain tree (whiteouts applied, no overlay
/// marks left), preserving mode, ownership, xattrs and mtimes, device nodes included.
pub fn flatten_layers(layers: &[PathBuf], dest: &Path) -> Result<()> {
    flatten_layers_with(layers, dest, Devices::Create).map(|_| ())
}

/// [`flatten_layers`], choosing what happens to device nodes. Returns the paths of the device
/// nodes left out (relative to `dest`).
pub fn flatten_layers_with(
    layers: &[PathBuf],
    dest: &Path,
    devices: Devices,
) -> Result<Vec<String>> {
    let mut omitted = Vec::new();
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let root = Root::open(dest).map_err(|e| Error::io(dest, e))?;
    let mut dir_meta: BTreeMap<Vec<u8>, Meta> = BTreeMap::new();
    for layer in layers {
        let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
        walk(layer, &mut |e: &Entry| {
            if devices == Devices::Omit && matches!(e.kind, Kind::Char { .. } | Kind::Block { .. })
            {
                omitted.push(String::from_utf8_lossy(&e.rel).into_owned());
                return omit(&root, e);
            }
            apply(&root, e, &mut links, &mut dir_meta).map_err(|err| match err {
                Error::EntryIo { entry, source } => Error::EntryIo {
                    entry: format!("{}: {entry}", layer.display()),
                    source,
                },
                other => other,
            })
        })?;
    }
    for (rel, m) in dir_meta.iter().rev() {
        let comps: Vec<&[u8]> = rel.split(|c| *c == b'/').collect();
        if let Some((&name, parents)) = comps.split_last()
            && let Ok(dir) = root.open_dir(parents, false)
            && safefs::type_at(&dir, name).ok().flatten() == Some(FileType::Directory)
        {
            meta::set_times_at(&dir, name, m).map_err(|e| Error::entry_io(rel, e))?;
        }
    }
    Ok(omitted)
}

/// A device node left out still hides what lower layers had at its path.
fn omit(root: &Root, e: &Entry) -> Result<()> {
    let comps: Vec<&[u8]> = e.rel.split(|c| *c == b'/').collect();
    let Some((&name, parents)) = comps.split_last() else {
        return Ok(());
    };
    let dir = root
        .open_dir(parents, true)
        .map_err(|err| resolve_error(&e.rel, err))?;
    safefs::remove_at(&dir, name).map_err(|err| Error::entry_io(&e.rel, err))
}

fn entry_meta(e: &Entry) -> Meta {
    Meta {
        mode: e.mode(),
        uid: e.meta.uid(),
        gid: e.meta.gid(),
        mtime: e.meta.mtime(),
        mtime_nsec: u32::try_from(e.meta.mtime_nsec()).unwrap_or(0),
        xattrs: e.xattrs.clone(),
    }
}

fn apply(
    root: &Root,
    e: &Entry,
    links: &mut HashMap<(u64, u64), Vec<u8>>,
    dir_meta: &mut BTreeMap<Vec<u8>, Meta>,
) -> Result<()> {
    let comps: Vec<&[u8]> = e.rel.split(|c| *c == b'/').collect();
    let Some((&name, parents)) = comps.split_last() else {
        return Ok(());
    };
    let io = |err: std::io::Error| Error::entry_io(&e.rel, err);
    let dir = root
        .open_dir(parents, true)
        .map_err(|err| resolve_error(&e.rel, err))?;
    let m = entry_meta(e);
    match &e.kind {
        Kind::Socket => {}
        Kind::Whiteout => {
            safefs::remove_at(&dir, name).map_err(io)?;
            dir_meta.retain(|k, _| !(k == &e.rel || k.starts_with(&[&e.rel[..], b"/"].concat())));
        }
        Kind::Dir { opaque } => {
            if safefs::type_at(&dir, name).map_err(io)? == Some(FileType::Directory) {
                if *opaque {
                    let fd = root
                        .open_dir(&comps, false)
                        .map_err(|err| resolve_error(&e.rel, err))?;
                    safefs::clear_dir(&fd).map_err(io)?;
                }
            } else {
                safefs::remove_at(&dir, name).map_err(io)?;
                rustix::fs::mkdirat(&dir, os(name), Mode::from_raw_mode(0o700))
                    .map_err(|err| io(rio(err)))?;
            }
            let fd = root
                .open_dir(&comps, false)
                .map_err(|err| resolve_error(&e.rel, err))?;
            meta::apply_fd(&fd, &m).map_err(io)?;
            dir_meta.insert(e.rel.clone(), m);
        }
        Kind::File => {
            safefs::remove_at(&dir, name).map_err(io)?;
            let key = (e.meta.dev(), e.meta.ino());
            if e.meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    let tcomps: Vec<&[u8]> = first.split(|c| *c == b'/').collect();
                    if let Some((&tname, tparents)) = tcomps.split_last() {
                        let tdir = root
                            .open_dir(tparents, false)
                            .map_err(|err| resolve_error(&e.rel, err))?;
                        rustix::fs::linkat(&tdir, os(tname), &dir, os(name), AtFlags::empty())
                            .map_err(|err| io(rio(err)))?;
                        return Ok(());
                    }
                }
                links.insert(key, e.rel.clone());
            }
            let mut src = std::fs::File::open(&e.abs).map_err(|err| Error::io(&e.abs, err))?;
            let fd = rustix::fs::openat(
                &dir,
                os(name),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|err| io(rio(err)))?;
            let mut out = std::fs::File::from(fd);
            std::io::copy(&mut src, &mut out).map_err(io)?;
            meta::apply_fd(&out, &m).map_err(io)?;
            rustix::fs::futimens(&out, &m.timestamps()).map_err(|err| io(rio(err)))?;
        }
        Kind::Symlink(target) => {
            safefs::remove_at(&dir, name).map_err(io)?;
            rustix::fs::symlinkat(os(target), &dir, os(name)).map_err(|err| io(rio(err)))?;
            meta::apply_at(&dir, name, &m, true).map_err(io)?;
        }
        Kind::Char { major, minor } | Kind::Block { major, minor } => {
            let ft = if matches!(e.kind, Kind::Char { .. }) {
                FileType::CharacterDevice
            } else {
                FileType::BlockDevice
            };
            safefs::remove_at(&dir, name).map_err(io)?;
            rustix::fs::mknodat(
                &dir,
                os(name),
                ft,
                Mode::from_raw_mode(0o600),
                rustix::fs::makedev(*major, *minor),
            )
            .map_err(|err| io(rio(err)))?;
            meta::apply_at(&dir, name, &m, false).map_err(io)?;
        }
        Kind::Fifo => {
            safefs::remove_at(&dir, name).map_err(io)?;
            rustix::fs::mknodat(
                &dir,
                os(name),
                FileType::Fifo,
                Mode::from_raw_mode(0o600),
                0,
            )
            .map_err(|err| io(rio(err)))?;
            meta::apply_at(&dir, name, &m, false).map_err(io)?;
        }
    }
    Ok(())
}

//! The one canonical walk of a layer directory, shared by the content digest, the layer tar
//! writer and `flatten_layers`, so all three agree on order and on what an entry is.
//!
//! Order: depth first, parents before children, siblings sorted by their raw name bytes. The
//! layer root itself is not an entry (its metadata comes from whatever it is unpacked into).
//! Layer directories are trusted store content that nobody modifies concurrently, so the walk
//! uses plain `lstat`-based path operations and never follows symlinks.

use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The overlayfs xattr marking an opaque directory.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same mark when overlayfs runs with `userxattr` (rootless).
pub const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";

/// What an entry is, in overlay terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir {
        opaque: bool,
    },
    File,
    Symlink(Vec<u8>),
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
    /// A character device 0/0: overlayfs's mark for a deleted path.
    Whiteout,
}

#[derive(Clone)]
pub struct Entry {
    /// Path relative to the walked root, `/`-separated, no leading `./` or `/`.
    pub rel: Vec<u8>,
    pub abs: PathBuf,
    pub meta: Metadata,
    pub kind: Kind,
    /// Extended attributes worth carrying (see [`keep_xattr`]), sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// Permission bits including setuid/setgid/sticky.
    pub fn mode(&self) -> u32 {
        self.meta.mode() & 0o7777
    }
}

/// Whether an xattr belongs to the layer's content. Overlay's own bookkeeping
/// (`trusted.overlay.*`, `user.overlay.*`) is turned into whiteout/opaque marks instead, and
/// SELinux labels describe the host, not the image.
pub fn keep_xattr(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay.")
        || name == b"security.selinux")
}

/// Visit every entry under `root` in canonical order.
pub fn walk(root: &Path, visit: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if !meta.is_dir() {
        return Err(Error::io(
            root,
            io::Error::new(
                io::ErrorKind::NotADirectory,
                "layer root is not a directory",
            ),
        ));
    }
    walk_dir(root, &[], visit)
}

fn walk_dir(dir: &Path, rel: &[u8], visit: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<()> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|r| r.map(|d| d.file_name()))
        .collect::<io::Result<_>>()
        .map_err(|e| Error::io(dir, e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let abs = dir.join(&name);
        let mut child_rel = rel.to_vec();
        if !child_rel.is_empty() {
            child_rel.push(b'/');
        }
        child_rel.extend_from_slice(name.as_bytes());
        let entry = read_entry(abs, child_rel)?;
        visit(&entry)?;
        if matches!(entry.kind, Kind::Dir { .. }) {
            walk_dir(&entry.abs, &entry.rel, visit)?;
        }
    }
    Ok(())
}

fn read_entry(abs: PathBuf, rel: Vec<u8>) -> Result<Entry> {
    let meta = std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
    let ft = meta.file_type();
    let dev = meta.rdev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let kind = if ft.is_dir() {
        Kind::Dir {
            opaque: is_opaque(&abs)?,
        }
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        let target = std::fs::read_link(&abs).map_err(|e| Error::io(&abs, e))?;
        Kind::Symlink(target.as_os_str().as_bytes().to_vec())
    } else if ft.is_char_device() {
        if major == 0 && minor == 0 {
            Kind::Whiteout
        } else {
            Kind::Char { major, minor }
        }
    } else if ft.is_block_device() {
        Kind::Block { major, minor }
    } else if ft.is_fifo() {
        Kind::Fifo
    } else {
        Kind::Socket
    };
    let xattrs = if kind == Kind::Whiteout {
        Vec::new()
    } else {
        list_xattrs(&abs)?
            .into_iter()
            .filter(|(n, _)| keep_xattr(n))
            .collect()
    };
    Ok(Entry {
        rel,
        abs,
        meta,
        kind,
        xattrs,
    })
}

/// What an overlay-form layer does to the view at a path inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEffect {
    /// Nothing there (only plain directories above it, or not even those): the selected tree
    /// is what the lower layers made it.
    None,
    /// It holds the path itself, or a whiteout, file or opaque directory on the way to it.
    Changes,
    /// A symlink on the way (or at the path): what is read there may be anywhere.
    Redirects,
}

/// What the layer at `layer` does to what is seen at `selector` when stacked over others.
/// Anything unreadable counts as [`PathEffect::Redirects`] (the caller then reads all).
pub fn layer_path_effect(layer: &Path, selector: &str) -> PathEffect {
    let parts: Vec<&str> = selector
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return PathEffect::Redirects;
    }
    let mut p = layer.to_path_buf();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PathEffect::None,
            Err(_) => return PathEffect::Redirects,
            Ok(m) if m.file_type().is_symlink() => return PathEffect::Redirects,
            Ok(_) if i == last => return PathEffect::Changes,
            Ok(m) if !m.is_dir() => return PathEffect::Changes,
            Ok(_) => match is_opaque(&p) {
                Ok(false) => {}
                Ok(true) => return PathEffect::Changes,
                Err(_) => return PathEffect::Redirects,
            },
        }
    }
    PathEffect::Changes
}

fn is_opaque(dir: &Path) -> Result<bool> {
    for name in [OPAQUE_XATTR, USER_OPAQUE_XATTR] {
        if get_xattr(dir, name.as_bytes())?.as_deref() == Some(b"y") {
            return Ok(true);
        }
    }
    Ok(false)
}

fn unsupported(e: rustix::io::Errno) -> bool {
    e == rustix::io::Errno::NOTSUP || e == rustix::io::Errno::NODATA
}

/// One xattr of `path` (not following a final symlink); `None` when absent or unsupported.
pub fn get_xattr(path: &Path, name: &[u8]) -> Result<Option<Vec<u8>>> {
    let name = OsStr::from_bytes(name);
    loop {
        let len = match rustix::fs::lgetxattr_query(path, name) {
            Ok(n) => n,
            Err(e) if unsupported(e) => return Ok(None),
            Err(e) => return Err(Error::io(path, e.into())),
        };
        let mut buf = vec![0u8; len];
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) if unsupported(e) => return Ok(None),
            Err(e) => return Err(Error::io(path, e.into())),
        }
    }
}

/// All xattrs of `path` (not following a final symlink), sorted by name.
pub fn list_xattrs(path: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = loop {
        let len = match rustix::fs::llistxattr_query(path) {
            Ok(0) => return Ok(Vec::new()),
            Ok(n) => n,
            Err(e) if unsupported(e) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(path, e.into())),
        };
        let mut buf = vec![0u8; len];
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                break buf;
            }
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) if unsupported(e) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(path, e.into())),
        }
    };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if let Some(value) = get_xattr(path, name)? {
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

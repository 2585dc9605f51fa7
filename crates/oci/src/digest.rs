//! The layer content digest (the `LayerId`): blake3 over a canonical, mtime-insensitive
//! encoding of a layer directory. Two runs that produce byte-identical files get the same id
//! even when their timestamps differ, which is what lets a step hit the cache after an
//! upstream step re-ran.
//!
//! # Encoding, version 1
//!
//! The hash input is the domain tag [`DOMAIN`] followed by one record per entry of the
//! canonical walk (see `crate::walk`: depth first, siblings sorted by name bytes, root
//! excluded, sockets skipped because no layer format can carry them). Integers are
//! little-endian; `bytes(x)` is a u64 length followed by the bytes.
//!
//! ```text
//! record   = tag:u8 bytes(path) [meta] body xattrs
//! meta     = mode:u32 uid:u32 gid:u32          (absent for whiteouts; mode = st_mode & 0o7777)
//! body     = dir:      opaque:u8
//!          | file:     0:u8 size:u64 blake3(content):[32]
//!                    | 1:u8 bytes(path of the earlier hardlink in this layer)
//!          | symlink:  bytes(target)
//!          | char/block: major:u32 minor:u32
//!          | fifo/whiteout: (nothing)
//! xattrs   = count:u32 (bytes(name) bytes(value))*   sorted; overlay and SELinux ones excluded
//! tags     = d f l c b p w
//! ```
//!
//! Changing anything here changes every LayerId: bump the version in [`DOMAIN`] and say so in
//! the changelog. `tests::encoding_is_stable` freezes it.

use crate::error::{Error, Result};
use crate::walk::{Entry, Kind, walk};
use rayon::prelude::*;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Domain tag and encoding version of the content digest.
pub const DOMAIN: &[u8] = b"cairn/layer-content-digest/v1\0";

/// Content digest (LayerId) of a layer dir: 64 lowercase hex chars.
pub fn content_digest(dir: &Path) -> Result<cairn_store::LayerId> {
    content_digest_with(dir, &|_| None)
}

/// [`content_digest`], taking the blake3 of a regular file's content from `known` (given the
/// path relative to `dir`) where it has it instead of reading the file. Why: a copy from the
/// build context knows every file's hash from the context scan, and reading hundreds of
/// megabytes again only to learn them is most of a big copy's cost. The caller answers only
/// for files whose content it knows to be that (the solver: files the copy wrote from a
/// context source the scan hashed, checked unchanged after the copy).
pub fn content_digest_with(
    dir: &Path,
    known: &(dyn Fn(&[u8]) -> Option<[u8; 32]> + Sync),
) -> Result<cairn_store::LayerId> {
    content_digest_sized(dir, known).map(|(id, _)| id)
}

/// [`content_digest_with`], and the directory's share of the disk as the store counts it
/// (`Store::set_layer_size`: every entry's blocks, a file with N links counted 1/N), from the
/// same walk.
pub fn content_digest_sized(
    dir: &Path,
    known: &(dyn Fn(&[u8]) -> Option<[u8; 32]> + Sync),
) -> Result<(cairn_store::LayerId, u64)> {
    // Walk once, in batches: each batch's files are hashed in parallel (the cost), then its
    // entries encoded in order. Batches keep memory flat however big the layer (holding every
    // entry with its metadata and paths was ~400 bytes a file: 40 MB at 100,000 files).
    let mut state = Digesting {
        h: blake3::Hasher::new(),
        first_paths: HashMap::new(),
        share: std::fs::symlink_metadata(dir).map_or(0, |m| cairn_store::disk_share(&m)),
        batch: Vec::with_capacity(BATCH),
    };
    state.h.update(DOMAIN);
    walk(dir, &mut |e: &Entry| {
        state.batch.push(e.clone());
        if state.batch.len() >= BATCH {
            state.flush(known)?;
        }
        Ok(())
    })?;
    state.flush(known)?;
    Ok((
        cairn_store::LayerId::from_bytes(state.h.finalize().as_bytes()),
        state.share,
    ))
}

/// Entries hashed and encoded together.
const BATCH: usize = 2048;

struct Digesting {
    h: blake3::Hasher,
    /// Hardlinks: the first path (in walk order) of each multiply-linked inode; only that
    /// path is hashed, later ones refer to it.
    first_paths: HashMap<(u64, u64), Vec<u8>>,
    share: u64,
    batch: Vec<Entry>,
}

impl Digesting {
    fn flush(&mut self, known: &(dyn Fn(&[u8]) -> Option<[u8; 32]> + Sync)) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        let links: Vec<Option<Vec<u8>>> = batch
            .iter()
            .map(|e| {
                if e.kind != Kind::File || e.meta.nlink() <= 1 {
                    return None;
                }
                let key = (e.meta.dev(), e.meta.ino());
                match self.first_paths.get(&key) {
                    Some(first) => Some(first.clone()),
                    None => {
                        self.first_paths.insert(key, e.rel.clone());
                        None
                    }
                }
            })
            .collect();
        let hashes: Vec<Option<[u8; 32]>> = batch
            .par_iter()
            .zip(links.par_iter())
            .map(|(e, link)| {
                if e.kind != Kind::File || link.is_some() {
                    return Ok(None);
                }
                if let Some(hash) = known(&e.rel) {
                    return Ok(Some(hash));
                }
                let file = std::fs::File::open(&e.abs).map_err(|err| Error::io(&e.abs, err))?;
                let mut fh = blake3::Hasher::new();
                fh.update_reader(file)
                    .map_err(|err| Error::io(&e.abs, err))?;
                Ok(Some(*fh.finalize().as_bytes()))
            })
            .collect::<Result<_>>()?;
        for ((e, link), hash) in batch.iter().zip(&links).zip(hashes) {
            encode(&mut self.h, e, link.as_deref(), hash)?;
            self.share += cairn_store::disk_share(&e.meta);
        }
        self.batch = batch;
        self.batch.clear();
        Ok(())
    }
}

fn bytes(h: &mut blake3::Hasher, b: &[u8]) {
    h.update(&(b.len() as u64).to_le_bytes());
    h.update(b);
}

/// Encode one entry; `link` is the earlier path of its inode in this layer, if any.
fn encode(
    h: &mut blake3::Hasher,
    e: &Entry,
    link: Option<&[u8]>,
    content: Option<[u8; 32]>,
) -> Result<()> {
    let tag = match e.kind {
        Kind::Dir { .. } => b'd',
        Kind::File => b'f',
        Kind::Symlink(_) => b'l',
        Kind::Char { .. } => b'c',
        Kind::Block { .. } => b'b',
        Kind::Fifo => b'p',
        Kind::Whiteout => b'w',
        Kind::Socket => return Ok(()),
    };
    h.update(&[tag]);
    bytes(h, &e.rel);
    if e.kind != Kind::Whiteout {
        h.update(&e.mode().to_le_bytes());
        h.update(&e.meta.uid().to_le_bytes());
        h.update(&e.meta.gid().to_le_bytes());
    }
    match &e.kind {
        Kind::Dir { opaque } => {
            h.update(&[u8::from(*opaque)]);
        }
        Kind::File => {
            if let Some(first) = link {
                h.update(&[1]);
                bytes(h, first);
            } else {
                h.update(&[0]);
                h.update(&e.meta.size().to_le_bytes());
                let hash = content.ok_or_else(|| {
                    Error::io(&e.abs, std::io::Error::other("file content was not hashed"))
                })?;
                h.update(&hash);
            }
        }
        Kind::Symlink(target) => bytes(h, target),
        Kind::Char { major, minor } | Kind::Block { major, minor } => {
            h.update(&major.to_le_bytes());
            h.update(&minor.to_le_bytes());
        }
        Kind::Fifo | Kind::Whiteout | Kind::Socket => {}
    }
    h.update(&(e.xattrs.len() as u32).to_le_bytes());
    for (name, value) in &e.xattrs {
        bytes(h, name);
        bytes(h, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// Freezes the encoding: a change here changes every LayerId in every store, which needs
    /// a new DOMAIN version.
    #[test]
    fn encoding_is_stable() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"hello").unwrap();
        symlink("d/f", root.join("l")).unwrap();
        for (p, mode) in [("d", 0o755), ("d/f", 0o644)] {
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        for p in ["d", "d/f", "l"] {
            std::os::unix::fs::lchown(root.join(p), Some(0), Some(0)).unwrap();
        }
        assert_eq!(
            content_digest(root).unwrap(),
            "3e2fd3e44fb00e28a4f6db545bd1c313590e4a0764c917843616bd5c0da43b48"
        );
    }
}

#[cfg(test)]
mod hardlink_freeze {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Freezes the hardlink part of the encoding, across more entries than one batch: a
    /// layer with three names for one inode and 3,000 other files.
    #[test]
    fn hardlinks_encoding_is_stable() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir(root.join("d")).unwrap();
        for i in 0..3000 {
            std::fs::write(root.join("d").join(format!("f{i:04}")), format!("{i}")).unwrap();
        }
        std::fs::write(root.join("a"), b"linked").unwrap();
        std::fs::hard_link(root.join("a"), root.join("d/z")).unwrap();
        std::fs::hard_link(root.join("a"), root.join("b")).unwrap();
        for e in std::fs::read_dir(root.join("d")).unwrap() {
            let p = e.unwrap().path();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::os::unix::fs::lchown(&p, Some(0), Some(0)).unwrap();
        }
        for p in ["a", "b", "d"] {
            let mode = if p == "d" { 0o755 } else { 0o644 };
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
            std::os::unix::fs::lchown(root.join(p), Some(0), Some(0)).unwrap();
        }
        assert_eq!(
            content_digest(root).unwrap(),
            "b78f93f2d0f7c7d3c2c68e21a87923ed39360b2d7575b28e1824ee6d1e41894d"
        );
    }
}

//! ADD's archive unpacking: a local source that *is* a tar (plain, gzip, bzip2, xz or zstd —
//! recognised by its magic bytes and a valid first tar header, never by its name) is extracted
//! into the destination directory instead of being copied.
//!
//! Why our own extractor instead of `tar::Archive::unpack`: the archive is untrusted input
//! written into a container root, and must behave like BuildKit's `applyRootArchive`. Entry
//! names are cleaned (a leading `/` is dropped, `..` that climbs out is an error); every entry
//! is resolved *inside the destination* with [`resolve_in_root`], so a symlink planted by the
//! archive (`evil -> /etc`) can redirect later entries only within the destination; an existing
//! non-directory is removed before writing (never written through) and files are created with
//! `O_EXCL | O_NOFOLLOW`. Ownership comes from the headers unless `--chown` overrides it,
//! implied parent directories are 0755 root-owned, and directory times are set last.
//! Device nodes are refused, as BuildKit does. xz has no streaming reader in `lzma-rs`, so it
//! is decoded on a scoped thread through a pipe (bounded memory; the thread is joined before
//! returning).

use std::ffi::OsStr;
use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::error::{Error, Result};
use crate::meta;
use crate::owner::Ids;
use crate::resolve::{resolve_in_root, show};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// If source `m` (in `src_root`, followed) is an archive, extract it into the in-root
/// directory `dest` (created 0755 with `owner`) and return true; otherwise return false.
pub(crate) fn unpack_if_archive(
    root: &Path,
    src_root: &Path,
    m: &str,
    dest: &str,
    owner: Option<Ids>,
) -> Result<bool> {
    let src = resolve_in_root(src_root, m, true)?;
    let Some(compression) = detect(&src) else {
        return Ok(false);
    };
    let shown = m.trim_start_matches('/').to_string();
    let dst = resolve_in_root(root, dest, true)?;
    meta::mkdir_all_host(root, &dst, 0o755, owner)?;
    let file = File::open(&src).map_err(|e| Error::io("open", shown.clone(), e))?;
    let ctx = Extract {
        root,
        dest: &dst,
        owner,
        archive: &shown,
    };
    with_decoded(file, compression, &shown, |r| ctx.run(r))?;
    Ok(true)
}

/// If `archive` (a host file) is a tar — plain, gzip, bzip2, xz or zstd — extract it into the
/// existing directory `dest` with the same confinement as ADD's and return true; otherwise
/// return false. `name` is how errors call the archive. (`cairn build -` reads a context tar
/// from stdin this way, as `docker build -` does.)
pub fn extract_tar(archive: &Path, dest: &Path, name: &str) -> Result<bool> {
    let Some(compression) = detect(archive) else {
        return Ok(false);
    };
    let file = File::open(archive).map_err(|e| Error::io("open", name.to_string(), e))?;
    let ctx = Extract {
        root: dest,
        dest,
        owner: None,
        archive: name,
    };
    with_decoded(file, compression, name, |r| ctx.run(r))?;
    Ok(true)
}

/// `Some(compression)` when `path` is a regular file holding a (compressed) tar.
fn detect(path: &Path) -> Option<Compression> {
    if !fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let mut file = File::open(path).ok()?;
    let mut head = Vec::with_capacity(6);
    file.by_ref().take(6).read_to_end(&mut head).ok()?;
    file.seek(SeekFrom::Start(0)).ok()?;
    let compression = sniff(&head);
    let is_tar = with_decoded(file, compression, "", |r| {
        let mut ar = tar::Archive::new(r);
        let first = ar.entries().ok().and_then(|mut e| e.next());
        Ok(matches!(first, Some(Ok(_))))
    });
    matches!(is_tar, Ok(true)).then_some(compression)
}

/// Run `f` on the decompressed stream of `file`.
fn with_decoded<T>(
    file: File,
    compression: Compression,
    archive: &str,
    f: impl FnOnce(&mut dyn Read) -> Result<T>,
) -> Result<T> {
    let bad = |reason: String| Error::Archive {
        archive: archive.to_string(),
        entry: String::new(),
        reason,
    };
    match compression {
        Compression::None => f(&mut BufReader::new(file)),
        Compression::Gzip => f(&mut flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Bzip2 => f(&mut bzip2::read::MultiBzDecoder::new(BufReader::new(file))),
        Compression::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(file).map_err(|e| bad(e.to_string()))?;
            f(&mut dec)
        }
        Compression::Xz => {
            let (mut reader, writer) = io::pipe().map_err(|e| bad(e.to_string()))?;
            std::thread::scope(|s| {
                let worker = s.spawn(move || {
                    let mut writer = writer;
                    lzma_rs::xz_decompress(&mut BufReader::new(file), &mut writer)
                });
                let out = f(&mut reader);
                // Stop the decoder if the consumer finished early (it sees a broken pipe).
                drop(reader);
                let decoded = worker.join();
                match (out, decoded) {
                    (Err(e), _) => Err(e),
                    (Ok(v), Ok(Ok(()))) => Ok(v),
                    (Ok(v), Ok(Err(lzma_rs::error::Error::IoError(e))))
                        if e.kind() == io::ErrorKind::BrokenPipe =>
                    {
                        Ok(v)
                    }
                    (Ok(_), Ok(Err(e))) => Err(bad(e.to_string())),
                    (Ok(_), Err(_)) => Err(bad("xz decoder panicked".to_string())),
                }
            })
        }
    }
}

/// Clean a tar entry name: drop leading `/`, `.` and empty segments, resolve `..`; `Ok(None)`
/// for the root itself, `Err` when `..` climbs above it.
fn clean_tar_path(raw: &[u8]) -> Result<Option<PathBuf>, ()> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in raw.split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                parts.pop().ok_or(())?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(OsStr::from_bytes(&parts.join(&b'/')))))
}

struct Extract<'a> {
    root: &'a Path,
    /// The extraction root (host path, inside `root`).
    dest: &'a Path,
    owner: Option<Ids>,
    archive: &'a str,
}

impl Extract<'_> {
    fn err(&self, entry: &str, reason: impl Display) -> Error {
        Error::Archive {
            archive: self.archive.to_string(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn run(&self, reader: &mut dyn Read) -> Result<()> {
        let mut ar = tar::Archive::new(reader);
        let entries = ar.entries().map_err(|e| self.err("", e))?;
        let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| self.err("", e))?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions()
                || kind.is_pax_local_extensions()
                || kind.is_gnu_longname()
                || kind.is_gnu_longlink()
            {
                continue;
            }
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let rel = match clean_tar_path(&raw) {
                Ok(Some(rel)) => rel,
                Ok(None) => continue,
                Err(()) => return Err(self.err(&name, "path is outside the extraction root")),
            };
            let hdr = entry.header();
            // Like Go's archive/tar, an empty numeric field reads as 0.
            let ids = match self.owner {
                Some(ids) => ids,
                None => {
                    let id = |v: io::Result<u64>| -> Result<u32> {
                        let v = v.unwrap_or(0);
                        u32::try_from(v)
                            .map_err(|_| self.err(&name, format!("id {v} out of range")))
                    };
                    Ids {
                        uid: id(hdr.uid())?,
                        gid: id(hdr.gid())?,
                    }
                }
            };
            let mode = hdr.mode().map_err(|e| self.err(&name, e))? & 0o7777;
            let mtime = i64::try_from(hdr.mtime().unwrap_or(0)).unwrap_or(0);
            let times = ((mtime, 0), (mtime, 0));

            let op = resolve_in_root(self.dest, &rel, kind.is_dir())?;
            if op == self.dest {
                continue;
            }
            self.make_parents(&op, &name)?;
            if let Ok(existing) = fs::symlink_metadata(&op)
                && !(existing.is_dir() && kind.is_dir())
            {
                meta::remove_all(self.root, &op)?;
            }
            let shown = show(self.root, &op);
            match kind {
                tar::EntryType::Directory => {
                    if let Err(e) = fs::create_dir(&op)
                        && e.kind() != io::ErrorKind::AlreadyExists
                    {
                        return Err(Error::io("mkdir", shown, e));
                    }
                    meta::chown(self.root, &op, ids)?;
                    meta::chmod(self.root, &op, mode)?;
                    dirs.push((op, mtime));
                }
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    let mut file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
                        .open(&op)
                        .map_err(|e| Error::io("create", shown.clone(), e))?;
                    io::copy(&mut entry, &mut file).map_err(|e| self.err(&name, e))?;
                    drop(file);
                    meta::chown(self.root, &op, ids)?;
                    meta::chmod(self.root, &op, mode)?;
                    meta::set_times(self.root, &op, times.0, times.1)?;
                }
                tar::EntryType::Symlink => {
                    let link = entry
                        .link_name_bytes()
                        .ok_or_else(|| self.err(&name, "symlink without a target"))?;
                    symlink(OsStr::from_bytes(&link), &op)
                        .map_err(|e| Error::io("symlink", shown, e))?;
                    meta::chown(self.root, &op, ids)?;
                    meta::set_times(self.root, &op, times.0, times.1)?;
                }
                tar::EntryType::Link => {
                    let link = entry
                        .link_name_bytes()
                        .ok_or_else(|| self.err(&name, "hardlink without a target"))?;
                    let target = match clean_tar_path(&link) {
                        Ok(Some(t)) => t,
                        Ok(None) => {
                            return Err(self.err(&name, "hardlink targets the extraction root"));
                        }
                        Err(()) => {
                            return Err(
                                self.err(&name, "hardlink target is outside the extraction root")
                            );
                        }
                    };
                    let target = resolve_in_root(self.dest, &target, false)?;
                    fs::hard_link(&target, &op).map_err(|e| Error::io("link", shown, e))?;
                    meta::chown(self.root, &op, ids)?;
                    if !fs::symlink_metadata(&op).is_ok_and(|m| m.file_type().is_symlink()) {
                        meta::chmod(self.root, &op, mode)?;
                        meta::set_times(self.root, &op, times.0, times.1)?;
                    }
                }
                other => {
                    return Err(self.err(&name, format!("unsupported tar entry type {other:?}")));
                }
            }
        }
        for (dir, mtime) in dirs.iter().rev() {
            meta::set_times(self.root, dir, (*mtime, 0), (*mtime, 0))?;
        }
        Ok(())
    }

    /// Create the missing directories between the extraction root and `op` (0755, 0:0).
    fn make_parents(&self, op: &Path, name: &str) -> Result<()> {
        let Some(parent) = op.parent() else {
            return Ok(());
        };
        let rel = parent
            .strip_prefix(self.dest)
            .map_err(|_| self.err(name, "escapes the extraction root"))?;
        let mut cur = self.dest.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return Err(Error::NotADirectory {
                        path: show(self.root, &cur),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("lstat", show(self.root, &cur), e)),
            }
            fs::create_dir(&cur).map_err(|e| Error::io("mkdir", show(self.root, &cur), e))?;
            meta::chown(self.root, &cur, Ids { uid: 0, gid: 0 })?;
            meta::chmod(self.root, &cur, 0o755)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_magic() {
        assert_eq!(sniff(&[0x1f, 0x8b, 0x08, 0]), Compression::Gzip);
        assert_eq!(sniff(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Compression::Xz);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(sniff(b"hello"), Compression::None);
        assert_eq!(sniff(b""), Compression::None);
    }

    #[test]
    fn cleans_names() {
        assert_eq!(clean_tar_path(b"/a/./b/"), Ok(Some(PathBuf::from("a/b"))));
        assert_eq!(clean_tar_path(b"a/../b"), Ok(Some(PathBuf::from("b"))));
        assert_eq!(clean_tar_path(b"./"), Ok(None));
        assert_eq!(clean_tar_path(b"a/.."), Ok(None));
        assert_eq!(clean_tar_path(b"../x"), Err(()));
        assert_eq!(clean_tar_path(b"a/../../x"), Err(()));
        assert_eq!(clean_tar_path(b"/../x"), Err(()));
    }
}

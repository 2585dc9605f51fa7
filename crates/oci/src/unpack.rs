//! Unpacking a layer tar into overlay form, safely.
//!
//! Layer tars come from registries and from `docker save` files of unknown origin, so every
//! entry is treated as hostile: paths are normalized and rejected if absolute or containing
//! `..`; parents are resolved component by component without following symlinks (see
//! [`crate::safefs`]); hardlinks may only point at non-directories extracted earlier from the
//! same tar; symlink targets are stored as data and never followed. `tar::Archive::unpack` is
//! deliberately not used. Overlay xattrs in the tar are dropped (a `trusted.overlay.redirect`
//! would let a layer reach into other layers); `.wh.` entries become overlay whiteouts.

use crate::error::{Error, Result, rio};
use crate::meta::{self, Meta};
use crate::oci_digest;
use crate::pipeline::{HashingReader, decompress};
use crate::safefs::{self, ResolveError, Root, os};
use crate::walk::{OPAQUE_XATTR, keep_xattr};
use crate::whiteout::{OPAQUE_MARKER, WH_PREFIX};
use cairn_store::OciDigest;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::os::fd::OwnedFd;
use std::path::Path;
use tar::EntryType;

/// Unpack a layer tar (gzip/zstd/plain autodetected) into `dest` (normally empty), turning
/// `.wh.` entries into overlay whiteouts. Never writes outside `dest`. Returns the diff_id
/// (sha256 of the uncompressed tar stream).
pub fn unpack_layer(reader: impl Read, dest: &Path) -> Result<OciDigest> {
    let what = || format!("layer tar unpacked into {}", dest.display());
    let plain = decompress(BufReader::with_capacity(256 * 1024, reader))
        .map_err(|e| Error::stream(what(), e))?;
    let mut hashing = HashingReader::new(plain);
    let root = Root::open(dest).map_err(|e| Error::io(dest, e))?;
    let mut state = Unpacker {
        root: &root,
        extracted: HashSet::new(),
        dir_times: Vec::new(),
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        // Raw iteration: extension headers are parsed here, because the tar crate's PAX
        // parser splits records at newlines and so cannot read binary xattr values.
        let entries = archive
            .entries()
            .map_err(|e| Error::stream(what(), e))?
            .raw(true);
        let mut ext = Extensions::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::stream(what(), e))?;
            if ext.absorb(&mut entry)? {
                continue;
            }
            let header = std::mem::take(&mut ext).resolve(&entry)?;
            state.entry(header, &mut entry)?;
        }
        if ext.pending() {
            return Err(Error::stream(
                what(),
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "extension header at the end of the archive without an entry",
                ),
            ));
        }
    }
    state.finish()?;
    let (diff_id, _) = hashing.finish().map_err(|e| Error::stream(what(), e))?;
    Ok(oci_digest(&diff_id))
}

/// Split a tar path into normal components, rejecting absolute paths and `..`.
pub(crate) fn normalize(raw: &[u8]) -> Result<Vec<&[u8]>> {
    if raw.first() == Some(&b'/') {
        return Err(Error::entry(raw, "absolute path"));
    }
    if raw.contains(&0) {
        return Err(Error::entry(raw, "NUL byte in path"));
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(Error::entry(raw, "path contains a '..' component")),
            c => out.push(c),
        }
    }
    Ok(out)
}

struct Unpacker<'a> {
    root: &'a Root,
    /// Non-directory paths written by this tar: the only valid hardlink targets.
    extracted: HashSet<Vec<u8>>,
    /// Directory mtimes, applied once every child is in place.
    dir_times: Vec<(Vec<Vec<u8>>, Meta)>,
}

/// Extension headers seen since the last real entry.
#[derive(Default)]
struct Extensions {
    pax: Option<Vec<u8>>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

/// A real entry with its extensions applied.
struct Resolved {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    ty: EntryType,
    meta: Meta,
    dev: (u32, u32),
}

fn read_ext<R: Read>(entry: &mut tar::Entry<'_, R>, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    // Extension payloads are small; refuse absurd ones rather than buffering them.
    entry
        .take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| Error::stream(what, e))?;
    Ok(buf)
}

impl Extensions {
    fn pending(&self) -> bool {
        self.pax.is_some() || self.long_name.is_some() || self.long_link.is_some()
    }

    /// Take in an extension header; false for a real entry.
    fn absorb<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<bool> {
        match entry.header().entry_type() {
            EntryType::XHeader => {
                let data = read_ext(entry, "PAX header")?;
                self.pax = Some(data);
            }
            // Global PAX headers carry nothing a layer needs (Docker and BuildKit write none).
            EntryType::XGlobalHeader => {}
            EntryType::GNULongName => {
                let mut data = read_ext(entry, "GNU long name")?;
                while data.last() == Some(&0) {
                    data.pop();
                }
                self.long_name = Some(data);
            }
            EntryType::GNULongLink => {
                let mut data = read_ext(entry, "GNU long link")?;
                while data.last() == Some(&0) {
                    data.pop();
                }
                self.long_link = Some(data);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn resolve<R: Read>(self, entry: &tar::Entry<'_, R>) -> Result<Resolved> {
        let h = entry.header();
        let mut path = self
            .long_name
            .unwrap_or_else(|| h.path_bytes().into_owned());
        let mut link = self
            .long_link
            .or_else(|| h.link_name_bytes().map(|l| l.into_owned()));
        let pax = match &self.pax {
            Some(data) => {
                parse_pax(data).ok_or_else(|| Error::entry(&path, "malformed PAX header"))?
            }
            None => Vec::new(),
        };
        let mut uid = None;
        let mut gid = None;
        let mut mtime = None;
        let mut xattrs = Vec::new();
        for (key, value) in pax {
            match key {
                b"path" => path = value.to_vec(),
                b"linkpath" => link = Some(value.to_vec()),
                b"uid" => uid = Some(value),
                b"gid" => gid = Some(value),
                b"mtime" => mtime = Some(value),
                b"size" => {
                    let size = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok());
                    if size != Some(entry.size()) {
                        return Err(Error::entry(
                            &path,
                            "PAX size differs from the header size (files over 8 GiB are not supported)",
                        ));
                    }
                }
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.")
                        && keep_xattr(name)
                    {
                        xattrs.push((name.to_vec(), value.to_vec()));
                    }
                }
            }
        }
        let bad = |what: &str| Error::entry(&path, format!("bad {what}"));
        let dec = |v: &[u8]| std::str::from_utf8(v).ok()?.parse::<u32>().ok();
        let old = h.as_old();
        let uid = match uid {
            Some(v) => dec(v).ok_or_else(|| bad("PAX uid"))?,
            None => header_num(h.uid(), &old.uid).ok_or_else(|| bad("uid"))?,
        };
        let gid = match gid {
            Some(v) => dec(v).ok_or_else(|| bad("PAX gid"))?,
            None => header_num(h.gid(), &old.gid).ok_or_else(|| bad("gid"))?,
        };
        let (mtime, mtime_nsec) = match mtime {
            Some(v) => parse_pax_time(v).ok_or_else(|| bad("PAX mtime"))?,
            None => (
                header_num::<i64>(h.mtime(), &old.mtime).ok_or_else(|| bad("mtime"))?,
                0,
            ),
        };
        let mode: u32 =
            header_num(h.mode().map(u64::from), &old.mode).ok_or_else(|| bad("mode"))?;
        let ty = h.entry_type();
        let dev = if matches!(ty, EntryType::Char | EntryType::Block) {
            let major = h
                .device_major()
                .ok()
                .flatten()
                .ok_or_else(|| bad("device major"))?;
            let minor = h
                .device_minor()
                .ok()
                .flatten()
                .ok_or_else(|| bad("device minor"))?;
            (major, minor)
        } else {
            (0, 0)
        };
        Ok(Resolved {
            path,
            link,
            ty,
            meta: Meta {
                mode: mode & 0o7777,
                uid,
                gid,
                mtime,
                mtime_nsec,
                xattrs,
            },
            dev,
        })
    }
}

/// A numeric header field; an empty (all NUL or space) field reads as 0, as in Go.
fn header_num<T: TryFrom<u64> + Default>(parsed: std::io::Result<u64>, raw: &[u8]) -> Option<T> {
    match parsed {
        Ok(v) => T::try_from(v).ok(),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Some(T::default()),
        Err(_) => None,
    }
}

/// PAX records: `<len> <key>=<value>\n`, `len` counting the whole record. Values may hold
/// any byte, newlines included.
fn parse_pax(mut data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let sp = data.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(data.get(..sp)?).ok()?.parse().ok()?;
        if len <= sp + 1 {
            return None;
        }
        let (record, rest) = data.split_at_checked(len)?;
        let kv = record.get(sp + 1..)?.strip_suffix(b"\n")?;
        let mut kv = kv.splitn(2, |b| *b == b'=');
        out.push((kv.next()?, kv.next()?));
        data = rest;
    }
    Some(out)
}

pub(crate) fn resolve_error(raw: &[u8], e: ResolveError) -> Error {
    match e {
        ResolveError::NotADir(c) => Error::entry(
            raw,
            format!(
                "parent {:?} is a symlink or not a directory; refusing to write through it",
                String::from_utf8_lossy(&c)
            ),
        ),
        ResolveError::Io(io) => Error::entry_io(raw, io),
    }
}

/// PAX time: decimal seconds with an optional fraction, possibly negative.
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nsec = 0u32;
    let mut scale = 100_000_000u32;
    for c in frac.bytes().take(9) {
        if !c.is_ascii_digit() {
            return None;
        }
        nsec += u32::from(c - b'0') * scale;
        scale /= 10;
    }
    if secs < 0 && nsec > 0 {
        // "-1.5" is 1.5 s before the epoch.
        return Some((secs - 1, 1_000_000_000 - nsec));
    }
    Some((secs, nsec))
}

impl Unpacker<'_> {
    fn parent(&self, raw: &[u8], comps: &[&[u8]], create: bool) -> Result<OwnedFd> {
        self.root
            .open_dir(comps, create)
            .map_err(|e| resolve_error(raw, e))
    }

    fn entry<R: Read>(&mut self, r: Resolved, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let Resolved {
            path: raw,
            link,
            ty,
            meta: m,
            dev,
        } = r;
        let comps = normalize(&raw)?;
        let Some((&name, parents)) = comps.split_last() else {
            // The root itself ("./"): its metadata belongs to whatever dest is.
            return Ok(());
        };
        let io = |e: std::io::Error| Error::entry_io(&raw, e);
        let key = comps.join(&b'/');

        if name == OPAQUE_MARKER.as_bytes() {
            let dir = self.parent(&raw, parents, true)?;
            rustix::fs::fsetxattr(&dir, OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty())
                .map_err(|e| io(rio(e)))?;
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WH_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(Error::entry(&raw, "invalid whiteout name"));
            }
            let dir = self.parent(&raw, parents, true)?;
            safefs::remove_at(&dir, hidden).map_err(io)?;
            rustix::fs::mknodat(
                &dir,
                os(hidden),
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| io(rio(e)))?;
            let mut hidden_key = parents.join(&b'/');
            if !hidden_key.is_empty() {
                hidden_key.push(b'/');
            }
            hidden_key.extend_from_slice(hidden);
            self.extracted.remove(&hidden_key);
            return Ok(());
        }

        let dir = self.parent(&raw, parents, true)?;
        match ty {
            EntryType::Directory => {
                if safefs::type_at(&dir, name).map_err(io)? != Some(FileType::Directory) {
                    safefs::remove_at(&dir, name).map_err(io)?;
                    rustix::fs::mkdirat(&dir, os(name), Mode::from_raw_mode(0o700))
                        .map_err(|e| io(rio(e)))?;
                }
                let fd = self.parent(&raw, &comps, false)?;
                meta::apply_fd(&fd, &m).map_err(io)?;
                self.extracted.remove(&key);
                self.dir_times
                    .push((comps.iter().map(|c| c.to_vec()).collect(), m));
            }
            EntryType::Regular | EntryType::Continuous => {
                safefs::remove_at(&dir, name).map_err(io)?;
                let fd = rustix::fs::openat(
                    &dir,
                    os(name),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io(rio(e)))?;
                let mut file = std::fs::File::from(fd);
                std::io::copy(entry, &mut file).map_err(io)?;
                meta::apply_fd(&file, &m).map_err(io)?;
                rustix::fs::futimens(&file, &m.timestamps()).map_err(|e| io(rio(e)))?;
                self.extracted.insert(key);
            }
            EntryType::Symlink => {
                let target = link.ok_or_else(|| Error::entry(&raw, "symlink without a target"))?;
                if target.is_empty() || target.contains(&0) {
                    return Err(Error::entry(&raw, "invalid symlink target"));
                }
                safefs::remove_at(&dir, name).map_err(io)?;
                rustix::fs::symlinkat(os(&target), &dir, os(name)).map_err(|e| io(rio(e)))?;
                meta::apply_at(&dir, name, &m, true).map_err(io)?;
                self.extracted.insert(key);
            }
            EntryType::Link => {
                let target_raw =
                    link.ok_or_else(|| Error::entry(&raw, "hardlink without a target"))?;
                let target = normalize(&target_raw).map_err(|_| {
                    Error::entry(
                        &raw,
                        format!(
                            "hardlink target {:?} is outside the layer",
                            String::from_utf8_lossy(&target_raw)
                        ),
                    )
                })?;
                let target_key = target.join(&b'/');
                if !self.extracted.contains(&target_key) {
                    return Err(Error::entry(
                        &raw,
                        format!(
                            "hardlink target {:?} is not a file extracted earlier from this layer",
                            String::from_utf8_lossy(&target_raw)
                        ),
                    ));
                }
                if target_key == key {
                    return Ok(());
                }
                let Some((&tname, tparents)) = target.split_last() else {
                    return Err(Error::entry(&raw, "hardlink to the layer root"));
                };
                let tdir = self.parent(&raw, tparents, false)?;
                safefs::remove_at(&dir, name).map_err(io)?;
                rustix::fs::linkat(&tdir, os(tname), &dir, os(name), AtFlags::empty())
                    .map_err(|e| io(rio(e)))?;
                self.extracted.insert(key);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let dev = rustix::fs::makedev(dev.0, dev.1);
                let ft = match ty {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                safefs::remove_at(&dir, name).map_err(io)?;
                rustix::fs::mknodat(&dir, os(name), ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| io(rio(e)))?;
                meta::apply_at(&dir, name, &m, false).map_err(io)?;
                self.extracted.insert(key);
            }
            other => {
                return Err(Error::entry(
                    &raw,
                    format!("unsupported tar entry type {:?}", other),
                ));
            }
        }
        Ok(())
    }

    /// Directory mtimes, now that nothing will be written into them any more.
    fn finish(&mut self) -> Result<()> {
        for (comps, m) in self.dir_times.iter().rev() {
            let comps: Vec<&[u8]> = comps.iter().map(Vec::as_slice).collect();
            let raw = comps.join(&b'/');
            if let Some((&name, parents)) = comps.split_last() {
                // A later entry may have replaced the directory (or a parent); skip those.
                let Ok(dir) = self.root.open_dir(parents, false) else {
                    continue;
                };
                if safefs::type_at(&dir, name).map_err(|e| Error::entry_io(&raw, e))?
                    == Some(FileType::Directory)
                {
                    meta::set_times_at(&dir, name, m).map_err(|e| Error::entry_io(&raw, e))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_escapes() {
        assert!(normalize(b"../x").is_err());
        assert!(normalize(b"a/../../x").is_err());
        assert!(normalize(b"/etc/x").is_err());
        assert!(normalize(b"a\0b").is_err());
        let ok = normalize(b"./a//b/./c/").unwrap();
        assert_eq!(ok, [&b"a"[..], b"b", b"c"]);
        assert!(normalize(b"./").unwrap().is_empty());
    }

    #[test]
    fn pax_values_may_contain_newlines() {
        let rec = b"29 SCHILY.xattr.user.a=x\ny\x00z\n16 path=a/b/c/d\n";
        let parsed = parse_pax(rec).unwrap();
        assert_eq!(parsed[0], (&b"SCHILY.xattr.user.a"[..], &b"x\ny\x00z"[..]));
        assert_eq!(parsed[1], (&b"path"[..], &b"a/b/c/d"[..]));
        assert!(parse_pax(b"99 path=x\n").is_none());
        assert!(parse_pax(b"9 path=xy").is_none());
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(parse_pax_time(b"1.5"), Some((1, 500_000_000)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b"x"), None);
    }
}

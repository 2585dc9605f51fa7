//! Writing an overlay-form layer directory as an OCI layer tar, and as a compressed blob in
//! the store.
//!
//! The tar is canonical: entries in walk order (parents first, siblings sorted), ustar headers
//! with PAX records only where ustar cannot say it (long names, large ids, xattrs), no user or
//! group names, and mtimes clamped to `epoch` when one is given. Overlay whiteouts become
//! `.wh.<name>` files, opaque directories get a `.wh..wh..opq` entry right after their own,
//! and files hardlinked within the layer become tar hardlinks to their first path.

use crate::error::{Error, Result};
use crate::pipeline::{Compressor, HashingWriter};
use crate::walk::{Entry, Kind, walk};
use crate::{oci_digest, whiteout};
use cairn_store::{Compression, LayerBlob, Store};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tar::{EntryType, Header};

/// Ids above this do not fit the 8-byte octal ustar field and go into PAX records.
const MAX_USTAR_ID: u64 = 0o7777777;

/// The mtimes a layer tar records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// As stored, clamped to the epoch when one is given (`min(mtime, epoch)`).
    Clamp(Option<i64>),
    /// Every entry at exactly this time: a layer this build made, exported under
    /// SOURCE_DATE_EPOCH. Layers are identified by content without mtimes, so the mtimes a
    /// stored copy has depend on when the store first made it; only a fixed time makes the
    /// export a function of content and epoch alone.
    Fixed(i64),
}

impl Stamp {
    fn mtime(self, stored: i64) -> u64 {
        let t = match self {
            Stamp::Clamp(Some(ep)) => stored.min(ep),
            Stamp::Clamp(None) => stored,
            Stamp::Fixed(t) => t,
        };
        u64::try_from(t).unwrap_or(0)
    }
}

/// Tar an overlay-form layer dir onto `out` and return `out` (mtimes clamped to `epoch`).
pub fn write_layer_tar<W: Write>(dir: &Path, out: W, epoch: Option<i64>) -> Result<W> {
    write_layer_tar_stamped(dir, out, Stamp::Clamp(epoch))
}

/// [`write_layer_tar`] with the given mtime rule.
pub fn write_layer_tar_stamped<W: Write>(dir: &Path, out: W, stamp: Stamp) -> Result<W> {
    let mut builder = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    walk(dir, &mut |e: &Entry| {
        append_entry(&mut builder, e, stamp, &mut links).map_err(|err| match err {
            Error::Io { source, .. } => Error::entry_io(&e.rel, source),
            other => other,
        })
    })?;
    builder
        .into_inner()
        .map_err(|e| Error::stream(format!("layer tar of {}", dir.display()), e))
}

fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    e: &Entry,
    stamp: Stamp,
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> Result<()> {
    let io = |err| Error::entry_io(&e.rel, err);
    let mtime = stamp.mtime(e.meta.mtime());
    let meta = TarMeta {
        mode: e.mode(),
        uid: u64::from(e.meta.uid()),
        gid: u64::from(e.meta.gid()),
        mtime,
        xattrs: &e.xattrs,
    };
    match &e.kind {
        Kind::Socket => Ok(()),
        Kind::Whiteout => {
            let (parent, name) = split_parent(&e.rel);
            let mut path = parent.to_vec();
            path.extend_from_slice(whiteout::WH_PREFIX.as_bytes());
            path.extend_from_slice(name);
            let wh = TarMeta {
                mode: 0o600,
                uid: 0,
                gid: 0,
                mtime,
                xattrs: &[],
            };
            append(b, EntryType::Regular, &path, None, &wh, 0, (0, 0), &[][..]).map_err(io)
        }
        Kind::Dir { opaque } => {
            let mut path = e.rel.clone();
            path.push(b'/');
            append(
                b,
                EntryType::Directory,
                &path,
                None,
                &meta,
                0,
                (0, 0),
                &[][..],
            )
            .map_err(io)?;
            if *opaque {
                path.extend_from_slice(whiteout::OPAQUE_MARKER.as_bytes());
                let opq = TarMeta {
                    mode: 0o600,
                    uid: 0,
                    gid: 0,
                    mtime,
                    xattrs: &[],
                };
                append(b, EntryType::Regular, &path, None, &opq, 0, (0, 0), &[][..]).map_err(io)?;
            }
            Ok(())
        }
        Kind::File => {
            let key = (e.meta.dev(), e.meta.ino());
            if e.meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    return append(
                        b,
                        EntryType::Link,
                        &e.rel,
                        Some(first),
                        &meta,
                        0,
                        (0, 0),
                        &[][..],
                    )
                    .map_err(io);
                }
                links.insert(key, e.rel.clone());
            }
            let file = std::fs::File::open(&e.abs).map_err(io)?;
            // The size is taken from the open file so that it matches what is read.
            let size = file.metadata().map_err(io)?.len();
            append(
                b,
                EntryType::Regular,
                &e.rel,
                None,
                &meta,
                size,
                (0, 0),
                std::io::Read::take(file, size),
            )
            .map_err(io)
        }
        Kind::Symlink(target) => append(
            b,
            EntryType::Symlink,
            &e.rel,
            Some(target),
            &meta,
            0,
            (0, 0),
            &[][..],
        )
        .map_err(io),
        Kind::Char { major, minor } | Kind::Block { major, minor } => {
            let kind = if matches!(e.kind, Kind::Char { .. }) {
                EntryType::Char
            } else {
                EntryType::Block
            };
            append(b, kind, &e.rel, None, &meta, 0, (*major, *minor), &[][..]).map_err(io)
        }
        Kind::Fifo => {
            append(b, EntryType::Fifo, &e.rel, None, &meta, 0, (0, 0), &[][..]).map_err(io)
        }
    }
}

/// Split `a/b/c` into (`a/b/`, `c`).
pub(crate) fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|c| *c == b'/') {
        Some(i) => rel.split_at(i + 1),
        None => (&[], rel),
    }
}

pub(crate) struct TarMeta<'a> {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

/// Append one entry with a ustar header, preceded by a PAX header when needed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append<W: Write, R: std::io::Read>(
    b: &mut tar::Builder<W>,
    ty: EntryType,
    path: &[u8],
    link: Option<&[u8]>,
    meta: &TarMeta<'_>,
    size: u64,
    dev: (u32, u32),
    data: R,
) -> std::io::Result<()> {
    let mut h = Header::new_ustar();
    h.set_entry_type(ty);
    h.set_mode(meta.mode);
    h.set_mtime(meta.mtime);
    h.set_size(size);
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    if !set_name(&mut h, path) {
        pax.push(("path".into(), path.to_vec()));
    }
    if let Some(link) = link
        && !fill_field(&mut h.as_old_mut().linkname, link)
    {
        pax.push(("linkpath".into(), link.to_vec()));
    }
    for (key, id, set) in [
        ("uid", meta.uid, Header::set_uid as fn(&mut Header, u64)),
        ("gid", meta.gid, Header::set_gid),
    ] {
        if id > MAX_USTAR_ID {
            pax.push((key.into(), id.to_string().into_bytes()));
            set(&mut h, 0);
        } else {
            set(&mut h, id);
        }
    }
    if matches!(ty, EntryType::Char | EntryType::Block) {
        h.set_device_major(dev.0)?;
        h.set_device_minor(dev.1)?;
    }
    for (name, value) in meta.xattrs {
        let key = format!("SCHILY.xattr.{}", String::from_utf8_lossy(name));
        pax.push((key, value.clone()));
    }
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
    }
    h.set_cksum();
    b.append(&h, data)
}

/// Put `path` into the ustar name (and prefix) fields; false when it does not fit, in which
/// case the name field holds a truncated copy and the caller adds a PAX `path` record.
fn set_name(h: &mut Header, path: &[u8]) -> bool {
    let Some(ustar) = h.as_ustar_mut() else {
        return false;
    };
    if path.len() <= ustar.name.len() {
        return fill_field(&mut ustar.name, path);
    }
    // Split at the last '/' that leaves a prefix of at most 155 bytes; it must leave a
    // non-empty rest of at most 100.
    let window = path.get(..=ustar.prefix.len()).unwrap_or(path);
    if let Some(i) = window.iter().rposition(|c| *c == b'/')
        && let Some((prefix, [_, rest @ ..])) = path.split_at_checked(i)
        && !prefix.is_empty()
        && !rest.is_empty()
        && rest.len() <= ustar.name.len()
    {
        fill_field(&mut ustar.prefix, prefix);
        fill_field(&mut ustar.name, rest);
        return true;
    }
    fill_field(&mut ustar.name, path);
    false
}

/// Copy `value` into the start of the fixed-size header field `field`, truncated to fit;
/// true when all of it fit.
fn fill_field(field: &mut [u8], value: &[u8]) -> bool {
    for (f, v) in field.iter_mut().zip(value) {
        *f = *v;
    }
    value.len() <= field.len()
}

/// Media type of a layer blob with this compression.
pub fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// Tar `dir`, compress, and write the blob into the store in one pass.
pub(crate) fn blob_from_dir(
    store: &Store,
    dir: &Path,
    compression: Compression,
    epoch: Option<i64>,
) -> Result<LayerBlob> {
    blob_from_dir_stamped(store, dir, compression, Stamp::Clamp(epoch))
}

fn blob_from_dir_stamped(
    store: &Store,
    dir: &Path,
    compression: Compression,
    stamp: Stamp,
) -> Result<LayerBlob> {
    let what = || format!("layer blob of {}", dir.display());
    let sink = HashingWriter::new(store.blob_writer()?);
    let compressor = Compressor::new(sink, compression).map_err(|e| Error::stream(what(), e))?;
    let tee = HashingWriter::new(compressor);
    let tee = write_layer_tar_stamped(dir, tee, stamp)?;
    let (compressor, diff_id, _) = tee.finish();
    commit_blob(compressor, compression, oci_digest(&diff_id), &what())
}

/// Finish a compressed blob and publish it in the store, checked against the digest hashed
/// while it was written.
fn commit_blob(
    compressor: Compressor<HashingWriter<cairn_store::BlobWriter>>,
    compression: Compression,
    diff_id: cairn_store::OciDigest,
    what: &str,
) -> Result<LayerBlob> {
    let sink = compressor
        .finish()
        .map_err(|e| Error::stream(what.to_string(), e))?;
    let (blob_writer, digest, size) = sink.finish();
    let (stored, _) = blob_writer.commit()?;
    let digest = oci_digest(&digest);
    if stored != digest {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual: stored.to_string(),
        });
    }
    Ok(LayerBlob {
        compression,
        diff_id,
        digest,
        size,
    })
}

/// Tar an overlay-style layer dir into a compressed blob in the store and record it on the
/// layer. An existing blob for the same compression is reused: nothing is compressed twice
/// (note: a reused blob keeps the timestamps of its first export, whatever `epoch` is now).
pub fn write_layer_blob(
    store: &Store,
    id: &str,
    compression: Compression,
    epoch: Option<i64>,
) -> Result<LayerBlob> {
    let record = store
        .layer(id)?
        .ok_or_else(|| Error::MissingLayer(id.to_string()))?;
    if let Some(existing) = record
        .blobs
        .iter()
        .find(|b| b.compression == compression && store.has_blob(&b.digest))
    {
        return Ok(existing.clone());
    }
    // Another compression of the same tar: transcode it, so the diff id — and with it the
    // image id — stays what it is (a base layer re-tarred from its directory would not
    // reproduce the tar it came as).
    let source = record
        .blobs
        .iter()
        .filter(|b| store.has_blob(&b.digest))
        .find(|b| record.diff_id.as_ref().is_none_or(|d| *d == b.diff_id));
    let blob = match source {
        Some(src) => transcode_blob(store, src, compression)?,
        None => blob_from_dir(store, &store.layer_dir(id), compression, epoch)?,
    };
    store.add_layer_blob(id, blob.clone())?;
    Ok(blob)
}

/// `src` recompressed with `compression`: the same uncompressed tar (checked: the diff id must
/// match), so descriptors of every compression describe one layer.
fn transcode_blob(store: &Store, src: &LayerBlob, compression: Compression) -> Result<LayerBlob> {
    let what = || format!("layer blob {} as {compression:?}", src.digest);
    let reader = std::io::BufReader::new(store.open_blob(&src.digest)?);
    let mut tar = crate::pipeline::decompress(reader).map_err(|e| Error::stream(what(), e))?;
    let sink = HashingWriter::new(store.blob_writer()?);
    let compressor = Compressor::new(sink, compression).map_err(|e| Error::stream(what(), e))?;
    let mut tee = HashingWriter::new(compressor);
    std::io::copy(&mut tar, &mut tee).map_err(|e| Error::stream(what(), e))?;
    let (compressor, diff_id, _) = tee.finish();
    let diff_id = oci_digest(&diff_id);
    if diff_id != src.diff_id {
        return Err(Error::DigestMismatch {
            what: format!("uncompressed content of {}", src.digest),
            expected: src.diff_id.to_string(),
            actual: diff_id.to_string(),
        });
    }
    commit_blob(compressor, compression, diff_id, &what())
}

/// The blob of a layer this build made, exported under SOURCE_DATE_EPOCH `epoch`: its tar
/// with every mtime at `epoch` ([`Stamp::Fixed`]), so the result depends on the layer's content
/// and the epoch only — not on when the store first made the layer. The tar is hashed first
/// (cheap next to compressing) and an existing blob of that diff id reused.
pub fn write_built_layer_blob(
    store: &Store,
    id: &str,
    compression: Compression,
    epoch: i64,
) -> Result<LayerBlob> {
    let record = store
        .layer(id)?
        .ok_or_else(|| Error::MissingLayer(id.to_string()))?;
    let dir = store.layer_dir(id);
    let (diff_id, _) = tar_digest(&dir, Stamp::Fixed(epoch))?;
    if let Some(existing) = record
        .blobs
        .iter()
        .find(|b| b.compression == compression && b.diff_id == diff_id && store.has_blob(&b.digest))
    {
        return Ok(existing.clone());
    }
    let blob = blob_from_dir_stamped(store, &dir, compression, Stamp::Fixed(epoch))?;
    store.add_layer_blob(id, blob.clone())?;
    Ok(blob)
}

/// [`write_built_layer_blob`] for an image that stays in the store: the uncompressed
/// descriptor, hashed, not written.
pub fn built_layer_uncompressed_descriptor(
    store: &Store,
    id: &str,
    epoch: i64,
) -> Result<LayerBlob> {
    if store.layer(id)?.is_none() {
        return Err(Error::MissingLayer(id.to_string()));
    }
    record_uncompressed(store, id, Stamp::Fixed(epoch))
}

/// The diff id and size of a layer dir's tar.
fn tar_digest(dir: &Path, stamp: Stamp) -> Result<(cairn_store::OciDigest, u64)> {
    let tee = HashingWriter::new(std::io::sink());
    let tee = write_layer_tar_stamped(dir, tee, stamp)?;
    let (_, diff_id, size) = tee.finish();
    Ok((oci_digest(&diff_id), size))
}

/// The uncompressed descriptor of a layer — diff id and tar size — without storing the tar: one
/// streaming pass into a hasher, or the value recorded by an earlier pass. For images that only
/// stay in the store (`cairn build -t`): like docker's image store, nothing is compressed or
/// copied; a blob is only written when an export needs one (the tar of a layer dir is
/// reproducible, so it hashes to the digest recorded here).
pub fn layer_uncompressed_descriptor(
    store: &Store,
    id: &str,
    epoch: Option<i64>,
) -> Result<LayerBlob> {
    let record = store
        .layer(id)?
        .ok_or_else(|| Error::MissingLayer(id.to_string()))?;
    // A layer keeps one diff id: if it already has a blob (say the gzip blob of the image it was
    // imported or pulled from), describe the image with that blob rather than re-tarring the
    // directory, whose tar might differ (timestamps clamped differently).
    if let Some(existing) = record
        .blobs
        .iter()
        .find(|b| b.compression == Compression::None || store.has_blob(&b.digest))
    {
        return Ok(existing.clone());
    }
    record_uncompressed(store, id, Stamp::Clamp(epoch))
}

/// Hash layer `id`'s tar (not stored) and record it as its uncompressed descriptor.
fn record_uncompressed(store: &Store, id: &str, stamp: Stamp) -> Result<LayerBlob> {
    let (diff_id, size) = tar_digest(&store.layer_dir(id), stamp)?;
    let blob = LayerBlob {
        compression: Compression::None,
        diff_id: diff_id.clone(),
        digest: diff_id,
        size,
    };
    store.add_layer_blob(id, blob.clone())?;
    Ok(blob)
}

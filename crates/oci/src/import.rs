//! Importing images into the store: `docker save` archives, OCI image layouts (tar or
//! directory), and plain root filesystems (`cairn import`).
//!
//! An archive is read in one pass: archive members that can be blobs (everything under
//! `blobs/`, `*.json` configs, legacy `*/layer.tar`) are streamed straight into the store,
//! those named `blobs/sha256/<hex>` verified against their name; the small top-level
//! documents stay in memory. Images are then resolved from `index.json` (preferred: it keeps
//! the original manifest) or `manifest.json`; every layer is unpacked into a staging dir,
//! checked against the config's diff_id, and committed under its content digest.

use crate::assemble::{ImageSpec, assemble_image, from_json, manifest_for, to_json};
use crate::convert::from_config_file;
use crate::digest::content_digest;
use crate::error::{Error, Result};
use crate::flatten::flatten_layers;
use crate::model::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, DockerArchiveEntry, ImageConfigFile, Index,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX, Manifest,
};
use crate::pipeline::{decompress, sniff};
use crate::unpack::{normalize, unpack_layer};
use crate::walk::walk;
use cairn_store::{ImageRecord, LayerBlob, LayerId, LayerRecord, OciDigest, Store};
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An image registered by an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedImage {
    pub names: Vec<String>,
    pub record: ImageRecord,
    pub config: cairn_ir::ImageConfig,
    pub platform: cairn_ir::Platform,
}

/// Top-level documents kept in memory rather than stored as blobs.
const DOCUMENTS: &[&str] = &["manifest.json", "index.json", "oci-layout", "repositories"];
/// Links followed when resolving a member (old `docker save` links duplicate layers).
const MAX_LINKS: usize = 16;

enum Member {
    Blob(OciDigest),
    Document(Vec<u8>),
    Link(String),
}

/// The members of an archive, or a directory layout read on demand.
struct Source<'a> {
    store: &'a Store,
    path: PathBuf,
    dir: bool,
    members: HashMap<String, Member>,
}

fn expected_digest(member: &str) -> Option<OciDigest> {
    member
        .strip_prefix("blobs/sha256/")
        .and_then(|hex| OciDigest::parse(&format!("{}{hex}", OciDigest::PREFIX)).ok())
}

fn wants_blob(member: &str) -> bool {
    member.starts_with("blobs/") || member.ends_with(".json") || member.ends_with("/layer.tar")
}

fn member_name(raw: &[u8]) -> Result<String> {
    let comps = normalize(raw)?;
    let joined = comps.join(&b'/');
    String::from_utf8(joined).map_err(|_| Error::entry(raw, "member name is not UTF-8"))
}

/// Copy `r` into a new blob, verifying it against `expected` when given.
fn store_blob(store: &Store, r: &mut dyn Read, expected: Option<&OciDigest>) -> Result<OciDigest> {
    let mut w = store.blob_writer()?;
    std::io::copy(r, &mut w).map_err(|e| Error::stream("copying a blob into the store", e))?;
    let (d, _) = match expected {
        Some(exp) => w.commit_expect(exp)?,
        None => w.commit()?,
    };
    Ok(d)
}

impl<'a> Source<'a> {
    fn open(store: &'a Store, path: &Path) -> Result<Source<'a>> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mut src = Source {
            store,
            path: path.to_path_buf(),
            dir: meta.is_dir(),
            members: HashMap::new(),
        };
        if src.dir {
            for name in DOCUMENTS {
                let p = path.join(name);
                match std::fs::read(&p) {
                    Ok(bytes) => {
                        src.members
                            .insert((*name).to_string(), Member::Document(bytes));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(p, e)),
                }
            }
        } else {
            src.read_tar()?;
        }
        Ok(src)
    }

    fn read_tar(&mut self) -> Result<()> {
        let path = self.path.clone();
        let stream = |e| Error::Archive {
            path: path.clone(),
            reason: format!("reading the tar: {e}"),
        };
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let plain = decompress(BufReader::with_capacity(256 * 1024, file)).map_err(stream)?;
        let mut archive = tar::Archive::new(plain);
        for entry in archive.entries().map_err(stream)? {
            let mut entry = entry.map_err(stream)?;
            let raw = entry.path_bytes().into_owned();
            let name = member_name(&raw)?;
            let ty = entry.header().entry_type();
            if ty.is_symlink() || ty.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::entry(&raw, "link without a target"))?
                    .into_owned();
                let target = if ty.is_symlink() && !target.starts_with(b"/") {
                    // Relative to the link's directory.
                    let mut base = crate::layer_tar::split_parent(name.as_bytes()).0.to_vec();
                    base.extend_from_slice(&target);
                    member_name(&resolve_dots(&base))?
                } else {
                    member_name(&target)?
                };
                self.members.insert(name, Member::Link(target));
            } else if ty.is_file() {
                if DOCUMENTS.contains(&name.as_str()) {
                    let mut bytes = Vec::new();
                    entry
                        .read_to_end(&mut bytes)
                        .map_err(|e| Error::entry_io(&raw, e))?;
                    self.members.insert(name, Member::Document(bytes));
                } else if wants_blob(&name) {
                    let expected = expected_digest(&name);
                    let d =
                        store_blob(self.store, &mut entry, expected.as_ref()).map_err(
                            |e| match e {
                                Error::Store(cairn_store::Error::DigestMismatch {
                                    expected,
                                    actual,
                                }) => Error::DigestMismatch {
                                    what: format!("archive member {name}"),
                                    expected: expected.to_string(),
                                    actual: actual.to_string(),
                                },
                                other => other,
                            },
                        )?;
                    self.members.insert(name, Member::Blob(d));
                }
            }
        }
        Ok(())
    }

    fn document(&self, name: &str) -> Option<&[u8]> {
        match self.members.get(name) {
            Some(Member::Document(b)) => Some(b),
            _ => None,
        }
    }

    fn bad(&self, reason: impl Into<String>) -> Error {
        Error::Archive {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The blob stored for a member path.
    fn blob(&mut self, member: &str) -> Result<OciDigest> {
        let mut name = member_name(member.as_bytes())?;
        for _ in 0..MAX_LINKS {
            match self.members.get(&name) {
                Some(Member::Blob(d)) => return Ok(d.clone()),
                Some(Member::Link(t)) => name = t.clone(),
                Some(Member::Document(_)) => {
                    return Err(self.bad(format!("{member} is not a blob")));
                }
                None if self.dir => {
                    let p = self.path.join(&name);
                    let mut file = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
                    let d = store_blob(self.store, &mut file, expected_digest(&name).as_ref())?;
                    self.members.insert(name, Member::Blob(d.clone()));
                    return Ok(d);
                }
                None => return Err(self.bad(format!("member {member} is missing"))),
            }
        }
        Err(self.bad(format!("too many links resolving {member}")))
    }

    fn blob_by_digest(&mut self, d: &str) -> Result<OciDigest> {
        let d = OciDigest::parse(d)?;
        self.blob(&format!("blobs/sha256/{}", d.hex()))
    }
}

/// Collapse `.` and `..` in a relative member path (`..` above the top is dropped, and then
/// rejected by `normalize` only if it remains; archive members cannot escape anything).
fn resolve_dots(p: &[u8]) -> Vec<u8> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join(&b'/')
}

/// One image to import, as found in the archive.
struct Found {
    names: Vec<String>,
    config: OciDigest,
    layers: Vec<OciDigest>,
    manifest: Option<OciDigest>,
    /// The multi-platform index the manifest was listed in.
    index: Option<OciDigest>,
}

fn normalize_name(name: &str) -> String {
    cairn_ir::Reference::parse(name)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// Import a `docker save` archive or an OCI image layout (tar, possibly compressed, or
/// directory): layers into the store under their content digests, config and manifest blobs,
/// and every name registered.
pub fn import_archive(store: &Store, path: &Path) -> Result<Vec<ImportedImage>> {
    let mut src = Source::open(store, path)?;
    let docker: Vec<DockerArchiveEntry> = match src.document("manifest.json") {
        Some(b) => from_json(&format!("{}: manifest.json", path.display()), b)?,
        None => Vec::new(),
    };
    let mut found = Vec::new();
    if let Some(index) = src.document("index.json") {
        let index: Index = from_json(&format!("{}: index.json", path.display()), index)?;
        let mut walk = IndexWalk::default();
        collect_index(&mut src, &index, &mut found, 0, &mut walk)?;
        if found.is_empty() && walk.skipped > 0 {
            return Err(src.bad(format!(
                "none of its {} image manifests is in the archive (or they are attestations)",
                walk.skipped
            )));
        }
        // Names Docker put only in manifest.json.
        for f in found.iter_mut().filter(|f| f.names.is_empty()) {
            for e in &docker {
                if src.blob(&e.config).ok().as_ref() == Some(&f.config) {
                    f.names.extend(e.repo_tags.iter().cloned());
                }
            }
        }
    } else if !docker.is_empty() {
        for e in &docker {
            let config = src.blob(&e.config)?;
            let layers = e
                .layers
                .iter()
                .map(|l| src.blob(l))
                .collect::<Result<Vec<_>>>()?;
            found.push(Found {
                names: e.repo_tags.clone(),
                config,
                layers,
                manifest: None,
                index: None,
            });
        }
    } else {
        return Err(src.bad("neither index.json nor manifest.json found"));
    }
    let mut layer_cache: HashMap<OciDigest, (LayerId, LayerBlob)> = HashMap::new();
    found
        .into_iter()
        .map(|f| import_one(store, &src.path, f, &mut layer_cache))
        .collect()
}

/// The most manifests and indexes one archive's index may list in all (a real multi-platform
/// archive lists a few dozen): an archive listing more is refused, not walked.
const MAX_INDEX_ENTRIES: usize = 4096;

/// What a walk of an archive's indexes has seen.
#[derive(Default)]
struct IndexWalk {
    /// Entries looked at, against [`MAX_INDEX_ENTRIES`].
    entries: usize,
    /// Nested indexes already expanded (an index listed twice is walked once).
    indexes: std::collections::HashSet<OciDigest>,
    /// Entries of a multi-platform index left out: attestations, unknown platforms, images
    /// whose manifest the archive does not hold.
    skipped: usize,
}

/// BuildKit's annotation marking an attestation manifest in an index (provenance, SBOM):
/// not an image.
const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

fn collect_index(
    src: &mut Source<'_>,
    index: &Index,
    out: &mut Vec<Found>,
    depth: usize,
    walk: &mut IndexWalk,
) -> Result<()> {
    if depth > 4 {
        return Err(src.bad("index nesting too deep"));
    }
    for desc in &index.manifests {
        walk.entries += 1;
        if walk.entries > MAX_INDEX_ENTRIES {
            return Err(src.bad(format!(
                "its indexes list more than {MAX_INDEX_ENTRIES} manifests"
            )));
        }
        // In a multi-platform index: attestations and unknown platforms are not images, and
        // an archive may hold some platforms only (`docker save --platform`).
        if depth > 0 {
            let attestation = desc
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(ANNOTATION_REFERENCE_TYPE));
            let unknown = desc
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" || p.architecture == "unknown");
            let held = OciDigest::parse(&desc.digest)
                .is_ok_and(|d| src.blob(&format!("blobs/sha256/{}", d.hex())).is_ok());
            if attestation || unknown || !held {
                walk.skipped += 1;
                continue;
            }
        }
        let digest = src.blob_by_digest(&desc.digest)?;
        let bytes = src.store.read_blob(&digest)?;
        if desc.media_type == MEDIA_TYPE_INDEX || desc.media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
        {
            if !walk.indexes.insert(digest.clone()) {
                continue;
            }
            let mut nested: Index = from_json(&format!("index {digest}"), &bytes)?;
            // A multi-platform index: every platform's image, each under the index's names
            // (the name then holds them all, as a registry's tag does).
            for m in &mut nested.manifests {
                if m.annotations.is_none() {
                    m.annotations = desc.annotations.clone();
                }
            }
            let first = out.len();
            collect_index(src, &nested, out, depth + 1, walk)?;
            for f in out.iter_mut().skip(first) {
                f.index.get_or_insert_with(|| digest.clone());
            }
            continue;
        }
        let manifest: Manifest = from_json(&format!("manifest {digest}"), &bytes)?;
        let config = src.blob_by_digest(&manifest.config.digest)?;
        let layers = manifest
            .layers
            .iter()
            .map(|l| src.blob_by_digest(&l.digest))
            .collect::<Result<Vec<_>>>()?;
        let names = desc
            .annotations
            .as_ref()
            .and_then(|a| {
                a.get(ANNOTATION_CONTAINERD_NAME)
                    .or_else(|| a.get(ANNOTATION_REF_NAME))
            })
            .cloned()
            .into_iter()
            .collect();
        // One manifest listed once per name: one image with all the names.
        if let Some(f) = out
            .iter_mut()
            .find(|f| f.manifest.as_ref() == Some(&digest))
        {
            f.names.extend(names);
            continue;
        }
        out.push(Found {
            names,
            config,
            layers,
            manifest: Some(digest),
            index: None,
        });
    }
    Ok(())
}

/// Unpacked size of a layer dir (regular file bytes).
fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0u64;
    walk(dir, &mut |e| {
        if e.meta.is_file() {
            total += e.meta.size();
        }
        Ok(())
    })?;
    Ok(total)
}

/// Unpack a stored layer blob into a new layer (or find it already there).
fn import_layer(
    store: &Store,
    blob: &OciDigest,
    expected_diff_id: &str,
) -> Result<(LayerId, LayerBlob)> {
    let path = store.blob_path(blob);
    let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut head = Vec::with_capacity(4);
    file.by_ref()
        .take(4)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(&path, e))?;
    let compression = sniff(&head);
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    let staging = store.staging()?;
    let diff_id = unpack_layer(file, staging.upper())?;
    if diff_id.as_str() != expected_diff_id {
        return Err(Error::DigestMismatch {
            what: format!("diff_id of layer blob {blob}"),
            expected: expected_diff_id.to_string(),
            actual: diff_id.to_string(),
        });
    }
    let id = content_digest(staging.upper())?;
    let lb = LayerBlob {
        compression,
        diff_id: diff_id.clone(),
        digest: blob.clone(),
        size,
    };
    let record = LayerRecord {
        size: dir_size(staging.upper())?,
        diff_id: Some(diff_id),
        blobs: vec![lb.clone()],
        created: None,
    };
    store.commit_layer(staging, &id, record)?;
    Ok((id, lb))
}

fn import_one(
    store: &Store,
    path: &Path,
    f: Found,
    cache: &mut HashMap<OciDigest, (LayerId, LayerBlob)>,
) -> Result<ImportedImage> {
    let bytes = store.read_blob(&f.config)?;
    let file: ImageConfigFile = from_json(&format!("image config {}", f.config), &bytes)?;
    if file.rootfs.diff_ids.len() != f.layers.len() {
        return Err(Error::Archive {
            path: path.to_path_buf(),
            reason: format!(
                "image config {} lists {} diff_ids but the manifest has {} layers",
                f.config,
                file.rootfs.diff_ids.len(),
                f.layers.len()
            ),
        });
    }
    let mut ids = Vec::new();
    let mut blobs = Vec::new();
    for (blob, diff_id) in f.layers.iter().zip(&file.rootfs.diff_ids) {
        let (id, lb) = match cache.get(blob) {
            Some(hit) => hit.clone(),
            None => {
                let hit = import_layer(store, blob, diff_id)?;
                cache.insert(blob.clone(), hit.clone());
                hit
            }
        };
        ids.push(id);
        blobs.push(lb);
    }
    let manifest = match f.manifest {
        Some(m) => m,
        None => {
            let m = manifest_for(&f.config, bytes.len() as u64, &blobs, &[], None);
            store.put_blob(&to_json("image manifest", &m)?)?
        }
    };
    let record = ImageRecord {
        manifest,
        config: f.config,
        layers: ids,
    };
    let names: Vec<String> = f.names.iter().map(|n| normalize_name(n)).collect();
    for name in &names {
        crate::add_platform_image(
            store,
            name,
            &record,
            f.index.as_ref(),
            crate::Joining::SameIndex,
        )?;
    }
    let (config, platform) = from_config_file(&file);
    Ok(ImportedImage {
        names,
        record,
        config,
        platform,
    })
}

/// The `PATH` Docker gives images that set none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Import a rootfs directory or tarball (gzip/zstd/plain) as a one-layer image named `name`
/// (`cairn import`, like `docker import`): default config with `PATH`, host platform, created
/// now.
pub fn import_rootfs(store: &Store, src: &Path, name: &str) -> Result<ImportedImage> {
    import_rootfs_for(store, src, name, cairn_ir::Platform::host())
}

/// [`import_rootfs`] labelled as an image for `platform` (`cairn import --platform`, as
/// `docker import --platform`): a root file system of another architecture's programs.
pub fn import_rootfs_for(
    store: &Store,
    src: &Path,
    name: &str,
    platform: cairn_ir::Platform,
) -> Result<ImportedImage> {
    let meta = std::fs::metadata(src).map_err(|e| Error::io(src, e))?;
    let staging = store.staging()?;
    if meta.is_dir() {
        flatten_layers(&[src.to_path_buf()], staging.upper())?;
    } else {
        let file = std::fs::File::open(src).map_err(|e| Error::io(src, e))?;
        unpack_layer(file, staging.upper())?;
    }
    let id = content_digest(staging.upper())?;
    let record = LayerRecord {
        size: dir_size(staging.upper())?,
        diff_id: None,
        blobs: Vec::new(),
        created: None,
    };
    store.commit_layer(staging, &id, record)?;
    let mut config = cairn_ir::ImageConfig::default();
    config.env_set("PATH", DEFAULT_PATH);
    config.history.push(cairn_ir::image::History {
        created: None,
        created_by: String::new(),
        comment: Some(format!("Imported from {}", src.display())),
        empty_layer: false,
    });
    let spec = ImageSpec {
        platform: platform.clone(),
        config: config.clone(),
        layers: vec![id.clone()],
        // The imported rootfs is the image's own layer, kept as it was made.
        base_layers: 1,
        // SOURCE_DATE_EPOCH makes an import reproducible (two machines importing the same
        // rootfs get the same image, hence the same cache keys); otherwise the time of the
        // import, as docker's.
        epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    let img = assemble_image(store, &spec, cairn_store::Compression::Gzip)?;
    let record = ImageRecord {
        manifest: img.manifest,
        config: img.config,
        layers: vec![id],
    };
    let name = normalize_name(name);
    // Another platform's import keeps the name's images of other platforms (`docker import
    // --platform` of each architecture makes one multi-platform name).
    crate::add_platform_image(store, &name, &record, None, crate::Joining::AnyOther)?;
    Ok(ImportedImage {
        names: vec![name],
        record,
        config,
        platform,
    })
}

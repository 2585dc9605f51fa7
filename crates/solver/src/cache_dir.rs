//! Cache export and import through a directory (`--cache-to type=local,dest=DIR`,
//! `--cache-from type=local,src=DIR`).
//!
//! # Format (version 1)
//!
//! `DIR` is an OCI image layout holding one artifact:
//!
//! * `oci-layout`, and `index.json` pointing at the manifest (annotation
//!   `org.opencontainers.image.ref.name = cairn-cache`);
//! * the manifest (`application/vnd.oci.image.manifest.v1+json`, `artifactType`
//!   `application/vnd.cairn.cache.v1`) whose config is the *cache index* and whose layers are the
//!   cached layers as gzip tar blobs;
//! * the cache index (`application/vnd.cairn.cache.index.v1+json`):
//!   `{"version": 1, "records": [{"key": "<hex>", "layers": ["<layer id>", ...]}],
//!   "layers": {"<layer id>": {"digest": "sha256:...", "size": N, "created": T}}}` — cache key
//!   to layer stack, and each layer id (cairn's content digest) to its blob and the time it
//!   was made (Unix seconds; optional), which an importer keeps as BuildKit keeps
//!   `buildkit/createdat`: the image built from imported layers has the history times — and
//!   so the image id — of the exporter's.
//!
//! Base-image layers (those of the build's `FROM` images) are named in record stacks but carry no
//! blob: every importer has them, because a build resolves (pulls) its base images before it
//! looks anything up, and the keys name the base by digest. Leaving them out keeps the first
//! export of a CI machine from compressing and uploading the whole toolchain image. A record
//! whose layer is neither local nor in the cache is a miss, never an error.
//!
//! Import reads only the index; a layer blob is read (verified, unpacked, checked against its
//! layer id) only when a cache hit needs that layer.

use crate::keys::Key;
use crate::solve::{RemoteCache, UsedRecord};
use cairn_store::{Compression, OciDigest, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const ARTIFACT_TYPE: &str = "application/vnd.cairn.cache.v1";
const INDEX_MEDIA_TYPE: &str = "application/vnd.cairn.cache.index.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const REF_NAME: &str = "cairn-cache";

#[derive(Debug, Serialize, Deserialize)]
struct CacheIndex {
    version: u32,
    records: Vec<IndexRecord>,
    layers: BTreeMap<String, LayerBlobRef>,
    /// `RUN --mount=type=cache` contents by cache id, as gzip tars (`mounts=true`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    mounts: BTreeMap<String, LayerBlobRef>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexRecord {
    key: String,
    layers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerBlobRef {
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<i64>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

fn blob_file(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs")
        .join("sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Write `bytes` into `dir/blobs/sha256/` under their digest; the digest.
fn put_blob(dir: &Path, bytes: &[u8]) -> Result<String, String> {
    let digest = OciDigest::of(bytes).to_string();
    let path = blob_file(dir, &digest);
    if !path.exists() {
        write_atomic(&path, bytes)?;
    }
    Ok(digest)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let parent = path
        .parent()
        .ok_or_else(|| io(path, "no parent directory"))?;
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| io(parent, e))?;
    tmp.write_all(bytes).map_err(|e| io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| io(path, e))?;
    tmp.persist(path).map_err(|e| io(path, e))?;
    Ok(())
}

/// A cache, assembled in the store: the index and manifest blobs, and the layer blobs they name.
pub struct CacheArtifact {
    pub manifest: OciDigest,
    pub manifest_bytes: Vec<u8>,
    pub index: OciDigest,
    pub index_bytes: Vec<u8>,
    pub layers: Vec<cairn_store::LayerBlob>,
    pub records: usize,
}

/// What one `--cache-to` exports.
pub struct ExportSet<'a> {
    /// The cache records (key → layer stack).
    pub records: &'a [UsedRecord],
    /// Layers of the build's base images: named in stacks, not exported.
    pub base: &'a HashSet<String>,
    /// SOURCE_DATE_EPOCH for the layer tars.
    pub epoch: Option<i64>,
    /// `RUN --mount=type=cache` directories by cache id (`mounts=true`).
    pub mounts: &'a [(String, PathBuf)],
}

/// Assemble the cache of `set`: each layer, except the base ones, as a gzip blob in the store
/// (written once), the index and the manifest as store blobs.
pub fn assemble(store: &Store, set: &ExportSet<'_>) -> Result<CacheArtifact, String> {
    let ExportSet {
        records,
        base,
        epoch,
        mounts,
    } = *set;
    let mut index = CacheIndex {
        version: 1,
        records: Vec::new(),
        layers: BTreeMap::new(),
        mounts: BTreeMap::new(),
    };
    // The records (each key once) and the layers to export, in first-use order.
    let mut seen = HashSet::new();
    let mut wanted: Vec<&String> = Vec::new();
    for r in records {
        if !seen.insert(r.key) {
            continue;
        }
        for id in &r.layers {
            if !base.contains(id) && !wanted.contains(&id) {
                wanted.push(id);
            }
        }
        index.records.push(IndexRecord {
            key: hex::encode(r.key),
            layers: r.layers.clone(),
        });
    }
    // Layers not compressed yet are compressed side by side (each written and synced once).
    let mut blobs = parallel_map(&wanted, |id| {
        cairn_oci::write_layer_blob(store, id, Compression::Gzip, epoch).map_err(|e| e.to_string())
    })?;
    for (id, blob) in wanted.iter().zip(&blobs) {
        index.layers.insert(
            (*id).clone(),
            LayerBlobRef {
                digest: blob.digest.to_string(),
                size: blob.size,
                created: store.layer_created(id),
            },
        );
    }
    for (id, dir) in mounts {
        let blob = mount_blob(store, dir)?;
        index.mounts.insert(
            id.clone(),
            LayerBlobRef {
                digest: blob.digest.to_string(),
                size: blob.size,
                created: None,
            },
        );
        blobs.push(blob);
    }
    let index_bytes = serde_json::to_vec(&index).map_err(|e| e.to_string())?;
    let index_digest = store.put_blob(&index_bytes).map_err(|e| e.to_string())?;
    let layers: Vec<serde_json::Value> = blobs
        .iter()
        .map(|l| serde_json::json!({"mediaType": LAYER_MEDIA_TYPE, "digest": l.digest.to_string(), "size": l.size}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": INDEX_MEDIA_TYPE, "digest": index_digest.to_string(), "size": index_bytes.len()},
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    let manifest_digest = store.put_blob(&manifest_bytes).map_err(|e| e.to_string())?;
    Ok(CacheArtifact {
        manifest: manifest_digest,
        manifest_bytes,
        index: index_digest,
        index_bytes,
        layers: blobs,
        records: index.records.len(),
    })
}

/// `f` over `items` on up to `available_parallelism` threads, results in order; the first
/// error wins.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Result<Vec<R>, String>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| "a layer compression thread panicked")??,
            );
        }
        Ok(out)
    })
}

/// A cache mount directory as a gzip tar blob in the store.
fn mount_blob(store: &Store, dir: &Path) -> Result<cairn_store::LayerBlob, String> {
    let writer = store.blob_writer().map_err(|e| e.to_string())?;
    let gz = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
    let gz = cairn_oci::write_layer_tar(dir, gz, None).map_err(|e| e.to_string())?;
    let writer = gz.finish().map_err(|e| io(dir, e))?;
    let (digest, size) = writer.commit().map_err(|e| e.to_string())?;
    Ok(cairn_store::LayerBlob {
        compression: Compression::Gzip,
        diff_id: digest.clone(),
        digest,
        size,
    })
}

/// Export `set` (records and the gzip blobs of their layers) into `dir`. Returns how many records
/// and layers were written.
pub fn export(store: &Store, dir: &Path, set: &ExportSet<'_>) -> Result<(usize, usize), String> {
    let art = assemble(store, set)?;
    for blob in &art.layers {
        let target = blob_file(dir, blob.digest.as_str());
        if !target.exists() {
            let parent = target
                .parent()
                .ok_or_else(|| io(&target, "no parent directory"))?;
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            let tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| io(parent, e))?;
            std::fs::copy(store.blob_path(&blob.digest), tmp.path()).map_err(|e| io(&target, e))?;
            tmp.persist(&target).map_err(|e| io(&target, e))?;
        }
    }
    put_blob(dir, &art.index_bytes)?;
    let manifest_digest = put_blob(dir, &art.manifest_bytes)?;
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "digest": manifest_digest,
            "size": art.manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": REF_NAME},
        }],
    });
    // The index is written last: a reader never sees a manifest whose blobs are missing.
    write_atomic(
        &dir.join("index.json"),
        &serde_json::to_vec_pretty(&top).map_err(|e| e.to_string())?,
    )?;
    Ok((art.records, art.layers.len()))
}

/// A layer the store lacks and the cache carries: its id and blob.
pub struct MissingLayer {
    pub id: String,
    pub digest: OciDigest,
    pub size: u64,
    /// When the exporter made it.
    pub created: Option<i64>,
}

/// The records and layer table of a cache index blob.
pub struct ParsedIndex {
    pub records: HashMap<Key, Vec<String>>,
    layers: HashMap<String, LayerBlobRef>,
    mounts: HashMap<String, LayerBlobRef>,
}

impl std::fmt::Debug for ParsedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ParsedIndex({} records, {} layers)",
            self.records.len(),
            self.layers.len()
        )
    }
}

impl ParsedIndex {
    /// The blob (digest, size) of an exported cache mount.
    pub fn mount_blob(&self, id: &str) -> Option<(OciDigest, u64)> {
        let b = self.mounts.get(id)?;
        Some((b.digest.parse().ok()?, b.size))
    }

    /// The blob (digest, size) of a layer.
    pub fn blob(&self, id: &str) -> Option<(OciDigest, u64)> {
        let b = self.layers.get(id)?;
        Some((b.digest.parse().ok()?, b.size))
    }

    /// The layers of `layers` the store lacks (each once), with their blobs; `None` when one
    /// of them is not in the cache either (a base-image layer this machine does not have).
    pub fn missing(
        &self,
        store: &Store,
        layers: &[String],
    ) -> Result<Option<Vec<MissingLayer>>, String> {
        let mut out = Vec::new();
        for id in layers {
            if out.iter().any(|m: &MissingLayer| m.id == *id)
                || store.layer(id).map_err(|e| e.to_string())?.is_some()
            {
                continue;
            }
            let Some((digest, size)) = self.blob(id) else {
                return Ok(None);
            };
            out.push(MissingLayer {
                id: id.clone(),
                digest,
                size,
                created: self.layers.get(id).and_then(|l| l.created),
            });
        }
        Ok(Some(out))
    }
}

/// Parse a cache index (the artifact's config blob).
pub fn parse_index(bytes: &[u8]) -> Result<ParsedIndex, String> {
    let index: CacheIndex =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid cache index: {e}"))?;
    if index.version != 1 {
        return Err(format!(
            "unsupported cache format version {}",
            index.version
        ));
    }
    let mut records = HashMap::new();
    for r in index.records {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&r.key, &mut key)
            .map_err(|e| format!("bad cache key {}: {e}", r.key))?;
        records.insert(key, r.layers);
    }
    Ok(ParsedIndex {
        records,
        layers: index.layers.into_iter().collect(),
        mounts: index.mounts.into_iter().collect(),
    })
}

/// Unpack layer `id` from its (verified) gzip blob already in the store, checking that it
/// unpacks to the content it is named after, and commit it (made at `created`, when the
/// exporter said).
pub fn install_layer(store: &Store, layer: &MissingLayer) -> Result<(), String> {
    let (id, digest, size) = (&layer.id, &layer.digest, layer.size);
    if store.layer(id).map_err(|e| e.to_string())?.is_some() {
        return Ok(());
    }
    let staging = store.staging().map_err(|e| e.to_string())?;
    let diff_id = cairn_oci::unpack_layer(
        store.open_blob(digest).map_err(|e| e.to_string())?,
        staging.upper(),
    )
    .map_err(|e| e.to_string())?;
    let actual = cairn_oci::content_digest(staging.upper()).map_err(|e| e.to_string())?;
    if actual != *id {
        return Err(format!(
            "cached layer {id} unpacks to different content ({actual})"
        ));
    }
    let record = cairn_store::LayerRecord {
        created: layer.created,
        ..Default::default()
    };
    store
        .commit_layer(staging, id, record)
        .map_err(|e| e.to_string())?;
    let record = cairn_store::LayerBlob {
        compression: Compression::Gzip,
        diff_id,
        digest: digest.clone(),
        size,
    };
    store.add_layer_blob(id, record).map_err(|e| e.to_string())
}

/// Unpack an exported cache mount (already in the store) into the empty directory `dest`.
pub fn install_mount(store: &Store, digest: &OciDigest, dest: &Path) -> Result<(), String> {
    let reader = store.open_blob(digest).map_err(|e| e.to_string())?;
    cairn_oci::unpack_layer(reader, dest).map_err(|e| e.to_string())?;
    Ok(())
}

/// A cache directory imported with `--cache-from type=local,src=DIR`.
#[derive(Debug)]
pub struct DirCache {
    dir: PathBuf,
    index: ParsedIndex,
}

impl DirCache {
    /// Read the cache index (not the layers).
    pub fn open(dir: &Path) -> Result<DirCache, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| io(p, e));
        let top: serde_json::Value = serde_json::from_slice(&read(&dir.join("index.json"))?)
            .map_err(|e| io(&dir.join("index.json"), e))?;
        let manifest_digest = top["manifests"]
            .as_array()
            .and_then(|m| m.iter().find(|d| d["artifactType"] == ARTIFACT_TYPE))
            .and_then(|d| d["digest"].as_str())
            .ok_or_else(|| format!("{}: no cairn cache in this directory", dir.display()))?
            .to_string();
        let manifest: serde_json::Value =
            serde_json::from_slice(&verified(dir, &manifest_digest)?).map_err(|e| e.to_string())?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or("cache manifest without config")?
            .to_string();
        let index = parse_index(&verified(dir, &config_digest)?)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(DirCache {
            dir: dir.to_path_buf(),
            index,
        })
    }
}

/// A small blob of the cache directory, checked against its digest.
fn verified(dir: &Path, digest: &str) -> Result<Vec<u8>, String> {
    let path = blob_file(dir, digest);
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
    let actual = OciDigest::of(&bytes).to_string();
    if actual != digest {
        return Err(format!(
            "{}: blob does not match its digest {digest} (got {actual})",
            path.display()
        ));
    }
    Ok(bytes)
}

impl DirCache {
    /// Copy blob `digest` from the directory into the store (unless it is there), verifying it.
    fn copy_blob(&self, store: &Store, digest: &OciDigest) -> Result<(), String> {
        if store.has_blob(digest) {
            return Ok(());
        }
        let src = blob_file(&self.dir, digest.as_str());
        let mut reader = std::fs::File::open(&src).map_err(|e| io(&src, e))?;
        let mut writer = store.blob_writer().map_err(|e| e.to_string())?;
        std::io::copy(&mut reader, &mut writer).map_err(|e| io(&src, e))?;
        writer
            .commit_expect(digest)
            .map_err(|e| format!("{}: {e}", src.display()))?;
        Ok(())
    }
}

impl RemoteCache for DirCache {
    fn lookup(&self, key: &Key) -> Option<Vec<String>> {
        self.index.records.get(key).cloned()
    }

    fn fetch(&self, store: &Store, layers: &[String]) -> Result<bool, String> {
        let Some(missing) = self.index.missing(store, layers)? else {
            return Ok(false);
        };
        for layer in missing {
            self.copy_blob(store, &layer.digest)?;
            install_layer(store, &layer)?;
        }
        Ok(true)
    }

    fn fetch_mount(&self, store: &Store, id: &str, dest: &Path) -> Result<bool, String> {
        let Some((digest, _)) = self.index.mount_blob(id) else {
            return Ok(false);
        };
        self.copy_blob(store, &digest)?;
        install_mount(store, &digest, dest)?;
        Ok(true)
    }
}

//! Making a cache artifact from a build's records, and installing what an imported one holds.

use crate::error::{Error, Result, io_at};
use crate::format::{
    ARTIFACT_TYPE, CacheIndex, INDEX_MEDIA_TYPE, IndexRecord, LayerBlobRef, MissingLayer,
};
use cairn_oci::model::{Descriptor, MEDIA_TYPE_MANIFEST, Manifest};
use cairn_solver::UsedRecord;
use cairn_store::{Compression, LayerBlob, LayerId, OciDigest, Store};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// A cache, assembled in the store: the index and manifest blobs, and the layer blobs they name.
pub struct CacheArtifact {
    pub manifest: OciDigest,
    pub manifest_bytes: Vec<u8>,
    pub index: OciDigest,
    pub index_bytes: Vec<u8>,
    pub layers: Vec<LayerBlob>,
    pub records: usize,
}

impl CacheArtifact {
    /// The artifact as an image-shaped value the registry client pushes.
    pub fn into_image(self) -> cairn_oci::AssembledImage {
        cairn_oci::AssembledImage {
            manifest: self.manifest,
            manifest_bytes: self.manifest_bytes,
            config: self.index,
            config_bytes: self.index_bytes,
            layers: self.layers,
        }
    }
}

/// What one `--cache-to` exports.
pub struct ExportSet<'a> {
    /// The cache records (key → layer stack).
    pub records: &'a [UsedRecord],
    /// Layers of the build's base images: named in stacks, not exported.
    pub base: &'a HashSet<LayerId>,
    /// SOURCE_DATE_EPOCH for the layer tars.
    pub epoch: Option<i64>,
    /// `RUN --mount=type=cache` directories by cache id (`mounts=true`).
    pub mounts: &'a [(String, PathBuf)],
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("cannot encode the cache: {e}")))
}

/// Assemble the cache of `set`: each layer, except the base ones, as a gzip blob in the store
/// (written once), the index and the manifest as store blobs.
pub fn assemble(store: &Store, set: &ExportSet<'_>) -> Result<CacheArtifact> {
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
    let mut wanted: Vec<LayerId> = Vec::new();
    let mut is_wanted: HashSet<LayerId> = HashSet::new();
    for r in records {
        if !seen.insert(r.key) {
            continue;
        }
        let layers = r.layers.to_vec();
        for id in &layers {
            if !base.contains(id) && !is_wanted.contains(id) {
                is_wanted.insert(id.clone());
                wanted.push(id.clone());
            }
        }
        index.records.push(IndexRecord {
            key: r.key.to_hex(),
            layers,
        });
    }
    // Layers not compressed yet are compressed side by side (each written and synced once).
    let mut blobs = wanted
        .par_iter()
        .map(|id| cairn_oci::write_layer_blob(store, id, Compression::Gzip, epoch))
        .collect::<Result<Vec<LayerBlob>, cairn_oci::Error>>()?;
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
    let index_bytes = json(&index)?;
    let index_digest = store.put_blob(&index_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config: Descriptor {
            media_type: INDEX_MEDIA_TYPE.into(),
            digest: index_digest.to_string(),
            size: index_bytes.len() as u64,
            artifact_type: None,
            annotations: None,
            platform: None,
        },
        layers: blobs
            .iter()
            .map(|l| Descriptor {
                media_type: cairn_oci::layer_media_type(l.compression).into(),
                digest: l.digest.to_string(),
                size: l.size,
                artifact_type: None,
                annotations: None,
                platform: None,
            })
            .collect(),
        annotations: None,
    };
    let manifest_bytes = json(&manifest)?;
    let manifest_digest = store.put_blob(&manifest_bytes)?;
    Ok(CacheArtifact {
        manifest: manifest_digest,
        manifest_bytes,
        index: index_digest,
        index_bytes,
        layers: blobs,
        records: index.records.len(),
    })
}

/// A cache mount directory as a gzip tar blob in the store.
fn mount_blob(store: &Store, dir: &Path) -> Result<LayerBlob> {
    let writer = store.blob_writer()?;
    let gz = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
    let gz = cairn_oci::write_layer_tar(dir, gz, None)?;
    let writer = gz.finish().map_err(io_at(dir))?;
    let (digest, size) = writer.commit()?;
    Ok(LayerBlob {
        compression: Compression::Gzip,
        diff_id: digest.clone(),
        digest,
        size,
    })
}

/// Unpack layer `id` from its (verified) gzip blob already in the store, checking that it
/// unpacks to the content it is named after, and commit it (made at `created`, when the
/// exporter said).
pub fn install_layer(store: &Store, layer: &MissingLayer) -> Result<()> {
    let (id, digest, size) = (&layer.id, &layer.digest, layer.size);
    if store.layer(id)?.is_some() {
        return Ok(());
    }
    let staging = store.staging()?;
    let diff_id = cairn_oci::unpack_layer(store.open_blob(digest)?, staging.upper())?;
    let actual = cairn_oci::content_digest(staging.upper())?;
    if actual != *id {
        return Err(Error::WrongContent {
            id: id.clone(),
            actual,
        });
    }
    let record = cairn_store::LayerRecord {
        created: layer.created,
        ..Default::default()
    };
    store.commit_layer(staging, id, record)?;
    let record = LayerBlob {
        compression: Compression::Gzip,
        diff_id,
        digest: digest.clone(),
        size,
    };
    Ok(store.add_layer_blob(id, record)?)
}

/// Unpack an exported cache mount (already in the store) into the empty directory `dest`.
pub fn install_mount(store: &Store, digest: &OciDigest, dest: &Path) -> Result<()> {
    let reader = store.open_blob(digest)?;
    cairn_oci::unpack_layer(reader, dest)?;
    Ok(())
}

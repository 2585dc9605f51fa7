//! Turning a build result (layer ids + image config) into a stored OCI image: layer blobs,
//! the config JSON and the manifest JSON, all content-addressed in the store.
//!
//! The JSON is compact serde output of structs with a fixed field order and sorted maps, so
//! the same `ImageSpec` always yields the same config and manifest digests. `created` is
//! whatever the caller puts in `ImageSpec::created` (SOURCE_DATE_EPOCH or the current time);
//! `None` leaves it out, which keeps the digest independent of the clock.

use crate::convert::{from_config_file, to_config_file};
use crate::error::{Error, Result};
use crate::layer_tar::{layer_media_type, write_layer_blob};
use crate::model::{Descriptor, ImageConfigFile, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST, Manifest};
use crate::time::rfc3339;
use cairn_store::{Compression, ImageRecord, LayerBlob, LayerId, OciDigest, Store};

/// What to assemble: a result's layers (bottom to top) and its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub platform: cairn_ir::Platform,
    pub config: cairn_ir::ImageConfig,
    pub layers: Vec<LayerId>,
    /// Unix seconds for `created`, also the clamp for layer mtimes (SOURCE_DATE_EPOCH).
    pub created: Option<i64>,
    /// How many of `layers` (from the bottom) are the base image's, exported as they came.
    /// Under SOURCE_DATE_EPOCH the others — the layers the build made — get every mtime at
    /// the epoch ([`crate::Stamp::Fixed`]), so the image depends on content and epoch only.
    pub base_layers: usize,
}

/// A stored image, ready to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledImage {
    pub manifest: OciDigest,
    pub manifest_bytes: Vec<u8>,
    pub config: OciDigest,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<LayerBlob>,
}

pub(crate) fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

/// Build the manifest JSON for a config blob and layer blobs.
pub(crate) fn manifest_for(config: &OciDigest, config_size: u64, layers: &[LayerBlob]) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        config: Descriptor {
            media_type: MEDIA_TYPE_CONFIG.into(),
            digest: config.to_string(),
            size: config_size,
            annotations: None,
            platform: None,
        },
        layers: layers
            .iter()
            .map(|b| Descriptor {
                media_type: layer_media_type(b.compression).into(),
                digest: b.digest.to_string(),
                size: b.size,
                annotations: None,
                platform: None,
            })
            .collect(),
        annotations: None,
    }
}

/// Build config + manifest for a result and store them (and any missing layer blobs).
pub fn assemble_image(
    store: &Store,
    img: &ImageSpec,
    compression: Compression,
) -> Result<AssembledImage> {
    let layers = img
        .layers
        .iter()
        .enumerate()
        .map(|(i, id)| match img.created {
            Some(epoch) if i >= img.base_layers => {
                crate::layer_tar::write_built_layer_blob(store, id, compression, epoch)
            }
            _ => write_layer_blob(store, id, compression, img.created),
        })
        .collect::<Result<Vec<_>>>()?;
    finish_image(store, img, layers)
}

/// Like [`assemble_image`] for an image that only stays in the store (`cairn build -t`): the
/// manifest describes uncompressed layers whose tars are hashed but not written
/// (see [`crate::layer_uncompressed_descriptor`]). The config — and so the image id — is the
/// same as with [`assemble_image`].
pub fn assemble_image_in_store(store: &Store, img: &ImageSpec) -> Result<AssembledImage> {
    let layers = img
        .layers
        .iter()
        .enumerate()
        .map(|(i, id)| match img.created {
            Some(epoch) if i >= img.base_layers => {
                crate::layer_tar::built_layer_uncompressed_descriptor(store, id, epoch)
            }
            _ => crate::layer_tar::layer_uncompressed_descriptor(store, id, img.created),
        })
        .collect::<Result<Vec<_>>>()?;
    finish_image(store, img, layers)
}

fn finish_image(store: &Store, img: &ImageSpec, layers: Vec<LayerBlob>) -> Result<AssembledImage> {
    let diff_ids = layers.iter().map(|b| b.diff_id.to_string()).collect();
    let file = to_config_file(
        &img.config,
        &img.platform,
        img.created.map(rfc3339),
        diff_ids,
    );
    let config_bytes = to_json("image config", &file)?;
    let config = store.put_blob(&config_bytes)?;
    let manifest = manifest_for(&config, config_bytes.len() as u64, &layers);
    let manifest_bytes = to_json("image manifest", &manifest)?;
    let manifest = store.put_blob(&manifest_bytes)?;
    Ok(AssembledImage {
        manifest,
        manifest_bytes,
        config,
        config_bytes,
        layers,
    })
}

/// Read a stored image's config (for the frontend's ImageResolver).
pub fn image_config(
    store: &Store,
    rec: &ImageRecord,
) -> Result<(cairn_ir::ImageConfig, cairn_ir::Platform)> {
    let bytes = store.read_blob(&rec.config)?;
    let file: ImageConfigFile = from_json(&format!("image config {}", rec.config), &bytes)?;
    Ok(from_config_file(&file))
}

/// Re-assemble a stored image for export or push: the *same* config blob (so the image id does
/// not change), with each layer as a `compression` blob (written once, then reused). The layer
/// tars are made with the config's `created` as the time clamp, exactly as when the image was
/// built, so their diff ids match the config's.
pub fn assemble_from_record(
    store: &Store,
    rec: &ImageRecord,
    compression: Compression,
) -> Result<AssembledImage> {
    let config_bytes = store.read_blob(&rec.config)?;
    let file: ImageConfigFile = from_json(&format!("image config {}", rec.config), &config_bytes)?;
    let epoch = file.created.as_deref().and_then(crate::time::parse_rfc3339);
    let layers = rec
        .layers
        .iter()
        .map(|id| write_layer_blob(store, id, compression, epoch))
        .collect::<Result<Vec<_>>>()?;
    let expected: Vec<String> = file.rootfs.diff_ids.clone();
    let actual: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    if expected != actual {
        return Err(Error::Invalid(format!(
            "image {}: its layers no longer tar to the diff ids in its config",
            rec.config
        )));
    }
    let manifest = manifest_for(&rec.config, config_bytes.len() as u64, &layers);
    let manifest_bytes = to_json("image manifest", &manifest)?;
    let manifest = store.put_blob(&manifest_bytes)?;
    Ok(AssembledImage {
        manifest,
        manifest_bytes,
        config: rec.config.clone(),
        config_bytes,
        layers,
    })
}

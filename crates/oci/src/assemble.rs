//! Turning a build result (layer ids + image config) into a stored OCI image: layer blobs,
//! the config JSON and the manifest JSON, all content-addressed in the store.
//!
//! The JSON is compact serde output of structs with a fixed field order and sorted maps, so
//! the same `ImageSpec` (and store) always yields the same config and manifest digests.
//!
//! Times, as BuildKit's image exporter sets them: a base image's history entries keep their
//! `created`; under SOURCE_DATE_EPOCH every entry the build added gets the epoch, and so does
//! the image. Without it, an entry that made a layer gets the time the store made that layer
//! (a cached step keeps its time, so a fully cached rebuild gives the same image id), an entry
//! without one the time of the first new layer or of the entry before it, and the image the
//! time of its last entry.
//!
//! Layers the build made under SOURCE_DATE_EPOCH are tarred with every mtime at the epoch;
//! their manifest descriptors say so with BuildKit's `buildkit/rewritten-timestamp`
//! annotation, and the manifest carries the epoch as `org.opencontainers.image.created`: that
//! is how a stored image is re-tarred identically for export.

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
    /// SOURCE_DATE_EPOCH (Unix seconds): the image's and new history entries' `created`, and
    /// the clamp for layer mtimes.
    pub epoch: Option<i64>,
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

/// BuildKit's annotation on the descriptor of a layer whose mtimes were set to the epoch.
pub const REWRITTEN_TIMESTAMP: &str = "buildkit/rewritten-timestamp";

/// The manifest annotation (OCI's) holding SOURCE_DATE_EPOCH, when the image was built under
/// one: the clamp its layers were tarred with.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// Build the manifest JSON for a config blob and layer blobs; `rewritten[i]` is the epoch
/// layer `i`'s mtimes were set to, if they were; `epoch` the build's SOURCE_DATE_EPOCH.
pub(crate) fn manifest_for(
    config: &OciDigest,
    config_size: u64,
    layers: &[LayerBlob],
    rewritten: &[Option<i64>],
    epoch: Option<i64>,
) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor {
            media_type: MEDIA_TYPE_CONFIG.into(),
            digest: config.to_string(),
            size: config_size,
            artifact_type: None,
            annotations: None,
            platform: None,
        },
        layers: layers
            .iter()
            .enumerate()
            .map(|(i, b)| Descriptor {
                media_type: layer_media_type(b.compression).into(),
                digest: b.digest.to_string(),
                size: b.size,
                artifact_type: None,
                annotations: rewritten.get(i).copied().flatten().map(|epoch| {
                    std::collections::BTreeMap::from([(
                        REWRITTEN_TIMESTAMP.to_string(),
                        epoch.to_string(),
                    )])
                }),
                platform: None,
            })
            .collect(),
        annotations: epoch.map(|e| {
            std::collections::BTreeMap::from([(CREATED_ANNOTATION.to_string(), rfc3339(e))])
        }),
    }
}

/// Where an image's layers go, which decides how each is described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerTarget {
    /// An image that only stays in the store (`cairn build -t`): uncompressed descriptors,
    /// hashed, not written (see [`crate::layer_uncompressed_descriptor`]).
    Store,
    /// An export or push: real blobs of this compression, written to the store.
    Blobs(Compression),
}

/// The descriptor of layer `id`, the `index`-th (from the bottom) of `img`, for `target`: what
/// [`assemble_image`] and [`assemble_image_in_store`] put in the manifest for it.
pub fn describe_layer(
    store: &Store,
    img: &ImageSpec,
    index: usize,
    id: &LayerId,
    target: LayerTarget,
) -> Result<LayerBlob> {
    describe_layer_as(store, id, img.epoch, index >= img.base_layers, target)
}

/// [`describe_layer`] for a layer known to be a `built` one (made by the build, above the base
/// image's) or not: a layer can be described before the image it will be part of is known.
pub fn describe_layer_as(
    store: &Store,
    id: &LayerId,
    epoch: Option<i64>,
    built: bool,
    target: LayerTarget,
) -> Result<LayerBlob> {
    match (epoch.filter(|_| built), target) {
        (Some(epoch), LayerTarget::Blobs(c)) => {
            crate::layer_tar::write_built_layer_blob(store, id, c, epoch)
        }
        (None, LayerTarget::Blobs(c)) => write_layer_blob(store, id, c, epoch),
        (Some(epoch), LayerTarget::Store) => {
            crate::layer_tar::built_layer_uncompressed_descriptor(store, id, epoch)
        }
        (None, LayerTarget::Store) => {
            crate::layer_tar::layer_uncompressed_descriptor(store, id, epoch)
        }
    }
}

/// Build config + manifest for a result and store them (and any missing layer blobs).
pub fn assemble_image(
    store: &Store,
    img: &ImageSpec,
    compression: Compression,
) -> Result<AssembledImage> {
    assemble_image_with(store, img, &|i, id| {
        describe_layer(store, img, i, id, LayerTarget::Blobs(compression))
    })
}

/// Like [`assemble_image`] for an image that only stays in the store (`cairn build -t`): the
/// manifest describes uncompressed layers whose tars are hashed but not written
/// (see [`crate::layer_uncompressed_descriptor`]). The config — and so the image id — is the
/// same as with [`assemble_image`].
pub fn assemble_image_in_store(store: &Store, img: &ImageSpec) -> Result<AssembledImage> {
    assemble_image_with(store, img, &|i, id| {
        describe_layer(store, img, i, id, LayerTarget::Store)
    })
}

/// Assemble `img` with each layer's descriptor from `describe` (given its index and id): a
/// caller that described some layers ahead (while the build still ran) passes those.
pub fn assemble_image_with(
    store: &Store,
    img: &ImageSpec,
    describe: &dyn Fn(usize, &LayerId) -> Result<LayerBlob>,
) -> Result<AssembledImage> {
    let layers = img
        .layers
        .iter()
        .enumerate()
        .map(|(i, id)| describe(i, id))
        .collect::<Result<Vec<_>>>()?;
    finish_image(store, img, layers)
}

fn finish_image(store: &Store, img: &ImageSpec, layers: Vec<LayerBlob>) -> Result<AssembledImage> {
    let diff_ids = layers.iter().map(|b| b.diff_id.to_string()).collect();
    let mut config = img.config.clone();
    let created = stamp_history(store, &img.layers, img.epoch, &mut config.history);
    let file = to_config_file(&config, &img.platform, created, diff_ids);
    let config_bytes = to_json("image config", &file)?;
    let config = store.put_blob(&config_bytes)?;
    let rewritten: Vec<Option<i64>> = (0..layers.len())
        .map(|i| img.epoch.filter(|_| i >= img.base_layers))
        .collect();
    let manifest = manifest_for(
        &config,
        config_bytes.len() as u64,
        &layers,
        &rewritten,
        img.epoch,
    );
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

/// Give every history entry without a `created` one (see the module documentation); the
/// image's `created`.
fn stamp_history(
    store: &Store,
    layers: &[LayerId],
    epoch: Option<i64>,
    history: &mut [cairn_ir::image::History],
) -> Option<String> {
    if let Some(epoch) = epoch {
        let t = rfc3339(epoch);
        for h in history.iter_mut().filter(|h| h.created.is_none()) {
            h.created = Some(t.clone());
        }
        return Some(t);
    }
    // Entries that made a layer: that layer's time. Layers and such entries pair up in order.
    let mut layer = layers.iter();
    for h in history.iter_mut().filter(|h| !h.empty_layer) {
        let id = layer.next();
        if h.created.is_none() {
            h.created = id.and_then(|id| store.layer_created(id)).map(rfc3339);
        }
    }
    // The others: the first new layer's time, then the time of the entry before.
    let first_new = history
        .iter()
        .skip_while(|h| h.created.is_some())
        .find_map(|h| h.created.clone())
        .or_else(|| history.iter().rev().find_map(|h| h.created.clone()));
    let mut fill = first_new;
    let mut seen_gap = false;
    for h in history.iter_mut() {
        match &h.created {
            Some(t) if seen_gap => fill = Some(t.clone()),
            Some(_) => {}
            None => {
                seen_gap = true;
                h.created = fill.clone();
            }
        }
    }
    history
        .iter()
        .rev()
        .find_map(|h| h.created.clone())
        .or_else(|| Some(rfc3339(crate::time::now_unix())))
}

/// Read a stored image's config (for the frontend's ImageResolver).
pub fn image_config(
    store: &Store,
    rec: &ImageRecord,
) -> Result<(cairn_ir::ImageConfig, cairn_ir::Platform)> {
    config_blob(store, &rec.config)
}

/// Read the config blob `digest` (an image ID) from the store.
pub fn config_blob(
    store: &Store,
    digest: &OciDigest,
) -> Result<(cairn_ir::ImageConfig, cairn_ir::Platform)> {
    let bytes = store.read_blob(digest)?;
    let file: ImageConfigFile = from_json(&format!("image config {digest}"), &bytes)?;
    Ok(from_config_file(&file))
}

/// Re-assemble a stored image for export or push: the *same* config blob (so the image id does
/// not change), with each layer as a `compression` blob (written once, then reused). The layer
/// tars are made as when the image was built — a layer its stored manifest says was
/// rewritten to an epoch with every mtime at it, the others clamped to that epoch — so their
/// diff ids match the config's.
pub fn assemble_from_record(
    store: &Store,
    rec: &ImageRecord,
    compression: Compression,
) -> Result<AssembledImage> {
    let config_bytes = store.read_blob(&rec.config)?;
    let file: ImageConfigFile = from_json(&format!("image config {}", rec.config), &config_bytes)?;
    let stored: Manifest = from_json(
        &format!("image manifest {}", rec.manifest),
        &store.read_blob(&rec.manifest)?,
    )?;
    let rewritten: Vec<Option<i64>> = (0..rec.layers.len())
        .map(|i| {
            stored
                .layers
                .get(i)
                .and_then(|d| d.annotations.as_ref())
                .and_then(|a| a.get(REWRITTEN_TIMESTAMP))
                .and_then(|v| v.parse().ok())
        })
        .collect();
    let epoch = stored
        .annotations
        .as_ref()
        .and_then(|a| a.get(CREATED_ANNOTATION))
        .and_then(|v| crate::time::parse_rfc3339(v))
        .or_else(|| rewritten.iter().flatten().copied().max());
    let layers = rec
        .layers
        .iter()
        .zip(&rewritten)
        .map(|(id, r)| {
            // A layer with a blob (pulled, loaded, exported before) is that blob, transcoded
            // if need be; only one without is tarred again, as its build tarred it.
            let has_blob = store
                .layer(id)?
                .is_some_and(|l| l.blobs.iter().any(|b| store.has_blob(&b.digest)));
            match r {
                Some(at) if !has_blob => {
                    crate::layer_tar::write_built_layer_blob(store, id, compression, *at)
                }
                _ => write_layer_blob(store, id, compression, epoch),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let expected: Vec<String> = file.rootfs.diff_ids.clone();
    let actual: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    if expected != actual {
        return Err(Error::Invalid(format!(
            "image {}: its layers no longer tar to the diff ids in its config",
            rec.config
        )));
    }
    let manifest = manifest_for(
        &rec.config,
        config_bytes.len() as u64,
        &layers,
        &rewritten,
        epoch,
    );
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

//! The cache format (version 1): an OCI artifact that maps cache keys to layer stacks.
//!
//! * the manifest (`application/vnd.oci.image.manifest.v1+json`, `artifactType`
//!   `application/vnd.cairn.cache.v1`) whose config is the *cache index* and whose layers are the
//!   cached layers as gzip tar blobs;
//! * the cache index (`application/vnd.cairn.cache.index.v1+json`):
//!   `{"version": 1, "records": [{"key": "<hex>", "layers": ["<layer id>", ...]}],
//!   "layers": {"<layer id>": {"digest": "sha256:...", "size": N, "created": T}}}` — cache key
//!   to layer stack, and each layer id (cairn's content digest) to its blob and the time it
//!   was made (Unix seconds; optional), which an importer keeps as BuildKit keeps
//!   `buildkit/createdat`: the image built from imported layers has the history times — and
//!   so the image id — of the exporter's; `"mounts"` (optional) holds `RUN --mount=type=cache`
//!   contents by id.
//!
//! Base-image layers (those of the build's `FROM` images) are named in record stacks but carry no
//! blob: every importer has them, because a build resolves (pulls) its base images before it
//! looks anything up, and the keys name the base by digest. Leaving them out keeps the first
//! export of a CI machine from compressing and uploading the whole toolchain image. A record
//! whose layer is neither local nor in the cache is a miss, never an error.

use crate::error::{Error, Result};
use cairn_solver::keys::Key;
use cairn_store::{LayerId, OciDigest, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.cairn.cache.v1";
/// The media type of the cache index (the artifact's config).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.cairn.cache.index.v1+json";
/// The name of the artifact in an OCI layout directory.
pub const REF_NAME: &str = "cairn-cache";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CacheIndex {
    pub version: u32,
    pub records: Vec<IndexRecord>,
    pub layers: BTreeMap<LayerId, LayerBlobRef>,
    /// `RUN --mount=type=cache` contents by cache id, as gzip tars (`mounts=true`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mounts: BTreeMap<String, LayerBlobRef>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IndexRecord {
    pub key: String,
    pub layers: Vec<LayerId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LayerBlobRef {
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
}

/// A layer the store lacks and the cache carries: its id and blob.
pub struct MissingLayer {
    pub id: LayerId,
    pub digest: OciDigest,
    pub size: u64,
    /// When the exporter made it.
    pub created: Option<i64>,
}

/// The records and layer table of a cache index blob.
pub struct ParsedIndex {
    pub records: HashMap<Key, Vec<LayerId>>,
    layers: HashMap<LayerId, LayerBlobRef>,
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
    pub fn missing(&self, store: &Store, layers: &[LayerId]) -> Result<Option<Vec<MissingLayer>>> {
        let mut out = Vec::new();
        for id in layers {
            if out.iter().any(|m: &MissingLayer| m.id == *id) || store.layer(id)?.is_some() {
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
pub fn parse_index(bytes: &[u8]) -> Result<ParsedIndex> {
    let index: CacheIndex = serde_json::from_slice(bytes)
        .map_err(|e| Error::Invalid(format!("invalid cache index: {e}")))?;
    if index.version != 1 {
        return Err(Error::Invalid(format!(
            "unsupported cache format version {}",
            index.version
        )));
    }
    let mut records = HashMap::new();
    for r in index.records {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&r.key, &mut key)
            .map_err(|e| Error::Invalid(format!("bad cache key {}: {e}", r.key)))?;
        records.insert(cairn_store::CacheKey(key), r.layers);
    }
    Ok(ParsedIndex {
        records,
        layers: index.layers.into_iter().collect(),
        mounts: index.mounts.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_versions_and_keys_are_checked() {
        let key = format!("{:064x}", 1);
        let layer = "a".repeat(64);
        let ok = format!(
            r#"{{"version":1,"records":[{{"key":"{key}","layers":["{layer}"]}}],"layers":{{}}}}"#
        );
        let parsed = parse_index(ok.as_bytes()).expect("a valid index");
        assert_eq!(parsed.records.len(), 1);
        // A layer id that is not one (a path, say) makes the whole index invalid: it never
        // reaches the store as a directory name.
        let bad_layer = ok.replace(&layer, "../../etc");
        assert!(matches!(
            parse_index(bad_layer.as_bytes()),
            Err(Error::Invalid(_))
        ));
        let v2 = br#"{"version":2,"records":[],"layers":{}}"#;
        assert!(
            matches!(parse_index(v2), Err(Error::Invalid(m)) if m.contains("version 2")),
            "a newer format is refused"
        );
        let bad_key = br#"{"version":1,"records":[{"key":"zz","layers":[]}],"layers":{}}"#;
        assert!(matches!(parse_index(bad_key), Err(Error::Invalid(_))));
        assert!(matches!(parse_index(b"not json"), Err(Error::Invalid(_))));
    }
}

//! A cache kept in a directory (`--cache-to type=local,dest=DIR`, `--cache-from
//! type=local,src=DIR`): an OCI image layout holding the artifact (`oci-layout`, `index.json`
//! naming it `cairn-cache`, the blobs). Written with the store's atomic writes; `index.json` last,
//! so a reader never sees a manifest whose blobs are missing.

use crate::assemble::{ExportSet, assemble, install_layer, install_mount};
use crate::error::{Error, Result, io_at};
use crate::format::{ARTIFACT_TYPE, ParsedIndex, REF_NAME, parse_index};
use cairn_oci::model::{
    ANNOTATION_REF_NAME, Descriptor, Index, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, Manifest,
    OciLayout,
};
use cairn_solver::RemoteCache;
use cairn_solver::keys::Key;
use cairn_store::{OciDigest, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn blob_file(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs")
        .join("sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Invalid(format!("cannot encode the cache: {e}")))
}

/// Export `set` (records and the gzip blobs of their layers) into `dir`. Returns how many records
/// and layers were written.
pub fn export(store: &Store, dir: &Path, set: &ExportSet<'_>) -> Result<(usize, usize)> {
    let art = assemble(store, set)?;
    for blob in &art.layers {
        let target = blob_file(dir, blob.digest.as_str());
        if !target.exists() {
            cairn_store::copy_file_atomically(&store.blob_path(&blob.digest), &target, true)?;
        }
    }
    cairn_store::write_file_atomically(
        &blob_file(dir, art.index.as_str()),
        &art.index_bytes,
        true,
    )?;
    cairn_store::write_file_atomically(
        &blob_file(dir, art.manifest.as_str()),
        &art.manifest_bytes,
        true,
    )?;
    let layout = OciLayout {
        image_layout_version: "1.0.0".into(),
    };
    cairn_store::write_file_atomically(&dir.join("oci-layout"), &json(&layout)?, false)?;
    let top = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests: vec![Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest: art.manifest.to_string(),
            size: art.manifest_bytes.len() as u64,
            artifact_type: Some(ARTIFACT_TYPE.into()),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_REF_NAME.to_string(),
                REF_NAME.to_string(),
            )])),
            platform: None,
        }],
        annotations: None,
    };
    // The index is written last: a reader never sees a manifest whose blobs are missing.
    cairn_store::write_file_atomically(&dir.join("index.json"), &json(&top)?, false)?;
    Ok((art.records, art.layers.len()))
}

/// A cache directory imported with `--cache-from type=local,src=DIR`.
#[derive(Debug)]
pub struct DirCache {
    dir: PathBuf,
    index: ParsedIndex,
}

impl DirCache {
    /// Read the cache index (not the layers).
    pub fn open(dir: &Path) -> Result<DirCache> {
        let index_json = dir.join("index.json");
        let bytes = std::fs::read(&index_json).map_err(io_at(&index_json))?;
        let top: Index = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("{}: {e}", index_json.display())))?;
        let manifest_digest = top
            .manifests
            .iter()
            .find(|d| d.artifact_type.as_deref() == Some(ARTIFACT_TYPE))
            .map(|d| d.digest.clone())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: no cairn cache in this directory",
                    dir.display()
                ))
            })?;
        let manifest: Manifest = serde_json::from_slice(&verified(dir, &manifest_digest)?)
            .map_err(|e| Error::Invalid(format!("{}: the cache manifest: {e}", dir.display())))?;
        let index = parse_index(&verified(dir, &manifest.config.digest)?)
            .map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
        Ok(DirCache {
            dir: dir.to_path_buf(),
            index,
        })
    }

    /// Copy blob `digest` from the directory into the store (unless it is there), verifying it.
    fn copy_blob(&self, store: &Store, digest: &OciDigest) -> Result<()> {
        if store.has_blob(digest) {
            return Ok(());
        }
        let src = blob_file(&self.dir, digest.as_str());
        let mut reader = std::fs::File::open(&src).map_err(io_at(&src))?;
        let mut writer = store.blob_writer()?;
        std::io::copy(&mut reader, &mut writer).map_err(io_at(&src))?;
        writer
            .commit_expect(digest)
            .map_err(|e| Error::Invalid(format!("{}: {e}", src.display())))?;
        Ok(())
    }
}

/// A small blob of the cache directory, checked against its digest.
fn verified(dir: &Path, digest: &str) -> Result<Vec<u8>> {
    let path = blob_file(dir, digest);
    let bytes = std::fs::read(&path).map_err(io_at(&path))?;
    let actual = OciDigest::of(&bytes).to_string();
    if actual != digest {
        return Err(Error::Mismatch {
            path: path.display().to_string(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

impl RemoteCache for DirCache {
    fn lookup(&self, key: &Key) -> Option<Vec<cairn_store::LayerId>> {
        self.index.records.get(key).cloned()
    }

    fn fetch(
        &self,
        store: &Store,
        layers: &[cairn_store::LayerId],
    ) -> Result<bool, cairn_solver::RemoteError> {
        let Some(missing) = self.index.missing(store, layers)? else {
            return Ok(false);
        };
        for layer in missing {
            self.copy_blob(store, &layer.digest)?;
            install_layer(store, &layer)?;
        }
        Ok(true)
    }

    fn fetch_mount(
        &self,
        store: &Store,
        id: &str,
        dest: &Path,
    ) -> Result<bool, cairn_solver::RemoteError> {
        let Some((digest, _)) = self.index.mount_blob(id) else {
            return Ok(false);
        };
        self.copy_blob(store, &digest)?;
        install_mount(store, &digest, dest)?;
        Ok(true)
    }
}

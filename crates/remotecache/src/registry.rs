//! A cache kept in a registry (`type=registry,ref=REF`): the artifact pushed like an image; on
//! import the index is read up front and each layer blob is downloaded (verified, resumable)
//! only when a cache hit needs it.

use crate::assemble::{ExportSet, assemble, install_layer, install_mount};
use crate::error::{Error, Result};
use crate::format::{ParsedIndex, parse_index};
use cairn_ir::{Platform, Reference};
use cairn_registry::Registry;
use cairn_solver::RemoteCache;
use cairn_solver::keys::Key;
use cairn_store::Store;
use rayon::prelude::*;

fn reference(r: &str) -> Result<Reference> {
    Reference::parse(r).map_err(|e| Error::Reference {
        reference: r.to_string(),
        reason: e.to_string(),
    })
}

/// Open the cache at `r` (its index only).
pub fn open(
    registry: &Registry,
    r: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<RegistryCache> {
    let reference = reference(r)?;
    let resolved = runtime
        .block_on(registry.resolve(&reference, &Platform::linux_amd64()))
        .map_err(|e| Error::from(e).context(format!("cannot read the cache {reference}")))?;
    let index =
        parse_index(&resolved.config).map_err(|e| Error::Invalid(format!("{reference}: {e}")))?;
    Ok(RegistryCache {
        registry: registry.clone(),
        reference,
        index,
        runtime: runtime.clone(),
    })
}

/// Push the cache of `set` to `r`; (records, layers).
pub fn export(
    store: &Store,
    registry: &Registry,
    r: &str,
    set: &ExportSet<'_>,
    runtime: &tokio::runtime::Handle,
) -> Result<(usize, usize)> {
    let reference = reference(r)?;
    let art = assemble(store, set)?;
    let records = art.records;
    let image = art.into_image();
    runtime
        .block_on(registry.push(store, &image, &reference))
        .map_err(|e| Error::from(e).context(format!("cannot export the cache to {reference}")))?;
    Ok((records, image.layers.len()))
}

/// A cache imported from a registry.
#[derive(Debug)]
pub struct RegistryCache {
    registry: Registry,
    reference: Reference,
    index: ParsedIndex,
    runtime: tokio::runtime::Handle,
}

impl RemoteCache for RegistryCache {
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
        // Download every missing blob at once, then unpack them side by side.
        let blobs: Vec<_> = missing.iter().map(|m| (m.digest.clone(), m.size)).collect();
        self.runtime
            .block_on(self.registry.fetch_blobs(store, &self.reference, &blobs))
            .map_err(Error::from)?;
        missing
            .par_iter()
            .try_for_each(|m| install_layer(store, m))?;
        Ok(true)
    }

    fn fetch_mount(
        &self,
        store: &Store,
        id: &str,
        dest: &std::path::Path,
    ) -> Result<bool, cairn_solver::RemoteError> {
        let Some((digest, size)) = self.index.mount_blob(id) else {
            return Ok(false);
        };
        self.runtime
            .block_on(
                self.registry
                    .fetch_blob(store, &self.reference, &digest, size),
            )
            .map_err(Error::from)?;
        install_mount(store, &digest, dest)?;
        Ok(true)
    }
}

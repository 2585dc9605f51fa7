//! The [`KeyContext`] of a real build: image manifests from the store, the layers remote
//! sources were fetched into, file selections from the scanned build contexts.

use crate::keys::{KeyContext, KeyInputError};
use cairn_context::ContextIndex;
use cairn_ir::Digest;
use cairn_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

pub struct StoreKeyContext<'a> {
    pub store: &'a Store,
    /// The scanned local sources, by name (`context`, `context:NAME`).
    pub contexts: &'a HashMap<String, Arc<ContextIndex>>,
    /// The layers remote sources (HTTP, git) were fetched into, by vertex.
    pub fetched: &'a HashMap<Digest, cairn_store::LayerId>,
}

impl KeyContext for StoreKeyContext<'_> {
    fn image_manifest(
        &self,
        reference: &str,
        platform: &cairn_ir::Platform,
    ) -> Result<String, KeyInputError> {
        match stored_image(self.store, reference, platform)? {
            Some(rec) => Ok(rec.manifest.to_string()),
            None => Err(KeyInputError::ImageMissing(reference.to_string())),
        }
    }

    fn remote_layer(&self, vertex: &Digest) -> Result<String, KeyInputError> {
        self.fetched
            .get(vertex)
            .map(|l| l.to_string())
            .ok_or(KeyInputError::NotFetched)
    }

    fn selection(
        &self,
        local: &str,
        src: &str,
        exclude: &[String],
        ignore_mode: bool,
        ignore_owner: bool,
    ) -> Result<[u8; 32], KeyInputError> {
        let index = self
            .contexts
            .get(local)
            .ok_or_else(|| KeyInputError::NotScanned(local.to_string()))?;
        Ok(index.selection_digest(src, exclude, ignore_mode, ignore_owner)?)
    }
}

/// The stored image an image source means: among the images its reference names (the one
/// manifest it is pinned to, as the build pins them, or a name's), the one of the source's
/// platform. A reference whose images are all of other platforms is an error, never built on:
/// its steps would run another machine's programs under a label they do not have. The one
/// lookup the keys and the solver share.
pub(crate) fn stored_image(
    store: &Store,
    reference: &str,
    platform: &cairn_ir::Platform,
) -> Result<Option<cairn_store::ImageRecord>, KeyInputError> {
    let Some(named) = store.image_resolve(reference)? else {
        return Ok(None);
    };
    match cairn_oci::image_for_platform(store, &named, platform)? {
        Some(rec) => Ok(Some(rec)),
        None => Err(KeyInputError::WrongPlatform {
            reference: reference.to_string(),
            platform: platform.to_string(),
            have: cairn_oci::platforms_shown(store, &named)?,
        }),
    }
}

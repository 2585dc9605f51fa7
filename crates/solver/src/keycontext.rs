//! The [`KeyContext`] of a real build: image manifests from the store, file selections from the
//! scanned build context.

use crate::keys::KeyContext;
use cairn_context::ContextIndex;
use cairn_store::Store;

pub struct StoreKeyContext<'a> {
    pub store: &'a Store,
    pub context: Option<&'a ContextIndex>,
}

impl KeyContext for StoreKeyContext<'_> {
    fn image_manifest(&self, reference: &str) -> Result<String, String> {
        match self.store.image_resolve(reference) {
            Ok(Some(rec)) => Ok(rec.manifest.to_string()),
            Ok(None) => Err(format!(
                "image {reference} is not in the store (add it with `cairn pull`, `cairn load` \
                 or `cairn import`)"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    fn selection(
        &self,
        src: &str,
        exclude: &[String],
        ignore_mode: bool,
        ignore_owner: bool,
    ) -> Result<[u8; 32], String> {
        let index = self
            .context
            .ok_or("the build reads the build context, but none was given")?;
        index
            .selection_digest(src, exclude, ignore_mode, ignore_owner)
            .map_err(|e| e.to_string())
    }
}

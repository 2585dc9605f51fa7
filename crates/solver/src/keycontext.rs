//! The [`KeyContext`] of a real build: image manifests and fetched HTTP sources from the store,
//! file selections from the scanned build context.

use crate::keys::KeyContext;
use cairn_context::ContextIndex;
use cairn_store::Store;
use std::collections::HashMap;

pub struct StoreKeyContext<'a> {
    pub store: &'a Store,
    /// The scanned local sources, by name (`context`, `context:NAME`).
    pub contexts: &'a HashMap<String, ContextIndex>,
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

    fn http_layer(
        &self,
        url: &str,
        filename: &str,
        checksum: Option<&str>,
    ) -> Result<String, String> {
        match self.store.http_get(url, filename) {
            Ok(Some(rec)) if checksum.is_none_or(|c| c == rec.digest.as_str()) => Ok(rec.layer),
            Ok(Some(rec)) => Err(format!(
                "{url} changed while this build ran: it is now {}, --checksum asked for {}",
                rec.digest,
                checksum.unwrap_or_default()
            )),
            Ok(None) => Err(format!("{url} was not fetched before solving")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn selection(
        &self,
        local: &str,
        src: &str,
        exclude: &[String],
        ignore_mode: bool,
        ignore_owner: bool,
    ) -> Result<[u8; 32], String> {
        let index = self
            .contexts
            .get(local)
            .ok_or_else(|| format!("the build reads {local}, but it was not scanned"))?;
        index
            .selection_digest(src, exclude, ignore_mode, ignore_owner)
            .map_err(|e| e.to_string())
    }
}

//! The frontend's [`ImageResolver`] backed by the local store: base-image configs (ENV, WORKDIR,
//! ONBUILD, history) come from images added with `cairn load` / `cairn import` / `-t`.

use cairn_dockerfile::lower::{ImageResolver, ResolvedImage};
use cairn_ir::Platform;
use cairn_store::Store;

pub struct StoreResolver<'a> {
    pub store: &'a Store,
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(
        &self,
        reference: &str,
        _platform: &Platform,
    ) -> Result<Option<ResolvedImage>, String> {
        let Some(rec) = self.store.image_get(reference).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let (config, _platform) =
            cairn_oci::image_config(self.store, &rec).map_err(|e| e.to_string())?;
        Ok(Some(ResolvedImage {
            pinned: None,
            config,
        }))
    }
}

//! Scanning a local source (the build context, a named directory) into the index its cache
//! keys come from, with the stat cache kept in the store so an unchanged file is not re-hashed.

use crate::error::{Context, Result};
use cairn_store::Store;
use std::path::Path;

/// The index of `dir` with `.dockerignore` `patterns` applied.
pub fn scan(store: &Store, dir: &Path, patterns: &[String]) -> Result<cairn_context::ContextIndex> {
    let matcher =
        cairn_context::ignore::IgnoreMatcher::new(patterns).context("invalid .dockerignore")?;
    let key = blake3::hash(dir.as_os_str().as_encoded_bytes())
        .to_hex()
        .to_string();
    let loaded = store.stat_cache_load(&key)?;
    let had_cache = loaded.is_some();
    // Searched where it lies (no decoding), and freed once the walk used it.
    let cache = loaded
        .map(cairn_context::StatCache::from_vec)
        .unwrap_or_default();
    let entries_before = cache.len();
    let index = cairn_context::scan_with(dir, &matcher, cache)
        .with_context(|| format!("cannot read the build context {}", dir.display()))?;
    // Nothing re-hashed and nothing gone: the saved cache is still exact (a no-op rebuild
    // writes nothing).
    let stats = index.stats();
    if !had_cache || stats.hashed > 0 || stats.cached != entries_before {
        store.stat_cache_save(&key, &index.stat_cache_bytes())?;
    }
    Ok(index)
}

//! `--cache-to` / `--cache-from`: where a build cache is shared. The format (an OCI artifact: a
//! cache index mapping cache keys to layer stacks, plus gzip layer blobs) lives in
//! `cairn_solver::cache_dir`; this module parses the options and moves the artifact to and from
//! a directory or a registry.

use crate::error::{BuildError, Context, Result, bail};
use cairn_ir::{Platform, Reference};
use cairn_registry::Registry;
use cairn_solver::RemoteCache;
use cairn_solver::cache_dir::{self, ParsedIndex};
use cairn_store::Store;
use std::path::PathBuf;

/// Where a cache goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    Local(PathBuf),
    Registry(String),
}

/// Parse `type=local,dest=DIR` / `type=local,src=DIR` / `type=registry,ref=REF`, with
/// `mode=min|max` (min, BuildKit's default: the final image's chain; max: every result).
pub fn parse(spec: &str, dir_key: &str) -> Result<(CacheLocation, CacheOptions)> {
    let mut kind = None;
    let mut dir = None;
    let mut reference = None;
    let mut max = false;
    let mut mounts = false;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("ref", v)) => reference = Some(v.to_string()),
            Some(("mode", "max")) => max = true,
            Some(("mode", "min")) => max = false,
            Some(("mode", other)) => {
                bail!("invalid cache mode {other:?} in {spec:?}: use min or max")
            }
            Some(("mounts", "true")) => mounts = true,
            Some(("mounts", "false")) => mounts = false,
            Some((k, v)) if k == dir_key => dir = Some(PathBuf::from(v)),
            _ => bail!(
                "invalid cache option {spec:?}: expected type=local,{dir_key}=DIR or type=registry,ref=REF"
            ),
        }
    }
    let location = match kind.as_deref() {
        Some("local") => CacheLocation::Local(
            dir.with_context(|| format!("cache option {spec:?} needs {dir_key}=DIR"))?,
        ),
        Some("registry") => CacheLocation::Registry(
            reference.with_context(|| format!("cache option {spec:?} needs ref=REF"))?,
        ),
        _ => bail!(
            "invalid cache option {spec:?}: expected type=local,{dir_key}=DIR or type=registry,ref=REF"
        ),
    };
    Ok((location, CacheOptions { max, mounts }))
}

/// `mode=max`, `mounts=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Every intermediate result, not only the final image's chain.
    pub max: bool,
    /// Also the `RUN --mount=type=cache` directories the build used.
    pub mounts: bool,
}

/// Open an imported cache (its index only; layers are fetched when a hit needs them).
pub fn open(
    location: &CacheLocation,
    registry: &Registry,
    runtime: &tokio::runtime::Runtime,
) -> Result<std::sync::Arc<dyn RemoteCache>> {
    match location {
        CacheLocation::Local(dir) => {
            let c = cache_dir::DirCache::open(dir).map_err(BuildError::msg)?;
            Ok(std::sync::Arc::new(c))
        }
        CacheLocation::Registry(r) => {
            let reference =
                Reference::parse(r).with_context(|| format!("invalid cache reference {r:?}"))?;
            let resolved = runtime
                .block_on(registry.resolve(&reference, &Platform::linux_amd64()))
                .with_context(|| format!("cannot read the cache {reference}"))?;
            let index = cache_dir::parse_index(&resolved.config)
                .map_err(|e| BuildError::msg(format!("{reference}: {e}")))?;
            Ok(std::sync::Arc::new(RegistryCache {
                registry: registry.clone(),
                reference,
                index,
                runtime: runtime.handle().clone(),
            }))
        }
    }
}

/// Export `records` to `location`; returns (records, layers).
pub fn export(
    store: &Store,
    location: &CacheLocation,
    set: &cache_dir::ExportSet<'_>,
    registry: &Registry,
    runtime: &tokio::runtime::Runtime,
) -> Result<(usize, usize)> {
    match location {
        CacheLocation::Local(dir) => cache_dir::export(store, dir, set)
            .map_err(|e| BuildError::msg(format!("{}: {e}", dir.display()))),
        CacheLocation::Registry(r) => {
            let reference =
                Reference::parse(r).with_context(|| format!("invalid cache reference {r:?}"))?;
            let art = cache_dir::assemble(store, set).map_err(BuildError::msg)?;
            let image = cairn_oci::AssembledImage {
                manifest: art.manifest,
                manifest_bytes: art.manifest_bytes,
                config: art.index,
                config_bytes: art.index_bytes,
                layers: art.layers,
            };
            runtime
                .block_on(registry.push(store, &image, &reference))
                .with_context(|| format!("cannot export the cache to {reference}"))?;
            Ok((art.records, image.layers.len()))
        }
    }
}

/// A cache imported from a registry: the index is read up front, each layer blob is
/// downloaded (verified, resumable) only when a cache hit needs it.
#[derive(Debug)]
struct RegistryCache {
    registry: Registry,
    reference: Reference,
    index: ParsedIndex,
    runtime: tokio::runtime::Handle,
}

impl RemoteCache for RegistryCache {
    fn lookup(&self, key: &cairn_solver::keys::Key) -> Option<Vec<String>> {
        self.index.records.get(key).cloned()
    }

    fn fetch(&self, store: &Store, layers: &[String]) -> Result<bool, String> {
        let Some(missing) = self.index.missing(store, layers)? else {
            return Ok(false);
        };
        // Download every missing blob at once, then unpack them side by side.
        let blobs: Vec<_> = missing.iter().map(|m| (m.digest.clone(), m.size)).collect();
        self.runtime
            .block_on(self.registry.fetch_blobs(store, &self.reference, &blobs))
            .map_err(|e| e.to_string())?;
        std::thread::scope(|s| {
            let installs: Vec<_> = missing
                .iter()
                .map(|m| s.spawn(|| cache_dir::install_layer(store, m)))
                .collect();
            installs.into_iter().try_for_each(|h| {
                h.join()
                    .map_err(|_| "unpacking a cached layer panicked".to_string())?
            })
        })?;
        Ok(true)
    }

    fn fetch_mount(&self, store: &Store, id: &str, dest: &std::path::Path) -> Result<bool, String> {
        let Some((digest, size)) = self.index.mount_blob(id) else {
            return Ok(false);
        };
        self.runtime
            .block_on(
                self.registry
                    .fetch_blob(store, &self.reference, &digest, size),
            )
            .map_err(|e| e.to_string())?;
        cache_dir::install_mount(store, &digest, dest)?;
        Ok(true)
    }
}

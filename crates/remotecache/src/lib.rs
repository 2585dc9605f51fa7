//! Build caches shared between machines: `--cache-to` exports the records and layers a build
//! used, `--cache-from` imports them (the index up front, each layer only when a hit needs it).
//!
//! Apart from the solver, as BuildKit's `cache/remotecache` is apart from its `solver/`: the
//! solver owns keys and asks the [`cairn_solver::RemoteCache`] trait it defines; this crate is
//! the format ([`mod@format`]), how an artifact is made and installed ([`assemble`]), and the two
//! places it is kept: a directory ([`dir`]) and a registry ([`registry`]). Documents are
//! `cairn-oci`'s model types, files go through the store's atomic writes, errors are typed
//! ([`Error`]) with their causes.
#![deny(clippy::indexing_slicing)]

pub mod assemble;
pub mod dir;
mod error;
pub mod format;
pub mod registry;

pub use assemble::{CacheArtifact, ExportSet};
pub use error::{Error, Result};

use cairn_registry::Registry;
use cairn_store::Store;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a cache goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    Local(PathBuf),
    Registry(String),
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Local(dir) => write!(f, "local directory {}", dir.display()),
            CacheLocation::Registry(r) => write!(f, "registry {r}"),
        }
    }
}

/// `mode=max`, `mounts=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Every intermediate result, not only the final image's chain.
    pub max: bool,
    /// Also the `RUN --mount=type=cache` directories the build used.
    pub mounts: bool,
}

/// A cache option that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(String);

/// Parse `type=local,dest=DIR` / `type=local,src=DIR` / `type=registry,ref=REF`, with
/// `mode=min|max` (min, BuildKit's default: the final image's chain; max: every result) and
/// `mounts=true|false`. `dir_key` is `dest` for exports and `src` for imports.
pub fn parse(spec: &str, dir_key: &str) -> Result<(CacheLocation, CacheOptions), SpecError> {
    let expected = || {
        SpecError(format!(
            "invalid cache option {spec:?}: expected type=local,{dir_key}=DIR or type=registry,ref=REF"
        ))
    };
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
                return Err(SpecError(format!(
                    "invalid cache mode {other:?} in {spec:?}: use min or max"
                )));
            }
            Some(("mounts", "true")) => mounts = true,
            Some(("mounts", "false")) => mounts = false,
            Some((k, v)) if k == dir_key => dir = Some(PathBuf::from(v)),
            _ => return Err(expected()),
        }
    }
    let location = match kind.as_deref() {
        Some("local") => CacheLocation::Local(
            dir.ok_or_else(|| SpecError(format!("cache option {spec:?} needs {dir_key}=DIR")))?,
        ),
        Some("registry") => CacheLocation::Registry(
            reference.ok_or_else(|| SpecError(format!("cache option {spec:?} needs ref=REF")))?,
        ),
        _ => return Err(expected()),
    };
    Ok((location, CacheOptions { max, mounts }))
}

/// Open an imported cache (its index only; layers are fetched when a hit needs them).
pub fn open(
    location: &CacheLocation,
    registry: &Registry,
    runtime: &tokio::runtime::Handle,
) -> Result<Arc<dyn cairn_solver::RemoteCache>> {
    Ok(match location {
        CacheLocation::Local(dir) => Arc::new(dir::DirCache::open(dir)?),
        CacheLocation::Registry(r) => Arc::new(registry::open(registry, r, runtime)?),
    })
}

/// Export `set` to `location`; returns (records, layers).
pub fn export(
    store: &Store,
    location: &CacheLocation,
    set: &ExportSet<'_>,
    registry: &Registry,
    runtime: &tokio::runtime::Handle,
) -> Result<(usize, usize)> {
    match location {
        CacheLocation::Local(dir) => {
            dir::export(store, dir, set).map_err(|e| e.context(format!("{}", dir.display())))
        }
        CacheLocation::Registry(r) => registry::export(store, registry, r, set, runtime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_cache_options() {
        assert_eq!(
            parse("type=local,dest=/c,mode=max", "dest"),
            Ok((
                CacheLocation::Local("/c".into()),
                CacheOptions {
                    max: true,
                    mounts: false
                }
            ))
        );
        assert_eq!(
            parse("type=registry,ref=r/c:1,mounts=true", "src").map(|p| p.0),
            Ok(CacheLocation::Registry("r/c:1".into()))
        );
        assert!(
            parse("type=local,src=/c", "dest").is_err(),
            "src is an import's"
        );
        assert!(parse("type=local", "dest").is_err());
        assert!(parse("type=registry", "dest").is_err());
        assert!(parse("type=local,dest=/c,mode=all", "dest").is_err());
        assert!(parse("type=s3,dest=x", "dest").is_err());
    }
}

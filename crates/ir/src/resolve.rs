//! The contract between a frontend and whoever knows base images: a frontend asks for an image's
//! config by reference and platform, and gets it pinned to a manifest digest. It lives in the IR
//! crate because every frontend asks (the Dockerfile one today, protocol frontends next) and the
//! build library answers (from the store, pulling when allowed); neither depends on the other.

use crate::{ImageConfig, Platform};

/// What the caller knows about a base image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedImage {
    /// The pinned reference (`...@sha256:...`) to put in the source op, if known.
    pub pinned: Option<String>,
    pub config: ImageConfig,
}

/// Why an image could not be resolved (it is not there, a pull failed, it is for another
/// platform); the message is shown at the line that named the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResolveError(pub String);

impl From<String> for ResolveError {
    fn from(s: String) -> Self {
        ResolveError(s)
    }
}

/// Looks up base images; implemented outside the frontends (frontends do no I/O).
pub trait ImageResolver {
    /// `reference` is normalized (`docker.io/library/busybox:latest`). `Ok(None)` means unknown:
    /// lowering then proceeds with an empty config, unpinned.
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError>;
}

/// A resolver that knows no images (for planning without a store).
pub struct NoResolver;

impl ImageResolver for NoResolver {
    fn resolve(&self, _: &str, _: &Platform) -> Result<Option<ResolvedImage>, ResolveError> {
        Ok(None)
    }
}

//! The crate's one error type.
//!
//! Why so many variants: a registry failure is only actionable when it says *which* registry and
//! repository, *what* cairn was doing (fetching a manifest, uploading a blob …) and *why* (wrong
//! credentials, a 5xx after every retry, a blob whose bytes do not hash to its name). The
//! variants keep those apart so the CLI can print one clear line, and callers can match on the
//! kind (`is_unauthorized`, `is_not_found`) without parsing text. Nothing here prints.

use cairn_store::OciDigest;
use std::path::PathBuf;

/// Result alias for registry operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry wants credentials and we had none (HTTP 401 without credentials).
    #[error(
        "unauthorized: authentication required for {registry}/{repository} \
         (no credentials for {registry}{hint}; log in with `docker login {registry}`)"
    )]
    AuthRequired {
        registry: String,
        repository: String,
        /// Where we looked (`", looked in <path>"`) or why a helper failed.
        hint: String,
    },
    /// The registry (or its token service) rejected the credentials we sent.
    #[error(
        "unauthorized: wrong credentials for {registry} (user {username:?} from {source_desc}) \
         while accessing {registry}/{repository}{detail}"
    )]
    WrongCredentials {
        registry: String,
        repository: String,
        username: String,
        /// Where the credentials came from: the docker config path or `docker-credential-<x>`.
        source_desc: String,
        detail: String,
    },
    /// Authenticated, but not allowed (HTTP 403 / DENIED).
    #[error("denied: access to {registry}/{repository} is not allowed ({detail})")]
    Denied {
        registry: String,
        repository: String,
        detail: String,
    },
    /// The tag, digest or repository does not exist.
    #[error("not found: {what} in {registry}/{repository}")]
    NotFound {
        registry: String,
        repository: String,
        what: String,
    },
    /// An index / manifest list has no manifest for the wanted platform.
    #[error(
        "{registry}/{repository}: no manifest for platform {platform} in {reference} \
         (available: {available})"
    )]
    NoMatchingPlatform {
        registry: String,
        repository: String,
        reference: String,
        platform: String,
        available: String,
    },
    /// Downloaded bytes do not hash to the digest that names them; nothing was stored.
    #[error(
        "blob {digest} from {registry}/{repository} does not match its digest \
         (got {actual}); nothing was stored"
    )]
    DigestMismatch {
        registry: String,
        repository: String,
        digest: String,
        actual: String,
    },
    /// Network-level failure (connection refused, reset, timeout, 5xx, 429) that persisted
    /// through every retry.
    #[error("{what} at {registry}/{repository}: {cause} (gave up after {attempts} attempts)")]
    Transport {
        registry: String,
        repository: String,
        what: String,
        attempts: u32,
        cause: String,
    },
    /// The registry answered something we cannot use (unexpected status, protocol violation).
    #[error("{what} at {registry}/{repository}: {cause}")]
    Protocol {
        registry: String,
        repository: String,
        what: String,
        cause: String,
    },
    /// A manifest, index or config the registry served is malformed or unsupported.
    #[error("{registry}/{repository}: {what}: {reason}")]
    InvalidContent {
        registry: String,
        repository: String,
        what: String,
        reason: String,
    },
    /// The docker config file could not be read or parsed.
    #[error("docker config {}: {reason}", path.display())]
    DockerConfig { path: PathBuf, reason: String },
    /// A `docker-credential-<name>` helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    CredentialHelper {
        helper: String,
        registry: String,
        reason: String,
    },
    /// A reference cairn cannot push to or pull from as given.
    #[error("invalid reference {reference}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// An image handed to `push` is not complete in the store.
    #[error("cannot push to {registry}/{repository}: blob {digest} is not in the store")]
    MissingBlob {
        registry: String,
        repository: String,
        digest: OciDigest,
    },
    /// The store refused an operation.
    #[error(transparent)]
    Store(#[from] cairn_store::Error),
    /// Unpacking or reading an image failed.
    #[error(transparent)]
    Oci(#[from] cairn_oci::Error),
    /// A local file operation (outside the store API) failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether the registry refused us for lack of (valid) credentials or permission.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Error::AuthRequired { .. } | Error::WrongCredentials { .. } | Error::Denied { .. }
        )
    }

    /// Whether the reference (tag, digest, repository) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// An error and its `source()` chain as one line: "a: b: c" (reqwest hides the useful part,
/// e.g. "Connection refused", a few levels down).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

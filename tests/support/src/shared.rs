//! The registries the test command starts once for the whole run (`scripts/registries.sh`, via
//! the `cairn-test-registries` binary), found through environment variables. A test that needs
//! them and does not find them fails: run the tests with `scripts/test.sh`, or source
//! `scripts/registries.sh` first.

use crate::registry::{blob_data, repo_has_blob};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One shared registry.
#[derive(Debug, Clone)]
pub struct SharedRegistry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// The registry's storage root (`blobs/`, `repositories/`), when it is on this machine.
    pub storage: PathBuf,
}

impl SharedRegistry {
    pub fn port(&self) -> u16 {
        self.host
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in shared registry address {:?}", self.host))
    }

    /// The data file of the blob `sha256:<hex>` in the registry's storage.
    pub fn blob_data(&self, hex: &str) -> PathBuf {
        blob_data(&self.storage, hex)
    }

    /// Whether `repository` links blob `sha256:<hex>`.
    pub fn repo_has_blob(&self, repository: &str, hex: &str) -> bool {
        repo_has_blob(&self.storage, repository, hex)
    }
}

/// The shared registries: anonymous, htpasswd basic auth, and bearer tokens (the gateway in
/// front of a third registry). The authenticated ones accept
/// [`SHARED_USER`](crate::SHARED_USER) / [`SHARED_PASSWORD`](crate::SHARED_PASSWORD).
#[derive(Debug, Clone)]
pub struct SharedRegistries {
    pub plain: SharedRegistry,
    pub basic: SharedRegistry,
    pub bearer: SharedRegistry,
}

/// The environment variables naming the shared registries, as `scripts/registries.sh` exports
/// them (`<VAR>` is the address, `<VAR>_STORAGE` its storage root).
pub const PLAIN_VAR: &str = "CAIRN_TEST_REGISTRY";
pub const BASIC_VAR: &str = "CAIRN_TEST_REGISTRY_BASIC";
pub const BEARER_VAR: &str = "CAIRN_TEST_REGISTRY_BEARER";

fn from_env(var: &str) -> SharedRegistry {
    let host = std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "${var} is not set: this test needs the shared test registries. Run the tests with \
             scripts/test.sh (it starts them), or `source scripts/registries.sh` first"
        )
    });
    let storage = std::env::var(format!("{var}_STORAGE")).unwrap_or_default();
    SharedRegistry {
        host,
        storage: PathBuf::from(storage),
    }
}

/// The shared registries (panics with instructions when the test command did not start them).
pub fn shared() -> &'static SharedRegistries {
    static SHARED: OnceLock<SharedRegistries> = OnceLock::new();
    SHARED.get_or_init(|| SharedRegistries {
        plain: from_env(PLAIN_VAR),
        basic: from_env(BASIC_VAR),
        bearer: from_env(BEARER_VAR),
    })
}

/// A repository name no other test (in this run or an earlier one against the same
/// registries) uses: `<prefix>-<pid>-<time>-<n>`.
pub fn unique_repo(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

//! Test support for cairn's registry tests: real registries, never mocks.
//!
//! The point of cairn's registry code is interoperating with what registries actually do (auth
//! challenges, Range, cross-repository mounts, upload sessions), so the tests talk to Debian's
//! `docker-registry` (distribution 2.8) on loopback:
//!
//! - [`shared`]: the registries the test command starts once (`scripts/registries.sh`, run by
//!   `scripts/test.sh` and `.ci/run`): a plain one, one with htpasswd basic auth, and one behind
//!   the bearer-token gateway. Tests that only push and pull use these, each under repository
//!   names of its own ([`unique_repo`]).
//! - [`TestRegistry`]: a private registry for a test that must own one's life or bytes (stop it
//!   mid-pull, tamper with a stored blob).
//! - [`CutProxy`]: a TCP proxy that cuts a transfer in the middle (interrupted downloads and
//!   uploads, a registry gone mid-transfer).
//! - [`BearerGateway`]: the token-auth stand-in distribution cannot serve on its own.

// A harness that cannot set up (bind a port, start a registry) is a failed test: it says what
// failed and stops, which is what `expect` does.
#![allow(clippy::expect_used)]

pub mod conformance;
mod gateway;
mod proxy;
mod registry;
mod shared;

pub use gateway::BearerGateway;
pub use proxy::CutProxy;
pub use registry::TestRegistry;
pub use shared::{SharedRegistries, SharedRegistry, shared, unique_repo};

/// `(user, password)` the shared basic-auth and bearer registries accept.
pub const SHARED_USER: &str = "cairn-ci";
pub const SHARED_PASSWORD: &str = "cairn-ci-s3cret";

/// Whether `hay` contains `needle`.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

//! cairn's OCI distribution client (see `docs/registry-design.md`): pull images into the
//! store, push assembled images, with docker's credential lookup, retries with backoff,
//! resumable verified blob downloads and cross-repository mounts.
//!
//! - `client`: [`Registry`], [`RegistryOptions`], transports (https, http for loopback and
//!   `insecure`), one oci-client per registry host.
//! - `auth`: `~/.docker/config.json` (`auths`, `credHelpers`, `credsStore`).
//! - `pull`: resolve (index → platform manifest), parallel verified downloads, unpack.
//! - `push`: HEAD, mount, upload, manifest.
//! - `platform`, `retry`, `error`: the pieces in between.
//!
//! Built on oci-client's streaming calls only: layers are never held in memory.
#![deny(clippy::indexing_slicing)]

mod auth;
mod client;
mod error;
mod manifest;
mod platform;
mod pull;
mod push;
mod retry;
mod transfer;

pub use client::{DEFAULT_DEADLINE, Registry, RegistryOptions, Timeouts};
pub use error::{Error, Result};
pub use manifest::{Document, read as read_manifest};
pub use pull::{PulledImage, Resolved};
pub use push::PushReport;
pub use transfer::{Transfer, Unobserved};

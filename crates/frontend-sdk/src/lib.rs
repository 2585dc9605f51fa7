//! The frontend protocol, for frontends written in Rust.
//!
//! A cairn frontend is a program that turns its input (a YAML file, a Python build script, a
//! Dockerfile dialect…) into a build graph. cairn starts it, writes a [`protocol::Request`] on
//! its stdin, answers its calls (read a file of the context, resolve a base image's config) and
//! reads back the graph — one JSON message per line both ways, specified in
//! `docs/frontend-protocol.md` so a frontend can be written in any language. This crate holds
//! the messages ([`protocol`]), the framing with its size limit ([`framing`]) and the
//! [`Client`] a Rust frontend uses:
//!
//! ```no_run
//! use cairn_frontend_sdk::Client;
//! use cairn_ir::{GraphBuilder, Input, Op, SourceOp, VertexMeta};
//!
//! fn main() -> Result<(), cairn_frontend_sdk::Error> {
//!     let mut client = Client::connect()?;
//!     let spec = client.read_file("image.txt")?;
//!     let reference = String::from_utf8_lossy(&spec).trim().to_string();
//!     let base = client.resolve_image(&reference, None)?;
//!     let mut g = GraphBuilder::new();
//!     let from = g
//!         .add(
//!             Op::Source(SourceOp::Image {
//!                 reference: base.pinned.unwrap_or(reference),
//!                 platform: client.request().platform.clone(),
//!             }),
//!             vec![],
//!             VertexMeta::default(),
//!         )
//!         .map_err(|e| cairn_frontend_sdk::Error::Invalid(e.to_string()))?;
//!     let graph = g.finish(Some(Input::of(from)), client.request().platform.clone(), base.config);
//!     client.finish(&graph)
//! }
//! ```
//!
//! The server side (cairn's) is `cairn_build::process_frontend`; both use these types, so the
//! two cannot drift apart.

mod client;
pub mod framing;
pub mod protocol;

pub use client::{AnyClient, Client, Error};
pub use protocol::PROTOCOL_VERSION;

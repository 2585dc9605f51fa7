//! The cairn intermediate representation: a DAG of content-addressed build operations.
//!
//! A frontend (the Dockerfile one first) lowers a build into a [`Graph`]; the solver executes it.
//! The IR is modelled on BuildKit's LLB:
//!
//! * [`Op::Source`] brings in content: an image, the local build context (with include/exclude
//!   selectors), an HTTP file or a git repository.
//! * [`Op::Exec`] runs a process on a root filesystem with extra mounts.
//! * [`Op::File`] applies a chain of file actions (copy, mkdir, mkfile, rm, symlink).
//! * [`Op::Merge`] stacks independent results (the `COPY --link` case).
//!
//! Every [`Vertex`] is named by a [`Digest`]: blake3 over an explicit, versioned, length-prefixed
//! canonical encoding of the op and of its inputs' digests (see [`canon`]). The encoding is written
//! by hand field by field, never taken from a serializer's output, so that a serde change cannot
//! silently split or merge caches. Metadata that must not split the cache — descriptions, the
//! Dockerfile line a vertex came from — lives beside the graph in [`VertexMeta`], never inside the
//! digest.
//!
//! Graphs serialize as documented JSON ([`format::to_json`]) and as a compact postcard binary
//! ([`format::to_binary`]); both carry [`FORMAT_VERSION`], and loading re-derives every digest, so
//! a frontend running as a separate process cannot hand the solver an inconsistent graph.
//!
//! This crate does no I/O.
#![deny(clippy::indexing_slicing)]

pub mod authored;
pub mod canon;
mod digest;
pub mod format;
mod git_ref;
mod graph;
pub mod image;
pub mod op;
pub mod reference;
pub mod resolve;

pub use digest::{Digest, DigestParseError};
pub use git_ref::{GitRef, is_commit_sha};
pub use graph::{Graph, GraphBuilder, GraphError, Input, Vertex, VertexMeta};
pub use image::{ImageConfig, Platform};
pub use op::*;
pub use reference::{Reference, ReferenceError};

/// Version of the JSON / binary graph format. Bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 3;

//! Base images pinned before anything is keyed or solved, whatever the frontend.
//!
//! The Dockerfile frontend pins its `FROM` images itself (it needs their configs), but a graph
//! given as IR or returned by a protocol frontend may name `busybox:latest`, or a digest the
//! store has never seen. Each image source is resolved here once to a manifest digest in the
//! store (pulled when missing and a registry is allowed) and the source op rewritten to
//! `name@sha256:…`, so keys, the solver and exports all mean one image — the invariant "a
//! base image is resolved once" holds for every frontend, not only the built-in one.

use crate::error::{BuildError, Result};
use cairn_ir::resolve::ImageResolver;
use cairn_ir::{Graph, Op, SourceOp};
use cairn_store::Store;
use std::collections::HashMap;

/// `graph` with every image source pinned to a digest the store holds. Unchanged (no copy)
/// when every image already is.
pub(crate) fn pin_images(
    graph: Graph,
    store: &Store,
    resolver: &dyn ImageResolver,
) -> Result<Graph> {
    let mut pinned: HashMap<cairn_ir::Digest, Op> = HashMap::new();
    for v in &graph.vertices {
        let Op::Source(SourceOp::Image {
            reference,
            platform,
        }) = &v.op
        else {
            continue;
        };
        // Pinned to one stored manifest of the source's platform: nothing to resolve. (A
        // digest of an index, or of another platform's image, goes to the resolver.)
        if reference.contains('@')
            && let Some(named) = store
                .image_resolve(reference)
                .map_err(|e| BuildError::with_source(format!("cannot look up {reference}"), e))?
            && named.only().is_some()
            && cairn_oci::image_for_platform(store, &named, platform)?.is_some()
        {
            continue;
        }
        let place = graph
            .meta
            .get(&v.digest)
            .and_then(|m| Some(format!("{}:{}: ", m.file.as_ref()?, m.lines?.0)))
            .unwrap_or_default();
        let resolved = resolver
            .resolve(reference, platform)
            .map_err(|e| BuildError::with_source(format!("{place}cannot use {reference}"), e))?
            .and_then(|r| r.pinned)
            .ok_or_else(|| {
                BuildError::msg(format!(
                    "{place}image {reference} is not in the store (add it with `cairn pull`, \
                     `cairn load` or `cairn import`)"
                ))
            })?;
        if &resolved != reference {
            pinned.insert(
                v.digest,
                Op::Source(SourceOp::Image {
                    reference: resolved,
                    platform: platform.clone(),
                }),
            );
        }
    }
    if pinned.is_empty() {
        return Ok(graph);
    }
    // Every vertex from a pinned one on gets a new digest.
    graph
        .rewrite(|v| pinned.remove(&v.digest))
        .map_err(|e| BuildError::with_source("cannot pin the base images", e))
}

//! After the solve: what leaves the build. The cache-export policy (which records and layers a
//! `--cache-to` carries), the image (assembled once, named, written to each output, pushed)
//! and the file-system outputs.

use crate::ahead::Ahead;
use crate::error::{Context, Result, bail};
use crate::events::{BuildEvent, EventSink, Task};
use crate::output::Output;
use cairn_ir::{Digest, Graph, MountKind, Op, SourceOp};
use cairn_oci::LayerTarget;
use cairn_registry::Registry;
use cairn_remotecache::{CacheLocation, CacheOptions};
use cairn_solver::{SolveOutput, UsedRecord};
use cairn_store::{Compression, LayerId, OciDigest, Store};
use std::collections::HashSet;
use std::path::PathBuf;

/// Export the build cache to every `--cache-to` location. `stored` are the records the build
/// did not look at but the store holds (a cache export covers them too).
#[allow(clippy::too_many_arguments)]
pub(crate) fn cache(
    store: &Store,
    graph: &Graph,
    out: &SolveOutput,
    stored: &[UsedRecord],
    cache_to: &[(CacheLocation, CacheOptions)],
    epoch: Option<i64>,
    registry: &Registry,
    runtime: &tokio::runtime::Runtime,
    events: &dyn EventSink,
) -> Result<()> {
    if cache_to.is_empty() {
        return Ok(());
    }
    let chain = result_chain(graph);
    // Base images are not exported (every importer resolves them itself): neither their
    // records nor their layers' blobs.
    let base_vertices: HashSet<Digest> = graph
        .vertices
        .iter()
        .filter(|v| matches!(v.op, Op::Source(SourceOp::Image { .. })))
        .map(|v| v.digest)
        .collect();
    let base_layers: HashSet<LayerId> = out
        .records
        .iter()
        .chain(stored)
        .filter(|r| base_vertices.contains(&r.vertex))
        .flat_map(|r| r.layers.iter().cloned())
        .collect();
    for (location, copts) in cache_to {
        let wanted = |d: &Digest| (copts.max || chain.contains(d)) && !base_vertices.contains(d);
        let mut records: Vec<UsedRecord> = out
            .records
            .iter()
            .filter(|r| wanted(&r.vertex))
            .cloned()
            .collect();
        records.extend(stored.iter().filter(|r| wanted(&r.vertex)).cloned());
        let mounts = if copts.mounts {
            cache_mounts(store, graph)?
        } else {
            Vec::new()
        };
        let set = cairn_remotecache::ExportSet {
            records: &records,
            base: &base_layers,
            epoch,
            mounts: &mounts,
        };
        crate::events::task(events, format!("exporting cache to {location}"), |t| {
            let (n, layers) =
                cairn_remotecache::export(store, location, &set, registry, runtime.handle())
                    .with_context(|| format!("--cache-to {location:?}"))?;
            t.note(format!("{n} cache records and {layers} layers"));
            Ok::<_, crate::BuildError>(())
        })?;
    }
    Ok(())
}

/// The image a build made, as a driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The manifest digest.
    pub manifest: String,
    /// The config digest: the image ID, as docker shows it.
    pub config: String,
    /// Names pushed, with the digest each registry holds.
    pub pushed: Vec<(String, String)>,
}

/// What the image steps need.
pub(crate) struct ImageJob<'a> {
    pub graph: &'a Graph,
    pub layers: &'a [LayerId],
    pub epoch: Option<i64>,
    pub compression: Compression,
    pub tags: &'a [String],
    pub outputs: &'a [Output],
    pub push: bool,
    /// Make the image even with no output or tag wanting it (the caller wants its ID).
    pub want_id: bool,
    /// Layers described while the build ran.
    pub ahead: Option<&'a Ahead>,
}

/// How the image's layers will be described, if an image is made at all: what the export
/// describes them for, so the build can start on it early ([`Ahead`]).
pub(crate) fn layer_target(
    outputs: &[Output],
    tags: &[String],
    want_id: bool,
    compression: Compression,
) -> Option<LayerTarget> {
    if outputs.iter().any(Output::is_image) {
        Some(LayerTarget::Blobs(compression))
    } else if !tags.is_empty() || want_id {
        Some(LayerTarget::Store)
    } else {
        None
    }
}

/// Assemble the image (when anything wants it), name it, write the image outputs and push.
pub(crate) fn image(
    store: &Store,
    job: &ImageJob<'_>,
    registry: &Registry,
    runtime: &tokio::runtime::Runtime,
    events: &dyn EventSink,
) -> Result<Option<BuiltImage>> {
    let Some(target) = layer_target(job.outputs, job.tags, job.want_id, job.compression) else {
        if job.push {
            bail!("--push needs a name: add -t REGISTRY/NAME:TAG");
        }
        return Ok(None);
    };
    let task = Task::start(events, "exporting to image");
    let made = make_image(store, job, target, events, &task);
    match &made {
        Ok(image) => {
            task.note(format!("writing image {} done", image.config));
            task.finish();
        }
        Err(e) => task.fail(cairn_solver::with_causes(e)),
    }
    let image = made?;
    let pushed = push_tags(store, job, registry, runtime, events)?;
    Ok(Some(BuiltImage {
        manifest: image.manifest.to_string(),
        config: image.config.to_string(),
        pushed,
    }))
}

/// With `--push`, push every tag to its registry: each name and the digest it has there.
fn push_tags(
    store: &Store,
    job: &ImageJob<'_>,
    registry: &Registry,
    runtime: &tokio::runtime::Runtime,
    events: &dyn EventSink,
) -> Result<Vec<(String, String)>> {
    let mut pushed = Vec::new();
    if !job.push {
        return Ok(pushed);
    }
    if job.tags.is_empty() {
        bail!("--push needs a name: add -t REGISTRY/NAME:TAG");
    }
    for t in job.tags {
        let task = Task::start(events, format!("pushing {t}"));
        let digest = runtime.block_on(crate::metered::metered(&task, |meter| {
            crate::push_named_observed(store, registry, t, job.compression, meter)
        }));
        match digest {
            Ok(digest) => {
                task.note(format!("pushed {t} {digest}"));
                task.finish();
                pushed.push((t.clone(), digest));
            }
            Err(e) => {
                task.fail(cairn_solver::with_causes(&e));
                return Err(e);
            }
        }
    }
    Ok(pushed)
}

/// The image a graph's result makes: its platform, config and layers (the base image's kept
/// as they came), stamped with the build's epoch.
fn image_spec(
    store: &Store,
    graph: &Graph,
    layers: &[LayerId],
    epoch: Option<i64>,
) -> Result<cairn_oci::ImageSpec> {
    Ok(cairn_oci::ImageSpec {
        platform: graph.platform.clone(),
        config: graph.image.clone(),
        layers: layers.to_vec(),
        epoch,
        base_layers: base_layer_count(graph, store, layers)?,
    })
}

/// Assemble the image, name it and write it to each image output.
fn make_image(
    store: &Store,
    job: &ImageJob<'_>,
    target: LayerTarget,
    events: &dyn EventSink,
    task: &Task<'_>,
) -> Result<cairn_oci::AssembledImage> {
    task.note("exporting layers");
    let spec = image_spec(store, job.graph, job.layers, job.epoch)?;
    // An image that only stays in the store needs no compressed blobs (like docker's own
    // image store); exports get real, compressed layers. A layer the build made may have
    // been described while later steps ran.
    let mut image = cairn_oci::assemble_image_with(store, &spec, &|i, id| {
        let built = i >= spec.base_layers;
        match job.ahead.and_then(|a| a.get(id, target, built)) {
            Some(blob) => Ok(blob),
            None => cairn_oci::describe_layer(store, &spec, i, id, target),
        }
    })
    .context("cannot assemble the image")?;
    for t in job.tags {
        let rec = cairn_store::NamedImage::single(cairn_store::ImageRecord {
            manifest: image.manifest.clone(),
            config: image.config.clone(),
            layers: job.layers.to_vec(),
        });
        if store.image_get(t)?.as_ref() != Some(&rec) {
            store.image_put(t, &rec)?;
        }
        task.note(format!("naming to {t} done"));
    }
    for o in job.outputs {
        if let Err(e) = o.write_image(store, &image, job.tags) {
            // A blob the export found damaged is gone from the store now; one of a layer
            // this build made is made again (same bytes, same digest) and the export
            // retried. A base image's blob cannot be: the error says how to repair it.
            let missing = |b: &cairn_store::LayerBlob| !store.has_blob(&b.digest);
            let base_damaged = image.layers.iter().take(spec.base_layers).any(missing);
            let built_damaged = image.layers.iter().skip(spec.base_layers).any(missing);
            if base_damaged || !built_damaged {
                return Err(e);
            }
            events.emit(BuildEvent::Warning(format!(
                "{}; making it again from its layer",
                cairn_solver::with_causes(&e)
            )));
            image = cairn_oci::assemble_image(store, &spec, job.compression)
                .context("cannot assemble the image")?;
            o.write_image(store, &image, job.tags)?;
        }
        task.note(format!("exported to {}", o.describe()));
    }
    Ok(image)
}

/// Write the file-system outputs (`type=local`, `type=tar`) of `parts`: (a directory in the
/// output, the layers of its file system) — the output itself (`""`) for one result, a
/// directory per platform (`linux_arm64`, [`platform_dir`]) for a multi-platform build's.
pub(crate) fn files(
    store: &Store,
    outputs: &[Output],
    parts: &[(String, &[LayerId])],
    events: &dyn EventSink,
) -> Result<()> {
    for o in outputs.iter().filter(|o| !o.is_image()) {
        let omitted =
            crate::events::task(events, format!("exporting to {}", o.describe()), |_| {
                o.write_files(store, parts)
            })?;
        if let Some(first) = omitted.first() {
            events.emit(BuildEvent::Warning(format!(
                "{} device node(s) left out of the output (e.g. /{first}): add {} to the \
                 -o option to create them",
                omitted.len(),
                crate::output::DEVICES_HELP
            )));
        }
    }
    Ok(())
}

/// The `RUN --mount=type=cache` directories of this build, by id.
fn cache_mounts(store: &Store, g: &Graph) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for v in &g.vertices {
        if let Op::Exec(x) = &v.op {
            for m in &x.mounts {
                if let MountKind::Cache { id, .. } = &m.kind
                    && !out.iter().any(|(i, _)| i == id)
                {
                    out.push((id.clone(), store.cache_mount_dir(id)?));
                }
            }
        }
    }
    Ok(out)
}

/// How many of the result's bottom layers are its base image's (the image at the bottom of the
/// final stage's chain): exported as they came, whatever SOURCE_DATE_EPOCH says.
fn base_layer_count(g: &Graph, store: &Store, layers: &[LayerId]) -> Result<usize> {
    let mut count = 0;
    for d in result_chain(g) {
        if let Some(Op::Source(SourceOp::Image { reference, .. })) = g.vertex(&d).map(|v| &v.op)
            && let Some(named) = store.image_resolve(reference)?
        {
            for rec in named
                .images
                .iter()
                .filter(|r| layers.starts_with(&r.layers))
            {
                count = count.max(rec.layers.len());
            }
        }
    }
    Ok(count)
}

/// The vertices whose results are the final image's layers: down the root filesystems from
/// the result.
pub(crate) fn result_chain(g: &Graph) -> HashSet<Digest> {
    let mut out = HashSet::new();
    let mut todo: Vec<Digest> = g.result.iter().map(|r| r.vertex).collect();
    while let Some(d) = todo.pop() {
        if !out.insert(d) {
            continue;
        }
        let Some(v) = g.vertex(&d) else { continue };
        let below: Vec<u32> = match &v.op {
            Op::Exec(x) => x
                .mounts
                .iter()
                .filter(|m| matches!(m.kind, MountKind::Rootfs))
                .filter_map(|m| m.input)
                .collect(),
            Op::File(f) => f.base.into_iter().collect(),
            Op::Merge(m) => m.inputs.clone(),
            Op::Source(_) => Vec::new(),
        };
        todo.extend(
            below
                .iter()
                .filter_map(|&i| v.inputs.get(i as usize))
                .map(|i| i.vertex),
        );
    }
    out
}

/// One platform's part of a multi-platform build: its graph and the layers of its result.
pub(crate) struct PlatformPart<'a> {
    pub graph: &'a Graph,
    pub layers: &'a [LayerId],
}

/// The name of a platform's directory in a multi-platform `type=local`/`type=tar` output, as
/// buildx names it: `linux_arm64`, `linux_arm_v7`.
pub(crate) fn platform_dir(p: &cairn_ir::Platform) -> String {
    p.to_string().replace('/', "_")
}

/// [`image`] of a multi-platform build: one image per platform, named together under their
/// index (tags, pushes, OCI outputs); a `type=docker` output cannot hold several (checked
/// before the build).
pub(crate) fn images(
    store: &Store,
    parts: &[PlatformPart<'_>],
    job: &ImageJob<'_>,
    registry: &Registry,
    runtime: &tokio::runtime::Runtime,
    events: &dyn EventSink,
) -> Result<Option<BuiltImage>> {
    let Some(target) = layer_target(job.outputs, job.tags, job.want_id, job.compression) else {
        if job.push {
            bail!("--push needs a name: add -t REGISTRY/NAME:TAG");
        }
        return Ok(None);
    };
    let task = Task::start(events, "exporting to image");
    let made = (|| -> Result<OciDigest> {
        let mut made = Vec::with_capacity(parts.len());
        for part in parts {
            task.note(format!("exporting layers of {}", part.graph.platform));
            let spec = image_spec(store, part.graph, part.layers, job.epoch)?;
            let image = cairn_oci::assemble_image_with(store, &spec, &|i, id| {
                cairn_oci::describe_layer(store, &spec, i, id, target)
            })
            .with_context(|| format!("cannot assemble the image for {}", spec.platform))?;
            made.push(image);
        }
        let (index, bytes) =
            cairn_oci::image_index(made.iter().zip(parts.iter().map(|p| &p.graph.platform)))?;
        store.put_blob(&bytes)?;
        let named = cairn_store::NamedImage {
            index: Some(index.clone()),
            images: made
                .iter()
                .zip(parts)
                .map(|(img, part)| cairn_store::ImageRecord {
                    manifest: img.manifest.clone(),
                    config: img.config.clone(),
                    layers: part.layers.to_vec(),
                })
                .collect(),
        };
        for t in job.tags {
            if store.image_get(t)?.as_ref() != Some(&named) {
                store.image_put(t, &named)?;
            }
            task.note(format!("naming to {t} done"));
        }
        let content = cairn_oci::LayoutImages {
            images: made.iter().collect(),
            index: Some((index.clone(), bytes)),
        };
        for o in job.outputs {
            o.write_images(store, &content, job.tags)?;
            task.note(format!("exported to {}", o.describe()));
        }
        Ok(index)
    })();
    match &made {
        Ok(index) => {
            task.note(format!("writing image index {index} done"));
            task.finish();
        }
        Err(e) => task.fail(cairn_solver::with_causes(e)),
    }
    let index = made?;
    let pushed = push_tags(store, job, registry, runtime, events)?;
    Ok(Some(BuiltImage {
        manifest: index.to_string(),
        config: index.to_string(),
        pushed,
    }))
}

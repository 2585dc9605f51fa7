//! Cache keys.
//!
//! Both keys are blake3 over explicit, versioned encodings (never a serializer's output):
//!
//! * **Definition key** — `H("cairn-cache/def/v2", vertex digest, extra, input definition keys)`
//!   where *extra* is what the graph alone does not pin: for an image source, the manifest digest
//!   of the image in the store; for an HTTP or git source, the layer its fetch made; for a step,
//!   the platform its programs are for (this machine's unless it names another); for a copy or bind mount from the build context, the digest of
//!   exactly the files it selects (content, mode and ownership, never mtimes; mode and ownership
//!   left out when `--chmod` / `--chown` replace them).
//! * **Content key** — `H("cairn-cache/content/v3", op digest, extra, for each input its layer
//!   list)`: the op alone (not its inputs' definitions) plus what its inputs actually contain —
//!   of an input read only below some paths (a bind mount's selector, a copy's source), only
//!   the layers that can change what is there ([`input_reads`]; all of them when a symlink is
//!   on the way).

use cairn_ir::{Digest, FileAction, Graph, MountKind, Op, SourceOp};
use std::collections::HashMap;

/// A cache key: the store's [`cairn_store::CacheKey`] (one type from the key computation to the
/// record's file name and the exported cache).
pub type Key = cairn_store::CacheKey;
use cairn_store::CacheKey;

/// Why a key input is not available.
#[derive(Debug, thiserror::Error)]
pub enum KeyInputError {
    /// The base image is not in the store.
    #[error(
        "image {0} is not in the store (add it with `cairn pull`, `cairn load` or `cairn import`)"
    )]
    ImageMissing(String),
    /// A remote source (HTTP, git) was not fetched before solving.
    #[error("this remote source was not fetched before solving")]
    NotFetched,
    /// The graph reads a local source that was not scanned.
    #[error("the build reads {0}, but it was not scanned")]
    NotScanned(String),
    /// The selection of a local source fails (a missing file, a pattern, a loop).
    #[error(transparent)]
    Context(#[from] cairn_context::ContextError),
    #[error(transparent)]
    Store(#[from] cairn_store::Error),
    /// A stored image's config could not be read.
    #[error(transparent)]
    Image(#[from] cairn_oci::Error),
    /// The image a source names is not of the source's platform.
    #[error("image {reference} is for {have}, not {platform}")]
    WrongPlatform {
        reference: String,
        platform: String,
        have: String,
    },
}

/// What the keys need from outside the graph.
pub trait KeyContext {
    /// The manifest digest of a stored image, by normalized reference, for `platform` (when
    /// the reference names several platforms' images).
    fn image_manifest(
        &self,
        reference: &str,
        platform: &cairn_ir::Platform,
    ) -> Result<String, KeyInputError>;
    /// The layer a remote source (HTTP, git) vertex was fetched into for this build (remote
    /// sources are fetched before solving: `cairn_http`, `cairn_git`).
    fn remote_layer(&self, vertex: &Digest) -> Result<String, KeyInputError>;
    /// The digest of the files a copy (or bind mount) selects from the local source `local`
    /// (`context`, `context:NAME`).
    fn selection(
        &self,
        local: &str,
        src: &str,
        exclude: &[String],
        ignore_mode: bool,
        ignore_owner: bool,
    ) -> Result<[u8; 32], KeyInputError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vertex}: {message}")]
pub struct KeyError {
    /// The vertex.
    pub digest: cairn_ir::Digest,
    /// Description of the vertex (its Dockerfile step).
    pub vertex: String,
    pub message: String,
}

/// Per-vertex extra material for both keys (image manifests, context selections).
pub fn extras(graph: &Graph, cx: &dyn KeyContext) -> Result<HashMap<Digest, Vec<u8>>, KeyError> {
    let locals = graph.local_sources();
    let mut out = HashMap::new();
    for v in &graph.vertices {
        let name = || {
            graph
                .meta
                .get(&v.digest)
                .map(|m| m.description.clone())
                .unwrap_or_else(|| v.digest.to_string())
        };
        let fail = |e: KeyInputError| KeyError {
            digest: v.digest,
            vertex: name(),
            message: crate::with_causes(&e),
        };
        let local = |idx: u32| {
            v.inputs
                .get(idx as usize)
                .and_then(|i| locals.get(&i.vertex).copied())
        };
        let mut extra = Vec::new();
        match &v.op {
            Op::Source(SourceOp::Image {
                reference,
                platform,
            }) => {
                let m = cx.image_manifest(reference, platform).map_err(fail)?;
                extra.extend_from_slice(&(m.len() as u64).to_le_bytes());
                extra.extend_from_slice(m.as_bytes());
            }
            Op::Source(SourceOp::Http { .. } | SourceOp::Git { .. }) => {
                let layer = cx.remote_layer(&v.digest).map_err(fail)?;
                // The layer id, as the source's result: `Solver::source` reads it back.
                extra.extend_from_slice(layer.as_bytes());
            }
            Op::File(f) => {
                for a in &f.actions {
                    if let FileAction::Copy(c) = a
                        && let Some(name) = local(c.source)
                    {
                        let d = cx
                            .selection(
                                name,
                                &c.src,
                                &c.exclude,
                                c.mode.is_some(),
                                c.owner.is_some(),
                            )
                            .map_err(fail)?;
                        extra.extend_from_slice(&d);
                    }
                }
            }
            Op::Exec(x) => {
                // The machine the step's programs are for (the one that runs it, unless it is
                // another's): what the step makes depends on it, so two machines sharing a
                // cache never take each other's native results, and a step emulated here
                // shares the cache of the same step run natively on its own machine.
                let platform = x
                    .platform
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(cairn_ir::Platform::host)
                    .normalized()
                    .to_string();
                extra.extend_from_slice(b"platform\0");
                extra.extend_from_slice(&(platform.len() as u64).to_le_bytes());
                extra.extend_from_slice(platform.as_bytes());
                for m in &x.mounts {
                    if matches!(m.kind, MountKind::Bind)
                        && let Some(name) = m.input.and_then(local)
                    {
                        let d = cx
                            .selection(name, &m.selector, &[], false, false)
                            .map_err(fail)?;
                        extra.extend_from_slice(&d);
                    }
                }
            }
            _ => {}
        }
        out.insert(v.digest, extra);
    }
    Ok(out)
}

/// Definition keys of every vertex (inputs come first in `graph.vertices`).
pub fn definition_keys(graph: &Graph, extras: &HashMap<Digest, Vec<u8>>) -> HashMap<Digest, Key> {
    let mut keys: HashMap<Digest, Key> = HashMap::new();
    for v in &graph.vertices {
        let mut h = blake3::Hasher::new();
        h.update(b"cairn-cache/def/v2\0");
        h.update(v.digest.as_bytes());
        let extra = extras.get(&v.digest).map(Vec::as_slice).unwrap_or_default();
        h.update(&(extra.len() as u64).to_le_bytes());
        h.update(extra);
        h.update(&(v.inputs.len() as u64).to_le_bytes());
        for i in &v.inputs {
            h.update(
                keys.get(&i.vertex)
                    .map(|k| k.0.as_slice())
                    .unwrap_or(&[0u8; 32]),
            );
            h.update(&i.output.to_le_bytes());
        }
        keys.insert(v.digest, CacheKey(*h.finalize().as_bytes()));
    }
    keys
}

/// How an op reads each of its inputs: `None` as a whole (a root filesystem, a merge, the base
/// of a file op), `Some(paths)` only below these paths (a bind mount's selector, a copy's
/// source directory). A layer of the input that cannot change what is seen there is left out
/// of the content key: a step mounting `out/` of a stage does not re-run when the stage only
/// changed other files (BuildKit's testMountRWCache).
pub fn input_reads(op: &Op, inputs: usize) -> Vec<Option<Vec<String>>> {
    let mut reads: Vec<Option<Vec<String>>> = vec![Some(Vec::new()); inputs];
    let mut read = |idx: Option<u32>, path: Option<String>| {
        let Some(slot) = idx.and_then(|i| reads.get_mut(i as usize)) else {
            return;
        };
        match (slot.as_mut(), path) {
            (Some(paths), Some(p)) => paths.push(p),
            (_, None) => *slot = None,
            (None, Some(_)) => {}
        }
    };
    match op {
        Op::Exec(x) => {
            for m in &x.mounts {
                match m.kind {
                    MountKind::Bind => read(m.input, Some(m.selector.clone())),
                    _ => read(m.input, None),
                }
            }
        }
        Op::File(f) => {
            read(f.base, None);
            for a in &f.actions {
                if let FileAction::Copy(c) = a {
                    read(Some(c.source), Some(static_prefix(&c.src)));
                }
            }
        }
        _ => {
            for i in 0..inputs {
                read(u32::try_from(i).ok(), None);
            }
        }
    }
    // An input no action names (nothing reads it) still counts whole.
    for slot in &mut reads {
        if slot.as_ref().is_some_and(Vec::is_empty) {
            *slot = None;
        }
    }
    reads
}

/// The directory a copy source can only read below: its path up to the first wildcard or
/// `--parents` pivot, without the last component when that holds the wildcard.
fn static_prefix(src: &str) -> String {
    // `--parents`: only below the pivot's directory.
    let src = src.split("/./").next().unwrap_or(src);
    match src.find(['*', '?', '[', '\\']) {
        // The component holding the wildcard is not a fixed directory.
        Some(i) => src
            .get(..i)
            .and_then(|fixed| fixed.rsplit_once('/'))
            .map_or("", |(dir, _)| dir)
            .to_string(),
        None => src.to_string(),
    }
}

/// What an input contributes to a content key.
pub enum InputContent<'a> {
    /// A stack of layers (bottom to top).
    Layers(&'a [cairn_store::LayerId]),
    /// The build context: its selected content is already in `extra`.
    Context,
}

/// The content key of an op given its inputs' actual content.
pub fn content_key(op: &Op, extra: &[u8], inputs: &[InputContent<'_>]) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(b"cairn-cache/content/v3\0");
    h.update(cairn_ir::canon::op_digest(op).as_bytes());
    h.update(&(extra.len() as u64).to_le_bytes());
    h.update(extra);
    h.update(&(inputs.len() as u64).to_le_bytes());
    for i in inputs {
        match i {
            InputContent::Layers(layers) => {
                h.update(&[1]);
                h.update(&(layers.len() as u64).to_le_bytes());
                for l in *layers {
                    h.update(&(l.len() as u64).to_le_bytes());
                    h.update(l.as_bytes());
                }
            }
            InputContent::Context => {
                h.update(&[2]);
            }
        }
    }
    CacheKey(*h.finalize().as_bytes())
}

#[cfg(test)]
mod platform_tests {
    use super::*;
    use cairn_ir::{
        ExecOp, GraphBuilder, HostConfig, Input, NetworkMode, SecurityMode, VertexMeta,
    };

    struct NoInputs;

    impl KeyContext for NoInputs {
        fn image_manifest(&self, r: &str, _: &cairn_ir::Platform) -> Result<String, KeyInputError> {
            Err(KeyInputError::ImageMissing(r.to_string()))
        }
        fn remote_layer(&self, _: &Digest) -> Result<String, KeyInputError> {
            Err(KeyInputError::NotFetched)
        }
        fn selection(
            &self,
            local: &str,
            _: &str,
            _: &[String],
            _: bool,
            _: bool,
        ) -> Result<[u8; 32], KeyInputError> {
            Err(KeyInputError::NotScanned(local.to_string()))
        }
    }

    fn extra_of(platform: Option<&str>) -> Vec<u8> {
        let mut b = GraphBuilder::new();
        let run = b
            .add(
                Op::Exec(ExecOp {
                    args: vec!["uname".into()],
                    env: vec![],
                    cwd: "/".into(),
                    user: String::new(),
                    hostname: None,
                    network: NetworkMode::None,
                    security: SecurityMode::Sandbox,
                    mounts: vec![],
                    proxy_env: vec![],
                    host_config: HostConfig::default(),
                    platform: platform.and_then(cairn_ir::Platform::parse).map(Box::new),
                }),
                vec![],
                VertexMeta::default(),
            )
            .expect("add");
        let g = b.finish(
            Some(Input::of(run)),
            cairn_ir::Platform::host(),
            cairn_ir::ImageConfig::default(),
        );
        extras(&g, &NoInputs)
            .expect("extras")
            .remove(&run)
            .expect("the step's extras")
    }

    /// A step's keys say the machine its programs are for: this machine's when it names none
    /// (so a cache shared with another architecture's machines never mixes their results),
    /// the same as naming this machine's platform (an emulated step here shares the cache of
    /// the same step run natively on its own machine), another platform's otherwise.
    #[test]
    fn a_steps_keys_carry_its_effective_platform() {
        let host = cairn_ir::Platform::host().to_string();
        assert_eq!(extra_of(None), extra_of(Some(&host)));
        assert_ne!(extra_of(None), extra_of(Some("linux/s390x")));
        assert_eq!(
            extra_of(Some("linux/arm64")),
            extra_of(Some("linux/aarch64"))
        );
        assert_ne!(
            extra_of(Some("linux/arm/v6")),
            extra_of(Some("linux/arm/v7"))
        );
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn copies_read_below_their_fixed_directory() {
        assert_eq!(static_prefix("/out/a.txt"), "/out/a.txt");
        assert_eq!(static_prefix("/out/*.txt"), "/out");
        assert_eq!(static_prefix("/test/a/b*/./c"), "/test/a");
        assert_eq!(static_prefix("/test/a/./b"), "/test/a");
        assert_eq!(static_prefix("*"), "");
    }
}

/// The key encodings are frozen: these keys must never change without bumping the domain tags
/// (`cairn-cache/def/v2`, `cairn-cache/content/v3`), which deliberately invalidates every
/// cache — in stores and in caches shared through registries. (v2/v3: a step's platform
/// became part of its keys.)
#[cfg(test)]
mod freeze_tests {
    use super::*;
    use cairn_ir::{GraphBuilder, Input, SourceOp, VertexMeta};

    #[test]
    fn key_encodings_are_stable() {
        let mut b = GraphBuilder::new();
        let img = b
            .add(
                Op::Source(SourceOp::Image {
                    reference: "docker.io/library/busybox:latest".into(),
                    platform: cairn_ir::Platform::linux_amd64(),
                }),
                vec![],
                VertexMeta::default(),
            )
            .expect("add");
        let graph = b.finish(
            Some(Input::of(img)),
            cairn_ir::Platform::linux_amd64(),
            cairn_ir::ImageConfig::default(),
        );
        let extras = HashMap::from([(img, b"manifest".to_vec())]);
        let def = definition_keys(&graph, &extras);
        let key = def.get(&img).expect("key");
        assert_eq!(key.to_hex(), STABLE_DEFINITION_KEY);
        let op = &graph.vertices[0].op;
        let content = content_key(
            op,
            b"extra",
            &[
                InputContent::Layers(&[
                    cairn_store::LayerId::parse(&"a".repeat(64)).expect("id"),
                    cairn_store::LayerId::parse(&"b".repeat(64)).expect("id"),
                ]),
                InputContent::Context,
            ],
        );
        assert_eq!(content.to_hex(), STABLE_CONTENT_KEY);
    }

    const STABLE_DEFINITION_KEY: &str =
        "9b1984de8d852c2a955341d20b1183fa89b6d47528c5ea8e73893faef31c8e9d";
    // Inputs are well-formed layer ids since LayerId became a type (the encoding did not
    // change: the previous encoder gives this value for the same ids).
    const STABLE_CONTENT_KEY: &str =
        "cdd44b751dece2d7333f6723068bf9154492acf03b7b349252426ed30486add7";
}

//! The build graph: vertices in dependency order, deduplicated by digest.
//!
//! A [`GraphBuilder`] only accepts a vertex whose inputs are already in it, so every graph is
//! acyclic by construction and `vertices` is always a valid topological order. Adding an op that
//! is already present (same op, same inputs) returns the existing digest: identical sub-graphs
//! are one vertex.

use crate::Digest;
use crate::canon::vertex_digest;
use crate::image::{ImageConfig, Platform};
use crate::op::{InputIndex, Op};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An edge: output `output` of vertex `vertex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Input {
    pub vertex: Digest,
    #[serde(default)]
    pub output: u32,
}

impl Input {
    pub fn of(vertex: Digest) -> Self {
        Input { vertex, output: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Vertex {
    pub digest: Digest,
    pub op: Op,
    pub inputs: Vec<Input>,
}

/// Human-facing facts about a vertex that do not take part in its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct VertexMeta {
    /// e.g. `[build 3/5] RUN make`.
    pub description: String,
    /// The source file the vertex came from (`Dockerfile`).
    pub file: Option<String>,
    /// 1-based inclusive line range in `file`.
    pub lines: Option<(usize, usize)>,
    /// Set on vertices that need not produce a layer on their own (e.g. context sources).
    pub hidden: bool,
    /// Run even when the cache has the result (`--no-cache-filter`, BuildKit's `IgnoreCache`);
    /// the new result is recorded.
    #[serde(default)]
    pub ignore_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("vertex input refers to unknown vertex {0}")]
    UnknownInput(Digest),
    #[error("op refers to input #{index} but the vertex has only {len} inputs")]
    InputIndexOutOfRange { index: InputIndex, len: usize },
    #[error("vertex {stated} does not match its content (recomputed {actual})")]
    DigestMismatch { stated: Digest, actual: Digest },
    #[error("duplicate vertex {0}")]
    Duplicate(Digest),
    #[error("unsupported graph format version {0} (this cairn reads version {1})")]
    Version(u32, u32),
    #[error("malformed graph: {0}")]
    Malformed(String),
    /// What is wrong, and where in the JSON document (`graph.vertices[3].op.exec.args`).
    #[error("{path}: {error}")]
    At {
        path: String,
        error: Box<GraphError>,
    },
}

/// A complete build definition: the vertices, the result, and the image config of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Graph {
    /// In topological order: every input appears before the vertex using it.
    pub vertices: Vec<Vertex>,
    /// The final state; `None` means an empty filesystem (`FROM scratch` with no changes).
    pub result: Option<Input>,
    pub platform: Platform,
    pub image: ImageConfig,
    #[serde(default)]
    pub meta: BTreeMap<Digest, VertexMeta>,
}

impl Graph {
    /// The local-source vertices (build contexts, named directories) and their names.
    pub fn local_sources(&self) -> HashMap<Digest, &str> {
        self.vertices
            .iter()
            .filter_map(|v| match &v.op {
                Op::Source(crate::SourceOp::Local(l)) => Some((v.digest, l.name.as_str())),
                _ => None,
            })
            .collect()
    }

    pub fn vertex(&self, d: &Digest) -> Option<&Vertex> {
        self.vertices.iter().find(|v| &v.digest == d)
    }

    /// Check every invariant the builder guarantees: digests match content, inputs exist and come
    /// first, op input indices are in range, no duplicates, and `result` exists.
    pub fn validate(&self) -> Result<(), GraphError> {
        let mut seen = HashSet::new();
        for v in &self.vertices {
            for i in &v.inputs {
                if !seen.contains(&i.vertex) {
                    return Err(GraphError::UnknownInput(i.vertex));
                }
            }
            check_input_indices(&v.op, v.inputs.len())?;
            let actual = vertex_digest(&v.op, &v.inputs);
            if actual != v.digest {
                return Err(GraphError::DigestMismatch {
                    stated: v.digest,
                    actual,
                });
            }
            if !seen.insert(v.digest) {
                return Err(GraphError::Duplicate(v.digest));
            }
        }
        if let Some(r) = self.result.filter(|r| !seen.contains(&r.vertex)) {
            return Err(GraphError::UnknownInput(r.vertex));
        }
        Ok(())
    }
}

impl Graph {
    /// The graph with some ops replaced (`replace` returns the new op, or `None` to keep it):
    /// every vertex from a replaced one on gets its digest re-derived, metadata follows its
    /// vertex, and vertices that become identical are one. (Pinning base images, renaming a
    /// local source.)
    pub fn rewrite(
        &self,
        mut replace: impl FnMut(&Vertex) -> Option<Op>,
    ) -> Result<Graph, GraphError> {
        let mut b = GraphBuilder::new();
        let mut renamed: DigestMap<Digest> = DigestMap::default();
        let rename = |renamed: &DigestMap<Digest>, i: &Input| Input {
            vertex: renamed.get(&i.vertex).copied().unwrap_or(i.vertex),
            output: i.output,
        };
        for v in &self.vertices {
            let op = replace(v).unwrap_or_else(|| v.op.clone());
            let inputs = v.inputs.iter().map(|i| rename(&renamed, i)).collect();
            let meta = self.meta.get(&v.digest).cloned().unwrap_or_default();
            renamed.insert(v.digest, b.add(op, inputs, meta)?);
        }
        let result = self.result.as_ref().map(|r| rename(&renamed, r));
        Ok(b.finish(result, self.platform.clone(), self.image.clone()))
    }
}

fn check_input_indices(op: &Op, len: usize) -> Result<(), GraphError> {
    let check = |index: InputIndex| {
        if (index as usize) < len {
            Ok(())
        } else {
            Err(GraphError::InputIndexOutOfRange { index, len })
        }
    };
    match op {
        Op::Source(_) => Ok(()),
        Op::Exec(x) => x.mounts.iter().filter_map(|m| m.input).try_for_each(check),
        Op::File(f) => {
            f.base.map(check).transpose()?;
            f.actions
                .iter()
                .filter_map(|a| match a {
                    crate::op::FileAction::Copy(c) => Some(c.source),
                    _ => None,
                })
                .try_for_each(check)
        }
        Op::Merge(m) => m.inputs.iter().copied().try_for_each(check),
    }
}

/// Digests are uniformly distributed already: hash maps keyed by them use the first 8 bytes as
/// the hash instead of running SipHash over all 32.
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b.iter_mut().zip(chunk).for_each(|(d, s)| *d = *s);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

type DigestMap<V> = HashMap<Digest, V, std::hash::BuildHasherDefault<DigestHasher>>;
type DigestSet = HashSet<Digest, std::hash::BuildHasherDefault<DigestHasher>>;

/// Builds a [`Graph`] one vertex at a time.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    vertices: Vec<Vertex>,
    index: DigestMap<usize>,
    meta: BTreeMap<Digest, VertexMeta>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a vertex (or find the identical one) and return its digest. The first metadata given
    /// for a digest is kept.
    pub fn add(
        &mut self,
        op: Op,
        inputs: Vec<Input>,
        meta: VertexMeta,
    ) -> Result<Digest, GraphError> {
        for i in &inputs {
            if !self.index.contains_key(&i.vertex) {
                return Err(GraphError::UnknownInput(i.vertex));
            }
        }
        check_input_indices(&op, inputs.len())?;
        let digest = vertex_digest(&op, &inputs);
        if !self.index.contains_key(&digest) {
            self.index.insert(digest, self.vertices.len());
            self.vertices.push(Vertex { digest, op, inputs });
            self.meta.insert(digest, meta);
        } else if meta.ignore_cache
            && let Some(m) = self.meta.get_mut(&digest)
        {
            // Shared by a stage whose cache is ignored: ignored for it too.
            m.ignore_cache = true;
        }
        Ok(digest)
    }

    pub fn op(&self, d: &Digest) -> Option<&Op> {
        let i = *self.index.get(d)?;
        self.vertices.get(i).map(|v| &v.op)
    }

    /// Finish, keeping only the vertices `result` depends on (so unreachable stages and unused
    /// helper vertices never reach the solver).
    pub fn finish(self, result: Option<Input>, platform: Platform, image: ImageConfig) -> Graph {
        let mut keep: DigestSet = DigestSet::default();
        let mut stack: Vec<Digest> = result.iter().map(|r| r.vertex).collect();
        while let Some(d) = stack.pop() {
            if keep.insert(d)
                && let Some(v) = self.index.get(&d).and_then(|&i| self.vertices.get(i))
            {
                stack.extend(v.inputs.iter().map(|x| x.vertex));
            }
        }
        let vertices: Vec<Vertex> = self
            .vertices
            .into_iter()
            .filter(|v| keep.contains(&v.digest))
            .collect();
        let meta = self
            .meta
            .into_iter()
            .filter(|(d, _)| keep.contains(d))
            .collect();
        Graph {
            vertices,
            result,
            platform,
            image,
            meta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::*;

    fn image(r: &str) -> Op {
        Op::Source(SourceOp::Image {
            reference: r.into(),
            platform: Platform::linux_amd64(),
        })
    }

    fn mkdir(p: &str) -> Op {
        Op::File(FileOp {
            base: Some(0),
            actions: vec![FileAction::Mkdir {
                path: p.into(),
                mode: 0o755,
                make_parents: true,
                owner: None,
            }],
        })
    }

    #[test]
    fn identical_vertices_dedup_and_unreachable_are_pruned() {
        let mut b = GraphBuilder::new();
        let a = b
            .add(image("busybox"), vec![], VertexMeta::default())
            .unwrap();
        let a2 = b
            .add(image("busybox"), vec![], VertexMeta::default())
            .unwrap();
        assert_eq!(a, a2);
        let x = b
            .add(mkdir("/x"), vec![Input::of(a)], VertexMeta::default())
            .unwrap();
        let _unused = b
            .add(mkdir("/y"), vec![Input::of(a)], VertexMeta::default())
            .unwrap();
        let g = b.finish(
            Some(Input::of(x)),
            Platform::linux_amd64(),
            ImageConfig::default(),
        );
        assert_eq!(g.vertices.len(), 2);
        g.validate().unwrap();
    }

    #[test]
    fn unknown_inputs_and_bad_indices_are_rejected() {
        let mut b = GraphBuilder::new();
        let fake = crate::Digest::from_bytes([7; 32]);
        assert!(matches!(
            b.add(mkdir("/x"), vec![Input::of(fake)], VertexMeta::default()),
            Err(GraphError::UnknownInput(_))
        ));
        assert!(matches!(
            b.add(mkdir("/x"), vec![], VertexMeta::default()),
            Err(GraphError::InputIndexOutOfRange { .. })
        ));
    }

    #[test]
    fn rewriting_an_op_re_derives_what_depends_on_it() {
        let mut b = GraphBuilder::new();
        let a = b
            .add(image("busybox"), vec![], VertexMeta::default())
            .unwrap();
        let x = b
            .add(
                mkdir("/x"),
                vec![Input::of(a)],
                VertexMeta {
                    description: "mkdir".into(),
                    ..VertexMeta::default()
                },
            )
            .unwrap();
        let g = b.finish(
            Some(Input::of(x)),
            Platform::linux_amd64(),
            ImageConfig::default(),
        );
        let same = g.rewrite(|_| None).unwrap();
        assert_eq!(same, g);
        let pinned = g
            .rewrite(|v| matches!(v.op, Op::Source(_)).then(|| image("busybox@sha256:0")))
            .unwrap();
        pinned.validate().unwrap();
        assert_ne!(pinned.vertices[0].digest, a);
        let top = pinned.result.unwrap().vertex;
        assert_ne!(top, x, "downstream re-derived");
        assert_eq!(
            pinned.vertices[1].inputs[0].vertex,
            pinned.vertices[0].digest
        );
        assert_eq!(
            pinned.meta[&top].description, "mkdir",
            "meta follows its vertex"
        );
    }

    #[test]
    fn tampered_graph_fails_validation() {
        let mut b = GraphBuilder::new();
        let a = b
            .add(image("busybox"), vec![], VertexMeta::default())
            .unwrap();
        let mut g = b.finish(
            Some(Input::of(a)),
            Platform::linux_amd64(),
            ImageConfig::default(),
        );
        g.vertices[0].op = image("alpine");
        assert!(matches!(
            g.validate(),
            Err(GraphError::DigestMismatch { .. })
        ));
    }
}

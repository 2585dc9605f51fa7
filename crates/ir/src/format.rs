//! Serialized forms of a [`Graph`], so a frontend can run as a separate process.
//!
//! * JSON: `{"format": "cairn.graph", "version": 3, "graph": {...}}` — the graph with digests as
//!   `blake3:<hex>` strings and each op an object with one key naming its kind (`{"exec": {...}}`).
//!   Documented in `docs/ir.md`, its schema in `docs/ir.schema.json`; read by
//!   [`crate::authored`], which also takes vertices named by ids instead of digests.
//! * Binary: the ASCII magic `CAIRNG`, a little-endian `u32` version, then the graph as postcard.
//!
//! Both loaders check the version and recompute every digest: a graph whose ops were edited
//! without re-hashing is rejected rather than trusted.

use crate::{FORMAT_VERSION, Graph, GraphError};
use serde::{Deserialize, Serialize};

use crate::authored::FORMAT_NAME;
const MAGIC: &[u8; 6] = b"CAIRNG";

#[derive(Serialize, Deserialize)]
struct Envelope<G> {
    format: String,
    version: u32,
    graph: G,
}

fn envelope(g: &Graph) -> Envelope<&Graph> {
    Envelope {
        format: FORMAT_NAME.to_string(),
        version: FORMAT_VERSION,
        graph: g,
    }
}

pub fn to_json(g: &Graph) -> String {
    // Serializing plain data structures with string keys cannot fail.
    serde_json::to_string_pretty(&envelope(g)).unwrap_or_default()
}

/// The JSON document as a value (what a frontend puts in its `result` message).
pub fn to_value(g: &Graph) -> serde_json::Value {
    serde_json::to_value(envelope(g)).unwrap_or_default()
}

/// [`from_json`] of a document already parsed as JSON.
pub fn from_value(v: &serde_json::Value) -> Result<Graph, GraphError> {
    crate::authored::load_value(v)
}

/// Read a graph document: `cairn plan --format json` output, or one a frontend or a person
/// wrote, naming vertices by id (see [`crate::authored`]). Errors name the JSON path.
pub fn from_json(s: &str) -> Result<Graph, GraphError> {
    crate::authored::load(s)
}

pub fn to_binary(g: &Graph) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // postcard serialization into a Vec only fails for unsupported serde features, which the graph
    // types do not use.
    out.extend(postcard::to_stdvec(g).unwrap_or_default());
    out
}

pub fn from_binary(bytes: &[u8]) -> Result<Graph, GraphError> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| GraphError::Malformed("missing CAIRNG magic".into()))?;
    let (ver, body) = rest
        .split_at_checked(4)
        .ok_or_else(|| GraphError::Malformed("truncated header".into()))?;
    let mut v = [0u8; 4];
    v.copy_from_slice(ver);
    let version = u32::from_le_bytes(v);
    if version != FORMAT_VERSION {
        return Err(GraphError::Version(version, FORMAT_VERSION));
    }
    let g: Graph = postcard::from_bytes(body).map_err(|e| GraphError::Malformed(e.to_string()))?;
    g.validate()?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::*;
    use crate::{GraphBuilder, ImageConfig, Input, Platform, VertexMeta};

    fn sample() -> Graph {
        let mut b = GraphBuilder::new();
        let base = b
            .add(
                Op::Source(SourceOp::Image {
                    reference: "docker.io/library/busybox:latest".into(),
                    platform: Platform::linux_amd64(),
                }),
                vec![],
                VertexMeta {
                    description: "FROM busybox".into(),
                    file: Some("Dockerfile".into()),
                    lines: Some((1, 1)),
                    hidden: false,
                    ignore_cache: false,
                },
            )
            .unwrap();
        let ctx = b
            .add(
                Op::Source(SourceOp::Local(LocalSource {
                    name: "context".into(),
                    include: vec![],
                    exclude: vec!["*.md".into()],
                })),
                vec![],
                VertexMeta::default(),
            )
            .unwrap();
        let copy = b
            .add(
                Op::File(FileOp {
                    base: Some(0),
                    actions: vec![FileAction::Copy(CopyAction {
                        source: 1,
                        src: "/src".into(),
                        dest: "/app/".into(),
                        follow_symlinks: true,
                        dir_contents_only: true,
                        allow_wildcard: true,
                        allow_empty_wildcard: false,
                        create_dest_path: true,
                        owner: Some(Owner::parse("1000:app")),
                        mode: Some("755".into()),
                        include: vec![],
                        exclude: vec![],
                        unpack_archive: false,
                        parents: false,
                    })],
                }),
                vec![Input::of(base), Input::of(ctx)],
                VertexMeta::default(),
            )
            .unwrap();
        // Every optional field set, so a field a format cannot carry shows here.
        let run = b
            .add(
                Op::Exec(ExecOp {
                    args: vec!["sh".into(), "-c".into(), "make".into()],
                    env: vec!["A=1".into()],
                    cwd: "/app".into(),
                    user: "1000".into(),
                    hostname: Some("builder".into()),
                    network: NetworkMode::None,
                    security: SecurityMode::Sandbox,
                    mounts: vec![Mount {
                        target: "/".into(),
                        input: Some(0),
                        selector: "/".into(),
                        readonly: false,
                        kind: MountKind::Rootfs,
                    }],
                    proxy_env: vec!["HTTP_PROXY=http://proxy".into()],
                    host_config: HostConfig {
                        extra_hosts: vec![HostEntry {
                            host: "db".into(),
                            ip: "10.0.0.2".into(),
                        }],
                        shm_size: Some(1 << 27),
                        ulimits: vec![Ulimit {
                            name: "nofile".into(),
                            soft: 1024,
                            hard: Ulimit::UNLIMITED,
                        }],
                    },
                    platform: Platform::parse("linux/arm64").map(Box::new),
                }),
                vec![Input::of(copy)],
                VertexMeta {
                    ignore_cache: true,
                    hidden: true,
                    ..VertexMeta::default()
                },
            )
            .unwrap();
        let mut image = ImageConfig::default();
        image.env_set("PATH", "/bin");
        image.cmd = Some(vec!["sh".into()]);
        // One entry made by a step (no creation time yet), one kept from a base image.
        image.history.push(crate::image::History {
            created_by: "RUN true".into(),
            ..Default::default()
        });
        image.history.push(crate::image::History {
            created: Some("2024-01-01T00:00:00Z".into()),
            created_by: "base".into(),
            ..Default::default()
        });
        b.finish(Some(Input::of(run)), Platform::linux_amd64(), image)
    }

    #[test]
    fn json_roundtrip() {
        let g = sample();
        let s = to_json(&g);
        assert!(s.contains("\"format\": \"cairn.graph\""));
        assert_eq!(from_json(&s).unwrap(), g);
    }

    #[test]
    fn binary_roundtrip_and_is_smaller() {
        let g = sample();
        let bin = to_binary(&g);
        assert_eq!(from_binary(&bin).unwrap(), g);
        assert!(bin.len() < to_json(&g).len() / 2);
    }

    #[test]
    fn wrong_version_and_tampering_are_rejected() {
        let g = sample();
        let s = to_json(&g).replace(&format!("\"version\": {FORMAT_VERSION}"), "\"version\": 99");
        assert!(matches!(
            from_json(&s),
            Err(GraphError::At { error, .. }) if *error == GraphError::Version(99, FORMAT_VERSION)
        ));
        let s = to_json(&g).replace("/app/", "/other/");
        assert!(matches!(
            from_json(&s),
            Err(GraphError::At { error, .. }) if matches!(*error, GraphError::DigestMismatch { .. })
        ));
        let mut bin = to_binary(&g);
        bin.truncate(bin.len() / 2);
        assert!(from_binary(&bin).is_err());
        assert!(from_binary(b"nope").is_err());
    }
}

//! `docs/ir.schema.json` is the schema of what `cairn build --frontend ir` reads: generated
//! from the IR's types (`cairn_ir::authored::json_schema`), kept in the repository for
//! frontend authors, and checked here to be what the types say. After a change to the IR's
//! types, `CAIRN_WRITE_SCHEMA=1 cargo test -p cairn-ir --test schema` writes it anew.

#![allow(clippy::unwrap_used)]

use cairn_ir::op::*;
use cairn_ir::{GraphBuilder, ImageConfig, Input, Platform, VertexMeta};
use std::path::PathBuf;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/ir.schema.json")
}

#[test]
fn the_schema_file_is_the_types_schema() {
    let want = format!(
        "{}\n",
        serde_json::to_string_pretty(&cairn_ir::authored::json_schema()).unwrap()
    );
    if std::env::var_os("CAIRN_WRITE_SCHEMA").is_some() {
        std::fs::write(schema_path(), &want).unwrap();
    }
    let have = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        have == want,
        "docs/ir.schema.json is not the IR types' schema: run \
         CAIRN_WRITE_SCHEMA=1 cargo test -p cairn-ir --test schema"
    );
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn written_graphs_meet_the_schema_and_broken_ones_do_not() {
    let mut b = GraphBuilder::new();
    let base = b
        .add(
            Op::Source(SourceOp::Image {
                reference: "docker.io/library/busybox:latest".into(),
                platform: Platform::linux_amd64(),
            }),
            vec![],
            VertexMeta::default(),
        )
        .unwrap();
    let ctx = b
        .add(
            Op::Source(SourceOp::Local(LocalSource {
                name: "context".into(),
                include: vec![],
                exclude: vec![],
            })),
            vec![],
            VertexMeta::default(),
        )
        .unwrap();
    let run = b
        .add(
            Op::Exec(ExecOp {
                args: vec!["true".into()],
                env: vec![],
                cwd: "/".into(),
                user: String::new(),
                hostname: None,
                network: NetworkMode::None,
                security: SecurityMode::Sandbox,
                mounts: vec![
                    Mount {
                        target: "/".into(),
                        input: Some(0),
                        selector: "/".into(),
                        readonly: false,
                        kind: MountKind::Rootfs,
                    },
                    Mount {
                        target: "/c".into(),
                        input: None,
                        selector: "/".into(),
                        readonly: false,
                        kind: MountKind::Cache {
                            id: "c".into(),
                            sharing: CacheSharing::Locked,
                            mode: Some(0o750),
                            uid: None,
                            gid: None,
                        },
                    },
                ],
                proxy_env: vec![],
                host_config: HostConfig::default(),
                platform: None,
            }),
            vec![Input::of(base)],
            VertexMeta {
                description: "RUN true".into(),
                file: Some("Dockerfile".into()),
                lines: Some((2, 2)),
                ..VertexMeta::default()
            },
        )
        .unwrap();
    let copy = b
        .add(
            Op::File(FileOp {
                base: Some(0),
                actions: vec![
                    FileAction::Mkfile {
                        path: "/f".into(),
                        mode: 0o644,
                        data: b"hi".to_vec(),
                        owner: Some(Owner::parse("1:2")),
                    },
                    FileAction::Copy(CopyAction {
                        source: 1,
                        src: "/".into(),
                        dest: "/app/".into(),
                        follow_symlinks: true,
                        dir_contents_only: true,
                        allow_wildcard: true,
                        allow_empty_wildcard: true,
                        create_dest_path: true,
                        owner: Some(Owner::parse("app")),
                        mode: Some("0755".into()),
                        include: vec!["*.rs".into()],
                        exclude: vec![],
                        unpack_archive: false,
                        parents: false,
                    }),
                ],
            }),
            vec![Input::of(run), Input::of(ctx)],
            VertexMeta::default(),
        )
        .unwrap();
    let image = ImageConfig {
        cmd: Some(vec!["sh".into()]),
        ..ImageConfig::default()
    };
    let g = b.finish(Some(Input::of(copy)), Platform::linux_amd64(), image);
    let v = validator();
    let json: serde_json::Value = serde_json::from_str(&cairn_ir::format::to_json(&g)).unwrap();
    let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // What the loader refuses, the schema refuses too.
    let minimal = serde_json::json!({
        "format": "cairn.graph", "version": 3,
        "graph": {"vertices": [{"id": "a", "op": {"merge": {"inputs": []}}}],
                  "platform": {"os": "linux", "architecture": "amd64"}}
    });
    assert!(v.is_valid(&minimal));
    for (pointer, bad) in [
        ("/format", serde_json::json!("other")),
        ("/graph/vertices/0/op", serde_json::json!({"explode": {}})),
        ("/graph/vertices/0/digest", serde_json::json!("sha256:00")),
        ("/graph/vertices/0/colour", serde_json::json!(1)),
        ("/graph/platform", serde_json::json!("linux/amd64")),
    ] {
        let mut doc = minimal.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent).unwrap()[key] = bad.clone();
        assert!(!v.is_valid(&doc), "{pointer} = {bad}");
        assert!(
            cairn_ir::format::from_json(&doc.to_string()).is_err(),
            "{pointer} = {bad}"
        );
    }
}

//! An example frontend on `cairn-frontend-sdk`: a build file of one instruction per line,
//!
//! ```text
//! # comments and blank lines are skipped
//! from busybox
//! env GREETING=hello
//! copy app.sh /app/app.sh
//! run sh /app/app.sh > /app/out.txt
//! cmd cat /app/out.txt
//! ```
//!
//! turned into a graph: the SDK's [`Client`] reads the file and resolves the base image through
//! cairn, `cairn_ir::GraphBuilder` makes the vertices, and each step carries its line, so cairn
//! shows a failing step (and a mistake in the file) at the right place. Build with
//! `cairn build --frontend exec:cairn-lines-frontend -f build.lines .`.

use cairn_frontend_sdk::{Client, Error};
use cairn_ir::{
    CopyAction, ExecOp, FileAction, FileOp, GraphBuilder, Input, LocalSource, Mount, MountKind, Op,
    SourceOp, VertexMeta,
};

/// A mistake in the build file, at its line.
struct Mistake(usize, String);

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // stderr is shown to the user; stdout belongs to the protocol.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("cairn-lines-frontend: {e}\n"),
            );
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let mut client = Client::connect()?;
    let file = client
        .request()
        .options
        .get("filename")
        .cloned()
        .unwrap_or_else(|| "build.lines".into());
    let text = String::from_utf8_lossy(&client.read_file(&file)?).into_owned();
    match lower(&mut client, &file, &text) {
        Ok(graph) => client.finish(&graph),
        Err(Mistake(line, message)) => client.fail(&message, Some(&file), Some(line)),
    }
}

fn lower(
    client: &mut Client<impl std::io::BufRead, impl std::io::Write>,
    file: &str,
    text: &str,
) -> Result<cairn_ir::Graph, Mistake> {
    let platform = client.request().platform.clone();
    let mut g = GraphBuilder::new();
    let mut top: Option<cairn_ir::Digest> = None;
    let mut config = cairn_ir::ImageConfig::default();
    let meta = |line: usize, what: &str| VertexMeta {
        description: what.to_string(),
        file: Some(file.to_string()),
        lines: Some((line, line)),
        ..VertexMeta::default()
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let (word, rest) = raw.split_once(' ').unwrap_or((raw, ""));
        let rest = rest.trim();
        let add = |g: &mut GraphBuilder, op: Op, inputs: Vec<Input>| {
            g.add(op, inputs, meta(line, raw))
                .map_err(|e| Mistake(line, e.to_string()))
        };
        match (word, top) {
            ("from", None) => {
                let base = client
                    .resolve_image(rest, None)
                    .map_err(|e| Mistake(line, format!("cannot use {rest}: {e}")))?;
                config = base.config;
                let reference = base.pinned.unwrap_or_else(|| rest.to_string());
                top = Some(add(
                    &mut g,
                    Op::Source(SourceOp::Image {
                        reference,
                        platform: platform.clone(),
                    }),
                    vec![],
                )?);
            }
            ("from", Some(_)) => return Err(Mistake(line, "only one `from`".into())),
            (_, None) => {
                return Err(Mistake(
                    line,
                    "the file must start with `from IMAGE`".into(),
                ));
            }
            ("env", Some(_)) => {
                let (k, v) = rest
                    .split_once('=')
                    .ok_or_else(|| Mistake(line, "expected `env NAME=VALUE`".into()))?;
                config.env_set(k, v);
            }
            ("cmd", Some(_)) => {
                config.cmd = Some(vec!["/bin/sh".into(), "-c".into(), rest.into()]);
            }
            ("copy", Some(base)) => {
                let (src, dest) = rest
                    .split_once(' ')
                    .ok_or_else(|| Mistake(line, "expected `copy SRC DEST`".into()))?;
                if client
                    .stat(src)
                    .map_err(|e| Mistake(line, e.to_string()))?
                    .is_none()
                {
                    return Err(Mistake(line, format!("{src} is not in the build context")));
                }
                let context = add(
                    &mut g,
                    Op::Source(SourceOp::Local(LocalSource {
                        name: LocalSource::MAIN.into(),
                        include: vec![],
                        exclude: vec![],
                    })),
                    vec![],
                )?;
                let copy = CopyAction {
                    source: 1,
                    src: format!("/{src}"),
                    dest: dest.trim().into(),
                    follow_symlinks: true,
                    dir_contents_only: false,
                    allow_wildcard: false,
                    allow_empty_wildcard: false,
                    create_dest_path: true,
                    owner: None,
                    mode: None,
                    include: vec![],
                    exclude: vec![],
                    unpack_archive: false,
                    parents: false,
                };
                top = Some(add(
                    &mut g,
                    Op::File(FileOp {
                        base: Some(0),
                        actions: vec![FileAction::Copy(copy)],
                    }),
                    vec![Input::of(base), Input::of(context)],
                )?);
                push_history(&mut config, raw);
            }
            ("run", Some(base)) => {
                top = Some(add(
                    &mut g,
                    Op::Exec(ExecOp {
                        args: vec!["/bin/sh".into(), "-c".into(), rest.into()],
                        env: config.env.clone(),
                        cwd: config.working_dir.clone().unwrap_or_else(|| "/".into()),
                        user: config.user.clone().unwrap_or_default(),
                        hostname: None,
                        network: Default::default(),
                        security: Default::default(),
                        mounts: vec![Mount {
                            target: "/".into(),
                            input: Some(0),
                            selector: "/".into(),
                            readonly: false,
                            kind: MountKind::Rootfs,
                        }],
                        proxy_env: vec![],
                        host_config: Default::default(),
                        platform: None,
                    }),
                    vec![Input::of(base)],
                )?);
                push_history(&mut config, raw);
            }
            (other, Some(_)) => {
                return Err(Mistake(
                    line,
                    format!("unknown instruction {other:?} (from, env, copy, run, cmd)"),
                ));
            }
        }
    }
    let result = top.ok_or_else(|| Mistake(1, "the file is empty".into()))?;
    Ok(g.finish(Some(Input::of(result)), platform, config))
}

fn push_history(config: &mut cairn_ir::ImageConfig, step: &str) {
    config.history.push(cairn_ir::image::History {
        created: None,
        created_by: step.to_string(),
        comment: None,
        empty_layer: false,
    });
}

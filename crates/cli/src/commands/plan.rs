//! `cairn plan`: lower a Dockerfile and print the graph — every vertex with its digest, op, inputs
//! and the Dockerfile lines it came from. The digests are the ones the solver uses.

use crate::commands::input::{BuildInput, BuildInputArgs};
use anyhow::Result;
use cairn_ir::{Digest, FileAction, Graph, MountKind, Op, SourceOp};
use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::fmt::Write as _;

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// text (one vertex a line), json (the graph document `--frontend ir` reads) or dot.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Store whose base images (their ENV, WORKDIR, ONBUILD...) the plan uses, as `cairn build`
    /// does. Default: the default store, if it exists. Planning never pulls.
    #[arg(long)]
    pub root: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Dot,
}

pub fn run(args: PlanArgs) -> Result<()> {
    let input = BuildInput::load(&args.input)?;
    // With a store, base images resolve exactly as in `cairn build`, so the digests printed
    // are the ones the build uses; without one, base images count as unknown (empty config).
    let root = args
        .root
        .clone()
        .unwrap_or_else(cairn_store::Store::default_root);
    // Only an existing store: planning creates nothing (`--root` naming any other directory
    // plans without base images, as with no store).
    let lowered = if root.join(cairn_store::LAYOUT_FILE).is_file() {
        let store = cairn_store::Store::open(&root)?;
        input.lower(&cairn_build::StoreResolver::new(&store))?
    } else {
        input.lower(&cairn_ir::resolve::NoResolver)?
    };
    for w in &lowered.warnings {
        errln!("warning: {w}");
    }
    let g = &lowered.graph;
    match args.format {
        PlanFormat::Json => outln!("{}", cairn_ir::format::to_json(g)),
        PlanFormat::Dot => out!("{}", dot(g)),
        PlanFormat::Text => out!("{}", text(g)),
    }
    Ok(())
}

/// Numbers vertices `#1..` in topological order for cross-references.
fn numbering(g: &Graph) -> HashMap<Digest, usize> {
    g.vertices
        .iter()
        .enumerate()
        .map(|(i, v)| (v.digest, i + 1))
        .collect()
}

pub fn text(g: &Graph) -> String {
    let num = numbering(g);
    let mut out = String::new();
    for v in &g.vertices {
        let n = num[&v.digest];
        let meta = g.meta.get(&v.digest);
        let _ = writeln!(out, "#{n} {} {}", v.digest, summary(&v.op));
        if let Some(m) = meta {
            let place = match (&m.file, m.lines) {
                (Some(f), Some((a, b))) if a == b && a > 0 => format!("  ({f}:{a})"),
                (Some(f), Some((a, b))) if a > 0 => format!("  ({f}:{a}-{b})"),
                _ => String::new(),
            };
            if !m.description.is_empty() || !place.is_empty() {
                let _ = writeln!(out, "    {}{place}", m.description);
            }
        }
        if !v.inputs.is_empty() {
            let ins: Vec<String> = v
                .inputs
                .iter()
                .map(|i| format!("#{}", num.get(&i.vertex).copied().unwrap_or(0)))
                .collect();
            let _ = writeln!(out, "    inputs: {}", ins.join(" "));
        }
    }
    match &g.result {
        Some(r) => {
            let _ = writeln!(
                out,
                "result: #{} {}",
                num.get(&r.vertex).copied().unwrap_or(0),
                r.vertex
            );
        }
        None => out.push_str("result: scratch (empty filesystem)\n"),
    }
    let _ = writeln!(out, "platform: {}", g.platform);
    out
}

fn summary(op: &Op) -> String {
    match op {
        Op::Source(SourceOp::Image { reference, .. }) => format!("source image {reference}"),
        Op::Source(SourceOp::Local(l)) => {
            format!(
                "source local {} (exclude {} patterns)",
                l.name,
                l.exclude.len()
            )
        }
        Op::Source(SourceOp::Http { url, .. }) => format!("source http {url}"),
        Op::Source(SourceOp::Git { remote, .. }) => format!("source git {remote}"),
        Op::Exec(x) => {
            let extra: Vec<String> = x
                .mounts
                .iter()
                .filter(|m| !matches!(m.kind, MountKind::Rootfs))
                .map(|m| {
                    let kind = match &m.kind {
                        MountKind::Rootfs => "rootfs",
                        MountKind::Bind => "bind",
                        MountKind::Cache { .. } => "cache",
                        MountKind::Tmpfs { .. } => "tmpfs",
                        MountKind::Secret { .. } => "secret",
                        MountKind::Ssh { .. } => "ssh",
                    };
                    format!("{kind}:{}", m.target)
                })
                .collect();
            let mounts = if extra.is_empty() {
                String::new()
            } else {
                format!(" [mounts {}]", extra.join(" "))
            };
            format!("exec {}{mounts}", shell_words(&x.args))
        }
        Op::File(f) => {
            let actions: Vec<String> = f
                .actions
                .iter()
                .map(|a| match a {
                    FileAction::Copy(c) => format!("copy {} -> {}", c.src, c.dest),
                    FileAction::Mkdir { path, .. } => format!("mkdir {path}"),
                    FileAction::Mkfile { path, data, .. } => {
                        format!("mkfile {path} ({} bytes)", data.len())
                    }
                    FileAction::Rm { path, .. } => format!("rm {path}"),
                    FileAction::Symlink { target, link } => format!("symlink {link} -> {target}"),
                })
                .collect();
            format!("file {}", actions.join("; "))
        }
        Op::Merge(m) => format!("merge {} inputs", m.inputs.len()),
    }
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains([' ', '\t', '\n', '"']) || a.is_empty() {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn dot(g: &Graph) -> String {
    let num = numbering(g);
    let mut out =
        String::from("digraph cairn {\n  rankdir=BT;\n  node [shape=box, fontname=monospace];\n");
    for v in &g.vertices {
        let label = g
            .meta
            .get(&v.digest)
            .map(|m| m.description.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| summary(&v.op));
        let _ = writeln!(
            out,
            "  v{} [label={:?}, tooltip={:?}];",
            num[&v.digest],
            format!("{}\\n{}", label, v.digest.short()),
            v.digest.to_string()
        );
    }
    // Edges point from an input to the vertex that uses it.
    for v in &g.vertices {
        for i in &v.inputs {
            if let (Some(a), Some(b)) = (num.get(&i.vertex), num.get(&v.digest)) {
                let _ = writeln!(out, "  v{a} -> v{b};");
            }
        }
    }
    out.push_str("}\n");
    out
}

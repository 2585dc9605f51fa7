//! Typed Dockerfile instructions: what each raw [`Node`](crate::parser::Node) means, with its
//! flags parsed. Words are kept *unexpanded* (`$VAR` still in them): expansion needs the build-arg
//! and ENV scope, which only lowering knows.

use crate::parser::{Heredoc, Span};
use serde::Serialize;

/// A string still to be word-expanded, as written in the Dockerfile.
pub type Raw = String;

/// Shell form (one string run through the stage's SHELL) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Shell(Raw),
    Exec(Vec<Raw>),
}

/// `KEY=value` pairs of ENV, LABEL; the key and value are raw (unexpanded, quotes kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: Raw,
    pub value: Raw,
}

/// One `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<Raw>,
}

/// `--mount=type=...` of RUN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// `target`/`dst`/`destination`; required except for secret/ssh (which have defaults).
    pub target: Option<Raw>,
    /// `source`/`src`: path inside `from` (bind/cache) or the secret file name.
    pub source: Option<Raw>,
    /// `from=`: a stage name, stage index or image reference.
    pub from: Option<Raw>,
    /// `readonly`/`ro` (bind defaults to read-only; `rw`/`readwrite` clears it).
    pub readonly: bool,
    /// cache: `id=`; secret/ssh: `id=`.
    pub id: Option<Raw>,
    pub sharing: Sharing,
    /// secret/ssh: `required=`.
    pub required: bool,
    /// `mode=` (octal), `uid=`, `gid=` for cache/secret/ssh.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// tmpfs: `size=` in bytes.
    pub size: Option<u64>,
    /// secret: `env=` (expose the secret as an environment variable).
    pub env: Option<Raw>,
    /// The whole `--mount` value, when a key whose value is typed here (`type`, `mode`, ...)
    /// holds a variable: BuildKit expands every value with the step's environment before
    /// reading them, so lowering expands it and parses it again ([`super::parse_mount`]).
    pub deferred: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    Sandbox,
    Insecure,
}

/// `--device=` of RUN: a CDI device name, and whether the build must fail without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub name: Raw,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub command: Command,
    pub mounts: Vec<MountSpec>,
    pub network: Option<Network>,
    pub security: Option<Security>,
    /// `--device=name[,required]` (CDI devices), in order.
    pub devices: Vec<Device>,
    /// Heredocs attached to the RUN. If the command is just `<<EOF` (shell form), the first
    /// heredoc *is* the script (see the Dockerfile reference); others become files.
    pub heredocs: Vec<Heredoc>,
}

/// COPY and ADD share one shape; `add` tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub add: bool,
    /// Sources as written (raw); for a heredoc source the word is `<<NAME` and its body is in
    /// `heredocs`.
    pub sources: Vec<Raw>,
    pub dest: Raw,
    pub heredocs: Vec<Heredoc>,
    pub from: Option<Raw>,
    pub chown: Option<Raw>,
    pub chmod: Option<Raw>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<Raw>,
    /// ADD only.
    pub checksum: Option<Raw>,
    /// `--keep-git-dir` as written (`None`: not given).
    pub keep_git_dir: Option<bool>,
    /// ADD `--unpack=true|false`; None = default (unpack local archives, not remote ones).
    pub unpack: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct From {
    pub image: Raw,
    pub alias: Option<String>,
    pub platform: Option<Raw>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// None for `HEALTHCHECK NONE`.
    pub test: Option<Command>,
    pub interval: Option<Raw>,
    pub timeout: Option<Raw>,
    pub start_period: Option<Raw>,
    pub start_interval: Option<Raw>,
    pub retries: Option<Raw>,
}

/// A typed instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Instruction {
    From(From),
    Run(Run),
    Copy(Copy),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Label(Vec<KeyValue>),
    Workdir(Raw),
    User(Raw),
    Expose(Vec<Raw>),
    Volume(Vec<Raw>),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Healthcheck(Healthcheck),
    StopSignal(Raw),
    /// The trigger as written (its `original` text without `ONBUILD `), already checked to be a
    /// valid instruction that is allowed in ONBUILD.
    Onbuild(String),
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    pub instruction: Instruction,
    pub span: Span,
    /// The instruction's text, continuation lines joined (for history `created_by`).
    pub original: String,
    /// What the lint rules look at and the typed instruction no longer says.
    #[serde(skip)]
    pub facts: NodeFacts,
}

/// An instruction as written, for the lint rules: its keyword's casing, the comments above it
/// (`# check=` for it alone), and for ENV/LABEL whether a pair used the legacy `KEY value` form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFacts {
    pub keyword: String,
    pub comments: Vec<String>,
    pub legacy_kv: bool,
}

impl NodeFacts {
    pub fn of(node: &crate::parser::Node) -> NodeFacts {
        let kv = matches!(node.keyword_lower().as_str(), "env" | "label");
        let words: Vec<&str> = node.words().collect();
        let legacy_kv = kv
            && words
                .chunks(3)
                .any(|t| t.get(2).is_some_and(|sep| *sep != "="));
        NodeFacts {
            keyword: node.keyword.clone(),
            comments: node.prev_comment.clone(),
            legacy_kv,
        }
    }
}

/// A build stage: `FROM ... [AS name]` and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub from: From,
    pub span: Span,
    pub index: usize,
    pub commands: Vec<Located>,
    /// The comments above the FROM (a `# check=` there applies to the FROM line).
    #[serde(skip)]
    pub comments: Vec<String>,
}

/// A whole typed Dockerfile: global ARGs (before the first FROM) and the stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub global_args: Vec<(ArgDecl, Span)>,
    pub stages: Vec<Stage>,
}

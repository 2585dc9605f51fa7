//! The four kinds of operation a vertex can perform.
//!
//! Inputs are referred to by index into the vertex's `inputs` list (as in LLB), so an op on its
//! own says *what* to do and the edges say *on what*. Paths are absolute inside the state they
//! apply to. User and group names stay unresolved (`"app"`): they are looked up in the state's
//! `/etc/passwd` at execution time, exactly as `docker build` does.

use serde::{Deserialize, Serialize};

/// Index into [`crate::Vertex::inputs`].
pub type InputIndex = u32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Source(SourceOp),
    Exec(ExecOp),
    File(FileOp),
    Merge(MergeOp),
}

impl Op {
    /// A short lower-case name of the op kind (`source`, `exec`, `file`, `merge`).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Source(_) => "source",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
            Op::Merge(_) => "merge",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Source

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceOp {
    /// A container image. `reference` is normalized (`docker.io/library/alpine:3.20`); when the
    /// image was resolved, `reference` carries the manifest digest (`...@sha256:...`).
    Image {
        reference: String,
        platform: crate::Platform,
    },
    /// Files from the client side, e.g. the Dockerfile build context.
    Local(LocalSource),
    /// A file fetched over HTTP(S) (`ADD https://...`): one layer holding `/<filename>`
    /// (mode 0600, owned by root, mtime from `Last-Modified`), never unpacked. `checksum`:
    /// `sha256:<hex>` the body must hash to; `filename`: see
    /// [`SourceOp::http_default_filename`] for `None`.
    Http {
        url: String,
        checksum: Option<String>,
        filename: Option<String>,
    },
    /// A git repository (`ADD https://github.com/x/y.git#ref:subdir`, see
    /// [`crate::GitRef`]). `checksum`: a commit id or prefix the resolved commit must match;
    /// `submodules`: whether submodules are checked out.
    Git {
        remote: String,
        reference: Option<String>,
        subdir: Option<String>,
        keep_git_dir: bool,
        checksum: Option<String>,
        submodules: bool,
    },
}

impl SourceOp {
    /// The file name an HTTP source gets when its op names none — and the one the Dockerfile
    /// frontend names, as BuildKit's does: the last segment of the URL's path, percent-decoded
    /// (Go's `path.Base(u.Path)`), else `__unnamed__`.
    pub fn http_default_filename(url: &str) -> String {
        const UNNAMED: &str = "__unnamed__";
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let path = rest
            .find('/')
            .map_or("", |i| rest.get(i..).unwrap_or_default());
        let decoded = percent_decode(path);
        match decoded.trim_end_matches('/').rsplit('/').next() {
            Some(base) if !base.is_empty() && base != "." && base != ".." => base.to_string(),
            _ => UNNAMED.to_string(),
        }
    }
}

/// `%XX` sequences decoded (invalid ones kept as written; invalid UTF-8 replaced).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A local directory made available to the build. `include` / `exclude` are .dockerignore-style
/// patterns; only matching files are ever read or hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LocalSource {
    /// Name of the local directory as the client knows it: [`LocalSource::MAIN`] for the build
    /// context, `context:NAME` for a `--build-context NAME=DIR` ([`LocalSource::named`]).
    pub name: String,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl LocalSource {
    /// The build context's name.
    pub const MAIN: &'static str = "context";

    /// The local name of the named build context `name`.
    pub fn named(name: &str) -> String {
        format!("context:{name}")
    }

    /// The named build context this source is, if it is one.
    pub fn context_name(&self) -> Option<&str> {
        self.name.strip_prefix("context:")
    }
}

// ---------------------------------------------------------------------------------------------
// Exec

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExecOp {
    pub args: Vec<String>,
    /// `KEY=value`, in order; later entries win.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default = "root_dir")]
    pub cwd: String,
    /// `name`, `uid`, `name:group` or `uid:gid`; empty means root.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub network: NetworkMode,
    #[serde(default)]
    pub security: SecurityMode,
    pub mounts: Vec<Mount>,
    /// Proxy variables (`HTTP_PROXY`, ...) given as build args without being declared. They reach
    /// the process but are deliberately left out of the digest, as BuildKit does.
    #[serde(default)]
    pub proxy_env: Vec<String>,
    /// `--add-host`, `--shm-size`, `--ulimit` of the build (BuildKit's `Meta.ExtraHosts`,
    /// `ShmSize`, `Ulimit`): part of the digest, as in BuildKit.
    #[serde(default)]
    pub host_config: HostConfig,
    /// The platform the step's programs are built for, when it is not the one of the machine
    /// that runs the step: they then run under emulation (binfmt_misc and an emulator such as
    /// qemu-user-static), and a step whose emulator is missing fails rather than run natively.
    /// `None`: the machine's own. Part of the digest only when set, so native steps keep their
    /// digests.
    #[serde(default)]
    pub platform: Option<Box<crate::Platform>>,
}

/// What the build's command line sets for every RUN step, as docker's `HostConfig` does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostConfig {
    /// Extra `/etc/hosts` lines, in order.
    #[serde(default)]
    pub extra_hosts: Vec<HostEntry>,
    /// Size of `/dev/shm` in bytes (docker's default, 64 MiB, when `None`).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Resource limits set before the command starts.
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
}

impl HostConfig {
    pub fn is_default(&self) -> bool {
        self == &HostConfig::default()
    }
}

/// One `/etc/hosts` entry: `ip` then `host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostEntry {
    pub host: String,
    pub ip: String,
}

/// A resource limit (`nofile`, `nproc`, ... as docker names them); [`Ulimit::UNLIMITED`] is
/// `-1` on docker's command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

impl Ulimit {
    pub const UNLIMITED: u64 = u64::MAX;
    /// The names docker's `--ulimit` takes (go-units).
    pub const NAMES: [&'static str; 15] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Mount {
    /// Absolute path inside the container; `/` is the root filesystem (always mount 0).
    pub target: String,
    /// The input providing the content; `None` means an empty directory (scratch).
    #[serde(default)]
    pub input: Option<InputIndex>,
    /// Sub-path of the input to mount.
    #[serde(default = "root_dir")]
    pub selector: String,
    #[serde(default)]
    pub readonly: bool,
    pub kind: MountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// The root filesystem; its changes are the op's output.
    Rootfs,
    /// A bind of an input's files; writes are discarded.
    Bind,
    /// A persistent cache directory, shared across builds by `id`. Never part of a layer.
    Cache {
        id: String,
        sharing: CacheSharing,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
    Tmpfs {
        size: Option<u64>,
    },
    /// A secret file (or env var) supplied by the client; its *content* is never in the graph.
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
        env: Option<String>,
    },
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

// ---------------------------------------------------------------------------------------------
// File

/// A chain of file actions applied in order to `base` (or to an empty directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileOp {
    #[serde(default)]
    pub base: Option<InputIndex>,
    pub actions: Vec<FileAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Copy(CopyAction),
    Mkdir {
        path: String,
        mode: u32,
        #[serde(default)]
        make_parents: bool,
        #[serde(default)]
        owner: Option<Owner>,
    },
    Mkfile {
        path: String,
        mode: u32,
        data: Vec<u8>,
        #[serde(default)]
        owner: Option<Owner>,
    },
    Rm {
        path: String,
        #[serde(default)]
        allow_not_found: bool,
        #[serde(default)]
        allow_wildcard: bool,
    },
    Symlink {
        target: String,
        link: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CopyAction {
    pub source: InputIndex,
    /// Path (or wildcard pattern) inside the source input.
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub follow_symlinks: bool,
    /// Copy a directory's contents rather than the directory itself.
    #[serde(default)]
    pub dir_contents_only: bool,
    #[serde(default)]
    pub allow_wildcard: bool,
    #[serde(default)]
    pub allow_empty_wildcard: bool,
    #[serde(default)]
    pub create_dest_path: bool,
    /// When set, replaces the source files' ownership.
    #[serde(default)]
    pub owner: Option<Owner>,
    /// When set, replaces the source files' mode: octal bits or a symbolic form (`u+x`).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Unpack a recognised local archive (`ADD foo.tar.gz /`) instead of copying it.
    #[serde(default)]
    pub unpack_archive: bool,
    /// Keep the source's parent directories under `dest` (`COPY --parents`).
    #[serde(default)]
    pub parents: bool,
}

/// A user and optional group, each a number or a name to resolve in the target's /etc files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Owner {
    pub user: IdOrName,
    pub group: Option<IdOrName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdOrName {
    Id(u32),
    Name(String),
}

impl Owner {
    /// Parse `user[:group]` as written in `--chown`.
    pub fn parse(s: &str) -> Self {
        let part = |p: &str| match p.parse::<u32>() {
            Ok(id) => IdOrName::Id(id),
            Err(_) => IdOrName::Name(p.to_string()),
        };
        match s.split_once(':') {
            Some((u, g)) => Owner {
                user: part(u),
                group: Some(part(g)),
            },
            None => Owner {
                user: part(s),
                group: None,
            },
        }
    }
}

/// The default working directory and mount selector of a hand-written graph: `/`.
fn root_dir() -> String {
    "/".to_string()
}

// ---------------------------------------------------------------------------------------------
// Merge

/// Stack the inputs in order, later ones on top (like layers). Each input's diff is independent of
/// what is below it, which is what lets `COPY --link` layers be reused on any base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergeOp {
    pub inputs: Vec<InputIndex>,
}

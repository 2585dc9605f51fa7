//! The job description handed from the builder to the sandbox helper.
//!
//! These types cross a process boundary (they are serialized to JSON on the helper's stdin), so
//! they are plain data: paths on the host, strings as the container sees them, no handles.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One unit of work for the sandbox helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// Run a command (`RUN`) on top of a rootfs.
    Exec(ExecJob),
    /// Apply file actions (`COPY`, `ADD`, `WORKDIR`...) to a rootfs.
    File(FileJob),
}

/// The root filesystem of a job: read-only layers under a writable upper directory. After the
/// job, `upper` holds exactly the job's changes in overlayfs form (it becomes the new layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rootfs {
    /// Layer directories, bottom to top. Empty means scratch.
    pub lowers: Vec<PathBuf>,
    /// The overlay upper directory (receives the changes).
    pub upper: PathBuf,
    /// The overlay work directory (same filesystem as `upper`, empty).
    pub work: PathBuf,
}

/// Where a bind mount or a file-op source takes its files from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountSource {
    /// A plain host directory (a build context), seen without what its `.dockerignore`
    /// patterns match: absent from binds and never copied (as from a COPY).
    Dir {
        path: PathBuf,
        #[serde(default)]
        ignore: Vec<String>,
    },
    /// Layer directories, bottom to top, seen through a read-only overlay. Empty means an empty
    /// directory.
    Layers(Vec<PathBuf>),
}

/// A command to run in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecJob {
    pub rootfs: Rootfs,
    /// `argv`; `args[0]` is looked up in the `PATH` of `env` unless it contains a `/`.
    pub args: Vec<String>,
    /// `KEY=value` entries, the command's complete environment (`PATH` and `HOME` are added
    /// when missing).
    pub env: Vec<String>,
    /// Working directory inside the container, created (owned by root) when missing.
    pub cwd: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty means root.
    pub user: String,
    /// Hostname inside the container (also written to `/etc/hosts`).
    pub hostname: String,
    /// `Default`: a network namespace of its own with a user-mode stack to the outside (no
    /// host loopback); `None`: only its own loopback; `Host`: the host's (an entitlement).
    pub network: cairn_ir::NetworkMode,
    /// `Insecure` (an entitlement): all capabilities, no seccomp filter, /proc unrestricted.
    #[serde(default)]
    pub security: cairn_ir::SecurityMode,
    /// Mounts besides the rootfs.
    pub mounts: Vec<ExecMount>,
    /// Extra `/etc/hosts` lines, the size of `/dev/shm`, resource limits.
    #[serde(default)]
    pub host_config: cairn_ir::HostConfig,
}

/// A mount besides the rootfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecMount {
    /// Absolute path inside the container.
    pub target: String,
    pub kind: ExecMountKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecMountKind {
    /// The files of `source` (below `selector`). Read-write binds get a throwaway upper
    /// directory: the command may write, the writes are discarded.
    Bind {
        source: MountSource,
        selector: String,
        readonly: bool,
    },
    /// A persistent host directory (below `selector`, created if missing); writes persist.
    Cache {
        dir: PathBuf,
        selector: String,
        readonly: bool,
        /// `uid=`, `gid=`, `mode=` of the mount: when any is given and the whole directory is
        /// mounted (selector `/`), its root gets them (owner 0:0 and mode 0755 where not
        /// given), as BuildKit's cache mounts do.
        #[serde(default)]
        owner: Option<CacheOwner>,
    },
    /// A fresh tmpfs, `size` in bytes.
    Tmpfs { size: Option<u64> },
    /// A host socket (an ssh-agent's, for `RUN --mount=type=ssh`), bound in as it is.
    Socket { path: PathBuf },
    /// A secret file: written to the helper's private tmpfs, never to a layer.
    Secret {
        content: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// Owner and mode of a cache mount's root directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheOwner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// File actions applied to a rootfs; `FileAction::Copy.source` indexes `sources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileJob {
    pub rootfs: Rootfs,
    pub sources: Vec<MountSource>,
    pub actions: Vec<cairn_ir::FileAction>,
    /// Follow the regular files copied from some sources, and reuse a previous result of the
    /// same copy (`cairn_fileop::CopyTracker`). Only for jobs whose actions are all plain
    /// copies.
    #[serde(default)]
    pub tracking: Option<CopyTracking>,
}

/// What a tracked copy is given and where it reports (see [`FileJob::tracking`]). The plan
/// and the report are files (postcard), not part of the job: they hold one entry per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyTracking {
    /// The sources (indexes into `FileJob::sources`) whose copies are followed.
    pub inputs: Vec<u32>,
    /// The layer the same copy made last time and the file of `CopiedFile`s naming the
    /// destinations whose sources are unchanged since (`None`: nothing to reuse).
    pub previous: Option<(PathBuf, PathBuf)>,
    /// Where the helper writes a [`CopyReport`].
    pub report: PathBuf,
}

/// What a tracked copy wrote: every regular file from the tracked sources, and how many
/// share the previous layer's inode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyReport {
    pub files: Vec<cairn_fileop::CopiedFile>,
    pub linked: u64,
    pub written: u64,
}

/// A [`CopyReport`] decoded in place: its paths borrow the report file's bytes (a copy of
/// 100,000 files is otherwise 200,000 strings).
#[derive(Debug, Deserialize)]
pub struct CopyReportView<'a> {
    #[serde(borrow)]
    pub files: Vec<CopiedFileRef<'a>>,
    pub linked: u64,
    pub written: u64,
}

/// A [`cairn_fileop::CopiedFile`] with borrowed paths: the same fields, the same encoding (a
/// plan written from these reads back as `CopiedFile`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedFileRef<'a> {
    pub input: u32,
    pub source: &'a str,
    pub dest: &'a str,
}

impl CopyReport {
    /// A report file's bytes, decoded in place.
    pub fn view(bytes: &[u8]) -> std::io::Result<CopyReportView<'_>> {
        match postcard::take_from_bytes::<CopyReportView<'_>>(bytes) {
            Ok((view, [])) => Ok(view),
            Ok(_) => Err(std::io::Error::other(
                "trailing bytes after the copy report",
            )),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Read a report or a plan file.
    pub fn read<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> std::io::Result<T> {
        let bytes = std::fs::read(path)?;
        postcard::from_bytes(&bytes).map_err(std::io::Error::other)
    }

    /// Write a report or a plan file, streamed: a copy of 100,000 files is never also held
    /// as one encoded buffer.
    pub fn write<T: Serialize>(path: &std::path::Path, value: &T) -> std::io::Result<()> {
        use std::io::Write as _;
        let file = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?);
        postcard::to_io(value, file)
            .map_err(std::io::Error::other)?
            .flush()
    }
}

/// How a job ended when the sandbox itself worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The command's exit code; `128 + signal` when it was killed by a signal. Always 0 for a
    /// successful file job.
    pub exit_code: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_entries_encode_and_decode_as_copied_files() {
        let owned = CopyReport {
            files: vec![cairn_fileop::CopiedFile {
                input: 3,
                source: "a/b.txt".into(),
                dest: "src/a/b.txt".into(),
            }],
            linked: 1,
            written: 2,
        };
        let bytes = postcard::to_stdvec(&owned).expect("encode");
        let view = CopyReport::view(&bytes).expect("view");
        let entry = CopiedFileRef {
            input: 3,
            source: "a/b.txt",
            dest: "src/a/b.txt",
        };
        assert_eq!(view.files, vec![entry]);
        assert_eq!((view.linked, view.written), (1, 2));
        // A plan written from borrowed entries reads back as owned ones.
        assert_eq!(
            postcard::to_stdvec(&vec![entry]).expect("encode"),
            postcard::to_stdvec(&owned.files).expect("encode")
        );
        assert!(CopyReport::view(&bytes[..bytes.len() - 1]).is_err());
    }
}

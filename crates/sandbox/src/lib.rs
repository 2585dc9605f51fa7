//! Isolated execution of RUN steps and file operations (see docs/execution-design.md,
//! "crates/sandbox").
//!
//! The async side ([`ReexecExecutor`]) never forks: it spawns the `cairn` binary again as
//! `cairn __sandbox`, which calls [`helper_main`]. The helper is single-threaded and does the
//! namespace, mount and exec work; every mount lives in its private mount namespace, so nothing
//! is left behind when it dies.

pub mod binfmt;
mod executor;
mod helper;
mod job;
pub mod protocol;
mod socket_proxy;

use std::io;
use std::path::PathBuf;

pub use cairn_fileop::CopiedFile;
pub use executor::{
    Executor, HELPER_SUBCOMMAND, Input, MAX_LINE, OutputLine, ReexecExecutor, Stream,
    builder_without_huge_pages, remove_stale_scratch,
};
pub use helper::helper_main;
pub use job::{
    CacheOwner, CopiedFileRef, CopyReport, CopyReportView, CopyTracking, ExecJob, ExecMount,
    ExecMountKind, FileJob, Job, JobOutcome, MountSource, Rootfs,
};
pub use socket_proxy::SocketProxy;

/// Why a job could not be run (as opposed to a command exiting non-zero, which is a
/// successful [`JobOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The helper could not set up the sandbox (bad mount, unknown user, ...) or the file
    /// operation failed; the message comes from the helper.
    #[error("{0}")]
    Setup(String),
    #[error("cannot start the sandbox helper {exe}: {source}", exe = exe.display())]
    Spawn { exe: PathBuf, source: io::Error },
    #[error("sandbox helper i/o: {0}")]
    Io(#[from] io::Error),
    #[error("cannot encode the job: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("sandbox protocol error: {0}")]
    Protocol(String),
    /// The helper ended without reporting a status (killed, crashed); its exit status.
    #[error("the sandbox helper died without reporting a status ({0})")]
    HelperDied(String),
}

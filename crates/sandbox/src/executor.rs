//! The async side: the [`Executor`] trait the solver schedules jobs on, and
//! [`ReexecExecutor`], which runs each job in a re-executed helper process.
//!
//! Tokio never forks here: the helper is spawned with `tokio::process::Command` (in its own
//! process group, killed with SIGKILL if the future is dropped), and all namespace work
//! happens in that fresh single-threaded process. See [`crate::protocol`] for the wire format.

use std::ffi::OsString;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;

use crate::{Job, JobOutcome, SandboxError, protocol};

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of the command's output, without its `\n`. Very long lines arrive in chunks of
/// about [`MAX_LINE`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub line: Vec<u8>,
}

/// Longest line delivered in one piece.
pub const MAX_LINE: usize = 64 * 1024;

/// Runs jobs. Output lines go to `output` (dropped silently if the receiver is gone).
pub trait Executor: Send + Sync {
    fn run(
        &self,
        job: &Job,
        output: UnboundedSender<OutputLine>,
    ) -> impl Future<Output = Result<JobOutcome, SandboxError>> + Send;
}

/// Spawns `exe args...` (normally `cairn __sandbox`) for each job.
#[derive(Debug, Clone)]
pub struct ReexecExecutor {
    pub exe: PathBuf,
    pub args: Vec<OsString>,
}

/// The hidden subcommand of the `cairn` binary that calls [`crate::helper_main`].
pub const HELPER_SUBCOMMAND: &str = "__sandbox";

impl ReexecExecutor {
    /// `exe args...`: `args` is `["__sandbox"]` ([`HELPER_SUBCOMMAND`]) for the `cairn`
    /// binary, empty for a dedicated helper binary (the tests' `cairn-sandbox-helper`).
    pub fn new(exe: impl Into<PathBuf>, args: Vec<OsString>) -> Self {
        ReexecExecutor {
            exe: exe.into(),
            args,
        }
    }

    /// The running binary (`/proc/self/exe`) as `__sandbox` helper.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::new(
            std::env::current_exe()?,
            vec![HELPER_SUBCOMMAND.into()],
        ))
    }
}

impl Executor for ReexecExecutor {
    fn run(
        &self,
        job: &Job,
        output: UnboundedSender<OutputLine>,
    ) -> impl Future<Output = Result<JobOutcome, SandboxError>> + Send {
        self.run_job(job, output, None)
    }
}

#[derive(Serialize)]
struct RequestRef<'a> {
    job: &'a Job,
    scratch: Option<&'a Path>,
    parent_pid: u32,
    stdin: bool,
    tty: bool,
    huge_pages_off: bool,
}

/// Whether transparent huge pages were already off for this process when
/// [`builder_without_huge_pages`] turned them off: what the steps get.
static INHERITED_HUGE_PAGES_OFF: AtomicBool = AtomicBool::new(false);

/// Turn transparent huge pages off for the builder, keeping the steps it runs as they were.
///
/// Why: the allocator's arenas get huge pages, and a build touches them sparsely — each 2 MiB
/// page is faulted in whole and zeroed. Measured on a 100,000-file context: a no-op rebuild
/// 69 → 55 MB resident, a one-file change 102 → 92 MB, for 30 ms more of no-op time (0.18 →
/// 0.21 s: more, smaller page faults) and no change in planning 100,000 instructions. The
/// setting is inherited across fork and exec, so the helper puts the one this process
/// started with back before a step runs (`Request::huge_pages_off`): a RUN step sees the
/// host's setting, as under runc (`e2e build::confinement::a_step_gets_the_hosts_huge_page…`).
pub fn builder_without_huge_pages() {
    if let Ok(off) = rustix::thread::transparent_huge_pages_are_disabled() {
        INHERITED_HUGE_PAGES_OFF.store(off, Ordering::Relaxed);
    }
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// What a command reads (and, for a terminal, writes) instead of `/dev/null`.
#[derive(Debug)]
pub enum Input {
    /// The read end of a pipe: the command's stdin.
    Pipe(OwnedFd),
    /// The slave of a pseudo-terminal: the command's stdin, stdout, stderr and controlling
    /// terminal.
    Terminal(OwnedFd),
}

/// A host directory for the helper's scratch tmpfs, removed when the job is over (the tmpfs
/// itself lives only in the helper's mount namespace).
struct ScratchDir(PathBuf);

/// Prefix of scratch directory names: `cairn-sandbox-PID-N` in the temporary directory.
pub(crate) const SCRATCH_PREFIX: &str = "cairn-sandbox-";

impl ScratchDir {
    fn create() -> std::io::Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => return Ok(ScratchDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Remove the scratch directories that builders killed with SIGKILL (which no cleanup
/// survives) left in the temporary directory: those whose process is gone. They are empty on
/// the host (the helper's tmpfs on them lived in its mount namespace), so only empty
/// directories are removed, never followed. Returns how many were removed.
pub fn remove_stale_scratch() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // remove_dir: an empty directory only; a symlink or anything with content stays.
        if std::fs::remove_dir(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl ReexecExecutor {
    /// [`Executor::run`] with the command's stdin (or stdio and terminal) given by `input`
    /// instead of `/dev/null` (`cairn run -i`, `-t`).
    pub async fn run_with_input(
        &self,
        job: &Job,
        output: UnboundedSender<OutputLine>,
        input: Input,
    ) -> Result<JobOutcome, SandboxError> {
        self.run_job(job, output, Some(input)).await
    }

    async fn run_job(
        &self,
        job: &Job,
        output: UnboundedSender<OutputLine>,
        input: Option<Input>,
    ) -> Result<JobOutcome, SandboxError> {
        let scratch = ScratchDir::create()?;
        let mut request = serde_json::to_vec(&RequestRef {
            job,
            scratch: Some(&scratch.0),
            parent_pid: std::process::id(),
            stdin: input.is_some(),
            tty: matches!(input, Some(Input::Terminal(_))),
            huge_pages_off: INHERITED_HUGE_PAGES_OFF.load(Ordering::Relaxed),
        })?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.args(&self.args)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let spawned = cmd.spawn();
        // The command keeps the helper's end of the socket until dropped: without this we would
        // never see EOF on the status stream.
        drop(cmd);
        let mut child = spawned.map_err(|source| SandboxError::Spawn {
            exe: self.exe.clone(),
            source,
        })?;
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), Some(e)) => (o, e),
            _ => return Err(SandboxError::Protocol("helper pipes missing".into())),
        };
        if let Some(Input::Pipe(fd) | Input::Terminal(fd)) = input {
            // The descriptor rides on the request's first byte (the socket is still blocking).
            send_with_fd(&ours, request.first().copied().unwrap_or(b' '), fd)?;
            request.drain(..1);
        }
        ours.set_nonblocking(true)?;
        let (mut status_rx, mut job_tx) = tokio::net::UnixStream::from_std(ours)?.into_split();

        let send_job = async move {
            // A helper that dies early closes the socket; its status (or absence) tells why.
            let _ = job_tx.write_all(&request).await;
            let _ = job_tx.shutdown().await;
        };
        let read_status = async move {
            let mut buf = Vec::new();
            status_rx.read_to_end(&mut buf).await.map(|_| buf)
        };
        let ((), status, out, err) = tokio::join!(
            send_job,
            read_status,
            pump(stdout, Stream::Stdout, &output),
            pump(stderr, Stream::Stderr, &output),
        );
        let status = status?;
        out?;
        err?;
        match protocol::outcome(&status, "") {
            // No status: why the helper died is in its exit status.
            Err(SandboxError::HelperDied(_)) => {
                let exit = child.wait().await?;
                protocol::outcome(&status, &exit.to_string())
            }
            // The result is in; the helper may still be stopping slirp4netns (its tap
            // device takes the kernel ~20 ms to tear down): reap it off the critical path.
            outcome => {
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                outcome
            }
        }
    }
}

/// Send `byte` with `fd` attached (`SCM_RIGHTS`); our copy of `fd` is closed after.
fn send_with_fd(
    socket: &std::os::unix::net::UnixStream,
    byte: u8,
    fd: OwnedFd,
) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    use std::os::fd::AsFd as _;
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    let fds = [fd.as_fd()];
    if !ancillary.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the descriptor"));
    }
    let sent = sendmsg(
        socket,
        &[std::io::IoSlice::new(&[byte])],
        &mut ancillary,
        SendFlags::NOSIGNAL,
    )?;
    if sent != 1 {
        return Err(std::io::Error::other(
            "the request's first byte was not sent",
        ));
    }
    Ok(())
}

/// Forward `reader` to `output` line by line.
async fn pump(
    reader: impl AsyncRead + Unpin,
    stream: Stream,
    output: &UnboundedSender<OutputLine>,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(MAX_LINE, reader);
    let mut line = Vec::new();
    let emit = |line: &mut Vec<u8>| {
        let _ = output.send(OutputLine {
            stream,
            line: std::mem::take(line),
        });
    };
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if !line.is_empty() {
                emit(&mut line);
            }
            return Ok(());
        }
        let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                (i + 1, true)
            }
            None => {
                line.extend_from_slice(buf);
                (buf.len(), false)
            }
        };
        reader.consume(used);
        if complete || line.len() >= MAX_LINE {
            emit(&mut line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pump_splits_lines_and_flushes_the_tail() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let data: &[u8] = b"one\n\ntwo\nthree";
        pump(data, Stream::Stderr, &tx).await.unwrap();
        drop(tx);
        let mut lines = Vec::new();
        while let Some(l) = rx.recv().await {
            assert_eq!(l.stream, Stream::Stderr);
            lines.push(String::from_utf8(l.line).unwrap());
        }
        assert_eq!(lines, ["one", "", "two", "three"]);
    }

    #[tokio::test]
    async fn pump_chunks_huge_lines() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let data = vec![b'x'; MAX_LINE * 3 + 5];
        pump(&data[..], Stream::Stdout, &tx).await.unwrap();
        drop(tx);
        let mut total = 0;
        while let Some(l) = rx.recv().await {
            assert!(l.line.len() <= 2 * MAX_LINE);
            total += l.line.len();
        }
        assert_eq!(total, data.len());
    }
}

//! The sandbox helper: what `cairn __sandbox` runs, in a freshly exec'd, single-threaded
//! process (no tokio, so `fork` is sound).
//!
//! It reads one [`Request`] from stdin (see [`crate::protocol`]), does the job in new
//! namespaces and reports a [`Status`]. Every mount is made in the helper's private mount
//! namespace: when the helper exits, or is killed, the kernel tears them all down.

mod confine;
mod exec;
mod file;
mod ignore_view;
mod mounts;
mod net;
mod seccomp;
mod sys;
mod user;
mod walk;

use std::cell::Cell;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};
use rustix::mount::MountFlags;

use crate::Job;
use crate::protocol::{Request, SETUP_FAILED_EXIT, Status};

/// A failure of the sandbox itself, reported as [`Status::SetupError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelperError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error("{0}")]
    Msg(String),
}

/// Attach a description to an OS error.
pub(crate) trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, HelperError>;
}

impl<T, E: Into<io::Error>> Context<T> for Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, HelperError> {
        self.map_err(|e| e.ctx_err(what))
    }
}

pub(crate) trait ErrContext {
    fn ctx_err(self, what: impl FnOnce() -> String) -> HelperError;
}

impl<E: Into<io::Error>> ErrContext for E {
    fn ctx_err(self, what: impl FnOnce() -> String) -> HelperError {
        HelperError::Io {
            what: what(),
            source: self.into(),
        }
    }
}

/// The status socket (our fd 0 at startup, moved to a close-on-exec descriptor).
pub(crate) struct StatusChannel(Option<OwnedFd>);

impl StatusChannel {
    pub(crate) fn send(&self, status: &Status) {
        let Some(fd) = &self.0 else { return };
        let line = status.encode();
        let mut rest = &line[..];
        while !rest.is_empty() {
            match rustix::io::write(fd, rest) {
                Ok(0) => return,
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                // Nobody listening: nothing else to tell.
                Err(_) => return,
            }
        }
    }

    pub(crate) fn setup_error(&self, err: &HelperError) -> i32 {
        self.send(&Status::SetupError {
            message: err.to_string(),
        });
        SETUP_FAILED_EXIT
    }
}

/// Read the request on fd 0 to EOF, keeping the descriptors that come with it (close-on-exec).
fn read_request(received: &mut Vec<std::os::fd::OwnedFd>) -> std::io::Result<Vec<u8>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    let stdin = std::io::stdin();
    let mut input = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut ancillary = RecvAncillaryBuffer::new(&mut space);
        let msg = match recvmsg(
            &stdin,
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &mut ancillary,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(m) => m,
            Err(rustix::io::Errno::INTR) => continue,
            // Not a socket (a helper run by hand with a file on stdin): plain reads.
            Err(rustix::io::Errno::NOTSOCK) => {
                stdin.lock().read_to_end(&mut input)?;
                return Ok(input);
            }
            Err(e) => return Err(e.into()),
        };
        for m in ancillary.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                received.extend(fds);
            }
        }
        if msg.bytes == 0 {
            return Ok(input);
        }
        input.extend_from_slice(buf.get(..msg.bytes).unwrap_or_default());
    }
}

/// Move the socket on fd 0 to a close-on-exec descriptor and put `/dev/null` on fd 0.
fn take_status_channel() -> StatusChannel {
    let stdin = std::io::stdin();
    let moved = rustix::io::fcntl_dupfd_cloexec(&stdin, 3).ok();
    if let Ok(null) = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    StatusChannel(moved)
}

/// The helper's private scratch space: a tmpfs (in the helper's mount namespace only) on a
/// host directory. Holds the empty lower dir, `hosts`, `resolv.conf`, secrets, throwaway
/// uppers and mount points of source overlays; it vanishes with the namespace.
pub(crate) struct Scratch {
    path: PathBuf,
    /// We created the host directory (no executor-provided one) and remove it on drop.
    owned: bool,
    mounted: Cell<bool>,
    next: Cell<u32>,
}

impl Scratch {
    fn new(given: Option<PathBuf>) -> Result<Scratch, HelperError> {
        let (path, owned) = match given {
            Some(p) => (p, false),
            None => {
                let p = std::env::temp_dir().join(format!(
                    "{}{}",
                    crate::executor::SCRATCH_PREFIX,
                    std::process::id()
                ));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&p)
                    .ctx(|| format!("creating {}", p.display()))?;
                (p, true)
            }
        };
        Ok(Scratch {
            path,
            owned,
            mounted: Cell::new(false),
            next: Cell::new(0),
        })
    }

    /// Mount the tmpfs (call after unsharing the mount namespace).
    fn mount(&self) -> Result<(), HelperError> {
        mounts::mount_tmpfs(
            &self.path.to_string_lossy(),
            MountFlags::NOSUID | MountFlags::NODEV,
            "mode=0700",
        )?;
        self.mounted.set(true);
        Ok(())
    }

    /// A new, unique directory in the scratch space.
    fn dir(&self, name: &str) -> Result<PathBuf, HelperError> {
        let n = self.next.get();
        self.next.set(n + 1);
        let p = self.path.join(format!("{name}-{n}"));
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&p)
            .ctx(|| format!("creating {}", p.display()))?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.mounted.get() {
            let _ = mounts::detach(&self.path);
        }
        if self.owned {
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

fn single_threaded() -> Result<(), HelperError> {
    let n = std::fs::read_dir("/proc/self/task")
        .ctx(|| "reading /proc/self/task".into())?
        .count();
    if n == 1 {
        Ok(())
    } else {
        Err(HelperError::Msg(format!(
            "the sandbox helper must be single-threaded (has {n} threads)"
        )))
    }
}

/// Entry point of `cairn __sandbox`: run one job from stdin; returns the process exit code
/// (the command's, or [`SETUP_FAILED_EXIT`]). The authoritative result is the status message.
pub fn helper_main() -> i32 {
    rustix::process::umask(Mode::from_raw_mode(0o022));
    // Die with the builder, whatever kills it (checked against the request below, in case it
    // died before this was armed).
    let death_signal =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    // Nothing this process inherited beyond 0, 1, 2 may reach a step.
    let closed = sys::close_inherited_fds();
    let mut received = Vec::new();
    let read = read_request(&mut received);
    let status = take_status_channel();
    let input = match read {
        Ok(bytes) => bytes,
        Err(e) => return status.setup_error(&e.ctx_err(|| "reading the job".into())),
    };
    let request: Request = match serde_json::from_slice(&input) {
        Ok(r) => r,
        Err(e) => return status.setup_error(&HelperError::Msg(format!("invalid job: {e}"))),
    };
    if let Err(e) = death_signal {
        return status.setup_error(&e.ctx_err(|| "PR_SET_PDEATHSIG".into()));
    }
    // The builder's huge-page setting (off: `builder_without_huge_pages`) is not the step's:
    // it gets the one the builder started with.
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(request.huge_pages_off) {
        return status.setup_error(&e.ctx_err(|| "PR_SET_THP_DISABLE".into()));
    }
    if let Err(e) = closed {
        return status.setup_error(&e.ctx_err(|| "closing inherited descriptors".into()));
    }
    let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get().unsigned_abs());
    if request.parent_pid != 0 && parent != request.parent_pid {
        return status.setup_error(&HelperError::Msg("the builder is gone".into()));
    }
    // The command's stdin (or terminal) when the request says so: the descriptor that came
    // with it.
    let stdin = match (request.stdin, received.pop()) {
        (true, Some(fd)) if request.tty => Some(crate::Input::Terminal(fd)),
        (true, Some(fd)) => Some(crate::Input::Pipe(fd)),
        _ => None,
    };
    drop(received);
    let mut linger = None;
    let run = || -> Result<i32, HelperError> {
        single_threaded()?;
        let scratch = Scratch::new(request.scratch)?;
        match request.job {
            Job::Exec(job) => exec::run(&job, &scratch, &status, &mut linger, stdin),
            Job::File(job) => file::run(&job, &scratch).map(|()| 0),
        }
    };
    let code = match run() {
        Ok(code) => {
            status.send(&Status::Exited { code });
            code
        }
        Err(e) => status.setup_error(&e),
    };
    if linger.is_some() {
        // The builder has the result; let it go on (EOF on the status socket and the output
        // pipes) while slirp4netns is stopped and reaped.
        drop(status);
        release_stdio();
        drop(linger);
    }
    code
}

/// Point stdout and stderr at `/dev/null`, closing the builder's pipes.
fn release_stdio() {
    if let Ok(null) = rustix::fs::open("/dev/null", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
    {
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

//! The default network of a step: a network namespace of its own, reaching the outside world
//! through a user-mode TCP/IP stack (`slirp4netns`), never the host's loopback.
//!
//! docker's builder gives every step its own network namespace on a bridge; a daemonless
//! builder has no bridge, and a step sharing the host's namespace could reach every service
//! listening on the host's 127.0.0.1 (registries, databases, metadata proxies). slirp4netns
//! (Debian package `slirp4netns`) gives the namespace an `eth0` (the name BuildKit's steps see) with 10.0.2.100/24, a gateway
//! and a DNS forwarder at 10.0.2.3, and makes the step's connections as ordinary sockets of its
//! own in the host's namespace — so `apt-get` and `pip` work, while
//! `--disable-host-loopback` refuses the gateway's mapping to the host's 127.0.0.1. It runs
//! with `--enable-sandbox --enable-seccomp` (no capabilities but `CAP_NET_BIND_SERVICE`, its own
//! mount namespace, a syscall filter), since it parses the step's packets.
//!
//! It lives exactly as long as the helper: it exits when the helper's end of its exit pipe
//! closes, which the kernel does however the helper dies.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};
use rustix::io::{Errno, FdFlags};
use rustix::thread::LinkNameSpaceType;

use super::{Context, HelperError, Scratch};

/// The address of slirp4netns's DNS forwarder, the step's only name server.
pub const DNS_SERVER: &str = "10.0.2.3";

/// How long slirp4netns may take to set the namespace up.
const READY_TIMEOUT_SECS: i64 = 10;

/// A running slirp4netns serving the helper's network namespace; stopped on drop.
pub struct UserNet {
    child: Child,
    exit: Option<OwnedFd>,
    ready: Option<OwnedFd>,
    /// Named on slirp4netns's command line (`/proc/PID/fd/N`): open until it is ready.
    step_ns: Option<OwnedFd>,
    program: PathBuf,
    log: PathBuf,
}

impl Drop for UserNet {
    /// slirp4netns exits on the hang-up of its exit pipe, and is reaped here. Its exit takes
    /// the kernel ~20 ms (tearing down the tap device), so the helper drops this only after it
    /// has reported the step's result and released its output (see `helper_main`).
    fn drop(&mut self) {
        drop(self.exit.take());
        let _ = self.child.wait();
    }
}

/// The slirp4netns executable: `$CAIRN_SLIRP4NETNS` if set, else from `PATH`, else the
/// Debian location.
fn program() -> Result<PathBuf, HelperError> {
    let missing = |what: String| {
        HelperError::Msg(format!(
            "the default network of a RUN step needs slirp4netns (Debian/Ubuntu: apt-get \
             install slirp4netns), and {what}; or build with --network=none"
        ))
    };
    if let Some(given) = std::env::var_os("CAIRN_SLIRP4NETNS") {
        let p = PathBuf::from(given);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(format!(
                "CAIRN_SLIRP4NETNS={} is not a file",
                p.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("slirp4netns"))
        .find(|p| p.is_file())
        .ok_or_else(|| missing("it is not in PATH".into()))
}

/// An anonymous pipe whose `inherited` end (0 = read, 1 = write) stays open across `exec`.
fn pipe_inheriting(inherited: usize) -> Result<(OwnedFd, OwnedFd), HelperError> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(|| "pipe".into())?;
    let child_end = if inherited == 0 { &r } else { &w };
    rustix::io::fcntl_setfd(child_end, FdFlags::empty()).ctx(|| "fcntl".into())?;
    Ok((r, w))
}

/// Start slirp4netns for the network namespace the helper is in now. `host_ns` is the
/// namespace it was in before (where slirp4netns must run). Returns at once: the helper mounts
/// the rootfs meanwhile, then calls [`UserNet::wait_ready`] before the step starts.
pub fn start(host_ns: &OwnedFd, scratch: &Scratch) -> Result<UserNet, HelperError> {
    let program = program()?;
    let step_ns = rustix::fs::open(
        "/proc/self/ns/net",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening the step's network namespace".into())?;
    let (ready_r, ready_w) = pipe_inheriting(1)?;
    let (exit_r, exit_w) = pipe_inheriting(0)?;
    let log_path = scratch.dir("net")?.join("slirp4netns.log");
    let log =
        std::fs::File::create(&log_path).ctx(|| format!("creating {}", log_path.display()))?;

    let mut cmd = Command::new(&program);
    cmd.args([
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
    ])
    .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
    .arg(format!("--exit-fd={}", exit_r.as_raw_fd()))
    .arg("--netns-type=path")
    .arg(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        step_ns.as_raw_fd()
    ))
    .arg("eth0")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(log);

    // slirp4netns must live in the host's namespace: spawn it from there, then come back.
    rustix::thread::move_into_link_name_space(host_ns.as_fd(), Some(LinkNameSpaceType::Network))
        .ctx(|| "entering the host's network namespace".into())?;
    let spawned = cmd.spawn();
    rustix::thread::move_into_link_name_space(step_ns.as_fd(), Some(LinkNameSpaceType::Network))
        .ctx(|| "returning to the step's network namespace".into())?;
    drop(cmd);
    let child = spawned.ctx(|| format!("starting {}", program.display()))?;
    drop((ready_w, exit_r));
    Ok(UserNet {
        child,
        exit: Some(exit_w),
        ready: Some(ready_r),
        step_ns: Some(step_ns),
        program,
        log: log_path,
    })
}

impl UserNet {
    /// Wait until `eth0` is configured (at most [`READY_TIMEOUT_SECS`]).
    pub fn wait_ready(&mut self) -> Result<(), HelperError> {
        let Some(ready) = self.ready.take() else {
            return Ok(());
        };
        let waited = wait_ready(&ready);
        drop(self.step_ns.take());
        let Err(why) = waited else {
            return Ok(());
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(HelperError::Msg(format!(
            "slirp4netns ({}) did not set up the step's network: {why}{}",
            self.program.display(),
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {}", tail.join(" | "))
            }
        )))
    }
}

/// Wait for slirp4netns's "1" on the ready pipe.
fn wait_ready(ready: &OwnedFd) -> Result<(), String> {
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(READY_TIMEOUT_SECS.unsigned_abs());
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!("not ready after {READY_TIMEOUT_SECS} s"));
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(READY_TIMEOUT_SECS),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(ready, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(format!("poll: {e}")),
        }
    }
    let mut byte = [0u8; 1];
    match rustix::io::read(ready, &mut byte) {
        Ok(1) if byte[0] == b'1' => Ok(()),
        Ok(_) => Err("it exited during setup".into()),
        Err(e) => Err(format!("reading its ready pipe: {e}")),
    }
}

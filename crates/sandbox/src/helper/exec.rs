//! Exec jobs. Three processes (plus slirp4netns for the default network, see [`super::net`]):
//!
//! - the **helper** (outside the new pid namespace) unshares mount, ipc, uts and network
//!   namespaces (the network one unless `--network=host`), starts slirp4netns for the default
//!   network, unshares the pid namespace, mounts the rootfs overlay and everything under it in
//!   its private mount namespace, forks the init, waits for it, then unmounts and removes mount
//!   stubs from the upper directory;
//! - the **init** (pid 1 of the new pid namespace) starts a new session (no controlling
//!   terminal), takes its own copy of the mount namespace, `pivot_root`s into the rootfs,
//!   mounts `/proc`, masks and write-protects the host's control files, resolves the user and
//!   the workdir, forks the command and reaps every process until the command exits; it dies
//!   with the helper (`PR_SET_PDEATHSIG`), and with it the whole namespace;
//! - the **command** installs the seccomp filter, drops capabilities and privileges and is
//!   exec'd with only descriptors 0, 1 and 2.
//!
//! The init needs no signal forwarding: the only signal the builder sends is SIGKILL to the
//! helper, which takes the namespace down through the init's death signal. What the step may
//! do once running is decided in [`super::confine`].

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use cairn_ir::{NetworkMode, SecurityMode};
use rustix::fs::{Access, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use super::mounts::{self, Setuid, fd_path};
use super::sys::{self, Forked};
use super::user::{self, ExecUser};
use super::walk::{Kind, Tree};
use super::{
    Context, ErrContext, HelperError, Scratch, StatusChannel, confine, file, ignore_view, net,
    seccomp,
};
use crate::{ExecJob, ExecMount, ExecMountKind, MountSource};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_HOSTNAME: &str = "cairn";

/// Run the job; its exit code. A started slirp4netns is left in `linger`, for the caller to
/// stop once the result is reported.
pub fn run(
    job: &ExecJob,
    scratch: &Scratch,
    status: &StatusChannel,
    linger: &mut Option<net::UserNet>,
    stdin: Option<crate::Input>,
) -> Result<i32, HelperError> {
    if job.args.is_empty() {
        return Err(HelperError::Msg("no command to run".into()));
    }
    let host_net = match job.network {
        NetworkMode::Default => Some(
            rustix::fs::open(
                "/proc/self/ns/net",
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| "opening the host's network namespace".into())?,
        ),
        NetworkMode::None | NetworkMode::Host => None,
    };
    let mut flags = UnshareFlags::NEWNS | UnshareFlags::NEWIPC | UnshareFlags::NEWUTS;
    if job.network != NetworkMode::Host {
        flags |= UnshareFlags::NEWNET;
    }
    sys::unshare(flags).ctx(|| "unshare".into())?;
    mounts::make_root_private()?;
    scratch.mount()?;
    // Started before the pid namespace exists: its first child would be the namespace's init.
    if let Some(host) = &host_net {
        *linger = Some(net::start(host, scratch)?);
    }
    let user_net = linger;
    drop(host_net);
    sys::unshare(UnshareFlags::NEWPID).ctx(|| "unshare(pid namespace)".into())?;
    let resolv = match user_net.as_ref() {
        Some(_) => format!("nameserver {}\n", net::DNS_SERVER).into_bytes(),
        None => std::fs::read("/etc/resolv.conf").unwrap_or_default(),
    };

    let merged = scratch.dir("rootfs")?;
    let lowers = file::non_empty(&job.rootfs.lowers, scratch)?;
    mounts::mount_overlay(
        &merged,
        &lowers,
        Some((&job.rootfs.upper, &job.rootfs.work)),
        Setuid::Honoured,
    )?;
    let mut tree = Tree::rootfs(&merged, &job.rootfs.upper)?;

    let result = setup(job, &mut tree, scratch, &resolv)
        .and_then(|()| user_net.as_mut().map_or(Ok(()), net::UserNet::wait_ready))
        .and_then(|()| spawn_init(job, &merged, status, stdin));

    // Whatever happened: unmount (the init and its namespace are gone), then clean the upper
    // directory of our mount points.
    let unmounted = mounts::detach(&merged);
    let record = tree.into_record();
    let code = result?;
    unmounted?;
    super::walk::remove_stubs(&job.rootfs.upper, &record)?;
    Ok(code)
}

/// Everything mounted before the fork, in the helper's namespace.
fn setup(
    job: &ExecJob,
    tree: &mut Tree,
    scratch: &Scratch,
    resolv: &[u8],
) -> Result<(), HelperError> {
    let hostname = if job.hostname.is_empty() {
        DEFAULT_HOSTNAME
    } else {
        &job.hostname
    };
    // /proc is mounted by the init (it must be in the new pid namespace); make the mount point.
    drop(tree.target("proc", Kind::Dir)?);
    mounts::setup_dev(
        tree,
        job.host_config.shm_size,
        job.security == SecurityMode::Insecure,
    )?;
    mounts::setup_sys(tree)?;

    let etc = scratch.dir("etc")?;
    // BuildKit's /etc/hosts, then `--add-host` entries as `ip<TAB>host`.
    let mut hosts =
        format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for h in &job.host_config.extra_hosts {
        hosts.push_str(&format!("{}\t{}\n", h.ip, h.host));
    }
    for (name, content) in [("hosts", hosts.as_bytes()), ("resolv.conf", resolv)] {
        let file = etc.join(name);
        std::fs::write(&file, content).ctx(|| format!("writing {}", file.display()))?;
        mounts::bind(
            tree,
            &file.to_string_lossy(),
            &format!("etc/{name}"),
            Kind::File,
            true,
        )?;
    }

    // Parents before children, so `/a` does not hide `/a/b`.
    let mut user_mounts: Vec<&ExecMount> = job.mounts.iter().collect();
    user_mounts.sort_by_key(|m| Path::new(&m.target).components().count());
    for m in user_mounts {
        mount_one(m, tree, scratch)?;
    }

    rustix::system::sethostname(hostname.as_bytes()).ctx(|| "sethostname".into())?;
    if job.network != NetworkMode::Host {
        sys::loopback_up().ctx(|| "bringing up lo".into())?;
    }
    Ok(())
}

fn mount_one(m: &ExecMount, tree: &mut Tree, scratch: &Scratch) -> Result<(), HelperError> {
    let in_target = |e: HelperError| HelperError::Msg(format!("mount {}: {e}", m.target));
    match &m.kind {
        ExecMountKind::Bind {
            source,
            selector,
            readonly,
        } => {
            // The context is seen as a COPY sees it: `.dockerignore`d entries masked out.
            let lowers = match source {
                MountSource::Dir { path, ignore } => {
                    ignore_view::mask_layer(path, ignore, scratch)?
                        .map(|mask| vec![path.clone(), mask])
                }
                MountSource::Layers(_) => None,
            };
            let root = match (lowers, *readonly) {
                (Some(lowers), true) => {
                    let at = scratch.dir("context")?;
                    mounts::mount_overlay(&at, &lowers, None, Setuid::Ignored)?;
                    at
                }
                (Some(lowers), false) => throwaway_overlay(&lowers, scratch)?,
                (None, true) => file::source_dir(source, scratch)?,
                (None, false) => {
                    let lowers = match source {
                        MountSource::Dir { path, .. } => vec![path.clone()],
                        MountSource::Layers(l) => file::non_empty(l, scratch)?,
                    };
                    throwaway_overlay(&lowers, scratch)?
                }
            };
            let (src, is_dir) = Tree::source(&root, false)?
                .open(selector)
                .map_err(in_target)?;
            let kind = if is_dir { Kind::Dir } else { Kind::File };
            mounts::bind(tree, &fd_path(&src), &m.target, kind, *readonly)
        }
        ExecMountKind::Cache {
            dir,
            selector,
            readonly,
            owner,
        } => {
            let (src, _) = Tree::source(dir, true)?.open(selector).map_err(in_target)?;
            if let Some(o) = owner
                && Path::new("/").join(selector) == Path::new("/")
            {
                let at = fd_path(&src);
                rustix::fs::chown(
                    &at,
                    Some(rustix::fs::Uid::from_raw(o.uid)),
                    Some(rustix::fs::Gid::from_raw(o.gid)),
                )
                .ctx(|| format!("chown of the cache mount {}", m.target))?;
                rustix::fs::chmod(&at, Mode::from_raw_mode(o.mode & 0o7777))
                    .ctx(|| format!("chmod of the cache mount {}", m.target))?;
            }
            mounts::bind(tree, &fd_path(&src), &m.target, Kind::Dir, *readonly)
        }
        ExecMountKind::Socket { path } => {
            let meta = std::fs::metadata(path).ctx(|| format!("ssh agent {}", path.display()))?;
            if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                return Err(HelperError::Msg(format!(
                    "mount {}: {} is not a socket",
                    m.target,
                    path.display()
                )));
            }
            mounts::bind(tree, &path.to_string_lossy(), &m.target, Kind::File, false)
        }
        ExecMountKind::Tmpfs { size } => {
            let target = tree.target(&m.target, Kind::Dir)?;
            let mut options = "mode=1777".to_string();
            if let Some(size) = size {
                options.push_str(&format!(",size={size}"));
            }
            mounts::mount_tmpfs(
                &fd_path(&target),
                MountFlags::NOSUID | MountFlags::NODEV,
                &options,
            )
        }
        ExecMountKind::Secret {
            content,
            mode,
            uid,
            gid,
        } => {
            let dir = scratch.dir("secret")?;
            let path = dir.join("secret");
            let fd = rustix::fs::open(
                &path,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .ctx(|| "creating the secret file".into())?;
            let mut rest = &content[..];
            while !rest.is_empty() {
                let n = rustix::io::write(&fd, rest).ctx(|| "writing the secret".into())?;
                rest = &rest[n..];
            }
            rustix::fs::fchown(
                &fd,
                Some(rustix::fs::Uid::from_raw(*uid)),
                Some(rustix::fs::Gid::from_raw(*gid)),
            )
            .ctx(|| "chown of the secret".into())?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(*mode & 0o7777))
                .ctx(|| "chmod of the secret".into())?;
            mounts::bind(tree, &path.to_string_lossy(), &m.target, Kind::File, true)
        }
    }
}

/// An overlay of `lowers` whose writes go to the scratch tmpfs and are thrown away.
fn throwaway_overlay(lowers: &[PathBuf], scratch: &Scratch) -> Result<PathBuf, HelperError> {
    let base = scratch.dir("rw")?;
    let (upper, work, merged) = (base.join("upper"), base.join("work"), base.join("merged"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d).ctx(|| format!("creating {}", d.display()))?;
    }
    mounts::mount_overlay(&merged, lowers, Some((&upper, &work)), Setuid::Ignored)?;
    Ok(merged)
}

/// Fork the init and wait for it; its exit code (`128 + signal` if it was killed).
fn spawn_init(
    job: &ExecJob,
    merged: &Path,
    status: &StatusChannel,
    stdin: Option<crate::Input>,
) -> Result<i32, HelperError> {
    // The init checks this pipe after arming its death signal: EOF means we already died.
    let (alive_r, alive_w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(|| "pipe".into())?;
    match sys::fork().ctx(|| "fork".into())? {
        Forked::Child => {
            drop(alive_w);
            let code = match init(job, merged, status, alive_r, stdin) {
                Ok(code) => code,
                Err(e) => status.setup_error(&e),
            };
            std::process::exit(code);
        }
        Forked::Parent(pid) => {
            drop(alive_r);
            drop(stdin);
            let code = wait_for(pid)?;
            drop(alive_w);
            Ok(code)
        }
    }
}

fn wait_for(pid: Pid) -> Result<i32, HelperError> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = st.terminating_signal() {
                    return Ok(128 + sig);
                }
            }
            Ok(None) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.ctx_err(|| "waitpid".into())),
        }
    }
}

/// pid 1 of the new pid namespace.
fn init(
    job: &ExecJob,
    merged: &Path,
    status: &StatusChannel,
    alive: std::os::fd::OwnedFd,
    stdin: Option<crate::Input>,
) -> Result<i32, HelperError> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .ctx(|| "PR_SET_PDEATHSIG".into())?;
    rustix::fs::fcntl_setfl(&alive, OFlags::NONBLOCK).ctx(|| "fcntl".into())?;
    let mut byte = [0u8; 1];
    if let Ok(0) = rustix::io::read(&alive, &mut byte) {
        return Ok(1); // the helper is gone
    }
    drop(alive);
    // A session of our own: the step can never reach the terminal cairn runs in (`/dev/tty`
    // fails with ENXIO, there is nothing to `TIOCSTI` into).
    rustix::process::setsid().ctx(|| "setsid".into())?;
    // Not dumpable (as `runc init`): the step cannot open our /proc/1/exe (the host's cairn
    // binary), /proc/1/fd or /proc/1/mem, whatever its capabilities. The command gets its own
    // dumpability back at exec.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx(|| "PR_SET_DUMPABLE".into())?;

    // Our own mount namespace: pivot_root here leaves the helper's root alone.
    sys::unshare(UnshareFlags::NEWNS).ctx(|| "unshare(mount namespace)".into())?;
    rustix::process::chdir(merged).ctx(|| "chdir to the rootfs".into())?;
    rustix::process::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .ctx(|| "detaching the old root".into())?;
    rustix::process::chdir("/").ctx(|| "chdir /".into())?;
    rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .ctx(|| "mounting /proc".into())?;
    let insecure = job.security == SecurityMode::Insecure;
    if !insecure {
        confine::restrict_proc_and_sys()?;
    }
    let filter = if insecure {
        None
    } else {
        Some(seccomp::default_filter()?)
    };

    let read = |p: &str| std::fs::read_to_string(p).ok();
    let user = user::resolve(
        &job.user,
        read("/etc/passwd").as_deref(),
        read("/etc/group").as_deref(),
    )?;
    let env = environment(&job.env, &user);
    let cwd = if job.cwd.is_empty() {
        PathBuf::from("/")
    } else {
        Path::new("/").join(&job.cwd)
    };
    std::fs::create_dir_all(&cwd)
        .ctx(|| format!("creating the working directory {}", cwd.display()))?;
    // `--ulimit`, while we may still raise hard limits; the command inherits them.
    for u in &job.host_config.ulimits {
        let resource = rlimit_resource(&u.name)
            .ok_or_else(|| HelperError::Msg(format!("unknown ulimit {:?}", u.name)))?;
        let value = |v: u64| (v != cairn_ir::Ulimit::UNLIMITED).then_some(v);
        rustix::process::setrlimit(
            resource,
            rustix::process::Rlimit {
                current: value(u.soft),
                maximum: value(u.hard),
            },
        )
        .ctx(|| format!("setting ulimit {}={}:{}", u.name, u.soft, u.hard))?;
    }

    match sys::fork().ctx(|| "fork".into())? {
        Forked::Child => {
            let code = match exec_command(job, &env, &user, &cwd, filter.as_ref(), stdin) {
                Ok(code) => code,
                Err(e) => status.setup_error(&e),
            };
            std::process::exit(code);
        }
        Forked::Parent(pid) => {
            drop(stdin);
            reap_until(pid)
        }
    }
}

/// The resource a docker `--ulimit` name stands for (`cairn_ir::Ulimit::NAMES`).
fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "core" => R::Core,
        "cpu" => R::Cpu,
        "data" => R::Data,
        "fsize" => R::Fsize,
        "locks" => R::Locks,
        "memlock" => R::Memlock,
        "msgqueue" => R::Msgqueue,
        "nice" => R::Nice,
        "nofile" => R::Nofile,
        "nproc" => R::Nproc,
        "rss" => R::Rss,
        "rtprio" => R::Rtprio,
        "rttime" => R::Rttime,
        "sigpending" => R::Sigpending,
        "stack" => R::Stack,
        _ => return None,
    })
}

/// Reap every process (orphans are re-parented to us) until `main` exits; its exit code.
fn reap_until(main: Pid) -> Result<i32, HelperError> {
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, st))) if pid == main => {
                if let Some(code) = st.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = st.terminating_signal() {
                    return Ok(128 + sig);
                }
            }
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.ctx_err(|| "wait".into())),
        }
    }
}

/// The command's environment: the job's, plus `PATH` and `HOME` when missing.
fn environment(env: &[String], user: &ExecUser) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !out.iter().any(|(k, _)| k == "PATH") {
        out.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if !out.iter().any(|(k, _)| k == "HOME") {
        out.push(("HOME".into(), user.home.clone()));
    }
    out
}

/// Capabilities, ids and groups of the command. The seccomp filter (if any) is installed first,
/// while `CAP_SYS_ADMIN` still allows it without `no_new_privs` (as runc does when the spec
/// does not ask for it): setuid programs in the image (`su`, `sudo`) work as under docker,
/// within the bounding set.
fn drop_privileges(
    user: &ExecUser,
    keep: CapabilitySet,
    filter: Option<&seccompiler::BpfProgram>,
) -> Result<(), HelperError> {
    for cap in (CapabilitySet::all() - keep).iter() {
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            // Bits this kernel does not know.
            Ok(()) | Err(Errno::INVAL) => {}
            Err(e) => return Err(e.ctx_err(|| format!("dropping {cap:?}"))),
        }
    }
    if let Some(filter) = filter {
        seccomp::install(filter)?;
    }
    let current = rustix::thread::capabilities(None).ctx(|| "capget".into())?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: current.effective & keep,
            permitted: current.permitted & keep,
            inheritable: CapabilitySet::empty(),
        },
    )
    .ctx(|| "capset".into())?;
    match rustix::thread::clear_ambient_capability_set() {
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(e.ctx_err(|| "clearing ambient capabilities".into())),
    }
    let groups: Vec<rustix::fs::Gid> = user
        .groups
        .iter()
        .map(|&g| rustix::fs::Gid::from_raw(g))
        .collect();
    rustix::thread::set_thread_groups(&groups).ctx(|| "setgroups".into())?;
    rustix::thread::set_thread_gid(rustix::fs::Gid::from_raw(user.gid))
        .ctx(|| format!("setgid {}", user.gid))?;
    rustix::thread::set_thread_uid(rustix::fs::Uid::from_raw(user.uid))
        .ctx(|| format!("setuid {}", user.uid))
}

/// Why the program could not be found; the shell's exit codes.
enum Lookup {
    Found(PathBuf),
    NotFound,
    Denied(PathBuf),
}

fn lookup(arg0: &str, path_var: &str) -> Lookup {
    let executable = |p: &Path| {
        rustix::fs::stat(p)
            .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_file())
            && rustix::fs::access(p, Access::EXEC_OK).is_ok()
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match rustix::fs::stat(&p) {
            Err(_) => Lookup::NotFound,
            Ok(_) if executable(&p) => Lookup::Found(p),
            Ok(_) => Lookup::Denied(p),
        };
    }
    let mut denied = None;
    for dir in path_var.split(':') {
        let p = Path::new(if dir.is_empty() { "." } else { dir }).join(arg0);
        if executable(&p) {
            return Lookup::Found(p);
        }
        if denied.is_none() && rustix::fs::stat(&p).is_ok() {
            denied = Some(p);
        }
    }
    denied.map_or(Lookup::NotFound, Lookup::Denied)
}

/// The command process: privileges down, then exec. Returns only on failure: a setup error,
/// or the shell convention (127 not found, 126 not executable) with a message on stderr.
fn exec_command(
    job: &ExecJob,
    env: &[(String, String)],
    user: &ExecUser,
    cwd: &Path,
    filter: Option<&seccompiler::BpfProgram>,
    stdin: Option<crate::Input>,
) -> Result<i32, HelperError> {
    let keep = match job.security {
        SecurityMode::Sandbox => confine::default_capabilities(),
        SecurityMode::Insecure => CapabilitySet::all(),
    };
    drop_privileges(user, keep, filter)?;
    rustix::process::chdir(cwd).ctx(|| format!("chdir {}", cwd.display()))?;
    let arg0 = &job.args[0];
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let mut stderr = std::io::stderr();
    let program = match lookup(arg0, path_var) {
        Lookup::Found(p) => p,
        Lookup::NotFound => {
            let _ = writeln!(stderr, "{arg0}: not found");
            return Ok(127);
        }
        Lookup::Denied(p) => {
            let _ = writeln!(stderr, "{}: permission denied", p.display());
            return Ok(126);
        }
    };
    // std restores the default signal mask and SIGPIPE disposition before execve.
    let mut command = std::process::Command::new(&program);
    match stdin {
        None => {}
        Some(crate::Input::Pipe(fd)) => {
            command.stdin(std::process::Stdio::from(fd));
        }
        Some(crate::Input::Terminal(fd)) => {
            // A session of its own with the terminal as its controlling one (init's session
            // has none), as a shell on a terminal expects.
            rustix::process::setsid().ctx(|| "setsid".into())?;
            rustix::process::ioctl_tiocsctty(&fd).ctx(|| "TIOCSCTTY".into())?;
            let dup = |fd: &OwnedFd| fd.try_clone().ctx(|| "dup".into());
            command
                .stdin(std::process::Stdio::from(dup(&fd)?))
                .stdout(std::process::Stdio::from(dup(&fd)?))
                .stderr(std::process::Stdio::from(fd));
        }
    }
    let err = command
        .arg0(arg0)
        .args(&job.args[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    let _ = writeln!(stderr, "{arg0}: {err}");
    Ok(code)
}

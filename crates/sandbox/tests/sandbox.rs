//! Real sandbox runs, as root, against a busybox rootfs. These need root, overlayfs and
//! `/bin/busybox` (package busybox-static): when something is missing they fail, not skip.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use cairn_ir::{CopyAction, FileAction, NetworkMode};
use cairn_sandbox::{
    ExecJob, ExecMount, ExecMountKind, Executor, FileJob, Job, JobOutcome, MountSource, OutputLine,
    ReexecExecutor, Rootfs, SandboxError, Stream,
};

const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "id", "ls", "touch", "mkdir", "pwd", "env", "sleep", "grep", "rm",
    "hostname", "stat", "mount", "wc", "true", "false", "test",
];

struct Fixture {
    dir: tempfile::TempDir,
    base: PathBuf,
    n: std::cell::Cell<u32>,
}

impl Fixture {
    fn new() -> Fixture {
        assert!(
            Path::new("/bin/busybox").is_file(),
            "/bin/busybox is required (install busybox-static)"
        );
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        for d in ["bin", "etc", "tmp", "home/app"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        if std::fs::hard_link("/bin/busybox", base.join("bin/busybox")).is_err() {
            std::fs::copy("/bin/busybox", base.join("bin/busybox")).unwrap();
        }
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", base.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            base.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            base.join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
        )
        .unwrap();
        Fixture {
            dir,
            base,
            n: std::cell::Cell::new(0),
        }
    }

    fn mkdir(&self, name: &str) -> PathBuf {
        let n = self.n.get();
        self.n.set(n + 1);
        let p = self.dir.path().join(format!("{name}-{n}"));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn rootfs(&self) -> Rootfs {
        Rootfs {
            lowers: vec![self.base.clone()],
            upper: self.mkdir("upper"),
            work: self.mkdir("work"),
        }
    }

    fn exec(&self, args: &[&str]) -> ExecJob {
        ExecJob {
            rootfs: self.rootfs(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: String::new(),
            network: NetworkMode::Default,
            security: cairn_ir::SecurityMode::Sandbox,
            mounts: vec![],
            host_config: Default::default(),
        }
    }

    fn sh(&self, script: &str) -> ExecJob {
        self.exec(&["sh", "-c", script])
    }
}

struct Run {
    result: Result<JobOutcome, SandboxError>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Run {
    fn code(&self) -> i32 {
        match &self.result {
            Ok(o) => o.exit_code,
            Err(e) => panic!("job failed: {e}; stderr: {:?}", self.stderr),
        }
    }
}

fn executor() -> ReexecExecutor {
    // The dedicated helper binary takes no subcommand.
    ReexecExecutor::new(env!("CARGO_BIN_EXE_cairn-sandbox-helper"), vec![])
}

async fn run_job(fx: &Fixture, job: Job) -> Run {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OutputLine>();
    let result = executor().run(&job, tx).await;
    let (mut stdout, mut stderr) = (vec![], vec![]);
    while let Ok(l) = rx.try_recv() {
        let s = String::from_utf8_lossy(&l.line).into_owned();
        match l.stream {
            Stream::Stdout => stdout.push(s),
            Stream::Stderr => stderr.push(s),
        }
    }
    assert_no_mounts(fx);
    Run {
        result,
        stdout,
        stderr,
    }
}

async fn run(fx: &Fixture, job: ExecJob) -> Run {
    run_job(fx, Job::Exec(job)).await
}

/// No mount of ours is visible on the host.
fn assert_no_mounts(fx: &Fixture) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let ours = fx.dir.path().to_string_lossy().into_owned();
    let scratch = format!("cairn-sandbox-{}-", std::process::id());
    for line in info.lines() {
        assert!(
            !line.contains(&ours) && !line.contains(&scratch),
            "mount left on the host: {line}"
        );
    }
}

/// Relative paths of everything under `dir`.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn stdout_and_stderr_arrive_as_lines() {
    let fx = Fixture::new();
    let r = run(
        &fx,
        fx.sh("echo hello; echo world; echo oops >&2; printf tail"),
    )
    .await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout, ["hello", "world", "tail"]);
    assert_eq!(r.stderr, ["oops"]);
}

#[tokio::test]
async fn exit_codes_propagate() {
    let fx = Fixture::new();
    assert_eq!(run(&fx, fx.sh("exit 7")).await.code(), 7);
    assert_eq!(run(&fx, fx.sh("kill -9 $$")).await.code(), 137);
    let r = run(&fx, fx.exec(&["nosuchcmd", "x"])).await;
    assert_eq!(r.code(), 127);
    assert_eq!(r.stderr, ["nosuchcmd: not found"]);
    let r = run(&fx, fx.exec(&["/bin/nope"])).await;
    assert_eq!(r.code(), 127);
    assert_eq!(r.stderr, ["/bin/nope: not found"]);
}

#[tokio::test]
async fn changes_land_in_upper_only() {
    let fx = Fixture::new();
    let job = fx.sh("echo data > /tmp/new && rm /bin/wc && mkdir -p /a/b");
    let upper = job.rootfs.upper.clone();
    assert_eq!(run(&fx, job).await.code(), 0);
    // No /proc, /dev, /sys, /etc/hosts, /etc/resolv.conf stubs and no copied-up /etc.
    assert_eq!(
        tree(&upper),
        set(&["a", "a/b", "bin", "bin/wc", "tmp", "tmp/new"])
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("tmp/new")).unwrap(),
        "data\n"
    );
    let wh = std::fs::symlink_metadata(upper.join("bin/wc")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout expected"
    );
    assert!(fx.base.join("bin/wc").exists());
    assert!(!fx.base.join("tmp/new").exists());
    assert!(!fx.base.join("proc").exists() && !fx.base.join("etc/hosts").exists());
}

#[tokio::test]
async fn scratch_rootfs_gets_an_empty_lower() {
    let fx = Fixture::new();
    let mut job = fx.exec(&["/bin/busybox", "sh", "-c", "/bin/busybox ls /"]);
    job.rootfs.lowers.clear();
    // Bring busybox in through a read-only bind: the rootfs itself is empty.
    job.mounts.push(ExecMount {
        target: "/bin".into(),
        kind: ExecMountKind::Bind {
            source: MountSource::Dir {
                path: fx.base.join("bin"),
                ignore: vec![],
            },
            selector: String::new(),
            readonly: true,
        },
    });
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0, "{:?}", r.stderr);
    assert_eq!(r.stdout, ["bin", "dev", "etc", "proc", "sys"]);
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
}

#[tokio::test]
async fn pid_namespace_shows_only_the_job() {
    let fx = Fixture::new();
    let r = run(&fx, fx.sh("echo $$; ls /proc | grep -c '^[0-9]'")).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout[0], "2", "the command runs under our init (pid 1)");
    let pids: u32 = r.stdout[1].parse().unwrap();
    assert!(pids <= 4, "{pids} processes visible (init, sh, ls, grep)");
}

#[tokio::test]
async fn network_none_has_only_loopback() {
    let fx = Fixture::new();
    let mut job = fx.sh("ls /sys/class/net; cat /sys/class/net/lo/flags");
    job.network = NetworkMode::None;
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout, ["lo", "0x9"], "lo only, and up");
}

#[tokio::test]
async fn users_and_groups() {
    let fx = Fixture::new();
    let mut job = fx.sh("id -u; id -g; id -G; echo $HOME");
    job.user = "app".into();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout, ["1000", "1000", "1000 2000", "/home/app"]);

    let mut job = fx.sh("id -u; id -g");
    job.user = "1234:5678".into();
    assert_eq!(run(&fx, job).await.stdout, ["1234", "5678"]);

    let mut job = fx.sh("true");
    job.user = "nobody".into();
    match run(&fx, job).await.result {
        Err(SandboxError::Setup(m)) => assert!(m.contains("nobody"), "{m}"),
        other => panic!("expected a setup error, got {other:?}"),
    }
}

#[tokio::test]
async fn cwd_is_created_and_env_passed() {
    let fx = Fixture::new();
    let mut job = fx.sh("pwd; echo $FOO; env | grep -c ^HOME=/root$");
    job.cwd = "/work/dir".into();
    job.env.push("FOO=bar baz".into());
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout, ["/work/dir", "bar baz", "1"]);
    let meta = std::fs::metadata(upper.join("work/dir")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o755));
}

#[tokio::test]
async fn hostname_hosts_and_resolv_conf() {
    let fx = Fixture::new();
    let mut job =
        fx.sh("hostname; grep -c 'localhost box' /etc/hosts; cat /etc/resolv.conf | wc -c");
    job.hostname = "box".into();
    // The default network's only name server is slirp4netns's forwarder.
    let r = run(&fx, job.clone()).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout[2], "nameserver 10.0.2.3\n".len().to_string());
    // Other networks see the host's resolv.conf.
    job.network = NetworkMode::None;
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    let host_resolv = std::fs::read("/etc/resolv.conf")
        .map(|b| b.len())
        .unwrap_or(0);
    assert_eq!(
        r.stdout,
        ["box".to_string(), "1".into(), host_resolv.to_string()]
    );
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
}

#[tokio::test]
async fn dev_proc_and_privileges() {
    let fx = Fixture::new();
    let script = "ls /dev; echo x > /dev/null && echo null-ok; \
                  grep -E 'NoNewPrivs|Seccomp:' /proc/self/status; \
                  mount -t tmpfs t /tmp 2>/dev/null && echo mounted || echo no-mount; \
                  touch /sys/x 2>/dev/null || echo sys-ro";
    let r = run(&fx, fx.sh(script)).await;
    assert_eq!(r.code(), 0);
    for name in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "fd", "ptmx", "stdin",
    ] {
        assert!(
            r.stdout.iter().any(|l| l == name),
            "/dev/{name} missing: {:?}",
            r.stdout
        );
    }
    assert!(r.stdout.iter().any(|l| l == "null-ok"));
    // Like docker: no no_new_privs (setuid programs in images work), a seccomp filter.
    assert!(
        r.stdout
            .iter()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('0'))
    );
    assert!(
        r.stdout
            .iter()
            .any(|l| l.starts_with("Seccomp:") && l.ends_with('2')),
        "{:?}",
        r.stdout
    );
    assert!(
        r.stdout.iter().any(|l| l == "no-mount"),
        "CAP_SYS_ADMIN must be dropped"
    );
    assert!(r.stdout.iter().any(|l| l == "sys-ro"));
}

fn host_src(fx: &Fixture) -> PathBuf {
    let src = fx.mkdir("src");
    std::fs::create_dir(src.join("sub")).unwrap();
    std::fs::write(src.join("file"), "from host\n").unwrap();
    std::fs::write(src.join("sub/inner"), "inner\n").unwrap();
    src
}

#[tokio::test]
async fn readonly_bind_cannot_be_written() {
    let fx = Fixture::new();
    let src = host_src(&fx);
    let mut job =
        fx.sh("cat /mnt/src/file; cat /mnt/sub/inner; touch /mnt/src/x 2>/dev/null || echo denied");
    job.mounts.push(ExecMount {
        target: "/mnt/src".into(),
        kind: ExecMountKind::Bind {
            source: MountSource::Dir {
                path: src.clone(),
                ignore: vec![],
            },
            selector: String::new(),
            readonly: true,
        },
    });
    job.mounts.push(ExecMount {
        target: "/mnt/sub".into(),
        kind: ExecMountKind::Bind {
            source: MountSource::Dir {
                path: src.clone(),
                ignore: vec![],
            },
            selector: "sub".into(),
            readonly: true,
        },
    });
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout, ["from host", "inner", "denied"]);
    assert!(!src.join("x").exists());
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
}

#[tokio::test]
async fn readwrite_bind_writes_are_discarded() {
    let fx = Fixture::new();
    let src = host_src(&fx);
    let layer = fx.mkdir("layer");
    std::fs::write(layer.join("l"), "layer file\n").unwrap();
    let mut job = fx.sh("echo changed > /src/file && touch /src/new && cat /src/file; cat /lay/l; touch /lay/x && echo ok");
    job.mounts.push(ExecMount {
        target: "/src".into(),
        kind: ExecMountKind::Bind {
            source: MountSource::Dir {
                path: src.clone(),
                ignore: vec![],
            },
            selector: String::new(),
            readonly: false,
        },
    });
    job.mounts.push(ExecMount {
        target: "/lay".into(),
        kind: ExecMountKind::Bind {
            source: MountSource::Layers(vec![fx.base.clone(), layer.clone()]),
            selector: String::new(),
            readonly: false,
        },
    });
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0, "{:?}", r.stderr);
    assert_eq!(r.stdout, ["changed", "layer file", "ok"]);
    assert_eq!(
        std::fs::read_to_string(src.join("file")).unwrap(),
        "from host\n"
    );
    assert!(!src.join("new").exists() && !layer.join("x").exists());
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
}

#[tokio::test]
async fn cache_dir_persists_across_jobs() {
    let fx = Fixture::new();
    let cache = fx.mkdir("cache");
    let cache_mount = || ExecMount {
        target: "/root/.cache".into(),
        kind: ExecMountKind::Cache {
            dir: cache.clone(),
            selector: "pkg".into(),
            readonly: false,
            owner: None,
        },
    };
    let mut first = fx.sh("echo 1 >> /root/.cache/count");
    first.mounts.push(cache_mount());
    let upper = first.rootfs.upper.clone();
    assert_eq!(run(&fx, first).await.code(), 0);
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
    let mut second = fx.sh("echo 2 >> /root/.cache/count; cat /root/.cache/count");
    second.mounts.push(cache_mount());
    let r = run(&fx, second).await;
    assert_eq!(r.stdout, ["1", "2"]);
    assert_eq!(
        std::fs::read_to_string(cache.join("pkg/count")).unwrap(),
        "1\n2\n"
    );
}

#[tokio::test]
async fn cache_dir_gets_the_mounts_owner_and_mode() {
    let fx = Fixture::new();
    let cache = fx.mkdir("cache");
    let mut job = fx.sh("stat -c '%a %u:%g' /cache && echo hi > /cache/f && stat -c '%u' /cache/f");
    job.user = "app".into();
    job.mounts.push(ExecMount {
        target: "/cache".into(),
        kind: ExecMountKind::Cache {
            dir: cache.clone(),
            selector: "/".into(),
            readonly: false,
            owner: Some(cairn_sandbox::CacheOwner {
                uid: 1000,
                gid: 1000,
                mode: 0o750,
            }),
        },
    });
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0, "{:?}", r.stderr);
    assert_eq!(r.stdout, ["750 1000:1000", "1000"]);
}

#[tokio::test]
async fn tmpfs_mount() {
    let fx = Fixture::new();
    let mut job = fx.sh("echo x > /scratch/f && grep ' /scratch ' /proc/mounts");
    job.mounts.push(ExecMount {
        target: "/scratch".into(),
        kind: ExecMountKind::Tmpfs {
            size: Some(1 << 20),
        },
    });
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    assert!(
        r.stdout[0].starts_with("tmpfs /scratch tmpfs"),
        "{:?}",
        r.stdout
    );
    assert!(r.stdout[0].contains("size=1024k"), "{:?}", r.stdout);
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
}

#[tokio::test]
async fn secret_is_readable_and_never_in_the_layer() {
    let fx = Fixture::new();
    let mut job = fx.sh("cat /run/secrets/token; stat -c '%a %u %g' /run/secrets/token; echo x > /run/secrets/token || echo ro");
    job.mounts.push(ExecMount {
        target: "/run/secrets/token".into(),
        kind: ExecMountKind::Secret {
            content: b"s3cret\n".to_vec(),
            mode: 0o440,
            uid: 0,
            gid: 1000,
        },
    });
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout, ["s3cret", "440 0 1000", "ro"]);
    assert!(tree(&upper).is_empty(), "{:?}", tree(&upper));
}

#[tokio::test]
async fn file_job_copies_from_a_dir_source() {
    let fx = Fixture::new();
    let src = fx.mkdir("ctx");
    std::fs::write(src.join("hello.txt"), "hi\n").unwrap();
    let rootfs = fx.rootfs();
    let upper = rootfs.upper.clone();
    let job = FileJob {
        rootfs,
        sources: vec![MountSource::Dir {
            path: src,
            ignore: vec![],
        }],
        actions: vec![FileAction::Copy(CopyAction {
            source: 0,
            src: "hello.txt".into(),
            dest: "/hello.txt".into(),
            follow_symlinks: true,
            dir_contents_only: true,
            allow_wildcard: true,
            allow_empty_wildcard: false,
            create_dest_path: true,
            owner: None,
            mode: None,
            include: vec![],
            exclude: vec![],
            unpack_archive: false,
            parents: false,
        })],
        tracking: None,
    };
    let r = run_job(&fx, Job::File(job)).await;
    assert_eq!(r.code(), 0);
    assert_eq!(
        std::fs::read_to_string(upper.join("hello.txt")).unwrap(),
        "hi\n"
    );
    assert!(!fx.base.join("hello.txt").exists());
}

/// Host pid → parent pid, from /proc.
fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn find_process(cmdline: &[u8]) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read(format!("/proc/{pid}/cmdline")).ok()? == cmdline).then_some(pid)
    })
}

#[tokio::test]
async fn killing_the_helper_leaves_nothing_behind() {
    let fx = Fixture::new();
    let job = Job::Exec(fx.exec(&["sleep", "4242"]));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let exec = executor();
    let running = tokio::spawn(async move { exec.run(&job, tx).await });
    let mut sleeper = None;
    for _ in 0..200 {
        sleeper = find_process(b"sleep\x004242\x00");
        if sleeper.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let sleeper = sleeper.expect("the job never started");
    let init = ppid(sleeper).unwrap();
    let helper = ppid(init).unwrap();
    assert_eq!(ppid(helper), Some(std::process::id() as i32));
    let pid = rustix::process::Pid::from_raw(helper).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(SandboxError::HelperDied(_))),
        "{result:?}"
    );
    assert_no_mounts(&fx);
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{sleeper}")).exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !Path::new(&format!("/proc/{sleeper}")).exists(),
        "the command survived"
    );
}

#[tokio::test]
async fn symlinked_mount_targets_resolve_inside_the_rootfs() {
    let fx = Fixture::new();
    // A second layer, like an Ubuntu image: a dangling /etc/resolv.conf link, and a hostile
    // link pointing "above" the root.
    let layer = fx.mkdir("links");
    std::fs::create_dir(layer.join("etc")).unwrap();
    std::os::unix::fs::symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        layer.join("etc/resolv.conf"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../../../../../..", layer.join("escape")).unwrap();
    let marker = format!("cairn-escape-{}", std::process::id());
    let mut job = fx.sh(&format!(
        "wc -c < /etc/resolv.conf; grep ' /{marker} ' /proc/mounts | wc -l"
    ));
    job.rootfs.lowers.push(layer);
    job.network = NetworkMode::None; // the host's resolv.conf
    job.mounts.push(ExecMount {
        target: format!("/escape/{marker}"),
        kind: ExecMountKind::Tmpfs { size: None },
    });
    let upper = job.rootfs.upper.clone();
    let r = run(&fx, job).await;
    assert_eq!(r.code(), 0, "{:?}", r.stderr);
    let host_resolv = std::fs::read("/etc/resolv.conf")
        .map(|b| b.len())
        .unwrap_or(0);
    assert_eq!(r.stdout, [host_resolv.to_string(), "1".into()]);
    assert!(
        !Path::new("/").join(&marker).exists(),
        "created on the host"
    );
    assert!(tree(&upper).is_empty(), "stubs left: {:?}", tree(&upper));
}

#[tokio::test]
async fn file_job_errors_are_setup_errors() {
    let fx = Fixture::new();
    let job = FileJob {
        rootfs: fx.rootfs(),
        sources: vec![MountSource::Layers(vec![])],
        actions: vec![FileAction::Copy(CopyAction {
            source: 0,
            src: "missing.txt".into(),
            dest: "/".into(),
            follow_symlinks: true,
            dir_contents_only: true,
            allow_wildcard: true,
            allow_empty_wildcard: false,
            create_dest_path: true,
            owner: None,
            mode: None,
            include: vec![],
            exclude: vec![],
            unpack_archive: false,
            parents: false,
        })],
        tracking: None,
    };
    match run_job(&fx, Job::File(job)).await.result {
        Err(SandboxError::Setup(m)) => assert!(m.contains("missing.txt"), "{m}"),
        other => panic!("expected a setup error, got {other:?}"),
    }
}

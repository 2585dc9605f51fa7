//! A hostile Dockerfile or base image tries to reach the host, the way each was once proven to
//! work (issue 8), and must fail with the host unchanged. Then the confinement itself:
//! capabilities, seccomp, groups, entitlements. Every test here builds for real, as root.

use super::fixture::{Env, busybox_rootfs, context, out_dir};
use crate::util::cairn;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The host's mount table holds nothing of a build: no mount under its store, no mount on a
/// sandbox scratch directory (every mount lives in a helper's private namespace).
fn assert_host_mounts_untouched(store: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let store = store.to_string_lossy().into_owned();
    for line in info.lines() {
        assert!(
            !line.contains(&store) && !line.contains("/cairn-sandbox-"),
            "a build left a mount on the host: {line}"
        );
    }
}

/// The logs of a build that must succeed, joined.
fn logs_of(env: &Env, dir: &Path, args: &[&str]) -> String {
    env.build_ok(dir, args).logs().join("\n")
}

// ---------------------------------------------------------------------------------------------
// 1. /proc/sys and the other host control files

#[test]
fn proc_sys_and_host_control_files_cannot_be_written() {
    let env = Env::new();
    let lease = "/proc/sys/fs/lease-break-time";
    let core = "/proc/sys/kernel/core_pattern";
    let lease_before = std::fs::read_to_string(lease).expect("read host sysctl");
    let core_before = std::fs::read_to_string(core).expect("read host core_pattern");
    let new_lease = lease_before.trim().parse::<u64>().expect("number") + 1;
    let script = format!(
        "for f in {lease} {core} /proc/sysrq-trigger /proc/sys/vm/drop_caches; do \
           if echo {new_lease} > $f; then echo WROTE $f; else echo DENIED $f; fi; \
         done; \
         echo '|/tmp/evil' > {core} && echo WROTE core_pattern2; \
         echo kcore=$(head -c 64 /proc/kcore | wc -c) keys=$(wc -c < /proc/keys) \
              timer=$(wc -c < /proc/timer_list) firmware=$(ls /sys/firmware | wc -l); \
         touch /sys/kernel/evil 2>/dev/null && echo WROTE sys; \
         grep -q ' /proc/sys .*ro,' /proc/self/mountinfo && echo PROC_SYS_RO; \
         true"
    );
    let c = context(&[("Dockerfile", &format!("FROM busybox\nRUN {script}\n"))]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    assert!(
        !logs.contains("WROTE"),
        "a host control file was written:\n{logs}"
    );
    for f in [lease, core, "/proc/sysrq-trigger"] {
        assert!(logs.contains(&format!("DENIED {f}")), "{f}:\n{logs}");
    }
    assert!(
        logs.contains("kcore=0 keys=0 timer=0 firmware=0"),
        "masked paths must read empty:\n{logs}"
    );
    assert!(logs.contains("PROC_SYS_RO"), "{logs}");
    assert_eq!(std::fs::read_to_string(lease).expect("read"), lease_before);
    assert_eq!(std::fs::read_to_string(core).expect("read"), core_before);
    assert_host_mounts_untouched(env.root());
}

// ---------------------------------------------------------------------------------------------
// 2. The terminal cairn runs in

/// Opens /dev/tty and pushes a command into the terminal's input with TIOCSTI, through
/// /dev/tty and through fds 0-2; prints what worked.
const TIOCSTI_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
static int inject(int fd) {
    const char *cmd = "echo pwned\n";
    for (const char *p = cmd; *p; p++)
        if (ioctl(fd, TIOCSTI, p) != 0) return -1;
    return 0;
}
int main(void) {
    int injected = 0;
    int tty = open("/dev/tty", O_RDWR);
    if (tty < 0) printf("open /dev/tty: %s\n", strerror(errno));
    else if (inject(tty) == 0) { printf("INJECTED via /dev/tty\n"); injected = 1; }
    for (int fd = 0; fd < 3; fd++)
        if (inject(fd) == 0) { printf("INJECTED via fd %d\n", fd); injected = 1; }
    printf("sid=%d pid=%d pgrp=%d\n", getsid(0), getpid(), getpgrp());
    printf(injected ? "RESULT injected\n" : "RESULT refused\n");
    return 0;
}
"#;

#[test]
fn the_invoking_terminal_is_out_of_reach() {
    let env = Env::new();
    let prog = super::fixture::static_program("tiocsti", TIOCSTI_C);
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY tiocsti /tiocsti\nRUN /tiocsti\n",
    )]);
    std::fs::copy(&prog, c.path().join("tiocsti")).expect("copy");
    // cairn runs with a pseudo-terminal as its controlling terminal and stdin (script(1)),
    // as it does when a user types the command.
    let cmd = format!(
        "{} build --progress=json --no-cache --root {} {}",
        env!("CARGO_BIN_EXE_cairn"),
        env.root().display(),
        c.path().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("CAIRN_ROOT", "/nonexistent/cairn-e2e-default-root")
        .output()
        .expect("run script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "build under a terminal failed:\n{text}"
    );
    assert!(
        text.contains("RESULT refused"),
        "the probe must run and be refused:\n{text}"
    );
    assert!(!text.contains("INJECTED"), "{text}");
    assert!(
        text.contains("open /dev/tty: No such device or address"),
        "no controlling terminal in a step:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Device nodes brought by an image

/// A loop device over a small file holding `marker`, detached on drop.
struct LoopDevice {
    dev: String,
    image: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopDevice {
    fn new(marker: &[u8]) -> LoopDevice {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("disk.img");
        let mut content = marker.to_vec();
        content.resize(1 << 20, 0);
        std::fs::write(&image, &content).expect("write disk image");
        let out = std::process::Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .output()
            .expect("run losetup");
        assert!(
            out.status.success(),
            "losetup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        LoopDevice {
            dev,
            image,
            _dir: dir,
        }
    }

    fn major_minor(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.dev).expect("stat loop").rdev();
        // glibc's encoding of dev_t.
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
        let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
        (major, minor)
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.dev])
            .status();
    }
}

#[test]
fn device_nodes_from_an_image_are_inert_and_never_reach_the_host() {
    let marker = b"CAIRN-DISK-MARKER-7731";
    let disk = LoopDevice::new(marker);
    let (major, minor) = disk.major_minor();
    // A base image whose rootfs holds a 0666 block device for the host disk.
    let rootfs = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", busybox_rootfs().display()))
        .arg(rootfs.path())
        .status()
        .expect("cp");
    assert!(out.success());
    let node = rootfs.path().join("disk");
    let st = std::process::Command::new("mknod")
        .arg(&node)
        .args(["b", &major.to_string(), &minor.to_string()])
        .status()
        .expect("mknod");
    assert!(st.success());
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o666)).expect("chmod");

    let env = Env::new();
    let import = cairn()
        .args(["import", "--root"])
        .arg(env.root())
        .arg(rootfs.path())
        .arg("evil:latest")
        .output()
        .expect("import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM evil\n\
             RUN head -c 22 /disk && echo READ-IMAGE-NODE; \
                 echo overwritten > /disk && echo WROTE-IMAGE-NODE; \
                 mknod /made b {major} {minor} && echo MKNOD-OK; \
                 head -c 22 /made && echo READ-MADE-NODE; \
                 mknod /dev/made b {major} {minor} && head -c 22 /dev/made && echo READ-DEV-NODE; \
                 mkdir -p /t && mknod /tmp/made b {major} {minor} && head -c 22 /tmp/made && echo READ-TMP-NODE; \
                 true\n"
        ),
    )]);
    let (_t, out) = out_dir();
    let logs = logs_of(
        &env,
        c.path(),
        &[
            "--no-cache",
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    for bad in [
        "CAIRN-DISK-MARKER",
        "READ-IMAGE-NODE",
        "WROTE-IMAGE-NODE",
        "READ-MADE-NODE",
        "READ-DEV-NODE",
        "READ-TMP-NODE",
    ] {
        assert!(!logs.contains(bad), "{bad}: a device node worked:\n{logs}");
    }
    assert!(
        logs.contains("MKNOD-OK"),
        "CAP_MKNOD is docker's default (the node is inert):\n{logs}"
    );
    let mut head = vec![0u8; marker.len()];
    std::fs::File::open(&disk.image)
        .and_then(|mut f| f.read_exact(&mut head))
        .expect("read disk image");
    assert_eq!(head, marker, "the disk is unchanged");
    // The export planted no device node on the host...
    assert!(out.join("bin/busybox").is_file(), "the export was written");
    for name in ["disk", "made"] {
        assert!(
            std::fs::symlink_metadata(out.join(name)).is_err(),
            "device node {name} exported to the host"
        );
    }
    // ...unless asked for.
    let (_t2, out2) = out_dir();
    logs_of(
        &env,
        c.path(),
        &[&format!(
            "--output=type=local,dest={},devices=true",
            out2.display()
        )],
    );
    let kept = std::fs::symlink_metadata(out2.join("disk")).expect("kept with devices=true");
    assert!(kept.file_type().is_block_device());
    // A tar output carries no device entry either, unless asked.
    for (devices, want) in [("", false), (",devices=true", true)] {
        let d = tempfile::tempdir().expect("tempdir");
        let tar_path = d.path().join("fs.tar");
        logs_of(
            &env,
            c.path(),
            &[&format!(
                "--output=type=tar,dest={}{devices}",
                tar_path.display()
            )],
        );
        let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).expect("open tar"));
        let has_block = archive
            .entries()
            .expect("entries")
            .filter_map(Result::ok)
            .any(|e| e.header().entry_type() == tar::EntryType::Block);
        assert_eq!(has_block, want, "type=tar{devices}");
    }
    assert_host_mounts_untouched(env.root());
}

// ---------------------------------------------------------------------------------------------
// 4. Inherited file descriptors

#[test]
fn only_stdio_reaches_a_step() {
    let env = Env::new();
    let secret_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(secret_dir.path().join("secret"), "HOST-SECRET-4410").expect("write");
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN for f in /proc/self/fd/*; do echo FD ${f##*/}; done; \
             cat /proc/self/fd/7/secret 2>/dev/null; \
             echo pwned > /proc/self/fd/8/pwned 2>/dev/null && echo WROTE; true\n",
    )]);
    let cmd = format!(
        "exec 7<'{dir}' 8<'{dir}'; exec '{cairn}' build --progress=json --no-cache --root '{root}' '{ctx}'",
        dir = secret_dir.path().display(),
        cairn = env!("CARGO_BIN_EXE_cairn"),
        root = env.root().display(),
        ctx = c.path().display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &cmd])
        .env("CAIRN_ROOT", "/nonexistent/cairn-e2e-default-root")
        .output()
        .expect("run");
    let b = super::fixture::Build::from(out);
    assert!(b.success, "{}", b.stderr);
    let logs = b.logs().join("\n");
    assert!(!logs.contains("HOST-SECRET"), "{logs}");
    assert!(!logs.contains("WROTE"), "{logs}");
    assert!(!secret_dir.path().join("pwned").exists());
    let fds: Vec<&str> = logs.lines().filter_map(|l| l.strip_prefix("FD ")).collect();
    // The shell's glob reads /proc/self/fd through one descriptor of its own (3).
    assert!(
        fds.iter().all(|fd| ["0", "1", "2", "3"].contains(fd)),
        "only 0, 1, 2 may be inherited: {fds:?}"
    );
    assert!(fds.contains(&"0") && fds.contains(&"2"), "{fds:?}");
}

#[test]
fn a_step_gets_the_hosts_huge_page_setting_not_the_builders() {
    // cairn turns transparent huge pages off for itself (its memory), and that setting goes
    // through fork and exec: a step must get the one cairn was started with, as under runc.
    let status = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("THP_enabled:"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    let host = std::fs::read_to_string("/proc/self/status").expect("status");
    let host = status(&host).expect("the kernel reports THP_enabled in /proc/self/status");
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN grep THP_enabled /proc/self/status\n",
    )]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    assert_eq!(status(&logs), Some(host), "{logs}");
}

// ---------------------------------------------------------------------------------------------
// 5. Setuid files in the store

#[test]
fn setuid_files_in_the_store_are_out_of_reach_of_other_users() {
    // The store's parent is world-traversable, as /var/lib is.
    let parent = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let root = parent.path().join("store");
    let import = cairn()
        .env("SOURCE_DATE_EPOCH", "1600000000")
        .args(["import", "--root"])
        .arg(&root)
        .arg(busybox_rootfs())
        .arg("busybox:latest")
        .output()
        .expect("import");
    assert!(import.status.success());
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN cp /bin/busybox /suid && chmod 4755 /suid\n\
         RUN --mount=type=cache,target=/cache cp /bin/busybox /cache/suid && chmod 4755 /cache/suid\n",
    )]);
    let out = cairn()
        .args(["build", "--progress=json", "--root"])
        .arg(&root)
        .arg(c.path())
        .output()
        .expect("build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&root).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the store root is private");
    // Find the setuid copies, as root.
    let find = std::process::Command::new("find")
        .arg(&root)
        .args(["-name", "suid", "-perm", "-4000"])
        .output()
        .expect("find");
    let found: Vec<String> = String::from_utf8_lossy(&find.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        found.len() >= 2,
        "a layer copy and a cache-mount copy: {found:?}"
    );
    for path in &found {
        let run = std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                path,
                "id",
                "-u",
            ])
            .output()
            .expect("setpriv");
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            !run.status.success() && !stdout.contains('0'),
            "an unprivileged user ran {path}: {stdout}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Steps die with cairn

/// PIDs of processes whose command line contains `needle`.
pub(super) fn processes_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

fn scratch_dirs_of(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("cairn-sandbox-"))
                .is_some_and(|rest| rest.split('-').next() == Some(&pid.to_string()))
        })
        .collect()
}

pub(super) fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn steps_die_with_cairn(signal: &str, seconds: &str) {
    let env = Env::new();
    // The step leaves a daemon behind and then waits; both must go when cairn goes.
    let c = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nRUN (sleep {seconds}7 &) ; sleep {seconds}\n"),
    )]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--progress=quiet", "--no-cache", "--root"])
        .arg(env.root())
        .arg(c.path())
        .env("CAIRN_ROOT", "/nonexistent/cairn-e2e-default-root")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cairn");
    let pid = child.id();
    wait_until("the step to start", Duration::from_secs(60), || {
        processes_with(&format!("sleep {seconds}7")).len() == 1
            && processes_with(&format!("sleep {seconds}")).len() >= 2
    });
    let st = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let _ = child.wait();
    wait_until(
        &format!("the step's processes to die after SIG{signal}"),
        Duration::from_secs(10),
        || processes_with(&format!("sleep {seconds}")).is_empty(),
    );
    assert_host_mounts_untouched(env.root());
    if signal == "KILL" {
        // Nothing survives SIGKILL: the next build removes what it left.
        let c2 = context(&[("Dockerfile", "FROM busybox\n")]);
        env.build_ok(c2.path(), &[]);
    }
    assert!(
        scratch_dirs_of(pid).is_empty(),
        "scratch directories left: {:?}",
        scratch_dirs_of(pid)
    );
}

#[test]
fn steps_die_with_cairn_on_sigkill() {
    steps_die_with_cairn("KILL", "4101");
}

#[test]
fn steps_die_with_cairn_on_sigterm() {
    steps_die_with_cairn("TERM", "4102");
}

#[test]
fn steps_die_with_cairn_on_sighup() {
    steps_die_with_cairn("HUP", "4103");
}

// ---------------------------------------------------------------------------------------------
// 7. The network

/// A listener on the host's loopback that must never see a connection from a step.
fn host_listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

fn assert_never_connected(l: &std::net::TcpListener) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a step reached the host's loopback: {other:?}"),
    }
}

#[test]
fn the_default_network_cannot_reach_the_hosts_loopback() {
    let env = Env::new();
    let (listener, port) = host_listener();
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             RUN for a in 127.0.0.1 10.0.2.2 10.0.2.3; do \
                   echo hi | nc -w 2 $a {port} && echo REACHED $a; done; \
                 ip addr show eth0 | grep -q 10.0.2.100 && echo OWN-NETNS; \
                 cat /etc/resolv.conf; true\n"
        ),
    )]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    assert!(!logs.contains("REACHED"), "{logs}");
    assert!(logs.contains("OWN-NETNS"), "{logs}");
    assert!(logs.contains("nameserver 10.0.2.3"), "{logs}");
    assert_never_connected(&listener);
}

#[test]
fn a_missing_slirp4netns_is_a_clear_error() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let out = cairn()
        .args(["build", "--progress=plain", "--no-cache", "--root"])
        .arg(env.root())
        .arg(c.path())
        .env("CAIRN_SLIRP4NETNS", "/nonexistent/slirp4netns")
        .output()
        .expect("build");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("needs slirp4netns")
            && err.contains("apt-get install slirp4netns")
            && err.contains("--network=none"),
        "{err}"
    );
    // --network=none needs no user-mode stack.
    let ok = cairn()
        .args([
            "build",
            "--progress=plain",
            "--no-cache",
            "--network=none",
            "--root",
        ])
        .arg(env.root())
        .arg(c.path())
        .env("CAIRN_SLIRP4NETNS", "/nonexistent/slirp4netns")
        .output()
        .expect("build");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// Two network namespaces made by the test: `client` (where cairn runs) and `server`, joined
/// by a veth pair. Removed on drop.
struct TestNet {
    client: String,
    server: String,
}

impl TestNet {
    fn new(tag: &str) -> TestNet {
        let client = format!("cairn-{tag}-c{}", std::process::id());
        let server = format!("cairn-{tag}-s{}", std::process::id());
        let net = TestNet { client, server };
        let (c, s) = (&net.client, &net.server);
        let veth_c = format!("vc{}", std::process::id());
        let veth_s = format!("vs{}", std::process::id());
        for cmd in [
            format!("ip netns add {c}"),
            format!("ip netns add {s}"),
            format!("ip link add {veth_c} netns {c} type veth peer name {veth_s} netns {s}"),
            format!("ip -n {c} addr add 10.213.7.1/30 dev {veth_c}"),
            format!("ip -n {s} addr add 10.213.7.2/30 dev {veth_s}"),
            format!("ip -n {c} link set {veth_c} up"),
            format!("ip -n {s} link set {veth_s} up"),
            format!("ip -n {c} link set lo up"),
            format!("ip -n {s} link set lo up"),
        ] {
            let st = std::process::Command::new("sh")
                .args(["-c", &cmd])
                .status()
                .expect("ip");
            assert!(st.success(), "{cmd}");
        }
        net
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        let _ = std::process::Command::new("kill")
                            .args(["-9", pid])
                            .status();
                    }
                });
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

#[test]
fn the_default_network_reaches_the_outside_world() {
    let net = TestNet::new("out");
    // A web server on the "outside" host, and a service on the builder's own loopback.
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("hello.txt"), "HELLO-FROM-OUTSIDE\n").expect("write");
    let mut httpd = std::process::Command::new("ip")
        .args(["netns", "exec", &net.server, "busybox", "httpd", "-f", "-p"])
        .arg("10.213.7.2:8080")
        .arg("-h")
        .arg(www.path())
        .spawn()
        .expect("httpd");
    let mut local = std::process::Command::new("ip")
        .args(["netns", "exec", &net.client, "busybox", "httpd", "-f", "-p"])
        .arg("127.0.0.1:8081")
        .arg("-h")
        .arg(www.path())
        .spawn()
        .expect("httpd");
    std::thread::sleep(Duration::from_millis(300));
    let env = Env::new();
    // (busybox-static's wget crashes in glibc's static getaddrinfo: plain HTTP through nc.)
    let get = |addr: &str| {
        format!("printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {addr} | grep HELLO")
    };
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             RUN {}; \
                 {} && echo REACHED-LOOPBACK; \
                 {} && echo REACHED-LOOPBACK; true\n",
            get("10.213.7.2 8080"),
            get("127.0.0.1 8081"),
            get("10.0.2.2 8081")
        ),
    )]);
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &net.client, env!("CARGO_BIN_EXE_cairn")])
        .args(["build", "--progress=json", "--no-cache", "--root"])
        .arg(env.root())
        .arg(c.path())
        .env("CAIRN_ROOT", "/nonexistent/cairn-e2e-default-root")
        .output()
        .expect("build");
    let _ = httpd.kill();
    let _ = local.kill();
    let _ = httpd.wait();
    let _ = local.wait();
    let b = super::fixture::Build::from(out);
    assert!(b.success, "{}", b.stderr);
    let logs = b.logs().join("\n");
    assert!(logs.contains("HELLO-FROM-OUTSIDE"), "{logs}");
    assert!(!logs.contains("REACHED-LOOPBACK"), "{logs}");
}

#[test]
fn network_none_and_host() {
    let env = Env::new();
    let (listener, port) = host_listener();
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             RUN --network=none ip -o link | grep -v ' lo:' | wc -l | sed 's/^/LINKS=/'; \
                 echo hi | nc -w 2 127.0.0.1 {port} && echo REACHED-NONE; true\n"
        ),
    )]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    assert!(logs.contains("LINKS=0"), "{logs}");
    assert!(!logs.contains("REACHED"), "{logs}");
    assert_never_connected(&listener);

    // Host networking is the user's to grant.
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             RUN echo step\n\
             RUN --network=host echo hi | nc -w 2 127.0.0.1 {port} && echo REACHED-HOST\n"
        ),
    )]);
    let denied = env.build(c.path(), &["--no-cache"]);
    assert!(!denied.success);
    assert!(
        denied.stderr.contains("--allow network.host")
            && denied.stderr.contains("Dockerfile:3")
            && denied.stderr.contains("network.host entitlement"),
        "{}",
        denied.stderr
    );
    assert!(denied.ran().is_empty(), "nothing runs before the check");
    listener.set_nonblocking(false).expect("blocking");
    let accept = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf
    });
    let logs = logs_of(&env, c.path(), &["--no-cache", "--allow", "network.host"]);
    assert!(logs.contains("REACHED-HOST"), "{logs}");
    assert_eq!(accept.join().expect("join").trim(), "hi");
}

// ---------------------------------------------------------------------------------------------
// The confinement itself

#[test]
fn capabilities_seccomp_and_no_new_mounts() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN grep -E '^(CapBnd|CapEff|CapPrm|CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status; \
             unshare -m true && echo UNSHARE-OK; \
             mount -t tmpfs none /mnt && echo MOUNT-OK; \
             nsenter -t 1 -m true && echo NSENTER-OK; \
             head -c 4 /proc/1/exe >/dev/null && echo READ-INIT-EXE; \
             readlink /proc/1/fd/0 && echo READ-INIT-FD; \
             readlink /proc/1/root && echo READ-INIT-ROOT; \
             true\n",
    )]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    // docker's default set, CAP_MKNOD included: 0xa80425fb.
    for line in [
        "CapBnd:\t00000000a80425fb",
        "CapEff:\t00000000a80425fb",
        "CapPrm:\t00000000a80425fb",
        "CapInh:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "Seccomp:\t2",
        "NoNewPrivs:\t0",
    ] {
        assert!(logs.contains(line), "{line}:\n{logs}");
    }
    for bad in [
        "UNSHARE-OK",
        "MOUNT-OK",
        "NSENTER-OK",
        "READ-INIT-EXE",
        "READ-INIT-FD",
        "READ-INIT-ROOT",
    ] {
        assert!(!logs.contains(bad), "{bad}:\n{logs}");
    }
}

#[test]
fn insecure_steps_need_the_entitlement() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN --security=insecure grep -E '^(CapEff|Seccomp):' /proc/self/status\n",
    )]);
    let denied = env.build(c.path(), &["--no-cache"]);
    assert!(!denied.success);
    assert!(
        denied.stderr.contains("--allow security.insecure")
            && denied.stderr.contains("Dockerfile:2"),
        "{}",
        denied.stderr
    );
    let logs = logs_of(&env, c.path(), &["--no-cache", "--allow=security.insecure"]);
    assert!(logs.contains("Seccomp:\t0"), "{logs}");
    assert!(!logs.contains("CapEff:\t00000000a80425fb"), "{logs}");
}

#[test]
fn users_get_their_groups_and_su_and_chown_work() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN echo 'daemon:x:1:1:daemon:/:/bin/sh' >> /etc/passwd && \
             echo 'daemon:x:1:' >> /etc/group && echo 'staff:x:50:app' >> /etc/group\n\
         RUN echo ROOT $(id) | tee /tmp/root.id\n\
         USER daemon\n\
         RUN echo DAEMON $(id) | tee /tmp/daemon.id\n\
         USER 1234\n\
         RUN echo NUMERIC $(id) | tee /tmp/numeric.id\n\
         USER app\n\
         RUN echo APP $(id) | tee /tmp/app.id\n\
         USER root\n\
         RUN touch /owned && chown app:app /owned && stat -c 'OWNER %u:%g' /owned; \
             su -s /bin/sh app -c 'echo SU $(id -u)'\n",
    )]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    for want in [
        "ROOT uid=0(root) gid=0(root) groups=0(root)",
        "DAEMON uid=1(daemon) gid=1(daemon) groups=1(daemon)",
        "NUMERIC uid=1234 gid=0(root) groups=0(root)",
        "APP uid=1000(app) gid=1000(app) groups=50(staff),1000(app)",
        "OWNER 1000:1000",
        "SU 1000",
    ] {
        assert!(logs.contains(want), "{want}:\n{logs}");
    }
}

#[test]
fn exported_files_follow_the_umask() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let d = tempfile::tempdir().expect("tempdir");
    for (umask, want) in [("022", 0o644), ("077", 0o600)] {
        for kind in ["docker", "oci", "tar"] {
            let out = d.path().join(format!("{kind}-{umask}.tar"));
            let cmd = format!(
                "umask {umask}; exec '{}' build --progress=quiet --root '{}' -t x -o type={kind},dest='{}' '{}'",
                env!("CARGO_BIN_EXE_cairn"),
                env.root().display(),
                out.display(),
                c.path().display()
            );
            let st = std::process::Command::new("sh")
                .args(["-c", &cmd])
                .env("CAIRN_ROOT", "/dev/null/cairn-e2e-default-root")
                .status()
                .expect("build");
            assert!(st.success(), "{kind} with umask {umask}");
            let mode = std::fs::metadata(&out).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, want, "{kind} with umask {umask}: {mode:o}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The rest of runc's default spec, each checked from inside a step

/// The mount options of the mount at `target` in a step's mountinfo lines (the last one, the
/// one on top).
fn mount_options<'a>(mountinfo: &'a [&'a str], target: &str) -> Option<&'a str> {
    mountinfo
        .iter()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .and_then(|l| l.split(' ').nth(5))
}

#[test]
fn a_step_gets_runcs_default_spec() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN --mount=type=cache,target=/cache --mount=type=tmpfs,target=/scratch \
             echo STDIN=$(readlink /proc/self/fd/0); \
             echo DEV=$(ls /dev | tr '\\n' ' '); \
             echo PTS=$(ls /dev/pts | tr '\\n' ' '); \
             unshare -U true && echo USERNS-OK; \
             mknod /cache/disk b 7 0 && head -c 1 /cache/disk && echo READ-NODE-IN-CACHE; \
             sed 's/^/MI /' /proc/self/mountinfo\n",
    )]);
    let logs = logs_of(&env, c.path(), &["--no-cache"]);
    // stdin is /dev/null: nothing of the invoking terminal.
    assert!(logs.contains("STDIN=/dev/null"), "{logs}");
    // A private /dev with exactly the nodes runc gives (and the fd links).
    let dev = logs
        .lines()
        .find_map(|l| l.strip_prefix("DEV="))
        .expect("the /dev listing");
    let mut names: Vec<&str> = dev.split_whitespace().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "tty", "urandom", "zero"
        ],
        "{logs}"
    );
    // Its own devpts instance: none of the host's terminals.
    assert!(logs.contains("PTS=ptmx"), "{logs}");
    // Only seccomp stops a user namespace here (no capability is needed for one).
    assert!(!logs.contains("USERNS-OK"), "{logs}");
    // A node made in a cache mount is inert (nodev), like one in the root file system.
    assert!(!logs.contains("READ-NODE-IN-CACHE"), "{logs}");

    let mountinfo: Vec<&str> = logs.lines().filter_map(|l| l.strip_prefix("MI ")).collect();
    assert!(!mountinfo.is_empty(), "{logs}");
    for ro in [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/fs",
    ] {
        if !Path::new(ro).exists() {
            continue;
        }
        let opts = mount_options(&mountinfo, ro).unwrap_or_else(|| panic!("{ro} not mounted"));
        assert!(opts.split(',').any(|o| o == "ro"), "{ro}: {opts}");
    }
    for masked in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/acpi",
        "/proc/interrupts",
        "/sys/firmware",
    ] {
        if Path::new(masked).exists() {
            assert!(
                mount_options(&mountinfo, masked).is_some(),
                "{masked} is not masked:\n{}",
                mountinfo.join("\n")
            );
        }
    }
    // /sys is read-only, and so is everything mounted below it.
    for line in mountinfo.iter().filter(|l| {
        l.split(' ')
            .nth(4)
            .is_some_and(|t| t == "/sys" || t.starts_with("/sys/"))
    }) {
        let opts = line.split(' ').nth(5).unwrap_or("");
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "writable under /sys: {line}"
        );
    }
    // Cache and tmpfs mounts: no device, no setuid.
    for target in ["/cache", "/scratch"] {
        let opts = mount_options(&mountinfo, target).unwrap_or_else(|| panic!("{target}"));
        for flag in ["nodev", "nosuid"] {
            assert!(opts.split(',').any(|o| o == flag), "{target}: {opts}");
        }
    }
}

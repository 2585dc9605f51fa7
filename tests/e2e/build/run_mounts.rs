//! `RUN --mount` as BuildKit does it: mounts without a target, `.dockerignore` on context
//! binds, cache mount owners and modes.

use super::fixture::{Env, context, out_dir};
use std::os::unix::fs::PermissionsExt;

fn read(out: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn mounts_without_a_target_go_on_the_workdir() {
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox AS data\nRUN echo d > /d.txt\n\
             FROM busybox\nWORKDIR /src\n\
             RUN --mount=type=bind cat /src/a.txt > /out-bind\n\
             RUN --mount=from=data cat /src/d.txt > /out-stage\n\
             RUN --mount=type=cache echo c > /src/c\n\
             RUN --mount=type=cache cat /src/c > /out-cache\n\
             RUN --mount=type=tmpfs grep ' /src tmpfs' /proc/mounts | wc -l > /out-tmpfs\n\
             RUN ls /src | wc -l > /out-left\n",
        ),
        ("a.txt", "A\n"),
    ]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(read(&out, "out-bind"), "A\n");
    assert_eq!(read(&out, "out-stage"), "d\n");
    assert_eq!(read(&out, "out-cache"), "c\n");
    assert_eq!(read(&out, "out-tmpfs").trim(), "1");
    assert_eq!(
        read(&out, "out-left").trim(),
        "0",
        "nothing mounted landed in the layer"
    );
}

#[test]
fn a_mount_without_a_target_on_the_root_is_refused() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN --mount=type=bind true\n")]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("invalid mount target \"/\"") && b.stderr.contains("Dockerfile:2"),
        "{}",
        b.stderr
    );
}

#[test]
fn dockerignore_applies_to_context_bind_mounts() {
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=bind,target=/ctx cd /ctx && find . | sort > /seen-ro && stat -c %a sub > /sub-mode\n\
             RUN --mount=type=bind,target=/ctx,rw cd /ctx && find . | sort > /seen-rw && echo x > secret.txt\n\
             COPY . /copied\n\
             RUN cd /copied && find . | sort > /seen-copy\n",
        ),
        (".dockerignore", "secret.txt\nlogs\n*.tmp\nsub\n!sub/keep\n"),
        ("secret.txt", "TOP-SECRET\n"),
        ("app.txt", "app\n"),
        ("x.tmp", "tmp\n"),
        ("logs/1.log", "log\n"),
        ("sub/keep", "keep\n"),
        ("sub/drop", "drop\n"),
        ("sub/deeper/file", "deep\n"),
    ]);
    std::fs::set_permissions(c.path().join("sub"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    let seen = read(&out, "seen-ro");
    for hidden in ["secret.txt", "logs", "x.tmp", "sub/drop", "sub/deeper"] {
        assert!(!seen.contains(hidden), "{hidden} visible:\n{seen}");
    }
    for shown in ["./app.txt", "./sub/keep", "./Dockerfile"] {
        assert!(seen.contains(shown), "{shown} missing:\n{seen}");
    }
    assert_eq!(seen, read(&out, "seen-rw"));
    assert_eq!(
        seen,
        read(&out, "seen-copy"),
        "a bind shows what a COPY copies"
    );
    assert_eq!(read(&out, "sub-mode").trim(), "750");
    assert_eq!(
        std::fs::read_to_string(c.path().join("secret.txt")).expect("secret"),
        "TOP-SECRET\n",
        "an rw bind never writes the context"
    );
}

#[test]
fn cache_mounts_take_uid_gid_and_mode() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN --mount=type=cache,target=/c,uid=1000,gid=1000,mode=0750 stat -c '%a %u:%g' /c > /perm\n\
         USER app\n\
         RUN --mount=type=cache,target=/c,uid=1000,gid=1000 touch /c/mine && stat -c %u /c/mine > /tmp/owner\n\
         USER root\n\
         RUN cp /tmp/owner /owner\n",
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(read(&out, "perm").trim(), "750 1000:1000");
    assert_eq!(read(&out, "owner").trim(), "1000");
}

/// Asks the agent at $SSH_AUTH_SOCK for its identities (SSH_AGENTC_REQUEST_IDENTITIES) and
/// prints how many it holds.
const AGENT_LIST_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    if (!path) { printf("no SSH_AUTH_SOCK\n"); return 1; }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    unsigned char req[5] = {0, 0, 0, 1, 11};
    if (write(fd, req, 5) != 5) { perror("write"); return 1; }
    unsigned char resp[9];
    size_t got = 0;
    while (got < 9) { ssize_t n = read(fd, resp + got, 9 - got); if (n <= 0) return 1; got += n; }
    if (resp[4] != 12) { printf("unexpected answer %d\n", resp[4]); return 1; }
    unsigned n = (resp[5] << 24) | (resp[6] << 16) | (resp[7] << 8) | resp[8];
    printf("identities: %u\n", n);
    return 0;
}
"#;

#[test]
fn ssh_mounts_reach_the_forwarded_agent() {
    let t = tempfile::tempdir().expect("tempdir");
    let sock = t.path().join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent (openssh-client)");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let key = t.path().join("id");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let add = std::process::Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add");
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );

    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY agentls /agentls\nRUN --mount=type=ssh /agentls\n",
    )]);
    std::fs::copy(
        super::fixture::static_program("agentls", AGENT_LIST_C),
        c.path().join("agentls"),
    )
    .expect("copy");
    // Without --ssh: BuildKit's error, naming the flag.
    let b = env.build(c.path(), &["--no-cache"]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("no SSH key \\\"default\\\" forwarded")
            || b.stderr.contains("no SSH key"),
        "{}",
        b.stderr
    );
    assert!(b.stderr.contains("--ssh default"), "{}", b.stderr);
    // With it, the step talks to the agent.
    let out = crate::util::cairn()
        .args([
            "build",
            "--progress=json",
            "--no-cache",
            "--ssh",
            "default",
            "--root",
        ])
        .arg(env.root())
        .arg(c.path())
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("build");
    let b = super::fixture::Build::from(out);
    assert!(b.success, "{}", b.stderr);
    assert!(
        b.logs().iter().any(|l| l == "identities: 1"),
        "{:?}",
        b.logs()
    );
    // A key file (as buildx takes it): loaded into an agent cairn runs for the build.
    let from_key = env.build(
        c.path(),
        &["--no-cache", "--ssh", &format!("default={}", key.display())],
    );
    assert!(from_key.success, "{}", from_key.stderr);
    assert!(
        from_key.logs().iter().any(|l| l == "identities: 1"),
        "{:?}",
        from_key.logs()
    );
    // Neither a socket nor a file: a clear error.
    let bad = env.build(c.path(), &["--ssh", "default=/dev/null"]);
    assert!(!bad.success);
    assert!(
        bad.stderr
            .contains("neither an agent socket nor a key file"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_step_that_ignores_the_cache_gets_an_empty_cache_mount() {
    // BuildKit's testCacheMountModeNoCache (moby/buildkit#5305).
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS base\nARG FOO=abc\n\
         RUN --mount=type=cache,target=/cache,mode=0773 touch /cache/$FOO && ls -l /cache | wc -l > /out\n\
         FROM scratch\nCOPY --from=base /out /\n",
    )]);
    let out_of = |args: &[&str]| {
        let (_t, out) = out_dir();
        let mut all = args.to_vec();
        let dest = format!("--output=type=local,dest={}", out.display());
        all.push(&dest);
        env.build_ok(c.path(), &all);
        std::fs::read_to_string(out.join("out"))
            .expect("out")
            .trim()
            .to_string()
    };
    assert_eq!(out_of(&[]), "2");
    assert_eq!(out_of(&["--no-cache", "--build-arg", "FOO=def"]), "2");
    assert_eq!(
        out_of(&["--no-cache-filter", "base", "--build-arg", "FOO=xyz"]),
        "2"
    );
    // The kept mount never saw def or xyz.
    assert_eq!(out_of(&["--build-arg", "FOO=ghi"]), "3");
}

#[test]
fn secret_mounts_as_files_and_env_never_reach_the_layer() {
    let env = Env::new();
    let secret = tempfile::NamedTempFile::new().expect("secret file");
    std::fs::write(secret.path(), "pw").expect("write");
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN --mount=type=secret,id=s cat /run/secrets/s > /from-file\n\
         RUN --mount=type=secret,id=s,env=S echo \"$S\" > /from-env\n\
         RUN --mount=type=secret,id=absent ls /run/secrets > /optional 2>&1 || echo none > /optional\n",
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[
            "--secret",
            &format!("id=s,src={}", secret.path().display()),
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    let read =
        |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(read("from-file"), "pw");
    assert_eq!(read("from-env"), "pw\n");
    assert_eq!(
        read("optional"),
        "none\n",
        "a missing optional secret is not mounted"
    );
    assert!(!out.join("run/secrets/s").exists(), "never in the layer");

    // A required secret that was not given: BuildKit's words, with the Dockerfile line.
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=mysecret,required=true true\n",
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("secret mysecret: not found"),
        "{}",
        b.stderr
    );
    assert!(b.stderr.contains("Dockerfile:2"), "{}", b.stderr);
}

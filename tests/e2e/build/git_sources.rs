//! `ADD <repo>.git#ref:dir` against a repository served by `git daemon` on 127.0.0.1: refs
//! (tags, branches, commit ids), subdirectories, `--keep-git-dir`, revalidation by commit,
//! and what a hostile Dockerfile may not reach.

use super::fixture::{Env, context, out_dir};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub(super) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "@1500000000 +0000")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository `repo.git` under a directory `git daemon` serves on 127.0.0.1.
struct Served {
    _base: tempfile::TempDir,
    repo: PathBuf,
    port: u16,
    daemon: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Served {
    fn start() -> Served {
        let base = tempfile::tempdir().expect("tempdir");
        let repo = base.path().join("repo.git");
        std::fs::create_dir_all(repo.join("docs")).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("app.txt"), "v1\n").expect("write");
        std::fs::write(repo.join("docs/readme.md"), "docs\n").expect("write");
        std::fs::write(repo.join("run.sh"), "#!/bin/sh\necho ran\n").expect("write");
        std::fs::set_permissions(repo.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "one", "--date=@1500000000"]);
        git(&repo, &["tag", "-a", "v1", "-m", "release"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        // The daemon itself, not `git daemon` (which may run it as a child that outlives a kill).
        let exec_path = git(base.path(), &["--exec-path"]);
        let daemon = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                "--export-all",
            ])
            .arg(format!("--base-path={}", base.path().display()))
            .arg(base.path())
            .spawn()
            .expect("git daemon");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Served {
            _base: base,
            repo,
            port,
            daemon,
        }
    }

    fn url(&self, fragment: &str) -> String {
        format!("git://127.0.0.1:{}/repo.git{fragment}", self.port)
    }
}

#[test]
fn add_git_refs_subdirs_and_keep_git_dir() {
    let served = Served::start();
    let v1 = git(&served.repo, &["rev-parse", "v1^{commit}"]);
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             ADD {tag} /src\n\
             ADD {docs} /docs\n\
             ADD --keep-git-dir=true {head} /withgit\n\
             ADD {by_id} /byid\n\
             RUN cat /src/app.txt > /seen && /src/run.sh > /ran\n",
            tag = served.url("#v1"),
            docs = served.url("#main:docs"),
            head = served.url(""),
            by_id = served.url(&format!("#{v1}")),
        ),
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    let read =
        |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(read("seen"), "v1\n");
    assert_eq!(read("ran"), "ran\n", "the exec bit came along");
    assert!(!out.join("src/.git").exists(), "no .git unless asked");
    assert_eq!(read("docs/readme.md"), "docs\n");
    assert!(!out.join("docs/app.txt").exists(), "only the subdirectory");
    assert!(out.join("withgit/.git").is_dir());
    assert_eq!(read("byid/app.txt"), "v1\n");
    let meta = std::fs::metadata(out.join("src/app.txt")).expect("stat");
    assert_eq!(meta.mtime(), 1_500_000_000, "files carry the commit's time");

    // Unchanged remote: nothing runs again.
    let b = env.build_ok(c.path(), &[]);
    assert!(b.ran().is_empty(), "{:?}", b.ran());

    // A new commit on main: the steps reading main run again, the tag's stays.
    std::fs::write(served.repo.join("docs/readme.md"), "docs v2\n").expect("write");
    git(&served.repo, &["commit", "-q", "-am", "two"]);
    let (_t2, out2) = out_dir();
    let b = env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out2.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out2.join("docs/readme.md")).expect("docs"),
        "docs v2\n"
    );
    assert!(
        b.ran().iter().any(|s| s.contains("#main:docs")),
        "{:?}",
        b.ran()
    );
}

#[test]
fn bad_git_sources_are_clear_errors_naming_the_line() {
    let served = Served::start();
    let env = Env::new();
    for (source, says) in [
        (served.url("#no-such-branch"), "no-such-branch"),
        (served.url("#main:no/such/dir"), "no directory"),
        // Not a git transport: a local path, as BuildKit reads it (never fetched).
        ("file:///etc/repo.git".to_string(), "not found"),
        (
            "ssh://git@127.0.0.1/repo.git".to_string(),
            "no SSH key \"default\" forwarded",
        ),
        (
            format!("git://127.0.0.1:{}/missing.git", served.port),
            "git ls-remote failed",
        ),
    ] {
        let c = context(&[("Dockerfile", &format!("FROM busybox\n\nADD {source} /x\n"))]);
        let b = env.build(c.path(), &[]);
        assert!(!b.success, "{source}");
        assert!(
            b.stderr.contains("Dockerfile:3") && b.stderr.contains(says),
            "{source}: {}",
            b.stderr
        );
        assert!(!b.stderr.contains("panicked"), "{}", b.stderr);
    }
}

#[test]
fn a_git_repository_as_the_build_context() {
    let served = Served::start();
    std::fs::write(
        served.repo.join("Dockerfile"),
        "FROM busybox\nCOPY app.txt /from-context.txt\n",
    )
    .expect("write");
    std::fs::write(
        served.repo.join("docs/Other.Dockerfile"),
        "FROM busybox\nCOPY readme.md /readme.md\n",
    )
    .expect("write");
    git(&served.repo, &["add", "-A"]);
    git(&served.repo, &["commit", "-q", "-m", "dockerfiles"]);
    let env = Env::new();
    let empty = tempfile::tempdir().expect("tempdir");
    for (url, file, extra) in [
        (served.url("#main"), "from-context.txt", vec![]),
        (
            served.url("#main:docs"),
            "readme.md",
            vec!["-f", "Other.Dockerfile"],
        ),
    ] {
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let b = crate::util::cairn()
            .current_dir(empty.path())
            .args(["build", "--root"])
            .arg(env.root())
            .args(&extra)
            .arg(&dest)
            .arg(&url)
            .output()
            .expect("run");
        assert!(
            b.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&b.stderr)
        );
        assert!(out.join(file).is_file(), "{url}");
    }
}

#[test]
fn a_silent_git_remote_fails_within_the_timeout() {
    // Accepts connections and never says a word (git has no timeout of its own).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nADD git://127.0.0.1:{port}/repo.git#main /src\n"),
    )]);
    let start = std::time::Instant::now();
    let b = env.build(c.path(), &["--registry-timeout", "3"]);
    let took = start.elapsed();
    assert!(!b.success);
    assert!(
        b.stderr.contains("Dockerfile:2") && b.stderr.contains("no result within 3 s"),
        "{}",
        b.stderr
    );
    // A liveness bound, not a speed claim: 3 s asked; without it, for ever.
    assert!(
        took < std::time::Duration::from_secs(60),
        "gave up after {took:?}"
    );
}

/// An sshd of the test's own on 127.0.0.1 that lets in the key `id` (root, keys only).
struct SshServer {
    dir: tempfile::TempDir,
    port: u16,
    daemon: Child,
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl SshServer {
    fn start() -> SshServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let keygen = |path: &Path| {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen (openssh-client)");
            assert!(ok.success());
        };
        keygen(&d.join("host_key"));
        keygen(&d.join("id"));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {0}/host_key\nAuthorizedKeysFile {0}/authorized_keys\n\
                 PidFile {0}/sshd.pid\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n",
                d.display()
            ),
        )
        .expect("sshd_config");
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let daemon = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sshd (openssh-server)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        SshServer { dir, port, daemon }
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("id")
    }
}

#[test]
fn add_git_over_ssh_with_the_forwarded_key() {
    // `ADD ssh://…` (and `git@host:path`) authenticates with `--ssh default`, as BuildKit's
    // git source does; without it, BuildKit's error.
    let sshd = SshServer::start();
    let base = tempfile::tempdir().expect("tempdir");
    let repo = base.path().join("repo.git");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("app.txt"), "over ssh\n").expect("write");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    let url = format!("ssh://root@127.0.0.1:{}{}", sshd.port, repo.display());
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!("FROM scratch\nADD {url}#main /src\n"),
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success, "an ssh remote without --ssh built");
    assert!(
        b.stderr.contains("no SSH key \"default\" forwarded"),
        "{}",
        b.stderr
    );
    let (_t, out) = out_dir();
    let key = format!("default={}", sshd.key().display());
    env.build_ok(
        c.path(),
        &[
            "--ssh",
            &key,
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("src/app.txt")).expect("app.txt"),
        "over ssh\n"
    );
    // And as the build context.
    std::fs::write(
        repo.join("Dockerfile"),
        "FROM scratch\nCOPY app.txt /copied\n",
    )
    .expect("write");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "two"]);
    let (_t2, out2) = out_dir();
    let o = crate::util::cairn()
        .args(["build", "--progress=plain", "--root"])
        .arg(env.root())
        .args(["--ssh", &key])
        .arg(format!("--output=type=local,dest={}", out2.display()))
        .arg(format!("{url}#main"))
        .output()
        .expect("cairn");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out2.join("copied")).expect("copied"),
        "over ssh\n"
    );
}

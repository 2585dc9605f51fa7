//! BuildKit's `dockerfile_addgit_test.go` and the git half of `dockerfile_git_http_test.go`:
//! repositories served as static files over http (git's "dumb" protocol, as BuildKit's
//! tests serve them with `http.FileServer`), sha1 and sha256 object formats, `--checksum`,
//! and every query form of a git URL, as `ADD` and as the build context.

use super::super::fixture::{Env, context, out_dir};
use super::super::git_sources::git;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

/// Serve the files under `root` on 127.0.0.1 (GET only; 404 for anything missing).
pub(super) fn serve_dir(root: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || serve_file(&stream, &root));
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn serve_file(stream: &std::net::TcpStream, root: &Path) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or_default();
    let file: PathBuf = root.join(path.trim_start_matches('/'));
    let body = if path.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let mut w = stream;
    match body {
        Some(b) => {
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = w.write_all(&b);
        }
        None => {
            let _ = write!(
                w,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

/// A repository with `foo` committed and tagged at v0.0.1.. (one commit per tag).
fn tagged_repo(object_format: &str, tags: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    git(
        dir.path(),
        &["init", "-q", &format!("--object-format={object_format}")],
    );
    for tag in tags {
        std::fs::write(dir.path().join("foo"), format!("foo of {tag}\n")).expect("write");
        git(dir.path(), &["add", "foo"]);
        git(dir.path(), &["commit", "-q", "-m", tag]);
        git(dir.path(), &["tag", tag]);
    }
    git(dir.path(), &["update-server-info"]);
    dir
}

/// Build `dockerfile` in `env` with `args`; its stderr on failure.
fn try_build(env: &Env, dockerfile: &str, args: &[&str]) -> Result<(), String> {
    let c = context(&[("Dockerfile", dockerfile)]);
    let b = env.build(c.path(), args);
    if b.success { Ok(()) } else { Err(b.stderr) }
}

fn add_git(object_format: &str) {
    // testAddGit (`apk add git` + `git status` → the checkout's .git is whole: git's own
    // `git -C … rev-parse HEAD` of the host reads it).
    let repo = tagged_repo(object_format, &["v0.0.1", "v0.0.2", "v0.0.3"]);
    let v2 = git(repo.path(), &["rev-parse", "v0.0.2"]);
    let v3 = git(repo.path(), &["rev-parse", "v0.0.3"]);
    let url = serve_dir(repo.path());
    let env = Env::new();
    let ok = |dockerfile: String| {
        try_build(&env, &dockerfile, &[]).unwrap_or_else(|e| panic!("{dockerfile}\n{e}"))
    };
    ok(format!(
        r#"
FROM busybox
ADD {url}/.git#v0.0.1 /x
RUN cd /x && \
  [ "$(cat foo)" = "foo of v0.0.1" ]
ARG REPO="{url}/.git"
ARG TAG="v0.0.2"
ADD --keep-git-dir=true --chown=4242:8484 --checksum={v2} ${{REPO}}#${{TAG}} /buildkit-chowned
USER 4242
RUN cd /buildkit-chowned && \
  [ "$(cat foo)" = "foo of v0.0.2" ] && \
  [ "$(stat -c %u foo)" = "4242" ] && \
  [ "$(stat -c %g foo)" = "8484" ] && \
  [ "$(cat .git/HEAD)" = "{v2}" ]
"#
    ));
    ok(format!(
        "FROM busybox\nARG REPO=\"{url}/.git\"\nARG TAG=\"v0.0.3\"\nADD --checksum={v3} ${{REPO}}#${{TAG}} /nogitdir\nRUN [ -f /nogitdir/foo ]\nRUN [ \"$(cat /nogitdir/foo)\" = \"foo of v0.0.3\" ]\nRUN [ ! -d /nogitdir/.git ]\n"
    ));
    ok(format!(
        "FROM busybox\nARG REPO=\"{url}/.git\"\nARG TAG=\"v0.0.2\"\nADD --keep-git-dir --checksum={v2} ${{REPO}}#${{TAG}} /nogitdir\nRUN [ -f /nogitdir/foo ]\nRUN [ \"$(cat /nogitdir/foo)\" = \"foo of v0.0.2\" ]\nRUN [ -d /nogitdir/.git ]\n"
    ));
    ok(format!(
        "FROM busybox\nARG REPO=\"{url}/.git\"\nARG COMMIT=\"{v3}\"\nADD --keep-git-dir=true --checksum={v3} ${{REPO}}#${{COMMIT}} /commitdir\nRUN [ -f /commitdir/foo ]\nRUN [ \"$(cat /commitdir/foo)\" = \"foo of v0.0.3\" ]\nRUN [ -d /commitdir/.git ]\n"
    ));
    let e = try_build(
        &env,
        &format!("FROM busybox\nARG REPO=\"{url}/.git\"\nARG TAG=\"v0.0.3\"\nADD --checksum={v2} ${{REPO}}#${{TAG}} /faildir\n"),
        &[],
    )
    .expect_err("a wrong checksum built");
    assert!(e.contains("expected checksum to match"), "{e}");
    let e = try_build(
        &env,
        &format!("FROM busybox\nARG REPO=\"{url}/.git\"\nARG TAG=\"v0.0.3\"\nADD --checksum=foobar ${{REPO}}#${{TAG}} /faildir\n"),
        &[],
    )
    .expect_err("a garbage checksum built");
    assert!(
        e.contains("invalid checksum") && e.contains("expected hex commit hash"),
        "{e}"
    );
}

#[test]
fn add_git_sha1() {
    // testAddGitSHA1.
    add_git("sha1");
}

#[test]
fn add_git_sha256() {
    // testAddGitSHA256.
    add_git("sha256");
}

#[test]
fn add_git_with_a_checksum_hits_the_cache_of_one_without() {
    // testAddGitChecksumCache.
    let repo = tagged_repo("sha1", &["v0.0.1", "v0.0.2"]);
    let commit = git(repo.path(), &["rev-parse", "v0.0.2"]);
    let url = serve_dir(repo.path());
    let env = Env::new();
    let unique = |checksum: &str| {
        let c = context(&[(
            "Dockerfile",
            &format!(
                "FROM busybox AS src\nADD --keep-git-dir {checksum} {url}/.git#v0.0.2 /repo\nRUN head -c 16 /dev/urandom | base64 > /repo/unique.txt\nFROM scratch\nCOPY --from=src /repo/unique.txt /\n"
            ),
        )]);
        let (_t, out) = out_dir();
        env.build_ok(
            c.path(),
            &[&format!("--output=type=local,dest={}", out.display())],
        );
        std::fs::read_to_string(out.join("unique.txt")).expect("unique.txt")
    };
    let first = unique("");
    assert_eq!(
        unique(&format!("--checksum={commit}")),
        first,
        "the checksum split the cache"
    );
}

/// The repository of testGitQueryString: a submodule, branches `base` and `feature` (with
/// `sub/`), tags v0.0.1, v0.0.2 and `latest` on master.
struct QueryRepo {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    url: String,
    v2: String,
    latest: String,
}

fn query_repo() -> QueryRepo {
    let submod = tempfile::tempdir().expect("tmp");
    git(submod.path(), &["init", "-q"]);
    std::fs::write(submod.path().join("file"), "123\n").expect("write");
    git(submod.path(), &["add", "file"]);
    git(submod.path(), &["commit", "-q", "-m", "initial"]);
    git(submod.path(), &["update-server-info"]);
    let submod_url = serve_dir(submod.path());

    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    git(d, &["init", "-q", "-b", "master"]);
    std::fs::write(d.join("foo"), "base\n").expect("write");
    std::fs::write(
        d.join("Dockerfile"),
        "FROM scratch AS withgit\nCOPY .git/HEAD out\nFROM scratch as withsubmod\nCOPY submod/file out\nFROM scratch\nCOPY foo out\n",
    )
    .expect("write");
    git(
        d,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &format!("{submod_url}/.git"),
            "submod",
        ],
    );
    git(d, &["add", "Dockerfile", "foo", "submod"]);
    git(d, &["commit", "-q", "-m", "initial"]);
    git(d, &["tag", "v0.0.1"]);
    git(d, &["branch", "base"]);
    std::fs::write(d.join("foo"), "feature\n").expect("write");
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    std::fs::write(d.join("sub/foo"), "subfeature\n").expect("write");
    std::fs::copy(d.join("Dockerfile"), d.join("sub/Dockerfile")).expect("cp");
    git(d, &["add", "foo", "sub"]);
    git(d, &["commit", "-q", "-m", "feature"]);
    git(d, &["branch", "feature"]);
    git(d, &["checkout", "-q", "-B", "master", "base"]);
    for (content, tag) in [("v0.0.2\n", "v0.0.2"), ("latest\n", "latest")] {
        std::fs::write(d.join("foo"), content).expect("write");
        git(d, &["add", "foo"]);
        git(d, &["commit", "-q", "-m", tag]);
        git(d, &["tag", tag]);
    }
    git(d, &["update-server-info"]);
    let v2 = git(d, &["rev-parse", "v0.0.2"]);
    let latest = git(d, &["rev-parse", "latest"]);
    assert_ne!(v2, latest);
    let url = serve_dir(d);
    QueryRepo {
        _dirs: (submod, dir),
        url,
        v2,
        latest,
    }
}

/// One case of testGitQueryString: name, URL suffix, target, Ok(out) or Err(message part).
type QueryCase = (
    &'static str,
    String,
    Option<&'static str>,
    Result<String, &'static str>,
);

/// testGitQueryString's cases.
fn query_cases(r: &QueryRepo) -> Vec<QueryCase> {
    let (v2, latest) = (&r.v2, &r.latest);
    let short = |s: &str| s.get(..8).unwrap_or_default().to_string();
    vec![
        (
            "tag with invalid commit",
            format!("?tag=v0.0.2&commit={latest}"),
            None,
            Err("expected checksum to match"),
        ),
        (
            "old style ref",
            "#v0.0.2".into(),
            None,
            Ok("v0.0.2\n".into()),
        ),
        (
            "querystring ref",
            "?ref=base".into(),
            None,
            Ok("base\n".into()),
        ),
        (
            "querystring branch",
            "?branch=base".into(),
            None,
            Ok("base\n".into()),
        ),
        (
            "querystring invalid branch",
            "?branch=invalid".into(),
            None,
            Err("repository does not contain ref"),
        ),
        (
            "tag as branch",
            "?branch=v0.0.2".into(),
            None,
            Err("repository does not contain ref"),
        ),
        (
            "allowed mixed refs",
            "?tag=v0.0.2#refs/tags/v0.0.2".into(),
            None,
            Ok("v0.0.2\n".into()),
        ),
        (
            "v2 by commit",
            format!("?commit={latest}"),
            None,
            Ok("latest\n".into()),
        ),
        (
            "v2 by commit (wrong short)",
            format!("?commit={}", short(v2)),
            None,
            Err("expected checksum to match"),
        ),
        (
            "v2 by commit (short)",
            format!("?commit={}", short(latest)),
            None,
            Ok("latest\n".into()),
        ),
        (
            "v2 ref by commit",
            format!("?ref={v2}"),
            None,
            Ok("v0.0.2\n".into()),
        ),
        (
            "v2 ref by commit (short)",
            format!("?ref={}", short(v2)),
            None,
            Err("repository does not contain ref"),
        ),
        (
            "tag with commit",
            format!("?tag=v0.0.2&commit={v2}"),
            None,
            Ok("v0.0.2\n".into()),
        ),
        (
            "commit with commit",
            format!("?ref={v2}&commit={v2}"),
            None,
            Ok("v0.0.2\n".into()),
        ),
        (
            "latest with commit",
            format!("?commit={latest}"),
            None,
            Ok("latest\n".into()),
        ),
        (
            "mismatch refs",
            "?tag=v0.0.2#refs/heads/master".into(),
            None,
            Err("ref conflicts"),
        ),
        (
            "sub old-style",
            "#feature:sub".into(),
            None,
            Ok("subfeature\n".into()),
        ),
        (
            "sub query",
            "?subdir=sub&ref=feature".into(),
            None,
            Ok("subfeature\n".into()),
        ),
        (
            "withgit",
            "?keep-git-dir=true".into(),
            Some("withgit"),
            Ok(format!("{latest}\n")),
        ),
        (
            "withgitandtag",
            "?tag=v0.0.2&keep-git-dir=true".into(),
            Some("withgit"),
            Ok(format!("{v2}\n")),
        ),
        (
            "withgit-default",
            String::new(),
            Some("withgit"),
            Err(".git/HEAD\": not found"),
        ),
        (
            "withgit-valueless",
            "?keep-git-dir&submodules".into(),
            Some("withgit"),
            Ok(format!("{latest}\n")),
        ),
        (
            "withgit-forbidden",
            "?keep-git-dir=false".into(),
            Some("withgit"),
            Err(".git/HEAD\": not found"),
        ),
        (
            "withsubmod",
            String::new(),
            Some("withsubmod"),
            Ok("123\n".into()),
        ),
        (
            "withsubmodset",
            "?submodules=true".into(),
            Some("withsubmod"),
            Ok("123\n".into()),
        ),
        (
            "withsubmodempty",
            "?submodules".into(),
            Some("withsubmod"),
            Ok("123\n".into()),
        ),
        (
            "withoutsubmod",
            "?submodules=false".into(),
            Some("withsubmod"),
            Err("submod/file\": not found"),
        ),
    ]
}

/// Check one case's outcome: `built` is the output directory or the error text.
fn check_case(
    name: &str,
    want: &Result<String, &str>,
    built: Result<String, String>,
) -> Option<String> {
    match (want, built) {
        (Ok(w), Ok(got)) if *w == got => None,
        (Err(w), Err(e)) if e.contains(w) => None,
        (want, got) => Some(format!("{name}: want {want:?}, got {got:?}")),
    }
}

#[test]
fn git_url_query_forms_as_the_build_context() {
    // testGitQueryString, the `context_` half.
    let r = query_repo();
    let env = Env::new();
    let mut wrong = Vec::new();
    for (name, suffix, target, want) in query_cases(&r) {
        let (_t, out) = out_dir();
        let ctx = format!("{}/.git{suffix}", r.url);
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut args = vec!["build", "--progress=plain", "--root"];
        let root = env.root().display().to_string();
        args.push(&root);
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        args.extend([dest.as_str(), ctx.as_str()]);
        let o = crate::util::cairn().args(&args).output().expect("cairn");
        let built = if o.status.success() {
            std::fs::read_to_string(out.join("out")).map_err(|e| e.to_string())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        };
        wrong.extend(check_case(name, &want, built));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn git_url_query_forms_in_add() {
    // testGitQueryString, the `add_` half.
    let r = query_repo();
    let env = Env::new();
    let mut wrong = Vec::new();
    for (name, suffix, target, want) in query_cases(&r) {
        let dockerfile = format!(
            "FROM scratch AS main\nADD {}/.git{suffix} /repo/\nFROM scratch as withsubmod\nCOPY --from=main /repo/submod/file /repo/foo\nFROM scratch AS withgit\nCOPY --from=main /repo/.git/HEAD /repo/foo\nFROM main\n",
            r.url
        );
        let c = context(&[("Dockerfile", &dockerfile)]);
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut args = vec![dest.as_str()];
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        let b = env.build(c.path(), &args);
        let built = if b.success {
            std::fs::read_to_string(out.join("repo/foo")).map_err(|e| e.to_string())
        } else {
            Err(b.stderr)
        };
        wrong.extend(check_case(name, &want, built));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn dockerfile_from_git(object_format: &str) {
    // testDockerfileFromGit.
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let mut dockerfile = "FROM busybox AS build\nRUN echo -n fromgit > foo\nFROM scratch\nCOPY --from=build foo bar\n".to_string();
    std::fs::write(d.join("Dockerfile"), &dockerfile).expect("write");
    git(
        d,
        &[
            "init",
            "-q",
            "-b",
            "master",
            &format!("--object-format={object_format}"),
        ],
    );
    git(d, &["add", "Dockerfile"]);
    git(d, &["commit", "-q", "-m", "initial"]);
    git(d, &["branch", "first"]);
    dockerfile.push_str("COPY --from=build foo bar2\n");
    std::fs::write(d.join("Dockerfile"), &dockerfile).expect("write");
    git(d, &["add", "Dockerfile"]);
    git(d, &["commit", "-q", "-m", "second"]);
    git(d, &["update-server-info"]);
    let url = serve_dir(d);
    let env = Env::new();
    let build = |ctx: &str| {
        let (t, out) = out_dir();
        let root = env.root().display().to_string();
        let dest = format!("--output=type=local,dest={}", out.display());
        let o = crate::util::cairn()
            .args(["build", "--progress=plain", "--root", &root, &dest, ctx])
            .output()
            .expect("cairn");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (t, out)
    };
    let (_t, out) = build(&format!("{url}/.git#first"));
    assert_eq!(
        std::fs::read_to_string(out.join("bar")).expect("bar"),
        "fromgit"
    );
    assert!(!out.join("bar2").exists());
    let (_t, out) = build(&format!("{url}/.git"));
    assert_eq!(
        std::fs::read_to_string(out.join("bar")).expect("bar"),
        "fromgit"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("bar2")).expect("bar2"),
        "fromgit"
    );
}

#[test]
fn dockerfile_from_git_sha1() {
    // testDockerfileFromGitSHA1.
    dockerfile_from_git("sha1");
}

#[test]
fn dockerfile_from_git_sha256() {
    // testDockerfileFromGitSHA256.
    dockerfile_from_git("sha256");
}

/// `cairn build ARGS URL` into a fresh local directory.
fn build_url_context(env: &Env, url: &str, args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let (t, out) = out_dir();
    let root = env.root().display().to_string();
    let dest = format!("--output=type=local,dest={}", out.display());
    let o = crate::util::cairn()
        .args(["build", "--progress=plain", "--root", &root, &dest])
        .args(args)
        .arg(url)
        .output()
        .expect("cairn");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (t, out)
}

#[test]
fn a_tarball_or_a_dockerfile_at_a_url_is_the_context() {
    // testDockerfileFromHTTP, testHTTPDockerfile (from dockerfile_git_http_test.go).
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("mydockerfile", "FROM busybox\nCOPY foo bar\n"),
        ("foo", "foo-contents"),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).expect("path");
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_cksum();
        tar.append(&h, data.as_bytes()).expect("append");
    }
    let tar = tar.into_inner().expect("tar");
    let server = super::super::http_sources::Server::start(b"", "\"e\"", None);
    server.route("/myurl", &tar, None);
    let dockerfile = "FROM busybox\nRUN echo -n \"foo-contents\" > /foo\nFROM scratch\nCOPY --from=0 /foo /foo\n";
    server.route("/df", dockerfile.as_bytes(), None);
    let env = Env::new();
    let (_t, out) = build_url_context(&env, &server.url("/myurl"), &["-f", "mydockerfile"]);
    assert_eq!(
        std::fs::read_to_string(out.join("bar")).expect("bar"),
        "foo-contents"
    );
    // "this is bogus, any name should work": a lone Dockerfile is the Dockerfile.
    let (_t, out) = build_url_context(&env, &server.url("/df"), &["-f", "mydockerfile"]);
    assert_eq!(
        std::fs::read_to_string(out.join("foo")).expect("foo"),
        "foo-contents"
    );
}

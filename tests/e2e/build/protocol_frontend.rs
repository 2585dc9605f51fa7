//! Protocol frontends (`--frontend exec:PROGRAM`, docs/frontend-protocol.md): the Python
//! example in `examples/frontends/yaml` builds a real image through the protocol, and every
//! way a frontend can misbehave — a non-zero exit, output that is not the protocol, an invalid
//! graph, a hang, a read outside the context, an endless message — is a clear error.

use super::fixture::{Env, context, out_dir};
use crate::util::{cairn, repo_root};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn yaml_frontend() -> String {
    format!(
        "exec:{}",
        repo_root()
            .join("examples/frontends/yaml/cairn-yaml-frontend")
            .display()
    )
}

/// `cairn build --frontend FRONTEND ARGS… CONTEXT` in `env`'s store.
fn build_with(env: &Env, frontend: &str, context: &Path, args: &[&str]) -> std::process::Output {
    cairn()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--frontend", frontend, "--root"])
        .arg(env.root())
        .args(args)
        .arg(context)
        .output()
        .expect("run cairn build")
}

const APP: &str = "base: busybox\n\
files:\n  greet.sh: /app/greet.sh\n\
env:\n  GREETING: hello\n\
workdir: /app\n\
run:\n  - sh greet.sh > out.txt\n  - echo \"$GREETING from $(pwd)\" >> out.txt\n\
cmd: [\"sh\", \"/app/greet.sh\"]\n";

#[test]
fn the_python_example_frontend_builds_an_image() {
    let env = Env::new();
    let c = context(&[
        ("cairn.yaml", APP),
        ("greet.sh", "echo greetings\n"),
        ("secret.key", "never read"),
        (".dockerignore", "*.key\n"),
    ]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    let b = build_with(
        &env,
        &yaml_frontend(),
        c.path(),
        &[
            "-f",
            &c.path().join("cairn.yaml").to_string_lossy(),
            "-o",
            &dest,
        ],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("app/out.txt")).expect("out.txt"),
        "greetings\nhello from /app\n"
    );

    // The image config the frontend made (CMD, ENV on top of the base's, WORKDIR).
    let tar_dir = tempfile::tempdir().expect("tempdir");
    let tar = tar_dir.path().join("img.tar");
    let b = build_with(
        &env,
        &yaml_frontend(),
        c.path(),
        &["-o", &format!("type=oci,dest={}", tar.display())],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let config = oci_config(&tar);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["sh", "/app/greet.sh"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/app");
    let env_list = config["config"]["Env"].to_string();
    assert!(
        env_list.contains("GREETING=hello") && env_list.contains("PATH="),
        "{env_list}"
    );

    // The same build again is fully cached (the frontend's graph is stable).
    let b = cairn()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "build",
            "--progress=json",
            "--frontend",
            &yaml_frontend(),
            "--root",
        ])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("run cairn build");
    let b = super::fixture::Build::from(b);
    assert!(b.success, "{}", b.stderr);
    assert!(b.ran().is_empty(), "{:?}", b.ran());
}

/// The config of the one image in an OCI archive.
fn oci_config(tar: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = std::process::Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar");
    assert!(st.success());
    let blob = |digest: &str| -> serde_json::Value {
        let hex = digest.trim_start_matches("sha256:");
        serde_json::from_slice(
            &std::fs::read(dir.path().join("blobs/sha256").join(hex)).expect("blob"),
        )
        .expect("json")
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).expect("index"))
            .expect("json");
    let manifest = blob(
        index["manifests"][0]["digest"]
            .as_str()
            .expect("manifest digest"),
    );
    blob(
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    )
}

#[test]
fn the_frontends_packages_and_errors() {
    let env = Env::new();
    // A base whose `apk` only writes down what it was asked for (the tests are offline).
    let base = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN printf '#!/bin/sh\\necho \"$@\" >> /etc/apk-calls\\n' > /bin/apk && chmod +x /bin/apk\n",
    )]);
    env.build_ok(base.path(), &["-t", "apkbox:1"]);
    let c = context(&[("cairn.yaml", "base: apkbox:1\npackages: [curl, jq]\n")]);
    let (_o, out) = out_dir();
    let b = build_with(
        &env,
        &yaml_frontend(),
        c.path(),
        &["-o", &format!("type=local,dest={}", out.display())],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("etc/apk-calls")).expect("apk-calls"),
        "add --no-cache curl jq\n"
    );

    // A mistake in the build file: shown at its line, with the line, as cairn's own errors.
    let c = context(&[(
        "cairn.yaml",
        "base: busybox\n# the files\npakages: [curl]\n",
    )]);
    let b = build_with(&env, &yaml_frontend(), c.path(), &[]);
    assert!(!b.status.success());
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(stderr.contains("unknown key 'pakages'"), "{stderr}");
    assert!(stderr.contains("--> cairn.yaml:3"), "{stderr}");
    assert!(stderr.contains("3 | pakages: [curl]"), "{stderr}");

    // An ignored file does not exist for the frontend.
    let c = context(&[
        ("cairn.yaml", "base: busybox\nfiles:\n  secret.key: /k\n"),
        ("secret.key", "k"),
        (".dockerignore", "*.key\n"),
    ]);
    let b = build_with(&env, &yaml_frontend(), c.path(), &[]);
    assert!(!b.status.success());
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(
        stderr.contains("secret.key is excluded by .dockerignore"),
        "{stderr}"
    );
    assert!(stderr.contains("--> cairn.yaml:3"), "{stderr}");
}

/// A frontend program written by the test (a shell or Python script).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write frontend");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

#[test]
fn misbehaving_frontends_are_clear_errors() {
    let env = Env::new();
    let c = context(&[("x", "x")]);
    let bin = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(&str, String, Vec<&str>, Vec<&str>)> = vec![
        (
            "exit3",
            "#!/bin/sh\nread request\necho 'cannot parse the world' >&2\nexit 3\n".into(),
            vec![],
            vec!["ended (exit status 3) without sending a graph", "cannot parse the world"],
        ),
        (
            "chatter",
            "#!/bin/sh\nread request\necho 'Hello, I am a frontend'\nsleep 517\n".into(),
            vec![],
            vec!["not a protocol message", "Hello, I am a frontend"],
        ),
        (
            "badgraph",
            "#!/bin/sh\nread request\necho '{\"type\":\"result\",\"graph\":{\"format\":\"cairn.graph\",\"version\":3,\"graph\":{\"vertices\":[{\"id\":\"a\",\"op\":{\"exec\":{\"args\":[\"true\"],\"mounts\":[{\"target\":\"/\",\"input\":0,\"kind\":\"rootfs\"}]}}}],\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}}}'\n".into(),
            vec![],
            vec!["its graph is not valid", "graph.vertices[0].op"],
        ),
        (
            "hang",
            "#!/bin/sh\nread request\nexec sleep 613\n".into(),
            vec!["--frontend-timeout", "2"],
            vec!["did not finish within 2 s"],
        ),
        (
            "escape",
            "#!/usr/bin/env python3\nimport json, sys\nsys.stdin.readline()\n\
             for p in ['../../etc/passwd', '/../etc/shadow']:\n\
             \x20   print(json.dumps({'type': 'call', 'id': 1, 'method': 'read_file', 'params': {'path': p}}), flush=True)\n\
             \x20   r = json.loads(sys.stdin.readline())\n\
             \x20   assert 'result' not in r, r\n\
             print(json.dumps({'type': 'error', 'message': 'refused: ' + r['error']['code']}), flush=True)\n".into(),
            vec![],
            vec!["refused: outside_context"],
        ),
        (
            "endless",
            "#!/usr/bin/env python3\nimport sys\nsys.stdin.readline()\nchunk = 'x' * (1 << 20)\n\
             try:\n    while True:\n        sys.stdout.write(chunk)\nexcept BrokenPipeError:\n    pass\n".into(),
            vec![],
            vec!["a message longer than 67108864 bytes"],
        ),
        (
            "unknown-method",
            "#!/usr/bin/env python3\nimport json, sys\nsys.stdin.readline()\n\
             print(json.dumps({'type': 'call', 'id': 9, 'method': 'launch_missiles', 'params': {}}), flush=True)\n\
             r = json.loads(sys.stdin.readline())\n\
             print(json.dumps({'type': 'error', 'message': r['error']['code'] + ': ' + r['error']['message']}), flush=True)\n".into(),
            vec![],
            vec!["invalid: unknown method \"launch_missiles\""],
        ),
    ];
    for (name, body, flags, wants) in cases {
        let program = script(bin.path(), name, &body);
        let frontend = format!("exec:{}", program.display());
        let started = std::time::Instant::now();
        let b = build_with(&env, &frontend, c.path(), &flags);
        let stderr = String::from_utf8_lossy(&b.stderr);
        assert!(!b.status.success(), "{name}: {stderr}");
        for want in wants {
            assert!(
                stderr.contains(want),
                "{name}: wanted {want:?} in:\n{stderr}"
            );
        }
        // Never a hang: the slowest case (the 2 s limit) ends long before this.
        assert!(
            started.elapsed().as_secs() < 60,
            "{name} took {:?}",
            started.elapsed()
        );
        // The frontend and everything it started end with the build.
        // (Given a few seconds to die: a SIGKILLed process goes asynchronously.)
        for needle in [program.to_string_lossy().as_ref(), "sleep 517", "sleep 613"] {
            super::confinement::wait_until(
                &format!("{name}: {needle} to end with the build"),
                std::time::Duration::from_secs(10),
                || super::confinement::processes_with(needle).is_empty(),
            );
        }
    }
}

/// The Rust example frontend (`examples/frontends/lines`, a workspace member): built by the
/// workspace's tests, or here when only this test binary was built.
fn lines_frontend() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_cairn"))
        .parent()
        .expect("target dir")
        .join("cairn-lines-frontend");
    if !bin.exists() {
        let st = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "cairn-lines-frontend"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build");
        assert!(st.success(), "cannot build the example frontend");
    }
    bin
}

#[test]
fn the_rust_example_frontend_builds_on_the_sdk() {
    let env = Env::new();
    let c = context(&[
        (
            "build.lines",
            "# a comment\nfrom busybox\nenv GREETING=hi\ncopy app.sh /app/app.sh\n\
             run sh /app/app.sh > /app/out.txt\ncmd cat /app/out.txt\n",
        ),
        ("app.sh", "echo \"$GREETING there\"\n"),
    ]);
    let frontend = format!("exec:{}", lines_frontend().display());
    let (_o, out) = out_dir();
    let b = build_with(
        &env,
        &frontend,
        c.path(),
        &["-o", &format!("type=local,dest={}", out.display())],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("app/out.txt")).expect("out.txt"),
        "hi there\n"
    );
    // A failing step is shown at its line of the build file.
    let c = context(&[("build.lines", "from busybox\n\nrun echo doomed; exit 4\n")]);
    let b = build_with(&env, &frontend, c.path(), &[]);
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success());
    assert!(stderr.contains("build.lines:3\n"), "{stderr}");
    assert!(
        stderr.contains("   3 | run echo doomed; exit 4"),
        "{stderr}"
    );
    assert!(stderr.contains("exit code: 4"), "{stderr}");
    // And a mistake in it, at its line, as cairn's own errors.
    let c = context(&[("build.lines", "from busybox\ncopy nothere /x\n")]);
    let b = build_with(&env, &frontend, c.path(), &[]);
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success());
    assert!(
        stderr.contains("nothere is not in the build context"),
        "{stderr}"
    );
    assert!(stderr.contains("--> build.lines:2"), "{stderr}");
}

/// A frontend that must look at an intermediate result: it has cairn solve a probe graph, reads
/// files of the result (an absolute symlink in it means the result's own root; `..` cannot
/// leave it), and builds its final graph from what it read.
const PROBING: &str = r#"#!/usr/bin/env python3
import base64, json, sys
request = json.loads(sys.stdin.readline())
platform = request["platform"]
def call(i, method, params):
    print(json.dumps({"type": "call", "id": i, "method": method, "params": params}), flush=True)
    return json.loads(sys.stdin.readline())
def doc(vertices, result):
    return {"format": "cairn.graph", "version": 3,
            "graph": {"vertices": vertices, "result": {"vertex": result}, "platform": platform}}
pinned = call(1, "resolve_image", {"reference": "busybox"})["result"]["pinned"]
base = {"id": "base", "op": {"source": {"image": {"reference": pinned, "platform": platform}}}}
probe = {"id": "probe", "inputs": [{"vertex": "base"}], "op": {"exec": {
    "args": ["/bin/sh", "-c", "echo probed > /probe.txt && ln -s /probe.txt /abs-link"],
    "env": ["PATH=/bin"], "network": "none",
    "mounts": [{"target": "/", "input": 0, "kind": "rootfs"}]}}}
result = call(2, "solve", {"graph": doc([base, probe], "probe")})["result"]["result"]
text = base64.b64decode(call(3, "read_result_file", {"result": result, "path": "/abs-link"})["result"]["data"]).decode()
names = [e["name"] for e in call(4, "read_result_dir", {"result": result, "path": "/"})["result"]["entries"]]
escape = call(5, "read_result_file", {"result": result, "path": "../../../../etc/hostname"})["error"]["code"]
missing = call(6, "read_result_file", {"result": "r9", "path": "/x"})["error"]["code"]
answer = "%s%s %s %s\n" % (text, "probe.txt" in names, escape, missing)
final = {"id": "answer", "inputs": [{"vertex": "base"}], "op": {"file": {"base": 0, "actions": [
    {"mkfile": {"path": "/answer.txt", "mode": 420, "data": list(answer.encode())}}]}}}
print(json.dumps({"type": "result", "graph": doc([base, final], "answer")}), flush=True)
"#;

#[test]
fn a_frontend_can_solve_a_sub_graph_and_read_its_result() {
    let env = Env::new();
    let bin = tempfile::tempdir().expect("tempdir");
    let program = script(bin.path(), "probing", PROBING);
    let c = context(&[("x", "x")]);
    let (_o, out) = out_dir();
    let b = cairn()
        .args(["build", "--progress=json", "--frontend"])
        .arg(format!("exec:{}", program.display()))
        .args([
            "-o",
            &format!("type=local,dest={}", out.display()),
            "--root",
        ])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("run cairn build");
    let b = super::fixture::Build::from(b);
    assert!(b.success, "{}", b.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("answer.txt")).expect("answer.txt"),
        "probed\nTrue outside_context not_found\n"
    );
    // The probe ran as a step of the build (its progress is the build's).
    assert!(
        b.ran().iter().any(|r| r.starts_with("blake3:")),
        "{:?}",
        b.ran()
    );
}

/// A copy of the test's busybox root file system, to add to.
fn busybox_copy() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", super::fixture::busybox_rootfs().display()))
        .arg(root.path())
        .status()
        .expect("cp");
    assert!(st.success());
    root
}

/// A root file system holding `program` and the shared libraries it needs (from `ldd`), on
/// the test's busybox.
fn rootfs_with(program: &Path, at: &str) -> tempfile::TempDir {
    let root = busybox_copy();
    let ldd = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .expect("ldd");
    let mut files: Vec<PathBuf> = String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    files.push(program.to_path_buf());
    for f in files {
        let dest = if f == program {
            root.path().join(at.trim_start_matches('/'))
        } else {
            root.path().join(f.strip_prefix("/").expect("absolute"))
        };
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&f, &dest).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    root
}

/// Make `name` in `env`'s store: the rootfs imported, then `ENTRYPOINT` set by a build.
fn frontend_image(env: &Env, rootfs: &Path, name: &str, entrypoint: &str) {
    let out = cairn()
        .env("SOURCE_DATE_EPOCH", "1600000000")
        .args(["import", "--root"])
        .arg(env.root())
        .arg(rootfs)
        .arg(format!("{name}-base:1"))
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = context(&[(
        "Dockerfile",
        &format!("FROM {name}-base:1\nENTRYPOINT {entrypoint}\n"),
    )]);
    env.build_ok(c.path(), &["-t", &format!("{name}:1")]);
}

#[test]
fn a_frontend_image_runs_in_the_sandbox() {
    let env = Env::new();
    let root = rootfs_with(&lines_frontend(), "/usr/local/bin/lines");
    frontend_image(
        &env,
        root.path(),
        "lines-frontend",
        r#"["/usr/local/bin/lines"]"#,
    );
    let project = "from busybox\ncopy a.txt /a.txt\nrun cat /a.txt /a.txt > /b.txt\n";

    // Named by `# syntax=` on the Dockerfile's first line (the lines frontend skips comments).
    let c = context(&[
        (
            "Dockerfile",
            &format!("# syntax=lines-frontend:1\n{project}"),
        ),
        ("a.txt", "two\n"),
    ]);
    let (_o, out) = out_dir();
    let b = build_with(
        &env,
        "dockerfile",
        c.path(),
        &["-o", &format!("type=local,dest={}", out.display())],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("b.txt")).expect("b.txt"),
        "two\ntwo\n"
    );

    // Named by --frontend image:REF, with -f; and by BUILDKIT_SYNTAX over a built-in syntax.
    let c = context(&[("build.lines", project), ("a.txt", "three\n")]);
    let (_o, out) = out_dir();
    let b = build_with(
        &env,
        "image:lines-frontend:1",
        c.path(),
        &[
            "-f",
            &c.path().join("build.lines").to_string_lossy(),
            "-o",
            &format!("type=local,dest={}", out.display()),
        ],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("b.txt")).expect("b.txt"),
        "three\nthree\n"
    );
    let c = context(&[
        (
            "Dockerfile",
            &format!("# syntax=docker/dockerfile:1\n{project}"),
        ),
        ("a.txt", "four\n"),
    ]);
    let b = build_with(
        &env,
        "dockerfile",
        c.path(),
        &[
            "--build-arg",
            "BUILDKIT_SYNTAX=lines-frontend:1",
            "--progress=json",
        ],
    );
    let b = super::fixture::Build::from(b);
    assert!(b.success, "{}", b.stderr);
    // The lines frontend names a step by its line; the Dockerfile one would say `[3/3] RUN`.
    assert!(
        b.ran()
            .iter()
            .any(|r| r == "run cat /a.txt /a.txt > /b.txt"),
        "{:?}",
        b.ran()
    );

    // A frontend image that is no frontend: clear errors, bounded by the time limit.
    let plain = busybox_copy();
    frontend_image(
        &env,
        plain.path(),
        "quitter",
        r#"["/bin/sh", "-c", "echo not a frontend; exit 3"]"#,
    );
    frontend_image(&env, plain.path(), "sleeper", r#"["/bin/sleep", "631"]"#);
    let c = context(&[("x", "x")]);
    let b = build_with(&env, "image:quitter:1", c.path(), &[]);
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success());
    assert!(
        stderr.contains("ended (exit status 3) without connecting"),
        "{stderr}"
    );
    assert!(stderr.contains("not a frontend"), "{stderr}");
    let b = build_with(
        &env,
        "image:sleeper:1",
        c.path(),
        &["--frontend-timeout", "2"],
    );
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success());
    assert!(
        stderr.contains("did not connect within the time limit"),
        "{stderr}"
    );
    // Killed with the build: a SIGKILLed process dies asynchronously (on a loaded machine it
    // can still be listed for a moment after cairn exits), so it is given a few seconds — a
    // frontend left running would sleep for 631.
    super::confinement::wait_until(
        "the frontend to end with the build",
        std::time::Duration::from_secs(10),
        || super::confinement::processes_with("sleep 631").is_empty(),
    );
}

#[test]
fn the_python_example_frontend_runs_as_an_image() {
    // An image with the host's Python (its interpreter, libraries and standard library) and
    // the example frontend, made by the test.
    let env = Env::new();
    let python = std::fs::canonicalize("/usr/bin/python3").expect("python3");
    let root = rootfs_with(&python, "/usr/bin/python3");
    let version = python
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("python3.X");
    let stdlib = Path::new("/usr/lib").join(&version);
    std::fs::create_dir_all(root.path().join("usr/lib")).expect("mkdir");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(&stdlib)
        .arg(root.path().join("usr/lib"))
        .status()
        .expect("cp");
    assert!(st.success());
    for unneeded in [
        "test",
        "site-packages",
        "dist-packages",
        "idlelib",
        "tkinter",
        "ensurepip",
        "lib2to3",
    ] {
        let _ = std::fs::remove_dir_all(root.path().join("usr/lib").join(&version).join(unneeded));
    }
    let frontend = root.path().join("frontend/cairn-yaml-frontend");
    std::fs::create_dir_all(frontend.parent().expect("dir")).expect("mkdir");
    std::fs::copy(
        repo_root().join("examples/frontends/yaml/cairn-yaml-frontend"),
        &frontend,
    )
    .expect("copy the frontend");
    frontend_image(
        &env,
        root.path(),
        "yaml-frontend",
        r#"["/usr/bin/python3", "-S", "/frontend/cairn-yaml-frontend"]"#,
    );
    let c = context(&[("cairn.yaml", APP), ("greet.sh", "echo greetings\n")]);
    let (_o, out) = out_dir();
    let b = build_with(
        &env,
        "image:yaml-frontend:1",
        c.path(),
        &[
            "-f",
            &c.path().join("cairn.yaml").to_string_lossy(),
            "-o",
            &format!("type=local,dest={}", out.display()),
        ],
    );
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("app/out.txt")).expect("out.txt"),
        "greetings\nhello from /app\n"
    );
}

#[test]
fn a_frontend_image_has_no_network_no_context_and_a_steps_confinement() {
    // A "frontend" that only looks around and says what it sees (its output is quoted in the
    // error, since it never connects).
    let env = Env::new();
    let plain = busybox_copy();
    frontend_image(
        &env,
        plain.path(),
        "prober",
        r#"["/bin/sh", "-c", "echo ifaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '); echo found: $(find / -xdev -name context-marker.txt 2>/dev/null | wc -l); grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '; echo data: $(ulimit -d); exit 3"]"#,
    );
    let c = context(&[("context-marker.txt", "the frontend must not see this")]);
    let b = build_with(&env, "image:prober:1", c.path(), &[]);
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success());
    assert!(stderr.contains("ifaces: lo"), "{stderr}");
    assert!(
        !stderr.contains("ifaces: lo eth") && !stderr.contains("tap0"),
        "{stderr}"
    );
    assert!(stderr.contains("found: 0"), "{stderr}");
    assert!(stderr.contains("CapEff: 00000000a80425fb"), "{stderr}");
    assert!(stderr.contains("Seccomp: 2"), "{stderr}");
    assert!(
        stderr.contains(&format!("data: {}", (2u64 << 30) / 1024)),
        "{stderr}"
    );
}

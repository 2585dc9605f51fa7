//! `cairn build --frontend ir`: a graph in cairn's JSON form (docs/ir.md) as the build's input.
//! The graph `cairn plan --format json` prints for a Dockerfile builds the very image the
//! Dockerfile does; a graph written by hand, naming its vertices by id and its base image by
//! tag, builds; a broken one is an error naming the JSON path of what is wrong.

use super::fixture::{Env, context, out_dir};
use crate::util::cairn;
use std::path::Path;

/// The image ID (`-q`) and manifest digest (`--metadata-file`) of a build.
fn ids(env: &Env, context: &Path, args: &[&str]) -> (String, String) {
    let meta = tempfile::NamedTempFile::new().expect("tempfile");
    // A fixed epoch: layer times do not depend on when (or in which store) the build ran.
    let out = cairn()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q", "--root"])
        .arg(env.root())
        .arg("--metadata-file")
        .arg(meta.path())
        .args(args)
        .arg(context)
        .output()
        .expect("run cairn build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(meta.path()).expect("metadata")).expect("json");
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        m["containerimage.digest"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[test]
fn a_planned_graph_builds_the_dockerfiles_image() {
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox AS build\nWORKDIR /src\nCOPY a.txt .\nRUN cat a.txt a.txt > b.txt\n\
             FROM busybox\nENV X=1\nCOPY --from=build /src/b.txt /b.txt\nCMD [\"cat\", \"/b.txt\"]\n",
        ),
        ("a.txt", "hello\n"),
    ]);
    let plan = cairn()
        .args(["plan", "--format", "json", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("run cairn plan");
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let graph = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(graph.path(), &plan.stdout).expect("write graph");

    let from_dockerfile = ids(&env, c.path(), &[]);
    let graph_arg = graph.path().to_string_lossy().into_owned();
    let from_graph = ids(&env, c.path(), &["--frontend", "ir", "-f", &graph_arg]);
    assert_eq!(from_dockerfile, from_graph);
    assert!(from_graph.0.starts_with("sha256:"), "{from_graph:?}");

    // And in a fresh store (the graph pins busybox by digest; the store imports the same
    // image), with the graph on stdin.
    let fresh = Env::new();
    let out = cairn()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q", "--frontend", "ir", "-f", "-", "--root"])
        .arg(fresh.root())
        .arg(c.path())
        .pipe_stdin(graph.path())
        .expect("graph")
        .output()
        .expect("run cairn build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        from_dockerfile.0
    );
}

/// A graph as a frontend in another language writes it: ids instead of digests, the base
/// image by tag, defaults left out.
const HAND_WRITTEN: &str = r#"{
  "format": "cairn.graph", "version": 3,
  "graph": {
    "vertices": [
      {"id": "base", "op": {"source": {"image": {"reference": "docker.io/library/busybox:latest",
                                                   "platform": {"os": "linux", "architecture": "amd64"}}}}},
      {"id": "ctx", "op": {"source": {"local": {"name": "context"}}}},
      {"id": "copy", "op": {"file": {"base": 0, "actions": [
          {"copy": {"source": 1, "src": "/in.txt", "dest": "/work/in.txt", "create_dest_path": true}}]}},
       "inputs": [{"vertex": "base"}, {"vertex": "ctx"}]},
      {"id": "run", "op": {"exec": {"args": ["/bin/sh", "-c", "tr a-z A-Z < /work/in.txt > /work/out.txt"],
                                    "env": ["PATH=/bin"], "network": "none",
                                    "mounts": [{"target": "/", "input": 0, "kind": "rootfs"}]}},
       "inputs": [{"vertex": "copy"}]}
    ],
    "result": {"vertex": "run"},
    "platform": {"os": "linux", "architecture": "amd64"},
    "image": {"cmd": ["cat", "/work/out.txt"]},
    "meta": {"run": {"description": "shout", "file": "graph.json", "lines": [14, 16]}}
  }
}"#;

#[test]
fn a_hand_written_graph_builds() {
    let env = Env::new();
    let c = context(&[("in.txt", "quiet words\n"), ("graph.json", HAND_WRITTEN)]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    // The graph named in place of the context: the context is the current directory.
    let b = cairn()
        .current_dir(c.path())
        .args([
            "build",
            "--progress=json",
            "--frontend",
            "ir",
            "-o",
            &dest,
            "--root",
        ])
        .arg(env.root())
        .arg("graph.json")
        .output()
        .expect("run cairn build");
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("work/out.txt")).expect("out.txt"),
        "QUIET WORDS\n"
    );
    let b = super::fixture::Build::from(b);
    // Two steps ran: the copy (no description: named by its digest) and the RUN, named as
    // the graph's meta says.
    let ran = b.ran();
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran.iter().any(|r| r == "shout"), "{ran:?}");
    assert!(ran.iter().any(|r| r.starts_with("blake3:")), "{ran:?}");

    // A failing step is reported with the place the graph's meta names.
    let failing = HAND_WRITTEN.replace("tr a-z A-Z", "exit 3; tr a-z A-Z");
    let c2 = context(&[("in.txt", "x\n"), ("graph.json", &failing)]);
    let b = env.build(
        c2.path(),
        &[
            "--frontend",
            "ir",
            "-f",
            &c2.path().join("graph.json").to_string_lossy(),
        ],
    );
    assert!(!b.success);
    assert!(b.stderr.contains("shout"), "{}", b.stderr);
    assert!(
        b.stderr.contains("exit code: 3")
            || b.stderr.contains("exit status 3")
            || b.stderr.contains(" 3"),
        "{}",
        b.stderr
    );
}

#[test]
fn a_broken_graph_is_an_error_naming_the_json_path() {
    let env = Env::new();
    let cases = [
        (
            HAND_WRITTEN.replace(r#""args": ["/bin/sh""#, r#""args": [7, "/bin/sh""#),
            "graph.vertices[3].op.exec.args[0]",
        ),
        (
            HAND_WRITTEN.replace(r#"{"vertex": "copy"}"#, r#"{"vertex": "kopy"}"#),
            "graph.vertices[3].inputs[0].vertex",
        ),
        (
            HAND_WRITTEN.replace(r#""source": 1,"#, r#""source": 5,"#),
            "graph.vertices[2].op",
        ),
        (
            HAND_WRITTEN.replace(
                r#""result": {"vertex": "run"}"#,
                r#""result": {"vertex": "walk"}"#,
            ),
            "graph.result.vertex",
        ),
        (
            HAND_WRITTEN.replace(r#""version": 3"#, r#""version": 99"#),
            "version",
        ),
    ];
    for (graph, path) in cases {
        let c = context(&[("in.txt", "x\n"), ("graph.json", &graph)]);
        let b = env.build(
            c.path(),
            &[
                "--frontend",
                "ir",
                "-f",
                &c.path().join("graph.json").to_string_lossy(),
            ],
        );
        assert!(!b.success, "{path}");
        assert!(
            b.stderr.contains("graph.json is not a valid graph"),
            "{}",
            b.stderr
        );
        assert!(
            b.stderr.contains(&format!("{path}: ")),
            "{path}: {}",
            b.stderr
        );
    }
    // Flags only the Dockerfile frontend reads are refused, not ignored.
    let c = context(&[("graph.json", HAND_WRITTEN)]);
    let b = env.build(
        c.path(),
        &[
            "--frontend",
            "ir",
            "--target",
            "x",
            "-f",
            &c.path().join("graph.json").to_string_lossy(),
        ],
    );
    assert!(!b.success);
    assert!(
        b.stderr
            .contains("--target is read by the Dockerfile frontend"),
        "{}",
        b.stderr
    );
    // A graph image that is nowhere (a registry on a loopback port nothing listens on): a
    // clear error naming it.
    let missing = HAND_WRITTEN.replace("docker.io/library/busybox:latest", "127.0.0.1:9/nothere:1");
    let c = context(&[("in.txt", "x\n"), ("graph.json", &missing)]);
    let b = Env::empty().build(
        c.path(),
        &[
            "--frontend",
            "ir",
            "--registry-timeout",
            "2",
            "-f",
            &c.path().join("graph.json").to_string_lossy(),
        ],
    );
    assert!(!b.success);
    assert!(b.stderr.contains("nothere:1"), "{}", b.stderr);
}

/// A graph whose image source is pinned to one platform's manifest but says another platform
/// is refused, naming both — never built on the other machine's layers under a label they do
/// not have.
#[test]
fn a_source_pinned_to_another_platforms_image_is_refused() {
    let env = Env::new();
    let manifest = env.inspect("busybox:latest")["ManifestDigest"]
        .as_str()
        .expect("manifest digest")
        .to_string();
    let graph = HAND_WRITTEN
        .replace(
            "docker.io/library/busybox:latest\"",
            &format!("docker.io/library/busybox@{manifest}\""),
        )
        .replace(
            "\"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}}}}",
            "\"platform\": {\"os\": \"linux\", \"architecture\": \"arm64\"}}}}}",
        );
    assert!(
        graph.contains(&manifest) && graph.contains("arm64"),
        "{graph}"
    );
    let c = context(&[("in.txt", "x\n"), ("graph.json", &graph)]);
    let b = env.build(
        c.path(),
        &[
            "--frontend",
            "ir",
            "-f",
            &c.path().join("graph.json").to_string_lossy(),
        ],
    );
    assert!(!b.success, "built an arm64 source on the amd64 image");
    assert!(
        b.stderr.contains("linux/amd64") && b.stderr.contains("linux/arm64"),
        "{}",
        b.stderr
    );
    assert!(b.ran().is_empty(), "{:?}", b.ran());
}

//! BuildKit's `dockerfile_namedcontext_test.go`, the cases a daemonless CLI can express
//! (`--build-context NAME=docker-image://…|oci-layout://…|DIR`; the gateway-input, source
//! policy, transfer-size and multi-platform cases have no counterpart yet): a named
//! context replaces an image or a stage, keeps the image's config, and is only looked up
//! when a used stage needs it.

use super::super::fixture::{Env, context, out_dir};
use super::built_config;

/// `alpine:latest` in `env`: busybox with an `/etc/alpine-release`.
fn alpine(env: &Env) {
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo 3.99.0 > /etc/alpine-release\n",
    )]);
    env.build_ok(c.path(), &["-t", "alpine:latest"]);
}

/// Build `dockerfile` in `env` with `args` to a fresh local directory.
fn build_local(
    env: &Env,
    dockerfile: &str,
    args: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let c = context(&[("Dockerfile", dockerfile)]);
    let (t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    let mut flags = args.to_vec();
    flags.push(&dest);
    env.build_ok(c.path(), &flags);
    (t, out)
}

#[test]
fn a_named_image_context_replaces_an_image_or_a_stage() {
    // testNamedImageContext.
    let env = Env::new();
    alpine(&env);
    let (_t, out) = build_local(
        &env,
        "FROM busybox AS base\nRUN cat /etc/alpine-release > /out\nFROM scratch\nCOPY --from=base /out /\n",
        &["--build-context", "busybox=docker-image://alpine"],
    );
    assert!(!std::fs::read(out.join("out")).expect("out").is_empty());
    let c = context(&[(
        "Dockerfile",
        "FROM alpine:latest\nENV PATH=/foobar:$PATH\nENV FOOBAR=foobar\n",
    )]);
    env.build_ok(
        c.path(),
        &["-t", "localhost:5000/buildkit/testnamedimagecontext:latest"],
    );
    let (_t, out) = build_local(
        &env,
        "FROM busybox AS base\nRUN cat /etc/alpine-release > /out\nRUN env | grep PATH > /env_path\nRUN env | grep FOOBAR > /env_foobar\nFROM scratch\nCOPY --from=base /out /\nCOPY --from=base /env_path /\nCOPY --from=base /env_foobar /\n",
        &[
            "--build-context",
            "busybox=docker-image://localhost:5000/buildkit/testnamedimagecontext:latest",
        ],
    );
    assert!(!std::fs::read(out.join("out")).expect("out").is_empty());
    assert_eq!(
        std::fs::read_to_string(out.join("env_foobar"))
            .expect("env_foobar")
            .trim(),
        "FOOBAR=foobar"
    );
    assert!(
        std::fs::read_to_string(out.join("env_path"))
            .expect("env_path")
            .contains("/foobar:")
    );
    // A stage based on another stage, replaced (moby/buildkit#5578).
    build_local(
        &env,
        "FROM busybox AS parent\nFROM parent AS base\nRUN echo base > /out\nFROM base\nRUN [ -f /etc/alpine-release ]\nRUN [ ! -f /out ]\n",
        &[
            "--build-context",
            "base=docker-image://localhost:5000/buildkit/testnamedimagecontext:latest",
        ],
    );
}

#[test]
fn a_derived_image_is_created_after_its_named_base() {
    // testNamedImageContextTimestamps.
    let env = Env::new();
    alpine(&env);
    let dockerfile = [("Dockerfile", "FROM alpine\nRUN echo foo >> /test\n")];
    let base = built_config(
        &env,
        &dockerfile,
        &[
            "-t",
            "localhost:5000/buildkit/testnamedimagecontexttimestamps:latest",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let derived = built_config(
        &env,
        &dockerfile,
        &[
            "--build-context",
            "alpine=docker-image://localhost:5000/buildkit/testnamedimagecontexttimestamps:latest",
        ],
    );
    let t = |img: &serde_json::Value| {
        img["created"]
            .as_str()
            .map(str::to_string)
            .expect("created")
    };
    assert!(
        t(&derived) > t(&base),
        "{} is not after {}",
        t(&derived),
        t(&base)
    );
}

#[test]
fn scratch_as_a_named_image_context() {
    // testNamedImageContextScratch.
    let env = Env::new();
    let (_t, out) = build_local(
        &env,
        "FROM busybox AS build\nCOPY <<EOF /out\nhello world!\nEOF\n",
        &["--build-context", "busybox=docker-image://scratch"],
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out"]);
    assert_eq!(
        std::fs::read_to_string(out.join("out")).expect("out"),
        "hello world!\n"
    );
}

#[test]
fn a_named_local_context_applies_its_dockerignore() {
    // testNamedLocalContext.
    let env = Env::new();
    let base = context(&[
        ("out", "dummy-result"),
        ("out2", "dummy-result"),
        (".dockerignore", "out2\n"),
    ]);
    let (_t, out) = build_local(
        &env,
        "FROM busybox AS base\nRUN cat /etc/alpine-release > /out\nFROM scratch\nCOPY --from=base /o* /\n",
        &[
            "--build-context",
            &format!("base={}", base.path().display()),
        ],
    );
    assert!(!std::fs::read(out.join("out")).expect("out").is_empty());
    assert!(!out.join("out2").exists());
}

/// Build `dockerfile` into an OCI layout directory; (layout dir, manifest digest).
fn oci_layout(env: &Env, dockerfile: &str, t: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let dir = t.path().join("layout");
    let c = context(&[("Dockerfile", dockerfile)]);
    env.build_ok(
        c.path(),
        &[&format!(
            "--output=type=oci,tar=false,dest={}",
            dir.display()
        )],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
            .expect("json");
    let m = index["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(m.len(), 1);
    (dir, m[0]["digest"].as_str().expect("digest").to_string())
}

#[test]
fn named_oci_layout_contexts_replace_a_stage_and_an_image() {
    // testNamedOCILayoutContext.
    let env = Env::new();
    let t = tempfile::tempdir().expect("tmp");
    let (dir, digest) = oci_layout(
        &env,
        "FROM busybox:latest\nWORKDIR /test\nRUN sh -c \"echo -n first > out\"\nRUN sh -c \"echo -n second > out2\"\nENV foo=bar\n",
        &t,
    );
    let layout = format!("oci-layout://{}@{digest}", dir.display());
    let (_t, out) = build_local(
        &env,
        "FROM busybox AS base\nRUN cat /etc/alpine-release > out\nFROM foo AS imported\nRUN echo -n $foo > outfoo\nFROM scratch\nCOPY --from=base /test/o* /\nCOPY --from=imported /test/outfoo /\n",
        &[
            "--build-context",
            &format!("base={layout}"),
            "--build-context",
            &format!("foo={layout}"),
        ],
    );
    let read =
        |n: &str| std::fs::read_to_string(out.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    assert_eq!(read("out"), "first");
    assert_eq!(read("out2"), "second");
    assert_eq!(read("outfoo"), "bar");
}

#[test]
fn an_image_from_a_named_oci_layout_keeps_its_config() {
    // testNamedOCILayoutContextExport.
    let env = Env::new();
    let t = tempfile::tempdir().expect("tmp");
    let (dir, digest) = oci_layout(&env, "FROM scratch\nWORKDIR /test\nENV foo=bar\n", &t);
    let img = built_config(
        &env,
        &[("Dockerfile", "FROM nonexistent AS base\n")],
        &[
            "--build-context",
            &format!("nonexistent=oci-layout://{}@{digest}", dir.display()),
        ],
    );
    assert_eq!(img["config"]["WorkingDir"], "/test");
    let env_list: Vec<&str> = img["config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env_list.contains(&"foo=bar"), "{env_list:?}");
}

#[test]
fn named_contexts_of_unused_stages_are_never_looked_up() {
    // testEagerNamedContextLookup.
    let env = Env::new();
    alpine(&env);
    let (_t, out) = build_local(
        &env,
        "FROM broken AS notused\nFROM alpine AS base\nRUN echo \"base\" > /foo\nFROM busybox AS otherstage\nFROM scratch\nCOPY --from=base /foo /foo\n",
        &[
            "--build-context",
            "notused=docker-image://docker.io/library/nosuchimage:latest",
            "--build-context",
            "busybox=docker-image://docker.io/library/dontexist:latest",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("foo")).expect("foo"),
        "base\n"
    );
}

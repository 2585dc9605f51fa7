//! BuildKit's `dockerfile_onbuild_test.go`: triggers of a base image (built into the store
//! where BuildKit pushes to a registry) and of a stage, run once by the first child only.

use super::super::fixture::{Env, context, out_dir};

/// Build `dockerfile` in `env` (tagged `tag` when given) to a fresh local directory.
fn build_in(
    env: &Env,
    dockerfile: &str,
    tag: Option<&str>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let c = context(&[("Dockerfile", dockerfile)]);
    let (t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    let mut args = vec![dest.as_str()];
    if let Some(tag) = tag {
        args.extend(["-t", tag]);
    }
    env.build_ok(c.path(), &args);
    (t, out)
}

fn read(out: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn onbuild_triggers_are_cleared_in_the_child_image() {
    // testOnBuildCleared.
    let env = Env::new();
    build_in(
        &env,
        "FROM busybox\nONBUILD RUN mkdir -p /out && echo -n 11 >> /out/foo\n",
        Some("testonbuild:base"),
    );
    build_in(&env, "FROM testonbuild:base\n", Some("testonbuild:child"));
    let (_t, out) = build_in(
        &env,
        "FROM testonbuild:child AS base\nFROM scratch\nCOPY --from=base /out /\n",
        None,
    );
    assert_eq!(read(&out, "foo"), "11");
}

#[test]
fn onbuild_runs_once_for_a_child_stage() {
    // testOnBuildWithChildStage.
    let env = Env::new();
    build_in(
        &env,
        "FROM busybox\nONBUILD RUN mkdir -p /out && echo -n yes >> /out/didrun\n",
        Some("testonbuildstage:base"),
    );
    let (_t, out) = build_in(
        &env,
        r#"
FROM testonbuildstage:base AS base
RUN [ -f /out/didrun ] && touch /step1
RUN rm /out/didrun
RUN [ ! -f /out/didrun ] && touch /step2
FROM base AS child
RUN [ ! -f /out/didrun ] && touch /step3
FROM scratch
COPY --from=child /step* /
"#,
        None,
    );
    for step in ["step1", "step2", "step3"] {
        assert!(out.join(step).is_file(), "{step} missing");
    }
}

#[test]
fn onbuild_of_an_inherited_stage_runs_and_may_copy_from_a_stage() {
    // testOnBuildInheritedStageRun, testOnBuildInheritedStageWithFrom.
    let env = Env::new();
    let (_t, out) = build_in(
        &env,
        r#"
FROM busybox AS base
ONBUILD RUN mkdir -p /out && echo -n 11 >> /out/foo
FROM base AS mid
RUN cp /out/foo /out/bar
FROM scratch
COPY --from=mid /out/bar /
"#,
        None,
    );
    assert_eq!(read(&out, "bar"), "11");
    let (_t2, out) = build_in(
        &env,
        r#"
FROM busybox AS src
RUN mkdir -p /in && echo -n 12 > /in/file
FROM busybox AS base
ONBUILD COPY --from=src /in/file /out/foo
FROM base AS mid
RUN cp /out/foo /out/bar
FROM scratch
COPY --from=mid /out/bar /
"#,
        None,
    );
    assert_eq!(read(&out, "bar"), "12");
}

#[test]
fn onbuild_brings_new_dependencies() {
    // testOnBuildNewDeps (alpine → a second busybox tag; its /etc/passwd stands for
    // /etc/alpine-release).
    let env = Env::new();
    build_in(&env, "FROM busybox\n", Some("alpine:latest"));
    build_in(
        &env,
        "FROM busybox\nONBUILD COPY --from=alpine /etc/passwd /out/alpine-release2\n",
        Some("testonbuilddeps:base"),
    );
    let (_t, out) = build_in(
        &env,
        "FROM testonbuilddeps:base AS base\nRUN cat /out/alpine-release2 > /out/alpine-release3\nFROM scratch\nCOPY --from=base /out /\n",
        None,
    );
    assert!(read(&out, "alpine-release3").len() > 5);
    build_in(
        &env,
        "FROM alpine\nONBUILD RUN --mount=type=bind,target=/in,from=inputstage mkdir /out && cat /in/foo > /out/bar && cat /in/out/alpine-release2 > /out/bar2\n",
        Some("testonbuilddeps:base2"),
    );
    let (_t2, out) = build_in(
        &env,
        r#"
FROM testonbuilddeps:base AS inputstage
RUN cat /out/alpine-release2 > /out/alpine-release4
RUN echo -n foo > /foo
FROM testonbuilddeps:base2 AS base
RUN echo -n bar3 > /out/bar3
FROM scratch
COPY --from=base /out /
"#,
        None,
    );
    assert_eq!(read(&out, "bar"), "foo");
    assert!(read(&out, "bar2").len() > 5);
    assert_eq!(read(&out, "bar3"), "bar3");
}

#[test]
fn onbuild_with_a_cache_mount() {
    // testOnBuildWithCacheMount.
    let env = Env::new();
    build_in(
        &env,
        "FROM busybox\nONBUILD RUN --mount=type=cache,target=/cache echo -n 42 >> /cache/foo && echo -n 11 >> /bar\n",
        Some("testonbuild:base"),
    );
    build_in(
        &env,
        "FROM testonbuild:base\nRUN --mount=type=cache,target=/cache [ \"$(cat /cache/foo)\" = \"42\" ] && [ \"$(cat /bar)\" = \"11\" ]\n",
        None,
    );
}

#[test]
fn onbuild_of_a_named_oci_layout_context_copies_from_a_stage() {
    // testOnBuildNamedContext.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox:latest\nONBUILD COPY --from=otherstage /testfile /out/foo\n",
    )]);
    let layout = tempfile::tempdir().expect("tmp");
    let dest = format!(
        "--output=type=oci,tar=false,dest={}",
        layout.path().join("l").display()
    );
    env.build_ok(c.path(), &[&dest]);
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.path().join("l/index.json")).expect("index.json"),
    )
    .expect("json");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let c = context(&[(
        "Dockerfile",
        r#"
FROM busybox AS otherstage
RUN echo -n "hello" > /testfile
FROM base AS inputstage
FROM scratch
COPY --from=inputstage /out/foo /bar
"#,
    )]);
    let (_t, out) = out_dir();
    let named = format!(
        "base=oci-layout://{}@{digest}",
        layout.path().join("l").display()
    );
    let dest = format!("--output=type=local,dest={}", out.display());
    env.build_ok(c.path(), &["--build-context", &named, &dest]);
    assert_eq!(read(&out, "bar"), "hello");
}

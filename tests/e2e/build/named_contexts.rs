//! `--build-context NAME=…` as `docker buildx build` takes it: a directory (with its own
//! `.dockerignore`), `docker-image://`, `oci-layout://`; standing in for `FROM NAME`, `COPY
//! --from=NAME`, `RUN --mount=from=NAME`, and replacing a stage called NAME.

use super::fixture::{Env, context, out_dir};

#[test]
fn a_directory_context_serves_copy_from_mounts_and_from() {
    let env = Env::new();
    let extra = context(&[
        ("lib/util.txt", "util v1\n"),
        ("secret.key", "do not ship\n"),
        (".dockerignore", "*.key\n"),
    ]);
    let c = context(&[(
        "Dockerfile",
        "FROM src AS raw\n\
         FROM busybox\n\
         COPY --from=src /lib/util.txt /copied.txt\n\
         COPY --from=raw / /raw/\n\
         RUN --mount=from=src,target=/m ls /m > /mounted && ls /m/lib > /mounted-lib\n",
    )]);
    let spec = format!("src={}", extra.path().display());
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[
            "--build-context",
            &spec,
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    let read =
        |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(read("copied.txt"), "util v1\n");
    assert_eq!(read("raw/lib/util.txt"), "util v1\n");
    assert!(
        !out.join("raw/secret.key").exists(),
        "its .dockerignore applies"
    );
    assert_eq!(
        read("mounted"),
        "lib\n",
        "the mount does not show ignored files"
    );
    assert_eq!(read("mounted-lib"), "util.txt\n");

    // Cached while the directory is unchanged; a changed file re-runs what reads it.
    let b = env.build_ok(c.path(), &["--build-context", &spec]);
    assert!(b.ran().is_empty(), "{:?}", b.ran());
    std::fs::write(extra.path().join("lib/util.txt"), "util v2\n").expect("write");
    let b = env.build_ok(c.path(), &["--build-context", &spec]);
    assert!(
        b.ran().iter().any(|s| s.contains("COPY --from=src")),
        "{:?}",
        b.ran()
    );
}

#[test]
fn a_context_replaces_a_stage_and_stands_in_for_an_image() {
    let env = Env::new();
    let deps = context(&[("dep.txt", "prebuilt\n")]);
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS deps\nRUN exit 1\n\
         FROM base\nCOPY --from=deps /dep.txt /dep.txt\nRUN test -x /bin/busybox\n",
    )]);
    let (_t, out) = out_dir();
    // `deps` is never built (its RUN would fail); `base` is the busybox image.
    env.build_ok(
        c.path(),
        &[
            "--build-context",
            &format!("deps={}", deps.path().display()),
            "--build-context",
            "base=docker-image://busybox:latest",
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("dep.txt")).expect("dep"),
        "prebuilt\n"
    );
    assert!(out.join("bin/busybox").exists());
}

#[test]
fn an_oci_layout_context_is_imported_and_used() {
    let env = Env::new();
    let (t, _) = out_dir();
    let layout = t.path().join("layout");
    let producer = context(&[("Dockerfile", "FROM busybox\nRUN echo made > /made\n")]);
    env.build_ok(
        producer.path(),
        &[
            "-t",
            "made:v1",
            &format!("--output=type=oci,tar=false,dest={}", layout.display()),
        ],
    );
    let c = context(&[("Dockerfile", "FROM made\nRUN cat /made > /seen\n")]);
    let (_o, out) = out_dir();
    env.build_ok(
        c.path(),
        &[
            "--build-context",
            &format!("made=oci-layout://{}:v1", layout.display()),
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("seen")).expect("seen"),
        "made\n"
    );
}

#[test]
fn bad_build_contexts_are_clear_errors() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\n")]);
    for (spec, says) in [
        ("noequals", "NAME=VALUE"),
        ("x=/does/not/exist", "cannot find"),
        ("x=https://example.com/ctx.tar", "not yet"),
        ("x=docker-image://UPPER/Case", "not an image reference"),
    ] {
        let b = env.build(c.path(), &["--build-context", spec]);
        assert!(!b.success, "{spec}");
        assert!(
            b.stderr.contains("--build-context") && b.stderr.contains(says),
            "{spec}: {}",
            b.stderr
        );
    }
}

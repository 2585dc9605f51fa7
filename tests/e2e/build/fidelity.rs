//! Ordinary Dockerfiles that BuildKit builds (or refuses) one way, and cairn must too.

use super::fixture::{Env, context, out_dir};

#[test]
fn a_foreign_platform_is_refused_never_mislabelled() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM --platform=linux/arm64 busybox\nRUN echo built > /x\n",
    )]);
    let b = env.build(c.path(), &["-t", "foreign"]);
    assert!(!b.success, "an amd64 image must not become an arm64 one");
    assert!(
        b.stderr.contains("linux/arm64") && b.stderr.contains("linux/amd64"),
        "{}",
        b.stderr
    );
    // The native platform, named explicitly or through $BUILDPLATFORM, builds.
    let c = context(&[(
        "Dockerfile",
        "FROM --platform=$BUILDPLATFORM busybox AS a\nRUN echo a > /a\n\
         FROM --platform=linux/amd64 busybox\nCOPY --from=a /a /a\n",
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(std::fs::read_to_string(out.join("a")).expect("a"), "a\n");
}

#[test]
fn copy_from_a_name_near_a_stage_uses_the_image() {
    // BuildKit treats a --from that is not a stage as an image, even one letter away from a
    // stage name.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS busybo\nRUN echo stage > /which\n\
         FROM busybox\nCOPY --from=busybox /bin/busybox /copied\n",
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert!(out.join("copied").is_file());
}

//! Ordinary Dockerfiles that BuildKit builds (or refuses) one way, and cairn must too.

use super::fixture::{Env, context, out_dir};

/// A stage for another platform than the base image's is never built on that image: the error
/// names both platforms (the store's image, the stage's) when that platform's image cannot be
/// had.
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

/// The manifest digest of an image in a test store.
fn manifest_of(env: &Env, name: &str) -> String {
    let store = cairn_store::Store::open(env.root()).expect("open store");
    store
        .image_get(name)
        .expect("read")
        .unwrap_or_else(|| panic!("{name} not in the store"))
        .only()
        .map(|r| r.manifest.to_string())
        .unwrap_or_else(|| panic!("{name} holds several images"))
}

#[test]
fn digest_pinned_images_mean_exactly_that_image() {
    let env = Env::new();
    let busybox = manifest_of(&env, "docker.io/library/busybox:latest");
    // A second image whose tag a pinned reference must not follow.
    let rootfs = tempfile::tempdir().expect("tempdir");
    std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", super::fixture::busybox_rootfs().display()))
        .arg(rootfs.path())
        .status()
        .expect("cp");
    std::fs::write(rootfs.path().join("marker"), "base:1\n").expect("marker");
    let import = crate::util::cairn()
        .args(["import", "--root"])
        .arg(env.root())
        .arg(rootfs.path())
        .arg("base:1")
        .output()
        .expect("import");
    assert!(import.status.success());
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox@{busybox} AS pinned\nRUN echo pinned > /p\n\
             FROM base:1@{busybox}\n\
             COPY --from=pinned /p /p\n\
             COPY --from=busybox@{busybox} /bin/busybox /copied\n\
             RUN --mount=from=busybox@{busybox},target=/m test ! -e /m/marker && echo clean > /mounted\n\
             RUN test -e /marker && echo WRONG-LAYERS > /wrong; true\n"
        ),
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("p")).expect("p"),
        "pinned\n"
    );
    assert!(out.join("copied").is_file());
    assert_eq!(
        std::fs::read_to_string(out.join("mounted")).expect("m"),
        "clean\n"
    );
    assert!(
        !out.join("wrong").exists() && !out.join("marker").exists(),
        "base:1@<busybox digest> is busybox, not base:1"
    );

    // A tag is pinned at planning: the source op names the manifest it resolved to.
    let plain = context(&[("Dockerfile", "FROM base:1\nRUN true\n")]);
    let out = crate::util::cairn()
        .args(["plan", "--format=json", "--root"])
        .arg(env.root())
        .arg(plain.path())
        .output()
        .expect("plan");
    let plan = String::from_utf8_lossy(&out.stdout);
    let base = manifest_of(&env, "docker.io/library/base:1");
    assert!(
        plan.contains(&format!("docker.io/library/base:1@{base}")),
        "{plan}"
    );

    // A digest the store does not have is pulled by digest, never replaced by the tag.
    let missing = format!("sha256:{}", "f".repeat(64));
    let c = context(&[(
        "Dockerfile",
        &format!("FROM 127.0.0.1:1/base:1@{missing}\nRUN true\n"),
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(b.stderr.contains(&missing), "{}", b.stderr);
}

#[test]
fn a_cached_rebuild_lists_every_step_as_cached() {
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\nWORKDIR /w\nCOPY a.txt .\nENV X=1\nRUN cat a.txt > b.txt\n",
        ),
        ("a.txt", "A\n"),
    ]);
    env.build_ok(c.path(), &[]);
    let again = env.build_ok(c.path(), &[]);
    assert!(again.ran().is_empty(), "{:?}", again.ran());
    let cached = again.cached();
    let steps: Vec<&str> = cached
        .iter()
        .map(|n| n.split(']').next().unwrap_or(""))
        .collect();
    assert_eq!(steps, ["[1/4", "[2/4", "[3/4", "[4/4"], "{cached:?}");
    assert!(cached[0].starts_with("[1/4] FROM docker.io/library/busybox:latest@sha256:"));
}

/// `cairn build -q` with SOURCE_DATE_EPOCH set (or not): the image ID.
fn image_id(env: &Env, dir: &std::path::Path, epoch: Option<i64>, extra: &[&str]) -> String {
    let mut cmd = crate::util::cairn();
    cmd.args(["build", "-q", "--root"])
        .arg(env.root())
        .args(extra)
        .arg(dir);
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e.to_string()),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let out = cmd.output().expect("build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn source_date_epoch_gives_the_same_image_whatever_the_store_holds() {
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN mkdir /d && echo hi > /d/f\nCOPY a.txt /a.txt\nRUN echo done > /t\n",
        ),
        ("a.txt", "A\n"),
    ]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // An epoch after the layers were first made (the CI case: yesterday's cache, today's
    // commit), and one before.
    for epoch in [now + 86_400, 1_600_000_000] {
        let used = Env::new();
        image_id(&used, c.path(), None, &[]); // the store makes the layers, mtimes = now
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let from_used = image_id(&used, c.path(), Some(epoch), &[]);
        let fresh = Env::new();
        let from_fresh = image_id(&fresh, c.path(), Some(epoch), &[]);
        assert_eq!(
            from_used, from_fresh,
            "epoch {epoch}: a used and a fresh store agree"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let no_cache = image_id(&used, c.path(), Some(epoch), &["--no-cache"]);
        assert_eq!(no_cache, from_fresh, "epoch {epoch}: --no-cache agrees too");
    }
}

#[test]
fn source_date_epoch_as_a_build_arg() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    let by_arg = image_id(
        &env,
        c.path(),
        None,
        &["--build-arg", "SOURCE_DATE_EPOCH=1700000000"],
    );
    let by_env = image_id(&env, c.path(), Some(1_700_000_000), &[]);
    assert_eq!(by_arg, by_env);
    let bad = env.build(c.path(), &["--build-arg", "SOURCE_DATE_EPOCH=yesterday"]);
    assert!(!bad.success);
    assert!(
        bad.stderr.contains("invalid SOURCE_DATE_EPOCH: yesterday"),
        "{}",
        bad.stderr
    );
}

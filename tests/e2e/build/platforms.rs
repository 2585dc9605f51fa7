//! Multi-platform builds (issue 15): what the machine must offer for them.
//!
//! `scripts/setup.sh` installs Debian's qemu-user-static (binfmt_misc handlers with the F
//! flag) and unpacks arm64's static busybox, the foreign base image of these tests.

use super::fixture::{Env, arm64_busybox_rootfs, busybox_rootfs, context, out_dir};
use crate::util::cairn;
use cairn_ir::Platform;
use cairn_sandbox::binfmt;
use std::path::{Path, PathBuf};

/// `cairn import --platform PLATFORM ROOTFS NAME` into `env`'s store.
fn import(env: &Env, platform: &str, rootfs: &Path, name: &str) {
    let rootfs = rootfs.to_str().expect("utf-8 path");
    env.cairn_ok(&["import", "--platform", platform, rootfs, name]);
}

/// Where `scripts/setup.sh` unpacked arm64's busybox-static.
pub fn foreign_busybox_dir() -> PathBuf {
    std::env::var_os("CAIRN_FOREIGN_BUSYBOX_DIR").map_or_else(
        || PathBuf::from("/var/lib/cairn-test/busybox-arm64"),
        PathBuf::from,
    )
}

#[test]
fn this_machine_runs_arm64_programs_through_a_fixed_binfmt_handler() {
    let arm64 = Platform::parse("linux/arm64").expect("platform");
    let emulator = binfmt::emulator_for(&arm64, std::path::Path::new(binfmt::BINFMT_DIR))
        .unwrap_or_else(|e| panic!("{e} (scripts/setup.sh registers it)"))
        .expect("arm64 is foreign on this machine");
    assert!(
        emulator.interpreter.exists(),
        "{}",
        emulator.interpreter.display()
    );
    let busybox = foreign_busybox_dir().join("bin/busybox");
    let out = std::process::Command::new(&busybox)
        .args(["uname", "-m"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh unpacks it)", busybox.display()));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "aarch64");
}

/// A stage of another platform runs its steps under the emulator: `uname -m` says the stage's
/// machine, and the image is labelled with its platform.
#[test]
fn a_foreign_stage_runs_emulated() {
    let env = Env::new();
    import(
        &env,
        "linux/arm64",
        arm64_busybox_rootfs(),
        "busybox-arm64:latest",
    );
    let ctx = context(&[(
        "Dockerfile",
        "FROM --platform=linux/arm64 busybox-arm64\nRUN uname -m > /arch\n",
    )]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    env.build_ok(ctx.path(), &["-o", &dest, "-t", "emulated:1"]);
    let arch = std::fs::read_to_string(out.join("arch")).expect("arch");
    assert_eq!(arch.trim(), "aarch64");
    let v = env.inspect("emulated:1");
    assert_eq!(
        (&v["Os"], &v["Architecture"]),
        (&"linux".into(), &"arm64".into())
    );
}

/// Without an emulator for the stage's platform the step fails, naming the platform and the
/// package, and nothing of it runs natively. On amd64, Debian registers no handler for 386
/// programs (the kernel runs them itself, but the sandbox's seccomp filter admits only the
/// native calls): a 386 stage is such a platform.
#[test]
fn a_foreign_stage_without_an_emulator_is_a_clear_error() {
    let i386 = Platform::parse("linux/386").expect("platform");
    if Platform::host().architecture != "amd64" {
        panic!(
            "this test expects an amd64 machine (it is {})",
            Platform::host()
        );
    }
    assert!(
        binfmt::emulator_for(&i386, Path::new(binfmt::BINFMT_DIR)).is_err(),
        "this machine registers a 386 emulator: the test needs a platform without one"
    );
    let env = Env::new();
    import(&env, "linux/386", busybox_rootfs(), "old:1");
    let ctx = context(&[(
        "Dockerfile",
        "FROM --platform=linux/386 old:1\nRUN touch /ran\n",
    )]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    let b = env.build(ctx.path(), &["-o", &dest]);
    assert!(!b.success, "a 386 step ran without an emulator");
    assert!(b.stderr.contains("linux/386"), "{}", b.stderr);
    assert!(b.stderr.contains("qemu-user-static"), "{}", b.stderr);
    assert!(b.stderr.contains("RUN touch /ran"), "{}", b.stderr);
    assert!(!out.join("ran").exists());
}

/// `busybox:latest` for linux/amd64 (the host's busybox) and linux/arm64 (Debian's arm64
/// package) in `env`'s store: one name, two platforms.
fn two_platform_busybox(env: &Env, name: &str) {
    import(env, "linux/amd64", busybox_rootfs(), name);
    import(env, "linux/arm64", arm64_busybox_rootfs(), name);
}

/// The cross-compile pattern: a `$BUILDPLATFORM` stage, its output copied into each target
/// platform's stage, which runs a step of its own.
const CROSS: &str = "FROM --platform=$BUILDPLATFORM busybox AS build\n\
                     RUN uname -m > /host\n\
                     ARG TARGETPLATFORM TARGETARCH\n\
                     RUN echo \"built on $(cat /host) for $TARGETARCH\" > /out\n\
                     FROM busybox\n\
                     COPY --from=build /host /out /\n\
                     RUN uname -m > /arch\n";

/// One command builds both platforms: each platform's step runs on its machine (the arm64
/// one emulated), the build-platform stage runs natively, once per target (its `TARGETARCH`
/// differs) and never emulated; the outputs are one directory per platform; the store's name
/// holds both images under their index.
#[test]
fn two_platforms_build_in_one_command() {
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let ctx = context(&[("Dockerfile", CROSS)]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    let b = env.build_ok(
        ctx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &dest,
            "-t",
            "multi:1",
        ],
    );
    let read =
        |p: &str| std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("linux_amd64/arch").trim(), "x86_64");
    assert_eq!(read("linux_arm64/arch").trim(), "aarch64");
    assert_eq!(read("linux_amd64/out").trim(), "built on x86_64 for amd64");
    assert_eq!(read("linux_arm64/out").trim(), "built on x86_64 for arm64");
    // The build platform's step that does not depend on the target ran once, natively, and
    // both images hold its output.
    assert_eq!(read("linux_amd64/host").trim(), "x86_64");
    assert_eq!(read("linux_arm64/host").trim(), "x86_64");
    let ran = b.ran();
    assert_eq!(
        ran.iter()
            .filter(|r| r.contains("RUN uname -m > /host"))
            .count(),
        1,
        "{ran:?}"
    );
    // Steps are named with their platform, and the target's architecture where the stage
    // sees a TARGETPLATFORM of another, as BuildKit names them.
    for want in [
        "[linux/amd64 build 3/3] RUN echo",
        "[linux/amd64->arm64 build 3/3] RUN echo",
        "[linux/amd64 stage-1 3/3] RUN uname -m",
        "[linux/arm64 stage-1 3/3] RUN uname -m",
    ] {
        assert_eq!(
            ran.iter().filter(|r| r.starts_with(want)).count(),
            1,
            "{want} in {ran:?}"
        );
    }
    // The store's name holds both platforms.
    let rows = env.image_rows("multi");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().any(|r| r.ends_with("linux/amd64")), "{rows:?}");
    assert!(rows.iter().any(|r| r.ends_with("linux/arm64")), "{rows:?}");
    // Nothing runs again.
    let again = env.build_ok(
        ctx.path(),
        &["--platform", "linux/amd64,linux/arm64", "-t", "multi:1"],
    );
    assert!(again.ran().is_empty(), "{:?}", again.ran());
}

/// Without a shared stage the platforms' steps run at the same time (one graph, one solve):
/// each sleeps, and the two sleeps overlap.
#[test]
fn the_platforms_build_in_parallel() {
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN sleep 1 && uname -m > /arch\n",
    )]);
    let b = env.build_ok(ctx.path(), &["--platform", "linux/amd64,linux/arm64"]);
    let spans: Vec<(String, u64, u64)> = b
        .intervals()
        .into_iter()
        .filter(|(name, _, _)| name.contains("RUN sleep"))
        .collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (a, c) = (&spans[0], &spans[1]);
    assert!(
        a.1 < c.2 && c.1 < a.2,
        "the platforms' steps did not overlap: {spans:?}"
    );
}

/// An OCI archive of a multi-platform build holds the index (each manifest with its
/// platform), as skopeo reads it; `type=docker` cannot hold one: refused before anything runs.
#[test]
fn a_multi_platform_oci_archive_holds_the_index() {
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN uname -m > /arch\n")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("multi.tar");
    let dest = format!("type=oci,dest={}", tar.display());
    env.build_ok(
        ctx.path(),
        &["--platform", "linux/amd64,linux/arm64", "-o", &dest],
    );
    let raw = crate::util::run(
        std::process::Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}", tar.display())),
    );
    let index: serde_json::Value = serde_json::from_str(&raw).expect("index json");
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let mut platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .collect();
    platforms.sort();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64"]);
    // Each platform's image config says its platform (skopeo picks by --override-arch).
    let config = crate::util::run(
        std::process::Command::new("skopeo")
            .args(["inspect", "--config", "--override-arch", "arm64"])
            .arg(format!("oci-archive:{}", tar.display())),
    );
    let config: serde_json::Value = serde_json::from_str(&config).expect("config json");
    assert_eq!(config["architecture"], "arm64", "{config}");

    let docker = dir.path().join("docker.tar");
    let dest = format!("type=docker,dest={}", docker.display());
    let b = env.build(
        ctx.path(),
        &["--platform", "linux/amd64,linux/arm64", "-o", &dest],
    );
    assert!(!b.success);
    assert!(
        b.stderr.contains("cannot hold a multi-platform image"),
        "{}",
        b.stderr
    );
    assert!(b.ran().is_empty(), "{:?}", b.ran());
    assert!(!docker.exists());
}

/// A two-platform build pushed to a registry is an index there with both manifests and their
/// platforms (skopeo), docker pulls its arm64 image and runs it (emulated: `aarch64`), and a
/// fresh store builds FROM it for both platforms, pulling each platform's image.
#[test]
fn a_multi_platform_push_is_an_index_docker_pulls_per_platform() {
    use cairn_testkit::{shared, unique_repo};
    use std::process::Command;
    let registry = &shared().plain.host;
    // The base: both platforms under one name, pushed as an index.
    let seeder = Env::new();
    let base = format!("{registry}/{}:latest", unique_repo("library/busybox-multi"));
    two_platform_busybox(&seeder, &base);
    seeder.cairn_ok(&["push", &base]);
    let raw = crate::util::run(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{base}")),
    );
    let index: serde_json::Value = serde_json::from_str(&raw).expect("index json");
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );

    // A fresh store pulls the base for each platform during the build, and pushes the result.
    let env = Env::empty();
    let df = format!("FROM {base}\nRUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]\n");
    let ctx = context(&[("Dockerfile", &df)]);
    let tag = format!("{registry}/{}:v1", unique_repo("app/multi"));
    env.build_ok(
        ctx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            &tag,
            "--push",
        ],
    );
    let raw = crate::util::run(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{tag}")),
    );
    let index: serde_json::Value = serde_json::from_str(&raw).expect("index json");
    let manifests = index["manifests"].as_array().expect("manifests");
    let arches: Vec<&str> = manifests
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .collect();
    assert_eq!(arches, vec!["amd64", "arm64"], "{index}");
    assert!(
        manifests.iter().all(|m| m["platform"]["os"] == "linux"),
        "{index}"
    );

    let docker = "/usr/bin/docker";
    crate::util::run(Command::new(docker).args(["pull", "--platform", "linux/arm64", &tag]));
    let out = crate::util::run(Command::new(docker).args([
        "run",
        "--rm",
        "--network=host",
        "--platform",
        "linux/arm64",
        &tag,
    ]));
    let _ = Command::new(docker).args(["rmi", "-f", &tag]).output();
    assert_eq!(out.trim(), "aarch64");
}

/// A multi-platform build's cache exported (`--cache-to`) holds every platform's steps: a
/// fresh store importing it (`--cache-from`) runs nothing for either platform. And the OCI
/// archive of the build loads into a store as one name of two platforms.
#[test]
fn a_multi_platform_cache_and_archive_hold_every_platform() {
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let ctx = context(&[("Dockerfile", CROSS)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let tar = dir.path().join("multi.tar");
    env.build_ok(
        ctx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            &format!("--cache-to=type=local,dest={},mode=max", cache.display()),
            "-o",
            &format!("type=oci,dest={}", tar.display()),
            "-t",
            "multi:1",
        ],
    );
    let fresh = Env::new();
    two_platform_busybox(&fresh, "busybox:latest");
    let b = fresh.build_ok(
        ctx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            &format!("--cache-from=type=local,src={}", cache.display()),
        ],
    );
    assert!(
        b.ran().is_empty(),
        "ran with the cache imported: {:?}",
        b.ran()
    );

    let loaded = Env::empty();
    loaded.cairn_ok(&["load", "-i", tar.to_str().expect("utf-8 path")]);
    let v = loaded.inspect("multi:1");
    assert_eq!(v["Architecture"], Platform::host().architecture.as_str());
    let rows = loaded.image_rows("multi");
    assert_eq!(rows.len(), 2, "{rows:?}");
    // `cairn save --format oci` of the name keeps both platforms; a docker archive takes
    // this machine's and says so.
    let saved = dir.path().join("saved.tar");
    let saved = saved.to_str().expect("utf-8 path");
    loaded.cairn_ok(&["save", "--format", "oci", "-o", saved, "multi:1"]);
    let again = Env::empty();
    again.cairn_ok(&["load", "-i", saved]);
    let rows = again.image_rows("multi");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["save", "--format", "docker", "--root"])
        .arg(again.root())
        .arg("-o")
        .arg(dir.path().join("docker.tar"))
        .arg("multi:1")
        .output()
        .expect("save");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds 2 platforms"), "{err}");
}

/// A final stage `FROM --platform=$BUILDPLATFORM` (a cross-compiled result in a native base)
/// still makes one image per platform asked for, each labelled with its target, as BuildKit
/// labels them; a platform whose result is empty (`FROM scratch` and metadata) is an image too.
#[test]
fn each_image_is_labelled_with_its_target_platform() {
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let dir = tempfile::tempdir().expect("tempdir");
    for (dockerfile, what) in [
        (
            "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nRUN echo $TARGETARCH > /target\n",
            "a build-platform final stage",
        ),
        ("FROM scratch\nLABEL empty=yes\n", "an empty result"),
    ] {
        let ctx = context(&[("Dockerfile", dockerfile)]);
        let tar = dir.path().join("multi.tar");
        env.build_ok(
            ctx.path(),
            &[
                "--platform",
                "linux/amd64,linux/arm64",
                "-o",
                &format!("type=oci,dest={}", tar.display()),
            ],
        );
        let raw = crate::util::run(
            std::process::Command::new("skopeo")
                .args(["inspect", "--raw"])
                .arg(format!("oci-archive:{}", tar.display())),
        );
        let index: serde_json::Value = serde_json::from_str(&raw).expect("index json");
        let manifests = index["manifests"].as_array().expect("manifests");
        let arches: Vec<&str> = manifests
            .iter()
            .filter_map(|m| m["platform"]["architecture"].as_str())
            .collect();
        assert_eq!(arches, vec!["amd64", "arm64"], "{what}: {index}");
        assert_ne!(manifests[0]["digest"], manifests[1]["digest"], "{what}");
        let config = crate::util::run(
            std::process::Command::new("skopeo")
                .args(["inspect", "--config", "--override-arch", "arm64"])
                .arg(format!("oci-archive:{}", tar.display())),
        );
        let config: serde_json::Value = serde_json::from_str(&config).expect("config json");
        assert_eq!(config["architecture"], "arm64", "{what}: {config}");
    }
}

/// A multi-platform OCI layout as buildx writes it, with an attestation manifest (provenance,
/// `unknown/unknown`) in its index and a platform whose blobs it does not hold, loads: the
/// images it holds, under the name, and nothing else.
#[test]
fn loading_an_index_skips_attestations_and_absent_platforms() {
    use sha2::Digest as _;
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN uname -m > /arch\n")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("layout");
    env.build_ok(
        ctx.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=oci,tar=false,dest={},name=app:1", layout.display()),
        ],
    );
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
    };
    let mut top = read(&layout.join("index.json"));
    let index_digest = top["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let mut index = read(&blob(&index_digest));
    let put = |bytes: &[u8]| {
        let d = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        std::fs::write(blob(&d), bytes).expect("write blob");
        d
    };
    // An attestation manifest (its layer an in-toto statement, not a tar), and a platform
    // listed but not held.
    let statement = put(br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#);
    let config = put(b"{}");
    let attestation = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": statement, "size": 44}]
    });
    let attestation = put(&serde_json::to_vec(&attestation).expect("json"));
    let manifests = index["manifests"].as_array_mut().expect("manifests");
    manifests.push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": attestation, "size": 1,
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"}
    }));
    manifests.push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "e".repeat(64)), "size": 1,
        "platform": {"os": "linux", "architecture": "s390x"}
    }));
    let new_index = put(&serde_json::to_vec(&index).expect("json"));
    top["manifests"][0]["digest"] = new_index.clone().into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("index.json");

    let loaded = Env::empty();
    loaded.cairn_ok(&["load", "-i", layout.to_str().expect("utf-8 path")]);
    let images = loaded.cairn_ok(&["images"]);
    let rows = loaded.image_rows("app");
    assert_eq!(rows.len(), 2, "{images}");
    assert!(rows.iter().any(|r| r.ends_with("linux/arm64")), "{images}");
    assert!(
        !images.contains("unknown") && !images.contains("s390x"),
        "{images}"
    );
}

/// A bake target's `platforms`: the target built for each, one directory per platform, the
/// whole bake one graph (each platform's step runs once).
#[test]
fn a_bake_target_builds_its_platforms() {
    let env = Env::new();
    two_platform_busybox(&env, "busybox:latest");
    let bake = r#"
target "default" {
  platforms = ["linux/amd64", "linux/arm64"]
  output = ["type=local,dest=out"]
  tags = ["baked:1"]
}
"#;
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nRUN uname -m > /arch\n"),
        ("docker-bake.hcl", bake),
    ]);
    let out = cairn()
        .current_dir(ctx.path())
        .args(["bake", "--progress=json", "--root"])
        .arg(env.root())
        .output()
        .expect("run cairn bake");
    let b = super::fixture::Build::from(out);
    assert!(b.success, "{}", b.stderr);
    let read = |p: &str| {
        std::fs::read_to_string(ctx.path().join("out").join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    assert_eq!(read("linux_amd64/arch").trim(), "x86_64");
    assert_eq!(read("linux_arm64/arch").trim(), "aarch64");
    let ran = b.ran();
    assert_eq!(
        ran.iter().filter(|r| r.contains("RUN uname -m")).count(),
        2,
        "{ran:?}"
    );
    let rows = env.image_rows("baked");
    assert_eq!(rows.len(), 2, "{rows:?}");
}

/// `--platform` values that are not platforms, or more platforms than any build makes, are
/// clear errors before anything is lowered or run.
#[test]
fn bad_platform_lists_are_refused() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let many: Vec<String> = (0..65).map(|i| format!("linux/arch{i}")).collect();
    let many = many.join(",");
    for (value, want) in [
        ("linux", "invalid --platform \"linux\""),
        ("linux/amd64,/arm64", "invalid --platform \"/arm64\""),
        (many.as_str(), "more than 64 platforms"),
    ] {
        let b = env.build(ctx.path(), &["--platform", value]);
        assert!(!b.success, "{value}");
        assert!(b.stderr.contains(want), "{value}: {}", b.stderr);
        assert!(b.ran().is_empty());
    }
}

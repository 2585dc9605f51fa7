//! BuildKit's `dockerfile_cache_test.go` (its daemon-ref release check has no counterpart):
//! cache exports and imports through a directory and a registry, reproducible image ids — also
//! through an imported cache on a fresh store — a wildcard COPY's cache following a rename, and
//! a multi-platform build's cache.

use super::super::fixture::{Env, context, out_dir};
use cairn_testkit::{shared, unique_repo};

#[test]
fn exporting_and_importing_a_local_cache_twice() {
    // testExportCacheLoop.
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox as base\nRUN echo aa > /foo\nWORKDIR /bar\nFROM base as base1\nCOPY hello.txt .\nFROM base as base2\nCOPY --from=base1 /bar/hello.txt .\nRUN true\nFROM scratch\nCOPY --from=base2 /foo /f\n",
        ),
        ("hello.txt", "hello"),
    ]);
    let t = tempfile::tempdir().expect("tmp");
    let cache = t.path().join("cache");
    let to = format!("--cache-to=type=local,dest={}", cache.display());
    let from = format!("--cache-from=type=local,src={}", cache.display());
    env.build_ok(c.path(), &[&to]);
    let fresh = Env::new();
    fresh.build_ok(c.path(), &[&to, &from]);
}

/// testCacheImportExport's Dockerfile: a constant and a random file.
const UNIQUE: &str = "FROM busybox AS base\nCOPY foo const\nRUN cat /dev/urandom | head -c 100 | sha256sum > unique\nFROM scratch\nCOPY --from=base const /\nCOPY --from=base unique /\n";

#[test]
fn a_registry_cache_gives_a_fresh_store_the_same_result() {
    // testCacheImportExport, testImageManifestCacheImportExport (cairn's cache is an OCI
    // image manifest always; its config is cairn's cache index, not BuildKit's).
    let cache_ref = format!(
        "{}/{}:cache",
        shared().plain.host,
        unique_repo("buildkit/testexportdf")
    );
    let c = context(&[("Dockerfile", UNIQUE), ("foo", "foobar")]);
    let build = |env: &Env, args: &[&str]| {
        let (t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut flags = args.to_vec();
        flags.push(&dest);
        env.build_ok(c.path(), &flags);
        let read =
            |n: &str| std::fs::read_to_string(out.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
        let got = (read("const"), read("unique"));
        drop(t);
        got
    };
    let first = build(
        &Env::new(),
        &[&format!("--cache-to=type=registry,ref={cache_ref}")],
    );
    assert_eq!(first.0, "foobar");
    let second = build(
        &Env::new(),
        &[&format!("--cache-from=type=registry,ref={cache_ref}")],
    );
    assert_eq!(
        second, first,
        "the RUN ran again instead of coming from the cache"
    );
}

const IDS: &str = "FROM busybox\nENV foo=bar\nCOPY foo /\nRUN echo bar > bar\n";

fn image_id(env: &Env, args: &[&str]) -> String {
    let c = context(&[("Dockerfile", IDS), ("foo", "foo-contents")]);
    let t = tempfile::tempdir().expect("tmp");
    let iid = t.path().join("iid");
    let mut flags = args.to_vec();
    let f = format!("--iidfile={}", iid.display());
    flags.push(&f);
    env.build_ok(c.path(), &flags);
    std::fs::read_to_string(&iid).expect("iid")
}

#[test]
fn a_rebuild_gives_the_same_image_id() {
    // testReproducibleIDs.
    let env = Env::new();
    let a = image_id(&env, &["-t", "example.com/moby/dockerfileids:test"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = image_id(&env, &["-t", "example.com/moby/dockerfileids2:test"]);
    assert_eq!(a, b);
}

#[test]
fn an_imported_cache_gives_a_fresh_store_the_same_image_id() {
    // testImportExportReproducibleIDs: layer times travel with the cache.
    let cache_ref = format!(
        "{}/{}:cache",
        shared().plain.host,
        unique_repo("test/dockerfileexpids")
    );
    let a = image_id(
        &Env::new(),
        &[&format!("--cache-to=type=registry,ref={cache_ref}")],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = image_id(
        &Env::new(),
        &[&format!("--cache-from=type=registry,ref={cache_ref}")],
    );
    assert_eq!(a, b);
}

#[test]
fn a_renamed_file_invalidates_a_wildcard_copy() {
    // testWildcardRenameCache.
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY file* /files/\nRUN ls /files/file1\n",
        ),
        ("file1", "foo"),
    ]);
    env.build_ok(c.path(), &[]);
    std::fs::rename(c.path().join("file1"), c.path().join("file2")).expect("rename");
    let b = env.build(c.path(), &[]);
    assert!(!b.success, "the renamed file's build came from the cache");
}

#[test]
fn a_multi_platform_cache_imported_gives_the_same_images() {
    // testCacheMultiPlatformImportExport, with a registry cache (its commented-out variant;
    // cairn has no inline cache): both platforms' results come from the cache, so a random
    // file made for each is the same after every rebuild on a fresh store, and so is the
    // pushed index.
    let dockerfile = "FROM --platform=$BUILDPLATFORM busybox AS base\nARG TARGETARCH\n\
                      RUN echo -n $TARGETARCH> arch && cat /dev/urandom | head -c 100 | sha256sum > unique\n\
                      FROM scratch\nCOPY --from=base unique /\nCOPY --from=base arch /\n";
    let c = context(&[("Dockerfile", dockerfile)]);
    let target = format!(
        "{}/{}:multi",
        shared().plain.host,
        unique_repo("buildkit/testexportdf")
    );
    let cache = format!("{target}-cache");
    let platforms = "linux/amd64,linux/arm/v7";
    // Each platform's files, from a local export of the same build.
    let files = |env: &Env, extra: &[&str]| {
        let (_o, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut args = vec!["--platform", platforms, "-t", &target, "--push", &dest];
        args.extend_from_slice(extra);
        let b = env.build_ok(c.path(), &args);
        let read =
            |p: &str| std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        let got = (
            read("linux_amd64/arch"),
            read("linux_arm_v7/arch"),
            read("linux_amd64/unique"),
            read("linux_arm_v7/unique"),
        );
        (got, b)
    };
    let digest = || {
        crate::util::run(
            std::process::Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false"])
                .arg(format!("docker://{target}")),
        )
    };
    let first = Env::new();
    let (want, _) = files(&first, &[&format!("--cache-to=type=registry,ref={cache}")]);
    assert_eq!((want.0.as_str(), want.1.as_str()), ("amd64", "arm"));
    assert_ne!(want.2, want.3);
    let index = digest();
    let parsed: serde_json::Value = serde_json::from_str(&index).expect("index");
    assert_eq!(
        parsed["manifests"].as_array().map(Vec::len),
        Some(2),
        "{parsed}"
    );
    for _ in 0..2 {
        let fresh = Env::new();
        let (got, b) = files(
            &fresh,
            &[&format!("--cache-from=type=registry,ref={cache}")],
        );
        assert_eq!(got, want);
        assert!(
            !b.ran().iter().any(|r| r.contains("RUN echo")),
            "ran with the cache imported: {:?}",
            b.ran()
        );
        assert_eq!(digest(), index, "the pushed index changed");
    }
}

//! `cairn tag`, `rmi`, `inspect`, `save`: stored images handled as docker handles them.

use super::fixture::{Env, context};
use crate::util::cairn;

fn run(env: &Env, args: &[&str]) -> (bool, String, String) {
    let out = cairn()
        .args(args)
        .arg("--root")
        .arg(env.root())
        .output()
        .expect("run cairn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tag_inspect_rmi_and_save() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo hi > /hi\nCMD [\"cat\", \"/hi\"]\n",
    )]);
    let b = cairn()
        .args(["build", "-q", "-t", "app:1", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("build");
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let id = String::from_utf8_lossy(&b.stdout).trim().to_string();

    let (ok, _, err) = run(&env, &["tag", "app:1", "registry.local/team/app:2"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&env, &["inspect", "registry.local/team/app:2"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["cat", "/hi"]));
    let tags = v[0]["RepoTags"].to_string();
    assert!(
        tags.contains("app:1") && tags.contains("registry.local/team/app:2"),
        "{tags}"
    );
    assert_eq!(
        v[0]["RootFS"]["Layers"].as_array().map(Vec::len),
        v[0]["Layers"].as_array().map(Vec::len)
    );
    // By a short ID too.
    let short = id
        .trim_start_matches("sha256:")
        .get(..12)
        .expect("id")
        .to_string();
    let (ok, out, _) = run(&env, &["inspect", &short]);
    assert!(ok && out.contains(&id));

    // An ID with two names is removed only with --force; a name alone, at once.
    let (ok, _, err) = run(&env, &["rmi", &short]);
    assert!(!ok && err.contains("has 2 names"), "{err}");
    let (ok, out, err) = run(&env, &["rmi", "app:1"]);
    assert!(ok, "{err}");
    assert!(out.contains("Untagged: app:1"), "{out}");
    let (_, out, _) = run(&env, &["images"]);
    assert!(!out.lines().any(|l| l.starts_with("app ")), "{out}");
    assert!(out.contains("registry.local/team/app"), "{out}");

    // save → load into a fresh store: the same image.
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["docker", "oci"] {
        let tar = dir.path().join(format!("{format}.tar"));
        let (ok, _, err) = run(
            &env,
            &[
                "save",
                "--format",
                format,
                "-o",
                &tar.to_string_lossy(),
                "registry.local/team/app:2",
            ],
        );
        assert!(ok, "{err}");
        let fresh = Env::empty();
        let (ok, _, err) = run(&fresh, &["load", "-i", &tar.to_string_lossy()]);
        assert!(ok, "{format}: {err}");
        let (ok, out, err) = run(&fresh, &["inspect", "registry.local/team/app:2"]);
        assert!(ok, "{format}: {err}");
        assert!(out.contains(&id), "{format}: {out}");
    }
    let (ok, _, err) = run(&env, &["inspect", "nothere"]);
    assert!(!ok && err.contains("no image nothere"), "{err}");
}

#[test]
fn du_tells_where_the_space_goes() {
    let env = Env::new();
    // A build leaves a cache-only layer (the RUN of an untagged stage) and a tagged image.
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS scratchpad\nRUN head -c 300000 /dev/zero > /big\n\
         FROM busybox\nRUN --mount=type=cache,target=/c echo x > /c/x && echo hi > /hi\n",
    )]);
    let b = cairn()
        .args(["build", "-t", "app:1", "--target", "scratchpad", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("build");
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let (ok, _, err) = run(&env, &["rmi", "app:1"]);
    assert!(ok, "{err}");
    let b = cairn()
        .args(["build", "-t", "app:2", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("build");
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let (ok, out, err) = run(&env, &["du", "--json"]);
    assert!(ok, "{err}");
    let u: serde_json::Value = serde_json::from_str(&out).expect("json");
    // busybox + the RUN of app:2 in images; the 300 kB layer only in the build cache.
    assert_eq!(u["image_layers"]["count"], 2, "{u}");
    assert!(
        u["build_cache_layers"]["bytes"].as_u64().unwrap_or(0) >= 300_000,
        "{u}"
    );
    assert!(
        u["build_cache_records"]["count"].as_u64().unwrap_or(0) >= 2,
        "{u}"
    );
    assert_eq!(u["cache_mounts"]["count"], 1, "{u}");
    let parts: u64 = [
        "image_layers",
        "build_cache_layers",
        "build_cache_records",
        "cache_mounts",
        "blobs_(compressed)",
        "other",
    ]
    .iter()
    .map(|k| u[k]["bytes"].as_u64().unwrap_or(0))
    .sum();
    assert_eq!(parts, u["total_bytes"].as_u64().unwrap_or(0), "{u}");
    let (ok, out, _) = run(&env, &["du"]);
    assert!(
        ok && out.contains("build cache layers") && out.contains("total"),
        "{out}"
    );
    // Read-only: no store is made where there is none.
    let none = tempfile::tempdir().expect("tempdir");
    let missing = none.path().join("nostore");
    let out = cairn()
        .args(["du", "--root"])
        .arg(&missing)
        .output()
        .expect("du");
    assert!(out.status.success());
    assert!(!missing.exists());
}

fn build_target(env: &Env, dir: &std::path::Path, args: &[&str]) -> super::fixture::Build {
    let b = cairn()
        .args(["build", "--progress=json", "--root"])
        .arg(env.root())
        .args(args)
        .arg(dir)
        .output()
        .expect("build");
    super::fixture::Build::from(b)
}

#[test]
fn prune_frees_the_least_recently_used_cache_and_waits_for_builds() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS old\nRUN head -c 200000 /dev/zero > /old\n\
         FROM busybox AS new\nRUN head -c 300000 /dev/zero > /new\n\
         FROM busybox AS kept\nRUN echo kept > /kept\n\
         FROM busybox AS slow\nRUN sleep 3 && echo slow > /slow\n",
    )]);
    assert!(build_target(&env, c.path(), &["--target", "old"]).success);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(build_target(&env, c.path(), &["--target", "new"]).success);
    assert!(build_target(&env, c.path(), &["--target", "kept", "-t", "kept:1"]).success);
    let (_, before, _) = run(&env, &["du", "--json"]);

    // A dry run says what would go, and removes nothing.
    let (ok, out, err) = run(&env, &["prune", "--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("would remove layer").count(), 2, "{out}");
    assert!(out.contains("Total reclaimable space"), "{out}");
    let (_, after, _) = run(&env, &["du", "--json"]);
    assert_eq!(before, after);

    // Down to 350 kB: the least recently used (old, 200 kB) goes, new (300 kB) stays.
    let (ok, out, err) = run(&env, &["prune", "--keep-storage", "350k"]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("removed layer").count(), 1, "{out}");
    assert!(
        build_target(&env, c.path(), &["--target", "new"])
            .ran()
            .is_empty()
    );
    assert_eq!(
        build_target(&env, c.path(), &["--target", "old"])
            .ran()
            .len(),
        1
    );

    // All of it: the image's layers and their records stay (its rebuild runs nothing).
    let (ok, out, err) = run(&env, &["prune"]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("removed layer").count(), 2, "{out}");
    assert!(
        build_target(&env, c.path(), &["--target", "kept"])
            .ran()
            .is_empty()
    );
    let (ok, _, err) = run(&env, &["inspect", "kept:1"]);
    assert!(ok, "{err}");

    // A build in flight: prune waits for it, and the build's result is whole.
    let (_o, out_dir) = super::fixture::out_dir();
    let slow = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--target", "slow", "-o"])
        .arg(format!("type=local,dest={}", out_dir.display()))
        .arg("--root")
        .arg(env.root())
        .arg(c.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("build");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let (ok, _, err) = run(&env, &["prune"]);
    assert!(ok, "{err}");
    assert!(err.contains("waiting"), "prune did not wait: {err}");
    let status = slow.wait_with_output().expect("wait").status;
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("slow")).expect("slow"),
        "slow\n"
    );
}

#[test]
fn the_automatic_gc_keeps_the_build_cache_under_the_policy() {
    let env = Env::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN head -c 300000 /dev/urandom > /blob\nRUN echo done > /done\n",
    )]);
    let build = |args: &[&str]| {
        let out = cairn()
            .args(["build", "--progress=plain", "--root"])
            .arg(env.root())
            .args(args)
            .arg(ctx.path())
            .output()
            .expect("cairn build");
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{text}");
        text
    };
    // The default policy (10% of the file system) keeps a small build's cache.
    let first = build(&[]);
    assert!(!first.contains("automatic GC"), "{first}");
    assert!(build(&[]).contains("0 steps run"));
    // A policy of 1 byte: the cache no image uses goes after the build that made it.
    std::fs::write(env.root().join("config.toml"), "[gc]\nkeep-storage = 1\n").expect("write");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN head -c 300000 /dev/urandom > /blob\nRUN echo again > /done\n",
    )
    .expect("write");
    let collected = build(&[]);
    assert!(collected.contains("automatic GC: removed"), "{collected}");
    assert!(collected.contains("config.toml"), "{collected}");
    let rebuilt = build(&[]);
    assert!(rebuilt.contains("2 steps run"), "{rebuilt}");
    // What an image uses stays whatever the policy.
    build(&["-t", "kept:1"]);
    assert!(build(&["-t", "kept:1"]).contains("0 steps run"));
    // Off: nothing is collected.
    std::fs::write(
        env.root().join("config.toml"),
        "[gc]\nenabled = false\nkeep-storage = 1\n",
    )
    .expect("write");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo off > /off\n",
    )
    .expect("write");
    let off = build(&[]);
    assert!(!off.contains("automatic GC"), "{off}");
    assert!(build(&[]).contains("0 steps run"));
    // A bad config is named, with its line, and does not fail the build.
    std::fs::write(
        env.root().join("config.toml"),
        "[gc]\nkeep-storage = \"lots\"\n",
    )
    .expect("write");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo bad > /bad\n",
    )
    .expect("write");
    let bad = build(&[]);
    assert!(
        bad.contains("automatic GC skipped") && bad.contains("config.toml"),
        "{bad}"
    );
}

#[test]
fn images_filters_as_docker_images() {
    let env = Env::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nLABEL team=core tier=web\nRUN echo a > /a\n",
    )]);
    let build = |tag: &str, extra: &[&str]| {
        let out = cairn()
            .args(["build", "--progress=quiet", "--root"])
            .arg(env.root())
            .args(["-t", tag])
            .args(extra)
            .arg(ctx.path())
            .output()
            .expect("cairn build");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    build("web/app:1", &[]);
    build("web/app:2", &["--label", "stage=beta"]);
    build("registry.example:5000/tools/cli:7", &[]);
    let images = |args: &[&str]| -> (bool, Vec<String>, String) {
        let out = cairn()
            .args(["images", "--root"])
            .arg(env.root())
            .args(args)
            .output()
            .expect("cairn images");
        let rows = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.split_whitespace();
                format!("{}:{}", f.next().unwrap_or(""), f.next().unwrap_or(""))
            })
            .collect();
        (
            out.status.success(),
            rows,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (_, all, _) = images(&[]);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(images(&["web/app"]).1, ["web/app:1", "web/app:2"]);
    assert_eq!(images(&["web/app:2"]).1, ["web/app:2"]);
    assert_eq!(
        images(&["--filter", "reference=web/*"]).1,
        ["web/app:1", "web/app:2"]
    );
    assert_eq!(images(&["--filter", "reference=web/*:1"]).1, ["web/app:1"]);
    // `*` does not cross a `/`; two reference filters are alternatives.
    assert_eq!(images(&["--filter", "reference=*"]).1, ["busybox:latest"]);
    assert_eq!(
        images(&["-f", "reference=busybox", "-f", "reference=*/*/cli"]).1,
        ["busybox:latest", "registry.example:5000/tools/cli:7"]
    );
    assert_eq!(images(&["--filter", "label=stage=beta"]).1, ["web/app:2"]);
    assert_eq!(images(&["--filter", "label=team"]).1.len(), 3);
    assert_eq!(
        images(&["--filter", "label=team", "--filter", "label=stage"]).1,
        ["web/app:2"]
    );
    // busybox was made at a fixed old time: everything built is since it, it is before them.
    assert_eq!(images(&["--filter", "since=busybox"]).1.len(), 3);
    assert_eq!(
        images(&["--filter", "before=web/app:1"]).1,
        ["busybox:latest"]
    );
    assert!(images(&["--filter", "dangling=true"]).1.is_empty());
    assert_eq!(images(&["--filter", "dangling=false"]).1.len(), 4);
    let (ok, _, err) = images(&["--filter", "colour=red"]);
    assert!(!ok && err.contains("colour"), "{err}");
    let (ok, _, err) = images(&["--filter", "since=nope:1"]);
    assert!(!ok && err.contains("nope"), "{err}");
}

#[test]
fn import_labels_the_platform_it_is_told() {
    let env = Env::new();
    let rootfs = context(&[("etc/hostname", "foreign\n")]);
    let dir = rootfs.path().to_str().expect("utf-8 path");
    let import = |platform: Option<&str>, name: &str| {
        let mut args = vec!["import"];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        args.extend([dir, name]);
        run(&env, &args)
    };
    let architecture = |name: &str| {
        let (ok, out, err) = run(&env, &["inspect", name]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v.get(0).cloned().unwrap_or_default()
    };
    let (ok, _, err) = import(Some("linux/arm64/v8"), "foreign:1");
    assert!(ok, "{err}");
    let v = architecture("foreign:1");
    assert_eq!(
        (&v["Os"], &v["Architecture"], &v["Variant"]),
        (&"linux".into(), &"arm64".into(), &"v8".into())
    );
    // Without the flag: this machine's platform.
    let (ok, _, err) = import(None, "native:1");
    assert!(ok, "{err}");
    assert_eq!(
        architecture("native:1")["Architecture"],
        cairn_ir::Platform::host().architecture
    );
    // Not a platform: a clear error, nothing stored.
    let (ok, _, err) = import(Some("arm64"), "bad:1");
    assert!(!ok);
    assert!(
        err.contains("--platform \"arm64\" is not a platform"),
        "{err}"
    );
    let (ok, _, _) = run(&env, &["inspect", "bad:1"]);
    assert!(!ok, "an image was stored under a bad platform");
}

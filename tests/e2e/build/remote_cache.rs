//! Sharing the cache between machines through a directory: a second store with only the base
//! image runs zero steps and produces the same image digest.

use super::fixture::{Build, Env, context, out_dir};
use crate::util::cairn;
use std::path::Path;

const DOCKERFILE: &str = "\
FROM busybox AS tools
RUN echo tool > /tool
FROM busybox AS data
RUN echo data > /data
FROM busybox
COPY --from=tools /tool /tool
COPY --from=data /data /data
RUN cat /tool /data > /both
";

fn build(env: &Env, ctx: &Path, args: &[&str]) -> Build {
    let out = cairn()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--progress=json", "--root"])
        .arg(env.root())
        .args(args)
        .arg(ctx)
        .output()
        .expect("run cairn build");
    let b = Build::from(out);
    assert!(b.success, "{}", b.stderr);
    b
}

fn image_digest(oci: &Path) -> String {
    let out = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(oci)
        .arg("index.json")
        .output()
        .expect("tar");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("index.json");
    v["manifests"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The cache index (the artifact's config) of a cache directory.
fn cache_index(cache: &Path) -> serde_json::Value {
    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.join("index.json")).expect("index"))
            .expect("json");
    let m = top["manifests"][0]["digest"]
        .as_str()
        .expect("manifest digest")
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(cache.join("blobs/sha256").join(m)).expect("manifest"),
    )
    .expect("json");
    let c = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .trim_start_matches("sha256:")
        .to_string();
    serde_json::from_slice(&std::fs::read(cache.join("blobs/sha256").join(c)).expect("config"))
        .expect("json")
}

fn record_count(cache: &Path) -> usize {
    cache_index(cache)["records"].as_array().map_or(0, Vec::len)
}

#[test]
fn base_image_layers_are_named_but_not_exported() {
    let c = context(&[("Dockerfile", DOCKERFILE)]);
    let t = tempfile::tempdir().expect("tempdir");
    let cache = t.path().join("cache");
    build(
        &Env::new(),
        c.path(),
        &[&format!(
            "--cache-to=type=local,dest={},mode=max",
            cache.display()
        )],
    );
    let index = cache_index(&cache);
    let table = index["layers"].as_object().expect("layer table");
    let records = index["records"].as_array().expect("records");
    assert!(!records.is_empty());
    // Every stage is FROM busybox: its one layer is at the bottom of every stack, and it is the
    // only layer without a blob in the cache (importers resolve their base images themselves).
    let mut without_blob = std::collections::BTreeSet::new();
    for r in records {
        let stack: Vec<&str> = r["layers"]
            .as_array()
            .expect("stack")
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        assert!(!table.contains_key(stack[0]), "base layer exported: {r}");
        without_blob.extend(stack.iter().filter(|l| !table.contains_key(**l)).copied());
    }
    assert_eq!(without_blob.len(), 1, "{without_blob:?}");
    // Nothing but the table's blobs (plus index and manifest) was written.
    let blobs = std::fs::read_dir(cache.join("blobs/sha256"))
        .expect("blobs")
        .count();
    assert_eq!(blobs, table.len() + 2);
}

#[test]
fn cache_directory_round_trip_runs_nothing_and_gives_the_same_image() {
    let c = context(&[("Dockerfile", DOCKERFILE)]);
    let (t, out_a) = out_dir();
    let cache = t.path().join("cache");
    let first = Env::new();
    let a = build(
        &first,
        c.path(),
        &[
            &format!("--cache-to=type=local,dest={},mode=max", cache.display()),
            &format!("--output=type=oci,dest={}", out_a.display()),
        ],
    );
    assert_eq!(a.ran().len(), 5);

    // A second machine: a fresh store with only the base image.
    let second = Env::new();
    let out_b = t.path().join("b.tar");
    let b = build(
        &second,
        c.path(),
        &[
            &format!("--cache-from=type=local,src={}", cache.display()),
            &format!("--output=type=oci,dest={}", out_b.display()),
        ],
    );
    assert!(b.ran().is_empty(), "ran: {:?}", b.ran());
    assert_eq!(image_digest(&out_a), image_digest(&out_b));
}

#[test]
fn mode_min_exports_the_final_chain_and_mode_max_everything() {
    let c = context(&[("Dockerfile", DOCKERFILE)]);
    let t = tempfile::tempdir().expect("tempdir");
    let (min, max) = (t.path().join("min"), t.path().join("max"));
    let env = Env::new();
    build(
        &env,
        c.path(),
        &[
            &format!("--cache-to=type=local,dest={}", min.display()),
            &format!("--cache-to=type=local,dest={},mode=max", max.display()),
        ],
    );
    let (n_min, n_max) = (record_count(&min), record_count(&max));
    assert!(n_min > 0 && n_max > n_min, "min {n_min}, max {n_max}");

    // A new layer at the start of the final stage invalidates its COPY --from steps, which then
    // need the other stages' results: a max cache has them, so those stages do not run.
    let changed = DOCKERFILE.replace("COPY --from=tools", "WORKDIR /w\nCOPY --from=tools");
    let c2 = context(&[("Dockerfile", &changed)]);
    let from_max = build(
        &Env::new(),
        c2.path(),
        &[&format!("--cache-from=type=local,src={}", max.display())],
    );
    let ran = from_max.ran();
    assert!(
        !ran.iter()
            .any(|r| r.contains("echo tool") || r.contains("echo data")),
        "{ran:?}"
    );
    assert!(
        ran.iter().any(|r| r.contains("COPY --from=tools")),
        "{ran:?}"
    );
    // A min cache holds the final chain only; the build still succeeds from it.
    build(
        &Env::new(),
        c2.path(),
        &[&format!("--cache-from=type=local,src={}", min.display())],
    );
}

#[test]
fn a_tampered_cache_blob_is_a_miss_not_a_failure() {
    let c = context(&[("Dockerfile", DOCKERFILE)]);
    let t = tempfile::tempdir().expect("tempdir");
    let cache = t.path().join("cache");
    build(
        &Env::new(),
        c.path(),
        &[&format!(
            "--cache-to=type=local,dest={},mode=max",
            cache.display()
        )],
    );
    // Corrupt every layer blob (the small JSON blobs stay intact).
    for e in std::fs::read_dir(cache.join("blobs/sha256")).expect("blobs") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read");
        if bytes.first() == Some(&0x1f) {
            std::fs::write(&p, b"not the layer").expect("write");
        }
    }
    let env = Env::new();
    let b = env.build(
        c.path(),
        &[&format!("--cache-from=type=local,src={}", cache.display())],
    );
    // Never trusted, never fatal: the steps run instead, with a warning naming the cause.
    assert!(b.success, "{}", b.stderr);
    let warnings: Vec<&serde_json::Value> = b
        .events
        .iter()
        .filter(|e| e["event"] == "warning")
        .collect();
    assert!(!warnings.is_empty(), "{}", b.stderr);
    assert!(
        warnings
            .iter()
            .all(|w| w["data"].as_str().unwrap_or("").contains("digest")),
        "{warnings:?}"
    );
    let ran = b.ran();
    for step in ["RUN echo tool", "RUN echo data", "RUN cat /tool /data"] {
        assert!(
            ran.iter().any(|r| r.contains(step)),
            "{step} ran instead of coming from the damaged cache: {ran:?}"
        );
    }
}

#[test]
fn cache_mounts_travel_with_mounts_true() {
    let df = "FROM busybox\nRUN --mount=type=cache,target=/c,id=shared-cache sh -c 'echo run >> /c/log; wc -l < /c/log > /count'\n";
    let c = context(&[("Dockerfile", df)]);
    let t = tempfile::tempdir().expect("tempdir");
    let cache = t.path().join("cache");
    build(
        &Env::new(),
        c.path(),
        &[&format!(
            "--cache-to=type=local,dest={},mounts=true",
            cache.display()
        )],
    );
    // Another machine runs a step with that cache mount (a changed one, so it is not a cache
    // hit) and starts from the exported mount. (`--no-cache` would not: a step that ignores
    // the cache gets an empty cache mount, as in BuildKit.)
    let again = context(&[("Dockerfile", &df.replace("echo run", "echo again"))]);
    let (_t2, out) = out_dir();
    build(
        &Env::new(),
        again.path(),
        &[
            &format!("--cache-from=type=local,src={}", cache.display()),
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("count"))
            .expect("count")
            .trim(),
        "2"
    );
    // Without the import, a fresh store starts from an empty cache mount.
    let (_t3, out2) = out_dir();
    build(
        &Env::new(),
        c.path(),
        &[&format!("--output=type=local,dest={}", out2.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out2.join("count"))
            .expect("count")
            .trim(),
        "1"
    );
}

#[test]
fn exporting_after_a_fully_cached_build_still_exports_every_result() {
    let c = context(&[("Dockerfile", DOCKERFILE)]);
    let t = tempfile::tempdir().expect("tempdir");
    let cache = t.path().join("cache");
    let env = Env::new();
    build(&env, c.path(), &[]);
    // Everything is cached now: the export must still carry all stages' records.
    let again = build(
        &env,
        c.path(),
        &[&format!(
            "--cache-to=type=local,dest={},mode=max",
            cache.display()
        )],
    );
    assert!(again.ran().is_empty());
    assert!(
        record_count(&cache) >= 5,
        "{} records",
        record_count(&cache)
    );
    let changed = DOCKERFILE.replace("COPY --from=tools", "WORKDIR /w\nCOPY --from=tools");
    let c2 = context(&[("Dockerfile", &changed)]);
    let other = build(
        &Env::new(),
        c2.path(),
        &[&format!("--cache-from=type=local,src={}", cache.display())],
    );
    assert!(
        !other
            .ran()
            .iter()
            .any(|r| r.contains("echo tool") || r.contains("echo data")),
        "{:?}",
        other.ran()
    );
}

#[test]
fn a_cache_that_cannot_be_read_is_not_used_and_the_build_goes_on() {
    let c = context(&[("Dockerfile", DOCKERFILE)]);
    let t = tempfile::tempdir().expect("tempdir");
    let cache = t.path().join("cache");
    build(
        &Env::new(),
        c.path(),
        &[&format!("--cache-to=type=local,dest={}", cache.display())],
    );
    // Its index is garbage; another cache directory does not exist at all.
    std::fs::write(cache.join("index.json"), b"{ not json").expect("write");
    let gone = t.path().join("never-exported");
    let env = Env::new();
    let b = env.build(
        c.path(),
        &[
            &format!("--cache-from=type=local,src={}", cache.display()),
            &format!("--cache-from=type=local,src={}", gone.display()),
        ],
    );
    assert!(b.success, "{}", b.stderr);
    assert_eq!(
        b.stderr.matches("is not used").count(),
        2,
        "one warning per unreadable cache: {}",
        b.stderr
    );
    assert!(
        b.ran().iter().any(|r| r.contains("RUN cat /tool /data")),
        "the steps ran: {:?}",
        b.ran()
    );
}

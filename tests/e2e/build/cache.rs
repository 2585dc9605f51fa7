//! The cache does exactly the work a change requires.

use super::fixture::{Env, context, out_dir};
use std::time::{Duration, SystemTime};

const DOCKERFILE: &str = "\
FROM busybox AS a
COPY a.txt /a.txt
RUN cat /a.txt > /a.out

FROM busybox AS b
COPY b.txt /b.txt
RUN cat /b.txt > /b.out

FROM busybox AS unused
RUN echo unused

FROM busybox
COPY --from=a /a.out /a.out
COPY --from=b /b.out /b.out
RUN cat /a.out /b.out > /both
";

fn ctx(dockerfile: &str) -> tempfile::TempDir {
    context(&[
        ("Dockerfile", dockerfile),
        ("a.txt", "A"),
        ("b.txt", "B"),
        ("other.txt", "O"),
    ])
}

#[test]
fn unchanged_rebuild_runs_nothing() {
    let env = Env::new();
    let c = ctx(DOCKERFILE);
    let first = env.build_ok(c.path(), &[]);
    assert_eq!(first.ran().len(), 7, "{:?}", first.ran());
    let second = env.build_ok(c.path(), &[]);
    assert!(second.ran().is_empty(), "ran: {:?}", second.ran());
}

#[test]
fn touching_mtimes_runs_nothing() {
    let env = Env::new();
    let c = ctx(DOCKERFILE);
    env.build_ok(c.path(), &[]);
    let later = SystemTime::now() + Duration::from_secs(3600);
    for f in ["a.txt", "b.txt", "Dockerfile"] {
        let file = std::fs::File::options()
            .write(true)
            .open(c.path().join(f))
            .expect("open");
        file.set_modified(later).expect("set mtime");
    }
    let again = env.build_ok(c.path(), &[]);
    assert!(again.ran().is_empty(), "ran: {:?}", again.ran());
}

#[test]
fn changing_one_file_reruns_only_what_uses_it() {
    let env = Env::new();
    let c = ctx(DOCKERFILE);
    env.build_ok(c.path(), &[]);
    std::fs::write(c.path().join("a.txt"), "A2").expect("write");
    let again = env.build_ok(c.path(), &[]);
    let ran = again.ran();
    assert!(ran.iter().any(|r| r.contains("COPY a.txt")), "{ran:?}");
    assert!(ran.iter().any(|r| r.contains("RUN cat /a.txt")), "{ran:?}");
    assert!(ran.iter().any(|r| r.contains("COPY --from=a")), "{ran:?}");
    assert!(
        ran.iter().any(|r| r.contains("RUN cat /a.out /b.out")),
        "{ran:?}"
    );
    // Stage b does not read a.txt: none of its steps run. (The final stage's COPY --from=b runs
    // again because it is layered on the changed COPY --from=a, as in docker.)
    assert!(
        !ran.iter()
            .any(|r| r.contains("COPY b.txt") || r.contains("cat /b.txt")),
        "{ran:?}"
    );
    // Changing a file no step reads runs nothing.
    std::fs::write(c.path().join("other.txt"), "changed").expect("write");
    assert!(env.build_ok(c.path(), &[]).ran().is_empty());
}

#[test]
fn changing_an_unused_stage_runs_nothing() {
    let env = Env::new();
    env.build_ok(ctx(DOCKERFILE).path(), &[]);
    let changed = DOCKERFILE.replace("RUN echo unused", "RUN echo still unused && false");
    let again = env.build_ok(ctx(&changed).path(), &[]);
    assert!(again.ran().is_empty(), "ran: {:?}", again.ran());
}

#[test]
fn identical_output_of_a_rerun_step_hits_downstream() {
    let env = Env::new();
    // The generator's RUN sees the ARG (as an environment variable) and re-runs when it changes,
    // but the files it produces are byte-identical: the COPY --from that uses them is a hit.
    let df = "\
FROM busybox AS gen
ARG NOISE=1
RUN echo constant > /c
FROM busybox
COPY --from=gen /c /c
RUN cat /c > /d
";
    let c = context(&[("Dockerfile", df)]);
    env.build_ok(c.path(), &[]);
    let again = env.build_ok(c.path(), &["--build-arg", "NOISE=2"]);
    let ran = again.ran();
    assert!(ran.iter().any(|r| r.contains("echo constant")), "{ran:?}");
    assert!(
        !ran.iter()
            .any(|r| r.contains("COPY --from=gen") || r.contains("cat /c")),
        "{ran:?}"
    );
    assert!(again.cached().iter().any(|r| r.contains("COPY --from=gen")));
}

#[test]
fn chmod_and_chown_make_source_mode_irrelevant() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let df = "FROM busybox\nCOPY --chmod=644 --chown=1000:1000 f /f\n";
    let c = context(&[("Dockerfile", df), ("f", "x")]);
    env.build_ok(c.path(), &[]);
    std::fs::set_permissions(c.path().join("f"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    assert!(env.build_ok(c.path(), &[]).ran().is_empty());
}

#[test]
fn no_cache_reruns_everything() {
    let env = Env::new();
    let c = ctx(DOCKERFILE);
    env.build_ok(c.path(), &[]);
    assert_eq!(env.build_ok(c.path(), &["--no-cache"]).ran().len(), 7);
}

#[test]
fn plan_digests_are_the_ones_the_build_uses() {
    let env = Env::new();
    let c = ctx(DOCKERFILE);
    let b = env.build_ok(c.path(), &[]);
    let built: std::collections::BTreeSet<String> = b
        .events
        .iter()
        .filter_map(|e| e["vertex"].as_str().map(str::to_string))
        .collect();
    let root = env.root().to_string_lossy().to_string();
    let g = crate::util::plan_graph(c.path(), &["--root", &root]);
    let planned: std::collections::BTreeSet<String> =
        g.vertices.iter().map(|v| v.digest.to_string()).collect();
    assert!(!built.is_empty());
    assert!(
        built.is_subset(&planned),
        "built {built:?}\nplanned {planned:?}"
    );
}

#[test]
fn a_torn_layer_record_is_a_miss_and_is_written_again() {
    let env = super::fixture::Env::new();
    let c = crate::util::context(&[("Dockerfile", "FROM busybox\nRUN echo built > /b\n")]);
    env.build_ok(c.path(), &["-t", "torn:1"]);
    let top = {
        let store = cairn_store::Store::open(env.root()).expect("store");
        let rec = store
            .image_get("docker.io/library/torn:1")
            .expect("read")
            .expect("tagged")
            .only()
            .cloned()
            .expect("one image");
        rec.layers.last().cloned().expect("a layer")
    };
    let record = env.root().join("layers").join(format!("{top}.rec"));
    let bytes = std::fs::read(&record).expect("record");
    std::fs::write(&record, &bytes[..bytes.len() / 2]).expect("truncate");
    // The next export must not fail on it: the step's entry is a miss, runs again and the
    // record is written again.
    let d = tempfile::tempdir().expect("tempdir");
    let tar = d.path().join("image.tar");
    let b = env.build_ok(
        c.path(),
        &[
            "-t",
            "torn:1",
            &format!("--output=type=docker,dest={}", tar.display()),
        ],
    );
    assert!(
        b.ran().iter().any(|r| r.contains("RUN echo built")),
        "{:?}",
        b.ran()
    );
    assert!(tar.is_file());
    let store = cairn_store::Store::open(env.root()).expect("store");
    assert!(
        store.layer(&top).expect("read").is_some(),
        "record written again"
    );
}

/// Every `blobs/sha256/<hex>` member of an image archive hashes to its name.
fn archive_blobs_verify(tar_path: &std::path::Path) -> usize {
    use sha2::Digest;
    let mut archive = tar::Archive::new(std::fs::File::open(tar_path).expect("open"));
    let mut n = 0;
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").to_string_lossy().into_owned();
        if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).expect("read");
            assert_eq!(hex::encode(sha2::Sha256::digest(&data)), hex, "{path}");
            n += 1;
        }
    }
    n
}

#[test]
fn a_damaged_blob_is_never_exported() {
    let env = super::fixture::Env::new();
    let c = crate::util::context(&[("Dockerfile", "FROM busybox\nRUN echo built > /b\n")]);
    let d = tempfile::tempdir().expect("tempdir");
    let first = d.path().join("first.tar");
    env.build_ok(
        c.path(),
        &[
            "-t",
            "dmg:1",
            &format!("--output=type=docker,dest={}", first.display()),
        ],
    );
    assert!(archive_blobs_verify(&first) >= 4);
    let store = cairn_store::Store::open(env.root()).expect("store");
    let rec = store
        .image_get("docker.io/library/dmg:1")
        .expect("read")
        .expect("tagged")
        .only()
        .cloned()
        .expect("one image");
    let layer_blob = |id: &str| {
        store
            .layer(id)
            .expect("read")
            .expect("layer")
            .blobs
            .iter()
            .find(|b| b.compression == cairn_store::Compression::Gzip)
            .expect("gzip blob")
            .digest
            .clone()
    };
    let flip = |digest: &cairn_store::OciDigest| {
        let path = store.blob_path(digest);
        let mut bytes = std::fs::read(&path).expect("blob");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        std::fs::write(&path, &bytes).expect("write");
    };
    // A built layer's blob: made again, the export is sound.
    flip(&layer_blob(rec.layers.last().expect("top")));
    let second = d.path().join("second.tar");
    let b = env.build_ok(
        c.path(),
        &[
            "-t",
            "dmg:1",
            &format!("--output=type=docker,dest={}", second.display()),
        ],
    );
    assert!(b.stderr.contains("making it again"), "{}", b.stderr);
    assert!(archive_blobs_verify(&second) >= 4);
    // A base image's blob: a clear error naming the repair, and no archive.
    flip(&layer_blob(rec.layers.first().expect("base")));
    let third = d.path().join("third.tar");
    let b = env.build(
        c.path(),
        &[&format!("--output=type=docker,dest={}", third.display())],
    );
    assert!(!b.success);
    assert!(b.stderr.contains("pull/load the image"), "{}", b.stderr);
    assert!(!third.exists(), "no half-written archive");
}

#[test]
fn check_finds_and_repairs_store_damage() {
    let env = super::fixture::Env::new();
    let c = crate::util::context(&[("Dockerfile", "FROM busybox\nRUN echo built > /b\n")]);
    let d = tempfile::tempdir().expect("tempdir");
    let tar = d.path().join("image.tar");
    env.build_ok(
        c.path(),
        &[
            "-t",
            "chk:1",
            &format!("--output=type=docker,dest={}", tar.display()),
        ],
    );
    let check = |repair: bool| {
        let mut cmd = crate::util::cairn();
        cmd.args(["check", "--root"]).arg(env.root());
        if repair {
            cmd.arg("--repair");
        }
        let out = cmd.output().expect("check");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = check(false);
    assert!(ok, "a sound store checks clean: {text}");
    assert!(text.contains("0 problem(s)"), "{text}");
    // Damage: a built layer's blob, and its record.
    let store = cairn_store::Store::open(env.root()).expect("store");
    let rec = store
        .image_get("docker.io/library/chk:1")
        .expect("read")
        .expect("tagged")
        .only()
        .cloned()
        .expect("one image");
    let top = rec.layers.last().expect("top").clone();
    let blob = super::fixture::gzip_blob_of(&store, &top);
    let path = store.blob_path(&blob.digest);
    let mut bytes = std::fs::read(&path).expect("blob");
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let record = env.root().join("layers").join(format!("{top}.rec"));
    std::fs::write(&record, b"torn").expect("truncate");
    drop(store);

    let (ok, text) = check(false);
    assert!(!ok, "damage is reported: {text}");
    assert!(
        text.contains(&format!("blob {} is damaged", blob.digest)),
        "{text}"
    );
    assert!(
        text.contains(&format!("layer {top} has no readable record")),
        "{text}"
    );
    assert!(text.contains("cairn check --repair"), "{text}");
    let (ok, text) = check(true);
    assert!(ok, "{text}");
    assert!(text.contains("repaired"), "{text}");
    let (ok, text) = check(false);
    assert!(ok, "clean after repair: {text}");
    // And the image exports again.
    let again = d.path().join("again.tar");
    env.build_ok(
        c.path(),
        &[
            "-t",
            "chk:1",
            &format!("--output=type=docker,dest={}", again.display()),
        ],
    );
    assert!(again.is_file());
}

#[test]
fn reads_through_a_symlink_see_every_layer() {
    // Keys count only the layers that can change what a mount or copy reads — but a symlink
    // on the way (`/out -> /data`) may send the read to any layer: then every layer counts.
    let env = Env::new();
    let dockerfile = "FROM busybox AS build\nRUN mkdir /data && ln -s /data /out\nCOPY val /data/f\n\
                      FROM busybox\nRUN --mount=from=build,src=out,target=/m cat /m/f > /mounted\n\
                      COPY --from=build /out/f /copied\n";
    let seen = |val: &str| {
        let c = context(&[("Dockerfile", dockerfile), ("val", val)]);
        let (_t, out) = out_dir();
        env.build_ok(
            c.path(),
            &[&format!("--output=type=local,dest={}", out.display())],
        );
        (
            std::fs::read_to_string(out.join("mounted")).expect("mounted"),
            std::fs::read_to_string(out.join("copied")).expect("copied"),
        )
    };
    assert_eq!(seen("one"), ("one".to_string(), "one".to_string()));
    assert_eq!(seen("two"), ("two".to_string(), "two".to_string()));
}

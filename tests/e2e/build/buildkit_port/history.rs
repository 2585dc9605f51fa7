//! BuildKit's `dockerfile_history_test.go` (the exported-history cases; its build-history
//! API cases have no counterpart in a daemonless builder) and the offline cases of
//! `dockerfile_source_date_epoch_test.go`: `created` on the image and every history entry,
//! SOURCE_DATE_EPOCH from `--build-arg` and from a global `ARG` default, and the
//! `buildkit/rewritten-timestamp` annotation on the layers it rewrote.

use super::super::fixture::{Env, context};
use super::built_config;
use serde_json::Value;

/// The OCI layout `cairn build ARGS` writes for `files`: (manifest, config).
fn built_layout(env: &Env, files: &[(&str, &str)], args: &[&str]) -> (Value, Value) {
    let c = context(files);
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("l");
    let dest = format!("--output=type=oci,tar=false,dest={}", dir.display());
    let mut flags = args.to_vec();
    flags.push(&dest);
    env.build_ok(c.path(), &flags);
    let json = |p: std::path::PathBuf| -> Value {
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .expect("json")
    };
    let blob = |d: &Value| {
        dir.join("blobs/sha256")
            .join(d.as_str().expect("digest").trim_start_matches("sha256:"))
    };
    let index = json(dir.join("index.json"));
    let manifest = json(blob(&index["manifests"][0]["digest"]));
    let config = json(blob(&manifest["config"]["digest"]));
    (manifest, config)
}

fn history(img: &Value) -> Vec<Value> {
    img["history"].as_array().cloned().unwrap_or_default()
}

#[test]
fn exported_history_has_every_entry_with_a_time() {
    // testExportedHistory (the test's busybox base has one history entry, BuildKit's two).
    let env = Env::new();
    let dockerfile = "FROM busybox AS base\nENV foo=bar\nCOPY foo /foo2\nFROM busybox\nLABEL lbl=val\nCOPY --from=base foo2 foo3\nWORKDIR /\nRUN echo bar > foo4\nRUN [\"ls\"]\nEXPOSE 2375 5000 1234/udp\n";
    let img = built_config(
        &env,
        &[("Dockerfile", dockerfile), ("foo", "contents0")],
        &[],
    );
    assert_eq!(img["rootfs"]["type"], "layers");
    assert_eq!(img["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(4));
    let h = history(&img);
    assert_eq!(h.len(), 7, "{h:?}");
    let base = 1;
    let want: [(&str, bool); 6] = [
        ("lbl=val", true),
        ("COPY foo2 foo3", false),
        ("WORKDIR /", true),
        ("echo bar > foo4", false),
        ("RUN ls", false),
        ("EXPOSE [1234/udp 2375/tcp 5000/tcp]", true),
    ];
    for (i, (by, empty)) in want.iter().enumerate() {
        let e = &h[base + i];
        assert!(
            e["created_by"].as_str().unwrap_or_default().contains(by),
            "{e}"
        );
        assert_eq!(e["empty_layer"].as_bool().unwrap_or(false), *empty, "{e}");
        assert!(e["created"].is_string(), "no created: {e}");
    }
    assert!(img["created"].is_string(), "{img}");
}

#[test]
fn exported_history_flattens_repeated_args() {
    // testExportedHistoryFlattenArgs.
    let env = Env::new();
    let img = built_config(
        &env,
        &[(
            "Dockerfile",
            "FROM busybox\nARG foo=bar\nARG bar=123\nARG foo=bar2\nRUN ls /etc/\n",
        )],
        &[],
    );
    let h = history(&img);
    let first = h
        .iter()
        .position(|e| e["created_by"] == "ARG foo=bar")
        .expect("ARG foo=bar");
    assert!(first > 0);
    assert_eq!(h.len(), first + 4, "{h:?}");
    assert!(
        h[first + 1]["created_by"]
            .as_str()
            .unwrap_or_default()
            .contains("ARG bar=123")
    );
    assert!(
        h[first + 2]["created_by"]
            .as_str()
            .unwrap_or_default()
            .contains("ARG foo=bar2")
    );
    let run = h[first + 3]["created_by"].as_str().unwrap_or_default();
    assert!(
        run.contains("ls /etc/") && !run.contains("ARG foo=bar"),
        "{run}"
    );
    assert!(run.contains("RUN |2 foo=bar2 bar=123 "), "{run}");
}

#[test]
fn without_an_epoch_times_are_the_layers_and_a_cached_rebuild_keeps_the_image_id() {
    let env = Env::new();
    let files = [(
        "Dockerfile",
        "FROM busybox\nRUN echo a > /a\nENV X=1\nRUN echo b > /b\n",
    )];
    let (_, first) = built_layout(&env, &files, &[]);
    let h = history(&first);
    let t = |i: usize| {
        h[i]["created"]
            .as_str()
            .map(str::to_string)
            .expect("created")
    };
    // The base entry keeps the base's time (SOURCE_DATE_EPOCH of the test's import).
    assert_eq!(t(0), "2020-09-13T12:26:40Z");
    // ENV gets the time of the first new layer after it (BuildKit's rule); the image the
    // time of its last entry.
    assert_eq!(t(2), t(3));
    assert_eq!(first["created"].as_str(), Some(t(3).as_str()));
    assert!(t(1) > t(0));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, again) = built_layout(&env, &files, &[]);
    assert_eq!(again, first, "a fully cached rebuild changed the config");
}

#[test]
fn source_date_epoch_stamps_the_image_and_every_new_entry() {
    // testSourceDateEpochWithoutExporter.
    let env = Env::new();
    let (manifest, img) = built_layout(
        &env,
        &[(
            "Dockerfile",
            "FROM scratch\nENTRYPOINT foo bar\nCOPY Dockerfile .\n",
        )],
        &["--build-arg", "SOURCE_DATE_EPOCH=1700000001"],
    );
    assert_eq!(img["created"], "2023-11-14T22:13:21Z");
    for e in history(&img) {
        assert_eq!(e["created"], "2023-11-14T22:13:21Z", "{e}");
    }
    assert_eq!(
        manifest["layers"][0]["annotations"]["buildkit/rewritten-timestamp"],
        "1700000001"
    );
}

#[test]
fn a_global_arg_default_is_the_epoch_a_build_arg_overrides_it() {
    // testSourceDateEpochDockerfileDefault, testSourceDateEpochDockerfileDefaultOverride,
    // testSourceDateEpochDockerfileDefaultInvalid.
    let env = Env::new();
    let df = "ARG SOURCE_DATE_EPOCH=1445412480\nFROM scratch\nCOPY Dockerfile .\n";
    let (manifest, _) = built_layout(&env, &[("Dockerfile", df)], &[]);
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["annotations"]["buildkit/rewritten-timestamp"],
        "1445412480"
    );
    let (manifest, _) = built_layout(
        &env,
        &[("Dockerfile", df)],
        &["--build-arg", "SOURCE_DATE_EPOCH=1700000002"],
    );
    assert_eq!(
        manifest["layers"][0]["annotations"]["buildkit/rewritten-timestamp"],
        "1700000002"
    );
    let c = context(&[(
        "Dockerfile",
        "ARG SOURCE_DATE_EPOCH=not-a-timestamp\nFROM scratch\nCOPY Dockerfile .\n",
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr
            .contains("invalid SOURCE_DATE_EPOCH: not-a-timestamp"),
        "{}",
        b.stderr
    );
}

#[test]
fn without_an_epoch_no_layer_is_marked_rewritten() {
    // testSourceDateEpochDockerfileDefaultReset's and testSourceDateEpochContextLocalUnset's
    // point: no
    // epoch, no annotation.
    let env = Env::new();
    let (manifest, _) = built_layout(
        &env,
        &[("Dockerfile", "FROM scratch\nCOPY Dockerfile /\n")],
        &[],
    );
    assert!(manifest["layers"][0]["annotations"].is_null(), "{manifest}");
}

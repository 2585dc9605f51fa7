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

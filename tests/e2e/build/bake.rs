//! `cairn bake`: the targets of a bake file built as one graph — a stage several targets share
//! runs once, independent stages of all targets run side by side — and `--print` in buildx's
//! shape.

use super::fixture::{Build, Env, context};
use crate::util::cairn;

const DOCKERFILE: &str = "FROM busybox AS base\n\
RUN sleep 1 && echo base > /base.txt\n\
FROM base AS a\nRUN sleep 1 && echo a > /a.txt\n\
FROM base AS b\nRUN sleep 1 && echo b > /b.txt\n\
FROM base AS c\nARG FLAVOUR\nRUN sleep 1 && echo \"c $FLAVOUR\" > /c.txt\n";

const BAKE: &str = r#"
variable "OUT" { default = "out" }
group "default" { targets = ["a", "b", "c", "cache"] }
target "_common" { output = [] }
target "a" {
  target = "a"
  output = ["type=local,dest=${OUT}/a"]
}
target "b" {
  target = "b"
  output = ["type=local,dest=${OUT}/b"]
  tags = ["bake-b:1"]
}
target "cache" {
  target = "base"
  output = ["type=cacheonly"]
}
target "c" {
  inherits = ["_common"]
  target = "c"
  args = { FLAVOUR = upper("mint") }
  output = ["type=local,dest=${OUT}/c"]
}
"#;

#[test]
fn targets_share_their_common_stage_and_run_side_by_side() {
    let env = Env::new();
    let c = context(&[("Dockerfile", DOCKERFILE), ("docker-bake.hcl", BAKE)]);
    let out = cairn()
        .current_dir(c.path())
        .env("OUT", c.path().join("results"))
        .args(["bake", "--progress=json", "--jobs", "4", "--root"])
        .arg(env.root())
        .output()
        .expect("run cairn bake");
    let b = Build::from(out);
    assert!(b.success, "{}", b.stderr);
    let results = c.path().join("results");
    for (t, file, text) in [
        ("a", "a.txt", "a\n"),
        ("b", "b.txt", "b\n"),
        ("c", "c.txt", "c MINT\n"),
    ] {
        let dir = results.join(t);
        assert_eq!(
            std::fs::read_to_string(dir.join("base.txt")).expect("base"),
            "base\n",
            "{t}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(file)).expect("own file"),
            text,
            "{t}"
        );
    }
    // The shared stage ran once for three targets.
    let ran = b.ran();
    assert_eq!(
        ran.iter().filter(|r| r.contains("echo base")).count(),
        1,
        "{ran:?}"
    );
    // The three targets' own steps overlapped.
    let own: Vec<(String, u64, u64)> = b
        .intervals()
        .into_iter()
        .filter(|(n, _, _)| {
            n.contains("> /a.txt") || n.contains("> /b.txt") || n.contains("> /c.txt")
        })
        .collect();
    assert_eq!(own.len(), 3, "{own:?}");
    let latest_start = own.iter().map(|o| o.1).max().unwrap_or(0);
    let earliest_end = own.iter().map(|o| o.2).min().unwrap_or(0);
    assert!(
        latest_start < earliest_end,
        "the targets ran one after another: {own:?}"
    );
    // A tagged target is in the store.
    let images = cairn()
        .args(["images", "--root"])
        .arg(env.root())
        .output()
        .expect("images");
    assert!(String::from_utf8_lossy(&images.stdout).contains("bake-b"));

    // Baked again: nothing runs.
    let out = cairn()
        .current_dir(c.path())
        .env("OUT", c.path().join("results"))
        .args(["bake", "--progress=json", "--root"])
        .arg(env.root())
        .output()
        .expect("run cairn bake");
    let b = Build::from(out);
    assert!(b.success, "{}", b.stderr);
    assert!(b.ran().is_empty(), "{:?}", b.ran());
}

#[test]
fn targets_with_contexts_of_their_own() {
    // Two contexts, both with a file named x.txt: each target copies its own.
    let env = Env::new();
    let c = context(&[
        ("Dockerfile", "FROM busybox\nCOPY x.txt /x.txt\n"),
        ("x.txt", "from the main context\n"),
        ("other/Dockerfile", "FROM busybox\nCOPY x.txt /x.txt\n"),
        ("other/x.txt", "from the other context\n"),
        (
            "docker-bake.hcl",
            "group \"default\" { targets = [\"main\", \"other\"] }\n\
             target \"main\" {\n  output = [\"type=local,dest=results/main\"]\n}\n\
             target \"other\" {\n  context = \"other\"\n  output = [\"type=local,dest=results/other\"]\n}\n",
        ),
    ]);
    let out = cairn()
        .current_dir(c.path())
        .args(["bake", "--root"])
        .arg(env.root())
        .output()
        .expect("run cairn bake");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (t, text) in [
        ("main", "from the main context\n"),
        ("other", "from the other context\n"),
    ] {
        let got = std::fs::read_to_string(c.path().join("results").join(t).join("x.txt"));
        assert_eq!(got.expect("x.txt"), text, "{t}");
    }
}

#[test]
fn print_shows_the_resolved_definition() {
    let c = context(&[("docker-bake.hcl", BAKE)]);
    let out = cairn()
        .current_dir(c.path())
        .env("OUT", "dist")
        .args(["bake", "--print", "--set", "b.args.X=1", "a", "b"])
        .output()
        .expect("run cairn bake --print");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(p["group"]["a"]["targets"], serde_json::json!(["a"]));
    assert_eq!(p["target"]["a"]["context"], ".");
    assert_eq!(p["target"]["a"]["dockerfile"], "Dockerfile");
    assert_eq!(
        p["target"]["a"]["output"],
        serde_json::json!(["type=local,dest=dist/a"])
    );
    assert_eq!(p["target"]["b"]["args"]["X"], "1");
    assert_eq!(p["target"]["b"]["tags"], serde_json::json!(["bake-b:1"]));
    assert!(p["target"].get("c").is_none());

    // Mistakes are named with the file.
    let c = context(&[("docker-bake.hcl", "target \"a\" { tagz = [] }\n")]);
    let out = cairn()
        .current_dir(c.path())
        .args(["bake", "--print"])
        .output()
        .expect("run cairn bake");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("docker-bake.hcl") && stderr.contains("tagz"),
        "{stderr}"
    );
}

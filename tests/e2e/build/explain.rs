//! `cairn build --explain` and `cairn explain`: why each step ran, named precisely — the file
//! under a COPY source, the build arg, the base image, the instruction, the input step — and
//! the history that makes it possible staying small.

use super::fixture::{Env, busybox_rootfs, context};
use crate::util::cairn;
use std::path::Path;

const DOCKERFILE: &str = "FROM busybox AS build\nARG VERSION=1\nCOPY src /src\n\
    RUN echo building $VERSION > /out\nFROM busybox\nCOPY --from=build /out /out\n";

fn explain(env: &Env, ctx: &Path, args: &[&str]) -> String {
    let out = cairn()
        .args(["build", "--progress=quiet", "--explain", "--root"])
        .arg(env.root())
        .args(args)
        .arg(ctx)
        .output()
        .expect("cairn build");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

/// The reasons listed under `step` (its ` => ` line) in an explanation.
fn reasons(text: &str, step: &str) -> Vec<String> {
    text.split("\n => ")
        .find(|block| block.starts_with(step))
        .unwrap_or_else(|| panic!("{step:?} not explained in:\n{text}"))
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().strip_prefix("- ").map(str::to_string))
        .collect()
}

#[test]
fn every_step_that_ran_says_why() {
    let env = Env::new();
    let ctx = context(&[
        ("Dockerfile", DOCKERFILE),
        ("src/a.c", "a\n"),
        ("src/b.c", "b\n"),
    ]);
    let first = explain(&env, ctx.path(), &[]);
    assert!(
        first.contains("no earlier build of this target to compare with"),
        "{first}"
    );
    assert_eq!(
        reasons(&first, "[build 2/3] COPY src /src"),
        ["no earlier build of this target"]
    );

    // Files: one changed, one gone, one new; the RUN after them ran because its input did.
    std::fs::write(ctx.path().join("src/a.c"), "a, changed\n").expect("write");
    std::fs::remove_file(ctx.path().join("src/b.c")).expect("rm");
    std::fs::write(ctx.path().join("src/new.h"), "n\n").expect("write");
    let files = explain(&env, ctx.path(), &[]);
    let copy = reasons(&files, "[build 2/3] COPY src /src");
    assert!(
        copy.iter()
            .any(|r| r.starts_with("file src/a.c changed (") && r.contains(" → ")),
        "{files}"
    );
    assert!(
        copy.contains(&"file src/b.c removed".to_string()),
        "{files}"
    );
    assert!(
        copy.contains(&"file src/new.h added".to_string()),
        "{files}"
    );
    assert_eq!(
        reasons(&files, "[build 3/3] RUN"),
        ["its input changed: [build 2/3] COPY src /src"]
    );

    // A build arg.
    let arg = explain(&env, ctx.path(), &["--build-arg", "VERSION=2"]);
    let run = reasons(&arg, "[build 3/3] RUN");
    assert!(
        run.contains(&"VERSION changed (a build arg or ENV): 1 → 2".to_string()),
        "{arg}"
    );
    assert!(
        reasons(&arg, "[stage-1 2/2] COPY --from=build")
            .iter()
            .any(|r| r.starts_with("its input changed: [build 3/3] RUN echo building 2")),
        "{arg}"
    );

    // Nothing changed: nothing ran, and `cairn explain` shows the same.
    let same = explain(&env, ctx.path(), &["--build-arg", "VERSION=2"]);
    assert!(same.contains("Nothing ran"), "{same}");
    let last = cairn()
        .args(["explain", "--json", "--root"])
        .arg(env.root())
        .output()
        .expect("cairn explain");
    let v: serde_json::Value = serde_json::from_slice(&last.stdout).expect("JSON");
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(0), "{v}");

    // A new base image under the same tag.
    let rootfs = tempfile::tempdir().expect("tempdir");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", busybox_rootfs().display()))
        .arg(rootfs.path())
        .status()
        .expect("cp");
    assert!(copied.success());
    std::fs::write(rootfs.path().join("etc/motd"), "new base\n").expect("write");
    let imported = cairn()
        .args(["import", "--root"])
        .arg(env.root())
        .arg(rootfs.path())
        .arg("busybox:latest")
        .output()
        .expect("cairn import");
    assert!(imported.status.success());
    let base = explain(&env, ctx.path(), &["--build-arg", "VERSION=2"]);
    let from = reasons(&base, "[build 2/3] COPY src /src");
    assert!(
        from.iter()
            .any(|r| r.starts_with("its input changed: [build 1/3] FROM")),
        "{base}"
    );
    let shown = cairn()
        .args(["explain", "--root"])
        .arg(env.root())
        .output()
        .expect("cairn explain");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("its input changed: [build 1/3] FROM"),
        "{shown}"
    );
}

#[test]
fn the_history_stays_small_for_big_contexts() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY . /src\n")]);
    for d in 0..30 {
        let dir = ctx.path().join(format!("d{d}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..1000 {
            std::fs::write(dir.join(format!("f{f}")), format!("{d}/{f}")).expect("write");
        }
    }
    explain(&env, ctx.path(), &[]);
    std::fs::write(ctx.path().join("d7/f7"), "changed").expect("write");
    let text = explain(&env, ctx.path(), &[]);
    // 30,000 files are recorded by directory: the change is placed in its directory.
    assert!(
        reasons(&text, "[2/2] COPY . /src")
            .iter()
            .any(|r| r.starts_with("files under d7/ changed")),
        "{text}"
    );
    let total: u64 = std::fs::read_dir(env.root().join("history"))
        .expect("history dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(total < 64 * 1024, "history holds {total} bytes");
}

//! The dependency rules of ARCHITECTURE.md, checked on the crates' manifests (rust-analyzer's
//! tidy tests are the model): data flows one way, frontends stay pure, only the CLI uses
//! `anyhow`, and no driver's policy leaks below the build library; and the repository's top level
//! holds only what the code map names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each workspace crate's normal (not dev, not build) dependencies, by crate name.
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut manifests: Vec<PathBuf> = Vec::new();
    for dir in ["crates", "frontends"] {
        let entries = std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for e in entries.flatten() {
            let m = e.path().join("Cargo.toml");
            if m.is_file() {
                manifests.push(m);
            }
        }
    }
    let mut out = BTreeMap::new();
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap_or_else(|e| panic!("{}: {e}", m.display()));
        let mut name = None;
        let mut deps = Vec::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            if section == "[package]" && line.starts_with("name = ") {
                name = Some(
                    line.trim_start_matches("name = ")
                        .trim_matches('"')
                        .to_string(),
                );
            }
            if section == "[dependencies]"
                && let Some(dep) = line.split(['.', ' ', '=']).next()
                && !dep.is_empty()
                && !dep.starts_with('#')
            {
                deps.push(dep.to_string());
            }
        }
        let name = name.unwrap_or_else(|| panic!("{}: no package name", m.display()));
        out.insert(name, deps);
    }
    out
}

fn deps_of<'a>(all: &'a BTreeMap<String, Vec<String>>, krate: &str) -> &'a [String] {
    all.get(krate)
        .unwrap_or_else(|| panic!("no crate {krate} in the workspace"))
}

#[test]
fn only_the_cli_uses_anyhow() {
    let all = dependencies();
    let users: Vec<&String> = all
        .iter()
        .filter(|(_, d)| d.iter().any(|d| d == "anyhow"))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(users, ["cairn-cli"], "libraries return typed errors");
}

#[test]
fn frontends_depend_only_on_the_ir_and_the_context_matcher() {
    let all = dependencies();
    let frontends = ["cairn-dockerfile", "cairn-bake"];
    for f in frontends {
        assert!(all.contains_key(f), "no frontend crate {f}");
    }
    for (name, deps) in all.iter().filter(|(n, _)| frontends.contains(&n.as_str())) {
        for d in deps.iter().filter(|d| d.starts_with("cairn-")) {
            assert!(
                ["cairn-ir", "cairn-context"].contains(&d.as_str()),
                "{name} depends on {d}: a frontend plans, it does not execute or fetch"
            );
        }
    }
}

#[test]
fn the_frontend_sdk_carries_no_engine() {
    // A frontend author's dependency: the protocol and the IR, nothing that builds.
    let all = dependencies();
    let deps: Vec<&String> = deps_of(&all, "cairn-frontend-sdk")
        .iter()
        .filter(|d| d.starts_with("cairn-"))
        .collect();
    assert_eq!(deps, ["cairn-ir"], "cairn-frontend-sdk depends on {deps:?}");
}

#[test]
fn data_flows_one_way() {
    let all = dependencies();
    // Nothing depends on the CLI; nothing below the build library depends on it.
    for (name, deps) in &all {
        assert!(
            !deps.iter().any(|d| d == "cairn-cli"),
            "{name} depends on the CLI"
        );
        if name != "cairn-cli" {
            assert!(
                !deps.iter().any(|d| d == "cairn-build"),
                "{name} depends on the build library, which sits above it"
            );
        }
    }
    // The build library knows no frontend: frontends plug in through its trait.
    assert!(
        !deps_of(&all, "cairn-build")
            .iter()
            .any(|d| d == "cairn-dockerfile"),
        "cairn-build depends on a frontend"
    );
    // The solver never talks to a network, and never to a frontend.
    for forbidden in [
        "cairn-registry",
        "cairn-http",
        "cairn-git",
        "cairn-dockerfile",
    ] {
        assert!(
            !deps_of(&all, "cairn-solver").iter().any(|d| d == forbidden),
            "cairn-solver depends on {forbidden}"
        );
    }
    // The IR is the bottom: it depends on no other cairn crate.
    assert!(
        !deps_of(&all, "cairn-ir")
            .iter()
            .any(|d| d.starts_with("cairn-")),
        "cairn-ir depends on another cairn crate"
    );
}

/// The repository's top level holds what ARCHITECTURE.md's code map names and nothing else: a
/// stray file there (a profiler's dump, a scratch output) is one `git add -A` from being
/// committed, as a 1.2 MB flamegraph named `0` once was.
#[test]
fn the_repository_root_holds_only_the_code_map() {
    const KNOWN: &[&str] = &[
        ".ci",
        ".git",
        ".gitignore",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "Cargo.lock",
        "Cargo.toml",
        "README.md",
        "benches",
        "clippy.toml",
        "crates",
        "docs",
        "examples",
        "frontends",
        "fuzz",
        "scripts",
        "target",
        "tests",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let entries = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let stray: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !KNOWN.contains(&name.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "not part of the repository's layout (remove, or add to the code map and here): {stray:?}"
    );
    // Every directory of the list but the hidden ones and `target` is named in the code map.
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mapped = KNOWN
        .iter()
        .filter(|n| !n.starts_with('.') && **n != "target" && root.join(n).is_dir());
    for dir in mapped {
        assert!(
            map.contains(&format!("`{dir}/")),
            "ARCHITECTURE.md's code map does not name {dir}/"
        );
    }
}

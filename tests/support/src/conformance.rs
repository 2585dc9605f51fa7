//! Where BuildKit's conformance data is (`../shared/conformance/buildkit` next to the
//! workspace, or `$CAIRN_CONFORMANCE_DIR`), for the suites that read it: the parser and lexer
//! tests, the `.dockerignore` tables, `cairn debug parse`.
//!
//! A suite must never pass without its data. Each crate with such a suite calls
//! [`build_script`] from its `build.rs`, which sets `cfg(conformance_missing)` when the data
//! is absent and `CI` is not `true`; the suites carry
//! `#[cfg_attr(conformance_missing, ignore = "…")]`, so they show as *ignored* in the counts.
//! Under `CI=true` nothing is ignored and a suite without its data fails ([`dir`] panics).

use std::path::{Path, PathBuf};

/// The data directory for the crate at `manifest_dir` (its `CARGO_MANIFEST_DIR`).
pub fn dir_for(manifest_dir: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os("CAIRN_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    // The workspace root: the first ancestor whose Cargo.toml declares the workspace.
    let root = manifest_dir
        .ancestors()
        .find(|a| {
            std::fs::read_to_string(a.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or(manifest_dir);
    root.join("../shared/conformance/buildkit")
}

/// The data directory of a running suite; panics (a failed test) when it is missing.
pub fn dir(manifest_dir: &str) -> PathBuf {
    let d = dir_for(Path::new(manifest_dir));
    assert!(
        d.is_dir(),
        "BuildKit's conformance data is not at {} (set CAIRN_CONFORMANCE_DIR)",
        d.display()
    );
    d
}

/// For a `build.rs`: mark the conformance suites ignored when the data is missing outside CI.
#[allow(clippy::disallowed_macros)] // a build script talks to cargo on stdout
pub fn build_script() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let d = dir_for(Path::new(&manifest));
    println!("cargo::rustc-check-cfg=cfg(conformance_missing)");
    println!("cargo::rerun-if-env-changed=CAIRN_CONFORMANCE_DIR");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-changed={}", d.display());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !d.is_dir() && !ci {
        println!("cargo::rustc-cfg=conformance_missing");
    }
}

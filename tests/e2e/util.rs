//! Helpers shared by the end-to-end tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The binary under test. Its default store points nowhere, so a command that is not given
/// `--root` cannot see (or depend on) a store left on the machine.
pub fn cairn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    // Under a file: a test that forgets --root fails (ENOTDIR) instead of sharing a store.
    c.env("CAIRN_ROOT", "/dev/null/cairn-e2e-default-root");
    c
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// BuildKit's conformance data (a failed test without it; the suites are ignored outside CI).
pub fn conformance_dir() -> PathBuf {
    cairn_testkit::conformance::dir(env!("CARGO_MANIFEST_DIR"))
}

/// Run `cairn plan --format json` and load the graph.
pub fn plan_graph(context: &Path, args: &[&str]) -> cairn_ir::Graph {
    let out = cairn()
        .arg("plan")
        .arg("--format=json")
        .args(args)
        .arg(context)
        .output()
        .expect("run cairn");
    assert!(
        out.status.success(),
        "cairn plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cairn_ir::format::from_json(&String::from_utf8_lossy(&out.stdout)).expect("valid graph json")
}

/// Write files into a fresh temporary directory.
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }
    dir
}

/// Run a command that must succeed; its stdout.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

//! Data-driven builds: every directory in `tests/builds/` is a build context with a Dockerfile,
//! an optional `args` file (one CLI argument per line; `SECRET_FILE` is replaced by a file
//! holding `s3cr3t!`) and an `expect` file of checks on the exported filesystem
//! (`-o type=local`):
//!
//! ```text
//! file PATH CONTENT      the file's content, trimmed, equals CONTENT (\n for newlines)
//! contains PATH TEXT     the file contains TEXT
//! exists PATH / absent PATH
//! mode PATH OCTAL        permission bits
//! owner PATH UID:GID
//! log TEXT / nolog TEXT  some step output line contains (does not contain) TEXT
//! ```

use super::fixture::{Env, out_dir};
use crate::util::repo_root;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[test]
fn build_cases_produce_the_expected_filesystems() {
    let env = Env::new();
    let secret_dir = tempfile::tempdir().expect("tempdir");
    let secret = secret_dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t!").expect("write secret");
    let mut cases: Vec<_> = std::fs::read_dir(repo_root().join("tests/builds"))
        .expect("tests/builds")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "only {} build cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(e) = run_case(&env, case, &secret) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn run_case(env: &Env, case: &Path, secret: &Path) -> Result<(), String> {
    let (_tmp, out) = out_dir();
    let args: Vec<String> = std::fs::read_to_string(case.join("args"))
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.replace("SECRET_FILE", &secret.to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    let mut all: Vec<String> = args;
    all.push(format!("--output=type=local,dest={}", out.display()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let b = env.build(case, &refs);
    if !b.success {
        return Err(format!("build failed:\n{}", b.stderr));
    }
    let expect =
        std::fs::read_to_string(case.join("expect")).map_err(|e| format!("no expect file: {e}"))?;
    let logs = b.logs();
    for line in expect.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ' ');
        let (check, path, rest) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let p = out.join(path.trim_start_matches('/'));
        let ok = match check {
            "file" => std::fs::read_to_string(&p)
                .map(|c| c.trim() == rest.replace("\\n", "\n"))
                .unwrap_or(false),
            "contains" => std::fs::read_to_string(&p)
                .map(|c| c.contains(rest))
                .unwrap_or(false),
            "exists" => p.symlink_metadata().is_ok(),
            "absent" => p.symlink_metadata().is_err(),
            "mode" => p
                .metadata()
                .map(|m| format!("{:o}", m.mode() & 0o7777) == rest)
                .unwrap_or(false),
            "owner" => p
                .metadata()
                .map(|m| format!("{}:{}", m.uid(), m.gid()) == rest)
                .unwrap_or(false),
            "log" => logs
                .iter()
                .any(|l| l.contains(&format!("{path} {rest}").trim().to_string())),
            "nolog" => !b
                .stderr
                .contains(&format!("{path} {rest}").trim().to_string()),
            other => return Err(format!("unknown check {other:?}")),
        };
        if !ok {
            let actual = std::fs::read_to_string(&p).unwrap_or_else(|e| format!("<{e}>"));
            return Err(format!(
                "check failed: {line}\n  actual content: {actual:?}\n  build output:\n{}",
                b.stderr
            ));
        }
    }
    Ok(())
}

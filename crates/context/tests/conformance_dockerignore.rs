//! Runs moby/patternmatcher's test tables (`dockerignore-patterns.tsv`) and its `ReadAll`
//! case (`dockerignore-readall/`) against [`cairn_context`].
//!
//! Formats: `shared/conformance/buildkit/README.md`, sections 6 and 7. The data is found at
//! `../../../shared/conformance/buildkit` from this crate or at `$CAIRN_CONFORMANCE_DIR`.
//! When it is missing the tests fail under `CI=true` and otherwise pass with a loud warning.
// Test output: the loud notice when the conformance data is missing.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};

use cairn_context::{IgnoreMatcher, MatchInfo, PatternError, read_ignore_file};

/// The conformance directory (a failed test without it; the suite is ignored outside CI).
fn data_dir() -> PathBuf {
    cairn_testkit::conformance::dir(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The incremental API, walking the parents first like upstream's test does.
fn walk(pm: &IgnoreMatcher, text: &str) -> Result<bool, PatternError> {
    let parent = match text.rfind('/') {
        Some(i) => clean_dir(&text[..=i]),
        None => ".".to_string(),
    };
    let mut info = MatchInfo::default();
    if parent != "." {
        let dirs: Vec<&str> = parent.split('/').collect();
        for n in 1..=dirs.len() {
            // Upstream ignores errors on the parents.
            if let Ok((_, next)) = pm.matches_using_parent(&dirs[..n].join("/"), &info) {
                info = next;
            }
        }
    }
    pm.matches_using_parent(text, &info).map(|(m, _)| m)
}

/// `filepath.Dir`'s cleaning for the few parent shapes in the table (`a/`, `/`, `a/b/`).
fn clean_dir(s: &str) -> String {
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn dockerignore_patterns_tsv() {
    let dir = data_dir();
    let text = read(&dir.join("dockerignore-patterns.tsv"));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("pattern\tpath\texpected\tapi\tos\tsource"),
        "unexpected header"
    );
    let (mut rows, mut failed_rows, mut failures) = (0usize, 0usize, Vec::new());
    let mut by_api = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for (n, line) in lines.enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        let [pattern, path, expected, api, os, _source] = cols[..] else {
            panic!("row {}: expected 6 columns: {line:?}", n + 2);
        };
        assert!(matches!(os, "all" | "unix"), "row {}: os {os:?}", n + 2);
        rows += 1;
        let patterns: Vec<&str> = if pattern.is_empty() {
            vec![]
        } else {
            pattern.split(',').collect()
        };
        let mut results: Vec<(&str, Result<bool, PatternError>)> = Vec::new();
        match IgnoreMatcher::new(&patterns) {
            Err(e) => results.push(("new", Err(e))),
            Ok(pm) => match api {
                "Matches" => results.push(("matches_legacy", pm.matches_legacy(path))),
                "MatchesOrParentMatches" => {
                    results.push(("matches", pm.matches(path)));
                    results.push(("walk", walk(&pm, path)));
                    results.push((
                        "no_context",
                        pm.matches_using_parent(path, &MatchInfo::default())
                            .map(|(m, _)| m),
                    ));
                }
                other => panic!("row {}: api {other:?}", n + 2),
            },
        }
        let mut ok = true;
        for (how, got) in &results {
            let pass = matches!(
                (expected, got),
                ("error", Err(_)) | ("match", Ok(true)) | ("nomatch", Ok(false))
            );
            if !pass {
                ok = false;
                failures.push(format!(
                    "row {}: {pattern:?} vs {path:?} via {how}: {got:?}, want {expected}",
                    n + 2
                ));
            }
        }
        failed_rows += usize::from(!ok);
        let entry = by_api.entry(api.to_string()).or_default();
        entry.0 += usize::from(ok);
        entry.1 += 1;
    }
    for (api, (pass, total)) in &by_api {
        eprintln!("dockerignore-patterns.tsv [{api}]: {pass}/{total}");
    }
    eprintln!(
        "dockerignore-patterns.tsv: {}/{rows} rows passed",
        rows - failed_rows
    );
    assert_eq!(rows, 137, "row count changed");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn dockerignore_readall() {
    let dir = data_dir();
    let dir = dir.join("dockerignore-readall");
    let input = read(&dir.join("input.dockerignore"));
    let expected: Vec<String> = read(&dir.join("expected.txt"))
        .lines()
        .map(str::to_string)
        .collect();
    let got = read_ignore_file(&input);
    eprintln!(
        "dockerignore-readall: {} patterns, {}",
        got.len(),
        if got == expected { "match" } else { "MISMATCH" }
    );
    assert_eq!(got, expected);
    assert_eq!(got.len(), 7);
}

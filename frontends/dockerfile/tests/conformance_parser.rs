//! BuildKit parser conformance: the `parser/` cases of the shared conformance data (see its
//! README §1–3). The data lives outside the repository; point `CAIRN_CONFORMANCE_DIR` at it to
//! override the default `<workspace>/../shared/conformance/buildkit`.
// The suite reads BuildKit's data files; the no-I/O rule binds the frontend library.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]
// Test output: the loud notice when the conformance data is missing.
#![allow(clippy::disallowed_macros)]

use std::fs;
use std::path::{Path, PathBuf};

use cairn_dockerfile::parser::{dump, parse};

/// The conformance root (a failed test without it; the suite is ignored outside CI).
fn data_dir() -> PathBuf {
    cairn_testkit::conformance::dir(env!("CARGO_MANIFEST_DIR"))
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn positive_cases_dump_like_buildkit() {
    let root = data_dir();
    let cases = cases(&root.join("parser/testfiles"));
    assert_eq!(cases.len(), 33, "expected 33 positive cases");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let input = fs::read(case.join("Dockerfile")).expect("Dockerfile");
        let expected = fs::read(case.join("result")).expect("result");
        match parse(&input) {
            Ok(ast) => {
                let got = dump(&ast).trim().to_string() + "\n";
                if got.as_bytes() != expected.as_slice() {
                    failures.push(format!(
                        "{name}: dump differs\n--- expected\n{}--- got\n{got}",
                        String::from_utf8_lossy(&expected)
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: parse failed: {e}")),
        }
    }
    eprintln!(
        "parser testfiles: {}/{} passed",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn negative_cases_are_rejected() {
    let root = data_dir();
    let cases = cases(&root.join("parser/testfiles-negative"));
    assert_eq!(cases.len(), 4, "expected 4 negative cases");
    for case in &cases {
        let input = fs::read(case.join("Dockerfile")).expect("Dockerfile");
        match parse(&input) {
            Ok(ast) => panic!("{} parsed but must fail: {}", case.display(), dump(&ast)),
            Err(e) => assert!(
                e.span.start_line >= 1,
                "{}: error names no line: {e:?}",
                case.display()
            ),
        }
    }
    eprintln!(
        "parser testfiles-negative: {}/{} rejected",
        cases.len(),
        cases.len()
    );
}

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn line_numbers_match_expected_lines() {
    let root = data_dir();
    let dir = root.join("parser/testfile-line");
    let input = fs::read(dir.join("Dockerfile")).expect("Dockerfile");
    let expected = fs::read_to_string(dir.join("expected-lines")).expect("expected-lines");
    let ast = parse(&input).expect("testfile-line parses");
    let mut got = format!(
        "root {} {}\nchildren {}\n",
        ast.span.start_line,
        ast.span.end_line,
        ast.children.len()
    );
    for (i, child) in ast.children.iter().enumerate() {
        got.push_str(&format!(
            "child {} {} {}\n",
            i + 1,
            child.span.start_line,
            child.span.end_line
        ));
    }
    assert_eq!(got.trim(), expected.trim());
}

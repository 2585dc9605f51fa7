//! `cairn debug parse --format dump` against BuildKit's parser test files, through the binary.

use crate::util::{cairn, conformance_dir};

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn debug_parse_dump_matches_buildkit_results() {
    let dir = conformance_dir();
    let cases = dir.join("parser/testfiles");
    let mut passed = 0;
    let mut failed = Vec::new();
    for entry in std::fs::read_dir(&cases).expect("testfiles dir") {
        let case = entry.expect("entry").path();
        let expected = std::fs::read(case.join("result")).expect("result file");
        let out = cairn()
            .args(["debug", "parse", "--format", "dump"])
            .arg(case.join("Dockerfile"))
            .output()
            .expect("run");
        if out.status.success() && out.stdout == expected {
            passed += 1;
        } else {
            failed.push(
                case.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
    }
    assert!(failed.is_empty(), "failed cases: {failed:?}");
    assert_eq!(passed, 33, "expected all 33 BuildKit parser cases");
}

#[test]
#[cfg_attr(
    conformance_missing,
    ignore = "BuildKit's conformance data is not on this machine (set CAIRN_CONFORMANCE_DIR)"
)]
fn debug_parse_rejects_negative_cases_naming_the_line() {
    let dir = conformance_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(dir.join("parser/testfiles-negative")).expect("dir") {
        let case = entry.expect("entry").path();
        let out = cairn()
            .args(["debug", "parse"])
            .arg(case.join("Dockerfile"))
            .output()
            .expect("run");
        assert!(
            !out.status.success(),
            "{} should be rejected",
            case.display()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Dockerfile"),
            "error should name the file: {stderr}"
        );
        n += 1;
    }
    assert_eq!(n, 4);
}

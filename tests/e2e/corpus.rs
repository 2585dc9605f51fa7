//! Snapshot tests of `cairn plan` over the corpus in `tests/corpus/`: each case is a directory
//! with a Dockerfile, optional context files and an optional `args` file (one CLI argument per
//! line). The text plan is snapshotted; the JSON plan must load, validate and meet the graph
//! format's schema (`docs/ir.schema.json`), since it is what `--frontend ir` reads.

use crate::util::{cairn, repo_root};

#[test]
fn corpus_plans_match_snapshots() {
    let corpus = repo_root().join("tests/corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "corpus has only {} cases", cases.len());
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/ir.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let schema = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for case in cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let args: Vec<String> = std::fs::read_to_string(case.join("args"))
            .map(|s| {
                s.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let out = cairn()
            .arg("plan")
            .args(&args)
            .arg(&case)
            .output()
            .expect("run cairn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: cairn plan failed:\n{stderr}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        insta::assert_snapshot!(name.clone(), text);

        let json = cairn()
            .arg("plan")
            .arg("--format=json")
            .args(&args)
            .arg(&case)
            .output()
            .expect("run cairn");
        assert!(json.status.success(), "{name}: json plan failed");
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json plan");
        let errors: Vec<String> = schema.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{name}: the plan does not meet the schema: {errors:#?}"
        );
        let g = cairn_ir::format::from_json(&String::from_utf8_lossy(&json.stdout))
            .expect("graph loads and validates");
        assert!(
            text.contains(
                &g.vertices
                    .last()
                    .map(|v| v.digest.to_string())
                    .unwrap_or_default()
            )
        );
    }
}

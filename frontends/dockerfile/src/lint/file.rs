//! The rules BuildKit checks on the whole file, every stage included (`instructions.Parse`
//! and `validations.go`): empty continuation lines, MAINTAINER, the casing of stage names, of
//! `AS` and of every instruction, reserved and duplicate stage names, and (experimental)
//! description comments above FROM and ARG.

use super::{Linter, rules};
use crate::parser::{Ast, Node, Span};

/// Check `ast` with `linter`.
pub fn file_rules(ast: &Ast, linter: &mut Linter) {
    for w in &ast.warnings {
        if w.message.starts_with("Empty continuation line") {
            // BuildKit places it on the instruction's last line.
            linter.run(
                &rules::NO_EMPTY_CONTINUATION,
                Span::line(w.span.end_line),
                &[],
                "Empty continuation line".into(),
            );
        }
    }
    let mut names: Vec<String> = Vec::new();
    for node in &ast.children {
        let keyword = node.keyword_lower();
        match keyword.as_str() {
            "maintainer" => linter.run(
                &rules::MAINTAINER_DEPRECATED,
                node.span,
                &node.prev_comment,
                "Maintainer instruction is deprecated in favor of using label".into(),
            ),
            "from" => from_rules(node, linter, &mut names),
            "arg" => {
                let keys: Vec<String> = node
                    .words()
                    .map(|w| w.split('=').next().unwrap_or_default().to_string())
                    .collect();
                description(node, "ARG", &keys, linter);
            }
            _ => {}
        }
    }
    instruction_casing(ast, linter);
}

fn from_rules(node: &Node, linter: &mut Linter, names: &mut Vec<String>) {
    let words: Vec<&str> = node.words().collect();
    let [_, as_kw, name] = words.as_slice() else {
        return;
    };
    if *name != name.to_lowercase() {
        linter.run(
            &rules::STAGE_NAME_CASING,
            node.span,
            &node.prev_comment,
            format!("Stage name '{name}' should be lowercase"),
        );
    }
    // Casing of FROM itself is ConsistentInstructionCasing's business.
    let from = &node.keyword;
    let matches = if *from == from.to_lowercase() {
        *as_kw == as_kw.to_lowercase()
    } else if *from == from.to_uppercase() {
        *as_kw == as_kw.to_uppercase()
    } else {
        true
    };
    if !matches {
        linter.run(
            &rules::FROM_AS_CASING,
            node.span,
            &node.prev_comment,
            format!("'{as_kw}' and '{from}' keywords' casing do not match"),
        );
    }
    let lower = name.to_lowercase();
    if lower == "context" || lower == "scratch" {
        linter.run(
            &rules::RESERVED_STAGE_NAME,
            node.span,
            &node.prev_comment,
            format!("Stage name should not use the same name as reserved stage {lower:?}"),
        );
    }
    if names.contains(&lower) {
        linter.run(
            &rules::DUPLICATE_STAGE_NAME,
            node.span,
            &node.prev_comment,
            format!("Duplicate stage name {lower:?}, stage names should be unique"),
        );
    }
    description(node, "FROM", std::slice::from_ref(&lower), linter);
    names.push(lower);
}

/// InvalidDefinitionDescription: the comment right above a FROM or ARG must start with the
/// name it describes.
fn description(node: &Node, instruction: &str, keys: &[String], linter: &mut Linter) {
    let (Some(last), Some(first_key)) = (node.prev_comment.last(), keys.first()) else {
        return;
    };
    let first_word = last.split(' ').next().unwrap_or_default();
    if keys.iter().any(|k| k == first_word) {
        return;
    }
    let example = if keys.len() > 1 {
        "<arg_key>"
    } else {
        first_key
    };
    linter.run(
        &rules::INVALID_DEFINITION_DESCRIPTION,
        node.span,
        &node.prev_comment,
        format!("Comment for {instruction} should follow the format: `# {example} <description>`"),
    );
}

fn self_consistent(s: &str) -> bool {
    s == s.to_lowercase() || s == s.to_uppercase()
}

/// ConsistentInstructionCasing: every instruction of a stage (global ARGs aside) in the
/// casing most of them use.
fn instruction_casing(ast: &Ast, linter: &mut Linter) {
    let in_stages: Vec<&Node> = ast
        .children
        .iter()
        .skip_while(|n| !n.keyword.eq_ignore_ascii_case("from"))
        .collect();
    let (mut lower, mut upper) = (0usize, 0usize);
    for n in &in_stages {
        if self_consistent(&n.keyword) {
            if n.keyword == n.keyword.to_lowercase() {
                lower += 1;
            } else {
                upper += 1;
            }
        }
    }
    let majority_lower = lower > upper;
    for n in in_stages {
        let k = &n.keyword;
        let correct = if majority_lower && *k != k.to_lowercase() {
            "lowercase"
        } else if !majority_lower && *k != k.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        linter.run(
            &rules::CONSISTENT_INSTRUCTION_CASING,
            n.span,
            &n.prev_comment,
            format!("Command '{k}' should match the case of the command majority ({correct})"),
        );
    }
}

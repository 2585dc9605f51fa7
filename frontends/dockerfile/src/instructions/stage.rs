//! FROM and the grouping of instructions into stages (BuildKit's `parseFrom`,
//! `parseBuildStageName` and `Parse`).
//!
//! Before the first FROM only ARG may appear (those are the global args, visible to FROM lines);
//! every later instruction belongs to the last FROM. Stage names are lower-cased, must match
//! BuildKit's `^[a-z][a-z0-9-_.]*$`, and must be unique, so `--from=<name>` is unambiguous.

use super::cx::Cx;
use super::flags;
use super::parse_instruction;
use super::types::{Dockerfile, From, Instruction, Located, Stage};
use crate::error::{Error, Result};
use crate::parser::Ast;

pub(crate) fn parse_from(cx: &Cx<'_>) -> Result<From> {
    let words = cx.words();
    let usage = "write FROM [--platform=<platform>] <image> [AS <name>]";
    let alias = match words.as_slice() {
        [_] => None,
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(cx
                    .err_at(
                        name,
                        format!(
                            "invalid name for build stage: \"{name}\", name can't start with a \
                             number or contain symbols"
                        ),
                    )
                    .with_help(
                        "stage names start with a letter, then letters, digits, '-', '_' or '.'",
                    ));
            }
            Some(lower)
        }
        _ => {
            return Err(cx
                .err("FROM requires either one or three arguments")
                .with_help(usage));
        }
    };
    let fl = flags::parse(cx, flags::FROM)?;
    Ok(From {
        image: words.first().map(|w| w.to_string()).unwrap_or_default(),
        alias,
        platform: fl.string("platform").filter(|p| !p.is_empty()),
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Types every node and groups them into global ARGs and stages.
pub(crate) fn group(ast: &Ast) -> Result<Dockerfile> {
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.children {
        let cx = Cx::new(node);
        match parse_instruction(&cx)? {
            // A repeated stage name is a lint warning (DuplicateStageName), as in BuildKit:
            // the name then means the last stage that has it.
            Instruction::From(from) => {
                stages.push(Stage {
                    from,
                    span: node.span,
                    index: stages.len(),
                    commands: vec![],
                    comments: node.prev_comment.clone(),
                });
            }
            Instruction::Arg(decls) if stages.is_empty() => {
                global_args.extend(decls.into_iter().map(|d| (d, node.span)));
            }
            instruction => match stages.last_mut() {
                Some(stage) => stage.commands.push(Located {
                    instruction,
                    span: node.span,
                    original: node.original.clone(),
                    facts: super::types::NodeFacts::of(node),
                }),
                None => {
                    let e = Error::new(node.span, "no build stage in current context").with_help(
                        format!(
                            "add a FROM instruction before this {}; only ARG may come before \
                             the first FROM",
                            cx.name
                        ),
                    );
                    return Err(match cx.keyword_column() {
                        Some(c) => e.at_column(c),
                        None => e,
                    });
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(
            Error::new(ast.span, "dockerfile contains no stages to build")
                .with_help("add a FROM instruction"),
        );
    }
    Ok(Dockerfile {
        global_args,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::{ast_of, err_of, ok_of};
    use crate::instructions::types::ArgDecl;
    use crate::parser::Span;

    fn from(src: &str) -> From {
        match ok_of(src) {
            Instruction::From(f) => f,
            other => panic!("{src}: {other:?}"),
        }
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            from("FROM alpine"),
            From {
                image: "alpine".into(),
                alias: None,
                platform: None
            }
        );
        let f = from("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build-1");
        assert_eq!(f.image, "golang:1.22");
        assert_eq!(f.alias.as_deref(), Some("build-1"));
        assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!(from("from a as b.c_d").alias.as_deref(), Some("b.c_d"));
        assert_eq!(from("FROM ${IMG}").image, "${IMG}");
    }

    #[test]
    fn from_errors() {
        let cases: &[(&str, &str, Option<&str>, Option<usize>)] = &[
            (
                "FROM",
                "FROM requires either one or three arguments",
                None,
                None,
            ),
            (
                "FROM a b",
                "FROM requires either one or three arguments",
                None,
                None,
            ),
            (
                "FROM a IS b",
                "FROM requires either one or three arguments",
                None,
                None,
            ),
            (
                "FROM a AS b c",
                "FROM requires either one or three arguments",
                None,
                None,
            ),
            (
                "FROM a AS 1st",
                "invalid name for build stage: \"1st\", name can't start with a number or contain \
                 symbols",
                Some("stage names start with a letter, then letters, digits, '-', '_' or '.'"),
                Some(10),
            ),
            (
                "FROM a AS b$c",
                "invalid name for build stage: \"b$c\", name can't start with a number or contain symbols",
                None,
                Some(10),
            ),
            (
                "FROM --platfrom=x a",
                "unknown flag: --platfrom (did you mean platform?)",
                None,
                Some(5),
            ),
            (
                "FROM --platform a",
                "missing a value on flag: --platform",
                None,
                Some(5),
            ),
        ];
        for (src, msg, help, col) in cases {
            let e = err_of(src);
            assert_eq!(e.message, *msg, "{src}");
            if help.is_some() {
                assert_eq!(e.help.as_deref(), *help, "{src}");
            }
            assert_eq!(e.column, *col, "{src}");
        }
        assert_eq!(
            err_of("FROM").help.as_deref(),
            Some("write FROM [--platform=<platform>] <image> [AS <name>]")
        );
    }

    #[test]
    fn grouping() {
        let ast = ast_of(
            "ARG A=1 B\nARG C\nFROM a AS one\nRUN x\nARG D\nFROM one\nCOPY --from=one /a /b\n",
        );
        let df = group(&ast).expect("valid");
        assert_eq!(
            df.global_args,
            vec![
                (
                    ArgDecl {
                        name: "A".into(),
                        default: Some("1".into())
                    },
                    Span::line(1)
                ),
                (
                    ArgDecl {
                        name: "B".into(),
                        default: None
                    },
                    Span::line(1)
                ),
                (
                    ArgDecl {
                        name: "C".into(),
                        default: None
                    },
                    Span::line(2)
                ),
            ]
        );
        assert_eq!(df.stages.len(), 2);
        let s0 = &df.stages[0];
        assert_eq!(
            (s0.index, s0.span, s0.from.alias.as_deref()),
            (0, Span::line(3), Some("one"))
        );
        assert_eq!(s0.commands.len(), 2);
        assert_eq!(s0.commands[0].original, "RUN x");
        assert_eq!(s0.commands[0].span, Span::line(4));
        assert!(matches!(s0.commands[1].instruction, Instruction::Arg(_)));
        let s1 = &df.stages[1];
        assert_eq!(
            (s1.index, s1.from.image.as_str(), s1.from.alias.as_deref()),
            (1, "one", None)
        );
        assert_eq!(s1.commands.len(), 1);
    }

    #[test]
    fn grouping_errors() {
        let e = group(&ast_of("ARG A\nRUN x\nFROM a\n")).expect_err("error");
        assert_eq!(e.message, "no build stage in current context");
        assert_eq!(e.span, Span::line(2));
        assert_eq!(e.column, Some(0));
        assert_eq!(
            e.help.as_deref(),
            Some("add a FROM instruction before this RUN; only ARG may come before the first FROM")
        );
        // A repeated stage name is a lint warning, not an error (BuildKit's DuplicateStageName).
        let df = group(&ast_of("FROM a AS x\nFROM b as X\n")).expect("duplicates allowed");
        assert_eq!(df.stages.len(), 2);
        let e = group(&ast_of("ARG A\n")).expect_err("error");
        assert_eq!(e.message, "dockerfile contains no stages to build");
        // A bad instruction before FROM reports its own error first, as BuildKit does.
        let e = group(&ast_of("RUN --bogus x\nFROM a\n")).expect_err("error");
        assert_eq!(e.message, "unknown flag: --bogus");
    }
}

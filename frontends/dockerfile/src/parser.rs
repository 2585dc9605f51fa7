//! Dockerfile parser: bytes to [`Ast`]. See `ast.rs` for the tree and the conformance README
//! (`../shared/conformance/buildkit/README.md`) for the exact line-handling rules it follows.
//!
//! The loop here mirrors BuildKit's `parser.Parse`: read a physical line, let the directive parser
//! look at it, drop comments, join continuation lines (skipping comment and blank lines inside
//! them), build the node, then read heredoc bodies if the node has markers. Each step's rules live
//! in a submodule so they can be tested in isolation:
//!
//! * `raw` — lossless handling of non-UTF-8 input ([`raw_bytes`] undoes it);
//! * `lines` — physical lines, trimming, the continuation rule;
//! * `directives` — `# syntax=` / `# escape=` / `# check=`;
//! * `split`, `json`, `instruction` — keyword, flags and per-instruction arguments;
//! * `heredoc` — `<<EOF` markers and bodies;
//! * `dump` — BuildKit's s-expression test format.

mod ast;
mod directives;
mod dump;
mod heredoc;
mod instruction;
mod json;
mod lines;
mod printable;
mod raw;
mod split;

pub use ast::*;
pub use dump::{dump, dump_node, go_quote};
pub use raw::raw_bytes;

use crate::error::Error;
use directives::{DirectiveParser, Outcome};
use instruction::{Origin, can_contain_heredoc, node_from_line};
use lines::{
    Lines, MAX_LINE_LEN, first_overlong_line, is_blank, is_comment, trim_continuation,
    trim_leading_ws, trim_newline,
};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a Dockerfile. Never panics; any input gives an [`Ast`] or an [`Error`] naming a line.
pub fn parse(input: &[u8]) -> Result<Ast, Error> {
    if let Some(line) = first_overlong_line(input) {
        return Err(Error::new(
            Span::line(line),
            format!("dockerfile line greater than max allowed size of {MAX_LINE_LEN}"),
        )
        .with_help("split the line with line continuations, or move the content into a file"));
    }
    let text = raw::decode(input.strip_prefix(UTF8_BOM).unwrap_or(input));
    let mut lines = Lines::new(&text);
    let mut directive_parser = DirectiveParser::default();
    let mut directives = Directives::default();
    let mut children: Vec<Node> = Vec::new();
    let mut warnings = Vec::new();

    let mut comments: Vec<String> = Vec::new();
    while let Some((start, raw_line)) = lines.next() {
        let token = trim_leading_ws(trim_newline(raw_line));
        if let Some(text) = token.strip_prefix('#') {
            let text = text.trim();
            if text.is_empty() {
                comments.clear();
            } else {
                comments.push(text.to_string());
            }
        }
        match directive_parser.parse_line(token) {
            Ok(Outcome::None) => {}
            Ok(Outcome::Directive(found)) => {
                comments.pop();
                if found.name == "syntax" {
                    directives.syntax_line = start;
                }
                if found.name == "check" {
                    directives.check_line = start;
                }
                directives::apply(&mut directives, found).map_err(|m| {
                    Error::new(Span::line(start), m).with_help("use `# escape=\\` (the default) or `# escape=``")
                })?;
            }
            Ok(Outcome::Misspelt { name, suggestion }) => warnings.push(Warning {
                message: format!(
                    "unknown parser directive `{name}` (treated as a comment); did you mean `{suggestion}`?"
                ),
                span: Span::line(start),
            }),
            Err(m) => return Err(Error::new(Span::line(start), m).with_help("remove the repeated directive")),
        }
        let token = if is_comment(token) { "" } else { token };
        let (first, mut continues) = trim_continuation(token, directives.escape);
        if !continues && first.is_empty() {
            continue;
        }
        let mut line = first.to_string();
        let mut end = start;
        let mut empty_continuation = false;
        while continues {
            let Some((number, raw_next)) = lines.next() else {
                break;
            };
            end = number;
            if is_comment(raw_next) {
                continue;
            }
            if is_blank(raw_next) {
                empty_continuation = true;
                continue;
            }
            let (part, more) = trim_continuation(trim_newline(raw_next), directives.escape);
            line.push_str(part);
            continues = more;
        }
        if empty_continuation {
            warnings.push(Warning {
                message: format!("Empty continuation line found in: {line}"),
                span: Span {
                    start_line: start,
                    end_line: end,
                },
            });
        }

        let origin = Origin {
            span: Span {
                start_line: start,
                end_line: end,
            },
            first_line: trim_newline(raw_line),
            escape: directives.escape,
        };
        let mut node = node_from_line(&line, &origin)?;
        if can_contain_heredoc(&node) && line.contains("<<") {
            let markers =
                heredoc::markers_in_line(&line).map_err(|m| Error::new(origin.span, m))?;
            let names: Vec<String> = markers.iter().map(|m| m.name.clone()).collect();
            node.heredocs = heredoc::read_bodies(markers, &mut lines).map_err(|u| {
                Error::new(
                    Span {
                        start_line: start,
                        end_line: u.last_line,
                    },
                    format!("unterminated heredoc `{}`", u.name),
                )
                .with_help(format!(
                    "end the heredoc with a line containing only `{}`",
                    u.name
                ))
            })?;
            if !names.is_empty() {
                end = lines.number();
            }
            node.span.end_line = end;
        }
        node.prev_comment = std::mem::take(&mut comments);
        children.push(node);
    }

    let (Some(first), Some(last)) = (children.first(), children.last()) else {
        return Err(Error::new(
            Span::line(lines.number().max(1)),
            "file with no instructions",
        )
        .with_help("a Dockerfile needs at least one instruction, usually `FROM <image>`"));
    };
    let span = Span {
        start_line: first.span.start_line,
        end_line: last.span.end_line,
    };
    Ok(Ast {
        directives,
        children,
        warnings,
        span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dumped(src: &[u8]) -> String {
        dump(&parse(src).unwrap_or_else(|e| panic!("parse failed: {e:?}")))
    }

    #[test]
    fn bom_crlf_and_directives() {
        let a = parse(b"\xEF\xBB\xBF# syntax=docker/dockerfile:1\r\n# escape=`\r\n# check=skip=all\r\nFROM a `\r\n  b\r\n")
            .expect("parses");
        assert_eq!(a.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(a.directives.check.as_deref(), Some("skip=all"));
        assert_eq!(a.directives.escape, '`');
        assert_eq!(dump(&a), "(from \"a\" \"b\")");
        assert_eq!(
            a.children[0].span,
            Span {
                start_line: 4,
                end_line: 5
            }
        );
    }

    #[test]
    fn directive_errors_name_their_line() {
        let e = parse(b"# escape=x\nFROM a\n").expect_err("bad escape");
        assert_eq!(e.span, Span::line(1));
        let e = parse(b"# escape=`\n# Escape=\\\nFROM a\n").expect_err("repeated");
        assert_eq!(e.span, Span::line(2));
        // A directive after anything else is just a comment.
        assert_eq!(
            parse(b"FROM a\n# escape=x\n").map(|a| a.directives.escape),
            Ok('\\')
        );
    }

    #[test]
    fn misspelt_directive_warns() {
        let a = parse(b"# escpae=`\nFROM a\n").expect("parses");
        assert_eq!(a.directives.escape, '\\');
        assert!(a.warnings.iter().any(|w| w.message.contains("escape")));
    }

    #[test]
    fn empty_continuation_lines_warn() {
        let a = parse(b"FROM a\nRUN a \\\n\n  b\n").expect("parses");
        assert_eq!(a.warnings.len(), 1);
        assert_eq!(
            a.warnings[0].span,
            Span {
                start_line: 2,
                end_line: 4
            }
        );
        assert_eq!(
            a.children[1].span,
            Span {
                start_line: 2,
                end_line: 4
            }
        );
    }

    #[test]
    fn errors_carry_span_column_and_help() {
        let e = parse(b"FROM busybox\n\n  ENV PATH\n").expect_err("ENV PATH");
        assert_eq!((e.span, e.column), (Span::line(3), Some(6)));
        assert!(e.help.is_some());
        let e = parse(b"FROM a\nENV a=b c\n").expect_err("no =");
        assert_eq!(e.column, Some(8));
        let e = parse(b"FROM a\nCMD [\"a\", 1]\n").expect_err("non-string");
        assert_eq!((e.span, e.column), (Span::line(2), Some(4)));
        let e = parse(b"").expect_err("empty");
        assert_eq!(e.span, Span::line(1));
        let e = parse(b"# c\n\n# d\n").expect_err("only comments");
        assert_eq!(e.span, Span::line(3));
    }

    #[test]
    fn overlong_line_is_an_error() {
        let mut src = b"FROM a\nRUN ".to_vec();
        src.extend(std::iter::repeat_n(b'x', MAX_LINE_LEN));
        let e = parse(&src).expect_err("too long");
        assert_eq!(e.span, Span::line(2));
        src.truncate(src.len() - 4);
        assert!(parse(&src).is_ok());
    }

    #[test]
    fn non_utf8_bytes_survive_to_the_dump_and_back() {
        let a = parse(b"FROM a\nRUN echo \xff\xfe caf\xc3\xa9\n").expect("parses");
        assert_eq!(dump(&a), "(from \"a\")\n(run \"echo \\xff\\xfe café\")");
        let w = a.children[1].words().next().unwrap_or_default().to_string();
        assert_eq!(raw_bytes(&w).as_ref(), b"echo \xff\xfe caf\xc3\xa9");
        // parseWords decodes runes like Go, so ENV's modern form turns bad bytes into U+FFFD.
        assert_eq!(dumped(b"ENV a=\xff\n"), "(env \"a\" \"\u{fffd}\" \"=\")");
    }

    #[test]
    fn keyword_case_unknown_and_onbuild() {
        assert_eq!(
            dumped(b"fRoM a\nFOO bar baz\nonBuild\n"),
            "(from \"a\")\n(foo \"\")\n(onbuild)"
        );
        assert_eq!(
            dumped(b"ONBUILD ONBUILD ENV a=b\n"),
            "(onbuild (onbuild (env \"a\" \"b\" \"=\")))"
        );
        let deep = "ONBUILD ".repeat(100) + "RUN x\n";
        assert!(parse(deep.as_bytes()).is_err());
        let a = parse(b"ONBUILD RUN [\"a\"]\n").expect("parses");
        match a.children[0].args.as_slice() {
            [Arg::Nested(n)] => assert!(n.json && n.original == "RUN [\"a\"]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lone_escape_line_starts_an_instruction() {
        let a = parse(b"\\\nFROM a\n").expect("parses");
        assert_eq!(
            a.children[0].span,
            Span {
                start_line: 1,
                end_line: 2
            }
        );
        assert_eq!(dump(&a), "(from \"a\")");
    }

    #[test]
    fn json_flag_and_original() {
        let a = parse(b"FROM a\nCOPY [\"a b\", \"/c\"]\nHEALTHCHECK CMD [\"x\"]\nENV a b\n")
            .expect("parses");
        assert!(a.children[1].json && a.children[2].json && a.children[3].json);
        assert!(!a.children[0].json);
        assert_eq!(a.children[1].original, "COPY [\"a b\", \"/c\"]");
    }

    fn dockerish_line() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "FROM",
            "RUN",
            "COPY",
            "ADD",
            "ENV",
            "LABEL",
            "ARG",
            "CMD",
            "ONBUILD",
            "HEALTHCHECK",
            "EXPOSE",
            "VOLUME",
            "SHELL",
            "USER",
            "--from=x",
            "--",
            "-",
            "[",
            "]",
            "\"",
            "'",
            ",",
            "=",
            "a=b",
            "<<EOF",
            "<<-EOF",
            "<<'A'",
            "3<<B",
            "EOF",
            "\tEOF",
            "A",
            "B",
            "\\",
            "`",
            "#",
            "# escape=`",
            "# syntax=x",
            "$x",
            "${y}",
            " ",
            "\t",
            "\u{a0}",
            "é",
            "\r",
            "{",
            "}",
            "1",
            "null",
            "\"a\"",
        ]);
        prop::collection::vec(token, 0..8).prop_map(|t| t.concat())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&input).map(|a| dump(&a));
        }

        #[test]
        fn dockerish_lines_never_panic(lines in prop::collection::vec(dockerish_line(), 0..12)) {
            let src = lines.join("\n");
            match parse(src.as_bytes()) {
                Ok(a) => {
                    let _ = dump(&a);
                    prop_assert!(a.span.start_line >= 1 && a.span.start_line <= a.span.end_line);
                    for n in &a.children {
                        prop_assert!(n.span.start_line <= n.span.end_line);
                    }
                }
                Err(e) => prop_assert!(e.span.start_line >= 1),
            }
        }
    }
}

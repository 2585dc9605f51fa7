//! Heredoc parsing (`RUN <<EOF`, `COPY <<EOF /dst`, ...). The conformance data has no heredocs,
//! so these cases follow the Dockerfile reference and BuildKit's parser (`parser_heredoc_test.go`
//! behaviour): markers stay in the arguments as written, bodies go to `Node::heredocs`.

use cairn_dockerfile::parser::{Arg, Ast, Heredoc, Node, Span, dump, parse};

fn ast(src: &str) -> Ast {
    parse(src.as_bytes()).unwrap_or_else(|e| panic!("parse failed: {e:?}\n{src}"))
}

fn words(node: &Node) -> Vec<&str> {
    node.words().collect()
}

fn doc(name: &str, fd: u32, expand: bool, chomp: bool, content: &str) -> Heredoc {
    Heredoc {
        name: name.into(),
        file_descriptor: fd,
        expand,
        chomp,
        content: content.into(),
    }
}

#[test]
fn run_basic() {
    let a = ast("FROM alpine\nRUN <<EOF\necho hello\necho world\nEOF\nRUN true\n");
    assert_eq!(a.children.len(), 3);
    let run = &a.children[1];
    assert_eq!(words(run), ["<<EOF"]);
    assert_eq!(run.original, "RUN <<EOF");
    assert!(!run.json);
    assert_eq!(
        run.heredocs,
        [doc("EOF", 0, true, false, "echo hello\necho world\n")]
    );
    assert_eq!(
        run.span,
        Span {
            start_line: 2,
            end_line: 5
        }
    );
    assert_eq!(a.children[2].span, Span::line(6));
    assert_eq!(
        a.span,
        Span {
            start_line: 1,
            end_line: 6
        }
    );
    assert_eq!(
        dump(&a),
        "(from \"alpine\")\n(run \"<<EOF\")\n(run \"true\")"
    );
}

#[test]
fn chomp_strips_leading_tabs_from_body_and_terminator() {
    let a = ast("FROM a\nRUN <<-EOT\n\techo a\n\t\techo b\n  keep spaces\n\tEOT\n");
    let run = &a.children[1];
    assert_eq!(words(run), ["<<-EOT"]);
    assert_eq!(
        run.heredocs,
        [doc("EOT", 0, true, true, "echo a\necho b\n  keep spaces\n")]
    );
    assert_eq!(
        run.span,
        Span {
            start_line: 2,
            end_line: 6
        }
    );
}

#[test]
fn without_chomp_an_indented_terminator_is_content() {
    let a = ast("FROM a\nRUN <<EOT\n\tEOT\nEOT\n");
    assert_eq!(
        a.children[1].heredocs,
        [doc("EOT", 0, true, false, "\tEOT\n")]
    );
}

#[test]
fn double_quoted_delimiter_disables_expansion() {
    let a = ast("FROM a\nRUN <<\"EOF\"\necho $HOME\nEOF\n");
    let run = &a.children[1];
    assert_eq!(words(run), ["<<\"EOF\""]);
    assert_eq!(run.heredocs, [doc("EOF", 0, false, false, "echo $HOME\n")]);
}

#[test]
fn single_quoted_delimiter_disables_expansion() {
    let a = ast("FROM a\nRUN <<'EOF' bash\necho $HOME\nEOF\n");
    let run = &a.children[1];
    assert_eq!(words(run), ["<<'EOF' bash"]);
    assert_eq!(run.heredocs, [doc("EOF", 0, false, false, "echo $HOME\n")]);
}

#[test]
fn partly_quoted_and_escaped_delimiters() {
    let a = ast("FROM a\nRUN <<E'O'F\nx\nEOF\nRUN <<eo\\'f\ny\neo'f\n");
    assert_eq!(a.children[1].heredocs, [doc("EOF", 0, false, false, "x\n")]);
    assert_eq!(a.children[2].heredocs, [doc("eo'f", 0, true, false, "y\n")]);
}

#[test]
fn several_heredocs_on_one_line_read_in_order() {
    let a = ast("FROM a\nRUN <<A cat - <<B > /out\nfirst\nA\nsecond\nB\nRUN done\n");
    let run = &a.children[1];
    assert_eq!(words(run), ["<<A cat - <<B > /out"]);
    assert_eq!(
        run.heredocs,
        [
            doc("A", 0, true, false, "first\n"),
            doc("B", 0, true, false, "second\n")
        ]
    );
    assert_eq!(
        run.span,
        Span {
            start_line: 2,
            end_line: 6
        }
    );
    assert_eq!(a.children[2].span, Span::line(7));
}

#[test]
fn only_the_current_delimiter_terminates() {
    // BuildKit's own case: X's body is "Y\n", Y's body is "X\n".
    let a = ast("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n");
    let copy = &a.children[1];
    assert_eq!(words(copy), ["<<X", "<<Y", "/dest"]);
    assert_eq!(
        copy.heredocs,
        [
            doc("X", 0, true, false, "Y\n"),
            doc("Y", 0, true, false, "X\n")
        ]
    );
    assert_eq!(
        copy.span,
        Span {
            start_line: 2,
            end_line: 6
        }
    );
}

#[test]
fn copy_heredoc_to_path() {
    let a = ast("FROM a\nCOPY --chmod=755 <<EOF /usr/local/bin/hello\n#!/bin/sh\necho hi\nEOF\n");
    let copy = &a.children[1];
    assert_eq!(copy.flags, ["--chmod=755"]);
    assert_eq!(words(copy), ["<<EOF", "/usr/local/bin/hello"]);
    assert_eq!(
        copy.heredocs,
        [doc("EOF", 0, true, false, "#!/bin/sh\necho hi\n")]
    );
    assert_eq!(
        dump(&a).lines().nth(1),
        Some("(copy [\"--chmod=755\"] \"<<EOF\" \"/usr/local/bin/hello\")")
    );
}

#[test]
fn add_heredoc() {
    let a = ast("FROM a\nADD <<EOF /etc/motd\nwelcome\nEOF\n");
    assert_eq!(words(&a.children[1]), ["<<EOF", "/etc/motd"]);
    assert_eq!(
        a.children[1].heredocs,
        [doc("EOF", 0, true, false, "welcome\n")]
    );
}

#[test]
fn interpreter_line_and_comment_like_lines_are_content() {
    let src = "FROM python:3\nRUN <<EOF\n#!/usr/bin/env python3\n# not a Dockerfile comment\n\nprint(\"hi\") \\\nEOF\n";
    let a = ast(src);
    let run = &a.children[1];
    assert_eq!(
        run.heredocs,
        [doc(
            "EOF",
            0,
            true,
            false,
            "#!/usr/bin/env python3\n# not a Dockerfile comment\n\nprint(\"hi\") \\\n"
        )]
    );
    assert_eq!(
        run.span,
        Span {
            start_line: 2,
            end_line: 7
        }
    );
    assert!(a.warnings.is_empty());
}

#[test]
fn file_descriptor() {
    let a = ast("FROM a\nRUN cat /dev/fd/3 3<<EOF\ndata\nEOF\n");
    let run = &a.children[1];
    assert_eq!(words(run), ["cat /dev/fd/3 3<<EOF"]);
    assert_eq!(run.heredocs, [doc("EOF", 3, true, false, "data\n")]);
}

#[test]
fn missing_terminator_is_an_error_naming_the_line() {
    let err = parse(b"FROM a\nRUN <<EOF\necho hi\n").expect_err("unterminated heredoc");
    assert_eq!(
        err.span,
        Span {
            start_line: 2,
            end_line: 3
        }
    );
    assert!(
        err.message.contains("unterminated heredoc"),
        "{}",
        err.message
    );
    assert!(err.help.as_deref().is_some_and(|h| h.contains("EOF")));
    // The second of two heredocs missing its terminator.
    let err = parse(b"FROM a\nCOPY <<A <<B /d\na\nA\nb\n").expect_err("unterminated heredoc");
    assert_eq!(err.span.start_line, 2);
    assert!(err.message.contains('B'), "{}", err.message);
}

#[test]
fn terminator_at_eof_without_newline_and_empty_body() {
    let a = ast("FROM a\nRUN <<EOF\nEOF");
    assert_eq!(a.children[1].heredocs, [doc("EOF", 0, true, false, "")]);
    assert_eq!(
        a.span,
        Span {
            start_line: 1,
            end_line: 3
        }
    );
}

#[test]
fn crlf_terminator_matches_and_content_keeps_line_endings() {
    let a = ast("FROM a\r\nRUN <<EOF\r\nhi\r\nEOF\r\nRUN x\r\n");
    assert_eq!(
        a.children[1].heredocs,
        [doc("EOF", 0, true, false, "hi\r\n")]
    );
    assert_eq!(a.children.len(), 3);
}

#[test]
fn instruction_line_may_continue_before_the_body() {
    let a = ast("FROM a\nRUN <<EOF \\\n  python3\nprint(1)\nEOF\n");
    let run = &a.children[1];
    assert_eq!(words(run), ["<<EOF   python3"]);
    assert_eq!(run.heredocs, [doc("EOF", 0, true, false, "print(1)\n")]);
    assert_eq!(
        run.span,
        Span {
            start_line: 2,
            end_line: 5
        }
    );
}

#[test]
fn not_recognised_in_json_form_quotes_or_other_instructions() {
    let a = ast("FROM a\nRUN [\"cat\", \"<<EOF\"]\nRUN echo '<<EOF'\nCMD <<EOF\nEOF\n");
    assert!(a.children.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(a.children.len(), 5);
    assert_eq!(a.children[4].keyword, "EOF");
    assert!(a.children[1].json);
}

#[test]
fn onbuild_run_heredoc_attaches_to_the_onbuild_node() {
    let a = ast("FROM a\nONBUILD RUN <<EOF\necho later\nEOF\n");
    let onbuild = &a.children[1];
    assert_eq!(
        onbuild.heredocs,
        [doc("EOF", 0, true, false, "echo later\n")]
    );
    match onbuild.args.as_slice() {
        [Arg::Nested(inner)] => assert_eq!(words(inner), ["<<EOF"]),
        other => panic!("unexpected args {other:?}"),
    }
    assert_eq!(
        onbuild.span,
        Span {
            start_line: 2,
            end_line: 4
        }
    );
    assert_eq!(dump(&a).lines().nth(1), Some("(onbuild (run \"<<EOF\"))"));
}

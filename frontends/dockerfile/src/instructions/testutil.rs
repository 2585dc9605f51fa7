//! Test-only builders of parser nodes, so the instruction tests can be written as Dockerfile
//! lines without depending on the real parser (written in parallel).
//!
//! [`node_of`] follows the per-instruction argument rules of the conformance README §1 for
//! simple single-line input (no escapes, no continuation lines, no heredocs); tests that need
//! more build the [`Node`] by hand.

use super::cx::Cx;
use super::{Instruction, parse_instruction};
use crate::error::Error;
use crate::parser::{Arg, Ast, Directives, Node, Span};

/// One node from one line (line 1).
pub(crate) fn node_of(src: &str) -> Node {
    node_at(src, 1)
}

/// One node from one line, at `line`.
pub(crate) fn node_at(src: &str, line: usize) -> Node {
    let trimmed = src.trim();
    let (keyword, mut rest) = split_first(trimmed);
    let mut flags = Vec::new();
    loop {
        let (word, after) = split_first(rest);
        if !word.starts_with("--") {
            break;
        }
        flags.push(word.to_string());
        rest = after;
    }
    let rest = rest.trim();
    let mut json = false;
    let lower = keyword.to_ascii_lowercase();
    let args: Vec<Arg> = match lower.as_str() {
        "from" | "expose" => words(rest),
        "add" | "copy" | "volume" => match json_array(rest) {
            Some(v) => {
                json = true;
                v
            }
            None => words(rest),
        },
        "run" | "cmd" | "entrypoint" | "shell" => match json_array(rest) {
            Some(v) => {
                json = true;
                v
            }
            None if rest.is_empty() => vec![],
            None => vec![Arg::Word(rest.to_string())],
        },
        "healthcheck" => {
            let (first, more) = split_first(rest);
            let more = more.trim();
            let mut v = Vec::new();
            if !first.is_empty() {
                v.push(Arg::Word(first.to_string()));
            }
            match json_array(more) {
                Some(elems) => {
                    json = true;
                    v.extend(elems);
                }
                None if more.is_empty() => {}
                None => v.push(Arg::Word(more.to_string())),
            }
            v
        }
        "env" | "label" => {
            json = true;
            triples(rest)
        }
        "arg" => quoted_words(rest).into_iter().map(Arg::Word).collect(),
        "onbuild" if rest.is_empty() => vec![],
        "onbuild" => vec![Arg::Nested(Box::new(node_at(rest, line)))],
        "maintainer" | "user" | "workdir" | "stopsignal" if rest.is_empty() => vec![],
        "maintainer" | "user" | "workdir" | "stopsignal" => vec![Arg::Word(rest.to_string())],
        _ => vec![Arg::Word(String::new())],
    };
    Node {
        keyword: keyword.to_string(),
        flags,
        args,
        json,
        original: trimmed.to_string(),
        heredocs: vec![],
        span: Span::line(line),
        indent: 0,
        prev_comment: Vec::new(),
    }
}

/// An AST with one node per non-blank line, line numbers as in `src`.
pub(crate) fn ast_of(src: &str) -> Ast {
    let children: Vec<Node> = src
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| node_at(l, i + 1))
        .collect();
    let span = Span {
        start_line: children.first().map_or(0, |n| n.span.start_line),
        end_line: children.last().map_or(0, |n| n.span.end_line),
    };
    Ast {
        directives: Directives::default(),
        children,
        warnings: vec![],
        span,
    }
}

/// Types one line.
pub(crate) fn parse_one(src: &str) -> Result<Instruction, Error> {
    let node = node_of(src);
    parse_instruction(&Cx::new(&node))
}

/// Types one line that must fail.
pub(crate) fn err_of(src: &str) -> Error {
    match parse_one(src) {
        Ok(i) => panic!("expected an error for {src:?}, got {i:?}"),
        Err(e) => e,
    }
}

/// Types one line that must succeed.
pub(crate) fn ok_of(src: &str) -> Instruction {
    match parse_one(src) {
        Ok(i) => i,
        Err(e) => panic!("expected {src:?} to type, got {e:?}"),
    }
}

fn split_first(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn words(s: &str) -> Vec<Arg> {
    s.split_whitespace()
        .map(|w| Arg::Word(w.to_string()))
        .collect()
}

fn json_array(s: &str) -> Option<Vec<Arg>> {
    if !s.starts_with('[') {
        return None;
    }
    let v: Vec<String> = serde_json::from_str(s).ok()?;
    Some(v.into_iter().map(Arg::Word).collect())
}

/// Whitespace split that keeps quoted runs (and their quotes) inside one word.
fn quoted_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn triples(rest: &str) -> Vec<Arg> {
    let (first, after) = split_first(rest);
    if first.is_empty() {
        return vec![];
    }
    if !first.contains('=') {
        return vec![
            Arg::Word(first.to_string()),
            Arg::Word(after.trim_start().to_string()),
            Arg::Word(String::new()),
        ];
    }
    let mut out = Vec::new();
    for w in quoted_words(rest) {
        let (k, v) = w.split_once('=').unwrap_or((w.as_str(), ""));
        out.push(Arg::Word(k.to_string()));
        out.push(Arg::Word(v.to_string()));
        out.push(Arg::Word("=".to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(n: &Node) -> Vec<&str> {
        n.words().collect()
    }

    #[test]
    fn mini_parser_follows_the_readme_rules() {
        let n = node_of("COPY --from=a --link x y");
        assert_eq!(n.flags, vec!["--from=a", "--link"]);
        assert_eq!(strs(&n), vec!["x", "y"]);
        let n = node_of(r#"CMD ["a", "b"]"#);
        assert!(n.json);
        assert_eq!(strs(&n), vec!["a", "b"]);
        assert_eq!(strs(&node_of("RUN echo  hi")), vec!["echo  hi"]);
        assert_eq!(strs(&node_of("ENV A 1 2")), vec!["A", "1 2", ""]);
        assert_eq!(
            strs(&node_of(r#"ENV A="x y" B=2"#)),
            vec!["A", r#""x y""#, "=", "B", "2", "="]
        );
        assert_eq!(
            strs(&node_of("HEALTHCHECK CMD curl x")),
            vec!["CMD", "curl x"]
        );
        let n = node_of("ONBUILD RUN x");
        assert!(matches!(&n.args[0], Arg::Nested(inner) if inner.keyword == "RUN"));
        assert_eq!(ast_of("FROM a\n\nRUN b\n").children[1].span, Span::line(3));
    }
}

//! One logical line to one [`Node`]: keyword and flags split off, then the argument rule of that
//! keyword applied (BuildKit's dispatch table in `parser.go` and the functions of
//! `line_parsers.go`). Unknown keywords are accepted with a single empty argument; rejecting them
//! is the job of [`crate::instructions`].

use super::ast::{Arg, Node, Span};
use super::json::{JsonArray, parse_array};
use super::split::{
    Command, go_lower, parse_words, split_command, split_health, split_ws, split_ws_once,
};
use crate::error::Error;

/// `ONBUILD ONBUILD ...` nests; BuildKit has no limit but nothing past one level is valid later,
/// so a generous cap keeps recursion (and the recursive AST) bounded.
const MAX_ONBUILD_DEPTH: usize = 32;

/// Where the line came from, for spans and error columns.
pub(super) struct Origin<'a> {
    pub span: Span,
    /// The first physical line, newline trimmed, as in the file (for caret columns).
    pub first_line: &'a str,
    pub escape: char,
}

impl Origin<'_> {
    /// An error on this line; the caret goes to `needle` when it can be found on the first line
    /// after the keyword, else to the keyword itself.
    fn error(&self, message: impl Into<String>, needle: &str) -> Error {
        let keyword_start = self.first_line.len() - self.first_line.trim_start().len();
        let keyword_end = self.first_line[keyword_start..]
            .find(|c: char| c.is_whitespace())
            .map_or(self.first_line.len(), |i| keyword_start + i);
        let column = match needle {
            "" => None,
            _ => self.first_line[keyword_end..]
                .find(needle)
                .map(|i| keyword_end + i),
        };
        Error::new(self.span, message).at_column(column.unwrap_or(keyword_start))
    }
}

fn words(v: Vec<String>) -> Vec<Arg> {
    v.into_iter().map(Arg::Word).collect()
}

/// Parses a joined instruction line into a node (span set from `origin`).
pub(super) fn node_from_line(line: &str, origin: &Origin<'_>) -> Result<Node, Error> {
    node_at_depth(line, origin, 0)
}

fn node_at_depth(line: &str, origin: &Origin<'_>, depth: usize) -> Result<Node, Error> {
    let Command {
        keyword,
        flags,
        rest,
    } = split_command(line, origin.escape);
    let (args, json) = match go_lower(keyword).as_str() {
        "add" | "copy" | "volume" => maybe_json(rest, origin, true)?,
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest, origin, false)?,
        "from" | "expose" => (words(split_ws(rest)), false),
        "maintainer" | "stopsignal" | "user" | "workdir" => (
            if rest.is_empty() {
                Vec::new()
            } else {
                vec![Arg::Word(rest.to_string())]
            },
            false,
        ),
        "arg" => (words(parse_words(rest, origin.escape)), false),
        "env" => (name_val(rest, "ENV", origin)?, true),
        "label" => (name_val(rest, "LABEL", origin)?, true),
        "healthcheck" => health(rest, origin)?,
        "onbuild" => {
            if rest.is_empty() {
                (Vec::new(), false)
            } else if depth >= MAX_ONBUILD_DEPTH {
                return Err(origin
                    .error(
                        format!("ONBUILD nested more than {MAX_ONBUILD_DEPTH} levels deep"),
                        "",
                    )
                    .with_help("ONBUILD ONBUILD is not allowed anyway; use a single ONBUILD"));
            } else {
                (
                    vec![Arg::Nested(Box::new(node_at_depth(
                        rest,
                        origin,
                        depth + 1,
                    )?))],
                    false,
                )
            }
        }
        _ => (vec![Arg::Word(String::new())], false),
    };
    Ok(Node {
        keyword: keyword.to_string(),
        flags,
        args,
        json,
        original: line.to_string(),
        heredocs: Vec::new(),
        span: origin.span,
        indent: origin.first_line.len() - origin.first_line.trim_start().len(),
        prev_comment: Vec::new(),
    })
}

/// RUN/CMD/ENTRYPOINT/SHELL (`list == false`: one verbatim node) and ADD/COPY/VOLUME
/// (`list == true`: whitespace-split) when the rest is not a JSON string array.
fn maybe_json(rest: &str, origin: &Origin<'_>, list: bool) -> Result<(Vec<Arg>, bool), Error> {
    if rest.is_empty() && !list {
        return Ok((Vec::new(), false));
    }
    match parse_array(rest) {
        JsonArray::Strings(v) => Ok((words(v), true)),
        JsonArray::NotStrings(index) => Err(origin
            .error("when using JSON array syntax, arrays must be comprised of strings only", rest)
            .with_help(format!(
                "element {} of the array is not a string; quote every element, e.g. [\"echo\", \"1\"]",
                index + 1
            ))),
        JsonArray::NotJson if list => Ok((words(split_ws(rest)), false)),
        JsonArray::NotJson => Ok((vec![Arg::Word(rest.to_string())], false)),
    }
}

fn health(rest: &str, origin: &Origin<'_>) -> Result<(Vec<Arg>, bool), Error> {
    let (kind, cmd) = split_health(rest);
    if kind.is_empty() {
        return Ok((Vec::new(), false));
    }
    let (mut cmd_args, json) = maybe_json(&cmd, origin, false)?;
    let mut args = vec![Arg::Word(kind)];
    args.append(&mut cmd_args);
    Ok((args, json))
}

/// ENV and LABEL: `(key, value, separator)` triples, legacy `KEY value` or modern `k=v ...`.
fn name_val(rest: &str, key: &str, origin: &Origin<'_>) -> Result<Vec<Arg>, Error> {
    let words = parse_words(rest, origin.escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (name, value) = split_ws_once(rest);
        let Some(value) = value else {
            return Err(origin
                .error(format!("{key} must have two arguments"), name)
                .with_help(format!(
                    "write `{key} {name}=value` (or the legacy `{key} {name} value`)"
                )));
        };
        return Ok(vec![
            Arg::Word(name.to_string()),
            Arg::Word(value.to_string()),
            Arg::Word(String::new()),
        ]);
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(origin
                .error(
                    format!(
                        "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
                    ),
                    &word,
                )
                .with_help(format!(
                    "write `{word}=value`; every word must be a name=value pair in this form"
                )));
        };
        args.extend([
            Arg::Word(k.to_string()),
            Arg::Word(v.to_string()),
            Arg::Word("=".to_string()),
        ]);
    }
    Ok(args)
}

/// Whether heredoc markers in this node's line are honoured: RUN, COPY and ADD in shell form,
/// also inside an ONBUILD.
pub(super) fn can_contain_heredoc(node: &Node) -> bool {
    let mut node = node;
    if go_lower(&node.keyword) == "onbuild"
        && let Some(Arg::Nested(inner)) = node.args.first()
    {
        node = inner;
    }
    matches!(go_lower(&node.keyword).as_str(), "run" | "copy" | "add") && !node.json
}

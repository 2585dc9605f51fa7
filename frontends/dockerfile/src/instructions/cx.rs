//! The node being typed, plus the error helpers every instruction parser shares.
//!
//! Errors must name the line (the node's span) and, when the offending word can be found in the
//! instruction's text, the byte column of that word, so the CLI's caret lands on `--form` rather
//! than on the keyword. This lives in one place so every parser words its errors the same way.

use crate::error::Error;
use crate::parser::Node;

/// One instruction node under conversion.
pub(crate) struct Cx<'a> {
    /// The instruction being typed (for ONBUILD triggers: the nested node).
    pub node: &'a Node,
    /// The top-level node: its span and text locate errors (a trigger has no line of its own).
    outer: &'a Node,
    /// The keyword upper-cased, as used in messages ("COPY requires ...").
    pub name: String,
}

impl<'a> Cx<'a> {
    pub fn new(node: &'a Node) -> Self {
        Cx {
            node,
            outer: node,
            name: node.keyword.to_ascii_uppercase(),
        }
    }

    /// A context for an ONBUILD trigger: errors still point into the ONBUILD line.
    pub fn nested(&self, node: &'a Node) -> Cx<'a> {
        Cx {
            node,
            outer: self.outer,
            name: node.keyword.to_ascii_uppercase(),
        }
    }

    /// The argument strings of the node (nested nodes skipped).
    pub fn words(&self) -> Vec<&'a str> {
        self.node.words().collect()
    }

    /// An error on this instruction's line, without a column.
    pub fn err(&self, message: impl Into<String>) -> Error {
        Error::new(self.outer.span, message)
    }

    /// An error pointing at `word` when it can be found on the instruction's first line. For a
    /// flag word (`--chown=a b`) whose quotes the parser removed, the flag name is looked for.
    pub fn err_at(&self, word: &str, message: impl Into<String>) -> Error {
        let err = self.err(message);
        let flag_name = word
            .starts_with("--")
            .then(|| word.split('=').next())
            .flatten();
        match self
            .column_of(word)
            .or_else(|| flag_name.and_then(|f| self.column_of(f)))
        {
            Some(column) => err.at_column(column),
            None => err,
        }
    }

    /// The byte column of `word` on the start line, searched after the keyword.
    ///
    /// `original` is the instruction with continuation lines joined, so a position in it is a
    /// column of the start line only when the instruction has one line of text (heredoc bodies
    /// come after that line and are not part of `original`).
    pub fn column_of(&self, word: &str) -> Option<usize> {
        let node = self.outer;
        let one_line = node.span.start_line == node.span.end_line || !node.heredocs.is_empty();
        if word.is_empty() || !one_line {
            return None;
        }
        let text = node.original.as_str();
        let after_keyword = keyword_end(text, &node.keyword);
        text.get(after_keyword..)?
            .find(word)
            .map(|i| i + after_keyword + node.indent)
    }

    /// The column of the keyword itself (for "unknown instruction").
    pub fn keyword_column(&self) -> Option<usize> {
        if !std::ptr::eq(self.node, self.outer) {
            return self.column_of(&self.node.keyword);
        }
        let node = self.outer;
        if node.span.start_line != node.span.end_line && node.heredocs.is_empty() {
            return None;
        }
        node.original
            .find(node.keyword.as_str())
            .map(|i| i + node.indent)
    }
}

/// Where the keyword ends in `text`, or 0 when it is not found.
fn keyword_end(text: &str, keyword: &str) -> usize {
    if keyword.is_empty() {
        return 0;
    }
    text.find(keyword).map_or(0, |i| i + keyword.len())
}

/// True when `s` holds a `$` that word expansion could act on (a trailing `$` is literal).
/// Values holding one are validated by lowering, after expansion, not here.
pub(crate) fn has_expansion(s: &str) -> bool {
    s.find('$').is_some_and(|i| i + 1 < s.len())
}

/// Go's `strconv.ParseBool`, which BuildKit uses for mount options.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::node_of;

    #[test]
    fn column_is_found_after_the_keyword() {
        let node = node_of("COPY --form=a COPY /b");
        let cx = Cx::new(&node);
        assert_eq!(cx.column_of("--form"), Some(5));
        // "COPY" as an argument is found after the keyword, not at column 0.
        assert_eq!(cx.column_of("COPY"), Some(14));
        assert_eq!(cx.column_of("nope"), None);
        assert_eq!(cx.keyword_column(), Some(0));
    }

    #[test]
    fn no_column_for_joined_continuation_lines() {
        let mut node = node_of("RUN echo a");
        node.span.end_line = node.span.start_line + 1;
        assert_eq!(Cx::new(&node).column_of("echo"), None);
    }

    #[test]
    fn expansion_and_bools() {
        assert!(has_expansion("$A"));
        assert!(has_expansion("a${b}"));
        assert!(!has_expansion("a$"));
        assert!(!has_expansion("plain"));
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }
}

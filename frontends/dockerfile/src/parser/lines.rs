//! Physical-line primitives shared by the parser loop: splitting on `\n`, the newline and
//! whitespace trimming BuildKit applies, comment detection and the line-continuation rule.
//!
//! They are separate from the loop in `parser.rs` because each rule has a BuildKit quirk worth
//! testing on its own (e.g. an escaped escape token at the end of a line is *not* a continuation).

/// BuildKit reads lines with a `bufio.Scanner` whose token limit is 64 KiB, newline included.
pub(super) const MAX_LINE_LEN: usize = 65535;

/// The physical lines of the text, each with its line terminator (if any), numbered from 1.
pub(super) struct Lines<'a> {
    text: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Lines { text, number: 0 }
    }

    /// The number of the line returned last (0 before the first).
    pub(super) fn number(&self) -> usize {
        self.number
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.text.is_empty() {
            return None;
        }
        let end = self.text.find('\n').map_or(self.text.len(), |i| i + 1);
        let (line, rest) = self.text.split_at(end);
        self.text = rest;
        self.number += 1;
        Some((self.number, line))
    }
}

/// The first line (1-based) of `input` longer than [`MAX_LINE_LEN`] bytes, not counting its `\n`.
pub(super) fn first_overlong_line(input: &[u8]) -> Option<usize> {
    input
        .split(|&b| b == b'\n')
        .position(|l| l.len() > MAX_LINE_LEN)
        .map(|i| i + 1)
}

/// Strips every trailing `\r` and `\n` (Go: `bytes.TrimRight(line, "\r\n")`).
pub(super) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Strips leading Unicode whitespace (Go's `unicode.IsSpace` is the same set as Rust's).
pub(super) fn trim_leading_ws(line: &str) -> &str {
    line.trim_start_matches(char::is_whitespace)
}

/// A comment line: `#` after optional leading whitespace.
pub(super) fn is_comment(line: &str) -> bool {
    trim_leading_ws(line).starts_with('#')
}

/// A line that holds nothing but whitespace (inside a continuation it is skipped with a warning).
pub(super) fn is_blank(line: &str) -> bool {
    trim_leading_ws(trim_newline(line)).is_empty()
}

/// Applies BuildKit's continuation rule: a line continues when it ends with the escape token plus
/// optional spaces/tabs, unless the character before the token is the token itself. Returns the
/// line with the token (and what follows it) removed, and whether the instruction continues.
pub(super) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, false);
    };
    if before.ends_with(escape) {
        (line, false)
    } else {
        (before, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rule() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", true));
        assert_eq!(trim_continuation("a\\ \t ", '\\'), ("a", true));
        assert_eq!(trim_continuation("\\", '\\'), ("", true));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", false));
        assert_eq!(trim_continuation("a\\\\ ", '\\'), ("a\\\\ ", false));
        assert_eq!(trim_continuation("a `", '`'), ("a ", true));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", false));
    }

    #[test]
    fn lines_keep_terminators() {
        let v: Vec<_> = Lines::new("a\r\nb\n\nc").collect();
        assert_eq!(v, vec![(1, "a\r\n"), (2, "b\n"), (3, "\n"), (4, "c")]);
        assert_eq!(trim_newline("x\r\r\n"), "x");
    }
}

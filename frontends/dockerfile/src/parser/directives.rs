//! Parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of a Dockerfile.
//!
//! BuildKit looks at every line until the first one that is not a directive (an instruction, a
//! blank line, an ordinary comment, or a comment naming an unknown directive); from then on nothing
//! is a directive any more. Kept apart from the line loop because the matching mimics a Go regexp
//! (`^#\s*(name)\s*=\s*(.+?)\s*$`, with RE2's `\s` = `[\t\n\f\r ]`) quirk for quirk.

use super::ast::Directives;
use crate::error::suggest;

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// A directive found on a line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Found {
    pub name: &'static str,
    pub value: String,
}

/// What a line meant for the directive parser.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Directive parsing is (now) over, or the line was not a directive.
    None,
    /// A directive was recognised.
    Directive(Found),
    /// A directive-shaped comment with an unknown name close to a known one (e.g. `# escpae=`):
    /// it ends directive parsing like any unknown name, but deserves a warning.
    Misspelt {
        name: String,
        suggestion: &'static str,
    },
}

#[derive(Debug, Default)]
pub(super) struct DirectiveParser {
    done: bool,
    seen: Vec<&'static str>,
}

fn is_re2_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Splits `# name = value` the way the Go regexp does; `None` when the line does not match.
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line
        .strip_prefix('#')?
        .trim_start_matches(char::is_whitespace);
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_re2_space).strip_prefix('=')?;
    // `\s*(.+?)\s*$`: the greedy `\s*` gives back one character when nothing else is left.
    let trimmed = rest.trim_start_matches(is_re2_space);
    let value = if trimmed.is_empty() {
        let last = rest.chars().next_back()?;
        &rest[rest.len() - last.len_utf8()..]
    } else {
        trimmed.trim_end_matches(is_re2_space)
    };
    Some((name, value))
}

impl DirectiveParser {
    /// Looks at one line (newline and leading whitespace already trimmed).
    pub(super) fn parse_line(&mut self, line: &str) -> Result<Outcome, String> {
        if self.done {
            return Ok(Outcome::None);
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(Outcome::None);
        };
        let lower = name.to_ascii_lowercase();
        let Some(&known) = KNOWN.iter().find(|k| **k == lower) else {
            self.done = true;
            return Ok(match suggest(&lower, KNOWN) {
                Some(suggestion) => Outcome::Misspelt {
                    name: name.to_string(),
                    suggestion,
                },
                None => Outcome::None,
            });
        };
        if self.seen.contains(&known) {
            return Err(format!("only one {known} parser directive can be used"));
        }
        self.seen.push(known);
        Ok(Outcome::Directive(Found {
            name: known,
            value: value.to_string(),
        }))
    }
}

/// Records a directive; fails for an escape token other than `\` or `` ` ``.
pub(super) fn apply(directives: &mut Directives, found: Found) -> Result<(), String> {
    match found.name {
        "escape" => match found.value.as_str() {
            "\\" => directives.escape = '\\',
            "`" => directives.escape = '`',
            other => {
                return Err(format!(
                    "invalid escape token '{other}' does not match ` or \\"
                ));
            }
        },
        "syntax" => directives.syntax = Some(found.value),
        _ => directives.check = Some(found.value),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_the_go_regexp() {
        assert_eq!(match_directive("# escape = `"), Some(("escape", "`")));
        assert_eq!(match_directive("#escape=`"), Some(("escape", "`")));
        assert_eq!(
            match_directive("# syntax=docker/dockerfile:1 "),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(match_directive("# escape = "), Some(("escape", " ")));
        assert_eq!(match_directive("# escape ="), None);
        assert_eq!(match_directive("# 1escape=x"), None);
        assert_eq!(match_directive("# a b=c"), None);
        assert_eq!(
            match_directive("# check=skip=all;error=true"),
            Some(("check", "skip=all;error=true"))
        );
    }

    #[test]
    fn stops_at_first_non_directive_and_rejects_repeats() {
        let mut p = DirectiveParser::default();
        assert!(matches!(
            p.parse_line("# ESCAPE=`"),
            Ok(Outcome::Directive(_))
        ));
        assert!(p.parse_line("# escape=`").is_err());
        let mut p = DirectiveParser::default();
        assert!(matches!(
            p.parse_line("# escpae=`"),
            Ok(Outcome::Misspelt { .. })
        ));
        assert_eq!(p.parse_line("# escape=`"), Ok(Outcome::None));
        let mut p = DirectiveParser::default();
        assert_eq!(p.parse_line(""), Ok(Outcome::None));
        assert_eq!(p.parse_line("# syntax=x"), Ok(Outcome::None));
    }
}

//! The glob patterns of `${v#p}`, `${v%p}` and `${v/p/r}`.
//!
//! BuildKit turns the pattern into a Go regular expression and lets RE2 pick the match. The
//! dialect is small: `*` is any run of characters, `?` one character (neither matches a
//! newline, because Go's `.` does not), `\*`, `\?` and `\\` are literals, `\}` and `\/` drop
//! the backslash (it was only there to get past the `${...}` syntax) and any other escape is
//! an error. Everything else — **including `[`** — is a literal: BuildKit does not support
//! bracket expressions here, so neither do we (a `${v#[ab]}` strips the text `[ab]`).
//!
//! Instead of pulling in a regex engine we match the token list with a backtracking search
//! that tries alternatives in RE2's leftmost-first priority order (longest first for greedy
//! stars, shortest first for lazy ones), so the chosen match is the one Go would report.
//! Failed `(star, position)` states are memoised, which keeps the search polynomial.

use std::collections::HashSet;

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A literal character.
    Lit(char),
    /// `?`: any character except `\n`.
    Any,
    /// `*`: any run of characters without `\n`.
    Star,
}

/// A compiled `${v...}` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
    greedy: bool,
}

impl Glob {
    /// Compile `pattern`; `greedy` picks `.*` over `.*?` for the stars.
    pub(crate) fn compile(pattern: &str, greedy: bool) -> Result<Self, String> {
        let mut toks = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::Any),
                '\\' => {
                    if matches!(chars.peek(), Some('}' | '/')) {
                        // The escape only protected the `${...}` syntax; the next character
                        // is handled as an ordinary one on the next turn.
                        continue;
                    }
                    match chars.next() {
                        Some(e @ ('*' | '?' | '\\')) => toks.push(Tok::Lit(e)),
                        Some(e) => return Err(format!("invalid escape '\\{e}'")),
                        None => return Err("invalid escape '\\'".to_string()),
                    }
                }
                other => toks.push(Tok::Lit(other)),
            }
        }
        Ok(Glob { toks, greedy })
    }

    /// The end (exclusive, in chars) of the preferred match that starts at `start`.
    fn match_at(&self, s: &[char], start: usize) -> Option<usize> {
        struct Choice {
            tok: usize,
            base: usize,
            tried: usize,
            max: usize,
        }
        let toks = &self.toks;
        let mut stack: Vec<Choice> = Vec::new();
        let mut failed: HashSet<(usize, usize)> = HashSet::new();
        let (mut i, mut pos) = (0usize, start);
        loop {
            // Run forward until the pattern is done or a token fails.
            loop {
                let Some(tok) = toks.get(i) else {
                    return Some(pos);
                };
                let ok = match *tok {
                    Tok::Lit(c) => s.get(pos) == Some(&c),
                    Tok::Any => s.get(pos).is_some_and(|&c| c != '\n'),
                    Tok::Star => {
                        if failed.contains(&(i, pos)) {
                            false
                        } else {
                            let max = s
                                .get(pos..)
                                .unwrap_or_default()
                                .iter()
                                .take_while(|&&c| c != '\n')
                                .count();
                            let first = if self.greedy { max } else { 0 };
                            stack.push(Choice {
                                tok: i,
                                base: pos,
                                tried: 1,
                                max,
                            });
                            i += 1;
                            pos += first;
                            continue;
                        }
                    }
                };
                if !ok {
                    break;
                }
                i += 1;
                pos += 1;
            }
            // Backtrack to the most recent star with an untried length.
            loop {
                let choice = stack.last_mut()?;
                if choice.tried > choice.max {
                    failed.insert((choice.tok, choice.base));
                    stack.pop();
                    continue;
                }
                let len = if self.greedy {
                    choice.max - choice.tried
                } else {
                    choice.tried
                };
                choice.tried += 1;
                i = choice.tok + 1;
                pos = choice.base + len;
                break;
            }
        }
    }

    /// Leftmost match anywhere at or after `from`: `(start, end)` in chars.
    fn find_from(&self, s: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=s.len()).find_map(|start| self.match_at(s, start).map(|end| (start, end)))
    }
}

/// `${v#p}` / `${v##p}`: remove the shortest (longest when `greedy`) matching prefix.
pub(crate) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let glob = compile_for_substitution(pattern, greedy)?;
    let chars: Vec<char> = value.chars().collect();
    Ok(match glob.match_at(&chars, 0) {
        Some(end) => chars.get(end..).unwrap_or_default().iter().collect(),
        None => value.to_string(),
    })
}

/// `${v%p}` / `${v%%p}`: remove the shortest (longest when `greedy`) matching suffix.
///
/// Like BuildKit, this reverses both the pattern (keeping `\x` pairs in order) and the
/// value, so that a leftmost search finds the rightmost suffix.
pub(crate) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let reversed_pattern = reverse_pattern(pattern);
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reversed_pattern, &reversed_value, greedy)
        // Report the pattern as the user wrote it.
        .map_err(|_| invalid_pattern(pattern, &compile_error(pattern)))?;
    Ok(trimmed.chars().rev().collect())
}

/// `${v/p/r}` and `${v//p/r}` (`all`). Stars are always greedy here.
///
/// The single form splices `replacement` in verbatim. The `all` form goes through Go's
/// `Regexp.ReplaceAllString`, whose template language we reproduce: `$$` is `$`, `$0` /
/// `${0}` is the matched text, any other well-formed `$name` is empty (there are no
/// groups), a malformed one stays literal. Empty matches right after a match are skipped.
pub(crate) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, String> {
    let glob = compile_for_substitution(pattern, true)?;
    let s: Vec<char> = value.chars().collect();
    if !all {
        return Ok(match glob.find_from(&s, 0) {
            Some((start, end)) => {
                let mut out: String = s.get(..start).unwrap_or_default().iter().collect();
                out.push_str(replacement);
                out.extend(s.get(end..).unwrap_or_default());
                out
            }
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let mut last_end = 0usize;
    let mut search = 0usize;
    while search <= s.len() {
        let Some((start, end)) = glob.find_from(&s, search) else {
            break;
        };
        out.extend(s.get(last_end..start).unwrap_or_default());
        if end > last_end || start == 0 {
            let matched: String = s.get(start..end).unwrap_or_default().iter().collect();
            expand_template(&mut out, replacement, &matched);
        }
        last_end = end;
        // Always advance by at least one character.
        search = if search + 1 > end { search + 1 } else { end };
    }
    out.extend(s.get(last_end..).unwrap_or_default());
    Ok(out)
}

fn compile_for_substitution(pattern: &str, greedy: bool) -> Result<Glob, String> {
    Glob::compile(pattern, greedy).map_err(|e| invalid_pattern(pattern, &e))
}

fn compile_error(pattern: &str) -> String {
    match Glob::compile(pattern, true) {
        Err(e) => e,
        Ok(_) => "invalid pattern".to_string(),
    }
}

fn invalid_pattern(pattern: &str, err: &str) -> String {
    format!("invalid pattern ({pattern}) in substitution: {err}")
}

/// Reverse a pattern but keep each `\x` escape pair in its original order.
fn reverse_pattern(pattern: &str) -> String {
    // Front to back: a character and, after a `\`, the one it escapes (if any).
    let mut tokens: Vec<(char, Option<char>)> = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let escaped = if c == '\\' { chars.next() } else { None };
        tokens.push((c, escaped));
    }
    let mut out = String::with_capacity(pattern.len());
    for (c, escaped) in tokens.into_iter().rev() {
        out.push(c);
        out.extend(escaped);
    }
    out
}

/// Go's `Regexp.Expand` for a regexp without capture groups.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match template_name(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// The `name` or `{name}` after a `$` in a template, and the text after it.
fn template_name(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|&c| {
            super::unicode_class::is_letter(c) || super::unicode_class::is_digit(c) || c == '_'
        })
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let after = &body[len..];
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_keeps_escape_pairs() {
        assert_eq!(reverse_pattern(r"a\*c"), r"c\*a");
        assert_eq!(reverse_pattern(r"\\\ab"), r"b\a\\");
        assert_eq!(reverse_pattern("ab\\"), r"\ba");
        assert_eq!(reverse_pattern(r"\\b"), r"b\\");
        assert_eq!(reverse_pattern(""), "");
    }

    #[test]
    fn invalid_escapes() {
        for p in ["\\", r"\x", r"\\\"] {
            assert!(Glob::compile(p, true).is_err(), "{p}");
        }
        assert!(Glob::compile(r"\*\?\\\}\/", true).is_ok());
    }

    #[test]
    fn lazy_and_greedy_prefix() {
        assert_eq!(trim_prefix("*x", "axbx", false).as_deref(), Ok("bx"));
        assert_eq!(trim_prefix("*x", "axbx", true).as_deref(), Ok(""));
        assert_eq!(trim_prefix("*x*y", "xxyy", false).as_deref(), Ok("y"));
        assert_eq!(
            trim_prefix("*", "line1\nline2", true).as_deref(),
            Ok("\nline2")
        );
    }

    #[test]
    fn suffixes() {
        assert_eq!(trim_suffix("x*", "axbx", false).as_deref(), Ok("axb"));
        assert_eq!(trim_suffix("x*", "axbx", true).as_deref(), Ok("a"));
        assert_eq!(trim_suffix(r"\**\*", "a***yy*", true).as_deref(), Ok("a"));
    }

    #[test]
    fn replace_all_template() {
        assert_eq!(replace("o", "foo", "[$0]", true).as_deref(), Ok("f[o][o]"));
        assert_eq!(replace("o", "foo", "$$", true).as_deref(), Ok("f$$"));
        assert_eq!(replace("o", "foo", "$1x", true).as_deref(), Ok("f"));
        assert_eq!(replace("o", "foo", "a$", true).as_deref(), Ok("fa$a$"));
        assert_eq!(replace("o", "foo", "[$0]", false).as_deref(), Ok("f[$0]o"));
        assert_eq!(replace("", "ab", "-", true).as_deref(), Ok("-a-b-"));
        assert_eq!(replace("*", "ab", "-", true).as_deref(), Ok("-"));
    }

    #[test]
    fn pathological_backtracking_terminates() {
        let value = "a".repeat(200);
        let pattern = "*a*a*a*a*a*a*a*a*b";
        assert_eq!(
            trim_prefix(pattern, &value, true).as_deref(),
            Ok(value.as_str())
        );
        assert_eq!(
            trim_prefix(pattern, &value, false).as_deref(),
            Ok(value.as_str())
        );
    }
}

//! Turning one cleaned pattern into something that can be matched, in two upstream steps.
//!
//! 1. [`validate`]: patternmatcher runs Go's `filepath.Match(pattern, ".")` only for its
//!    error, so a pattern is accepted exactly when `filepath.Match` considers it well
//!    formed. That syntax differs from the one used for matching (below): `[]a]`, `[-]`,
//!    `[x-]`, `[a-b-c]` and a trailing `\` are rejected; `[z-a]` is accepted.
//! 2. [`compile`]: the pattern is classified as exact, prefix (`dir/**`), suffix
//!    (`**/name`) or general, and general patterns are rewritten into a Go regular
//!    expression string character by character, the same way upstream does, then parsed
//!    by our RE2 subset ([`super::regex`]). A rewrite that RE2 rejects is not an error at
//!    construction time; upstream only fails when the pattern is first used, and so do we.

use super::regex::Regex;

/// Characters that need a backslash in the generated regex (regex metacharacters that are
/// not glob metacharacters). `[`, `]`, `^` and `\` are deliberately *not* here.
fn should_escape(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$')
}

/// Is `pattern` a well-formed `filepath.Match` pattern (Unix rules)?
pub(crate) fn validate(pattern: &str) -> bool {
    let mut rest = pattern.as_bytes();
    while !rest.is_empty() {
        // Skip leading stars; then take a chunk up to the next star outside a class.
        while let [b'*', tail @ ..] = rest {
            rest = tail;
        }
        let (chunk, tail) = split_chunk(rest);
        if !valid_chunk(chunk) {
            return false;
        }
        rest = tail;
    }
    true
}

/// Go's `scanChunk` without the star prefix: the chunk ends at a `*` outside `[...]`.
fn split_chunk(p: &[u8]) -> (&[u8], &[u8]) {
    let mut in_range = false;
    let mut i = 0;
    while let Some(&b) = p.get(i) {
        match b {
            b'\\' if i + 1 < p.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    p.split_at(i)
}

/// Go's `matchChunk` syntax checks (the text side no longer matters once it has failed).
fn valid_chunk(mut chunk: &[u8]) -> bool {
    while let Some((&c, after)) = chunk.split_first() {
        chunk = after;
        match c {
            b'[' => {
                if let Some(rest) = chunk.strip_prefix(b"^") {
                    chunk = rest;
                }
                let mut nrange = 0;
                loop {
                    if nrange > 0
                        && let Some(rest) = chunk.strip_prefix(b"]")
                    {
                        chunk = rest;
                        break;
                    }
                    let Some(after_lo) = class_char(chunk) else {
                        return false;
                    };
                    chunk = after_lo;
                    if let Some(rest) = chunk.strip_prefix(b"-") {
                        let Some(after_hi) = class_char(rest) else {
                            return false;
                        };
                        chunk = after_hi;
                    }
                    nrange += 1;
                }
            }
            // An escape needs the character it escapes.
            b'\\' => match chunk.split_first() {
                Some((_, rest)) => chunk = rest,
                None => return false,
            },
            _ => {}
        }
    }
    true
}

/// Go's `getEsc`: one (possibly escaped) class character; `None` on a syntax error,
/// including when nothing follows it (the class would be unterminated).
fn class_char(chunk: &[u8]) -> Option<&[u8]> {
    let chunk = match chunk {
        [] | [b'-' | b']', ..] | [b'\\'] => return None,
        [b'\\', escaped @ ..] => escaped,
        _ => chunk,
    };
    let rest = chunk.get(utf8_width(*chunk.first()?)..)?;
    if rest.is_empty() { None } else { Some(rest) }
}

fn utf8_width(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// How a compiled pattern is matched.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// The path equals the pattern text.
    Exact(String),
    /// `dir/**`: the path starts with the text before `**`.
    Prefix(String),
    /// `**name`, `**/name`: the path ends with the text after `**` (or equals it without
    /// the leading `/`).
    Suffix(String),
    /// Anything else.
    Regex(Regex),
    /// The generated expression was rejected by RE2: every use is `ErrBadPattern`.
    Bad,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// Classify `pattern` and, if needed, build its regex (patternmatcher's `compile`).
pub(crate) fn compile(pattern: &str) -> Matcher {
    let (kind, regex_src) = translate(pattern);
    match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(pattern.strip_suffix("**").unwrap_or(pattern).to_string()),
        Kind::Suffix => Matcher::Suffix(pattern.strip_prefix("**").unwrap_or(pattern).to_string()),
        Kind::Regex => match Regex::new(&regex_src) {
            Ok(re) => Matcher::Regex(re),
            Err(_) => Matcher::Bad,
        },
    }
}

/// The match kind and the Go regex source upstream would build for `pattern`.
fn translate(pattern: &str) -> (Kind, String) {
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is treated as `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            c if should_escape(c) => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(c);
                kind = Kind::Regex;
            }
            other => re.push(other),
        }
        first = false;
    }
    re.push('$');
    (kind, re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_follows_filepath_match() {
        for ok in [
            "abc",
            "*",
            "a*/b",
            "[a-z]",
            "[^a]",
            r"[\]a]",
            r"[\-]",
            "[z-a]",
            "[Local-Only]",
            r"a\*b",
            "**",
            "[*]",
        ] {
            assert!(validate(ok), "{ok}");
        }
        for bad in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", r"a\",
        ] {
            assert!(!validate(bad), "{bad}");
        }
    }

    #[test]
    fn translation_matches_upstream_compile_table() {
        let regex = |p: &str| {
            let (k, r) = translate(p);
            assert!(k == Kind::Regex, "{p} is not a regex pattern");
            r
        };
        assert_eq!(regex("*"), "^[^/]*$");
        assert_eq!(regex("file*"), "^file[^/]*$");
        assert_eq!(regex("a*/b"), "^a[^/]*/b$");
        assert_eq!(regex("**/**"), "^(.*/)?.*$");
        assert_eq!(regex("**/dir2/*"), "^(.*/)?dir2/[^/]*$");
        assert_eq!(regex("**/dir2/**"), "^(.*/)?dir2/.*$");
        assert_eq!(regex("**/**/*.txt"), r"^(.*/)?(.*/)?[^/]*\.txt$");
        assert_eq!(regex(".*"), r"^\.[^/]*$");
        assert_eq!(regex("abc?def"), "^abc[^/]def$");
        let kind = |p: &str| translate(p).0;
        assert!(kind("**") == Kind::Suffix);
        assert!(kind("dir/**") == Kind::Prefix);
        assert!(kind("**/dir") == Kind::Suffix);
        assert!(kind("**file") == Kind::Suffix);
        assert!(kind("**/foo/bar") == Kind::Suffix);
        assert!(kind("abc.def") == Kind::Exact);
        assert!(kind("a(b)c/def") == Kind::Exact);
        assert!(kind("a.|)$(}+{bc") == Kind::Exact);
    }
}

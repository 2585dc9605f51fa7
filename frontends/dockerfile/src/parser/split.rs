//! Splitting an instruction's text: keyword, leading `--flags`, and the word splitters used by the
//! per-instruction rules (plain whitespace runs, and BuildKit's quote-aware `parseWords`).
//!
//! These are small state machines ported rule for rule from BuildKit's `split_command.go` and
//! `line_parsers.go`, because their corner cases (quotes kept, an escape token at the very end
//! dropped, a bare `--`) are exactly what the conformance dumps check.

use super::raw::{raw_byte, replace_raw};

/// Go's `reWhitespace` class: `[\t\v\f\r ]`.
pub(super) fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of `[\t\v\f\r ]` (Go `reWhitespace.Split(s, -1)`); empty input gives nothing.
pub(super) fn split_ws(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        match rest.find(is_sep) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_sep);
            }
            None => {
                out.push(rest.to_string());
                return out;
            }
        }
    }
}

/// Splits once at the first run of `[\t\v\f\r ]` (Go `reWhitespace.Split(s, 2)`).
pub(super) fn split_ws_once(s: &str) -> (&str, Option<&str>) {
    match s.find(is_sep) {
        Some(i) => (&s[..i], Some(s[i..].trim_start_matches(is_sep))),
        None => (s, None),
    }
}

/// An instruction line split into keyword (as written), flags and the trimmed rest.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Command<'a> {
    pub keyword: &'a str,
    pub flags: Vec<String>,
    pub rest: &'a str,
}

/// BuildKit's `splitCommand`: trim, keyword up to the first whitespace run, then flags.
pub(super) fn split_command(line: &str, escape: char) -> Command<'_> {
    let (keyword, args) = split_ws_once(line.trim());
    let (flags, rest) = match args {
        Some(args) => extract_flags(args, escape),
        None => (Vec::new(), ""),
    };
    Command {
        keyword,
        flags,
        rest: rest.trim(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// BuildKit's `extractBuilderFlags`: leading words starting with `--` are flags (quotes removed,
/// the escape token escapes the next character); a bare `--` ends them and is dropped. Returns the
/// flags and the rest of the text from the first non-flag word on.
pub(super) fn extract_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let n = chars.len();
    let at = |pos: usize| chars.get(pos).map_or(line.len(), |&(i, _)| i);
    let ch = |pos: usize| chars.get(pos).map_or('\0', |&(_, c)| c);
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= n {
        let end = pos == n;
        let c = ch(pos);
        if phase == Phase::Spaces {
            if end {
                break;
            }
            if c.is_whitespace() {
                pos += 1;
                continue;
            }
            if c != '-' || pos + 1 == n || ch(pos + 1) != '-' {
                return (words, &line[at(pos)..]);
            }
            phase = Phase::Word;
        }
        if end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        let mut c = c;
        if phase == Phase::Word {
            if c.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (words, &line[at(pos)..]);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if c == '\'' || c == '"' {
                quote = c;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if c == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = ch(pos);
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // Phase::Quote
        if c == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if c == escape {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = ch(pos);
        }
        word.push(c);
        pos += 1;
    }
    (words, "")
}

/// BuildKit's `parseWords` (ENV, LABEL, ARG): split on unquoted whitespace, keeping quotes and
/// escape tokens in the words. Like Go, invalid UTF-8 comes out as U+FFFD.
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = replace_raw(rest).chars().collect();
    let n = chars.len();
    let ch = |pos: usize| chars.get(pos).copied().unwrap_or('\0');
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= n {
        let end = pos == n;
        let mut c = ch(pos);
        if phase == Phase::Spaces {
            if end {
                break;
            }
            if c.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if c.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if c == '\'' || c == '"' {
                quote = c;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if c == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                word.push(c);
                pos += 1;
                c = ch(pos);
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // Phase::Quote
        if c == quote {
            phase = Phase::Word;
        }
        if c == escape && quote != '\'' {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            word.push(c);
            pos += 1;
            c = ch(pos);
        }
        word.push(c);
        pos += 1;
    }
    words
}

/// Go's `unicode.IsSpace(rune(b))` on a single byte, as BuildKit's HEALTHCHECK splitter uses it.
fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// HEALTHCHECK's split of the rest into its first word and the remainder. BuildKit scans bytes, so
/// this does too (on the original bytes), and re-decodes both pieces losslessly.
pub(super) fn split_health(rest: &str) -> (String, String) {
    let bytes = super::raw::raw_bytes(rest);
    let sep = bytes
        .iter()
        .position(|&b| is_space_byte(b))
        .unwrap_or(bytes.len());
    let (first, mut remainder) = bytes.split_at(sep);
    while let [b, after @ ..] = remainder
        && is_space_byte(*b)
    {
        remainder = after;
    }
    (super::raw::decode(first), super::raw::decode(remainder))
}

/// Go's `strings.ToLower`: Unicode lower-casing, one rune at a time (so `İ` becomes plain `i`),
/// with invalid UTF-8 replaced by U+FFFD whenever the text is not pure ASCII.
pub(super) fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if raw_byte(c).is_some() {
            out.push(char::REPLACEMENT_CHARACTER);
        } else if c == '\u{130}' {
            out.push('i');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_first_plain_word_or_bare_double_dash() {
        let c = split_command("COPY --user=me --doit=true foo /tmp/", '\\');
        assert_eq!(
            (c.keyword, c.flags, c.rest),
            (
                "COPY",
                vec!["--user=me".into(), "--doit=true".into()],
                "foo /tmp/"
            )
        );
        let c = split_command("CMD --doit -- [ ]", '\\');
        assert_eq!((c.flags, c.rest), (vec!["--doit".to_string()], "[ ]"));
        let c = split_command("COPY --x=\"a b\" --y=a\\ b -- --z", '\\');
        assert_eq!(
            (c.flags, c.rest),
            (vec!["--x=a b".to_string(), "--y=a b".to_string()], "--z")
        );
        let c = split_command("RUN --mount=type=cache --", '\\');
        assert_eq!(
            (c.flags, c.rest),
            (vec!["--mount=type=cache".to_string()], "")
        );
        let c = split_command("  HEALTHCHECK  ", '\\');
        assert_eq!((c.keyword, c.rest), ("HEALTHCHECK", ""));
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words("abc=\"123 456\" def", '\\'),
            vec!["abc=\"123 456\"", "def"]
        );
        assert_eq!(parse_words("name='a\\'b''", '\\'), vec!["name='a\\'b''"]);
        assert_eq!(parse_words("a\\ b c\\", '\\'), vec!["a\\ b", "c"]);
        assert_eq!(parse_words("x=\"\"", '\\'), vec!["x=\"\""]);
    }

    #[test]
    fn whitespace_split() {
        assert_eq!(split_ws("a \t b\x0bc"), vec!["a", "b", "c"]);
        assert!(split_ws("").is_empty());
        assert_eq!(split_ws_once("GOPATH   \\go x"), ("GOPATH", Some("\\go x")));
        assert_eq!(
            split_health("CMD   a b"),
            ("CMD".to_string(), "a b".to_string())
        );
        assert_eq!(go_lower("ONBUİLD"), "onbuild");
    }
}

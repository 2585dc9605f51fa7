//! Text from a build shown on a terminal: step output, step names (a Dockerfile's text) and
//! notes are an attacker's bytes. Escape sequences in them could rewrite the user's terminal
//! (set its title, write its clipboard with OSC 52, move the cursor over earlier output, or
//! break the live view's line count), so every control character is made visible before it is
//! written — in the live view all of them, in plain output all but colour (SGR) sequences,
//! which CI log viewers render.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with control characters shown as `^X` / `\u{..}` escapes. With `keep_colour`, complete
/// SGR sequences (`ESC [ 0-9; m`) pass unchanged.
pub fn sanitize(s: &str, keep_colour: bool) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if keep_colour
            && c == '\u{1b}'
            && let Some(len) = sgr_len(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        match c {
            '\t' => out.push_str("    "),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            '\u{7f}' => out.push_str("^?"),
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a line shows.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The length of the SGR sequence `s` starts with, if it starts with one.
fn sgr_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\u{1b}[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (params <= 64 && body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

pub use cairn_build::units::human_size as bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible() {
        // Clipboard write, title set, clear screen, cursor up, bell, bidi override.
        let hostile = "a\u{1b}]52;c;ZXZpbA==\u{7}b\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[1A\r\u{202e}z";
        for keep in [false, true] {
            let s = sanitize(hostile, keep);
            assert!(!s.chars().any(is_control), "{s:?}");
            assert!(s.contains("^[]52;c;ZXZpbA==^G"), "{s:?}");
        }
    }

    #[test]
    fn colour_is_kept_only_when_asked_and_only_sgr() {
        let red = "\u{1b}[31;1merror\u{1b}[0m";
        assert_eq!(sanitize(red, true), red);
        assert_eq!(sanitize(red, false), "^[[31;1merror^[[0m");
        // An unterminated or non-SGR CSI is not colour.
        assert_eq!(sanitize("\u{1b}[31", true), "^[[31");
        assert_eq!(sanitize("\u{1b}[2J", true), "^[[2J");
        assert_eq!(sanitize("plain ü text", true), "plain ü text");
    }
}

//! The exec-form check: is an instruction's rest a JSON array of strings?
//!
//! BuildKit calls Go's `json.Unmarshal` into `[]any`, and the outcome has three cases that the
//! parser must tell apart: not JSON at all (fall back to the shell form, even for `[` text),
//! valid JSON with a non-string element (a parse error), or a string array. A small validator is
//! written here instead of using `serde_json` because Go's acceptance rules differ in the corners
//! that decide between the first two cases: invalid UTF-8 and unpaired surrogates become U+FFFD,
//! nesting deeper than 10000 is a syntax error, and a number that overflows `float64` is a decode
//! error (so it falls back rather than failing).

use super::raw::raw_byte;

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum JsonArray {
    /// Not a JSON array (or a value Go fails to decode): use the non-JSON rule.
    NotJson,
    /// Valid JSON, but an element is not a string: an error. Holds the element's 0-based index.
    NotStrings(usize),
    Strings(Vec<String>),
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
    /// A number overflowed `float64` somewhere (Go's decode error).
    overflow: bool,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v * 16 + self.bump()?.to_digit(16)?;
        }
        Some(v)
    }

    /// A string, the opening quote already consumed.
    fn string(&mut self) -> Option<String> {
        let mut out = String::new();
        loop {
            let c = self.bump()?;
            match c {
                '"' => return Some(out),
                '\\' => match self.bump()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let first = self.hex4()?;
                        if (0xD800..0xDC00).contains(&first) {
                            let save = self.pos;
                            let low = if self.eat('\\') && self.eat('u') {
                                self.hex4()
                            } else {
                                None
                            };
                            if let Some(low @ 0xDC00..0xE000) = low {
                                let c = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
                                out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                                continue;
                            }
                            self.pos = save;
                        }
                        out.push(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    _ => return None,
                },
                c if u32::from(c) < 0x20 => return None,
                c if raw_byte(c).is_some() => out.push(char::REPLACEMENT_CHARACTER),
                c => out.push(c),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some('0'..='9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        self.eat('-');
        if !self.eat('0') && self.digits() == 0 {
            return None;
        }
        if self.eat('.') && self.digits() == 0 {
            return None;
        }
        if self.eat('e') || self.eat('E') {
            if !self.eat('+') {
                self.eat('-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        if text.parse::<f64>().is_ok_and(f64::is_infinite) {
            self.overflow = true;
        }
        Some(())
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        word.chars().all(|c| self.eat(c)).then_some(())
    }

    /// Skips one value of any kind, iteratively (no recursion on nesting).
    fn skip_value(&mut self) -> Option<()> {
        // Stack of open containers: true = object, false = array.
        let mut stack: Vec<bool> = Vec::new();
        loop {
            self.skip_ws();
            match self.bump()? {
                '"' => {
                    self.string()?;
                }
                // The outer array is one level, the container opened here another.
                '[' | '{' if stack.len() + 2 > MAX_DEPTH => return None,
                '[' => {
                    self.skip_ws();
                    if self.eat(']') {
                        // empty array: a complete value
                    } else {
                        stack.push(false);
                        continue;
                    }
                }
                '{' => {
                    self.skip_ws();
                    if self.eat('}') {
                        // empty object
                    } else {
                        stack.push(true);
                        self.object_key()?;
                        continue;
                    }
                }
                't' => self.literal("rue")?,
                'f' => self.literal("alse")?,
                'n' => self.literal("ull")?,
                '-' | '0'..='9' => {
                    self.pos -= 1;
                    self.number()?;
                }
                _ => return None,
            }
            // A value just ended: close containers or move to the next element.
            loop {
                let Some(&is_object) = stack.last() else {
                    return Some(());
                };
                self.skip_ws();
                match self.bump()? {
                    ',' if is_object => {
                        self.object_key()?;
                        break;
                    }
                    ',' => break,
                    '}' if is_object => {
                        stack.pop();
                    }
                    ']' if !is_object => {
                        stack.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// `"key" :` inside an object.
    fn object_key(&mut self) -> Option<()> {
        self.skip_ws();
        if !self.eat('"') {
            return None;
        }
        self.string()?;
        self.skip_ws();
        self.eat(':').then_some(())
    }
}

/// Classifies `rest` (leading whitespace allowed) as BuildKit's `parseJSON` would.
pub(super) fn parse_array(rest: &str) -> JsonArray {
    let rest = rest.trim_start_matches(char::is_whitespace);
    if !rest.starts_with('[') {
        return JsonArray::NotJson;
    }
    let mut s = Scanner {
        chars: rest.chars().collect(),
        pos: 1,
        overflow: false,
    };
    let mut strings = Vec::new();
    let mut first_non_string = None;
    s.skip_ws();
    if !s.eat(']') {
        loop {
            s.skip_ws();
            if s.eat('"') {
                match s.string() {
                    Some(v) => strings.push(v),
                    None => return JsonArray::NotJson,
                }
            } else {
                first_non_string.get_or_insert(strings.len());
                if s.skip_value().is_none() {
                    return JsonArray::NotJson;
                }
                strings.push(String::new());
            }
            s.skip_ws();
            match s.bump() {
                Some(',') => continue,
                Some(']') => break,
                _ => return JsonArray::NotJson,
            }
        }
    }
    s.skip_ws();
    if s.peek().is_some() || s.overflow {
        return JsonArray::NotJson;
    }
    match first_non_string {
        Some(i) => JsonArray::NotStrings(i),
        None => JsonArray::Strings(strings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> JsonArray {
        JsonArray::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn classifies_like_go() {
        assert_eq!(parse_array("[]"), strings(&[]));
        assert_eq!(parse_array(" [ \"a\" ,\t\"b\" ] "), strings(&["a", "b"]));
        assert_eq!(
            parse_array(r#"["\" \\ \/ \b \f \n \r \t \u0000"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \0"])
        );
        assert_eq!(
            parse_array(r#"["\ud83d\ude00", "\ud800x", "\udc00"]"#),
            strings(&["😀", "\u{FFFD}x", "\u{FFFD}"])
        );
        assert_eq!(parse_array("['a']"), JsonArray::NotJson);
        assert_eq!(parse_array("[\"a\""), JsonArray::NotJson);
        assert_eq!(parse_array("[\"a\"] x"), JsonArray::NotJson);
        assert_eq!(parse_array("[\"a\", [\"b\"]]"), JsonArray::NotStrings(1));
        assert_eq!(
            parse_array("[1, {\"a\": [null, true, -0.5e+3]}]"),
            JsonArray::NotStrings(0)
        );
        assert_eq!(parse_array("[1e999]"), JsonArray::NotJson);
        assert_eq!(parse_array("[01]"), JsonArray::NotJson);
        assert_eq!(parse_array("[\"a\",]"), JsonArray::NotJson);
        assert_eq!(parse_array("[\"\t\"]"), JsonArray::NotJson);
        assert_eq!(parse_array("x"), JsonArray::NotJson);
        let deep = format!("[{}{}]", "[".repeat(20_000), "]".repeat(20_000));
        assert_eq!(parse_array(&deep), JsonArray::NotJson);
    }
}

//! The expansion state machine: one pass over a word that removes quotes, applies escapes,
//! expands `$` forms and, at the same time, collects the whitespace-split words.
//!
//! The structure follows BuildKit's `shellWord` closely (a character scanner plus
//! `processStopOn`, `processSingleQuote`, `processDoubleQuote`, `processDollar`), because
//! the observable behaviour lives in its details: which characters an escape protects
//! inside double quotes, that the operand of `${v#p}` keeps its escapes for the pattern
//! compiler, that an operand is expanded (and its variables recorded) even when the
//! modifier then ignores it, and so on. One deliberate difference: each nested operand
//! collects its words in its own buffer. BuildKit shares one buffer across nesting levels,
//! so `ProcessWords("ab${X:-c}")` loses the `ab`; that is a bug, not a semantic.

use std::collections::BTreeSet;

use super::env::Env;
use super::pattern;
use super::unicode_class::{is_digit, is_letter};

/// An error inside the expander; `offset` is the byte position where it was detected.
#[derive(Debug)]
pub(crate) struct RawError {
    pub(crate) message: String,
    pub(crate) offset: usize,
}

/// The result of one expansion.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) word: String,
    pub(crate) words: Vec<String>,
    pub(crate) matched: BTreeSet<String>,
    pub(crate) unmatched: BTreeSet<String>,
}

/// A forward-only character cursor over the word (Go's `text/scanner` in `Next`/`Peek`
/// mode: a byte-order mark at the very start is skipped, nothing else is special).
struct Scanner<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(src: &'a str) -> Self {
        let pos = if src.starts_with('\u{feff}') { 3 } else { 0 };
        Scanner { src, pos }
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
}

/// Accumulates the split words (BuildKit's `wordsStruct`).
#[derive(Default)]
struct Words {
    current: String,
    done: Vec<String>,
}

impl Words {
    /// An unquoted, unescaped character: whitespace ends the current word.
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            self.flush();
        } else {
            self.current.push(c);
        }
    }

    /// A quoted or escaped character: always part of the word.
    fn add_raw_char(&mut self, c: char) {
        self.current.push(c);
    }

    /// The value of an unquoted expansion: split like unquoted text.
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    /// The content of a quoted string: never split.
    fn add_raw_string(&mut self, s: &str) {
        self.current.push_str(s);
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.flush();
        self.done
    }
}

/// One expansion run.
pub(crate) struct Expander<'a> {
    scanner: Scanner<'a>,
    env: &'a dyn Env,
    escape: char,
    raw_escapes: bool,
    /// Quotes are kept in the output (BuildKit's `RawQuotes`, for step names).
    raw_quotes: bool,
    /// An unset `$X` / `${X}` stays as written (BuildKit's `SkipUnsetEnv`, for step names).
    skip_unset: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
    /// Current `${...}` nesting depth; capped so hostile input cannot overflow the stack.
    depth: u32,
}

/// Deepest `${...${...}}` nesting accepted.
const MAX_DEPTH: u32 = 64;

/// Longest expanded word accepted (1 MiB). BuildKit has no limit, so `ARG a=${a}${a}` repeated
/// doubles a value until the builder runs out of memory; no real Dockerfile comes near this.
pub(crate) const MAX_EXPANDED: usize = 1 << 20;

type Res<T> = Result<T, RawError>;

impl<'a> Expander<'a> {
    pub(crate) fn new(word: &'a str, env: &'a dyn Env, escape: char) -> Self {
        Expander {
            scanner: Scanner::new(word),
            env,
            escape,
            raw_escapes: false,
            raw_quotes: false,
            skip_unset: false,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
            depth: 0,
        }
    }

    /// The form BuildKit shows a step in: quotes kept, unset variables left as written.
    pub(crate) fn for_display(mut self) -> Self {
        self.raw_quotes = true;
        self.skip_unset = true;
        self
    }

    /// Expand the whole word.
    pub(crate) fn run(mut self) -> Result<Outcome, RawError> {
        let (word, words) = self.process_stop_on(None, false)?;
        Ok(Outcome {
            word,
            words,
            matched: self.matched,
            unmatched: self.unmatched,
        })
    }

    /// Refuse an expansion that would grow past [`MAX_EXPANDED`].
    fn check_size(&self, len: usize) -> Res<()> {
        if len > MAX_EXPANDED {
            return self.error(format!(
                "the expanded value would be longer than {MAX_EXPANDED} bytes"
            ));
        }
        Ok(())
    }

    fn error<T>(&self, message: impl Into<String>) -> Res<T> {
        Err(RawError {
            message: message.into(),
            offset: self.scanner.pos,
        })
    }

    /// Process until `stop` (consumed) or, for `None`, the end of the word. With
    /// `raw_escapes`, escape tokens are kept in the output (pattern operands need them).
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Res<(String, Vec<String>)> {
        if self.depth >= MAX_DEPTH {
            return self.error(format!(
                "variable expansions nested more than {MAX_DEPTH} deep"
            ));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        result
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.scanner.peek() {
            if Some(c) == stop {
                self.scanner.next();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.process_dollar()?;
                    self.check_size(result.len() + value.len())?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '\'' => {
                    let value = self.process_single_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' => {
                    let value = self.process_double_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.scanner.next();
                    if c == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        // An escape token at the very end is dropped.
                        let Some(escaped) = self.scanner.next() else {
                            break;
                        };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return self.error(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    /// `'...'`: everything literal, no escapes at all.
    fn process_single_quote(&mut self) -> Res<String> {
        self.scanner.next();
        let mut result = String::new();
        if self.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.scanner.next() {
                None => {
                    return self.error(
                        "unexpected end of statement while looking for matching single-quote",
                    );
                }
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    /// `"..."`: `$` expands; the escape token only escapes `"`, `$` and itself (otherwise
    /// it stays), and one at the end of the word is dropped.
    fn process_double_quote(&mut self) -> Res<String> {
        self.scanner.next();
        let mut result = String::new();
        if self.raw_quotes {
            result.push('"');
        }
        loop {
            match self.scanner.peek() {
                None => {
                    return self.error(
                        "unexpected end of statement while looking for matching double-quote",
                    );
                }
                Some('"') => {
                    self.scanner.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    self.check_size(result.len() + value.len())?;
                    result.push_str(&value);
                }
                Some(c) => {
                    self.scanner.next();
                    let mut out = c;
                    if c == self.escape {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.scanner.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.scanner.next();
                                out = n;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(out);
                }
            }
        }
    }

    /// `$name`, `${name}` and `${name<modifier>...}`.
    fn process_dollar(&mut self) -> Res<String> {
        self.scanner.next();
        if self.scanner.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            let (value, set) = self.get_env(&name);
            if !set && self.skip_unset {
                return Ok(format!("${name}"));
            }
            return Ok(value);
        }
        self.scanner.next();
        match self.scanner.peek() {
            None => return self.error("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return self.error("syntax error: bad substitution"),
            Some(_) => {}
        }
        let name = self.process_name();
        let ch = self.scanner.next();
        match ch {
            Some('}') => {
                let (value, set) = self.get_env(&name);
                if !set && self.skip_unset {
                    return Ok(format!("${{{name}}}"));
                }
                Ok(value)
            }
            Some(':') => {
                let modifier = self.scanner.next();
                self.process_modifier(&name, modifier, true)
            }
            Some('+' | '-' | '?' | '#' | '%') => self.process_modifier(&name, ch, false),
            Some('/') => self.process_replace(&name),
            _ => self.error(format!(
                "unsupported modifier ({}) in substitution",
                show(ch)
            )),
        }
    }

    /// The `-`, `+`, `?`, `#`, `%` forms (`colon`: the `:` variants, where empty counts as
    /// unset; `:#` and `:%` do not exist).
    fn process_modifier(&mut self, name: &str, modifier: Option<char>, colon: bool) -> Res<String> {
        let spelled = format!("{}{}", if colon { ":" } else { "" }, show(modifier));
        let raw = matches!(modifier, Some('#' | '%'));
        if colon && raw {
            return self.error(format!("unsupported modifier ({spelled}) in substitution"));
        }
        let word = self.operand(Some('}'), raw, "syntax error: missing '}'")?;
        let (value, set) = self.get_env(name);
        let unset = !set || (colon && value.is_empty());
        match modifier {
            Some('-') => Ok(if unset { word } else { value }),
            Some('+') => Ok(if unset { String::new() } else { word }),
            Some('?') => {
                if !set || unset {
                    let default = if set {
                        "is not allowed to be empty"
                    } else {
                        "is not allowed to be unset"
                    };
                    let message = if word.is_empty() { default } else { &word };
                    return self.error(format!("{name}: {message}"));
                }
                Ok(value)
            }
            Some(m @ ('#' | '%')) => {
                let (pattern, greedy) = match word.strip_prefix(m) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                let trimmed = if m == '%' {
                    pattern::trim_suffix(pattern, &value, greedy)
                } else {
                    pattern::trim_prefix(pattern, &value, greedy)
                };
                trimmed.or_else(|e| self.error(e))
            }
            _ => self.error(format!("unsupported modifier ({spelled}) in substitution")),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn process_replace(&mut self, name: &str) -> Res<String> {
        let all = self.scanner.peek() == Some('/');
        if all {
            self.scanner.next();
        }
        let pattern = self.operand(Some('/'), true, "syntax error: missing '/' in ${}")?;
        let replacement = self.operand(Some('}'), true, "syntax error: missing '}'")?;
        let (value, _) = self.get_env(name);
        pattern::replace(&pattern, &value, &replacement, all).or_else(|e| self.error(e))
    }

    /// Expand a modifier operand; a failure at the end of the word becomes `at_eof`.
    fn operand(&mut self, stop: Option<char>, raw: bool, at_eof: &str) -> Res<String> {
        match self.process_stop_on(stop, raw) {
            Ok((word, _)) => Ok(word),
            Err(e) if self.scanner.peek().is_none() => Err(RawError {
                message: at_eof.to_string(),
                offset: e.offset,
            }),
            Err(e) => Err(e),
        }
    }

    /// A variable name: a run of digits (positional parameter), one special-parameter
    /// character, or letters/digits/underscores.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.scanner.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.scanner.peek().filter(|&d| is_digit(d)) {
                    self.scanner.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && is_special_param(c) {
                self.scanner.next();
                name.push(c);
                return name;
            }
            if !is_letter(c) && !is_digit(c) && c != '_' {
                break;
            }
            self.scanner.next();
            name.push(c);
        }
        name
    }

    /// Look a name up, recording whether it was found. Unset reads as `""`.
    fn get_env(&mut self, name: &str) -> (String, bool) {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                (v.to_string(), true)
            }
            None => {
                self.unmatched.insert(name.to_string());
                (String::new(), false)
            }
        }
    }
}

/// POSIX special parameters; they are never set in a Dockerfile, so they expand to empty.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// A scanned character for messages (Go prints U+FFFD for end of input).
fn show(c: Option<char>) -> String {
    c.unwrap_or('\u{fffd}').to_string()
}

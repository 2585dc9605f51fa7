//! Shell-word expansion as BuildKit's `shell.Lex` does it (`$v`, `${v:-w}`, `${v#p}`, quotes,
//! escapes), used for every Dockerfile word that is expanded at build-plan time.
//!
//! A Dockerfile never runs a shell to expand `FROM`, `COPY`, `ENV`, `WORKDIR`, ... words:
//! BuildKit has its own small, POSIX-flavoured expander, and a build must expand them the
//! same way to resolve the same images and paths. This module reproduces its behaviour,
//! quirks included, and is checked against BuildKit's own data files
//! (`tests/conformance_shell.rs`).
//!
//! Supported: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?e}`, `${v?e}`,
//! `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`, `${v/p/r}`, `${v//p/r}` with expansions nested in
//! the operands; single quotes (literal), double quotes (expansion; the escape token only
//! escapes `"`, `$` and itself), the escape token (`\` or `` ` ``) outside quotes; special
//! and positional parameters (`$#`, `$1`, `${2}`, ...), which are never set; a `$` that
//! cannot start a name stays literal. Patterns support `*` and `?` only — see
//! [`pattern`](self) for why `[` is literal.
//!
//! Not supported, as in BuildKit: command substitution, arithmetic, `${#v}`, `${v:=w}`,
//! `${v:offset}`. BuildKit's `RawQuotes`/`SkipUnsetEnv` modes (used only by its linter)
//! are not implemented.

mod env;
mod expand;
mod pattern;
mod unicode_class;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use env::Env;

/// A failed expansion: unterminated quote, malformed `${...}`, a failing `${v?msg}`
/// (the message then contains `msg`), or an invalid `${v#p}`-style pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ShellError {
    /// Human-readable message, worded like BuildKit's (`failed to process "<word>": ...`).
    pub message: String,
    /// The problem alone, without the word (for callers that show the word themselves).
    pub cause: String,
    /// Byte offset in the word where the problem was detected.
    pub offset: Option<usize>,
}

/// Everything one expansion produces; see [`Lexer::process_word_detailed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed and variables expanded, not split.
    pub word: String,
    /// The same, split on unquoted whitespace.
    pub words: Vec<String>,
    /// Names that were looked up and found in the environment.
    pub matched: BTreeSet<String>,
    /// Names that were looked up and not found.
    pub unmatched: BTreeSet<String>,
}

/// A word expander with a fixed escape token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// `escape` is the Dockerfile's escape token, `\` or `` ` ``.
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// The escape token this lexer uses.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// One word: quotes removed, escapes applied, variables expanded, no splitting.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        if self.is_literal(word) {
            return Ok(word.to_string());
        }
        Ok(self.process_word_detailed(word, env)?.word)
    }

    /// Expansion plus splitting on unquoted whitespace (incl. whitespace from unquoted
    /// variable values). Empty words are dropped, so `""` alone gives no word.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        Ok(self.process_word_detailed(word, env)?.words)
    }

    /// Like [`process_word`](Self::process_word) but also returns the names of the
    /// variables the word referenced *and found in `env`* (BuildKit's
    /// `ProcessWordWithMatches` `Matched` set) — used to track which build ARGs a step
    /// uses. Names are recorded even when a modifier then ignores the operand they were in
    /// (`${A:-$B}` with `A` set still records `B`), exactly as BuildKit does.
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<(String, BTreeSet<String>), ShellError> {
        if self.is_literal(word) {
            return Ok((word.to_string(), BTreeSet::new()));
        }
        let e = self.process_word_detailed(word, env)?;
        Ok((e.word, e.matched))
    }

    /// A step's text as BuildKit shows it (`processCmdEnv` with `RawQuotes` and
    /// `SkipUnsetEnv`): variables the step sees expanded, quotes kept, unset variables left
    /// as written; the text itself when it does not expand.
    pub fn display(&self, text: &str, env: &dyn Env) -> String {
        if !text.contains(['$', self.escape]) {
            return text.to_string();
        }
        match expand::Expander::new(text, env, self.escape)
            .for_display()
            .run()
        {
            Ok(o) => o.word,
            Err(_) => text.to_string(),
        }
    }

    /// True when `word` has nothing to expand, unquote or unescape: it is its own result.
    /// (Most Dockerfile words are like this; they skip the expander entirely.)
    fn is_literal(&self, word: &str) -> bool {
        !word.contains(['$', '\'', '"', self.escape, '\u{feff}'])
    }

    /// The full result of one expansion: word, split words, matched and unmatched names.
    pub fn process_word_detailed(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<Expansion, ShellError> {
        match expand::Expander::new(word, env, self.escape).run() {
            Ok(o) => Ok(Expansion {
                word: o.word,
                words: o.words,
                matched: o.matched,
                unmatched: o.unmatched,
            }),
            Err(e) => Err(ShellError {
                message: format!("failed to process {word:?}: {}", e.message),
                cause: e.message,
                offset: Some(e.offset),
            }),
        }
    }
}

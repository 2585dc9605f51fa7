//! The frontend's one error type. Every error names a place in the Dockerfile (a [`Span`]) so the
//! CLI can print `file:line:col`, the line itself with a caret, and a suggested fix.

use crate::parser::Span;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}: {message}", span.start_line)]
pub struct Error {
    pub message: String,
    pub span: Span,
    /// 0-based byte column on `span.start_line` the caret should point at, when known.
    pub column: Option<usize>,
    /// A short fix hint ("did you mean `COPY`?").
    pub help: Option<String>,
    /// Lint findings made before the error (BuildKit reports them with it).
    pub lint: Vec<crate::lint::LintWarning>,
}

impl Error {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            span,
            column: None,
            help: None,
            lint: Vec::new(),
        }
    }

    pub fn at_column(mut self, column: usize) -> Self {
        self.column = Some(column);
        self
    }

    /// A typo's likely meaning, written into the message as BuildKit writes it
    /// (`unknown flag: --mont (did you mean mount?)`): CI scripts grep for that text.
    pub fn with_suggestion(mut self, word: &str) -> Self {
        self.message = format!("{} (did you mean {word}?)", self.message);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The closest candidate by edit distance, if it is close enough to be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `prev[j]`: the distance between the part of `a` read so far and the first `j` of `b`.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        let mut left = i + 1;
        cur.push(left);
        // `diag` is `prev[j]`, `up` is `prev[j + 1]` and `left` is `cur[j]`.
        for ((cb, diag), up) in b.iter().zip(&prev).zip(prev.iter().skip(1)) {
            let cost = usize::from(ca != *cb);
            left = (diag + cost).min(up + 1).min(left + 1);
            cur.push(left);
        }
        prev = cur;
    }
    // `prev` always holds `b.len() + 1` distances; the last is to all of `b`.
    prev.last().copied().unwrap_or(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keywords() {
        assert_eq!(suggest("COPPY", ["COPY", "RUN", "FROM"]), Some("COPY"));
        assert_eq!(suggest("XYZZY", ["COPY", "RUN", "FROM"]), None);
    }
}

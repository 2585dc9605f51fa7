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
}

impl Error {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            span,
            column: None,
            help: None,
        }
    }

    pub fn at_column(mut self, column: usize) -> Self {
        self.column = Some(column);
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

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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

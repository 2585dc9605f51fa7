//! `.dockerignore` matching with moby/patternmatcher's exact semantics.
//!
//! Which files reach the build is part of the cache key, so cairn must exclude exactly the
//! files Docker/BuildKit would. No Rust glob crate behaves like patternmatcher (which is a
//! Go-regex rewrite of the pattern with its own quirks), so this module reimplements it:
//!
//! * patterns are trimmed, empty ones dropped, then cleaned like Go `filepath.Clean`;
//! * a leading `!` makes an exclusion (re-inclusion); a bare `!` is an error;
//! * a pattern must be valid for Go's `filepath.Match` (`glob::validate`);
//! * `*` and `?` never cross `/`, `[...]`/`[^...]` are classes (`[!...]` is **not**
//!   negation), `\` escapes, `**` spans any number of segments, a leading `**name` is a
//!   suffix match, and `dir/**` matches below `dir` but not `dir` itself;
//! * patterns apply in order and the last one that applies decides; upstream only tests
//!   exclusions while the path is currently matched and inclusions while it is not, and
//!   so do we (it changes which pattern errors surface).
//!
//! The submodules: `path` (Go path cleaning), `glob` (validation and translation),
//! `regex` (the RE2 subset the translation produces) and [`file`] (reading the file and
//! choosing which one applies).

mod file;
mod glob;
mod path;
mod regex;

pub use file::{ignore_file_candidates, read_ignore_file};
/// Go's `filepath.Clean`, shared with the selection code.
pub(crate) use path::clean as clean_path;

use glob::Matcher;

/// Why a pattern list could not be built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A pattern that is only `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// Not a valid `filepath.Match` pattern, or its regex form is invalid (upstream's
    /// `filepath.ErrBadPattern`, "syntax error in pattern").
    #[error("syntax error in pattern: {pattern:?}")]
    BadPattern {
        /// The cleaned pattern (without `!`).
        pattern: String,
    },
    /// [`IgnoreMatcher::matches_using_parent`] got a [`MatchInfo`] from another matcher.
    #[error("wrong number of values in parentMatched")]
    WrongParentInfo,
}

/// One cleaned pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    original: String,
    text: String,
    exclusion: bool,
    matcher: Matcher,
    segments: usize,
}

impl Pattern {
    /// The pattern as it was given (before trimming and cleaning).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The cleaned pattern without its `!` (upstream's `Pattern.String()`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True for a `!` (re-inclusion) pattern.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn bad(&self) -> PatternError {
        PatternError::BadPattern {
            pattern: self.text.clone(),
        }
    }

    /// Does this pattern match exactly `path`?
    fn matches_path(&self, path: &str) -> Result<bool, PatternError> {
        Ok(match &self.matcher {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Matcher::Regex(re) => re.is_match(path),
            Matcher::Bad => return Err(self.bad()),
        })
    }

    /// Does this pattern match `path` or one of the ancestors listed in `parents`?
    /// Errors from ancestor checks are ignored, as upstream does.
    fn matches_path_or_parent(&self, path: &str, parents: &[String]) -> Result<bool, PatternError> {
        if self.matches_path(path)? {
            return Ok(true);
        }
        Ok(parents
            .iter()
            .any(|p| self.matches_path(p).unwrap_or(false)))
    }
}

/// Per-pattern results for a directory, handed to its children while walking a tree.
/// The default value means "no information" (e.g. for the context root's entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// A compiled `.dockerignore` pattern list.
#[derive(Debug, Clone)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl IgnoreMatcher {
    /// Compile `patterns` (as returned by [`read_ignore_file`], or raw lines).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(
        patterns: I,
    ) -> Result<Self, PatternError> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for original in patterns {
            let original = original.as_ref();
            let trimmed = original.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = path::clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(PatternError::IllegalExclusion),
                Some(rest) => (true, rest.to_string()),
                None => (false, cleaned),
            };
            exclusions |= exclusion;
            if !glob::validate(&text) {
                return Err(PatternError::BadPattern { pattern: text });
            }
            out.push(Pattern {
                original: original.to_string(),
                matcher: glob::compile(&text),
                segments: text.split('/').count(),
                text,
                exclusion,
            });
        }
        Ok(IgnoreMatcher {
            patterns: out,
            exclusions,
        })
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// True when some exclusion (`!`) pattern exists — the walker must then descend into
    /// ignored directories, because something below them may be re-included.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Upstream `MatchesOrParentMatches`: is `path` (relative to the context root,
    /// `/`-separated, not cleaned) ignored? A pattern applies when it matches the path or
    /// any of its ancestor directories.
    pub fn matches(&self, path: &str) -> Result<bool, PatternError> {
        let parents = ancestors(path);
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            if p.matches_path_or_parent(path, &parents)? {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }

    /// Upstream `MatchesUsingParentResults`: the incremental form used while walking a
    /// tree. Pass the [`MatchInfo`] returned for the parent directory (or the default
    /// value when there is none); the returned one is for this path's children.
    pub fn matches_using_parent(
        &self,
        path: &str,
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), PatternError> {
        let parent_matched = &parent.parent_matched;
        if !parent_matched.is_empty() && parent_matched.len() != self.patterns.len() {
            return Err(PatternError::WrongParentInfo);
        }
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut parents: Option<Vec<String>> = None;
        let slots = info.parent_matched.iter_mut();
        for (i, (p, slot)) in self.patterns.iter().zip(slots).enumerate() {
            let mut hit = parent_matched.get(i).copied().unwrap_or(false);
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = if parent_matched.is_empty() {
                    let parents = parents.get_or_insert_with(|| ancestors(path));
                    p.matches_path_or_parent(path, parents)?
                } else {
                    p.matches_path(path)?
                };
            }
            *slot = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        Ok((matched, info))
    }

    /// Upstream's deprecated package-level `Matches`: the path is cleaned first, `.` never
    /// matches, and a pattern applies when it matches the path or the path's ancestor with
    /// as many segments as the pattern has (so `a*` matches `ab/c`, `a*/b` not `a/c/b`).
    pub fn matches_legacy(&self, path: &str) -> Result<bool, PatternError> {
        let file = path::clean(path);
        if file == "." {
            return Ok(false);
        }
        let parent = path::dir(&file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches_path(&file)?;
            if !hit
                && parent != "."
                && let Some(dirs) = parent_dirs.get(..p.segments)
            {
                let prefix = dirs.join("/");
                hit = p.matches_path(&prefix).unwrap_or(false);
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }
}

/// The ancestor directories checked for `path`: `a`, `a/b` for `a/b/c` (none when the
/// parent is `.`). Built from Go's `filepath.Dir`, so `a/b/` has ancestors `a`, `a/b`.
fn ancestors(path: &str) -> Vec<String> {
    let parent = path::dir(path);
    if parent == "." {
        return Vec::new();
    }
    // `a`, `a/b`, ...: each one the last with `/` and the next directory added.
    let mut prefix = String::with_capacity(parent.len());
    parent
        .split('/')
        .enumerate()
        .map(|(n, dir)| {
            if n > 0 {
                prefix.push('/');
            }
            prefix.push_str(dir);
            prefix.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests;

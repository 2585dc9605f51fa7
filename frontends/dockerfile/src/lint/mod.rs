//! Dockerfile lint checks, as BuildKit's frontend runs them (`docker build` prints their
//! warnings; `--check` runs only them): the rules in [`rules`], configured by the
//! `# check=skip=…;error=true;experimental=…` directive or the `BUILDKIT_DOCKERFILE_CHECK`
//! build arg (which replaces the directive), and by a `# check=…` comment right above an
//! instruction for that instruction alone.
//!
//! Where each rule is checked: the whole file ([`file_rules`]: casing, stage names,
//! MAINTAINER, empty continuations, description comments, base names under default args);
//! every stage's FROM and the instructions of the stages a build lowers (lowering calls
//! [`Linter::run`]). The frontend only collects warnings; the CLI shows them.

pub mod file;
pub mod rules;

pub use file::file_rules;
pub use rules::Rule;

use crate::parser::Span;
use serde::Serialize;
use std::collections::BTreeSet;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintWarning {
    pub rule: &'static str,
    pub description: &'static str,
    pub url: &'static str,
    /// What was found, BuildKit's message (`Stage name 'Foo' should be lowercase`).
    pub detail: String,
    pub span: Span,
}

impl LintWarning {
    /// BuildKit's one-line form: `Rule: detail (line N)`.
    pub fn short(&self) -> String {
        format!(
            "{}: {} (line {})",
            self.rule, self.detail, self.span.start_line
        )
    }
}

/// Which rules run, and whether a finding fails the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintConfig {
    pub skip_all: bool,
    pub skip: BTreeSet<String>,
    pub experimental_all: bool,
    pub experimental: BTreeSet<String>,
    pub error: bool,
}

impl LintConfig {
    /// Parse a `check=` value (`skip=A,B;error=true;experimental=all`), with BuildKit's errors.
    pub fn parse(s: &str) -> Result<LintConfig, String> {
        let s = s.trim();
        let mut c = LintConfig::default();
        if s.is_empty() {
            return Ok(c);
        }
        let list =
            |v: &str| -> BTreeSet<String> { v.split(',').map(|r| r.trim().to_string()).collect() };
        for part in s.splitn(3, ';') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("invalid check option {part:?}"))?;
            match k.trim() {
                "skip" if v.trim() == "all" => c.skip_all = true,
                "skip" => c.skip = list(v.trim()),
                "experimental" if v.trim() == "all" => c.experimental_all = true,
                "experimental" => c.experimental = list(v.trim()),
                "error" => {
                    c.error = match v.trim() {
                        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                        other => {
                            return Err(format!(
                                "failed to parse check option {part:?}: invalid syntax {other:?}"
                            ));
                        }
                    }
                }
                other => return Err(format!("invalid check option {other:?}")),
            }
        }
        Ok(c)
    }

    /// This configuration with `other`'s skips and experiments added (a `# check=` comment
    /// above one instruction).
    fn merged(&self, other: &LintConfig) -> LintConfig {
        let mut c = self.clone();
        c.skip_all |= other.skip_all;
        c.skip.extend(other.skip.iter().cloned());
        c.experimental_all |= other.experimental_all;
        c.experimental.extend(other.experimental.iter().cloned());
        c
    }

    fn enabled(&self, rule: &Rule) -> bool {
        if rule.experimental {
            self.experimental_all || self.experimental.contains(rule.name)
        } else {
            !(self.skip_all || self.skip.contains(rule.name))
        }
    }
}

/// Collects the warnings of one Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct Linter {
    pub config: LintConfig,
    warnings: Vec<LintWarning>,
}

impl Linter {
    pub fn new(config: LintConfig) -> Linter {
        Linter {
            config,
            warnings: Vec::new(),
        }
    }

    /// Record a finding of `rule` on `span` unless the configuration — with the `# check=`
    /// comment above the instruction, if any — turns the rule off. A finding already recorded
    /// (the same rule, line and message: a stage lowered twice) is not repeated.
    pub fn run(&mut self, rule: &Rule, span: Span, comments: &[String], detail: String) {
        let config = match comments.iter().find_map(|c| check_comment(c)) {
            Some(extra) => self.config.merged(&extra),
            None => self.config.clone(),
        };
        if !config.enabled(rule) {
            return;
        }
        let w = LintWarning {
            rule: rule.name,
            description: rule.description,
            url: rule.url,
            detail,
            span,
        };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// The warnings, by line, then message.
    pub fn warnings(&self) -> Vec<LintWarning> {
        let mut out = self.warnings.clone();
        out.sort_by(|a, b| (a.span.start_line, &a.detail).cmp(&(b.span.start_line, &b.detail)));
        out
    }

    /// With `error=true` and any finding: BuildKit's error.
    pub fn error(&self) -> Option<String> {
        if !self.config.error || self.warnings.is_empty() {
            return None;
        }
        let rules: BTreeSet<&str> = self.warnings.iter().map(|w| w.rule).collect();
        Some(format!(
            "lint violation found for rules: {}",
            rules.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// BuildKit's `suggest.Search`: the first option closest to `val` (case-sensitive), if fewer
/// than 3 edits away and not `val` itself.
pub fn suggest<'a>(val: &str, options: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best = None;
    let mut min = 3;
    for o in options {
        if o == val {
            return None;
        }
        let d = crate::error::levenshtein(val, o);
        if d < min {
            min = d;
            best = Some(o);
        }
    }
    best
}

/// The configuration a `check=` comment (`# check=skip=…`, comment text without `#`) gives.
fn check_comment(comment: &str) -> Option<LintConfig> {
    let (k, v) = comment.split_once('=')?;
    if !k.trim().eq_ignore_ascii_case("check") || k.trim().contains(char::is_whitespace) {
        return None;
    }
    let v = v.split(' ').next().unwrap_or_default();
    LintConfig::parse(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_options_parse_as_buildkit_parses_them() {
        let c = LintConfig::parse("skip=A, B;error=true;experimental=all").expect("parse");
        assert!(c.skip.contains("A") && c.skip.contains("B") && c.error && c.experimental_all);
        assert!(LintConfig::parse("skip=all").expect("parse").skip_all);
        assert!(LintConfig::parse("nonsense").is_err());
        assert!(LintConfig::parse("foo=bar").is_err());
        assert!(LintConfig::parse("error=maybe").is_err());
    }

    #[test]
    fn skipped_experimental_and_commented_rules() {
        let mut l = Linter::new(LintConfig::parse("skip=StageNameCasing").expect("parse"));
        let span = Span::line(1);
        l.run(&rules::STAGE_NAME_CASING, span, &[], "x".into());
        l.run(
            &rules::INVALID_DEFINITION_DESCRIPTION,
            span,
            &[],
            "x".into(),
        );
        l.run(
            &rules::FROM_AS_CASING,
            span,
            &["check=skip=FromAsCasing".into()],
            "x".into(),
        );
        assert!(l.warnings().is_empty());
        l.run(&rules::FROM_AS_CASING, span, &[], "x".into());
        l.run(&rules::FROM_AS_CASING, span, &[], "x".into());
        assert_eq!(l.warnings().len(), 1);
        assert_eq!(l.error(), None);
        l.config.error = true;
        assert_eq!(
            l.error().as_deref(),
            Some("lint violation found for rules: FromAsCasing")
        );
    }
}

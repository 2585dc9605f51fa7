//! Where lowering checks BuildKit's lint rules ([`crate::lint`]): every stage's FROM line
//! (undeclared args, `--platform` values, base names under the default args), and the
//! instructions of each stage lowered (undefined variables, legacy ENV/LABEL, secrets in
//! ARG/ENV, shell-form CMD/ENTRYPOINT, repeated CMD/ENTRYPOINT/HEALTHCHECK, relative WORKDIR,
//! EXPOSE formats, COPY of ignored files).

use super::dispatch::{Lowerer, StageState};
use crate::lint::{Rule, rules};
use crate::parser::Span;
use std::collections::BTreeSet;

impl Lowerer<'_> {
    /// Record a finding on `span`, with the `# check=` comment of the instruction being
    /// lowered.
    pub(super) fn lint(&mut self, rule: &Rule, span: Span, detail: String) {
        let comments = std::mem::take(&mut self.comments);
        self.linter.run(rule, span, &comments, detail);
        self.comments = comments;
    }

    /// The FROM lines of every stage, as BuildKit checks them whatever the target.
    pub(super) fn lint_from_lines(&mut self) {
        let declared: BTreeSet<String> = self
            .df
            .global_args
            .iter()
            .map(|(d, _)| d.name.clone())
            .chain(self.global.iter().map(|(k, _)| k.clone()))
            .collect();
        let default_args = self.default_global_args();
        for stage in &self.df.stages {
            self.comments = stage.comments.clone();
            let span = stage.span;
            // InvalidDefaultArgInFrom: the base name with no build arg given.
            if let Ok(e) = self
                .lex
                .process_word_detailed(&stage.from.image, &default_args)
                && cairn_ir::Reference::parse(&e.word).is_err()
                && !e.word.eq_ignore_ascii_case("scratch")
            {
                self.lint(
                    &rules::INVALID_DEFAULT_ARG_IN_FROM,
                    span,
                    format!(
                        "Default value for ARG {} results in empty or invalid base image name",
                        stage.from.image
                    ),
                );
            }
            if let Ok(e) = self
                .lex
                .process_word_detailed(&stage.from.image, &self.global)
            {
                self.undeclared_in_from(&e.unmatched, &declared, span);
            }
            let Some(platform) = &stage.from.platform else {
                continue;
            };
            let Ok(e) = self.lex.process_word_detailed(platform, &self.global) else {
                continue;
            };
            self.undeclared_in_from(&e.unmatched, &declared, span);
            if e.matched.len() == 1
                && e.unmatched.is_empty()
                && e.matched.contains("TARGETPLATFORM")
                && self.global.get("TARGETPLATFORM") == Some(e.word.as_str())
            {
                self.lint(
                    &rules::REDUNDANT_TARGET_PLATFORM,
                    span,
                    format!(
                        "Setting platform to predefined {platform} in FROM is redundant as this is the default behavior"
                    ),
                );
            }
            if e.matched.is_empty()
                && e.unmatched.is_empty()
                && let Some(p) = cairn_ir::Platform::parse(&e.word)
            {
                let name = stage.from.alias.as_deref().unwrap_or_default();
                if !name.contains(&p.os) && !name.contains(&p.architecture) {
                    self.lint(
                        &rules::FROM_PLATFORM_FLAG_CONST_DISALLOWED,
                        span,
                        format!(
                            "FROM --platform flag should not use constant value {:?}",
                            e.word
                        ),
                    );
                }
            }
        }
        self.comments.clear();
    }

    fn undeclared_in_from(
        &mut self,
        unmatched: &BTreeSet<String>,
        declared: &BTreeSet<String>,
        span: Span,
    ) {
        for arg in unmatched.iter().filter(|a| !declared.contains(*a)) {
            let suggestion = crate::lint::suggest(arg, declared.iter().map(String::as_str));
            let hint = suggestion
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            self.lint(
                &rules::UNDEFINED_ARG_IN_FROM,
                span,
                format!("FROM argument '{arg}' is not declared{hint}"),
            );
        }
    }

    /// The global args as if no build arg were given: platform args and ARG defaults.
    fn default_global_args(&self) -> super::args::Vars {
        let mut vars = super::args::Vars::from_pairs(super::args::platform_args(
            &self.opts.target_platform,
            &self.opts.build_platform,
            super::dispatch::target_stage_name(self.df, self.opts).as_deref(),
        ));
        for (decl, _) in &self.df.global_args {
            if let Some(d) = &decl.default
                && let Ok(v) = self.lex.process_word(d, &vars)
            {
                vars.set(&decl.name, v);
            }
        }
        vars
    }

    /// UndefinedVar: names a stage's expansion looked up and found neither in its ENV nor
    /// among its ARGs (declared with or without a value).
    pub(super) fn lint_unmatched(
        &mut self,
        st: &StageState,
        unmatched: &BTreeSet<String>,
        span: Span,
    ) {
        for name in unmatched.iter().filter(|n| !st.declared.contains(*n)) {
            let options: Vec<String> = st
                .config
                .env
                .iter()
                .map(|kv| {
                    kv.split_once('=')
                        .map_or(kv.as_str(), |(k, _)| k)
                        .to_string()
                })
                .chain(st.args.iter().map(|(k, _)| k.clone()))
                .collect();
            let suggestion = crate::lint::suggest(name, options.iter().map(String::as_str));
            let hint = suggestion
                .map(|s| format!(" (did you mean ${s}?)"))
                .unwrap_or_default();
            self.lint(
                &rules::UNDEFINED_VAR,
                span,
                format!("Usage of undefined variable '${name}'{hint}"),
            );
        }
    }

    /// SecretsUsedInArgOrEnv: a name that looks like a credential.
    pub(super) fn lint_secret_name(&mut self, instruction: &str, key: &str, span: Span) {
        const DENY: [&str; 10] = [
            "apikey",
            "auth",
            "credential",
            "credentials",
            "key",
            "password",
            "pword",
            "passwd",
            "secret",
            "token",
        ];
        const ALLOW: [&str; 3] = ["public", "file", "version"];
        // `(?i)(?:_|^)(?:token)(?:_|$)`: the whole name, or its first or last `_` part.
        let has = |list: &[&str]| {
            let lower = key.to_ascii_lowercase();
            let first = lower.split('_').next().unwrap_or_default().to_string();
            let last = lower.rsplit('_').next().unwrap_or_default().to_string();
            list.iter()
                .any(|t| lower == *t || first == *t || last == *t)
        };
        if has(&DENY) && !has(&ALLOW) {
            self.lint(
                &rules::SECRETS_USED_IN_ARG_OR_ENV,
                span,
                format!(
                    "Do not use ARG or ENV instructions for sensitive data ({instruction} {key:?})"
                ),
            );
        }
    }

    /// CopyIgnoredFile: a COPY/ADD source from the build context that `.dockerignore`
    /// excludes (not judged when the patterns have exclusions: `!` re-includes can't be
    /// resolved without the files).
    pub(super) fn lint_ignored_source(&mut self, add: bool, src: &str, span: Span) {
        let patterns = &self.opts.ignore_patterns;
        let matcher = self.ignore_matcher.get_or_insert_with(|| {
            cairn_context::IgnoreMatcher::new(patterns)
                .ok()
                .filter(|m| !patterns.is_empty() && !m.has_exclusions())
        });
        let Some(matcher) = matcher.as_ref() else {
            return;
        };
        let cleaned = super::dispatch::clean_path(&format!("/{src}"));
        let rel = cleaned.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        if rel == "." {
            let root_ignored = matcher
                .patterns()
                .iter()
                .any(|p| !p.is_exclusion() && matches!(p.original(), "*" | "**" | "**/*"));
            if !root_ignored {
                return;
            }
        }
        // Matched itself, or through a parent directory.
        let mut path = rel.to_string();
        let ignored = loop {
            if matcher.matches(&path).unwrap_or(false) {
                break true;
            }
            match path.rsplit_once('/') {
                Some((parent, _)) => path = parent.to_string(),
                None => break false,
            }
        };
        if ignored {
            let cmd = if add { "Add" } else { "Copy" };
            // Go's `filepath.Clean` of what was written.
            let shown = if src.starts_with('/') {
                cleaned.clone()
            } else {
                rel.to_string()
            };
            self.lint(
                &rules::COPY_IGNORED_FILE,
                span,
                format!("Attempting to {cmd} file {shown:?} that is excluded by .dockerignore"),
            );
        }
    }
}

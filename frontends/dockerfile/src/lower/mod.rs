//! Lowering: typed Dockerfile stages to a cairn IR [`Graph`].
//!
//! Design notes:
//!
//! * **Only what the target needs.** Stages are lowered on demand, starting from the target stage
//!   and following `FROM <stage>`, `COPY --from` and `RUN --mount=from=` edges; a stage nobody
//!   reaches is never lowered, so it cannot change a digest or fail the build. A stage reached
//!   while it is being lowered is a cycle, reported with both lines.
//! * **One context source.** Every COPY/ADD/bind mount from the build context refers to the same
//!   `Local` source vertex; the *selector* on the copy (its `src` path and excludes) says which
//!   files it reads. The solver hashes only the selected files, so a COPY depends only on the files
//!   it names.
//! * **No I/O.** Base-image configuration (ENV, WORKDIR, ONBUILD of the base) comes through the
//!   [`ImageResolver`] trait, implemented by the caller (the CLI reads its store); `.dockerignore`
//!   patterns arrive in [`LowerOptions`].
//! * **Build args invalidate from first use.** An `ARG` creates no vertex. Its value reaches RUN
//!   steps as an environment variable (as in `docker build`) and other instructions only if a word
//!   expands it, so a changed value re-runs nothing before that point.

mod args;
mod copy;
mod dispatch;
mod history;
mod lint_hooks;
mod meta;
mod run;

use crate::error::{Error, Result};
use crate::instructions::Dockerfile;
use cairn_ir::{Graph, Platform};
use std::collections::BTreeMap;

pub use args::PROXY_ARGS;

pub use cairn_ir::resolve::{ImageResolver, NoResolver, ResolveError, ResolvedImage};

#[derive(Debug, Clone)]
pub struct LowerOptions {
    /// Stage to build; the last stage when `None`.
    pub target: Option<String>,
    /// `--build-arg` values. A name given without a value takes it from `env_args`.
    pub build_args: BTreeMap<String, String>,
    /// The platform the result is for (`TARGETPLATFORM`, the default of `FROM`).
    pub target_platform: Platform,
    /// The platform of the machine the steps run on (`BUILDPLATFORM`): a stage of another
    /// platform runs its steps emulated. Both default to [`Platform::host`].
    pub build_platform: Platform,
    /// `.dockerignore` patterns, applied to the context source.
    pub ignore_patterns: Vec<String>,
    /// Name of the Dockerfile, for vertex metadata.
    pub dockerfile_name: String,
    /// Escape token of the Dockerfile (from its `# escape=` directive).
    pub escape: char,
    /// Network of RUN steps that do not say `--network` (`cairn build --network`).
    pub default_network: cairn_ir::NetworkMode,
    /// `--add-host`, `--shm-size`, `--ulimit`: set on every RUN step.
    pub host_config: cairn_ir::HostConfig,
    /// `--no-cache-filter`: stages (by name, any case) whose steps run even when cached.
    pub no_cache_stages: Vec<String>,
    /// Lower every stage, not only the target's (`--check`: BuildKit lints all stages).
    pub all_stages: bool,
    /// `--build-context NAME=…`, by NAME as the user wrote it.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// The build asks for several platforms (this lowering is one of them): step names start
    /// with their stage's platform, as BuildKit's.
    pub multi_platform: bool,
}

/// A `--build-context` as the frontend sees it. It stands in for `FROM NAME`, `COPY
/// --from=NAME` and `RUN --mount=from=NAME`, and replaces a stage called NAME altogether, as
/// in BuildKit. NAME is matched as written and in docker's familiar form (`alpine` for
/// `docker.io/library/alpine:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// An image (`docker-image://REF`, or an `oci-layout://` the caller stored under REF).
    Image(String),
    /// A local directory (`NAME=DIR`), read as the local source
    /// [`cairn_ir::LocalSource::named`]`(NAME)`
    /// with these `.dockerignore` patterns.
    Local { exclude: Vec<String> },
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions {
            target: None,
            build_args: BTreeMap::new(),
            target_platform: Platform::host(),
            build_platform: Platform::host(),
            ignore_patterns: Vec::new(),
            dockerfile_name: "Dockerfile".into(),
            escape: '\\',
            default_network: cairn_ir::NetworkMode::Default,
            host_config: cairn_ir::HostConfig::default(),
            named_contexts: BTreeMap::new(),
            no_cache_stages: Vec::new(),
            all_stages: false,
            multi_platform: false,
        }
    }
}

/// The result of lowering.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub graph: Graph,
    /// Lint findings (see [`crate::lint`]), by line.
    pub lint: Vec<crate::lint::LintWarning>,
    /// `error=true` and findings: BuildKit's error, which fails the build after the warnings
    /// are shown.
    pub lint_error: Option<String>,
    /// SOURCE_DATE_EPOCH as the Dockerfile gives it, as BuildKit's frontend reads it: the
    /// build arg, else the default of a global `ARG SOURCE_DATE_EPOCH=…` (seconds).
    pub source_date_epoch: Option<i64>,
    /// Non-fatal findings (unused build args, ...), each with its line when it has one.
    pub warnings: Vec<String>,
}

/// Lower a typed Dockerfile to a graph.
pub fn lower(
    df: &Dockerfile,
    opts: &LowerOptions,
    resolver: &dyn ImageResolver,
) -> Result<Lowered> {
    lower_linted(df, opts, resolver, crate::lint::Linter::default())
}

/// [`lower`], its lint findings added to `linter`'s.
pub fn lower_linted(
    df: &Dockerfile,
    opts: &LowerOptions,
    resolver: &dyn ImageResolver,
    linter: crate::lint::Linter,
) -> Result<Lowered> {
    dispatch::Lowerer::new(df, opts, resolver, linter)?.run()
}

/// The lint configuration of a build: the `BUILDKIT_DOCKERFILE_CHECK` build arg, else the
/// `# check=` directive (an invalid one is an error at its line, as BuildKit's).
pub fn lint_config(
    ast: &crate::parser::Ast,
    opts: &LowerOptions,
) -> Result<crate::lint::LintConfig> {
    let (value, span) = match opts.build_args.get("BUILDKIT_DOCKERFILE_CHECK") {
        Some(v) => (v.clone(), crate::parser::Span::default()),
        None => (
            ast.directives.check.clone().unwrap_or_default(),
            crate::parser::Span::line(ast.directives.check_line),
        ),
    };
    crate::lint::LintConfig::parse(&value).map_err(|m| err(span, m))
}

/// Parse + type + lower in one call.
pub fn lower_source(
    src: &[u8],
    opts: &LowerOptions,
    resolver: &dyn ImageResolver,
) -> Result<Lowered> {
    let ast = crate::parser::parse(src)?;
    if let Some(syntax) = &ast.directives.syntax {
        check_syntax(syntax)
            .map_err(|m| err(crate::parser::Span::line(ast.directives.syntax_line), m))?;
    }
    let mut linter = crate::lint::Linter::new(lint_config(&ast, opts)?);
    crate::lint::file_rules(&ast, &mut linter);
    let df = crate::instructions::from_ast(&ast).map_err(|mut e| {
        // BuildKit's words for an instruction it cannot read; the findings of the lines
        // before it are reported with it.
        let line = e.span.start_line;
        e.message = format!("dockerfile parse error on line {line}: {}", e.message);
        e.lint = linter
            .warnings()
            .into_iter()
            .filter(|w| w.span.start_line < line)
            .collect();
        e
    })?;
    let opts = LowerOptions {
        escape: ast.directives.escape,
        ..opts.clone()
    };
    lower_linted(&df, &opts, resolver, linter)
}

/// Whether `# syntax=` names the Dockerfile frontend (`docker/dockerfile` or
/// `docker/dockerfile-upstream`, any registry prefix `docker.io/`, any tag or channel such as
/// `1`, `1.7`, `1-labs`, `labs`, `latest`, any digest): cairn builds those with its built-in
/// frontend, offline, never pulling.
pub fn is_builtin_syntax(syntax: &str) -> bool {
    let name = syntax.split('@').next().unwrap_or_default();
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let repo = match name.rsplit_once(':') {
        Some((repo, tag)) if !repo.contains('/') || !tag.contains('/') => repo,
        _ => name,
    };
    matches!(repo, "docker/dockerfile" | "docker/dockerfile-upstream")
}

/// The `# syntax=` directive of a Dockerfile (BuildKit's rules) and its line, if it has one.
pub fn syntax_directive(dockerfile: &[u8]) -> Option<(String, usize)> {
    let d = crate::parser::parse(dockerfile).ok()?.directives;
    Some((d.syntax?, d.syntax_line))
}

/// Lowering is the built-in frontend: another `# syntax=` is never silently replaced by it.
/// (`cairn build` runs other frontend images before it would come here.)
fn check_syntax(syntax: &str) -> std::result::Result<(), String> {
    if is_builtin_syntax(syntax) {
        Ok(())
    } else {
        Err(format!(
            "syntax {syntax:?} names a frontend image, not the built-in Dockerfile frontend: \
             `cairn build` runs it (--frontend image:REF); `cairn plan` cannot"
        ))
    }
}

pub(crate) fn err(span: crate::parser::Span, msg: impl Into<String>) -> Error {
    Error::new(span, msg)
}

#[cfg(test)]
mod syntax_tests {
    use super::check_syntax;

    #[test]
    fn the_dockerfile_frontend_in_every_channel_is_built_in() {
        for ok in [
            "docker/dockerfile",
            "docker/dockerfile:1",
            "docker/dockerfile:1.7",
            "docker/dockerfile:1.7.1-labs",
            "docker/dockerfile:labs",
            "docker.io/docker/dockerfile:1",
            "docker/dockerfile-upstream:master",
            "docker/dockerfile:1@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021",
        ] {
            assert_eq!(check_syntax(ok), Ok(()), "{ok}");
        }
        for bad in [
            "foobar",
            "tonistiigi/dockerfile:1",
            "docker/dockerfilex",
            "example.com/docker/dockerfile:1",
        ] {
            assert!(check_syntax(bad).is_err(), "{bad}");
        }
    }
}

//! The lowering driver: stage resolution (on demand, with cycle detection) and per-instruction
//! dispatch. Filesystem-changing instructions live in `run.rs` and `copy.rs`; the ones that only
//! change the image config in `meta.rs`.

use super::args::{EnvIndex, Scope, Vars, platform_args};
use super::{ImageResolver, LowerOptions, Lowered, NamedContext, err};
use crate::error::{Error, Result, suggest};
use crate::instructions::{Dockerfile, Instruction, Located, Stage};
use crate::parser::Span;
use crate::shell::Lexer;
use cairn_ir::image::History;
use cairn_ir::{
    CopyAction, Digest, FileAction, FileOp, GraphBuilder, ImageConfig, Input, LocalSource, Op,
    Platform, Reference, SourceOp, VertexMeta,
};
use std::collections::BTreeSet;
use std::rc::Rc;

pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub(super) const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// What a finished stage hands to its users.
#[derive(Debug, Clone)]
pub(super) struct StageResult {
    pub state: Option<Input>,
    pub config: ImageConfig,
    pub platform: Platform,
    /// Whether a WORKDIR of this build set the working directory (WorkdirRelativePath).
    pub workdir_set: bool,
    /// The stage's build args: a stage built `FROM` it sees them (BuildKit keeps them in the
    /// state's environment).
    pub args: Vars,
    pub declared_args: Vars,
    pub declared: BTreeSet<String>,
}

/// The mutable state of the stage being lowered.
pub(super) struct StageState {
    pub index: usize,
    pub label: String,
    /// Step names start with the stage's platform (a multi-platform build's).
    pub platform_prefix: bool,
    pub steps: usize,
    pub step: usize,
    pub state: Option<Input>,
    pub config: ImageConfig,
    /// Build args declared in this stage, with their values (declared without value: absent).
    pub args: Vars,
    /// Every ARG the stage declared, in the order first declared, valueless ones as `""`:
    /// what BuildKit lists before a RUN's command in its history (`|2 A=1 B= ...`).
    pub declared_args: Vars,
    /// Names declared in this stage (with or without value).
    pub declared: BTreeSet<String>,
    pub platform: Platform,
    /// Whether CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// Whether a WORKDIR of this build (this stage or the stage it is based on) ran.
    pub workdir_set: bool,
    /// Where this stage last set CMD, ENTRYPOINT and HEALTHCHECK
    /// (MultipleInstructionsDisallowed).
    pub last_cmd: Option<Span>,
    pub last_entrypoint: Option<Span>,
    pub last_healthcheck: Option<Span>,
    /// Index of `config.env`: change the env only through [`StageState::env_set`] (and call
    /// [`StageState::reindex_env`] after replacing `config`).
    pub env_index: EnvIndex,
}

impl StageState {
    /// Variables for word expansion: declared args, then ENV on top.
    pub fn expansion_env(&self) -> Scope<'_> {
        Scope {
            args: &self.args,
            env: &self.config.env,
            env_index: &self.env_index,
        }
    }

    pub fn env_get(&self, key: &str) -> Option<&str> {
        self.env_index.get(&self.config.env, key)
    }

    pub fn env_set(&mut self, key: &str, value: &str) {
        self.env_index.set(&mut self.config.env, key, value);
    }

    /// Rebuild the env index after `config` was replaced.
    pub fn reindex_env(&mut self) {
        self.env_index = EnvIndex::of(&self.config.env);
    }

    pub fn workdir(&self) -> &str {
        self.config.working_dir.as_deref().unwrap_or("/")
    }

    pub fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }
}

pub(super) struct Lowerer<'a> {
    pub df: &'a Dockerfile,
    pub opts: &'a LowerOptions,
    resolver: &'a dyn ImageResolver,
    pub lex: Lexer,
    pub b: GraphBuilder,
    /// Global (pre-FROM) args with values, platform args underneath.
    pub(super) global: Vars,
    results: Vec<Option<Rc<StageResult>>>,
    /// How many more times each stage's result will be taken (FROM, COPY --from, mount
    /// from=, as written); at 0 its cached result is released, so a chain of stages holds
    /// one configuration at a time and hands it on without copying it.
    uses: Vec<usize>,
    /// The stage being built (its result is never released).
    target: Option<usize>,
    in_progress: Vec<Option<Span>>,
    context: Option<Digest>,
    pub used_build_args: BTreeSet<String>,
    pub warnings: Vec<String>,
    /// Lowering a stage named in `--no-cache-filter`: its vertices ignore the cache.
    ignore_cache: bool,
    /// Lint findings so far.
    pub(super) linter: crate::lint::Linter,
    /// The comments above the instruction being lowered (its `# check=`).
    pub(super) comments: Vec<String>,
    /// The `.dockerignore` matcher CopyIgnoredFile uses, made on first need (`None` inside:
    /// the rule does not apply).
    pub(super) ignore_matcher: Option<Option<cairn_context::IgnoreMatcher>>,
}

impl<'a> Lowerer<'a> {
    pub fn new(
        df: &'a Dockerfile,
        opts: &'a LowerOptions,
        resolver: &'a dyn ImageResolver,
        linter: crate::lint::Linter,
    ) -> Result<Self> {
        let mut l = Lowerer {
            df,
            opts,
            resolver,
            lex: Lexer::new(opts.escape),
            b: GraphBuilder::new(),
            global: Vars::from_pairs(platform_args(
                &opts.target_platform,
                &opts.build_platform,
                target_stage_name(df, opts).as_deref(),
            )),
            results: vec![None; df.stages.len()],
            uses: vec![0; df.stages.len()],
            target: None,
            in_progress: vec![None; df.stages.len()],
            context: None,
            used_build_args: BTreeSet::new(),
            ignore_cache: false,
            warnings: Vec::new(),
            linter,
            comments: Vec::new(),
            ignore_matcher: None,
        };
        for (decl, span) in &df.global_args {
            let value = match l.opts.build_args.get(&decl.name) {
                Some(v) => {
                    l.used_build_args.insert(decl.name.clone());
                    Some(v.clone())
                }
                None => match &decl.default {
                    Some(d) => {
                        // Borrowed, not cloned: a clone per ARG made 100k ARGs quadratic.
                        let global = std::mem::take(&mut l.global);
                        let value = l.expand_with(&global, d, *span);
                        l.global = global;
                        Some(value?)
                    }
                    None => None,
                },
            };
            if let Some(v) = value {
                l.global.set(&decl.name, v);
            }
        }
        for i in 0..df.stages.len() {
            for d in l.stage_dependencies(i) {
                if let Some(uses) = l.uses.get_mut(d) {
                    *uses += 1;
                }
            }
        }
        Ok(l)
    }

    /// Stage `j`'s result for one of its planned uses; the last use takes it out of the cache.
    pub fn take_stage(&mut self, j: usize, from: Option<Span>) -> Result<Rc<StageResult>> {
        let r = self.lower_stage(j, from)?;
        if let Some(uses) = self.uses.get_mut(j) {
            *uses = uses.saturating_sub(1);
            if *uses == 0 && self.target != Some(j) {
                set_slot(&mut self.results, j, None);
            }
        }
        Ok(r)
    }

    pub fn run(mut self) -> Result<Lowered> {
        match self.run_inner() {
            Ok(l) => Ok(l),
            Err(mut e) => {
                e.lint = self.linter.warnings();
                Err(e)
            }
        }
    }

    fn run_inner(&mut self) -> Result<Lowered> {
        let target = self.target_index()?;
        self.target = Some(target);
        self.lint_from_lines();
        let result = self.lower_stage(target, None)?;
        if self.opts.all_stages {
            // `--check`: every stage's instructions are linted, as BuildKit's lint request does.
            for i in 0..self.df.stages.len() {
                if i != target {
                    self.lower_stage(i, None)?;
                }
            }
        }
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| {
                !self.used_build_args.contains(*k)
                    && !super::PROXY_ARGS.contains(&k.as_str())
                    && k.as_str() != super::run::SANDBOX_HOSTNAME_ARG
                    && k.as_str() != "BUILDKIT_DOCKERFILE_CHECK"
                    && k.as_str() != "SOURCE_DATE_EPOCH"
            })
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            self.warnings.push(format!(
                "build args were not consumed by any used stage: {}",
                names.join(", ")
            ));
        }
        for name in &self.opts.no_cache_stages {
            let known = self.df.stages.iter().any(|s| {
                s.from
                    .alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(name))
            });
            if !known {
                self.warnings.push(format!(
                    "--no-cache-filter {name}: this Dockerfile has no stage of that name"
                ));
            }
        }
        self.results.clear();
        let result = Rc::unwrap_or_clone(result);
        let graph =
            std::mem::take(&mut self.b).finish(result.state, result.platform, result.config);
        let declared = self.global.get("SOURCE_DATE_EPOCH");
        let given = self
            .opts
            .build_args
            .get("SOURCE_DATE_EPOCH")
            .map(String::as_str);
        let source_date_epoch = match declared.or(given) {
            None | Some("") => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|e| *e >= 0).ok_or_else(|| {
                let span = self
                    .df
                    .global_args
                    .iter()
                    .find(|(d, _)| d.name == "SOURCE_DATE_EPOCH")
                    .map_or(Span::default(), |(_, s)| *s);
                err(span, format!("invalid SOURCE_DATE_EPOCH: {v}"))
            })?),
        };
        Ok(Lowered {
            graph,
            lint: self.linter.warnings(),
            lint_error: self.linter.error(),
            source_date_epoch,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn target_index(&self) -> Result<usize> {
        let last = self
            .df
            .stages
            .len()
            .checked_sub(1)
            .ok_or_else(|| err(Span::default(), "the Dockerfile has no stage"))?;
        let Some(target) = &self.opts.target else {
            return Ok(last);
        };
        let t = target.to_ascii_lowercase();
        // A repeated name means its last stage, as in BuildKit.
        if let Some(i) = self
            .df
            .stages
            .iter()
            .rposition(|s| s.from.alias.as_deref() == Some(t.as_str()))
        {
            return Ok(i);
        }
        let names: Vec<&str> = self
            .df
            .stages
            .iter()
            .filter_map(|s| s.from.alias.as_deref())
            .collect();
        // BuildKit's wording, suggestion included, which CI scripts grep for.
        let suggestion = suggest(&t, names.iter().copied());
        let hint = suggestion
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        let mut e = err(
            Span::default(),
            format!("target stage {target:?} could not be found{hint}"),
        );
        if suggestion.is_none() && !names.is_empty() {
            e = e.with_help(format!("stages are: {}", names.join(", ")));
        }
        Err(e)
    }

    /// Find a stage by name or index for `--from` (any stage) or `FROM` (`before` = current index).
    pub fn find_stage(&self, name: &str, before: Option<usize>) -> Option<usize> {
        let limit = before.unwrap_or(self.df.stages.len());
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self
            .df
            .stages
            .iter()
            .take(limit)
            .rposition(|s| s.from.alias.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        match name.parse::<usize>() {
            Ok(i) if i < limit => Some(i),
            _ => None,
        }
    }

    /// The result of stage `i`, lowering it first if needed. `from` is the span that asked.
    ///
    /// The stages it needs are lowered first, deepest first, from an explicit work list: a
    /// chain of 10,000 stages (`FROM prev` or `COPY --from=prev`) must not recurse 10,000
    /// deep. What the work list cannot foresee (a `--from` only a variable names) is still
    /// lowered on demand.
    pub fn lower_stage(&mut self, i: usize, from: Option<Span>) -> Result<Rc<StageResult>> {
        if let Some(Some(r)) = self.results.get(i) {
            return Ok(Rc::clone(r));
        }
        for dep in self.dependencies_first(i) {
            self.lower_one_stage(dep, from)?;
        }
        self.lower_one_stage(i, from)
    }

    /// The stages `root` needs that are not lowered yet, each after the stages it needs
    /// (an iterative post-order walk; a cycle is left for [`Self::lower_one_stage`] to report
    /// with its place).
    fn dependencies_first(&self, root: usize) -> Vec<usize> {
        let mut order = Vec::new();
        let mut seen = vec![false; self.df.stages.len()];
        // Mark stage `s` seen; true when it was not yet.
        let mut first_visit =
            |s: usize| seen.get_mut(s).is_some_and(|v| !std::mem::replace(v, true));
        first_visit(root);
        let mut stack = vec![(root, false)];
        while let Some((s, children_done)) = stack.pop() {
            if children_done {
                if s != root {
                    order.push(s);
                }
                continue;
            }
            stack.push((s, true));
            for d in self.stage_dependencies(s) {
                if self.results.get(d).is_some_and(Option::is_none) && first_visit(d) {
                    stack.push((d, false));
                }
            }
        }
        order
    }

    /// The stages stage `i` names literally: its `FROM` (with the global args), `COPY
    /// --from` and `RUN --mount=from=`.
    fn stage_dependencies(&self, i: usize) -> Vec<usize> {
        let mut deps = Vec::new();
        let Some(stage) = self.df.stages.get(i) else {
            return deps;
        };
        if let Ok(image) = self.lex.process_word(&stage.from.image, &self.global)
            && let Some(j) = self.find_stage(&image, Some(i))
        {
            deps.push(j);
        }
        let mut named = |from: &str| {
            if !from.contains('$')
                && let Some(j) = self.find_stage(from, None)
                && j != i
            {
                deps.push(j);
            }
        };
        for cmd in &stage.commands {
            match &cmd.instruction {
                Instruction::Copy(c) => {
                    if let Some(f) = &c.from {
                        named(f);
                    }
                }
                Instruction::Run(r) => {
                    for m in &r.mounts {
                        if let Some(f) = &m.from {
                            named(f);
                        }
                    }
                }
                _ => {}
            }
        }
        deps
    }

    /// Lower stage `i` itself (the stages it needs are normally lowered already).
    fn lower_one_stage(&mut self, i: usize, from: Option<Span>) -> Result<Rc<StageResult>> {
        if let Some(Some(r)) = self.results.get(i) {
            return Ok(Rc::clone(r));
        }
        let df: &'a Dockerfile = self.df;
        let Some(stage) = df.stages.get(i) else {
            return Err(err(
                from.unwrap_or_default(),
                format!("stage {i} does not exist"),
            ));
        };
        if self.in_progress.get(i).is_some_and(Option::is_some) {
            let name = stage.from.alias.clone().unwrap_or_else(|| i.to_string());
            return Err(err(
                from.unwrap_or(stage.span),
                format!("circular dependency detected on stage {name:?}"),
            )
            .with_help(format!(
                "stage {name:?} starts at line {}",
                stage.span.start_line
            )));
        }
        set_slot(&mut self.in_progress, i, Some(from.unwrap_or(stage.span)));
        let outer = self.ignore_cache;
        self.ignore_cache = stage.from.alias.as_deref().is_some_and(|a| {
            self.opts
                .no_cache_stages
                .iter()
                .any(|n| n.eq_ignore_ascii_case(a))
        });
        let r = self.lower_stage_body(i, stage);
        self.ignore_cache = outer;
        set_slot(&mut self.in_progress, i, None);
        let r = Rc::new(r?);
        set_slot(&mut self.results, i, Some(Rc::clone(&r)));
        Ok(r)
    }

    fn lower_stage_body(&mut self, i: usize, stage: &'a Stage) -> Result<StageResult> {
        // A named context called like the stage replaces it (BuildKit).
        if let Some(alias) = &stage.from.alias
            && let Some((key, nc)) = self.named_context(alias)
        {
            let platform = self.opts.target_platform.clone();
            let (state, config) =
                self.named_context_state(&key, &nc, &platform, true, stage.span)?;
            return Ok(StageResult {
                state,
                config,
                platform,
                workdir_set: false,
                args: Vars::default(),
                declared_args: Vars::default(),
                declared: BTreeSet::new(),
            });
        }
        // BuildKit's step names: `[name i/n]`, `stage-N` for an unnamed stage, no name at all
        // when the build has a single stage and no other image (`COPY --from=img`).
        let label = match &stage.from.alias {
            Some(a) => a.clone(),
            None if self.df.stages.len() == 1 && !references_other_images(stage) => String::new(),
            None => format!("stage-{i}"),
        };
        // Borrowed, not cloned (a clone per stage is quadratic with many global ARGs).
        let global = std::mem::take(&mut self.global);
        let image = self.expand_with(&global, &stage.from.image, stage.span);
        let platform = match (&image, &stage.from.platform) {
            (Ok(_), Some(p)) => Some(self.lex.process_word_detailed(p, &global).map_err(|e| {
                err(
                    stage.span,
                    format!("failed to expand {:?}: {}", brief(p), e.cause),
                )
            })),
            _ => None,
        };
        let keys: Vec<String> = global.iter().map(|(k, _)| k.clone()).collect();
        self.global = global;
        let image = image?;
        let platform = match platform.transpose()? {
            Some(e) => {
                let written = stage.from.platform.as_deref().unwrap_or_default();
                // BuildKit's words (containerd's for a bad component), with a suggestion for
                // a misspelt variable.
                let hint = e
                    .unmatched
                    .iter()
                    .find_map(|u| crate::lint::suggest(u, keys.iter().map(String::as_str)))
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                if e.word.is_empty() {
                    return Err(err(
                        stage.span,
                        format!("empty platform value from expression {written}{hint}"),
                    ));
                }
                let bad_component = e.word.split('/').find(|c| {
                    c.is_empty()
                        || !c
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'))
                });
                if let Some(c) = bad_component {
                    return Err(err(
                        stage.span,
                        format!(
                            "failed to parse platform {written}: {c:?} is an invalid component of {:?}: platform specifier component must match \"^[A-Za-z0-9_.-]+$\": invalid argument{hint}",
                            e.word
                        ),
                    ));
                }
                Platform::parse(&e.word)
                    .map(|p| p.normalized())
                    .ok_or_else(|| {
                        err(stage.span, format!("invalid platform {:?}{hint}", e.word))
                            .with_help("use os/arch[/variant], e.g. linux/amd64")
                    })?
            }
            None => self.opts.target_platform.clone(),
        };
        let base_is_image =
            self.find_stage(&image, Some(i)).is_none() && !image.eq_ignore_ascii_case("scratch");
        let mut st = StageState {
            index: i,
            label,
            // A multi-platform build names each step with its stage's platform.
            platform_prefix: self.opts.multi_platform,
            steps: usize::from(base_is_image)
                + stage
                    .commands
                    .iter()
                    .filter(|c| counts_as_step(&c.instruction))
                    .count(),
            step: 0,
            state: None,
            config: ImageConfig::default(),
            args: Vars::default(),
            declared_args: Vars::default(),
            declared: BTreeSet::new(),
            platform: platform.clone(),
            cmd_set: false,
            workdir_set: false,
            last_cmd: None,
            last_entrypoint: None,
            last_healthcheck: None,
            env_index: EnvIndex::default(),
        };
        if let Some(j) = self.find_stage(&image, Some(i)) {
            // Moved, not copied, when this is the stage's last use (a FROM chain stays linear).
            let base = Rc::unwrap_or_clone(self.take_stage(j, Some(stage.span))?);
            st.state = base.state;
            st.config = base.config;
            st.workdir_set = base.workdir_set;
            st.args = base.args;
            st.declared_args = base.declared_args;
            st.declared = base.declared;
        } else if image.eq_ignore_ascii_case("scratch") {
            // Empty root filesystem; BuildKit's empty image config has WorkingDir "/".
            st.config.working_dir = Some("/".into());
        } else if let Some((key, nc)) = self.named_context(&image) {
            let (state, config) =
                self.named_context_state(&key, &nc, &platform, true, stage.span)?;
            st.state = state;
            st.config = config;
        } else {
            let reference = Reference::parse(&image).map_err(|e| {
                err(
                    stage.span,
                    format!("invalid image reference {image:?} in FROM: {}", e.reason),
                )
            })?;
            let resolved = self
                .resolver
                .resolve(&reference.to_string(), &platform)
                .map_err(|e| {
                    err(
                        stage.span,
                        format!("failed to resolve image {reference}: {e}"),
                    )
                })?
                .unwrap_or_default();
            let source = resolved
                .pinned
                .clone()
                .unwrap_or_else(|| reference.to_string());
            let description = st.describe(&format!("FROM {source}"));
            let meta = self.meta(&description, stage.span);
            st.state = Some(self.image_source(source, &platform, meta, stage.span)?);
            st.config = resolved.config;
        }
        st.reindex_env();
        if st.env_get("PATH").is_none() {
            st.env_set("PATH", DEFAULT_PATH);
        }
        let triggers = std::mem::take(&mut st.config.on_build);
        self.run_triggers(&mut st, &triggers, stage.span)?;
        for cmd in &stage.commands {
            self.dispatch(&mut st, cmd)?;
        }
        Ok(StageResult {
            state: st.state,
            config: st.config,
            platform,
            workdir_set: st.workdir_set,
            args: st.args,
            declared_args: st.declared_args,
            declared: st.declared,
        })
    }

    /// Run a base image's ONBUILD triggers at the start of the stage.
    fn run_triggers(&mut self, st: &mut StageState, triggers: &[String], span: Span) -> Result<()> {
        let mut commands = Vec::new();
        for t in triggers {
            let text = format!("FROM scratch\n{t}\n");
            let bad = |e: Error| {
                err(
                    span,
                    format!(
                        "invalid ONBUILD trigger {t:?} of the base image: {}",
                        e.message
                    ),
                )
            };
            let ast = crate::parser::parse(text.as_bytes()).map_err(bad)?;
            let df = crate::instructions::from_ast(&ast).map_err(bad)?;
            for stage in df.stages {
                for cmd in stage.commands {
                    commands.push(Located { span, ..cmd });
                }
            }
        }
        // The triggers' steps are numbered with the stage's own.
        st.steps += commands
            .iter()
            .filter(|c| counts_as_step(&c.instruction))
            .count();
        for located in &commands {
            self.dispatch(st, located)?;
        }
        Ok(())
    }

    fn dispatch(&mut self, st: &mut StageState, cmd: &Located) -> Result<()> {
        self.comments = cmd.facts.comments.clone();
        let done = self.dispatch_instruction(st, cmd);
        self.comments.clear();
        done
    }

    fn dispatch_instruction(&mut self, st: &mut StageState, cmd: &Located) -> Result<()> {
        let span = cmd.span;
        match &cmd.instruction {
            Instruction::From(_) => Err(err(span, "FROM inside a stage")),
            Instruction::Run(run) => self.run_step(st, run, cmd),
            Instruction::Copy(copy) => self.copy(st, copy, cmd),
            Instruction::Workdir(dir) => self.workdir(st, dir, cmd),
            Instruction::Arg(decls) => self.arg(st, decls, span),
            other => self.config_instruction(st, other, cmd),
        }
    }

    fn workdir(&mut self, st: &mut StageState, dir: &str, cmd: &Located) -> Result<()> {
        let dir = self.expand(st, dir, cmd.span)?;
        // Only the first WORKDIR of the build's chain is judged: fixing it fixes the rest.
        if !st.workdir_set && !dir.starts_with('/') {
            self.lint(
                &crate::lint::rules::WORKDIR_RELATIVE_PATH,
                cmd.span,
                format!(
                    "Relative workdir {dir:?} can have unexpected results if the base image changes"
                ),
            );
        }
        st.workdir_set = true;
        let path = resolve_path(st.workdir(), &dir);
        st.config.working_dir = Some(path.clone());
        if clean_path(&path) == "/" {
            // BuildKit makes no directory (and no layer) for the root.
            self.history(st, "WORKDIR /".to_string(), true);
            return Ok(());
        }
        // Like BuildKit, make sure the directory exists (owned by the current user).
        let owner = st
            .config
            .user
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(cairn_ir::Owner::parse);
        let action = FileAction::Mkdir {
            path,
            mode: 0o755,
            make_parents: true,
            owner,
        };
        let (base, inputs) = match st.state {
            Some(s) => (Some(0), vec![s]),
            None => (None, vec![]),
        };
        // BuildKit names the step with its variables expanded (`processCmdEnv`).
        let shown = self
            .lex
            .process_word(&cmd.original, &st.expansion_env())
            .unwrap_or_else(|_| cmd.original.clone());
        let meta = self.meta(&st.describe(&shown), cmd.span);
        let d = self.add(
            Op::File(FileOp {
                base,
                actions: vec![action],
            }),
            inputs,
            meta,
            cmd.span,
        )?;
        st.state = Some(Input::of(d));
        let shown = format!("WORKDIR {}", st.workdir());
        self.history(st, shown, false);
        Ok(())
    }

    fn arg(
        &mut self,
        st: &mut StageState,
        decls: &[crate::instructions::ArgDecl],
        span: Span,
    ) -> Result<()> {
        let mut shown = Vec::new();
        for decl in decls {
            let name = &decl.name;
            self.lint_secret_name("ARG", name, span);
            st.declared.insert(name.clone());
            let value = if let Some(v) = self.opts.build_args.get(name) {
                self.used_build_args.insert(name.clone());
                Some(v.clone())
            } else if let Some(d) = &decl.default {
                Some(self.expand(st, d, span)?)
            } else {
                self.global.get(name).map(str::to_string)
            };
            shown.push(match &value {
                Some(v) => format!("{name}={v}"),
                None => name.clone(),
            });
            st.declared_args
                .set(name, value.clone().unwrap_or_default());
            if let Some(v) = value {
                st.args.set(name, v);
            }
        }
        self.history(st, format!("ARG {}", shown.join(" ")), true);
        Ok(())
    }

    /// Expand a word in the stage's scope, recording which build args it used.
    pub fn expand(&mut self, st: &StageState, word: &str, span: Span) -> Result<String> {
        Ok(self.expand_detailed(st, word, span)?.word)
    }

    /// Expand a word in the stage's scope: the expansion, its build args recorded as used,
    /// its undefined variables linted.
    fn expand_detailed(
        &mut self,
        st: &StageState,
        word: &str,
        span: Span,
    ) -> Result<crate::shell::Expansion> {
        let env = st.expansion_env();
        let e = self.lex.process_word_detailed(word, &env).map_err(|e| {
            err(
                span,
                format!("failed to expand {:?}: {}", brief(word), e.cause),
            )
        })?;
        self.used_build_args.extend(
            e.matched
                .iter()
                .filter(|u| self.opts.build_args.contains_key(*u))
                .cloned(),
        );
        self.lint_unmatched(st, &e.unmatched, span);
        Ok(e)
    }

    pub fn expand_with(
        &mut self,
        env: &dyn crate::shell::Env,
        word: &str,
        span: Span,
    ) -> Result<String> {
        let (out, used) = self.lex.process_word_with_matches(word, env).map_err(|e| {
            err(
                span,
                format!("failed to expand {:?}: {}", brief(word), e.cause),
            )
        })?;
        self.used_build_args.extend(
            used.into_iter()
                .filter(|u| self.opts.build_args.contains_key(u)),
        );
        Ok(out)
    }

    /// Expand and split into words (EXPOSE, VOLUME words).
    pub fn expand_words(&mut self, st: &StageState, word: &str, span: Span) -> Result<Vec<String>> {
        Ok(self.expand_detailed(st, word, span)?.words)
    }

    pub fn add(
        &mut self,
        op: Op,
        inputs: Vec<Input>,
        meta: VertexMeta,
        span: Span,
    ) -> Result<Digest> {
        let meta = VertexMeta {
            ignore_cache: meta.ignore_cache || self.ignore_cache,
            ..meta
        };
        self.b
            .add(op, inputs, meta)
            .map_err(|e| err(span, format!("internal error building the graph: {e}")))
    }

    pub fn meta(&self, description: &str, span: Span) -> VertexMeta {
        VertexMeta {
            description: description.to_string(),
            file: Some(self.opts.dockerfile_name.clone()),
            lines: Some((span.start_line, span.end_line)),
            hidden: false,
            ignore_cache: false,
        }
    }

    /// The one shared build-context source.
    pub fn context_source(&mut self) -> Result<Digest> {
        if let Some(d) = self.context {
            return Ok(d);
        }
        let op = Op::Source(SourceOp::Local(LocalSource {
            name: LocalSource::MAIN.into(),
            include: vec![],
            exclude: self.opts.ignore_patterns.clone(),
        }));
        let meta = VertexMeta {
            description: "[internal] load build context".into(),
            hidden: true,
            ..Default::default()
        };
        let d = self.add(op, vec![], meta, Span::default())?;
        self.context = Some(d);
        Ok(d)
    }

    /// The `--build-context` that `name` (a FROM or `--from` word, a stage name) stands for:
    /// by the name as written, else by its familiar form (`alpine` for
    /// `docker.io/library/alpine:latest`, as BuildKit's `NamedContext` normalizes it).
    fn named_context(&self, name: &str) -> Option<(String, NamedContext)> {
        let contexts = &self.opts.named_contexts;
        if contexts.is_empty() {
            return None;
        }
        if let Some(nc) = contexts.get(name) {
            return Some((name.to_string(), nc.clone()));
        }
        let r = Reference::parse(name).ok()?;
        let full = r.to_string();
        let familiar = cairn_ir::reference::familiar(&full);
        let familiar = familiar.strip_suffix(":latest").unwrap_or(familiar);
        contexts
            .get(familiar)
            .map(|nc| (familiar.to_string(), nc.clone()))
    }

    /// What a named context gives: for an image, its source and config; for a directory, its
    /// local source — or, as a stage's root filesystem (`rootfs`), a copy of it into a layer
    /// (with an empty config, as BuildKit gives a local context used in FROM).
    fn named_context_state(
        &mut self,
        key: &str,
        nc: &NamedContext,
        platform: &Platform,
        rootfs: bool,
        span: Span,
    ) -> Result<(Option<Input>, ImageConfig)> {
        match nc {
            // `docker-image://scratch`: the empty image, as `FROM scratch` (BuildKit's too).
            NamedContext::Image(image) if image.eq_ignore_ascii_case("scratch") => {
                let config = ImageConfig {
                    working_dir: Some("/".into()),
                    ..ImageConfig::default()
                };
                Ok((None, config))
            }
            NamedContext::Image(image) => {
                let reference = Reference::parse(image).map_err(|e| {
                    err(
                        span,
                        format!(
                            "invalid image reference {image:?} of the build context {key:?}: {}",
                            e.reason
                        ),
                    )
                })?;
                let resolved = self
                    .resolver
                    .resolve(&reference.to_string(), platform)
                    .map_err(|e| {
                        err(
                            span,
                            format!(
                                "failed to resolve image {reference} (the build context {key:?}): {e}"
                            ),
                        )
                    })?
                    .unwrap_or_default();
                let source = resolved.pinned.unwrap_or_else(|| reference.to_string());
                let meta = VertexMeta {
                    description: format!("[context {key}] FROM {source}"),
                    ..self.meta("", span)
                };
                let input = self.image_source(source, platform, meta, span)?;
                Ok((Some(input), resolved.config))
            }
            NamedContext::Local { exclude } => {
                let local = self.add(
                    Op::Source(SourceOp::Local(LocalSource {
                        name: LocalSource::named(key),
                        include: vec![],
                        exclude: exclude.clone(),
                    })),
                    vec![],
                    VertexMeta {
                        description: format!("[context {key}] load build context"),
                        hidden: true,
                        ..Default::default()
                    },
                    span,
                )?;
                if !rootfs {
                    return Ok((Some(Input::of(local)), ImageConfig::default()));
                }
                let copy = self.add(
                    Op::File(FileOp {
                        base: None,
                        actions: vec![FileAction::Copy(CopyAction {
                            source: 0,
                            src: "/".into(),
                            dest: "/".into(),
                            follow_symlinks: true,
                            dir_contents_only: true,
                            allow_wildcard: false,
                            allow_empty_wildcard: false,
                            create_dest_path: true,
                            owner: None,
                            mode: None,
                            include: vec![],
                            exclude: vec![],
                            unpack_archive: false,
                            parents: false,
                        })],
                    }),
                    vec![Input::of(local)],
                    VertexMeta {
                        description: format!("[context {key}] FROM {key}"),
                        ..self.meta("", span)
                    },
                    span,
                )?;
                let config = ImageConfig {
                    working_dir: Some("/".into()),
                    ..ImageConfig::default()
                };
                Ok((Some(Input::of(copy)), config))
            }
        }
    }

    /// The state named by `--from` / `from=`: a stage, or else an image.
    pub fn state_for_ref(
        &mut self,
        st: &StageState,
        from: &str,
        span: Span,
    ) -> Result<Option<Input>> {
        let name = self.expand(st, from, span)?;
        if let Some(j) = self.find_stage(&name, None) {
            if j == st.index {
                return Err(err(span, format!("{name:?} refers to the current stage")));
            }
            return Ok(self.take_stage(j, Some(span))?.state);
        }
        if name.parse::<usize>().is_ok() {
            return Err(
                err(span, format!("stage index {name} does not exist")).with_help(format!(
                    "this Dockerfile has stages 0 to {}",
                    self.df.stages.len().saturating_sub(1)
                )),
            );
        }
        if let Some((key, nc)) = self.named_context(&name) {
            let platform = st.platform.clone();
            return Ok(self
                .named_context_state(&key, &nc, &platform, false, span)?
                .0);
        }
        let reference = Reference::parse(&name).map_err(|e| {
            let names: Vec<&str> = self
                .df
                .stages
                .iter()
                .filter_map(|s| s.from.alias.as_deref())
                .collect();
            let mut er = err(
                span,
                format!(
                    "{name:?} is neither a build stage nor a valid image reference: {}",
                    e.reason
                ),
            );
            if let Some(s) = suggest(&name, names.iter().copied()) {
                er = er.with_help(format!("did you mean the stage {s:?}?"));
            }
            er
        })?;
        // Like BuildKit, a name that is not a stage is an image, even one a letter away from a
        // stage's name (`--from=tool` beside a stage `tools` is a real image for some); the
        // near stage is named only as a hint if the image cannot be had.
        let near_stage = if name.contains(['/', ':', '.']) {
            None
        } else {
            suggest(
                &name,
                self.df
                    .stages
                    .iter()
                    .filter_map(|s| s.from.alias.as_deref()),
            )
        };
        let resolved = self
            .resolver
            .resolve(&reference.to_string(), &st.platform)
            .map_err(|e| {
                let er = err(span, format!("failed to resolve image {reference}: {e}"));
                match &near_stage {
                    Some(s) => er.with_help(format!(
                        "{name:?} is not a stage of this Dockerfile: did you mean the stage {s:?}?"
                    )),
                    None => er,
                }
            })?
            .unwrap_or_default();
        let source = resolved.pinned.unwrap_or_else(|| reference.to_string());
        let meta = VertexMeta {
            description: format!("[internal] image {source}"),
            ..self.meta("", span)
        };
        Ok(Some(self.image_source(source, &st.platform, meta, span)?))
    }

    /// The source vertex of an image (`reference` as resolved: pinned when known).
    fn image_source(
        &mut self,
        reference: String,
        platform: &Platform,
        meta: VertexMeta,
        span: Span,
    ) -> Result<Input> {
        let d = self.add(
            Op::Source(SourceOp::Image {
                reference,
                platform: platform.clone(),
            }),
            vec![],
            meta,
            span,
        )?;
        Ok(Input::of(d))
    }

    /// Record a history entry (`created_by` in docker's BuildKit style).
    pub fn history(&self, st: &mut StageState, created_by: String, empty_layer: bool) {
        st.config.history.push(History {
            created: None,
            created_by,
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer,
        });
    }
}

/// BuildKit's `formatTargetPlatform`: `->arm64` (`->arm/v7`) when the target is another
/// architecture of the stage's OS, `->os/arch` for another OS, else nothing.
fn target_suffix(stage: &Platform, target: &Platform) -> String {
    if target.os != stage.os {
        format!("->{target}")
    } else if target.architecture != stage.architecture {
        match &target.variant {
            Some(v) => format!("->{}/{v}", target.architecture),
            None => format!("->{}", target.architecture),
        }
    } else {
        String::new()
    }
}

impl StageState {
    /// The next step's name, as BuildKit's `prefixCommand` writes it: `[build 3/5] RUN make`,
    /// the index right-aligned to the total's width (`[ 3/12]`), no prefix in a stage without
    /// steps. Only FROM an image, RUN, COPY, ADD and WORKDIR are steps.
    pub fn describe(&mut self, text: &str) -> String {
        if self.steps == 0 {
            return text.trim().to_string();
        }
        self.step += 1;
        let width = self.steps.to_string().len();
        let mut label = String::new();
        if self.platform_prefix {
            // BuildKit's `prefixCommand`: the stage's platform, and the target's architecture
            // when the stage sees a TARGETPLATFORM (an ARG or ENV of it) naming another:
            // `[linux/amd64->arm64 build 2/3]`.
            label.push_str(&self.platform.to_string());
            let target = self
                .env_get("TARGETPLATFORM")
                .or_else(|| self.args.get("TARGETPLATFORM"))
                .and_then(Platform::parse);
            if let Some(target) = target {
                label.push_str(&target_suffix(&self.platform, &target.normalized()));
            }
            label.push(' ');
        }
        if !self.label.is_empty() {
            label.push_str(&self.label);
            label.push(' ');
        }
        format!(
            "[{label}{:>width$}/{}] {}",
            self.step,
            self.steps,
            text.trim()
        )
    }
}

/// `slots[i] = value` for the per-stage vectors, which are as long as the stage list, with
/// `i` a stage index (from [`Lowerer::find_stage`] or the target).
/// TARGETSTAGE's value, as BuildKit sets it: `--target`, else the last stage's name (absent
/// for an unnamed one: then `default`).
pub(super) fn target_stage_name(df: &Dockerfile, opts: &LowerOptions) -> Option<String> {
    opts.target
        .clone()
        .or_else(|| df.stages.last().and_then(|s| s.from.alias.clone()))
}

fn set_slot<T>(slots: &mut [T], i: usize, value: T) {
    if let Some(slot) = slots.get_mut(i) {
        *slot = value;
    }
}

/// Whether an instruction is a numbered step (BuildKit counts ADD, COPY, RUN and WORKDIR).
pub(super) fn counts_as_step(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Workdir(_)
    )
}

/// Whether a stage names an image other than its base (`COPY --from=img`, `RUN
/// --mount=from=img`): BuildKit then counts more than one stage and names them all.
fn references_other_images(stage: &Stage) -> bool {
    stage.commands.iter().any(|c| match &c.instruction {
        Instruction::Copy(copy) => copy.from.is_some(),
        Instruction::Run(run) => run.mounts.iter().any(|m| m.from.is_some()),
        _ => false,
    })
}

/// Resolve `p` against `workdir` and clean it like Go's `path.Clean`, keeping a trailing `/`.
///
/// A Windows path with a drive letter (`C:\app\`) is turned into its POSIX form (`/app/`), as
/// BuildKit does for the system drive, so Windows Dockerfiles plan sensibly.
pub(super) fn resolve_path(workdir: &str, p: &str) -> String {
    let windows = windows_path(p);
    let p = windows.as_deref().unwrap_or(p);
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), p)
    };
    let mut cleaned = clean_path(&joined);
    // BuildKit: an empty destination, like `.`, is the directory itself.
    let wants_dir = p.is_empty() || p.ends_with('/') || p.ends_with("/.") || p == ".";
    if wants_dir && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// `C:\\x\\y` → `/x/y`; `None` when `p` has no drive letter.
fn windows_path(p: &str) -> Option<String> {
    let mut chars = p.chars();
    let (Some(drive), Some(':')) = (chars.next(), chars.next()) else {
        return None;
    };
    let rest = chars.as_str();
    if !drive.is_ascii_alphabetic() || !(rest.is_empty() || rest.starts_with(['\\', '/'])) {
        return None;
    }
    let rest = rest.replace('\\', "/");
    Some(if rest.is_empty() {
        "/".to_string()
    } else {
        rest
    })
}

/// Lexical cleaning of an absolute path: `//` and `.` dropped, `..` resolved (never above `/`).
pub(super) fn clean_path(p: &str) -> String {
    cairn_context::go_clean_abs(p)
}

/// A word shortened for an error message (the line itself is shown separately).
fn brief(word: &str) -> String {
    const MAX: usize = 60;
    match word.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &word[..i]),
        None => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_docker() {
        assert_eq!(resolve_path("/", "app"), "/app");
        assert_eq!(resolve_path("/src", "./bin/"), "/src/bin/");
        assert_eq!(resolve_path("/src", "."), "/src/");
        assert_eq!(resolve_path("/src", "/abs//x/../y"), "/abs/y");
        assert_eq!(resolve_path("/", "../../x"), "/x");
        assert_eq!(resolve_path("/", "C:\\app\\"), "/app/");
        assert_eq!(resolve_path("/app", "C:\\app\\start.ps1"), "/app/start.ps1");
        assert_eq!(resolve_path("/", "c:"), "/");
    }
}

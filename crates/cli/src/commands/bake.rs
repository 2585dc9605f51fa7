//! `cairn bake`: the targets of `docker-bake.hcl` / `.json` built as ONE graph.
//!
//! buildx sends each bake target to BuildKit as a build of its own, so a stage two targets
//! share is solved twice and contexts are sent twice (docker/buildx#1377). Here every selected
//! target is lowered first, the graphs are joined (vertices are content-addressed, so a shared
//! stage is one vertex) under a merge of all results, and that one graph is solved: shared work
//! runs once, independent stages of all targets run side by side under one `--jobs`. Each
//! target is then exported on its own (tags, outputs, caches, push) from the now-cached graph.

use crate::commands::build::{cache_specs, env_source_date_epoch, parse_platforms, read_secrets};
use crate::commands::images::{StoreArgs, normalize};
use crate::commands::input::{self, BuildInput, BuildInputArgs};
use crate::commands::named_contexts;
use crate::commands::progress::{Outcome, Progress, ProgressMode};
use crate::commands::registry::RegistryArgs;
use anyhow::{Context, Result, anyhow, bail};
use cairn_build::output::parse_output;
use cairn_build::{BuildOptions, BuildRequest, Engine, GraphFrontend};
use cairn_ir::{Graph, LocalSource, Op, SourceOp};
use clap::Args;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct BakeArgs {
    /// A bake file (repeatable; later files override earlier ones). Default: those of
    /// docker-bake.json, docker-bake.override.json, docker-bake.hcl and
    /// docker-bake.override.hcl that exist in the current directory.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the resolved definition as JSON (buildx's shape) and build nothing.
    #[arg(long)]
    pub print: bool,
    /// Override a target's field: TARGET.FIELD=VALUE (TARGET may be `*` or end in `*`).
    #[arg(long = "set", value_name = "TARGET.FIELD=VALUE")]
    pub set: Vec<String>,
    /// Do not use the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Re-resolve base-image tags from their registries.
    #[arg(long)]
    pub pull: bool,
    /// Push every target's tags.
    #[arg(long)]
    pub push: bool,
    /// How many steps may run at once, over all targets (default: one per core always, more —
    /// up to 128 — while the CPUs have room).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Grant an entitlement (network.host, security.insecure). Repeatable.
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// Progress output: auto (the default: tty on a terminal, else plain), tty, plain, rawjson
    /// (also json) or quiet; else $CAIRN_PROGRESS, else $BUILDKIT_PROGRESS.
    #[arg(long, value_enum, value_name = "MODE")]
    pub progress: Option<ProgressMode>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Targets or groups to build (default: the group or target named `default`).
    pub targets: Vec<String>,
}

/// The default files, in buildx's order.
const DEFAULT_FILES: [&str; 4] = [
    "docker-bake.json",
    "docker-bake.override.json",
    "docker-bake.hcl",
    "docker-bake.override.hcl",
];

/// One target, lowered (once per platform it names; once when it names none).
struct Lowered {
    name: String,
    /// Each platform asked for (`None`: the default) and its graph.
    graphs: Vec<(Option<cairn_ir::Platform>, Graph)>,
    context: PathBuf,
    named_dirs: HashMap<String, PathBuf>,
    options: BuildOptions,
}

pub fn run(args: BakeArgs) -> Result<()> {
    let files: Vec<PathBuf> = if args.files.is_empty() {
        DEFAULT_FILES
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .collect()
    } else {
        args.files.clone()
    };
    if files.is_empty() {
        bail!(
            "no bake file: give one with -f, or have {} here",
            DEFAULT_FILES.join(", ")
        );
    }
    let mut texts = Vec::new();
    for f in &files {
        let bytes =
            input::read_input_file(f).with_context(|| format!("cannot read {}", f.display()))?;
        let text =
            String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", f.display()))?;
        texts.push((f.display().to_string(), text));
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let parsed: Vec<cairn_bake::File<'_>> = texts
        .iter()
        .map(|(name, text)| cairn_bake::File { name, text })
        .collect();
    let def = cairn_bake::load(&parsed, &env, &args.set)?;
    if args.print {
        let printed = cairn_bake::print(&def, &args.targets)?;
        outln!("{}", serde_json::to_string_pretty(&printed)?);
        return Ok(());
    }
    let selected = cairn_bake::select(&def, &args.targets)?;
    let registry = args.registry.client()?;
    let timeouts = args.registry.timeouts()?;
    let allowed = cairn_build::entitlements::parse(&args.allow)?;
    let source_date_epoch = env_source_date_epoch()?;
    let store = args.store.open()?;
    let exe = std::env::current_exe()
        .context("cannot find the cairn executable for the sandbox helper")?;
    let engine = Engine::new(
        store.clone(),
        registry,
        timeouts,
        args.jobs,
        (exe, vec![crate::SANDBOX_HELPER.into()]),
    )?;
    let progress = Progress::new(ProgressMode::choose(args.progress)?);

    let mut lowered: Vec<Lowered> = Vec::new();
    let resolver = engine.resolver(args.pull);
    for name in &selected {
        let t = def
            .targets
            .get(name)
            .ok_or_else(|| anyhow!("no target {name:?}"))?;
        let l = lower_target(
            name,
            t,
            &args,
            &store,
            &resolver,
            allowed,
            source_date_epoch,
        )
        .with_context(|| format!("target {name:?}"))?;
        lowered.push(l);
    }
    drop(resolver);

    // One context directory keeps the name `context` (so its vertices are those a plain
    // `cairn build` makes, and share its cache); the others get names of their own.
    let primary = lowered.first().map(|l| l.context.clone());
    let mut locals: HashMap<String, PathBuf> = HashMap::new();
    for l in &mut lowered {
        let name = if Some(&l.context) == primary.as_ref() {
            LocalSource::MAIN.to_string()
        } else {
            format!("{}@{}", LocalSource::MAIN, l.context.display())
        };
        if name != LocalSource::MAIN {
            for (_, g) in &mut l.graphs {
                *g = rename_context(g, &name)?;
            }
        }
        locals.insert(name, l.context.clone());
        locals.extend(l.named_dirs.clone());
    }

    // The whole bake as one solve: every target's result under one merge.
    let every: Vec<Graph> = lowered
        .iter()
        .flat_map(|l| l.graphs.iter().map(|(_, g)| g.clone()))
        .collect();
    let combined = cairn_build::combine::combine(&every, "[bake] all targets")?;
    let mut secrets = HashMap::new();
    for l in &lowered {
        secrets.extend(l.options.secrets.clone());
    }
    let events: Arc<dyn cairn_build::EventSink> = Arc::new(progress.clone());
    let all = engine.build(
        &BuildRequest {
            frontend: &GraphFrontend(combined),
            locals: locals.clone(),
            options: BuildOptions {
                no_cache: args.no_cache,
                pull: false,
                allowed,
                secrets,
                ..BuildOptions::default()
            },
        },
        events,
    );
    progress.finish(if all.is_ok() {
        Outcome::Finished
    } else {
        Outcome::Failed
    });
    let all = all?;
    progress.info(&format!(
        "bake: {} target(s), {} step(s) run, {} cached",
        lowered.len(),
        all.executed,
        all.cached
    ));
    // Each target's own export, from the cache the solve filled.
    let quiet: Arc<dyn cairn_build::EventSink> = Arc::new(Progress::new(ProgressMode::Quiet));
    for l in lowered {
        let built = engine
            .build(
                &BuildRequest {
                    frontend: &PlatformGraphs(l.graphs),
                    locals: locals.clone(),
                    options: l.options,
                },
                quiet.clone(),
            )
            .with_context(|| format!("target {:?}", l.name))?;
        let id = built.image.map(|i| i.config).unwrap_or_default();
        progress.info(&format!("target {}: {id}", l.name));
    }
    Ok(())
}

/// A target as the Dockerfile frontend lowers it, with its build options.
fn lower_target(
    name: &str,
    t: &cairn_bake::Target,
    args: &BakeArgs,
    store: &cairn_store::Store,
    resolver: &dyn cairn_ir::resolve::ImageResolver,
    allowed: cairn_build::Allowed,
    env_epoch: Option<i64>,
) -> Result<Lowered> {
    if !t.ssh.is_empty() {
        bail!("ssh is not supported by cairn bake yet");
    }
    let platforms = parse_platforms(
        Some(&t.platforms.join(","))
            .filter(|p| !p.is_empty())
            .map(String::as_str),
    )?;
    let context = std::fs::canonicalize(t.context.as_deref().unwrap_or("."))
        .with_context(|| format!("cannot find the context {:?}", t.context))?;
    // An inline Dockerfile is written beside nothing: a scratch file for the frontend to read.
    let inline_dir;
    let file = match (&t.dockerfile_inline, &t.dockerfile) {
        (Some(text), _) => {
            inline_dir = tempfile::tempdir().context("cannot make a scratch directory")?;
            let p = inline_dir.path().join("Dockerfile");
            std::fs::write(&p, text).context("cannot write the inline Dockerfile")?;
            Some(p)
        }
        (None, Some(f)) => Some(context.join(f)),
        (None, None) => None,
    };
    let input_args = BuildInputArgs {
        file,
        target: t.target.clone(),
        build_args: t.args.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        context: context.clone(),
    };
    let mut input = BuildInput::load(&input_args)?;
    match t.network.as_deref() {
        None | Some("default") => {}
        Some("none") => input.options.default_network = cairn_ir::NetworkMode::None,
        Some("host") => input.options.default_network = cairn_ir::NetworkMode::Host,
        Some(other) => bail!("unknown network {other:?}: use default, none or host"),
    }
    input.options.no_cache_stages = t.no_cache_filter.clone();
    let specs: Vec<String> = t.contexts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let named = named_contexts::parse(&specs, store)?;
    input.options.named_contexts = named.lower;
    let mut graphs = Vec::new();
    let mut source_date_epoch = None;
    let each: Vec<Option<&cairn_ir::Platform>> = if platforms.is_empty() {
        vec![None]
    } else {
        platforms.iter().map(Some).collect()
    };
    let multi = platforms.len() > 1;
    for platform in each {
        let out = input.lower_for(resolver, platform, multi)?;
        if let Some(e) = out.lint_error {
            bail!("{e}");
        }
        source_date_epoch = source_date_epoch.or(out.source_date_epoch);
        graphs.push((platform.cloned(), out.graph));
    }
    // buildx's output kinds that are not files: `cacheonly` (build, keep nothing but the
    // cache), `docker` without a destination (load into docker: cairn keeps the image in its
    // store, under the target's tags) and `registry` / `image,push=true` (push the tags).
    let mut outputs = Vec::new();
    let mut push = args.push;
    for o in &t.outputs {
        let fields: Vec<&str> = o.split(',').map(str::trim).collect();
        let has = |f: &str| fields.contains(&f);
        let has_dest = fields.iter().any(|f| f.starts_with("dest="));
        if has("type=cacheonly") || (has("type=docker") && !has_dest) {
            continue;
        }
        if has("type=registry") || (has("type=image") && has("push=true")) {
            push = true;
            continue;
        }
        outputs.push(parse_output(o)?);
    }
    let tags = t
        .tags
        .iter()
        .map(|x| normalize(x))
        .collect::<Result<Vec<_>>>()?;
    let (cache_from, cache_to) = cache_specs(&t.cache_from, &t.cache_to)?;
    Ok(Lowered {
        name: name.to_string(),
        graphs,
        context,
        named_dirs: named.dirs,
        options: BuildOptions {
            no_cache: false,
            pull: false,
            allowed,
            labels: t
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            secrets: read_secrets(&t.secret)?,
            ssh: HashMap::new(),
            tags,
            outputs,
            compression: cairn_store::Compression::Gzip,
            push,
            want_image_id: true,
            cache_from,
            cache_to,
            source_date_epoch: source_date_epoch.or(env_epoch),
            // Bake's targets are solved as one graph: --explain is `cairn build`'s for now.
            history: None,
            platforms,
        },
    })
}

/// `graph` with its build-context source named `name` (digests re-derived).
fn rename_context(graph: &Graph, name: &str) -> Result<Graph> {
    Ok(graph.rewrite(|v| match &v.op {
        Op::Source(SourceOp::Local(l)) if l.name == LocalSource::MAIN => {
            Some(Op::Source(SourceOp::Local(LocalSource {
                name: name.to_string(),
                ..l.clone()
            })))
        }
        _ => None,
    })?)
}

/// A target's graphs, one per platform, handed to the build as a frontend: the build asks for
/// each platform's in turn.
struct PlatformGraphs(Vec<(Option<cairn_ir::Platform>, Graph)>);

impl cairn_build::Frontend for PlatformGraphs {
    fn definition(&self) -> String {
        "a bake target".into()
    }

    fn lower(
        &self,
        host: &cairn_build::FrontendHost<'_>,
    ) -> cairn_build::Result<cairn_build::FrontendOutput> {
        let graph = self
            .0
            .iter()
            .find(|(p, _)| p.as_ref() == host.platform())
            .map(|(_, g)| g.clone());
        let graph = graph.ok_or_else(|| {
            cairn_build::BuildError::msg(format!(
                "internal: no graph of this target for {}",
                host.platform()
                    .map_or_else(|| "its platform".into(), |p| p.to_string())
            ))
        })?;
        Ok(cairn_build::FrontendOutput {
            graph,
            source_date_epoch: None,
            warnings: Vec::new(),
        })
    }
}

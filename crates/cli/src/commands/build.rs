//! `cairn build`: plan, solve, export.

use crate::commands::cache;
use crate::commands::entitlements;
use crate::commands::host_config;
use crate::commands::images::{StoreArgs, normalize};
use crate::commands::input::{self, BuildInput, BuildInputArgs};
use crate::commands::lint;
use crate::commands::named_contexts;
use crate::commands::output::{Output, parse_output};
use crate::commands::packed_context::{self, PackedContext};
use crate::commands::progress::{Progress, ProgressMode};
use crate::commands::registry::{RegistryArgs, push_named, write_metadata};
use crate::commands::resolver::StoreResolver;
use anyhow::{Context, Result, anyhow, bail};
use cairn_ir::{GitRef, Graph, LocalSource, Op, SourceOp};
use cairn_solver::{SolveError, SolveOptions, Solver, StoreKeyContext};
use cairn_store::{Compression, Store};
use clap::Args;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// Name (and keep in the store) the result: NAME[:TAG]; repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Do not use the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// How many steps may run at once (default: number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Network for RUN steps: default (a network namespace of its own, through slirp4netns:
    /// the outside world but not the host's loopback), none or host.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Grant an entitlement a Dockerfile cannot grant itself: network.host (`RUN
    /// --network=host`) or security.insecure (`RUN --security=insecure`). Repeatable.
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// A secret for RUN --mount=type=secret: id=ID,src=PATH (or env=VAR).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Forward an ssh-agent to RUN --mount=type=ssh: `default` ($SSH_AUTH_SOCK),
    /// ID=SOCKET, or ID=KEY[,KEY] (key files, loaded into an agent cairn runs for the build).
    /// Repeatable.
    #[arg(long = "ssh", value_name = "default|ID[=SOCKET|KEY[,KEY]]")]
    pub ssh: Vec<String>,
    /// Output: type=oci|docker|local|tar,dest=PATH (repeatable). type=local and type=tar leave
    /// out device nodes unless given devices=true (a node from an image would otherwise open
    /// a host device to whoever can reach the file).
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Layer compression for image outputs: gzip or zstd.
    #[arg(long, default_value = "gzip")]
    pub compression: String,
    /// Push the tagged images to their registries after the build.
    #[arg(long)]
    pub push: bool,
    /// Re-resolve base-image tags from their registries, even if the store has them.
    #[arg(long)]
    pub pull: bool,
    /// Write the image digest as JSON (BuildKit's `--metadata-file` keys).
    #[arg(long)]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Export the build cache: type=local,dest=DIR or type=registry,ref=REF, with
    /// mode=min|max (min: the final image's chain; max: every intermediate result).
    #[arg(long = "cache-to")]
    pub cache_to: Vec<String>,
    /// Import a build cache: type=local,src=DIR or type=registry,ref=REF (repeatable).
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Progress output: plain (also auto, tty), json (also rawjson) or quiet.
    #[arg(long, value_enum, default_value_t = ProgressMode::Plain)]
    pub progress: ProgressMode,
    /// Print only the image ID (on stdout), no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only check the Dockerfile (BuildKit's lint rules, every stage) and report; run nothing.
    /// Fails when anything is found.
    #[arg(long)]
    pub check: bool,
    /// buildx's `--call`: `build` (the default), `check` (as --check), or `targets` (list the
    /// stages; `targets,format=json` as JSON); `outline` is not supported yet.
    #[arg(long, value_name = "build|check|targets[,format=json]")]
    pub call: Option<String>,
    /// Write the image ID (the config digest) to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Add a label to the image: KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Run these stages' steps even when they are cached (stage names; repeatable, or
    /// comma-separated).
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// A named context: NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://DIR[:TAG]
    /// (stands in for FROM NAME, COPY --from=NAME and a stage called NAME; repeatable).
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Add a line to /etc/hosts of every RUN step: HOST:IP (repeatable).
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,
    /// Size of /dev/shm in RUN steps (e.g. 128m, 1g; default 64m).
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// A resource limit of RUN steps: NAME=SOFT[:HARD], -1 for unlimited (repeatable).
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
    /// Target platform(s): only the one cairn runs on is supported so far.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: BuildArgs) -> Result<()> {
    // Checked before anything is opened or made.
    let call_spec = args.call.clone().unwrap_or_else(|| "build".into());
    let (call, call_opts) = call_spec
        .split_once(',')
        .unwrap_or((call_spec.as_str(), ""));
    if !matches!(call, "build" | "check" | "targets") {
        bail!(
            "--call {call} is not supported: cairn runs --call build (the default), check and targets"
        );
    }
    input::parse_build_args(&args.input.build_args)?;
    let registry = args.registry.client()?;
    let outputs = args
        .outputs
        .iter()
        .map(|o| parse_output(o))
        .collect::<Result<Vec<Output>>>()?;
    let tags = args
        .tags
        .iter()
        .map(|t| normalize(t))
        .collect::<Result<Vec<String>>>()?;
    let compression = match args.compression.as_str() {
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        "none" | "uncompressed" => Compression::None,
        other => bail!("unknown compression {other:?}: use gzip, zstd or none"),
    };
    let network_override = match args.network.as_str() {
        "default" => None,
        "none" => Some(cairn_ir::NetworkMode::None),
        "host" => Some(cairn_ir::NetworkMode::Host),
        other => bail!("unknown network mode {other:?}: use default, none or host"),
    };
    check_platforms(args.platform.as_deref())?;
    let labels = args
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !l.is_empty() => Ok((l.clone(), String::new())),
            _ => bail!("invalid --label {l:?}: expected KEY=VALUE"),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut allowed = entitlements::parse(&args.allow)?;
    if network_override == Some(cairn_ir::NetworkMode::Host) {
        allowed.network_host = true;
    }
    let host_config = host_config::parse(&args.add_hosts, args.shm_size.as_deref(), &args.ulimits)?;
    let secrets = read_secrets(&args.secrets)?;
    // Kept until the build ends: agents started for key files stop when it drops.
    let ssh_agents = crate::commands::ssh::agents(&args.ssh)?;
    let ssh = ssh_agents.sockets.clone();
    // Scratch directories of builders that were killed outright.
    cairn_sandbox::remove_stale_scratch();

    let store = args.store.open()?;
    // `cairn build -`: the context (or a Dockerfile alone) on stdin; kept until the build ends.
    let mut input_args = args.input.clone();
    // A context given as one file (stdin or a URL that is not a git repository); a lone
    // Dockerfile is the Dockerfile whatever -f says, as BuildKit takes a URL's.
    let use_packed = |input_args: &mut BuildInputArgs, pc: PackedContext, what: &str| {
        input_args.file = if pc.lone_dockerfile {
            None
        } else {
            input_args
                .file
                .take()
                .map(|f| input::file_inside(pc.dir(), &f, what))
                .transpose()?
        };
        input_args.context = pc.dir().to_path_buf();
        anyhow::Ok(Some(pc))
    };
    let context_word = input_args.context.to_string_lossy().into_owned();
    let _packed_context = if context_word == "-" {
        if input_args.file.as_deref() == Some(std::path::Path::new("-")) {
            bail!(
                "the context and the Dockerfile cannot both be read from stdin (-f - with context -)"
            );
        }
        let pc = packed_context::from_stdin(&store)?;
        use_packed(&mut input_args, pc, "the context on stdin")?
    } else if (context_word.starts_with("http://") || context_word.starts_with("https://"))
        && !GitRef::is_git_url(&context_word)
    {
        let pc = packed_context::from_url(&store, &context_word, args.registry.timeouts()?)?;
        use_packed(&mut input_args, pc, "the context at a URL")?
    } else if GitRef::is_git_url(&input_args.context.to_string_lossy()) {
        // A git repository as the context (`docker build https://host/repo.git#ref:dir`):
        // checked out into the store like an `ADD` of it; -f names a file inside it.
        let url = input_args.context.to_string_lossy().into_owned();
        let g = GitRef::parse(&url).map_err(|e| anyhow!("the git context {url}: {e}"))?;
        let timeouts = crate::commands::sources::git_timeouts(args.registry.timeouts()?);
        let fetched = cairn_git::Fetcher::new(store.clone(), timeouts)
            .with_ssh_agent(ssh_agents.sockets.get("default").cloned())
            .fetch(&cairn_git::Source {
                remote: g.remote,
                reference: g.reference,
                subdir: g.subdir,
                keep_git_dir: g.keep_git_dir.unwrap_or(false),
                checksum: g.checksum,
                submodules: g.submodules.unwrap_or(true),
            })
            .with_context(|| format!("cannot use the git context {url}"))?;
        let dir = store.layer_dir(&fetched.layer);
        if let Some(f) = &input_args.file
            && f.as_os_str() != "-"
        {
            input_args.file = Some(input::file_inside(&dir, f, "a git context")?);
        }
        input_args.context = dir;
        None
    } else {
        None
    };
    let args = BuildArgs {
        input: input_args,
        ..args
    };
    let mut input = BuildInput::load(&args.input)?;
    if call == "targets" {
        return print_targets(&input, call_opts);
    }
    if let Some(mode) = network_override {
        input.options.default_network = mode;
    }
    input.options.host_config = host_config;
    input.options.no_cache_stages = args.no_cache_filter.clone();
    let named = named_contexts::parse(&args.build_contexts, &store)?;
    input.options.named_contexts = named.lower;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 8))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let resolver = StoreResolver::new(&store).with_registry(&registry, &runtime, args.pull);
    let progress = Progress::new(if args.quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    });
    let check = args.check || call == "check";
    input.options.all_stages = check;
    let file = input.dockerfile_path.display().to_string();
    let lowered = match input.lower(&resolver) {
        Ok(l) => l,
        Err(e) => {
            // Findings made before the error are shown with it, as BuildKit shows them.
            if let Some(se) = e.downcast_ref::<crate::diagnostics::SourceError>() {
                if check {
                    lint::check_report(&progress, &file, &input.dockerfile, &se.error.lint);
                } else {
                    lint::events(&progress, &se.error.lint);
                    lint::summary(&progress, &se.error.lint);
                }
            }
            return Err(e);
        }
    };
    if check {
        lint::check_report(&progress, &file, &input.dockerfile, &lowered.lint);
        let n = lowered.lint.len();
        if let Some(e) = &lowered.lint_error {
            bail!("{e}");
        }
        if n > 0 {
            let s = if n == 1 { " has" } else { "s have" };
            bail!("Check complete, {n} warning{s} been found!");
        }
        progress.info("Check complete, no warnings found.");
        return Ok(());
    }
    lint::events(&progress, &lowered.lint);
    // Shown when the build ends, however it ends (buildx's summary).
    struct Summary<'p>(&'p Progress, Vec<cairn_dockerfile::lint::LintWarning>);
    impl Drop for Summary<'_> {
        fn drop(&mut self) {
            lint::summary(self.0, &self.1);
        }
    }
    let _summary = Summary(&progress, lowered.lint.clone());
    if let Some(e) = &lowered.lint_error {
        bail!("{e}");
    }
    let epoch = match lowered.source_date_epoch {
        Some(e) => Some(e),
        None => env_source_date_epoch()?,
    };
    for w in &lowered.warnings {
        progress.warn(w);
    }
    let mut graph = lowered.graph;
    graph.image.labels.extend(labels);
    if let Some(d) = entitlements::check(&graph, allowed).first() {
        let place = match d.lines {
            Some((line, _)) => format!("{}:{line}: ", input.dockerfile_path.display()),
            None => String::new(),
        };
        bail!(
            "{place}{} needs the {} entitlement, which this build was not granted: run cairn \
             build with --allow {} if you trust this Dockerfile",
            d.step,
            d.entitlement,
            d.entitlement
        );
    }

    let context_dir = std::fs::canonicalize(&args.input.context).with_context(|| {
        format!(
            "cannot resolve the build context {}",
            args.input.context.display()
        )
    })?;
    // Every local source the graph reads: the build context and named directories.
    let mut locals = named.dirs;
    locals.insert(LocalSource::MAIN.to_string(), context_dir);
    let mut contexts = HashMap::new();
    for v in &graph.vertices {
        if let Op::Source(SourceOp::Local(l)) = &v.op
            && !contexts.contains_key(&l.name)
        {
            let dir = locals.get(&l.name).with_context(|| {
                format!(
                    "the build reads the local source {:?}, which was not given",
                    l.name
                )
            })?;
            contexts.insert(l.name.clone(), scan_context(&store, dir, &l.exclude)?);
        }
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut remotes: Vec<std::sync::Arc<dyn cairn_solver::RemoteCache>> = Vec::new();
    for spec in &args.cache_from {
        let (location, _) = cache::parse(spec, "src")?;
        remotes.push(
            cache::open(&location, &registry, &runtime)
                .with_context(|| format!("--cache-from {spec}"))?,
        );
    }
    let cache_to = args
        .cache_to
        .iter()
        .map(|spec| cache::parse(spec, "dest"))
        .collect::<Result<Vec<_>>>()?;
    let opts = SolveOptions {
        jobs,
        no_cache: args.no_cache,
        locals,
        secrets,
        remotes,
        ssh,
    };
    let exe = std::env::current_exe()
        .context("cannot find the cairn executable for the sandbox helper")?;
    let executor = cairn_sandbox::ReexecExecutor::new(exe, vec!["__sandbox".into()]);

    let fetched = crate::commands::sources::fetch_remote(
        &graph,
        &store,
        &runtime,
        args.registry.timeouts()?,
        ssh_agents.sockets.get("default").cloned(),
        &progress,
    )?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let keycx = StoreKeyContext {
        store: &store,
        contexts: &contexts,
        fetched: &fetched,
    };
    let solver = Solver::new(store.clone(), executor, graph.clone(), &keycx, opts, tx)
        .map_err(|e| report_failure(&input, &graph, e))?;
    let result = runtime.block_on(async {
        let printer = tokio::spawn(progress.clone().run(rx));
        // SIGINT, SIGTERM and SIGHUP all stop the build the same way: the solver is dropped,
        // which kills every sandbox helper (and with it each step's pid namespace) and
        // removes their scratch directories.
        let r = tokio::select! {
            r = solver.solve() => r,
            sig = stop_signal() => Err(SolveError::Internal(format!("interrupted ({sig})"))),
        };
        // A cache export also covers results this build did not need to look at.
        let stored = if r.is_ok() && !cache_to.is_empty() {
            solver.stored_records(&|_| true)
        } else {
            Vec::new()
        };
        drop(solver);
        let _ = printer.await;
        (r, stored)
    });
    let (result, stored) = result;
    let out = match result {
        Ok(o) => o,
        Err(e) => return Err(report_failure(&input, &graph, e)),
    };
    progress.summary(out.executed, out.cached);
    let chain = if cache_to.is_empty() {
        Default::default()
    } else {
        result_chain(&graph)
    };
    // Base images are not exported (every importer resolves them itself): neither their
    // records nor their layers' blobs.
    let base_vertices: std::collections::HashSet<cairn_ir::Digest> = if cache_to.is_empty() {
        Default::default()
    } else {
        graph
            .vertices
            .iter()
            .filter(|v| matches!(v.op, Op::Source(SourceOp::Image { .. })))
            .map(|v| v.digest)
            .collect()
    };
    let base_layers: std::collections::HashSet<String> = out
        .records
        .iter()
        .chain(&stored)
        .filter(|r| base_vertices.contains(&r.vertex))
        .flat_map(|r| r.layers.iter().cloned())
        .collect();
    for (location, copts) in &cache_to {
        let wanted =
            |d: &cairn_ir::Digest| (copts.max || chain.contains(d)) && !base_vertices.contains(d);
        let mut records: Vec<cairn_solver::UsedRecord> = out
            .records
            .iter()
            .filter(|r| wanted(&r.vertex))
            .cloned()
            .collect();
        records.extend(stored.iter().filter(|r| wanted(&r.vertex)).cloned());
        let mounts = if copts.mounts {
            cache_mounts(&store, &graph)?
        } else {
            Vec::new()
        };
        let set = cairn_solver::cache_dir::ExportSet {
            records: &records,
            base: &base_layers,
            epoch,
            mounts: &mounts,
        };
        let (n, layers) = cache::export(&store, location, &set, &registry, &runtime)
            .with_context(|| format!("--cache-to {location:?}"))?;
        progress.info(&format!(
            "exported {n} cache records and {layers} layers to {location:?}"
        ));
    }

    let spec = cairn_oci::ImageSpec {
        platform: graph.platform.clone(),
        config: graph.image.clone(),
        layers: out.layers.clone(),
        epoch,
        base_layers: base_layer_count(&graph, &store, &out.layers)?,
    };
    let exports_image = outputs.iter().any(Output::is_image);
    let wants_id = args.quiet || args.iidfile.is_some();
    if exports_image || !tags.is_empty() || wants_id {
        // An image that only stays in the store needs no compressed blobs (like docker's own
        // image store); exports get real, compressed layers.
        let mut image = if exports_image {
            cairn_oci::assemble_image(&store, &spec, compression)
        } else {
            cairn_oci::assemble_image_in_store(&store, &spec)
        }
        .context("cannot assemble the image")?;
        for t in &tags {
            let rec = cairn_store::ImageRecord {
                manifest: image.manifest.clone(),
                config: image.config.clone(),
                layers: out.layers.clone(),
            };
            if store.image_get(t)?.as_ref() != Some(&rec) {
                store.image_put(t, &rec)?;
            }
            progress.info(&format!("naming to {t}"));
        }
        for o in &outputs {
            if let Err(e) = o.write_image(&store, &image, &tags) {
                // A blob the export found damaged is gone from the store now; one of a layer
                // this build made is made again (same bytes, same digest) and the export
                // retried. A base image's blob cannot be: the error says how to repair it.
                let missing = |b: &cairn_store::LayerBlob| !store.has_blob(&b.digest);
                let base_damaged = image.layers.iter().take(spec.base_layers).any(missing);
                let built_damaged = image.layers.iter().skip(spec.base_layers).any(missing);
                if base_damaged || !built_damaged {
                    return Err(e);
                }
                progress.warn(&format!("{e:#}; making it again from its layer"));
                image = cairn_oci::assemble_image(&store, &spec, compression)
                    .context("cannot assemble the image")?;
                o.write_image(&store, &image, &tags)?;
            }
        }
        // As docker does, the image id is the config digest.
        progress.info(&format!("writing image {} done", image.config));
        if let Some(path) = &args.iidfile {
            std::fs::write(path, image.config.to_string())
                .with_context(|| format!("cannot write --iidfile {}", path.display()))?;
        }
        if args.quiet {
            outln!("{}", image.config);
        }
        let mut pushed = None;
        if args.push {
            if tags.is_empty() {
                bail!("--push needs a name: add -t REGISTRY/NAME:TAG");
            }
            for t in &tags {
                let digest = runtime.block_on(push_named(&store, &registry, t))?;
                progress.info(&format!("pushed {t} {digest}"));
                pushed = Some((t.clone(), digest));
            }
        }
        let (name, digest) = pushed.unwrap_or_else(|| {
            (
                tags.first().cloned().unwrap_or_default(),
                image.manifest.to_string(),
            )
        });
        write_metadata(args.metadata_file.as_deref(), &name, &digest)?;
    } else if args.push {
        bail!("--push needs a name: add -t REGISTRY/NAME:TAG");
    }
    for o in &outputs {
        let omitted = o.write_files(&store, &out.layers)?;
        if let Some(first) = omitted.first() {
            progress.warn(&format!(
                "{} device node(s) left out of the output (e.g. /{first}): add {} to the \
                 -o option to create them",
                omitted.len(),
                crate::commands::output::DEVICES_HELP
            ));
        }
    }
    Ok(())
}

/// `--platform`: every platform named must be the one cairn runs on (multi-platform builds
/// are not there yet); a clear error otherwise, never a mislabelled image.
fn check_platforms(spec: Option<&str>) -> Result<()> {
    let Some(spec) = spec else { return Ok(()) };
    let native = cairn_ir::Platform::host();
    for p in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = cairn_ir::Platform::parse(p)
            .with_context(|| format!("invalid --platform {p:?}: expected os/arch[/variant]"))?;
        if !native.serves(&parsed) {
            bail!(
                "--platform {p}: cairn builds only for the platform it runs on ({native}) so \
                 far; multi-platform builds are not supported yet"
            );
        }
    }
    Ok(())
}

/// Wait for SIGINT, SIGTERM or SIGHUP; the signal's name.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

/// The `RUN --mount=type=cache` directories of this build, by id.
fn cache_mounts(store: &Store, g: &Graph) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for v in &g.vertices {
        if let Op::Exec(x) = &v.op {
            for m in &x.mounts {
                if let cairn_ir::MountKind::Cache { id, .. } = &m.kind
                    && !out.iter().any(|(i, _)| i == id)
                {
                    out.push((id.clone(), store.cache_mount_dir(id)?));
                }
            }
        }
    }
    Ok(out)
}

/// How many of the result's bottom layers are its base image's (the image at the bottom of the
/// final stage's chain): exported as they came, whatever SOURCE_DATE_EPOCH says.
fn base_layer_count(g: &Graph, store: &Store, layers: &[String]) -> Result<usize> {
    let mut count = 0;
    for d in result_chain(g) {
        if let Some(Op::Source(SourceOp::Image { reference, .. })) = g.vertex(&d).map(|v| &v.op)
            && let Some(rec) = store.image_resolve(reference)?
            && layers.starts_with(&rec.layers)
        {
            count = count.max(rec.layers.len());
        }
    }
    Ok(count)
}

/// The vertices whose results are the final image's layers: down the root filesystems from
/// the result.
fn result_chain(g: &Graph) -> std::collections::HashSet<cairn_ir::Digest> {
    let mut out = std::collections::HashSet::new();
    let mut todo: Vec<cairn_ir::Digest> = g.result.iter().map(|r| r.vertex).collect();
    while let Some(d) = todo.pop() {
        if !out.insert(d) {
            continue;
        }
        let Some(v) = g.vertex(&d) else { continue };
        let below: Vec<u32> = match &v.op {
            Op::Exec(x) => x
                .mounts
                .iter()
                .filter(|m| matches!(m.kind, cairn_ir::MountKind::Rootfs))
                .filter_map(|m| m.input)
                .collect(),
            Op::File(f) => f.base.into_iter().collect(),
            Op::Merge(m) => m.inputs.clone(),
            Op::Source(_) => Vec::new(),
        };
        todo.extend(
            below
                .iter()
                .filter_map(|&i| v.inputs.get(i as usize))
                .map(|i| i.vertex),
        );
    }
    out
}

fn scan_context(
    store: &Store,
    dir: &Path,
    patterns: &[String],
) -> Result<cairn_context::ContextIndex> {
    let matcher =
        cairn_context::ignore::IgnoreMatcher::new(patterns).context("invalid .dockerignore")?;
    let key = blake3::hash(dir.as_os_str().as_encoded_bytes())
        .to_hex()
        .to_string();
    let loaded = store.stat_cache_load(&key)?;
    let mut cache = loaded
        .as_deref()
        .map(cairn_context::StatCache::from_bytes)
        .unwrap_or_default();
    let entries_before = cache.len();
    let index = cairn_context::scan(dir, &matcher, &mut cache)
        .with_context(|| format!("cannot read the build context {}", dir.display()))?;
    // Nothing re-hashed and nothing gone: the saved cache is still exact (a no-op rebuild
    // writes nothing).
    if loaded.is_none() || index.stats().hashed > 0 || cache.len() != entries_before {
        store.stat_cache_save(&key, &cache.to_bytes())?;
    }
    Ok(index)
}

fn read_secrets(specs: &[String]) -> Result<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    for spec in specs {
        let mut id = None;
        let mut src: Option<PathBuf> = None;
        let mut env = None;
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid --secret {spec:?}: expected id=ID,src=PATH or id=ID,env=VAR"),
            }
        }
        let id = id
            .or_else(|| {
                src.as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .with_context(|| format!("--secret {spec:?} needs an id"))?;
        let content = match (src, env) {
            (Some(p), _) => std::fs::read(&p)
                .with_context(|| format!("cannot read secret {id} from {}", p.display()))?,
            (None, Some(var)) => std::env::var(&var)
                .with_context(|| format!("secret {id}: environment variable {var} is not set"))?
                .into_bytes(),
            (None, None) => std::env::var(&id)
                .with_context(|| format!("secret {id}: give src=PATH or env=VAR"))?
                .into_bytes(),
        };
        out.insert(id, content);
    }
    Ok(out)
}

/// `--call targets`: the Dockerfile's stages, as buildx lists them (a table, or with
/// `format=json` BuildKit's `targets` list).
fn print_targets(input: &BuildInput, opts: &str) -> Result<()> {
    let ast = cairn_dockerfile::parser::parse(&input.dockerfile).map_err(|error| {
        crate::diagnostics::SourceError {
            file: input.dockerfile_path.display().to_string(),
            source_text: input.dockerfile.clone(),
            error,
        }
    })?;
    let targets = cairn_dockerfile::targets::targets(&ast);
    match opts {
        "format=json" => outln!("{}", serde_json::json!({ "targets": targets })),
        "" | "format=text" => {
            let shown: Vec<(String, &str)> = targets
                .iter()
                .filter(|t| !t.name.is_empty() || t.default)
                .map(|t| {
                    let name = match (t.name.as_str(), t.default) {
                        ("", _) => "(default)".to_string(),
                        (n, true) => format!("{n} (default)"),
                        (n, false) => n.to_string(),
                    };
                    (name, t.description.as_str())
                })
                .collect();
            let width = shown.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(6);
            outln!("{:<width$}  DESCRIPTION", "TARGET");
            for (name, description) in shown {
                outln!("{name:<width$}  {description}");
            }
        }
        other => bail!("--call targets: unknown option {other:?} (use format=json or format=text)"),
    }
    Ok(())
}

/// The epoch of a reproducible build when the Dockerfile and build args give none: the
/// `SOURCE_DATE_EPOCH` environment variable (what reproducible-builds tooling sets); a value
/// that is not a number of seconds is an error.
fn env_source_date_epoch() -> Result<Option<i64>> {
    let value = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(e) if e >= 0 => Ok(Some(e)),
        _ => bail!(
            "invalid SOURCE_DATE_EPOCH: {value} (the environment variable: expected seconds since 1970)"
        ),
    }
}

/// A failed step, shown like BuildKit shows it: the Dockerfile lines, then the cause.
fn report_failure(input: &BuildInput, graph: &Graph, e: SolveError) -> anyhow::Error {
    let no_lines = Vec::new();
    let (digest, vertex, message, last_lines) = match &e {
        SolveError::Step {
            digest,
            vertex,
            message,
            last_lines,
            ..
        } => (digest, vertex, message, last_lines),
        // A key that cannot be computed (a COPY source that is not there) names its step too.
        SolveError::Key(k) => (&k.digest, &k.vertex, &k.message, &no_lines),
        _ => return anyhow::anyhow!("{e}"),
    };
    let mut out = String::new();
    if !last_lines.is_empty() {
        out.push_str("last output:\n");
        for l in last_lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    let meta = graph.meta.get(digest);
    if let Some((a, b)) = meta.and_then(|m| m.lines) {
        let text = String::from_utf8_lossy(&input.dockerfile);
        out.push_str(&format!(
            "{}:{a}\n--------------------\n",
            input.dockerfile_path.display()
        ));
        for (i, line) in text
            .lines()
            .enumerate()
            .skip(a.saturating_sub(1))
            .take(b + 1 - a.min(b))
        {
            out.push_str(&format!("{:>4} | {line}\n", i + 1));
        }
        out.push_str("--------------------\n");
    }
    out.push_str(&format!("{vertex}: {message}"));
    anyhow::anyhow!("{out}")
}

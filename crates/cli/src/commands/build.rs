//! `cairn build`: plan, solve, export.

use crate::commands::host_config;
use crate::commands::images::{StoreArgs, normalize};
use crate::commands::input::{self, BuildInput, BuildInputArgs};
use crate::commands::lint;
use crate::commands::named_contexts;
use crate::commands::packed_context::{self, PackedContext};
use crate::commands::progress::{Outcome, Progress, ProgressMode};
use crate::commands::registry::{RegistryArgs, write_metadata};
use crate::diagnostics::SourceError;
use anyhow::{Context, Result, anyhow, bail};
use cairn_build::output::parse_output;
use cairn_build::{
    BuildError, BuildOptions, BuildRequest, Engine, Frontend, FrontendOutput, GraphFrontend,
    Output, StepFailure,
};
use cairn_dockerfile::lint::LintWarning;
use cairn_ir::resolve::ImageResolver;
use cairn_ir::{GitRef, LocalSource};
use cairn_store::Compression;
use clap::Args;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub input: BuildInputArgs,
    /// The frontend that turns the input into a build graph: `dockerfile` (the default);
    /// `ir`: a graph in cairn's JSON form (docs/ir.md; `cairn plan --format json` writes one),
    /// read from -f FILE (`-`: stdin), or from a file named in place of the context (the
    /// context is then the current directory); `exec:PROGRAM`: a program speaking the
    /// frontend protocol (docs/frontend-protocol.md), given -f, --target, --build-arg and
    /// --frontend-opt, reading the context only through cairn; `image:REF`: a frontend image,
    /// run in the sandbox (also named by `# syntax=REF` or `--build-arg BUILDKIT_SYNTAX=REF`).
    #[arg(
        long,
        value_name = "dockerfile|ir|exec:PROGRAM|image:REF",
        default_value = "dockerfile"
    )]
    pub frontend: String,
    /// An option for a protocol frontend: KEY=VALUE (repeatable).
    #[arg(long = "frontend-opt", value_name = "KEY=VALUE")]
    pub frontend_opts: Vec<String>,
    /// How long a protocol frontend may take to give its graph, in seconds (default 300).
    #[arg(long = "frontend-timeout", value_name = "SECONDS")]
    pub frontend_timeout: Option<u64>,
    /// Name (and keep in the store) the result: NAME[:TAG]; repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Do not use the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// How many steps may run at once (default: one per core always, more — up to 128 — while
    /// the CPUs have room, so steps that wait never queue behind busy ones).
    #[arg(long, value_name = "N")]
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
    #[arg(long = "secret", value_name = "id=ID,src=PATH|env=VAR")]
    pub secrets: Vec<String>,
    /// Forward an ssh-agent to RUN --mount=type=ssh: `default` ($SSH_AUTH_SOCK),
    /// ID=SOCKET, or ID=KEY[,KEY] (key files, loaded into an agent cairn runs for the build).
    /// Repeatable.
    #[arg(long = "ssh", value_name = "default|ID[=SOCKET|KEY[,KEY]]")]
    pub ssh: Vec<String>,
    /// Output: type=oci|docker|local|tar,dest=PATH (repeatable). type=local and type=tar leave
    /// out device nodes unless given devices=true (a node from an image would otherwise open
    /// a host device to whoever can reach the file).
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,dest=PATH")]
    pub outputs: Vec<String>,
    /// Layer compression for image outputs and --push: gzip, zstd or none.
    #[arg(long, default_value = "gzip")]
    pub compression: String,
    /// Push the tagged images to their registries after the build.
    #[arg(long)]
    pub push: bool,
    /// Re-resolve base-image tags from their registries, even if the store has them.
    #[arg(long)]
    pub pull: bool,
    /// Write the image digest as JSON (BuildKit's `--metadata-file` keys).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Export the build cache: type=local,dest=DIR or type=registry,ref=REF, with
    /// mode=min|max (min: the final image's chain; max: every intermediate result).
    #[arg(long = "cache-to", value_name = "type=local|registry,…")]
    pub cache_to: Vec<String>,
    /// Import a build cache: type=local,src=DIR or type=registry,ref=REF (repeatable).
    #[arg(long = "cache-from", value_name = "type=local|registry,…")]
    pub cache_from: Vec<String>,
    /// Progress output: auto (the default: tty on a terminal, else plain), tty, plain, rawjson
    /// (also json) or quiet; else $CAIRN_PROGRESS, else $BUILDKIT_PROGRESS.
    #[arg(long, value_enum, value_name = "MODE")]
    pub progress: Option<ProgressMode>,
    /// Print only the image ID (on stdout), no progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// After the build, say why each step that ran was not cached: the file, build arg,
    /// base image, instruction or input step that changed since the last build of this
    /// target (also later with `cairn explain`).
    #[arg(long)]
    pub explain: bool,
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
    /// Target platform(s), comma-separated (e.g. linux/amd64,linux/arm64): one image each,
    /// named together under an image index. Another machine's RUN steps run emulated
    /// (binfmt_misc, e.g. Debian's qemu-user-static). Default: this machine's.
    #[arg(long, value_name = "PLATFORM[,PLATFORM...]")]
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
    let chosen = match args.frontend.as_str() {
        "dockerfile" => Chosen::Dockerfile,
        "ir" => {
            refuse_dockerfile_flags(&args, true)?;
            Chosen::Graph
        }
        exec if exec.starts_with("exec:") => {
            refuse_dockerfile_flags(&args, false)?;
            let program = exec.trim_start_matches("exec:");
            if program.is_empty() {
                bail!("--frontend exec: needs a program: exec:PATH");
            }
            let program = PathBuf::from(program);
            let program = if program.components().count() > 1 {
                std::fs::canonicalize(&program)
                    .with_context(|| format!("cannot find the frontend {}", program.display()))?
            } else {
                program
            };
            Chosen::Protocol(cairn_build::Launch::Program {
                program,
                args: Vec::new(),
            })
        }
        image if image.starts_with("image:") => {
            refuse_dockerfile_flags(&args, false)?;
            let reference = image.trim_start_matches("image:");
            if reference.is_empty() {
                bail!("--frontend image: needs an image: image:REF");
            }
            Chosen::Protocol(cairn_build::Launch::Image {
                reference: reference.to_string(),
            })
        }
        other => {
            bail!("unknown --frontend {other:?}: use dockerfile, ir, exec:PROGRAM or image:REF")
        }
    };
    if !matches!(chosen, Chosen::Protocol(_))
        && (!args.frontend_opts.is_empty() || args.frontend_timeout.is_some())
    {
        bail!(
            "--frontend-opt and --frontend-timeout are for protocol frontends (--frontend exec:…)"
        );
    }
    let registry = args.registry.client()?;
    let timeouts = args.registry.timeouts()?;
    let outputs = args
        .outputs
        .iter()
        .map(|o| parse_output(o))
        .collect::<cairn_build::Result<Vec<Output>>>()?;
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
    let platforms = parse_platforms(args.platform.as_deref())?;
    let labels = args
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !l.is_empty() => Ok((l.clone(), String::new())),
            _ => bail!("invalid --label {l:?}: expected KEY=VALUE"),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut allowed = cairn_build::entitlements::parse(&args.allow)?;
    if network_override == Some(cairn_ir::NetworkMode::Host) {
        allowed.network_host = true;
    }
    let host_config = host_config::parse(&args.add_hosts, args.shm_size.as_deref(), &args.ulimits)?;
    let secrets = read_secrets(&args.secrets)?;
    let (cache_from, cache_to) = cache_specs(&args.cache_from, &args.cache_to)?;
    let source_date_epoch = env_source_date_epoch()?;
    // Kept until the build ends: agents started for key files stop when it drops.
    let ssh_agents = crate::commands::ssh::agents(&args.ssh)?;

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
    let _packed_context = if !matches!(chosen, Chosen::Dockerfile) {
        None
    } else if context_word == "-" {
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
        let pc = packed_context::from_url(&store, &context_word, timeouts)?;
        use_packed(&mut input_args, pc, "the context at a URL")?
    } else if GitRef::is_git_url(&context_word) {
        // A git repository as the context (`docker build https://host/repo.git#ref:dir`):
        // checked out into the store like an `ADD` of it; -f names a file inside it.
        let url = context_word.clone();
        let g = GitRef::parse(&url).map_err(|e| anyhow!("the git context {url}: {e}"))?;
        let fetched = cairn_git::Fetcher::new(store.clone(), cairn_build::git_timeouts(timeouts))
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
    let named = named_contexts::parse(&args.build_contexts, &store)?;
    let check = args.check || call == "check";
    let mut syntax_origin: Option<(String, usize)> = None;
    let source = if let Chosen::Protocol(launch) = &chosen {
        if !input_args.context.is_dir() {
            bail!(
                "build context {} is not a directory",
                input_args.context.display()
            );
        }
        Source::Protocol(launch.clone())
    } else if matches!(chosen, Chosen::Graph) {
        let (graph, context) = read_graph(&input_args)?;
        input_args.context = context;
        Source::Graph(graph)
    } else {
        let mut input = BuildInput::load(&input_args)?;
        if let Some((reference, line)) = frontend_image(&input) {
            // `# syntax=REF` or `--build-arg BUILDKIT_SYNTAX=REF` naming another frontend: the
            // image runs it (given this Dockerfile's name, the build args and the target).
            if input_args.file.as_deref() == Some(std::path::Path::new("-")) {
                bail!(
                    "a Dockerfile on stdin cannot name a frontend image ({reference}): the image reads the Dockerfile from the context"
                );
            }
            // The frontend is told which file to read; failing to start, it is shown at the
            // `# syntax=` line.
            input_args.file = Some(input.dockerfile_path.clone());
            syntax_origin = line.and_then(|l| {
                let abs = std::fs::canonicalize(&input.dockerfile_path).ok()?;
                let ctx = std::fs::canonicalize(&input_args.context).ok()?;
                let rel = abs.strip_prefix(ctx).ok()?.to_string_lossy().into_owned();
                Some((rel, l))
            });
            Source::Protocol(cairn_build::Launch::Image { reference })
        } else {
            if call == "targets" {
                return print_targets(&input, call_opts);
            }
            if let Some(mode) = network_override {
                input.options.default_network = mode;
            }
            input.options.host_config = host_config;
            input.options.no_cache_stages = args.no_cache_filter.clone();
            input.options.named_contexts = named.lower;
            input.options.all_stages = check;
            Source::Dockerfile(input)
        }
    };

    let exe = std::env::current_exe()
        .context("cannot find the cairn executable for the sandbox helper")?;
    let engine = Engine::new(
        store,
        registry,
        timeouts,
        args.jobs,
        (exe, vec![crate::SANDBOX_HELPER.into()]),
    )?;
    let progress = Progress::new(if args.quiet {
        ProgressMode::Quiet
    } else {
        match ProgressMode::choose(args.progress)? {
            // `--check` runs no steps: its report is lines, not a live view.
            ProgressMode::Tty if check => ProgressMode::Plain,
            mode => mode,
        }
    });
    if check && let Source::Dockerfile(input) = &source {
        return run_check(input, &engine.resolver(args.pull), &progress);
    }

    // Every local source the graph may read: the build context and named directories.
    let context_dir = std::fs::canonicalize(&input_args.context).with_context(|| {
        format!(
            "cannot resolve the build context {}",
            input_args.context.display()
        )
    })?;
    let mut locals = named.dirs;
    locals.insert(LocalSource::MAIN.to_string(), context_dir.clone());
    let dockerfile_frontend = match &source {
        Source::Dockerfile(input) => Some(DockerfileFrontend {
            input,
            progress: &progress,
            lint: RefCell::default(),
            shown: Default::default(),
        }),
        Source::Graph(_) | Source::Protocol(_) => None,
    };
    let graph_frontend;
    let process_frontend;
    let frontend: &dyn Frontend = match (&dockerfile_frontend, &source) {
        (Some(d), _) => d,
        (None, Source::Graph(graph)) => {
            graph_frontend = GraphFrontend(graph.clone());
            &graph_frontend
        }
        (None, Source::Protocol(launch)) => {
            process_frontend = cairn_build::ProcessFrontend {
                origin: syntax_origin.clone(),
                ..protocol_frontend(&args, launch, &input_args, &context_dir, &progress)?
            };
            &process_frontend
        }
        (None, Source::Dockerfile(_)) => bail!("internal: no frontend"),
    };
    let request = BuildRequest {
        frontend,
        locals,
        options: BuildOptions {
            no_cache: args.no_cache,
            pull: args.pull,
            allowed,
            labels,
            secrets,
            ssh: ssh_agents.sockets.clone(),
            tags: tags.clone(),
            outputs,
            compression,
            push: args.push,
            // `-q`, `--iidfile` and `--metadata-file` report the image even when nothing else
            // keeps it.
            want_image_id: args.quiet || args.iidfile.is_some() || args.metadata_file.is_some(),
            cache_from,
            cache_to,
            source_date_epoch,
            history: Some(history_key(&context_dir, &args, &input_args)),
            platforms,
        },
    };
    let built = engine.build(&request, Arc::new(progress.clone()));
    progress.finish(if built.is_ok() {
        Outcome::Finished
    } else {
        Outcome::Failed
    });
    if let Some(d) = &dockerfile_frontend {
        // Shown when the build ends, however it ends (buildx's summary).
        lint::summary(&progress, &d.lint.borrow());
    }
    let built = built.map_err(|e| match e {
        BuildError::Frontend(cause) => match cause.downcast::<cairn_build::FrontendError>() {
            Ok(fe) => report_frontend_error(&context_dir, &fe),
            Err(cause) => anyhow::Error::new(BuildError::Frontend(cause)),
        },
        e => report_failure(
            dockerfile_frontend.as_ref().map(|d| d.input),
            &context_dir,
            e,
        ),
    })?;
    if args.explain
        && let Some(e) = &built.explanation
    {
        if progress.mode() == ProgressMode::Rawjson {
            let mut v = serde_json::to_value(e)?;
            v["event"] = "explain".into();
            errln!("{v}");
        } else {
            for l in crate::commands::explain::lines(e) {
                errln!("{l}");
            }
        }
    }
    if let Some(image) = &built.image {
        if let Some(path) = &args.iidfile {
            std::fs::write(path, &image.config)
                .with_context(|| format!("cannot write --iidfile {}", path.display()))?;
        }
        if args.quiet {
            outln!("{}", image.config);
        }
        let (name, digest) = image.pushed.last().cloned().unwrap_or_else(|| {
            (
                tags.first().cloned().unwrap_or_default(),
                image.manifest.clone(),
            )
        });
        write_metadata(
            args.metadata_file.as_deref(),
            &name,
            &digest,
            Some(&image.config),
        )?;
    }
    if built.executed > 0 {
        // The engine's store is closed first: the GC takes the store only when no one has it.
        drop(engine);
        crate::commands::gc::after_build(&args.store.root(), &progress);
    }
    Ok(())
}

/// The build's identity in the store's history (`--explain` compares with the last build of
/// the same one): the context directory, the build file, the frontend and `--target`.
fn history_key(context: &std::path::Path, args: &BuildArgs, input: &BuildInputArgs) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"cairn-build-history/v1\0");
    let file = input
        .file
        .as_deref()
        .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf()));
    for part in [
        context.as_os_str().as_encoded_bytes(),
        file.as_ref()
            .map_or(b"".as_slice(), |f| f.as_os_str().as_encoded_bytes()),
        args.frontend.as_bytes(),
        input.target.as_deref().unwrap_or_default().as_bytes(),
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().to_hex().to_string()
}

/// The frontend `--frontend` names.
enum Chosen {
    Dockerfile,
    Graph,
    Protocol(cairn_build::Launch),
}

/// What the build starts from: a Dockerfile for the built-in frontend, a graph, or a protocol
/// frontend's program.
enum Source {
    Dockerfile(BuildInput),
    Graph(cairn_ir::Graph),
    Protocol(cairn_build::Launch),
}

/// The frontend image a Dockerfile asks for: `--build-arg BUILDKIT_SYNTAX=REF`, else its
/// `# syntax=REF` — unless that names the Dockerfile frontend, which is built in.
/// The frontend image a Dockerfile asks for, and the line that asks (none for the build arg):
/// `--build-arg BUILDKIT_SYNTAX=REF`, else its `# syntax=REF` — unless that names the
/// Dockerfile frontend, which is built in.
fn frontend_image(input: &BuildInput) -> Option<(String, Option<usize>)> {
    let syntax = match input
        .options
        .build_args
        .get("BUILDKIT_SYNTAX")
        .filter(|s| !s.is_empty())
    {
        Some(s) => (s.clone(), None),
        None => {
            let (s, line) = cairn_dockerfile::lower::syntax_directive(&input.dockerfile)?;
            (s, Some(line))
        }
    };
    Some(syntax).filter(|(s, _)| !cairn_dockerfile::lower::is_builtin_syntax(s))
}

/// A protocol frontend (`--frontend exec:PROGRAM`) and its request.
fn protocol_frontend(
    args: &BuildArgs,
    launch: &cairn_build::Launch,
    input_args: &BuildInputArgs,
    context_dir: &std::path::Path,
    progress: &Progress,
) -> Result<cairn_build::ProcessFrontend> {
    let mut options = std::collections::BTreeMap::new();
    for o in &args.frontend_opts {
        match o.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                options.insert(k.to_string(), v.to_string());
            }
            _ => bail!("invalid --frontend-opt {o:?}: expected KEY=VALUE"),
        }
    }
    if let Some(f) = &input_args.file {
        // The file the user named, as a path in the context (the frontend reads nothing else).
        let abs =
            std::fs::canonicalize(f).with_context(|| format!("cannot find {}", f.display()))?;
        let rel = abs.strip_prefix(context_dir).map_err(|_| {
            anyhow!(
                "-f {}: a protocol frontend reads only the build context, and the file is not in it",
                f.display()
            )
        })?;
        options.insert("filename".into(), rel.to_string_lossy().into_owned());
    }
    let name = match launch {
        cairn_build::Launch::Image { reference } => format!("image:{reference}"),
        cairn_build::Launch::Program { program, .. } => format!("exec:{}", program.display()),
    };
    Ok(cairn_build::ProcessFrontend {
        name,
        launch: launch.clone(),
        origin: None,
        context: context_dir.to_path_buf(),
        options,
        build_args: input::parse_build_args(&args.input.build_args)?,
        target: input_args.target.clone(),
        platform: cairn_ir::Platform::host(),
        timeout: args.frontend_timeout.map_or(
            cairn_build::process_frontend::DEFAULT_TIMEOUT,
            std::time::Duration::from_secs,
        ),
        events: Arc::new(progress.clone()),
    })
}

/// The largest graph document read (`--frontend ir`): a 10,000-stage build's plan is a few
/// tens of MiB; far more is not a graph but a memory exhaustion.
const MAX_GRAPH_FILE: u64 = 256 << 20;

/// `--frontend ir`: the graph (from -f, or from a file named in place of the context) and the
/// context directory.
fn read_graph(args: &BuildInputArgs) -> Result<(cairn_ir::Graph, PathBuf)> {
    let (file, context) = match &args.file {
        Some(f) => (f.clone(), args.context.clone()),
        None if args.context.as_os_str() == "-" || args.context.is_file() => {
            (args.context.clone(), PathBuf::from("."))
        }
        None => bail!(
            "--frontend ir reads a graph: give it with -f FILE.json (or -f - for stdin), or name \
             the file in place of the context"
        ),
    };
    let (name, bytes) = if file.as_os_str() == "-" {
        (
            "the graph on stdin".to_string(),
            input::read_capped(
                std::io::stdin().lock(),
                "the graph on stdin",
                MAX_GRAPH_FILE,
            )?,
        )
    } else {
        let name = file.display().to_string();
        let f = std::fs::File::open(&file).with_context(|| format!("cannot read {name}"))?;
        let bytes = input::read_capped(f, &name, MAX_GRAPH_FILE)?;
        (name, bytes)
    };
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{name} is not UTF-8"))?;
    let graph = cairn_ir::format::from_json(text)
        .with_context(|| format!("{name} is not a valid graph"))?;
    Ok((graph, context))
}

/// Flags that only mean something to the Dockerfile frontend: an error with `--frontend ir`
/// rather than silently nothing.
fn refuse_dockerfile_flags(args: &BuildArgs, graph: bool) -> Result<()> {
    let given = [
        ("--target", graph && args.input.target.is_some()),
        ("--build-arg", graph && !args.input.build_args.is_empty()),
        ("--check", args.check),
        ("--call", args.call.is_some()),
        ("--no-cache-filter", !args.no_cache_filter.is_empty()),
        ("--add-host", !args.add_hosts.is_empty()),
        ("--shm-size", args.shm_size.is_some()),
        ("--ulimit", !args.ulimits.is_empty()),
        ("--network", args.network != "default"),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        bail!(
            "{flag} is read by the Dockerfile frontend; with --frontend {} the graph says it in \
             its ops",
            args.frontend
        );
    }
    Ok(())
}

/// The Dockerfile frontend as the build library calls it: lowering, with its lint findings
/// shown as they come (JSON events) and kept for the summary the build ends with.
struct DockerfileFrontend<'a> {
    input: &'a BuildInput,
    progress: &'a Progress,
    lint: RefCell<Vec<LintWarning>>,
    /// Whether a lowering's findings were shown (a multi-platform build lowers once per
    /// platform; the findings are shown once).
    shown: std::cell::Cell<bool>,
}

impl Frontend for DockerfileFrontend<'_> {
    fn definition(&self) -> String {
        self.input
            .dockerfile_path
            .file_name()
            .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned())
    }

    fn lower(&self, host: &cairn_build::FrontendHost<'_>) -> cairn_build::Result<FrontendOutput> {
        let first = !self.shown.replace(true);
        let lowered = match self
            .input
            .lower_for(host, host.platform(), host.multi_platform())
        {
            Ok(l) => l,
            Err(e) => {
                // Findings made before the error are shown with it, as BuildKit shows them.
                if let Some(se) = e.downcast_ref::<SourceError>()
                    && first
                {
                    lint::events(self.progress, &se.error.lint);
                    *self.lint.borrow_mut() = se.error.lint.clone();
                }
                return Err(BuildError::Frontend(e.into()));
            }
        };
        if first {
            lint::events(self.progress, &lowered.lint);
            *self.lint.borrow_mut() = lowered.lint;
        }
        if let Some(e) = lowered.lint_error {
            return Err(BuildError::msg(e));
        }
        Ok(FrontendOutput {
            graph: lowered.graph,
            source_date_epoch: lowered.source_date_epoch,
            warnings: lowered.warnings,
        })
    }
}

/// `--check` / `--call check`: lint every stage and report, running nothing.
fn run_check(input: &BuildInput, resolver: &dyn ImageResolver, progress: &Progress) -> Result<()> {
    let file = input.dockerfile_path.display().to_string();
    let lowered = match input.lower(resolver) {
        Ok(l) => l,
        Err(e) => {
            if let Some(se) = e.downcast_ref::<SourceError>() {
                lint::check_report(progress, &file, &input.dockerfile, &se.error.lint);
            }
            return Err(e);
        }
    };
    lint::check_report(progress, &file, &input.dockerfile, &lowered.lint);
    let n = lowered.lint.len();
    if let Some(e) = &lowered.lint_error {
        bail!("{e}");
    }
    if n > 0 {
        let s = if n == 1 { " has" } else { "s have" };
        bail!("Check complete, {n} warning{s} been found!");
    }
    progress.info("Check complete, no warnings found.");
    Ok(())
}

/// The most platforms one build makes (each is a lowering, a resolution of every base image
/// and an image): far above any real build (buildx's usual lists have two to six).
const MAX_PLATFORMS: usize = 64;

/// `--platform a,b`: the platforms named, each once, in order (none: the build's default).
pub(crate) fn parse_platforms(spec: Option<&str>) -> Result<Vec<cairn_ir::Platform>> {
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    let mut out: Vec<cairn_ir::Platform> = Vec::new();
    for p in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Normalized as BuildKit normalizes it: `linux/arm` is `linux/arm/v7`.
        let parsed = cairn_ir::Platform::parse(p)
            .with_context(|| format!("invalid --platform {p:?}: expected os/arch[/variant]"))?
            .normalized();
        if !out.contains(&parsed) {
            out.push(parsed);
        }
        if out.len() > MAX_PLATFORMS {
            bail!("--platform names more than {MAX_PLATFORMS} platforms");
        }
    }
    Ok(out)
}

/// `--cache-from` and `--cache-to` specs (`type=local,src=DIR`, `type=registry,ref=REF`, …).
pub(crate) type CacheSpecs = (
    Vec<cairn_remotecache::CacheLocation>,
    Vec<(
        cairn_remotecache::CacheLocation,
        cairn_remotecache::CacheOptions,
    )>,
);

pub(crate) fn cache_specs(from: &[String], to: &[String]) -> Result<CacheSpecs> {
    let from = from
        .iter()
        .map(|spec| Ok(cairn_remotecache::parse(spec, "src")?.0))
        .collect::<Result<Vec<_>>>()?;
    let to = to
        .iter()
        .map(|spec| Ok(cairn_remotecache::parse(spec, "dest")?))
        .collect::<Result<Vec<_>>>()?;
    Ok((from, to))
}

pub(crate) fn read_secrets(specs: &[String]) -> Result<HashMap<String, Vec<u8>>> {
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
            (Some(p), _) => read_secret_file(&p)
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

/// The largest secret BuildKit passes (its secrets provider's `MaxSecretSize`, 500 KiB): a
/// `src=` naming `/dev/zero` or a huge file is an error, not an exhausted memory.
const MAX_SECRET_SIZE: u64 = 500 * 1024;

fn read_secret_file(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_SIZE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_SIZE {
        bail!("it is larger than {MAX_SECRET_SIZE} bytes, BuildKit's limit for a secret");
    }
    Ok(bytes)
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
pub(crate) fn env_source_date_epoch() -> Result<Option<i64>> {
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

/// A protocol frontend's refusal, shown against the line of the context file it names (read
/// only when that file is inside the context: the name is the frontend's word).
fn report_frontend_error(
    context_dir: &std::path::Path,
    e: &cairn_build::FrontendError,
) -> anyhow::Error {
    let (Some(file), Some(line)) = (&e.file, e.line) else {
        return anyhow!("{e}");
    };
    let text = context_file(context_dir, file);
    anyhow!(
        "{}",
        crate::diagnostics::render_at(file, line, text.as_deref(), &e.message)
    )
}

/// The file `name` of the context, when it is one (the name is a frontend's word: nothing
/// outside the context is read).
fn context_file(context_dir: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    std::fs::canonicalize(context_dir.join(name.trim_start_matches('/')))
        .ok()
        .filter(|p| p.starts_with(context_dir) && p.is_file())
        .and_then(|p| input::read_input_file(&p).ok())
}

/// A build error for the user: a failed step as BuildKit shows it (its last output, the
/// Dockerfile lines, then the cause), a frontend error as rendered, anything else with its
/// causes.
fn report_failure(
    input: Option<&BuildInput>,
    context_dir: &std::path::Path,
    e: BuildError,
) -> anyhow::Error {
    let BuildError::Step(step) = e else {
        return anyhow::Error::new(e);
    };
    let StepFailure {
        vertex,
        message,
        last_lines,
        lines,
        file,
        ..
    } = *step;
    // The source the step came from: the Dockerfile, or the file another frontend named (read
    // only when it is inside the context).
    let source = match (input, file) {
        (Some(input), _) => Some((
            input.dockerfile_path.display().to_string(),
            input.dockerfile.clone(),
        )),
        (None, Some(file)) => context_file(context_dir, &file).map(|text| (file, text)),
        (None, None) => None,
    };
    let mut out = String::new();
    if !last_lines.is_empty() {
        out.push_str("last output:\n");
        for l in &last_lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    if let (Some((a, b)), Some((name, text))) = (lines, source) {
        let text = String::from_utf8_lossy(&text);
        out.push_str(&format!("{name}:{a}\n--------------------\n"));
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

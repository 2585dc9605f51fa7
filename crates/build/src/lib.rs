//! cairn's build library: one call from a build request to a build result.
//!
//! A driver (the `cairn` command, `cairn bake`, a program embedding cairn) parses its own
//! input into a [`BuildRequest`] and calls [`Engine::build`]; what happens between — the
//! frontend lowering the input with base images resolved from the store (pulled when allowed),
//! the entitlement check, fetching remote sources, scanning the local contexts, solving with the
//! imported caches, the cache-export policy, naming the image, writing outputs and pushing — is
//! here, once, so no driver re-implements build policy. The library never prints: it reports
//! [`BuildEvent`]s to the driver's [`EventSink`] and returns typed errors ([`BuildError`]) whose
//! causes are kept.
//!
//! Data flows one way: frontend → IR → solver → workers → store → exporter.
#![deny(clippy::indexing_slicing)]

mod ahead;
pub mod combine;
mod container;
mod context;
pub mod entitlements;
pub mod error;
pub mod events;
pub mod explain;
mod export;
mod frontend_context;
pub mod image_frontend;
mod metered;
pub mod output;
mod pin;
pub mod process_frontend;
mod resolver;
mod sources;
pub mod units;

pub use cairn_remotecache::{CacheLocation, CacheOptions};
pub use container::{RunOptions, RunOutcome, Volume, commit as commit_container};
pub use entitlements::Allowed;
pub use error::{BuildError, Context, Result, StepFailure};
pub use events::{BuildEvent, EventSink, NoEvents, Task, TaskEvent, TaskKind};
pub use export::BuiltImage;
pub use output::Output;
pub use process_frontend::{FrontendError, Launch, ProcessFrontend};
pub use resolver::StoreResolver;
pub use sources::git_timeouts;

use crate::error::bail;
use cairn_ir::resolve::ImageResolver;
use cairn_ir::{Graph, LocalSource, Op, SourceOp};
use cairn_registry::Registry;
use cairn_solver::{SolveError, SolveOptions, Solver, StoreKeyContext};
use cairn_store::{Compression, Store};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

/// A frontend: turns its input into a build graph, asking the build (`host`) about base images
/// and, when it must look at an intermediate result, having sub-graphs solved. (The Dockerfile
/// frontend is one; the frontend protocol brings others.)
pub trait Frontend {
    fn lower(&self, host: &FrontendHost<'_>) -> Result<FrontendOutput>;

    /// What the frontend reads, for the `[internal] load build definition from …` task
    /// (`Dockerfile`, a program's name).
    fn definition(&self) -> String {
        "the frontend".into()
    }
}

/// What a frontend may ask of the build while it lowers: base images (it is an
/// [`ImageResolver`]) and solved sub-graphs.
pub struct FrontendHost<'a> {
    engine: &'a Engine,
    request: &'a BuildRequest<'a>,
    resolver: &'a StoreResolver<'a>,
    events: Arc<dyn EventSink>,
    platform: Option<&'a cairn_ir::Platform>,
}

impl ImageResolver for FrontendHost<'_> {
    fn resolve(
        &self,
        reference: &str,
        platform: &cairn_ir::Platform,
    ) -> std::result::Result<
        Option<cairn_ir::resolve::ResolvedImage>,
        cairn_ir::resolve::ResolveError,
    > {
        self.resolver.resolve(reference, platform)
    }
}

impl FrontendHost<'_> {
    /// Build `graph` now, with the build's cache, contexts, secrets and entitlements (its steps
    /// are reported like the build's own); the result's layers, bottom to top.
    pub fn solve(&self, graph: Graph) -> Result<Vec<cairn_store::LayerId>> {
        let graph = pin::pin_images(graph, &self.engine.store, self.resolver)?;
        let solved =
            self.engine
                .solve_graph(&graph, self.request, Vec::new(), false, None, &self.events)?;
        Ok(solved.output.layers)
    }

    pub fn store(&self) -> &Store {
        &self.engine.store
    }

    /// The platform the build asks this lowering for (`--platform`; a multi-platform build
    /// lowers once per platform); `None`: the frontend's default, this machine's.
    pub fn platform(&self) -> Option<&cairn_ir::Platform> {
        self.platform
    }

    /// Whether the build asks for several platforms (step names then say theirs).
    pub fn multi_platform(&self) -> bool {
        self.request.options.platforms.len() > 1
    }

    /// The runtime sandboxed work runs on (a frontend image's job).
    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.engine.runtime
    }

    /// The sandbox, as the build's steps get it.
    pub(crate) fn executor(&self) -> cairn_sandbox::ReexecExecutor {
        cairn_sandbox::ReexecExecutor::new(
            self.engine.helper.0.clone(),
            self.engine.helper.1.clone(),
        )
    }
}

/// A graph given as it is (`cairn build --frontend ir`, an embedding program that makes its own
/// graph): the frontend that only hands it over. Its base images are pinned by the build.
pub struct GraphFrontend(pub Graph);

impl Frontend for GraphFrontend {
    fn definition(&self) -> String {
        "an IR graph".into()
    }

    fn lower(&self, host: &FrontendHost<'_>) -> Result<FrontendOutput> {
        // A graph is for the platform it says: asking for another is an error, not a label.
        if let Some(p) = host.platform()
            && !self.0.platform.serves(p)
        {
            bail!(
                "--platform {p}: the graph is built for {} (a graph names its platform)",
                self.0.platform
            );
        }
        Ok(FrontendOutput {
            graph: self.0.clone(),
            source_date_epoch: None,
            warnings: Vec::new(),
        })
    }
}

/// What a frontend gives the build.
#[derive(Debug, Clone)]
pub struct FrontendOutput {
    pub graph: Graph,
    /// The epoch of a reproducible build the input set (BuildKit's `SOURCE_DATE_EPOCH` build
    /// arg); it wins over [`BuildOptions::source_date_epoch`].
    pub source_date_epoch: Option<i64>,
    /// Shown to the user; the build goes on.
    pub warnings: Vec<String>,
}

/// One build: what to build and what to do with the result.
pub struct BuildRequest<'a> {
    pub frontend: &'a dyn Frontend,
    /// The directory of each local source the graph may read, by name: the build context
    /// ([`LocalSource::MAIN`]) and named directories (`context:NAME`).
    pub locals: HashMap<String, PathBuf>,
    pub options: BuildOptions,
}

/// How to build, and where the result goes.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Do not use the cache (results are still recorded).
    pub no_cache: bool,
    /// Re-resolve base-image tags from their registries even when the store has them.
    pub pull: bool,
    /// Entitlements the user granted (`--allow`).
    pub allowed: Allowed,
    /// Labels added to the image config.
    pub labels: Vec<(String, String)>,
    /// `RUN --mount=type=secret` contents, by id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// ssh-agent sockets for `RUN --mount=type=ssh` and git over ssh, by id (`default`).
    pub ssh: HashMap<String, PathBuf>,
    /// Names the image is kept under in the store (normalized, see [`normalize_name`]).
    pub tags: Vec<String>,
    pub outputs: Vec<Output>,
    pub compression: Compression,
    /// Push every tag to its registry.
    pub push: bool,
    /// Make the image even when no output or tag wants it (the driver shows its ID).
    pub want_image_id: bool,
    pub cache_from: Vec<CacheLocation>,
    pub cache_to: Vec<(CacheLocation, CacheOptions)>,
    /// The epoch of a reproducible build when the frontend sets none (the environment's
    /// `SOURCE_DATE_EPOCH`, read by the driver).
    pub source_date_epoch: Option<i64>,
    /// The platforms to build for (`--platform a,b`): one image each, named together under
    /// their index. Empty: the frontend's default (this machine's platform).
    pub platforms: Vec<cairn_ir::Platform>,
    /// The target's key in the store's build history (the driver's choice, e.g. a hash of
    /// the context, the Dockerfile and `--target`): with one, the build records its steps
    /// and explains why each step ran against the last build under the same key
    /// ([`BuildResult::explanation`]).
    pub history: Option<String>,
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The result's layers, bottom to top.
    pub layers: Vec<cairn_store::LayerId>,
    /// Steps that ran, and steps that came from a cache.
    pub executed: usize,
    pub cached: usize,
    /// The image, when one was made (tags, image outputs, push, or asked for).
    pub image: Option<BuiltImage>,
    /// Why each step ran, when the build had a history key.
    pub explanation: Option<explain::Explanation>,
}

/// The engine a driver builds with: the store, a registry client, and the async runtime the
/// network work runs on (sized for `jobs` steps at once).
pub struct Engine {
    store: Store,
    registry: Registry,
    timeouts: cairn_registry::Timeouts,
    runtime: tokio::runtime::Runtime,
    jobs: usize,
    /// `jobs` is the default: beyond the cores only while the CPUs have room.
    cpu_aware: bool,
    /// How RUN steps are executed: this program re-executed as the sandbox helper.
    helper: (PathBuf, Vec<std::ffi::OsString>),
}

impl Engine {
    /// `helper` is the program and arguments that start the sandbox helper
    /// (`cairn_sandbox::helper_main` must run first thing in it); `jobs` bounds how many steps
    /// run at once (default: up to the cores always, and beyond them — up to
    /// [`DEFAULT_JOBS`] — while the CPUs have room: a step that sleeps, downloads or waits
    /// never waits in line behind the core count, as with BuildKit, which sets no limit, and
    /// CPU-bound steps are not piled on busy cores).
    pub fn new(
        store: Store,
        registry: Registry,
        timeouts: cairn_registry::Timeouts,
        jobs: Option<usize>,
        helper: (PathBuf, Vec<std::ffi::OsString>),
    ) -> Result<Self> {
        let cpu_aware = jobs.is_none();
        let jobs = jobs.unwrap_or(DEFAULT_JOBS);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // The steps run in their own processes: the runtime only drives them, with a
            // thread per core at most.
            .worker_threads(
                jobs.min(std::thread::available_parallelism().map_or(2, |n| n.get()))
                    .clamp(1, 8),
            )
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Engine {
            store,
            registry,
            timeouts,
            runtime,
            jobs,
            cpu_aware,
            helper,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The resolver frontends ask about base images: the store, pulling what it lacks (and
    /// with `pull`, re-resolving every tag once).
    pub fn resolver(&self, pull: bool) -> StoreResolver<'_> {
        StoreResolver::new(&self.store).with_registry(&self.registry, &self.runtime, pull)
    }

    /// Build `request`, reporting to `events`. Stops cleanly on SIGINT, SIGTERM or SIGHUP:
    /// every step's processes are killed and nothing partial is recorded.
    pub fn build(
        &self,
        request: &BuildRequest<'_>,
        events: Arc<dyn EventSink>,
    ) -> Result<BuildResult> {
        let opts = &request.options;
        // Scratch directories of builders that were killed outright.
        cairn_sandbox::remove_stale_scratch();
        // One lowering per platform asked for (the frontend's default when none is).
        let platforms: Vec<Option<&cairn_ir::Platform>> = if opts.platforms.is_empty() {
            vec![None]
        } else {
            opts.platforms.iter().map(Some).collect()
        };
        let multi = platforms.len() > 1;
        let resolver = self
            .resolver(opts.pull)
            .reporting_to(events.as_ref())
            .for_several_platforms(multi);
        if multi
            && let Some(o) = opts
                .outputs
                .iter()
                .find(|o| matches!(o, Output::Docker(..)))
        {
            bail!("{}: {}", o.describe(), output::MULTI_PLATFORM_DOCKER);
        }
        let mut graphs = Vec::with_capacity(platforms.len());
        let mut epoch = None;
        let mut warnings: Vec<String> = Vec::new();
        for (i, platform) in platforms.into_iter().enumerate() {
            let lower = || {
                request.frontend.lower(&FrontendHost {
                    engine: self,
                    request,
                    resolver: &resolver,
                    events: events.clone(),
                    platform,
                })
            };
            // The definition is loaded once, as far as the user sees.
            let lowered = if i == 0 {
                let title = format!(
                    "[internal] load build definition from {}",
                    request.frontend.definition()
                );
                events::task(events.as_ref(), title, |_| lower())?
            } else {
                lower()?
            };
            epoch = epoch.or(lowered.source_date_epoch);
            for w in lowered.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            let mut graph = pin::pin_images(lowered.graph, &self.store, &resolver)?;
            graph.image.labels.extend(opts.labels.iter().cloned());
            // An image built for a platform asked for is that platform's, whatever its final
            // stage's FROM says (BuildKit's dockerfile2llb does the same when the target is
            // explicit): a `FROM --platform=$BUILDPLATFORM` final stage of a two-platform
            // build makes two images, each labelled with its target.
            if let Some(p) = platform {
                graph.platform = p.clone();
            }
            graphs.push(graph);
        }
        let epoch = epoch.or(opts.source_date_epoch);
        for w in warnings {
            events.emit(BuildEvent::Warning(w));
        }
        drop(resolver);
        // Several platforms: one graph, built at once (common vertices once).
        let graph = if multi {
            combine::combine(&graphs, "[multi-platform] every platform's result")?
        } else {
            graphs.pop().context("internal: nothing was lowered")?
        };
        let mut remotes: Vec<Arc<dyn cairn_solver::RemoteCache>> = Vec::new();
        for location in &opts.cache_from {
            // An imported cache is someone else's data: one that cannot be read (gone,
            // damaged, not a cairn cache) is not used, as BuildKit goes on without it.
            match cairn_remotecache::open(location, &self.registry, self.runtime.handle()) {
                Ok(cache) => remotes.push(cache),
                Err(e) => events.emit(BuildEvent::Warning(format!(
                    "--cache-from {location:?} is not used: {}",
                    cairn_solver::with_causes(&e)
                ))),
            }
        }
        // The final image's layers are described as their steps commit them.
        let target = export::layer_target(
            &opts.outputs,
            &opts.tags,
            opts.want_image_id,
            opts.compression,
        );
        // Without a thread to do it (none could be started), the export does it all. A
        // multi-platform build's images are described by its export.
        let mut ahead = target.filter(|_| !multi).and_then(|target| {
            ahead::Ahead::start(&self.store, export::result_chain(&graph), epoch, target).ok()
        });
        let solved = self.solve_graph(
            &graph,
            request,
            remotes,
            !opts.cache_to.is_empty(),
            ahead.as_ref().map(ahead::Ahead::observer),
            &events,
        )?;
        // Nothing is described in the background while the exports write layer records.
        if let Some(a) = ahead.as_mut() {
            a.finish();
        }
        let explanation = opts
            .history
            .as_deref()
            .map(|key| self.explain(key, &graph, &solved, opts.no_cache, events.as_ref()));
        let (out, stored) = (solved.output, solved.stored);
        events.emit(BuildEvent::Summary {
            executed: out.executed,
            cached: out.cached,
        });
        export::cache(
            &self.store,
            &graph,
            &out,
            &stored,
            &opts.cache_to,
            epoch,
            &self.registry,
            &self.runtime,
            events.as_ref(),
        )?;
        let job = export::ImageJob {
            graph: &graph,
            layers: &out.layers,
            epoch,
            compression: opts.compression,
            tags: &opts.tags,
            outputs: &opts.outputs,
            push: opts.push,
            want_id: opts.want_image_id,
            ahead: ahead.as_ref(),
        };
        let (image, files) = if multi {
            if out.parts.len() != graphs.len() {
                bail!(
                    "internal: {} platforms built, {} results",
                    graphs.len(),
                    out.parts.len()
                );
            }
            let parts: Vec<export::PlatformPart<'_>> = graphs
                .iter()
                .zip(&out.parts)
                .map(|(graph, layers)| export::PlatformPart { graph, layers })
                .collect();
            let image = export::images(
                &self.store,
                &parts,
                &job,
                &self.registry,
                &self.runtime,
                events.as_ref(),
            )?;
            let files: Vec<(String, &[cairn_store::LayerId])> = parts
                .iter()
                .map(|p| (export::platform_dir(&p.graph.platform), p.layers))
                .collect();
            (image, files)
        } else {
            let image = export::image(
                &self.store,
                &job,
                &self.registry,
                &self.runtime,
                events.as_ref(),
            )?;
            (image, vec![(String::new(), out.layers.as_slice())])
        };
        export::files(&self.store, &opts.outputs, &files, events.as_ref())?;
        Ok(BuildResult {
            layers: out.layers,
            executed: out.executed,
            cached: out.cached,
            image,
            explanation,
        })
    }

    /// Compare this build's steps with the last build under `key`, record this one, and
    /// keep the explanation as the store's last. Failing to read or write the history is a
    /// warning: it never fails a build.
    fn explain(
        &self,
        key: &str,
        graph: &Graph,
        solved: &Solved,
        no_cache: bool,
        events: &dyn EventSink,
    ) -> explain::Explanation {
        let key = format!("build/{key}");
        let old = match self.store.history_load(&key) {
            Ok(bytes) => bytes.as_deref().and_then(explain::BuildRecord::decode),
            Err(e) => {
                events.emit(BuildEvent::Warning(format!(
                    "cannot read the last build's record: {}",
                    cairn_solver::with_causes(&e)
                )));
                None
            }
        };
        let new = explain::record(graph, &solved.contexts, &solved.ran, old.as_ref());
        let explanation = explain::explain(old.as_ref(), &new, &solved.ran, no_cache);
        // Written only when they changed: a no-op rebuild writes (and fsyncs) nothing.
        let mut saves = Vec::new();
        if old.as_ref() != Some(&new) {
            saves.push((key.as_str(), new.encode()));
        }
        if explain::last(&self.store).ok().flatten().as_ref() != Some(&explanation) {
            saves.push((explain::LAST, explanation.encode()));
        }
        for (k, bytes) in saves {
            if let Some(bytes) = bytes
                && let Err(e) = self.store.history_save(k, &bytes)
            {
                events.emit(BuildEvent::Warning(format!(
                    "cannot record this build for --explain: {}",
                    cairn_solver::with_causes(&e)
                )));
            }
        }
        explanation
    }

    /// Solve `graph` (entitlements checked, local sources scanned, remote sources fetched): the
    /// solver's output and, with `want_stored`, every record it stored (for a cache export).
    fn solve_graph(
        &self,
        graph: &Graph,
        request: &BuildRequest<'_>,
        remotes: Vec<Arc<dyn cairn_solver::RemoteCache>>,
        want_stored: bool,
        on_commit: Option<Arc<dyn cairn_solver::CommitObserver>>,
        events: &Arc<dyn EventSink>,
    ) -> Result<Solved> {
        let opts = &request.options;
        if let Some(d) = entitlements::check(graph, opts.allowed).first() {
            let place = match (&d.file, d.lines) {
                (Some(file), Some((line, _))) => format!("{file}:{line}: "),
                _ => String::new(),
            };
            bail!(
                "{place}{} needs the {} entitlement, which this build was not granted: run cairn \
                 build with --allow {} if you trust this Dockerfile",
                d.step,
                d.entitlement,
                d.entitlement
            );
        }
        let contexts = self.scan_locals(graph, &request.locals, events.as_ref())?;
        let fetched = sources::fetch_remote(
            graph,
            &self.store,
            &self.runtime,
            self.timeouts,
            opts.ssh.get("default").cloned(),
            events.as_ref(),
        )?;
        let solve_opts = SolveOptions {
            jobs: self.jobs,
            cpu_aware: self.cpu_aware,
            no_cache: opts.no_cache,
            locals: request.locals.clone(),
            secrets: opts.secrets.clone(),
            remotes,
            ssh: opts.ssh.clone(),
            contexts: contexts.clone(),
            on_commit,
            ..SolveOptions::default()
        };
        let executor =
            cairn_sandbox::ReexecExecutor::new(self.helper.0.clone(), self.helper.1.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let keycx = StoreKeyContext {
            store: &self.store,
            contexts: &contexts,
            fetched: &fetched,
        };
        let solver = Solver::new(
            self.store.clone(),
            executor,
            graph.clone(),
            &keycx,
            solve_opts,
            tx,
        )
        .map_err(|e| step_failure(graph, e))?;
        let ran: Arc<std::sync::Mutex<HashSet<cairn_ir::Digest>>> = Arc::default();
        let (result, stored) = self.runtime.block_on(async {
            let sink = events.clone();
            let ran = ran.clone();
            let forward = tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    if e.kind == cairn_solver::EventKind::Started {
                        ran.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(e.vertex);
                    }
                    sink.emit(BuildEvent::Step(e));
                }
            });
            // SIGINT, SIGTERM and SIGHUP all stop the build the same way: the solver is
            // dropped, which kills every sandbox helper (and with it each step's pid
            // namespace) and removes their scratch directories.
            let r = tokio::select! {
                r = solver.solve() => r,
                sig = stop_signal() => Err(SolveError::Internal(format!("interrupted ({sig})"))),
            };
            // A cache export also covers results this build did not need to look at.
            let stored = if r.is_ok() && want_stored {
                solver.stored_records(&|_| true)
            } else {
                Vec::new()
            };
            drop(solver);
            let _ = forward.await;
            (r, stored)
        });
        let output = result.map_err(|e| step_failure(graph, e))?;
        let ran = std::mem::take(&mut *ran.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(Solved {
            output,
            stored,
            ran,
            contexts,
        })
    }

    /// Scan every local source the graph reads (the build context, named directories).
    fn scan_locals(
        &self,
        graph: &Graph,
        locals: &HashMap<String, PathBuf>,
        events: &dyn EventSink,
    ) -> Result<HashMap<String, Arc<cairn_context::ContextIndex>>> {
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
                let name = if l.name == LocalSource::MAIN {
                    "[internal] load build context".to_string()
                } else {
                    format!("[internal] load local {}", l.name)
                };
                let index = events::task(events, name, |t| {
                    let index = context::scan(&self.store, dir, &l.exclude)?;
                    let (files, bytes) = index
                        .entries()
                        .iter()
                        .filter(|e| matches!(e.kind, cairn_context::EntryKind::File { .. }))
                        .fold((0usize, 0u64), |(n, b), e| (n + 1, b + e.size));
                    let stats = index.stats();
                    t.note(format!(
                        "{files} files, {}: {} read, {} unchanged",
                        units::human_size(bytes),
                        stats.hashed,
                        stats.cached
                    ));
                    Ok::<_, BuildError>(index)
                })?;
                contexts.insert(l.name.clone(), Arc::new(index));
            }
        }
        Ok(contexts)
    }

    /// Push the stored image `name` (normalized) to the registry it names; its digest there.
    pub fn push(&self, name: &str) -> Result<String> {
        self.runtime
            .block_on(push_named(&self.store, &self.registry, name))
    }
}

/// What a solve gave: the solver's output, the records it stored (for a cache export), the
/// steps that ran, and the local sources as scanned.
struct Solved {
    output: cairn_solver::SolveOutput,
    stored: Vec<cairn_solver::UsedRecord>,
    ran: HashSet<cairn_ir::Digest>,
    contexts: HashMap<String, Arc<cairn_context::ContextIndex>>,
}

/// How many steps run at once at most unless `--jobs` says otherwise: no limit a real graph
/// meets (BuildKit sets none), only a bound on the processes a pathological fan-out could
/// start. Beyond the number of cores, steps start only while the CPUs have room.
pub const DEFAULT_JOBS: usize = 128;

/// The largest build file (a Dockerfile, a `.dockerignore`) any frontend reads: far above
/// any real one, far below what would exhaust memory.
pub const MAX_BUILD_FILE: u64 = 32 << 20;

/// The build context's local-source name (re-exported for drivers).
pub const MAIN_CONTEXT: &str = LocalSource::MAIN;

/// Image names are kept normalized (`busybox` → `docker.io/library/busybox:latest`).
pub fn normalize_name(name: &str) -> Result<String> {
    Ok(cairn_ir::Reference::parse(name)
        .with_context(|| format!("invalid image name {name:?}"))?
        .to_string())
}

/// Push the stored image `name` (normalized) to the registry it names.
pub async fn push_named(store: &Store, registry: &Registry, name: &str) -> Result<String> {
    push_named_observed(
        store,
        registry,
        name,
        Compression::Gzip,
        Arc::new(cairn_registry::Unobserved),
    )
    .await
}

/// [`push_named`] with its layers compressed as `compression` says (a build's `--compression`),
/// telling `transfer` about the bytes sent.
pub async fn push_named_observed(
    store: &Store,
    registry: &Registry,
    name: &str,
    compression: Compression,
    transfer: Arc<dyn cairn_registry::Transfer>,
) -> Result<String> {
    let named = store
        .image_get(name)?
        .with_context(|| format!("no image {name} in the store (see `cairn images`)"))?;
    let target =
        cairn_ir::Reference::parse(name).with_context(|| format!("invalid image name {name:?}"))?;
    if let Some(rec) = named.only() {
        let image = cairn_oci::assemble_from_record(store, rec, compression)
            .with_context(|| format!("cannot prepare {name} for pushing"))?;
        let digest = registry
            .push_observed(store, &image, &target, transfer)
            .await
            .map(|report| report.manifest_digest)
            .with_context(|| format!("cannot push {name}"))?;
        return Ok(digest.to_string());
    }
    // Several platforms: each image by its digest, then the index naming them by the tag.
    let mut pushed = Vec::with_capacity(named.images.len());
    for rec in &named.images {
        let platform = cairn_oci::image_platform(store, rec)
            .with_context(|| format!("cannot read the platform of {name}'s {}", rec.manifest))?;
        let image = cairn_oci::assemble_from_record(store, rec, compression)
            .with_context(|| format!("cannot prepare {name} ({platform}) for pushing"))?;
        let by_digest = cairn_ir::Reference {
            tag: None,
            digest: Some(image.manifest.to_string()),
            ..target.clone()
        };
        registry
            .push_observed(store, &image, &by_digest, transfer.clone())
            .await
            .with_context(|| format!("cannot push {name} ({platform})"))?;
        pushed.push((image, platform));
    }
    let (_, index) = cairn_oci::image_index(pushed.iter().map(|(i, p)| (i, p)))
        .with_context(|| format!("cannot make the image index of {name}"))?;
    store.put_blob(&index)?;
    let digest = registry
        .push_manifest(&target, &index, Some(cairn_oci::model::MEDIA_TYPE_INDEX))
        .await
        .with_context(|| format!("cannot push the image index of {name}"))?;
    Ok(digest.to_string())
}

/// A solver error as a [`BuildError`]: a failed step (or key) with its source lines.
fn step_failure(graph: &Graph, e: SolveError) -> BuildError {
    let (digest, vertex, message, last_lines) = match e {
        SolveError::Step {
            digest,
            vertex,
            message,
            last_lines,
            ..
        } => (digest, vertex, message, last_lines),
        // A key that cannot be computed (a COPY source that is not there) names its step too.
        SolveError::Key(k) => (k.digest, k.vertex, k.message, Vec::new()),
        other => return BuildError::msg(other),
    };
    let meta = graph.meta.get(&digest);
    BuildError::Step(Box::new(StepFailure {
        digest,
        vertex,
        message,
        last_lines,
        file: meta.and_then(|m| m.file.clone()),
        lines: meta.and_then(|m| m.lines),
    }))
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

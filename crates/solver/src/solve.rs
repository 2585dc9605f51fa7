//! The scheduler: one lazily-initialised cell per vertex, inputs solved as concurrent tokio
//! tasks, execution bounded by a semaphore (`--jobs`).

use crate::events::{Event, EventKind};
use crate::keys::{self, InputContent, Key, KeyContext};
use cairn_ir::{Digest, Graph, Op, SourceOp};
use cairn_sandbox::Executor;
use cairn_store::{CacheRecord, LayerId, LayerStack, Store};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{OnceCell, mpsc};

#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// How many ops may execute at once.
    pub jobs: usize,
    /// Beyond the number of cores (up to `jobs`), only while the CPUs have room (the
    /// default; an explicit `--jobs` is exact).
    pub cpu_aware: bool,
    /// Ignore the cache (results are still recorded).
    pub no_cache: bool,
    /// The directory of each local source, by its name (`context`, `context:NAME` for a
    /// `--build-context NAME=DIR`).
    pub locals: HashMap<String, PathBuf>,
    /// `--secret id=...` contents by id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// Imported caches (`--cache-from`), asked after the local cache misses.
    pub remotes: Vec<Arc<dyn RemoteCache>>,
    /// `--ssh ID=SOCKET`: ssh-agent sockets forwarded to `RUN --mount=type=ssh`, by id.
    pub ssh: HashMap<String, PathBuf>,
    /// The scans of the local sources the keys were computed from, by name: a step that read
    /// a local source is checked against them before its result is recorded. A local source
    /// without one is not checked.
    pub contexts: HashMap<String, Arc<cairn_context::ContextIndex>>,
    /// Told of every layer a step commits, as soon as it is committed (the build describes the
    /// final image's layers ahead of the export).
    pub on_commit: Option<Arc<dyn CommitObserver>>,
    /// Where the kernel's binfmt_misc handlers are listed
    /// ([`cairn_sandbox::binfmt::BINFMT_DIR`]): a step for another platform needs one.
    pub binfmt_dir: PathBuf,
}

/// Sees each layer the moment a step commits it: the vertex that made it and its id (the top
/// of the vertex's result). Called on the solver's tasks: it must not block.
pub trait CommitObserver: Send + Sync + std::fmt::Debug {
    fn committed(&self, vertex: Digest, layer: &LayerId);
}

/// Why an imported cache could not give what it recorded (the implementation's own error,
/// causes kept). The solver treats it as a miss and says so.
pub type RemoteError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A cache imported from elsewhere (a directory, a registry): records by key, and layers that
/// are only fetched when a hit needs them. Defined here, where it is used; implemented by
/// `cairn-remotecache`.
pub trait RemoteCache: Send + Sync + std::fmt::Debug {
    /// The layers recorded for `key`, if this cache has them.
    fn lookup(&self, key: &Key) -> Option<Vec<LayerId>>;
    /// Make these layers present in the local store (fetching and unpacking what is missing).
    /// `Ok(false)` when the cache cannot: a layer it does not carry (a base image's, which
    /// exports leave out) is missing locally too; the step is then a miss. Blocking; called
    /// off the async threads.
    fn fetch(&self, store: &Store, layers: &[LayerId]) -> Result<bool, RemoteError>;
    /// Fill the empty directory `dest` with the exported content of cache mount `id`;
    /// `Ok(false)` when this cache has none. Blocking.
    fn fetch_mount(
        &self,
        _store: &Store,
        _id: &str,
        _dest: &std::path::Path,
    ) -> Result<bool, RemoteError> {
        Ok(false)
    }
}

/// One cache record a build used or wrote: the vertex, the key, the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedRecord {
    pub vertex: Digest,
    pub key: Key,
    /// Shared with the vertex's result (a record per step of a deep chain holds one link).
    pub layers: LayerStack,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cpu_aware: false,
            no_cache: false,
            locals: HashMap::new(),
            secrets: HashMap::new(),
            ssh: HashMap::new(),
            remotes: Vec::new(),
            contexts: HashMap::new(),
            on_commit: None,
            binfmt_dir: PathBuf::from(cairn_sandbox::binfmt::BINFMT_DIR),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolveError {
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// A step failed: its vertex, its description, why, and its last lines of output.
    #[error("{vertex}: {message}")]
    Step {
        digest: Digest,
        vertex: String,
        message: String,
        exit_code: Option<i32>,
        last_lines: Vec<String>,
    },
    #[error("store: {0}")]
    Store(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolveOutput {
    /// The result's layers, bottom to top.
    pub layers: Vec<LayerId>,
    /// Ops that actually executed (RUN, COPY, ...).
    pub executed: usize,
    /// Ops whose result came from the cache.
    pub cached: usize,
    /// Every cache record the build hit or wrote (for `--cache-to`).
    pub records: Vec<UsedRecord>,
    /// When the result is a merge: each input's layers, in order (one graph holding several
    /// results — a multi-platform build's images, a bake's targets — built at once).
    pub parts: Vec<Vec<LayerId>>,
}

/// A vertex's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VResult {
    Layers(LayerStack),
    /// A local source (a build context), by name: read where it lies, never a layer.
    Local(String),
}

type Cell = OnceCell<Result<Arc<VResult>, SolveError>>;
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pub(crate) struct Inner<E> {
    pub store: Store,
    pub executor: E,
    pub graph: Graph,
    pub opts: SolveOptions,
    /// The `.dockerignore` patterns of each local source, by name.
    pub local_ignore: HashMap<String, Vec<String>>,
    /// Vertices with an ignored-cache step (`--no-cache-filter`) among their inputs, however
    /// deep: their definition keys cannot be trusted, their content keys can.
    downstream_of_ignored: std::collections::HashSet<Digest>,
    index: HashMap<Digest, usize>,
    def_keys: HashMap<Digest, Key>,
    extras: HashMap<Digest, Vec<u8>>,
    cells: HashMap<Digest, Arc<Cell>>,
    gate: crate::gate::Gate,
    events: mpsc::UnboundedSender<Event>,
    executed: AtomicUsize,
    cached: AtomicUsize,
    /// Vertices already reported as cached (each is reported once).
    announced: std::sync::Mutex<std::collections::HashSet<Digest>>,
    records: std::sync::Mutex<Vec<UsedRecord>>,
}

/// Solves one graph.
pub struct Solver<E> {
    inner: Arc<Inner<E>>,
}

impl<E: Executor + 'static> Solver<E> {
    /// Compute every definition key up front (cheap: hashes, the context scan is the caller's).
    pub fn new(
        store: Store,
        executor: E,
        graph: Graph,
        cx: &dyn KeyContext,
        opts: SolveOptions,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Self, SolveError> {
        let extras = keys::extras(&graph, cx)?;
        let def_keys = keys::definition_keys(&graph, &extras);
        let index = graph
            .vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (v.digest, i))
            .collect();
        let cells = graph
            .vertices
            .iter()
            .map(|v| (v.digest, Arc::new(Cell::new())))
            .collect();
        let gate = crate::gate::Gate::new(opts.jobs.max(1), opts.cpu_aware);
        let local_ignore = graph
            .vertices
            .iter()
            .filter_map(|v| match &v.op {
                Op::Source(SourceOp::Local(l)) => Some((l.name.clone(), l.exclude.clone())),
                _ => None,
            })
            .collect();
        // Inputs come first in `graph.vertices`: one pass.
        let mut downstream_of_ignored = std::collections::HashSet::new();
        for v in &graph.vertices {
            if v.inputs.iter().any(|i| {
                downstream_of_ignored.contains(&i.vertex)
                    || graph.meta.get(&i.vertex).is_some_and(|m| m.ignore_cache)
            }) {
                downstream_of_ignored.insert(v.digest);
            }
        }
        Ok(Solver {
            inner: Arc::new(Inner {
                store,
                executor,
                graph,
                opts,
                local_ignore,
                downstream_of_ignored,
                index,
                def_keys,
                extras,
                cells,
                gate,
                events,
                executed: AtomicUsize::new(0),
                cached: AtomicUsize::new(0),
                announced: std::sync::Mutex::new(std::collections::HashSet::new()),
                records: std::sync::Mutex::new(Vec::new()),
            }),
        })
    }

    /// The local cache records of these vertices' definition keys (what a cache export needs
    /// even when this build hit the cache early and never looked at them).
    pub fn stored_records(&self, vertices: &dyn Fn(&Digest) -> bool) -> Vec<UsedRecord> {
        let inner = &self.inner;
        inner
            .graph
            .vertices
            .iter()
            .filter(|v| vertices(&v.digest) && !matches!(v.op, Op::Source(SourceOp::Local(_))))
            .filter_map(|v| {
                let key = *inner.def_keys.get(&v.digest)?;
                let rec = inner.store.cache_get(&key).ok().flatten()?;
                Some(UsedRecord {
                    vertex: v.digest,
                    key,
                    layers: rec.layers.into(),
                })
            })
            .collect()
    }

    /// Solve the graph's result.
    pub async fn solve(&self) -> Result<SolveOutput, SolveError> {
        let layers = match self.inner.graph.result {
            None => Vec::new(),
            Some(r) => match &*Arc::clone(&self.inner).vertex(r.vertex).await? {
                VResult::Layers(l) => l.to_vec(),
                VResult::Local(_) => {
                    return Err(SolveError::Unsupported(
                        "the build result is a build context itself".into(),
                    ));
                }
            },
        };
        let mut parts = Vec::new();
        if let Some(r) = self.inner.graph.result
            && let Some(v) = self.inner.graph.vertex(&r.vertex)
            && let Op::Merge(_) = &v.op
        {
            for input in &v.inputs {
                // Computed already (the merge stands on them): read from their cells.
                match &*Arc::clone(&self.inner).vertex(input.vertex).await? {
                    VResult::Layers(l) => parts.push(l.to_vec()),
                    VResult::Local(_) => parts.push(Vec::new()),
                }
            }
        }
        Ok(SolveOutput {
            layers,
            parts,
            executed: self.inner.executed.load(Ordering::Relaxed),
            cached: self.inner.cached.load(Ordering::Relaxed),
            records: self
                .inner
                .records
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default(),
        })
    }
}

impl<E: Executor + 'static> Inner<E> {
    fn vertex(self: Arc<Self>, d: Digest) -> BoxFut<Result<Arc<VResult>, SolveError>> {
        Box::pin(async move {
            let cell = self
                .cells
                .get(&d)
                .cloned()
                .ok_or_else(|| SolveError::Internal(format!("unknown vertex {d}")))?;
            cell.get_or_init(|| Arc::clone(&self).compute(d))
                .await
                .clone()
        })
    }

    pub fn name(&self, d: &Digest) -> String {
        self.graph
            .meta
            .get(d)
            .map(|m| m.description.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| d.to_string())
    }

    /// Report `d` and every visible step it was built from, oldest first, as cached (each
    /// vertex once per build).
    fn announce_cached(&self, d: Digest) {
        // What is reported already had everything behind it reported (or run): stop there, so
        // hits across a large graph walk each vertex once.
        let mut behind = std::collections::HashSet::new();
        {
            let Ok(reported) = self.announced.lock() else {
                return;
            };
            let mut todo = vec![d];
            while let Some(v) = todo.pop() {
                if reported.contains(&v) || !behind.insert(v) {
                    continue;
                }
                if let Some(vertex) = self.index.get(&v).and_then(|&i| self.graph.vertices.get(i)) {
                    todo.extend(vertex.inputs.iter().map(|i| i.vertex));
                }
            }
        }
        // Oldest first: `Graph::vertices` is a topological order.
        let mut behind: Vec<Digest> = behind.into_iter().collect();
        behind.sort_by_key(|v| self.index.get(v).copied().unwrap_or(usize::MAX));
        for v in behind {
            self.announce_one_cached(v);
        }
    }

    fn announce_one_cached(&self, d: Digest) {
        let visible = !self.graph.meta.get(&d).is_some_and(|m| m.hidden);
        let first = self
            .announced
            .lock()
            .map(|mut a| a.insert(d))
            .unwrap_or(false);
        if visible && first {
            self.cached.fetch_add(1, Ordering::Relaxed);
            self.emit(d, EventKind::Cached);
        }
    }

    pub fn emit(&self, d: Digest, kind: EventKind) {
        let _ = self.events.send(Event {
            vertex: d,
            name: self.name(&d),
            at: SystemTime::now(),
            kind,
        });
    }

    /// Whether `d` runs even when cached (`--no-cache`, or `--no-cache-filter` on its stage).
    pub(crate) fn ignores_cache(&self, d: Digest) -> bool {
        self.opts.no_cache || self.graph.meta.get(&d).is_some_and(|m| m.ignore_cache)
    }

    async fn cache_lookup(&self, d: Digest, key: &Key) -> Result<Option<LayerStack>, SolveError> {
        if self.ignores_cache(d) {
            return Ok(None);
        }
        let rec = self
            .store
            .cache_get(key)
            .map_err(crate::causes::store_err)?;
        // A layer counts only with its record readable: a torn record (power cut, bit rot) makes
        // the entry a miss, and re-running the step writes the record again.
        if let Some(layers) = rec
            .filter(|r| {
                r.layers
                    .iter()
                    .all(|l| matches!(self.store.layer(l), Ok(Some(_))))
            })
            .map(|r| LayerStack::from(r.layers))
        {
            self.used(d, key, &layers);
            // Its last use, for `cairn prune`'s least-recently-used order.
            self.store.cache_touch(key);
            return Ok(Some(layers));
        }
        for remote in &self.opts.remotes {
            let Some(layers) = remote.lookup(key) else {
                continue;
            };
            let (remote, store, wanted) = (Arc::clone(remote), self.store.clone(), layers.clone());
            let fetched = tokio::task::spawn_blocking(move || remote.fetch(&store, &wanted))
                .await
                .map_err(|e| SolveError::Internal(e.to_string()))?;
            match fetched {
                Ok(true) => {}
                Ok(false) => continue,
                // A shared cache is someone else's data: an entry that does not verify (a
                // damaged or tampered blob) is a miss, never a failed build.
                Err(e) => {
                    self.emit(
                        d,
                        EventKind::Warning {
                            message: format!(
                                "imported cache entry not used (the step runs instead): {}",
                                crate::with_causes(e.as_ref())
                            ),
                        },
                    );
                    continue;
                }
            }
            let layers = LayerStack::from(layers);
            self.cache_record(d, &[key], &layers)?;
            return Ok(Some(layers));
        }
        Ok(None)
    }

    fn used(&self, vertex: Digest, key: &Key, layers: &LayerStack) {
        if let Ok(mut r) = self.records.lock() {
            r.push(UsedRecord {
                vertex,
                key: *key,
                layers: layers.clone(),
            });
        }
    }

    fn cache_record(
        &self,
        d: Digest,
        keys: &[&Key],
        layers: &LayerStack,
    ) -> Result<(), SolveError> {
        let created_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let rec = CacheRecord {
            layers: layers.to_vec(),
            created_unix,
        };
        for k in keys {
            self.store
                .cache_put(k, &rec)
                .map_err(crate::causes::store_err)?;
            self.used(d, k, layers);
        }
        Ok(())
    }

    async fn compute(self: Arc<Self>, d: Digest) -> Result<Arc<VResult>, SolveError> {
        let v = self
            .index
            .get(&d)
            .and_then(|&i| self.graph.vertices.get(i))
            .ok_or_else(|| SolveError::Internal(format!("unknown vertex {d}")))?;
        if let Op::Source(SourceOp::Local(l)) = &v.op {
            return Ok(Arc::new(VResult::Local(l.name.clone())));
        }
        let def_key = self
            .def_keys
            .get(&d)
            .copied()
            .unwrap_or(cairn_store::CacheKey([0; 32]));
        let hidden = self.graph.meta.get(&d).is_some_and(|m| m.hidden);
        let by_definition = if self.downstream_of_ignored.contains(&d) {
            // What an ignored-cache step makes anew may differ: only its content tells.
            None
        } else {
            self.cache_lookup(d, &def_key).await?
        };
        if let Some(layers) = by_definition {
            // Like BuildKit, a hit reports every step behind it as cached too, though none of
            // them needs to be looked at.
            self.announce_cached(d);
            return Ok(Arc::new(VResult::Layers(layers)));
        }
        if let Op::Source(src) = &v.op {
            let layers = self.source(d, src)?;
            self.cache_record(d, &[&def_key], &layers)?;
            return Ok(Arc::new(VResult::Layers(layers)));
        }

        // Solve the inputs concurrently.
        let mut set = tokio::task::JoinSet::new();
        for (i, input) in v.inputs.iter().enumerate() {
            let this = Arc::clone(&self);
            let vd = input.vertex;
            set.spawn(async move { (i, this.vertex(vd).await) });
        }
        let mut inputs: Vec<Option<Arc<VResult>>> = vec![None; v.inputs.len()];
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|e| SolveError::Internal(format!("task failed: {e}")))?;
            match r {
                Ok(res) => {
                    if let Some(slot) = inputs.get_mut(i) {
                        *slot = Some(res);
                    }
                }
                Err(e) => {
                    set.abort_all();
                    return Err(e);
                }
            }
        }
        let inputs: Vec<Arc<VResult>> = inputs
            .into_iter()
            .map(|r| r.ok_or_else(|| SolveError::Internal("missing input".into())))
            .collect::<Result<_, _>>()?;

        let extra = self.extras.get(&d).map(Vec::as_slice).unwrap_or_default();
        // The layers each input's key names: only those that can change what the op reads.
        let reads = keys::input_reads(&v.op, inputs.len());
        let key_layers: Vec<Option<Vec<LayerId>>> = inputs
            .iter()
            .zip(&reads)
            .map(|(r, read)| match (&**r, read) {
                (VResult::Layers(l), Some(paths)) => Some(self.layers_read(l, paths)),
                (VResult::Layers(l), None) => Some(l.to_vec()),
                (VResult::Local(_), _) => None,
            })
            .collect();
        let contents: Vec<InputContent<'_>> = key_layers
            .iter()
            .map(|layers| match layers {
                Some(l) => InputContent::Layers(l),
                None => InputContent::Context,
            })
            .collect();
        let content_key = keys::content_key(&v.op, extra, &contents);
        if let Some(layers) = self.cache_lookup(d, &content_key).await? {
            self.cache_record(d, &[&def_key], &layers)?;
            self.announce_one_cached(d);
            return Ok(Arc::new(VResult::Layers(layers)));
        }

        let _permit = self
            .gate
            .enter()
            .await
            .map_err(|e| SolveError::Internal(e.to_string()))?;
        if !hidden {
            self.emit(d, EventKind::Started);
        }
        let result = crate::exec::run(&self, d, &v.op, &inputs).await;
        let layers = match result {
            Ok(l) => l,
            Err(e) => {
                self.emit(
                    d,
                    EventKind::Failed {
                        error: e.to_string(),
                    },
                );
                return Err(e);
            }
        };
        self.cache_record(d, &[&content_key, &def_key], &layers)?;
        if let (Some(observer), Some(top)) = (&self.opts.on_commit, layers.top()) {
            observer.committed(d, top);
        }
        if !hidden {
            self.executed.fetch_add(1, Ordering::Relaxed);
            self.emit(d, EventKind::Finished);
        }
        Ok(Arc::new(VResult::Layers(layers)))
    }

    /// The layers of `stack` (bottom to top) that can change what is seen at `paths`; all of
    /// them when a symlink on the way to any path could lead the read anywhere. Each distinct
    /// layer is looked at once (a deep chain repeats the same few layers).
    fn layers_read(&self, stack: &LayerStack, paths: &[String]) -> Vec<LayerId> {
        use cairn_oci::PathEffect;
        let mut effects: HashMap<&LayerId, Vec<PathEffect>> = HashMap::new();
        for id in stack.iter_top_down() {
            effects.entry(id).or_insert_with(|| {
                let dir = self.store.layer_dir(id);
                paths
                    .iter()
                    .map(|p| cairn_oci::layer_path_effect(&dir, p))
                    .collect()
            });
        }
        if effects
            .values()
            .flatten()
            .any(|e| *e == PathEffect::Redirects)
        {
            return stack.to_vec();
        }
        stack
            .iter()
            .filter(|id| {
                effects
                    .get(id)
                    .is_some_and(|e| e.contains(&PathEffect::Changes))
            })
            .cloned()
            .collect()
    }

    /// Sources that are not cached by definition key yet.
    fn source(&self, d: Digest, src: &SourceOp) -> Result<LayerStack, SolveError> {
        match src {
            SourceOp::Image {
                reference,
                platform,
            } => {
                let rec = crate::keycontext::stored_image(&self.store, reference, platform)
                    .map_err(|e| match e {
                        crate::keys::KeyInputError::WrongPlatform { .. } => SolveError::Step {
                            digest: d,
                            vertex: self.name(&d),
                            message: e.to_string(),
                            exit_code: None,
                            last_lines: vec![],
                        },
                        e => crate::causes::store_err(e),
                    })?
                    .ok_or_else(|| SolveError::Step {
                        digest: d,
                        vertex: self.name(&d),
                        message: format!("image {reference} is not in the store (add it with `cairn pull`, `cairn load` or `cairn import`)"),
                        exit_code: None,
                        last_lines: vec![],
                    })?;
                Ok(rec.layers.into())
            }
            SourceOp::Local(_) => Ok(LayerStack::new()),
            SourceOp::Http { url: what, .. } | SourceOp::Git { remote: what, .. } => {
                // Fetched before solving; its key material is the layer (`keys::extras`).
                let layer = self
                    .extras
                    .get(&d)
                    .and_then(|e| std::str::from_utf8(e).ok())
                    .and_then(|id| LayerId::parse(id).ok())
                    .ok_or_else(|| {
                        SolveError::Internal(format!("{what} was not fetched before solving"))
                    })?;
                Ok(LayerStack::new().push(layer))
            }
        }
    }
}

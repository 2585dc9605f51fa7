//! Executing one op: Exec and File ops through the sandbox executor into a fresh layer, Merge by
//! stacking layer lists.

use crate::causes::store_err;
use crate::events::{EventKind, LogStream};
use crate::solve::{Inner, SolveError, VResult};
use cairn_ir::{CacheSharing, Digest, ExecOp, FileAction, FileOp, MountKind, Op};
use cairn_sandbox::{
    ExecJob, ExecMount, ExecMountKind, Executor, FileJob, Job, MountSource, OutputLine, Rootfs,
    Stream,
};
use cairn_store::{LayerId, LayerRecord, LayerStack, StoreLock};
use std::collections::VecDeque;
use std::sync::Arc;

/// How many trailing output lines a failure report keeps.
const TAIL_LINES: usize = 20;
/// The hostname RUN steps see, as with BuildKit.
const HOSTNAME: &str = "buildkitsandbox";

pub(crate) async fn run<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    d: Digest,
    op: &Op,
    inputs: &[Arc<VResult>],
) -> Result<LayerStack, SolveError> {
    match op {
        Op::Merge(m) => {
            let mut layers = LayerStack::new();
            for i in &m.inputs {
                let input = input_layers(inputs, Some(*i))?;
                // The first input's stack is shared as it is; the others go on top of it.
                layers = if layers.is_empty() {
                    input
                } else {
                    input.iter().fold(layers, |s, l| s.push(l.clone()))
                };
            }
            Ok(layers)
        }
        Op::Exec(x) => exec(inner, d, x, inputs).await,
        Op::File(f) => file(inner, d, f, inputs).await,
        Op::Source(_) => Err(SolveError::Internal("sources are not executed".into())),
    }
}

fn input_layers(inputs: &[Arc<VResult>], idx: Option<u32>) -> Result<LayerStack, SolveError> {
    match idx {
        None => Ok(LayerStack::new()),
        Some(i) => match inputs.get(i as usize).map(|r| &**r) {
            Some(VResult::Layers(l)) => Ok(l.clone()),
            Some(VResult::Local(_)) => Err(SolveError::Internal(
                "a build context cannot be a root filesystem".into(),
            )),
            None => Err(SolveError::Internal(format!("input #{i} missing"))),
        },
    }
}

fn mount_source<E>(
    inner: &Inner<E>,
    inputs: &[Arc<VResult>],
    idx: Option<u32>,
) -> Result<MountSource, SolveError> {
    match idx.and_then(|i| inputs.get(i as usize)).map(|r| &**r) {
        None => Ok(MountSource::Layers(vec![])),
        Some(VResult::Local(name)) => {
            let path = inner
                .opts
                .locals
                .get(name)
                .cloned()
                .ok_or_else(|| SolveError::Internal(format!("no directory for {name}")))?;
            let ignore = inner.local_ignore.get(name).cloned().unwrap_or_default();
            Ok(MountSource::Dir { path, ignore })
        }
        Some(VResult::Layers(l)) => Ok(MountSource::Layers(
            l.topmost_unique()
                .into_iter()
                .map(|id| inner.store.layer_dir(id))
                .collect(),
        )),
    }
}

/// The overlay lowers of a root file system of `base`: each layer once, at its topmost place
/// (the same view, and a deep stack of a few repeated layers mounts as a few lowers).
fn lowers<E>(inner: &Inner<E>, base: &LayerStack) -> Vec<std::path::PathBuf> {
    base.topmost_unique()
        .into_iter()
        .map(|id| inner.store.layer_dir(id))
        .collect()
}

/// `uid=`, `gid=`, `mode=` of a cache mount: when any is given, the mount's root gets them.
fn cache_owner(
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Option<cairn_sandbox::CacheOwner> {
    (mode.is_some() || uid.is_some() || gid.is_some()).then(|| cairn_sandbox::CacheOwner {
        uid: uid.unwrap_or(0),
        gid: gid.unwrap_or(0),
        mode: mode.unwrap_or(0o755),
    })
}

async fn exec<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    d: Digest,
    x: &ExecOp,
    inputs: &[Arc<VResult>],
) -> Result<LayerStack, SolveError> {
    // Another platform's programs run only through a registered emulator: without one the
    // step fails here, before anything runs, rather than run them natively or fail obscurely.
    if let Some(platform) = &x.platform {
        cairn_sandbox::binfmt::emulator_for(platform, inner.opts.binfmt_dir.as_ref())
            .map_err(|e| step_error(inner, d, e.to_string(), None, vec![]))?;
    }
    let rootfs_input = x
        .mounts
        .iter()
        .find(|m| matches!(m.kind, MountKind::Rootfs))
        .and_then(|m| m.input);
    let base = input_layers(inputs, rootfs_input)?;
    let staging = inner.store.staging().map_err(store_err)?;
    let mut env = x.env.clone();
    env.extend(x.proxy_env.iter().cloned());
    let mut mounts = Vec::new();
    // Forwarding sockets of ssh mounts: they live until the step ends.
    let mut proxies = Vec::new();
    let mut locks: Vec<StoreLock> = Vec::new();
    // Empty cache mounts of a step that ignores the cache; removed when it is done.
    let mut throwaway: Vec<cairn_store::Staging> = Vec::new();
    for m in &x.mounts {
        let kind = match &m.kind {
            MountKind::Rootfs => continue,
            MountKind::Bind => ExecMountKind::Bind {
                source: mount_source(inner, inputs, m.input)?,
                selector: m.selector.clone(),
                readonly: m.readonly,
            },
            MountKind::Cache {
                id,
                sharing,
                mode,
                uid,
                gid,
            } => {
                // A step whose cache is ignored (`--no-cache`, `--no-cache-filter`) gets an
                // empty cache mount of its own and leaves the kept one as it was, as BuildKit's
                // (testCacheMountModeNoCache).
                if inner.ignores_cache(d) {
                    let fresh = inner.store.staging().map_err(store_err)?;
                    let dir = fresh.upper().to_path_buf();
                    throwaway.push(fresh);
                    mounts.push(ExecMount {
                        target: m.target.clone(),
                        kind: ExecMountKind::Cache {
                            dir,
                            selector: m.selector.clone(),
                            readonly: m.readonly,
                            owner: cache_owner(*mode, *uid, *gid),
                        },
                    });
                    continue;
                }
                let dir = inner.store.cache_mount_dir(id).map_err(store_err)?;
                if matches!(sharing, CacheSharing::Locked | CacheSharing::Private) {
                    let lock = inner
                        .store
                        .lock(&format!("cache-mount-{id}"))
                        .map_err(store_err)?;
                    locks.push(lock);
                }
                prime_cache_mount(inner, id, &dir).await?;
                ExecMountKind::Cache {
                    dir,
                    selector: m.selector.clone(),
                    readonly: m.readonly,
                    owner: cache_owner(*mode, *uid, *gid),
                }
            }
            MountKind::Tmpfs { size } => ExecMountKind::Tmpfs { size: *size },
            MountKind::Secret {
                id,
                required,
                mode,
                uid,
                gid,
                env: as_env,
            } => {
                let Some(content) = inner.opts.secrets.get(id) else {
                    if *required {
                        return Err(step_error(
                            inner,
                            d,
                            format!(
                                "secret {id}: not found (it is required: give it with --secret id={id},src=FILE)"
                            ),
                            None,
                            vec![],
                        ));
                    }
                    continue;
                };
                if let Some(var) = as_env {
                    env.push(format!("{var}={}", String::from_utf8_lossy(content)));
                    if m.target.is_empty() {
                        continue;
                    }
                }
                ExecMountKind::Secret {
                    content: content.clone(),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                }
            }
            MountKind::Ssh {
                id,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(socket) = inner.opts.ssh.get(id) else {
                    if *required {
                        return Err(step_error(
                            inner,
                            d,
                            format!(
                                "no SSH key {id:?} forwarded from the client: build with \
                                 --ssh {id} (the agent of $SSH_AUTH_SOCK) or --ssh {id}=SOCKET"
                            ),
                            None,
                            vec![],
                        ));
                    }
                    continue;
                };
                // As BuildKit: the step finds the agent through SSH_AUTH_SOCK.
                if !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                    env.push(format!("SSH_AUTH_SOCK={}", m.target));
                }
                // A socket of the step's own, with the owner and mode it asked for.
                let proxy =
                    cairn_sandbox::SocketProxy::start(socket, *uid, *gid, *mode).map_err(|e| {
                        step_error(
                            inner,
                            d,
                            format!("ssh agent {} ({id}): {e}", socket.display()),
                            None,
                            vec![],
                        )
                    })?;
                let path = proxy.path();
                proxies.push(proxy);
                ExecMountKind::Socket { path }
            }
        };
        mounts.push(ExecMount {
            target: m.target.clone(),
            kind,
        });
    }
    let job = Job::Exec(ExecJob {
        rootfs: Rootfs {
            lowers: lowers(inner, &base),
            upper: staging.upper().to_path_buf(),
            work: staging.work().to_path_buf(),
        },
        args: x.args.clone(),
        env,
        cwd: x.cwd.clone(),
        user: x.user.clone(),
        hostname: x.hostname.clone().unwrap_or_else(|| HOSTNAME.to_string()),
        network: x.network,
        security: x.security,
        mounts,
        host_config: x.host_config.clone(),
    });
    run_job(inner, d, &job, &x.args).await?;
    let binds = x
        .mounts
        .iter()
        .filter(|m| matches!(m.kind, MountKind::Bind))
        .filter_map(|m| Some((m.input?, m.selector.as_str(), &[][..])));
    check_locals(inner, d, inputs, binds).await?;
    drop(proxies);
    drop(locks);
    drop(throwaway);
    commit(inner, staging, base).await
}

async fn file<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    d: Digest,
    f: &FileOp,
    inputs: &[Arc<VResult>],
) -> Result<LayerStack, SolveError> {
    let base = input_layers(inputs, f.base)?;
    let staging = inner.store.staging().map_err(store_err)?;
    let sources = (0..inputs.len())
        .map(|i| mount_source(inner, inputs, u32::try_from(i).ok()))
        .collect::<Result<Vec<_>, _>>()?;
    let tracked = crate::reuse::prepare(inner, d, f, inputs, &staging)?;
    let job = Job::File(FileJob {
        rootfs: Rootfs {
            lowers: lowers(inner, &base),
            upper: staging.upper().to_path_buf(),
            work: staging.work().to_path_buf(),
        },
        sources,
        actions: f.actions.clone(),
        tracking: tracked.as_ref().map(|t| t.tracking.clone()),
    });
    run_job(inner, d, &job, &[]).await?;
    let copies = f.actions.iter().filter_map(|a| match a {
        FileAction::Copy(c) => Some((c.source, c.src.as_str(), c.exclude.as_slice())),
        _ => None,
    });
    check_locals(inner, d, inputs, copies).await?;
    let Some(tracked) = tracked else {
        return commit(inner, staging, base).await;
    };
    // A tracked copy: its files' hashes come from the context scan, and the result is
    // remembered for the next run of the same copy.
    let written = Arc::new(tracked.written()?);
    let known = Arc::clone(&written);
    let layers = commit_with(inner, staging, base, move |upper| {
        cairn_oci::content_digest_sized(upper, &|rel| known.known(rel))
    })
    .await?;
    if let (Some(layer), Ok(written)) = (layers.top(), Arc::try_unwrap(written)) {
        written.remember(inner, layer.clone())?;
    }
    Ok(layers)
}

/// The build-context files a step read are still the ones its cache key was computed from
/// (`ContextIndex::check_unchanged`): a file changed after the scan would otherwise be
/// recorded under a key that names its old content. `reads` are (input, source path,
/// excludes) of the step's reads; those of inputs that are not local sources are skipped.
async fn check_locals<'a, E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    d: Digest,
    inputs: &[Arc<VResult>],
    reads: impl Iterator<Item = (u32, &'a str, &'a [String])>,
) -> Result<(), SolveError> {
    let mut checks = Vec::new();
    for (input, src, exclude) in reads {
        let Some(VResult::Local(name)) = inputs.get(input as usize).map(|r| &**r) else {
            continue;
        };
        let (Some(index), Some(dir)) = (inner.opts.contexts.get(name), inner.opts.locals.get(name))
        else {
            continue;
        };
        checks.push((
            Arc::clone(index),
            dir.clone(),
            src.to_string(),
            exclude.to_vec(),
        ));
    }
    if checks.is_empty() {
        return Ok(());
    }
    let checked = tokio::task::spawn_blocking(move || {
        checks
            .iter()
            .try_for_each(|(index, dir, src, exclude)| index.check_unchanged(dir, src, exclude))
    })
    .await
    .map_err(|e| SolveError::Internal(e.to_string()))?;
    checked.map_err(|e| step_error(inner, d, e.to_string(), None, Vec::new()))
}

/// A cache mount that is empty here but was exported by another machine starts from that
/// content (`--cache-from` of a cache exported with `mounts=true`).
async fn prime_cache_mount<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    id: &str,
    dir: &std::path::Path,
) -> Result<(), SolveError> {
    let empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty {
        return Ok(());
    }
    for remote in &inner.opts.remotes {
        let (remote, store, id, dir) = (
            Arc::clone(remote),
            inner.store.clone(),
            id.to_string(),
            dir.to_path_buf(),
        );
        let filled = tokio::task::spawn_blocking(move || remote.fetch_mount(&store, &id, &dir))
            .await
            .map_err(|e| SolveError::Internal(e.to_string()))?
            .map_err(|e| {
                SolveError::Store(format!(
                    "imported cache mount: {}",
                    crate::with_causes(e.as_ref())
                ))
            })?;
        if filled {
            break;
        }
    }
    Ok(())
}

/// Run a job, forwarding its output as log events and failing with its last lines.
async fn run_job<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    d: Digest,
    job: &Job,
    args: &[String],
) -> Result<(), SolveError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OutputLine>();
    let forward = {
        let inner = Arc::clone(inner);
        tokio::spawn(async move {
            let mut tail = VecDeque::with_capacity(TAIL_LINES);
            while let Some(l) = rx.recv().await {
                let line = String::from_utf8_lossy(&l.line).into_owned();
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                let stream = match l.stream {
                    Stream::Stdout => LogStream::Stdout,
                    Stream::Stderr => LogStream::Stderr,
                };
                inner.emit(d, EventKind::Log { stream, line });
            }
            tail
        })
    };
    let outcome = inner.executor.run(job, tx).await;
    let tail: Vec<String> = forward.await.map(Vec::from).unwrap_or_default();
    match outcome {
        Ok(o) if o.exit_code == 0 => Ok(()),
        Ok(o) => {
            let what = if args.is_empty() {
                "file operation".to_string()
            } else {
                format!("process {:?}", args.join(" "))
            };
            Err(step_error(
                inner,
                d,
                format!(
                    "{what} did not complete successfully: exit code: {}",
                    o.exit_code
                ),
                Some(o.exit_code),
                tail,
            ))
        }
        Err(e) => Err(step_error(inner, d, e.to_string(), None, tail)),
    }
}

fn step_error<E: Executor + 'static>(
    inner: &Inner<E>,
    d: Digest,
    message: String,
    exit_code: Option<i32>,
    last_lines: Vec<String>,
) -> SolveError {
    SolveError::Step {
        digest: d,
        vertex: inner.name(&d),
        message,
        exit_code,
        last_lines,
    }
}

/// Turn the job's upper dir into a committed layer on top of `base`.
async fn commit<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    staging: cairn_store::Staging,
    base: LayerStack,
) -> Result<LayerStack, SolveError> {
    commit_with(inner, staging, base, |upper| {
        cairn_oci::content_digest_sized(upper, &|_| None)
    })
    .await
}

/// [`commit`], the layer's content digest and size computed by `digest`.
async fn commit_with<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    staging: cairn_store::Staging,
    base: LayerStack,
    digest: impl FnOnce(&std::path::Path) -> cairn_oci::Result<(LayerId, u64)> + Send + 'static,
) -> Result<LayerStack, SolveError> {
    let store = inner.store.clone();
    let id = tokio::task::spawn_blocking(move || -> Result<LayerId, SolveError> {
        let (id, size) = digest(staging.upper()).map_err(store_err)?;
        store
            .commit_layer(staging, &id, LayerRecord::default())
            .map_err(store_err)?;
        store.set_layer_size(&id, size);
        Ok(id)
    })
    .await
    .map_err(|e| SolveError::Internal(e.to_string()))??;
    Ok(base.push(id))
}

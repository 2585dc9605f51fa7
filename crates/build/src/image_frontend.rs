//! Frontends that are images (`--frontend image:REF`, `# syntax=REF`, `BUILDKIT_SYNTAX`):
//! someone else's program, run like a RUN step.
//!
//! The image is resolved like a base image (pulled when allowed) and its entrypoint (and cmd)
//! runs in cairn's sandbox with everything a step gets (namespaces, seccomp, capabilities,
//! masked paths), and less: no network at all, no mount of the context (it reads files only
//! through the protocol, confined and `.dockerignore`d), a data-size limit
//! ([`MEMORY_LIMIT`]) and the frontend time limit. The protocol runs over a Unix socket cairn
//! listens on, bound into the sandbox at [`SOCKET_PATH`] and named by
//! `$CAIRN_FRONTEND_SOCKET`: the step's stdin is `/dev/null` and its stdout is shown as
//! output, as for every step, so the sandbox needs no second kind of job.

use crate::FrontendHost;
use crate::error::{BuildError, Result};
use crate::events::{BuildEvent, EventSink};
use crate::process_frontend::{Exit, Peer, Started};
use cairn_ir::Platform;
use cairn_ir::resolve::ImageResolver;
use cairn_sandbox::{ExecJob, ExecMount, ExecMountKind, Executor, Job, JobOutcome, Rootfs};
use std::collections::VecDeque;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the protocol's socket is inside the frontend's sandbox.
pub const SOCKET_PATH: &str = "/run/cairn-frontend.sock";

/// The most data (heap and private mappings, `RLIMIT_DATA`) a frontend image may use.
pub const MEMORY_LIMIT: u64 = 2 << 30;

/// Lines of output kept for an error.
const TAIL: usize = 20;

/// The sandboxed frontend's side: the job running on the engine's runtime.
struct Sandboxed<'a> {
    job: Option<
        tokio::task::JoinHandle<std::result::Result<JobOutcome, cairn_sandbox::SandboxError>>,
    >,
    runtime: &'a tokio::runtime::Runtime,
    // Kept until the frontend is done: the socket's directory and the overlay's scratch.
    _dir: tempfile::TempDir,
    _staging: cairn_store::Staging,
}

impl Peer for Sandboxed<'_> {
    fn wait(&mut self, deadline: Instant) -> Exit {
        let Some(job) = self.job.take() else {
            return Exit::Unknown("already waited for".into());
        };
        while !job.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !job.is_finished() {
            job.abort();
            return Exit::Running;
        }
        match self.runtime.block_on(job) {
            Ok(Ok(outcome)) => Exit::Code(outcome.exit_code),
            Ok(Err(e)) => Exit::Unknown(e.to_string()),
            Err(e) => Exit::Unknown(e.to_string()),
        }
    }
}

impl Drop for Sandboxed<'_> {
    fn drop(&mut self) {
        // Dropping the job's future kills the sandbox helper, and with it the frontend.
        if let Some(job) = self.job.take() {
            job.abort();
            let _ = self.runtime.block_on(job);
        }
    }
}

/// Resolve `reference`, start its entrypoint in the sandbox, and wait (until `deadline`) for it
/// to connect.
pub(crate) fn start<'a>(
    host: &'a FrontendHost<'a>,
    reference: &str,
    platform: &Platform,
    name: &str,
    deadline: Instant,
    events: Arc<dyn EventSink>,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> Result<Started<'a>> {
    let fail = |what: String| BuildError::msg(format!("frontend {name}: {what}"));
    let normalized = cairn_ir::Reference::parse(reference)
        .map_err(|e| fail(format!("{reference} is not an image reference: {e}")))?
        .to_string();
    let resolver: &dyn ImageResolver = host;
    let image = resolver
        .resolve(&normalized, platform)
        .map_err(|e| fail(format!("cannot use {normalized}: {e}")))?
        .ok_or_else(|| {
            fail(format!(
                "image {normalized} is not in the store (cairn pull it)"
            ))
        })?;
    let pinned = image.pinned.clone().unwrap_or(normalized.clone());
    let store = host.store();
    let record = store
        .image_resolve_one(&pinned)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail(format!("image {pinned} is not in the store")))?;
    let config = image.config;
    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.clone().unwrap_or_default());
    if args.is_empty() {
        return Err(fail(format!(
            "{normalized} has neither an entrypoint nor a cmd"
        )));
    }

    let dir = tempfile::Builder::new()
        .prefix("cairn-frontend-")
        .tempdir()
        .map_err(|e| BuildError::with_source("cannot make the frontend's socket directory", e))?;
    let socket = dir.path().join("protocol.sock");
    let listener = UnixListener::bind(&socket)
        .map_err(|e| BuildError::with_source("cannot listen for the frontend", e))?;
    // The directory is the host's guard (0700); the socket itself must admit the frontend's
    // user, whoever the image says it is.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| BuildError::with_source("cannot open the socket to the frontend", e))?;
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| BuildError::with_source("cannot listen for the frontend", e))?;
    let staging = store.staging().map_err(|e| fail(e.to_string()))?;
    let mut env = config.env.clone();
    env.push(format!("CAIRN_FRONTEND_SOCKET={SOCKET_PATH}"));
    env.push(format!(
        "CAIRN_FRONTEND_PROTOCOL={}",
        cairn_frontend_sdk::PROTOCOL_VERSION
    ));
    let job = Job::Exec(ExecJob {
        rootfs: Rootfs {
            lowers: record.layers.iter().map(|l| store.layer_dir(l)).collect(),
            upper: staging.upper().to_path_buf(),
            work: staging.work().to_path_buf(),
        },
        args,
        env,
        cwd: config.working_dir.clone().unwrap_or_else(|| "/".into()),
        user: config.user.clone().unwrap_or_default(),
        hostname: "cairn-frontend".into(),
        network: cairn_ir::NetworkMode::None,
        security: cairn_ir::SecurityMode::Sandbox,
        mounts: vec![ExecMount {
            target: SOCKET_PATH.into(),
            kind: ExecMountKind::Socket {
                path: socket.clone(),
            },
        }],
        host_config: cairn_ir::HostConfig {
            ulimits: vec![cairn_ir::Ulimit {
                name: "data".into(),
                soft: MEMORY_LIMIT,
                hard: MEMORY_LIMIT,
            }],
            ..cairn_ir::HostConfig::default()
        },
    });
    let executor = host.executor();
    let runtime = host.runtime();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = runtime.spawn(async move { executor.run(&job, tx).await });
    // Its output (stdout and stderr), shown and kept for an error, as a program's stderr.
    let shown = name.to_string();
    let output = std::thread::spawn(move || {
        while let Some(line) = rx.blocking_recv() {
            let text = String::from_utf8_lossy(&line.line).into_owned();
            events.emit(BuildEvent::Info(format!("[{shown}] {text}")));
            if let Ok(mut t) = tail.lock() {
                if t.len() == TAIL {
                    t.pop_front();
                }
                t.push_back(text);
            }
        }
    });
    let mut peer = Sandboxed {
        job: Some(handle),
        runtime,
        _dir: dir,
        _staging: staging,
    };
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if peer.job.as_ref().is_some_and(|j| j.is_finished()) {
                    let status = peer.wait(deadline);
                    let _ = output.join();
                    return Err(fail(format!(
                        "it ended ({status}) without connecting to {SOCKET_PATH} (is it a cairn frontend?)"
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(fail(
                        "it did not connect within the time limit (--frontend-timeout)".into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(BuildError::with_source("cannot accept the frontend", e)),
        }
    };
    let set = |r: std::io::Result<()>| {
        r.map_err(|e| BuildError::with_source("cannot talk to the frontend", e))
    };
    set(stream.set_nonblocking(false))?;
    let reader = stream
        .try_clone()
        .map_err(|e| BuildError::with_source("cannot talk to the frontend", e))?;
    Ok(Started {
        peer: Box::new(peer),
        reader: Box::new(reader),
        writer: Box::new(stream),
        output: Some(output),
    })
}

//! The scheduler's test double (BuildKit's `solver/scheduler_test.go` is the model): a fake
//! executor — a step's "command" tells it what to do: write a file into the step's layer,
//! sleep, fail — that records what ran and how many ran at once, and graphs of such steps.
//! Shared by the solver's test files (each uses part of it).
#![allow(dead_code, clippy::expect_used)]

use cairn_ir::{
    Digest, ExecOp, Graph, GraphBuilder, HostConfig, ImageConfig, Input, Mount, MountKind,
    NetworkMode, Op, Platform, SecurityMode, VertexMeta,
};
use cairn_sandbox::{Executor, Job, JobOutcome, OutputLine, SandboxError};
use cairn_solver::keys::{KeyContext, KeyInputError};
use cairn_solver::{SolveError, SolveOptions, Solver};
use cairn_store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// What the fake saw.
#[derive(Default)]
pub struct Seen {
    runs: Vec<String>,
    running: usize,
    max_running: usize,
}

#[derive(Clone, Default)]
pub struct FakeExecutor {
    seen: Arc<Mutex<Seen>>,
}

impl FakeExecutor {
    pub fn runs(&self) -> Vec<String> {
        self.seen.lock().expect("seen").runs.clone()
    }
    pub fn max_running(&self) -> usize {
        self.seen.lock().expect("seen").max_running
    }
}

/// `write NAME [MS]`: write NAME (its content: the command) into the layer, after MS ms;
/// `keep NAME`: change nothing (an empty layer, as a WORKDIR of an existing directory);
/// `fail [MS]`: exit 1 after MS ms.
impl Executor for FakeExecutor {
    fn run(
        &self,
        job: &Job,
        _output: UnboundedSender<OutputLine>,
    ) -> impl Future<Output = Result<JobOutcome, SandboxError>> + Send {
        let seen = Arc::clone(&self.seen);
        let job = job.clone();
        async move {
            let Job::Exec(x) = job else {
                return Ok(JobOutcome { exit_code: 0 });
            };
            let cmd = x.args.join(" ");
            {
                let mut s = seen.lock().expect("seen");
                s.runs.push(cmd.clone());
                s.running += 1;
                s.max_running = s.max_running.max(s.running);
            }
            let ms = x.args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            seen.lock().expect("seen").running -= 1;
            match x.args.first().map(String::as_str) {
                Some("keep") => Ok(JobOutcome { exit_code: 0 }),
                Some("write") => {
                    let name = x.args.get(1).cloned().unwrap_or_default();
                    std::fs::write(x.rootfs.upper.join(name), &cmd).expect("write");
                    Ok(JobOutcome { exit_code: 0 })
                }
                _ => Ok(JobOutcome { exit_code: 1 }),
            }
        }
    }
}

/// No images, no remote sources, no build contexts.
pub struct NoContext;

impl KeyContext for NoContext {
    fn image_manifest(&self, r: &str, _: &Platform) -> Result<String, KeyInputError> {
        Err(KeyInputError::ImageMissing(r.into()))
    }
    fn remote_layer(&self, _: &Digest) -> Result<String, KeyInputError> {
        Err(KeyInputError::NotFetched)
    }
    fn selection(
        &self,
        _: &str,
        _: &str,
        _: &[String],
        _: bool,
        _: bool,
    ) -> Result<[u8; 32], KeyInputError> {
        Err(KeyInputError::NotScanned("context".into()))
    }
}

/// A step running `args` on top of `base` (scratch when `None`), with `binds` mounted.
pub fn step(b: &mut GraphBuilder, args: &str, base: Option<Digest>, binds: &[Digest]) -> Digest {
    step_for(b, args, base, binds, None)
}

/// [`step`] of a program for `platform` (`None`: the machine's own).
pub fn step_for(
    b: &mut GraphBuilder,
    args: &str,
    base: Option<Digest>,
    binds: &[Digest],
    platform: Option<Box<Platform>>,
) -> Digest {
    let mut inputs = Vec::new();
    let mut mounts = vec![Mount {
        target: "/".into(),
        input: base.map(|d| {
            inputs.push(Input::of(d));
            0
        }),
        selector: "/".into(),
        readonly: false,
        kind: MountKind::Rootfs,
    }];
    for (i, d) in binds.iter().enumerate() {
        inputs.push(Input::of(*d));
        mounts.push(Mount {
            target: format!("/in{i}"),
            input: Some(u32::try_from(inputs.len() - 1).expect("input index")),
            selector: "/".into(),
            readonly: true,
            kind: MountKind::Bind,
        });
    }
    let op = Op::Exec(ExecOp {
        args: args.split(' ').map(str::to_string).collect(),
        env: vec![],
        cwd: "/".into(),
        user: String::new(),
        hostname: None,
        network: NetworkMode::None,
        security: SecurityMode::Sandbox,
        mounts,
        proxy_env: vec![],
        host_config: HostConfig::default(),
        platform,
    });
    let meta = VertexMeta {
        description: args.into(),
        ..VertexMeta::default()
    };
    b.add(op, inputs, meta).expect("add")
}

pub fn graph(b: GraphBuilder, result: Digest) -> Graph {
    b.finish(
        Some(Input::of(result)),
        Platform::linux_amd64(),
        ImageConfig::default(),
    )
}

pub fn opts(jobs: usize) -> SolveOptions {
    SolveOptions {
        jobs,
        ..SolveOptions::default()
    }
}

/// Solve `g` in `store` with `exec`: the result and how long it took.
pub async fn solve(
    store: &Store,
    exec: &FakeExecutor,
    g: Graph,
    o: SolveOptions,
) -> (Result<cairn_solver::SolveOutput, SolveError>, Duration) {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let solver = Solver::new(store.clone(), exec.clone(), g, &NoContext, o, tx).expect("solver");
    let start = Instant::now();
    let r = solver.solve().await;
    (r, start.elapsed())
}

pub fn store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().expect("tmp");
    let s = Store::open(t.path()).expect("store");
    (t, s)
}

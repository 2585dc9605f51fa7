//! The scheduler with a fake executor (BuildKit's `solver/scheduler_test.go` is the model): no
//! root, no sandbox. A step's "command" tells the fake what to do — write a file into the
//! step's layer, sleep, fail — and the fake records what ran and how many ran at once.

#![allow(clippy::expect_used)]

use cairn_ir::{
    Digest, ExecOp, Graph, GraphBuilder, HostConfig, ImageConfig, Input, Mount, MountKind,
    NetworkMode, Op, Platform, SecurityMode, VertexMeta,
};
use cairn_sandbox::{Executor, Job, JobOutcome, OutputLine, SandboxError};
use cairn_solver::keys::{Key, KeyContext, KeyInputError};
use cairn_solver::{RemoteCache, SolveError, SolveOptions, Solver};
use cairn_store::{LayerId, Store};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// What the fake saw.
#[derive(Default)]
struct Seen {
    runs: Vec<String>,
    running: usize,
    max_running: usize,
}

#[derive(Clone, Default)]
struct FakeExecutor {
    seen: Arc<Mutex<Seen>>,
}

impl FakeExecutor {
    fn runs(&self) -> Vec<String> {
        self.seen.lock().expect("seen").runs.clone()
    }
    fn max_running(&self) -> usize {
        self.seen.lock().expect("seen").max_running
    }
}

/// `write NAME [MS]`: write NAME (its content: the command) into the layer, after MS ms;
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
struct NoContext;

impl KeyContext for NoContext {
    fn image_manifest(&self, r: &str) -> Result<String, KeyInputError> {
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
fn step(b: &mut GraphBuilder, args: &str, base: Option<Digest>, binds: &[Digest]) -> Digest {
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
    });
    let meta = VertexMeta {
        description: args.into(),
        ..VertexMeta::default()
    };
    b.add(op, inputs, meta).expect("add")
}

fn graph(b: GraphBuilder, result: Digest) -> Graph {
    b.finish(
        Some(Input::of(result)),
        Platform::linux_amd64(),
        ImageConfig::default(),
    )
}

fn opts(jobs: usize) -> SolveOptions {
    SolveOptions {
        jobs,
        ..SolveOptions::default()
    }
}

/// Solve `g` in `store` with `exec`: the result and how long it took.
async fn solve(
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

fn store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().expect("tmp");
    let s = Store::open(t.path()).expect("store");
    (t, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_input_runs_once_and_everything_runs_in_order() {
    // A diamond: a → b, a → c, (b, c) → d.
    let (_t, store) = store();
    let exec = FakeExecutor::default();
    let mut b = GraphBuilder::new();
    let a = step(&mut b, "write a 20", None, &[]);
    let left = step(&mut b, "write b 20", Some(a), &[]);
    let right = step(&mut b, "write c 20", Some(a), &[]);
    let d = step(&mut b, "write d", Some(left), &[right]);
    let (out, _) = solve(&store, &exec, graph(b, d), opts(4)).await;
    let out = out.expect("solve");
    let runs = exec.runs();
    assert_eq!(
        runs.iter().filter(|r| r.starts_with("write a")).count(),
        1,
        "{runs:?}"
    );
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(runs.first().map(String::as_str), Some("write a 20"));
    assert_eq!(runs.last().map(String::as_str), Some("write d"));
    assert_eq!((out.executed, out.cached), (4, 0));
    // d's layers: a, b, d (c is only mounted).
    assert_eq!(out.layers.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn independent_steps_run_side_by_side_up_to_jobs() {
    for jobs in [1, 2, 4] {
        let (_t, store) = store();
        let exec = FakeExecutor::default();
        let mut b = GraphBuilder::new();
        let leaves: Vec<Digest> = (0..4)
            .map(|i| step(&mut b, &format!("write f{i} 300"), None, &[]))
            .collect();
        let top = step(&mut b, "write top", None, &leaves);
        let (out, took) = solve(&store, &exec, graph(b, top), opts(jobs)).await;
        out.expect("solve");
        assert_eq!(exec.max_running(), jobs, "--jobs {jobs}");
        // 4 steps of 300 ms in rounds of `jobs`: never sooner.
        assert!(
            took >= Duration::from_millis(300 * (4 / jobs) as u64),
            "{took:?} with {jobs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cached_result_runs_nothing_behind_it_and_a_change_reruns_only_what_follows() {
    let (_t, store) = store();
    let exec = FakeExecutor::default();
    let chain = |last: &str| {
        let mut b = GraphBuilder::new();
        let a = step(&mut b, "write a", None, &[]);
        let bb = step(&mut b, "write b", Some(a), &[]);
        let c = step(&mut b, last, Some(bb), &[]);
        graph(b, c)
    };
    let (first, _) = solve(&store, &exec, chain("write c"), opts(2)).await;
    let first = first.expect("first");
    assert_eq!(exec.runs().len(), 3);
    // Laziness: the result is a hit, so nothing behind it is even looked at.
    let (again, _) = solve(&store, &exec, chain("write c"), opts(2)).await;
    let again = again.expect("again");
    assert_eq!(exec.runs().len(), 3, "a cached build ran {:?}", exec.runs());
    assert_eq!((again.executed, again.layers), (0, first.layers.clone()));
    // A changed last step: only it runs.
    let (changed, _) = solve(&store, &exec, chain("write c2"), opts(2)).await;
    changed.expect("changed");
    assert_eq!(exec.runs().len(), 4);
    assert_eq!(exec.runs().last().map(String::as_str), Some("write c2"));
    // --no-cache: everything runs, the results are recorded again.
    let no_cache = SolveOptions {
        no_cache: true,
        ..opts(2)
    };
    let (all, _) = solve(&store, &exec, chain("write c"), no_cache).await;
    assert_eq!(all.expect("no-cache").executed, 3);
    assert_eq!(exec.runs().len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_step_fails_the_build_without_waiting_for_its_siblings() {
    let (_t, store) = store();
    let exec = FakeExecutor::default();
    let mut b = GraphBuilder::new();
    let slow = step(&mut b, "write slow 10000", None, &[]);
    let bad = step(&mut b, "fail x 10", None, &[]);
    let top = step(&mut b, "write top", None, &[slow, bad]);
    let (out, took) = solve(&store, &exec, graph(b, top), opts(4)).await;
    match out {
        Err(SolveError::Step {
            digest,
            vertex,
            exit_code,
            ..
        }) => {
            // The error names the failed vertex itself, not only its description.
            assert_eq!(digest, bad);
            assert_eq!(vertex, "fail x 10");
            assert_eq!(exit_code, Some(1));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        took < Duration::from_secs(8),
        "the build waited {took:?} for a sibling"
    );
    assert!(!exec.runs().iter().any(|r| r == "write top"));
}

/// A remote cache that knows one key and can or cannot deliver its layers.
#[derive(Debug)]
struct OneEntry {
    layers: Vec<LayerId>,
    deliver: bool,
    asked: Mutex<usize>,
}

impl RemoteCache for OneEntry {
    fn lookup(&self, _key: &Key) -> Option<Vec<LayerId>> {
        *self.asked.lock().expect("asked") += 1;
        Some(self.layers.clone())
    }
    fn fetch(&self, store: &Store, layers: &[LayerId]) -> Result<bool, cairn_solver::RemoteError> {
        Ok(self.deliver && layers.iter().all(|l| matches!(store.layer(l), Ok(Some(_)))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_cache_is_asked_after_a_local_miss_and_a_failed_fetch_is_a_miss() {
    // Layers present in the store (as an import would leave them), but no local record.
    let (_t, store) = store();
    let exec = FakeExecutor::default();
    let one = |b: &mut GraphBuilder| step(b, "write only", None, &[]);
    let mut b = GraphBuilder::new();
    let d = one(&mut b);
    let (made, _) = solve(&store, &exec, graph(b, d), opts(1)).await;
    let layers = made.expect("made").layers;
    let (_t2, fresh) = store_with_layers(&store, &layers);
    for (deliver, runs) in [(true, 1), (false, 2)] {
        let (_t3, target) = store_with_layers(&fresh, &layers);
        let remote = Arc::new(OneEntry {
            layers: layers.clone(),
            deliver,
            asked: Mutex::new(0),
        });
        let o = SolveOptions {
            remotes: vec![remote.clone() as Arc<dyn RemoteCache>],
            ..opts(1)
        };
        let mut b = GraphBuilder::new();
        let d = one(&mut b);
        let (out, _) = solve(&target, &exec, graph(b, d), o).await;
        let out = out.expect("solve");
        // Asked once per key the step has (its definition key, then its content key).
        assert!(*remote.asked.lock().expect("asked") >= 1);
        assert_eq!(out.executed, usize::from(!deliver), "deliver {deliver}");
        assert_eq!(exec.runs().len(), runs);
    }
}

/// A new store holding `layers` of `from` (committed, no cache records).
fn store_with_layers(from: &Store, layers: &[LayerId]) -> (tempfile::TempDir, Store) {
    let (t, s) = store();
    for id in layers {
        let staging = s.staging().expect("staging");
        copy_dir(&from.layer_dir(id), staging.upper());
        s.commit_layer(staging, id, cairn_store::LayerRecord::default())
            .expect("commit");
    }
    (t, s)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

//! The scheduler with a fake executor (`fake/mod.rs`; BuildKit's `solver/scheduler_test.go` is
//! the model): no root, no sandbox.

#![allow(clippy::expect_used)]

mod fake;

use cairn_ir::{Digest, GraphBuilder};
use cairn_solver::keys::Key;
use cairn_solver::{RemoteCache, SolveError, SolveOptions};
use cairn_store::{LayerId, Store};
use fake::{FakeExecutor, graph, opts, solve, step, step_for, store};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// Records what a [`cairn_solver::CommitObserver`] is told.
#[derive(Debug, Default)]
struct Commits(Mutex<Vec<(Digest, LayerId)>>);

impl cairn_solver::CommitObserver for Commits {
    fn committed(&self, vertex: Digest, layer: &LayerId) {
        self.0.lock().expect("lock").push((vertex, layer.clone()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_commit_observer_sees_each_executed_steps_new_layer_once() {
    let (_t, store) = store();
    let exec = FakeExecutor::default();
    let build = || {
        let mut b = GraphBuilder::new();
        let a = step(&mut b, "write a", None, &[]);
        let top = step(&mut b, "write b", Some(a), &[]);
        (graph(b, top), a, top)
    };
    let (g, a, top) = build();
    let commits = Arc::new(Commits::default());
    let o = SolveOptions {
        on_commit: Some(commits.clone()),
        ..opts(2)
    };
    let (out, _) = solve(&store, &exec, g, o).await;
    let out = out.expect("solve");
    let seen = std::mem::take(&mut *commits.0.lock().expect("lock"));
    // Each executed step, with the layer it put on top of its result.
    let mut want = vec![
        (a, out.layers.first().expect("a's layer").clone()),
        (top, out.layers.last().expect("b's layer").clone()),
    ];
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want);
    // A cached rebuild commits nothing.
    let (g, _, _) = build();
    let o = SolveOptions {
        on_commit: Some(commits.clone()),
        ..opts(2)
    };
    let (out, _) = solve(&store, &exec, g, o).await;
    assert_eq!(out.expect("solve").cached, 2);
    assert!(commits.0.lock().expect("lock").is_empty());
}

/// A step for another platform runs only when an emulator with the fix-binary flag is
/// registered for it; without one it fails naming the platform and the package, and nothing
/// of it runs (no silent native run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_step_needs_a_registered_emulator() {
    let (_t, store) = store();
    let binfmt = tempfile::tempdir().expect("binfmt dir");
    std::fs::write(binfmt.path().join("status"), "enabled\n").expect("status");
    let arm64 = cairn_ir::Platform::parse("linux/arm64").map(Box::new);
    let foreign = || {
        let mut b = GraphBuilder::new();
        let native = step(&mut b, "write native", None, &[]);
        let top = step_for(&mut b, "write arm", Some(native), &[], arm64.clone());
        graph(b, top)
    };
    let o = || SolveOptions {
        binfmt_dir: binfmt.path().to_path_buf(),
        ..opts(2)
    };
    let exec = FakeExecutor::default();
    let (out, _) = solve(&store, &exec, foreign(), o()).await;
    match out {
        Err(SolveError::Step { message, .. }) => {
            assert!(message.contains("linux/arm64"), "{message}");
            assert!(message.contains("qemu-user-static"), "{message}");
        }
        other => panic!("a foreign step without an emulator gave {other:?}"),
    }
    assert_eq!(exec.runs(), vec!["write native".to_string()]);
    // Debian's handler for arm64 programs, with the F flag: the step runs.
    std::fs::write(
        binfmt.path().join("qemu-aarch64"),
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n\
         magic 7f454c460201010000000000000000000200b700\n\
         mask ffffffffffffff00fffffffffffffffffeffffff\n",
    )
    .expect("handler");
    let (out, _) = solve(&store, &exec, foreign(), o()).await;
    assert_eq!(out.expect("emulated").executed, 1);
    assert_eq!(exec.runs().last().map(String::as_str), Some("write arm"));
}

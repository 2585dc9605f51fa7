//! A deep chain of steps (a Dockerfile of thousands of instructions) is solved in memory that
//! grows with its length, not with its square: each result, and each record the build keeps for
//! a cache export, is its input's layers plus one, shared. Its own test binary, so the process's
//! peak memory is this build's alone.

#![allow(clippy::expect_used)]

mod fake;

use fake::{FakeExecutor, graph, opts, solve, step, store};

/// The process's peak resident memory so far (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_chain_holds_each_layer_once() {
    const STEPS: usize = 800;
    let (_t, store) = store();
    let exec = FakeExecutor::default();
    let mut b = cairn_ir::GraphBuilder::new();
    // A base layer with a file, then steps that change nothing (as WORKDIRs of existing
    // directories): every result is one (empty) layer above its input's.
    let mut top = step(&mut b, "write base", None, &[]);
    for i in 0..STEPS {
        top = step(&mut b, &format!("keep {i}"), Some(top), &[]);
    }
    let (out, _) = solve(&store, &exec, graph(b, top), opts(2)).await;
    let out = out.expect("solve");
    assert_eq!(out.executed, STEPS + 1);
    assert_eq!(out.layers.len(), STEPS + 1);
    // Two records per step (content and definition key), each naming its whole stack.
    assert_eq!(out.records.len(), 2 * (STEPS + 1));
    let deepest = out.records.iter().map(|r| r.layers.len()).max();
    assert_eq!(deepest, Some(STEPS + 1));
    // As vectors, the results and records of a chain this deep hold 1.5·n² layer ids (276 MB
    // measured at 1,000 steps); shared, a few thousand links (12 MB, the process's own included).
    let peak = peak_rss_kib();
    assert!(
        peak < 64 * 1024,
        "peak memory {} MiB solving a {STEPS}-step chain",
        peak / 1024
    );
}

//! Failing steps: a clear report, nothing partial cached, clean cancellation, kill -9 safety.

use super::fixture::{Env, context};
use crate::util::cairn;
use std::time::Duration;

#[test]
fn failing_run_reports_exit_code_line_and_output() {
    let env = Env::new();
    let df = "FROM busybox\nRUN echo preparing\nRUN echo about to fail && exit 3\n";
    let c = context(&[("Dockerfile", df)]);
    let out = cairn()
        .args(["build", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("RUN echo about to fail && exit 3"), "{err}");
    assert!(
        err.contains("about to fail"),
        "the step's output is shown: {err}"
    );
}

#[test]
fn failed_step_is_not_cached_and_sibling_work_is_cancelled() {
    let env = Env::new();
    let df = "\
FROM busybox AS slow
RUN sleep 30 && echo never > /x
FROM busybox AS bad
RUN exit 1
FROM busybox
COPY --from=slow /x /x
COPY --from=bad /etc/passwd /p
";
    let c = context(&[("Dockerfile", df)]);
    let start = std::time::Instant::now();
    let b = env.build(c.path(), &["--jobs", "4"]);
    assert!(!b.success);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the slow sibling was not cancelled"
    );
    // Nothing of the failed step was recorded: it fails again (and still is not a cache hit).
    let again = env.build(c.path(), &["--jobs", "4"]);
    assert!(!again.success);
    assert!(!again.cached().iter().any(|n| n.contains("exit 1")));
    // No mounts were left behind by the cancelled sandbox.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&env.root().to_string_lossy().to_string()),
        "leftover mounts:\n{mounts}"
    );
}

#[test]
fn kill_9_during_a_build_then_rebuild_succeeds_and_reuses_work() {
    let env = Env::new();
    let df = "\
FROM busybox
RUN echo first > /first
RUN sleep 30
";
    let c = context(&[("Dockerfile", df)]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--progress=json", "--root"])
        .arg(env.root())
        .arg(c.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the sleep step started (the first step is complete by then).
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    for line in reader {
        let line = line.expect("line");
        if line.contains("\"started\"") && line.contains("sleep 30") {
            break;
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    // Let the orphaned helper notice; then build a variant that shares the first step.
    let df2 = "FROM busybox\nRUN echo first > /first\nRUN cat /first\n";
    let c2 = context(&[("Dockerfile", df2)]);
    let b = env.build_ok(c2.path(), &[]);
    assert!(
        b.cached().iter().any(|n| n.contains("echo first")),
        "completed work was reused: {:?}",
        b.ran()
    );
    assert_eq!(b.ran().len(), 1);
}

#[test]
fn two_builds_on_one_store_at_once_both_succeed() {
    let env = Env::new();
    let df = "FROM busybox AS x\nRUN sleep 0.5 && echo x > /x\nFROM busybox\nCOPY --from=x /x /x\nRUN cat /x\n";
    let c1 = context(&[("Dockerfile", df)]);
    let c2 = context(&[("Dockerfile", df)]);
    let spawn = |c: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["build", "--progress=quiet", "--root"])
            .arg(env.root())
            .arg(c)
            .output()
    };
    std::thread::scope(|s| {
        let a = s.spawn(|| spawn(c1.path()));
        let b = s.spawn(|| spawn(c2.path()));
        for h in [a, b] {
            let out = h.join().expect("thread").expect("run");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
    // Whatever interleaving happened, the store is consistent: a third build runs nothing.
    assert!(env.build_ok(c1.path(), &[]).ran().is_empty());
}

#[test]
fn interrupt_stops_the_step_and_leaves_no_mounts() {
    let env = Env::new();
    let df = "FROM busybox\nRUN echo partial > /p && sleep 30\n";
    let c = context(&[("Dockerfile", df)]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--progress=json", "--root"])
        .arg(env.root())
        .arg(c.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    for line in lines.by_ref() {
        if line.expect("line").contains("\"started\"") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = child.wait().expect("wait");
    assert!(!status.success(), "an interrupted build fails");
    std::thread::sleep(Duration::from_millis(300));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&env.root().to_string_lossy().to_string()),
        "leftover mounts:\n{mounts}"
    );
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains("echo partial > /p && sleep 30"),
        "the step was not stopped"
    );
}

#[test]
fn copy_of_a_missing_file_names_the_line_and_the_path() {
    // BuildKit: `Dockerfile:2 ... "/missing.txt": not found`.
    let env = super::fixture::Env::new();
    let c = super::fixture::context(&[("Dockerfile", "FROM busybox\nCOPY missing.txt /x\n")]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(b.stderr.contains("Dockerfile:2"), "{}", b.stderr);
    assert!(
        b.stderr.contains("\"/missing.txt\": not found"),
        "{}",
        b.stderr
    );
}

#[test]
fn a_context_file_changed_during_the_build_is_not_recorded_under_its_old_key() {
    // The keys come from the scan at the start; a COPY that ran after the file changed would
    // store the new content under the old content's key (and a later build with the old
    // content would get the new one from the cache). The step fails instead, naming the file.
    let env = Env::new();
    let df = "\
FROM busybox
RUN sleep 1
COPY a.txt /a.txt
";
    let c = context(&[("Dockerfile", df), ("a.txt", "as scanned\n")]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--progress=json", "--no-cache", "--root"])
        .arg(env.root())
        .arg(c.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    // The context was scanned before any step started.
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.contains("\"started\"") && line.contains("sleep 1") {
            break;
        }
    }
    std::fs::write(c.path().join("a.txt"), "changed during the build\n").expect("write");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    let rest = rest.join("\n");
    assert!(!status.success(), "{rest}");
    assert!(
        rest.contains("a.txt: the file changed in the build context while the build ran"),
        "{rest}"
    );
    // Built again, the new content is keyed and copied.
    let (_keep, out) = super::fixture::out_dir();
    let o = format!("type=local,dest={}", out.display());
    env.build_ok(c.path(), &["-o", &o]);
    assert_eq!(
        std::fs::read_to_string(out.join("a.txt")).expect("a.txt"),
        "changed during the build\n"
    );
}

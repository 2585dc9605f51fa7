//! Bad input gets a clear error naming the file, line and cause, with a caret and a hint; never a
//! panic.

use crate::util::{cairn, context};

fn plan_error(dockerfile: &str, args: &[&str]) -> String {
    let dir = context(&[("Dockerfile", dockerfile)]);
    let out = cairn()
        .arg("plan")
        .args(args)
        .arg(dir.path())
        .output()
        .expect("run cairn");
    assert!(!out.status.success(), "expected failure for:\n{dockerfile}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn unknown_instruction_suggests_the_right_one() {
    let e = plan_error("FROM busybox\nCOPPY . /app\n", &[]);
    assert!(e.contains("COPPY"), "{e}");
    assert!(e.contains("Dockerfile:2:1"), "{e}");
    assert!(e.contains("2 | COPPY . /app"), "{e}");
    assert!(e.contains("^^^^^"), "{e}");
    assert!(
        e.contains("unknown instruction: COPPY (did you mean COPY?)"),
        "{e}"
    );
}

#[test]
fn a_from_flag_near_a_stage_name_is_an_image() {
    // As in BuildKit: not a stage, so an image (whose pull failing names the near stage, see
    // the frontend's lowering tests). Planning without a registry leaves it unresolved.
    let dir = context(&[(
        "Dockerfile",
        "FROM busybox AS builder\nRUN true\nFROM busybox\nCOPY --from=buidler /x /x\n",
    )]);
    let out = cairn()
        .args(["plan", "--format=json"])
        .arg(dir.path())
        .output()
        .expect("run cairn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("docker.io/library/buidler:latest"));
}

#[test]
fn bad_flag_suggests_the_right_one() {
    let e = plan_error("FROM busybox\nCOPY --form=x /a /b\n", &[]);
    assert!(e.contains("Dockerfile:2"), "{e}");
    assert!(
        e.contains("unknown flag: --form (did you mean from?)"),
        "{e}"
    );
}

#[test]
fn unknown_target_is_reported_with_the_stage_names() {
    let e = plan_error("FROM busybox AS build\nRUN true\n", &["--target", "biuld"]);
    assert!(e.contains("biuld"), "{e}");
    assert!(e.contains("build"), "{e}");
}

#[test]
fn stage_cycle_is_an_error() {
    let e = plan_error(
        "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n",
        &[],
    );
    assert!(e.contains("circular"), "{e}");
}

#[test]
fn copy_outside_the_context_is_refused() {
    let e = plan_error("FROM busybox\nCOPY ../secret /x\n", &[]);
    assert!(e.contains("outside the build context"), "{e}");
    assert!(e.contains("Dockerfile:2"), "{e}");
}

#[test]
fn missing_dockerfile_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cairn().arg("plan").arg(dir.path()).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read Dockerfile"));
}

#[test]
fn empty_dockerfile_is_an_error() {
    let e = plan_error("# only a comment\n", &[]);
    assert!(
        e.to_lowercase().contains("instruction") || e.to_lowercase().contains("empty"),
        "{e}"
    );
}

#[test]
fn unbounded_and_malformed_command_lines_are_clear_errors() {
    // A Dockerfile that never ends is refused at a bounded size, not read into memory.
    let out = cairn()
        .args(["debug", "parse", "/dev/zero"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("/dev/zero") && err.contains("larger than"),
        "{err}"
    );
    let dir = context(&[("Dockerfile", "FROM busybox\n")]);
    for (args, needle) in [
        (vec!["build", "--build-arg", "=x"], "the name is empty"),
        (vec!["build", "-o", ""], "empty output"),
        (
            vec!["build", "-o", "type=docker,dest=a,dest=b"],
            "given twice",
        ),
        (
            vec!["build", "--insecure-registry", ""],
            "invalid --insecure-registry",
        ),
        (vec!["build", "-f", "/dev/zero"], "larger than"),
        (
            vec!["build", "--secret", "id=s,src=/dev/zero"],
            "larger than 512000 bytes",
        ),
    ] {
        let store = tempfile::tempdir().expect("store");
        let out = cairn()
            .args(&args)
            .arg("--root")
            .arg(store.path())
            .arg(dir.path())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn deep_stage_chains_plan_without_recursion() {
    // 10,000 stages chained by FROM and by COPY --from once overflowed the stack (SIGABRT).
    let n = 10_000;
    let from_chain: String = "FROM busybox AS s0\n".to_string()
        + &(1..n)
            .map(|i| format!("FROM s{} AS s{i}\nENV I={i}\n", i - 1))
            .collect::<String>()
        + "RUN true\n";
    let copy_chain: String = "FROM busybox AS s0\nRUN echo 0 > /f\n".to_string()
        + &(1..n)
            .map(|i| format!("FROM busybox AS s{i}\nCOPY --from=s{} /f /f\n", i - 1))
            .collect::<String>();
    for df in [from_chain, copy_chain] {
        let dir = context(&[("Dockerfile", df.as_str())]);
        let out = cairn()
            .args(["plan", "--format=json"])
            .arg(dir.path())
            .output()
            .expect("run cairn");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{:?}: {err}", out.status);
    }
}

#[test]
fn planning_creates_no_store() {
    // `cairn plan --root DIR` with a directory that is not a store leaves it as it was.
    let c = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let root = tempfile::tempdir().expect("tempdir");
    let out = cairn()
        .args(["plan", "--root"])
        .arg(root.path())
        .arg(c.path())
        .output()
        .expect("run cairn plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(root.path())
        .expect("read")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "plan wrote {left:?}");
}

#[test]
fn an_endless_dockerignore_or_stdin_dockerfile_is_refused_at_a_bound() {
    let c = context(&[("Dockerfile", "FROM busybox\n")]);
    std::os::unix::fs::symlink("/dev/zero", c.path().join(".dockerignore")).expect("symlink");
    let store = tempfile::tempdir().expect("store");
    let out = cairn()
        .args(["build", "--root"])
        .arg(store.path())
        .arg(c.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(".dockerignore") && err.contains("larger than"),
        "{err}"
    );
    let plain = context(&[]);
    // std's Command: the stdin is the device itself, streamed, never read up front.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "-f", "-", "--root"])
        .arg(store.path())
        .arg(plain.path())
        .stdin(std::fs::File::open("/dev/zero").expect("/dev/zero"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("stdin") && err.contains("larger than"),
        "{err}"
    );
}

//! Progress as a user sees it: the live view in a real terminal (tmux), BuildKit's plain
//! lines, rawjson against its published schema, how the mode is chosen, and a hostile step's
//! escape sequences never reaching the terminal.

use super::fixture::{Env, context};
use super::tmux::Tmux;
use crate::util::{cairn, repo_root};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A step that writes escape sequences: OSC 0 (sets the terminal's / tmux pane's title),
/// OSC 52 (writes the clipboard) and a screen clear.
const HOSTILE: &str = r"printf 'x\033]0;pwned-title\007y\033]52;c;cHduZWQ=\007\033[2Jz\n'";

fn dockerfile(extra: &str) -> String {
    format!(
        "FROM busybox AS slow\n\
         RUN for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo tick-$i; sleep 0.25; done\n\
         FROM busybox\n\
         COPY --from=slow /etc/passwd /copied\n\
         COPY hello.txt /hello.txt\n\
         RUN {HOSTILE}\n{extra}"
    )
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn the_live_view_in_a_real_terminal() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", &dockerfile("")), ("hello.txt", "hi\n")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let done = dir.path().join("done");
    // CI is unset so `auto` picks the live view; the window stays after cairn exits.
    let script = format!(
        "env -u CI -u CAIRN_PROGRESS -u BUILDKIT_PROGRESS TERM=xterm-256color {} build --root {} -t live:1 {}; echo exit=$? > {}; sleep 600",
        env!("CARGO_BIN_EXE_cairn"),
        shell_quote(env.root()),
        shell_quote(ctx.path()),
        shell_quote(&done),
    );
    let tmux = Tmux::start(dir.path(), 72, 16, &script);
    // While the slow step runs: the header with its timer and counts, the step with its
    // timer, and its latest output lines under it.
    let running = tmux.wait_for("tick-3", 60);
    assert!(running.contains("[+] Building "), "{running}");
    let step = running
        .lines()
        .find(|l| l.contains("[slow 2/2] RUN for i in"))
        .unwrap_or_else(|| panic!("no running step line:\n{running}"));
    assert!(step.trim_end().ends_with('s'), "no timer: {step:?}");
    assert!(running.contains(" => => # tick-"), "{running}");
    // Narrower mid-build: every line still fits.
    let ok = tmux
        .cmd()
        .args(["resize-window", "-t", "t", "-x", "40", "-y", "12"])
        .status()
        .expect("tmux resize-window");
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done.exists() {
        assert!(
            Instant::now() < deadline,
            "cairn did not finish:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let end = tmux.capture();
    let status = std::fs::read_to_string(&done).unwrap_or_default();
    assert_eq!(status.trim(), "exit=0", "{end}");
    // At 40 columns the closing line wraps: read the screen without its line ends.
    let joined = end.replace('\n', "");
    assert!(joined.contains("(8/8) FINISHED: 4 ran, 0 cached"), "{end}");
    assert!(end.contains(" => exporting to image"), "{end}");
    assert!(end.contains(" => [stage-1 4/4] RUN printf"), "{end}");
    // Every line of the view drawn after the resize fits the 40 columns.
    let after = end
        .split(" => [slow 2/2] RUN for i in 1 2 3")
        .nth(1)
        .unwrap_or_else(|| panic!("the slow step never ended:\n{end}"));
    for line in after.lines() {
        assert!(line.chars().count() <= 40, "{line:?} in\n{end}");
    }
    // The step's escape sequences were shown, not obeyed: the pane's title is not the
    // step's, and the output shows the bytes as ^[ escapes.
    assert_ne!(tmux.title(), "pwned-title");
    // A second build is all cached and says so.
    let again = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--progress=plain", "--root"])
        .arg(env.root())
        .arg(ctx.path())
        .output()
        .expect("cairn build");
    let text = String::from_utf8_lossy(&again.stderr);
    assert!(text.contains("0 steps run, 5 cached"), "{text}");
}

#[test]
fn plain_output_is_buildkits_format() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", &dockerfile("")), ("hello.txt", "hi\n")]);
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--progress=plain", "--root"])
        .arg(env.root())
        .args(["-t", "plain:1"])
        .arg(ctx.path())
        .output()
        .expect("cairn build");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let number_of = |what: &str| -> String {
        text.lines()
            .find(|l| l.contains(what))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {what:?} in:\n{text}"))
            .to_string()
    };
    for task in [
        "[internal] load build definition from Dockerfile",
        "[internal] load metadata for docker.io/library/busybox:latest",
        "[internal] load build context",
        "exporting to image",
    ] {
        let n = number_of(task);
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{n} DONE "))),
            "{task} not done:\n{text}"
        );
    }
    // Output lines carry the seconds since their step started: `#5 0.253 tick-2`.
    let n = number_of("[slow 2/2] RUN");
    let tick = text
        .lines()
        .find(|l| l.starts_with(&format!("{n} ")) && l.ends_with(" tick-2"))
        .unwrap_or_else(|| panic!("no tick-2 line:\n{text}"));
    let secs: f64 = tick
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seconds in {tick:?}"));
    assert!((0.0..30.0).contains(&secs), "{tick}");
    assert!(
        tick.split_whitespace().nth(1).is_some_and(|s| s.len() == 5),
        "{tick}"
    );
    // A blank line between items, as BuildKit prints them.
    assert!(text.contains(&format!("\n\n{n} [slow 2/2] RUN")), "{text}");
    assert!(
        text.contains("naming to docker.io/library/plain:1 done"),
        "{text}"
    );
    // Escapes are made visible: no ESC or BEL byte reaches the reader.
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("x^[]0;pwned-title^Gy"), "{text}");
}

#[test]
fn rawjson_events_meet_the_published_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/progress.schema.json"))
            .expect("docs/progress.schema.json"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let env = Env::new();
    // A lint finding (FromAsCasing), a failing cache import (a warning), output, a cached
    // step on the second build.
    let ctx = context(&[
        (
            "Dockerfile",
            &format!("{}FROM busybox as late\nRUN echo late\n", dockerfile("")),
        ),
        ("hello.txt", "hi\n"),
    ]);
    let missing = tempfile::tempdir().expect("tempdir");
    let cache_from = format!(
        "--cache-from=type=local,src={}",
        missing.path().join("none").display()
    );
    for round in 0..2 {
        let b = env.build(ctx.path(), &["-t", "json:1", &cache_from]);
        assert!(b.success, "{}", b.stderr);
        let lines: Vec<&str> = b.stderr.lines().collect();
        assert!(!lines.is_empty());
        let mut kinds = std::collections::BTreeSet::new();
        let mut open_tasks = std::collections::BTreeSet::new();
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{line}\n{errors:?}");
            let kind = v["event"].as_str().unwrap_or_default().to_string();
            if kind == "task" {
                let id = v["task"].as_u64().unwrap_or_default();
                match v["state"].as_str() {
                    Some("started") => {
                        open_tasks.insert(id);
                    }
                    Some("finished" | "failed") => {
                        open_tasks.remove(&id);
                    }
                    _ => {}
                }
                kinds.insert(format!("task:{}", v["state"].as_str().unwrap_or_default()));
            }
            kinds.insert(kind);
        }
        assert!(open_tasks.is_empty(), "tasks never ended: {open_tasks:?}");
        let want: &[&str] = if round == 0 {
            &[
                "started",
                "stdout",
                "finished",
                "task",
                "task:note",
                "summary",
                "lint",
                "warning",
            ]
        } else {
            &["cached", "task", "summary"]
        };
        for k in want {
            assert!(
                kinds.contains(*k),
                "round {round}: no {k} event in {kinds:?}"
            );
        }
    }
}

#[test]
fn the_mode_comes_from_the_flag_then_the_environment() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo hi\n")]);
    let build = |envs: &[(&str, &str)], args: &[&str]| {
        let mut c = cairn();
        c.env_remove("CAIRN_PROGRESS")
            .env_remove("BUILDKIT_PROGRESS");
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c
            .args(["build", "--root"])
            .arg(env.root())
            .args(args)
            .arg(ctx.path())
            .output()
            .expect("cairn build");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let is_json = |s: &str| s.lines().all(|l| l.starts_with('{'));
    let (ok, s) = build(&[("CAIRN_PROGRESS", "rawjson")], &[]);
    assert!(ok && is_json(&s), "{s}");
    let (ok, s) = build(&[("BUILDKIT_PROGRESS", "quiet")], &[]);
    assert!(ok && s.is_empty(), "{s}");
    // CAIRN_PROGRESS wins over BUILDKIT_PROGRESS; the flag over both.
    let (ok, s) = build(
        &[("CAIRN_PROGRESS", "json"), ("BUILDKIT_PROGRESS", "quiet")],
        &[],
    );
    assert!(ok && is_json(&s) && !s.is_empty(), "{s}");
    let (ok, s) = build(&[("CAIRN_PROGRESS", "json")], &["--progress=plain"]);
    assert!(ok && s.contains("#1 ") && !is_json(&s), "{s}");
    // Not on a terminal, auto and tty are plain lines.
    for mode in ["auto", "tty"] {
        let (ok, s) = build(&[], &["--progress", mode]);
        assert!(
            ok && s.contains(" CACHED") && !s.contains("[+] Building"),
            "{mode}: {s}"
        );
    }
    let (ok, s) = build(&[("CAIRN_PROGRESS", "fancy")], &[]);
    assert!(
        !ok && s.contains("CAIRN_PROGRESS") && s.contains("rawjson"),
        "{s}"
    );
}

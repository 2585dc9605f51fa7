//! cairn's own parity suite: every case in `tests/parity/<case>/` (a Dockerfile and its
//! context) is built by docker's BuildKit and by cairn, side by side in one run, from the same
//! busybox base, and the results are compared:
//!
//! - the final file system (`-o type=tar` of both): every entry's type, mode (with setuid,
//!   setgid, sticky), owner, size, content and link target; mtimes where they do not come from
//!   the build's own clock (files from the context, the base image, `touch -d`);
//! - the image config (`docker inspect` of both images, cairn's loaded from its docker archive)
//!   and the history's `created_by`.
//!
//! Two differences of versions are not counted: empty mount-point directories that BuildKit
//! 0.8 leaves in a RUN's layer (current BuildKit and cairn remove them), and the mtimes of
//! copied directories (BuildKit's end at the build's time, cairn's keep the source's).
//!
//! A case whose difference is known and accepted holds a file `known-difference` saying why;
//! the test then asserts there is a difference (so a fix is noticed and the file removed).
//! The reference is docker 20.10's builder (BuildKit 0.8); where current BuildKit changed
//! behaviour since, the case says so in `known-difference`.

use super::docker_parity::{docker, inspect, normalize_expose, shared_base};
use super::fixture::Env;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every entry of a `type=tar` output, as compared: type, mode (with setuid, setgid,
/// sticky), owner, size, content and link target; the mtime where it does not come from the
/// build's own clock. A hard link is described as the file it links to (cairn's tar output
/// writes the file again where BuildKit's writes a link entry).
fn tree(tar_path: &Path, since: u64) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut links = Vec::new();
    let file = std::fs::File::open(tar_path).expect("open tar");
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().expect("entries") {
        let mut e = entry.expect("entry");
        let h = e.header().clone();
        let path = e.path().expect("path").display().to_string();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let kind = match h.entry_type() {
            tar::EntryType::Directory => "dir".to_string(),
            tar::EntryType::Symlink => format!(
                "link -> {}",
                h.link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default()
            ),
            tar::EntryType::Link => {
                let target = h
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                links.push((path.clone(), target.trim_start_matches("./").to_string()));
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).expect("read");
                format!("file {} {}", data.len(), blake3::hash(&data).to_hex())
            }
            other => format!("{other:?}"),
        };
        let mtime = h.mtime().unwrap_or(0);
        // Directories: BuildKit's copy sets a directory's times before writing into it (so
        // they end up at the build's time); cairn keeps the source's. Not compared.
        let mtime = if mtime < since && h.entry_type() != tar::EntryType::Directory {
            format!(" mtime {mtime}")
        } else {
            String::new()
        };
        let mode = if h.entry_type() == tar::EntryType::Symlink {
            0
        } else {
            h.mode().unwrap_or(0) & 0o7777
        };
        out.insert(
            path,
            format!(
                "{kind} {mode:o} {}:{}{mtime}",
                h.uid().unwrap_or(0),
                h.gid().unwrap_or(0)
            ),
        );
    }
    for (path, target) in links {
        let described = out
            .get(&target)
            .cloned()
            .unwrap_or_else(|| format!("link to {target}"));
        out.insert(path, described);
    }
    out
}

/// The context of `case` with its Dockerfile's `busybox` base renamed to `base`.
fn context_of(case: &Path, base: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", case.display()))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(ok.success());
    let _ = std::fs::remove_file(dir.path().join("known-difference"));
    let df = dir.path().join("Dockerfile");
    let text = std::fs::read_to_string(&df).expect("Dockerfile");
    let text: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("FROM busybox") || t.starts_with("ARG BASE=busybox") {
                l.replacen("busybox", base, 1)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&df, text + "\n").expect("write");
    dir
}

/// Two descriptions of one entry agree. BuildKit's tar output rounds mtimes to the nearest
/// second (Go's `archive/tar`), cairn's truncates (as containerd's layer tars do): a second
/// apart is the same time.
fn same_entry(a: &str, b: &str) -> bool {
    let split = |s: &str| match s.split_once(" mtime ") {
        Some((rest, t)) => (rest.to_string(), t.parse::<i64>().ok()),
        None => (s.to_string(), None),
    };
    let ((ra, ta), (rb, tb)) = (split(a), split(b));
    ra == rb
        && match (ta, tb) {
            (Some(x), Some(y)) => (x - y).abs() <= 1,
            (None, None) => true,
            _ => false,
        }
}

/// The mount points of a Dockerfile's RUN steps: `dev`, `proc`, `sys` and every `--mount`
/// target. docker 20.10's BuildKit (0.8) leaves their empty stub directories in the layer;
/// current BuildKit removes them (`MountStubsCleaner`), as cairn does.
fn mount_stubs(dockerfile: &str) -> Vec<String> {
    let mut out = vec!["dev".to_string(), "proc".to_string(), "sys".to_string()];
    for part in dockerfile.split([' ', ',', '\n']) {
        if let Some(t) = part.strip_prefix("target=") {
            out.push(t.trim_start_matches('/').trim_end_matches('/').to_string());
        }
    }
    out
}

/// Every difference between the two builds of one case, as lines.
/// One side's result: its `type=tar` output, its `docker inspect`, its history.
struct Built<'a> {
    tar: &'a Path,
    inspect: &'a Value,
    history: &'a [Value],
}

fn differences(stubs: &[String], ours: &Built<'_>, theirs: &Built<'_>, since: u64) -> Vec<String> {
    let (c, ch, d, dh) = (ours.inspect, ours.history, theirs.inspect, theirs.history);
    let mut out = Vec::new();
    let (a, b) = (tree(ours.tar, since), tree(theirs.tar, since));
    let is_empty_dir = |p: &str| {
        b.get(p).is_some_and(|d| d.starts_with("dir "))
            && !b.keys().any(|k| k.starts_with(&format!("{p}/")))
    };
    for (path, want) in &b {
        match a.get(path) {
            None if stubs.contains(path) && is_empty_dir(path) => {}
            None => out.push(format!("missing in cairn: {path} ({want})")),
            Some(got) if !same_entry(got, want) => {
                out.push(format!("{path}: cairn {got}, BuildKit {want}"))
            }
            Some(_) => {}
        }
    }
    for path in a.keys().filter(|p| !b.contains_key(*p)) {
        out.push(format!("only in cairn: {path}"));
    }
    for field in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "User",
        "StopSignal",
        "Healthcheck",
        "Shell",
        "OnBuild",
    ] {
        if c["Config"][field] != d["Config"][field] {
            out.push(format!(
                "Config.{field}: cairn {}, BuildKit {}",
                c["Config"][field], d["Config"][field]
            ));
        }
    }
    let created_by = |h: &[Value]| {
        h.iter()
            .map(|e| normalize_expose(e["CreatedBy"].as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    if created_by(ch) != created_by(dh) {
        out.push(format!(
            "history: cairn {:?}, BuildKit {:?}",
            created_by(ch),
            created_by(dh)
        ));
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/parity")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_parity_case_builds_as_buildkit_builds_it() {
    let id = std::process::id();
    let env = Env::new();
    let base = shared_base(&env);
    // Anything older than this did not come from the builds' clocks.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_sub(5));

    let mut report = Vec::new();
    let (mut equal, mut known) = (0, 0);
    let mut failures = Vec::new();
    for case in cases() {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let ctx = context_of(&case, &base);
        let work = tempfile::tempdir().expect("tempdir");
        let (theirs, ours) = (
            work.path().join("buildkit.tar"),
            work.path().join("cairn.tar"),
        );
        let (dtag, ctag) = (
            format!("cairn-parity/{name}-docker:{id}"),
            format!("cairn-parity/{name}-cairn:{id}"),
        );
        let path = ctx.path().display().to_string();
        docker(&["build", "--network=host", "-q", "-t", &dtag, &path]);
        docker(&[
            "build",
            "--network=host",
            "-q",
            "--output",
            &format!("type=tar,dest={}", theirs.display()),
            &path,
        ]);
        let archive = work.path().join("image.tar");
        env.build_ok(
            ctx.path(),
            &[
                "-t",
                &ctag,
                &format!("--output=type=docker,dest={}", archive.display()),
                &format!("--output=type=tar,dest={}", ours.display()),
            ],
        );
        docker(&["load", "-i", &archive.display().to_string()]);
        let (d, dh) = inspect(&dtag);
        let (c, ch) = inspect(&ctag);
        for tag in [&dtag, &ctag] {
            let _ = Command::new("/usr/bin/docker")
                .args(["rmi", "-f", tag])
                .output();
        }
        let dockerfile = std::fs::read_to_string(case.join("Dockerfile")).expect("Dockerfile");
        let diffs = differences(
            &mount_stubs(&dockerfile),
            &Built {
                tar: &ours,
                inspect: &c,
                history: &ch,
            },
            &Built {
                tar: &theirs,
                inspect: &d,
                history: &dh,
            },
            since,
        );
        let reason = std::fs::read_to_string(case.join("known-difference")).ok();
        match (&reason, diffs.is_empty()) {
            (None, true) => equal += 1,
            (Some(why), false) => {
                known += 1;
                report.push(format!("{name}: different, known: {}", why.trim()));
            }
            (None, false) => failures.push(format!("{name}:\n  {}", diffs.join("\n  "))),
            (Some(_), true) => failures.push(format!(
                "{name}: now equal to BuildKit: remove its known-difference file"
            )),
        }
    }
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &base])
        .output();
    let total = equal + known + failures.len();
    eprintln!(
        "parity: {total} cases, {equal} equal, {known} known differences{}",
        report
            .iter()
            .map(|r| format!("\n  {r}"))
            .collect::<String>()
    );
    assert!(total > 0, "no parity cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

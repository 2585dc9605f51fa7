//! The `docker build` / `docker buildx build` flags CI scripts pass: the supported ones work,
//! the others are refused by name before anything runs.

use super::fixture::{Env, context};
use crate::util::cairn;
use std::io::Write;

#[test]
fn label_iidfile_quiet_and_platform() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nLABEL from=file\nRUN true\n")]);
    let d = tempfile::tempdir().expect("tempdir");
    let iid = d.path().join("iid");
    let out = cairn()
        .args(["build", "-q", "--root"])
        .arg(env.root())
        .args([
            "--label",
            "org.opencontainers.image.revision=abc123",
            "--label",
            "empty",
        ])
        .args([
            "--platform",
            "linux/amd64",
            "--progress",
            "auto",
            "--iidfile",
        ])
        .arg(&iid)
        .arg(c.path())
        .output()
        .expect("build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "-q prints the image ID: {id:?}"
    );
    assert_eq!(std::fs::read_to_string(&iid).expect("iidfile"), id);
    assert!(
        out.stderr.is_empty(),
        "-q is quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The labels are in the image's config (the blob the ID names).
    let store = cairn_store::Store::open(env.root()).expect("store");
    let digest = cairn_store::OciDigest::parse(&id).expect("digest");
    let mut config = Vec::new();
    std::io::Read::read_to_end(&mut store.open_blob(&digest).expect("config"), &mut config)
        .expect("read");
    let config: serde_json::Value = serde_json::from_slice(&config).expect("json");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], "abc123");
    assert_eq!(labels["empty"], "");
    assert_eq!(labels["from"], "file");

    for progress in ["tty", "rawjson", "plain", "quiet"] {
        let out = cairn()
            .args(["build", "--progress", progress, "--root"])
            .arg(env.root())
            .arg(c.path())
            .output()
            .expect("build");
        assert!(out.status.success(), "--progress {progress}");
    }
    let foreign = cairn()
        .args(["build", "--platform", "linux/amd64,linux/arm64", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("build");
    // Two platforms, the store's busybox only amd64's and no registry to pull arm64's from:
    // a clear error naming both platforms, nothing built for either.
    assert!(!foreign.status.success());
    let err = String::from_utf8_lossy(&foreign.stderr);
    assert!(
        err.contains("is for linux/amd64, but the stage is built for linux/arm64"),
        "{err}"
    );
}

#[test]
fn dockerfile_from_stdin() {
    let env = Env::new();
    let c = context(&[("a.txt", "A\n")]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "-q", "-f", "-", "--root"])
        .arg(env.root())
        .arg(c.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
}

/// `cairn build [ARGS] -` with `stdin` on its standard input.
pub(super) fn build_stdin(env: &Env, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["build", "--root"])
        .arg(env.root())
        .args(args)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    // A build that refuses early may close stdin first.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("wait")
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // `set_path` refuses `..`; a hostile archive is written raw.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

#[test]
fn context_from_stdin_a_dockerfile_or_a_tar() {
    let env = Env::new();
    let (_t, out) = super::fixture::out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());

    // A Dockerfile alone: the context holds just it, as docker's CLI sends it.
    let o = build_stdin(
        &env,
        &[&dest],
        b"FROM busybox\nCOPY . /ctx/\nRUN ls /ctx > /listing\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("listing")).expect("listing"),
        "Dockerfile\n"
    );

    // A (compressed) tar: the context, its Dockerfile found inside, -f relative to it.
    let tar = tar_of(&[
        ("Dockerfile", b"FROM busybox\nCOPY app.txt /app.txt\n"),
        ("app.txt", b"from the archive\n"),
        ("sub/Other", b"FROM busybox\nCOPY app.txt /other.txt\n"),
    ]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let gz = gz.finish().expect("gzip");
    for (args, file) in [(vec![], "app.txt"), (vec!["-f", "sub/Other"], "other.txt")] {
        let (_t, out) = super::fixture::out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut all = args.clone();
        all.push(&dest);
        let o = build_stdin(&env, &all, &gz);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            std::fs::read_to_string(out.join(file)).expect("copied"),
            "from the archive\n"
        );
    }

    // A hostile archive is refused, and nothing lands outside the context.
    let evil = tar_of(&[
        ("../../escaped-by-stdin", b"x"),
        ("Dockerfile", b"FROM busybox\n"),
    ]);
    let o = build_stdin(&env, &[], &evil);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("context on stdin"), "{err}");
    assert!(!env.root().join("escaped-by-stdin").exists());

    // Both from stdin is a clear error; so is a -f that leaves the archive.
    for args in [vec!["-f", "-"], vec!["-f", "../x"]] {
        let o = build_stdin(&env, &args, &tar);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("stdin"), "{err}");
    }
}

#[test]
fn add_host_shm_size_and_ulimit_reach_every_run_step() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN cat /etc/hosts > /hosts && df -k /dev/shm | tail -1 > /shm \\\n\
          && ulimit -n > /nofile && ulimit -Hn > /nofile-hard\n",
    )]);
    let (_t, out) = super::fixture::out_dir();
    env.build_ok(
        c.path(),
        &[
            "--add-host",
            "db:10.0.0.2",
            "--add-host=v6=[2001:db8::1]",
            "--shm-size",
            "128m",
            "--ulimit",
            "nofile=512:1024",
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    let read = |f: &str| std::fs::read_to_string(out.join(f)).expect(f);
    let hosts = read("hosts");
    assert!(hosts.starts_with("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(
        hosts.ends_with("10.0.0.2\tdb\n2001:db8::1\tv6\n"),
        "{hosts}"
    );
    let shm_kib: u64 = read("shm")
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("df size");
    assert_eq!(shm_kib, 128 * 1024);
    assert_eq!(read("nofile").trim(), "512");
    assert_eq!(read("nofile-hard").trim(), "1024");

    // Part of the step's identity, as in BuildKit: another host list re-runs the step.
    let b = env.build_ok(
        c.path(),
        &["--add-host", "db:10.0.0.3", "--shm-size", "128m"],
    );
    assert_eq!(b.ran().len(), 1, "{:?}", b.ran());
    // Without them: docker's defaults (64 MiB /dev/shm).
    let (_t, out) = super::fixture::out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    let shm = std::fs::read_to_string(out.join("shm")).expect("shm");
    assert_eq!(shm.split_whitespace().nth(1), Some("65536"), "{shm}");

    // Bad values are errors naming the flag, before anything runs.
    for args in [
        &["--add-host", "db"][..],
        &["--add-host", "db:host-gateway"],
        &["--shm-size", "lots"],
        &["--ulimit", "files=1"],
        &["--ulimit", "nofile=2:1"],
    ] {
        let b = env.build(c.path(), args);
        assert!(!b.success, "{args:?}");
        assert!(b.stderr.contains(args[0]), "{args:?}: {}", b.stderr);
    }
}

#[test]
fn no_cache_filter_reruns_only_the_named_stages() {
    // BuildKit's testNoCache: each stage makes something unique.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS S0\nRUN head -c 16 /dev/urandom | od -x > /unique\n\
         FROM busybox AS s1\nRUN head -c 16 /dev/urandom | od -x > /unique2\n\
         FROM scratch\nCOPY --from=s0 /unique /\nCOPY --from=s1 /unique2 /\n",
    )]);
    let build = |args: &[&str]| {
        let (t, out) = super::fixture::out_dir();
        let mut all = args.to_vec();
        let dest = format!("--output=type=local,dest={}", out.display());
        all.push(&dest);
        let b = env.build_ok(c.path(), &all);
        let read = |f: &str| std::fs::read_to_string(out.join(f)).expect(f);
        let files = (read("unique"), read("unique2"));
        drop(t);
        (b, files)
    };
    let (_, first) = build(&[]);
    let (b, again) = build(&[]);
    assert!(b.ran().is_empty());
    assert_eq!(first, again);
    // Stage names match in any case; what the re-run stage makes flows on, the rest is kept.
    let (b, filtered) = build(&["--no-cache-filter", "s0"]);
    assert_ne!(
        filtered.0, first.0,
        "s0 ran again and its new file was copied"
    );
    assert_eq!(filtered.1, first.1, "s1 stayed cached");
    assert!(
        b.ran().iter().any(|s| s.contains("[s0 2/2] RUN"))
            && !b.ran().iter().any(|s| s.contains("[s1")),
        "{:?}",
        b.ran()
    );
    let (_, both) = build(&["--no-cache-filter=S1,s0"]);
    assert_ne!(both.0, filtered.0);
    assert_ne!(both.1, filtered.1);
    // A name that is no stage is said, not silently ignored.
    let (b, _) = build(&["--no-cache-filter", "nosuch"]);
    assert!(
        b.stderr.contains("--no-cache-filter nosuch"),
        "{}",
        b.stderr
    );
    assert!(b.ran().is_empty());
}

#[test]
fn unsupported_buildx_flags_are_refused_by_name() {
    // Every `docker buildx build` flag cairn does not take (yet): refused before anything runs,
    // with the flag named.
    let unsupported: &[&[&str]] = &[
        &["--annotation", "a=b"],
        &["--attest", "type=sbom"],
        &["--builder", "b"],
        &["--call", "outline"],
        &["--cgroup-parent", "x"],
        &["--load"],
        &["--provenance", "false"],
        &["--sbom", "true"],
    ];
    let c = context(&[("Dockerfile", "FROM busybox\n")]);
    for args in unsupported {
        let out = cairn()
            .arg("build")
            .args(*args)
            .arg(c.path())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(args[0]), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn images_lists_the_id_build_prints() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    let out = cairn()
        .args(["build", "-q", "-t", "team/app:1.2", "--root"])
        .arg(env.root())
        .arg(c.path())
        .output()
        .expect("build");
    assert!(out.status.success());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let short = &id["sha256:".len().."sha256:".len() + 12];
    let list = cairn()
        .args(["images", "--root"])
        .arg(env.root())
        .output()
        .expect("images");
    let text = String::from_utf8_lossy(&list.stdout);
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("team/app "))
        .unwrap_or_else(|| panic!("no row for team/app:\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "1.2");
    assert_eq!(cols[2], short, "the ID build printed");
    assert!(row.ends_with("MB") || row.ends_with("kB"), "{row}");
    let busybox = text
        .lines()
        .find(|l| l.starts_with("busybox "))
        .expect("busybox");
    assert!(
        busybox.contains("years ago"),
        "created from the config: {busybox}"
    );
    let quiet = cairn()
        .args(["images", "-q", "--root"])
        .arg(env.root())
        .output()
        .expect("images -q");
    let ids: Vec<String> = String::from_utf8_lossy(&quiet.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(ids.iter().any(|i| i == short), "{ids:?}");
    // A read-only command creates no store.
    let t = tempfile::tempdir().expect("tempdir");
    let typo = t.path().join("typo");
    let out = cairn()
        .args(["images", "--root"])
        .arg(&typo)
        .output()
        .expect("images");
    assert!(out.status.success());
    assert!(!typo.exists(), "cairn images created {}", typo.display());
}

#[test]
fn a_file_named_dockerfile_in_lower_case_is_found() {
    let env = Env::new();
    let c = context(&[("dockerfile", "FROM busybox\nRUN echo lower\n")]);
    let b = env.build(c.path(), &[]);
    assert!(b.success, "{}", b.stderr);
    assert!(b.logs().iter().any(|l| l == "lower"), "{:?}", b.logs());
}

/// Run cairn with stdout or stderr a pipe whose reader is gone before it writes.
fn with_closed(stream: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.args(args)
        .env("CAIRN_ROOT", "/nonexistent/cairn-e2e-default-root")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    match stream {
        "stdout" => drop(child.stdout.take()),
        _ => drop(child.stderr.take()),
    }
    child.wait_with_output().expect("wait")
}

#[test]
fn a_reader_that_goes_away_is_no_crash() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo a\nRUN echo b\n")]);
    let root = env.root().as_os_str();
    for args in [
        vec!["images".as_ref(), "--root".as_ref(), root],
        vec![
            "plan".as_ref(),
            "--root".as_ref(),
            root,
            c.path().as_os_str(),
        ],
    ] {
        let out = with_closed("stdout", &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(!err.contains("panicked"), "{err}");
    }
    // A build whose progress stream is gone still finishes its outputs.
    let (_t, dest) = super::fixture::out_dir();
    let o = format!("type=local,dest={}", dest.display());
    let out = with_closed(
        "stderr",
        &[
            "build".as_ref(),
            "--progress=plain".as_ref(),
            "-t".as_ref(),
            "piped".as_ref(),
            "-o".as_ref(),
            o.as_ref(),
            "--root".as_ref(),
            root,
            c.path().as_os_str(),
        ],
    );
    assert!(out.status.success(), "{:?}", out.status);
    assert!(dest.join("bin/busybox").is_file(), "outputs written");
    let images = cairn()
        .args(["images", "--root"])
        .arg(env.root())
        .output()
        .expect("images");
    assert!(String::from_utf8_lossy(&images.stdout).contains("piped"));
}

#[test]
fn the_image_id_does_not_depend_on_outputs_or_compression() {
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    let d = tempfile::tempdir().expect("tempdir");
    let id = |env: &Env, extra: &[String]| {
        let out = cairn()
            .args(["build", "-q", "--root"])
            .arg(env.root())
            .args(extra)
            .arg(c.path())
            .output()
            .expect("build");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let docker = format!("type=docker,dest={}", d.path().join("d.tar").display());
    let oci = format!("type=oci,dest={}", d.path().join("o.tar").display());
    for order in [0, 1] {
        let env = Env::new();
        let runs: Vec<Vec<String>> = vec![
            vec![],
            vec!["-o".into(), docker.clone()],
            vec![
                "--compression".into(),
                "zstd".into(),
                "-o".into(),
                oci.clone(),
            ],
        ];
        let mut ids: Vec<String> = Vec::new();
        let seq: Vec<&Vec<String>> = if order == 0 {
            runs.iter().collect()
        } else {
            runs.iter().rev().collect()
        };
        for r in seq {
            ids.push(id(&env, r));
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    }
}

#[test]
fn the_metadata_file_is_written_without_tags_or_outputs() {
    // CI scripts read the image ID from `--metadata-file` whatever else the build does.
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo m > /m\n")]);
    let d = tempfile::tempdir().expect("tempdir");
    let meta = d.path().join("meta.json");
    let iid = d.path().join("iid");
    let b = env.build(
        c.path(),
        &[
            "--metadata-file",
            &meta.to_string_lossy(),
            "--iidfile",
            &iid.to_string_lossy(),
        ],
    );
    assert!(b.success, "{}", b.stderr);
    let md: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("metadata written")).expect("json");
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert_eq!(md["containerimage.config.digest"], id.trim(), "{md}");
    assert!(
        md["containerimage.digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{md}"
    );
}

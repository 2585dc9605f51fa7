//! BuildKit's small test files: `dockerfile_mount_test.go` (the cases not in `mod.rs`),
//! `dockerfile_parents_test.go`, `dockerfile_workdir_test.go`, `errors_test.go` and
//! `exclude_patterns_test.go`.

use super::super::fixture::{Env, context, out_dir};
use super::super::git_sources::git;
use super::{build_fails, build_out};

#[test]
fn mount_flag_key_and_type_typos_get_suggestions() {
    // testMountInvalid.
    for (dockerfile, says) in [
        (
            "FROM scratch\nRUN --mont=target=/mytmp,type=tmpfs /bin/true\n",
            &["unknown flag: --mont", "did you mean mount?"][..],
        ),
        (
            "FROM scratch\nRUN --mount=typ=tmpfs /bin/true\n",
            &["unexpected key 'typ'", "did you mean type?"],
        ),
        (
            "FROM scratch\nRUN --mount=type=tmp /bin/true\n",
            &["unsupported mount type \"tmp\"", "did you mean tmpfs?"],
        ),
    ] {
        for s in says {
            build_fails(dockerfile, s);
        }
    }
}

#[test]
fn nested_cache_mounts_in_parallel_stages() {
    // testCacheMountParallel (5 rounds where BuildKit runs 20).
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS b1\nRUN --mount=type=cache,target=/foo/bar --mount=type=cache,target=/foo/bar/baz echo 1\nFROM busybox AS b2\nRUN --mount=type=cache,target=/foo/bar --mount=type=cache,target=/foo/bar/baz echo 2\nFROM scratch\nCOPY --from=b1 /etc/passwd p1\nCOPY --from=b2 /etc/passwd p2\n",
    )]);
    for _ in 0..5 {
        env.build_ok(c.path(), &["--no-cache"]);
    }
}

#[test]
fn copy_parents_keeps_the_source_path() {
    // testCopyParents.
    let (_t, out) = build_out(
        "FROM scratch\nCOPY --parents foo1/foo2/bar /\nWORKDIR /test\nCOPY --parents foo1/foo2/ba* .\n",
        &[("foo1/foo2/bar", "testing"), ("foo1/foo2/baz", "testing2")],
        &[],
    );
    let read =
        |p: &str| std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("foo1/foo2/bar"), "testing");
    assert_eq!(read("test/foo1/foo2/bar"), "testing");
    assert_eq!(read("test/foo1/foo2/baz"), "testing2");
}

#[test]
fn copy_parents_of_missing_and_pivoted_paths() {
    // testCopyParentsMissingDirectory.
    let dockerfile = r#"
FROM busybox AS base
WORKDIR /test
RUN <<eot
	set -ex
	mkdir -p a/b/c/d/e
	touch a/b/c/d/foo
	touch a/b/c/d/e/bay
eot
FROM busybox AS normal
COPY --from=base --parents /test/a/b/c/d /out/
RUN <<eot
	set -ex
	[ -d /out/test/a/b/c/d/e ]
	[ -f /out/test/a/b/c/d/e/bay ]
	[ ! -d /out/e ]
	[ ! -d /out/a ]
eot
FROM busybox AS withpivot
COPY --from=base --parents /test/a/b/./c/d /out/
RUN <<eot
	set -ex
	[ -d /out/c/d/e ]
	[ -f /out/c/d/foo ]
	[ ! -d /out/a ]
	[ ! -d /out/e ]
eot
FROM busybox AS nonexistentfile
COPY --from=base --parents /test/nonexistent-file /out/
FROM busybox AS wildcard-nonexistent
COPY --from=base --parents /test/a/b2*/c /out/
RUN <<eot
	set -ex
	[ -d /out ]
	[ ! -d /out/a ]
eot
FROM busybox AS wildcard-afterpivot
COPY --from=base --parents /test/a/b/./c2* /out/
RUN <<eot
	set -ex
	[ -d /out ]
	[ ! -d /out/a ]
	[ ! -d /out/c* ]
eot
"#;
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile)]);
    let mut wrong = Vec::new();
    for (target, fails_with) in [
        ("normal", None),
        ("withpivot", None),
        (
            "nonexistentfile",
            Some("\"/test/nonexistent-file\": not found"),
        ),
        ("wildcard-nonexistent", None),
        ("wildcard-afterpivot", None),
    ] {
        let b = env.build(c.path(), &["--target", target]);
        match fails_with {
            None if !b.success => wrong.push(format!("{target}: {}", b.stderr)),
            Some(says) if b.success || !b.stderr.contains(says) => {
                wrong.push(format!("{target}: want {says:?}: {}", b.stderr))
            }
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn workdir_with_source_date_epoch_is_reproducible_across_stores() {
    // testWorkdirSourceDateEpochReproducible (a fresh store stands for BuildKit's prune).
    let index = || {
        let env = Env::new();
        let c = context(&[("Dockerfile", "FROM busybox\nWORKDIR /mydir\n")]);
        let dir = tempfile::tempdir().expect("tmp");
        let dest = format!(
            "--output=type=oci,tar=false,dest={}",
            dir.path().join("l").display()
        );
        env.build_ok(
            c.path(),
            &["--build-arg", "SOURCE_DATE_EPOCH=1673364896", &dest],
        );
        std::fs::read(dir.path().join("l/index.json")).expect("index.json")
    };
    let first = index();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(index(), first);
}

#[test]
fn errors_point_at_their_dockerfile_lines() {
    // testErrorsSourceMap: the error names the Dockerfile and the line(s) it comes from.
    let env = Env::new();
    let mut wrong = Vec::new();
    for (name, dockerfile, lines) in [
        ("invalidenv", "from busybox\nenv", &[2][..]),
        // BuildKit's `#syntax=foobar` names an image on docker.io; tests reach only loopback,
        // so the frontend image is one on a loopback port nothing listens on.
        (
            "invalidsyntax",
            "#syntax=127.0.0.1:9/foobar\nfrom busybox",
            &[1],
        ),
        ("invalidrun", "from scratch\nenv foo=bar\nrun what", &[3]),
        (
            "invalidcopy",
            "from scratch\nenv foo=bar\ncopy foo bar\nenv bar=baz",
            &[3],
        ),
        (
            "invalidflag",
            "from scratch\nenv foo=bar\ncopy --foo=bar / /\nenv bar=baz",
            &[3],
        ),
        (
            "invalidcopyfrom",
            "from scratch\nenv foo=bar\ncopy --from=invalid foo bar\nenv bar=baz",
            &[3],
        ),
        (
            "invalidmultiline",
            "from scratch\nrun wh\\\nat\nenv bar=baz",
            &[2, 3],
        ),
    ] {
        let c = context(&[("Dockerfile", dockerfile)]);
        let b = env.build(c.path(), &[]);
        if b.success {
            wrong.push(format!("{name}: built"));
            continue;
        }
        let first = lines[0];
        let shown = |l: usize| {
            let text = dockerfile.lines().nth(l - 1).unwrap_or_default();
            b.stderr.contains(&format!("{l:>4} | {text}"))
                || b.stderr.contains(&format!("{l} | {text}"))
        };
        if !b.stderr.contains(&format!("Dockerfile:{first}")) || !lines.iter().all(|l| shown(*l)) {
            wrong.push(format!("{name}: lines {lines:?} not shown in {}", b.stderr));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// The context of testExcludedFilesOnCopy.
fn exclude_context(dockerfile: &str) -> tempfile::TempDir {
    let c = context(&[
        ("Dockerfile", dockerfile),
        ("dir1/file-101.png", "2"),
        ("dir1/file-102.txt", "3"),
        ("dir1/file-103.jpeg", "4"),
        ("dir2/file-201.pdf", "6"),
        ("dir2/file-202.jpeg", "7"),
        ("dir2/file-203.png", "8"),
        ("dir3/file-301.mp3", "9"),
        ("dir3/file-302.mpeg", "10"),
        ("dir4/file-401.txt", "11"),
    ]);
    std::os::unix::fs::symlink("file-401.txt", c.path().join("dir4/file-402.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink("file-404.txt", c.path().join("dir4/file-403.txt"))
        .expect("symlink");
    c
}

/// testExcludedFilesOnCopy's checks on a built tree: `None` = excluded.
fn check_excluded(out: &std::path::Path) {
    let cases: &[(&str, Option<&str>)] = &[
        ("builder1/1/dir1/file-101.png", None),
        ("builder1/1/dir1/file-102.txt", Some("3")),
        ("builder1/1/dir1/file-103.jpeg", None),
        ("builder1/1/dir2/file-201.pdf", Some("6")),
        ("builder1/1/dir2/file-202.jpeg", None),
        ("builder1/1/dir2/file-203.png", None),
        ("builder1/1/dir3/file-301.mp3", Some("9")),
        ("builder1/1/dir3/file-302.mpeg", Some("10")),
        ("builder1/1/dir4/file-401.txt", Some("11")),
        ("builder1/1/dir4/file-402.txt", Some("file-401.txt")),
        ("builder1/1/dir4/file-403.txt", Some("file-404.txt")),
        ("builder2/2/dir1/file-101.png", Some("2")),
        ("builder2/2/dir1/file-102.txt", None),
        ("builder2/2/dir1/file-103.jpeg", Some("4")),
        ("builder2/2/dir2/file-201.pdf", None),
        ("builder2/2/dir2/file-202.jpeg", Some("7")),
        ("builder2/2/dir2/file-203.png", Some("8")),
        ("builder2/2/dir3/file-301.mp3", Some("9")),
        ("builder2/2/dir3/file-302.mpeg", Some("10")),
        ("builder2/2/dir4/file-401.txt", None),
        ("builder2/2/dir4/file-402.txt", None),
        ("builder2/2/dir4/file-403.txt", None),
        ("builder3/3/file-301.mp3", None),
        ("builder3/3/file-302.mpeg", Some("10")),
        ("builder4/4/file-101.png", None),
        ("builder4/4/file-102.txt", None),
        ("builder4/4/file-103.jpeg", None),
        ("builder4/4/file-201.pdf", None),
        ("builder4/4/file-202.jpeg", None),
        ("builder4/4/file-203.png", None),
        ("builder4/4/file-301.mp3", None),
        ("builder4/4/file-302.mpeg", Some("10")),
        ("builder4/4/dir4/file-401.txt", None),
        ("builder4/4/dir4/file-402.txt", None),
        ("builder4/4/dir4/file-403.txt", None),
        ("builder5/5/file-101.png", None),
        ("builder5/5/file-102.txt", Some("3")),
        ("builder5/5/file-103.jpeg", None),
        ("builder5/5/file-201.pdf", None),
        ("builder5/5/file-202.jpeg", None),
        ("builder5/5/file-203.png", None),
        ("builder5/5/file-301.mp3", None),
        ("builder5/5/file-302.mpeg", None),
        ("builder5/5/file-401.txt", Some("11")),
        ("builder5/5/file-402.txt", Some("file-401.txt")),
        ("builder5/5/file-403.txt", Some("file-404.txt")),
    ];
    let mut wrong = Vec::new();
    for (name, want) in cases {
        let p = out.join(name);
        let got = match std::fs::symlink_metadata(&p) {
            Err(_) => None,
            Ok(m) if m.file_type().is_symlink() => Some(
                std::fs::read_link(&p)
                    .expect("readlink")
                    .display()
                    .to_string(),
            ),
            Ok(_) => Some(std::fs::read_to_string(&p).expect("read")),
        };
        if got.as_deref() != *want {
            wrong.push(format!("{name}: {got:?}, BuildKit gives {want:?}"));
        }
    }
    let six = std::fs::read_dir(out.join("builder6/6"))
        .map(|d| d.count())
        .unwrap_or(0);
    if six != 0 {
        wrong.push(format!("builder6/6 holds {six} entries"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const FINAL_STAGE: &str = "FROM scratch
COPY --from=builder1 / /builder1
COPY --from=builder2 / /builder2
COPY --from=builder3 / /builder3
COPY --from=builder4 / /builder4
COPY --from=builder5 / /builder5
COPY --from=builder6 / /builder6
";

#[test]
fn copy_exclude_from_the_context_and_from_a_git_checkout() {
    // testExcludedFilesOnCopy: from a plain directory, then from a git repository.
    let env = Env::new();
    let dockerfile = format!(
        "FROM scratch as builder1\nCOPY --exclude=*/*.png --exclude=*/*.jpeg . /1\nFROM scratch as builder2\nCOPY --exclude=*/*.pdf --exclude=*/*.txt . /2\nFROM scratch as builder3\nADD --exclude=*.mp3 dir3/ /3/\nFROM scratch as builder4\nCOPY --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/\nFROM scratch as builder5\nADD --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5\nFROM scratch as builder6\nADD --exclude=* dir* /6\n{FINAL_STAGE}"
    );
    let c = exclude_context(&dockerfile);
    std::fs::remove_file(c.path().join("Dockerfile")).expect("rm");
    let df = tempfile::tempdir().expect("tmp");
    std::fs::write(df.path().join("Dockerfile"), &dockerfile).expect("write");
    let (_t, out) = out_dir();
    let file = df.path().join("Dockerfile").display().to_string();
    env.build_ok(
        c.path(),
        &[
            "-f",
            &file,
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    check_excluded(&out);

    let repo = exclude_context("");
    std::fs::remove_file(repo.path().join("Dockerfile")).expect("rm");
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "0.1"]);
    git(repo.path(), &["tag", "0.1"]);
    git(repo.path(), &["update-server-info"]);
    let url = super::git::serve_dir(repo.path());
    let dockerfile = format!(
        "FROM scratch AS base\nARG REPO=\"{url}/.git\"\nARG TAG=\"0.1\"\nADD --keep-git-dir=true ${{REPO}}#${{TAG}} /\nFROM scratch as builder1\nCOPY --from=base --exclude=*/*.png --exclude=*/*.jpeg . /1\nFROM scratch as builder2\nCOPY --from=base --exclude=*/*.pdf --exclude=*/*.txt . /2\nFROM scratch as builder3\nCOPY --from=base --exclude=*.mp3 dir3/ /3/\nFROM scratch as builder4\nCOPY --from=base --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/\nFROM scratch as builder5\nCOPY --from=base --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5\nFROM scratch as builder6\nCOPY --from=base --exclude=* dir* /6\n{FINAL_STAGE}"
    );
    let c = context(&[("Dockerfile", &dockerfile)]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    check_excluded(&out);
}

//! BuildKit's `dockerfile_copy_test.go` (the cases not in `mod.rs`): wildcards, symlinks,
//! ownership, modes, the cache of a wildcard COPY, and named local contexts.

use super::super::fixture::{Env, context, out_dir};
use super::{build_fails, build_out, build_passes};

/// Read `name` under `out`.
fn read(out: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Write a context with `files`, then add each `(link, target)` symlink.
fn context_with_links(files: &[(&str, &str)], links: &[(&str, &str)]) -> tempfile::TempDir {
    let c = context(files);
    for (link, target) in links {
        if let Some(parent) = c.path().join(link).parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(target, c.path().join(link)).expect("symlink");
    }
    c
}

/// Build the context `c` to a local directory.
fn build_dir(c: &tempfile::TempDir, args: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let env = Env::new();
    let (t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    let mut flags = args.to_vec();
    flags.push(&dest);
    env.build_ok(c.path(), &flags);
    (t, out)
}

#[test]
fn copy_from_a_variable_is_refused() {
    // testDockerfileCopyFromArgs.
    build_fails(
        "FROM scratch\nCOPY --from=$FOO . .\n",
        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
    );
}

#[test]
fn copy_link_to_dot_lands_in_the_workdir() {
    // testCopyLinkDotDestDir.
    build_passes(
        "FROM busybox\nWORKDIR /var/www\nCOPY --link testfile .\nRUN [ \"$(cat testfile)\" == \"contents0\" ]\n",
        &[("testfile", "contents0")],
    );
}

#[test]
fn copy_keeps_owners_into_new_dirs_and_leaves_existing_ones() {
    // testCopyChownExistingDir: both targets, the Dockerfile reached through a symlink.
    let check = |e: &str, p: &str| {
        format!(
            "e=\"{e}\"; p=\"{p}\"; a=`stat -c \"%u:%g\" \"$p\"`; if [ \"$a\" != \"$e\" ]; then echo \"incorrect ownership on $p. expected $e, got $a\"; exit 1; fi"
        )
    };
    let checks = |new: &[(&str, &str)]| {
        let mut all: Vec<String> = new.iter().map(|(e, p)| check(e, p)).collect();
        for (e, p) in [
            ("500:600", "/existingdir"),
            ("501:601", "/existingdir/existingsubdir"),
            ("501:601", "/existingdir/existingfile"),
        ] {
            all.push(check(e, p));
        }
        format!("RUN {}\n", all.join(" \\\n && "))
    };
    let dockerfile = format!(
        r#"
FROM busybox AS source
RUN touch /file && chown 100:200 /file \
 && mkdir -p /dir/subdir \
 && touch /dir/subdir/nestedfile \
 && chown 100:200 /dir \
 && chown 101:201 /dir/subdir \
 && chown 102:202 /dir/subdir/nestedfile
FROM busybox AS test_base
RUN mkdir -p /existingdir/existingsubdir \
 && touch /existingdir/existingfile \
 && chown 500:600 /existingdir \
 && chown 501:601 /existingdir/existingsubdir \
 && chown 501:601 /existingdir/existingfile
FROM test_base AS copy_from
COPY --from=source /file .
COPY --from=source /dir /dir
COPY --from=source /dir/. /existingdir
{}
FROM test_base AS copy_from_chowned
COPY --from=source --chown=300:400 /file .
COPY --from=source --chown=300:400 /dir /dir
COPY --from=source --chown=300:400 /dir/. /existingdir
{}"#,
        checks(&[
            ("100:200", "/file"),
            ("0:0", "/dir"),
            ("101:201", "/dir/subdir"),
            ("102:202", "/dir/subdir/nestedfile"),
            ("101:201", "/existingdir/subdir"),
            ("102:202", "/existingdir/subdir/nestedfile"),
        ]),
        checks(&[
            ("300:400", "/file"),
            ("300:400", "/dir"),
            ("300:400", "/dir/subdir"),
            ("300:400", "/dir/subdir/nestedfile"),
            ("300:400", "/existingdir/subdir"),
            ("300:400", "/existingdir/subdir/nestedfile"),
        ]),
    );
    let c = context_with_links(
        &[("Dockerfile.web", &dockerfile)],
        &[("Dockerfile", "Dockerfile.web")],
    );
    let env = Env::new();
    for target in ["copy_from", "copy_from_chowned"] {
        env.build_ok(c.path(), &["--target", target]);
    }
}

#[test]
fn a_wildcard_copy_is_keyed_on_the_files_it_matches() {
    // testCopyWildcardCache.
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            r#"
FROM busybox AS base
COPY foo* files/
RUN cat /dev/urandom | head -c 100 | sha256sum > unique
COPY bar files/
FROM scratch
COPY --from=base unique /
"#,
        ),
        ("foo1", "foo1-data"),
        ("foo2", "foo2-data"),
        ("bar", "bar-data"),
    ]);
    let unique = || {
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        env.build_ok(c.path(), &[&dest]);
        read(&out, "unique")
    };
    let first = unique();
    std::fs::write(c.path().join("bar"), "bar-data-mod").expect("write");
    assert_eq!(unique(), first, "a change outside foo* re-ran the RUN");
    std::fs::write(c.path().join("foo2"), "foo2-data-mod").expect("write");
    assert_ne!(unique(), first, "a change of foo2 did not re-run the RUN");
}

#[test]
fn a_wildcard_matching_nothing_next_to_a_file_copies_the_file() {
    // testEmptyWildcard.
    let (_t, out) = build_out(
        "FROM scratch\nCOPY foo nomatch* /\n",
        &[("foo", "contents0")],
        &[],
    );
    assert_eq!(read(&out, "foo"), "contents0");
}

#[test]
fn copy_follows_symlinks_in_the_source_path() {
    // testCopyThroughSymlinkContext, testCopyThroughSymlinkMultiStage, testCopyFollowAllSymlinks.
    let c = context_with_links(
        &[
            ("Dockerfile", "FROM scratch\nCOPY link/foo .\n"),
            ("sub/foo", "contents"),
        ],
        &[("link", "sub")],
    );
    let (_t, out) = build_dir(&c, &[]);
    assert_eq!(read(&out, "foo"), "contents");

    let (_t, out) = build_out(
        "FROM busybox AS build\nRUN mkdir -p /out/sub && ln -s /out/sub /sub && ln -s out/sub /sub2 && echo -n \"data\" > /sub/foo\nFROM scratch\nCOPY --from=build /sub/foo .\nCOPY --from=build /sub2/foo bar\n",
        &[],
        &[],
    );
    assert_eq!(read(&out, "foo"), "data");
    assert_eq!(read(&out, "bar"), "data");

    let c = context_with_links(
        &[
            ("Dockerfile", "FROM scratch\nCOPY foo /\nCOPY foo/sub bar\n"),
            ("bar", "bar-contents"),
        ],
        &[("foo/sub", "../bar")],
    );
    let (_t, out) = build_dir(&c, &[]);
    assert_eq!(read(&out, "bar"), "bar-contents");
}

#[test]
fn copy_of_symlinks_by_name_and_by_wildcard_follows_them() {
    // testCopySymlinks.
    let c = context_with_links(
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY foo /\nCOPY sub/l* alllinks/\n",
            ),
            ("bar", "bar-contents"),
            ("sub/lfile", "lfile-contents"),
            ("sub/subfile", "subfile-contents"),
            ("sub/baz", "baz-contents"),
        ],
        &[
            ("foo", "bar"),
            ("sub/l0", "subfile"),
            ("sub/l1", "second"),
            ("sub/second", "baz"),
        ],
    );
    let (_t, out) = build_dir(&c, &[]);
    assert_eq!(read(&out, "foo"), "bar-contents");
    assert_eq!(read(&out, "alllinks/l0"), "subfile-contents");
    assert_eq!(read(&out, "alllinks/lfile"), "lfile-contents");
    assert_eq!(read(&out, "alllinks/l1"), "baz-contents");
}

#[test]
fn copy_chown_by_name_id_and_variable() {
    // testCopyChown (busybox-static's base has no `daemon` user or `nobody` group: added).
    let (_t, out) = build_out(
        r#"
FROM busybox AS base
RUN echo 'daemon:x:1:1:daemon:/usr/sbin:/bin/false' >> /etc/passwd && echo 'daemon:x:1:' >> /etc/group && echo 'nobody:x:65533:' >> /etc/group
ENV owner 1000
RUN mkdir -m 0777 /out
COPY --chown=daemon foo /
COPY --chown=1000:nobody bar /baz
ARG group
COPY --chown=${owner}:${group} foo /foobis
RUN stat -c "%U %G" /foo  > /out/fooowner
RUN stat -c "%u %G" /baz/sub  > /out/subowner
RUN stat -c "%u %G" /foobis  > /out/foobisowner
FROM scratch
COPY --from=base /out /
"#,
        &[("foo", "foo-contents"), ("bar/sub", "")],
        &["--build-arg", "group=nobody"],
    );
    assert_eq!(read(&out, "fooowner"), "daemon daemon\n");
    assert_eq!(read(&out, "subowner"), "1000 nobody\n");
    assert_eq!(read(&out, "foobisowner"), "1000 nobody\n");
}

#[test]
fn copy_chmod_out_of_range_is_refused() {
    // testCopyInvalidChmod.
    for bad in ["64a", "10000"] {
        let env = Env::new();
        let c = context(&[
            (
                "Dockerfile",
                &format!("FROM scratch\nCOPY --chmod={bad} foo /\n"),
            ),
            ("foo", "foo-contents"),
        ]);
        let b = env.build(c.path(), &[]);
        assert!(!b.success, "--chmod={bad} built");
        let says = format!(
            "invalid chmod parameter: '{bad}'. it should be octal string and between 0 and 07777"
        );
        assert!(b.stderr.contains(&says), "{says:?} not in {}", b.stderr);
    }
}

#[test]
fn copy_wildcards_and_directory_forms() {
    // testCopyWildcards.
    let (_t, out) = build_out(
        r#"
FROM scratch AS base
COPY *.go /gofiles/
COPY f*.go foo2.go
COPY sub/* /subdest/
COPY sub/*/dir2/foo /subdest2/
COPY sub/*/dir2/foo /subdest3/bar
COPY . all/
COPY sub/dir1/ subdest4
COPY sub/dir1/. subdest5
COPY sub/dir1 subdest6
"#,
        &[
            ("foo.go", "foo-contents"),
            ("bar.go", "bar-contents"),
            ("sub/dir1/dir2/foo", "foo-contents"),
        ],
        &[],
    );
    for (path, want) in [
        ("gofiles/foo.go", "foo-contents"),
        ("gofiles/bar.go", "bar-contents"),
        ("foo2.go", "foo-contents"),
        ("subdest/dir2/foo", "foo-contents"),
        ("subdest2/foo", "foo-contents"),
        ("subdest3/bar", "foo-contents"),
        ("all/foo.go", "foo-contents"),
        ("subdest4/dir2/foo", "foo-contents"),
        ("subdest5/dir2/foo", "foo-contents"),
        ("subdest6/dir2/foo", "foo-contents"),
    ] {
        assert_eq!(read(&out, path), want, "{path}");
    }
}

#[test]
fn copy_of_unicode_and_percent_encoded_names() {
    // testCopyUnicodePath.
    let (_t, out) = build_out(
        "FROM busybox\nCOPY test-äöü.txt /\nCOPY test-%C3%A4%C3%B6%C3%BC.txt /\nCOPY test+aou.txt /\n",
        &[
            ("test-äöü.txt", "foo"),
            ("test-%C3%A4%C3%B6%C3%BC.txt", "bar"),
            ("test+aou.txt", "baz"),
        ],
        &[],
    );
    assert_eq!(read(&out, "test-äöü.txt"), "foo");
    assert_eq!(read(&out, "test-%C3%A4%C3%B6%C3%BC.txt"), "bar");
    assert_eq!(read(&out, "test+aou.txt"), "baz");
}

#[test]
fn copy_chmod_takes_symbolic_modes() {
    // testChmodNonOctal: each mode applied by COPY --chmod equals chmod's.
    let cases = [
        ("file", "f1", "go-w", false),
        ("file", "f2", "u=rw,g=r,o=r", false),
        ("file", "f3", "a+X", false),
        ("dir", "d1", "go-w", true),
        ("dir", "d2", "u+rw,g+r,o-x,o+w", true),
        ("dir", "d3", "a+X", true),
    ];
    let (mut expected, mut copies, mut verify) = (String::new(), String::new(), String::new());
    for (src, dst, mode, is_dir) in cases {
        if is_dir {
            expected += &format!(
                "RUN mkdir -p /input/dirs/{dst} && cp -a /input/{src} /input/dirs/{dst}/{dst}\n\
                 RUN cp -a /input/dirs/{dst}/. /expected/ && chmod {mode} /expected/{dst}\n"
            );
            copies += &format!("COPY --from=base --chmod={mode} /input/dirs/{dst} /\n");
        } else {
            expected += &format!(
                "RUN cp -a /input/{src} /expected/{dst} && chmod {mode} /expected/{dst}\n"
            );
            copies += &format!("COPY --from=base --chmod={mode} /input/{src} /{dst}\n");
        }
        verify += &format!(
            "RUN [ \"$(stat -c %A /actual/{dst})\" = \"$(stat -c %A /expected/{dst})\" ]\n"
        );
    }
    build_passes(
        &format!(
            "FROM busybox as base\nRUN <<eot\n\tset -ex\n\tmkdir /input\n\ttouch /input/file\n\tchmod 666 /input/file\n\tmkdir /input/dir\n\tchmod 124 /input/dir\n\tmkdir /expected\neot\n{expected}\nFROM scratch as result\n{copies}\nFROM base\nCOPY --from=result / /actual/\n{verify}"
        ),
        &[],
    );
}

#[test]
fn a_named_local_context_is_read_like_the_main_one() {
    // testLocalCustomSessionID (a second local directory given as `context:base`).
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM scratch AS base\nFROM scratch\nCOPY out /out1\nCOPY --from=base /another /out2\n",
        ),
        ("out", "contents1"),
    ]);
    let base = context(&[("another", "contents2")]);
    let (_t, out) = out_dir();
    let named = format!("base={}", base.path().display());
    let dest = format!("--output=type=local,dest={}", out.display());
    env.build_ok(c.path(), &["--build-context", &named, &dest]);
    assert_eq!(read(&out, "out1"), "contents1");
    assert_eq!(read(&out, "out2"), "contents2");
}

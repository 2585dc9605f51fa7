//! BuildKit's own integration tests (`frontend/dockerfile/dockerfile*_test.go`) that run
//! offline on busybox, ported: the Dockerfile and the checks as BuildKit wrote them (alpine
//! → the test's busybox), each target stage built by cairn. Where a BuildKit test checks from
//! inside the build (`RUN [ -f ... ]`), a passing build is the check.

mod add;
mod args_cmd;
mod cache;
mod check;
mod copy;
mod core;
mod git;
mod history;
mod image_export;
mod misc;
mod namedcontext;
mod onbuild;
mod run_options;

use super::fixture::{Env, context, out_dir};

/// Build each of `targets` of `dockerfile`; every one must succeed.
pub(super) fn build_targets(dockerfile: &str, targets: &[&str]) {
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile)]);
    let mut failed = Vec::new();
    for t in targets {
        let b = env.build(c.path(), &["--target", t]);
        if !b.success {
            failed.push(format!(
                "{t}: {}",
                b.stderr
                    .lines()
                    .rev()
                    .take(8)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Build `dockerfile` with context `files` and flags `args` to a local directory.
pub(super) fn build_out(
    dockerfile: &str,
    files: &[(&str, &str)],
    args: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let mut all = vec![("Dockerfile", dockerfile)];
    all.extend_from_slice(files);
    build_out_of(&all, args)
}

/// Like [`build_out`], with the Dockerfile among `files`.
pub(super) fn build_out_of(
    files: &[(&str, &str)],
    args: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let env = Env::new();
    let c = context(files);
    let (t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    let mut flags = args.to_vec();
    flags.push(&dest);
    env.build_ok(c.path(), &flags);
    (t, out)
}

/// Build `dockerfile` to a local directory; every file of `want` must hold its content.
pub(super) fn build_expecting(dockerfile: &str, want: &[(&str, &str)]) {
    let (_t, out) = build_out(dockerfile, &[], &[]);
    let mut wrong = Vec::new();
    for (name, content) in want {
        match std::fs::read_to_string(out.join(name)) {
            Ok(got) if got == *content => {}
            Ok(got) => wrong.push(format!("{name}: {got:?}, BuildKit gives {content:?}")),
            Err(e) => wrong.push(format!("{name}: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn copy_heredoc() {
    // testCopyHeredoc (Debian's busybox-static has no `adduser`: the user is added by hand).
    build_expecting(
        r#"
FROM busybox AS build
RUN echo 'user:x:1001:1001::/home/user:/bin/sh' >> /etc/passwd && echo 'user:x:1001:' >> /etc/group
WORKDIR /dest
COPY <<EOF single
single file
EOF
COPY <<EOF <<EOF2 double/
first file
EOF
second file
EOF2
RUN mkdir -p /permfiles
COPY --chmod=777 <<EOF /permfiles/all
dummy content
EOF
COPY --chmod=0644 <<EOF /permfiles/rw
dummy content
EOF
COPY --chown=user:user <<EOF /permfiles/owned
dummy content
EOF
RUN stat -c "%04a" /permfiles/all >> perms && \
	stat -c "%04a" /permfiles/rw >> perms && \
	stat -c "%U:%G" /permfiles/owned >> perms
FROM scratch
COPY --from=build /dest /
"#,
        &[
            ("single", "single file\n"),
            ("double/EOF", "first file\n"),
            ("double/EOF2", "second file\n"),
            ("perms", "0777\n0644\nuser:user\n"),
        ],
    );
}

#[test]
fn copy_heredoc_special_symbols() {
    // testCopyHeredocSpecialSymbols.
    build_expecting(
        r#"
FROM scratch

COPY <<EOF quotefile
"quotes in file"
EOF

COPY <<EOF slashfile1
\
EOF
COPY <<EOF slashfile2
\\
EOF
COPY <<EOF slashfile3
\$
EOF

COPY <<"EOF" rawslashfile1
\
EOF
COPY <<"EOF" rawslashfile2
\\
EOF
COPY <<"EOF" rawslashfile3
\$
EOF
"#,
        &[
            ("quotefile", "\"quotes in file\"\n"),
            ("slashfile1", "\n"),
            ("slashfile2", "\\\n"),
            ("slashfile3", "$\n"),
            ("rawslashfile1", "\\\n"),
            ("rawslashfile2", "\\\\\n"),
            ("rawslashfile3", "\\$\n"),
        ],
    );
}

#[test]
fn run_heredocs_basic_fake_shebang_complex() {
    // testRunBasicHeredoc, testRunFakeHeredoc, testRunShebangHeredoc, testRunComplexHeredoc.
    build_expecting(
        r#"
FROM busybox AS build
RUN <<EOF
echo "i am" >> /dest
whoami >> /dest
EOF
FROM scratch
COPY --from=build /dest /dest
"#,
        &[("dest", "i am\nroot\n")],
    );
    build_expecting(
        r#"
FROM busybox AS build
SHELL ["/bin/awk"]
RUN <<EOF
BEGIN {
	print "foo" > "/dest"
}
EOF
FROM scratch
COPY --from=build /dest /dest
"#,
        &[("dest", "foo\n")],
    );
    build_expecting(
        r#"
FROM busybox AS build

WORKDIR /dest

RUN <<EOF
#!/bin/awk -f
BEGIN {
	print "hello" >> "./out1"
	print "world" >> "./out1"
}
EOF

RUN <<-EOF
	#!/bin/awk -f
	BEGIN {
		print "hello" >> "./out2"
		print "world" >> "./out2"
	}
EOF

FROM scratch
COPY --from=build /dest /
"#,
        &[("out1", "hello\nworld\n"), ("out2", "hello\nworld\n")],
    );
    build_expecting(
        r#"
FROM busybox AS build

WORKDIR /dest

RUN cat <<EOF1 | tr '[:upper:]' '[:lower:]' > ./out1; \
	cat <<EOF2 | tr '[:lower:]' '[:upper:]' > ./out2
hello WORLD
EOF1
HELLO world
EOF2

RUN <<EOF 3<<IN1 4<<IN2 awk -f -
BEGIN {
	while ((getline line < "/proc/self/fd/3") > 0)
		print tolower(line) > "./fd3"
	while ((getline line < "/proc/self/fd/4") > 0)
		print toupper(line) > "./fd4"
}
EOF
hello WORLD
IN1
HELLO world
IN2

FROM scratch
COPY --from=build /dest /
"#,
        &[
            ("out1", "hello world\n"),
            ("out2", "HELLO WORLD\n"),
            ("fd3", "hello world\n"),
            ("fd4", "HELLO WORLD\n"),
        ],
    );
}

#[test]
fn heredoc_indent() {
    // testHeredocIndent.
    build_expecting(
        r#"
FROM busybox AS build

COPY <<EOF /dest/foo-copy
	foo
EOF

COPY <<-EOF /dest/bar-copy
	bar
EOF

RUN <<EOF
echo "
	foo" > /dest/foo-run
EOF

RUN <<-EOF
echo "
	bar" > /dest/bar-run
EOF

RUN <<EOF
#!/bin/sh
echo "
	foo" > /dest/foo2-run
EOF

RUN <<-EOF
#!/bin/sh
echo "
	bar" > /dest/bar2-run
EOF

RUN <<EOF sh > /dest/foo3-run
echo "
	foo"
EOF

RUN <<-EOF sh > /dest/bar3-run
echo "
	bar"
EOF

FROM scratch
COPY --from=build /dest /
"#,
        &[
            ("foo-copy", "\tfoo\n"),
            ("foo-run", "\n\tfoo\n"),
            ("foo2-run", "\n\tfoo\n"),
            ("foo3-run", "\n\tfoo\n"),
            ("bar-copy", "bar\n"),
            ("bar-run", "\nbar\n"),
            ("bar2-run", "\nbar\n"),
            ("bar3-run", "\nbar\n"),
        ],
    );
}

#[test]
fn heredoc_var_substitution() {
    // testHeredocVarSubstitution.
    build_expecting(
        r#"
FROM busybox as build

ARG name=world

COPY <<EOF /dest/c1
Hello ${name}!
EOF
COPY <<'EOF' /dest/c2
Hello ${name}!
EOF
COPY <<"EOF" /dest/c3
Hello ${name}!
EOF

COPY <<EOF /dest/q1
Hello '${name}'!
EOF
COPY <<EOF /dest/q2
Hello "${name}"!
EOF
COPY <<'EOF' /dest/qsingle1
Hello '${name}'!
EOF
COPY <<'EOF' /dest/qsingle2
Hello "${name}"!
EOF
COPY <<"EOF" /dest/qdouble1
Hello '${name}'!
EOF
COPY <<"EOF" /dest/qdouble2
Hello "${name}"!
EOF

RUN <<EOF
greeting="Hello"
echo "${greeting} ${name}!" > /dest/r1
EOF
RUN <<EOF
name="new world"
echo "Hello ${name}!" > /dest/r2
EOF

FROM scratch
COPY --from=build /dest /
"#,
        &[
            ("c1", "Hello world!\n"),
            ("c2", "Hello ${name}!\n"),
            ("c3", "Hello ${name}!\n"),
            ("q1", "Hello 'world'!\n"),
            ("q2", "Hello \"world\"!\n"),
            ("qsingle1", "Hello '${name}'!\n"),
            ("qsingle2", "Hello \"${name}\"!\n"),
            ("qdouble1", "Hello '${name}'!\n"),
            ("qdouble2", "Hello \"${name}\"!\n"),
            ("r1", "Hello world!\n"),
            ("r2", "Hello new world!\n"),
        ],
    );
}

#[test]
fn copy_relative_parents() {
    // testCopyRelativeParents.
    build_targets(
        r#"
FROM busybox AS base
WORKDIR /test
RUN <<eot
	set -ex
	mkdir -p a/b/c/d/e
	mkdir -p a/b2/c/d/e
	mkdir -p a/b/c2/d/e
	mkdir -p a/b/c2/d/e2
	touch a/b/c/d/foo
	touch a/b/c/d/e/bay
	touch a/b2/c/d/e/bar
	touch a/b/c2/d/e/baz
	touch a/b/c2/d/e2/baz
eot
FROM busybox AS middle
COPY --from=base --parents /test/a/b/./c/d /out/
RUN <<eot
	set -ex
	[ -d /out/c/d/e ]
	[ -f /out/c/d/foo ]
	[ ! -d /out/a ]
	[ ! -d /out/e ]
eot
FROM busybox AS end
COPY --from=base --parents /test/a/b/c/d/. /out/
RUN <<eot
	set -ex
	[ -d /out/test/a/b/c/d/e ]
	[ -f /out/test/a/b/c/d/foo ]
eot
FROM busybox AS start
COPY --from=base --parents ./test/a/b/c/d /out/
RUN <<eot
	set -ex
	[ -d /out/test/a/b/c/d/e ]
	[ -f /out/test/a/b/c/d/foo ]
eot
FROM busybox AS double
COPY --from=base --parents /test/a/./b/./c /out/
RUN <<eot
	set -ex
	[ -d /out/b/c/d/e ]
	[ -f /out/b/c/d/foo ]
eot
FROM busybox AS wildcard
COPY --from=base --parents /test/a/./*/c /out/
RUN <<eot
	set -ex
	[ -d /out/b/c/d/e ]
	[ -f /out/b2/c/d/e/bar ]
eot
FROM busybox AS doublewildcard
COPY --from=base --parents /test/a/b*/./c/**/e /out/
RUN <<eot
	set -ex
	[ -d /out/c/d/e ]
	[ -f /out/c/d/e/bay ] # via b
	[ -f /out/c/d/e/bar ] # via b2
eot
FROM busybox AS doubleinputs
COPY --from=base --parents /test/a/b/c*/./d/**/baz /test/a/b*/./c/**/bar /out/
RUN <<eot
	set -ex
	[ -f /out/d/e/baz ]
	[ ! -f /out/d/e/bay ]
	[ -f /out/d/e2/baz ]
	[ -f /out/c/d/e/bar ] # via b2
eot
"#,
        &[
            "middle",
            "end",
            "start",
            "double",
            "wildcard",
            "doublewildcard",
            "doubleinputs",
        ],
    );
}

/// Build `dockerfile` with context `files`; it must succeed (the checks run inside it).
pub(super) fn build_passes(dockerfile: &str, files: &[(&str, &str)]) {
    let env = Env::new();
    let mut all = vec![("Dockerfile", dockerfile)];
    all.extend_from_slice(files);
    let c = context(&all);
    env.build_ok(c.path(), &[]);
}

/// Build `dockerfile`; it must fail, saying `says`.
pub(super) fn build_fails(dockerfile: &str, says: &str) {
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile)]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success, "built, but BuildKit refuses it");
    assert!(b.stderr.contains(says), "{says:?} not in {}", b.stderr);
}

#[test]
fn mounts_context_tmpfs_cache_user_and_default_id() {
    // testMountContext, testMountTmpfs, testCacheMountUser, testCacheMountDefaultID.
    build_passes(
        "FROM busybox\nRUN --mount=target=/context [ \"$(cat /context/testfile)\" == \"contents0\" ]\n",
        &[("testfile", "contents0")],
    );
    build_passes(
        "FROM busybox\nRUN --mount=target=/mytmp,type=tmpfs touch /mytmp/foo\nRUN [ ! -f /mytmp/foo ]\n",
        &[],
    );
    build_passes(
        "FROM busybox\nRUN --mount=type=cache,target=/mycache,uid=1001,gid=1002,mode=0751 [ \"$(stat -c \"%u %g %f\" /mycache)\" == \"1001 1002 41e9\" ]\n",
        &[],
    );
    build_passes(
        "FROM busybox\n\
         RUN --mount=type=cache,target=/mycache touch /mycache/foo\n\
         RUN --mount=type=cache,target=/mycache2 [ ! -f /mycache2/foo ]\n\
         RUN --mount=type=cache,target=/mycache [ -f /mycache/foo ]\n",
        &[],
    );
}

#[test]
fn mount_options_expand_env_args_and_meta_args() {
    // testMountEnvVar, testMountArg, testMountEnvAcrossStages, testMountMetaArg.
    build_passes(
        "FROM busybox\nENV SOME_PATH=/mycache\n\
         RUN --mount=type=cache,target=/mycache touch /mycache/foo\n\
         RUN --mount=type=cache,target=$SOME_PATH [ -f $SOME_PATH/foo ]\n",
        &[],
    );
    build_passes(
        "FROM busybox\nARG MNT_TYPE=cache\n\
         RUN --mount=type=$MNT_TYPE,target=/mycache2 touch /mycache2/foo\n\
         RUN --mount=type=cache,target=/mycache2 [ -f /mycache2/foo ]\n",
        &[],
    );
    build_passes(
        "FROM busybox as stage1\n\nENV MNT_ID=mycache\nENV MNT_TYPE2=cache\n\
         RUN --mount=type=cache,id=mycache,target=/abcabc touch /abcabc/foo\n\
         RUN --mount=type=$MNT_TYPE2,id=$MNT_ID,target=/cbacba [ -f /cbacba/foo ]\n\n\
         FROM stage1\n\
         RUN --mount=type=$MNT_TYPE2,id=$MNT_ID,target=/whatever [ -f /whatever/foo ]\n",
        &[],
    );
    build_passes(
        "ARG META_PATH=/tmp/meta\n\nFROM busybox\nARG META_PATH\n\
         RUN --mount=type=cache,id=mycache,target=/tmp/meta touch /tmp/meta/foo\n\
         RUN --mount=type=cache,id=mycache,target=$META_PATH [ -f /tmp/meta/foo ]\n",
        &[],
    );
}

#[test]
fn mount_tmpfs_size_and_duplicate_sources() {
    // testMountTmpfsSize, testMountDuplicate.
    let (_t, out) = build_out_of(
        &[(
            "Dockerfile",
            "FROM busybox AS base\n\
         RUN --mount=type=tmpfs,target=/dev/shm,size=128m mount | grep /dev/shm > /tmpfssize\n\
         FROM scratch\nCOPY --from=base /tmpfssize /\n",
        )],
        &[],
    );
    let mounts = std::fs::read_to_string(out.join("tmpfssize")).expect("tmpfssize");
    assert!(mounts.contains("size=131072k"), "{mounts}");

    let (_t, out) = build_out_of(
        &[
            (
                "Dockerfile",
                "FROM busybox AS base\n\
             RUN --mount=source=.,target=/tmp/test \\\n  --mount=source=b.txt,target=/tmp/b.txt \\\n  cat /tmp/test/a.txt /tmp/b.txt > /combined.txt\n\
             FROM scratch\nCOPY --from=base /combined.txt /\n",
            ),
            ("a.txt", "foo\n"),
            ("b.txt", "bar\n"),
        ],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("combined.txt")).expect("combined"),
        "foo\nbar\n"
    );
}

#[test]
fn mount_refusals() {
    // testMountFromError, testCacheMountSourceEscape.
    build_fails(
        "FROM busybox as test\nRUN touch /tmp/test\n\nFROM busybox\nENV ttt=test\n\
         RUN --mount=from=$ttt,type=cache,target=/tmp ls\n",
        "'from' doesn't support variable expansion, define alias stage instead",
    );
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS init\n\
         RUN --mount=type=cache,id=sourceescape,target=/cache mkdir -p /cache/sel && echo benign > /cache/sel/benign.txt\n\n\
         FROM init AS link\n\
         RUN --mount=type=cache,id=sourceescape,target=/cache rm -rf /cache/sel && ln -s /etc /cache/sel\n\n\
         FROM link AS victim\n\
         RUN --mount=type=cache,id=sourceescape,source=sel,target=/victim cat /victim/hostname\n\n\
         FROM scratch\nCOPY --from=victim /etc/hostname /hostname\n",
    )]);
    let b = env.build(c.path(), &[]);
    assert!(
        !b.success,
        "a cache source= through a link outside the cache must fail"
    );
}

/// Debian's busybox-static has no `adduser`: the lines BuildKit's tests run it for.
const ADD_USER: &str = "RUN echo 'user:x:1001:1001::/home/user:/bin/sh' >> /etc/passwd && echo 'user:x:1001:' >> /etc/group";

#[test]
fn workdir_creates_dirs_owned_by_the_user() {
    // testWorkdirCreatesDir, testWorkdirUser, testWorkdirCopyIgnoreRelative, testWorkdirExists.
    let (_t, out) = build_out_of(
        &[("Dockerfile", "FROM scratch\nWORKDIR /foo\nWORKDIR /\n")],
        &[],
    );
    assert!(out.join("foo").is_dir());
    build_passes(
        &format!(
            "FROM busybox\n{ADD_USER}\nUSER user\nWORKDIR /mydir\n\
             RUN [ \"$(stat -c \"%U %G\" /mydir)\" == \"user user\" ]\n"
        ),
        &[],
    );
    build_passes(
        "FROM busybox AS base\nWORKDIR /foo\nCOPY Dockerfile /\nFROM busybox\n\
         # relative path still loaded as absolute\nCOPY --from=base Dockerfile .\n",
        &[],
    );
    build_passes(
        &format!(
            "FROM busybox\n{ADD_USER}\nRUN mkdir /mydir && chown user:user /mydir\nWORKDIR /mydir\n\
             RUN [ \"$(stat -c \"%U %G\" /mydir)\" == \"user user\" ]\n"
        ),
        &[],
    );
}

#[test]
fn multistage_implicit_from_case_and_order() {
    // testMultiStageImplicitFrom, testMultiStageCaseInsensitive, testOutOfOrderStage,
    // testEmptyStages.
    let (_t, out) = build_out_of(
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY --from=busybox /etc/passwd test\n",
        )],
        &[],
    );
    assert!(
        std::fs::read_to_string(out.join("test"))
            .expect("test")
            .contains("root")
    );
    build_expecting(
        "FROM busybox AS golang\nRUN mkdir -p /usr/bin && echo -n foo > /usr/bin/go\n\
         FROM scratch\nCOPY --from=golang /usr/bin/go go\n",
        &[("go", "foo")],
    );
    let (_t, out) = build_out_of(
        &[
            (
                "Dockerfile",
                "FROM busybox AS STAge0\nCOPY foo bar\nFROM busybox AS staGE1\n\
             COPY --from=staGE0 bar baz\nFROM busybox\nCOPY --from=stage1 baz bax\n",
            ),
            ("foo", "foo-contents"),
        ],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("bax")).expect("bax"),
        "foo-contents"
    );
    for src in ["/", "/d2"] {
        let env = Env::new();
        let c = context(&[(
            "Dockerfile",
            &format!(
                "FROM busybox AS target\nCOPY --from=build {src} /out\n\n\
                 FROM busybox AS build\nCOPY /Dockerfile /d2\n\nFROM target\n"
            ),
        )]);
        let b = env.build(c.path(), &[]);
        assert!(!b.success, "{src}");
        assert!(
            b.stderr.contains("cannot copy from stage")
                && b.stderr
                    .contains("needs to be defined before current stage"),
            "{}",
            b.stderr
        );
    }
    build_fails("ARG foo=bar", "dockerfile contains no stages to build");
}

#[test]
fn copy_destinations_relative_empty_and_slash() {
    // testCopyLinkEmptyDestDir, testEmptyDestDir, testPreserveDestDirSlash, testCopyRelative,
    // testCopyVarSubstitution, testCopyOverrideFiles.
    build_passes(
        "FROM busybox\nWORKDIR /var/www\nENV empty=\"\"\nCOPY --link testfile $empty\n\
         RUN [ \"$(cat testfile)\" == \"contents0\" ]\n",
        &[("testfile", "contents0")],
    );
    build_passes(
        "FROM busybox\nENV empty=\"\"\nCOPY testfile $empty\nRUN [ \"$(cat testfile)\" == \"contents0\" ]\n",
        &[("testfile", "contents0")],
    );
    build_passes(
        "FROM busybox\nCOPY testfile /sample/\nRUN [ \"$(cat /sample/testfile)\" == \"contents0\" ]\n",
        &[("testfile", "contents0")],
    );
    build_passes(
        r#"
FROM busybox
WORKDIR /test1
WORKDIR test2
RUN sh -c "[ "$PWD" = '/test1/test2' ]"
COPY foo ./
RUN sh -c "[ $(cat /test1/test2/foo) = 'hello' ]"
ADD foo ./bar/baz
RUN sh -c "[ $(cat /test1/test2/bar/baz) = 'hello' ]"
COPY foo ./bar/baz2
RUN sh -c "[ $(cat /test1/test2/bar/baz2) = 'hello' ]"
WORKDIR ..
COPY foo ./
RUN sh -c "[ $(cat /test1/foo) = 'hello' ]"
COPY foo /test3/
RUN sh -c "[ $(cat /test3/foo) = 'hello' ]"
WORKDIR /test4
COPY . .
RUN sh -c "[ $(cat /test4/foo) = 'hello' ]"
WORKDIR /test5/test6
COPY foo ../
RUN sh -c "[ $(cat /test5/foo) = 'hello' ]"
"#,
        &[("foo", "hello")],
    );
    let (_t, out) = build_out(
        "FROM scratch AS base\nENV FOO bar\nCOPY $FOO baz\n",
        &[("bar", "bar-contents")],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("baz")).expect("baz"),
        "bar-contents"
    );
    let (_t, out) = build_out(
        "FROM scratch AS base\nCOPY sub sub\nCOPY sub sub\nCOPY files/foo.go dest/foo.go\n\
         COPY files/foo.go dest/foo.go\nCOPY files dest\n",
        &[
            ("sub/dir1/dir2/foo", "foo-contents"),
            ("files/foo.go", "foo.go-contents"),
        ],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("sub/dir1/dir2/foo")).expect("foo"),
        "foo-contents"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("dest/foo.go")).expect("foo.go"),
        "foo.go-contents"
    );
}

#[test]
fn copy_chmod_and_chown() {
    // testCopyChmod, testCopyChownCreateDest.
    let (_t, out) = build_out(
        r#"
FROM busybox AS base

RUN mkdir -m 0777 /out
COPY --chmod=0644 foo /
COPY --chmod=777 bar /baz
COPY --chmod=0 foo /foobis
COPY --chmod=777 foo /parent/foo
COPY --chmod=770 foo /parent/sub/foo

ARG mode
COPY --chmod=${mode} foo /footer

RUN stat -c "%04a" /foo  > /out/fooperm
RUN stat -c "%04a" /baz  > /out/barperm
RUN stat -c "%04a" /foobis  > /out/foobisperm
RUN stat -c "%04a" /parent  > /out/parentperm
RUN stat -c "%04a" /parent/sub  > /out/subparentperm
RUN stat -c "%04a" /footer  > /out/footerperm
FROM scratch
COPY --from=base /out /
"#,
        &[("foo", "foo-contents"), ("bar", "bar-contents")],
        &["--build-arg", "mode=755"],
    );
    for (file, mode) in [
        ("fooperm", "0644\n"),
        ("barperm", "0777\n"),
        ("foobisperm", "0000\n"),
        ("parentperm", "0755\n"),
        ("subparentperm", "0755\n"),
        ("footerperm", "0755\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(out.join(file)).expect(file),
            mode,
            "{file}"
        );
    }
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nARG group\nENV owner user01\n{ADD_USER}\n\
             RUN echo 'user01:x:1002:1002::/home/user01:/bin/sh' >> /etc/passwd && echo 'user01:x:1002:' >> /etc/group\n\
             COPY --chown=user:user . /dest\nCOPY --chown=${{owner}}:${{group}} . /dest01\n\
             RUN [ \"$(stat -c \"%U %G\" /dest)\" == \"user user\" ]\n\
             RUN [ \"$(stat -c \"%U %G\" /dest01)\" == \"user01 user\" ]\n"
        ),
    )]);
    env.build_ok(c.path(), &["--build-arg", "group=user"]);
}

#[test]
fn copy_of_a_socket_is_an_empty_file() {
    // testCopySocket: BuildKit copies a socket in the context as a regular file.
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM scratch\nCOPY . /\n")]);
    let _listener =
        std::os::unix::net::UnixListener::bind(c.path().join("socket.sock")).expect("socket");
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    let meta = std::fs::symlink_metadata(out.join("socket.sock")).expect("socket.sock");
    assert!(meta.file_type().is_file(), "{:?}", meta.file_type());
}

/// Build `dockerfile` with `args`; it must fail, saying `says`.
pub(super) fn build_fails_with(dockerfile: &str, args: &[&str], says: &str) {
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile)]);
    let b = env.build(c.path(), args);
    assert!(!b.success, "built, but BuildKit refuses it");
    assert!(b.stderr.contains(says), "{says:?} not in {}", b.stderr);
}

/// Build `dockerfile` with `args`; it must succeed.
pub(super) fn build_passes_with(dockerfile: &str, args: &[&str]) {
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile)]);
    env.build_ok(c.path(), args);
}

#[test]
fn global_args_defaults_and_errors() {
    // testGlobalArg, testGlobalArgErrors, testArgDefaultExpansion.
    build_passes_with(
        "ARG tag=nosuchtag\nFROM busybox:${tag}\n",
        &["--build-arg", "tag=latest"],
    );
    let df = "ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n";
    build_fails_with(df, &[], "FOO: custom error");
    build_passes_with(df, &["--build-arg", "FOO=bar"]);
    let df = "FROM scratch\nARG FOO\nARG BAR=${FOO:?\"foo missing\"}\n";
    build_fails_with(df, &[], "FOO: foo missing");
    build_passes_with(df, &["--build-arg", "FOO=123"]);
    build_passes_with(df, &["--build-arg", "BAR=123"]);
}

#[test]
fn multi_and_quoted_meta_args() {
    // testMultiArgs, testQuotedMetaArgs.
    let (_t, out) = build_out(
        "ARG a1=\"foo bar\" a2=box\nARG a3=\"$a2-foo\"\nFROM busy$a2 AS build\n\
         ARG a3 a4=\"123 456\" a1\nRUN echo -n \"$a1:$a3:$a4\" > /out\n\
         FROM scratch\nCOPY --from=build /out .\n",
        &[],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("out")).expect("out"),
        "foo bar:box-foo:123 456"
    );
    let (_t, out) = build_out(
        "ARG a1=\"box\"\nARG a2=\"$a1-foo\"\nFROM busy$a1 AS build\nARG a2\nARG a3=\"bar-$a2\"\n\
         RUN echo -n $a3 > /out\nFROM scratch\nCOPY --from=build /out .\n",
        &[],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("out")).expect("out"),
        "bar-box-foo"
    );
}

#[test]
fn builtin_proxy_args_do_not_split_the_cache() {
    // testBuiltinArgs.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS build\nARG FOO\nARG BAR\nARG BAZ=bazcontent\n\
         RUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out\n\
         FROM scratch\nCOPY --from=build /out /\n",
    )]);
    let out_with = |args: &[&str]| {
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut all = args.to_vec();
        all.push(&dest);
        env.build_ok(c.path(), &all);
        std::fs::read_to_string(out.join("out")).expect("out")
    };
    assert_eq!(
        out_with(&[
            "--build-arg",
            "FOO=foocontents",
            "--build-arg",
            "http_proxy=hpvalue",
            "--build-arg",
            "NO_PROXY=npvalue",
        ]),
        "hpvalue::npvalue::foocontents::::bazcontent"
    );
    // Other proxy values: the cached result (proxies are not part of the step).
    assert_eq!(
        out_with(&[
            "--build-arg",
            "FOO=foocontents",
            "--build-arg",
            "http_proxy=hpvalue2"
        ]),
        "hpvalue::npvalue::foocontents::::bazcontent"
    );
    // Another value of a declared arg: run again.
    assert_eq!(
        out_with(&[
            "--build-arg",
            "FOO=foocontents2",
            "--build-arg",
            "http_proxy=hpvalue2"
        ]),
        "hpvalue2::::foocontents2::::bazcontent"
    );
}

#[test]
fn dockerignore_plain_invalid_and_per_dockerfile() {
    // testDockerignore, testDockerignoreInvalid, testDockerignoreOverride.
    let (_t, out) = build_out(
        "FROM scratch\nCOPY . .\n",
        &[
            ("foo", "foo-contents"),
            ("bar", "bar-contents"),
            ("baz", "baz-contents"),
            ("bay", "bay-contents"),
            (".dockerignore", "\nba*\nDockerfile\n!bay\n.dockerignore\n"),
        ],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("foo")).expect("foo"),
        "foo-contents"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("bay")).expect("bay"),
        "bay-contents"
    );
    for gone in [".dockerignore", "Dockerfile", "bar", "baz"] {
        assert!(!out.join(gone).exists(), "{gone}");
    }

    // An invalid .dockerignore is an error, not a hang.
    let env = Env::new();
    let c = context(&[
        ("Dockerfile", "FROM scratch\nCOPY . .\n"),
        (".dockerignore", "!\n"),
    ]);
    let start = std::time::Instant::now();
    let b = env.build(c.path(), &[]);
    assert!(!b.success, "an invalid .dockerignore must fail the build");
    assert!(start.elapsed() < std::time::Duration::from_secs(15));

    // Each Dockerfile's own NAME.dockerignore wins over the context's.
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY . .\nRUN [ -f foo ] && [ ! -f bar ]\n",
        ),
        ("Dockerfile.dockerignore", "\nbar\n"),
        (
            "Dockerfile2",
            "FROM busybox\nCOPY . .\nRUN [ ! -f foo ] && [ -f bar ]\n",
        ),
        ("Dockerfile2.dockerignore", "\nfoo\n"),
        ("foo", "contents0"),
        ("bar", "contents0"),
    ]);
    env.build_ok(c.path(), &[]);
    let df2 = c.path().join("Dockerfile2").display().to_string();
    env.build_ok(c.path(), &["-f", &df2]);
}

#[test]
fn exec_form_runs_ignore_entrypoint_and_invalid_json_is_shell_form() {
    // testIgnoreEntrypoint, testInvalidJSONCommands.
    build_passes(
        "FROM busybox\nENTRYPOINT [\"/nosuchcmd\"]\nRUN [\"ls\"]\n",
        &[],
    );
    build_fails(
        "FROM busybox\nRUN [\"echo\", \"hello\"]this is invalid\n",
        "this is invalid",
    );
    // Not JSON: the shell form, as the image's entrypoint says.
    let c = context(&[("Dockerfile", "FROM busybox\nENTRYPOINT []random string\n")]);
    let out = crate::util::cairn()
        .args(["plan", "--format", "json"])
        .arg(c.path())
        .output()
        .expect("plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        plan["graph"]["image"]["entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "[]random string"]),
        "{plan}"
    );
}

#[test]
fn a_mount_of_another_stage_is_keyed_on_what_it_mounts() {
    // testMountRWCache: the mounted folder did not change, so the step stays cached.
    let dockerfile = "from busybox AS build\ncopy cachebust /\nrun mkdir out && echo foo > out/foo\n\
                      from busybox as second\n\
                      RUN --mount=from=build,src=out,target=/out,rw touch /out/bar && cat /dev/urandom | head -c 100 | sha256sum > /unique\n\
                      from scratch\nCOPY --from=second /unique /unique\n";
    let env = Env::new();
    let unique = |bust: &str| {
        let c = context(&[("Dockerfile", dockerfile), ("cachebust", bust)]);
        let (_t, out) = out_dir();
        env.build_ok(
            c.path(),
            &[&format!("--output=type=local,dest={}", out.display())],
        );
        std::fs::read_to_string(out.join("unique")).expect("unique")
    };
    let first = unique("0");
    assert_eq!(unique("1"), first, "the mounted out/ did not change");
}

#[test]
fn user_groups_and_sandbox_hostname() {
    // testUserAdditionalGids (the test busybox's /etc files get busybox's wheel and daemon
    // first), testDockerfileCheckHostname (the build-arg case).
    build_passes(
        "FROM busybox\n\
         RUN echo 'wheel:x:10:root' >> /etc/group && echo 'daemon:x:1:' >> /etc/group \
         && echo 'daemon:x:1:1:daemon:/usr/sbin:/bin/false' >> /etc/passwd\n\
         SHELL [\"/bin/sh\", \"-euxc\"]\n\
         RUN [ \"$(id)\" = \"uid=0(root) gid=0(root) groups=0(root),10(wheel)\" ]\n\
         USER 1234\n\
         RUN [ \"$(id)\" = \"uid=1234 gid=0(root) groups=0(root)\" ]\n\
         USER 1234:1234\n\
         RUN [ \"$(id)\" = \"uid=1234 gid=1234 groups=1234\" ]\n\
         USER daemon\n\
         RUN [ \"$(id)\" = \"uid=1(daemon) gid=1(daemon) groups=1(daemon)\" ]\n",
        &[],
    );
    build_passes_with(
        "FROM busybox\nRUN cat /etc/hosts | grep foo\nRUN echo $(hostname) | grep foo\n",
        &["--build-arg", "BUILDKIT_SANDBOX_HOSTNAME=foo"],
    );
}

#[test]
fn context_dir_to_file_and_symlink_destinations() {
    // testContextChangeDirToFile, testSymlinkDestination, testDockerfileDirs (first part).
    let env = Env::new();
    let c = context(&[
        ("Dockerfile", "FROM scratch\nCOPY foo /\n"),
        ("foo/bar", "contents"),
    ]);
    env.build_ok(c.path(), &[]);
    let c = context(&[
        ("Dockerfile", "FROM scratch\nCOPY foo /\n"),
        ("foo", "contents2"),
    ]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("foo")).expect("foo"),
        "contents2"
    );

    // A symlink from an archive, then a COPY through it.
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o755);
        b.append_link(&mut h, "symlink", "../tmp/symlink-target")
            .expect("link");
        b.into_inner().expect("tar")
    };
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM scratch\nADD t.tar /\nCOPY foo /symlink/\n",
        ),
        ("foo", "content0"),
    ]);
    std::fs::write(c.path().join("t.tar"), tar).expect("t.tar");
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("tmp/symlink-target/foo")).expect("foo"),
        "content0"
    );

    build_passes(
        "FROM busybox\nCOPY foo /foo2\nCOPY foo /\nRUN echo -n bar > foo3\nRUN test -f foo\n\
         RUN cmp -s foo foo2\nRUN cmp -s foo foo3\n",
        &[("foo", "bar")],
    );
}

/// The image config of `dockerfile` built with `args`, as `cairn plan --format json` has it
/// (the same config the build writes).
pub(super) fn planned_image(dockerfile: &str, args: &[&str]) -> serde_json::Value {
    let c = context(&[("Dockerfile", dockerfile)]);
    let out = crate::util::cairn()
        .args(["plan", "--format", "json"])
        .args(args)
        .arg(c.path())
        .output()
        .expect("plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    plan["graph"]["image"].clone()
}

#[test]
fn step_names_expose_expansion_and_labels() {
    // testStepNames, testExposeExpansion, testLabels.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox AS base\nWORKDIR /out\nRUN echo \"base\" > base\n\
         FROM scratch\nCOPY --from=base --chmod=0644 /out /out\n",
    )]);
    let b = env.build_ok(c.path(), &[]);
    let names = b.ran();
    for want in [
        "[base 3/3] RUN echo \"base\" > base",
        "[stage-1 1/1] COPY --from=base --chmod=0644 /out /out",
    ] {
        assert!(names.iter().any(|n| n == want), "{want:?} in {names:?}");
    }
    let image = planned_image(
        "FROM scratch\nARG PORTS=\"3000 4000/udp\"\nEXPOSE $PORTS\nEXPOSE 5000\n",
        &[],
    );
    assert_eq!(
        image["exposed_ports"],
        serde_json::json!(["3000/tcp", "4000/udp", "5000/tcp"]),
        "{image}"
    );
    // `label:bar=baz` is `--label bar=baz` on the command line.
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM scratch\nLABEL foo=bar\n")]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[
            "--label",
            "bar=baz",
            &format!("--output=type=oci,tar=false,dest={}", out.display()),
        ],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index"))
            .expect("json");
    let blob = |d: &serde_json::Value| {
        let hex = d["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_string();
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(out.join("blobs/sha256").join(hex)).expect("blob"),
        )
        .expect("json")
    };
    let manifest = blob(&index["manifests"][0]);
    let config = blob(&manifest["config"]);
    assert_eq!(
        config["config"]["Labels"],
        serde_json::json!({"foo": "bar", "bar": "baz"})
    );
}

/// The image config `cairn build ARGS` writes for `files`, read from an OCI layout export.
pub(super) fn built_config(env: &Env, files: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let c = context(files);
    let layout = tempfile::tempdir().expect("tmp");
    let dir = layout.path().join("l");
    let dest = format!("--output=type=oci,tar=false,dest={}", dir.display());
    let mut flags = args.to_vec();
    flags.push(&dest);
    env.build_ok(c.path(), &flags);
    let json = |p: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .expect("json")
    };
    let blob = |d: &serde_json::Value| {
        let d = d.as_str().expect("digest");
        dir.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = json(dir.join("index.json"));
    let manifest = json(blob(&index["manifests"][0]["digest"]));
    json(blob(&manifest["config"]["digest"]))
}

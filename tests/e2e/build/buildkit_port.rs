//! BuildKit's own integration tests (`frontend/dockerfile/dockerfile*_test.go`) that run
//! offline on busybox, ported: the Dockerfile and the checks as BuildKit wrote them (alpine
//! → the test's busybox), each target stage built by cairn. Where a BuildKit test checks from
//! inside the build (`RUN [ -f ... ]`), a passing build is the check.

use super::fixture::{Env, context};

/// Build each of `targets` of `dockerfile`; every one must succeed.
fn build_targets(dockerfile: &str, targets: &[&str]) {
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

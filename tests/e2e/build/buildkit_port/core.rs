//! BuildKit's `dockerfile_core_test.go` (the cases not in `mod.rs`): where the Dockerfile
//! is found, USER forms, `--target` typos, and a rebuild that leaves the store as it was.

use super::super::fixture::{Env, context, out_dir};
use super::built_config;

#[test]
fn a_symlinked_or_lowercase_dockerfile_is_found() {
    // testSymlinkedDockerfile, testDockerfileLowercase.
    let env = Env::new();
    let c = context(&[("Dockerfile.web", "FROM scratch\nENV foo bar\n")]);
    std::os::unix::fs::symlink("Dockerfile.web", c.path().join("Dockerfile")).expect("symlink");
    env.build_ok(c.path(), &[]);
    let c = context(&[("dockerfile", "FROM scratch\n")]);
    env.build_ok(c.path(), &[]);
}

/// Every path under `root` (relative), sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let p = e.path();
            out.push(
                p.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string(),
            );
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_second_identical_build_adds_nothing_to_the_store() {
    // testNoSnapshotLeak (BuildKit compares its disk usage records; here the store's tree,
    // less the per-run lock and log files the store keeps by design).
    let env = Env::new();
    let c = context(&[
        ("Dockerfile", "FROM scratch\nCOPY foo /\n"),
        ("foo", "contents"),
    ]);
    let build = || {
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        env.build_ok(c.path(), &[&dest]);
    };
    build();
    let first = tree(env.root());
    build();
    assert_eq!(tree(env.root()), first);
}

#[test]
fn user_forms_set_ids_and_groups() {
    // testUser (the test busybox's /etc files get busybox's wheel group and daemon user).
    let env = Env::new();
    let dockerfile = r#"
FROM busybox AS base
RUN echo 'wheel:x:10:root' >> /etc/group && echo 'daemon:x:1:' >> /etc/group \
 && echo 'daemon:x:1:1:daemon:/usr/sbin:/bin/false' >> /etc/passwd
RUN mkdir -m 0777 /out
RUN id -un > /out/rootuser
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)" = '0:0/root:root' ]
USER root
RUN [ "$(id -G):$(id -Gn)" = '0 10:root wheel' ]
RUN echo 'dockerio:x:1001:1001::/bin:/bin/false' >> /etc/passwd && \
	echo 'dockerio:x:1001:' >> /etc/group
USER dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER root
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '0:0/root:root/0 10:root wheel' ] && \
	echo 'supplementary:x:1002:dockerio' >> /etc/group
USER dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001 1002:dockerio supplementary' ]
USER 1001
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001 1002:dockerio supplementary' ]
USER dockerio:dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER 1001:dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER dockerio:1001
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER 1001:1001
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER dockerio:supplementary
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER dockerio:1002
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER 1001:supplementary
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER 1001:1002
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER 1042:1043
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1042:1043/1042:1043/1043:1043' ]
USER daemon
RUN id -un > /out/daemonuser
FROM scratch
COPY --from=base /out /
USER nobody
"#;
    let c = context(&[("Dockerfile", dockerfile)]);
    let (_t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    env.build_ok(c.path(), &[&dest]);
    let read = |n: &str| std::fs::read_to_string(out.join(n)).expect("read");
    assert_eq!(read("rootuser"), "root\n");
    assert_eq!(read("daemonuser"), "daemon\n");
    let img = built_config(&env, &[("Dockerfile", dockerfile)], &[]);
    assert_eq!(img["config"]["User"], "nobody");
}

#[test]
fn a_target_typo_gets_a_suggestion() {
    // testTargetMistype.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM scratch AS build\nCOPY Dockerfile /out\nFROM scratch\nCOPY --from=build /out /\n",
    )]);
    let b = env.build(c.path(), &["--target", "bulid"]);
    assert!(!b.success);
    assert!(
        b.stderr
            .contains("target stage \"bulid\" could not be found (did you mean build?)"),
        "{}",
        b.stderr
    );
}

#[test]
fn call_targets_lists_the_stages() {
    // testTargetsList (dockerfile_targets_test.go), through `--call targets,format=json` and
    // the table buildx prints.
    let dockerfile = "\n# build defines stage for compiling the binary\nFROM alpine AS build\nRUN true\nFROM busybox as second\nRUN false\nFROM alpine\nRUN false\n# binary returns the compiled binary\nFROM second AS binary\n";
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile)]);
    let call = |how: &str| {
        let o = crate::util::cairn()
            .args(["build", "--root"])
            .arg(env.root())
            .args(["--call", how])
            .arg(c.path())
            .output()
            .expect("cairn");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let list: serde_json::Value = serde_json::from_str(&call("targets,format=json")).expect("json");
    let t = list["targets"].as_array().cloned().unwrap_or_default();
    assert_eq!(t.len(), 4, "{list}");
    let want = [
        (
            "build",
            "alpine",
            "defines stage for compiling the binary",
            false,
            3,
        ),
        ("second", "busybox", "", false, 5),
        ("", "alpine", "", false, 7),
        ("binary", "second", "returns the compiled binary", true, 10),
    ];
    for (got, (name, base, description, default, line)) in t.iter().zip(want) {
        assert_eq!(got["name"].as_str().unwrap_or_default(), name, "{got}");
        assert_eq!(got["base"].as_str().unwrap_or_default(), base, "{got}");
        assert_eq!(
            got["description"].as_str().unwrap_or_default(),
            description,
            "{got}"
        );
        assert_eq!(got["default"].as_bool().unwrap_or(false), default, "{got}");
        assert_eq!(got["line"], line, "{got}");
    }
    let table = call("targets");
    assert!(
        table.lines().any(
            |l| l.starts_with("binary (default)") && l.ends_with("returns the compiled binary")
        ),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("build ")
                && l.ends_with("defines stage for compiling the binary")),
        "{table}"
    );
}

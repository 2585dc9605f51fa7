//! The image config and history cairn writes match what `docker build` (BuildKit) writes for the
//! same Dockerfile: both images are loaded into dockerd and compared through `docker inspect`.

use super::fixture::{Env, busybox_rootfs, context, out_dir};
use serde_json::Value;
use std::process::Command;

const DOCKERFILE: &str = "\
FROM busybox:latest AS build
RUN echo built > /artifact
FROM busybox:latest
ARG VERSION=1.2.3
ENV APP_HOME=/srv/app LANG=C.UTF-8
LABEL org.opencontainers.image.version=$VERSION maintainer=\"team@example.com\"
WORKDIR $APP_HOME
COPY --from=build /artifact ./artifact
COPY greeting.txt .
RUN echo \"version $VERSION\" > version.txt
USER app
EXPOSE 8080 53/udp
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD wget -q -O- localhost:8080 || exit 1
STOPSIGNAL SIGINT
ENTRYPOINT [\"/bin/sh\", \"-c\"]
CMD [\"cat version.txt\"]
";

pub(super) fn docker(args: &[&str]) -> String {
    let out = Command::new("/usr/bin/docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The same busybox base for docker and cairn: imported into dockerd (`docker import`) and
/// into `env`'s store under one name, which is returned.
pub(super) fn shared_base(env: &Env) -> String {
    let base = format!("cairn-parity-base:{}", std::process::id());
    let tar = Command::new("tar")
        .arg("-C")
        .arg(busybox_rootfs())
        .args(["-c", "."])
        .output()
        .expect("tar");
    let mut import = Command::new("/usr/bin/docker")
        .args(["import", "-", &base])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker import");
    std::io::Write::write_all(&mut import.stdin.take().expect("stdin"), &tar.stdout)
        .expect("write");
    assert!(import.wait().expect("wait").success());
    let out = crate::util::cairn()
        .args(["import", "--root"])
        .arg(env.root())
        .arg(busybox_rootfs())
        .arg(&base)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base
}

pub(super) fn inspect(tag: &str) -> (Value, Vec<Value>) {
    let v: Value = serde_json::from_str(&docker(&["image", "inspect", tag])).expect("inspect json");
    let history = docker(&[
        "image",
        "history",
        "--no-trunc",
        "--format",
        "{{json .}}",
        tag,
    ])
    .lines()
    .filter_map(|l| serde_json::from_str(l).ok())
    .collect();
    (v[0].clone(), history)
}

#[test]
fn config_and_history_match_docker_build() {
    let id = std::process::id();
    let env = Env::new();
    let base = shared_base(&env);

    let df = DOCKERFILE.replace("busybox:latest", &base);
    let ctx = context(&[("Dockerfile", &df), ("greeting.txt", "hi\n")]);
    let docker_tag = format!("cairn-parity/docker:{id}");
    docker(&[
        "build",
        "--network=host",
        "-q",
        "-t",
        &docker_tag,
        &ctx.path().to_string_lossy(),
    ]);

    let (_t, archive) = out_dir();
    let cairn_tag = format!("cairn-parity/cairn:{id}");
    env.build_ok(
        ctx.path(),
        &[
            "-t",
            &cairn_tag,
            &format!("--output=type=docker,dest={}", archive.display()),
        ],
    );
    docker(&["load", "-i", &archive.to_string_lossy()]);

    let (d, dh) = inspect(&docker_tag);
    let (c, ch) = inspect(&cairn_tag);
    for tag in [&docker_tag, &cairn_tag, &base] {
        let _ = Command::new("/usr/bin/docker")
            .args(["rmi", "-f", tag])
            .output();
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
        assert_eq!(
            c["Config"][field], d["Config"][field],
            "Config.{field} differs (left: cairn, right: docker build)"
        );
    }
    assert_eq!(c["Architecture"], d["Architecture"]);
    assert_eq!(c["Os"], d["Os"]);
    assert_eq!(
        c["RootFS"]["Layers"].as_array().map(Vec::len),
        d["RootFS"]["Layers"].as_array().map(Vec::len),
        "layer count"
    );
    let created_by = |h: &[Value]| {
        h.iter()
            .map(|e| normalize_expose(e["CreatedBy"].as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    assert_eq!(created_by(&ch), created_by(&dh), "history (newest first)");
}

/// One known difference of versions: docker 20.10's BuildKit (v0.8) recorded EXPOSE as a sorted
/// Go map (`EXPOSE map[53/udp:{} 8080/tcp:{}]`), current BuildKit — and cairn — as a list
/// (`EXPOSE [53/udp 8080/tcp]`). Both are compared as the set of ports.
pub(super) fn normalize_expose(s: &str) -> String {
    let Some(rest) = s.strip_prefix("EXPOSE ") else {
        return s.to_string();
    };
    let inner = rest
        .trim_start_matches("map[")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let mut ports: Vec<&str> = inner
        .split_whitespace()
        .map(|p| p.trim_end_matches(":{}"))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    format!("EXPOSE {{{}}}", ports.join(" "))
}

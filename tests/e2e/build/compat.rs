//! What cairn writes is accepted by real clients: `docker load` + `docker run` (dockerd is started
//! by the test command), skopeo and umoci on the OCI layout, and plain tar.

use super::fixture::{Env, context, out_dir};
use crate::util::run;
use std::process::Command;

const DOCKERFILE: &str = "\
FROM busybox AS build
RUN mkdir -p /out && echo 'hello from cairn' > /out/greeting
FROM busybox
COPY --from=build /out/greeting /greeting
ENV WHO=docker
LABEL org.example.built-by=cairn
WORKDIR /srv
CMD [\"sh\", \"-c\", \"cat /greeting && echo \\\"run by $WHO in $(pwd)\\\"\"]
";

#[test]
fn docker_loads_and_runs_the_docker_output() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let (_t, out) = out_dir();
    let tag = format!("cairn-e2e/compat:{}", std::process::id());
    env.build_ok(
        ctx.path(),
        &[
            "-t",
            &tag,
            &format!("--output=type=docker,dest={}", out.display()),
        ],
    );
    let loaded = run(Command::new("/usr/bin/docker")
        .args(["load", "-i"])
        .arg(&out));
    assert!(loaded.contains("cairn-e2e/compat"), "{loaded}");
    let stdout = run(Command::new("/usr/bin/docker").args(["run", "--rm", "--network=host", &tag]));
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &tag])
        .output();
    assert_eq!(stdout, "hello from cairn\nrun by docker in /srv\n");
}

#[test]
fn docker_inspect_shows_the_config() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let (_t, out) = out_dir();
    let tag = format!("cairn-e2e/inspect:{}", std::process::id());
    env.build_ok(
        ctx.path(),
        &[
            "-t",
            &tag,
            &format!("--output=type=docker,dest={}", out.display()),
        ],
    );
    run(Command::new("/usr/bin/docker")
        .args(["load", "-i"])
        .arg(&out));
    let json = run(Command::new("/usr/bin/docker").args(["image", "inspect", &tag]));
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &tag])
        .output();
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect json");
    let c = &v[0]["Config"];
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["Labels"]["org.example.built-by"], "cairn");
    assert!(
        c["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "WHO=docker"))
    );
    assert!(c["Env"].as_array().is_some_and(|e| {
        e.iter()
            .any(|x| x.as_str().is_some_and(|s| s.starts_with("PATH=")))
    }));
    let history = v[0]["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    assert!(history >= 2, "base layer plus the COPY and WORKDIR layers");
}

#[test]
fn skopeo_and_umoci_read_the_oci_output() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let (t, out) = out_dir();
    env.build_ok(
        ctx.path(),
        &[
            "-t",
            "cairn-e2e/oci:v1",
            &format!("--output=type=oci,dest={}", out.display()),
        ],
    );
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", out.display())));
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo json");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    assert!(v["Layers"].as_array().is_some_and(|l| l.len() >= 2));
    // umoci unpacks the layout into a runtime bundle; the file must be there.
    let layout = t.path().join("layout");
    std::fs::create_dir_all(&layout).expect("mkdir");
    run(Command::new("tar")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&layout));
    let bundle = t.path().join("bundle");
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(layout.join("index.json")).expect("index.json"),
    )
    .expect("json");
    let refname = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap_or("latest")
        .to_string();
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{refname}", layout.display()))
        .arg(&bundle));
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/greeting")).expect("greeting"),
        "hello from cairn\n"
    );
}

#[test]
fn oci_layout_directory_output_is_the_same_layout_untarred() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let (t, tarball) = out_dir();
    let dir = t.path().join("layout-dir");
    env.build_ok(
        ctx.path(),
        &[
            "-t",
            "cairn-e2e/ocidir:v1",
            &format!("--output=type=oci,dest={}", tarball.display()),
            &format!("--output=type=oci,tar=false,dest={}", dir.display()),
        ],
    );
    // The same files as the tar holds.
    let untarred = t.path().join("untarred");
    std::fs::create_dir_all(&untarred).expect("mkdir");
    run(Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(&untarred));
    for entry in ["oci-layout", "index.json"] {
        assert_eq!(
            std::fs::read(dir.join(entry)).expect(entry),
            std::fs::read(untarred.join(entry)).expect(entry),
            "{entry}"
        );
    }
    let names = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d.join("blobs/sha256"))
            .expect("blobs")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&dir), names(&untarred));
    // Real clients read it: skopeo as an oci: layout, umoci unpacks it.
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:v1", dir.display())));
    assert!(inspect.contains("\"Layers\""), "{inspect}");
    let bundle = t.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", dir.display()))
        .arg(&bundle));
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/greeting")).expect("greeting"),
        "hello from cairn\n"
    );
    // A second export into the same directory keeps the blobs that are already right.
    env.build_ok(
        ctx.path(),
        &[&format!(
            "--output=type=oci,tar=false,dest={}",
            dir.display()
        )],
    );
    assert_eq!(names(&dir), names(&untarred));
}

#[test]
fn tar_and_local_outputs_hold_the_final_filesystem() {
    let env = Env::new();
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let (t, out) = out_dir();
    let local = t.path().join("local");
    env.build_ok(
        ctx.path(),
        &[
            &format!("--output=type=tar,dest={}", out.display()),
            &format!("--output=type=local,dest={}", local.display()),
        ],
    );
    let listing = run(Command::new("tar").arg("-tf").arg(&out));
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "greeting"),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox")
    );
    assert_eq!(
        std::fs::read_to_string(local.join("greeting")).expect("greeting"),
        "hello from cairn\n"
    );
}

#[test]
fn tagged_result_is_a_base_for_the_next_build() {
    let env = Env::new();
    let first = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo layer-one > /one\nENV FROM_PARENT=yes\n",
    )]);
    env.build_ok(first.path(), &["-t", "parent:1"]);
    let second = context(&[(
        "Dockerfile",
        "FROM parent:1\nRUN cat /one > /two && echo $FROM_PARENT >> /two\n",
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        second.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("two")).expect("two"),
        "layer-one\nyes\n"
    );
}

#[test]
fn same_build_with_source_date_epoch_gives_the_same_image_digest() {
    let digest_of = |store: &Env| {
        let ctx = context(&[
            (
                "Dockerfile",
                "FROM busybox\nCOPY a /a\nRUN echo fixed > /b\n",
            ),
            ("a", "A"),
        ]);
        let (_t, out) = out_dir();
        let out_status = crate::util::cairn()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "--progress=quiet", "--root"])
            .arg(store.root())
            .arg(format!("--output=type=oci,dest={}", out.display()))
            .arg(ctx.path())
            .output()
            .expect("run");
        assert!(
            out_status.status.success(),
            "{}",
            String::from_utf8_lossy(&out_status.stderr)
        );
        let listing = run(Command::new("tar").arg("-xOf").arg(&out).arg("index.json"));
        let v: serde_json::Value = serde_json::from_str(&listing).expect("index");
        v["manifests"][0]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let a = digest_of(&Env::new());
    let b = digest_of(&Env::new());
    assert!(a.starts_with("sha256:"));
    assert_eq!(a, b, "two stores, two builds, one image digest");
}

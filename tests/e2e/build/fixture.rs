//! The busybox base image and a per-test store.

use crate::util::cairn;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// The host's statically linked busybox (Debian package `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// A root filesystem with busybox, its applets, and a small /etc.
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<tempfile::TempDir> = OnceLock::new();
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: install the Debian package busybox-static (.ci/run does)"
    );
    ROOTFS.get_or_init(|| rootfs_of(Path::new(BUSYBOX))).path()
}

/// [`busybox_rootfs`] of arm64's busybox (`scripts/setup.sh` unpacks it; it runs emulated).
pub fn arm64_busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<tempfile::TempDir> = OnceLock::new();
    let busybox = super::platforms::foreign_busybox_dir().join("bin/busybox");
    assert!(
        busybox.is_file(),
        "{} is missing: scripts/setup.sh unpacks arm64's busybox-static there",
        busybox.display()
    );
    ROOTFS.get_or_init(|| rootfs_of(&busybox)).path()
}

/// A root filesystem around the busybox executable `busybox`.
fn rootfs_of(busybox: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for d in ["bin", "etc", "tmp", "root", "home/app", "usr/bin", "var"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    // The applets are the host busybox's (the foreign one would need its emulator).
    let list = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
                root.join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            )
            .expect("passwd");
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n",
    )
    .expect("group");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod");
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1000)).expect("chown");
    dir
}

/// A fresh store with `busybox:latest` imported.
pub struct Env {
    pub store: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let store = tempfile::tempdir().expect("store dir");
        // A fixed creation time: every test store holds the very same base image (as two
        // machines pulling it from one registry would).
        let out = cairn()
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .args(["import", "--root"])
            .arg(store.path())
            .arg(busybox_rootfs())
            .arg("busybox:latest")
            .output()
            .expect("run cairn import");
        assert!(
            out.status.success(),
            "cairn import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Env { store }
    }

    /// A fresh, empty store (no base image).
    pub fn empty() -> Env {
        Env {
            store: tempfile::tempdir().expect("store dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.store.path()
    }

    /// `cairn ARGS... --root STORE`, which must succeed: its standard output.
    pub fn cairn_ok(&self, args: &[&str]) -> String {
        let out = cairn()
            .args(args)
            .arg("--root")
            .arg(self.root())
            .output()
            .expect("run cairn");
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `cairn inspect IMAGE`'s first entry.
    pub fn inspect(&self, image: &str) -> Value {
        let v: Value =
            serde_json::from_str(&self.cairn_ok(&["inspect", image])).expect("inspect JSON");
        v[0].clone()
    }

    /// The rows `cairn images` lists for the repository `repo` (one per platform of a
    /// multi-platform name).
    pub fn image_rows(&self, repo: &str) -> Vec<String> {
        let prefix = format!("{repo} ");
        self.cairn_ok(&["images"])
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    }

    /// `cairn build --progress=json --root STORE ARGS... CONTEXT`.
    pub fn build(&self, context: &Path, args: &[&str]) -> Build {
        let out = cairn()
            .args(["build", "--progress=json", "--root"])
            .arg(self.root())
            .args(args)
            .arg(context)
            .output()
            .expect("run cairn build");
        Build::from(out)
    }

    /// Like [`build`](Self::build), asserting success.
    pub fn build_ok(&self, context: &Path, args: &[&str]) -> Build {
        let b = self.build(context, args);
        assert!(b.success, "cairn build failed:\n{}", b.stderr);
        b
    }
}

/// The outcome of one `cairn build`.
pub struct Build {
    pub success: bool,
    pub stderr: String,
    pub events: Vec<Value>,
}

impl From<Output> for Build {
    fn from(out: Output) -> Self {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let events = stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        Build {
            success: out.status.success(),
            stderr,
            events,
        }
    }
}

impl Build {
    fn names_of(&self, kind: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == kind)
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Descriptions of the steps that ran.
    pub fn ran(&self) -> Vec<String> {
        self.names_of("started")
    }

    pub fn cached(&self) -> Vec<String> {
        self.names_of("cached")
    }

    /// Output lines of the steps (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "stdout" || e["event"] == "stderr")
            .filter_map(|e| e["data"].as_str().map(str::to_string))
            .collect()
    }

    /// (start, end) in microseconds of each executed step, by description.
    pub fn intervals(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        for s in self.events.iter().filter(|e| e["event"] == "started") {
            let name = s["name"].as_str().unwrap_or_default().to_string();
            let start = s["time_us"].as_u64().unwrap_or(0);
            let end = self
                .events
                .iter()
                .find(|e| e["event"] == "finished" && e["name"] == s["name"])
                .and_then(|e| e["time_us"].as_u64())
                .unwrap_or(0);
            out.push((name, start, end));
        }
        out
    }
}

/// Write a build context.
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    crate::util::context(files)
}

pub fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("out");
    (d, p)
}

/// A `docker save` archive (`DIR/image.tar`) of one image tagged `tag` whose manifest lists
/// `layers` (tars) in order, repeats allowed.
pub fn docker_archive(dir: &Path, tag: &str, layers: &[&[u8]]) -> std::path::PathBuf {
    use sha2::Digest;
    let hex = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", hex(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    })
    .to_string();
    let config_name = format!("{}.json", hex(config.as_bytes()));
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", hex(l)))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": [tag], "Layers": layer_names
    }])
    .to_string();
    let path = dir.join("image.tar");
    let mut archive = tar::Builder::new(std::fs::File::create(&path).expect("create"));
    let mut put = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        archive.append_data(&mut h, name, data).expect("append");
    };
    put("manifest.json", manifest.as_bytes());
    put(&config_name, config.as_bytes());
    let mut done = std::collections::HashSet::new();
    for (l, name) in layers.iter().zip(&layer_names) {
        if done.insert(name.clone()) {
            put(name, l);
        }
    }
    archive.finish().expect("finish");
    path
}

/// A small static program the tests run inside steps (built with the host's gcc from C source;
/// the busybox image has no libc).
pub fn static_program(name: &str, source: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR
        .get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path();
    let bin = dir.join(name);
    if !bin.exists() {
        let src = dir.join(format!("{name}.c"));
        std::fs::write(&src, source).expect("write source");
        let out = std::process::Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .expect("run gcc (install gcc and libc6-dev)");
        assert!(
            out.status.success(),
            "gcc -static failed (libc6-dev needed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    bin
}

/// The gzip blob the store recorded for layer `id` (made by an export or a push).
pub fn gzip_blob_of(store: &cairn_store::Store, id: &str) -> cairn_store::LayerBlob {
    store
        .layer(id)
        .expect("read")
        .expect("layer")
        .blobs
        .into_iter()
        .find(|b| b.compression == cairn_store::Compression::Gzip)
        .expect("gzip blob")
}

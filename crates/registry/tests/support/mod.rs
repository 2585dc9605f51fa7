//! Test support: stores seeded with small images built by cairn itself, clients that never read
//! the host's docker config; the registries, proxies and token gateway come from
//! `cairn-testkit` (real `docker-registry` processes on loopback, never mocks).

#![allow(dead_code)]

use cairn_oci::{AssembledImage, ImageSpec};
use cairn_registry::{Registry, RegistryOptions};
use cairn_store::{Compression, Store};
use std::path::{Path, PathBuf};

pub use cairn_testkit::*;

/// `<shared plain registry>/<a repository of this test's own>`.
pub fn plain_repo(name: &str) -> String {
    format!("{}/{}", shared().plain.host, unique_repo(name))
}

/// A store in a temp dir.
pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store")).expect("open store");
    (dir, store)
}

/// A client that never reads the host's docker config (unless given one), with quick retries.
pub fn client(docker_config: Option<&Path>) -> Registry {
    Registry::new(RegistryOptions {
        docker_config: Some(
            docker_config
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/nonexistent/cairn-test/config.json")),
        ),
        concurrency: 4,
        attempts: 3,
        ..RegistryOptions::default()
    })
    .expect("registry client")
}

/// Write a docker config with basic credentials for `host`.
pub fn docker_config(dir: &Path, host: &str, user: &str, pass: &str) -> PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .expect("write docker config");
    path
}

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Build an image in `store` whose layers are the given trees (each a list of
/// `(path, content)`), for `platform`, compressed with `compression`.
pub fn seed_image(
    store: &Store,
    layers: &[&[(&str, &[u8])]],
    platform: &str,
    compression: Compression,
) -> AssembledImage {
    let mut ids = Vec::new();
    let mut config = None;
    for (i, files) in layers.iter().enumerate() {
        let src = tempfile::tempdir().expect("tempdir");
        for (path, content) in *files {
            let p = src.path().join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&p, content).expect("write file");
        }
        let imported = cairn_oci::import_rootfs(store, src.path(), &format!("seed-{i}"))
            .expect("import rootfs");
        ids.extend(imported.record.layers.iter().cloned());
        config.get_or_insert(imported.config);
    }
    let spec = ImageSpec {
        platform: cairn_ir::Platform::parse(platform).expect("platform"),
        config: config.unwrap_or_default(),
        base_layers: ids.len(),
        layers: ids,
        epoch: Some(0),
    };
    cairn_oci::assemble_image(store, &spec, compression).expect("assemble image")
}

pub fn reference(s: &str) -> cairn_ir::Reference {
    cairn_ir::Reference::parse(s).expect("reference")
}

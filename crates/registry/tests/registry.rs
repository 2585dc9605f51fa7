//! cairn-registry against a real registry (`docker-registry`) on loopback.
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]

mod support;

use cairn_registry::Error;
use cairn_store::{Compression, OciDigest, Store};
use support::*;

const AMD64: &str = "linux/amd64";

fn amd64() -> cairn_ir::Platform {
    cairn_ir::Platform::parse(AMD64).expect("platform")
}

/// Two small layers.
fn small_image(store: &Store) -> cairn_oci::AssembledImage {
    seed_image(
        store,
        &[
            &[("etc/hello.txt", b"hello from cairn\n")],
            &[
                ("app/bin/run.sh", b"#!/bin/sh\necho run\n"),
                ("app/data", b"data"),
            ],
        ],
        AMD64,
        Compression::Gzip,
    )
}

fn layer_ids(store: &Store, name: &str) -> Vec<cairn_store::LayerId> {
    store
        .image_get(name)
        .expect("image_get")
        .expect("image present")
        .only()
        .expect("one image")
        .layers
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trip_and_second_push_uploads_nothing() {
    let (_a_dir, a) = new_store();
    let image = small_image(&a);
    let client = client(None);
    let repo = unique_repo("app");
    let target = reference(&format!("{}/{repo}:v1", shared().plain.host));

    let report = client
        .push_with_report(&a, &image, &target)
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.manifest);
    assert_eq!(report.uploaded.len(), 3, "config + 2 layers: {report:?}");
    assert!(report.mounted.is_empty() && report.existing.is_empty());

    // Pull into a fresh store: same manifest, same layer contents.
    let (_b_dir, b) = new_store();
    let pulled = client.pull(&b, &target, &amd64()).await.expect("pull");
    assert_eq!(pulled.record.manifest, image.manifest);
    assert_eq!(pulled.record.config, image.config);
    assert_eq!(pulled.platform, amd64());
    let source_layers: Vec<cairn_store::LayerId> = {
        let l0 = layer_ids(&a, "docker.io/library/seed-0:latest");
        let l1 = layer_ids(&a, "docker.io/library/seed-1:latest");
        l0.into_iter().chain(l1).collect()
    };
    assert_eq!(pulled.record.layers, source_layers, "content digests");
    for (id, blob) in pulled.record.layers.iter().zip(&image.layers) {
        assert_eq!(
            cairn_oci::content_digest(&b.layer_dir(id)).expect("content digest"),
            *id
        );
        let rec = b.layer(id).expect("layer").expect("layer record");
        assert_eq!(rec.diff_id.as_ref(), Some(&blob.diff_id));
        assert!(b.has_blob(&blob.digest));
    }
    assert_eq!(
        std::fs::read(b.layer_dir(&pulled.record.layers[0]).join("etc/hello.txt")).expect("file"),
        b"hello from cairn\n"
    );
    assert_eq!(
        b.image_get(&target.to_string()).expect("image_get"),
        Some(cairn_store::NamedImage::single(pulled.record.clone()))
    );
    assert!(pulled.downloaded_bytes > 0);
    assert_eq!(
        b.blob_origin(&image.layers[0].digest).expect("origin"),
        Some(cairn_store::BlobOrigin {
            registry: shared().plain.host.clone(),
            repository: repo.clone()
        })
    );

    // Pulling again downloads nothing.
    let again = client
        .pull(&b, &target, &amd64())
        .await
        .expect("pull again");
    assert_eq!(again.record, pulled.record);
    assert_eq!(again.downloaded_bytes as usize, image.config_bytes.len());

    // Resolve agrees.
    let resolved = client.resolve(&target, &amd64()).await.expect("resolve");
    assert_eq!(resolved.manifest_digest, image.manifest);
    assert_eq!(resolved.config, image.config_bytes);
    assert_eq!(resolved.media_type, cairn_oci::model::MEDIA_TYPE_MANIFEST);

    // A second push finds everything there.
    let report = client
        .push_with_report(&a, &image, &target)
        .await
        .expect("second push");
    assert!(report.uploaded.is_empty(), "{report:?}");
    assert_eq!(report.existing.len(), 3);
    assert_eq!(report.uploaded_bytes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_another_repository_mounts_blobs() {
    let reg = &shared().plain;
    let (_dir, store) = new_store();
    let image = small_image(&store);
    let client = client(None);
    client
        .push(
            &store,
            &image,
            &reference(&format!("{}/{}:v1", reg.host, unique_repo("team/app"))),
        )
        .await
        .expect("first push");
    let other_repo = unique_repo("other/copy");
    let other = reference(&format!("{}/{other_repo}:v1", reg.host));
    let report = client
        .push_with_report(&store, &image, &other)
        .await
        .expect("push to other repo");
    assert!(report.uploaded.is_empty(), "{report:?}");
    assert_eq!(report.mounted.len(), 3, "{report:?}");
    for l in &image.layers {
        assert!(reg.repo_has_blob(&other_repo, l.digest.hex()));
    }
    // The mounted image is complete: it pulls.
    let (_b_dir, b) = new_store();
    let pulled = client
        .pull(&b, &other, &amd64())
        .await
        .expect("pull mounted");
    assert_eq!(pulled.record.manifest, image.manifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_right_wrong_and_missing_credentials() {
    let host = &shared().basic.host;
    let (_dir, store) = new_store();
    let image = small_image(&store);
    let repo = unique_repo("app");
    let target = reference(&format!("{host}/{repo}:v1"));

    let good_dir = tempfile::tempdir().expect("tempdir");
    let good = docker_config(good_dir.path(), host, SHARED_USER, SHARED_PASSWORD);
    let client_ok = client(Some(&good));
    let digest = client_ok
        .push(&store, &image, &target)
        .await
        .expect("push with credentials");
    assert_eq!(digest, image.manifest);
    let (_b_dir, b) = new_store();
    let pulled = client_ok
        .pull(&b, &target, &amd64())
        .await
        .expect("pull with credentials");
    assert_eq!(pulled.record.manifest, image.manifest);

    let bad_dir = tempfile::tempdir().expect("tempdir");
    let bad = docker_config(bad_dir.path(), host, SHARED_USER, "wrong");
    let (_c_dir, c) = new_store();
    let err = client(Some(&bad))
        .pull(&c, &target, &amd64())
        .await
        .expect_err("wrong password must fail");
    assert!(err.is_unauthorized(), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("unauthorized: wrong credentials for {host}")),
        "{msg}"
    );
    assert!(msg.contains(SHARED_USER), "{msg}");
    let err = client(Some(&bad))
        .push(&store, &image, &target)
        .await
        .expect_err("wrong password push must fail");
    assert!(err.is_unauthorized(), "{err:?}");

    let err = client(None)
        .pull(&c, &target, &amd64())
        .await
        .expect_err("anonymous must fail");
    assert!(
        err.to_string().starts_with(&format!(
            "unauthorized: authentication required for {host}/{repo}"
        )),
        "{err}"
    );
    assert!(
        c.image_get(&target.to_string())
            .expect("image_get")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tag_and_repository_are_clear_errors() {
    let repo = plain_repo("app");
    let (_dir, store) = new_store();
    let image = small_image(&store);
    let client = client(None);
    client
        .push(&store, &image, &reference(&format!("{repo}:v1")))
        .await
        .expect("push");
    let err = client
        .pull(&store, &reference(&format!("{repo}:nope")), &amd64())
        .await
        .expect_err("missing tag");
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.to_string(), format!("not found: tag nope in {repo}"));
    let err = client
        .pull(
            &store,
            &reference(&format!("{}:v1", plain_repo("ghost"))),
            &amd64(),
        )
        .await
        .expect_err("missing repository");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_is_selected_from_an_index() {
    let (_dir, store) = new_store();
    let amd = small_image(&store);
    let arm = seed_image(
        &store,
        &[&[("etc/arch", b"arm64\n")]],
        "linux/arm64",
        Compression::Gzip,
    );
    let client = client(None);
    let repo = plain_repo("multi");
    client
        .push(&store, &amd, &reference(&format!("{repo}:amd64")))
        .await
        .expect("push amd64");
    client
        .push(&store, &arm, &reference(&format!("{repo}:arm64")))
        .await
        .expect("push arm64");
    let entry = |img: &cairn_oci::AssembledImage, arch: &str| {
        serde_json::json!({
            "mediaType": cairn_oci::model::MEDIA_TYPE_MANIFEST,
            "digest": img.manifest.to_string(),
            "size": img.manifest_bytes.len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": cairn_oci::model::MEDIA_TYPE_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .expect("index json");
    let tagged = reference(&format!("{repo}:latest"));
    let index_digest = client
        .push_manifest(&tagged, &index, None)
        .await
        .expect("push index");
    assert_eq!(index_digest, OciDigest::of(&index));

    let (_b_dir, b) = new_store();
    let arm64 = cairn_ir::Platform::parse("linux/arm64").expect("platform");
    let pulled = client.pull(&b, &tagged, &arm64).await.expect("pull arm64");
    assert_eq!(pulled.record.manifest, arm.manifest);
    assert_eq!(pulled.platform, arm64);
    let by_digest = reference(&format!("{repo}@{index_digest}"));
    let pulled = client
        .pull(&b, &by_digest, &amd64())
        .await
        .expect("pull amd64");
    assert_eq!(pulled.record.manifest, amd.manifest);
    assert!(b.image_get(&by_digest.to_string()).expect("get").is_some());

    let s390x = cairn_ir::Platform::parse("linux/s390x").expect("platform");
    let err = client
        .pull(&b, &tagged, &s390x)
        .await
        .expect_err("no s390x");
    let msg = err.to_string();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err:?}");
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/amd64, linux/arm64"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_uncompressed_and_docker_media_types_pull() {
    let (_dir, store) = new_store();
    let client = client(None);
    let repo = plain_repo("kinds");
    for (tag, compression) in [("zstd", Compression::Zstd), ("plain", Compression::None)] {
        let img = seed_image(
            &store,
            &[&[("etc/kind", tag.as_bytes())]],
            AMD64,
            compression,
        );
        let target = reference(&format!("{repo}:{tag}"));
        client.push(&store, &img, &target).await.expect("push");
        let (_b_dir, b) = new_store();
        let pulled = client.pull(&b, &target, &amd64()).await.expect("pull");
        assert_eq!(pulled.record.manifest, img.manifest);
        let rec = b
            .layer(&pulled.record.layers[0])
            .expect("layer")
            .expect("record");
        assert_eq!(rec.blobs[0].compression, compression);
    }
    // The gzip image re-described with Docker v2 media types.
    let img = small_image(&store);
    client
        .push(&store, &img, &reference(&format!("{repo}:oci")))
        .await
        .expect("push");
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest_bytes).expect("json");
    m["mediaType"] = cairn_oci::model::MEDIA_TYPE_DOCKER_MANIFEST.into();
    m["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into();
    for l in m["layers"].as_array_mut().expect("layers") {
        l["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
    }
    let docker = serde_json::to_vec(&m).expect("json");
    let target = reference(&format!("{repo}:docker"));
    let digest = client
        .push_manifest(&target, &docker, None)
        .await
        .expect("push docker manifest");
    let (_b_dir, b) = new_store();
    let pulled = client
        .pull(&b, &target, &amd64())
        .await
        .expect("pull docker");
    assert_eq!(pulled.record.manifest, digest);
    let resolved = client.resolve(&target, &amd64()).await.expect("resolve");
    assert_eq!(
        resolved.media_type,
        cairn_oci::model::MEDIA_TYPE_DOCKER_MANIFEST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_is_rejected_and_not_stored() {
    // A private registry: the test rewrites bytes in its storage.
    let reg = TestRegistry::start(None);
    let (_dir, store) = new_store();
    let image = small_image(&store);
    let client = client(None);
    let target = reference(&format!("{}/app:v1", reg.host()));
    client.push(&store, &image, &target).await.expect("push");
    let victim = &image.layers[1].digest;
    let data = reg.blob_data(victim.hex());
    let mut bytes = std::fs::read(&data).expect("blob data");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).expect("tamper");

    let (_b_dir, b) = new_store();
    let err = client
        .pull(&b, &target, &amd64())
        .await
        .expect_err("tampered");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("blob {victim}")) && msg.contains("does not match its digest"),
        "{msg}"
    );
    assert!(!b.has_blob(victim));
    assert!(b.image_get(&target.to_string()).expect("get").is_none());
    assert_eq!(leftover_temp_blobs(&b), 0);
}

/// Temp blob files in the store's tmp/ (a half download would be one).
fn leftover_temp_blobs(store: &Store) -> usize {
    std::fs::read_dir(store.root().join("tmp"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("blob-"))
                .count()
        })
        .unwrap_or(0)
}

/// An image with one 1.5 MiB incompressible layer.
fn big_image(store: &Store) -> cairn_oci::AssembledImage {
    let big = noise(1536 * 1024, 7);
    seed_image(store, &[&[("big.bin", &big)]], AMD64, Compression::Gzip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_download_resumes_with_range() {
    let reg = &shared().plain;
    let repo = unique_repo("big");
    let (_dir, store) = new_store();
    let image = big_image(&store);
    let client = client(None);
    client
        .push(
            &store,
            &image,
            &reference(&format!("{}/{repo}:v1", reg.host)),
        )
        .await
        .expect("push");
    let layer = &image.layers[0];
    let proxy = CutProxy::start(reg.port(), layer.digest.as_ref(), 300 * 1024, false);
    let (_b_dir, b) = new_store();
    let pulled = client
        .pull(
            &b,
            &reference(&format!("{}/{repo}:v1", proxy.host())),
            &amd64(),
        )
        .await
        .expect("pull through a cut");
    assert_eq!(proxy.cuts(), 1, "the proxy cut the download");
    assert_eq!(pulled.record.manifest, image.manifest);
    // Resumed, not restarted: every byte came over the wire once.
    assert_eq!(
        pulled.downloaded_bytes,
        layer.size + image.config_bytes.len() as u64
    );
    assert!(b.has_blob(&layer.digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_gone_mid_pull_leaves_nothing_and_retry_succeeds() {
    // A private registry: the test stops and restarts it.
    let mut reg = TestRegistry::start(None);
    let (_dir, store) = new_store();
    let image = big_image(&store);
    let client = client(None);
    client
        .push(
            &store,
            &image,
            &reference(&format!("{}/big:v1", reg.host())),
        )
        .await
        .expect("push");
    let layer = &image.layers[0];
    let proxy = CutProxy::start(reg.port, layer.digest.as_ref(), 300 * 1024, true);
    let via_proxy = reference(&format!("{}/big:v1", proxy.host()));
    let (_b_dir, b) = new_store();
    let err = client
        .pull(&b, &via_proxy, &amd64())
        .await
        .expect_err("registry gone mid-download");
    assert_eq!(proxy.cuts(), 1);
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("downloading blob {}", layer.digest)),
        "{err}"
    );
    assert!(!b.has_blob(&layer.digest), "no half blob published");
    assert_eq!(leftover_temp_blobs(&b), 0, "no temp file left behind");
    assert!(b.image_get(&via_proxy.to_string()).expect("get").is_none());

    // The registry itself down: connection refused, reported after the retries.
    reg.stop();
    let direct = reference(&format!("{}/big:v1", reg.host()));
    let err = client
        .pull(&b, &direct, &amd64())
        .await
        .expect_err("registry down");
    assert!(
        err.to_string()
            .to_lowercase()
            .contains("connection refused"),
        "{err}"
    );

    // Back on the same port and storage: the pull goes through.
    reg.restart();
    proxy.revive();
    let pulled = client
        .pull(&b, &via_proxy, &amd64())
        .await
        .expect("pull after restart");
    assert_eq!(pulled.record.manifest, image.manifest);
    assert!(b.has_blob(&layer.digest));
    let pulled = client
        .pull(&b, &direct, &amd64())
        .await
        .expect("direct pull");
    assert_eq!(pulled.record.manifest, image.manifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_challenge_right_wrong_and_anonymous() {
    let host = &shared().bearer.host;
    let (_dir, store) = new_store();
    let image = small_image(&store);
    let target = reference(&format!("{host}/{}:v1", unique_repo("app")));
    let good_dir = tempfile::tempdir().expect("tempdir");
    let good = docker_config(good_dir.path(), host, SHARED_USER, SHARED_PASSWORD);

    // Anonymous callers get a token that opens nothing: no push.
    let err = client(None)
        .push(&store, &image, &target)
        .await
        .expect_err("anonymous push");
    assert!(matches!(err, Error::AuthRequired { .. }), "{err:?}");

    // With credentials: push (uploads through the token) and pull back.
    let report = client(Some(&good))
        .push_with_report(&store, &image, &target)
        .await
        .expect("push with a bearer token");
    assert_eq!(report.uploaded.len(), 3, "{report:?}");
    let (_b_dir, b) = new_store();
    let pulled = client(Some(&good))
        .pull(&b, &target, &amd64())
        .await
        .expect("pull with a bearer token");
    assert_eq!(pulled.record.manifest, image.manifest);

    let bad_dir = tempfile::tempdir().expect("tempdir");
    let bad = docker_config(bad_dir.path(), host, SHARED_USER, "nope");
    let (_c_dir, c) = new_store();
    let err = client(Some(&bad))
        .pull(&c, &target, &amd64())
        .await
        .expect_err("token service refuses wrong credentials");
    assert!(matches!(err, Error::WrongCredentials { .. }), "{err:?}");
    assert!(
        err.to_string().contains("invalid username or password"),
        "{err}"
    );

    let err = client(None)
        .pull(&c, &target, &amd64())
        .await
        .expect_err("anonymous token has no access");
    assert!(matches!(err, Error::AuthRequired { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_gone_mid_push_is_a_clear_error_and_a_retry_succeeds() {
    let reg = &shared().plain;
    let repo = unique_repo("big");
    let (_dir, store) = new_store();
    let image = big_image(&store);
    let layer = image.layers[0].clone();
    let proxy = CutProxy::start_upload_cut(reg.port(), 256 * 1024);
    let client = client(None);
    let target = reference(&format!("{}/{repo}:v1", proxy.host()));
    let err = client
        .push(&store, &image, &target)
        .await
        .expect_err("registry gone mid-upload");
    assert_eq!(proxy.cuts(), 1, "the proxy cut an upload");
    let msg = err.to_string();
    assert!(
        msg.contains(&proxy.host()),
        "the error names the registry: {msg}"
    );
    // Nothing local was harmed: every blob of the image still verifies.
    store.verify_blob(&layer.digest).expect("layer intact");
    store.verify_blob(&image.config).expect("config intact");
    // The registry is back: the same push succeeds, and the image reads back whole.
    proxy.revive();
    let digest = client.push(&store, &image, &target).await.expect("retry");
    assert_eq!(digest, image.manifest);
    let (_b_dir, b) = new_store();
    let pulled = client
        .pull(&b, &reference(&format!("{}/{repo}:v1", reg.host)), &amd64())
        .await
        .expect("pull back");
    assert_eq!(pulled.record.manifest, image.manifest);
}

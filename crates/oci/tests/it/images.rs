//! Image config JSON, assembly, archive export and import.
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]

use crate::util::*;
use cairn_ir::image::{HealthConfig, History};
use cairn_ir::{ImageConfig, Platform};
use cairn_oci::model::{ImageConfigFile, Manifest};
use cairn_oci::{
    ImageSpec, assemble_image, content_digest, image_config, import_archive, import_rootfs,
    to_config_file, write_docker_archive, write_oci_archive,
};
use cairn_store::{Compression, Store};
use std::collections::BTreeMap;

fn full_config() -> ImageConfig {
    ImageConfig {
        user: Some("app".into()),
        exposed_ports: ["80".into(), "53/udp".into()].into(),
        env: vec!["PATH=/usr/bin:/bin".into(), "A=1".into()],
        entrypoint: Some(vec!["/entry".into()]),
        cmd: Some(vec!["serve".into(), "--port=80".into()]),
        volumes: ["/data".into()].into(),
        working_dir: Some("/srv".into()),
        labels: BTreeMap::from([("org.example".into(), "yes".into())]),
        stop_signal: Some("SIGTERM".into()),
        healthcheck: Some(HealthConfig {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()],
            interval: 30_000_000_000,
            timeout: 5_000_000_000,
            start_period: 1_000_000_000,
            start_interval: 2_000_000_000,
            retries: 3,
        }),
        shell: Some(vec!["/bin/bash".into(), "-c".into()]),
        on_build: vec!["RUN echo hi".into()],
        author: Some("me@example.com".into()),
        args_escaped: true,
        history: vec![
            History {
                created: Some("2024-01-02T03:04:05Z".into()),
                created_by: "COPY . / # buildkit".into(),
                comment: Some("buildkit.dockerfile.v0".into()),
                empty_layer: false,
            },
            History {
                created: Some("2024-01-02T03:04:05Z".into()),
                created_by: "CMD [\"serve\"]".into(),
                comment: None,
                empty_layer: true,
            },
        ],
    }
}

#[test]
fn config_json_golden() -> TestResult {
    let file = to_config_file(
        &full_config(),
        &Platform::parse("linux/arm64/v8").ok_or("platform")?,
        Some("2024-01-02T03:04:05Z".into()),
        vec![format!("sha256:{}", "a".repeat(64))],
    );
    let json = serde_json::to_string(&file)?;
    let expected = concat!(
        r#"{"created":"2024-01-02T03:04:05Z","author":"me@example.com","architecture":"arm64","variant":"v8","os":"linux","#,
        r#""config":{"User":"app","ExposedPorts":{"53/udp":{},"80/tcp":{}},"Env":["PATH=/usr/bin:/bin","A=1"],"#,
        r#""Entrypoint":["/entry"],"Cmd":["serve","--port=80"],"Volumes":{"/data":{}},"WorkingDir":"/srv","#,
        r#""Labels":{"org.example":"yes"},"StopSignal":"SIGTERM","ArgsEscaped":true,"#,
        r#""Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":1000000000,"StartInterval":2000000000,"Retries":3},"#,
        r#""OnBuild":["RUN echo hi"],"Shell":["/bin/bash","-c"]},"#,
        r#""rootfs":{"type":"layers","diff_ids":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]},"#,
        r#""history":[{"created":"2024-01-02T03:04:05Z","created_by":"COPY . / # buildkit","comment":"buildkit.dockerfile.v0"},"#,
        r#"{"created":"2024-01-02T03:04:05Z","created_by":"CMD [\"serve\"]","empty_layer":true}]}"#
    );
    assert_eq!(json, expected);
    // And back.
    let parsed: ImageConfigFile = serde_json::from_str(&json)?;
    let (cfg, platform) = cairn_oci::from_config_file(&parsed);
    let mut want = full_config();
    want.exposed_ports = ["53/udp".into(), "80/tcp".into()].into();
    assert_eq!(cfg, want);
    assert_eq!(platform.to_string(), "linux/arm64/v8");
    Ok(())
}

#[test]
fn empty_config_omits_everything_optional() -> TestResult {
    let file = to_config_file(
        &ImageConfig::default(),
        &Platform::linux_amd64(),
        None,
        vec![],
    );
    assert_eq!(
        serde_json::to_string(&file)?,
        r#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#
    );
    Ok(())
}

#[test]
fn docker_style_nulls_parse() -> TestResult {
    let json = r#"{"architecture":"amd64","os":"linux","config":{"Hostname":"","User":"","Env":null,
        "Cmd":["sh"],"Entrypoint":null,"OnBuild":null,"Labels":null,"Volumes":null,"ExposedPorts":null,
        "Image":"sha256:x","WorkingDir":""},"container_config":{},"created":"2023-01-01T00:00:00.123Z",
        "docker_version":"24","history":[{"created":"2023-01-01T00:00:00Z","created_by":"/bin/sh"}],
        "rootfs":{"type":"layers","diff_ids":[]}}"#;
    let parsed: ImageConfigFile = serde_json::from_str(json)?;
    let (cfg, _) = cairn_oci::from_config_file(&parsed);
    assert_eq!(cfg.cmd, Some(vec!["sh".to_string()]));
    assert!(cfg.env.is_empty() && cfg.entrypoint.is_none() && cfg.user.is_none());
    assert_eq!(cfg.history.len(), 1);
    Ok(())
}

fn spec(store: &Store) -> ImageSpec {
    let base = make_layer(store, |root| {
        write(root, "etc/os-release", b"ID=test\n");
        write(root, "bin/sh", b"#!fake");
        chmod(&root.join("bin/sh"), 0o755);
    });
    let top = make_layer(store, |root| {
        write(root, "app/main", b"main");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        whiteout(root, "etc/os-release");
    });
    let mut config = full_config();
    config.history.insert(
        0,
        History {
            created: None,
            created_by: "base".into(),
            comment: None,
            empty_layer: false,
        },
    );
    ImageSpec {
        platform: Platform::linux_amd64(),
        config,
        layers: vec![base, top],
        epoch: Some(1_700_000_000),
        base_layers: 2,
    }
}

#[test]
fn assembly_is_deterministic() -> TestResult {
    let mut results = Vec::new();
    for _ in 0..2 {
        let t = tempfile::tempdir()?;
        let store = Store::open(t.path())?;
        let img = assemble_image(&store, &spec(&store), Compression::Gzip)?;
        let manifest: Manifest = serde_json::from_slice(&store.read_blob(&img.manifest)?)?;
        assert_eq!(
            manifest.media_type.as_deref(),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(
            manifest.config.media_type,
            "application/vnd.oci.image.config.v1+json"
        );
        assert!(
            manifest
                .layers
                .iter()
                .all(|l| l.media_type == "application/vnd.oci.image.layer.v1.tar+gzip")
        );
        let config: serde_json::Value = serde_json::from_slice(&img.config_bytes)?;
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().map(Vec::len),
            Some(2)
        );
        results.push((img.manifest, img.config));
    }
    assert_eq!(results[0], results[1]);
    Ok(())
}

#[test]
fn docker_archive_round_trip() -> TestResult {
    let a = tempfile::tempdir()?;
    let store_a = Store::open(a.path())?;
    let spec = spec(&store_a);
    let img = assemble_image(&store_a, &spec, Compression::Zstd)?;
    let archive = a.path().join("image.tar");
    let names = vec!["example/app:1".to_string(), "app".to_string()];
    write_docker_archive(&store_a, &img, &names, std::fs::File::create(&archive)?)?;

    let listing = tar_listing(&std::fs::read(&archive)?);
    assert!(listing.contains(&"manifest.json".to_string()));
    assert!(listing.contains(&"index.json".to_string()));
    assert!(listing.contains(&format!("blobs/sha256/{}", img.config.hex())));
    let manifest_json: serde_json::Value = {
        let mut ar = tar::Archive::new(std::fs::File::open(&archive)?);
        let mut found = None;
        for e in ar.entries()? {
            let mut e = e?;
            if &*e.path_bytes() == b"manifest.json" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s)?;
                found = Some(serde_json::from_str(&s)?);
            }
        }
        found.ok_or("manifest.json")?
    };
    assert_eq!(
        manifest_json[0]["RepoTags"],
        serde_json::json!(["example/app:1", "app:latest"])
    );
    assert_eq!(
        manifest_json[0]["Config"],
        format!("blobs/sha256/{}", img.config.hex())
    );
    assert_eq!(manifest_json[0]["Layers"].as_array().map(Vec::len), Some(2));

    let b = tempfile::tempdir()?;
    let store_b = Store::open(b.path())?;
    let imported = import_archive(&store_b, &archive)?;
    assert_eq!(imported.len(), 1);
    let got = &imported[0];
    assert_eq!(got.record.layers, spec.layers, "same layer content digests");
    assert_eq!(
        got.record.manifest, img.manifest,
        "the archive's manifest is kept"
    );
    assert_eq!(got.record.config, img.config);
    assert_eq!(
        got.names,
        ["docker.io/example/app:1", "docker.io/library/app:latest"]
    );
    assert_eq!(
        store_b.image_get(&got.names[0])?,
        Some(cairn_store::NamedImage::single(got.record.clone()))
    );
    for id in &spec.layers {
        assert_eq!(content_digest(&store_b.layer_dir(id))?, *id);
        let rec = store_b.layer(id)?.ok_or("layer record")?;
        assert_eq!(rec.blobs[0].compression, Compression::Zstd);
    }
    let (config, platform) = image_config(&store_b, &got.record)?;
    let mut want = spec.config.clone();
    want.exposed_ports = ["53/udp".into(), "80/tcp".into()].into();
    // The entry the build added is stamped with SOURCE_DATE_EPOCH.
    for h in want.history.iter_mut().filter(|h| h.created.is_none()) {
        h.created = Some("2023-11-14T22:13:20Z".into());
    }
    assert_eq!(config, want);
    assert_eq!(got.config, want);
    assert_eq!(platform, Platform::linux_amd64());
    Ok(())
}

#[test]
fn legacy_docker_archive_imports() -> TestResult {
    // Docker < 25 layout: <hex>.json config, <dir>/layer.tar uncompressed, no index.json.
    let a = tempfile::tempdir()?;
    let store_a = Store::open(a.path())?;
    let spec = spec(&store_a);
    let img = assemble_image(&store_a, &spec, Compression::None)?;
    let archive = a.path().join("legacy.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive)?);
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data)
    };
    let mut layers = Vec::new();
    for (i, l) in img.layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        add(&name, &std::fs::read(store_a.blob_path(&l.digest))?)?;
        layers.push(name);
    }
    let config_name = format!("{}.json", img.config.hex());
    add(&config_name, &img.config_bytes)?;
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": ["legacy:v1"], "Layers": layers}]);
    add("manifest.json", manifest.to_string().as_bytes())?;
    b.into_inner()?;

    let t = tempfile::tempdir()?;
    let store_b = Store::open(t.path())?;
    let imported = import_archive(&store_b, &archive)?;
    assert_eq!(imported[0].names, ["docker.io/library/legacy:v1"]);
    assert_eq!(imported[0].record.layers, spec.layers);
    assert!(store_b.has_blob(&imported[0].record.manifest));
    Ok(())
}

#[test]
fn oci_archive_round_trip_as_tar_and_directory() -> TestResult {
    let a = tempfile::tempdir()?;
    let store_a = Store::open(a.path())?;
    let spec = spec(&store_a);
    let img = assemble_image(&store_a, &spec, Compression::Gzip)?;
    let archive = a.path().join("oci.tar");
    write_oci_archive(
        &store_a,
        &img,
        &["ghcr.io/o/r:t".into()],
        std::fs::File::create(&archive)?,
    )?;
    let listing = tar_listing(&std::fs::read(&archive)?);
    assert!(listing.contains(&"oci-layout".to_string()));
    assert!(!listing.contains(&"manifest.json".to_string()));

    // As a tar.
    let b = tempfile::tempdir()?;
    let store_b = Store::open(b.path())?;
    let imported = import_archive(&store_b, &archive)?;
    assert_eq!(imported[0].names, ["ghcr.io/o/r:t"]);
    assert_eq!(imported[0].record.layers, spec.layers);

    // As an unpacked directory.
    let dir = a.path().join("oci-dir");
    std::fs::create_dir(&dir)?;
    tar::Archive::new(std::fs::File::open(&archive)?).unpack(&dir)?;
    let c = tempfile::tempdir()?;
    let store_c = Store::open(c.path())?;
    let imported = import_archive(&store_c, &dir)?;
    assert_eq!(imported[0].record.manifest, img.manifest);
    Ok(())
}

#[test]
fn tampered_blob_is_rejected() -> TestResult {
    let a = tempfile::tempdir()?;
    let store_a = Store::open(a.path())?;
    let img = assemble_image(&store_a, &spec(&store_a), Compression::Gzip)?;
    let dir = a.path().join("oci-dir");
    let archive = a.path().join("oci.tar");
    write_oci_archive(&store_a, &img, &[], std::fs::File::create(&archive)?)?;
    std::fs::create_dir(&dir)?;
    tar::Archive::new(std::fs::File::open(&archive)?).unpack(&dir)?;
    let victim = dir.join("blobs/sha256").join(img.layers[1].digest.hex());
    let mut bytes = std::fs::read(&victim)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes)?;
    let b = tempfile::tempdir()?;
    let err = import_archive(&Store::open(b.path())?, &dir)
        .err()
        .ok_or("accepted")?;
    assert!(err.to_string().contains("digest"), "{err}");
    Ok(())
}

#[test]
fn import_rootfs_from_dir_and_tarball() -> TestResult {
    let t = tempfile::tempdir()?;
    let store = Store::open(&t.path().join("store"))?;
    let rootfs = t.path().join("rootfs");
    write(&rootfs, "bin/sh", b"sh");
    write(&rootfs, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
    let img = import_rootfs(&store, &rootfs, "myroot")?;
    assert_eq!(img.names, ["docker.io/library/myroot:latest"]);
    assert_eq!(img.config.env_get("PATH"), Some(cairn_oci::DEFAULT_PATH));
    let (config, _) = image_config(&store, &img.record)?;
    assert_eq!(config.env, img.config.env);
    let id = &img.record.layers[0];
    assert_eq!(
        content_digest(&store.layer_dir(id))?,
        content_digest(&rootfs)?
    );

    let tarball = t.path().join("rootfs.tar");
    std::fs::write(
        &tarball,
        cairn_oci::write_layer_tar(&rootfs, Vec::new(), None)?,
    )?;
    let img2 = import_rootfs(&store, &tarball, "other:2")?;
    assert_eq!(img2.record.layers, img.record.layers);
    assert_eq!(
        store.image_get("docker.io/library/other:2")?,
        Some(cairn_store::NamedImage::single(img2.record))
    );
    Ok(())
}

#[test]
fn in_store_image_reassembles_with_the_same_config_for_export() -> TestResult {
    let t = tempfile::tempdir()?;
    let store = Store::open(t.path())?;
    let spec = spec(&store);
    // `cairn build -t`: nothing compressed, layers only hashed.
    let kept = cairn_oci::assemble_image_in_store(&store, &spec)?;
    assert!(kept.layers.iter().all(|l| !store.has_blob(&l.digest)));
    let rec = cairn_store::ImageRecord {
        manifest: kept.manifest.clone(),
        config: kept.config.clone(),
        layers: spec.layers.clone(),
    };
    // A later export or push: same config (image id), real gzip blobs.
    let exported = cairn_oci::assemble_from_record(&store, &rec, Compression::Gzip)?;
    assert_eq!(exported.config, kept.config);
    assert!(exported.layers.iter().all(|l| store.has_blob(&l.digest)));
    assert_eq!(exported, assemble_image(&store, &spec, Compression::Gzip)?);
    Ok(())
}

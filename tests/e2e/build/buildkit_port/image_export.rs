//! BuildKit's `dockerfile_image_test.go` and `dockerfile_export_test.go`: images without
//! layers, the config of `FROM scratch`, OCI layouts with several names, tar exports and tar
//! contexts, and the multi-platform exports (`FROM scratch`: no step needs an emulator).

use super::super::fixture::{Env, context, out_dir};
use super::built_config;

#[test]
fn an_image_without_layers_is_a_base() {
    // testPullScratch (its Dockerfile half).
    let env = Env::new();
    built_config(
        &env,
        &[("Dockerfile", "FROM scratch\nLABEL foo=bar\n")],
        &["-t", "docker.io/moby/testpullscratch:latest"],
    );
    let img = built_config(
        &env,
        &[
            (
                "Dockerfile",
                "FROM docker.io/moby/testpullscratch:latest\nLABEL bar=baz\nCOPY foo .\n",
            ),
            ("foo", "foo-contents"),
        ],
        &[],
    );
    assert_eq!(img["rootfs"]["type"], "layers");
    assert_eq!(img["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(1));
    assert_eq!(img["config"]["Labels"]["foo"], "bar");
    assert_eq!(img["config"]["Labels"]["bar"], "baz");
}

#[test]
fn scratch_config_has_os_arch_workdir_and_path() {
    // testDockerfileScratchConfig.
    let env = Env::new();
    let img = built_config(&env, &[("Dockerfile", "FROM scratch\nENV foo=bar\n")], &[]);
    assert!(!img["os"].as_str().unwrap_or_default().is_empty());
    assert!(!img["architecture"].as_str().unwrap_or_default().is_empty());
    assert!(
        !img["config"]["WorkingDir"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{img}"
    );
    assert_eq!(img["rootfs"]["type"], "layers");
    assert_eq!(
        img["rootfs"]["diff_ids"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0),
        0
    );
    let history = img["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 1);
    assert!(
        history[0]["created_by"]
            .as_str()
            .unwrap_or_default()
            .contains("ENV foo=bar")
    );
    assert_eq!(history[0]["empty_layer"], true);
    let env_list: Vec<&str> = img["config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env_list.contains(&"foo=bar"), "{env_list:?}");
    assert!(
        env_list.iter().any(|e| e.starts_with("PATH=")),
        "{env_list:?}"
    );
}

/// Check an OCI index of one image under the names `tag1` and `tag2`.
fn check_two_names(index: &serde_json::Value) {
    let m = index["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(m.len(), 2, "{index}");
    for k in ["digest", "platform", "mediaType", "size"] {
        assert_eq!(m[0][k], m[1][k], "{k}");
    }
    assert_eq!(
        m[0]["annotations"]["io.containerd.image.name"],
        "docker.io/org/repo:tag1"
    );
    assert_eq!(
        m[1]["annotations"]["io.containerd.image.name"],
        "docker.io/org/repo:tag2"
    );
    assert_eq!(
        m[0]["annotations"]["org.opencontainers.image.ref.name"],
        "tag1"
    );
    assert_eq!(
        m[1]["annotations"]["org.opencontainers.image.ref.name"],
        "tag2"
    );
}

#[test]
fn an_oci_layout_with_several_names() {
    // testOCILayoutMultiname.
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM scratch\nCOPY <<EOF /foo\nhello\nEOF\n")]);
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    env.build_ok(
        c.path(),
        &[&format!(
            "--output=type=oci,tar=false,dest={},\"name=org/repo:tag1,org/repo:tag2\"",
            dir.display()
        )],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index"))
            .expect("json");
    check_two_names(&index);
    let tar_path = t.path().join("o.tar");
    env.build_ok(
        c.path(),
        &[&format!(
            "--output=type=oci,dest={},\"name=org/repo:tag1,org/repo:tag2\"",
            tar_path.display()
        )],
    );
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).expect("open"));
    let mut index = None;
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy() == "index.json" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            index = Some(serde_json::from_str::<serde_json::Value>(&s).expect("json"));
        }
    }
    check_two_names(&index.expect("index.json in the tar"));
}

/// The entries of the tar at `path`: (name, content).
fn tar_entries(path: &std::path::Path) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).expect("open"));
    let mut out = Vec::new();
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut e, &mut s);
        out.push((name, s));
    }
    out
}

#[test]
fn tar_exports_of_a_stage_picked_by_targetos() {
    // testTarExporterBasic, and testTarExporterMulti's single-platform half.
    let env = Env::new();
    let t = tempfile::tempdir().expect("tmp");
    for (dockerfile, name, content) in [
        ("FROM scratch\nCOPY foo foo\n", "foo", "data"),
        (
            "FROM scratch AS stage-linux\nCOPY foo forlinux\nFROM scratch AS stage-darwin\nCOPY bar fordarwin\nFROM stage-$TARGETOS\n",
            "forlinux",
            "data",
        ),
    ] {
        let c = context(&[
            ("Dockerfile", dockerfile),
            ("foo", "data"),
            ("bar", "data2"),
        ]);
        let out = t.path().join("o.tar");
        env.build_ok(
            c.path(),
            &[&format!("--output=type=tar,dest={}", out.display())],
        );
        let entries = tar_entries(&out);
        assert!(
            entries.iter().any(|(n, c)| n == name && c == content),
            "{entries:?}"
        );
    }
}

#[test]
fn a_tar_context_on_stdin() {
    // testTarContext (BuildKit's upload provider is `docker build -` here).
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("Dockerfile", "FROM busybox\nCOPY foo /\n"),
        ("foo", "contents"),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).expect("path");
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append(&h, data.as_bytes()).expect("append");
    }
    let tar = tar.into_inner().expect("tar");
    let env = Env::new();
    let (_t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    let o = super::super::ci_flags::build_stdin(&env, &[&dest], &tar);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("foo")).expect("foo"),
        "contents"
    );
}

#[test]
fn a_multi_platform_tar_export_has_a_directory_per_platform() {
    // testTarExporterMulti's multi-platform half.
    let env = Env::new();
    let t = tempfile::tempdir().expect("tmp");
    let c = context(&[
        (
            "Dockerfile",
            "FROM scratch AS stage-linux\nCOPY foo forlinux\nFROM scratch AS stage-darwin\nCOPY bar fordarwin\nFROM stage-$TARGETOS\n",
        ),
        ("foo", "data"),
        ("bar", "data2"),
    ]);
    let out = t.path().join("o.tar");
    env.build_ok(
        c.path(),
        &[
            "--platform",
            "linux/amd64,darwin/amd64",
            &format!("--output=type=tar,dest={}", out.display()),
        ],
    );
    let entries = tar_entries(&out);
    for (name, content) in [
        ("linux_amd64/forlinux", "data"),
        ("darwin_amd64/fordarwin", "data2"),
    ] {
        assert!(
            entries.iter().any(|(n, c)| n == name && c == content),
            "{name}: {entries:?}"
        );
    }
}

#[test]
fn export_multi_platform() {
    // testExportMultiPlatform: a local export per platform (`linux/arm` is `linux/arm/v7`),
    // then an OCI archive whose index names an index of the three images, in order, each with
    // its platform, one layer, its config's os and architecture, and its label.
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM scratch\nARG TARGETARCH\nARG TARGETPLATFORM\nLABEL target=$TARGETPLATFORM\nCOPY arch-$TARGETARCH whoami\n",
        ),
        ("arch-arm", "i am arm"),
        ("arch-amd64", "i am amd64"),
        ("arch-s390x", "i am s390x"),
        ("arch-ppc64le", "i am ppc64le"),
    ]);
    let (_o, out) = out_dir();
    env.build_ok(
        c.path(),
        &[
            "--platform",
            "windows/amd64,linux/arm,linux/s390x",
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    for (dir, want) in [
        ("windows_amd64", "i am amd64"),
        ("linux_arm_v7", "i am arm"),
        ("linux_s390x", "i am s390x"),
    ] {
        let got = std::fs::read_to_string(out.join(dir).join("whoami"))
            .unwrap_or_else(|e| panic!("{dir}/whoami: {e}"));
        assert_eq!(got, want, "{dir}");
    }

    let t = tempfile::tempdir().expect("tmp");
    let tar_path = t.path().join("out.tar");
    env.build_ok(
        c.path(),
        &[
            "--platform",
            "windows/amd64,linux/arm/v6,linux/ppc64le",
            &format!("--output=type=oci,dest={}", tar_path.display()),
        ],
    );
    let mut files: std::collections::HashMap<String, Vec<u8>> = Default::default();
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).expect("open"));
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        files.insert(name, data);
    }
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_slice(files.get(name).unwrap_or_else(|| panic!("{name} missing")))
            .expect("json")
    };
    let blob = |d: &serde_json::Value| {
        format!(
            "blobs/sha256/{}",
            d.as_str().expect("digest").trim_start_matches("sha256:")
        )
    };
    let top = json("index.json");
    let index = json(&blob(&top["manifests"][0]["digest"]));
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 3, "{index}");
    for (m, (p, os, arch, data)) in manifests.iter().zip([
        ("windows/amd64", "windows", "amd64", "i am amd64"),
        ("linux/arm/v6", "linux", "arm", "i am arm"),
        ("linux/ppc64le", "linux", "ppc64le", "i am ppc64le"),
    ]) {
        let platform = &m["platform"];
        let mut shown = format!(
            "{}/{}",
            platform["os"].as_str().unwrap_or(""),
            platform["architecture"].as_str().unwrap_or("")
        );
        if let Some(v) = platform["variant"].as_str() {
            shown = format!("{shown}/{v}");
        }
        assert_eq!(shown, p);
        let manifest = json(&blob(&m["digest"]));
        let layers = manifest["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 1, "{p}");
        let layer = files.get(&blob(&layers[0]["digest"])).expect("layer blob");
        let mut unpacked = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
        let mut whoami = String::new();
        for e in unpacked.entries().expect("layer entries") {
            let mut e = e.expect("entry");
            if e.path()
                .expect("path")
                .to_string_lossy()
                .trim_start_matches("./")
                == "whoami"
            {
                std::io::Read::read_to_string(&mut e, &mut whoami).expect("read");
            }
        }
        assert_eq!(whoami, data, "{p}");
        let config = json(&blob(&manifest["config"]["digest"]));
        assert_eq!(
            (config["os"].as_str(), config["architecture"].as_str()),
            (Some(os), Some(arch))
        );
        assert_eq!(config["config"]["Labels"]["target"], p);
    }
}

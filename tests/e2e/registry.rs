//! Registries on loopback (Debian's `docker-registry`: the shared one the test command starts,
//! a private one where a test kills it): push with `cairn build --push`, pull into a fresh
//! store, FROM a registry image, and what real clients (docker, skopeo) make of what cairn
//! pushed.

use crate::build::fixture::{Env, busybox_rootfs, context, out_dir};
use crate::util::cairn;

fn cairn_std() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}
use crate::util::run;
use cairn_testkit::{TestRegistry, shared, unique_repo};
use std::path::Path;
use std::process::Command;

/// `<shared plain registry>/<a repository name of this test's own>`.
fn repo(name: &str) -> String {
    format!("{}/{}", shared().plain.host, unique_repo(name))
}

/// Push the test's busybox base to `<registry>/<repo>:latest` using cairn's own push.
fn seed_busybox(env: &Env, registry: &str) -> String {
    let name = format!("{registry}/{}:latest", unique_repo("library/busybox"));
    run(cairn_std()
        .args(["import", "--root"])
        .arg(env.root())
        .arg(busybox_rootfs())
        .arg(&name));
    run(cairn_std()
        .args(["push", "--root"])
        .arg(env.root())
        .arg(&name));
    name
}

#[test]
fn build_from_a_registry_image_push_and_pull_back() {
    let seeder = Env::new();
    let base = seed_busybox(&seeder, &shared().plain.host);

    // A fresh store pulls its base during the build, then pushes the result.
    let env = Env::empty();
    let df = format!("FROM {base}\nRUN echo pushed-by-cairn > /hello\nCMD [\"cat\", \"/hello\"]\n");
    let c = context(&[("Dockerfile", &df)]);
    let tag = format!("{}:v1", repo("app/hello"));
    let meta = tempfile::NamedTempFile::new().expect("tmp");
    env.build_ok(
        c.path(),
        &[
            "-t",
            &tag,
            "--push",
            "--metadata-file",
            &meta.path().to_string_lossy(),
        ],
    );
    let md: serde_json::Value =
        serde_json::from_slice(&std::fs::read(meta.path()).expect("metadata")).expect("json");
    let digest = md["containerimage.digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert!(digest.starts_with("sha256:"), "{md}");

    // A second build uses the stored base: no registry round trip needed, even if it is gone.
    let again = env.build_ok(c.path(), &["-t", &tag]);
    assert!(again.ran().is_empty());

    // Pull into a third store: same digest, same files.
    let third = Env::empty();
    run(cairn_std()
        .args(["pull", "--root"])
        .arg(third.root())
        .arg(&tag));
    let (_t, out) = out_dir();
    let df2 = format!("FROM {tag}\n");
    let c2 = context(&[("Dockerfile", &df2)]);
    third.build_ok(
        c2.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("hello")).expect("hello"),
        "pushed-by-cairn\n"
    );

    // Real clients: skopeo inspects it, docker pulls and runs it.
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{tag}")));
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo json");
    assert_eq!(v["Digest"].as_str(), Some(digest.as_str()));
    run(Command::new("/usr/bin/docker").args(["pull", &tag]));
    let stdout = run(Command::new("/usr/bin/docker").args(["run", "--rm", "--network=host", &tag]));
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &tag])
        .output();
    assert_eq!(stdout, "pushed-by-cairn\n");
}

#[test]
fn second_push_uploads_nothing_and_a_dead_registry_is_a_clear_error() {
    // A private registry: the test kills it.
    let reg = TestRegistry::start(None);
    let env = Env::new();
    let name = seed_busybox(&env, &reg.host());
    // Pushing again succeeds (every blob already there).
    run(cairn_std()
        .args(["push", "--root"])
        .arg(env.root())
        .arg(&name));
    let addr = reg.host();
    drop(reg);
    let out = cairn()
        .args(["push", "--root"])
        .arg(env.root())
        .arg(&name)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&addr) || err.to_lowercase().contains("connect"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cache_round_trip_through_a_registry_runs_nothing_on_a_fresh_store() {
    let df = "FROM busybox AS gen\nRUN echo generated > /g\nFROM busybox\nCOPY --from=gen /g /g\nRUN cat /g > /h\n";
    let c = context(&[("Dockerfile", df)]);
    let cache_ref = format!("{}:buildcache", repo("cache/app"));
    let (t, out_a) = out_dir();
    let out_b = t.path().join("b.tar");
    let build = |env: &Env, args: &[String]| {
        let out = cairn_std()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "--progress=json", "--root"])
            .arg(env.root())
            .args(args)
            .arg(c.path())
            .output()
            .expect("run");
        let b = crate::build::fixture::Build::from(out);
        assert!(b.success, "{}", b.stderr);
        b
    };
    let first = Env::new();
    let a = build(
        &first,
        &[
            format!("--cache-to=type=registry,ref={cache_ref},mode=max"),
            format!("--output=type=oci,dest={}", out_a.display()),
        ],
    );
    assert_eq!(a.ran().len(), 3);
    let second = Env::new();
    let b = build(
        &second,
        &[
            format!("--cache-from=type=registry,ref={cache_ref}"),
            format!("--output=type=oci,dest={}", out_b.display()),
        ],
    );
    assert!(b.ran().is_empty(), "ran: {:?}", b.ran());
    let digest = |p: &Path| {
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(p)
            .arg("index.json")
            .output()
            .expect("tar");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("index.json");
        v["manifests"][0]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(digest(&out_a), digest(&out_b));
}

#[test]
fn a_built_image_on_an_imported_base_pushes() {
    // The base layer's blob was made at import time (timestamps clamped to the import's
    // SOURCE_DATE_EPOCH); the built image must describe it with that same blob.
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo x > /x\n")]);
    let tag = format!("{}:1", repo("app/on-imported"));
    env.build_ok(c.path(), &["-t", &tag]);
    run(cairn_std()
        .args(["push", "--root"])
        .arg(env.root())
        .arg(&tag));
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{tag}")));
    assert!(inspect.contains("\"Layers\""), "{inspect}");
}

/// `--compression zstd --push` pushes zstd layers (as buildx's `compression=zstd`); a plain
/// `cairn push` keeps gzip.
#[test]
fn a_build_pushes_with_the_compression_it_was_given() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo zstd > /x\n")]);
    let tag = format!("{}:1", repo("app/zstd"));
    env.build_ok(c.path(), &["-t", &tag, "--compression", "zstd", "--push"]);
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{tag}")));
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("manifest json");
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["mediaType"].as_str())
        .collect();
    assert!(!types.is_empty(), "{manifest}");
    assert!(types.iter().all(|t| t.ends_with("+zstd")), "{types:?}");
    let gz = format!("{}:2", repo("app/zstd"));
    run(cairn_std()
        .args(["tag", "--root"])
        .arg(env.root())
        .args([tag.as_str(), gz.as_str()]));
    run(cairn_std()
        .args(["push", "--root"])
        .arg(env.root())
        .arg(&gz));
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{gz}")));
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("manifest json");
    assert!(
        manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .all(|l| l["mediaType"]
                .as_str()
                .is_some_and(|t| t.ends_with("+gzip"))),
        "{manifest}"
    );
}

#[test]
fn a_registry_that_never_answers_fails_within_the_deadline() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let root = tempfile::tempdir().expect("tempdir");
    let start = std::time::Instant::now();
    let out = cairn()
        .args(["pull", "--registry-timeout", "6", "--root"])
        .arg(root.path())
        .arg(format!("127.0.0.1:{port}/silent/app:1"))
        .output()
        .expect("run");
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The deadline given is the whole time spent (plus process start-up), not one attempt's:
    // 6 s asked, far from the 10 minutes it once took.
    assert!(
        took < std::time::Duration::from_secs(6 + 3),
        "gave up after {took:?}: {err}"
    );
}

#[test]
fn a_damaged_blob_is_never_pushed() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN echo pushed > /x\n")]);
    let tag = format!("{}:1", repo("app/damaged"));
    let d = tempfile::tempdir().expect("tempdir");
    // An export makes the gzip blobs a push sends.
    env.build_ok(
        c.path(),
        &[
            "-t",
            &tag,
            &format!(
                "--output=type=docker,dest={}",
                d.path().join("i.tar").display()
            ),
        ],
    );
    let store = cairn_store::Store::open(env.root()).expect("store");
    let full = cairn_ir::Reference::parse(&tag).expect("tag").to_string();
    let rec = store
        .image_get(&full)
        .expect("read")
        .expect("tagged")
        .only()
        .cloned()
        .expect("one image");
    let top = rec.layers.last().expect("top").clone();
    let blob = crate::build::fixture::gzip_blob_of(&store, &top);
    let path = store.blob_path(&blob.digest);
    let mut bytes = std::fs::read(&path).expect("blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let out = cairn_std()
        .args(["push", "--root"])
        .arg(env.root())
        .arg(&tag)
        .output()
        .expect("push");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("blob {} in the store is damaged", blob.digest)),
        "{err}"
    );
    assert!(err.contains("cairn check --repair"), "{err}");
}

/// A registry on 127.0.0.1 whose `/v2/` is open and whose every manifest answer is 200 with
/// `head` and then `body` (`None`: spaces, chunked, for as long as anyone reads).
fn manifest_server(head: &'static str) -> u16 {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut w = &stream;
                if first.starts_with("GET /v2/ ") {
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                while w.write_all(chunk.as_bytes()).is_ok() {}
            });
        }
    });
    port
}

/// Run `cmd`, killed (and the test failed) if it takes over two minutes.
fn bounded(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("still running after two minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn an_endless_or_huge_manifest_is_refused_in_bounded_memory() {
    let heads = [
        // Streams for ever.
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        // Says so up front.
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
         Content-Length: 5000000000\r\n\r\n",
    ];
    for head in heads {
        let port = manifest_server(head);
        let root = tempfile::tempdir().expect("tempdir");
        let out = bounded(
            cairn_std()
                .args(["pull", "--root"])
                .arg(root.path())
                .arg(format!("127.0.0.1:{port}/endless/app:1")),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("tag 1 is larger than 4 MiB"),
            "the cap is named: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_registry_warning_reaches_the_user() {
    // The registry client reports an unusable credential entry with `tracing`; the CLI shows
    // it (it used to be dropped).
    let host = &shared().plain.host;
    let config = tempfile::tempdir().expect("tmp");
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"!!! not base64"}}}}}}"#),
    )
    .expect("config.json");
    let store = tempfile::tempdir().expect("store");
    let out = cairn()
        .env("DOCKER_CONFIG", config.path())
        .args(["pull", "--root"])
        .arg(store.path())
        .arg(format!("{host}/{}:none", unique_repo("warned")))
        .output()
        .expect("cairn pull");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ignoring unusable docker config entry"),
        "{err}"
    );
    assert!(err.contains("WARN"), "{err}");
}

//! Test support: a real registry (Debian's `docker-registry`, i.e. distribution 2.8) on a free
//! loopback port, optionally behind htpasswd basic auth; a TCP proxy that cuts a blob download
//! in the middle; stores seeded with small images built by cairn itself.
//!
//! Why a real registry: the point of the crate is interoperating with what registries actually
//! do (auth challenges, Range, mounts, upload sessions); a mock would test our assumptions.

#![allow(dead_code)]

use cairn_oci::{AssembledImage, ImageSpec};
use cairn_registry::{Registry, RegistryOptions};
use cairn_store::{Compression, Store};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

fn registry_bin() -> PathBuf {
    let p = PathBuf::from(REGISTRY_BIN);
    assert!(
        p.exists(),
        "{REGISTRY_BIN} is missing: these tests need a real registry. Install the Debian package \
         docker-registry (apt-get install docker-registry)"
    );
    p
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A running registry; killed on drop.
pub struct TestRegistry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl TestRegistry {
    /// Start a registry; with `basic`, requests need that user and password.
    pub fn start(basic: Option<(&str, &str)>) -> TestRegistry {
        let bin = registry_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut auth = String::new();
        if let Some((user, pass)) = basic {
            let htpasswd = Path::new("/usr/bin/htpasswd");
            assert!(
                htpasswd.exists(),
                "/usr/bin/htpasswd is missing: the basic-auth tests need it to write the bcrypt \
                 password file. Install the Debian package apache2-utils"
            );
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, pass])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed: {out:?}");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: cairn-test\n    path: {}\n",
                file.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: cairn-test-secret\n\
                 {auth}",
                data.display()
            ),
        )
        .expect("write config.yml");
        let _ = bin;
        let mut reg = TestRegistry {
            dir,
            port,
            config,
            child: None,
        };
        reg.spawn();
        reg
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry.log")).expect("log file");
        let child = Command::new(registry_bin())
            .arg("serve")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "docker-registry exited with {status}: {}",
                    std::fs::read_to_string(self.dir.path().join("registry.log"))
                        .unwrap_or_default()
                );
            }
            if let Some(code) = http_status(self.port, "/v2/")
                && (code == 200 || code == 401)
            {
                return;
            }
            assert!(Instant::now() < deadline, "registry did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's storage root (`docker/registry/v2/...` below it).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data").join("docker/registry/v2")
    }

    /// The data file of a blob in the registry's storage.
    pub fn blob_data(&self, digest: &cairn_store::OciDigest) -> PathBuf {
        let hex = digest.hex();
        self.storage()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Whether `repository` links blob `digest` (it was uploaded or mounted there).
    pub fn repo_has_blob(&self, repository: &str, digest: &cairn_store::OciDigest) -> bool {
        self.storage()
            .join("repositories")
            .join(repository)
            .join("_layers/sha256")
            .join(digest.hex())
            .join("link")
            .exists()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop and start again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// GET `path` on 127.0.0.1:`port`; the status code, if anything answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(buf.get(..n)?).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
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
        layers: ids,
        created: Some(0),
    };
    cairn_oci::assemble_image(store, &spec, compression).expect("assemble image")
}

pub fn reference(s: &str) -> cairn_ir::Reference {
    cairn_ir::Reference::parse(s).expect("reference")
}

/// A TCP proxy in front of a registry that, once, cuts the response to a GET of one blob
/// after `cut_after` bytes; with `die_on_cut` it then drops every connection until
/// [`CutProxy::revive`].
pub struct CutProxy {
    pub port: u16,
    state: Arc<ProxyState>,
}

struct ProxyState {
    upstream: u16,
    armed: Mutex<Option<String>>,
    cut_after: u64,
    die_on_cut: bool,
    /// Cut uploads (PATCH/PUT of blob data) instead of blob downloads.
    cut_uploads: AtomicBool,
    dead: AtomicBool,
    stop: AtomicBool,
    cuts: AtomicUsize,
}

impl CutProxy {
    pub fn start(
        upstream: u16,
        blob: &cairn_store::OciDigest,
        cut_after: u64,
        die_on_cut: bool,
    ) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(ProxyState {
            upstream,
            armed: Mutex::new(Some(format!("/blobs/{blob}"))),
            cut_after,
            die_on_cut,
            cut_uploads: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            cuts: AtomicUsize::new(0),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                if st.dead.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let st = st.clone();
                std::thread::spawn(move || proxy_conn(client, st));
            }
        });
        CutProxy { port, state }
    }

    /// A proxy that, once, cuts the first blob upload after `cut_after` bytes of request and
    /// then drops every connection until [`CutProxy::revive`] (the registry gone mid-push).
    pub fn start_upload_cut(upstream: u16, cut_after: u64) -> CutProxy {
        let p = CutProxy::start(
            upstream,
            &cairn_store::OciDigest::of(b"unused"),
            cut_after,
            true,
        );
        // Re-arm for uploads: the needle is the upload path.
        if let Ok(mut armed) = p.state.armed.lock() {
            *armed = Some("/blobs/uploads/".to_string());
        }
        p.state.cut_uploads.store(true, Ordering::SeqCst);
        p
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::SeqCst)
    }

    pub fn revive(&self) {
        self.state.dead.store(false, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn proxy_conn(client: TcpStream, st: Arc<ProxyState>) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", st.upstream)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let armed_here = Arc::new(AtomicBool::new(false));
    let (Ok(mut c_read), Ok(mut u_write)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let (st2, armed2) = (st.clone(), armed_here.clone());
    let (client2, upstream2) = (
        client.try_clone().expect("clone"),
        upstream.try_clone().expect("clone"),
    );
    // client -> registry: watch for the GET of the armed blob (or, in upload mode, cut the
    // armed upload's request body).
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let uploads = st2.cut_uploads.load(Ordering::SeqCst);
        let mut uploading: Option<u64> = None;
        loop {
            let n = match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut chunk = &buf[..n];
            if st2.dead.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(mut armed) = st2.armed.lock()
                && let Some(needle) = armed.as_ref()
                && (if uploads {
                    chunk.starts_with(b"PATCH ") || chunk.starts_with(b"PUT ")
                } else {
                    chunk.starts_with(b"GET ")
                })
                && contains(chunk, needle.as_bytes())
            {
                if uploads {
                    // Every upload request counts from zero; the first one long enough is cut.
                    uploading = Some(0);
                } else {
                    *armed = None;
                    armed2.store(true, Ordering::SeqCst);
                }
            }
            let mut cut = false;
            if let Some(sent) = uploading.as_mut() {
                let room = st2.cut_after.saturating_sub(*sent);
                if (chunk.len() as u64) >= room {
                    chunk = &chunk[..room as usize];
                    cut = true;
                }
                *sent += chunk.len() as u64;
            }
            if u_write.write_all(chunk).is_err() {
                break;
            }
            if cut {
                if let Ok(mut armed) = st2.armed.lock() {
                    *armed = None;
                }
                st2.cuts.fetch_add(1, Ordering::SeqCst);
                st2.dead.store(true, Ordering::SeqCst);
                break;
            }
        }
        let _ = upstream2.shutdown(Shutdown::Both);
        let _ = c_read.shutdown(Shutdown::Both);
    });
    // registry -> client: cut after `cut_after` bytes of the armed response.
    let mut u_read = upstream;
    let mut c_write = client;
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent_armed = 0u64;
    loop {
        let n = match u_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        let mut cut = false;
        if armed_here.load(Ordering::SeqCst) {
            let room = st.cut_after.saturating_sub(sent_armed);
            if (chunk.len() as u64) >= room {
                chunk = &chunk[..room as usize];
                cut = true;
            }
            sent_armed += chunk.len() as u64;
        }
        if c_write.write_all(chunk).is_err() {
            break;
        }
        if cut {
            st.cuts.fetch_add(1, Ordering::SeqCst);
            if st.die_on_cut {
                st.dead.store(true, Ordering::SeqCst);
            }
            break;
        }
    }
    let _ = c_write.flush();
    let _ = client2.shutdown(Shutdown::Both);
    let _ = u_read.shutdown(Shutdown::Both);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A bearer-token front for a registry, as Docker Hub / ghcr.io work: requests without the
/// right `Authorization: Bearer` get a 401 with a `WWW-Authenticate: Bearer realm=…` challenge;
/// the realm (`/token` on the same port) hands out a token for the right basic credentials, a
/// useless one to anonymous callers, and a 401 for wrong credentials. Read-only (GET/HEAD
/// have no body), one request per connection.
pub struct BearerGateway {
    pub port: u16,
    pub tokens_issued: Arc<AtomicUsize>,
}

const GOOD_TOKEN: &str = "cairn-good-token";

impl BearerGateway {
    pub fn start(upstream: u16, user: &str, pass: &str) -> BearerGateway {
        use base64::Engine as _;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gateway");
        let port = listener.local_addr().expect("addr").port();
        let basic = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let issued = Arc::new(AtomicUsize::new(0));
        let issued2 = issued.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (basic, issued) = (basic.clone(), issued2.clone());
                std::thread::spawn(move || gateway_conn(conn, upstream, port, &basic, &issued));
            }
        });
        BearerGateway {
            port,
            tokens_issued: issued,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn respond(mut c: &TcpStream, status: &str, extra: &str, body: &str) {
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    );
}

fn gateway_conn(
    mut client: TcpStream,
    upstream: u16,
    port: u16,
    basic: &str,
    issued: &AtomicUsize,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !contains(&head, b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    let auth = lines
        .clone()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    if path.starts_with("/token") {
        if auth.eq_ignore_ascii_case(basic) {
            issued.fetch_add(1, Ordering::SeqCst);
            respond(
                &client,
                "200 OK",
                "",
                &format!(r#"{{"token":"{GOOD_TOKEN}"}}"#),
            );
        } else if auth.is_empty() {
            respond(&client, "200 OK", "", r#"{"token":"anonymous"}"#);
        } else {
            respond(
                &client,
                "401 Unauthorized",
                "",
                "invalid username or password",
            );
        }
        return;
    }
    if auth != format!("Bearer {GOOD_TOKEN}") {
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"cairn-test\"\r\n"
        );
        respond(
            &client,
            "401 Unauthorized",
            &challenge,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        return;
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let mut forwarded = format!("{request_line}\r\n");
    for l in lines.filter(|l| !l.is_empty()) {
        let key = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if key != "connection" && key != "authorization" {
            forwarded.push_str(l);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    if up.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    let _ = std::io::copy(&mut up, &mut client);
    let _ = client.shutdown(Shutdown::Both);
}

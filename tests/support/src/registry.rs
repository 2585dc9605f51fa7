//! A `docker-registry` process on a free loopback port, optionally behind htpasswd basic auth,
//! killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

fn registry_bin() -> &'static Path {
    let p = Path::new(REGISTRY_BIN);
    assert!(
        p.exists(),
        "{REGISTRY_BIN} is missing: these tests need a real registry. Install the Debian package \
         docker-registry (scripts/setup.sh does)"
    );
    p
}

/// A free port on 127.0.0.1 (bound and released: good enough for tests).
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A running registry; killed on drop.
pub struct TestRegistry {
    _temp: Option<tempfile::TempDir>,
    root: PathBuf,
    pub port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl TestRegistry {
    /// Start a registry in a temporary directory; with `basic`, requests need that user and
    /// password.
    pub fn start(basic: Option<(&str, &str)>) -> TestRegistry {
        let temp = tempfile::tempdir().expect("tempdir");
        let mut reg = TestRegistry::start_in(temp.path(), basic);
        reg._temp = Some(temp);
        reg
    }

    /// Start a registry whose configuration, storage and log live in `root` (kept).
    pub fn start_in(root: &Path, basic: Option<(&str, &str)>) -> TestRegistry {
        registry_bin();
        let port = free_port();
        let data = root.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut auth = String::new();
        if let Some((user, pass)) = basic {
            let htpasswd = Path::new("/usr/bin/htpasswd");
            assert!(
                htpasswd.exists(),
                "/usr/bin/htpasswd is missing: basic auth needs it to write the bcrypt password \
                 file. Install the Debian package apache2-utils (scripts/setup.sh does)"
            );
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, pass])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed: {out:?}");
            let file = root.join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: cairn-test\n    path: {}\n",
                file.display()
            );
        }
        let config = root.join("config.yml");
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
        let mut reg = TestRegistry {
            _temp: None,
            root: root.to_path_buf(),
            port,
            config,
            child: None,
        };
        reg.spawn();
        reg
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.root.join("registry.log")).expect("log file");
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
            if let Some(status) = self.exited() {
                panic!(
                    "docker-registry exited with {status}: {}",
                    std::fs::read_to_string(self.root.join("registry.log")).unwrap_or_default()
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

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's storage root (`blobs/` and `repositories/` below it).
    pub fn storage(&self) -> PathBuf {
        self.root.join("data").join("docker/registry/v2")
    }

    /// The data file of the blob `sha256:<hex>` in the registry's storage.
    pub fn blob_data(&self, hex: &str) -> PathBuf {
        blob_data(&self.storage(), hex)
    }

    /// Whether `repository` links blob `sha256:<hex>` (it was uploaded or mounted there).
    pub fn repo_has_blob(&self, repository: &str, hex: &str) -> bool {
        repo_has_blob(&self.storage(), repository, hex)
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

pub(crate) fn blob_data(storage: &Path, hex: &str) -> PathBuf {
    let prefix = hex.get(..2).unwrap_or(hex);
    storage
        .join("blobs/sha256")
        .join(prefix)
        .join(hex)
        .join("data")
}

pub(crate) fn repo_has_blob(storage: &Path, repository: &str, hex: &str) -> bool {
    storage
        .join("repositories")
        .join(repository)
        .join("_layers/sha256")
        .join(hex)
        .join("link")
        .exists()
}

/// GET `path` on 127.0.0.1:`port`; the status code, if anything answered.
pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
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

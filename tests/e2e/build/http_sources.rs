//! `ADD <url>` against a server of the test's own on 127.0.0.1: BuildKit's file semantics
//! (0600, mtime from `Last-Modified`, `--chmod`/`--chown`, never unpacked), revalidation with
//! `If-None-Match`, `--checksum`, and clear errors that name the Dockerfile line.

use super::fixture::{Env, context, out_dir};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::sync::{Arc, Mutex};

/// What the server serves now, and what it was asked.
#[derive(Default)]
struct State {
    body: Vec<u8>,
    /// Bodies (and Last-Modified) served on these paths instead of `body`.
    routes: Vec<(String, Vec<u8>, Option<String>)>,
    etag: String,
    last_modified: Option<String>,
    /// (path, If-None-Match sent, status answered).
    log: Vec<(String, Option<String>, u16)>,
}

pub(super) struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub(super) fn start(body: &[u8], etag: &str, last_modified: Option<&str>) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            body: body.to_vec(),
            etag: etag.into(),
            last_modified: last_modified.map(str::to_string),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(&stream, &state));
            }
        });
        Server { port, state }
    }

    /// Serve `body` (with `Last-Modified: last_modified`) on `path`.
    pub(super) fn route(&self, path: &str, body: &[u8], last_modified: Option<&str>) {
        let mut s = self.state.lock().expect("state");
        s.routes.push((
            path.into(),
            body.to_vec(),
            last_modified.map(str::to_string),
        ));
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn set(&self, body: &[u8], etag: &str) {
        let mut s = self.state.lock().expect("state");
        s.body = body.to_vec();
        s.etag = etag.into();
    }

    fn take_log(&self) -> Vec<(String, Option<String>, u16)> {
        std::mem::take(&mut self.state.lock().expect("state").log)
    }
}

/// One request per connection; `/missing` is a 404.
fn serve(stream: &std::net::TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut inm = None;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("if-none-match")
        {
            inm = Some(v.trim().to_string());
        }
        line.clear();
    }
    let mut s = state.lock().expect("state");
    let (status, head, body) = if path == "/missing" {
        (404, "HTTP/1.1 404 Not Found\r\n".to_string(), Vec::new())
    } else if inm.as_deref() == Some(s.etag.as_str()) {
        (304, "HTTP/1.1 304 Not Modified\r\n".to_string(), Vec::new())
    } else {
        let (body, last_modified) = match s.routes.iter().find(|r| r.0 == path) {
            Some((_, body, lm)) => (body.clone(), lm.clone()),
            None => (s.body.clone(), s.last_modified.clone()),
        };
        let mut head = format!("HTTP/1.1 200 OK\r\nETag: {}\r\n", s.etag);
        if let Some(lm) = &last_modified {
            head.push_str(&format!("Last-Modified: {lm}\r\n"));
        }
        (200, head, body)
    };
    s.log.push((path, inm, status));
    drop(s);
    let mut w = stream;
    let _ = w.write_all(
        format!(
            "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let _ = w.write_all(&body);
}

fn local_out(env: &Env, dockerfile: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let c = context(&[("Dockerfile", dockerfile)]);
    let (t, out) = out_dir();
    let b = env.build(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert!(b.success, "{}", b.stderr);
    (t, out, b.stderr)
}

#[test]
fn add_url_is_a_0600_file_with_the_servers_mtime_never_unpacked() {
    // A tar, to show it is not unpacked (a local one would be).
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "inner", &b"hi"[..]).expect("append");
        b.into_inner().expect("tar")
    };
    let server = Server::start(&tar, "\"v1\"", Some("Wed, 21 Oct 2015 07:28:00 GMT"));
    let env = Env::new();
    let (_t, out, _) = local_out(
        &env,
        &format!(
            "FROM busybox\n\
             ADD {u} /dl/\n\
             ADD {u} /renamed.tar\n\
             ADD --chmod=644 --chown=1000:1000 {u} /owned/\n\
             ADD {q} /query/\n\
             ADD --unpack=true {u} /unpacked/\n",
            u = server.url("/files/app.tar"),
            q = server.url("/files/?x=1"),
        ),
    );
    let plain = out.join("dl/app.tar");
    assert_eq!(
        std::fs::read(&plain).expect("downloaded"),
        tar,
        "never unpacked"
    );
    let meta = std::fs::metadata(&plain).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), 1_445_412_480, "mtime from Last-Modified");
    assert_eq!(
        std::fs::read(out.join("renamed.tar")).expect("renamed"),
        tar
    );
    let owned = std::fs::metadata(out.join("owned/app.tar")).expect("owned");
    assert_eq!(owned.mode() & 0o7777, 0o644);
    assert_eq!((owned.uid(), owned.gid()), (1000, 1000));
    // Unpacked only when asked, as BuildKit's `--unpack=true`.
    assert_eq!(
        std::fs::read(out.join("unpacked/inner")).expect("unpacked"),
        b"hi"
    );
    assert!(!out.join("unpacked/app.tar").exists());
    // BuildKit names the file after the last path segment (here the directory).
    assert!(
        out.join("query/files").is_file(),
        "named as BuildKit names it"
    );
}

#[test]
fn add_url_revalidates_and_reruns_only_what_changed() {
    let server = Server::start(b"one\n", "\"1\"", None);
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD {} /f\nRUN cat /f > /seen\n",
            server.url("/f")
        ),
    )]);
    env.build_ok(c.path(), &["-t", "h"]);
    let first = server.take_log();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].2, 200);

    // Unchanged: one conditional request, answered 304, and every step cached.
    let b = env.build_ok(c.path(), &["-t", "h"]);
    let second = server.take_log();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].1.as_deref(), Some("\"1\""), "If-None-Match sent");
    assert_eq!(second[0].2, 304);
    assert!(b.ran().is_empty(), "nothing re-ran: {:?}", b.ran());

    // Changed: downloaded again, and the RUN after it re-runs with the new content.
    server.set(b"two\n", "\"2\"");
    let (_t, out) = out_dir();
    let b = env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert!(
        b.ran().iter().any(|s| s.contains("RUN cat /f")),
        "{:?}",
        b.ran()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("seen")).expect("seen"),
        "two\n"
    );
}

#[test]
fn add_url_checksum_is_verified_and_pins_the_fetch() {
    let body = b"pinned content\n";
    let server = Server::start(body, "\"p\"", None);
    let right = format!(
        "sha256:{}",
        cairn_store::OciDigest::of(body)
            .as_str()
            .trim_start_matches("sha256:")
    );
    let wrong = format!("sha256:{}", "0".repeat(64));
    let env = Env::new();

    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN true\nADD --checksum={wrong} {} /f\n",
            server.url("/f")
        ),
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("Dockerfile:3") && b.stderr.contains("digest mismatch for"),
        "{}",
        b.stderr
    );
    assert!(
        b.stderr.contains(&wrong) && b.stderr.contains(&right),
        "{}",
        b.stderr
    );

    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD --checksum={right} {} /f\n",
            server.url("/f")
        ),
    )]);
    server.take_log();
    env.build_ok(c.path(), &[]);
    assert_eq!(server.take_log().len(), 1, "fetched once");
    // Stored with that digest: the next build does not ask at all.
    env.build_ok(c.path(), &[]);
    assert!(
        server.take_log().is_empty(),
        "a pinned fetch is not revalidated"
    );
}

#[test]
fn add_url_failures_name_the_line_the_url_and_the_status() {
    let server = Server::start(b"x", "\"x\"", None);
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!("FROM busybox\n\nADD {} /f\n", server.url("/missing")),
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("Dockerfile:3")
            && b.stderr.contains("/missing")
            && b.stderr.contains("404"),
        "{}",
        b.stderr
    );
    assert!(!b.stderr.contains("panicked"), "{}", b.stderr);

    // Nobody listening: a clear error, not a hang.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nADD http://127.0.0.1:{port}/f /f\n"),
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("Dockerfile:2") && b.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        b.stderr
    );
}

/// Every entry under `dir`: path, mode, mtime, owner and content.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).expect("stat");
            let rel = p.strip_prefix(dir).expect("under").display().to_string();
            if m.is_dir() {
                out.push(format!("{rel}/ {:o}", m.mode() & 0o7777));
                stack.push(p);
            } else {
                let content = std::fs::read(&p).expect("read");
                out.push(format!(
                    "{rel} {:o} {} {}:{} {:?}",
                    m.mode() & 0o7777,
                    m.mtime(),
                    m.uid(),
                    m.gid(),
                    String::from_utf8_lossy(&content)
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn add_url_gives_the_files_buildkit_gives() {
    let server = Server::start(b"payload\n", "\"e\"", Some("Wed, 21 Oct 2015 07:28:00 GMT"));
    let df = format!(
        "FROM scratch\n\
         ADD {u} /dl/\n\
         ADD {u} /renamed\n\
         ADD {q} /query/\n\
         ADD {u} /nested/dir/\n",
        u = server.url("/files/app.bin"),
        q = server.url("/files/?x=1"),
    );
    let c = context(&[("Dockerfile", &df)]);
    let (_a, ours) = out_dir();
    let env = Env::new();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", ours.display())],
    );
    let (_b, theirs) = out_dir();
    super::docker_parity::docker(&[
        "build",
        "--network=host",
        "--output",
        &format!("type=local,dest={}", theirs.display()),
        &c.path().display().to_string(),
    ]);
    let ours = tree(&ours);
    assert!(ours.len() >= 8, "{ours:?}");
    assert_eq!(ours, tree(&theirs));
}

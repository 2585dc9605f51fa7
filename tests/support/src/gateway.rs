//! A bearer-token front for a registry, as Docker Hub and ghcr.io work. Distribution can check
//! tokens but not issue them (that takes a separate token server), so this stand-in does both:
//!
//! - a request without `Authorization: Bearer <good token>` gets `401` with a
//!   `WWW-Authenticate: Bearer realm="http://<gateway>/token",service="cairn-test"` challenge;
//! - the realm hands out the good token for the right basic credentials, a useless one to
//!   anonymous callers, and `401 invalid username or password` for wrong credentials;
//! - an authorised request is forwarded to the registry, body and all (pushes work), one request
//!   per connection (`Connection: close`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct BearerGateway {
    pub port: u16,
    /// Good tokens handed out so far.
    pub tokens_issued: Arc<AtomicUsize>,
}

const GOOD_TOKEN: &str = "cairn-good-token";

impl BearerGateway {
    /// Listen on a free loopback port, in front of the registry on 127.0.0.1:`upstream`.
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
    // Read up to the end of the request head; whatever body bytes came with it are kept.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let early_body = head.split_off(head_end);
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
            let body = format!(r#"{{"token":"{GOOD_TOKEN}","expires_in":300}}"#);
            respond(&client, "200 OK", "", &body);
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
        // Any body the client sent is dropped with the connection, which closes after this.
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
    if up.write_all(forwarded.as_bytes()).is_err() || up.write_all(&early_body).is_err() {
        return;
    }
    // The rest of the request body (uploads) flows on while the answer comes back.
    if let (Ok(mut c_read), Ok(mut u_write)) = (client.try_clone(), up.try_clone()) {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut c_read, &mut u_write);
            let _ = u_write.shutdown(Shutdown::Write);
        });
    }
    let _ = std::io::copy(&mut up, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
}

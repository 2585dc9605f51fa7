//! A TCP proxy in front of a registry that cuts one transfer in the middle: an interrupted
//! download (resume with Range), a registry gone mid-pull or mid-push (every later connection
//! dropped until revived).

use crate::contains;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
    pub fn start(upstream: u16, blob: &str, cut_after: u64, die_on_cut: bool) -> CutProxy {
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
        let p = CutProxy::start(upstream, "unused", cut_after, true);
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

//! The socket a `RUN --mount=type=ssh` step sees: not the agent's own socket (its owner and
//! mode are the user's, and changing them would change the user's), but a socket of the
//! step's own with the `uid=`, `gid=` and `mode=` it asked for (BuildKit's defaults 0:0
//! 0600), each connection to it forwarded to the agent. As BuildKit proxies the agent of
//! the client session.

use std::path::{Path, PathBuf};
use tokio::net::{UnixListener, UnixStream};

/// A forwarding socket; it stops forwarding and goes when dropped.
pub struct SocketProxy {
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl SocketProxy {
    /// Listen on a fresh socket owned by `uid:gid` with `mode`, forwarding to `agent`.
    /// Must run inside a tokio runtime.
    pub fn start(agent: &Path, uid: u32, gid: u32, mode: u32) -> std::io::Result<SocketProxy> {
        let meta = std::fs::metadata(agent)?;
        if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
            return Err(std::io::Error::other(format!(
                "{} is not a socket",
                agent.display()
            )));
        }
        let dir = tempfile::Builder::new().prefix("cairn-ssh-").tempdir()?;
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        std::fs::set_permissions(
            &path,
            std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777),
        )?;
        let agent: PathBuf = agent.to_path_buf();
        let task = tokio::spawn(async move {
            while let Ok((mut inside, _)) = listener.accept().await {
                let agent = agent.clone();
                tokio::spawn(async move {
                    if let Ok(mut outside) = UnixStream::connect(&agent).await {
                        let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
                    }
                });
            }
        });
        Ok(SocketProxy { dir, task })
    }

    /// The socket to bind into the step.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn forwards_with_the_asked_owner_and_mode() {
        let d = tempfile::tempdir().expect("tmp");
        let agent_path = d.path().join("real.sock");
        let agent = UnixListener::bind(&agent_path).expect("bind");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = agent.accept().await {
                let mut buf = [0u8; 4];
                if s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(b"pong").await;
                }
            }
        });
        let proxy = SocketProxy::start(&agent_path, 100, 102, 0o741).expect("proxy");
        let meta = std::fs::metadata(proxy.path()).expect("stat");
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (100, 102, 0o741)
        );
        let mut c = UnixStream::connect(proxy.path()).await.expect("connect");
        c.write_all(b"ping").await.expect("write");
        let mut got = [0u8; 4];
        c.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"pong");
        let gone = proxy.path();
        drop(proxy);
        assert!(!gone.exists());
    }

    #[tokio::test]
    async fn a_non_socket_is_refused() {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        assert!(SocketProxy::start(f.path(), 0, 0, 0o600).is_err());
    }
}

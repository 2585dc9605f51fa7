//! `--ssh default|ID[=SOCKET|KEY[,KEY…]]`, as buildx reads it: an ssh-agent socket is forwarded
//! to `RUN --mount=type=ssh` as it is; key files are loaded into a private `ssh-agent` (from
//! openssh-client) that cairn starts for the build and stops when it ends — a step talks to
//! an agent and never sees a key. Agents are started here, before any async runtime exists
//! (no fork from a runtime thread).

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agents of a build by id; agents started for key files stop on drop.
#[derive(Default)]
pub struct SshAgents {
    pub sockets: HashMap<String, PathBuf>,
    started: Vec<KeyAgent>,
}

/// An `ssh-agent` holding key files, in a private directory.
struct KeyAgent {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read every `--ssh` value.
pub fn agents(specs: &[String]) -> Result<SshAgents> {
    let mut out = SshAgents::default();
    for spec in specs {
        let (id, paths): (&str, Vec<PathBuf>) = match spec.split_once('=') {
            Some((id, paths)) => (
                id,
                paths
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect(),
            ),
            None => {
                let sock = std::env::var_os("SSH_AUTH_SOCK").with_context(|| {
                    format!("--ssh {spec}: SSH_AUTH_SOCK is not set (start ssh-agent, or give {spec}=SOCKET or {spec}=KEYFILE)")
                })?;
                (spec.as_str(), vec![PathBuf::from(sock)])
            }
        };
        if id.is_empty() {
            bail!("invalid --ssh {spec:?}: the id is empty");
        }
        if paths.is_empty() {
            bail!("invalid --ssh {spec:?}: no socket or key file after `=`");
        }
        let mut sockets = Vec::new();
        let mut keys = Vec::new();
        for p in &paths {
            let meta = std::fs::metadata(p)
                .with_context(|| format!("--ssh {spec}: cannot reach {}", p.display()))?;
            if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                sockets.push(p.clone());
            } else if meta.is_file() {
                keys.push(p.clone());
            } else {
                bail!(
                    "--ssh {spec}: {} is neither an agent socket nor a key file",
                    p.display()
                );
            }
        }
        let socket = match (sockets.as_slice(), keys.is_empty()) {
            ([one], true) => one.clone(),
            ([], false) => {
                let agent = start_agent(spec, &keys)?;
                let sock = agent._dir.path().join("agent.sock");
                out.started.push(agent);
                sock
            }
            _ => bail!("--ssh {spec}: give one agent socket, or key files only"),
        };
        out.sockets.insert(id.to_string(), socket);
    }
    Ok(out)
}

/// Start `ssh-agent` on a socket of its own and load `keys` into it.
fn start_agent(spec: &str, keys: &[PathBuf]) -> Result<KeyAgent> {
    let dir = tempfile::Builder::new()
        .prefix("cairn-ssh-")
        .tempdir()
        .context("cannot make a directory for the ssh agent")?;
    let sock = dir.path().join("agent.sock");
    let child = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!("--ssh {spec}: cannot start ssh-agent (install openssh-client)")
        })?;
    let agent = KeyAgent { child, _dir: dir };
    wait_for(&sock).with_context(|| format!("--ssh {spec}: ssh-agent did not start"))?;
    let out = Command::new("ssh-add")
        .args(keys)
        .env("SSH_AUTH_SOCK", &sock)
        .env_remove("SSH_ASKPASS")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("--ssh {spec}: cannot run ssh-add (install openssh-client)"))?;
    if !out.status.success() {
        bail!(
            "--ssh {spec}: cannot load the key: {} (a key with a passphrase must be loaded into your own agent with ssh-add)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(agent)
}

fn wait_for(sock: &Path) -> Result<()> {
    let start = Instant::now();
    while !sock.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("no socket at {} after 10 s", sock.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

//! git sources: `ADD https://host/repo.git#ref:subdir` (and a git URL as the build context),
//! checked out into the store as a layer before the build is solved, one layer per commit.
//!
//! Why the `git` command and not a library: it is what BuildKit runs too, it speaks every
//! transport and server quirk, and Debian ships it. It runs confined to what a hostile
//! Dockerfile may ask for: only `https://`, `http://`, `git://` and — with an ssh-agent the
//! user forwarded (`--ssh default`) — `ssh://` and `user@host:path` remotes
//! (`GIT_ALLOW_PROTOCOL`, which also binds submodules — no `file://`, no `ext::`), no
//! system or user configuration (ssh too: `-F /dev/null`; host keys are not checked, as
//! BuildKit runs it), no credential prompts, and a fresh repository of its own (no hooks
//! from anywhere).
//!
//! Every build asks the remote what the reference points at (`git ls-remote`, one round
//! trip); a commit already checked out reuses its layer, so the steps after it stay cached.
//! A reference is a branch, a tag (annotated ones peeled) or a full commit id; none means
//! the remote's HEAD. The checkout has every file's mtime at the commit's time (BuildKit
//! leaves the time of the checkout; a commit time keeps the layer the same on every machine),
//! `.git` only with `--keep-git-dir`, submodules checked out.

#![deny(clippy::indexing_slicing)]

use cairn_store::{GitCheckout, GitRecord, LayerId, LayerRecord, Store};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Everything `r` gives until its end, keeping at most `cap` bytes (the rest is read and
/// dropped, so the writer never blocks); whether there was more.
fn kept(mut r: impl std::io::Read, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut overflow = false;
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return (out, overflow),
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                let chunk = buf.get(..n).unwrap_or_default();
                if chunk.len() > room {
                    overflow = true;
                }
                out.extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
            }
        }
    }
}

/// A git source as a build names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub remote: String,
    /// Branch, tag or full commit id; `None`: the remote's HEAD.
    pub reference: Option<String>,
    /// Only this directory of the repository.
    pub subdir: Option<String>,
    pub keep_git_dir: bool,
    /// A commit id, or a prefix of one, the resolved commit must match (`--checksum`,
    /// `?commit=`).
    pub checksum: Option<String>,
    /// Whether submodules are checked out (`?submodules=false` says no).
    pub submodules: bool,
}

/// A source as it is in the store now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub layer: LayerId,
    pub commit: String,
    /// False when the commit's checkout was already stored.
    pub checked_out: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{remote}: {reason}")]
    BadSource { remote: String, reason: String },
    #[error("{remote}: {what} failed: {detail}")]
    Git {
        remote: String,
        what: String,
        detail: String,
    },
    #[error("{remote}: {context}: {source}")]
    Io {
        remote: String,
        context: String,
        source: std::io::Error,
    },
    #[error("{remote}: {source}")]
    Store {
        remote: String,
        source: cairn_store::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long `git` may take: asking the remote what a reference points at, and fetching; and
/// how long an http(s) transfer may stall. A remote that accepts and never answers fails
/// within `ask`, not never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub ask: Duration,
    pub fetch: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            ask: Duration::from_secs(60),
            fetch: Duration::from_secs(600),
            idle: Duration::from_secs(60),
        }
    }
}

/// The most of `git`'s standard output kept (a listing of refs; the checkout itself goes to
/// disk): a remote that lists refs without end fails instead of filling memory.
const MAX_OUTPUT: usize = 64 << 20;
/// The most of `git`'s error output kept for messages.
const MAX_ERRORS: usize = 64 << 10;

/// The transports a build may use (`GIT_ALLOW_PROTOCOL`); ssh only with a forwarded agent.
const ALLOWED_PROTOCOLS: &str = "https:http:git";
const ALLOWED_PROTOCOLS_SSH: &str = "https:http:git:ssh";

/// BuildKit's `getGitSSHCommand` without known hosts.
const GIT_SSH_COMMAND: &str =
    "ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes";

/// Checks git sources out into a store.
#[derive(Clone, Debug)]
pub struct Fetcher {
    store: Store,
    git: PathBuf,
    timeouts: Timeouts,
    /// The ssh-agent socket ssh remotes authenticate with (`--ssh default`).
    ssh_agent: Option<PathBuf>,
}

impl Fetcher {
    pub fn new(store: Store, timeouts: Timeouts) -> Fetcher {
        Fetcher {
            store,
            git: PathBuf::from("git"),
            timeouts,
            ssh_agent: None,
        }
    }

    /// Authenticate ssh remotes with the agent at `socket`.
    pub fn with_ssh_agent(self, socket: Option<PathBuf>) -> Fetcher {
        Fetcher {
            ssh_agent: socket,
            ..self
        }
    }

    /// Make `src` present in the store: the stored checkout of the commit its reference
    /// points at now, else a new one. Blocking (it runs `git`).
    pub fn fetch(&self, src: &Source) -> Result<Fetched> {
        check_source(src)?;
        if is_ssh(&src.remote) && self.ssh_agent.is_none() {
            return Err(Error::BadSource {
                remote: src.remote.clone(),
                reason: "no SSH key \"default\" forwarded from the client: build with --ssh default (your ssh-agent) or --ssh default=KEYFILE".into(),
            });
        }
        let remote = &src.remote;
        let store_err = |source| Error::Store {
            remote: remote.clone(),
            source,
        };
        let commit = self.resolve(src)?;
        let checkout = GitCheckout {
            remote: remote.clone(),
            commit: commit.clone(),
            subdir: src.subdir.clone(),
            keep_git_dir: src.keep_git_dir,
            submodules: src.submodules,
        };
        if let Some(rec) = self.store.git_get(&checkout).map_err(store_err)?
            && self.store.layer(&rec.layer).map_err(store_err)?.is_some()
        {
            return Ok(Fetched {
                layer: rec.layer,
                commit,
                checked_out: false,
            });
        }
        let layer = self.check_out(src, &commit)?;
        self.store
            .git_put(&GitRecord {
                checkout,
                layer: layer.clone(),
            })
            .map_err(store_err)?;
        Ok(Fetched {
            layer,
            commit,
            checked_out: true,
        })
    }

    /// `git` with the confinement every call gets.
    fn git(&self, dir: Option<&Path>) -> Command {
        let mut c = Command::new(&self.git);
        if let Some(d) = dir {
            c.arg("-C").arg(d);
        }
        let protocols = if self.ssh_agent.is_some() {
            ALLOWED_PROTOCOLS_SSH
        } else {
            ALLOWED_PROTOCOLS
        };
        c.env("GIT_ALLOW_PROTOCOL", protocols)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS", "/bin/false")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env("GIT_SSH_COMMAND", GIT_SSH_COMMAND)
            .env_remove("GIT_SSH")
            .env_remove("GIT_SSH_VARIANT")
            .env_remove("GIT_PROXY_COMMAND")
            // An http(s) transfer slower than a byte a second for `idle` gives up.
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1")
            .env(
                "GIT_HTTP_LOW_SPEED_TIME",
                self.timeouts.idle.as_secs().max(1).to_string(),
            )
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "protocol.file.allow=never",
            ])
            .stdin(Stdio::null());
        match &self.ssh_agent {
            Some(sock) => c.env("SSH_AUTH_SOCK", sock),
            None => c.env_remove("SSH_AUTH_SOCK"),
        };
        c
    }

    /// Run `cmd` for at most `limit`; its stdout, or an error naming `what` with git's own
    /// words. git runs in a process group of its own, so a timeout also stops the transport
    /// helpers it started; output past [`MAX_OUTPUT`] is an error.
    fn run_for(
        &self,
        remote: &str,
        what: &str,
        mut cmd: Command,
        limit: Duration,
    ) -> Result<String> {
        use std::os::unix::process::CommandExt as _;
        let failed = |detail: String| Error::Git {
            remote: remote.to_string(),
            what: what.to_string(),
            detail,
        };
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| Error::Io {
            remote: remote.to_string(),
            context: format!("running git ({what}); is git installed?"),
            source,
        })?;
        let stdout = child
            .stdout
            .take()
            .map(|o| std::thread::spawn(move || kept(o, MAX_OUTPUT)));
        let stderr = child
            .stderr
            .take()
            .map(|e| std::thread::spawn(move || kept(e, MAX_ERRORS)));
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                        let _ =
                            rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                    }
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let (out, out_overflow) = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
        let (err, _) = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        let Some(status) = status else {
            return Err(failed(format!(
                "no result within {} s (the remote may be silent)",
                limit.as_secs()
            )));
        };
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err);
            return Err(failed(
                stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("no output")
                    .to_string(),
            ));
        }
        if out_overflow {
            return Err(failed(format!(
                "its answer is larger than {} MiB",
                MAX_OUTPUT >> 20
            )));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Run a quick `cmd` (asking the remote, local steps): within `Timeouts::ask`.
    fn run(&self, remote: &str, what: &str, cmd: Command) -> Result<String> {
        self.run_for(remote, what, cmd, self.timeouts.ask)
    }

    /// The commit the source's reference points at on the remote now, matched as BuildKit's
    /// git source matches it: a full commit id is taken as is; otherwise `refs/REF`, then the
    /// branch `refs/heads/REF`, then the tag `refs/tags/REF` (an annotated tag peeled). A
    /// checksum must be a prefix of the commit (or of the annotated tag's object).
    fn resolve(&self, src: &Source) -> Result<String> {
        let remote = &src.remote;
        let mismatch = |got: &str| Error::BadSource {
            remote: remote.clone(),
            reason: format!(
                "expected checksum to match {}, got {got}",
                src.checksum.as_deref().unwrap_or_default()
            ),
        };
        let matches = |sha: &str| {
            src.checksum.as_deref().is_none_or(|c| {
                sha.to_ascii_lowercase()
                    .starts_with(&c.to_ascii_lowercase())
            })
        };
        if let Some(r) = &src.reference
            && is_commit_id(r)
        {
            if !matches(r) {
                return Err(mismatch(r));
            }
            return Ok(r.to_ascii_lowercase());
        }
        let mut cmd = self.git(None);
        cmd.args(["ls-remote", "--", remote]);
        let listing = self.run(remote, "git ls-remote", cmd)?;
        let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
        let find = |name: &str| refs.iter().find(|(_, r)| *r == name).map(|(c, _)| *c);
        let (object, peeled) = match &src.reference {
            None => (find("HEAD"), None),
            Some(r) => {
                let name = r.strip_prefix("refs/").unwrap_or(r);
                let branch = r.strip_prefix("refs/heads/").unwrap_or(r);
                let tag = format!("refs/tags/{}", r.strip_prefix("refs/tags/").unwrap_or(r));
                match find(&format!("refs/{name}"))
                    .or_else(|| find(&format!("refs/heads/{branch}")))
                {
                    Some(sha) => (Some(sha), None),
                    None => (find(&tag), find(&format!("{tag}^{{}}"))),
                }
            }
        };
        let Some(object) = object else {
            return Err(Error::BadSource {
                remote: remote.clone(),
                reason: format!(
                    "repository does not contain ref {}",
                    src.reference.as_deref().unwrap_or("HEAD")
                ),
            });
        };
        if !matches(object) && !peeled.is_some_and(matches) {
            return Err(mismatch(object));
        }
        let commit = peeled.unwrap_or(object);
        if !is_commit_id(commit) {
            return Err(Error::BadSource {
                remote: remote.clone(),
                reason: format!("invalid commit sha {commit:?}"),
            });
        }
        Ok(commit.to_ascii_lowercase())
    }

    /// Fetch `commit` into a fresh repository, check it out, and commit the wanted part as a
    /// layer.
    fn check_out(&self, src: &Source, commit: &str) -> Result<LayerId> {
        let remote = &src.remote;
        let store_err = |source| Error::Store {
            remote: remote.clone(),
            source,
        };
        let io = |context: &str| {
            let context = context.to_string();
            move |source| Error::Io {
                remote: remote.clone(),
                context,
                source,
            }
        };
        let scratch = self.store.staging().map_err(store_err)?;
        let repo = scratch.work().join("repo");
        let mut init = self.git(None);
        init.args(["init", "-q"]);
        if commit.len() == 64 {
            // A sha256 repository fetches only into one.
            init.arg("--object-format=sha256");
        }
        init.arg(&repo);
        self.run(remote, "git init", init)?;
        // By name when the reference has one (any server serves that); by id otherwise,
        // falling back to everything when the server will not hand out a bare commit.
        let wanted = match &src.reference {
            Some(r) if !is_commit_id(r) => r.clone(),
            _ => commit.to_string(),
        };
        let mut fetch = self.git(Some(&repo));
        fetch.args([
            "fetch",
            "-q",
            "--depth=1",
            "--no-tags",
            "--",
            remote,
            &wanted,
        ]);
        if let Err(first) = self.run_for(remote, "git fetch", fetch, self.timeouts.fetch) {
            let mut all = self.git(Some(&repo));
            all.args([
                "fetch",
                "-q",
                "--no-tags",
                "--",
                remote,
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ]);
            self.run_for(remote, "git fetch", all, self.timeouts.fetch)
                .map_err(|_| first)?;
        }
        let mut checkout = self.git(Some(&repo));
        checkout.args(["-c", "advice.detachedHead=false", "checkout", "-q", commit]);
        self.run_for(
            remote,
            &format!("checking out {commit}"),
            checkout,
            self.timeouts.fetch,
        )?;
        if src.submodules && repo.join(".gitmodules").exists() {
            let mut sub = self.git(Some(&repo));
            sub.args([
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth=1",
            ]);
            if let Err(first) =
                self.run_for(remote, "git submodule update", sub, self.timeouts.fetch)
            {
                // A server without shallow fetches (git's "dumb" http): whole histories.
                let mut whole = self.git(Some(&repo));
                whole.args(["submodule", "update", "-q", "--init", "--recursive"]);
                self.run_for(remote, "git submodule update", whole, self.timeouts.fetch)
                    .map_err(|_| first)?;
            }
        }
        let mut time = self.git(Some(&repo));
        time.args(["show", "-s", "--format=%ct", commit]);
        let commit_time: i64 = self
            .run(remote, "reading the commit time", time)?
            .trim()
            .parse()
            .unwrap_or(0);

        // The part of the checkout the build gets, moved (same file system) into the layer.
        let from = match &src.subdir {
            None => repo.clone(),
            Some(sub) => {
                let dir = repo.join(sub);
                let real = dir.canonicalize().map_err(|_| Error::BadSource {
                    remote: remote.clone(),
                    reason: format!("the repository has no directory {sub:?} at {commit}"),
                })?;
                let root = repo.canonicalize().map_err(io("resolving the checkout"))?;
                if !real.starts_with(&root) || !real.is_dir() || real.starts_with(root.join(".git"))
                {
                    return Err(Error::BadSource {
                        remote: remote.clone(),
                        reason: format!("{sub:?} is not a directory of the repository"),
                    });
                }
                real
            }
        };
        let upper = scratch.upper().to_path_buf();
        for entry in std::fs::read_dir(&from).map_err(io("reading the checkout"))? {
            let entry = entry.map_err(io("reading the checkout"))?;
            let name = entry.file_name();
            if name == ".git" && !(src.keep_git_dir && src.subdir.is_none()) {
                continue;
            }
            std::fs::rename(entry.path(), upper.join(&name)).map_err(io("moving the checkout"))?;
        }
        set_times(&upper, commit_time).map_err(io("setting the checkout's times"))?;
        let layer = scratch.upper().to_path_buf();
        let id = cairn_oci::content_digest(&layer).map_err(|e| Error::BadSource {
            remote: remote.clone(),
            reason: format!("hashing the checkout: {e}"),
        })?;
        self.store
            .commit_layer(scratch, &id, LayerRecord::default())
            .map_err(store_err)?;
        Ok(id)
    }
}

/// Every entry under `dir` (and `dir` itself) gets `secs` as its mtime and atime; symlinks
/// themselves, never what they point at.
fn set_times(dir: &Path, secs: i64) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    let mut stack = vec![dir.to_path_buf()];
    let mut dirs = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path.clone());
                dirs.push(path);
            } else {
                utimensat(CWD, &path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
            }
        }
    }
    // Directories last, deepest first: writing into one changes its mtime.
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    dirs.push(dir.to_path_buf());
    for d in dirs {
        utimensat(CWD, &d, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

/// An ssh remote: `ssh://…`, or scp-style `user@host:path`.
fn is_ssh(remote: &str) -> bool {
    match remote.split_once("://") {
        Some((scheme, _)) => scheme.eq_ignore_ascii_case("ssh"),
        None => remote
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/')),
    }
}

/// A full (40 hex, sha1) or sha256 (64 hex) commit id.
fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Only the transports a build may use, and a subdirectory that stays inside.
fn check_source(src: &Source) -> Result<()> {
    let bad = |reason: String| Error::BadSource {
        remote: src.remote.clone(),
        reason,
    };
    let scheme = src
        .remote
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https" | "http" | "git" | "ssh") => {}
        None if is_ssh(&src.remote) => {}
        _ => {
            return Err(bad(
                "only https://, http://, git:// and ssh remotes can be fetched".into(),
            ));
        }
    }
    // A host (or scp-style user@host) that starts with `-` would be an ssh option.
    let host = src
        .remote
        .split_once("://")
        .map_or(src.remote.as_str(), |(_, rest)| rest);
    if src.remote.starts_with('-') || host.starts_with('-') {
        return Err(bad("not a URL".into()));
    }
    if let Some(r) = &src.reference
        && (r.starts_with('-') || r.contains(char::is_whitespace) || r.contains(".."))
    {
        return Err(bad(format!("{r:?} is not a branch, tag or commit")));
    }
    if let Some(c) = &src.checksum
        && (c.is_empty() || !c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(bad(format!(
            "invalid checksum {c} for Git URL, expected hex commit hash"
        )));
    }
    if let Some(sub) = &src.subdir
        && Path::new(sub)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(format!(
            "{sub:?} is not a directory inside the repository"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(remote: &str, reference: Option<&str>, subdir: Option<&str>) -> Source {
        Source {
            remote: remote.into(),
            reference: reference.map(str::to_string),
            subdir: subdir.map(str::to_string),
            keep_git_dir: false,
            checksum: None,
            submodules: true,
        }
    }

    #[test]
    fn only_network_transports_and_inside_subdirs() {
        assert!(check_source(&src("https://h/r.git", Some("v1"), Some("docs"))).is_ok());
        assert!(check_source(&src("git://127.0.0.1:9418/r.git", None, None)).is_ok());
        assert!(check_source(&src("git@github.com:moby/buildkit.git", None, None)).is_ok());
        assert!(check_source(&src("ssh://git@h/r.git", None, None)).is_ok());
        assert!(is_ssh("git@h:r.git") && is_ssh("ssh://h/r") && !is_ssh("https://h/r.git"));
        for bad in [
            src("file:///etc", None, None),
            src("ext::sh -c touch% /tmp/pwned", None, None),
            src("/srv/repo.git", None, None),
            src("ssh://-oProxyCommand=x/r.git", None, None),
            src("https://h/r.git", Some("--upload-pack=touch"), None),
            src("https://h/r.git", Some("a..b"), None),
            src("https://h/r.git", None, Some("../..")),
            src("https://h/r.git", None, Some("/etc")),
        ] {
            assert!(check_source(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commit_ids() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(is_commit_id(&"0".repeat(64)));
        assert!(!is_commit_id("main"));
        assert!(!is_commit_id(&"g".repeat(40)));
    }
}

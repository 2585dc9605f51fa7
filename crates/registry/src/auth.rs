//! Credentials the way the docker CLI finds them.
//!
//! Why our own lookup: oci-client speaks Basic and Bearer (WWW-Authenticate challenge, token
//! service) but knows nothing of `~/.docker/config.json`. Users already ran `docker login`, so
//! cairn reads the same file: `credHelpers` (one helper per registry) first, then an inline
//! `auths` entry (base64 `auth` or `username`/`password`), then the default `credsStore`
//! helper. A helper is run as `docker-credential-<name> get` with the server URL on stdin and
//! answers `{"Username": …, "Secret": …}`. No match means anonymous access.
//!
//! Docker Hub is keyed as `https://index.docker.io/v1/` (also accepted: `index.docker.io`,
//! `registry-1.docker.io`, `docker.io`); other registries as `host[:port]`, with or without a
//! scheme or path.

use crate::error::{Error, Result};
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The key docker uses for Docker Hub in `auths` and towards credential helpers.
pub(crate) const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take (they may talk to a keychain daemon).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The parts of the docker CLI config cairn uses.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// A loaded docker config (empty when the file does not exist).
#[derive(Debug)]
pub(crate) struct DockerConfig {
    path: PathBuf,
    file: ConfigFile,
}

/// Credentials for one registry and where they came from (for error messages).
#[derive(Clone, Debug)]
pub(crate) struct Credentials {
    pub auth: RegistryAuth,
    /// `/root/.docker/config.json` or `docker-credential-pass`; for anonymous access, what was
    /// tried (", looked in …").
    pub source: String,
}

impl Credentials {
    pub fn username(&self) -> Option<&str> {
        match &self.auth {
            RegistryAuth::Basic(u, _) => Some(u),
            RegistryAuth::Bearer(_) => Some("<token>"),
            RegistryAuth::Anonymous => None,
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub(crate) fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The canonical key of an `auths` / `credHelpers` entry: scheme and path dropped, Docker
/// Hub's aliases folded into `docker.io`.
fn normalize_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// The server URL docker hands a credential helper for `registry`.
fn helper_server(registry: &str) -> String {
    if registry == "docker.io" {
        DOCKER_HUB_SERVER.to_string()
    } else {
        registry.to_string()
    }
}

impl DockerConfig {
    /// Load `path` (or the default location). A missing file is an empty config; a file that
    /// exists but does not parse is an error (better than silently going anonymous).
    pub fn load(path: Option<&Path>) -> Result<DockerConfig> {
        let Some(path) = path.map(Path::to_path_buf).or_else(default_config_path) else {
            return Ok(DockerConfig {
                path: PathBuf::from("~/.docker/config.json"),
                file: ConfigFile::default(),
            });
        };
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::DockerConfig {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => {
                return Err(Error::DockerConfig {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        Ok(DockerConfig { path, file })
    }

    fn inline(&self, registry: &str) -> Result<Option<RegistryAuth>> {
        let Some(entry) = self
            .file
            .auths
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .map(|(_, v)| v)
        else {
            return Ok(None);
        };
        if let Some(token) = entry.registrytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(RegistryAuth::Bearer(token.clone())));
        }
        if let Some(encoded) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = |reason: String| Error::DockerConfig {
                path: self.path.clone(),
                reason: format!("auths[{registry:?}].auth: {reason}"),
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| bad(format!("not base64: {e}")))?;
            let text = String::from_utf8(raw).map_err(|_| bad("not UTF-8".into()))?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| bad("expected base64 of user:password".into()))?;
            return Ok(Some(RegistryAuth::Basic(
                user.to_string(),
                pass.to_string(),
            )));
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => {
                Ok(Some(RegistryAuth::Basic(u.clone(), p.clone())))
            }
            _ => Ok(None),
        }
    }

    /// The credentials for `registry` (as in a normalized reference: `docker.io`,
    /// `127.0.0.1:5000`). A helper that cannot be run is not fatal (the registry may not need
    /// credentials at all): access is anonymous and the failure ends up in `source`, so an
    /// "unauthorized" error can say why.
    pub async fn credentials(&self, registry: &str) -> Credentials {
        let registry = normalize_key(registry);
        let helper = self
            .file
            .cred_helpers
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .map(|(_, v)| v.clone());
        let path = self.path.display().to_string();
        if let Some(helper) = helper {
            return from_helper(&helper, &registry).await;
        }
        match self.inline(&registry) {
            Ok(Some(auth)) => {
                return Credentials { auth, source: path };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unusable docker config entry");
                return Credentials {
                    auth: RegistryAuth::Anonymous,
                    source: format!(", {e}"),
                };
            }
        }
        if let Some(store) = self.file.creds_store.as_ref().filter(|s| !s.is_empty()) {
            return from_helper(store, &registry).await;
        }
        Credentials {
            auth: RegistryAuth::Anonymous,
            source: format!(", looked in {path}"),
        }
    }
}

async fn from_helper(helper: &str, registry: &str) -> Credentials {
    let program = format!("docker-credential-{helper}");
    match run_helper(Path::new(&program), &helper_server(registry)).await {
        Ok(Some(auth)) => Credentials {
            auth,
            source: program,
        },
        Ok(None) => Credentials {
            auth: RegistryAuth::Anonymous,
            source: format!(", {program} has none"),
        },
        Err(reason) => {
            let e = Error::CredentialHelper {
                helper: helper.to_string(),
                registry: registry.to_string(),
                reason,
            };
            tracing::warn!(error = %e, "continuing without credentials");
            Credentials {
                auth: RegistryAuth::Anonymous,
                source: format!(", {e}"),
            }
        }
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Run `program get` with `server` on stdin. `Ok(None)`: the helper has no credentials for it.
pub(crate) async fn run_helper(
    program: &Path,
    server: &str,
) -> std::result::Result<Option<RegistryAuth>, String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin is judged by its exit status below.
        if let Err(e) = stdin.write_all(server.as_bytes()).await {
            tracing::debug!(helper = %program.display(), error = %e, "helper did not read stdin");
        }
        // Dropping stdin closes it: the helper reads to EOF.
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{} timed out", program.display()))?
        .map_err(|e| format!("waiting for {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The helper protocol's "not found" answer.
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let msg = [stdout.trim(), stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!(
            "{} failed ({}): {msg}",
            program.display(),
            out.status
        ));
    }
    let answer: HelperAnswer = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("{} printed invalid JSON: {e}", program.display()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == "<token>" {
        // An identity (refresh) token: the token service exchanges it; oci-client cannot do
        // that exchange, but registries that accept it as a bearer token work.
        return Ok(Some(RegistryAuth::Bearer(answer.secret)));
    }
    Ok(Some(RegistryAuth::Basic(answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).expect("write config");
        let cfg = DockerConfig::load(Some(&path)).expect("load");
        (dir, cfg)
    }

    #[test]
    fn keys_normalize_like_docker() {
        assert_eq!(normalize_key(DOCKER_HUB_SERVER), "docker.io");
        assert_eq!(normalize_key("registry-1.docker.io"), "docker.io");
        assert_eq!(
            normalize_key("https://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(normalize_key("ghcr.io"), "ghcr.io");
    }

    #[tokio::test]
    async fn inline_auth_forms() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let (_d, cfg) = config(&format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{b64}"}},
                "127.0.0.1:5000": {{"username": "bob", "password": "pw"}},
                "empty.example": {{}}
            }}}}"#
        ));
        let hub = cfg.credentials("docker.io").await;
        assert_eq!(
            hub.auth,
            RegistryAuth::Basic("alice".into(), "s3cr:et".into())
        );
        let local = cfg.credentials("127.0.0.1:5000").await;
        assert_eq!(local.auth, RegistryAuth::Basic("bob".into(), "pw".into()));
        assert_eq!(
            cfg.credentials("empty.example").await.auth,
            RegistryAuth::Anonymous
        );
        assert_eq!(
            cfg.credentials("other:1").await.auth,
            RegistryAuth::Anonymous
        );
    }

    #[test]
    fn missing_file_is_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(DockerConfig::load(Some(&dir.path().join("nope.json"))).is_ok());
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").expect("write");
        let err = DockerConfig::load(Some(&bad)).expect_err("must fail");
        assert!(err.to_string().contains("bad.json"), "{err}");
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[tokio::test]
    async fn credential_helper_protocol() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Echoes the server it was asked about as the username: checks stdin and the verb.
        let ok = script(
            dir.path(),
            "docker-credential-ok",
            r#"[ "$1" = get ] || exit 3
read server
printf '{"ServerURL":"%s","Username":"%s","Secret":"pw"}' "$server" "$server""#,
        );
        let got = run_helper(&ok, "127.0.0.1:5000").await.expect("helper ok");
        assert_eq!(
            got,
            Some(RegistryAuth::Basic("127.0.0.1:5000".into(), "pw".into()))
        );
        let none = script(
            dir.path(),
            "docker-credential-none",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        assert_eq!(run_helper(&none, "x").await.expect("not found"), None);
        let broken = script(
            dir.path(),
            "docker-credential-broken",
            "echo boom >&2; exit 2",
        );
        let err = run_helper(&broken, "x").await.expect_err("fails");
        assert!(err.contains("boom"), "{err}");
        let err = run_helper(&dir.path().join("docker-credential-missing"), "x")
            .await
            .expect_err("missing");
        assert!(err.contains("cannot run"), "{err}");
    }
}

//! The [`Registry`] handle: options, one oci-client per registry host, and the mapping from
//! cairn references to oci-client ones.
//!
//! Why one oci-client per host: the transport (http for loopback and `insecure` hosts, https
//! with verified TLS for everything else) and the credentials are per registry, and oci-client
//! fixes both per client (its protocol setting and its auth store). A host has a client for
//! blobs (chunked uploads, downloads, existence checks), one for single-PUT uploads of small
//! blobs (made when a push first needs it: oci-client makes that a client setting too, and
//! every client loads the system's root certificates). Manifests are fetched with a plain
//! reqwest client of the host's (`manifest.rs`: capped while they stream), sending the bearer
//! token oci-client fetched for the repository.
//!
//! Open registries (no credentials, and `/v2/` answers without a challenge): oci-client, once a
//! client has seen `auth()`, pings `/v2/` before every request it holds no token for — and an
//! open registry never hands one out, so every HEAD and GET would cost two round trips. Such a
//! host's clients are never given auth.
//!
//! Docker Hub: a reference's registry `docker.io` is spoken to at `registry-1.docker.io`, as
//! docker does; credentials are still looked up under docker.io's keys.

use crate::auth::{Credentials, DockerConfig};
use crate::error::{Error, Result, chain};
use crate::retry::{Ctx, Failure, retry};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) that may be spoken to over plain http. Loopback
    /// (127.0.0.0/8, ::1, localhost) is always allowed; everything else is https with
    /// verified TLS.
    pub insecure: Vec<String>,
    /// Docker CLI config (`auths`, `credHelpers`, `credsStore`); default ~/.docker/config.json
    /// or $DOCKER_CONFIG/config.json.
    pub docker_config: Option<PathBuf>,
    /// Parallel blob transfers.
    pub concurrency: usize,
    /// Attempts per request before giving up (exponential backoff between them).
    pub attempts: u32,
    /// How long to wait for a connection and for the next bytes of an answer, and how long
    /// one request may keep being retried in all: a registry that accepts and never answers
    /// fails within `timeouts.deadline` (a minute by default), not after 5 × 120 s.
    pub timeouts: Timeouts,
}

/// Network timeouts of the registry client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// No byte for this long: the attempt fails (and may be retried).
    pub idle: Duration,
    /// No new attempt starts after this much time on one request.
    pub deadline: Duration,
}

/// The default deadline of one registry request: a registry that never answers is given up
/// on within a minute, process start and the last attempt's overshoot included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(55);

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::within(DEFAULT_DEADLINE)
    }
}

impl Timeouts {
    /// Timeouts that give up on a dead registry within about `deadline`.
    pub fn within(deadline: Duration) -> Self {
        Timeouts {
            connect: (deadline / 6).clamp(Duration::from_secs(1), Duration::from_secs(10)),
            idle: (deadline / 3).clamp(Duration::from_secs(1), Duration::from_secs(20)),
            deadline,
        }
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            docker_config: None,
            concurrency: 8,
            attempts: 5,
            timeouts: Timeouts::default(),
        }
    }
}

/// Blobs up to this size are uploaded in one PUT; larger ones in chunks.
pub(crate) const MONOLITHIC_MAX: u64 = 16 * 1024 * 1024;

/// A registry client. Cheap to clone; share it between tasks.
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub opts: RegistryOptions,
    docker: DockerConfig,
    hosts: tokio::sync::Mutex<HashMap<String, Arc<Host>>>,
}

/// Everything about one registry.
pub(crate) struct Host {
    /// As written in references: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Where requests go: `registry-1.docker.io`, `127.0.0.1:5000`.
    pub endpoint: String,
    /// Chunked uploads, downloads, existence checks and mounts.
    pub client: Client,
    /// Single-PUT uploads; made (and authenticated) by the first push.
    pub mono: tokio::sync::OnceCell<Client>,
    /// No credentials and no challenge: requests go out without auth.
    pub open: bool,
    pub creds: Credentials,
    protocol: ClientProtocol,
    pub timeouts: Timeouts,
    /// Manifest GETs (see `manifest.rs`: capped while they stream).
    pub http: reqwest::Client,
}

impl Host {
    /// Whether requests go over https.
    pub fn https(&self) -> bool {
        matches!(self.protocol, ClientProtocol::Https)
    }

    /// The single-PUT upload client.
    pub async fn mono(&self) -> &Client {
        self.mono
            .get_or_init(|| async {
                Client::new(client_config(&self.protocol, true, &self.timeouts))
            })
            .await
    }
}

/// A repository on a host, ready for requests.
#[derive(Clone)]
pub(crate) struct Repo {
    pub host: Arc<Host>,
    pub repository: String,
    pub attempts: u32,
    /// The bearer token oci-client fetched for this repository (None: open registry, or
    /// Basic auth).
    pub bearer: Option<String>,
}

/// oci-client settings for a host (`monolithic`: blobs in one PUT).
fn client_config(protocol: &ClientProtocol, monolithic: bool, t: &Timeouts) -> ClientConfig {
    ClientConfig {
        protocol: protocol.clone(),
        use_monolithic_push: monolithic,
        platform_resolver: None,
        connect_timeout: Some(t.connect),
        read_timeout: Some(t.idle),
        user_agent: concat!("cairn/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    }
}

/// Whether the registry at `endpoint` answers `/v2/` without a challenge (anonymous auth on
/// `meta` gets no token). Any failure counts as "not open": the normal path then reports it.
async fn probe_open(meta: &Client, endpoint: &str) -> bool {
    let r = oci_client::Reference::with_tag(endpoint.into(), "probe".into(), "latest".into());
    matches!(
        meta.auth(&r, &RegistryAuth::Anonymous, RegistryOperation::Pull)
            .await,
        Ok(None)
    )
}

/// Whether the plain-http registry at `endpoint` answers `GET /v2/` with 200 and no
/// challenge. Any failure counts as "not open".
async fn probe_open_http(endpoint: &str, wait: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = if endpoint.starts_with('[') {
        if endpoint.contains("]:") {
            endpoint.to_string()
        } else {
            format!("{endpoint}:80")
        }
    } else if endpoint.matches(':').count() > 1 {
        format!("[{endpoint}]:80")
    } else if endpoint.contains(':') {
        endpoint.to_string()
    } else {
        format!("{endpoint}:80")
    };
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
        let request = format!(
            "GET /v2/ HTTP/1.1\r\nHost: {endpoint}\r\nUser-Agent: cairn/{}\r\n\
             Connection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        s.write_all(request.as_bytes()).await.ok()?;
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(buf.get(..n)?);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1)?;
        Some(status == "200" && !head.contains("\r\nwww-authenticate:"))
    };
    tokio::time::timeout(wait, probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Whether `registry` (host[:port]) is a loopback address.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        // [::1]:5000
        rest.split(']').next().unwrap_or(rest)
    } else if registry.matches(':').count() > 1 {
        // A bare IPv6 address.
        registry
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host requests for `registry` go to.
pub(crate) fn endpoint(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io".to_string(),
        other => other.to_string(),
    }
}

impl Registry {
    /// A client with `opts`; reads the docker config now (a malformed one is an error).
    pub fn new(opts: RegistryOptions) -> Result<Registry> {
        let docker = DockerConfig::load(opts.docker_config.as_deref())?;
        Ok(Registry {
            inner: Arc::new(Inner {
                opts,
                docker,
                hosts: tokio::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    pub(crate) fn concurrency(&self) -> usize {
        self.inner.opts.concurrency.max(1)
    }

    fn plain_http(&self, registry: &str) -> bool {
        is_loopback(registry)
            || self.inner.opts.insecure.iter().any(|i| {
                let i = i
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_end_matches('/');
                i == registry || registry.split(':').next() == Some(i)
            })
    }

    async fn host(&self, registry: &str) -> Result<Arc<Host>> {
        let mut hosts = self.inner.hosts.lock().await;
        if let Some(h) = hosts.get(registry) {
            return Ok(h.clone());
        }
        let endpoint = endpoint(registry);
        let protocol = if self.plain_http(registry) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let creds = self.inner.docker.credentials(registry).await;
        tracing::debug!(
            registry,
            %endpoint,
            ?protocol,
            user = creds.username(),
            source = %creds.source,
            "registry client"
        );
        let anonymous = matches!(creds.auth, RegistryAuth::Anonymous);
        let timeouts = self.inner.opts.timeouts;
        let client = Client::new(client_config(&protocol, false, &timeouts));
        let (client, open) = match protocol {
            // Plain http: a bare request tells, and costs no client.
            ClientProtocol::Http if anonymous => {
                let open = probe_open_http(&endpoint, timeouts.idle).await;
                (client, open)
            }
            // https: oci-client asks; the asking client keeps auth, so an open host gets a
            // fresh one.
            _ if anonymous && probe_open(&client, &endpoint).await => (
                Client::new(client_config(&protocol, false, &timeouts)),
                true,
            ),
            _ => (client, false),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.idle)
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .https_only(matches!(protocol, ClientProtocol::Https))
            .build()
            .map_err(|e| Error::Internal(format!("making an http client: {}", chain(&e))))?;
        let host = Arc::new(Host {
            http,
            registry: registry.to_string(),
            endpoint,
            client,
            mono: tokio::sync::OnceCell::new(),
            open,
            creds,
            protocol,
            timeouts,
        });
        hosts.insert(registry.to_string(), host.clone());
        Ok(host)
    }

    /// A repository handle, authenticated for `op` (a bearer token fetched if the registry
    /// asks for one; with Basic auth nothing is sent yet).
    pub(crate) async fn repo(
        &self,
        reference: &cairn_ir::Reference,
        op: RegistryOperation,
    ) -> Result<Repo> {
        let host = self.host(&reference.registry).await?;
        let mut repo = Repo {
            host,
            repository: reference.repository.clone(),
            attempts: self.inner.opts.attempts,
            bearer: None,
        };
        let ctx = repo.ctx("authenticating");
        let r = repo.reference_tag("latest");
        if repo.host.open {
            return Ok(repo);
        }
        let mut clients = vec![&repo.host.client];
        if op == RegistryOperation::Push {
            clients.push(repo.host.mono().await);
        }
        let mut bearer = None;
        for client in clients {
            let token = retry(&ctx, |_| async {
                client
                    .auth(&r, &repo.host.creds.auth, op)
                    .await
                    .map_err(|e| ctx.classify(e, "registry"))
            })
            .await?;
            bearer = bearer.or(token);
        }
        repo.bearer = bearer;
        Ok(repo)
    }
}

impl Repo {
    /// This repository as a blob's remembered origin.
    pub(crate) fn origin(&self) -> cairn_store::BlobOrigin {
        cairn_store::BlobOrigin {
            registry: self.host.registry.clone(),
            repository: self.repository.clone(),
        }
    }

    pub fn ctx(&self, what: impl Into<String>) -> Ctx {
        Ctx {
            registry: self.host.registry.clone(),
            repository: self.repository.clone(),
            what: what.into(),
            attempts: self.attempts,
            deadline: self.host.timeouts.deadline,
            idle: self.host.timeouts.idle,
            username: self.host.creds.username().map(str::to_string),
            cred_source: self.host.creds.source.clone(),
        }
    }

    pub fn reference_tag(&self, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.host.endpoint.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    pub fn reference_digest(&self, digest: &str) -> oci_client::Reference {
        oci_client::Reference::with_digest(
            self.host.endpoint.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }
}

/// A join error as ours.
pub(crate) fn joined<T>(r: std::result::Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| Error::Internal(format!("background task failed: {e}")))?
}

/// A transient failure from a stream error (never fatal unless it is a digest check).
pub(crate) fn stream_failure(ctx: &Ctx, digest: &str, e: std::io::Error) -> Failure {
    if let Some(inner) = e.get_ref()
        && let Some(oci_client::errors::DigestError::VerificationError { actual, .. }) =
            inner.downcast_ref::<oci_client::errors::DigestError>()
    {
        return Failure::Fatal(ctx.mismatch(digest, actual.clone()));
    }
    Failure::Transient(crate::error::chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "localhost:5000",
            "LOCALHOST:1",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "ghcr.io",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn docker_hub_endpoint() {
        assert_eq!(endpoint("docker.io"), "registry-1.docker.io");
        assert_eq!(endpoint("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn insecure_list_enables_http() {
        let r = Registry::new(RegistryOptions {
            insecure: vec!["reg.internal:5000".into(), "other.internal".into()],
            docker_config: Some(PathBuf::from("/nonexistent/config.json")),
            ..RegistryOptions::default()
        })
        .expect("client");
        assert!(r.plain_http("reg.internal:5000"));
        assert!(r.plain_http("other.internal:443"));
        assert!(r.plain_http("127.0.0.1:5000"));
        assert!(!r.plain_http("reg.internal:5001"));
        assert!(!r.plain_http("ghcr.io"));
    }
}

//! Retries with exponential backoff, and the sorting of failures into "try again" and "stop".
//!
//! Why here and not in oci-client: it retries nothing. A registry behind a load balancer
//! drops connections, answers 502/503 while rolling, and rate-limits with 429; a build should
//! ride that out. Authentication failures, missing tags and bad content are not going to get
//! better by asking again, so they are reported at once.

use crate::error::{Error, chain};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use std::future::Future;
use std::time::Duration;

/// First pause between attempts; doubled each time, capped at [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// The pause before attempt `attempt + 1` (attempts count from 1).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(10);
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

/// A classified failure of one attempt.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another attempt (connection trouble, 5xx, 429). The text is the cause.
    Transient(String),
    /// Final.
    Fatal(Error),
}

/// Where a request went and what it was for: turns oci-client errors into [`Error`]s that name
/// the registry, repository and operation.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub registry: String,
    pub repository: String,
    pub what: String,
    pub attempts: u32,
    /// No new attempt starts after this much time on the request.
    pub deadline: std::time::Duration,
    /// How long one attempt may wait for a byte: a retry that could not see its first byte
    /// within the deadline is not started, so a registry that never answers fails within
    /// `deadline`, not `deadline` + one more idle wait.
    pub idle: std::time::Duration,
    /// Username used (None: anonymous) and where the credentials came from.
    pub username: Option<String>,
    pub cred_source: String,
}

impl Ctx {
    pub fn transport(&self, cause: String) -> Error {
        Error::Transport {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            what: self.what.clone(),
            attempts: self.attempts,
            cause,
        }
    }

    pub fn protocol(&self, cause: impl Into<String>) -> Error {
        Error::Protocol {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            what: self.what.clone(),
            cause: cause.into(),
        }
    }

    pub fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidContent {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            what: self.what.clone(),
            reason: reason.into(),
        }
    }

    pub fn not_found(&self, what: impl Into<String>) -> Error {
        Error::NotFound {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            what: what.into(),
        }
    }

    pub fn mismatch(&self, digest: &str, actual: impl Into<String>) -> Error {
        Error::DigestMismatch {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            digest: digest.to_string(),
            actual: actual.into(),
        }
    }

    /// 401: no credentials, or the wrong ones.
    pub fn unauthorized(&self, detail: &str) -> Error {
        match &self.username {
            None => Error::AuthRequired {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                hint: self.cred_source.clone(),
            },
            Some(user) => Error::WrongCredentials {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                username: user.clone(),
                source_desc: self.cred_source.clone(),
                detail: if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                },
            },
        }
    }

    pub fn denied(&self, detail: impl Into<String>) -> Error {
        Error::Denied {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            detail: detail.into(),
        }
    }

    /// Classify an HTTP status (with the text to report).
    fn status(&self, code: u16, text: String, not_found: &str) -> Failure {
        match code {
            401 => Failure::Fatal(self.unauthorized("")),
            403 => Failure::Fatal(self.denied(text)),
            404 => Failure::Fatal(self.not_found(not_found)),
            408 | 429 | 500..=599 => Failure::Transient(format!("HTTP {code}: {text}")),
            _ => Failure::Fatal(self.protocol(format!("HTTP {code}: {text}"))),
        }
    }

    /// Sort an oci-client error. `not_found` names the thing asked for (for a 404).
    pub fn classify(&self, e: OciDistributionError, not_found: &str) -> Failure {
        use OciDistributionError as E;
        match e {
            E::UnauthorizedError { .. } => Failure::Fatal(self.unauthorized("")),
            E::AuthenticationFailure(reason) => {
                Failure::Fatal(self.unauthorized(&format!("token service said: {}", reason.trim())))
            }
            E::RegistryError { envelope, .. } => {
                let text = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                let code = envelope.errors.first().map(|e| &e.code);
                match code {
                    Some(OciErrorCode::Unauthorized) => Failure::Fatal(self.unauthorized("")),
                    Some(OciErrorCode::Denied) => Failure::Fatal(self.denied(text)),
                    Some(
                        OciErrorCode::ManifestUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown,
                    ) => Failure::Fatal(self.not_found(not_found)),
                    Some(OciErrorCode::Toomanyrequests) => {
                        Failure::Transient(format!("too many requests: {text}"))
                    }
                    _ => Failure::Fatal(self.protocol(format!("registry error: {text}"))),
                }
            }
            E::ServerError { code, message, .. } => {
                self.status(code, message.trim().to_string(), not_found)
            }
            E::RequestError(re) => match re.status() {
                Some(s) => self.status(s.as_u16(), chain(&re), not_found),
                // No answer at all: connect error, reset, timeout, truncated body.
                None => Failure::Transient(chain(&re)),
            },
            E::IoError(io) => Failure::Transient(chain(&io)),
            E::DigestError(d) => Failure::Fatal(self.protocol(format!("digest check: {d}"))),
            other => Failure::Fatal(self.protocol(chain(&other))),
        }
    }
}

/// Run `op` up to `ctx.attempts` times, sleeping [`backoff`] between transient failures. The
/// closure gets the attempt number (from 1).
pub(crate) async fn retry<T, F, Fut>(ctx: &Ctx, mut op: F) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let attempts = ctx.attempts.max(1);
    let mut attempt = 1;
    let started = std::time::Instant::now();
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(cause)) if attempt >= attempts => {
                return Err(ctx.transport(cause));
            }
            Err(Failure::Transient(cause))
                if started.elapsed() + backoff(attempt) + ctx.idle > ctx.deadline =>
            {
                return Err(ctx.transport(format!(
                    "{cause} (gave up after {attempt} attempts in {} s)",
                    started.elapsed().as_secs()
                )));
            }
            Err(Failure::Transient(cause)) => {
                let delay = backoff(attempt);
                tracing::debug!(
                    registry = %ctx.registry,
                    repository = %ctx.repository,
                    what = %ctx.what,
                    attempt,
                    ?delay,
                    %cause,
                    "transient failure, retrying"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(user: Option<&str>) -> Ctx {
        Ctx {
            registry: "127.0.0.1:5000".into(),
            repository: "app".into(),
            what: "fetching manifest".into(),
            attempts: 3,
            deadline: std::time::Duration::from_secs(60),
            idle: std::time::Duration::from_secs(20),
            username: user.map(str::to_string),
            cred_source: ", looked in /x/config.json".into(),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), BASE_DELAY);
        assert_eq!(backoff(2), BASE_DELAY * 2);
        assert_eq!(backoff(3), BASE_DELAY * 4);
        assert_eq!(backoff(40), MAX_DELAY);
    }

    #[test]
    fn statuses_are_sorted() {
        let c = ctx(None);
        let server = |code| OciDistributionError::ServerError {
            code,
            url: "u".into(),
            message: "m".into(),
        };
        assert!(matches!(
            c.classify(server(503), "x"),
            Failure::Transient(_)
        ));
        assert!(matches!(
            c.classify(server(429), "x"),
            Failure::Transient(_)
        ));
        match c.classify(server(401), "x") {
            Failure::Fatal(e) => assert_eq!(
                e.to_string(),
                "unauthorized: authentication required for 127.0.0.1:5000/app (no credentials \
                 for 127.0.0.1:5000, looked in /x/config.json; log in with `docker login \
                 127.0.0.1:5000`)"
            ),
            other => panic!("{other:?}"),
        }
        match ctx(Some("bob")).classify(server(401), "x") {
            Failure::Fatal(e) => {
                assert!(e.is_unauthorized());
                assert!(
                    e.to_string()
                        .starts_with("unauthorized: wrong credentials for 127.0.0.1:5000"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.classify(server(404), "tag nope"),
            Failure::Fatal(Error::NotFound { .. })
        ));
        assert!(matches!(
            c.classify(server(400), "x"),
            Failure::Fatal(Error::Protocol { .. })
        ));
    }

    #[tokio::test]
    async fn retries_transient_then_gives_up() {
        let c = ctx(None);
        let mut calls = 0;
        let err = retry(&c, |_| {
            calls += 1;
            async { Err::<(), _>(Failure::Transient("connection refused".into())) }
        })
        .await
        .expect_err("gives up");
        assert_eq!(calls, 3);
        assert!(err.to_string().contains("connection refused"), "{err}");
        assert!(err.to_string().contains("3 attempts"), "{err}");
        let mut calls = 0;
        let ok = retry(&c, |n| {
            calls += 1;
            async move {
                if n < 2 {
                    Err(Failure::Transient("reset".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .expect("second attempt");
        assert_eq!((ok, calls), (2, 2));
    }
}

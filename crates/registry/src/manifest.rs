//! Fetching manifests and indexes with a size cap that holds while the body streams.
//!
//! Why not oci-client's `pull_manifest_raw`: it reads the whole answer into memory before
//! anyone can look at its size, so a registry that streams a manifest forever grew cairn to
//! 4.9 GB in 21 s. Here the body is read chunk by chunk and the attempt fails (for good: a
//! registry that sends a 5 GB manifest will not send a small one next time) as soon as it
//! passes [`MAX_MANIFEST`] — 4 MiB, containerd's limit. An error answer's body is read up to
//! [`MAX_ERROR_BODY`] only. Authentication stays oci-client's: the bearer token it fetched
//! for the repository ([`Repo::bearer`]), or the Basic credentials, or nothing for an open
//! registry.

use crate::client::Repo;
use crate::platform;
use crate::retry::{Ctx, Failure};
use cairn_oci::model::{
    Index, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST, Manifest,
};
use cairn_store::OciDigest;
use futures_util::StreamExt as _;
use oci_client::errors::{OciDistributionError, OciEnvelope};
use oci_client::secrets::RegistryAuth;

/// The largest manifest or index cairn reads (containerd's `MaxManifestSize`).
pub(crate) const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// The most of an error answer's body kept for the message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The manifest (or index) `at` (a tag or a digest) of `repo`, and its digest (computed from
/// the bytes; for a digest reference, checked against it).
pub(crate) async fn get(
    repo: &Repo,
    at: &str,
    accept: &[&str],
    ctx: &Ctx,
    what: &str,
) -> Result<(Vec<u8>, String), Failure> {
    let host = &repo.host;
    let scheme = if host.https() { "https" } else { "http" };
    let url = format!(
        "{scheme}://{}/v2/{}/manifests/{at}",
        host.endpoint, repo.repository
    );
    let mut request = host.http.get(&url).header("Accept", accept.join(", "));
    if let Some(token) = &repo.bearer {
        request = request.bearer_auth(token);
    } else if let RegistryAuth::Basic(user, password) = &host.creds.auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request
        .send()
        .await
        .map_err(|e| ctx.classify(OciDistributionError::RequestError(e), what))?;
    let status = response.status();
    let declared = response.content_length();
    let limit = if status.is_success() {
        MAX_MANIFEST
    } else {
        MAX_ERROR_BODY
    };
    if status.is_success()
        && let Some(n) = declared
        && n > MAX_MANIFEST as u64
    {
        return Err(too_large(ctx, what, n));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ctx.classify(OciDistributionError::RequestError(e), what))?;
        if body.len() + chunk.len() > limit {
            if status.is_success() {
                return Err(too_large(ctx, what, (body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(chunk.get(..limit - body.len()).unwrap_or_default());
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(ctx.classify(error_answer(status.as_u16(), &body, &url), what));
    }
    let digest = OciDigest::of(&body).to_string();
    if at.contains(':') && at != digest {
        return Err(Failure::Fatal(ctx.mismatch(at, digest)));
    }
    Ok((body, digest))
}

/// What a manifest document turned out to be.
#[derive(Debug)]
pub enum Document {
    /// An index (or Docker manifest list): the digest of the entry for the wanted platform,
    /// if any, and the platforms it offers.
    Index {
        pick: Option<String>,
        available: Vec<String>,
    },
    /// An image manifest and its media type.
    Manifest {
        media_type: String,
        manifest: Box<Manifest>,
    },
}

/// Read a manifest document a registry sent (hostile bytes: never a panic, only a reason).
/// The media type is its `mediaType` or, where absent (allowed by OCI), its shape.
pub fn read(bytes: &[u8], want: &cairn_ir::Platform) -> Result<Document, String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err(
            "Docker schema 1 manifests are not supported (push the image again with a current \
             client)"
                .into(),
        );
    }
    let media_type = match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(mt) => mt.to_string(),
        None if v.get("manifests").is_some() => MEDIA_TYPE_INDEX.to_string(),
        None if v.get("config").is_some() => MEDIA_TYPE_MANIFEST.to_string(),
        None => return Err("neither an image manifest nor an index".into()),
    };
    match media_type.as_str() {
        MEDIA_TYPE_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST => {
            let index: Index = serde_json::from_value(v).map_err(|e| format!("bad index: {e}"))?;
            Ok(Document::Index {
                pick: platform::select(&index.manifests, want).map(|d| d.digest.clone()),
                available: index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(platform::describe))
                    .collect(),
            })
        }
        MEDIA_TYPE_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => {
            let manifest: Manifest =
                serde_json::from_value(v).map_err(|e| format!("bad image manifest: {e}"))?;
            Ok(Document::Manifest {
                media_type,
                manifest: Box::new(manifest),
            })
        }
        other => Err(format!("unsupported manifest media type {other}")),
    }
}

/// An error answer as oci-client would have reported it (so one classifier sorts both).
fn error_answer(code: u16, body: &[u8], url: &str) -> OciDistributionError {
    if code == 401 {
        return OciDistributionError::UnauthorizedError {
            url: url.to_string(),
        };
    }
    match serde_json::from_slice::<OciEnvelope>(body) {
        Ok(envelope) if (400..500).contains(&code) && !envelope.errors.is_empty() => {
            OciDistributionError::RegistryError {
                envelope,
                url: url.to_string(),
            }
        }
        _ => OciDistributionError::ServerError {
            code,
            url: url.to_string(),
            message: String::from_utf8_lossy(body).into_owned(),
        },
    }
}

fn too_large(ctx: &Ctx, what: &str, seen: u64) -> Failure {
    Failure::Fatal(ctx.invalid(format!(
        "{what} is larger than {} MiB (at least {seen} bytes): refused; no real image has a \
         manifest that big",
        MAX_MANIFEST / (1024 * 1024)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_keep_the_registry_error() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such"}]}"#;
        assert!(matches!(
            error_answer(404, body, "u"),
            OciDistributionError::RegistryError { .. }
        ));
        assert!(matches!(
            error_answer(401, b"", "u"),
            OciDistributionError::UnauthorizedError { .. }
        ));
        assert!(matches!(
            error_answer(502, b"<html>bad gateway</html>", "u"),
            OciDistributionError::ServerError { code: 502, .. }
        ));
    }
}

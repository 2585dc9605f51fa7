//! Pushing images from the store.
//!
//! Why this order: a registry only accepts a manifest whose blobs it already has, and most
//! blobs of a rebuilt image are already there (base layers, unchanged steps). So every blob is
//! first checked with a HEAD; a missing one that the store remembers pulling from (or pushing
//! to) another repository of the same registry is *mounted* — a server-side link, no bytes
//! sent; only what is left is uploaded, streamed from the store's blob file (one PUT up to
//! 16 MiB, PATCH chunks above). Blobs go in parallel; the manifest goes last, by tag.

use crate::client::{MONOLITHIC_MAX, Registry, Repo};
use crate::error::{Error, Result};
use crate::retry::{Failure, retry};
use crate::transfer::{Transfer, Unobserved};
use bytes::{Bytes, BytesMut};
use cairn_store::{OciDigest, Store};
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt as _;

/// What a push did, blob by blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Digest of the pushed manifest.
    pub manifest_digest: OciDigest,
    /// Blobs sent.
    pub uploaded: Vec<OciDigest>,
    /// Blobs linked from another repository of the same registry.
    pub mounted: Vec<OciDigest>,
    /// Blobs the repository already had.
    pub existing: Vec<OciDigest>,
    /// Bytes of the uploaded blobs.
    pub uploaded_bytes: u64,
}

/// Blob existence checks (HEAD) in flight at once during a push.
const EXISTS_CONCURRENCY: usize = 16;

enum BlobOutcome {
    Uploaded(OciDigest, u64),
    Mounted(OciDigest),
    Existing(OciDigest),
}

/// Items of an upload stream: a PATCH each in chunked mode, so not too small.
const READ_CHUNK: usize = 4 * 1024 * 1024;

/// The store blob at `path` as a stream of chunks, hashed as it goes: a blob damaged in the
/// store ends the stream with an error naming it (before the registry sees the last byte),
/// instead of an upload the registry rejects for reasons it does not explain.
fn file_stream(
    path: PathBuf,
    digest: OciDigest,
    size: u64,
) -> impl Stream<Item = std::result::Result<Bytes, OciDistributionError>> + Send + 'static {
    use sha2::Digest as _;
    futures_util::stream::try_unfold(None::<(tokio::fs::File, sha2::Sha256, u64)>, move |state| {
        let (path, digest) = (path.clone(), digest.clone());
        async move {
            let (mut f, mut hasher, mut sent) = match state {
                Some(s) => s,
                None => (tokio::fs::File::open(&path).await?, sha2::Sha256::new(), 0),
            };
            let mut buf = BytesMut::with_capacity(READ_CHUNK);
            while buf.len() < READ_CHUNK {
                if f.read_buf(&mut buf).await? == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                return Ok(None);
            }
            hasher.update(&buf);
            sent += buf.len() as u64;
            // Checked before the last chunk goes out: a client that stops reading at the
            // declared size never asks for the end of the stream.
            let last = buf.len() < READ_CHUNK || sent >= size;
            if last {
                let actual = OciDigest::from_sha256(hasher.clone().finalize().into());
                if actual != digest || sent != size {
                    return Err(OciDistributionError::GenericError(Some(format!(
                        "blob {digest} in the store is damaged (it hashes to {actual}): run \
                             `cairn check --repair`, then rebuild, or pull/load the image again"
                    ))));
                }
            }
            Ok(Some((buf.freeze(), Some((f, hasher, sent)))))
        }
    })
}

/// The media type to send a manifest with: its own `mediaType`, else from its shape.
fn manifest_media_type(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(mt) => mt.to_string(),
        None if v.get("manifests").is_some() => cairn_oci::model::MEDIA_TYPE_INDEX.to_string(),
        None => cairn_oci::model::MEDIA_TYPE_MANIFEST.to_string(),
    }
}

impl Registry {
    /// Push an assembled image: HEAD each blob, cross-repository mount when the store knows
    /// the blob came from another repository of the same registry, upload the missing ones in
    /// parallel (chunked above a threshold), then the manifest by tag. Returns the manifest
    /// digest.
    pub async fn push(
        &self,
        store: &Store,
        image: &cairn_oci::AssembledImage,
        target: &cairn_ir::Reference,
    ) -> Result<OciDigest> {
        Ok(self
            .push_with_report(store, image, target)
            .await?
            .manifest_digest)
    }

    /// [`Registry::push`], also saying which blobs were uploaded, mounted or already there.
    pub async fn push_with_report(
        &self,
        store: &Store,
        image: &cairn_oci::AssembledImage,
        target: &cairn_ir::Reference,
    ) -> Result<PushReport> {
        self.push_observed(store, image, target, Arc::new(Unobserved))
            .await
    }

    /// [`Registry::push_with_report`], telling `transfer` about the blobs' bytes as they go.
    pub async fn push_observed(
        &self,
        store: &Store,
        image: &cairn_oci::AssembledImage,
        target: &cairn_ir::Reference,
        transfer: Arc<dyn Transfer>,
    ) -> Result<PushReport> {
        let repo = self.repo(target, RegistryOperation::Push).await?;
        // Config first in the list, then layers, each once.
        if !store.has_blob(&image.config) {
            store.put_blob(&image.config_bytes)?;
        }
        let mut blobs: Vec<(OciDigest, u64)> =
            vec![(image.config.clone(), image.config_bytes.len() as u64)];
        for l in &image.layers {
            if !blobs.iter().any(|(d, _)| *d == l.digest) {
                blobs.push((l.digest.clone(), l.size));
            }
        }
        for (d, _) in &blobs {
            if !store.has_blob(d) {
                return Err(Error::MissingBlob {
                    registry: repo.host.registry.clone(),
                    repository: repo.repository.clone(),
                    digest: d.clone(),
                });
            }
        }
        // Existence checks are small requests: many at once; then the transfers.
        let present: Vec<bool> = futures_util::stream::iter(blobs.iter())
            .map(|(d, _)| self.blob_exists(&repo, d))
            .buffered(EXISTS_CONCURRENCY)
            .try_collect()
            .await?;
        let mut outcomes: Vec<BlobOutcome> = blobs
            .iter()
            .zip(&present)
            .filter(|(_, p)| **p)
            .map(|((d, _), _)| BlobOutcome::Existing(d.clone()))
            .collect();
        let missing = blobs.iter().zip(&present).filter(|(_, p)| !**p);
        let sent: Vec<BlobOutcome> = futures_util::stream::iter(missing)
            .map(|((d, size), _)| self.send_blob(store, &repo, d, *size, transfer.clone()))
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        outcomes.extend(sent);
        let manifest_digest = self
            .push_manifest_in(&repo, target, &image.manifest_bytes, None)
            .await?;
        let mut report = PushReport {
            manifest_digest,
            uploaded: Vec::new(),
            mounted: Vec::new(),
            existing: Vec::new(),
            uploaded_bytes: 0,
        };
        for o in outcomes {
            let d = match o {
                BlobOutcome::Uploaded(d, n) => {
                    report.uploaded_bytes += n;
                    report.uploaded.push(d.clone());
                    d
                }
                BlobOutcome::Mounted(d) => {
                    report.mounted.push(d.clone());
                    d
                }
                BlobOutcome::Existing(d) => {
                    report.existing.push(d.clone());
                    d
                }
            };
            store.set_blob_origin(&d, &repo.origin())?;
        }
        tracing::debug!(target = %target, manifest = %report.manifest_digest,
            uploaded = report.uploaded.len(), mounted = report.mounted.len(),
            existing = report.existing.len(), "pushed");
        Ok(report)
    }

    /// Push a manifest or index document as is (by `target`'s tag, else its digest). For
    /// multi-platform pushes: push each image, then the index naming their manifests.
    /// `media_type` defaults to the document's own `mediaType`.
    pub async fn push_manifest(
        &self,
        target: &cairn_ir::Reference,
        manifest: &[u8],
        media_type: Option<&str>,
    ) -> Result<OciDigest> {
        let repo = self.repo(target, RegistryOperation::Push).await?;
        self.push_manifest_in(&repo, target, manifest, media_type)
            .await
    }

    async fn push_manifest_in(
        &self,
        repo: &Repo,
        target: &cairn_ir::Reference,
        manifest: &[u8],
        media_type: Option<&str>,
    ) -> Result<OciDigest> {
        let digest = OciDigest::of(manifest);
        let (r, at) = match (&target.tag, &target.digest) {
            (Some(tag), _) => (repo.reference_tag(tag), tag.clone()),
            (None, Some(d)) => {
                if *d != digest.as_str() {
                    return Err(Error::InvalidReference {
                        reference: target.to_string(),
                        reason: format!("the manifest's digest is {digest}"),
                    });
                }
                (repo.reference_digest(d), d.clone())
            }
            (None, None) => (repo.reference_tag("latest"), "latest".to_string()),
        };
        let ctx = repo.ctx(format!("pushing manifest {at}"));
        let mt = media_type
            .map(str::to_string)
            .unwrap_or_else(|| manifest_media_type(manifest));
        let body = Bytes::copy_from_slice(manifest);
        retry(&ctx, |_| {
            let body = body.clone();
            let mt = mt.clone();
            let ctx = &ctx;
            let r = &r;
            async move {
                let content_type = mt
                    .parse()
                    .map_err(|e| Failure::Fatal(ctx.invalid(format!("media type {mt:?}: {e}"))))?;
                repo.host
                    .client
                    .push_manifest_raw(r, body, content_type)
                    .await
                    .map_err(|e| ctx.classify(e, "repository"))
            }
        })
        .await?;
        Ok(digest)
    }

    /// Whether the repository has blob `digest` (HEAD).
    async fn blob_exists(&self, repo: &Repo, digest: &OciDigest) -> Result<bool> {
        let r = repo.reference_tag("latest");
        let ctx = repo.ctx(format!("checking blob {digest}"));
        retry(&ctx, |_| async {
            repo.host
                .client
                .blob_exists(&r, digest.as_str())
                .await
                .map_err(|e| ctx.classify(e, "repository"))
        })
        .await
    }

    /// Put a blob the repository lacks there: mounted from the repository the store says it
    /// came from (same registry), else uploaded.
    async fn send_blob(
        &self,
        store: &Store,
        repo: &Repo,
        digest: &OciDigest,
        size: u64,
        transfer: Arc<dyn Transfer>,
    ) -> Result<BlobOutcome> {
        let r = repo.reference_tag("latest");
        // A hint: one that does not read is no hint.
        if let Some(seen) = store.blob_origin(digest).ok().flatten()
            && seen.registry == repo.host.registry
            && seen.repository != repo.repository
        {
            let from = seen.repository;
            let source = oci_client::Reference::with_tag(
                repo.host.endpoint.clone(),
                from.clone(),
                "latest".into(),
            );
            match repo
                .host
                .client
                .mount_blob(&r, &source, digest.as_str())
                .await
            {
                Ok(()) => {
                    tracing::debug!(%digest, %from, "blob mounted");
                    return Ok(BlobOutcome::Mounted(digest.clone()));
                }
                Err(e) => {
                    tracing::debug!(%digest, %from, error = %e, "mount failed, uploading");
                }
            }
        }
        let ctx = repo.ctx(format!("uploading blob {digest}"));
        let path = store.blob_path(digest);
        let client = if size <= MONOLITHIC_MAX {
            repo.host.mono().await
        } else {
            &repo.host.client
        };
        transfer.begin(size);
        retry(&ctx, |_| {
            let counter = transfer.clone();
            let stream = file_stream(path.clone(), digest.clone(), size).inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    counter.moved(bytes.len() as u64);
                }
            });
            let (ctx, r) = (&ctx, &r);
            async move {
                client
                    .push_blob_stream(r, stream, digest.as_str(), Some(size))
                    .await
                    .map_err(|e| ctx.classify(e, "repository"))
            }
        })
        .await?;
        Ok(BlobOutcome::Uploaded(digest.clone(), size))
    }
}

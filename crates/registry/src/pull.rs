//! Resolving references and pulling images into the store.
//!
//! Why it is shaped like this: layers can be large and many, so they are streamed (never held
//! in memory) into store temp files in parallel, each hashed on the way and published only if
//! it hashes to its descriptor's digest — a download cut off, tampered with or truncated
//! leaves nothing in the store. A dropped connection is resumed with a Range request from the
//! bytes already written; 5xx / 429 / connection errors are retried with backoff. Unpacking
//! (`cairn_oci::unpack_layer`, CPU and disk heavy) runs on the blocking pool, into a staging
//! dir committed under the layer's content digest, exactly as an archive import does.
//! Work already done is skipped: a blob the store has is not downloaded, a layer whose
//! diff_id the store knows is neither downloaded nor unpacked.

use crate::client::{Registry, Repo, joined, stream_failure};
use crate::error::{Error, Result};
use crate::manifest::Document;
use crate::platform;
use crate::retry::{Ctx, Failure, backoff, retry};
use crate::transfer::{Transfer, Unobserved};
use cairn_oci::model::{
    Descriptor, ImageConfigFile, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, Manifest,
};
use cairn_store::{Compression, ImageRecord, LayerBlob, LayerId, LayerRecord, OciDigest, Store};
use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::RegistryOperation;
use oci_client::client::BlobResponse;
use std::io::{Read as _, Write as _};
use std::path::Path;

/// A reference resolved to one platform's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Digest of the platform's image manifest (not of the index that led to it).
    pub manifest_digest: OciDigest,
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// The image config JSON (verified against the manifest's config digest).
    pub config: Vec<u8>,
    /// The multi-platform index the reference named, when it named one (the outermost).
    pub index: Option<OciDigest>,
}

/// An image pulled into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledImage {
    pub record: ImageRecord,
    pub config: cairn_ir::ImageConfig,
    pub platform: cairn_ir::Platform,
    /// Blob bytes received over the network (config + layers; 0 when everything was there).
    pub downloaded_bytes: u64,
}

/// Manifest media types we ask for and understand.
const ACCEPT: &[&str] = &[
    MEDIA_TYPE_MANIFEST,
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
];

/// Layer media types we can unpack (compression is detected from the bytes anyway).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
];

/// The largest image config cairn reads (manifests: `manifest::MAX_MANIFEST`). Real configs
/// are kilobytes; this leaves room for long histories and many labels.
const MAX_CONFIG: usize = 8 * 1024 * 1024;

/// Nesting of indexes we follow (an index pointing at an index).
const MAX_INDEX_DEPTH: usize = 3;

/// A stored blob's compression, from its first bytes.
fn sniff(path: &Path) -> Result<Compression> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = 0;
    while n < head.len() {
        let got = f
            .read(head.get_mut(n..).unwrap_or_default())
            .map_err(|e| Error::io(path, e))?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(match head.get(..n).unwrap_or_default() {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// Bytes of regular files under `dir` (the layer record's `size`).
fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let meta = entry.metadata().map_err(|e| Error::io(entry.path(), e))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// Unpack the stored blob `digest` into a new layer (verifying the blob and its diff_id);
/// returns the LayerId.
fn unpack_blob(
    store: &Store,
    ctx: &Ctx,
    digest: &OciDigest,
    diff_id: &OciDigest,
) -> Result<LayerId> {
    let path = store.blob_path(digest);
    let compression = sniff(&path)?;
    let staging = store.staging()?;
    let mut reader = store.open_blob(digest)?;
    let size = reader.len();
    let got = cairn_oci::unpack_layer(&mut reader, staging.upper())?;
    // Read what the decompressor left so the blob's digest is checked.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| {
        match e.downcast::<cairn_store::Error>() {
            Ok(inner) => Error::Store(inner),
            Err(e) => Error::io(&path, e),
        }
    })?;
    if got != *diff_id {
        return Err(ctx.invalid(format!(
            "layer {digest} unpacks to diff_id {got}, but the image config says {diff_id}"
        )));
    }
    let id = cairn_oci::content_digest(staging.upper())?;
    let record = LayerRecord {
        size: dir_size(staging.upper())?,
        diff_id: Some(diff_id.clone()),
        blobs: vec![LayerBlob {
            compression,
            diff_id: diff_id.clone(),
            digest: digest.clone(),
            size,
        }],
        created: None,
    };
    store.commit_layer(staging, &id, record)?;
    Ok(id)
}

impl Registry {
    /// Resolve a reference (tag or digest) to the manifest for `platform` (an index / manifest
    /// list is followed), OCI and Docker v2 media types.
    pub async fn resolve(
        &self,
        reference: &cairn_ir::Reference,
        platform: &cairn_ir::Platform,
    ) -> Result<Resolved> {
        let repo = self.repo(reference, RegistryOperation::Pull).await?;
        Ok(self.resolve_in(&repo, reference, platform).await?.0)
    }

    async fn fetch_manifest(&self, repo: &Repo, at: &str) -> Result<(Vec<u8>, String)> {
        let what = if at.contains(':') {
            format!("manifest {at}")
        } else {
            format!("tag {at}")
        };
        let ctx = repo.ctx(format!("fetching {what}"));
        retry(&ctx, |_| async {
            crate::manifest::get(repo, at, ACCEPT, &ctx, &what).await
        })
        .await
    }

    /// Fetch a small blob (a config) into memory, verified against its digest.
    async fn fetch_small_blob(&self, repo: &Repo, desc: &Descriptor) -> Result<Vec<u8>> {
        let ctx = repo.ctx(format!("fetching config {}", desc.digest));
        if desc.size > MAX_CONFIG as u64 {
            return Err(ctx.invalid(format!("config is {} bytes", desc.size)));
        }
        let r = repo.reference_digest(&desc.digest);
        let digest = desc.digest.as_str();
        retry(&ctx, |_| async {
            let mut stream = repo
                .host
                .client
                .pull_blob_stream(&r, digest)
                .await
                .map_err(|e| ctx.classify(e, &format!("blob {digest}")))?;
            let mut out = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| stream_failure(&ctx, digest, e))?;
                out.extend_from_slice(&chunk);
                if out.len() > MAX_CONFIG {
                    return Err(Failure::Fatal(ctx.invalid("config too large")));
                }
            }
            let actual = OciDigest::of(&out);
            if actual.as_str() != digest {
                return Err(Failure::Fatal(ctx.mismatch(digest, actual.to_string())));
            }
            Ok(out)
        })
        .await
    }

    async fn resolve_in(
        &self,
        repo: &Repo,
        reference: &cairn_ir::Reference,
        want: &cairn_ir::Platform,
    ) -> Result<(Resolved, Manifest)> {
        let start = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let mut at = start.clone();
        let mut index = None;
        for _ in 0..=MAX_INDEX_DEPTH {
            let (bytes, digest) = self.fetch_manifest(repo, &at).await?;
            let ctx = repo.ctx(format!("manifest {digest}"));
            match crate::manifest::read(&bytes, want).map_err(|reason| ctx.invalid(reason))? {
                Document::Index {
                    pick: None,
                    available,
                } => {
                    return Err(Error::NoMatchingPlatform {
                        registry: repo.host.registry.clone(),
                        repository: repo.repository.clone(),
                        reference: start,
                        platform: platform::describe_wanted(want),
                        available: if available.is_empty() {
                            "none".into()
                        } else {
                            available.join(", ")
                        },
                    });
                }
                Document::Index {
                    pick: Some(pick), ..
                } => {
                    tracing::debug!(index = %digest, manifest = %pick, "platform selected");
                    if index.is_none() {
                        index = Some(
                            OciDigest::parse(&digest)
                                .map_err(|e| ctx.invalid(format!("index digest: {e}")))?,
                        );
                    }
                    at = pick;
                }
                Document::Manifest {
                    media_type,
                    manifest,
                } => {
                    let manifest_digest = OciDigest::parse(&digest)
                        .map_err(|e| ctx.invalid(format!("manifest digest: {e}")))?;
                    let config = self.fetch_small_blob(repo, &manifest.config).await?;
                    let resolved = Resolved {
                        manifest_digest,
                        manifest: bytes,
                        media_type,
                        config,
                        index,
                    };
                    return Ok((resolved, *manifest));
                }
            }
        }
        Err(repo
            .ctx(format!("resolving {start}"))
            .invalid("indexes nested too deep"))
    }

    /// Pull into the store: manifest + config blobs stored, layers downloaded in parallel
    /// (gzip / zstd / uncompressed), each verified against its digest, an interrupted download
    /// resumed with a Range request, retried with backoff; unpacked with
    /// `cairn_oci::unpack_layer` into a staging dir and committed under its content digest;
    /// the image registered under its normalized name. Nothing half-downloaded or unverified
    /// is ever published in the store.
    pub async fn pull(
        &self,
        store: &Store,
        reference: &cairn_ir::Reference,
        platform: &cairn_ir::Platform,
    ) -> Result<PulledImage> {
        self.pull_observed(store, reference, platform, &Unobserved)
            .await
    }

    /// [`Registry::pull`], telling `transfer` about the layers' bytes as they arrive.
    pub async fn pull_observed(
        &self,
        store: &Store,
        reference: &cairn_ir::Reference,
        platform: &cairn_ir::Platform,
        transfer: &dyn Transfer,
    ) -> Result<PulledImage> {
        let repo = self.repo(reference, RegistryOperation::Pull).await?;
        let (resolved, manifest) = self.resolve_in(&repo, reference, platform).await?;
        let ctx = repo.ctx(format!("image {}", resolved.manifest_digest));
        let file: ImageConfigFile = serde_json::from_slice(&resolved.config)
            .map_err(|e| ctx.invalid(format!("bad image config: {e}")))?;
        if file.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ctx.invalid(format!(
                "the config lists {} diff_ids but the manifest {} layers",
                file.rootfs.diff_ids.len(),
                manifest.layers.len()
            )));
        }
        let mut jobs = Vec::new();
        for (desc, diff_id) in manifest.layers.iter().zip(&file.rootfs.diff_ids) {
            if !LAYER_TYPES.contains(&desc.media_type.as_str()) {
                return Err(ctx.invalid(format!(
                    "layer {} has unsupported media type {}",
                    desc.digest, desc.media_type
                )));
            }
            let digest = OciDigest::parse(&desc.digest)
                .map_err(|e| ctx.invalid(format!("layer digest: {e}")))?;
            let diff_id =
                OciDigest::parse(diff_id).map_err(|e| ctx.invalid(format!("diff_id: {e}")))?;
            jobs.push((digest, desc.size, diff_id));
        }
        let layers: Vec<(LayerId, u64)> = futures_util::stream::iter(jobs.iter())
            .map(|(digest, size, diff_id)| {
                self.pull_layer(store, &repo, digest, *size, diff_id, transfer)
            })
            .buffered(self.concurrency())
            .try_collect()
            .await?;

        let config = store.put_blob(&resolved.config)?;
        let manifest_digest = store.put_blob(&resolved.manifest)?;
        for d in std::iter::once(&config).chain(jobs.iter().map(|(d, _, _)| d)) {
            if store.has_blob(d) {
                store.set_blob_origin(d, &repo.origin())?;
            }
        }
        let record = ImageRecord {
            manifest: manifest_digest,
            config,
            layers: layers.iter().map(|(id, _)| id.clone()).collect(),
        };
        // The name keeps the platforms it already holds from the same index.
        cairn_oci::add_platform_image(
            store,
            &reference.to_string(),
            &record,
            resolved.index.as_ref(),
            cairn_oci::Joining::SameIndex,
        )?;
        let (config, platform) = cairn_oci::from_config_file(&file);
        let downloaded_bytes =
            resolved.config.len() as u64 + layers.iter().map(|(_, n)| n).sum::<u64>();
        tracing::debug!(reference = %reference, manifest = %record.manifest, downloaded_bytes, "pulled");
        Ok(PulledImage {
            record,
            config,
            platform,
            downloaded_bytes,
        })
    }

    /// One layer: reuse, or download (unless the blob is there) and unpack. Returns the
    /// LayerId and the bytes received.
    async fn pull_layer(
        &self,
        store: &Store,
        repo: &Repo,
        digest: &OciDigest,
        size: u64,
        diff_id: &OciDigest,
        transfer: &dyn Transfer,
    ) -> Result<(LayerId, u64)> {
        // A hint: one that does not read is no hint.
        if let Some(id) = store.layer_for_diff_id(diff_id).ok().flatten() {
            tracing::debug!(%digest, layer = %id, "layer already unpacked");
            return Ok((id, 0));
        }
        let received = if store.has_blob(digest) {
            0
        } else {
            self.download(store, repo, digest, size, transfer).await?
        };
        let ctx = repo.ctx(format!("unpacking layer {digest}"));
        let (s, d, di) = (store.clone(), digest.clone(), diff_id.clone());
        let id = joined(tokio::task::spawn_blocking(move || unpack_blob(&s, &ctx, &d, &di)).await)?;
        store.set_layer_for_diff_id(diff_id, &id)?;
        Ok((id, received))
    }

    /// Fetch one blob of `reference`'s repository into the store (verified, resumed, retried),
    /// unless the store has it. For artifacts that are not images, such as exported caches.
    pub async fn fetch_blob(
        &self,
        store: &Store,
        reference: &cairn_ir::Reference,
        digest: &OciDigest,
        size: u64,
    ) -> Result<()> {
        self.fetch_blobs(store, reference, &[(digest.clone(), size)])
            .await
    }

    /// [`Registry::fetch_blob`] for several blobs of one repository, in parallel.
    pub async fn fetch_blobs(
        &self,
        store: &Store,
        reference: &cairn_ir::Reference,
        blobs: &[(OciDigest, u64)],
    ) -> Result<()> {
        let wanted: Vec<&(OciDigest, u64)> =
            blobs.iter().filter(|(d, _)| !store.has_blob(d)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let repo = self.repo(reference, RegistryOperation::Pull).await?;
        futures_util::stream::iter(wanted)
            .map(|(digest, size)| self.download(store, &repo, digest, *size, &Unobserved))
            .buffer_unordered(self.concurrency())
            .try_collect::<Vec<u64>>()
            .await?;
        Ok(())
    }

    /// Stream blob `digest` into the store, resuming after dropped connections. Returns the
    /// bytes received.
    async fn download(
        &self,
        store: &Store,
        repo: &Repo,
        digest: &OciDigest,
        size: u64,
        transfer: &dyn Transfer,
    ) -> Result<u64> {
        let ctx = repo.ctx(format!("downloading blob {digest}"));
        transfer.begin(size);
        let r = repo.reference_digest(digest.as_str());
        let mut writer = store.blob_writer()?;
        let mut received = 0u64;
        let mut attempt = 1;
        loop {
            let outcome = fetch_into(
                repo,
                &ctx,
                &r,
                store,
                digest,
                size,
                &mut writer,
                &mut received,
                transfer,
            )
            .await;
            match outcome {
                Ok(()) => break,
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(cause)) if attempt >= ctx.attempts.max(1) => {
                    return Err(ctx.transport(cause));
                }
                Err(Failure::Transient(cause)) => {
                    let delay = backoff(attempt);
                    tracing::debug!(%digest, attempt, have = writer.bytes_written(), ?delay, %cause,
                        "blob download interrupted, resuming");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
        let expected = digest.clone();
        let committed = tokio::task::spawn_blocking(move || writer.commit_expect(&expected))
            .await
            .map_err(|e| Error::Internal(format!("background task failed: {e}")))?;
        match committed {
            Ok(_) => Ok(received),
            Err(cairn_store::Error::DigestMismatch { actual, .. }) => {
                Err(ctx.mismatch(digest.as_str(), actual.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// One attempt at the rest of a blob: from the start, or from what `writer` has (Range).
#[allow(clippy::too_many_arguments)]
async fn fetch_into(
    repo: &Repo,
    ctx: &Ctx,
    r: &oci_client::Reference,
    store: &Store,
    digest: &OciDigest,
    size: u64,
    writer: &mut cairn_store::BlobWriter,
    received: &mut u64,
    transfer: &dyn Transfer,
) -> std::result::Result<(), Failure> {
    let client = &repo.host.client;
    let not_found = format!("blob {digest}");
    let offset = writer.bytes_written();
    if offset > 0 && offset >= size {
        return Ok(());
    }
    let mut stream = if offset == 0 {
        client
            .pull_blob_stream(r, digest.as_str())
            .await
            .map_err(|e| ctx.classify(e, &not_found))?
    } else {
        match client
            .pull_blob_stream_partial(r, digest.as_str(), offset, None)
            .await
            .map_err(|e| ctx.classify(e, &not_found))?
        {
            BlobResponse::Partial(s) => {
                tracing::debug!(%digest, offset, "resuming with a Range request");
                s
            }
            BlobResponse::Full(s) => {
                // No Range support: start over.
                *writer = store.blob_writer().map_err(|e| Failure::Fatal(e.into()))?;
                s
            }
        }
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| stream_failure(ctx, digest.as_str(), e))?;
        *received += chunk.len() as u64;
        transfer.moved(chunk.len() as u64);
        writer
            .write_all(&chunk)
            .map_err(|e| Failure::Fatal(Error::io(store.root().join("tmp"), e)))?;
        if writer.bytes_written() > size {
            return Err(Failure::Fatal(ctx.mismatch(
                digest.as_str(),
                format!("more than the {size} bytes its descriptor says"),
            )));
        }
    }
    Ok(())
}

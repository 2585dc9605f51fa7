//! A build context given as one file, as `docker build` takes it: on stdin (`cairn build -`)
//! or at a URL (`cairn build https://host/context.tar.gz`). A tar (plain, gzip, bzip2, xz or
//! zstd) is extracted with ADD's confinement; anything else is a Dockerfile alone, which
//! becomes a context holding only that `Dockerfile` (what docker's CLI sends for stdin, and
//! what BuildKit makes of a URL that is not an archive, whatever `-f` says).
//!
//! The file is streamed to a store staging directory first (a context can be large; memory
//! stays flat), or fetched into the store as `ADD <url>` fetches (revalidated, size-capped,
//! within the network timeouts). The context lives in a staging directory, which goes when the
//! build ends (or, after a crash, when the store is next opened).

use crate::commands::input::{MAX_INPUT_FILE, read_input_file};
use anyhow::{Context, Result, anyhow, bail};
use cairn_store::{Staging, Store};
use std::path::Path;

/// A context unpacked from one file; dropping it removes it.
pub struct PackedContext {
    staging: Staging,
    /// True when the file was a Dockerfile alone (then `-f` does not apply).
    pub lone_dockerfile: bool,
}

impl PackedContext {
    /// The context directory.
    pub fn dir(&self) -> &Path {
        self.staging.upper()
    }
}

/// Read the context (or a lone Dockerfile) from stdin.
pub fn from_stdin(store: &Store) -> Result<PackedContext> {
    let staging = store
        .staging()
        .context("cannot make room for the context from stdin")?;
    let raw = staging.work().join("stdin");
    {
        let mut file = std::fs::File::create(&raw)
            .with_context(|| format!("cannot write {}", raw.display()))?;
        std::io::copy(&mut std::io::stdin().lock(), &mut file)
            .context("cannot read the build context from stdin")?;
    }
    let ctx = unpack(staging, &raw, "the build context on stdin")?;
    let _ = std::fs::remove_file(&raw);
    Ok(ctx)
}

/// Fetch the context (or a lone Dockerfile) from an http(s) `url`.
pub fn from_url(
    store: &Store,
    url: &str,
    timeouts: cairn_registry::Timeouts,
) -> Result<PackedContext> {
    let fetcher = cairn_http::Fetcher::new(
        store.clone(),
        cairn_http::Timeouts {
            connect: timeouts.connect,
            idle: timeouts.idle,
        },
    )
    .map_err(|e| anyhow!(e))?;
    let filename = cairn_ir::SourceOp::http_default_filename(url);
    let src = cairn_http::Source {
        url: url.to_string(),
        filename: filename.clone(),
        checksum: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let fetched = runtime
        .block_on(fetcher.fetch(&src))
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("cannot fetch the build context {url}"))?;
    let staging = store
        .staging()
        .context("cannot make room for the context from a URL")?;
    let raw = store.layer_dir(&fetched.layer).join(&filename);
    unpack(staging, &raw, url)
}

/// Extract `raw` into `staging`'s directory, or make it the Dockerfile of an empty context.
fn unpack(staging: Staging, raw: &Path, what: &str) -> Result<PackedContext> {
    let dir = staging.upper().to_path_buf();
    let is_tar = cairn_fileop::extract_tar(raw, &dir, what)
        .with_context(|| format!("cannot unpack {what}"))?;
    if !is_tar {
        let len = std::fs::metadata(raw).map(|m| m.len()).unwrap_or(0);
        if len > MAX_INPUT_FILE {
            bail!(
                "{what} is not a tar archive, and at {len} bytes too large to be a Dockerfile \
                 (at most {MAX_INPUT_FILE})"
            );
        }
        let dockerfile =
            read_input_file(raw).with_context(|| format!("cannot read the Dockerfile {what}"))?;
        std::fs::write(dir.join("Dockerfile"), dockerfile)
            .with_context(|| format!("cannot write the Dockerfile {what}"))?;
    }
    Ok(PackedContext {
        staging,
        lone_dockerfile: !is_tar,
    })
}

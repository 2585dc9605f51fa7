//! `cairn build -`: the build context on stdin, as `docker build -` takes it — a tar (plain,
//! gzip, bzip2, xz or zstd), extracted with ADD's confinement, or else a Dockerfile alone,
//! which becomes a context holding only that `Dockerfile` (what docker's CLI sends too).
//!
//! Stdin is streamed to a store staging directory first (a context can be large; memory stays
//! flat), and everything lives in that directory, which goes when the build ends (or, after a
//! crash, when the store is next opened).

use crate::commands::input::{MAX_INPUT_FILE, read_input_file};
use anyhow::{Context, Result, bail};
use cairn_store::{Staging, Store};
use std::path::Path;

/// A context read from stdin; dropping it removes it.
pub struct StdinContext {
    staging: Staging,
}

impl StdinContext {
    /// The context directory.
    pub fn dir(&self) -> &Path {
        self.staging.upper()
    }
}

/// Read the context (or a lone Dockerfile) from stdin.
pub fn read(store: &Store) -> Result<StdinContext> {
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
    let dir = staging.upper().to_path_buf();
    let is_tar = cairn_fileop::extract_tar(&raw, &dir, "the build context on stdin")
        .context("cannot unpack the build context from stdin")?;
    if !is_tar {
        let len = std::fs::metadata(&raw).map(|m| m.len()).unwrap_or(0);
        if len > MAX_INPUT_FILE {
            bail!(
                "stdin is not a tar archive, and at {len} bytes too large to be a Dockerfile \
                 (at most {MAX_INPUT_FILE})"
            );
        }
        let dockerfile = read_input_file(&raw).context("cannot read the Dockerfile from stdin")?;
        std::fs::write(dir.join("Dockerfile"), dockerfile)
            .context("cannot write the Dockerfile from stdin")?;
    }
    let _ = std::fs::remove_file(&raw);
    Ok(StdinContext { staging })
}

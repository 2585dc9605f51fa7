//! `cairn pull` and `cairn push`, and the registry options `cairn build` shares with them.

use crate::commands::images::{StoreArgs, normalize};
use anyhow::{Context, Result};
use cairn_ir::{Platform, Reference};
use cairn_registry::{Registry, RegistryOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone, Default)]
pub struct RegistryArgs {
    /// Allow plain http for this registry (host[:port]); loopback always may. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// Give up on a registry request after this many seconds without success (connect and
    /// idle timeouts scale with it); the same bounds HTTP and git sources (`ADD <url>`).
    /// (Default 55: a registry that never answers fails within a minute.)
    #[arg(long = "registry-timeout", value_name = "SECONDS")]
    pub timeout_secs: Option<u64>,
}

impl RegistryArgs {
    pub fn client(&self) -> Result<Registry> {
        if let Some(bad) = self
            .insecure
            .iter()
            .find(|h| h.trim().is_empty() || h.contains(['/', ' ', ',']))
        {
            anyhow::bail!("invalid --insecure-registry {bad:?}: expected HOST[:PORT]");
        }
        let opts = RegistryOptions {
            insecure: self.insecure.clone(),
            timeouts: self.timeouts()?,
            ..RegistryOptions::default()
        };
        Registry::new(opts).context("cannot set up the registry client")
    }
}

impl RegistryArgs {
    /// The network timeouts `--registry-timeout` sets (registries and remote sources).
    pub fn timeouts(&self) -> Result<cairn_registry::Timeouts> {
        let timeout_secs = self
            .timeout_secs
            .unwrap_or(cairn_registry::DEFAULT_DEADLINE.as_secs());
        if timeout_secs == 0 {
            anyhow::bail!("--registry-timeout must be at least 1 second");
        }
        Ok(cairn_registry::Timeouts::within(
            std::time::Duration::from_secs(timeout_secs),
        ))
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[derive(Args)]
pub struct PullArgs {
    /// The image: NAME[:TAG] or NAME@DIGEST (docker.io short names as docker resolves them).
    pub reference: String,
    /// Platform to pull from a multi-platform image (default: this machine's). A name keeps
    /// the platforms it already holds from the same index: pull each you build for.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn pull(args: PullArgs) -> Result<()> {
    let store = args.store.open()?;
    let platform = match &args.platform {
        None => Platform::host(),
        Some(p) => Platform::parse(p)
            .with_context(|| format!("invalid platform {p:?}"))?
            .normalized(),
    };
    let reference = Reference::parse(&args.reference)
        .with_context(|| format!("invalid image reference {:?}", args.reference))?;
    let registry = args.registry.client()?;
    let pulled = runtime()?
        .block_on(registry.pull(&store, &reference, &platform))
        .with_context(|| format!("cannot pull {reference}"))?;
    outln!("{reference}: pulled {}", pulled.record.manifest);
    Ok(())
}

#[derive(Args)]
pub struct PushArgs {
    /// A stored image (`cairn images`), pushed under its own name.
    pub name: String,
    /// Write the pushed digest as JSON (`containerimage.digest`, `image.name`).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn push(args: PushArgs) -> Result<()> {
    let store = args.store.open()?;
    let name = normalize(&args.name)?;
    let registry = args.registry.client()?;
    let digest = runtime()?.block_on(cairn_build::push_named(&store, &registry, &name))?;
    outln!("{name}: pushed {digest}");
    write_metadata(args.metadata_file.as_deref(), &name, &digest, None)?;
    Ok(())
}

/// BuildKit's `--metadata-file` format for the keys cairn knows: the image (manifest) digest,
/// its name, and (for a build) the config digest, the image ID.
pub fn write_metadata(
    path: Option<&std::path::Path>,
    name: &str,
    digest: &str,
    config: Option<&str>,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let mut v = serde_json::json!({"containerimage.digest": digest, "image.name": name});
    if let Some(config) = config {
        v["containerimage.config.digest"] = serde_json::Value::String(config.to_string());
    }
    std::fs::write(path, serde_json::to_vec_pretty(&v)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

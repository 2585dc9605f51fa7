//! `cairn load`, `cairn import`, `cairn images`: getting base images into the store and seeing
//! what is there. (Registry pulls come with the registry client.)

use anyhow::{Context, Result};
use cairn_store::Store;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct StoreArgs {
    /// Store directory (default: $CAIRN_ROOT, /var/lib/cairn for root, else ~/.local/share/cairn).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
}

impl StoreArgs {
    pub fn open(&self) -> Result<Store> {
        let root = self.root.clone().unwrap_or_else(Store::default_root);
        Store::open(&root).with_context(|| format!("cannot open the store at {}", root.display()))
    }
}

#[derive(Args)]
pub struct LoadArgs {
    /// A `docker save` archive or an OCI image-layout tar.
    #[arg(short = 'i', long = "input")]
    pub input: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn load(args: LoadArgs) -> Result<()> {
    let store = args.store.open()?;
    let images = cairn_oci::import_archive(&store, &args.input)
        .with_context(|| format!("cannot load {}", args.input.display()))?;
    for img in images {
        let names = if img.names.is_empty() {
            "<untagged>".to_string()
        } else {
            img.names.join(", ")
        };
        println!("Loaded image: {names} ({})", img.record.manifest);
    }
    Ok(())
}

#[derive(Args)]
pub struct ImportArgs {
    /// A root filesystem: a directory or a tarball.
    pub source: PathBuf,
    /// NAME[:TAG] to store it under.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn import(args: ImportArgs) -> Result<()> {
    let store = args.store.open()?;
    let name = normalize(&args.name)?;
    let img = cairn_oci::import_rootfs(&store, &args.source, &name)
        .with_context(|| format!("cannot import {}", args.source.display()))?;
    println!("{}", img.record.manifest);
    Ok(())
}

#[derive(Args)]
pub struct ImagesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn images(args: ImagesArgs) -> Result<()> {
    let store = args.store.open()?;
    let mut list = store.images()?;
    list.sort_by(|a, b| a.0.cmp(&b.0));
    println!("{:<60} {:<20} LAYERS", "NAME", "MANIFEST");
    for (name, rec) in list {
        let m = rec.manifest.to_string();
        let short = m
            .strip_prefix("sha256:")
            .unwrap_or(&m)
            .get(..12)
            .unwrap_or("")
            .to_string();
        println!("{name:<60} {short:<20} {}", rec.layers.len());
    }
    Ok(())
}

/// Image names are stored normalized (`busybox` → `docker.io/library/busybox:latest`).
pub fn normalize(name: &str) -> Result<String> {
    Ok(cairn_ir::Reference::parse(name)
        .with_context(|| format!("invalid image name {name:?}"))?
        .to_string())
}

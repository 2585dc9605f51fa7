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

    /// The store if one exists at the root, else `None`: read-only commands create nothing
    /// (`cairn images --root /typo` must not leave a store tree behind).
    /// The store's root directory: `--root`, else the default.
    pub fn root(&self) -> std::path::PathBuf {
        self.root.clone().unwrap_or_else(Store::default_root)
    }

    pub fn open_existing(&self) -> Result<Option<Store>> {
        let root = self.root();
        if !root.join(cairn_store::LAYOUT_FILE).is_file() {
            return Ok(None);
        }
        self.open().map(Some)
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
        outln!("Loaded image: {names} ({})", img.record.manifest);
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
    outln!("{}", img.record.manifest);
    Ok(())
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Only the image IDs (short, unique), as `docker images -q`.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn print_header() {
    outln!(
        "{:<40} {:<20} {:<15} {:<20} SIZE",
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED"
    );
}

/// `docker images`: REPOSITORY, TAG, IMAGE ID (the config digest, which `build` prints),
/// CREATED and SIZE (of the unpacked layers).
pub fn images(args: ImagesArgs) -> Result<()> {
    let store = args.store.open_existing()?;
    let Some(store) = store else {
        if !args.quiet {
            print_header();
        }
        return Ok(());
    };
    let mut list = store.images()?;
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let now = cairn_oci::now_unix();
    let id_of = |rec: &cairn_store::ImageRecord| {
        let full = rec.config.to_string();
        if args.no_trunc {
            full
        } else {
            full.strip_prefix("sha256:")
                .and_then(|h| h.get(..12))
                .unwrap_or(&full)
                .to_string()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for (_, rec) in &list {
            let id = id_of(rec);
            if seen.insert(id.clone()) {
                outln!("{id}");
            }
        }
        return Ok(());
    }
    print_header();
    for (name, rec) in list {
        let (repo, tag) = split_name(&name);
        let created = store
            .read_blob(&rec.config)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["created"].as_str().and_then(cairn_oci::parse_rfc3339))
            .map_or_else(|| "N/A".to_string(), |t| human_age(now - t));
        let mut size = 0u64;
        for l in &rec.layers {
            size += store.layer(l)?.map_or(0, |r| r.size);
        }
        outln!(
            "{repo:<40} {tag:<20} {:<15} {created:<20} {}",
            id_of(&rec),
            human_size(size)
        );
    }
    Ok(())
}

/// `docker.io/library/busybox:latest` → (`busybox`, `latest`); a digest name has no tag.
fn split_name(name: &str) -> (String, String) {
    let familiar = cairn_ir::reference::familiar(name);
    if let Some((repo, _)) = familiar.split_once('@') {
        return (repo.to_string(), "<none>".into());
    }
    // The tag follows the last ':' after the last '/' (a registry port is not a tag).
    let slash = familiar.rfind('/').map_or(0, |i| i + 1);
    match familiar[slash..].rfind(':') {
        Some(i) => (
            familiar[..slash + i].to_string(),
            familiar[slash + i + 1..].to_string(),
        ),
        None => (familiar.to_string(), "<none>".into()),
    }
}

/// Docker's `HumanDuration` + " ago".
fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    let text = if s < 1 {
        "Less than a second".to_string()
    } else if s == 1 {
        "1 second".to_string()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".to_string()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".to_string()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{d} days")
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", d / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", d / 30)
    } else {
        format!("{} years", d / 365)
    };
    format!("{text} ago")
}

pub(crate) use cairn_build::units::human_size;

/// Image names are stored normalized (`busybox` → `docker.io/library/busybox:latest`).
pub fn normalize(name: &str) -> Result<String> {
    Ok(cairn_build::normalize_name(name)?)
}

#[cfg(test)]
mod listing_tests {
    use super::*;

    #[test]
    fn names_sizes_and_ages_read_like_docker() {
        assert_eq!(
            split_name("docker.io/library/busybox:latest"),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            split_name("localhost:5000/team/app:1.2"),
            ("localhost:5000/team/app".into(), "1.2".into())
        );
        assert_eq!(
            split_name("docker.io/library/x@sha256:abc"),
            ("x".into(), "<none>".into())
        );
        assert_eq!(human_size(5), "5B");
        assert_eq!(human_size(723_400), "723kB");
        assert_eq!(human_size(4_264_000), "4.26MB");
        assert_eq!(human_size(1_000_000_000), "1GB");
        assert_eq!(human_age(0), "Less than a second ago");
        assert_eq!(human_age(90), "About a minute ago");
        assert_eq!(human_age(3 * 3600), "3 hours ago");
        assert_eq!(human_age(10 * 86400), "10 days ago");
        assert_eq!(human_age(6 * 365 * 86400), "6 years ago");
    }
}

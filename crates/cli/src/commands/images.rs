//! `cairn load`, `cairn import`, `cairn images`: getting base images into the store and seeing
//! what is there. (Registry pulls come with the registry client.)

use anyhow::{Context, Result, bail};
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
    /// The platform its programs are for (os/arch[/variant], e.g. linux/arm64); default:
    /// this machine's.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn import(args: ImportArgs) -> Result<()> {
    let platform = match &args.platform {
        Some(p) => cairn_ir::Platform::parse(p).with_context(|| {
            format!("--platform {p:?} is not a platform (os/arch[/variant], e.g. linux/arm64)")
        })?,
        None => cairn_ir::Platform::host(),
    };
    let store = args.store.open()?;
    let name = normalize(&args.name)?;
    let img = cairn_oci::import_rootfs_for(&store, &args.source, &name, platform)
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
    /// Only images matching: reference=PATTERN (`*` within a path component), label=KEY or
    /// label=KEY=VALUE, before=IMAGE, since=IMAGE (created before/after it), dangling=true|false
    /// (repeatable: filters of one kind are alternatives, of different kinds all must hold).
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Only this repository (and tag), as `docker images busybox:latest`.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// One listed image: its name, record, creation time and labels.
struct Listed {
    name: String,
    rec: cairn_store::ImageRecord,
    /// The image's platform, when its name holds several (one row each).
    platform: Option<String>,
    created: Option<i64>,
    labels: std::collections::BTreeMap<String, String>,
}

/// `docker images --filter`: the kinds docker has for images (except `until`, a prune filter).
#[derive(Default)]
struct Filters {
    references: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    before: Option<String>,
    since: Option<String>,
    dangling: Option<bool>,
}

impl Filters {
    fn parse(specs: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for spec in specs {
            let Some((key, value)) = spec.split_once('=') else {
                bail!(
                    "invalid filter {spec:?}: expected KEY=VALUE (reference, label, before, since, dangling)"
                );
            };
            match key {
                "reference" => {
                    cairn_context::wildcard::validate(value).map_err(|_| {
                        anyhow::anyhow!("invalid reference filter {value:?}: bad pattern")
                    })?;
                    f.references.push(value.to_string())
                }
                "label" => f.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                }),
                "before" => f.before = Some(value.to_string()),
                "since" => f.since = Some(value.to_string()),
                "dangling" => {
                    f.dangling = Some(match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("invalid filter dangling={value:?}: expected true or false"),
                    })
                }
                _ => bail!(
                    "invalid filter {key:?}: cairn images filters by reference, label, before, since or dangling"
                ),
            }
        }
        Ok(f)
    }

    /// Docker's `reference.FamiliarMatch`: the pattern against `repo:tag`, then `repo`.
    fn reference_matches(&self, name: &str) -> bool {
        if self.references.is_empty() {
            return true;
        }
        let familiar = cairn_ir::reference::familiar(name);
        let (repo, _) = split_name(name);
        self.references.iter().any(|p| {
            cairn_context::wildcard::matches(p, familiar).unwrap_or(false)
                || cairn_context::wildcard::matches(p, &repo).unwrap_or(false)
        })
    }

    /// Whether `item` passes; `before` and `since` are the creation times of the images
    /// those filters name (looked up once).
    fn keep(&self, item: &Listed, before: Option<i64>, since: Option<i64>) -> bool {
        if self.dangling == Some(true) {
            // Every stored image has a name: none is dangling.
            return false;
        }
        if !self.reference_matches(&item.name) {
            return false;
        }
        for (k, v) in &self.labels {
            match (item.labels.get(k), v) {
                (None, _) => return false,
                (Some(have), Some(want)) if have != want => return false,
                _ => {}
            }
        }
        let created = item.created.unwrap_or(0);
        !(before.is_some_and(|t| created >= t) || since.is_some_and(|t| created <= t))
    }
}

fn print_header(platforms: bool) {
    outln!(
        "{:<40} {:<20} {:<15} {:<20} {}",
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        if platforms {
            "SIZE       PLATFORM"
        } else {
            "SIZE"
        }
    );
}

/// `docker images`: REPOSITORY, TAG, IMAGE ID (the config digest, which `build` prints),
/// CREATED and SIZE (of the unpacked layers).
pub fn images(args: ImagesArgs) -> Result<()> {
    let store = args.store.open_existing()?;
    let Some(store) = store else {
        if !args.quiet {
            print_header(false);
        }
        return Ok(());
    };
    let filters = Filters::parse(&args.filters)?;
    let mut all = store.images()?;
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let config_of = |rec: &cairn_store::ImageRecord| {
        store
            .read_blob(&rec.config)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    // A name of several platforms lists each of its images, with the platform.
    let rows = all.into_iter().flat_map(|(name, named)| {
        let several = named.images.len() > 1;
        named
            .images
            .into_iter()
            .map(move |rec| (name.clone(), rec, several))
    });
    let listed: Vec<Listed> = rows
        .map(|(name, rec, several)| {
            let config = config_of(&rec);
            let platform = several.then(|| {
                cairn_oci::image_platform(&store, &rec)
                    .map_or_else(|_| "?".to_string(), |p| p.to_string())
            });
            let created = config
                .as_ref()
                .and_then(|v| v["created"].as_str().and_then(cairn_oci::parse_rfc3339));
            let labels = config
                .as_ref()
                .and_then(|v| v["config"]["Labels"].as_object().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .collect();
            Listed {
                name,
                rec,
                platform,
                created,
                labels,
            }
        })
        .collect();
    let time_of = |image: &str| -> Result<Option<i64>> {
        let found = crate::commands::image_ops::find(&store, image)
            .map_err(|e| anyhow::anyhow!("invalid filter: {e}"))?;
        let Some((_, named)) = found.into_iter().next() else {
            return Ok(None);
        };
        let Some(rec) = named.images.first() else {
            return Ok(None);
        };
        Ok(config_of(rec).and_then(|v| v["created"].as_str().and_then(cairn_oci::parse_rfc3339)))
    };
    let before = filters
        .before
        .as_deref()
        .map(time_of)
        .transpose()?
        .flatten();
    let since = filters.since.as_deref().map(time_of).transpose()?.flatten();
    let wanted_repo = args.repository.as_deref().map(|r| {
        let (repo, tag) = split_name(&normalize(r).unwrap_or_else(|_| r.to_string()));
        let tag_given = r.rsplit('/').next().is_some_and(|last| last.contains(':'));
        (repo, tag_given.then_some(tag))
    });
    let mut list = Vec::new();
    for item in listed {
        if let Some((repo, tag)) = &wanted_repo {
            let (r, t) = split_name(&item.name);
            if &r != repo || tag.as_ref().is_some_and(|tag| tag != &t) {
                continue;
            }
        }
        if filters.keep(&item, before, since) {
            list.push(item);
        }
    }
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
        for item in &list {
            let id = id_of(&item.rec);
            if seen.insert(id.clone()) {
                outln!("{id}");
            }
        }
        return Ok(());
    }
    print_header(list.iter().any(|l| l.platform.is_some()));
    for Listed {
        name,
        rec,
        created,
        platform,
        ..
    } in list
    {
        let (repo, tag) = split_name(&name);
        let created = created.map_or_else(|| "N/A".to_string(), |t| human_age(now - t));
        let mut size = 0u64;
        for l in &rec.layers {
            size += store.layer(l)?.map_or(0, |r| r.size);
        }
        match platform {
            Some(p) => outln!(
                "{repo:<40} {tag:<20} {:<15} {created:<20} {:<10} {p}",
                id_of(&rec),
                human_size(size)
            ),
            None => outln!(
                "{repo:<40} {tag:<20} {:<15} {created:<20} {}",
                id_of(&rec),
                human_size(size)
            ),
        }
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
pub(crate) fn human_age(secs: i64) -> String {
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

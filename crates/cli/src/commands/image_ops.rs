//! `cairn tag`, `cairn rmi`, `cairn inspect`, `cairn save`: the stored images, as docker's
//! commands of the same names treat them. An image is named by a tag (`busybox`,
//! `ghcr.io/o/r:1`) or by its ID (the config digest `cairn images` and `cairn build` show, in
//! full or by a unique prefix of 4 or more hex digits).

use crate::commands::images::{StoreArgs, normalize};
use anyhow::{Context, Result, bail};
use cairn_store::{ImageRecord, NamedImage, Store};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct TagArgs {
    /// The image: NAME[:TAG] or ID.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The new name: NAME[:TAG].
    #[arg(value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Images to untag: NAME[:TAG] or ID (an ID removes every name it has only with --force).
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Remove every name of an image given by ID.
    #[arg(short, long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Images: NAME[:TAG] or ID.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct SaveArgs {
    /// The image: NAME[:TAG] or ID.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Write to this file (default: standard output, when it is not a terminal).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format: docker (`docker load` reads it) or oci.
    #[arg(long, default_value = "docker", value_name = "docker|oci")]
    pub format: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Every stored name of the image `word` means, with what it holds: one for a name (all its
/// platforms), all of an ID's (each with that image alone).
pub(crate) fn find(store: &Store, word: &str) -> Result<Vec<(String, NamedImage)>> {
    if let Ok(name) = normalize(word)
        && let Some(named) = store.image_get(&name)?
    {
        return Ok(vec![(name, named)]);
    }
    let hex = word.strip_prefix("sha256:").unwrap_or(word);
    if hex.len() >= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let is_hit = |r: &ImageRecord| {
            r.config
                .to_string()
                .strip_prefix("sha256:")
                .is_some_and(|h| h.starts_with(hex))
        };
        let hits: Vec<(String, NamedImage)> = store
            .images()?
            .into_iter()
            .filter_map(|(name, named)| {
                let rec = named.images.into_iter().find(is_hit)?;
                Some((name, NamedImage::single(rec)))
            })
            .collect();
        let ids: std::collections::BTreeSet<String> = hits
            .iter()
            .flat_map(|(_, n)| n.images.iter().map(|r| r.config.to_string()))
            .collect();
        if ids.len() > 1 {
            bail!(
                "{word} is the start of {} image IDs: give more of it",
                ids.len()
            );
        }
        if !hits.is_empty() {
            return Ok(hits);
        }
    }
    bail!("no image {word} in the store (see `cairn images`)")
}

/// The image of `named` a command that shows or saves one image takes: this machine's
/// platform's when the name holds several, else the first.
pub(crate) fn preferred(store: &Store, named: &NamedImage) -> Result<ImageRecord> {
    if let Some(rec) = cairn_oci::image_for_platform(store, named, &cairn_ir::Platform::host())? {
        return Ok(rec);
    }
    named.images.first().cloned().context("no image")
}

pub fn tag(args: TagArgs) -> Result<()> {
    let store = args.store.open()?;
    // Every platform of a name goes to the new name.
    let (_, named) = find(&store, &args.source)?
        .into_iter()
        .next()
        .context("no image")?;
    let target = normalize(&args.target)?;
    store.image_put(&target, &named)?;
    Ok(())
}

pub fn rmi(args: RmiArgs) -> Result<()> {
    let store = args.store.open()?;
    for word in &args.images {
        let names = find(&store, word)?;
        let by_name = normalize(word).is_ok_and(|n| names.len() == 1 && names[0].0 == n);
        if !by_name && names.len() > 1 && !args.force {
            bail!(
                "image {word} has {} names ({}): remove them one by one, or use --force",
                names.len(),
                names
                    .iter()
                    .map(|(n, _)| cairn_ir::reference::familiar(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (name, _) in names {
            store.image_remove(&name)?;
            outln!("Untagged: {}", cairn_ir::reference::familiar(&name));
        }
    }
    // The layers stay: they are build cache until pruned.
    Ok(())
}

/// `docker image inspect`'s shape, for what cairn knows of an image.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let store = args.store.open()?;
    let all = store.images()?;
    let mut out = Vec::new();
    for word in &args.images {
        let (_, named) = find(&store, word)?.into_iter().next().context("no image")?;
        let rec = preferred(&store, &named)?;
        let config: serde_json::Value = serde_json::from_slice(
            &store
                .read_blob(&rec.config)
                .with_context(|| format!("cannot read the config of {word}"))?,
        )
        .with_context(|| format!("the config of {word} is not JSON"))?;
        let names: Vec<String> = all
            .iter()
            .filter(|(n, named)| named.by_manifest(&rec.manifest).is_some() && !n.contains('@'))
            .map(|(n, _)| cairn_ir::reference::familiar(n).to_string())
            .collect();
        let mut size = 0u64;
        let mut layers = Vec::new();
        for l in &rec.layers {
            let r = store.layer(l)?;
            size += r.as_ref().map_or(0, |r| r.size);
            layers.push(serde_json::json!({
                "Id": l.to_string(),
                "Size": r.map_or(0, |r| r.size),
            }));
        }
        out.push(serde_json::json!({
            "Id": rec.config.to_string(),
            "RepoTags": names,
            "ManifestDigest": rec.manifest.to_string(),
            "Created": config["created"],
            "Author": config.get("author").cloned().unwrap_or(serde_json::Value::Null),
            "Architecture": config["architecture"],
            "Variant": config.get("variant").cloned().unwrap_or(serde_json::Value::Null),
            "Os": config["os"],
            "Size": size,
            "Config": config["config"],
            "RootFS": {"Type": "layers", "Layers": config["rootfs"]["diff_ids"]},
            "History": config["history"],
            "Layers": layers,
        }));
    }
    outln!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub fn save(args: SaveArgs) -> Result<()> {
    use std::io::IsTerminal;
    let store = args.store.open()?;
    let (name, named) = find(&store, &args.image)?
        .into_iter()
        .next()
        .context("no image")?;
    let names = if name.contains('@') {
        Vec::new()
    } else {
        vec![name]
    };
    let assemble = |rec: &ImageRecord| {
        cairn_oci::assemble_from_record(&store, rec, cairn_store::Compression::Gzip)
            .with_context(|| format!("cannot prepare {} for saving", args.image))
    };
    // An OCI archive holds every platform of a name under their index; a `docker load`
    // archive holds one image per name: this machine's platform's (said when others are left).
    let (images, index) = match args.format.as_str() {
        "oci" if named.images.len() > 1 => {
            let mut images = Vec::new();
            let mut platforms = Vec::new();
            for rec in &named.images {
                images.push(assemble(rec)?);
                platforms.push(cairn_oci::image_platform(&store, rec)?);
            }
            let index = cairn_oci::image_index(images.iter().zip(&platforms))?;
            (images, Some(index))
        }
        "oci" | "docker" => {
            let rec = preferred(&store, &named)?;
            if named.images.len() > 1 {
                let platform = cairn_oci::image_platform(&store, &rec)?;
                errln!(
                    "{} holds {} platforms: a docker archive takes one, {platform}'s (--format \
                     oci saves them all)",
                    args.image,
                    named.images.len()
                );
            }
            (vec![assemble(&rec)?], None)
        }
        other => bail!("unknown --format {other:?}: use docker or oci"),
    };
    let write = |w: &mut dyn std::io::Write| -> Result<()> {
        match (args.format.as_str(), images.as_slice()) {
            ("docker", [image]) => cairn_oci::write_docker_archive(&store, image, &names, w)?,
            _ => cairn_oci::write_oci_archive_of(
                &store,
                &cairn_oci::LayoutImages {
                    images: images.iter().collect(),
                    index: index.clone(),
                },
                &names,
                w,
            )?,
        }
        Ok(())
    };
    match &args.output {
        Some(path) => {
            let tmp = path.with_extension("cairn-partial");
            let mut f = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            let r = write(&mut f).and_then(|()| Ok(f.sync_all()?));
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.context(format!("cannot write {}", path.display())));
            }
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None if std::io::stdout().is_terminal() => {
            bail!("cairn save writes an archive: redirect standard output or give -o FILE")
        }
        None => {
            let mut out = std::io::stdout().lock();
            write(&mut out)?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct DuArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `cairn du`: the store's space by kind (read-only: a store that does not exist is empty).
pub fn du(args: DuArgs) -> Result<()> {
    let usage = match args.store.open_existing()? {
        Some(store) => store.usage()?,
        None => cairn_store::Usage::default(),
    };
    let rows = [
        ("image layers", usage.image_layers),
        ("  of them also build cache", usage.shared_layers),
        ("build cache layers", usage.cache_layers),
        ("build cache records", usage.cache_records),
        ("cache mounts", usage.cache_mounts),
        ("blobs (compressed)", usage.blobs),
        ("other", usage.other),
    ];
    if args.json {
        let mut m = serde_json::Map::new();
        for (name, a) in rows {
            m.insert(
                name.trim().replace(' ', "_"),
                serde_json::json!({"count": a.count, "bytes": a.bytes}),
            );
        }
        m.insert("total_bytes".into(), usage.total().into());
        outln!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    outln!("{:<28} {:>8} {:>12}", "KIND", "COUNT", "SIZE");
    for (name, a) in rows {
        let count = if name == "other" {
            String::new()
        } else {
            a.count.to_string()
        };
        outln!(
            "{name:<28} {count:>8} {:>12}",
            crate::commands::images::human_size(a.bytes)
        );
    }
    outln!(
        "{:<28} {:>8} {:>12}",
        "total",
        "",
        crate::commands::images::human_size(usage.total())
    );
    Ok(())
}

#[derive(Args)]
pub struct PruneArgs {
    /// Also records wholly inside images (their rebuilds run again) and the cache mounts.
    #[arg(long)]
    pub all: bool,
    /// until=DURATION: only what was last used longer ago (e.g. 24h, 30m, 7d).
    #[arg(long, value_name = "until=DURATION")]
    pub filter: Option<String>,
    /// Stop once the build cache is at most SIZE (e.g. 10g, 500m), least recently used first.
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// List what would go and why; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `24h`, `30m`, `10s`, `7d` (and go's `1h30m`).
fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => bail!("invalid duration {s:?}: use e.g. 24h, 30m, 7d"),
        };
        let n: u64 = number
            .parse()
            .with_context(|| format!("invalid duration {s:?}: use e.g. 24h, 30m, 7d"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() || s.is_empty() {
        bail!("invalid duration {s:?}: give a unit (s, m, h, d)");
    }
    Ok(std::time::Duration::from_secs(total))
}

pub fn prune(args: PruneArgs) -> Result<()> {
    let until = match args.filter.as_deref() {
        None => None,
        Some(f) => match f.split_once('=') {
            Some(("until", d)) => Some(parse_duration(d)?),
            _ => bail!("invalid --filter {f:?}: cairn prune filters by until=DURATION"),
        },
    };
    let keep_storage = args
        .keep_storage
        .as_deref()
        .map(|s| {
            cairn_dockerfile::instructions::ram_in_bytes(s.trim())
                .with_context(|| format!("invalid --keep-storage {s:?}: expected a size like 10g"))
        })
        .transpose()?;
    let root = args.store.root();
    if !root.join(cairn_store::LAYOUT_FILE).exists() {
        outln!("Total reclaimed space: 0B");
        return Ok(());
    }
    let store = cairn_store::Store::open_for_prune(&root)?;
    let opts = cairn_store::PruneOptions {
        all: args.all,
        until,
        keep_storage,
        dry_run: args.dry_run,
    };
    let report = store.prune(&opts, &mut || {
        errln!("the store is in use (a build, a pull…): waiting for it to finish");
    })?;
    let human = crate::commands::images::human_size;
    for p in &report.removed {
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        outln!("{verb} {} ({}): {}", p.what, human(p.bytes), p.why);
    }
    let total = if args.dry_run {
        "Total reclaimable space"
    } else {
        "Total reclaimed space"
    };
    outln!("{total}: {}", human(report.freed));
    Ok(())
}

//! `--build-context NAME=VALUE`, as `docker buildx build` takes it: `docker-image://REF`, an
//! `oci-layout://DIR[:TAG|@DIGEST]` (imported into the store first), or a local directory
//! (with its own `.dockerignore`). The frontend sees them as `NamedContext`s; local ones also
//! name the directory the solver reads for the local source `context:NAME`.

use crate::commands::input::read_ignore_patterns;
use anyhow::{Context, Result, bail};
use cairn_dockerfile::lower::NamedContext;
use cairn_ir::LocalSource;
use cairn_store::Store;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The build's named contexts.
#[derive(Default)]
pub struct NamedContexts {
    /// For the frontend, by NAME.
    pub lower: BTreeMap<String, NamedContext>,
    /// Directories of the local ones, by local source name (`context:NAME`).
    pub dirs: HashMap<String, PathBuf>,
}

/// Where images from `oci-layout://` contexts are kept in the store.
const LAYOUT_IMAGES: &str = "localhost/cairn-build-context";

pub fn parse(specs: &[String], store: &Store) -> Result<NamedContexts> {
    let mut out = NamedContexts::default();
    for spec in specs {
        let Some((name, value)) = spec.split_once('=') else {
            bail!("invalid --build-context {spec:?}: expected NAME=VALUE");
        };
        if name.is_empty() || value.is_empty() {
            bail!("invalid --build-context {spec:?}: expected NAME=VALUE");
        }
        if out.lower.contains_key(name) {
            bail!("invalid --build-context {spec:?}: {name} is given twice");
        }
        let context = if let Some(reference) = value.strip_prefix("docker-image://") {
            cairn_ir::Reference::parse(reference).with_context(|| {
                format!("invalid --build-context {spec:?}: not an image reference")
            })?;
            NamedContext::Image(reference.to_string())
        } else if let Some(layout) = value.strip_prefix("oci-layout://") {
            NamedContext::Image(import_layout(store, name, layout, spec)?)
        } else if value.contains("://") || value.starts_with("target:") {
            bail!(
                "--build-context {spec:?}: only docker-image://, oci-layout:// and local \
                 directories are supported (git and http contexts, and bake targets, are not yet)"
            );
        } else {
            let dir = std::fs::canonicalize(value)
                .with_context(|| format!("--build-context {spec:?}: cannot find {value}"))?;
            if !dir.is_dir() {
                bail!(
                    "--build-context {spec:?}: {} is not a directory",
                    dir.display()
                );
            }
            // The directory's own `.dockerignore`, as BuildKit applies it.
            let exclude = read_ignore_patterns(&dir.join(".dockerignore"))?.unwrap_or_default();
            out.dirs.insert(LocalSource::named(name), dir);
            NamedContext::Local { exclude }
        };
        out.lower.insert(name.to_string(), context);
    }
    Ok(out)
}

/// Import the layout at `DIR[:TAG|@DIGEST]` and name the chosen image for the build.
fn import_layout(store: &Store, name: &str, layout: &str, spec: &str) -> Result<String> {
    let (dir, digest) = match layout.rsplit_once('@') {
        Some((dir, d)) => (dir, Some(d)),
        None => (layout, None),
    };
    let (dir, tag) = match dir.rsplit_once(':') {
        Some((d, t)) if digest.is_none() && !t.contains('/') => (d, Some(t)),
        _ => (dir, None),
    };
    let images = cairn_oci::import_archive(store, std::path::Path::new(dir))
        .with_context(|| format!("--build-context {spec:?}: cannot read the OCI layout {dir}"))?;
    let chosen: Vec<_> = images
        .iter()
        .filter(|i| match (digest, tag) {
            (Some(d), _) => i.record.manifest.as_str() == d,
            (None, Some(t)) => i
                .names
                .iter()
                .any(|n| n == t || n.rsplit_once(':').is_some_and(|(_, nt)| nt == t)),
            (None, None) => true,
        })
        .collect();
    let image = match chosen.as_slice() {
        [one] => *one,
        [] => bail!("--build-context {spec:?}: no image in {dir} matches"),
        _ => bail!(
            "--build-context {spec:?}: {dir} holds {} images: name one with :TAG or @DIGEST",
            chosen.len()
        ),
    };
    let stored = format!(
        "{LAYOUT_IMAGES}/{}:latest",
        name.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
    );
    store
        .image_put(
            &stored,
            &cairn_store::NamedImage::single(image.record.clone()),
        )
        .with_context(|| format!("--build-context {spec:?}: cannot store the image"))?;
    Ok(stored)
}

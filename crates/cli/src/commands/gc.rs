//! The automatic GC after a build: when a build ran steps (a no-op build adds nothing), the
//! build cache is pruned, least recently used first, down to the policy's size — by default
//! 10% of the store's file system, at most 20 GB, as BuildKit's default GC policy does;
//! `$CAIRN_ROOT/config.toml` may set another size or turn it off:
//!
//! ```toml
//! [gc]
//! enabled = true          # false: only `cairn prune` frees space
//! keep-storage = "5GB"    # the build cache's size at most (bytes, or 512MB, 5GB, …)
//! ```
//!
//! It never waits: when another cairn process has the store open, that one collects when it
//! ends. Images and what they use are never collected (as `cairn prune` without `--all`).

use crate::commands::progress::Progress;
use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use std::path::Path;

/// The largest `config.toml` read: far above any real one.
const MAX_CONFIG: u64 = 1 << 20;

/// The most the default policy keeps.
const DEFAULT_CAP: u64 = 20_000_000_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    gc: GcSection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GcSection {
    enabled: Option<bool>,
    keep_storage: Option<toml::Value>,
}

/// What the GC keeps.
#[derive(Debug, PartialEq, Eq)]
pub struct Policy {
    pub enabled: bool,
    /// The build cache's size at most, in bytes.
    pub keep: u64,
    /// Where it came from, for messages.
    pub source: String,
}

/// The policy of the store at `root`: its `config.toml` if there is one, else the default.
pub fn policy(root: &Path) -> Result<Policy> {
    let path = root.join("config.toml");
    let text = match std::fs::File::open(&path) {
        Ok(f) => {
            use std::io::Read as _;
            let mut t = String::new();
            f.take(MAX_CONFIG + 1)
                .read_to_string(&mut t)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if t.len() as u64 > MAX_CONFIG {
                bail!("{} is over {MAX_CONFIG} bytes", path.display());
            }
            Some(t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: ConfigFile = match &text {
        Some(t) => toml::from_str(t).map_err(|e| {
            let place = e
                .span()
                .map(|s| {
                    let line = t.get(..s.start).map_or(0, |b| b.matches('\n').count()) + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{place}: {}", path.display(), e.message())
        })?,
        None => ConfigFile::default(),
    };
    let keep = match &config.gc.keep_storage {
        Some(toml::Value::Integer(n)) if *n >= 0 => u64::try_from(*n).unwrap_or(0),
        Some(toml::Value::String(s)) => cairn_dockerfile::instructions::ram_in_bytes(s.trim())
            .with_context(|| {
                format!(
                    "{}: gc.keep-storage = {s:?} is not a size (bytes, or e.g. 512MB, 5GB)",
                    path.display()
                )
            })?,
        Some(other) => bail!(
            "{}: gc.keep-storage = {other:?} is not a size (bytes, or e.g. \"5GB\")",
            path.display()
        ),
        None => default_keep(root),
    };
    Ok(Policy {
        enabled: config.gc.enabled.unwrap_or(true),
        keep,
        source: if text.is_some() {
            path.display().to_string()
        } else {
            "the default: 10% of the file system, at most 20GB".into()
        },
    })
}

/// 10% of the file system the store is on, at most 20 GB.
fn default_keep(root: &Path) -> u64 {
    match rustix::fs::statvfs(root) {
        Ok(s) => (s.f_blocks.saturating_mul(s.f_frsize) / 10).min(DEFAULT_CAP),
        Err(_) => DEFAULT_CAP,
    }
}

/// Collect after a build that ran steps, as the policy says. A failure is a warning: the
/// build succeeded.
pub fn after_build(root: &Path, progress: &Progress) {
    let run = || -> Result<Option<(u64, usize, Policy)>> {
        let policy = policy(root)?;
        if !policy.enabled {
            return Ok(None);
        }
        let store = cairn_store::Store::open_for_prune(root)?;
        let opts = cairn_store::PruneOptions {
            keep_storage: Some(policy.keep),
            ..cairn_store::PruneOptions::default()
        };
        Ok(store
            .prune_if_idle(&opts)?
            .map(|r| (r.freed, r.removed.len(), policy)))
    };
    match run() {
        Ok(Some((freed, n, policy))) if n > 0 => progress.info(&format!(
            "automatic GC: removed {n} cache entries, {} freed (the build cache is kept under {}: {})",
            cairn_build::units::human_size(freed),
            cairn_build::units::human_size(policy.keep),
            policy.source
        )),
        Ok(_) => {}
        Err(e) => progress.warn(&format!("automatic GC skipped: {e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_reads_config_toml_and_names_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = policy(dir.path()).expect("default");
        assert!(p.enabled && p.keep > 0 && p.keep <= DEFAULT_CAP, "{p:?}");
        let write = |s: &str| std::fs::write(dir.path().join("config.toml"), s).expect("write");
        write("[gc]\nkeep-storage = \"512MB\"\n");
        // Sizes are docker's RAMInBytes: binary units.
        assert_eq!(policy(dir.path()).expect("policy").keep, 512 << 20);
        write("[gc]\nenabled = false\nkeep-storage = 1000\n");
        let p = policy(dir.path()).expect("policy");
        assert!(!p.enabled && p.keep == 1000);
        write("[gc]\n\nkeep-storage = \"lots\"\n");
        let e = policy(dir.path()).expect_err("bad size").to_string();
        assert!(e.contains("config.toml") && e.contains("lots"), "{e}");
        write(&format!("[gc]\nenabled = true\n#{}\n", "x".repeat(2 << 20)));
        let e = policy(dir.path()).expect_err("too big").to_string();
        assert!(e.contains("config.toml is over"), "{e}");
        write("[gc]\nenabled = true\nkeep_storage = 5\n");
        let e = policy(dir.path()).expect_err("unknown key").to_string();
        assert!(e.contains("config.toml:3"), "{e}");
    }
}

//! `cairn check`: the store's fsck. A store CI machines share for months meets bit rot and
//! power cuts; reads already treat a torn record as absent, and exports verify blobs as they
//! stream, but only a full pass finds damage nobody has read yet.
//!
//! What it checks: every blob hashes to its name; every layer directory has a readable record
//! (and the record lists only blobs that exist); every cache record names layers that exist;
//! every image names a config, a manifest and layers that exist. With `repair`, damage is
//! removed or re-derived where that is safe (a corrupt blob deleted — an export makes a built
//! layer's blob again; a cache record that points nowhere deleted — the step runs again; a layer
//! record written again). An image whose parts are gone cannot be repaired
//! here: the report names it, to pull or load again.

use std::collections::HashSet;
use std::fs;

use crate::Store;
use crate::digest::{CacheKey, OciDigest, is_layer_id};
use crate::error::{Result, io_at};
use crate::index::CacheRecord;
use crate::layer::LayerRecord;

/// What a check found (and, with repair, fixed).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub blobs_checked: usize,
    pub layers_checked: usize,
    pub cache_records_checked: usize,
    pub images_checked: usize,
    /// One line per problem, saying what and where (and what repair did).
    pub problems: Vec<String>,
    /// How many problems repair fixed.
    pub repaired: usize,
}

impl Store {
    /// Check the whole store; with `repair`, fix what can safely be fixed.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        self.check_blobs(repair, &mut r)?;
        let layers = self.check_layers(repair, &mut r)?;
        self.check_cache(repair, &layers, &mut r)?;
        self.check_images(&layers, &mut r)?;
        Ok(r)
    }

    fn check_blobs(&self, repair: bool, r: &mut CheckReport) -> Result<()> {
        let dir = &self.layout().blobs;
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str() else { continue };
            let Ok(expected) = OciDigest::parse(&format!("sha256:{hex}")) else {
                continue; // not a blob (a temp file of a writer)
            };
            r.blobs_checked += 1;
            if let Some(actual) = self.blob_damage(&expected, repair)? {
                let mut line = format!("blob {expected} is damaged (hashes to {actual})");
                if repair {
                    line.push_str(": removed");
                    r.repaired += 1;
                }
                r.problems.push(line);
            }
        }
        Ok(())
    }

    /// Check every layer record; the ids of the layers that are sound (directory and record).
    fn check_layers(&self, repair: bool, r: &mut CheckReport) -> Result<HashSet<String>> {
        let mut sound = HashSet::new();
        let dir = &self.layout().layers;
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().filter(|n| is_layer_id(n)) else {
                continue;
            };
            if !entry.file_type().map_err(io_at(&entry.path()))?.is_dir() {
                continue;
            }
            r.layers_checked += 1;
            let Some(rec) = self.layer(id)? else {
                let mut line = format!("layer {id} has no readable record");
                if repair {
                    // What a build records for a layer it makes; an export adds the rest.
                    self.update_layer_record(id, |now| now.is_none().then(LayerRecord::default))?;
                    line.push_str(": written again");
                    r.repaired += 1;
                    sound.insert(id.to_string());
                }
                r.problems.push(line);
                continue;
            };
            sound.insert(id.to_string());
            let gone = rec
                .blobs
                .iter()
                .filter(|b| !self.has_blob(&b.digest))
                .count();
            if gone > 0 {
                let mut line = format!("layer {id} lists {gone} blob(s) the store does not have");
                if repair {
                    self.update_layer_record(id, |now| {
                        let mut now = now?;
                        now.blobs.retain(|b| self.has_blob(&b.digest));
                        Some(now)
                    })?;
                    line.push_str(": record updated");
                    r.repaired += 1;
                }
                r.problems.push(line);
            }
        }
        Ok(sound)
    }

    fn check_cache(
        &self,
        repair: bool,
        layers: &HashSet<String>,
        r: &mut CheckReport,
    ) -> Result<()> {
        let dir = &self.layout().cache;
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let name = entry.file_name();
            let Some(key) = name.to_str().and_then(CacheKey::from_hex) else {
                continue;
            };
            r.cache_records_checked += 1;
            // A torn record reads as absent, and any read (this one too) removes it.
            let Some(rec): Option<CacheRecord> = self.cache_get(&key)? else {
                r.problems
                    .push(format!("cache record {} was torn: removed", key.to_hex()));
                r.repaired += 1;
                continue;
            };
            let missing = rec
                .layers
                .iter()
                .filter(|l| !layers.contains(l.as_str()))
                .count();
            if missing > 0 {
                let mut line = format!(
                    "cache record {} names {missing} missing layer(s)",
                    key.to_hex()
                );
                if repair {
                    fs::remove_file(entry.path()).map_err(io_at(&entry.path()))?;
                    line.push_str(": removed (the step runs again)");
                    r.repaired += 1;
                }
                r.problems.push(line);
            }
        }
        Ok(())
    }

    fn check_images(&self, layers: &HashSet<String>, r: &mut CheckReport) -> Result<()> {
        for (name, named) in self.images()? {
            r.images_checked += 1;
            let mut missing = Vec::new();
            for rec in &named.images {
                for (what, d) in [("config", &rec.config), ("manifest", &rec.manifest)] {
                    if !self.has_blob(d) {
                        missing.push(format!("its {what} {d}"));
                    }
                }
                for l in rec.layers.iter().filter(|l| !layers.contains(l.as_str())) {
                    missing.push(format!("layer {l}"));
                }
            }
            if !missing.is_empty() {
                r.problems.push(format!(
                    "image {name} lacks {}: pull or load it again (or rebuild it)",
                    missing.join(", ")
                ));
            }
        }
        Ok(())
    }
}

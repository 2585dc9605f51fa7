//! `cairn check`: the store's fsck. A store CI machines share for months meets bit rot and
//! power cuts; reads already treat a torn record as absent, and exports verify blobs as they
//! stream, but only a full pass finds damage nobody has read yet.
//!
//! What it checks: every blob hashes to its name; every layer directory has a readable record
//! (and the record lists only blobs that exist); every cache record names layers that exist;
//! every image names a config, a manifest and layers that exist. With `repair`, damage is
//! removed or re-derived where that is safe (a corrupt blob deleted — an export makes a built
//! layer's blob again; a cache record that points nowhere deleted — the step runs again; a layer
//! record re-derived from its directory). An image whose parts are gone cannot be repaired
//! here: the report names it, to pull or load again.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::Store;
use crate::atomic::{self, Replace};
use crate::digest::{CacheKey, OciDigest, is_layer_id};
use crate::error::{Result, io_at};
use crate::index::CacheRecord;
use crate::layer::LayerRecord;
use crate::record::Kind;

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
        self.check_layers(repair, &mut r)?;
        self.check_cache(repair, &mut r)?;
        self.check_images(&mut r)?;
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
            let actual = sha256_of(&entry.path()).map_err(io_at(&entry.path()))?;
            if actual != expected {
                let mut line = format!("blob {expected} is damaged (hashes to {actual})");
                if repair {
                    fs::remove_file(entry.path()).map_err(io_at(&entry.path()))?;
                    line.push_str(": removed");
                    r.repaired += 1;
                }
                r.problems.push(line);
            }
        }
        Ok(())
    }

    fn check_layers(&self, repair: bool, r: &mut CheckReport) -> Result<()> {
        let dir = &self.layout().layers;
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().filter(|n| is_layer_id(n)) else {
                continue;
            };
            if !entry.path().is_dir() {
                continue;
            }
            r.layers_checked += 1;
            match self.layer(id)? {
                None => {
                    let mut line = format!("layer {id} has no readable record");
                    if repair {
                        let rec = LayerRecord {
                            size: tree_size(&entry.path()),
                            diff_id: None,
                            blobs: Vec::new(),
                        };
                        self.write_layer_record(id, &rec)?;
                        line.push_str(": re-derived from its directory");
                        r.repaired += 1;
                    }
                    r.problems.push(line);
                }
                Some(mut rec) => {
                    let before = rec.blobs.len();
                    rec.blobs.retain(|b| self.has_blob(&b.digest));
                    if rec.blobs.len() != before {
                        let mut line = format!(
                            "layer {id} lists {} blob(s) the store does not have",
                            before - rec.blobs.len()
                        );
                        if repair {
                            self.write_layer_record(id, &rec)?;
                            line.push_str(": record updated");
                            r.repaired += 1;
                        }
                        r.problems.push(line);
                    }
                }
            }
        }
        Ok(())
    }

    fn write_layer_record(&self, id: &str, rec: &LayerRecord) -> Result<()> {
        let _lock = self.lock(&format!("layer-record:{id}"))?;
        let path = self.layout().layers.join(format!("{id}.rec"));
        atomic::write_record(&self.layout().tmp, &path, Kind::Layer, rec, Replace::Yes)?;
        Ok(())
    }

    fn check_cache(&self, repair: bool, r: &mut CheckReport) -> Result<()> {
        let dir = &self.layout().cache;
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let name = entry.file_name();
            let Some(key) = name.to_str().and_then(parse_key) else {
                continue;
            };
            r.cache_records_checked += 1;
            // A torn record reads as absent (and is removed by the read itself).
            let Some(rec): Option<CacheRecord> = self.cache_get(&key)? else {
                r.problems
                    .push(format!("cache record {} was torn: removed", key.to_hex()));
                r.repaired += 1;
                continue;
            };
            let missing = rec
                .layers
                .iter()
                .filter(|l| !matches!(self.layer(l), Ok(Some(_))))
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

    fn check_images(&self, r: &mut CheckReport) -> Result<()> {
        for (name, rec) in self.images()? {
            r.images_checked += 1;
            let mut missing = Vec::new();
            for (what, d) in [("config", &rec.config), ("manifest", &rec.manifest)] {
                if !self.has_blob(d) {
                    missing.push(format!("its {what} {d}"));
                }
            }
            for l in &rec.layers {
                if !matches!(self.layer(l), Ok(Some(_))) {
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

fn parse_key(hex: &str) -> Option<CacheKey> {
    let bytes = hex::decode(hex).ok()?;
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(CacheKey(arr))
}

fn sha256_of(path: &Path) -> io::Result<OciDigest> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(OciDigest::from_sha256(h.finalize().into()))
}

/// Bytes under `dir` (regular files), not following symlinks; what cannot be read counts 0.
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                todo.push(e.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

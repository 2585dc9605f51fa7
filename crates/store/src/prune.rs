//! `cairn prune`: free the build cache, least recently used first.
//!
//! What goes: cache records that name a layer no image uses (records wholly inside images
//! cost a few bytes and keep their rebuilds instant: kept unless `all`), then every layer no
//! image and no remaining record uses (with the blobs made for it), and with `all` the cache
//! mounts too. A record's last use is its file's mtime, which the solver renews on every hit
//! ([`Store::cache_touch`]); a layer's is that of the newest record naming it, else its own.
//!
//! Safety: prune holds the store's in-use lock exclusively while it works, and every open
//! store (a running build, a pull, a load) holds it shared — so nothing an open store may be
//! using is ever removed, and no build starts until prune is done. A removed layer is first
//! renamed into `tmp/` (its record after it), so a crash leaves garbage the next open
//! collects, never a half-removed layer a record still names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::Store;
use crate::digest::{CacheKey, is_layer_id};
use crate::error::{Result, io_at};

#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also records wholly inside images, and the cache mounts.
    pub all: bool,
    /// Only what was last used longer ago than this.
    pub until: Option<Duration>,
    /// Stop once the build cache is at most this many bytes (least recently used goes first).
    pub keep_storage: Option<u64>,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
}

/// One thing removed (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// `cache record <key>`, `layer <id>`, `cache mount <dir>`.
    pub what: String,
    pub bytes: u64,
    /// Why it could go (`unused for 3h`, `no image or record uses it`).
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub removed: Vec<Pruned>,
    pub freed: u64,
}

fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn mtime(p: &std::path::Path) -> SystemTime {
    fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl Store {
    /// Mark the cache record of `key` used now (its mtime), for [`Store::prune`]'s order.
    pub fn cache_touch(&self, key: &CacheKey) {
        let path = self.layout().cache.join(key.to_hex());
        if let Ok(f) = fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// Free the build cache (see the module doc). `waiting` is called once if open stores
    /// make prune wait for them.
    pub fn prune(&self, opts: &PruneOptions, waiting: &mut dyn FnMut()) -> Result<PruneReport> {
        let _exclusive = match self.exclusive_use(false)? {
            Some(lock) => lock,
            None => {
                waiting();
                self.exclusive_use(true)?.ok_or_else(|| {
                    crate::Error::io(self.root(), std::io::Error::other("in-use lock"))
                })?
            }
        };
        self.prune_locked(opts)
    }

    /// [`Store::prune`] if no one has the store open now, else `None` at once (the automatic
    /// GC after a build: a build still running will collect when it ends).
    pub fn prune_if_idle(&self, opts: &PruneOptions) -> Result<Option<PruneReport>> {
        match self.exclusive_use(false)? {
            Some(_exclusive) => self.prune_locked(opts).map(Some),
            None => Ok(None),
        }
    }

    fn prune_locked(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let layout = self.layout();
        let old_enough = |t: SystemTime| opts.until.is_none_or(|u| age(t) >= u);
        let in_images = self.layers_in_use()?;

        // Records: key → (last use, bytes); what they name is read only if something must go.
        let mut sizes: BTreeMap<String, (CacheKey, SystemTime, u64)> = BTreeMap::new();
        let dir = &layout.cache;
        for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) = CacheKey::from_hex(&name) else {
                continue;
            };
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            sizes.insert(name, (key, mtime(&entry.path()), bytes));
        }
        // Layers no image uses: id → (bytes, own time).
        let mut layers: BTreeMap<String, (u64, SystemTime)> = BTreeMap::new();
        let mut seen = HashSet::new();
        let dir = &layout.layers;
        for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_layer_id(&name) || in_images.contains(&name) {
                continue;
            }
            // What removing it frees: its files on disk and the blobs made for it.
            let mut size = self.layer_size(&name);
            for b in self.layer(&name)?.map(|r| r.blobs).unwrap_or_default() {
                size += crate::usage::bytes_under(&self.blob_path(&b.digest), &mut seen);
            }
            layers.insert(name, (size, mtime(&entry.path())));
        }
        // The build cache's size as records and layers go, kept as a running total.
        let mut total: u64 = sizes.values().map(|(_, _, b)| b).sum::<u64>()
            + layers.values().map(|(b, _)| b).sum::<u64>();
        if opts.keep_storage.is_some_and(|keep| total <= keep) {
            // The GC after a build, under its size: nothing goes, and the records (a deep
            // chain's name thousands of layers each) need not be read.
            return Ok(PruneReport::default());
        }
        // What each record names: each layer once (a record of a deep chain names the same
        // layer many times), as an index into `names` (a layer named by thousands of records
        // is one string, not thousands).
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut records: BTreeMap<String, (Vec<usize>, SystemTime, u64)> = BTreeMap::new();
        for (name, (key, t, bytes)) in sizes {
            let mut named: Vec<usize> = Vec::new();
            if let Some(rec) = self.cache_get(&key)? {
                for l in &rec.layers {
                    let i = match index.get(l.as_str()) {
                        Some(i) => *i,
                        None => {
                            let i = names.len();
                            names.push(l.to_string());
                            index.insert(l.to_string(), i);
                            i
                        }
                    };
                    named.push(i);
                }
            }
            named.sort_unstable();
            named.dedup();
            records.insert(name, (named, t, bytes));
        }
        drop(index);
        let name_of = |i: &usize| names.get(*i).map_or("", String::as_str);
        // A layer was last used when the newest record naming it was.
        let mut last_use: BTreeMap<String, SystemTime> =
            layers.iter().map(|(id, (_, t))| (id.clone(), *t)).collect();
        for (ls, t, _) in records.values() {
            for l in ls.iter().map(name_of) {
                if let Some(u) = last_use.get_mut(l) {
                    *u = (*u).max(*t);
                }
            }
        }
        // How many remaining records name each layer: choosing what goes is linear in the
        // store, however much goes (10,000 records: see benches/prune.rs).
        let mut refs: HashMap<&str, usize> = layers.keys().map(|id| (id.as_str(), 0)).collect();
        for (ls, _, _) in records.values() {
            for l in ls.iter().map(name_of) {
                if let Some(n) = refs.get_mut(l) {
                    *n += 1;
                }
            }
        }

        // Records that may go, least recently used first.
        let mut candidates: Vec<(String, SystemTime)> = records
            .iter()
            .filter(|(_, (ls, t, _))| {
                old_enough(*t)
                    && (opts.all || ls.iter().map(name_of).any(|l| !in_images.contains(l)))
            })
            .map(|(k, (_, t, _))| (k.clone(), *t))
            .collect();
        candidates.sort_by_key(|(_, t)| *t);
        let mut report = PruneReport::default();
        let mut gone_layers: HashSet<String> = HashSet::new();
        // Layers no remaining record names (and no image uses) go with the records: at first
        // those no record names at all, then each whose last record went.
        let mut unnamed: Vec<String> = refs
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| id.to_string())
            .collect();
        unnamed.sort();
        let sweep = |unnamed: &mut Vec<String>,
                     gone: &mut HashSet<String>,
                     total: &mut u64,
                     report: &mut PruneReport| {
            for id in unnamed.drain(..) {
                let Some((bytes, _)) = layers.get(&id) else {
                    continue;
                };
                let t = last_use.get(&id).copied().unwrap_or(SystemTime::UNIX_EPOCH);
                if !gone.contains(&id) && old_enough(t) {
                    *total = total.saturating_sub(*bytes);
                    report.freed += bytes;
                    report.removed.push(Pruned {
                        what: format!("layer {id}"),
                        bytes: *bytes,
                        why: format!(
                            "no image or record uses it; last used {} ago",
                            human(age(t))
                        ),
                    });
                    gone.insert(id);
                }
            }
        };
        for (key, t) in candidates {
            if let Some(keep) = opts.keep_storage
                && total <= keep
            {
                break;
            }
            if let Some((ls, _, bytes)) = records.remove(&key) {
                total = total.saturating_sub(bytes);
                report.freed += bytes;
                report.removed.push(Pruned {
                    what: format!("cache record {key}"),
                    bytes,
                    why: format!("last used {} ago", human(age(t))),
                });
                for l in ls.iter().map(name_of) {
                    if let Some(n) = refs.get_mut(l) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            unnamed.push(l.to_string());
                        }
                    }
                }
            }
            if opts.keep_storage.is_some() {
                sweep(&mut unnamed, &mut gone_layers, &mut total, &mut report);
            }
        }
        if opts.keep_storage.is_none_or(|keep| total > keep) {
            sweep(&mut unnamed, &mut gone_layers, &mut total, &mut report);
        }
        let mut mounts: Vec<PathBuf> = Vec::new();
        if opts.all && opts.keep_storage.is_none() {
            let dir = &layout.mounts;
            for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
                let t = mtime(&entry.path());
                if old_enough(t) {
                    report.removed.push(Pruned {
                        what: format!("cache mount {}", entry.file_name().to_string_lossy()),
                        bytes: 0,
                        why: format!("changed {} ago", human(age(t))),
                    });
                    mounts.push(entry.path());
                }
            }
        }
        if opts.dry_run {
            return Ok(report);
        }

        // Records first, so no record can name a layer being removed.
        for p in &report.removed {
            if let Some(key) = p.what.strip_prefix("cache record ") {
                let path = layout.cache.join(key);
                fs::remove_file(&path)
                    .or_else(ignore_gone)
                    .map_err(io_at(&path))?;
            }
        }
        for id in &gone_layers {
            let blobs = self.layer(id)?.map(|r| r.blobs).unwrap_or_default();
            let dir = layout.layers.join(id);
            let trash = layout.tmp.dir().join(format!("pruned-{id}"));
            fs::rename(&dir, &trash)
                .or_else(ignore_gone)
                .map_err(io_at(&dir))?;
            let rec = layout.layers.join(format!("{id}.rec"));
            fs::remove_file(&rec)
                .or_else(ignore_gone)
                .map_err(io_at(&rec))?;
            let _ = fs::remove_file(layout.sizes.join(id));
            for b in blobs {
                let path = self.blob_path(&b.digest);
                fs::remove_file(&path)
                    .or_else(ignore_gone)
                    .map_err(io_at(&path))?;
            }
            let _ = fs::remove_dir_all(&trash);
        }
        if !gone_layers.is_empty() {
            self.drop_stale_copies()?;
        }
        for m in mounts {
            let trash = layout.tmp.dir().join(format!(
                "pruned-mount-{}",
                m.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            fs::rename(&m, &trash)
                .or_else(ignore_gone)
                .map_err(io_at(&m))?;
            let _ = fs::remove_dir_all(&trash);
        }
        Ok(report)
    }
}

fn ignore_gone(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

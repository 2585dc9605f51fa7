//! Unpacked layers: `layers/<id>/` (an overlayfs-style diff dir) and `layers/<id>.rec`.
//!
//! Why staging lives in `tmp/`: a layer is produced as an overlay `upperdir` and published by
//! renaming that directory, which is only atomic within one filesystem. A [`Staging`] is a fresh
//! locked directory in `tmp/` with `upper/` and `work/` side by side (overlayfs needs both on
//! one filesystem); committing renames `upper/` to `layers/<id>`. The directory is published
//! before its record, and `layer()` only reports layers that have both, so a crash in between
//! leaves a directory that the next commit of the same content adopts.
//!
//! Two processes committing the same content race harmlessly: the first rename wins, the loser
//! discards its copy (same id means same content).

use std::fs::{self, DirBuilder, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::atomic::{self, Replace, remove_tree};
use crate::digest::{OciDigest, check_layer_id, is_layer_id};
use crate::error::{Error, Result, io_at};
use crate::record::Kind;

/// How a layer blob is compressed (gzip unless asked: what every registry and docker take).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Compression {
    None,
    #[default]
    Gzip,
    Zstd,
}

/// One exported (tarred, maybe compressed) form of a layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlob {
    pub compression: Compression,
    /// sha256 of the uncompressed tar.
    pub diff_id: OciDigest,
    /// sha256 of the blob as stored.
    pub digest: OciDigest,
    pub size: u64,
}

/// What the store knows about a committed layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Size of the unpacked diff in bytes (as measured by the committer).
    pub size: u64,
    /// diff_id of the layer's tar, once known.
    pub diff_id: Option<OciDigest>,
    /// Exported blobs of this layer, oldest first, unique by `digest`.
    pub blobs: Vec<LayerBlob>,
    /// When the layer was made (Unix seconds): by a build step, or on the machine whose cache
    /// it was imported from. The history time of the step that made it (see cairn-oci).
    /// Last, so records written before it existed still read (`LayerRecordV1`).
    pub created: Option<i64>,
}

/// A layer record as written before [`LayerRecord::created`].
#[derive(Deserialize)]
struct LayerRecordV1 {
    size: u64,
    diff_id: Option<OciDigest>,
    blobs: Vec<LayerBlob>,
}

impl From<LayerRecordV1> for LayerRecord {
    fn from(v: LayerRecordV1) -> Self {
        LayerRecord {
            size: v.size,
            diff_id: v.diff_id,
            blobs: v.blobs,
            created: None,
        }
    }
}

impl LayerRecord {
    /// Add what `other` knows that `self` does not: a missing diff_id, blobs not listed yet.
    fn absorb(&mut self, other: LayerRecord) {
        if self.diff_id.is_none() {
            self.diff_id = other.diff_id;
        }
        if self.created.is_none() {
            self.created = other.created;
        }
        for blob in other.blobs {
            self.add_blob(blob);
        }
    }

    /// Record a blob (no duplicate digests). Returns whether the record changed.
    fn add_blob(&mut self, blob: LayerBlob) -> bool {
        if self.blobs.iter().any(|b| b.digest == blob.digest) {
            return false;
        }
        if self.diff_id.is_none() {
            self.diff_id = Some(blob.diff_id.clone());
        }
        self.blobs.push(blob);
        true
    }
}

/// A fresh directory on the store's filesystem in which a layer is produced: mount an overlay
/// with `upperdir = upper()` and `workdir = work()`, then hand it to [`Store::commit_layer`].
/// Locked against garbage collection while alive; removed (whatever is left of it) on drop.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    // Dropped after `Drop::drop` has removed the directory.
    _lock: File,
}

impl Staging {
    /// The staging directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The overlay upper dir: becomes the layer.
    pub fn upper(&self) -> &Path {
        &self.upper
    }

    /// The overlay work dir.
    pub fn work(&self) -> &Path {
        &self.work
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort; anything left is garbage-collected by the next `Store::open`.
        let _ = remove_tree(&self.path);
    }
}

/// Rename `from` to `to` unless `to` exists. Returns `false` if it existed.
fn rename_noreplace(from: &Path, to: &Path) -> Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(true),
        Err(rustix::io::Errno::EXIST) => return Ok(false),
        // Filesystems without RENAME_NOREPLACE: a plain rename refuses a non-empty target.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {}
        Err(e) => return Err(Error::io(to, e.into())),
    }
    if to.exists() {
        return Ok(false);
    }
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(false),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => Ok(false),
        Err(e) => Err(Error::io(to, e)),
    }
}

impl Store {
    /// The diff directory of layer `id`. Ids are not checked here; an id that is not 64 hex
    /// characters maps to a path under `layers/` that never exists (no path escapes the store).
    /// When layer `id` was made (Unix seconds): its record's time, or for a layer recorded
    /// before records had one, its directory's change time (set when it was committed).
    /// `None` for a missing layer.
    pub fn layer_created(&self, id: &str) -> Option<i64> {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(Some(LayerRecord {
            created: Some(t), ..
        })) = self.layer(id)
        {
            return Some(t);
        }
        std::fs::symlink_metadata(self.layer_dir(id))
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| m.ctime())
    }

    pub fn layer_dir(&self, id: &str) -> PathBuf {
        let layers = &self.layout().layers;
        if is_layer_id(id) {
            layers.join(id)
        } else {
            layers.join(".invalid").join(crate::escape::hashed(id))
        }
    }

    fn layer_record_path(&self, id: &str) -> PathBuf {
        self.layout().layers.join(format!("{id}.rec"))
    }

    /// The record of a committed layer; `None` unless both its directory and record exist.
    pub fn layer(&self, id: &str) -> Result<Option<LayerRecord>> {
        check_layer_id(id)?;
        let rec = atomic::read_record_or_old::<LayerRecord, LayerRecordV1>(
            &self.layer_record_path(id),
            Kind::Layer,
        )?;
        Ok(rec.filter(|_| self.layer_dir(id).is_dir()))
    }

    /// A new staging directory (with empty `upper/` and `work/`).
    pub fn staging(&self) -> Result<Staging> {
        let (path, lock) = self.layout().tmp.locked_dir("stage-")?;
        let upper = path.join("upper");
        let work = path.join("work");
        let staging = Staging {
            path,
            upper,
            work,
            _lock: lock,
        };
        let mut builder = DirBuilder::new();
        builder.mode(0o755);
        for dir in [&staging.upper, &staging.work] {
            builder.create(dir).map_err(io_at(dir))?;
        }
        Ok(staging)
    }

    /// Publish `staging.upper()` as layer `id` with `record`. Idempotent: if the layer already
    /// exists (another build produced the same content), our copy is discarded and whatever
    /// `record` adds (diff_id, blobs) is merged into the existing record.
    pub fn commit_layer(&self, staging: Staging, id: &str, record: LayerRecord) -> Result<()> {
        check_layer_id(id)?;
        let target = self.layer_dir(id);
        if !target.is_dir() {
            // Make the content durable before it becomes visible under its name.
            let dir = File::open(staging.upper()).map_err(io_at(staging.upper()))?;
            rustix::fs::syncfs(&dir).map_err(|e| Error::io(staging.upper(), e.into()))?;
            if rename_noreplace(staging.upper(), &target)? {
                atomic::fsync_dir(&self.layout().layers)?;
            }
        }
        drop(staging);
        let _lock = self.lock(&format!("layer-record:{id}"))?;
        let path = self.layer_record_path(id);
        let mut record = record;
        if record.created.is_none() {
            record.created = Some(now_unix());
        }
        let merged =
            match atomic::read_record_or_old::<LayerRecord, LayerRecordV1>(&path, Kind::Layer)? {
                None => record,
                Some(mut existing) => {
                    let before = existing.clone();
                    existing.absorb(record);
                    if existing == before {
                        return Ok(());
                    }
                    existing
                }
            };
        atomic::write_record(
            &self.layout().tmp,
            &path,
            Kind::Layer,
            &merged,
            Replace::Yes,
        )?;
        Ok(())
    }

    /// Record an exported blob of layer `id` (its diff_id and compressed digest), so it is never
    /// compressed twice. The layer must be committed.
    pub fn add_layer_blob(&self, id: &str, blob: LayerBlob) -> Result<()> {
        let mut found = false;
        self.update_layer_record(id, |rec| {
            let mut rec = rec?;
            found = true;
            rec.add_blob(blob).then_some(rec)
        })?;
        if !found {
            return Err(Error::LayerNotFound { id: id.to_owned() });
        }
        Ok(())
    }

    /// Change the record of committed layer `id` under its lock: `edit` gets the current record
    /// (`None` if it does not read) and returns the one to write, or `None` to leave it.
    pub(crate) fn update_layer_record(
        &self,
        id: &str,
        edit: impl FnOnce(Option<LayerRecord>) -> Option<LayerRecord>,
    ) -> Result<()> {
        check_layer_id(id)?;
        let _lock = self.lock(&format!("layer-record:{id}"))?;
        if let Some(rec) = edit(self.layer(id)?) {
            let path = self.layer_record_path(id);
            atomic::write_record(&self.layout().tmp, &path, Kind::Layer, &rec, Replace::Yes)?;
        }
        Ok(())
    }
}

/// Now, in Unix seconds.
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod record_layout_tests {
    use super::*;

    #[derive(Serialize)]
    struct V1 {
        size: u64,
        diff_id: Option<OciDigest>,
        blobs: Vec<LayerBlob>,
    }

    #[test]
    fn a_layer_record_written_before_created_still_reads() {
        let t = tempfile::tempdir().expect("tmp");
        let store = Store::open(t.path()).expect("store");
        let id = "9".repeat(64);
        let staging = store.staging().expect("staging");
        fs::write(staging.upper().join("f"), "old").expect("write");
        store
            .commit_layer(staging, &id, LayerRecord::default())
            .expect("commit");
        let old = V1 {
            size: 7,
            diff_id: None,
            blobs: vec![],
        };
        let bytes = crate::record::encode(Kind::Layer, &old).expect("encode");
        fs::write(store.layer_record_path(&id), bytes).expect("write");
        let got = store
            .layer(&id)
            .expect("read")
            .expect("an old record reads");
        assert_eq!((got.size, got.created), (7, None));
        // The directory's change time stands in.
        assert!(store.layer_created(&id).is_some_and(|t| t > 0));
    }
}

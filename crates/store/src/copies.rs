//! The last result of each copy from a build context (`copies/<key>`), so the next run of the
//! same copy can share the files that did not change (issue 14; `cairn_fileop::CopyTracker`
//! does the sharing, the solver chooses the key).
//!
//! Why a record of its own: a one-file change gives the copy a new cache key, so the cache
//! cannot find its previous result; this record is keyed by what stays the same (the op and
//! its inputs' layers, not the context's content) and names, per destination, the source file
//! and the content hash it was copied with. It is a hint: a record whose layer is gone reads
//! as absent, every file it vouches for is checked again against the layer before it is
//! shared, and prune drops records whose layer it removed.

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::atomic::{self, Replace};
use crate::digest::LayerId;
use crate::error::Result;
use crate::record::Kind;

/// The previous result of one copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRecord {
    /// The layer the copy made.
    pub layer: LayerId,
    /// Its regular files from the build context, by destination.
    pub files: Vec<CopiedFile>,
}

/// A regular file of a copy's layer: `dest` (relative to the layer root) holds the content
/// with blake3 `hash`, copied from `source` (relative to input `input`'s root).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedFile {
    pub input: u32,
    pub source: String,
    pub dest: String,
    pub hash: [u8; 32],
}

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A [`CopyRecord`] whose paths are borrowed: read in place from the record file's bytes, or
/// written from the copy's report (a copy of 100,000 files is otherwise 200,000 strings).
#[derive(Debug, Serialize, Deserialize)]
pub struct CopyRecordView<'a> {
    pub layer: LayerId,
    #[serde(borrow)]
    pub files: Vec<CopiedFileView<'a>>,
}

/// A [`CopiedFile`] of a [`CopyRecordView`] (the same fields, the same encoding).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CopiedFileView<'a> {
    pub input: u32,
    pub source: &'a str,
    pub dest: &'a str,
    pub hash: [u8; 32],
}

/// A [`CopyRecordView`] whose files come from an iterator (walked twice: once to measure the
/// record, once to write it), encoded as the view is: no vector of 100,000 borrowed files.
struct CopyRecordFrom<'l, I> {
    layer: &'l LayerId,
    files: I,
}

impl<'a, I> Serialize for CopyRecordFrom<'_, I>
where
    I: ExactSizeIterator<Item = CopiedFileView<'a>> + Clone,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// The files as a sequence of known length.
        struct Files<I>(I);
        impl<'a, I> Serialize for Files<I>
        where
            I: ExactSizeIterator<Item = CopiedFileView<'a>> + Clone,
        {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_seq(self.0.clone())
            }
        }
        let mut st = s.serialize_struct("CopyRecordView", 2)?;
        st.serialize_field("layer", self.layer)?;
        st.serialize_field("files", &Files(self.files.clone()))?;
        st.end()
    }
}

impl Store {
    /// Remember the result of the copy keyed `key`, its layer and borrowed files (as
    /// [`Store::set_last_copy`]; `files` is walked twice and must give the same files both
    /// times).
    pub fn set_last_copy_files<'a>(
        &self,
        key: &[u8; 32],
        layer: &LayerId,
        files: impl ExactSizeIterator<Item = CopiedFileView<'a>> + Clone,
    ) -> Result<()> {
        let path = self.layout().copies.join(hex(key));
        let rec = CopyRecordFrom { layer, files };
        atomic::write_record(&self.layout().tmp, &path, Kind::Copy, &rec, Replace::Yes)?;
        Ok(())
    }

    /// `f` of the last result of the copy keyed `key`, read in place, if its layer is still
    /// in the store ([`Store::last_copy`] without owning its files).
    pub fn with_last_copy<R>(
        &self,
        key: &[u8; 32],
        f: impl FnOnce(&CopyRecordView<'_>) -> R,
    ) -> Result<Option<R>> {
        let path = self.layout().copies.join(hex(key));
        let Some(payload) = atomic::read_record_raw(&path, Kind::Copy)? else {
            return Ok(None);
        };
        // A payload that passed its checksum but does not decode is a hint lost, as a torn
        // record is.
        let view = match postcard::take_from_bytes::<CopyRecordView<'_>>(&payload) {
            Ok((view, [])) => view,
            _ => return Ok(None),
        };
        if !self.layer_dir(&view.layer).is_dir() {
            return Ok(None);
        }
        Ok(Some(f(&view)))
    }

    /// The last result of the copy keyed `key`, if its layer is still in the store.
    pub fn last_copy(&self, key: &[u8; 32]) -> Result<Option<CopyRecord>> {
        let path = self.layout().copies.join(hex(key));
        let rec: Option<CopyRecord> = atomic::read_record(&path, Kind::Copy)?;
        Ok(rec.filter(|r| self.layer_dir(&r.layer).is_dir()))
    }

    /// Remember the result of the copy keyed `key` (replacing the one before).
    pub fn set_last_copy(&self, key: &[u8; 32], rec: &CopyRecord) -> Result<()> {
        let path = self.layout().copies.join(hex(key));
        atomic::write_record(&self.layout().tmp, &path, Kind::Copy, rec, Replace::Yes)?;
        Ok(())
    }

    /// Drop the records whose layer is gone (after a prune).
    pub(crate) fn drop_stale_copies(&self) -> Result<()> {
        let dir = &self.layout().copies;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Only the layer matters here: the files are decoded in place, never owned.
            let layer = atomic::read_record_raw(&path, Kind::Copy)
                .ok()
                .flatten()
                .and_then(|payload| {
                    postcard::take_from_bytes::<CopyRecordView<'_>>(&payload)
                        .ok()
                        .map(|(v, _)| v.layer)
                });
            if layer.is_none_or(|l| !self.layer_dir(&l).is_dir()) {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_record_lives_as_long_as_its_layer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let id = LayerId::from_bytes(&[7; 32]);
        let rec = CopyRecord {
            layer: id.clone(),
            files: vec![
                CopiedFile {
                    input: 1,
                    source: "a/b".into(),
                    dest: "src/a/b".into(),
                    hash: [3; 32],
                },
                CopiedFile {
                    input: 0,
                    source: "c".into(),
                    dest: "src/é".into(),
                    hash: [4; 32],
                },
            ],
        };
        let key = [9u8; 32];
        store.set_last_copy(&key, &rec).expect("write");
        assert_eq!(
            store.last_copy(&key).expect("read"),
            None,
            "no layer, no record"
        );
        std::fs::create_dir_all(store.layer_dir(&id)).expect("layer dir");
        assert_eq!(store.last_copy(&key).expect("read"), Some(rec.clone()));
        // Read in place, the same record.
        let viewed = store
            .with_last_copy(&key, |v| {
                let files: Vec<CopiedFile> = v
                    .files
                    .iter()
                    .map(|f| CopiedFile {
                        input: f.input,
                        source: f.source.to_owned(),
                        dest: f.dest.to_owned(),
                        hash: f.hash,
                    })
                    .collect();
                CopyRecord {
                    layer: v.layer.clone(),
                    files,
                }
            })
            .expect("read in place");
        assert_eq!(viewed, Some(rec.clone()));
        // Written from borrowed files, the same bytes.
        let other = [8u8; 32];
        let files = rec.files.iter().map(|f| CopiedFileView {
            input: f.input,
            source: &f.source,
            dest: &f.dest,
            hash: f.hash,
        });
        store
            .set_last_copy_files(&other, &rec.layer, files)
            .expect("write borrowed");
        assert_eq!(
            std::fs::read(dir.path().join("copies").join(hex(&other))).expect("read"),
            std::fs::read(dir.path().join("copies").join(hex(&key))).expect("read")
        );
        assert_eq!(store.last_copy(&other).expect("read"), Some(rec));
        std::fs::remove_dir(store.layer_dir(&id)).expect("remove layer");
        store.drop_stale_copies().expect("drop");
        assert!(
            std::fs::read_dir(dir.path().join("copies"))
                .expect("dir")
                .next()
                .is_none()
        );
    }
}

//! Records of earlier builds, for `cairn build --explain` and `cairn explain`: opaque bytes
//! (the build library's encoding) under a key the driver chooses (one per target). Bounded:
//! at most [`MAX_HISTORY`] records are kept, the least recently written go first, so the
//! directory never grows with the number of targets ever built.

use crate::atomic::{self, Replace};
use crate::error::{Error, Result};
use crate::record::{self, Kind};
use crate::{Store, escape};
use std::io;
use std::path::PathBuf;

/// Records kept at most.
pub const MAX_HISTORY: usize = 256;

impl Store {
    fn history_path(&self, key: &str) -> PathBuf {
        self.layout().history.join(escape::hashed(key))
    }

    /// The record saved under `key`, if any (a torn one reads as none).
    pub fn history_load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        atomic::read_record_raw(&self.history_path(key), Kind::History)
    }

    /// Save `bytes` under `key` (last writer wins), then drop the oldest records beyond
    /// [`MAX_HISTORY`].
    pub fn history_save(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.history_path(key);
        let data = record::encode_raw(Kind::History, bytes).ok_or_else(|| Error::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::FileTooLarge, "build record exceeds 4 GiB"),
        })?;
        atomic::write_file(&self.layout().tmp, &path, &data, Replace::Yes)?;
        self.history_trim(MAX_HISTORY)
    }

    fn history_trim(&self, keep: usize) -> Result<()> {
        let dir = &self.layout().history;
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut records: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if records.len() <= keep {
            return Ok(());
        }
        records.sort();
        for (_, p) in records.iter().take(records.len() - keep) {
            // Another process may have removed it first.
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn records_round_trip_and_stay_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.history_save("a", b"first").expect("save");
        assert_eq!(
            store.history_load("a").expect("load").as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(store.history_load("b").expect("load"), None);
        for i in 0..20 {
            store.history_save(&format!("k{i}"), b"x").expect("save");
        }
        store.history_trim(5).expect("trim");
        let left = std::fs::read_dir(dir.path().join("history"))
            .expect("read_dir")
            .count();
        assert_eq!(left, 5);
    }
}

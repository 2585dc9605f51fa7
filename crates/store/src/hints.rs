//! What the registry client remembers between builds, kept as store records (checksummed,
//! written through `tmp/` with fsync, a torn one reads as absent):
//!
//! - `registry/origins/<hex>`: the registry and repository a blob was last pulled from or
//!   pushed to. Why: a registry can *mount* a blob it already holds in another repository
//!   (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`), which is instant, but only if the
//!   client names that repository; nothing in a blob says where it came from.
//! - `registry/diffids/<hex>`: the layer whose tar has this diff_id. Why: pulling an image
//!   whose layer the store already holds unpacked (the same base under another tag, or
//!   compressed differently) skips the download and unpack. The store keys layers by content
//!   digest, which a registry never tells; diff_ids are in every image config.
//!
//! Both are hints: a wrong or missing entry costs an upload or a download, never correctness
//! (a mount of a missing blob falls back to an upload; a layer found by diff_id is checked
//! against the layer's own record).

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::atomic::{self, Replace};
use crate::digest::{LayerId, OciDigest};
use crate::error::Result;
use crate::record::Kind;

/// Where a blob was last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobOrigin {
    /// `host[:port]` as the registry client names it.
    pub registry: String,
    pub repository: String,
}

#[derive(Serialize, Deserialize)]
struct DiffIdHint {
    diff_id: OciDigest,
    layer: LayerId,
}

#[derive(Serialize, Deserialize)]
struct OriginHint {
    digest: OciDigest,
    origin: BlobOrigin,
}

impl Store {
    /// Where blob `digest` was last pulled from or pushed to, if remembered.
    pub fn blob_origin(&self, digest: &OciDigest) -> Result<Option<BlobOrigin>> {
        let path = self.layout().origins.join(digest.hex());
        let hint: Option<OriginHint> = atomic::read_record(&path, Kind::Hint)?;
        Ok(hint.filter(|h| h.digest == *digest).map(|h| h.origin))
    }

    /// Remember that blob `digest` is in `origin` (last writer wins; unchanged, nothing is
    /// written).
    pub fn set_blob_origin(&self, digest: &OciDigest, origin: &BlobOrigin) -> Result<()> {
        if self.blob_origin(digest)?.as_ref() == Some(origin) {
            return Ok(());
        }
        let path = self.layout().origins.join(digest.hex());
        let hint = OriginHint {
            digest: digest.clone(),
            origin: origin.clone(),
        };
        atomic::write_record(&self.layout().tmp, &path, Kind::Hint, &hint, Replace::Yes)?;
        Ok(())
    }

    /// The layer unpacked from a tar with `diff_id`, if the store still has it with that
    /// diff_id recorded.
    pub fn layer_for_diff_id(&self, diff_id: &OciDigest) -> Result<Option<LayerId>> {
        let path = self.layout().diff_ids.join(diff_id.hex());
        let hint: Option<DiffIdHint> = atomic::read_record(&path, Kind::Hint)?;
        let Some(hint) = hint.filter(|h| h.diff_id == *diff_id) else {
            return Ok(None);
        };
        let Some(rec) = self.layer(&hint.layer)? else {
            return Ok(None);
        };
        Ok((rec.diff_id.as_ref() == Some(diff_id)).then_some(hint.layer))
    }

    /// Remember that the tar with `diff_id` unpacks to layer `id`.
    pub fn set_layer_for_diff_id(&self, diff_id: &OciDigest, id: &LayerId) -> Result<()> {
        let path = self.layout().diff_ids.join(diff_id.hex());
        let hint = DiffIdHint {
            diff_id: diff_id.clone(),
            layer: id.clone(),
        };
        atomic::write_record(&self.layout().tmp, &path, Kind::Hint, &hint, Replace::Yes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_round_trip_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let d = OciDigest::of(b"x");
        assert_eq!(store.blob_origin(&d).expect("read"), None);
        let a = BlobOrigin {
            registry: "127.0.0.1:5000".into(),
            repository: "a/b".into(),
        };
        store.set_blob_origin(&d, &a).expect("set");
        assert_eq!(store.blob_origin(&d).expect("read"), Some(a));
        let c = BlobOrigin {
            registry: "127.0.0.1:5000".into(),
            repository: "c".into(),
        };
        store.set_blob_origin(&d, &c).expect("set");
        assert_eq!(store.blob_origin(&d).expect("read"), Some(c));
        // A diff_id pointing at a layer the store does not have is no hit.
        let absent = LayerId::parse(&"a".repeat(64)).expect("id");
        store.set_layer_for_diff_id(&d, &absent).expect("set");
        assert_eq!(store.layer_for_diff_id(&d).expect("read"), None);
        // A hint file of the old plain-text form (or torn) reads as absent.
        let old = dir.path().join("registry/origins").join(d.hex());
        std::fs::write(&old, "127.0.0.1:5000/a/b\n").expect("write");
        assert_eq!(store.blob_origin(&d).expect("read"), None);
    }
}

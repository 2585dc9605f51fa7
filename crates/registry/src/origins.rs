//! What the registry client remembers in the store, one small file per digest:
//!
//! - `<store>/registry/origins/<hex>`: `registry/repository` a blob was last pulled from or
//!   pushed to. Why: a registry can *mount* a blob it already holds in another repository
//!   (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`), which is instant, but only if the
//!   client names that repository; nothing in a blob says where it came from.
//! - `<store>/registry/diffids/<hex>`: the LayerId of the unpacked layer whose tar has this
//!   diff_id. Why: pulling an image whose layer the store already holds unpacked (the same
//!   base pulled under another tag, or compressed differently) skips the download and unpack.
//!   The store keys layers by content digest, which a registry never tells us; diff_ids are in
//!   every image config.
//!
//! Files are written temp + rename (last writer wins, a reader sees a whole file or none) and
//! are only hints: a wrong or missing entry costs an upload or a download, never correctness
//! (a mount of a missing blob fails and falls back to an upload; a layer id is checked against
//! the store's own record before it is used).

use crate::error::{Error, Result};
use cairn_store::{OciDigest, Store, is_layer_id};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

fn dir(store: &Store, kind: &str) -> PathBuf {
    store.root().join("registry").join(kind)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `content` to `path` atomically (temp file in the same directory + rename).
fn write_atomic(path: &Path, content: &str) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("{} has no parent", path.display())))?;
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(content.as_bytes())
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn read_small(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty() && line.len() < 4096).then(|| line.to_string())
}

/// Where a blob was last seen: `(registry, repository)`.
pub fn origin(store: &Store, digest: &OciDigest) -> Option<(String, String)> {
    let line = read_small(&dir(store, "origins").join(digest.hex()))?;
    let (registry, repository) = line.split_once('/')?;
    (!registry.is_empty() && !repository.is_empty())
        .then(|| (registry.to_string(), repository.to_string()))
}

/// Remember that `digest` is in `registry/repository`.
pub fn set_origin(
    store: &Store,
    digest: &OciDigest,
    registry: &str,
    repository: &str,
) -> Result<()> {
    if origin(store, digest).is_some_and(|(r, p)| r == registry && p == repository) {
        return Ok(());
    }
    write_atomic(
        &dir(store, "origins").join(digest.hex()),
        &format!("{registry}/{repository}\n"),
    )
}

/// The layer unpacked from a tar with this diff_id, if the store still has it with that
/// diff_id recorded.
pub fn layer_for_diff_id(store: &Store, diff_id: &OciDigest) -> Option<String> {
    let id = read_small(&dir(store, "diffids").join(diff_id.hex()))?;
    if !is_layer_id(&id) {
        return None;
    }
    let rec = store.layer(&id).ok()??;
    (rec.diff_id.as_ref() == Some(diff_id)).then_some(id)
}

/// Remember that the tar with `diff_id` unpacks to layer `id`.
pub fn set_layer_for_diff_id(store: &Store, diff_id: &OciDigest, id: &str) -> Result<()> {
    write_atomic(
        &dir(store, "diffids").join(diff_id.hex()),
        &format!("{id}\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let d = OciDigest::of(b"x");
        assert_eq!(origin(&store, &d), None);
        set_origin(&store, &d, "127.0.0.1:5000", "a/b").expect("set");
        assert_eq!(
            origin(&store, &d),
            Some(("127.0.0.1:5000".into(), "a/b".into()))
        );
        set_origin(&store, &d, "127.0.0.1:5000", "c").expect("set");
        assert_eq!(
            origin(&store, &d),
            Some(("127.0.0.1:5000".into(), "c".into()))
        );
        // A diff_id pointing at a layer the store does not have is no hit.
        set_layer_for_diff_id(&store, &d, &"a".repeat(64)).expect("set");
        assert_eq!(layer_for_diff_id(&store, &d), None);
    }
}

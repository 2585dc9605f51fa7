//! The small indexes: build cache (`cache/<hex key>`), image names (`images/<escaped name>`) and
//! context stat caches (`stat/<key>`).
//!
//! Why one file per entry: two processes updating different entries never touch the same file,
//! and two updating the same entry each replace it atomically — last writer wins, and every
//! entry is a complete record of one writer. No shared index file to lock, merge or corrupt.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::atomic::{self, Replace};
use crate::digest::{CacheKey, LayerId, OciDigest};
use crate::error::{Error, Result, io_at};
use crate::escape;
use crate::record::{self, Kind};

/// A cached vertex result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The result's layers, bottom to top.
    pub layers: Vec<LayerId>,
    pub created_unix: u64,
}

/// One image: a manifest, its config (the image id) and its layers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub manifest: OciDigest,
    pub config: OciDigest,
    pub layers: Vec<LayerId>,
}

/// What a name holds: one image per platform (the platform is its config's: the store does not
/// read configs), and the image index they came from or make, when there is one.
///
/// Why a set and not one image: a multi-platform build's result and the platforms of a base
/// image pulled for several are all the name's, as in a registry (a tag names an index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedImage {
    /// The index digest: the registry's when pulled, the build's when it made one.
    pub index: Option<OciDigest>,
    /// Never empty, no two of one platform; in the order written.
    pub images: Vec<ImageRecord>,
}

impl NamedImage {
    /// A name holding one image (no index).
    pub fn single(record: ImageRecord) -> Self {
        NamedImage {
            index: None,
            images: vec![record],
        }
    }

    /// The name's image when it holds exactly one.
    pub fn only(&self) -> Option<&ImageRecord> {
        match self.images.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The image whose manifest is `digest`.
    pub fn by_manifest(&self, digest: &OciDigest) -> Option<&ImageRecord> {
        self.images.iter().find(|r| &r.manifest == digest)
    }
}

/// The last fetch of an HTTP source (`ADD <url>`), under `http/<hash of url and file name>`:
/// what revalidates it and the layer that holds the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRecord {
    pub url: String,
    pub filename: String,
    /// sha256 of the body.
    pub digest: OciDigest,
    /// The layer holding `/<filename>` as fetched (mode, mtime from `Last-Modified`).
    pub layer: LayerId,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a checkout of a git source is: the commit and what of it was kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCheckout {
    pub remote: String,
    /// The full commit id the reference resolved to.
    pub commit: String,
    pub subdir: Option<String>,
    pub keep_git_dir: bool,
    pub submodules: bool,
}

/// A git source checked out at a commit (`ADD https://host/repo.git#ref:subdir`), under
/// `git/<hash of its checkout>`: the layer that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRecord {
    pub checkout: GitCheckout,
    pub layer: LayerId,
}

/// What `images/<escaped>` holds: the name too, so the file is self-describing (long names are
/// stored under a hashed file name).
#[derive(Serialize, Deserialize)]
struct ImageEntry {
    name: String,
    image: NamedImage,
}

/// Borrowing twin of [`ImageEntry`] for writing.
#[derive(Serialize)]
struct ImageEntryRef<'a> {
    name: &'a str,
    image: &'a NamedImage,
}

/// An entry as cairn wrote it before names held several platforms: read, never written.
#[derive(Deserialize)]
struct ImageEntryV1 {
    name: String,
    record: ImageRecord,
}

impl From<ImageEntryV1> for ImageEntry {
    fn from(old: ImageEntryV1) -> Self {
        ImageEntry {
            name: old.name,
            image: NamedImage::single(old.record),
        }
    }
}

fn read_image_entry(path: &std::path::Path) -> Result<Option<ImageEntry>> {
    let entry = atomic::read_record_or_old::<ImageEntry, ImageEntryV1>(path, Kind::Image)?;
    // An entry without images is not one `image_put` wrote.
    Ok(entry.filter(|e| !e.image.images.is_empty()))
}

fn check_image_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidName {
            name: name.to_owned(),
            reason: "empty",
        });
    }
    Ok(())
}

impl Store {
    fn cache_path(&self, key: &CacheKey) -> PathBuf {
        self.layout().cache.join(key.to_hex())
    }

    /// The cached result for `key`; `None` if absent (or its record was torn).
    pub fn cache_get(&self, key: &CacheKey) -> Result<Option<CacheRecord>> {
        atomic::read_record(&self.cache_path(key), Kind::Cache)
    }

    /// Record the result for `key` (last writer wins).
    pub fn cache_put(&self, key: &CacheKey, rec: &CacheRecord) -> Result<()> {
        let path = self.cache_path(key);
        atomic::write_record(&self.layout().tmp, &path, Kind::Cache, rec, Replace::Yes)?;
        Ok(())
    }

    fn image_path(&self, name: &str) -> PathBuf {
        self.layout().images.join(escape::escape_name(name))
    }

    /// What the name `name` holds.
    pub fn image_get(&self, name: &str) -> Result<Option<NamedImage>> {
        check_image_name(name)?;
        let entry = read_image_entry(&self.image_path(name))?;
        Ok(entry.filter(|e| e.name == name).map(|e| e.image))
    }

    /// What a reference names: when it is pinned (`name[:tag]@sha256:…`), the image whose
    /// manifest that digest is (whatever name it is stored under: a digest names content), or
    /// the images of the index it is; else the name's images. The one lookup the resolver, the
    /// cache keys and the solver share, so a pinned `FROM` can never build on the layers of
    /// whatever its tag points at.
    pub fn image_resolve(&self, reference: &str) -> Result<Option<NamedImage>> {
        let Some((_, digest)) = reference.split_once('@') else {
            return self.image_get(reference);
        };
        let digest = OciDigest::parse(digest)?;
        let pinned = |named: NamedImage| -> Option<NamedImage> {
            if named.index.as_ref() == Some(&digest) {
                return Some(named);
            }
            named.by_manifest(&digest).cloned().map(NamedImage::single)
        };
        if let Some(found) = self.image_get(reference)?.and_then(pinned) {
            return Ok(Some(found));
        }
        Ok(self
            .images()?
            .into_iter()
            .find_map(|(_, named)| pinned(named)))
    }

    /// The one image a reference names ([`Store::image_resolve`] naming exactly one): how the
    /// solver and the cache keys read a pinned base image.
    pub fn image_resolve_one(&self, reference: &str) -> Result<Option<ImageRecord>> {
        Ok(self
            .image_resolve(reference)?
            .and_then(|named| named.only().cloned()))
    }

    /// Point `name` at `image` (last writer wins).
    pub fn image_put(&self, name: &str, image: &NamedImage) -> Result<()> {
        check_image_name(name)?;
        if image.images.is_empty() {
            return Err(Error::InvalidName {
                name: name.to_owned(),
                reason: "an image name must hold at least one image",
            });
        }
        let entry = ImageEntryRef { name, image };
        let path = self.image_path(name);
        atomic::write_record(&self.layout().tmp, &path, Kind::Image, &entry, Replace::Yes)?;
        Ok(())
    }

    /// Remove the name `name`. Returns whether it existed. (Blobs and layers stay.)
    pub fn image_remove(&self, name: &str) -> Result<bool> {
        check_image_name(name)?;
        let path = self.image_path(name);
        match fs::remove_file(&path) {
            Ok(()) => {
                atomic::fsync_dir(&self.layout().images)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// All named images, sorted by name. Torn entries are skipped (and removed).
    pub fn images(&self) -> Result<Vec<(String, NamedImage)>> {
        let dir = &self.layout().images;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let file = entry.file_name();
            let Some(file) = file.to_str() else {
                continue;
            };
            if file.starts_with('.') {
                continue;
            }
            let entry = read_image_entry(&entry.path())?;
            // The file name must be the escaped form of the name inside: anything else was not
            // written by `image_put` under that name.
            if let Some(entry) = entry.filter(|e| escape::escape_name(&e.name) == file) {
                debug_assert!(
                    file.starts_with('~')
                        || escape::unescape_name(file).as_deref() == Some(&*entry.name)
                );
                out.push((entry.name, entry.image));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn http_path(&self, url: &str, filename: &str) -> PathBuf {
        let mut key = String::with_capacity(url.len() + filename.len() + 1);
        key.push_str(url);
        key.push('\0');
        key.push_str(filename);
        self.layout().http.join(escape::hashed(&key))
    }

    /// The last fetch of `url` saved as `filename`; `None` if absent (or torn, or another
    /// source's record under a colliding name).
    pub fn http_get(&self, url: &str, filename: &str) -> Result<Option<HttpRecord>> {
        let rec: Option<HttpRecord> =
            atomic::read_record(&self.http_path(url, filename), Kind::Http)?;
        Ok(rec.filter(|r| r.url == url && r.filename == filename))
    }

    /// Record a fetch of an HTTP source (last writer wins).
    pub fn http_put(&self, rec: &HttpRecord) -> Result<()> {
        let path = self.http_path(&rec.url, &rec.filename);
        atomic::write_record(&self.layout().tmp, &path, Kind::Http, rec, Replace::Yes)?;
        Ok(())
    }

    fn git_path(&self, c: &GitCheckout) -> PathBuf {
        let key = format!(
            "{}\0{}\0{}\0{}\0{}",
            c.remote,
            c.commit,
            c.subdir.as_deref().unwrap_or_default(),
            c.keep_git_dir,
            c.submodules
        );
        self.layout().git.join(escape::hashed(&key))
    }

    /// The stored checkout `checkout`, if any.
    pub fn git_get(&self, checkout: &GitCheckout) -> Result<Option<GitRecord>> {
        let rec: Option<GitRecord> = atomic::read_record(&self.git_path(checkout), Kind::Git)?;
        Ok(rec.filter(|r| r.checkout == *checkout))
    }

    /// Record a checkout (last writer wins).
    pub fn git_put(&self, rec: &GitRecord) -> Result<()> {
        let path = self.git_path(&rec.checkout);
        atomic::write_record(&self.layout().tmp, &path, Kind::Git, rec, Replace::Yes)?;
        Ok(())
    }

    fn stat_path(&self, context_key: &str) -> PathBuf {
        self.layout().stat.join(escape::hashed(context_key))
    }

    /// The saved stat cache of a build context (opaque bytes), if any.
    pub fn stat_cache_load(&self, context_key: &str) -> Result<Option<Vec<u8>>> {
        atomic::read_record_raw(&self.stat_path(context_key), Kind::Stat)
    }

    /// Save a context's stat cache (last writer wins).
    pub fn stat_cache_save(&self, context_key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.stat_path(context_key);
        let data = record::encode_raw(Kind::Stat, bytes).ok_or_else(|| Error::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::FileTooLarge, "stat cache exceeds 4 GiB"),
        })?;
        atomic::write_file(&self.layout().tmp, &path, &data, Replace::Yes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry written before names held several images (one image, no index) still reads,
    /// as a name holding that one image.
    #[test]
    fn an_entry_of_the_single_image_layout_reads_as_one_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let rec = ImageRecord {
            manifest: OciDigest::of(b"manifest"),
            config: OciDigest::of(b"config"),
            layers: vec![],
        };
        #[derive(Serialize)]
        struct V1<'a> {
            name: &'a str,
            record: &'a ImageRecord,
        }
        let name = "docker.io/library/old:1";
        let v1 = V1 { name, record: &rec };
        atomic::write_record(
            &store.layout().tmp,
            &store.image_path(name),
            Kind::Image,
            &v1,
            Replace::Yes,
        )
        .expect("write");
        assert_eq!(
            store.image_get(name).expect("read"),
            Some(NamedImage::single(rec.clone()))
        );
        assert_eq!(store.images().expect("list").len(), 1);
    }
}

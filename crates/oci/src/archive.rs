//! Exporting an assembled image as a tar stream: an OCI image layout (`type=oci`) or a
//! `docker load` archive (`type=docker`).
//!
//! Both share one layout, the one Docker 25+ `docker save` writes: `oci-layout`, `index.json`
//! and `blobs/sha256/<hex>`. The docker variant adds `manifest.json` whose `Config` and
//! `Layers` point into `blobs/sha256/`; `docker load` (20.10 and later) only reads
//! `manifest.json`, accepts any member paths, and decompresses gzip/zstd layers itself
//! while checking them against the config's diff_ids. Entries carry mtime 0 and root
//! ownership so that the archive bytes depend only on the image.

use crate::assemble::{AssembledImage, to_json};
use crate::error::{Error, Result};
use crate::layer_tar::{TarMeta, append};
use crate::model::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, DockerArchiveEntry, Index,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, OciLayout,
};
use cairn_ir::Reference;
use cairn_store::{OciDigest, Store};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use tar::EntryType;

const FILE_META: TarMeta<'static> = TarMeta {
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    xattrs: &[],
};
const DIR_META: TarMeta<'static> = TarMeta {
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
    xattrs: &[],
};

/// `(full name, tag)` for an image name: `foo` → (`docker.io/library/foo:latest`, `latest`).
fn full_name(name: &str) -> (String, String) {
    match Reference::parse(name) {
        Ok(r) => {
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            (format!("{}:{tag}", r.name()), tag)
        }
        Err(_) => (name.to_string(), "latest".into()),
    }
}

/// The short form `docker images` shows: `foo:latest`, `ghcr.io/x/y:1`.
fn familiar_name(name: &str) -> Option<String> {
    let r = Reference::parse(name).ok()?;
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    Some(format!(
        "{}:{tag}",
        cairn_ir::reference::familiar(&r.name())
    ))
}

fn blob_member(d: &OciDigest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// What an image layout holds: one image, or several under the index that names them (a
/// multi-platform image).
pub struct LayoutImages<'a> {
    pub images: Vec<&'a AssembledImage>,
    /// The image index of `images`: its digest and bytes ([`crate::image_index`]).
    pub index: Option<(OciDigest, Vec<u8>)>,
}

impl<'a> LayoutImages<'a> {
    /// One image.
    pub fn one(img: &'a AssembledImage) -> Self {
        LayoutImages {
            images: vec![img],
            index: None,
        }
    }

    /// What `index.json` points at: the index, else the one image's manifest.
    fn top(&self) -> Option<(String, OciDigest, u64)> {
        match (&self.index, self.images.as_slice()) {
            (Some((digest, bytes)), _) => Some((
                MEDIA_TYPE_INDEX.to_string(),
                digest.clone(),
                bytes.len() as u64,
            )),
            (None, [img]) => Some((
                MEDIA_TYPE_MANIFEST.to_string(),
                img.manifest.clone(),
                img.manifest_bytes.len() as u64,
            )),
            (None, _) => None,
        }
    }
}

fn index_for(content: &LayoutImages<'_>, names: &[String]) -> Result<Index> {
    let (media_type, digest, size) = content.top().ok_or_else(|| Error::Archive {
        path: std::path::PathBuf::new(),
        reason: "several images without the index that names them".into(),
    })?;
    let descriptor = |annotations| Descriptor {
        media_type: media_type.clone(),
        digest: digest.to_string(),
        size,
        artifact_type: None,
        annotations,
        platform: None,
    };
    let manifests = if names.is_empty() {
        vec![descriptor(None)]
    } else {
        names
            .iter()
            .map(|n| {
                let (full, tag) = full_name(n);
                descriptor(Some(BTreeMap::from([
                    (ANNOTATION_CONTAINERD_NAME.to_string(), full),
                    (ANNOTATION_REF_NAME.to_string(), tag),
                ])))
            })
            .collect()
    };
    Ok(Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests,
        annotations: None,
    })
}

struct Writer<W: Write> {
    tar: tar::Builder<W>,
}

impl<W: Write> Writer<W> {
    fn file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        append(
            &mut self.tar,
            EntryType::Regular,
            path.as_bytes(),
            None,
            &FILE_META,
            data.len() as u64,
            (0, 0),
            data,
        )
        .map_err(|e| Error::entry_io(path, e))
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        append(
            &mut self.tar,
            EntryType::Directory,
            path.as_bytes(),
            None,
            &DIR_META,
            0,
            (0, 0),
            &[][..],
        )
        .map_err(|e| Error::entry_io(path, e))
    }

    /// Copy blob `d` in, verified as it streams: a blob damaged in the store (bit rot, a
    /// flipped byte) fails the export — and is removed from the store, so the next export makes
    /// it again from its layer — instead of shipping an image `docker load` rejects.
    fn blob(&mut self, store: &Store, d: &OciDigest, size: u64) -> Result<()> {
        let mut reader = store.open_blob(d)?;
        let member = blob_member(d);
        append(
            &mut self.tar,
            EntryType::Regular,
            member.as_bytes(),
            None,
            &FILE_META,
            size,
            (0, 0),
            (&mut reader).take(size),
        )
        .map_err(|e| Error::entry_io(&member, e))?;
        // Read to the end: the digest is checked there (and extra bytes are damage too).
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| {
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<cairn_store::Error>())
            {
                Some(cairn_store::Error::CorruptBlob { .. }) => Error::entry_io(
                    &member,
                    std::io::Error::other(format!(
                        "{e} (the damaged blob was removed from the store; run the command \
                         again to make it anew from its layer, or pull/load the image it \
                         came from again)"
                    )),
                ),
                _ => Error::entry_io(&member, e),
            }
        })?;
        Ok(())
    }

    /// The shared OCI layout: marker, index, and every blob once.
    fn layout(
        &mut self,
        store: &Store,
        content: &LayoutImages<'_>,
        names: &[String],
    ) -> Result<()> {
        let layout = OciLayout {
            image_layout_version: "1.0.0".into(),
        };
        self.file("oci-layout", &to_json("oci-layout", &layout)?)?;
        self.file(
            "index.json",
            &to_json("index.json", &index_for(content, names)?)?,
        )?;
        self.dir("blobs/")?;
        self.dir("blobs/sha256/")?;
        let mut seen = HashSet::new();
        if let Some((digest, bytes)) = &content.index {
            seen.insert(digest.clone());
            self.file(&blob_member(digest), bytes)?;
        }
        for img in &content.images {
            for (d, bytes) in [
                (&img.config, &img.config_bytes),
                (&img.manifest, &img.manifest_bytes),
            ] {
                if seen.insert(d.clone()) {
                    self.file(&blob_member(d), bytes)?;
                }
            }
            for layer in &img.layers {
                if seen.insert(layer.digest.clone()) {
                    self.blob(store, &layer.digest, layer.size)?;
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        self.tar
            .into_inner()
            .map(drop)
            .map_err(|e| Error::stream("image archive", e))
    }
}

/// Write `img` as an OCI image layout tar; each name becomes an `index.json` entry annotated
/// with `org.opencontainers.image.ref.name` (the tag) and `io.containerd.image.name`.
pub fn write_oci_archive(
    store: &Store,
    img: &AssembledImage,
    names: &[String],
    out: impl Write,
) -> Result<()> {
    write_oci_archive_of(store, &LayoutImages::one(img), names, out)
}

/// [`write_oci_archive`] of one image or of several under their index.
pub fn write_oci_archive_of(
    store: &Store,
    content: &LayoutImages<'_>,
    names: &[String],
    out: impl Write,
) -> Result<()> {
    let mut w = Writer {
        tar: tar::Builder::new(out),
    };
    w.layout(store, content, names)?;
    w.finish()
}

/// Write `img` as a `docker load` archive (the OCI layout plus `manifest.json`).
pub fn write_docker_archive(
    store: &Store,
    img: &AssembledImage,
    names: &[String],
    out: impl Write,
) -> Result<()> {
    let entry = DockerArchiveEntry {
        config: blob_member(&img.config),
        repo_tags: names.iter().filter_map(|n| familiar_name(n)).collect(),
        layers: img.layers.iter().map(|l| blob_member(&l.digest)).collect(),
    };
    let manifest_json = to_json("manifest.json", &vec![entry])?;
    let mut w = Writer {
        tar: tar::Builder::new(out),
    };
    w.file("manifest.json", &manifest_json)?;
    w.layout(store, &LayoutImages::one(img), names)?;
    w.finish()
}

/// Write `img` as an OCI image layout *directory* (`-o type=oci,tar=false`): `oci-layout`,
/// `blobs/sha256/<hex>` (a blob already there with the right content is kept; every blob
/// written is verified as it streams, through a temp file and a rename) and `index.json`
/// last, replacing any earlier one, so the directory names this image once it is complete.
pub fn write_oci_layout_dir(
    store: &Store,
    img: &AssembledImage,
    names: &[String],
    dir: &std::path::Path,
) -> Result<()> {
    write_oci_layout_dir_of(store, &LayoutImages::one(img), names, dir)
}

/// [`write_oci_layout_dir`] of one image or of several under their index.
pub fn write_oci_layout_dir_of(
    store: &Store,
    content: &LayoutImages<'_>,
    names: &[String],
    dir: &std::path::Path,
) -> Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
    let put = |name: &std::path::Path, write: &mut dyn FnMut(&mut std::fs::File) -> Result<()>| {
        let tmp = name.with_extension("cairn-tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let written = write(&mut f).and_then(|()| f.sync_all().map_err(|e| Error::io(&tmp, e)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, name).map_err(|e| Error::io(name, e))
    };
    let small = |d: &OciDigest, data: &[u8]| {
        let path = blobs.join(d.hex());
        put(&path, &mut |f| {
            f.write_all(data).map_err(|e| Error::io(&path, e))
        })
    };
    if let Some((digest, bytes)) = &content.index {
        small(digest, bytes)?;
    }
    let mut seen = HashSet::new();
    for img in &content.images {
        small(&img.config, &img.config_bytes)?;
        small(&img.manifest, &img.manifest_bytes)?;
        for layer in &img.layers {
            if !seen.insert(layer.digest.clone()) {
                continue;
            }
            let path = blobs.join(layer.digest.hex());
            if blob_file_matches(&path, &layer.digest) {
                continue;
            }
            put(&path, &mut |f| {
                // The store's reader checks the digest at the end of the stream.
                let mut reader = store.open_blob(&layer.digest)?;
                std::io::copy(&mut reader, f).map_err(|e| Error::io(&path, e))?;
                Ok(())
            })?;
        }
    }
    let layout = to_json(
        "oci-layout",
        &OciLayout {
            image_layout_version: "1.0.0".into(),
        },
    )?;
    let layout_path = dir.join("oci-layout");
    put(&layout_path, &mut |f| {
        f.write_all(&layout).map_err(|e| Error::io(&layout_path, e))
    })?;
    let index = to_json("index.json", &index_for(content, names)?)?;
    let index_path = dir.join("index.json");
    put(&index_path, &mut |f| {
        f.write_all(&index).map_err(|e| Error::io(&index_path, e))
    })
}

/// Whether the file at `path` is a regular file whose sha256 is `digest`.
fn blob_file_matches(path: &std::path::Path, digest: &OciDigest) -> bool {
    use sha2::Digest as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(buf.get(..n).unwrap_or_default()),
            Err(_) => return false,
        }
    }
    hex::encode(h.finalize()) == digest.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(familiar_name("foo").as_deref(), Some("foo:latest"));
        assert_eq!(
            familiar_name("docker.io/library/foo:1").as_deref(),
            Some("foo:1")
        );
        assert_eq!(
            familiar_name("ghcr.io/a/b:2").as_deref(),
            Some("ghcr.io/a/b:2")
        );
        assert_eq!(
            full_name("foo"),
            (
                "docker.io/library/foo:latest".to_string(),
                "latest".to_string()
            )
        );
    }
}

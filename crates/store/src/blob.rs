//! Content-addressed blobs: `blobs/sha256/<hex>`.
//!
//! Why stream through a writer: layer tarballs are large, so their digest is computed while they
//! are written (to a locked temp file in `tmp/`), and the blob is published under its name only
//! once complete and fsync'ed. Because the name *is* the content, two writers of the same blob
//! race harmlessly: whichever rename lands, the file is the same. Reads verify the content
//! against the name, so a damaged blob is never handed out (it is removed instead).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use crate::Store;
use crate::atomic::{self, FILE_MODE, Replace};
use crate::digest::OciDigest;
use crate::error::{Error, Result, io_at};

/// Buffer between callers' (often tiny) writes and the temp file.
const BUF_SIZE: usize = 256 * 1024;

/// Streams bytes into a new blob, hashing them on the way. Publish with [`BlobWriter::commit`];
/// dropping it uncommitted removes the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    out: BufWriter<NamedTempFile>,
    hasher: Sha256,
    size: u64,
    blobs_dir: PathBuf,
}

impl BlobWriter {
    pub(crate) fn new(tmp: NamedTempFile, blobs_dir: PathBuf) -> Self {
        BlobWriter {
            out: BufWriter::with_capacity(BUF_SIZE, tmp),
            hasher: Sha256::new(),
            size: 0,
            blobs_dir,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.size
    }

    /// fsync and publish the blob under its digest. Returns the digest and size.
    pub fn commit(self) -> Result<(OciDigest, u64)> {
        self.finish(None)
    }

    /// Like [`commit`](Self::commit), but fail without publishing anything if the content's
    /// digest is not `expected` (e.g. a download that does not match its manifest).
    pub fn commit_expect(self, expected: &OciDigest) -> Result<(OciDigest, u64)> {
        self.finish(Some(expected))
    }

    fn finish(self, expected: Option<&OciDigest>) -> Result<(OciDigest, u64)> {
        let BlobWriter {
            out,
            hasher,
            size,
            blobs_dir,
        } = self;
        let tmp = out.into_inner().map_err(|e| {
            let (source, writer) = e.into_parts();
            Error::io(writer.get_ref().path(), source)
        })?;
        let digest = OciDigest::from_sha256(hasher.finalize().into());
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
            });
        }
        let target = blobs_dir.join(digest.hex());
        // Already there (and not truncated): ours is redundant.
        if fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok((digest, size));
        }
        tmp.as_file().sync_all().map_err(io_at(tmp.path()))?;
        atomic::publish(tmp, &target, Replace::Yes)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.size += written.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a stored blob, verifying its digest when the end is reached: the final `read` fails
/// with `InvalidData` (wrapping [`Error::CorruptBlob`]) if the content does not match.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    hasher: Sha256,
    expected: OciDigest,
    path: PathBuf,
    len: u64,
    verified: bool,
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the blob is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n > 0 {
            self.hasher.update(buf.get(..n).unwrap_or_default());
        } else if !buf.is_empty() && !self.verified {
            let actual = OciDigest::from_sha256(self.hasher.clone().finalize().into());
            if actual != self.expected {
                remove_corrupt(&self.path, &self.file);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Error::CorruptBlob {
                        path: self.path.clone(),
                        expected: self.expected.clone(),
                        actual,
                    },
                ));
            }
            self.verified = true;
        }
        Ok(n)
    }
}

fn remove_corrupt(path: &Path, file: &File) {
    if let Ok(meta) = file.metadata() {
        atomic::remove_if_same(path, &meta);
    }
}

impl Store {
    /// Where the blob `d` lives (whether or not it exists).
    pub fn blob_path(&self, d: &OciDigest) -> PathBuf {
        self.layout().blobs.join(d.hex())
    }

    /// Whether the blob `d` is present (not verified; see [`Store::verify_blob`]).
    pub fn has_blob(&self, d: &OciDigest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A writer for a new blob.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let layout = self.layout();
        let tmp = layout.tmp.temp_file("blob-", FILE_MODE)?;
        Ok(BlobWriter::new(tmp, layout.blobs.clone()))
    }

    /// Store `bytes` as a blob and return its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<OciDigest> {
        let digest = OciDigest::of(bytes);
        if fs::metadata(self.blob_path(&digest)).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(digest);
        }
        let mut writer = self.blob_writer()?;
        let path = writer.out.get_ref().path().to_path_buf();
        writer.write_all(bytes).map_err(io_at(&path))?;
        writer.commit_expect(&digest).map(|(d, _)| d)
    }

    fn open_blob_file(&self, d: &OciDigest) -> Result<(File, PathBuf)> {
        let path = self.blob_path(d);
        match File::open(&path) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound {
                digest: d.clone(),
                path,
            }),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Read a whole blob, checking that it hashes to `d`. A blob that does not is removed and
    /// reported as [`Error::CorruptBlob`].
    pub fn read_blob(&self, d: &OciDigest) -> Result<Vec<u8>> {
        let (mut file, path) = self.open_blob_file(d)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_at(&path))?;
        let actual = OciDigest::of(&bytes);
        if actual != *d {
            remove_corrupt(&path, &file);
            return Err(Error::CorruptBlob {
                path,
                expected: d.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Stream a blob; the digest is checked when the reader reaches the end.
    pub fn open_blob(&self, d: &OciDigest) -> Result<BlobReader> {
        let (file, path) = self.open_blob_file(d)?;
        let len = file.metadata().map_err(io_at(&path))?.len();
        Ok(BlobReader {
            file,
            hasher: Sha256::new(),
            expected: d.clone(),
            path,
            len,
            verified: false,
        })
    }

    /// Check that the stored blob hashes to `d` (streaming; a corrupt blob is removed).
    pub fn verify_blob(&self, d: &OciDigest) -> Result<()> {
        match self.blob_damage(d, true)? {
            None => Ok(()),
            Some(actual) => Err(Error::CorruptBlob {
                path: self.blob_path(d),
                expected: d.clone(),
                actual,
            }),
        }
    }

    /// Hash the stored blob `d`: `Some(actual digest)` if it does not match, the blob then
    /// removed when `remove` (only the file that was hashed: a good copy a writer renamed into
    /// place meanwhile stays).
    pub(crate) fn blob_damage(&self, d: &OciDigest, remove: bool) -> Result<Option<OciDigest>> {
        let (mut file, path) = self.open_blob_file(d)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(io_at(&path))?;
            if n == 0 {
                break;
            }
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        let actual = OciDigest::from_sha256(hasher.finalize().into());
        if actual == *d {
            return Ok(None);
        }
        if remove {
            remove_corrupt(&path, &file);
        }
        Ok(Some(actual))
    }
}

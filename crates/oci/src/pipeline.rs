//! Writer plumbing for one-pass layer export: a tar stream is hashed (diff_id), compressed,
//! hashed again (blob digest) and written to its sink in a single pass, so a layer is read
//! from disk once and never compressed twice.

use cairn_store::Compression;
use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// Passes bytes through to `inner` while computing their sha256 and counting them.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the sha256 of everything written and its length.
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.count)
    }
}

/// A reader or writer that reports more bytes than the buffer it was given: a bug in it, not
/// bad input, but an error rather than a panic.
fn overlong() -> io::Error {
    io::Error::other("a reader or writer reported more bytes than its buffer holds")
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).ok_or_else(overlong)?);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Passes bytes read from `inner` through while computing their sha256.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Drain whatever is left (tar padding after the end-of-archive blocks belongs to the
    /// digest too) and return the sha256 and length of everything read.
    pub fn finish(mut self) -> io::Result<([u8; 32], u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finalize().into(), self.count))
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).ok_or_else(overlong)?);
        self.count += n as u64;
        Ok(n)
    }
}

/// The compression stage of the chain.
pub enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

/// zstd level for layer blobs: zstd's default, already faster than gzip's fastest level.
pub const ZSTD_LEVEL: i32 = 3;

impl<W: Write> Compressor<W> {
    pub fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            // GzEncoder writes mtime 0 and no file name: the output is deterministic.
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::fast(),
            )),
            Compression::Zstd => {
                Compressor::Zstd(zstd::stream::write::Encoder::new(inner, ZSTD_LEVEL)?)
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
        }
    }
}

/// Compression of a stream, from its first bytes.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A decompressing reader over `r`, compression detected from the magic bytes.
pub fn decompress<'a, R: io::BufRead + 'a>(mut r: R) -> io::Result<Box<dyn io::Read + 'a>> {
    let head = r.fill_buf()?;
    Ok(match sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Claims to have read or written one byte more than the buffer it was given.
    struct Overlong;

    impl io::Read for Overlong {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(buf.len() + 1)
        }
    }

    impl Write for Overlong {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len() + 1)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn hashes_what_passes_through() {
        let mut r = HashingReader::new(&b"hello"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let (sum, n) = r.finish().unwrap();
        assert_eq!((out.as_slice(), n), (&b"hello"[..], 5));
        assert_eq!(sum, <[u8; 32]>::from(Sha256::digest(b"hello")));

        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (inner, wsum, wn) = w.finish();
        assert_eq!((inner.as_slice(), wsum, wn), (&b"hello"[..], sum, 5));
    }

    #[test]
    fn overlong_counts_are_errors_not_panics() {
        let mut r = HashingReader::new(Overlong);
        assert!(r.read(&mut [0u8; 8]).is_err());
        let mut w = HashingWriter::new(Overlong);
        assert!(w.write(b"abc").is_err());
    }
}

//! The on-disk envelope of every index record (`cache/`, `images/`, `layers/*.rec`, `stat/`).
//!
//! Why an envelope and not bare postcard: a record must be *recognisably* complete. Writes are
//! atomic (see `atomic.rs`), but a crash on a filesystem without ordered data, a full disk or a
//! stray editor can still leave a short or garbage file, and postcard alone may decode a
//! truncated prefix into a plausible value. So each record carries
//!
//! ```text
//! magic "CRNR" | version u8 | kind u8 | payload length u32 LE | blake3(payload)[..8] | payload
//! ```
//!
//! Anything that fails the magic, kind, length or checksum check is *torn*: callers treat it as
//! absent and remove it. A record whose version this build does not know is *not* torn — a newer
//! cairn wrote it — and is reported as an error rather than deleted.

use serde::Serialize;
use serde::de::DeserializeOwned;

const MAGIC: [u8; 4] = *b"CRNR";
/// The record format version this build writes and reads.
pub(crate) const VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + 8;

/// What a record file holds; a record is only accepted where its kind belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Cache = 1,
    Image = 2,
    Layer = 3,
    Stat = 4,
    Http = 5,
    Git = 6,
    Hint = 7,
    History = 8,
    Container = 9,
    Copy = 10,
}

/// Why a record could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Truncated, garbage or of the wrong kind: treat as absent.
    Torn(String),
    /// A well-formed envelope of a version this build cannot read.
    UnknownVersion(u8),
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let [a, b, c, d, e, f, g, h, ..] = *blake3::hash(payload).as_bytes();
    [a, b, c, d, e, f, g, h]
}

/// Wrap raw payload bytes in the envelope. `None` if the payload exceeds 4 GiB.
pub(crate) fn encode_raw(kind: Kind, payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(kind, len, checksum(payload)));
    out.extend_from_slice(payload);
    Some(out)
}

/// Check the envelope and return the payload.
pub(crate) fn decode_raw(kind: Kind, bytes: &[u8]) -> Result<&[u8], DecodeError> {
    let torn = |why: &str| DecodeError::Torn(why.to_owned());
    let Some(&[m0, m1, m2, m3, version]) = bytes.first_chunk::<5>() else {
        return Err(torn("shorter than the record header"));
    };
    if [m0, m1, m2, m3] != MAGIC {
        return Err(torn("not a cairn record (bad magic)"));
    }
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(torn("shorter than the record header"));
    };
    let [_, _, _, _, _, record_kind, l0, l1, l2, l3, sum @ ..] = *header;
    if record_kind != kind as u8 {
        return Err(DecodeError::Torn(format!(
            "record kind {record_kind} where kind {} was expected",
            kind as u8
        )));
    }
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    if payload.len() != len {
        return Err(DecodeError::Torn(format!(
            "payload is {} bytes, header says {len}",
            payload.len()
        )));
    }
    if sum != checksum(payload) {
        return Err(torn("payload checksum mismatch"));
    }
    Ok(payload)
}

/// The header of a record of `kind` whose payload is `len` bytes with checksum `sum`.
fn header(kind: Kind, len: u32, sum: [u8; 8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let parts: [&[u8]; 5] = [&MAGIC, &[VERSION], &[kind as u8], &len.to_le_bytes(), &sum];
    let mut at = 0;
    for p in parts {
        if let Some(dst) = h.get_mut(at..at + p.len()) {
            dst.copy_from_slice(p);
        }
        at += p.len();
    }
    h
}

/// A payload's length and checksum, measured as it is serialized (nothing kept).
struct Measure {
    hasher: blake3::Hasher,
    len: usize,
}

impl postcard::ser_flavors::Flavor for Measure {
    type Output = (u32, [u8; 8]);

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.hasher.update(data);
        self.len = self.len.saturating_add(data.len());
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<Self::Output> {
        let len = u32::try_from(self.len).map_err(|_| postcard::Error::SerializeBufferFull)?;
        let [a, b, c, d, e, f, g, h, ..] = *self.hasher.finalize().as_bytes();
        Ok((len, [a, b, c, d, e, f, g, h]))
    }
}

/// Serialized bytes passed to a writer; its error kept aside (postcard's own error cannot
/// carry it).
struct Stream<'e, W> {
    out: W,
    error: &'e mut Option<std::io::Error>,
    /// The bytes written measured again: they must be what the header says.
    measure: Measure,
}

impl<W: std::io::Write> postcard::ser_flavors::Flavor for Stream<'_, W> {
    type Output = (W, (u32, [u8; 8]));

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.measure.try_extend(data)?;
        self.out.write_all(data).map_err(|e| {
            *self.error = Some(e);
            postcard::Error::SerializeBufferFull
        })
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<Self::Output> {
        Ok((self.out, self.measure.finalize()?))
    }
}

/// Why a record could not be written to a stream.
#[derive(Debug)]
pub(crate) enum WriteError {
    Encode(postcard::Error),
    Io(std::io::Error),
}

/// postcard-encode `value` into an envelope written to `out`, in two passes over the value
/// (the first measures and checksums the payload for the header): a big record (a copy's
/// 100,000 files) is never held in memory whole. `value` must serialize the same both times.
pub(crate) fn write<T: Serialize + ?Sized, W: std::io::Write>(
    kind: Kind,
    value: &T,
    mut out: W,
) -> Result<W, WriteError> {
    let measure = Measure {
        hasher: blake3::Hasher::new(),
        len: 0,
    };
    let (len, sum) = postcard::serialize_with_flavor(value, measure).map_err(WriteError::Encode)?;
    out.write_all(&header(kind, len, sum))
        .map_err(WriteError::Io)?;
    let mut error = None;
    let stream = Stream {
        out,
        error: &mut error,
        measure: Measure {
            hasher: blake3::Hasher::new(),
            len: 0,
        },
    };
    let (out, written) =
        postcard::serialize_with_flavor::<T, _, _>(value, stream).map_err(|e| {
            match error.take() {
                Some(io) => WriteError::Io(io),
                None => WriteError::Encode(e),
            }
        })?;
    // A value that serialized differently the second time (a bug in its `Serialize`) would
    // make a record that reads as torn: an error here, and the record is not published.
    if written != (len, sum) {
        return Err(WriteError::Encode(postcard::Error::SerdeSerCustom));
    }
    Ok(out)
}

/// postcard-encode `value` into an envelope (what [`write`] streams, as one buffer).
#[cfg(test)]
pub(crate) fn encode<T: Serialize>(kind: Kind, value: &T) -> Result<Vec<u8>, postcard::Error> {
    // Into a buffer of the exact size (measured by the first pass): a record is held once,
    // never in a buffer grown by doubling.
    let size = postcard::experimental::serialized_size(value)?;
    let buf = Vec::with_capacity(HEADER_LEN.saturating_add(size));
    write(kind, value, buf).map_err(|e| match e {
        WriteError::Encode(e) => e,
        WriteError::Io(_) => postcard::Error::SerializeBufferFull,
    })
}

/// Decode an envelope holding a postcard value. A payload that passes the checksum but does not
/// decode (trailing bytes included) is also treated as torn.
pub(crate) fn decode<T: DeserializeOwned>(kind: Kind, bytes: &[u8]) -> Result<T, DecodeError> {
    let payload = decode_raw(kind, bytes)?;
    match postcard::take_from_bytes::<T>(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(DecodeError::Torn(format!(
            "{} trailing bytes after the record",
            rest.len()
        ))),
        Err(e) => Err(DecodeError::Torn(format!("undecodable payload: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_record_is_the_envelope_of_its_payload() {
        let value = (7u32, "streamed".to_string(), vec![1u64, 2, 300]);
        let payload = postcard::to_allocvec(&value).expect("encode");
        let want = encode_raw(Kind::Copy, &payload).expect("envelope");
        assert_eq!(write(Kind::Copy, &value, Vec::new()).expect("write"), want);
        assert_eq!(encode(Kind::Copy, &value).expect("encode"), want);
        assert_eq!(
            decode::<(u32, String, Vec<u64>)>(Kind::Copy, &want),
            Ok(value)
        );
    }

    /// Accepts `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
    }

    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Serializes as a different number each time it is asked.
    struct Unstable(std::cell::Cell<u32>);

    impl Serialize for Unstable {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.set(self.0.get() + 1);
            s.serialize_u32(self.0.get())
        }
    }

    #[test]
    fn a_value_that_serializes_differently_twice_is_an_error() {
        let v = Unstable(std::cell::Cell::new(0));
        assert!(matches!(
            write(Kind::Copy, &v, Vec::new()),
            Err(WriteError::Encode(_))
        ));
    }

    #[test]
    fn a_write_error_while_streaming_is_the_writers() {
        let value = vec!["x".repeat(100); 10];
        for room in [0, HEADER_LEN, HEADER_LEN + 50] {
            match write(Kind::Copy, &value, Full { room }) {
                Err(WriteError::Io(e)) => assert_eq!(e.raw_os_error(), Some(28), "room {room}"),
                other => panic!("room {room}: {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(Kind::Cache, &(1u64, "x".to_owned())).expect("encode");
        let back: (u64, String) = decode(Kind::Cache, &bytes).expect("decode");
        assert_eq!(back, (1, "x".to_owned()));
    }

    #[test]
    fn every_truncation_is_torn() {
        let bytes = encode(Kind::Image, &vec![7u32; 20]).expect("encode");
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode::<Vec<u32>>(Kind::Image, &bytes[..cut]),
                    Err(DecodeError::Torn(_))
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn flipped_byte_is_torn() {
        let mut bytes = encode(Kind::Layer, &"hello".to_owned()).expect("encode");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            decode::<String>(Kind::Layer, &bytes),
            Err(DecodeError::Torn(_))
        ));
    }

    #[test]
    fn wrong_kind_is_torn_unknown_version_is_not() {
        let mut bytes = encode(Kind::Stat, &1u8).expect("encode");
        assert!(matches!(
            decode::<u8>(Kind::Cache, &bytes),
            Err(DecodeError::Torn(_))
        ));
        bytes[4] = 9;
        assert_eq!(
            decode::<u8>(Kind::Stat, &bytes),
            Err(DecodeError::UnknownVersion(9))
        );
    }

    #[test]
    fn garbage_is_torn() {
        assert!(matches!(
            decode::<u8>(Kind::Stat, b"\0\0garbage garbage garbage"),
            Err(DecodeError::Torn(_))
        ));
    }
}

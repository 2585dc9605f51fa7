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
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(payload));
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

/// postcard-encode `value` into an envelope.
pub(crate) fn encode<T: Serialize>(kind: Kind, value: &T) -> Result<Vec<u8>, postcard::Error> {
    // Serialized after room for the header, which is filled in place, into a buffer of the
    // exact size (measured by a first pass): a big record (a copy's 100,000 files) is held
    // once, never in a buffer grown by doubling (up to twice its size, and a copy per step).
    let size = postcard::experimental::serialized_size(value)?;
    let mut buf = Vec::with_capacity(HEADER_LEN.saturating_add(size));
    buf.resize(HEADER_LEN, 0);
    let mut out = postcard::to_extend(value, buf)?;
    let (header, payload) = out.split_at_mut(HEADER_LEN);
    let len = u32::try_from(payload.len()).map_err(|_| postcard::Error::SerializeBufferFull)?;
    let mut head = Vec::with_capacity(HEADER_LEN);
    head.extend_from_slice(&MAGIC);
    head.push(VERSION);
    head.push(kind as u8);
    head.extend_from_slice(&len.to_le_bytes());
    head.extend_from_slice(&checksum(payload));
    header.copy_from_slice(&head);
    Ok(out)
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

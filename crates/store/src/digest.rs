//! Identities the store keys on: OCI sha256 digests, layer ids, cache keys.
//!
//! Values are validated when they are made (parsing, deserializing), so every path built from
//! one stays inside its directory: a digest or layer id is always 64 lowercase hex characters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A layer's content digest: 64 lowercase hex characters (blake3 over a canonical walk, computed
/// by `cairn-oci`). The store only checks the shape, when one is made ([`LayerId::parse`],
/// deserializing): every path built from one stays inside the layers directory. Reads as a
/// `&str` (`Deref`), serializes as the bare string (records written before it was a type read
/// the same).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LayerId(String);

impl LayerId {
    /// Parse and validate 64 lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self, Error> {
        check_layer_id(s)?;
        Ok(LayerId(s.to_owned()))
    }

    /// The id from raw 32-byte digest output.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        LayerId(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for LayerId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for LayerId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for LayerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for LayerId {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerId({})", self.0)
    }
}

impl FromStr for LayerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        LayerId::parse(s)
    }
}

impl TryFrom<String> for LayerId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        check_layer_id(&s)?;
        Ok(LayerId(s))
    }
}

impl From<LayerId> for String {
    fn from(id: LayerId) -> String {
        id.0
    }
}

impl PartialEq<str> for LayerId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for LayerId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for LayerId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Whether `s` is exactly 64 lowercase hex characters.
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `id` is a well-formed [`LayerId`].
pub fn is_layer_id(id: &str) -> bool {
    is_hex64(id)
}

pub(crate) fn check_layer_id(id: &str) -> Result<(), Error> {
    if is_layer_id(id) {
        Ok(())
    } else {
        Err(Error::InvalidLayerId { id: id.to_owned() })
    }
}

/// An OCI content digest, always `sha256:<64 lowercase hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OciDigest(String);

impl OciDigest {
    /// The algorithm prefix, `sha256:`.
    pub const PREFIX: &'static str = "sha256:";

    /// Parse and validate `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidDigest {
            input: s.to_owned(),
            reason,
        };
        let hex = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| invalid("expected the sha256: algorithm prefix"))?;
        if !is_hex64(hex) {
            return Err(invalid("expected 64 lowercase hex digits after sha256:"));
        }
        Ok(OciDigest(s.to_owned()))
    }

    /// The digest of raw sha256 output.
    pub fn from_sha256(hash: [u8; 32]) -> Self {
        OciDigest(format!("{}{}", Self::PREFIX, hex::encode(hash)))
    }

    /// sha256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    /// The full string, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> &str {
        self.0.get(Self::PREFIX.len()..).unwrap_or_default()
    }
}

impl fmt::Display for OciDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OciDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OciDigest({})", self.0)
    }
}

impl FromStr for OciDigest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for OciDigest {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<OciDigest> for String {
    fn from(d: OciDigest) -> String {
        d.0
    }
}

impl AsRef<str> for OciDigest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A solver cache key (blake3 output). Stored as `cache/<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// The key a record's file name (64 hex digits) names; `None` for any other name.
    pub fn from_hex(hex: &str) -> Option<CacheKey> {
        let bytes = hex::decode(hex).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(CacheKey(arr))
    }

    /// Lowercase hex, the key's file name.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(OciDigest::of(b"").as_str(), EMPTY);
        assert_eq!(
            OciDigest::of(b"").hex(),
            EMPTY.trim_start_matches("sha256:")
        );
    }

    #[test]
    fn digest_parse_validates() {
        assert!(OciDigest::parse(EMPTY).is_ok());
        for bad in [
            "",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(
                matches!(OciDigest::parse(bad), Err(Error::InvalidDigest { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn digest_serde_round_trip_and_rejects_invalid() {
        let d = OciDigest::of(b"x");
        let bytes = postcard::to_stdvec(&d).expect("encode");
        let back: OciDigest = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, d);
        let bad = postcard::to_stdvec("sha256:nope").expect("encode");
        assert!(postcard::from_bytes::<OciDigest>(&bad).is_err());
    }

    #[test]
    fn layer_ids() {
        assert!(is_layer_id(&"a".repeat(64)));
        assert!(!is_layer_id(&"A".repeat(64)));
        assert!(!is_layer_id("../x"));
        assert!(!is_layer_id(""));
    }
}

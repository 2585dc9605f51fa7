//! `ADD --checksum=ALGO:HEX` as BuildKit reads it (go-digest's `Parse` + `Validate`): the
//! algorithms go-digest registers (sha256, sha384, sha512), and go-digest's error texts, which
//! CI scripts and BuildKit's tests match. The stored digest of a fetch stays sha256 whatever
//! the checksum's algorithm; a checksum of another algorithm is checked by its own hasher
//! running beside it.

use sha2::Digest as _;

/// A parsed, well-formed checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

impl Checksum {
    /// Parse `ALGO:HEX`; the error is go-digest's text.
    pub fn parse(s: &str) -> Result<Checksum, &'static str> {
        const FORMAT: &str = "invalid checksum digest format";
        let (algo, hex) = s.split_once(':').ok_or(FORMAT)?;
        if algo.is_empty() || hex.is_empty() {
            return Err(FORMAT);
        }
        let algorithm = match algo {
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            _ => return Err("unsupported digest algorithm"),
        };
        if hex.len() != algorithm.hex_len() {
            return Err("invalid checksum digest length");
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(FORMAT);
        }
        Ok(Checksum {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// True when this is the sha256 digest `sha256` (`sha256:<hex>`).
    pub fn is_sha256(&self, sha256: &str) -> bool {
        self.algorithm == Algorithm::Sha256
            && sha256.strip_prefix("sha256:") == Some(self.hex.as_str())
    }

    /// A hasher of this checksum's algorithm.
    pub fn hasher(&self) -> Hasher {
        match self.algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algo = match self.algorithm {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        };
        write!(f, "{algo}:{}", self.hex)
    }
}

/// A running hash of one of the checksum algorithms.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// `ALGO:HEX` of what was hashed.
    pub fn finish(self) -> String {
        let (algo, bytes) = match self {
            Hasher::Sha256(h) => ("sha256", h.finalize().to_vec()),
            Hasher::Sha384(h) => ("sha384", h.finalize().to_vec()),
            Hasher::Sha512(h) => ("sha512", h.finalize().to_vec()),
        };
        format!("{algo}:{}", hex::encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_gives_go_digests_errors() {
        let sha256 = "a".repeat(64);
        assert!(Checksum::parse(&format!("sha256:{sha256}")).is_ok());
        assert!(Checksum::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        assert!(Checksum::parse(&format!("sha384:{}", "0".repeat(96))).is_ok());
        for (input, says) in [
            (sha256.clone(), "invalid checksum digest format"),
            (format!(":{sha256}"), "invalid checksum digest format"),
            ("sha256:".into(), "invalid checksum digest format"),
            (
                format!("md5:{}", "7".repeat(32)),
                "unsupported digest algorithm",
            ),
            (format!("unknown:{sha256}"), "unsupported digest algorithm"),
            ("sha256:abc".into(), "invalid checksum digest length"),
            (
                format!("sha256:{}", "A".repeat(64)),
                "invalid checksum digest format",
            ),
        ] {
            assert_eq!(Checksum::parse(&input), Err(says), "{input}");
        }
    }

    #[test]
    fn hashers_give_algo_prefixed_hex() {
        let mut h = Checksum::parse(&format!("sha512:{}", "0".repeat(128)))
            .expect("parse")
            .hasher();
        h.update(b"");
        assert_eq!(
            h.finish(),
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
        let c = Checksum::parse(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .expect("parse");
        assert!(
            c.is_sha256("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }
}

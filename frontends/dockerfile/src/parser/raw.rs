//! Lossless text for arbitrary Dockerfile bytes.
//!
//! BuildKit works on Go strings, which are byte strings: a Dockerfile that is not valid UTF-8 still
//! parses, and its invalid bytes reach the AST unchanged (the dump shows them as `\xNN`). The AST
//! here keeps `String`s so that the rest of the frontend stays simple, so each byte that is not
//! part of a valid UTF-8 sequence is carried as one *raw-byte char*: U+10FF00 + the byte, i.e. a
//! code point in U+10FF80..=U+10FFFF (the end of Supplementary Private Use Area-B, never found in
//! real Dockerfiles). A genuine character from that range in the input is itself stored as its four
//! UTF-8 bytes, each as a raw-byte char, so the mapping is a bijection: [`raw_bytes`] always gives
//! back exactly the bytes that were parsed.

use std::borrow::Cow;

const RAW_BASE: u32 = 0x10FF00;
const RAW_FIRST: u32 = RAW_BASE + 0x80;

fn raw_char(byte: u8) -> char {
    char::from_u32(RAW_BASE + u32::from(byte)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The byte a raw-byte char stands for, or `None` for an ordinary character.
pub(crate) fn raw_byte(c: char) -> Option<u8> {
    let v = u32::from(c);
    if v >= RAW_FIRST {
        u8::try_from(v - RAW_BASE).ok()
    } else {
        None
    }
}

/// Decodes bytes into the lossless text form described in the module docs.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if raw_byte(c).is_some() {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push(raw_char(b));
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            out.push(raw_char(b));
        }
    }
    out
}

/// The exact input bytes behind a string taken from the AST (an argument, a flag, heredoc content).
/// Borrowed when the input was valid UTF-8, which is the usual case.
pub fn raw_bytes(s: &str) -> Cow<'_, [u8]> {
    if !s.chars().any(|c| raw_byte(c).is_some()) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match raw_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Cow::Owned(out)
}

/// Replaces raw-byte chars with U+FFFD, as Go does wherever it decodes runes (`for range`,
/// `utf8.DecodeRune`, `encoding/json`) and writes them back.
pub(crate) fn replace_raw(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| raw_byte(c).is_some()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if raw_byte(c).is_some() {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_invalid_utf8_and_the_reserved_range() {
        let cases: [&[u8]; 4] = [
            b"plain",
            b"a\xffb\xe2\x82",
            "\u{10FF80}x\u{10FFFF}".as_bytes(),
            b"\xc3\xa9",
        ];
        for bytes in cases {
            let text = decode(bytes);
            assert_eq!(raw_bytes(&text).as_ref(), bytes);
        }
        assert_eq!(decode(b"a\xffb"), "a\u{10FFFF}b");
        assert_eq!(replace_raw(&decode(b"a\xffb")), "a\u{FFFD}b");
    }
}

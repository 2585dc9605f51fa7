//! Turning arbitrary strings (image names, cache-mount ids, lock names) into safe file names.
//!
//! A file name built from user input must never contain `/`, be `.` or `..`, start with `.`
//! (the store keeps its own dot-files next to them) or exceed the 255-byte name limit.
//!
//! - [`hashed`] is for keys that only need to be *found* again (mount ids, lock names, stat cache
//!   keys): a readable, sanitised prefix plus the blake3 of the whole key.
//! - [`escape_name`] / [`unescape_name`] are for image names, which `images()` must list: a
//!   reversible percent-encoding. Names whose encoding would be too long fall back to a hashed
//!   form starting with `~` (which the percent-encoding never produces); the image record stores
//!   the full name, so listing still works for them.

/// Longest readable prefix kept by [`hashed`].
const PREFIX_MAX: usize = 40;
/// Longest escaped image name kept reversible; beyond it, the hashed form is used.
const ESCAPED_MAX: usize = 200;

/// `<sanitised prefix>-<blake3 hex>`: unique per key, never hidden, never a path.
pub(crate) fn hashed(key: &str) -> String {
    let mut prefix: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(PREFIX_MAX)
        .collect();
    if prefix.is_empty() || prefix.starts_with('.') || prefix.starts_with('-') {
        prefix.insert(0, '_');
    }
    format!("{prefix}-{}", blake3::hash(key.as_bytes()).to_hex())
}

fn keep(b: u8, first: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || (matches!(b, b'-' | b'.') && !first)
}

/// Reversibly encode an image name as a file name.
pub(crate) fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        if keep(b, i == 0) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push_str(&format!("{b:02X}"));
        }
    }
    if out.len() > ESCAPED_MAX {
        format!("~{}", hashed(name))
    } else {
        out
    }
}

/// Invert [`escape_name`]. `None` for the hashed long-name form and for anything
/// [`escape_name`] could not have produced.
pub(crate) fn unescape_name(file: &str) -> Option<String> {
    let bytes = file.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = file.get(i + 1..i + 3)?;
            if hex.bytes().any(|h| h.is_ascii_lowercase()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if keep(b, out.is_empty()) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    let name = String::from_utf8(out).ok()?;
    (!name.is_empty() && escape_name(&name) == file).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn safe(file: &str) -> bool {
        !file.is_empty()
            && file.len() <= 255
            && !file.contains('/')
            && !file.contains('\0')
            && !file.starts_with('.')
    }

    #[test]
    fn examples() {
        assert_eq!(
            escape_name("docker.io/library/alpine:3.19"),
            "docker.io%2Flibrary%2Falpine%3A3.19"
        );
        assert_eq!(escape_name(".."), "%2E.");
        assert_eq!(escape_name("-x"), "%2Dx");
        assert!(hashed("..").starts_with("_..-"));
        assert!(hashed("").starts_with("_-"));
        assert!(hashed("a/b").starts_with("a_b-"));
    }

    #[test]
    fn long_names_use_the_hashed_form() {
        let long = "r/".repeat(200);
        let file = escape_name(&long);
        assert!(file.starts_with('~') && safe(&file));
        assert_eq!(unescape_name(&file), None);
    }

    proptest! {
        #[test]
        fn escape_is_reversible_and_safe(name in "\\PC{1,60}|[ -~]{1,60}") {
            let file = escape_name(&name);
            prop_assert!(safe(&file), "{file:?}");
            if file.starts_with('~') {
                // Too long to keep reversible: the image record carries the name.
                prop_assert!(file.len() > 64);
                prop_assert_eq!(unescape_name(&file), None);
            } else {
                prop_assert_eq!(unescape_name(&file), Some(name));
            }
        }

        #[test]
        fn hashed_is_safe(key in "\\PC{0,300}") {
            let file = hashed(&key);
            prop_assert!(safe(&file), "{file:?}");
        }

        #[test]
        fn unescape_never_panics(file in "\\PC{0,40}") {
            let _ = unescape_name(&file);
        }
    }
}

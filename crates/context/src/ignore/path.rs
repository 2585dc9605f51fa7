//! Go's `path/filepath.Clean` and `Dir` for `/`-separated paths.
//!
//! Patterns and paths are normalised with exactly these rules upstream, and the rules leak
//! into behaviour (`docs/` and `docs` are the same pattern, `a/../b` is `b`, a pattern that
//! cleans to `..` stays `..`), so we reproduce them rather than use `std::path`, whose
//! normalisation differs (it keeps `..` and never yields `.`).

/// Go's `filepath.Clean` on Unix.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let p = path.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(p.len());
    // `rest` is what is left to read; `dotdot` is where `..` can no longer backtrack.
    let (mut rest, mut dotdot) = (p, 0usize);
    let rooted = if let Some(tail) = p.strip_prefix(b"/") {
        out.push(b'/');
        rest = tail;
        dotdot = 1;
        true
    } else {
        false
    };
    // Does an element end here (at the end of the path or a `/`)?
    let ends = |s: &[u8]| matches!(s, [] | [b'/', ..]);
    while let Some((&first, after)) = rest.split_first() {
        if first == b'/' || (first == b'.' && ends(after)) {
            // An empty element or a `.` element.
            rest = after;
        } else if first == b'.'
            && let Some(tail) = after.strip_prefix(b".")
            && ends(tail)
        {
            rest = tail;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out.last() != Some(&b'/') {
                    out.pop();
                }
                // Drop the separator that preceded the removed element.
                if out.len() > dotdot && out.last() == Some(&b'/') {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            let len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let (element, tail) = rest.split_at(len);
            out.extend_from_slice(element);
            rest = tail;
        }
    }
    if out.is_empty() {
        return ".".to_string();
    }
    // Only ASCII bytes were inserted or removed at element boundaries, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned.
pub(crate) fn dir(path: &str) -> String {
    match path.rsplit_once('/') {
        // The root keeps its `/`; elsewhere `clean` would drop the trailing one anyway.
        Some(("", _)) => "/".to_string(),
        Some((parent, _)) => clean(parent),
        None => ".".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "/"),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b/./c/", "a/b/c"),
            ("a/../b", "b"),
            ("a/b/../../..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("/a/b/../..", "/"),
            ("a/..", "."),
            ("**/", "**"),
            ("./!x", "!x"),
            ("abc/def/../../..", ".."),
            ("..a/b", "..a/b"),
            ("a/.../b", "a/.../b"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn dir_matches_go() {
        for (input, want) in [
            ("a/b/c", "a/b"),
            ("a", "."),
            ("/", "/"),
            ("/a", "/"),
            ("a/b/", "a/b"),
        ] {
            assert_eq!(dir(input), want, "{input:?}");
        }
    }
}

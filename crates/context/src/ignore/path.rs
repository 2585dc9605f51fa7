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
    let n = p.len();
    let rooted = p[0] == b'/';
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0usize, 0usize);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        let at = |i: usize| p.get(i).copied();
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || at(r + 1) == Some(b'/'))) {
            // An empty element or a `.` element.
            r += 1;
        } else if p[r] == b'.' && at(r + 1) == Some(b'.') && (r + 2 == n || at(r + 2) == Some(b'/'))
        {
            r += 2;
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
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
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
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
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

//! Go's `path/filepath.Match` for one path segment: the wildcard syntax of `COPY` sources.
//!
//! BuildKit expands `COPY` wildcards with `filepath.Match`, segment by segment, so this is a
//! direct port (Unix rules): `*` is any run of non-`/` bytes, `?` one character, `[...]` a
//! class (`[^...]` negated, `a-z` ranges, `\` escapes inside and outside classes). A
//! malformed pattern is reported as an error even when an earlier part already failed to
//! match, exactly like upstream, so that "no match" never hides a typo.
//!
//! The one port in cairn: the context's key selection and fileop's copy both match with it, so
//! the files a COPY is keyed on are the files it copies. (The `.dockerignore` matcher in
//! [`crate::ignore`] has its own, regex-based translation; the two syntaxes differ in corner
//! cases and must not be mixed.)

/// The pattern is not valid `filepath.Match` syntax (Go's `ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// BuildKit's `containsWildcards`: an unescaped `*`, `?` or `[`.
pub fn contains_wildcards(name: &str) -> bool {
    let mut bytes = name.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => {
                bytes.next();
            }
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
    }
    false
}

/// Go's `filepath.Match(pattern, name)`.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        // Match at the current position; the last chunk must also exhaust the name.
        let (t, ok) = match_chunk(chunk, name)?;
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            // Try skipping 1, 2, ... bytes; `*` cannot skip a `/`.
            let mut skipped = name;
            while let Some((&b, after)) = skipped.split_first()
                && b != b'/'
            {
                let (t, ok) = match_chunk(chunk, after)?;
                if ok && (t.is_empty() || !pattern.is_empty()) {
                    name = t;
                    continue 'pattern;
                }
                skipped = after;
            }
        }
        // No match; the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Is `pattern` well-formed `filepath.Match` syntax?
pub fn validate(pattern: &str) -> Result<(), BadPattern> {
    matches(pattern, "").map(|_| ())
}

/// Go's `scanChunk`: leading stars, then everything up to the next `*` outside a class.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let [b'*', rest @ ..] = pattern {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while let Some(&b) = pattern.get(i) {
        match b {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    let (chunk, rest) = pattern.split_at(i);
    (star, chunk, rest)
}

/// Go's `matchChunk`: match `chunk` (no `*`) at the start of `s`; returns the rest of `s`
/// and whether it matched. After a failure the chunk is still parsed for syntax errors.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<(&'s [u8], bool), BadPattern> {
    let mut failed = false;
    while let Some((&c, after)) = chunk.split_first() {
        chunk = after;
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = '\0';
                if !failed {
                    let (rune, rest) = decode_rune(s);
                    r = rune.unwrap_or(char::REPLACEMENT_CHARACTER);
                    s = rest;
                }
                let negated = match chunk.strip_prefix(b"^") {
                    Some(rest) => {
                        chunk = rest;
                        true
                    }
                    None => false,
                };
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0
                        && let Some(rest) = chunk.strip_prefix(b"]")
                    {
                        chunk = rest;
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix(b"-") {
                        let (h, rest) = get_esc(rest)?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s.first() == Some(&b'/') {
                        failed = true;
                    }
                    (_, s) = decode_rune(s);
                }
            }
            _ => {
                let literal = if c == b'\\' {
                    let (&escaped, rest) = chunk.split_first().ok_or(BadPattern)?;
                    chunk = rest;
                    escaped
                } else {
                    c
                };
                if !failed {
                    // After a mismatch `s` is never looked at again.
                    match s.split_first() {
                        Some((&b, rest)) if b == literal => s = rest,
                        _ => failed = true,
                    }
                }
            }
        }
    }
    Ok(if failed { (&[], false) } else { (s, true) })
}

/// Go's `getEsc`: one (possibly escaped) character of a class; the class must go on after it.
fn get_esc(chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    let chunk = match chunk {
        [] | [b'-' | b']', ..] | [b'\\'] => return Err(BadPattern),
        [b'\\', rest @ ..] => rest,
        _ => chunk,
    };
    // An invalid byte (Go's `RuneError` of width 1) is a bad pattern.
    let (Some(r), rest) = decode_rune(chunk) else {
        return Err(BadPattern);
    };
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `utf8.DecodeRune`, returning the rest of `s`: the first character, or `None` for an
/// invalid byte (Go's `RuneError` of width 1), which is skipped alone. `s` must not be empty
/// (an empty `s` gives `None` and stays empty).
fn decode_rune(s: &[u8]) -> (Option<char>, &[u8]) {
    let first = s
        .utf8_chunks()
        .next()
        .and_then(|c| c.valid().chars().next());
    let width = first.map_or(1, char::len_utf8);
    (first, s.get(width..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `filepath` match tests (Unix rows).
    #[test]
    fn go_match_table() {
        let ok = |p: &str, s: &str, want: bool| {
            assert_eq!(matches(p, s), Ok(want), "Match({p:?}, {s:?})");
        };
        let bad = |p: &str, s: &str| {
            assert_eq!(matches(p, s), Err(BadPattern), "Match({p:?}, {s:?})");
        };
        ok("abc", "abc", true);
        ok("*", "abc", true);
        ok("*c", "abc", true);
        ok("a*", "a", true);
        ok("a*", "abc", true);
        ok("a*", "ab/c", false);
        ok("a*/b", "abc/b", true);
        ok("a*/b", "a/c/b", false);
        ok("a*b*c*d*e*/f", "axbxcxdxe/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false);
        ok("a*b?c*x", "abxbbxdbxebxczzx", true);
        ok("a*b?c*x", "abxbbxdbxebxczzy", false);
        ok("ab[c]", "abc", true);
        ok("ab[b-d]", "abc", true);
        ok("ab[e-g]", "abc", false);
        ok("ab[^c]", "abc", false);
        ok("ab[^b-d]", "abc", false);
        ok("ab[^e-g]", "abc", true);
        ok("a\\*b", "a*b", true);
        ok("a\\*b", "ab", false);
        ok("a?b", "a☺b", true);
        ok("a[^a]b", "a☺b", true);
        ok("a???b", "a☺b", false);
        ok("a[^a][^a][^a]b", "a☺b", false);
        ok("[a-ζ]*", "α", true);
        ok("*[a-ζ]", "A", false);
        ok("a?b", "a/b", false);
        ok("a*b", "a/b", false);
        ok("[\\]a]", "]", true);
        ok("[\\-]", "-", true);
        ok("[x\\-]", "x", true);
        ok("[x\\-]", "-", true);
        ok("[x\\-]", "z", false);
        ok("[\\-x]", "x", true);
        ok("[\\-x]", "-", true);
        ok("[\\-x]", "a", false);
        bad("[]a]", "]");
        bad("[-]", "-");
        bad("[x-]", "x");
        bad("[x-]", "-");
        bad("[x-]", "z");
        bad("[-x]", "x");
        bad("[-x]", "-");
        bad("[-x]", "a");
        bad("\\", "a");
        bad("[a-b-c]", "a");
        bad("[", "a");
        bad("[^", "a");
        bad("[^bc", "a");
        bad("a[", "a");
        bad("a[", "ab");
        bad("a[", "x");
        bad("a/b[", "x");
        bad("*x[", "a");
        ok("a*", "ab/c", false);
        ok("*x", "xxx", true);
    }

    #[test]
    fn wildcard_detection() {
        assert!(contains_wildcards("*.txt"));
        assert!(contains_wildcards("a/b?"));
        assert!(contains_wildcards("[ab]"));
        assert!(!contains_wildcards("plain/path"));
        assert!(!contains_wildcards("a\\*b"));
    }
}

//! Wildcards in COPY sources and Rm paths (`*`, `?`, `[...]`, per path segment).
//!
//! Why not the `.dockerignore` matcher: a COPY source is matched like Go's `filepath.Match`
//! by fsutil's `ResolveWildcards`, which differs from patternmatcher (no `**`, `[^...]` is
//! negation, a malformed pattern simply matches nothing). The source is split at its first
//! segment holding a wildcard; the part before it is resolved in the source root, the rest is
//! matched one segment at a time against directory entries, in name order, without following
//! symlinks below the base (like `filepath.Walk`). A matching directory is returned as a whole.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, is_not_found};
use crate::resolve::{resolve_in_root, show};

/// Does the path contain an unescaped `*`, `?` or `[`?
pub(crate) fn has_wildcards(p: &str) -> bool {
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Split at the first segment with a wildcard: (`literal prefix`, `pattern segments`).
pub(crate) fn split_wildcards(p: &str) -> (String, Vec<String>) {
    let mut prefix = Vec::new();
    let mut rest = Vec::new();
    for seg in p.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if rest.is_empty() && !has_wildcards(seg) {
            prefix.push(seg);
        } else {
            rest.push(seg.to_string());
        }
    }
    (format!("/{}", prefix.join("/")), rest)
}

/// Expand `pattern` inside `root`. `Ok(None)` when the literal prefix does not exist; the
/// matches are in-root paths (`/dir/a.txt`), in walk order. A pattern without wildcards is
/// returned as it is.
pub(crate) fn resolve_wildcards(
    root: &Path,
    pattern: &str,
    follow: bool,
) -> Result<Option<Vec<String>>> {
    let (base, segs) = split_wildcards(pattern);
    if segs.is_empty() {
        return Ok(Some(vec![pattern.to_string()]));
    }
    let base_host = resolve_in_root(root, &base, follow)?;
    let meta = match fs::symlink_metadata(&base_host) {
        Ok(m) => m,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(Error::io("lstat", show(root, &base_host), e)),
    };
    let mut found = Vec::new();
    if meta.is_dir() {
        walk(root, &base_host, &segs, &mut found)?;
    }
    Ok(Some(found.iter().map(|p| show(root, p)).collect()))
}

fn walk(root: &Path, dir: &Path, segs: &[String], out: &mut Vec<PathBuf>) -> Result<()> {
    let Some((seg, rest)) = segs.split_first() else {
        return Ok(());
    };
    for name in sorted_entries(root, dir)? {
        if !glob_match(seg, &name.to_string_lossy()).unwrap_or(false) {
            continue;
        }
        let path = dir.join(&name);
        if rest.is_empty() {
            out.push(path);
        } else if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            walk(root, &path, rest, out)?;
        }
    }
    Ok(())
}

/// Entry names of `dir`, sorted bytewise (the order `filepath.Walk` visits them in).
pub(crate) fn sorted_entries(root: &Path, dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("read directory", show(root, dir), e))?;
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read directory", show(root, dir), e))?;
        names.push(entry.file_name());
    }
    names.sort();
    Ok(names)
}

/// Malformed pattern (unterminated or empty class, trailing `\`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Go `filepath.Match` for one segment: `*` any run, `?` one char, `[a-z]`/`[^a-z]` classes,
/// `\` escapes.
pub(crate) fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validate the whole pattern first, so a malformed tail is an error even if the name
    // would already fail earlier (as Go reports ErrBadPattern).
    validate(&p)?;
    Ok(match_from(&p, &n))
}

fn validate(mut p: &[char]) -> Result<(), BadPattern> {
    while let Some((&c, rest)) = p.split_first() {
        p = match c {
            '\\' => rest.split_first().ok_or(BadPattern)?.1,
            '[' => class(rest, None)?.1,
            _ => rest,
        };
    }
    Ok(())
}

fn match_from(mut p: &[char], mut n: &[char]) -> bool {
    // Backtracking point for the last `*`: (pattern after it, name it resumes at).
    let mut star: Option<(&[char], &[char])> = None;
    loop {
        if let Some((&c, p_rest)) = p.split_first() {
            if c == '*' {
                p = p_rest;
                star = Some((p, n));
                continue;
            }
            if let Some((&nc, n_rest)) = n.split_first() {
                // The pattern after `c` when it matches `nc`.
                let step = match c {
                    '?' => Some(p_rest),
                    '[' => match class(p_rest, Some(nc)) {
                        Ok((true, rest)) => Some(rest),
                        _ => None,
                    },
                    '\\' => match p_rest.split_first() {
                        Some((&e, rest)) if e == nc => Some(rest),
                        _ => None,
                    },
                    c => (c == nc).then_some(p_rest),
                };
                if let Some(rest) = step {
                    p = rest;
                    n = n_rest;
                    continue;
                }
            }
        } else if n.is_empty() {
            return true;
        }
        match star {
            Some((sp, [_, sn @ ..])) => {
                star = Some((sp, sn));
                p = sp;
                n = sn;
            }
            _ => return false,
        }
    }
}

/// Parse the class whose `[` came just before `p`; returns (does `c` match, the pattern
/// after the class).
fn class(mut p: &[char], c: Option<char>) -> Result<(bool, &[char]), BadPattern> {
    let negated = match p.strip_prefix(&['^']) {
        Some(rest) => {
            p = rest;
            true
        }
        None => false,
    };
    let mut matched = false;
    let mut first = true;
    loop {
        match p {
            [] => return Err(BadPattern),
            [']', rest @ ..] if !first => {
                p = rest;
                break;
            }
            _ => {}
        }
        first = false;
        let (lo, rest) = class_char(p)?;
        p = rest;
        let mut hi = lo;
        if let Some(rest) = p.strip_prefix(&['-']) {
            let (h, rest) = class_char(rest)?;
            hi = h;
            p = rest;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
    }
    Ok((matched != negated, p))
}

/// One (possibly escaped) class character and the pattern after it; a bare `-` or `]` here
/// is malformed (Go `getEsc`).
fn class_char(p: &[char]) -> Result<(char, &[char]), BadPattern> {
    match p {
        [] | ['-' | ']', ..] | ['\\'] => Err(BadPattern),
        ['\\', c, rest @ ..] => Ok((*c, rest)),
        [c, rest @ ..] => Ok((*c, rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(glob_match("*.txt", "a.txt").unwrap());
        assert!(glob_match("*", ".hidden").unwrap());
        assert!(!glob_match("*.txt", "a.md").unwrap());
        assert!(glob_match("a?c", "abc").unwrap());
        assert!(!glob_match("a?c", "ac").unwrap());
        assert!(glob_match("[ab]x", "bx").unwrap());
        assert!(glob_match("[a-c]*", "cat").unwrap());
        assert!(!glob_match("[^a-c]*", "cat").unwrap());
        assert!(glob_match("[^a-c]*", "dog").unwrap());
        assert!(glob_match("\\*", "*").unwrap());
        assert!(!glob_match("\\*", "a").unwrap());
        assert!(glob_match("a*b*c", "axxbyyc").unwrap());
        assert!(!glob_match("a*b*c", "axxbyy").unwrap());
        assert!(glob_match("", "").unwrap());
        assert_eq!(glob_match("[ab", "a"), Err(BadPattern));
        assert_eq!(glob_match("[]", "a"), Err(BadPattern));
        assert_eq!(glob_match("ab\\", "ab"), Err(BadPattern));
    }

    #[test]
    fn split_and_detect() {
        assert!(has_wildcards("a/*.go"));
        assert!(!has_wildcards("a/\\*.go"));
        assert_eq!(
            split_wildcards("/src/*/x.go"),
            (
                "/src".to_string(),
                vec!["*".to_string(), "x.go".to_string()]
            )
        );
        assert_eq!(split_wildcards("/a/b"), ("/a/b".to_string(), vec![]));
    }

    #[test]
    fn resolve_walks_segments_in_order() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        for d in ["b/pkg", "a/pkg", "c"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("a/pkg/x.json"), "").unwrap();
        fs::write(root.join("b/pkg/x.json"), "").unwrap();
        fs::write(root.join("c/x.json"), "").unwrap();
        let m = resolve_wildcards(root, "/*/pkg/*.json", false)
            .unwrap()
            .unwrap();
        assert_eq!(m, vec!["/a/pkg/x.json", "/b/pkg/x.json"]);
        let m = resolve_wildcards(root, "/?", false).unwrap().unwrap();
        assert_eq!(m, vec!["/a", "/b", "/c"]);
        assert_eq!(resolve_wildcards(root, "/nope/*", false).unwrap(), None);
        assert_eq!(
            resolve_wildcards(root, "/*.none", false).unwrap(),
            Some(vec![])
        );
    }
}

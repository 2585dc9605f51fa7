//! Wildcards in COPY sources and Rm paths (`*`, `?`, `[...]`, per path segment).
//!
//! Why not the `.dockerignore` matcher: a COPY source is matched like Go's `filepath.Match`
//! by fsutil's `ResolveWildcards` (`cairn_context::wildcard`, the one port, shared with the
//! context's key selection), which differs from patternmatcher (no `**`, `[^...]` is negation,
//! a malformed pattern is an error). The source is split at its first
//! segment holding a wildcard; the part before it is resolved in the source root, the rest is
//! matched one segment at a time against directory entries, in name order, without following
//! symlinks below the base (like `filepath.Walk`). A matching directory is returned as a whole.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, is_not_found};
use crate::resolve::{resolve_in_root, show};

pub(crate) use cairn_context::wildcard::{contains_wildcards as has_wildcards, matches};

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
        let matched = matches(seg, &name.to_string_lossy()).map_err(|_| Error::BadPattern {
            pattern: seg.clone(),
        })?;
        if !matched {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_wildcard_is_an_error_as_in_the_context_keys() {
        // The key selection (cairn-context) refuses it; the copy must not quietly match
        // nothing instead (both use the one filepath.Match port).
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("a"), "").unwrap();
        let e = resolve_wildcards(t.path(), "/[ab", false).unwrap_err();
        assert!(matches!(e, Error::BadPattern { .. }), "{e}");
        assert!(cairn_context::wildcard::validate("[ab").is_err());
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

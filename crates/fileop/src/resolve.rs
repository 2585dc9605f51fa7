//! Confinement: resolve a path inside a root directory as if the root were `/`.
//!
//! Why: the target of a file op is a container filesystem whose symlinks were written by the
//! build or came with an image. Handing `root/app/x` to the kernel when `/app -> /etc` would
//! write to the *host's* `/etc`. So paths are walked component by component: each existing
//! component is `lstat`ed (never followed by the kernel), a symlink's target is read and
//! re-rooted — an absolute target restarts at `root`, `..` never climbs above it — and at most
//! [`MAX_LINK_HOPS`] links are followed. The result is a host path below `root` whose existing
//! prefix contains no symlink; components that do not exist yet are kept lexically.
//!
//! Between this check and the use of the path another process could swap a directory for a
//! symlink; file ops run in the sandbox helper, the only writer of the tree at that moment, so
//! no build step can race it. Files are still created with `O_NOFOLLOW | O_EXCL` as a second
//! line of defence.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result, is_not_found};

/// The most symlinks followed while resolving one path (the same everywhere, see
/// [`cairn_context::MAX_SYMLINK_HOPS`]).
pub const MAX_LINK_HOPS: usize = cairn_context::MAX_SYMLINK_HOPS;

/// Resolve `path` (absolute or relative; both mean "from `root`") inside `root`.
///
/// Symlinks met along the way are followed *within* `root`; the last component is followed
/// only when `follow_last` is set (set it to act on what a path points to, clear it to act on
/// the link itself). `..` is resolved against the already-resolved prefix and stops at `root`.
/// Missing components are appended as they are, so the result can name a path to create.
pub fn resolve_in_root(root: &Path, path: impl AsRef<Path>, follow_last: bool) -> Result<PathBuf> {
    let path = path.as_ref();
    let mut pending: VecDeque<OsString> = components(path);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0usize;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        if pending.is_empty() && !follow_last {
            resolved.push(c);
            break;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(Error::TooManyLinks {
                        path: path.display().to_string(),
                    });
                }
                let target = fs::read_link(&candidate)
                    .map_err(|e| Error::io("readlink", show(root, &candidate), e))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut next = components(&target);
                next.extend(pending.drain(..));
                pending = next;
            }
            Ok(_) => resolved.push(c),
            Err(e) if is_not_found(&e) => resolved.push(c),
            Err(e) => return Err(Error::io("lstat", show(root, &candidate), e)),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// The normal components of `p`, `..` kept as `".."`, `.` and `/` dropped.
fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// How a host path below `root` looks from inside: `/` + the relative part.
pub(crate) fn show(root: &Path, host: &Path) -> String {
    match host.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => "/".to_string(),
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => host.display().to_string(),
    }
}

/// Lexically clean an in-root path like Go's `path.Clean("/" + p)`: always absolute, no `.`,
/// `..` resolved (never above `/`), no trailing slash.
pub(crate) fn clean_abs(p: &str) -> String {
    cairn_context::go_clean_abs(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plain_and_missing_paths() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/a/b", true).unwrap(),
            root.join("a/b")
        );
        assert_eq!(
            resolve_in_root(root, "a/./b/", true).unwrap(),
            root.join("a/b")
        );
        assert_eq!(
            resolve_in_root(root, "/a/x/y", true).unwrap(),
            root.join("a/x/y")
        );
        assert_eq!(
            resolve_in_root(root, "/", true).unwrap(),
            root.to_path_buf()
        );
        assert_eq!(resolve_in_root(root, "", true).unwrap(), root.to_path_buf());
    }

    #[test]
    fn dotdot_stops_at_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        assert_eq!(
            resolve_in_root(root, "/../../../etc/passwd", true).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "a/../../b", true).unwrap(),
            root.join("b")
        );
    }

    #[test]
    fn absolute_symlink_is_rerooted() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir(root.join("etc")).unwrap();
        symlink("/etc", root.join("app")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/app/passwd", true).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "/app", true).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, "/app", false).unwrap(),
            root.join("app")
        );
    }

    #[test]
    fn relative_symlink_cannot_climb_out() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir(root.join("d")).unwrap();
        symlink("../../../../tmp", root.join("d/up")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/d/up/x", true).unwrap(),
            root.join("tmp/x")
        );
    }

    #[test]
    fn chained_links_and_loops() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir(root.join("real")).unwrap();
        symlink("real", root.join("l1")).unwrap();
        symlink("/l1", root.join("l2")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/l2/f", true).unwrap(),
            root.join("real/f")
        );
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        let err = resolve_in_root(root, "/loop1/x", true).unwrap_err();
        assert!(matches!(err, Error::TooManyLinks { .. }), "{err}");
        // Not following the last component never reads the loop.
        assert_eq!(
            resolve_in_root(root, "/loop1", false).unwrap(),
            root.join("loop1")
        );
    }

    #[test]
    fn clean_abs_like_go() {
        assert_eq!(clean_abs("a/b/../c/."), "/a/c");
        assert_eq!(clean_abs("/../x"), "/x");
        assert_eq!(clean_abs(""), "/");
        assert_eq!(clean_abs("/a/"), "/a");
    }
}

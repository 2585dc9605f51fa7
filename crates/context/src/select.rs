//! What a `COPY <src>` reads from the context, and the digest of exactly that.
//!
//! **Resolving the source.** `src` is relative to the context root (a leading `/` is allowed)
//! and cleaned like Go's `filepath.Clean`. Symlinks on the way — and the source itself, when it
//! is one — are followed *inside the index*: a relative target is resolved from the link's
//! directory, and any absolute target or any `..` above the root is refused with
//! [`ContextError::OutsideContext`] naming the source. A directory selects itself and
//! everything below it; a symlink below a selected directory is data (its target is hashed,
//! not followed). A source that matches nothing is [`ContextError::NotFound`].
//!
//! **Wildcards.** A source with an unescaped `*`, `?` or `[` is a pattern, matched segment by
//! segment with Go's `filepath.Match` ([`crate::wildcard`]). A pattern that matches nothing
//! selects nothing (BuildKit's Dockerfile frontend allows empty wildcards); a match that
//! leads outside the context is refused like a plain source.
//!
//! **Excludes** are `.dockerignore`-syntax patterns relative to the context root, matched
//! against each entry's path as the source names it (through the source's symlinks, not
//! behind them) with [`IgnoreMatcher::matches`].
//!
//! **The digest** is blake3 over a versioned, length-prefixed encoding of the selected records
//! sorted by path (see [`encode`]): the path relative to the source (`.` for the source
//! itself) — or, for a wildcard, the context-relative path of each match, since several
//! matches may share a name — then kind, mode, owner, size, content hash or link target.
//! Never mtimes, and nothing about where the context lives.

use crate::error::{ContextError, Result};
use crate::ignore::{IgnoreMatcher, clean_path};
use crate::index::{ContextIndex, Entry, EntryKind};
use crate::wildcard;
use std::borrow::Cow;

use std::os::unix::ffi::OsStrExt;

/// The domain tag and version of the selection encoding. Changing what is encoded means
/// bumping [`SELECTION_VERSION`] (and `encoding_is_stable` will insist).
const SELECTION_DOMAIN: &[u8] = b"cairn/context/selection";
const SELECTION_VERSION: u32 = 1;

/// How many symlinks one resolution may follow (the same everywhere).
const MAX_LINKS: usize = crate::MAX_SYMLINK_HOPS;

/// One entry selected by a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<'a> {
    /// The path recorded in the digest: relative to the source (`.` is the source itself), or
    /// the context-relative path for wildcard sources.
    pub rel: Cow<'a, str>,
    /// The entry's path as the source names it, relative to the context root (what excludes
    /// are matched against). It differs from `entry.path` when the source went through a
    /// symlink.
    pub source_path: Cow<'a, str>,
    /// The entry itself (for a followed symlink, the entry it resolved to).
    pub entry: &'a Entry,
}

/// The result of resolving a path in the index.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Root,
    Entry(&'a Entry),
}

impl ContextIndex {
    /// The entries `COPY src` reads, sorted by [`Selected::rel`] (see the module docs).
    pub fn files_for(&self, src: &str, exclude: &[String]) -> Result<Vec<Selected<'_>>> {
        self.select(src, exclude).map(|(_, selected)| selected)
    }

    /// Check that the files `COPY src` reads from `root` (the directory this index was scanned
    /// from) are still the ones scanned: same size, times and inode. A step that read a file
    /// which changed after the scan would be recorded under a key computed from the old
    /// content; this refuses it instead. One `lstat` per selected file, in parallel.
    pub fn check_unchanged(
        &self,
        root: &std::path::Path,
        src: &str,
        exclude: &[String],
    ) -> Result<()> {
        use rayon::prelude::*;
        let selected = self.files_for(src, exclude)?;
        selected.par_iter().try_for_each(|s| {
            let Some(was) = s.entry.stamp else {
                return Ok(());
            };
            let changed = || ContextError::ChangedDuringBuild {
                path: s.entry.path.clone(),
            };
            let meta =
                std::fs::symlink_metadata(root.join(&s.entry.path)).map_err(|_| changed())?;
            let now = crate::index::Stamp::from(&crate::statcache::FileStat::from_metadata(&meta));
            if now == was { Ok(()) } else { Err(changed()) }
        })
    }

    /// The checksum of exactly the entries `COPY src` reads: relative paths, content, kind,
    /// mode (unless `ignore_mode`, for `--chmod`), owner (unless `ignore_owner`, for `--chown`)
    /// — never mtimes or the context's location.
    pub fn selection_digest(
        &self,
        src: &str,
        exclude: &[String],
        ignore_mode: bool,
        ignore_owner: bool,
    ) -> Result<[u8; 32]> {
        let (wildcard, selected) = self.select(src, exclude)?;
        Ok(encode(&selected, wildcard, ignore_mode, ignore_owner))
    }

    /// What a copy of `src` selects, file by file: each non-directory entry's path in the
    /// context and a fingerprint of what the copy would carry (kind, content or link
    /// target, mode, owner). For saying which file changed between two builds
    /// (`cairn build --explain`), not for keys.
    pub fn selection_files(
        &self,
        src: &str,
        exclude: &[String],
    ) -> Result<Vec<(String, [u8; 16])>> {
        let (_, selected) = self.select(src, exclude)?;
        Ok(selected
            .iter()
            .filter(|s| s.entry.kind != EntryKind::Dir)
            .map(|s| {
                let one = std::slice::from_ref(s);
                let digest = encode(one, false, false, false);
                let mut short = [0u8; 16];
                short.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
                (s.source_path.to_string(), short)
            })
            .collect())
    }

    fn select(&self, src: &str, exclude: &[String]) -> Result<(bool, Vec<Selected<'_>>)> {
        let excludes = if exclude.is_empty() {
            None
        } else {
            Some(IgnoreMatcher::new(exclude).map_err(|source| ContextError::Exclude { source })?)
        };
        let cleaned = clean_source(src)?;
        let wildcard = wildcard::contains_wildcards(&cleaned);
        let matches = if wildcard {
            self.expand(src, &cleaned)?
        } else {
            match self.resolve(&cleaned, src)? {
                Some(target) => vec![(cleaned, target)],
                None => {
                    return Err(ContextError::NotFound {
                        src: src.to_string(),
                    });
                }
            }
        };

        let mut out = Vec::new();
        for (logical, target) in matches {
            let base = if wildcard {
                logical.clone()
            } else {
                ".".to_string()
            };
            let physical = match target {
                Target::Root => "",
                Target::Entry(entry) => {
                    out.push(Selected {
                        rel: Cow::Owned(base.clone()),
                        source_path: Cow::Owned(logical.clone()),
                        entry,
                    });
                    if entry.kind != EntryKind::Dir {
                        continue;
                    }
                    entry.path.as_str()
                }
            };
            let skip = if physical.is_empty() {
                0
            } else {
                physical.len() + 1
            };
            for entry in self.below(physical) {
                let suffix = &entry.path[skip..];
                // Borrowed from the entry's path in the common case (a source that is a
                // directory at the root): a big context otherwise costs two strings per file.
                out.push(Selected {
                    rel: join_cow(if base == "." { "" } else { &base }, suffix),
                    source_path: join_cow(&logical, suffix),
                    entry,
                });
            }
        }
        if let Some(excludes) = &excludes {
            let mut kept = Vec::with_capacity(out.len());
            for s in out {
                let excluded = excludes
                    .matches(&s.source_path)
                    .map_err(|source| ContextError::Exclude { source })?;
                if !excluded {
                    kept.push(s);
                }
            }
            out = kept;
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok((wildcard, out))
    }

    /// Resolve the clean relative `path` (`""` is the root), following symlinks inside the
    /// index. `None` when it does not exist (or a non-directory is in the way); errors name
    /// `display`.
    fn resolve(&self, path: &str, display: &str) -> Result<Option<Target<'_>>> {
        let outside = || ContextError::OutsideContext {
            path: display.to_string(),
        };
        // Components still to walk, in reverse order; `done` holds the resolved ones.
        let mut todo: Vec<String> = Vec::new();
        push_components(&mut todo, path);
        let mut done: Vec<String> = Vec::new();
        let mut current = Target::Root;
        let mut links = 0;
        while let Some(component) = todo.pop() {
            if let Target::Entry(entry) = current
                && entry.kind != EntryKind::Dir
            {
                return Ok(None);
            }
            if component == ".." {
                if done.pop().is_none() {
                    return Err(outside());
                }
                let Some(parent) = self.target_of(&done) else {
                    return Ok(None);
                };
                current = parent;
                continue;
            }
            done.push(component);
            let Some(entry) = self.get(&done.join("/")) else {
                return Ok(None);
            };
            match &entry.kind {
                EntryKind::Symlink { target } => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ContextError::SymlinkLoop {
                            path: display.to_string(),
                        });
                    }
                    done.pop();
                    let Some(target) = target.to_str() else {
                        // Every indexed name is UTF-8, so such a target cannot exist.
                        return Ok(None);
                    };
                    if target.starts_with('/') {
                        return Err(outside());
                    }
                    push_components(&mut todo, target);
                    let Some(parent) = self.target_of(&done) else {
                        return Ok(None);
                    };
                    current = parent;
                }
                _ => current = Target::Entry(entry),
            }
        }
        Ok(Some(current))
    }

    /// The target named by already-resolved components.
    fn target_of(&self, components: &[String]) -> Option<Target<'_>> {
        if components.is_empty() {
            return Some(Target::Root);
        }
        self.get(&components.join("/")).map(Target::Entry)
    }

    /// Expand the wildcard source `pattern` (clean, relative) into its matches: the
    /// context-relative path as the pattern names it, and what that resolves to.
    fn expand(&self, src: &str, pattern: &str) -> Result<Vec<(String, Target<'_>)>> {
        let segments: Vec<&str> = pattern.split('/').collect();
        for segment in &segments {
            wildcard::validate(segment).map_err(|_| ContextError::BadSource {
                src: src.to_string(),
            })?;
        }
        // (path as named, resolved directory path) of the candidates so far.
        let mut dirs: Vec<(String, String)> = vec![(String::new(), String::new())];
        let mut matches = Vec::new();
        for (n, segment) in segments.iter().enumerate() {
            let last = n + 1 == segments.len();
            let mut next = Vec::new();
            for (logical, physical) in &dirs {
                let names: Vec<String> = if segment.contains(['*', '?', '[', '\\']) {
                    let mut names = Vec::new();
                    for name in self.child_names(physical) {
                        let hit = wildcard::matches(segment, name).map_err(|_| {
                            ContextError::BadSource {
                                src: src.to_string(),
                            }
                        })?;
                        if hit {
                            names.push(name.to_string());
                        }
                    }
                    names
                } else {
                    vec![segment.to_string()]
                };
                for name in names {
                    let named = join(logical, &name);
                    let resolved = self.resolve(&join(physical, &name), &named)?;
                    match (resolved, last) {
                        (Some(target), true) => matches.push((named, target)),
                        // A dangling symlink was matched: a copy of it would fail.
                        (None, true) if self.get(&join(physical, &name)).is_some() => {
                            return Err(ContextError::NotFound { src: named });
                        }
                        (None, _) => {}
                        (Some(Target::Root), false) => next.push((named, String::new())),
                        (Some(Target::Entry(entry)), false) => {
                            if entry.kind == EntryKind::Dir {
                                next.push((named, entry.path.clone()));
                            }
                        }
                    }
                }
            }
            dirs = next;
        }
        Ok(matches)
    }
}

/// Clean a source path: a leading `/` means the context root; `""` is the root itself.
fn clean_source(src: &str) -> Result<String> {
    let cleaned = clean_path(src);
    if let Some(rooted) = cleaned.strip_prefix('/') {
        return Ok(rooted.to_string());
    }
    if cleaned == "." {
        return Ok(String::new());
    }
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(ContextError::OutsideContext {
            path: src.to_string(),
        });
    }
    Ok(cleaned)
}

/// Push the components of `path` onto the reversed work list (dropping `.` and empties).
fn push_components(todo: &mut Vec<String>, path: &str) {
    todo.extend(
        path.split('/')
            .rev()
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string),
    );
}

/// [`join`], borrowing `name` when `dir` is empty.
fn join_cow<'a>(dir: &str, name: &'a str) -> Cow<'a, str> {
    if dir.is_empty() {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(join(dir, name))
    }
}

fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// The canonical encoding of a selection, hashed:
///
/// ```text
/// "cairn/context/selection" u32le(version)
/// u8(flags: 1 wildcard | 2 ignore_mode | 4 ignore_owner) u64le(count)
/// per record: bytes(rel) u8(kind: 1 file, 2 dir, 3 symlink, 4 other)
///             [u32le(mode)] [u32le(uid) u32le(gid)] u64le(size)
///             file: [32]hash | symlink: bytes(target)
/// bytes(x) = u64le(len) x
/// ```
fn encode(
    selected: &[Selected<'_>],
    wildcard: bool,
    ignore_mode: bool,
    ignore_owner: bool,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let bytes = |h: &mut blake3::Hasher, b: &[u8]| {
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(b);
    };
    h.update(SELECTION_DOMAIN);
    h.update(&SELECTION_VERSION.to_le_bytes());
    let flags = u8::from(wildcard) | u8::from(ignore_mode) << 1 | u8::from(ignore_owner) << 2;
    h.update(&[flags]);
    h.update(&(selected.len() as u64).to_le_bytes());
    for s in selected {
        let e = s.entry;
        bytes(&mut h, s.rel.as_bytes());
        let kind: u8 = match e.kind {
            EntryKind::File { .. } => 1,
            EntryKind::Dir => 2,
            EntryKind::Symlink { .. } => 3,
            EntryKind::Other => 4,
        };
        h.update(&[kind]);
        if !ignore_mode {
            h.update(&e.mode.to_le_bytes());
        }
        if !ignore_owner {
            h.update(&e.uid.to_le_bytes());
            h.update(&e.gid.to_le_bytes());
        }
        h.update(&e.size.to_le_bytes());
        match &e.kind {
            EntryKind::File { hash } => {
                h.update(hash);
            }
            EntryKind::Symlink { target } => bytes(&mut h, target.as_os_str().as_bytes()),
            EntryKind::Dir | EntryKind::Other => {}
        }
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(path: &str, kind: EntryKind) -> Entry {
        let size = match &kind {
            EntryKind::File { .. } => 3,
            _ => 0,
        };
        Entry {
            path: path.to_string(),
            kind,
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            size,
            stamp: None,
        }
    }

    fn index() -> ContextIndex {
        ContextIndex::from_entries(vec![
            entry("app", EntryKind::Dir),
            entry("app/main.rs", EntryKind::File { hash: [1; 32] }),
            entry(
                "app/link",
                EntryKind::Symlink {
                    target: PathBuf::from("main.rs"),
                },
            ),
            entry("app/fifo", EntryKind::Other),
            entry(
                "up",
                EntryKind::Symlink {
                    target: PathBuf::from("app/.././app/./"),
                },
            ),
        ])
    }

    fn hex(d: [u8; 32]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Freezes the encoding: changing it means bumping `SELECTION_VERSION`.
    #[test]
    fn encoding_is_stable() {
        let index = index();
        let d = |src: &str, m: bool, o: bool| {
            hex(index.selection_digest(src, &[], m, o).expect("digest"))
        };
        let got = [
            d("app", false, false),
            d("app", true, true),
            d("*", false, false),
        ];
        assert_eq!(
            got,
            [
                "557dd3e6fed16b4c326374b23dbe6326487a32908c1bb3feff71c4f45277d5dd",
                "d80110fb111ec3adf3af3c7809cad37954f4b8bcb13cf3c66085648d221126de",
                "93e9f92969ba34a17ac922d797b9a5e3003e99c8c307f6f0a1a9eaebc17838a9",
            ]
        );
    }

    #[test]
    fn resolution_follows_relative_links_with_dots() {
        let index = index();
        assert_eq!(
            index.selection_digest("up", &[], false, false).ok(),
            index.selection_digest("app", &[], false, false).ok()
        );
        let names: Vec<String> = index
            .files_for("up/link", &[])
            .expect("files")
            .into_iter()
            .map(|s| s.entry.path.clone())
            .collect();
        assert_eq!(names, ["app/main.rs"]);
        // A non-directory in the way is "not found".
        assert!(matches!(
            index.files_for("app/main.rs/x", &[]),
            Err(ContextError::NotFound { .. })
        ));
    }

    #[test]
    fn clean_source_paths() {
        assert_eq!(clean_source("/").ok(), Some(String::new()));
        assert_eq!(clean_source(".").ok(), Some(String::new()));
        assert_eq!(clean_source("/../a//b/").ok(), Some("a/b".to_string()));
        assert_eq!(clean_source("a/../b").ok(), Some("b".to_string()));
        assert!(clean_source("a/../..").is_err());
    }
}

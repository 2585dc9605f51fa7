//! The build context as a bind mount sees it: without what `.dockerignore` hides.
//!
//! BuildKit sends a RUN's context bind mount through the same filter as a COPY, so ignored
//! files (secrets, logs, `node_modules`) are absent under `RUN --mount=type=bind`. Copying the
//! selected files would cost as much as the context; instead the helper builds a small *mask
//! layer* in its scratch tmpfs — an overlayfs whiteout (a 0/0 character device) for each
//! topmost ignored entry, under copies of the directories that lead to it — and mounts the
//! context with the mask on top. What is hidden follows `cairn_fileop`'s rule for COPY: an
//! ignored entry is hidden, except an ignored directory that an exception (`!pattern`)
//! re-includes something in, which stays with only its re-included content.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cairn_context::ignore::IgnoreMatcher;
use rustix::fs::{FileType, Mode, Timespec, Timestamps};

use super::{Context, HelperError, Scratch};

/// One walked entry, relative to the context root.
struct Entry {
    rel: String,
    is_dir: bool,
    ignored: bool,
}

/// The relative paths to white out in `root`, parents before children, each topmost (none
/// inside another). Empty when nothing is hidden.
fn hidden_entries(root: &Path, matcher: &IgnoreMatcher) -> Result<Vec<String>, HelperError> {
    let mut entries = Vec::new();
    let mut todo = vec![String::new()];
    while let Some(dir_rel) = todo.pop() {
        let dir = root.join(&dir_rel);
        let read = std::fs::read_dir(&dir).ctx(|| format!("reading {}", dir.display()))?;
        for item in read {
            let item = item.ctx(|| format!("reading {}", dir.display()))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else {
                // A name the patterns cannot express is matched by none of them.
                continue;
            };
            let rel = if dir_rel.is_empty() {
                name.to_string()
            } else {
                format!("{dir_rel}/{name}")
            };
            let is_dir = item
                .file_type()
                .ctx(|| format!("stat {}", dir.join(name).display()))?
                .is_dir();
            let ignored = matcher
                .matches(&rel)
                .map_err(|e| HelperError::Msg(format!(".dockerignore: {e}")))?;
            if is_dir && (!ignored || matcher.has_exclusions()) {
                todo.push(rel.clone());
            }
            entries.push(Entry {
                rel,
                is_dir,
                ignored,
            });
        }
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    // Directories holding something shown stay.
    let mut keeps_content: HashSet<&str> = HashSet::new();
    for e in entries.iter().filter(|e| !e.ignored) {
        let mut p = e.rel.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !keeps_content.insert(parent) {
                break;
            }
            p = parent;
        }
    }
    let mut hidden: Vec<String> = Vec::new();
    let mut hidden_dirs: HashSet<&str> = HashSet::new();
    for e in entries.iter().filter(|e| e.ignored) {
        if e.is_dir && keeps_content.contains(e.rel.as_str()) {
            continue;
        }
        let under_hidden = {
            let mut p = e.rel.as_str();
            let mut found = false;
            while let Some((parent, _)) = p.rsplit_once('/') {
                if hidden_dirs.contains(parent) {
                    found = true;
                    break;
                }
                p = parent;
            }
            found
        };
        if under_hidden {
            continue;
        }
        if e.is_dir {
            hidden_dirs.insert(&e.rel);
        }
        hidden.push(e.rel.clone());
    }
    Ok(hidden)
}

/// The mask layer for `root` under `patterns`, or `None` when nothing is hidden (no
/// patterns, or none matches).
pub fn mask_layer(
    root: &Path,
    patterns: &[String],
    scratch: &Scratch,
) -> Result<Option<PathBuf>, HelperError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let matcher = IgnoreMatcher::new(patterns)
        .map_err(|e| HelperError::Msg(format!(".dockerignore: {e}")))?;
    let hidden = hidden_entries(root, &matcher)?;
    if hidden.is_empty() {
        return Ok(None);
    }
    let mask = scratch.dir("ignore-mask")?;
    // Directories of the mask stand for the context's own: same mode, owner and times.
    let mut dirs: Vec<&str> = vec![""];
    let mut made: HashSet<&str> = HashSet::new();
    for rel in &hidden {
        // The parents, outermost first, each made once.
        let mut chain = Vec::new();
        let mut p = rel.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            chain.push(parent);
            p = parent;
        }
        for d in chain.into_iter().rev() {
            if made.insert(d) {
                let at = mask.join(d);
                std::fs::create_dir(&at).ctx(|| format!("creating {}", at.display()))?;
                dirs.push(d);
            }
        }
        let node = mask.join(rel);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &node,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .ctx(|| format!("creating the whiteout {}", node.display()))?;
    }
    // Children before parents, so setting a directory's times is the last change to it.
    dirs.sort_by(|a, b| b.cmp(a));
    for d in dirs {
        let (from, to) = (root.join(d), mask.join(d));
        let meta = std::fs::symlink_metadata(&from).ctx(|| format!("stat {}", from.display()))?;
        rustix::fs::chown(
            &to,
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
        )
        .ctx(|| format!("chown {}", to.display()))?;
        rustix::fs::chmod(&to, Mode::from_raw_mode(meta.mode() & 0o7777))
            .ctx(|| format!("chmod {}", to.display()))?;
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: meta.atime(),
                tv_nsec: meta.atime_nsec(),
            },
            last_modification: Timespec {
                tv_sec: meta.mtime(),
                tv_nsec: meta.mtime_nsec(),
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, &to, &times, rustix::fs::AtFlags::empty())
            .ctx(|| format!("setting the times of {}", to.display()))?;
    }
    Ok(Some(mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        for f in files {
            let p = t.path().join(f);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).expect("mkdir");
            }
            if f.ends_with('/') {
                std::fs::create_dir_all(&p).expect("mkdir");
            } else {
                std::fs::write(&p, "x").expect("write");
            }
        }
        t
    }

    fn hidden(files: &[&str], patterns: &[&str]) -> Vec<String> {
        let t = tree(files);
        let m = IgnoreMatcher::new(patterns).expect("patterns");
        hidden_entries(t.path(), &m).expect("walk")
    }

    #[test]
    fn topmost_ignored_entries_only() {
        assert_eq!(
            hidden(
                &[
                    "a.txt",
                    "secret.env",
                    "logs/1.log",
                    "logs/2.log",
                    "src/x.rs",
                    "src/x.log"
                ],
                &["*.env", "logs", "**/*.log"]
            ),
            ["logs", "secret.env", "src/x.log"]
        );
        assert!(hidden(&["a", "b/c"], &["nothing*"]).is_empty());
    }

    #[test]
    fn exceptions_keep_their_directory() {
        assert_eq!(
            hidden(
                &["dir/keep", "dir/drop", "dir/sub/deep", "other/x"],
                &["dir", "!dir/keep", "other"]
            ),
            ["dir/drop", "dir/sub", "other"]
        );
    }
}

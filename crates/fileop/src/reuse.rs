//! Building a copy's layer from the previous result of the same copy (issue 14).
//!
//! Why: a one-line change in a big context made `COPY . /src` write every file again — the
//! data, then a `syncfs` of it all when the layer is committed. A file whose content and
//! metadata are what the previous result of the same copy (same op, same base) holds needs
//! none of that: the new layer can share the previous layer's inode, since layers are
//! immutable. What comes out must be exactly what a full copy makes, byte for byte in an
//! exported tar, so:
//!
//! 1. While the copy runs in the rootfs overlay, a file the caller vouches is unchanged
//!    ([`CopyPlan::unchanged`]: same source path, same content hash as last time, same
//!    destination) is created *empty* with all of a full copy's metadata — the copier's own
//!    code path, so ownership, modes, times and xattrs are its. Once its metadata is set, it is
//!    compared with the previous layer's file at the same path (type, size, mode, owner,
//!    mtime, no xattrs on either, an inode not yet used by this layer): a mismatch fills it
//!    with the data there and then, as a full copy would have.
//! 2. After the overlay is unmounted ([`CopyTracker::link_deferred`]), each placeholder still
//!    standing is replaced in the upper directory by a hard link to the previous layer's file,
//!    and every directory touched gets its times back. A placeholder that is not exactly as
//!    left (regular, empty, one link) is an internal error, never linked over.
//!
//! A file written again later in the copy (two sources, one destination) drops its
//! placeholder first ([`CopyTracker::forget`]); a placeholder a later hardlink of the same
//! source inode would share is filled before it is linked to. Only copies from the sources
//! the caller names are tracked; whether a copy may be planned at all (only COPY actions, no
//! archives) is the caller's decision.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

use crate::error::{Error, Result};

/// What the previous result of the same copy offers.
#[derive(Debug, Clone, Default)]
pub struct CopyPlan {
    /// The layer directory the same copy produced last time.
    pub previous: PathBuf,
    /// Destination (relative to the root, `/`-separated) → (input, source path relative to
    /// that input's root) of every file whose source is unchanged since then: the caller
    /// checked that its content hash is the one recorded for that destination.
    pub unchanged: HashMap<String, (u32, String)>,
}

/// One regular file a tracked copy wrote: from `source` (relative to input `input`'s root)
/// to `dest` (relative to the target root). Hardlinked paths are each listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedFile {
    pub input: u32,
    pub source: String,
    pub dest: String,
}

/// How the files of a tracked copy were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Files that share the previous layer's inode.
    pub linked: usize,
    /// Files written with their data.
    pub written: usize,
}

#[derive(Debug)]
struct Tracked {
    input: u32,
    source: String,
    /// The source on the host, to fill a placeholder from.
    source_path: PathBuf,
    /// Still a placeholder waiting for its link.
    deferred: bool,
}

/// Follows a copy's regular files, defers the unchanged ones and links them afterwards.
#[derive(Debug)]
pub struct CopyTracker {
    inputs: HashSet<u32>,
    plan: Option<CopyPlan>,
    previous: Option<OwnedFd>,
    files: BTreeMap<String, Tracked>,
    /// Inodes of the previous layer this layer already shares: each at most once, so no
    /// hardlink appears that a full copy would not make.
    used: HashSet<(u64, u64)>,
}

/// How `openat2` resolves every path here: below the directory, no symlinks at all.
/// Whether an action can be tracked: a copy that never unpacks an archive (an archive's files
/// do not come from a source path the plan could name).
pub(crate) fn trackable(action: &cairn_ir::FileAction) -> bool {
    matches!(action, cairn_ir::FileAction::Copy(c) if !c.unpack_archive)
}

fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

fn open_beneath(dir: impl AsFd, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    rustix::fs::openat2(
        dir,
        rel,
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        beneath(),
    )
    .map_err(io::Error::from)
}

fn no_xattrs_fd(fd: impl AsFd) -> bool {
    rustix::fs::flistxattr(fd, &mut [0u8; 0][..]).is_ok_and(|n| n == 0)
}

impl CopyTracker {
    /// Track copies from `inputs`; with a plan, defer the files it names.
    pub fn new(inputs: impl IntoIterator<Item = u32>, plan: Option<CopyPlan>) -> Result<Self> {
        let previous = match &plan {
            Some(p) => Some(
                rustix::fs::open(
                    &p.previous,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Error::io("open", p.previous.display().to_string(), e.into()))?,
            ),
            None => None,
        };
        Ok(CopyTracker {
            inputs: inputs.into_iter().collect(),
            plan,
            previous,
            files: BTreeMap::new(),
            used: HashSet::new(),
        })
    }

    pub(crate) fn tracks(&self, input: u32) -> bool {
        self.inputs.contains(&input)
    }

    /// The regular files the copy wrote from tracked inputs, by destination.
    pub fn copied(&self) -> impl Iterator<Item = CopiedFile> + '_ {
        self.files.iter().map(|(dest, t)| CopiedFile {
            input: t.input,
            source: t.source.clone(),
            dest: dest.clone(),
        })
    }

    /// How many files wait for a link (after [`CopyTracker::link_deferred`]: were linked).
    pub fn stats(&self) -> ReuseStats {
        let linked = self.files.values().filter(|t| t.deferred).count();
        ReuseStats {
            linked,
            written: self.files.len() - linked,
        }
    }

    /// A file from `input`'s `source` is about to be created at `dest`: true if it may be a
    /// placeholder (the plan names exactly this source for this destination).
    pub(crate) fn may_defer(&self, input: u32, source: &str, dest: &str, size: u64) -> bool {
        size > 0
            && self.previous.is_some()
            && self
                .plan
                .as_ref()
                .and_then(|p| p.unchanged.get(dest))
                .is_some_and(|(i, s)| *i == input && s == source)
    }

    /// Record a regular file written at `dest` (a placeholder if `deferred`).
    pub(crate) fn wrote(
        &mut self,
        input: u32,
        source: &str,
        source_path: &Path,
        dest: &str,
        deferred: bool,
    ) {
        self.files.insert(
            dest.to_string(),
            Tracked {
                input,
                source: source.to_string(),
                source_path: source_path.to_path_buf(),
                deferred,
            },
        );
    }

    /// `dest` is about to be removed or replaced by the copy.
    pub(crate) fn forget(&mut self, dest: &str) {
        self.files.remove(dest);
    }

    /// The placeholder at `dest` (host path `target`) has its final metadata: keep it for a
    /// link if the previous layer's file matches it, else fill it with its data now (through
    /// the same path the copy writes, then its times set again).
    pub(crate) fn confirm(&mut self, root: &Path, dest: &str, target: &Path) -> Result<()> {
        let Some(t) = self.files.get_mut(dest).filter(|t| t.deferred) else {
            return Ok(());
        };
        let show = || crate::resolve::show(root, target);
        let placeholder =
            std::fs::symlink_metadata(target).map_err(|e| Error::io("stat", show(), e))?;
        let source_size = std::fs::symlink_metadata(&t.source_path)
            .map(|m| m.len())
            .ok();
        let matches = self
            .previous
            .as_ref()
            .and_then(|prev| open_beneath(prev, dest, OFlags::RDONLY | OFlags::NONBLOCK).ok())
            .and_then(|fd| {
                let m = File::from(fd);
                let meta = m.metadata().ok()?;
                let same = meta.is_file()
                    && Some(meta.len()) == source_size
                    && meta.mode() == placeholder.mode()
                    && meta.uid() == placeholder.uid()
                    && meta.gid() == placeholder.gid()
                    && (meta.mtime(), meta.mtime_nsec())
                        == (placeholder.mtime(), placeholder.mtime_nsec())
                    && no_xattrs_fd(&m)
                    && rustix::fs::llistxattr(target, &mut [0u8; 0][..]).is_ok_and(|n| n == 0)
                    && !self.used.contains(&(meta.dev(), meta.ino()));
                same.then_some((meta.dev(), meta.ino()))
            });
        match matches {
            Some(inode) => {
                self.used.insert(inode);
                Ok(())
            }
            None => {
                t.deferred = false;
                let source = t.source_path.clone();
                fill(root, &source, target, &placeholder)
            }
        }
    }

    /// Fill the placeholder at `dest` with its data now (a hardlink to it is about to be made).
    pub(crate) fn materialize(&mut self, root: &Path, dest: &str, target: &Path) -> Result<()> {
        let Some(t) = self.files.get_mut(dest).filter(|t| t.deferred) else {
            return Ok(());
        };
        t.deferred = false;
        let source = t.source_path.clone();
        let placeholder = std::fs::symlink_metadata(target)
            .map_err(|e| Error::io("stat", crate::resolve::show(root, target), e))?;
        fill(root, &source, target, &placeholder)
    }

    /// After the overlay is gone: replace every placeholder in `upper` by a hard link to the
    /// previous layer's file, keeping the directories' times.
    pub fn link_deferred(&mut self, upper: &Path) -> Result<ReuseStats> {
        let stats = self.stats();
        let Some(prev) = self.previous.as_ref() else {
            return Ok(stats);
        };
        let upper_fd = rustix::fs::open(
            upper,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open", upper.display().to_string(), e.into()))?;
        let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (dest, _) in self.files.iter().filter(|(_, t)| t.deferred) {
            let (dir, name) = dest.rsplit_once('/').unwrap_or(("", dest.as_str()));
            by_dir.entry(dir).or_default().push(name);
        }
        let shown = |dir: &str, name: &str| {
            if dir.is_empty() {
                format!("/{name}")
            } else {
                format!("/{dir}/{name}")
            }
        };
        let mut fallback = 0usize;
        for (dir, names) in by_dir {
            let err = |op: &'static str, e: io::Error| Error::io(op, format!("/{dir}"), e);
            let up = open_beneath(&upper_fd, dir, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|e| err("open", e))?;
            let before = rustix::fs::fstat(&up).map_err(|e| err("stat", e.into()))?;
            let from = open_beneath(prev, dir, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| err("open", e))?;
            for name in names {
                let st = rustix::fs::statat(&up, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| Error::io("stat", shown(dir, name), e.into()))?;
                let is_file = rustix::fs::FileType::from_raw_mode(st.st_mode).is_file();
                if !is_file || st.st_size != 0 || st.st_nlink != 1 {
                    return Err(Error::io(
                        "link",
                        shown(dir, name),
                        io::Error::other("internal error: the placeholder changed after the copy"),
                    ));
                }
                let tmp = format!(".cairn-reuse-{}", std::process::id());
                match rustix::fs::linkat(&from, name, &up, &tmp, AtFlags::empty()) {
                    Ok(()) => rustix::fs::renameat(&up, &tmp, &up, name)
                        .map_err(|e| Error::io("rename", shown(dir, name), e.into()))?,
                    // Too many links to the previous file (or the temporary name is taken):
                    // the data is copied from it instead.
                    Err(_) => {
                        fallback += 1;
                        let src = open_beneath(&from, name, OFlags::RDONLY)
                            .map_err(|e| Error::io("open", shown(dir, name), e))?;
                        let dst = open_beneath(&up, name, OFlags::WRONLY)
                            .map_err(|e| Error::io("open", shown(dir, name), e))?;
                        let (mut src, mut dst) = (File::from(src), File::from(dst));
                        io::copy(&mut src, &mut dst)
                            .map_err(|e| Error::io("copy to", shown(dir, name), e))?;
                        let times = stat_times(&st);
                        rustix::fs::futimens(&dst, &times)
                            .map_err(|e| Error::io("set times of", shown(dir, name), e.into()))?;
                    }
                }
            }
            let times = stat_times(&before);
            rustix::fs::futimens(&up, &times).map_err(|e| err("set times of", e.into()))?;
        }
        Ok(ReuseStats {
            linked: stats.linked - fallback,
            written: stats.written + fallback,
        })
    }
}

/// The access and modification times of a `stat`, to set them back.
fn stat_times(st: &rustix::fs::Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// Write `source`'s data into the empty placeholder `target`, then give it back its times.
fn fill(root: &Path, source: &Path, target: &Path, placeholder: &Metadata) -> Result<()> {
    let show = || crate::resolve::show(root, target);
    let nofollow = OFlags::NOFOLLOW.bits() as i32;
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(source)
        .map_err(|e| Error::io("open", source.display().to_string(), e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .custom_flags(nofollow)
        .open(target)
        .map_err(|e| Error::io("open", show(), e))?;
    io::copy(&mut from, &mut to).map_err(|e| Error::io("copy to", show(), e))?;
    drop(to);
    // A write may clear setuid/setgid bits: the mode is set again with the times.
    crate::meta::chmod(root, target, placeholder.mode())?;
    crate::meta::set_times(
        root,
        target,
        (placeholder.atime(), placeholder.atime_nsec()),
        (placeholder.mtime(), placeholder.mtime_nsec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Source, apply_tracked, apply_with};
    use cairn_ir::{CopyAction, FileAction};
    use std::os::unix::fs::PermissionsExt;

    fn copy_all() -> Vec<FileAction> {
        vec![FileAction::Copy(CopyAction {
            source: 0,
            src: "/".into(),
            dest: "/dst/".into(),
            follow_symlinks: true,
            dir_contents_only: true,
            allow_wildcard: true,
            allow_empty_wildcard: false,
            create_dest_path: true,
            owner: None,
            mode: None,
            include: Vec::new(),
            exclude: Vec::new(),
            unpack_archive: false,
            parents: false,
        })]
    }

    /// Path, mode, owner, mtime and content of an entry.
    type Seen = (String, u32, u32, (i64, i64), Vec<u8>);

    /// Every entry below `root`.
    fn tree(root: &Path) -> Vec<Seen> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let data = if m.is_file() {
                    std::fs::read(&p).unwrap()
                } else {
                    Vec::new()
                };
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, m.mode(), m.uid(), (m.mtime(), m.mtime_nsec()), data));
                if m.is_dir() {
                    stack.push(p);
                }
            }
        }
        // The root's own times too: the copy sets them, the links must not move them.
        let m = std::fs::symlink_metadata(root.join("dst")).unwrap();
        out.push((
            "dst(self)".into(),
            m.mode(),
            m.uid(),
            (m.mtime(), m.mtime_nsec()),
            vec![],
        ));
        out.sort();
        out
    }

    fn ino(p: &Path) -> (u64, u64) {
        let m = std::fs::symlink_metadata(p).unwrap();
        (m.dev(), m.ino())
    }

    fn tracked_copy(
        src: &Path,
        root: &Path,
        plan: Option<CopyPlan>,
    ) -> (Vec<CopiedFile>, ReuseStats) {
        let sources = [Source::context(src)];
        let mut t = CopyTracker::new([0], plan).unwrap();
        apply_tracked(root, &sources, &copy_all(), &mut t).unwrap();
        let stats = t.link_deferred(root).unwrap();
        (t.copied().collect(), stats)
    }

    fn plan_from(previous: &Path, copied: &[CopiedFile], changed: &[&str]) -> CopyPlan {
        CopyPlan {
            previous: previous.to_path_buf(),
            unchanged: copied
                .iter()
                .filter(|c| !changed.contains(&c.source.as_str()))
                .map(|c| (c.dest.clone(), (c.input, c.source.clone())))
                .collect(),
        }
    }

    /// The second copy links what did not change, writes the rest, and comes out exactly as a
    /// full copy of the same source: every path, mode, owner, mtime (directories' too) and
    /// byte.
    #[test]
    fn unchanged_files_are_linked_and_the_result_is_a_full_copy() {
        let t = tempfile::tempdir().unwrap();
        let (src, prev, next, full) = (
            t.path().join("src"),
            t.path().join("prev"),
            t.path().join("next"),
            t.path().join("full"),
        );
        for d in [&src, &prev, &next, &full] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
        std::fs::write(src.join("a"), b"alpha").unwrap();
        std::fs::write(src.join("b"), b"bravo").unwrap();
        std::fs::write(src.join("sub/c"), b"charlie").unwrap();
        std::fs::write(src.join("sub/deeper/d"), b"delta").unwrap();
        std::fs::write(src.join("empty"), b"").unwrap();
        std::fs::write(src.join("mode"), b"mode").unwrap();
        std::fs::write(src.join("h1"), b"hard").unwrap();
        std::fs::hard_link(src.join("h1"), src.join("h2")).unwrap();
        let (copied, first) = tracked_copy(&src, &prev, None);
        assert_eq!(
            first,
            ReuseStats {
                linked: 0,
                written: 8
            }
        );
        assert!(
            copied
                .iter()
                .any(|c| c.source == "sub/deeper/d" && c.dest == "dst/sub/deeper/d")
        );

        // One file's content changes; one keeps its content but not its mode.
        std::fs::write(src.join("b"), b"BRAVO").unwrap();
        std::fs::set_permissions(src.join("mode"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let plan = plan_from(&prev, &copied, &["b"]);
        let (_, second) = tracked_copy(&src, &next, Some(plan));
        apply_with(&full, &[Source::context(&src)], &copy_all()).unwrap();

        assert_eq!(tree(&next), tree(&full), "a linked copy is a full copy");
        // a, sub/c, sub/deeper/d are the previous layer's inodes; the changed, the re-moded,
        // the empty and the hardlinked files are not.
        for f in ["a", "sub/c", "sub/deeper/d"] {
            assert_eq!(
                ino(&next.join("dst").join(f)),
                ino(&prev.join("dst").join(f)),
                "{f}"
            );
        }
        for f in ["b", "mode", "empty", "h1", "h2"] {
            assert_ne!(
                ino(&next.join("dst").join(f)),
                ino(&prev.join("dst").join(f)),
                "{f}"
            );
        }
        assert_eq!(
            ino(&next.join("dst/h1")),
            ino(&next.join("dst/h2")),
            "hardlinks stay linked"
        );
        assert_eq!(
            second,
            ReuseStats {
                linked: 3,
                written: 5
            }
        );
    }

    /// Two destinations whose previous files were one inode never become one inode here: a
    /// full copy of two separate files makes two files.
    #[test]
    fn a_previous_inode_is_shared_at_most_once() {
        let t = tempfile::tempdir().unwrap();
        let (src, prev, next) = (
            t.path().join("src"),
            t.path().join("prev"),
            t.path().join("next"),
        );
        for d in [&src, &prev, &next] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(src.join("x"), b"same").unwrap();
        std::fs::hard_link(src.join("x"), src.join("y")).unwrap();
        let (copied, _) = tracked_copy(&src, &prev, None);
        assert_eq!(ino(&prev.join("dst/x")), ino(&prev.join("dst/y")));
        // Now two separate files with the same content (and times).
        std::fs::remove_file(src.join("y")).unwrap();
        std::fs::copy(src.join("x"), src.join("y")).unwrap();
        let m = std::fs::metadata(src.join("x")).unwrap();
        let times = std::fs::FileTimes::new()
            .set_modified(m.modified().unwrap())
            .set_accessed(m.accessed().unwrap());
        std::fs::File::options()
            .write(true)
            .open(src.join("y"))
            .unwrap()
            .set_times(times)
            .unwrap();
        let (_, stats) = tracked_copy(&src, &next, Some(plan_from(&prev, &copied, &[])));
        assert_ne!(ino(&next.join("dst/x")), ino(&next.join("dst/y")));
        assert_eq!(std::fs::read(next.join("dst/y")).unwrap(), b"same");
        assert_eq!(
            stats,
            ReuseStats {
                linked: 1,
                written: 1
            }
        );
    }

    /// A plan naming another source for a destination (or a destination the previous layer
    /// does not have) is not trusted: the data is written.
    #[test]
    fn a_plan_that_does_not_fit_writes_the_data() {
        let t = tempfile::tempdir().unwrap();
        let (src, prev, next) = (
            t.path().join("src"),
            t.path().join("prev"),
            t.path().join("next"),
        );
        for d in [&src, &prev, &next] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(src.join("a"), b"alpha").unwrap();
        std::fs::write(src.join("b"), b"bravo").unwrap();
        tracked_copy(&src, &prev, None);
        std::fs::remove_file(prev.join("dst/b")).unwrap();
        let plan = CopyPlan {
            previous: prev.clone(),
            unchanged: [
                ("dst/a".to_string(), (0, "b".to_string())),
                ("dst/b".to_string(), (0, "b".to_string())),
            ]
            .into_iter()
            .collect(),
        };
        let (_, stats) = tracked_copy(&src, &next, Some(plan));
        assert_eq!(
            stats,
            ReuseStats {
                linked: 0,
                written: 2
            }
        );
        assert_eq!(std::fs::read(next.join("dst/a")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(next.join("dst/b")).unwrap(), b"bravo");
    }
}

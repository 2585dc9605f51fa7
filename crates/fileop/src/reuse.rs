//! Building a copy's layer from the previous result of the same copy (issue 14).
//!
//! Why: a one-line change in a big context made `COPY . /src` write every file again — the
//! data, then a `syncfs` of it all when the layer is committed. A file whose content and
//! metadata are what the previous result of the same copy (same op, same inputs) holds needs
//! none of that: the new layer can share the previous layer's inode, since layers are
//! immutable. What comes out must be exactly what a full copy makes, byte for byte in an
//! exported tar, so:
//!
//! 1. While the copy runs in the rootfs overlay, a file the caller vouches is unchanged
//!    ([`CopyPlan::unchanged`]: same source path and content hash as last time, same
//!    destination) is *not created at all* if the previous layer's file at its destination
//!    has exactly the metadata the copy would give it (type, size, mode, owner, mtime, no
//!    xattrs on either side), its source is not multiply linked, nothing stood at the
//!    destination, its directory is already in the upper layer, and that inode is not yet
//!    shared by this layer (a full copy of two files makes two inodes). Anything else is
//!    copied as usual.
//! 2. After the overlay is unmounted ([`CopyTracker::link_deferred`]), each deferred file is
//!    a hard link in the upper directory to the previous layer's file, and every directory
//!    touched gets its times back.
//!
//! Nothing is created and deleted on the way: an earlier design left empty placeholders and
//! renamed links over them, and ext4's inode allocator, which skips recently deleted inodes
//! by reading their inode table blocks, made every later create in the file system slow
//! (a 100,000-file copy took a minute). A destination written again later in the copy (two
//! sources, one destination; a directory where a file was deferred) is forgotten first
//! ([`CopyTracker::forget`]). Only copies from the sources the caller names are tracked;
//! whether a copy may be tracked at all (only COPY actions, no archives) is checked by
//! `apply_tracked`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

use crate::error::{Error, Result};

/// What the previous result of the same copy offers.
#[derive(Debug, Clone, Default)]
pub struct CopyPlan {
    /// The layer directory the same copy produced last time.
    pub previous: PathBuf,
    /// The upper directory of the overlay the copy writes through (the new layer): a deferred
    /// file's directory must already be there.
    pub upper: PathBuf,
    /// Destination (relative to the root, `/`-separated) → (input, source path relative to
    /// that input's root) of every file whose source is unchanged since then: the caller
    /// checked that its content hash is the one recorded for that destination.
    pub unchanged: HashMap<String, (u32, String)>,
}

/// One regular file a tracked copy wrote: from `source` (relative to input `input`'s root)
/// to `dest` (relative to the target root). Hardlinked paths are each listed. The same type
/// is the job's plan and report entry (`cairn_sandbox::CopyReport`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// The owner and permission bits a copied entry gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TargetMeta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[derive(Debug)]
struct Tracked {
    input: u32,
    source: String,
    /// Not created: a link to the previous layer's file is made after the copy.
    deferred: bool,
}

/// Follows a copy's regular files, defers the unchanged ones and links them afterwards.
#[derive(Debug)]
pub struct CopyTracker {
    inputs: HashSet<u32>,
    plan: Option<CopyPlan>,
    previous: Option<OwnedFd>,
    upper: Option<OwnedFd>,
    files: BTreeMap<String, Tracked>,
    /// Inodes of the previous layer this layer already shares: each at most once, so no
    /// hardlink appears that a full copy would not make.
    used: HashSet<(u64, u64)>,
    /// The last directory found in the upper layer, and the same directory of the previous
    /// layer (opened beneath it, no symlinks): a copy visits a directory's files one after
    /// another, so each is looked up once, not once a file.
    upper_dir: Option<String>,
    previous_dir: Option<(String, Option<OwnedFd>)>,
}

/// Whether an action can be tracked: a copy that never unpacks an archive (an archive's files
/// do not come from a source path the plan could name).
pub(crate) fn trackable(action: &cairn_ir::FileAction) -> bool {
    matches!(action, cairn_ir::FileAction::Copy(c) if !c.unpack_archive)
}

/// How `openat2` resolves every path here: below the directory, no symlinks at all.
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

fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", path.display().to_string(), e.into()))
}

fn no_xattrs_fd(fd: impl AsFd) -> bool {
    rustix::fs::flistxattr(fd, &mut [0u8; 0][..]).is_ok_and(|n| n == 0)
}

fn split(dest: &str) -> (&str, &str) {
    dest.rsplit_once('/').unwrap_or(("", dest))
}

impl CopyTracker {
    /// Track copies from `inputs`; with a plan, defer the files it names.
    pub fn new(inputs: impl IntoIterator<Item = u32>, plan: Option<CopyPlan>) -> Result<Self> {
        let (previous, upper) = match &plan {
            Some(p) => (Some(open_dir(&p.previous)?), Some(open_dir(&p.upper)?)),
            None => (None, None),
        };
        Ok(CopyTracker {
            inputs: inputs.into_iter().collect(),
            plan,
            previous,
            upper,
            files: BTreeMap::new(),
            used: HashSet::new(),
            upper_dir: None,
            previous_dir: None,
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

    /// How many files are deferred (after [`CopyTracker::link_deferred`]: linked) and how
    /// many were written.
    pub fn stats(&self) -> ReuseStats {
        let linked = self.files.values().filter(|t| t.deferred).count();
        ReuseStats {
            linked,
            written: self.files.len() - linked,
        }
    }

    /// The regular file `source` of `input` (`fi`, not followed; on the host at
    /// `source_path`) is to be copied to the empty destination `dest` with `meta`: true if
    /// it is deferred (the previous layer's file will be linked there), false if the caller
    /// copies it.
    pub(crate) fn defer(
        &mut self,
        input: u32,
        source: &str,
        source_path: &Path,
        dest: &str,
        fi: &Metadata,
        meta: TargetMeta,
    ) -> bool {
        let (Some(plan), Some(prev), Some(upper)) = (&self.plan, &self.previous, &self.upper)
        else {
            return false;
        };
        let planned = plan
            .unchanged
            .get(dest)
            .is_some_and(|(i, s)| *i == input && s == source);
        if !planned || fi.nlink() != 1 || fi.len() == 0 {
            return false;
        }
        let source_plain =
            rustix::fs::llistxattr(source_path, &mut [0u8; 0][..]).is_ok_and(|n| n == 0);
        if !source_plain {
            return false;
        }
        let (dir, name) = split(dest);
        if self.upper_dir.as_deref() != Some(dir) {
            // Directories are never removed during a copy: once there, it stays.
            if open_beneath(upper, dir, OFlags::PATH | OFlags::DIRECTORY).is_err() {
                return false;
            }
            self.upper_dir = Some(dir.to_string());
        }
        if self.previous_dir.as_ref().is_none_or(|(d, _)| d != dir) {
            let fd = open_beneath(prev, dir, OFlags::PATH | OFlags::DIRECTORY).ok();
            self.previous_dir = Some((dir.to_string(), fd));
        }
        let Some((_, Some(prev_dir))) = &self.previous_dir else {
            return false;
        };
        // One component, not followed: as safe as resolving the whole path beneath the layer.
        let Ok(file) = rustix::fs::openat(
            prev_dir,
            name,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        let file = File::from(file);
        let Ok(m) = file.metadata() else {
            return false;
        };
        let inode = (m.dev(), m.ino());
        let same = m.is_file()
            && m.len() == fi.len()
            && m.mode() & 0o7777 == meta.mode
            && (m.uid(), m.gid()) == (meta.uid, meta.gid)
            && (m.mtime(), m.mtime_nsec()) == (fi.mtime(), fi.mtime_nsec())
            && no_xattrs_fd(&file)
            && !self.used.contains(&inode);
        if same {
            self.used.insert(inode);
            self.record(input, source, dest, true);
        }
        same
    }

    /// Record a regular file the copy wrote at `dest`.
    pub(crate) fn record(&mut self, input: u32, source: &str, dest: &str, deferred: bool) {
        self.files.insert(
            dest.to_string(),
            Tracked {
                input,
                source: source.to_string(),
                deferred,
            },
        );
    }

    /// Something is about to be written at `dest`: whatever was recorded there is not the
    /// result any more.
    pub(crate) fn forget(&mut self, dest: &str) {
        self.files.remove(dest);
    }

    /// After the overlay is gone: link every deferred file into `upper` from the previous
    /// layer, keeping the directories' times.
    pub fn link_deferred(&mut self, upper: &Path) -> Result<ReuseStats> {
        let stats = self.stats();
        let Some(prev) = self.previous.as_ref() else {
            return Ok(stats);
        };
        let upper_fd = open_dir(upper)?;
        let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (dest, _) in self.files.iter().filter(|(_, t)| t.deferred) {
            let (dir, name) = split(dest);
            by_dir.entry(dir).or_default().push(name);
        }
        let shown = |dir: &str, name: &str| {
            if dir.is_empty() {
                format!("/{name}")
            } else {
                format!("/{dir}/{name}")
            }
        };
        let mut copied = 0usize;
        for (dir, names) in by_dir {
            let err = |op: &'static str, e: io::Error| Error::io(op, format!("/{dir}"), e);
            let up = open_beneath(&upper_fd, dir, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|e| err("open", e))?;
            let before = rustix::fs::fstat(&up).map_err(|e| err("stat", e.into()))?;
            let from = open_beneath(prev, dir, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| err("open", e))?;
            for name in names {
                match rustix::fs::linkat(&from, name, &up, name, AtFlags::empty()) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::EXIST) => {
                        return Err(Error::Internal(format!(
                            "{} was written after its copy was deferred",
                            shown(dir, name)
                        )));
                    }
                    // Too many links to the previous file, say: the data is copied from it.
                    Err(_) => {
                        copied += 1;
                        copy_out(&from, &up, name)
                            .map_err(|e| Error::io("copy to", shown(dir, name), e))?;
                    }
                }
            }
            rustix::fs::futimens(&up, &stat_times(&before))
                .map_err(|e| err("set times of", e.into()))?;
        }
        Ok(ReuseStats {
            linked: stats.linked - copied,
            written: stats.written + copied,
        })
    }
}

/// A new file `name` in `to` with the data, owner, mode and times of `name` in `from`.
fn copy_out(from: impl AsFd, to: impl AsFd, name: &str) -> io::Result<()> {
    let src = File::from(rustix::fs::openat(
        from,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    let st = rustix::fs::fstat(&src)?;
    let dst = File::from(rustix::fs::openat(
        to,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?);
    io::copy(&mut &src, &mut &dst)?;
    rustix::fs::fchown(
        &dst,
        Some(rustix::fs::Uid::from_raw(st.st_uid)),
        Some(rustix::fs::Gid::from_raw(st.st_gid)),
    )?;
    rustix::fs::fchmod(&dst, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    rustix::fs::futimens(&dst, &stat_times(&st))?;
    Ok(())
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
        // No overlay here: the root is its own upper directory.
        let plan = plan.map(|p| CopyPlan {
            upper: root.to_path_buf(),
            ..p
        });
        let mut t = CopyTracker::new([0], plan).unwrap();
        apply_tracked(root, &sources, &copy_all(), &mut t).unwrap();
        let stats = t.link_deferred(root).unwrap();
        (t.copied().collect(), stats)
    }

    /// `src`, `prev` and `next` below `at`, created.
    fn three_dirs(at: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let dirs = (at.join("src"), at.join("prev"), at.join("next"));
        for d in [&dirs.0, &dirs.1, &dirs.2] {
            std::fs::create_dir_all(d).unwrap();
        }
        dirs
    }

    fn plan_from(previous: &Path, copied: &[CopiedFile], changed: &[&str]) -> CopyPlan {
        CopyPlan {
            previous: previous.to_path_buf(),
            upper: PathBuf::new(),
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
        let (src, prev, next) = three_dirs(t.path());
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
        let (src, prev, next) = three_dirs(t.path());
        std::fs::write(src.join("a"), b"alpha").unwrap();
        std::fs::write(src.join("b"), b"bravo").unwrap();
        tracked_copy(&src, &prev, None);
        std::fs::remove_file(prev.join("dst/b")).unwrap();
        let plan = CopyPlan {
            previous: prev.clone(),
            upper: next.clone(),
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

    fn copy_one(src: &str, dest: &str) -> FileAction {
        match copy_all().remove(0) {
            FileAction::Copy(c) => FileAction::Copy(CopyAction {
                src: src.into(),
                dest: dest.into(),
                ..c
            }),
            other => other,
        }
    }

    /// A destination deferred by one copy and written by a later one holds the later one's
    /// file, and nothing is linked over it.
    #[test]
    fn a_deferred_destination_written_again_is_the_later_file() {
        let t = tempfile::tempdir().unwrap();
        let (src, prev, next) = three_dirs(t.path());
        std::fs::write(src.join("a"), b"alpha").unwrap();
        std::fs::write(src.join("b"), b"bravo!").unwrap();
        let sources = [Source::context(&src)];
        apply_with(&prev, &sources, &[copy_one("/a", "/dst/x")]).unwrap();
        let plan = CopyPlan {
            previous: prev.clone(),
            upper: next.clone(),
            unchanged: [("dst/x".to_string(), (0, "a".to_string()))]
                .into_iter()
                .collect(),
        };
        let mut tracker = CopyTracker::new([0], Some(plan)).unwrap();
        let actions = [copy_one("/a", "/dst/x"), copy_one("/b", "/dst/x")];
        apply_tracked(&next, &sources, &actions, &mut tracker).unwrap();
        let stats = tracker.link_deferred(&next).unwrap();
        assert_eq!(std::fs::read(next.join("dst/x")).unwrap(), b"bravo!");
        assert_eq!(
            stats,
            ReuseStats {
                linked: 0,
                written: 1
            }
        );
        let copied: Vec<CopiedFile> = tracker.copied().collect();
        assert_eq!(copied.len(), 1);
        assert_eq!(copied[0].source, "b");
    }

    /// A previous layer whose path to a planned file goes through a symlink (here to a host
    /// directory holding a file of the same content and times) is never followed: the file is
    /// written, nothing outside the layer is linked in.
    #[test]
    fn a_symlink_in_the_previous_layer_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let (src, prev, next) = three_dirs(t.path());
        let outside = t.path().join("outside");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), b"secret").unwrap();
        let (copied, _) = tracked_copy(&src, &prev, None);
        // The previous layer's `dst/sub` becomes a link to a look-alike outside it.
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::rename(prev.join("dst/sub"), outside.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("sub"), prev.join("dst/sub")).unwrap();
        let (_, stats) = tracked_copy(&src, &next, Some(plan_from(&prev, &copied, &[])));
        assert_eq!(
            stats,
            ReuseStats {
                linked: 0,
                written: 1
            }
        );
        assert_ne!(ino(&next.join("dst/sub/f")), ino(&outside.join("sub/f")));
        assert_eq!(std::fs::read(next.join("dst/sub/f")).unwrap(), b"secret");
    }
}

//! COPY and ADD (local sources): fsutil's `copy.Copy` semantics on confined paths.
//!
//! Why this shape: `docker build` behaviour is defined by BuildKit's file op backend and
//! fsutil's copier, including their quirks, and cache keys/layers must come out identical. So:
//! - the destination (or its parent, when it does not end in `/`) is created first, 0755,
//!   owned by the `--chown` user; then it is resolved in the root (following symlinks there);
//! - a directory source copies its *contents* (`dir_contents_only`); a file source lands inside
//!   an existing directory destination, otherwise it becomes the destination;
//! - metadata (owner — source's, 0:0 for the context, or `--chown` —, `--chmod` mode, atime and
//!   mtime, xattrs) is applied to every copied entry, except that a destination directory that
//!   already existed keeps its owner and mode and only takes the source's times;
//! - symlinks inside a copied tree are copied as links, hardlinked files stay hardlinked;
//! - `include`/`exclude` patterns (patternmatcher syntax) match paths *relative to the copied
//!   source*; a directory that is not included is only created when something below it is
//!   (`--parents` is a copy of the source root restricted by the source path as an include
//!   pattern, so the named file's parents come along).

use std::collections::HashMap;
use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

use cairn_context::{IgnoreMatcher, MatchInfo, PatternError};
use cairn_ir::CopyAction;
use rustix::fs::{CWD, FileType, Mode, OFlags};

use crate::error::{Error, Result, is_not_found};
use crate::meta;
use crate::mode::ModeSpec;
use crate::owner::{self, Ids};
use crate::pattern::{self, has_wildcards, matches, sorted_entries};
use crate::resolve::{clean_abs, resolve_in_root, show};
use crate::reuse::TargetMeta;
use crate::{CopyTracker, Source, SourceOwnership, archive};

/// Whose ownership copied entries get.
#[derive(Debug, Clone, Copy)]
enum OwnerPolicy {
    Keep,
    Root,
    Set(Ids),
}

pub(crate) fn copy(
    root: &Path,
    sources: &[Source],
    a: &CopyAction,
    tracker: Option<&mut CopyTracker>,
) -> Result<()> {
    let input = a.source;
    let source = sources.get(input as usize).ok_or(Error::MissingInput {
        input,
        available: sources.len(),
    })?;
    let src_root = source.path.as_path();
    let owner = a
        .owner
        .as_ref()
        .map(|o| owner::resolve(root, o))
        .transpose()?;
    let mode = a.mode.as_deref().map(ModeSpec::parse).transpose()?;

    let mut includes = a.include.clone();
    let mut src = a.src.clone();
    // `--parents` with a wildcard before the pivot (`/a/b*/./c`): each directory it matches
    // is a pivot of its own, as in BuildKit (testCopyRelativeParents).
    let mut pivots = None;
    if a.parents {
        // `--parents`: copy from the pivot (`a/./b` → `a`, else the source root), keeping the
        // path below it by using it as an include pattern.
        let (base, rel) = match src.split_once("/./") {
            Some((b, p)) => (clean_abs(b), clean_abs(p)),
            None => ("/".to_string(), clean_abs(&src)),
        };
        let rel = rel.trim_start_matches('/').to_string();
        if has_wildcards(&base) {
            let found =
                pattern::resolve_wildcards(src_root, &base, a.follow_symlinks)?.unwrap_or_default();
            pivots = Some(found);
        } else if !rel.is_empty() && !has_wildcards(&rel) {
            let host = resolve_in_root(src_root, format!("{base}/{rel}"), false)?;
            if let Err(e) = fs::symlink_metadata(&host) {
                return Err(not_found_or_io(e, input, &rel, src_root, &host));
            }
        }
        if !rel.is_empty() {
            includes.push(rel);
        }
        src = base;
    }

    let policy = match (owner, source.ownership) {
        (Some(ids), _) => OwnerPolicy::Set(ids),
        (None, SourceOwnership::Root) => OwnerPolicy::Root,
        (None, SourceOwnership::Preserve) => OwnerPolicy::Keep,
    };
    let mut copier = Copier {
        root,
        src_root,
        input,
        tracker,
        policy,
        dir_owner: owner,
        mode,
        include: matcher("include", &includes)?,
        exclude: matcher("exclude", &a.exclude)?,
        ignore: matcher("ignore", &source.ignore)?,
        inodes: HashMap::new(),
        pending: Vec::new(),
        sockets_as_files: source.ownership == SourceOwnership::Root,
    };

    if !a.create_dest_path {
        let dest = resolve_in_root(root, &a.dest, true)?;
        if let Some(parent) = dest.parent().filter(|_| dest != root) {
            fs::symlink_metadata(parent).map_err(|e| Error::io("stat", a.dest.clone(), e))?;
        }
    }

    let matches = if let Some(pivots) = pivots {
        pivots
    } else if a.allow_wildcard && !a.parents && has_wildcards(&src) {
        match pattern::resolve_wildcards(src_root, &src, a.follow_symlinks)? {
            Some(m) => m,
            None => {
                let (base, _) = pattern::split_wildcards(&src);
                return Err(Error::SourceNotFound {
                    input,
                    path: base.trim_start_matches('/').to_string(),
                });
            }
        }
    } else {
        vec![src.clone()]
    };
    if matches.is_empty() {
        if a.allow_empty_wildcard {
            return Ok(());
        }
        return Err(Error::NoSourceFiles {
            input,
            pattern: src.trim_start_matches('/').to_string(),
        });
    }

    let multi = matches.len() > 1;
    for m in &matches {
        if copier.ignored(m.trim_start_matches('/'))? {
            continue;
        }
        if a.unpack_archive && archive::unpack_if_archive(root, src_root, m, &a.dest, owner)? {
            continue;
        }
        copier.copy_one(
            input,
            m,
            &a.dest,
            a.follow_symlinks,
            a.dir_contents_only,
            multi,
        )?;
    }
    Ok(())
}

fn matcher(kind: &'static str, patterns: &[String]) -> Result<Option<IgnoreMatcher>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    IgnoreMatcher::new(patterns)
        .map(Some)
        .map_err(|e| pattern_error(kind, patterns, e))
}

fn pattern_error(kind: &'static str, patterns: &[String], e: PatternError) -> Error {
    Error::InvalidPattern {
        kind,
        pattern: match &e {
            PatternError::BadPattern { pattern } => pattern.clone(),
            _ => patterns.join(","),
        },
        reason: e.to_string(),
    }
}

fn not_found_or_io(e: io::Error, input: u32, shown: &str, src_root: &Path, host: &Path) -> Error {
    if is_not_found(&e) {
        Error::SourceNotFound {
            input,
            path: shown.trim_start_matches('/').to_string(),
        }
    } else {
        Error::io("lstat", show(src_root, host), e)
    }
}

/// `path` relative to `root`, `/`-separated, as UTF-8 (what a tracker names files by); `None`
/// for a path that is not valid UTF-8, which is then simply not tracked.
fn rel_of(root: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(root).ok()?.to_str().map(str::to_string)
}

/// The in-root parent of `p` (`/a/b` → `/a`, `/a` → `/`).
fn parent_of(p: &str) -> String {
    let clean = clean_abs(p);
    match clean.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((parent, _)) => parent.to_string(),
    }
}

/// A directory walked into but not created yet (it did not match the include patterns).
struct Pending {
    dst: PathBuf,
    done: bool,
    created: bool,
    /// Created by this visit of the directory: nothing stands in it but what the visit put
    /// there, one entry per source name, so its entries need no check for what was there.
    fresh: bool,
}

struct Copier<'a> {
    root: &'a Path,
    src_root: &'a Path,
    input: u32,
    /// Follows the regular files copied (see `reuse.rs`), when the caller asked: those of a
    /// tracked input are recorded, and any file the copy removes is forgotten.
    tracker: Option<&'a mut CopyTracker>,
    policy: OwnerPolicy,
    /// Owner of directories created to hold the destination (`--chown`, else root).
    dir_owner: Option<Ids>,
    mode: Option<ModeSpec>,
    include: Option<IgnoreMatcher>,
    exclude: Option<IgnoreMatcher>,
    /// The source's own `.dockerignore` (paths relative to the source root).
    ignore: Option<IgnoreMatcher>,
    /// Source (dev, inode) of multiply-linked files → where the first copy went.
    inodes: HashMap<(u64, u64), PathBuf>,
    pending: Vec<Pending>,
    /// The build context: a socket in it arrives as an empty regular file, as docker's
    /// context transfer sends it (BuildKit's testCopySocket).
    sockets_as_files: bool,
}

impl Copier<'_> {
    /// Whether the source's `.dockerignore` hides `rel` (relative to the source root).
    fn ignored(&self, rel: &str) -> Result<bool> {
        match &self.ignore {
            Some(m) if !rel.is_empty() => {
                m.matches(rel).map_err(|e| pattern_error("ignore", &[], e))
            }
            _ => Ok(false),
        }
    }

    fn copy_one(
        &mut self,
        input: u32,
        m: &str,
        dest: &str,
        follow: bool,
        contents: bool,
        multi: bool,
    ) -> Result<()> {
        let root = self.root;
        let dir_syntax =
            dest.is_empty() || dest == "." || dest.ends_with('/') || dest.ends_with("/.");
        let ensure = if dir_syntax {
            dest.to_string()
        } else {
            parent_of(dest)
        };
        meta::mkdir_all(root, &ensure, 0o755, self.dir_owner)?;
        let dst = resolve_in_root(root, dest, true)?;

        let src = resolve_in_root(self.src_root, m, follow)?;
        let fi = fs::symlink_metadata(&src)
            .map_err(|e| not_found_or_io(e, input, m, self.src_root, &src))?;
        let dest_meta = match fs::symlink_metadata(&dst) {
            Ok(md) => Some(md),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(Error::io("stat", show(root, &dst), e)),
        };
        let dest_is_dir = dest_meta.as_ref().is_some_and(Metadata::is_dir);
        if multi && !fi.is_dir() && !dir_syntax && !dest_is_dir {
            return Err(Error::DestNotDirectory {
                dest: dest.to_string(),
            });
        }

        let mut target = dst;
        let into_dest =
            (!contents && fi.is_dir() && dest_meta.is_some()) || (!fi.is_dir() && dest_is_dir);
        if into_dest && let Some(name) = Path::new(m).file_name() {
            target.push(name);
        }
        let holder = if contents && fi.is_dir() && dest_meta.is_none() {
            target.clone()
        } else {
            match target.parent() {
                Some(p) if target.as_path() != root => p.to_path_buf(),
                _ => root.to_path_buf(),
            }
        };
        meta::mkdir_all_host(root, &holder, 0o755, self.dir_owner)?;
        let none = MatchInfo::default();
        self.copy_entry(&src, "", &target, false, &none, &none)
    }

    /// Copy `src` (`comps` = its path relative to the copied source, empty for the source
    /// itself) to `target`. `overwrite` is false only for the top-level entry.
    fn copy_entry(
        &mut self,
        src: &Path,
        comps: &str,
        target: &Path,
        overwrite: bool,
        parent_inc: &MatchInfo,
        parent_exc: &MatchInfo,
    ) -> Result<()> {
        let fi = fs::symlink_metadata(src)
            .map_err(|e| Error::io("lstat", show(self.src_root, src), e))?;
        let hidden = match src.strip_prefix(self.src_root) {
            Ok(rel) if !comps.is_empty() => self.ignored(&rel.to_string_lossy())?,
            _ => false,
        };
        if hidden
            && !(fi.is_dir()
                && self
                    .ignore
                    .as_ref()
                    .is_some_and(IgnoreMatcher::has_exclusions))
        {
            return Ok(());
        }
        let mut inc_info = MatchInfo::default();
        let mut exc_info = MatchInfo::default();
        let mut include = true;
        if !comps.is_empty() {
            let mut inc_hit = true;
            if let Some(m) = &self.include {
                let (hit, info) = m
                    .matches_using_parent(comps, parent_inc)
                    .map_err(|e| pattern_error("include", &[], e))?;
                inc_hit = hit;
                inc_info = info;
            }
            let mut exc_hit = false;
            if let Some(m) = &self.exclude {
                let (hit, info) = m
                    .matches_using_parent(comps, parent_exc)
                    .map_err(|e| pattern_error("exclude", &[], e))?;
                exc_hit = hit;
                exc_info = info;
            }
            include = inc_hit && !exc_hit && !hidden;
            if !include {
                // Walk into a directory that is not copied itself only if something below it
                // can still be: a `!` re-inclusion, or an include pattern reaching deeper.
                let rescued = |m: &Option<IgnoreMatcher>| {
                    m.as_ref().is_some_and(IgnoreMatcher::has_exclusions)
                };
                if !fi.is_dir()
                    || (exc_hit && !rescued(&self.exclude))
                    || (!inc_hit && !self.may_include_below(comps))
                {
                    return Ok(());
                }
            }
        }
        if include {
            self.create_pending()?;
        }

        let ft = fi.file_type();
        if ft.is_dir() {
            let created = self.copy_directory(src, comps, target, include, &inc_info, &exc_info)?;
            if created || (overwrite && include) {
                self.apply_info(&fi, src, target)?;
            } else if !overwrite {
                self.set_times(&fi, target)?;
            }
            return Ok(());
        }

        // In a directory this visit created, nothing can stand at the target: no lookup (a
        // miss through the overlay is the dearest lookup there is, once per copied file).
        let fresh = overwrite && self.pending.last().is_some_and(|p| p.fresh);
        let existed = if fresh {
            self.forget(target);
            false
        } else {
            self.ensure_empty_file_target(target)?
        };
        let shown = || show(self.root, target);
        if ft.is_file() {
            if !existed && self.defer(src, target, &fi) {
                return Ok(());
            }
            self.copy_file(src, target, &fi)?;
        } else if ft.is_socket() && self.sockets_as_files {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(OFlags::NOFOLLOW.bits() as i32)
                .mode(fi.mode() & 0o7777)
                .open(target)
                .map_err(|e| Error::io("create", shown(), e))?;
        } else if ft.is_symlink() {
            let link = fs::read_link(src)
                .map_err(|e| Error::io("readlink", show(self.src_root, src), e))?;
            symlink(&link, target).map_err(|e| Error::io("symlink", shown(), e))?;
        } else {
            let kind = if ft.is_char_device() {
                FileType::CharacterDevice
            } else if ft.is_block_device() {
                FileType::BlockDevice
            } else if ft.is_fifo() {
                FileType::Fifo
            } else {
                FileType::Socket
            };
            rustix::fs::mknodat(
                CWD,
                target,
                kind,
                Mode::from_raw_mode(fi.mode() & 0o7777),
                fi.rdev(),
            )
            .map_err(|e| Error::io("mknod", shown(), e.into()))?;
        }
        self.apply_info(&fi, src, target)
    }

    /// With a tracker whose plan names this file: leave it to be linked after the copy
    /// (see `reuse.rs`) instead of writing it; true if so.
    fn defer(&mut self, src: &Path, target: &Path, fi: &Metadata) -> bool {
        let meta = self.target_meta(fi);
        let (input, src_root, root) = (self.input, self.src_root, self.root);
        match self.tracker.as_deref_mut() {
            Some(t) if t.tracks(input) => match (rel_of(src_root, src), rel_of(root, target)) {
                (Some(source), Some(dest)) => t.defer(input, &source, src, &dest, fi, meta),
                _ => false,
            },
            _ => false,
        }
    }

    /// The owner and permission bits a copied entry gets.
    fn target_meta(&self, fi: &Metadata) -> TargetMeta {
        let ids = match self.policy {
            OwnerPolicy::Set(ids) => ids,
            OwnerPolicy::Root => Ids { uid: 0, gid: 0 },
            OwnerPolicy::Keep => Ids {
                uid: fi.uid(),
                gid: fi.gid(),
            },
        };
        let mode = match &self.mode {
            Some(spec) => spec.apply(fi.mode(), fi.is_dir()),
            None => fi.mode() & 0o7777,
        };
        TargetMeta {
            uid: ids.uid,
            gid: ids.gid,
            mode: mode & 0o7777,
        }
    }

    /// Copy a directory's entries; returns whether `dst` was created by this copy.
    fn copy_directory(
        &mut self,
        src: &Path,
        comps: &str,
        dst: &Path,
        include: bool,
        inc_info: &MatchInfo,
        exc_info: &MatchInfo,
    ) -> Result<bool> {
        let mut created = false;
        if include {
            self.forget(dst);
            created = Self::copy_directory_only(self.root, dst)?;
        }
        self.pending.push(Pending {
            dst: dst.to_path_buf(),
            done: include,
            created: false,
            fresh: created,
        });
        for name in sorted_entries(self.src_root, src)? {
            let child = name.to_string_lossy();
            let child_comps = if comps.is_empty() {
                child.into_owned()
            } else {
                format!("{comps}/{child}")
            };
            self.copy_entry(
                &src.join(&name),
                &child_comps,
                &dst.join(&name),
                true,
                inc_info,
                exc_info,
            )?;
        }
        let lazily = self.pending.pop().is_some_and(|p| p.created);
        Ok(created || lazily)
    }

    /// Make `dst` a directory if it is not one; true when it was created.
    fn copy_directory_only(root: &Path, dst: &Path) -> Result<bool> {
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => Ok(false),
            Ok(_) => Err(Error::NotADirectory {
                path: show(root, dst),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(dst).map_err(|e| Error::io("mkdir", show(root, dst), e))?;
                // Owner and mode are applied once the contents are in place; until then the
                // directory stays writable even if the source's is not.
                Ok(true)
            }
            Err(e) => Err(Error::io("lstat", show(root, dst), e)),
        }
    }

    /// Create the not-yet-created directories being walked, outermost first, now that
    /// something inside them is copied.
    fn create_pending(&mut self) -> Result<()> {
        if let Some(t) = self.tracker.as_deref_mut() {
            for p in self.pending.iter().filter(|p| !p.done) {
                if let Some(dest) = rel_of(self.root, &p.dst) {
                    t.forget(&dest);
                }
            }
        }
        for p in self.pending.iter_mut().filter(|p| !p.done) {
            p.created = Self::copy_directory_only(self.root, &p.dst)?;
            p.fresh = p.created;
            p.done = true;
        }
        Ok(())
    }

    /// A tracked destination about to be written is forgotten: what is written now is the
    /// result.
    fn forget(&mut self, target: &Path) {
        if let (Some(t), Some(dest)) = (self.tracker.as_deref_mut(), rel_of(self.root, target)) {
            t.forget(&dest);
        }
    }

    /// Make way for a non-directory at `target`; true if something stood there.
    fn ensure_empty_file_target(&mut self, target: &Path) -> Result<bool> {
        self.forget(target);
        match fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() => Err(Error::IsADirectory {
                path: show(self.root, target),
            }),
            Ok(_) => fs::remove_file(target)
                .map(|()| true)
                .map_err(|e| Error::io("remove", show(self.root, target), e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("lstat", show(self.root, target), e)),
        }
    }

    fn copy_file(&mut self, src: &Path, target: &Path, fi: &Metadata) -> Result<()> {
        let key = (fi.dev(), fi.ino());
        if fi.nlink() > 1
            && let Some(first) = self.inodes.get(&key)
        {
            fs::hard_link(first, target)
                .map_err(|e| Error::io("link", show(self.root, target), e))?;
        } else {
            let nofollow = OFlags::NOFOLLOW.bits() as i32;
            let mut from = OpenOptions::new()
                .read(true)
                .custom_flags(nofollow)
                .open(src)
                .map_err(|e| Error::io("open", show(self.src_root, src), e))?;
            let mut to = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nofollow)
                .open(target)
                .map_err(|e| Error::io("create", show(self.root, target), e))?;
            io::copy(&mut from, &mut to)
                .map_err(|e| Error::io("copy to", show(self.root, target), e))?;
            if fi.nlink() > 1 {
                self.inodes.insert(key, target.to_path_buf());
            }
        }
        let (input, src_root, root) = (self.input, self.src_root, self.root);
        if let Some(t) = self.tracker.as_deref_mut()
            && t.tracks(input)
            && let (Some(source), Some(dest)) = (rel_of(src_root, src), rel_of(root, target))
        {
            t.record(input, &source, &dest, false);
        }
        Ok(())
    }

    /// Owner, mode, times and xattrs of a copied entry.
    fn apply_info(&self, fi: &Metadata, src: &Path, target: &Path) -> Result<()> {
        let meta = self.target_meta(fi);
        meta::chown(
            self.root,
            target,
            Ids {
                uid: meta.uid,
                gid: meta.gid,
            },
        )?;
        if !fi.file_type().is_symlink() {
            meta::chmod(self.root, target, meta.mode)?;
        }
        self.set_times(fi, target)?;
        meta::copy_xattrs(src, target);
        Ok(())
    }

    fn set_times(&self, fi: &Metadata, target: &Path) -> Result<()> {
        meta::set_times(
            self.root,
            target,
            (fi.atime(), fi.atime_nsec()),
            (fi.mtime(), fi.mtime_nsec()),
        )
    }

    /// Can a path below the (not included) directory `comps` match an include pattern?
    /// Conservative: only a pattern without `**` and with no more segments than the
    /// directory's depth, or whose leading segments do not match, rules the directory out.
    fn may_include_below(&self, comps: &str) -> bool {
        let Some(m) = &self.include else {
            return true;
        };
        if m.has_exclusions() {
            return true;
        }
        let dir: Vec<&str> = comps.split('/').collect();
        m.patterns().iter().any(|p| {
            let text = p.text().trim_start_matches('/');
            if text.contains("**") {
                return true;
            }
            let segs: Vec<&str> = text.split('/').collect();
            segs.len() > dir.len()
                && dir
                    .iter()
                    .zip(&segs)
                    .all(|(d, s)| matches(s, d).unwrap_or(true))
        })
    }
}

//! Resolving paths *inside* a directory tree with container semantics, and the mount-point
//! stubs that resolution creates.
//!
//! A mount target such as `/etc/resolv.conf` is walked one component at a time from the
//! rootfs's root: symlinks are followed but resolved against that root (`/x -> /` stays in the
//! rootfs), `..` never climbs above it. Missing components are created as *stubs* (empty
//! directories, an empty file for the last component of a file mount).
//!
//! **Stubs must not end up in the layer.** Mounting over a path hides what is below, but a stub
//! created in the merged overlay is a real entry in the upper directory, and so is every lower
//! directory overlayfs copied up to hold it. Like BuildKit's `MountStubsCleaner`, we record
//! them and, after the run and once the overlay is unmounted, remove from the upper directory
//! each stub that is still a stub (an empty file, an empty directory) and each copied-up
//! parent that is still empty, not opaque and has its original mode and owner. A command
//! cannot have written into a stub: it was covered by a mount the whole time (and the command
//! lacks `CAP_SYS_ADMIN` to unmount it).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{Context, ErrContext, HelperError};

/// What to create for a missing last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

#[derive(Debug)]
struct Stub {
    rel: PathBuf,
    kind: Kind,
}

#[derive(Debug)]
struct Parent {
    rel: PathBuf,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// What stub creation left in a rootfs's upper directory.
#[derive(Debug, Default)]
pub struct StubRecord {
    stubs: Vec<Stub>,
    parents: Vec<Parent>,
}

/// A directory tree in which paths are resolved with it as the root.
pub struct Tree {
    root: OwnedFd,
    /// How missing components are handled: `None` → error; `Some(false)` → create
    /// directories only (cache dirs); `Some(true)` → create and record stubs (the rootfs).
    create: Option<bool>,
    upper: Option<OwnedFd>,
    record: StubRecord,
}

/// The same limit as the context's key selection and fileop's resolution.
const MAX_SYMLINKS: usize = cairn_context::MAX_SYMLINK_HOPS;

fn open_path(dir: &Path) -> Result<OwnedFd, HelperError> {
    rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", dir.display()))
}

/// Lexical split into components; `/`, `.` and empty parts vanish, `..` is kept (the walk
/// clamps it at the root).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

impl Tree {
    /// The merged rootfs: missing mount points are created and recorded as stubs of `upper`.
    pub fn rootfs(root: &Path, upper: &Path) -> Result<Tree, HelperError> {
        Ok(Tree {
            root: open_path(root)?,
            create: Some(true),
            upper: Some(open_path(upper)?),
            record: StubRecord::default(),
        })
    }

    /// A mount source; with `create_dirs`, a missing selector is created as directories.
    pub fn source(root: &Path, create_dirs: bool) -> Result<Tree, HelperError> {
        Ok(Tree {
            root: open_path(root)?,
            create: create_dirs.then_some(false),
            upper: None,
            record: StubRecord::default(),
        })
    }

    pub fn into_record(self) -> StubRecord {
        self.record
    }

    /// An `O_PATH` descriptor of `path` (resolved in the tree), creating a mount point of
    /// `kind` if missing; errors if it exists with the wrong type.
    pub fn target(&mut self, path: &str, kind: Kind) -> Result<OwnedFd, HelperError> {
        let fd = self.walk(Path::new(path), Some(kind))?;
        let is_dir = is_dir(&fd)?;
        match (kind, is_dir) {
            (Kind::Dir, false) => Err(HelperError::Msg(format!(
                "mount target {path} exists and is not a directory"
            ))),
            (Kind::File, true) => Err(HelperError::Msg(format!(
                "mount target {path} is a directory but the mount source is a file"
            ))),
            _ => Ok(fd),
        }
    }

    /// An `O_PATH` descriptor of an existing `path` and whether it is a directory.
    pub fn open(&mut self, path: &str) -> Result<(OwnedFd, bool), HelperError> {
        let fd = self.walk(Path::new(path), self.create.map(|_| Kind::Dir))?;
        let dir = is_dir(&fd)?;
        Ok((fd, dir))
    }

    /// Like [`Tree::open`] for a directory that must exist.
    pub fn open_dir(&mut self, path: &str) -> Result<OwnedFd, HelperError> {
        let fd = self.walk(Path::new(path), None)?;
        rustix::fs::openat(
            &fd,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("{path} is not a directory"))
    }

    fn dup_root(&self) -> Result<OwnedFd, HelperError> {
        rustix::io::fcntl_dupfd_cloexec(&self.root, 0).ctx(|| "dup".into())
    }

    /// Reopen a real (symlink-free) relative path.
    fn reopen(&self, rel: &Path) -> Result<OwnedFd, HelperError> {
        if rel.as_os_str().is_empty() {
            return self.dup_root();
        }
        rustix::fs::openat(
            &self.root,
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening {}", rel.display()))
    }

    fn walk(&mut self, path: &Path, create: Option<Kind>) -> Result<OwnedFd, HelperError> {
        let shown = path.display().to_string();
        let mut queue = components(path);
        let mut cur = self.dup_root()?;
        let mut cur_rel = PathBuf::new();
        let mut links = 0;
        while let Some(comp) = queue.pop_front() {
            if comp == ".." {
                cur_rel.pop();
                cur = self.reopen(&cur_rel)?;
                continue;
            }
            let last = queue.is_empty();
            match rustix::fs::statat(&cur, &comp, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(HelperError::Msg(format!(
                            "{shown}: too many levels of symbolic links"
                        )));
                    }
                    let target = rustix::fs::readlinkat(&cur, &comp, Vec::new())
                        .ctx(|| format!("reading link {}", cur_rel.join(&comp).display()))?;
                    let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
                    if target.is_absolute() {
                        cur = self.dup_root()?;
                        cur_rel.clear();
                    }
                    for c in components(&target).into_iter().rev() {
                        queue.push_front(c);
                    }
                    continue;
                }
                Ok(st) => {
                    if !last && FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                        return Err(HelperError::Msg(format!(
                            "{shown}: {} is not a directory",
                            cur_rel.join(&comp).display()
                        )));
                    }
                }
                Err(Errno::NOENT) => {
                    let (Some(kind), Some(record)) = (create, self.create) else {
                        return Err(HelperError::Msg(format!(
                            "{shown}: no such file or directory"
                        )));
                    };
                    let kind = if last { kind } else { Kind::Dir };
                    if record {
                        self.record_parents(&cur_rel)?;
                    }
                    let rel = cur_rel.join(&comp);
                    match kind {
                        Kind::Dir => rustix::fs::mkdirat(&cur, &comp, Mode::from_raw_mode(0o755))
                            .ctx(|| format!("creating directory /{}", rel.display()))?,
                        Kind::File => drop(
                            rustix::fs::openat(
                                &cur,
                                &comp,
                                OFlags::CREATE
                                    | OFlags::EXCL
                                    | OFlags::WRONLY
                                    | OFlags::NOFOLLOW
                                    | OFlags::CLOEXEC,
                                Mode::from_raw_mode(0o644),
                            )
                            .ctx(|| format!("creating /{}", rel.display()))?,
                        ),
                    }
                    if record {
                        self.record.stubs.push(Stub { rel, kind });
                    }
                }
                Err(e) => {
                    return Err(
                        e.ctx_err(|| format!("{shown}: stat {}", cur_rel.join(&comp).display()))
                    );
                }
            }
            cur = rustix::fs::openat(
                &cur,
                &comp,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("opening {}", cur_rel.join(&comp).display()))?;
            cur_rel.push(&comp);
        }
        Ok(cur)
    }

    /// Before creating something in `dir`, note each of its ancestors that is not in the upper
    /// directory yet: overlayfs is about to copy it up.
    fn record_parents(&mut self, dir: &Path) -> Result<(), HelperError> {
        let Some(upper) = &self.upper else {
            return Ok(());
        };
        let mut rel = PathBuf::new();
        for comp in dir.components() {
            rel.push(comp);
            let known = self.record.parents.iter().any(|p| p.rel == rel)
                || self.record.stubs.iter().any(|s| s.rel == rel);
            if known {
                continue;
            }
            match rustix::fs::statat(upper, &rel, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => {}
                Err(Errno::NOENT) => {
                    let st = rustix::fs::statat(&self.root, &rel, AtFlags::SYMLINK_NOFOLLOW)
                        .ctx(|| format!("stat /{}", rel.display()))?;
                    self.record.parents.push(Parent {
                        rel: rel.clone(),
                        mode: st.st_mode & 0o7777,
                        uid: st.st_uid,
                        gid: st.st_gid,
                    });
                }
                Err(e) => return Err(e.ctx_err(|| format!("stat upper {}", rel.display()))),
            }
        }
        Ok(())
    }
}

fn is_dir(fd: &OwnedFd) -> Result<bool, HelperError> {
    let st = rustix::fs::fstat(fd).ctx(|| "fstat".into())?;
    Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// Open the parent of `rel` beneath `upper` without following any symlink (the command may
/// have replaced directories with links during the run).
fn open_parent(upper: &OwnedFd, rel: &Path) -> Option<(OwnedFd, OsString)> {
    let name = rel.file_name()?.to_os_string();
    let parent = rel
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fd = rustix::fs::openat2(
        upper,
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_MAGICLINKS
            | ResolveFlags::NO_XDEV,
    )
    .ok()?;
    Some((fd, name))
}

fn is_opaque(parent: &OwnedFd, name: &OsString) -> bool {
    let Ok(dir) = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return true; // cannot tell: keep it
    };
    let mut buf = [0u8; 8];
    match rustix::fs::fgetxattr(&dir, "trusted.overlay.opaque", &mut buf) {
        Ok(_) => true,
        Err(Errno::NODATA) => false,
        Err(_) => true,
    }
}

/// Remove what stub creation left in `upper` (see the module docs). Call only once the
/// overlay is unmounted.
pub fn remove_stubs(upper: &Path, record: &StubRecord) -> Result<(), HelperError> {
    if record.stubs.is_empty() && record.parents.is_empty() {
        return Ok(());
    }
    let upper = open_path(upper)?;
    for stub in record.stubs.iter().rev() {
        let Some((parent, name)) = open_parent(&upper, &stub.rel) else {
            continue;
        };
        let Ok(st) = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let ty = FileType::from_raw_mode(st.st_mode);
        let res = match stub.kind {
            Kind::File if ty == FileType::RegularFile && st.st_size == 0 => {
                rustix::fs::unlinkat(&parent, &name, AtFlags::empty())
            }
            Kind::Dir if ty == FileType::Directory => {
                rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR)
            }
            _ => Ok(()),
        };
        match res {
            Ok(()) | Err(Errno::NOTEMPTY) | Err(Errno::NOENT) => {}
            Err(e) => {
                return Err(e.ctx_err(|| format!("removing mount stub {}", stub.rel.display())));
            }
        }
    }
    let mut parents: Vec<&Parent> = record.parents.iter().collect();
    parents.sort_by_key(|p| std::cmp::Reverse(p.rel.components().count()));
    for p in parents {
        let Some((parent, name)) = open_parent(&upper, &p.rel) else {
            continue;
        };
        let Ok(st) = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let unchanged = FileType::from_raw_mode(st.st_mode) == FileType::Directory
            && st.st_mode & 0o7777 == p.mode
            && st.st_uid == p.uid
            && st.st_gid == p.gid;
        if !unchanged || is_opaque(&parent, &name) {
            continue;
        }
        match rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOTEMPTY) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.ctx_err(|| format!("removing copied-up {}", p.rel.display()))),
        }
    }
    Ok(())
}

//! Restoring an entry's metadata (owner, mode, xattrs, mtime) on something just created,
//! in the order that keeps it: chown before chmod (chown clears setuid/setgid) and before
//! xattrs (chown drops `security.capability`), and times last.

use crate::safefs::os;
use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid};
use std::io;
use std::os::fd::{AsFd, AsRawFd};

#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    pub fn timestamps(&self) -> Timestamps {
        let t = Timespec {
            tv_sec: self.mtime,
            tv_nsec: self.mtime_nsec as _,
        };
        Timestamps {
            last_access: t,
            last_modification: t,
        }
    }
}

/// Owner, mode and xattrs of an open file or directory (times are the caller's business:
/// directories get theirs after their children are written).
pub fn apply_fd(fd: impl AsFd, m: &Meta) -> io::Result<()> {
    let fd = fd.as_fd();
    rustix::fs::fchown(fd, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid)))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(m.mode & 0o7777))?;
    for (name, value) in &m.xattrs {
        tolerate(
            rustix::fs::fsetxattr(fd, os(name), value, rustix::fs::XattrFlags::empty()),
            false,
        )?;
    }
    Ok(())
}

/// xattr errors that do not fail an unpack, as in Docker: a filesystem without xattr support,
/// and (on symlinks, where the kernel forbids `user.*`) permission errors.
fn tolerate(r: rustix::io::Result<()>, is_symlink: bool) -> io::Result<()> {
    match r {
        Ok(()) | Err(rustix::io::Errno::NOTSUP) => Ok(()),
        Err(rustix::io::Errno::PERM) if is_symlink => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Owner, mode (not for symlinks), xattrs and times of `name` in `dir`, never following it.
pub fn apply_at(dir: impl AsFd, name: &[u8], m: &Meta, is_symlink: bool) -> io::Result<()> {
    let dir = dir.as_fd();
    rustix::fs::chownat(
        dir,
        os(name),
        Some(Uid::from_raw(m.uid)),
        Some(Gid::from_raw(m.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if !is_symlink {
        // Only devices and fifos come here; they were just created by us, so the final
        // component is not a symlink and following is moot.
        rustix::fs::chmodat(
            dir,
            os(name),
            Mode::from_raw_mode(m.mode & 0o7777),
            AtFlags::empty(),
        )?;
    }
    if !m.xattrs.is_empty() {
        // The magic link names the verified parent; lsetxattr does not follow `name`.
        let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
        path.extend_from_slice(name);
        for (key, value) in &m.xattrs {
            tolerate(
                rustix::fs::lsetxattr(os(&path), os(key), value, rustix::fs::XattrFlags::empty()),
                is_symlink,
            )?;
        }
    }
    set_times_at(dir, name, m)
}

pub fn set_times_at(dir: impl AsFd, name: &[u8], m: &Meta) -> io::Result<()> {
    Ok(rustix::fs::utimensat(
        dir,
        os(name),
        &m.timestamps(),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

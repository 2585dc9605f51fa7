//! Mount plumbing for the helper: the overlay of a rootfs or of source layers, binds through
//! descriptors, tmpfs, and the container's `/dev`, `/sys`, `/etc/hosts`, `/etc/resolv.conf`.
//!
//! Everything is mounted through `/proc/self/fd/N` of descriptors obtained by walking paths
//! with container semantics ([`super::walk`]), never through a host path joined with a
//! container path: a symlink in an image (`/etc/resolv.conf -> /run/...`, or a hostile
//! `/x -> /`) must resolve inside the rootfs, not on the host.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, Mode, OFlags};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MountPropagationFlags, MoveMountFlags,
    UnmountFlags,
};

use super::walk::{Kind, Tree};
use super::{Context, ErrContext, HelperError};

/// `/proc/self/fd/N`: lets path-based mount(2) act on a descriptor.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Make every mount in our (fresh) mount namespace private, so nothing we mount propagates to
/// the host and nothing the host mounts appears here.
pub fn make_root_private() -> Result<(), HelperError> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .ctx(|| "making / private".into())
}

pub fn mount_tmpfs(target: &str, flags: MountFlags, options: &str) -> Result<(), HelperError> {
    let data =
        CString::new(options).map_err(|_| HelperError::Msg("NUL in tmpfs options".into()))?;
    rustix::mount::mount("tmpfs", target, "tmpfs", flags, Some(data.as_c_str()))
        .ctx(|| format!("mounting tmpfs on {target}"))
}

/// Bind `source` (usually `/proc/self/fd/N`) onto `target` in the tree, creating the mount
/// point, read-only if asked. Always `nodev` and `nosuid`: a device node or a setuid file in a
/// context, a cache directory or another stage is data, never a door.
pub fn bind(
    tree: &mut Tree,
    source: &str,
    target: &str,
    kind: Kind,
    readonly: bool,
) -> Result<(), HelperError> {
    let at = tree.target(target, kind)?;
    rustix::mount::mount_bind(source, fd_path(&at)).ctx(|| format!("bind mount onto {target}"))?;
    let mut flags = MountFlags::NOSUID | MountFlags::NODEV;
    if readonly {
        flags |= MountFlags::RDONLY;
    }
    remount_bind(tree, target, kind, flags)
}

/// Set the flags of the bind mount on `target` (exactly `flags`). The target is opened again:
/// a descriptor taken before the mount points at the directory underneath it.
fn remount_bind(
    tree: &mut Tree,
    target: &str,
    kind: Kind,
    flags: MountFlags,
) -> Result<(), HelperError> {
    let at = tree.target(target, kind)?;
    rustix::mount::mount_remount(fd_path(&at), MountFlags::BIND | flags, "")
        .ctx(|| format!("setting the flags of the mount on {target}"))
}

pub fn detach(target: &Path) -> Result<(), HelperError> {
    rustix::mount::unmount(target, UnmountFlags::DETACH)
        .ctx(|| format!("unmounting {}", target.display()))
}

/// Overlay options that keep the upper directory a plain, portable layer: no redirects, no
/// metadata-only copy-ups (they would not survive export), no inode index.
const OVERLAY_OPTS: [(&str, &str); 3] = [
    ("index", "off"),
    ("redirect_dir", "off"),
    ("metacopy", "off"),
];

/// Whether setuid files on an overlay keep their power. Always `nodev`: a device node in an
/// image (pulled, loaded, from an imported cache) or made by a step is inert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setuid {
    /// A step's root filesystem: `sudo`/`su` in an image work as under docker.
    Honoured,
    /// Everything else (sources of copies and bind mounts).
    Ignored,
}

/// `lowers` (bottom→top) with every repeated directory kept only at its topmost place.
///
/// Results with the same content share one layer directory (`RUN true` twice, two identical
/// `COPY`s, a base image repeating a layer), and overlayfs refuses a lower directory given twice
/// (ELOOP). Dropping the lower copies changes nothing: every path the repeated layer mentions
/// (entry, whiteout, opaque directory) is decided by its topmost copy, which is above anything
/// the lower copy could decide.
pub(super) fn topmost_unique(lowers: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<PathBuf> = lowers
        .iter()
        .rev()
        .filter(|p| seen.insert(p.as_path()))
        .cloned()
        .collect();
    out.reverse();
    out
}

/// Mount an overlay on `target`. `lowers` are bottom→top (as in a [`crate::Rootfs`]) and
/// must not be empty; `rw` gives `(upper, work)`.
pub fn mount_overlay(
    target: &Path,
    lowers: &[PathBuf],
    rw: Option<(&Path, &Path)>,
    setuid: Setuid,
) -> Result<(), HelperError> {
    let lowers = &topmost_unique(lowers)[..];
    match overlay_new_api(target, lowers, rw, setuid) {
        Ok(()) => Ok(()),
        // Kernels before 6.8 have no `lowerdir+` (EINVAL), before 5.2 no fsopen (ENOSYS).
        Err(NewApi::Unsupported) => overlay_legacy(target, lowers, rw, setuid),
        Err(NewApi::Failed(e)) => Err(e),
    }
}

enum NewApi {
    Unsupported,
    Failed(HelperError),
}

fn overlay_new_api(
    target: &Path,
    lowers: &[PathBuf],
    rw: Option<(&Path, &Path)>,
    setuid: Setuid,
) -> Result<(), NewApi> {
    use rustix::io::Errno;
    use rustix::mount::{fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount};
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fs) => fs,
        Err(Errno::NOSYS) => return Err(NewApi::Unsupported),
        Err(e) => return Err(NewApi::Failed(e.ctx_err(|| "fsopen(overlay)".into()))),
    };
    let failed = |fs: &OwnedFd, what: String, e: Errno| {
        NewApi::Failed(HelperError::Msg(format!(
            "{what}: {e}{}",
            kernel_messages(fs)
        )))
    };
    // `lowerdir+` takes one layer per call, top first, with no escaping or length limit.
    for (i, lower) in lowers.iter().rev().enumerate() {
        match fsconfig_set_string(&fs, "lowerdir+", lower) {
            Ok(()) => {}
            Err(Errno::INVAL) if i == 0 => return Err(NewApi::Unsupported),
            Err(e) => return Err(failed(&fs, format!("overlay lower {}", lower.display()), e)),
        }
    }
    if let Some((upper, work)) = rw {
        for (key, dir) in [("upperdir", upper), ("workdir", work)] {
            fsconfig_set_string(&fs, key, dir)
                .map_err(|e| failed(&fs, format!("overlay {key} {}", dir.display()), e))?;
        }
    }
    for (key, value) in OVERLAY_OPTS {
        fsconfig_set_string(&fs, key, value)
            .map_err(|e| failed(&fs, format!("overlay option {key}={value}"), e))?;
    }
    fsconfig_create(&fs).map_err(|e| failed(&fs, "creating the overlay".into(), e))?;
    let mut attrs = MountAttrFlags::MOUNT_ATTR_NODEV;
    if setuid == Setuid::Ignored {
        attrs |= MountAttrFlags::MOUNT_ATTR_NOSUID;
    }
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| failed(&fs, "fsmount(overlay)".into(), e))?;
    move_mount(
        mnt.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| NewApi::Failed(e.ctx_err(|| format!("attaching overlay at {}", target.display()))))
}

/// The kernel's error text for a failed fsconfig (`e overlay: ...` lines), if any.
fn kernel_messages(fs: &OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        let msg = String::from_utf8_lossy(&buf[..n]);
        out.push_str(" (");
        out.push_str(msg.trim_start_matches("e ").trim_end());
        out.push(')');
    }
    out
}

/// Escape a path for overlay's comma/colon separated mount data.
fn escape_overlay_path(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, ':' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn legacy_overlay_data(lowers: &[PathBuf], rw: Option<(&Path, &Path)>) -> String {
    let lowers: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| escape_overlay_path(p))
        .collect();
    let mut data = format!("lowerdir={}", lowers.join(":"));
    if let Some((upper, work)) = rw {
        data.push_str(&format!(
            ",upperdir={},workdir={}",
            escape_overlay_path(upper),
            escape_overlay_path(work)
        ));
    }
    for (key, value) in OVERLAY_OPTS {
        data.push_str(&format!(",{key}={value}"));
    }
    data
}

fn overlay_legacy(
    target: &Path,
    lowers: &[PathBuf],
    rw: Option<(&Path, &Path)>,
    setuid: Setuid,
) -> Result<(), HelperError> {
    let data = legacy_overlay_data(lowers, rw);
    if data.len() >= 4096 {
        return Err(HelperError::Msg(format!(
            "too many layers ({}) for this kernel's overlay mount options (needs Linux 6.8)",
            lowers.len()
        )));
    }
    let data = CString::new(data).map_err(|_| HelperError::Msg("NUL in a layer path".into()))?;
    let mut flags = MountFlags::NODEV;
    if setuid == Setuid::Ignored {
        flags |= MountFlags::NOSUID;
    }
    rustix::mount::mount("overlay", target, "overlay", flags, Some(data.as_c_str()))
        .ctx(|| format!("mounting overlay on {}", target.display()))
}

/// Host devices bind-mounted into the container's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// `/dev`: a `nodev` tmpfs (a node a step makes there is inert) with the safe host devices
/// bound in (each bind is a mount of the host's devtmpfs, so they work), a private devpts,
/// `/dev/shm` and the usual symlinks. `tty` opens only a controlling terminal, which no step
/// has (the init calls `setsid`). `/dev/shm` is `shm_size` bytes (docker's 64 MiB by default).
/// With `host_devices` (an entitled `--security=insecure` step, as BuildKit's
/// `WithHostDevices`): every other device node of the host's `/dev` too.
pub fn setup_dev(
    tree: &mut Tree,
    shm_size: Option<u64>,
    host_devices: bool,
) -> Result<(), HelperError> {
    let shm_options = format!("mode=1777,size={}", shm_size.unwrap_or(64 << 20));
    let dev = tree.target("dev", Kind::Dir)?;
    mount_tmpfs(
        &fd_path(&dev),
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::STRICTATIME,
        "mode=755,size=65536k",
    )?;
    // Reopen: the descriptor above points at the directory *under* the new tmpfs.
    let dev = tree.open_dir("dev")?;
    for name in DEVICES {
        let host = format!("/dev/{name}");
        if !Path::new(&host).exists() {
            continue; // e.g. no /dev/tty on a minimal host
        }
        let node = rustix::fs::openat(
            &dev,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .ctx(|| format!("creating /dev/{name}"))?;
        rustix::mount::mount_bind(&host, fd_path(&node)).ctx(|| format!("binding {host}"))?;
    }
    for (dir, fstype, flags, options) in [
        (
            "pts",
            "devpts",
            MountFlags::NOSUID | MountFlags::NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5",
        ),
        (
            "shm",
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            shm_options.as_str(),
        ),
    ] {
        rustix::fs::mkdirat(&dev, dir, Mode::from_raw_mode(0o755))
            .ctx(|| format!("creating /dev/{dir}"))?;
        let at = rustix::fs::openat(&dev, dir, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("opening /dev/{dir}"))?;
        let data = CString::new(options).map_err(|_| HelperError::Msg("NUL in options".into()))?;
        rustix::mount::mount(fstype, fd_path(&at), fstype, flags, Some(data.as_c_str()))
            .ctx(|| format!("mounting {fstype} on /dev/{dir}"))?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        rustix::fs::symlinkat(to, &dev, link).ctx(|| format!("creating /dev/{link}"))?;
    }
    if host_devices {
        bind_host_devices(&dev, Path::new("/dev"), 0)?;
    }
    Ok(())
}

/// Bind every character and block device under `host` (a directory of the host's `/dev`) into
/// `dir`, as containerd's `HostDevices` lists them: not the console, nothing under `pts`,
/// `shm`, `fd` or `mqueue`, at most two directories deep, nothing already there.
fn bind_host_devices(dir: &OwnedFd, host: &Path, depth: usize) -> Result<(), HelperError> {
    const SKIP: [&str; 5] = ["pts", "shm", "fd", "mqueue", "console"];
    let entries = std::fs::read_dir(host)
        .map_err(|e| HelperError::Msg(format!("reading {}: {e}", host.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        if SKIP.contains(&text) || text.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_dir() && depth < 2 {
            match rustix::fs::mkdirat(dir, text, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.ctx_err(|| format!("creating {}", path.display()))),
            }
            let sub = rustix::fs::openat(
                dir,
                text,
                OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("opening {}", path.display()))?;
            bind_host_devices(&sub, &path, depth + 1)?;
        } else if kind.is_char_device() || kind.is_block_device() {
            let node = match rustix::fs::openat(
                dir,
                text,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(n) => n,
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(e.ctx_err(|| format!("creating {}", path.display()))),
            };
            rustix::mount::mount_bind(&path, fd_path(&node))
                .ctx(|| format!("binding {}", path.display()))?;
        }
    }
    Ok(())
}

/// `/sys`, read-only: a fresh sysfs (showing our network namespace), or a read-only bind of
/// the host's where sysfs cannot be mounted.
pub fn setup_sys(tree: &mut Tree) -> Result<(), HelperError> {
    let sys = tree.target("sys", Kind::Dir)?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC | MountFlags::RDONLY;
    if rustix::mount::mount("sysfs", fd_path(&sys), "sysfs", flags, None).is_ok() {
        return Ok(());
    }
    // Not recursive: the mounts under the host's /sys (cgroup, debugfs, securityfs, …) stay
    // out of the step's sight instead of being writable under a read-only top.
    rustix::mount::mount_bind("/sys", fd_path(&sys)).ctx(|| "binding /sys".into())?;
    remount_bind(tree, "sys", Kind::Dir, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_lowers_keep_their_topmost_place() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            topmost_unique(&[p("/a"), p("/b"), p("/a"), p("/c"), p("/b")]),
            [p("/a"), p("/c"), p("/b")]
        );
        assert_eq!(topmost_unique(&[p("/a")]), [p("/a")]);
    }

    #[test]
    fn legacy_data_is_top_first_and_escaped() {
        let data = legacy_overlay_data(
            &[PathBuf::from("/l/bottom"), PathBuf::from("/l/t:o,p")],
            Some((Path::new("/u"), Path::new("/w"))),
        );
        assert_eq!(
            data,
            "lowerdir=/l/t\\:o\\,p:/l/bottom,upperdir=/u,workdir=/w,index=off,redirect_dir=off,metacopy=off"
        );
    }
}

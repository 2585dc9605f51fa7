//! What a step may touch once it runs: the confinement policy, in one place.
//!
//! The floor is runc's default spec as docker and BuildKit use it (moby `oci/defaults.go`,
//! BuildKit `executor/oci/spec.go`):
//!
//! - **capabilities**: docker's default set, also as the bounding set; nothing inheritable or
//!   ambient. `CAP_MKNOD` is in it: every mount a step sees is `nodev` (see
//!   [`super::mounts`]), so a node it makes, or one an image brings, is inert data;
//! - **/proc and /sys**: the control files read-only, the information leaks masked;
//! - **seccomp**: docker's default profile ([`super::seccomp`]);
//! - **session**: the init calls `setsid`, so no step has a controlling terminal (no
//!   `/dev/tty`, no `TIOCSTI` into the user's shell);
//! - **descriptors**: only 0, 1 and 2 reach a step (the helper closes every other inherited
//!   descriptor first thing; its own are close-on-exec).
//!
//! `RUN --security=insecure` (an entitlement the user grants with `--allow security.insecure`)
//! lifts the capability, seccomp and /proc limits, as BuildKit's does; it keeps the mount
//! flags, the session and the descriptors.

use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::thread::CapabilitySet;

use super::{Context, HelperError};

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub fn default_capabilities() -> CapabilitySet {
    CapabilitySet::CHOWN
        | CapabilitySet::DAC_OVERRIDE
        | CapabilitySet::FSETID
        | CapabilitySet::FOWNER
        | CapabilitySet::MKNOD
        | CapabilitySet::NET_RAW
        | CapabilitySet::SETGID
        | CapabilitySet::SETUID
        | CapabilitySet::SETFCAP
        | CapabilitySet::SETPCAP
        | CapabilitySet::NET_BIND_SERVICE
        | CapabilitySet::SYS_CHROOT
        | CapabilitySet::KILL
        | CapabilitySet::AUDIT_WRITE
}

/// Paths hidden from the step (moby's `DefaultLinuxSpec` masked paths): a directory gets an
/// empty read-only tmpfs over it, a file `/dev/null`.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths the step may read but never write (moby's read-only paths): the host's sysctls,
/// `sysrq-trigger`, interrupt and bus settings.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Apply [`MASKED_PATHS`] and [`READONLY_PATHS`] to the `/proc` and `/sys` of the current
/// root (called by the init after `pivot_root` and mounting `/proc`). Paths this kernel does
/// not have are skipped.
pub fn restrict_proc_and_sys() -> Result<(), HelperError> {
    for path in READONLY_PATHS {
        match rustix::mount::mount_bind(*path, *path) {
            Ok(()) => {}
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e).ctx(|| format!("binding {path}")),
        }
        rustix::mount::mount_remount(
            *path,
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            "",
        )
        .ctx(|| format!("making {path} read-only"))?;
    }
    for path in MASKED_PATHS {
        let st = match rustix::fs::stat(*path) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e).ctx(|| format!("stat {path}")),
        };
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
            super::mounts::mount_tmpfs(
                path,
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                "",
            )?;
        } else {
            rustix::mount::mount_bind("/dev/null", *path).ctx(|| format!("masking {path}"))?;
        }
    }
    Ok(())
}

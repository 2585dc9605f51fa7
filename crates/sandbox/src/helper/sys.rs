//! The few system calls that need `unsafe`: `fork`, `unshare`, closing inherited descriptors,
//! installing a seccomp filter and bringing up the loopback interface. Kept here, small, each
//! block with its safety argument; everything else uses rustix's safe wrappers (and std's
//! `CommandExt::exec` for `execve`).
#![allow(unsafe_code)]

use std::io;

use rustix::process::Pid;
use rustix::thread::UnshareFlags;

/// Which side of a [`fork`] we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// `fork()`. Only called by the helper, which is single-threaded (checked at startup), so the
/// child may allocate and run arbitrary code.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the helper process has exactly one thread (helper_main checks /proc/self/task),
    // so no lock can be held by a thread that does not exist in the child; the child continues
    // with normal Rust code, which is sound in a single-threaded fork child.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Pid::from_raw(pid)
            .map(Forked::Parent)
            .ok_or_else(|| io::Error::other("fork returned an invalid pid")),
    }
}

/// Close every descriptor from 3 up, so nothing the helper inherited (a CI runner's pipes,
/// make's jobserver, a shell's `exec 7</etc`) reaches a step, its init or `slirp4netns`.
/// Uses `close_range` (Linux 5.9), else walks `/proc/self/fd`.
///
/// Must be called first thing in the helper process: every descriptor from 3 up is then an
/// inheritance no object of this process owns.
pub fn close_inherited_fds() -> io::Result<()> {
    // SAFETY: called at the start of the helper (see above), when no Rust object owns a
    // descriptor from 3 up, so closing them cannot invalidate an owned handle.
    let r = unsafe { libc::close_range(3, libc::c_uint::MAX, 0) };
    if r == 0 {
        return Ok(());
    }
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        {
            fds.push(fd);
        }
    }
    for fd in fds.into_iter().filter(|&fd| fd >= 3) {
        // SAFETY: as above, no object owns these; the directory stream's own descriptor is
        // closed by now (EBADF, ignored).
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// `unshare(flags)` for namespace flags.
pub fn unshare(flags: UnshareFlags) -> io::Result<()> {
    debug_assert!(!flags.contains(UnshareFlags::FILES));
    // SAFETY: `unshare_unsafe` is only unsafe for CLONE_FILES (threads could observe fds from
    // an unshared table); we only pass namespace flags, and the process is single-threaded.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(io::Error::from)
}

/// Set `IFF_UP` on `lo` in the current network namespace (a new one starts with it down).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let sock: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of a valid, live `ifreq`.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds `ifru_flags`.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads a valid, live `ifreq`.
    if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`: install a classic-BPF system call filter on
/// the calling thread, *without* `PR_SET_NO_NEW_PRIVS` (seccompiler's `apply_filter` always
/// sets it). The kernel then requires `CAP_SYS_ADMIN` in the caller's user namespace (else
/// `EACCES`). The filter is inherited by children, survives `execve` and cannot be removed.
pub fn seccomp_set_mode_filter(program: &[libc::sock_filter]) -> io::Result<()> {
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program; `*mut` is merely the C declaration's type.
        filter: program.as_ptr().cast_mut(),
    };
    let flags: libc::c_ulong = 0;
    // SAFETY: `prog` describes `len` initialised instructions borrowed from `program` for the
    // whole call; the kernel copies them in (copy_from_user) and keeps no pointer to our memory.
    // No flags (no TSYNC): only the calling thread is filtered; our callers are single-threaded.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

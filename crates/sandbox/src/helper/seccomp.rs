//! Docker's default seccomp profile, as the filter a step's command runs under.
//!
//! The data is moby's `seccomp/default.json` from <https://github.com/moby/profiles> (where
//! moby/moby's `profiles/seccomp/` moved; moby vendors it), tag `seccomp/v0.2.3`, commit
//! `3c28324` of 2026-05-06 ("Revert \"seccomp: Block socketcall to prevent AF_ALG filter
//! bypass\""); the file is unchanged on `main` as of 2026-06-30. It is written out here by hand:
//! no crate ships docker's profile, and seccompiler's JSON frontend is its own format (no
//! `includes`/`excludes`, one action per filter), so the profile is *resolved* here the way
//! moby's `setupSeccomp` resolves it for one container, then compiled with seccompiler:
//!
//! - **capabilities**: a step has docker's default set (see [`super::confine`]). Of the
//!   capability-gated entries only `chroot` (`CAP_SYS_CHROOT`) is in; everything gated on
//!   `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, `CAP_SYS_MODULE`, `CAP_SYS_RAWIO`, `CAP_SYS_TIME`,
//!   `CAP_SYS_PACCT`, `CAP_SYS_NICE`, `CAP_SYSLOG`, `CAP_SYS_BOOT`, `CAP_SYS_TTY_CONFIG`,
//!   `CAP_DAC_READ_SEARCH`, `CAP_BPF` or `CAP_PERFMON` is left to the default action
//!   ([`GATED_ON_MISSING_CAPS`]), and the entries *excluded* for `CAP_SYS_ADMIN` apply: `clone`
//!   only without namespace flags, `clone3` fails with `ENOSYS` so libcs fall back to `clone`;
//! - **kernel version**: `minKernel` gates are taken as met (`ptrace`, `process_vm_readv` and
//!   `process_vm_writev` need 4.8; cairn needs far newer kernels anyway);
//! - **architecture**: only the native one (x86_64, or aarch64), with the entries that
//!   moby's `includes.arches` gives it (`arch_prctl` and `modify_ldt` on x86_64). A name that
//!   is not a system call of the architecture (`chown32`, `socketcall`, `_llseek`, ...) is
//!   skipped, as libseccomp skips it;
//! - **default action**: `EPERM` (`defaultErrnoRet` 1); the one `errnoRet` entry of the
//!   profile, `clone3` → `ENOSYS`, is kept.
//!
//! What differs from a docker container, and why:
//!
//! - like runc (its `patchbpf` stub), a system call *newer* than every one the profile names
//!   (above `removexattrat`, 466: `open_tree_attr`, `file_getattr`, ...) fails with `ENOSYS`,
//!   not `EPERM`, so programs probing for it fall back instead of failing;
//! - other ABIs are not allowed: docker also loads the profile for x86 (i386) and x32 on
//!   x86_64, and arm (32-bit) on aarch64. Here a 32-bit `int 0x80` system call kills the
//!   process (seccompiler's architecture check), an x32 one fails with `ENOSYS`;
//! - `int` arguments are compared on their low 32 bits (seccompiler's `Dword`), which is what
//!   the kernel reads (libseccomp compares all 64, and `socket(0x1_0000_0028, ..)` is not 40
//!   there, yet reaches the kernel as `AF_VSOCK`);
//! - seccompiler emits a linear chain of comparisons, not libseccomp's binary tree; the
//!   kernel's per-syscall action cache (5.11+) skips the filter for every call it allows
//!   whatever the arguments, so only `clone`, `socket`, `personality` and denied calls run it.
//!
//! [`install`] loads the filter without `PR_SET_NO_NEW_PRIVS`, as runc does when the spec does
//! not ask for it: the caller still holds `CAP_SYS_ADMIN`, and setuid programs in the image
//! (`su`, `sudo`) keep working within the bounding set.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use super::{Context, HelperError, sys};

/// The profile's first entry: allowed whatever the arguments (same order as upstream, so a
/// diff against a newer `default.json` is easy).
const ALLOW: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "riscv_hwprobe",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// `includes: {minKernel: "4.8"}`: allowed (before 4.8, seccomp could be bypassed with
/// `ptrace`, so docker gated these on `CAP_SYS_PTRACE`).
const ALLOW_MIN_KERNEL_4_8: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// `includes: {arches: [...]}` entries for the native architecture.
#[cfg(target_arch = "x86_64")]
const ALLOW_ARCH: &[&str] = &["arch_prctl", "modify_ldt"];
/// `includes: {arches: ["arm", "arm64"]}`: 32-bit ARM calls, none of which exists on aarch64;
/// kept so the table matches the profile.
#[cfg(target_arch = "aarch64")]
const ALLOW_ARCH: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ALLOW_ARCH: &[&str] = &[];

/// `includes: {caps: [...]}` entries whose capability is in docker's default set.
const ALLOW_WITH_DEFAULT_CAPS: &[(&str, &[&str])] = &[("CAP_SYS_CHROOT", &["chroot"])];

/// `includes: {caps: [...]}` entries whose capability a step does not have: not allowed (the
/// default action), unless another entry allows the name (`ptrace` and `process_vm_*` are
/// allowed by [`ALLOW_MIN_KERNEL_4_8`]). Kept as data for the tests and for review.
#[cfg_attr(not(test), allow(dead_code))]
const GATED_ON_MISSING_CAPS: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The `CLONE_NEW*` flags (`CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
/// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET`): the profile's mask 2114060288.
const CLONE_NEW_MASK: u64 = 0x7E02_0000;

/// One comparison of an argument, as in the profile's `args` (`SCMP_CMP_*`).
#[derive(Clone, Copy, Debug)]
enum Cmp {
    Eq(u64),
    Lt(u64),
    Gt(u64),
    /// `arg & mask == value`.
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

/// A system call allowed only when argument `arg` passes one of `any` (the profile has one
/// entry per alternative; alternatives of one name are OR'ed, as libseccomp does). Every
/// compared argument is a C `int` (or, for `clone`, flags of which the kernel reads only the
/// low 32 bits), so the low 32 bits are compared.
#[derive(Debug)]
struct Conditional {
    name: &'static str,
    arg: u8,
    any: &'static [Cmp],
}

const CONDITIONAL: &[Conditional] = &[
    // Every address family but AF_ALG (38) and AF_VSOCK (40).
    Conditional {
        name: "socket",
        arg: 0,
        any: &[Cmp::Lt(38), Cmp::Eq(39), Cmp::Gt(40)],
    },
    // PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (the query).
    Conditional {
        name: "personality",
        arg: 0,
        any: &[
            Cmp::Eq(0x0),
            Cmp::Eq(0x8),
            Cmp::Eq(0x2_0000),
            Cmp::Eq(0x2_0008),
            Cmp::Eq(0xffff_ffff),
        ],
    },
    // `excludes: {caps: [CAP_SYS_ADMIN], arches: [s390, s390x]}`: no new namespaces. (On
    // s390 the flags are the second argument; not an architecture built here.)
    Conditional {
        name: "clone",
        arg: 0,
        any: &[Cmp::MaskedEq {
            mask: CLONE_NEW_MASK,
            value: 0,
        }],
    },
];

/// `action: SCMP_ACT_ERRNO, errnoRet: 38`: fail with `ENOSYS` (`clone3`, excluded for
/// `CAP_SYS_ADMIN`: its flags are behind a pointer seccomp cannot read, and `ENOSYS` makes
/// glibc and musl fall back to `clone`).
const ENOSYS: &[&str] = &["clone3"];

/// Every name the profile allows on this architecture whatever the arguments.
pub(crate) fn allowed_unconditionally() -> impl Iterator<Item = &'static str> {
    ALLOW
        .iter()
        .chain(ALLOW_MIN_KERNEL_4_8)
        .chain(ALLOW_ARCH)
        .chain(
            ALLOW_WITH_DEFAULT_CAPS
                .iter()
                .flat_map(|(_, names)| names.iter()),
        )
        .copied()
}

/// Docker's default profile for a step (docker's default capabilities, the native
/// architecture), compiled to classic BPF; see the module documentation.
pub(crate) fn default_filter() -> Result<BpfProgram, HelperError> {
    let (arch, audit_arch) = native_arch()?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in allowed_unconditionally().filter_map(number) {
        rules.insert(nr, Vec::new());
    }
    for cond in CONDITIONAL {
        let Some(nr) = number(cond.name) else {
            continue;
        };
        let alternatives = cond
            .any
            .iter()
            .map(|cmp| {
                let (op, value) = match *cmp {
                    Cmp::Eq(v) => (SeccompCmpOp::Eq, v),
                    Cmp::Lt(v) => (SeccompCmpOp::Lt, v),
                    Cmp::Gt(v) => (SeccompCmpOp::Gt, v),
                    Cmp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(mask), value),
                };
                SeccompCondition::new(cond.arg, SeccompCmpArgLen::Dword, op, value)
                    .and_then(|c| SeccompRule::new(vec![c]))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(compile_error)?;
        match rules.get_mut(&nr) {
            // Already allowed whatever the arguments.
            Some(existing) if existing.is_empty() => {}
            Some(existing) => existing.extend(alternatives),
            None => {
                rules.insert(nr, alternatives);
            }
        }
    }
    let enosys = ENOSYS
        .iter()
        .filter_map(|name| number(name))
        .map(syscall_u32)
        .collect::<Result<Vec<u32>, _>>()?;
    let newest = match rules.last_key_value() {
        Some((&nr, _)) => Some(syscall_u32(nr)?),
        None => None,
    }
    .into_iter()
    .chain(enosys.iter().copied())
    .max()
    .ok_or_else(|| HelperError::Msg("seccomp: empty profile".into()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(EPERM),
        SeccompAction::Allow,
        arch,
    )
    .map_err(compile_error)?;
    let body: BpfProgram = filter.try_into().map_err(compile_error)?;
    let mut program = enosys_prefix(audit_arch, &enosys, newest)?;
    program.extend(body);
    if program.len() > BPF_MAXINSNS {
        return Err(HelperError::Msg(format!(
            "seccomp: the filter has {} instructions, more than the kernel's {BPF_MAXINSNS}",
            program.len()
        )));
    }
    Ok(program)
}

/// Load `program` on the calling thread (and so on everything it forks and execs) with
/// `seccomp(SECCOMP_SET_MODE_FILTER)`, without `PR_SET_NO_NEW_PRIVS`: the caller must hold
/// `CAP_SYS_ADMIN` (in its user namespace) and should be single-threaded. Not seccompiler's
/// `apply_filter`, which always sets `no_new_privs` and so would break setuid programs.
pub(crate) fn install(program: &BpfProgram) -> Result<(), HelperError> {
    let insns: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    sys::seccomp_set_mode_filter(&insns).ctx(|| "installing the seccomp filter".into())
}

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS_ERRNO: u32 = libc::ENOSYS as u32;
/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

// Classic BPF opcodes (linux/bpf_common.h) of the prefix below.
/// `BPF_LD | BPF_W | BPF_ABS`: load 32 bits of `struct seccomp_data`.
const LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
const JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K` (unsigned).
const JGT_K: u16 = 0x25;
/// `BPF_RET | BPF_K`.
const RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// What seccompiler's one-action filter cannot say, run first: on the native architecture,
/// `ENOSYS` for the [`ENOSYS`] calls and for every number above `newest` (runc's stub).
/// Anything else falls through to seccompiler's program, which starts with its own
/// architecture check (foreign ABIs are killed there).
fn enosys_prefix(audit_arch: u32, enosys: &[u32], newest: u32) -> Result<BpfProgram, HelperError> {
    let n = u8::try_from(enosys.len())
        .ok()
        .filter(|&n| n < 250)
        .ok_or_else(|| HelperError::Msg("seccomp: too many ENOSYS entries".into()))?;
    let stmt = |code, k| sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    let mut p = Vec::with_capacity(usize::from(n) + 5);
    p.push(stmt(LD_W_ABS, DATA_ARCH));
    // Foreign architecture: skip to the body (past the n + 3 instructions below).
    p.push(jump(JEQ_K, audit_arch, 0, n + 3));
    p.push(stmt(LD_W_ABS, DATA_NR));
    for (i, &nr) in (0u8..).zip(enosys) {
        // To the RET ENOSYS, past the remaining n - 1 - i comparisons and the JGT.
        p.push(jump(JEQ_K, nr, n - i, 0));
    }
    p.push(jump(JGT_K, newest, 0, 1));
    p.push(stmt(RET_K, libc::SECCOMP_RET_ERRNO | ENOSYS_ERRNO));
    Ok(p)
}

fn compile_error(e: seccompiler::BackendError) -> HelperError {
    HelperError::Msg(format!("seccomp: {e}"))
}

fn syscall_u32(nr: i64) -> Result<u32, HelperError> {
    u32::try_from(nr).map_err(|_| HelperError::Msg(format!("seccomp: bad syscall number {nr}")))
}

/// seccompiler's architecture and the kernel's `AUDIT_ARCH_*` value (linux/audit.h:
/// `EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`) of the build target.
fn native_arch() -> Result<(TargetArch, u32), HelperError> {
    #[cfg(target_arch = "x86_64")]
    return Ok((TargetArch::x86_64, 0xC000_003E));
    #[cfg(target_arch = "aarch64")]
    return Ok((TargetArch::aarch64, 0xC000_00B7));
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    Err(HelperError::Msg(format!(
        "no seccomp profile for {}",
        std::env::consts::ARCH
    )))
}

/// The number of system call `name` on the build target, if it has one.
pub(crate) fn number(name: &str) -> Option<i64> {
    COMMON_NUMBERS
        .iter()
        .chain(ARCH_NUMBERS)
        .find(|(sys, _)| sys.strip_prefix("SYS_") == Some(name))
        .or_else(|| {
            EXTRA_NUMBERS
                .iter()
                .chain(UNIFIED_NUMBERS)
                .find(|(n, _)| *n == name)
        })
        .map(|&(_, nr)| nr)
}

/// `(stringify!(SYS_x), libc::SYS_x)` for each `SYS_x`.
macro_rules! libc_numbers {
    ($($sys:ident),* $(,)?) => {
        &[$((stringify!($sys), libc::$sys)),*]
    };
}

/// The profile's names that libc has a number for on both x86_64 and aarch64.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COMMON_NUMBERS: &[(&str, i64)] = libc_numbers![
    SYS_accept,
    SYS_accept4,
    SYS_acct,
    SYS_adjtimex,
    SYS_bind,
    SYS_bpf,
    SYS_brk,
    SYS_capget,
    SYS_capset,
    SYS_chdir,
    SYS_chroot,
    SYS_clock_adjtime,
    SYS_clock_getres,
    SYS_clock_gettime,
    SYS_clock_nanosleep,
    SYS_clock_settime,
    SYS_clone,
    SYS_clone3,
    SYS_close,
    SYS_close_range,
    SYS_connect,
    SYS_copy_file_range,
    SYS_delete_module,
    SYS_dup,
    SYS_dup3,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_fanotify_init,
    SYS_fanotify_mark,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_fcntl,
    SYS_fdatasync,
    SYS_fgetxattr,
    SYS_finit_module,
    SYS_flistxattr,
    SYS_flock,
    SYS_fremovexattr,
    SYS_fsconfig,
    SYS_fsetxattr,
    SYS_fsmount,
    SYS_fsopen,
    SYS_fspick,
    SYS_fstat,
    SYS_fstatfs,
    SYS_fsync,
    SYS_ftruncate,
    SYS_futex,
    SYS_futex_waitv,
    SYS_get_mempolicy,
    SYS_get_robust_list,
    SYS_getcpu,
    SYS_getcwd,
    SYS_getdents64,
    SYS_getegid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getgroups,
    SYS_getitimer,
    SYS_getpeername,
    SYS_getpgid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpriority,
    SYS_getrandom,
    SYS_getresgid,
    SYS_getresuid,
    SYS_getrlimit,
    SYS_getrusage,
    SYS_getsid,
    SYS_getsockname,
    SYS_getsockopt,
    SYS_gettid,
    SYS_gettimeofday,
    SYS_getuid,
    SYS_getxattr,
    SYS_init_module,
    SYS_inotify_add_watch,
    SYS_inotify_init1,
    SYS_inotify_rm_watch,
    SYS_io_cancel,
    SYS_io_destroy,
    SYS_io_getevents,
    SYS_io_setup,
    SYS_io_submit,
    SYS_ioctl,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_kcmp,
    SYS_kill,
    SYS_landlock_add_rule,
    SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self,
    SYS_lgetxattr,
    SYS_linkat,
    SYS_listen,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_lookup_dcookie,
    SYS_lremovexattr,
    SYS_lseek,
    SYS_lsetxattr,
    SYS_madvise,
    SYS_mbind,
    SYS_membarrier,
    SYS_memfd_create,
    SYS_memfd_secret,
    SYS_mincore,
    SYS_mkdirat,
    SYS_mknodat,
    SYS_mlock,
    SYS_mlock2,
    SYS_mlockall,
    SYS_mmap,
    SYS_mount,
    SYS_mount_setattr,
    SYS_move_mount,
    SYS_mprotect,
    SYS_mq_getsetattr,
    SYS_mq_notify,
    SYS_mq_open,
    SYS_mq_timedreceive,
    SYS_mq_timedsend,
    SYS_mq_unlink,
    SYS_mremap,
    SYS_mseal,
    SYS_msgctl,
    SYS_msgget,
    SYS_msgrcv,
    SYS_msgsnd,
    SYS_msync,
    SYS_munlock,
    SYS_munlockall,
    SYS_munmap,
    SYS_name_to_handle_at,
    SYS_nanosleep,
    SYS_newfstatat,
    SYS_open_by_handle_at,
    SYS_open_tree,
    SYS_openat,
    SYS_openat2,
    SYS_perf_event_open,
    SYS_personality,
    SYS_pidfd_getfd,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pipe2,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_ppoll,
    SYS_prctl,
    SYS_pread64,
    SYS_preadv,
    SYS_preadv2,
    SYS_prlimit64,
    SYS_process_madvise,
    SYS_process_mrelease,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_pselect6,
    SYS_ptrace,
    SYS_pwrite64,
    SYS_pwritev,
    SYS_pwritev2,
    SYS_quotactl,
    SYS_quotactl_fd,
    SYS_read,
    SYS_readahead,
    SYS_readlinkat,
    SYS_readv,
    SYS_reboot,
    SYS_recvfrom,
    SYS_recvmmsg,
    SYS_recvmsg,
    SYS_remap_file_pages,
    SYS_removexattr,
    SYS_renameat,
    SYS_renameat2,
    SYS_restart_syscall,
    SYS_rseq,
    SYS_rt_sigaction,
    SYS_rt_sigpending,
    SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_getaffinity,
    SYS_sched_getattr,
    SYS_sched_getparam,
    SYS_sched_getscheduler,
    SYS_sched_rr_get_interval,
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_sched_yield,
    SYS_seccomp,
    SYS_semctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_sendfile,
    SYS_sendmmsg,
    SYS_sendmsg,
    SYS_sendto,
    SYS_set_mempolicy,
    SYS_set_mempolicy_home_node,
    SYS_set_robust_list,
    SYS_set_tid_address,
    SYS_setdomainname,
    SYS_setfsgid,
    SYS_setfsuid,
    SYS_setgid,
    SYS_setgroups,
    SYS_sethostname,
    SYS_setitimer,
    SYS_setns,
    SYS_setpgid,
    SYS_setpriority,
    SYS_setregid,
    SYS_setresgid,
    SYS_setresuid,
    SYS_setreuid,
    SYS_setrlimit,
    SYS_setsid,
    SYS_setsockopt,
    SYS_settimeofday,
    SYS_setuid,
    SYS_setxattr,
    SYS_shmat,
    SYS_shmctl,
    SYS_shmdt,
    SYS_shmget,
    SYS_shutdown,
    SYS_sigaltstack,
    SYS_signalfd4,
    SYS_socket,
    SYS_socketpair,
    SYS_splice,
    SYS_statfs,
    SYS_statx,
    SYS_symlinkat,
    SYS_sync,
    SYS_sync_file_range,
    SYS_syncfs,
    SYS_sysinfo,
    SYS_syslog,
    SYS_tee,
    SYS_tgkill,
    SYS_timer_create,
    SYS_timer_delete,
    SYS_timer_getoverrun,
    SYS_timer_gettime,
    SYS_timer_settime,
    SYS_timerfd_create,
    SYS_timerfd_gettime,
    SYS_timerfd_settime,
    SYS_times,
    SYS_tkill,
    SYS_truncate,
    SYS_umask,
    SYS_umount2,
    SYS_uname,
    SYS_unlinkat,
    SYS_unshare,
    SYS_utimensat,
    SYS_vhangup,
    SYS_vmsplice,
    SYS_wait4,
    SYS_waitid,
    SYS_write,
    SYS_writev,
];

/// The profile's names that only x86_64 has (the legacy calls asm-generic dropped).
#[cfg(target_arch = "x86_64")]
const ARCH_NUMBERS: &[(&str, i64)] = libc_numbers![
    SYS_access,
    SYS_alarm,
    SYS_arch_prctl,
    SYS_chmod,
    SYS_chown,
    SYS_creat,
    SYS_dup2,
    SYS_epoll_create,
    SYS_epoll_ctl_old,
    SYS_epoll_wait,
    SYS_epoll_wait_old,
    SYS_eventfd,
    SYS_fchmodat2,
    SYS_fork,
    SYS_futimesat,
    SYS_get_thread_area,
    SYS_getdents,
    SYS_getpgrp,
    SYS_inotify_init,
    SYS_ioperm,
    SYS_iopl,
    SYS_lchown,
    SYS_link,
    SYS_lstat,
    SYS_mkdir,
    SYS_mknod,
    SYS_modify_ldt,
    SYS_open,
    SYS_pause,
    SYS_pipe,
    SYS_poll,
    SYS_readlink,
    SYS_rename,
    SYS_rmdir,
    SYS_select,
    SYS_set_thread_area,
    SYS_signalfd,
    SYS_stat,
    SYS_symlink,
    SYS_time,
    SYS_unlink,
    SYS_utime,
    SYS_utimes,
    SYS_vfork,
];
#[cfg(target_arch = "aarch64")]
const ARCH_NUMBERS: &[(&str, i64)] = &[];

/// Numbers libc 0.2 lacks (for the glibc targets at least), from the kernel's tables
/// (`arch/x86/entry/syscalls/syscall_64.tbl`; `scripts/syscall.tbl`, the asm-generic one
/// aarch64 uses): first the ones that differ by architecture...
#[cfg(target_arch = "x86_64")]
const EXTRA_NUMBERS: &[(&str, i64)] = &[("io_pgetevents", 333), ("uretprobe", 335)];
#[cfg(target_arch = "aarch64")]
const EXTRA_NUMBERS: &[(&str, i64)] = &[("io_pgetevents", 292), ("fchmodat2", 452)];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const EXTRA_NUMBERS: &[(&str, i64)] = &[];

/// ...then the newer ones, numbered alike on every architecture from 424 on.
const UNIFIED_NUMBERS: &[(&str, i64)] = &[
    ("cachestat", 451),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("statmount", 457),
    ("listmount", 458),
    ("lsm_get_self_attr", 459),
    ("lsm_set_self_attr", 460),
    ("lsm_list_modules", 461),
    ("setxattrat", 463),
    ("getxattrat", 464),
    ("listxattrat", 465),
    ("removexattrat", 466),
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const COMMON_NUMBERS: &[(&str, i64)] = &[];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH_NUMBERS: &[(&str, i64)] = &[];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const EXTRA_NUMBERS: &[(&str, i64)] = &[];

#[cfg(test)]
#[allow(clippy::disallowed_macros)] // the re-entered child reports on stdout
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const ALLOWED: u32 = libc::SECCOMP_RET_ALLOW;
    const DENIED: u32 = libc::SECCOMP_RET_ERRNO | EPERM;
    const NOSYS: u32 = libc::SECCOMP_RET_ERRNO | ENOSYS_ERRNO;

    /// Every name the profile mentions.
    fn all_profile_names() -> BTreeSet<&'static str> {
        allowed_unconditionally()
            .chain(
                GATED_ON_MISSING_CAPS
                    .iter()
                    .flat_map(|(_, n)| n.iter().copied()),
            )
            .chain(CONDITIONAL.iter().map(|c| c.name))
            .chain(ENOSYS.iter().copied())
            .collect()
    }

    fn nr(name: &str) -> i64 {
        number(name).unwrap_or_else(|| panic!("no number for {name}"))
    }

    /// A classic-BPF interpreter for the opcodes seccompiler and the prefix emit: the action
    /// the kernel would take for a call.
    fn run(program: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&i32::try_from(nr).unwrap().to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let insn = &program[pc];
            pc += 1;
            let k = insn.k;
            let branch = |cond: bool| usize::from(if cond { insn.jt } else { insn.jf });
            match insn.code {
                LD_W_ABS => {
                    let off = usize::try_from(k).unwrap();
                    acc = u32::from_ne_bytes(data[off..off + 4].try_into().unwrap());
                }
                0x54 => acc &= k, // BPF_ALU | BPF_AND | BPF_K
                0x05 => pc += usize::try_from(k).unwrap(), // BPF_JMP | BPF_JA
                JEQ_K => pc += branch(acc == k),
                JGT_K => pc += branch(acc > k),
                0x35 => pc += branch(acc >= k), // BPF_JMP | BPF_JGE | BPF_K
                RET_K => return k,
                op => panic!("unexpected BPF opcode {op:#x} at {}", pc - 1),
            }
        }
    }

    fn native() -> u32 {
        native_arch().unwrap().1
    }

    fn action(program: &[sock_filter], name: &str, args: [u64; 6]) -> u32 {
        run(program, native(), nr(name), args)
    }

    #[test]
    fn opcodes_match_the_kernel_headers() {
        assert_eq!(
            u32::from(LD_W_ABS),
            libc::BPF_LD | libc::BPF_W | libc::BPF_ABS
        );
        assert_eq!(
            u32::from(JEQ_K),
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K
        );
        assert_eq!(
            u32::from(JGT_K),
            libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K
        );
        assert_eq!(u32::from(RET_K), libc::BPF_RET | libc::BPF_K);
        assert_eq!(BPF_MAXINSNS, usize::try_from(libc::BPF_MAXINSNS).unwrap());
    }

    #[test]
    fn filter_compiles() {
        let program = default_filter().unwrap();
        assert!(
            program.len() > 300 && program.len() <= BPF_MAXINSNS,
            "{}",
            program.len()
        );
    }

    #[test]
    fn allow_list_matches_the_profile() {
        assert_eq!(ALLOW.len(), 361);
        let unconditional: BTreeSet<_> = allowed_unconditionally().collect();
        for name in [
            "read", "write", "execve", "execveat", "getpid", "ptrace", "chroot", "setuid",
        ] {
            assert!(unconditional.contains(name), "{name} should be allowed");
        }
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "request_key",
            "kexec_load",
            "open_by_handle_at",
            "init_module",
            "finit_module",
            "bpf",
            "perf_event_open",
            "clone",
            "clone3",
            "socket",
            "personality",
            "io_uring_setup",
            "userfaultfd",
            "pivot_root",
            "kcmp",
            "syslog",
        ] {
            assert!(
                !unconditional.contains(name),
                "{name} should not be allowed as such"
            );
        }
        // No name is both gated and allowed, except the minKernel ones.
        for (_, names) in GATED_ON_MISSING_CAPS {
            for name in *names {
                assert!(
                    !unconditional.contains(name) || ALLOW_MIN_KERNEL_4_8.contains(name),
                    "{name}"
                );
            }
        }
    }

    /// Catches a misspelt name: every name the profile has either resolves on this
    /// architecture or is known not to be one of its system calls.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_name_resolves_or_is_foreign() {
        const NOT_X86_64: &[&str] = &[
            "_llseek",
            "_newselect",
            "chown32",
            "clock_adjtime64",
            "clock_getres_time64",
            "clock_gettime64",
            "clock_nanosleep_time64",
            "clock_settime64",
            "fadvise64_64",
            "fchown32",
            "fcntl64",
            "fstat64",
            "fstatat64",
            "fstatfs64",
            "ftruncate64",
            "futex_time64",
            "getegid32",
            "geteuid32",
            "getgid32",
            "getgroups32",
            "getresgid32",
            "getresuid32",
            "getuid32",
            "io_pgetevents_time64",
            "ipc",
            "lchown32",
            "lstat64",
            "mmap2",
            "mq_timedreceive_time64",
            "mq_timedsend_time64",
            "ppoll_time64",
            "pselect6_time64",
            "recv",
            "recvmmsg_time64",
            "riscv_hwprobe",
            "rt_sigtimedwait_time64",
            "sched_rr_get_interval_time64",
            "semtimedop_time64",
            "send",
            "sendfile64",
            "setfsgid32",
            "setfsuid32",
            "setgid32",
            "setgroups32",
            "setregid32",
            "setresgid32",
            "setresuid32",
            "setreuid32",
            "setuid32",
            "sigprocmask",
            "sigreturn",
            "socketcall",
            "stat64",
            "statfs64",
            "stime",
            "timer_gettime64",
            "timer_settime64",
            "timerfd_gettime64",
            "timerfd_settime64",
            "truncate64",
            "ugetrlimit",
            "umount",
            "utimensat_time64",
            "waitpid",
        ];
        let unresolved: Vec<_> = all_profile_names()
            .into_iter()
            .filter(|n| number(n).is_none())
            .collect();
        let mut expected = NOT_X86_64.to_vec();
        expected.sort_unstable();
        assert_eq!(unresolved, expected);
        assert_eq!(nr("removexattrat"), 466);
        assert_eq!(nr("read"), libc::SYS_read);
    }

    #[test]
    fn number_tables_are_consistent() {
        let mut seen = BTreeMap::new();
        let names = COMMON_NUMBERS
            .iter()
            .chain(ARCH_NUMBERS)
            .map(|(sys, nr)| (sys.strip_prefix("SYS_").unwrap(), *nr))
            .chain(EXTRA_NUMBERS.iter().copied());
        for (name, nr) in names {
            assert!(
                all_profile_names().contains(name),
                "{name} is not in the profile"
            );
            assert!(seen.insert(nr, name).is_none(), "{name}: number {nr} twice");
        }
    }

    #[test]
    fn actions_follow_the_profile() {
        let p = default_filter().unwrap();
        let no_args = [0; 6];
        for name in [
            "read",
            "execve",
            "getpid",
            "ptrace",
            "chroot",
            "setresuid",
            "capset",
            "prctl",
            "mseal",
        ] {
            assert_eq!(action(&p, name, no_args), ALLOWED, "{name}");
        }
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "bpf",
            "perf_event_open",
            "open_by_handle_at",
            "init_module",
            "finit_module",
            "delete_module",
            "reboot",
            "acct",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "clock_settime",
            "settimeofday",
            "syslog",
            "vhangup",
            "mbind",
            "fsopen",
            "open_tree",
            "sethostname",
            "lsm_list_modules",
        ] {
            assert_eq!(action(&p, name, no_args), DENIED, "{name}");
        }
        let arch = native();
        for nr in [
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_kexec_load,
            libc::SYS_io_uring_setup,
            libc::SYS_userfaultfd,
            libc::SYS_pivot_root,
            libc::SYS_swapon,
        ] {
            assert_eq!(run(&p, arch, nr, no_args), DENIED, "syscall {nr}");
        }
        #[cfg(target_arch = "x86_64")]
        {
            for name in ["arch_prctl", "modify_ldt", "open", "fork"] {
                assert_eq!(action(&p, name, no_args), ALLOWED, "{name}");
            }
            assert_eq!(action(&p, "iopl", no_args), DENIED);
            // x32 calls have bit 30 set: above every number, so ENOSYS.
            assert_eq!(run(&p, arch, 0x4000_0000 | libc::SYS_read, no_args), NOSYS);
        }
        // ENOSYS: clone3, and anything newer than the profile.
        assert_eq!(action(&p, "clone3", no_args), NOSYS);
        assert_eq!(run(&p, arch, 467, no_args), NOSYS);
        assert_eq!(run(&p, arch, 1000, no_args), NOSYS);
        // A foreign architecture (i386) is killed.
        assert_eq!(
            run(&p, 0x4000_0003, 1, no_args),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn argument_conditions() {
        let p = default_filter().unwrap();
        let arg0 = |v: u64| [v, 0, 0, 0, 0, 0];
        // socket: not AF_ALG (38) nor AF_VSOCK (40), judged on the int the kernel reads.
        for family in [1, 2, 10, 16, 17, 37, 39, 41, 45, 0xffff_ffff] {
            assert_eq!(
                action(&p, "socket", arg0(family)),
                ALLOWED,
                "family {family}"
            );
        }
        for family in [38, 40, 0x1_0000_0026, 0xffff_ffff_0000_0028] {
            assert_eq!(
                action(&p, "socket", arg0(family)),
                DENIED,
                "family {family:#x}"
            );
        }
        // personality: the five values.
        for persona in [0, 8, 0x2_0000, 0x2_0008, 0xffff_ffff] {
            assert_eq!(
                action(&p, "personality", arg0(persona)),
                ALLOWED,
                "{persona:#x}"
            );
        }
        for persona in [1, 0x40000, 0x0040_0000, 0x2_0001] {
            assert_eq!(
                action(&p, "personality", arg0(persona)),
                DENIED,
                "{persona:#x}"
            );
        }
        // clone: fork- and thread-style flags pass, any CLONE_NEW* flag does not.
        let sigchld = libc::SIGCHLD as u64;
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        for flags in [
            sigchld,
            thread,
            sigchld | (libc::CLONE_VFORK | libc::CLONE_VM) as u64,
        ] {
            assert_eq!(action(&p, "clone", arg0(flags)), ALLOWED, "{flags:#x}");
        }
        for flag in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWCGROUP,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
        ] {
            let flags = sigchld | flag as u64;
            assert_eq!(action(&p, "clone", arg0(flags)), DENIED, "{flags:#x}");
            assert_ne!(flag as u64 & CLONE_NEW_MASK, 0);
        }
    }

    /// Set in the environment of the re-executed test binary.
    const CHILD_ENV: &str = "CAIRN_SECCOMP_TEST_CHILD";
    const CHILD_TEST: &str = "helper::seccomp::tests::installed_filter_child";

    /// Runs [`installed_filter_child`] in a fresh process of this test binary: installing a
    /// filter cannot be undone, so not in this one.
    #[test]
    fn installed_filter() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping installed_filter: seccomp without no_new_privs needs root");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed") && stdout.contains("child: ok"),
            "child failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
    }

    /// The child half of [`installed_filter`]; does nothing in a normal test run.
    #[test]
    fn installed_filter_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let program = default_filter().unwrap();
        install(&program).unwrap();

        assert!(rustix::process::getpid().as_raw_nonzero().get() > 0);
        let err = sys::unshare(rustix::thread::UnshareFlags::NEWNS).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "unshare: {err}");
        // Without the filter this would fail with ENOENT.
        let err = rustix::mount::mount(
            "none",
            "/nonexistent-cairn-seccomp-test",
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .unwrap_err();
        assert_eq!(err, rustix::io::Errno::PERM, "mount");
        // glibc creates threads and spawns processes with clone3 first and falls back to
        // clone only on ENOSYS: both work only if clone3 gets ENOSYS and clone is allowed.
        assert_eq!(std::thread::spawn(|| 7).join().unwrap(), 7);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--list", "--exact", "no-such-test"])
            .env_remove(CHILD_ENV)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{status}");
        // The kernel reports filter mode on this thread (libtest's, not the main one), and
        // no no_new_privs.
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        assert_eq!(field("Seccomp"), Some("2"), "{status}");
        assert_eq!(field("NoNewPrivs"), Some("0"), "{status}");
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        println!("child: ok");
    }
}

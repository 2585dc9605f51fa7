//! Whether a foreign platform's programs can run here, and through what (issue 15).
//!
//! A RUN step for another architecture runs its programs through the kernel's `binfmt_misc`:
//! a handler registered for that architecture's ELF header hands each program to an emulator
//! (Debian's `qemu-user-static` registers one per architecture). Only a handler with the `F`
//! (fix-binary) flag works in a sandbox: the kernel opened its interpreter when it was
//! registered, so the step's root file system need not hold it. Anything else would run the
//! step natively — a silent wrong result — or fail with an `exec format error` that names no
//! cause, so a build checks first and says what is missing.
//!
//! The check is generic: the ELF header a static executable of the platform starts with is
//! matched against every enabled handler's magic and mask, as the kernel would match it. No
//! handler names are assumed.

use cairn_ir::Platform;
use std::path::{Path, PathBuf};

/// Where the kernel shows its handlers.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The Debian package that registers emulators for every architecture below.
pub const EMULATOR_PACKAGE: &str = "qemu-user-static";

/// A handler that runs the platform's programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    /// The handler's name (`qemu-aarch64`).
    pub handler: String,
    /// The program it hands them to.
    pub interpreter: PathBuf,
}

/// Why a platform's programs cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulationError {
    #[error(
        "cairn does not know the executable format of {platform} (known: {})",
        known()
    )]
    UnknownArchitecture { platform: String },
    #[error(
        "RUN steps for {platform} need an emulator: no binfmt_misc handler for its programs is \
         registered{} (install the Debian package {EMULATOR_PACKAGE})",
        if *.mounted { "" } else { " (binfmt_misc is not mounted and enabled at /proc/sys/fs/binfmt_misc)" }
    )]
    NoHandler { platform: String, mounted: bool },
    #[error(
        "RUN steps for {platform} need an emulator usable in a sandbox: the binfmt_misc handler \
         {handler} is registered without the F (fix-binary) flag, so its interpreter would be \
         looked for inside the step's file system (reinstall {EMULATOR_PACKAGE}, whose handlers \
         have it)"
    )]
    NotFixed { platform: String, handler: String },
    #[error(
        "RUN steps for {platform} cannot run here: cairn runs {host} programs (and other \
         architectures' {host} programs under emulation), not another operating system's"
    )]
    OtherOs { platform: String, host: String },
}

/// The executable format of each architecture known here (Go's names, as in image
/// platforms): (name, 64-bit, little-endian, ELF `e_machine`).
const ELF_FORMATS: &[(&str, bool, bool, u16)] = &[
    ("amd64", true, true, 62),
    ("arm64", true, true, 183),
    ("arm", false, true, 40),
    ("386", false, true, 3),
    ("ppc64le", true, true, 21),
    ("s390x", true, false, 22),
    ("riscv64", true, true, 243),
    ("mips64le", true, true, 8),
];

/// The names of [`ELF_FORMATS`], for messages.
fn known() -> String {
    let names: Vec<&str> = ELF_FORMATS.iter().map(|f| f.0).collect();
    names.join(", ")
}

/// The first 20 bytes of an executable of `platform` (ident, type, machine), if known.
fn elf_header(platform: &Platform) -> Option<[u8; 20]> {
    let &(_, wide, little, machine) = ELF_FORMATS.iter().find(|f| f.0 == platform.architecture)?;
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = if wide { 2 } else { 1 };
    h[5] = if little { 1 } else { 2 };
    h[6] = 1; // EI_VERSION
    let (e_type, e_machine) = if little {
        (2u16.to_le_bytes(), machine.to_le_bytes())
    } else {
        (2u16.to_be_bytes(), machine.to_be_bytes())
    };
    h[16..18].copy_from_slice(&e_type);
    h[18..20].copy_from_slice(&e_machine);
    Some(h)
}

/// One registered handler, as its file in `binfmt_misc` describes it.
#[derive(Debug, Default)]
struct Handler {
    enabled: bool,
    interpreter: PathBuf,
    flags: String,
    offset: usize,
    magic: Vec<u8>,
    mask: Option<Vec<u8>>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Handler {
    /// A handler file's text; `None` for an extension handler or one that does not parse.
    fn parse(text: &str) -> Option<Handler> {
        let mut h = Handler::default();
        for line in text.lines() {
            match line.split_once(' ') {
                None if line == "enabled" => h.enabled = true,
                Some(("interpreter", p)) => h.interpreter = PathBuf::from(p),
                Some(("flags:", f)) => h.flags = f.to_string(),
                Some(("offset", o)) => h.offset = o.parse().ok()?,
                Some(("magic", m)) => h.magic = unhex(m)?,
                Some(("mask", m)) => h.mask = Some(unhex(m)?),
                _ => {}
            }
        }
        (!h.magic.is_empty()).then_some(h)
    }

    /// Whether the kernel would give a file starting with `header` to this handler.
    fn matches(&self, header: &[u8]) -> bool {
        self.magic.iter().enumerate().all(|(i, m)| {
            // Magic past the header this check knows is not a match.
            let Some(byte) = header.get(self.offset + i) else {
                return false;
            };
            let mask = self
                .mask
                .as_ref()
                .map_or(0xff, |k| k.get(i).copied().unwrap_or(0xff));
            byte & mask == *m & mask
        })
    }
}

/// Whether programs of `platform` run natively here (its architecture is the host's). A
/// host's 32-bit relative (`386` on `amd64`) counts as foreign: the sandbox's seccomp filter
/// admits the native architecture's system calls only.
pub fn is_native(platform: &Platform) -> bool {
    platform.architecture == Platform::host().architecture
}

/// The emulator that runs `platform`'s programs, from the handlers in `dir` (normally
/// [`BINFMT_DIR`]). A native platform needs none: `Ok(None)`.
pub fn emulator_for(platform: &Platform, dir: &Path) -> Result<Option<Emulator>, EmulationError> {
    // Another operating system's programs (a windows/amd64 stage) are never run, emulated or
    // not: an amd64 Windows program is not an amd64 Linux one.
    let host = Platform::host();
    if platform.os != host.os {
        return Err(EmulationError::OtherOs {
            platform: platform.to_string(),
            host: host.os,
        });
    }
    if is_native(platform) {
        return Ok(None);
    }
    let shown = platform.to_string();
    let header = elf_header(platform).ok_or_else(|| EmulationError::UnknownArchitecture {
        platform: shown.clone(),
    })?;
    // binfmt_misc as a whole can be switched off (`status` reads `disabled`).
    let mounted = std::fs::read_to_string(dir.join("status")).is_ok_and(|t| t.trim() == "enabled");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "status" && n != "register")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut unfixed = None;
    for name in names.into_iter().filter(|_| mounted) {
        // A handler file is a few hundred bytes: one bounded read each.
        let Ok(text) = std::fs::read_to_string(dir.join(&name)) else {
            continue;
        };
        let Some(h) = Handler::parse(&text) else {
            continue;
        };
        if !h.enabled || !h.matches(&header) {
            continue;
        }
        if h.flags.contains('F') {
            return Ok(Some(Emulator {
                handler: name,
                interpreter: h.interpreter,
            }));
        }
        unfixed.get_or_insert(name);
    }
    Err(match unfixed {
        Some(handler) => EmulationError::NotFixed {
            platform: shown,
            handler,
        },
        None => EmulationError::NoHandler {
            platform: shown,
            mounted,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's qemu-user-static handler for aarch64, as the kernel shows it.
    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: PF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n\
        mask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn dir_with(handlers: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("status"), "enabled\n").expect("status");
        for (name, text) in handlers {
            std::fs::write(d.path().join(name), text).expect("handler");
        }
        d
    }

    fn arm64() -> Platform {
        Platform::parse("linux/arm64").expect("platform")
    }

    #[test]
    fn another_operating_systems_steps_never_run() {
        let d = dir_with(&[]);
        for p in ["windows/amd64", "darwin/arm64"] {
            let platform = Platform::parse(p).expect("platform");
            let e = emulator_for(&platform, d.path()).expect_err(p);
            assert!(matches!(e, EmulationError::OtherOs { .. }), "{p}: {e}");
            assert!(e.to_string().contains(p), "{e}");
        }
    }

    #[test]
    fn a_fixed_enabled_handler_for_the_architecture_is_found() {
        let d = dir_with(&[
            ("qemu-aarch64", AARCH64),
            (
                "python3.11",
                "enabled\ninterpreter /usr/bin/python3.11\nflags: \nextension .py\n",
            ),
        ]);
        assert_eq!(
            emulator_for(&arm64(), d.path()),
            Ok(Some(Emulator {
                handler: "qemu-aarch64".into(),
                interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
            }))
        );
        // Another architecture's handler does not serve it.
        let riscv = Platform::parse("linux/riscv64").expect("platform");
        assert!(matches!(
            emulator_for(&riscv, d.path()),
            Err(EmulationError::NoHandler { mounted: true, .. })
        ));
    }

    #[test]
    fn a_disabled_or_unfixed_handler_is_a_clear_error() {
        let d = dir_with(&[("qemu-aarch64", &AARCH64.replacen("enabled", "disabled", 1))]);
        let e = emulator_for(&arm64(), d.path()).expect_err("disabled");
        assert!(e.to_string().contains("qemu-user-static"), "{e}");
        assert!(e.to_string().contains("linux/arm64"), "{e}");
        let d = dir_with(&[("qemu-aarch64", &AARCH64.replace("flags: PF", "flags: P"))]);
        assert_eq!(
            emulator_for(&arm64(), d.path()),
            Err(EmulationError::NotFixed {
                platform: "linux/arm64".into(),
                handler: "qemu-aarch64".into()
            })
        );
    }

    #[test]
    fn nothing_mounted_says_so_and_the_native_platform_needs_nothing() {
        let empty = tempfile::tempdir().expect("tempdir");
        let e = emulator_for(&arm64(), empty.path()).expect_err("nothing there");
        assert!(e.to_string().contains("not mounted"), "{e}");
        // Switched off as a whole: its handlers do not count.
        let off = dir_with(&[("qemu-aarch64", AARCH64)]);
        std::fs::write(off.path().join("status"), "disabled\n").expect("status");
        assert!(matches!(
            emulator_for(&arm64(), off.path()),
            Err(EmulationError::NoHandler { mounted: false, .. })
        ));
        assert_eq!(emulator_for(&Platform::host(), empty.path()), Ok(None));
        let unknown = Platform::parse("linux/sparc64").expect("platform");
        assert!(matches!(
            emulator_for(&unknown, empty.path()),
            Err(EmulationError::UnknownArchitecture { .. })
        ));
    }

    #[test]
    fn the_headers_match_real_handlers_of_their_own_architecture_only() {
        // Each known foreign architecture's header against Debian's handler magic for it.
        let qemu: &[(&str, &str, &str)] = &[
            (
                "arm64",
                "7f454c460201010000000000000000000200b700",
                "ffffffffffffff00fffffffffffffffffeffffff",
            ),
            (
                "arm",
                "7f454c4601010100000000000000000002002800",
                "ffffffffffffff00fffffffffffffffffeffffff",
            ),
            (
                "s390x",
                "7f454c4602020100000000000000000000020016",
                "ffffffffffffff00fffffffffffffffffffeffff",
            ),
            (
                "riscv64",
                "7f454c460201010000000000000000000200f300",
                "ffffffffffffff00fffffffffffffffffeffffff",
            ),
        ];
        for (arch, magic, mask) in qemu {
            let h = Handler::parse(&format!(
                "enabled\ninterpreter /q\nflags: F\noffset 0\nmagic {magic}\nmask {mask}\n"
            ))
            .expect("parse");
            for (other, ..) in ELF_FORMATS {
                let p = Platform::parse(&format!("linux/{other}")).expect("platform");
                let header = elf_header(&p).expect("known");
                assert_eq!(
                    h.matches(&header),
                    other == arch,
                    "{arch} handler, {other} header"
                );
            }
        }
    }

    #[test]
    fn magic_beyond_the_known_header_never_matches() {
        // Zero magic under a zero mask at offset 40: the kernel would look at bytes this
        // check does not know, so it is no match (it would otherwise match everything).
        let h = Handler::parse("enabled\ninterpreter /q\nflags: F\noffset 40\nmagic 00\nmask 00\n")
            .expect("parse");
        assert!(!h.matches(&elf_header(&arm64()).expect("known")));
    }
}

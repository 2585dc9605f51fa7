//! Multi-platform builds (issue 15): what the machine must offer for them.
//!
//! `scripts/setup.sh` installs Debian's qemu-user-static (binfmt_misc handlers with the F
//! flag) and unpacks arm64's static busybox, the foreign base image of these tests.

use cairn_ir::Platform;
use cairn_sandbox::binfmt;
use std::path::PathBuf;

/// Where `scripts/setup.sh` unpacked arm64's busybox-static.
pub fn foreign_busybox_dir() -> PathBuf {
    std::env::var_os("CAIRN_FOREIGN_BUSYBOX_DIR").map_or_else(
        || PathBuf::from("/var/lib/cairn-test/busybox-arm64"),
        PathBuf::from,
    )
}

#[test]
fn this_machine_runs_arm64_programs_through_a_fixed_binfmt_handler() {
    let arm64 = Platform::parse("linux/arm64").expect("platform");
    let emulator = binfmt::emulator_for(&arm64, std::path::Path::new(binfmt::BINFMT_DIR))
        .unwrap_or_else(|e| panic!("{e} (scripts/setup.sh registers it)"))
        .expect("arm64 is foreign on this machine");
    assert!(
        emulator.interpreter.exists(),
        "{}",
        emulator.interpreter.display()
    );
    let busybox = foreign_busybox_dir().join("bin/busybox");
    let out = std::process::Command::new(&busybox)
        .args(["uname", "-m"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh unpacks it)", busybox.display()));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "aarch64");
}

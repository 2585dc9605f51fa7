//! Multi-platform builds (issue 15): what the machine must offer for them.
//!
//! `scripts/setup.sh` installs Debian's qemu-user-static (binfmt_misc handlers with the F
//! flag) and unpacks arm64's static busybox, the foreign base image of these tests.

use super::fixture::{Env, arm64_busybox_rootfs, busybox_rootfs, context, out_dir};
use crate::util::cairn;
use cairn_ir::Platform;
use cairn_sandbox::binfmt;
use std::path::{Path, PathBuf};

/// `cairn import --platform PLATFORM ROOTFS NAME` into `env`'s store.
fn import(env: &Env, platform: &str, rootfs: &Path, name: &str) {
    let out = cairn()
        .args(["import", "--platform", platform, "--root"])
        .arg(env.root())
        .arg(rootfs)
        .arg(name)
        .output()
        .expect("run cairn import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cairn inspect NAME`'s first image.
fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let out = cairn()
        .args(["inspect", "--root"])
        .arg(env.root())
        .arg(name)
        .output()
        .expect("run cairn inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v.get(0).cloned().unwrap_or_default()
}

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

/// A stage of another platform runs its steps under the emulator: `uname -m` says the stage's
/// machine, and the image is labelled with its platform.
#[test]
fn a_foreign_stage_runs_emulated() {
    let env = Env::new();
    import(
        &env,
        "linux/arm64",
        arm64_busybox_rootfs(),
        "busybox-arm64:latest",
    );
    let ctx = context(&[(
        "Dockerfile",
        "FROM --platform=linux/arm64 busybox-arm64\nRUN uname -m > /arch\n",
    )]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    env.build_ok(ctx.path(), &["-o", &dest, "-t", "emulated:1"]);
    let arch = std::fs::read_to_string(out.join("arch")).expect("arch");
    assert_eq!(arch.trim(), "aarch64");
    let v = inspect(&env, "emulated:1");
    assert_eq!(
        (&v["Os"], &v["Architecture"]),
        (&"linux".into(), &"arm64".into())
    );
}

/// Without an emulator for the stage's platform the step fails, naming the platform and the
/// package, and nothing of it runs natively. On amd64, Debian registers no handler for 386
/// programs (the kernel runs them itself, but the sandbox's seccomp filter admits only the
/// native calls): a 386 stage is such a platform.
#[test]
fn a_foreign_stage_without_an_emulator_is_a_clear_error() {
    let i386 = Platform::parse("linux/386").expect("platform");
    if Platform::host().architecture != "amd64" {
        panic!(
            "this test expects an amd64 machine (it is {})",
            Platform::host()
        );
    }
    assert!(
        binfmt::emulator_for(&i386, Path::new(binfmt::BINFMT_DIR)).is_err(),
        "this machine registers a 386 emulator: the test needs a platform without one"
    );
    let env = Env::new();
    import(&env, "linux/386", busybox_rootfs(), "old:1");
    let ctx = context(&[(
        "Dockerfile",
        "FROM --platform=linux/386 old:1\nRUN touch /ran\n",
    )]);
    let (_o, out) = out_dir();
    let dest = format!("type=local,dest={}", out.display());
    let b = env.build(ctx.path(), &["-o", &dest]);
    assert!(!b.success, "a 386 step ran without an emulator");
    assert!(b.stderr.contains("linux/386"), "{}", b.stderr);
    assert!(b.stderr.contains("qemu-user-static"), "{}", b.stderr);
    assert!(b.stderr.contains("RUN touch /ran"), "{}", b.stderr);
    assert!(!out.join("ran").exists());
}

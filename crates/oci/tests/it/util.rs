//! Building test trees: files with owners, modes, xattrs, devices and overlay marks.
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]
#![allow(dead_code)]

use cairn_store::{LayerRecord, Store};
use rustix::fs::{FileType, Mode};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn write(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, data).expect("write");
    p
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).expect("chown");
}

pub fn mknod(p: &Path, ft: FileType, major: u32, minor: u32) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        ft,
        Mode::from_raw_mode(0o644),
        rustix::fs::makedev(major, minor),
    )
    .expect("mknod");
}

pub fn whiteout(root: &Path, rel: &str) {
    mknod(&root.join(rel), FileType::CharacterDevice, 0, 0);
}

pub fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty()).expect("setxattr");
}

pub fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    rustix::fs::lgetxattr(p, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

pub fn opaque(p: &Path) {
    set_xattr(p, "trusted.overlay.opaque", b"y");
}

pub fn set_mtime(p: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("utimensat");
}

/// A tree exercising everything a layer can hold.
pub fn rich_tree(root: &Path) {
    write(root, "etc/hosts", b"127.0.0.1 localhost\n");
    let suid = write(root, "usr/bin/su", b"\x7fELF fake");
    chmod(&suid, 0o4755);
    let sgid = write(root, "usr/bin/wall", b"wall");
    chmod(&sgid, 0o2755);
    chown(&sgid, 0, 5);
    let ping = write(root, "usr/bin/ping", b"ping");
    set_xattr(
        &ping,
        "security.capability",
        &[
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    set_xattr(&ping, "user.note", b"hello\nworld");
    std::fs::create_dir_all(root.join("tmp")).expect("mkdir");
    chmod(&root.join("tmp"), 0o1777);
    let home = write(root, "home/user/.profile", b"export A=1\n");
    chown(&home, 1000, 1000);
    chown(&root.join("home/user"), 1000, 1000);
    symlink("../etc/hosts", root.join("usr/hosts-link")).expect("symlink");
    symlink("/nonexistent/absolute", root.join("dangling")).expect("symlink");
    std::fs::hard_link(root.join("etc/hosts"), root.join("usr/hosts-hard")).expect("link");
    std::fs::create_dir_all(root.join("dev")).expect("mkdir");
    mknod(&root.join("dev/null"), FileType::CharacterDevice, 1, 3);
    mknod(&root.join("dev/loop0"), FileType::BlockDevice, 7, 0);
    mknod(&root.join("dev/fifo"), FileType::Fifo, 0, 0);
    std::fs::create_dir_all(root.join("empty")).expect("mkdir");
    // Long paths: > 100 bytes (ustar prefix split) and > 255 (PAX path).
    let long_dir = format!("deep/{}", "d".repeat(90));
    write(root, &format!("{long_dir}/{}", "f".repeat(60)), b"long");
    write(
        root,
        &format!(
            "{}/{}/{}",
            "x".repeat(120),
            "y".repeat(120),
            "z".repeat(120)
        ),
        b"pax",
    );
    symlink("t".repeat(150), root.join("longlink")).expect("symlink");
    // Overlay marks.
    std::fs::create_dir_all(root.join("var")).expect("mkdir");
    whiteout(root, "var/gone");
    std::fs::create_dir_all(root.join("opq/sub")).expect("mkdir");
    write(root, "opq/keep", b"k");
    opaque(&root.join("opq"));
    set_mtime(&root.join("etc/hosts"), 1_600_000_000);
}

/// Commit `build`'s tree as a layer in `store`.
pub fn make_layer(store: &Store, build: impl FnOnce(&Path)) -> cairn_store::LayerId {
    let staging = store.staging().expect("staging");
    build(staging.upper());
    let id = cairn_oci::content_digest(staging.upper()).expect("digest");
    store
        .commit_layer(staging, &id, LayerRecord::default())
        .expect("commit");
    id
}

pub fn tar_listing(bytes: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .expect("entries")
        .map(|e| String::from_utf8_lossy(&e.expect("entry").path_bytes()).into_owned())
        .collect()
}

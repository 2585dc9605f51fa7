//! Hostile inputs are contained or refused with a clear error.

use super::fixture::{Env, context, out_dir};
use crate::util::cairn;

#[test]
fn context_symlink_pointing_outside_is_refused() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nCOPY link /x\n")]);
    std::os::unix::fs::symlink("/etc/passwd", c.path().join("link")).expect("symlink");
    let b = env.build(c.path(), &[]);
    assert!(
        !b.success,
        "copying a symlink to the host's /etc/passwd must fail"
    );
    assert!(b.stderr.contains("link"), "{}", b.stderr);
}

#[test]
fn symlink_inside_a_copied_dir_is_copied_as_a_link() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nCOPY d /d\n"), ("d/file", "x")]);
    std::os::unix::fs::symlink("/etc/passwd", c.path().join("d/link")).expect("symlink");
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    let target = std::fs::read_link(out.join("d/link")).expect("is a link");
    assert_eq!(target.to_string_lossy(), "/etc/passwd");
}

#[test]
fn copy_parent_path_is_refused() {
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nCOPY ../x /x\n")]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("outside the build context"),
        "{}",
        b.stderr
    );
}

/// A docker-archive whose layer holds `../escape`, `/abs`, and a symlink escape.
fn hostile_archive(dir: &std::path::Path) -> std::path::PathBuf {
    let mut layer = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        {
            let raw = h.as_old_mut();
            let bytes = name.as_bytes();
            raw.name[..bytes.len()].copy_from_slice(bytes);
            if let Some(l) = link {
                raw.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_cksum();
        layer.append(&h, data).expect("append");
    };
    add("ok.txt", tar::EntryType::Regular, None, b"fine");
    add("evil", tar::EntryType::Symlink, Some("/tmp"), b"");
    add(
        "evil/escaped-through-symlink",
        tar::EntryType::Regular,
        None,
        b"pwned",
    );
    add("../escaped-dotdot", tar::EntryType::Regular, None, b"pwned");
    let layer = layer.into_inner().expect("layer");
    super::fixture::docker_archive(dir, "hostile:latest", &[&layer])
}

#[test]
fn hostile_layer_tar_is_refused_and_writes_nothing_outside() {
    let env = Env::new();
    let t = tempfile::tempdir().expect("tempdir");
    let before: Vec<_> = std::fs::read_dir("/tmp")
        .expect("tmp")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    let archive = hostile_archive(t.path());
    let out = cairn()
        .args(["load", "--root"])
        .arg(env.root())
        .arg("-i")
        .arg(&archive)
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "a layer escaping its root must be refused"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("evil") || err.contains("escaped"),
        "the error names the entry: {err}"
    );
    assert!(!std::path::Path::new("/tmp/escaped-through-symlink").exists());
    assert!(!t.path().join("escaped-dotdot").exists());
    let after: Vec<_> = std::fs::read_dir("/tmp")
        .expect("tmp")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        !after
            .iter()
            .any(|n| n.to_string_lossy().contains("escaped") && !before.contains(n))
    );
    let images = cairn()
        .args(["images", "--root"])
        .arg(env.root())
        .output()
        .expect("images");
    assert!(
        !String::from_utf8_lossy(&images.stdout).contains("hostile"),
        "nothing half-imported is registered"
    );
}

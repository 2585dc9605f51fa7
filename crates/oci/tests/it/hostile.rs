//! Hand-crafted hostile layer tars: each must be rejected with an error naming the entry, and
//! nothing may appear outside the destination.
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]

use crate::util::TestResult;
use cairn_oci::unpack_layer;
use std::path::Path;
use tar::{EntryType, Header};

enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar with names written byte for byte (the tar crate's own setters refuse `..`).
fn craft(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = Header::new_ustar();
        let (name, link, ty, data): (&str, Option<&str>, EntryType, &[u8]) = match e {
            E::File(n, d) => (n, None, EntryType::Regular, d),
            E::Dir(n) => (n, None, EntryType::Directory, b""),
            E::Symlink(n, t) => (n, Some(t), EntryType::Symlink, b""),
            E::Hardlink(n, t) => (n, Some(t), EntryType::Link, b""),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_entry_type(ty);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish")
}

/// Unpack into `<tmp>/dest` and return the error text; `<tmp>` must contain nothing but
/// `dest` (and `outside`, a directory hostile entries aim at) afterwards, and `outside` must
/// stay empty.
fn reject(entries: &[E<'_>], expect_in_error: &str) -> TestResult {
    let t = tempfile::tempdir()?;
    let dest = t.path().join("dest");
    let outside = t.path().join("outside");
    std::fs::create_dir(&dest)?;
    std::fs::create_dir(&outside)?;
    let tar = craft(entries);
    let err = match unpack_layer(&tar[..], &dest) {
        Ok(_) => return Err("hostile tar was accepted".into()),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(expect_in_error),
        "error {err:?} should name {expect_in_error:?}"
    );
    let mut top: Vec<_> = std::fs::read_dir(t.path())?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    top.sort();
    assert_eq!(
        top,
        ["dest", "outside"],
        "something was written next to dest"
    );
    assert_eq!(
        std::fs::read_dir(&outside)?.count(),
        0,
        "outside was written"
    );
    Ok(())
}

fn outside_of(dest_parent_relative: &Path) -> String {
    dest_parent_relative.display().to_string()
}

#[test]
fn dotdot_is_rejected() -> TestResult {
    reject(&[E::File("../outside/x", b"pwned")], "../outside/x")?;
    reject(
        &[E::File("a/../../outside/x", b"pwned")],
        "a/../../outside/x",
    )?;
    reject(&[E::Dir("../outside/d/")], "../outside/d/")
}

#[test]
fn absolute_paths_are_rejected() -> TestResult {
    reject(
        &[E::File("/etc/cairn-test-pwned", b"x")],
        "/etc/cairn-test-pwned",
    )?;
    assert!(!Path::new("/etc/cairn-test-pwned").exists());
    Ok(())
}

#[test]
fn writing_through_a_symlink_is_rejected() -> TestResult {
    // `a -> /` then `a/<our tempdir>/outside/x`: a bug would write into our own tempdir only.
    let t = tempfile::tempdir()?;
    let probe = t.path().join("outside");
    std::fs::create_dir(&probe)?;
    let via_root = format!("a{}/x", outside_of(&probe));
    let tar = craft(&[E::Symlink("a", "/"), E::File(&via_root, b"pwned")]);
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest)?;
    let err = unpack_layer(&tar[..], &dest).err().ok_or("accepted")?;
    assert!(err.to_string().contains(&via_root), "{err}");
    assert!(!probe.join("x").exists());

    // Relative symlink out of the layer, then a file and a dir through it.
    reject(
        &[E::Symlink("l", "../outside"), E::File("l/x", b"pwned")],
        "l/x",
    )?;
    reject(&[E::Symlink("l", "../outside"), E::Dir("l/d/")], "l/d/")?;
    // A chain: a -> b, b -> ../outside.
    reject(
        &[
            E::Symlink("b", "../outside"),
            E::Symlink("a", "b"),
            E::File("a/x", b"pwned"),
        ],
        "a/x",
    )?;
    // Whiteouts and opaque markers through a symlink.
    reject(
        &[E::Symlink("l", "../outside"), E::File("l/.wh.x", b"")],
        "l/.wh.x",
    )?;
    reject(
        &[
            E::Symlink("l", "../outside"),
            E::File("l/.wh..wh..opq", b""),
        ],
        "l/.wh..wh..opq",
    )
}

#[test]
fn hardlinks_must_stay_inside_the_layer() -> TestResult {
    reject(&[E::Hardlink("passwd", "/etc/passwd")], "passwd")?;
    reject(&[E::Hardlink("x", "../outside/y")], "x")?;
    // Inside the layer but never extracted (it would be whatever dest already held).
    reject(&[E::Hardlink("x", "etc/passwd")], "etc/passwd")?;
    // Through a symlink to outside.
    reject(
        &[E::Symlink("l", "../outside"), E::Hardlink("x", "l/y")],
        "l/y",
    )?;
    // A link to a directory.
    reject(&[E::Dir("d/"), E::Hardlink("x", "d")], "x")
}

#[test]
fn symlinks_are_data_and_can_be_replaced_by_directories() -> TestResult {
    let t = tempfile::tempdir()?;
    let dest = t.path().join("dest");
    let outside = t.path().join("outside");
    std::fs::create_dir(&dest)?;
    std::fs::create_dir(&outside)?;
    let tar = craft(&[
        E::Symlink("abs", "/etc/shadow"),
        E::Symlink("a", "../outside"),
        E::Dir("a/"),
        E::File("a/f", b"inside"),
        E::File("f", b"1"),
        E::Hardlink("g", "f"),
    ]);
    unpack_layer(&tar[..], &dest)?;
    assert_eq!(
        std::fs::read_link(dest.join("abs"))?.to_str(),
        Some("/etc/shadow")
    );
    assert!(std::fs::symlink_metadata(dest.join("a"))?.is_dir());
    assert_eq!(std::fs::read(dest.join("a/f"))?, b"inside");
    assert_eq!(std::fs::read_dir(&outside)?.count(), 0);
    assert_eq!(std::fs::read(dest.join("g"))?, b"1");
    Ok(())
}

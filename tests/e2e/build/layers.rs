//! Layer stacks that repeat a layer: two results with the same content share one layer
//! directory, which must not reach overlayfs twice (it refuses: ELOOP).

use super::fixture::{Env, context, docker_archive, out_dir};
use crate::util::cairn;

/// A layer tar with one regular file.
fn layer_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, name, content).expect("append");
    b.into_inner().expect("layer")
}

/// A tar of the busybox rootfs (the base layer of the archive images).
fn busybox_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", super::fixture::busybox_rootfs())
        .expect("tar busybox");
    b.into_inner().expect("layer")
}

#[test]
fn identical_run_results_in_a_row() {
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN true\nRUN true\nRUN true\nRUN echo hi > /hi\n",
    )]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[
            "--no-cache",
            &format!("--output=type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(std::fs::read_to_string(out.join("hi")).expect("hi"), "hi\n");
}

#[test]
fn identical_copies_in_a_row() {
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY a.txt /x\nCOPY a.txt /x\nRUN cat /x > /y\n\
             FROM busybox AS two\nCOPY a.txt /x\nRUN true\nCOPY a.txt /x\nRUN cat /x > /z\n\
             FROM busybox\nCOPY --from=0 /y /y\nCOPY --from=two /z /z\n\
             RUN --mount=from=two,target=/m cat /m/x > /w\n",
        ),
        ("a.txt", "A\n"),
    ]);
    let (_t, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    for f in ["y", "z", "w"] {
        assert_eq!(std::fs::read_to_string(out.join(f)).expect(f), "A\n", "{f}");
    }
}

#[test]
fn a_base_image_that_repeats_a_layer() {
    let env = Env::empty();
    let t = tempfile::tempdir().expect("tempdir");
    let base = busybox_layer();
    let a = layer_with("a.txt", b"first\n");
    let b = layer_with("a.txt", b"second\n");
    // base, a, b, a: the file reads "first" (the topmost layer decides).
    let archive = docker_archive(t.path(), "repeat:latest", &[&base, &a, &b, &a]);
    let load = cairn()
        .args(["load", "--root"])
        .arg(env.root())
        .arg("-i")
        .arg(&archive)
        .output()
        .expect("load");
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let c = context(&[(
        "Dockerfile",
        "FROM repeat\nRUN cat /a.txt > /seen\n\
         FROM repeat\nCOPY --from=0 /seen /seen\n\
         RUN --mount=from=repeat,target=/m cat /m/a.txt > /mounted\n",
    )]);
    let (_t2, out) = out_dir();
    env.build_ok(
        c.path(),
        &[&format!("--output=type=local,dest={}", out.display())],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("seen")).expect("seen"),
        "first\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("mounted")).expect("mounted"),
        "first\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("a.txt")).expect("a.txt"),
        "first\n"
    );
}

//! Behaviour tests for `cairn_fileop::apply`, mirroring `docker build` (BuildKit) results.
//! They run as root (chown must work), each in its own temporary root and context.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use cairn_fileop::{Error, Source, apply, apply_with};
use cairn_ir::{CopyAction, FileAction, Owner};

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ctx: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let ctx = tmp.path().join("ctx");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&ctx).unwrap();
    Env {
        _tmp: tmp,
        root,
        ctx,
    }
}

impl Env {
    fn run(&self, actions: Vec<FileAction>) -> Result<(), Error> {
        apply_with(&self.root, &[Source::context(&self.ctx)], &actions)
    }
    fn copy(&self, a: CopyAction) -> Result<(), Error> {
        self.run(vec![FileAction::Copy(a)])
    }
    fn r(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }
    fn c(&self, p: &str) -> PathBuf {
        self.ctx.join(p.trim_start_matches('/'))
    }
}

fn write(p: &Path, data: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn ids(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn set_mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// A COPY as the Dockerfile frontend lowers it.
fn cp(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        source: 0,
        src: src.into(),
        dest: dest.into(),
        follow_symlinks: true,
        dir_contents_only: true,
        allow_wildcard: true,
        allow_empty_wildcard: true,
        create_dest_path: true,
        owner: None,
        mode: None,
        include: vec![],
        exclude: vec![],
        unpack_archive: false,
        parents: false,
    }
}

fn context_tree(e: &Env) {
    write(&e.c("a.txt"), "A");
    write(&e.c("dir/b.txt"), "B");
    write(&e.c("dir/sub/c.txt"), "C");
    write(&e.c("x.md"), "X");
    write(&e.c("y.md"), "Y");
}

// ---------------------------------------------------------------------------------------------
// COPY

#[test]
fn copy_table() {
    struct Case {
        name: &'static str,
        src: &'static str,
        dest: &'static str,
        pre_dirs: &'static [&'static str],
        expect: &'static [(&'static str, &'static str)],
        absent: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "file to file",
            src: "/a.txt",
            dest: "/out.txt",
            pre_dirs: &[],
            expect: &[("/out.txt", "A")],
            absent: &["/a.txt"],
        },
        Case {
            name: "file to new dir/",
            src: "/a.txt",
            dest: "/d/e/",
            pre_dirs: &[],
            expect: &[("/d/e/a.txt", "A")],
            absent: &[],
        },
        Case {
            name: "file to existing dir without slash",
            src: "/a.txt",
            dest: "/exist",
            pre_dirs: &["/exist"],
            expect: &[("/exist/a.txt", "A")],
            absent: &[],
        },
        Case {
            name: "file into missing parents",
            src: "/a.txt",
            dest: "/p/q/r.txt",
            pre_dirs: &[],
            expect: &[("/p/q/r.txt", "A")],
            absent: &[],
        },
        Case {
            name: "dir copies its contents",
            src: "/dir",
            dest: "/app",
            pre_dirs: &[],
            expect: &[("/app/b.txt", "B"), ("/app/sub/c.txt", "C")],
            absent: &["/app/dir"],
        },
        Case {
            name: "dir contents into existing dir/",
            src: "/dir/",
            dest: "/app/",
            pre_dirs: &["/app"],
            expect: &[("/app/b.txt", "B"), ("/app/sub/c.txt", "C")],
            absent: &["/app/dir"],
        },
        Case {
            name: "wildcard with several matches",
            src: "/*.md",
            dest: "/docs/",
            pre_dirs: &[],
            expect: &[("/docs/x.md", "X"), ("/docs/y.md", "Y")],
            absent: &["/docs/a.txt"],
        },
        Case {
            name: "wildcard matching a directory copies its contents",
            src: "/di?",
            dest: "/w/",
            pre_dirs: &[],
            expect: &[("/w/b.txt", "B"), ("/w/sub/c.txt", "C")],
            absent: &["/w/dir"],
        },
        Case {
            name: "whole context",
            src: "/",
            dest: "/all/",
            pre_dirs: &[],
            expect: &[("/all/a.txt", "A"), ("/all/dir/sub/c.txt", "C")],
            absent: &[],
        },
        Case {
            name: "dest is root",
            src: "/dir",
            dest: "/",
            pre_dirs: &[],
            expect: &[("/b.txt", "B"), ("/sub/c.txt", "C")],
            absent: &[],
        },
    ];
    for case in cases {
        let e = env();
        context_tree(&e);
        for d in case.pre_dirs {
            fs::create_dir_all(e.r(d)).unwrap();
        }
        e.copy(cp(case.src, case.dest))
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        for (p, content) in case.expect {
            assert_eq!(read(&e.r(p)), *content, "{}: {p}", case.name);
        }
        for p in case.absent {
            assert!(!e.r(p).exists(), "{}: {p} should not exist", case.name);
        }
    }
}

#[test]
fn overwrites_files_but_not_directories() {
    let e = env();
    context_tree(&e);
    write(&e.r("out.txt"), "old");
    e.copy(cp("/a.txt", "/out.txt")).unwrap();
    assert_eq!(read(&e.r("out.txt")), "A");
    fs::create_dir_all(e.r("app/b.txt")).unwrap();
    let err = e.copy(cp("/dir", "/app")).unwrap_err();
    assert!(matches!(err, Error::IsADirectory { .. }), "{err}");
}

#[test]
fn empty_and_missing_sources() {
    let e = env();
    context_tree(&e);
    e.copy(cp("/*.none", "/o/")).unwrap();
    assert!(
        !e.r("o").exists(),
        "an empty wildcard copies (and creates) nothing"
    );

    let mut strict = cp("/*.none", "/o/");
    strict.allow_empty_wildcard = false;
    let err = e.copy(strict).unwrap_err().to_string();
    assert!(err.contains("no source files were specified"), "{err}");

    let err = e.copy(cp("/app/x", "/o/")).unwrap_err();
    assert_eq!(err.to_string(), "\"/app/x\": not found");
    let err = e.copy(cp("/nodir/*.txt", "/o/")).unwrap_err();
    assert!(
        matches!(err, Error::SourceNotFound { ref path, .. } if path == "nodir"),
        "{err}"
    );

    let mut other = cp("/a.txt", "/o/");
    other.source = 3;
    assert!(matches!(
        e.copy(other).unwrap_err(),
        Error::MissingInput {
            input: 3,
            available: 1
        }
    ));
}

#[test]
fn several_files_need_a_directory_dest() {
    let e = env();
    context_tree(&e);
    let err = e.copy(cp("/*.md", "/one")).unwrap_err();
    assert!(matches!(err, Error::DestNotDirectory { .. }), "{err}");
    // Directories merge, as in docker (`ADD dir* /5`).
    write(&e.c("dir2/z.txt"), "Z");
    e.copy(cp("/dir*", "/merged")).unwrap();
    assert_eq!(read(&e.r("merged/b.txt")), "B");
    assert_eq!(read(&e.r("merged/z.txt")), "Z");
}

#[test]
fn create_dest_path_off_requires_parent() {
    let e = env();
    context_tree(&e);
    let mut a = cp("/a.txt", "/missing/f");
    a.create_dest_path = false;
    assert!(matches!(e.copy(a).unwrap_err(), Error::Io { .. }));
}

fn passwd(e: &Env) {
    write(
        &e.r("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    );
    write(&e.r("etc/group"), "root:x:0:\nstaff:x:50:\napp:x:1001:\n");
}

#[test]
fn chown_names_ids_and_errors() {
    let cases: [(&str, (u32, u32)); 5] = [
        ("app", (1000, 1001)),
        ("app:staff", (1000, 50)),
        ("1234", (1234, 1234)),
        ("1234:5", (1234, 5)),
        ("0:app", (0, 1001)),
    ];
    for (spec, want) in cases {
        let e = env();
        context_tree(&e);
        passwd(&e);
        let mut a = cp("/dir", "/new/app/");
        a.owner = Some(Owner::parse(spec));
        e.copy(a).unwrap();
        for p in [
            "/new",
            "/new/app",
            "/new/app/b.txt",
            "/new/app/sub",
            "/new/app/sub/c.txt",
        ] {
            assert_eq!(ids(&e.r(p)), want, "--chown={spec}: {p}");
        }
    }
    let e = env();
    context_tree(&e);
    passwd(&e);
    let mut a = cp("/a.txt", "/x");
    a.owner = Some(Owner::parse("ghost"));
    assert_eq!(
        e.copy(a).unwrap_err().to_string(),
        "failed to resolve user \"ghost\": no such user in /etc/passwd"
    );
    let mut a = cp("/a.txt", "/x");
    a.owner = Some(Owner::parse("app:ghosts"));
    assert_eq!(
        e.copy(a).unwrap_err().to_string(),
        "failed to resolve group \"ghosts\": no such group in /etc/group"
    );
}

#[test]
fn ownership_without_chown() {
    let e = env();
    context_tree(&e);
    lchown(e.c("a.txt"), Some(1234), Some(4321)).unwrap();
    // The build context is copied as root...
    e.copy(cp("/a.txt", "/ctx.txt")).unwrap();
    assert_eq!(ids(&e.r("ctx.txt")), (0, 0));
    // ...another stage keeps its owners (BuildKit file op).
    apply(
        &e.root,
        std::slice::from_ref(&e.ctx),
        &[FileAction::Copy(cp("/a.txt", "/stage.txt"))],
    )
    .unwrap();
    assert_eq!(ids(&e.r("stage.txt")), (1234, 4321));
}

#[test]
fn chmod_octal_and_symbolic() {
    let e = env();
    context_tree(&e);
    set_mode(&e.c("a.txt"), 0o640);
    set_mode(&e.c("dir/sub"), 0o700);
    fs::create_dir(e.r("existing")).unwrap();
    set_mode(&e.r("existing"), 0o711);

    let mut a = cp("/dir", "/existing");
    a.mode = Some("750".into());
    e.copy(a).unwrap();
    assert_eq!(
        mode(&e.r("existing")),
        0o711,
        "an existing destination keeps its mode"
    );
    assert_eq!(mode(&e.r("existing/b.txt")), 0o750);
    assert_eq!(
        mode(&e.r("existing/sub")),
        0o750,
        "--chmod applies to copied directories"
    );

    let mut a = cp("/a.txt", "/sym.txt");
    a.mode = Some("u+x,g-r".into());
    e.copy(a).unwrap();
    assert_eq!(mode(&e.r("sym.txt")), 0o700);

    let mut a = cp("/dir", "/capx");
    a.mode = Some("a+X".into());
    e.copy(a).unwrap();
    assert_eq!(mode(&e.r("capx/b.txt")), 0o644);
    assert_eq!(mode(&e.r("capx/sub")), 0o711);

    let mut a = cp("/a.txt", "/bad");
    a.mode = Some("rwx".into());
    assert!(matches!(e.copy(a).unwrap_err(), Error::InvalidMode { .. }));

    // Without --chmod the source mode is kept.
    e.copy(cp("/a.txt", "/plain.txt")).unwrap();
    assert_eq!(mode(&e.r("plain.txt")), 0o640);
}

#[test]
fn exclude_is_relative_to_each_copied_source() {
    // The cases of BuildKit's testExcludedFilesOnCopy.
    let e = env();
    for (p, c) in [
        ("dir1/file-101.png", "2"),
        ("dir1/file-102.txt", "3"),
        ("dir1/file-103.jpeg", "4"),
        ("dir2/file-201.pdf", "6"),
        ("dir2/file-202.jpeg", "7"),
        ("dir2/file-203.png", "8"),
        ("dir3/file-301.mp3", "9"),
        ("dir3/file-302.mpeg", "10"),
    ] {
        write(&e.c(p), c);
    }
    let ex = |a: &mut CopyAction, pats: &[&str]| {
        a.exclude = pats.iter().map(|s| s.to_string()).collect()
    };

    let mut a = cp("/", "/1");
    ex(&mut a, &["*/*.png", "*/*.jpeg"]);
    e.copy(a).unwrap();
    assert!(!e.r("1/dir1/file-101.png").exists());
    assert_eq!(read(&e.r("1/dir1/file-102.txt")), "3");
    assert!(!e.r("1/dir2/file-202.jpeg").exists());
    assert_eq!(read(&e.r("1/dir3/file-301.mp3")), "9");

    let mut a = cp("/dir3/", "/3/");
    ex(&mut a, &["*.mp3"]);
    e.copy(a).unwrap();
    assert!(!e.r("3/file-301.mp3").exists());
    assert_eq!(read(&e.r("3/file-302.mpeg")), "10");

    let mut a = cp("/dir*", "/4/");
    ex(&mut a, &["*.mp3", "*.jpeg", "*.png", "*.pdf", "*.txt"]);
    e.copy(a).unwrap();
    let left: Vec<_> = fs::read_dir(e.r("4"))
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(left, vec!["file-302.mpeg"]);

    let mut a = cp("/dir*", "/6");
    ex(&mut a, &["*"]);
    e.copy(a).unwrap();
    assert_eq!(
        fs::read_dir(e.r("6")).unwrap().count(),
        0,
        "all excluded: an empty /6"
    );

    // A `!` re-inclusion reaches into an excluded directory.
    let mut a = cp("/", "/7");
    ex(&mut a, &["dir2", "!dir2/file-201.pdf"]);
    e.copy(a).unwrap();
    assert_eq!(read(&e.r("7/dir2/file-201.pdf")), "6");
    assert!(!e.r("7/dir2/file-202.jpeg").exists());

    let mut a = cp("/", "/8");
    ex(&mut a, &["!"]);
    assert!(matches!(
        e.copy(a).unwrap_err(),
        Error::InvalidPattern { .. }
    ));
}

#[test]
fn parents_keep_the_source_path() {
    let e = env();
    write(&e.c("a/b/file"), "F");
    write(&e.c("a/b/other"), "O");
    write(&e.c("p1/pkg.json"), "1");
    write(&e.c("p2/pkg.json"), "2");
    write(&e.c("p2/skip.txt"), "s");
    write(&e.c("x/y/z.txt"), "Z");
    set_mode(&e.c("a/b"), 0o750);

    let mut a = cp("/a/b/file", "/dst/");
    a.parents = true;
    e.copy(a).unwrap();
    assert_eq!(read(&e.r("dst/a/b/file")), "F");
    assert!(!e.r("dst/a/b/other").exists());
    assert_eq!(
        mode(&e.r("dst/a/b")),
        0o750,
        "parent directories take the source's metadata"
    );

    let mut a = cp("/*/pkg.json", "/w/");
    a.parents = true;
    e.copy(a).unwrap();
    assert_eq!(read(&e.r("w/p1/pkg.json")), "1");
    assert_eq!(read(&e.r("w/p2/pkg.json")), "2");
    assert!(!e.r("w/p2/skip.txt").exists());
    assert!(!e.r("w/a").exists());

    let mut a = cp("/x/./y/z.txt", "/pv/");
    a.parents = true;
    e.copy(a).unwrap();
    assert_eq!(read(&e.r("pv/y/z.txt")), "Z");
    assert!(!e.r("pv/x").exists());

    let mut a = cp("/a/nope", "/dst/");
    a.parents = true;
    assert!(matches!(
        e.copy(a).unwrap_err(),
        Error::SourceNotFound { .. }
    ));
}

#[test]
fn follow_symlinks_only_for_the_named_source() {
    let e = env();
    context_tree(&e);
    symlink("a.txt", e.c("link.txt")).unwrap();
    symlink("dir", e.c("linkdir")).unwrap();
    symlink("/etc/passwd", e.c("dir/abs")).unwrap();
    symlink("../../../outside", e.c("dir/rel")).unwrap();

    e.copy(cp("/link.txt", "/f.txt")).unwrap();
    assert!(fs::symlink_metadata(e.r("f.txt")).unwrap().is_file());
    assert_eq!(read(&e.r("f.txt")), "A");

    e.copy(cp("/linkdir", "/ld")).unwrap();
    assert_eq!(read(&e.r("ld/b.txt")), "B");
    // Links inside a copied tree are copied as links, targets untouched.
    assert_eq!(
        fs::read_link(e.r("ld/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(e.r("ld/rel")).unwrap(),
        Path::new("../../../outside")
    );

    let mut a = cp("/link.txt", "/nf");
    a.follow_symlinks = false;
    e.copy(a).unwrap();
    assert_eq!(fs::read_link(e.r("nf")).unwrap(), Path::new("a.txt"));

    // A named link out of the source root is resolved inside it, never on the host.
    symlink("/etc/passwd", e.c("evil")).unwrap();
    let err = e.copy(cp("/evil", "/stolen")).unwrap_err();
    assert!(matches!(err, Error::SourceNotFound { .. }), "{err}");
    write(&e.c("etc/passwd"), "ctx-passwd");
    e.copy(cp("/evil", "/stolen")).unwrap();
    assert_eq!(read(&e.r("stolen")), "ctx-passwd");
}

#[test]
fn hardlinks_mtimes_and_xattrs() {
    let e = env();
    write(&e.c("d/one"), "same");
    fs::hard_link(e.c("d/one"), e.c("d/two")).unwrap();
    let when = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 1_000_000,
            tv_nsec: 5,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 1_234_567,
            tv_nsec: 89,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        e.c("d/one"),
        &when,
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    let xattrs = rustix::fs::lsetxattr(
        e.c("d/one"),
        "user.cairn",
        b"v",
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();
    let overlay = rustix::fs::lsetxattr(
        e.c("d/one"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();

    e.copy(cp("/d", "/o")).unwrap();
    let (one, two) = (
        fs::metadata(e.r("o/one")).unwrap(),
        fs::metadata(e.r("o/two")).unwrap(),
    );
    assert_eq!(one.ino(), two.ino(), "hardlinks stay hardlinks");
    assert_ne!(one.ino(), fs::metadata(e.c("d/one")).unwrap().ino());
    assert_eq!((one.mtime(), one.mtime_nsec()), (1_234_567, 89));
    if xattrs {
        let mut buf = [0u8; 8];
        let n = rustix::fs::lgetxattr(e.r("o/one"), "user.cairn", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"v");
    }
    if overlay {
        let mut buf = [0u8; 8];
        assert!(
            rustix::fs::lgetxattr(e.r("o/one"), "trusted.overlay.opaque", &mut buf[..]).is_err()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// ADD archives

fn tar_of(files: &[(&str, &str, u32)], dirs: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o750);
        h.set_uid(7);
        h.set_gid(8);
        h.set_size(0);
        h.set_mtime(1_000);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    for (name, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(7);
        h.set_gid(8);
        h.set_size(data.len() as u64);
        h.set_mtime(2_000);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A tar whose raw entry names and link targets are written as given (no validation).
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data.as_bytes());
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn add(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        unpack_archive: true,
        ..cp(src, dest)
    }
}

#[test]
fn unpacks_every_compression() {
    let plain = tar_of(&[("top.txt", "T", 0o640), ("d/in.txt", "I", 0o600)], &["d"]);
    let gz = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(&plain).unwrap();
        w.finish().unwrap()
    };
    let bz = {
        let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        w.write_all(&plain).unwrap();
        w.finish().unwrap()
    };
    let xz = {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut &plain[..], &mut out).unwrap();
        out
    };
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    // Names deliberately say nothing: detection is by content.
    for (name, bytes) in [("p", plain), ("g", gz), ("b", bz), ("x", xz), ("z", zst)] {
        let e = env();
        fs::write(e.c(name), &bytes).unwrap();
        e.copy(add(&format!("/{name}"), "/out"))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(read(&e.r("out/top.txt")), "T", "{name}");
        assert_eq!(read(&e.r("out/d/in.txt")), "I", "{name}");
        assert_eq!(mode(&e.r("out/top.txt")), 0o640, "{name}");
        assert_eq!(mode(&e.r("out/d")), 0o750, "{name}");
        assert_eq!(
            ids(&e.r("out/d/in.txt")),
            (7, 8),
            "{name}: owner from the header"
        );
        assert_eq!(fs::metadata(e.r("out/d")).unwrap().mtime(), 1_000, "{name}");
        assert_eq!(
            fs::metadata(e.r("out/top.txt")).unwrap().mtime(),
            2_000,
            "{name}"
        );
    }
}

#[test]
fn unpack_chown_and_non_archives() {
    let e = env();
    passwd(&e);
    fs::write(e.c("t.tar"), tar_of(&[("f", "F", 0o644)], &[])).unwrap();
    let mut a = add("/t.tar", "/o/");
    a.owner = Some(Owner::parse("app"));
    e.copy(a).unwrap();
    assert_eq!(ids(&e.r("o/f")), (1000, 1001));

    // gzip of something that is not a tar, and a text file named like an archive: copied.
    let gz = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(b"just text").unwrap();
        w.finish().unwrap()
    };
    fs::write(e.c("notar.gz"), &gz).unwrap();
    fs::write(e.c("fake.tar.gz"), "hello").unwrap();
    e.copy(add("/notar.gz", "/c/")).unwrap();
    assert_eq!(fs::read(e.r("c/notar.gz")).unwrap(), gz);
    e.copy(add("/fake.tar.gz", "/c/")).unwrap();
    assert_eq!(read(&e.r("c/fake.tar.gz")), "hello");

    // COPY never unpacks.
    e.copy(cp("/t.tar", "/c/")).unwrap();
    assert!(e.r("c/t.tar").is_file());
}

#[test]
fn unpack_is_confined() {
    use tar::EntryType::{Link, Regular, Symlink};
    let e = env();
    fs::write(e.c("up.tar"), raw_tar(&[("../evil", Regular, "", "x")])).unwrap();
    let err = e.copy(add("/up.tar", "/x/")).unwrap_err();
    assert!(matches!(err, Error::Archive { .. }), "{err}");
    assert!(!e.root.parent().unwrap().join("evil").exists());

    let e = env();
    fs::write(
        e.c("links.tar"),
        raw_tar(&[
            ("etclink", Symlink, "/etc", ""),
            ("etclink/passwd", Regular, "", "owned"),
            ("uplink", Symlink, "../../../..", ""),
            ("uplink/esc.txt", Regular, "", "esc"),
            ("/abs.txt", Regular, "", "abs"),
            ("hl", Link, "abs.txt", ""),
        ]),
    )
    .unwrap();
    e.copy(add("/links.tar", "/x/")).unwrap();
    assert_eq!(
        read(&e.r("x/etc/passwd")),
        "owned",
        "absolute link re-rooted at the destination"
    );
    assert!(!e.r("etc").exists());
    assert_eq!(
        read(&e.r("x/esc.txt")),
        "esc",
        ".. stops at the destination"
    );
    assert_eq!(read(&e.r("x/abs.txt")), "abs");
    assert_eq!(
        fs::metadata(e.r("x/hl")).unwrap().ino(),
        fs::metadata(e.r("x/abs.txt")).unwrap().ino()
    );

    let e = env();
    fs::write(e.c("hl.tar"), raw_tar(&[("hl", Link, "../../host", "")])).unwrap();
    assert!(matches!(
        e.copy(add("/hl.tar", "/x/")).unwrap_err(),
        Error::Archive { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// Mkdir / Mkfile / Rm / Symlink

fn mkdir(path: &str, mode: u32, make_parents: bool, owner: Option<&str>) -> FileAction {
    FileAction::Mkdir {
        path: path.into(),
        mode,
        make_parents,
        owner: owner.map(Owner::parse),
    }
}

#[test]
fn mkdir_action() {
    let e = env();
    passwd(&e);
    e.run(vec![mkdir("/a/b/c", 0o750, true, Some("app"))])
        .unwrap();
    for p in ["a", "a/b", "a/b/c"] {
        assert_eq!(mode(&e.r(p)), 0o750, "{p}");
        assert_eq!(ids(&e.r(p)), (1000, 1001), "{p}");
    }
    // Existing: untouched, no error.
    e.run(vec![
        mkdir("/a/b", 0o700, false, None),
        mkdir("/a", 0o700, true, None),
    ])
    .unwrap();
    assert_eq!(mode(&e.r("a/b")), 0o750);
    // Missing parent without make_parents.
    assert!(e.run(vec![mkdir("/m/n", 0o755, false, None)]).is_err());
    // A file in the way.
    write(&e.r("file"), "f");
    assert!(matches!(
        e.run(vec![mkdir("/file/sub", 0o755, true, None)])
            .unwrap_err(),
        Error::NotADirectory { .. }
    ));
    // WORKDIR through a link.
    fs::create_dir(e.r("real")).unwrap();
    symlink("/real", e.r("wd")).unwrap();
    e.run(vec![mkdir("/wd/inner", 0o755, true, None)]).unwrap();
    assert!(e.r("real/inner").is_dir());
}

#[test]
fn mkfile_action() {
    let e = env();
    passwd(&e);
    let mk = |path: &str, data: &str, owner: Option<&str>| FileAction::Mkfile {
        path: path.into(),
        mode: 0o600,
        data: data.as_bytes().to_vec(),
        owner: owner.map(Owner::parse),
    };
    e.run(vec![mk("/new/dir/f", "hello", Some("app"))]).unwrap();
    assert_eq!(read(&e.r("new/dir/f")), "hello");
    assert_eq!(mode(&e.r("new/dir/f")), 0o600);
    assert_eq!(ids(&e.r("new/dir/f")), (1000, 1001));
    e.run(vec![mk("/new/dir/f", "again", None)]).unwrap();
    assert_eq!(read(&e.r("new/dir/f")), "again");
    let leftovers = fs::read_dir(e.r("new/dir")).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left behind");
    // A link at the path is followed inside the root.
    write(&e.r("etc/motd"), "old");
    symlink("/etc/motd", e.r("motd")).unwrap();
    e.run(vec![mk("/motd", "new", None)]).unwrap();
    assert_eq!(read(&e.r("etc/motd")), "new");
    assert!(matches!(
        e.run(vec![mk("/", "x", None)]).unwrap_err(),
        Error::RootPath { .. }
    ));
}

fn rm(path: &str, allow_not_found: bool, allow_wildcard: bool) -> FileAction {
    FileAction::Rm {
        path: path.into(),
        allow_not_found,
        allow_wildcard,
    }
}

#[test]
fn rm_action() {
    let e = env();
    write(&e.r("d/f"), "f");
    write(&e.r("a.log"), "");
    write(&e.r("b.log"), "");
    write(&e.r("keep"), "k");
    symlink("/keep", e.r("lnk")).unwrap();
    e.run(vec![rm("/d", false, false)]).unwrap();
    assert!(!e.r("d").exists());
    e.run(vec![rm("/*.log", false, true)]).unwrap();
    assert!(!e.r("a.log").exists() && !e.r("b.log").exists());
    e.run(vec![rm("/lnk", false, false)]).unwrap();
    assert!(fs::symlink_metadata(e.r("lnk")).is_err());
    assert_eq!(
        read(&e.r("keep")),
        "k",
        "the link is removed, not its target"
    );
    assert!(e.run(vec![rm("/nope", false, false)]).is_err());
    e.run(vec![rm("/nope", true, false)]).unwrap();
    assert!(matches!(
        e.run(vec![rm("/", true, false)]).unwrap_err(),
        Error::RootPath { .. }
    ));
}

#[test]
fn symlink_action() {
    let e = env();
    let link = |t: &str, l: &str| FileAction::Symlink {
        target: t.into(),
        link: l.into(),
    };
    e.run(vec![link("/etc/passwd", "/pw")]).unwrap();
    assert_eq!(fs::read_link(e.r("pw")).unwrap(), Path::new("/etc/passwd"));
    assert!(e.run(vec![link("x", "/pw")]).is_err(), "existing path");
}

// ---------------------------------------------------------------------------------------------
// Confinement

#[test]
fn copy_through_target_symlink_stays_in_root() {
    let e = env();
    context_tree(&e);
    let unique = format!("cairn-fileop-confine-{}.txt", std::process::id());
    write(&e.c(&unique), "u");
    fs::create_dir(e.r("etc")).unwrap();
    symlink("/etc", e.r("app")).unwrap();
    e.copy(cp(&format!("/{unique}"), "/app/")).unwrap();
    assert_eq!(read(&e.r(&format!("etc/{unique}"))), "u");
    assert!(
        !Path::new("/etc").join(&unique).exists(),
        "host /etc untouched"
    );

    // Relative link climbing out, and `..` in the destination.
    symlink("../../../../../../tmp/cairn-esc", e.r("rel")).unwrap();
    e.copy(cp("/a.txt", "/rel/")).unwrap();
    assert_eq!(read(&e.r("tmp/cairn-esc/a.txt")), "A");
    e.copy(cp("/a.txt", "/../../../up/")).unwrap();
    assert_eq!(read(&e.r("up/a.txt")), "A");
    assert!(!e.root.parent().unwrap().join("up").exists());
}

#[test]
fn actions_through_hostile_links_stay_in_root() {
    let e = env();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("precious"), "keep me");
    symlink(outside.path(), e.r("out")).unwrap();

    // Rm through the link looks inside the root: nothing there to remove.
    assert!(e.run(vec![rm("/out/precious", false, false)]).is_err());
    e.run(vec![rm("/out/precious", true, false)]).unwrap();
    assert_eq!(read(&outside.path().join("precious")), "keep me");

    // Mkdir and Mkfile land under root/<outside path>.
    e.run(vec![mkdir("/out/newdir", 0o755, true, None)])
        .unwrap();
    assert!(!outside.path().join("newdir").exists());
    assert!(
        e.r(&format!("{}/newdir", outside.path().display()))
            .is_dir()
    );

    // A loop is an error, not a hang.
    symlink("loop2", e.r("loop1")).unwrap();
    symlink("loop1", e.r("loop2")).unwrap();
    assert!(matches!(
        e.run(vec![mkdir("/loop1/x", 0o755, true, None)])
            .unwrap_err(),
        Error::TooManyLinks { .. }
    ));
}

#[test]
fn passwd_lookup_is_confined() {
    let e = env();
    context_tree(&e);
    // /etc in the target points "at the host's" /etc: the lookup reads the root's copy.
    write(&e.r("hostetc/passwd"), "app:x:77:88::/:/bin/sh\n");
    symlink("/hostetc", e.r("etc")).unwrap();
    let mut a = cp("/a.txt", "/f");
    a.owner = Some(Owner::parse("app"));
    e.copy(a).unwrap();
    assert_eq!(ids(&e.r("f")), (77, 88));
}

/// Two sources copied into one new directory: the second's files replace the first's, also
/// in subdirectories the first created (a directory is only "fresh", so its entries are not
/// looked up before they are written, during the visit that created it).
#[test]
fn a_later_source_replaces_files_in_directories_an_earlier_one_created() {
    let e = env();
    for (d, tag) in [("d1", "one"), ("d2", "two")] {
        write(&e.c(&format!("{d}/f.txt")), tag);
        write(&e.c(&format!("{d}/sub/g.txt")), tag);
    }
    write(&e.c("d1/only1.txt"), "1");
    write(&e.c("d2/sub/only2.txt"), "2");
    e.copy(cp("/d*", "/out/")).unwrap();
    assert_eq!(read(&e.r("out/f.txt")), "two");
    assert_eq!(read(&e.r("out/sub/g.txt")), "two");
    assert_eq!(read(&e.r("out/only1.txt")), "1");
    assert_eq!(read(&e.r("out/sub/only2.txt")), "2");
    // A file where the later source has a directory: refused, as before.
    write(&e.c("e1/x"), "file");
    write(&e.c("e2/x/y"), "dir");
    let err = e.copy(cp("/e*", "/out2/")).unwrap_err();
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
}

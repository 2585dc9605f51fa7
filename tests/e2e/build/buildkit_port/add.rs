//! BuildKit's `dockerfile_add_test.go`: ADD of local archives (plain, gzip, through an
//! absolute symlink, with implied parents, by wildcard, `--chown`), of URLs (`__unnamed__`,
//! Last-Modified, `--chmod`, never unpacked unless `--unpack=true`) and `--checksum`.

use super::super::fixture::{Env, context, out_dir};
use super::super::http_sources::Server;
use super::build_passes_with;

/// One tar entry: a directory, a file, a symlink or a hard link.
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let (name, kind, data, link, mode): (&str, _, &[u8], Option<&str>, u32) = match e {
            Entry::Dir(n) => (n, tar::EntryType::Directory, b"", None, 0o755),
            Entry::File(n, d) => (n, tar::EntryType::Regular, d, None, 0o644),
            Entry::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", Some(t), 0o777),
            Entry::Hardlink(n, t) => (n, tar::EntryType::Link, b"", Some(t), 0o644),
        };
        h.set_entry_type(kind);
        h.set_path(name).expect("path");
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        if let Some(l) = link {
            h.set_link_name(l).expect("link");
        }
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// A context of `Dockerfile` and binary `files`.
fn context_bytes(dockerfile: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let c = context(&[("Dockerfile", dockerfile)]);
    for (name, data) in files {
        std::fs::write(c.path().join(name), data).expect("write");
    }
    c
}

/// Build `c` in `env` to a fresh local directory.
fn build_local(env: &Env, c: &tempfile::TempDir) -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    env.build_ok(c.path(), &[&dest]);
    (t, out)
}

#[test]
fn add_from_url_names_the_file_and_keeps_last_modified() {
    // testDockerfileADDFromURL (cairn revalidates with a conditional GET, where BuildKit
    // sends HEAD: both fetch the body once).
    let server = Server::start(b"content2", "\"e1\"", Some("Tue, 01 Dec 2026 10:00:00 GMT"));
    server.route("/foo", b"content1", None);
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!("FROM scratch\nADD {} /dest/\n", server.url("/foo")),
    )]);
    let (_t, out) = build_local(&env, &c);
    assert_eq!(
        std::fs::read(out.join("dest/foo")).expect("foo"),
        b"content1"
    );
    env.build_ok(c.path(), &[]);
    let c = context(&[(
        "Dockerfile",
        &format!("FROM scratch\nADD {} /dest/\n", server.url("/")),
    )]);
    let (_t, out) = build_local(&env, &c);
    let file = out.join("dest/__unnamed__");
    assert_eq!(std::fs::read(&file).expect("__unnamed__"), b"content2");
    use std::os::unix::fs::MetadataExt as _;
    let mtime = std::fs::metadata(&file).expect("stat").mtime();
    assert_eq!(mtime, 1_796_119_200, "mtime is not Last-Modified");
}

#[test]
fn add_unpacks_local_archives_only() {
    // testDockerfileAddArchive.
    let plain = tar_of(&[Entry::File("foo", b"content0")]);
    let gz = gzip(&plain);
    let env = Env::new();
    for (dockerfile, file, data) in [
        ("FROM busybox\nADD t.tar /\n", "t.tar", &plain),
        ("FROM busybox\nADD t.tar.gz /\n", "t.tar.gz", &gz),
    ] {
        let (_t, out) = build_local(&env, &context_bytes(dockerfile, &[(file, data)]));
        assert_eq!(
            std::fs::read(out.join("foo")).expect("foo"),
            b"content0",
            "{dockerfile}"
        );
    }
    for dockerfile in [
        "FROM busybox\nADD --unpack=false t.tar.gz /\n",
        "FROM busybox\nCOPY t.tar.gz /\n",
    ] {
        let (_t, out) = build_local(&env, &context_bytes(dockerfile, &[("t.tar.gz", &gz)]));
        assert!(!out.join("foo").exists(), "{dockerfile} unpacked");
        assert_eq!(
            std::fs::read(out.join("t.tar.gz")).expect("t.tar.gz"),
            gz,
            "{dockerfile}"
        );
    }
    let server = Server::start(&gz, "\"e\"", None);
    let url = server.url("/t.tar.gz");
    for (dockerfile, path, want) in [
        (format!("FROM busybox\nADD {url} /\n"), "t.tar.gz", &gz),
        (
            format!("FROM busybox\nADD --unpack=true {url} /dest/\n"),
            "dest/foo",
            &b"content0".to_vec(),
        ),
        (
            format!("FROM busybox\nADD {url} /newname.tar.gz\n"),
            "newname.tar.gz",
            &gz,
        ),
    ] {
        let (_t, out) = build_local(&env, &context_bytes(&dockerfile, &[]));
        assert_eq!(
            &std::fs::read(out.join(path)).expect(path),
            want,
            "{dockerfile}"
        );
    }
}

#[test]
fn add_archive_with_implied_parents_and_through_an_absolute_symlink() {
    // testDockerfileAddArchiveWithImpliedParentDir, testDockerfileAddArchiveThroughAbsoluteSymlink.
    let env = Env::new();
    let t = gzip(&tar_of(&[
        Entry::Dir("etc/dnf/"),
        Entry::File("etc/dnf/dnf.conf", b"content0"),
    ]));
    let (_t, out) = build_local(
        &env,
        &context_bytes("FROM busybox\nADD t.tar.gz /\n", &[("t.tar.gz", &t)]),
    );
    assert_eq!(
        std::fs::read(out.join("etc/dnf/dnf.conf")).expect("dnf.conf"),
        b"content0"
    );

    let rootfs = tar_of(&[
        Entry::Dir("run/"),
        Entry::Dir("var/"),
        Entry::Symlink("var/run", "/run"),
    ]);
    let head = b"ref: refs/heads/main\n";
    let payload = tar_of(&[
        Entry::Dir("var/run/act/"),
        Entry::Dir("var/run/act/actions/"),
        Entry::Dir("var/run/act/actions/broad/"),
        Entry::Dir("var/run/act/actions/broad/.git/"),
        Entry::File("var/run/act/actions/broad/.git/HEAD", head),
        Entry::Hardlink(
            "var/run/act/actions/broad/.git/HEAD.link",
            "var/run/act/actions/broad/.git/HEAD",
        ),
    ]);
    let (_t, out) = build_local(
        &env,
        &context_bytes(
            "FROM scratch\nADD rootfs.tar /\nADD payload.tar /\n",
            &[("rootfs.tar", &rootfs), ("payload.tar", &payload)],
        ),
    );
    let file = out.join("run/act/actions/broad/.git/HEAD");
    let link = out.join("run/act/actions/broad/.git/HEAD.link");
    assert_eq!(std::fs::read(&file).expect("HEAD"), head);
    assert_eq!(std::fs::read(&link).expect("HEAD.link"), head);
    use std::os::unix::fs::MetadataExt as _;
    let (a, b) = (
        std::fs::metadata(&file).expect("stat"),
        std::fs::metadata(&link).expect("stat"),
    );
    assert_eq!(
        (a.dev(), a.ino()),
        (b.dev(), b.ino()),
        "the hard link is not one file"
    );
}

#[test]
fn add_chown_applies_to_an_unpacked_archive_and_its_destination() {
    // testDockerfileAddChownArchive (read from the exported tar).
    let env = Env::new();
    let t = tar_of(&[Entry::File("foo", b"content0")]);
    let c = context_bytes(
        "FROM scratch\nADD --chown=100:200 t.tar /out/\n",
        &[("t.tar", &t)],
    );
    let dir = tempfile::tempdir().expect("tmp");
    let tar_path = dir.path().join("o.tar");
    env.build_ok(
        c.path(),
        &[&format!("--output=type=tar,dest={}", tar_path.display())],
    );
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).expect("open"));
    let mut seen = Vec::new();
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").display().to_string();
        let owner = (
            e.header().uid().expect("uid"),
            e.header().gid().expect("gid"),
        );
        if path.trim_end_matches('/') == "out/foo" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            assert_eq!(s, "content0");
        }
        seen.push((path.trim_end_matches('/').to_string(), owner));
    }
    for want in ["out", "out/foo"] {
        let got = seen
            .iter()
            .find(|(p, _)| p == want)
            .unwrap_or_else(|| panic!("{want} not in {seen:?}"));
        assert_eq!(got.1, (100, 200), "{want}");
    }
}

#[test]
fn add_of_archives_by_wildcard_unpacks_each() {
    // testDockerfileAddArchiveWildcard.
    let env = Env::new();
    let t = tar_of(&[Entry::File("foo", b"content0")]);
    let b = tar_of(&[Entry::File("bar", b"content1")]);
    let (_t, out) = build_local(
        &env,
        &context_bytes(
            "FROM scratch\nADD *.tar /dest\n",
            &[("t.tar", &t), ("b.tar", &b)],
        ),
    );
    assert_eq!(
        std::fs::read_to_string(out.join("dest/foo")).expect("foo"),
        "content0"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("dest/bar")).expect("bar"),
        "content1"
    );
}

#[test]
fn add_chown_expands_variables() {
    // testDockerfileAddChownExpand (busybox-static's base has no `nobody` group: added).
    let env = Env::new();
    let c = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo 'nobody:x:65533:' >> /etc/group\nARG group\nENV owner 1000\nADD --chown=${owner}:${group} foo /\nRUN [ \"$(stat -c \"%u %G\" /foo)\" == \"1000 nobody\" ]\n",
        ),
        ("foo", "foo-contents"),
    ]);
    env.build_ok(c.path(), &["--build-arg", "group=nobody"]);
}

#[test]
fn add_url_chmod_takes_octal_and_variables() {
    // testAddURLChmod.
    let server = Server::start(b"content1", "\"e\"", None);
    let url = server.url("/foo");
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox AS build\nADD --chmod=644 {url} /tmp/foo1\nADD --chmod=755 {url} /tmp/foo2\nADD --chmod=0413 {url} /tmp/foo3\nARG mode\nADD --chmod=${{mode}} {url} /tmp/foo4\nRUN stat -c \"%04a\" /tmp/foo1 >> /dest && \\\n\tstat -c \"%04a\" /tmp/foo2 >> /dest && \\\n\tstat -c \"%04a\" /tmp/foo3 >> /dest && \\\n\tstat -c \"%04a\" /tmp/foo4 >> /dest\nFROM scratch\nCOPY --from=build /dest /dest\n"
        ),
    )]);
    let (_t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    env.build_ok(c.path(), &["--build-arg", "mode=400", &dest]);
    assert_eq!(
        std::fs::read_to_string(out.join("dest")).expect("dest"),
        "0644\n0755\n0413\n0400\n"
    );
}

#[test]
fn add_chmod_out_of_range_is_refused() {
    // testAddInvalidChmod.
    for bad in ["64a", "10000"] {
        let env = Env::new();
        let c = context(&[
            (
                "Dockerfile",
                &format!("FROM scratch\nADD --chmod={bad} foo /\n"),
            ),
            ("foo", "foo-contents"),
        ]);
        let b = env.build(c.path(), &[]);
        assert!(!b.success, "--chmod={bad} built");
        let says = format!(
            "invalid chmod parameter: '{bad}'. it should be octal string and between 0 and 07777"
        );
        assert!(b.stderr.contains(&says), "{says:?} not in {}", b.stderr);
    }
}

#[test]
fn add_checksum_forms() {
    // testAddChecksum: valid, from ENV, mismatch, unsupported and unknown algorithms, no
    // algorithm, and a local source; and sha512, which BuildKit also takes.
    let server = Server::start(b"content1", "\"e\"", None);
    let url = server.url("/foo");
    let sha = |d: &[u8]| {
        use sha2::Digest as _;
        sha2::Sha256::digest(d)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let good = sha(b"content1");
    build_passes_with(
        &format!("FROM busybox\nADD --checksum=sha256:{good} {url} /tmp/foo\n"),
        &[],
    );
    build_passes_with(
        &format!(
            "FROM busybox\nENV DIGEST=sha256:{good}\nENV LINK={url}\nADD --checksum=${{DIGEST}} ${{LINK}} /tmp/foo\n"
        ),
        &[],
    );
    use sha2::Digest as _;
    let sha512 = hex::encode(sha2::Sha512::digest(b"content1"));
    build_passes_with(
        &format!("FROM busybox\nADD --checksum=sha512:{sha512} {url} /tmp/foo\n"),
        &[],
    );
    let env = Env::new();
    for (dockerfile, says) in [
        (
            format!(
                "FROM busybox\nADD --checksum=sha256:{} {url} /tmp/foo\n",
                sha(b"")
            ),
            "digest mismatch",
        ),
        (
            format!(
                "FROM busybox\nADD --checksum=md5:7e55db001d319a94b0b713529a756623 {url} /tmp/foo\n"
            ),
            "unsupported digest algorithm",
        ),
        (
            format!("FROM busybox\nADD --checksum=unknown:{good} {url} /tmp/foo\n"),
            "unsupported digest algorithm",
        ),
        (
            format!("FROM busybox\nADD --checksum={good} {url} /tmp/foo\n"),
            "invalid checksum digest format",
        ),
        (
            format!(
                "FROM busybox\nADD --checksum=sha256:{} foo /tmp/foo\n",
                sha(b"local file")
            ),
            "checksum requires HTTP(S) or Git sources",
        ),
    ] {
        let c = context(&[("Dockerfile", &dockerfile), ("foo", "local file")]);
        let b = env.build(c.path(), &[]);
        assert!(!b.success, "built: {dockerfile}");
        assert!(b.stderr.contains(says), "{says:?} not in {}", b.stderr);
    }
}

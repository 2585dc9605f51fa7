//! Scanning real directories and selecting from them: ignore rules, the stat cache, and the
//! properties of selection digests (content-sensitive, location- and mtime-insensitive).
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cairn_context::{
    ContextError, ContextIndex, DEFAULT_RACY_WINDOW, EntryKind, IgnoreMatcher, ScanStats,
    StatCache, scan,
};

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(&path, content).expect("write");
}

fn matcher(patterns: &[&str]) -> IgnoreMatcher {
    IgnoreMatcher::new(patterns).expect("valid patterns")
}

fn scan_all(root: &Path) -> ContextIndex {
    scan(root, &matcher(&[]), &mut StatCache::new()).expect("scan")
}

fn digest(index: &ContextIndex, src: &str) -> [u8; 32] {
    index
        .selection_digest(src, &[], false, false)
        .unwrap_or_else(|e| panic!("selection {src:?}: {e}"))
}

fn paths(index: &ContextIndex) -> Vec<&str> {
    index.entries().iter().map(|e| e.path.as_str()).collect()
}

fn selected(index: &ContextIndex, src: &str, exclude: &[&str]) -> Vec<String> {
    let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
    index
        .files_for(src, &exclude)
        .unwrap_or_else(|e| panic!("selection {src:?}: {e}"))
        .into_iter()
        .map(|s| s.rel.into_owned())
        .collect()
}

/// A small project: sources, docs, a top-level file.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "src/a.rs", "fn a() {}\n");
    write(root, "src/b.rs", "fn b() {}\n");
    write(root, "src/nested/c.rs", "fn c() {}\n");
    write(root, "docs/readme.md", "# readme\n");
    write(root, "docs/keep.md", "# keep\n");
    write(root, "top.txt", "top\n");
    write(root, "other.txt", "other\n");
    dir
}

fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
}

#[test]
fn ignore_rules_apply_and_exclusions_reinclude_below_ignored_dirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "main.c", "int main;\n");
    write(root, "build/out.o", "obj");
    write(root, "build/keep/notes.txt", "keep me");
    write(root, "build/keep/other.txt", "not me");
    write(root, "node_modules/m/index.js", "x");
    write(root, ".git/HEAD", "ref");
    write(root, "logs/a.log", "log");
    write(root, "logs/a.txt", "txt");
    let ignore = matcher(&[
        "build",
        "!build/keep/notes.txt",
        "node_modules",
        ".git",
        "**/*.log",
    ]);
    let index = scan(root, &ignore, &mut StatCache::new()).expect("scan");
    assert_eq!(
        paths(&index),
        [
            "build",
            "build/keep",
            "build/keep/notes.txt",
            "logs",
            "logs/a.txt",
            "main.c"
        ]
    );
    assert_eq!(index.stats().hashed, 3);
    // The re-included file's ignored parents are recorded, as directories.
    assert_eq!(index.get("build").map(|e| &e.kind), Some(&EntryKind::Dir));
    // Without an exclusion the ignored directory is not even read.
    let index = scan(root, &matcher(&["build"]), &mut StatCache::new()).expect("scan");
    assert!(paths(&index).iter().all(|p| !p.starts_with("build")));
}

#[test]
fn file_hashes_are_blake3_of_the_content_and_symlinks_are_not_followed() {
    let dir = project();
    let root = dir.path();
    symlink("src", root.join("alias")).expect("symlink");
    symlink("/etc", root.join("etc")).expect("symlink");
    let index = scan_all(root);
    let a = index.get("src/a.rs").expect("src/a.rs");
    assert_eq!(
        a.kind,
        EntryKind::File {
            hash: *blake3::hash(b"fn a() {}\n").as_bytes()
        }
    );
    assert_eq!(a.size, 10);
    let alias = index.get("alias").expect("alias");
    assert_eq!(
        alias.kind,
        EntryKind::Symlink {
            target: PathBuf::from("src")
        }
    );
    assert!(index.get("alias/a.rs").is_none());
    assert!(index.get("etc/passwd").is_none());
    assert_eq!(index.get("src").map(|e| e.size), Some(0));
}

#[test]
fn touching_mtime_keeps_the_digest_and_the_cache_serves_unchanged_files() {
    let dir = project();
    let root = dir.path();
    let ignore = matcher(&[]);
    let mut cache = StatCache::new().with_racy_window(Duration::ZERO);
    let first = scan(root, &ignore, &mut cache).expect("scan");
    assert_eq!(
        first.stats(),
        ScanStats {
            hashed: 7,
            cached: 0
        }
    );
    assert_eq!(cache.len(), 7);

    // Persisted and reloaded, the cache serves every file.
    let mut cache = StatCache::from_bytes(&cache.to_bytes()).with_racy_window(Duration::ZERO);
    let again = scan(root, &ignore, &mut cache).expect("scan");
    assert_eq!(
        again.stats(),
        ScanStats {
            hashed: 0,
            cached: 7
        }
    );
    assert_eq!(again.entries(), first.entries());

    // Touching a file changes its mtime and (unavoidably) its ctime: it is read once more,
    // the digests stay, and the next scan serves it from the cache again.
    set_mtime(
        &root.join("src/a.rs"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    );
    let touched = scan(root, &ignore, &mut cache).expect("scan");
    assert_eq!(
        touched.stats(),
        ScanStats {
            hashed: 1,
            cached: 6
        }
    );
    for src in [".", "src", "src/a.rs"] {
        assert_eq!(digest(&touched, src), digest(&first, src), "{src}");
    }
    let settled = scan(root, &ignore, &mut cache).expect("scan");
    assert_eq!(
        settled.stats(),
        ScanStats {
            hashed: 0,
            cached: 7
        }
    );
    assert_eq!(digest(&settled, "."), digest(&first, "."));
}

#[test]
fn freshly_written_files_are_not_trusted_by_default() {
    // A file hashed right after it was written (within the racy window) may still change
    // without changing its stat, so it is hashed again next time. (A long window keeps the
    // test independent of machine load; the default is 2 s.)
    assert_eq!(StatCache::new().racy_window(), DEFAULT_RACY_WINDOW);
    let dir = project();
    let root = dir.path();
    let ignore = matcher(&[]);
    let mut cache = StatCache::new().with_racy_window(Duration::from_secs(3600));
    scan(root, &ignore, &mut cache).expect("scan");
    assert!(cache.is_empty());
    // Same size, same mtime, different content: still seen.
    let path = root.join("top.txt");
    let mtime = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    fs::write(&path, "TOP\n").expect("write");
    set_mtime(&path, mtime);
    let index = scan(root, &ignore, &mut cache).expect("scan");
    assert_eq!(index.stats().hashed, 7);
    assert_eq!(
        index.get("top.txt").map(|e| &e.kind),
        Some(&EntryKind::File {
            hash: *blake3::hash(b"TOP\n").as_bytes()
        })
    );
}

#[test]
fn a_cache_for_another_root_is_not_used() {
    let one = project();
    let two = project();
    let ignore = matcher(&[]);
    let mut cache = StatCache::new().with_racy_window(Duration::ZERO);
    scan(one.path(), &ignore, &mut cache).expect("scan");
    let index = scan(two.path(), &ignore, &mut cache).expect("scan");
    assert_eq!(index.stats().cached, 0);
    let root = fs::canonicalize(two.path()).expect("canonical");
    assert_eq!(cache.root(), Some(root.as_path()));
}

#[test]
fn changing_a_file_changes_only_the_selections_containing_it() {
    let dir = project();
    let root = dir.path();
    let ignore = matcher(&[]);
    let mut cache = StatCache::new();
    let before = scan(root, &ignore, &mut cache).expect("scan");
    write(root, "src/a.rs", "fn A() {}\n");
    let after = scan(root, &ignore, &mut cache).expect("scan");
    for src in [".", "src", "/src/", "src/a.rs", "src/*.rs", "*"] {
        assert_ne!(digest(&before, src), digest(&after, src), "{src}");
    }
    for src in [
        "src/b.rs",
        "src/nested",
        "docs",
        "*.txt",
        "src/*/c.rs",
        "top.txt",
    ] {
        assert_eq!(digest(&before, src), digest(&after, src), "{src}");
    }
}

/// Copy a tree (files, dirs, symlinks) keeping permissions.
fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).expect("lstat");
        if meta.file_type().is_symlink() {
            symlink(fs::read_link(&src).expect("readlink"), &dst).expect("symlink");
        } else if meta.is_dir() {
            fs::create_dir(&dst).expect("mkdir");
            copy_tree(&src, &dst);
            fs::set_permissions(&dst, meta.permissions()).expect("chmod");
        } else {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}

#[test]
fn the_same_context_elsewhere_has_the_same_digests() {
    let dir = project();
    symlink("a.rs", dir.path().join("src/link.rs")).expect("symlink");
    let other = tempfile::tempdir().expect("tempdir");
    let moved = other.path().join("somewhere/else");
    fs::create_dir_all(&moved).expect("mkdir");
    copy_tree(dir.path(), &moved);
    let (one, two) = (scan_all(dir.path()), scan_all(&moved));
    assert_eq!(one.entries(), two.entries());
    for src in [".", "src", "src/link.rs", "docs/*.md", "*"] {
        assert_eq!(digest(&one, src), digest(&two, src), "{src}");
    }
}

#[test]
fn chmod_changes_the_digest_unless_mode_is_ignored() {
    let dir = project();
    let root = dir.path();
    let before = scan_all(root);
    fs::set_permissions(root.join("src/b.rs"), fs::Permissions::from_mode(0o751)).expect("chmod");
    let after = scan_all(root);
    assert_eq!(after.get("src/b.rs").map(|e| e.mode), Some(0o751));
    let d = |index: &ContextIndex, ignore_mode: bool| {
        index
            .selection_digest("src", &[], ignore_mode, false)
            .expect("digest")
    };
    assert_ne!(d(&before, false), d(&after, false));
    assert_eq!(d(&before, true), d(&after, true));
    // Ignoring the owner is a different encoding, but still content-sensitive.
    let owner = |index: &ContextIndex| {
        index
            .selection_digest("src", &[], false, true)
            .expect("digest")
    };
    assert_ne!(owner(&before), d(&before, false));
    assert_ne!(owner(&before), owner(&after));
}

#[test]
fn wildcards_select_matching_entries() {
    let dir = project();
    let root = dir.path();
    write(root, "dir1/x", "1");
    write(root, "dir2/x", "2");
    let index = scan_all(root);
    assert_eq!(selected(&index, "*.txt", &[]), ["other.txt", "top.txt"]);
    assert_eq!(selected(&index, "/src/?.rs", &[]), ["src/a.rs", "src/b.rs"]);
    assert_eq!(selected(&index, "[st]*.txt", &[]), ["top.txt"]);
    // Matches keep their context paths, so equal names in different places stay apart.
    assert_eq!(
        selected(&index, "dir*/x", &[]),
        ["dir1/x", "dir2/x"],
        "same basename twice"
    );
    assert_eq!(
        selected(&index, "dir?", &[]),
        ["dir1", "dir1/x", "dir2", "dir2/x"]
    );
    // A pattern matching nothing is an empty selection, not an error.
    let none = digest(&index, "*.nothing");
    assert_eq!(none, digest(&index, "nothing/*"));
    assert!(selected(&index, "*.nothing", &[]).is_empty());
    // A plain path that matches nothing is an error naming it.
    let err = index
        .selection_digest("missing.txt", &[], false, false)
        .expect_err("missing");
    assert!(matches!(err, ContextError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        "\"missing.txt\": not found in the build context"
    );
    let err = index.files_for("src/[", &[]).expect_err("bad pattern");
    assert!(matches!(err, ContextError::BadSource { .. }), "{err}");
    // A plain path selects itself and everything below, relative to itself.
    assert_eq!(
        selected(&index, "src", &[]),
        [".", "a.rs", "b.rs", "nested", "nested/c.rs"]
    );
    assert_eq!(selected(&index, "./src/../top.txt", &[]), ["."]);
    // So the same content under another name has the same selection digest.
    assert_eq!(digest(&index, "dir1/x"), digest(&index, "src/../dir1/x"));
}

#[test]
fn excludes_drop_entries() {
    let dir = project();
    let index = scan_all(dir.path());
    let all = selected(&index, ".", &[]);
    assert_eq!(all.len(), 10);
    assert_eq!(
        selected(&index, ".", &["**/*.md", "src/nested", "*.txt"]),
        ["docs", "src", "src/a.rs", "src/b.rs"]
    );
    assert_eq!(
        selected(&index, "docs", &["docs/*.md", "!docs/keep.md"]),
        [".", "keep.md"]
    );
    // Exclude patterns are relative to the context root, not to the source.
    assert_eq!(selected(&index, "src", &["a.rs"]).len(), 5);
    assert_eq!(selected(&index, "src", &["src/a.rs"]).len(), 4);
    let excluded = |patterns: &[&str]| {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        index
            .selection_digest(".", &patterns, false, false)
            .expect("digest")
    };
    assert_ne!(excluded(&[]), excluded(&["docs"]));
    // Excluding something the source does not contain changes nothing.
    assert_eq!(excluded(&[]), excluded(&["not-there"]));
    let err = index
        .files_for(".", &["!".to_string()])
        .expect_err("bad exclude");
    assert!(matches!(err, ContextError::Exclude { .. }), "{err}");
}

#[test]
fn symlinks_leaving_the_context_are_refused() {
    let dir = project();
    let root = dir.path();
    symlink("/etc", root.join("etc")).expect("symlink");
    symlink("../../outside", root.join("src/up")).expect("symlink");
    symlink("../top.txt", root.join("src/top")).expect("symlink");
    symlink("loop2", root.join("loop1")).expect("symlink");
    symlink("loop1", root.join("loop2")).expect("symlink");
    symlink("../nothing", root.join("src/dangling")).expect("symlink");
    let index = scan_all(root);
    // `src/dangling` resolves inside the context (to a missing `nothing`): not found.
    let err = index.files_for("src/dangling", &[]).expect_err("dangling");
    assert!(matches!(err, ContextError::NotFound { .. }), "{err}");
    for src in [
        "etc",
        "etc/passwd",
        "/etc/",
        "src/up",
        "src/up/x",
        "../x",
        "src/../../x",
    ] {
        let err = index
            .selection_digest(src, &[], false, false)
            .expect_err(src);
        assert!(
            matches!(err, ContextError::OutsideContext { .. }),
            "{src}: {err}"
        );
        assert_eq!(
            err.to_string(),
            format!("{src}: points outside the build context")
        );
    }
    // A wildcard match that leads outside is refused too, naming the match.
    let err = index.files_for("e*", &[]).expect_err("wildcard");
    assert_eq!(err.to_string(), "etc: points outside the build context");
    // Inside a copied directory, symlinks are data: the link itself is hashed.
    assert!(selected(&index, "src", &[]).contains(&"up".to_string()));
    digest(&index, ".");
    // A symlink inside the context is followed when named as the source.
    assert_eq!(digest(&index, "src/top"), digest(&index, "top.txt"));
    let err = index.files_for("loop1", &[]).expect_err("loop");
    assert!(matches!(err, ContextError::SymlinkLoop { .. }), "{err}");
}

#[test]
fn symlinked_directories_are_followed_as_sources() {
    let dir = project();
    let root = dir.path();
    symlink("src", root.join("alias")).expect("symlink");
    symlink(".", root.join("self")).expect("symlink");
    let index = scan_all(root);
    assert_eq!(digest(&index, "alias"), digest(&index, "src"));
    assert_eq!(digest(&index, "alias/nested"), digest(&index, "src/nested"));
    assert_eq!(digest(&index, "self/src"), digest(&index, "src"));
    // Excludes see the path as the source names it.
    assert_eq!(
        selected(&index, "alias", &["alias/nested"]),
        [".", "a.rs", "b.rs"]
    );
    assert_eq!(
        selected(&index, "alias/*.rs", &[]),
        ["alias/a.rs", "alias/b.rs"]
    );
}

#[test]
fn ten_thousand_small_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for d in 0..100 {
        let sub = root.join(format!("d{d:02}"));
        fs::create_dir(&sub).expect("mkdir");
        for f in 0..100 {
            fs::write(sub.join(format!("f{f:02}")), format!("file {d} {f}\n")).expect("write");
        }
    }
    let index = scan_all(root);
    assert_eq!(index.len(), 10_100);
    assert_eq!(index.stats().hashed, 10_000);
    for (d, f) in [(0, 0), (42, 17), (99, 99)] {
        let entry = index.get(&format!("d{d:02}/f{f:02}")).expect("entry");
        let expected = blake3::hash(format!("file {d} {f}\n").as_bytes());
        assert_eq!(
            entry.kind,
            EntryKind::File {
                hash: *expected.as_bytes()
            }
        );
    }
    assert!(index.entries().windows(2).all(|w| w[0].path < w[1].path));
    assert_eq!(selected(&index, "d5?/f0?", &[]).len(), 100);
}

#[test]
fn errors_name_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let err = scan(&missing, &matcher(&[]), &mut StatCache::new()).expect_err("missing");
    assert!(err.to_string().contains("missing"), "{err}");
    write(dir.path(), "file", "x");
    let err = scan(
        &dir.path().join("file"),
        &matcher(&[]),
        &mut StatCache::new(),
    )
    .expect_err("not a dir");
    assert!(matches!(err, ContextError::NotADirectory { .. }), "{err}");
}

#[test]
fn a_long_symlink_chain_resolves_up_to_the_shared_limit() {
    // The key selection follows as many links as fileop's copy and the sandbox do
    // (cairn_context::MAX_SYMLINK_HOPS): a chain of 100 is followed, one past the limit is not.
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path();
    std::fs::write(root.join("target.txt"), "end").expect("write");
    let chain = |prefix: &str, n: usize| {
        for i in 0..n {
            let next = if i + 1 == n {
                "target.txt".to_string()
            } else {
                format!("{prefix}{}", i + 1)
            };
            std::os::unix::fs::symlink(next, root.join(format!("{prefix}{i}"))).expect("link");
        }
    };
    chain("a", 100);
    chain("b", cairn_context::MAX_SYMLINK_HOPS + 1);
    let index = scan_all(root);
    assert_eq!(digest(&index, "a0"), digest(&index, "target.txt"));
    let err = index.files_for("b0", &[]).expect_err("past the limit");
    assert!(matches!(err, ContextError::SymlinkLoop { .. }), "{err}");
}

#[test]
fn a_file_changed_after_the_scan_is_caught_before_it_is_used() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path();
    std::fs::create_dir(root.join("src")).expect("mkdir");
    std::fs::write(root.join("src/a.txt"), "scanned").expect("write");
    std::fs::write(root.join("src/b.txt"), "untouched").expect("write");
    let index = scan_all(root);
    index
        .check_unchanged(root, "src", &[])
        .expect("nothing changed yet");
    // Same size, new content (and new times): the key was computed from the old content.
    std::fs::write(root.join("src/a.txt"), "SCANNED").expect("write");
    let err = index
        .check_unchanged(root, "src", &[])
        .expect_err("changed");
    assert!(
        matches!(&err, ContextError::ChangedDuringBuild { path } if path == "src/a.txt"),
        "{err}"
    );
    // A selection that does not read the changed file is unaffected.
    index
        .check_unchanged(root, "src/b.txt", &[])
        .expect("b is as scanned");
    index
        .check_unchanged(root, "src", &["src/a.txt".to_string()])
        .expect("a is excluded");
    // A file removed after the scan is a change too.
    std::fs::remove_file(root.join("src/b.txt")).expect("rm");
    assert!(index.check_unchanged(root, "src/b.txt", &[]).is_err());
}

//! Layer dir ⇄ tar round trips, whiteouts, determinism, flattening.

use crate::util::*;
use cairn_oci::{content_digest, flatten_layers, unpack_layer, write_layer_blob, write_layer_tar};
use cairn_store::{Compression, OciDigest, Store};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

#[test]
fn round_trip_keeps_content_digest_and_metadata() -> TestResult {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    let dst = t.path().join("dst");
    std::fs::create_dir_all(&src)?;
    std::fs::create_dir_all(&dst)?;
    rich_tree(&src);
    let before = content_digest(&src)?;
    let tar = write_layer_tar(&src, Vec::new(), None)?;
    let diff_id = unpack_layer(&tar[..], &dst)?;
    assert_eq!(diff_id, OciDigest::of(&tar));
    assert_eq!(content_digest(&dst)?, before);

    // Spot checks of what the digest covers.
    let su = std::fs::metadata(dst.join("usr/bin/su"))?;
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(std::fs::metadata(dst.join("usr/bin/wall"))?.gid(), 5);
    assert_eq!(std::fs::metadata(dst.join("tmp"))?.mode() & 0o7777, 0o1777);
    assert_eq!(
        std::fs::metadata(dst.join("home/user/.profile"))?.uid(),
        1000
    );
    assert!(get_xattr(&dst.join("usr/bin/ping"), "security.capability").is_some());
    assert_eq!(
        get_xattr(&dst.join("usr/bin/ping"), "user.note").as_deref(),
        Some(&b"hello\nworld"[..])
    );
    assert_eq!(
        std::fs::read_link(dst.join("dangling"))?.to_str(),
        Some("/nonexistent/absolute")
    );
    let hosts = std::fs::metadata(dst.join("etc/hosts"))?;
    assert_eq!(
        hosts.ino(),
        std::fs::metadata(dst.join("usr/hosts-hard"))?.ino()
    );
    assert_eq!(hosts.mtime(), 1_600_000_000);
    let null = std::fs::symlink_metadata(dst.join("dev/null"))?;
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    let gone = std::fs::symlink_metadata(dst.join("var/gone"))?;
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert_eq!(
        get_xattr(&dst.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    Ok(())
}

#[test]
fn tar_uses_oci_whiteouts_and_sorted_entries() -> TestResult {
    let t = tempfile::tempdir()?;
    let src = t.path();
    write(src, "b/2", b"");
    write(src, "b/1", b"");
    write(src, "a", b"");
    whiteout(src, "b/3");
    std::fs::create_dir(src.join("c"))?;
    opaque(&src.join("c"));
    let tar = write_layer_tar(src, Vec::new(), None)?;
    assert_eq!(
        tar_listing(&tar),
        ["a", "b/", "b/1", "b/2", "b/.wh.3", "c/", "c/.wh..wh..opq"]
    );
    // No overlay xattr leaks into the tar.
    assert!(!tar.windows(15).any(|w| w == b"trusted.overlay"));
    Ok(())
}

#[test]
fn whiteout_and_opaque_round_trip() -> TestResult {
    let t = tempfile::tempdir()?;
    let (src, dst) = (t.path().join("s"), t.path().join("d"));
    std::fs::create_dir_all(src.join("dir/inner"))?;
    std::fs::create_dir_all(&dst)?;
    whiteout(&src, "dir/deleted");
    opaque(&src.join("dir/inner"));
    let tar = write_layer_tar(&src, Vec::new(), None)?;
    unpack_layer(&tar[..], &dst)?;
    assert_eq!(content_digest(&dst)?, content_digest(&src)?);
    let wh = std::fs::symlink_metadata(dst.join("dir/deleted"))?;
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(
        get_xattr(&dst.join("dir/inner"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    Ok(())
}

#[test]
fn content_digest_ignores_mtime_only() -> TestResult {
    let t = tempfile::tempdir()?;
    let f = write(t.path(), "f", b"data");
    let base = content_digest(t.path())?;
    set_mtime(&f, 12345);
    assert_eq!(content_digest(t.path())?, base, "mtime must not matter");
    chmod(&f, 0o600);
    let moded = content_digest(t.path())?;
    assert_ne!(moded, base, "mode matters");
    chown(&f, 1, 1);
    let owned = content_digest(t.path())?;
    assert_ne!(owned, moded, "owner matters");
    set_xattr(&f, "user.x", b"1");
    let xattred = content_digest(t.path())?;
    assert_ne!(xattred, owned, "xattrs matter");
    std::fs::write(&f, b"datb")?;
    assert_ne!(content_digest(t.path())?, xattred, "content matters");
    assert_eq!(base.len(), 64);
    Ok(())
}

#[test]
fn blobs_are_deterministic_with_an_epoch_and_reused() -> TestResult {
    let mut digests = Vec::new();
    for (i, mtime) in [(0, 1_000_000_000), (1, 1_700_000_000)] {
        let t = tempfile::tempdir()?;
        let store = Store::open(t.path())?;
        let id = make_layer(&store, |root| {
            rich_tree(root);
            for p in ["etc/hosts", "usr/bin/su", "opq", "dev/null"] {
                set_mtime(&root.join(p), mtime + i);
            }
        });
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let blob = write_layer_blob(&store, &id, compression, Some(500_000_000))?;
            // Unpacking the stored blob (compression autodetected) gives back the diff_id and
            // the layer's content.
            let out = t.path().join(format!("out-{compression:?}"));
            std::fs::create_dir(&out)?;
            let file = std::fs::File::open(store.blob_path(&blob.digest))?;
            assert_eq!(unpack_layer(file, &out)?, blob.diff_id);
            assert_eq!(content_digest(&out)?, id);
            // A second export reuses the blob.
            assert_eq!(write_layer_blob(&store, &id, compression, None)?, blob);
            digests.push((compression, blob.digest, blob.diff_id));
        }
        let rec = store.layer(&id)?.ok_or("layer record")?;
        assert_eq!(rec.blobs.len(), 3);
    }
    assert_eq!(
        digests[..3],
        digests[3..],
        "same files + epoch → same blobs"
    );
    Ok(())
}

#[test]
fn flatten_applies_whiteouts_and_opaque_dirs() -> TestResult {
    let t = tempfile::tempdir()?;
    let (l1, l2, l3, out) = (
        t.path().join("l1"),
        t.path().join("l2"),
        t.path().join("l3"),
        t.path().join("out"),
    );
    write(&l1, "a/x", b"x");
    write(&l1, "a/y", b"y");
    write(&l1, "b/z", b"z");
    write(&l1, "c", b"file");
    std::os::unix::fs::symlink("/etc", l1.join("s"))?;
    let keep = write(&l1, "keep", b"k");
    chown(&keep, 7, 8);
    chmod(&keep, 0o640);
    set_mtime(&keep, 1_234_567);
    std::fs::create_dir_all(l2.join("a"))?;
    whiteout(&l2, "a/x");
    write(&l2, "b/new", b"n");
    opaque(&l2.join("b"));
    write(&l2, "c/now-a-dir", b"d");
    // A later layer turning the symlink into a directory must not write through it.
    write(&l3, "s/inside", b"i");
    flatten_layers(&[l1.clone(), l2, l3], &out)?;
    assert!(!out.join("a/x").exists());
    assert_eq!(std::fs::read(out.join("a/y"))?, b"y");
    assert!(!out.join("b/z").exists());
    assert_eq!(std::fs::read(out.join("b/new"))?, b"n");
    assert!(get_xattr(&out.join("b"), "trusted.overlay.opaque").is_none());
    assert_eq!(std::fs::read(out.join("c/now-a-dir"))?, b"d");
    assert!(std::fs::symlink_metadata(out.join("s"))?.is_dir());
    assert!(!std::path::Path::new("/etc/inside").exists());
    let m = std::fs::metadata(out.join("keep"))?;
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
        (7, 8, 0o640, 1_234_567)
    );
    Ok(())
}

//! Behaviour of the store through its public API: round trips, crash leftovers, corruption,
//! and concurrent writers.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

use cairn_store::{
    CacheKey, CacheRecord, Compression, Error, ImageRecord, LayerBlob, LayerRecord, NamedImage,
    OciDigest, Store,
};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    (dir, store)
}

fn tmp_entries(store: &Store) -> Vec<PathBuf> {
    fs::read_dir(store.root().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn layer_id(n: u8) -> cairn_store::LayerId {
    cairn_store::LayerId::parse(&format!("{n:02x}").repeat(32)).unwrap()
}

fn digest(s: &str) -> OciDigest {
    OciDigest::of(s.as_bytes())
}

fn record(n: u8) -> ImageRecord {
    ImageRecord {
        manifest: digest(&format!("manifest{n}")),
        config: digest(&format!("config{n}")),
        layers: vec![layer_id(n)],
    }
}

fn image(n: u8) -> NamedImage {
    NamedImage::single(record(n))
}

fn blob_info(n: u8) -> LayerBlob {
    LayerBlob {
        compression: Compression::Gzip,
        diff_id: digest(&format!("diff{n}")),
        digest: digest(&format!("blob{n}")),
        size: u64::from(n),
    }
}

/// A staging dir whose upper holds `content` in `file`, like a finished RUN step.
fn staged(store: &Store, content: &str) -> cairn_store::Staging {
    let staging = store.staging().unwrap();
    fs::write(staging.upper().join("file"), content).unwrap();
    fs::create_dir(staging.upper().join("dir")).unwrap();
    staging
}

#[test]
fn open_creates_the_layout() {
    let (_dir, store) = store();
    assert!(store.root().is_absolute());
    for sub in [
        "blobs/sha256",
        "layers",
        "cache",
        "images",
        "stat",
        "mounts",
        "tmp",
        "locks",
    ] {
        assert!(store.root().join(sub).is_dir(), "{sub}");
    }
    assert_eq!(
        fs::read_to_string(store.root().join("layout")).unwrap(),
        "cairn-store layout 1\n"
    );
    // Reopening an existing store is fine.
    Store::open(store.root()).unwrap();
}

#[test]
fn unknown_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("layout"), "cairn-store layout 99\n").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 99, .. }),
        "{err:?}"
    );
}

#[test]
fn blobs_round_trip() {
    let (_dir, store) = store();
    let d = store.put_blob(b"hello").unwrap();
    assert_eq!(d, OciDigest::of(b"hello"));
    assert!(store.has_blob(&d));
    assert_eq!(
        store.blob_path(&d),
        store.root().join("blobs/sha256").join(d.hex())
    );
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    store.verify_blob(&d).unwrap();
    // Idempotent.
    assert_eq!(store.put_blob(b"hello").unwrap(), d);

    let mut w = store.blob_writer().unwrap();
    for chunk in [&b"hel"[..], b"", b"lo"] {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.bytes_written(), 5);
    assert_eq!(w.commit().unwrap(), (d.clone(), 5));

    let mut r = store.open_blob(&d).unwrap();
    assert_eq!(r.len(), 5);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(out, "hello");
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn large_blob_streams() {
    let (_dir, store) = store();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = store.blob_writer().unwrap();
    for chunk in data.chunks(7919) {
        w.write_all(chunk).unwrap();
    }
    let (d, size) = w.commit().unwrap();
    assert_eq!(size, data.len() as u64);
    assert_eq!(d, OciDigest::of(&data));
    assert_eq!(store.read_blob(&d).unwrap(), data);
}

#[test]
fn commit_expect_mismatch_publishes_nothing() {
    let (_dir, store) = store();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"actual").unwrap();
    let expected = OciDigest::of(b"expected");
    let err = w.commit_expect(&expected).unwrap_err();
    match err {
        Error::DigestMismatch {
            expected: e,
            actual,
        } => {
            assert_eq!(e, expected);
            assert_eq!(actual, OciDigest::of(b"actual"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!store.has_blob(&OciDigest::of(b"actual")));
    assert!(tmp_entries(&store).is_empty());

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"ok").unwrap();
    assert!(w.commit_expect(&OciDigest::of(b"ok")).is_ok());
}

#[test]
fn dropped_blob_writer_leaves_nothing() {
    let (_dir, store) = store();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"partial").unwrap();
    assert_eq!(tmp_entries(&store).len(), 1);
    drop(w);
    assert!(tmp_entries(&store).is_empty());
    assert!(!store.has_blob(&OciDigest::of(b"partial")));
}

#[test]
fn corrupt_blob_is_rejected_and_removed() {
    let (_dir, store) = store();
    let d = store.put_blob(b"good bytes").unwrap();
    fs::write(store.blob_path(&d), b"evil bytes").unwrap();
    let err = store.read_blob(&d).unwrap_err();
    assert!(
        matches!(&err, Error::CorruptBlob { expected, actual, .. }
            if *expected == d && *actual == OciDigest::of(b"evil bytes")),
        "{err:?}"
    );
    assert!(!store.has_blob(&d), "corrupt blob is removed");
    assert!(store.read_blob(&d).unwrap_err().is_not_found());

    // verify_blob and the streaming reader reject it too.
    let d = store.put_blob(b"more good bytes").unwrap();
    fs::write(store.blob_path(&d), b"more evil bytes").unwrap();
    assert!(matches!(
        store.verify_blob(&d),
        Err(Error::CorruptBlob { .. })
    ));
    let d = store.put_blob(b"third").unwrap();
    fs::write(store.blob_path(&d), b"THIRD").unwrap();
    let mut buf = Vec::new();
    let err = store
        .open_blob(&d)
        .unwrap()
        .read_to_end(&mut buf)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn truncated_existing_blob_is_replaced_on_write() {
    let (_dir, store) = store();
    let d = store.put_blob(b"0123456789").unwrap();
    fs::write(store.blob_path(&d), b"01234").unwrap();
    store.put_blob(b"0123456789").unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), b"0123456789");
}

#[test]
fn missing_blob_is_not_found() {
    let (_dir, store) = store();
    let err = store.read_blob(&digest("nothing")).unwrap_err();
    assert!(matches!(err, Error::BlobNotFound { .. }), "{err:?}");
}

#[test]
fn staging_commits_a_layer() {
    let (_dir, store) = store();
    let id = layer_id(1);
    assert_eq!(store.layer(&id).unwrap(), None);
    let staging = staged(&store, "one");
    let staging_path = staging.path().to_path_buf();
    assert!(staging.upper().is_dir() && staging.work().is_dir());
    assert!(staging.path().starts_with(store.root().join("tmp")));
    let rec = LayerRecord {
        size: 3,
        diff_id: None,
        blobs: vec![],
        created: None,
    };
    let before = now();
    store.commit_layer(staging, &id, rec.clone()).unwrap();
    assert!(!staging_path.exists(), "staging dir removed after commit");
    let got = store.layer(&id).unwrap().expect("record");
    // The commit stamps when the layer was made.
    let created = got.created.expect("created");
    assert!(created >= before && created <= now(), "{created}");
    assert_eq!(
        LayerRecord {
            created: None,
            ..got
        },
        rec
    );
    assert_eq!(store.layer_created(&id), Some(created));
    let dir = store.layer_dir(&id);
    assert_eq!(dir, store.root().join("layers").join(&id));
    assert_eq!(fs::read_to_string(dir.join("file")).unwrap(), "one");
    assert!(dir.join("dir").is_dir());
    assert!(
        store
            .root()
            .join("layers")
            .join(format!("{id}.rec"))
            .is_file()
    );
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn committing_the_same_layer_twice_keeps_the_first_and_merges_records() {
    let (_dir, store) = store();
    let id = layer_id(2);
    let first = LayerRecord {
        size: 3,
        diff_id: None,
        blobs: vec![],
        created: None,
    };
    store
        .commit_layer(staged(&store, "first"), &id, first)
        .unwrap();
    let second = LayerRecord {
        size: 3,
        diff_id: None,
        blobs: vec![blob_info(1)],
        created: None,
    };
    store
        .commit_layer(staged(&store, "second"), &id, second)
        .unwrap();
    assert_eq!(
        fs::read_to_string(store.layer_dir(&id).join("file")).unwrap(),
        "first"
    );
    let rec = store.layer(&id).unwrap().unwrap();
    assert_eq!(rec.blobs, vec![blob_info(1)]);
    assert_eq!(rec.diff_id, Some(blob_info(1).diff_id));
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn layer_dir_without_record_is_adopted() {
    // A crash between publishing the directory and its record.
    let (_dir, store) = store();
    let id = layer_id(3);
    fs::create_dir(store.layer_dir(&id)).unwrap();
    fs::write(store.layer_dir(&id).join("file"), "orphan").unwrap();
    assert_eq!(store.layer(&id).unwrap(), None);
    store
        .commit_layer(staged(&store, "orphan"), &id, LayerRecord::default())
        .unwrap();
    let got = store.layer(&id).unwrap().expect("record");
    assert!(got.created.is_some());
    assert_eq!(
        LayerRecord {
            created: None,
            ..got
        },
        LayerRecord::default()
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[test]
fn empty_layers_commit() {
    let (_dir, store) = store();
    let id = layer_id(4);
    for _ in 0..2 {
        let staging = store.staging().unwrap();
        store
            .commit_layer(staging, &id, LayerRecord::default())
            .unwrap();
    }
    assert!(store.layer_dir(&id).is_dir());
    assert!(store.layer(&id).unwrap().is_some());
}

#[test]
fn add_layer_blob_records_once() {
    let (_dir, store) = store();
    let id = layer_id(5);
    let err = store.add_layer_blob(&id, blob_info(1)).unwrap_err();
    assert!(matches!(err, Error::LayerNotFound { .. }), "{err:?}");
    store
        .commit_layer(staged(&store, "x"), &id, LayerRecord::default())
        .unwrap();
    store.add_layer_blob(&id, blob_info(1)).unwrap();
    store.add_layer_blob(&id, blob_info(2)).unwrap();
    store.add_layer_blob(&id, blob_info(1)).unwrap();
    let rec = store.layer(&id).unwrap().unwrap();
    assert_eq!(rec.blobs, vec![blob_info(1), blob_info(2)]);
    assert_eq!(rec.diff_id, Some(blob_info(1).diff_id));
}

#[test]
fn invalid_layer_ids_are_refused() {
    let (_dir, store) = store();
    for bad in ["", "../../etc", "ABCD", &"g".repeat(64), &"a".repeat(65)] {
        assert!(
            matches!(store.layer(bad), Err(Error::InvalidLayerId { .. })),
            "{bad:?}"
        );
        assert!(matches!(
            store.add_layer_blob(bad, blob_info(1)),
            Err(Error::InvalidLayerId { .. })
        ));
        let staging = store.staging().unwrap();
        assert!(matches!(
            store.commit_layer(staging, bad, LayerRecord::default()),
            Err(Error::InvalidLayerId { .. })
        ));
        let dir = store.layer_dir(bad);
        assert!(dir.starts_with(store.root().join("layers")), "{dir:?}");
        assert!(!dir.exists());
    }
    assert!(tmp_entries(&store).is_empty());
}

/// Overlayfs leaves `work/work` as a mode-000 directory; upper dirs can be read-only.
fn make_hostile(staging: &Path) {
    let ww = staging.join("work/work");
    fs::create_dir(&ww).unwrap();
    fs::write(ww.join("f"), "x").unwrap();
    fs::set_permissions(&ww, fs::Permissions::from_mode(0o000)).unwrap();
    let ro = staging.join("upper/ro/deeper");
    fs::create_dir_all(&ro).unwrap();
    fs::write(ro.join("f"), "x").unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(ro.parent().unwrap(), fs::Permissions::from_mode(0o000)).unwrap();
}

#[test]
fn dropped_staging_is_removed_even_when_unreadable() {
    let (_dir, store) = store();
    let staging = store.staging().unwrap();
    let path = staging.path().to_path_buf();
    make_hostile(&path);
    drop(staging);
    assert!(!path.exists());
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn open_removes_crash_leftovers_but_not_live_work() {
    let (_dir, store) = store();
    let tmp = store.root().join("tmp");
    // A writer that died mid-write, a staging dir of a dead build, a dir that never got its
    // lock file, and a stray symlink.
    fs::write(tmp.join("blob-dead"), b"half a blob").unwrap();
    let dead = tmp.join("stage-dead");
    fs::create_dir_all(dead.join("upper")).unwrap();
    fs::create_dir_all(dead.join("work")).unwrap();
    fs::write(dead.join(".lock"), b"").unwrap();
    make_hostile(&dead);
    fs::create_dir(tmp.join("stage-unfinished")).unwrap();
    std::os::unix::fs::symlink("/etc", tmp.join("link")).unwrap();

    // Live work of this process.
    let live_staging = staged(&store, "live");
    let mut live_writer = store.blob_writer().unwrap();
    live_writer.write_all(b"in progress").unwrap();

    let other = Store::open(store.root()).unwrap();
    let left = tmp_entries(&other);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(live_staging.upper().join("file").is_file());

    // The live work still completes.
    let (d, _) = live_writer.commit().unwrap();
    assert_eq!(other.read_blob(&d).unwrap(), b"in progress");
    store
        .commit_layer(live_staging, &layer_id(6), LayerRecord::default())
        .unwrap();
    assert!(other.layer(&layer_id(6)).unwrap().is_some());
    assert!(tmp_entries(&other).is_empty());
}

#[test]
fn collect_garbage_on_demand() {
    let (_dir, store) = store();
    fs::write(store.root().join("tmp/.rec-dead"), b"x").unwrap();
    assert_eq!(store.collect_garbage().unwrap(), 1);
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn cache_round_trip() {
    let (_dir, store) = store();
    let key = CacheKey([7; 32]);
    assert_eq!(store.cache_get(&key).unwrap(), None);
    let rec = CacheRecord {
        layers: vec![layer_id(1), layer_id(2)],
        created_unix: 1_700_000_000,
    };
    store.cache_put(&key, &rec).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), Some(rec.clone()));
    assert!(store.root().join("cache").join("07".repeat(32)).is_file());
    let newer = CacheRecord {
        layers: vec![],
        created_unix: 1,
    };
    store.cache_put(&key, &newer).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), Some(newer));
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn torn_cache_record_reads_as_absent_and_is_removed() {
    let (_dir, store) = store();
    let key = CacheKey([9; 32]);
    let rec = CacheRecord {
        layers: vec![layer_id(1)],
        created_unix: 5,
    };
    store.cache_put(&key, &rec).unwrap();
    let path = store.root().join("cache").join(key.to_hex());
    let full = fs::read(&path).unwrap();
    for cut in [0, 3, 10, full.len() - 1] {
        fs::write(&path, &full[..cut]).unwrap();
        assert_eq!(store.cache_get(&key).unwrap(), None, "cut at {cut}");
        assert!(!path.exists(), "torn record removed (cut at {cut})");
    }
    fs::write(&path, b"complete garbage, not a record at all").unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), None);
    // And the key works again afterwards.
    store.cache_put(&key, &rec).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), Some(rec));
}

#[test]
fn record_of_unknown_version_is_an_error_and_kept() {
    let (_dir, store) = store();
    let key = CacheKey([1; 32]);
    store
        .cache_put(
            &key,
            &CacheRecord {
                layers: vec![],
                created_unix: 0,
            },
        )
        .unwrap();
    let path = store.root().join("cache").join(key.to_hex());
    let mut bytes = fs::read(&path).unwrap();
    bytes[4] = 200;
    fs::write(&path, &bytes).unwrap();
    let err = store.cache_get(&key).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 200,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(path.exists());
}

#[test]
fn a_record_of_another_kind_is_not_trusted() {
    let (_dir, store) = store();
    let key = CacheKey([2; 32]);
    store.image_put("x", &image(1)).unwrap();
    let image_file = fs::read_dir(store.root().join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::copy(image_file, store.root().join("cache").join(key.to_hex())).unwrap();
    assert_eq!(store.cache_get(&key).unwrap(), None);
}

#[test]
fn images_round_trip_with_awkward_names() {
    let (_dir, store) = store();
    let long = format!("registry.example.com/{}:tag", "deep/".repeat(80));
    let names = [
        "docker.io/library/alpine:3.19",
        "localhost:5000/app@sha256:0123",
        "..",
        ".hidden",
        "weird%name/../x",
        "ünïcode:tag",
        long.as_str(),
    ];
    for (i, name) in names.iter().enumerate() {
        store.image_put(name, &image(i as u8)).unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            store.image_get(name).unwrap(),
            Some(image(i as u8)),
            "{name}"
        );
    }
    for file in fs::read_dir(store.root().join("images")).unwrap() {
        let file = file.unwrap().file_name().into_string().unwrap();
        assert!(!file.starts_with('.') && !file.contains('/') && file.len() <= 255);
    }
    let mut expected: Vec<(String, NamedImage)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), image(i as u8)))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(store.images().unwrap(), expected);

    store.image_put(names[0], &image(42)).unwrap();
    assert_eq!(store.image_get(names[0]).unwrap(), Some(image(42)));
    assert!(store.image_remove(names[0]).unwrap());
    assert!(!store.image_remove(names[0]).unwrap());
    assert_eq!(store.image_get(names[0]).unwrap(), None);
    assert_eq!(store.images().unwrap().len(), names.len() - 1);
    assert!(matches!(
        store.image_put("", &image(0)),
        Err(Error::InvalidName { .. })
    ));
}

#[test]
fn torn_image_records_are_skipped_by_images() {
    let (_dir, store) = store();
    store.image_put("a", &image(1)).unwrap();
    store.image_put("b", &image(2)).unwrap();
    let path = store.root().join("images/b");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(store.images().unwrap(), vec![("a".to_owned(), image(1))]);
    assert_eq!(store.image_get("b").unwrap(), None);
}

#[test]
fn stat_cache_round_trip() {
    let (_dir, store) = store();
    let key = "/home/u/project";
    assert_eq!(store.stat_cache_load(key).unwrap(), None);
    store.stat_cache_save(key, b"opaque").unwrap();
    assert_eq!(
        store.stat_cache_load(key).unwrap().as_deref(),
        Some(&b"opaque"[..])
    );
    store.stat_cache_save(key, b"").unwrap();
    assert_eq!(
        store.stat_cache_load(key).unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(store.stat_cache_load("/other").unwrap(), None);
    // Torn → absent.
    let file = fs::read_dir(store.root().join("stat"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(&file, b"CRNR").unwrap();
    assert_eq!(store.stat_cache_load(key).unwrap(), None);
}

#[test]
fn cache_mount_dirs_are_safe_and_stable() {
    let (_dir, store) = store();
    let mounts = store.root().join("mounts");
    let a = store.cache_mount_dir("go-build").unwrap();
    assert!(a.is_dir() && a.parent() == Some(mounts.as_path()));
    assert!(
        a.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("go-build-")
    );
    fs::write(a.join("kept"), "x").unwrap();
    assert_eq!(store.cache_mount_dir("go-build").unwrap(), a);
    assert!(a.join("kept").exists());
    for id in [
        "../../escape",
        "/abs/path",
        "..",
        ".",
        "",
        "a/b",
        "go-build/",
    ] {
        let d = store.cache_mount_dir(id).unwrap();
        assert_eq!(d.parent(), Some(mounts.as_path()), "{id:?}");
        assert_ne!(d, a);
    }
}

#[test]
fn locks_exclude_and_release() {
    let (_dir, store) = store();
    let held = store.lock("build/some key").unwrap();
    assert_eq!(held.name(), "build/some key");
    let other = store.clone();
    thread::spawn(move || assert!(other.try_lock("build/some key").unwrap().is_none()))
        .join()
        .unwrap();
    assert!(store.try_lock("another key").unwrap().is_some());
    drop(held);
    assert!(store.try_lock("build/some key").unwrap().is_some());
}

#[test]
fn lock_waits_for_the_holder() {
    let (_dir, store) = store();
    let counter = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let counter = counter.clone();
            thread::spawn(move || {
                for _ in 0..10 {
                    let _guard = store.lock("critical").unwrap();
                    counter.lock().unwrap().push((i, "in"));
                    thread::yield_now();
                    counter.lock().unwrap().push((i, "out"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let log = counter.lock().unwrap();
    for pair in log.chunks(2) {
        assert_eq!(
            pair[0].0, pair[1].0,
            "critical sections interleaved: {log:?}"
        );
    }
}

#[test]
fn concurrent_writers_of_the_same_keys_all_succeed() {
    let (_dir, store) = store();
    const THREADS: usize = 8;
    const ROUNDS: usize = 5;
    let barrier = Arc::new(Barrier::new(THREADS));
    let id = layer_id(0xab);
    let key = CacheKey([0xcd; 32]);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            let id = id.clone();
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    barrier.wait();
                    // Same blob, streamed and whole.
                    let mut w = store.blob_writer().unwrap();
                    w.write_all(&vec![b'z'; 100_000]).unwrap();
                    let (d, _) = w.commit().unwrap();
                    assert_eq!(store.put_blob(&vec![b'z'; 100_000]).unwrap(), d);
                    // Same layer content.
                    let staging = staged(&store, "same content");
                    store
                        .commit_layer(staging, &id, LayerRecord::default())
                        .unwrap();
                    store.add_layer_blob(&id, blob_info(t as u8)).unwrap();
                    // Same cache key and image name.
                    let rec = CacheRecord {
                        layers: vec![id.clone()],
                        created_unix: (t * ROUNDS + round) as u64,
                    };
                    store.cache_put(&key, &rec).unwrap();
                    assert!(store.cache_get(&key).unwrap().is_some());
                    store.image_put("shared:latest", &image(t as u8)).unwrap();
                    assert!(store.image_get("shared:latest").unwrap().is_some());
                    store.stat_cache_save("ctx", &[t as u8; 1000]).unwrap();
                    // A reader never sees a torn stat cache.
                    let s = store.stat_cache_load("ctx").unwrap().unwrap();
                    assert!(s.len() == 1000 && s.iter().all(|b| *b == s[0]));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    let d = OciDigest::of(&vec![b'z'; 100_000]);
    assert_eq!(store.read_blob(&d).unwrap().len(), 100_000);
    assert_eq!(
        fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        fs::read_to_string(store.layer_dir(&id).join("file")).unwrap(),
        "same content"
    );
    let layers: Vec<_> = fs::read_dir(store.root().join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(layers.len(), 2, "{layers:?}"); // <id>/ and <id>.rec
    let rec = store.layer(&id).unwrap().unwrap();
    assert_eq!(rec.blobs.len(), THREADS, "no add_layer_blob was lost");
    let c = store.cache_get(&key).unwrap().unwrap();
    assert_eq!(c.layers, vec![id.clone()]);
    assert_eq!(store.images().unwrap().len(), 1);
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn a_second_open_while_the_first_is_busy_works() {
    let (_dir, store) = store();
    let root = store.root().to_path_buf();
    let barrier = Arc::new(Barrier::new(2));
    let busy = {
        let store = store.clone();
        let barrier = barrier.clone();
        thread::spawn(move || {
            let staging = staged(&store, "busy");
            let mut w = store.blob_writer().unwrap();
            w.write_all(b"first").unwrap();
            barrier.wait(); // the other store opens now
            barrier.wait(); // ... and has finished opening
            w.write_all(b" store").unwrap();
            let (d, _) = w.commit().unwrap();
            store
                .commit_layer(staging, &layer_id(7), LayerRecord::default())
                .unwrap();
            d
        })
    };
    barrier.wait();
    let second = Store::open(&root).unwrap();
    barrier.wait();
    let d = busy.join().unwrap();
    assert_eq!(second.read_blob(&d).unwrap(), b"first store");
    assert!(second.layer(&layer_id(7)).unwrap().is_some());
    second
        .cache_put(
            &CacheKey([3; 32]),
            &CacheRecord {
                layers: vec![],
                created_unix: 0,
            },
        )
        .unwrap();
    assert!(store.cache_get(&CacheKey([3; 32])).unwrap().is_some());
}

#[test]
fn default_root_is_cairn_dir_unless_overridden() {
    let root = Store::default_root();
    assert!(root.ends_with("cairn") || std::env::var_os("CAIRN_ROOT").is_some());
}

#[test]
fn a_pinned_reference_resolves_by_manifest_digest() {
    let (_dir, store) = store();
    let a = image(1);
    let b = image(2);
    store.image_put("docker.io/library/base:1", &a).unwrap();
    store.image_put("docker.io/library/other:2", &b).unwrap();
    // By name.
    assert_eq!(
        store.image_resolve("docker.io/library/base:1").unwrap(),
        Some(a.clone())
    );
    // By digest, whatever name (or tag) it is written with.
    for r in [
        format!("docker.io/library/base@{}", record(2).manifest),
        format!("docker.io/library/base:1@{}", record(2).manifest),
        format!("example.com/x@{}", record(1).manifest),
    ] {
        let want = if r.ends_with(&record(2).manifest.to_string()) {
            &b
        } else {
            &a
        };
        assert_eq!(store.image_resolve(&r).unwrap().as_ref(), Some(want), "{r}");
    }
    // A digest nothing has is absent, never the tag's image.
    let missing = format!("docker.io/library/base:1@sha256:{}", "f".repeat(64));
    assert_eq!(store.image_resolve(&missing).unwrap(), None);
    assert!(
        store
            .image_resolve("docker.io/library/base@sha256:nothex")
            .is_err()
    );
}

/// A name holding several platforms' images: a pin by the index digest means them all, a pin
/// by one manifest that one alone; the name alone is no single image.
#[test]
fn a_name_holds_several_images_and_the_index_they_form() {
    let (_dir, store) = store();
    let index = digest("index");
    let named = NamedImage {
        index: Some(index.clone()),
        images: vec![record(1), record(2)],
    };
    store
        .image_put("docker.io/library/multi:1", &named)
        .unwrap();
    assert_eq!(
        store.image_get("docker.io/library/multi:1").unwrap(),
        Some(named.clone())
    );
    assert_eq!(
        store
            .image_resolve(&format!("docker.io/library/multi@{index}"))
            .unwrap(),
        Some(named.clone())
    );
    let second = format!("docker.io/library/multi@{}", record(2).manifest);
    assert_eq!(store.image_resolve_one(&second).unwrap(), Some(record(2)));
    assert_eq!(
        store
            .image_resolve_one("docker.io/library/multi:1")
            .unwrap(),
        None
    );
    // Layers of every platform are in use (prune keeps them).
    let in_use = store.layers_in_use().unwrap();
    assert!(in_use.contains(&layer_id(1).to_string()) && in_use.contains(&layer_id(2).to_string()));
    // A name holds at least one image.
    let empty = NamedImage {
        index: None,
        images: vec![],
    };
    assert!(store.image_put("docker.io/library/none:1", &empty).is_err());
}

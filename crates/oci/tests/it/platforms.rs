//! A name's images per platform: which one serves a platform, and which stay when one
//! platform's image is added (`add_platform_image`).
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]

use cairn_ir::Platform;
use cairn_oci::{Joining, add_platform_image, image_for_platform, import_rootfs_for, platforms_of};
use cairn_store::{ImageRecord, OciDigest, Store};

/// An image of `platform` in `store` (imported from a one-file root file system whose content
/// tells the images apart), not yet under any name of the test's.
fn image(store: &Store, platform: &str, content: &str) -> ImageRecord {
    let rootfs = tempfile::tempdir().expect("rootfs");
    std::fs::write(rootfs.path().join("f"), content).expect("write");
    let p = Platform::parse(platform).expect("platform");
    import_rootfs_for(store, rootfs.path(), "scratch-import:1", p)
        .expect("import")
        .record
}

fn shown(store: &Store, name: &str) -> Vec<String> {
    let named = store.image_get(name).expect("read").expect("named");
    platforms_of(store, &named)
        .expect("platforms")
        .iter()
        .map(Platform::to_string)
        .collect()
}

#[test]
fn a_platform_joins_its_index_and_another_index_replaces_the_name() {
    let dir = tempfile::tempdir().expect("store dir");
    let store = Store::open(dir.path()).expect("store");
    let (amd, arm, arm2) = (
        image(&store, "linux/amd64", "a"),
        image(&store, "linux/arm64", "b"),
        image(&store, "linux/arm64", "c"),
    );
    let index = OciDigest::of(b"index one");
    let name = "docker.io/library/multi:1";
    // Pulls of two platforms of one index: both kept, under the index.
    add_platform_image(&store, name, &amd, Some(&index), Joining::SameIndex).expect("add");
    add_platform_image(&store, name, &arm, Some(&index), Joining::SameIndex).expect("add");
    assert_eq!(shown(&store, name), vec!["linux/amd64", "linux/arm64"]);
    let named = store.image_get(name).expect("read").expect("named");
    assert_eq!(named.index, Some(index.clone()));
    // Its arm64 image again, another one: replaces that platform's only.
    add_platform_image(&store, name, &arm2, Some(&index), Joining::SameIndex).expect("add");
    let named = store.image_get(name).expect("read").expect("named");
    assert_eq!(named.images, vec![amd.clone(), arm2.clone()]);
    // The tag moved (another index), or an image of no index came (`docker load` of one
    // image): the name is that image alone.
    let moved = OciDigest::of(b"index two");
    add_platform_image(&store, name, &arm, Some(&moved), Joining::SameIndex).expect("add");
    assert_eq!(shown(&store, name), vec!["linux/arm64"]);
    add_platform_image(&store, name, &amd, Some(&moved), Joining::SameIndex).expect("add");
    add_platform_image(&store, name, &arm2, None, Joining::SameIndex).expect("add");
    let named = store.image_get(name).expect("read").expect("named");
    assert_eq!((named.index, named.images), (None, vec![arm2.clone()]));
    // An import for a platform joins whatever the name holds (the user assembles it).
    add_platform_image(&store, name, &amd, None, Joining::AnyOther).expect("add");
    assert_eq!(shown(&store, name), vec!["linux/arm64", "linux/amd64"]);
}

#[test]
fn the_image_for_a_platform_is_picked_normalized() {
    let dir = tempfile::tempdir().expect("store dir");
    let store = Store::open(dir.path()).expect("store");
    let name = "docker.io/library/multi:1";
    let v8 = image(&store, "linux/arm64/v8", "v8");
    let amd = image(&store, "linux/amd64", "amd");
    add_platform_image(&store, name, &v8, None, Joining::AnyOther).expect("add");
    add_platform_image(&store, name, &amd, None, Joining::AnyOther).expect("add");
    let named = store.image_get(name).expect("read").expect("named");
    let pick = |p: &str| {
        image_for_platform(&store, &named, &Platform::parse(p).expect("platform")).expect("pick")
    };
    assert_eq!(pick("linux/arm64"), Some(v8.clone()));
    assert_eq!(pick("linux/aarch64"), Some(v8.clone()));
    assert_eq!(pick("linux/amd64"), Some(amd.clone()));
    assert_eq!(pick("linux/s390x"), None);
    // `arm64` is `arm64/v8`: adding one replaces the other.
    let plain = image(&store, "linux/arm64", "plain");
    add_platform_image(&store, name, &plain, None, Joining::AnyOther).expect("add");
    let named = store.image_get(name).expect("read").expect("named");
    assert_eq!(named.images, vec![amd, plain]);
}

/// Two threads adding two platforms to one name at once both stay (the read and the write are
/// one step under the name's lock).
#[test]
fn concurrent_adds_of_two_platforms_keep_both() {
    let dir = tempfile::tempdir().expect("store dir");
    let store = Store::open(dir.path()).expect("store");
    let name = "docker.io/library/race:1";
    for round in 0..20 {
        let amd = image(&store, "linux/amd64", &format!("a{round}"));
        let arm = image(&store, "linux/arm64", &format!("b{round}"));
        let index = OciDigest::of(format!("index {round}").as_bytes());
        std::thread::scope(|s| {
            for rec in [&amd, &arm] {
                let (store, index) = (&store, &index);
                s.spawn(move || {
                    add_platform_image(store, name, rec, Some(index), Joining::SameIndex)
                        .expect("add")
                });
            }
        });
        let named = store.image_get(name).expect("read").expect("named");
        assert_eq!(named.images.len(), 2, "round {round}: {named:?}");
    }
}

/// An OCI layout whose index lists one nested index (that names `image`) `copies` times.
fn layout_listing_an_index(store: &Store, image: &ImageRecord, copies: usize) -> tempfile::TempDir {
    use cairn_oci::model::{Descriptor, Index, MEDIA_TYPE_INDEX};
    let dir = tempfile::tempdir().expect("layout dir");
    let assembled = cairn_oci::assemble_from_record(store, image, cairn_store::Compression::Gzip)
        .expect("assemble");
    cairn_oci::write_oci_layout_dir(store, &assembled, &[], dir.path()).expect("layout");
    let platform = cairn_oci::image_platform(store, image).expect("platform");
    let (digest, bytes) = cairn_oci::image_index([(&assembled, &platform)]).expect("nested index");
    std::fs::write(dir.path().join("blobs/sha256").join(digest.hex()), &bytes).expect("blob");
    let entry = Descriptor {
        media_type: MEDIA_TYPE_INDEX.into(),
        digest: digest.to_string(),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: None,
        platform: None,
    };
    let top = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests: vec![entry; copies],
        annotations: None,
    };
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&top).expect("index json"),
    )
    .expect("index.json");
    dir
}

/// An index listing a nested index many times loads (its image once); one listing more
/// entries than any real archive is refused, not walked.
#[test]
fn an_index_fan_out_is_bounded() {
    let dir = tempfile::tempdir().expect("store dir");
    let store = Store::open(dir.path()).expect("store");
    let img = image(&store, "linux/arm64", "fan");
    let repeated = layout_listing_an_index(&store, &img, 100);
    let fresh_dir = tempfile::tempdir().expect("store dir");
    let fresh = Store::open(fresh_dir.path()).expect("store");
    let loaded = cairn_oci::import_archive(&fresh, repeated.path()).expect("load");
    assert_eq!(loaded.len(), 1);
    let huge = layout_listing_an_index(&store, &img, 5000);
    let e = cairn_oci::import_archive(&fresh, huge.path()).expect_err("5000 entries");
    assert!(e.to_string().contains("more than 4096"), "{e}");
}

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

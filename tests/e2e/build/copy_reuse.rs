//! Copies from the build context built from their previous result (issue 14): after a
//! one-file change, `COPY . /src` shares the unchanged files' inodes with the layer the same
//! copy made before, and the layer is still byte for byte what a full copy makes.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::fixture::{Env, context};

// `ls -l` would show the shared files' link counts (see ARCHITECTURE.md): the listing is of
// names and sizes.
const DOCKERFILE: &str =
    "FROM busybox\nCOPY . /src\nRUN find /src -type f -exec wc -c {} + | sort > /listing\n";

/// The directory of the copy's layer (the image's second layer) of `image`.
fn copy_layer(env: &Env, image: &str) -> PathBuf {
    let id = env.inspect(image)["Layers"][1]["Id"]
        .as_str()
        .expect("layer id")
        .to_string();
    env.root().join("layers").join(id)
}

/// The diff_ids of `image`'s base and copy layers: the sha256 of each layer's tar (the RUN
/// layer's file times differ from run to run).
fn diff_ids(env: &Env, image: &str) -> Vec<Value> {
    let all = env.inspect(image)["RootFS"]["Layers"].clone();
    all.as_array()
        .expect("diff_ids")
        .iter()
        .take(2)
        .cloned()
        .collect()
}

/// The layer ids (content digests) of `image`'s base and copy layers.
fn layer_ids(env: &Env, image: &str) -> Vec<Value> {
    let all = env.inspect(image)["Layers"].clone();
    all.as_array()
        .expect("layers")
        .iter()
        .take(2)
        .map(|l| l["Id"].clone())
        .collect()
}

fn inode(p: &Path) -> (u64, u64) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.dev(), m.ino())
}

/// A context of 60 files in nested directories, with an executable, an empty file, a
/// hardlinked pair and a symlink.
fn big_context() -> tempfile::TempDir {
    let mut files = vec![("Dockerfile".to_string(), DOCKERFILE.to_string())];
    for i in 0..60 {
        files.push((
            format!("d{}/e{}/f{i}", i % 7, i % 3),
            format!("content {i}\n"),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let c = context(&refs);
    let p = c.path();
    std::fs::write(p.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(p.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::write(p.join("empty"), "").expect("write");
    std::fs::write(p.join("h1"), "linked\n").expect("write");
    std::fs::hard_link(p.join("h1"), p.join("h2")).expect("link");
    std::os::unix::fs::symlink("d1/e1/f1", p.join("sym")).expect("symlink");
    c
}

#[test]
fn a_one_file_change_shares_the_other_files_and_makes_the_same_layer() {
    let env = Env::new();
    let c = big_context();
    env.build_ok(c.path(), &["-t", "one"]);
    std::fs::write(c.path().join("d3/e0/f3"), "changed\n").expect("change one file");
    let two = env.build_ok(c.path(), &["-t", "two"]);
    assert!(
        two.ran().iter().any(|s| s.contains("COPY . /src")),
        "the copy ran again"
    );

    let (one_layer, two_layer) = (copy_layer(&env, "one"), copy_layer(&env, "two"));
    assert_ne!(one_layer, two_layer);
    for f in ["d1/e1/f1", "d6/e2/f20", "run.sh"] {
        let (a, b) = (one_layer.join("src").join(f), two_layer.join("src").join(f));
        assert_eq!(
            inode(&a),
            inode(&b),
            "{f} is shared with the previous layer"
        );
    }
    let changed = "src/d3/e0/f3";
    assert_ne!(
        inode(&one_layer.join(changed)),
        inode(&two_layer.join(changed))
    );
    assert_eq!(
        std::fs::read_to_string(two_layer.join(changed)).expect("read"),
        "changed\n"
    );
    // The context's hardlinked pair stays one inode of its own, not the previous layer's.
    let (h1, h2) = (two_layer.join("src/h1"), two_layer.join("src/h2"));
    assert_eq!(inode(&h1), inode(&h2));
    assert_ne!(inode(&h1), inode(&one_layer.join("src/h1")));

    // The same layers as a full copy in a fresh store: same content digests and the same tar
    // bytes (diff_ids), directory times, modes and all.
    let fresh = Env::new();
    fresh.build_ok(c.path(), &["-t", "two"]);
    assert_eq!(diff_ids(&env, "two"), diff_ids(&fresh, "two"));
    assert_eq!(layer_ids(&env, "two"), layer_ids(&fresh, "two"));

    // --no-cache copies everything afresh, into the same layer.
    env.build_ok(c.path(), &["-t", "three", "--no-cache"]);
    assert_eq!(diff_ids(&env, "three"), diff_ids(&fresh, "two"));
}

#[test]
fn without_a_change_of_content_a_changed_mode_is_not_shared() {
    let env = Env::new();
    let c = big_context();
    env.build_ok(c.path(), &["-t", "one"]);
    let f = c.path().join("d2/e2/f2");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    env.build_ok(c.path(), &["-t", "two"]);
    let (one_layer, two_layer) = (copy_layer(&env, "one"), copy_layer(&env, "two"));
    let rel = "src/d2/e2/f2";
    assert_ne!(inode(&one_layer.join(rel)), inode(&two_layer.join(rel)));
    let mode = std::fs::metadata(two_layer.join(rel)).expect("stat").mode();
    assert_eq!(mode & 0o777, 0o600);
    let fresh = Env::new();
    fresh.build_ok(c.path(), &["-t", "two"]);
    assert_eq!(diff_ids(&env, "two"), diff_ids(&fresh, "two"));
}

//! A layer blob (tar, gzip or zstd), unpacked into a fresh directory: never a panic, never a
//! file outside it.
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static N: AtomicU64 = AtomicU64::new(0);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("cairn-fuzz-unpack-{}", std::process::id()));
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dest: PathBuf = base.join(n.to_string());
    let outside = base.join("outside");
    std::fs::create_dir_all(&dest).expect("scratch directory");
    let _ = cairn_oci::unpack_layer(data, &dest);
    assert!(!outside.exists(), "the layer wrote next to its destination");
    let _ = std::fs::remove_dir_all(&dest);
});

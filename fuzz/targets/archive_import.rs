//! A docker or OCI archive (`docker save`, `-o type=oci`), imported into a store: an image or
//! an error, never a panic, and nothing half-written left in the store.
#![no_main]

use std::sync::OnceLock;

struct Scratch {
    store: cairn_store::Store,
    file: std::path::PathBuf,
}

fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("cairn-fuzz-import-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("scratch directory");
        Scratch {
            store: cairn_store::Store::open(&base.join("store")).expect("store"),
            file: base.join("archive.tar"),
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let s = scratch();
    std::fs::write(&s.file, data).expect("write archive");
    let _ = cairn_oci::import_archive(&s.store, &s.file);
});

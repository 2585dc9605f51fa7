//! Manifest documents as a registry sends them (manifest, index, Docker list), and image
//! configs: read and converted, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = cairn_registry::read_manifest(data, &cairn_ir::Platform::linux_amd64());
    if let Ok(file) = serde_json::from_slice::<cairn_oci::model::ImageConfigFile>(data) {
        let _ = cairn_oci::from_config_file(&file);
    }
});

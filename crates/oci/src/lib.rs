//! OCI layers and images (see docs/execution-design.md, "crates/oci").
//!
//! - [`content_digest`]: the LayerId of an overlay-form layer dir ([`digest`] documents the
//!   encoding).
//! - [`write_layer_blob`] / [`unpack_layer`]: layer dir ⇄ OCI layer tar, with whiteout
//!   conversion, in one streaming pass each way; unpacking treats every tar as hostile.
//! - [`flatten_layers`]: a layer stack as one plain tree.
//! - [`assemble_image`], [`write_oci_archive`], [`write_docker_archive`]: export.
//! - [`import_archive`], [`import_rootfs`], [`image_config`]: import and read-back.
//!
//! Writing ownership, device nodes and `trusted.*` xattrs needs root (CAP_CHOWN, CAP_MKNOD,
//! CAP_SYS_ADMIN), which cairn's builder has; the tests run as root.
#![deny(clippy::indexing_slicing)]

mod archive;
mod assemble;
mod convert;
pub mod digest;
mod error;
mod flatten;
mod import;
mod layer_tar;
mod meta;
pub mod model;
mod pipeline;
mod platforms;
mod safefs;
mod time;
mod unpack;
mod walk;
mod whiteout;

pub use archive::{
    LayoutImages, write_docker_archive, write_oci_archive, write_oci_archive_of,
    write_oci_layout_dir, write_oci_layout_dir_of,
};
pub use assemble::{
    AssembledImage, ImageSpec, LayerTarget, assemble_from_record, assemble_image,
    assemble_image_in_store, assemble_image_with, config_blob, describe_layer, describe_layer_as,
    image_config,
};
pub use convert::{from_config_file, to_config_file};
pub use digest::{content_digest, content_digest_sized, content_digest_with};
pub use error::{Error, Result};
pub use flatten::{Devices, flatten_layers, flatten_layers_with};
pub use import::{DEFAULT_PATH, ImportedImage, import_archive, import_rootfs, import_rootfs_for};
pub use layer_tar::{
    Stamp, built_layer_uncompressed_descriptor, layer_media_type, layer_uncompressed_descriptor,
    write_built_layer_blob, write_layer_blob, write_layer_tar, write_layer_tar_stamped,
};
pub use platforms::{
    Joining, add_platform_image, image_for_platform, image_index, image_platform, platforms_of,
    platforms_shown,
};
pub use time::{now_unix, parse_rfc3339, rfc3339};
pub use unpack::unpack_layer;
pub use walk::{PathEffect, layer_path_effect};
pub use whiteout::{OPAQUE_MARKER, WH_PREFIX};

use cairn_store::OciDigest;

pub(crate) fn oci_digest(sha256: &[u8; 32]) -> OciDigest {
    OciDigest::from_sha256(*sha256)
}

//! OCI whiteout names. In a layer tar a deleted path `d/x` is the empty file `d/.wh.x`, and a
//! directory whose lower contents are hidden carries `d/.wh..wh..opq`; on disk (overlayfs
//! form) the same facts are a 0/0 character device and the `trusted.overlay.opaque=y` xattr.

pub const WH_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

//! Registry client (see docs/registry-design.md).

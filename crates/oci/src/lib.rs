//! OCI layers and images (see docs/execution-design.md).

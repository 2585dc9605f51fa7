//! Embedded store (see docs/execution-design.md).

//! File-action semantics (see docs/execution-design.md).

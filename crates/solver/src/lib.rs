//! The solver (see docs/execution-design.md).

//! Isolated execution (see docs/execution-design.md).

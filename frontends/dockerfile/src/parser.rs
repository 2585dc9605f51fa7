//! Dockerfile parser: bytes to [`Ast`]. See `ast.rs` for the tree and the conformance README
//! (`../shared/conformance/buildkit/README.md`) for the exact line-handling rules it follows.

mod ast;
pub use ast::*;

//! The Dockerfile frontend of cairn.
//!
//! It turns Dockerfile text into the cairn IR in three pure steps, none of which touch the
//! filesystem or the network:
//!
//! 1. [`parser`] — physical lines to an AST of raw instruction nodes (directives, continuation
//!    lines, heredocs, JSON/exec forms). Mirrors BuildKit's `parser` package, so its output can be
//!    dumped in BuildKit's s-expression test format and compared byte for byte.
//! 2. [`instructions`] — raw nodes to typed instructions with their flags parsed and checked.
//! 3. [`lower`] — typed stages to an IR [`cairn_ir::Graph`], with build-arg scoping and word
//!    expansion ([`shell`]).
//!
//! Errors carry a [`parser::Span`] so the CLI can show the offending line with a caret.
#![deny(clippy::indexing_slicing)]

pub mod error;
pub mod instructions;
pub mod lint;
pub mod lower;
pub mod parser;
pub mod shell;
pub mod targets;

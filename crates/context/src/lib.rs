//! Build-context handling for cairn.
//!
//! This crate will later also walk the build context and hash its files (the inputs of
//! `COPY`/`ADD` and of the cache keys). For now it holds the pure part that everything else
//! builds on: the `.dockerignore` matcher ([`ignore`]), which decides which files of the
//! context exist as far as the build is concerned. It does no I/O.

pub mod ignore;

pub use ignore::{
    IgnoreMatcher, MatchInfo, Pattern, PatternError, ignore_file_candidates, read_ignore_file,
};

//! End-to-end tests of the `cairn` binary: one integration-test binary (as ripgrep does), one
//! module per area.
// Test output: the loud notice when the conformance data is missing.
#![allow(clippy::disallowed_macros)]
// Test helpers outside #[test] functions: a set-up that fails is a failed test.
#![allow(clippy::expect_used)]

mod build;
mod cli_docs;
mod corpus;
mod digests;
mod errors;
mod parse_conformance;
mod registry;
mod util;

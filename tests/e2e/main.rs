//! End-to-end tests of the `cairn` binary: one integration-test binary (as ripgrep does), one
//! module per area.

mod corpus;
mod digests;
mod errors;
mod parse_conformance;
mod util;

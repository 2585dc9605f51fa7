//! Raw parse nodes to typed instructions (BuildKit's `instructions` package): flags parsed and
//! validated, arguments split by instruction, stages grouped. Words stay unexpanded.

mod types;
pub use types::*;

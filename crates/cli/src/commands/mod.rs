//! One module per subcommand.

pub mod debug;
pub mod input;
pub mod plan;

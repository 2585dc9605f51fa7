//! One module per subcommand, plus what several share.

pub mod bake;
pub mod build;
pub mod check;
pub mod container;
pub mod debug;
pub mod docs;
pub mod explain;
pub mod gc;
pub mod host_config;
pub mod image_ops;
pub mod images;
pub mod input;
pub mod lint;
pub mod named_contexts;
pub mod packed_context;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod ssh;
pub mod terminal;

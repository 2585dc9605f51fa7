//! End-to-end builds: the real binary, a real store, RUN steps in the real sandbox, on a busybox
//! base image the tests make from the host's busybox-static binary.

mod bake;
mod buildkit_port;
mod cache;
mod cases;
pub(crate) mod ci_flags;
mod compat;
mod confinement;
mod containers;
mod copy_reuse;
mod docker_parity;
mod explain;
mod failures;
mod fidelity;
pub mod fixture;
pub(crate) mod git_sources;
mod hostile;
pub(crate) mod http_sources;
mod image_commands;
mod ir_frontend;
mod layers;
mod library;
mod named_contexts;
mod parallel;
mod parity;
mod platforms;
mod progress;
mod protocol_frontend;
mod remote_cache;
mod run_mounts;
mod tmux;

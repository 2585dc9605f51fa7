//! The solver: turns an IR [`Graph`](cairn_ir::Graph) into a result (a stack of layers), doing as
//! little work as the cache allows and running independent work in parallel.
//!
//! Design notes:
//!
//! * **Two cache keys per vertex** (see [`keys`]). The *definition key* is known before anything
//!   runs: the vertex digest, the content of the context files it selects, the base image's
//!   manifest digest, and its inputs' definition keys. A hit on it means the vertex and
//!   everything below it need not even be looked at — a no-op rebuild touches nothing but the
//!   index. On a miss, the inputs are solved and the *content key* is formed from the op alone and
//!   the inputs' actual layers (their content digests). A step whose inputs re-ran but produced
//!   byte-identical files hits on its content key.
//! * **Lazy, deduplicated, parallel.** Each vertex is solved at most once per build (a
//!   `OnceCell` per vertex); a vertex's inputs are solved concurrently as tokio tasks; `--jobs`
//!   bounds how many ops execute at once. Inputs of a definition-key hit are never solved.
//! * **Never fork from tokio.** Exec and file ops go through a [`cairn_sandbox::Executor`], whose
//!   real implementation spawns a single-threaded helper process.
//! * **Fail fast, cleanly.** The first failure aborts the build: sibling tasks are dropped (their
//!   helper processes are killed), and nothing partial is recorded — layers are committed and
//!   cache records written only after an op succeeded.
//! * **Events, not printing.** Progress is a stream of [`Event`]s; the CLI renders them.
#![deny(clippy::indexing_slicing)]

mod causes;
mod events;
mod exec;
mod gate;
mod keycontext;
pub mod keys;
mod reuse;
mod solve;

pub use causes::with_causes;
pub use events::{Event, EventKind, LogStream};
pub use keycontext::StoreKeyContext;
pub use solve::{
    CommitObserver, RemoteCache, RemoteError, SolveError, SolveOptions, SolveOutput, Solver,
    UsedRecord,
};

//! Progress events. Structured so a UI (plain lines today, a richer view later) and tests (did
//! two stages overlap?) can consume the same stream.

use cairn_ir::Digest;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The vertex started executing.
    Started,
    /// The vertex's result came from the cache.
    Cached,
    /// A line of output of a running step.
    Log { stream: LogStream, line: String },
    /// The vertex finished executing.
    Finished,
    /// The vertex failed; `error` says why.
    Failed { error: String },
    /// Something about the vertex the user should know that did not fail it (an imported
    /// cache entry that did not verify, and was treated as a miss).
    Warning { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub vertex: Digest,
    /// The vertex's description (`[build 2/4] RUN make`).
    pub name: String,
    pub at: SystemTime,
    pub kind: EventKind,
}

//! What a build reports while it runs, as events for a driver to render (nextest's reporters
//! fed by events are the model): the solver's step events, the build's own notes and warnings,
//! and the closing counts. The library never prints.

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// A step started, was cached, logged a line, finished or failed.
    Step(cairn_solver::Event),
    /// A note on the build's own work (`naming to …`, `exported 3 cache records …`).
    Info(String),
    /// Something the user should know that does not stop the build.
    Warning(String),
    /// The solve is over: how many steps ran and how many came from the cache.
    Summary { executed: usize, cached: usize },
}

/// Where events go. Called from the build's threads, in order per source.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: BuildEvent);
}

/// A sink that drops everything (embedding programs that only want the result).
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _: BuildEvent) {}
}

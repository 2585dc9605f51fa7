//! Watching bytes move: pulls and pushes tell a [`Transfer`] how many bytes each blob has and
//! how many have moved, so a driver can show progress with sizes and rates. The registry
//! client itself keeps no view of it.

/// Told about blob transfers as they happen, from the transfer tasks (any thread).
pub trait Transfer: Send + Sync {
    /// A blob of `size` bytes starts to move.
    fn begin(&self, size: u64);
    /// `n` more bytes moved.
    fn moved(&self, n: u64);
}

/// No one watching.
pub struct Unobserved;

impl Transfer for Unobserved {
    fn begin(&self, _: u64) {}
    fn moved(&self, _: u64) {}
}

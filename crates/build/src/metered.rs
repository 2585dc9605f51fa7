//! Registry transfers shown as a task's bytes: the registry client counts into a [`Meter`]
//! (atomics, from any transfer task) and the driver's thread reads it every 100 ms into the
//! task's events, so a view gets sizes and rates without the registry knowing of views.

use crate::events::Task;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct Meter {
    done: AtomicU64,
    total: AtomicU64,
}

impl cairn_registry::Transfer for Meter {
    fn begin(&self, size: u64) {
        self.total.fetch_add(size, Ordering::Relaxed);
    }
    fn moved(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

impl Meter {
    fn report(&self, task: &Task<'_>) {
        let total = self.total.load(Ordering::Relaxed);
        if total > 0 {
            task.bytes(self.done.load(Ordering::Relaxed), total);
        }
    }
}

/// Run the transfer `work` makes with a fresh meter, reporting its bytes to `task` while it
/// runs and once at the end.
pub(crate) async fn metered<T, F: Future<Output = T>>(
    task: &Task<'_>,
    work: impl FnOnce(Arc<Meter>) -> F,
) -> T {
    let meter = Arc::new(Meter::default());
    let fut = work(meter.clone());
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let out = loop {
        tokio::select! {
            out = &mut fut => break out,
            _ = tick.tick() => meter.report(task),
        }
    };
    meter.report(task);
    out
}

//! What a build reports while it runs, as events for a driver to render (nextest's reporters
//! fed by events are the model): the solver's step events, the build's own tasks (loading the
//! definition, base-image metadata and pulls, the context, exports and pushes — BuildKit's
//! `[internal]` and `exporting` vertices), notes and warnings, and the closing counts. The
//! library never prints.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// A step started, was cached, logged a line, finished or failed.
    Step(cairn_solver::Event),
    /// The build's own work, around the steps.
    Task(TaskEvent),
    /// A note on the build's own work (`exported 3 cache records …`).
    Info(String),
    /// Something the user should know that does not stop the build.
    Warning(String),
    /// The solve is over: how many steps ran and how many came from the cache.
    Summary { executed: usize, cached: usize },
}

/// Something a task did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEvent {
    /// Unique in this process: a task's events share it.
    pub id: u64,
    /// What the task is (`[internal] load metadata for busybox:latest`, `exporting to image`).
    pub name: String,
    pub at: SystemTime,
    pub kind: TaskKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    Started,
    /// A line about its progress (`naming to example:latest`).
    Note(String),
    /// Bytes moved so far of `total` (0 when not known yet).
    Bytes {
        done: u64,
        total: u64,
    },
    Finished,
    Failed {
        error: String,
    },
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

/// How often a task reports bytes at most: a transfer is millions of chunks, a view needs
/// a few updates a second.
const BYTES_EVERY: Duration = Duration::from_millis(100);

static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

/// A task in flight: started when made, `Finished` by [`Task::finish`], `Failed` by
/// [`Task::fail`] — or, if dropped before either (an early return with an error), failed with
/// "stopped", so no view is left with a task that never ends.
pub struct Task<'a> {
    sink: &'a dyn EventSink,
    id: u64,
    name: String,
    bytes: Mutex<ByteCount>,
    ended: bool,
}

/// A task's transfer: the latest count, the last one sent, and when.
#[derive(Default)]
struct ByteCount {
    latest: (u64, u64),
    sent: Option<(Instant, (u64, u64))>,
}

impl<'a> Task<'a> {
    pub fn start(sink: &'a dyn EventSink, name: impl Into<String>) -> Self {
        let task = Task {
            sink,
            id: NEXT_TASK.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            bytes: Mutex::default(),
            ended: false,
        };
        task.send(TaskKind::Started);
        task
    }

    fn send(&self, kind: TaskKind) {
        self.sink.emit(BuildEvent::Task(TaskEvent {
            id: self.id,
            name: self.name.clone(),
            at: SystemTime::now(),
            kind,
        }));
    }

    pub fn note(&self, line: impl Into<String>) {
        self.send(TaskKind::Note(line.into()));
    }

    /// `done` of `total` bytes moved; reported when it changed, at most every 100 ms (and
    /// at once when the transfer completes).
    pub fn bytes(&self, done: u64, total: u64) {
        self.report_bytes(Some((done, total)), false);
    }

    /// Record `latest` (if any) and send the count if it changed since the last one sent and
    /// is due (or `force`).
    fn report_bytes(&self, latest: Option<(u64, u64)>, force: bool) {
        let mut count = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = latest {
            count.latest = l;
        }
        let (done, total) = count.latest;
        let now = Instant::now();
        let changed = count.sent.is_none_or(|(_, s)| s != count.latest);
        let due = count
            .sent
            .is_none_or(|(at, _)| now.duration_since(at) >= BYTES_EVERY);
        let complete = total > 0 && done >= total;
        if changed && (force || due || complete) && (done, total) != (0, 0) {
            count.sent = Some((now, count.latest));
            drop(count);
            self.send(TaskKind::Bytes { done, total });
        }
    }

    pub fn finish(mut self) {
        // The last count, if the rate limit held it back.
        self.report_bytes(None, true);
        self.ended = true;
        self.send(TaskKind::Finished);
    }

    pub fn fail(mut self, error: impl Into<String>) {
        self.ended = true;
        self.send(TaskKind::Failed {
            error: error.into(),
        });
    }
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.send(TaskKind::Failed {
                error: "stopped".into(),
            });
        }
    }
}

/// Run `work` as a task named `name`: finished when it returns `Ok`, failed with the error's
/// causes when it returns `Err`.
pub fn task<T, E: std::fmt::Display>(
    sink: &dyn EventSink,
    name: impl Into<String>,
    work: impl FnOnce(&Task<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let t = Task::start(sink, name);
    match work(&t) {
        Ok(v) => {
            t.finish();
            Ok(v)
        }
        Err(e) => {
            t.fail(e.to_string());
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<TaskKind>>);
    impl EventSink for Collect {
        fn emit(&self, event: BuildEvent) {
            if let BuildEvent::Task(t) = event {
                self.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(t.kind);
            }
        }
    }

    fn kinds(c: &Collect) -> Vec<TaskKind> {
        c.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    #[test]
    fn bytes_are_rate_limited_but_the_last_count_is_always_sent() {
        let c = Collect::default();
        let t = Task::start(&c, "pull");
        for i in 1..=1000 {
            t.bytes(i, 5000);
        }
        t.finish();
        let k = kinds(&c);
        let bytes: Vec<_> = k
            .iter()
            .filter(|k| matches!(k, TaskKind::Bytes { .. }))
            .collect();
        assert!(bytes.len() < 10, "{} byte events", bytes.len());
        assert_eq!(
            k[k.len() - 2],
            TaskKind::Bytes {
                done: 1000,
                total: 5000
            }
        );
        assert_eq!(k.last(), Some(&TaskKind::Finished));
    }

    #[test]
    fn a_task_that_is_dropped_or_errs_is_failed() {
        let c = Collect::default();
        drop(Task::start(&c, "a"));
        let r: Result<(), String> = task(&c, "b", |_| Err("no space".to_string()));
        assert!(r.is_err());
        let k = kinds(&c);
        assert_eq!(
            k,
            vec![
                TaskKind::Started,
                TaskKind::Failed {
                    error: "stopped".into()
                },
                TaskKind::Started,
                TaskKind::Failed {
                    error: "no space".into()
                },
            ]
        );
    }
}

//! How many steps execute at once. Up to the number of cores, always; beyond it (up to
//! `jobs`) only while the machine's CPUs have room — fewer runnable processes than cores in
//! `/proc/stat` — and one more step per look: steps that sleep, download or wait
//! (BuildKit runs those all at once) never queue behind the core count, while CPU-bound steps
//! (compilers) are not piled on busy cores. With an explicit `--jobs`, exactly that many.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

/// How long a step beyond the cores waits before looking at the CPUs again (a step ending
/// wakes it sooner), and at least between two admissions beyond the cores: the last one's
/// processes must have started to show on the CPUs.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

pub(crate) struct Gate {
    max: Semaphore,
    /// Runnable processes on the machine (`runnable`; a fixed answer in tests).
    probe: fn() -> Option<usize>,
    /// Steps always allowed at once; `None`: no CPU test (an explicit `--jobs`).
    cores: Option<usize>,
    running: AtomicUsize,
    freed: Notify,
    /// Serializes admissions beyond the cores, and when the last one was.
    beyond: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// A running step's place; the next waiting step may go when it is dropped.
pub(crate) struct Pass<'a> {
    gate: &'a Gate,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.gate.running.fetch_sub(1, Ordering::AcqRel);
        self.gate.freed.notify_waiters();
    }
}

/// Runnable processes on the machine now (`procs_running`), if the kernel says.
fn runnable() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("procs_running "))
        .and_then(|n| n.trim().parse().ok())
}

impl Gate {
    /// At most `jobs` at once; with `cpu_aware`, beyond the cores only while the CPUs have
    /// room.
    pub(crate) fn new(jobs: usize, cpu_aware: bool) -> Gate {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Gate::with_probe(jobs, cpu_aware.then_some(cores), runnable)
    }

    fn with_probe(jobs: usize, cores: Option<usize>, probe: fn() -> Option<usize>) -> Gate {
        Gate {
            max: Semaphore::new(jobs.max(1)),
            probe,
            cores,
            running: AtomicUsize::new(0),
            freed: Notify::new(),
            beyond: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn enter(&self) -> Result<Pass<'_>, tokio::sync::AcquireError> {
        let permit = self.max.acquire().await?;
        if let Some(cores) = self.cores
            && self.running.load(Ordering::Acquire) >= cores
        {
            let mut last = self.beyond.lock().await;
            if let Some(since) = last.map(|t| t.elapsed())
                && since < LOOK_AGAIN
            {
                tokio::time::sleep(LOOK_AGAIN - since).await;
            }
            loop {
                let freed = self.freed.notified();
                if self.running.load(Ordering::Acquire) < cores {
                    break;
                }
                // This process reading /proc/stat is one of the runnable ones.
                if (self.probe)().is_none_or(|n| n <= cores) {
                    break;
                }
                tokio::select! {
                    () = freed => {}
                    () = tokio::time::sleep(LOOK_AGAIN) => {}
                }
            }
            self.running.fetch_add(1, Ordering::AcqRel);
            *last = Some(std::time::Instant::now());
            return Ok(Pass {
                gate: self,
                _permit: permit,
            });
        }
        self.running.fetch_add(1, Ordering::AcqRel);
        Ok(Pass {
            gate: self,
            _permit: permit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn admitted(gate: &Gate, n: usize) -> Vec<Pass<'_>> {
        let mut passes = Vec::new();
        for _ in 0..n {
            match tokio::time::timeout(Duration::from_millis(400), gate.enter()).await {
                Ok(Ok(p)) => passes.push(p),
                _ => break,
            }
        }
        passes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_cores_only_while_the_cpus_have_room() {
        // Idle CPUs: up to `jobs`, beyond the 2 cores.
        let idle = Gate::with_probe(6, Some(2), || Some(1));
        assert_eq!(admitted(&idle, 8).await.len(), 6);
        // Busy CPUs: the cores only; a step that ends lets the next in.
        let busy = Gate::with_probe(6, Some(2), || Some(9));
        let mut passes = admitted(&busy, 4).await;
        assert_eq!(passes.len(), 2);
        passes.pop();
        assert_eq!(admitted(&busy, 4).await.len(), 1);
        // An explicit --jobs is exact, whatever the CPUs.
        let exact = Gate::with_probe(3, None, || Some(0));
        assert_eq!(admitted(&exact, 5).await.len(), 3);
    }
}

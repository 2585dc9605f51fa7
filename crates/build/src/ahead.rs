//! Describing the final image's layers while the build still runs.
//!
//! Why: a tagged image's manifest needs each layer's diff id (the sha256 of its tar), an
//! export each layer's compressed blob, and a layer a step has just made is read in full for
//! either. Left to the end, that is time on the critical path — 1.8 s for the 460 MB layer of
//! a 100,000-file `COPY . /src` after a one-file change — while the steps after the layer (a
//! `RUN` over the copied tree) often leave a core idle. So every layer a step on the result's
//! chain (the final stage's root file systems, see `export::result_chain`) commits is
//! described on one background thread, in commit order, by the function the export itself
//! calls ([`cairn_oci::describe_layer_as`]). The export takes each description from here,
//! waiting for one under way, and makes the others itself: layers still waiting in line when
//! the steps are done are dropped from it, not raced.
//!
//! Layers of other stages are never described ahead (no export needs their tars). The worker
//! is stopped and joined before anything else writes layer records for the export
//! ([`Ahead::finish`]); a build that fails or is interrupted tells it to stop and does not
//! wait for the layer it is on (see the `Drop` impl).

use cairn_ir::Digest;
use cairn_oci::LayerTarget;
use cairn_store::{LayerBlob, LayerId, Store};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The background describer of one build.
pub(crate) struct Ahead {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

/// What the solver's tasks (through [`cairn_solver::CommitObserver`]), the worker and the
/// export share.
#[derive(Debug)]
struct Shared {
    store: Store,
    epoch: Option<i64>,
    target: LayerTarget,
    /// The vertices whose layers the final image holds.
    chain: HashSet<Digest>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<LayerId>,
    /// The layer the worker is describing now.
    busy: Option<LayerId>,
    /// Layers described, by id (a failure is left for the export to meet again).
    done: HashMap<LayerId, LayerBlob>,
    /// No more layers will be taken: the worker stops after the one it is on.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        loop {
            let id = {
                let mut st = self.lock();
                st.busy = None;
                self.changed.notify_all();
                loop {
                    if st.closed {
                        return;
                    }
                    if let Some(id) = st.queue.pop_front() {
                        st.busy = Some(id.clone());
                        break id;
                    }
                    st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            // A panic loses this description, nothing else: `busy` is cleared above on the
            // next turn either way, and the export makes it.
            let described = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cairn_oci::describe_layer_as(&self.store, &id, self.epoch, true, self.target)
            }));
            if let Ok(Ok(blob)) = described {
                self.lock().done.insert(id, blob);
            }
        }
    }
}

impl cairn_solver::CommitObserver for Shared {
    fn committed(&self, vertex: Digest, layer: &LayerId) {
        if !self.chain.contains(&vertex) {
            return;
        }
        let mut st = self.lock();
        let known = st.done.contains_key(layer)
            || st.busy.as_ref() == Some(layer)
            || st.queue.contains(layer);
        if !st.closed && !known {
            st.queue.push_back(layer.clone());
            self.changed.notify_all();
        }
    }
}

impl Ahead {
    /// Start describing, for `target` under SOURCE_DATE_EPOCH `epoch`, the layers the vertices
    /// of `chain` commit.
    pub(crate) fn start(
        store: &Store,
        chain: HashSet<Digest>,
        epoch: Option<i64>,
        target: LayerTarget,
    ) -> std::io::Result<Ahead> {
        let shared = Arc::new(Shared {
            store: store.clone(),
            epoch,
            target,
            chain,
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("cairn-describe".into())
                .spawn(move || shared.run())?
        };
        Ok(Ahead {
            shared,
            worker: Some(worker),
        })
    }

    /// What the solver tells of each commit.
    pub(crate) fn observer(&self) -> Arc<dyn cairn_solver::CommitObserver> {
        self.shared.clone()
    }

    /// Stop taking layers.
    fn close(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        st.queue.clear();
        self.shared.changed.notify_all();
    }

    /// Stop taking layers, let the worker finish the one it is on, and join it. Idempotent.
    pub(crate) fn finish(&mut self) {
        self.close();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        // Nothing is under way any more, whatever became of the worker.
        self.shared.lock().busy = None;
        self.shared.changed.notify_all();
    }

    /// The description of `id` made ahead, if there is one and it is what the export wants:
    /// a layer for `target` that is `built` by this build (above the base image's) — or any,
    /// without SOURCE_DATE_EPOCH, where the two are described alike. Waits for one under way
    /// (after [`Ahead::finish`] none is).
    pub(crate) fn get(&self, id: &LayerId, target: LayerTarget, built: bool) -> Option<LayerBlob> {
        let s = &self.shared;
        if target != s.target || !(built || s.epoch.is_none()) {
            return None;
        }
        let mut st = s.lock();
        while st.busy.as_ref() == Some(id) {
            st = s.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.done.get(id).cloned()
    }
}

/// A build that failed or was interrupted does not wait for the layer being described (a
/// compressed export of a big layer takes many seconds): the worker is told to stop and left to
/// finish that one layer. What it still writes is what an export would write — a blob by its
/// digest, the layer's record under its lock, both atomically — so a process that exits (or
/// a GC that removes the layer) meanwhile leaves nothing half-written.
impl Drop for Ahead {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(store: &Store, files: &[(&str, &str)]) -> LayerId {
        let staging = store.staging().expect("staging");
        for (name, data) in files {
            std::fs::write(staging.upper().join(name), data).expect("write");
        }
        let id = cairn_oci::content_digest(staging.upper()).expect("digest");
        let record = cairn_store::LayerRecord {
            size: 3,
            diff_id: None,
            blobs: Vec::new(),
            created: None,
        };
        store.commit_layer(staging, &id, record).expect("commit");
        id
    }

    fn digest(n: u8) -> Digest {
        Digest::from_bytes([n; 32])
    }

    #[test]
    fn layers_of_the_result_chain_are_described_like_the_export_would() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("store");
        let on_chain = layer(&store, &[("a", "one")]);
        let elsewhere = layer(&store, &[("b", "two")]);
        let mut ahead = Ahead::start(&store, HashSet::from([digest(1)]), None, LayerTarget::Store)
            .expect("start");
        let observer = ahead.observer();
        observer.committed(digest(1), &on_chain);
        observer.committed(digest(2), &elsewhere);
        // Wait until the worker is idle with nothing queued.
        {
            let mut st = ahead.shared.lock();
            while !st.queue.is_empty() || st.busy.is_some() {
                st = ahead.shared.changed.wait(st).expect("wait");
            }
        }
        ahead.finish();
        let got = ahead
            .get(&on_chain, LayerTarget::Store, true)
            .expect("the chain's layer was described");
        let again = cairn_oci::describe_layer_as(&store, &on_chain, None, true, LayerTarget::Store)
            .expect("describe");
        assert_eq!(got, again);
        assert_eq!(
            ahead.get(&elsewhere, LayerTarget::Store, true),
            None,
            "another stage's layer was described"
        );
        // After finish, commits are not taken.
        observer.committed(digest(1), &elsewhere);
        assert!(ahead.shared.lock().queue.is_empty());
    }

    #[test]
    fn a_layer_left_busy_does_not_hold_the_export_after_finish() {
        // As a worker that panicked mid-layer leaves it: busy, never cleared by the worker.
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(tmp.path()).expect("store");
        let id = layer(&store, &[("a", "one")]);
        let mut ahead =
            Ahead::start(&store, HashSet::new(), None, LayerTarget::Store).expect("start");
        ahead.finish();
        ahead.shared.lock().busy = Some(id.clone());
        ahead.finish();
        assert_eq!(ahead.get(&id, LayerTarget::Store, true), None);
    }
}

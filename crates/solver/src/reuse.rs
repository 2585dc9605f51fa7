//! Copies from build contexts built from their previous result (issue 14).
//!
//! A file op made only of copies (no archive unpacking) with a build context among its inputs
//! is *tracked*: the sandbox's copier reports every regular file it wrote from a context
//! (`cairn_sandbox::CopyReport`), and
//! - the layer's content digest takes those files' hashes from the context scan instead of
//!   reading them again (`cairn_oci::content_digest_with`);
//! - the result is remembered under a key that does not change with the context's content
//!   ([`reuse_key`]: the op's digest and its inputs' layers), as a `cairn_store::CopyRecord`;
//! - the next run of the same copy (unless the cache is ignored for it) hands the copier that
//!   layer and the destinations whose source still has the recorded hash: those files share
//!   the previous layer's inodes instead of being written (`cairn_fileop::CopyTracker`).
//!
//! What this never changes is the result: the layer is byte for byte what a full copy makes
//! (the copier checks each shared file's metadata against the previous layer and shares an
//! inode at most once), so keys, digests and exported tars are the same either way.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_context::{ContextIndex, EntryKind};
use cairn_ir::{Digest, FileAction, FileOp};
use cairn_sandbox::{CopiedFileRef, CopyReport, CopyTracking, Executor};
use cairn_store::{CopiedFileView, LayerId, Staging};

use crate::causes::store_err;
use crate::solve::{Inner, SolveError, VResult};

/// Domain tag and version of [`reuse_key`]'s encoding.
const DOMAIN: &[u8] = b"cairn/copy-reuse/v1\0";

/// A tracked copy being run: what the job is given, and how to read what it did.
pub(crate) struct Tracked {
    pub tracking: CopyTracking,
    key: [u8; 32],
    indexes: HashMap<u32, Arc<ContextIndex>>,
}

/// What a tracked copy wrote: the helper's report as read, and where in it each file's paths
/// are (a copy of 100,000 files is then one buffer and a vector of 20-byte entries, not
/// 200,000 strings). A file's hash is the scan's, looked up when wanted.
pub(crate) struct Written {
    key: [u8; 32],
    indexes: HashMap<u32, Arc<ContextIndex>>,
    report: Vec<u8>,
    /// Sorted by destination; only files whose source the scan hashed.
    files: Vec<WrittenFile>,
}

struct WrittenFile {
    input: u32,
    source: Span,
    dest: Span,
}

/// A part of a report: offset and length (a report is far below 4 GiB: checked).
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// Where `part` (borrowed from `whole` by a decoder) lies in `whole`.
fn span_in(whole: &[u8], part: &str) -> Option<Span> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(Span {
        start: u32::try_from(start).ok()?,
        len: u32::try_from(part.len()).ok()?,
    })
}

/// The text at `r` of a report (a span [`span_in`] found, so always whole UTF-8).
fn text(report: &[u8], r: Span) -> &str {
    let (start, len) = (r.start as usize, r.len as usize);
    report
        .get(start..start.saturating_add(len))
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default()
}

impl Written {
    fn text(&self, r: Span) -> &str {
        text(&self.report, r)
    }

    fn hash(&self, f: &WrittenFile) -> Option<[u8; 32]> {
        hash_of(&self.indexes, f.input, self.text(f.source))
    }

    /// The hash of the file at `rel` (relative to the layer root), if the copy wrote it. The
    /// files are sorted by destination (the copier reports them so): a binary search, no map.
    pub fn known(&self, rel: &[u8]) -> Option<[u8; 32]> {
        let i = self
            .files
            .binary_search_by(|f| self.text(f.dest).as_bytes().cmp(rel))
            .ok()?;
        self.hash(self.files.get(i)?)
    }
}

/// The key of a copy's previous result: what stays the same when only the context's content
/// changes — the op's digest and each input as the op sees it (a context by name, anything
/// else by its layers). An explicit, versioned encoding fed to blake3.
pub(crate) fn reuse_key(d: Digest, inputs: &[Arc<VResult>]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(d.as_bytes());
    h.update(&(inputs.len() as u64).to_le_bytes());
    for input in inputs {
        match &**input {
            VResult::Local(name) => {
                h.update(b"l");
                h.update(&(name.len() as u64).to_le_bytes());
                h.update(name.as_bytes());
            }
            VResult::Layers(layers) => {
                h.update(b"L");
                h.update(&(layers.len() as u64).to_le_bytes());
                for l in layers.iter() {
                    h.update(l.as_bytes());
                }
            }
        }
    }
    *h.finalize().as_bytes()
}

/// Whether `f` is tracked and, if so, its tracking: the plan file is written to `staging`.
pub(crate) fn prepare<E: Executor + 'static>(
    inner: &Arc<Inner<E>>,
    d: Digest,
    f: &FileOp,
    inputs: &[Arc<VResult>],
    staging: &Staging,
) -> Result<Option<Tracked>, SolveError> {
    let copies_only = f
        .actions
        .iter()
        .all(|a| matches!(a, FileAction::Copy(c) if !c.unpack_archive));
    if !copies_only {
        return Ok(None);
    }
    let indexes: HashMap<u32, Arc<ContextIndex>> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &**r {
            VResult::Local(name) => Some((
                u32::try_from(i).ok()?,
                Arc::clone(inner.opts.contexts.get(name)?),
            )),
            VResult::Layers(_) => None,
        })
        .collect();
    if indexes.is_empty() {
        return Ok(None);
    }
    let key = reuse_key(d, inputs);
    let previous = if inner.ignores_cache(d) {
        None
    } else {
        // The plan: the previous files whose source still has the hash they were copied
        // with, read in place from the record and written as the helper reads them.
        let plan = staging.path().join("copy-plan");
        inner
            .store
            .with_last_copy(&key, |rec| {
                let unchanged: Vec<CopiedFileRef<'_>> = rec
                    .files
                    .iter()
                    .filter(|f| hash_of(&indexes, f.input, f.source) == Some(f.hash))
                    .map(|f| CopiedFileRef {
                        input: f.input,
                        source: f.source,
                        dest: f.dest,
                    })
                    .collect();
                CopyReport::write(&plan, &unchanged)
                    .map(|()| (inner.store.layer_dir(&rec.layer), plan.clone()))
                    .map_err(|e| SolveError::Store(format!("write {}: {e}", plan.display())))
            })
            .map_err(store_err)?
            .transpose()?
    };
    let mut tracked_inputs: Vec<u32> = indexes.keys().copied().collect();
    tracked_inputs.sort_unstable();
    Ok(Some(Tracked {
        tracking: CopyTracking {
            inputs: tracked_inputs,
            previous,
            report: staging.path().join("copy-report"),
        },
        key,
        indexes,
    }))
}

fn hash_of(
    indexes: &HashMap<u32, Arc<ContextIndex>>,
    input: u32,
    source: &str,
) -> Option<[u8; 32]> {
    match indexes.get(&input)?.get(source)?.kind {
        EntryKind::File { hash } => Some(hash),
        _ => None,
    }
}

impl Tracked {
    /// Read the job's report (after the copy's context reads were checked unchanged): each
    /// file written with its hash from the scan.
    pub fn written(&self) -> Result<Written, SolveError> {
        let path = &self.tracking.report;
        let unreadable =
            |e: std::io::Error| SolveError::Internal(format!("read {}: {e}", path.display()));
        let report = std::fs::read(path).map_err(unreadable)?;
        let view = CopyReport::view(&report).map_err(unreadable)?;
        // Sized once: collected from a filter, the vector would grow by doubling.
        let mut files: Vec<WrittenFile> = Vec::with_capacity(view.files.len());
        for e in &view.files {
            if hash_of(&self.indexes, e.input, e.source).is_none() {
                continue;
            }
            let (Some(source), Some(dest)) = (span_in(&report, e.source), span_in(&report, e.dest))
            else {
                return Err(SolveError::Internal(format!(
                    "{}: a path outside the report",
                    path.display()
                )));
            };
            files.push(WrittenFile {
                input: e.input,
                source,
                dest,
            });
        }
        drop(view);
        // Sorted as reported; sorting again costs nothing then and keeps `known` right.
        files.sort_unstable_by(|a, b| text(&report, a.dest).cmp(text(&report, b.dest)));
        Ok(Written {
            key: self.key,
            indexes: self.indexes.clone(),
            report,
            files,
        })
    }
}

impl Written {
    /// Remember `layer` as this copy's last result.
    pub fn remember<E: Executor + 'static>(
        self,
        inner: &Inner<E>,
        layer: LayerId,
    ) -> Result<(), SolveError> {
        // Every file here has a hash (checked when read; a zero one would only make the next
        // copy write that file again); the record is streamed from them.
        let files = self.files.iter().map(|f| CopiedFileView {
            input: f.input,
            source: self.text(f.source),
            dest: self.text(f.dest),
            hash: self.hash(f).unwrap_or_default(),
        });
        inner
            .store
            .set_last_copy_files(&self.key, &layer, files)
            .map_err(store_err)
    }
}

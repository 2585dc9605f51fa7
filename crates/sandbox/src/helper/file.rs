//! File jobs: the rootfs overlay and read-only views of the sources, then `cairn_fileop` on the
//! merged directory. Only a mount namespace is needed: nothing is executed.

use std::path::PathBuf;

use rustix::thread::UnshareFlags;

use super::{Context, HelperError, Scratch, mounts, sys};
use crate::{CopyReport, CopyTracking, FileJob, MountSource};

pub fn run(job: &FileJob, scratch: &Scratch) -> Result<(), HelperError> {
    sys::unshare(UnshareFlags::NEWNS).ctx(|| "unshare(mount namespace)".into())?;
    mounts::make_root_private()?;
    scratch.mount()?;

    let merged = scratch.dir("rootfs")?;
    let lowers = non_empty(&job.rootfs.lowers, scratch)?;
    mounts::mount_overlay(
        &merged,
        &lowers,
        Some((&job.rootfs.upper, &job.rootfs.work)),
        mounts::Setuid::Ignored,
    )?;
    let mut tracker = job
        .tracking
        .as_ref()
        .map(|t| tracker(t, &job.rootfs.upper))
        .transpose()?;
    let result = apply(job, scratch, &merged, tracker.as_mut());
    // Unmount before returning so the upper directory is quiescent when the caller commits it
    // (the namespace would go away with us anyway), and before deferred files are linked there.
    let unmounted = mounts::detach(&merged);
    result.and(unmounted)?;
    if let (Some(tracking), Some(tracker)) = (&job.tracking, tracker.as_mut()) {
        let stats = tracker
            .link_deferred(&job.rootfs.upper)
            .map_err(|e| HelperError::Msg(e.to_string()))?;
        let report = CopyReport {
            files: tracker.copied().collect(),
            linked: stats.linked as u64,
            written: stats.written as u64,
        };
        CopyReport::write(&tracking.report, &report)
            .ctx(|| format!("write {}", tracking.report.display()))?;
    }
    Ok(())
}

/// The tracker of a tracked copy, with its plan read from the file the caller wrote.
fn tracker(
    tracking: &CopyTracking,
    upper: &std::path::Path,
) -> Result<cairn_fileop::CopyTracker, HelperError> {
    let plan = match &tracking.previous {
        Some((layer, plan)) => {
            let entries: Vec<cairn_fileop::CopiedFile> =
                CopyReport::read(plan).ctx(|| format!("read {}", plan.display()))?;
            Some(cairn_fileop::CopyPlan {
                previous: layer.clone(),
                upper: upper.to_path_buf(),
                unchanged: entries
                    .into_iter()
                    .map(|e| (e.dest, (e.input, e.source)))
                    .collect(),
            })
        }
        None => None,
    };
    cairn_fileop::CopyTracker::new(tracking.inputs.iter().copied(), plan)
        .map_err(|e| HelperError::Msg(e.to_string()))
}

fn apply(
    job: &FileJob,
    scratch: &Scratch,
    merged: &std::path::Path,
    tracker: Option<&mut cairn_fileop::CopyTracker>,
) -> Result<(), HelperError> {
    let mut sources = Vec::with_capacity(job.sources.len());
    for source in &job.sources {
        let dir = source_dir(source, scratch)?;
        // A plain directory source is the build context: like `docker build`, its files are
        // copied as root-owned unless --chown says otherwise. Layer sources keep their owners.
        sources.push(match source {
            MountSource::Dir { ignore, .. } => {
                cairn_fileop::Source::context(dir).with_ignore(ignore.clone())
            }
            MountSource::Layers(_) => cairn_fileop::Source::new(dir),
        });
    }
    match tracker {
        Some(t) => cairn_fileop::apply_tracked(merged, &sources, &job.actions, t),
        None => cairn_fileop::apply_with(merged, &sources, &job.actions),
    }
    .map_err(|e| HelperError::Msg(e.to_string()))
}

/// A read-only directory showing `source`: the directory itself, a single layer, or an overlay.
pub(super) fn source_dir(source: &MountSource, scratch: &Scratch) -> Result<PathBuf, HelperError> {
    match source {
        MountSource::Dir { path, .. } => Ok(path.clone()),
        MountSource::Layers(layers) => match mounts::topmost_unique(layers).as_slice() {
            [] => scratch.dir("empty"),
            [one] => Ok(one.clone()),
            many => {
                let at = scratch.dir("source")?;
                mounts::mount_overlay(&at, many, None, mounts::Setuid::Ignored)?;
                Ok(at)
            }
        },
    }
}

/// The lowers of an overlay: the layers, or one empty directory for scratch.
pub(super) fn non_empty(
    layers: &[PathBuf],
    scratch: &Scratch,
) -> Result<Vec<PathBuf>, HelperError> {
    if layers.is_empty() {
        Ok(vec![scratch.dir("empty")?])
    } else {
        Ok(layers.to_vec())
    }
}

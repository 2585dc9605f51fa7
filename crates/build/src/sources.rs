//! Remote sources — HTTP (`ADD <url>`) and git (`ADD <repo>.git#ref:dir`) — fetched into the
//! store before the build is solved, as base images are resolved before it: the solver's keys
//! then name exactly the layer each fetch gave.

use crate::error::{BuildError, Result};
use crate::events::{BuildEvent, EventSink};
use cairn_ir::{Digest, Graph, Op, SourceOp};
use cairn_store::Store;
use std::collections::{BTreeMap, HashMap};

/// git's bounds from the network timeouts: asking within the deadline, fetching within ten.
pub fn git_timeouts(t: cairn_registry::Timeouts) -> cairn_git::Timeouts {
    cairn_git::Timeouts {
        ask: t.deadline,
        fetch: t.deadline.saturating_mul(10),
        idle: t.idle,
    }
}

/// What one remote source is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Remote {
    Http(cairn_http::Source),
    Git(cairn_git::Source),
}

/// Fetch (or revalidate) every remote source of `graph`, all at once: the layer of each
/// source vertex.
pub fn fetch_remote(
    graph: &Graph,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
    timeouts: cairn_registry::Timeouts,
    ssh_agent: Option<std::path::PathBuf>,
    events: &dyn EventSink,
) -> Result<HashMap<Digest, cairn_store::LayerId>> {
    // One fetch per source, named by the first step that uses it.
    let mut sources: BTreeMap<Remote, (String, Vec<Digest>)> = BTreeMap::new();
    for v in &graph.vertices {
        let remote = match &v.op {
            Op::Source(SourceOp::Http {
                url,
                checksum,
                filename,
            }) => Remote::Http(cairn_http::Source {
                url: url.clone(),
                filename: filename
                    .clone()
                    .unwrap_or_else(|| SourceOp::http_default_filename(url)),
                checksum: checksum.clone(),
            }),
            Op::Source(SourceOp::Git {
                remote,
                reference,
                subdir,
                keep_git_dir,
                checksum,
                submodules,
            }) => Remote::Git(cairn_git::Source {
                remote: remote.clone(),
                reference: reference.clone(),
                subdir: subdir.clone(),
                keep_git_dir: *keep_git_dir,
                checksum: checksum.clone(),
                submodules: *submodules,
            }),
            _ => continue,
        };
        let place = match graph.meta.get(&v.digest) {
            Some(m) => match (&m.file, m.lines) {
                (Some(file), Some((line, _))) => format!("{file}:{line}: "),
                _ => String::new(),
            },
            None => String::new(),
        };
        sources
            .entry(remote)
            .or_insert_with(|| (place, Vec::new()))
            .1
            .push(v.digest);
    }
    let mut fetched = HashMap::new();
    if sources.is_empty() {
        return Ok(fetched);
    }
    let http = cairn_http::Fetcher::new(
        store.clone(),
        cairn_http::Timeouts {
            connect: timeouts.connect,
            idle: timeouts.idle,
        },
    )
    .map_err(BuildError::msg)?;
    let git =
        cairn_git::Fetcher::new(store.clone(), git_timeouts(timeouts)).with_ssh_agent(ssh_agent);
    let results = runtime.block_on(futures_util::future::join_all(sources.keys().map(|r| {
        let http = http.clone();
        let git = git.clone();
        async move {
            match r {
                Remote::Http(src) => http
                    .fetch(src)
                    .await
                    .map(|f| {
                        let shown = match f.downloaded {
                            Some(n) => format!(
                                "[internal] load remote {}: {n} bytes, {}",
                                src.url, f.digest
                            ),
                            None => format!(
                                "[internal] load remote {}: unchanged, {}",
                                src.url, f.digest
                            ),
                        };
                        (f.layer, shown)
                    })
                    .map_err(|e| BuildError::msg(format!("ADD {e}"))),
                Remote::Git(src) => {
                    let src = src.clone();
                    let shown_remote = src.remote.clone();
                    tokio::task::spawn_blocking(move || git.fetch(&src))
                        .await
                        .map_err(|e| BuildError::msg(format!("git fetch stopped: {e}")))?
                        .map(|f| {
                            let how = if f.checked_out {
                                "checked out"
                            } else {
                                "unchanged"
                            };
                            (
                                f.layer,
                                format!(
                                    "[internal] load git source {shown_remote}: {how} at {}",
                                    f.commit
                                ),
                            )
                        })
                        .map_err(|e| BuildError::msg(format!("ADD {e}")))
                }
            }
        }
    })));
    for ((_, (place, vertices)), result) in sources.iter().zip(results) {
        match result {
            Ok((layer, shown)) => {
                events.emit(BuildEvent::Info(shown));
                for v in vertices {
                    fetched.insert(*v, layer.clone());
                }
            }
            Err(e) => return Err(BuildError::msg(format!("{place}{e}"))),
        }
    }
    Ok(fetched)
}

//! HTTP sources (`ADD <url>`), fetched into the store before the build is solved, as base
//! images are resolved before it: the solver's keys then name exactly what was fetched.

use crate::commands::progress::Progress;
use anyhow::{Result, anyhow};
use cairn_ir::{Graph, Op, SourceOp};
use cairn_store::Store;
use std::collections::BTreeMap;

/// Fetch (or revalidate) every HTTP source of `graph`, all at once.
pub fn fetch_http(
    graph: &Graph,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
    progress: &Progress,
) -> Result<()> {
    // One fetch per source, named by the first step that uses it.
    let mut sources: BTreeMap<cairn_http::Source, String> = BTreeMap::new();
    for v in &graph.vertices {
        let Op::Source(SourceOp::Http {
            url,
            checksum,
            filename,
        }) = &v.op
        else {
            continue;
        };
        let src = cairn_http::Source {
            url: url.clone(),
            filename: filename
                .clone()
                .unwrap_or_else(|| SourceOp::http_default_filename(url)),
            checksum: checksum.clone(),
        };
        let place = match graph.meta.get(&v.digest) {
            Some(m) => match (&m.file, m.lines) {
                (Some(file), Some((line, _))) => format!("{file}:{line}: "),
                _ => String::new(),
            },
            None => String::new(),
        };
        sources.entry(src).or_insert(place);
    }
    if sources.is_empty() {
        return Ok(());
    }
    let fetcher = cairn_http::Fetcher::new(store.clone(), cairn_http::Timeouts::default())
        .map_err(|e| anyhow!(e))?;
    let results = runtime.block_on(futures_util::future::join_all(
        sources.keys().map(|src| fetcher.fetch(src)),
    ));
    for ((src, place), result) in sources.iter().zip(results) {
        match result {
            Ok(f) => progress.info(&match f.downloaded {
                Some(n) => format!(
                    "[internal] load remote {}: {n} bytes, {}",
                    src.url, f.digest
                ),
                None => format!(
                    "[internal] load remote {}: unchanged, {}",
                    src.url, f.digest
                ),
            }),
            Err(e) => return Err(anyhow!("{place}ADD {e}")),
        }
    }
    Ok(())
}

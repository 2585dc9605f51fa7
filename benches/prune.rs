//! Pruning a store with 10,000 cache records, each naming a layer of its own (issue 13): how
//! long it takes to decide what goes (`--dry-run`, least recently used first, nothing
//! removed) and to remove half of it (`--keep-storage`), on a store in the system's temporary
//! directory. Run with `cargo bench -p cairn-store --bench prune`.
// A benchmark whose store cannot be made is a broken benchmark: stop and say so.
#![allow(clippy::expect_used)]

use cairn_store::{CacheKey, CacheRecord, LayerRecord, PruneOptions, Store};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const RECORDS: usize = 10_000;
/// Bytes of the one file in each layer.
const LAYER_BYTES: usize = 1000;

fn layer_id(i: usize) -> String {
    blake3::hash(format!("layer {i}").as_bytes())
        .to_hex()
        .to_string()
}

/// A store with `RECORDS` records, each naming its own one-file layer, used at distinct times.
fn store_with_records() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let content = vec![7u8; LAYER_BYTES];
    for i in 0..RECORDS {
        let staging = store.staging().expect("staging");
        std::fs::write(staging.upper().join("f"), &content).expect("write");
        let id = layer_id(i);
        store
            .commit_layer(staging, &id, LayerRecord::default())
            .expect("commit layer");
        let key = CacheKey(*blake3::hash(format!("key {i}").as_bytes()).as_bytes());
        store
            .cache_put(
                &key,
                &CacheRecord {
                    layers: vec![cairn_store::LayerId::parse(&id).expect("layer id")],
                    created_unix: 1_700_000_000 + i as u64,
                },
            )
            .expect("record");
    }
    drop(store);
    let store = Store::open_for_prune(dir.path()).expect("open for prune");
    (dir, store)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("prune-10k-records");
    g.sample_size(10);
    let (_dir, store) = store_with_records();
    g.bench_function("dry-run", |b| {
        b.iter(|| {
            let report = store
                .prune(
                    &PruneOptions {
                        all: true,
                        dry_run: true,
                        ..PruneOptions::default()
                    },
                    &mut || {},
                )
                .expect("prune");
            assert_eq!(report.removed.len(), 2 * RECORDS);
            black_box(report)
        })
    });
    g.bench_function("remove-half", |b| {
        b.iter_batched(
            store_with_records,
            |(dir, store)| {
                let report = store
                    .prune(
                        &PruneOptions {
                            keep_storage: Some((RECORDS * LAYER_BYTES / 2) as u64),
                            ..PruneOptions::default()
                        },
                        &mut || {},
                    )
                    .expect("prune");
                assert!(report.removed.len() >= RECORDS / 2);
                (dir, report)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

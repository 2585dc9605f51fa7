//! Parsing + lowering a large Dockerfile: 50 stages, 2,000 instructions, with build args,
//! heredocs, mounts and cross-stage copies. Target: well under 5 ms for the whole pipeline.
// A benchmark whose input does not parse is a broken benchmark: stop and say so.
#![allow(clippy::expect_used)]

use cairn_dockerfile::lower::{LowerOptions, NoResolver, lower_source};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

// The same allocator as the `cairn` binary, so the figure is the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 50 stages of 40 instructions each (FROM included) = 2,000 instructions.
fn large_dockerfile() -> String {
    let mut s = String::from("# syntax=docker/dockerfile:1\nARG BASE=busybox:1.36\n");
    let mut count = 1;
    for stage in 0..50 {
        s.push_str(&format!("FROM ${{BASE}} AS stage{stage}\n"));
        count += 1;
        s.push_str("ARG VERSION=1.0\n");
        count += 1;
        let mut i = 0;
        while count < (stage + 1) * 40 + 1 {
            let line = match i % 8 {
                0 => format!("ENV STEP_{i}=value-{i} PATH_{i}=/opt/{stage}/bin\n"),
                1 => format!(
                    "RUN echo \"step {i} of ${{VERSION}}\" > /tmp/s{i} && \\\n    cat /tmp/s{i}\n"
                ),
                2 => format!("COPY --chown=1000:1000 src/file{i}.txt /app/{stage}/\n"),
                3 => format!("WORKDIR /work/{stage}/{i}\n"),
                4 => format!(
                    "RUN --mount=type=cache,target=/root/.cache,id=c{stage} --mount=type=tmpfs,target=/tmp make -j4 target{i}\n"
                ),
                5 if stage > 0 => format!(
                    "COPY --from=stage{} /app/{} /deps/{i}/\n",
                    stage - 1,
                    stage - 1
                ),
                6 => format!("LABEL org.example.step{i}=\"{stage}-{i}\"\n"),
                _ => format!("RUN <<EOF\nset -e\necho heredoc {i}\nEOF\n"),
            };
            s.push_str(&line);
            i += 1;
            count += 1;
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let src = large_dockerfile();
    let opts = LowerOptions::default();
    // Sanity: the pipeline succeeds and covers every stage.
    let lowered =
        lower_source(src.as_bytes(), &opts, &NoResolver).expect("large Dockerfile lowers");
    assert!(lowered.graph.vertices.len() > 1000);
    c.bench_function("parse_only_2000_instructions", |b| {
        b.iter(|| cairn_dockerfile::parser::parse(black_box(src.as_bytes())).expect("parses"))
    });
    c.bench_function("parse_and_type_2000_instructions", |b| {
        b.iter(|| {
            let ast = cairn_dockerfile::parser::parse(black_box(src.as_bytes())).expect("parses");
            cairn_dockerfile::instructions::from_ast(&ast).expect("types")
        })
    });
    c.bench_function("parse_and_lower_2000_instructions_50_stages", |b| {
        b.iter(|| lower_source(black_box(src.as_bytes()), &opts, &NoResolver).expect("lowers"))
    });
    // Lowering must stay linear in the number of ARGs and ENVs (it once cloned the global
    // scope per ARG and searched the env per ENV: 40,000 ENVs took 8.8 s, now 0.05 s).
    let mut group = c.benchmark_group("linear");
    group.sample_size(10);
    for n in [10_000usize, 40_000] {
        let args: String = (0..n)
            .map(|i| format!("ARG a{i}=v{i}\n"))
            .collect::<String>()
            + "FROM busybox\nRUN true\n";
        group.bench_function(format!("global_args_{n}"), |b| {
            b.iter(|| lower_source(black_box(args.as_bytes()), &opts, &NoResolver).expect("lowers"))
        });
        let envs = "FROM busybox\n".to_string()
            + &(0..n)
                .map(|i| format!("ENV e{i}=v{i}\n"))
                .collect::<String>()
            + "RUN true\n";
        group.bench_function(format!("stage_envs_{n}"), |b| {
            b.iter(|| lower_source(black_box(envs.as_bytes()), &opts, &NoResolver).expect("lowers"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! A Dockerfile, parsed, typed and lowered to a graph (no image resolution): any input ends
//! in a graph or an error, never a panic, an abort or unbounded work.
#![no_main]

use cairn_dockerfile::lower::{LowerOptions, NoResolver, lower_source};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(ast) = cairn_dockerfile::parser::parse(data) {
        let _ = cairn_dockerfile::parser::dump(&ast);
    }
    let opts = LowerOptions::default();
    if let Ok(lowered) = lower_source(data, &opts, &NoResolver) {
        // The graph checks its own shape (edges, result) as the solver will.
        let _ = lowered.graph.validate();
    }
});

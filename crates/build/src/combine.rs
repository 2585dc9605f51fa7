//! Several graphs as one: every graph's vertices (shared ones once: a vertex is its digest),
//! the result a hidden merge of their results. How a multi-platform build (one graph per
//! platform) and a bake (one per target) solve everything at once — independent work in
//! parallel, common work (the context, a `$BUILDPLATFORM` stage) once — and then read each
//! graph's result from the merge's inputs (`SolveOutput::parts`).

use crate::error::Result;
use cairn_ir::{Graph, GraphBuilder, Input, MergeOp, Op, VertexMeta};

/// `graphs` in one graph whose result merges theirs, in order (described as `description`).
/// Its platform and image are the first graph's (the merge is never exported).
pub fn combine(graphs: &[Graph], description: &str) -> Result<Graph> {
    let mut b = GraphBuilder::new();
    let mut results = Vec::new();
    for g in graphs {
        for v in &g.vertices {
            let meta = g.meta.get(&v.digest).cloned().unwrap_or_default();
            b.add(v.op.clone(), v.inputs.clone(), meta)?;
        }
        if let Some(r) = g.result {
            results.push(r);
        }
    }
    let (platform, image) = graphs.first().map_or_else(
        || (cairn_ir::Platform::host(), cairn_ir::ImageConfig::default()),
        |g| (g.platform.clone(), g.image.clone()),
    );
    let result = match results.as_slice() {
        [] => None,
        many => {
            let merge = Op::Merge(MergeOp {
                inputs: (0..many.len() as u32).collect(),
            });
            let meta = VertexMeta {
                description: description.into(),
                hidden: true,
                ..VertexMeta::default()
            };
            Some(Input::of(b.add(merge, many.to_vec(), meta)?))
        }
    };
    Ok(b.finish(result, platform, image))
}

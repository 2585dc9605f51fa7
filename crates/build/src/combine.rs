//! Several graphs as one: every graph's vertices (shared ones once: a vertex is its digest),
//! the result a hidden merge of their results. How a multi-platform build (one graph per
//! platform) and a bake (one per target) solve everything at once — independent work in
//! parallel, common work (the context, a `$BUILDPLATFORM` stage) once — and then read each
//! graph's result from the merge's inputs (`SolveOutput::parts`).

use crate::error::Result;
use cairn_ir::{Graph, GraphBuilder, Input, MergeOp, Op, VertexMeta};

/// `graphs` in one graph whose result merges theirs, in order, one input each (described as
/// `description`). Its platform and image are the first graph's (the merge is never exported).
pub fn combine(graphs: &[Graph], description: &str) -> Result<Graph> {
    let mut b = GraphBuilder::new();
    let mut results = Vec::new();
    for g in graphs {
        for v in &g.vertices {
            let meta = g.meta.get(&v.digest).cloned().unwrap_or_default();
            b.add(v.op.clone(), v.inputs.clone(), meta)?;
        }
        // A graph without a result (`FROM scratch` and metadata only) keeps its place among
        // the merge's inputs with an empty result of its own: the parts stay aligned.
        let result = match g.result {
            Some(r) => r,
            None => Input::of(b.add(
                Op::Merge(MergeOp { inputs: Vec::new() }),
                Vec::new(),
                VertexMeta {
                    description: "[internal] empty result".into(),
                    hidden: true,
                    ..VertexMeta::default()
                },
            )?),
        };
        results.push(result);
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_ir::{ExecOp, HostConfig, Mount, MountKind, NetworkMode, SecurityMode};

    fn graph_of(cmd: Option<&str>) -> Graph {
        let mut b = GraphBuilder::new();
        let result = cmd.map(|c| {
            let op = Op::Exec(ExecOp {
                args: vec![c.to_string()],
                env: vec![],
                cwd: "/".into(),
                user: String::new(),
                hostname: None,
                network: NetworkMode::None,
                security: SecurityMode::Sandbox,
                mounts: vec![Mount {
                    target: "/".into(),
                    input: None,
                    selector: "/".into(),
                    readonly: false,
                    kind: MountKind::Rootfs,
                }],
                proxy_env: vec![],
                host_config: HostConfig::default(),
                platform: None,
            });
            Input::of(b.add(op, vec![], VertexMeta::default()).expect("add"))
        });
        b.finish(
            result,
            cairn_ir::Platform::host(),
            cairn_ir::ImageConfig::default(),
        )
    }

    /// Every graph has its input in the merge, in order — one without a result too, and two
    /// with the same result each once — so each platform's result is read from its place.
    #[test]
    fn each_graph_keeps_its_place_among_the_merges_inputs() {
        let graphs = [
            graph_of(Some("a")),
            graph_of(None),
            graph_of(Some("a")),
            graph_of(Some("b")),
        ];
        let g = combine(&graphs, "all").expect("combine");
        let merge = g
            .result
            .and_then(|r| g.vertex(&r.vertex))
            .expect("a merge result");
        let Op::Merge(m) = &merge.op else {
            panic!("the result is not a merge: {:?}", merge.op)
        };
        assert_eq!(m.inputs.len(), 4);
        assert_eq!(merge.inputs.len(), 4);
        let input = |i: usize| merge.inputs[i].vertex;
        assert_eq!(Some(input(0)), graphs[0].result.map(|r| r.vertex));
        assert_eq!(input(0), input(2));
        assert_eq!(Some(input(3)), graphs[3].result.map(|r| r.vertex));
        let empty = g.vertex(&input(1)).expect("the empty result");
        assert!(matches!(&empty.op, Op::Merge(m) if m.inputs.is_empty()));
    }
}

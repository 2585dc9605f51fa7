//! The graph as a frontend or a person writes it: the JSON form's reading side.
//!
//! A frontend in another language cannot be asked to reproduce [`crate::canon`]'s encoding to
//! name its vertices, so the JSON a build accepts lets a vertex be named by an `id` of the
//! writer's choosing instead of its digest; inputs, the result and `meta` name vertices by id
//! or by digest. A stated `digest` is still checked against the vertex's content, so
//! `cairn plan --format json` output (which states every digest) is input as it is. Digests
//! are always computed here, by [`GraphBuilder`]: whatever the writer claims, the solver gets a
//! graph whose names match its content.
//!
//! Every error names the JSON path of what is wrong (`graph.vertices[3].inputs[0].vertex`), as
//! a person fixing a generated file needs. `docs/ir.schema.json` is generated from these types
//! ([`json_schema`]); a test keeps the file and the types in step.

use crate::{Digest, FORMAT_VERSION, Graph, GraphBuilder, GraphError, Input, VertexMeta};
use crate::{ImageConfig, Op, Platform};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The name in the `format` field of every graph document.
pub const FORMAT_NAME: &str = "cairn.graph";

/// A graph document: `{"format": "cairn.graph", "version": 3, "graph": {...}}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "cairn build graph",
    description = "A build as a DAG of operations (docs/ir.md). Vertices come in dependency order; each is named by an `id` of the writer's choosing or by its digest."
)]
pub struct Document {
    /// Always `cairn.graph`.
    #[schemars(extend("const" = "cairn.graph"))]
    pub format: String,
    /// The format version this document is written in.
    #[schemars(extend("const" = 3))]
    pub version: u32,
    pub graph: AuthoredGraph,
}

/// The graph of a [`Document`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthoredGraph {
    /// Every vertex after the vertices it uses.
    pub vertices: Vec<AuthoredVertex>,
    /// The vertex whose result is the build's; none: an empty file system.
    #[serde(default)]
    pub result: Option<AuthoredInput>,
    pub platform: Platform,
    /// The config of the image the build makes.
    #[serde(default)]
    pub image: ImageConfig,
    /// Descriptions and source lines of vertices, by id or digest (they never change a digest).
    #[serde(default)]
    pub meta: BTreeMap<String, VertexMeta>,
}

/// One operation and the vertices it reads.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthoredVertex {
    /// A name other vertices use for this one (any string unique in the graph).
    #[serde(default)]
    pub id: Option<String>,
    /// The vertex's digest; checked when given.
    #[serde(default)]
    pub digest: Option<Digest>,
    pub op: Op,
    /// The vertices the op reads; the op refers to them by position in this list.
    #[serde(default)]
    pub inputs: Vec<AuthoredInput>,
}

/// A reference to an earlier vertex.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthoredInput {
    /// The vertex's `id` or digest.
    pub vertex: String,
    /// Which output of the vertex (0 for every op cairn has).
    #[serde(default)]
    pub output: u32,
}

/// The JSON Schema of a graph document (the content of `docs/ir.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Document)).unwrap_or_default()
}

/// An error at a JSON path.
fn at(path: impl Into<String>, error: GraphError) -> GraphError {
    GraphError::At {
        path: path.into(),
        error: Box::new(error),
    }
}

/// Parse and check a graph document; every digest is computed here.
pub fn load(json: &str) -> Result<Graph, GraphError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| GraphError::Malformed(e.to_string()))?;
    load_value(&value)
}

/// [`load`] of a document already parsed as JSON (a frontend's `result` message).
pub fn load_value(value: &serde_json::Value) -> Result<Graph, GraphError> {
    #[derive(Deserialize)]
    struct Head {
        format: String,
        version: u32,
    }
    let parse_err = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        let error = GraphError::Malformed(e.into_inner().to_string());
        if path == "." { error } else { at(path, error) }
    };
    // Format and version first: a newer document is "unsupported version", not a field error.
    let head: Head = serde_path_to_error::deserialize(value).map_err(parse_err)?;
    if head.format != FORMAT_NAME {
        return Err(at(
            "format",
            GraphError::Malformed(format!("{:?}, expected {FORMAT_NAME:?}", head.format)),
        ));
    }
    if head.version != FORMAT_VERSION {
        return Err(at(
            "version",
            GraphError::Version(head.version, FORMAT_VERSION),
        ));
    }
    let doc: Document = serde_path_to_error::deserialize(value).map_err(parse_err)?;
    build(doc.graph)
}

/// The checked [`Graph`] of an authored one.
fn build(g: AuthoredGraph) -> Result<Graph, GraphError> {
    let AuthoredGraph {
        vertices,
        result,
        platform,
        image,
        mut meta,
    } = g;
    let mut b = GraphBuilder::new();
    // Ids and digests (as written) of the vertices added so far.
    let mut names: HashMap<String, Digest> = HashMap::new();
    let lookup = |names: &HashMap<String, Digest>, input: &AuthoredInput, path: String| {
        names
            .get(&input.vertex)
            .map(|&vertex| Input {
                vertex,
                output: input.output,
            })
            .ok_or_else(|| {
                at(
                    path,
                    GraphError::Malformed(format!(
                        "no earlier vertex is named {:?} (a vertex comes after those it reads)",
                        input.vertex
                    )),
                )
            })
    };
    for (i, v) in vertices.into_iter().enumerate() {
        let inputs = v
            .inputs
            .iter()
            .enumerate()
            .map(|(j, input)| {
                lookup(
                    &names,
                    input,
                    format!("graph.vertices[{i}].inputs[{j}].vertex"),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let m =
            v.id.as_ref()
                .and_then(|id| meta.remove(id))
                .or_else(|| v.digest.and_then(|d| meta.remove(&d.to_string())))
                .unwrap_or_default();
        let digest = b
            .add(v.op, inputs, m)
            .map_err(|e| at(format!("graph.vertices[{i}].op"), e))?;
        if let Some(stated) = v.digest
            && stated != digest
        {
            return Err(at(
                format!("graph.vertices[{i}].digest"),
                GraphError::DigestMismatch {
                    stated,
                    actual: digest,
                },
            ));
        }
        if let Some(id) = v.id
            && names.insert(id.clone(), digest).is_some()
        {
            return Err(at(
                format!("graph.vertices[{i}].id"),
                GraphError::Malformed(format!("{id:?} names an earlier vertex too")),
            ));
        }
        names.insert(digest.to_string(), digest);
    }
    if let Some(key) = meta.keys().next() {
        return Err(at(
            format!("graph.meta.{key}"),
            GraphError::Malformed("names no vertex".into()),
        ));
    }
    let result = result
        .map(|r| lookup(&names, &r, "graph.result.vertex".into()))
        .transpose()?;
    Ok(b.finish(result, platform, image))
}

/// Tests of the reading side; the round trip with the writing side is in `format`.
#[cfg(test)]
mod tests {
    use super::*;

    fn doc(graph: &str) -> String {
        format!(r#"{{"format": "cairn.graph", "version": {FORMAT_VERSION}, "graph": {graph}}}"#)
    }

    const PLATFORM: &str = r#""platform": {"os": "linux", "architecture": "amd64"}"#;

    #[test]
    fn vertices_named_by_id_get_their_digests() {
        let g = load(&doc(&format!(
            r#"{{"vertices": [
                {{"id": "base", "op": {{"source": {{"image": {{"reference": "docker.io/library/busybox:latest", "platform": {{"os": "linux", "architecture": "amd64"}}}}}}}}}},
                {{"id": "run", "op": {{"exec": {{"args": ["sh", "-c", "echo hi > /x"], "mounts": [{{"target": "/", "input": 0, "kind": "rootfs"}}]}}}}, "inputs": [{{"vertex": "base"}}]}}
              ],
              "result": {{"vertex": "run"}}, {PLATFORM},
              "meta": {{"run": {{"description": "RUN echo hi", "hidden": false}}}}}}"#
        )))
        .unwrap();
        assert_eq!(g.vertices.len(), 2);
        let run = &g.vertices[1];
        assert_eq!(g.result.unwrap().vertex, run.digest);
        assert_eq!(run.inputs[0].vertex, g.vertices[0].digest);
        assert_eq!(g.meta[&run.digest].description, "RUN echo hi");
        let Op::Exec(x) = &run.op else { panic!() };
        // Defaults of a hand-written exec: cwd and selector `/`, root, default network.
        assert_eq!((x.cwd.as_str(), x.user.as_str()), ("/", ""));
        assert_eq!(x.mounts[0].selector, "/");
        g.validate().unwrap();
    }

    #[test]
    fn errors_name_the_json_path() {
        let cases = [
            (
                format!(r#"{{"vertices": [{{"op": {{"exec": {{"args": 3}}}}}}], {PLATFORM}}}"#),
                "graph.vertices[0].op.exec.args",
            ),
            (
                format!(
                    r#"{{"vertices": [{{"id": "a", "op": {{"merge": {{"inputs": []}}}}, "inputs": [{{"vertex": "b"}}]}}], {PLATFORM}}}"#
                ),
                "graph.vertices[0].inputs[0].vertex",
            ),
            (
                format!(
                    r#"{{"vertices": [{{"op": {{"merge": {{"inputs": [2]}}}}}}], {PLATFORM}}}"#
                ),
                "graph.vertices[0].op",
            ),
            (
                format!(r#"{{"vertices": [], "result": {{"vertex": "x"}}, {PLATFORM}}}"#),
                "graph.result.vertex",
            ),
            (
                format!(
                    r#"{{"vertices": [], "meta": {{"x": {{"description": ""}}}}, {PLATFORM}}}"#
                ),
                "graph.meta.x",
            ),
            (
                format!(
                    r#"{{"vertices": [{{"op": {{"merge": {{"inputs": []}}}}, "colour": 1}}], {PLATFORM}}}"#
                ),
                "graph.vertices[0].colour",
            ),
            (
                format!(
                    r#"{{"vertices": [{{"id": "a", "op": {{"merge": {{"inputs": []}}}}}}, {{"id": "a", "op": {{"source": {{"local": {{"name": "context"}}}}}}}}], {PLATFORM}}}"#
                ),
                "graph.vertices[1].id",
            ),
            (
                format!(
                    r#"{{"vertices": [{{"digest": "blake3:{}", "op": {{"merge": {{"inputs": []}}}}}}], {PLATFORM}}}"#,
                    "0".repeat(64)
                ),
                "graph.vertices[0].digest",
            ),
        ];
        for (graph, path) in cases {
            let e = load(&doc(&graph)).unwrap_err();
            let GraphError::At { path: got, .. } = &e else {
                panic!("{graph}: {e}")
            };
            assert_eq!(got, path, "{e}");
            assert!(e.to_string().starts_with(path), "{e}");
        }
        let e = load(r#"{"format": "cairn.graph", "version": 99, "graph": 1}"#).unwrap_err();
        assert!(e.to_string().contains("version 99"), "{e}");
        let e = load(r#"{"format": "other", "version": 3}"#).unwrap_err();
        assert!(e.to_string().starts_with("format: "), "{e}");
        assert!(load("[1, 2").is_err());
    }
}

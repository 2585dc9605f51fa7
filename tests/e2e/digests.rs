//! Digest stability: what must not change a digest does not, and a change touches exactly the
//! vertices downstream of it.

use crate::util::{context, plan_graph};
use cairn_ir::{Digest, Graph};
use std::collections::{BTreeMap, HashSet};

const BASE: &str = "\
FROM busybox AS a
RUN echo a > /a
COPY a.txt /a.txt
RUN cat /a.txt

FROM busybox AS b
ARG FLAVOR=plain
RUN echo b > /b
RUN echo $FLAVOR > /flavor

FROM busybox AS unused
RUN echo never

FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
COPY b.txt /b.txt
";

fn files(dockerfile: &str) -> Vec<(&str, &str)> {
    vec![
        ("Dockerfile", dockerfile),
        ("a.txt", "A"),
        ("b.txt", "B"),
        ("c.txt", "C"),
    ]
}

/// Digest by vertex description, with the `[stage n/m]` prefix's counters and lines ignored.
fn by_description(g: &Graph) -> BTreeMap<String, Digest> {
    g.vertices
        .iter()
        .map(|v| {
            let d = g
                .meta
                .get(&v.digest)
                .map(|m| m.description.clone())
                .unwrap_or_default();
            let key = match d.split_once("] ") {
                Some((prefix, rest)) => format!(
                    "{} {rest}",
                    prefix
                        .trim_start_matches('[')
                        .split(' ')
                        .next()
                        .unwrap_or("")
                ),
                None => d,
            };
            (key, v.digest)
        })
        .collect()
}

fn digests(g: &Graph) -> HashSet<Digest> {
    g.vertices.iter().map(|v| v.digest).collect()
}

/// Every vertex downstream of (and including) `roots`.
fn downstream(g: &Graph, roots: &HashSet<Digest>) -> HashSet<Digest> {
    let mut out = roots.clone();
    for v in &g.vertices {
        if v.inputs.iter().any(|i| out.contains(&i.vertex)) {
            out.insert(v.digest);
        }
    }
    out
}

#[test]
fn same_dockerfile_same_digests_across_runs_and_paths() {
    let c1 = context(&files(BASE));
    let c2 = context(&files(BASE));
    let g1 = plan_graph(c1.path(), &[]);
    let g1b = plan_graph(c1.path(), &[]);
    let g2 = plan_graph(c2.path(), &[]);
    assert_eq!(digests(&g1), digests(&g1b));
    assert_eq!(digests(&g1), digests(&g2));
    assert_eq!(g1.result, g2.result);
}

#[test]
fn comments_blank_lines_and_unused_stages_change_nothing() {
    let g = plan_graph(context(&files(BASE)).path(), &[]);
    let mut named = BASE.replacen(
        "FROM busybox\nCOPY --from=a",
        "FROM busybox AS final\nCOPY --from=a",
        1,
    );
    let g_named = plan_graph(context(&files(&named)).path(), &[]);
    assert_eq!(
        digests(&g),
        digests(&g_named),
        "naming the final stage changes nothing"
    );
    named = format!(
        "# comment\n\n{}",
        named.replace("RUN echo b", "# a comment\n\nRUN echo b")
    );
    named.push_str("\nFROM busybox AS another-unused\nRUN false\n");
    let g3 = plan_graph(context(&files(&named)).path(), &["--target=final"]);
    assert_eq!(
        digests(&g),
        digests(&g3),
        "comments, blank lines and an unused stage change no digest"
    );
    assert_eq!(g.result, g3.result);
    // An unused stage is not in the graph at all.
    assert!(!by_description(&g).keys().any(|k| k.contains("never")));
}

#[test]
fn changing_an_instruction_changes_exactly_its_downstream() {
    let g = plan_graph(context(&files(BASE)).path(), &[]);
    let changed = BASE.replace("RUN echo a > /a", "RUN echo A > /a");
    let g2 = plan_graph(context(&files(&changed)).path(), &[]);
    assert_changed_exactly_downstream(&g, &g2, "a RUN echo a > /a");
}

#[test]
fn changing_a_used_build_arg_changes_exactly_its_downstream() {
    let g = plan_graph(context(&files(BASE)).path(), &[]);
    let g2 = plan_graph(
        context(&files(BASE)).path(),
        &["--build-arg", "FLAVOR=spicy"],
    );
    // The ARG is first used by the first RUN after its declaration.
    assert_changed_exactly_downstream(&g, &g2, "b RUN echo b > /b");
    // Passing the default value explicitly changes nothing.
    let g3 = plan_graph(
        context(&files(BASE)).path(),
        &["--build-arg", "FLAVOR=plain"],
    );
    assert_eq!(digests(&g), digests(&g3));
}

#[test]
fn changing_a_copy_selector_changes_exactly_its_downstream() {
    let g = plan_graph(context(&files(BASE)).path(), &[]);
    let changed = BASE.replace("COPY a.txt /a.txt", "COPY c.txt /a.txt");
    let g2 = plan_graph(context(&files(&changed)).path(), &[]);
    assert_changed_exactly_downstream(&g, &g2, "a COPY a.txt /a.txt");
}

#[test]
fn dockerignore_changes_only_context_users() {
    let g = plan_graph(context(&files(BASE)).path(), &[]);
    let mut f = files(BASE);
    f.push((".dockerignore", "*.md\n"));
    let g2 = plan_graph(context(&f).path(), &[]);
    let before = by_description(&g);
    let after = by_description(&g2);
    // Steps that never read the context keep their digests.
    for key in ["b RUN echo b > /b", "a RUN echo a > /a"] {
        assert_eq!(before.get(key), after.get(key), "{key}");
    }
    assert_ne!(
        before.get("a COPY a.txt /a.txt"),
        after.get("a COPY a.txt /a.txt")
    );
}

/// `g2` differs from `g` exactly in the vertex described by `first_changed` and what depends on it.
fn assert_changed_exactly_downstream(g: &Graph, g2: &Graph, first_changed: &str) {
    let before = by_description(g);
    let after = by_description(g2);
    let root = *before
        .get(first_changed)
        .unwrap_or_else(|| panic!("no vertex {first_changed:?} in {:?}", before.keys()));
    let expected_changed = downstream(g, &HashSet::from([root]));
    assert!(
        expected_changed.len() > 1,
        "test should exercise a real downstream"
    );
    let names: BTreeMap<Digest, &String> = before.iter().map(|(k, d)| (*d, k)).collect();
    for (desc, d) in &before {
        // Descriptions of changed instructions differ; compare by position instead.
        let still_there = after.get(desc).is_some_and(|d2| d2 == d);
        if expected_changed.contains(d) {
            assert!(!still_there, "{desc} should have changed");
        } else {
            assert!(
                still_there,
                "{desc} should not have changed (digest {})",
                names[d]
            );
        }
    }
    assert_ne!(g.result, g2.result);
}

#[test]
fn the_dot_plan_has_one_edge_per_input() {
    let dir = context(&files(BASE));
    let graph = plan_graph(dir.path(), &[]);
    let out = crate::util::cairn()
        .args(["plan", "--format=dot"])
        .arg(dir.path())
        .output()
        .expect("run cairn plan");
    assert!(out.status.success());
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    let edges = dot.lines().filter(|l| l.contains(" -> ")).count();
    let inputs: usize = graph.vertices.iter().map(|v| v.inputs.len()).sum();
    assert!(inputs > 0);
    assert_eq!(edges, inputs, "{dot}");
}

//! Why a step ran (`cairn build --explain`, `cairn explain`): no builder says so today
//! (moby/buildkit#2567, #2039). After each build the steps' identities are recorded under the
//! target's key in the store's history; the next build of the same target compares every
//! step that ran with the step at the same place last time and names what differs — the
//! instruction text, a field of the op (an env value a build arg set, the pinned base image),
//! the file under a COPY source that changed (path, old and new fingerprint), or the input
//! step whose result changed — or says there was no earlier build.
//!
//! Records stay small: a step is its place, name, vertex digest, op (as JSON) and input
//! places; a copy from a local source lists its files only up to [`FILES_MAX`], beyond that
//! directories (the deepest level that fits), so a 300,000-file context costs the same as a
//! 20,000-file one. Records are rewritten only when a step ran, so a no-op build writes
//! nothing but its one-line explanation.

use cairn_context::ContextIndex;
use cairn_ir::{Digest, FileAction, Graph, Op};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Files (or directories) recorded per copy source at most.
pub const FILES_MAX: usize = 10_000;
/// Reasons listed per step at most (the rest are counted).
const REASONS_MAX: usize = 12;
/// The store history key of the last build's explanation.
pub const LAST: &str = "explain/last";
const RECORD_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildRecord {
    version: u32,
    steps: Vec<StepRecord>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct StepRecord {
    /// Where the step is: `[build 3/` for a Dockerfile step (it stays when the text
    /// changes), else its whole name.
    place: String,
    name: String,
    vertex: [u8; 32],
    /// The op as JSON, to name the field that changed.
    op: String,
    inputs: Vec<String>,
    files: Vec<FileSet>,
}

/// What one copy from a local source selected.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct FileSet {
    src: String,
    /// Paths (or, when `dirs`, directory prefixes ending in `/`) and their fingerprints.
    entries: Vec<(String, [u8; 16])>,
    dirs: bool,
}

/// Why the steps of a build ran.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    /// Whether an earlier build of the target was found to compare with.
    pub earlier: bool,
    pub steps: Vec<StepWhy>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StepWhy {
    pub step: String,
    pub reasons: Vec<String>,
}

impl Explanation {
    pub fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// The explanation of the last build made with a history key in `store`.
pub fn last(store: &cairn_store::Store) -> Result<Option<Explanation>, cairn_store::Error> {
    Ok(store
        .history_load(LAST)?
        .as_deref()
        .and_then(Explanation::decode))
}

impl BuildRecord {
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes::<BuildRecord>(bytes)
            .ok()
            .filter(|r| r.version == RECORD_VERSION)
    }
}

fn place_of(name: &str) -> String {
    // `[stage 3/7] RUN …` → `[stage 3/`
    if name.starts_with('[')
        && let Some(end) = name.find(']')
        && let Some(slash) = name.get(..end).and_then(|s| s.rfind('/'))
    {
        return name.get(..=slash).unwrap_or(name).to_string();
    }
    name.to_string()
}

fn describe(graph: &Graph, d: &Digest) -> String {
    graph
        .meta
        .get(d)
        .map(|m| m.description.clone())
        .unwrap_or_else(|| d.to_string())
}

/// The files a copy selects, as recorded: file by file up to [`FILES_MAX`], else grouped by
/// the deepest directory level that fits.
fn file_set(index: &ContextIndex, src: &str, exclude: &[String]) -> FileSet {
    let files = index.selection_files(src, exclude).unwrap_or_default();
    if files.len() <= FILES_MAX {
        return FileSet {
            src: src.to_string(),
            entries: files,
            dirs: false,
        };
    }
    // A file less deep than `depth` stands for itself.
    let prefix = |path: &'_ str, depth: usize| -> usize {
        match path.match_indices('/').nth(depth.saturating_sub(1)) {
            _ if depth == 0 => 0,
            Some((i, _)) => i + 1,
            None => path.len(),
        }
    };
    // The deepest level whose groups still fit (counted without hashing: a blake3 hasher per
    // group at 100,000 files was hundreds of megabytes).
    let count = |depth: usize| -> usize {
        let mut seen = std::collections::HashSet::new();
        for (path, _) in &files {
            seen.insert(path.get(..prefix(path, depth)).unwrap_or_default());
        }
        seen.len()
    };
    let mut best = (0, count(0));
    for depth in 1..32 {
        let n = count(depth);
        if n > FILES_MAX {
            break;
        }
        let same = n == best.1;
        best = (depth, n);
        if same && depth > 8 {
            break;
        }
    }
    // Then one pass in group order (stable: within a group, the files' own order), one hasher
    // at a time.
    let mut order: Vec<(&str, usize)> = files
        .iter()
        .enumerate()
        .map(|(i, (path, _))| (path.get(..prefix(path, best.0)).unwrap_or_default(), i))
        .collect();
    order.sort_by(|a, b| a.0.cmp(b.0));
    let mut entries: Vec<(String, [u8; 16])> = Vec::with_capacity(best.1);
    let mut current: Option<(&str, blake3::Hasher)> = None;
    let finish = |(p, h): (&str, blake3::Hasher)| {
        let mut fp = [0u8; 16];
        fp.copy_from_slice(h.finalize().as_bytes().get(..16).unwrap_or(&[0u8; 16]));
        (p.to_string(), fp)
    };
    for (group, i) in order {
        let Some((path, fp)) = files.get(i) else {
            continue;
        };
        if current.as_ref().is_some_and(|(g, _)| *g != group) {
            entries.extend(current.take().map(finish));
        }
        let (_, h) = current.get_or_insert_with(|| (group, blake3::Hasher::new()));
        h.update(&(path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update(fp);
    }
    entries.extend(current.take().map(finish));
    FileSet {
        src: src.to_string(),
        entries,
        dirs: true,
    }
}

/// This build's record: steps that `ran` (or have no counterpart in `old`) are described
/// afresh; the others keep their old description (their inputs did not change).
pub(crate) fn record(
    graph: &Graph,
    contexts: &HashMap<String, Arc<ContextIndex>>,
    ran: &HashSet<Digest>,
    old: Option<&BuildRecord>,
) -> BuildRecord {
    let old_by_vertex: HashMap<[u8; 32], &StepRecord> = old
        .map(|o| o.steps.iter().map(|s| (s.vertex, s)).collect())
        .unwrap_or_default();
    let locals = graph.local_sources();
    let mut steps = Vec::new();
    for v in &graph.vertices {
        if locals.contains_key(&v.digest) {
            continue;
        }
        let vertex = *v.digest.as_bytes();
        if !ran.contains(&v.digest)
            && let Some(s) = old_by_vertex.get(&vertex)
        {
            steps.push((*s).clone());
            continue;
        }
        let name = describe(graph, &v.digest);
        let mut files = Vec::new();
        if let Op::File(f) = &v.op {
            for a in &f.actions {
                if let FileAction::Copy(c) = a
                    && let Some(local) = v
                        .inputs
                        .get(c.source as usize)
                        .and_then(|i| locals.get(&i.vertex))
                    && let Some(index) = contexts.get(*local)
                {
                    files.push(file_set(index, &c.src, &c.exclude));
                }
            }
        }
        steps.push(StepRecord {
            place: place_of(&name),
            name,
            vertex,
            op: serde_json::to_string(&v.op).unwrap_or_default(),
            inputs: v
                .inputs
                .iter()
                .filter(|i| !locals.contains_key(&i.vertex))
                .map(|i| place_of(&describe(graph, &i.vertex)))
                .collect(),
            files,
        });
    }
    BuildRecord {
        version: RECORD_VERSION,
        steps,
    }
}

/// Why each step in `ran` ran, comparing `new` with `old` (the last build of the target).
pub(crate) fn explain(
    old: Option<&BuildRecord>,
    new: &BuildRecord,
    ran: &HashSet<Digest>,
    no_cache: bool,
) -> Explanation {
    let ran_bytes: HashSet<[u8; 32]> = ran.iter().map(|d| *d.as_bytes()).collect();
    let ran_places: HashSet<&str> = new
        .steps
        .iter()
        .filter(|s| ran_bytes.contains(&s.vertex))
        .map(|s| s.place.as_str())
        .collect();
    let old_by_place: HashMap<&str, &StepRecord> = old
        .map(|o| o.steps.iter().map(|s| (s.place.as_str(), s)).collect())
        .unwrap_or_default();
    let new_by_place: HashMap<&str, &StepRecord> =
        new.steps.iter().map(|s| (s.place.as_str(), s)).collect();
    let mut steps = Vec::new();
    for s in new.steps.iter().filter(|s| ran_bytes.contains(&s.vertex)) {
        let mut reasons = Vec::new();
        if no_cache {
            reasons.push("--no-cache".to_string());
        }
        match (old, old_by_place.get(s.place.as_str())) {
            (None, _) => reasons.push("no earlier build of this target".into()),
            (Some(_), None) => {
                reasons.push("a new step: the last build had none at this place".into())
            }
            (Some(_), Some(o)) => {
                compare(o, s, &mut reasons);
                for (i, input) in s.inputs.iter().enumerate() {
                    let changed = ran_places.contains(input.as_str())
                        || match (
                            old_by_place.get(input.as_str()),
                            new_by_place.get(input.as_str()),
                        ) {
                            (Some(a), Some(b)) => a.vertex != b.vertex,
                            _ => true,
                        };
                    let name = new_by_place
                        .get(input.as_str())
                        .map_or(input.as_str(), |n| n.name.as_str());
                    if o.inputs.get(i) != Some(input) {
                        reasons.push(format!("its input {} is another step now: {name}", i + 1));
                    } else if changed {
                        reasons.push(format!("its input changed: {name}"));
                    }
                }
                if reasons.is_empty() || (no_cache && reasons.len() == 1) {
                    if o.vertex == s.vertex {
                        if !no_cache {
                            reasons.push(
                                "the same step as last time: its result was not in the store \
                                 (pruned, or the last build did not finish it)"
                                    .into(),
                            );
                        }
                    } else if reasons.is_empty() {
                        reasons.push("its definition changed".into());
                    }
                }
            }
        }
        if reasons.len() > REASONS_MAX {
            let more = reasons.len() - REASONS_MAX;
            reasons.truncate(REASONS_MAX);
            reasons.push(format!("… and {more} more"));
        }
        steps.push(StepWhy {
            step: s.name.clone(),
            reasons,
        });
    }
    Explanation {
        earlier: old.is_some(),
        steps,
    }
}

/// What differs between the step as it was and as it is.
fn compare(old: &StepRecord, new: &StepRecord, reasons: &mut Vec<String>) {
    let text = |name: &str| {
        let place = place_of(name);
        name.strip_prefix(place.as_str())
            .and_then(|rest| rest.split_once("] "))
            .map_or(name.to_string(), |(_, t)| t.to_string())
    };
    let renamed = old.name != new.name;
    if renamed {
        reasons.push(format!(
            "the instruction changed: `{}` → `{}`",
            text(&old.name),
            text(&new.name)
        ));
    }
    if old.op != new.op {
        let (a, b) = (flatten_json(&old.op), flatten_json(&new.op));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let (x, y) = (a.get(k), b.get(k));
            if x == y {
                continue;
            }
            let show = |v: Option<&String>| v.map_or("(unset)".to_string(), |s| s.clone());
            if let Some(var) = k.strip_prefix("exec.env.") {
                reasons.push(format!(
                    "{var} changed (a build arg or ENV): {} → {}",
                    show(x),
                    show(y)
                ));
            } else if k.starts_with("source.image") && k.ends_with(".reference") {
                reasons.push(format!("the base image changed: {} → {}", show(x), show(y)));
            } else if !renamed {
                // With the text changed, its fields (the command, a path) say the same.
                reasons.push(format!("{k}: {} → {}", show(x), show(y)));
            }
        }
    }
    for (i, set) in new.files.iter().enumerate() {
        let Some(before) = old.files.get(i) else {
            continue;
        };
        if before.dirs != set.dirs {
            if before.entries != set.entries {
                reasons.push(format!("the files under {} changed", set.src));
            }
            continue;
        }
        let a: HashMap<&str, &[u8; 16]> = before
            .entries
            .iter()
            .map(|(p, f)| (p.as_str(), f))
            .collect();
        let b: HashMap<&str, &[u8; 16]> =
            set.entries.iter().map(|(p, f)| (p.as_str(), f)).collect();
        let what = if set.dirs { "files under " } else { "file " };
        let short = |f: &[u8; 16]| hex8(f);
        for (p, f) in &set.entries {
            match a.get(p.as_str()) {
                None => reasons.push(format!("{what}{p} added")),
                Some(g) if *g != f => {
                    reasons.push(format!("{what}{p} changed ({} → {})", short(g), short(f)))
                }
                Some(_) => {}
            }
        }
        for (p, _) in &before.entries {
            if !b.contains_key(p.as_str()) {
                reasons.push(format!("{what}{p} removed"));
            }
        }
    }
}

fn hex8(f: &[u8; 16]) -> String {
    f.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A JSON document as `path → value` leaves; `KEY=VALUE` strings in an `env` list are keyed
/// by their name (`exec.env.VERSION`), so a changed value reads as itself.
fn flatten_json(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        flatten(&v, String::new(), &mut out);
    }
    out
}

fn flatten(v: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(v, join(k), out);
            }
        }
        Value::Array(items) if path.ends_with("env") => {
            for item in items {
                match item.as_str().and_then(|s| s.split_once('=')) {
                    Some((k, val)) => {
                        out.insert(join(k), val.to_string());
                    }
                    None => {
                        out.insert(join(&item.to_string()), String::new());
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, format!("{path}[{i}]"), out);
            }
        }
        Value::String(text) => {
            out.insert(path, text.clone());
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(place: &str, text: &str, vertex: u8, op: &str, inputs: &[&str]) -> StepRecord {
        StepRecord {
            place: place.into(),
            name: format!("{place}3] {text}"),
            vertex: [vertex; 32],
            op: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            files: Vec::new(),
        }
    }

    fn rec(steps: Vec<StepRecord>) -> BuildRecord {
        BuildRecord {
            version: RECORD_VERSION,
            steps,
        }
    }

    fn ran(v: &[u8]) -> HashSet<Digest> {
        v.iter().map(|b| Digest::from_bytes([*b; 32])).collect()
    }

    #[test]
    fn names_the_changed_env_the_file_and_the_input() {
        let mut copy_old = step("[b 2/", "COPY . /src", 1, "{}", &[]);
        copy_old.files = vec![FileSet {
            src: ".".into(),
            entries: vec![("a.c".into(), [1; 16]), ("gone.h".into(), [2; 16])],
            dirs: false,
        }];
        let mut copy_new = copy_old.clone();
        copy_new.vertex = [11; 32];
        copy_new.files[0].entries = vec![("a.c".into(), [9; 16]), ("new.h".into(), [3; 16])];
        let env = |v: &str| {
            format!(r#"{{"exec":{{"args":["make"],"env":["PATH=/bin","VERSION={v}"]}}}}"#)
        };
        let old = rec(vec![
            copy_old,
            step("[b 3/", "RUN make", 2, &env("1"), &["[b 2/"]),
        ]);
        let new = rec(vec![
            copy_new,
            step("[b 3/", "RUN make", 12, &env("2"), &["[b 2/"]),
        ]);
        let e = explain(Some(&old), &new, &ran(&[11, 12]), false);
        assert!(e.earlier);
        let copy = &e.steps[0].reasons;
        assert!(
            copy.contains(&format!(
                "file a.c changed ({} → {})",
                hex8(&[1; 16]),
                hex8(&[9; 16])
            )),
            "{copy:?}"
        );
        assert!(copy.contains(&"file new.h added".to_string()), "{copy:?}");
        assert!(
            copy.contains(&"file gone.h removed".to_string()),
            "{copy:?}"
        );
        let run = &e.steps[1].reasons;
        assert!(
            run.contains(&"VERSION changed (a build arg or ENV): 1 → 2".to_string()),
            "{run:?}"
        );
        assert!(
            run.contains(&"its input changed: [b 2/3] COPY . /src".to_string()),
            "{run:?}"
        );
    }

    #[test]
    fn text_base_image_new_steps_and_no_history() {
        let img = |d: &str| format!(r#"{{"source":{{"image":{{"reference":"busybox@{d}"}}}}}}"#);
        let old = rec(vec![
            step("[b 1/", "FROM busybox", 1, &img("sha256:aa"), &[]),
            step("[b 2/", "RUN make", 2, "{}", &["[b 1/"]),
        ]);
        let new = rec(vec![
            step("[b 1/", "FROM busybox", 11, &img("sha256:bb"), &[]),
            step("[b 2/", "RUN make all", 12, "{}", &["[b 1/"]),
            step("[b 3/", "RUN true", 13, "{}", &["[b 2/"]),
        ]);
        let e = explain(Some(&old), &new, &ran(&[11, 12, 13]), false);
        assert_eq!(
            e.steps[0].reasons,
            vec!["the base image changed: busybox@sha256:aa → busybox@sha256:bb".to_string()]
        );
        assert!(
            e.steps[1]
                .reasons
                .contains(&"the instruction changed: `RUN make` → `RUN make all`".to_string()),
            "{:?}",
            e.steps[1]
        );
        assert!(
            e.steps[2].reasons[0].starts_with("a new step"),
            "{:?}",
            e.steps[2]
        );
        let first = explain(None, &new, &ran(&[11]), false);
        assert!(!first.earlier);
        assert_eq!(
            first.steps[0].reasons,
            vec!["no earlier build of this target".to_string()]
        );
        // Same step, ran anyway.
        let again = explain(Some(&new), &new, &ran(&[13]), false);
        assert!(
            again.steps[0].reasons[0].starts_with("the same step as last time"),
            "{again:?}"
        );
        let nc = explain(Some(&new), &new, &ran(&[13]), true);
        assert_eq!(nc.steps[0].reasons, vec!["--no-cache".to_string()]);
    }

    #[test]
    fn big_selections_are_recorded_by_directory_within_the_bound() {
        let entries: Vec<cairn_context::Entry> = (0..(FILES_MAX * 3))
            .map(|i| cairn_context::Entry {
                path: format!("d{}/sub{}/f{i}", i % 50, i % 7),
                kind: cairn_context::EntryKind::File {
                    hash: [(i % 251) as u8; 32],
                },
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: 1,
                stamp: None,
            })
            .collect();
        let index = ContextIndex::from_entries(entries);
        let set = file_set(&index, ".", &[]);
        assert!(set.dirs);
        assert!(
            set.entries.len() <= FILES_MAX && set.entries.len() >= 50,
            "{}",
            set.entries.len()
        );
        assert!(set.entries.iter().all(|(p, _)| p.ends_with('/')));
        assert_eq!(set.entries.len(), 350);
    }
}

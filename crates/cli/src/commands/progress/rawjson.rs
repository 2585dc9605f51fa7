//! `--progress=rawjson` (also `json`): one JSON object per line on stderr, every one with an
//! `event` naming its kind — the steps' events, the build's tasks, notes, warnings, lint
//! findings and the closing summary. `docs/progress-rawjson.md` describes each and
//! `docs/progress.schema.json` is their JSON Schema (a test checks real builds against it).

use cairn_build::{TaskEvent, TaskKind};
use cairn_solver::{Event, EventKind, LogStream};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub fn step(e: &Event) -> Value {
    let (kind, data) = match &e.kind {
        EventKind::Started => ("started", Value::Null),
        EventKind::Cached => ("cached", Value::Null),
        EventKind::Finished => ("finished", Value::Null),
        EventKind::Failed { error } => ("failed", Value::String(error.clone())),
        EventKind::Warning { message } => ("warning", Value::String(message.clone())),
        EventKind::Log { stream, line } => (
            match stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
            },
            Value::String(line.clone()),
        ),
    };
    json!({
        "event": kind,
        "vertex": e.vertex.to_string(),
        "name": e.name,
        "time_us": micros(e.at),
        "data": data,
    })
}

pub fn task(t: &TaskEvent) -> Value {
    let mut v = json!({
        "event": "task",
        "task": t.id,
        "name": t.name,
        "time_us": micros(t.at),
    });
    let (state, data) = match &t.kind {
        TaskKind::Started => ("started", Value::Null),
        TaskKind::Note(line) => ("note", Value::String(line.clone())),
        TaskKind::Bytes { done, total } => {
            v["done"] = json!(done);
            v["total"] = json!(total);
            ("bytes", Value::Null)
        }
        TaskKind::Finished => ("finished", Value::Null),
        TaskKind::Failed { error } => ("failed", Value::String(error.clone())),
    };
    v["state"] = json!(state);
    v["data"] = data;
    v
}

/// A note of the build's own (`info`) or a warning not about one step (`warning`, with a
/// null vertex).
pub fn line(kind: &str, message: &str) -> Value {
    json!({
        "event": kind,
        "vertex": Value::Null,
        "name": "",
        "time_us": micros(SystemTime::now()),
        "data": message,
    })
}

pub fn summary(executed: usize, cached: usize, peak_rss_kib: Option<u64>) -> Value {
    json!({
        "event": "summary",
        "executed": executed,
        "cached": cached,
        "peak_rss_kib": peak_rss_kib,
    })
}

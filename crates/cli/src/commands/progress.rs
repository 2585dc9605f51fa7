//! Rendering build events: plain lines (like `docker build --progress=plain`), JSON lines (one
//! event per line, with timestamps, for tools and tests), or nothing.

use cairn_solver::{Event, EventKind, LogStream};
use clap::ValueEnum;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Also `auto` and `tty` (BuildKit's names) until a live view exists.
    #[value(alias = "auto", alias = "tty")]
    Plain,
    /// Also `rawjson`.
    #[value(alias = "rawjson")]
    Json,
    Quiet,
}

#[derive(Clone)]
pub struct Progress {
    mode: ProgressMode,
    started: Arc<Mutex<HashMap<cairn_ir::Digest, (usize, SystemTime)>>>,
}

fn micros(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        Progress {
            mode,
            started: Arc::default(),
        }
    }

    fn number(&self, e: &Event) -> usize {
        let mut map = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.len() + 1;
        map.entry(e.vertex).or_insert((n, e.at)).0
    }

    fn event(&self, e: &Event) {
        let mut err = std::io::stderr().lock();
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Json => {
                let (kind, extra) = match &e.kind {
                    EventKind::Started => ("started", serde_json::Value::Null),
                    EventKind::Cached => ("cached", serde_json::Value::Null),
                    EventKind::Finished => ("finished", serde_json::Value::Null),
                    EventKind::Failed { error } => {
                        ("failed", serde_json::Value::String(error.clone()))
                    }
                    EventKind::Warning { message } => {
                        ("warning", serde_json::Value::String(message.clone()))
                    }
                    EventKind::Log { stream, line } => (
                        match stream {
                            LogStream::Stdout => "stdout",
                            LogStream::Stderr => "stderr",
                        },
                        serde_json::Value::String(line.clone()),
                    ),
                };
                let v = serde_json::json!({
                    "vertex": e.vertex.to_string(),
                    "name": e.name,
                    "event": kind,
                    "time_us": micros(e.at) as u64,
                    "data": extra,
                });
                let _ = writeln!(err, "{v}");
            }
            ProgressMode::Plain => {
                let n = self.number(e);
                let _ = match &e.kind {
                    EventKind::Started => writeln!(err, "#{n} {}", e.name),
                    EventKind::Cached => writeln!(err, "#{n} {}\n#{n} CACHED", e.name),
                    EventKind::Log { line, .. } => writeln!(err, "#{n} {line}"),
                    EventKind::Finished => {
                        let start = self
                            .started
                            .lock()
                            .map(|m| m.get(&e.vertex).map(|s| s.1))
                            .ok()
                            .flatten();
                        let secs = start
                            .and_then(|s| e.at.duration_since(s).ok())
                            .map_or(0.0, |d| d.as_secs_f64());
                        writeln!(err, "#{n} DONE {secs:.1}s")
                    }
                    EventKind::Failed { error } => writeln!(err, "#{n} ERROR: {error}"),
                    EventKind::Warning { message } => writeln!(err, "#{n} WARNING: {message}"),
                };
            }
        }
    }

    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    pub fn warn(&self, msg: &str) {
        if self.mode != ProgressMode::Quiet {
            errln!("WARNING: {msg}");
        }
    }

    pub fn info(&self, msg: &str) {
        if self.mode == ProgressMode::Plain {
            errln!("{msg}");
        }
    }

    pub fn summary(&self, executed: usize, cached: usize) {
        match self.mode {
            ProgressMode::Plain => errln!("{executed} steps run, {cached} cached"),
            ProgressMode::Json => errln!(
                "{}",
                serde_json::json!({"event": "summary", "executed": executed, "cached": cached, "peak_rss_kib": peak_rss_kib()})
            ),
            ProgressMode::Quiet => {}
        }
    }
}

impl cairn_build::EventSink for Progress {
    fn emit(&self, event: cairn_build::BuildEvent) {
        use cairn_build::BuildEvent;
        match event {
            BuildEvent::Step(e) => self.event(&e),
            BuildEvent::Info(m) => self.info(&m),
            BuildEvent::Warning(m) => self.warn(&m),
            BuildEvent::Summary { executed, cached } => self.summary(executed, cached),
        }
    }
}

/// This process's peak resident set size (VmHWM), in KiB: cairn's own memory, not that of the
/// build steps it runs.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

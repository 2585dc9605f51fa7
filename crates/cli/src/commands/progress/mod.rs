//! Rendering a build's events: a live view on a terminal (`tty`), BuildKit's plain lines
//! (`plain`), one JSON object per event (`rawjson`, also `json`), or nothing (`quiet`).
//! `auto` — the default — is `tty` when stderr is a terminal, `plain` otherwise and under
//! `CI=true`. `--progress` wins over `CAIRN_PROGRESS`, which wins over `BUILDKIT_PROGRESS`.

mod board;
mod plain;
pub mod rawjson;
pub mod text;
mod tty;

pub use board::Outcome;

/// A step or a task: what the plain lines number and the live view shows.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Step(cairn_ir::Digest),
    Task(u64),
}

/// Events at fixed times, for the renderers' tests.
#[cfg(test)]
mod testing {
    use cairn_solver::{Event, EventKind};
    use std::time::{Duration, SystemTime};

    /// `ms` milliseconds after a fixed instant.
    pub fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
    }

    /// Step `n`'s event named `name`.
    pub fn event(n: u8, name: &str, ms: u64, kind: EventKind) -> Event {
        Event {
            vertex: cairn_ir::Digest::from_bytes([n; 32]),
            name: name.to_string(),
            at: at(ms),
            kind,
        }
    }
}

use anyhow::{Result, bail};
use cairn_build::{BuildEvent, TaskEvent};
use cairn_solver::Event;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// What `--progress` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// tty on a terminal, plain otherwise (and when CI is set).
    Auto,
    /// A live view: running steps with timers and their last output lines.
    Tty,
    /// BuildKit's plain lines (`#5 0.105 output`).
    Plain,
    /// One JSON object per event (docs/progress-rawjson.md); also `json`.
    #[value(alias = "json")]
    Rawjson,
    /// Nothing but errors.
    Quiet,
}

impl ProgressMode {
    /// The mode to use: `arg` (`--progress`), else `CAIRN_PROGRESS`, else
    /// `BUILDKIT_PROGRESS`, else auto; auto resolved for this process's stderr.
    pub fn choose(arg: Option<ProgressMode>) -> Result<ProgressMode> {
        let mode = match arg {
            Some(m) => m,
            None => from_env()?.unwrap_or(ProgressMode::Auto),
        };
        let terminal =
            std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        Ok(match mode {
            ProgressMode::Auto if terminal && !in_ci() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            // A live view needs a terminal to draw on: elsewhere the same events as lines.
            ProgressMode::Tty if !terminal => ProgressMode::Plain,
            m => m,
        })
    }

    /// Output meant for a person (the lint summary and reports go with it).
    pub fn is_human(self) -> bool {
        matches!(self, ProgressMode::Tty | ProgressMode::Plain)
    }
}

fn from_env() -> Result<Option<ProgressMode>> {
    for var in ["CAIRN_PROGRESS", "BUILDKIT_PROGRESS"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let v = v.to_string_lossy();
            return match ProgressMode::from_str(&v, true) {
                Ok(m) => Ok(Some(m)),
                Err(_) => bail!(
                    "{var}={v:?} is not a progress mode: use auto, tty, plain, rawjson or quiet"
                ),
            };
        }
    }
    Ok(None)
}

/// `CI` set to anything but `false`/`0`/empty, as CI services set it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

enum Renderer {
    Tty(tty::Tty),
    Plain(Mutex<plain::Plain>),
    Rawjson,
    Quiet,
}

/// The chosen renderer, shared by the build's threads.
#[derive(Clone)]
pub struct Progress {
    mode: ProgressMode,
    renderer: Arc<Renderer>,
}

impl Progress {
    /// `mode` as [`ProgressMode::choose`] resolved it (`Auto` is taken as plain).
    pub fn new(mode: ProgressMode) -> Self {
        let renderer = match mode {
            ProgressMode::Tty => Renderer::Tty(tty::Tty::new()),
            ProgressMode::Plain | ProgressMode::Auto => Renderer::Plain(Mutex::default()),
            ProgressMode::Rawjson => Renderer::Rawjson,
            ProgressMode::Quiet => Renderer::Quiet,
        };
        let mode = if mode == ProgressMode::Auto {
            ProgressMode::Plain
        } else {
            mode
        };
        Progress {
            mode,
            renderer: Arc::new(renderer),
        }
    }

    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    fn plain(&self, write: impl FnOnce(&mut plain::Plain, &mut std::io::StderrLock<'_>)) {
        if let Renderer::Plain(p) = self.renderer.as_ref() {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            write(&mut p, &mut std::io::stderr().lock());
        }
    }

    fn step(&self, e: &Event) {
        match self.renderer.as_ref() {
            Renderer::Tty(t) => t.step(e),
            Renderer::Plain(_) => self.plain(|p, out| p.step(out, e)),
            Renderer::Rawjson => errln!("{}", rawjson::step(e)),
            Renderer::Quiet => {}
        }
    }

    fn task(&self, t: &TaskEvent) {
        match self.renderer.as_ref() {
            Renderer::Tty(tty) => tty.task(t),
            Renderer::Plain(_) => self.plain(|p, out| p.task(out, t)),
            Renderer::Rawjson => errln!("{}", rawjson::task(t)),
            Renderer::Quiet => {}
        }
    }

    /// A warning about the build (not one step).
    pub fn warn(&self, msg: &str) {
        let line = format!("WARNING: {msg}");
        match self.renderer.as_ref() {
            Renderer::Tty(t) => t.line(&line),
            Renderer::Plain(_) => self.plain(|p, out| p.line(out, &line)),
            Renderer::Rawjson => errln!("{}", rawjson::line("warning", msg)),
            Renderer::Quiet => {}
        }
    }

    /// A note on the build's own work.
    pub fn info(&self, msg: &str) {
        match self.renderer.as_ref() {
            Renderer::Tty(t) => t.line(msg),
            Renderer::Plain(_) => self.plain(|p, out| p.line(out, msg)),
            Renderer::Rawjson => errln!("{}", rawjson::line("info", msg)),
            Renderer::Quiet => {}
        }
    }

    pub fn summary(&self, executed: usize, cached: usize) {
        match self.renderer.as_ref() {
            Renderer::Tty(t) => t.summary(executed, cached),
            Renderer::Plain(_) => {
                let steps = if executed == 1 { "step" } else { "steps" };
                self.plain(|p, out| {
                    p.line(out, &format!("{executed} {steps} run, {cached} cached"))
                })
            }
            Renderer::Rawjson => errln!("{}", rawjson::summary(executed, cached, peak_rss_kib())),
            Renderer::Quiet => {}
        }
    }

    /// The build is over: the live view gives way to its closing line. Call before printing
    /// anything else (errors, results).
    pub fn finish(&self, outcome: Outcome) {
        if let Renderer::Tty(t) = self.renderer.as_ref() {
            t.finish(outcome);
        }
    }
}

impl cairn_build::EventSink for Progress {
    fn emit(&self, event: BuildEvent) {
        match event {
            BuildEvent::Step(e) => self.step(&e),
            BuildEvent::Task(t) => self.task(&t),
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

//! BuildKit's plain progress (`docker build --progress=plain`): every step and task numbered
//! `#N` in the order first seen, a blank line when the output switches to another one, output
//! lines with the seconds since the step started (`#5 0.105 hello`), `CACHED`, `DONE 0.3s`,
//! `ERROR: …`, and the build's own `[internal]` and `exporting` tasks with their notes and
//! transfer sizes.

use super::Key;
use super::text::{bytes, sanitize};
use cairn_build::{TaskEvent, TaskKind};
use cairn_solver::{Event, EventKind};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

struct Seen {
    number: usize,
    started: SystemTime,
    /// When transfer bytes were last printed, and whether the complete count was.
    bytes_at: Option<SystemTime>,
    bytes_done: bool,
}

#[derive(Default)]
pub struct Plain {
    seen: HashMap<Key, Seen>,
    /// The item that wrote last, or `None` after a line of the build's own.
    last: Option<Key>,
    /// Anything written yet (the first item needs no blank line before it).
    wrote: bool,
}

/// How often a transfer's bytes are printed at most.
const BYTES_EVERY: Duration = Duration::from_secs(1);

fn secs(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).map_or(0.0, |d| d.as_secs_f64())
}

impl Plain {
    /// The item's number (new ones get the next), and whether it was new.
    fn enter(&mut self, key: Key, at: SystemTime) -> (usize, bool) {
        let next = self.seen.len() + 1;
        let mut new = false;
        let number = self
            .seen
            .entry(key)
            .or_insert_with(|| {
                new = true;
                Seen {
                    number: next,
                    started: at,
                    bytes_at: None,
                    bytes_done: false,
                }
            })
            .number;
        (number, new)
    }

    /// Start writing lines of `key`: a blank line when another item wrote last.
    fn switch(&mut self, out: &mut impl Write, key: Key) {
        if self.wrote && self.last != Some(key) {
            let _ = writeln!(out);
        }
        self.last = Some(key);
        self.wrote = true;
    }

    pub fn step(&mut self, out: &mut impl Write, e: &Event) {
        let key = Key::Step(e.vertex);
        let (n, new) = self.enter(key, e.at);
        let name = sanitize(&e.name, true);
        self.switch(out, key);
        if new && !matches!(e.kind, EventKind::Started) {
            let _ = writeln!(out, "#{n} {name}");
        }
        let started = self.seen.get(&key).map_or(e.at, |s| s.started);
        let _ = match &e.kind {
            EventKind::Started => writeln!(out, "#{n} {name}"),
            EventKind::Cached => writeln!(out, "#{n} CACHED"),
            EventKind::Log { line, .. } => writeln!(
                out,
                "#{n} {:.3} {}",
                secs(started, e.at),
                sanitize(line, true)
            ),
            EventKind::Finished => writeln!(out, "#{n} DONE {:.1}s", secs(started, e.at)),
            EventKind::Failed { error } => writeln!(out, "#{n} ERROR: {}", sanitize(error, true)),
            EventKind::Warning { message } => {
                writeln!(out, "#{n} WARNING: {}", sanitize(message, true))
            }
        };
    }

    pub fn task(&mut self, out: &mut impl Write, t: &TaskEvent) {
        let key = Key::Task(t.id);
        let (n, new) = self.enter(key, t.at);
        if let TaskKind::Bytes { done, total } = t.kind {
            // A transfer prints its bytes once a second (and when complete), not per update.
            let Some(seen) = self.seen.get_mut(&key) else {
                return;
            };
            let due = seen
                .bytes_at
                .is_none_or(|at| t.at.duration_since(at).unwrap_or_default() >= BYTES_EVERY);
            let complete = done >= total;
            if seen.bytes_done || !(due || complete) {
                return;
            }
            seen.bytes_at = Some(t.at);
            seen.bytes_done = complete;
        }
        self.switch(out, key);
        if new && t.kind != TaskKind::Started {
            let _ = writeln!(out, "#{n} {}", sanitize(&t.name, true));
        }
        let started = self.seen.get(&key).map_or(t.at, |s| s.started);
        let _ = match &t.kind {
            TaskKind::Started => writeln!(out, "#{n} {}", sanitize(&t.name, true)),
            TaskKind::Note(line) => writeln!(out, "#{n} {}", sanitize(line, true)),
            TaskKind::Bytes { done, total } => writeln!(
                out,
                "#{n} {} / {} {:.1}s{}",
                bytes(*done),
                bytes(*total),
                secs(started, t.at),
                if done >= total { " done" } else { "" }
            ),
            TaskKind::Finished => writeln!(out, "#{n} DONE {:.1}s", secs(started, t.at)),
            TaskKind::Failed { error } => writeln!(out, "#{n} ERROR: {}", sanitize(error, true)),
        };
    }

    /// A line of the build's own (a note, a warning): on its own, after a blank line.
    pub fn line(&mut self, out: &mut impl Write, line: &str) {
        if self.last.take().is_some() {
            let _ = writeln!(out);
        }
        self.wrote = true;
        let _ = writeln!(out, "{}", sanitize(line, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::progress::testing::{at, event};
    use cairn_solver::LogStream;

    fn step(n: u8, ms: u64, kind: EventKind) -> Event {
        event(n, &format!("[{n}/2] RUN step {n}"), ms, kind)
    }

    #[test]
    fn reads_like_buildkits_plain_output() {
        let mut p = Plain::default();
        let mut out = Vec::new();
        let task = |kind, ms| TaskEvent {
            id: 7,
            name: "[internal] load build context".into(),
            at: at(ms),
            kind,
        };
        p.task(&mut out, &task(TaskKind::Started, 0));
        p.task(&mut out, &task(TaskKind::Note("3 files".into()), 5));
        p.task(&mut out, &task(TaskKind::Finished, 20));
        p.step(&mut out, &step(1, 30, EventKind::Cached));
        p.step(&mut out, &step(2, 40, EventKind::Started));
        p.step(
            &mut out,
            &step(
                2,
                145,
                EventKind::Log {
                    stream: LogStream::Stdout,
                    line: "hello \u{1b}]0;title\u{7}".into(),
                },
            ),
        );
        p.step(&mut out, &step(2, 340, EventKind::Finished));
        p.line(&mut out, "WARNING: careful");
        let text = String::from_utf8(out).unwrap_or_default();
        assert_eq!(
            text,
            "#1 [internal] load build context\n#1 3 files\n#1 DONE 0.0s\n\n\
             #2 [1/2] RUN step 1\n#2 CACHED\n\n\
             #3 [2/2] RUN step 2\n#3 0.105 hello ^[]0;title^G\n#3 DONE 0.3s\n\n\
             WARNING: careful\n"
        );
    }

    #[test]
    fn transfers_print_bytes_at_most_once_a_second_and_when_done() {
        let mut p = Plain::default();
        let mut out = Vec::new();
        for ms in (0..=2500).step_by(100) {
            let done = ms.min(2000);
            p.task(
                &mut out,
                &TaskEvent {
                    id: 1,
                    name: "pushing x".into(),
                    at: at(ms),
                    kind: TaskKind::Bytes {
                        done: done * 1000,
                        total: 2_000_000,
                    },
                },
            );
        }
        let text = String::from_utf8(out).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"#1 pushing x"), "{text}");
        assert!(lines.len() <= 6, "{text}");
        assert!(text.contains("2MB / 2MB"), "{text}");
        assert!(text.contains(" done\n"), "{text}");
    }
}

//! The live view's model, kept apart from the terminal so it is tested as plain data: the
//! steps and tasks in flight (in the order first seen) with their timers, last output lines,
//! notes and transfer rates; what goes above the view for good when one ends; and the view
//! itself for a given terminal size — every line cut to the width, the whole at most the
//! height (output lines go first, then items beyond what fits), so a redraw never scrolls.

use super::Key;
use super::text::{bytes, sanitize};
use cairn_build::{TaskEvent, TaskKind};
use cairn_solver::{Event, EventKind};
use console::{Style, measure_text_width, truncate_str};
use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

/// Output lines kept and shown under a running step (BuildKit shows six).
const LOG_LINES: usize = 6;

struct Item {
    name: String,
    started: SystemTime,
    task: bool,
    logs: VecDeque<String>,
    notes: Vec<String>,
    /// Bytes done, total, and when the first bytes were seen (for the rate).
    bytes: Option<(u64, u64, SystemTime)>,
}

/// How the build ended, for the closing header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    Finished,
    Failed,
}

pub struct Board {
    start: SystemTime,
    order: Vec<Key>,
    active: HashMap<Key, Item>,
    /// Items seen and items ended.
    seen: usize,
    ended: usize,
    summary: Option<(usize, usize)>,
    colour: bool,
}

fn secs(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).map_or(0.0, |d| d.as_secs_f64())
}

impl Board {
    pub fn new(start: SystemTime, colour: bool) -> Self {
        Board {
            start,
            order: Vec::new(),
            active: HashMap::new(),
            seen: 0,
            ended: 0,
            summary: None,
            colour,
        }
    }

    fn style(&self, s: Style) -> Style {
        if self.colour {
            s.force_styling(true)
        } else {
            s.force_styling(false)
        }
    }

    fn begin(&mut self, key: Key, name: &str, at: SystemTime, task: bool) -> &mut Item {
        if !self.active.contains_key(&key) {
            self.seen += 1;
            self.order.push(key);
        }
        self.active.entry(key).or_insert_with(|| Item {
            name: sanitize(name, false).into_owned(),
            started: at,
            task,
            logs: VecDeque::new(),
            notes: Vec::new(),
            bytes: None,
        })
    }

    /// `item` ended: it leaves the view; the returned lines go above it for good.
    fn end(&mut self, key: Key, at: SystemTime, how: End<'_>, width: usize) -> Vec<String> {
        let Some(item) = self.active.remove(&key) else {
            return Vec::new();
        };
        self.order.retain(|k| *k != key);
        self.ended += 1;
        let time = format!("{:.1}s", secs(item.started, at));
        let (prefix, style) = match how {
            End::Cached => ("CACHED ", Style::new()),
            End::Done => ("", Style::new()),
            End::Failed(_) => ("ERROR ", Style::new().red().bold()),
        };
        let style = self.style(style);
        let mut lines = vec![
            style
                .apply_to(row(&format!(" => {prefix}{}", item.name), &time, width))
                .to_string(),
        ];
        if item.task {
            lines.extend(
                item.notes
                    .iter()
                    .map(|n| cut(&format!(" => => {n}"), width)),
            );
        }
        if let End::Failed(error) = how {
            // As BuildKit prints a failed step: its last output, framed, then the error.
            if !item.logs.is_empty() {
                lines.push("------".into());
                lines.push(cut(&format!(" > {}:", item.name), width));
                lines.extend(item.logs.iter().map(|l| cut(&format!("#  {l}"), width)));
                lines.push("------".into());
            }
            lines.push(cut(
                &format!("ERROR: {}", sanitize(error, false)),
                width.max(1),
            ));
        }
        lines
    }

    /// Apply a step's event; lines to print above the view.
    pub fn step(&mut self, e: &Event, width: usize) -> Vec<String> {
        let key = Key::Step(e.vertex);
        match &e.kind {
            EventKind::Started => {
                self.begin(key, &e.name, e.at, false);
                Vec::new()
            }
            EventKind::Cached => {
                self.begin(key, &e.name, e.at, false);
                self.end(key, e.at, End::Cached, width)
            }
            EventKind::Log { line, .. } => {
                let item = self.begin(key, &e.name, e.at, false);
                if item.logs.len() == LOG_LINES {
                    item.logs.pop_front();
                }
                item.logs.push_back(sanitize(line, false).into_owned());
                Vec::new()
            }
            EventKind::Finished => self.end(key, e.at, End::Done, width),
            EventKind::Failed { error } => self.end(key, e.at, End::Failed(error), width),
            EventKind::Warning { message } => vec![cut(
                &format!(
                    "WARNING: {}: {}",
                    sanitize(&e.name, false),
                    sanitize(message, false)
                ),
                width,
            )],
        }
    }

    /// Apply a task's event; lines to print above the view.
    pub fn task(&mut self, t: &TaskEvent, width: usize) -> Vec<String> {
        let key = Key::Task(t.id);
        match &t.kind {
            TaskKind::Started => {
                self.begin(key, &t.name, t.at, true);
                Vec::new()
            }
            TaskKind::Note(line) => {
                let item = self.begin(key, &t.name, t.at, true);
                item.notes.push(sanitize(line, false).into_owned());
                if item.notes.len() > LOG_LINES {
                    item.notes.remove(0);
                }
                Vec::new()
            }
            TaskKind::Bytes { done, total } => {
                let item = self.begin(key, &t.name, t.at, true);
                let first = item.bytes.map_or(t.at, |b| b.2);
                item.bytes = Some((*done, *total, first));
                Vec::new()
            }
            TaskKind::Finished => {
                if let Some(item) = self.active.get_mut(&key)
                    && let Some((done, total, first)) = item.bytes
                {
                    let note = format!(
                        "{} / {} in {:.1}s",
                        bytes(done),
                        bytes(total),
                        secs(first, t.at)
                    );
                    item.notes.push(note);
                }
                self.end(key, t.at, End::Done, width)
            }
            TaskKind::Failed { error } => self.end(key, t.at, End::Failed(error), width),
        }
    }

    pub fn summary(&mut self, executed: usize, cached: usize) {
        self.summary = Some((executed, cached));
    }

    fn header(&self, now: SystemTime) -> String {
        format!(
            "[+] Building {:.1}s ({}/{})",
            secs(self.start, now),
            self.ended,
            self.seen
        )
    }

    /// The live view at `now` for a `width` × `height` terminal.
    pub fn view(&self, now: SystemTime, width: usize, height: usize) -> Vec<String> {
        let width = width.max(20);
        let room = height.saturating_sub(1).max(2);
        let running = self.style(Style::new().cyan());
        let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
        for key in &self.order {
            let Some(item) = self.active.get(key) else {
                continue;
            };
            let time = format!("{:.1}s", secs(item.started, now));
            let head = running
                .apply_to(row(&format!(" => {}", item.name), &time, width))
                .to_string();
            let mut detail = Vec::new();
            if let Some((done, total, first)) = item.bytes {
                let elapsed = secs(first, now).max(0.001);
                let rate = (done as f64 / elapsed) as u64;
                let amount = if total > 0 {
                    format!("{} / {}", bytes(done), bytes(total))
                } else {
                    bytes(done)
                };
                detail.push(cut(&format!(" => => {amount}  {}/s", bytes(rate)), width));
            }
            if let Some(note) = item.notes.last() {
                detail.push(cut(&format!(" => => {note}"), width));
            }
            detail.extend(
                item.logs
                    .iter()
                    .map(|l| cut(&format!(" => => # {l}"), width)),
            );
            blocks.push((head, detail));
        }
        // Fit: the header and one line per item first; output lines share what is left,
        // the newest of each item kept.
        let mut lines = vec![cut(&self.header(now), width)];
        let shown_items = if blocks.len() > room - 1 {
            room - 2
        } else {
            blocks.len()
        };
        let hidden = blocks.len() - shown_items;
        let spare = (room - 1 - shown_items).saturating_sub(usize::from(hidden > 0));
        let per_item = spare.checked_div(shown_items).unwrap_or(0);
        let mut extra = spare.checked_rem(shown_items).unwrap_or(0);
        for (head, detail) in blocks.iter().take(shown_items) {
            lines.push(head.clone());
            let mut keep = per_item;
            if detail.len() > keep && extra > 0 {
                let more = (detail.len() - keep).min(extra);
                keep += more;
                extra -= more;
            }
            let skip = detail.len().saturating_sub(keep);
            lines.extend(detail.iter().skip(skip).cloned());
        }
        if hidden > 0 {
            lines.push(cut(&format!(" … and {hidden} more"), width));
        }
        lines
    }

    /// The closing header: total time, items, and how many steps ran and were cached.
    pub fn closing(&self, now: SystemTime, outcome: Outcome) -> String {
        let counts = match self.summary {
            Some((ran, cached)) => format!(": {ran} ran, {cached} cached"),
            None => String::new(),
        };
        let word = match outcome {
            Outcome::Finished => "FINISHED",
            Outcome::Failed => "FAILED",
        };
        format!("{} {word}{counts}", self.header(now))
    }
}

enum End<'a> {
    Cached,
    Done,
    Failed(&'a str),
}

/// `left` and `right` on one line of `width`: `right` flush right, `left` cut to fit.
fn row(left: &str, right: &str, width: usize) -> String {
    let room = width.saturating_sub(measure_text_width(right) + 1);
    let left = truncate_str(left, room, "…");
    let pad = room.saturating_sub(measure_text_width(&left));
    format!("{left}{} {right}", " ".repeat(pad))
}

/// `s` cut to `width` columns.
fn cut(s: &str, width: usize) -> String {
    truncate_str(s, width, "…").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::progress::testing::{at, event};
    use cairn_solver::LogStream;

    fn ev(n: u8, ms: u64, kind: EventKind) -> Event {
        event(n, &format!("[build {n}/9] RUN make target-{n}"), ms, kind)
    }

    fn log(n: u8, ms: u64, line: &str) -> Event {
        ev(
            n,
            ms,
            EventKind::Log {
                stream: LogStream::Stdout,
                line: line.into(),
            },
        )
    }

    #[test]
    fn running_steps_show_timers_and_their_last_lines() {
        let mut b = Board::new(at(0), false);
        b.step(&ev(1, 0, EventKind::Started), 80);
        for i in 0..10 {
            b.step(&log(1, 10 + i, &format!("line {i}")), 80);
        }
        let v = b.view(at(2_500), 80, 40);
        assert_eq!(v[0], "[+] Building 2.5s (0/1)");
        assert!(
            v[1].starts_with(" => [build 1/9] RUN make target-1"),
            "{v:?}"
        );
        assert!(
            v[1].ends_with(" 2.5s") && v[1].chars().count() == 80,
            "{v:?}"
        );
        let logs: Vec<&String> = v.iter().filter(|l| l.contains("# line")).collect();
        assert_eq!(logs.len(), LOG_LINES);
        assert!(logs[LOG_LINES - 1].ends_with("line 9"), "{v:?}");
    }

    #[test]
    fn the_view_fits_any_terminal() {
        let mut b = Board::new(at(0), false);
        for n in 1..=30 {
            b.step(&ev(n, 0, EventKind::Started), 80);
            for i in 0..8 {
                b.step(&log(n, 1, &"x".repeat(200 + i)), 80);
            }
        }
        for (w, h) in [(80, 24), (20, 5), (200, 60), (1, 1), (40, 3)] {
            let v = b.view(at(100), w, h);
            assert!(v.len() < h.max(3), "{w}x{h}: {} lines", v.len());
            for l in &v {
                assert!(measure_text_width(l) <= w.max(20), "{w}x{h}: {l:?}");
            }
        }
        let v = b.view(at(100), 80, 24);
        assert!(v.last().is_some_and(|l| l.contains("more")), "{v:?}");
    }

    #[test]
    fn ended_items_go_above_with_their_outcome() {
        let mut b = Board::new(at(0), false);
        let cached = b.step(&ev(1, 0, EventKind::Cached), 60);
        assert_eq!(cached.len(), 1);
        assert!(
            cached[0].starts_with(" => CACHED [build 1/9]"),
            "{cached:?}"
        );
        b.step(&ev(2, 0, EventKind::Started), 60);
        b.step(&log(2, 5, "cc: error: \u{1b}[2Jboom"), 60);
        let failed = b.step(
            &ev(
                2,
                300,
                EventKind::Failed {
                    error: "exit code 1".into(),
                },
            ),
            60,
        );
        assert!(failed[0].starts_with(" => ERROR [build 2/9]"), "{failed:?}");
        assert!(failed[0].ends_with("0.3s"), "{failed:?}");
        assert!(
            failed.iter().any(|l| l == "#  cc: error: ^[[2Jboom"),
            "{failed:?}"
        );
        assert_eq!(
            failed.last().map(String::as_str),
            Some("ERROR: exit code 1")
        );
        b.summary(0, 1);
        assert_eq!(
            b.closing(at(1000), Outcome::Failed),
            "[+] Building 1.0s (2/2) FAILED: 0 ran, 1 cached"
        );
        assert_eq!(b.view(at(1000), 60, 20).len(), 1);
    }

    #[test]
    fn transfers_show_sizes_and_rates() {
        let mut b = Board::new(at(0), false);
        let t = |ms, kind| TaskEvent {
            id: 3,
            name: "[internal] pull docker.io/library/busybox:latest".into(),
            at: at(ms),
            kind,
        };
        b.task(&t(0, TaskKind::Started), 80);
        b.task(
            &t(
                0,
                TaskKind::Bytes {
                    done: 0,
                    total: 4_000_000,
                },
            ),
            80,
        );
        b.task(
            &t(
                1000,
                TaskKind::Bytes {
                    done: 2_000_000,
                    total: 4_000_000,
                },
            ),
            80,
        );
        let v = b.view(at(1000), 80, 20);
        assert!(v.iter().any(|l| l.contains("2MB / 4MB  2MB/s")), "{v:?}");
        let done = b.task(&t(2000, TaskKind::Finished), 80);
        assert!(
            done.iter().any(|l| l.contains("2MB / 4MB in 2.0s")),
            "{done:?}"
        );
    }
}

//! The live view on a terminal, drawn with indicatif: one progress bar whose template is the
//! whole view, rendered from the [`Board`] at every draw — at most ten times a second, and at
//! least that often while anything runs so the timers move — at the terminal's size of that
//! moment, so a resize is right by the next frame. Ended steps and the build's notes are
//! printed above the view and scroll away like ordinary output.
//!
//! indicatif draws while holding its own lock and the view's template locks the board, so the
//! board is never locked while calling into indicatif.

use super::board::{Board, Outcome};
use cairn_build::TaskEvent;
use cairn_solver::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub struct Tty {
    board: Arc<Mutex<Board>>,
    bar: ProgressBar,
    done: Mutex<bool>,
}

fn lock(board: &Mutex<Board>) -> MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(|p| p.into_inner())
}

/// The columns and rows the view may use now: one column short of the terminal's, as a line
/// that fills the last column leaves terminals in their pending-wrap state.
fn size() -> (usize, usize) {
    let (rows, cols) = console::Term::stderr().size();
    (usize::from(cols).saturating_sub(1), usize::from(rows))
}

impl Tty {
    pub fn new() -> Self {
        let colour = console::colors_enabled_stderr();
        let board = Arc::new(Mutex::new(Board::new(SystemTime::now(), colour)));
        let view_of = board.clone();
        let view = move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let (width, height) = size();
            let lines = lock(&view_of).view(SystemTime::now(), width, height);
            let _ = w.write_str(&lines.join("\n"));
        };
        let style = ProgressStyle::with_template("{view}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("view", view);
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        Tty {
            board,
            bar,
            done: Mutex::new(false),
        }
    }

    fn above(&self, lines: Vec<String>) {
        for l in lines {
            if *self.done.lock().unwrap_or_else(|p| p.into_inner()) {
                errln!("{l}");
            } else {
                self.bar.println(l);
            }
        }
    }

    pub fn step(&self, e: &Event) {
        let lines = lock(&self.board).step(e, size().0);
        self.above(lines);
    }

    pub fn task(&self, t: &TaskEvent) {
        let lines = lock(&self.board).task(t, size().0);
        self.above(lines);
    }

    pub fn line(&self, line: &str) {
        let width = size().0;
        let line =
            console::truncate_str(&super::text::sanitize(line, false), width, "…").into_owned();
        self.above(vec![line]);
    }

    pub fn summary(&self, executed: usize, cached: usize) {
        lock(&self.board).summary(executed, cached);
    }

    /// End the view: it is replaced by the closing header. Once; later calls do nothing.
    pub fn finish(&self, outcome: Outcome) {
        {
            let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            if *done {
                return;
            }
            *done = true;
        }
        self.bar.finish_and_clear();
        let closing = lock(&self.board).closing(SystemTime::now(), outcome);
        errln!("{closing}");
    }
}

impl Drop for Tty {
    /// A view nobody finished (an early error return) is cleared, not left half drawn.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

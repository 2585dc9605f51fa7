//! The only place the CLI writes to stdout and stderr (clippy's `disallowed-macros` forbids
//! `println!` and friends everywhere else, see `clippy.toml`).
//!
//! `println!` panics when the reader has gone (`cairn images | head -1`: EPIPE, exit 101 with a
//! backtrace). Here a closed stdout ends a command quietly — its reader has what it wanted —
//! and a closed stderr is ignored, so a build whose progress stream is gone (`cairn build
//! 2>&1 | head -1`) still finishes and writes its outputs.

use std::io::Write;

/// Write to stdout; if the reader has gone, exit 0 at once.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Write to stderr, ignoring a reader that has gone.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` that survives a closed stdout (see the module docs).
macro_rules! outln {
    () => { $crate::stdio::write_out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::stdio::write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` that survives a closed stdout.
macro_rules! out {
    ($($t:tt)*) => { $crate::stdio::write_out(format_args!($($t)*)) };
}

/// `eprintln!` that survives a closed stderr.
macro_rules! errln {
    () => { $crate::stdio::write_err(format_args!("\n")) };
    ($($t:tt)*) => { $crate::stdio::write_err(format_args!("{}\n", format_args!($($t)*))) };
}

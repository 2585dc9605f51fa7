//! `cairn`: the command-line front of the cairn build engine.
//!
//! This crate is deliberately thin: it parses arguments (clap), does the I/O the libraries must
//! not do (reading the Dockerfile, `.dockerignore`, environment), calls the library crates, and
//! prints. It is the only crate that prints or uses `anyhow`.

mod commands;
mod diagnostics;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "A fast, daemonless, BuildKit-compatible image builder"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the build graph a Dockerfile lowers to, with the digests the engine uses.
    Plan(commands::plan::PlanArgs),
    /// Developer tools.
    #[command(subcommand)]
    Debug(commands::debug::DebugCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => commands::plan::run(args),
        Command::Debug(cmd) => commands::debug::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            diagnostics::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// mimalloc: planning allocates many small strings, and it is markedly faster at that than the
/// system allocator (see benches/parse_lower.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

//! `cairn`: the command-line front of the cairn build engine.
//!
//! This crate is deliberately thin: it parses arguments (clap), does the I/O the libraries must
//! not do (reading the Dockerfile, `.dockerignore`, environment), calls the library crates, and
//! prints. It is the only crate that prints or uses `anyhow`.
// clap turns the doc comments of arguments into `--help` text, where `NAME[:TAG]` is the usual
// notation; rustdoc would read the brackets as links.
#![allow(rustdoc::broken_intra_doc_links)]

#[macro_use]
mod stdio;
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
    /// Build an image from a Dockerfile.
    Build(Box<commands::build::BuildArgs>),
    /// Build the targets of docker-bake.hcl / .json as one graph.
    Bake(Box<commands::bake::BakeArgs>),
    /// Show the build graph a Dockerfile lowers to, with the digests the engine uses.
    Plan(commands::plan::PlanArgs),
    /// Load images from a `docker save` or OCI archive into the store.
    Load(commands::images::LoadArgs),
    /// Import a root filesystem (directory or tarball) as an image, like `docker import`.
    Import(commands::images::ImportArgs),
    /// List the images in the store.
    Images(commands::images::ImagesArgs),
    /// Give a stored image another name.
    Tag(commands::image_ops::TagArgs),
    /// Remove names of stored images (their layers stay as build cache).
    Rmi(commands::image_ops::RmiArgs),
    /// Show a stored image's config, layers, sizes and history as JSON.
    Inspect(commands::image_ops::InspectArgs),
    /// Write a stored image as a docker or OCI archive.
    Save(commands::image_ops::SaveArgs),
    /// Pull an image from a registry into the store.
    Pull(commands::registry::PullArgs),
    /// Push a stored image to its registry.
    Push(commands::registry::PushArgs),
    /// Check the store for damage (blobs, layers, cache records, images); --repair fixes it.
    Check(commands::check::CheckArgs),
    /// Developer tools.
    #[command(subcommand)]
    Debug(commands::debug::DebugCommand),
}

/// The hidden subcommand the sandbox helper runs as (see `cairn-sandbox`).
pub(crate) const SANDBOX_HELPER: &str = "__sandbox";

fn main() -> ExitCode {
    // The sandbox helper must start before anything else (no threads, no runtime).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == SANDBOX_HELPER)
    {
        std::process::exit(cairn_sandbox::helper_main());
    }
    let cli = Cli::parse();
    // What the libraries report with `tracing` (a credential entry ignored, a retried
    // transfer) reaches the user: warnings and errors, on stderr, without timestamps.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .try_init();
    let result = match cli.command {
        Command::Build(args) => commands::build::run(*args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Bake(args) => commands::bake::run(*args),
        Command::Tag(args) => commands::image_ops::tag(args),
        Command::Rmi(args) => commands::image_ops::rmi(args),
        Command::Inspect(args) => commands::image_ops::inspect(args),
        Command::Save(args) => commands::image_ops::save(args),
        Command::Load(args) => commands::images::load(args),
        Command::Import(args) => commands::images::import(args),
        Command::Images(args) => commands::images::images(args),
        Command::Pull(args) => commands::registry::pull(args),
        Command::Push(args) => commands::registry::push(args),
        Command::Check(args) => commands::check::run(args),
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

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
mod allocator;
mod commands;
mod diagnostics;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "A fast, daemonless, BuildKit-compatible image builder",
    after_help = "Examples:
  cairn build -t app:1 .                       build ./Dockerfile, keep the image as app:1
  cairn build -o type=docker,dest=app.tar .    write a `docker load` archive
  cairn build --push -t ghcr.io/o/app:1 .      build and push
  cairn bake                                   build docker-bake.hcl's default group as one graph
  cairn plan --format dot . | dot -Tsvg        show the build graph
  cairn images; cairn inspect app:1            what the store holds"
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
    /// Show where the store's space goes: image layers, build cache, cache mounts, blobs.
    Du(commands::image_ops::DuArgs),
    /// Free the build cache, least recently used first (waits for running builds).
    Prune(commands::image_ops::PruneArgs),
    /// Why the steps of the last build ran (as `cairn build --explain` prints it).
    Explain(commands::explain::ExplainArgs),
    /// Run a command in an image, confined as a RUN step, on a writable layer of its own.
    Run(Box<commands::container::RunArgs>),
    /// Make an image of a container's writable layer over its image.
    Commit(commands::container::CommitArgs),
    /// List containers (-a: also those whose command ended).
    Ps(commands::container::PsArgs),
    /// Remove containers and their writable layers.
    Rm(commands::container::RmArgs),
    /// Write a stored image as a docker or OCI archive.
    Save(commands::image_ops::SaveArgs),
    /// Pull an image from a registry into the store.
    Pull(commands::registry::PullArgs),
    /// Push a stored image to its registry.
    Push(commands::registry::PushArgs),
    /// Check the store for damage (blobs, layers, cache records, images); --repair fixes it.
    Check(commands::check::CheckArgs),
    /// Print a shell completion script: `cairn completion bash > /etc/bash_completion.d/cairn`.
    Completion(commands::docs::CompletionArgs),
    /// Print the man page (or write one per command with --dir).
    Man(commands::docs::ManArgs),
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
    allocator::purge_at_once();
    cairn_sandbox::builder_without_huge_pages();
    let cli = Cli::parse();
    // What the libraries report with `tracing` (a credential entry ignored, a retried
    // transfer) reaches the user: warnings and errors, on stderr, without timestamps.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .try_init();
    // `cairn run` exits with its command's exit code.
    let mut code = 0;
    let result = match cli.command {
        Command::Run(args) => commands::container::run(*args).map(|c| code = c),
        Command::Commit(args) => commands::container::commit(args),
        Command::Ps(args) => commands::container::ps(args),
        Command::Rm(args) => commands::container::rm(args),
        Command::Build(args) => commands::build::run(*args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Bake(args) => commands::bake::run(*args),
        Command::Tag(args) => commands::image_ops::tag(args),
        Command::Completion(args) => commands::docs::completion(args, Cli::command()),
        Command::Man(args) => commands::docs::man(args, Cli::command()),
        Command::Rmi(args) => commands::image_ops::rmi(args),
        Command::Inspect(args) => commands::image_ops::inspect(args),
        Command::Save(args) => commands::image_ops::save(args),
        Command::Du(args) => commands::image_ops::du(args),
        Command::Prune(args) => commands::image_ops::prune(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Load(args) => commands::images::load(args),
        Command::Import(args) => commands::images::import(args),
        Command::Images(args) => commands::images::images(args),
        Command::Pull(args) => commands::registry::pull(args),
        Command::Push(args) => commands::registry::push(args),
        Command::Check(args) => commands::check::run(args),
        Command::Debug(cmd) => commands::debug::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)),
        Err(e) => {
            diagnostics::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod help_tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every option that takes a value shows a placeholder a user reads (`-t NAME[:TAG]`, not
    /// `<TAGS>` made from a field name), and says what it is.
    #[test]
    fn every_option_has_a_readable_placeholder_and_help() {
        fn walk(cmd: &clap::Command, path: &str, bad: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let name = format!(
                    "{path} {}",
                    arg.get_long().map_or(id.to_string(), |l| format!("--{l}"))
                );
                if arg.get_help().is_none() {
                    bad.push(format!("{name}: no help"));
                }
                if arg.is_positional() || !arg.get_action().takes_values() {
                    continue;
                }
                let from_field = id.to_uppercase().replace('-', "_");
                let names: Vec<String> = arg
                    .get_value_names()
                    .map(|v| v.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default();
                let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
                if (repeatable || from_field.contains('_') || from_field.ends_with('S'))
                    && names.contains(&from_field)
                {
                    bad.push(format!(
                        "{name}: placeholder <{from_field}> is the field's name"
                    ));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), bad);
            }
        }
        let mut bad = Vec::new();
        walk(&Cli::command(), "cairn", &mut bad);
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}

//! `cairn debug parse`: the raw parse tree of a Dockerfile, as BuildKit's s-expression test dump
//! (for conformance checks) or as JSON.

use crate::diagnostics::SourceError;
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DebugCommand {
    /// Parse a Dockerfile and print its parse tree.
    Parse {
        /// dump (BuildKit's parser test format) or json.
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ParseFormat::Dump)]
        format: ParseFormat,
        /// The Dockerfile.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ParseFormat {
    /// BuildKit's parser test `result` format.
    Dump,
    Json,
}

pub fn run(cmd: DebugCommand) -> anyhow::Result<()> {
    match cmd {
        DebugCommand::Parse { format, file } => {
            let text = crate::commands::input::read_input_file(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let ast = cairn_dockerfile::parser::parse(&text).map_err(|error| SourceError {
                file: file.display().to_string(),
                source_text: text.clone(),
                error,
            })?;
            match format {
                ParseFormat::Dump => outln!("{}", cairn_dockerfile::parser::dump(&ast).trim()),
                ParseFormat::Json => outln!("{}", serde_json::to_string_pretty(&ast)?),
            }
            Ok(())
        }
    }
}

//! What every build-like command reads from disk before the pure planning starts: the
//! Dockerfile, the `.dockerignore` that applies to it, and the build args.

use crate::diagnostics::SourceError;
use anyhow::{Context, Result, bail};
use cairn_dockerfile::lower::{ImageResolver, LowerOptions, Lowered};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct BuildInputArgs {
    /// Path to the Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Build this stage (default: the last one).
    #[arg(long)]
    pub target: Option<String>,
    /// Set a build arg; `NAME` alone takes the value from the environment.
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,
    /// The build context directory.
    #[arg(default_value = ".")]
    pub context: PathBuf,
}

pub struct BuildInput {
    pub dockerfile_path: PathBuf,
    pub dockerfile: Vec<u8>,
    pub options: LowerOptions,
}

impl BuildInput {
    pub fn load(args: &BuildInputArgs) -> Result<Self> {
        if !args.context.is_dir() {
            bail!(
                "build context {} is not a directory",
                args.context.display()
            );
        }
        let dockerfile_path = args
            .file
            .clone()
            .unwrap_or_else(|| args.context.join("Dockerfile"));
        let dockerfile = std::fs::read(&dockerfile_path)
            .with_context(|| format!("cannot read Dockerfile {}", dockerfile_path.display()))?;
        let mut ignore_patterns = Vec::new();
        for candidate in
            cairn_context::ignore::ignore_file_candidates(&dockerfile_path, &args.context)
        {
            match std::fs::read(&candidate) {
                Ok(bytes) => {
                    ignore_patterns =
                        cairn_context::ignore::read_ignore_file(&String::from_utf8_lossy(&bytes));
                    cairn_context::ignore::IgnoreMatcher::new(&ignore_patterns)
                        .with_context(|| format!("invalid pattern in {}", candidate.display()))?;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read {}", candidate.display()));
                }
            }
        }
        let mut build_args = BTreeMap::new();
        for a in &args.build_args {
            match a.split_once('=') {
                Some((k, v)) => {
                    build_args.insert(k.to_string(), v.to_string());
                }
                None => {
                    if let Ok(v) = std::env::var(a) {
                        build_args.insert(a.clone(), v);
                    }
                }
            }
        }
        let dockerfile_name = dockerfile_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let options = LowerOptions {
            target: args.target.clone(),
            build_args,
            ignore_patterns,
            dockerfile_name,
            ..LowerOptions::default()
        };
        Ok(BuildInput {
            dockerfile_path,
            dockerfile,
            options,
        })
    }

    /// Parse and lower, turning frontend errors into ones that show the Dockerfile line.
    pub fn lower(&self, resolver: &dyn ImageResolver) -> Result<Lowered> {
        cairn_dockerfile::lower::lower_source(&self.dockerfile, &self.options, resolver).map_err(
            |error| {
                SourceError {
                    file: self.dockerfile_path.display().to_string(),
                    source_text: self.dockerfile.clone(),
                    error,
                }
                .into()
            },
        )
    }
}

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
    /// Path to the Dockerfile (default: CONTEXT/Dockerfile); `-` reads it from stdin.
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

/// Largest Dockerfile (or `.dockerignore`) read: far above any real one (a 100,000-line
/// generated Dockerfile is a few MiB), far below what would exhaust memory (`-f /dev/zero`).
pub const MAX_INPUT_FILE: u64 = 32 << 20;

fn read_stdin_capped() -> Result<Vec<u8>> {
    read_capped(
        std::io::stdin().lock(),
        "the Dockerfile on stdin",
        MAX_INPUT_FILE,
    )
}

/// Read at most `max` bytes; larger is an error naming `what`.
pub fn read_capped(r: impl std::io::Read, what: &str, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    r.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        bail!("{what} is larger than {max} bytes");
    }
    Ok(buf)
}

/// A Dockerfile or `.dockerignore` from disk, size-capped.
pub fn read_input_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    read_capped(file, &path.display().to_string(), MAX_INPUT_FILE)
}

/// The patterns of the `.dockerignore` at `path` (checked), `None` when there is none.
pub fn read_ignore_patterns(path: &std::path::Path) -> Result<Option<Vec<String>>> {
    match read_input_file(path) {
        Ok(bytes) => {
            let patterns =
                cairn_context::ignore::read_ignore_file(&String::from_utf8_lossy(&bytes));
            cairn_context::ignore::IgnoreMatcher::new(&patterns)
                .with_context(|| format!("invalid pattern in {}", path.display()))?;
            Ok(Some(patterns))
        }
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.context(format!("cannot read {}", path.display()))),
    }
}

/// `-f FILE` of a build whose context is not a directory the user named (stdin, a git
/// repository): a path inside that context.
pub fn file_inside(
    context: &std::path::Path,
    file: &std::path::Path,
    what: &str,
) -> Result<PathBuf> {
    if file.is_absolute()
        || file.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        bail!(
            "with {what}, -f names a file inside it: {} is not a relative path within it",
            file.display()
        );
    }
    Ok(context.join(file))
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
        let from_stdin = args.file.as_deref() == Some(std::path::Path::new("-"));
        let dockerfile_path = match &args.file {
            // Named like the default file so `.dockerignore` is the context's own.
            _ if from_stdin => args.context.join("Dockerfile"),
            Some(f) => f.clone(),
            // As BuildKit: `Dockerfile`, else a file named `dockerfile`.
            None => {
                let default = args.context.join("Dockerfile");
                let lower = args.context.join("dockerfile");
                if !default.exists() && lower.is_file() {
                    lower
                } else {
                    default
                }
            }
        };
        let dockerfile = if from_stdin {
            read_stdin_capped().context("cannot read the Dockerfile from stdin")?
        } else {
            read_input_file(&dockerfile_path)
                .with_context(|| format!("cannot read Dockerfile {}", dockerfile_path.display()))?
        };
        let mut ignore_patterns = Vec::new();
        for candidate in
            cairn_context::ignore::ignore_file_candidates(&dockerfile_path, &args.context)
        {
            if let Some(patterns) = read_ignore_patterns(&candidate)? {
                ignore_patterns = patterns;
                break;
            }
        }
        let build_args = parse_build_args(&args.build_args)?;
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
        self.lower_for(resolver, None, false)
    }

    /// [`BuildInput::lower`] for `platform` (`--platform`; `None`: the options' own), one of
    /// several when `multi_platform`.
    pub fn lower_for(
        &self,
        resolver: &dyn ImageResolver,
        platform: Option<&cairn_ir::Platform>,
        multi_platform: bool,
    ) -> Result<Lowered> {
        let retargeted;
        let options = match platform {
            Some(p) if *p != self.options.target_platform || multi_platform => {
                retargeted = LowerOptions {
                    target_platform: p.clone(),
                    multi_platform,
                    ..self.options.clone()
                };
                &retargeted
            }
            _ => &self.options,
        };
        cairn_dockerfile::lower::lower_source(&self.dockerfile, options, resolver).map_err(
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

/// `--build-arg NAME=VALUE` values; `NAME` alone takes the environment's value (none: unset).
pub fn parse_build_args(specs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut build_args = BTreeMap::new();
    for a in specs {
        match a.split_once('=') {
            Some(("", _)) => bail!("invalid --build-arg {a:?}: the name is empty"),
            None if a.is_empty() => bail!("invalid --build-arg \"\": the name is empty"),
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
    Ok(build_args)
}

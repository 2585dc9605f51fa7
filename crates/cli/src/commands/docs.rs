//! `cairn completion SHELL` and `cairn man`: the shell completions and man pages clap makes
//! from the same definitions `--help` shows, so they cannot drift from the flags.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args)]
pub struct ManArgs {
    /// Write a page per command (cairn.1, cairn-build.1, …) into this directory instead of
    /// printing cairn(1).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completion(args: CompletionArgs, mut cmd: clap::Command) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "cairn", &mut out);
    out!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

pub fn man(args: ManArgs, cmd: clap::Command) -> Result<()> {
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write the man pages to {}", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out!("{}", String::from_utf8_lossy(&out));
        }
    }
    Ok(())
}

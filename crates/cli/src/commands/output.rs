//! `-o type=...,dest=...` outputs, in BuildKit's syntax.

use anyhow::{Context, Result, bail};
use cairn_oci::AssembledImage;
use cairn_store::Store;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// OCI image layout tar.
    Oci(PathBuf),
    /// A tar `docker load` accepts.
    Docker(PathBuf),
    /// The final filesystem, as a directory.
    Local(PathBuf),
    /// The final filesystem, as a tar.
    Tar(PathBuf),
}

pub fn parse_output(spec: &str) -> Result<Output> {
    let mut kind = None;
    let mut dest = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            _ if !part.contains('=') && kind.is_none() && dest.is_none() => {
                dest = Some(PathBuf::from(part))
            }
            _ => bail!("invalid output {spec:?}: expected type=oci|docker|local|tar,dest=PATH"),
        }
    }
    let dest = dest.with_context(|| format!("output {spec:?} needs dest=PATH"))?;
    Ok(match kind.as_deref().unwrap_or("local") {
        "oci" => Output::Oci(dest),
        "docker" => Output::Docker(dest),
        "local" => Output::Local(dest),
        "tar" => Output::Tar(dest),
        other => bail!("unknown output type {other:?}: use oci, docker, local or tar"),
    })
}

impl Output {
    pub fn is_image(&self) -> bool {
        matches!(self, Output::Oci(_) | Output::Docker(_))
    }

    pub fn write_image(
        &self,
        store: &Store,
        image: &AssembledImage,
        names: &[String],
    ) -> Result<()> {
        match self {
            Output::Oci(p) => write_atomically(p, |w| {
                Ok(cairn_oci::write_oci_archive(store, image, names, w)?)
            }),
            Output::Docker(p) => write_atomically(p, |w| {
                Ok(cairn_oci::write_docker_archive(store, image, names, w)?)
            }),
            Output::Local(_) | Output::Tar(_) => Ok(()),
        }
    }

    pub fn write_files(&self, store: &Store, layers: &[String]) -> Result<()> {
        let dirs: Vec<PathBuf> = layers.iter().map(|l| store.layer_dir(l)).collect();
        match self {
            Output::Local(dest) => {
                std::fs::create_dir_all(dest)
                    .with_context(|| format!("cannot create {}", dest.display()))?;
                cairn_oci::flatten_layers(&dirs, dest)
                    .with_context(|| format!("cannot write {}", dest.display()))
            }
            Output::Tar(dest) => {
                let tmp = store
                    .staging()
                    .context("cannot create a temporary directory")?;
                cairn_oci::flatten_layers(&dirs, tmp.upper())?;
                write_atomically(dest, |w| {
                    let mut b = tar::Builder::new(w);
                    b.follow_symlinks(false);
                    b.append_dir_all(".", tmp.upper())?;
                    b.finish()?;
                    Ok(())
                })
            }
            Output::Oci(_) | Output::Docker(_) => Ok(()),
        }
    }
}

/// Write `path` through a temporary file in the same directory, renamed into place on success.
fn write_atomically(path: &Path, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        f(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildkit_output_syntax() {
        assert_eq!(
            parse_output("type=oci,dest=out.tar").unwrap(),
            Output::Oci("out.tar".into())
        );
        assert_eq!(
            parse_output("type=docker,dest=/x").unwrap(),
            Output::Docker("/x".into())
        );
        assert_eq!(
            parse_output("dest=dir").unwrap(),
            Output::Local("dir".into())
        );
        assert_eq!(
            parse_output("outdir").unwrap(),
            Output::Local("outdir".into())
        );
        assert!(parse_output("type=nope,dest=x").is_err());
        assert!(parse_output("type=oci").is_err());
    }
}

//! `-o type=...,dest=...` outputs, in BuildKit's syntax, and writing them.

use crate::error::{Context, Result, bail};
use cairn_oci::AssembledImage;
use cairn_store::Store;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// OCI image layout tar; the image's names (`name=`, else the `-t` tags).
    Oci(PathBuf, Vec<String>),
    /// OCI image layout directory (`type=oci,tar=false`).
    OciDir(PathBuf, Vec<String>),
    /// A tar `docker load` accepts.
    Docker(PathBuf, Vec<String>),
    /// The final filesystem, as a directory. Device nodes only with `devices=true`.
    Local { dest: PathBuf, devices: bool },
    /// The final filesystem, as a tar. Device nodes only with `devices=true`.
    Tar { dest: PathBuf, devices: bool },
}

/// How to keep device nodes in `type=local` / `type=tar` outputs (shown in `--help`).
pub const DEVICES_HELP: &str = "devices=true";

/// Why a `type=docker` output cannot take a multi-platform build.
pub const MULTI_PLATFORM_DOCKER: &str = "-o type=docker cannot hold a multi-platform image      (docker load reads one image per name): build one --platform for it, or use -o type=oci      or --push";

pub fn parse_output(spec: &str) -> Result<Output> {
    let mut kind = None;
    let mut dest = None;
    let mut devices = None;
    let mut tar = None;
    let mut names = Vec::new();
    if spec.trim().is_empty() {
        bail!("empty output: expected type=oci|docker|local|tar,dest=PATH");
    }
    let mut seen = std::collections::HashSet::new();
    let fields = csv_fields(spec).with_context(|| format!("invalid output {spec:?}"))?;
    for part in fields.iter().map(String::as_str) {
        if let Some((key, _)) = part.split_once('=')
            && !seen.insert(key)
        {
            bail!("invalid output {spec:?}: {key}= is given twice");
        }
        match part.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", "")) => bail!("invalid output {spec:?}: dest= is empty"),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            Some(("name", v)) => {
                for n in v.split(',').filter(|n| !n.is_empty()) {
                    names.push(crate::normalize_name(n)?);
                }
            }
            Some(("tar", v)) => {
                tar = Some(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid output {spec:?}: tar= takes true or false"),
                })
            }
            Some(("devices", v)) => {
                devices = Some(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid output {spec:?}: devices= takes true or false"),
                })
            }
            _ if !part.contains('=') && kind.is_none() && dest.is_none() => {
                dest = Some(PathBuf::from(part))
            }
            _ => bail!("invalid output {spec:?}: expected type=oci|docker|local|tar,dest=PATH"),
        }
    }
    let dest = dest.with_context(|| format!("output {spec:?} needs dest=PATH"))?;
    let output = match kind.as_deref().unwrap_or("local") {
        "oci" if tar == Some(false) => Output::OciDir(dest, names),
        "oci" => Output::Oci(dest, names),
        _ if tar.is_some() => bail!("invalid output {spec:?}: tar= applies to type=oci only"),
        "docker" => Output::Docker(dest, names),
        _ if !names.is_empty() => {
            bail!("invalid output {spec:?}: name= applies to type=oci and type=docker only")
        }
        "local" => Output::Local {
            dest,
            devices: devices.unwrap_or(false),
        },
        "tar" => Output::Tar {
            dest,
            devices: devices.unwrap_or(false),
        },
        other => bail!("unknown output type {other:?}: use oci, docker, local or tar"),
    };
    if devices.is_some() && output.is_image() {
        bail!("invalid output {spec:?}: devices= applies to type=local and type=tar only");
    }
    Ok(output)
}

impl Output {
    /// What the output is, for progress (`oci tar out.tar`, `local directory out/`).
    pub fn describe(&self) -> String {
        let (what, dest) = match self {
            Output::Oci(d, _) => ("oci archive", d),
            Output::OciDir(d, _) => ("oci layout", d),
            Output::Docker(d, _) => ("docker archive", d),
            Output::Local { dest, .. } => ("local directory", dest),
            Output::Tar { dest, .. } => ("tar", dest),
        };
        format!("{what} {}", dest.display())
    }

    pub fn is_image(&self) -> bool {
        matches!(
            self,
            Output::Oci(..) | Output::OciDir(..) | Output::Docker(..)
        )
    }

    /// Write an image output, naming the image by the output's `name=`, else by `tags`.
    pub fn write_image(
        &self,
        store: &Store,
        image: &AssembledImage,
        tags: &[String],
    ) -> Result<()> {
        match self {
            Output::Docker(p, own) => write_atomically(p, |w| {
                Ok(cairn_oci::write_docker_archive(
                    store,
                    image,
                    names(own, tags),
                    w,
                )?)
            }),
            _ => self.write_images(store, &cairn_oci::LayoutImages::one(image), tags),
        }
    }

    /// Write an image output of one image or of several under their index (a multi-platform
    /// image), named as [`Output::write_image`] names it. A `docker load` archive holds one
    /// image: several are an error (the build checks before it starts).
    pub fn write_images(
        &self,
        store: &Store,
        content: &cairn_oci::LayoutImages<'_>,
        tags: &[String],
    ) -> Result<()> {
        match self {
            Output::Oci(p, own) => write_atomically(p, |w| {
                Ok(cairn_oci::write_oci_archive_of(
                    store,
                    content,
                    names(own, tags),
                    w,
                )?)
            }),
            Output::OciDir(p, own) => {
                cairn_oci::write_oci_layout_dir_of(store, content, names(own, tags), p)
                    .with_context(|| format!("cannot write the OCI layout {}", p.display()))
            }
            Output::Docker(..) => match content.images.as_slice() {
                [one] if content.index.is_none() => self.write_image(store, one, tags),
                _ => bail!("{}", MULTI_PLATFORM_DOCKER),
            },
            Output::Local { .. } | Output::Tar { .. } => Ok(()),
        }
    }

    /// Write a filesystem output: each of `parts` (a directory name, the layers of a file
    /// system) flattened into that directory of the output — `""` for the output itself, a
    /// multi-platform build's `linux_arm64/` for each platform. Returns the device nodes left
    /// out (see [`DEVICES_HELP`]), under their part's directory.
    pub fn write_files(
        &self,
        store: &Store,
        parts: &[(String, &[cairn_store::LayerId])],
    ) -> Result<Vec<String>> {
        let (dest, devices) = match self {
            Output::Local { dest, devices } | Output::Tar { dest, devices } => (dest, *devices),
            Output::Oci(..) | Output::OciDir(..) | Output::Docker(..) => return Ok(Vec::new()),
        };
        let mode = if devices {
            cairn_oci::Devices::Create
        } else {
            cairn_oci::Devices::Omit
        };
        // A tar is made from a staging directory the parts are flattened into.
        let tmp = match self {
            Output::Tar { .. } => Some(
                store
                    .staging()
                    .context("cannot create a temporary directory")?,
            ),
            _ => None,
        };
        let root = tmp.as_ref().map_or(dest.as_path(), |t| t.upper());
        let mut omitted = Vec::new();
        for (dir, layers) in parts {
            let dirs: Vec<PathBuf> = layers.iter().map(|l| store.layer_dir(l)).collect();
            let into = if dir.is_empty() {
                root.to_path_buf()
            } else {
                root.join(dir)
            };
            std::fs::create_dir_all(&into)
                .with_context(|| format!("cannot create {}", into.display()))?;
            let left = cairn_oci::flatten_layers_with(&dirs, &into, mode)
                .with_context(|| format!("cannot write {}", into.display()))?;
            omitted.extend(left.into_iter().map(|p| match dir.as_str() {
                "" => p,
                dir => format!("{dir}/{p}"),
            }));
        }
        if let Some(tmp) = &tmp {
            write_atomically(dest, |w| {
                let mut b = tar::Builder::new(w);
                b.follow_symlinks(false);
                b.append_dir_all(".", tmp.upper())?;
                b.finish()?;
                Ok(())
            })?;
        }
        Ok(omitted)
    }
}

/// The names an image output gives: its own `name=`, else the build's tags.
fn names<'a>(own: &'a [String], tags: &'a [String]) -> &'a [String] {
    if own.is_empty() { tags } else { own }
}

/// The fields of a comma-separated output spec, read as buildx reads it (Go's
/// `encoding/csv`): a field in double quotes may hold commas, `""` in it is a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => bail!("a quoted field is not closed"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => bail!("{c:?} after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some('"') => bail!("a quote inside a field that does not start with one"),
                    Some(c) => field.push(c),
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                }
            }
        }
        fields.push(field);
    }
}

/// The permissions a new file gets from `open(path, O_CREAT, 0666)` under the process umask
/// (read from `/proc/self/status`; 022 if that is unavailable).
fn default_file_mode() -> u32 {
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o666 & !umask
}

/// Write `path` through a temporary file in the same directory, renamed into place on success.
fn write_atomically(path: &Path, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut perms = tmp.as_file().metadata()?.permissions();
    {
        let mut w = BufWriter::new(tmp.as_file());
        f(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        w.flush()?;
    }
    // A temporary file is 0600; the output is an ordinary file of the user's, as `docker
    // save -o` makes it.
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, default_file_mode());
    tmp.as_file().set_permissions(perms)?;
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
            Output::Oci("out.tar".into(), vec![])
        );
        assert_eq!(
            parse_output("type=oci,dest=layout,tar=false").unwrap(),
            Output::OciDir("layout".into(), vec![])
        );
        assert_eq!(
            parse_output("type=oci,tar=true,dest=o.tar").unwrap(),
            Output::Oci("o.tar".into(), vec![])
        );
        assert!(parse_output("type=docker,dest=d,tar=false").is_err());
        assert!(parse_output("type=oci,dest=d,tar=maybe").is_err());
        assert_eq!(
            parse_output("type=docker,dest=/x").unwrap(),
            Output::Docker("/x".into(), vec![])
        );
        assert_eq!(
            parse_output("dest=dir").unwrap(),
            Output::Local {
                dest: "dir".into(),
                devices: false
            }
        );
        assert_eq!(
            parse_output("outdir").unwrap(),
            Output::Local {
                dest: "outdir".into(),
                devices: false
            }
        );
        assert_eq!(
            parse_output("type=tar,dest=t.tar,devices=true").unwrap(),
            Output::Tar {
                dest: "t.tar".into(),
                devices: true
            }
        );
        assert!(parse_output("type=oci,dest=x,devices=true").is_err());
        assert!(parse_output("type=docker,dest=a,dest=b").is_err());
        assert!(parse_output("").is_err());
        assert!(parse_output("type=local,dest=").is_err());
        assert!(parse_output("type=local,dest=x,devices=maybe").is_err());
        assert!(parse_output("type=nope,dest=x").is_err());
        assert!(parse_output("type=oci").is_err());
        assert_eq!(
            parse_output("type=oci,dest=o,\"name=org/repo:a,org/repo:b\"").unwrap(),
            Output::Oci(
                "o".into(),
                vec!["docker.io/org/repo:a".into(), "docker.io/org/repo:b".into()]
            )
        );
        assert_eq!(
            parse_output("\"type=docker\",\"dest=a,b\"").unwrap(),
            Output::Docker("a,b".into(), vec![])
        );
        assert!(parse_output("type=local,dest=x,name=a").is_err());
        assert!(parse_output("type=oci,dest=\"x").is_err());
    }
}

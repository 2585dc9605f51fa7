//! Where the store lives and what its directories are.
//!
//! Why a separate module: root selection reads the environment and the effective uid, which is
//! kept out of everything else (and tested as a pure function), and the layout is written down
//! once so that no other module builds store paths by hand.

use std::ffi::OsString;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::atomic::{self, Replace};
use crate::error::{Error, Result, io_at};
use crate::tmp::TmpArea;

/// Version of the directory layout, kept in `<root>/layout`.
pub(crate) const LAYOUT_VERSION: u32 = 1;
/// The file that marks a directory as a store (it holds the layout version).
pub const LAYOUT_FILE: &str = "layout";
const LAYOUT_PREFIX: &str = "cairn-store layout ";

/// The store root for this process: `$CAIRN_ROOT`; else `/var/lib/cairn` when running as root;
/// else `$XDG_DATA_HOME/cairn`; else `~/.local/share/cairn`.
pub fn default_root() -> PathBuf {
    root_from(
        |k| std::env::var_os(k),
        rustix::process::geteuid().is_root(),
        std::env::home_dir(),
    )
}

/// [`default_root`] over explicit inputs. Empty variables count as unset; a relative
/// `$XDG_DATA_HOME` is ignored, as the XDG spec requires.
pub(crate) fn root_from(
    env: impl Fn(&str) -> Option<OsString>,
    is_root: bool,
    home: Option<PathBuf>,
) -> PathBuf {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(root) = var("CAIRN_ROOT") {
        return PathBuf::from(root);
    }
    if is_root {
        return PathBuf::from("/var/lib/cairn");
    }
    if let Some(xdg) = var("XDG_DATA_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return xdg.join("cairn");
    }
    let home = var("HOME")
        .map(PathBuf::from)
        .or(home)
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".local/share/cairn")
}

/// The store's directories.
#[derive(Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub blobs: PathBuf,
    pub layers: PathBuf,
    pub cache: PathBuf,
    pub images: PathBuf,
    pub stat: PathBuf,
    pub http: PathBuf,
    pub git: PathBuf,
    /// Registry hints (`hints.rs`).
    pub origins: PathBuf,
    pub diff_ids: PathBuf,
    pub mounts: PathBuf,
    /// Records of earlier builds (`history.rs`).
    pub history: PathBuf,
    /// `cairn run`'s containers (`container.rs`).
    pub containers: PathBuf,
    /// The last result of each context copy (`copies.rs`).
    pub copies: PathBuf,
    /// Each layer's share of the disk, once measured (`usage.rs`).
    pub sizes: PathBuf,
    pub locks: PathBuf,
    pub tmp: TmpArea,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        let locks = root.join("locks");
        Layout {
            blobs: root.join("blobs").join("sha256"),
            layers: root.join("layers"),
            cache: root.join("cache"),
            images: root.join("images"),
            stat: root.join("stat"),
            http: root.join("http"),
            git: root.join("git"),
            origins: root.join("registry").join("origins"),
            diff_ids: root.join("registry").join("diffids"),
            mounts: root.join("mounts"),
            history: root.join("history"),
            containers: root.join("containers"),
            copies: root.join("copies"),
            sizes: root.join("sizes"),
            tmp: TmpArea::new(root.join("tmp"), &locks),
            locks,
            root,
        }
    }

    /// Check the layout version, then create whatever directories are missing.
    pub(crate) fn create(&self) -> Result<()> {
        let version_file = self.root.join(LAYOUT_FILE);
        let present = layout_present(&version_file)?;
        fs::create_dir_all(&self.root).map_err(io_at(&self.root))?;
        make_private(&self.root)?;
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o755);
        for dir in [
            &self.blobs,
            &self.layers,
            &self.cache,
            &self.images,
            &self.stat,
            &self.http,
            &self.git,
            &self.origins,
            &self.diff_ids,
            &self.mounts,
            &self.history,
            &self.containers,
            &self.copies,
            &self.sizes,
            &self.locks,
        ] {
            builder.create(dir).map_err(io_at(dir))?;
        }
        let tmp = self.tmp.dir();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(tmp)
            .map_err(io_at(tmp))?;
        if !present {
            let text = format!("{LAYOUT_PREFIX}{LAYOUT_VERSION}\n");
            if !atomic::write_file(&self.tmp, &version_file, text.as_bytes(), Replace::No)? {
                // Someone else initialised the store at the same moment: check theirs.
                layout_present(&version_file)?;
            }
        }
        Ok(())
    }
}

/// The store root is 0700: it holds unpacked layers of images nobody vetted (setuid-root
/// files, device nodes) and cache-mount directories steps wrote as root, which no other user
/// of the machine may reach. A store made before this rule is tightened on open.
fn make_private(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(root).map_err(io_at(root))?;
    if meta.permissions().mode() & 0o7777 != PRIVATE_MODE {
        fs::set_permissions(root, fs::Permissions::from_mode(PRIVATE_MODE)).map_err(io_at(root))?;
    }
    Ok(())
}

/// Mode of the store root.
pub(crate) const PRIVATE_MODE: u32 = 0o700;

/// `true` if the layout file exists and is ours, `false` if absent, an error otherwise.
fn layout_present(path: &Path) -> Result<bool> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, e)),
    };
    let corrupt = || Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("expected \"{LAYOUT_PREFIX}<n>\", found {text:?}"),
    };
    let found: u32 = text
        .strip_prefix(LAYOUT_PREFIX)
        .and_then(|v| v.trim_end().parse().ok())
        .ok_or_else(corrupt)?;
    if found != LAYOUT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: LAYOUT_VERSION,
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn cairn_root_wins() {
        let vars = [("CAIRN_ROOT", "/x/store"), ("XDG_DATA_HOME", "/xdg")];
        assert_eq!(root_from(env(&vars), true, None), Path::new("/x/store"));
        assert_eq!(root_from(env(&vars), false, None), Path::new("/x/store"));
    }

    #[test]
    fn root_user_uses_var_lib() {
        let vars = [("XDG_DATA_HOME", "/xdg"), ("HOME", "/root")];
        assert_eq!(
            root_from(env(&vars), true, None),
            Path::new("/var/lib/cairn")
        );
    }

    #[test]
    fn user_uses_xdg_then_home() {
        let vars = [("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")];
        assert_eq!(root_from(env(&vars), false, None), Path::new("/xdg/cairn"));
        let vars = [("XDG_DATA_HOME", "rel"), ("HOME", "/home/u")];
        assert_eq!(
            root_from(env(&vars), false, None),
            Path::new("/home/u/.local/share/cairn")
        );
        let vars = [("CAIRN_ROOT", ""), ("XDG_DATA_HOME", "")];
        assert_eq!(
            root_from(env(&vars), false, Some(PathBuf::from("/home/pw"))),
            Path::new("/home/pw/.local/share/cairn")
        );
    }

    #[test]
    fn root_is_private_even_if_it_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("store");
        fs::create_dir(&root).expect("mkdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        crate::Store::open(&root).expect("open");
        let mode = fs::metadata(&root).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, PRIVATE_MODE);
        let fresh = t.path().join("fresh");
        crate::Store::open(&fresh).expect("open");
        let mode = fs::metadata(&fresh).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, PRIVATE_MODE);
    }
}

//! The build context as a protocol frontend sees it: read on demand, confined to the context
//! directory, `.dockerignore` applied, every read bounded.
//!
//! A frontend's paths are hostile input. A path that climbs out (`../x`) is refused before
//! anything is opened; everything else is opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)` from a descriptor of the context root, so the kernel refuses a
//! symlink that leads out (absolute, or `..` past the root) at any depth, with no race between
//! a check and the open. An ignored file does not exist for the frontend, as it does not for
//! COPY.

use cairn_context::ignore::IgnoreMatcher;
use cairn_frontend_sdk::protocol::{
    CallError, DirEntry, ErrorCode, FileInfo, FileKind, MAX_DIR_ENTRIES, MAX_READ,
};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The most a frontend may read from the context in one build, in all: far above any build
/// file, far below a disk.
const MAX_TOTAL_READ: u64 = 1 << 30;

pub(crate) struct ContextReader {
    root: OwnedFd,
    ignore: Option<IgnoreMatcher>,
    /// `RESOLVE_BENEATH` for a context (a symlink out is refused); `RESOLVE_IN_ROOT` for a
    /// solved result, a root file system whose absolute symlinks mean its own root.
    resolve: ResolveFlags,
    read_so_far: u64,
}

fn err(code: ErrorCode, message: impl Into<String>) -> CallError {
    CallError {
        code,
        message: message.into(),
    }
}

impl ContextReader {
    /// The context at `dir`, with its `.dockerignore` (if any).
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        let root = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let ignore = match std::fs::File::open(dir.join(".dockerignore")) {
            Ok(f) => {
                use std::io::Read;
                let mut text = String::new();
                f.take(crate::MAX_BUILD_FILE + 1)
                    .read_to_string(&mut text)?;
                let patterns = cairn_context::ignore::read_ignore_file(&text);
                Some(IgnoreMatcher::new(&patterns).map_err(std::io::Error::other)?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(ContextReader {
            root,
            ignore,
            resolve: ResolveFlags::BENEATH,
            read_so_far: 0,
        })
    }

    /// A solved result's file system at `dir`, read as its own root (`/bin/sh ->
    /// /bin/busybox` is followed inside it, never outside).
    pub(crate) fn open_result(dir: &Path) -> std::io::Result<Self> {
        let root = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ContextReader {
            root,
            ignore: None,
            resolve: ResolveFlags::IN_ROOT,
            read_so_far: 0,
        })
    }

    /// `path` relative to the root, cleaned; refused when it climbs out or is ignored.
    fn relative(&self, path: &str) -> Result<String, CallError> {
        if path.contains('\0') {
            return Err(err(ErrorCode::Invalid, "a path with a NUL byte"));
        }
        let mut depth: usize = 0;
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    depth = depth.checked_sub(1).ok_or_else(|| {
                        err(
                            ErrorCode::OutsideContext,
                            format!("{path} is outside the build context"),
                        )
                    })?
                }
                _ => depth += 1,
            }
        }
        let clean = cairn_context::go_clean_abs(path);
        let rel = clean.trim_start_matches('/').to_string();
        if rel.is_empty() {
            return Ok(".".into());
        }
        if let Some(m) = &self.ignore
            && m.matches(&rel).unwrap_or(false)
        {
            return Err(err(
                ErrorCode::NotFound,
                format!("{path} is excluded by .dockerignore"),
            ));
        }
        Ok(rel)
    }

    fn open_at(&self, rel: &str, path: &str, flags: OFlags) -> Result<OwnedFd, CallError> {
        // openat2 refuses O_PATH with any flag but CLOEXEC, DIRECTORY and NOFOLLOW.
        let extra = if flags.contains(OFlags::PATH) {
            OFlags::CLOEXEC
        } else {
            OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK
        };
        rustix::fs::openat2(
            self.root.as_fd(),
            rel,
            flags | extra,
            Mode::empty(),
            self.resolve | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => err(
                ErrorCode::NotFound,
                format!("{path}: no such file in the build context"),
            ),
            rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => err(
                ErrorCode::OutsideContext,
                format!("{path} leads outside the build context"),
            ),
            e => err(ErrorCode::Failed, format!("{path}: {e}")),
        })
    }

    pub(crate) fn stat(&self, path: &str) -> Result<FileInfo, CallError> {
        let rel = self.relative(path)?;
        let fd = self.open_at(&rel, path, OFlags::PATH)?;
        let st =
            rustix::fs::fstat(&fd).map_err(|e| err(ErrorCode::Failed, format!("{path}: {e}")))?;
        Ok(info(&st))
    }

    pub(crate) fn read_file(
        &mut self,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(Vec<u8>, bool), CallError> {
        let rel = self.relative(path)?;
        let fd = self.open_at(&rel, path, OFlags::RDONLY)?;
        let st =
            rustix::fs::fstat(&fd).map_err(|e| err(ErrorCode::Failed, format!("{path}: {e}")))?;
        if FileType::of(&st) != FileKind::File {
            return Err(err(
                ErrorCode::Invalid,
                format!("{path} is not a regular file"),
            ));
        }
        let want = length.unwrap_or(MAX_READ).min(MAX_READ);
        if self.read_so_far.saturating_add(want.min(st.st_size as u64)) > MAX_TOTAL_READ {
            return Err(err(
                ErrorCode::TooLarge,
                format!("a frontend may read at most {MAX_TOTAL_READ} bytes of the context"),
            ));
        }
        let mut buf = vec![0u8; usize::try_from(want).unwrap_or(0)];
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
            let n = rustix::io::pread(&fd, rest, offset + filled as u64)
                .map_err(|e| err(ErrorCode::Failed, format!("{path}: {e}")))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        self.read_so_far += filled as u64;
        let eof = offset + filled as u64 >= st.st_size as u64 || (filled as u64) < want;
        Ok((buf, eof))
    }

    pub(crate) fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, CallError> {
        let rel = self.relative(path)?;
        let fd = self.open_at(&rel, path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let dir = rustix::fs::Dir::read_from(&fd)
            .map_err(|e| err(ErrorCode::Failed, format!("{path}: {e}")))?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| err(ErrorCode::Failed, format!("{path}: {e}")))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let child = if rel == "." {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if let Some(m) = &self.ignore
                && m.matches(&child).unwrap_or(false)
            {
                continue;
            }
            let st = rustix::fs::statat(&fd, name.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| err(ErrorCode::Failed, format!("{child}: {e}")))?;
            let i = info(&st);
            out.push(DirEntry {
                name,
                kind: i.kind,
                size: i.size,
                mode: i.mode,
            });
            if out.len() > MAX_DIR_ENTRIES {
                return Err(err(
                    ErrorCode::TooLarge,
                    format!("{path} has more than {MAX_DIR_ENTRIES} entries"),
                ));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

struct FileType;

impl FileType {
    fn of(st: &rustix::fs::Stat) -> FileKind {
        match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::RegularFile => FileKind::File,
            rustix::fs::FileType::Directory => FileKind::Dir,
            rustix::fs::FileType::Symlink => FileKind::Symlink,
            _ => FileKind::Other,
        }
    }
}

fn info(st: &rustix::fs::Stat) -> FileInfo {
    FileInfo {
        kind: FileType::of(st),
        size: st.st_size as u64,
        mode: st.st_mode & 0o7777,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_confined_and_ignored_files_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("src/deep")).unwrap();
        std::fs::write(d.join("src/a.txt"), "hello").unwrap();
        std::fs::write(d.join("secret.key"), "k").unwrap();
        std::fs::write(d.join(".dockerignore"), "*.key\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", d.join("src/deep/up")).unwrap();
        std::os::unix::fs::symlink("a.txt", d.join("src/inside")).unwrap();
        let mut r = ContextReader::open(d).unwrap();

        assert_eq!(
            r.read_file("src/a.txt", 0, None).unwrap(),
            (b"hello".to_vec(), true)
        );
        assert_eq!(
            r.read_file("/src/./inside", 1, Some(2)).unwrap(),
            (b"el".to_vec(), false)
        );
        assert_eq!(r.stat("src").unwrap().kind, FileKind::Dir);
        let code = |e: CallError| e.code;
        assert_eq!(
            code(r.read_file("../x", 0, None).unwrap_err()),
            ErrorCode::OutsideContext
        );
        assert_eq!(
            code(r.read_file("src/../../x", 0, None).unwrap_err()),
            ErrorCode::OutsideContext
        );
        assert_eq!(
            code(r.read_file("abs", 0, None).unwrap_err()),
            ErrorCode::OutsideContext
        );
        assert_eq!(
            code(r.read_file("src/deep/up", 0, None).unwrap_err()),
            ErrorCode::OutsideContext
        );
        assert_eq!(code(r.stat("secret.key").unwrap_err()), ErrorCode::NotFound);
        assert_eq!(
            code(r.read_file("nothere", 0, None).unwrap_err()),
            ErrorCode::NotFound
        );
        assert_eq!(
            code(r.read_file("src", 0, None).unwrap_err()),
            ErrorCode::Invalid
        );
        let names: Vec<String> = r
            .read_dir("/")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [".dockerignore", "abs", "src"]);
    }
}

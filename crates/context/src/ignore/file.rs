//! Reading a `.dockerignore` file and choosing which file applies to a build.
//!
//! Kept separate from matching because both rules are about files, not patterns: the
//! line rules follow moby/patternmatcher's `ignorefile.ReadAll`, and the choice of file
//! follows BuildKit's `<Dockerfile name>.dockerignore` convention. Both are pure: the
//! caller does the I/O.

use std::path::{Path, PathBuf};

use super::path::clean;

/// The patterns of a `.dockerignore` file, in order.
///
/// A UTF-8 BOM at the start is dropped; lines end at `\n` (a trailing `\r` is removed);
/// a line whose *first* character is `#` is a comment; lines are trimmed and empty ones
/// skipped; a leading `!` marks an exclusion and is trimmed off again; the rest, if not
/// empty, is path-cleaned and loses a leading `/`; then the `!` is put back (so `!` and
/// `! ` both yield `"!"`, which [`super::IgnoreMatcher::new`] rejects, as upstream does).
pub fn read_ignore_file(content: &str) -> Vec<String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    let mut lines: Vec<&str> = content.split('\n').collect();
    // `bufio.Scanner` yields no final empty line after a trailing newline.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for line in lines {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1
                && let Some(rest) = cleaned.strip_prefix('/')
            {
                cleaned = rest.to_string();
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push(cleaned);
    }
    out
}

/// The ignore files that may apply to a build, most specific first; use the first one
/// that exists. `<dockerfile name>.dockerignore` next to the Dockerfile (e.g.
/// `app.Dockerfile.dockerignore`) takes precedence over `<context>/.dockerignore`.
pub fn ignore_file_candidates(dockerfile_path: &Path, context_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::with_capacity(2);
    if let Some(name) = dockerfile_path.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        let dir = dockerfile_path.parent().unwrap_or(Path::new(""));
        out.push(dir.join(specific));
    }
    out.push(context_dir.join(".dockerignore"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_like_upstream() {
        let content = "\u{feff}# c\n a/../b/ \r\n\n!/x//y\n#x\n  #kept\n/\n!\n";
        assert_eq!(
            read_ignore_file(content),
            vec!["b", "!x/y", "#kept", "/", "!"]
        );
        assert!(read_ignore_file("").is_empty());
    }

    #[test]
    fn bom_only_at_start() {
        assert_eq!(read_ignore_file("a\n\u{feff}b"), vec!["a", "\u{feff}b"]);
    }

    #[test]
    fn candidates() {
        let c = ignore_file_candidates(Path::new("ctx/sub/app.Dockerfile"), Path::new("ctx"));
        assert_eq!(
            c,
            vec![
                PathBuf::from("ctx/sub/app.Dockerfile.dockerignore"),
                PathBuf::from("ctx/.dockerignore")
            ]
        );
        let c = ignore_file_candidates(Path::new("Dockerfile"), Path::new("."));
        assert_eq!(c[0], PathBuf::from("Dockerfile.dockerignore"));
    }
}

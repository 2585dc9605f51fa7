//! COPY and ADD (BuildKit's `parseCopy`, `parseAdd`, `parseSourcesAndDest`, plus the checks
//! `dispatchCopy` runs on `--chmod` and `--checksum`).
//!
//! The two share one shape ([`Copy`]); their flag tables differ (`--from`/`--parents` are
//! COPY's, `--checksum`/`--keep-git-dir`/`--unpack` are ADD's). Checks that BuildKit only makes
//! after word expansion are made here when the value holds no `$`, so a typo fails before any
//! work starts; values with variables are left to lowering.

use super::cx::{Cx, has_expansion};
use super::flags;
use super::types::Copy;
use crate::error::Result;

pub(crate) fn parse(cx: &Cx<'_>, add: bool) -> Result<Copy> {
    let words = cx.words();
    let name = &cx.name;
    if words.len() < 2 {
        return Err(cx
            .err(format!(
                "{name} requires at least two arguments, but only one was provided. \
                 Destination could not be determined"
            ))
            .with_help(format!("write {name} <source>... <destination>")));
    }
    let fl = flags::parse(cx, if add { flags::ADD } else { flags::COPY })?;
    let (sources, dest) = words.split_at(words.len() - 1);
    let dest = dest.first().copied().unwrap_or_default();
    if heredoc_name(dest).is_some() {
        return Err(cx
            .err_at(
                dest,
                format!("{name} cannot accept a heredoc as a destination"),
            )
            .with_help("put the heredoc before the destination: COPY <<EOF /path"));
    }
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let chmod = non_empty(fl.string("chmod"));
    if let Some(mode) = &chmod {
        check_chmod(cx, mode)?;
    }
    let checksum = non_empty(fl.string("checksum"));
    if checksum.is_some() {
        if sources.len() != 1 {
            return Err(cx
                .err_at(
                    "--checksum",
                    "checksum can't be specified for multiple sources",
                )
                .with_help("give each checksummed source its own ADD"));
        }
        if let Some(src) = sources.first()
            && !has_expansion(src)
            && !is_remote(src)
        {
            return Err(cx
                .err_at(src, "checksum requires HTTP(S) or Git sources")
                .with_help("drop --checksum for local files"));
        }
    }
    Ok(Copy {
        add,
        sources: sources.iter().map(|s| s.to_string()).collect(),
        dest: dest.to_string(),
        heredocs: cx.node.heredocs.clone(),
        from: non_empty(fl.string("from")),
        chown: non_empty(fl.string("chown")),
        chmod,
        link: fl.bool("link").unwrap_or(false),
        parents: fl.bool("parents").unwrap_or(false),
        exclude: fl.strings("exclude"),
        checksum,
        keep_git_dir: fl.bool("keep-git-dir"),
        unpack: fl.bool("unpack"),
    })
}

/// The heredoc name if `word` is a heredoc marker (`<<EOF`, `<<-EOF`, `3<<"EOF"`), as
/// BuildKit's `ParseHeredoc` recognises it: optional digits, `<<`, optional `-`, then a name
/// without `<` (quotes removed).
pub(crate) fn heredoc_name(word: &str) -> Option<String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
    (!name.is_empty()).then_some(name)
}

/// URLs ADD fetches itself, the only sources `--checksum` applies to.
fn is_remote(src: &str) -> bool {
    [
        "http://",
        "https://",
        "git://",
        "git@",
        "ssh://",
        "github.com/",
    ]
    .iter()
    .any(|p| src.starts_with(p))
}

const CHMOD_ERR: &str = "it should be octal string and between 0 and 07777";

/// `--chmod`: octal up to 07777, or (Dockerfile 1.14+) a symbolic mode like `u=rwx,go=rx`.
/// A value starting with a digit must be octal, with BuildKit's error wording.
fn check_chmod(cx: &Cx<'_>, mode: &str) -> Result<()> {
    if has_expansion(mode) {
        return Ok(());
    }
    let word = format!("--chmod={mode}");
    if mode.starts_with(|c: char| c.is_ascii_digit()) {
        return match u32::from_str_radix(mode, 8) {
            Ok(m) if m <= 0o7777 => Ok(()),
            _ => Err(cx
                .err_at(
                    &word,
                    format!("invalid chmod parameter: '{mode}'. {CHMOD_ERR}"),
                )
                .with_help("use an octal mode such as 0755")),
        };
    }
    if is_symbolic_mode(mode) {
        return Ok(());
    }
    Err(cx
        .err_at(
            &word,
            format!("invalid chmod parameter: '{mode}': not a valid symbolic mode"),
        )
        .with_help("use an octal mode (0755) or a symbolic one (u=rwx,go=rx)"))
}

/// chmod(1)'s symbolic grammar: clauses `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`, comma-separated.
fn is_symbolic_mode(mode: &str) -> bool {
    mode.split(',').all(|clause| {
        let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        let mut chars = rest.chars().peekable();
        let mut actions = 0;
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return false;
            }
            actions += 1;
            if chars.peek().is_some_and(|c| matches!(c, 'u' | 'g' | 'o')) {
                chars.next();
                continue;
            }
            while chars
                .peek()
                .is_some_and(|c| matches!(c, 'r' | 'w' | 'x' | 'X' | 's' | 't'))
            {
                chars.next();
            }
        }
        actions > 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{err_of, ok_of};
    use crate::parser::Heredoc;

    fn copy(src: &str) -> Copy {
        match ok_of(src) {
            Instruction::Copy(c) => c,
            other => panic!("{src}: not a copy: {other:?}"),
        }
    }

    #[test]
    fn copy_with_every_flag() {
        let c = copy(
            "COPY --from=build --chown=1:2 --chmod=0644 --link --parents --exclude=*.md \
             --exclude=.git a b /dst/",
        );
        assert!(!c.add);
        assert_eq!(c.sources, vec!["a", "b"]);
        assert_eq!(c.dest, "/dst/");
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(c.chown.as_deref(), Some("1:2"));
        assert_eq!(c.chmod.as_deref(), Some("0644"));
        assert!(c.link && c.parents);
        assert_eq!(c.exclude, vec!["*.md", ".git"]);
        assert_eq!((c.checksum, c.keep_git_dir, c.unpack), (None, None, None));
    }

    #[test]
    fn copy_defaults_and_bool_values() {
        let c = copy("COPY a .");
        assert_eq!((c.from, c.chown, c.chmod), (None, None, None));
        assert!(!c.link && !c.parents && c.exclude.is_empty());
        let c = copy("COPY --link=false --parents=TRUE a .");
        assert!(!c.link && c.parents);
        assert_eq!(
            copy("COPY --chown= a .").chown,
            None,
            "empty value means unset"
        );
    }

    #[test]
    fn copy_json_form() {
        let c = copy(r#"COPY ["a b", "c", "/d e/"]"#);
        assert_eq!(c.sources, vec!["a b", "c"]);
        assert_eq!(c.dest, "/d e/");
    }

    #[test]
    fn add_with_every_flag() {
        let c = copy(
            "ADD --chown=u --chmod=u=rwx,go=rx --link --exclude=x --checksum=sha256:abc \
             --keep-git-dir --unpack=false https://example.com/a.tgz /dst",
        );
        assert!(c.add);
        assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
        assert!(c.keep_git_dir == Some(true) && c.link);
        assert_eq!(c.unpack, Some(false));
        assert_eq!(c.chmod.as_deref(), Some("u=rwx,go=rx"));
        assert_eq!(copy("ADD --unpack a.tar /").unpack, Some(true));
        assert_eq!(
            copy("ADD --keep-git-dir=true git@github.com:a/b.git /").keep_git_dir,
            Some(true)
        );
        assert_eq!(
            copy("ADD --checksum=sha256:x git@github.com:a/b.git /")
                .checksum
                .as_deref(),
            Some("sha256:x")
        );
        assert_eq!(
            copy("ADD --checksum=sha256:x $URL /").checksum.as_deref(),
            Some("sha256:x")
        );
    }

    #[test]
    fn chmod_values() {
        for ok in [
            "0",
            "755",
            "0755",
            "07777",
            "u+x",
            "a=r",
            "ug+rw,o-w",
            "+x",
            "u=g",
            "=",
            "u+rX-st",
        ] {
            assert_eq!(
                copy(&format!("COPY --chmod={ok} a /")).chmod.as_deref(),
                Some(ok)
            );
        }
        assert_eq!(
            copy("COPY --chmod=$MODE a /").chmod.as_deref(),
            Some("$MODE")
        );
    }

    #[test]
    fn heredoc_source() {
        let mut node = crate::instructions::testutil::node_of("COPY <<EOF /etc/conf");
        node.heredocs = vec![Heredoc {
            name: "EOF".into(),
            file_descriptor: 0,
            expand: true,
            chomp: false,
            content: "hello\n".into(),
        }];
        let c = parse(&Cx::new(&node), false).expect("heredoc copy");
        assert_eq!(c.sources, vec!["<<EOF"]);
        assert_eq!(c.heredocs.len(), 1);
        assert_eq!(c.heredocs[0].content, "hello\n");
    }

    #[test]
    fn heredoc_names() {
        assert_eq!(heredoc_name("<<EOF").as_deref(), Some("EOF"));
        assert_eq!(heredoc_name("<<-EOF").as_deref(), Some("EOF"));
        assert_eq!(heredoc_name("3<<'EOF'").as_deref(), Some("EOF"));
        assert_eq!(heredoc_name("<<\"a b\"").as_deref(), Some("a b"));
        assert_eq!(heredoc_name("<<"), None);
        assert_eq!(heredoc_name("<<<x"), None);
        assert_eq!(heredoc_name("file"), None);
    }

    #[test]
    fn errors() {
        let two = "requires at least two arguments, but only one was provided. \
                   Destination could not be determined";
        let cases: &[(&str, String, Option<&str>)] = &[
            (
                "COPY a",
                format!("COPY {two}"),
                Some("write COPY <source>... <destination>"),
            ),
            (
                "ADD",
                format!("ADD {two}"),
                Some("write ADD <source>... <destination>"),
            ),
            (
                "COPY a <<EOF",
                "COPY cannot accept a heredoc as a destination".into(),
                Some("put the heredoc before the destination: COPY <<EOF /path"),
            ),
            (
                "COPY --chmod=64a a /",
                "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777"
                    .into(),
                Some("use an octal mode such as 0755"),
            ),
            (
                "ADD --chmod=10000 a /",
                "invalid chmod parameter: '10000'. it should be octal string and between 0 and \
                 07777"
                    .into(),
                Some("use an octal mode such as 0755"),
            ),
            (
                "COPY --chmod=u+q a /",
                "invalid chmod parameter: 'u+q': not a valid symbolic mode".into(),
                Some("use an octal mode (0755) or a symbolic one (u=rwx,go=rx)"),
            ),
            (
                "COPY --chmod=rwx a /",
                "invalid chmod parameter: 'rwx': not a valid symbolic mode".into(),
                Some("use an octal mode (0755) or a symbolic one (u=rwx,go=rx)"),
            ),
            (
                "ADD --checksum=sha256:x a b /",
                "checksum can't be specified for multiple sources".into(),
                Some("give each checksummed source its own ADD"),
            ),
            (
                "ADD --checksum=sha256:x local.txt /",
                "checksum requires HTTP(S) or Git sources".into(),
                Some("drop --checksum for local files"),
            ),
            ("ADD --from=x a /", "unknown flag: --from".into(), None),
            ("ADD --parents a /", "unknown flag: --parents".into(), None),
            (
                "COPY --checksum=x a /",
                "unknown flag: --checksum".into(),
                None,
            ),
            ("COPY --unpack a /", "unknown flag: --unpack".into(), None),
            (
                "COPY --keep-git-dir a /",
                "unknown flag: --keep-git-dir".into(),
                None,
            ),
        ];
        for (src, msg, help) in cases {
            let e = err_of(src);
            assert_eq!(&e.message, msg, "{src}");
            if help.is_some() {
                assert_eq!(e.help.as_deref(), *help, "{src}");
            }
        }
        let e = err_of("ADD --from=x a /");
        assert!(
            e.help
                .as_deref()
                .is_some_and(|h| h.starts_with("--from is only valid for COPY"))
        );
        assert_eq!(e.column, Some(4));
        let e = err_of("COPY --checksum=x a /");
        assert!(
            e.help
                .as_deref()
                .is_some_and(|h| h.starts_with("--checksum is only valid for ADD"))
        );
        assert_eq!(err_of("COPY --chmod=9 a /").column, Some(5));
    }
}

//! `COPY` and `ADD`: one file op whose copy actions select exactly the named files from the build
//! context, another stage, an image, a URL, a git repository or a heredoc. With `--link` the copy
//! is made onto an empty base and merged, so the layer does not depend on what is below it.

use super::dispatch::{Lowerer, StageState, resolve_path};
use super::err;
use super::run::{clean_selector, context_selector, push_input};
use crate::instructions::{self as ins, Located};
use crate::parser::Span;
use cairn_ir::{
    CopyAction, FileAction, FileOp, GitRef, Input, MergeOp, Op, Owner, SourceOp, VertexMeta,
};

/// Where a COPY/ADD source word comes from.
enum SourceKind<'s> {
    Heredoc(&'s crate::parser::Heredoc),
    Url(String),
    Git(String),
    Path(String),
}

impl Lowerer<'_> {
    pub(super) fn copy(
        &mut self,
        st: &mut StageState,
        c: &ins::Copy,
        cmd: &Located,
    ) -> crate::error::Result<()> {
        let span = cmd.span;
        let kw = if c.add { "ADD" } else { "COPY" };
        let dest_word = self.expand(st, &c.dest, span)?;
        let dest = resolve_path(st.workdir(), &dest_word);
        let owner = match &c.chown {
            Some(o) => Some(Owner::parse(&self.expand(st, o, span)?)),
            None => None,
        };
        let mode = match &c.chmod {
            Some(m) => Some(check_chmod(&self.expand(st, m, span)?, span)?),
            None => None,
        };
        let mut exclude = Vec::new();
        for e in &c.exclude {
            exclude.push(self.expand(st, e, span)?);
        }
        let checksum = match &c.checksum {
            Some(s) => Some(self.expand(st, s, span)?),
            None => None,
        };

        let mut sources = Vec::new();
        let mut shown_sources = Vec::new();
        for word in &c.sources {
            let kind = self.classify(st, c, word, span)?;
            shown_sources.push(match &kind {
                SourceKind::Heredoc(_) => word.clone(),
                SourceKind::Url(u) | SourceKind::Git(u) | SourceKind::Path(u) => u.clone(),
            });
            sources.push(kind);
        }
        // As in BuildKit: several sources need a directory destination; a single wildcard may
        // match several files, which is checked when the copy runs.
        if sources.len() > 1 && !dest.ends_with('/') {
            return Err(err(span, format!("when using {kw} with more than one source file, the destination must be a directory and end with a /"))
                .with_help(format!("write the destination as {dest}/")));
        }

        let mut inputs: Vec<Input> = Vec::new();
        let base = if c.link {
            None
        } else {
            st.state.map(|s| push_input(&mut inputs, s))
        };
        let from_src = match &c.from {
            Some(f) => {
                // BuildKit expands nothing in --from: a word that an empty environment would
                // change (a variable, quotes, escapes) is refused.
                let empty = std::collections::BTreeMap::<String, String>::new();
                if self.lex.process_word(f, &empty).ok().as_deref() != Some(f.as_str()) {
                    return Err(err(
                        span,
                        "variable expansion is not supported for --from, define a new stage \
                         with FROM using ARG from global scope as a workaround",
                    ));
                }
                let name = f.clone();
                // BuildKit: a COPY may only take from a stage defined before its own.
                if let Some(j) = self.find_stage(&name, None)
                    && j > st.index
                {
                    // A cycle is reported as one (BuildKit checks cycles first).
                    self.lower_stage(j, Some(span))?;
                    let current = self
                        .df
                        .stages
                        .get(st.index)
                        .and_then(|s| s.from.alias.clone())
                        .unwrap_or_else(|| format!("stage-{}", st.index));
                    return Err(err(
                        span,
                        format!(
                            "cannot copy from stage {name:?}, it needs to be defined before \
                             current stage {current:?}"
                        ),
                    )
                    .with_help(format!("move the stage {name:?} above this one")));
                }
                Some(self.state_for_ref(st, f, span)?)
            }
            None => None,
        };
        let mut actions = Vec::new();
        for src in sources {
            match src {
                SourceKind::Heredoc(h) => {
                    let data = self.heredoc_content(st, h, span)?.into_bytes();
                    let path = if dest.ends_with('/') {
                        format!("{dest}{}", h.name)
                    } else {
                        dest.clone()
                    };
                    let mode = mode
                        .as_deref()
                        .and_then(|m| u32::from_str_radix(m, 8).ok())
                        .unwrap_or(0o644);
                    actions.push(FileAction::Mkfile {
                        path,
                        mode,
                        data,
                        owner: owner.clone(),
                    });
                }
                SourceKind::Url(url) => {
                    if c.from.is_some() {
                        return Err(err(span, "ADD --from cannot be used with a URL source"));
                    }
                    let filename = SourceOp::http_default_filename(&url);
                    let op = Op::Source(SourceOp::Http {
                        url: url.clone(),
                        checksum: checksum.clone(),
                        filename: Some(filename.clone()),
                    });
                    let d = self.add(
                        op,
                        vec![],
                        self.meta(&format!("[internal] download {url}"), span),
                        span,
                    )?;
                    let idx = push_input(&mut inputs, Input::of(d));
                    actions.push(self.copy_action(
                        c,
                        idx,
                        format!("/{filename}"),
                        &dest,
                        &owner,
                        &mode,
                        &exclude,
                        // A download is never unpacked unless asked (`--unpack=true`).
                        c.unpack == Some(true),
                    ));
                }
                SourceKind::Git(url) => {
                    let op = Op::Source(
                        git_source(&url, c.keep_git_dir, checksum.as_deref())
                            .map_err(|e| err(span, e))?,
                    );
                    let d = self.add(
                        op,
                        vec![],
                        self.meta(&format!("[internal] git {url}"), span),
                        span,
                    )?;
                    let idx = push_input(&mut inputs, Input::of(d));
                    actions.push(self.copy_action(
                        c,
                        idx,
                        "/".into(),
                        &dest,
                        &owner,
                        &mode,
                        &exclude,
                        false,
                    ));
                }
                SourceKind::Path(p) => {
                    let (idx, src) = match &from_src {
                        Some(state) => {
                            let idx = match state {
                                Some(s) => push_input(&mut inputs, *s),
                                None => {
                                    // Copying from an empty stage: an empty scratch file op.
                                    let empty = self.add(
                                        Op::File(FileOp {
                                            base: None,
                                            actions: vec![],
                                        }),
                                        vec![],
                                        VertexMeta {
                                            description: "[internal] scratch".into(),
                                            hidden: true,
                                            ..Default::default()
                                        },
                                        span,
                                    )?;
                                    push_input(&mut inputs, Input::of(empty))
                                }
                            };
                            (
                                idx,
                                parents_aware(&p, c.parents, span, |p, _| Ok(clean_selector(p)))?,
                            )
                        }
                        None => {
                            self.lint_ignored_source(c.add, &p, span);
                            let ctx = self.context_source()?;
                            (
                                push_input(&mut inputs, Input::of(ctx)),
                                parents_aware(&p, c.parents, span, context_selector)?,
                            )
                        }
                    };
                    let unpack = c.add && c.unpack.unwrap_or(true);
                    actions.push(
                        self.copy_action(c, idx, src, &dest, &owner, &mode, &exclude, unpack),
                    );
                }
            }
        }

        let op = Op::File(FileOp { base, actions });
        let description = st.describe(&cmd.original);
        let meta = self.meta(&description, span);
        let d = self.add(op, inputs, meta.clone(), span)?;
        let result = match (c.link, st.state) {
            (true, Some(below)) => {
                let merge = Op::Merge(MergeOp { inputs: vec![0, 1] });
                Input::of(self.add(merge, vec![below, Input::of(d)], meta, span)?)
            }
            _ => Input::of(d),
        };
        st.state = Some(result);
        let shown = format!("{kw} {} {dest_word} # buildkit", shown_sources.join(" "));
        self.history(st, shown, false);
        Ok(())
    }

    fn classify<'c>(
        &mut self,
        st: &StageState,
        c: &'c ins::Copy,
        word: &str,
        span: Span,
    ) -> crate::error::Result<SourceKind<'c>> {
        if let Some(name) = word.strip_prefix("<<") {
            let name = name
                .trim_start_matches('-')
                .trim_matches(|ch| ch == '"' || ch == '\'');
            if let Some(h) = c.heredocs.iter().find(|h| h.name == name) {
                return Ok(SourceKind::Heredoc(h));
            }
        }
        let w = self.expand(st, word, span)?;
        if c.add && c.from.is_none() {
            if GitRef::is_git_url(&w) {
                return Ok(SourceKind::Git(w));
            }
            if w.starts_with("http://") || w.starts_with("https://") {
                return Ok(SourceKind::Url(w));
            }
        }
        if !c.add && c.from.is_none() && GitRef::is_git_url(&w) {
            return Err(err(span, "source can't be a git ref for COPY")
                .with_help("use ADD to check out a git repository"));
        }
        if !c.add && (w.starts_with("http://") || w.starts_with("https://")) && c.from.is_none() {
            return Err(err(span, format!("source can't be a URL for COPY: {w}"))
                .with_help("use ADD to download a URL"));
        }
        Ok(SourceKind::Path(w))
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_action(
        &self,
        c: &ins::Copy,
        source: u32,
        src: String,
        dest: &str,
        owner: &Option<Owner>,
        mode: &Option<String>,
        exclude: &[String],
        unpack_archive: bool,
    ) -> FileAction {
        FileAction::Copy(CopyAction {
            source,
            src,
            dest: dest.to_string(),
            follow_symlinks: true,
            dir_contents_only: true,
            allow_wildcard: true,
            allow_empty_wildcard: true,
            create_dest_path: true,
            owner: owner.clone(),
            mode: mode.clone(),
            include: vec![],
            exclude: exclude.to_vec(),
            unpack_archive,
            parents: c.parents,
        })
    }
}

/// With `--parents`, a `/./` in the source marks where the kept parent path starts: clean both
/// halves but keep the marker.
fn parents_aware(
    p: &str,
    parents: bool,
    span: Span,
    clean: impl Fn(&str, Span) -> crate::error::Result<String>,
) -> crate::error::Result<String> {
    match p.split_once("/./") {
        Some((before, after)) if parents => {
            let head = clean(before, span)?;
            let tail = clean(&format!("{before}/{after}"), span)?;
            let head = head.trim_end_matches('/');
            let rest = tail
                .strip_prefix(head)
                .unwrap_or(&tail)
                .trim_start_matches('/');
            Ok(format!("{head}/./{rest}"))
        }
        _ => clean(p, span),
    }
}

/// `--chmod` takes octal bits (`755`, `0644`) or a symbolic mode (`u+x,g-w`).
fn check_chmod(m: &str, span: Span) -> crate::error::Result<String> {
    let octal = !m.is_empty() && m.len() <= 4 && m.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let symbolic = !m.is_empty()
        && m.split(',').all(|clause| {
            let ops = clause.trim_start_matches(['u', 'g', 'o', 'a']);
            !ops.is_empty()
                && ops.starts_with(['+', '-', '='])
                && ops.bytes().all(|b| b"+-=rwxXst".contains(&b))
        });
    if octal || symbolic {
        Ok(m.to_string())
    } else {
        Err(err(span, format!("invalid --chmod value {m:?}"))
            .with_help("use octal bits like 755 or a symbolic mode like u+x"))
    }
}

/// The source op of `ADD <git url>`: the URL's own options merged with `--keep-git-dir` and
/// `--checksum` as BuildKit merges them (`convert_copy.go`): a conflict is an error.
fn git_source(
    url: &str,
    keep_git_dir: Option<bool>,
    checksum: Option<&str>,
) -> Result<SourceOp, String> {
    let g = GitRef::parse(url)?;
    if let (Some(flag), Some(in_url)) = (keep_git_dir, g.keep_git_dir)
        && flag != in_url
    {
        return Err("inconsistent keep-git-dir configuration".into());
    }
    if let (Some(flag), Some(in_url)) = (checksum, g.checksum.as_deref())
        && flag != in_url
    {
        return Err(format!("checksum mismatch {flag:?} != {in_url:?}"));
    }
    Ok(SourceOp::Git {
        remote: g.remote,
        reference: g.reference,
        subdir: g.subdir,
        keep_git_dir: keep_git_dir.or(g.keep_git_dir).unwrap_or(false),
        checksum: checksum.map(str::to_string).or(g.checksum),
        submodules: g.submodules.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_git_helpers() {
        for (url, name) in [
            ("https://example.com/a/b.tar.gz?x=1", "b.tar.gz"),
            ("https://example.com", "__unnamed__"),
            ("https://example.com/", "__unnamed__"),
            ("https://example.com/dir/", "dir"),
            ("https://example.com/a%20b.txt#frag", "a b.txt"),
            ("https://example.com/x/..", "__unnamed__"),
        ] {
            assert_eq!(SourceOp::http_default_filename(url), name, "{url}");
        }
    }

    #[test]
    fn git_flags_merge_with_the_urls_options() {
        let op = git_source(
            "https://h/x.git?keep-git-dir&commit=ab12#main:sub",
            None,
            None,
        )
        .expect("merge");
        assert_eq!(
            op,
            SourceOp::Git {
                remote: "https://h/x.git".into(),
                reference: Some("main".into()),
                subdir: Some("sub".into()),
                keep_git_dir: true,
                checksum: Some("ab12".into()),
                submodules: true,
            }
        );
        assert_eq!(
            git_source("https://h/x.git?keep-git-dir=false", Some(true), None),
            Err("inconsistent keep-git-dir configuration".into())
        );
        assert_eq!(
            git_source("https://h/x.git?commit=ab", None, Some("cd")),
            Err("checksum mismatch \"cd\" != \"ab\"".into())
        );
        let op = git_source("https://h/x.git?submodules=false", Some(true), Some("ef"));
        assert!(matches!(
            op,
            Ok(SourceOp::Git { keep_git_dir: true, submodules: false, checksum: Some(c), .. }) if c == "ef"
        ));
    }

    #[test]
    fn parents_marker_survives_cleaning() {
        let clean = |p: &str, _| Ok(format!("/{}", p.trim_matches('/')));
        assert_eq!(
            parents_aware("x/./a/b", true, Span::default(), clean).unwrap(),
            "/x/./a/b"
        );
        assert_eq!(
            parents_aware("x/./a/b", false, Span::default(), clean).unwrap(),
            "/x/./a/b"
        );
        assert_eq!(
            parents_aware("a/b", true, Span::default(), clean).unwrap(),
            "/a/b"
        );
    }

    #[test]
    fn chmod_forms() {
        assert!(check_chmod("755", Span::default()).is_ok());
        assert!(check_chmod("u+x,g-w", Span::default()).is_ok());
        assert!(check_chmod("999", Span::default()).is_err());
        assert!(check_chmod("rwx", Span::default()).is_err());
    }
}

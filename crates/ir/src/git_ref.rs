//! A git source as a Dockerfile or a build context names it, read as BuildKit's `dfgitutil`
//! reads it: `REMOTE[?QUERY][#REF[:SUBDIR]]`, where the query may say `ref`, `tag`,
//! `branch`, `subdir`, `commit`/`checksum`, `keep-git-dir`, `submodules`, `mtime` and
//! `fetch-by-commit`. Error texts are BuildKit's (CI scripts grep them). One parser for the
//! Dockerfile frontend's `ADD` and the CLI's git contexts.

/// What a git URL asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitRef {
    /// The repository, without query or fragment.
    pub remote: String,
    /// A branch, a tag, a full ref name (`refs/tags/v1`) or a commit id; `None`: the
    /// remote's HEAD.
    pub reference: Option<String>,
    pub subdir: Option<String>,
    /// A commit id or a prefix of one the resolved commit must match.
    pub checksum: Option<String>,
    /// `keep-git-dir=` as the URL gives it (`None`: not said).
    pub keep_git_dir: Option<bool>,
    /// `submodules=` as the URL gives it (`None`: not said; submodules are checked out).
    pub submodules: Option<bool>,
}

impl GitRef {
    /// Whether a Dockerfile source word (or a build context) is a git repository, as
    /// BuildKit tells: `git@…`, `git://…`, `ssh://…`, or an http(s) URL whose path ends in
    /// `.git`.
    pub fn is_git_url(w: &str) -> bool {
        let lower = w.to_ascii_lowercase();
        if lower.starts_with("git://") || lower.starts_with("ssh://") || lower.starts_with("git@") {
            return true;
        }
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let path = w.split(['?', '#']).next().unwrap_or(w);
            return path.ends_with(".git");
        }
        false
    }

    /// Parse a git URL (one [`GitRef::is_git_url`] accepts).
    pub fn parse(url: &str) -> Result<GitRef, String> {
        let (rest, fragment) = match url.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (url, None),
        };
        let (remote, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let mut g = GitRef {
            remote: remote.to_string(),
            ..GitRef::default()
        };
        if let Some(f) = fragment.filter(|f| !f.is_empty()) {
            let (r, sub) = f.split_once(':').unwrap_or((f, ""));
            g.reference = Some(r.to_string()).filter(|s| !s.is_empty());
            g.subdir = Some(sub.to_string()).filter(|s| !s.is_empty());
        }
        if let Some(q) = query {
            g.load_query(q)?;
        }
        Ok(g)
    }

    fn load_query(&mut self, query: &str) -> Result<(), String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (query_decode(k), query_decode(v));
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(format!("query {k:?} has multiple values"));
            }
            pairs.push((k, v));
        }
        let bool_of = |k: &str, v: &str| -> Result<bool, String> {
            if v.is_empty() {
                return Ok(true);
            }
            parse_go_bool(v).ok_or_else(|| format!("invalid {k} value: {v:?}"))
        };
        let (mut tag, mut branch, mut fetch_by_commit) = (None, None, false);
        for (k, v) in &pairs {
            let valueless_ok = matches!(
                k.as_str(),
                "submodules" | "keep-git-dir" | "fetch-by-commit"
            );
            if v.is_empty() && !valueless_ok {
                return Err(format!("query {k:?} has no value"));
            }
            match k.as_str() {
                "ref" => self.set_ref(v)?,
                "tag" => tag = Some(v.clone()),
                "branch" => branch = Some(v.clone()),
                "subdir" => {
                    if let Some(s) = &self.subdir
                        && s != v
                    {
                        return Err(format!("subdir conflicts: {s:?} vs {v:?}"));
                    }
                    self.subdir = Some(v.clone());
                }
                "checksum" | "commit" => self.checksum = Some(v.clone()),
                "keep-git-dir" => self.keep_git_dir = Some(bool_of(k, v)?),
                "submodules" => self.submodules = Some(bool_of(k, v)?),
                "fetch-by-commit" => fetch_by_commit = bool_of(k, v)?,
                "mtime" => match v.as_str() {
                    // cairn always gives checked-out files the commit's time (the same
                    // layer on every machine); BuildKit's default is the checkout's time.
                    "commit" => {}
                    "checkout" => {
                        return Err("mtime=checkout is not supported: cairn gives checked-out files the commit's time (mtime=commit)".into());
                    }
                    _ => {
                        return Err(format!(
                            "invalid mtime value: {v:?} (must be \"checkout\" or \"commit\")"
                        ));
                    }
                },
                _ => return Err(format!("unexpected query {k:?}")),
            }
        }
        if let Some(t) = tag {
            let t = if t.starts_with("refs/tags/") {
                t
            } else {
                format!("refs/tags/{t}")
            };
            self.set_ref(&t)?;
        }
        if let Some(b) = branch {
            if self
                .reference
                .as_deref()
                .is_some_and(|r| r.starts_with("refs/tags/"))
                && pairs.iter().any(|(k, _)| k == "tag")
            {
                return Err("branch conflicts with tag".into());
            }
            let b = if b.starts_with("refs/heads/") {
                b
            } else {
                format!("refs/heads/{b}")
            };
            self.set_ref(&b)?;
        }
        if fetch_by_commit {
            // The commit is trusted as given: fetched by its id, the remote's ref not asked.
            match &self.checksum {
                None => {
                    return Err("fetch-by-commit requires a checksum or a commit SHA ref".into());
                }
                Some(c) if !is_commit_sha(c) => {
                    return Err(format!(
                        "fetch-by-commit requires a full commit SHA checksum, got {c:?}"
                    ));
                }
                Some(c) => self.reference = Some(c.clone()),
            }
        }
        Ok(())
    }

    fn set_ref(&mut self, r: &str) -> Result<(), String> {
        if let Some(have) = &self.reference
            && have != r
        {
            return Err(format!("ref conflicts: {have:?} vs {r:?}"));
        }
        self.reference = Some(r.to_string());
        Ok(())
    }
}

/// A full sha1 (40) or sha256 (64) commit id in hex.
pub fn is_commit_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A query key or value decoded as Go's `url.ParseQuery` does: `+` is a space, `%XX` a byte.
fn query_decode(s: &str) -> String {
    crate::op::percent_decode(&s.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> GitRef {
        GitRef::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn git_urls_are_told_as_buildkit_tells_them() {
        for yes in [
            "https://github.com/moby/buildkit.git",
            "https://h/x.git#main:sub",
            "http://127.0.0.1:80/.git?ref=base",
            "git@github.com:moby/buildkit.git",
            "git://h/x",
            "ssh://git@h/x.git",
        ] {
            assert!(GitRef::is_git_url(yes), "{yes}");
        }
        for no in [
            "https://example.com/file.tar",
            "https://h/x.git.tar",
            "./x.git",
            "x.git",
        ] {
            assert!(!GitRef::is_git_url(no), "{no}");
        }
    }

    #[test]
    fn fragment_and_query_forms() {
        let g = parsed("https://h/x.git#main:sub/dir");
        assert_eq!(
            (
                g.remote.as_str(),
                g.reference.as_deref(),
                g.subdir.as_deref()
            ),
            ("https://h/x.git", Some("main"), Some("sub/dir"))
        );
        assert_eq!(
            parsed("https://h/x.git?branch=base").reference.as_deref(),
            Some("refs/heads/base")
        );
        assert_eq!(
            parsed("https://h/x.git?tag=v1").reference.as_deref(),
            Some("refs/tags/v1")
        );
        assert_eq!(
            parsed("https://h/x.git?tag=v1#refs/tags/v1")
                .reference
                .as_deref(),
            Some("refs/tags/v1")
        );
        let g = parsed("https://h/x.git?subdir=sub&ref=feature&commit=abc1");
        assert_eq!(
            (
                g.reference.as_deref(),
                g.subdir.as_deref(),
                g.checksum.as_deref()
            ),
            (Some("feature"), Some("sub"), Some("abc1"))
        );
        let g = parsed("https://h/x.git?keep-git-dir&submodules");
        assert_eq!((g.keep_git_dir, g.submodules), (Some(true), Some(true)));
        let g = parsed("https://h/x.git?keep-git-dir=false&submodules=0");
        assert_eq!((g.keep_git_dir, g.submodules), (Some(false), Some(false)));
        let sha = "a".repeat(40);
        let g = parsed(&format!("https://h/x.git?commit={sha}&fetch-by-commit"));
        assert_eq!(g.reference.as_deref(), Some(sha.as_str()));
    }

    #[test]
    fn bad_queries_get_buildkits_errors() {
        for (url, says) in [
            (
                "https://h/x.git?tag=v1#refs/heads/master",
                "ref conflicts: \"refs/heads/master\" vs \"refs/tags/v1\"",
            ),
            (
                "https://h/x.git?tag=v1&branch=b",
                "branch conflicts with tag",
            ),
            (
                "https://h/x.git?subdir=a#m:b",
                "subdir conflicts: \"b\" vs \"a\"",
            ),
            ("https://h/x.git?ref=", "query \"ref\" has no value"),
            (
                "https://h/x.git?ref=a&ref=b",
                "query \"ref\" has multiple values",
            ),
            (
                "https://h/x.git?keep-git-dir=maybe",
                "invalid keep-git-dir value: \"maybe\"",
            ),
            ("https://h/x.git?depth=1", "unexpected query \"depth\""),
            ("https://h/x.git?mtime=later", "invalid mtime value"),
            (
                "https://h/x.git?fetch-by-commit",
                "fetch-by-commit requires a checksum",
            ),
            (
                "https://h/x.git?commit=abc&fetch-by-commit",
                "requires a full commit SHA checksum",
            ),
        ] {
            let e = GitRef::parse(url).expect_err(url);
            assert!(e.contains(says), "{url}: {e}");
        }
    }
}

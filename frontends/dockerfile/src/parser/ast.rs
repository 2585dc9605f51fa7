//! The raw parse tree: one [`Node`] per instruction, before any flag or argument is interpreted.
//!
//! This mirrors BuildKit's `parser.Node` closely enough that [`crate::parser::dump`] can render it
//! in BuildKit's s-expression test format. Typed meaning (what `--mount=` says, which stage a
//! `--from` names) is given later by [`crate::instructions`].

use serde::Serialize;

/// A 1-based, inclusive range of physical lines, plus the byte columns of the first line that the
/// keyword occupies (0-based, for carets in error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Span {
    pub start_line: usize,
    pub end_line: usize,
}

impl Span {
    pub fn line(line: usize) -> Self {
        Span {
            start_line: line,
            end_line: line,
        }
    }
}

/// Parser directives from the top of the file (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directives {
    pub syntax: Option<String>,
    /// The line of `# syntax=` (for errors about it).
    #[serde(skip)]
    pub syntax_line: usize,
    /// The escape token: `\` (default) or `` ` ``.
    pub escape: char,
    pub check: Option<String>,
    /// The line of `# check=`.
    #[serde(skip)]
    pub check_line: usize,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            syntax_line: 0,
            escape: '\\',
            check: None,
            check_line: 0,
        }
    }
}

/// One argument node of an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arg {
    /// A plain argument string (a word, a JSON element, or the verbatim rest of the line).
    ///
    /// Input that is not valid UTF-8 is carried losslessly: each invalid byte is one char in
    /// U+10FF80..=U+10FFFF (see [`crate::parser::raw_bytes`], which gives back the exact bytes,
    /// e.g. for a `RUN` command line). Valid UTF-8 input never produces such chars.
    Word(String),
    /// The instruction nested in an `ONBUILD`.
    Nested(Box<Node>),
}

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<a <<b /dst/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, without quotes or the leading `<<` / `<<-`.
    pub name: String,
    /// File descriptor written before `<<` (`3<<EOF`); 0 when none was given.
    pub file_descriptor: u32,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no variable expansion then.
    pub expand: bool,
    /// True for `<<-`: leading tabs are stripped from each content line.
    pub chomp: bool,
    /// The body, each line ending in `\n` (a CRLF file keeps its `\r\n`, as BuildKit does), tabs
    /// already stripped when `chomp`. Non-UTF-8 bytes are encoded as for [`Arg::Word`].
    pub content: String,
}

impl Arg {
    /// The string of a [`Arg::Word`], `None` for a nested node.
    pub fn as_word(&self) -> Option<&str> {
        match self {
            Arg::Word(w) => Some(w),
            Arg::Nested(_) => None,
        }
    }
}

/// One instruction as parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The keyword exactly as written (`FROM`, `onBuild`). Compare with `eq_ignore_ascii_case`.
    pub keyword: String,
    /// Leading `--flag` words, verbatim after quote removal (e.g. `--from=builder`).
    pub flags: Vec<String>,
    /// Argument nodes, see BuildKit's per-instruction rules in the conformance README.
    pub args: Vec<Arg>,
    /// For ENV/LABEL: whether args are (key, value, separator) triples (always true for those).
    /// For RUN/CMD/ENTRYPOINT/SHELL/ADD/COPY/VOLUME/HEALTHCHECK: true when the JSON (exec) form
    /// was used.
    pub json: bool,
    /// The full instruction text after joining continuation lines (keyword included).
    pub original: String,
    /// Heredoc bodies that followed this instruction, in order of their `<<` markers (the markers
    /// themselves stay in `args` as written). For `ONBUILD RUN <<EOF` they are on the ONBUILD
    /// node, as in BuildKit.
    pub heredocs: Vec<Heredoc>,
    /// Lines covered: the keyword line through the last continuation line (comment/blank lines
    /// inside included) or the last heredoc terminator. A nested ONBUILD node shares its parent's.
    pub span: Span,
    /// Bytes of leading whitespace before the keyword on the first line: `original` starts after
    /// them, so a position in `original` plus `indent` is a column of that line.
    pub indent: usize,
    /// The comment lines right above the instruction (text after `#`, trimmed; an empty `#`
    /// line starts the block anew, parser directives are left out), as BuildKit's
    /// `PrevComment`: description comments and per-instruction `# check=` settings.
    #[serde(skip)]
    pub prev_comment: Vec<String>,
}

impl Node {
    /// The keyword lower-cased, for matching.
    pub fn keyword_lower(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }

    /// The argument strings, ignoring nested nodes.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.args.iter().filter_map(|a| match a {
            Arg::Word(w) => Some(w.as_str()),
            Arg::Nested(_) => None,
        })
    }
}

/// A warning raised while parsing (e.g. an empty continuation line); parsing still succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub message: String,
    pub span: Span,
}

/// A whole parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ast {
    pub directives: Directives,
    pub children: Vec<Node>,
    pub warnings: Vec<Warning>,
    /// From the first line of the first instruction to the last line of the last one.
    pub span: Span,
}

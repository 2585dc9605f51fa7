//! The part of Go's RE2 syntax that patternmatcher's generated expressions can contain,
//! and a matcher for it.
//!
//! patternmatcher does not match globs itself: it rewrites each pattern into a Go regular
//! expression and hands that to `regexp`. The rewrite passes `[`, `]`, `^` and `\x`
//! through untouched, so what a `.dockerignore` line means is decided by RE2's parser, not
//! by `filepath.Match` (which only validates). Examples: `[*]` becomes `[[^/]*]`, a class of
//! `[`, `^`, `/` repeated and then a literal `]`; `\d` is a digit class; `[[:alpha:]]` is
//! a POSIX class; `[l-O]` is an invalid range and makes the pattern fail when it is used.
//! To get those cases right without a regex dependency we parse that RE2 subset here.
//!
//! Supported: literals, `.` (not `\n`), classes with ranges, negation, escapes, POSIX
//! `[:name:]` and Perl `\d \s \w` (and negations) classes, groups, `*` `+` `?` (and their
//! lazy forms, which cannot change a yes/no answer), `^`/`$`/`\A`/`\z` (one-line mode),
//! `\b`/`\B`, `\Q...\E`, octal/hex/C escapes. Unicode classes (`\pL`, `\p{Greek}`) are
//! rejected as bad patterns instead of being emulated; they cannot come from a realistic
//! ignore file. Matching compiles to a small instruction list and runs a backtracking
//! search with a visited set, so time is bounded by `instructions × input length`.

/// A compile failure; patternmatcher reports every one as `filepath.ErrBadPattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegexError(pub(crate) String);

/// A set of characters: sorted, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CharSet(Vec<(char, char)>);

impl CharSet {
    fn contains(&self, c: char) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }

    fn negated(mut self) -> CharSet {
        self.0.sort_unstable();
        let mut out = Vec::new();
        let mut next: u32 = 0;
        for (lo, hi) in self.0 {
            let (lo, hi) = (u32::from(lo), u32::from(hi));
            if lo > next {
                push_range(&mut out, next, lo - 1);
            }
            next = next.max(hi + 1);
        }
        push_range(&mut out, next, 0x10FFFF);
        CharSet(out)
    }
}

/// Push `[lo, hi]` as chars, skipping the surrogate gap.
fn push_range(out: &mut Vec<(char, char)>, lo: u32, hi: u32) {
    let mut add = |a: u32, b: u32| {
        if a <= b
            && let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b))
        {
            out.push((a, b));
        }
    };
    if lo > hi {
        return;
    }
    if hi < 0xD800 || lo > 0xDFFF {
        add(lo, hi);
    } else {
        if lo < 0xD800 {
            add(lo, 0xD7FF);
        }
        if hi > 0xDFFF {
            add(0xE000, hi);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assertion {
    BeginText,
    EndText,
    WordBoundary,
    NotWordBoundary,
}

#[derive(Debug, Clone)]
enum Node {
    Set(CharSet),
    Assert(Assertion),
    Concat(Vec<Node>),
    Star(Box<Node>),
    Plus(Box<Node>),
    Quest(Box<Node>),
}

/// One instruction of the compiled program.
#[derive(Debug, Clone)]
enum Inst {
    Set(CharSet),
    Assert(Assertion),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    prog: Vec<Inst>,
}

impl Regex {
    /// Parse `src` with Go's `regexp.Compile` (Perl) syntax rules.
    pub(crate) fn new(src: &str) -> Result<Regex, RegexError> {
        let chars: Vec<char> = src.chars().collect();
        let mut p = Parser { s: &chars, i: 0 };
        let node = p.parse_concat(false)?;
        if p.i < chars.len() {
            return Err(RegexError("unexpected )".into()));
        }
        let mut prog = Vec::new();
        emit(&node, &mut prog);
        prog.push(Inst::Match);
        Ok(Regex { prog })
    }

    /// Go's `MatchString`: is there a match anywhere in `text`?
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        let width = s.len() + 1;
        let mut visited = vec![false; self.prog.len().saturating_mul(width)];
        (0..=s.len()).any(|start| self.run(&s, start, &mut visited))
    }

    fn run(&self, s: &[char], start: usize, visited: &mut [bool]) -> bool {
        let width = s.len() + 1;
        let mut stack = vec![(0usize, start)];
        while let Some((pc, pos)) = stack.pop() {
            let key = pc * width + pos;
            match visited.get_mut(key) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            // An index past the end failed the `visited` lookup above already.
            let Some(inst) = self.prog.get(pc) else {
                continue;
            };
            match inst {
                Inst::Match => return true,
                Inst::Set(set) => {
                    if s.get(pos).is_some_and(|&c| set.contains(c)) {
                        stack.push((pc + 1, pos + 1));
                    }
                }
                Inst::Assert(a) => {
                    if assertion_holds(*a, s, pos) {
                        stack.push((pc + 1, pos));
                    }
                }
                Inst::Jmp(t) => stack.push((*t, pos)),
                Inst::Split(a, b) => {
                    stack.push((*b, pos));
                    stack.push((*a, pos));
                }
            }
        }
        false
    }
}

fn is_word(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
}

fn assertion_holds(a: Assertion, s: &[char], pos: usize) -> bool {
    let before = pos.checked_sub(1).and_then(|p| s.get(p));
    let boundary = is_word(before) != is_word(s.get(pos));
    match a {
        Assertion::BeginText => pos == 0,
        Assertion::EndText => pos == s.len(),
        Assertion::WordBoundary => boundary,
        Assertion::NotWordBoundary => !boundary,
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>) {
    match node {
        Node::Set(set) => prog.push(Inst::Set(set.clone())),
        Node::Assert(a) => prog.push(Inst::Assert(*a)),
        Node::Concat(items) => items.iter().for_each(|n| emit(n, prog)),
        Node::Star(inner) => {
            let split = prog.len();
            prog.push(Inst::Split(0, 0));
            emit(inner, prog);
            prog.push(Inst::Jmp(split));
            patch_split(prog, split);
        }
        Node::Plus(inner) => {
            let start = prog.len();
            emit(inner, prog);
            let end = prog.len() + 1;
            prog.push(Inst::Split(start, end));
        }
        Node::Quest(inner) => {
            let split = prog.len();
            prog.push(Inst::Split(0, 0));
            emit(inner, prog);
            patch_split(prog, split);
        }
    }
}

/// Point the placeholder `Split` at `split` to the instruction after it and to the end of
/// the program emitted so far.
fn patch_split(prog: &mut [Inst], split: usize) {
    let end = prog.len();
    if let Some(inst) = prog.get_mut(split) {
        *inst = Inst::Split(split + 1, end);
    }
}

fn single(c: char) -> CharSet {
    CharSet(vec![(c, c)])
}

fn err<T>(msg: &str) -> Result<T, RegexError> {
    Err(RegexError(msg.to_string()))
}

/// `\d`, `\s`, `\w` (ASCII, as in RE2).
fn perl_class(c: char) -> Option<CharSet> {
    let (ranges, negate): (&[(char, char)], bool) = match c {
        'd' => (&[('0', '9')], false),
        'D' => (&[('0', '9')], true),
        's' => (&[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')], false),
        'S' => (&[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')], true),
        'w' => (&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], false),
        'W' => (&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], true),
        _ => return None,
    };
    let set = CharSet(ranges.to_vec());
    Some(if negate { set.negated() } else { set })
}

/// POSIX `[:name:]` classes (ASCII).
fn posix_class(name: &str) -> Option<CharSet> {
    let ranges: &[(char, char)] = match name {
        "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
        "alpha" => &[('A', 'Z'), ('a', 'z')],
        "ascii" => &[('\0', '\x7f')],
        "blank" => &[('\t', '\t'), (' ', ' ')],
        "cntrl" => &[('\0', '\x1f'), ('\x7f', '\x7f')],
        "digit" => &[('0', '9')],
        "graph" => &[('!', '~')],
        "lower" => &[('a', 'z')],
        "print" => &[(' ', '~')],
        "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
        "space" => &[('\t', '\r'), (' ', ' ')],
        "upper" => &[('A', 'Z')],
        "word" => &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
        "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
        _ => return None,
    };
    Some(CharSet(ranges.to_vec()))
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    /// A sequence of atoms with postfix operators, up to `)` (when `in_group`) or the end.
    fn parse_concat(&mut self, in_group: bool) -> Result<Node, RegexError> {
        let mut items: Vec<Node> = Vec::new();
        // Whether the last item is already a repetition (`a**` is an error in Go).
        let mut last_repeated = false;
        while let Some(c) = self.peek() {
            match c {
                ')' => {
                    if in_group {
                        return Ok(Node::Concat(items));
                    }
                    return err("unexpected )");
                }
                '*' | '+' | '?' => {
                    self.i += 1;
                    // A trailing `?` makes the operator lazy; same yes/no answer.
                    if self.peek() == Some('?') {
                        self.i += 1;
                    }
                    if last_repeated {
                        return err("invalid nested repetition operator");
                    }
                    let Some(prev) = items.pop() else {
                        return err("missing argument to repetition operator");
                    };
                    let prev = Box::new(prev);
                    items.push(match c {
                        '*' => Node::Star(prev),
                        '+' => Node::Plus(prev),
                        _ => Node::Quest(prev),
                    });
                    last_repeated = true;
                    continue;
                }
                '{' => {
                    // Only a literal `{` can reach us (patternmatcher escapes it), but keep
                    // Go's rule: a `{` that does not start `{n}`/`{n,}`/`{n,m}` is literal.
                    if self.repeat_spec_follows() {
                        return err("counted repetition is not supported");
                    }
                    self.i += 1;
                    items.push(Node::Set(single('{')));
                }
                '|' => return err("alternation is not supported"),
                '(' => {
                    self.i += 1;
                    if self.peek() == Some('?') {
                        return err("group flags are not supported");
                    }
                    let inner = self.parse_concat(true)?;
                    if self.peek() != Some(')') {
                        return err("missing closing )");
                    }
                    self.i += 1;
                    items.push(inner);
                }
                '[' => {
                    let set = self.parse_class()?;
                    items.push(Node::Set(set));
                }
                '.' => {
                    self.i += 1;
                    items.push(Node::Set(CharSet(vec![('\n', '\n')]).negated()));
                }
                '^' => {
                    self.i += 1;
                    items.push(Node::Assert(Assertion::BeginText));
                }
                '$' => {
                    self.i += 1;
                    items.push(Node::Assert(Assertion::EndText));
                }
                '\\' => {
                    if let Some(node) = self.parse_escape_atom()? {
                        items.extend(node);
                    }
                }
                other => {
                    self.i += 1;
                    items.push(Node::Set(single(other)));
                }
            }
            last_repeated = false;
        }
        if in_group {
            return err("missing closing )");
        }
        Ok(Node::Concat(items))
    }

    fn repeat_spec_follows(&self) -> bool {
        let rest: String = self.s.iter().skip(self.i).take(32).collect();
        let Some(body) = rest.strip_prefix('{') else {
            return false;
        };
        let Some(end) = body.find('}') else {
            return false;
        };
        let spec = &body[..end];
        let (a, b) = match spec.split_once(',') {
            Some((a, b)) => (a, Some(b)),
            None => (spec, None),
        };
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        digits(a) && b.is_none_or(|b| b.is_empty() || digits(b))
    }

    /// A backslash outside a class. `Ok(None)` never happens today; `Vec` because `\Q..\E`
    /// yields several literals.
    fn parse_escape_atom(&mut self) -> Result<Option<Vec<Node>>, RegexError> {
        let Some(c) = self.peek_at(1) else {
            return err("trailing backslash at end of expression");
        };
        let assertion = match c {
            'A' => Some(Assertion::BeginText),
            'z' => Some(Assertion::EndText),
            'b' => Some(Assertion::WordBoundary),
            'B' => Some(Assertion::NotWordBoundary),
            _ => None,
        };
        if let Some(a) = assertion {
            self.i += 2;
            return Ok(Some(vec![Node::Assert(a)]));
        }
        match c {
            'C' => return err("invalid escape sequence: \\C"),
            'Q' => {
                self.i += 2;
                let mut lits = Vec::new();
                while let Some(ch) = self.peek() {
                    if ch == '\\' && self.peek_at(1) == Some('E') {
                        self.i += 2;
                        break;
                    }
                    lits.push(Node::Set(single(ch)));
                    self.i += 1;
                }
                return Ok(Some(lits));
            }
            'p' | 'P' => return err("unicode classes are not supported"),
            _ => {}
        }
        if let Some(set) = perl_class(c) {
            self.i += 2;
            return Ok(Some(vec![Node::Set(set)]));
        }
        let ch = self.parse_escape()?;
        Ok(Some(vec![Node::Set(single(ch))]))
    }

    /// Go's `parseEscape`: the backslash is at `self.i`.
    fn parse_escape(&mut self) -> Result<char, RegexError> {
        self.i += 1;
        let Some(c) = self.peek() else {
            return err("trailing backslash at end of expression");
        };
        self.i += 1;
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            return Ok(c);
        }
        let octal = |c: Option<char>| c.filter(|c| ('0'..='7').contains(c));
        match c {
            '1'..='7' | '0' if c == '0' || octal(self.peek()).is_some() => {
                let mut r = c.to_digit(8).unwrap_or(0);
                for _ in 1..3 {
                    let Some(d) = octal(self.peek()) else { break };
                    r = r * 8 + d.to_digit(8).unwrap_or(0);
                    self.i += 1;
                }
                char::from_u32(r).ok_or_else(|| RegexError("invalid escape".into()))
            }
            'x' => self.parse_hex(),
            'a' => Ok('\x07'),
            'f' => Ok('\x0c'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'v' => Ok('\x0b'),
            _ => err("invalid escape sequence"),
        }
    }

    fn parse_hex(&mut self) -> Result<char, RegexError> {
        let bad = || RegexError("invalid escape sequence".into());
        let first = self.peek().ok_or_else(bad)?;
        self.i += 1;
        if first == '{' {
            let mut r: u32 = 0;
            let mut n = 0;
            loop {
                let c = self.peek().ok_or_else(bad)?;
                self.i += 1;
                if c == '}' {
                    break;
                }
                r = r * 16 + c.to_digit(16).ok_or_else(bad)?;
                if r > 0x10FFFF {
                    return Err(bad());
                }
                n += 1;
            }
            if n == 0 {
                return Err(bad());
            }
            return char::from_u32(r).ok_or_else(bad);
        }
        let second = self.peek().ok_or_else(bad)?;
        self.i += 1;
        let (x, y) = (
            first.to_digit(16).ok_or_else(bad)?,
            second.to_digit(16).ok_or_else(bad)?,
        );
        char::from_u32(x * 16 + y).ok_or_else(bad)
    }

    /// A bracket expression; `self.i` is at `[`.
    fn parse_class(&mut self) -> Result<CharSet, RegexError> {
        self.i += 1;
        let mut negate = false;
        if self.peek() == Some('^') {
            negate = true;
            self.i += 1;
        }
        let mut ranges: Vec<(char, char)> = Vec::new();
        let mut first = true;
        loop {
            match self.peek() {
                None => return err("missing closing ]"),
                Some(']') if !first => {
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            first = false;
            // POSIX class `[:name:]`.
            if self.peek() == Some('[') && self.peek_at(1) == Some(':') {
                let rest: String = self.s.iter().skip(self.i + 2).collect();
                if let Some(end) = rest.find(":]") {
                    let name = &rest[..end];
                    let (neg, name) = match name.strip_prefix('^') {
                        Some(n) => (true, n),
                        None => (false, name),
                    };
                    let set = posix_class(name)
                        .ok_or_else(|| RegexError("invalid character class range".into()))?;
                    let set = if neg { set.negated() } else { set };
                    ranges.extend(set.0);
                    self.i += 2 + name.chars().count() + usize::from(neg) + 2;
                    continue;
                }
            }
            if self.peek() == Some('\\') {
                match self.peek_at(1) {
                    Some('p' | 'P') => return err("unicode classes are not supported"),
                    Some(c) => {
                        if let Some(set) = perl_class(c) {
                            ranges.extend(set.0);
                            self.i += 2;
                            continue;
                        }
                    }
                    None => {}
                }
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.i += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return err("invalid character class range");
                }
            }
            ranges.push((lo, hi));
        }
        let set = CharSet(ranges);
        Ok(if negate { set.negated() } else { set })
    }

    fn class_char(&mut self) -> Result<char, RegexError> {
        match self.peek() {
            None => err("missing closing ]"),
            Some('\\') => self.parse_escape(),
            Some(c) => {
                self.i += 1;
                Ok(c)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, s: &str) -> bool {
        match Regex::new(re) {
            Ok(r) => r.is_match(s),
            Err(e) => panic!("{re}: {e:?}"),
        }
    }

    #[test]
    fn generated_shapes() {
        assert!(m("^[^/]*$", "abc"));
        assert!(!m("^[^/]*$", "a/c"));
        assert!(m("^[^/]*$", "a\nc"));
        assert!(m("^(.*/)?dir2/[^/]*$", "a/b/dir2/x"));
        assert!(!m("^(.*/)?.*$", "a\nb"));
        assert!(m("^(.*/)?(.*/)?[^/]*\\.txt$", "file.txt"));
        assert!(!m("^(.*/)?(.*/)?[^/]*\\.txt$", "filetxt"));
    }

    #[test]
    fn class_quirks() {
        // `[*]` from a pattern becomes `[[^/]*]`.
        assert!(m("^[[^/]*]$", "[^]"));
        assert!(m("^[[^/]*]$", "]"));
        assert!(!m("^[[^/]*]$", "a]"));
        assert!(m("^[[:alpha:]]$", "q"));
        assert!(!m("^[[:alpha:]]$", "1"));
        assert!(m("^a\\d$", "a5"));
        assert!(!m("^a\\d$", "ad"));
        assert!(m("^[\\]a]$", "]"));
        assert!(m("^[a-ζ]$", "α"));
        assert!(Regex::new("[Local-Only]").is_err());
        assert!(Regex::new("[[:nope:]]").is_err());
        assert!(Regex::new("a\\").is_err());
        assert!(Regex::new("\\y").is_err());
    }

    #[test]
    fn escapes_and_assertions() {
        assert!(m("^\\x41$", "A"));
        assert!(m("^\\101$", "A"));
        assert!(m("^\\0$", "\0"));
        assert!(m("^a\\Q$", "a$"));
        assert!(!m("^a^b$", "a^b"));
        assert!(m("^a\\b$", "a"));
    }

    #[test]
    fn negation_skips_surrogates() {
        let set = CharSet(vec![('a', 'a')]).negated();
        assert!(set.contains('\u{D7FF}') && set.contains('\u{E000}') && !set.contains('a'));
    }
}

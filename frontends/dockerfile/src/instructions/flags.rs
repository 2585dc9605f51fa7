//! A flag parser in the manner of BuildKit's `BFlags` (`instructions/bflag.go`).
//!
//! The parser hands over flags verbatim (`--from=builder`); each instruction declares which flags
//! it takes and of which kind, and this module checks the words against that table: `--name`
//! alone sets a bool, `--name=v` is required for strings, only list flags (`--mount`,
//! `--exclude`, `--device`) may repeat. All tables live here so that an error can say that a flag
//! belongs to another instruction (`ADD --from`), which BuildKit cannot.

use super::cx::Cx;
use crate::error::{Result, suggest};

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--name`, `--name=true|false` (any case).
    Bool,
    /// `--name=value`, at most once.
    Str,
    /// `--name=value`, repeatable.
    Strs,
}

/// One accepted flag.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Def {
    pub name: &'static str,
    pub kind: Kind,
}

const fn def(name: &'static str, kind: Kind) -> Def {
    Def { name, kind }
}

pub(crate) const FROM: &[Def] = &[def("platform", Kind::Str)];
pub(crate) const RUN: &[Def] = &[
    def("mount", Kind::Strs),
    def("network", Kind::Str),
    def("security", Kind::Str),
    def("device", Kind::Strs),
];
pub(crate) const COPY: &[Def] = &[
    def("from", Kind::Str),
    def("chown", Kind::Str),
    def("chmod", Kind::Str),
    def("link", Kind::Bool),
    def("exclude", Kind::Strs),
    def("parents", Kind::Bool),
];
pub(crate) const ADD: &[Def] = &[
    def("chown", Kind::Str),
    def("chmod", Kind::Str),
    def("link", Kind::Bool),
    def("exclude", Kind::Strs),
    def("checksum", Kind::Str),
    def("keep-git-dir", Kind::Bool),
    def("unpack", Kind::Bool),
];
pub(crate) const HEALTHCHECK: &[Def] = &[
    def("interval", Kind::Str),
    def("timeout", Kind::Str),
    def("start-period", Kind::Str),
    def("start-interval", Kind::Str),
    def("retries", Kind::Str),
];
/// For instructions that take no flags.
pub(crate) const NONE: &[Def] = &[];

/// Every instruction that has flags, for "belongs to another instruction" hints.
const ALL: &[(&str, &[Def])] = &[
    ("FROM", FROM),
    ("RUN", RUN),
    ("COPY", COPY),
    ("ADD", ADD),
    ("HEALTHCHECK", HEALTHCHECK),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
}

/// The flags given on one instruction, checked against its table.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    values: Vec<(&'static str, Value)>,
}

impl Parsed {
    fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A string flag's value, if given.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A bool flag's value, if given (`--link` alone is `Some(true)`).
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// A repeatable flag's values, in order.
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::Strs(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
}

/// Checks the node's flags against `defs`.
pub(crate) fn parse(cx: &Cx<'_>, defs: &[Def]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    for word in &cx.node.flags {
        let Some(body) = word.strip_prefix("--") else {
            return Err(cx.err_at(word, format!("flag should start with --: {word}")));
        };
        if body.is_empty() {
            // `--` ends the flags, as in BuildKit.
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let flag = format!("--{name}");
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            return Err(unknown_flag(cx, name, defs));
        };
        if let Some((_, old)) = parsed.values.iter_mut().find(|(n, _)| *n == def.name) {
            match (old, value) {
                (Value::Strs(list), Some(v)) => {
                    list.push(v.to_string());
                    continue;
                }
                (Value::Strs(_), None) => {}
                _ => {
                    return Err(cx
                        .err_at(&flag, format!("duplicate flag specified: {flag}"))
                        .with_help(format!("give {flag} only once")));
                }
            }
        }
        let value = match (def.kind, value) {
            (Kind::Bool, None) => Value::Bool(true),
            (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "" => return Err(missing_value(cx, &flag, def.kind)),
                _ => {
                    return Err(cx
                        .err_at(
                            &flag,
                            format!("expecting boolean value for flag {flag}, not: {v}"),
                        )
                        .with_help(format!("write {flag}, {flag}=true or {flag}=false")));
                }
            },
            (_, None) => return Err(missing_value(cx, &flag, def.kind)),
            (Kind::Str, Some(v)) => Value::Str(v.to_string()),
            (Kind::Strs, Some(v)) => Value::Strs(vec![v.to_string()]),
        };
        parsed.values.push((def.name, value));
    }
    Ok(parsed)
}

fn missing_value(cx: &Cx<'_>, flag: &str, kind: Kind) -> crate::error::Error {
    let help = match kind {
        Kind::Bool => format!("write {flag}, {flag}=true or {flag}=false"),
        Kind::Str | Kind::Strs => format!("write it as {flag}=<value>"),
    };
    cx.err_at(flag, format!("missing a value on flag: {flag}"))
        .with_help(help)
}

fn unknown_flag(cx: &Cx<'_>, name: &str, defs: &[Def]) -> crate::error::Error {
    let flag = format!("--{name}");
    let err = cx.err_at(&flag, format!("unknown flag: {flag}"));
    let owners: Vec<&str> = ALL
        .iter()
        .filter(|(_, table)| table.iter().any(|d| d.name == name))
        .map(|(instr, _)| *instr)
        .collect();
    let accepted = if defs.is_empty() {
        format!("{} takes no flags", cx.name)
    } else {
        let list: Vec<String> = defs.iter().map(|d| format!("--{}", d.name)).collect();
        format!("{} accepts {}", cx.name, list.join(", "))
    };
    if !owners.is_empty() {
        return err.with_help(format!(
            "{flag} is only valid for {}; {accepted}",
            owners.join(", ")
        ));
    }
    match suggest(name, defs.iter().map(|d| d.name)) {
        Some(s) => err.with_suggestion(s),
        None => err.with_help(accepted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::node_of;

    fn run(src: &str, defs: &[Def]) -> Result<Parsed> {
        let node = node_of(src);
        parse(&Cx::new(&node), defs)
    }

    fn err(src: &str, defs: &[Def]) -> (String, Option<String>, Option<usize>) {
        match run(src, defs) {
            Ok(p) => panic!("expected an error for {src:?}, got {p:?}"),
            Err(e) => (e.message, e.help, e.column),
        }
    }

    #[test]
    fn values_of_every_kind() {
        let p = run(
            "COPY --from=b --link --parents=FALSE --exclude=a --exclude=b x y",
            COPY,
        )
        .expect("valid flags");
        assert_eq!(p.string("from").as_deref(), Some("b"));
        assert_eq!(p.bool("link"), Some(true));
        assert_eq!(p.bool("parents"), Some(false));
        assert_eq!(p.strings("exclude"), vec!["a", "b"]);
        assert_eq!(p.string("chown"), None);
        assert_eq!(p.bool("unpack"), None);
        assert!(p.strings("mount").is_empty());
    }

    #[test]
    fn empty_string_value_is_allowed() {
        let p = run("COPY --chown= a b", COPY).expect("empty value");
        assert_eq!(p.string("chown").as_deref(), Some(""));
    }

    #[test]
    fn double_dash_ends_flags() {
        let mut node = node_of("COPY a b");
        node.flags = vec!["--link".into(), "--".into(), "--bogus".into()];
        let p = parse(&Cx::new(&node), COPY).expect("-- ends flags");
        assert_eq!(p.bool("link"), Some(true));
    }

    #[test]
    fn errors() {
        type Case<'a> = (&'a str, &'a [Def], &'a str, Option<&'a str>, Option<usize>);
        let cases: &[Case] = &[
            (
                "COPY --form=x a b",
                COPY,
                "unknown flag: --form (did you mean from?)",
                None,
                Some(5),
            ),
            (
                "ADD --from=x a b",
                ADD,
                "unknown flag: --from",
                Some(
                    "--from is only valid for COPY; ADD accepts --chown, --chmod, --link, \
                     --exclude, --checksum, --keep-git-dir, --unpack",
                ),
                Some(4),
            ),
            (
                "WORKDIR --x /a",
                NONE,
                "unknown flag: --x",
                Some("WORKDIR takes no flags"),
                Some(8),
            ),
            (
                "COPY --zzzzzzzz a b",
                COPY,
                "unknown flag: --zzzzzzzz",
                Some("COPY accepts --from, --chown, --chmod, --link, --exclude, --parents"),
                Some(5),
            ),
            (
                "COPY --from=a --from=b x y",
                COPY,
                "duplicate flag specified: --from",
                Some("give --from only once"),
                Some(5),
            ),
            (
                "COPY --link --link x y",
                COPY,
                "duplicate flag specified: --link",
                Some("give --link only once"),
                Some(5),
            ),
            (
                "COPY --from x y",
                COPY,
                "missing a value on flag: --from",
                Some("write it as --from=<value>"),
                Some(5),
            ),
            (
                "COPY --exclude x y",
                COPY,
                "missing a value on flag: --exclude",
                Some("write it as --exclude=<value>"),
                Some(5),
            ),
            (
                "COPY --link= x y",
                COPY,
                "missing a value on flag: --link",
                Some("write --link, --link=true or --link=false"),
                Some(5),
            ),
            (
                "COPY --link=yes x y",
                COPY,
                "expecting boolean value for flag --link, not: yes",
                Some("write --link, --link=true or --link=false"),
                Some(5),
            ),
        ];
        for (src, defs, msg, help, col) in cases {
            let (m, h, c) = err(src, defs);
            assert_eq!(m, *msg, "{src}");
            assert_eq!(h.as_deref(), *help, "{src}");
            assert_eq!(c, *col, "{src}");
        }
    }

    #[test]
    fn flag_without_dashes() {
        let mut node = node_of("COPY a b");
        node.flags = vec!["-x".into()];
        let e = parse(&Cx::new(&node), COPY).expect_err("error");
        assert_eq!(e.message, "flag should start with --: -x");
    }
}

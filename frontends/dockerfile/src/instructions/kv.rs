//! ENV, LABEL and ARG: the key/value instructions (BuildKit's `parseKvps`, `parseArg`).
//!
//! ENV and LABEL arrive from the parser already split into (key, value, separator) triples, in
//! both the `KEY=value ...` and the legacy `KEY value` forms; ARG arrives as whole words
//! (`name` or `name=default`) because a declaration may have no value at all.

use super::cx::Cx;
use super::flags;
use super::types::{ArgDecl, KeyValue};
use crate::error::Result;

/// ENV or LABEL pairs.
pub(crate) fn parse_pairs(cx: &Cx<'_>) -> Result<Vec<KeyValue>> {
    flags::parse(cx, flags::NONE)?;
    let words = cx.words();
    let name = &cx.name;
    if words.is_empty() {
        return Err(cx
            .err(format!("{name} requires at least one argument"))
            .with_help(format!("write {name} <key>=<value> ...")));
    }
    if !words.len().is_multiple_of(3) {
        return Err(cx.err(format!("Bad input to {name}, too many arguments")));
    }
    let mut pairs = Vec::with_capacity(words.len() / 3);
    let (triples, _) = words.as_chunks::<3>();
    for &[key, value, _] in triples {
        if key.is_empty() {
            return Err(cx
                .err_at(
                    &format!("={value}"),
                    format!("{name} names can not be blank"),
                )
                .with_help(format!("write {name} <key>=<value>")));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(pairs)
}

/// ARG declarations: one per word, split at the first `=`.
pub(crate) fn parse_args(cx: &Cx<'_>) -> Result<Vec<ArgDecl>> {
    flags::parse(cx, flags::NONE)?;
    let words = cx.words();
    if words.is_empty() {
        return Err(cx
            .err("ARG requires at least one argument")
            .with_help("write ARG <name>[=<default>]"));
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(cx
                .err_at(w, "ARG names can not be blank")
                .with_help("write ARG <name>=<default>")),
            Some((name, default)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            }),
            None => Ok(ArgDecl {
                name: w.to_string(),
                default: None,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{err_of, ok_of};
    use crate::instructions::types::{ArgDecl, KeyValue};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            ok_of(r#"ENV A=1 B="two words" C="#),
            Instruction::Env(vec![kv("A", "1"), kv("B", r#""two words""#), kv("C", "")])
        );
        assert_eq!(
            ok_of("ENV PATH /usr/bin:$PATH"),
            Instruction::Env(vec![kv("PATH", "/usr/bin:$PATH")])
        );
        assert_eq!(ok_of("env a b c"), Instruction::Env(vec![kv("a", "b c")]));
    }

    #[test]
    fn label_forms() {
        assert_eq!(
            ok_of(r#"LABEL org.opencontainers.image.title="x y" v=1"#),
            Instruction::Label(vec![
                kv("org.opencontainers.image.title", r#""x y""#),
                kv("v", "1")
            ])
        );
        assert_eq!(
            ok_of("LABEL maintainer me"),
            Instruction::Label(vec![kv("maintainer", "me")])
        );
    }

    #[test]
    fn arg_forms() {
        assert_eq!(
            ok_of(r#"ARG A B=2 C="x y" D="#),
            Instruction::Arg(vec![
                ArgDecl {
                    name: "A".into(),
                    default: None
                },
                ArgDecl {
                    name: "B".into(),
                    default: Some("2".into())
                },
                ArgDecl {
                    name: "C".into(),
                    default: Some(r#""x y""#.into())
                },
                ArgDecl {
                    name: "D".into(),
                    default: Some(String::new())
                },
            ])
        );
        assert_eq!(
            ok_of("ARG V=a=b"),
            Instruction::Arg(vec![ArgDecl {
                name: "V".into(),
                default: Some("a=b".into())
            }])
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "ENV",
                "ENV requires at least one argument",
                Some("write ENV <key>=<value> ..."),
            ),
            (
                "LABEL",
                "LABEL requires at least one argument",
                Some("write LABEL <key>=<value> ..."),
            ),
            (
                "ENV =x",
                "ENV names can not be blank",
                Some("write ENV <key>=<value>"),
            ),
            (
                "LABEL a=1 =2",
                "LABEL names can not be blank",
                Some("write LABEL <key>=<value>"),
            ),
            (
                "ARG",
                "ARG requires at least one argument",
                Some("write ARG <name>[=<default>]"),
            ),
            (
                "ARG =1",
                "ARG names can not be blank",
                Some("write ARG <name>=<default>"),
            ),
            (
                "ARG --required A",
                "unknown flag: --required",
                Some("ARG takes no flags"),
            ),
            (
                "ENV --x A=1",
                "unknown flag: --x",
                Some("ENV takes no flags"),
            ),
        ];
        for (src, msg, help) in cases {
            let e = err_of(src);
            assert_eq!(e.message, *msg, "{src}");
            assert_eq!(e.help.as_deref(), *help, "{src}");
        }
        assert_eq!(err_of("LABEL a=1 =2").column, Some(10));
        assert_eq!(err_of("ARG a =1").column, Some(6));
    }

    #[test]
    fn odd_triples() {
        let mut node = crate::instructions::testutil::node_of("ENV A=1");
        node.args.pop();
        let e = crate::instructions::parse_instruction(&crate::instructions::cx::Cx::new(&node))
            .expect_err("error");
        assert_eq!(e.message, "Bad input to ENV, too many arguments");
    }
}

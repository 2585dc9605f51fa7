//! ONBUILD (BuildKit's `parseOnBuild`): the trigger is stored as text, for the image config, but
//! checked now: `ONBUILD ONBUILD`, `ONBUILD FROM` and `ONBUILD MAINTAINER` are refused as in
//! BuildKit, and, going further than BuildKit, the trigger is typed like any instruction so an
//! unknown keyword or bad flag fails in this build rather than in some child image's build.

use super::cx::Cx;
use super::flags;
use crate::error::Result;
use crate::parser::Arg;

pub(crate) fn parse(cx: &Cx<'_>) -> Result<String> {
    flags::parse(cx, flags::NONE)?;
    let trigger = cx.node.args.iter().find_map(|a| match a {
        Arg::Nested(n) => Some(n.as_ref()),
        Arg::Word(_) => None,
    });
    let Some(trigger) = trigger else {
        return Err(cx
            .err("ONBUILD requires at least one argument")
            .with_help("write ONBUILD <instruction>"));
    };
    let keyword = trigger.keyword.to_ascii_uppercase();
    match keyword.as_str() {
        "ONBUILD" => {
            return Err(cx
                .err_at(
                    &trigger.keyword,
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                )
                .with_help("use a single ONBUILD"));
        }
        "MAINTAINER" | "FROM" => {
            return Err(cx
                .err_at(
                    &trigger.keyword,
                    format!("{keyword} isn't allowed as an ONBUILD trigger"),
                )
                .with_help("ONBUILD takes any instruction except ONBUILD, FROM and MAINTAINER"));
        }
        _ => {}
    }
    super::parse_instruction(&cx.nested(trigger))?;
    let mut text = strip_keyword(&cx.node.original).to_string();
    let heredocs = if cx.node.heredocs.is_empty() {
        &trigger.heredocs
    } else {
        &cx.node.heredocs
    };
    // As BuildKit does, heredoc bodies follow the trigger line so a child can re-parse them.
    for h in heredocs {
        text.push('\n');
        text.push_str(&h.content);
        text.push_str(&h.name);
    }
    Ok(text)
}

/// `original` without the leading `ONBUILD` and the blanks after it (case-insensitive).
fn strip_keyword(original: &str) -> &str {
    let t = original.trim_start();
    match t.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => t[7..].trim_start(),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{err_of, node_of, ok_of};
    use crate::parser::Heredoc;

    #[test]
    fn trigger_text() {
        assert_eq!(
            ok_of("ONBUILD RUN echo hi"),
            Instruction::Onbuild("RUN echo hi".into())
        );
        assert_eq!(
            ok_of("onbuild   COPY --from=x a /b"),
            Instruction::Onbuild("COPY --from=x a /b".into())
        );
        assert_eq!(
            ok_of(r#"ONBUILD CMD ["a"]"#),
            Instruction::Onbuild(r#"CMD ["a"]"#.into())
        );
        assert_eq!(strip_keyword("  OnBuild\tADD a b"), "ADD a b");
        assert_eq!(strip_keyword("RUN x"), "RUN x");
    }

    #[test]
    fn heredoc_trigger() {
        let mut node = node_of("ONBUILD RUN <<EOF");
        node.heredocs = vec![Heredoc {
            name: "EOF".into(),
            file_descriptor: 0,
            expand: true,
            chomp: false,
            content: "echo hi\n".into(),
        }];
        let text = parse(&Cx::new(&node)).expect("onbuild heredoc");
        assert_eq!(text, "RUN <<EOF\necho hi\nEOF");
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, Option<&str>, Option<usize>)] = &[
            (
                "ONBUILD",
                "ONBUILD requires at least one argument",
                Some("write ONBUILD <instruction>"),
                None,
            ),
            (
                "ONBUILD ONBUILD RUN x",
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                Some("use a single ONBUILD"),
                Some(8),
            ),
            (
                "ONBUILD FROM alpine",
                "FROM isn't allowed as an ONBUILD trigger",
                Some("ONBUILD takes any instruction except ONBUILD, FROM and MAINTAINER"),
                Some(8),
            ),
            (
                "ONBUILD maintainer me",
                "MAINTAINER isn't allowed as an ONBUILD trigger",
                Some("ONBUILD takes any instruction except ONBUILD, FROM and MAINTAINER"),
                Some(8),
            ),
            (
                "ONBUILD COPPY a b",
                "unknown instruction: COPPY (did you mean COPY?)",
                None,
                Some(8),
            ),
            (
                "ONBUILD COPY --form=a b c",
                "unknown flag: --form (did you mean from?)",
                None,
                Some(13),
            ),
            (
                "ONBUILD WORKDIR",
                "WORKDIR requires exactly one argument",
                None,
                None,
            ),
        ];
        for (src, msg, help, col) in cases {
            let e = err_of(src);
            assert_eq!(e.message, *msg, "{src}");
            if help.is_some() {
                assert_eq!(e.help.as_deref(), *help, "{src}");
            }
            assert_eq!(e.column, *col, "{src}");
        }
    }
}

//! The instructions that only set image-config fields: WORKDIR, USER, EXPOSE, VOLUME,
//! STOPSIGNAL, MAINTAINER, CMD, ENTRYPOINT and SHELL. None takes flags; the checks are
//! BuildKit's argument counts, plus SHELL's JSON-only rule.

use super::cx::Cx;
use super::flags;
use super::run::command;
use super::types::{Instruction, Raw};
use crate::error::Result;

/// WORKDIR, USER, STOPSIGNAL, MAINTAINER: exactly one argument (the rest of the line).
pub(crate) fn parse_single(cx: &Cx<'_>) -> Result<Raw> {
    flags::parse(cx, flags::NONE)?;
    let words = cx.words();
    match words.as_slice() {
        [one] if !one.is_empty() => Ok(one.to_string()),
        _ => Err(cx
            .err(format!("{} requires exactly one argument", cx.name))
            .with_help(format!(
                "write {} <{}>",
                cx.name,
                single_placeholder(&cx.name)
            ))),
    }
}

fn single_placeholder(name: &str) -> &'static str {
    match name {
        "WORKDIR" => "path",
        "USER" => "user[:group]",
        "STOPSIGNAL" => "signal",
        _ => "name",
    }
}

/// EXPOSE: at least one port; sorted as BuildKit does (before expansion).
pub(crate) fn parse_expose(cx: &Cx<'_>) -> Result<Vec<Raw>> {
    flags::parse(cx, flags::NONE)?;
    let mut ports: Vec<Raw> = cx.words().iter().map(|w| w.to_string()).collect();
    if ports.is_empty() {
        return Err(cx
            .err("EXPOSE requires at least one argument")
            .with_help("write EXPOSE <port>[/<protocol>] ..."));
    }
    ports.sort();
    Ok(ports)
}

/// VOLUME: words or a JSON array; no empty entries.
pub(crate) fn parse_volume(cx: &Cx<'_>) -> Result<Vec<Raw>> {
    flags::parse(cx, flags::NONE)?;
    let words = cx.words();
    if words.is_empty() {
        return Err(cx
            .err("VOLUME requires at least one argument")
            .with_help("write VOLUME <path> ... or VOLUME [\"<path>\", ...]"));
    }
    words
        .iter()
        .map(|w| {
            let v = w.trim();
            if v.is_empty() {
                Err(cx.err("VOLUME specified can not be an empty string"))
            } else {
                Ok(v.to_string())
            }
        })
        .collect()
}

/// CMD or ENTRYPOINT.
pub(crate) fn parse_command(cx: &Cx<'_>, entrypoint: bool) -> Result<Instruction> {
    flags::parse(cx, flags::NONE)?;
    let cmd = command(cx);
    Ok(if entrypoint {
        Instruction::Entrypoint(cmd)
    } else {
        Instruction::Cmd(cmd)
    })
}

/// SHELL: a non-empty JSON array.
pub(crate) fn parse_shell(cx: &Cx<'_>) -> Result<Vec<String>> {
    flags::parse(cx, flags::NONE)?;
    let words = cx.words();
    if cx.node.json {
        if words.is_empty() {
            return Err(cx
                .err("SHELL requires at least one argument")
                .with_help("write SHELL [\"<executable>\", \"<param>\", ...]"));
        }
        return Ok(words.iter().map(|w| w.to_string()).collect());
    }
    if words.iter().all(|w| w.trim().is_empty()) {
        return Err(cx
            .err("SHELL requires at least one argument")
            .with_help("write SHELL [\"<executable>\", \"<param>\", ...]"));
    }
    let parts: Vec<&str> = words.iter().flat_map(|w| w.split_whitespace()).collect();
    let json = serde_json::to_string(&parts)
        .unwrap_or_default()
        .replace("\",\"", "\", \"");
    Err(cx
        .err("SHELL requires the arguments to be in JSON form")
        .with_help(format!("write SHELL {json}")))
}

#[cfg(test)]
mod tests {
    use crate::instructions::testutil::{err_of, ok_of};
    use crate::instructions::types::{Command, Instruction};

    #[test]
    fn single_argument_instructions() {
        assert_eq!(ok_of("WORKDIR /app"), Instruction::Workdir("/app".into()));
        assert_eq!(
            ok_of("WORKDIR /my app"),
            Instruction::Workdir("/my app".into())
        );
        assert_eq!(ok_of("USER app:app"), Instruction::User("app:app".into()));
        assert_eq!(
            ok_of("STOPSIGNAL SIGKILL"),
            Instruction::StopSignal("SIGKILL".into())
        );
        assert_eq!(
            ok_of("MAINTAINER Jane <j@x>"),
            Instruction::Maintainer("Jane <j@x>".into())
        );
    }

    #[test]
    fn expose_and_volume() {
        assert_eq!(
            ok_of("EXPOSE 8080/udp 80 $PORT"),
            Instruction::Expose(vec!["$PORT".into(), "80".into(), "8080/udp".into()])
        );
        assert_eq!(
            ok_of("VOLUME /a /b"),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            ok_of(r#"VOLUME ["/a b", " /c "]"#),
            Instruction::Volume(vec!["/a b".into(), "/c".into()])
        );
    }

    #[test]
    fn cmd_entrypoint_shell() {
        assert_eq!(
            ok_of("CMD echo hi"),
            Instruction::Cmd(Command::Shell("echo hi".into()))
        );
        assert_eq!(
            ok_of(r#"CMD ["a"]"#),
            Instruction::Cmd(Command::Exec(vec!["a".into()]))
        );
        assert_eq!(ok_of("CMD []"), Instruction::Cmd(Command::Exec(vec![])));
        assert_eq!(
            ok_of(r#"ENTRYPOINT ["/e", "x"]"#),
            Instruction::Entrypoint(Command::Exec(vec!["/e".into(), "x".into()]))
        );
        assert_eq!(
            ok_of("ENTRYPOINT exec app"),
            Instruction::Entrypoint(Command::Shell("exec app".into()))
        );
        assert_eq!(
            ok_of(r#"SHELL ["/bin/bash", "-c"]"#),
            Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "WORKDIR",
                "WORKDIR requires exactly one argument",
                Some("write WORKDIR <path>"),
            ),
            (
                "USER",
                "USER requires exactly one argument",
                Some("write USER <user[:group]>"),
            ),
            (
                "STOPSIGNAL",
                "STOPSIGNAL requires exactly one argument",
                Some("write STOPSIGNAL <signal>"),
            ),
            (
                "MAINTAINER",
                "MAINTAINER requires exactly one argument",
                Some("write MAINTAINER <name>"),
            ),
            (
                "EXPOSE",
                "EXPOSE requires at least one argument",
                Some("write EXPOSE <port>[/<protocol>] ..."),
            ),
            ("VOLUME", "VOLUME requires at least one argument", None),
            ("VOLUME []", "VOLUME requires at least one argument", None),
            (
                r#"VOLUME ["/a", " "]"#,
                "VOLUME specified can not be an empty string",
                None,
            ),
            (
                "SHELL /bin/bash -c",
                "SHELL requires the arguments to be in JSON form",
                Some(r#"write SHELL ["/bin/bash", "-c"]"#),
            ),
            ("SHELL []", "SHELL requires at least one argument", None),
            ("SHELL", "SHELL requires at least one argument", None),
            ("CMD --x a", "unknown flag: --x", Some("CMD takes no flags")),
            ("WORKDIR --chown=a /x", "unknown flag: --chown", None),
            ("USER --x u", "unknown flag: --x", None),
            ("EXPOSE --x 80", "unknown flag: --x", None),
            ("STOPSIGNAL --x SIGTERM", "unknown flag: --x", None),
            ("ENTRYPOINT --x a", "unknown flag: --x", None),
        ];
        for (src, msg, help) in cases {
            let e = err_of(src);
            assert_eq!(e.message, *msg, "{src}");
            if help.is_some() {
                assert_eq!(e.help.as_deref(), *help, "{src}");
            }
        }
    }
}

//! RUN: the command (shell or exec form, heredocs kept) and its flags: `--mount` (see
//! [`super::mount`]), `--network`, `--security` and `--device`, as in BuildKit's
//! `commands_run*.go` hooks.

use super::cx::Cx;
use super::flags;
use super::mount;
use super::types::{Command, Device, Network, Run, Security};
use crate::error::{Result, suggest};

pub(crate) fn parse(cx: &Cx<'_>) -> Result<Run> {
    let fl = flags::parse(cx, flags::RUN)?;
    let mounts = fl
        .strings("mount")
        .iter()
        .map(|v| mount::parse(cx, v))
        .collect::<Result<Vec<_>>>()?;
    let network = match fl.string("network") {
        None => None,
        Some(v) => Some(match v.as_str() {
            "default" => Network::Default,
            "none" => Network::None,
            "host" => Network::Host,
            _ => {
                let err = cx.err_at(
                    &format!("--network={v}"),
                    format!("invalid network mode \"{v}\""),
                );
                return Err(with_choice(err, &v, &["default", "none", "host"]));
            }
        }),
    };
    let security = match fl.string("security") {
        None => None,
        Some(v) => Some(match v.as_str() {
            "sandbox" => Security::Sandbox,
            "insecure" => Security::Insecure,
            _ => {
                let err = cx.err_at(
                    &format!("--security={v}"),
                    format!("security \"{v}\" is not valid"),
                );
                return Err(with_choice(err, &v, &["sandbox", "insecure"]));
            }
        }),
    };
    let devices = fl
        .strings("device")
        .iter()
        .map(|v| parse_device(cx, v))
        .collect::<Result<Vec<_>>>()?;
    Ok(Run {
        command: command(cx),
        mounts,
        network,
        security,
        devices,
        heredocs: cx.node.heredocs.clone(),
    })
}

/// Shell form (the rest of the line, one word from the parser) or exec form (the JSON array).
/// Used by RUN, CMD and ENTRYPOINT alike.
pub(crate) fn command(cx: &Cx<'_>) -> Command {
    let words = cx.words();
    if cx.node.json {
        Command::Exec(words.iter().map(|w| w.to_string()).collect())
    } else {
        Command::Shell(words.join(" "))
    }
}

fn with_choice(err: crate::error::Error, value: &str, choices: &[&str]) -> crate::error::Error {
    match suggest(value, choices.iter().copied()) {
        Some(s) => err.with_help(format!("did you mean {s}?")),
        None => err.with_help(format!("use one of: {}", choices.join(", "))),
    }
}

/// `--device=name[,required[=bool]]` or `--device=name=<n>,...` (BuildKit's `ParseDevice`).
fn parse_device(cx: &Cx<'_>, value: &str) -> Result<Device> {
    let word = format!("--device={value}");
    let fields = mount::split_csv(value)
        .map_err(|e| cx.err_at(&word, format!("failed to parse csv devices: {e}")))?;
    let mut name: Option<String> = None;
    let mut required = false;
    for field in fields {
        match field.split_once('=') {
            None if field.eq_ignore_ascii_case("required") => required = true,
            None if name.is_none() => name = Some(field),
            None => {
                return Err(cx.err_at(
                    &word,
                    format!("invalid field '{field}' must be a key=value pair"),
                ));
            }
            Some((key, v)) => match key.to_ascii_lowercase().as_str() {
                "name" if name.is_some() => {
                    return Err(cx.err_at(
                        &word,
                        format!("device name already set to {}", name.unwrap_or_default()),
                    ));
                }
                "name" => name = Some(v.to_string()),
                "required" => {
                    required = super::cx::parse_go_bool(v).ok_or_else(|| {
                        cx.err_at(&word, format!("invalid value for required: {v}"))
                    })?;
                }
                // A CDI name may itself hold `=`? BuildKit takes the whole field as the name
                // when none was set yet.
                _ if name.is_none() => name = Some(field.clone()),
                k => {
                    let err = cx.err_at(&word, format!("unexpected key '{k}' in '{field}'"));
                    return Err(with_choice(err, k, &["name", "required"]));
                }
            },
        }
    }
    match name.filter(|n| !n.is_empty()) {
        Some(name) => Ok(Device { name, required }),
        None => Err(cx
            .err_at(&word, "--device requires a device name")
            .with_help("write --device=<vendor>/<class>=<name>[,required]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{err_of, node_of, ok_of};
    use crate::instructions::types::MountKind;
    use crate::parser::Heredoc;

    fn run(src: &str) -> Run {
        match ok_of(src) {
            Instruction::Run(r) => r,
            other => panic!("{src}: not a run: {other:?}"),
        }
    }

    #[test]
    fn shell_and_exec_forms() {
        let r = run("RUN echo hi  && ls");
        assert_eq!(r.command, Command::Shell("echo hi  && ls".into()));
        assert!(r.mounts.is_empty() && r.devices.is_empty());
        assert_eq!((r.network, r.security), (None, None));
        let r = run(r#"RUN ["sh", "-c", "echo"]"#);
        assert_eq!(
            r.command,
            Command::Exec(vec!["sh".into(), "-c".into(), "echo".into()])
        );
        assert_eq!(run("RUN []").command, Command::Exec(vec![]));
        assert_eq!(run("RUN").command, Command::Shell(String::new()));
    }

    #[test]
    fn every_flag() {
        let r = run(
            "RUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none \
             --security=insecure --device=vendor.com/gpu=all,required make",
        );
        assert_eq!(r.mounts.len(), 2);
        assert_eq!(r.mounts[0].kind, MountKind::Cache);
        assert_eq!(r.mounts[1].kind, MountKind::Secret);
        assert_eq!(r.network, Some(Network::None));
        assert_eq!(r.security, Some(Security::Insecure));
        assert_eq!(
            r.devices,
            vec![Device {
                name: "vendor.com/gpu=all".into(),
                required: true
            }]
        );
        assert_eq!(run("RUN --network=host x").network, Some(Network::Host));
        assert_eq!(
            run("RUN --network=default x").network,
            Some(Network::Default)
        );
        assert_eq!(
            run("RUN --security=sandbox x").security,
            Some(Security::Sandbox)
        );
        assert_eq!(
            run("RUN --device=name=gpu0,required=false x").devices,
            vec![Device {
                name: "gpu0".into(),
                required: false
            }]
        );
    }

    #[test]
    fn heredocs_are_kept() {
        let mut node = node_of("RUN <<EOF");
        node.heredocs = vec![Heredoc {
            name: "EOF".into(),
            file_descriptor: 0,
            expand: true,
            chomp: false,
            content: "echo hi\n".into(),
        }];
        let r = parse(&Cx::new(&node)).expect("heredoc run");
        assert_eq!(r.command, Command::Shell("<<EOF".into()));
        assert_eq!(r.heredocs, node.heredocs);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "RUN --network=hots x",
                "invalid network mode \"hots\"",
                "did you mean host?",
            ),
            (
                "RUN --network=bridge x",
                "invalid network mode \"bridge\"",
                "use one of: default, none, host",
            ),
            (
                "RUN --security=insecur x",
                "security \"insecur\" is not valid",
                "did you mean insecure?",
            ),
            (
                "RUN --network=a --network=b x",
                "duplicate flag specified: --network",
                "give --network only once",
            ),
            (
                "RUN --mount x",
                "missing a value on flag: --mount",
                "write it as --mount=<value>",
            ),
            (
                "RUN --xyzzy=type=cache x",
                "unknown flag: --xyzzy",
                "RUN accepts --mount, --network, --security, --device",
            ),
            (
                "RUN --mnt=type=cache x",
                "unknown flag: --mnt (did you mean mount?)",
                "",
            ),
            (
                "RUN --mout=type=cache x",
                "unknown flag: --mout (did you mean mount?)",
                "",
            ),
            (
                "RUN --device=,required x",
                "--device requires a device name",
                "write --device=<vendor>/<class>=<name>[,required]",
            ),
            (
                "RUN --device=a,name=b x",
                "device name already set to a",
                "",
            ),
            (
                "RUN --device=a,b x",
                "invalid field 'b' must be a key=value pair",
                "",
            ),
            (
                "RUN --device=a,required=maybe x",
                "invalid value for required: maybe",
                "",
            ),
            (
                "RUN --device=a,nmae=b x",
                "unexpected key 'nmae' in 'nmae=b'",
                "did you mean name?",
            ),
        ];
        for (src, msg, help) in cases {
            let e = err_of(src);
            assert_eq!(e.message, *msg, "{src}");
            if !help.is_empty() {
                assert_eq!(e.help.as_deref(), Some(*help), "{src}");
            }
        }
        assert_eq!(err_of("RUN --network=hots x").column, Some(4));
    }
}

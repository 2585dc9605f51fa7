//! Instructions that change only the image configuration (ENV, LABEL, USER, EXPOSE, VOLUME, CMD,
//! ENTRYPOINT, SHELL, HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER). They create no vertex, so
//! they never split the cache of the steps around them; RUN steps see their effect through the
//! env, user and workdir they carry.

use super::dispatch::{Lowerer, StageState};
use super::err;
use super::history;
use crate::instructions::{Command, Healthcheck, Instruction, Located};
use crate::lint::rules;
use crate::parser::Span;
use cairn_ir::image::HealthConfig;

impl Lowerer<'_> {
    pub(super) fn config_instruction(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        cmd: &Located,
    ) -> crate::error::Result<()> {
        let span = cmd.span;
        let keyword = cmd.facts.keyword.clone();
        if cmd.facts.legacy_kv {
            self.lint(
                &rules::LEGACY_KEY_VALUE_FORMAT,
                span,
                format!(
                    "\"{keyword} key=value\" should be used instead of legacy \"{keyword} key value\" format"
                ),
            );
        }
        let created_by = match ins {
            Instruction::Env(pairs) => {
                // Every pair is expanded against the environment before this instruction.
                let expanded = self.expand_pairs(st, pairs, span)?;
                for (k, _) in &expanded {
                    self.lint_secret_name("ENV", k, span);
                }
                let shown = pairs_text(&expanded);
                for (k, v) in expanded {
                    st.env_set(&k, &v);
                }
                format!("ENV {shown}")
            }
            Instruction::Label(pairs) => {
                let expanded = self.expand_pairs(st, pairs, span)?;
                let shown = pairs_text(&expanded);
                st.config.labels.extend(expanded);
                format!("LABEL {shown}")
            }
            Instruction::User(u) => {
                let u = self.expand(st, u, span)?;
                st.config.user = Some(u.clone());
                format!("USER {u}")
            }
            Instruction::Expose(ports) => {
                // Current BuildKit's history: the ports as parsed, in order (`EXPOSE [8080/tcp
                // 53/udp]`; docker 20.10's BuildKit wrote a sorted `map[...]`).
                let mut these = Vec::new();
                for p in ports {
                    for word in self.expand_words(st, p, span)? {
                        let port = parse_port(&word, span)?;
                        if port.upper_proto {
                            self.lint(
                                &rules::EXPOSE_PROTO_CASING,
                                span,
                                format!("Defined protocol '{word}' in EXPOSE instruction should be lowercase"),
                            );
                        }
                        if port.host_part {
                            self.lint(
                                &rules::EXPOSE_INVALID_FORMAT,
                                span,
                                format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{word}'"),
                            );
                        }
                        these.extend(port.keys);
                    }
                }
                let shown = format!("EXPOSE {}", history::go_list(&these));
                st.config.exposed_ports.extend(these);
                shown
            }
            Instruction::Volume(vols) => {
                let mut these = Vec::new();
                for v in vols {
                    let v = self.expand(st, v, span)?;
                    if v.trim().is_empty() {
                        return Err(err(span, "VOLUME specified can not be an empty string"));
                    }
                    these.push(v.clone());
                    st.config.volumes.insert(v);
                }
                format!("VOLUME {}", history::go_list(&these))
            }
            Instruction::Cmd(c) => {
                self.lint_command(st, c, &keyword, span, false);
                let args = command_args(st, c);
                st.config.cmd = Some(args.clone());
                // BuildKit sets the (deprecated, docker-compatible) ArgsEscaped on every CMD
                // and ENTRYPOINT.
                st.config.args_escaped = true;
                st.cmd_set = true;
                format!("CMD {}", history::go_quote_list(&args))
            }
            Instruction::Entrypoint(c) => {
                self.lint_command(st, c, &keyword, span, true);
                let args = command_args(st, c);
                st.config.entrypoint = Some(args.clone());
                st.config.args_escaped = true;
                if !st.cmd_set {
                    // As docker does: an inherited CMD is reset by a new ENTRYPOINT.
                    st.config.cmd = None;
                }
                format!("ENTRYPOINT {}", history::go_quote_list(&args))
            }
            Instruction::Shell(sh) => {
                st.config.shell = Some(sh.clone());
                // BuildKit: `SHELL %v` of the list.
                format!("SHELL {}", history::go_list(sh))
            }
            Instruction::Healthcheck(h) => {
                if let Some(prev) = st.last_healthcheck.replace(span) {
                    self.lint(
                        &rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                        prev,
                        format!("Multiple {keyword} instructions should not be used in the same stage because only the last one will be used"),
                    );
                }
                let hc = health(st, h, span)?;
                let shown = history::healthcheck(&hc);
                st.config.healthcheck = Some(hc);
                shown
            }
            Instruction::StopSignal(s) => {
                let s = self.expand(st, s, span)?;
                check_signal(&s, span)?;
                st.config.stop_signal = Some(s.clone());
                format!("STOPSIGNAL {s}")
            }
            Instruction::Onbuild(trigger) => {
                // BuildKit records no history entry for ONBUILD.
                st.config.on_build.push(trigger.clone());
                return Ok(());
            }
            Instruction::Maintainer(m) => {
                st.config.author = Some(m.clone());
                format!("MAINTAINER {m}")
            }
            Instruction::From(_)
            | Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Workdir(_)
            | Instruction::Arg(_) => {
                return Err(err(
                    span,
                    "internal error: instruction dispatched to the config handler",
                ));
            }
        };
        self.history(st, created_by, true);
        Ok(())
    }

    /// CMD/ENTRYPOINT: a shell form without a SHELL (JSONArgsRecommended), one set twice
    /// in a stage (MultipleInstructionsDisallowed, on the one that is ignored).
    fn lint_command(
        &mut self,
        st: &mut StageState,
        c: &Command,
        keyword: &str,
        span: Span,
        entrypoint: bool,
    ) {
        let last = if entrypoint {
            &mut st.last_entrypoint
        } else {
            &mut st.last_cmd
        };
        if let Some(prev) = last.replace(span) {
            self.lint(
                &rules::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                prev,
                format!("Multiple {keyword} instructions should not be used in the same stage because only the last one will be used"),
            );
        }
        if matches!(c, Command::Shell(_)) && st.config.shell.is_none() {
            self.lint(
                &rules::JSON_ARGS_RECOMMENDED,
                span,
                format!("JSON arguments recommended for {keyword} to prevent unintended behavior related to OS signals"),
            );
        }
    }

    fn expand_pairs(
        &mut self,
        st: &StageState,
        pairs: &[crate::instructions::KeyValue],
        span: Span,
    ) -> crate::error::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for kv in pairs {
            out.push((
                self.expand(st, &kv.key, span)?,
                self.expand(st, &kv.value, span)?,
            ));
        }
        Ok(out)
    }
}

/// `k=v k2=v2`, as BuildKit records ENV and LABEL.
fn pairs_text(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// CMD / ENTRYPOINT / HEALTHCHECK arguments: exec form verbatim, shell form through SHELL.
fn command_args(st: &StageState, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(args) => args.clone(),
        Command::Shell(s) => st.shell().into_iter().chain([s.clone()]).collect(),
    }
}

fn health(st: &StageState, h: &Healthcheck, span: Span) -> crate::error::Result<HealthConfig> {
    let test = match &h.test {
        None => vec!["NONE".to_string()],
        Some(Command::Exec(args)) => std::iter::once("CMD".to_string())
            .chain(args.iter().cloned())
            .collect(),
        Some(Command::Shell(s)) => vec!["CMD-SHELL".to_string(), s.clone()],
    };
    let _ = st;
    let dur = |v: &Option<String>, flag: &str| -> crate::error::Result<u64> {
        match v {
            None => Ok(0),
            Some(s) => {
                let d = parse_duration(s).ok_or_else(|| {
                    err(span, format!("invalid duration {s:?} for --{flag}"))
                        .with_help("use a Go duration such as 30s, 1m30s or 500ms")
                })?;
                if d != 0 && d < 1_000_000 {
                    return Err(err(span, format!("--{flag} cannot be less than 1ms")));
                }
                Ok(d)
            }
        }
    };
    let retries = match &h.retries {
        None => 0,
        Some(r) => r.parse::<u32>().map_err(|_| {
            err(span, format!("invalid --retries value {r:?}")).with_help("use a whole number")
        })?,
    };
    Ok(HealthConfig {
        test,
        interval: dur(&h.interval, "interval")?,
        timeout: dur(&h.timeout, "timeout")?,
        start_period: dur(&h.start_period, "start-period")?,
        start_interval: dur(&h.start_interval, "start-interval")?,
        retries,
    })
}

/// Parse a Go duration (`1h2m3.5s`, `300ms`, `0`) to nanoseconds.
pub(super) fn parse_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * mult;
    }
    (total.is_finite() && total < u64::MAX as f64).then_some(total as u64)
}

/// An EXPOSE word read: the config's `port/proto` keys, and what the lint rules judge.
struct ExposedPort {
    keys: Vec<String>,
    /// The protocol was not written in lower case (`80/TCP`).
    upper_proto: bool,
    /// An IP address or host port came before the container port (`127.0.0.1:80:80`).
    host_part: bool,
}

fn parse_port(word: &str, span: Span) -> crate::error::Result<ExposedPort> {
    let proto_written = word.split_once('/').map(|(_, p)| p).unwrap_or_default();
    Ok(ExposedPort {
        keys: expand_port_range(word, span)?,
        upper_proto: proto_written != proto_written.to_lowercase(),
        host_part: word.split('/').next().unwrap_or_default().contains(':'),
    })
}

/// `8080`, `53/udp`, `8000-8002/tcp` to the config's `port/proto` keys.
fn expand_port_range(word: &str, span: Span) -> crate::error::Result<Vec<String>> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(
            err(span, format!("invalid protocol {proto:?} in EXPOSE {word}"))
                .with_help("use tcp, udp or sctp"),
        );
    }
    let bad = || {
        err(span, format!("invalid port {word:?} in EXPOSE"))
            .with_help("use PORT[/PROTO] or START-END[/PROTO]")
    };
    // `ip:hostport:containerport` style is accepted by docker, keeping the container port.
    let ports = ports.rsplit(':').next().unwrap_or(ports);
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn check_signal(s: &str, span: Span) -> crate::error::Result<()> {
    let name = s.trim_start_matches("SIG");
    let numeric = s.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n));
    let named = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'+' || b == b'-');
    if numeric || named {
        Ok(())
    } else {
        Err(err(span, format!("invalid signal {s:?}"))
            .with_help("use a name like SIGTERM or a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn ports() {
        let s = Span::default();
        assert_eq!(expand_port_range("80", s).unwrap(), vec!["80/tcp"]);
        assert_eq!(expand_port_range("53/UDP", s).unwrap(), vec!["53/udp"]);
        assert_eq!(expand_port_range("8000-8002", s).unwrap().len(), 3);
        assert!(expand_port_range("http", s).is_err());
        assert!(expand_port_range("80/xyz", s).is_err());
    }
}

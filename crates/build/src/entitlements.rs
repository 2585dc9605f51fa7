//! Entitlements: what a Dockerfile may only do when the person running the build allows it
//! on the command line (`--allow network.host`, `--allow security.insecure`, buildx's names).
//!
//! A Dockerfile is often someone else's (a pull request in CI): `RUN --network=host` would
//! reach every service on the host's loopback, `RUN --security=insecure` would run with every
//! capability and no seccomp filter. The build refuses such a step before anything runs,
//! naming the Dockerfile line and the flag that grants it. `--network=host` given to `cairn
//! build` itself is the user's own choice and grants `network.host`.

use crate::error::{Result, bail};
use cairn_ir::{Graph, NetworkMode, Op, SecurityMode};

/// The entitlements granted for one build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowed {
    pub network_host: bool,
    pub security_insecure: bool,
}

/// Parse `--allow` values (repeatable, each may be comma-separated).
pub fn parse(values: &[String]) -> Result<Allowed> {
    let mut allowed = Allowed::default();
    for value in values {
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "network.host" => allowed.network_host = true,
                "security.insecure" => allowed.security_insecure = true,
                other => bail!(
                    "unknown entitlement {other:?} in --allow: use network.host or \
                     security.insecure"
                ),
            }
        }
    }
    Ok(allowed)
}

/// A step that needs an entitlement that was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The step, as progress shows it (`[2/3] RUN --network=host ...`).
    pub step: String,
    /// The source file and lines of the step, when known.
    pub file: Option<String>,
    pub lines: Option<(usize, usize)>,
    /// `network.host` or `security.insecure`.
    pub entitlement: &'static str,
}

/// Every step of `graph` that needs an entitlement `allowed` lacks.
pub fn check(graph: &Graph, allowed: Allowed) -> Vec<Denied> {
    let mut denied = Vec::new();
    for v in &graph.vertices {
        let Op::Exec(x) = &v.op else { continue };
        let mut need = Vec::new();
        if x.network == NetworkMode::Host && !allowed.network_host {
            need.push("network.host");
        }
        if x.security == SecurityMode::Insecure && !allowed.security_insecure {
            need.push("security.insecure");
        }
        for entitlement in need {
            let meta = graph.meta.get(&v.digest);
            denied.push(Denied {
                step: meta.map_or_else(|| v.digest.to_string(), |m| m.description.clone()),
                file: meta.and_then(|m| m.file.clone()),
                lines: meta.and_then(|m| m.lines),
                entitlement,
            });
        }
    }
    denied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_names() {
        assert_eq!(parse(&[]).ok(), Some(Allowed::default()));
        let both = parse(&["network.host,security.insecure".into()]).ok();
        assert_eq!(
            both,
            Some(Allowed {
                network_host: true,
                security_insecure: true
            })
        );
        let one = parse(&["security.insecure".into()]).ok();
        assert_eq!(one.map(|a| a.network_host), Some(false));
        assert!(parse(&["device".into()]).is_err());
    }
}

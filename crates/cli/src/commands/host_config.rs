//! `--add-host`, `--shm-size` and `--ulimit`: docker's spellings, checked here (a bad value is
//! an error naming the flag), carried to every RUN step as `cairn_ir::HostConfig`.

use anyhow::{Result, bail};
use cairn_ir::{HostConfig, HostEntry, Ulimit};
use std::net::IpAddr;

/// The build's host config from its flags.
pub fn parse(
    add_hosts: &[String],
    shm_size: Option<&str>,
    ulimits: &[String],
) -> Result<HostConfig> {
    let mut config = HostConfig::default();
    for h in add_hosts {
        config.extra_hosts.push(parse_host(h)?);
    }
    if let Some(s) = shm_size {
        config.shm_size = Some(parse_size(s)?);
    }
    for u in ulimits {
        let parsed = parse_ulimit(u)?;
        // Later ones win, as docker's map does.
        config.ulimits.retain(|x| x.name != parsed.name);
        config.ulimits.push(parsed);
    }
    Ok(config)
}

/// `HOST:IP` or `HOST=IP`; an IPv6 address may be bracketed.
fn parse_host(s: &str) -> Result<HostEntry> {
    let Some((host, ip)) = s.split_once(['=', ':']) else {
        bail!("invalid --add-host {s:?}: expected HOST:IP");
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        bail!("invalid --add-host {s:?}: the host name is empty or has spaces");
    }
    if ip == "host-gateway" {
        bail!(
            "invalid --add-host {s:?}: host-gateway needs a daemon's bridge, which cairn does not \
             have: give the address"
        );
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    let Ok(addr) = bare.parse::<IpAddr>() else {
        bail!("invalid --add-host {s:?}: {ip:?} is not an IP address");
    };
    Ok(HostEntry {
        host: host.to_string(),
        ip: addr.to_string(),
    })
}

/// docker's `RAMInBytes` (the frontend's reading of `--mount size=`), more than zero.
fn parse_size(s: &str) -> Result<u64> {
    match cairn_dockerfile::instructions::ram_in_bytes(s.trim()) {
        Some(0) => bail!("invalid --shm-size {s:?}: must be more than 0 and less than 16 EiB"),
        Some(n) => Ok(n),
        None => bail!("invalid --shm-size {s:?}: expected a size like 64m or 1g"),
    }
}

/// `NAME=SOFT[:HARD]` (go-units' `ParseUlimit`); `-1` is unlimited.
fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let Some((name, values)) = s.split_once('=') else {
        bail!("invalid --ulimit {s:?}: expected NAME=SOFT[:HARD]");
    };
    if !Ulimit::NAMES.contains(&name) {
        bail!(
            "invalid --ulimit {s:?}: unknown limit {name:?} (one of {})",
            Ulimit::NAMES.join(", ")
        );
    }
    let value = |v: &str| -> Result<u64> {
        match v.parse::<i64>() {
            Ok(-1) => Ok(Ulimit::UNLIMITED),
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => bail!("invalid --ulimit {s:?}: {v:?} is not a limit (a number, or -1)"),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((soft, hard)) => (value(soft)?, value(hard)?),
        None => {
            let v = value(values)?;
            (v, v)
        }
    };
    if soft > hard {
        bail!("invalid --ulimit {s:?}: the soft limit must not exceed the hard limit");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_docker_writes_them() {
        let h = parse_host("db:10.0.0.2").unwrap();
        assert_eq!((h.host.as_str(), h.ip.as_str()), ("db", "10.0.0.2"));
        assert_eq!(parse_host("db=10.0.0.2").unwrap().ip, "10.0.0.2");
        assert_eq!(parse_host("v6:::1").unwrap().ip, "::1");
        assert_eq!(parse_host("v6:[2001:db8::1]").unwrap().ip, "2001:db8::1");
        for bad in [
            "db",
            ":10.0.0.2",
            "db:",
            "db:not-an-ip",
            "db:host-gateway",
            "a b:1.2.3.4",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("2 kb").unwrap(), 2048);
        for bad in ["", "0", "m", "-1m", "1x", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ulimits_as_docker_reads_them() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        let u = parse_ulimit("core=-1").unwrap();
        assert_eq!((u.soft, u.hard), (Ulimit::UNLIMITED, Ulimit::UNLIMITED));
        for bad in ["nofile", "files=1", "nofile=2:1", "nofile=-2", "nofile=x"] {
            assert!(parse_ulimit(bad).is_err(), "{bad}");
        }
        let c = parse(&[], None, &["nofile=1".into(), "nofile=2".into()]).unwrap();
        assert_eq!(c.ulimits.len(), 1);
        assert_eq!(c.ulimits[0].soft, 2);
    }
}

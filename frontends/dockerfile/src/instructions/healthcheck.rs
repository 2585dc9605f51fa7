//! HEALTHCHECK (BuildKit's `parseHealthcheck`): `NONE`, or `CMD` plus a command, with the
//! duration flags checked by Go's `time.ParseDuration` rules (at least 1ms unless 0) and
//! `--retries` a non-negative 32-bit integer. The values stay as written: the image config
//! wants Go durations in nanoseconds, which lowering computes with [`duration_nanos`].

use super::cx::Cx;
use super::flags;
use super::types::{Command, Healthcheck};
use crate::error::Result;

pub(crate) fn parse(cx: &Cx<'_>) -> Result<Healthcheck> {
    let words = cx.words();
    let Some((kind, rest)) = words.split_first() else {
        return Err(cx
            .err("HEALTHCHECK requires at least one argument")
            .with_help("write HEALTHCHECK CMD <command> or HEALTHCHECK NONE"));
    };
    // BuildKit declares no flags for NONE and never parses them; we still reject unknown ones.
    let fl = flags::parse(cx, flags::HEALTHCHECK)?;
    let upper = kind.to_ascii_uppercase();
    if upper == "NONE" {
        if let Some(first) = rest.first() {
            return Err(cx
                .err_at(first, "HEALTHCHECK NONE takes no arguments")
                .with_help("remove the arguments after NONE"));
        }
        return Ok(Healthcheck {
            test: None,
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        });
    }
    if upper != "CMD" {
        return Err(cx
            .err_at(
                kind,
                format!("Unknown type \"{upper}\" in HEALTHCHECK (try CMD)"),
            )
            .with_help("write HEALTHCHECK [OPTIONS] CMD <command> or HEALTHCHECK NONE"));
    }
    let test = if cx.node.json {
        Command::Exec(rest.iter().map(|w| w.to_string()).collect())
    } else {
        Command::Shell(rest.join(" "))
    };
    let empty = match &test {
        Command::Exec(v) => v.is_empty(),
        Command::Shell(s) => s.is_empty(),
    };
    if empty {
        return Err(cx
            .err("Missing command after HEALTHCHECK CMD")
            .with_help("write HEALTHCHECK CMD <command>"));
    }
    let duration = |name: &str| -> Result<Option<String>> {
        let Some(v) = fl.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let word = format!("--{name}={v}");
        let nanos = duration_nanos(&v).ok_or_else(|| {
            cx.err_at(&word, format!("time: invalid duration \"{v}\""))
                .with_help("durations look like 30s, 1m30s or 500ms")
        })?;
        if nanos != 0 && nanos < 1_000_000 {
            return Err(cx
                .err_at(
                    &word,
                    format!("Interval \"{name}\" cannot be less than 1ms"),
                )
                .with_help("use 0 for the default, or a duration of at least 1ms"));
        }
        Ok(Some(v))
    };
    let interval = duration("interval")?;
    let timeout = duration("timeout")?;
    let start_period = duration("start-period")?;
    let start_interval = duration("start-interval")?;
    let retries = fl.string("retries").filter(|v| !v.is_empty());
    if let Some(r) = &retries {
        let word = format!("--retries={r}");
        let n: i32 = r.parse().map_err(|_| {
            cx.err_at(
                &word,
                format!("strconv.ParseInt: parsing \"{r}\": invalid syntax"),
            )
            .with_help("--retries takes a whole number")
        })?;
        if n < 0 {
            return Err(cx.err_at(&word, format!("--retries cannot be negative ({n})")));
        }
    }
    Ok(Healthcheck {
        test: Some(test),
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    })
}

/// Go's `time.ParseDuration` in nanoseconds: `[-+]?(<number>[.<frac>]<unit>)+` with units
/// ns, us, µs, μs, ms, s, m, h, or a bare `0`. None when it does not parse or overflows i64.
pub fn duration_nanos(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total as i64;
    Some(if neg { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{err_of, ok_of};

    fn hc(src: &str) -> Healthcheck {
        match ok_of(src) {
            Instruction::Healthcheck(h) => h,
            other => panic!("{src}: {other:?}"),
        }
    }

    #[test]
    fn forms() {
        let h = hc("HEALTHCHECK NONE");
        assert_eq!(h.test, None);
        let h = hc("healthcheck none");
        assert_eq!(h.test, None);
        let h = hc("HEALTHCHECK CMD curl -f http://localhost/");
        assert_eq!(
            h.test,
            Some(Command::Shell("curl -f http://localhost/".into()))
        );
        let h = hc(r#"HEALTHCHECK cmd ["curl", "-f"]"#);
        assert_eq!(
            h.test,
            Some(Command::Exec(vec!["curl".into(), "-f".into()]))
        );
    }

    #[test]
    fn every_flag() {
        let h = hc(
            "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=0 --start-interval=500ms \
             --retries=3 CMD true",
        );
        assert_eq!(h.interval.as_deref(), Some("30s"));
        assert_eq!(h.timeout.as_deref(), Some("1m30s"));
        assert_eq!(h.start_period.as_deref(), Some("0"));
        assert_eq!(h.start_interval.as_deref(), Some("500ms"));
        assert_eq!(h.retries.as_deref(), Some("3"));
        assert_eq!(
            hc("HEALTHCHECK --retries=0 CMD x").retries.as_deref(),
            Some("0")
        );
        // Flags on NONE are ignored, as in BuildKit.
        assert_eq!(hc("HEALTHCHECK --interval=5s NONE").test, None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_nanos("0"), Some(0));
        assert_eq!(duration_nanos("1h2m3s"), Some(3_723_000_000_000));
        assert_eq!(duration_nanos("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_nanos("10µs"), Some(10_000));
        assert_eq!(duration_nanos("-2ns"), Some(-2));
        assert_eq!(duration_nanos(".5s"), Some(500_000_000));
        for bad in ["", "5", "s", "1x", "1..2s", "-", "1s2"] {
            assert_eq!(duration_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "HEALTHCHECK",
                "HEALTHCHECK requires at least one argument",
                Some("write HEALTHCHECK CMD <command> or HEALTHCHECK NONE"),
            ),
            (
                "HEALTHCHECK NONE CMD true",
                "HEALTHCHECK NONE takes no arguments",
                Some("remove the arguments after NONE"),
            ),
            (
                "HEALTHCHECK curl -f x",
                "Unknown type \"CURL\" in HEALTHCHECK (try CMD)",
                Some("write HEALTHCHECK [OPTIONS] CMD <command> or HEALTHCHECK NONE"),
            ),
            (
                "HEALTHCHECK CMD",
                "Missing command after HEALTHCHECK CMD",
                Some("write HEALTHCHECK CMD <command>"),
            ),
            (
                "HEALTHCHECK CMD []",
                "Missing command after HEALTHCHECK CMD",
                None,
            ),
            (
                "HEALTHCHECK --interval=5 CMD x",
                "time: invalid duration \"5\"",
                Some("durations look like 30s, 1m30s or 500ms"),
            ),
            (
                "HEALTHCHECK --timeout=10us CMD x",
                "Interval \"timeout\" cannot be less than 1ms",
                Some("use 0 for the default, or a duration of at least 1ms"),
            ),
            (
                "HEALTHCHECK --start-period=-1s CMD x",
                "Interval \"start-period\" cannot be less than 1ms",
                None,
            ),
            (
                "HEALTHCHECK --retries=three CMD x",
                "strconv.ParseInt: parsing \"three\": invalid syntax",
                Some("--retries takes a whole number"),
            ),
            (
                "HEALTHCHECK --retries=-1 CMD x",
                "--retries cannot be negative (-1)",
                None,
            ),
            (
                "HEALTHCHECK --intervall=5s CMD x",
                "unknown flag: --intervall (did you mean interval?)",
                None,
            ),
            (
                "HEALTHCHECK --interval=1s --interval=2s CMD x",
                "duplicate flag specified: --interval",
                None,
            ),
        ];
        for (src, msg, help) in cases {
            let e = err_of(src);
            assert_eq!(e.message, *msg, "{src}");
            if help.is_some() {
                assert_eq!(e.help.as_deref(), *help, "{src}");
            }
        }
        assert_eq!(err_of("HEALTHCHECK --interval=5 CMD x").column, Some(12));
    }
}

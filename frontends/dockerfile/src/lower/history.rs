//! Image history entries (`created_by`) written exactly as BuildKit's Dockerfile frontend writes
//! them, so `docker history` of a cairn image reads like one built by `docker build`. BuildKit
//! formats several of them with Go's `fmt` verbs (`%q` of a string slice, `%v` of a map); those
//! are reproduced here. Entries of steps that produce a layer end in ` # buildkit`, except
//! WORKDIR, as BuildKit does.

use crate::parser::go_quote;
use cairn_ir::image::HealthConfig;

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q` of an int: a quoted rune literal (`'\x02'`, `'A'`).
fn go_quote_rune(n: u32) -> String {
    match char::from_u32(n) {
        Some('\'') => "'\\''".to_string(),
        Some('\\') => "'\\\\'".to_string(),
        Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
        Some('\u{7}') => "'\\a'".into(),
        Some('\u{8}') => "'\\b'".into(),
        Some('\u{c}') => "'\\f'".into(),
        Some('\n') => "'\\n'".into(),
        Some('\r') => "'\\r'".into(),
        Some('\t') => "'\\t'".into(),
        Some('\u{b}') => "'\\v'".into(),
        _ if n < 0x80 => format!("'\\x{n:02x}'"),
        Some(c) if !c.is_control() => format!("'{c}'"),
        _ if n <= 0xffff => format!("'\\u{n:04x}'"),
        _ => format!("'\\U{n:08x}'"),
    }
}

/// Go's `time.Duration.String()` for the values a HEALTHCHECK can hold.
fn go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return if ns.is_multiple_of(1_000_000) {
            format!("{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            format!("{}µs", ns / 1_000)
        } else {
            format!("{ns}ns")
        };
    }
    let mut secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let mut out = String::new();
    let hours = secs / 3600;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
        secs %= 3600;
    }
    let mins = secs / 60;
    if hours > 0 || mins > 0 {
        out.push_str(&format!("{mins}m"));
        secs %= 60;
    }
    if frac == 0 {
        out.push_str(&format!("{secs}s"));
    } else {
        let f = format!("{frac:09}");
        out.push_str(&format!("{secs}.{}s", f.trim_end_matches('0')));
    }
    out
}

/// BuildKit's `HEALTHCHECK %q` of docker's `HealthConfig` struct (Test, Interval, Timeout,
/// StartPeriod, Retries).
pub fn healthcheck(h: &HealthConfig) -> String {
    format!(
        "HEALTHCHECK &{{{} {} {} {} {}}}",
        go_quote_list(&h.test),
        go_quote(&go_duration(h.interval)),
        go_quote(&go_duration(h.timeout)),
        go_quote(&go_duration(h.start_period)),
        go_quote_rune(h.retries),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into()]),
            r#"["/bin/sh" "-c"]"#
        );
        assert_eq!(go_list(&["/data".into()]), "[/data]");
        assert_eq!(go_quote_rune(2), r"'\x02'");
        assert_eq!(go_quote_rune(65), "'A'");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
    }

    #[test]
    fn healthcheck_like_buildkit() {
        let h = HealthConfig {
            test: vec![
                "CMD-SHELL".into(),
                "wget -q -O- localhost:8080 || exit 1".into(),
            ],
            interval: 30_000_000_000,
            timeout: 5_000_000_000,
            start_period: 0,
            start_interval: 0,
            retries: 2,
        };
        assert_eq!(
            healthcheck(&h),
            r#"HEALTHCHECK &{["CMD-SHELL" "wget -q -O- localhost:8080 || exit 1"] "30s" "5s" "0s" '\x02'}"#
        );
    }
}

//! Showing the Dockerfile's lint findings (BuildKit's checks, see `cairn_dockerfile::lint`):
//! as `lint` events in JSON progress, as buildx's summary after a plain build, and as buildx's
//! report for `cairn build --check`.

use crate::commands::progress::{Progress, ProgressMode};
use cairn_dockerfile::lint::LintWarning;

/// Emit each finding as a JSON progress event (`{"event":"lint",...}`).
pub fn events(progress: &Progress, warnings: &[LintWarning]) {
    if progress.mode() != ProgressMode::Rawjson {
        return;
    }
    for w in warnings {
        errln!(
            "{}",
            serde_json::json!({
                "event": "lint",
                "rule": w.rule,
                "description": w.description,
                "detail": w.detail,
                "url": w.url,
                "level": 1,
                "line": w.span.start_line,
            })
        );
    }
}

/// The summary a plain build ends with, as buildx prints it.
pub fn summary(progress: &Progress, warnings: &[LintWarning]) {
    if !progress.mode().is_human() || warnings.is_empty() {
        return;
    }
    let n = warnings.len();
    let s = if n == 1 { "" } else { "s" };
    errln!("\n {n} warning{s} found:");
    for w in warnings {
        errln!(" - {}", w.short());
    }
}

/// `--check`'s report: each finding with its rule's page and the Dockerfile line.
pub fn check_report(progress: &Progress, file: &str, source: &[u8], warnings: &[LintWarning]) {
    events(progress, warnings);
    if !progress.mode().is_human() {
        return;
    }
    let text = String::from_utf8_lossy(source);
    for w in warnings {
        let url = if w.url.is_empty() {
            String::new()
        } else {
            format!(" - {}", w.url)
        };
        errln!("\nWARNING: {}{url}", w.rule);
        errln!("{}", w.description);
        errln!("{file}:{}", w.span.start_line);
        errln!("--------------------");
        let line = w.span.start_line;
        for (i, l) in text.lines().enumerate() {
            let n = i + 1;
            if n + 2 >= line && n <= w.span.end_line.max(line) + 1 {
                let mark = if n >= line && n <= w.span.end_line.max(line) {
                    ">>>"
                } else {
                    "   "
                };
                errln!(" {n:>3} | {mark} {l}");
            }
        }
        errln!("--------------------");
        errln!("{}", w.detail);
    }
}

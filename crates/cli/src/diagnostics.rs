//! Rendering errors for humans: `error: ...`, then for Dockerfile errors the file, line and
//! column, the offending line with a caret under the problem, and a suggested fix.

use cairn_dockerfile::error::Error as FrontendError;

/// A frontend error together with the file it is about, so it can be shown in context.
#[derive(Debug)]
pub struct SourceError {
    pub file: String,
    pub source_text: Vec<u8>,
    pub error: FrontendError,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&render(&self.file, &self.source_text, &self.error))
    }
}

impl std::error::Error for SourceError {}

/// Render a frontend error against its source text.
pub fn render(file: &str, text: &[u8], e: &FrontendError) -> String {
    let mut out = format!("{}\n", e.message);
    let line_no = e.span.start_line;
    if line_no == 0 {
        out.push_str(&format!(" --> {file}\n"));
    } else {
        let text = String::from_utf8_lossy(text);
        let full_line = text.lines().nth(line_no - 1).unwrap_or("");
        let full_col = e
            .column
            .unwrap_or_else(|| full_line.len() - full_line.trim_start().len());
        let width = line_no.to_string().len();
        let pad = " ".repeat(width);
        out.push_str(&format!("{pad}--> {file}:{line_no}:{}\n", full_col + 1));
        out.push_str(&format!("{pad} |\n"));
        let (line, col) = window(full_line, full_col);
        let line = line.as_str();
        out.push_str(&format!("{line_no} | {line}\n"));
        let caret_len = line.get(col..).map_or(1, |rest| {
            rest.split_whitespace()
                .next()
                .map_or(1, |w| w.chars().count().clamp(1, 40))
        });
        let lead: String = line
            .get(..col)
            .unwrap_or("")
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("{pad} | {lead}{}\n", "^".repeat(caret_len)));
    }
    if let Some(help) = &e.help {
        out.push_str(&format!("  = help: {help}\n"));
    }
    out.trim_end().to_string()
}

/// A protocol frontend's error (`file:line: message`) shown as cairn's own: the message, the
/// place, and the line from `text` (the file as the context holds it) when it is there.
pub fn render_at(file: &str, line_no: usize, text: Option<&[u8]>, message: &str) -> String {
    let mut out = format!("{message}\n");
    let text = text.map(String::from_utf8_lossy);
    let shown = text
        .as_deref()
        .and_then(|t| t.lines().nth(line_no.checked_sub(1)?));
    let width = line_no.to_string().len();
    let pad = " ".repeat(width);
    out.push_str(&format!("{pad}--> {file}:{line_no}\n"));
    if let Some(line) = shown {
        let (line, _) = window(line, 0);
        out.push_str(&format!("{pad} |\n{line_no} | {line}\n"));
    }
    out.trim_end().to_string()
}

/// Long lines are cut to a window around the column, marked with `…`.
fn window(line: &str, col: usize) -> (String, usize) {
    const MAX: usize = 120;
    let col = col.min(line.len());
    if line.len() <= MAX {
        return (line.to_string(), col);
    }
    let mut start = col.saturating_sub(MAX / 2);
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + MAX).min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if end < line.len() { "…" } else { "" };
    let shown = format!("{prefix}{}{suffix}", &line[start..end]);
    // The caret lead is built from characters, so count the ellipsis as one column.
    (shown, col - start + prefix.len())
}

pub fn print_error(e: &anyhow::Error) {
    errln!("error: {e}");
    for cause in e.chain().skip(1) {
        errln!("  caused by: {cause}");
    }
}

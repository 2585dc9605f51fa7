//! BuildKit's s-expression rendering of a parse tree (`Node.Dump()`), used by its parser tests and
//! by ours to compare with the conformance `result` files byte for byte.
//!
//! Strings are quoted exactly like Go's `strconv.Quote`, which is why raw bytes, Go's notion of
//! "printable" ([`super::printable`]) and `\xNN`/`\uNNNN`/`\UNNNNNNNN` escapes all live here.

use std::fmt::Write as _;

use super::ast::{Arg, Ast, Node};
use super::printable::is_print;
use super::raw::raw_byte;
use super::split::go_lower;

/// Renders the tree: one `(instruction ...)` per line, no trailing newline (BuildKit trims the
/// whole dump; its tests then add one `\n`).
pub fn dump(ast: &Ast) -> String {
    let mut out = String::new();
    for node in &ast.children {
        out.push('(');
        out.push_str(&dump_node(node));
        out.push_str(")\n");
    }
    out.trim().to_string()
}

/// One node without the surrounding parentheses, e.g. `copy ["--from=a"] "x" "/y"`.
pub fn dump_node(node: &Node) -> String {
    let mut out = go_lower(&node.keyword);
    if !node.flags.is_empty() {
        out.push_str(" [");
        for (i, flag) in node.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&go_quote(flag));
        }
        out.push(']');
    }
    for arg in &node.args {
        out.push(' ');
        match arg {
            Arg::Word(w) => out.push_str(&go_quote(w)),
            Arg::Nested(inner) => {
                out.push('(');
                out.push_str(&dump_node(inner));
                out.push(')');
            }
        }
    }
    out.trim().to_string()
}

/// Go's `strconv.Quote`, with raw-byte chars (invalid UTF-8 in the input) written as `\xNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if let Some(b) = raw_byte(c) {
            let _ = write!(out, "\\x{b:02x}");
            continue;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::raw::decode;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            go_quote("\x07\x08\x0c\n\r\t\x0b\0\x1b\x7f"),
            r#""\a\b\f\n\r\t\v\x00\x1b\x7f""#
        );
        assert_eq!(go_quote("♥ ☃ é 😀"), "\"♥ ☃ é 😀\"");
        assert_eq!(
            go_quote("\u{a0}\u{ad}\u{200b}\u{feff}\u{e000}"),
            r#""\u00a0\u00ad\u200b\ufeff\ue000""#
        );
        assert_eq!(go_quote("\u{f0000}\u{e0001}"), r#""\U000f0000\U000e0001""#);
        assert_eq!(go_quote(&decode(b"a\xff\xe2\x82")), r#""a\xff\xe2\x82""#);
        assert_eq!(go_quote("\u{fffd}"), "\"\u{fffd}\"");
    }
}

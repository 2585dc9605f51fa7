//! Heredocs (`RUN <<EOF`, `COPY <<-"A" 3<<B /dst`): finding the markers in an instruction line and
//! reading the bodies that follow it.
//!
//! BuildKit finds markers with its shell lexer in a "raw" mode (quotes, escapes and unset
//! variables all kept), then matches each word against `^(\d*)<<(-?)\s*([^<]*)$`, and lexes the
//! delimiter twice — with and without quote removal — to learn whether any part of it was quoted
//! (quoted = no expansion). Only the few lexer rules that matter for that are reproduced here:
//! whitespace splitting, `'…'`/`"…"`, the `\` escape (always `\` for heredocs, whatever the
//! `escape` directive says), `<<` swallowing the blanks after it, and `$`/`${…}` kept as written.
//!
//! The markers stay in the instruction's arguments exactly as written; the bodies go to
//! [`Heredoc`]s on the node.

use super::ast::Heredoc;
use super::lines::{Lines, trim_newline};

/// A heredoc marker found on the instruction line; its body is not read yet.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Marker {
    pub name: String,
    pub file_descriptor: u32,
    pub expand: bool,
    pub chomp: bool,
}

#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

/// Splits `s` into shell words the way BuildKit's lexer does for heredoc detection.
/// `raw_quotes` keeps quote characters, `raw_escapes` keeps the `\` of an escape. Fails on an
/// unterminated quote or `${`.
fn lex_words(s: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Words::default();
    let mut pos = 0;
    while let Some(&c) = chars.get(pos) {
        pos += 1;
        match c {
            '\'' => {
                let mut part = String::new();
                if raw_quotes {
                    part.push(c);
                }
                loop {
                    let Some(&q) = chars.get(pos) else {
                        return Err(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        );
                    };
                    pos += 1;
                    if q == '\'' {
                        break;
                    }
                    part.push(q);
                }
                if raw_quotes {
                    part.push(c);
                }
                words.add_raw_string(&part);
            }
            '"' => {
                let mut part = String::new();
                if raw_quotes {
                    part.push(c);
                }
                loop {
                    let Some(&q) = chars.get(pos) else {
                        return Err(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        );
                    };
                    pos += 1;
                    if q == '"' {
                        break;
                    }
                    if q == '\\' {
                        match chars.get(pos) {
                            None => continue,
                            Some(&next @ ('"' | '$' | '\\')) => {
                                if raw_escapes {
                                    part.push(q);
                                }
                                part.push(next);
                                pos += 1;
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    part.push(q);
                }
                if raw_quotes {
                    part.push(c);
                }
                words.add_raw_string(&part);
            }
            '<' => {
                if chars.get(pos) == Some(&'<') {
                    pos += 1;
                    let mut part = String::from("<<");
                    while let Some(&b @ (' ' | '\t')) = chars.get(pos) {
                        part.push(b);
                        pos += 1;
                    }
                    words.add_raw_string(&part);
                } else {
                    words.add_raw_string("<");
                }
            }
            '$' => {
                // Variables are never expanded here (no environment, unset ones kept as written).
                let mut part = String::from("$");
                if chars.get(pos) == Some(&'{') {
                    loop {
                        let Some(&q) = chars.get(pos) else {
                            return Err("missing '}'".into());
                        };
                        pos += 1;
                        part.push(q);
                        if q == '}' {
                            break;
                        }
                    }
                } else {
                    while let Some(&q) =
                        chars.get(pos).filter(|q| q.is_alphanumeric() || **q == '_')
                    {
                        part.push(q);
                        pos += 1;
                    }
                }
                words.add_string(&part);
            }
            '\\' => {
                if raw_escapes {
                    words.add_raw_char(c);
                }
                let Some(&next) = chars.get(pos) else { break };
                pos += 1;
                words.add_raw_char(next);
            }
            c => words.add_char(c),
        }
    }
    Ok(words.finish())
}

fn is_re2_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Parses one word as a heredoc marker (`[fd]<<[-][blanks]delimiter`), or `None` if it is not one.
pub(super) fn parse_marker(word: &str) -> Result<Option<Marker>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (fd, rest) = word.split_at(digits);
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(is_re2_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let words = lex_words(rest, false, false)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = lex_words(rest, true, false)?;
    let [raw] = raw.as_slice() else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    };
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    let file_descriptor = if fd.is_empty() {
        0
    } else {
        fd.parse::<u64>()
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX))
    };
    Ok(Some(Marker {
        name: name.clone(),
        file_descriptor,
        expand: quotes(name) == quotes(raw),
        chomp,
    }))
}

/// All heredoc markers in an instruction line, in order. A line the lexer cannot split (an
/// unterminated quote, say) has none, as in BuildKit.
pub(super) fn markers_in_line(line: &str) -> Result<Vec<Marker>, String> {
    let Ok(words) = lex_words(line, true, true) else {
        return Ok(Vec::new());
    };
    let mut markers = Vec::new();
    for word in words {
        if let Some(m) = parse_marker(&word)? {
            markers.push(m);
        }
    }
    Ok(markers)
}

/// Why a body could not be read.
#[derive(Debug)]
pub(super) struct Unterminated {
    pub name: String,
    /// The last line read (the end of the file).
    pub last_line: usize,
}

/// Reads the bodies of `markers` from `lines`, one after the other. Each body ends at a line equal
/// to its delimiter (after stripping leading tabs for `<<-`). Content keeps every line's ending;
/// for `<<-` the leading tabs of each content line are removed as well.
pub(super) fn read_bodies(
    markers: Vec<Marker>,
    lines: &mut Lines<'_>,
) -> Result<Vec<Heredoc>, Unterminated> {
    let mut docs = Vec::with_capacity(markers.len());
    for m in markers {
        let mut content = String::new();
        let mut terminated = false;
        for (_, line) in lines.by_ref() {
            let candidate = trim_newline(line);
            let candidate = if m.chomp {
                candidate.trim_start_matches('\t')
            } else {
                candidate
            };
            if candidate == m.name {
                terminated = true;
                break;
            }
            content.push_str(if m.chomp {
                line.trim_start_matches('\t')
            } else {
                line
            });
        }
        if !terminated {
            return Err(Unterminated {
                name: m.name,
                last_line: lines.number(),
            });
        }
        docs.push(Heredoc {
            name: m.name,
            file_descriptor: m.file_descriptor,
            expand: m.expand,
            chomp: m.chomp,
            content,
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(name: &str, fd: u32, expand: bool, chomp: bool) -> Marker {
        Marker {
            name: name.into(),
            file_descriptor: fd,
            expand,
            chomp,
        }
    }

    #[test]
    fn markers_like_buildkit() {
        assert_eq!(
            parse_marker("<<EOF"),
            Ok(Some(marker("EOF", 0, true, false)))
        );
        assert_eq!(
            parse_marker("<<-EOF"),
            Ok(Some(marker("EOF", 0, true, true)))
        );
        assert_eq!(
            parse_marker("3<<'EOF'"),
            Ok(Some(marker("EOF", 3, false, false)))
        );
        assert_eq!(
            parse_marker("<<eo\\'f"),
            Ok(Some(marker("eo'f", 0, true, false)))
        );
        assert_eq!(
            parse_marker("<<eo'f'"),
            Ok(Some(marker("eof", 0, false, false)))
        );
        assert_eq!(
            parse_marker("<<'e'o\\'f"),
            Ok(Some(marker("eo'f", 0, false, false)))
        );
        assert_eq!(
            parse_marker("<<$EOF"),
            Ok(Some(marker("$EOF", 0, true, false)))
        );
        assert_eq!(parse_marker("<<"), Ok(None));
        assert_eq!(parse_marker("cat<<EOF"), Ok(None));
        assert_eq!(parse_marker("<<A<<B"), Ok(None));
        assert!(parse_marker("<<'EOF").is_err());
    }

    #[test]
    fn markers_in_a_line() {
        let names =
            |l: &str| markers_in_line(l).map(|v| v.into_iter().map(|m| m.name).collect::<Vec<_>>());
        assert_eq!(
            names("RUN <<A cat - <<B"),
            Ok(vec!["A".to_string(), "B".to_string()])
        );
        assert_eq!(names("RUN << EOF"), Ok(vec!["EOF".to_string()]));
        assert_eq!(names("RUN 'x <<EOF'"), Ok(vec![]));
        assert_eq!(names("RUN \"<<NOHEREDOC\""), Ok(vec![]));
        assert_eq!(names("RUN <<'one two'"), Ok(vec!["one two".to_string()]));
        assert_eq!(names("RUN echo 'unterminated <<EOF"), Ok(vec![]));
    }
}

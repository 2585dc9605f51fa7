//! One JSON message per line, both ways: a JSON text holds no raw newline, so a line is a
//! message in any language's standard library (`readline`, `bufio.Scanner`). Reading stops
//! at [`MAX_MESSAGE`](crate::protocol::MAX_MESSAGE) bytes, so a peer that writes an endless
//! line costs bounded memory.

use serde::Serialize;
use std::io::{self, BufRead, Write};

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("a message is longer than {0} bytes")]
    TooLarge(usize),
    #[error("the stream ended in the middle of a message")]
    Truncated,
}

/// Write `message` as one line and flush.
pub fn write_message(w: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// The next line (without its newline); `None` at the end of the stream. A line longer than
/// `max` bytes is an error once `max` bytes are read: the rest is never buffered.
pub fn read_message(r: &mut impl BufRead, max: usize) -> Result<Option<Vec<u8>>, FramingError> {
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(FramingError::Truncated)
            };
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or_default(), true),
            None => (buf, false),
        };
        if line.len() + chunk.len() > max {
            return Err(FramingError::TooLarge(max));
        }
        // Grown by doubling, but never past `max`: an endless line costs `max` bytes, not 2×.
        let need = line.len() + chunk.len();
        if need > line.capacity() {
            let target = need.max(line.capacity() * 2).min(max);
            line.reserve_exact(target - line.len());
        }
        line.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(done);
        r.consume(used);
        if done {
            return Ok(Some(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_messages_and_are_bounded() {
        let mut out = Vec::new();
        write_message(&mut out, &serde_json::json!({"a": "x\ny"})).unwrap();
        write_message(&mut out, &serde_json::json!([1])).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
        let mut r = io::BufReader::with_capacity(4, &out[..]);
        assert_eq!(
            read_message(&mut r, 100).unwrap().unwrap(),
            br#"{"a":"x\ny"}"#
        );
        assert_eq!(read_message(&mut r, 100).unwrap().unwrap(), b"[1]");
        assert!(read_message(&mut r, 100).unwrap().is_none());

        let mut endless = io::BufReader::new(io::repeat(b'x'));
        assert!(matches!(
            read_message(&mut endless, 1 << 20),
            Err(FramingError::TooLarge(_))
        ));
        let mut cut = &b"{\"a\""[..];
        assert!(matches!(
            read_message(&mut cut, 100),
            Err(FramingError::Truncated)
        ));
    }
}

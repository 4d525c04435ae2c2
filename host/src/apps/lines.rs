//! Splitting a byte stream into lines, with a limit on their length.

/// Bytes received but not yet returned as lines.
#[derive(Debug)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
    /// How far `pending` is known to hold no `\n` (each byte is looked at
    /// once, however slowly a long line arrives).
    scanned: usize,
    max_line: usize,
}

/// A line longer than the limit arrived (its first bytes are dropped).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineTooLong;

impl LineBuffer {
    /// A buffer for lines of at most `max_line` bytes (without the `\n`
    /// or `\r\n` that ends them).
    pub(crate) fn new(max_line: usize) -> Self {
        Self {
            pending: Vec::new(),
            scanned: 0,
            max_line,
        }
    }

    /// Adds received bytes.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    /// The next complete line, without its `\n` (and `\r`), if any; an
    /// error once more than the limit has arrived without a `\n`.
    pub(crate) fn next_line(&mut self) -> Result<Option<String>, LineTooLong> {
        let Some(found) = self.pending[self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
        else {
            self.scanned = self.pending.len();
            // One byte of slack: a full-length line's `\r` may be here
            // before its `\n`.
            if self.pending.len() > self.max_line + 1 {
                return Err(LineTooLong);
            }
            return Ok(None);
        };
        let end = self.scanned + found;
        self.scanned = 0;
        let len = if end > 0 && self.pending[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        if len > self.max_line {
            return Err(LineTooLong);
        }
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.truncate(len);
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::{LineBuffer, LineTooLong};

    #[test]
    fn lines_split_across_pushes_and_the_limit() {
        let mut lines = LineBuffer::new(8);
        lines.push(b"ab");
        assert_eq!(lines.next_line(), Ok(None));
        lines.push(b"c\r\nde\nf");
        assert_eq!(lines.next_line(), Ok(Some("abc".into())));
        assert_eq!(lines.next_line(), Ok(Some("de".into())));
        assert_eq!(lines.next_line(), Ok(None));
        lines.push(b"\n12345678\r\n");
        assert_eq!(lines.next_line(), Ok(Some("f".into())));
        assert_eq!(
            lines.next_line(),
            Ok(Some("12345678".into())),
            "CRLF is not counted"
        );
        lines.push(b"123456789");
        assert_eq!(
            lines.next_line(),
            Ok(None),
            "could still be 8 bytes and a CR"
        );
        lines.push(b"0");
        assert_eq!(lines.next_line(), Err(LineTooLong), "10 bytes, no newline");
        let mut lines = LineBuffer::new(3);
        lines.push(b"abcd\n");
        assert_eq!(lines.next_line(), Err(LineTooLong));
    }
}

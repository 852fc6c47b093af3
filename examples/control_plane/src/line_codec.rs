//! Reading newline-delimited lines from a byte stream, with a length limit.
//!
//! TCP delivers bytes, not messages: one read may hold half a line or several lines.
//! [`LineReader`] buffers what it has read and hands out one complete line at a time.
//! A line longer than the limit is reported once as [`Line::TooLong`] and the rest of it
//! is skipped up to its newline, so one bad line never ends the connection and never
//! makes the reader buffer without bound.

use tokio::io::{AsyncRead, AsyncReadExt};

/// One line read by [`LineReader::next_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Complete(Vec<u8>),
    /// A line longer than the limit (its bytes are skipped).
    TooLong,
}

/// Splits a byte stream into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
    /// Inside an over-long line: drop bytes until the next newline.
    skipping: bool,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of lines of at most `max` bytes.
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader { inner, buf: Vec::with_capacity(4096), scanned: 0, max, skipping: false, eof: false }
    }

    /// The next line; `Ok(None)` at end of stream. A last line without a newline
    /// counts as a line. Empty lines are returned as empty `Complete` lines.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + pos;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                self.scanned = 0;
                line.pop();
                if self.skipping {
                    self.skipping = false;
                    continue;
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > self.max {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Complete(line)));
            }
            self.scanned = self.buf.len();
            if self.skipping {
                self.buf.clear();
                self.scanned = 0;
            } else if self.buf.len() > self.max {
                self.buf.clear();
                self.scanned = 0;
                self.skipping = true;
                return Ok(Some(Line::TooLong));
            }
            if self.eof {
                if self.buf.is_empty() || self.skipping {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(Line::Complete(std::mem::take(&mut self.buf))));
            }
            let mut chunk = [0u8; 8192];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                self.eof = true;
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            out.push(line);
        }
        out
    }

    fn complete(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn splits_batches_and_keeps_a_last_line_without_newline() {
        assert_eq!(lines(b"a\nbb\r\n\nccc", 10).await, vec![complete("a"), complete("bb"), complete(""), complete("ccc")]);
    }

    #[tokio::test]
    async fn an_over_long_line_is_reported_once_and_skipped() {
        let mut input = vec![b'x'; 20_000];
        input.extend_from_slice(b"\nok\n");
        assert_eq!(lines(&input, 100).await, vec![Line::TooLong, complete("ok")]);
        assert_eq!(lines(b"0123456789ab\nok\n", 10).await, vec![Line::TooLong, complete("ok")]);
    }

    #[tokio::test]
    async fn lines_split_across_reads_are_joined() {
        let (client, server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut client = client;
            for part in [&b"{\"a\":"[..], b"1}\n{\"b\"", b":2}\n"] {
                client.write_all(part).await.unwrap();
                client.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut reader = LineReader::new(server, 100);
        assert_eq!(reader.next_line().await.unwrap(), Some(complete("{\"a\":1}")));
        assert_eq!(reader.next_line().await.unwrap(), Some(complete("{\"b\":2}")));
        writer.await.unwrap();
        assert_eq!(reader.next_line().await.unwrap(), None);
    }
}

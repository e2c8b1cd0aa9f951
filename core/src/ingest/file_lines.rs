//! The lines of a platform JSONL file in either direction, read in blocks:
//! forwards for an export listed oldest first, backwards (last line first)
//! for one listed newest first, as the platform writes them, so that the
//! one pass (`one_pass`) gets the lines in append order.
//!
//! A line is what `Source::next_line` takes for one: the bytes up to and
//! with its `\n` (the last may have none), the byte order mark removed from
//! the file's first, lines of white space alone skipped.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read at a time.
const BLOCK: usize = 1 << 20;
/// The longest line read: a longer one is left to the two passes (which
/// read lines up to `json::MAX_VALUE_BYTES`, and say why they refuse one).
pub(super) const MAX_LINE: usize = 4 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    Forwards,
    Backwards,
}

/// Why the lines stopped before the end of the file.
#[derive(Debug)]
pub(super) enum Stopped {
    /// A line longer than [`MAX_LINE`].
    TooLong,
    /// The file could not be read.
    Unreadable,
}

/// A file's lines in one direction.
pub(super) struct FileLines {
    file: File,
    len: u64,
    direction: Direction,
    /// The bytes of the file from `start` on, and where the lines not yet
    /// given begin (forwards: `buf[at..]`) or end (backwards: `buf[..at]`).
    buf: Vec<u8>,
    start: u64,
    at: usize,
    /// Backwards: the block read before the lines left in `buf`.
    spare: Vec<u8>,
}

impl FileLines {
    /// The lines of `file`, whose first `len` bytes are read.
    pub fn new(file: File, len: u64, direction: Direction) -> FileLines {
        let start = match direction {
            Direction::Forwards => 0,
            Direction::Backwards => len,
        };
        FileLines {
            file,
            len,
            direction,
            buf: Vec::new(),
            start,
            at: 0,
            spare: Vec::new(),
        }
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        match self.direction {
            Direction::Forwards => self.start + self.buf.len() as u64,
            Direction::Backwards => self.len - self.start,
        }
    }

    /// The next line that is not blank, appended to `out`, with the offset
    /// of its first byte in the file; `None` after the last.
    pub fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<u64>, Stopped> {
        loop {
            let found = match self.direction {
                Direction::Forwards => self.next_forwards()?,
                Direction::Backwards => self.next_backwards()?,
            };
            let Some((a, b)) = found else {
                return Ok(None);
            };
            let offset = self.start + a as u64;
            let mut line = &self.buf[a..b];
            if line.len() > MAX_LINE {
                return Err(Stopped::TooLong);
            }
            if offset == 0 {
                line = line.strip_prefix(BOM).unwrap_or(line);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            out.extend_from_slice(line);
            return Ok(Some(offset));
        }
    }

    /// The range in `buf` of the next line forwards.
    fn next_forwards(&mut self) -> Result<Option<(usize, usize)>, Stopped> {
        loop {
            let rest = &self.buf[self.at..];
            if let Some(i) = memchr::memchr(b'\n', rest) {
                let a = self.at;
                self.at += i + 1;
                return Ok(Some((a, self.at)));
            }
            let end = self.start + self.buf.len() as u64;
            if end >= self.len {
                if rest.is_empty() {
                    return Ok(None);
                }
                let a = self.at;
                self.at = self.buf.len();
                return Ok(Some((a, self.at)));
            }
            if rest.len() > MAX_LINE {
                return Err(Stopped::TooLong);
            }
            // Keep the start of the line, read the next block after it.
            self.buf.drain(..self.at);
            self.start += self.at as u64;
            self.at = 0;
            let n = (self.len - end).min(BLOCK as u64) as usize;
            let old = self.buf.len();
            self.buf.resize(old + n, 0);
            self.file
                .read_exact_at(&mut self.buf[old..], end)
                .map_err(|_| Stopped::Unreadable)?;
        }
    }

    /// The range in `buf` of the next line backwards.
    fn next_backwards(&mut self) -> Result<Option<(usize, usize)>, Stopped> {
        loop {
            if self.at > 0 {
                // The line ending at `at` starts after the `\n` before it.
                let before = &self.buf[..self.at - 1];
                if let Some(i) = memchr::memrchr(b'\n', before) {
                    let b = self.at;
                    self.at = i + 1;
                    return Ok(Some((self.at, b)));
                }
                if self.start == 0 {
                    let b = self.at;
                    self.at = 0;
                    return Ok(Some((0, b)));
                }
                if self.at > MAX_LINE {
                    return Err(Stopped::TooLong);
                }
            } else if self.start == 0 {
                return Ok(None);
            }
            // Read the block before, followed by the start of the line.
            let n = self.start.min(BLOCK as u64) as usize;
            let from = self.start - n as u64;
            self.spare.clear();
            self.spare.resize(n, 0);
            self.file
                .read_exact_at(&mut self.spare, from)
                .map_err(|_| Stopped::Unreadable)?;
            self.spare.extend_from_slice(&self.buf[..self.at]);
            std::mem::swap(&mut self.buf, &mut self.spare);
            self.start = from;
            self.at = self.buf.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line both ways, with its offset, as a line reader forwards
    /// (`Source::next_line`'s rules) cuts them, at block edges and with
    /// lines longer than a block.
    #[test]
    fn lines_both_ways_match_the_forward_cut() {
        let long = "x".repeat(BLOCK + 17);
        let texts: Vec<String> = vec![
            String::new(),
            "a".into(),
            "a\n".into(),
            "\u{feff}a\r\nb\n\n  \r\nc".into(),
            "\u{feff}\n\nq\n".into(),
            "\n\nlast\n\n".into(),
            format!("one\n{long}\ntwo\n{long}"),
            (0..200_000)
                .map(|i| format!("line {i}{}\n", " ".repeat(i % 7)))
                .collect(),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (k, text) in texts.iter().enumerate() {
            let path = dir.path().join(format!("{k}.jsonl"));
            std::fs::write(&path, text).unwrap();
            // The forward cut, by hand.
            let mut want = Vec::new();
            let mut offset = 0;
            for line in text.as_bytes().split_inclusive(|&b| b == b'\n') {
                let l = if offset == 0 {
                    line.strip_prefix(BOM).unwrap_or(line)
                } else {
                    line
                };
                if !l.iter().all(u8::is_ascii_whitespace) {
                    want.push((offset as u64, l.to_vec()));
                }
                offset += line.len();
            }
            for direction in [Direction::Forwards, Direction::Backwards] {
                let file = File::open(&path).unwrap();
                let mut lines = FileLines::new(file, text.len() as u64, direction);
                let mut got = Vec::new();
                let mut out = Vec::new();
                while let Some(at) = lines.next(&mut out).unwrap() {
                    got.push((at, std::mem::take(&mut out)));
                }
                assert_eq!(lines.bytes_read(), text.len() as u64);
                if direction == Direction::Backwards {
                    got.reverse();
                }
                assert_eq!(got, want, "text {k} {direction:?}");
            }
        }
    }

    /// A line longer than [`MAX_LINE`] stops the reading, both ways.
    #[test]
    fn a_line_too_long_stops_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.jsonl");
        let text = format!("a\n{}\nb\n", "y".repeat(MAX_LINE + 1));
        std::fs::write(&path, &text).unwrap();
        for direction in [Direction::Forwards, Direction::Backwards] {
            let file = File::open(&path).unwrap();
            let mut lines = FileLines::new(file, text.len() as u64, direction);
            let mut out = Vec::new();
            assert!(lines.next(&mut out).unwrap().is_some());
            assert!(matches!(lines.next(&mut out), Err(Stopped::TooLong)));
        }
    }
}

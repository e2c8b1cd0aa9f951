//! Ingest's staging area, in bounded memory whatever the input's size.
//!
//! Every input entry's canonical record is written to one temporary file, and
//! a small sort key (time, id, where the record sits) is kept per entry. Keys
//! are held in memory up to [`RUN_LEN`] at a time; beyond that each full set
//! is sorted and spilled to a second temporary file as a sorted run, and the
//! runs are merged when the entries are taken back in order. Ten million
//! entries thus need a few tens of MB of keys, not a GB.
//!
//! Records are read back through a window over the staging file: exports
//! list entries newest (or oldest) first, so the sorted order walks the file
//! one way or the other, and one read serves thousands of records.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Keys held in memory before a sorted run is spilled (about 70 B each).
const RUN_LEN: usize = 1 << 19;
/// The window over the staging file, and the read buffer of each run.
const WINDOW: usize = 1 << 20;
const RUN_BUFFER: usize = 1 << 16;
/// Misses closer than this to the last one are taken as a walk through the
/// file, and read a whole window; farther ones read just their record.
const NEAR: u64 = 1 << 16;

/// Where a staged entry's record sits, and its place in the append order
/// (oldest first, ties by id, then by input and position: a unique key, so
/// the order is total and the same on every run).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub time_ms: i64,
    pub id: Box<str>,
    pub source: u32,
    pub offset: u64,
    pub len: u32,
}

/// Stages records and their keys; [`Staging::finish`] hands them back sorted.
pub(super) struct Staging {
    records: File,
    writer: BufWriter<File>,
    offset: u64,
    keys: Vec<Key>,
    /// Sorted runs spilled so far: the file, and each run's (start, end) bytes.
    runs: Option<(BufWriter<File>, File)>,
    run_bounds: Vec<(u64, u64)>,
    run_bytes: u64,
    count: u64,
    /// Keys held before a run is spilled ([`RUN_LEN`]; smaller in tests).
    run_len: usize,
    /// Where the temporary files go (beside the archive; the system's
    /// temporary folder when that is not writable).
    dir: std::path::PathBuf,
}

impl Staging {
    pub fn new(dir: &Path) -> io::Result<Staging> {
        Staging::with_run_len(dir, RUN_LEN)
    }

    fn with_run_len(dir: &Path, run_len: usize) -> io::Result<Staging> {
        let records = temp_file(dir)?;
        let writer = BufWriter::with_capacity(1 << 20, records.try_clone()?);
        Ok(Staging {
            records,
            writer,
            offset: 0,
            keys: Vec::new(),
            runs: None,
            run_bounds: Vec::new(),
            run_bytes: 0,
            count: 0,
            run_len: run_len.max(1),
            dir: dir.to_path_buf(),
        })
    }

    /// Entries staged so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Stages one entry's canonical record.
    pub fn stage(
        &mut self,
        time_ms: i64,
        id: String,
        source: u32,
        record: &[u8],
    ) -> io::Result<()> {
        let len = u32::try_from(record.len())
            .map_err(|_| io::Error::other("a record over 4 GiB cannot be staged"))?;
        self.writer.write_all(record)?;
        if self.keys.len() == self.run_len {
            self.spill()?;
        }
        if self.keys.capacity() == 0 {
            // One allocation of the whole run, not a doubling past it.
            self.keys.reserve_exact(self.run_len);
        }
        self.keys.push(Key {
            time_ms,
            id: id.into_boxed_str(),
            source,
            offset: self.offset,
            len,
        });
        self.offset += u64::from(len);
        self.count += 1;
        Ok(())
    }

    /// Sorts the keys in memory and appends them to the runs file as one run.
    fn spill(&mut self) -> io::Result<()> {
        // Unstable sort: no n/2 scratch buffer, and the key is unique, so
        // the order is the same as a stable sort's.
        self.keys.sort_unstable();
        if self.runs.is_none() {
            let f = temp_file(&self.dir)?;
            self.runs = Some((BufWriter::with_capacity(1 << 20, f.try_clone()?), f));
        }
        let Some((w, _)) = self.runs.as_mut() else {
            return Err(io::Error::other("the runs file is missing"));
        };
        let start = self.run_bytes;
        for k in self.keys.drain(..) {
            let id = k.id.as_bytes();
            w.write_all(&k.time_ms.to_le_bytes())?;
            w.write_all(&k.source.to_le_bytes())?;
            w.write_all(&k.offset.to_le_bytes())?;
            w.write_all(&k.len.to_le_bytes())?;
            w.write_all(&(id.len() as u32).to_le_bytes())?;
            w.write_all(id)?;
            self.run_bytes += 28 + id.len() as u64;
        }
        self.run_bounds.push((start, self.run_bytes));
        Ok(())
    }

    /// Every staged entry in append order, with its record.
    pub fn finish(mut self) -> io::Result<Sorted> {
        self.writer.flush()?;
        let order = if self.runs.is_some() {
            if !self.keys.is_empty() {
                self.spill()?;
            }
            self.keys = Vec::new();
            let Some((mut w, file)) = self.runs.take() else {
                return Err(io::Error::other("the runs file is missing"));
            };
            w.flush()?;
            drop(w);
            let file = std::sync::Arc::new(file);
            let mut runs: Vec<RunReader> = self
                .run_bounds
                .iter()
                .map(|&(pos, end)| RunReader {
                    file: file.clone(),
                    pos,
                    end,
                    buf: Vec::new(),
                    at: 0,
                })
                .collect();
            let mut heads = BinaryHeap::with_capacity(runs.len());
            for (i, r) in runs.iter_mut().enumerate() {
                if let Some(k) = r.next()? {
                    heads.push(Reverse((k, i)));
                }
            }
            Order::Merge { runs, heads }
        } else {
            self.keys.sort_unstable();
            Order::Memory(std::mem::take(&mut self.keys).into_iter())
        };
        let len = self.offset;
        Ok(Sorted {
            order,
            records: Window {
                file: self.records,
                len,
                start: 0,
                data: Vec::new(),
                last_miss: u64::MAX,
            },
        })
    }
}

/// The staged entries in append order.
pub(super) struct Sorted {
    order: Order,
    records: Window,
}

enum Order {
    Memory(std::vec::IntoIter<Key>),
    Merge {
        runs: Vec<RunReader>,
        heads: BinaryHeap<Reverse<(Key, usize)>>,
    },
}

impl Sorted {
    /// The next entry's key, its record in `record`.
    pub fn next(&mut self, record: &mut Vec<u8>) -> io::Result<Option<Key>> {
        let key = match &mut self.order {
            Order::Memory(keys) => keys.next(),
            Order::Merge { runs, heads } => match heads.pop() {
                None => None,
                Some(Reverse((k, i))) => {
                    if let Some(next) = runs[i].next()? {
                        heads.push(Reverse((next, i)));
                    }
                    Some(k)
                }
            },
        };
        if let Some(k) = &key {
            self.records.read(k.offset, k.len as usize, record)?;
        }
        Ok(key)
    }
}

/// One sorted run in the runs file, read through its own buffer.
struct RunReader {
    file: std::sync::Arc<File>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
}

impl RunReader {
    fn next(&mut self) -> io::Result<Option<Key>> {
        let mut head = [0u8; 28];
        if !self.take(&mut head)? {
            return Ok(None);
        }
        let u32_at =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let u64_at = |at: usize| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
        let time_ms = u64_at(0) as i64;
        let source = u32_at(8);
        let offset = u64_at(12);
        let len = u32_at(20);
        let id_len = u32_at(24);
        let mut id = vec![0u8; id_len as usize];
        if !self.take(&mut id)? {
            return Err(io::Error::other("a staged run ended inside a key"));
        }
        let id = String::from_utf8(id).map_err(|_| io::Error::other("a staged id is not UTF-8"))?;
        Ok(Some(Key {
            time_ms,
            id: id.into_boxed_str(),
            source,
            offset,
            len,
        }))
    }

    /// Fills `out` from the run; `false` at the run's end.
    fn take(&mut self, out: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < out.len() {
            if self.at == self.buf.len() {
                let want = (self.end - self.pos).min(RUN_BUFFER as u64) as usize;
                if want == 0 {
                    return if filled == 0 {
                        Ok(false)
                    } else {
                        Err(io::Error::other("a staged run ended inside a key"))
                    };
                }
                self.buf.resize(want, 0);
                self.file.read_exact_at(&mut self.buf, self.pos)?;
                self.pos += want as u64;
                self.at = 0;
            }
            let n = (out.len() - filled).min(self.buf.len() - self.at);
            out[filled..filled + n].copy_from_slice(&self.buf[self.at..self.at + n]);
            self.at += n;
            filled += n;
        }
        Ok(true)
    }
}

/// A window over the staging file. A miss near the previous one reads a
/// whole window in the direction of travel; a far one reads its record only
/// (so an input in no particular order costs one read per record).
struct Window {
    file: File,
    len: u64,
    /// The file offset of `data[0]`.
    start: u64,
    data: Vec<u8>,
    last_miss: u64,
}

impl Window {
    fn read(&mut self, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let end = offset + len as u64;
        if offset >= self.start && end <= self.start + self.data.len() as u64 {
            let at = (offset - self.start) as usize;
            out.clear();
            out.extend_from_slice(&self.data[at..at + len]);
            return Ok(());
        }
        let window_end = self.start + self.data.len() as u64;
        let near = (self.last_miss != u64::MAX && offset.abs_diff(self.last_miss) < NEAR)
            || (!self.data.is_empty()
                && (offset.abs_diff(window_end) < NEAR || end.abs_diff(self.start) < NEAR));
        self.last_miss = offset;
        if !near || len >= WINDOW / 4 {
            out.resize(len, 0);
            return self.file.read_exact_at(out, offset);
        }
        // Walking backwards (newest-first exports): the window ends at this record.
        let (start, stop) = if offset < self.start {
            (end.saturating_sub(WINDOW as u64), end)
        } else {
            (offset, (offset + WINDOW as u64).min(self.len))
        };
        self.data.resize((stop - start) as usize, 0);
        self.file.read_exact_at(&mut self.data, start)?;
        self.start = start;
        let at = (offset - start) as usize;
        out.clear();
        out.extend_from_slice(&self.data[at..at + len]);
        Ok(())
    }
}

/// A temporary file in `dir` (the system's temporary folder when `dir` is
/// not writable), removed when dropped (unlinked at once on Unix).
fn temp_file(dir: &Path) -> io::Result<File> {
    tempfile::tempfile_in(dir).or_else(|_| tempfile::tempfile())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys in a scrambled order, records that name their key: whatever the
    /// number of runs, they come back in key order with their own records.
    fn check(n: u64, run_len: usize, scramble: impl Fn(u64) -> u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Staging::with_run_len(dir.path(), run_len).unwrap();
        for i in 0..n {
            let k = scramble(i);
            let t = (k / 3) as i64;
            let id = format!("id{:08}", k % 3);
            let record = format!("record of {t} {id} {}", "x".repeat((k % 7) as usize));
            s.stage(t, id, (k % 2) as u32, record.as_bytes()).unwrap();
        }
        assert_eq!(s.len(), n);
        let mut sorted = s.finish().unwrap();
        let mut record = Vec::new();
        let mut prev: Option<(i64, Box<str>)> = None;
        let mut seen = 0;
        while let Some(k) = sorted.next(&mut record).unwrap() {
            let text = String::from_utf8(record.clone()).unwrap();
            assert!(
                text.starts_with(&format!("record of {} {} ", k.time_ms, k.id)),
                "{text} for {k:?}"
            );
            if let Some(p) = &prev {
                assert!(*p < (k.time_ms, k.id.clone()));
            }
            prev = Some((k.time_ms, k.id));
            seen += 1;
        }
        assert_eq!(seen, n);
    }

    #[test]
    fn in_memory_forwards_backwards_and_scrambled() {
        check(5000, RUN_LEN, |i| i);
        check(5000, RUN_LEN, |i| 4999 - i);
        check(5000, RUN_LEN, |i| (i * 7919) % 5000);
    }

    #[test]
    fn spilled_runs_merge_in_order() {
        // Eleven runs of 1000 keys and a last, shorter one.
        let n = 11_234;
        check(n, 1000, |i| n - 1 - i);
        check(n, 1000, |i| (i * 1_000_003) % n);
        check(n, 1000, |i| i);
    }
}

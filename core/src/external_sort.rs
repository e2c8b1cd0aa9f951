//! Sorting more records than memory should hold: an external merge sort.
//!
//! Records are held in memory up to a run length at a time; beyond that each
//! full set is sorted and appended to one temporary file as a sorted run,
//! and [`ExternalSort::finish`] merges the runs (a k-way merge through a
//! heap, each run read through its own small buffer). Fewer records than a
//! run never touch the disk. Memory is one run plus one buffer per run,
//! whatever the number of records; the disk holds each record once.
//!
//! The index trees (`index_tree.rs`) sort every entry five times, by each
//! filter key, with it; verification sorts entry ids (to find repeated ones)
//! and the entries of each SQLite index (by row) with it, within a byte
//! budget ([`ExternalSort::with_budget`]). A caller with a faster sort of its
//! own hands over its sorted runs whole ([`ExternalSort::push_run`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The read buffer of each run while merging.
const RUN_BUFFER: usize = 1 << 16;

/// A record an external sort can write to a run and read back.
pub trait Spill: Ord + Sized {
    /// Appends the record's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one record from `r`; `None` at a clean end of the run.
    fn decode(r: &mut RunReader) -> io::Result<Option<Self>>;
}

/// Sorts records pushed in any order; [`ExternalSort::finish`] hands them back in order.
pub struct ExternalSort<T> {
    held: Vec<T>,
    run_len: usize,
    /// The runs file once a run was spilled, and each run's (start, end) bytes.
    runs: Option<(BufWriter<File>, File)>,
    bounds: Vec<(u64, u64)>,
    written: u64,
    scratch: Vec<u8>,
    dir: Option<std::path::PathBuf>,
}

impl<T: Spill> ExternalSort<T> {
    /// A sort that holds at most `run_len` records in memory, spilling runs
    /// to a temporary file in `dir` (the system's temporary folder when
    /// `None` or not writable).
    pub fn new(run_len: usize, dir: Option<&Path>) -> ExternalSort<T> {
        ExternalSort {
            held: Vec::new(),
            run_len: run_len.max(1),
            runs: None,
            bounds: Vec::new(),
            written: 0,
            scratch: Vec::new(),
            dir: dir.map(Path::to_path_buf),
        }
    }

    /// A sort that holds at most `bytes` of records in memory (at least one).
    pub fn with_budget(bytes: usize, dir: Option<&Path>) -> ExternalSort<T> {
        ExternalSort::new(bytes / std::mem::size_of::<T>().max(1), dir)
    }

    pub fn push(&mut self, record: T) -> io::Result<()> {
        if self.held.len() == self.run_len {
            self.spill()?;
        }
        if self.held.capacity() == 0 {
            // One allocation of the whole run, not a doubling past it.
            self.held.reserve_exact(self.run_len);
        }
        self.held.push(record);
        Ok(())
    }

    /// Sorts the held records and appends them to the runs file as one run.
    fn spill(&mut self) -> io::Result<()> {
        // Unstable: no n/2 scratch buffer; callers' records are unique keys.
        self.held.sort_unstable();
        // Taken out and put back: the run's allocation is used again.
        let mut held = std::mem::take(&mut self.held);
        let written = self.write_run(held.drain(..));
        self.held = held;
        written
    }

    /// Appends records the caller has sorted to the runs file as one run,
    /// whatever is held; they are merged with the rest at the end.
    pub fn push_run(&mut self, run: impl IntoIterator<Item = T>) -> io::Result<()> {
        self.write_run(run)
    }

    fn write_run(&mut self, run: impl IntoIterator<Item = T>) -> io::Result<()> {
        if self.runs.is_none() {
            let f = temp_file(self.dir.as_deref())?;
            self.runs = Some((BufWriter::with_capacity(1 << 20, f.try_clone()?), f));
        }
        let Some((w, _)) = self.runs.as_mut() else {
            return Err(io::Error::other("the runs file is missing"));
        };
        let start = self.written;
        for r in run {
            self.scratch.clear();
            r.encode(&mut self.scratch);
            w.write_all(&self.scratch)?;
            self.written += self.scratch.len() as u64;
        }
        if self.written > start {
            self.bounds.push((start, self.written));
        }
        Ok(())
    }

    /// Every record pushed, in order.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        if self.runs.is_none() {
            self.held.sort_unstable();
            return Ok(Sorted::Memory(std::mem::take(&mut self.held).into_iter()));
        }
        if !self.held.is_empty() {
            self.spill()?;
        }
        self.held = Vec::new();
        let Some((mut w, file)) = self.runs.take() else {
            return Err(io::Error::other("the runs file is missing"));
        };
        w.flush()?;
        drop(w);
        let file = Arc::new(file);
        let mut runs: Vec<RunReader> = self
            .bounds
            .iter()
            .map(|&(pos, end)| RunReader::new(file.clone(), pos, end))
            .collect();
        let mut heads = BinaryHeap::with_capacity(runs.len());
        for (i, r) in runs.iter_mut().enumerate() {
            if let Some(t) = T::decode(r)? {
                heads.push(Reverse((t, i)));
            }
        }
        Ok(Sorted::Merge { runs, heads })
    }
}

/// The records of an [`ExternalSort`] in order.
pub enum Sorted<T> {
    Memory(std::vec::IntoIter<T>),
    Merge {
        runs: Vec<RunReader>,
        heads: BinaryHeap<Reverse<(T, usize)>>,
    },
}

impl<T: Spill> Iterator for Sorted<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        match self {
            Sorted::Memory(records) => records.next().map(Ok),
            Sorted::Merge { runs, heads } => {
                let Reverse((t, i)) = heads.pop()?;
                match T::decode(&mut runs[i]) {
                    Ok(Some(next)) => heads.push(Reverse((next, i))),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                Some(Ok(t))
            }
        }
    }
}

/// One sorted run in the runs file, read through its own buffer.
pub struct RunReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
}

impl RunReader {
    /// A reader of the bytes `pos..end` of `file` (a run, or a block of
    /// records the caller wrote in the same encoding).
    pub fn new(file: Arc<File>, pos: u64, end: u64) -> RunReader {
        RunReader {
            file,
            pos,
            end,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// Fills `out` from the run; `false` at the run's end (nothing read).
    /// A run that ends inside `out` is an error: the record was cut.
    pub fn take(&mut self, out: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < out.len() {
            if self.at == self.buf.len() {
                let want = (self.end - self.pos).min(RUN_BUFFER as u64) as usize;
                if want == 0 {
                    return if filled == 0 {
                        Ok(false)
                    } else {
                        Err(io::Error::other("a sorted run ended inside a record"))
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

    /// Fills `out` from the run, which must not end first.
    pub fn take_all(&mut self, out: &mut [u8]) -> io::Result<()> {
        if out.is_empty() || self.take(out)? {
            Ok(())
        } else {
            Err(io::Error::other("a sorted run ended inside a record"))
        }
    }
}

/// A temporary file in `dir` (the system's temporary folder when `dir` is
/// `None` or not writable), removed when dropped (unlinked at once on Unix).
pub fn temp_file(dir: Option<&Path>) -> io::Result<File> {
    match dir {
        Some(d) => tempfile::tempfile_in(d).or_else(|_| tempfile::tempfile()),
        None => tempfile::tempfile(),
    }
}

/// What to say when a sort's temporary file could not be written or read
/// back (a full disk, most often): where, and what to do.
pub fn temp_failed(e: &io::Error) -> String {
    format!(
        "a temporary sort file in {} could not be written or read back ({e}): free some \
         space there, or set TMPDIR to a folder with room, and try again",
        std::env::temp_dir().display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of variable length: a text and a number.
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct R(String, u64);

    impl Spill for R {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
            out.extend_from_slice(self.0.as_bytes());
            out.extend_from_slice(&self.1.to_le_bytes());
        }
        fn decode(r: &mut RunReader) -> io::Result<Option<R>> {
            let mut len = [0u8; 4];
            if !r.take(&mut len)? {
                return Ok(None);
            }
            let mut text = vec![0u8; u32::from_le_bytes(len) as usize];
            r.take_all(&mut text)?;
            let mut n = [0u8; 8];
            r.take_all(&mut n)?;
            Ok(Some(R(
                String::from_utf8(text).map_err(io::Error::other)?,
                u64::from_le_bytes(n),
            )))
        }
    }

    fn sorted(n: u64, run_len: usize, scramble: impl Fn(u64) -> u64) -> Vec<R> {
        let mut s = ExternalSort::new(run_len, None);
        for i in 0..n {
            let k = scramble(i);
            s.push(R("k".repeat((k % 5) as usize), k)).unwrap();
        }
        s.finish().unwrap().collect::<io::Result<Vec<R>>>().unwrap()
    }

    #[test]
    fn in_memory_and_spilled_runs_come_back_in_order() {
        for run_len in [1, 7, 1000, 1 << 20] {
            for scramble in [|i| i, |i| 4_999 - i, |i| (i * 7_919) % 5_000] {
                let got = sorted(5_000, run_len, scramble);
                let mut want: Vec<R> = (0..5_000)
                    .map(|k| R("k".repeat((k % 5) as usize), k))
                    .collect();
                want.sort();
                assert_eq!(got, want, "run length {run_len}");
            }
        }
        assert!(sorted(0, 3, |i| i).is_empty());
    }

    #[test]
    fn runs_sorted_by_the_caller_merge_with_pushed_records() {
        let mut s = ExternalSort::with_budget(3 * std::mem::size_of::<R>(), None);
        assert_eq!(s.run_len, 3);
        let mut want = Vec::new();
        for run in 0..4u64 {
            let mut records: Vec<R> = (0..50).map(|i| R("r".into(), i * 4 + run)).collect();
            want.extend(records.iter().map(|r| r.1));
            records.sort();
            s.push_run(records).unwrap();
            // One pushed between the runs, held or spilled in turn.
            s.push(R("r".into(), 1_000 + run)).unwrap();
            want.push(1_000 + run);
        }
        s.push_run(Vec::new()).unwrap();
        want.sort();
        let got: Vec<u64> = s.finish().unwrap().map(|r| r.unwrap().1).collect();
        assert_eq!(got, want);
    }
}

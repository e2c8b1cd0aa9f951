//! Proof that an index agrees with its table, entry by entry.
//!
//! 1. A [`KeyBook`] keeps each row's key as the table holds it: an integer
//!    key (`time_ms`) as itself, any other key as a 64-bit SipHash under a
//!    key drawn at random for each run and never stored, so that no file can
//!    be made to collide with it. 8 bytes per row, in rowid order, up to the
//!    book's byte budget; past it every row goes to a temporary file (in the
//!    system's temporary folder, never beside the evidence), written and read
//!    in rowid order. Verification fills it during its own scan of the
//!    entries table; [`Archive::table_book`] reads it from a table.
//! 2. [`Archive::index_problems`] walks the index once in its own order, from
//!    the index alone, and compares each entry (key, row) with the book; a row
//!    listed twice or one the table lacks, and (after the walk) a row never
//!    listed are problems too. A book held in memory is looked up by rowid
//!    (one bit per row marks the rows seen). A book on disk cannot be: the
//!    walk's entries (rowid, key word, position in the walk) are sorted by
//!    rowid instead ([`ExternalSort`], within the same budget) and compared
//!    with the book in one merge; the problems found are put back in the
//!    walk's order, and the keys of those listed in full are read in a second
//!    walk. Either way the same problems come out, in the same order.
//!
//! Each entry is compared on its own: no sum or product of hashes stands in
//! for the comparison, so no set of entries can be forged to add up. A walk
//! reads only the index (a fraction of the table's size), in order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use super::{Archive, ArchiveError, Cell, KnownIndex, Result};
use crate::external_sort::{self, ExternalSort, RunReader, Spill};

/// The memory of a book read by [`Archive::table_book`] for a check of its own
/// (ingest's check of the entry-id index).
pub const BOOK_MEMORY: usize = 64 << 20;

/// An index key as compared: an integer key as itself, any other key as
/// its keyed hash. (An integer and a hash are equal only by a 2^-64 chance
/// the file cannot steer: the hash key is secret.)
pub type KeyWord = u64;

/// How keys become [`KeyWord`]s in one verification: the SipHash key is
/// drawn at random for each run.
pub struct KeyHasher(RandomState);

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher(RandomState::new())
    }
}

impl KeyHasher {
    pub fn word(&self, key: &[Cell<'_>]) -> KeyWord {
        if let [Cell::Integer(n)] = key {
            return *n as u64;
        }
        // Typed: SQLite orders and compares a TEXT and a BLOB, or an integer
        // and its text, as different values, and so must this.
        let mut h = self.0.build_hasher();
        for cell in key {
            match *cell {
                Cell::Null => h.write_u8(0),
                Cell::Integer(n) => {
                    h.write_u8(1);
                    h.write_i64(n);
                }
                Cell::Real(f) => {
                    h.write_u8(2);
                    h.write_u64(f.to_bits());
                }
                Cell::Text(b) => {
                    h.write_u8(3);
                    h.write_usize(b.len());
                    h.write(b);
                }
                Cell::Blob(b) => {
                    h.write_u8(4);
                    h.write_usize(b.len());
                    h.write(b);
                }
            }
        }
        h.finish()
    }
}

/// A set of bits, one per row.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: usize) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }
}

/// The key of every row of an indexed table, as the table holds it, in
/// rowid order.
pub struct KeyBook {
    /// The bytes of rows held in memory before they go to disk.
    memory: usize,
    /// The rowid of the first row; the others follow it one by one…
    first: i64,
    /// …until a gap: then every rowid is listed (only a damaged table has gaps).
    listed: Option<Vec<i64>>,
    words: Vec<KeyWord>,
    /// Once the rows outgrew `memory`: every row, in a temporary file.
    spilled: Option<SpilledBook>,
}

/// A book's rows on disk, as [`Row`]s in rowid order.
struct SpilledBook {
    out: BufWriter<File>,
    file: File,
    written: u64,
}

/// One row of a book: its rowid and its key word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row(i64, KeyWord);

impl Spill for Row {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }

    fn decode(r: &mut RunReader) -> io::Result<Option<Row>> {
        let mut b = [0u8; 16];
        if !r.take(&mut b)? {
            return Ok(None);
        }
        let [
            r0,
            r1,
            r2,
            r3,
            r4,
            r5,
            r6,
            r7,
            w0,
            w1,
            w2,
            w3,
            w4,
            w5,
            w6,
            w7,
        ] = b;
        Ok(Some(Row(
            i64::from_le_bytes([r0, r1, r2, r3, r4, r5, r6, r7]),
            u64::from_le_bytes([w0, w1, w2, w3, w4, w5, w6, w7]),
        )))
    }
}

impl KeyBook {
    /// A book that holds at most about `memory` bytes of rows in memory.
    pub fn new(memory: usize) -> KeyBook {
        KeyBook {
            memory,
            first: 0,
            listed: None,
            words: Vec::new(),
            spilled: None,
        }
    }

    /// Makes room for `n` more rows (verification knows the seq span),
    /// within the budget.
    pub fn reserve(&mut self, n: usize) {
        self.words.reserve(n.min(self.memory / 8));
    }

    /// Adds the next row (rowids must increase). An error: the temporary
    /// file could not be written.
    pub fn push(&mut self, rowid: i64, w: KeyWord) -> io::Result<()> {
        if let Some(s) = self.spilled.as_mut() {
            return s.push(Row(rowid, w));
        }
        let n = self.words.len();
        if n == 0 {
            self.first = rowid;
        } else if self.listed.is_none() && Some(rowid) != self.first.checked_add(n as i64) {
            self.listed = Some((0..n as i64).map(|i| self.first + i).collect());
        }
        if let Some(l) = self.listed.as_mut() {
            l.push(rowid);
        }
        self.words.push(w);
        let held = 8 * (self.words.len() + self.listed.as_ref().map_or(0, Vec::len));
        if held > self.memory {
            self.spill()?;
        }
        Ok(())
    }

    /// Moves every row held to a temporary file, where the next ones go too.
    fn spill(&mut self) -> io::Result<()> {
        let file = external_sort::temp_file(None)?;
        let mut s = SpilledBook {
            out: BufWriter::with_capacity(1 << 20, file.try_clone()?),
            file,
            written: 0,
        };
        for pos in 0..self.len() {
            s.push(Row(self.rowid(pos), self.word(pos)))?;
        }
        self.words = Vec::new();
        self.listed = None;
        self.spilled = Some(s);
        Ok(())
    }

    /// The rows went to a temporary file (the budget was passed).
    #[cfg(test)]
    pub(crate) fn is_on_disk(&self) -> bool {
        self.spilled.is_some()
    }

    fn len(&self) -> usize {
        self.words.len()
    }

    fn position(&self, rowid: i64) -> Option<usize> {
        match &self.listed {
            Some(l) => l.binary_search(&rowid).ok(),
            None => rowid
                .checked_sub(self.first)
                .and_then(|p| usize::try_from(p).ok())
                .filter(|&p| p < self.words.len()),
        }
    }

    fn rowid(&self, pos: usize) -> i64 {
        match &self.listed {
            Some(l) => l[pos],
            None => self.first + pos as i64,
        }
    }

    fn word(&self, pos: usize) -> KeyWord {
        self.words[pos]
    }
}

impl SpilledBook {
    fn push(&mut self, row: Row) -> io::Result<()> {
        let mut b = Vec::with_capacity(16);
        row.encode(&mut b);
        self.out.write_all(&b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    /// The rows written, in rowid order.
    fn rows(mut self) -> io::Result<impl Iterator<Item = io::Result<Row>>> {
        self.out.flush()?;
        drop(self.out);
        let mut r = RunReader::new(Arc::new(self.file), 0, self.written);
        Ok(std::iter::from_fn(move || Row::decode(&mut r).transpose()))
    }
}

/// What is wrong with one entry of an index, or with a row it should list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexProblemKind {
    /// The index lists a row the table does not hold.
    NoSuchRow,
    /// The index lists the row under another key than the table holds.
    WrongKey,
    /// The index lists the row again.
    Repeated,
    /// The index has no entry for the row.
    Missing,
}

/// One disagreement between an index and its table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexProblem {
    pub kind: IndexProblemKind,
    /// The row (its seq, for the entries table).
    pub rowid: i64,
    /// The key the index lists the row under (`None`: no entry).
    pub found: Option<String>,
}

/// The disagreements of one index: the first ones in full, the rest counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexProblems {
    pub listed: Vec<IndexProblem>,
    pub more: u64,
}

impl IndexProblems {
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.more == 0
    }
}

/// A problem of the walk (not a missing row), at its position in the walk.
#[derive(Debug, PartialEq, Eq)]
struct WalkProblem {
    pos: u64,
    problem: IndexProblem,
}

impl Ord for WalkProblem {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pos.cmp(&other.pos)
    }
}

impl PartialOrd for WalkProblem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The problems of one index as they are found, in any order: what
/// [`IndexProblems`] lists is the first `keep` of the walk's problems in the
/// walk's order, then of the missing rows in rowid order.
struct Noted {
    keep: usize,
    /// The walk's problems at the `keep` first positions seen so far (the
    /// heap's top is the last of them, dropped first).
    walk: BinaryHeap<WalkProblem>,
    walk_count: u64,
    /// The first `keep` missing rows (noted in rowid order).
    missing: Vec<i64>,
    missing_count: u64,
}

impl Noted {
    fn new(keep: usize) -> Noted {
        Noted {
            keep,
            walk: BinaryHeap::new(),
            walk_count: 0,
            missing: Vec::new(),
            missing_count: 0,
        }
    }

    /// A problem of the walk's entry at `pos`; `found` (its key) is asked
    /// for only if the problem is kept.
    fn walk(
        &mut self,
        pos: u64,
        kind: IndexProblemKind,
        rowid: i64,
        found: impl FnOnce() -> Option<String>,
    ) {
        self.walk_count += 1;
        if self.walk.len() == self.keep {
            match self.walk.peek() {
                Some(last) if pos < last.pos => {
                    self.walk.pop();
                }
                _ => return,
            }
        }
        let found = found();
        self.walk.push(WalkProblem {
            pos,
            problem: IndexProblem { kind, rowid, found },
        });
    }

    fn missing(&mut self, rowid: i64) {
        self.missing_count += 1;
        if self.missing.len() < self.keep {
            self.missing.push(rowid);
        }
    }

    /// The problems, and the position in the walk of each listed one.
    fn finish(self) -> (IndexProblems, Vec<u64>) {
        let walk = self.walk.into_sorted_vec();
        let positions = walk.iter().map(|w| w.pos).collect();
        let mut listed: Vec<IndexProblem> = walk.into_iter().map(|w| w.problem).collect();
        let room = self.keep - listed.len();
        listed.extend(
            self.missing
                .into_iter()
                .take(room)
                .map(|rowid| IndexProblem {
                    kind: IndexProblemKind::Missing,
                    rowid,
                    found: None,
                }),
        );
        let more = self.walk_count + self.missing_count - listed.len() as u64;
        (IndexProblems { listed, more }, positions)
    }
}

/// One entry of an index walk, sorted by rowid (then by its position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Walked {
    rowid: i64,
    pos: u64,
    word: KeyWord,
}

impl Spill for Walked {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.rowid.to_le_bytes());
        out.extend_from_slice(&self.pos.to_le_bytes());
        out.extend_from_slice(&self.word.to_le_bytes());
    }

    fn decode(r: &mut RunReader) -> io::Result<Option<Walked>> {
        let mut b = [0u8; 24];
        if !r.take(&mut b)? {
            return Ok(None);
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            w
        };
        Ok(Some(Walked {
            rowid: i64::from_le_bytes(word(0)),
            pos: u64::from_le_bytes(word(8)),
            word: u64::from_le_bytes(word(16)),
        }))
    }
}

/// Why a walk stopped before the index's end.
enum Stop {
    /// Everything wanted was read.
    Done,
    Failed(ArchiveError),
}

impl From<ArchiveError> for Stop {
    fn from(e: ArchiveError) -> Stop {
        Stop::Failed(e)
    }
}

/// A temporary file of verification that could not be written or read.
fn temp_failed(e: io::Error) -> ArchiveError {
    ArchiveError(external_sort::temp_failed(&e))
}

impl Archive {
    /// The key of each row of `index`'s table, read from the table, holding
    /// at most about `memory` bytes of it in memory.
    pub fn table_book(
        &self,
        index: &KnownIndex,
        hasher: &KeyHasher,
        memory: usize,
    ) -> Result<KeyBook> {
        let mut book = KeyBook::new(memory);
        self.table_keys::<ArchiveError>(index, (i64::MIN, i64::MAX), |rowid, key| {
            book.push(rowid, hasher.word(key)).map_err(temp_failed)
        })?;
        Ok(book)
    }

    /// Walks `index` over the rows within `rowids` and compares each entry
    /// with `book` (made with `hasher`); at most `keep` problems are listed
    /// in full.
    pub fn index_problems(
        &self,
        index: &KnownIndex,
        book: KeyBook,
        hasher: &KeyHasher,
        rowids: (i64, i64),
        keep: usize,
    ) -> Result<IndexProblems> {
        let mut noted = Noted::new(keep);
        if book.spilled.is_none() {
            self.walk_by_lookup(index, &book, hasher, rowids, &mut noted)?;
            return Ok(noted.finish().0);
        }
        self.walk_by_merge(index, book, hasher, rowids, &mut noted)?;
        let (mut problems, positions) = noted.finish();
        self.read_found_keys(index, rowids, &mut problems.listed, &positions)?;
        Ok(problems)
    }

    /// The walk against a book in memory: each entry is looked up by rowid.
    fn walk_by_lookup(
        &self,
        index: &KnownIndex,
        book: &KeyBook,
        hasher: &KeyHasher,
        rowids: (i64, i64),
        noted: &mut Noted,
    ) -> Result<()> {
        let mut seen = Bits::default();
        let mut at = 0u64;
        self.walk_index::<ArchiveError>(index, rowids, |rowid, key| {
            let pos = at;
            at += 1;
            let shown = || Some(show_key(key));
            match book.position(rowid) {
                None => noted.walk(pos, IndexProblemKind::NoSuchRow, rowid, shown),
                Some(p) if seen.get(p) => noted.walk(pos, IndexProblemKind::Repeated, rowid, shown),
                Some(p) => {
                    seen.set(p);
                    if hasher.word(key) != book.word(p) {
                        noted.walk(pos, IndexProblemKind::WrongKey, rowid, shown);
                    }
                }
            }
            Ok(())
        })?;
        for p in 0..book.len() {
            if !seen.get(p) {
                noted.missing(book.rowid(p));
            }
        }
        Ok(())
    }

    /// The walk against a book on disk: the walk's entries sorted by rowid
    /// (then position) and merged with the book's rows. The first entry of
    /// a row is the one the lookup would meet first; the keys found are not
    /// kept ([`Self::read_found_keys`]).
    fn walk_by_merge(
        &self,
        index: &KnownIndex,
        book: KeyBook,
        hasher: &KeyHasher,
        rowids: (i64, i64),
        noted: &mut Noted,
    ) -> Result<()> {
        let mut sorted = ExternalSort::with_budget(book.memory, None);
        let mut pos = 0u64;
        self.walk_index::<ArchiveError>(index, rowids, |rowid, key| {
            let word = hasher.word(key);
            sorted
                .push(Walked { rowid, pos, word })
                .map_err(temp_failed)?;
            pos += 1;
            Ok(())
        })?;
        let walked = sorted.finish().map_err(temp_failed)?;
        let Some(spilled) = book.spilled else {
            return Err(ArchiveError(
                "the book of the table's keys is missing".into(),
            ));
        };
        let mut rows = spilled.rows().map_err(temp_failed)?;
        // The book's row at hand, and whether the walk listed it.
        let mut row = rows.next().transpose().map_err(temp_failed)?;
        let mut seen = false;
        let none = || None;
        for w in walked {
            let w = w.map_err(temp_failed)?;
            while let Some(Row(r, _)) = row
                && r < w.rowid
            {
                if !seen {
                    noted.missing(r);
                }
                row = rows.next().transpose().map_err(temp_failed)?;
                seen = false;
            }
            match row {
                Some(Row(r, word)) if r == w.rowid => {
                    if seen {
                        noted.walk(w.pos, IndexProblemKind::Repeated, w.rowid, none);
                    } else {
                        seen = true;
                        if w.word != word {
                            noted.walk(w.pos, IndexProblemKind::WrongKey, w.rowid, none);
                        }
                    }
                }
                _ => noted.walk(w.pos, IndexProblemKind::NoSuchRow, w.rowid, none),
            }
        }
        while let Some(Row(r, _)) = row {
            if !seen {
                noted.missing(r);
            }
            row = rows.next().transpose().map_err(temp_failed)?;
            seen = false;
        }
        Ok(())
    }

    /// Reads again the keys of the walk's entries at `positions` (ascending),
    /// the first of `listed`, into their `found`: a second walk, only for an
    /// index with problems, stopped after the last one.
    fn read_found_keys(
        &self,
        index: &KnownIndex,
        rowids: (i64, i64),
        listed: &mut [IndexProblem],
        positions: &[u64],
    ) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        let changed = || {
            ArchiveError(format!(
                "the index {} changed while it was read",
                index.name
            ))
        };
        let mut next = 0;
        let mut at = 0u64;
        let walked = self.walk_index::<Stop>(index, rowids, |rowid, key| {
            if positions[next] == at {
                let p = &mut listed[next];
                if p.rowid != rowid {
                    return Err(Stop::Failed(changed()));
                }
                p.found = Some(show_key(key));
                next += 1;
                if next == positions.len() {
                    return Err(Stop::Done);
                }
            }
            at += 1;
            Ok(())
        });
        match walked {
            Err(Stop::Done) => Ok(()),
            Err(Stop::Failed(e)) => Err(e),
            Ok(()) => Err(changed()),
        }
    }

    /// The key of the row `rowid` as its table holds it, quoted as in
    /// [`IndexProblem::found`]; `None` if there is no such row.
    pub fn table_key(&self, index: &KnownIndex, rowid: i64) -> Option<String> {
        let mut key = None;
        self.table_keys::<ArchiveError>(index, (rowid, rowid), |_, k| {
            key = Some(show_key(k));
            Ok(())
        })
        .ok()?;
        key
    }
}

/// A key as quoted in a finding: text in quotes (cut after 80 characters),
/// numbers as they are, blobs in hex.
fn show_key(key: &[Cell<'_>]) -> String {
    let one = |c: &Cell<'_>| match *c {
        Cell::Null => "NULL".to_string(),
        Cell::Integer(n) => n.to_string(),
        Cell::Real(f) => f.to_string(),
        Cell::Text(t) => {
            let s = String::from_utf8_lossy(t);
            match s.char_indices().nth(80) {
                Some((at, _)) => format!("{:?}…", &s[..at]),
                None => format!("{s:?}"),
            }
        }
        Cell::Blob(b) => {
            let hex: String = b.iter().take(40).map(|x| format!("{x:02x}")).collect();
            format!("x'{hex}{}'", if b.len() > 40 { "…" } else { "" })
        }
    };
    key.iter().map(one).collect::<Vec<_>>().join(", ")
}

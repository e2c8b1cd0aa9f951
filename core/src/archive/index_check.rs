//! Proof that an index agrees with its table, entry by entry.
//!
//! 1. A [`KeyBook`] keeps each row's key as the table holds it: an integer
//!    key (`time_ms`) as itself, any other key as a 64-bit SipHash under a
//!    key drawn at random for each run and never stored, so that no file can
//!    be made to collide with it. 8 bytes per row. Verification fills it
//!    during its own scan of the entries table; [`Archive::table_book`]
//!    reads it from a table.
//! 2. [`Archive::index_problems`] walks the index once in its own order, from
//!    the index alone, and compares each entry (key, row) with the book; a row
//!    listed twice or one the table lacks, and (after the walk) a row never
//!    listed are problems too (one bit per row marks the rows seen).
//!
//! Each entry is compared on its own: no sum or product of hashes stands in
//! for the comparison, so no set of entries can be forged to add up. A walk
//! reads only the index (a fraction of the table's size), in order.

use std::hash::{BuildHasher, Hasher, RandomState};

use super::{Archive, ArchiveError, Cell, KnownIndex, Result};

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
#[derive(Default)]
pub struct KeyBook {
    /// The rowid of the first row; the others follow it one by one…
    first: i64,
    /// …until a gap: then every rowid is listed (only a damaged table has gaps).
    listed: Option<Vec<i64>>,
    words: Vec<KeyWord>,
}

impl KeyBook {
    /// Makes room for `n` more rows (verification knows the seq span).
    pub fn reserve(&mut self, n: usize) {
        self.words.reserve(n);
    }

    /// Adds the next row (rowids must increase).
    pub fn push(&mut self, rowid: i64, w: KeyWord) {
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

/// What is wrong with one entry of an index, or with a row it should list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl Archive {
    /// The key of each row of `index`'s table, read from the table.
    pub fn table_book(&self, index: &KnownIndex, hasher: &KeyHasher) -> Result<KeyBook> {
        let mut book = KeyBook::default();
        self.table_keys::<ArchiveError>(index, (i64::MIN, i64::MAX), |rowid, key| {
            book.push(rowid, hasher.word(key));
            Ok(())
        })?;
        Ok(book)
    }

    /// Walks `index` over the rows within `rowids` and compares each entry
    /// with `book` (made with `hasher`); at most `keep` problems are listed
    /// in full.
    pub fn index_problems(
        &self,
        index: &KnownIndex,
        book: &KeyBook,
        hasher: &KeyHasher,
        rowids: (i64, i64),
        keep: usize,
    ) -> Result<IndexProblems> {
        let mut seen = Bits::default();
        let mut out = IndexProblems::default();
        let mut note = |kind: IndexProblemKind, rowid: i64, found: Option<String>| {
            if out.listed.len() < keep {
                out.listed.push(IndexProblem { kind, rowid, found });
            } else {
                out.more += 1;
            }
        };
        self.walk_index::<ArchiveError>(index, rowids, |rowid, key| {
            let shown = || Some(show_key(key));
            match book.position(rowid) {
                None => note(IndexProblemKind::NoSuchRow, rowid, shown()),
                Some(pos) if seen.get(pos) => note(IndexProblemKind::Repeated, rowid, shown()),
                Some(pos) => {
                    seen.set(pos);
                    if hasher.word(key) != book.word(pos) {
                        note(IndexProblemKind::WrongKey, rowid, shown());
                    }
                }
            }
            Ok(())
        })?;
        for pos in 0..book.len() {
            if !seen.get(pos) {
                note(IndexProblemKind::Missing, book.rowid(pos), None);
            }
        }
        Ok(out)
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

//! Verification of the archive's schema and SQLite indexes.
//!
//! auditlens never lets an index decide which entries exist, but the indexes
//! are evidence too: another tool reading the file trusts them, and a lying
//! index is a sign of tampering. So every object of the schema is compared
//! with the schema auditlens makes, and every index auditlens makes is proven
//! to agree with its table entry by entry:
//!
//! 1. While the table is scanned (`row_check`), a [`KeyBook`] keeps each
//!    row's key as the table holds it: an integer key (`time_ms`) exactly,
//!    any other key as a 64-bit SipHash under a key drawn at random for this
//!    run and never stored, so no file can be prepared to collide with it.
//!    8 bytes per row and index.
//! 2. The index is then walked once in its own order, from the index alone,
//!    and each entry (key, row) is compared with what the table held for that
//!    row; a row listed twice, a row the table lacks, and (after the walk) a
//!    row never listed are reported too (one bit per row marks the rows seen).
//!
//! Each entry is compared on its own: no sum or product of hashes stands in
//! for the comparison, so no set of entries can be forged to add up. A walk
//! reads only the index (a fraction of the table's size), in order.

use std::hash::{BuildHasher, Hasher, RandomState};

use super::{Collector, Finding, FindingKind, MAX_FINDINGS};
use crate::archive::{
    Archive, ArchiveError, Cell, INDEXES, KnownIndex, PROTECTIVE, SchemaObject, expected_schema,
};

/// Compares the archive's schema with the one auditlens makes, and returns
/// the indexes whose contents can be checked: those auditlens makes, defined
/// as it defines them.
pub(super) fn check_schema(
    schema: &[SchemaObject],
    out: &mut Collector,
) -> Vec<&'static KnownIndex> {
    let expected = expected_schema();
    for want in expected {
        if schema.iter().any(|o| o.name == want.name) {
            continue;
        }
        if PROTECTIVE.contains(&want.name.as_str()) {
            out.push(Finding::new(
                FindingKind::ProtectionRemoved,
                None,
                format!(
                    "{} was removed from the archive's schema: it no longer refuses changes",
                    want.name
                ),
            ));
        } else {
            out.push(
                Finding::new(
                    FindingKind::SchemaAltered,
                    None,
                    format!(
                        "the {} {} that auditlens makes is missing from the archive's schema",
                        want.kind, want.name
                    ),
                )
                .values(definition(want), "absent"),
            );
        }
    }
    for found in schema {
        match expected.iter().find(|e| e.name == found.name) {
            Some(want) if want.same_definition(found) => {}
            Some(want) => out.push(
                Finding::new(
                    FindingKind::SchemaAltered,
                    None,
                    format!(
                        "the {} {} is not defined as auditlens defines it",
                        found.kind, found.name
                    ),
                )
                .values(definition(want), definition(found)),
            ),
            None => out.push(
                Finding::new(
                    FindingKind::SchemaAltered,
                    None,
                    format!(
                        "the archive holds a {} {}{} that auditlens does not make: another \
                         program changed the file{}",
                        found.kind,
                        found.name,
                        if found.table == found.name {
                            String::new()
                        } else {
                            format!(" (on {})", found.table)
                        },
                        if found.kind == "index" {
                            "; its contents are not checked"
                        } else {
                            ""
                        }
                    ),
                )
                .values("absent", definition(found)),
            ),
        }
    }
    INDEXES
        .iter()
        .filter(|ix| {
            let want = expected.iter().find(|e| e.name == ix.name);
            let found = schema.iter().find(|o| o.name == ix.name);
            matches!((want, found), (Some(w), Some(f)) if w.same_definition(f))
        })
        .collect()
}

/// An object's definition as quoted in a finding.
fn definition(o: &SchemaObject) -> String {
    match &o.sql {
        Some(sql) => sql.split_whitespace().collect::<Vec<_>>().join(" "),
        None => format!(
            "{} {} (made by SQLite for a UNIQUE constraint)",
            o.kind, o.name
        ),
    }
}

/// An index key as compared: an integer key as itself, any other key as
/// its keyed hash. (An integer and a hash are equal only by a 2^-64 chance
/// the file cannot steer: the hash key is secret.)
pub(super) type KeyWord = u64;

/// How keys become [`KeyWord`]s in one verification: the SipHash key is
/// drawn at random for each run.
pub(super) struct KeyHasher(RandomState);

impl KeyHasher {
    pub fn new() -> KeyHasher {
        KeyHasher(RandomState::new())
    }

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
pub(super) struct KeyBook {
    /// The rowid of the first row; the others follow it one by one…
    first: i64,
    /// …until a gap: then every rowid is listed (only a damaged table has gaps).
    listed: Option<Vec<i64>>,
    words: Vec<KeyWord>,
}

impl KeyBook {
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

    pub fn len(&self) -> usize {
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

/// The key of each row of `index`'s table (a small table: the entries
/// table's keys are kept during verification's own scan).
pub(super) fn table_book(
    archive: &Archive,
    index: &KnownIndex,
    hasher: &KeyHasher,
) -> Result<KeyBook, ArchiveError> {
    let mut book = KeyBook::default();
    archive.table_keys::<ArchiveError>(index, (i64::MIN, i64::MAX), |rowid, key| {
        book.push(rowid, hasher.word(key));
        Ok(())
    })?;
    Ok(book)
}

/// What is wrong with one entry of an index, or with a row it should list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    /// The index lists a row the table does not hold.
    NoSuchRow,
    /// The index lists the row under another key than the table holds.
    WrongKey,
    /// The index lists the row again.
    Repeated,
    /// The index has no entry for the row.
    Missing,
}

/// Walks `index` over the rows within `rowids` and compares each entry
/// with `book`; the findings say which entries are wrong, and how.
pub(super) fn check_index(
    archive: &Archive,
    index: &KnownIndex,
    book: &KeyBook,
    hasher: &KeyHasher,
    rowids: (i64, i64),
) -> Vec<Finding> {
    let mut seen = Bits::default();
    // (problem, row, the key the index lists it under)
    let mut problems: Vec<(Problem, i64, Option<String>)> = Vec::new();
    let mut more = 0u64;
    let mut note = |p: Problem, rowid: i64, key: Option<String>| {
        if problems.len() < MAX_FINDINGS {
            problems.push((p, rowid, key));
        } else {
            more += 1;
        }
    };
    let walked = archive.walk_index::<ArchiveError>(index, rowids, |rowid, key| {
        let shown = || Some(show_key(key));
        match book.position(rowid) {
            None => note(Problem::NoSuchRow, rowid, shown()),
            Some(pos) if seen.get(pos) => note(Problem::Repeated, rowid, shown()),
            Some(pos) => {
                seen.set(pos);
                if hasher.word(key) != book.word(pos) {
                    note(Problem::WrongKey, rowid, shown());
                }
            }
        }
        Ok(())
    });
    if let Err(e) = walked {
        return vec![unreadable(index, &e.0)];
    }
    for pos in 0..book.len() {
        if !seen.get(pos) {
            note(Problem::Missing, book.rowid(pos), None);
        }
    }
    let mut out: Vec<Finding> = problems
        .into_iter()
        .map(|(p, rowid, found)| {
            let expected = match p {
                Problem::NoSuchRow => None,
                _ => table_key(archive, index, rowid),
            };
            problem_finding(index, p, rowid, expected, found)
        })
        .collect();
    // Past the findings kept in full, each is still counted.
    out.extend((0..more).map(|_| {
        Finding::new(
            FindingKind::SqliteIndexMismatch,
            None,
            format!("the SQLite index {} disagrees with its table", index.name),
        )
    }));
    out
}

/// The key of the row `rowid` as its table holds it, as quoted in a finding.
fn table_key(archive: &Archive, index: &KnownIndex, rowid: i64) -> Option<String> {
    let mut key = None;
    archive
        .table_keys::<ArchiveError>(index, (rowid, rowid), |_, k| {
            key = Some(show_key(k));
            Ok(())
        })
        .ok()?;
    key
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

pub(super) fn unreadable(index: &KnownIndex, e: &str) -> Finding {
    Finding::new(
        FindingKind::SqliteIndexMismatch,
        None,
        format!(
            "the SQLite index {} cannot be read ({e}): it is damaged",
            index.name
        ),
    )
}

/// One wrong entry (or one row without an entry) as a finding, located by
/// seq for the entries table.
fn problem_finding(
    index: &KnownIndex,
    p: Problem,
    rowid: i64,
    expected: Option<String>,
    found: Option<String>,
) -> Finding {
    let entries = index.table == "entries";
    let at = if entries {
        format!("seq {rowid}")
    } else {
        format!("row {rowid} of {}", index.table)
    };
    let key = index.key.join(", ");
    let message = match p {
        Problem::NoSuchRow => format!(
            "the SQLite index {} lists {at}, which the table does not hold: a query through \
             the index would show an entry that is not there",
            index.name
        ),
        Problem::WrongKey => format!(
            "the SQLite index {} lists {at} under another {key} than the table holds: a query \
             through the index would misplace or miss it",
            index.name
        ),
        Problem::Repeated => format!(
            "the SQLite index {} lists {at} more than once: a query through the index would \
             show it twice",
            index.name
        ),
        Problem::Missing => format!(
            "the SQLite index {} has no entry for {at}: a query through the index would not see it",
            index.name
        ),
    };
    let seq = (entries && rowid > 0).then_some(rowid as u64);
    Finding::new(FindingKind::SqliteIndexMismatch, seq, message).values(
        expected
            .map(|k| format!("{key} {k}"))
            .unwrap_or_else(|| "no such row".into()),
        found
            .map(|k| format!("{key} {k}"))
            .unwrap_or_else(|| "no entry".into()),
    )
}

//! Reading entries: the one code path.
//!
//! Verification, the viewer's row and text indexes, exports, scan, the report
//! and the proofs read entries through [`Archive::scan`] (or its cursor,
//! [`Archive::open_scan`]): rows of the entries table in a seq range, in seq
//! order, with the columns the caller asks for. What the verdict hashed is
//! what the table shows and what an export writes.
//!
//! No read lets an index decide which entries exist. Rows are found by their
//! seq, the table's own key (the rowid), or by scanning the table
//! (`NOT INDEXED`); time and action filters are tested on each row, never
//! looked up in `entries_time`. So a tampered SQLite index can neither hide
//! an entry from a filter, a view, an export or a report, nor add one
//! (verification reports the tampered index, see `schema.rs`).

use std::borrow::Cow;
use std::ops::RangeInclusive;
use std::path::Path;

use rusqlite::OptionalExtension;
use rusqlite::types::{Value, ValueRef};

use super::{Archive, ArchiveError, Result, StoredEntry, parse_record};
use crate::chain::{self, Hash, MerkleBuilder};
use crate::checkpoint::Checkpoint;
use crate::filter::Filter;

mod raw;
pub(super) use raw::Statements;

/// A stored column of the entries table, besides `seq` (the rowid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// The canonical record: the bytes the leaf hash covers.
    Record,
    LeafHash,
    ChainHash,
    EntryId,
    TimeMs,
    ActorType,
    ActorId,
    ActorLabel,
    Action,
    ResourceType,
    ResourceId,
    ProjectId,
    OrgId,
    IpAddress,
}

impl Column {
    /// Every column, in the table's order.
    pub const ALL: [Column; 14] = [
        Column::Record,
        Column::LeafHash,
        Column::ChainHash,
        Column::EntryId,
        Column::TimeMs,
        Column::ActorType,
        Column::ActorId,
        Column::ActorLabel,
        Column::Action,
        Column::ResourceType,
        Column::ResourceId,
        Column::ProjectId,
        Column::OrgId,
        Column::IpAddress,
    ];

    /// The index columns (copies of record fields kept for fast filtering),
    /// in the order of [`super::INDEX_COLUMN_NAMES`].
    pub const INDEX: [Column; 11] = [
        Column::EntryId,
        Column::TimeMs,
        Column::ActorType,
        Column::ActorId,
        Column::ActorLabel,
        Column::Action,
        Column::ResourceType,
        Column::ResourceId,
        Column::ProjectId,
        Column::OrgId,
        Column::IpAddress,
    ];

    /// The column of this name.
    pub fn named(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The column's name in the schema.
    pub const fn name(self) -> &'static str {
        match self {
            Column::Record => "record",
            Column::LeafHash => "leaf_hash",
            Column::ChainHash => "chain_hash",
            Column::EntryId => "entry_id",
            Column::TimeMs => "time_ms",
            Column::ActorType => "actor_type",
            Column::ActorId => "actor_id",
            Column::ActorLabel => "actor_label",
            Column::Action => "action",
            Column::ResourceType => "resource_type",
            Column::ResourceId => "resource_id",
            Column::ProjectId => "project_id",
            Column::OrgId => "org_id",
            Column::IpAddress => "ip_address",
        }
    }
}

/// The columns a scan reads (a set of [`Column`]s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Columns(u16);

impl Columns {
    pub const fn of(list: &[Column]) -> Columns {
        let mut bits = 0u16;
        let mut i = 0;
        while i < list.len() {
            bits |= 1 << list[i] as u16;
            i += 1;
        }
        Columns(bits)
    }

    /// Every column.
    pub const ALL: Columns = Columns::of(&Column::ALL);

    pub const fn contains(self, c: Column) -> bool {
        self.0 & (1 << c as u16) != 0
    }

    fn list(self) -> impl Iterator<Item = Column> {
        Column::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

/// A stored value, borrowed from SQLite for the current row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Cell<'a> {
    /// SQL NULL, or a column the scan did not read.
    #[default]
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl<'a> From<ValueRef<'a>> for Cell<'a> {
    fn from(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(n) => Cell::Integer(n),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(b) => Cell::Text(b),
            ValueRef::Blob(b) => Cell::Blob(b),
        }
    }
}

impl<'a> Cell<'a> {
    /// The bytes of a TEXT or BLOB value (a tampered file may hold either
    /// where the other belongs).
    pub fn as_bytes(self) -> Option<&'a [u8]> {
        match self {
            Cell::Text(b) | Cell::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// The bytes of a TEXT or BLOB value; empty for anything else.
    pub fn bytes(self) -> &'a [u8] {
        self.as_bytes().unwrap_or_default()
    }

    /// The value as SQLite prints it (`None` for NULL); invalid UTF-8 is
    /// replaced, so it is for showing and comparing, never for hashing.
    pub fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Cell::Null => None,
            Cell::Text(b) | Cell::Blob(b) => Some(String::from_utf8_lossy(b)),
            Cell::Integer(n) => Some(n.to_string().into()),
            Cell::Real(f) => Some(f.to_string().into()),
        }
    }

    /// A hash column; anything but 32 bytes reads as the zero hash, which
    /// never matches.
    pub fn hash(self) -> Hash {
        Hash::from_slice(self.bytes()).unwrap_or_default()
    }
}

/// One row of the entries table, borrowed for the duration of a callback.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    seq: i64,
    cells: [Cell<'a>; 14],
}

impl<'a> Row<'a> {
    /// The seq; a negative one (only tampering stores one) reads as 0.
    pub fn seq(&self) -> u64 {
        self.seq.max(0) as u64
    }

    /// The seq as stored (negative only in a tampered file).
    pub fn rowid(&self) -> i64 {
        self.seq
    }

    /// A column's value ([`Cell::Null`] if the scan did not read it).
    pub fn get(&self, c: Column) -> Cell<'a> {
        self.cells[c as usize]
    }

    /// The record's bytes (empty if it is not TEXT or BLOB).
    pub fn record(&self) -> &'a [u8] {
        self.get(Column::Record).bytes()
    }

    pub fn leaf_hash(&self) -> Hash {
        self.get(Column::LeafHash).hash()
    }

    pub fn chain_hash(&self) -> Hash {
        self.get(Column::ChainHash).hash()
    }

    /// The index columns, in the order of [`Column::INDEX`].
    pub fn index_columns(&self) -> [Cell<'a>; 11] {
        Column::INDEX.map(|c| self.get(c))
    }
}

/// Which rows a scan reads, in which order, with which columns.
#[derive(Clone, Debug)]
pub struct Scan<'f> {
    seqs: (i64, i64),
    columns: Columns,
    newest_first: bool,
    limit: Option<u64>,
    prefilter: Option<&'f Filter>,
}

impl<'f> Scan<'f> {
    /// Every row, oldest first.
    pub fn all(columns: Columns) -> Scan<'f> {
        Scan::seqs(columns, i64::MIN..=i64::MAX)
    }

    /// The rows whose seq is in `seqs`, oldest first.
    pub fn seqs(columns: Columns, seqs: RangeInclusive<i64>) -> Scan<'f> {
        Scan {
            seqs: (*seqs.start(), *seqs.end()),
            columns,
            newest_first: false,
            limit: None,
            prefilter: None,
        }
    }

    /// The row at `seq`, if it is stored.
    pub fn one(columns: Columns, seq: u64) -> Scan<'f> {
        let s = seq.min(i64::MAX as u64) as i64;
        Scan::seqs(columns, s..=s)
    }

    /// Newest (highest seq) first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips rows whose index columns show that `filter` cannot match them
    /// (time range, actions, actor type): a superset of the rows
    /// [`Filter::matches`] accepts, which the caller still applies. Tested on
    /// each row; the index columns are checked against the record by
    /// verification.
    pub fn prefilter(mut self, filter: &'f Filter) -> Self {
        self.prefilter = Some(filter);
        self
    }

    /// The statement and its parameters.
    fn sql(&self) -> (String, Vec<Value>) {
        let mut select = vec!["t.seq".to_string()];
        select.extend(self.columns.list().map(|c| format!("t.{}", c.name())));
        let mut params = vec![Value::Integer(self.seqs.0), Value::Integer(self.seqs.1)];
        let mut clauses = vec!["t.seq BETWEEN ?1 AND ?2".to_string()];
        if let Some(f) = self.prefilter {
            prefilter_clauses(f, &mut clauses, &mut params);
        }
        let mut sql = format!(
            "SELECT {} FROM entries AS t NOT INDEXED WHERE {} ORDER BY t.seq{}",
            select.join(", "),
            clauses.join(" AND "),
            if self.newest_first { " DESC" } else { "" }
        );
        if let Some(n) = self.limit {
            sql.push_str(&format!(" LIMIT {}", n.min(i64::MAX as u64)));
        }
        (sql, params)
    }
}

/// The prefilter's tests on the index columns: never excludes a row that
/// [`Filter::matches`] would accept, as long as the index columns agree with
/// the record.
fn prefilter_clauses(f: &Filter, clauses: &mut Vec<String>, params: &mut Vec<Value>) {
    if let Some(from) = f.from {
        params.push(Value::Integer(from.0));
        clauses.push(format!("t.time_ms >= ?{}", params.len()));
    }
    if let Some(to) = f.to {
        params.push(Value::Integer(to.0));
        clauses.push(format!("t.time_ms < ?{}", params.len()));
    }
    if !f.actions.is_empty() {
        let mut marks = Vec::new();
        for a in &f.actions {
            params.push(Value::Text(a.clone()));
            marks.push(format!("?{}", params.len()));
        }
        clauses.push(format!("t.action IN ({})", marks.join(",")));
    }
    if let Some(t) = &f.actor_type {
        params.push(Value::Text(t.as_str().to_string()));
        clauses.push(format!("t.actor_type = ?{}", params.len()));
    }
}

/// A scan ready to run: [`ScanCursor::rows`] steps through its rows.
pub struct ScanCursor<'a> {
    stmt: raw::Cached<'a>,
    params: Vec<Value>,
    columns: Vec<Column>,
    path: &'a Path,
}

impl ScanCursor<'_> {
    pub fn rows(&mut self) -> Result<ScanRows<'_>> {
        let run = self
            .stmt
            .start(&self.params)
            .map_err(|e| super::db_error(self.path, e))?;
        Ok(ScanRows {
            run,
            columns: &self.columns,
            path: self.path,
        })
    }
}

/// The rows of a running scan.
pub struct ScanRows<'s> {
    run: raw::Run<'s>,
    columns: &'s [Column],
    path: &'s Path,
}

impl ScanRows<'_> {
    /// The next row, or `None` after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        let path = self.path;
        if !self.run.step().map_err(|e| super::db_error(path, e))? {
            return Ok(None);
        }
        let Cell::Integer(seq) = self.run.cell(0) else {
            return Err(ArchiveError(format!(
                "{}: the entries table is damaged (a seq that is not a number)",
                path.display()
            )));
        };
        let mut row = Row {
            seq,
            cells: [Cell::Null; 14],
        };
        for (i, c) in self.columns.iter().enumerate() {
            row.cells[*c as usize] = self.run.cell(1 + i);
        }
        Ok(Some(row))
    }
}

/// Page cache of a [`Archive::streaming_reader`]: a sequential pass reads
/// each page once, so a cache only needs to hold the b-tree's interior pages.
pub(super) const STREAMING_CACHE_KIB: i64 = 256;

impl Archive {
    /// Another read-only handle on the file for one pass over a large part
    /// of it (verification, `info`): plain reads instead of the memory map
    /// and a small page cache. Through the map, a whole-archive pass leaves
    /// every page of the file resident in the process (a 1M-entry archive
    /// peaked at 1 GB, 942 MB of it file-backed); the default 32 MiB cache
    /// of each connection only adds memory when every page is read once.
    pub fn streaming_reader(&self) -> Result<Archive> {
        let reader = self.another_reader()?;
        reader.read_streaming()?;
        Ok(reader)
    }

    /// Prepares `scan`; see [`Archive::scan`] for the callback form.
    pub fn open_scan(&self, scan: &Scan<'_>) -> Result<ScanCursor<'_>> {
        let (sql, params) = scan.sql();
        let stmt = self.stmts.get(&self.conn, &sql).map_err(|e| self.err(e))?;
        Ok(ScanCursor {
            stmt,
            params,
            columns: scan.columns.list().collect(),
            path: &self.path,
        })
    }

    /// Calls `f` with each row of `scan`, in order; an error from `f` stops
    /// the scan and is returned.
    pub fn scan<E: From<ArchiveError>>(
        &self,
        scan: &Scan<'_>,
        mut f: impl FnMut(&Row<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut cursor = self.open_scan(scan)?;
        let mut rows = cursor.rows()?;
        while let Some(row) = rows.next()? {
            f(&row)?;
        }
        Ok(())
    }

    /// Number of stored entries, counted in the table itself (SQLite would
    /// count them in the smallest index, which may have been tampered with).
    pub fn count(&self) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT count(*) FROM entries NOT INDEXED")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Lowest and highest stored seq, read from the ends of the table's
    /// b-tree, or `None` for an empty archive.
    pub fn seq_bounds(&self) -> Result<Option<(i64, i64)>> {
        let bound = |sql: &str| {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.query_row([], |r| r.get::<_, Option<i64>>(0)))
                .map_err(|e| self.err(e))
        };
        // Two statements: together in one, SQLite would scan the table.
        let first = bound("SELECT min(seq) FROM entries NOT INDEXED")?;
        let last = bound("SELECT max(seq) FROM entries NOT INDEXED")?;
        Ok(first.zip(last))
    }

    /// Seqs from the lowest stored to the highest: the number of entries
    /// unless some were deleted. For progress, where counting the rows would
    /// cost a pass over the table.
    pub fn seq_span(&self) -> Result<u64> {
        Ok(self.seq_bounds()?.map_or(0, |(a, b)| {
            b.saturating_sub(a).saturating_add(1).max(0) as u64
        }))
    }

    /// The lowest stored seq above `seq`.
    pub fn next_seq_after(&self, seq: i64) -> Result<Option<i64>> {
        self.conn
            .prepare_cached(
                "SELECT seq FROM entries NOT INDEXED WHERE seq > ?1 ORDER BY seq LIMIT 1",
            )
            .and_then(|mut s| s.query_row([seq], |r| r.get::<_, i64>(0)).optional())
            .map_err(|e| self.err(e))
    }

    /// Highest seq and its chain hash, or `None` for an empty archive.
    pub fn head(&self) -> Result<Option<(u64, Hash)>> {
        let mut head = None;
        let scan = Scan::all(Columns::of(&[Column::ChainHash]))
            .newest_first()
            .limit(1);
        self.scan::<ArchiveError>(&scan, |r| {
            head = Some((r.seq(), r.chain_hash()));
            Ok(())
        })?;
        Ok(head)
    }

    /// Oldest and newest entry time (ms), if any entries; from the table,
    /// not from `entries_time`.
    pub fn time_span(&self) -> Result<Option<(i64, i64)>> {
        self.conn
            .prepare_cached("SELECT min(time_ms), max(time_ms) FROM entries NOT INDEXED")
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
                })
            })
            .map_err(|e| self.err(e))
            .map(|(a, b)| a.zip(b))
    }

    /// Reads one entry by seq.
    pub fn entry(&self, seq: u64) -> Result<Option<StoredEntry>> {
        let cols = Columns::of(&[Column::Record, Column::LeafHash, Column::ChainHash]);
        let mut found = None;
        self.scan::<ArchiveError>(&Scan::one(cols, seq), |r| {
            let entry =
                parse_record(r.record()).map_err(|m| ArchiveError(format!("entry {seq}: {m}")))?;
            found = Some(StoredEntry {
                seq,
                entry,
                leaf_hash: r.leaf_hash(),
                chain_hash: r.chain_hash(),
            });
            Ok(())
        })?;
        Ok(found)
    }

    /// Calls `f` with the sealed record bytes of each of `seqs` that is
    /// stored, in seq order.
    pub fn for_each_record_at(&self, seqs: &[u64], mut f: impl FnMut(u64, &[u8])) -> Result<()> {
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let cols = Columns::of(&[Column::Record]);
        for seq in sorted {
            self.scan::<ArchiveError>(&Scan::one(cols, seq), |r| {
                f(seq, r.record());
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Calls `f` with the sealed record bytes of every stored entry, in seq order.
    pub fn for_each_record(&self, mut f: impl FnMut(u64, &[u8])) -> Result<()> {
        self.scan::<ArchiveError>(&Scan::all(Columns::of(&[Column::Record])), |r| {
            f(r.seq(), r.record());
            Ok(())
        })
    }

    /// The record of the first entry (lowest seq) whose `column` holds
    /// `value`, found by scanning the table.
    pub fn first_record_with(&self, column: Column, value: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT record FROM entries NOT INDEXED WHERE {} = ?1 ORDER BY seq LIMIT 1",
                column.name()
            ))
            .and_then(|mut s| {
                s.query_row([value], |r| Ok(Cell::from(r.get_ref(0)?).bytes().to_vec()))
                    .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// The stored leaf hashes of the entries `seqs` (1-based), in seq
    /// order: for a Merkle tree that keeps only its upper levels and reads
    /// a block of leaves back when a proof needs it. A missing entry or a
    /// damaged hash is an error (the archive is damaged; `verify` says where).
    pub fn leaf_hashes(&self, seqs: RangeInclusive<u64>) -> Result<Vec<Hash>> {
        let (first, last) = (*seqs.start(), *seqs.end());
        let mut out =
            Vec::with_capacity(last.saturating_sub(first).saturating_add(1).min(1 << 16) as usize);
        let range = first.min(i64::MAX as u64) as i64..=last.min(i64::MAX as u64) as i64;
        let damaged = |what: String| {
            ArchiveError(format!(
                "{}: {what}; the archive is damaged, so no proofs can be made (run `auditlens verify` on it)",
                self.path.display()
            ))
        };
        self.scan::<ArchiveError>(&Scan::seqs(Columns::of(&[Column::LeafHash]), range), |r| {
            let seq = r.seq();
            if seq != first + out.len() as u64 {
                return Err(damaged(format!(
                    "entry {} is missing",
                    first + out.len() as u64
                )));
            }
            let leaf = Hash::from_slice(r.get(Column::LeafHash).bytes())
                .ok_or_else(|| damaged(format!("entry {seq} has a damaged leaf hash")))?;
            out.push(leaf);
            Ok(())
        })?;
        if first <= last && out.len() as u64 != last - first + 1 {
            return Err(damaged(format!(
                "entry {} is missing",
                first + out.len() as u64
            )));
        }
        Ok(out)
    }

    /// The checkpoint of the archive as stored (leaf hashes and head read, not
    /// re-verified; `auditlens verify` checks them).
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let mut tree = MerkleBuilder::new();
        self.scan::<ArchiveError>(&Scan::all(Columns::of(&[Column::LeafHash])), |r| {
            tree.push(r.leaf_hash());
            Ok(())
        })?;
        let head = self
            .head()?
            .map(|(_, h)| h)
            .unwrap_or_else(|| chain::genesis(&self.id));
        Ok(Checkpoint {
            archive_id: self.id,
            size: tree.size(),
            root: tree.root(),
            head,
            indexes: None,
        })
    }
}

/// One row of the `ingests` table: an ingest run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestRun {
    pub run: i64,
    pub finished_at: String,
    pub sources: Vec<super::IngestedSource>,
    pub added: u64,
    pub duplicates: u64,
    pub conflicts: u64,
}

impl Archive {
    /// The ingest runs, oldest first. Not covered by the chain: what the
    /// runs say is a description, the entries are the evidence.
    pub fn ingest_runs(&self) -> Result<Vec<IngestRun>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run, finished_at, sources, added, duplicates, conflicts FROM ingests ORDER BY run",
            )
            .map_err(|e| self.err(e))?;
        let text = |v: ValueRef<'_>| match v {
            ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
            ValueRef::Integer(n) => n.to_string(),
            _ => String::new(),
        };
        let count = |v: ValueRef<'_>| match v {
            ValueRef::Integer(n) => n.max(0) as u64,
            _ => 0,
        };
        let rows = stmt
            .query_map([], |r| {
                Ok(IngestRun {
                    run: r.get::<_, Option<i64>>(0)?.unwrap_or_default(),
                    finished_at: text(r.get_ref(1)?),
                    sources: super::IngestedSource::from_column(&text(r.get_ref(2)?)),
                    added: count(r.get_ref(3)?),
                    duplicates: count(r.get_ref(4)?),
                    conflicts: count(r.get_ref(5)?),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Job;
    use crate::output::Destination;
    use crate::sample::{Sample, SampleFile, write_file};

    fn pragma(a: &Archive, name: &str) -> i64 {
        a.conn
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_streaming_reader_reads_without_the_map_and_with_a_small_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        write_file(
            &Sample::new(50, 1),
            SampleFile::Archive,
            &Destination::new(&path),
            &Job::new(),
        )
        .unwrap();
        let archive = Archive::open(&path).unwrap();
        let reader = archive.streaming_reader().unwrap();
        assert_eq!(pragma(&reader, "mmap_size"), 0);
        assert_eq!(pragma(&reader, "cache_size"), -STREAMING_CACHE_KIB);
        // The handle it was made from is left as it was.
        assert_eq!(pragma(&archive, "cache_size"), -32768);
        // It reads the same rows.
        let seqs = |a: &Archive| {
            let mut v = Vec::new();
            a.for_each_record(|seq, r| v.push((seq, r.to_vec())))
                .unwrap();
            v
        };
        assert_eq!(seqs(&reader), seqs(&archive));
        assert_eq!(seqs(&reader).len(), 50);
    }
}

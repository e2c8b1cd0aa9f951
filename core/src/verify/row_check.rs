//! The parallel half of archive verification.
//!
//! Reading rows from SQLite, parsing records and hashing them is most of the
//! cost of verifying, and each row can be checked on its own: its leaf hash
//! and its index columns depend only on the row. Only the walk along the chain
//! needs seq order. So the seqs are cut into chunks, worker threads each read
//! their chunks through their own read-only connection, and the walk takes
//! the checked chunks back in order.
//!
//! Chunks are dealt round robin and each worker hands its results over a
//! channel that holds two chunks, so memory stays bounded by a few chunks per
//! worker however large the archive.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;

use super::{Finding, FindingKind, RowReader, VerifyError, page_scan};
use crate::archive::{Archive, INDEX_COLUMN_NAMES};
use crate::chain::{self, ArchiveId, Hash};
use crate::job::Job;
use crate::record_view::{IndexValue, RecordView};

/// Most seqs per chunk: large enough that a chunk's query and channel
/// hand-over cost nothing next to its rows.
const MAX_CHUNK_SEQS: i64 = 8192;
/// Fewest seqs per chunk, for small archives.
const MIN_CHUNK_SEQS: i64 = 64;

/// One row as the walk needs it.
pub(super) struct CheckedRow {
    pub seq: u64,
    pub stored_leaf: Hash,
    pub stored_chain: Hash,
    pub computed_leaf: Hash,
    pub time_ms: Option<i64>,
    id: Option<(u32, u32)>,
    record: Option<u32>,
}

/// The checked rows of one chunk, in seq order.
#[derive(Default)]
pub(super) struct CheckedChunk {
    pub rows: Vec<CheckedRow>,
    /// Findings about single rows (index columns, unreadable records), with
    /// the index of their row.
    pub findings: Vec<(usize, Finding)>,
    pub record_bytes: u64,
    /// The entry ids of `rows`, one after the other.
    ids: String,
    /// Records of the rows whose leaf hash did not match: the walk needs them
    /// to find where a moved entry belongs. Other records are not kept.
    records: Vec<Vec<u8>>,
}

impl CheckedChunk {
    pub fn entry_id(&self, row: &CheckedRow) -> Option<&str> {
        row.id.map(|(a, b)| &self.ids[a as usize..b as usize])
    }

    /// The record, when its leaf hash did not match (empty otherwise).
    pub fn record(&self, row: &CheckedRow) -> &[u8] {
        row.record
            .map(|i| self.records[i as usize].as_slice())
            .unwrap_or_default()
    }
}

/// Reads and checks every row of the archive, handing the chunks to `walk`
/// in seq order. Rows appended after the call started are not read.
///
/// `Ok(false)` means the page reader found the file not as it planned (a
/// writer committed, or a page is damaged): what `walk` was given must be
/// thrown away and the archive read again through SQL. A chunk alone cannot
/// be read again through SQL: the seqs it should hold come from the same
/// interior pages that may be damaged.
pub(super) fn check_rows(
    archive: &Archive,
    reader: RowReader,
    job: &Job,
    mut walk: impl FnMut(CheckedChunk) -> Result<(), VerifyError>,
) -> Result<bool, VerifyError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // Many chunks per worker keep every worker busy to the end.
    let size =
        (archive.count()? as i64 / (16 * workers as i64)).clamp(MIN_CHUNK_SEQS, MAX_CHUNK_SEQS);
    // Straight from the pages where the file allows it, else through SQL.
    let plan = match reader {
        RowReader::Pages => page_scan::plan(archive.connection(), workers),
        RowReader::Sql => None,
    };
    let chunks: Vec<Work> = match &plan {
        Some(p) => (0..p.chunks.len()).map(Work::Leaves).collect(),
        None => plan_chunks(archive, size)?
            .into_iter()
            .map(|(a, b)| Work::Seqs(a, b))
            .collect(),
    };
    let workers = workers.min(chunks.len().max(1));
    let id = archive.id();
    std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..workers)
            .map(|w| {
                let (tx, rx) = mpsc::sync_channel(2);
                let mine = chunks.iter().copied().skip(w).step_by(workers);
                let path = archive.path();
                let plan = plan.as_ref();
                scope.spawn(move || worker(path, id, plan, mine, tx, job));
                rx
            })
            .collect();
        for k in 0..chunks.len() {
            job.check().map_err(|_| VerifyError::Cancelled)?;
            let chunk = receivers[k % workers].recv().map_err(|_| {
                VerifyError::Cannot("a verification worker stopped unexpectedly".into())
            })??;
            let Some(chunk) = chunk else {
                return Ok(false);
            };
            walk(chunk)?;
        }
        Ok(true)
        // Returning drops the receivers: workers still sending stop.
    })
}

/// Cuts the archive's seqs into ranges of at most `size` seqs, each starting
/// at a stored seq, so a damaged archive with huge seq gaps gives no empty
/// chunks.
fn plan_chunks(archive: &Archive, size: i64) -> Result<Vec<(i64, i64)>, VerifyError> {
    let conn = archive.connection();
    let err = |e| VerifyError::from(archive.err(e));
    // Two queries, each answered from the table's own b-tree: together in one
    // they would scan a covering index, which the page reader never reads.
    let bound = |q: &str| conn.query_row(q, [], |r| r.get::<_, Option<i64>>(0));
    let first = bound("SELECT min(seq) FROM entries").map_err(err)?;
    let last = bound("SELECT max(seq) FROM entries").map_err(err)?;
    let (Some(mut start), Some(last)) = (first, last) else {
        return Ok(Vec::new());
    };
    let mut next = conn
        .prepare("SELECT seq FROM entries WHERE seq > ?1 ORDER BY seq LIMIT 1")
        .map_err(err)?;
    let mut chunks = Vec::new();
    loop {
        let end = start.saturating_add(size - 1).min(last);
        chunks.push((start, end));
        if end >= last {
            return Ok(chunks);
        }
        match next
            .query_row([end], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(err)?
        {
            Some(s) if s <= last => start = s,
            _ => return Ok(chunks),
        }
    }
}

/// One chunk of work: a range of seqs read through SQL, or a chunk of the
/// page plan.
#[derive(Clone, Copy)]
enum Work {
    Seqs(i64, i64),
    Leaves(usize),
}

fn worker(
    path: &Path,
    id: ArchiveId,
    plan: Option<&page_scan::Plan>,
    chunks: impl Iterator<Item = Work>,
    tx: mpsc::SyncSender<Result<Option<CheckedChunk>, VerifyError>>,
    job: &Job,
) {
    let archive = match Archive::open(path) {
        Ok(a) => a,
        Err(e) => {
            let _ = tx.send(Err(e.into()));
            return;
        }
    };
    // Pages are copied out in long runs: plain reads of the page cache cost
    // less than faulting SQLite's memory map in page by page, and the
    // process does not end up holding the whole file (RSS = archive size).
    if plan.is_some() {
        let _ = archive.stop_mapping();
    }
    for range in chunks {
        if job.is_cancelled() {
            return;
        }
        let result = match (range, plan) {
            (Work::Leaves(k), Some(plan)) => check_leaves(&archive, &id, plan, k),
            (Work::Seqs(first, last), _) => check_chunk(&archive, &id, (first, last)).map(Some),
            (Work::Leaves(_), None) => unreachable!("leaf chunks come from a plan"),
        };
        let failed = !matches!(result, Ok(Some(_)));
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

fn check_chunk(
    archive: &Archive,
    id: &ArchiveId,
    (first, last): (i64, i64),
) -> Result<CheckedChunk, VerifyError> {
    let damaged = |e| {
        VerifyError::Cannot(format!(
            "{}: the entries table is damaged or incomplete ({e})",
            archive.path().display()
        ))
    };
    let mut stmt = archive
        .connection()
        .prepare_cached(
            "SELECT seq, record, leaf_hash, chain_hash, entry_id, time_ms, actor_type, actor_id, \
             actor_label, action, resource_type, resource_id, project_id, org_id, ip_address \
             FROM entries WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
        )
        .map_err(damaged)?;
    let mut rows = stmt.query([first, last]).map_err(|e| archive.err(e))?;
    let mut out = CheckedChunk {
        rows: Vec::with_capacity(
            last.saturating_sub(first)
                .saturating_add(1)
                .clamp(0, MAX_CHUNK_SEQS) as usize,
        ),
        ..CheckedChunk::default()
    };
    let mut scratch = Vec::new();
    while let Some(r) = rows.next().map_err(|e| archive.err(e))? {
        let cell = |k: usize| r.get_ref(k).map(Cell::from).map_err(damaged);
        let seq = match r.get_ref(0).map_err(damaged)? {
            ValueRef::Integer(n) => n.max(0) as u64,
            _ => return Err(damaged(rusqlite::Error::InvalidQuery)),
        };
        let stored_leaf = cell(2)?.hash();
        let stored_chain = cell(3)?.hash();
        let mut columns = [Cell::Null; 11];
        for (k, c) in columns.iter_mut().enumerate() {
            *c = cell(4 + k)?;
        }
        let record = cell(1)?.bytes(&mut scratch);
        check_row(
            &mut out,
            id,
            seq,
            record,
            stored_leaf,
            stored_chain,
            &columns,
        );
    }
    Ok(out)
}

/// Checks the rows of one chunk of the page plan, read from the pages;
/// `None` if the pages cannot be trusted to be what SQLite would read.
fn check_leaves(
    archive: &Archive,
    id: &ArchiveId,
    plan: &page_scan::Plan,
    k: usize,
) -> Result<Option<CheckedChunk>, VerifyError> {
    let chunk = &plan.chunks[k];
    let mut out = CheckedChunk::default();
    let mut scratch = Vec::new();
    let read = plan.read_chunk(archive.connection(), chunk, |seq, cells| {
        let [record, leaf, chain, columns @ ..] = cells;
        let record = record.bytes(&mut scratch);
        let seq = seq.max(0) as u64;
        check_row(
            &mut out,
            id,
            seq,
            record,
            leaf.hash(),
            chain.hash(),
            columns,
        );
    });
    Ok(read.ok().map(|()| out))
}

/// Recomputes one row's leaf hash and compares its index columns with its record.
fn check_row(
    out: &mut CheckedChunk,
    archive: &ArchiveId,
    seq: u64,
    record: &[u8],
    stored_leaf: Hash,
    stored_chain: Hash,
    columns: &[Cell<'_>; 11],
) {
    let index = out.rows.len();
    let computed_leaf = chain::leaf_hash(archive, seq, record);
    out.record_bytes += record.len() as u64;
    let (id, time_ms) = match RecordView::parse(record) {
        Ok(view) => {
            for (k, want) in view.index_columns().into_iter().enumerate() {
                if !columns[k].equals(want) {
                    out.findings.push((
                        index,
                        Finding::new(
                            FindingKind::IndexMismatch,
                            Some(seq),
                            format!(
                                "column {} disagrees with the hashed record: the table would show a value that was never sealed",
                                INDEX_COLUMN_NAMES[k]
                            ),
                        )
                        .id(Some(&view.id))
                        .values(
                            want.to_text().unwrap_or_else(|| "NULL".into()),
                            columns[k].to_text().unwrap_or_else(|| "NULL".into()),
                        ),
                    ));
                }
            }
            (Some(push_str(&mut out.ids, &view.id)), Some(view.time.0))
        }
        Err(m) => {
            out.findings.push((
                index,
                Finding::new(FindingKind::UnreadableRecord, Some(seq), m),
            ));
            let id = columns[0].to_text().map(|t| push_str(&mut out.ids, &t));
            (id, None)
        }
    };
    let record = (computed_leaf != stored_leaf).then(|| {
        out.records.push(record.to_vec());
        out.records.len() as u32 - 1
    });
    out.rows.push(CheckedRow {
        seq,
        stored_leaf,
        stored_chain,
        computed_leaf,
        time_ms,
        id,
        record,
    });
}

fn push_str(arena: &mut String, s: &str) -> (u32, u32) {
    let start = arena.len() as u32;
    arena.push_str(s);
    (start, arena.len() as u32)
}

/// A stored column value, borrowed from SQLite or a page for the current row.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cell<'a> {
    Null,
    Bytes(&'a [u8]),
    Integer(i64),
    Real(f64),
}

impl<'a> From<ValueRef<'a>> for Cell<'a> {
    fn from(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(n) => Cell::Integer(n),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(b) | ValueRef::Blob(b) => Cell::Bytes(b),
        }
    }
}

impl<'a> Cell<'a> {
    /// The value's bytes as SQLite prints it; numbers are written to `scratch`.
    fn bytes<'s>(self, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        scratch.clear();
        match self {
            Cell::Null => {}
            Cell::Bytes(b) => return b,
            Cell::Integer(n) => scratch.extend_from_slice(n.to_string().as_bytes()),
            Cell::Real(f) => scratch.extend_from_slice(f.to_string().as_bytes()),
        }
        scratch
    }

    fn to_text(self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Cell::Integer(n) => Some(n.to_string()),
            Cell::Real(f) => Some(f.to_string()),
        }
    }

    /// A hash column; anything but 32 bytes reads as the zero hash, which
    /// never matches.
    fn hash(self) -> Hash {
        match self {
            Cell::Bytes(b) => Hash::from_slice(b).unwrap_or_default(),
            _ => Hash::default(),
        }
    }

    /// Whether the stored value is the one the record gives: the same text,
    /// or for `time_ms` the same number (stored as an integer, or as its text).
    fn equals(self, want: IndexValue<'_>) -> bool {
        match (self, want) {
            (Cell::Integer(n), IndexValue::Integer(t)) => n == t,
            (Cell::Bytes(b), IndexValue::Text(Some(t))) => b == t.as_bytes(),
            (Cell::Null, IndexValue::Text(None)) => true,
            (Cell::Null, _) | (_, IndexValue::Text(None)) => false,
            _ => self.to_text() == want.to_text(),
        }
    }
}

//! The parallel half of archive verification.
//!
//! Reading rows, parsing records and hashing them is most of the cost of
//! verifying, and each row can be checked on its own: its leaf hash and its
//! index columns depend only on the row, and so does the key each SQLite
//! index should list it under (kept for `indexes`). Only the walk along the
//! chain needs seq order. So the seqs are cut
//! into chunks, worker threads each read their chunks through the archive's
//! one scan, on their own read-only connection, and the walk takes the
//! checked chunks back in order.
//!
//! Chunks are dealt round robin and each worker hands its results over a
//! channel that holds two chunks, so memory stays bounded by a few chunks per
//! worker however large the archive. The walk hands each chunk's buffers
//! back to its worker, which fills them again: a chunk's vectors are a
//! megabyte or more, and fresh ones would cost the kernel a page fault and a
//! zeroed page for every 4 KiB of them, each time.

use std::sync::mpsc;

use super::{Finding, FindingKind, VerifyError};
use crate::archive::{
    Archive, Cell, Column, Columns, INDEX_COLUMN_NAMES, KeyHasher, KeyWord, KnownIndex, MAX_KEY,
    Row, Scan,
};
use crate::canonical::{self, Problem};
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
    /// The seq as stored (negative only in a tampered file).
    pub rowid: i64,
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
    /// For each row, the key each index of the entries table should list
    /// it under (`rows.len()` × the number of indexes).
    pub keys: Vec<KeyWord>,
    /// The entry ids of `rows`, one after the other.
    ids: String,
    /// Records of the rows whose leaf hash did not match: the walk needs them
    /// to find where a moved entry belongs. Other records are not kept.
    records: Vec<Vec<u8>>,
}

impl CheckedChunk {
    /// Empties the chunk, keeping its buffers.
    fn clear(&mut self) {
        self.rows.clear();
        self.findings.clear();
        self.record_bytes = 0;
        self.keys.clear();
        self.ids.clear();
        self.records.clear();
    }

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

/// Reads and checks every row of the archive with a seq in `seqs`, keeping
/// for each the key each of `indexes` (of the entries table) should list it
/// under, and hands the chunks to `walk` in seq order (`walk` may take the
/// findings out; the rest is cleared after it).
pub(super) fn check_rows(
    archive: &Archive,
    seqs: (i64, i64),
    indexes: &[&KnownIndex],
    hasher: &KeyHasher,
    job: &Job,
    mut walk: impl FnMut(&mut CheckedChunk) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // Many chunks per worker keep every worker busy to the end.
    let span = seqs.1.saturating_sub(seqs.0).saturating_add(1);
    let size = (span / (16 * workers as i64)).clamp(MIN_CHUNK_SEQS, MAX_CHUNK_SEQS);
    let chunks = plan_chunks(archive, seqs, size)?;
    let workers = workers.min(chunks.len().max(1));
    let keys: Vec<Vec<Column>> = indexes
        .iter()
        .map(|ix| ix.key.iter().filter_map(|c| Column::named(c)).collect())
        .collect();
    let setup = Setup {
        id: archive.id(),
        keys: &keys,
        hasher,
    };
    // A connection serves one thread: each worker reads through its own.
    let readers = (0..workers)
        .map(|_| archive.streaming_reader())
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::scope(|scope| {
        let (receivers, spares): (Vec<_>, Vec<_>) = readers
            .into_iter()
            .enumerate()
            .map(|(w, reader)| {
                let (tx, rx) = mpsc::sync_channel(2);
                // At most the chunks in flight come back: a few per worker.
                let (spare_tx, spare_rx) = mpsc::channel();
                let mine = chunks.iter().copied().skip(w).step_by(workers);
                let setup = &setup;
                scope.spawn(move || worker(reader, setup, mine, tx, spare_rx, job));
                (rx, spare_tx)
            })
            .unzip();
        for k in 0..chunks.len() {
            job.check().map_err(|_| VerifyError::Cancelled)?;
            let mut chunk = receivers[k % workers].recv().map_err(|_| {
                VerifyError::Cannot("a verification worker stopped unexpectedly".into())
            })??;
            walk(&mut chunk)?;
            chunk.clear();
            // A worker that has finished has dropped its end: nothing to do.
            let _ = spares[k % workers].send(chunk);
        }
        Ok(())
        // Returning drops the receivers: workers still sending stop.
    })
}

/// What every worker checks rows against.
struct Setup<'a> {
    id: ArchiveId,
    /// The key columns of each index of the entries table.
    keys: &'a [Vec<Column>],
    hasher: &'a KeyHasher,
}

/// Cuts `seqs` into ranges of at most `size` seqs, each starting at a stored
/// seq, so a damaged archive with huge seq gaps gives no empty chunks.
fn plan_chunks(
    archive: &Archive,
    (first, last): (i64, i64),
    size: i64,
) -> Result<Vec<(i64, i64)>, VerifyError> {
    let mut chunks = Vec::new();
    let mut start = first;
    loop {
        let end = start.saturating_add(size - 1).min(last);
        chunks.push((start, end));
        if end >= last {
            return Ok(chunks);
        }
        match archive.next_seq_after(end)? {
            Some(s) if s <= last => start = s,
            _ => return Ok(chunks),
        }
    }
}

fn worker(
    reader: Archive,
    setup: &Setup<'_>,
    chunks: impl Iterator<Item = (i64, i64)>,
    tx: mpsc::SyncSender<Result<CheckedChunk, VerifyError>>,
    spares: mpsc::Receiver<CheckedChunk>,
    job: &Job,
) {
    // The reader is a streaming one (plain reads, a small cache): memory
    // stays bounded however large the archive.
    for range in chunks {
        if job.is_cancelled() {
            return;
        }
        let out = spares.try_recv().unwrap_or_default();
        let result = check_chunk(&reader, setup, range, out);
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

fn check_chunk(
    archive: &Archive,
    setup: &Setup<'_>,
    (first, last): (i64, i64),
    mut out: CheckedChunk,
) -> Result<CheckedChunk, VerifyError> {
    let capacity = last
        .saturating_sub(first)
        .saturating_add(1)
        .clamp(0, MAX_CHUNK_SEQS) as usize;
    out.rows.reserve(capacity);
    out.keys.reserve(capacity * setup.keys.len());
    let scan = Scan::seqs(Columns::ALL, first..=last);
    let mut scratch = Vec::new();
    archive.scan::<VerifyError>(&scan, |row| {
        check_row(&mut out, &setup.id, row, &mut scratch);
        for columns in setup.keys {
            let mut key = [Cell::Null; MAX_KEY];
            for (k, c) in key.iter_mut().zip(columns) {
                *k = row.get(*c);
            }
            out.keys
                .push(setup.hasher.word(&key[..columns.len().min(MAX_KEY)]));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Recomputes one row's leaf hash and compares its index columns with its record.
fn check_row(out: &mut CheckedChunk, archive: &ArchiveId, row: &Row<'_>, scratch: &mut Vec<u8>) {
    let index = out.rows.len();
    let seq = row.seq();
    let record = printed(row.get(Column::Record), scratch);
    let computed_leaf = chain::leaf_hash(archive, seq, record);
    out.record_bytes += record.len() as u64;
    let columns = row.index_columns();
    // Read and checked in one pass: canonical form and limits, not only the
    // hash (a record with recomputed hashes may still not be what ingest seals).
    let mut view = RecordView::default();
    let (read, problem) = canonical::check_into(record, &mut view);
    let view = read.then_some(&view);
    if let Some(problem) = problem {
        let (kind, m) = match problem {
            Problem::NonCanonical(m) => (FindingKind::NonCanonicalRecord, m),
            Problem::Unreadable(m) => (FindingKind::UnreadableRecord, m),
        };
        let id = view.map(|v| v.id.as_ref());
        out.findings
            .push((index, Finding::new(kind, Some(seq), m).id(id)));
    }
    let (id, time_ms) = match view {
        Some(view) => {
            for (k, want) in view.index_columns().into_iter().enumerate() {
                if !equals(columns[k], want) {
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
                            columns[k].text().unwrap_or_else(|| "NULL".into()),
                        ),
                    ));
                }
            }
            (Some(push_str(&mut out.ids, &view.id)), Some(view.time.0))
        }
        None => {
            let id = columns[0].text().map(|t| push_str(&mut out.ids, &t));
            (id, None)
        }
    };
    let stored_leaf = row.leaf_hash();
    let record = (computed_leaf != stored_leaf).then(|| {
        out.records.push(record.to_vec());
        out.records.len() as u32 - 1
    });
    out.rows.push(CheckedRow {
        seq,
        rowid: row.rowid(),
        stored_leaf,
        stored_chain: row.chain_hash(),
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

/// The record's bytes as SQLite prints the stored value (a tampered file may
/// store a number); numbers are written to `scratch`.
fn printed<'a>(cell: Cell<'a>, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    match cell {
        Cell::Text(b) | Cell::Blob(b) => b,
        Cell::Null => &[],
        Cell::Integer(n) => {
            scratch.clear();
            scratch.extend_from_slice(n.to_string().as_bytes());
            scratch
        }
        Cell::Real(f) => {
            scratch.clear();
            scratch.extend_from_slice(f.to_string().as_bytes());
            scratch
        }
    }
}

/// Whether the stored value is the one the record gives: the same text, or
/// for `time_ms` the same number (stored as an integer, or as its text).
fn equals(stored: Cell<'_>, want: IndexValue<'_>) -> bool {
    match (stored, want) {
        (Cell::Integer(n), IndexValue::Integer(t)) => n == t,
        (Cell::Text(b) | Cell::Blob(b), IndexValue::Text(Some(t))) => b == t.as_bytes(),
        (Cell::Null, IndexValue::Text(None)) => true,
        (Cell::Null, _) | (_, IndexValue::Text(None)) => false,
        _ => stored.text().map(|t| t.into_owned()) == want.to_text(),
    }
}

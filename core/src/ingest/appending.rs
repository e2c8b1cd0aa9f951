//! Pass 2's preparing on a thread of its own: reading the staged records in
//! append order, parsing each, deriving its index columns and hashing its
//! leaf (most of what an append costs outside SQLite) runs beside the
//! writer, which then only binds and steps. Rows travel in batches through
//! a pair of bounded channels, as in `reading`: full batches to the writer,
//! emptied ones back, so that no buffer is freed by another thread than the
//! one that grew it and memory stays at a few batches.
//!
//! A row's seq is known only once it is stored (an id already in the
//! archive is refused), so each leaf is hashed for the seq the row is
//! expected to take: the next seq after the rows prepared so far, less the
//! rows the writer has reported not appended. The writer hashes again the
//! rare row that lands elsewhere.
//!
//! The rows come from anything that hands records over in append order
//! ([`InOrder`]): the staging file sorted (two passes), or a file read in
//! append order as it is read (`one_pass`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

use super::staging::Sorted;
use crate::archive::Rows;
use crate::chain::ArchiveId;

/// Rows per batch, and the bytes of text after which a batch is sent before
/// it is full.
const BATCH_ROWS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight: the preparer runs this far ahead of the writer.
const IN_FLIGHT: usize = 4;

/// Why preparing stopped before the last row.
pub(super) enum Failure {
    /// The staging file could not be read.
    Io(std::io::Error),
    /// A staged record is not one ingest seals (its reason).
    Record(String),
    /// The one-pass reading met something it leaves to the two passes.
    Unusual,
}

/// Records in append order, one at a time.
pub(super) trait InOrder {
    /// The next record, written to `record`, with its tag (the index of
    /// its input file); `None` after the last.
    fn next_in_order(&mut self, record: &mut Vec<u8>) -> Result<Option<u32>, Failure>;
}

impl InOrder for Sorted {
    fn next_in_order(&mut self, record: &mut Vec<u8>) -> Result<Option<u32>, Failure> {
        let key = self.next(record).map_err(Failure::Io)?;
        Ok(key.map(|k| k.source))
    }
}

enum Message {
    Rows(Rows),
    Failed(Failure),
}

/// The writer's side: batches of rows in append order.
pub(super) struct Prepared {
    full: Receiver<Message>,
    empty: SyncSender<Rows>,
    missed: Arc<AtomicU64>,
}

impl Prepared {
    /// The next batch (never empty), `None` after the last, or why
    /// preparing stopped.
    pub fn next(&mut self) -> Option<Result<Rows, Failure>> {
        match self.full.recv() {
            Ok(Message::Rows(rows)) => Some(Ok(rows)),
            Ok(Message::Failed(f)) => Some(Err(f)),
            // Done (or the preparer panicked: the scope passes its panic on).
            Err(_) => None,
        }
    }

    /// Hands a batch back once its rows are appended, with the number of
    /// them that were not (stored already), so that later leaves are hashed
    /// for the seqs they will take.
    pub fn give_back(&mut self, mut rows: Rows, not_appended: u64) {
        if not_appended > 0 {
            self.missed.fetch_add(not_appended, Ordering::Relaxed);
        }
        rows.clear();
        let _ = self.empty.try_send(rows);
    }
}

/// Starts preparing every record of `sorted` for the archive `id`, whose
/// next entry is `next_seq`, on a thread of `scope`. Dropping the returned
/// [`Prepared`] stops the thread at its next batch.
pub(super) fn start<'scope>(
    scope: &'scope Scope<'scope, '_>,
    mut sorted: impl InOrder + Send + 'scope,
    id: ArchiveId,
    next_seq: u64,
) -> Prepared {
    let (full_tx, full_rx) = sync_channel::<Message>(IN_FLIGHT);
    let (empty_tx, empty_rx) = sync_channel::<Rows>(IN_FLIGHT + 1);
    let missed = Arc::new(AtomicU64::new(0));
    let seen = missed.clone();
    scope.spawn(move || {
        if let Err(f) = prepare(&mut sorted, &id, next_seq, &seen, &full_tx, &empty_rx) {
            let _ = full_tx.send(Message::Failed(f));
        }
    });
    Prepared {
        full: full_rx,
        empty: empty_tx,
        missed,
    }
}

/// Fills batches (reusing those handed back) and sends them. `Ok` at the
/// end, or when the writer has gone.
fn prepare(
    sorted: &mut impl InOrder,
    id: &ArchiveId,
    next_seq: u64,
    missed: &AtomicU64,
    full: &SyncSender<Message>,
    empty: &Receiver<Rows>,
) -> Result<(), Failure> {
    let mut record = Vec::new();
    let mut rows = Rows::default();
    let mut prepared = 0u64;
    while let Some(tag) = sorted.next_in_order(&mut record)? {
        let seq = (next_seq + prepared).saturating_sub(missed.load(Ordering::Relaxed));
        if let Err(why) = rows.push(id, seq, &record, tag) {
            // The rows before it are appended first, as they would be one by one.
            if !rows.is_empty() && full.send(Message::Rows(rows)).is_err() {
                return Ok(());
            }
            return Err(Failure::Record(why));
        }
        prepared += 1;
        if rows.len() == BATCH_ROWS || rows.text_len() >= BATCH_BYTES {
            let next = empty.try_recv().unwrap_or_default();
            if full
                .send(Message::Rows(std::mem::replace(&mut rows, next)))
                .is_err()
            {
                return Ok(());
            }
        }
    }
    if !rows.is_empty() {
        let _ = full.send(Message::Rows(rows));
    }
    Ok(())
}

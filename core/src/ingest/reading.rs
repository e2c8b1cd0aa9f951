//! Pass 1's reading on a thread of its own: reading an input file, hashing
//! it and writing each record's canonical form (most of pass 1's work) runs
//! beside the staging of the records read before, so that two cores share
//! it. Records travel in batches through a pair of bounded channels: full
//! batches to the stager, emptied ones back to the reader, so that no
//! buffer is freed by another thread than the one that grew it, and memory
//! stays at a few batches whatever the input's size.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::source::{RecordError, SealedEntry, Source};

/// Records per batch, and the bytes of records after which a batch is sent
/// before it is full (a batch of large records stays small).
const BATCH_ITEMS: usize = 2048;
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight: the reader runs this far ahead of the stager.
const IN_FLIGHT: usize = 4;

/// What the reader read, in the file's order.
pub(super) enum Item {
    /// An entry; its canonical record is the `record` given with it.
    Entry(SealedEntry),
    /// A bad record (fatal or not, as [`Source::next_sealed`] said).
    Error(RecordError),
}

/// A batch: the records' text one after another, and each item with the
/// end of its record in that text.
#[derive(Default)]
struct Batch {
    records: String,
    items: Vec<(Item, usize)>,
}

enum Message {
    Batch(Batch),
    /// The file's SHA-256 (`None` when the rest could not be read).
    Done(Option<String>),
}

/// Reads every record of `src` on a thread of its own and calls `take` with
/// each, in order, on this one; the file's SHA-256 once all are read, as
/// [`Source::sha256`] gives it. When `take` fails, the reader stops at its
/// next batch and the error is returned.
pub(super) fn read_all<E>(
    mut src: Source,
    mut take: impl FnMut(Item, &str) -> Result<(), E>,
) -> Result<Option<String>, E> {
    let (full_tx, full_rx) = sync_channel::<Message>(IN_FLIGHT);
    let (empty_tx, empty_rx) = sync_channel::<Batch>(IN_FLIGHT + 1);
    std::thread::scope(|scope| {
        scope.spawn(move || read(&mut src, &full_tx, &empty_rx));
        // The receivers are dropped when this closure returns, which stops a
        // reader still at work (its next send fails) before the scope joins it.
        let (full_rx, empty_tx) = (full_rx, empty_tx);
        loop {
            match full_rx.recv() {
                Ok(Message::Batch(mut batch)) => {
                    let mut start = 0;
                    for (item, end) in batch.items.drain(..) {
                        take(item, &batch.records[start..end])?;
                        start = end;
                    }
                    batch.records.clear();
                    let _ = empty_tx.try_send(batch);
                }
                Ok(Message::Done(sha256)) => return Ok(sha256),
                // The reader panicked: the scope passes its panic on.
                Err(_) => return Ok(None),
            }
        }
    })
}

/// The reader's side: fills batches (reusing those handed back) and sends
/// them, then the file's hash. Stops when the stager has gone.
fn read(src: &mut Source, full: &SyncSender<Message>, empty: &Receiver<Batch>) {
    let mut record = String::new();
    let mut batch = Batch::default();
    while let Some(r) = src.next_sealed(&mut record) {
        let item = match r {
            Ok(entry) => {
                batch.records.push_str(&record);
                Item::Entry(entry)
            }
            Err(e) => Item::Error(e),
        };
        batch.items.push((item, batch.records.len()));
        if batch.items.len() == BATCH_ITEMS || batch.records.len() >= BATCH_BYTES {
            let next = empty.try_recv().unwrap_or_default();
            if full
                .send(Message::Batch(std::mem::replace(&mut batch, next)))
                .is_err()
            {
                return;
            }
        }
    }
    if !batch.items.is_empty() && full.send(Message::Batch(batch)).is_err() {
        return;
    }
    let _ = full.send(Message::Done(src.sha256().ok()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Every record and error arrives in the file's order with its own
    /// record text, across many batches, and the hash is the file's.
    #[test]
    fn items_arrive_in_order_with_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        let n = 5000;
        for i in 0..n {
            if i % 1000 == 7 {
                writeln!(f, "{{\"id\": broken").unwrap();
            } else {
                writeln!(
                    f,
                    "{{\"id\":\"e{i:05}\",\"createdAt\":\"2025-01-01T00:00:00.000Z\",\"updatedAt\":\"2025-01-01T00:00:00.000Z\",\"type\":\"USER\",\"apiKeyId\":null,\"userId\":\"u1\",\"orgId\":\"o1\",\"userOrgRole\":\"OWNER\",\"projectId\":null,\"userProjectRole\":null,\"resourceType\":\"project\",\"resourceId\":\"p{i}\",\"action\":\"create\",\"before\":null,\"after\":null}}"
                )
                .unwrap();
            }
        }
        drop(f);
        // The same file read on this thread alone.
        let mut src = Source::open(&path).unwrap();
        let mut expected = Vec::new();
        let mut record = String::new();
        while let Some(r) = src.next_sealed(&mut record) {
            expected.push(match r {
                Ok(e) => format!("{} {} {record}", e.id, e.line),
                Err(e) => format!("error {} {}", e.line, e.message),
            });
        }
        let mut got = Vec::new();
        let sha = read_all::<()>(Source::open(&path).unwrap(), |item, record| {
            got.push(match item {
                Item::Entry(e) => format!("{} {} {record}", e.id, e.line),
                Item::Error(e) => format!("error {} {}", e.line, e.message),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), n);
        assert_eq!(got, expected);
        assert_eq!(sha, Some(crate::digest::file_sha256(&path).unwrap()));
    }

    /// A failing consumer stops the reader and gets its error back.
    #[test]
    fn a_failing_consumer_stops_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        let line = "{\"id\":\"e\",\"createdAt\":\"2025-01-01T00:00:00.000Z\",\"updatedAt\":null,\"type\":\"USER\",\"apiKeyId\":null,\"userId\":\"u1\",\"orgId\":\"o1\",\"userOrgRole\":null,\"projectId\":null,\"userProjectRole\":null,\"resourceType\":\"project\",\"resourceId\":\"p\",\"action\":\"create\",\"before\":null,\"after\":null}\n";
        std::fs::write(&path, line.repeat(50_000)).unwrap();
        let mut seen = 0;
        let r = read_all(Source::open(&path).unwrap(), |_, _| {
            seen += 1;
            if seen == 3000 { Err("stop") } else { Ok(()) }
        });
        assert_eq!(r, Err("stop"));
        assert_eq!(seen, 3000);
    }
}

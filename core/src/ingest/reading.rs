//! Pass 1's reading on a thread of its own: reading an input file, hashing
//! it and writing each record's canonical form (most of pass 1's work) runs
//! beside the staging of the records read before, so that two cores share
//! it. Records travel in batches through a pair of bounded channels: full
//! batches to the stager, emptied ones back to the reader, so that no
//! buffer is freed by another thread than the one that grew it, and memory
//! stays at a few batches whatever the input's size.
//!
//! A platform JSONL file, the common case, is sealed line by line (a
//! platform JSON array entry by entry, a platform CSV file record by
//! record), and sealing is most of the work:
//! there one thread reads and hashes the file and cuts it into batches of
//! lines, [`SEALERS`] threads seal the batches
//! (batch `k` by sealer `k % SEALERS`), and the stager takes the sealed
//! batches from the sealers in turn, which keeps the file's order.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::source::{Format, LineAt, LineSealer, RecordError, SealedEntry, Source};

/// Records per batch, and the bytes of records after which a batch is sent
/// before it is full (a batch of large records stays small).
pub(super) const BATCH_ITEMS: usize = 2048;
pub(super) const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight: the reader runs this far ahead of the stager.
pub(super) const IN_FLIGHT: usize = 4;
/// Threads sealing the lines of a platform JSONL file (one per core of a
/// laptop's two; more only share the same cores).
pub(super) const SEALERS: usize = 2;

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

impl Batch {
    /// Adds one record read (its canonical text in `record` when it is an
    /// entry); `true` when the batch is full.
    fn push(&mut self, r: Result<SealedEntry, RecordError>, record: &str) -> bool {
        let item = match r {
            Ok(entry) => {
                self.records.push_str(record);
                Item::Entry(entry)
            }
            Err(e) => Item::Error(e),
        };
        self.items.push((item, self.records.len()));
        self.items.len() == BATCH_ITEMS || self.records.len() >= BATCH_BYTES
    }

    /// Calls `take` with each item in order, leaving the batch empty.
    fn take_each<E>(
        &mut self,
        take: &mut impl FnMut(Item, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut start = 0;
        for (item, end) in self.items.drain(..) {
            take(item, &self.records[start..end])?;
            start = end;
        }
        self.records.clear();
        Ok(())
    }
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
    if matches!(
        src.format,
        Format::PlatformJsonl | Format::PlatformJson | Format::PlatformCsv
    ) {
        return read_lines(src, take);
    }
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
                    batch.take_each(&mut take)?;
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
        if batch.push(r, &record) {
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

/// Lines of a platform JSONL file, one after another in `text`, each with
/// where it was found (or why it could not be read) and its end in `text`.
#[derive(Default)]
pub(super) struct Lines {
    pub(super) text: Vec<u8>,
    pub(super) items: Vec<(Result<LineAt, RecordError>, usize)>,
}

/// [`read_all`] for a platform JSONL file, JSON array or CSV file: read and
/// cut into lines (entries, records) on one thread, sealed on [`SEALERS`]
/// others, staged on this one in order.
fn read_lines<E>(
    mut src: Source,
    mut take: impl FnMut(Item, &str) -> Result<(), E>,
) -> Result<Option<String>, E> {
    // A fatal error (an array entry that is not JSON) ends the file, as
    // `Source::next_sealed` ends it: what was cut after it is not passed on.
    let mut ended = false;
    let mut take = |item: Item, record: &str| {
        if ended {
            return Ok(());
        }
        ended = matches!(&item, Item::Error(e) if e.fatal);
        take(item, record)
    };
    let (raw_back_tx, raw_back_rx) = sync_channel::<Lines>(SEALERS * (IN_FLIGHT + 1));
    let mut raw_txs = Vec::new();
    let mut sealed_rxs = Vec::new();
    let mut back_txs = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..SEALERS {
            let (raw_tx, raw_rx) = sync_channel::<Lines>(IN_FLIGHT);
            let (sealed_tx, sealed_rx) = sync_channel::<Batch>(IN_FLIGHT);
            let (back_tx, back_rx) = sync_channel::<Batch>(IN_FLIGHT + 1);
            let raw_back = raw_back_tx.clone();
            let mut sealer = src.line_sealer();
            scope.spawn(move || seal(&mut sealer, &raw_rx, &raw_back, &sealed_tx, &back_rx));
            raw_txs.push(raw_tx);
            sealed_rxs.push(sealed_rx);
            back_txs.push(back_tx);
        }
        drop(raw_back_tx);
        let reader = scope.spawn(move || {
            cut(&mut src, &raw_txs, &raw_back_rx)
                .then(|| src.sha256().ok())
                .flatten()
        });
        // The receivers are dropped when this closure returns, which stops
        // the sealers (their next send fails) and so the reader.
        let (sealed_rxs, back_txs) = (sealed_rxs, back_txs);
        for k in (0..SEALERS).cycle() {
            // Disconnected once the sealer whose turn it is has no batch left.
            let Ok(mut batch) = sealed_rxs[k].recv() else {
                break;
            };
            batch.take_each(&mut take)?;
            let _ = back_txs[k].try_send(batch);
        }
        // A reader that panicked passes its panic on.
        Ok(reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

/// The reader's side for lines: cuts the file into batches of lines (reusing
/// those handed back) and sends batch `k` to sealer `k % SEALERS`; `true`
/// once all are sent, `false` when the sealers have gone.
pub(super) fn cut(src: &mut Source, sealers: &[SyncSender<Lines>], back: &Receiver<Lines>) -> bool {
    let mut lines = Lines::default();
    let mut k = 0;
    loop {
        // Read straight into the batch.
        let next = src.next_line(&mut lines.text);
        let end = next.is_none();
        if let Some(r) = next {
            lines.items.push((r, lines.text.len()));
        }
        let full = lines.items.len() == BATCH_ITEMS || lines.text.len() >= BATCH_BYTES;
        if full || (end && !lines.items.is_empty()) {
            let next = back.try_recv().unwrap_or_default();
            if sealers[k]
                .send(std::mem::replace(&mut lines, next))
                .is_err()
            {
                return false;
            }
            k = (k + 1) % sealers.len();
        }
        if end {
            return true;
        }
    }
}

/// A sealer: seals each batch of lines into a batch of records (reusing
/// those handed back) and sends it on. Stops when the stager has gone.
fn seal(
    sealer: &mut LineSealer,
    lines: &Receiver<Lines>,
    lines_back: &SyncSender<Lines>,
    sealed: &SyncSender<Batch>,
    back: &Receiver<Batch>,
) {
    let mut record = String::new();
    for mut raw in lines {
        let mut batch = back.try_recv().unwrap_or_default();
        let mut start = 0;
        for (r, end) in raw.items.drain(..) {
            let r = r.and_then(|at| sealer.seal(&raw.text[start..end], at, &mut record));
            batch.push(r, &record);
            start = end;
        }
        raw.text.clear();
        let _ = lines_back.try_send(raw);
        if sealed.send(batch).is_err() {
            return;
        }
    }
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

    /// A platform JSON array, cut into entries and sealed on the sealer
    /// threads, gives what the whole-value parser gives for each entry:
    /// the same records, the same errors on the same lines, in order, and an
    /// entry that is not JSON ends the file there.
    #[test]
    fn json_array_entries_are_sealed_as_the_parser_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.json");
        let entry = |i: usize| {
            format!(
                "{{\"id\":\"e{i:05}\",\"createdAt\":\"2025-01-01T00:00:{:02}.000Z\",\"updatedAt\":null,\
                 \"type\":\"USER\",\"apiKeyId\":null,\"userId\":\"u1\",\"orgId\":\"o1\",\"userOrgRole\":null,\
                 \"projectId\":null,\"userProjectRole\":null,\"resourceType\":\"prompt\",\"resourceId\":\"p{i}\",\
                 \"action\":\"update\",\"before\":\"{{\\\"text\\\":\\\"a ] b }} \\\\\\\" c\\\"}}\",\"after\":null}}",
                i % 60
            )
        };
        let mut text = String::from("\u{feff}[\n");
        for i in 0..5000 {
            if i > 0 {
                text.push_str(if i % 3 == 0 { ",\n" } else { " , " });
            }
            match i % 1000 {
                7 => text.push_str("[1, {\"a\": \"]\"}]"),
                8 => text.push_str("\"a string } ]\""),
                9 => text.push_str("{\"id\": \"only\"}"),
                // Pretty-printed: keys on their own lines.
                10 => text.push_str(&entry(i).replace(",\"", ",\n    \"")),
                _ => text.push_str(&entry(i)),
            }
        }
        let parsed_whole = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let mut src = Source::open(&path).unwrap();
            let mut expected = Vec::new();
            while let Some(r) = src.next_record() {
                expected.push(match r {
                    Ok(r) => format!("{} {} {}", r.entry.id, r.line, r.entry.canonical_record()),
                    Err(e) => format!("error {} {} {} {}", e.record, e.line, e.fatal, e.message),
                });
            }
            expected
        };
        let sealed = || {
            let mut got = Vec::new();
            read_all::<()>(Source::open(&path).unwrap(), |item, record| {
                got.push(match item {
                    Item::Entry(e) => format!("{} {} {record}", e.id, e.line),
                    Item::Error(e) => {
                        format!("error {} {} {} {}", e.record, e.line, e.fatal, e.message)
                    }
                });
                Ok(())
            })
            .unwrap();
            got
        };
        let whole = format!("{text}\n]\n");
        let expected = parsed_whole(&whole);
        assert_eq!(expected.len(), 5000);
        assert_eq!(
            expected.iter().filter(|e| e.starts_with("error")).count(),
            15
        );
        assert_eq!(sealed(), expected);
        // Broken JSON in an entry (on its third line) ends the file there.
        let broken = format!("{text},\n{{\"id\":\n\"x\",\n\"a\": tru}},\n{}]", entry(1));
        let expected = parsed_whole(&broken);
        let last = expected.last().unwrap();
        assert!(last.starts_with("error 5001 "), "{last}");
        assert!(
            last.ends_with("true invalid literal; expected 'true'"),
            "{last}"
        );
        assert_eq!(expected.len(), 5001);
        let got = sealed();
        assert_eq!(got.len(), expected.len(), "{:?}", got.last());
        assert_eq!(got.last(), expected.last());
        assert_eq!(got, expected);
    }

    /// A platform CSV file, cut into records and sealed on the sealer
    /// threads, gives what the csv crate's reader of the whole file gives
    /// for each record: the same records, the same errors (and rejected
    /// rows) on the same lines, in order: quoted line breaks, `""`, CRLF
    /// and bare CR line ends, blank lines, a byte order mark, rows with too
    /// few or too many fields, bad UTF-8, a missing required field.
    #[test]
    fn csv_records_are_sealed_as_the_csv_reader_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        let header = "\"id\",\"createdAt\",\"updatedAt\",\"type\",\"apiKeyId\",\"userId\",\"orgId\",\
                      \"userOrgRole\",\"projectId\",\"userProjectRole\",\"resourceType\",\"resourceId\",\
                      \"action\",\"before\",\"after\",\"note\"";
        let row = |i: usize, eol: &str| {
            let mut r = format!(
                "e{i:05},2025-01-01T00:00:{:02}.000Z,,USER,,u1,o1,,,,prompt,p{i},update,",
                i % 60
            )
            .into_bytes();
            r.extend_from_slice(match i % 1000 {
                // Line breaks, quotes and commas inside quoted fields.
                5 => b"\"{\"\"t\"\":\r\n\"\"a, b \\\"\" c\"\"}\",\"{\"\"x\"\":\n1}\",\"n,\r\"",
                // Too few fields; too many.
                6 => b"\"{}\"",
                7 => b"\"{}\",\"{}\",n,extra",
                // Not UTF-8.
                8 => b"\"{}\",\"{\"\"a\"\":\"\"\xff\"\"}\",n",
                // A quote inside an unquoted field is a quote.
                9 => b"{},\"{}\",a \"quoted\" word",
                // Bad JSON in before; a quote after a closing quote.
                10 => b"{,\"{}\"x,n",
                // A byte order mark at the start of a cell.
                11 => b"\"{}\",{},\xef\xbb\xbfbom",
                _ => b"\"{\"\"k\"\":1}\",,",
            });
            if i % 1000 == 12 {
                // No resourceType.
                r = String::from_utf8(r)
                    .unwrap()
                    .replace(",prompt,", ",,")
                    .into_bytes();
            }
            if i % 1000 == 13 {
                // A cell that starts with a byte order mark, first in its record.
                r = [&b"\xef\xbb\xbf"[..], &r].concat();
            }
            r.extend_from_slice(eol.as_bytes());
            r
        };
        let mut text = format!("\u{feff}{header}\r\n").into_bytes();
        // Where each record starts: its line is 1 + the line feeds before it.
        let mut starts = Vec::new();
        for i in 0..5000 {
            let eol = match i % 7 {
                0 => "\n",
                1 => "\r",
                2 => "\n\n\r\n",
                _ => "\r\n",
            };
            if i == 4321 {
                text.extend_from_slice(b"\r\n\n");
            }
            starts.push(text.len());
            text.extend(row(i, eol));
        }
        let general = |text: &[u8]| {
            std::fs::write(&path, text).unwrap();
            let mut src = Source::open(&path).unwrap();
            assert_eq!(src.format, Format::PlatformCsv);
            let mut expected = Vec::new();
            // The csv crate's lines are not compared: see `cut_csv_record`.
            while let Some(r) = src.next_record() {
                expected.push(match r {
                    Ok(r) => format!("{} {}", r.entry.id, r.entry.canonical_record()),
                    Err(e) => format!("error {} {} {} {:?}", e.record, e.fatal, e.message, e.raw),
                });
            }
            expected
        };
        let sealed = |one_thread: bool| {
            let mut got = Vec::new();
            let item = |item: Item, record: &str| match item {
                Item::Entry(e) => (e.line, format!("{} {record}", e.id)),
                Item::Error(e) => (
                    e.line,
                    format!("error {} {} {} {:?}", e.record, e.fatal, e.message, e.raw),
                ),
            };
            if one_thread {
                let mut src = Source::open(&path).unwrap();
                let mut record = String::new();
                while let Some(r) = src.next_sealed(&mut record) {
                    got.push(match r {
                        Ok(e) => item(Item::Entry(e), &record),
                        Err(e) => item(Item::Error(e), ""),
                    });
                }
                return got;
            }
            let sha = read_all::<()>(Source::open(&path).unwrap(), |i, record| {
                got.push(item(i, record));
                Ok(())
            })
            .unwrap();
            assert_eq!(sha, Some(crate::digest::file_sha256(&path).unwrap()));
            got
        };
        // The line each record starts on, as an editor numbers lines.
        let lines = |text: &[u8], starts: &[usize]| -> Vec<u64> {
            starts
                .iter()
                .map(|&at| 1 + text[..at].iter().filter(|&&b| b == b'\n').count() as u64)
                .collect()
        };
        let open_quote = [&text[..], b"x1,\"2025-01-01T00:00:00.000Z"].concat();
        let with_last = [&starts[..], &[text.len()]].concat();
        let no_bom: Vec<usize> = starts.iter().map(|s| s - 3).collect();
        for (name, text, starts) in [
            ("lf", text.clone(), starts.clone()),
            // No line end after the last record, and an unclosed quote there.
            ("open quote", open_quote, with_last),
            ("no bom", text[3..].to_vec(), no_bom),
        ] {
            let expected = general(&text);
            assert!(expected.len() >= 5000, "{name}");
            let errors: Vec<&String> = expected.iter().filter(|e| e.starts_with("error")).collect();
            for why in [
                "has 14 fields but the header has 16",
                "has 17 fields but the header has 16",
                "is not valid UTF-8",
                "\"before\" is not valid JSON text",
                "the entry has no \"resourceType\"",
            ] {
                assert_eq!(
                    errors.iter().filter(|e| e.contains(why)).count(),
                    5,
                    "{name}: {why}: {errors:?}"
                );
            }
            for one_thread in [false, true] {
                let (got_lines, got): (Vec<u64>, Vec<String>) =
                    sealed(one_thread).into_iter().unzip();
                assert_eq!(got, expected, "{name}");
                assert_eq!(got_lines, lines(&text, &starts), "{name}");
            }
        }
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

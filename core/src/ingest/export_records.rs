//! The records of a JSON or NDJSON export read on three threads, for the
//! verifier: as `reading` reads a platform file, one thread cuts the file
//! into entries ([`Source::next_line`]), [`SEALERS`] threads map them to
//! records ([`RecordMapper`], what [`Source::next_record`] uses, batch `k`
//! by mapper `k % SEALERS`), and the caller takes them back in the file's
//! order from [`ExportRecords::next_record`], exactly as
//! [`Source::next_record`] gives them. A few batches are in flight at most.
//! Any other file is read on the caller's thread.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::reading::{IN_FLIGHT, Lines, SEALERS, cut};
use crate::json::Json;
use crate::source::{Format, LineAt, Mapped, RecordError, RecordMapper, Source, SourceRecord};

type Record = Result<SourceRecord, RecordError>;

/// What a mapper made of what the reader cut, in the file's order.
#[derive(Clone)]
// Nearly every one is a record: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Piece {
    /// An entry (or an NDJSON export's end line) and where it was found.
    Mapped(Mapped, LineAt),
    /// What the reader could not cut.
    Unread(RecordError),
}

/// The threads at work.
struct Pipeline {
    /// Each mapper's batches, taken in turn.
    mapped: Vec<Receiver<Vec<Piece>>>,
    /// Batches taken, back to the mapper that made them, which frees
    /// them: memory is freed by the thread that took it (glibc's malloc
    /// locks another thread's arena to free into it).
    back: Vec<SyncSender<Vec<Piece>>>,
    turn: usize,
    mappers: Vec<JoinHandle<()>>,
    /// Gives the source back once every entry is cut.
    reader: Option<JoinHandle<Source>>,
}

/// An export's records, in order, as [`Source::next_record`] gives them.
pub struct ExportRecords {
    /// A file read on this thread.
    one: Option<Source>,
    pipeline: Option<Pipeline>,
    /// The batch being taken (its pieces are given as copies), the next
    /// piece in it, and the mapper it came from.
    batch: Vec<Piece>,
    next: usize,
    from: usize,
    format: Format,
    /// The file, as errors name it.
    file: std::path::PathBuf,
    /// Where an NDJSON export's end line was found.
    end_at: Option<LineAt>,
    done: bool,
    /// The entry count in an export's footer, once the records are read
    /// (or, for NDJSON, once its end line is).
    pub footer_count: Option<u64>,
    /// The completeness proof in an export's footer.
    pub footer_complete: Option<Json>,
}

impl ExportRecords {
    /// Reads the records of `src`, a JSON or NDJSON export on three threads,
    /// any other file on this one.
    pub fn new(src: Source) -> ExportRecords {
        let format = src.format;
        let mut records = ExportRecords {
            one: None,
            pipeline: None,
            batch: Vec::new(),
            next: 0,
            from: 0,
            format,
            file: src.path.clone(),
            end_at: None,
            done: false,
            footer_count: None,
            footer_complete: None,
        };
        if !matches!(format, Format::ExportNdjson | Format::ExportJson) {
            records.one = Some(src);
            return records;
        }
        let array = format == Format::ExportJson;
        let (raw_back_tx, raw_back_rx) = sync_channel::<Lines>(SEALERS * (IN_FLIGHT + 1));
        let mut raw_txs = Vec::new();
        let mut mapped = Vec::new();
        let mut mappers = Vec::new();
        let mut back = Vec::new();
        for _ in 0..SEALERS {
            let (raw_tx, raw_rx) = sync_channel::<Lines>(IN_FLIGHT);
            let (mapped_tx, mapped_rx) = sync_channel::<Vec<Piece>>(IN_FLIGHT);
            let (back_tx, back_rx) = sync_channel::<Vec<Piece>>(IN_FLIGHT + 2);
            let raw_back = raw_back_tx.clone();
            let mapper = src.record_mapper();
            mappers.push(std::thread::spawn(move || {
                map(&mapper, array, &raw_rx, &raw_back, &mapped_tx, &back_rx)
            }));
            raw_txs.push(raw_tx);
            mapped.push(mapped_rx);
            back.push(back_tx);
        }
        drop(raw_back_tx);
        let mut src = src;
        let reader = std::thread::spawn(move || {
            cut(&mut src, &raw_txs, &raw_back_rx);
            src
        });
        records.pipeline = Some(Pipeline {
            mapped,
            back,
            turn: 0,
            mappers,
            reader: Some(reader),
        });
        records
    }

    /// The next record, an error for a bad one, or `None` at the end.
    /// After a fatal error, `None`.
    pub fn next_record(&mut self) -> Option<Record> {
        if let Some(src) = &mut self.one {
            let r = src.next_record();
            if r.is_none() {
                self.footer_count = src.footer_count;
                self.footer_complete = src.footer_complete.take();
            }
            return r;
        }
        if self.done {
            return None;
        }
        loop {
            let Some(piece) = self.batch.get(self.next) else {
                match self.next_batch() {
                    Some(()) => continue,
                    None => return self.end(),
                }
            };
            // A copy, made here: the mapper frees the batch.
            let piece = piece.clone();
            self.next += 1;
            let r = match (self.end_at, piece) {
                // After an NDJSON export's end line, as `Source::next_record`
                // reads on: blank lines alone.
                (Some(at), Piece::Unread(e)) => Err(RecordError {
                    record: at.record - 1,
                    line: at.line,
                    fatal: true,
                    ..e
                }),
                (Some(at), Piece::Mapped(..)) => Err(RecordError {
                    file: self.file.clone(),
                    record: at.record - 1,
                    line: at.line + 1,
                    message: "data after the export's end line".into(),
                    raw: None,
                    fatal: true,
                    chain: None,
                }),
                (None, Piece::Unread(e)) => Err(e),
                (None, Piece::Mapped(Mapped::End { count, complete }, at)) => {
                    self.footer_count = Some(count);
                    self.footer_complete = complete;
                    self.end_at = Some(at);
                    continue;
                }
                (None, Piece::Mapped(Mapped::Record(r), _)) => r,
            };
            if r.as_ref().is_err_and(|e| e.fatal) {
                self.done = true;
            }
            return Some(r);
        }
    }

    /// Hands the batch taken back to its mapper and takes the next, from
    /// the mapper whose turn it is; `None` once all are read.
    fn next_batch(&mut self) -> Option<()> {
        let p = self.pipeline.as_mut()?;
        let done = std::mem::take(&mut self.batch);
        if done.capacity() > 0 {
            let _ = p.back[self.from].try_send(done);
        }
        let k = p.turn;
        self.batch = p.mapped[k].recv().ok()?;
        (self.next, self.from) = (0, k);
        p.turn = (k + 1) % p.mapped.len();
        Some(())
    }

    /// The end of the records: what an export says there.
    fn end(&mut self) -> Option<Record> {
        self.done = true;
        let mut p = self.pipeline.take()?;
        drop(std::mem::take(&mut p.mapped));
        for m in p.mappers.drain(..) {
            m.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
        let reader = p.reader.take()?;
        let mut src = reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        if self.format == Format::ExportNdjson {
            return self.end_at.is_none().then(|| Err(src.cut_short()));
        }
        self.footer_count = src.footer_count;
        self.footer_complete = src.footer_complete.take();
        None
    }
}

impl Drop for ExportRecords {
    /// Stops the threads: the mappers' next send fails, and so the reader's.
    fn drop(&mut self) {
        if let Some(mut p) = self.pipeline.take() {
            drop(std::mem::take(&mut p.mapped));
            for m in p.mappers.drain(..) {
                let _ = m.join();
            }
            if let Some(r) = p.reader.take() {
                let _ = r.join();
            }
        }
    }
}

/// A mapper: maps each batch of entries cut to a batch of records and sends
/// it on. Stops when the consumer has gone.
fn map(
    mapper: &RecordMapper,
    array: bool,
    lines: &Receiver<Lines>,
    lines_back: &SyncSender<Lines>,
    mapped: &SyncSender<Vec<Piece>>,
    back: &Receiver<Vec<Piece>>,
) {
    for mut raw in lines {
        // Batches taken are freed here, by the thread that made them.
        while let Ok(mut done) = back.try_recv() {
            done.clear();
        }
        let mut batch = Vec::with_capacity(raw.items.len());
        let mut start = 0;
        for (r, end) in raw.items.drain(..) {
            let text = &raw.text[start..end];
            start = end;
            batch.push(match r {
                Err(e) => Piece::Unread(e),
                Ok(at) => {
                    let m = match array {
                        true => Mapped::Record(mapper.map_entry(text, at)),
                        false => mapper.map_line(text, at),
                    };
                    let m = match m {
                        Mapped::Record(r) => Mapped::Record(mapper.depth_checked(r)),
                        end => end,
                    };
                    Piece::Mapped(m, at)
                }
            });
        }
        raw.text.clear();
        let _ = lines_back.try_send(raw);
        if mapped.send(batch).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{ExportFormat, export};
    use crate::filter::Filter;
    use crate::job::Job;
    use crate::sample::{PlatformFormat, Profile, Sample, write_platform};
    use std::fs::File;
    use std::path::Path;

    /// Every item `Source::next_record` gives, then the footer it read.
    fn one_thread(path: &Path) -> Vec<String> {
        let mut src = Source::open(path).unwrap();
        let mut got = Vec::new();
        while let Some(r) = src.next_record() {
            got.push(format!("{r:?}"));
        }
        got.push(format!("{:?} {:?}", src.footer_count, src.footer_complete));
        got
    }

    /// The same from the threads, in the same words.
    fn threads(path: &Path) -> Vec<String> {
        let mut src = ExportRecords::new(Source::open(path).unwrap());
        let mut got = Vec::new();
        while let Some(r) = src.next_record() {
            got.push(format!("{r:?}"));
        }
        got.push(format!("{:?} {:?}", src.footer_count, src.footer_complete));
        got
    }

    /// A JSON or NDJSON export, whole, filtered and damaged in every way
    /// the verifier must see, gives item by item what `Source::next_record`
    /// gives: the same records, errors, numbers and footer, across batches
    /// and both mappers.
    #[test]
    fn records_are_the_ones_next_record_gives() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("in.jsonl");
        let sample = Sample::new(6000, 3).with_profile(Profile::Platform);
        write_platform(
            &sample,
            PlatformFormat::Jsonl,
            File::create(&jsonl).unwrap(),
        )
        .unwrap();
        let archive = dir.path().join("a.sqlite");
        crate::ingest::ingest(&archive, &[jsonl], &Default::default(), &Job::new()).unwrap();
        let archive = crate::archive::Archive::open(&archive).unwrap();
        let deletes = Filter {
            actions: vec!["delete".into()],
            ..Filter::default()
        };
        let mut checked = 0;
        for (format, ext) in [
            (ExportFormat::Ndjson, "ndjson"),
            (ExportFormat::Json, "json"),
        ] {
            for (name, filter) in [("all", Filter::default()), ("deletes", deletes.clone())] {
                let path = dir.path().join(format!("{name}.{ext}"));
                export(&archive, &filter, format, &path, &Job::new()).unwrap();
                let text = std::fs::read(&path).unwrap();
                let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
                let n = lines.len();
                let edit = |at: usize, f: &dyn Fn(&[u8]) -> Vec<u8>| -> Vec<u8> {
                    let mut l: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
                    l[at] = f(&l[at]);
                    l.join(&b'\n')
                };
                let mid = n / 2;
                let footer = lines
                    .iter()
                    .position(|l| l.windows(20).any(|w| w == b"auditlens_export_end"))
                    .unwrap();
                let mut variants: Vec<(&str, Vec<u8>)> = vec![
                    ("as is", text.clone()),
                    (
                        "record byte",
                        edit(mid, &|l| replace(l, b"\"action\":\"", b"\"action\":\"x")),
                    ),
                    (
                        "leaf hash",
                        edit(mid, &|l| {
                            replace(l, b"\"leaf_hash\":\"", b"\"leaf_hash\":\"0")
                        }),
                    ),
                    (
                        "no seq",
                        edit(mid, &|l| replace(l, b"\"seq\":", b"\"sq\":")),
                    ),
                    ("not json", edit(mid, &|_| b"{\"seq\": not json,".to_vec())),
                    ("not an object", edit(mid, &|_| b"[1, 2],".to_vec())),
                    (
                        "line break in a string",
                        edit(mid, &|l| replace(l, b"\"action\":\"", b"\"action\":\"\n")),
                    ),
                    (
                        "bad escape",
                        edit(mid, &|l| replace(l, b"\"action\":\"", b"\"action\":\"\\q")),
                    ),
                    (
                        "bad \\u",
                        edit(mid, &|l| {
                            replace(l, b"\"action\":\"", b"\"action\":\"\\ud800x")
                        }),
                    ),
                    ("blank lines", edit(mid, &|l| [b"\n  \n", l].concat())),
                    (
                        "deleted",
                        [
                            &text[..offset(&lines, mid)],
                            &text[offset(&lines, mid + 1)..],
                        ]
                        .concat(),
                    ),
                    ("duplicated", edit(mid, &|l| [l, b"\n", l].concat())),
                    (
                        "data after the end",
                        [&text[..], b"\n\n{\"x\":1}\n"].concat(),
                    ),
                    ("blank after the end", [&text[..], b"\n \n"].concat()),
                    (
                        "bad end",
                        edit(footer, &|l| {
                            replace(l, b"{\"count\":", b"{\"count\":\"x\",\"c\":")
                        }),
                    ),
                    ("cut mid line", text[..text.len() / 2].to_vec()),
                    ("cut at the end", text[..text.len() - 9].to_vec()),
                    (
                        "header",
                        edit(0, &|l| {
                            replace(l, b"\"exported_by\":\"a", b"\"exported_by\":\"A")
                        }),
                    ),
                ];
                if format == ExportFormat::Ndjson {
                    variants.push((
                        "early end",
                        edit(mid, &|l| [lines[footer], b"\n", l].concat()),
                    ));
                    variants.push(("end, then a line", edit(footer, &|l| [l, b"\n{}"].concat())));
                }
                for (what, bytes) in variants {
                    let p = dir.path().join(format!("{name}.{what}.{ext}"));
                    std::fs::write(&p, &bytes).unwrap();
                    let expected = one_thread(&p);
                    assert!(expected.len() > 400, "{name} {ext} {what}");
                    let got = threads(&p);
                    assert_eq!(got.len(), expected.len(), "{name} {ext} {what}");
                    for (g, e) in got.iter().zip(&expected) {
                        assert_eq!(g, e, "{name} {ext} {what}");
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 76);
    }

    fn replace(l: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = l.windows(from.len()).position(|w| w == from).unwrap();
        [&l[..at], to, &l[at + from.len()..]].concat()
    }

    /// Where line `i` starts.
    fn offset(lines: &[&[u8]], i: usize) -> usize {
        lines[..i].iter().map(|l| l.len() + 1).sum()
    }

    /// Dropped half-way (a cancelled verification), the threads stop.
    #[test]
    fn dropped_records_stop_their_threads() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("in.jsonl");
        let sample = Sample::new(20_000, 5).with_profile(Profile::Platform);
        write_platform(
            &sample,
            PlatformFormat::Jsonl,
            File::create(&jsonl).unwrap(),
        )
        .unwrap();
        let archive = dir.path().join("a.sqlite");
        crate::ingest::ingest(&archive, &[jsonl], &Default::default(), &Job::new()).unwrap();
        let archive = crate::archive::Archive::open(&archive).unwrap();
        let path = dir.path().join("x.ndjson");
        export(
            &archive,
            &Filter::default(),
            ExportFormat::Ndjson,
            &path,
            &Job::new(),
        )
        .unwrap();
        let mut src = ExportRecords::new(Source::open(&path).unwrap());
        for _ in 0..3000 {
            assert!(src.next_record().unwrap().is_ok());
        }
        drop(src);
    }
}

//! Ingest in one pass, for the common case: a single platform JSONL export.
//!
//! The two passes exist because the append order (oldest first) is known
//! only once every record is read. But the platform lists its exports newest
//! first, so such a file read backwards is already in append order (and one
//! listed oldest first, read forwards). Here the file is read in that
//! direction (`file_lines`), its lines are sealed on the sealer threads, each
//! run of equal times is put in the staging order (ties by id, then by
//! place in the file, as `staging::Key` orders them), and the rows go to the
//! preparer and the writer while reading goes on, all in one transaction
//! committed at the end. The file's SHA-256 is taken forwards on a thread of
//! its own, and the file must not have changed meanwhile.
//!
//! Anything unusual (a line the sealer refuses, a time out of order, a run
//! of equal times too large to hold, a record over the size limit, a file
//! that changed, any error) rolls the transaction back, and the caller runs
//! the two passes from the start: they make the rejects file and the errors,
//! as they always do. This pass never reports a record's error itself.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::appending::{self, Failure, InOrder};
use super::file_lines::{Direction, FileLines};
use super::{Appended, IngestError, IngestOptions, IngestReport};
use crate::archive::{self, IngestedSource, Writer};
use crate::job::Job;
use crate::json::MAX_RECORD_BYTES;
use crate::output::Output;
use crate::source::{Format, LineAt, LineSealer};

/// Lines per batch, and the bytes after which a batch is sent before it is
/// full (as in `reading`).
const BATCH_LINES: usize = 2048;
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per sealer.
const IN_FLIGHT: usize = 4;
/// Threads sealing the lines (as in `reading`).
const SEALERS: usize = 2;
/// The largest run of entries with one time held to be put in order (its
/// entries and the bytes of their records); a larger one is left to the
/// two passes, whose staging holds any number.
const MAX_GROUP_ENTRIES: usize = 50_000;
const MAX_GROUP_BYTES: usize = 16 << 20;

/// Whether ingest may take the one pass (tests force it off to compare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnePass {
    WhereItApplies,
    #[cfg_attr(not(test), allow(dead_code))]
    Never,
}

/// Which way an ingest went (tests read it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The one pass, from start to commit.
    OnePass,
    /// The one pass began and gave up; the two passes did the work.
    GaveUp,
    /// The two passes alone.
    TwoPasses,
}

/// Whether the one pass applies: one platform JSONL file, and no
/// transaction size asked for (a run in one transaction keeps nothing of
/// an interrupted run, which `--batch-size` promises).
pub(super) fn applies(files: &[PathBuf], opts: &IngestOptions) -> bool {
    opts.batch_size.is_none()
        && files.len() == 1
        && matches!(crate::source::detect(&files[0]), Ok(Format::PlatformJsonl))
}

/// Why the one pass stopped.
pub(super) enum GiveUp {
    /// Something unusual: run the two passes.
    Unusual,
    Cancelled,
}

impl From<IngestError> for GiveUp {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Cancelled => GiveUp::Cancelled,
            _ => GiveUp::Unusual,
        }
    }
}

/// Ingests `file` into the archive at `archive_path` (made when absent) in
/// one pass. Nothing is committed unless it returns `Ok`.
pub(super) fn ingest(archive_path: &Path, file: &Path, job: &Job) -> Result<IngestReport, GiveUp> {
    let unusual = |_| GiveUp::Unusual;
    let before = Stamp::of(file).map_err(unusual)?;
    let len = before.len;
    let direction = direction(file, len).ok_or(GiveUp::Unusual)?;
    let mut report = IngestReport::default();
    // A new archive is made in its output's staging folder and renamed into
    // place only once complete, so that giving up leaves nothing behind.
    let mut new_archive = None;
    let writer_path = if archive_path.exists() {
        archive_path.to_path_buf()
    } else {
        let mut out = Output::reading(&[file]);
        let slot = out.add_new(archive_path).map_err(|_| GiveUp::Unusual)?;
        let staged = out.staged_path(slot).map_err(|_| GiveUp::Unusual)?;
        archive::initialise(&staged).map_err(|_| GiveUp::Unusual)?;
        new_archive = Some(out);
        staged
    };
    let mut archive = Writer::open(&writer_path).map_err(|_| GiveUp::Unusual)?;
    report.missing_protections = archive.missing_protections().to_vec();
    let (archive_id, next_seq) = (archive.archive_id(), archive.checkpoint().size + 1);
    job.start_phase("ingesting", len);
    let seen = Arc::new(Mutex::new(None));
    let files = [file.to_path_buf()];
    std::thread::scope(|scope| -> Result<(), GiveUp> {
        let hashed = scope.spawn(|| crate::digest::file_sha256(file));
        let ordered = start_reading(scope, file, len, direction, job, seen.clone())?;
        let mut prepared = appending::start(scope, ordered, archive_id, next_seq);
        let appended = Appended {
            files: &files,
            archive_path,
            batch: usize::MAX,
            job,
            progress: false,
        };
        appended.append(&mut archive, &mut prepared, &mut report, |report| {
            let unusual = || IngestError::Io(String::new());
            let Some(Seen { entries, window }) = *seen.lock().map_err(|_| unusual())? else {
                return Err(unusual());
            };
            let sha256 = hashed
                .join()
                .map_err(|_| unusual())?
                .map_err(|_| unusual())?;
            // The hash is of the lines read only if the file did not change.
            if Stamp::of(file).ok() != Some(before) {
                return Err(unusual());
            }
            report.read = entries;
            Ok(vec![IngestedSource {
                file: file.display().to_string(),
                sha256: Some(sha256),
                entries: Some(entries),
                rejected: Some(0),
                window,
            }])
        })?;
        Ok(())
    })?;
    report.checkpoint = Some(archive.checkpoint());
    drop(archive);
    if let Some(out) = new_archive {
        // Made meanwhile by another ingest (or refused now): the two
        // passes append to it, or say why not.
        out.commit().map_err(|_| GiveUp::Unusual)?;
        report.created = true;
    }
    Ok(report)
}

/// What identifies a file's content without reading it: it must be the
/// same before and after the reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    dev: u64,
    ino: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// The direction in which the file's lines are in append order: backwards
/// when its first line is newer than its last. `None` when either cannot
/// be sealed.
fn direction(path: &Path, len: u64) -> Option<Direction> {
    let mut sealer = LineSealer::new(path);
    let mut time = |direction| -> Option<i64> {
        let mut lines = FileLines::new(File::open(path).ok()?, len, direction);
        let mut line = Vec::new();
        lines.next(&mut line).ok()??;
        let at = LineAt { record: 0, line: 0 };
        let mut record = String::new();
        Some(sealer.seal(&line, at, &mut record).ok()?.time.0)
    };
    let (first, last) = (time(Direction::Forwards)?, time(Direction::Backwards)?);
    Some(if first > last {
        Direction::Backwards
    } else {
        Direction::Forwards
    })
}

/// The entries read and their time window, once the last is read.
#[derive(Clone, Copy, Debug)]
struct Seen {
    entries: u64,
    window: Option<(i64, i64)>,
}

/// Lines in append order, one after another in `text`, each with its
/// offset in the file and its end in `text`; `stopped` when the reader
/// stopped after them without reaching the end.
#[derive(Default)]
struct Lines {
    text: Vec<u8>,
    items: Vec<(u64, usize)>,
    stopped: bool,
}

/// Sealed records, one after another in `records`, each with its time, id
/// (its range in `ids`), offset in the file and end in `records`; `stopped`
/// as in [`Lines`], or when a line was refused (the records before it are
/// here). The ids are copied into one buffer on the sealer's thread, so
/// that no string per entry is freed by another thread than the one that
/// made it.
#[derive(Default)]
struct Sealed {
    records: String,
    ids: String,
    items: Vec<(i64, (usize, usize), u64, usize)>,
    stopped: bool,
}

/// Starts the reader and the sealers on `scope`; the records in append
/// order come out of the returned [`Ordered`].
fn start_reading<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    path: &'scope Path,
    len: u64,
    direction: Direction,
    job: &'scope Job,
    seen: Arc<Mutex<Option<Seen>>>,
) -> Result<Ordered, GiveUp> {
    let file = File::open(path).map_err(|_| GiveUp::Unusual)?;
    let lines = FileLines::new(file, len, direction);
    let (lines_back_tx, lines_back_rx) = sync_channel::<Lines>(SEALERS * (IN_FLIGHT + 1));
    let mut lines_txs = Vec::new();
    let mut sealed_rxs = Vec::new();
    let mut back_txs = Vec::new();
    for _ in 0..SEALERS {
        let (lines_tx, lines_rx) = sync_channel::<Lines>(IN_FLIGHT);
        let (sealed_tx, sealed_rx) = sync_channel::<Sealed>(IN_FLIGHT);
        let (back_tx, back_rx) = sync_channel::<Sealed>(IN_FLIGHT + 1);
        let lines_back = lines_back_tx.clone();
        let mut sealer = LineSealer::new(path);
        scope.spawn(move || seal(&mut sealer, &lines_rx, &lines_back, &sealed_tx, &back_rx));
        lines_txs.push(lines_tx);
        sealed_rxs.push(sealed_rx);
        back_txs.push(back_tx);
    }
    drop(lines_back_tx);
    scope.spawn(move || cut(lines, &lines_txs, &lines_back_rx, job));
    Ok(Ordered {
        sealed: sealed_rxs,
        back: back_txs,
        turn: 0,
        batch: Sealed::default(),
        next_item: 0,
        filling: Group::default(),
        emitting: Group::default(),
        emitted: 0,
        time: None,
        read_all: false,
        entries: 0,
        first: None,
        seen,
    })
}

/// The reader: cuts the file into batches of lines in append order and
/// sends batch `k` to sealer `k % SEALERS`. Stops when the sealers have gone.
fn cut(mut lines: FileLines, sealers: &[SyncSender<Lines>], back: &Receiver<Lines>, job: &Job) {
    let mut batch = Lines::default();
    let mut k = 0;
    loop {
        let (end, stopped) = match lines.next(&mut batch.text) {
            Ok(Some(offset)) => {
                batch.items.push((offset, batch.text.len()));
                (false, false)
            }
            Ok(None) => (true, false),
            Err(_) => (true, true),
        };
        batch.stopped = stopped;
        let full = batch.items.len() == BATCH_LINES || batch.text.len() >= BATCH_BYTES;
        if full || (end && (stopped || !batch.items.is_empty())) {
            job.set_done(lines.bytes_read());
            let next = back.try_recv().unwrap_or_default();
            if sealers[k]
                .send(std::mem::replace(&mut batch, next))
                .is_err()
            {
                return;
            }
            k = (k + 1) % sealers.len();
        }
        if end {
            return;
        }
    }
}

/// A sealer: seals each batch of lines (reusing the batches handed back)
/// and sends it on; stops at a line it refuses or a record over the size
/// limit, marking the batch, and when the orderer has gone.
fn seal(
    sealer: &mut LineSealer,
    lines: &Receiver<Lines>,
    lines_back: &SyncSender<Lines>,
    sealed: &SyncSender<Sealed>,
    back: &Receiver<Sealed>,
) {
    let mut record = String::new();
    let at = LineAt { record: 0, line: 0 };
    for mut raw in lines {
        let mut batch = back.try_recv().unwrap_or_default();
        batch.stopped = raw.stopped;
        let mut start = 0;
        for &(offset, end) in &raw.items {
            match sealer.seal(&raw.text[start..end], at, &mut record) {
                Ok(e) if record.len() <= MAX_RECORD_BYTES => {
                    batch.records.push_str(&record);
                    let end = batch.records.len();
                    let id = batch.ids.len();
                    batch.ids.push_str(&e.id);
                    let id = (id, batch.ids.len());
                    batch.items.push((e.time.0, id, offset, end));
                }
                _ => {
                    batch.stopped = true;
                    break;
                }
            }
            start = end;
        }
        raw.text.clear();
        raw.items.clear();
        let stop = batch.stopped;
        let _ = lines_back.try_send(raw);
        if sealed.send(batch).is_err() || stop {
            return;
        }
    }
}

/// Entries of one time: their records one after another in `text`, each
/// with its id (its range in `ids`), its offset in the file and its range
/// in `text`.
#[derive(Default)]
struct Group {
    text: Vec<u8>,
    ids: Vec<u8>,
    items: Vec<((usize, usize), u64, usize, usize)>,
}

/// The sealed records in append order: the sealed batches taken from the
/// sealers in turn (the file's append order), each run of equal times
/// sorted by id, then by offset (the staging order).
struct Ordered {
    sealed: Vec<Receiver<Sealed>>,
    back: Vec<SyncSender<Sealed>>,
    turn: usize,
    batch: Sealed,
    next_item: usize,
    /// The run of the current time being read, and the one before, sorted,
    /// being handed over (`emitted` of it so far).
    filling: Group,
    emitting: Group,
    emitted: usize,
    time: Option<i64>,
    read_all: bool,
    entries: u64,
    first: Option<i64>,
    seen: Arc<Mutex<Option<Seen>>>,
}

impl Ordered {
    /// The next sealed entry in the file's append order, added to
    /// `filling`; `false` at the end.
    fn read_one(&mut self) -> Result<bool, Failure> {
        loop {
            let i = self.next_item;
            if i < self.batch.items.len() {
                let start = if i == 0 { 0 } else { self.batch.items[i - 1].3 };
                let (time, id, offset, end) = self.batch.items[i];
                self.next_item += 1;
                self.take(time, id, offset, start, end)?;
                return Ok(true);
            }
            if self.batch.stopped {
                return Err(Failure::Unusual);
            }
            // Hand the batch back to the sealer it came from (the one
            // before this turn's), and take the next from this turn's.
            let mut done = std::mem::take(&mut self.batch);
            if !done.items.is_empty() {
                done.records.clear();
                done.ids.clear();
                done.items.clear();
                let _ = self.back[(self.turn + SEALERS - 1) % SEALERS].try_send(done);
            }
            match self.sealed[self.turn].recv() {
                Ok(batch) => {
                    self.batch = batch;
                    self.next_item = 0;
                    self.turn = (self.turn + 1) % SEALERS;
                }
                // That sealer has no batch left: the reader is done.
                Err(_) => return Ok(false),
            }
        }
    }

    /// Adds an entry read to the run of its time; a later time first hands
    /// the run read so far over, sorted.
    fn take(
        &mut self,
        time: i64,
        (id_start, id_end): (usize, usize),
        offset: u64,
        start: usize,
        end: usize,
    ) -> Result<(), Failure> {
        match self.time {
            Some(t) if time < t => return Err(Failure::Unusual),
            Some(t) if time > t => self.hand_over(),
            _ => {}
        }
        self.time = Some(time);
        self.first.get_or_insert(time);
        self.entries += 1;
        let g = &mut self.filling;
        let at = g.text.len();
        g.text
            .extend_from_slice(&self.batch.records.as_bytes()[start..end]);
        let id = g.ids.len();
        g.ids
            .extend_from_slice(&self.batch.ids.as_bytes()[id_start..id_end]);
        g.items.push(((id, g.ids.len()), offset, at, g.text.len()));
        if g.items.len() > MAX_GROUP_ENTRIES || g.text.len() > MAX_GROUP_BYTES {
            return Err(Failure::Unusual);
        }
        Ok(())
    }

    /// Sorts the run read so far and makes it the one handed over.
    fn hand_over(&mut self) {
        let Group { ids, items, .. } = &mut self.filling;
        let id = |r: (usize, usize)| &ids[r.0..r.1];
        items.sort_unstable_by(|a, b| (id(a.0), a.1).cmp(&(id(b.0), b.1)));
        std::mem::swap(&mut self.filling, &mut self.emitting);
        self.filling.text.clear();
        self.filling.ids.clear();
        self.filling.items.clear();
        self.emitted = 0;
    }
}

impl InOrder for Ordered {
    fn next_in_order(&mut self, record: &mut Vec<u8>) -> Result<Option<u32>, Failure> {
        loop {
            if let Some((_, _, a, b)) = self.emitting.items.get(self.emitted) {
                record.clear();
                record.extend_from_slice(&self.emitting.text[*a..*b]);
                self.emitted += 1;
                return Ok(Some(0));
            }
            if self.read_all {
                if self.filling.items.is_empty() {
                    let window = self.first.zip(self.time);
                    let seen = Seen {
                        entries: self.entries,
                        window,
                    };
                    *self.seen.lock().map_err(|_| Failure::Unusual)? = Some(seen);
                    return Ok(None);
                }
                self.hand_over();
                continue;
            }
            // Read until a later time hands a run over, or the end.
            while self.emitted == self.emitting.items.len() && !self.read_all {
                self.read_all = !self.read_one()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::ingest::ingest_by;
    use crate::sample::{PlatformFormat, Profile, Sample, write_platform};

    /// The sample generator's SplitMix64 (the same inputs on every run),
    /// with the two draws these tests make.
    struct Rng(crate::sample::Rng);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            (self.0.next() % n.max(1) as u64) as usize
        }
        fn one_in(&mut self, n: u64) -> bool {
            self.0.next().is_multiple_of(n)
        }
    }

    /// The platform's lines, newest first.
    fn sample_lines(n: u64, seed: u64) -> Vec<String> {
        let mut file = Vec::new();
        let sample = Sample::new(n, seed).with_profile(Profile::Platform);
        write_platform(&sample, PlatformFormat::Jsonl, &mut file).unwrap();
        String::from_utf8(file)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    const CREATED: &str = "\"createdAt\":\"";

    fn time_of(line: &str) -> &str {
        let at = line.find(CREATED).unwrap() + CREATED.len();
        &line[at..at + 24]
    }

    fn with_time(line: &str, time: &str) -> String {
        let at = line.find(CREATED).unwrap() + CREATED.len();
        format!("{}{time}{}", &line[..at], &line[at + 24..])
    }

    /// The same entry with other content (same id, same time).
    fn changed(line: &str) -> String {
        let out = line.replacen("\"resourceId\":\"", "\"resourceId\":\"changed-", 1);
        assert_ne!(out, line);
        out
    }

    /// A case: the input's lines, the entries stored before (none: a new
    /// archive), `--skip-invalid`, and whether the one pass must give up.
    struct Case {
        lines: Vec<String>,
        prefill: Vec<String>,
        skip_invalid: bool,
        unusual: bool,
    }

    /// An input from a seed: runs of equal times with ids in any order
    /// (an id twice too, with the same and with other content), pages of
    /// equal times read twice, newest or oldest first, blank lines; some
    /// entries stored before (one with other content); sometimes a line
    /// out of order, one that does not read, or one the reader refuses.
    fn case(seed: u64) -> Case {
        let mut rng = Rng(crate::sample::Rng(seed));
        let n = 60 + rng.below(400) as u64;
        let base = sample_lines(n, seed);
        let mut lines = base.clone();
        // Runs of equal times, shuffled; some with an id twice.
        for _ in 0..rng.below(12) {
            let len = 2 + rng.below(6);
            let at = rng.below(lines.len().saturating_sub(len));
            let oldest = time_of(&lines[at + len - 1]).to_string();
            for l in &mut lines[at..at + len] {
                *l = with_time(l, &oldest);
            }
            if rng.one_in(2) {
                let copy = lines[at].clone();
                let other = if rng.one_in(2) { changed(&copy) } else { copy };
                lines.insert(at + 1, other);
            }
            for i in (1..len).rev() {
                let j = rng.below(i + 1);
                lines.swap(at + i, at + j);
            }
        }
        // A page of rows sharing a time read twice: its lines again after it.
        for _ in 0..rng.below(3) {
            let len = 1 + rng.below(5);
            let at = rng.below(lines.len().saturating_sub(len));
            let oldest = time_of(&lines[at + len - 1]).to_string();
            let page: Vec<String> = lines[at..at + len]
                .iter()
                .map(|l| with_time(l, &oldest))
                .collect();
            lines.splice(at..at + len, page.iter().cloned());
            for (k, l) in page.into_iter().enumerate() {
                lines.insert(at + len + k, l);
            }
        }
        let mut unusual = false;
        match rng.below(6) {
            // A line out of append order.
            0 => {
                let i = rng.below(lines.len());
                let j = (0..lines.len())
                    .map(|k| (i + lines.len() / 2 + k) % lines.len())
                    .find(|&j| time_of(&lines[j]) != time_of(&lines[i]));
                if let Some(j) = j {
                    lines.swap(i, j);
                    unusual = true;
                }
            }
            // A line that does not read.
            1 => {
                let i = rng.below(lines.len() + 1);
                lines.insert(i, "{\"id\": broken".to_string());
                unusual = true;
            }
            // An entry the reader refuses (it has no time).
            2 => {
                let i = rng.below(lines.len());
                lines[i] = lines[i].replacen(CREATED, "\"created\":\"", 1);
                unusual = true;
            }
            _ => {}
        }
        if rng.one_in(2) {
            lines.reverse();
        }
        // Blank lines anywhere, the first and last included.
        for _ in 0..rng.below(4) {
            let i = rng.below(lines.len() + 1);
            lines.insert(i, [" ", "", "\t "][rng.below(3)].to_string());
        }
        let mut prefill = Vec::new();
        if rng.one_in(2) {
            let at = rng.below(base.len() / 2);
            prefill.extend(base[at..at + base.len() / 3].iter().cloned());
            prefill.push(changed(&base[rng.below(base.len())]));
        }
        Case {
            lines,
            prefill,
            skip_invalid: rng.one_in(2),
            unusual,
        }
    }

    /// The input file of a case: LF or CRLF, with or without a last line
    /// end and a byte order mark.
    fn write_input(path: &Path, lines: &[String], seed: u64) {
        let mut rng = Rng(crate::sample::Rng(seed ^ 0xf11e));
        let end = if rng.one_in(3) { "\r\n" } else { "\n" };
        let mut text = lines.join(end);
        if !rng.one_in(4) {
            text.push_str(end);
        }
        if rng.one_in(5) {
            text.insert(0, '\u{feff}');
        }
        std::fs::write(path, text).unwrap();
    }

    /// Everything an ingest says and leaves.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        result: Result<IngestReport, String>,
        rejects: Option<Vec<u8>>,
        records: Vec<(u64, Vec<u8>)>,
        conflicts: Vec<(String, i64, String, String)>,
        runs: Vec<(Vec<IngestedSource>, u64, u64, u64)>,
    }

    /// Ingests the case's input (`dir/in.jsonl`) into `dir/a.sqlite`, new
    /// or a copy of `prefilled` when that exists.
    fn ingest_case(
        dir: &Path,
        case: &Case,
        prefilled: &Path,
        one_pass: OnePass,
    ) -> (Outcome, Route) {
        let archive = dir.join("a.sqlite");
        let rejects = dir.join("a.sqlite.rejects.jsonl");
        let _ = std::fs::remove_file(&archive);
        let _ = std::fs::remove_file(&rejects);
        if prefilled.exists() {
            std::fs::copy(prefilled, &archive).unwrap();
        }
        let opts = IngestOptions {
            skip_invalid: case.skip_invalid,
            ..IngestOptions::default()
        };
        let input = dir.join("in.jsonl");
        let r = ingest_by(&archive, &[input], &opts, &Job::new(), one_pass);
        let route = r.as_ref().map_or(Route::TwoPasses, |(_, route)| *route);
        let mut result = r.map(|(report, _)| report).map_err(|e| e.to_string());
        // A new archive has an id of its own each time, and so other hashes.
        if let Ok(report) = &mut result
            && !prefilled.exists()
        {
            report.checkpoint = report.checkpoint.as_ref().map(|c| Checkpoint {
                archive_id: crate::chain::ArchiveId([0; 16]),
                root: crate::chain::Hash([0; 32]),
                head: crate::chain::Hash([0; 32]),
                ..c.clone()
            });
        }
        let mut outcome = Outcome {
            result,
            rejects: std::fs::read(&rejects).ok(),
            records: Vec::new(),
            conflicts: Vec::new(),
            runs: Vec::new(),
        };
        if archive.exists() {
            let a = archive::Archive::open(&archive).unwrap();
            a.for_each_record(|seq, r| outcome.records.push((seq, r.to_vec())))
                .unwrap();
            outcome.runs = a
                .ingest_runs()
                .unwrap()
                .into_iter()
                .map(|r| (r.sources, r.added, r.duplicates, r.conflicts))
                .collect();
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
            let conn = rusqlite::Connection::open_with_flags(&archive, flags).unwrap();
            let mut stmt = conn
                .prepare(
                    "SELECT entry_id, existing_seq, record, source FROM conflicts ORDER BY rowid",
                )
                .unwrap();
            outcome.conflicts = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        }
        (outcome, route)
    }

    /// Each generated input, ingested with the one pass allowed and with
    /// the two passes alone, into a new archive or one filled before,
    /// leaves the same: report, records at their seqs, conflicts, runs
    /// (the file's hash, its entries and window), rejects file, error. The
    /// one pass is taken for every usual input, and gives up on every
    /// unusual one.
    #[test]
    fn one_pass_and_two_passes_agree() {
        let (mut taken, mut gave_up) = (0, 0);
        for seed in 0..60 {
            let case = case(seed);
            let dir = tempfile::tempdir().unwrap();
            write_input(&dir.path().join("in.jsonl"), &case.lines, seed);
            let prefilled = dir.path().join("prefilled.sqlite");
            if !case.prefill.is_empty() {
                let p = dir.path().join("prefill.jsonl");
                std::fs::write(&p, case.prefill.join("\n")).unwrap();
                let opts = IngestOptions::default();
                ingest_by(&prefilled, &[p], &opts, &Job::new(), OnePass::Never).unwrap();
            }
            let (two, route) = ingest_case(dir.path(), &case, &prefilled, OnePass::Never);
            assert_eq!(route, Route::TwoPasses);
            let (one, route) = ingest_case(dir.path(), &case, &prefilled, OnePass::WhereItApplies);
            assert_eq!(one, two, "seed {seed}");
            if case.unusual {
                if two.result.is_ok() {
                    assert_eq!(route, Route::GaveUp, "seed {seed}");
                }
                gave_up += 1;
            } else {
                assert!(two.result.is_ok(), "seed {seed}: {:?}", two.result);
                assert_eq!(route, Route::OnePass, "seed {seed}");
                taken += 1;
            }
        }
        assert!(
            taken >= 20 && gave_up >= 10,
            "{taken} taken, {gave_up} gave up"
        );
    }
}

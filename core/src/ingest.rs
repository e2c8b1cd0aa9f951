//! Appending exports to an archive.
//!
//! Ingest runs in two passes. The first reads and validates every input file
//! and stages each entry's canonical record in a temporary file, with a small
//! sort key per entry kept in bounded memory (`staging`: sorted runs spill to
//! disk past half a million entries); with the default all-or-nothing mode
//! a single bad record stops here and nothing is written. The second pass
//! appends the staged entries in time order (oldest first, ties by id) in
//! batched transactions, skipping entries already stored and recording
//! conflicts. A crash leaves the archive at its last commit, and running the
//! same ingest again resumes: what is stored is recognised as a duplicate
//! (the entry-id index, proven when the writer opens, refuses a stored id).
//!
//! Both passes keep every core busy: in the first, a platform JSONL file is
//! read on one thread and its lines sealed on others (`reading`); in the
//! second, the staged records are read back, parsed and hashed on one
//! thread while SQLite appends them on this one (`appending`).
//!
//! The common case, a single platform JSONL export (and no `--batch-size`),
//! goes in one pass (`one_pass`): the file read in append order, newest-first
//! exports backwards, appended in one transaction as it is read. At anything
//! unusual it rolls back, having committed nothing, and the two passes run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::archive::{self, ArchiveError, Offered, Rows, Writer};
use crate::checkpoint::Checkpoint;
use crate::job::Job;
use crate::json::MAX_RECORD_BYTES;
use crate::output::{Destination, Output, OutputError, Slot};
use crate::source::{Format, RecordError, SealedEntry, Source, SourceError};

mod appending;
pub mod export_records;
mod file_lines;
mod one_pass;
mod reading;
mod staging;
pub(crate) use one_pass::{OnePass, Route};
use reading::Item;
use staging::Staging;

/// Entries appended per transaction unless told otherwise. Each commit
/// rewrites every page of the entry-id index it touched (random ids land all
/// over it) and waits for two syncs, so small transactions cost far more
/// than the inserts: at a million entries, 20,000 per commit took 32 s where
/// 250,000 took 23 s. A crash still loses only the transaction under way,
/// and the same ingest run again resumes after the last commit.
pub const DEFAULT_BATCH: usize = 200_000;

/// How to treat bad records.
#[derive(Clone, Debug, Default)]
pub struct IngestOptions {
    /// Store the good records and write each rejected one to `rejects_path`.
    pub skip_invalid: bool,
    /// Where rejected records go (defaults to `ARCHIVE.rejects.jsonl`).
    pub rejects_path: Option<PathBuf>,
    /// Entries per transaction.
    pub batch_size: Option<usize>,
    /// Replace an existing rejects file (`--force`); never one that is evidence.
    pub force: bool,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub read: u64,
    pub added: u64,
    /// Entries already stored with identical content (overlapping exports).
    pub duplicates: u64,
    /// Entries whose id is stored with different content: kept out, recorded.
    pub conflicts: Vec<Conflict>,
    pub rejected: u64,
    pub rejects_path: Option<PathBuf>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub created: bool,
    /// The archive's log checkpoint once the ingest is done (no index
    /// roots: those cost five sorts of the whole archive; `auditlens
    /// checkpoint` adds them).
    pub checkpoint: Option<Checkpoint>,
    /// The archive's protective triggers another program had removed
    /// (`auditlens verify` warns of them too).
    pub missing_protections: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub entry_id: String,
    pub existing_seq: u64,
    pub source: String,
}

#[derive(Debug)]
pub enum IngestError {
    /// An input file could not be opened or recognised.
    Source(SourceError),
    /// A bad record (all-or-nothing mode): nothing was written.
    Record(RecordError),
    Archive(ArchiveError),
    /// The rejects file or the new archive was refused (or could not be written).
    Output(OutputError),
    Io(String),
    Cancelled,
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Source(e) => write!(f, "{e}"),
            // --skip-invalid skips a bad record, not a file that cannot be
            // read past one.
            IngestError::Record(e) if e.fatal => write!(
                f,
                "{e}; the file cannot be read past this point, so nothing was stored (fix or \
                 re-export the file)"
            ),
            IngestError::Record(e) => write!(
                f,
                "{e}; nothing was stored (fix the file, or pass --skip-invalid to store the good records)"
            ),
            IngestError::Archive(e) => write!(f, "{e}"),
            IngestError::Output(e) => write!(f, "{e}"),
            IngestError::Io(e) => f.write_str(e),
            IngestError::Cancelled => {
                f.write_str("cancelled; the archive holds what was committed before")
            }
        }
    }
}

impl std::error::Error for IngestError {}

impl From<ArchiveError> for IngestError {
    fn from(e: ArchiveError) -> Self {
        IngestError::Archive(e)
    }
}

impl From<OutputError> for IngestError {
    fn from(e: OutputError) -> Self {
        IngestError::Output(e)
    }
}

/// Ingests `files` into the archive at `archive_path`, creating it if absent.
pub fn ingest(
    archive_path: &Path,
    files: &[PathBuf],
    opts: &IngestOptions,
    job: &Job,
) -> Result<IngestReport, IngestError> {
    ingest_by(archive_path, files, opts, job, OnePass::WhereItApplies).map(|(report, _)| report)
}

/// [`ingest`], in one pass where it applies and `one_pass` allows it; and
/// which way it went.
pub(crate) fn ingest_by(
    archive_path: &Path,
    files: &[PathBuf],
    opts: &IngestOptions,
    job: &Job,
    one_pass: OnePass,
) -> Result<(IngestReport, Route), IngestError> {
    let mut report = IngestReport::default();
    let io_at = |e: std::io::Error| io(archive_path, e);

    // Refuse obviously wrong archive paths before reading anything.
    if archive_path.is_dir() {
        return Err(IngestError::Io(format!(
            "{} is a directory; give an archive file path",
            archive_path.display()
        )));
    }
    if let Some(why) = archive::not_a_regular_file(archive_path) {
        return Err(IngestError::Io(format!(
            "{why}; give an archive file path (a new archive is made where none exists)"
        )));
    }
    // What this ingest reads: its inputs, and the archive it appends to (or
    // creates: the rejects file must not take its name either).
    let mut reads = files.to_vec();
    reads.push(archive_path.to_path_buf());
    // A new archive is checked as an output before anything is read.
    let mut new_archive = None;
    if archive_path.exists() {
        // A killed ingest may have left a transaction to roll back.
        archive::finish_interrupted_write(archive_path)?;
        // Checks that it really is an archive, with a clear message if not.
        archive::Archive::open(archive_path)?;
    } else {
        let mut out = Output::reading(files);
        let slot = out.add_new(archive_path)?;
        new_archive = Some((out, slot));
    }
    // A single platform JSONL export, the common case, in one pass; where
    // it meets anything unusual, nothing is stored and the two passes run.
    let mut route = Route::TwoPasses;
    if one_pass == OnePass::WhereItApplies && one_pass::applies(files, opts) {
        match one_pass::ingest(archive_path, &files[0], job) {
            Ok(report) => return Ok((report, Route::OnePass)),
            Err(one_pass::GiveUp::Cancelled) => return Err(IngestError::Cancelled),
            Err(one_pass::GiveUp::Unusual) => route = Route::GaveUp,
        }
    }

    // Pass 1: read, validate, stage.
    let staging_dir = archive_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut staging = Staging::new(staging_dir).map_err(|e| {
        IngestError::Io(format!(
            "cannot create a staging file in {}: {e}",
            staging_dir.display()
        ))
    })?;
    let mut rejects: Option<(Output, BufWriter<File>)> = None;
    let rejects_path = opts
        .rejects_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.rejects.jsonl", archive_path.display())));
    // A bad record stops everything (all-or-nothing), or goes to the rejects file.
    let reject = |e: RecordError,
                  report: &mut IngestReport,
                  rejects: &mut Option<(Output, BufWriter<File>)>|
     -> Result<(), IngestError> {
        if e.fatal || !opts.skip_invalid {
            return Err(IngestError::Record(e));
        }
        report.rejected += 1;
        if rejects.is_none() {
            // Checked at the first reject, still before anything is written.
            let mut out = Output::reading(&reads);
            let slot = out.add(&Destination::cli(&rejects_path, opts.force))?;
            let f = out.create(slot)?;
            *rejects = Some((out, BufWriter::new(f)));
        }
        let line = serde_json::json!({
            "file": e.file.display().to_string(),
            "record": e.record,
            "line": e.line,
            "reason": e.message,
            "raw": e.raw,
        });
        if let Some((_, w)) = rejects.as_mut() {
            writeln!(w, "{line}").map_err(io_at)?;
        }
        Ok(())
    };
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    job.start_phase("reading", total_bytes);
    let mut source_names = Vec::new();
    for (source_index, path) in files.iter().enumerate() {
        if crate::source::detect(path).map_err(IngestError::Source)? == Format::Archive {
            return Err(IngestError::Source(SourceError(format!(
                "{} is an archive; ingest reads exports (export it first with `auditlens export`)",
                path.display()
            ))));
        }
        let src = Source::open(path).map_err(IngestError::Source)?;
        // What the archive records of this file (its coverage, see `coverage.rs`).
        source_names.push(archive::IngestedSource {
            file: path.display().to_string(),
            // Set once the file is read (`Source::sha256`).
            sha256: None,
            entries: Some(0),
            rejected: Some(0),
            window: None,
        });
        let this = source_names.last_mut().expect("just pushed");
        // Read and sealed on a thread of its own, staged here.
        this.sha256 = reading::read_all(src, |item, record| {
            if report.read.is_multiple_of(4096) {
                job.check().map_err(|_| IngestError::Cancelled)?;
            }
            match item {
                Item::Entry(rec) => {
                    if record.len() > MAX_RECORD_BYTES {
                        this.rejected = this.rejected.map(|n| n + 1);
                        return reject(too_large(path, &rec, record), &mut report, &mut rejects);
                    }
                    report.read += 1;
                    let t = rec.time.0;
                    this.entries = this.entries.map(|n| n + 1);
                    this.window = Some(this.window.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                    staging
                        .stage(t, rec.id, source_index as u32, record.as_bytes())
                        .map_err(io_at)
                }
                Item::Error(e) => {
                    if !e.fatal && opts.skip_invalid {
                        this.rejected = this.rejected.map(|n| n + 1);
                    }
                    reject(e, &mut report, &mut rejects)
                }
            }
        })?;
        job.add_done(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    }
    if let Some((out, mut w)) = rejects {
        w.flush().map_err(io_at)?;
        drop(w);
        out.commit()?;
        report.rejects_path = Some(rejects_path);
    }
    let total = staging.len();
    let sorted = staging.finish().map_err(io_at)?;

    // Pass 2: append.
    if !archive_path.exists() {
        let (out, slot) = match new_archive.take() {
            Some(planned) => planned,
            None => {
                let mut out = Output::reading(files);
                let slot = out.add_new(archive_path)?;
                (out, slot)
            }
        };
        report.created = create_archive(out, slot)?;
    }
    let mut archive = Writer::open(archive_path)?;
    report.missing_protections = archive.missing_protections().to_vec();
    let batch = opts.batch_size.unwrap_or(DEFAULT_BATCH).max(1);
    job.start_phase("appending", total);
    let (archive_id, next_seq) = (archive.archive_id(), archive.checkpoint().size + 1);
    std::thread::scope(|scope| {
        // Rows are read back, parsed and hashed on a thread of their own;
        // this one appends them.
        let mut prepared = appending::start(scope, sorted, archive_id, next_seq);
        let appended = Appended {
            files,
            archive_path,
            batch,
            job,
            progress: true,
        };
        appended.append(&mut archive, &mut prepared, &mut report, |_| {
            Ok(source_names)
        })
    })?;
    report.checkpoint = Some(archive.checkpoint());
    Ok((report, route))
}

/// Pass 2's writing: what the preparer hands over, appended in
/// transactions of `batch` entries, the run recorded with the last.
struct Appended<'a> {
    files: &'a [PathBuf],
    archive_path: &'a Path,
    batch: usize,
    job: &'a Job,
    /// Whether the job's progress counts the entries appended (the one
    /// pass counts the bytes read instead).
    progress: bool,
}

impl Appended<'_> {
    /// Appends every row `prepared` hands over, counting them in `report`;
    /// `sources` says what the run read once the last row is appended,
    /// before the last transaction commits (an error there rolls it back).
    fn append(
        &self,
        archive: &mut Writer,
        prepared: &mut appending::Prepared,
        report: &mut IngestReport,
        sources: impl FnOnce(&mut IngestReport) -> Result<Vec<archive::IngestedSource>, IngestError>,
    ) -> Result<(), IngestError> {
        let (files, job, batch) = (self.files, self.job, self.batch);
        let mut sources = Some(sources);
        let mut rows: Option<Rows> = None;
        let (mut at, mut not_appended) = (0usize, 0u64);
        let mut done = 0u64;
        loop {
            job.check().map_err(|_| IngestError::Cancelled)?;
            let mut tx = archive.batch()?;
            let mut in_batch = 0usize;
            let mut finished = false;
            loop {
                if rows.as_ref().is_none_or(|r| at == r.len()) {
                    if let Some(r) = rows.take() {
                        prepared.give_back(r, std::mem::take(&mut not_appended));
                    }
                    match prepared.next() {
                        Some(Ok(r)) => (rows, at) = (Some(r), 0),
                        Some(Err(f)) => return Err(failure(self.archive_path, f)),
                        None => {
                            finished = true;
                            break;
                        }
                    }
                    // Dropped uncommitted, the batch is rolled back.
                    job.check().map_err(|_| IngestError::Cancelled)?;
                }
                if in_batch == batch {
                    break;
                }
                let Some(r) = rows.as_ref() else { break };
                let n = (batch - in_batch).min(r.len() - at);
                let mut conflicts = Vec::new();
                tx.append_rows(r, at..at + n, |i, offered| match offered {
                    Offered::Appended(seq) => {
                        report.added += 1;
                        report.first_seq.get_or_insert(seq);
                        report.last_seq = Some(seq);
                    }
                    Offered::Stored {
                        record: existing, ..
                    } if existing == r.record(i) => {
                        report.duplicates += 1;
                        not_appended += 1;
                    }
                    Offered::Stored { seq, .. } => {
                        not_appended += 1;
                        conflicts.push((i, seq));
                    }
                })?;
                for (i, seq) in conflicts {
                    let source = files[r.tag(i) as usize].display().to_string();
                    tx.record_conflict(r.entry_id(i), seq, r.record(i), &source)?;
                    report.conflicts.push(Conflict {
                        entry_id: r.entry_id(i).to_string(),
                        existing_seq: seq,
                        source,
                    });
                }
                (in_batch, at) = (in_batch + n, at + n);
            }
            if finished {
                // The run is recorded with the last entries (alone when
                // nothing was staged, so that the archive shows the files
                // were seen).
                let sources = sources.take().map_or(Ok(Vec::new()), |f| f(report))?;
                tx.record_run(
                    &sources,
                    report.added,
                    report.duplicates,
                    report.conflicts.len() as u64,
                    report.first_seq.zip(report.last_seq),
                )?;
            }
            tx.commit()?;
            done += in_batch as u64;
            if self.progress {
                job.set_done(done);
            }
            if finished {
                return Ok(());
            }
        }
    }
}

/// The error for an entry whose canonical record is over [`MAX_RECORD_BYTES`]:
/// an export line carrying it could not be read back.
fn too_large(path: &Path, rec: &SealedEntry, record: &str) -> RecordError {
    RecordError {
        file: path.to_path_buf(),
        record: rec.record,
        line: rec.line,
        message: format!(
            "entry {:?}: its record is {} bytes, more than the {MAX_RECORD_BYTES} bytes \
             auditlens accepts for one entry (16 MiB less room for the export framing, so \
             that every export of it can be read back)",
            rec.id,
            record.len()
        ),
        raw: Some(record.to_string()),
        fatal: false,
        chain: None,
    }
}

/// The error for a staged entry that could not be made ready to append.
fn failure(archive: &Path, f: appending::Failure) -> IngestError {
    match f {
        appending::Failure::Io(e) => io(archive, e),
        appending::Failure::Record(why) => IngestError::Archive(ArchiveError(format!(
            "{}: a record to append is not a canonical record ({why})",
            archive.display()
        ))),
        // Only the one pass stops so, and it then runs the two passes.
        appending::Failure::Unusual => IngestError::Io(format!(
            "{}: the input was not in append order",
            archive.display()
        )),
    }
}

/// Builds a new, empty archive in the output's staging folder and renames it
/// into place. `false` when another ingest created it meanwhile: this one
/// then appends to it like to any existing archive.
fn create_archive(mut out: Output, slot: Slot) -> Result<bool, IngestError> {
    archive::initialise(&out.staged_path(slot)?)?;
    match out.commit() {
        Ok(_) => Ok(true),
        Err(OutputError::ExistsNever { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// An I/O error while staging or appending, named by the archive it was for
/// and, where the cause is known, what to do about it.
fn io(archive: &Path, e: std::io::Error) -> IngestError {
    let what = match e.raw_os_error() {
        Some(28) => "the disk is full (the staging file is written beside the archive); \
             nothing after the last commit was stored. Free space and run the same ingest \
             again: it resumes"
            .to_string(),
        Some(27) => "a file-size limit was reached (ulimit -f); nothing after the last commit \
             was stored. Raise the limit and run the same ingest again: it resumes"
            .to_string(),
        _ => e.to_string(),
    };
    IngestError::Io(format!("{}: {what}", archive.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{PlatformFormat, Profile, Sample, write_platform};

    /// The checkpoint ingest computes as it appends is the one the archive
    /// gives when read back: for a new archive, for an append (the stored
    /// leaves read at open, then the new ones), and for a run that adds
    /// nothing but duplicates.
    #[test]
    fn the_reported_checkpoint_is_the_archives() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, n: u64, seed: u64| {
            let p = dir.path().join(name);
            let s = Sample::new(n, seed).with_profile(Profile::Platform);
            write_platform(&s, PlatformFormat::Jsonl, File::create(&p).unwrap()).unwrap();
            p
        };
        let (first, second) = (write("a.jsonl", 300, 1), write("b.jsonl", 200, 2));
        let path = dir.path().join("a.sqlite");
        let opts = IngestOptions {
            batch_size: Some(70),
            ..IngestOptions::default()
        };
        for (files, added) in [
            (vec![first.clone()], 300),
            (vec![second, first], 200),
            (vec![dir.path().join("a.jsonl")], 0),
        ] {
            let report = ingest(&path, &files, &opts, &Job::new()).unwrap();
            assert_eq!(report.added, added);
            let stored = archive::Archive::open(&path).unwrap().checkpoint().unwrap();
            assert_eq!(report.checkpoint, Some(stored));
        }
        assert_eq!(report_size(&path), 500);
    }

    /// Rows are hashed ahead for the seq each is expected to take; where
    /// stored ids, ids repeated in the input and a conflict shift the seqs
    /// (in the middle of batches and of transactions), each entry is still
    /// hashed and chained for the seq it took: the archive verifies intact,
    /// holds every distinct entry once, and the conflict is recorded.
    #[test]
    fn entries_around_stored_and_repeated_ids_chain_at_their_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let all = dir.path().join("all.jsonl");
        let sample = Sample::new(900, 5).with_profile(Profile::Platform);
        write_platform(&sample, PlatformFormat::Jsonl, File::create(&all).unwrap()).unwrap();
        let lines: Vec<String> = std::fs::read_to_string(&all)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let write = |name: &str, lines: &[String]| {
            let p = dir.path().join(name);
            std::fs::write(&p, lines.join("\n") + "\n").unwrap();
            p
        };
        let every_third: Vec<String> = lines.iter().step_by(3).cloned().collect();
        let mut second = lines.clone();
        // Repeated in the input, and one stored id with other content.
        second.extend(lines.iter().skip(1).step_by(7).cloned());
        let changed = lines[3].replacen("\"resourceId\":\"", "\"resourceId\":\"changed-", 1);
        assert_ne!(changed, lines[3]);
        second.push(changed);
        let (first, second) = (write("a.jsonl", &every_third), write("b.jsonl", &second));
        let path = dir.path().join("a.sqlite");
        let opts = IngestOptions {
            batch_size: Some(50),
            ..IngestOptions::default()
        };
        let report = ingest(&path, &[first], &opts, &Job::new()).unwrap();
        assert_eq!(report.added, 300);
        let report = ingest(&path, &[second], &opts, &Job::new()).unwrap();
        assert_eq!(report.added, 600);
        assert_eq!((report.first_seq, report.last_seq), (Some(301), Some(900)));
        assert_eq!(report.duplicates, 300 + 129);
        assert_eq!(report.conflicts.len(), 1);
        assert!(report.conflicts[0].existing_seq <= 300);
        let archive = archive::Archive::open(&path).unwrap();
        let verified = crate::verify::verify_archive(&archive, None, &Job::new()).unwrap();
        // Older entries appended after newer ones are a warning, nothing more.
        assert_eq!(
            verified.status(),
            crate::verify::Status::Intact,
            "{:?}",
            verified.findings
        );
        assert_eq!(verified.entries, 900);
        assert_eq!(report.checkpoint, Some(archive.checkpoint().unwrap()));
    }

    fn report_size(path: &Path) -> u64 {
        archive::Archive::open(path).unwrap().count().unwrap()
    }

    /// The same entries from the platform's JSONL (read on the fast path),
    /// its JSON array and its CSV (read on the general path) are stored as
    /// the same records, and each run names its file's SHA-256, hashed while
    /// the file was read.
    #[test]
    fn every_platform_format_stores_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let sample = Sample::new(700, 3).with_profile(Profile::Platform);
        let mut stored = Vec::new();
        for (name, format) in [
            ("in.jsonl", PlatformFormat::Jsonl),
            ("in.json", PlatformFormat::Json),
            ("in.csv", PlatformFormat::Csv),
        ] {
            let input = dir.path().join(name);
            write_platform(&sample, format, File::create(&input).unwrap()).unwrap();
            let path = dir.path().join(format!("{name}.sqlite"));
            let opts = IngestOptions::default();
            let report = ingest(&path, std::slice::from_ref(&input), &opts, &Job::new()).unwrap();
            assert_eq!((report.read, report.added), (700, 700), "{name}");
            let archive = archive::Archive::open(&path).unwrap();
            let runs = archive.ingest_runs().unwrap();
            assert_eq!(
                runs[0].sources[0].sha256,
                Some(crate::digest::file_sha256(&input).unwrap()),
                "{name}"
            );
            let mut records = Vec::new();
            archive
                .for_each_record(|_, r| records.push(r.to_vec()))
                .unwrap();
            stored.push(records);
        }
        assert_eq!(stored[0], stored[1]);
        assert_eq!(stored[0], stored[2]);
    }
}

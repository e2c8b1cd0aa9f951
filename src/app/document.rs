//! The open file and what is known about it: its archive, row index, text
//! index, verification, pattern hits and case notes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlens_core::archive::Archive;
use auditlens_core::case::{CaseFile, case_path};
use auditlens_core::job::Job;
use auditlens_core::patterns::ScanReport;
use auditlens_core::proof::SignedCheckpoint;
use auditlens_core::row_index::Index;
use auditlens_core::source::{self, Format};
use auditlens_core::verify::AnchorInfo;
use auditlens_core::verify::{Finding, Report};

/// Where verification of the open file stands.
pub enum VerifyState {
    Running(Arc<Job>),
    Done(Box<Report>),
    Failed(String),
    Cancelled,
    /// A raw platform export: nothing to verify.
    Unsealed,
}

pub struct Document {
    /// The file the person opened.
    pub path: PathBuf,
    pub format: Option<Format>,
    /// The archive read for display (the file itself, or a temporary archive).
    pub archive_path: Option<PathBuf>,
    pub unsealed: bool,
    pub(crate) temp: Option<tempfile::TempDir>,
    /// The read handle for the rows on screen and the selected entry (lent
    /// to the read task while it runs).
    pub archive: Option<Archive>,
    /// Why the archive could not be opened for reading rows, if so.
    pub read_error: Option<String>,
    pub index: Option<Arc<Index>>,
    /// Progress of opening and loading the index.
    pub load_job: Arc<Job>,
    /// The free-text index (the sidecar or in memory), found or built after
    /// `index`; searches read the records until then.
    pub search: Option<Arc<crate::app::text_index::TextIndex>>,
    /// The search sidecar's file check (open and hash), started at open so
    /// that it runs while the row index loads; taken by the text index.
    pub sidecar_check: Option<crate::app::text_index::SidecarCheck>,
    pub sha256: Option<String>,
    pub verify: VerifyState,
    pub checkpoint: Option<SignedCheckpoint>,
    /// The checkpoint the last verification was anchored to (loaded, or the export's own).
    pub anchor: Option<AnchorInfo>,
    pub finding_seqs: HashSet<u64>,
    /// Entries showing the patterns to watch, found after the index.
    pub patterns: Option<Arc<ScanReport>>,
    /// Bookmarks, tags and notes, kept beside the archive (sealed archives only).
    pub case: Option<CaseFile>,
    /// The files ingested and the holes (sealed archives, after the index).
    pub coverage: Option<Arc<auditlens_core::coverage::Coverage>>,
    /// Verification starts once the row index is complete
    /// ([`crate::app::AppState`]'s `verify_after_index`).
    pub verify_after_index: bool,
}

impl Document {
    /// A document whose file is being opened.
    pub fn opening(path: PathBuf, load_job: Arc<Job>) -> Document {
        Document {
            path,
            format: None,
            archive_path: None,
            unsealed: false,
            temp: None,
            archive: None,
            read_error: None,
            index: None,
            load_job,
            search: None,
            sidecar_check: None,
            sha256: None,
            verify: VerifyState::Running(Arc::new(Job::new())),
            checkpoint: None,
            anchor: None,
            finding_seqs: HashSet::new(),
            patterns: None,
            case: None,
            coverage: None,
            verify_after_index: false,
        }
    }

    /// The whole index is loaded (filters, sorting and export work).
    pub fn index_complete(&self) -> bool {
        self.index.as_ref().is_some_and(|i| i.complete)
    }

    /// A sealed auditlens archive (not an export, not a raw platform export):
    /// case notes and the report need one.
    pub fn is_sealed_archive(&self) -> bool {
        !self.unsealed && self.format == Some(Format::Archive)
    }

    /// The findings of the last verification about entry `seq`.
    pub fn findings_of(&self, seq: u64) -> impl Iterator<Item = &Finding> {
        let findings: &[Finding] = match &self.verify {
            VerifyState::Done(r) if self.finding_seqs.contains(&seq) => &r.findings,
            _ => &[],
        };
        findings.iter().filter(move |f| f.seq == Some(seq))
    }

    /// Takes in what the open task found.
    pub fn opened(&mut self, o: Opened) {
        self.format = Some(o.format);
        self.unsealed = !o.format.has_chain();
        self.temp = o.temp;
        self.archive = Some(o.archive);
        self.archive_path = Some(o.archive_path);
        self.case = o.case;
    }
}

/// What opening a file found (the open task's result).
pub struct Opened {
    pub format: Format,
    /// The archive read for display.
    pub archive_path: PathBuf,
    /// The temporary folder of the archive a platform export was sealed into.
    pub temp: Option<tempfile::TempDir>,
    /// A read handle on it, for the rows on screen and the selected entry.
    pub archive: Archive,
    /// The case notes beside a sealed archive, if any.
    pub case: Option<CaseFile>,
    /// Why the case notes could not be read, if so.
    pub case_error: Option<String>,
}

/// Opens `path` (on a worker): detects its format, seals a platform export
/// into a temporary archive, and reads the case notes beside an archive.
pub fn open_file(path: &Path, job: &Job) -> Result<Opened, String> {
    let format = source::detect(path).map_err(|e| e.0)?;
    let (archive_path, temp) = if format == Format::Archive {
        (path.to_path_buf(), None)
    } else {
        job.start_phase("reading export", 0);
        let dir = tempfile::Builder::new()
            .prefix("auditlens-view")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let archive_path = dir.path().join("unsealed.sqlite");
        let opts = auditlens_core::ingest::IngestOptions::default();
        auditlens_core::ingest::ingest(
            &archive_path,
            std::slice::from_ref(&path.to_path_buf()),
            &opts,
            job,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        (archive_path, Some(dir))
    };
    // The read handle serves rows and entries for as long as the file is
    // open: plain reads keep what scrolling touched out of resident memory.
    let archive = auditlens_core::row_index::open_unmapped(&archive_path)?;
    let (case, case_error) = if format == Format::Archive && format.has_chain() {
        match CaseFile::load(&case_path(path), archive.id()) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    Ok(Opened {
        format,
        archive_path,
        temp,
        archive,
        case,
        case_error,
    })
}

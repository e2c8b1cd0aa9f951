//! The sealed archive: one SQLite file (schema in docs/FORMAT.md), and the
//! only code in auditlens that speaks SQL.
//!
//! * [`Archive`] reads, never writing: no journal, no WAL, no change of bytes
//!   or mtime. Every reader of entries goes through its typed scan (`read`),
//!   which never lets a SQLite index decide which entries exist.
//! * [`Writer`] appends, inside transactions (`write`); triggers refuse
//!   UPDATE and DELETE on the entries.
//! * `schema` holds the schema and reads it and the indexes; `index_check`
//!   proves that an index agrees with its table.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::chain::{ArchiveId, Hash};
use crate::json;
use crate::model::Entry;

pub const FORMAT_NAME: &str = "auditlens-archive";
pub const FORMAT_VERSION: &str = "1";

mod index_check;
mod read;
mod records_at;
mod schema;
pub mod search_sidecar;
mod write;

pub use index_check::{
    BOOK_MEMORY, IndexProblem, IndexProblemKind, IndexProblems, KeyBook, KeyHasher, KeyWord,
};
pub use read::IngestRun;
pub use read::{Cell, Column, Columns, Row, Scan, ScanCursor, ScanRows};
pub use schema::{INDEXES, KnownIndex, MAX_KEY, PROTECTIVE, SCHEMA, SchemaObject, expected_schema};
pub use write::{
    APPLICATION_ID, Batch, IngestedSource, Offered, Rows, Writer, finish_interrupted_write,
    initialise,
};

/// An error about an archive file, worded for the person who picked it.
#[derive(Debug)]
pub struct ArchiveError(pub String);

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArchiveError {}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

fn db_error(path: &Path, e: rusqlite::Error) -> ArchiveError {
    let detail = match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                "the archive is locked by another program; wait for it to finish and try again"
                    .to_string()
            }
            rusqlite::ErrorCode::ReadOnly => {
                "the archive is read-only here (or has an unfinished ingest that needs a writable \
                 file to roll back): run `auditlens ingest` on a writable copy"
                    .to_string()
            }
            rusqlite::ErrorCode::DiskFull => {
                "the disk is full; nothing after the last commit was stored. Free space and run \
                 the same ingest again: it resumes"
                    .to_string()
            }
            rusqlite::ErrorCode::NotADatabase => "the file is not a SQLite database".to_string(),
            rusqlite::ErrorCode::DatabaseCorrupt => "the SQLite file is damaged".to_string(),
            _ => msg.clone().unwrap_or_else(|| e.to_string()),
        },
        _ => e.to_string(),
    };
    ArchiveError(format!("{}: {detail}", path.display()))
}

/// SQLITE_READONLY_ROLLBACK: the file has a hot journal (a write that was
/// interrupted) which a read-only connection may not roll back.
const READONLY_ROLLBACK: i32 = 776;

/// Whether the file has a hot journal; a lock that outlasts the busy timeout
/// (a writer committing) is returned as the error it is.
fn has_hot_journal(conn: &Connection) -> rusqlite::Result<bool> {
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.extended_code == READONLY_ROLLBACK => {
            Ok(true)
        }
        Err(e) if is_busy(&e) => Err(e),
        _ => Ok(false),
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn companion_path(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Why a SQLite file cannot be read as its bytes stand without writing
/// beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unsettled {
    /// An ingest killed mid-transaction left a hot journal to roll back.
    HotJournal,
    /// Another program switched the file to write-ahead logging (auditlens
    /// never does): SQLite reads it through its `-wal` file and writes a
    /// `-shm` index (and an empty `-wal`) beside it to do so.
    Wal,
}

/// Whether SQLite would read `path` through a write-ahead log: its header
/// says so (bytes 18 and 19 are 2), or a `-wal` file lies beside it.
fn uses_wal(path: &Path) -> bool {
    let mut header = [0u8; 20];
    let wal_header = File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header[18] == 2 || header[19] == 2);
    wal_header || companion_path(path, "-wal").exists()
}

/// Reading must never write beside the evidence, but two states of a SQLite
/// file ([`Unsettled`]) can only be read by writing. So the file and its
/// companion (the journal or the `-wal` file) are copied into a temporary
/// directory, SQLite settles the copy (rolls the journal back, or applies
/// the log and leaves WAL mode), and the copy is read instead.
fn settled_copy(path: &Path, why: Unsettled) -> Result<tempfile::TempDir> {
    let fail = |e: std::io::Error| {
        ArchiveError(match why {
            Unsettled::HotJournal => format!(
                "{}: an interrupted ingest left the archive mid-write, and a copy to roll back \
                 could not be made ({e}); run `auditlens ingest` on it to finish the roll-back",
                path.display()
            ),
            Unsettled::Wal => format!(
                "{}: another program switched the archive to write-ahead logging (WAL), which \
                 SQLite reads only by writing beside the file; a copy to read instead could not \
                 be made ({e}): make room in the temporary folder, or verify a copy",
                path.display()
            ),
        })
    };
    let dir = tempfile::tempdir().map_err(fail)?;
    let copy = dir.path().join("archive.sqlite");
    std::fs::copy(path, &copy).map_err(fail)?;
    let settle = match why {
        Unsettled::HotJournal => {
            let journal = companion_path(path, "-journal");
            std::fs::copy(journal, companion_path(&copy, "-journal")).map_err(fail)?;
            "SELECT count(*) FROM sqlite_master"
        }
        Unsettled::Wal => {
            let wal = companion_path(path, "-wal");
            if wal.exists() {
                std::fs::copy(wal, companion_path(&copy, "-wal")).map_err(fail)?;
            }
            // Applies the log to the copy, as any SQLite reader would see it.
            "PRAGMA journal_mode = DELETE"
        }
    };
    let rw = Connection::open(&copy).map_err(|e| db_error(path, e))?;
    rw.query_row(settle, [], |_| Ok(()))
        .map_err(|e| db_error(path, e))?;
    Ok(dir)
}

/// A read-only connection on `file`, set up for reading (`path` names the
/// archive in errors). No memory map: the pages a map touches count as the
/// process's resident memory, and the kernel maps in a window around each
/// one (6,000 scattered rows of a 1M-entry archive added 310 MB); reads go
/// through a 32 MiB page cache, which a pass over much of the file turns
/// down ([`Archive::read_streaming`]).
fn open_read_only(file: &Path, path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(path, e))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA mmap_size = 0; PRAGMA cache_size = -32768;")
        .map_err(|e| db_error(path, e))?;
    Ok(conn)
}

/// Why `path`, which exists, cannot be read as auditlens reads files: it is
/// not a regular file but a pipe, socket or device (or a folder). Opening a
/// pipe waits for a writer, and its bytes come only once, where every file
/// is read more than once. `None` for a regular file or a missing path.
pub fn not_a_regular_file(path: &Path) -> Option<String> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| !m.is_file())
        .map(|_| {
            format!(
                "{} is not a regular file (a pipe, socket or device)",
                path.display()
            )
        })
}

/// What to say of an input `path` that does not exist. Many tools read
/// standard input for "-"; auditlens reads each file more than once.
pub fn no_such_file(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "no such file (standard input, which some tools call \"-\", cannot be read: \
         auditlens reads a file more than once, to detect its format, read and hash it; \
         save it to a file first)"
            .into()
    } else {
        "no such file".into()
    }
}

/// Is this file a SQLite database (by its 16-byte magic header)?
pub fn is_sqlite_file(path: &Path) -> bool {
    // Opening a pipe would wait for a writer, and reading it would take
    // bytes that are then gone.
    if not_a_regular_file(path).is_some() {
        return false;
    }
    let mut magic = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| &magic == b"SQLite format 3\0")
        .unwrap_or(false)
}

/// The denormalised columns kept beside each record for fast filtering.
/// They are derived from the record only, and verification re-derives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexColumns {
    pub entry_id: String,
    pub time_ms: i64,
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub actor_label: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub project_id: Option<String>,
    pub org_id: Option<String>,
    pub ip_address: Option<String>,
}

/// Column names in the order of [`IndexColumns::values`].
pub const INDEX_COLUMN_NAMES: [&str; 11] = [
    "entry_id",
    "time_ms",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "resource_type",
    "resource_id",
    "project_id",
    "org_id",
    "ip_address",
];

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl IndexColumns {
    pub fn from_entry(e: &Entry) -> IndexColumns {
        IndexColumns {
            entry_id: e.id.clone(),
            time_ms: e.time.0,
            actor_type: e.actor.actor_type.as_ref().map(|t| t.as_str().to_string()),
            actor_id: non_empty(e.actor.key()),
            actor_label: non_empty(e.actor.label()),
            action: e.action.clone(),
            resource_type: e.resource_type.clone(),
            resource_id: e.resource_id.clone(),
            project_id: e.project_id.clone(),
            org_id: e.org_id.clone(),
            ip_address: e.ip_address.clone(),
        }
    }

    /// Each column as text, for comparisons and messages (`None` = SQL NULL).
    pub fn values(&self) -> [Option<String>; 11] {
        [
            Some(self.entry_id.clone()),
            Some(self.time_ms.to_string()),
            self.actor_type.clone(),
            self.actor_id.clone(),
            self.actor_label.clone(),
            Some(self.action.clone()),
            Some(self.resource_type.clone()),
            Some(self.resource_id.clone()),
            self.project_id.clone(),
            self.org_id.clone(),
            self.ip_address.clone(),
        ]
    }
}

/// Parses a stored record's bytes into an entry.
pub fn parse_record(bytes: &[u8]) -> Result<Entry, String> {
    let j = json::parse(bytes).map_err(|e| format!("record is not valid JSON ({e})"))?;
    Entry::from_record(&j)
}

/// A read-only handle on an archive.
pub struct Archive {
    /// The scans' prepared statements: before `conn`, so finalized before
    /// it closes.
    stmts: read::Statements,
    conn: Connection,
    path: PathBuf,
    /// The file read: `path`, or its settled copy.
    read_path: PathBuf,
    id: ArchiveId,
    meta: Vec<(String, String)>,
    /// Set when the file could only be read by writing beside it: it is then
    /// read from a settled copy in this directory (see [`settled_copy`]).
    settled_copy: Option<(Unsettled, tempfile::TempDir)>,
}

impl Archive {
    /// Opens an archive for reading. Never writes to the file.
    pub fn open(path: &Path) -> Result<Archive> {
        if path.is_dir() {
            return Err(ArchiveError(format!(
                "{} is a directory, not an archive file",
                path.display()
            )));
        }
        if !path.exists() {
            return Err(ArchiveError(format!(
                "{}: {}",
                path.display(),
                no_such_file(path)
            )));
        }
        if let Some(why) = not_a_regular_file(path) {
            return Err(ArchiveError(format!("{why}, not an archive file")));
        }
        if !is_sqlite_file(path) {
            return Err(ArchiveError(format!(
                "{} is not an auditlens archive (not a SQLite file)",
                path.display()
            )));
        }
        if search_sidecar::is_sidecar_file(path) {
            return Err(ArchiveError(format!(
                "{} is the viewer's search index of an archive, not an archive (nor evidence); \
                 give the archive itself (the same name without {:?})",
                path.display(),
                search_sidecar::SUFFIX
            )));
        }
        // Checked before SQLite reads the file: its first read of a file in
        // WAL mode writes beside it.
        let unsettled = if uses_wal(path) {
            Some(Unsettled::Wal)
        } else {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| db_error(path, e))?;
            // Readers wait up to rusqlite's default busy timeout (5 s) for a
            // writer's EXCLUSIVE lock (held only while it commits); a writer's
            // open transaction (RESERVED) does not stop them.
            has_hot_journal(&conn)
                .map_err(|e| db_error(path, e))?
                .then_some(Unsettled::HotJournal)
        };
        let settled_copy = unsettled
            .map(|why| settled_copy(path, why).map(|dir| (why, dir)))
            .transpose()?;
        let read_path = match &settled_copy {
            Some((_, dir)) => dir.path().join("archive.sqlite"),
            None => path.to_path_buf(),
        };
        let conn = open_read_only(&read_path, path)?;
        let meta = read_meta(&conn).map_err(|e| {
            if is_busy(&e) {
                return db_error(path, e);
            }
            ArchiveError(format!(
                "{} is a SQLite file but not an auditlens archive (it has no meta table)",
                path.display()
            ))
        })?;
        let get = |k: &str| {
            meta.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        if get("format").as_deref() != Some(FORMAT_NAME) {
            return Err(ArchiveError(format!(
                "{} is a SQLite file but not an auditlens archive (meta.format is not {FORMAT_NAME:?})",
                path.display()
            )));
        }
        let version = get("format_version").unwrap_or_default();
        if version != FORMAT_VERSION {
            return Err(ArchiveError(format!(
                "{} uses archive format version {version:?}; this auditlens reads version {FORMAT_VERSION}. \
                 Use a newer auditlens.",
                path.display()
            )));
        }
        let id = get("archive_id")
            .and_then(|s| ArchiveId::parse(&s))
            .ok_or_else(|| {
                ArchiveError(format!(
                    "{}: meta.archive_id is missing or malformed",
                    path.display()
                ))
            })?;
        let archive = Archive {
            stmts: Default::default(),
            conn,
            path: path.to_path_buf(),
            read_path,
            id,
            meta,
            settled_copy,
        };
        // Without its columns no entry can be read: said once, here, rather
        // than as SQLite's "no such column" by whatever reads first.
        let missing = archive.missing_entry_columns()?;
        if !missing.is_empty() {
            let what = if missing.len() == 1 + Column::ALL.len() {
                "the archive has no entries table".to_string()
            } else {
                format!(
                    "the archive's entries table lacks the column(s) {} that auditlens makes",
                    missing.join(", ")
                )
            };
            return Err(ArchiveError(format!(
                "{}: {what}: another program changed its schema (`sqlite3 ARCHIVE .schema` shows \
                 it), so its entries cannot be read; use a copy kept elsewhere",
                path.display()
            )));
        }
        Ok(archive)
    }

    /// Sets this handle up for a pass over much of the file, from here on:
    /// a small page cache (a pass reads each page once, so the default 32 MiB
    /// only adds memory, and the viewer runs several passes at once: index,
    /// verification, scan), and no memory map (in case one was set).
    pub fn read_streaming(&self) -> Result<()> {
        self.conn
            .execute_batch(&format!(
                "PRAGMA mmap_size = 0; PRAGMA cache_size = -{};",
                read::STREAMING_CACHE_KIB
            ))
            .map_err(|e| self.err(e))
    }

    /// Whether an interrupted ingest had left the file mid-write, so what is
    /// read is its last committed state, from a rolled-back copy.
    pub fn interrupted_write(&self) -> bool {
        matches!(self.settled_copy, Some((Unsettled::HotJournal, _)))
    }

    /// Whether another program had switched the file to write-ahead logging,
    /// so what is read is the file with its `-wal` file applied (as SQLite
    /// reads it), from a copy.
    pub fn read_through_wal(&self) -> bool {
        matches!(self.settled_copy, Some((Unsettled::Wal, _)))
    }

    pub fn id(&self) -> ArchiveId {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self) -> &[(String, String)] {
        &self.meta
    }

    /// Another read-only handle on the same file (on the rolled-back copy,
    /// when there is one), for a worker thread: a SQLite connection serves
    /// one thread at a time.
    pub fn another_reader(&self) -> Result<Archive> {
        let conn = open_read_only(&self.read_path, &self.path)?;
        Ok(Archive {
            stmts: Default::default(),
            conn,
            path: self.path.clone(),
            read_path: self.read_path.clone(),
            id: self.id,
            meta: self.meta.clone(),
            settled_copy: None,
        })
    }

    fn err(&self, e: rusqlite::Error) -> ArchiveError {
        db_error(&self.path, e)
    }
}

/// An entry together with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: u64,
    pub entry: Entry,
    pub leaf_hash: Hash,
    pub chain_hash: Hash,
}

fn read_meta(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT key, value FROM meta ORDER BY key")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Archive errors where a caller's error is a plain message.
impl From<ArchiveError> for String {
    fn from(e: ArchiveError) -> String {
        e.0
    }
}

//! The sealed archive: one SQLite file (schema in docs/FORMAT.md).
//!
//! Readers open it read-only and never write: no journal, no WAL, no change
//! of bytes or mtime. Writers only append, inside transactions, and triggers
//! refuse UPDATE and DELETE on the entries.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::chain::{self, ArchiveId, Hash, MerkleBuilder};
use crate::checkpoint::Checkpoint;
use crate::json;
use crate::model::Entry;

pub const FORMAT_NAME: &str = "auditlens-archive";
pub const FORMAT_VERSION: &str = "1";

/// The tables, indexes and triggers of a new archive. The trigger and index
/// names are checked by verification.
pub const SCHEMA: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE entries (
    seq           INTEGER PRIMARY KEY,
    record        TEXT NOT NULL,
    leaf_hash     BLOB NOT NULL,
    chain_hash    BLOB NOT NULL,
    entry_id      TEXT NOT NULL,
    time_ms       INTEGER NOT NULL,
    actor_type    TEXT,
    actor_id      TEXT,
    actor_label   TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    project_id    TEXT,
    org_id        TEXT,
    ip_address    TEXT
);
CREATE UNIQUE INDEX entries_entry_id ON entries(entry_id);
CREATE INDEX entries_time ON entries(time_ms);
CREATE TABLE ingests (
    run           INTEGER PRIMARY KEY,
    finished_at   TEXT NOT NULL,
    sources       TEXT NOT NULL,
    added         INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    conflicts     INTEGER NOT NULL,
    first_seq     INTEGER,
    last_seq      INTEGER
);
CREATE TABLE conflicts (
    entry_id      TEXT NOT NULL,
    existing_seq  INTEGER NOT NULL,
    record        TEXT NOT NULL,
    source        TEXT NOT NULL,
    UNIQUE(entry_id, record)
);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'auditlens: archive entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'auditlens: archive entries are append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'auditlens: archive metadata is fixed'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'auditlens: archive metadata is fixed'); END;
"#;

/// The triggers whose absence verification reports.
pub const PROTECTIVE_TRIGGERS: [&str; 4] = [
    "entries_no_update",
    "entries_no_delete",
    "meta_no_update",
    "meta_no_delete",
];

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

pub(crate) fn db_error(path: &Path, e: rusqlite::Error) -> ArchiveError {
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

fn journal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-journal");
    PathBuf::from(p)
}

/// Reading must never write to the archive, but an archive whose ingest was
/// killed mid-transaction can only be read once its journal is rolled back.
/// So the file and its journal are copied, the copy is rolled back (SQLite
/// does that on first read), and the copy is read instead.
fn open_rolled_back_copy(path: &Path) -> Result<(Connection, tempfile::TempDir)> {
    let fail = |e: std::io::Error| {
        ArchiveError(format!(
            "{}: an interrupted ingest left the archive mid-write, and a copy to roll back              could not be made ({e}); run `auditlens ingest` on it to finish the roll-back",
            path.display()
        ))
    };
    let dir = tempfile::tempdir().map_err(fail)?;
    let copy = dir.path().join("archive.sqlite");
    std::fs::copy(path, &copy).map_err(fail)?;
    std::fs::copy(journal_path(path), journal_path(&copy)).map_err(fail)?;
    {
        let rw = Connection::open(&copy).map_err(|e| db_error(path, e))?;
        rw.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| db_error(path, e))?;
    }
    let conn = Connection::open_with_flags(
        &copy,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(path, e))?;
    Ok((conn, dir))
}

/// Rolls back what an interrupted ingest left unfinished, in place: for the
/// writer, which may change the file.
pub fn finish_interrupted_write(path: &Path) -> Result<()> {
    if !is_sqlite_file(path) || !journal_path(path).exists() {
        return Ok(());
    }
    let rw = Connection::open(path).map_err(|e| db_error(path, e))?;
    rw.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| db_error(path, e))?;
    Ok(())
}

/// A column read as raw bytes whether SQLite holds it as TEXT or BLOB (a
/// tampered file may hold either); NULL reads as empty.
pub struct RawBytes(pub Vec<u8>);

impl rusqlite::types::FromSql for RawBytes {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Text(t) | ValueRef::Blob(t) => Ok(RawBytes(t.to_vec())),
            ValueRef::Null => Ok(RawBytes(Vec::new())),
            _ => Err(rusqlite::types::FromSqlError::InvalidType),
        }
    }
}

/// Is this file a SQLite database (by its 16-byte magic header)?
pub fn is_sqlite_file(path: &Path) -> bool {
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
    conn: Connection,
    path: PathBuf,
    id: ArchiveId,
    meta: Vec<(String, String)>,
    /// Set when an interrupted ingest left a hot journal: the archive is then
    /// read from a rolled-back copy in this directory (see [`Archive::open`]).
    rolled_back_copy: Option<tempfile::TempDir>,
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
            return Err(ArchiveError(format!("{}: no such file", path.display())));
        }
        if !is_sqlite_file(path) {
            return Err(ArchiveError(format!(
                "{} is not an auditlens archive (not a SQLite file)",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_error(path, e))?;
        // Readers wait up to rusqlite's default busy timeout (5 s) for a
        // writer's EXCLUSIVE lock (held only while it commits); a writer's
        // open transaction (RESERVED) does not stop them.
        let hot = has_hot_journal(&conn).map_err(|e| db_error(path, e))?;
        let (conn, rolled_back_copy) = if hot {
            drop(conn);
            let (conn, dir) = open_rolled_back_copy(path)?;
            (conn, Some(dir))
        } else {
            (conn, None)
        };
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -32768;",
        )
        .map_err(|e| db_error(path, e))?;
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
        Ok(Archive {
            conn,
            path: path.to_path_buf(),
            id,
            meta,
            rolled_back_copy,
        })
    }

    /// Reads the file with plain reads instead of a memory map from here on.
    /// A whole-archive scan through the 4 GiB map (set for verification's
    /// speed) makes every page of the file resident in this process: an
    /// export of a 1.4 GB archive peaked at 1.4 GB RSS. Streaming commands
    /// (export, the checkpoint after ingest) call this to stay small.
    pub fn stop_mapping(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA mmap_size = 0;")
            .map_err(|e| self.err(e))
    }

    /// Whether an interrupted ingest had left the file mid-write, so what is
    /// read is its last committed state, from a rolled-back copy.
    pub fn interrupted_write(&self) -> bool {
        self.rolled_back_copy.is_some()
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

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> ArchiveError {
        db_error(&self.path, e)
    }

    /// Number of stored entries (rows, whatever their seq).
    pub fn count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM entries", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Highest seq and its chain hash, or `None` for an empty archive.
    pub fn head(&self) -> Result<Option<(u64, Hash)>> {
        self.conn
            .query_row(
                "SELECT seq, chain_hash FROM entries ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, RawBytes>(1)?.0)),
            )
            .optional()
            .map_err(|e| self.err(e))
            .map(|o| o.map(|(s, h)| (s as u64, Hash::from_slice(&h).unwrap_or_default())))
    }

    /// Oldest and newest entry time (ms), if any entries.
    pub fn time_span(&self) -> Result<Option<(i64, i64)>> {
        self.conn
            .query_row("SELECT min(time_ms), max(time_ms) FROM entries", [], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .map_err(|e| self.err(e))
            .map(|(a, b)| a.zip(b))
    }

    /// Reads one entry by seq.
    pub fn entry(&self, seq: u64) -> Result<Option<StoredEntry>> {
        let row = self
            .conn
            .query_row(
                "SELECT record, leaf_hash, chain_hash FROM entries WHERE seq = ?1",
                [seq as i64],
                |r| {
                    Ok((
                        r.get::<_, RawBytes>(0)?.0,
                        r.get::<_, RawBytes>(1)?.0,
                        r.get::<_, RawBytes>(2)?.0,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((record, leaf, chain)) = row else {
            return Ok(None);
        };
        let entry = parse_record(&record).map_err(|m| ArchiveError(format!("entry {seq}: {m}")))?;
        Ok(Some(StoredEntry {
            seq,
            entry,
            leaf_hash: Hash::from_slice(&leaf).unwrap_or_default(),
            chain_hash: Hash::from_slice(&chain).unwrap_or_default(),
        }))
    }

    /// Calls `f` with the sealed record bytes of each of `seqs` that is stored, in seq order.
    pub fn for_each_record_at(&self, seqs: &[u64], mut f: impl FnMut(u64, &[u8])) -> Result<()> {
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record FROM entries WHERE seq = ?1")
            .map_err(|e| self.err(e))?;
        for seq in sorted {
            let mut rows = stmt.query([seq as i64]).map_err(|e| self.err(e))?;
            if let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let bytes = match r.get_ref(0).map_err(|e| self.err(e))? {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t,
                    _ => &[],
                };
                f(seq, bytes);
            }
        }
        Ok(())
    }

    /// Calls `f` with the sealed record bytes of every stored entry, in seq order.
    pub fn for_each_record(&self, mut f: impl FnMut(u64, &[u8])) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, record FROM entries ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let seq = r.get::<_, i64>(0).map_err(|e| self.err(e))? as u64;
            let bytes = match r.get_ref(1).map_err(|e| self.err(e))? {
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t,
                _ => &[],
            };
            f(seq, bytes);
        }
        Ok(())
    }

    /// The checkpoint of the archive as stored (leaf hashes and head read, not re-verified;
    /// `auditlens verify` checks them).
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let mut stmt = self
            .conn
            .prepare("SELECT leaf_hash FROM entries ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut tree = MerkleBuilder::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let leaf = r.get::<_, RawBytes>(0).map_err(|e| self.err(e))?.0;
            tree.push(Hash::from_slice(&leaf).unwrap_or_default());
        }
        let head = self
            .head()?
            .map(|(_, h)| h)
            .unwrap_or_else(|| chain::genesis(&self.id));
        Ok(Checkpoint {
            archive_id: self.id,
            size: tree.size(),
            root: tree.root(),
            head,
        })
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

pub(crate) fn read_meta(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT key, value FROM meta ORDER BY key")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// The `application_id` of an auditlens archive (bytes 68–71 of the file,
/// big-endian): how an archive is told from any other SQLite file.
pub const APPLICATION_ID: u32 = 1_096_107_084;

/// Writes a new, empty archive at `path`, where nothing exists yet.
///
/// `path` is a staged name of an [`crate::output::Output`] (ingest makes
/// it): the archive is built there and renamed into place only once
/// complete, so an interrupted create never leaves a half-made file at the
/// destination that would block the next ingest. (This module does not
/// plan outputs itself: the output path reads files through `source`,
/// which reads archives through this module.)
pub fn initialise(path: &Path) -> Result<ArchiveId> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(ArchiveError(format!("{} already exists", path.display())));
    }
    let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
    let id = ArchiveId::random();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let tx_result = (|| -> rusqlite::Result<()> {
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = DELETE; PRAGMA application_id = {}; BEGIN;",
            APPLICATION_ID
        ))?;
        conn.execute_batch(SCHEMA)?;
        let mut ins = conn.prepare("INSERT INTO meta(key, value) VALUES (?1, ?2)")?;
        for (k, v) in [
            ("format", FORMAT_NAME.to_string()),
            ("format_version", FORMAT_VERSION.to_string()),
            ("archive_id", id.to_string()),
            ("created_at", now),
            (
                "created_by",
                format!("auditlens {}", env!("CARGO_PKG_VERSION")),
            ),
        ] {
            ins.execute(params![k, v])?;
        }
        drop(ins);
        conn.execute_batch("COMMIT;")
    })();
    tx_result.map_err(|e| db_error(path, e))?;
    conn.close().map_err(|(_, e)| db_error(path, e))?;
    Ok(id)
}

//! Writing: creating an archive and appending to it. Only ingest writes, and
//! only through [`Writer`].

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::schema::{PROTECTIVE, foreign_objects};
use super::{
    Archive, ArchiveError, FORMAT_NAME, FORMAT_VERSION, IndexProblemKind, KeyHasher, Result,
    SCHEMA, companion_path, db_error, is_sqlite_file,
};
use crate::chain::{self, ArchiveId, Hash, MerkleBuilder};
use crate::checkpoint::Checkpoint;
use crate::record_view::RecordView;

/// The `application_id` of an auditlens archive (bytes 68–71 of the file,
/// big-endian): how an archive is told from any other SQLite file.
pub const APPLICATION_ID: u32 = 1_096_107_084;

/// The page size of a new archive. SQLite writes a page at a time (one
/// system call each when a large batch spills from its cache), so 16 KiB
/// pages spared ingest about a third of its system time over 4 KiB ones at
/// a million entries, and made the file 8% smaller (fewer, fuller pages);
/// a reader's single-row look-up reads 16 KiB instead of 4, which the page
/// cache serves alike. Readers take any page size SQLite does.
const PAGE_SIZE: u32 = 16_384;

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
            "PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = DELETE; \
             PRAGMA application_id = {APPLICATION_ID}; BEGIN;"
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

/// Rolls back what an interrupted ingest left unfinished, in place: for the
/// writer, which may change the file.
pub fn finish_interrupted_write(path: &Path) -> Result<()> {
    if !is_sqlite_file(path) || !companion_path(path, "-journal").exists() {
        return Ok(());
    }
    let rw = Connection::open(path).map_err(|e| db_error(path, e))?;
    rw.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| db_error(path, e))?;
    Ok(())
}

/// Appends entries to an archive, batch by batch, extending its chain.
pub struct Writer {
    conn: Connection,
    path: PathBuf,
    id: ArchiveId,
    /// The last seq and its chain hash.
    tail: (u64, Hash),
    /// The Merkle tree over every stored leaf hash (its compact range), so
    /// that the checkpoint after an ingest costs no second pass.
    tree: MerkleBuilder,
    /// The protective triggers another program removed (verify warns of
    /// them; appending goes on, and says so).
    missing_protections: Vec<String>,
}

impl Writer {
    /// Opens the archive at `path` for appending. Refuses, writing nothing,
    /// an archive that is not safe to extend: one whose schema holds an
    /// object auditlens does not make (a trigger acts on every insert), whose
    /// last entries do not verify, or whose entry-id index (which tells
    /// duplicates apart) does not hold one entry per row.
    pub fn open(path: &Path) -> Result<Writer> {
        let reader = Archive::open(path)?;
        let id = reader.id();
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db_error(path, e))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;")
            .map_err(|e| db_error(path, e))?;
        let schema = reader.schema()?;
        let missing_protections = PROTECTIVE
            .iter()
            .filter(|p| !schema.iter().any(|o| o.name == **p))
            .map(|p| p.to_string())
            .collect();
        if let Some(o) = foreign_objects(&schema).first() {
            return Err(ArchiveError(format!(
                "{}: its schema holds the {} {:?}, which auditlens does not make (or makes \
                 differently); nothing was added. Run `auditlens verify` on it.",
                path.display(),
                o.kind,
                o.name
            )));
        }
        let tail = tail_state(&reader, &id)
            .map_err(|m| ArchiveError(format!("{}: {m}", path.display())))?;
        let tree = stored_tree(&reader, tail.0)?;
        Ok(Writer {
            conn,
            path: path.to_path_buf(),
            id,
            tail,
            tree,
            missing_protections,
        })
    }

    /// The protective triggers missing from the archive's schema.
    pub fn missing_protections(&self) -> &[String] {
        &self.missing_protections
    }

    pub fn archive_id(&self) -> ArchiveId {
        self.id
    }

    /// The log checkpoint (without index roots) of the archive as this
    /// writer left it: the stored leaf hashes read at open, the appended
    /// ones as they were computed, the chain head of the last entry.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            archive_id: self.id,
            size: self.tail.0,
            root: self.tree.root(),
            head: self.tail.1,
            indexes: None,
        }
    }

    /// Starts a batch: one transaction, which takes the write lock at once
    /// (IMMEDIATE) so that the busy timeout applies. A deferred transaction
    /// that meets another writer only at its first insert fails at once
    /// (SQLite cannot wait there without risking deadlock), while this waits
    /// for a brief writer to finish.
    pub fn batch(&mut self) -> Result<Batch<'_>> {
        let path = self.path.as_path();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(path, e))?;
        Ok(Batch {
            next_tail: self.tail,
            next_tree: self.tree.clone(),
            tx,
            path,
            id: self.id,
            tail: &mut self.tail,
            tree: &mut self.tree,
        })
    }
}

/// The Merkle tree over the leaf hashes stored for seqs 1 to `size`, read
/// as stored (`auditlens verify` checks them; the writer checked the last
/// one). Refuses an archive whose seqs have gaps or that another writer
/// extended meanwhile.
fn stored_tree(archive: &Archive, size: u64) -> Result<MerkleBuilder> {
    use super::{Column, Columns, Scan};
    let mut tree = MerkleBuilder::new();
    let path = archive.path();
    archive.scan::<ArchiveError>(
        &Scan::seqs(Columns::of(&[Column::LeafHash]), 1..=size as i64),
        |r| {
            if r.seq() != tree.size() + 1 {
                return Err(ArchiveError(format!(
                    "{}: entry {} is missing; run `auditlens verify` before adding to it",
                    path.display(),
                    tree.size() + 1
                )));
            }
            tree.push(r.leaf_hash());
            Ok(())
        },
    )?;
    if tree.size() != size {
        return Err(ArchiveError(format!(
            "{}: the archive changed while it was opened for appending; run the same ingest again",
            path.display()
        )));
    }
    Ok(tree)
}

/// The last seq and its chain hash, after checking that the tail entry is
/// consistent (so a damaged archive is not silently extended) and that the
/// entry-id index agrees with the table.
fn tail_state(archive: &Archive, id: &ArchiveId) -> Result<(u64, Hash), String> {
    use super::{Column, Columns, Scan};
    let cols = Columns::of(&[Column::Record, Column::LeafHash, Column::ChainHash]);
    let mut rows = Vec::new();
    archive.scan::<ArchiveError>(&Scan::all(cols).newest_first().limit(2), |r| {
        rows.push((r.seq(), r.record().to_vec(), r.leaf_hash(), r.chain_hash()));
        Ok(())
    })?;
    let Some((seq, record, leaf, link)) = rows.first() else {
        return Ok((0, chain::genesis(id)));
    };
    let count = archive.count()?;
    let prev = match rows.get(1) {
        Some((_, _, _, c)) => *c,
        None => chain::genesis(id),
    };
    let expected_leaf = chain::leaf_hash(id, *seq, record);
    if count != *seq || *leaf != expected_leaf || chain::chain_link(&prev, &expected_leaf) != *link
    {
        return Err(
            "the archive's last entries do not verify; run `auditlens verify` before adding to it"
                .into(),
        );
    }
    // A last record that is not what ingest seals is tampering too, even with correct hashes.
    if let Some(problem) = crate::canonical::check(record).problem {
        let (crate::canonical::Problem::NonCanonical(why)
        | crate::canonical::Problem::Unreadable(why)) = problem;
        return Err(format!(
            "the archive's last entry (seq {seq}) is not a canonical record ({why}); nothing was \
             added. Run `auditlens verify` on it"
        ));
    }
    // Ingest tells new entries from stored ones through the entry-id index:
    // it is trusted only once it is proven to list every row under its id.
    let by_id = &super::INDEXES[0];
    if archive.schema()?.iter().any(|o| o.name == by_id.name) {
        let hasher = KeyHasher::default();
        let book = archive.table_book(by_id, &hasher, super::BOOK_MEMORY)?;
        let problems = archive.index_problems(by_id, book, &hasher, (i64::MIN, i64::MAX), 1)?;
        if let Some(p) = problems.listed.first() {
            let how = match p.kind {
                IndexProblemKind::NoSuchRow => "lists a seq the table does not hold",
                IndexProblemKind::WrongKey => "lists an entry under another id",
                IndexProblemKind::Repeated => "lists an entry twice",
                IndexProblemKind::Missing => "has no entry for one",
            };
            return Err(format!(
                "the index {} {how} (seq {}), so new entries could not be told from stored \
                 ones; nothing was added. Run `auditlens verify` on it.",
                by_id.name, p.rowid
            ));
        }
    }
    Ok((*seq, *link))
}

/// SQLite's extended result code for a UNIQUE constraint (here: the entry-id
/// index refusing an id that is stored).
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;

/// What became of a row offered to [`Batch::append_rows`].
#[derive(Debug)]
pub enum Offered {
    /// Appended as this seq.
    Appended(u64),
    /// An entry with the same id is stored: its seq and record.
    Stored { seq: u64, record: Vec<u8> },
}

/// The text columns of a row after `entry_id`, in the INSERT's order.
const TEXT_COLUMNS: usize = 9;

/// One row of [`Rows`]: ranges into the batch's text.
#[derive(Clone, Debug)]
struct Row {
    record: (usize, usize),
    entry_id: (usize, usize),
    time_ms: i64,
    /// actor_type … ip_address; `None` is NULL.
    columns: [Option<(usize, usize)>; TEXT_COLUMNS],
    /// The leaf hash for `seq`, the seq it was hashed for.
    leaf: Hash,
    seq: u64,
    tag: u32,
}

/// Rows made ready to append away from the writer: each record parsed, its
/// index columns derived from it (the derivation verification repeats) and
/// its leaf hash computed for the seq it is expected to take. The writer's
/// thread then only binds and steps ([`Batch::append_rows`]), so that
/// ingest can prepare the next rows on another core meanwhile. The text
/// lives in one buffer, reused batch after batch.
#[derive(Default)]
pub struct Rows {
    text: String,
    rows: Vec<Row>,
}

impl Rows {
    pub fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of text held (records and columns).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Adds `record` (canonical JSON), to be appended to the archive `id`
    /// as the entry `seq` (another seq costs the writer a second leaf
    /// hash, nothing else). `tag` is the caller's, handed back with the
    /// row. An error when the record is not one ingest seals.
    pub fn push(
        &mut self,
        id: &ArchiveId,
        seq: u64,
        record: &[u8],
        tag: u32,
    ) -> Result<(), String> {
        let text = std::str::from_utf8(record).map_err(|e| e.to_string())?;
        let view = RecordView::parse(record)?;
        // The id, the time (taken from the view), then the nine text columns
        // in the INSERT's order (actor type … ip address).
        let [entry_id, _, columns @ ..] = view.index_columns();
        let mut put = |s: &str| {
            let start = self.text.len();
            self.text.push_str(s);
            (start, self.text.len())
        };
        let record_range = put(text);
        let entry_id = put(entry_id.text().unwrap_or_default());
        let columns = columns.map(|c| c.text().map(&mut put));
        self.rows.push(Row {
            record: record_range,
            entry_id,
            time_ms: view.time.0,
            columns,
            leaf: chain::leaf_hash(id, seq, record),
            seq,
            tag,
        });
        Ok(())
    }

    fn at(&self, (start, end): (usize, usize)) -> &str {
        &self.text[start..end]
    }

    /// The record of row `i`.
    pub fn record(&self, i: usize) -> &[u8] {
        self.at(self.rows[i].record).as_bytes()
    }

    /// The entry id of row `i` (the record's).
    pub fn entry_id(&self, i: usize) -> &str {
        self.at(self.rows[i].entry_id)
    }

    /// The caller's tag of row `i`.
    pub fn tag(&self, i: usize) -> u32 {
        self.rows[i].tag
    }
}

/// One transaction of appends. Dropped without [`Batch::commit`], it is
/// rolled back and the writer's tail stays where it was.
pub struct Batch<'w> {
    tx: Transaction<'w>,
    path: &'w Path,
    id: ArchiveId,
    next_tail: (u64, Hash),
    tail: &'w mut (u64, Hash),
    next_tree: MerkleBuilder,
    tree: &'w mut MerkleBuilder,
}

impl Batch<'_> {
    fn err(&self, e: rusqlite::Error) -> ArchiveError {
        db_error(self.path, e)
    }

    /// The seq and record of the stored entry with this id, if any. The one
    /// read through an index (`entries_entry_id`): the writer proved at open
    /// that it agrees with the table, and the row found must carry the id.
    fn stored(&self, entry_id: &str) -> Result<Option<(u64, Vec<u8>)>> {
        let found = self
            .tx
            .prepare_cached("SELECT seq, record, entry_id FROM entries WHERE entry_id = ?1")
            .and_then(|mut s| {
                s.query_row([entry_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        super::Cell::from(r.get_ref(1)?).bytes().to_vec(),
                        super::Cell::from(r.get_ref(2)?).bytes() == entry_id.as_bytes(),
                    ))
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        match found {
            Some((seq, _, false)) => Err(ArchiveError(format!(
                "{}: the index entries_entry_id points the id {entry_id:?} at seq {seq}, which \
                 holds another id; run `auditlens verify` on it",
                self.path.display()
            ))),
            Some((seq, record, true)) => Ok(Some((seq.max(0) as u64, record))),
            None => Ok(None),
        }
    }

    /// Appends rows `range` of `rows` in order, each as the next entry
    /// (its chain hash computed here; its leaf hash again only when the row
    /// was hashed for another seq), unless an entry with its id is stored:
    /// `each` then gets that entry's seq and record, to tell a duplicate
    /// from a conflict. The entry-id index (proven at open) refuses the
    /// second id, so a new entry costs one insert and no separate look-up.
    /// One INSERT statement serves the whole range.
    pub fn append_rows(
        &mut self,
        rows: &Rows,
        range: std::ops::Range<usize>,
        mut each: impl FnMut(usize, Offered),
    ) -> Result<()> {
        let path = self.path;
        let err = |e: rusqlite::Error| db_error(path, e);
        let mut insert = self
            .tx
            .prepare_cached(
                "INSERT INTO entries (seq, record, leaf_hash, chain_hash, entry_id, time_ms, actor_type, \
                 actor_id, actor_label, action, resource_type, resource_id, project_id, org_id, ip_address) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .map_err(err)?;
        for i in range {
            let row = &rows.rows[i];
            let (prev_seq, prev) = self.next_tail;
            let seq = prev_seq + 1;
            let leaf = if row.seq == seq {
                row.leaf
            } else {
                chain::leaf_hash(&self.id, seq, rows.record(i))
            };
            let link = chain::chain_link(&prev, &leaf);
            let bound = (|| -> rusqlite::Result<()> {
                insert.raw_bind_parameter(1, seq as i64)?;
                insert.raw_bind_parameter(2, rows.at(row.record))?;
                insert.raw_bind_parameter(3, &leaf.0[..])?;
                insert.raw_bind_parameter(4, &link.0[..])?;
                insert.raw_bind_parameter(5, rows.at(row.entry_id))?;
                insert.raw_bind_parameter(6, row.time_ms)?;
                for (k, c) in row.columns.iter().enumerate() {
                    insert.raw_bind_parameter(7 + k, c.map(|r| rows.at(r)))?;
                }
                Ok(())
            })();
            bound.map_err(err)?;
            match insert.raw_execute() {
                Ok(1) => {
                    self.next_tail = (seq, link);
                    self.next_tree.push(leaf);
                    each(i, Offered::Appended(seq));
                }
                Ok(_) => {
                    return Err(ArchiveError(format!(
                        "{}: entry {seq} was not stored (something in the file refused it); run \
                         `auditlens verify` on it",
                        path.display()
                    )));
                }
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.extended_code == SQLITE_CONSTRAINT_UNIQUE =>
                {
                    let id = rows.at(row.entry_id);
                    match self.stored(id)? {
                        Some((seq, record)) => each(i, Offered::Stored { seq, record }),
                        None => {
                            return Err(ArchiveError(format!(
                                "{}: the entry {id:?} was refused as a second entry with its \
                                 id, but none is stored under it; run `auditlens verify` on it",
                                path.display()
                            )));
                        }
                    }
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }

    /// Records an entry that arrived with a stored id but other content; it
    /// stays out of the chain. The same conflict twice is recorded once.
    pub fn record_conflict(
        &mut self,
        entry_id: &str,
        existing_seq: u64,
        record: &[u8],
        source: &str,
    ) -> Result<()> {
        let text = String::from_utf8_lossy(record);
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO conflicts (entry_id, existing_seq, record, source) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![entry_id, existing_seq as i64, text, source]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records an ingest run: its sources (each with its SHA-256, entry
    /// count and time window, see [`IngestedSource`]), what it added (the
    /// seqs) and skipped.
    pub fn record_run(
        &mut self,
        sources: &[IngestedSource],
        added: u64,
        duplicates: u64,
        conflicts: u64,
        seqs: Option<(u64, u64)>,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO ingests (finished_at, sources, added, duplicates, conflicts, first_seq, last_seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    IngestedSource::to_column(sources),
                    added as i64,
                    duplicates as i64,
                    conflicts as i64,
                    seqs.map(|s| s.0 as i64),
                    seqs.map(|s| s.1 as i64)
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Commits the batch; the writer continues from its last entry.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tx.commit().map_err(|e| db_error(path, e))?;
        *self.tail = self.next_tail;
        *self.tree = self.next_tree;
        Ok(())
    }
}

/// One file an ingest run read, as `ingests.sources` records it (a JSON
/// array of these since the archive kept coverage; older archives hold the
/// file names joined by `, `, which [`IngestedSource::from_column`] reads as
/// names alone). Not hashed: it describes the runs, the chain covers the
/// entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestedSource {
    /// The path as given to ingest.
    pub file: String,
    /// SHA-256 of the file when it was read; `None` in older archives.
    pub sha256: Option<String>,
    /// Entries read from the file (stored, duplicates and conflicts alike).
    pub entries: Option<u64>,
    /// Records rejected (`--skip-invalid`).
    pub rejected: Option<u64>,
    /// Oldest and newest entry time in the file, ms UTC.
    pub window: Option<(i64, i64)>,
}

impl IngestedSource {
    fn to_column(sources: &[IngestedSource]) -> String {
        let list: Vec<serde_json::Value> = sources
            .iter()
            .map(|s| {
                serde_json::json!({
                    "file": s.file,
                    "sha256": s.sha256,
                    "entries": s.entries,
                    "rejected": s.rejected,
                    "from_ms": s.window.map(|w| w.0),
                    "to_ms": s.window.map(|w| w.1),
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// The sources of one `ingests` row, whichever form it was written in.
    pub fn from_column(text: &str) -> Vec<IngestedSource> {
        if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text)
            && items.iter().all(serde_json::Value::is_object)
        {
            return items
                .iter()
                .map(|o| {
                    let n = |k: &str| o.get(k).and_then(serde_json::Value::as_u64);
                    let t = |k: &str| o.get(k).and_then(serde_json::Value::as_i64);
                    IngestedSource {
                        file: o["file"].as_str().unwrap_or_default().to_string(),
                        sha256: o["sha256"].as_str().map(str::to_string),
                        entries: n("entries"),
                        rejected: n("rejected"),
                        window: t("from_ms").zip(t("to_ms")),
                    }
                })
                .collect();
        }
        // Older archives: the names alone, joined by ", ".
        text.split(", ")
            .filter(|f| !f.is_empty())
            .map(|f| IngestedSource {
                file: f.to_string(),
                ..IngestedSource::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new archive takes the page size ingest is fastest with, and opens
    /// for appending.
    #[test]
    fn a_new_archive_has_its_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        initialise(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let size: u32 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(size, PAGE_SIZE);
        drop(conn);
        let w = Writer::open(&path).unwrap();
        assert_eq!(w.checkpoint().size, 0);
        assert_eq!(w.checkpoint().root, chain::empty_root());
    }
}

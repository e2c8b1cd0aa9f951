//! The archive's schema, and the checks that its SQLite indexes agree with
//! the tables they index.
//!
//! Readers never let an index decide which entries exist (see `read.rs`), but
//! other tools do (the `sqlite3` shell, a database browser), and ingest finds
//! duplicates through the entry-id index. So verification proves that every
//! index auditlens makes holds exactly one entry per row, under that row's
//! key, and reports every schema object auditlens does not make.

use std::sync::OnceLock;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::{Archive, Result};

/// The tables, indexes and triggers of a new archive. Verification compares
/// an archive's schema with this one.
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

/// The objects whose absence verification reports as protection removed:
/// the triggers that refuse changes, and the index that refuses a second
/// entry with the same id.
pub const PROTECTIVE: [&str; 5] = [
    "entries_no_update",
    "entries_no_delete",
    "meta_no_update",
    "meta_no_delete",
    "entries_entry_id",
];

/// One object of an archive's schema: a row of `sqlite_master`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaObject {
    /// `table`, `index`, `trigger` or `view`.
    pub kind: String,
    pub name: String,
    /// The table it belongs to.
    pub table: String,
    /// Its `CREATE` statement; `None` for the indexes SQLite makes itself
    /// (for a `UNIQUE` constraint).
    pub sql: Option<String>,
}

impl SchemaObject {
    /// Whether `self` is defined as `other` is. Whitespace runs count as one
    /// space: the statement text is kept as it was typed.
    pub fn same_definition(&self, other: &SchemaObject) -> bool {
        let words = |s: &Option<String>| {
            s.as_deref()
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        (&self.kind, &self.name, &self.table) == (&other.kind, &other.name, &other.table)
            && words(&self.sql) == words(&other.sql)
    }
}

fn read_schema(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut stmt =
        conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")?;
    let text = |v: ValueRef<'_>| match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    };
    stmt.query_map([], |r| {
        Ok(SchemaObject {
            kind: text(r.get_ref(0)?),
            name: text(r.get_ref(1)?),
            table: text(r.get_ref(2)?),
            sql: match r.get_ref(3)? {
                ValueRef::Null => None,
                v => Some(text(v)),
            },
        })
    })?
    .collect()
}

/// The schema of a new archive, as SQLite records [`SCHEMA`].
pub fn expected_schema() -> &'static [SchemaObject] {
    static EXPECTED: OnceLock<Vec<SchemaObject>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let conn = Connection::open_in_memory().expect("an in-memory database opens");
        conn.execute_batch(SCHEMA).expect("the schema is valid SQL");
        read_schema(&conn).expect("an in-memory schema reads")
    })
}

/// An index auditlens makes, and the columns of its key.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownIndex {
    pub name: &'static str,
    pub table: &'static str,
    pub key: &'static [&'static str],
}

/// Every index of [`SCHEMA`]: verification checks each one's entries.
pub const INDEXES: [KnownIndex; 3] = [
    KnownIndex {
        name: "entries_entry_id",
        table: "entries",
        key: &["entry_id"],
    },
    KnownIndex {
        name: "entries_time",
        table: "entries",
        key: &["time_ms"],
    },
    KnownIndex {
        name: "sqlite_autoindex_conflicts_1",
        table: "conflicts",
        key: &["entry_id", "record"],
    },
];

impl KnownIndex {
    /// An SQL expression that is 1 when the index holds an entry for the
    /// row `t` with `t`'s key, found by searching the index for it.
    pub(super) fn probe_sql(&self) -> String {
        let key: Vec<String> = self.key.iter().map(|c| format!("i.{c} IS t.{c}")).collect();
        format!(
            "EXISTS (SELECT 1 FROM {table} AS i INDEXED BY {name} WHERE {key} AND i.rowid = t.rowid)",
            table = self.table,
            name = self.name,
            key = key.join(" AND ")
        )
    }
}

/// What is wrong with one entry of an index, or with a row it should list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexProblemKind {
    /// The index lists a row the table does not hold.
    NoSuchRow,
    /// The index lists the row under another key than the table holds.
    WrongKey,
    /// The index lists the row twice.
    Repeated,
    /// The index has no entry for the row.
    Missing,
    /// The index lists the row, but searching the index for its key does not
    /// find it: the index is out of order.
    Unsearchable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexProblem {
    pub kind: IndexProblemKind,
    /// The row (its seq, for the entries table).
    pub rowid: i64,
    /// The row's key as the table holds it (`None`: no such row).
    pub expected: Option<String>,
    /// The key the index lists the row under (`None`: no entry).
    pub found: Option<String>,
}

/// A value as it is quoted in a finding: text in quotes (cut after 80
/// characters), numbers as they are, blobs in hex.
fn show(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            match s.char_indices().nth(80) {
                Some((at, _)) => format!("{:?}…", &s[..at]),
                None => format!("{s:?}"),
            }
        }
        ValueRef::Blob(b) => {
            let hex: String = b.iter().take(40).map(|x| format!("{x:02x}")).collect();
            format!("x'{hex}{}'", if b.len() > 40 { "…" } else { "" })
        }
    }
}

impl Archive {
    /// Every object of the archive's schema (`sqlite_master`).
    pub fn schema(&self) -> Result<Vec<SchemaObject>> {
        read_schema(&self.conn).map_err(|e| self.err(e))
    }

    /// Entries of `index` whose row is within `rowids`, counted in the
    /// index itself.
    pub fn index_count(&self, index: &KnownIndex, rowids: (i64, i64)) -> Result<u64> {
        self.conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM {table} AS i INDEXED BY {name} WHERE i.rowid BETWEEN ?1 AND ?2",
                table = index.table,
                name = index.name
            ))
            .and_then(|mut s| s.query_row([rowids.0, rowids.1], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Rows of `index`'s table and the rowids of those the index has no
    /// entry for (their key searched in the index): for small tables; the
    /// entries table is probed during verification's own scan instead.
    pub fn rows_missing_from(&self, index: &KnownIndex) -> Result<(u64, Vec<i64>)> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT t.rowid, {probe} FROM {table} AS t NOT INDEXED ORDER BY t.rowid",
                probe = index.probe_sql(),
                table = index.table
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let (mut n, mut missing) = (0u64, Vec::new());
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            n += 1;
            if r.get::<_, i64>(1).map_err(|e| self.err(e))? != 1 {
                missing.push(r.get::<_, i64>(0).map_err(|e| self.err(e))?);
            }
        }
        Ok((n, missing))
    }

    /// Walks `index` in its own order over the rows within `rowids` and
    /// calls `f` with every entry that disagrees with its table row, then
    /// with every row of `missing` (rows a search of the index did not find,
    /// sorted) that the walk did not already explain. Each entry's row is
    /// read by its rowid, which makes this far slower than the probes:
    /// verification walks an index only once they found it wrong.
    pub fn index_problems(
        &self,
        index: &KnownIndex,
        rowids: (i64, i64),
        missing: &[i64],
        mut f: impl FnMut(IndexProblem),
    ) -> Result<()> {
        let k = index.key.len();
        let cols = |alias: &str| {
            let c: Vec<String> = index.key.iter().map(|c| format!("{alias}.{c}")).collect();
            c.join(", ")
        };
        let same: Vec<String> = index
            .key
            .iter()
            .map(|c| format!("t.{c} IS i.{c}"))
            .collect();
        let key_at = |r: &rusqlite::Row<'_>, from: usize| -> Result<String> {
            let v: Vec<String> = (from..from + k)
                .map(|i| r.get_ref(i).map(show).map_err(|e| self.err(e)))
                .collect::<Result<_>>()?;
            Ok(v.join(", "))
        };
        // For each row of `missing`: whether the walk reported it, or saw it
        // under its right key (then a search failed to find what is there).
        let mut reported = vec![false; missing.len()];
        let mut listed = vec![None; missing.len()];
        {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT i.rowid, t.rowid IS NOT NULL, {same}, {ikey}, {tkey} \
                     FROM {table} AS i INDEXED BY {name} \
                     LEFT JOIN {table} AS t NOT INDEXED ON t.rowid = i.rowid \
                     WHERE i.rowid BETWEEN ?1 AND ?2",
                    same = same.join(" AND "),
                    ikey = cols("i"),
                    tkey = cols("t"),
                    table = index.table,
                    name = index.name,
                ))
                .map_err(|e| self.err(e))?;
            let mut rows = stmt.query([rowids.0, rowids.1]).map_err(|e| self.err(e))?;
            let mut previous: Option<(i64, String)> = None;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let cell = |i: usize| r.get_ref(i).map_err(|e| self.err(e));
                let ValueRef::Integer(rowid) = cell(0)? else {
                    continue;
                };
                let has_row = matches!(cell(1)?, ValueRef::Integer(1));
                let same = matches!(cell(2)?, ValueRef::Integer(1));
                let found = key_at(r, 3)?;
                let repeated = previous
                    .as_ref()
                    .is_some_and(|(p, f)| *p == rowid && *f == found);
                let kind = if !has_row {
                    Some(IndexProblemKind::NoSuchRow)
                } else if !same {
                    Some(IndexProblemKind::WrongKey)
                } else if repeated {
                    Some(IndexProblemKind::Repeated)
                } else {
                    None
                };
                let at = missing.binary_search(&rowid).ok();
                if let Some(kind) = kind {
                    if let Some(at) = at {
                        reported[at] = true;
                    }
                    f(IndexProblem {
                        kind,
                        rowid,
                        expected: if has_row {
                            Some(key_at(r, 3 + k)?)
                        } else {
                            None
                        },
                        found: Some(found.clone()),
                    });
                } else if let Some(at) = at {
                    listed[at] = Some(found.clone());
                }
                previous = Some((rowid, found));
            }
        }
        let mut key_of = self
            .conn
            .prepare(&format!(
                "SELECT {tkey} FROM {table} AS t NOT INDEXED WHERE t.rowid = ?1",
                tkey = cols("t"),
                table = index.table
            ))
            .map_err(|e| self.err(e))?;
        for (at, &rowid) in missing.iter().enumerate() {
            if reported[at] {
                continue;
            }
            if let Some(key) = listed[at].take() {
                f(IndexProblem {
                    kind: IndexProblemKind::Unsearchable,
                    rowid,
                    expected: Some(key.clone()),
                    found: Some(key),
                });
                continue;
            }
            let mut rows = key_of.query([rowid]).map_err(|e| self.err(e))?;
            let expected = match rows.next().map_err(|e| self.err(e))? {
                Some(r) => Some(key_at(r, 0)?),
                None => None,
            };
            f(IndexProblem {
                kind: IndexProblemKind::Missing,
                rowid,
                expected,
                found: None,
            });
        }
        Ok(())
    }
}

/// An archive whose schema holds an object auditlens does not make, or
/// defines one differently: such a file is not written to (a trigger would
/// act on the next insert).
pub(super) fn foreign_objects(found: &[SchemaObject]) -> Vec<&SchemaObject> {
    let expected = expected_schema();
    found
        .iter()
        .filter(|o| !expected.iter().any(|e| e.same_definition(o)))
        .collect()
}

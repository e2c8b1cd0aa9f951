//! The archive's schema, and the checks that its SQLite indexes agree with
//! the tables they index.
//!
//! Readers never let an index decide which entries exist (see `read.rs`), but
//! other tools do (the `sqlite3` shell, a database browser), and ingest finds
//! duplicates through the entry-id index. So verification compares the schema
//! with [`SCHEMA`] and walks every index auditlens makes in its own order
//! ([`Archive::walk_index`]) to prove that it lists each row once, under that
//! row's key (`verify/indexes.rs`).

use std::sync::OnceLock;

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use super::{Archive, ArchiveError, Cell, Result};

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

/// Most columns in the key of an index auditlens makes.
pub const MAX_KEY: usize = 4;

/// An index auditlens makes, and the columns of its key (at most [`MAX_KEY`]).
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

impl Archive {
    /// Every object of the archive's schema (`sqlite_master`).
    pub fn schema(&self) -> Result<Vec<SchemaObject>> {
        read_schema(&self.conn).map_err(|e| self.err(e))
    }

    /// The columns of the entries table that reading an entry needs and the
    /// file lacks (renamed or dropped by another program): none in an
    /// archive auditlens made.
    pub fn missing_entry_columns(&self) -> Result<Vec<&'static str>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('entries')")
            .map_err(|e| self.err(e))?;
        let present = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.err(e))?;
        Ok(std::iter::once("seq")
            .chain(super::Column::ALL.iter().map(|c| c.name()))
            .filter(|name| !present.iter().any(|p| p.eq_ignore_ascii_case(name)))
            .collect())
    }

    /// SQLite's own check of `table` and every index on it, each as its
    /// definition in the schema says (`PRAGMA integrity_check(TABLE)`): the
    /// problems it names, none when all agree. This is how an index that
    /// auditlens does not make, or one whose definition was rewritten, is
    /// checked: [`Archive::walk_index`] knows only the keys auditlens defines.
    pub fn sqlite_check(&self, table: &str) -> Result<Vec<String>> {
        let sql = format!("PRAGMA integrity_check('{}')", table.replace('\'', "''"));
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut problems = Vec::new();
        for row in rows {
            let line = row.map_err(|e| self.err(e))?;
            if line != "ok" {
                problems.push(line);
            }
        }
        Ok(problems)
    }

    /// Calls `f` with the rowid and key of every entry of `index` whose row
    /// is within `rowids`, in the index's own order, read from the index
    /// alone (a covering scan: nothing comes from the table).
    pub fn walk_index<E: From<ArchiveError>>(
        &self,
        index: &KnownIndex,
        rowids: (i64, i64),
        mut f: impl FnMut(i64, &[Cell<'_>]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let key: Vec<String> = index.key.iter().map(|c| format!("i.{c}")).collect();
        let sql = format!(
            "SELECT i.rowid, {key} FROM {table} AS i INDEXED BY {name} WHERE i.rowid BETWEEN ?1 AND ?2",
            key = key.join(", "),
            table = index.table,
            name = index.name
        );
        self.key_rows(&sql, index.key.len(), rowids, &mut f)
    }

    /// Calls `f` with the rowid and the key of `index` of every row of its
    /// table within `rowids`, read from the table (`NOT INDEXED`), in rowid
    /// order.
    pub fn table_keys<E: From<ArchiveError>>(
        &self,
        index: &KnownIndex,
        rowids: (i64, i64),
        mut f: impl FnMut(i64, &[Cell<'_>]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let key: Vec<String> = index.key.iter().map(|c| format!("t.{c}")).collect();
        let sql = format!(
            "SELECT t.rowid, {key} FROM {table} AS t NOT INDEXED \
             WHERE t.rowid BETWEEN ?1 AND ?2 ORDER BY t.rowid",
            key = key.join(", "),
            table = index.table
        );
        self.key_rows(&sql, index.key.len(), rowids, &mut f)
    }

    fn key_rows<E: From<ArchiveError>>(
        &self,
        sql: &str,
        width: usize,
        rowids: (i64, i64),
        f: &mut impl FnMut(i64, &[Cell<'_>]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut stmt = self.stmts.get(&self.conn, sql).map_err(|e| self.err(e))?;
        let params = [Value::Integer(rowids.0), Value::Integer(rowids.1)];
        let mut rows = stmt.start(&params).map_err(|e| self.err(e))?;
        let width = width.min(MAX_KEY);
        while rows.step().map_err(|e| self.err(e))? {
            let Cell::Integer(rowid) = rows.cell(0) else {
                continue;
            };
            let mut key = [Cell::Null; MAX_KEY];
            for (i, k) in key.iter_mut().take(width).enumerate() {
                *k = rows.cell(1 + i);
            }
            f(rowid, &key[..width])?;
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

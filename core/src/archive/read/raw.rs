//! The statement a scan steps through, driven through SQLite's C interface.
//!
//! rusqlite reads a value with four calls into SQLite (the column count, the
//! type, the pointer, the length), each taking the statement apart again; a
//! scan of every column of a million rows made 56 million of them. Here a
//! value is one `sqlite3_column_value` and cheap reads of the value itself.
//! Statements are prepared once per connection and kept, as rusqlite's
//! statement cache keeps them, and reset when a scan ends so that no read
//! transaction outlives it.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int};
use std::ptr;

use rusqlite::types::Value;
use rusqlite::{Connection, ffi};

use super::Cell;

/// Statements kept per connection (rusqlite keeps as many).
const KEPT: usize = 16;

/// A prepared statement of one connection.
struct Stmt {
    ptr: *mut ffi::sqlite3_stmt,
    db: *mut ffi::sqlite3,
}

// SAFETY: a statement belongs to its connection and is only used through the
// `Archive` that owns both; rusqlite's `Connection` is `Send` (opened with
// SQLITE_OPEN_NO_MUTEX, used by one thread at a time), and so is its
// statement when it moves with it.
unsafe impl Send for Stmt {}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from sqlite3_prepare_v3 and is finalized once,
        // before its connection is closed (`Statements` is dropped first).
        unsafe {
            ffi::sqlite3_finalize(self.ptr);
        }
    }
}

/// The connection's last error, as rusqlite reports it.
fn error(db: *mut ffi::sqlite3, code: c_int) -> rusqlite::Error {
    // SAFETY: `db` is an open connection; the message is copied at once.
    let msg = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), msg)
}

impl Stmt {
    fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Stmt> {
        // SAFETY: the handle is only used while `conn` is borrowed, on this
        // thread, for a statement that is finalized before `conn` closes.
        let db = unsafe { conn.handle() };
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
        })?;
        let mut ptr = ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes (no terminator needed).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut ptr,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        if ptr.is_null() {
            // Only for a text without a statement, which no scan makes.
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some("no statement".into()),
            ));
        }
        Ok(Stmt { ptr, db })
    }

    /// Ends the statement's run (and its read transaction) and clears its
    /// parameters.
    fn reset(&mut self) {
        // SAFETY: `ptr` is a live statement.
        unsafe {
            ffi::sqlite3_reset(self.ptr);
            ffi::sqlite3_clear_bindings(self.ptr);
        }
    }
}

/// The statements a connection keeps, the least recently used first.
/// Declared before the connection in `Archive`, so dropped before it.
#[derive(Default)]
pub(in crate::archive) struct Statements(RefCell<Vec<(String, Stmt)>>);

/// A statement taken from [`Statements`] for one scan; put back when dropped.
pub(in crate::archive) struct Cached<'a> {
    stmt: Option<Stmt>,
    sql: String,
    home: &'a Statements,
}

impl Statements {
    /// The statement for `sql`, kept or prepared now. A statement in use by
    /// a scan is not kept meanwhile, so a nested scan of the same text gets
    /// its own.
    pub fn get<'a>(&'a self, conn: &Connection, sql: &str) -> rusqlite::Result<Cached<'a>> {
        let kept = {
            let mut list = self.0.borrow_mut();
            let at = list.iter().position(|(s, _)| s == sql);
            at.map(|i| list.remove(i).1)
        };
        let stmt = match kept {
            Some(s) => s,
            None => Stmt::prepare(conn, sql)?,
        };
        Ok(Cached {
            stmt: Some(stmt),
            sql: sql.to_string(),
            home: self,
        })
    }
}

impl Drop for Cached<'_> {
    fn drop(&mut self) {
        if let Some(mut stmt) = self.stmt.take() {
            stmt.reset();
            let mut list = self.home.0.borrow_mut();
            if list.len() >= KEPT {
                list.remove(0);
            }
            list.push((std::mem::take(&mut self.sql), stmt));
        }
    }
}

impl Cached<'_> {
    fn stmt(&mut self) -> &mut Stmt {
        self.stmt
            .as_mut()
            .expect("a cached statement is held until dropped")
    }

    /// Starts a run with `params` (integers and text only, as scans bind).
    pub fn start(&mut self, params: &[Value]) -> rusqlite::Result<Run<'_>> {
        let stmt = self.stmt();
        stmt.reset();
        for (i, v) in params.iter().enumerate() {
            let at = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            // SAFETY: `ptr` is a live statement; text is copied by SQLite
            // (SQLITE_TRANSIENT), so `v` need not outlive the call.
            let rc = unsafe {
                match v {
                    Value::Integer(n) => ffi::sqlite3_bind_int64(stmt.ptr, at, *n),
                    Value::Text(t) => ffi::sqlite3_bind_text64(
                        stmt.ptr,
                        at,
                        t.as_ptr().cast::<c_char>(),
                        t.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as _,
                    ),
                    Value::Null => ffi::sqlite3_bind_null(stmt.ptr, at),
                    Value::Real(f) => ffi::sqlite3_bind_double(stmt.ptr, at, *f),
                    Value::Blob(b) => ffi::sqlite3_bind_blob64(
                        stmt.ptr,
                        at,
                        b.as_ptr().cast(),
                        b.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(stmt.db, rc));
            }
        }
        Ok(Run { stmt, done: false })
    }
}

/// A statement being stepped; reset when dropped.
pub(in crate::archive) struct Run<'s> {
    stmt: &'s mut Stmt,
    done: bool,
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.stmt.reset();
    }
}

impl Run<'_> {
    /// Steps to the next row: `false` after the last (and on every call
    /// after that).
    pub fn step(&mut self) -> rusqlite::Result<bool> {
        if self.done {
            return Ok(false);
        }
        // SAFETY: `ptr` is a live statement with its parameters bound.
        match unsafe { ffi::sqlite3_step(self.stmt.ptr) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => {
                self.done = true;
                Ok(false)
            }
            rc => {
                self.done = true;
                let e = error(self.stmt.db, rc);
                self.stmt.reset();
                Err(e)
            }
        }
    }

    /// The value of column `i` of the row [`Run::step`] stepped to (NULL for
    /// a column the statement does not have). Borrowed until the next step.
    #[inline(always)]
    pub fn cell(&self, i: usize) -> Cell<'_> {
        let Ok(i) = c_int::try_from(i) else {
            return Cell::Null;
        };
        let ptr = self.stmt.ptr;
        // SAFETY: the statement is on a row (or sqlite3_column_value gives
        // a NULL value); the value and the bytes it points to stay valid
        // until the statement is stepped or reset, which takes `&mut self`
        // while the returned cell borrows `self`. The value is "unprotected"
        // (SQLite's word): reading it is safe on the connection's one thread.
        // Text is read before its length, as SQLite asks.
        unsafe {
            let v = ffi::sqlite3_column_value(ptr, i);
            match ffi::sqlite3_value_type(v) {
                ffi::SQLITE_INTEGER => Cell::Integer(ffi::sqlite3_value_int64(v)),
                ffi::SQLITE_FLOAT => Cell::Real(ffi::sqlite3_value_double(v)),
                ffi::SQLITE_TEXT => {
                    let p = ffi::sqlite3_value_text(v);
                    let n = ffi::sqlite3_value_bytes(v);
                    Cell::Text(bytes(p, n))
                }
                ffi::SQLITE_BLOB => {
                    let p = ffi::sqlite3_value_blob(v).cast::<u8>();
                    let n = ffi::sqlite3_value_bytes(v);
                    Cell::Blob(bytes(p, n))
                }
                _ => Cell::Null,
            }
        }
    }
}

/// The `n` bytes at `p` (none for a null pointer: an empty BLOB, or text
/// SQLite ran out of memory converting).
///
/// # Safety
/// `p` must be null or valid for `n` bytes for the lifetime `'a`.
unsafe fn bytes<'a>(p: *const u8, n: c_int) -> &'a [u8] {
    if p.is_null() || n <= 0 {
        return &[];
    }
    // SAFETY: the caller's promise.
    unsafe { std::slice::from_raw_parts(p, n as usize) }
}

#[cfg(test)]
mod tests {
    use crate::archive::{Archive, ArchiveError, Column, Columns, Scan};
    use crate::job::Job;
    use crate::output::Destination;
    use crate::sample::{Sample, SampleFile, write_file};
    use rusqlite::ffi;
    use rusqlite::types::Value;

    use super::Cell;

    fn owned(c: Cell<'_>) -> Value {
        match c {
            Cell::Null => Value::Null,
            Cell::Integer(n) => Value::Integer(n),
            Cell::Real(f) => Value::Real(f),
            Cell::Text(b) => Value::Text(String::from_utf8(b.to_vec()).unwrap()),
            Cell::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    fn archive(dir: &tempfile::TempDir) -> Archive {
        let path = dir.path().join("a.sqlite");
        write_file(
            &Sample::new(40, 3),
            SampleFile::Archive,
            &Destination::new(&path),
            &Job::new(),
        )
        .unwrap();
        Archive::open(&path).unwrap()
    }

    /// Whether any kept statement is still mid-run (holding a read transaction).
    fn any_busy(a: &Archive) -> bool {
        a.stmts
            .0
            .borrow()
            .iter()
            // SAFETY: a kept statement is live.
            .any(|(_, s)| unsafe { ffi::sqlite3_stmt_busy(s.ptr) } != 0)
    }

    #[test]
    fn a_scan_stopped_early_ends_its_run_and_its_statement_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = archive(&dir);
        let scan = Scan::all(Columns::of(&[Column::Record]));
        let mut seen = 0;
        let stopped = a.scan::<ArchiveError>(&scan, |_| {
            seen += 1;
            Err(ArchiveError("stop".into()))
        });
        assert!(stopped.is_err());
        assert_eq!(seen, 1);
        assert_eq!(a.stmts.0.borrow().len(), 1);
        assert!(!any_busy(&a));
        // Run again from the start, with the kept statement.
        let mut all = 0;
        a.scan::<ArchiveError>(&scan, |_| {
            all += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(all, 40);
        assert_eq!(a.stmts.0.borrow().len(), 1);
        assert!(!any_busy(&a));
    }

    #[test]
    fn a_scan_inside_a_scan_of_the_same_text_gets_its_own_statement() {
        let dir = tempfile::tempdir().unwrap();
        let a = archive(&dir);
        let cols = Columns::of(&[Column::Record, Column::LeafHash]);
        let mut pairs = 0;
        a.scan::<ArchiveError>(&Scan::seqs(cols, 1..=5), |outer| {
            a.scan::<ArchiveError>(&Scan::seqs(cols, 1..=5), |inner| {
                assert!(!inner.record().is_empty());
                assert!(!outer.record().is_empty());
                pairs += 1;
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(pairs, 25);
        // Both statements were kept, neither mid-run.
        assert_eq!(a.stmts.0.borrow().len(), 2);
        assert!(!any_busy(&a));
    }

    #[test]
    fn values_read_as_rusqlite_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = archive(&dir);
        let mut stmt = a
            .stmts
            .get(
                &a.conn,
                "SELECT 7, 2.5, 'text', x'00ff', NULL, x'', '', ?1, ?2",
            )
            .unwrap();
        let params = [Value::Integer(-3), Value::Text("é".into())];
        let mut run = stmt.start(&params).unwrap();
        assert!(run.step().unwrap());
        let want: Vec<Value> = a
            .conn
            .query_row(
                "SELECT 7, 2.5, 'text', x'00ff', NULL, x'', '', ?1, ?2",
                rusqlite::params![-3, "é"],
                |r| (0..9).map(|i| r.get::<_, Value>(i)).collect(),
            )
            .unwrap();
        let got: Vec<Value> = (0..9).map(|i| owned(run.cell(i))).collect();
        assert_eq!(got, want);
        // A column past the last reads as NULL.
        assert_eq!(run.cell(9), Cell::Null);
        assert!(!run.step().unwrap());
        assert!(!run.step().unwrap());
    }
}

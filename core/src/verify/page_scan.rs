//! Reads the rows of the entries table straight from the archive's b-tree
//! pages, for verification (SQLite file format, sections 1 and 2:
//! <https://www.sqlite.org/fileformat2.html>).
//!
//! Verification reads every row once. Through SQL, SQLite copies every column
//! of every row into its registers and each column crosses the C API on its
//! own; that was about a third of verification's time. Here a worker reads a
//! run of leaf pages in one call and takes the columns as slices of the page.
//!
//! It reads only files it reads exactly as SQLite does: a rollback-journal,
//! UTF-8 file whose entries table has the schema auditlens writes, and whose
//! b-tree is well formed (keys increasing and within their parent's bounds,
//! no page twice, every cell inside its page). Anything else, and the caller
//! reads through SQL, the source of truth for what the viewer shows.
//!
//! Pages are read through SQLite's own file handle, under a read transaction
//! per chunk, so a writer cannot change the file while a chunk is read, and no
//! other descriptor of the file is opened or closed (closing one would drop
//! SQLite's POSIX locks on it). If a chunk finds the file changed since
//! planning (a writer committed: the change counter moved) or a page not as
//! planned, verification starts over and reads the whole archive through SQL:
//! a damaged interior page could misplace a chunk's bounds, so no chunk alone
//! is read again.

use std::ffi::{c_int, c_void};

use rusqlite::{Connection, ffi};

use super::row_check::Cell;
use crate::archive::SCHEMA;

/// Columns of the entries table after `seq` (the rowid): record, the two
/// hashes and the 11 index columns, in the schema's order.
pub(super) const STORED_COLUMNS: usize = 14;

/// The deepest b-tree we accept (SQLite's own limit is 20).
const MAX_DEPTH: usize = 20;
/// Most pages read with one call.
const RUN_PAGES: usize = 64;
/// SQLite's largest string or blob (SQLITE_MAX_LENGTH); a larger payload is damage.
const MAX_PAYLOAD: usize = 1_000_000_000;
/// Most leaves per chunk (about 6,000 rows of typical entries on 4 KiB pages).
const MAX_CHUNK_LEAVES: usize = 2048;

/// Where the entries table's rows are, as planned under one read transaction.
pub(super) struct Plan {
    geometry: Geometry,
    /// The file change counter when the plan was made.
    counter: [u8; 4],
    pub chunks: Vec<LeafChunk>,
}

/// A run of consecutive leaves and the seqs they hold: more than `after`, at
/// most `upto` (the bounds their parents give, `upto` cut at the largest seq
/// stored when planning).
pub(super) struct LeafChunk {
    /// Each leaf with the bounds its parents give its keys.
    leaves: Vec<(u32, i64, i64)>,
    pub after: i64,
    pub upto: i64,
}

#[derive(Clone, Copy)]
struct Geometry {
    page_size: usize,
    /// Page size less the reserved bytes at the end of each page.
    usable: usize,
    pages: u32,
}

impl Geometry {
    /// The page that holds the lock bytes: SQLite never stores anything there.
    fn lock_page(self) -> u32 {
        (0x4000_0000 / self.page_size) as u32 + 1
    }

    fn valid(self, page: u32) -> bool {
        page >= 1 && page <= self.pages && page != self.lock_page()
    }
}

/// Why a page read stopped: the caller reads through SQL instead.
#[derive(Debug)]
pub(super) struct Unreadable;

/// SQLite's handle of the connection's main database file.
pub(super) struct FileReader {
    file: *mut ffi::sqlite3_file,
}

impl FileReader {
    /// The file handle of `conn`, which must outlive the reader.
    pub fn of(conn: &Connection) -> Option<FileReader> {
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: FILE_POINTER writes the connection's sqlite3_file pointer
        // into `file`; the handle stays valid while the connection is open.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
            )
        };
        // SAFETY: a non-null file pointer points at an open sqlite3_file.
        let open = !file.is_null() && unsafe { !(*file).pMethods.is_null() };
        (rc == ffi::SQLITE_OK && open).then_some(FileReader { file })
    }

    /// Fills `buf` from `offset`; false on any error or short read.
    fn read(&self, buf: &mut [u8], offset: u64) -> bool {
        let (Ok(n), Ok(at)) = (c_int::try_from(buf.len()), i64::try_from(offset)) else {
            return false;
        };
        // SAFETY: `file` is open (see `of`) and used by one thread; xRead
        // writes at most `n` bytes into `buf`.
        unsafe {
            let Some(x_read) = (*(*self.file).pMethods).xRead else {
                return false;
            };
            x_read(self.file, buf.as_mut_ptr().cast(), n, at) == ffi::SQLITE_OK
        }
    }

    /// The file's size in bytes.
    fn size(&self) -> Option<u64> {
        let mut size: ffi::sqlite3_int64 = 0;
        // SAFETY: `file` is open (see `of`); xFileSize writes one integer.
        let rc = unsafe {
            let x_size = (*(*self.file).pMethods).xFileSize?;
            x_size(self.file, &mut size)
        };
        (rc == ffi::SQLITE_OK)
            .then_some(size)
            .and_then(|s| u64::try_from(s).ok())
    }
}

/// The file's header facts, if it is a file this module reads.
fn read_header(file: &FileReader) -> Option<(Geometry, [u8; 4])> {
    let mut h = [0u8; 100];
    if !file.read(&mut h, 0) || &h[..16] != b"SQLite format 3\0" {
        return None;
    }
    let page_size = match u16::from_be_bytes([h[16], h[17]]) {
        1 => 65536,
        n if n >= 512 && n.is_power_of_two() => n as usize,
        _ => return None,
    };
    // Legacy (rollback journal) read and write versions; 2 is WAL.
    if h[18] != 1 || h[19] != 1 {
        return None;
    }
    let usable = page_size
        .checked_sub(h[20] as usize)
        .filter(|&u| u >= 480)?;
    let counter: [u8; 4] = h[24..28].try_into().ok()?;
    // The page count in the header is valid only when this matches the counter.
    let pages = u32::from_be_bytes(h[28..32].try_into().ok()?);
    if h[92..96] != counter || pages == 0 {
        return None;
    }
    // Text encoding UTF-8.
    if u32::from_be_bytes(h[56..60].try_into().ok()?) != 1 {
        return None;
    }
    // A header may claim more pages than the file holds; every bound below
    // (page numbers, payload sizes, the pages-seen set) rests on this one.
    if pages as u64 * page_size as u64 > file.size()? {
        return None;
    }
    Some((
        Geometry {
            page_size,
            usable,
            pages,
        },
        counter,
    ))
}

/// The statement that creates the entries table, as stored in sqlite_master.
fn entries_schema() -> Option<&'static str> {
    let start = SCHEMA.find("CREATE TABLE entries (")?;
    let end = start + SCHEMA[start..].find("\n);")? + 2;
    Some(&SCHEMA[start..end])
}

/// Ends a read transaction when dropped.
struct ReadTransaction<'a>(&'a Connection);

impl<'a> ReadTransaction<'a> {
    /// Starts a read transaction and takes SQLite's shared lock, which keeps
    /// writers from changing the file until it ends.
    fn begin(conn: &'a Connection) -> Option<ReadTransaction<'a>> {
        if !conn.is_autocommit() {
            return None;
        }
        conn.execute_batch("BEGIN").ok()?;
        let t = ReadTransaction(conn);
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .ok()?;
        Some(t)
    }
}

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("COMMIT");
    }
}

/// Plans the read of the entries table: its leaves in order, cut into enough
/// chunks to keep `workers` busy to the end. `None` when the file is not one
/// this module reads (the caller uses SQL).
pub(super) fn plan(conn: &Connection, workers: usize) -> Option<Plan> {
    let _tx = ReadTransaction::begin(conn)?;
    let file = FileReader::of(conn)?;
    let (geometry, counter) = read_header(&file)?;
    let (root, sql, last_seq): (i64, String, Option<i64>) = conn
        .query_row(
            "SELECT rootpage, sql, (SELECT max(seq) FROM entries) FROM sqlite_master \
             WHERE type = 'table' AND name = 'entries'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()?;
    if Some(sql.as_str()) != entries_schema() {
        return None;
    }
    let root = u32::try_from(root).ok().filter(|&p| geometry.valid(p))?;
    let last_seq = last_seq.unwrap_or(i64::MIN);
    let leaves = leaves_of(&file, geometry, root)?;
    let per_chunk = (leaves.len() / (16 * workers.max(1))).clamp(1, MAX_CHUNK_LEAVES);
    let mut chunks = Vec::new();
    for group in leaves.chunks(per_chunk) {
        let after = group[0].1;
        let upto = group[group.len() - 1].2.min(last_seq);
        if after >= upto {
            // Past the largest stored seq: nothing (an empty table's one leaf).
            continue;
        }
        chunks.push(LeafChunk {
            leaves: group.to_vec(),
            after,
            upto,
        });
    }
    Some(Plan {
        geometry,
        counter,
        chunks,
    })
}

/// The table's leaves in key order, each with the bounds its parents give
/// (keys more than the first, at most the second).
///
/// Only interior pages are read: in a b-tree every leaf is at the same depth,
/// found down the leftmost path, so the pages one level below the last
/// interior level are taken as leaves, and reading them checks that they are.
fn leaves_of(file: &FileReader, g: Geometry, root: u32) -> Option<Vec<(u32, i64, i64)>> {
    let mut page = vec![0u8; g.page_size];
    let read = |pgno: u32, page: &mut Vec<u8>| -> Option<u8> {
        if !g.valid(pgno) || !file.read(page, (pgno as u64 - 1) * g.page_size as u64) {
            return None;
        }
        page.get(if pgno == 1 { 100 } else { 0 }).copied()
    };
    let mut leaf_depth = 0;
    let mut pgno = root;
    loop {
        match read(pgno, &mut page)? {
            0x0D => break,
            0x05 if leaf_depth < MAX_DEPTH => {
                let hdr = if pgno == 1 { 100 } else { 0 };
                let n = u16::from_be_bytes([page[hdr + 3], page[hdr + 4]]);
                let child = if n == 0 {
                    hdr + 8
                } else {
                    u16::from_be_bytes([page[hdr + 12], page[hdr + 13]]) as usize
                };
                pgno = u32::from_be_bytes(page.get(child..child + 4)?.try_into().ok()?);
                leaf_depth += 1;
            }
            _ => return None,
        }
    }
    let mut seen = vec![0u64; (g.pages as usize).div_ceil(64) + 1];
    let mut leaves = Vec::new();
    // Pages still to visit, the next one last.
    let mut stack = vec![(root, i64::MIN, i64::MAX, 0usize)];
    while let Some((pgno, after, upto, depth)) = stack.pop() {
        if !g.valid(pgno) || depth > leaf_depth {
            return None;
        }
        let (word, bit) = (pgno as usize / 64, 1u64 << (pgno % 64));
        if seen[word] & bit != 0 {
            return None;
        }
        seen[word] |= bit;
        if depth == leaf_depth {
            leaves.push((pgno, after, upto));
            continue;
        }
        let hdr = if pgno == 1 { 100 } else { 0 };
        match read(pgno, &mut page)? {
            0x05 => {
                let body = &page[..g.usable];
                let n = u16::from_be_bytes([*body.get(hdr + 3)?, *body.get(hdr + 4)?]) as usize;
                let right = u32::from_be_bytes(body.get(hdr + 8..hdr + 12)?.try_into().ok()?);
                let pointers = hdr + 12;
                let mut children = Vec::with_capacity(n + 1);
                let mut low = after;
                for i in 0..n {
                    let at = pointers + 2 * i;
                    let o = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]) as usize;
                    if o < pointers + 2 * n {
                        return None;
                    }
                    let child = u32::from_be_bytes(body.get(o..o + 4)?.try_into().ok()?);
                    let (key, _) = varint(body.get(o + 4..)?)?;
                    let key = key as i64;
                    if key <= low || key > upto {
                        return None;
                    }
                    children.push((child, low, key, depth + 1));
                    low = key;
                }
                children.push((right, low, upto, depth + 1));
                stack.extend(children.into_iter().rev());
            }
            _ => return None,
        }
    }
    Some(leaves)
}

/// A SQLite varint: the value and its length in bytes.
#[inline(always)]
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    // Serial types and small sizes, most varints, are one byte.
    match b.first() {
        Some(&c) if c < 0x80 => return Some((c as u64, 1)),
        None => return None,
        _ => {}
    }
    varint_long(b)
}

#[inline]
fn varint_long(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate().take(9) {
        if i == 8 {
            return Some(((v << 8) | c as u64, 9));
        }
        v = (v << 7) | (c & 0x7f) as u64;
        if c < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

impl Plan {
    /// Reads the rows of `chunk` through `conn` (a connection of its own, one
    /// per thread), calling `row` with each seq and its stored columns in seq
    /// order. `Err` means nothing read from the pages can be trusted: the file
    /// changed since planning or a page is not as planned (`row` may already
    /// have been called; the caller reads the archive again through SQL).
    pub fn read_chunk(
        &self,
        conn: &Connection,
        chunk: &LeafChunk,
        mut row: impl FnMut(i64, &[Cell<'_>; STORED_COLUMNS]),
    ) -> Result<(), Unreadable> {
        let _tx = ReadTransaction::begin(conn).ok_or(Unreadable)?;
        let file = FileReader::of(conn).ok_or(Unreadable)?;
        let g = self.geometry;
        match read_header(&file) {
            Some((now, counter))
                if counter == self.counter
                    && (now.page_size, now.usable, now.pages)
                        == (g.page_size, g.usable, g.pages) => {}
            _ => return Err(Unreadable),
        }
        let mut buf = vec![0u8; g.page_size * RUN_PAGES];
        let mut overflow = Vec::new();
        let mut prev = chunk.after;
        let mut k = 0;
        while k < chunk.leaves.len() {
            // The longest run of consecutive page numbers from here.
            let first = chunk.leaves[k].0;
            let mut n = 1;
            while n < RUN_PAGES
                && k + n < chunk.leaves.len()
                && chunk.leaves[k + n].0 == first + n as u32
            {
                n += 1;
            }
            // One copy of a run of pages is cheaper than first touches of
            // SQLite's memory map spread over the parsing (measured).
            let run = &mut buf[..n * g.page_size];
            if !file.read(run, (first as u64 - 1) * g.page_size as u64) {
                return Err(Unreadable);
            }
            for (page, &(pgno, after, upto)) in
                run.chunks_exact(g.page_size).zip(&chunk.leaves[k..k + n])
            {
                read_leaf(&file, g, pgno, page, &mut overflow, |seq, cells| {
                    if seq <= prev || seq <= after || seq > upto.min(chunk.upto) {
                        return Err(Unreadable);
                    }
                    prev = seq;
                    row(seq, cells);
                    Ok(())
                })?;
            }
            k += n;
        }
        Ok(())
    }
}

/// The rows of one table leaf page.
fn read_leaf(
    file: &FileReader,
    g: Geometry,
    pgno: u32,
    page: &[u8],
    overflow: &mut Vec<u8>,
    mut row: impl FnMut(i64, &[Cell<'_>; STORED_COLUMNS]) -> Result<(), Unreadable>,
) -> Result<(), Unreadable> {
    let body = &page[..g.usable];
    let hdr = if pgno == 1 { 100 } else { 0 };
    let byte = |i: usize| body.get(i).copied().ok_or(Unreadable);
    if byte(hdr)? != 0x0D {
        return Err(Unreadable);
    }
    let n = u16::from_be_bytes([byte(hdr + 3)?, byte(hdr + 4)?]) as usize;
    let pointers = hdr + 8;
    // Largest payload kept whole on the page, and the least kept when it spills.
    let max_local = g.usable - 35;
    let min_local = (g.usable - 12) * 32 / 255 - 23;
    for i in 0..n {
        let at = pointers + 2 * i;
        let o = u16::from_be_bytes([byte(at)?, byte(at + 1)?]) as usize;
        if o < pointers + 2 * n || o >= g.usable {
            return Err(Unreadable);
        }
        let (size, a) = varint(&body[o..]).ok_or(Unreadable)?;
        let (seq, b) = varint(body.get(o + a..).ok_or(Unreadable)?).ok_or(Unreadable)?;
        let start = o + a + b;
        let size = usize::try_from(size).map_err(|_| Unreadable)?;
        let payload: &[u8] = if size <= max_local {
            body.get(start..start + size).ok_or(Unreadable)?
        } else {
            let k = min_local + (size - min_local) % (g.usable - 4);
            let local = if k <= max_local { k } else { min_local };
            let here = body.get(start..start + local).ok_or(Unreadable)?;
            let next = body
                .get(start + local..start + local + 4)
                .ok_or(Unreadable)?;
            let next = u32::from_be_bytes(next.try_into().map_err(|_| Unreadable)?);
            read_overflow(file, g, here, next, size, overflow)?;
            overflow
        };
        let cells = record_cells(payload).ok_or(Unreadable)?;
        row(seq as i64, &cells)?;
    }
    Ok(())
}

/// Gathers a payload that spills onto overflow pages into `out`.
fn read_overflow(
    file: &FileReader,
    g: Geometry,
    local: &[u8],
    mut next: u32,
    size: usize,
    out: &mut Vec<u8>,
) -> Result<(), Unreadable> {
    if size > g.pages as usize * g.usable || size > MAX_PAYLOAD {
        return Err(Unreadable);
    }
    out.clear();
    out.reserve(size);
    out.extend_from_slice(local);
    let mut page = vec![0u8; g.page_size];
    while out.len() < size {
        if !g.valid(next) || !file.read(&mut page, (next as u64 - 1) * g.page_size as u64) {
            return Err(Unreadable);
        }
        let take = (size - out.len()).min(g.usable - 4);
        out.extend_from_slice(&page[4..4 + take]);
        next = u32::from_be_bytes(page[..4].try_into().map_err(|_| Unreadable)?);
    }
    // The chain's last page points nowhere.
    (next == 0).then_some(()).ok_or(Unreadable)
}

/// The stored columns of a record (column 0, `seq`, is the rowid and is not
/// read from the record). Columns missing at the end are NULL, as in SQLite.
fn record_cells(p: &[u8]) -> Option<[Cell<'_>; STORED_COLUMNS]> {
    let (header_len, mut h) = varint(p)?;
    let header_len = usize::try_from(header_len).ok()?;
    if header_len < h || header_len > p.len() {
        return None;
    }
    let mut cells = [Cell::Null; STORED_COLUMNS];
    let mut body = header_len;
    let mut column = 0usize;
    while h < header_len && column <= STORED_COLUMNS {
        let (t, n) = varint(&p[h..header_len])?;
        h += n;
        let len = match t {
            0 | 8 | 9 => 0,
            1..=4 => t as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return None,
            _ => usize::try_from((t - 12) / 2).ok()?,
        };
        let v = p.get(body..body.checked_add(len)?)?;
        body += len;
        if column > 0 {
            cells[column - 1] = match t {
                0 => Cell::Null,
                8 => Cell::Integer(0),
                9 => Cell::Integer(1),
                1..=6 => {
                    // Big-endian two's complement, sign-extended.
                    let mut n = if v[0] & 0x80 != 0 { -1i64 } else { 0 };
                    for &c in v {
                        n = (n << 8) | c as i64;
                    }
                    Cell::Integer(n)
                }
                7 => Cell::Real(f64::from_bits(u64::from_be_bytes(v.try_into().ok()?))),
                _ => Cell::Bytes(v),
            };
        }
        column += 1;
    }
    // SQLite's own rule: once the whole header is read, the fields must end
    // exactly where the payload does.
    if h >= header_len && (h > header_len || body != p.len()) {
        return None;
    }
    Some(cells)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::archive::Archive;
    use crate::ingest::{IngestOptions, ingest};
    use crate::job::Job;
    use crate::sample::{PlatformFormat, Sample, write_platform};

    /// An archive of `n` sample entries, every tenth with a `before` state
    /// large enough to spill onto overflow pages.
    fn archive(dir: &Path, name: &str, n: u64, seed: u64) -> PathBuf {
        let mut text = Vec::new();
        write_platform(&Sample::new(n, seed), PlatformFormat::Jsonl, &mut text).unwrap();
        let mut out = String::new();
        for (i, line) in String::from_utf8(text).unwrap().lines().enumerate() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if i % 10 == 3 {
                let big = serde_json::json!({ "note": "x".repeat(3000 + 37 * i) });
                v["before"] = big.to_string().into();
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        let input = dir.join(format!("{name}.jsonl"));
        std::fs::write(&input, out).unwrap();
        let path = dir.join(format!("{name}.sqlite"));
        ingest(&path, &[input], &IngestOptions::default(), &Job::new()).unwrap();
        path
    }

    /// Every row as text: (seq, then each stored column as SQLite prints it).
    type Row = (i64, Vec<Option<String>>);

    fn text(c: &Cell<'_>) -> Option<String> {
        match *c {
            Cell::Null => None,
            Cell::Bytes(b) => Some(format!("{b:?}")),
            Cell::Integer(n) => Some(format!("int {n}")),
            Cell::Real(f) => Some(format!("real {f}")),
        }
    }

    fn rows_from_pages(path: &Path) -> Option<Vec<Row>> {
        let a = Archive::open(path).unwrap();
        let plan = plan(a.connection(), 2)?;
        let reader = Archive::open(path).unwrap();
        let mut rows = Vec::new();
        for chunk in &plan.chunks {
            plan.read_chunk(reader.connection(), chunk, |seq, cells| {
                rows.push((seq, cells.iter().map(text).collect()));
            })
            .ok()?;
        }
        Some(rows)
    }

    fn rows_from_sql(path: &Path) -> Vec<Row> {
        let a = Archive::open(path).unwrap();
        let mut stmt = a
            .connection()
            .prepare(
                "SELECT seq, record, leaf_hash, chain_hash, entry_id, time_ms, actor_type, \
                 actor_id, actor_label, action, resource_type, resource_id, project_id, org_id, \
                 ip_address FROM entries ORDER BY seq",
            )
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            let cells: Vec<Cell<'_>> = (1..=STORED_COLUMNS)
                .map(|k| Cell::from(r.get_ref(k).unwrap()))
                .collect();
            out.push((r.get(0).unwrap(), cells.iter().map(text).collect()));
        }
        out
    }

    #[test]
    fn pages_give_exactly_the_rows_sql_gives() {
        let d = tempfile::tempdir().unwrap();
        // Enough rows for interior pages above the leaves, and overflow chains.
        let path = archive(d.path(), "a", 2500, 1);
        let pages = rows_from_pages(&path).expect("a fresh archive is read from its pages");
        let sql = rows_from_sql(&path);
        assert_eq!(pages.len(), 2500);
        assert!(pages == sql, "the page reader disagrees with SQLite");
    }

    #[test]
    fn a_chunk_is_refused_once_a_writer_committed() {
        let d = tempfile::tempdir().unwrap();
        let path = archive(d.path(), "a", 300, 1);
        let a = Archive::open(&path).unwrap();
        let plan = plan(a.connection(), 2).unwrap();
        drop(a);
        // Another ingest appends (and splits pages) after the plan was made.
        let more = d.path().join("more.jsonl");
        let mut f = std::fs::File::create(&more).unwrap();
        write_platform(&Sample::new(300, 2), PlatformFormat::Jsonl, &mut f).unwrap();
        ingest(&path, &[more], &IngestOptions::default(), &Job::new()).unwrap();
        let reader = Archive::open(&path).unwrap();
        let r = plan.read_chunk(reader.connection(), &plan.chunks[0], |_, _| {});
        assert!(
            r.is_err(),
            "a chunk planned before the commit was read from pages"
        );
    }

    #[test]
    fn files_it_cannot_read_exactly_are_left_to_sql() {
        let d = tempfile::tempdir().unwrap();
        let path = archive(d.path(), "a", 50, 1);
        let plan_of = |p: &Path| plan(Archive::open(p).unwrap().connection(), 2).is_some();
        assert!(plan_of(&path));
        // A changed schema.
        let altered = d.path().join("altered.sqlite");
        std::fs::copy(&path, &altered).unwrap();
        let c = Connection::open(&altered).unwrap();
        c.execute_batch("ALTER TABLE entries ADD COLUMN extra TEXT DEFAULT 'x'")
            .unwrap();
        drop(c);
        assert!(!plan_of(&altered));
        // A WAL-mode file.
        let wal = d.path().join("wal.sqlite");
        std::fs::copy(&path, &wal).unwrap();
        let c = Connection::open(&wal).unwrap();
        c.pragma_update(None, "journal_mode", "wal").unwrap();
        drop(c);
        assert_eq!(std::fs::read(&wal).unwrap()[18], 2);
        assert!(!plan_of(&wal));
    }

    #[test]
    fn a_header_claiming_more_pages_than_the_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = archive(d.path(), "a", 50, 1);
        let mut b = std::fs::read(&path).unwrap();
        b[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
        let big = d.path().join("big.sqlite");
        std::fs::write(&big, &b).unwrap();
        let a = Archive::open(&big);
        // SQLite may refuse the file itself; if it opens, no plan is made.
        if let Ok(a) = a {
            assert!(plan(a.connection(), 2).is_none());
        }
    }

    #[test]
    fn a_damaged_leaf_is_refused_not_misread() {
        let d = tempfile::tempdir().unwrap();
        let path = archive(d.path(), "a", 400, 1);
        let bytes = std::fs::read(&path).unwrap();
        let page_size = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
        let a = Archive::open(&path).unwrap();
        let leaf = plan(a.connection(), 2).unwrap().chunks[0].leaves[1].0 as usize;
        drop(a);
        // A cell pointer aimed into the pointer array itself.
        let damaged = d.path().join("damaged.sqlite");
        let mut b = bytes.clone();
        let at = (leaf - 1) * page_size + 8;
        b[at..at + 2].copy_from_slice(&2u16.to_be_bytes());
        std::fs::write(&damaged, &b).unwrap();
        let a = Archive::open(&damaged).unwrap();
        let p = plan(a.connection(), 2).unwrap();
        let r = p.read_chunk(a.connection(), &p.chunks[0], |_, _| {});
        assert!(r.is_err());
        // Verification then reads the archive again through SQL, and says
        // what SQL says.
        use crate::verify::{RowReader, verify_archive_reading};
        let via = |r| verify_archive_reading(&a, None, &Job::new(), r).map_err(|e| e.to_string());
        let (pages, sql) = (via(RowReader::Pages), via(RowReader::Sql));
        assert_eq!(pages.as_ref().err(), sql.as_ref().err());
        if let (Ok(p), Ok(s)) = (pages, sql) {
            assert_eq!(p.findings, s.findings);
        }
        // An interior page that points at a page twice: no plan at all.
        let mut b = bytes;
        let root = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'entries'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as usize;
        let base = (root - 1) * page_size;
        assert_eq!(b[base], 0x05, "the root is an interior page");
        let first = u16::from_be_bytes([b[base + 12], b[base + 13]]) as usize;
        let right = b[base + 8..base + 12].to_vec();
        b[base + first..base + first + 4].copy_from_slice(&right);
        std::fs::write(&damaged, &b).unwrap();
        assert!(plan(Archive::open(&damaged).unwrap().connection(), 2).is_none());
    }

    #[test]
    fn varints_read_as_sqlite_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9]), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81]), None);
        assert_eq!(varint(&[]), None);
    }

    #[test]
    fn record_cells_decode_every_serial_type() {
        // Header: length 8, then seq NULL, text "ab", int8 -2, int16 300,
        // zero, one, real 1.5.
        let mut p = vec![8u8, 0, 17, 1, 2, 8, 9, 7];
        p.extend_from_slice(b"ab");
        p.push(0xfe);
        p.extend_from_slice(&300i16.to_be_bytes());
        p.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        let c = record_cells(&p).unwrap();
        assert!(matches!(c[0], Cell::Bytes(b"ab")));
        assert!(matches!(c[1], Cell::Integer(-2)));
        assert!(matches!(c[2], Cell::Integer(300)));
        assert!(matches!(c[3], Cell::Integer(0)));
        assert!(matches!(c[4], Cell::Integer(1)));
        assert!(matches!(c[5], Cell::Real(f) if f == 1.5));
        assert!(matches!(c[6], Cell::Null));
        // A body shorter or longer than its header says, and reserved types, are refused.
        assert!(record_cells(&p[..p.len() - 1]).is_none());
        let mut longer = p.clone();
        longer.push(0);
        assert!(record_cells(&longer).is_none());
        assert!(record_cells(&[2, 10]).is_none());
    }

    #[test]
    fn the_schema_statement_is_found() {
        let s = entries_schema().unwrap();
        assert!(s.starts_with("CREATE TABLE entries (") && s.ends_with("\n)"));
        assert!(s.contains("ip_address    TEXT"));
    }
}

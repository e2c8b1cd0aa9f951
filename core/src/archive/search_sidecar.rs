//! The free-text search sidecar, `ARCHIVE.search.sqlite`: a trigram index
//! of every entry's search text (for each run of three characters, the seqs
//! of the entries whose text holds it), kept beside the archive so that a
//! second open can search at once instead of reading every record again
//! (about 40 s at a million entries).
//!
//! The index is made here, not by SQLite's FTS5 (trigram tokenizer), which
//! the first version used: FTS5's in-memory hash of new terms hashes a
//! three-byte token into fewer than 100,000 values, so its chains grow with
//! the distinct trigrams of ids (cuids), and its 1 MiB of pending terms made
//! hundreds of small segments merged level upon level: 15 minutes at a
//! million entries, over an hour at ten million. Here each trigram's seqs
//! are gathered in memory (a chunk at a time) and written once, in key order.
//!
//! The sidecar is not evidence and is never trusted for what exists:
//! - it only *narrows* a search: every hit is re-checked against its record
//!   by the core filter, so a sidecar that claims a hit adds nothing;
//! - a sidecar that drops hits would hide entries, and re-checking hits
//!   cannot see that; so the viewer uses a sidecar only if it built that very
//!   file itself (the SHA-256 of the file, remembered in its settings, must
//!   match), and only for the archive head it was built for (entry count,
//!   last seq and its chain hash, and the archive id). Anything else is
//!   rebuilt, and until it is, searches read the records;
//! - it has its own application id (not the archive's), no `meta` table, and
//!   opening it as an archive says what it is ([`is_sidecar_file`]).
//!
//! It is written only through [`crate::output`] (a staged file renamed into
//! place; never the archive, never evidence).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Archive, Column, Columns, Scan};
use crate::job::Job;
use crate::output::{Destination, Output};
use crate::row_index::Index;

/// Appended to the archive's file name.
pub const SUFFIX: &str = ".search.sqlite";

/// SQLite application id of a sidecar ("ALSX"), unlike the archive's.
pub const APPLICATION_ID: u32 = 0x414c_5358;

/// Bumped when the sidecar's layout or its text changes.
const VERSION: &str = "2";

/// New postings (with 48 bytes a trigram for the map) kept in memory before
/// they are written out as one chunk per trigram: most of the build's
/// memory, up to about twice this with the vectors' spare room. 32 MiB
/// raised the viewer's peak at 1M to 196 MB (from 106); more chunks cost a
/// search little (a row each).
const CHUNK_BYTES: usize = 16 << 20;

/// The sidecar's name beside `archive`.
pub fn path_for(archive: &Path) -> PathBuf {
    let mut p = archive.as_os_str().to_owned();
    p.push(SUFFIX);
    PathBuf::from(p)
}

/// Is the file at `path` a search sidecar (by its SQLite application id)?
pub fn is_sidecar_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 72];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| is_sidecar_header(&head))
}

/// Do these first bytes of a file belong to a search sidecar?
pub fn is_sidecar_header(head: &[u8]) -> bool {
    head.starts_with(b"SQLite format 3\0")
        && head.get(68..72) == Some(&APPLICATION_ID.to_be_bytes()[..])
}

/// What a sidecar was built for: the archive and its head. A sidecar whose
/// head differs from the archive's is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub archive_id: String,
    pub entries: u64,
    pub last_seq: u64,
    pub last_chain_hash: String,
}

impl Head {
    pub fn of(archive: &Archive) -> Result<Head, String> {
        let entries = archive.count().map_err(|e| e.0)?;
        let (last_seq, chain) = archive
            .head()
            .map_err(|e| e.0)?
            .map_or((0, String::new()), |(s, h)| (s, h.to_hex()));
        Ok(Head {
            archive_id: archive.id().to_string(),
            entries,
            last_seq,
            last_chain_hash: chain,
        })
    }

    /// The head of `archive` as the whole row index `ix`, loaded from it in
    /// this open, already knows it: the entry count and the last seq without
    /// counting the table again (`count(*)` reads every page of a large
    /// archive: most of the seconds a second open waited), and the last
    /// entry's chain hash, read from the archive. If the archive's last seq
    /// is not the index's (it changed since), or the index is only a first
    /// page, the archive is counted.
    pub fn of_indexed(archive: &Archive, ix: &Index) -> Result<Head, String> {
        let head = archive.head().map_err(|e| e.0)?;
        let last = ix.len().checked_sub(1).map(|p| ix.seq(p));
        match head {
            Some((seq, chain)) if ix.complete && last == Some(seq) => Ok(Head {
                archive_id: archive.id().to_string(),
                entries: ix.len() as u64,
                last_seq: seq,
                last_chain_hash: chain.to_hex(),
            }),
            _ => Head::of(archive),
        }
    }

    fn pairs(&self) -> [(&'static str, String); 5] {
        [
            ("version", VERSION.to_string()),
            ("archive_id", self.archive_id.clone()),
            ("entries", self.entries.to_string()),
            ("last_seq", self.last_seq.to_string()),
            ("last_chain_hash", self.last_chain_hash.clone()),
        ]
    }
}

/// An open sidecar that matched its archive's head and the digest the
/// caller trusts.
pub struct Sidecar {
    conn: Mutex<Connection>,
    /// Per index position: rank of the Resource column (name, else id;
    /// lower-cased), as [`crate::text_search::SearchIndex::resource_rank`].
    pub resource_rank: Vec<u32>,
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar").finish_non_exhaustive()
    }
}

/// What [`Sidecar::open`] found.
#[derive(Debug)]
pub enum Found {
    Usable(Box<Sidecar>),
    /// Nothing there.
    Missing,
    /// There, but not to be used (why): it will be rebuilt.
    Unusable(String),
}

fn sql_err(path: &Path, e: rusqlite::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Can the sidecar answer this lower-cased needle (a superset of its hits)?
/// Trigrams need three characters; `"` and `\n` are left to the records, as
/// in the in-memory index.
pub fn supports(needle: &str) -> bool {
    crate::text_search::supports(needle) && needle.chars().nth(2).is_some()
}

impl Sidecar {
    /// Opens the sidecar at `path` if it is one, was made for `head`, and
    /// its SHA-256 is `trusted` (the digest [`build`] returned). `n` is the
    /// number of index positions.
    pub fn open(path: &Path, head: &Head, trusted: Option<&str>, n: usize) -> Found {
        match TrustedFile::open(path, trusted) {
            Ok(file) => file.for_head(head, n),
            Err(found) => found,
        }
    }
}

/// A sidecar file opened read-only and found to be the very file this
/// viewer built (its SHA-256 is the one remembered), not yet matched to the
/// archive's head: the costly half of [`Sidecar::open`] (hashing hundreds
/// of MB), which needs no row index and so can run while the index loads.
pub struct TrustedFile {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for TrustedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TrustedFile {
    /// The sidecar at `path`, if it is one and its SHA-256 is `trusted`;
    /// else what [`Sidecar::open`] says of it.
    pub fn open(path: &Path, trusted: Option<&str>) -> Result<TrustedFile, Found> {
        if !path.exists() {
            return Err(Found::Missing);
        }
        if !is_sidecar_file(path) {
            return Err(Found::Unusable(
                "it is not a search index auditlens made".into(),
            ));
        }
        let Some(trusted) = trusted else {
            return Err(Found::Unusable("this viewer did not build it".into()));
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Found::Unusable(sql_err(path, e)))?;
        // The file is hashed after the connection holds it open.
        match crate::digest::file_sha256(path) {
            Ok(d) if d == trusted => Ok(TrustedFile {
                conn,
                path: path.to_path_buf(),
            }),
            Ok(_) => Err(Found::Unusable(
                "it changed since this viewer built it".into(),
            )),
            Err(e) => Err(Found::Unusable(format!("{}: {e}", path.display()))),
        }
    }

    /// The sidecar, if it was made for `head` and its Resource ranks cover
    /// the `n` index positions.
    pub fn for_head(self, head: &Head, n: usize) -> Found {
        let TrustedFile { conn, path } = self;
        let path = path.as_path();
        // The head it was made for, and the Resource ranks.
        type Stored = (Vec<(String, String)>, Option<Vec<u8>>);
        let read = || -> rusqlite::Result<Stored> {
            conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -16384;")?;
            let mut st = conn.prepare("SELECT key, value FROM search_meta WHERE key <> 'ranks'")?;
            let pairs = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            drop(st);
            let ranks = conn
                .query_row(
                    "SELECT value FROM search_meta WHERE key = 'ranks'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok((pairs, ranks))
        };
        let (pairs, ranks) = match read() {
            Ok(v) => v,
            Err(e) => return Found::Unusable(sql_err(path, e)),
        };
        let want = head.pairs();
        if want
            .iter()
            .any(|(k, v)| !pairs.iter().any(|(pk, pv)| pk == k && pv == v))
        {
            return Found::Unusable("it was made for another state of the archive".into());
        }
        let resource_rank: Vec<u32> = ranks
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if resource_rank.len() != n {
            return Found::Unusable("its resource order does not fit the archive".into());
        }
        Found::Usable(Box::new(Sidecar {
            conn: Mutex::new(conn),
            resource_rank,
        }))
    }
}

impl Sidecar {
    /// The seqs (ascending) of the entries whose search text may contain
    /// `needle` (lower-cased, [`supports`]ed): every trigram of it is in
    /// their text. A superset: the caller re-checks each record.
    pub fn hits(&self, needle: &str) -> Result<Vec<u64>, String> {
        let conn = self.conn.lock().map_err(|_| "search index lock poisoned")?;
        let mut st = conn
            .prepare_cached("SELECT seqs FROM postings WHERE gram = ?1 ORDER BY first")
            .map_err(|e| e.to_string())?;
        // Each trigram's seqs, the shortest list first (it bounds the rest).
        let mut lists: Vec<Vec<u64>> = Vec::new();
        for gram in grams(needle) {
            let mut seqs = Vec::new();
            let mut rows = st.query([&gram]).map_err(|e| e.to_string())?;
            while let Some(r) = rows.next().map_err(|e| e.to_string())? {
                let blob = r.get_ref(0).map_err(|e| e.to_string())?;
                let blob = blob.as_blob().map_err(|e| e.to_string())?;
                decode_seqs(blob, &mut seqs)?;
            }
            if seqs.is_empty() {
                return Ok(seqs);
            }
            lists.push(seqs);
        }
        lists.sort_by_key(Vec::len);
        let mut lists = lists.into_iter();
        let mut hits = lists.next().unwrap_or_default();
        for list in lists {
            let mut other = list.iter().peekable();
            hits.retain(|&q| {
                while other.next_if(|&&o| o < q).is_some() {}
                other.peek() == Some(&&q)
            });
        }
        Ok(hits)
    }
}

/// The distinct trigrams of `needle` (each three characters), sorted.
fn grams(needle: &str) -> Vec<String> {
    let chars: Vec<char> = needle.chars().collect();
    let mut grams: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
    grams.sort();
    grams.dedup();
    grams
}

/// A trigram as one number (21 bits a character), the build's map key.
fn gram_key(a: char, b: char, c: char) -> u64 {
    (u64::from(a) << 42) | (u64::from(b) << 21) | u64::from(c)
}

fn gram_text(key: u64) -> String {
    [key >> 42, (key >> 21) & 0x1f_ffff, key & 0x1f_ffff]
        .into_iter()
        .filter_map(|c| char::from_u32(c as u32))
        .collect()
}

/// Ascending seqs as a chunk's bytes: each the difference from the one
/// before (the first from 0), as an unsigned LEB128 varint.
pub fn encode_seqs(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 2);
    let mut last = 0;
    for &q in seqs {
        push_varint(&mut out, q - last);
        last = q;
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a chunk's seqs to `out`; a malformed chunk is an error (the file
/// was damaged or edited: the digest check should have caught it).
fn decode_seqs(bytes: &[u8], out: &mut Vec<u64>) -> Result<(), String> {
    let bad = || "the search index is damaged: rebuild it by opening the archive again".to_string();
    let (mut last, mut v, mut shift) = (0u64, 0u64, 0u32);
    for &b in bytes {
        if shift > 63 {
            return Err(bad());
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            last = last.checked_add(v).ok_or_else(bad)?;
            out.push(last);
            (v, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(bad());
    }
    Ok(())
}

/// A fast hasher for the build's trigram keys (already well spread numbers
/// once multiplied); the standard SipHash costs more than the rest of a
/// token's work.
#[derive(Default)]
struct GramHasher(u64);

impl std::hash::Hasher for GramHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

type GramMap = std::collections::HashMap<u64, Gathered, std::hash::BuildHasherDefault<GramHasher>>;

/// One trigram's seqs gathered since the last chunk was written.
#[derive(Default)]
struct Gathered {
    bytes: Vec<u8>,
    first: u64,
    last: u64,
}

/// Writes the gathered postings as one chunk per trigram (in key order, as
/// the table's b-tree wants them) and empties the map.
fn write_chunk(conn: &Connection, map: &mut GramMap) -> rusqlite::Result<()> {
    let mut grams: Vec<(String, Gathered)> = map.drain().map(|(k, g)| (gram_text(k), g)).collect();
    grams.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut st =
        conn.prepare_cached("INSERT INTO postings (gram, first, seqs) VALUES (?1, ?2, ?3)")?;
    for (gram, g) in grams {
        st.execute(params![gram, g.first as i64, g.bytes])?;
    }
    map.shrink_to(0);
    Ok(())
}

/// Records a worker parses at a time.
const BATCH: usize = 256;

/// A record on its way to the worker, with its seq and index position.
struct Raw {
    seq: u64,
    pos: usize,
    record: Option<Vec<u8>>,
}

/// What the worker makes of a record: its resource label (lower-cased) and
/// the distinct trigrams of its search text, sorted. An unreadable record
/// gets no text and so never matches, as in the core filter; its resource
/// sorts first.
struct Parsed {
    seq: u64,
    pos: usize,
    label: String,
    grams: Vec<u64>,
}

fn parse(raw: Raw) -> Parsed {
    let entry = raw.record.and_then(|t| super::parse_record(&t).ok());
    let label = entry.as_ref().map_or(String::new(), |e| {
        e.resource_name
            .as_deref()
            .unwrap_or(&e.resource_id)
            .to_lowercase()
    });
    let mut grams = Vec::new();
    if let Some(e) = &entry {
        let t = crate::filter::search_text(e);
        let mut chars = t.chars();
        if let (Some(mut a), Some(mut b)) = (chars.next(), chars.next()) {
            for c in chars {
                grams.push(gram_key(a, b, c));
                (a, b) = (b, c);
            }
        }
        grams.sort_unstable();
        grams.dedup();
    }
    Parsed {
        seq: raw.seq,
        pos: raw.pos,
        label,
        grams,
    }
}

fn worker_gone_error() -> String {
    "the search index's worker stopped before every entry was indexed".into()
}

/// The postings gathered so far (written out every `chunk_bytes`) and the
/// resource labels.
struct Gathering<'c> {
    map: GramMap,
    gathered: usize,
    /// Entries added.
    added: usize,
    chunk_bytes: usize,
    conn: &'c Connection,
    label: rusqlite::Statement<'c>,
}

impl Gathering<'_> {
    fn add(&mut self, parsed: Vec<Parsed>) -> Result<(), String> {
        for p in parsed {
            for &key in &p.grams {
                let g = self.map.entry(key).or_default();
                // Seqs ascend, each trigram once an entry.
                if g.bytes.is_empty() {
                    g.first = p.seq;
                }
                let before = g.bytes.len();
                push_varint(&mut g.bytes, p.seq - g.last);
                self.gathered += g.bytes.len() - before;
                g.last = p.seq;
            }
            if self.gathered + self.map.len() * 48 >= self.chunk_bytes {
                write_chunk(self.conn, &mut self.map).map_err(|x| x.to_string())?;
                self.gathered = 0;
            }
            self.label
                .execute(params![p.pos as i64, p.label])
                .map_err(|x| x.to_string())?;
            self.added += 1;
        }
        Ok(())
    }
}

/// Builds the sidecar for the archive at `archive_path` (index `ix`) at
/// `dest`, replacing an older sidecar but never evidence nor anything the
/// viewer reads. Returns the SHA-256 of the file written, which
/// [`Sidecar::open`] wants back.
pub fn build(archive_path: &Path, dest: &Path, ix: &Index, job: &Job) -> Result<String, String> {
    build_in_chunks(archive_path, dest, ix, job, CHUNK_BYTES)
}

/// [`build`], writing the gathered postings every `chunk_bytes`.
fn build_in_chunks(
    archive_path: &Path,
    dest: &Path,
    ix: &Index,
    job: &Job,
    chunk_bytes: usize,
) -> Result<String, String> {
    let archive = Archive::open(archive_path).map_err(|e| e.0)?;
    archive.read_streaming().map_err(|e| e.0)?;
    let head = Head::of_indexed(&archive, ix)?;
    let mut output = Output::reading(&[archive_path]);
    let slot = output
        .add(&Destination::viewer(dest, true))
        .map_err(|e| e.to_string())?;
    let staged = output.staged_path(slot).map_err(|e| e.to_string())?;
    let conn = Connection::open(&staged).map_err(|e| sql_err(dest, e))?;
    let e = |e: rusqlite::Error| sql_err(dest, e);
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA journal_mode = OFF; \
         PRAGMA synchronous = OFF; PRAGMA cache_size = -8192; BEGIN;
         CREATE TABLE search_meta (key TEXT PRIMARY KEY, value);
         CREATE TABLE postings (gram TEXT NOT NULL, first INTEGER NOT NULL, seqs BLOB NOT NULL,
             PRIMARY KEY (gram, first)) WITHOUT ROWID;
         CREATE TEMP TABLE resource_label (pos INTEGER PRIMARY KEY, label TEXT NOT NULL);"
    ))
    .map_err(e)?;
    let n = ix.len();
    job.start_phase("indexing text", n as u64);
    {
        let mut gathering = Gathering {
            map: GramMap::default(),
            gathered: 0,
            added: 0,
            chunk_bytes,
            conn: &conn,
            label: conn
                .prepare("INSERT INTO resource_label (pos, label) VALUES (?1, ?2)")
                .map_err(e)?,
        };
        // Two stages, one a core: this thread reads the records and gathers
        // the postings; a worker parses each record and makes its text's
        // trigrams (together about half of the work).
        std::thread::scope(|scope| -> Result<(), String> {
            let (to_worker, work) = std::sync::mpsc::sync_channel::<Vec<Raw>>(4);
            let (worker_out, done) = std::sync::mpsc::sync_channel::<Vec<Parsed>>(4);
            scope.spawn(move || {
                for batch in work {
                    if worker_out
                        .send(batch.into_iter().map(parse).collect())
                        .is_err()
                    {
                        break;
                    }
                }
            });
            let worker_gone = || "the search index's worker stopped".to_string();
            let mut batch = Vec::with_capacity(BATCH);
            let mut pos = 0usize;
            let send = |batch: Vec<Raw>, g: &mut Gathering| -> Result<(), String> {
                let mut batch = batch;
                loop {
                    match to_worker.try_send(batch) {
                        Ok(()) => return Ok(()),
                        Err(std::sync::mpsc::TrySendError::Full(back)) => {
                            batch = back;
                            g.add(done.recv().map_err(|_| worker_gone())?)?;
                        }
                        Err(_) => return Err(worker_gone()),
                    }
                }
            };
            archive.scan::<String>(&Scan::all(Columns::of(&[Column::Record])), |r| {
                let seq = r.seq();
                while pos < n && ix.seq(pos) < seq {
                    pos += 1; // not in the index: nothing to find it by
                }
                if pos >= n || ix.seq(pos) != seq {
                    return Ok(());
                }
                let record = r.get(Column::Record).as_bytes().map(<[u8]>::to_vec);
                batch.push(Raw { seq, pos, record });
                pos += 1;
                if batch.len() == BATCH {
                    send(
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                        &mut gathering,
                    )?;
                    job.set_done(gathering.added as u64);
                    if job.is_cancelled() {
                        return Err("cancelled".into());
                    }
                }
                Ok(())
            })?;
            send(batch, &mut gathering)?;
            drop(to_worker);
            for parsed in done {
                gathering.add(parsed)?;
            }
            Ok(())
        })?;
        if gathering.added != ix.len() {
            return Err(worker_gone_error());
        }
        write_chunk(&conn, &mut gathering.map).map_err(e)?;
    }
    // Resource ranks: equal labels share a rank (as in the in-memory index).
    let mut ranks = vec![0u32; n];
    {
        let mut st = conn
            .prepare("SELECT pos, label FROM resource_label ORDER BY label, pos")
            .map_err(e)?;
        let mut rows = st.query([]).map_err(e)?;
        let (mut rank, mut last): (u32, Option<String>) = (0, None);
        while let Some(r) = rows.next().map_err(e)? {
            let pos: i64 = r.get(0).map_err(e)?;
            let label: String = r.get(1).map_err(e)?;
            if last.as_ref().is_some_and(|l| *l != label) {
                rank += 1;
            }
            if let Some(slot) = ranks.get_mut(pos as usize) {
                *slot = rank;
            }
            last = Some(label);
        }
    }
    let rank_bytes: Vec<u8> = ranks.iter().flat_map(|r| r.to_le_bytes()).collect();
    conn.execute_batch("DROP TABLE resource_label;")
        .map_err(e)?;
    for (k, v) in head.pairs() {
        conn.execute("INSERT INTO search_meta VALUES (?1, ?2)", params![k, v])
            .map_err(e)?;
    }
    conn.execute(
        "INSERT INTO search_meta VALUES ('ranks', ?1)",
        params![rank_bytes],
    )
    .map_err(e)?;
    conn.execute_batch("COMMIT;").map_err(e)?;
    conn.close().map_err(|(_, x)| sql_err(dest, x))?;
    job.set_done(n as u64);
    let digest =
        crate::digest::file_sha256(&staged).map_err(|x| format!("{}: {x}", dest.display()))?;
    output.commit().map_err(|x| x.to_string())?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;

    /// A copy of the sample archive in a fresh folder, its index, and each
    /// entry by position.
    fn sample() -> (tempfile::TempDir, PathBuf, Index, Vec<crate::model::Entry>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/audit-sample.sqlite");
        std::fs::copy(src, &path).unwrap();
        let ix = Index::load(&path, &Job::new()).unwrap();
        let a = Archive::open(&path).unwrap();
        let entries = (0..ix.len())
            .map(|p| a.entry(ix.seq(p)).unwrap().unwrap().entry)
            .collect();
        (dir, path, ix, entries)
    }

    fn head(path: &Path) -> Head {
        Head::of(&Archive::open(path).unwrap()).unwrap()
    }

    fn matching(entries: &[crate::model::Entry], needle: &str) -> Vec<u64> {
        let f = Filter {
            search: Some(needle.into()),
            ..Filter::default()
        };
        (0..entries.len())
            .filter(|&p| f.matches(&entries[p]))
            .map(|p| p as u64 + 1)
            .collect()
    }

    fn usable(found: Found) -> Sidecar {
        match found {
            Found::Usable(s) => *s,
            other => panic!("not usable: {other:?}"),
        }
    }

    /// Every entry whose search text holds the needle is a hit (the
    /// sidecar may say more; the viewer re-checks hits against records).
    #[test]
    fn hits_hold_every_match() {
        let (_d, path, ix, entries) = sample();
        let dest = path_for(&path);
        let digest = build(&path, &dest, &ix, &Job::new()).unwrap();
        assert!(is_sidecar_file(&dest));
        let s = usable(Sidecar::open(&dest, &head(&path), Some(&digest), ix.len()));
        assert_eq!(s.resource_rank.len(), ix.len());
        let texts: Vec<String> = entries.iter().map(crate::filter::search_text).collect();
        // Needles cut from every part of several entries' text.
        let mut tried = 0;
        for t in texts.iter().step_by(97) {
            let chars: Vec<char> = t.chars().collect();
            for start in (0..chars.len().saturating_sub(8)).step_by(23) {
                let needle: String = chars[start..start + 3 + start % 6].iter().collect();
                if !supports(&needle) {
                    continue;
                }
                let hits = s.hits(&needle).unwrap();
                // Free text is a substring of the search text (filter.rs).
                let want = texts
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.contains(&needle));
                for want in want.map(|(p, _)| p as u64 + 1) {
                    assert!(
                        hits.binary_search(&want).is_ok(),
                        "{needle:?} misses {want}"
                    );
                }
                tried += 1;
            }
        }
        assert!(tried > 100, "{tried}");
        assert!(s.hits("zzzqqq-no-such-text").unwrap().is_empty());
        assert!(!supports("ab") && !supports("a\"b") && supports("abc"));
    }

    /// Postings written in many small chunks (as a large archive's are)
    /// give the same hits as in one, and every chunk is read.
    #[test]
    fn chunks_give_the_same_hits() {
        let (_d, path, ix, _) = sample();
        let dest = path_for(&path);
        let one = build(&path, &dest, &ix, &Job::new()).unwrap();
        let s = usable(Sidecar::open(&dest, &head(&path), Some(&one), ix.len()));
        let needles = ["saf", "safari", "prod", "delete", "-01", "e\u{e9}t", "user"];
        let whole: Vec<Vec<u64>> = needles.iter().map(|n| s.hits(n).unwrap()).collect();
        drop(s);
        let many = build_in_chunks(&path, &dest, &ix, &Job::new(), 4096).unwrap();
        let chunks: i64 = Connection::open(&dest)
            .unwrap()
            .query_row(
                "SELECT count(*) - count(DISTINCT gram) FROM postings",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(chunks > 100, "{chunks}");
        let s = usable(Sidecar::open(&dest, &head(&path), Some(&many), ix.len()));
        for (n, want) in needles.iter().zip(&whole) {
            assert_eq!(&s.hits(n).unwrap(), want, "{n:?}");
        }
        assert!(whole[0].len() > 10 && whole[1].len() <= whole[0].len());
    }

    /// Seqs survive their encoding; damaged bytes (a varint cut short, one
    /// too long, a sum past u64) are an error, never a panic.
    #[test]
    fn seqs_round_trip_and_damage_is_an_error() {
        let seqs = [1, 2, 3, 130, 20_000, 1 << 40, u64::MAX];
        let mut back = Vec::new();
        decode_seqs(&encode_seqs(&seqs), &mut back).unwrap();
        assert_eq!(back, seqs);
        let mut v = Vec::new();
        assert!(decode_seqs(&[0x80], &mut v).is_err());
        assert!(decode_seqs(&[0xff; 11], &mut v).is_err());
        let mut past = encode_seqs(&[u64::MAX]);
        past.push(1);
        assert!(decode_seqs(&past, &mut v).is_err());
        assert!(encode_seqs(&[]).is_empty());
    }

    /// The head the row index knows is the archive's head as counted; a
    /// first page of the index, or an index of another state of the
    /// archive, falls back to counting.
    #[test]
    fn the_indexed_head_is_the_counted_head() {
        let (_d, path, ix, _) = sample();
        let a = Archive::open(&path).unwrap();
        assert_eq!(Head::of_indexed(&a, &ix).unwrap(), head(&path));
        assert_eq!(head(&path).entries, ix.len() as u64);
        let first = Index::load_prefix(&path, 10, false, &Job::new()).unwrap();
        assert!(!first.complete);
        assert_eq!(Head::of_indexed(&a, &first).unwrap(), head(&path));
        // The newest page: its last seq may be the archive's, but it is
        // not the whole index, so the archive is counted.
        let newest = Index::load_prefix(&path, 10, true, &Job::new()).unwrap();
        assert_eq!(Head::of_indexed(&a, &newest).unwrap(), head(&path));
    }

    /// A sidecar edited after it was built, to drop hits or to add some, is
    /// not used (so it can hide nothing); nor one this viewer did not build,
    /// nor one made for another state of the archive.
    #[test]
    fn an_edited_or_foreign_sidecar_is_not_used() {
        let (_d, path, ix, entries) = sample();
        let dest = path_for(&path);
        let digest = build(&path, &dest, &ix, &Job::new()).unwrap();
        let h = head(&path);
        let needle = "safari";
        assert!(!matching(&entries, needle).is_empty());
        let hits = usable(Sidecar::open(&dest, &h, Some(&digest), ix.len()))
            .hits(needle)
            .unwrap();
        assert!(!hits.is_empty());
        let rw = Connection::open(&dest).unwrap();
        // Drop the first hit from the index: rewrite the chunks of one of the
        // needle's trigrams without it.
        let chunks: Vec<(i64, Vec<u8>)> = rw
            .prepare("SELECT first, seqs FROM postings WHERE gram = 'saf'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (first, bytes) in chunks {
            let mut seqs = Vec::new();
            decode_seqs(&bytes, &mut seqs).unwrap();
            seqs.retain(|&q| q != hits[0]);
            rw.execute(
                "UPDATE postings SET seqs = ?1 WHERE gram = 'saf' AND first = ?2",
                params![encode_seqs(&seqs), first],
            )
            .unwrap();
        }
        drop(rw);
        let edited = usable(Sidecar::open(
            &dest,
            &h,
            Some(&crate::digest::file_sha256(&dest).unwrap()),
            ix.len(),
        ));
        assert!(
            !edited.hits(needle).unwrap().contains(&hits[0]),
            "the edit drops a hit"
        );
        assert!(matches!(
            Sidecar::open(&dest, &h, Some(&digest), ix.len()),
            Found::Unusable(why) if why.contains("changed")
        ));
        // Rebuilt: the same bytes as before (a sidecar is a function of the archive).
        assert_eq!(build(&path, &dest, &ix, &Job::new()).unwrap(), digest);
        // Add a hit: an entry past the end claims the needle.
        let rw = Connection::open(&dest).unwrap();
        for gram in grams("safari") {
            rw.execute(
                "INSERT INTO postings VALUES (?1, ?2, ?3)",
                params![
                    gram,
                    (ix.len() as i64) + 1000,
                    encode_seqs(&[ix.len() as u64 + 1000])
                ],
            )
            .unwrap();
        }
        drop(rw);
        assert!(matches!(
            Sidecar::open(&dest, &h, Some(&digest), ix.len()),
            Found::Unusable(why) if why.contains("changed")
        ));
        // Not built by this viewer; built for another head.
        let digest = build(&path, &dest, &ix, &Job::new()).unwrap();
        assert!(matches!(
            Sidecar::open(&dest, &h, None, ix.len()),
            Found::Unusable(_)
        ));
        let other = Head {
            entries: h.entries + 1,
            ..h.clone()
        };
        assert!(matches!(
            Sidecar::open(&dest, &other, Some(&digest), ix.len()),
            Found::Unusable(why) if why.contains("another state")
        ));
        assert!(matches!(
            Sidecar::open(&path.with_extension("none"), &h, Some(&digest), ix.len()),
            Found::Missing
        ));
    }

    /// The sidecar is not evidence (the viewer replaces it), is no archive
    /// (opening it as one says what it is), and is never written over
    /// evidence: a copy of an archive at its name stays as it was.
    #[test]
    fn the_sidecar_is_neither_evidence_nor_an_archive() {
        let (_d, path, ix, _) = sample();
        let dest = path_for(&path);
        build(&path, &dest, &ix, &Job::new()).unwrap();
        assert_eq!(crate::evidence::recognise(&dest).unwrap(), None);
        let Err(e) = Archive::open(&dest) else {
            panic!("the sidecar opened as an archive")
        };
        let e = e.0;
        assert!(
            e.contains("search index") && e.contains("not an archive"),
            "{e}"
        );
        std::fs::copy(&path, &dest).unwrap();
        let before = std::fs::read(&dest).unwrap();
        let e = build(&path, &dest, &ix, &Job::new()).unwrap_err();
        assert!(e.contains("evidence"), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), before);
        assert!(matches!(
            Sidecar::open(&dest, &head(&path), Some("x"), ix.len()),
            Found::Unusable(_)
        ));
    }
}

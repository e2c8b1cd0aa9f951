//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code)]

pub mod viewer;

/// What the auditlens binary did: its exit code and its output (lossily decoded).
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the auditlens binary with `args`; fails the test if it panicked or died of a signal.
pub fn run<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(args)
        .output()
        .expect("run auditlens");
    let out = Out {
        code: o.status.code().expect("exited normally (no signal)"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};

use auditlens_core::archive::{self, Archive, IndexColumns};
use auditlens_core::chain;
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::ingest::{IngestOptions, IngestReport, ingest};
use auditlens_core::job::Job;
use auditlens_core::json::Json;
use auditlens_core::model::Entry;
use auditlens_core::sample::{PlatformFormat, Sample, write_platform};
use auditlens_core::verify::{Finding, FindingKind, Report, verify_file};
use rusqlite::{Connection, params};

/// The seed every test uses, so runs are reproducible.
pub const SEED: u64 = 7;

/// Writes `n` sample entries in a platform export format.
pub fn write_sample(path: &Path, n: u64, seed: u64, format: PlatformFormat) {
    let f = File::create(path).expect("create sample file");
    write_platform(&Sample::new(n, seed), format, f).expect("write sample");
}

/// Ingests `files` with default options, panicking on error.
pub fn ingest_files(archive: &Path, files: &[PathBuf]) -> IngestReport {
    ingest(archive, files, &IngestOptions::default(), &Job::new())
        .unwrap_or_else(|e| panic!("ingest into {} failed: {e}", archive.display()))
}

/// Builds `DIR/NAME.sqlite` from a platform JSONL sample of `n` entries.
pub fn build_archive(dir: &Path, name: &str, n: u64) -> PathBuf {
    let jsonl = dir.join(format!("{name}.jsonl"));
    write_sample(&jsonl, n, SEED, PlatformFormat::Jsonl);
    let archive = dir.join(format!("{name}.sqlite"));
    let r = ingest_files(&archive, &[jsonl]);
    assert_eq!(r.added, n);
    archive
}

/// Copies a file to `DIR/NAME`.
pub fn copy_to(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    std::fs::copy(src, &dst).expect("copy");
    dst
}

/// Opens an archive for writing and drops the append-only triggers, as an
/// attacker with file access would.
pub fn open_for_tampering(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open archive read-write");
    conn.execute_batch("DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;")
        .expect("drop triggers");
    conn
}

/// Puts the append-only triggers back (an attacker covering their tracks).
pub fn restore_triggers(conn: &Connection) {
    conn.execute_batch(
        "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries \
         BEGIN SELECT RAISE(ABORT, 'auditlens: archive entries are append-only'); END; \
         CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries \
         BEGIN SELECT RAISE(ABORT, 'auditlens: archive entries are append-only'); END;",
    )
    .expect("restore triggers");
}

/// A stored row: seq, record text, leaf hash, chain hash.
#[derive(Clone, Debug)]
pub struct RawRow {
    pub seq: u64,
    pub record: String,
    pub leaf: Vec<u8>,
    pub chain: Vec<u8>,
}

pub fn read_row(conn: &Connection, seq: u64) -> RawRow {
    conn.query_row(
        "SELECT record, leaf_hash, chain_hash FROM entries WHERE seq = ?1",
        [seq as i64],
        |r| {
            Ok(RawRow {
                seq,
                record: r.get(0)?,
                leaf: r.get(1)?,
                chain: r.get(2)?,
            })
        },
    )
    .unwrap_or_else(|e| panic!("read seq {seq}: {e}"))
}

/// Inserts a row with the given record and hashes; the index columns are
/// derived from the record, as ingest derives them.
pub fn insert_row(conn: &Connection, seq: u64, record: &str, leaf: &[u8], chain: &[u8]) {
    let entry = archive::parse_record(record.as_bytes()).expect("record parses");
    insert_row_with_columns(
        conn,
        seq,
        &record,
        leaf,
        chain,
        &IndexColumns::from_entry(&entry),
    );
}

/// Inserts a row whose index columns are given: for a record that does not
/// parse, or should read as another entry. `record` is bound as it is (a
/// `&str` is stored as text, a `&[u8]` as a blob).
pub fn insert_row_with_columns(
    conn: &Connection,
    seq: u64,
    record: &dyn rusqlite::ToSql,
    leaf: &[u8],
    chain: &[u8],
    c: &IndexColumns,
) {
    conn.execute(
        "INSERT INTO entries (seq, record, leaf_hash, chain_hash, entry_id, time_ms, actor_type, \
         actor_id, actor_label, action, resource_type, resource_id, project_id, org_id, ip_address) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            seq as i64,
            record,
            leaf,
            chain,
            c.entry_id,
            c.time_ms,
            c.actor_type,
            c.actor_id,
            c.actor_label,
            c.action,
            c.resource_type,
            c.resource_id,
            c.project_id,
            c.org_id,
            c.ip_address
        ],
    )
    .unwrap_or_else(|e| panic!("insert seq {seq}: {e}"));
}

/// Replaces the row at `seq` (record, hashes and derived index columns).
pub fn replace_row(conn: &Connection, seq: u64, record: &str, leaf: &[u8], chain: &[u8]) {
    conn.execute("DELETE FROM entries WHERE seq = ?1", [seq as i64])
        .expect("delete");
    insert_row(conn, seq, record, leaf, chain);
}

/// Changes one byte of the record: the first character of its user agent
/// (every sample entry has one; it is not an indexed column).
pub fn flip_one_byte(record: &str) -> String {
    let marker = "\"user_agent\":\"";
    let at = record.find(marker).expect("record has a user agent") + marker.len();
    let mut bytes = record.as_bytes().to_vec();
    assert!(bytes[at].is_ascii_alphabetic());
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).expect("still UTF-8")
}

/// Verifies `path`, panicking if verification cannot run.
pub fn verify(path: &Path, checkpoint: Option<&Checkpoint>) -> Report {
    verify_file(path, checkpoint, &Job::new())
        .unwrap_or_else(|e| panic!("verify {} could not run: {e}", path.display()))
}

/// (kind, seq) of every finding that is tampering (not a warning), in report order.
pub fn problems(r: &Report) -> Vec<(FindingKind, Option<u64>)> {
    r.findings
        .iter()
        .filter(|f| !f.kind.is_warning())
        .map(|f| (f.kind, f.seq))
        .collect()
}

/// (kind, seq) of every warning, in report order.
pub fn warnings(r: &Report) -> Vec<(FindingKind, Option<u64>)> {
    r.findings
        .iter()
        .filter(|f| f.kind.is_warning())
        .map(|f| (f.kind, f.seq))
        .collect()
}

pub fn find(r: &Report, kind: FindingKind) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

/// Every entry of an archive, in seq order (1..=count), read through `Archive::entry`.
pub fn entries_of(path: &Path) -> Vec<Entry> {
    let a = Archive::open(path).expect("open archive");
    let n = a.count().expect("count");
    (1..=n)
        .map(|seq| {
            a.entry(seq)
                .expect("read entry")
                .unwrap_or_else(|| panic!("seq {seq} missing"))
                .entry
        })
        .collect()
}

/// The entry ids of an archive, indexed by seq - 1.
pub fn ids_of(path: &Path) -> Vec<String> {
    entries_of(path).into_iter().map(|e| e.id).collect()
}

/// A platform JSONL line for `entry`, with `before`/`after` stringified as the
/// platform writes them, and `extra` fields as top-level keys.
pub fn platform_jsonl_line(e: &Entry) -> String {
    let mut m = std::collections::BTreeMap::new();
    for (k, v) in auditlens_core::sample::platform_row(e) {
        m.insert(k.to_string(), v.map(Json::String).unwrap_or(Json::Null));
    }
    for (k, v) in &e.extra {
        m.insert(k.clone(), v.clone());
    }
    Json::Object(m).to_canonical()
}

/// Writes entries as a platform JSONL export.
pub fn write_platform_jsonl(path: &Path, entries: &[Entry]) {
    let mut text = String::new();
    for e in entries {
        text.push_str(&platform_jsonl_line(e));
        text.push('\n');
    }
    std::fs::write(path, text).expect("write jsonl");
}

/// Modifies the record at `k` and recomputes every leaf and chain hash, then
/// restores the triggers: only a checkpoint can tell.
pub fn rewrite_chain(path: &Path, k: u64) {
    let id = Archive::open(path).unwrap().id();
    let conn = open_for_tampering(path);
    let n: i64 = conn
        .query_row("SELECT max(seq) FROM entries", [], |r| r.get(0))
        .unwrap();
    let mut prev = chain::genesis(&id);
    for seq in 1..=n as u64 {
        let mut row = read_row(&conn, seq);
        if seq == k {
            row.record = flip_one_byte(&row.record);
        }
        let leaf = chain::leaf_hash(&id, seq, row.record.as_bytes());
        let link = chain::chain_link(&prev, &leaf);
        conn.execute(
            "UPDATE entries SET record = ?1, leaf_hash = ?2, chain_hash = ?3 WHERE seq = ?4",
            rusqlite::params![row.record, &leaf.0[..], &link.0[..], seq as i64],
        )
        .unwrap();
        prev = link;
    }
    restore_triggers(&conn);
}

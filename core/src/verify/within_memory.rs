//! Verification within a tiny memory budget, where the entry ids and the
//! index books go to temporary files and the index walks are sorted and
//! merged, gives the report it gives in memory: the same findings, in the
//! same order, with the same words and counts. Shown on the sample archive
//! left intact and tampered with: ids duplicated, index entries removed,
//! repeated, pointing at a row the table lacks, or under a wrong key.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::*;
use crate::archive::{INDEXES, KeyHasher};
use crate::finding::FindingKind as K;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-data")
        .join(name)
}

/// A copy of the sample archive (3000 entries) in `dir`, changed by `sql`.
fn tampered(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(format!("{name}.sqlite"));
    std::fs::copy(sample("audit-sample.sqlite"), &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    path
}

const NO_TRIGGERS: &str = "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;";

/// SQL that rebuilds `index` to lie, then gives it back the definition
/// auditlens wrote, so that SQLite trusts it.
fn lying_index(index: &str, lie: &str, truth: &str) -> String {
    format!(
        "DROP INDEX {index}; {lie}; PRAGMA writable_schema = ON; \
         UPDATE sqlite_master SET sql = '{truth}' WHERE name = '{index}'; \
         PRAGMA writable_schema = OFF;"
    )
}

const TIME: &str = "CREATE INDEX entries_time ON entries(time_ms)";
const ID: &str = "CREATE UNIQUE INDEX entries_entry_id ON entries(entry_id)";

/// SQL that replaces the time index's pages with a forged b-tree (a
/// WITHOUT ROWID table's, whose records are an index's: key, rowid) that
/// leaves out seqs 5, 6 and 2999, lists seq 40 twice (the second time under
/// another key), lists seq 41 first under key 0 and then under its own, and
/// still lists seq 1200 after its row is deleted.
const FORGED_TIME_INDEX: &str = "
    DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;
    CREATE TABLE forge (k, r, PRIMARY KEY (k, r)) WITHOUT ROWID;
    INSERT INTO forge SELECT time_ms, seq FROM entries WHERE seq NOT IN (5, 6, 2999);
    INSERT INTO forge SELECT time_ms + 1, seq FROM entries WHERE seq = 40;
    INSERT INTO forge VALUES (0, 41);
    DELETE FROM entries WHERE seq = 1200;
    PRAGMA writable_schema = ON;
    UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master WHERE name = 'forge')
        WHERE name = 'entries_time';
    DELETE FROM sqlite_master WHERE name = 'forge';
    PRAGMA writable_schema = OFF;";

/// Every archive of the test: (name, path).
fn archives(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let dup = format!(
        "{NO_TRIGGERS} DROP INDEX entries_entry_id; {}",
        [(3001, 10), (3002, 10), (3003, 500), (3004, 2999)]
            .map(|(to, from)| format!(
                "INSERT INTO entries SELECT {to}, record, leaf_hash, chain_hash, entry_id, \
                 time_ms, actor_type, actor_id, actor_label, action, resource_type, \
                 resource_id, project_id, org_id, ip_address FROM entries WHERE seq = {from};"
            ))
            .concat()
    );
    vec![
        ("intact", sample("audit-sample.sqlite")),
        ("bundled tampered copy", sample("tampered.sqlite")),
        ("duplicated ids", tampered(dir, "dup", &dup)),
        (
            "index entries removed",
            tampered(
                dir,
                "partial",
                &lying_index(
                    "entries_time",
                    "CREATE INDEX entries_time ON entries(time_ms) WHERE action != 'delete'",
                    TIME,
                ),
            ),
        ),
        (
            "index entries under a wrong key",
            tampered(
                dir,
                "key",
                &lying_index(
                    "entries_entry_id",
                    "CREATE UNIQUE INDEX entries_entry_id ON entries(\
                     CASE WHEN seq % 97 = 0 THEN 'forged' || seq ELSE entry_id END)",
                    ID,
                ),
            ),
        ),
        (
            "index entries repeated, left out, of no row",
            tampered(dir, "forged", FORGED_TIME_INDEX),
        ),
    ]
}

fn verify_in(path: &Path, memory: usize) -> Report {
    let archive = Archive::open(path).unwrap();
    verify_archive_within(&archive, None, &Job::new(), memory).unwrap()
}

fn has(r: &Report, kind: K, seq: u64, words: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.kind == kind && f.seq == Some(seq) && f.message.contains(words))
}

#[test]
fn a_tiny_budget_gives_the_report_of_the_one_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in archives(dir.path()) {
        let whole = verify_in(&path, VERIFY_MEMORY);
        // 0: every id and every book row is a run of its own; 4 KiB: runs
        // of a few dozen.
        for memory in [0, 4 << 10] {
            let small = verify_in(&path, memory);
            assert_eq!(small.findings, whole.findings, "{name}, memory {memory}");
            assert_eq!(small.counts, whole.counts, "{name}, memory {memory}");
            assert_eq!(
                (small.entries, small.head, small.root, small.status()),
                (whole.entries, whole.head, whole.root, whole.status()),
                "{name}, memory {memory}"
            );
        }
        // The tampering is found (so the reports compared say something).
        let mismatch = K::SqliteIndexMismatch;
        let found = match name {
            "intact" => whole.status() == Status::Intact && whole.findings.is_empty(),
            "bundled tampered copy" => whole.status() == Status::Tampered,
            "duplicated ids" => [(3001, 10), (3002, 10), (3003, 500), (3004, 2999)]
                .iter()
                .all(|&(seq, first)| {
                    has(
                        &whole,
                        K::DuplicateEntry,
                        seq,
                        &format!("stored at seq {first}"),
                    )
                }),
            "index entries removed" => whole
                .findings
                .iter()
                .any(|f| f.kind == mismatch && f.message.contains("has no entry for seq")),
            "index entries under a wrong key" => [97, 194, 2910]
                .iter()
                .all(|&s| has(&whole, mismatch, s, "under another entry_id")),
            _ => {
                [5, 6, 2999]
                    .iter()
                    .all(|&s| has(&whole, mismatch, s, "has no entry for"))
                    && has(&whole, mismatch, 40, "more than once")
                    && has(&whole, mismatch, 41, "under another time_ms")
                    && has(&whole, mismatch, 41, "more than once")
                    && has(&whole, mismatch, 1200, "which the table does not hold")
            }
        };
        assert!(found, "{name}: {:#?}", whole.findings);
    }
}

/// The problems of one index, listed and counted, for any number kept in
/// full, are the same from a book on disk as from one in memory.
#[test]
fn an_index_checked_against_a_book_on_disk_has_the_same_problems() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in archives(dir.path()) {
        let archive = Archive::open(&path).unwrap();
        let hasher = KeyHasher::default();
        let schema = archive.schema().unwrap();
        for index in INDEXES
            .iter()
            .filter(|ix| schema.iter().any(|o| o.name == ix.name))
        {
            let whole = archive.table_book(index, &hasher, 1 << 30).unwrap();
            assert!(!whole.is_on_disk());
            let problems = |book, keep| {
                archive
                    .index_problems(index, book, &hasher, (i64::MIN, i64::MAX), keep)
                    .unwrap()
            };
            let want_all = problems(whole, usize::MAX);
            for keep in [0, 1, 3, usize::MAX] {
                let want = problems(archive.table_book(index, &hasher, 1 << 30).unwrap(), keep);
                assert_eq!(
                    want.listed.len() as u64 + want.more,
                    want_all.listed.len() as u64,
                    "{name} {}",
                    index.name
                );
                for memory in [0, 100, 1 << 10] {
                    let book = archive.table_book(index, &hasher, memory).unwrap();
                    assert!(book.is_on_disk() || index.table != "entries");
                    assert_eq!(
                        problems(book, keep),
                        want,
                        "{name} {} keep {keep} memory {memory}",
                        index.name
                    );
                }
            }
        }
    }
}

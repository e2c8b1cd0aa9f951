//! Every tamper class of the design ("Tamper model a verifier must catch") is
//! applied to a copy of a sealed archive with plain SQL, and verification must
//! report the right kind of finding at the right seq.

mod common;

use std::path::{Path, PathBuf};

use auditlens_core::archive::Archive;
use auditlens_core::chain::{self, Hash};
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::export::{ExportFormat, export};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::verify::{CheckpointStatus, FindingKind as K, Status};
use common::*;

const N: u64 = 300;

/// A fresh sealed archive of N entries in its own temp dir.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = build_archive(dir.path(), "base", N);
    (dir, path)
}

fn checkpoint_of(path: &Path) -> Checkpoint {
    Archive::open(path).unwrap().checkpoint().unwrap()
}

/// The two warnings dropping the triggers leaves behind (no seq: they are about the schema).
const TRIGGERS_GONE: [(K, Option<u64>); 2] =
    [(K::ProtectionRemoved, None), (K::ProtectionRemoved, None)];

fn assert_tampered(r: &auditlens_core::verify::Report) {
    assert_eq!(r.status(), Status::Tampered, "findings: {:#?}", r.findings);
}

// ---------------------------------------------------------------- baseline

#[test]
fn untouched_archive_is_intact_with_and_without_checkpoint() {
    let (_d, path) = fixture();
    let r = verify(&path, None);
    assert_eq!(r.status(), Status::Intact);
    assert_eq!(r.entries, N);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let cp = checkpoint_of(&path);
    assert_eq!(cp.size, N);
    let r = verify(&path, Some(&cp));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(
        r.checkpoint,
        Some(CheckpointStatus::Matches { size: N, added: 0 })
    );
    assert_eq!(r.head, Some(cp.head));
    assert_eq!(r.root, Some(cp.root));
}

// ---------------------------------------------------------------- modified record

#[test]
fn modified_record_is_found_at_its_seq() {
    let (d, base) = fixture();
    let ids = ids_of(&base);
    for k in [1u64, 137, N] {
        let path = copy_to(&base, d.path(), &format!("mod{k}.sqlite"));
        let conn = open_for_tampering(&path);
        let row = read_row(&conn, k);
        let changed = flip_one_byte(&row.record);
        assert_eq!(changed.len(), row.record.len());
        conn.execute(
            "UPDATE entries SET record = ?1 WHERE seq = ?2",
            rusqlite::params![changed, k as i64],
        )
        .unwrap();
        drop(conn);
        let r = verify(&path, None);
        assert_tampered(&r);
        assert_eq!(problems(&r), vec![(K::RecordModified, Some(k))], "k = {k}");
        assert_eq!(warnings(&r), TRIGGERS_GONE.to_vec());
        let f = find(&r, K::RecordModified)[0];
        assert_eq!(f.entry_id.as_deref(), Some(ids[k as usize - 1].as_str()));
        assert_eq!(
            f.expected.as_deref(),
            Some(Hash::from_slice(&row.leaf).unwrap().to_hex().as_str())
        );
    }
}

#[test]
fn record_made_unreadable_is_found_at_its_seq() {
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "garbled.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute(
        "UPDATE entries SET record = substr(record, 1, length(record) - 1) WHERE seq = 42",
        [],
    )
    .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    let p = problems(&r);
    assert!(p.contains(&(K::RecordModified, Some(42))), "{p:?}");
    assert!(p.contains(&(K::UnreadableRecord, Some(42))), "{p:?}");
    assert!(p.iter().all(|(_, s)| *s == Some(42)), "{p:?}");
}

// ---------------------------------------------------------------- deleted entries

fn delete_and_verify(
    base: &Path,
    dir: &Path,
    seqs: &[u64],
    cp: Option<&Checkpoint>,
) -> auditlens_core::verify::Report {
    let name = format!(
        "del{}.sqlite",
        seqs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("_")
    );
    let path = copy_to(base, dir, &name);
    let conn = open_for_tampering(&path);
    for s in seqs {
        assert_eq!(
            conn.execute("DELETE FROM entries WHERE seq = ?1", [*s as i64])
                .unwrap(),
            1
        );
    }
    drop(conn);
    verify(&path, cp)
}

#[test]
fn deleted_first_entry_is_found() {
    let (d, base) = fixture();
    let r = delete_and_verify(&base, d.path(), &[1], None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::MissingEntries, Some(1))]);
    assert_eq!(warnings(&r), TRIGGERS_GONE.to_vec());
    assert_eq!(r.entries, N - 1);
}

#[test]
fn deleted_middle_entry_is_found() {
    let (d, base) = fixture();
    let r = delete_and_verify(&base, d.path(), &[150], None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::MissingEntries, Some(150))]);
    let f = find(&r, K::MissingEntries)[0];
    assert_eq!(f.expected.as_deref(), Some("150"));
    assert_eq!(f.found.as_deref(), Some("151"));
}

#[test]
fn deleted_run_of_entries_is_found_at_its_start() {
    let (d, base) = fixture();
    let r = delete_and_verify(&base, d.path(), &[20, 21, 22, 23], None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::MissingEntries, Some(20))]);
    assert!(find(&r, K::MissingEntries)[0].message.contains("20"));
}

#[test]
fn deleted_last_entry_is_caught_only_with_the_earlier_checkpoint() {
    let (d, base) = fixture();
    let cp = checkpoint_of(&base);
    // Without a checkpoint a cut tail looks like a shorter, intact archive.
    let r = delete_and_verify(&base, d.path(), &[N], None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert!(problems(&r).is_empty());
    assert_eq!(r.entries, N - 1);
    // With the checkpoint taken before, the cut is reported where the tail begins.
    let r = delete_and_verify(&base, d.path(), &[N], Some(&cp));
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::Truncated, Some(N))]);
    assert_eq!(r.checkpoint, Some(CheckpointStatus::Fails));
    let f = find(&r, K::Truncated)[0];
    assert_eq!(f.expected.as_deref(), Some(N.to_string().as_str()));
    assert_eq!(f.found.as_deref(), Some((N - 1).to_string().as_str()));
}

#[test]
fn deleted_tail_of_several_entries_is_truncated_at_first_missing() {
    let (d, base) = fixture();
    let cp = checkpoint_of(&base);
    let r = delete_and_verify(&base, d.path(), &[N - 2, N - 1, N], Some(&cp));
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::Truncated, Some(N - 2))]);
}

// ---------------------------------------------------------------- inserted / forged

fn forged_record(conn: &rusqlite::Connection, template_seq: u64, new_id: &str) -> String {
    let row = read_row(conn, template_seq);
    let mut e = auditlens_core::archive::parse_record(row.record.as_bytes()).unwrap();
    e.id = new_id.to_string();
    e.action = "delete".into();
    e.canonical_record()
}

#[test]
fn inserted_entry_with_made_up_hashes_is_foreign() {
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "ins.sqlite");
    let conn = open_for_tampering(&path);
    let rec = forged_record(&conn, 5, "cforged0000000000000000001");
    insert_row(&conn, N + 1, &rec, &[0xAB; 32], &[0xCD; 32]);
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::ForeignEntry, Some(N + 1))]);
    assert_eq!(
        find(&r, K::ForeignEntry)[0].entry_id.as_deref(),
        Some("cforged0000000000000000001")
    );
    assert_eq!(r.entries, N + 1);
}

#[test]
fn entries_at_far_away_seqs_are_found_without_walking_the_gap() {
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "far.sqlite");
    let conn = open_for_tampering(&path);
    let far = 1_000_000_000_000_000u64;
    insert_row(
        &conn,
        far,
        &forged_record(&conn, 5, "cfar000000000000000000001"),
        &[1; 32],
        &[2; 32],
    );
    conn.execute("UPDATE entries SET seq = -7 WHERE seq = 1", [])
        .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(r.entries, N + 1);
    let p = problems(&r);
    assert!(p.contains(&(K::MissingEntries, Some(N + 1))), "{p:?}");
    assert!(p.contains(&(K::RecordModified, Some(far))), "{p:?}");
    // The row moved to a negative seq comes first, read as seq 0, and seq 1 is gone.
    assert!(p.contains(&(K::OutOfOrder, Some(0))), "{p:?}");
    assert!(p.contains(&(K::MissingEntries, Some(1))), "{p:?}");
}

#[test]
fn forged_entry_with_recomputed_leaf_but_wrong_chain_is_chain_broken() {
    let (d, base) = fixture();
    let id = Archive::open(&base).unwrap().id();
    let path = copy_to(&base, d.path(), "forge.sqlite");
    let conn = open_for_tampering(&path);
    let rec = forged_record(&conn, 5, "cforged0000000000000000002");
    let leaf = chain::leaf_hash(&id, N + 1, rec.as_bytes());
    insert_row(&conn, N + 1, &rec, &leaf.0, &[0x11; 32]);
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::ChainBroken, Some(N + 1))]);
}

#[test]
fn forged_replacement_in_the_middle_is_found_at_its_seq() {
    // The record at k is replaced by a forged one whose leaf hash (and index
    // columns) are recomputed; the chain hash cannot be forged without
    // rewriting everything after it.
    let (d, base) = fixture();
    let id = Archive::open(&base).unwrap().id();
    let path = copy_to(&base, d.path(), "forge_mid.sqlite");
    let conn = open_for_tampering(&path);
    let k = 77;
    let old = read_row(&conn, k);
    let mut e = auditlens_core::archive::parse_record(old.record.as_bytes()).unwrap();
    e.actor.email = Some("someone-else@acme.example".into());
    e.ip_address = Some("203.0.113.99".into());
    let rec = e.canonical_record();
    let leaf = chain::leaf_hash(&id, k, rec.as_bytes());
    replace_row(&conn, k, &rec, &leaf.0, &old.chain);
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::ChainBroken, Some(k))]);
}

#[test]
fn fully_forged_append_is_shown_as_added_after_the_checkpoint() {
    // Someone who knows the construction can append a correct-looking entry;
    // a checkpoint cannot forbid appends but must show that they happened.
    let (d, base) = fixture();
    let cp = checkpoint_of(&base);
    let a = Archive::open(&base).unwrap();
    let id = a.id();
    let (_, head) = a.head().unwrap().unwrap();
    drop(a);
    let path = copy_to(&base, d.path(), "append.sqlite");
    let conn = open_for_tampering(&path);
    let rec = forged_record(&conn, 5, "cforged0000000000000000003");
    let leaf = chain::leaf_hash(&id, N + 1, rec.as_bytes());
    insert_row(
        &conn,
        N + 1,
        &rec,
        &leaf.0,
        &chain::chain_link(&head, &leaf).0,
    );
    drop(conn);
    let r = verify(&path, Some(&cp));
    assert!(problems(&r).is_empty(), "{:#?}", r.findings);
    assert_eq!(
        r.checkpoint,
        Some(CheckpointStatus::Matches { size: N, added: 1 })
    );
}

// ---------------------------------------------------------------- swapped

#[test]
fn two_swapped_rows_are_misplaced_at_both_seqs() {
    // Whole rows swapped (record, hashes and index columns), via a temp table.
    let (d, base) = fixture();
    let (i, j) = (40u64, 90u64);
    let path = copy_to(&base, d.path(), "swap.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE t AS SELECT * FROM entries WHERE seq IN ({i}, {j});
         DELETE FROM entries WHERE seq IN ({i}, {j});
         INSERT INTO entries SELECT {sum} - seq, record, leaf_hash, chain_hash, entry_id, time_ms, actor_type,
             actor_id, actor_label, action, resource_type, resource_id, project_id, org_id, ip_address FROM t;",
        sum = i + j
    ))
    .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(
        problems(&r),
        vec![(K::Misplaced, Some(i)), (K::Misplaced, Some(j))],
        "{:#?}",
        r.findings
    );
    let at_i = r
        .findings
        .iter()
        .find(|f| f.kind == K::Misplaced && f.seq == Some(i))
        .unwrap();
    assert_eq!(at_i.expected.as_deref(), Some(j.to_string().as_str()));
    // Only warnings besides: the dropped triggers and the times now out of order.
    assert!(
        warnings(&r)
            .iter()
            .all(|(k, _)| matches!(k, K::ProtectionRemoved | K::TimeBackwards))
    );
}

#[test]
fn two_swapped_records_with_their_leaf_hashes_are_misplaced_at_both_seqs() {
    // Record and leaf hash moved, chain hashes left in place.
    let (d, base) = fixture();
    let (i, j) = (10u64, 11u64);
    let path = copy_to(&base, d.path(), "swap2.sqlite");
    let conn = open_for_tampering(&path);
    let (ri, rj) = (read_row(&conn, i), read_row(&conn, j));
    conn.execute(
        "DELETE FROM entries WHERE seq IN (?1, ?2)",
        [i as i64, j as i64],
    )
    .unwrap();
    insert_row(&conn, i, &rj.record, &rj.leaf, &ri.chain);
    insert_row(&conn, j, &ri.record, &ri.leaf, &rj.chain);
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(
        problems(&r),
        vec![(K::Misplaced, Some(i)), (K::Misplaced, Some(j))],
        "{:#?}",
        r.findings
    );
}

// ---------------------------------------------------------------- duplicated

#[test]
fn duplicated_entry_with_recomputed_hashes_is_found() {
    let (d, base) = fixture();
    let a = Archive::open(&base).unwrap();
    let id = a.id();
    let (_, head) = a.head().unwrap().unwrap();
    drop(a);
    let ids = ids_of(&base);
    let k = 123u64;
    let path = copy_to(&base, d.path(), "dup.sqlite");
    let conn = open_for_tampering(&path);
    // The unique index on entry ids must go first.
    conn.execute_batch("DROP INDEX entries_entry_id;").unwrap();
    let row = read_row(&conn, k);
    let leaf = chain::leaf_hash(&id, N + 1, row.record.as_bytes());
    insert_row(
        &conn,
        N + 1,
        &row.record,
        &leaf.0,
        &chain::chain_link(&head, &leaf).0,
    );
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::DuplicateEntry, Some(N + 1))]);
    let f = find(&r, K::DuplicateEntry)[0];
    assert_eq!(f.entry_id.as_deref(), Some(ids[k as usize - 1].as_str()));
    assert_eq!(f.expected.as_deref(), Some(k.to_string().as_str()));
    // The removed unique index is a warning of its own; the copy's old time
    // at the end is one too.
    assert_eq!(
        warnings(&r),
        vec![
            (K::ProtectionRemoved, None),
            (K::ProtectionRemoved, None),
            (K::ProtectionRemoved, None),
            (K::TimeBackwards, Some(N + 1))
        ]
    );
}

#[test]
fn duplicated_row_copied_verbatim_is_found() {
    let (d, base) = fixture();
    let k = 9u64;
    let path = copy_to(&base, d.path(), "dup2.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute_batch("DROP INDEX entries_entry_id;").unwrap();
    let row = read_row(&conn, k);
    insert_row(&conn, N + 1, &row.record, &row.leaf, &row.chain);
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    let p = problems(&r);
    assert!(p.contains(&(K::DuplicateEntry, Some(N + 1))), "{p:?}");
    assert!(p.iter().all(|(_, s)| *s == Some(N + 1)), "{p:?}");
}

// ---------------------------------------------------------------- hash columns

#[test]
fn changed_chain_hash_is_chain_broken_at_its_seq() {
    let (d, base) = fixture();
    let k = 200u64;
    let path = copy_to(&base, d.path(), "chain.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute(
        "UPDATE entries SET chain_hash = ?1 WHERE seq = ?2",
        rusqlite::params![&[0x42u8; 32][..], k as i64],
    )
    .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(
        problems(&r),
        vec![(K::ChainBroken, Some(k))],
        "{:#?}",
        r.findings
    );
}

#[test]
fn changed_last_chain_hash_is_chain_broken_at_its_seq() {
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "chain_last.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute(
        "UPDATE entries SET chain_hash = ?1 WHERE seq = ?2",
        rusqlite::params![&[0x42u8; 32][..], N as i64],
    )
    .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_eq!(problems(&r), vec![(K::ChainBroken, Some(N))]);
}

#[test]
fn changed_leaf_hash_is_found_at_its_seq() {
    let (d, base) = fixture();
    let k = 61u64;
    let path = copy_to(&base, d.path(), "leaf.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute(
        "UPDATE entries SET leaf_hash = ?1 WHERE seq = ?2",
        rusqlite::params![&[0x07u8; 32][..], k as i64],
    )
    .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::LeafHashChanged, Some(k))]);
    assert_eq!(
        find(&r, K::LeafHashChanged)[0].found.as_deref(),
        Some(Hash([7; 32]).to_hex().as_str())
    );
}

#[test]
fn hash_column_of_wrong_type_or_null_is_a_finding_not_a_crash() {
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "types.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute_batch(
        "UPDATE entries SET leaf_hash = 'not a hash' WHERE seq = 3;
         UPDATE entries SET chain_hash = 12345 WHERE seq = 30;",
    )
    .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert_tampered(&r);
    let p = problems(&r);
    assert!(p.iter().any(|(_, s)| *s == Some(3)), "{p:?}");
    assert!(p.iter().any(|(_, s)| *s == Some(30)), "{p:?}");
}

// ---------------------------------------------------------------- index columns

#[test]
fn index_column_changed_behind_the_hash_is_found() {
    let (d, base) = fixture();
    let ids = ids_of(&base);
    let k = 55u64;
    for (n, sql) in [
        "UPDATE entries SET actor_label = 'mallory@evil.example' WHERE seq = ?1",
        "UPDATE entries SET time_ms = time_ms + 1 WHERE seq = ?1",
        "UPDATE entries SET action = 'read' WHERE seq = ?1",
        "UPDATE entries SET ip_address = NULL WHERE seq = ?1",
        "UPDATE entries SET entry_id = 'cinnocent0000000000000000' WHERE seq = ?1",
    ]
    .iter()
    .enumerate()
    {
        let path = copy_to(&base, d.path(), &format!("idx{n}.sqlite"));
        let conn = open_for_tampering(&path);
        assert_eq!(conn.execute(sql, [k as i64]).unwrap(), 1);
        drop(conn);
        let r = verify(&path, None);
        assert_tampered(&r);
        assert_eq!(problems(&r), vec![(K::IndexMismatch, Some(k))], "{sql}");
        let f = find(&r, K::IndexMismatch)[0];
        assert_eq!(
            f.entry_id.as_deref(),
            Some(ids[k as usize - 1].as_str()),
            "{sql}"
        );
        if n == 0 {
            assert_eq!(f.found.as_deref(), Some("mallory@evil.example"));
            assert!(f.message.contains("actor_label"), "{}", f.message);
        }
    }
}

// ---------------------------------------------------------------- protections and warnings

#[test]
fn removed_triggers_are_a_warning_only() {
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "trig.sqlite");
    drop(open_for_tampering(&path));
    let r = verify(&path, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert_eq!(warnings(&r), TRIGGERS_GONE.to_vec());
    assert!(problems(&r).is_empty());
    let names: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        names.iter().any(|m| m.contains("entries_no_update")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|m| m.contains("entries_no_delete")),
        "{names:?}"
    );
}

#[test]
fn timestamps_running_backwards_are_a_warning_at_the_seq() {
    let dir = tempfile::tempdir().unwrap();
    let s = auditlens_core::sample::Sample::new(200, SEED);
    let all: Vec<_> = (0..200).map(|i| s.entry(i)).collect();
    let newer = dir.path().join("newer.jsonl");
    let older = dir.path().join("older.jsonl");
    write_platform_jsonl(&newer, &all[100..]);
    write_platform_jsonl(&older, &all[..100]);
    let path = dir.path().join("times.sqlite");
    ingest_files(&path, &[newer]);
    ingest_files(&path, &[older]);
    let r = verify(&path, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert_eq!(warnings(&r), vec![(K::TimeBackwards, Some(101))]);
    assert!(problems(&r).is_empty());
    assert_eq!(r.entries, 200);
}

// ---------------------------------------------------------------- whole-chain rewrite and checkpoints

#[test]
fn whole_chain_rewrite_is_caught_only_by_the_old_checkpoint() {
    let (d, base) = fixture();
    let cp = checkpoint_of(&base);
    let path = copy_to(&base, d.path(), "rewrite.sqlite");
    rewrite_chain(&path, 100);
    let r = verify(&path, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let r = verify(&path, Some(&cp));
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::Rewritten, Some(N))]);
    assert_eq!(r.checkpoint, Some(CheckpointStatus::Fails));
}

#[test]
fn rewrite_before_a_checkpoint_is_caught_after_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let s = auditlens_core::sample::Sample::new(N, SEED);
    let all: Vec<_> = (0..N).map(|i| s.entry(i)).collect();
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    write_platform_jsonl(&first, &all[..200]);
    write_platform_jsonl(&second, &all[200..]);
    let path = dir.path().join("grow.sqlite");
    ingest_files(&path, &[first]);
    let cp200 = checkpoint_of(&path);
    ingest_files(&path, &[second]);
    let r = verify(&path, Some(&cp200));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(
        r.checkpoint,
        Some(CheckpointStatus::Matches {
            size: 200,
            added: N - 200
        })
    );
    rewrite_chain(&path, 50);
    let r = verify(&path, Some(&cp200));
    assert_tampered(&r);
    assert_eq!(problems(&r), vec![(K::Rewritten, Some(200))]);
}

#[test]
fn checkpoint_of_another_archive_is_wrong_archive() {
    let (d, base) = fixture();
    let other = build_archive(d.path(), "other", N);
    let cp_other = checkpoint_of(&other);
    assert_ne!(cp_other.archive_id, Archive::open(&base).unwrap().id());
    let r = verify(&base, Some(&cp_other));
    assert_tampered(&r);
    assert_eq!(
        problems(&r),
        vec![(K::WrongArchive, None)],
        "{:#?}",
        r.findings
    );
    assert_eq!(r.checkpoint, Some(CheckpointStatus::Fails));
}

#[test]
fn edited_checkpoint_does_not_match() {
    let (_d, base) = fixture();
    let cp = checkpoint_of(&base);
    // Head changed.
    let mut bad = cp.clone();
    bad.head = Hash([0x99; 32]);
    let r = verify(&base, Some(&bad));
    assert_eq!(problems(&r), vec![(K::Rewritten, Some(N))]);
    // Root changed.
    let mut bad = cp.clone();
    bad.root = Hash([0x98; 32]);
    let r = verify(&base, Some(&bad));
    assert_eq!(problems(&r), vec![(K::Rewritten, Some(N))]);
    // Size made larger: entries the archive never had.
    let mut bad = cp.clone();
    bad.size = N + 5;
    let r = verify(&base, Some(&bad));
    assert_eq!(problems(&r), vec![(K::Truncated, Some(N + 1))]);
    // Size made smaller: the root over fewer entries differs.
    let mut bad = cp;
    bad.size = N - 1;
    let r = verify(&base, Some(&bad));
    assert_eq!(problems(&r), vec![(K::Rewritten, Some(N - 1))]);
    // And the edited text still parses as a checkpoint.
    assert_eq!(Checkpoint::parse(&bad.to_text()).unwrap(), bad);
}

#[test]
fn damaged_archives_never_make_verify_fail_to_run() {
    // Schema-level damage: verify must report or give a clear error, not panic.
    let (d, base) = fixture();
    let path = copy_to(&base, d.path(), "noentries.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE entries;").unwrap();
    drop(conn);
    let e = auditlens_core::verify::verify_file(&path, None, &Job::new()).unwrap_err();
    assert!(e.to_string().contains("noentries.sqlite"), "{e}");

    let path = copy_to(&base, d.path(), "textseq.sqlite");
    let conn = open_for_tampering(&path);
    conn.execute_batch("UPDATE entries SET record = x'00ff00' WHERE seq = 7;")
        .unwrap();
    drop(conn);
    let r = verify(&path, None);
    assert!(
        problems(&r).iter().all(|(_, s)| *s == Some(7)),
        "{:#?}",
        r.findings
    );
    assert!(problems(&r).contains(&(K::UnreadableRecord, Some(7))));
}

// ---------------------------------------------------------------- exports

fn export_to(archive: &Path, dir: &Path, format: ExportFormat) -> PathBuf {
    let out = dir.join(format!("export.{}", format.extension()));
    let a = Archive::open(archive).unwrap();
    let r = export(&a, &Filter::default(), format, &out, &Job::new()).unwrap();
    assert_eq!(r.entries, N);
    out
}

/// Changes one byte of entry `id`'s user agent inside an export file.
fn flip_byte_in_export(path: &Path, id: &str, user_agent: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let line_start = text
        .find(id)
        .map(|p| text[..p].rfind('\n').map_or(0, |n| n + 1))
        .unwrap();
    let ua_at = line_start + text[line_start..].find(user_agent).unwrap();
    let mut bytes = text.into_bytes();
    bytes[ua_at] = if bytes[ua_at] == b'x' { b'y' } else { b'x' };
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn intact_exports_verify() {
    let (d, base) = fixture();
    for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv] {
        let out = export_to(&base, d.path(), format);
        let r = verify(&out, None);
        assert_eq!(r.status(), Status::Intact, "{format:?}: {:#?}", r.findings);
        assert!(r.findings.is_empty(), "{format:?}: {:#?}", r.findings);
        assert_eq!(r.entries, N, "{format:?}");
        assert_eq!(r.head, Some(checkpoint_of(&base).head), "{format:?}");
    }
}

#[test]
fn modified_byte_in_an_export_is_found_at_its_seq() {
    let (d, base) = fixture();
    let entries = entries_of(&base);
    for (format, k) in [
        (ExportFormat::Json, 17u64),
        (ExportFormat::Ndjson, 150),
        (ExportFormat::Csv, 299),
    ] {
        let out = export_to(&base, d.path(), format);
        let e = &entries[k as usize - 1];
        flip_byte_in_export(&out, &e.id, e.user_agent.as_deref().unwrap());
        let r = verify(&out, None);
        assert_tampered(&r);
        let p = problems(&r);
        assert!(
            p.contains(&(K::RecordModified, Some(k))),
            "{format:?}: {p:?}"
        );
        // Besides the entry itself, only the export's embedded checkpoint may
        // disagree (its Merkle root covers the changed entry).
        assert!(
            p.iter().all(|f| f.1 == Some(k) || f.0 == K::Rewritten),
            "{format:?}: {p:?}"
        );
        let f = find(&r, K::RecordModified)[0];
        assert_eq!(f.entry_id.as_deref(), Some(e.id.as_str()), "{format:?}");
    }
}

#[test]
fn line_dropped_from_an_ndjson_export_is_incomplete_and_names_the_missing_seq() {
    let (d, base) = fixture();
    let out = export_to(&base, d.path(), ExportFormat::Ndjson);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Line 0 is the header; entry seq k is on line k.
    let k = 120usize;
    assert!(lines[k].starts_with(&format!("{{\"seq\":{k},")));
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&out, kept.join("\n") + "\n").unwrap();
    let r = verify(&out, None);
    assert_tampered(&r);
    // The export was made without a filter, so the missing seq is named too.
    assert_eq!(
        problems(&r),
        vec![
            (K::ExportIncomplete, None),
            (K::MissingEntries, Some(k as u64))
        ],
        "{:#?}",
        r.findings
    );
    let f = find(&r, K::ExportIncomplete)[0];
    assert_eq!(f.expected.as_deref(), Some(N.to_string().as_str()));
    assert_eq!(f.found.as_deref(), Some((N - 1).to_string().as_str()));
}

#[test]
fn cut_off_ndjson_export_is_incomplete() {
    let (d, base) = fixture();
    let out = export_to(&base, d.path(), ExportFormat::Ndjson);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Keep the header and the first 100 entries; drop the rest and the footer.
    std::fs::write(&out, lines[..101].join("\n") + "\n").unwrap();
    let r = verify(&out, None);
    assert_tampered(&r);
    assert!(
        problems(&r).iter().any(|(k, _)| *k == K::ExportIncomplete),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.entries, 100);
}

/// A column renamed or dropped, or the entries table renamed, by another
/// program: no entry can be read, so nothing is verified (exit 2), and the
/// message says which columns are gone and why, never "intact".
#[test]
fn a_renamed_or_dropped_column_cannot_be_verified_and_says_why() {
    for (sql, want) in [
        (
            "ALTER TABLE entries RENAME COLUMN ip_address TO ip",
            "entries table lacks the column(s) ip_address",
        ),
        (
            "ALTER TABLE entries DROP COLUMN org_id",
            "entries table lacks the column(s) org_id",
        ),
        (
            "ALTER TABLE entries RENAME TO entries_old",
            "has no entries table",
        ),
    ] {
        let (_dir, path) = fixture();
        let conn = open_for_tampering(&path);
        conn.execute_batch(sql).unwrap();
        drop(conn);
        let e = auditlens_core::verify::verify_file(&path, None, &auditlens_core::job::Job::new())
            .expect_err("nothing can be verified");
        assert!(e.to_string().contains(want), "{sql}: {e}");
        let o = run([std::ffi::OsStr::new("verify"), path.as_os_str()]);
        assert_eq!(o.code, 2, "{sql}: {}", o.stderr);
        assert!(
            o.stderr.contains(want) && o.stderr.contains("COULD NOT VERIFY"),
            "{}",
            o.stderr
        );
    }
}

/// The `ingests` table only describes the runs; dropping it (another
/// program) must not stop the auditor's report or `info`: both run, and the
/// report carries verify's `schema_altered` warning.
#[test]
fn a_dropped_ingests_table_still_gets_a_report_and_info() {
    let (dir, path) = fixture();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE ingests").unwrap();
    drop(conn);
    let html = dir.path().join("r.html");
    let o = run([
        std::ffi::OsStr::new("report"),
        path.as_os_str(),
        std::ffi::OsStr::new("-o"),
        html.as_os_str(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let facts = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(facts.contains("schema_altered"), "{facts}");
    let o = run([std::ffi::OsStr::new("info"), path.as_os_str()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("0 ingest run(s)"), "{}", o.stdout);
}

/// The files in `dir` with their bytes.
fn files_of(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn an_archive_switched_to_wal_is_read_as_sqlite_reads_it_without_writing_beside_it() {
    // A change left in the -wal file (which any SQLite reader applies), and
    // the -wal and the file copied elsewhere without SQLite's -shm index.
    let (dir, path) = fixture();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         DROP TRIGGER entries_no_update;
         UPDATE entries SET action = 'read' WHERE seq = 7;",
    )
    .unwrap();
    let logged = dir.path().join("logged");
    std::fs::create_dir(&logged).unwrap();
    let archive = logged.join("a.sqlite");
    std::fs::copy(&path, &archive).unwrap();
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    std::fs::copy(&wal, logged.join("a.sqlite-wal")).unwrap();
    drop(conn);
    let before = files_of(&logged);
    let r = verify(&archive, None);
    assert_tampered(&r);
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == K::IndexMismatch && f.seq == Some(7)),
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == K::SchemaAltered && f.message.contains("write-ahead logging")),
        "{:#?}",
        r.findings
    );
    let o = run([std::ffi::OsStr::new("info"), archive.as_os_str()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        files_of(&logged),
        before,
        "nothing written beside the archive"
    );

    // A file left in WAL mode with no -wal beside it: SQLite would create
    // the -wal and -shm files to read it.
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    let archive = clean.join("a.sqlite");
    std::fs::copy(build_archive(dir.path(), "walmode", 20), &archive).unwrap();
    let conn = rusqlite::Connection::open(&archive).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    drop(conn);
    let before = files_of(&clean);
    assert_eq!(before.len(), 1);
    let r = verify(&archive, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert_eq!(r.entries, 20);
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].kind, K::SchemaAltered);
    assert_eq!(
        files_of(&clean),
        before,
        "nothing written beside the archive"
    );
}

#[test]
fn ingest_says_when_it_appends_to_an_archive_whose_protection_was_removed() {
    let (dir, path) = fixture();
    let more = dir.path().join("more.jsonl");
    let o = run([
        std::ffi::OsStr::new("sample"),
        std::ffi::OsStr::new("--entries"),
        std::ffi::OsStr::new("20"),
        std::ffi::OsStr::new("--seed"),
        std::ffi::OsStr::new("991"),
        std::ffi::OsStr::new("-o"),
        more.as_os_str(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let ingest = || {
        run([
            std::ffi::OsStr::new("ingest"),
            std::ffi::OsStr::new("--archive"),
            path.as_os_str(),
            more.as_os_str(),
        ])
    };
    // Intact: no note.
    let o = ingest();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains("note: another program"), "{}", o.stdout);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER entries_no_update")
        .unwrap();
    drop(conn);
    let o = ingest();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("note: another program removed the archive's entries_no_update"),
        "{}",
        o.stdout
    );
}

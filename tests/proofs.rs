//! Proofs that travel (issue 4): signed checkpoints, tail truncation and
//! whole-chain rewrite caught with a checkpoint every time, consistency of a
//! grown archive, and filtered exports that prove every entry on their own.

mod common;

use std::path::{Path, PathBuf};

use auditlens_core::archive::Archive;
use auditlens_core::chain::{self, ArchiveId, Hash};
use auditlens_core::export::{ExportFormat, export_with};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::json;
use auditlens_core::merkle;
use auditlens_core::model::Entry;
use auditlens_core::note::{SignerKey, VerifierKey};
use auditlens_core::output::Destination;
use auditlens_core::proof::{self, SignedCheckpoint, sidecar_path};
use auditlens_core::verify::{
    CheckpointStatus, FindingKind as K, Report, Status, VerifyError, verify_signed,
};
use common::*;
use serde_json::Value;

fn signer(name: &str, byte: u8) -> SignerKey {
    SignerKey::from_seed(name, &[byte; 32]).unwrap()
}

fn signed_checkpoint(path: &Path, key: Option<&SignerKey>) -> SignedCheckpoint {
    let cp = Archive::open(path).unwrap().checkpoint().unwrap();
    SignedCheckpoint::parse(&SignedCheckpoint::text(&cp, key).unwrap()).unwrap()
}

fn verify_keys(
    path: &Path,
    cp: Option<&SignedCheckpoint>,
    keys: &[VerifierKey],
) -> Result<Report, VerifyError> {
    verify_signed(path, cp, keys, &Job::new()).map(|(r, _)| r)
}

fn kinds(r: &Report) -> Vec<(K, Option<u64>)> {
    problems(r)
}

// ---------------------------------------------------------------- signed checkpoints

#[test]
fn signed_checkpoint_follows_the_c2sp_key_rules() {
    let d = tempfile::tempdir().unwrap();
    let path = build_archive(d.path(), "a", 40);
    let (a, b) = (
        signer("archive.example/a", 1),
        signer("archive.example/b", 2),
    );
    let cp = signed_checkpoint(&path, Some(&a));
    // The known key verifies.
    let r = verify_keys(&path, Some(&cp), &[a.verifier()]).unwrap();
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    // An unknown key next to the known one is ignored.
    let r = verify_keys(&path, Some(&cp), &[b.verifier(), a.verifier()]).unwrap();
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    // Only an unknown key: not proven.
    let r = verify_keys(&path, Some(&cp), &[b.verifier()]).unwrap();
    assert_eq!(kinds(&r), vec![(K::NotSigned, None)]);
    // A failing known key rejects, even with another good signature.
    let mut note = cp.note.clone();
    let mut by_b = auditlens_core::note::Note::sign(&note.text, &b).unwrap();
    by_b.signatures[0].signature[10] ^= 0x40;
    note.signatures.push(by_b.signatures[0].clone());
    let two = SignedCheckpoint::parse(&note.to_text()).unwrap();
    let r = verify_keys(&path, Some(&two), &[a.verifier(), b.verifier()]).unwrap();
    assert_eq!(kinds(&r), vec![(K::SignatureInvalid, None)]);
    // The checkpoint text changed after signing (its chain line): rejected.
    let head = cp.checkpoint.head.to_hex();
    let other_head = format!(
        "{}{}",
        &head[..63],
        if head.ends_with('0') { '1' } else { '0' }
    );
    let edited = SignedCheckpoint::parse(&cp.note.to_text().replace(&head, &other_head)).unwrap();
    let r = verify_keys(&path, Some(&edited), &[a.verifier()]).unwrap();
    assert!(
        kinds(&r).contains(&(K::SignatureInvalid, None)),
        "{:#?}",
        r.findings
    );
}

#[test]
fn unsigned_checkpoints_from_before_stay_readable() {
    let d = tempfile::tempdir().unwrap();
    let path = build_archive(d.path(), "a", 30);
    // Exactly what the core issue's `checkpoint` command wrote.
    let old_text = Archive::open(&path)
        .unwrap()
        .checkpoint()
        .unwrap()
        .to_text();
    let cp = SignedCheckpoint::parse(&old_text).unwrap();
    assert!(cp.signers().is_empty());
    let r = verify_keys(&path, Some(&cp), &[]).unwrap();
    assert_eq!(r.status(), Status::Intact);
    assert_eq!(
        r.checkpoint,
        Some(CheckpointStatus::Matches { size: 30, added: 0 })
    );
    // Asked for a signature, an unsigned checkpoint is not proven, and the message says how to sign.
    let r = verify_keys(&path, Some(&cp), &[signer("k", 3).verifier()]).unwrap();
    assert_eq!(kinds(&r), vec![(K::NotSigned, None)]);
    assert!(find(&r, K::NotSigned)[0].message.contains("--sign"));
}

// ---------------------------------------------------------------- truncation, rewrite, consistency

const SMALL: u64 = 24;

#[test]
fn tail_truncation_is_caught_with_a_checkpoint_every_time() {
    let d = tempfile::tempdir().unwrap();
    let base = build_archive(d.path(), "base", SMALL);
    let key = signer("k", 4);
    let cp = signed_checkpoint(&base, Some(&key));
    for keep in 0..SMALL {
        let path = copy_to(&base, d.path(), &format!("cut{keep}.sqlite"));
        let conn = open_for_tampering(&path);
        conn.execute("DELETE FROM entries WHERE seq > ?1", [keep as i64])
            .unwrap();
        restore_triggers(&conn);
        drop(conn);
        // The chain alone cannot tell …
        assert_eq!(verify(&path, None).status(), Status::Intact, "keep {keep}");
        // … the checkpoint always can, at the first missing seq.
        let r = verify_keys(&path, Some(&cp), &[key.verifier()]).unwrap();
        assert_eq!(
            kinds(&r),
            vec![(K::Truncated, Some(keep + 1))],
            "keep {keep}"
        );
        let c = proof::consistency(&Archive::open(&path).unwrap(), &cp.checkpoint, &Job::new())
            .unwrap();
        assert_eq!(
            c.findings
                .iter()
                .map(|f| (f.kind, f.seq))
                .collect::<Vec<_>>(),
            vec![(K::Truncated, Some(keep + 1))]
        );
    }
}

#[test]
fn whole_chain_rewrite_is_caught_with_a_checkpoint_every_time() {
    let d = tempfile::tempdir().unwrap();
    let base = build_archive(d.path(), "base", SMALL);
    let cp = signed_checkpoint(&base, None);
    for k in 1..=SMALL {
        let path = copy_to(&base, d.path(), &format!("rw{k}.sqlite"));
        rewrite_chain(&path, k);
        assert_eq!(verify(&path, None).status(), Status::Intact, "k {k}");
        let r = verify(&path, Some(&cp.checkpoint));
        assert_eq!(kinds(&r), vec![(K::Rewritten, Some(SMALL))], "k {k}");
        let c = proof::consistency(&Archive::open(&path).unwrap(), &cp.checkpoint, &Job::new())
            .unwrap();
        assert_eq!(
            c.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
            vec![K::Rewritten],
            "k {k}"
        );
    }
}

#[test]
fn grown_archive_is_consistent_with_its_old_checkpoint_and_reports_what_was_added() {
    let d = tempfile::tempdir().unwrap();
    let s = auditlens_core::sample::Sample::new(300, SEED);
    let all: Vec<Entry> = (0..300).map(|i| s.entry(i)).collect();
    let (first, second) = (d.path().join("1.jsonl"), d.path().join("2.jsonl"));
    write_platform_jsonl(&first, &all[..200]);
    write_platform_jsonl(&second, &all[200..]);
    let path = d.path().join("grow.sqlite");
    ingest_files(&path, &[first]);
    let old = signed_checkpoint(&path, None).checkpoint;
    ingest_files(&path, &[second]);
    let r = verify(&path, Some(&old));
    assert_eq!(
        r.checkpoint,
        Some(CheckpointStatus::Matches {
            size: 200,
            added: 100
        })
    );
    let c = proof::consistency(&Archive::open(&path).unwrap(), &old, &Job::new()).unwrap();
    assert!(c.findings.is_empty(), "{:#?}", c.findings);
    assert_eq!((c.old.size, c.new.size), (200, 300));
    // The proof stands on its own: two checkpoints and the hashes.
    merkle::verify_consistency(200, 300, &c.proof, &old.root, &c.new.root).unwrap();
    assert!(merkle::verify_consistency(200, 300, &c.proof, &c.new.root, &old.root).is_err());
    // A change before the old checkpoint breaks consistency.
    rewrite_chain(&path, 150);
    let c = proof::consistency(&Archive::open(&path).unwrap(), &old, &Job::new()).unwrap();
    assert_eq!(
        c.findings
            .iter()
            .map(|f| (f.kind, f.seq))
            .collect::<Vec<_>>(),
        vec![(K::Rewritten, Some(200))]
    );
    // A change after it does not: the old part is untouched (verify reports the new damage).
    let path2 = d.path().join("grow2.sqlite");
    ingest_files(&path2, &[d.path().join("1.jsonl")]);
    let old2 = signed_checkpoint(&path2, None).checkpoint;
    ingest_files(&path2, &[d.path().join("2.jsonl")]);
    rewrite_chain(&path2, 250);
    let c = proof::consistency(&Archive::open(&path2).unwrap(), &old2, &Job::new()).unwrap();
    assert!(c.findings.is_empty(), "{:#?}", c.findings);
    // Another archive's checkpoint is refused.
    let other = build_archive(d.path(), "other", 10);
    let c = proof::consistency(&Archive::open(&other).unwrap(), &old, &Job::new()).unwrap();
    assert_eq!(c.findings[0].kind, K::WrongArchive);
}

// ---------------------------------------------------------------- subset exports

const ARCHIVE_N: u64 = 120;

/// An archive of ARCHIVE_N entries and a filtered export of it, signed by `key`.
fn subset(
    dir: &Path,
    format: ExportFormat,
    key: Option<&SignerKey>,
    only: &[u64],
) -> (PathBuf, PathBuf) {
    let archive = dir.join("base.sqlite");
    if !archive.exists() {
        build_archive(dir, "base", ARCHIVE_N);
    }
    let out = dir.join(format!("subset-{}.{}", only.len(), format.extension()));
    let a = Archive::open(&archive).unwrap();
    let r = export_with(
        &a,
        &Filter::default(),
        Some(only),
        format,
        &Destination::new(&out),
        key,
        &Job::new(),
    )
    .unwrap();
    assert_eq!(r.entries, only.len() as u64);
    (archive, out)
}

const PICK: [u64; 6] = [1, 7, 8, 64, 100, ARCHIVE_N];

#[test]
fn subset_export_verifies_standalone_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let key = signer("auditor", 5);
    for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv] {
        let (archive, out) = subset(d.path(), format, Some(&key), &PICK[..5]);
        // Without the archive.
        let moved = d.path().join("away.sqlite");
        std::fs::rename(&archive, &moved).unwrap();
        let r = verify_keys(&out, None, &[key.verifier()]).unwrap();
        assert_eq!(r.status(), Status::Intact, "{format:?}: {:#?}", r.findings);
        assert_eq!(
            r.checkpoint,
            Some(CheckpointStatus::Proven {
                size: ARCHIVE_N,
                entries: 5
            }),
            "{format:?}"
        );
        // The external checkpoint, when it is the same, agrees.
        let cp = signed_checkpoint(&moved, Some(&key));
        let r = verify_keys(&out, Some(&cp), &[key.verifier()]).unwrap();
        assert_eq!(r.status(), Status::Intact, "{format:?}: {:#?}", r.findings);
        // A key that did not sign: not proven.
        let r = verify_keys(&out, None, &[signer("someone", 6).verifier()]).unwrap();
        assert_eq!(kinds(&r), vec![(K::NotSigned, None)], "{format:?}");
        std::fs::rename(&moved, &archive).unwrap();
    }
    // The last entry included: the chain head agrees too, still proven.
    let (_, out) = subset(d.path(), ExportFormat::Ndjson, None, &PICK);
    let r = verify(&out, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert!(matches!(
        r.checkpoint,
        Some(CheckpointStatus::Proven { entries: 6, .. })
    ));
}

/// An export of every entry carries no per-entry proofs: the root rebuilt from
/// all its leaves is compared with the checkpoint, which catches a removed
/// entry anywhere, a cut tail, and a header that stops claiming the whole.
#[test]
fn whole_export_proves_itself_by_its_root_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "whole", ARCHIVE_N);
    let key = signer("auditor", 5);
    let a = Archive::open(&archive).unwrap();
    let moved = d.path().join("away.sqlite");
    for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv] {
        let out = d.path().join(format!("all.{}", format.extension()));
        let r = export_with(
            &a,
            &Filter::default(),
            None,
            format,
            &Destination::new(&out),
            Some(&key),
            &Job::new(),
        )
        .unwrap();
        assert_eq!(r.entries, ARCHIVE_N);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            !text.contains("\"inclusion\""),
            "{format:?} carries per-entry proofs"
        );
        if format == ExportFormat::Csv {
            let side = std::fs::read_to_string(sidecar_path(&out)).unwrap();
            assert!(side.contains(proof::PROOFS_WHOLE), "{side}");
            assert!(!side.contains("\"inclusion\""), "{side}");
        } else {
            assert!(text.contains(proof::PROOFS_WHOLE));
        }
        std::fs::rename(&archive, &moved).unwrap();
        let r = verify_keys(&out, None, &[key.verifier()]).unwrap();
        assert_eq!(r.status(), Status::Intact, "{format:?}: {:#?}", r.findings);
        assert_eq!(
            r.checkpoint,
            Some(CheckpointStatus::Matches {
                size: ARCHIVE_N,
                added: 0
            }),
            "{format:?}"
        );
        std::fs::rename(&moved, &archive).unwrap();
    }
    let out = d.path().join("all.ndjson");
    let (lines, entries) = ndjson_entries(&out);
    // An entry removed from the middle, the footer count fixed: located.
    let mut gap = entries.clone();
    gap.remove(49);
    write_ndjson(&out, &lines, &gap);
    let r = verify(&out, None);
    assert_eq!(r.status(), Status::Tampered);
    assert!(
        kinds(&r)
            .iter()
            .any(|(_, s)| matches!(s, Some(50) | Some(51))),
        "{:#?}",
        r.findings
    );
    // The last entry removed: the checkpoint shows the cut.
    write_ndjson(&out, &lines, &entries[..entries.len() - 1]);
    let r = verify(&out, None);
    assert!(
        kinds(&r).contains(&(K::Truncated, Some(ARCHIVE_N))),
        "{:#?}",
        r.findings
    );
    // The tail cut and the header changed to claim a filtered subset: its
    // entries then lack the proofs a subset carries.
    let mut header: Value = serde_json::from_str(&lines[0]).unwrap();
    header["auditlens_export"]["proofs"] = proof::PROOFS_KIND.into();
    header["auditlens_export"]["filter"] = serde_json::json!({"action": ["create"]});
    let subset_lines = vec![serde_json::to_string(&header).unwrap()];
    write_ndjson(&out, &subset_lines, &entries[..entries.len() - 1]);
    let r = verify(&out, None);
    assert_eq!(r.status(), Status::Tampered);
    assert_eq!(find(&r, K::Unproven).len(), ARCHIVE_N as usize - 1);
}

/// The entry lines of an NDJSON export, parsed (header and footer excluded).
fn ndjson_entries(path: &Path) -> (Vec<String>, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let entries = lines[1..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, entries)
}

fn write_ndjson(path: &Path, lines: &[String], entries: &[Value]) {
    let mut text = lines[0].clone() + "\n";
    for e in entries {
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push('\n');
    }
    text.push_str(&format!(
        "{{\"auditlens_export_end\":{{\"count\":{}}}}}\n",
        entries.len()
    ));
    std::fs::write(path, text).unwrap();
}

/// The leaf hash an attacker would compute for an exported entry at `seq` of `archive`.
fn recomputed_leaf(archive: &ArchiveId, seq: u64, e: &Value) -> Hash {
    let mut m = e.as_object().unwrap().clone();
    for k in ["seq", "leaf_hash", "chain_hash", "leaf_index", "inclusion"] {
        m.remove(k);
    }
    let j = json::parse(serde_json::to_string(&m).unwrap().as_bytes()).unwrap();
    let record = Entry::from_record(&j).unwrap().canonical_record();
    chain::leaf_hash(archive, seq, record.as_bytes())
}

fn archive_id_of(header_line: &str) -> ArchiveId {
    let h: Value = serde_json::from_str(header_line).unwrap();
    ArchiveId::parse(h["auditlens_export"]["archive_id"].as_str().unwrap()).unwrap()
}

#[test]
fn edited_entry_with_recomputed_hashes_fails_its_inclusion_proof() {
    let d = tempfile::tempdir().unwrap();
    let (_, out) = subset(d.path(), ExportFormat::Ndjson, None, &PICK[..5]);
    let (lines, mut entries) = ndjson_entries(&out);
    let id = archive_id_of(&lines[0]);
    // Entry seq 64 (its neighbours not exported): its action changed, leaf
    // hash recomputed to match. Only the inclusion proof can tell.
    entries[3]["action"] = Value::from("read");
    let leaf = recomputed_leaf(&id, 64, &entries[3]);
    entries[3]["leaf_hash"] = Value::from(leaf.to_hex());
    assert!(entries[3].get("chain_hash").is_none());
    // Entry seq 8 (seq 7 exported too): the chain link to 7 breaks as well.
    entries[2]["action"] = Value::from("read");
    let leaf = recomputed_leaf(&id, 8, &entries[2]);
    entries[2]["leaf_hash"] = Value::from(leaf.to_hex());
    write_ndjson(&out, &lines, &entries);
    let r = verify(&out, None);
    assert_eq!(
        kinds(&r),
        vec![
            (K::ChainBroken, Some(8)),
            (K::InclusionFailed, Some(8)),
            (K::InclusionFailed, Some(64))
        ],
        "{:#?}",
        r.findings
    );
    assert!(
        find(&r, K::InclusionFailed)
            .iter()
            .all(|f| f.entry_id.is_some())
    );
}

#[test]
fn dropped_and_renumbered_subset_fails() {
    let d = tempfile::tempdir().unwrap();
    let (_, out) = subset(d.path(), ExportFormat::Ndjson, None, &PICK[..5]);
    let (lines, mut entries) = ndjson_entries(&out);
    let id = archive_id_of(&lines[0]);
    // Drop seq 7 and move the later entries down by one to hide the gap,
    // recomputing their leaf hashes and leaf indexes as a forger would.
    entries.remove(1);
    for e in entries.iter_mut().skip(1) {
        let new_seq = e["seq"].as_u64().unwrap() - 1;
        e["seq"] = Value::from(new_seq);
        e["leaf_index"] = Value::from(new_seq - 1);
        let leaf = recomputed_leaf(&id, new_seq, e);
        e["leaf_hash"] = Value::from(leaf.to_hex());
    }
    let renumbered: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    write_ndjson(&out, &lines, &entries);
    let r = verify(&out, None);
    assert_eq!(r.status(), Status::Tampered);
    // Every renumbered entry fails, at its (new) seq; the untouched first one does not.
    for s in &renumbered[1..] {
        assert!(
            kinds(&r).contains(&(K::InclusionFailed, Some(*s))),
            "{s}: {:#?}",
            r.findings
        );
    }
    assert!(!kinds(&r).iter().any(|(_, s)| *s == Some(1)));
}

#[test]
fn entry_from_another_archive_fails() {
    let d = tempfile::tempdir().unwrap();
    let (_, out) = subset(d.path(), ExportFormat::Ndjson, None, &PICK[..5]);
    // The same data sealed in another archive: same records, another archive id.
    let d2 = tempfile::tempdir().unwrap();
    let (_, other) = subset(d2.path(), ExportFormat::Ndjson, None, &PICK[..5]);
    let (lines, mut entries) = ndjson_entries(&out);
    let (_, theirs) = ndjson_entries(&other);
    let id = archive_id_of(&lines[0]);
    // Taken as is: its leaf hash names the other archive.
    entries[3] = theirs[3].clone();
    write_ndjson(&out, &lines, &entries);
    let r = verify(&out, None);
    assert_eq!(r.status(), Status::Tampered);
    assert!(
        kinds(&r).iter().all(|(_, s)| *s == Some(64)),
        "{:#?}",
        r.findings
    );
    // Relabelled with a leaf hash for this archive: its proof (from the other tree) fails.
    entries[3]["leaf_hash"] = Value::from(recomputed_leaf(&id, 64, &entries[3]).to_hex());
    write_ndjson(&out, &lines, &entries);
    let r = verify(&out, None);
    assert_eq!(
        kinds(&r),
        vec![(K::InclusionFailed, Some(64))],
        "{:#?}",
        r.findings
    );
}

#[test]
fn removed_proof_is_unproven_and_exports_from_before_proofs_still_verify() {
    let d = tempfile::tempdir().unwrap();
    let (_, out) = subset(d.path(), ExportFormat::Ndjson, None, &PICK[..5]);
    let (lines, mut entries) = ndjson_entries(&out);
    let strip = |e: &mut Value| {
        let m = e.as_object_mut().unwrap();
        m.remove("leaf_index");
        m.remove("inclusion");
    };
    strip(&mut entries[1]);
    write_ndjson(&out, &lines, &entries);
    let r = verify(&out, None);
    assert_eq!(kinds(&r), vec![(K::Unproven, Some(7))], "{:#?}", r.findings);
    // An export written before proofs existed: no "proofs" in the header, none in the entries.
    entries.iter_mut().for_each(strip);
    let mut header: Value = serde_json::from_str(&lines[0]).unwrap();
    header["auditlens_export"]
        .as_object_mut()
        .unwrap()
        .remove("proofs");
    let old_lines = vec![serde_json::to_string(&header).unwrap()];
    write_ndjson(&out, &old_lines, &entries);
    let r = verify(&out, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert_eq!(r.checkpoint, Some(CheckpointStatus::NotCovered));
    // Asked to prove it with a key, it is not proven (and says why).
    let key = signer("k", 8);
    let r = verify_keys(&out, None, &[key.verifier()]).unwrap();
    assert!(
        kinds(&r).contains(&(K::Unproven, None)),
        "{:#?}",
        r.findings
    );
}

// ---------------------------------------------------------------- every single byte

/// Mutates each byte in `range` of `file` (XOR 1: a different byte, never a
/// case change of a hex digit, which would be the same hash), verifies, and
/// checks that verification fails with a finding that says where. Returns the
/// number of mutations tried.
fn every_byte_fails(
    file: &Path,
    ranges: &[std::ops::Range<usize>],
    key: &VerifierKey,
    step: usize,
) -> usize {
    let original = std::fs::read(file).unwrap();
    let mut tried = 0;
    for range in ranges {
        for at in range.clone().step_by(step) {
            let mut bytes = original.clone();
            bytes[at] ^= 0x01;
            std::fs::write(file, &bytes).unwrap();
            let what = || {
                let from = at.saturating_sub(20);
                let to = (at + 20).min(original.len());
                format!(
                    "byte {at} ({:?} → {:?}) in …{}…",
                    original[at] as char,
                    bytes[at] as char,
                    String::from_utf8_lossy(&original[from..to])
                )
            };
            match verify_keys(file, None, std::slice::from_ref(key)) {
                // A file that no longer parses at all: the error must say where.
                Err(VerifyError::Cannot(m)) => assert!(
                    m.contains("line") || m.contains("checkpoint") || m.contains("header"),
                    "{}: unlocated error {m}",
                    what()
                ),
                Err(e) => panic!("{}: {e}", what()),
                Ok(r) => {
                    assert_eq!(r.status(), Status::Tampered, "{}: passed", what());
                    let located = r.findings.iter().any(|f| {
                        !f.kind.is_warning()
                            && (f.seq.is_some()
                                || f.message.contains("line")
                                || f.message.contains("checkpoint")
                                || f.kind == K::WrongArchive)
                    });
                    assert!(located, "{}: no located finding {:#?}", what(), r.findings);
                }
            }
            tried += 1;
        }
    }
    std::fs::write(file, &original).unwrap();
    tried
}

/// The byte range of the `"checkpoint":"…"` value inside a header line at `offset`.
fn checkpoint_range(text: &str) -> std::ops::Range<usize> {
    let start = text.find("\"checkpoint\":\"").unwrap() + "\"checkpoint\":\"".len();
    let end = start + text[start..].find("\",\"").unwrap();
    start..end
}

#[test]
fn every_single_byte_change_to_an_ndjson_subset_fails_with_a_located_finding() {
    let d = tempfile::tempdir().unwrap();
    let key = signer("auditor", 9);
    let (_, out) = subset(d.path(), ExportFormat::Ndjson, Some(&key), &[3, 64]);
    let text = std::fs::read_to_string(&out).unwrap();
    let first_nl = text.find('\n').unwrap();
    let footer = text[..text.len() - 1].rfind('\n').unwrap();
    // The checkpoint (with its signature line) and every byte of every entry, proofs included.
    let ranges = [checkpoint_range(&text[..first_nl]), first_nl + 1..footer];
    let n = every_byte_fails(&out, &ranges, &key.verifier(), 1);
    assert!(n > 2000, "{n}");
    assert_eq!(
        verify_keys(&out, None, &[key.verifier()]).unwrap().status(),
        Status::Intact
    );
}

#[test]
fn single_byte_changes_to_json_and_csv_subsets_fail_with_a_located_finding() {
    let d = tempfile::tempdir().unwrap();
    let key = signer("auditor", 10);
    // JSON: a deterministic sample of positions (every 7th byte).
    let (_, out) = subset(d.path(), ExportFormat::Json, Some(&key), &[5, 90]);
    let text = std::fs::read_to_string(&out).unwrap();
    let entries_at = text.find("\"entries\":[").unwrap() + "\"entries\":[".len();
    let end = text.rfind("],").unwrap();
    let ranges = [checkpoint_range(&text), entries_at..end];
    assert!(every_byte_fails(&out, &ranges, &key.verifier(), 7) > 300);
    // CSV: every 5th byte of the rows, and every byte of the proof sidecar's checkpoint and proofs.
    let (_, out) = subset(d.path(), ExportFormat::Csv, Some(&key), &[5, 90]);
    let text = std::fs::read_to_string(&out).unwrap();
    let header_end = text.find('\n').unwrap() + 1;
    let n = every_byte_fails(
        &out,
        std::slice::from_ref(&(header_end..text.len() - 1)),
        &key.verifier(),
        5,
    );
    assert!(n > 200, "{n}");
    let side = sidecar_path(&out);
    let stext = std::fs::read_to_string(&side).unwrap();
    let entries_at = stext.find("\"entries\":[").unwrap() + "\"entries\":[".len();
    let end = stext.rfind("],").unwrap();
    let original = std::fs::read(&side).unwrap();
    let mut tried = 0;
    for at in checkpoint_range(&stext).chain(entries_at..end) {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&side, &bytes).unwrap();
        match verify_keys(&out, None, &[key.verifier()]) {
            Err(VerifyError::Cannot(m)) => assert!(m.contains(".proof.json"), "byte {at}: {m}"),
            Err(e) => panic!("{e}"),
            Ok(r) => {
                assert_eq!(r.status(), Status::Tampered, "sidecar byte {at} passed");
                assert!(
                    r.findings.iter().any(|f| f.seq.is_some()
                        || f.message.contains("line")
                        || f.message.contains("checkpoint")),
                    "sidecar byte {at}: {:#?}",
                    r.findings
                );
            }
        }
        tried += 1;
    }
    std::fs::write(&side, &original).unwrap();
    assert!(tried > 700, "{tried}");
    // Without its sidecar a CSV subset is not proven, which a key makes an error.
    std::fs::remove_file(&side).unwrap();
    let r = verify_keys(&out, None, &[key.verifier()]).unwrap();
    assert_eq!(r.status(), Status::Tampered);
    assert!(
        kinds(&r).contains(&(K::NotSigned, None)),
        "{:#?}",
        r.findings
    );
}

#[test]
fn csv_row_removed_is_named_by_its_proof() {
    let d = tempfile::tempdir().unwrap();
    let (_, out) = subset(d.path(), ExportFormat::Csv, None, &PICK[..5]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Header + 5 rows; drop the row of seq 8.
    assert!(lines[3].contains(",8,"), "{}", lines[3]);
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&out, kept.join("\n") + "\n").unwrap();
    let r = verify(&out, None);
    assert_eq!(
        kinds(&r),
        vec![(K::ExportIncomplete, Some(8))],
        "{:#?}",
        r.findings
    );
}

/// A signature vouches for what it signs: `export --sign` of a tampered
/// archive writes nothing and says why (exit 1); of an intact one it signs.
#[test]
fn export_sign_refuses_a_tampered_archive() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let o = run([
        "keygen".as_ref(),
        "--name".as_ref(),
        "auditor.example".as_ref(),
        "-o".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for (archive, code) in [
        ("sample-data/tampered.sqlite", 1),
        ("sample-data/audit-sample.sqlite", 0),
    ] {
        let out = dir.path().join("d.ndjson");
        let o = run([
            "export".as_ref(),
            archive.as_ref(),
            "--format".as_ref(),
            "ndjson".as_ref(),
            "--action".as_ref(),
            "delete".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            "--sign".as_ref(),
            key.as_os_str(),
        ]);
        assert_eq!(o.code, code, "{archive}: {}", o.stderr);
        if code == 1 {
            assert!(o.stderr.contains("nothing exported"), "{}", o.stderr);
            assert!(o.stderr.contains("record_modified"), "{}", o.stderr);
            assert!(!out.exists());
        } else {
            assert!(
                std::fs::read_to_string(&out)
                    .unwrap()
                    .contains("— auditor.example")
            );
        }
    }
}

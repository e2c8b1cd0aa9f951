//! Verdicts on exports (issue 12, items 1, 3, 5 and 8), tried as a user
//! would, through the binary: a forged subset against the genuine checkpoint,
//! empty exports, header values this version does not know, a CSV without
//! its proof sidecar and a CSV cell that lost its guard.

mod common;

use std::path::{Path, PathBuf};

use auditlens_core::chain::{self, ArchiveId, Hash};
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::merkle::Tree;
use auditlens_core::source::Source;
use common::*;
use serde_json::{Value, json};

/// Entries in the test archive.
const N: u64 = 120;

/// A fresh folder with an archive of `N` entries and its checkpoint file.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "a", N);
    let cp = d.path().join("genuine.checkpoint");
    let o = run(["checkpoint".as_ref(), archive.as_os_str()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::fs::write(&cp, o.stdout).unwrap();
    (d, archive, cp)
}

/// `auditlens export ARCHIVE --format F -o OUT ARGS…` into a new file in `dir`.
fn export(dir: &Path, archive: &Path, format: &str, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a: Vec<&std::ffi::OsStr> = vec![
        "export".as_ref(),
        archive.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    a.extend(args.iter().map(|s| s.as_ref() as &std::ffi::OsStr));
    let o = run(a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    out
}

fn verify_cli(file: &Path, checkpoint: Option<&Path>, json_out: bool) -> Out {
    let mut a: Vec<&std::ffi::OsStr> = vec!["verify".as_ref(), file.as_os_str()];
    if let Some(c) = checkpoint {
        a.extend(["--checkpoint".as_ref(), c.as_os_str()]);
    }
    if json_out {
        a.push("--json".as_ref());
    }
    run(a)
}

fn verify_json(file: &Path, checkpoint: Option<&Path>) -> (i32, Value) {
    let o = verify_cli(file, checkpoint, true);
    let v = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    (o.code, v)
}

fn count(v: &Value, kind: &str) -> u64 {
    v["counts"][kind].as_u64().unwrap_or(0)
}

fn has_finding(v: &Value, kind: &str, seq: u64) -> bool {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == kind && f["seq"] == seq)
}

// ---------------------------------------------------------------- forging a subset

/// What a forger holds: the genuine export's entries as JSON objects (CSV
/// rows are turned into the same shape by the caller), and the leaves of
/// every entry (public in any whole export).
struct Forgery {
    archive_id: ArchiveId,
    size: u64,
    head: Hash,
    leaves: Vec<Hash>,
}

impl Forgery {
    fn new(archive: &Path) -> Forgery {
        let a = auditlens_core::archive::Archive::open(archive).unwrap();
        let (tree, cp) =
            auditlens_core::proof::archive_tree(&a, &auditlens_core::job::Job::new()).unwrap();
        Forgery {
            archive_id: cp.archive_id,
            size: cp.size,
            head: cp.head,
            leaves: (0..tree.size()).map(|i| tree.leaf(i).unwrap()).collect(),
        }
    }

    /// Puts the edited entry's new leaf in the tree: the fake tree and its checkpoint.
    fn fake_tree(&mut self, seq: u64, leaf: Hash) -> (Tree, Checkpoint) {
        self.leaves[seq as usize - 1] = leaf;
        let tree = Tree::new(self.leaves.clone());
        let cp = Checkpoint {
            archive_id: self.archive_id,
            size: self.size,
            root: tree.root(),
            head: self.head,
            indexes: None,
        };
        (tree, cp)
    }
}

/// The leaf hash of the entry at `seq` as `file` holds it now (read back by
/// auditlens's own reader, as the forger would compute it).
fn leaf_in(file: &Path, archive_id: &ArchiveId, seq: u64) -> Hash {
    let mut src = Source::open(file).unwrap();
    while let Some(r) = src.next_record() {
        let r = r.unwrap();
        if r.chain.unwrap().seq == seq {
            return chain::leaf_hash(archive_id, seq, r.entry.canonical_record().as_bytes());
        }
    }
    panic!("no seq {seq} in {}", file.display())
}

fn proof_json(tree: &Tree, seq: u64) -> Value {
    tree.inclusion_proof(seq - 1, tree.size())
        .unwrap()
        .iter()
        .map(|h| Value::from(h.to_hex()))
        .collect()
}

/// The seq of an entry whose neighbours are not exported (it carries no
/// chain hash, so nothing but its proof can check it): the forger's pick.
fn isolated(entries: &[Value]) -> u64 {
    entries
        .iter()
        .find(|e| e.get("chain_hash").is_none())
        .expect("an entry without a chain hash")["seq"]
        .as_u64()
        .unwrap()
}

/// Writes a JSON or NDJSON export from its parts, as auditlens lays them out.
fn write_export(path: &Path, ndjson: bool, header: &Value, entries: &[Value]) {
    let end = json!({"auditlens_export_end": {"count": entries.len()}});
    let text = if ndjson {
        let mut t = format!("{}\n", json!({"auditlens_export": header}));
        for e in entries {
            t.push_str(&format!("{e}\n"));
        }
        t + &format!("{end}\n")
    } else {
        let body: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        format!(
            "{{\"auditlens_export\":{header},\n\"entries\":[\n{}\n],\n\"auditlens_export_end\":{}}}\n",
            body.join(",\n"),
            end["auditlens_export_end"]
        )
    };
    std::fs::write(path, text).unwrap();
}

/// Header and entries of a JSON or NDJSON export.
fn read_export(path: &Path) -> (Value, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().unwrap() == "ndjson" {
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (
            lines[0]["auditlens_export"].clone(),
            lines[1..lines.len() - 1].to_vec(),
        )
    } else {
        let v: Value = serde_json::from_str(&text).unwrap();
        (
            v["auditlens_export"].clone(),
            v["entries"].as_array().unwrap().clone(),
        )
    }
}

/// Forges a JSON or NDJSON subset: one entry edited, its leaf recomputed, a
/// fake tree built around it and that tree's checkpoint put in the header;
/// the entries carry proofs against the fake tree, or none at all.
fn forge_json(src: &Path, out: &Path, f: &mut Forgery, with_proofs: bool) -> u64 {
    let ndjson = out.extension().unwrap() == "ndjson";
    let (mut header, mut entries) = read_export(src);
    let seq = isolated(&entries);
    let at = entries.iter().position(|e| e["seq"] == seq).unwrap();
    entries[at]["resource_id"] = "forged-resource".into();
    // The leaf of the edited entry, as the forger computes it.
    write_export(out, ndjson, &header, &entries);
    let leaf = leaf_in(out, &f.archive_id, seq);
    entries[at]["leaf_hash"] = leaf.to_hex().into();
    let (tree, cp) = f.fake_tree(seq, leaf);
    header["checkpoint"] = cp.to_text().into();
    for e in &mut entries {
        let m = e.as_object_mut().unwrap();
        if with_proofs {
            let s = m["seq"].as_u64().unwrap();
            m.insert("inclusion".into(), proof_json(&tree, s));
        } else {
            m.remove("leaf_index");
            m.remove("inclusion");
        }
    }
    if !with_proofs {
        header.as_object_mut().unwrap().remove("proofs");
    }
    std::fs::remove_file(out).unwrap();
    write_export(out, ndjson, &header, &entries);
    seq
}

/// Forges a CSV subset: the resource_id cell of an isolated row edited, its
/// leaf hash cell recomputed, and the sidecar rewritten around a fake tree
/// (or left out).
fn forge_csv(src: &Path, out: &Path, f: &mut Forgery, with_sidecar: bool) -> u64 {
    let mut rdr = csv::Reader::from_path(src).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let mut rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let at = rows
        .iter()
        .position(|r| r[col("chain_hash")].is_empty())
        .unwrap();
    let seq: u64 = rows[at][col("seq")].parse().unwrap();
    let write = |rows: &[csv::StringRecord]| {
        let mut w = csv::Writer::from_path(out).unwrap();
        w.write_record(&headers).unwrap();
        for r in rows {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
    };
    let mut edited: Vec<String> = rows[at].iter().map(str::to_string).collect();
    edited[col("resource_id")] = "forged-resource".into();
    rows[at] = csv::StringRecord::from(edited.clone());
    write(&rows);
    let leaf = leaf_in(out, &f.archive_id, seq);
    edited[col("leaf_hash")] = leaf.to_hex();
    rows[at] = csv::StringRecord::from(edited);
    std::fs::remove_file(out).unwrap();
    write(&rows);
    if with_sidecar {
        let (tree, cp) = f.fake_tree(seq, leaf);
        let proofs: Vec<String> = rows
            .iter()
            .map(|r| {
                let s: u64 = r[col("seq")].parse().unwrap();
                json!({"seq": s, "leaf_hash": r[col("leaf_hash")], "leaf_index": s - 1,
                       "inclusion": proof_json(&tree, s)})
                .to_string()
            })
            .collect();
        let header = json!({"version": 1, "archive_id": f.archive_id.to_string(),
            "checkpoint": cp.to_text(), "proofs": "rfc6962-inclusion",
            "export": out.file_name().unwrap().to_string_lossy()});
        let text = format!(
            "{{\"auditlens_proof\":{header},\n\"entries\":[\n{}\n],\n\"auditlens_proof_end\":{{\"count\":{}}}}}\n",
            proofs.join(",\n"),
            proofs.len()
        );
        std::fs::write(auditlens_core::proof::sidecar_path(out), text).unwrap();
    }
    seq
}

/// Item 1: a forged subset with a fake tree passes on its own (its checkpoint
/// is in the file), but against the genuine checkpoint it is anchor_mismatch,
/// and no entry is proven: the edited one fails its inclusion proof, or,
/// without proofs, every entry is unproven.
#[test]
fn forged_subset_fails_against_the_genuine_checkpoint_in_every_format() {
    let (d, archive, genuine) = setup();
    for (format, ext) in [("ndjson", "ndjson"), ("json", "json"), ("csv", "csv")] {
        for with_proofs in [true, false] {
            let dir = d.path().join(format!("{format}-{with_proofs}"));
            std::fs::create_dir(&dir).unwrap();
            let src = export(
                &dir,
                &archive,
                format,
                &format!("subset.{ext}"),
                &["--action", "create"],
            );
            let out = dir.join(format!("forged.{ext}"));
            let mut f = Forgery::new(&archive);
            let seq = if format == "csv" {
                forge_csv(&src, &out, &mut f, with_proofs)
            } else {
                forge_json(&src, &out, &mut f, with_proofs)
            };
            let what = format!("{format}, proofs {with_proofs}");
            let entries = verify_json(&src, None).1["entries"].as_u64().unwrap();
            assert!(entries > 3, "{what}");

            // On its own: nothing in the file contradicts the forgery.
            let (code, v) = verify_json(&out, None);
            assert_eq!(code, 0, "{what}: {v:#}");
            assert_eq!(v["proven"], with_proofs, "{what}: {v:#}");

            // Against the genuine checkpoint: tampered, never INTACT.
            let o = verify_cli(&out, Some(&genuine), false);
            assert_eq!(o.code, 1, "{what}: {}", o.stdout);
            assert!(o.stdout.contains("TAMPERED"), "{what}: {}", o.stdout);
            // A CSV without its sidecar names no checkpoint to mismatch;
            // every other forgery carries the fake one.
            let names_checkpoint = with_proofs || format != "csv";
            let word = if names_checkpoint {
                "anchor_mismatch"
            } else {
                "unproven_entry"
            };
            assert!(o.stdout.contains(word), "{what}: {}", o.stdout);
            let (code, v) = verify_json(&out, Some(&genuine));
            assert_eq!(code, 1);
            assert_eq!(v["proven"], false, "{what}");
            assert_eq!(
                count(&v, "anchor_mismatch"),
                names_checkpoint as u64,
                "{what}: {v:#}"
            );
            if with_proofs {
                // The proofs are checked against the genuine root: the
                // edited entry is not in it.
                assert!(has_finding(&v, "inclusion_failed", seq), "{what}: {v:#}");
            } else {
                assert_eq!(count(&v, "unproven_entry"), entries, "{what}: {v:#}");
            }
            // The genuine subset, against the same checkpoint, is proven.
            let (code, v) = verify_json(&src, Some(&genuine));
            assert_eq!(code, 0, "{what}: {v:#}");
            assert_eq!(v["proven"], true, "{what}");
        }
    }
}

/// Item 1, sizes: a checkpoint given that is larger than the export's own
/// (the archive grew since) is anchor_mismatch for a subset (the format
/// carries no consistency proof), while an export of every entry proves a
/// smaller given checkpoint from its own leaves.
#[test]
fn a_checkpoint_of_another_size_is_anchor_mismatch_unless_the_leaves_link_them() {
    let (d, archive, old) = setup();
    let subset = export(
        d.path(),
        &archive,
        "ndjson",
        "subset.ndjson",
        &["--action", "create"],
    );
    let whole_then = export(d.path(), &archive, "ndjson", "whole-then.ndjson", &[]);
    // The archive grows after the old checkpoint (the same sample, 30 more).
    let more = d.path().join("more.jsonl");
    write_sample(
        &more,
        N + 30,
        SEED,
        auditlens_core::sample::PlatformFormat::Jsonl,
    );
    ingest_files(&archive, &[more]);
    let new = d.path().join("new.checkpoint");
    let o = run(["checkpoint".as_ref(), archive.as_os_str()]);
    std::fs::write(&new, o.stdout).unwrap();

    // A subset made at N entries, against the larger checkpoint: no link.
    let (code, v) = verify_json(&subset, Some(&new));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(count(&v, "anchor_mismatch"), 1, "{v:#}");
    assert_eq!(
        count(&v, "unproven_entry"),
        v["entries"].as_u64().unwrap(),
        "{v:#}"
    );
    // The same for an export of every entry made then.
    let (code, v) = verify_json(&whole_then, Some(&new));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(count(&v, "anchor_mismatch"), 1, "{v:#}");
    // An export of every entry made now proves the older checkpoint from its leaves.
    let whole_now = export(d.path(), &archive, "ndjson", "whole-now.ndjson", &[]);
    let (code, v) = verify_json(&whole_now, Some(&old));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["checkpoint"]["status"], "matches", "{v:#}");
    assert_eq!(v["checkpoint"]["added_since"], 30, "{v:#}");
    // A subset made now, against the older checkpoint: its proofs lead elsewhere.
    let subset_now = export(
        d.path(),
        &archive,
        "ndjson",
        "subset-now.ndjson",
        &["--action", "create"],
    );
    let (code, v) = verify_json(&subset_now, Some(&old));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(count(&v, "anchor_mismatch"), 1, "{v:#}");
}

// ---------------------------------------------------------------- empty exports

/// Item 3: an export whose filter matches nothing is valid in every format,
/// on its own and against the checkpoint; "truncated" is judged only for
/// unfiltered exports (it compares the last seq present with the
/// checkpoint's size), so a filtered export that stops early is intact too.
#[test]
fn empty_and_early_filtered_exports_verify_intact_in_every_format() {
    let (d, archive, genuine) = setup();
    for format in ["json", "ndjson", "csv"] {
        let dir = d.path().join(format);
        std::fs::create_dir(&dir).unwrap();
        let out = export(
            &dir,
            &archive,
            format,
            &format!("empty.{format}"),
            &["--action", "no-such-action"],
        );
        for cp in [None, Some(genuine.as_path())] {
            let o = verify_cli(&out, cp, false);
            assert_eq!(o.code, 0, "{format}: {}", o.stdout);
            assert!(
                o.stdout.contains("INTACT: 0 entries verified"),
                "{format}: {}",
                o.stdout
            );
            assert!(!o.stdout.contains("truncated"), "{format}: {}", o.stdout);
            let (code, v) = verify_json(&out, cp);
            assert_eq!(
                (code, &v["status"], &v["entries"]),
                (0, &json!("intact"), &json!(0))
            );
            assert_eq!(v["not_proven"], "empty", "{format}: {v:#}");
        }
        // The first entries only (contiguous from seq 1, short of the end).
        let first = d.path().join(format!("first-{format}"));
        std::fs::create_dir(&first).unwrap();
        let (_, all) = read_export(&export(&first, &archive, "ndjson", "all.ndjson", &[]));
        let cut = all[9]["time"].as_str().unwrap().to_string();
        let out = export(
            &first,
            &archive,
            format,
            &format!("early.{format}"),
            &["--to", &cut],
        );
        let (code, v) = verify_json(&out, Some(&genuine));
        assert_eq!(code, 0, "{format}: {v:#}");
        assert_eq!(v["proven"], true, "{format}: {v:#}");
    }
}

/// An unfiltered (whole) export emptied of its entries is still a cut tail.
#[test]
fn an_emptied_whole_export_is_truncated() {
    let (d, archive, _) = setup();
    let whole = export(d.path(), &archive, "ndjson", "whole.ndjson", &[]);
    let (header, _) = read_export(&whole);
    let out = d.path().join("emptied.ndjson");
    write_export(&out, true, &header, &[]);
    let (code, v) = verify_json(&out, None);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(count(&v, "truncated"), 1, "{v:#}");
}

// ---------------------------------------------------------------- unknown header values

/// Item 5: a `"proofs"` value, a version or a header key this version does
/// not know is refused (exit 2, with the reason), in JSON, NDJSON and the
/// CSV's proof sidecar.
#[test]
fn unknown_header_values_are_refused() {
    let (d, archive, _) = setup();
    let subset = export(
        d.path(),
        &archive,
        "ndjson",
        "subset.ndjson",
        &["--action", "create"],
    );
    let (header, entries) = read_export(&subset);
    let cases: [(&str, Value, &str); 4] = [
        (
            "proofs",
            json!("rfc6962-magic"),
            "\"proofs\" value \"rfc6962-magic\" is unknown",
        ),
        ("proofs", json!(true), "\"proofs\" value true is unknown"),
        (
            "version",
            json!(2),
            "unsupported auditlens export version 2",
        ),
        (
            "hash",
            json!("sha3-256"),
            "holds \"hash\", which this version of auditlens does not know",
        ),
    ];
    for (i, (key, value, reason)) in cases.iter().enumerate() {
        for ndjson in [true, false] {
            let mut h = header.clone();
            h[*key] = value.clone();
            let out = d
                .path()
                .join(format!("bad{i}.{}", if ndjson { "ndjson" } else { "json" }));
            write_export(&out, ndjson, &h, &entries);
            let o = verify_cli(&out, None, false);
            assert_eq!(o.code, 2, "{key}: {}", o.stdout);
            assert!(o.stderr.contains(reason), "{key}: {}", o.stderr);
        }
    }
    let csv = export(
        d.path(),
        &archive,
        "csv",
        "subset.csv",
        &["--action", "create"],
    );
    let side = auditlens_core::proof::sidecar_path(&csv);
    let text = std::fs::read_to_string(&side).unwrap();
    std::fs::write(
        &side,
        text.replace("\"rfc6962-inclusion\"", "\"rfc6962-magic\""),
    )
    .unwrap();
    let o = verify_cli(&csv, None, false);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(
        o.stderr
            .contains("\"proofs\" value \"rfc6962-magic\" is unknown"),
        "{}",
        o.stderr
    );
}

// ---------------------------------------------------------------- CSV

/// Item 8: a CSV export without its proof sidecar is not proven, and says so
/// in text and in --json; with the sidecar it is proven.
#[test]
fn csv_without_its_sidecar_says_not_proven() {
    let (d, archive, genuine) = setup();
    let csv = export(
        d.path(),
        &archive,
        "csv",
        "subset.csv",
        &["--action", "create"],
    );
    let (code, v) = verify_json(&csv, None);
    assert_eq!((code, &v["proven"]), (0, &json!(true)), "{v:#}");
    std::fs::rename(
        auditlens_core::proof::sidecar_path(&csv),
        d.path().join("away.json"),
    )
    .unwrap();
    let o = verify_cli(&csv, None, false);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(
        o.stdout.contains("INTACT as far as can be told"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("NOT PROVEN"), "{}", o.stdout);
    assert!(o.stdout.contains("proof sidecar"), "{}", o.stdout);
    let (code, v) = verify_json(&csv, None);
    assert_eq!(code, 0);
    assert_eq!(v["proven"], false, "{v:#}");
    assert_eq!(v["not_proven"], "no_sidecar", "{v:#}");
    assert!(
        v["verdict"]["sentence"]
            .as_str()
            .unwrap()
            .contains("NOT PROVEN")
    );
    // Against a checkpoint, nothing in it can be proven: not intact.
    let (code, v) = verify_json(&csv, Some(&genuine));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(count(&v, "unproven_entry"), v["entries"].as_u64().unwrap());
}

/// Item 8: a cell auditlens wrote with the `'` guard, found without it, is
/// `unguarded_cell` at its seq, naming the column (the hashes cannot show
/// it: the guard is not part of the value).
#[test]
fn a_cell_that_lost_its_guard_is_unguarded_cell() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.jsonl");
    let rows = [
        json!({"id": "e1", "createdAt": "2025-01-01T00:00:00.000Z", "type": "USER", "userId": "u1",
               "resourceType": "apiKey", "resourceId": "k1", "action": "create"}),
        json!({"id": "e2", "createdAt": "2025-01-01T00:00:01.000Z", "type": "USER", "userId": "u1",
               "resourceType": "apiKey", "resourceId": "k2", "action": "create",
               "resourceName": "=HYPERLINK(\"http://x\")", "userAgent": "-x"}),
    ];
    let text: Vec<String> = rows.iter().map(Value::to_string).collect();
    std::fs::write(&input, text.join("\n") + "\n").unwrap();
    let archive = d.path().join("a.sqlite");
    ingest_files(&archive, &[input]);
    let csv = export(d.path(), &archive, "csv", "out.csv", &[]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert_eq!(verify_cli(&csv, None, false).code, 0);
    std::fs::write(&csv, text.replace("'=HYPERLINK", "=HYPERLINK")).unwrap();
    let o = verify_cli(&csv, None, false);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stdout
            .contains("unguarded_cell at seq 2 (entry id e2): the resource_name cell"),
        "{}",
        o.stdout
    );
    let (_, v) = verify_json(&csv, None);
    assert_eq!(count(&v, "unguarded_cell"), 1, "{v:#}");
    std::fs::write(&csv, text.replace(",'-x", ",-x")).unwrap();
    let (code, v) = verify_json(&csv, None);
    assert_eq!(code, 1);
    assert!(has_finding(&v, "unguarded_cell", 2), "{v:#}");
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("user_agent"),
        "{v:#}"
    );
}

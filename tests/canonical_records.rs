//! Records with correct hashes that are not what ingest seals (issue 12,
//! item 2), and the record size limit that every export can carry (item 4).
//!
//! Each non-canonical form is appended to a sealed archive by SQL, with a
//! correct leaf and chain hash, as someone who recomputes the hashes would:
//! `verify` must find it as `non_canonical_record` at its seq and say what is
//! wrong, `checkpoint` must refuse to seal the archive, and `ingest` must
//! refuse to append after it. Then a record of exactly `MAX_RECORD_BYTES`
//! goes through ingest, every export format and verify; one byte more is
//! refused at ingest, and found by verify when stored by SQL.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use auditlens_core::archive::{Archive, IndexColumns};
use auditlens_core::chain::{self, Hash};
use auditlens_core::ingest::{IngestError, IngestOptions, ingest};
use auditlens_core::job::Job;
use auditlens_core::json::{Json, MAX_RECORD_BYTES, MAX_RECORD_DEPTH};
use auditlens_core::model::{ActorType, Entry};
use auditlens_core::time::Timestamp;
use auditlens_core::verify::{FindingKind as K, Status};
use common::*;

/// Entries in the sealed archive the forms are appended to.
const N: u64 = 20;

/// A new entry (after every sample entry in time) whose canonical record holds
/// what each form rewrites: a '/', an 'é', a control character, an API key's
/// creation time and a state.
fn new_entry(id: &str) -> Entry {
    let mut e = Entry::new(
        id,
        Timestamp::parse("2026-03-01T10:00:00.000Z").unwrap(),
        "prompt",
        "prompt-1",
        "update",
    );
    e.actor.actor_type = Some(ActorType::ApiKey);
    e.actor.api_key_id = Some("key-1".into());
    e.actor.api_key_created_at = Some(Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap());
    e.user_agent = Some("curl/8.0 café".into());
    e.after = Some(
        auditlens_core::json::parse("{\"a\":\"lone\",\"note\":\"x\\u001fy\"}".as_bytes()).unwrap(),
    );
    e
}

/// Appends `record` at seq N + 1 with a correct leaf and chain hash, its index
/// columns taken from `twin` (the entry it reads as), and puts the triggers back.
fn append_with_hashes(path: &Path, record: &[u8], twin: &Entry) -> u64 {
    let id = Archive::open(path).unwrap().id();
    let conn = open_for_tampering(path);
    let seq: u64 = conn
        .query_row("SELECT max(seq) FROM entries", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
        + 1;
    let prev = Hash::from_slice(&read_row(&conn, seq - 1).chain).unwrap();
    let leaf = chain::leaf_hash(&id, seq, record);
    let link = chain::chain_link(&prev, &leaf);
    insert_row_with_columns(
        &conn,
        seq,
        &record,
        &leaf.0[..],
        &link.0[..],
        &IndexColumns::from_entry(twin),
    );
    restore_triggers(&conn);
    seq
}

/// A rewrite of the canonical record into a non-canonical form.
type Rewrite = Box<dyn Fn(&str) -> String>;

/// Each form: a name, the rewrite of the canonical record, and what the finding must say.
fn forms() -> Vec<(&'static str, Rewrite, &'static str)> {
    let time = "2026-03-01T10:00:00.000Z";
    let retime = |to: &'static str| move |r: &str| r.replace(time, to);
    let deep = |r: &str| {
        // The record is one level, `after` the rest: 127 in all.
        let levels = MAX_RECORD_DEPTH;
        let nested = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let at = r.find("\"after\":").unwrap() + "\"after\":".len();
        let end = at + r[at..].find('}').unwrap() + 1;
        format!("{}{nested}{}", &r[..at], &r[end..])
    };
    vec![
        (
            "escaped slash",
            Box::new(|r: &str| r.replace("curl/", "curl\\/")),
            "escaped '/' as \\/",
        ),
        (
            "escaped é",
            Box::new(|r: &str| r.replace('é', "\\u00e9")),
            "U+00E9 escaped as \\u00e9",
        ),
        (
            "upper-case hex",
            Box::new(|r: &str| r.replace("\\u001f", "\\u001F")),
            "upper-case hex",
        ),
        (
            "lone surrogate",
            Box::new(|r: &str| r.replace("\"lone\"", "\"\\ud800\"")),
            "lone surrogate \\ud800",
        ),
        (
            "empty extra",
            Box::new(|r: &str| {
                let at = r.rfind("\"id\":").unwrap();
                format!("{}\"extra\":{{}},{}", &r[..at], &r[at..])
            }),
            "\"extra\" is an empty object",
        ),
        ("127 levels", Box::new(deep), "nested more than 126 levels"),
        (
            "time without fraction",
            Box::new(retime("2026-03-01T10:00:00Z")),
            "\"time\" \"2026-03-01T10:00:00Z\" is not a canonical time",
        ),
        (
            "time with offset",
            Box::new(retime("2026-03-01T11:00:00.000+01:00")),
            "is not a canonical time (canonical: 2026-03-01T10:00:00.000Z)",
        ),
        (
            "six fraction digits",
            Box::new(retime("2026-03-01T10:00:00.000000Z")),
            "is not a canonical time",
        ),
        (
            "lower-case t",
            Box::new(retime("2026-03-01t10:00:00.000Z")),
            "is not a canonical time",
        ),
        (
            "lower-case z",
            Box::new(retime("2026-03-01T10:00:00.000z")),
            "is not a canonical time",
        ),
        (
            "space for T",
            Box::new(retime("2026-03-01 10:00:00.000Z")),
            "is not a canonical time",
        ),
        (
            "key creation time",
            Box::new(|r: &str| r.replace("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00Z")),
            "\"actor.api_key_created_at\"",
        ),
        (
            "whitespace",
            Box::new(|r: &str| r.replacen(":", ": ", 1)),
            "whitespace outside a string",
        ),
    ]
}

fn p(path: &Path) -> &OsStr {
    path.as_os_str()
}

#[test]
fn each_non_canonical_form_is_found_and_nothing_is_sealed_or_appended_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = build_archive(dir.path(), "base", N);
    let twin = new_entry("cnew00000000000000000001");
    let canonical = twin.canonical_record();
    // Another export to append afterwards.
    let more = dir.path().join("more.jsonl");
    write_platform_jsonl(&more, &[new_entry("cnew00000000000000000002")]);

    // The canonical record itself, appended the same way, is intact: the
    // forms below differ from it only in how they are written.
    let path = copy_to(&base, dir.path(), "canonical.sqlite");
    append_with_hashes(&path, canonical.as_bytes(), &twin);
    let r = verify(&path, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);

    for (k, (name, rewrite, says)) in forms().into_iter().enumerate() {
        let record = rewrite(&canonical);
        assert_ne!(record, canonical, "{name}: the rewrite changed nothing");
        let path = copy_to(&base, dir.path(), &format!("form{k}.sqlite"));
        let seq = append_with_hashes(&path, record.as_bytes(), &twin);

        let r = verify(&path, None);
        assert_eq!(
            problems(&r),
            vec![(K::NonCanonicalRecord, Some(seq))],
            "{name}"
        );
        assert!(warnings(&r).is_empty(), "{name}: {:?}", warnings(&r));
        let f = find(&r, K::NonCanonicalRecord)[0];
        assert!(f.message.contains(says), "{name}: {}", f.message);
        if name != "whitespace" {
            // (Whitespace keeps the record from being read as an entry at all.)
            assert_eq!(f.entry_id.as_deref(), Some(twin.id.as_str()), "{name}");
        }

        let o = run([OsStr::new("verify"), p(&path)]);
        assert_eq!(o.code, 1, "{name}: {}", o.stdout);
        assert!(
            o.stdout
                .contains(&format!("FINDING non_canonical_record at seq {seq}")),
            "{name}: {}",
            o.stdout
        );

        let o = run([OsStr::new("checkpoint"), p(&path)]);
        assert_eq!(o.code, 1, "{name}: checkpoint sealed it: {}", o.stdout);
        assert!(o.stdout.is_empty(), "{name}: {}", o.stdout);
        assert!(
            o.stderr.contains("no checkpoint written"),
            "{name}: {}",
            o.stderr
        );

        let o = run([
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            p(&path),
            p(&more),
        ]);
        assert_eq!(o.code, 2, "{name}: ingest appended after it: {}", o.stdout);
        assert!(
            o.stderr
                .contains(&format!("last entry (seq {seq}) is not a canonical record")),
            "{name}: {}",
            o.stderr
        );
        assert_eq!(
            Archive::open(&path).unwrap().count().unwrap(),
            seq,
            "{name}"
        );
    }
}

/// An entry whose canonical record is exactly `len` bytes: its `after` state is a long string.
fn entry_of_size(id: &str, len: usize) -> Entry {
    let mut e = new_entry(id);
    e.after = Some(Json::String(String::new()));
    let bare = e.canonical_record().len();
    e.after = Some(Json::String("a".repeat(len - bare)));
    e
}

#[test]
fn a_record_at_the_limit_round_trips_and_one_byte_more_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let archive = build_archive(d, "limit", 3);
    let big = entry_of_size("cbig00000000000000000001", MAX_RECORD_BYTES);
    let record = big.canonical_record();
    assert_eq!(record.len(), MAX_RECORD_BYTES);
    let input = d.join("big.jsonl");
    write_platform_jsonl(&input, std::slice::from_ref(&big));
    drop(big);
    let r = ingest_files(&archive, &[input]);
    assert_eq!(r.added, 1);
    assert_eq!(r.last_seq, Some(4));

    let a = |s: &str| OsStr::new(s).to_owned();
    // Whole exports (no proofs per entry) and a filtered one (an inclusion
    // proof per entry: the longest framing), in every format.
    for (name, filter) in [
        ("whole", vec![]),
        ("subset", vec![a("--actor"), a("key-1")]),
    ] {
        for format in ["json", "ndjson", "csv"] {
            let out = d.join(format!("{name}.{format}"));
            let mut args = vec![a("export"), a("--format"), a(format), a("--output")];
            args.push(out.clone().into_os_string());
            args.extend(filter.iter().cloned());
            args.push(archive.clone().into_os_string());
            let o = run(&args);
            assert_eq!(o.code, 0, "{name} {format}: {}", o.stderr);
            let o = run([OsStr::new("verify"), p(&out)]);
            assert_eq!(o.code, 0, "{name} {format}: {}{}", o.stdout, o.stderr);
            assert!(o.stdout.contains("INTACT"), "{name} {format}: {}", o.stdout);
            std::fs::remove_file(&out).unwrap();
        }
    }
    let ecs = d.join("events.ndjson");
    let o = run([
        OsStr::new("export"),
        OsStr::new("--format"),
        OsStr::new("ecs"),
        OsStr::new("--output"),
        p(&ecs),
        p(&archive),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(&ecs).unwrap();
    assert_eq!(text.lines().count(), 4);
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every ECS event is JSON");
    }
    drop(text);
    let o = run([OsStr::new("verify"), p(&archive)]);
    assert_eq!(o.code, 0, "{}", o.stdout);

    // One byte more: refused at ingest, naming the entry and the limit; nothing stored.
    let over = entry_of_size("cbig00000000000000000002", MAX_RECORD_BYTES + 1);
    let input = d.join("over.jsonl");
    write_platform_jsonl(&input, &[over]);
    let e = ingest(
        &archive,
        std::slice::from_ref(&input),
        &IngestOptions::default(),
        &Job::new(),
    )
    .expect_err("a record over the limit is refused");
    let IngestError::Record(e) = e else {
        panic!("{e}")
    };
    assert!(
        e.message.contains("cbig00000000000000000002"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(&MAX_RECORD_BYTES.to_string()),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(&(MAX_RECORD_BYTES + 1).to_string()),
        "{}",
        e.message
    );
    assert_eq!(Archive::open(&archive).unwrap().count().unwrap(), 4);
    // With --skip-invalid it goes to the rejects file, whole, with its reason.
    let rejects = d.join("over.rejects.jsonl");
    let opts = IngestOptions {
        skip_invalid: true,
        rejects_path: Some(rejects.clone()),
        ..Default::default()
    };
    let r = ingest(&archive, &[input], &opts, &Job::new()).unwrap();
    assert_eq!((r.added, r.rejected), (0, 1));
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(
        line["raw"].as_str().map(str::len),
        Some(MAX_RECORD_BYTES + 1)
    );

    // Stored by SQL with correct hashes, it is found by verify.
    let stored = copy_to(&archive, d, "over.sqlite");
    let twin = entry_of_size("cbig00000000000000000003", MAX_RECORD_BYTES + 1);
    let seq = append_with_hashes(&stored, twin.canonical_record().as_bytes(), &twin);
    let r = verify(&stored, None);
    assert_eq!(problems(&r), vec![(K::NonCanonicalRecord, Some(seq))]);
    let f = find(&r, K::NonCanonicalRecord)[0];
    assert!(
        f.message
            .contains(&format!("more than the {MAX_RECORD_BYTES}")),
        "{}",
        f.message
    );
}

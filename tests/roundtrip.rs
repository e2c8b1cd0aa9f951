//! Round trip: platform export → archive → auditlens export → ingest into a
//! new archive gives the same entries, in the same order, in every format.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use auditlens_core::archive::Archive;
use auditlens_core::export::{ExportFormat, export};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::json::Json;
use auditlens_core::model::{Actor, ActorType, Entry};
use auditlens_core::sample::{PlatformFormat, Sample};
use auditlens_core::source::{Format, detect};
use auditlens_core::time::Timestamp;
use common::*;

const N: u64 = 300;
const EXPORT_FORMATS: [ExportFormat; 3] =
    [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv];

fn export_all(archive: &Path, out: &Path, format: ExportFormat) -> u64 {
    let a = Archive::open(archive).unwrap();
    export(&a, &Filter::default(), format, out, &Job::new())
        .unwrap()
        .entries
}

/// The sample's entries in the order ingest stores them (time, then id).
fn sample_in_archive_order(n: u64, seed: u64) -> Vec<Entry> {
    let s = Sample::new(n, seed);
    let mut v: Vec<Entry> = (0..n).map(|i| s.entry(i)).collect();
    v.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    v
}

/// Exports `archive` in every format, ingests each export into a new archive
/// and checks that the entries are identical and in the same order.
fn assert_exports_round_trip(dir: &Path, archive: &Path, tag: &str) {
    let original = entries_of(archive);
    for format in EXPORT_FORMATS {
        let out = dir.join(format!("{tag}.export.{}", format.extension()));
        assert_eq!(export_all(archive, &out, format), original.len() as u64);
        let expected_format = match format {
            ExportFormat::Json => Format::ExportJson,
            ExportFormat::Ndjson => Format::ExportNdjson,
            ExportFormat::Csv => Format::ExportCsv,
            // Not read back by ingest; its round trip is tests/warehouse.rs.
            ExportFormat::Parquet => unreachable!("not in EXPORT_FORMATS"),
        };
        assert_eq!(detect(&out).unwrap(), expected_format);
        let again = dir.join(format!("{tag}.again.{}.sqlite", format.extension()));
        let r = ingest_files(&again, std::slice::from_ref(&out));
        assert_eq!(r.added, original.len() as u64, "{format:?}");
        assert_eq!(r.conflicts.len(), 0, "{format:?}");
        let back = entries_of(&again);
        assert_eq!(back.len(), original.len(), "{format:?}");
        for (i, (a, b)) in original.iter().zip(&back).enumerate() {
            assert_eq!(a, b, "{tag} {format:?}: entry at seq {} differs", i + 1);
        }
        // Canonical records are byte-identical too.
        let (x, y) = (
            Archive::open(archive).unwrap(),
            Archive::open(&again).unwrap(),
        );
        let rec = |a: &Archive, seq: u64| -> String {
            let mut record = None;
            a.for_each_record_at(&[seq], |_, r| record = Some(r.to_vec()))
                .unwrap();
            String::from_utf8(record.expect("stored")).unwrap()
        };
        for seq in 1..=original.len() as u64 {
            assert_eq!(rec(&x, seq), rec(&y, seq), "{tag} {format:?} seq {seq}");
        }
        // Ingesting the export back into its own archive adds nothing.
        let before = std::fs::read(archive).unwrap();
        let copy = dir.join(format!("{tag}.self.{}.sqlite", format.extension()));
        std::fs::write(&copy, &before).unwrap();
        let r = ingest_files(&copy, &[out]);
        assert_eq!(
            (r.added, r.duplicates),
            (0, original.len() as u64),
            "{format:?}"
        );
    }
}

fn platform_round_trip(format: PlatformFormat, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(name);
    write_sample(&src, N, SEED, format);
    let archive = dir.path().join("a.sqlite");
    let r = ingest_files(&archive, &[src]);
    assert_eq!(r.added, N);
    // Platform export → archive loses nothing.
    let stored = entries_of(&archive);
    let expected = sample_in_archive_order(N, SEED);
    assert_eq!(stored.len(), expected.len());
    for (i, (a, b)) in expected.iter().zip(&stored).enumerate() {
        assert_eq!(
            a,
            b,
            "{name}: seq {} differs from the generated entry",
            i + 1
        );
    }
    assert!(problems(&verify(&archive, None)).is_empty());
    assert_exports_round_trip(dir.path(), &archive, name);
}

#[test]
fn platform_json_round_trip() {
    platform_round_trip(PlatformFormat::Json, "platform.json");
}

#[test]
fn platform_jsonl_round_trip() {
    platform_round_trip(PlatformFormat::Jsonl, "platform.jsonl");
}

#[test]
fn platform_csv_round_trip() {
    platform_round_trip(PlatformFormat::Csv, "platform.csv");
}

#[test]
fn the_three_platform_formats_give_the_same_archive_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (f, name) in [
        (PlatformFormat::Json, "s.json"),
        (PlatformFormat::Jsonl, "s.jsonl"),
        (PlatformFormat::Csv, "s.csv"),
    ] {
        let src = dir.path().join(name);
        write_sample(&src, 120, SEED + 1, f);
        let archive = dir.path().join(format!("{name}.sqlite"));
        ingest_files(&archive, &[src]);
        all.push(entries_of(&archive));
    }
    assert_eq!(all[0], all[1]);
    assert_eq!(all[0], all[2]);
}

// ---------------------------------------------------------------- hard cases

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn num(v: &str) -> Json {
    Json::Number(v.to_string())
}

fn obj(pairs: &[(&str, Json)]) -> Json {
    Json::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// Entries that stress every field: all optional fields set, unicode, exact
/// big numbers, non-object states, and text that a spreadsheet would run.
fn hard_entries() -> Vec<Entry> {
    let t0 = Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap();
    let mut all_fields = Entry::new(
        "cfull00000000000000000001",
        t0,
        "promptProtectedLabel",
        "lbl-ü-1",
        "create",
    );
    all_fields.updated_at = Some(Timestamp(t0.0 + 1));
    all_fields.actor = Actor {
        actor_type: Some(ActorType::User),
        user_id: s("cuser000000000000000000001"),
        email: s("zoë.müller@例え.example"),
        org_role: s("OWNER"),
        project_role: s("ADMIN"),
        auth_method: s("sso"),
        api_key_id: s("ckey0000000000000000000001"),
        api_key_name: s("ключ 🔑"),
        api_key_scope: s("PROJECT"),
        api_key_scope_id: s("cproj00000000000000000001"),
        api_key_created_at: Some(Timestamp(t0.0 - 86_400_000)),
        api_key_created_by: s("cuser000000000000000000002"),
    };
    all_fields.resource_name = s("本番 production ✓");
    all_fields.org_id = s("corg000000000000000000001");
    all_fields.org_name = s("Ärger GmbH, \"quoted\"");
    all_fields.project_id = s("cproj00000000000000000001");
    all_fields.project_name = s("line one\nline two");
    all_fields.ip_address = s("2001:db8::1");
    all_fields.user_agent = s("Mozilla/5.0 (X11; Linux x86_64) 😀");
    all_fields.before = Some(Json::Bool(true));
    all_fields.after = Some(obj(&[
        ("big", num("12345678901234567890123")),
        ("neg", num("-0.000000000000000000001")),
        ("exp", num("1E+400")),
        (
            "text",
            Json::String("tab\there \u{0} nul and \u{1F600}".into()),
        ),
        (
            "list",
            Json::Array(vec![Json::Null, Json::Bool(false), num("0")]),
        ),
    ]));
    all_fields.extra = [("newPlatformField".to_string(), Json::String("kept".into()))]
        .into_iter()
        .collect::<BTreeMap<_, _>>();

    let mut states = Entry::new(
        "cstate0000000000000000002",
        Timestamp(t0.0 + 1000),
        "prompt",
        "p-2",
        "setLabel",
    );
    states.actor.actor_type = Some(ActorType::User);
    states.actor.user_id = s("cuser000000000000000000001");
    states.before = Some(Json::String("production".into()));
    states.after = Some(Json::Array(vec![
        Json::String("a".into()),
        Json::String("b".into()),
    ]));
    states.org_id = s("corg000000000000000000001");

    let mut formulas = Entry::new(
        "cformula000000000000000003",
        Timestamp(t0.0 + 2000),
        "+newType",
        "=1+1",
        "-delete",
    );
    formulas.actor = Actor {
        actor_type: Some(ActorType::ApiKey),
        api_key_id: s("@key"),
        api_key_name: s("=HYPERLINK(\"http://evil.example\",\"click\")"),
        api_key_scope: s("ORGANIZATION"),
        api_key_scope_id: s("-corg"),
        ..Actor::default()
    };
    formulas.resource_name = s("@SUM(A1:A9)");
    formulas.org_id = s("+corg");
    formulas.org_name = s("\tTabbed");
    formulas.project_name = s("\rCarriage");
    formulas.ip_address = s("'already quoted");
    formulas.user_agent = s("=cmd|' /C calc'!A0");
    formulas.before = Some(Json::String("=1+2".into()));
    formulas.after = Some(num("-5"));

    let mut empties = Entry::new(
        "cempty0000000000000000004",
        Timestamp(t0.0 + 3000),
        "apiKey",
        "",
        "delete",
    );
    empties.actor.actor_type = Some(ActorType::Other("SERVICE_ACCOUNT".into()));
    empties.resource_name = s("");
    empties.before = Some(Json::Null);
    empties.after = Some(obj(&[]));
    vec![all_fields, states, formulas, empties]
}

#[test]
fn hard_entries_survive_every_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let entries = hard_entries();
    let src = dir.path().join("hard.jsonl");
    write_platform_jsonl(&src, &entries);
    let archive = dir.path().join("hard.sqlite");
    let r = ingest_files(&archive, &[src]);
    assert_eq!(r.added, entries.len() as u64);
    let stored = entries_of(&archive);
    for (a, b) in entries.iter().zip(&stored) {
        assert_eq!(a, b);
    }
    assert_eq!(stored.len(), entries.len());
    // The big integer is kept digit for digit in the stored record.
    let conn = Archive::open(&archive).unwrap();
    let mut rec = String::new();
    conn.for_each_record_at(&[1], |_, r| rec = String::from_utf8(r.to_vec()).unwrap())
        .unwrap();
    assert!(rec.contains("12345678901234567890123"), "{rec}");
    assert!(rec.contains("1E+400"), "{rec}");
    drop(conn);
    assert!(problems(&verify(&archive, None)).is_empty());
    assert_exports_round_trip(dir.path(), &archive, "hard");
}

#[test]
fn csv_export_cells_are_formula_safe_and_decode_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let entries = hard_entries();
    let src = dir.path().join("hard.jsonl");
    write_platform_jsonl(&src, &entries);
    let archive = dir.path().join("hard.sqlite");
    ingest_files(&archive, &[src]);
    let out: PathBuf = dir.path().join("hard.csv");
    export_all(&archive, &out, ExportFormat::Csv);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&out)
        .unwrap();
    let mut rows = 0;
    let mut apostrophes = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        rows += 1;
        for cell in rec.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "cell {cell:?} would be run by a spreadsheet"
            );
            if cell.starts_with('\'') {
                apostrophes += 1;
            }
        }
    }
    assert_eq!(rows, 1 + entries.len());
    assert!(
        apostrophes >= 12,
        "the dangerous cells were defused ({apostrophes})"
    );
    // The same check on a realistic export (negative numbers in states, etc.).
    let big = build_archive(dir.path(), "sample", N);
    let out = dir.path().join("sample.csv");
    export_all(&big, &out, ExportFormat::Csv);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&out)
        .unwrap();
    for rec in rdr.records() {
        for cell in rec.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }
}

#[test]
fn json_export_has_before_and_after_as_real_json() {
    let dir = tempfile::tempdir().unwrap();
    let entries = hard_entries();
    let src = dir.path().join("hard.jsonl");
    write_platform_jsonl(&src, &entries);
    let archive = dir.path().join("hard.sqlite");
    ingest_files(&archive, &[src]);
    let out = dir.path().join("hard.json");
    export_all(&archive, &out, ExportFormat::Json);
    let text = std::fs::read_to_string(&out).unwrap();
    // Parsed with auditlens's strict, exact parser (serde_json cannot hold 1E+400).
    let v =
        auditlens_core::json::parse(text.as_bytes()).expect("the export is one valid JSON text");
    let Some(Json::Array(list)) = v.get("entries") else {
        panic!("no entries array");
    };
    assert_eq!(list.len(), entries.len());
    assert_eq!(list[0].get("before"), Some(&Json::Bool(true)));
    assert_eq!(
        list[1].get("before"),
        Some(&Json::String("production".into()))
    );
    assert_eq!(
        list[1].get("after"),
        Some(&Json::Array(vec![
            Json::String("a".into()),
            Json::String("b".into())
        ]))
    );
    assert_eq!(
        list[0].get("after").and_then(|a| a.get("big")),
        Some(&num("12345678901234567890123"))
    );
    assert!(
        text.contains("\"big\":12345678901234567890123"),
        "the big number is written exactly"
    );
    for (i, e) in list.iter().enumerate() {
        assert_eq!(e.get("seq"), Some(&num(&(i + 1).to_string())));
        assert_eq!(e.get("leaf_hash").and_then(Json::as_str).unwrap().len(), 64);
        assert_eq!(
            e.get("chain_hash").and_then(Json::as_str).unwrap().len(),
            64
        );
    }
    assert_eq!(
        v.get("auditlens_export_end").and_then(|x| x.get("count")),
        Some(&num(&entries.len().to_string()))
    );
}

//! The Parquet export and the warehouse SQL of docs/WAREHOUSE.md.
//!
//! The round trip reads the Parquet back with the `parquet` crate and compares
//! every column with the archive's entries. The SQL tests run the DuckDB
//! queries exactly as the document prints them (they are cut out of it), on
//! an intact export and on copies edited with DuckDB itself: a changed
//! record, a changed hash, a removed row, a file cut short, another
//! archive's checkpoint. They need Python's `duckdb` package (`.ci/run`
//! installs it): without it they are skipped with a message, except under
//! CI=true, where they fail.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::record::Field;
use auditlens_core::json::Json;
use auditlens_core::model::Entry;
use common::{build_archive, entries_of, run};

/// Exports `archive` as Parquet to `DIR/NAME` with `extra` CLI arguments.
fn export(archive: &Path, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec![
        "export".to_string(),
        archive.display().to_string(),
        "--format".into(),
        "parquet".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

/// The archive's checkpoint text, written to `DIR/NAME`.
fn checkpoint(archive: &Path, dir: &Path, name: &str) -> PathBuf {
    let r = run(["checkpoint".as_ref(), archive.as_os_str()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = dir.join(name);
    std::fs::write(&path, &r.stdout).unwrap();
    path
}

/// An archive of `n` sample entries and one more whose source row carried a
/// field the model does not know (kept in `extra`): the sample has none.
fn archive_with_extra(dir: &Path, n: u64) -> PathBuf {
    let jsonl = dir.join("extra.jsonl");
    common::write_sample(
        &jsonl,
        n,
        common::SEED,
        auditlens_core::sample::PlatformFormat::Jsonl,
    );
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let last = text.lines().last().unwrap();
    let mut row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(last).unwrap();
    row.insert("id".into(), "extra-entry-1".into());
    row.insert(
        "ticketRef".into(),
        serde_json::json!({"system": "jira", "key": "SEC-12"}),
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&jsonl)
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        format!("{}\n", serde_json::Value::Object(row)).as_bytes(),
    )
    .unwrap();
    let archive = dir.join("extra.sqlite");
    assert_eq!(common::ingest_files(&archive, &[jsonl]).added, n + 1);
    archive
}

/// Every row of a Parquet file: column name to value, in file order.
fn rows(path: &Path) -> Vec<BTreeMap<String, Field>> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect()
}

fn text(v: Option<&str>) -> Field {
    v.map_or(Field::Null, |s| Field::Str(s.to_string()))
}

fn json(v: Option<&Json>) -> Field {
    text(v.map(Json::to_canonical).as_deref())
}

/// The typed columns an entry should have (the CSV export's columns but the
/// chain fields).
fn expected_columns(e: &Entry) -> Vec<(&'static str, Field)> {
    let a = &e.actor;
    let ms = |t: Option<auditlens_core::time::Timestamp>| {
        t.map_or(Field::Null, |t| Field::TimestampMillis(t.0))
    };
    let extra = (!e.extra.is_empty()).then(|| Json::Object(e.extra.clone()));
    vec![
        ("id", text(Some(&e.id))),
        ("time", Field::TimestampMillis(e.time.0)),
        ("updated_at", ms(e.updated_at)),
        (
            "actor_type",
            text(a.actor_type.as_ref().map(|t| t.as_str())),
        ),
        ("user_id", text(a.user_id.as_deref())),
        ("email", text(a.email.as_deref())),
        ("org_role", text(a.org_role.as_deref())),
        ("project_role", text(a.project_role.as_deref())),
        ("auth_method", text(a.auth_method.as_deref())),
        ("api_key_id", text(a.api_key_id.as_deref())),
        ("api_key_name", text(a.api_key_name.as_deref())),
        ("api_key_scope", text(a.api_key_scope.as_deref())),
        ("api_key_scope_id", text(a.api_key_scope_id.as_deref())),
        ("api_key_created_at", ms(a.api_key_created_at)),
        ("api_key_created_by", text(a.api_key_created_by.as_deref())),
        ("org_id", text(e.org_id.as_deref())),
        ("org_name", text(e.org_name.as_deref())),
        ("project_id", text(e.project_id.as_deref())),
        ("project_name", text(e.project_name.as_deref())),
        ("resource_type", text(Some(&e.resource_type))),
        ("resource_id", text(Some(&e.resource_id))),
        ("resource_name", text(e.resource_name.as_deref())),
        ("action", text(Some(&e.action))),
        ("before", json(e.before.as_ref())),
        ("after", json(e.after.as_ref())),
        ("ip_address", text(e.ip_address.as_deref())),
        ("user_agent", text(e.user_agent.as_deref())),
        ("extra", json(extra.as_ref())),
        ("record", text(Some(&e.canonical_record()))),
    ]
}

#[test]
fn every_field_of_every_entry_reads_back_from_the_parquet_export() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_with_extra(dir.path(), 400);
    let out = export(&archive, dir.path(), "a.parquet", &[]);
    let entries = entries_of(&archive);
    let rows = rows(&out);
    assert_eq!(rows.len(), entries.len());
    let id = auditlens_core::archive::Archive::open(&archive)
        .unwrap()
        .id()
        .to_string();
    let conn = rusqlite::Connection::open(&archive).unwrap();
    let mut present: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (row, e)) in rows.iter().zip(&entries).enumerate() {
        let seq = i as u64 + 1;
        let stored = common::read_row(&conn, seq);
        assert_eq!(row["seq"], Field::Long(seq as i64));
        assert_eq!(row["archive_id"], Field::Str(id.clone()));
        assert_eq!(
            row["record"],
            Field::Str(stored.record.clone()),
            "seq {seq}"
        );
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(row["leaf_hash"], Field::Str(hex(&stored.leaf)));
        // A whole export: every chain hash is there, and no proofs.
        assert_eq!(row["chain_hash"], Field::Str(hex(&stored.chain)));
        assert_eq!(row["proof"], Field::Null);
        for (name, want) in expected_columns(e) {
            assert_eq!(row[name], want, "seq {seq}, column {name}");
            if want != Field::Null {
                *present.entry(name).or_default() += 1;
            }
        }
    }
    // The sample exercises every column, so each was compared with a value at least once.
    for (name, _) in expected_columns(&entries[0]) {
        assert!(
            present.contains_key(name),
            "no entry has {name}: the round trip did not test it"
        );
    }
    // Every row and column, no more: the schema is the CSV export's columns plus record and proof.
    let mut names: Vec<&str> = auditlens_core::source::EXPORT_CSV_COLUMNS.to_vec();
    names.extend(["record", "proof"]);
    assert_eq!(rows[0].keys().count(), names.len());
    for n in names {
        assert!(rows[0].contains_key(n), "column {n} missing");
    }
}

#[test]
fn the_export_names_its_archive_and_checkpoint_in_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "a", 30);
    let out = export(&archive, dir.path(), "a.parquet", &[]);
    let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let kv: BTreeMap<String, String> = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .expect("key-value metadata")
        .iter()
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect();
    // An export of every entry carries the log's checkpoint (no index roots:
    // it needs no range proof); `checkpoint` adds the five index lines after it.
    let cp = run(["checkpoint".as_ref(), archive.as_os_str()]).stdout;
    let log_part: String = cp.lines().take(4).map(|l| format!("{l}\n")).collect();
    assert!(cp.contains("\nindex time "), "{cp}");
    assert_eq!(kv["auditlens.checkpoint"], log_part);
    let id = auditlens_core::archive::Archive::open(&archive)
        .unwrap()
        .id()
        .to_string();
    assert_eq!(kv["auditlens.archive_id"], id);
    let header: serde_json::Value = serde_json::from_str(&kv["auditlens_export"]).unwrap();
    assert_eq!(header["archive_id"], id.as_str());
    assert_eq!(header["checkpoint"], log_part.as_str());
    assert_eq!(header["proofs"], auditlens_core::proof::PROOFS_WHOLE);
}

#[test]
fn a_filtered_export_holds_the_matching_entries_with_their_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "a", 200);
    let entries = entries_of(&archive);
    let action = entries[10].action.clone();
    let out = export(&archive, dir.path(), "f.parquet", &["--action", &action]);
    let rows = rows(&out);
    let want: Vec<i64> = (1..=entries.len() as i64)
        .filter(|s| entries[*s as usize - 1].action == action)
        .collect();
    let got: Vec<i64> = rows
        .iter()
        .map(|r| match r["seq"] {
            Field::Long(s) => s,
            ref f => panic!("seq is {f:?}"),
        })
        .collect();
    assert_eq!(got, want);
    assert!(got.len() < entries.len());
    for r in &rows {
        let Field::Str(p) = &r["proof"] else {
            panic!("a subset's row has no proof: {:?}", r["proof"]);
        };
        let p: serde_json::Value = serde_json::from_str(p).unwrap();
        let Field::Long(seq) = r["seq"] else {
            unreachable!()
        };
        assert_eq!(p["leaf_index"], seq - 1);
        assert!(!p["inclusion"].as_array().unwrap().is_empty());
    }
}

#[test]
fn a_parquet_file_given_to_ingest_or_verify_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "a", 20);
    let out = export(&archive, dir.path(), "a.parquet", &[]);
    let before = std::fs::read(&out).unwrap();
    let v = run(["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 2, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stderr.contains("Parquet") && v.stderr.contains("docs/WAREHOUSE.md"),
        "{}",
        v.stderr
    );
    let new = dir.path().join("b.sqlite");
    let i = run([
        "ingest".as_ref(),
        "--archive".as_ref(),
        new.as_os_str(),
        out.as_os_str(),
    ]);
    assert_eq!(i.code, 2, "{}{}", i.stdout, i.stderr);
    assert!(
        i.stderr.contains("Parquet") && i.stderr.contains("docs/WAREHOUSE.md"),
        "{}",
        i.stderr
    );
    // A truncated Parquet file: the same answer, no panic.
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &before[..before.len() / 2]).unwrap();
    let c = run(["verify".as_ref(), cut.as_os_str()]);
    assert_eq!(c.code, 2, "{}", c.stderr);
    assert!(c.stderr.contains("Parquet"), "{}", c.stderr);
    // The export is evidence: not replaced, even with --force.
    let again = run([
        "export".as_ref(),
        archive.as_os_str(),
        "--format".as_ref(),
        "parquet".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "--force".as_ref(),
    ]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("an auditlens Parquet export"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

// ---- the DuckDB SQL of docs/WAREHOUSE.md

/// Is Python's `duckdb` there? Under CI=true its absence is a failure.
fn duckdb_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Python's duckdb is missing: .ci/run installs it (pip install duckdb)"
        );
        eprintln!(
            "SKIPPED: the warehouse SQL tests need Python's duckdb (pip install duckdb); \
             python3 -c 'import duckdb' failed"
        );
    }
    ok
}

/// The DuckDB queries as docs/WAREHOUSE.md prints them: the first SQL block
/// under "## DuckDB" that holds the three numbered queries.
fn documented_sql() -> String {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/WAREHOUSE.md")).unwrap();
    let section = doc.split("\n## DuckDB").nth(1).expect("a DuckDB section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```sql\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("-- 1.") && b.contains("-- 2.") && b.contains("-- 3."))
        .expect("the three queries in one SQL block")
        .to_string()
}

/// Runs Python with DuckDB: `script` gets the arguments as sys.argv[1:].
fn duckdb(script: &str, args: &[&str]) -> String {
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs the documented queries on `parquet` with `checkpoint`: for each
/// query, the problems it found (seq and words, or words alone).
fn problems(parquet: &Path, checkpoint: &Path) -> [Vec<String>; 3] {
    let sql = documented_sql()
        .replace("'audit.parquet'", &format!("'{}'", parquet.display()))
        .replace("'audit.checkpoint'", &format!("'{}'", checkpoint.display()));
    const SCRIPT: &str = r#"
import duckdb, json, sys
con = duckdb.connect()
results = []
for stmt in sys.argv[1].split(';'):
    body = '\n'.join(l for l in stmt.splitlines() if not l.strip().startswith('--')).strip()
    if not body:
        continue
    rows = con.execute(body).fetchall()
    if body.upper().startswith(('SELECT', 'WITH')):
        results.append([' '.join(str(c) for c in r) for r in rows])
print(json.dumps(results))
"#;
    let out = duckdb(SCRIPT, &[&sql]);
    let v: Vec<Vec<String>> = serde_json::from_str(&out).unwrap();
    assert_eq!(v.len(), 3, "three queries ran: {out}");
    let mut it = v.into_iter();
    [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
}

/// Writes a copy of `src` through DuckDB: `select` is the SELECT that gives
/// the copy's rows from `src` (named `t`).
fn edited(src: &Path, dst: &Path, select: &str) {
    let sql = format!(
        "COPY (WITH t AS (SELECT * FROM read_parquet('{}')) {select}) TO '{}' (FORMAT parquet)",
        src.display(),
        dst.display()
    );
    duckdb(
        "import duckdb, sys\nduckdb.connect().execute(sys.argv[1])",
        &[&sql],
    );
}

#[test]
fn the_documented_duckdb_sql_passes_an_intact_export_and_catches_each_edit() {
    if !duckdb_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let archive = build_archive(d, "a", 300);
    let out = export(&archive, d, "a.parquet", &[]);
    let cp = checkpoint(&archive, d, "a.checkpoint");
    let none: [Vec<String>; 3] = Default::default();
    assert_eq!(problems(&out, &cp), none, "an intact export passes");

    // A changed record (its id), hashes left as they were: query 1 names it.
    let f = d.join("record.parquet");
    edited(
        &out,
        &f,
        "SELECT * REPLACE (CASE WHEN seq = 5 THEN replace(record, id, 'x' || id) ELSE record END AS record) FROM t",
    );
    let p = problems(&f, &cp);
    assert_eq!(p[0], ["5 leaf hash does not match the record"]);
    assert!(p[1].is_empty() && p[2].is_empty(), "{p:?}");

    // A record changed and its leaf hash recomputed: the chain link names it.
    let f = d.join("leaf.parquet");
    let leaf = "sha256('\\x00auditlens-v1 leaf\\x0A'::BLOB || unhex(archive_id) || unhex(printf('%016x', seq)) || encode(replace(record, id, 'x' || id)))";
    edited(
        &out,
        &f,
        &format!(
            "SELECT * REPLACE (CASE WHEN seq = 7 THEN replace(record, id, 'x' || id) ELSE record END AS record, \
             CASE WHEN seq = 7 THEN {leaf} ELSE leaf_hash END AS leaf_hash) FROM t"
        ),
    );
    let p = problems(&f, &cp);
    assert!(p[0].is_empty(), "{p:?}");
    assert_eq!(p[1], ["7 chain hash does not follow from the previous row"]);
    assert!(p[2].is_empty(), "{p:?}");

    // A changed chain hash: its own link and the next one break.
    let f = d.join("chain.parquet");
    edited(
        &out,
        &f,
        "SELECT * REPLACE (CASE WHEN seq = 9 THEN sha256('x') ELSE chain_hash END AS chain_hash) FROM t",
    );
    let p = problems(&f, &cp);
    assert!(p[0].is_empty(), "{p:?}");
    assert_eq!(
        p[1],
        [
            "9 chain hash does not follow from the previous row",
            "10 chain hash does not follow from the previous row"
        ]
    );
    assert!(p[2].is_empty(), "{p:?}");

    // A removed row: the gap is named, and the count no longer matches.
    let f = d.join("removed.parquet");
    edited(&out, &f, "SELECT * FROM t WHERE seq <> 12");
    let p = problems(&f, &cp);
    assert!(p[0].is_empty(), "{p:?}");
    assert_eq!(p[1], ["13 seq 12 to 12 missing"]);
    assert_eq!(p[2], ["the export holds 299 entries, the checkpoint 300"]);

    // Cut short: the last row removed leaves an unbroken chain; only the
    // checkpoint kept elsewhere shows it.
    let f = d.join("short.parquet");
    edited(&out, &f, "SELECT * FROM t WHERE seq < 300");
    let p = problems(&f, &cp);
    assert!(p[0].is_empty() && p[1].is_empty(), "{p:?}");
    assert_eq!(
        p[2],
        [
            "the export holds 299 entries, the checkpoint 300",
            "the last chain hash is not the checkpoint's"
        ]
    );

    // A row repeated: the link after it breaks.
    let f = d.join("repeated.parquet");
    edited(
        &out,
        &f,
        "SELECT * FROM t UNION ALL SELECT * FROM t WHERE seq = 20",
    );
    let p = problems(&f, &cp);
    assert_eq!(p[1], ["20 seq 20 repeated"]);
    assert_eq!(p[2], ["the export holds 301 entries, the checkpoint 300"]);

    // Another archive's checkpoint (same size): named as such.
    let other = build_archive(d, "b", 300);
    let other_cp = checkpoint(&other, d, "b.checkpoint");
    let p = problems(&out, &other_cp);
    assert!(p[0].is_empty() && p[1].is_empty(), "{p:?}");
    assert_eq!(
        p[2],
        [
            "another archive's checkpoint, or rows of several archives",
            "the last chain hash is not the checkpoint's"
        ]
    );
}

#[test]
fn the_viewer_offers_parquet_and_exports_the_rows_it_shows() {
    use auditlens::app::{NoDialogs, Viewer, egui};
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "a", 60);
    let mut h = common::viewer::open(archive.clone(), egui::vec2(1400.0, 900.0), NoDialogs);
    let ready = |v: &Viewer| v.state.index().is_some() && !v.state.busy();
    common::viewer::wait_for(&mut h, "open", ready);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.run_steps(2);
    h.get_by_label("Parquet").click();
    h.state_mut().panels.export.path.clear();
    h.run_steps(1);
    let out = dir.path().join("shown.parquet");
    let field = egui::accesskit::Role::TextInput;
    h.get_by_role_and_label(field, "Save to").click();
    h.run_steps(2);
    h.get_by_role_and_label(field, "Save to")
        .type_text(out.to_str().unwrap());
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
        .click();
    common::viewer::wait_for(&mut h, "export", |v| v.state.last_export.is_some());
    h.get_by_label_contains("Exported 60 entries");
    let rows = rows(&out);
    let seqs: Vec<&Field> = rows.iter().map(|r| &r["seq"]).collect();
    let want: Vec<Field> = (1..=60).map(Field::Long).collect();
    assert_eq!(seqs, want.iter().collect::<Vec<_>>());
    // The rows shown, picked one by one, are a subset to the export: each carries its proof.
    assert!(rows.iter().all(|r| matches!(r["proof"], Field::Str(_))));
}

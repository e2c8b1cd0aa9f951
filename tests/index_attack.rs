//! The index attacks (issue 11): an index of the sample archive rebuilt to
//! lie, then given back the schema text auditlens wrote (`PRAGMA
//! writable_schema`), so that SQLite trusts it and answers queries through
//! it. Two lies on each of the archive's two indexes: a partial index that
//! leaves out every delete, and one that files seq 1500 under a forged key.
//!
//! For each: `verify` (with and without the checkpoint) exits 1 and names the
//! index and the entries it lies about; export with a time filter, scan, the
//! report and the viewer's row index still see every entry, exactly as on the
//! intact archive; and ingest, which finds stored entries through the
//! entry-id index, refuses to trust that index when it lies.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use auditlens_core::archive::{self, Archive};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::row_index::Index;
use auditlens_core::time::Timestamp;
use rusqlite::Connection;
use serde_json::Value;

/// The entry whose key the key-changing attacks forge.
const TARGET: u64 = 1500;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name)
}

/// One lie: the index, the definition it is rebuilt with, and the definition
/// auditlens wrote (restored in the schema afterwards).
struct Attack {
    name: &'static str,
    index: &'static str,
    lie: &'static str,
    truth: &'static str,
}

const TIME: &str = "CREATE INDEX entries_time ON entries(time_ms)";
const ID: &str = "CREATE UNIQUE INDEX entries_entry_id ON entries(entry_id)";

const ATTACKS: [Attack; 4] = [
    Attack {
        name: "time-partial",
        index: "entries_time",
        lie: "CREATE INDEX entries_time ON entries(time_ms) WHERE action != 'delete'",
        truth: TIME,
    },
    Attack {
        name: "id-partial",
        index: "entries_entry_id",
        lie: "CREATE UNIQUE INDEX entries_entry_id ON entries(entry_id) WHERE action != 'delete'",
        truth: ID,
    },
    Attack {
        name: "time-key",
        index: "entries_time",
        lie: "CREATE INDEX entries_time ON entries(CASE WHEN seq = 1500 THEN 0 ELSE time_ms END)",
        truth: TIME,
    },
    Attack {
        name: "id-key",
        index: "entries_entry_id",
        lie: "CREATE UNIQUE INDEX entries_entry_id ON entries(CASE WHEN seq = 1500 THEN 'forged' ELSE entry_id END)",
        truth: ID,
    },
];

impl Attack {
    fn partial(&self) -> bool {
        self.lie.contains("WHERE")
    }

    /// A copy of the sample archive in `dir`, with this lie in it.
    fn apply(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.sqlite", self.name));
        std::fs::copy(sample("audit-sample.sqlite"), &path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "DROP INDEX {index}; {lie}; PRAGMA writable_schema = ON; \
             UPDATE sqlite_master SET sql = '{truth}' WHERE name = '{index}'; \
             PRAGMA writable_schema = OFF;",
            index = self.index,
            lie = self.lie,
            truth = self.truth
        ))
        .unwrap();
        path
    }
}

/// What the intact sample holds: every entry's action, time and id, by seq.
struct Truth {
    actions: Vec<String>,
    times: Vec<i64>,
    ids: Vec<String>,
}

impl Truth {
    fn read() -> Truth {
        let a = Archive::open(&sample("audit-sample.sqlite")).unwrap();
        let mut t = Truth {
            actions: vec![],
            times: vec![],
            ids: vec![],
        };
        a.for_each_record(|seq, r| {
            assert_eq!(seq, t.ids.len() as u64 + 1);
            let e = archive::parse_record(r).unwrap();
            t.actions.push(e.action);
            t.times.push(e.time.0);
            t.ids.push(e.id);
        })
        .unwrap();
        t
    }

    fn deletes(&self) -> Vec<u64> {
        (1..=self.actions.len() as u64)
            .filter(|s| self.actions[*s as usize - 1] == "delete")
            .collect()
    }

    fn time(&self, seq: u64) -> i64 {
        self.times[seq as usize - 1]
    }

    fn span(&self) -> (i64, i64) {
        let (min, max) = (self.times.iter().min(), self.times.iter().max());
        (*min.unwrap(), *max.unwrap())
    }
}

fn auditlens(args: &[&str]) -> (i32, String) {
    let o = common::run(args);
    (o.code, o.stdout)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The lie works: asked through the index, SQLite itself misses entries.
fn assert_sqlite_is_fooled(path: &Path, a: &Attack, truth: &Truth) {
    let conn = Connection::open(path).unwrap();
    let through_index = |sql: &str| -> i64 {
        conn.query_row(
            &format!("SELECT count(*) FROM entries INDEXED BY {} {sql}", a.index),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    if a.partial() {
        // (A bare count(*) would ignore INDEXED BY and count the smallest index.)
        assert_eq!(
            through_index("WHERE seq > 0") as usize,
            truth.ids.len() - truth.deletes().len(),
            "{}",
            a.name
        );
    } else if a.index == "entries_time" {
        let t = truth.time(TARGET);
        assert_eq!(
            through_index(&format!("WHERE time_ms = {t} AND seq = {TARGET}")),
            0
        );
    } else {
        let id = &truth.ids[TARGET as usize - 1];
        assert_eq!(through_index(&format!("WHERE entry_id = '{id}'")), 0);
    }
}

/// The findings `verify --json` reports: (kind, seq, expected, found).
fn findings(report: &Value) -> Vec<(String, Option<u64>, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["seq"].as_u64(),
                f["expected"].as_str().unwrap_or_default().to_string(),
                f["found"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The located findings each lie must give.
fn expected_findings(a: &Attack, truth: &Truth) -> Vec<(String, Option<u64>, String, String)> {
    let kind = "sqlite_index_mismatch".to_string();
    let key = |seq: u64| match a.index {
        "entries_time" => format!("time_ms {}", truth.time(seq)),
        _ => format!("entry_id {:?}", truth.ids[seq as usize - 1]),
    };
    if a.partial() {
        truth
            .deletes()
            .into_iter()
            .map(|seq| (kind.clone(), Some(seq), key(seq), "no entry".to_string()))
            .collect()
    } else {
        let forged = match a.index {
            "entries_time" => "time_ms 0".to_string(),
            _ => "entry_id \"forged\"".to_string(),
        };
        vec![(kind, Some(TARGET), key(TARGET), forged)]
    }
}

/// The seqs of an NDJSON export, checked by `verify` first.
fn exported_seqs(path: &Path) -> Vec<u64> {
    let (code, _) = auditlens(&["verify", s(path)]);
    assert_eq!(code, 0, "the export of {} does not verify", path.display());
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["seq"].as_u64())
        .collect()
}

/// Exports with time filters: every delete in the whole span, and every
/// entry at the time of seq 1500.
fn time_filtered_exports(archive: &Path, dir: &Path, truth: &Truth) -> (Vec<u64>, Vec<u64>) {
    let (min, max) = truth.span();
    let (from, to) = (Timestamp(min).to_string(), Timestamp(max + 1).to_string());
    // A fresh folder per archive: auditlens never replaces an earlier export.
    let dir = &tempfile::tempdir_in(dir).unwrap().keep();
    let deletes = dir.join("deletes.ndjson");
    let (code, _) = auditlens(&[
        "export",
        s(archive),
        "--format",
        "ndjson",
        "--from",
        &from,
        "--to",
        &to,
        "--action",
        "delete",
        "-o",
        s(&deletes),
    ]);
    assert_eq!(code, 0);
    let t = truth.time(TARGET);
    let at_target = dir.join("at-target.ndjson");
    let (code, _) = auditlens(&[
        "export",
        s(archive),
        "--format",
        "ndjson",
        "--from",
        &Timestamp(t).to_string(),
        "--to",
        &Timestamp(t + 1).to_string(),
        "-o",
        s(&at_target),
    ]);
    assert_eq!(code, 0);
    (exported_seqs(&deletes), exported_seqs(&at_target))
}

/// `scan --json` without the archive's path.
fn scan(archive: &Path) -> Value {
    let (code, out) = auditlens(&["scan", s(archive), "--json"]);
    assert_eq!(code, 0);
    let mut v: Value = serde_json::from_str(&out).unwrap();
    v.as_object_mut().unwrap().remove("archive");
    v
}

/// The report's JSON twin, for the deletes in the whole span.
fn report(archive: &Path, dir: &Path, truth: &Truth) -> Value {
    let (min, max) = truth.span();
    // A fresh folder per archive: a report's JSON twin is never replaced.
    let dir = &tempfile::tempdir_in(dir).unwrap().keep();
    let html = dir.join("report.html");
    let (code, _) = auditlens(&[
        "report",
        s(archive),
        "--from",
        &Timestamp(min).to_string(),
        "--to",
        &Timestamp(max + 1).to_string(),
        "--action",
        "delete",
        "-o",
        s(&html),
    ]);
    assert_eq!(code, 0);
    serde_json::from_str(&std::fs::read_to_string(html.with_extension("json")).unwrap()).unwrap()
}

/// The viewer's row index: how many rows, whether its seqs are 1..=n, and
/// the rows its structured filter picks for the deletes in the whole span.
fn row_index(archive: &Path, truth: &Truth) -> (usize, u64, Vec<u64>) {
    let ix = Index::load(archive, &Job::new()).unwrap();
    let all_seqs_in_order = (0..ix.len()).all(|p| ix.seq(p) == p as u64 + 1);
    assert!(all_seqs_in_order);
    let (min, max) = truth.span();
    let f = Filter {
        from: Some(Timestamp(min)),
        to: Some(Timestamp(max + 1)),
        actions: vec!["delete".into()],
        ..Filter::default()
    };
    let picked = ix
        .candidates(&f)
        .into_iter()
        .map(|p| ix.seq(p as usize))
        .collect();
    let prefix = Index::load_prefix(archive, 10, true, &Job::new()).unwrap();
    (ix.len(), prefix.total, picked)
}

#[test]
fn a_lying_index_is_found_and_hides_nothing() {
    let truth = Truth::read();
    let deletes = truth.deletes();
    assert!(deletes.len() > 100 && !deletes.contains(&TARGET));
    let dir = tempfile::tempdir().unwrap();
    let intact = dir.path().join("intact.sqlite");
    std::fs::copy(sample("audit-sample.sqlite"), &intact).unwrap();
    let checkpoint = sample("audit-sample.checkpoint");
    let want_exports = time_filtered_exports(&intact, dir.path(), &truth);
    assert_eq!(want_exports.0, deletes);
    assert!(want_exports.1.contains(&TARGET));
    let want_scan = scan(&intact);
    let want_report = report(&intact, dir.path(), &truth);
    assert_eq!(want_report["filter"]["matching_entries"], deletes.len());
    let want_index = row_index(&intact, &truth);
    assert_eq!(
        want_index,
        (truth.ids.len(), truth.ids.len() as u64, deletes.clone())
    );
    let sample_bytes = std::fs::read(sample("audit-sample.sqlite")).unwrap();

    for a in &ATTACKS {
        let path = a.apply(dir.path());
        assert_sqlite_is_fooled(&path, a, &truth);

        // verify finds the lie, entry by entry, with and without the checkpoint.
        for cp in [None, Some(&checkpoint)] {
            let mut args = vec!["verify", s(&path), "--json"];
            if let Some(cp) = cp {
                args.extend(["--checkpoint", s(cp)]);
            }
            let (code, out) = auditlens(&args);
            assert_eq!(code, 1, "{}: {out}", a.name);
            let r: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(r["status"], "tampered", "{}", a.name);
            assert_eq!(r["entries"], truth.ids.len(), "{}", a.name);
            assert_eq!(findings(&r), expected_findings(a, &truth), "{}", a.name);
            for f in r["findings"].as_array().unwrap() {
                let m = f["message"].as_str().unwrap();
                assert!(m.contains(a.index), "{}: {m}", a.name);
            }
            if cp.is_some() {
                assert_eq!(r["checkpoint"]["status"], "matches", "{}", a.name);
            }
        }
        // Nothing that reads entries is fooled.
        assert_eq!(
            time_filtered_exports(&path, dir.path(), &truth),
            want_exports,
            "{}",
            a.name
        );
        assert_eq!(scan(&path), want_scan, "{}", a.name);
        let r = report(&path, dir.path(), &truth);
        assert_eq!(r["verification"]["status"], "tampered", "{}", a.name);
        assert_eq!(
            r["verification"]["counts"]["sqlite_index_mismatch"],
            expected_findings(a, &truth).len(),
            "{}",
            a.name
        );
        for key in ["entries", "time_span"] {
            assert_eq!(r["archive"][key], want_report["archive"][key], "{}", a.name);
        }
        assert_eq!(r["filter"], want_report["filter"], "{}", a.name);
        assert_eq!(r["patterns"], want_report["patterns"], "{}", a.name);
        assert_eq!(row_index(&path, &truth), want_index, "{}", a.name);

        // Ingest tells new entries from stored ones through the entry-id
        // index: with that index lying, it refuses (else the platform export
        // the archive was made from would add its entries a second time).
        if a.index == "entries_entry_id" {
            let before = std::fs::read(&path).unwrap();
            let o = Command::new(env!("CARGO_BIN_EXE_auditlens"))
                .args(["ingest", "--archive", s(&path)])
                .arg(sample("platform-export.jsonl"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{}: {stderr}", a.name);
            assert!(stderr.contains("entries_entry_id"), "{}: {stderr}", a.name);
            assert_eq!(std::fs::read(&path).unwrap(), before, "{}", a.name);
        }
    }
    assert_eq!(
        std::fs::read(sample("audit-sample.sqlite")).unwrap(),
        sample_bytes,
        "sample-data/ was written to"
    );
}

/// Other tools trust what the schema says; auditlens reports every object
/// it did not make, and every change to one it made.
#[test]
fn objects_auditlens_does_not_make_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extra.sqlite");
    std::fs::copy(sample("audit-sample.sqlite"), &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE INDEX entries_action ON entries(action);
         CREATE VIEW deletes AS SELECT * FROM entries WHERE action = 'delete';
         CREATE TRIGGER drop_deletes BEFORE INSERT ON entries WHEN NEW.action = 'delete'
         BEGIN SELECT RAISE(IGNORE); END;",
    )
    .unwrap();
    drop(conn);
    let (code, out) = auditlens(&["verify", s(&path), "--json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    // The entries are intact; the schema change is a warning for each object.
    assert_eq!(code, 0, "{out}");
    assert_eq!(r["counts"]["schema_altered"], 3, "{out}");
    let messages: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    for name in ["entries_action", "deletes", "drop_deletes"] {
        assert!(
            messages.iter().any(|m| m.contains(name)),
            "{name}: {messages:?}"
        );
    }

    // The trigger would drop deletes on the next ingest: ingest refuses to
    // write into such a file, and names the object.
    let more = dir.path().join("more.jsonl");
    auditlens_core::sample::write_platform(
        &auditlens_core::sample::Sample::new(20, 99),
        auditlens_core::sample::PlatformFormat::Jsonl,
        std::fs::File::create(&more).unwrap(),
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(["ingest", "--archive", s(&path), s(&more)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("auditlens does not make"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the archive was written to"
    );
}

/// An index whose definition is rewritten in the schema (writable_schema)
/// while its entries stay as they were: a tool querying through it by its new
/// key misses every entry. SQLite's own check of the redefined index finds
/// each row it lacks; an index that another tool added properly passes it.
#[test]
fn a_redefined_index_is_checked_as_it_is_now_defined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("redefined.sqlite");
    std::fs::copy(sample("audit-sample.sqlite"), &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA writable_schema=ON;
         UPDATE sqlite_master SET sql = 'CREATE INDEX entries_time ON entries(actor_label)'
         WHERE name = 'entries_time';",
    )
    .unwrap();
    drop(conn);
    let (code, out) = auditlens(&["verify", s(&path), "--json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 1, "{out}");
    assert_eq!(r["counts"]["schema_altered"], 1, "{out}");
    let found = findings(&r);
    let first = found
        .iter()
        .find(|f| f.0 == "sqlite_index_mismatch")
        .expect("a located index finding");
    assert_eq!(first.1, Some(1), "{out}");

    let fine = dir.path().join("added.sqlite");
    std::fs::copy(sample("audit-sample.sqlite"), &fine).unwrap();
    let conn = Connection::open(&fine).unwrap();
    conn.execute_batch("CREATE INDEX entries_action ON entries(action);")
        .unwrap();
    drop(conn);
    let (code, out) = auditlens(&["verify", s(&fine), "--json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(r["counts"]["sqlite_index_mismatch"].is_null(), "{out}");
}

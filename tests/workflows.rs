//! The platform guide's compliance workflows, end to end, on crafted
//! entries: change management (reconcile), authorization at the time, and
//! the coverage of the archive. Each with a hit and a near miss.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlens_core::authorization::Unknown;
use auditlens_core::coverage::{self, CoverageSettings};
use auditlens_core::json;
use auditlens_core::model::{Actor, ActorType, Entry};
use auditlens_core::patterns::{Keep, Pattern, PatternSettings, ScanReport, Scanner};
use auditlens_core::reconcile::Status;
use auditlens_core::record_view::RecordView;
use auditlens_core::tickets::{ChangeTickets, Field, ReadOptions, parse_map};
use auditlens_core::time::Timestamp;
use common::{ingest_files, run, write_platform_jsonl};

/// Monday 2025-01-06 at hh:mm UTC, plus `days`.
fn at(days: i64, hh: i64, mm: i64) -> Timestamp {
    Timestamp(1_736_121_600_000 + ((days * 24 + hh) * 60 + mm) * 60_000)
}

fn user(id: &str, org_role: Option<&str>, project_role: Option<&str>) -> Actor {
    Actor {
        actor_type: Some(ActorType::User),
        user_id: Some(id.into()),
        email: Some(format!("{id}@acme.example")),
        org_role: org_role.map(str::to_string),
        project_role: project_role.map(str::to_string),
        ..Actor::default()
    }
}

fn key(id: &str) -> Actor {
    Actor {
        actor_type: Some(ActorType::ApiKey),
        api_key_id: Some(id.into()),
        ..Actor::default()
    }
}

fn entry(n: u32, time: Timestamp, actor: Actor, rt: &str, rid: &str, action: &str) -> Entry {
    let mut e = Entry::new(&format!("e{n:05}"), time, rt, rid, action);
    e.actor = actor;
    e.org_id = Some("org1".into());
    e.project_id = Some("proj1".into());
    e
}

/// A prompt labelled `label` (a production change when `label` is protected).
fn label(n: u32, time: Timestamp, actor: Actor, prompt: &str, label: &str) -> Entry {
    let mut e = entry(n, time, actor, "prompt", prompt, "setLabel");
    e.after = Some(
        json::parse(format!(r#"{{"name":"{prompt}","labels":["{label}"]}}"#).as_bytes()).unwrap(),
    );
    e
}

fn scan(entries: &[Entry], settings: PatternSettings) -> ScanReport {
    let mut s = Scanner::new(settings, Keep::EVERYTHING);
    for (i, e) in entries.iter().enumerate() {
        let record = e.canonical_record();
        s.observe(i as u64 + 1, &RecordView::parse(record.as_bytes()).unwrap());
    }
    s.finish()
}

fn seqs(r: &ScanReport, p: Pattern) -> Vec<u64> {
    r.listed(p).iter().map(|h| h.seq).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

// ---------------------------------------------------------------- change management

/// A Jira CSV export: its own column names, its own date form.
const JIRA_CSV: &str = "Issue key,Summary,Planned start,Planned end,Assignee,Resource\n\
CHG-1,Promote rag-answer,06/Jan/25 9:00 AM,06/Jan/25 11:00 AM,alice,rag-answer\n\
CHG-2,Promote tone-check,2025-01-06T13:00:00Z,2025-01-06T14:00:00Z,,tone-check\n";

fn jira_tickets(dir: &Path) -> Arc<ChangeTickets> {
    let path = write(dir, "jira.csv", JIRA_CSV);
    Arc::new(ChangeTickets::read(&path, &ReadOptions::default()).unwrap())
}

#[test]
fn jira_and_servicenow_exports_are_read_by_their_own_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = jira_tickets(dir.path());
    assert_eq!(t.mapping[&Field::Ticket], "Issue key");
    assert_eq!(t.mapping[&Field::Start], "Planned start");
    assert_eq!(t.mapping[&Field::Actor], "Assignee");
    assert_eq!(t.mapping[&Field::ResourceId], "Resource");
    assert_eq!(t.tickets.len(), 2);
    assert_eq!(t.tickets[0].start, at(0, 9, 0).0);
    assert_eq!(t.tickets[0].actor.as_deref(), Some("alice"));
    assert_eq!(t.tickets[1].actor, None);
    // The viewer's column chooser gives the whole mapping: a field it leaves
    // out stays out, though a column with a known name exists.
    let exact = ReadOptions {
        map: parse_map("ticket=Issue key,start=Planned start,end=Planned end").unwrap(),
        exact: true,
        ..ReadOptions::default()
    };
    let path = dir.path().join("jira.csv");
    let chosen = ChangeTickets::read(&path, &exact).unwrap();
    assert_eq!(chosen.tickets[0].actor, None);
    assert!(!chosen.mapping.contains_key(&Field::Actor));

    // ServiceNow: records of change_request, reference fields as objects, local times.
    let snow = write(
        dir.path(),
        "snow.json",
        r#"{"records":[{"number":"CHG0030001","start_date":"2025-01-06 10:00:00",
            "end_date":"2025-01-06 12:00:00","assigned_to":{"display_value":"bob","value":"6816f79c"}}]}"#,
    );
    let opts = ReadOptions {
        utc_offset_minutes: 60,
        ..ReadOptions::default()
    };
    let s = ChangeTickets::read(&snow, &opts).unwrap();
    assert_eq!(s.tickets[0].id, "CHG0030001");
    assert_eq!(
        s.tickets[0].start,
        at(0, 9, 0).0,
        "10:00 at UTC+1 is 09:00 UTC"
    );
    assert_eq!(s.tickets[0].actor.as_deref(), Some("bob"));

    // Columns nobody can guess: the error names them and says how to map them.
    let odd = write(
        dir.path(),
        "odd.csv",
        "Ref,From,Until\nX-1,2025-01-06,2025-01-07\n",
    );
    let e = ChangeTickets::read(&odd, &ReadOptions::default()).unwrap_err();
    assert!(e.contains("\"From\"") && e.contains("--map"), "{e}");
    let mapped = ReadOptions {
        map: parse_map("ticket=Ref,start=From,end=Until").unwrap(),
        ..ReadOptions::default()
    };
    let t = ChangeTickets::read(&odd, &mapped).unwrap();
    assert_eq!(
        t.tickets[0].end,
        at(1, 23, 59).0 + 59_999,
        "a date alone ends at the day's end"
    );
    // A mapped column that is not there is refused, not ignored.
    let wrong = ReadOptions {
        map: parse_map("ticket=Ref,start=Begin,end=Until").unwrap(),
        ..ReadOptions::default()
    };
    assert!(
        ChangeTickets::read(&odd, &wrong)
            .unwrap_err()
            .contains("Begin")
    );
}

#[test]
fn each_production_change_is_approved_mismatched_or_unapproved() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PatternSettings {
        tickets: Some(jira_tickets(dir.path())),
        ..PatternSettings::default()
    };
    let alice = || user("alice", Some("ADMIN"), Some("ADMIN"));
    let bob = || user("bob", Some("ADMIN"), Some("ADMIN"));
    let entries = [
        label(1, at(0, 10, 0), alice(), "rag-answer", "production"), // CHG-1, in window, alice
        label(2, at(0, 11, 30), alice(), "rag-answer", "production"), // after CHG-1's window
        label(3, at(0, 10, 30), bob(), "rag-answer", "production"),  // in window, another actor
        label(4, at(0, 10, 0), alice(), "summarize", "production"),  // no ticket names it
        label(5, at(0, 10, 0), alice(), "summarize", "staging"),     // not a production change
        label(6, at(0, 13, 30), bob(), "tone-check", "production"),  // CHG-2 names no actor
    ];
    let r = scan(&entries, settings);
    let rec = r.reconciliation.as_ref().expect("tickets given");
    let status: Vec<(u64, Status, Option<&str>)> = rec
        .changes
        .iter()
        .map(|c| (c.seq, c.status, c.ticket.as_deref()))
        .collect();
    assert_eq!(
        status,
        [
            (1, Status::Approved, Some("CHG-1")),
            (2, Status::Mismatched, Some("CHG-1")),
            (3, Status::Mismatched, Some("CHG-1")),
            (4, Status::Unapproved, None),
            (6, Status::Approved, Some("CHG-2")),
        ]
    );
    assert!(
        rec.changes[1]
            .reason
            .contains("after CHG-1's window closed"),
        "{}",
        rec.changes[1].reason
    );
    assert!(
        rec.changes[2].reason.contains("CHG-1 names alice"),
        "{}",
        rec.changes[2].reason
    );
    assert_eq!(seqs(&r, Pattern::UnapprovedChange), [2, 3, 4]);
    assert!(rec.unused_tickets.is_empty());

    // Without tickets: no reconciliation and no such hits.
    let r = scan(&entries, PatternSettings::default());
    assert!(r.reconciliation.is_none());
    assert!(seqs(&r, Pattern::UnapprovedChange).is_empty());
}

/// An archive of `entries`, ingested from a platform JSONL export.
fn archive_of(dir: &Path, name: &str, entries: &[Entry]) -> PathBuf {
    let export = dir.join(format!("{name}.jsonl"));
    write_platform_jsonl(&export, entries);
    let archive = dir.join(format!("{name}.sqlite"));
    ingest_files(&archive, &[export]);
    archive
}

#[test]
fn reconcile_command_exit_codes_json_report_and_remembered_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = || user("alice", Some("ADMIN"), Some("ADMIN"));
    let good = archive_of(
        d,
        "good",
        &[label(1, at(0, 10, 0), alice(), "rag-answer", "production")],
    );
    let bad = archive_of(
        d,
        "bad",
        &[
            label(1, at(0, 10, 0), alice(), "rag-answer", "production"),
            label(2, at(0, 12, 0), alice(), "rag-answer", "production"),
        ],
    );
    let tickets = write(d, "jira.csv", JIRA_CSV);
    let s = |p: &Path| p.to_str().unwrap().to_string();

    let ok = run(["reconcile", &s(&good), "--changes", &s(&tickets)]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("approved     1"), "{}", ok.stdout);

    let some = run(["reconcile", &s(&bad), "--changes", &s(&tickets), "--json"]);
    assert_eq!(some.code, 1, "{}", some.stderr);
    let v: serde_json::Value = serde_json::from_str(&some.stdout).unwrap();
    assert_eq!(v["approved"], 1);
    assert_eq!(v["mismatched"], 1);
    assert_eq!(v["changes"][1]["status"], "mismatched");
    assert_eq!(v["changes"][1]["ticket"], "CHG-1");
    assert_eq!(v["unused_tickets"], serde_json::json!(["CHG-2"]));

    let missing = run(["reconcile", &s(&good), "--changes", &s(&d.join("nope.csv"))]);
    assert_eq!(missing.code, 2);
    let not_archive = run(["reconcile", &s(&tickets), "--changes", &s(&tickets)]);
    assert_eq!(not_archive.code, 2);

    // The report states the same facts in HTML and report.json.
    let html = d.join("r.html");
    let r = run([
        "report",
        &s(&bad),
        "--changes",
        &s(&tickets),
        "-o",
        &s(&html),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    let cm = &facts["change_management"];
    assert_eq!(
        (cm["approved"].as_u64(), cm["mismatched"].as_u64()),
        (Some(1), Some(1))
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>Change management</h2>"));
    assert!(
        page.contains("mismatched — 1 h 0 min after CHG-1&#39;s window closed"),
        "{page}"
    );

    // A mapping given once is remembered for files with the same columns, in
    // the config folder (not beside the evidence).
    let config = d.join("config");
    let odd = write(
        d,
        "odd.csv",
        "Ref,From,Until,Who\nX-1,2025-01-06 09:00,2025-01-06 11:00,alice\n",
    );
    let with_env = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
            .args(args)
            .env("AUDITLENS_CONFIG_DIR", &config)
            .output()
            .unwrap()
    };
    let first = with_env(&["reconcile", &s(&good), "--changes", &s(&odd)]);
    assert_eq!(first.status.code(), Some(2), "unmapped columns cannot run");
    let mapped = with_env(&[
        "reconcile",
        &s(&good),
        "--changes",
        &s(&odd),
        "--map",
        "ticket=Ref,start=From,end=Until,actor=Who",
    ]);
    assert_eq!(
        mapped.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&mapped.stderr)
    );
    assert!(config.join("ticket-layouts.json").exists());
    let again = with_env(&["reconcile", &s(&good), "--changes", &s(&odd)]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

// ---------------------------------------------------------------- authorization

#[test]
fn roles_at_the_time_that_did_not_grant_the_action_are_flagged() {
    let entries = [
        // 1: a VIEWER deleting a trace: not granted.
        entry(
            1,
            at(0, 9, 0),
            user("v", Some("MEMBER"), Some("VIEWER")),
            "trace",
            "t1",
            "delete",
        ),
        // 2: near miss: an ADMIN deleting a trace.
        entry(
            2,
            at(0, 9, 1),
            user("a", Some("ADMIN"), Some("ADMIN")),
            "trace",
            "t2",
            "delete",
        ),
        // 3: a MEMBER managing API keys: not granted.
        entry(
            3,
            at(0, 9, 2),
            user("m", Some("MEMBER"), Some("MEMBER")),
            "apiKey",
            "k1",
            "create",
        ),
        // 4: an API key: cannot judge, never allowed, never flagged.
        entry(4, at(0, 9, 3), key("k1"), "trace", "t3", "delete"),
        // 5: an action the role model does not list: cannot judge.
        entry(
            5,
            at(0, 9, 4),
            user("v", Some("VIEWER"), Some("VIEWER")),
            "ssoConfig",
            "s",
            "update",
        ),
        // 6: a role the platform does not have: cannot judge.
        entry(
            6,
            at(0, 9, 5),
            user("x", Some("ROOT"), Some("ROOT")),
            "trace",
            "t4",
            "delete",
        ),
        // 7: no recorded roles and no membership seen: cannot judge.
        entry(
            7,
            at(0, 9, 6),
            user("n", None, None),
            "trace",
            "t5",
            "delete",
        ),
    ];
    let r = scan(&entries, PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::NotAuthorized), [1, 3]);
    let why = &r.listed(Pattern::NotAuthorized)[0].reason;
    assert!(
        why.contains("VIEWER") && why.contains("traces:delete"),
        "{why}"
    );
    let t = &r.authorization;
    assert_eq!((t.granted, t.not_granted), (1, 2));
    assert_eq!(t.cannot_judge.get(&Unknown::ApiKey), Some(&1));
    assert_eq!(t.cannot_judge.get(&Unknown::NoRule), Some(&1));
    assert_eq!(t.cannot_judge.get(&Unknown::UnknownRole), Some(&1));
    assert_eq!(t.cannot_judge.get(&Unknown::RoleNotRecorded), Some(&1));
}

#[test]
fn roles_come_from_membership_entries_when_the_entry_records_none() {
    let owner = || user("o", Some("OWNER"), None);
    let membership = |n, role_before: &str, role_after: &str, action: &str| {
        let mut e = entry(
            n,
            at(0, 8, n as i64),
            owner(),
            "projectMembership",
            "proj1--u",
            action,
        );
        let state = |r: &str| {
            Some(
                json::parse(
                    format!(r#"{{"projectId":"proj1","userId":"u","role":"{r}"}}"#).as_bytes(),
                )
                .unwrap(),
            )
        };
        e.before = state(role_before);
        e.after = (action != "delete").then(|| state(role_after)).flatten();
        e
    };
    let quiet = || user("u", None, None);
    let entries = [
        membership(1, "MEMBER", "VIEWER", "update"),
        entry(2, at(0, 9, 0), quiet(), "trace", "t1", "delete"), // VIEWER then: flagged
        membership(3, "VIEWER", "ADMIN", "update"),
        entry(4, at(0, 9, 5), quiet(), "trace", "t2", "delete"), // ADMIN then: granted
    ];
    let r = scan(&entries, PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::NotAuthorized), [2]);
    assert!(
        r.listed(Pattern::NotAuthorized)[0]
            .reason
            .contains("last membership entry")
    );
    // The two membership changes are granted by the owner's recorded org role; with 4, three.
    assert_eq!(r.authorization.granted, 3);
}

#[test]
fn scan_and_report_state_the_authorization_facts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = archive_of(
        d,
        "authz",
        &[
            entry(
                1,
                at(0, 9, 0),
                user("v", Some("MEMBER"), Some("VIEWER")),
                "trace",
                "t1",
                "delete",
            ),
            entry(
                2,
                at(0, 9, 1),
                user("a", Some("ADMIN"), Some("ADMIN")),
                "trace",
                "t2",
                "delete",
            ),
        ],
    );
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = run(["scan", &s(&a), "--json"]);
    assert_eq!(out.code, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["authorization"]["not_granted"], 1);
    assert_eq!(v["authorization"]["granted"], 1);
    let human = run(["scan", &s(&a)]);
    assert!(
        human
            .stdout
            .contains("1 granted by the actor's role, 1 not granted"),
        "{}",
        human.stdout
    );

    let html = d.join("a.html");
    assert_eq!(run(["report", &s(&a), "-o", &s(&html)]).code, 0);
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("a.json")).unwrap()).unwrap();
    assert_eq!(facts["authorization"]["not_granted"], 1);
    assert!(
        facts["authorization"]["source"]
            .as_str()
            .unwrap()
            .starts_with("langfuse/langfuse@")
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>Authorization at the time</h2>"));
    assert!(page.contains("VIEWER (recorded project role) does not grant traces:delete"));
}

// ---------------------------------------------------------------- coverage

#[test]
fn empty_days_between_busy_days_are_holes_quiet_ones_are_not() {
    let day = |d: i64| at(d, 0, 0).0.div_euclid(86_400_000);
    let days: BTreeMap<i64, u64> = [
        (0, 50), // Monday
        (1, 0),  // between 50 and a quiet Wednesday: not a hole
        (2, 3),
        (3, 0), // between a quiet Wednesday and 30: not a hole
        (4, 30),
        (5, 0), // Saturday and Sunday between 30 and 25: a hole, weekend only
        (6, 0),
        (7, 25),
        (8, 0), // Tuesday between 25 and 20: a hole
        (9, 20),
    ]
    .into_iter()
    .map(|(d, n)| (day(d), n))
    .collect();
    let holes = coverage::empty_days(&days, 10);
    let found: Vec<(i64, i64, bool)> = holes
        .iter()
        .map(|h| (h.from_day - day(0), h.to_day - day(0), h.weekend_only))
        .collect();
    assert_eq!(found, [(5, 6, true), (8, 8, false)]);
    assert!(coverage::empty_days(&days, 60).is_empty());
}

#[test]
fn overlapping_exports_are_normal_a_gap_between_windows_is_a_hole() {
    let h = |d: i64, hh: i64| at(d, hh, 0).0;
    let windows = vec![
        ("mon.jsonl".to_string(), h(0, 0), h(0, 23)),
        ("mon-tue.jsonl".to_string(), h(0, 12), h(1, 23)), // overlaps: normal
        ("fri.jsonl".to_string(), h(4, 1), h(4, 22)),
    ];
    let gaps = coverage::export_gaps(&windows, 24 * 3_600_000);
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].from, gaps[0].to), (h(1, 23), h(4, 1)));
    assert_eq!(gaps[0].after_file, "mon-tue.jsonl");
    assert_eq!(gaps[0].before_file, "fri.jsonl");
    // A night between two daily exports is shorter than the threshold.
    assert!(coverage::export_gaps(&windows[..2], 24 * 3_600_000).is_empty());
}

#[test]
fn ingest_records_each_file_and_info_shows_the_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = |n: u32, d: i64| -> Vec<Entry> {
        (0..12)
            .map(|i| {
                entry(
                    n + i,
                    at(d, 8, i as i64 * 5),
                    user("u", Some("ADMIN"), None),
                    "trace",
                    "t",
                    "bookmark",
                )
            })
            .collect()
    };
    let first = d.join("mon-tue.jsonl");
    write_platform_jsonl(&first, &[day(0, 0), day(100, 1)].concat());
    let second = d.join("tue.jsonl"); // overlaps the first: duplicates, not a hole
    write_platform_jsonl(&second, &day(100, 1));
    let third = d.join("fri.jsonl"); // Wednesday and Thursday missing
    write_platform_jsonl(&third, &day(200, 4));
    let archive = d.join("a.sqlite");
    ingest_files(&archive, &[first.clone(), second.clone()]);
    ingest_files(&archive, std::slice::from_ref(&third));

    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = run(["info", "--json", &s(&archive)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let c = &v["coverage"];
    let files = c["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(
        files[0]["sha256"],
        auditlens_core::digest::file_sha256(&first).unwrap()
    );
    assert_eq!(files[0]["entries"], 24);
    assert_eq!(files[1]["entries"], 12);
    assert_eq!(files[2]["from"], at(4, 8, 0).to_string());
    assert_eq!(files[2]["run"], 2);
    let empty = c["empty_days"].as_array().unwrap();
    assert_eq!(empty.len(), 1);
    assert_eq!(
        (empty[0]["from"].as_str(), empty[0]["days"].as_i64()),
        (Some("2025-01-08"), Some(2))
    );
    let gaps = c["export_gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["before_file"], s(&third));

    // What ingest records leaves the archive intact (no schema change, no hashed change).
    assert_eq!(run(["verify", &s(&archive)]).code, 0);

    // An archive written before files were recorded one by one still opens,
    // verifies and names its files.
    let old = d.join("old.sqlite");
    std::fs::copy(&archive, &old).unwrap();
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute(
        "UPDATE ingests SET sources = 'a.jsonl, b.jsonl' WHERE run = 1",
        [],
    )
    .unwrap();
    drop(conn);
    assert_eq!(run(["verify", &s(&old)]).code, 0);
    let v: serde_json::Value =
        serde_json::from_str(&run(["info", "--json", &s(&old)]).stdout).unwrap();
    assert_eq!(v["coverage"]["files_without_window"], 2);
    assert_eq!(v["coverage"]["files"][0]["file"], "a.jsonl");
    let settings = CoverageSettings::default();
    let cov = coverage::of_archive(
        &auditlens_core::archive::Archive::open(&old).unwrap(),
        &settings,
        &auditlens_core::job::Job::new(),
    )
    .unwrap();
    assert!(
        cov.export_gaps.is_empty(),
        "only files with windows are compared"
    );
}

// ---------------------------------------------------------------- the viewer

#[test]
fn viewer_loads_tickets_shows_the_status_facet_and_the_coverage() {
    use auditlens::app::{NoDialogs, egui};
    use common::viewer::wait_for;
    use egui_kittest::kittest::Queryable;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = || user("alice", Some("ADMIN"), Some("ADMIN"));
    let archive = archive_of(
        d,
        "viewer",
        &[
            label(1, at(0, 10, 0), alice(), "rag-answer", "production"),
            label(2, at(0, 12, 0), alice(), "rag-answer", "production"),
            label(3, at(0, 12, 5), alice(), "summarize", "production"),
            entry(
                4,
                at(0, 12, 6),
                user("v", Some("MEMBER"), Some("VIEWER")),
                "trace",
                "t",
                "delete",
            ),
        ],
    );
    let tickets = write(d, "jira.csv", JIRA_CSV);
    let mut h = common::viewer::open(archive, egui::vec2(1400.0, 900.0), NoDialogs);
    wait_for(&mut h, "open", |v| {
        v.state.index().is_some() && !v.state.busy()
    });
    // The coverage of the archive reached the timeline.
    let cov = h
        .state()
        .state
        .doc
        .as_ref()
        .and_then(|d| d.coverage.clone());
    assert_eq!(
        cov.expect("coverage read").runs[0].sources[0].entries,
        Some(4)
    );
    h.get_by_label_contains("Not authorized by the role (1)");

    h.get_by_label("Change tickets").click_accesskit();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Ticket file")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Ticket file")
        .type_text(tickets.to_str().unwrap());
    h.run_steps(2);
    h.get_by_label("Load tickets").click();
    wait_for(&mut h, "tickets", |v| {
        v.state
            .doc
            .as_ref()
            .and_then(|d| d.patterns.as_ref())
            .is_some_and(|p| p.reconciliation.is_some())
    });
    h.get_by_label("Approved changes (1)");
    h.get_by_label("Unapproved changes (1)");
    h.get_by_label("Mismatched changes (1)").click_accesskit();
    wait_for(&mut h, "facet", |v| {
        v.state.settled() && v.state.restrict.is_some()
    });
    assert_eq!(
        h.state().state.view.len(),
        1,
        "only the change after CHG-1's window"
    );
    h.get_by_label("1 of 4 entries");
}

/// Tickets are read on a worker: a ticket "file" that is a pipe nobody has
/// written to yet does not freeze the window; once it is written, the
/// tickets arrive and the changes are reconciled.
#[cfg(unix)]
#[test]
fn viewer_reads_tickets_without_blocking_the_window() {
    use auditlens::app::{NoDialogs, egui};
    use common::viewer::wait_for;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = || user("alice", Some("ADMIN"), Some("ADMIN"));
    let archive = archive_of(
        d,
        "pipe",
        &[label(1, at(0, 10, 0), alice(), "rag-answer", "production")],
    );
    let pipe = d.join("tickets.csv");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo is not available; skipped");
        return;
    }
    let mut h = common::viewer::open(archive, egui::vec2(1400.0, 900.0), NoDialogs);
    wait_for(&mut h, "open", |v| {
        v.state.index().is_some() && !v.state.busy()
    });
    h.state_mut()
        .state
        .load_tickets(&pipe, auditlens_core::tickets::Mapping::default());
    // Frames go on while the worker waits for a writer.
    h.run_steps(5);
    assert!(h.state().state.busy());
    let reconciled = |v: &auditlens::app::Viewer| {
        v.state
            .doc
            .as_ref()
            .and_then(|d| d.patterns.as_ref())
            .is_some_and(|p| p.reconciliation.is_some())
    };
    assert!(!reconciled(h.state()));
    std::fs::write(&pipe, JIRA_CSV).unwrap();
    wait_for(&mut h, "tickets", reconciled);
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
}

//! Each pattern to watch, on crafted entries: one that must be a hit and a
//! near miss that must not.

use auditlens_core::json::{self, Json};
use auditlens_core::model::{Actor, ActorType, Entry};
use auditlens_core::patterns::{Keep, Pattern, PatternSettings, ScanReport, Scanner};
use auditlens_core::record_view::RecordView;
use auditlens_core::time::Timestamp;

/// Monday 2025-01-06 at hh:mm UTC, plus `days`.
fn at(days: i64, hh: i64, mm: i64) -> Timestamp {
    Timestamp(1_736_121_600_000 + ((days * 24 + hh) * 60 + mm) * 60_000)
}

fn user(email: &str) -> Actor {
    Actor {
        actor_type: Some(ActorType::User),
        user_id: Some(format!("u-{email}")),
        email: Some(email.into()),
        ..Actor::default()
    }
}

fn key(id: &str) -> Actor {
    Actor {
        actor_type: Some(ActorType::ApiKey),
        api_key_id: Some(id.into()),
        api_key_name: Some(format!("{id}-name")),
        ..Actor::default()
    }
}

fn entry(n: u32, time: Timestamp, actor: Actor, rt: &str, action: &str) -> Entry {
    let mut e = Entry::new(&format!("e{n:05}"), time, rt, &format!("r{n}"), action);
    e.actor = actor;
    e
}

fn state(text: &str) -> Option<Json> {
    Some(json::parse(text.as_bytes()).unwrap())
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

#[test]
fn off_hours_respects_the_window_weekends_and_time_zone() {
    let a = || user("a@x.example");
    let entries = [
        entry(1, at(0, 9, 0), a(), "prompt", "update"), // Monday 09:00: in hours
        entry(2, at(0, 18, 59), a(), "prompt", "update"), // 18:59: still in hours
        entry(3, at(0, 19, 0), a(), "prompt", "update"), // 19:00: off hours
        entry(4, at(0, 6, 59), a(), "prompt", "update"), // 06:59: off hours
        entry(5, at(5, 12, 0), a(), "prompt", "update"), // Saturday noon
    ];
    let r = scan(&entries, PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::OffHours), vec![3, 4, 5]);
    // In UTC+02:00, 06:59 UTC is 08:59 (in hours) and 18:59 UTC is 20:59 (off).
    let plus2 = PatternSettings {
        utc_offset_minutes: 120,
        ..PatternSettings::default()
    };
    let r = scan(&entries, plus2);
    assert_eq!(seqs(&r, Pattern::OffHours), vec![2, 3, 5]);
}

#[test]
fn privilege_escalation_is_a_raised_role_or_a_powerful_new_membership() {
    let a = || user("admin@x.example");
    let mut e1 = entry(1, at(0, 10, 0), a(), "projectMembership", "update");
    e1.before = state(r#"{"role":"VIEWER","userId":"u1"}"#);
    e1.after = state(r#"{"role":"OWNER","userId":"u1"}"#);
    let mut e2 = entry(2, at(0, 10, 1), a(), "projectMembership", "update");
    e2.before = state(r#"{"role":"ADMIN","userId":"u2"}"#);
    e2.after = state(r#"{"role":"MEMBER","userId":"u2"}"#); // lowered: near miss
    let mut e3 = entry(3, at(0, 10, 2), a(), "orgMembership", "create");
    e3.after = state(r#"{"role":"ADMIN","userId":"u3"}"#);
    let mut e4 = entry(4, at(0, 10, 3), a(), "orgMembership", "create");
    e4.after = state(r#"{"role":"VIEWER","userId":"u4"}"#); // harmless new member
    let mut e5 = entry(5, at(0, 10, 4), a(), "prompt", "update");
    e5.before = state(r#"{"role":"VIEWER"}"#);
    e5.after = state(r#"{"role":"OWNER"}"#); // not a membership
    let r = scan(&[e1, e2, e3, e4, e5], PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::PrivilegeEscalation), vec![1, 3]);
    assert!(
        r.listed(Pattern::PrivilegeEscalation)[0]
            .reason
            .contains("VIEWER → OWNER")
    );
}

#[test]
fn api_keys_created_and_used_from_new_ips() {
    let a = || user("a@x.example");
    let with_ip = |mut e: Entry, ip: &str| {
        e.ip_address = Some(ip.into());
        e
    };
    let entries = [
        entry(1, at(0, 9, 0), a(), "apiKey", "create"),
        entry(2, at(0, 9, 1), a(), "apiKey", "update"), // not a creation
        with_ip(
            entry(3, at(0, 9, 2), key("k1"), "trace", "publish"),
            "10.0.0.1",
        ),
        with_ip(
            entry(4, at(0, 9, 3), key("k1"), "trace", "publish"),
            "10.0.0.1",
        ), // same IP
        with_ip(
            entry(5, at(0, 9, 4), key("k1"), "trace", "publish"),
            "10.9.9.9",
        ), // new IP
        with_ip(
            entry(6, at(0, 9, 5), key("k2"), "trace", "publish"),
            "10.9.9.9",
        ), // k2's first
        with_ip(
            entry(7, at(0, 9, 6), user("b@x.example"), "trace", "publish"),
            "10.7.7.7",
        ),
    ];
    let r = scan(&entries, PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::ApiKeyCreated), vec![1]);
    assert_eq!(seqs(&r, Pattern::ApiKeyNewIp), vec![3, 5, 6]);
    assert!(
        r.listed(Pattern::ApiKeyNewIp)[1]
            .reason
            .contains("before only from 10.0.0.1")
    );
    assert_eq!(seqs(&r, Pattern::AccessControl), vec![1]);
}

#[test]
fn bulk_deletes_and_exports_need_more_than_n_within_m_minutes_by_one_actor() {
    let settings = PatternSettings {
        bulk_count: 3,
        bulk_minutes: 10,
        ..PatternSettings::default()
    };
    let d = |n: u32, min: i64, who: &str| entry(n, at(0, 10, min), user(who), "trace", "delete");
    // Four deletes by one actor in 9 minutes: a burst. Three more spread out: not.
    // Four in 10 minutes by two actors: not.
    let entries = [
        d(1, 0, "a@x"),
        d(2, 3, "a@x"),
        d(3, 6, "a@x"),
        d(4, 9, "a@x"),
        d(5, 30, "a@x"),
        d(6, 41, "a@x"),
        d(7, 52, "a@x"),
        d(8, 60, "b@x"),
        d(9, 61, "c@x"),
        d(10, 62, "b@x"),
        d(11, 63, "c@x"),
    ];
    let r = scan(&entries, settings.clone());
    assert_eq!(seqs(&r, Pattern::BulkDeletes), vec![1, 2, 3, 4]);
    let x = |n: u32, min: i64| entry(n, at(0, 11, min), key("k9"), "batchExport", "create");
    let r = scan(&[x(1, 0), x(2, 1), x(3, 2)], settings.clone());
    assert!(seqs(&r, Pattern::BulkExports).is_empty());
    let r = scan(&[x(1, 0), x(2, 1), x(3, 2), x(4, 3), x(5, 4)], settings);
    assert_eq!(seqs(&r, Pattern::BulkExports), vec![1, 2, 3, 4, 5]);
}

#[test]
fn production_changes_are_promotions_to_protected_labels() {
    let a = || user("a@x.example");
    let mut e1 = entry(1, at(0, 9, 0), a(), "prompt", "promote");
    e1.after = state(r#"{"name":"qa","labels":["production","latest"],"version":7}"#);
    let mut e2 = entry(2, at(0, 9, 1), a(), "prompt", "setLabel");
    e2.after = state(r#"["staging"]"#); // not protected
    let mut e3 = entry(3, at(0, 9, 2), a(), "prompt", "setLabel");
    e3.after = state(r#""production""#);
    let mut e4 = entry(4, at(0, 9, 3), a(), "prompt", "update");
    e4.after = state(r#"{"labels":["production"]}"#); // an edit, not a promotion
    let entries = [e1, e2, e3, e4];
    let r = scan(&entries, PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::ProductionChange), vec![1, 3]);
    let staging = PatternSettings {
        protected_labels: vec!["staging".into()],
        ..PatternSettings::default()
    };
    assert_eq!(
        seqs(&scan(&entries, staging), Pattern::ProductionChange),
        vec![2]
    );
}

#[test]
fn access_control_changes_are_creations_and_deletions_of_access() {
    let a = || user("a@x.example");
    let entries = [
        entry(1, at(0, 9, 0), a(), "orgMembership", "delete"),
        entry(2, at(0, 9, 1), a(), "membershipInvitation", "create"),
        entry(3, at(0, 9, 2), a(), "apiKey", "delete"),
        entry(4, at(0, 9, 3), a(), "projectMembership", "update"), // role change: not here
        entry(5, at(0, 9, 4), a(), "llmApiKey", "create"),         // a provider key, not access
    ];
    let r = scan(&entries, PatternSettings::default());
    assert_eq!(seqs(&r, Pattern::AccessControl), vec![1, 2, 3]);
}

#[test]
fn the_sample_archive_shows_its_planted_patterns() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite");
    let archive = auditlens_core::archive::Archive::open(&path).unwrap();
    let r = auditlens_core::patterns::scan_archive(
        &archive,
        &PatternSettings::default(),
        Keep::EVERYTHING,
        &auditlens_core::job::Job::new(),
    )
    .unwrap();
    assert_eq!(r.entries, 3000);
    for p in [
        Pattern::OffHours,
        Pattern::PrivilegeEscalation,
        Pattern::BulkDeletes,
        Pattern::ApiKeyNewIp,
    ] {
        assert!(!r.listed(p).is_empty(), "{p:?}");
    }
    // The rogue key planted in the sample, used from an address no other key uses.
    assert!(
        r.listed(Pattern::ApiKeyNewIp)
            .iter()
            .any(|h| h.reason.contains("185.220.101.47")),
        "{:?}",
        r.listed(Pattern::ApiKeyNewIp)
    );
    // Every actor's recorded role grants the action but the two planted
    // (sample-data/README.md): carol, a MEMBER, making herself OWNER, which is
    // also the escalation; erin, a VIEWER, starting a batch export.
    let unauthorized: Vec<(u64, &str)> = r
        .listed(Pattern::NotAuthorized)
        .iter()
        .map(|h| (h.seq, h.reason.as_str()))
        .collect();
    assert_eq!(unauthorized.len(), 2, "{unauthorized:?}");
    assert_eq!(unauthorized[0].0, 1349);
    assert!(
        unauthorized[0]
            .1
            .starts_with("projectMembership update: MEMBER"),
        "{unauthorized:?}"
    );
    assert_eq!(unauthorized[1].0, 1651);
    assert!(
        unauthorized[1].1.starts_with("batchExport create: VIEWER"),
        "{unauthorized:?}"
    );
    let escalation = r.listed(Pattern::PrivilegeEscalation);
    assert!(
        escalation
            .iter()
            .any(|h| h.seq == 1349 && h.reason.ends_with("role MEMBER → OWNER")),
        "{escalation:?}"
    );
}

#[test]
fn scan_command_lists_the_same_hits_as_json() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(["scan", "--json", "--tz", "+01:00", "--bulk-count", "5"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"], 3000);
    // Written as it goes, yet the bytes of one serde_json document, as ever.
    assert_eq!(
        String::from_utf8(out.stdout.clone()).unwrap(),
        format!("{v}\n")
    );
    let archive = auditlens_core::archive::Archive::open(&path).unwrap();
    let settings = PatternSettings {
        utc_offset_minutes: 60,
        bulk_count: 5,
        ..PatternSettings::default()
    };
    let r = auditlens_core::patterns::scan_archive(
        &archive,
        &settings,
        Keep::EVERYTHING,
        &auditlens_core::job::Job::new(),
    )
    .unwrap();
    let patterns = v["patterns"].as_array().unwrap();
    assert_eq!(patterns.len(), Pattern::ALL.len());
    for (p, j) in Pattern::ALL.iter().zip(patterns) {
        assert_eq!(j["name"], p.as_str());
        let listed: Vec<u64> = j["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(listed, seqs(&r, *p), "{p:?}");
    }
    // A bad option is a one-line error, exit 2.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(["scan", "--work-hours", "18-8"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--work-hours"));
}

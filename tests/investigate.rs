//! The viewer's investigation features on the sample archive: pattern quick
//! filters, case notes (bookmarks, tags, notes) and their sidecar file, the
//! actor view, the activity timeline and the report button.

mod common;

use std::path::{Path, PathBuf};

use auditlens::app::egui;
use auditlens::app::panels::timeline::Histogram;
use auditlens::app::rows::read_entry;
use auditlens::app::{NoDialogs, Viewer};
use auditlens_core::archive::Archive;
use auditlens_core::case::{CaseFile, case_path};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::patterns::{Keep, Pattern, PatternSettings, scan_archive};
use common::viewer::wait_for;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn sample_copy(dir: &Path) -> PathBuf {
    let p = dir.join("audit.sqlite");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite"),
        &p,
    )
    .unwrap();
    p
}

/// The viewer as eframe runs it (`App::logic`, then `App::ui`, each frame).
fn harness(path: &Path) -> Harness<'static, Viewer> {
    common::viewer::open(path.to_path_buf(), egui::vec2(1400.0, 900.0), NoDialogs)
}

fn ready(v: &Viewer) -> bool {
    v.state.settled()
        && v.state
            .doc
            .as_ref()
            .is_some_and(|d| d.patterns.is_some() && d.search.is_some())
}

fn shown_seqs(v: &Viewer) -> Vec<u64> {
    let mut s: Vec<u64> = (0..v.state.view.len())
        .filter_map(|r| v.state.seq_at(r))
        .collect();
    s.sort_unstable();
    s
}

#[test]
fn a_pattern_button_shows_exactly_its_hits() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let want = scan_archive(
        &Archive::open(&archive).unwrap(),
        &PatternSettings::default(),
        Keep::EVERYTHING,
        &Job::new(),
    )
    .unwrap();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);
    let hits: Vec<u64> = want
        .listed(Pattern::PrivilegeEscalation)
        .iter()
        .map(|x| x.seq)
        .collect();
    h.get_by_label(&format!("Privilege escalation ({})", hits.len()))
        .click();
    wait_for(&mut h, "restricted", |v| {
        v.state.settled() && v.state.restrict.is_some()
    });
    assert_eq!(shown_seqs(h.state()), hits);
    h.get_by_label_contains("Showing only: Privilege escalation");
    // Together with the filter: only the hits that also match it.
    // (The sample's escalations are organisation and project memberships.)
    h.state_mut()
        .state
        .filter
        .resource_types
        .insert("projectMembership".into());
    wait_for(&mut h, "refiltered", |v| v.state.settled());
    let in_projects: Vec<u64> = {
        let a = Archive::open(&archive).unwrap();
        hits.iter()
            .copied()
            .filter(|s| read_entry(&a, *s).unwrap().entry.resource_type == "projectMembership")
            .collect()
    };
    assert!(!in_projects.is_empty() && in_projects.len() < hits.len());
    assert_eq!(shown_seqs(h.state()), in_projects);
    h.get_by_label("Show all").click();
    wait_for(&mut h, "all again", |v| {
        v.state.settled() && v.state.restrict.is_none()
    });
}

#[test]
fn bookmarks_tags_and_notes_live_beside_the_archive_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let before = std::fs::read(&archive).unwrap();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);
    h.state_mut().state.select_seq(1500);
    wait_for(&mut h, "selected", |v| {
        v.state.settled() && v.state.selected == Some(1500)
    });
    h.get_by_label("Bookmark").click();
    h.run_steps(3);
    h.get_by_label("Bookmarked");
    h.state_mut().state.edit_mark(1500, "ignored", |m| {
        m.tags = vec!["offboarding".into()];
        m.note = "raised at night".into();
    });
    // Case files are saved on a worker.
    wait_for(&mut h, "saved", |v| !v.state.busy());
    let case = CaseFile::load(&case_path(&archive), Archive::open(&archive).unwrap().id()).unwrap();
    let m = case.mark(1500).unwrap();
    assert!(m.bookmarked);
    assert_eq!(m.tags, vec!["offboarding".to_string()]);
    assert_eq!(m.note, "raised at night");
    h.get_by_label("Bookmarked only (1)").click();
    wait_for(&mut h, "bookmarks only", |v| {
        v.state.settled() && v.state.restrict.is_some()
    });
    assert_eq!(shown_seqs(h.state()), vec![1500]);
    drop(h);
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        before,
        "the archive was written to"
    );

    // Reopened: the notes are back.
    let mut h = harness(&archive);
    wait_for(&mut h, "reopen", ready);
    let m = h.state().state.mark(1500).cloned().unwrap();
    assert!(m.bookmarked);
    assert_eq!(m.note, "raised at night");
    h.get_by_label("Bookmarked only (1)");
}

#[test]
fn all_by_this_actor_shows_everything_they_did_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);
    h.state_mut().state.select_seq(1500);
    wait_for(&mut h, "selected", |v| {
        v.state.settled() && v.state.selected == Some(1500)
    });
    h.get_by_label("All by this actor").click();
    wait_for(&mut h, "actor view", |v| {
        v.state.settled() && !v.state.filter.actor.is_empty()
    });
    let a = Archive::open(&archive).unwrap();
    let actor = read_entry(&a, 1500).unwrap().entry.actor;
    let filter = Filter {
        actor: Some(actor.key().to_string()),
        ..Filter::default()
    };
    let n = (1..=3000u64)
        .filter(|s| filter.matches(&read_entry(&a, *s).unwrap().entry))
        .count();
    assert_eq!(h.state().state.view.len(), n);
    h.get_by_label_contains(&format!("Activity of {}", actor.key()));
    h.get_by_label_contains(&format!("{n} entries · first seen"));
}

#[test]
fn timeline_counts_every_shown_entry_once_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let ix = auditlens_core::row_index::Index::load(&archive, &Job::new()).unwrap();
    let all: Vec<u32> = (0..ix.len() as u32).collect();
    let h = Histogram::of(&ix, &all, 50);
    assert_eq!(h.counts.len(), 50);
    let total: u32 = h.counts.iter().map(|c| c.iter().sum::<u32>()).sum();
    assert_eq!(total as usize, ix.len());
    let deletes: u32 = h.counts.iter().map(|c| c[2]).sum();
    // The deletes, counted from the hashed records.
    let a = Archive::open(&archive).unwrap();
    let mut n = 0u32;
    a.for_each_record(|_, r| {
        n += u32::from(auditlens_core::archive::parse_record(r).unwrap().action == "delete")
    })
    .unwrap();
    assert_eq!(deletes, n);
    // The first bucket starts at the oldest entry, and the newest falls in the last.
    let (min, max) = ix.time_span().unwrap();
    assert_eq!(h.from, min);
    assert_eq!(((max - h.from) / h.bucket_ms) as usize, 49);
}

#[test]
fn report_button_writes_the_report_beside_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);
    h.state_mut().state.edit_mark(7, "x", |m| {
        m.bookmarked = true;
        m.note = "first admin grant".into();
    });
    h.get_by_label("Report…").click();
    wait_for(&mut h, "report", |v| {
        v.state
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("report written"))
    });
    let html = std::fs::read_to_string(dir.path().join("audit.sqlite.report.html")).unwrap();
    assert!(html.contains("INTACT") && html.contains("first admin grant"));
    let twin: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("audit.sqlite.report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(twin["case"]["bookmarks"][0]["seq"], 7);
}

#[test]
fn new_thresholds_scan_again() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let settings = PatternSettings {
        bulk_count: 5,
        work_start_hour: 9,
        work_end_hour: 17,
        ..PatternSettings::default()
    };
    let want = scan_archive(
        &Archive::open(&archive).unwrap(),
        &settings,
        Keep::listed(0),
        &Job::new(),
    )
    .unwrap();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);
    h.state_mut().state.set_pattern_settings(settings);
    wait_for(&mut h, "rescan", ready);
    for p in [Pattern::OffHours, Pattern::BulkDeletes] {
        let n = want.count(p);
        h.get_by_label(&format!("{} ({n})", p.title()));
    }
}

/// Hostile content: bidi overrides, ANSI escapes, zero-width characters and
/// a 1 MB value are shown escaped and cut, never raw.
#[test]
fn hostile_text_is_shown_escaped_and_cut() {
    use auditlens_core::json;
    use auditlens_core::model::{Actor, ActorType, Entry};
    use auditlens_core::time::Timestamp;
    let dir = tempfile::tempdir().unwrap();
    let mut e = Entry::new(
        "chostile00000000000000001",
        Timestamp::parse("2025-03-01T09:00:00.000Z").unwrap(),
        "prompt",
        "evil\u{202E}gpj.exe\u{200B}",
        "update",
    );
    e.actor = Actor {
        actor_type: Some(ActorType::User),
        user_id: Some("\u{1b}[2Jmallory".into()),
        ..Actor::default()
    };
    e.org_id = Some("o1".into());
    let big = "A".repeat(1 << 20);
    e.before = Some(json::parse(br#"{"v":1}"#).unwrap());
    e.after = Some(json::Json::Object(
        [("v".to_string(), json::Json::String(big))]
            .into_iter()
            .collect(),
    ));
    let jsonl = dir.path().join("hostile.jsonl");
    common::write_platform_jsonl(&jsonl, &[e]);
    let archive = dir.path().join("hostile.sqlite");
    common::ingest_files(&archive, &[jsonl]);
    let mut h = harness(&archive);
    wait_for(&mut h, "open", |v| v.state.settled());
    h.state_mut().state.select_seq(1);
    wait_for(&mut h, "selected", |v| {
        v.state.settled() && v.state.detail.is_some()
    });
    h.run_steps(3);
    // In the table and in the detail pane.
    assert!(h.query_all_by_label("evil⟨U+202E⟩gpj.exe⟨U+200B⟩").count() >= 2);
    assert!(h.query_all_by_label_contains("⟨U+001B⟩[2Jmallory").count() >= 1);
    assert!(h.query_all_by_label_contains("more characters)").count() >= 1);
    assert!(h.query_by_label_contains("\u{202E}").is_none());
    assert!(h.query_by_label_contains("\u{1b}").is_none());
}

/// The actor summary's actions and IP addresses are those of the actor's
/// entries, counted here from the hashed records.
#[test]
fn actor_summary_counts_the_actors_actions_and_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let archive = sample_copy(dir.path());
    let a = Archive::open(&archive).unwrap();
    // The actor of the most entries, so that the lists are long.
    let mut by_actor: std::collections::HashMap<String, Vec<auditlens_core::model::Entry>> =
        Default::default();
    for seq in 1..=a.count().unwrap() {
        let e = read_entry(&a, seq).unwrap().entry;
        by_actor
            .entry(e.actor.key().to_string())
            .or_default()
            .push(e);
    }
    let (key, entries) = by_actor.into_iter().max_by_key(|(_, v)| v.len()).unwrap();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);
    h.state_mut().state.filter.actor = key.clone();
    wait_for(&mut h, "actor view", |v| {
        v.state.settled() && v.state.view.len() == entries.len()
    });
    let mut actions = std::collections::BTreeMap::<&str, usize>::new();
    for e in &entries {
        *actions.entry(e.action.as_str()).or_default() += 1;
    }
    let listed: Vec<String> = actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
    h.get_by_label(&format!("Actions: {}", listed.join(", ")));
    let ips: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.ip_address.as_deref())
        .filter(|ip| !ip.is_empty())
        .collect();
    let shown: Vec<&str> = ips.iter().take(12).copied().collect();
    let more = ips.len().saturating_sub(12);
    let want = match (shown.is_empty(), more) {
        (true, _) => "none".to_string(),
        (false, 0) => shown.join(", "),
        (false, m) => format!("{} (+{m} more)", shown.join(", ")),
    };
    h.get_by_label(&format!("IP addresses: {want}"));
}

//! GUI flows driven through egui_kittest (no display, no GPU).

mod common;

use std::path::{Path, PathBuf};

use auditlens::app::egui;
use auditlens::app::rows::read_entry;
use auditlens::app::{NoDialogs, Viewer};
use auditlens_core::filter::Filter;
use auditlens_core::ingest::{IngestOptions, ingest};
use auditlens_core::job::Job;
use common::viewer::wait_for;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// A small platform-style export: 12 entries over three days, two users and
/// one API key, two projects, one update with nested before/after.
/// id, time, actor kind, project, resourceType, resourceId, action, before, after
type TestRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn platform_jsonl() -> String {
    let mut lines = Vec::new();
    let rows: [TestRow; 12] = [
        // id, time, actor kind, project, resourceType, resourceId, action, before, after
        (
            "e01",
            "2025-03-01T09:00:00.000Z",
            "alice",
            "p1",
            "prompt",
            "prompt-a",
            "create",
            "",
            r#"{"name":"greeter","temperature":0.2}"#,
        ),
        (
            "e02",
            "2025-03-01T10:00:00.000Z",
            "bob",
            "p1",
            "dataset",
            "ds-1",
            "create",
            "",
            r#"{"name":"golden"}"#,
        ),
        (
            "e03",
            "2025-03-01T11:00:00.000Z",
            "key",
            "p2",
            "trace",
            "trx-9",
            "delete",
            r#"{"id":"trx-9"}"#,
            "",
        ),
        (
            "e04",
            "2025-03-02T09:30:00.000Z",
            "alice",
            "p1",
            "prompt",
            "prompt-a",
            "update",
            r#"{"name":"greeter","config":{"temperature":0.2,"model":"m-1"},"labels":["a","b"]}"#,
            r#"{"name":"greeter","config":{"temperature":0.7,"model":"m-1"},"labels":["a","b","production"]}"#,
        ),
        (
            "e05",
            "2025-03-02T12:00:00.000Z",
            "bob",
            "p2",
            "apiKey",
            "key-77",
            "create",
            "",
            r#"{"note":"ci key"}"#,
        ),
        (
            "e06",
            "2025-03-02T13:00:00.000Z",
            "alice",
            "p2",
            "prompt",
            "prompt-b",
            "setLabel",
            r#""staging""#,
            r#""production""#,
        ),
        (
            "e07",
            "2025-03-03T08:00:00.000Z",
            "key",
            "p1",
            "score",
            "score-1",
            "create",
            "",
            r#"{"value":1}"#,
        ),
        (
            "e08",
            "2025-03-03T09:00:00.000Z",
            "alice",
            "p1",
            "dataset",
            "ds-1",
            "delete",
            r#"{"name":"golden"}"#,
            "",
        ),
        (
            "e09",
            "2025-03-03T10:00:00.000Z",
            "bob",
            "p1",
            "prompt",
            "prompt-c",
            "create",
            "",
            r#"{"name":"summariser"}"#,
        ),
        (
            "e10",
            "2025-03-03T11:00:00.000Z",
            "bob",
            "p2",
            "projectMembership",
            "m-1",
            "update",
            r#"{"role":"VIEWER"}"#,
            r#"{"role":"ADMIN"}"#,
        ),
        (
            "e11",
            "2025-03-03T12:00:00.000Z",
            "key",
            "p2",
            "trace",
            "tr-2",
            "bookmark",
            "",
            "true",
        ),
        (
            "e12",
            "2025-03-03T13:00:00.000Z",
            "alice",
            "p1",
            "comment",
            "c-1",
            "create",
            "",
            r#"{"text":"looks good"}"#,
        ),
    ];
    for (id, t, who, project, rtype, rid, action, before, after) in rows {
        let mut m = serde_json::Map::new();
        let s = |v: &str| serde_json::Value::String(v.to_string());
        m.insert("id".into(), s(id));
        m.insert("createdAt".into(), s(t));
        m.insert("updatedAt".into(), s(t));
        m.insert("orgId".into(), s("org-1"));
        m.insert("orgName".into(), s("Acme"));
        m.insert("projectId".into(), s(project));
        m.insert(
            "projectName".into(),
            s(if project == "p1" {
                "Support bot"
            } else {
                "Search"
            }),
        );
        m.insert("resourceType".into(), s(rtype));
        m.insert("resourceId".into(), s(rid));
        m.insert("action".into(), s(action));
        m.insert(
            "before".into(),
            if before.is_empty() {
                serde_json::Value::Null
            } else {
                s(before)
            },
        );
        m.insert(
            "after".into(),
            if after.is_empty() {
                serde_json::Value::Null
            } else {
                s(after)
            },
        );
        match who {
            "key" => {
                m.insert("type".into(), s("API_KEY"));
                m.insert("apiKeyId".into(), s("ak-1"));
                m.insert("apiKeyName".into(), s("ci-pipeline"));
                m.insert("userId".into(), serde_json::Value::Null);
            }
            user => {
                m.insert("type".into(), s("USER"));
                m.insert("userId".into(), s(&format!("u-{user}")));
                m.insert("userEmail".into(), s(&format!("{user}@example.com")));
                m.insert("userOrgRole".into(), s("ADMIN"));
                m.insert("userProjectRole".into(), s("OWNER"));
                m.insert("apiKeyId".into(), serde_json::Value::Null);
            }
        }
        m.insert(
            "ipAddress".into(),
            s(if who == "bob" {
                "10.0.0.2"
            } else {
                "203.0.113.7"
            }),
        );
        m.insert("userAgent".into(), s("Mozilla/5.0"));
        lines.push(serde_json::Value::Object(m).to_string());
    }
    lines.join("\n") + "\n"
}

fn make_archive(dir: &Path) -> PathBuf {
    let src = dir.join("export.jsonl");
    std::fs::write(&src, platform_jsonl()).unwrap();
    let archive = dir.join("audit.sqlite");
    ingest(&archive, &[src], &IngestOptions::default(), &Job::new()).expect("ingest");
    archive
}

fn tamper(archive: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("tampered.sqlite");
    std::fs::copy(archive, &out).unwrap();
    let conn = rusqlite::Connection::open(&out).unwrap();
    conn.execute_batch("DROP TRIGGER entries_no_update")
        .unwrap();
    let n = conn
        .execute(
            "UPDATE entries SET record = replace(record, 'x', 'y') WHERE seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    out
}

/// The viewer as eframe runs it (`App::logic`, then `App::ui`, each frame),
/// with the file given on the command line.
fn harness(path: &Path) -> Harness<'static, Viewer> {
    harness_sized(path, egui::vec2(1400.0, 900.0))
}

fn harness_sized(path: &Path, size: egui::Vec2) -> Harness<'static, Viewer> {
    common::viewer::open(path.to_path_buf(), size, NoDialogs)
}

fn loaded_and_verified(v: &Viewer) -> bool {
    v.state.index().is_some() && !v.state.busy()
}

#[test]
fn intact_archive_shows_intact_banner() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let before = std::fs::read(&archive).unwrap();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", loaded_and_verified);
    h.get_by_label_contains("INTACT: 12 entries verified");
    h.get_by_label("12 of 12 entries");
    assert!(h.query_by_label_contains("TAMPERED").is_none());
    // Status bar: read-only and the file's SHA-256.
    h.get_by_label("read-only");
    let sha = auditlens_core::digest::file_sha256(&archive).unwrap();
    assert!(h.state().state.doc.as_ref().unwrap().sha256.as_deref() == Some(sha.as_str()));
    drop(h);
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        before,
        "opening must not change the archive"
    );
}

#[test]
fn tampered_archive_banner_and_finding_jump() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let tampered = tamper(&archive, dir.path());
    let mut h = harness(&tampered);
    wait_for(&mut h, "open", loaded_and_verified);
    h.get_by_label_contains("TAMPERED: ");
    assert!(h.query_by_label_contains("INTACT").is_none());
    // Narrow the view first so the jump has to clear the filter.
    h.state_mut().state.filter.search = "alice".into();
    wait_for(&mut h, "filter", |v| {
        v.state.settled() && v.state.view.len() == 5
    });
    assert!(h.state().state.row_of_seq(3).is_none());
    h.get_by_label_contains("record_modified at seq 3").click();
    wait_for(&mut h, "jump", |v| {
        v.state.settled() && v.state.selected == Some(3)
    });
    let s = &h.state().state;
    assert_eq!(s.selected, Some(3));
    assert_eq!(s.seq_at(s.selected_row.unwrap()), Some(3));
    assert!(s.doc.as_ref().unwrap().finding_seqs.contains(&3));
    // The detail pane shows the damaged entry and its finding.
    h.get_by_label_contains("Finding: record_modified");
}

fn expected_count(archive: &Path, f: &Filter) -> usize {
    let a = auditlens_core::archive::Archive::open(archive).unwrap();
    (1..=a.count().unwrap())
        .filter(|&s| f.matches(&read_entry(&a, s).unwrap().entry))
        .count()
}

#[test]
fn typing_a_filter_changes_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", loaded_and_verified);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .type_text("production");
    wait_for(&mut h, "filter", |v| {
        v.state.settled() && v.state.filter.search == "production"
    });
    let f = Filter {
        search: Some("production".into()),
        ..Default::default()
    };
    let want = expected_count(&archive, &f);
    assert_eq!(
        want, 2,
        "the update of e04 and the setLabel of e06 mention production"
    );
    h.get_by_label(&format!("{want} of 12 entries"));

    // A facet on top: only the "prompt" resource type, and the Esc key clears the search.
    // The left panel scrolls, and the facet may be below its fold: click
    // it as assistive technology does, wherever it is.
    h.get_by_label_contains("Prompt (").click_accesskit();
    wait_for(&mut h, "facet", |v| {
        v.state.settled() && !v.state.filter.resource_types.is_empty()
    });
    let f = Filter {
        search: Some("production".into()),
        resource_types: vec!["prompt".into()],
        ..Default::default()
    };
    h.get_by_label(&format!("{} of 12 entries", expected_count(&archive, &f)));
    h.key_press(egui::Key::Escape);
    wait_for(&mut h, "esc", |v| {
        v.state.settled() && v.state.filter.search.is_empty()
    });
    let f = Filter {
        resource_types: vec!["prompt".into()],
        ..Default::default()
    };
    h.get_by_label(&format!("{} of 12 entries", expected_count(&archive, &f)));
}

#[test]
fn index_filter_agrees_with_core_filter() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let ix = auditlens_core::row_index::Index::load(&archive, &Job::new()).unwrap();
    let filters = [
        Filter {
            actions: vec!["create".into()],
            ..Default::default()
        },
        Filter {
            resource_types: vec!["API Key".into(), "trace".into()],
            ..Default::default()
        },
        Filter {
            projects: vec!["p2".into()],
            actor_type: Some(auditlens_core::model::ActorType::ApiKey),
            ..Default::default()
        },
        Filter {
            from: Some(auditlens_core::time::Timestamp::parse("2025-03-02T00:00:00Z").unwrap()),
            to: Some(auditlens_core::time::Timestamp::parse("2025-03-03T09:00:00Z").unwrap()),
            ..Default::default()
        },
        Filter {
            actor: Some("ALICE@example.com".into()),
            ..Default::default()
        },
        Filter {
            search: Some("10.0.0.2".into()),
            ..Default::default()
        },
        Filter {
            search: Some("\"role\":\"admin\"".into()),
            ..Default::default()
        },
        Filter {
            search: Some("temperature".into()),
            actions: vec!["update".into()],
            ..Default::default()
        },
    ];
    for f in filters {
        let mut got = ix.candidates(&f);
        if auditlens_core::row_index::needs_records(&f) {
            got = auditlens_core::row_index::refine_with_records(
                &ix,
                &archive,
                &got,
                &f,
                &Job::new(),
            )
            .unwrap();
        }
        let got: Vec<u64> = got.iter().map(|&p| ix.seq(p as usize)).collect();
        let a = auditlens_core::archive::Archive::open(&archive).unwrap();
        let want: Vec<u64> = (1..=12)
            .filter(|&s| f.matches(&read_entry(&a, s).unwrap().entry))
            .collect();
        assert_eq!(got, want, "filter {f:?}");
    }
}

#[test]
fn selecting_an_update_shows_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", loaded_and_verified);
    // e04 is the 4th entry; click its row via its time cell.
    h.get_by_label("2025-03-02 09:30:00.000").click();
    // The entry is read on a worker: settled once it is in.
    wait_for(&mut h, "select", |v| {
        v.state.selected.is_some() && v.state.settled()
    });
    assert_eq!(h.state().state.selected, Some(4));
    h.get_by_label("config.temperature: 0.2 → 0.7");
    h.get_by_label("labels[2]: (absent) → \"production\"");
    h.get_by_label("Changes (2)");
    // Keyboard: ArrowDown moves to e05, Ctrl+C copies it as JSON.
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(2);
    assert_eq!(h.state().state.selected, Some(5));
    wait_for(&mut h, "read", |v| v.state.settled());
    let json = h.state_mut().state.selected_json().unwrap();
    assert!(
        json.contains("\"seq\": 5") && json.contains("e05"),
        "{json}"
    );
    // A non-object state: "staging" → "production".
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(2);
    wait_for(&mut h, "read", |v| v.state.settled());
    h.get_by_label("(value): \"staging\" → \"production\"");
}

#[test]
fn export_writes_exactly_the_filtered_entries() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", loaded_and_verified);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .type_text("bob");
    wait_for(&mut h, "filter", |v| {
        v.state.settled() && v.state.filter.search == "bob"
    });
    let shown: Vec<u64> = {
        let s = &h.state().state;
        (0..s.view.len()).map(|r| s.seq_at(r).unwrap()).collect()
    };
    assert_eq!(shown, vec![2, 5, 9, 10]);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.run_steps(2);
    let out = dir.path().join("bob.ndjson");
    h.get_by_label("NDJSON").click();
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Save to")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Save to")
        .type_text(out.to_str().unwrap());
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
        .click();
    wait_for(&mut h, "export", |v| v.state.last_export.is_some());
    h.get_by_label_contains("Exported 4 entries");
    let text = std::fs::read_to_string(&out).unwrap();
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("seq").and_then(|s| s.as_u64()))
        .collect();
    assert_eq!(seqs, shown);
    // The export verifies on its own.
    let r = auditlens_core::verify::verify_file(&out, None, &Job::new()).unwrap();
    assert_eq!(
        r.status(),
        auditlens_core::verify::Status::Intact,
        "{:?}",
        r.findings
    );
}

#[test]
fn raw_export_opens_unsealed_and_bad_file_shows_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("export.jsonl");
    std::fs::write(&src, platform_jsonl()).unwrap();
    let mut h = harness(&src);
    wait_for(&mut h, "open", loaded_and_verified);
    h.get_by_label_contains("UNSEALED: a platform export carries no hash chain");
    h.get_by_label("12 of 12 entries");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{ this is not json").unwrap();
    h.state_mut().state.open(bad);
    wait_for(&mut h, "error", |v| v.state.error.is_some());
    h.get_by_label("Cannot do that");
    h.get_by_label("OK").click();
    h.run_steps(2);
    assert!(h.state().state.error.is_none());
}

#[test]
fn signed_subset_export_banner_names_its_checkpoint_and_signer() {
    use auditlens_core::archive::Archive;
    use auditlens_core::export::{ExportFormat, export_with};
    use auditlens_core::note::SignerKey;
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let key = SignerKey::from_seed("auditor.example", &[3; 32]).unwrap();
    let out = dir.path().join("subset.ndjson");
    let a = Archive::open(&archive).unwrap();
    let id = a.id();
    export_with(
        &a,
        &Filter::default(),
        Some(&[2, 5, 9]),
        ExportFormat::Ndjson,
        &auditlens_core::output::Destination::new(&out),
        Some(&key),
        &Job::new(),
    )
    .unwrap();
    let mut h = harness(&out);
    wait_for(&mut h, "open", loaded_and_verified);
    h.get_by_label_contains(&format!(
        "subset: 3 entries proven against the checkpoint of archive {id} (size 12)"
    ));
    h.get_by_label_contains(
        "the export's checkpoint is signed by auditor.example, not checked: no verifier key given",
    );

    // A key that did not sign it: not proven, and the banner says so.
    let stranger = SignerKey::from_seed("someone.else", &[4; 32]).unwrap();
    let stranger_pub = dir.path().join("stranger.pub");
    std::fs::write(&stranger_pub, stranger.verifier().to_text()).unwrap();
    h.state_mut().state.add_verifier_key(&stranger_pub);
    wait_for(&mut h, "verify again", loaded_and_verified);
    h.get_by_label_contains(
        "the export's checkpoint is signed by auditor.example, NOT by any key given",
    );
    h.get_by_label_contains("TAMPERED");

    // The signer's key: the signature verifies, and the key is remembered.
    let signer_pub = dir.path().join("auditor.pub");
    std::fs::write(&signer_pub, key.verifier().to_text()).unwrap();
    h.state_mut().state.add_verifier_key(&signer_pub);
    wait_for(&mut h, "verify again", loaded_and_verified);
    h.get_by_label_contains("the signature by auditor.example verified");
    h.get_by_label_contains("INTACT");
    assert_eq!(h.state().state.settings.verifier_keys.len(), 2);
}

/// The free-text index answers exactly what the core's `Filter::matches`
/// answers, for needles cut from every part of the search text (fields,
/// keys, values, JSON runs, timestamps, ids), upper case included.
#[test]
fn text_index_agrees_with_core_filter() {
    use auditlens_core::filter::search_text;
    use auditlens_core::text_search::{SearchIndex, supports};
    let dir = tempfile::tempdir().unwrap();
    let made = make_archive(dir.path());
    let tampered = tamper(&made, dir.path());
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite");
    for archive in [made, tampered, sample] {
        let ix = auditlens_core::row_index::Index::load(&archive, &Job::new()).unwrap();
        let si = SearchIndex::build(&archive, &ix, &Job::new()).unwrap();
        assert_eq!(si.len(), ix.len());
        let a = auditlens_core::archive::Archive::open(&archive).unwrap();
        let entries: Vec<_> = (0..ix.len())
            .map(|p| read_entry(&a, ix.seq(p)).unwrap().entry)
            .collect();
        let texts: Vec<String> = entries.iter().map(search_text).collect();
        // Needles: slices of each text at several offsets and lengths.
        let mut needles = std::collections::BTreeSet::new();
        for (i, t) in texts.iter().enumerate().step_by(1 + texts.len() / 40) {
            let chars: Vec<char> = t.chars().collect();
            for len in [1, 2, 3, 5, 8, 13, 24] {
                for start in (i % 7..chars.len()).step_by(29) {
                    let s: String = chars[start..(start + len).min(chars.len())]
                        .iter()
                        .collect();
                    needles.insert(s);
                }
            }
        }
        for extra in [
            "PRODUCTION",
            "Alice",
            "T09:",
            ".000z",
            "2025-03",
            "true",
            "zzzz",
        ] {
            needles.insert(extra.to_string());
        }
        let all: Vec<u32> = (0..ix.len() as u32).collect();
        let mut checked = 0;
        for needle in &needles {
            let lower = needle.to_lowercase();
            if !supports(&lower) {
                continue;
            }
            let got = si.filter(&lower, &all);
            let want: Vec<u32> = all
                .iter()
                .copied()
                .filter(|&p| texts[p as usize].contains(&lower))
                .collect();
            assert_eq!(got, want, "needle {needle:?} in {}", archive.display());
            // A few candidates (narrowing, facets) take the sparse path.
            let some: Vec<u32> = all.iter().copied().step_by(9).collect();
            let want: Vec<u32> = want.into_iter().filter(|p| p % 9 == 0).collect();
            assert_eq!(si.filter(&lower, &some), want, "sparse {needle:?}");
            checked += 1;
        }
        assert!(checked > 50, "only {checked} needles checked");
        // And through the core filter itself, for a few.
        for needle in ["production", "ALICE", "0.2", "t10:00"] {
            let f = Filter {
                search: Some(needle.into()),
                ..Default::default()
            };
            let want: Vec<u32> = all
                .iter()
                .copied()
                .filter(|&p| f.matches(&entries[p as usize]))
                .collect();
            assert_eq!(si.filter(&needle.to_lowercase(), &all), want, "{needle}");
        }
    }
}

fn sample_archive() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/audit-sample.sqlite")
}

/// The first page comes from a prefix of the index (oldest or newest entries).
#[test]
fn prefix_index_holds_the_first_or_last_entries() {
    use auditlens_core::row_index::Index;
    let archive = sample_archive();
    let first = Index::load_prefix(&archive, 100, false, &Job::new()).unwrap();
    assert!(!first.complete);
    assert_eq!(first.total, 3000);
    let seqs: Vec<u64> = (0..first.len()).map(|p| first.seq(p)).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    let last = Index::load_prefix(&archive, 100, true, &Job::new()).unwrap();
    let seqs: Vec<u64> = (0..last.len()).map(|p| last.seq(p)).collect();
    assert_eq!(seqs, (2901..=3000).collect::<Vec<_>>());
    assert!(
        Index::load_prefix(&archive, 5000, false, &Job::new())
            .unwrap()
            .complete
    );
}

/// On the 3,000-entry sample (larger than the first page): the table shows
/// rows before the whole index is in, then filters; project names in the
/// facet list; search through the text index; sorting by Resource.
#[test]
fn sample_archive_search_facets_and_resource_sort() {
    let archive = sample_archive();
    let mut h = harness(&archive);
    wait_for(&mut h, "first page", |v| {
        v.state.index().is_some() && !v.state.view.is_empty()
    });
    if let Some(ix) = h.state().state.index().cloned()
        && !ix.complete
    {
        assert_eq!(h.state().state.view.len(), ix.len());
        h.get_by_label_contains("3,000 entries; showing");
    }
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.settled()
    });
    h.get_by_label("3,000 of 3,000 entries");
    assert!(h.state().state.doc.as_ref().unwrap().search.is_some());

    // Project facet: the name, with the count of entries of that project id.
    let f = Filter {
        projects: vec!["clprjacmeprod00000000001".into()],
        ..Default::default()
    };
    let n = expected_count(&archive, &f);
    assert!(n > 0);
    h.get_by_label(&format!(
        "support-bot-prod ({})",
        auditlens::app::panels::thousands(n as u64)
    ))
    .click();
    wait_for(&mut h, "facet", |v| {
        v.state.settled() && !v.state.filter.projects.is_empty()
    });
    h.get_by_label(&format!(
        "{} of 3,000 entries",
        auditlens::app::panels::thousands(n as u64)
    ));

    // Free text on top, typed.
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .type_text("Safari");
    wait_for(&mut h, "search", |v| {
        v.state.settled() && v.state.filter.search == "Safari"
    });
    let f = Filter {
        projects: vec!["clprjacmeprod00000000001".into()],
        search: Some("Safari".into()),
        ..Default::default()
    };
    let want = expected_count(&archive, &f);
    assert!(want > 0 && want < n, "{want} of {n}");
    assert_eq!(h.state().state.view.len(), want);
    // Typing on narrows the last result; each count against the core filter.
    for needle in ["Safari/", "Safari/6", "Safari/605", "Safari/605.1.15"] {
        h.state_mut().state.filter.search = needle.into();
        wait_for(&mut h, "narrowed", |v| v.state.settled());
        let f = Filter {
            projects: vec!["clprjacmeprod00000000001".into()],
            search: Some(needle.into()),
            ..Default::default()
        };
        assert_eq!(
            h.state().state.view.len(),
            expected_count(&archive, &f),
            "{needle}"
        );
    }
    h.state_mut().state.filter.search = "Safari".into();
    wait_for(&mut h, "widened", |v| v.state.settled());
    assert_eq!(h.state().state.view.len(), want);
    h.key_press(egui::Key::Escape);
    h.state_mut().state.filter = Default::default();
    wait_for(&mut h, "cleared", |v| {
        v.state.settled() && v.state.view.len() == 3000
    });

    // Sort by the Resource column: labels (name, else id) in case-insensitive order.
    h.get_by_label("Resource").click();
    wait_for(&mut h, "sorted", |v| {
        v.state.settled() && v.state.settings.sort == auditlens_core::row_index::SortKey::Resource
    });
    let a = auditlens_core::archive::Archive::open(&archive).unwrap();
    let s = &h.state().state;
    let labels: Vec<String> = (0..s.view.len())
        .map(|r| {
            let e = read_entry(&a, s.seq_at(r).unwrap()).unwrap().entry;
            e.resource_label().to_lowercase()
        })
        .collect();
    let mut sorted = labels.clone();
    sorted.sort();
    assert_eq!(labels, sorted);
    assert_ne!(labels.first(), labels.last());
}

/// Dragging a column edge changes the widths, and they survive a restart:
/// eframe saves egui memory on exit, and the table keeps its widths there.
#[test]
fn column_widths_persist_through_egui_memory() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut a = harness(&archive);
    wait_for(&mut a, "open", loaded_and_verified);
    let before = a.get_by_label("Action").rect().left();
    // The resize handle between the Time and Actor columns.
    let actor = a.get_by_label("Actor").rect();
    let p = egui::pos2(actor.left() - 4.0, actor.center().y);
    a.event(egui::Event::PointerMoved(p));
    a.run_steps(1);
    a.event(egui::Event::PointerButton {
        pos: p,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Default::default(),
    });
    a.run_steps(1);
    for k in 1..=8 {
        a.event(egui::Event::PointerMoved(
            p + egui::vec2(10.0 * k as f32, 0.0),
        ));
        a.run_steps(1);
    }
    a.event(egui::Event::PointerButton {
        pos: p + egui::vec2(80.0, 0.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Default::default(),
    });
    a.run_steps(3);
    let dragged = a.get_by_label("Action").rect().left();
    assert!(dragged > before + 40.0, "{before} → {dragged}");
    let memory = a.ctx.memory(|m| ron::to_string(m).unwrap());
    drop(a);

    let mut b = harness(&archive);
    b.ctx.memory_mut(|m| *m = ron::from_str(&memory).unwrap());
    wait_for(&mut b, "open", loaded_and_verified);
    let restored = b.get_by_label("Action").rect().left();
    assert!((restored - dragged).abs() < 1.0, "{dragged} vs {restored}");
}

/// An archive with a gap in its seqs (an entry deleted behind the chain's
/// back) still maps rows to the right seqs.
#[test]
fn index_with_a_seq_gap() {
    use auditlens_core::row_index::{Index, Seqs};
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let gap = dir.path().join("gap.sqlite");
    std::fs::copy(&archive, &gap).unwrap();
    let conn = rusqlite::Connection::open(&gap).unwrap();
    conn.execute_batch("DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE seq = 5")
        .unwrap();
    drop(conn);
    let ix = Index::load(&gap, &Job::new()).unwrap();
    assert!(matches!(ix.seqs, Seqs::Listed(_)));
    let seqs: Vec<u64> = (0..ix.len()).map(|p| ix.seq(p)).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(ix.position(6), Some(4));
    assert_eq!(ix.position(5), None);
    let whole = Index::load(&archive, &Job::new()).unwrap();
    assert!(matches!(whole.seqs, Seqs::Contiguous(1)));
    assert_eq!(whole.position(12), Some(11));
    assert_eq!(whole.position(13), None);
    assert_eq!(whole.position(0), None);
    // The text index follows the same positions.
    let si = auditlens_core::text_search::SearchIndex::build(&gap, &ix, &Job::new()).unwrap();
    assert_eq!(si.len(), 11);
}

/// The facet counts follow the other active filters (faceted search): under
/// the search "staging" (532 of 3,000 entries), each project's and each
/// action's count is the number of entries that pass the search and that
/// value; ticking a project changes the Actions counts but not the
/// Projects counts.
#[test]
fn facet_counts_follow_the_other_filters() {
    let archive = sample_archive();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.settled()
    });
    let ix = h.state().state.index().cloned().unwrap();
    let label = |n: usize| auditlens::app::panels::thousands(n as u64);
    let projects: Vec<(String, String)> = ix
        .projects
        .values
        .iter()
        .flatten()
        .map(|id| {
            let name = ix.project_names.get(id.as_ref()).cloned().unwrap();
            (id.to_string(), name)
        })
        .collect();
    let actions: Vec<String> = ix
        .actions
        .values
        .iter()
        .flatten()
        .map(|a| a.to_string())
        .collect();
    assert!(projects.len() >= 2 && actions.len() >= 2);
    let count = |f: Filter| expected_count(&archive, &f);

    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .type_text("staging");
    wait_for(&mut h, "search", |v| {
        v.state.settled() && v.state.filter.search == "staging"
    });
    let staging = Filter {
        search: Some("staging".into()),
        ..Default::default()
    };
    let shown = count(staging.clone());
    assert!(shown > 0 && shown < 3000, "{shown}");
    h.get_by_label(&format!("{} of 3,000 entries", label(shown)));
    let mut differs = 0;
    for (id, name) in &projects {
        let all = count(Filter {
            projects: vec![id.clone()],
            ..Default::default()
        });
        let n = count(Filter {
            projects: vec![id.clone()],
            ..staging.clone()
        });
        h.get_by_label(&format!("{name} ({})", label(n)));
        differs += usize::from(n != all);
    }
    assert!(differs > 0, "the search changed no project count");
    for a in &actions {
        let n = count(Filter {
            actions: vec![a.clone()],
            ..staging.clone()
        });
        h.get_by_label(&format!("{a} ({})", label(n)));
    }

    // A search across projects ("alice" works in several), then tick the
    // project with the most of her entries: the Actions counts now apply
    // it too; the other projects keep their counts under the search alone.
    h.state_mut().state.filter.search = "alice".into();
    wait_for(&mut h, "search", |v| {
        v.state.settled() && v.state.filter.search == "alice"
    });
    let alice = Filter {
        search: Some("alice".into()),
        ..Default::default()
    };
    let per_project: Vec<usize> = projects
        .iter()
        .map(|(id, _)| {
            count(Filter {
                projects: vec![id.clone()],
                ..alice.clone()
            })
        })
        .collect();
    assert!(per_project.iter().filter(|&&n| n > 0).count() >= 2);
    let best = (0..projects.len()).max_by_key(|&i| per_project[i]).unwrap();
    let (id, name) = &projects[best];
    h.get_by_label(&format!("{name} ({})", label(per_project[best])))
        .click();
    wait_for(&mut h, "facet", |v| {
        v.state.settled() && !v.state.filter.projects.is_empty()
    });
    h.get_by_label(&format!("{} of 3,000 entries", label(per_project[best])));
    for (i, (_, other_name)) in projects.iter().enumerate() {
        h.get_by_label(&format!("{other_name} ({})", label(per_project[i])));
    }
    let mut narrowed = 0;
    for a in &actions {
        let by_search = count(Filter {
            actions: vec![a.clone()],
            ..alice.clone()
        });
        let n = count(Filter {
            actions: vec![a.clone()],
            projects: vec![id.clone()],
            ..alice.clone()
        });
        h.get_by_label(&format!("{a} ({})", label(n)));
        narrowed += usize::from(n < by_search);
    }
    assert!(narrowed > 0, "the project changed no action count");
}

/// A filter that matches nothing says so where the table would be, and its
/// button clears every filter.
#[test]
fn a_filter_matching_nothing_says_so_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", loaded_and_verified);
    assert!(
        h.query_by_label("No entries match these filters.")
            .is_none()
    );
    h.get_by_label("Time (UTC)");
    h.get_by_label_contains("delete (").click();
    h.state_mut().state.filter.search = "no entry holds this".into();
    wait_for(&mut h, "filter", |v| {
        v.state.settled() && v.state.view.is_empty()
    });
    h.get_by_label("0 of 12 entries");
    h.get_by_label("No entries match these filters.");
    // No empty grid: the table and its header are gone.
    assert!(h.query_by_label("Time (UTC)").is_none());
    h.get_by_label("Clear all filters").click();
    wait_for(&mut h, "cleared", |v| {
        v.state.settled() && v.state.view.len() == 12
    });
    let s = &h.state().state;
    assert!(s.filter.search.is_empty() && s.filter.actions.is_empty());
    h.get_by_label("12 of 12 entries");
    h.get_by_label("Time (UTC)");
    assert!(
        h.query_by_label("No entries match these filters.")
            .is_none()
    );
}

/// An entry with a verification finding shows it first in its detail:
/// kind, expected and found, above the entry's fields.
#[test]
fn a_finding_is_shown_first_in_the_detail() {
    use auditlens::app::document::VerifyState;
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let tampered = tamper(&archive, dir.path());
    let mut h = harness(&tampered);
    wait_for(&mut h, "open", loaded_and_verified);
    let finding = match &h.state().state.doc.as_ref().unwrap().verify {
        VerifyState::Done(r) => r
            .findings
            .iter()
            .find(|f| f.seq == Some(3))
            .cloned()
            .expect("a finding about entry 3"),
        _ => panic!("not verified"),
    };
    let (expected, found) = (finding.expected.unwrap(), finding.found.unwrap());
    assert_ne!(expected, found);
    h.state_mut().state.select_seq(3);
    wait_for(&mut h, "selected", |v| {
        v.state.settled() && v.state.detail.as_ref().is_some_and(|d| d.seq == 3)
    });
    let kind = h.get_by_label_contains("Finding: record_modified").rect();
    // The expected leaf hash is also the entry's stored "Leaf hash" field,
    // further down: the finding's is the first.
    let expected = h
        .query_all_by_label(&expected)
        .map(|n| n.rect())
        .min_by(|a, b| a.top().total_cmp(&b.top()))
        .unwrap();
    let found = h.get_by_label(&found).rect();
    let first_field = h.get_by_label("Entry id").rect();
    assert!(kind.top() < expected.top() && expected.top() < found.top());
    assert!(
        found.bottom() <= first_field.top(),
        "the finding comes first"
    );
    // An entry without a finding shows none.
    h.state_mut().state.select_seq(4);
    wait_for(&mut h, "selected", |v| {
        v.state.settled() && v.state.detail.as_ref().is_some_and(|d| d.seq == 4)
    });
    h.get_by_label("Entry id");
    assert!(h.query_by_label_contains("Finding: ").is_none());
}

/// At the default window size (1280×820) with nothing selected, the table
/// has the room (no detail pane); selecting an entry opens its detail with
/// the entry at the top, also after the last one was scrolled down.
#[test]
fn the_table_gets_the_room_until_an_entry_is_selected() {
    let archive = sample_archive();
    let mut h = harness_sized(&archive, egui::vec2(1280.0, 820.0));
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.settled()
    });
    h.run_steps(3);
    let a = auditlens_core::archive::Archive::open(&archive).unwrap();
    let time_of = |h: &Harness<'_, Viewer>, row: usize| {
        let seq = h.state().state.seq_at(row).unwrap();
        let t = read_entry(&a, seq).unwrap().entry.time.0;
        auditlens::app::panels::format_time(t, false)
    };
    let rows = h.state().panels.table.visible_rows();
    assert!(rows >= 20, "only {rows} rows on screen");
    // The last of them is drawn, with its time.
    h.get_by_label(&time_of(&h, rows - 1));
    assert!(h.query_by_label("Entry id").is_none());
    assert!(h.query_by_label("Copy entry").is_none());

    // Select the second row: its detail opens, the entry's heading at the top.
    h.get_by_label(&time_of(&h, 1)).click();
    wait_for(&mut h, "selected", |v| {
        v.state.selected_row == Some(1) && v.state.settled()
    });
    let copy = h.get_by_label("Copy entry").rect();
    let field = h.get_by_label("Entry id").rect();
    let last_row = h.get_by_label(&time_of(&h, 1)).rect();
    assert!(last_row.bottom() < copy.top() && copy.bottom() < field.top());
    assert!(h.state().panels.table.visible_rows() < rows);
    // Scroll the detail down, then select the next entry: it opens at the top.
    h.event(egui::Event::PointerMoved(field.center()));
    for _ in 0..10 {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, -10.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: Default::default(),
        });
        h.run_steps(1);
    }
    let scrolled = h.get_by_label("Copy entry").rect();
    assert!(
        scrolled.top() < last_row.top(),
        "the detail did not scroll: {scrolled:?}"
    );
    h.key_press(egui::Key::ArrowDown);
    wait_for(&mut h, "next", |v| {
        v.state.selected_row == Some(2) && v.state.settled()
    });
    // The new entry's heading is back at the top of the pane: below the
    // table's selected row, above the entry's first field.
    let row = h.get_by_label(&time_of(&h, 2)).rect();
    let again = h.get_by_label("Copy entry").rect();
    let field = h.get_by_label("Entry id").rect();
    assert!(
        row.bottom() < again.top() && again.bottom() < field.top(),
        "{row:?} {again:?} {field:?}"
    );
    // Esc closes the detail and gives the table its room back.
    h.key_press(egui::Key::Escape);
    wait_for(&mut h, "deselected", |v| v.state.selected.is_none());
    h.run_steps(2);
    assert!(h.query_by_label("Copy entry").is_none());
    assert_eq!(h.state().panels.table.visible_rows(), rows);
}

fn text_index(v: &Viewer) -> Option<&auditlens::app::text_index::TextIndex> {
    v.state.doc.as_ref().and_then(|d| d.search.as_deref())
}

fn uses_sidecar(v: &Viewer) -> bool {
    matches!(
        text_index(v),
        Some(auditlens::app::text_index::TextIndex::Sidecar(_))
    )
}

/// Searches `needle` in the window and returns the rows shown.
fn search_rows(h: &mut Harness<'static, Viewer>, needle: &str) -> usize {
    h.state_mut().state.filter.search = needle.into();
    wait_for(h, "search", |v| {
        v.state.settled() && v.state.filter.search == needle
    });
    h.state().state.view.len()
}

/// The search sidecar: built beside the archive on the first open and
/// found on the next; edited to drop hits (or made by someone else), it is
/// not used but rebuilt, so it hides nothing; the archive never changes.
#[test]
fn the_search_sidecar_is_found_again_and_an_edited_one_is_rebuilt() {
    use auditlens_core::archive::search_sidecar::path_for;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.sqlite");
    std::fs::copy(sample_archive(), &archive).unwrap();
    let before = std::fs::read(&archive).unwrap();
    let sidecar = path_for(&archive);
    let mut h = harness(&archive);
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.settled()
    });
    assert!(uses_sidecar(h.state()));
    let built = auditlens_core::digest::file_sha256(&sidecar).unwrap();
    let needle = "safari/605";
    let f = Filter {
        search: Some(needle.into()),
        ..Filter::default()
    };
    let want = expected_count(&archive, &f);
    assert!(want > 0);
    assert_eq!(search_rows(&mut h, needle), want);

    // Drop every hit of the needle from the index, as someone editing the
    // file could.
    let rows: Vec<u64> = h
        .state()
        .state
        .view
        .iter()
        .map(|&p| h.state().state.index().unwrap().seq(p as usize))
        .collect();
    let rw = rusqlite::Connection::open(&sidecar).unwrap();
    // One trigram of the needle that no listed entry holds any more.
    let n = rw
        .execute(
            "UPDATE postings SET seqs = ?1 WHERE gram = 'saf'",
            [auditlens_core::archive::search_sidecar::encode_seqs(&[])],
        )
        .unwrap();
    assert!(n > 0 && !rows.is_empty());
    drop(rw);
    assert_ne!(
        auditlens_core::digest::file_sha256(&sidecar).unwrap(),
        built
    );

    // Open again in the same window (which remembers the sidecar it built).
    h.state_mut().state.close();
    h.state_mut().state.filter = Default::default();
    h.state_mut().state.open(archive.clone());
    wait_for(&mut h, "reopen", |v| {
        loaded_and_verified(v) && v.state.settled() && text_index(v).is_some()
    });
    assert!(uses_sidecar(h.state()));
    assert_eq!(search_rows(&mut h, needle), want, "the edit hid nothing");
    assert_eq!(
        auditlens_core::digest::file_sha256(&sidecar).unwrap(),
        built,
        "rebuilt as it was"
    );

    // Unchanged, it is found again (checked while the index loads), not rebuilt.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&sidecar).unwrap().ino();
        h.state_mut().state.close();
        h.state_mut().state.filter = Default::default();
        h.state_mut().state.open(archive.clone());
        wait_for(&mut h, "third open", |v| {
            loaded_and_verified(v) && v.state.settled() && text_index(v).is_some()
        });
        assert!(uses_sidecar(h.state()));
        assert_eq!(search_rows(&mut h, needle), want);
        assert_eq!(
            std::fs::metadata(&sidecar).unwrap().ino(),
            inode,
            "found again, not rebuilt"
        );
    }

    // A window that did not build it rebuilds it too, then finds it.
    drop(h);
    let mut h = harness(&archive);
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.settled()
    });
    assert!(uses_sidecar(h.state()));
    assert_eq!(search_rows(&mut h, needle), want);
    drop(h);
    assert_eq!(std::fs::read(&archive).unwrap(), before);
}

/// Evidence at the sidecar's name is never written over: searching still
/// works (the index in memory) and the window says why.
#[test]
fn evidence_at_the_sidecar_name_stays_and_search_still_works() {
    use auditlens_core::archive::search_sidecar::path_for;
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let sidecar = path_for(&archive);
    std::fs::copy(&archive, &sidecar).unwrap();
    let evidence = std::fs::read(&sidecar).unwrap();
    let mut h = harness(&archive);
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.settled() && text_index(v).is_some()
    });
    assert!(!uses_sidecar(h.state()));
    let notice = h.state().state.notice.clone().unwrap_or_default();
    assert!(
        notice.contains("could not be saved beside the archive") && notice.contains("evidence"),
        "{notice}"
    );
    let f = Filter {
        search: Some("production".into()),
        ..Filter::default()
    };
    assert_eq!(
        search_rows(&mut h, "production"),
        expected_count(&archive, &f)
    );
    drop(h);
    assert_eq!(std::fs::read(&sidecar).unwrap(), evidence);
}

/// The timeline's counts follow the view, counted on a worker for a large
/// view (every view here: the in-frame limit is lowered to nothing), also
/// when the view itself comes from a worker after the counts of the old one.
#[test]
fn timeline_counts_follow_the_view_from_a_worker() {
    use auditlens::app::panels::timeline::Histogram;
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut h = harness(&archive);
    h.state_mut().state.timeline_in_frame = 0;
    let counted = |v: &Viewer| v.state.settled() && v.state.timeline_current();
    let check = |h: &Harness<'static, Viewer>, shown: usize| {
        let s = &h.state().state;
        assert_eq!(s.view.len(), shown);
        let got = s.timeline().expect("counted").clone();
        let want = Histogram::of(s.index().unwrap(), &s.view, got.counts.len());
        assert_eq!(got, want, "the counts are those of the view shown");
        let total: u32 = got.counts.iter().flatten().sum();
        assert_eq!(total as usize, shown);
    };
    wait_for(&mut h, "open and count", |v| {
        loaded_and_verified(v) && counted(v)
    });
    check(&h, 12);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
        .type_text("production");
    wait_for(&mut h, "search and count", |v| {
        counted(v) && v.state.filter.search == "production"
    });
    check(&h, 2);
    h.key_press(egui::Key::Escape);
    wait_for(&mut h, "all again and count", |v| {
        counted(v) && v.state.filter.search.is_empty()
    });
    check(&h, 12);
}

/// A window resize asks for counts at a new width on every frame: while one
/// count of the view is under way no other starts (at ten million entries
/// each costs some 40 ms of a core), and the counts end at the last width.
#[test]
fn a_resize_does_not_pile_up_timeline_counts() {
    use auditlens::app::panels::timeline::Histogram;
    use auditlens::app::state::task;
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path());
    let mut h = harness(&archive);
    wait_for(&mut h, "open", |v| {
        loaded_and_verified(v) && v.state.timeline_current()
    });
    h.state_mut().state.timeline_in_frame = 0;
    for buckets in 40..60 {
        // No frame between: a finished count is still held as running.
        h.state_mut().state.count_timeline(buckets);
        let s = &h.state().state;
        let running: Vec<_> = s.tasks.running(task::TIMELINE).collect();
        assert_eq!(running.len(), 1, "one count at a time");
        assert!(!running[0].is_cancelled());
    }
    // Then the panel asks for its own width, and gets it.
    wait_for(&mut h, "the panel's width counted", |v| {
        v.state.settled() && v.state.timeline_current() && !v.state.tasks.is_running(task::TIMELINE)
    });
    let s = &h.state().state;
    let got = s.timeline().expect("counted");
    let want = Histogram::of(s.index().unwrap(), &s.view, got.counts.len());
    assert_eq!(got, &want);
}

/// Verification of an archive, and the hash of its file, start once the row
/// index is complete (all read the whole file on every core; the table is
/// what a person waits for), and then run to their end.
#[test]
fn verification_waits_for_the_row_index() {
    use auditlens::app::document::VerifyState;
    use auditlens::app::state::task;
    let mut h = harness(&sample_archive());
    let start = std::time::Instant::now();
    let mut waited = false;
    loop {
        h.step();
        let s = &h.state().state;
        let complete = s.doc.as_ref().is_some_and(|d| d.index_complete());
        assert!(
            complete || !s.tasks.is_running(task::VERIFY),
            "verification runs before the row index is complete"
        );
        assert!(
            complete || !s.tasks.is_running(task::HASH),
            "the file is hashed before the row index is complete"
        );
        if let Some(d) = &s.doc
            && !complete
            && let VerifyState::Running(j) = &d.verify
        {
            waited |= j.snapshot().0 == "after the table's index";
        }
        if matches!(
            s.doc.as_ref().map(|d| &d.verify),
            Some(VerifyState::Done(_))
        ) {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(
        waited,
        "the banner never said verification waits for the index"
    );
    h.get_by_label_contains("INTACT");
}

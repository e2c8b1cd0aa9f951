//! Issue 15's investigation workflows on crafted entries, each with a hit
//! and a near miss, through the CLI and the viewer: rolling an update back
//! (the RFC 6902 patch, the resource's chained history), the blast radius of
//! a credential (and its export, verified), and names from a directory
//! (display only: the archive is never written to).

mod common;

use std::path::{Path, PathBuf};

use auditlens::app::egui;
use auditlens::app::{NoDialogs, Viewer};
use auditlens_core::archive::Archive;
use auditlens_core::json::{self, Json};
use auditlens_core::json_patch;
use common::viewer::wait_for;
use egui_kittest::kittest::Queryable;
use serde_json::{Value, json};

const DAY: &str = "2025-03-1";

/// One platform export row (JSONL): states are stringified JSON, as the platform writes them.
#[allow(clippy::too_many_arguments)]
fn row(
    n: u32,
    day: u32,
    who: (&str, &str),
    project: &str,
    rtype: &str,
    rid: &str,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> String {
    let (kind, id) = who;
    let time = format!("{DAY}{day}T10:00:{n:02}.000Z");
    json!({
        "id": format!("centry{n:020}"),
        "createdAt": time,
        "updatedAt": time,
        "type": kind,
        "apiKeyId": (kind == "API_KEY").then_some(id),
        "userId": (kind == "USER").then_some(id),
        "orgId": "org1",
        "userOrgRole": (kind == "USER").then_some("ADMIN"),
        "projectId": project,
        "userProjectRole": null,
        "resourceType": rtype,
        "resourceId": rid,
        "action": action,
        "before": before.map(|v| v.to_string()),
        "after": after.map(|v| v.to_string()),
    })
    .to_string()
}

const U1: (&str, &str) = ("USER", "u1");
const U2: (&str, &str) = ("USER", "u2");
const U3: (&str, &str) = ("USER", "u3");
const K1: (&str, &str) = ("API_KEY", "k1");

/// The crafted archive, and the seq of each row by its number.
fn crafted(dir: &Path) -> PathBuf {
    #[rustfmt::skip]
    let rows = [
        // Prompt p1 in proj1: created by u1 (before the key's first touch: a near miss for "afterwards").
        row(1, 0, U1, "proj1", "prompt", "p1", "create", None, Some(json!({"v": 1, "a/b": "x", "t~": [1, 2]}))),
        // The key updates it; the history continues.
        row(2, 1, K1, "proj1", "prompt", "p1", "update",
            Some(json!({"v": 1, "a/b": "x", "t~": [1, 2]})),
            Some(json!({"v": 2, "a/b": "y", "t~": [1], "new": {"deep": [true]}}))),
        // The key deletes a dataset.
        row(3, 1, K1, "proj1", "dataset", "d1", "delete", Some(json!({"name": "golden"})), None),
        // u2 updates p1 later, from a state nobody logged (v 2 → 3): the history's hit, and
        // someone after the key on a touched resource: the blast radius's hit.
        row(4, 2, U2, "proj1", "prompt", "p1", "update",
            Some(json!({"v": 3, "a/b": "y", "t~": [1], "new": {"deep": [true]}})),
            Some(json!({"v": 4, "a/b": "y", "t~": [1], "new": {"deep": [true]}}))),
        // A prompt of the same name in another project: its own chain, and not the key's resource.
        row(5, 3, U2, "proj2", "prompt", "p1", "update", Some(json!({"v": 9})), Some(json!({"v": 10}))),
        // u3 touches a dataset the key never touched: a near miss.
        row(6, 3, U3, "proj1", "dataset", "d9", "update", Some(json!({"n": 1})),
            Some(json!({"n": 2, "note": "a\u{202e}b\nc"}))),
        // u2 recreates the dataset the key deleted: a hit.
        row(7, 4, U2, "proj1", "dataset", "d1", "create", None, Some(json!({"name": "golden"}))),
        // A hostile state: a right-to-left override and a newline inside a value.
        row(8, 5, U3, "proj1", "dataset", "d9", "update",
            Some(json!({"n": 2, "note": "a\u{202e}b\nc"})), Some(json!({"n": 3}))),
    ];
    let jsonl = dir.join("export.jsonl");
    std::fs::write(&jsonl, rows.join("\n") + "\n").unwrap();
    let archive = dir.join("case.sqlite");
    let r = common::ingest_files(&archive, &[jsonl]);
    assert_eq!(r.added, rows.len() as u64);
    archive
}

/// The seq of crafted row `n` (rows are ingested newest-first or oldest-first
/// depending on the reader: look it up by entry id).
fn seq_of(archive: &Path, n: u32) -> u64 {
    let a = Archive::open(archive).unwrap();
    let id = format!("centry{n:020}");
    let mut found = None;
    a.for_each_record(|seq, bytes| {
        if auditlens_core::archive::parse_record(bytes).unwrap().id == id {
            found = Some(seq);
        }
    })
    .unwrap();
    found.unwrap()
}

/// Runs `auditlens CMD ARCHIVE ARGS…`.
fn cli(cmd: &str, archive: &Path, args: &[&str]) -> common::Out {
    let mut all = vec![cmd, archive.to_str().unwrap()];
    all.extend_from_slice(args);
    common::run(all)
}

fn j(v: &Value) -> Json {
    json::parse(v.to_string().as_bytes()).unwrap()
}

fn sha(p: &Path) -> String {
    auditlens_core::digest::file_sha256(p).unwrap()
}

#[test]
fn rollback_prints_a_patch_that_restores_the_before_state() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crafted(dir.path());
    let seq = seq_of(&archive, 2);
    let o = cli("rollback", &archive, &["--seq", &seq.to_string()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let patch = j(&serde_json::from_str::<Value>(&o.stdout).unwrap());
    // Keys with "/" and "~" are escaped as RFC 6901 says.
    assert!(
        o.stdout.contains("\"/a~1b\"") && o.stdout.contains("\"/t~0/1\""),
        "{}",
        o.stdout
    );
    let e = Archive::open(&archive)
        .unwrap()
        .entry(seq)
        .unwrap()
        .unwrap()
        .entry;
    assert_eq!(
        json_patch::apply(e.after.as_ref().unwrap(), &patch).as_ref(),
        Ok(e.before.as_ref().unwrap())
    );
    // --before prints the before state itself.
    let o = cli(
        "rollback",
        &archive,
        &["--seq", &seq.to_string(), "--before"],
    );
    assert_eq!(
        j(&serde_json::from_str(&o.stdout).unwrap()),
        *e.before.as_ref().unwrap()
    );

    // A state with hidden characters: the patch printed is the same JSON, escaped as \uXXXX.
    let hostile = seq_of(&archive, 8);
    let o = cli("rollback", &archive, &["--seq", &hostile.to_string()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        !o.stdout.contains('\u{202e}') && o.stdout.contains("\\u202e"),
        "{}",
        o.stdout
    );
    let patch = j(&serde_json::from_str::<Value>(&o.stdout).unwrap());
    let e = Archive::open(&archive)
        .unwrap()
        .entry(hostile)
        .unwrap()
        .unwrap()
        .entry;
    assert_eq!(
        json_patch::apply(e.after.as_ref().unwrap(), &patch).as_ref(),
        Ok(e.before.as_ref().unwrap())
    );

    // Near miss: a create has no before state to go back to; said, exit 2, nothing on stdout.
    let create = seq_of(&archive, 1);
    let o = cli("rollback", &archive, &["--seq", &create.to_string()]);
    assert_eq!(o.code, 2);
    assert!(o.stdout.is_empty());
    assert!(o.stderr.contains("no before state"), "{}", o.stderr);
}

#[test]
fn history_chains_the_diffs_and_shows_the_change_not_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crafted(dir.path());
    let o = cli("history", &archive, &["--resource", "Prompt:p1", "--json"]);
    assert_eq!(o.code, 1, "an unlogged change exits 1: {}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["resource_type"], "prompt");
    let steps = v["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let want: Vec<String> = [1, 2, 4, 5]
        .iter()
        .map(|n| format!("centry{n:020}"))
        .collect();
    assert_eq!(ids, want, "oldest first, every entry on the resource");
    let links: Vec<&str> = steps.iter().map(|s| s["link"].as_str().unwrap()).collect();
    // The hit: v went 2 → 3 with no entry. The near miss: proj2's p1 starts its own chain.
    assert_eq!(links, ["first", "continues", "unlogged_change", "first"]);
    assert_eq!(v["unlogged_changes"], 1);
    let gap = &steps[2]["unlogged_changes"];
    assert_eq!(gap.as_array().unwrap().len(), 1);
    assert_eq!(gap[0]["path"], "v");
    assert_eq!(
        (gap[0]["old"].as_str(), gap[0]["new"].as_str()),
        (Some("2"), Some("3"))
    );
    // The human output says the same.
    let o = cli("history", &archive, &["--resource", "prompt:p1"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("1 change(s) not in the log"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("! unlogged change before seq"),
        "{}",
        o.stdout
    );

    // Near miss: a continuous history exits 0; a resource with no entry is "could not run".
    let o = cli("history", &archive, &["--resource", "dataset:d9"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = cli("history", &archive, &["--resource", "dataset:nope"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no entry on"), "{}", o.stderr);
    let o = cli("history", &archive, &["--resource", "p1"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("TYPE:ID"), "{}", o.stderr);
}

#[test]
fn blast_radius_finds_who_came_after_and_exports_a_verifiable_subset() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crafted(dir.path());
    let before = sha(&archive);
    let o = cli("blast-radius", &archive, &["--actor", "K1", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        v["entries"], 2,
        "matched case-insensitively, as the filter does"
    );
    let types: Vec<(&str, u64)> = v["by_resource_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["resource_type"].as_str().unwrap(),
                t["entries"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(types, [("dataset", 1), ("prompt", 1)]);
    // Hits: u2 on proj1's p1 and on d1, after the key. Near misses: u1's create before the key,
    // u2 on proj2's p1 (another resource), u3 on d9 (never touched by the key).
    let after: Vec<u64> = v["others_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(after, [seq_of(&archive, 4), seq_of(&archive, 7)]);
    assert_eq!(v["subset"], 4);

    // The subset goes through the export path: verifiable on its own.
    let out = dir.path().join("k1.json");
    let o = cli(
        "blast-radius",
        &archive,
        &["--actor", "k1", "--output", out.to_str().unwrap()],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("exported 4 entries"), "{}", o.stderr);
    let o = common::run(["verify".as_ref(), out.as_os_str(), "--json".as_ref()]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    // It never writes over evidence: the archive itself is refused as the output.
    let o = cli(
        "blast-radius",
        &archive,
        &[
            "--actor",
            "k1",
            "--output",
            archive.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(o.code, 2);
    assert_eq!(sha(&archive), before, "the archive was written to");

    // Near miss: an identity with no entry is "could not run", not an empty radius.
    let o = cli("blast-radius", &archive, &["--actor", "k2"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no entry by k2"), "{}", o.stderr);
}

/// A directory as the platform's members, keys and projects export them, one
/// name carrying a right-to-left override (names are untrusted text).
fn directory(dir: &Path) -> PathBuf {
    let p = dir.join("people.csv");
    std::fs::write(
        &p,
        "kind,id,name,email\nmember,u1,Ada Lovelace,ada@example.org\nmember,u2,Eve\u{202e}live,eve@example.org\napi_key,k1,ci deploy,\nproject,proj1,Checkout,\n",
    )
    .unwrap();
    p
}

#[test]
fn names_from_a_directory_are_shown_escaped_and_unknown_ids_stay_ids() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crafted(dir.path());
    let before = sha(&archive);
    let people = directory(dir.path());
    let o = cli(
        "blast-radius",
        &archive,
        &["--actor", "k1", "--directory", people.to_str().unwrap()],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("ci deploy (k1): 2 entries"),
        "{}",
        o.stdout
    );
    // The override is shown as its code point, never obeyed by the terminal.
    assert!(o.stdout.contains("Eve⟨U+202E⟩live (u2)"), "{}", o.stdout);
    assert!(!o.stdout.contains('\u{202e}'));
    let o = cli(
        "history",
        &archive,
        &[
            "--resource",
            "dataset:d9",
            "--directory",
            people.to_str().unwrap(),
        ],
    );
    // Near miss: u3 is not in the directory and stays an id; proj1 gets its name.
    assert!(
        o.stdout.contains("Checkout (proj1)  u3  update"),
        "{}",
        o.stdout
    );
    // The report names people from the directory remembered beside the archive, escaped in the HTML.
    let d = auditlens_core::directory::Directory::load(&people).unwrap();
    d.save_beside(&archive, &people).unwrap();
    let html = dir.path().join("report.html");
    let o = cli(
        "report",
        &archive,
        &["-o", html.to_str().unwrap(), "--work-hours", "11-12"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    let twin = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    // Every crafted entry is at 10:00, outside 11-12: each is an off-hours hit, named.
    assert!(page.contains("Ada Lovelace (u1)"), "{page}");
    assert!(page.contains("Eve⟨U+202E⟩live (u2)") && !page.contains('\u{202e}'));
    assert!(page.contains("<td>u3</td>"), "an unknown id stays an id");
    assert!(twin.contains("\"Ada Lovelace (u1)\""), "{twin}");
    // The sidecar is beside the archive, the archive untouched by it.
    assert!(auditlens_core::directory::sidecar_path(&archive).exists());
    assert_eq!(sha(&archive), before, "the archive was written to");
    // A directory that names nobody is refused with what to do.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,name\nx,y\n").unwrap();
    let o = cli(
        "history",
        &archive,
        &[
            "--resource",
            "dataset:d9",
            "--directory",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("\"kind\" column"), "{}", o.stderr);
}

fn harness(path: &Path) -> egui_kittest::Harness<'static, Viewer> {
    common::viewer::open(path.to_path_buf(), egui::vec2(1400.0, 900.0), NoDialogs)
}

fn ready(v: &Viewer) -> bool {
    v.state.settled() && v.state.doc.as_ref().is_some_and(|d| d.patterns.is_some())
}

#[test]
fn viewer_history_blast_radius_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crafted(dir.path());
    let people = directory(dir.path());
    let before = sha(&archive);
    let mut h = harness(&archive);
    wait_for(&mut h, "open", ready);

    // Roll back: the update's detail has the rollback buttons and the history one click away.
    let seq = seq_of(&archive, 4);
    h.state_mut().state.select_seq(seq);
    wait_for(&mut h, "detail", |v| {
        v.state.settled() && v.state.detail.as_ref().is_some_and(|d| d.seq == seq)
    });
    h.get_by_label("Copy before state");
    // The rollback row is below the fields: the pane is scrolled, as a person would.
    let pane = h.get_by_label("Entry id").rect().center();
    h.input_mut().events.push(egui::Event::PointerMoved(pane));
    h.input_mut().events.push(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -400.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    h.run_steps(3);
    h.get_by_label("Copy rollback patch").click();
    // The copy shows in the output of the frame that handled the click.
    let mut copied: Vec<String> = Vec::new();
    for _ in 0..4 {
        h.step();
        copied.extend(
            h.output()
                .platform_output
                .commands
                .iter()
                .filter_map(|c| match c {
                    egui::OutputCommand::CopyText(t) => Some(t.clone()),
                    _ => None,
                }),
        );
    }
    // What lands on the clipboard is the patch that restores the before state.
    let e = Archive::open(&archive)
        .unwrap()
        .entry(seq)
        .unwrap()
        .unwrap()
        .entry;
    let patch = j(&serde_json::from_str::<Value>(copied.last().expect("a copy")).unwrap());
    assert_eq!(
        json_patch::apply(e.after.as_ref().unwrap(), &patch).as_ref(),
        Ok(e.before.as_ref().unwrap())
    );
    // Back to the top of the pane, where History is.
    h.input_mut().events.push(egui::Event::PointerMoved(pane));
    h.input_mut().events.push(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 400.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    h.run_steps(3);
    h.get_by_label("History").click();
    wait_for(&mut h, "history", |v| {
        v.state.settled()
            && v.state
                .investigation
                .history
                .as_ref()
                .is_some_and(|(_, p)| p.done().is_some())
    });
    let hist = h
        .state()
        .state
        .investigation
        .history
        .as_ref()
        .unwrap()
        .1
        .done()
        .unwrap()
        .clone();
    // The selected entry's project only: proj2's prompt of the same name is another resource.
    assert_eq!(hist.steps.len(), 3);
    assert!(
        hist.steps
            .iter()
            .all(|st| st.entry.project_id.as_deref() == Some("proj1"))
    );
    assert_eq!(hist.unlogged().count(), 1);
    h.get_by_label("Unlogged change: this before state is not the previous after state");

    // Names: loaded, remembered beside the archive, shown in the table; unknown ids stay ids.
    h.state_mut()
        .state
        .apply(auditlens::app::command::Command::CloseHistory);
    h.state_mut()
        .state
        .apply(auditlens::app::command::Command::Deselect);
    h.state_mut()
        .state
        .apply(auditlens::app::command::Command::LoadDirectory(
            people.clone(),
        ));
    wait_for(&mut h, "names", |v| {
        v.state.settled() && v.state.investigation.directory.is_some()
    });
    assert!(auditlens_core::directory::sidecar_path(&archive).exists());
    h.run_steps(3);
    h.get_by_label("Ada Lovelace (u1)");
    // u2 has three rows; its name is escaped in each.
    assert_eq!(h.query_all_by_label("Eve⟨U+202E⟩live (u2)").count(), 3);
    assert_eq!(
        h.query_all_by_label("u3").count(),
        2,
        "an unknown id stays an id"
    );

    // Blast radius from the actor summary: its subset is what the table then shows.
    h.state_mut()
        .state
        .apply(auditlens::app::command::Command::ShowActor("k1".into()));
    wait_for(&mut h, "actor", |v| v.state.settled());
    h.get_by_label("Blast radius").click();
    wait_for(&mut h, "blast radius", |v| {
        v.state.settled()
            && v.state
                .investigation
                .blast
                .as_ref()
                .is_some_and(|(_, p)| p.done().is_some())
    });
    h.get_by_label_contains("Afterwards, on the same resources: 2 entries by 1 others");
    h.get_by_label("Show these 4 entries").click();
    wait_for(&mut h, "subset", |v| {
        v.state.settled() && v.state.restrict.is_some()
    });
    let mut shown: Vec<u64> = (0..h.state().state.view.len())
        .filter_map(|r| h.state().state.seq_at(r))
        .collect();
    shown.sort_unstable();
    let mut want: Vec<u64> = [2, 3, 4, 7].iter().map(|n| seq_of(&archive, *n)).collect();
    want.sort_unstable();
    assert_eq!(shown, want);
    drop(h);
    assert_eq!(sha(&archive), before, "the archive was written to");

    // Reopened: the names come back from the sidecar.
    let mut h = harness(&archive);
    wait_for(&mut h, "reopen", |v| {
        ready(v) && v.state.investigation.directory.is_some()
    });
    h.run_steps(3);
    h.get_by_label("Ada Lovelace (u1)");
}

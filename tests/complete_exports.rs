//! Complete exports (issue 13, docs/FORMAT.md §14): a filtered export proves
//! it holds every entry its filter selects, and every tamper of that claim
//! (drop, add, duplicate, reorder, widened or narrowed filter) fails at the
//! entry; old checkpoints and grown archives behave as before; a checkpoint
//! whose index root lies is caught by verifying the whole archive.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn sample(dir: &Path) -> PathBuf {
    let a = dir.join("a.sqlite");
    std::fs::copy("sample-data/audit-sample.sqlite", &a).unwrap();
    a
}

fn verify_json(file: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "verify".to_string(),
        file.display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run(&args);
    (o.code, serde_json::from_str(&o.stdout).expect(&o.stderr))
}

fn export(archive: &Path, out: &Path, format: &str, filter: &[&str]) {
    let mut args = vec![
        "export".to_string(),
        archive.display().to_string(),
        "--format".into(),
        format.into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(filter.iter().map(|s| s.to_string()));
    let o = run(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

fn kinds(v: &Value) -> Vec<(String, Option<u64>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_string(), f["seq"].as_u64()))
        .collect()
}

fn has(v: &Value, kind: &str, seq: Option<u64>) -> bool {
    kinds(v)
        .iter()
        .any(|(k, s)| k == kind && (seq.is_none() || *s == seq))
}

const FROM: &str = "2025-01-08T00:00:00.000Z";
const TO: &str = "2025-01-15T00:00:00.000Z";

/// Each of the seed's filters, alone and with a time range, is proven
/// complete, and the statement names it.
#[test]
fn each_filter_kind_is_proven_complete() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    // Values that exist in the sample: taken from a first entry.
    let o = run(["export", a.to_str().unwrap(), "--format", "ndjson", "-o"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().join("all.ndjson").display().to_string()]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = std::fs::read_to_string(dir.path().join("all.ndjson")).unwrap();
    let first: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    let project = text
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|e| e["project_id"].as_str().map(str::to_string))
        .unwrap();
    let actor = first["actor"]["user_id"]
        .as_str()
        .or(first["actor"]["api_key_id"].as_str())
        .unwrap()
        .to_string();
    let rt = first["resource_type"].as_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--from".into(), FROM.into(), "--to".into(), TO.into()],
            "time",
        ),
        (vec!["--action".into(), "delete".into()], "action"),
        (vec!["--project".into(), project.clone()], "project"),
        (vec!["--actor".into(), actor.clone()], "actor"),
        (vec!["--resource-type".into(), rt.clone()], "resource_type"),
    ];
    for (i, (filter, index)) in cases.iter().enumerate() {
        for timed in [false, true] {
            let mut f = filter.clone();
            if timed && *index != "time" {
                f.extend(["--from".into(), FROM.into(), "--to".into(), TO.into()]);
            }
            let out = dir.path().join(format!("e{i}{timed}.ndjson"));
            let fr: Vec<&str> = f.iter().map(String::as_str).collect();
            export(&a, &out, "ndjson", &fr);
            let (code, v) = verify_json(&out, &[]);
            assert_eq!(code, 0, "{v:#}");
            let c = &v["complete"];
            assert_eq!(c["index"], *index, "{f:?}: {v:#}");
            assert!(c["further"].as_array().unwrap().is_empty(), "{v:#}");
            assert_eq!(c["entries_in_range"], v["entries"], "{v:#}");
            if timed {
                assert_eq!(c["from"], FROM);
                assert_eq!(c["to"], TO);
            }
        }
    }
    // A combination beyond one range: complete for the action, then filtered further.
    let out = dir.path().join("combo.ndjson");
    export(
        &a,
        &out,
        "ndjson",
        &["--action", "delete", "--project", &project],
    );
    let (code, v) = verify_json(&out, &[]);
    assert_eq!(code, 0, "{v:#}");
    let c = &v["complete"];
    assert!(
        c["statement"]
            .as_str()
            .unwrap()
            .contains("then filtered further by"),
        "{v:#}"
    );
    assert!(!c["further"].as_array().unwrap().is_empty());
    // Free text alone maps to no range: genuine, not complete, and says why.
    let out = dir.path().join("search.ndjson");
    export(&a, &out, "ndjson", &["--search", "a"]);
    let (code, v) = verify_json(&out, &[]);
    assert_eq!(code, 0);
    assert!(v["complete"].is_null());
    assert!(
        v["not_complete"]
            .as_str()
            .unwrap()
            .contains("no completeness proof")
    );
}

/// Lines of an NDJSON export: header, entries, footer.
fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write(p: &Path, ls: &[String]) {
    std::fs::write(p, ls.join("\n") + "\n").unwrap();
}

fn seq_of(line: &str) -> u64 {
    serde_json::from_str::<Value>(line).unwrap()["seq"]
        .as_u64()
        .unwrap()
}

/// The measurement: drop one delete and lower the count. Also add,
/// duplicate, reorder, and widen or narrow the stated filter.
#[test]
fn every_tamper_of_a_complete_export_fails_located() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    let orig = dir.path().join("d.ndjson");
    export(
        &a,
        &orig,
        "ndjson",
        &["--action", "delete", "--from", FROM, "--to", TO],
    );
    let ls = lines(&orig);
    let n = ls.len() - 2;
    assert!(n > 3, "the sample has deletes in the window");
    let (code, v) = verify_json(&orig, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(
        v["complete"]["statement"]
            .as_str()
            .unwrap()
            .contains("action = delete")
    );
    let footer = |count: usize| {
        ls[ls.len() - 1].replacen(&format!("\"count\":{n}"), &format!("\"count\":{count}"), 1)
    };

    // Drop one entry and lower the count.
    let dropped = seq_of(&ls[2]);
    let mut t = ls.clone();
    t.remove(2);
    let last = t.len() - 1;
    t[last] = footer(n - 1);
    let p = dir.path().join("drop.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "completeness_failed", Some(dropped)), "{v:#}");
    assert!(v["complete"].is_null());

    // Add an entry from outside the range (a genuine one, with its proof).
    let other = dir.path().join("o.ndjson");
    export(
        &a,
        &other,
        "ndjson",
        &["--action", "create", "--from", FROM, "--to", TO],
    );
    let extra = lines(&other)[1].clone();
    let added = seq_of(&extra);
    let mut t = ls.clone();
    let at = (1..=n).find(|&i| seq_of(&t[i]) > added).unwrap_or(n + 1);
    t.insert(at, extra);
    let last = t.len() - 1;
    t[last] = footer(n + 1);
    let p = dir.path().join("add.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1);
    assert!(has(&v, "completeness_failed", Some(added)), "{v:#}");

    // Duplicate an entry.
    let mut t = ls.clone();
    t.insert(3, ls[2].clone());
    let last = t.len() - 1;
    t[last] = footer(n + 1);
    let p = dir.path().join("dup.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1);
    assert!(
        has(&v, "completeness_failed", Some(seq_of(&ls[2]))),
        "{v:#}"
    );

    // Reorder two entries.
    let mut t = ls.clone();
    t.swap(1, 2);
    let p = dir.path().join("swap.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1);
    assert!(has(&v, "out_of_order", None), "{v:#}");

    // Widen the stated time range, or narrow it, or drop the action from it.
    for (name, from, to) in [
        ("widen", FROM, "2025-01-20T00:00:00.000Z"),
        ("narrow", "2025-01-10T00:00:00.000Z", TO),
    ] {
        let mut t = ls.clone();
        t[0] = t[0]
            .replace(
                &format!("\"from\":\"{FROM}\""),
                &format!("\"from\":\"{from}\""),
            )
            .replace(&format!("\"to\":\"{TO}\""), &format!("\"to\":\"{to}\""));
        assert_ne!(t[0], ls[0]);
        let p = dir.path().join(format!("{name}.ndjson"));
        write(&p, &t);
        let (code, v) = verify_json(&p, &[]);
        assert_eq!(code, 1, "{name}: {v:#}");
        assert!(has(&v, "completeness_failed", None), "{name}: {v:#}");
    }
    let mut t = ls.clone();
    t[0] = t[0].replace(",\"actions\":[\"delete\"]", "");
    assert_ne!(t[0], ls[0]);
    let p = dir.path().join("unaction.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "completeness_failed", None), "{v:#}");
}

/// CSV carries the proof in its sidecar; dropping a row and its proof fails.
#[test]
fn csv_is_complete_through_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    let csv = dir.path().join("d.csv");
    export(&a, &csv, "csv", &["--action", "delete"]);
    let (code, v) = verify_json(&csv, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["complete"]["index"], "action");
    // Drop the last row from the CSV and its proof from the sidecar.
    let mut rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let gone = rows.pop().unwrap();
    let seq: u64 = gone.split(',').nth(1).unwrap().parse().unwrap();
    std::fs::write(&csv, rows.join("\n") + "\n").unwrap();
    let side = dir.path().join("d.csv.proof.json");
    let s = std::fs::read_to_string(&side).unwrap();
    let n = v["entries"].as_u64().unwrap();
    let mut sl: Vec<String> = s.lines().map(str::to_string).collect();
    let idx = sl
        .iter()
        .position(|l| l.contains(&format!("{{\"seq\":{seq},")))
        .unwrap();
    sl.remove(idx);
    let prev = idx - 1;
    sl[prev] = sl[prev].trim_end_matches(',').to_string();
    let text = sl.join("\n").replace(
        &format!("{{\"count\":{n},"),
        &format!("{{\"count\":{},", n - 1),
    );
    std::fs::write(&side, text + "\n").unwrap();
    let (code, v) = verify_json(&csv, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "completeness_failed", Some(seq)), "{v:#}");
}

/// Old four-line checkpoints still verify archives and exports (genuine);
/// against one, a subset is not proven complete and says why.
#[test]
fn old_checkpoints_prove_what_they_proved() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    let cp = dir.path().join("cp");
    let o = run(["checkpoint", a.to_str().unwrap()]);
    assert_eq!(o.code, 0);
    let old: String = o.stdout.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&cp, &old).unwrap();
    let (code, v) = verify_json(&a, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["checkpoint"]["status"], "matches");
    let out = dir.path().join("d.ndjson");
    export(&a, &out, "ndjson", &["--action", "delete"]);
    let (code, v) = verify_json(&out, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["proven"], true, "{v:#}");
    assert!(v["complete"].is_null());
    assert!(
        v["not_complete"]
            .as_str()
            .unwrap()
            .contains("no index roots"),
        "{v:#}"
    );
}

/// A signer whose index root is wrong is caught by verifying the archive;
/// a checkpoint of an archive that grew since still matches its entries.
#[test]
fn a_lying_index_root_is_caught_and_a_grown_archive_matches() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    let o = run(["checkpoint", a.to_str().unwrap()]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{}", o.stdout);
    // Replace the action index root with the time index's.
    let time_root = lines[4].split(' ').nth(2).unwrap();
    let mut lie: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    lie[5] = format!("index action {time_root}");
    let cp = dir.path().join("lie");
    std::fs::write(&cp, lie.join("\n") + "\n").unwrap();
    let (code, v) = verify_json(&a, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "index_root_mismatch", None), "{v:#}");
    assert_eq!(kinds(&v).len(), 1, "{v:#}");

    // The archive grows: the checkpoint's index roots cover its first entries only.
    let good = dir.path().join("good");
    std::fs::write(&good, &o.stdout).unwrap();
    let more = dir.path().join("more.jsonl");
    std::fs::write(
        &more,
        "{\"id\":\"zz-new-1\",\"createdAt\":\"2027-01-01T00:00:00.000Z\",\"updatedAt\":\"2027-01-01T00:00:00.000Z\",\"type\":\"USER\",\"apiKeyId\":null,\"userId\":\"u9\",\"orgId\":\"o1\",\"userOrgRole\":\"OWNER\",\"projectId\":null,\"userProjectRole\":null,\"resourceType\":\"project\",\"resourceId\":\"p9\",\"action\":\"delete\",\"before\":null,\"after\":null}\n",
    )
    .unwrap();
    let o = run([
        "ingest",
        "--archive",
        a.to_str().unwrap(),
        more.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (code, v) = verify_json(&a, &["--checkpoint", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["checkpoint"]["added_since"], 1, "{v:#}");

    // The checkpoint consistency writes carries the index roots of the grown
    // archive: the same text `auditlens checkpoint` writes. Ingest prints the
    // log checkpoint alone (its first four lines), pointing to that command.
    let now = run(["checkpoint", a.to_str().unwrap()]);
    assert_eq!(now.stdout.lines().count(), 9, "{}", now.stdout);
    let printed: String = o
        .stdout
        .split("are proven against):\n")
        .nth(1)
        .expect("ingest prints the checkpoint")
        .to_string();
    let four: Vec<&str> = now.stdout.lines().take(4).collect();
    assert_eq!(printed.trim_end(), four.join("\n"));
    let new_cp = dir.path().join("new.checkpoint");
    let c = run([
        "consistency",
        a.to_str().unwrap(),
        "--old",
        good.to_str().unwrap(),
        "--checkpoint-out",
        new_cp.to_str().unwrap(),
    ]);
    assert_eq!(c.code, 0, "{}{}", c.stdout, c.stderr);
    assert_eq!(std::fs::read_to_string(&new_cp).unwrap(), now.stdout);
}

/// Signed: the completeness line names who signed the checkpoint the range
/// is proven against; the index lines are covered by the signature.
#[test]
fn a_signed_complete_export_names_its_signer() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    let key = dir.path().join("k");
    let o = run([
        "keygen",
        "--name",
        "auditor.example",
        "-o",
        key.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = dir.path().join("d.ndjson");
    export(
        &a,
        &out,
        "ndjson",
        &[
            "--action",
            "delete",
            "--from",
            FROM,
            "--to",
            TO,
            "--sign",
            key.to_str().unwrap(),
        ],
    );
    let pubkey = dir.path().join("k.pub");
    let o = run([
        "verify",
        out.to_str().unwrap(),
        "--key",
        pubkey.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(&format!(
            "complete: all entries with action = delete from {FROM} to {TO} (exclusive)"
        )) && o.stdout.contains("signed by auditor.example"),
        "{}",
        o.stdout
    );
    // An index root changed in the signed header: the signature no longer holds.
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let cp = header["auditlens_export"]["checkpoint"].as_str().unwrap();
    let line = cp.lines().find(|l| l.starts_with("index action ")).unwrap();
    let other = cp.lines().find(|l| l.starts_with("index time ")).unwrap();
    let forged = cp.replace(
        line,
        &format!("index action {}", &other["index time ".len()..]),
    );
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        text.replacen(
            &serde_json::to_string(cp).unwrap(),
            &serde_json::to_string(&forged).unwrap(),
            1,
        ),
    )
    .unwrap();
    let (code, v) = verify_json(&bad, &["--key", pubkey.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "bad_signature", None), "{v:#}");
    assert!(v["complete"].is_null(), "{v:#}");
}

/// The viewer: opening a complete export shows what it is proven complete
/// for; the export dialog offers completeness when the filter allows it and
/// writes a complete export of the rows shown.
mod viewer {
    use super::*;
    use auditlens::app::egui;
    use auditlens::app::{FileDialogs, Viewer};
    use common::viewer::wait_for;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    struct NoDialogs;

    impl FileDialogs for NoDialogs {
        fn pick_open(&mut self) -> Option<PathBuf> {
            None
        }
        fn pick_save(&mut self, _: &str) -> Option<PathBuf> {
            None
        }
    }

    fn harness(path: &Path) -> Harness<'static, Viewer> {
        let mut h = common::viewer::open(path.to_path_buf(), egui::vec2(1400.0, 900.0), NoDialogs);
        wait_for(&mut h, "open and verify", |v| {
            v.state.index().is_some() && !v.state.busy()
        });
        h
    }

    #[test]
    fn opening_a_complete_export_shows_what_it_is_complete_for() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample(dir.path());
        let out = dir.path().join("deletes.ndjson");
        export(
            &a,
            &out,
            "ndjson",
            &["--action", "delete", "--from", FROM, "--to", TO],
        );
        let h = harness(&out);
        h.get_by_label_contains(&format!(
            "complete: all entries with action = delete from {FROM} to {TO} (exclusive)"
        ));
        h.get_by_label_contains("proven against the checkpoint of 3,000 entries");

        // One entry dropped (and the count lowered): the banner says why it is not complete.
        let mut ls = lines(&out);
        ls.remove(2);
        let n = ls.len() - 2;
        let last = ls.len() - 1;
        let mut end: Value = serde_json::from_str(&ls[last]).unwrap();
        end["auditlens_export_end"]["count"] = n.into();
        ls[last] = end.to_string();
        let dropped = dir.path().join("dropped.ndjson");
        write(&dropped, &ls);
        drop(h);
        let h = harness(&dropped);
        h.get_by_label_contains("NOT PROVEN COMPLETE");
        h.get_by_label_contains("missing from the export: it was dropped");
    }

    /// While a short search waits for a third character, the rows shown are
    /// those of the other filters, and so is what an export holds and states:
    /// the entries shown, with a stated filter that selects every one of them
    /// (before, the typed search was stated, and each entry it does not
    /// select would fail as outside the filter), complete or row by row.
    #[test]
    fn an_export_while_a_short_search_waits_holds_and_states_the_rows_shown() {
        use auditlens_core::export::ExportFormat;
        let dir = tempfile::tempdir().unwrap();
        let a = sample(dir.path());
        let mut h = harness(&a);
        wait_for(&mut h, "open", |v| v.state.settled() && !v.state.busy());
        // As on a large archive: more entries than a short search may read.
        h.state_mut().state.short_search_entries = 1_000;
        let mut f = h.state().state.filter.clone();
        f.actions.insert("delete".into());
        f.search = "sa".into();
        h.state_mut().state.filter = f;
        wait_for(&mut h, "filtered", |v| {
            v.state.settled() && v.state.search_waits.is_some()
        });
        let shown = h.state().state.view.len() as u64;
        assert!(shown > 10, "{shown}");
        assert_eq!(h.state().state.shown_filter().search, None);
        for (name, complete) in [("rows.ndjson", false), ("complete.ndjson", true)] {
            let out = dir.path().join(name);
            h.state_mut().state.last_export = None;
            h.state_mut()
                .state
                .start_export(out.clone(), ExportFormat::Ndjson, false, complete);
            wait_for(&mut h, "export", |v| v.state.last_export.is_some());
            assert!(
                matches!(h.state().state.last_export, Some(Ok(_))),
                "{name}: {:?}",
                h.state()
                    .state
                    .last_export
                    .as_ref()
                    .map(|r| r.as_ref().err())
            );
            let (code, v) = verify_json(&out, &[]);
            assert_eq!(code, 0, "{name}: {v:#}");
            assert_eq!(v["entries"], shown, "{name}: {v:#}");
            assert_eq!(v["complete"].is_null(), !complete, "{name}: {v:#}");
            let stated = std::fs::read_to_string(&out).unwrap();
            let header: Value = serde_json::from_str(stated.lines().next().unwrap()).unwrap();
            assert!(
                !header.to_string().contains("\"sa\""),
                "{name}: the waiting search is stated: {header}"
            );
        }
    }

    #[test]
    fn the_export_dialog_offers_completeness_and_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample(dir.path());
        let mut h = harness(&a);
        // No filter: nothing to be complete for, so the option is off.
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
        h.run_steps(2);
        h.get_by_label_contains("Proven genuine only: the filter cannot be proven complete");
        // action = delete in a time range.
        let mut f = h.state().state.filter.clone();
        f.actions.insert("delete".into());
        f.preset = auditlens::app::filter_form::TimePreset::Custom;
        f.from = FROM.into();
        f.to = TO.into();
        h.state_mut().state.filter = f;
        wait_for(&mut h, "filtered", |v| v.state.settled());
        let shown = h.state().state.view.len() as u64;
        assert!(shown > 10, "{shown}");
        h.get_by_label_contains(&format!(
            "Proven complete for: all entries with action = delete from {FROM}"
        ));
        h.get_by_label("Prove it complete (every entry the filter selects, none left out)");
        let out = dir.path().join("from-viewer.ndjson");
        h.get_by_label("NDJSON").click();
        h.run_steps(1);
        let field = || egui::accesskit::Role::TextInput;
        h.state_mut().panels.export.path.clear();
        h.get_by_role_and_label(field(), "Save to").click();
        h.run_steps(2);
        h.get_by_role_and_label(field(), "Save to")
            .type_text(out.to_str().unwrap());
        h.run_steps(2);
        h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
            .click();
        wait_for(&mut h, "export", |v| v.state.last_export.is_some());
        match &h.state().state.last_export {
            Some(Ok(r)) => assert!(r.complete.is_some(), "not complete: {}", r.path.display()),
            other => panic!(
                "{:?}",
                other.as_ref().map(|r| r.as_ref().map(|r| r.entries))
            ),
        }
        h.get_by_label_contains("Proven complete: all entries with action = delete");
        let (code, v) = verify_json(&out, &[]);
        assert_eq!(code, 0, "{v:#}");
        assert_eq!(v["entries"], shown, "{v:#}");
        assert_eq!(v["complete"]["index"], "action", "{v:#}");
        assert_eq!(v["complete"]["entries_in_range"], shown, "{v:#}");

        // Unticked, the same rows are exported one by one: genuine, not complete.
        h.get_by_label("Prove it complete (every entry the filter selects, none left out)")
            .click();
        h.run_steps(2);
        h.get_by_label_contains("Proven genuine only: each entry");
        let rows = dir.path().join("rows.ndjson");
        h.state_mut().panels.export.path = rows.display().to_string();
        h.state_mut().state.last_export = None;
        h.run_steps(2);
        h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
            .click();
        wait_for(&mut h, "export", |v| v.state.last_export.is_some());
        let (code, v) = verify_json(&rows, &[]);
        assert_eq!(code, 0, "{v:#}");
        assert_eq!(v["entries"], shown, "{v:#}");
        assert!(v["complete"].is_null(), "{v:#}");
        assert!(v["not_complete"].is_string(), "{v:#}");
    }
}

/// A part added to the stated filter after export (one no index range
/// proves) is checked against every entry: the entries it does not select
/// fail at their seq, in NDJSON and through the CSV sidecar, complete or not.
#[test]
fn a_narrowed_stated_filter_fails_at_each_entry_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample(dir.path());
    let orig = dir.path().join("d.ndjson");
    export(&a, &orig, "ndjson", &["--action", "delete"]);
    let ls = lines(&orig);
    let (code, v) = verify_json(&orig, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(!has(&v, "outside_filter", None), "{v:#}");
    let entries: Vec<Value> = ls[1..ls.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let project = entries[0]["project_id"].as_str().unwrap().to_string();
    let outside: Vec<u64> = entries
        .iter()
        .filter(|e| e["project_id"].as_str() != Some(&project))
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(!outside.is_empty(), "the deletes span several projects");

    let narrowed = |text: &str| {
        text.replacen(
            "\"actions\":[\"delete\"]",
            &format!("\"actions\":[\"delete\"],\"projects\":[\"{project}\"]"),
            1,
        )
    };
    let mut t = ls.clone();
    t[0] = narrowed(&t[0]);
    assert_ne!(t[0], ls[0]);
    let p = dir.path().join("narrowed.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(v["complete"].is_null(), "{v:#}");
    let flagged: Vec<u64> = kinds(&v)
        .into_iter()
        .filter(|(k, _)| k == "outside_filter")
        .filter_map(|(_, s)| s)
        .collect();
    assert_eq!(flagged, outside, "exactly the entries of other projects");

    // The same through the CSV sidecar.
    let csv = dir.path().join("d.csv");
    export(&a, &csv, "csv", &["--action", "delete"]);
    let side = dir.path().join("d.csv.proof.json");
    let s = std::fs::read_to_string(&side).unwrap();
    assert!(s.contains("\"actions\":[\"delete\"]"));
    std::fs::write(&side, narrowed(&s)).unwrap();
    let (code, v) = verify_json(&csv, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "outside_filter", Some(outside[0])), "{v:#}");

    // A subset no index range describes (a search) is checked all the same.
    let found = dir.path().join("s.ndjson");
    export(&a, &found, "ndjson", &["--search", "delete"]);
    let ls = lines(&found);
    let (code, v) = verify_json(&found, &[]);
    assert_eq!(code, 0, "{v:#}");
    let mut t = ls.clone();
    t[0] = t[0].replacen(
        "\"search\":\"delete\"",
        "\"search\":\"delete\",\"actor_type\":\"API_KEY\"",
        1,
    );
    assert_ne!(t[0], ls[0]);
    let p = dir.path().join("s2.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(has(&v, "outside_filter", None), "{v:#}");

    // A stated filter that cannot be read is a finding of its own.
    let mut t = lines(&orig);
    t[0] = t[0].replacen("\"actions\":[\"delete\"]", "\"actions\":\"delete\"", 1);
    let p = dir.path().join("unreadable.ndjson");
    write(&p, &t);
    let (code, v) = verify_json(&p, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        kinds(&v).contains(&("outside_filter".to_string(), None)),
        "{v:#}"
    );
}

//! One truth for words: the CLI (`auditlens verify`, `scan`), the auditor
//! report (its HTML text and `report.json`) and the viewer (banner, findings,
//! detail pane, table, driven through egui_kittest) say the same verdict
//! sentence and the same description of each finding about the same file,
//! and show every hidden character the same way.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use auditlens::app::egui;
use auditlens::app::{NoDialogs, Viewer};
use auditlens_core::archive::Archive;
use auditlens_core::export::{ExportFormat, export_with};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::model::Entry;
use auditlens_core::note::{SignerKey, VerifierKey};
use auditlens_core::output::Destination;
use auditlens_core::proof::SignedCheckpoint;
use auditlens_core::safe_text::{self, escape};
use auditlens_core::time::Timestamp;
use auditlens_core::verdict;
use common::viewer::{self, wait_for};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use serde_json::Value;

fn run<S: AsRef<OsStr>>(args: &[S]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(args)
        .output()
        .expect("run auditlens");
    (
        o.status.code().expect("exited normally"),
        String::from_utf8(o.stdout).expect("UTF-8 stdout"),
        String::from_utf8(o.stderr).expect("UTF-8 stderr"),
    )
}

/// What a case checks: a file, an optional checkpoint file, verifier keys.
struct Case<'a> {
    name: &'a str,
    file: PathBuf,
    checkpoint: Option<PathBuf>,
    keys: Vec<PathBuf>,
}

impl Case<'_> {
    fn cli_args(&self, command: &str) -> Vec<PathBuf> {
        let mut args = vec![PathBuf::from(command), self.file.clone()];
        if let Some(cp) = &self.checkpoint {
            args.extend([PathBuf::from("--checkpoint"), cp.clone()]);
        }
        for k in &self.keys {
            args.extend([PathBuf::from("--key"), k.clone()]);
        }
        args
    }

    /// The sentence and finding descriptions from the core itself, shown
    /// through the one escaper.
    fn core_words(&self) -> (String, Vec<String>) {
        let cp = self
            .checkpoint
            .as_ref()
            .map(|p| SignedCheckpoint::parse(&std::fs::read_to_string(p).unwrap()).unwrap());
        let keys: Vec<VerifierKey> = self
            .keys
            .iter()
            .map(|k| VerifierKey::parse(&std::fs::read_to_string(k).unwrap()).unwrap())
            .collect();
        let (r, anchor) =
            auditlens_core::verify::verify_signed(&self.file, cp.as_ref(), &keys, &Job::new())
                .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let sentence = escape(&verdict::sentence(&r, anchor.as_ref())).into_owned();
        let findings = r
            .findings
            .iter()
            .map(|f| escape(&verdict::describe(f)).into_owned())
            .collect();
        (sentence, findings)
    }
}

/// The CLI's verdict line (without the file name) and its finding lines
/// (without FINDING / warning).
fn cli_words(case: &Case<'_>) -> (String, Vec<String>) {
    let (code, out, err) = run(&case.cli_args("verify"));
    assert!(code == 0 || code == 1, "{}: exit {code}: {err}", case.name);
    let first = out.lines().next().unwrap_or_default();
    let sentence = first
        .strip_prefix(&format!("{}: ", case.file.display()))
        .unwrap_or_else(|| panic!("{}: no verdict line in {out}", case.name))
        .to_string();
    let findings = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("FINDING ")
                .or_else(|| l.strip_prefix("warning "))
        })
        .map(str::to_string)
        .collect();
    (sentence, findings)
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let len = s[from..].find(end).unwrap_or_else(|| panic!("no {end:?}"));
    &s[from..from + len]
}

struct ReportWords {
    html_sentence: String,
    html_findings: Vec<String>,
    json_sentence: String,
    json_findings: Vec<String>,
    html: String,
    json: Value,
}

/// Writes the auditor report (archives only) and reads its words back.
fn report_words(case: &Case<'_>, dir: &Path) -> ReportWords {
    let out = dir.join(format!("{}-report.html", case.name));
    let mut args = case.cli_args("report");
    args.extend([PathBuf::from("-o"), out.clone()]);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{}: {err}", case.name);
    let html = std::fs::read_to_string(&out).unwrap();
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
            .unwrap();
    let verdict_p = between(&html, "<p class=\"verdict ", "</p>");
    let html_sentence = html_unescape(&verdict_p[verdict_p.find('>').unwrap() + 1..]);
    let html_findings = if html.contains("<th>Finding</th>") {
        let table = between(&html, "<th>Finding</th></tr>", "</table>");
        table
            .split("<td class=\"mono\">")
            .skip(1)
            .map(|cell| html_unescape(&cell[..cell.find("</td>").unwrap()]))
            .collect()
    } else {
        vec![]
    };
    let v = &json["verification"];
    let json_sentence = escape(v["verdict"]["sentence"].as_str().unwrap()).into_owned();
    let json_findings = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| escape(f["description"].as_str().unwrap()).into_owned())
        .collect();
    ReportWords {
        html_sentence,
        html_findings,
        json_sentence,
        json_findings,
        html,
        json,
    }
}

fn verified(v: &Viewer) -> bool {
    v.state.index().is_some() && !v.state.busy()
}

/// The viewer on the case's file, with its checkpoint and keys loaded as a
/// person would (strict missing-glyph policy, egui's bundled fonts only).
fn viewer(case: &Case<'_>) -> Harness<'static, Viewer> {
    let mut h = viewer::open(case.file.clone(), egui::vec2(1600.0, 1000.0), NoDialogs);
    // egui's bundled fonts only: the viewer's system fonts removed.
    h.ctx.set_font_providers(Vec::new());
    wait_for(&mut h, "open", verified);
    if let Some(cp) = &case.checkpoint {
        h.state_mut().state.load_checkpoint(cp);
        wait_for(&mut h, "verify with the checkpoint", verified);
    }
    for k in &case.keys {
        h.state_mut().state.add_verifier_key(k);
        wait_for(&mut h, "verify with the key", verified);
    }
    h
}

/// Every finding description is on the viewer: in the findings list
/// (scrolled through: it lays out the rows in view only), or else in the
/// detail pane of its entry.
fn assert_viewer_shows_findings(h: &mut Harness<'_, Viewer>, name: &str, findings: &[String]) {
    let seqs: Vec<Option<u64>> = match &h.state().state.doc.as_ref().unwrap().verify {
        auditlens::app::document::VerifyState::Done(r) => {
            r.findings.iter().map(|f| f.seq).collect()
        }
        _ => panic!("{name}: not verified"),
    };
    assert_eq!(seqs.len(), findings.len(), "{name}");
    let mut seen = vec![false; findings.len()];
    for _ in 0..=findings.len() / 4 + 1 {
        for (i, want) in findings.iter().enumerate() {
            seen[i] |= h.query_by_label(want).is_some();
        }
        let Some(last) = findings
            .iter()
            .rev()
            .find(|f| h.query_by_label(f).is_some())
        else {
            break;
        };
        h.get_by_label(last).scroll_down();
        h.run_steps(2);
    }
    for (i, want) in findings.iter().enumerate() {
        if seen[i] {
            continue;
        }
        let seq = seqs[i].unwrap_or_else(|| panic!("{name}: the viewer does not show {want:?}"));
        h.state_mut().state.select_seq(seq);
        wait_for(h, "detail", |v| {
            v.state.settled() && v.state.detail.as_ref().is_some_and(|d| d.seq == seq)
        });
        assert!(
            h.query_by_label_contains(want).is_some(),
            "{name}: the viewer does not show {want:?}, in the list or in the detail of seq {seq}"
        );
    }
}

/// The same sentence and the same finding descriptions on the CLI, in the
/// report (HTML and JSON) and in the viewer's banner, for the sample archive
/// intact and tampered, a signed checkpoint with the right key, a wrong key
/// and none, and a signed subset export.
#[test]
fn cli_report_and_viewer_say_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let intact = copy_to(&samples.join("audit-sample.sqlite"), d, "intact.sqlite");
    let tampered = copy_to(&samples.join("tampered.sqlite"), d, "tampered.sqlite");
    let plain_cp = copy_to(
        &samples.join("audit-sample.checkpoint"),
        d,
        "plain.checkpoint",
    );

    let key = SignerKey::from_seed("auditor.example", &[3; 32]).unwrap();
    let right = d.join("auditor.pub");
    std::fs::write(&right, key.verifier().to_text()).unwrap();
    let stranger = SignerKey::from_seed("someone.else", &[4; 32]).unwrap();
    let wrong = d.join("stranger.pub");
    std::fs::write(&wrong, stranger.verifier().to_text()).unwrap();
    let signed_cp = d.join("signed.checkpoint");
    let a = Archive::open(&intact).unwrap();
    let cp = a.checkpoint().unwrap();
    std::fs::write(&signed_cp, SignedCheckpoint::text(&cp, Some(&key)).unwrap()).unwrap();
    let subset = d.join("subset.ndjson");
    export_with(
        &a,
        &Filter::default(),
        Some(&[2, 5, 9, 1816]),
        ExportFormat::Ndjson,
        &Destination::new(&subset),
        Some(&key),
        &Job::new(),
    )
    .unwrap();
    drop(a);

    let case = |name, file: &Path, checkpoint: Option<&Path>, keys: &[&Path]| Case {
        name,
        file: file.to_path_buf(),
        checkpoint: checkpoint.map(Path::to_path_buf),
        keys: keys.iter().map(|k| k.to_path_buf()).collect(),
    };
    let cases = [
        case("intact", &intact, None, &[]),
        case("intact-checkpoint", &intact, Some(&plain_cp), &[]),
        case("signed-right-key", &intact, Some(&signed_cp), &[&right]),
        case("signed-wrong-key", &intact, Some(&signed_cp), &[&wrong]),
        case("signed-no-key", &intact, Some(&signed_cp), &[]),
        case("tampered", &tampered, None, &[]),
        case("tampered-checkpoint", &tampered, Some(&plain_cp), &[]),
        case("subset-right-key", &subset, None, &[&right]),
        case("subset-wrong-key", &subset, None, &[&wrong]),
    ];
    let mut sentences = std::collections::BTreeSet::new();
    for c in &cases {
        let (core_sentence, core_findings) = c.core_words();
        let (cli_sentence, cli_findings) = cli_words(c);
        assert_eq!(cli_sentence, core_sentence, "{}: CLI", c.name);
        assert_eq!(cli_findings, core_findings, "{}: CLI findings", c.name);

        // The report takes archives only.
        if c.file.extension() == Some(OsStr::new("sqlite")) {
            let r = report_words(c, d);
            assert_eq!(r.html_sentence, cli_sentence, "{}: HTML", c.name);
            assert_eq!(r.json_sentence, cli_sentence, "{}: report.json", c.name);
            assert_eq!(r.html_findings, cli_findings, "{}: HTML findings", c.name);
            assert_eq!(
                r.json_findings, cli_findings,
                "{}: report.json findings",
                c.name
            );
            // The parts in the verification table are the sentence's own words.
            let words = &r.json["verification"]["verdict"];
            for part in ["outcome", "checkpoint", "signature"] {
                if let Some(p) = words[part].as_str() {
                    assert!(cli_sentence.contains(&escape(p).into_owned()), "{part}");
                    assert!(
                        r.html
                            .contains(&format!("<td class=\"mono\">{}</td>", html_escape(p)))
                    );
                }
            }
        }

        let mut h = viewer(c);
        assert!(
            h.query_by_label(&cli_sentence).is_some(),
            "{}: the viewer's banner does not say {cli_sentence:?}",
            c.name
        );
        assert_viewer_shows_findings(&mut h, c.name, &cli_findings);
        sentences.insert(cli_sentence);
    }
    // Each case gave its own verdict: the words are not one fixed string.
    assert_eq!(sentences.len(), cases.len(), "{sentences:#?}");
    let all: String = sentences.into_iter().collect::<Vec<_>>().join("\n");
    for needle in [
        "INTACT: 3,000 entries verified",
        "TAMPERED: 5 problems in 2,998 entries",
        "checkpoint matches its 3,000 entries, 0 entries added since",
        "no checkpoint given",
        "the checkpoint file is not signed",
        "the checkpoint file: the signature by auditor.example verified",
        "the checkpoint file is signed by auditor.example, NOT by any key given",
        "the checkpoint file is signed by auditor.example, not checked: no verifier key given",
        "subset: 4 entries proven against the checkpoint of archive",
        "the export's checkpoint is signed by auditor.example, NOT by any key given",
    ] {
        assert!(all.contains(needle), "no verdict says {needle:?}:\n{all}");
    }
}

fn html_escape(s: &str) -> String {
    escape(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One character of each hidden kind: every control character, every
/// character of the small ranges of `safe_text::HIDDEN` and the ends and
/// middle of the large ones, and the escape's own bracket.
fn hidden_samples() -> Vec<char> {
    let mut v: Vec<char> = (0u32..0xA0)
        .filter_map(char::from_u32)
        .filter(|c| c.is_control())
        .collect();
    for &(a, b) in safe_text::HIDDEN {
        let (a, b) = (a as u32, b as u32);
        let picks: Vec<u32> = if b - a < 32 {
            (a..=b).collect()
        } else {
            vec![a, a + 1, (a + b) / 2, b]
        };
        v.extend(picks.into_iter().filter_map(char::from_u32));
    }
    v.push(safe_text::OPEN);
    v
}

/// A record holding every hidden character (in its id and its actor's
/// email): the CLI, the report and the viewer show the same escaped text,
/// none of them shows one raw, and the archive keeps the exact bytes.
#[test]
fn the_three_surfaces_escape_the_same_characters_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hidden: String = hidden_samples().into_iter().collect();
    let id = format!("id<{hidden}>end");
    let email = format!("eve{hidden}@example.com");
    // Sunday 03:00 UTC: an off-hours hit, so `scan` and the report list the actor.
    let mut e = Entry::new(
        &id,
        Timestamp::parse("2025-03-16T03:00:00.000Z").unwrap(),
        "apiKey",
        "key-1",
        "create",
    );
    e.actor.email = Some(email.clone());
    e.actor.actor_type = Some(auditlens_core::model::ActorType::User);
    e.user_agent = Some("Mozilla/5.0".into());
    let src = d.join("hidden.jsonl");
    write_platform_jsonl(&src, &[e]);
    let archive = d.join("hidden.sqlite");
    ingest_files(&archive, std::slice::from_ref(&src));
    let stored = Archive::open(&archive).unwrap().entry(1).unwrap().unwrap();
    assert_eq!(stored.entry.id, id, "the archive keeps the exact id");
    assert_eq!(stored.entry.actor.email.as_deref(), Some(email.as_str()));
    // Changed behind its hash: a finding that names the hidden id.
    let conn = open_for_tampering(&archive);
    let row = read_row(&conn, 1);
    replace_row(&conn, 1, &flip_one_byte(&row.record), &row.leaf, &row.chain);
    drop(conn);

    let shown_id = escape(&id).into_owned();
    let shown_email = escape(&email).into_owned();
    for c in hidden_samples() {
        let code = format!("⟨U+{:04X}⟩", c as u32);
        assert!(
            shown_id.contains(&code) && shown_email.contains(&code),
            "{code}"
        );
    }
    let raw = |text: &str| text.chars().find(|&c| safe_text::is_hidden(c) && c != '\n');

    // CLI: the finding names the id; `scan` lists the actor.
    let case = Case {
        name: "hidden",
        file: archive.clone(),
        checkpoint: None,
        keys: vec![],
    };
    let (code, out, _) = run(&case.cli_args("verify"));
    assert_eq!(code, 1);
    assert_eq!(raw(&out), None, "raw hidden character in {out:?}");
    let (_, cli_findings) = cli_words(&case);
    let cli_finding = cli_findings
        .iter()
        .find(|f| f.starts_with("record_modified at seq 1 "))
        .expect("record_modified")
        .clone();
    assert!(
        cli_finding.contains(&format!("(entry id {shown_id})")),
        "{cli_finding}"
    );
    let (code, scan, _) = run(&[OsStr::new("scan"), archive.as_os_str()]);
    assert_eq!(code, 0);
    assert_eq!(raw(&scan), None, "raw hidden character in {scan:?}");
    assert!(scan.contains(&format!("  {shown_email}  ")), "{scan}");

    // Report: the same finding, the same actor in the hit list.
    let r = report_words(&case, d);
    assert_eq!(raw(&r.html), None, "raw hidden character in the HTML");
    assert!(
        r.html_findings.contains(&cli_finding),
        "{:?}",
        r.html_findings
    );
    assert!(r.json_findings.contains(&cli_finding));
    assert!(
        r.html
            .contains(&format!("<td>{}</td>", html_escape(&email))),
        "the report's hit list shows the actor escaped"
    );
    // report.json keeps the exact id: escaping is for display.
    let json_ids: Vec<&str> = r.json["verification"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(json_ids.contains(&id.as_str()));

    // Viewer: the findings list, the detail pane's fields and the table cell.
    let mut h = viewer(&case);
    assert!(h.query_by_label(&cli_finding).is_some(), "findings list");
    h.state_mut().state.select_seq(1);
    wait_for(&mut h, "detail", |v| {
        v.state.settled() && v.state.detail.as_ref().is_some_and(|d| d.seq == 1)
    });
    assert!(h.query_by_label(&shown_id).is_some(), "detail: entry id");
    assert!(
        h.query_all_by_label(&shown_email).count() >= 2,
        "the table's actor cell and the detail's email"
    );
    for node in h.query_all_by_label_contains("") {
        if let Some(label) = node.accesskit_node().label() {
            assert_eq!(raw(&label), None, "raw hidden character in {label:?}");
        }
    }
}

/// A comment holding a check mark, Japanese and a character that no font has
/// (U+0378 is unassigned): under egui_kittest's strict missing-glyph policy
/// (a box panics), with egui's bundled fonts only and with the system's
/// fonts added, the table, the facets and the detail pane show each
/// character either drawn or as its code point, never as a box.
#[test]
fn no_tofu_with_or_without_the_system_fonts() {
    let dir = tempfile::tempdir().unwrap();
    let text = "✓ 日本語 \u{378}";
    let mut e = Entry::new(
        "c-1",
        Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap(),
        "comment",
        "comment-1",
        "create",
    );
    e.resource_name = Some(format!("note {text}"));
    e.project_id = Some("p-1".into());
    e.project_name = Some("日本語プロジェクト".into());
    e.after = Some(auditlens_core::json::Json::Object(
        [(
            "text".to_string(),
            auditlens_core::json::Json::String(text.into()),
        )]
        .into_iter()
        .collect(),
    ));
    let src = dir.path().join("comment.jsonl");
    write_platform_jsonl(&src, &[e]);
    let archive = dir.path().join("comment.sqlite");
    ingest_files(&archive, std::slice::from_ref(&src));

    for system in [false, true] {
        let mut h = viewer::open(archive.clone(), egui::vec2(1400.0, 900.0), NoDialogs);
        // The viewer installs the system's fonts (Viewer::from_creation, as
        // `auditlens view` starts it); without them, egui's bundled fonts only.
        if !system {
            h.ctx.set_font_providers(Vec::new());
        }
        wait_for(&mut h, "open", verified);
        h.state_mut().state.select_seq(1);
        wait_for(&mut h, "detail", |v| {
            v.state.settled() && v.state.detail.as_ref().is_some_and(|d| d.seq == 1)
        });
        h.run_steps(3);
        // What each family can draw now (asking may load a system font).
        let drawn = |c: char, family: egui::FontFamily| {
            h.ctx
                .fonts_mut(|f| f.has_glyph(&egui::FontId::new(14.0, family), c))
        };
        let expect = |family: egui::FontFamily| -> String {
            text.chars()
                .map(|c| {
                    if c == ' ' || drawn(c, family.clone()) {
                        c.to_string()
                    } else {
                        format!("⟨U+{:04X}⟩", c as u32)
                    }
                })
                .collect()
        };
        let (prop, mono) = (
            expect(egui::FontFamily::Proportional),
            expect(egui::FontFamily::Monospace),
        );
        assert!(prop.contains("⟨U+0378⟩") && mono.contains("⟨U+0378⟩"));
        if !system {
            assert_eq!(prop, "⟨U+2713⟩ ⟨U+65E5⟩⟨U+672C⟩⟨U+8A9E⟩ ⟨U+0378⟩");
        }
        // The table's resource cell and the detail's title and name (proportional).
        assert!(
            h.query_all_by_label_contains(&format!("note {prop}"))
                .count()
                >= 2,
            "system fonts {system}: {prop}"
        );
        // The detail's fields and the after state (monospace).
        assert!(
            h.query_all_by_label(&format!("note {mono}")).count() >= 1,
            "{mono}"
        );
        assert!(
            h.query_by_label_contains(&format!("\"{mono}\"")).is_some(),
            "{mono}"
        );
        for node in h.query_all_by_label_contains("") {
            let label = node.accesskit_node().label().unwrap_or_default();
            assert!(!label.contains('\u{378}'), "shown raw: {label:?}");
        }
        eprintln!("system fonts {system}: proportional {prop:?}, monospace {mono:?}");
    }
}

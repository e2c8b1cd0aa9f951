//! Case notes (sidecar round trip) and the auditor report (every required fact).

use std::path::{Path, PathBuf};

use auditlens_core::archive::Archive;
use auditlens_core::audit_report::{HITS_LISTED, ReportInput, gather, to_html};
use auditlens_core::case::{CaseFile, case_path};
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::patterns::{Keep, PatternSettings, scan_archive};
use auditlens_core::proof::SignedCheckpoint;
use auditlens_core::verify::verify_file;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name)
}

fn copy_of(name: &str, dir: &Path) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(sample(name), &p).unwrap();
    p
}

#[test]
fn case_notes_round_trip_beside_the_archive_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let archive = copy_of("audit-sample.sqlite", dir.path());
    let before = std::fs::read(&archive).unwrap();
    let id = Archive::open(&archive).unwrap().id();
    let path = case_path(&archive);
    assert_eq!(path.file_name().unwrap(), "audit-sample.sqlite.case.json");

    // No case file yet: an empty case.
    let mut case = CaseFile::load(&path, id).unwrap();
    assert!(case.marks.is_empty());
    let m = case.mark_mut(17, "c-seventeen");
    m.bookmarked = true;
    m.tags = vec!["offboarding".into(), "ключ".into()];
    m.note = "Asked Bob on 3 March:\n\"it was me\" <ok>".into();
    case.mark_mut(18, "c-eighteen").tags.push("later".into());
    case.mark_mut(19, "c-nineteen"); // nothing noted: not saved
    case.save(&path).unwrap();

    let again = CaseFile::load(&path, id).unwrap();
    assert_eq!(again.marks.len(), 2);
    assert_eq!(again.mark(17), case.mark(17));
    assert_eq!(again.mark(18), case.mark(18));
    assert_eq!(
        again.bookmarked().map(|(s, _)| s).collect::<Vec<_>>(),
        vec![17]
    );
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        before,
        "the archive was written to"
    );

    // Another archive's case file is refused, not overwritten.
    let other = Archive::open(&sample("tampered.sqlite")).unwrap().id();
    let other = if other == id {
        auditlens_core::chain::ArchiveId([9; 16])
    } else {
        other
    };
    let err = CaseFile::load(&path, other).unwrap_err();
    assert!(err.contains("not of this archive"), "{err}");
    // A damaged case file is an error that names it.
    std::fs::write(&path, "{not json").unwrap();
    let err = CaseFile::load(&path, id).unwrap_err();
    assert!(err.contains("case.json"), "{err}");
}

#[test]
fn auditor_report_states_every_required_fact() {
    let dir = tempfile::tempdir().unwrap();
    let archive = copy_of("tampered.sqlite", dir.path());
    let cp_text = std::fs::read_to_string(sample("audit-sample.checkpoint")).unwrap();
    let cp = SignedCheckpoint::parse(&cp_text).unwrap();
    let id = Archive::open(&archive).unwrap().id();
    let mut case = CaseFile::new(id);
    let m = case.mark_mut(1816, "whatever");
    m.bookmarked = true;
    m.note = "check <this> & that".into();
    let filter = Filter {
        actions: vec!["delete".into()],
        ..Filter::default()
    };
    let settings = PatternSettings::default();
    let facts = gather(
        &ReportInput {
            archive: &archive,
            checkpoint: Some(&cp),
            keys: &[],
            filter: &filter,
            patterns: &settings,
            case: Some(&case),
        },
        &Job::new(),
    )
    .unwrap();

    // The facts, against independent sources.
    let sha = auditlens_core::digest::file_sha256(&archive).unwrap();
    assert_eq!(facts["file"]["sha256"], sha.as_str());
    assert_eq!(facts["archive"]["id"], id.to_string().as_str());
    let verified = verify_file(
        &archive,
        Some(&Checkpoint::parse(&cp_text).unwrap()),
        &Job::new(),
    )
    .unwrap();
    assert_eq!(facts["archive"]["entries"], verified.entries);
    assert_eq!(facts["verification"]["status"], "tampered");
    let findings = facts["verification"]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), verified.findings.len());
    for (j, f) in findings.iter().zip(&verified.findings) {
        assert_eq!(j["kind"], f.kind.as_str());
        assert_eq!(j["seq"].as_u64(), f.seq);
    }
    assert_eq!(facts["verification"]["checkpoint"]["status"], "fails");
    assert_eq!(
        facts["verification"]["signature"]["signers"],
        serde_json::json!([])
    );
    let (from, to) = Archive::open(&archive)
        .unwrap()
        .time_span()
        .unwrap()
        .unwrap();
    assert_eq!(
        facts["archive"]["time_span"]["from"],
        auditlens_core::time::Timestamp(from).to_string().as_str()
    );
    assert_eq!(
        facts["archive"]["time_span"]["to"],
        auditlens_core::time::Timestamp(to).to_string().as_str()
    );
    assert_eq!(
        facts["filter"]["active"]["actions"],
        serde_json::json!(["delete"])
    );
    let deletes = auditlens_core::archive::Archive::open(&archive).unwrap();
    let mut n = 0i64;
    deletes
        .for_each_record(|_, r| {
            n += i64::from(auditlens_core::archive::parse_record(r).unwrap().action == "delete")
        })
        .unwrap();
    assert_eq!(facts["filter"]["matching_entries"], n);
    let scan = scan_archive(&deletes, &settings, Keep::EVERYTHING, &Job::new()).unwrap();
    for (j, (p, found)) in facts["patterns"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&scan.found)
    {
        assert_eq!(j["name"], p.as_str());
        assert_eq!(j["count"], found.count);
        // The first HITS_LISTED of every hit, in seq order.
        let listed: Vec<u64> = j["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["seq"].as_u64().unwrap())
            .collect();
        let want: Vec<u64> = found
            .listed
            .iter()
            .take(HITS_LISTED)
            .map(|h| h.seq)
            .collect();
        assert_eq!(listed, want, "{p:?}");
    }
    let marks = facts["case"]["bookmarks"].as_array().unwrap();
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0]["seq"], 1816);
    assert_eq!(marks[0]["note"], "check <this> & that");
    assert!(facts["generated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        facts["tool"],
        format!("auditlens {}", env!("CARGO_PKG_VERSION")).as_str()
    );

    // The HTML says the same, on its own, and prints.
    let html = to_html(&facts);
    for needle in [
        sha.as_str(),
        &id.to_string(),
        "TAMPERED",
        "record_modified",
        "check &lt;this&gt; &amp; that",
        "Off-hours activity",
        &format!("auditlens {}", env!("CARGO_PKG_VERSION")),
        "@media print",
    ] {
        assert!(html.contains(needle), "the report lacks {needle:?}");
    }
    for external in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "external resource: {external}");
    }
}

#[test]
fn report_command_writes_the_html_and_its_json_twin() {
    let dir = tempfile::tempdir().unwrap();
    let archive = copy_of("audit-sample.sqlite", dir.path());
    let out = dir.path().join("r.html");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .arg("report")
        .arg(&archive)
        .arg("--checkpoint")
        .arg(sample("audit-sample.checkpoint"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("INTACT"));
    let twin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(twin["verification"]["status"], "intact");
    assert_eq!(twin["verification"]["checkpoint"]["status"], "matches");
}

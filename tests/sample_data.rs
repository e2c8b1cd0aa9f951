//! The bundled sample data behaves as sample-data/README.md says.

use std::path::{Path, PathBuf};

use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::job::Job;
use auditlens_core::verify::{FindingKind, Status, verify_file};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join(name)
}

fn checkpoint() -> Checkpoint {
    Checkpoint::parse(&std::fs::read_to_string(sample("audit-sample.checkpoint")).unwrap()).unwrap()
}

#[test]
fn sealed_sample_is_intact_and_matches_its_checkpoint() {
    let r = verify_file(
        &sample("audit-sample.sqlite"),
        Some(&checkpoint()),
        &Job::new(),
    )
    .unwrap();
    assert_eq!(r.status(), Status::Intact);
    assert_eq!(r.entries, 3000);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn tampered_sample_shows_exactly_the_documented_findings() {
    let r = verify_file(&sample("tampered.sqlite"), Some(&checkpoint()), &Job::new()).unwrap();
    assert_eq!(r.status(), Status::Tampered);
    let got: Vec<(FindingKind, Option<u64>)> = r.findings.iter().map(|f| (f.kind, f.seq)).collect();
    let want = vec![
        (FindingKind::ProtectionRemoved, None),
        (FindingKind::ProtectionRemoved, None),
        (FindingKind::MissingEntries, Some(1500)),
        (FindingKind::RecordModified, Some(1816)),
        (FindingKind::IndexMismatch, Some(2000)),
        (FindingKind::Misplaced, Some(2500)),
        (FindingKind::Misplaced, Some(2501)),
        (FindingKind::TimeBackwards, Some(2501)),
        (FindingKind::Truncated, Some(3000)),
    ];
    assert_eq!(got, want);

    // Without the checkpoint the cut-off tail cannot be seen.
    let r = verify_file(&sample("tampered.sqlite"), None, &Job::new()).unwrap();
    assert!(r.findings.iter().all(|f| f.kind != FindingKind::Truncated));
    assert_eq!(r.problems(), 5);
}

#[test]
fn platform_exports_hold_the_same_entries_as_the_archive() {
    use auditlens_core::archive::Archive;
    use auditlens_core::source::Source;
    let archive = Archive::open(&sample("audit-sample.sqlite")).unwrap();
    let mut seq_of = std::collections::HashMap::new();
    archive
        .for_each_record(|seq, r| {
            let id = auditlens_core::archive::parse_record(r).unwrap().id;
            assert!(seq_of.insert(id, seq).is_none());
        })
        .unwrap();
    for name in ["platform-export.jsonl", "platform-export.csv"] {
        let mut src = Source::open(&sample(name)).unwrap();
        let mut n = 0;
        while let Some(r) = src.next_record() {
            let e = r.unwrap().entry;
            let seq = seq_of[&e.id];
            assert_eq!(
                archive.entry(seq).unwrap().unwrap().entry,
                e,
                "{name}: {}",
                e.id
            );
            n += 1;
        }
        assert_eq!(n, 3000, "{name}");
    }
}

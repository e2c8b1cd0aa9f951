//! Crash safety: a real `auditlens ingest` killed with SIGKILL at random
//! moments leaves an archive that verifies intact and holds exactly the first
//! K entries in append order, and a re-run completes it without duplicates.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auditlens_core::archive::Archive;
use auditlens_core::ingest::{IngestOptions, ingest};
use auditlens_core::job::Job;
use auditlens_core::verify::Status;
use common::*;

const TRIALS: u64 = 20;
const BATCH: &str = "40";

fn sample_export() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/platform-export.jsonl")
}

fn ingest_command(archive: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_auditlens"));
    c.arg("ingest")
        .arg("--archive")
        .arg(archive)
        .arg("--batch-size")
        .arg(BATCH)
        .arg(sample_export())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// The stored records in seq order.
fn records(path: &Path) -> Vec<String> {
    let a = Archive::open(path).unwrap();
    let mut records = Vec::new();
    a.for_each_record(|_, r| records.push(String::from_utf8(r.to_vec()).unwrap()))
        .unwrap();
    records
}

/// SplitMix64: fixed seeds give the same kill times on every run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How long an uninterrupted run of `command` takes here, less a fifth (the
/// fastest of three, so that kills land while it runs even when the machine
/// speeds up); each run must store `want`.
fn kill_window(dir: &Path, command: impl Fn(&Path) -> Command, want: &[String]) -> Duration {
    let mut full = Duration::MAX;
    for i in 0..3 {
        let probe = dir.join(format!("probe-{i}.sqlite"));
        let started = Instant::now();
        assert!(command(&probe).status().unwrap().success());
        full = full.min(started.elapsed());
        assert_eq!(records(&probe), want);
    }
    full.mul_f64(0.8)
}

/// Runs the interrupted ingest again: it must succeed and leave exactly
/// `want`, intact.
fn rerun_completes(mut command: Command, path: &Path, want: &[String], trial: u64) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "trial {trial}: re-run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records(path), want, "trial {trial}: after re-run");
    assert_eq!(verify(path, None).status(), Status::Intact);
}

#[test]
fn ingest_killed_at_random_moments_keeps_a_verifiable_prefix_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // What a complete ingest stores, in order.
    let reference = dir.path().join("reference.sqlite");
    ingest(
        &reference,
        &[sample_export()],
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap();
    let want = records(&reference);
    let full = kill_window(dir.path(), ingest_command, &want);

    let mut rng = 0x5eed_u64;
    let mut cut_short = 0;
    for trial in 0..TRIALS {
        let path = dir.path().join(format!("trial-{trial}.sqlite"));
        let delay = Duration::from_micros(next(&mut rng) % full.as_micros().max(1) as u64);
        let mut child = ingest_command(&path).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if !status.success() {
            cut_short += 1;
        }

        // Whatever was left verifies intact and is a prefix of the full ingest.
        if path.exists() {
            let r = verify(&path, None);
            assert_eq!(
                r.status(),
                Status::Intact,
                "trial {trial} (killed after {delay:?}): {:#?}",
                r.findings
            );
            let got = records(&path);
            assert_eq!(got[..], want[..got.len()], "trial {trial}: not a prefix");
        }

        // A re-run completes it, adding only what is missing.
        rerun_completes(ingest_command(&path), &path, &want, trial);
    }
    // Most kills must land mid-ingest, or the test proves nothing.
    assert!(
        cut_short >= TRIALS / 2,
        "only {cut_short} of {TRIALS} runs were interrupted"
    );
}

/// The one pass (a single platform JSONL export, no `--batch-size`) commits
/// once: killed at any moment, it leaves the archive as it was before (a
/// fresh one: not there at all, or empty), or complete; a re-run completes it.
#[test]
fn one_pass_ingest_killed_at_random_moments_leaves_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The sample export, strictly newest first (it has three lines out of
    // order, for which the one pass would give up).
    let text = std::fs::read_to_string(sample_export()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let time = |l: &str| -> String {
        serde_json::from_str::<serde_json::Value>(l).unwrap()["createdAt"]
            .as_str()
            .unwrap()
            .to_string()
    };
    lines.sort_by_key(|l| std::cmp::Reverse(time(l)));
    let export = dir.path().join("newest-first.jsonl");
    std::fs::write(&export, lines.join("\n") + "\n").unwrap();
    let reference = dir.path().join("reference.sqlite");
    ingest(
        &reference,
        std::slice::from_ref(&export),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap();
    let want = records(&reference);
    // The oldest third of the export (its last lines) fills half of the
    // trials' archives first.
    let oldest = dir.path().join("oldest.jsonl");
    std::fs::write(&oldest, lines[lines.len() * 2 / 3..].join("\n") + "\n").unwrap();
    let one_pass = |archive: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditlens"));
        c.arg("ingest")
            .arg("--archive")
            .arg(archive)
            .arg(&export)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let full = kill_window(dir.path(), one_pass, &want);
    let mut rng = 0x0e_9a55_u64;
    let mut cut_short = 0;
    for trial in 0..TRIALS {
        let path = dir.path().join(format!("one-pass-{trial}.sqlite"));
        let before = if trial % 2 == 1 {
            ingest(
                &path,
                std::slice::from_ref(&oldest),
                &IngestOptions::default(),
                &Job::new(),
            )
            .unwrap();
            records(&path)
        } else {
            Vec::new()
        };
        assert_eq!(before[..], want[..before.len()]);
        let delay = Duration::from_micros(next(&mut rng) % full.as_micros().max(1) as u64);
        let mut child = one_pass(&path).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        if !child.wait().unwrap().success() {
            cut_short += 1;
        }
        if path.exists() {
            assert_eq!(
                verify(&path, None).status(),
                Status::Intact,
                "trial {trial}"
            );
            let got = records(&path);
            assert!(
                got == before || got == want,
                "trial {trial} (killed after {delay:?}): {} entries, neither the {} before nor \
                 all {}",
                got.len(),
                before.len(),
                want.len()
            );
        } else {
            assert!(before.is_empty(), "trial {trial}: the archive was removed");
        }
        rerun_completes(one_pass(&path), &path, &want, trial);
    }
    assert!(
        cut_short >= TRIALS / 2,
        "only {cut_short} of {TRIALS} runs were interrupted"
    );
}

/// The state a killed writer leaves: the archive file partly overwritten by
/// an uncommitted transaction, and its hot journal holding the old pages.
/// Made deterministically by copying both files mid-transaction.
fn archive_with_hot_journal(dir: &Path) -> (PathBuf, usize) {
    let base = build_archive(dir, "base", 200);
    let committed = records(&base).len();
    let extra = dir.join("extra.jsonl");
    write_sample(
        &extra,
        400,
        99,
        auditlens_core::sample::PlatformFormat::Jsonl,
    );
    let more = entries_of(&{
        let other = dir.join("other.sqlite");
        ingest_files(&other, std::slice::from_ref(&extra));
        other
    });
    let conn = open_for_tampering(&base);
    // A tiny page cache makes SQLite write changed pages to the file before commit.
    conn.execute_batch("PRAGMA cache_size = 1; BEGIN;").unwrap();
    for (i, e) in more.iter().enumerate() {
        insert_row(
            &conn,
            201 + i as u64,
            &e.canonical_record(),
            &[7; 32],
            &[7; 32],
        );
    }
    let crashed = dir.join("crashed.sqlite");
    std::fs::copy(&base, &crashed).unwrap();
    let journal = |p: &Path| PathBuf::from(format!("{}-journal", p.display()));
    std::fs::copy(journal(&base), journal(&crashed)).unwrap();
    conn.execute_batch("ROLLBACK;").unwrap();
    (crashed, committed)
}

#[test]
fn archive_left_mid_write_is_read_at_its_last_commit_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let (crashed, committed) = archive_with_hot_journal(dir.path());
    let journal = PathBuf::from(format!("{}-journal", crashed.display()));
    let before = (
        std::fs::read(&crashed).unwrap(),
        std::fs::read(&journal).unwrap(),
    );

    let a = Archive::open(&crashed).unwrap();
    assert!(a.interrupted_write());
    assert_eq!(a.count().unwrap(), committed as u64);
    drop(a);
    let r = verify(&crashed, None);
    assert_eq!(r.status(), Status::Intact, "{:#?}", r.findings);
    assert_eq!(r.entries, committed as u64);
    // Reading wrote nothing: the file and its journal are as the crash left them.
    assert_eq!(std::fs::read(&crashed).unwrap(), before.0);
    assert_eq!(std::fs::read(&journal).unwrap(), before.1);

    // The next ingest rolls the journal back in place and appends.
    let report = ingest_files(&crashed, &[sample_export()]);
    assert_eq!(report.added, 3000);
    assert!(!journal.exists());
    let a = Archive::open(&crashed).unwrap();
    assert!(!a.interrupted_write());
    assert_eq!(a.count().unwrap(), committed as u64 + 3000);
    assert_eq!(verify(&crashed, None).status(), Status::Intact);
}

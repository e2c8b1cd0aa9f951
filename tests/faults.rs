//! Faults around a real `auditlens ingest`: the disk fills up, the archive is
//! read-only, another program holds the archive's write lock. Each ends in a
//! clear error (exit 2, one line on stderr naming the archive and what to do),
//! never a panic, and the archive afterwards verifies intact with exactly the
//! entries it had. Readers (verify) meanwhile neither fail with "database is
//! locked" nor hang.
//!
//! The disk-full and read-only cases need root (to mount a small tmpfs, a
//! read-only bind mount, or to set the immutable attribute, since root
//! ignores permission bits). Without it they print why they were skipped.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use auditlens_core::archive::Archive;
use auditlens_core::ingest::{IngestOptions, ingest};
use auditlens_core::job::Job;
use auditlens_core::sample::PlatformFormat;
use auditlens_core::verify::Status;
use common::*;
use rusqlite::Connection;

struct Out {
    code: i32,
    stderr: String,
}

fn run_ingest(archive: &Path, input: &Path) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .arg("ingest")
        .arg("--archive")
        .arg(archive)
        .arg("--batch-size")
        .arg("500")
        .arg(input)
        .output()
        .expect("run auditlens");
    Out {
        code: o.status.code().expect("exited normally, not by a signal"),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Exit 2, one line on stderr naming `file`, containing each of `needles`, no panic.
fn assert_clear_error(o: &Out, file: &Path, needles: &[&str]) {
    assert_eq!(o.code, 2, "stderr: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let err = o.stderr.trim_end_matches('\n');
    assert_eq!(err.lines().count(), 1, "one line expected: {:?}", o.stderr);
    assert!(err.starts_with("auditlens: "), "{err}");
    assert!(
        err.contains(&file.display().to_string()),
        "{err:?} does not name {}",
        file.display()
    );
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

/// The stored records in seq order.
fn records(path: &Path) -> Vec<String> {
    let a = Archive::open(path).unwrap();
    let mut records = Vec::new();
    a.for_each_record(|_, r| records.push(String::from_utf8(r.to_vec()).unwrap()))
        .unwrap();
    records
}

/// The archive verifies intact and holds exactly `want`.
fn assert_intact_with(path: &Path, want: &[String]) {
    let r = verify(path, None);
    assert_eq!(r.status(), Status::Intact, "{:?}", r.findings);
    let got = records(path);
    assert_eq!(got.len(), want.len(), "entries stored");
    assert!(got == want, "the stored records changed");
}

/// A base archive of 300 entries and a second export of 3000 other entries.
fn base_and_input(dir: &Path) -> (PathBuf, PathBuf) {
    let base = build_archive(dir, "base", 300);
    let input = dir.join("more.jsonl");
    write_sample(&input, 3000, SEED + 1, PlatformFormat::Jsonl);
    (base, input)
}

fn sh(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A mount that is taken down when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, bytes: u64) -> Option<Mount> {
    std::fs::create_dir_all(at).unwrap();
    let size = format!("size={bytes}");
    if sh(
        "mount",
        &["-t", "tmpfs", "-o", &size, "tmpfs", at.to_str()?],
    ) {
        Some(Mount(at.to_path_buf()))
    } else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs at {} (needs root)",
            at.display()
        );
        None
    }
}

/// Ingest into an archive on a tmpfs of `free` bytes beyond the archive: fails
/// cleanly, leaves the archive intact, and succeeds once there is room.
fn disk_full_case(free: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (base, input) = base_and_input(dir.path());
    let want = records(&base);
    let size = std::fs::metadata(&base).unwrap().len();
    let Some(mnt) = mount_tmpfs(&dir.path().join("small"), size + free) else {
        return;
    };
    let archive = copy_to(&base, &mnt.0, "archive.sqlite");

    let o = run_ingest(&archive, &input);
    assert_clear_error(&o, &archive, &["disk is full", "run the same ingest again"]);
    // Batches committed before the disk filled stay (append-only, as after a
    // crash); the previous entries are untouched and everything verifies.
    let r = verify(&archive, None);
    assert_eq!(r.status(), Status::Intact, "{:?}", r.findings);
    let got = records(&archive);
    assert!(got.len() >= want.len() && got.len() < want.len() + 3000);
    assert!(
        got[..want.len()] == want[..],
        "the previous entries changed"
    );
    // Nothing was left behind to fill the disk further: no journal, no staging file.
    let left: Vec<_> = std::fs::read_dir(&mnt.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["archive.sqlite"]);

    // With room again, the same ingest completes.
    let roomy = copy_to(&archive, dir.path(), "roomy.sqlite");
    drop(mnt);
    let stored = records(&roomy).len() as u64;
    let r = ingest(&roomy, &[input], &IngestOptions::default(), &Job::new()).unwrap();
    assert_eq!(r.added + r.duplicates, 3000);
    assert_eq!(stored + r.added, 3300);
    assert_eq!(verify(&roomy, None).status(), Status::Intact);
}

/// The staging file (pass 1) does not fit.
#[test]
fn disk_full_while_staging() {
    disk_full_case(64 * 1024);
}

/// The staging file fits, the appended pages (pass 2) do not: SQLite reports
/// SQLITE_FULL mid-transaction and rolls back to the last commit.
#[test]
fn disk_full_while_appending() {
    // Staged records of 3000 sample entries take about 2.6 MB; the archive
    // grows by more than that (index columns, indexes), so 3.5 MB free lets
    // pass 1 finish and pass 2 run out of room after some commits.
    disk_full_case(3_500_000);
}

/// The immutable attribute: even root cannot open the file for writing.
#[test]
fn read_only_archive_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, input) = base_and_input(dir.path());
    let want = records(&archive);
    let a = archive.to_str().unwrap();
    if !sh("chattr", &["+i", a]) {
        eprintln!("SKIPPED: chattr +i is not available here (needs root and ext4/xfs/btrfs)");
        return;
    }
    let o = run_ingest(&archive, &input);
    sh("chattr", &["-i", a]);
    assert_clear_error(&o, &archive, &["read-only", "writable copy"]);
    assert_intact_with(&archive, &want);
}

/// A read-only mount (as a write-protected medium would be).
#[test]
fn read_only_archive_on_a_read_only_mount() {
    let dir = tempfile::tempdir().unwrap();
    let (base, input) = base_and_input(dir.path());
    let want = records(&base);
    let src = dir.path().join("medium");
    std::fs::create_dir(&src).unwrap();
    copy_to(&base, &src, "archive.sqlite");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let (s, r) = (src.to_str().unwrap(), ro.to_str().unwrap());
    if !sh("mount", &["--bind", s, r]) {
        eprintln!("SKIPPED: cannot bind-mount here (needs root)");
        return;
    }
    let mnt = Mount(ro.clone());
    assert!(sh("mount", &["-o", "remount,ro,bind", r]));
    let archive = ro.join("archive.sqlite");

    let o = run_ingest(&archive, &input);
    assert_clear_error(&o, &archive, &["read-only", "writable copy"]);
    assert_intact_with(&archive, &want);
    drop(mnt);
}

/// Environment variable that turns [`lock_holder_process`] into a lock holder.
const HOLDER_ENV: &str = "AUDITLENS_TEST_HOLD_LOCK";

/// Not a test of its own: run as a child process by the tests below, it holds
/// a write transaction (an uncommitted row) on the archive named in
/// `AUDITLENS_TEST_HOLD_LOCK` (`PATH` or `exclusive:PATH`) until its stdin
/// closes. A second process is needed: POSIX locks belong to the process, and
/// any other open and close of the file in the same process (the readers'
/// format sniffing does one) would silently drop them.
#[test]
fn lock_holder_process() {
    let Ok(spec) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let (exclusive, path) = match spec.strip_prefix("exclusive:") {
        Some(p) => (true, p.to_string()),
        None => (false, spec),
    };
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(if exclusive {
        "BEGIN EXCLUSIVE"
    } else {
        "BEGIN IMMEDIATE"
    })
    .unwrap();
    conn.execute(
        "INSERT INTO ingests (finished_at, sources, added, duplicates, conflicts) \
         VALUES ('now', 'another writer', 0, 0, 0)",
        [],
    )
    .unwrap();
    println!("LOCKED");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    conn.execute_batch("ROLLBACK").unwrap();
}

/// Another process holding a write transaction on `path`; it rolls back and
/// exits when dropped.
struct Holder(std::process::Child, BufReader<std::process::ChildStdout>);

impl Holder {
    fn start(path: &Path, exclusive: bool) -> Holder {
        let spec = if exclusive {
            format!("exclusive:{}", path.display())
        } else {
            path.display().to_string()
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock_holder_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLDER_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 && !line.contains("LOCKED") {
            line.clear();
        }
        assert!(line.contains("LOCKED"), "the lock holder did not start");
        Holder(child, out)
    }

    fn release(mut self) {
        drop(self.0.stdin.take());
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.1, &mut rest);
        assert!(
            self.0.wait().unwrap().success(),
            "the lock holder failed: {rest}"
        );
    }
}

/// Another writer holds the lock for longer than ingest waits (10 s).
#[test]
fn archive_locked_by_another_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, input) = base_and_input(dir.path());
    let want = records(&archive);
    let holder = Holder::start(&archive, false);

    // A reader is not blocked by a writer's open transaction (rollback
    // journal: a RESERVED lock still admits readers) and sees the last commit.
    let r = verify(&archive, None);
    assert_eq!(r.status(), Status::Intact, "{:?}", r.findings);
    assert_eq!(records(&archive), want);

    let o = run_ingest(&archive, &input);
    holder.release();
    assert_clear_error(&o, &archive, &["locked by another program", "try again"]);
    assert_intact_with(&archive, &want);
}

/// A writer committing holds the EXCLUSIVE lock, which shuts readers out for
/// that moment: a reader waits for it instead of failing with "database is
/// locked", and then reads the committed state.
#[test]
fn reader_waits_out_a_writers_exclusive_lock() {
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "base", 300);
    let want = records(&archive);
    let holder = Holder::start(&archive, true);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        holder.release();
    });
    let r = verify(&archive, None);
    assert_eq!(r.status(), Status::Intact, "{:?}", r.findings);
    assert_eq!(r.entries, 300);
    releaser.join().unwrap();
    assert_intact_with(&archive, &want);
}

/// A writer that holds the lock briefly (another ingest committing) is waited
/// for: the ingest then completes.
#[test]
fn ingest_waits_for_a_brief_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, input) = base_and_input(dir.path());
    let want = records(&archive);
    let holder = Holder::start(&archive, false);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        holder.release();
    });
    let o = run_ingest(&archive, &input);
    releaser.join().unwrap();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = verify(&archive, None);
    assert_eq!(r.status(), Status::Intact, "{:?}", r.findings);
    let got = records(&archive);
    assert_eq!(got.len(), 3300);
    assert!(got[..300] == want[..]);
}

/// A reader facing an EXCLUSIVE lock held past its busy timeout (5 s) says
/// the archive is locked: it does not hang, and it does not call the file
/// "not an auditlens archive".
#[test]
fn reader_facing_a_stuck_exclusive_lock_says_locked() {
    let dir = tempfile::tempdir().unwrap();
    let archive = build_archive(dir.path(), "base", 50);
    let want = records(&archive);
    let holder = Holder::start(&archive, true);
    let e = match auditlens_core::verify::verify_file(&archive, None, &Job::new()) {
        Ok(_) => panic!("verify read through an exclusive lock"),
        Err(e) => e,
    };
    holder.release();
    let msg = e.to_string();
    assert!(
        msg.contains(&archive.display().to_string()) && msg.contains("locked by another program"),
        "{msg}"
    );
    assert_intact_with(&archive, &want);
}

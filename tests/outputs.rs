//! Outputs never replace evidence (DESIGN.md principle 10).
//!
//! Every output path of every command (export in its four formats and the CSV
//! proof sidecar, the report and its JSON twin, keygen's key and .pub, sample,
//! ingest's rejects file) is pointed at each kind of evidence, by content
//! under the output's own name, and at the command's own input through a
//! symlink and a hard link: exit 2, one line on stderr, the file's bytes,
//! inode and mtime unchanged, nothing left in the folder, with and without
//! `--force`. Another existing file is refused without `--force` and replaced
//! with it. A write that fails midway leaves nothing, and the viewer's
//! Export… refuses an existing platform export in its window.

mod common;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use auditlens_core::archive::Archive;
use auditlens_core::case::CaseFile;
use auditlens_core::export::{self, ExportError, ExportFormat, export_with};
use auditlens_core::filter::Filter;
use auditlens_core::job::Job;
use auditlens_core::note::SignerKey;
use auditlens_core::output::Destination;
use auditlens_core::proof::{self, SignedCheckpoint};
use auditlens_core::sample::{PlatformFormat, Sample};
use common::*;

fn os(parts: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

/// The evidence every output is tried against, and the inputs of the commands.
struct Vault {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// The archive that export and report read.
    input: PathBuf,
    /// A platform JSONL with one bad record: ingest --skip-invalid rejects it.
    bad_input: PathBuf,
    /// (kind, bytes)
    evidence: Vec<(&'static str, Vec<u8>)>,
}

fn vault() -> Vault {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let work = root.join("made");
    std::fs::create_dir(&work).unwrap();
    let input = build_archive(&root, "input", 40);
    let other = build_archive(&work, "other", 12);
    let read = |p: &Path| std::fs::read(p).unwrap();
    let mut evidence = vec![("archive", read(&other))];
    for (kind, f) in [
        ("platform export JSON", PlatformFormat::Json),
        ("platform export JSONL", PlatformFormat::Jsonl),
        ("platform export CSV", PlatformFormat::Csv),
    ] {
        let p = work.join(kind.replace(' ', "_"));
        write_sample(&p, 5, 3, f);
        evidence.push((kind, read(&p)));
    }
    let a = Archive::open(&other).unwrap();
    for (kind, f) in [
        ("auditlens export JSON", ExportFormat::Json),
        ("auditlens export NDJSON", ExportFormat::Ndjson),
        ("auditlens export CSV", ExportFormat::Csv),
    ] {
        let p = work.join(format!("subset.{}", f.extension()));
        let dest = Destination::new(&p);
        export_with(
            &a,
            &Filter::default(),
            Some(&[2, 3]),
            f,
            &dest,
            None,
            &Job::new(),
        )
        .unwrap();
        evidence.push((kind, read(&p)));
        if f == ExportFormat::Csv {
            evidence.push(("CSV proof sidecar", read(&proof::sidecar_path(&p))));
        }
    }
    let ecs = work.join("ecs.ndjson");
    auditlens_core::siem::export_ecs(
        &a,
        &Filter::default(),
        None,
        None,
        &Destination::new(&ecs),
        &Job::new(),
    )
    .unwrap();
    evidence.push(("ECS export", read(&ecs)));
    let key = SignerKey::from_seed("auditor.example/k", &[9; 32]).unwrap();
    let cp = a.checkpoint().unwrap();
    evidence.push(("checkpoint", cp.to_text().into_bytes()));
    let signed = SignedCheckpoint::text(&cp, Some(&key)).unwrap();
    evidence.push(("signed checkpoint", signed.into_bytes()));
    evidence.push(("private key", (key.to_text() + "\n").into_bytes()));
    evidence.push(("public key", (key.verifier().to_text() + "\n").into_bytes()));
    let mut case = CaseFile::new(a.id());
    case.mark_mut(2, "e2").note = "seen".into();
    let case_file = work.join("notes.case.json");
    case.save(&case_file).unwrap();
    evidence.push(("case file", read(&case_file)));

    let bad_input = root.join("incoming.jsonl");
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&platform_jsonl_line(&Sample::new(3, 5).entry(i)));
        text.push('\n');
    }
    text.push_str(
        "{\"id\":\"cbad\",\"createdAt\":\"not a time\",\"resourceType\":\"prompt\",\"action\":\"create\"}\n",
    );
    std::fs::write(&bad_input, text).unwrap();
    Vault {
        _dir: dir,
        root,
        input,
        bad_input,
        evidence,
    }
}

/// One output path of one command: the file it writes (`target`, main or
/// side file) and the arguments that make it write there.
struct Role {
    name: &'static str,
    /// File name of the target, in the case folder.
    target: &'static str,
    /// Does the command read an input that a link can point to?
    input: Option<fn(&Vault) -> PathBuf>,
    args: fn(&Vault, &Path) -> Vec<OsString>,
    /// What the target holds once the command replaced it (`--force`).
    written: fn(&[u8]) -> bool,
}

fn the_archive(v: &Vault) -> PathBuf {
    v.input.clone()
}

fn the_bad_input(v: &Vault) -> PathBuf {
    v.bad_input.clone()
}

fn starts(b: &[u8], prefix: &str) -> bool {
    String::from_utf8_lossy(b).trim_start().starts_with(prefix)
}

fn roles() -> Vec<Role> {
    fn export(v: &Vault, dir: &Path, format: &str, out: &str) -> Vec<OsString> {
        os(&[
            &"export",
            &v.input,
            &"--format",
            &format,
            &"-o",
            &dir.join(out),
        ])
    }
    fn report(v: &Vault, dir: &Path) -> Vec<OsString> {
        os(&[&"report", &v.input, &"-o", &dir.join("out.html")])
    }
    fn keygen(_: &Vault, dir: &Path) -> Vec<OsString> {
        os(&[
            &"keygen",
            &"--name",
            &"a.example/k",
            &"-o",
            &dir.join("out.key"),
        ])
    }
    vec![
        Role {
            name: "export json",
            target: "out.json",
            input: Some(the_archive),
            args: |v, d| export(v, d, "json", "out.json"),
            written: |b| starts(b, "{\"auditlens_export\""),
        },
        Role {
            name: "export ndjson",
            target: "out.ndjson",
            input: Some(the_archive),
            args: |v, d| export(v, d, "ndjson", "out.ndjson"),
            written: |b| starts(b, "{\"auditlens_export\""),
        },
        Role {
            name: "export csv",
            target: "out.csv",
            input: Some(the_archive),
            args: |v, d| export(v, d, "csv", "out.csv"),
            written: |b| starts(b, "archive_id,seq,"),
        },
        Role {
            name: "export ecs",
            target: "out.ecs.jsonl",
            input: Some(the_archive),
            args: |v, d| export(v, d, "ecs", "out.ecs.jsonl"),
            written: |b| starts(b, "{\"@timestamp\""),
        },
        Role {
            name: "export csv: its proof sidecar",
            target: "out.csv.proof.json",
            input: Some(the_archive),
            args: |v, d| export(v, d, "csv", "out.csv"),
            written: |b| starts(b, "{\"auditlens_proof\""),
        },
        Role {
            name: "report html",
            target: "out.html",
            input: Some(the_archive),
            args: report,
            written: |b| starts(b, "<!DOCTYPE html>"),
        },
        Role {
            name: "report: its JSON twin",
            target: "out.json",
            input: Some(the_archive),
            args: report,
            written: |b| String::from_utf8_lossy(b).contains("\"verification\""),
        },
        Role {
            name: "keygen: the signing key",
            target: "out.key",
            input: None,
            args: keygen,
            written: |b| starts(b, "PRIVATE+KEY+a.example/k+"),
        },
        Role {
            name: "keygen: the verifier key",
            target: "out.key.pub",
            input: None,
            args: keygen,
            written: |b| starts(b, "a.example/k+"),
        },
        Role {
            name: "sample",
            target: "out.jsonl",
            input: None,
            args: |_, d| {
                os(&[
                    &"sample",
                    &"--entries",
                    &"5",
                    &"--format",
                    &"jsonl",
                    &"-o",
                    &d.join("out.jsonl"),
                ])
            },
            written: |b| starts(b, "{\""),
        },
        Role {
            name: "ingest: --rejects",
            target: "rejected.jsonl",
            input: Some(the_bad_input),
            args: |v, d| {
                os(&[
                    &"ingest",
                    &"--archive",
                    &d.join("new.sqlite"),
                    &"--skip-invalid",
                    &"--rejects",
                    &d.join("rejected.jsonl"),
                    &v.bad_input,
                ])
            },
            written: |b| String::from_utf8_lossy(b).contains("\"reason\""),
        },
        Role {
            name: "ingest: the default rejects file",
            target: "new.sqlite.rejects.jsonl",
            input: Some(the_bad_input),
            args: |v, d| {
                os(&[
                    &"ingest",
                    &"--archive",
                    &d.join("new.sqlite"),
                    &"--skip-invalid",
                    &v.bad_input,
                ])
            },
            written: |b| String::from_utf8_lossy(b).contains("\"reason\""),
        },
    ]
}

/// What must not change: the folder's names, and the target's bytes, inode and mtime.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    names: Vec<String>,
    bytes: Vec<u8>,
    inode: (u64, u64),
    mtime: SystemTime,
}

fn names(dir: &Path) -> Vec<String> {
    // The viewer's search sidecar beside an archive it opened is derived
    // data it may (re)write, not an output of the command under test.
    let sidecar = auditlens_core::archive::search_sidecar::SUFFIX;
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(sidecar))
        .collect();
    n.sort();
    n
}

fn snapshot(dir: &Path, target: &Path) -> Snapshot {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(target).unwrap();
    Snapshot {
        names: names(dir),
        bytes: std::fs::read(target).unwrap(),
        inode: (m.dev(), m.ino()),
        mtime: m.modified().unwrap(),
    }
}

/// Puts `bytes` at `path` with an mtime long past, so any rewrite shows.
fn place(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// Exit 2 and one line on stderr containing `needle`; nothing changed.
fn assert_refused(what: &str, o: &Out, needle: &str, dir: &Path, target: &Path, before: &Snapshot) {
    assert_eq!(o.code, 2, "{what}: {}", o.stderr);
    let err = o.stderr.trim_end_matches('\n');
    assert_eq!(
        err.lines().count(),
        1,
        "{what}: one line expected: {:?}",
        o.stderr
    );
    assert!(err.starts_with("auditlens: "), "{what}: {err}");
    assert!(err.contains(needle), "{what}: {err:?} lacks {needle:?}");
    assert_eq!(
        &snapshot(dir, target),
        before,
        "{what}: the target or the folder changed"
    );
}

fn case_dir(v: &Vault, name: &str) -> PathBuf {
    let d = v.root.join(name);
    std::fs::create_dir(&d).unwrap();
    d
}

fn with_force(mut args: Vec<OsString>, force: bool) -> Vec<OsString> {
    if force {
        args.push("--force".into());
    }
    args
}

/// Every output path against every kind of evidence, placed under the
/// output's own name (recognition is by content), with and without --force.
fn evidence_case(role: &Role) {
    let v = vault();
    for (i, (kind, bytes)) in v.evidence.iter().enumerate() {
        for force in [false, true] {
            let dir = case_dir(&v, &format!("case-{i}-{force}"));
            let target = dir.join(role.target);
            place(&target, bytes);
            let before = snapshot(&dir, &target);
            let o = run(with_force((role.args)(&v, &dir), force));
            let what = format!("{} onto {kind} (force: {force})", role.name);
            assert_refused(
                &what,
                &o,
                "(evidence), which auditlens never replaces",
                &dir,
                &target,
                &before,
            );
            assert!(
                o.stderr.contains(&target.display().to_string()),
                "{what}: {}",
                o.stderr
            );
        }
    }
}

#[test]
fn exports_never_replace_evidence() {
    for role in roles().iter().filter(|r| r.name.starts_with("export")) {
        evidence_case(role);
    }
}

#[test]
fn reports_never_replace_evidence() {
    for role in roles().iter().filter(|r| r.name.starts_with("report")) {
        evidence_case(role);
    }
}

#[test]
fn keygen_sample_and_ingest_never_replace_evidence() {
    let all = roles();
    let rest = all.iter().filter(|r| {
        r.name.starts_with("keygen") || r.name.starts_with("sample") || r.name.starts_with("ingest")
    });
    for role in rest {
        evidence_case(role);
    }
}

/// The command's own input, reached through a symlink or a hard link at
/// the output's name: refused as a file the command reads, --force or not.
#[test]
fn the_input_through_a_symlink_or_a_hard_link_is_refused() {
    let v = vault();
    for role in roles() {
        let Some(input) = role.input else { continue };
        for (link_kind, hard) in [("symlink", false), ("hard link", true)] {
            for force in [false, true] {
                let dir = case_dir(
                    &v,
                    &format!("{}-{link_kind}-{force}", role.name.replace([' ', ':'], "_")),
                );
                let target = dir.join(role.target);
                let input = input(&v);
                if hard {
                    std::fs::hard_link(&input, &target).unwrap();
                } else {
                    std::os::unix::fs::symlink(&input, &target).unwrap();
                }
                let before = snapshot(&dir, &target);
                let input_before = std::fs::read(&input).unwrap();
                let o = run(with_force((role.args)(&v, &dir), force));
                let what = format!(
                    "{} onto its input by {link_kind} (force: {force})",
                    role.name
                );
                assert_refused(
                    &what,
                    &o,
                    "which this command reads",
                    &dir,
                    &target,
                    &before,
                );
                assert_eq!(std::fs::read(&input).unwrap(), input_before, "{what}");
                if !hard {
                    assert!(
                        std::fs::symlink_metadata(&target)
                            .unwrap()
                            .file_type()
                            .is_symlink()
                    );
                }
            }
        }
    }
}

/// The input's side files are the input's, existing or not: an export named
/// like the archive's journal would be taken by SQLite for a hot journal.
#[test]
fn the_inputs_side_files_are_refused_by_name() {
    let v = vault();
    for side in [
        "input.sqlite-journal",
        "input.sqlite-wal",
        "input.sqlite.case.json",
    ] {
        let out = v.root.join(side);
        let before = names(&v.root);
        let o = run(os(&[
            &"export",
            &v.input,
            &"--format",
            &"json",
            &"-o",
            &out,
            &"--force",
        ]));
        assert_eq!(o.code, 2, "{side}: {}", o.stderr);
        assert!(
            o.stderr.contains("which this command reads"),
            "{side}: {}",
            o.stderr
        );
        assert_eq!(o.stderr.trim_end().lines().count(), 1);
        assert_eq!(names(&v.root), before, "{side}");
    }
    // The archive itself, by its own name, in every export format.
    for format in ["json", "ndjson", "csv", "ecs"] {
        let before = std::fs::read(&v.input).unwrap();
        let o = run(os(&[
            &"export",
            &v.input,
            &"--format",
            &format,
            &"-o",
            &v.input,
            &"--force",
        ]));
        assert_eq!(o.code, 2, "{format}: {}", o.stderr);
        assert!(
            o.stderr
                .contains("input.sqlite itself, which this command reads"),
            "{}",
            o.stderr
        );
        assert_eq!(std::fs::read(&v.input).unwrap(), before);
    }
    // A report named .json would be its own twin.
    let o = run(os(&[&"report", &v.input, &"-o", &v.root.join("r.json")]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("give the report a .html name"),
        "{}",
        o.stderr
    );
}

/// Another existing file: refused without --force (and said how), replaced with it.
#[test]
fn another_existing_file_is_replaced_only_with_force() {
    let v = vault();
    for role in roles() {
        let dir = case_dir(&v, &format!("plain-{}", role.name.replace([' ', ':'], "_")));
        let target = dir.join(role.target);
        place(&target, b"my own notes, nothing to do with auditlens\n");
        let before = snapshot(&dir, &target);
        let o = run((role.args)(&v, &dir));
        let what = format!("{} onto a plain file", role.name);
        assert_refused(
            &what,
            &o,
            "exists; pass --force to replace it",
            &dir,
            &target,
            &before,
        );

        let o = run(with_force((role.args)(&v, &dir), true));
        assert_eq!(o.code, 0, "{what} with --force: {}", o.stderr);
        let now = std::fs::read(&target).unwrap();
        assert!(
            (role.written)(&now),
            "{what}: {:?}",
            String::from_utf8_lossy(&now[..now.len().min(200)])
        );
        assert!(
            !names(&dir).iter().any(|n| n.starts_with(".auditlens-")),
            "{what}: a staging folder was left: {:?}",
            names(&dir)
        );
        if role.target == "out.key" {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the signing key must stay private");
        }
    }
}

/// A side file that would be refused stops the main file too: all are
/// checked before anything is written.
#[test]
fn a_refused_side_file_stops_the_whole_output() {
    let v = vault();
    let (_, sidecar_bytes) = v
        .evidence
        .iter()
        .find(|(k, _)| *k == "platform export JSON")
        .unwrap();
    let dir = case_dir(&v, "side");
    let sidecar = dir.join("out.csv.proof.json");
    place(&sidecar, sidecar_bytes);
    let o = run(os(&[
        &"export",
        &v.input,
        &"--format",
        &"csv",
        &"-o",
        &dir.join("out.csv"),
        &"--force",
    ]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        !dir.join("out.csv").exists(),
        "the CSV was written without its sidecar"
    );
    assert_eq!(names(&dir), ["out.csv.proof.json"]);
    // keygen: a key at KEY.pub stops KEY too.
    let (_, public) = v.evidence.iter().find(|(k, _)| *k == "public key").unwrap();
    place(&dir.join("k.pub"), public);
    let o = run(os(&[
        &"keygen",
        &"--name",
        &"x/y",
        &"-o",
        &dir.join("k"),
        &"--force",
    ]));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(!dir.join("k").exists());
}

/// A cancelled export leaves nothing: no file, no sidecar, no temporary
/// file; an existing file it was allowed to replace is untouched.
#[test]
fn a_cancelled_export_leaves_nothing() {
    let v = vault();
    let a = Archive::open(&v.input).unwrap();
    for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Csv] {
        let dir = case_dir(&v, &format!("cancel-{}", format.extension()));
        let out = dir.join(format!("out.{}", format.extension()));
        place(&out, b"replace me\n");
        let before = snapshot(&dir, &out);
        let job = Job::new();
        job.cancel();
        let r = export_with(
            &a,
            &Filter::default(),
            None,
            format,
            &Destination::cli(&out, true),
            None,
            &job,
        );
        assert!(
            matches!(r, Err(ExportError::Cancelled)),
            "{format:?}: {r:?}"
        );
        assert_eq!(snapshot(&dir, &out), before, "{format:?}");
    }
    let dir = case_dir(&v, "cancel-ecs");
    let job = Job::new();
    job.cancel();
    let r = auditlens_core::siem::export_ecs(
        &a,
        &Filter::default(),
        None,
        None,
        &Destination::new(dir.join("e.jsonl")),
        &job,
    );
    assert!(matches!(r, Err(ExportError::Cancelled)), "{r:?}");
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
}

/// An export that fails midway (a damaged record after the first rows were
/// written) leaves nothing at its name and no temporary file.
#[test]
fn an_export_failing_midway_leaves_nothing() {
    let v = vault();
    let damaged = copy_to(&v.input, &v.root, "damaged.sqlite");
    {
        let conn = open_for_tampering(&damaged);
        let n = conn
            .execute(
                "UPDATE entries SET record = 'not a record' WHERE seq = 30",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    for format in ["json", "ndjson", "csv", "ecs"] {
        let dir = case_dir(&v, &format!("midway-{format}"));
        let out = dir.join(format!("out.{format}"));
        let o = run(os(&[
            &"export",
            &damaged,
            &"--format",
            &format,
            &"-o",
            &out,
        ]));
        assert_eq!(o.code, 2, "{format}: {}", o.stderr);
        assert!(o.stderr.contains("entry 30"), "{format}: {}", o.stderr);
        assert!(names(&dir).is_empty(), "{format}: {:?}", names(&dir));
    }
}

/// A folder that cannot be written to: a clear error, nothing left. Root
/// ignores permission bits, so as root the folder is a read-only bind mount.
#[test]
fn a_read_only_folder_leaves_nothing() {
    let v = vault();
    let dir = case_dir(&v, "ro");
    let ro = if is_root() {
        let view = v.root.join("ro-view");
        std::fs::create_dir(&view).unwrap();
        let (s, t) = (dir.to_str().unwrap(), view.to_str().unwrap());
        if !sh("mount", &["--bind", s, t]) || !sh("mount", &["-o", "remount,ro,bind", t]) {
            let _ = sh("umount", &["-l", t]);
            eprintln!("SKIPPED: cannot make a read-only bind mount here");
            return;
        }
        Some(view)
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        None
    };
    let folder = ro.clone().unwrap_or_else(|| dir.clone());
    let outs = [
        os(&[
            &"export",
            &v.input,
            &"--format",
            &"csv",
            &"-o",
            &folder.join("out.csv"),
        ]),
        os(&[&"report", &v.input, &"-o", &folder.join("r.html")]),
        os(&[&"keygen", &"--name", &"a/b", &"-o", &folder.join("k")]),
        os(&[
            &"sample",
            &"--entries",
            &"5",
            &"-o",
            &folder.join("s.sqlite"),
        ]),
    ];
    for args in outs {
        let o = run(&args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("cannot write in"),
            "{args:?}: {}",
            o.stderr
        );
        assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
        assert!(names(&folder).is_empty(), "{:?}", names(&folder));
    }
    if let Some(view) = ro {
        sh("umount", &["-l", view.to_str().unwrap()]);
    }
}

/// The disk fills up in the middle of an export: nothing is left behind to
/// fill it further. Needs root to mount a small tmpfs.
#[test]
fn a_full_disk_midway_leaves_nothing() {
    let v = vault();
    let big = build_archive(&v.root, "big", 2000);
    let small = v.root.join("small");
    std::fs::create_dir(&small).unwrap();
    if !sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=262144",
            "tmpfs",
            small.to_str().unwrap(),
        ],
    ) {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root)");
        return;
    }
    for format in ["json", "csv", "ecs"] {
        let o = run(os(&[
            &"export",
            &big,
            &"--format",
            &format,
            &"-o",
            &small.join("out"),
        ]));
        assert_eq!(o.code, 2, "{format}: {}", o.stderr);
        assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
        assert!(names(&small).is_empty(), "{format}: {:?}", names(&small));
    }
    sh("umount", &["-l", small.to_str().unwrap()]);
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // A file just made is owned by whoever runs the tests.
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::metadata(f.path()).unwrap().uid() == 0
}

fn sh(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The core's own exporter refuses as the CLI does (the viewer calls it).
#[test]
fn the_core_exporter_refuses_an_existing_export() {
    let v = vault();
    let a = Archive::open(&v.input).unwrap();
    let dir = case_dir(&v, "core");
    let out = dir.join("a.json");
    export::export(
        &a,
        &Filter::default(),
        ExportFormat::Json,
        &out,
        &Job::new(),
    )
    .unwrap();
    let before = snapshot(&dir, &out);
    let r = export_with(
        &a,
        &Filter::default(),
        None,
        ExportFormat::Json,
        &Destination::viewer(&out, true),
        None,
        &Job::new(),
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("an auditlens JSON export (evidence)"), "{e}");
    assert_eq!(snapshot(&dir, &out), before);
}

// ------------------------------------------------------------------ the viewer

mod viewer {
    use super::*;
    use auditlens::app::egui;
    use auditlens::app::{FileDialogs, Viewer};
    use common::viewer::wait_for;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    /// A save dialog that returns one path (as if the user picked it and
    /// confirmed the overwrite the dialog asks about).
    struct Picks(Option<PathBuf>);

    impl FileDialogs for Picks {
        fn pick_open(&mut self) -> Option<PathBuf> {
            None
        }
        fn pick_save(&mut self, _: &str) -> Option<PathBuf> {
            self.0.clone()
        }
    }

    fn harness(path: &Path, save: Option<PathBuf>) -> Harness<'static, Viewer> {
        common::viewer::open(path.to_path_buf(), egui::vec2(1400.0, 900.0), Picks(save))
    }

    /// Opens the Export window, picks `format`, types `out` and clicks Export.
    fn export_typed(h: &mut Harness<'_, Viewer>, format: &str, out: &Path) {
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
        h.run_steps(2);
        h.get_by_label(format).click();
        h.state_mut().panels.export.path.clear();
        h.run_steps(1);
        let field = || egui::accesskit::Role::TextInput;
        h.get_by_role_and_label(field(), "Save to").click();
        h.run_steps(2);
        h.get_by_role_and_label(field(), "Save to")
            .type_text(out.to_str().unwrap());
        h.run_steps(2);
        h.state_mut().state.last_export = None;
        h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
            .click();
        wait_for(h, "export", |v| v.state.last_export.is_some());
    }

    #[test]
    fn export_onto_an_existing_platform_export_is_refused_in_the_window() {
        let v = vault();
        let dir = case_dir(&v, "viewer");
        let (_, jsonl) = v
            .evidence
            .iter()
            .find(|(k, _)| *k == "platform export JSONL")
            .unwrap();
        let incident = dir.join("incident.jsonl");
        place(&incident, jsonl);
        let before = snapshot(&dir, &incident);
        // Even picked in the dialog (which asked "replace?"), evidence stays.
        let mut h = harness(&v.input, Some(incident.clone()));
        wait_for(&mut h, "open", |v| {
            v.state.index().is_some() && !v.state.busy()
        });

        export_typed(&mut h, "NDJSON", &incident);
        h.get_by_label_contains("incident.jsonl: it is a JSONL platform export (evidence)");
        assert_eq!(snapshot(&dir, &incident), before);

        // Browse… returns the same file: the dialog's consent does not cover evidence.
        h.get_by_label("Browse…").click();
        h.run_steps(2);
        h.state_mut().state.last_export = None;
        h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
            .click();
        wait_for(&mut h, "export", |v| v.state.last_export.is_some());
        h.get_by_label_contains("which auditlens never replaces");
        assert_eq!(snapshot(&dir, &incident), before);

        // JSON into a .jsonl name: refused by its name, nothing written.
        let fresh = dir.join("fresh.jsonl");
        export_typed(&mut h, "JSON", &fresh);
        h.get_by_label_contains("a JSON export's name ends in .json");
        assert!(!fresh.exists());
        assert_eq!(names(&dir), ["incident.jsonl"]);
    }

    #[test]
    fn a_typed_existing_file_is_refused_and_a_dialog_pick_replaces_it() {
        let v = vault();
        let dir = case_dir(&v, "viewer-plain");
        let plain = dir.join("mine.json");
        place(&plain, b"{\n  \"my\": \"notes\"\n}\n");
        let before = snapshot(&dir, &plain);
        let mut h = harness(&v.input, Some(plain.clone()));
        wait_for(&mut h, "open", |v| {
            v.state.index().is_some() && !v.state.busy()
        });
        export_typed(&mut h, "JSON", &plain);
        h.get_by_label_contains(
            "mine.json exists; choose another name, or pick it in the save dialog (Browse…) to replace it",
        );
        assert_eq!(snapshot(&dir, &plain), before);
        // Picked with Browse… (the dialog asked first): replaced.
        h.get_by_label("Browse…").click();
        h.run_steps(2);
        h.state_mut().state.last_export = None;
        h.get_by_role_and_label(egui::accesskit::Role::Button, "Export")
            .click();
        wait_for(&mut h, "export", |v| v.state.last_export.is_some());
        h.get_by_label_contains("Exported 40 entries");
        let text = std::fs::read_to_string(&plain).unwrap();
        assert!(text.starts_with("{\"auditlens_export\""), "{text}");
        assert_eq!(names(&dir), ["mine.json"]);
    }

    /// Report…: a twin that would land on a platform export is refused before
    /// anything is written; with no dialog, the default name never replaces
    /// an earlier report.
    #[test]
    fn report_beside_a_platform_export_is_refused_and_the_default_name_never_replaces() {
        let v = vault();
        let dir = case_dir(&v, "viewer-report");
        let archive = copy_to(&v.input, &dir, "a.sqlite");
        let (_, json) = v
            .evidence
            .iter()
            .find(|(k, _)| *k == "platform export JSON")
            .unwrap();
        let incident = dir.join("incident.json");
        place(&incident, json);
        let before = snapshot(&dir, &incident);
        let mut h = harness(&archive, Some(dir.join("incident.html")));
        wait_for(&mut h, "open", |v| {
            v.state.index().is_some() && !v.state.busy()
        });
        h.get_by_label("Report…").click();
        h.run_steps(3);
        h.get_by_label_contains("incident.json: it is a JSON platform export (evidence)");
        assert_eq!(snapshot(&dir, &incident), before);
        drop(h);

        let mut h = harness(&archive, None);
        wait_for(&mut h, "open", |v| {
            v.state.index().is_some() && !v.state.busy()
        });
        for _ in 0..2 {
            h.state_mut().state.notice = None;
            h.get_by_label("Report…").click();
            wait_for(&mut h, "report", |v| {
                v.state
                    .notice
                    .as_deref()
                    .is_some_and(|n| n.starts_with("report written"))
            });
        }
        let mut got = names(&dir);
        got.retain(|n| n.contains(".report"));
        assert_eq!(
            got,
            [
                "a.sqlite.report-2.html",
                "a.sqlite.report-2.json",
                "a.sqlite.report.html",
                "a.sqlite.report.json"
            ]
        );
    }
}

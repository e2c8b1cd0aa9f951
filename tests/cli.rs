//! The binary, run the way a user runs it.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use auditlens_core::archive::Archive;
use auditlens_core::checkpoint::Checkpoint;
use auditlens_core::model::{ActorType, Entry};
use auditlens_core::sample::PlatformFormat;
use auditlens_core::time::Timestamp;
use common::*;
use serde_json::Value;

const N: u64 = 300;

fn ok(o: &Out) {
    assert_eq!(o.code, 0, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
}

fn json_of(o: &Out) -> Value {
    serde_json::from_str(o.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", o.stdout))
}

fn p(path: &Path) -> &OsStr {
    path.as_os_str()
}

/// `auditlens sample` a JSONL, then `auditlens ingest` it; returns (archive, ingest stdout).
fn sample_and_ingest(dir: &Path) -> (PathBuf, String) {
    let jsonl = dir.join("sample.jsonl");
    ok(&run(["sample", "--entries", "300", "--seed", "7", "-o"]
        .iter()
        .map(OsStr::new)
        .chain([p(&jsonl)])));
    let archive = dir.join("audit.sqlite");
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        p(&archive),
        p(&jsonl),
    ]);
    ok(&o);
    (archive, o.stdout)
}

// ---------------------------------------------------------------- sample, ingest, checkpoint

/// A staging folder that a killed run left beside the destination (an
/// ingest's holds a partial archive) is named, with its size, and left
/// alone: deleting is the user's call. One still being written is not named.
#[test]
fn a_left_over_staging_folder_is_named_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let left = dir.path().join(".auditlens-Q1w2E3");
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("audit.sqlite"), vec![0u8; 2_500_000]).unwrap();
    let busy = dir.path().join(".auditlens-R4t5Y6");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("audit.sqlite"), b"being written").unwrap();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(5 * 3600);
    for path in [left.join("audit.sqlite"), left.clone(), busy.clone()] {
        std::fs::File::open(&path)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(long_ago))
            .unwrap();
    }
    let (archive, _) = sample_and_ingest(dir.path());
    let again = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        p(&archive),
        p(&dir.path().join("sample.jsonl")),
    ]);
    ok(&again);
    let notes: Vec<&str> = again
        .stderr
        .lines()
        .filter(|l| l.starts_with("note: "))
        .collect();
    assert_eq!(notes.len(), 1, "{}", again.stderr);
    assert!(
        notes[0].contains(".auditlens-Q1w2E3") && notes[0].contains("2.5 MB"),
        "{}",
        notes[0]
    );
    assert!(notes[0].contains("interrupted"), "{}", notes[0]);
    assert_eq!(
        std::fs::read(left.join("audit.sqlite")).unwrap().len(),
        2_500_000
    );
    assert!(busy.join("audit.sqlite").exists());
}

#[test]
fn sample_writes_the_generator_output() {
    let d = tempfile::tempdir().unwrap();
    for (name, f) in [
        ("s.json", PlatformFormat::Json),
        ("s.jsonl", PlatformFormat::Jsonl),
        ("s.csv", PlatformFormat::Csv),
    ] {
        let out = d.path().join(name);
        let o = run([
            OsStr::new("sample"),
            OsStr::new("--entries"),
            OsStr::new("50"),
            OsStr::new("--seed"),
            OsStr::new("7"),
            OsStr::new("-o"),
            p(&out),
        ]);
        ok(&o);
        assert!(o.stderr.contains("wrote 50 sample entries"), "{}", o.stderr);
        let lib = d.path().join(format!("lib.{name}"));
        write_sample(&lib, 50, 7, f);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&lib).unwrap(),
            "{name}"
        );
        // An existing file is not overwritten (it is a platform export: evidence).
        let o = run([OsStr::new("sample"), OsStr::new("-o"), p(&out)]);
        assert_eq!(o.code, 2);
        assert!(o.stderr.contains("never replaces"), "{}", o.stderr);
    }
    // Straight to a sealed archive.
    let archive = d.path().join("s.sqlite");
    ok(&run([
        OsStr::new("sample"),
        OsStr::new("--entries"),
        OsStr::new("50"),
        OsStr::new("-o"),
        p(&archive),
    ]));
    let o = run([OsStr::new("verify"), p(&archive)]);
    ok(&o);
    assert_eq!(Archive::open(&archive).unwrap().count().unwrap(), 50);
}

#[test]
fn ingest_prints_counts_and_the_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let (archive, stdout) = sample_and_ingest(d.path());
    assert!(stdout.contains("created"), "{stdout}");
    assert!(
        stdout.contains("read 300, added 300, already stored 0, conflicting 0"),
        "{stdout}"
    );
    assert!(stdout.contains("seq 1–300"), "{stdout}");
    // Ingest prints the log checkpoint (four lines, no index roots: those
    // cost five sorts of the archive) and says which command adds them.
    let printed = format!(
        "{}\n",
        stdout
            .split("are proven against):\n")
            .nth(1)
            .expect("ingest prints the checkpoint")
            .trim_end()
    );
    let printed = printed.as_str();
    assert!(
        stdout.contains("`auditlens checkpoint ARCHIVE` prints one with the index roots"),
        "{stdout}"
    );
    let ingested = Checkpoint::parse(printed).unwrap();
    assert_eq!(ingested.indexes, None);
    assert_eq!(printed.lines().count(), 4, "{printed}");
    let cp = run([OsStr::new("checkpoint"), p(&archive)]);
    ok(&cp);
    let parsed = Checkpoint::parse(&cp.stdout).unwrap();
    assert_eq!(parsed.size, N);
    assert_eq!(parsed.archive_id, Archive::open(&archive).unwrap().id());
    // The same log as `auditlens checkpoint` describes: its first four lines.
    assert!(ingested.same_log(&parsed));
    assert!(
        cp.stdout.starts_with(printed),
        "{printed}\n---\n{}",
        cp.stdout
    );
    // And `verify --checkpoint` takes it as it is.
    let saved = d.path().join("ingest.checkpoint");
    std::fs::write(&saved, printed).unwrap();
    let v = run([
        OsStr::new("verify"),
        OsStr::new("--json"),
        p(&archive),
        OsStr::new("--checkpoint"),
        p(&saved),
    ]);
    ok(&v);
    assert_eq!(
        json_of(&v)["checkpoint"]["status"],
        "matches",
        "{}",
        v.stdout
    );
    // Again: everything already stored, nothing added, exit 0.
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        p(&archive),
        p(&d.path().join("sample.jsonl")),
    ]);
    ok(&o);
    assert!(o.stdout.contains("appended to"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("read 300, added 0, already stored 300, conflicting 0"),
        "{}",
        o.stdout
    );
    // --json.
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--json"),
        OsStr::new("--archive"),
        p(&archive),
        p(&d.path().join("sample.jsonl")),
    ]);
    ok(&o);
    let j = json_of(&o);
    assert_eq!(j["added"], 0);
    assert_eq!(j["duplicates"], 300);
    assert_eq!(j["conflicts"], serde_json::json!([]));
    assert_eq!(j["checkpoint"].as_str().unwrap(), printed);
}

// ---------------------------------------------------------------- verify

#[test]
fn verify_exit_codes_and_json_shape() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    // 0: intact.
    let o = run([OsStr::new("verify"), p(&archive)]);
    ok(&o);
    assert!(o.stdout.contains("INTACT"), "{}", o.stdout);
    let o = run([OsStr::new("verify"), OsStr::new("--json"), p(&archive)]);
    ok(&o);
    let j = json_of(&o);
    assert_eq!(j["status"], "intact");
    assert_eq!(j["entries"], N);
    assert_eq!(j["findings"], serde_json::json!([]));

    // 1: tampered, with the finding located.
    let bad = copy_to(&archive, d.path(), "bad.sqlite");
    let k = 123u64;
    let id = ids_of(&bad)[k as usize - 1].clone();
    let conn = open_for_tampering(&bad);
    let row = read_row(&conn, k);
    conn.execute(
        "UPDATE entries SET record = ?1 WHERE seq = ?2",
        rusqlite::params![flip_one_byte(&row.record), k as i64],
    )
    .unwrap();
    drop(conn);
    let o = run([OsStr::new("verify"), p(&bad)]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("TAMPERED"), "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!("record_modified at seq {k}")),
        "{}",
        o.stdout
    );
    let o = run([OsStr::new("verify"), OsStr::new("--json"), p(&bad)]);
    assert_eq!(o.code, 1);
    let j = json_of(&o);
    assert_eq!(j["status"], "tampered");
    assert_eq!(j["entries"], N);
    let findings = j["findings"].as_array().unwrap();
    for f in findings {
        assert!(
            f.get("kind").is_some() && f.get("seq").is_some() && f.get("id").is_some(),
            "{f}"
        );
    }
    let problems: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] != "warning")
        .collect();
    assert_eq!(problems.len(), 1, "{findings:?}");
    assert_eq!(problems[0]["kind"], "record_modified");
    assert_eq!(problems[0]["seq"], k);
    assert_eq!(problems[0]["id"], id.as_str());
    // The triggers dropped to tamper are warnings without a seq.
    let warnings: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "warning")
        .collect();
    assert_eq!(warnings.len(), 2);
    assert!(
        warnings
            .iter()
            .all(|w| w["kind"] == "protection_removed" && w["seq"].is_null())
    );

    // 2: could not run.
    let o = run([OsStr::new("verify"), p(&d.path().join("missing.sqlite"))]);
    assert_eq!(o.code, 2);
    assert!(o.stdout.is_empty());
    assert!(
        o.stderr.starts_with("auditlens: ") && o.stderr.contains("missing.sqlite"),
        "{}",
        o.stderr
    );
    let o = run([
        OsStr::new("verify"),
        OsStr::new("--json"),
        p(&d.path().join("sample.jsonl")),
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no hash chain"), "{}", o.stderr);
}

#[test]
fn checkpoint_to_a_file_then_verify_with_it() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let cp_file = d.path().join("audit.checkpoint");
    let o = run([OsStr::new("checkpoint"), p(&archive)]);
    ok(&o);
    std::fs::write(&cp_file, &o.stdout).unwrap();
    let o = run([
        OsStr::new("verify"),
        p(&archive),
        OsStr::new("--checkpoint"),
        p(&cp_file),
    ]);
    ok(&o);
    assert!(
        o.stdout.contains("checkpoint matches its 300 entries"),
        "{}",
        o.stdout
    );
    let j = json_of(&run([
        OsStr::new("verify"),
        OsStr::new("--json"),
        p(&archive),
        OsStr::new("--checkpoint"),
        p(&cp_file),
    ]));
    assert_eq!(j["checkpoint"]["status"], "matches");

    // More entries later: the old checkpoint still matches its prefix.
    let more = d.path().join("more.jsonl");
    let later: Vec<Entry> = {
        let s = auditlens_core::sample::Sample::new(N, 99);
        (0..20)
            .map(|i| {
                let mut e = s.entry(i);
                e.time = Timestamp(e.time.0 + 400 * 86_400_000);
                e
            })
            .collect()
    };
    write_platform_jsonl(&more, &later);
    ok(&run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        p(&archive),
        p(&more),
    ]));
    let o = run([
        OsStr::new("verify"),
        p(&archive),
        OsStr::new("--checkpoint"),
        p(&cp_file),
    ]);
    ok(&o);
    assert!(o.stdout.contains("20 entries added since"), "{}", o.stdout);

    // The tail cut off behind the checkpoint's back: exit 1, located.
    let cp2 = d.path().join("now.checkpoint");
    std::fs::write(&cp2, run([OsStr::new("checkpoint"), p(&archive)]).stdout).unwrap();
    let conn = open_for_tampering(&archive);
    conn.execute("DELETE FROM entries WHERE seq > 310", [])
        .unwrap();
    drop(conn);
    let o = run([
        OsStr::new("verify"),
        OsStr::new("--json"),
        p(&archive),
        OsStr::new("--checkpoint"),
        p(&cp2),
    ]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let j = json_of(&o);
    assert_eq!(j["status"], "tampered");
    let f: Vec<&Value> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "truncated")
        .collect();
    assert_eq!(f.len(), 1, "{j}");
    assert_eq!(f[0]["seq"], 311);
    // Without the checkpoint the cut is invisible.
    ok(&run([OsStr::new("verify"), p(&archive)]));
}

// ---------------------------------------------------------------- info

#[test]
fn info_json_describes_archives_and_exports() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let o = run([OsStr::new("info"), OsStr::new("--json"), p(&archive)]);
    ok(&o);
    let j = json_of(&o);
    assert_eq!(j["entries"], N);
    let a = Archive::open(&archive).unwrap();
    let cp = a.checkpoint().unwrap();
    assert_eq!(j["archive_id"], a.id().to_string());
    assert_eq!(j["head"], cp.head.to_hex());
    assert_eq!(j["sha256"].as_str().unwrap().len(), 64);
    assert!(
        j["time_span"]["from"]
            .as_str()
            .unwrap()
            .starts_with("2025-01-06T"),
        "{j}"
    );
    // Human-readable form.
    let o = run([OsStr::new("info"), p(&archive)]);
    ok(&o);
    assert!(
        o.stdout.contains("entries:") && o.stdout.contains("300"),
        "{}",
        o.stdout
    );
    // A platform export and an auditlens export.
    let o = run([
        OsStr::new("info"),
        OsStr::new("--json"),
        p(&d.path().join("sample.jsonl")),
    ]);
    ok(&o);
    let j = json_of(&o);
    assert_eq!(j["entries"], N);
    assert_eq!(j["sealed"], false);
    let ex = d.path().join("e.ndjson");
    ok(&run([
        OsStr::new("export"),
        p(&archive),
        OsStr::new("--format"),
        OsStr::new("ndjson"),
        OsStr::new("-o"),
        p(&ex),
    ]));
    let j = json_of(&run([OsStr::new("info"), OsStr::new("--json"), p(&ex)]));
    assert_eq!(j["entries"], N);
    assert_eq!(j["sealed"], true);
    assert_eq!(j["archive_id"], a.id().to_string());
}

// ---------------------------------------------------------------- export with filters

/// The seqs in an NDJSON export.
fn exported_seqs(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("{\"auditlens_export\":"));
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("{\"auditlens_export_end\":")
    );
    lines[1..lines.len() - 1]
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn search_haystack(e: &Entry) -> String {
    let a = &e.actor;
    let mut parts: Vec<String> = [
        Some(&e.id),
        Some(&e.resource_id),
        e.resource_name.as_ref(),
        Some(&e.resource_type),
        Some(&e.action),
        a.user_id.as_ref(),
        a.email.as_ref(),
        a.api_key_id.as_ref(),
        a.api_key_name.as_ref(),
        e.org_id.as_ref(),
        e.org_name.as_ref(),
        e.project_id.as_ref(),
        e.project_name.as_ref(),
        e.ip_address.as_ref(),
        e.user_agent.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    for st in [&e.before, &e.after].into_iter().flatten() {
        parts.push(st.to_canonical());
    }
    parts.join("\n").to_lowercase()
}

type Pred = Box<dyn Fn(&Entry) -> bool>;

#[test]
fn export_filters_take_api_key_as_documented_or_as_the_platform_writes_it_and_dates() {
    // The interface in the issue spells it `--actor-type user|api_key`.
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    // The platform's own spelling is `API_KEY`, and a person types dates.
    let from = Timestamp::parse("2025-01-08T00:00:00Z").unwrap();
    let to = Timestamp::parse("2025-01-10T00:00:00Z").unwrap();
    let cases: Vec<(Vec<&str>, Pred)> = vec![
        (
            vec!["--actor-type", "api_key"],
            Box::new(|e: &Entry| e.actor.actor_type == Some(ActorType::ApiKey)),
        ),
        (
            vec!["--actor-type", "API_KEY"],
            Box::new(|e: &Entry| e.actor.actor_type == Some(ActorType::ApiKey)),
        ),
        (
            vec!["--from", "2025-01-08", "--to", "2025-01-10"],
            Box::new(move |e: &Entry| e.time >= from && e.time < to),
        ),
    ];
    check_export_filters(d.path(), &archive, &cases);
}

#[test]
fn export_filters_give_exactly_the_manually_filtered_entries() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let from = Timestamp::parse("2025-01-08T00:00:00Z").unwrap();
    let to = Timestamp::parse("2025-01-10T12:00:00Z").unwrap();
    let cases: Vec<(Vec<&str>, Pred)> = vec![
        (
            vec!["--action", "delete"],
            Box::new(|e: &Entry| e.action == "delete"),
        ),
        (
            vec!["--actor-type", "user"],
            Box::new(|e: &Entry| e.actor.actor_type == Some(ActorType::User)),
        ),
        (
            vec![
                "--from",
                "2025-01-08T00:00:00Z",
                "--to",
                "2025-01-10T12:00:00Z",
            ],
            Box::new(move |e: &Entry| e.time >= from && e.time < to),
        ),
        (
            vec!["--search", "185.220.101.47"],
            Box::new(|e: &Entry| search_haystack(e).contains("185.220.101.47")),
        ),
        (
            vec!["--search", "ACME corp"],
            Box::new(|e: &Entry| search_haystack(e).contains("acme corp")),
        ),
        (
            vec![
                "--action",
                "update",
                "--actor-type",
                "user",
                "--search",
                "globex",
            ],
            Box::new(|e: &Entry| {
                e.action == "update"
                    && e.actor.actor_type == Some(ActorType::User)
                    && search_haystack(e).contains("globex")
            }),
        ),
        (
            vec![
                "--action",
                "create",
                "--action",
                "delete",
                "--from",
                "2025-01-09T00:00:00Z",
            ],
            Box::new(move |e: &Entry| {
                (e.action == "create" || e.action == "delete")
                    && e.time >= Timestamp::parse("2025-01-09T00:00:00Z").unwrap()
            }),
        ),
        (
            vec!["--project", "support-bot-prod"],
            Box::new(|e: &Entry| e.project_name.as_deref() == Some("support-bot-prod")),
        ),
        (
            vec!["--resource-type", "apiKey"],
            Box::new(|e: &Entry| e.resource_type == "apiKey"),
        ),
        (
            vec!["--actor", "BOB@acme.example"],
            Box::new(|e: &Entry| e.actor.email.as_deref() == Some("bob@acme.example")),
        ),
    ];
    check_export_filters(d.path(), &archive, &cases);
}

/// Runs `export` with each filter and compares with the predicate applied to
/// every entry of the archive.
fn check_export_filters(dir: &Path, archive: &Path, cases: &[(Vec<&str>, Pred)]) {
    let entries = entries_of(archive);
    for (n, (args, pred)) in cases.iter().enumerate() {
        let expected: Vec<u64> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| pred(e))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < entries.len(),
            "{args:?} should select some, not all"
        );
        let out = dir.join(format!("f{n}.ndjson"));
        let mut cmd: Vec<&OsStr> = vec![
            OsStr::new("export"),
            p(archive),
            OsStr::new("--format"),
            OsStr::new("ndjson"),
        ];
        cmd.extend(args.iter().map(OsStr::new));
        cmd.extend([OsStr::new("-o"), p(&out)]);
        let o = run(&cmd);
        ok(&o);
        assert!(
            o.stderr
                .contains(&format!("exported {} entries", expected.len())),
            "{args:?}: {}",
            o.stderr
        );
        assert_eq!(exported_seqs(&out), expected, "{args:?}");
        // A filtered export verifies on its own.
        let v = run([OsStr::new("verify"), OsStr::new("--json"), p(&out)]);
        assert_eq!(v.code, 0, "{args:?}: {}", v.stdout);
        // CSV and JSON with the same filter hold the same entries.
        for fmt in ["csv", "json"] {
            let out2 = dir.join(format!("f{n}.{fmt}"));
            let mut cmd: Vec<&OsStr> = vec![
                OsStr::new("export"),
                p(archive),
                OsStr::new("--format"),
                OsStr::new(fmt),
            ];
            cmd.extend(args.iter().map(OsStr::new));
            cmd.extend([OsStr::new("-o"), p(&out2)]);
            ok(&run(&cmd));
            let j = json_of(&run([OsStr::new("info"), OsStr::new("--json"), p(&out2)]));
            assert_eq!(j["entries"], expected.len(), "{args:?} {fmt}");
        }
    }
}

#[test]
fn export_with_bad_arguments_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let out = d.path().join("x.csv");
    let o = run([
        OsStr::new("export"),
        p(&archive),
        OsStr::new("--format"),
        OsStr::new("csv"),
        OsStr::new("--from"),
        OsStr::new("yesterday"),
        OsStr::new("-o"),
        p(&out),
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--from"), "{}", o.stderr);
    assert!(!out.exists());
    let o = run([
        OsStr::new("export"),
        p(&archive),
        OsStr::new("--format"),
        OsStr::new("xml"),
        OsStr::new("-o"),
        p(&out),
    ]);
    assert_eq!(o.code, 2);
    assert!(!out.exists());
    // Refuses to overwrite the archive with an export.
    let before = std::fs::read(&archive).unwrap();
    let o = run([
        OsStr::new("export"),
        p(&archive),
        OsStr::new("--format"),
        OsStr::new("csv"),
        OsStr::new("-o"),
        p(&archive),
    ]);
    assert_eq!(o.code, 2);
    assert_eq!(std::fs::read(&archive).unwrap(), before);
}

// ---------------------------------------------------------------- help

#[test]
fn help_on_every_command() {
    let o = run(["--help"]);
    ok(&o);
    for cmd in [
        "ingest",
        "verify",
        "checkpoint",
        "info",
        "export",
        "sample",
        "keygen",
        "consistency",
    ] {
        assert!(o.stdout.contains(cmd), "top-level help lists {cmd}");
        let o = run([cmd, "--help"]);
        ok(&o);
        assert!(
            o.stdout.contains(&format!("Usage: auditlens {cmd}")),
            "{cmd}: {}",
            o.stdout
        );
        let o = run(["help", cmd]);
        ok(&o);
        assert!(o.stdout.contains("Usage:"), "{cmd}");
    }
    let o = run(["export", "--help"]);
    for flag in [
        "--format",
        "--from",
        "--to",
        "--project",
        "--action",
        "--resource-type",
        "--actor",
        "--actor-type",
        "--search",
        "--output",
    ] {
        assert!(o.stdout.contains(flag), "export --help lacks {flag}");
    }
    let o = run(["verify", "--help"]);
    assert!(o.stdout.contains("--checkpoint") && o.stdout.contains("--json"));
    let o = run(["ingest", "--help"]);
    assert!(o.stdout.contains("--archive") && o.stdout.contains("--skip-invalid"));
    // An unknown command is a usage error, not a crash.
    let o = run(["frobnicate"]);
    assert_eq!(o.code, 2);
}

// ---------------------------------------------------------------- reading never writes

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn reading_and_verifying_leave_the_archive_untouched() {
    let d = tempfile::tempdir().unwrap();
    let adir = d.path().join("archive");
    let other = d.path().join("out");
    std::fs::create_dir_all(&adir).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let archive = adir.join("a.sqlite");
    ok(&run([
        OsStr::new("sample"),
        OsStr::new("--entries"),
        OsStr::new("300"),
        OsStr::new("-o"),
        p(&archive),
    ]));
    let cp_file = other.join("cp");
    std::fs::write(
        &cp_file,
        run([OsStr::new("checkpoint"), p(&archive)]).stdout,
    )
    .unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    let mtime = std::fs::metadata(&archive).unwrap().modified().unwrap();
    let listing = dir_listing(&adir);
    assert_eq!(listing, vec!["a.sqlite".to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(50));

    let runs: Vec<Vec<&OsStr>> = vec![
        vec![OsStr::new("verify"), p(&archive)],
        vec![
            OsStr::new("verify"),
            OsStr::new("--json"),
            p(&archive),
            OsStr::new("--checkpoint"),
            p(&cp_file),
        ],
        vec![OsStr::new("info"), p(&archive)],
        vec![OsStr::new("info"), OsStr::new("--json"), p(&archive)],
        vec![OsStr::new("checkpoint"), p(&archive)],
    ];
    for args in &runs {
        let o = run(args);
        ok(&o);
    }
    for fmt in ["json", "ndjson", "csv"] {
        let out = other.join(format!("e.{fmt}"));
        ok(&run([
            OsStr::new("export"),
            p(&archive),
            OsStr::new("--format"),
            OsStr::new(fmt),
            OsStr::new("--action"),
            OsStr::new("delete"),
            OsStr::new("-o"),
            p(&out),
        ]));
    }
    // The library's read paths.
    {
        let a = Archive::open(&archive).unwrap();
        a.checkpoint().unwrap();
        a.entry(5).unwrap().unwrap();
        a.time_span().unwrap();
        assert!(
            dir_listing(&adir).iter().all(|f| f == "a.sqlite"),
            "{:?}",
            dir_listing(&adir)
        );
        let r = verify(&archive, None);
        assert!(r.findings.is_empty());
    }
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        bytes,
        "the archive's bytes changed"
    );
    assert_eq!(
        std::fs::metadata(&archive).unwrap().modified().unwrap(),
        mtime,
        "the archive's mtime changed"
    );
    assert_eq!(
        dir_listing(&adir),
        listing,
        "files appeared beside the archive"
    );
    for f in dir_listing(&adir) {
        assert!(
            !f.ends_with("-journal") && !f.ends_with("-wal") && !f.ends_with("-shm"),
            "{f}"
        );
    }
}

#[test]
fn verifying_a_read_only_archive_works() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "ro", 50);
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o444)).unwrap();
    let o = run([OsStr::new("verify"), p(&archive)]);
    ok(&o);
    let o = run([OsStr::new("info"), OsStr::new("--json"), p(&archive)]);
    ok(&o);
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
}

// ---------------------------------------------------------------- keys, signed checkpoints, subsets, consistency

fn args<'a>(v: &[&'a str], paths: &[&'a Path]) -> Vec<&'a OsStr> {
    let mut out: Vec<&'a OsStr> = v.iter().map(|s| OsStr::new(*s)).collect();
    out.extend(paths.iter().map(|p| p.as_os_str()));
    out
}

#[test]
fn keygen_writes_a_private_key_0600_and_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("auditor.key");
    let o = run(args(
        &["keygen", "--name", "archive.example/auditor", "-o"],
        &[&key],
    ));
    ok(&o);
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(
        private.starts_with("PRIVATE+KEY+archive.example/auditor+"),
        "{private}"
    );
    let public = std::fs::read_to_string(d.path().join("auditor.key.pub")).unwrap();
    assert!(public.starts_with("archive.example/auditor+"), "{public}");
    assert_eq!(o.stdout.trim(), public.trim());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Never overwritten, and the old key is left as it was.
    let o = run(args(&["keygen", "--name", "other", "-o"], &[&key]));
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("private signing key (evidence)"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);
    // A bad name is refused with the rule.
    let o = run(args(
        &["keygen", "--name", "has space", "-o"],
        &[&d.path().join("k2")],
    ));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("without spaces"), "{}", o.stderr);
    assert!(!d.path().join("k2").exists());
}

#[test]
fn signed_checkpoint_then_verify_with_keys_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let key = d.path().join("k");
    let other = d.path().join("other");
    ok(&run(args(&["keygen", "--name", "auditor", "-o"], &[&key])));
    ok(&run(args(
        &["keygen", "--name", "someone", "-o"],
        &[&other],
    )));
    let (key_pub, other_pub) = (d.path().join("k.pub"), d.path().join("other.pub"));
    let o = run(args(&["checkpoint", "--sign"], &[&key, &archive]));
    ok(&o);
    assert!(o.stdout.contains("\n\n\u{2014} auditor "), "{}", o.stdout);
    let cp = d.path().join("signed.checkpoint");
    std::fs::write(&cp, &o.stdout).unwrap();
    // Known key: 0; also given as text rather than a file.
    let o = run(args(
        &["verify", "--checkpoint"],
        &[&cp, &archive, Path::new("--key"), &key_pub],
    ));
    ok(&o);
    assert!(
        o.stdout.contains("signature by auditor verified"),
        "{}",
        o.stdout
    );
    let key_text = std::fs::read_to_string(&key_pub).unwrap();
    ok(&run(args(
        &["verify", "--key", key_text.trim(), "--checkpoint"],
        &[&cp, &archive],
    )));
    // Unknown key only: not proven, 1. Unknown plus known: 0.
    let o = run(args(
        &["verify", "--checkpoint"],
        &[&cp, &archive, Path::new("--key"), &other_pub],
    ));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("not_signed"), "{}", o.stdout);
    ok(&run(args(
        &["verify", "--checkpoint"],
        &[
            &cp,
            &archive,
            Path::new("--key"),
            &other_pub,
            Path::new("--key"),
            &key_pub,
        ],
    )));
    // The checkpoint's size edited after signing: 1, bad signature.
    let text = std::fs::read_to_string(&cp).unwrap();
    let edited = d.path().join("edited.checkpoint");
    std::fs::write(&edited, text.replacen("\n300\n", "\n299\n", 1)).unwrap();
    let j = json_of(&run(args(
        &["verify", "--json", "--checkpoint"],
        &[&edited, &archive, Path::new("--key"), &key_pub],
    )));
    assert_eq!(j["status"], "tampered");
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "bad_signature"),
        "{j}"
    );
    assert_eq!(j["signature"]["accepted"], false);
    // An unsigned checkpoint (as the core issue wrote them) still verifies without keys …
    let plain = d.path().join("plain.checkpoint");
    std::fs::write(&plain, run(args(&["checkpoint"], &[&archive])).stdout).unwrap();
    ok(&run(args(&["verify", "--checkpoint"], &[&plain, &archive])));
    // … and is not proven when a key is asked for.
    let o = run(args(
        &["verify", "--checkpoint"],
        &[&plain, &archive, Path::new("--key"), &key_pub],
    ));
    assert_eq!(o.code, 1);
    // Bad key file or private key given as --key: could not run, one line.
    let o = run(args(
        &["verify", "--checkpoint"],
        &[&cp, &archive, Path::new("--key"), &key],
    ));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("private"), "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    let o = run(args(
        &["verify", "--key", "nonsense", "--checkpoint"],
        &[&cp, &archive],
    ));
    assert_eq!(o.code, 2);
}

#[test]
fn signed_subset_export_verifies_alone_and_names_a_changed_entry() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let key = d.path().join("k");
    ok(&run(args(&["keygen", "--name", "auditor", "-o"], &[&key])));
    let key_pub = d.path().join("k.pub");
    for format in ["ndjson", "json", "csv"] {
        let out = d.path().join(format!("deletes.{format}"));
        let o = run(args(
            &["export", "--format", format, "--action", "delete", "--sign"],
            &[&key, &archive, Path::new("-o"), &out],
        ));
        ok(&o);
        if format == "csv" {
            assert!(d.path().join("deletes.csv.proof.json").exists());
            assert!(o.stderr.contains("deletes.csv.proof.json"), "{}", o.stderr);
        }
        let o = run(args(&["verify", "--key"], &[&key_pub, &out]));
        ok(&o);
        assert!(
            o.stdout
                .contains("entries proven against the checkpoint of archive"),
            "{}",
            o.stdout
        );
        let j = json_of(&run(args(
            &["verify", "--json", "--key"],
            &[&key_pub, &out],
        )));
        assert_eq!(j["checkpoint"]["status"], "proven", "{j}");
        assert_eq!(j["checkpoint"]["size"], 300);
        assert_eq!(j["signature"]["verified_by"][0], "auditor");
    }
    // One changed character in one entry: exit 1, the entry named.
    let out = d.path().join("deletes.ndjson");
    let text = std::fs::read_to_string(&out).unwrap();
    let second = text.lines().nth(2).unwrap().to_string();
    let seq = serde_json::from_str::<Value>(&second).unwrap()["seq"]
        .as_u64()
        .unwrap();
    let changed = second.replacen("\"action\":\"delete\"", "\"action\":\"delet\"", 1);
    std::fs::write(&out, text.replacen(&second, &changed, 1)).unwrap();
    let o = run(args(&["verify", "--key"], &[&key_pub, &out]));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains(&format!("at seq {seq}")), "{}", o.stdout);
}

#[test]
fn consistency_of_a_grown_archive_and_of_a_rewritten_one() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = sample_and_ingest(d.path());
    let key = d.path().join("k");
    ok(&run(args(
        &["keygen", "--name", "archivist", "-o"],
        &[&key],
    )));
    let key_pub = d.path().join("k.pub");
    let old = d.path().join("2025.checkpoint");
    std::fs::write(
        &old,
        run(args(&["checkpoint", "--sign"], &[&key, &archive])).stdout,
    )
    .unwrap();
    // Unchanged: consistent, nothing added.
    let o = run(args(
        &["consistency", "--old"],
        &[&old, &archive, Path::new("--key"), &key_pub],
    ));
    ok(&o);
    assert!(
        o.stdout.contains("CONSISTENT") && o.stdout.contains("0 entries added since"),
        "{}",
        o.stdout
    );
    // A year later, 20 more entries.
    let more = d.path().join("more.jsonl");
    let s = auditlens_core::sample::Sample::new(N, 99);
    let later: Vec<Entry> = (0..20)
        .map(|i| {
            let mut e = s.entry(i);
            e.time = Timestamp(e.time.0 + 400 * 86_400_000);
            e
        })
        .collect();
    write_platform_jsonl(&more, &later);
    ok(&run(args(&["ingest", "--archive"], &[&archive, &more])));
    let j = json_of(&run(args(
        &["consistency", "--json", "--sign"],
        &[
            &key,
            &archive,
            Path::new("--old"),
            &old,
            Path::new("--key"),
            &key_pub,
        ],
    )));
    assert_eq!(j["status"], "consistent", "{j}");
    assert_eq!(
        (
            j["old_size"].as_u64(),
            j["new_size"].as_u64(),
            j["added_since"].as_u64()
        ),
        (Some(300), Some(320), Some(20))
    );
    assert!(!j["proof"].as_array().unwrap().is_empty());
    assert!(
        j["new_checkpoint"]
            .as_str()
            .unwrap()
            .contains("\u{2014} archivist ")
    );
    let o = run(args(&["verify", "--checkpoint"], &[&old, &archive]));
    ok(&o);
    assert!(o.stdout.contains("20 entries added since"), "{}", o.stdout);
    // History rewritten behind the old checkpoint: 1.
    rewrite_chain(&archive, 10);
    let o = run(args(&["consistency", "--old"], &[&old, &archive]));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stdout.contains("NOT CONSISTENT") && o.stdout.contains("rewritten"),
        "{}",
        o.stdout
    );
    // Could not run: not an archive, not a checkpoint.
    let o = run(args(&["consistency", "--old"], &[&old, &more]));
    assert_eq!(o.code, 2);
    let o = run(args(&["consistency", "--old"], &[&more, &archive]));
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("not an auditlens checkpoint"),
        "{}",
        o.stderr
    );
}

/// A reader that goes away (`auditlens scan A | head`) ends the command
/// quietly, as for any Unix tool: no panic, no backtrace.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::process::{Command, Stdio};
    let archive = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data")
        .join("audit-sample.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(["scan", "--json"])
        .arg(&archive)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

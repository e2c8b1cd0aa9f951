//! The CLI never writes raw control characters, bidi overrides or invisible
//! characters taken from a file to the terminal: ids, fields, messages that
//! quote records, file names all come out escaped (`⟨U+001B⟩`), so a hostile
//! export cannot clear the screen, retitle the window, overwrite a line,
//! fake an extra line of output, or reorder an id with a right-to-left override.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use auditlens_core::archive::Archive;
use auditlens_core::chain;
use auditlens_core::model::Entry;
use auditlens_core::time::Timestamp;
use common::*;

/// ESC sequences (clear screen, set window title, colour), BEL, CR, a newline,
/// a C1 CSI, right-to-left override and isolate, a zero-width space.
const NASTY: &str =
    "evil\u{1b}[2J\u{1b}]0;owned\u{7}\r\nFAKE LINE\u{9b}31m\u{202e}exe.txt\u{2067}\u{200b}end";

/// What must never reach the terminal raw: the one escaper's set (a newline
/// ends a line of output, but never comes from a field: see FAKE LINE).
fn forbidden(c: char) -> bool {
    auditlens_core::safe_text::is_hidden(c) && c != '\n'
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(args)
        .output()
        .expect("run auditlens");
    Out {
        code: o.status.code().expect("exited normally"),
        stdout: String::from_utf8(o.stdout).expect("UTF-8 output"),
        stderr: String::from_utf8(o.stderr).expect("UTF-8 output"),
    }
}

fn assert_clean(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|&c| forbidden(c)) {
        panic!(
            "{what} holds the raw character U+{:04X}: {text:?}",
            c as u32
        );
    }
    assert!(
        !text.contains("\nFAKE LINE"),
        "{what} lets a field fake a line: {text:?}"
    );
}

fn hostile_entry(id: &str) -> Entry {
    let mut e = Entry::new(
        id,
        Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap(),
        "apiKey",
        NASTY,
        "create",
    );
    e.user_agent = Some(format!("Mozilla {NASTY}"));
    e.actor.email = Some(NASTY.to_string());
    e
}

/// A tampered archive whose findings quote a hostile id and record text.
#[test]
fn verify_findings_escape_ids_and_record_text() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hostile.jsonl");
    write_platform_jsonl(&src, &[hostile_entry(&format!("id-{NASTY}"))]);
    let archive = dir.path().join("a.sqlite");
    ingest_files(&archive, std::slice::from_ref(&src));
    // Change the record behind its hash: the finding names the entry by its id.
    let conn = open_for_tampering(&archive);
    let row = read_row(&conn, 1);
    let changed = row.record.replacen("Mozilla", "Mozillb", 1);
    replace_row(&conn, 1, &changed, &row.leaf, &row.chain);
    drop(conn);

    let o = run([OsStr::new("verify"), archive.as_os_str()]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_clean("verify output", &o.stdout);
    assert!(o.stdout.contains("record_modified"), "{}", o.stdout);
    assert!(
        o.stdout.contains("⟨U+001B⟩[2J") && o.stdout.contains("⟨U+202E⟩"),
        "the id is shown, escaped: {}",
        o.stdout
    );
    // JSON output escapes them too (serde leaves DEL, C1 and bidi raw), and
    // still carries the exact id.
    let o = run([
        OsStr::new("verify"),
        OsStr::new("--json"),
        archive.as_os_str(),
    ]);
    assert_clean("verify --json output", &o.stdout);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    let want = format!("id-{NASTY}");
    let findings = j["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["id"] == want.as_str()),
        "{findings:?}"
    );
}

/// A record error quoting a hostile key and value, and a hostile file name:
/// one escaped line on stderr.
#[test]
fn errors_quoting_records_and_file_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // An auditlens NDJSON export whose entry carries an unknown, hostile key.
    let e = hostile_entry("x1");
    let record = e.canonical_record();
    let key = auditlens_core::export::json_string(NASTY);
    let zero = "0".repeat(64);
    let text = format!(
        "{{\"auditlens_export\":{{\"version\":1,\"archive_id\":\"{}\"}}}}\n\
         {{\"seq\":1,\"leaf_hash\":\"{zero}\",{key}:1,{}\n\
         {{\"auditlens_export_end\":{{\"count\":1}}}}\n",
        "0".repeat(32),
        &record[1..]
    );
    let name = format!("export-{}.ndjson", "\u{1b}[31m\u{202e}lmth");
    let src = dir.path().join(name);
    std::fs::write(&src, text).unwrap();
    let archive = dir.path().join("a.sqlite");
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive.as_os_str(),
        src.as_os_str(),
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert_clean("ingest error", &o.stderr);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{:?}", o.stderr);
    assert!(o.stderr.contains("unknown field"), "{}", o.stderr);
    assert!(o.stderr.contains("⟨U+001B⟩"), "{}", o.stderr);
}

/// Ingest's conflict lines and info's output show hostile ids and file names escaped.
#[test]
fn ingest_and_info_output_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("id-{NASTY}");
    let first = dir.path().join(format!("day1-{}.jsonl", "\u{1b}[2J"));
    write_platform_jsonl(&first, &[hostile_entry(&id)]);
    let mut other = hostile_entry(&id);
    other.action = "delete".into();
    let second = dir.path().join(format!("day2-{}.jsonl", "\u{202e}"));
    write_platform_jsonl(&second, &[other]);
    let archive = dir
        .path()
        .join(format!("arch\u{7}ive-{}.sqlite", "\u{1b}]0;t\u{7}"));

    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive.as_os_str(),
        first.as_os_str(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_clean("ingest output", &o.stdout);
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive.as_os_str(),
        second.as_os_str(),
    ]);
    assert_eq!(o.code, 1, "a conflict: {}", o.stderr);
    assert!(
        o.stdout.contains("conflict: entry id-evil⟨U+001B⟩[2J"),
        "{}",
        o.stdout
    );
    assert_clean("ingest conflict output", &o.stdout);

    for file in [archive.as_path(), first.as_path()] {
        let o = run([OsStr::new("info"), file.as_os_str()]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_clean("info output", &o.stdout);
    }
    let out = dir.path().join(format!("out-{}.csv", "\u{1b}[2J"));
    let o = run([
        OsStr::new("export"),
        archive.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("csv"),
        OsStr::new("-o"),
        out.as_os_str(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_clean("export messages", &o.stderr);
    check_archive_ids(&archive);
}

/// The hostile text is stored verbatim: escaping is for display only.
fn check_archive_ids(path: &Path) {
    let a = Archive::open(path).unwrap();
    let e = a.entry(1).unwrap().unwrap();
    assert_eq!(e.entry.id, format!("id-{NASTY}"));
    assert_eq!(
        e.leaf_hash,
        chain::leaf_hash(&a.id(), 1, e.entry.canonical_record().as_bytes())
    );
}

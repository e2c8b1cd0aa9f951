//! Bad input: every case must end in a clear error (naming the file, and the
//! record or line where that applies) and never in a panic, both through the
//! library and through the binary (exit code 2, one line on stderr).

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use auditlens_core::archive::Archive;
use auditlens_core::ingest::{IngestError, IngestOptions, ingest};
use auditlens_core::job::Job;
use auditlens_core::sample::{PlatformFormat, Sample};
use auditlens_core::source::{Format, Source, detect};
use auditlens_core::verify::verify_file;
use common::*;

// ---------------------------------------------------------------- helpers

/// The binary could not run: exit 2, one line on stderr that contains `needle`, no panic.
fn assert_cli_error(o: &Out, needle: &str) {
    assert_eq!(o.code, 2, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let err = o.stderr.trim_end_matches('\n');
    assert_eq!(
        err.lines().count(),
        1,
        "stderr must be one line: {:?}",
        o.stderr
    );
    assert!(err.starts_with("auditlens: "), "{err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
}

/// Everything a bad input file should be refused by, with the file named.
fn assert_refused_everywhere(path: &Path, needle: &str) {
    let name = path.file_name().unwrap().to_str().unwrap();
    // Source::open (and detect, for whole-file problems).
    match Source::open(path) {
        Err(e) => {
            assert!(e.0.contains(name), "{e}");
            assert!(e.0.contains(needle), "{e} lacks {needle:?}");
        }
        Ok(mut src) => {
            // Whole-file fine, so some record must fail.
            let mut errors = Vec::new();
            while let Some(r) = src.next_record() {
                if let Err(e) = r {
                    errors.push(e.to_string());
                }
            }
            assert!(!errors.is_empty(), "{name}: every record was accepted");
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "{errors:?} lack {needle:?}"
            );
            assert!(errors.iter().all(|e| e.contains(name)), "{errors:?}");
        }
    }
    // ingest: nothing created.
    let dir = path.parent().unwrap();
    let archive = dir.join(format!("{name}.sqlite"));
    let e = ingest(
        &archive,
        &[path.to_path_buf()],
        &IngestOptions::default(),
        &Job::new(),
    )
    .expect_err("ingest must refuse it");
    let msg = e.to_string();
    assert!(msg.contains(name), "{msg}");
    assert!(msg.contains(needle), "{msg} lacks {needle:?}");
    assert!(
        !archive.exists(),
        "a refused ingest created {}",
        archive.display()
    );
    // verify: cannot run.
    let e = verify_file(path, None, &Job::new()).expect_err("verify must refuse it");
    assert!(e.to_string().contains(name), "{e}");
    // Archive::open: not an archive.
    let e = Archive::open(path).err().expect("not an archive");
    assert!(e.0.contains(name), "{e}");
    // The binary.
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive.as_os_str(),
        path.as_os_str(),
    ]);
    assert_cli_error(&o, name);
    assert!(o.stderr.contains(needle), "{}", o.stderr);
    assert!(!archive.exists());
    let o = run([OsStr::new("verify"), path.as_os_str()]);
    assert_cli_error(&o, name);
    // info describes what it can (a bad record is counted), but never panics.
    let o = run([OsStr::new("info"), path.as_os_str()]);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    if o.code != 0 {
        assert_cli_error(&o, name);
    }
}

fn pseudo_random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// A platform JSONL line with the given `before` value (already JSON text).
fn jsonl_line(id: &str, before_json: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"createdAt\":\"2025-03-14T09:21:07.412Z\",\"type\":\"USER\",\"userId\":\"u1\",\
         \"resourceType\":\"prompt\",\"resourceId\":\"p1\",\"action\":\"update\",\"before\":{before_json},\"after\":null}}"
    )
}

// ---------------------------------------------------------------- whole-file problems

#[test]
fn empty_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("empty.jsonl");
    std::fs::write(&p, b"").unwrap();
    assert_eq!(
        detect(&p).unwrap_err().0,
        format!("{} is empty: there are no entries to read", p.display())
    );
    assert_refused_everywhere(&p, "empty");
    // Whitespace only is empty too.
    let p = d.path().join("blank.json");
    std::fs::write(&p, b"  \n\r\n\t ").unwrap();
    assert_refused_everywhere(&p, "empty");
}

#[test]
fn random_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("random.bin");
    let bytes = pseudo_random_bytes(64 * 1024, 0x5eed);
    assert_ne!(&bytes[..6], b"SQLite");
    std::fs::write(&p, bytes).unwrap();
    assert_refused_everywhere(&p, "binary");
}

#[test]
fn truncated_json_array() {
    let d = tempfile::tempdir().unwrap();
    let full = d.path().join("full.json");
    write_sample(&full, 20, SEED, PlatformFormat::Json);
    let text = std::fs::read(&full).unwrap();
    let p = d.path().join("truncated.json");
    std::fs::write(&p, &text[..text.len() * 2 / 3]).unwrap();
    // The first records are fine; the one cut in half is named, with its line.
    let mut src = Source::open(&p).unwrap();
    assert_eq!(src.format, Format::PlatformJson);
    let mut ok = 0;
    let err = loop {
        match src.next_record().expect("an error before the end") {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    assert!(ok >= 1);
    assert!(err.fatal);
    assert_eq!(err.record, ok + 1);
    assert_eq!(err.line, ok + 2, "{err}"); // line 1 is "[", record k starts on line k + 1
    assert!(err.to_string().contains("truncated.json"), "{err}");
    assert!(
        err.to_string().contains(&format!("record {}", ok + 1)),
        "{err}"
    );
    assert!(src.next_record().is_none(), "a fatal error ends the reader");
    assert_refused_everywhere(&p, "truncated.json");
}

#[test]
fn json_array_without_closing_bracket() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("noclose.json");
    std::fs::write(&p, format!("[{}\n", jsonl_line("c1", "null"))).unwrap();
    assert_refused_everywhere(&p, "noclose.json");
}

#[test]
fn invalid_utf8_in_a_small_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("latin1.jsonl");
    let mut line2 = jsonl_line("c2", "\"caf\u{e9}\"").into_bytes();
    // Re-encode the é as Latin-1 (a lone 0xE9 byte), which is not UTF-8.
    let at = line2.windows(2).position(|w| w == [0xC3, 0xA9]).unwrap();
    line2.splice(at..at + 2, [0xE9]);
    let mut bytes = jsonl_line("c1", "null").into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(&line2);
    bytes.push(b'\n');
    bytes.extend_from_slice(jsonl_line("c3", "null").as_bytes());
    bytes.push(b'\n');
    std::fs::write(&p, bytes).unwrap();
    // A text file with one bad byte is not "binary": the error should say
    // what is wrong (UTF-8) and where (line 2).
    assert_refused_everywhere(&p, "UTF-8");
    let e = ingest(
        &d.path().join("a.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn invalid_utf8_deep_in_a_large_file_names_the_line() {
    // Past the 64 KiB that format detection looks at, the record reader must
    // still catch it, and name the line.
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.jsonl");
    write_sample(&good, 300, SEED, PlatformFormat::Jsonl);
    let text = std::fs::read(&good).unwrap();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let bad_line = 250usize; // 1-based
    let start = line_starts[bad_line - 1];
    assert!(
        start > 64 * 1024,
        "the bad line must be past the detection window"
    );
    let mut bytes = text.clone();
    let ua = start
        + bytes[start..]
            .windows(13)
            .position(|w| w == b"\"userAgent\":\"")
            .unwrap()
        + 13;
    bytes[ua] = 0xFF;
    let p = d.path().join("badutf8.jsonl");
    std::fs::write(&p, bytes).unwrap();
    let e = ingest(
        &d.path().join("a.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, IngestError::Record(_)), "{msg}");
    assert!(msg.contains("badutf8.jsonl"), "{msg}");
    assert!(msg.contains(&format!("line {bad_line}")), "{msg}");
    assert!(msg.contains("UTF-8"), "{msg}");
    assert!(!d.path().join("a.sqlite").exists());
}

#[test]
fn invalid_utf8_in_a_csv_cell_names_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.csv");
    let mut bytes = b"\"id\",\"createdAt\",\"resourceType\",\"resourceId\",\"action\"\n\
\"c1\",\"2025-03-14T09:21:07.412Z\",\"prompt\",\"p1\",\"create\"\n\
\"c2\",\"2025-03-14T09:21:08.412Z\",\"prompt\",\"p"
        .to_vec();
    bytes.extend_from_slice(&[0xFF, 0xFE]);
    bytes.extend_from_slice(b"\",\"create\"\n");
    std::fs::write(&p, bytes).unwrap();
    let e = ingest(
        &d.path().join("a.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bad.csv"), "{msg}");
    assert!(msg.contains("record 2"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("UTF-8"), "{msg}");
}

#[test]
fn wrong_csv_header() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("wrong.csv");
    std::fs::write(&p, "name,email,when\nalice,a@x.example,yesterday\n").unwrap();
    let e = detect(&p).unwrap_err();
    assert!(e.0.contains("id, createdAt, resourceType, action"), "{e}");
    assert_refused_everywhere(&p, "header");
}

#[test]
fn csv_row_with_too_many_cells_names_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("ragged.csv");
    std::fs::write(
        &p,
        "\"id\",\"createdAt\",\"resourceType\",\"resourceId\",\"action\"\n\
         \"c1\",\"2025-03-14T09:21:07.412Z\",\"prompt\",\"p1\",\"create\"\n\
         \"c2\",\"2025-03-14T09:21:08.412Z\",\"prompt\",\"p1\",\"create\",\"surplus\"\n",
    )
    .unwrap();
    let e = ingest(
        &d.path().join("a.sqlite"),
        &[p],
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("ragged.csv") && msg.contains("record 2") && msg.contains("line 3"),
        "{msg}"
    );
    assert!(msg.contains("6 fields"), "{msg}");
}

/// Runs the binary, failing the test if it has not ended within a minute
/// (a pipe opened for reading waits for a writer: a hang, not an error).
fn run_or_hang(args: &[&OsStr]) -> Out {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_auditlens"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("auditlens {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Out {
        code: status.code().expect("exited normally (no signal)"),
        stdout,
        stderr,
    }
}

/// A named pipe (or `/dev/stdin` fed by a pipe, or a device) gives its
/// bytes once, and opening one waits for a writer; auditlens reads each
/// file more than once. Given as an input or as the archive, it is refused
/// with the reason, at once, and nothing is made.
#[test]
fn a_named_pipe_or_device_is_refused_not_waited_on() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("export.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let jsonl = d.path().join("real.jsonl");
    auditlens_core::sample::write_platform(
        &Sample::new(50, 3),
        PlatformFormat::Jsonl,
        std::fs::File::create(&jsonl).unwrap(),
    )
    .unwrap();
    let archive = d.path().join("a.sqlite");
    let needle = "is not a regular file";
    for input in [fifo.as_path(), Path::new("/dev/null")] {
        let name = input.file_name().unwrap().to_str().unwrap();
        assert!(detect(input).unwrap_err().0.contains(needle));
        assert!(Archive::open(input).err().unwrap().0.contains(needle));
        for args in [
            vec![
                OsStr::new("ingest"),
                OsStr::new("--archive"),
                archive.as_os_str(),
                input.as_os_str(),
            ],
            vec![OsStr::new("verify"), input.as_os_str()],
            vec![OsStr::new("info"), input.as_os_str()],
            vec![
                OsStr::new("export"),
                input.as_os_str(),
                OsStr::new("--format"),
                OsStr::new("csv"),
                OsStr::new("-o"),
                d.path().join("x.csv").as_os_str(),
            ],
        ] {
            let o = run_or_hang(&args);
            assert_cli_error(&o, name);
            assert!(o.stderr.contains(needle), "{}", o.stderr);
        }
        assert!(!archive.exists());
        // As the archive: nothing read, nothing made.
        let o = run_or_hang(&[
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            input.as_os_str(),
            jsonl.as_os_str(),
        ]);
        assert_cli_error(&o, name);
        assert!(o.stderr.contains(needle), "{}", o.stderr);
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_directory() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("somedir");
    std::fs::create_dir(&sub).unwrap();
    assert!(detect(&sub).unwrap_err().0.contains("is a directory"));
    assert!(
        Source::open(&sub)
            .err()
            .unwrap()
            .0
            .contains("is a directory")
    );
    assert!(
        Archive::open(&sub)
            .err()
            .unwrap()
            .0
            .contains("is a directory")
    );
    let e = verify_file(&sub, None, &Job::new()).unwrap_err();
    assert!(
        e.to_string().contains("somedir") && e.to_string().contains("directory"),
        "{e}"
    );
    // As an input file, and as the archive path.
    let jsonl = d.path().join("ok.jsonl");
    write_sample(&jsonl, 5, SEED, PlatformFormat::Jsonl);
    let archive = d.path().join("a.sqlite");
    let e = ingest(
        &archive,
        std::slice::from_ref(&sub),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("somedir") && e.to_string().contains("directory"),
        "{e}"
    );
    assert!(!archive.exists());
    let e = ingest(
        &sub,
        std::slice::from_ref(&jsonl),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("somedir") && e.to_string().contains("directory"),
        "{e}"
    );
    // The binary.
    let out_csv = d.path().join("out.csv");
    for args in [
        vec![OsStr::new("verify"), sub.as_os_str()],
        vec![OsStr::new("info"), sub.as_os_str()],
        vec![OsStr::new("checkpoint"), sub.as_os_str()],
        vec![
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            archive.as_os_str(),
            sub.as_os_str(),
        ],
        vec![
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            sub.as_os_str(),
            jsonl.as_os_str(),
        ],
        vec![
            OsStr::new("export"),
            sub.as_os_str(),
            OsStr::new("--format"),
            OsStr::new("csv"),
            OsStr::new("-o"),
            out_csv.as_os_str(),
        ],
    ] {
        let o = run(&args);
        assert_cli_error(&o, "directory");
        assert!(o.stderr.contains("somedir"), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn a_sqlite_file_that_is_not_an_archive() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("other.db");
    let conn = rusqlite::Connection::open(&p).unwrap();
    conn.execute_batch("CREATE TABLE people(name TEXT); INSERT INTO people VALUES ('x');")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&p).unwrap();
    let e = Archive::open(&p).err().unwrap();
    assert!(
        e.0.contains("other.db") && e.0.contains("not an auditlens archive"),
        "{e}"
    );
    let e = verify_file(&p, None, &Job::new()).unwrap_err();
    assert!(e.to_string().contains("not an auditlens archive"), "{e}");
    // As the archive to ingest into: refused before anything is written.
    let jsonl = d.path().join("ok.jsonl");
    write_sample(&jsonl, 5, SEED, PlatformFormat::Jsonl);
    let e = ingest(
        &p,
        std::slice::from_ref(&jsonl),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not an auditlens archive"), "{e}");
    // As an input to ingest: named, not taken for an export.
    let e = ingest(
        &d.path().join("a.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("other.db"), "{e}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        before,
        "the foreign file was changed"
    );
    for args in [
        vec![OsStr::new("verify"), p.as_os_str()],
        vec![OsStr::new("info"), p.as_os_str()],
        vec![OsStr::new("checkpoint"), p.as_os_str()],
        vec![
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            p.as_os_str(),
            jsonl.as_os_str(),
        ],
    ] {
        let o = run(&args);
        assert_cli_error(&o, "not an auditlens archive");
    }
    assert_eq!(
        std::fs::read(&p).unwrap(),
        before,
        "the foreign file was changed"
    );
}

#[test]
fn an_archive_given_to_ingest_as_input_says_to_export_it() {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "src", 10);
    let e = ingest(
        &d.path().join("dst.sqlite"),
        &[archive],
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("src.sqlite"), "{msg}");
    assert!(
        msg.contains("auditlens export"),
        "the message should say how to proceed: {msg}"
    );
}

// ---------------------------------------------------------------- hostile records

#[test]
fn record_nested_100000_levels_deep() {
    let d = tempfile::tempdir().unwrap();
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // As real nested JSON in a JSONL line.
    let p = d.path().join("deep.jsonl");
    std::fs::write(
        &p,
        format!(
            "{}\n{}\n",
            jsonl_line("c0", "null"),
            jsonl_line("c1", &deep)
        ),
    )
    .unwrap();
    assert_refused_everywhere(&p, "nested");
    let e = ingest(
        &d.path().join("x.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("record 2") && e.to_string().contains("line 2"),
        "{e}"
    );
    // As a JSON array.
    let p = d.path().join("deep.json");
    std::fs::write(
        &p,
        format!(
            "[{},\n{}]\n",
            jsonl_line("c0", "null"),
            jsonl_line("c1", &deep)
        ),
    )
    .unwrap();
    assert_refused_everywhere(&p, "nested");
    // Stringified, as the platform writes before/after.
    let p = d.path().join("deepstr.jsonl");
    let stringified = auditlens_core::export::json_string(&deep);
    std::fs::write(
        &p,
        format!(
            "{}\n{}\n",
            jsonl_line("c0", "null"),
            jsonl_line("c1", &stringified)
        ),
    )
    .unwrap();
    assert_refused_everywhere(&p, "nested");
    // In a CSV cell.
    let p = d.path().join("deep.csv");
    std::fs::write(
        &p,
        format!(
            "\"id\",\"createdAt\",\"resourceType\",\"resourceId\",\"action\",\"before\"\n\
             \"c1\",\"2025-03-14T09:21:07.412Z\",\"prompt\",\"p1\",\"update\",\"{deep}\"\n"
        ),
    )
    .unwrap();
    assert_refused_everywhere(&p, "nested");
    // An object nested that deep (different parser path).
    let p = d.path().join("deepobj.jsonl");
    let obj = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    std::fs::write(
        &p,
        format!("{}\n{}\n", jsonl_line("c0", "null"), jsonl_line("c1", &obj)),
    )
    .unwrap();
    assert_refused_everywhere(&p, "nested");
}

#[test]
fn deeply_nested_line_in_an_auditlens_export_is_a_finding_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "a", 5);
    let out = d.path().join("a.ndjson");
    let a = Archive::open(&archive).unwrap();
    auditlens_core::export::export(
        &a,
        &auditlens_core::filter::Filter::default(),
        auditlens_core::export::ExportFormat::Ndjson,
        &out,
        &Job::new(),
    )
    .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[3] = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(&out, lines.join("\n") + "\n").unwrap();
    let r = verify(&out, None);
    assert_eq!(r.status(), auditlens_core::verify::Status::Tampered);
    let o = run([OsStr::new("verify"), out.as_os_str()]);
    assert_eq!(o.code, 1, "{}", o.stderr);
}

#[test]
fn a_large_but_legal_record_is_accepted_even_as_the_first_line() {
    // 1 MiB of prompt text is well under the 16 MiB limit and must be read,
    // whatever its position in the file (format detection looks at 64 KiB).
    let d = tempfile::tempdir().unwrap();
    let big = auditlens_core::export::json_string(&format!(
        "{{\"prompt\":\"{}\"}}",
        "lorem ipsum ".repeat(90_000)
    ));
    let p = d.path().join("bigfirst.jsonl");
    std::fs::write(
        &p,
        format!("{}\n{}\n", jsonl_line("c1", &big), jsonl_line("c2", "null")),
    )
    .unwrap();
    assert_eq!(detect(&p).unwrap(), Format::PlatformJsonl);
    let archive = d.path().join("big.sqlite");
    let r = ingest(&archive, &[p], &IngestOptions::default(), &Job::new()).unwrap();
    assert_eq!(r.added, 2);
}

fn fifty_mb() -> String {
    "a".repeat(50 * 1024 * 1024)
}

#[test]
fn fifty_megabyte_field_in_jsonl() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.jsonl");
    let big = format!("\"{}\"", fifty_mb());
    std::fs::write(
        &p,
        format!("{}\n{}\n", jsonl_line("c0", "null"), jsonl_line("c1", &big)),
    )
    .unwrap();
    let e = ingest(
        &d.path().join("x.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("huge.jsonl") && msg.contains("line 2") && msg.contains("MiB"),
        "{msg}"
    );
    assert!(!d.path().join("x.sqlite").exists());
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        d.path().join("y.sqlite").as_os_str(),
        p.as_os_str(),
    ]);
    assert_cli_error(&o, "huge.jsonl");
    assert!(o.stderr.contains("MiB"), "{}", o.stderr);
    // With --skip-invalid the small record is kept and the huge one rejected.
    let archive = d.path().join("z.sqlite");
    let rejects = d.path().join("z.rejects.jsonl");
    let opts = IngestOptions {
        skip_invalid: true,
        rejects_path: Some(rejects.clone()),
        ..IngestOptions::default()
    };
    let r = ingest(&archive, &[p], &opts, &Job::new()).unwrap();
    assert_eq!((r.added, r.rejected), (1, 1));
    let rej = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(rej.lines().count(), 1);
    assert!(rej.contains("MiB"), "{rej}");
    assert!(
        rej.len() < 1024 * 1024,
        "the rejects file need not copy 50 MB"
    );
}

#[test]
fn fifty_megabyte_field_in_json_array_and_csv() {
    let d = tempfile::tempdir().unwrap();
    let big = fifty_mb();
    let p = d.path().join("huge.json");
    std::fs::write(
        &p,
        format!(
            "[{},\n{}]",
            jsonl_line("c0", "null"),
            jsonl_line("c1", &format!("\"{big}\""))
        ),
    )
    .unwrap();
    let e = ingest(
        &d.path().join("x.sqlite"),
        &[p],
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("huge.json") && msg.contains("record 2") && msg.contains("MiB"),
        "{msg}"
    );
    let p = d.path().join("huge.csv");
    std::fs::write(
        &p,
        format!(
            "\"id\",\"createdAt\",\"resourceType\",\"resourceId\",\"action\",\"resourceName\"\n\
             \"c1\",\"2025-03-14T09:21:07.412Z\",\"prompt\",\"p1\",\"update\",\"{big}\"\n"
        ),
    )
    .unwrap();
    let e = ingest(
        &d.path().join("x.sqlite"),
        std::slice::from_ref(&p),
        &IngestOptions::default(),
        &Job::new(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("huge.csv") && msg.contains("record 1") && msg.contains("MiB"),
        "{msg}"
    );
    assert!(!d.path().join("x.sqlite").exists());
}

// ---------------------------------------------------------------- one bad record among good ones

/// 20 good sample lines with line 8 broken in three different ways across calls.
fn jsonl_with_bad_line(dir: &Path, name: &str, bad: &str) -> PathBuf {
    let good = dir.join(format!("{name}.good.jsonl"));
    write_sample(&good, 20, SEED, PlatformFormat::Jsonl);
    let text = std::fs::read_to_string(&good).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[7] = bad.to_string();
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

#[test]
fn jsonl_with_one_bad_line_commits_nothing_by_default() {
    let d = tempfile::tempdir().unwrap();
    for (name, bad, reason) in [
        (
            "syntax.jsonl",
            "{\"id\": \"c-broken\", \"createdAt\": ",
            "truncated",
        ),
        (
            "noid.jsonl",
            "{\"createdAt\":\"2025-03-14T09:21:07.412Z\",\"resourceType\":\"prompt\",\"action\":\"create\"}",
            "\"id\"",
        ),
        (
            "badtime.jsonl",
            "{\"id\":\"cx\",\"createdAt\":\"last tuesday\",\"resourceType\":\"prompt\",\"action\":\"create\"}",
            "createdAt",
        ),
        (
            "dupkey.jsonl",
            "{\"id\":\"cx\",\"id\":\"cy\",\"createdAt\":\"2025-03-14T09:21:07.412Z\",\"resourceType\":\"prompt\",\"action\":\"create\"}",
            "duplicate key",
        ),
    ] {
        let p = jsonl_with_bad_line(d.path(), name, bad);
        // New archive: not created.
        let archive = d.path().join(format!("{name}.sqlite"));
        let e = ingest(
            &archive,
            std::slice::from_ref(&p),
            &IngestOptions::default(),
            &Job::new(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, IngestError::Record(_)), "{msg}");
        assert!(
            msg.contains(name) && msg.contains("line 8") && msg.contains("record 8"),
            "{msg}"
        );
        assert!(msg.contains(reason), "{msg} lacks {reason:?}");
        assert!(!archive.exists(), "{name}: archive created");
        // Existing archive: byte-identical afterwards.
        let existing = build_archive(d.path(), &format!("{name}.existing"), 30);
        let before = std::fs::read(&existing).unwrap();
        let e = ingest(
            &existing,
            std::slice::from_ref(&p),
            &IngestOptions::default(),
            &Job::new(),
        )
        .unwrap_err();
        assert!(matches!(e, IngestError::Record(_)));
        assert_eq!(
            std::fs::read(&existing).unwrap(),
            before,
            "{name}: archive changed"
        );
        // The binary: exit 2, one line, nothing written.
        let o = run([
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            existing.as_os_str(),
            p.as_os_str(),
        ]);
        assert_cli_error(&o, name);
        assert!(o.stderr.contains("line 8"), "{}", o.stderr);
        assert_eq!(
            std::fs::read(&existing).unwrap(),
            before,
            "{name}: archive changed by the CLI"
        );
    }
}

#[test]
fn jsonl_with_one_bad_line_skip_invalid_stores_the_rest_and_lists_the_reject() {
    let d = tempfile::tempdir().unwrap();
    let bad = "{\"id\":\"cbad\",\"createdAt\":\"not a time\",\"resourceType\":\"prompt\",\"action\":\"create\"}";
    let p = jsonl_with_bad_line(d.path(), "one_bad.jsonl", bad);
    let archive = d.path().join("skip.sqlite");
    let opts = IngestOptions {
        skip_invalid: true,
        ..IngestOptions::default()
    };
    let r = ingest(&archive, std::slice::from_ref(&p), &opts, &Job::new()).unwrap();
    assert_eq!((r.read, r.added, r.rejected), (19, 19, 1));
    let rejects = r.rejects_path.clone().expect("a rejects file");
    assert_eq!(
        rejects,
        PathBuf::from(format!("{}.rejects.jsonl", archive.display()))
    );
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let j: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(j["line"], 8);
    assert_eq!(j["record"], 8);
    assert!(
        j["file"].as_str().unwrap().ends_with("one_bad.jsonl"),
        "{j}"
    );
    assert!(j["reason"].as_str().unwrap().contains("not a time"), "{j}");
    assert_eq!(j["raw"].as_str().unwrap(), bad);
    // The stored entries are the 19 good ones and verify.
    let ids = ids_of(&archive);
    assert_eq!(ids.len(), 19);
    assert!(!ids.contains(&"cbad".to_string()));
    let rep = verify(&archive, None);
    assert!(rep.findings.is_empty(), "{:#?}", rep.findings);

    // The binary, with an explicit rejects file.
    let archive2 = d.path().join("skip2.sqlite");
    let rejects2 = d.path().join("rejected.jsonl");
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive2.as_os_str(),
        OsStr::new("--skip-invalid"),
        OsStr::new("--rejects"),
        rejects2.as_os_str(),
        p.as_os_str(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("added 19") && o.stdout.contains("rejected 1"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("rejected.jsonl"), "{}", o.stdout);
    assert!(
        std::fs::read_to_string(&rejects2)
            .unwrap()
            .contains("not a time")
    );
    assert_eq!(ids_of(&archive2), ids);
}

// ---------------------------------------------------------------- verify on the wrong kind of file

#[test]
fn raw_platform_export_given_to_verify() {
    let d = tempfile::tempdir().unwrap();
    for (name, f) in [
        ("p.json", PlatformFormat::Json),
        ("p.jsonl", PlatformFormat::Jsonl),
        ("p.csv", PlatformFormat::Csv),
    ] {
        let p = d.path().join(name);
        write_sample(&p, 10, SEED, f);
        let e = verify_file(&p, None, &Job::new()).unwrap_err();
        assert!(
            e.to_string().contains(name) && e.to_string().contains("no hash chain"),
            "{e}"
        );
        let o = run([OsStr::new("verify"), p.as_os_str()]);
        assert_cli_error(&o, "no hash chain");
        let o = run([OsStr::new("verify"), OsStr::new("--json"), p.as_os_str()]);
        assert_cli_error(&o, name);
    }
}

#[test]
fn missing_file_and_bad_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.sqlite");
    let o = run([OsStr::new("verify"), missing.as_os_str()]);
    assert_cli_error(&o, "nope.sqlite");
    let archive = build_archive(d.path(), "a", 5);
    let cp = d.path().join("cp.txt");
    std::fs::write(&cp, "hello\n").unwrap();
    let o = run([
        OsStr::new("verify"),
        archive.as_os_str(),
        OsStr::new("--checkpoint"),
        cp.as_os_str(),
    ]);
    assert_cli_error(&o, "cp.txt");
    assert!(
        o.stderr.contains("not an auditlens checkpoint"),
        "{}",
        o.stderr
    );
    let o = run([
        OsStr::new("verify"),
        archive.as_os_str(),
        OsStr::new("--checkpoint"),
        d.path().join("absent.txt").as_os_str(),
    ]);
    assert_cli_error(&o, "absent.txt");
}

// ---------------------------------------------------------------- conflicts and duplicates

#[test]
fn same_id_with_different_content_is_a_conflict_and_not_stored() {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "c", 50);
    let before_entries = entries_of(&archive);
    let s = Sample::new(50, SEED);
    let mut changed = s.entry(10);
    changed.after = Some(auditlens_core::json::Json::String("edited later".into()));
    assert_ne!(changed, s.entry(10));
    let existing_seq = before_entries
        .iter()
        .position(|e| e.id == changed.id)
        .unwrap() as u64
        + 1;
    let p = d.path().join("conflict.jsonl");
    write_platform_jsonl(&p, &[changed.clone(), s.entry(11)]);
    let r = ingest_files(&archive, std::slice::from_ref(&p));
    assert_eq!(r.added, 0);
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.conflicts.len(), 1);
    let c = &r.conflicts[0];
    assert_eq!(c.entry_id, changed.id);
    assert_eq!(c.existing_seq, existing_seq);
    assert!(c.source.ends_with("conflict.jsonl"));
    // Nothing changed in the chain; the conflict is recorded beside it.
    assert_eq!(entries_of(&archive), before_entries);
    assert!(verify(&archive, None).findings.is_empty());
    let conn = rusqlite::Connection::open(&archive).unwrap();
    let (id, seq, record): (String, i64, String) = conn
        .query_row(
            "SELECT entry_id, existing_seq, record FROM conflicts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    drop(conn);
    assert_eq!(
        (id.as_str(), seq as u64),
        (changed.id.as_str(), existing_seq)
    );
    assert_eq!(record, changed.canonical_record());
    // The binary reports it and exits 1.
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive.as_os_str(),
        p.as_os_str(),
    ]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("conflicting 1"), "{}", o.stdout);
    assert!(o.stdout.contains(&changed.id), "{}", o.stdout);
    assert_eq!(entries_of(&archive), before_entries);
}

#[test]
fn conflict_within_one_ingest_keeps_the_first_and_reports_the_second() {
    let d = tempfile::tempdir().unwrap();
    let s = Sample::new(20, SEED);
    let e = s.entry(3);
    let mut other = e.clone();
    other.after = Some(auditlens_core::json::Json::Bool(false));
    let a = d.path().join("a.jsonl");
    let b = d.path().join("b.jsonl");
    write_platform_jsonl(&a, std::slice::from_ref(&e));
    write_platform_jsonl(&b, &[other]);
    let archive = d.path().join("x.sqlite");
    let r = ingest_files(&archive, &[a, b]);
    assert_eq!((r.added, r.conflicts.len()), (1, 1));
    assert_eq!(entries_of(&archive), vec![e]);
}

#[test]
fn overlapping_exports_store_each_entry_once() {
    let d = tempfile::tempdir().unwrap();
    let s = Sample::new(300, SEED);
    let all: Vec<_> = (0..300).map(|i| s.entry(i)).collect();
    // Two "daily" exports sharing 100 entries, newest first like the platform.
    let day1 = d.path().join("day1.jsonl");
    let day2 = d.path().join("day2.jsonl");
    write_platform_jsonl(&day1, &all[..200].iter().rev().cloned().collect::<Vec<_>>());
    write_platform_jsonl(&day2, &all[100..].iter().rev().cloned().collect::<Vec<_>>());
    // In one ingest.
    let one = d.path().join("one.sqlite");
    let r = ingest_files(&one, &[day1.clone(), day2.clone()]);
    assert_eq!(
        (r.read, r.added, r.duplicates, r.conflicts.len()),
        (400, 300, 100, 0)
    );
    // In two ingests.
    let two = d.path().join("two.sqlite");
    ingest_files(&two, std::slice::from_ref(&day1));
    let r = ingest_files(&two, std::slice::from_ref(&day2));
    assert_eq!(
        (r.read, r.added, r.duplicates, r.conflicts.len()),
        (200, 100, 100, 0)
    );
    assert_eq!(r.first_seq, Some(201));
    // The same file again adds nothing.
    let r = ingest_files(&two, &[day2]);
    assert_eq!((r.added, r.duplicates), (0, 200));
    for p in [&one, &two] {
        let ids = ids_of(p);
        assert_eq!(ids.len(), 300);
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 300);
        assert!(problems(&verify(p, None)).is_empty());
    }
    // The one-ingest archive holds every entry in time order.
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    assert_eq!(entries_of(&one), sorted);
}

// ---------------------------------------------------------------- keys and checkpoints

/// A key, a checkpoint, a ticket list or a directory of people is a small
/// file: a huge one, or an endless device, is refused at its limit instead
/// of being read into memory (before, `--key /dev/zero` grew until the
/// machine ran out; the size check of tickets and directories saw 0 bytes).
#[test]
fn a_huge_or_endless_small_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "a", 5);
    let huge = d.path().join("huge.pub");
    // Sparse: 100 MB of zero bytes without writing them (over every limit).
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(100_000_000)
        .unwrap();
    let mut cases: Vec<PathBuf> = vec![huge];
    if Path::new("/dev/zero").exists() {
        cases.push(PathBuf::from("/dev/zero"));
    }
    let a = archive.as_os_str();
    let html = d.path().join("r.html");
    for bad in &cases {
        let name = bad.file_name().unwrap().to_str().unwrap();
        let b = bad.as_os_str();
        for (args, needle) in [
            (
                vec!["verify".as_ref(), a, "--key".as_ref(), b],
                "larger than",
            ),
            (
                vec!["verify".as_ref(), a, "--checkpoint".as_ref(), b],
                "larger than",
            ),
            (
                vec!["checkpoint".as_ref(), a, "--sign".as_ref(), b],
                "larger than",
            ),
            (
                vec![
                    "report".as_ref(),
                    a,
                    "--changes".as_ref(),
                    b,
                    "-o".as_ref(),
                    html.as_os_str(),
                ],
                "more than a ticket file",
            ),
            (
                vec![
                    "blast-radius".as_ref(),
                    a,
                    "--actor".as_ref(),
                    "u1".as_ref(),
                    "--directory".as_ref(),
                    b,
                ],
                "more than a directory",
            ),
        ] {
            let o = run(&args);
            assert_cli_error(&o, name);
            assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
        }
        assert!(!html.exists(), "a report was written");
    }
}

/// A compressed export (as exports travel) is named as such, with what to
/// do, by ingest and by verify; nothing is created.
#[test]
fn a_compressed_export_says_to_decompress_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "export.jsonl.gz",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
            "gzip-compressed",
        ),
        ("export.zip", b"PK\x03\x04\x14\x00\x00\x00", "a zip archive"),
        (
            "export.jsonl.zst",
            b"\x28\xb5\x2f\xfd\x00\x58",
            "zstd-compressed",
        ),
    ];
    for (name, head, kind) in cases {
        let file = dir.path().join(name);
        let mut bytes = head.to_vec();
        bytes.extend(std::iter::repeat_n(0xA5u8, 4000));
        std::fs::write(&file, &bytes).unwrap();
        let archive = dir.path().join("a.sqlite");
        let o = run([
            "ingest".as_ref(),
            "--archive".as_ref(),
            archive.as_os_str(),
            file.as_os_str(),
        ]);
        assert_eq!(o.code, 2, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(kind), "{name}: {}", o.stderr);
        assert!(
            o.stderr.contains("decompress it first"),
            "{name}: {}",
            o.stderr
        );
        assert!(!archive.exists(), "{name}");
        let o = run(["verify".as_ref(), file.as_os_str()]);
        assert_eq!(o.code, 2, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(kind), "{name}: {}", o.stderr);
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "{name} untouched");
    }
}

/// "-" is standard input or output to many tools. auditlens reads a file more
/// than once and writes each output whole under its name: it says so, rather
/// than "no such file" or a file called "-".
#[test]
fn a_dash_is_refused_with_the_reason_as_input_and_as_output() {
    let d = tempfile::tempdir().unwrap();
    let archive = build_archive(d.path(), "a", 5);
    assert!(
        !Path::new("-").exists(),
        "run from a folder without a file named -"
    );
    let new = d.path().join("new.sqlite");
    for args in [
        vec![OsStr::new("verify"), OsStr::new("-")],
        vec![OsStr::new("info"), OsStr::new("-")],
        vec![
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            new.as_os_str(),
            OsStr::new("-"),
        ],
    ] {
        assert_cli_error(&run(&args), "standard input");
    }
    assert!(!new.exists());
    let o = run([
        OsStr::new("export"),
        archive.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("ndjson"),
        OsStr::new("-o"),
        OsStr::new("-"),
    ]);
    assert_cli_error(&o, "not to standard output");
    assert!(!Path::new("-").exists());
}

/// A file that cannot be read past a point (a JSON array cut short) is not
/// helped by --skip-invalid, and the message does not offer it; a bad
/// record in a file that reads on does.
#[test]
fn a_file_unreadable_past_a_point_does_not_offer_skip_invalid() {
    let d = tempfile::tempdir().unwrap();
    let cut = d.path().join("cut.json");
    std::fs::write(&cut, "[{\"id\":\"abc").unwrap();
    let archive = d.path().join("a.sqlite");
    for skip in [false, true] {
        let mut args = vec![
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            archive.as_os_str(),
        ];
        if skip {
            args.push(OsStr::new("--skip-invalid"));
        }
        args.push(cut.as_os_str());
        let o = run(&args);
        assert_cli_error(&o, "cannot be read past this point");
        assert!(!o.stderr.contains("--skip-invalid"), "{}", o.stderr);
        assert!(!archive.exists());
    }
    let bad = d.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"abc\"}\n").unwrap();
    let o = run([
        OsStr::new("ingest"),
        OsStr::new("--archive"),
        archive.as_os_str(),
        bad.as_os_str(),
    ]);
    assert_cli_error(&o, "pass --skip-invalid to store the good records");
}

/// A bad row of a CSV with Windows line ends (as Excel and Python's csv
/// module write it) is named by the line an editor shows it on.
#[test]
fn a_bad_csv_row_is_named_by_its_line_with_windows_line_ends() {
    let d = tempfile::tempdir().unwrap();
    let header = "\"id\",\"createdAt\",\"updatedAt\",\"type\",\"apiKeyId\",\"userId\",\"orgId\",\
                  \"userOrgRole\",\"projectId\",\"userProjectRole\",\"resourceType\",\"resourceId\",\
                  \"action\",\"before\",\"after\"";
    let good = "\"c1\",\"2025-01-01T00:00:00.000Z\",\"2025-01-01T00:00:00.000Z\",\"USER\",\"\",\
                \"u1\",\"o1\",\"OWNER\",\"\",\"\",\"trace\",\"t1\",\"bookmark\",\"\",\"true\"";
    for eol in ["\r\n", "\n"] {
        let csv = d.path().join("crlf.csv");
        // Line 1 the header, line 2 a row, line 3 blank, line 4 the bad row.
        std::fs::write(&csv, [header, good, "", "\"bad\",\"row\"", ""].join(eol)).unwrap();
        let archive = d.path().join("a.sqlite");
        let o = run([
            OsStr::new("ingest"),
            OsStr::new("--archive"),
            archive.as_os_str(),
            csv.as_os_str(),
        ]);
        assert_cli_error(&o, "record 2 (line 4): has 2 fields but the header has 15");
    }
}

//! Recognising evidence by its content, whatever its name.
//!
//! Before any output replaces an existing file, [`crate::output`] asks this
//! module what the file is. A name proves nothing (`incident.html` may sit
//! beside `incident.json`, the platform export under investigation; a key may
//! be called `notes.txt`), so only the bytes decide. Recognition is
//! conservative: any SQLite database counts as an archive, any JSON array or
//! JSON-lines file as a platform export, any text shaped like a key or a
//! signed note as one, even when damaged. A false "this is evidence" costs the
//! user another file name; a false "this is not" costs the evidence.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::archive::APPLICATION_ID;
use crate::export::{META_ARCHIVE_ID, PARQUET_MAGIC};
use crate::proof::{CONSISTENCY_PROOF_TAG, SIDECAR_HEADER_KEY, SIDECAR_SUFFIX};
use crate::source::{self, EXPORT_HEADER_KEY, Format};

/// The first key of a case file. It lives here, not in `case`, so that
/// recognising evidence needs nothing from the modules that write outputs.
pub const CASE_KEY: &str = "auditlens_case";
/// The case file of `A.sqlite` is `A.sqlite.case.json`.
pub const CASE_SUFFIX: &str = ".case.json";

/// The keys of a line of the ingest rejects file, in order (`ingest` writes them).
pub const REJECT_KEYS: [&str; 5] = ["file", "record", "line", "reason", "raw"];

/// How much of a file is read to recognise it.
const SNIFF: u64 = 64 * 1024;

/// A kind of file that auditlens never replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// A SQLite database; `auditlens` when its application id is ours.
    Sqlite { auditlens: bool },
    /// A SQLite rollback journal or write-ahead log: part of a database.
    SqliteJournal,
    /// A platform export or an auditlens export, as `source::detect` names it.
    Export(Format),
    /// The CSV export's proof sidecar (`OUT.proof.json`).
    ProofSidecar,
    /// An auditlens ECS export (one Elastic Common Schema event per line).
    EcsExport,
    /// An auditlens checkpoint, signed or not.
    Checkpoint { signed: bool },
    /// A checkpoint of another log, or another C2SP signed note.
    SignedNote,
    /// A private signing key (`PRIVATE+KEY+…`).
    PrivateKey,
    /// A verifier key (`NAME+HASH+BASE64`).
    PublicKey,
    /// An investigation's case file (bookmarks, tags and notes).
    CaseFile,
    /// A consistency proof between two checkpoints (`consistency -o`).
    ConsistencyProof,
    /// An Apache Parquet file; `auditlens` when its metadata names an archive
    /// (an auditlens Parquet export). Any Parquet file counts: a warehouse
    /// extract may be evidence too.
    Parquet { auditlens: bool },
}

impl Evidence {
    /// The kind in words, with its article: "an auditlens archive".
    pub fn describe(self) -> &'static str {
        match self {
            Evidence::Sqlite { auditlens: true } => "an auditlens archive",
            Evidence::Sqlite { auditlens: false } => "a SQLite database (possibly an archive)",
            Evidence::SqliteJournal => "a SQLite journal (part of an archive)",
            Evidence::Export(f) => match f {
                Format::Archive => "an auditlens archive",
                Format::PlatformJson => "a JSON platform export",
                Format::PlatformJsonl => "a JSONL platform export",
                Format::PlatformCsv => "a CSV platform export",
                Format::ExportJson => "an auditlens JSON export",
                Format::ExportNdjson => "an auditlens NDJSON export",
                Format::ExportCsv => "an auditlens CSV export",
            },
            Evidence::ProofSidecar => "an auditlens proof sidecar",
            Evidence::EcsExport => "an auditlens ECS export",
            Evidence::Checkpoint { signed: true } => "a signed checkpoint",
            Evidence::Checkpoint { signed: false } => "a checkpoint",
            Evidence::SignedNote => "a signed note",
            Evidence::PrivateKey => "a private signing key",
            Evidence::PublicKey => "a verifier (public) key",
            Evidence::CaseFile => "a case file",
            Evidence::ConsistencyProof => "a consistency proof",
            Evidence::Parquet { auditlens: true } => "an auditlens Parquet export",
            Evidence::Parquet { auditlens: false } => "a Parquet file (possibly an export)",
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The side files that belong to `path` when it is read: SQLite's journal,
/// write-ahead log and shared memory, the case file, the proof sidecar. An
/// output must not take their names, existing or not (a file named
/// `A.sqlite-journal` would be taken by SQLite for A's hot journal).
pub fn side_files(path: &Path) -> Vec<(&'static str, PathBuf)> {
    [
        ("journal", "-journal"),
        ("write-ahead log", "-wal"),
        ("shared-memory file", "-shm"),
        ("case file", CASE_SUFFIX),
        ("proof sidecar", SIDECAR_SUFFIX),
    ]
    .into_iter()
    .map(|(what, suffix)| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        (what, PathBuf::from(p))
    })
    .collect()
}

/// What the regular file at `path` is, if it is evidence. An error means it
/// could not be read, so it cannot be shown not to be evidence either.
pub fn recognise(path: &Path) -> std::io::Result<Option<Evidence>> {
    let mut head = Vec::with_capacity(4096);
    File::open(path)?.take(SNIFF).read_to_end(&mut head)?;
    Ok(match sniff(&head) {
        Head::Is(Evidence::Parquet { .. }) => Some(Evidence::Parquet {
            auditlens: parquet_names_archive(path)?,
        }),
        Head::Is(kind) => Some(kind),
        Head::Ours => None,
        // Exports: the readers' own detection, so that whatever auditlens
        // would read as an export is protected as one.
        Head::AskReaders { fallback } => {
            source::detect(path).ok().map(Evidence::Export).or(fallback)
        }
    })
}

/// What the first bytes of a file say.
enum Head {
    Is(Evidence),
    /// A file auditlens writes that is not evidence (the ingest rejects file),
    /// though the export readers would take it for JSON lines.
    Ours,
    /// Ask `source::detect`; `fallback` if it does not recognise an export.
    AskReaders {
        fallback: Option<Evidence>,
    },
}

fn sniff(head: &[u8]) -> Head {
    // The viewer's search sidecar (ARCHIVE.search.sqlite) is derived, not
    // evidence: the viewer rebuilds it in place.
    if crate::archive::search_sidecar::is_sidecar_header(head) {
        return Head::Ours;
    }
    match recognise_bytes(head) {
        Some(kind) => Head::Is(kind),
        None => recognise_text(head),
    }
}

/// Binary formats and the text files that are not exports.
fn recognise_bytes(head: &[u8]) -> Option<Evidence> {
    if head.starts_with(b"SQLite format 3\0") {
        let id = head
            .get(68..72)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        return Some(Evidence::Sqlite {
            auditlens: id == Some(APPLICATION_ID),
        });
    }
    if head.starts_with(PARQUET_MAGIC) {
        return Some(Evidence::Parquet { auditlens: false });
    }
    const JOURNAL: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];
    if head.starts_with(&JOURNAL)
        || head.starts_with(&[0x37, 0x7f, 0x06, 0x82])
        || head.starts_with(&[0x37, 0x7f, 0x06, 0x83])
    {
        return Some(Evidence::SqliteJournal);
    }
    None
}

/// Does the Parquet file at `path` carry auditlens's archive id key? The key
/// sits in the footer's key-value metadata, at the end of the file; its
/// bytes are looked for there without decoding the footer.
fn parquet_names_archive(path: &Path) -> std::io::Result<bool> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(SNIFF)))?;
    let mut tail = Vec::with_capacity(SNIFF as usize);
    f.take(SNIFF).read_to_end(&mut tail)?;
    Ok(tail.ends_with(PARQUET_MAGIC)
        && memchr::memmem::find(&tail, META_ARCHIVE_ID.as_bytes()).is_some())
}

/// Keys, checkpoints and notes, and auditlens's own JSON files.
fn recognise_text(head: &[u8]) -> Head {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(text);
    let text = text.trim_start();
    if text.starts_with('{') {
        return recognise_json_object(text);
    }
    match recognise_note_or_key(text) {
        Some(kind) => Head::Is(kind),
        None => Head::AskReaders { fallback: None },
    }
}

fn recognise_note_or_key(text: &str) -> Option<Evidence> {
    if text.starts_with("PRIVATE+KEY+") {
        return Some(Evidence::PrivateKey);
    }
    if text.starts_with(CONSISTENCY_PROOF_TAG) {
        return Some(Evidence::ConsistencyProof);
    }
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let signed = text.contains("\n\n\u{2014} ") || text.contains("\r\n\r\n\u{2014} ");
    if lines
        .first()
        .is_some_and(|l| l.starts_with("auditlens.archive/"))
    {
        return Some(Evidence::Checkpoint { signed });
    }
    // A C2SP checkpoint of another log: origin, decimal size, base64 root.
    let tlog = lines.len() >= 3
        && !lines[1].is_empty()
        && lines[1].bytes().all(|b| b.is_ascii_digit())
        && is_base64(lines[2]);
    if signed || tlog {
        return Some(Evidence::SignedNote);
    }
    if lines.len() == 1 && is_verifier_key(lines[0].trim()) {
        return Some(Evidence::PublicKey);
    }
    None
}

/// A JSON object: one of auditlens's own files, found by its header key
/// anywhere in the head (a hand-edited file may reorder keys), an ECS line,
/// or a line of the ingest rejects file.
fn recognise_json_object(text: &str) -> Head {
    let has_key = |k: &str| {
        let quoted = format!("\"{k}\"");
        text.match_indices(&quoted)
            .any(|(i, _)| text[i + quoted.len()..].trim_start().starts_with(':'))
    };
    if has_key(CASE_KEY) {
        return Head::Is(Evidence::CaseFile);
    }
    if has_key(SIDECAR_HEADER_KEY) {
        return Head::Is(Evidence::ProofSidecar);
    }
    if has_key(EXPORT_HEADER_KEY) {
        // `source::detect` names the flavour (JSON or NDJSON).
        return Head::AskReaders {
            fallback: Some(Evidence::Export(Format::ExportJson)),
        };
    }
    let first_line = text.lines().next().unwrap_or("");
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(first_line) {
        if m.contains_key("@timestamp") && m.contains_key("ecs") {
            return Head::Is(Evidence::EcsExport);
        }
        if m.keys().map(String::as_str).eq(REJECT_KEYS) {
            return Head::Ours;
        }
    }
    Head::AskReaders { fallback: None }
}

/// `NAME+HASH+BASE64`, HASH being 8 hex digits: the shape of a verifier key,
/// checked loosely so that a damaged key is still recognised as one.
fn is_verifier_key(line: &str) -> bool {
    let mut parts = line.splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !name.is_empty()
        && !name.chars().any(char::is_whitespace)
        && hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && is_base64(key)
}

fn is_base64(s: &str) -> bool {
    s.len() >= 16
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(bytes: &[u8]) -> Option<Evidence> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        recognise(f.path()).unwrap()
    }

    #[test]
    fn keys_checkpoints_and_notes_are_recognised_by_shape() {
        let key = crate::note::SignerKey::from_seed("a.example/k", &[7; 32]).unwrap();
        assert_eq!(kind(key.to_text().as_bytes()), Some(Evidence::PrivateKey));
        assert_eq!(
            kind((key.verifier().to_text() + "\n").as_bytes()),
            Some(Evidence::PublicKey)
        );
        let cp =
            "auditlens.archive/0123\n3\nqINS1GRFhWHwdkUeqLEoP4ifJvLbAkm7zy+2q/zl5Lw=\nchain 00\n";
        assert_eq!(
            kind(cp.as_bytes()),
            Some(Evidence::Checkpoint { signed: false })
        );
        let other = "example.com/log\n42\nqINS1GRFhWHwdkUeqLEoP4ifJvLbAkm7zy+2q/zl5Lw=\n";
        assert_eq!(kind(other.as_bytes()), Some(Evidence::SignedNote));
        let note = "hello\n\n\u{2014} k abcd\n";
        assert_eq!(kind(note.as_bytes()), Some(Evidence::SignedNote));
        let proof = format!("{CONSISTENCY_PROOF_TAG}\norigin auditlens.archive/x\nold 1\nnew 2\n");
        assert_eq!(kind(proof.as_bytes()), Some(Evidence::ConsistencyProof));
    }

    #[test]
    fn own_json_files_by_their_keys_in_any_order() {
        assert_eq!(
            kind(b"{\n  \"saved_at\": \"x\",\n  \"auditlens_case\": 1\n}\n"),
            Some(Evidence::CaseFile)
        );
        assert_eq!(
            kind(b"{\"auditlens_proof\":{\"version\":1},\n\"entries\":["),
            Some(Evidence::ProofSidecar)
        );
        assert_eq!(
            kind(b"{\"@timestamp\":\"2025-01-01T00:00:00Z\",\"ecs\":{\"version\":\"8.11.0\"}}\n"),
            Some(Evidence::EcsExport)
        );
        assert_eq!(kind(b"[]"), Some(Evidence::Export(Format::PlatformJson)));
    }

    #[test]
    fn ordinary_files_are_not_evidence() {
        assert_eq!(kind(b""), None);
        assert_eq!(kind(b"<!doctype html><p>report</p>\n"), None);
        assert_eq!(kind(b"{\n  \"verification\": {}\n}\n"), None);
        assert_eq!(kind(b"a,b,c\n1,2,3\n"), None);
        assert_eq!(kind(b"just some notes\nabout the case\n"), None);
        assert_eq!(kind(&[0u8, 1, 2, 3, 200, 201]), None);
        // The ingest rejects file is JSON lines, but not an export.
        assert_eq!(
            kind(b"{\"file\":\"x.json\",\"record\":2,\"line\":3,\"reason\":\"bad\",\"raw\":\"{}\"}\n"),
            None
        );
        assert_eq!(
            kind(b"{\"id\":\"e1\",\"file\":\"x\"}\n"),
            Some(Evidence::Export(Format::PlatformJsonl))
        );
    }

    #[test]
    fn any_parquet_file_counts_and_ours_is_named() {
        let mut other = b"PAR1".to_vec();
        other.extend_from_slice(&[0, 1, 2, 3]);
        other.extend_from_slice(b"\x15\x00PAR1");
        assert_eq!(kind(&other), Some(Evidence::Parquet { auditlens: false }));
        let mut ours = b"PAR1\x00\x01".to_vec();
        ours.extend_from_slice(META_ARCHIVE_ID.as_bytes());
        ours.extend_from_slice(b"\x15\x00PAR1");
        assert_eq!(kind(&ours), Some(Evidence::Parquet { auditlens: true }));
        // Cut short (no footer magic): still evidence, not named ours.
        assert_eq!(kind(b"PAR1"), Some(Evidence::Parquet { auditlens: false }));
    }

    #[test]
    fn any_sqlite_file_counts_and_ours_is_named() {
        let mut h = b"SQLite format 3\0".to_vec();
        h.resize(100, 0);
        assert_eq!(kind(&h), Some(Evidence::Sqlite { auditlens: false }));
        h[68..72].copy_from_slice(&APPLICATION_ID.to_be_bytes());
        assert_eq!(kind(&h), Some(Evidence::Sqlite { auditlens: true }));
    }
}

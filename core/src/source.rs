//! Reading entries out of files: the platform's exports and auditlens's own.
//!
//! The format is detected from the content, never from the file name. Every
//! reader streams, one record at a time, and reports errors with the file, the
//! record number and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::is_sqlite_file;
use crate::chain::{ArchiveId, Hash};
use crate::checkpoint::Checkpoint;
use crate::json::{self, Json, MAX_VALUE_BYTES, Parser};
use crate::model::{Actor, ActorType, Entry};
use crate::proof::{EntryProof, PROOF_INDEX_KEY, PROOF_PATH_KEY, ProofsKind, proofs_kind};
use crate::time::Timestamp;

mod platform_line;
use platform_line::LineScratch;

/// What kind of file this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A sealed auditlens archive (SQLite).
    Archive,
    /// The platform's export: one JSON array of rows.
    PlatformJson,
    /// The platform's export: one JSON object per line.
    PlatformJsonl,
    /// The platform's export: CSV with a header row.
    PlatformCsv,
    /// An auditlens export (carries seq and hashes), JSON.
    ExportJson,
    /// An auditlens export, NDJSON.
    ExportNdjson,
    /// An auditlens export, CSV.
    ExportCsv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Archive => "auditlens archive",
            Format::PlatformJson => "platform export (JSON)",
            Format::PlatformJsonl => "platform export (JSONL)",
            Format::PlatformCsv => "platform export (CSV)",
            Format::ExportJson => "auditlens export (JSON)",
            Format::ExportNdjson => "auditlens export (NDJSON)",
            Format::ExportCsv => "auditlens export (CSV)",
        }
    }

    /// Does the file carry chain fields (seq and hashes) that can be verified?
    pub fn has_chain(self) -> bool {
        matches!(
            self,
            Format::Archive | Format::ExportJson | Format::ExportNdjson | Format::ExportCsv
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A problem with an input file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceError {}

/// A problem with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub file: PathBuf,
    /// 1-based record number within the file.
    pub record: u64,
    /// 1-based line where the record starts (or where parsing failed).
    pub line: u64,
    pub message: String,
    /// The record's text, when it could be recovered (for the rejects file).
    pub raw: Option<String>,
    /// The file cannot be read past this point.
    pub fatal: bool,
    /// An auditlens export's entry whose record cannot be read may still
    /// carry readable chain fields: the verifier then knows which entry it
    /// is and links the chain through it. (Boxed: errors stay small.)
    pub chain: Option<Box<ChainFields>>,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: record {} (line {}): {}",
            self.file.display(),
            self.record,
            self.line,
            self.message
        )
    }
}

/// The chain fields an auditlens export carries for each entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainFields {
    pub seq: u64,
    pub leaf_hash: Hash,
    /// Absent where an export with proofs leaves it out: on an entry whose
    /// neighbours are not exported, nothing in the export could check it.
    pub chain_hash: Option<Hash>,
}

/// One entry read from a file.
#[derive(Clone, Debug)]
pub struct SourceRecord {
    pub entry: Entry,
    pub chain: Option<ChainFields>,
    /// The archive named by the export row (CSV carries it per row).
    pub archive_id: Option<ArchiveId>,
    /// The entry's inclusion proof, in exports that carry proofs in each entry
    /// (JSON, NDJSON); `Err` holds why the proof fields could not be read.
    pub proof: Option<Result<EntryProof, String>>,
    /// Columns of a CSV export row whose cell starts with a formula character
    /// without the `'` guard auditlens writes (see [`csv_encode`]): the cell
    /// was edited after export. Empty for every other format.
    pub unguarded: Vec<&'static str>,
    pub record: u64,
    pub line: u64,
}

/// One entry read by [`Source::next_sealed`]: its canonical record is in
/// the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedEntry {
    pub id: String,
    pub time: Timestamp,
    pub record: u64,
    pub line: u64,
}

/// Where [`Source::next_line`] found a line: its record number (counting
/// records, not blank lines) and line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineAt {
    pub record: u64,
    pub line: u64,
}

/// Seals platform JSONL lines (or the entries of a platform JSON array, or
/// the records of a platform CSV file), as [`Source::next_sealed`] does,
/// without the reader: a line in the shape the platform writes goes straight
/// to its record (`platform_line`); any other line is read the general way
/// (`json::parse`, [`platform_entry`]), with the same checks and words; a
/// CSV record is read by the csv crate and `platform_csv_entry`, as
/// [`Source::next_record`] reads it. It holds no state but reusable buffers, so that
/// several threads can seal the lines of one file, each with its own.
#[derive(Debug, Default)]
pub struct LineSealer {
    path: PathBuf,
    scratch: LineScratch,
    /// Sealing the entries of a JSON array: an entry that is not JSON ends
    /// the file (the array cannot be trusted past it), where a bad JSONL
    /// line is only that line.
    in_array: bool,
    /// Sealing the records of a platform CSV file: what reads their cells.
    csv: Option<Box<CsvCells>>,
}

impl LineSealer {
    /// A sealer of the lines of the file at `path` (named in errors).
    pub fn new(path: &Path) -> LineSealer {
        LineSealer {
            path: path.to_path_buf(),
            scratch: LineScratch::default(),
            in_array: false,
            csv: None,
        }
    }

    /// A sealer of what [`Source::next_line`] gives of a file in `format`
    /// (a platform CSV file's records under the header's `columns`).
    fn for_format(path: &Path, format: Format, columns: Option<&Arc<[String]>>) -> LineSealer {
        LineSealer {
            in_array: format == Format::PlatformJson,
            csv: columns
                .filter(|_| format == Format::PlatformCsv)
                .map(|c| Box::new(CsvCells::new(c.clone()))),
            ..LineSealer::new(path)
        }
    }

    /// Writes the canonical record of `text`, the line found `at`, to `out`
    /// (cleared first), or the error that rejects it (never fatal).
    pub fn seal(
        &mut self,
        text: &[u8],
        at: LineAt,
        out: &mut String,
    ) -> Result<SealedEntry, RecordError> {
        out.clear();
        let LineAt { record, line } = at;
        if let Some(csv) = &mut self.csv {
            let error = |message: String, raw: Option<String>| RecordError {
                file: self.path.clone(),
                record,
                line,
                message,
                raw,
                fatal: false,
                chain: None,
            };
            let (time, id) = csv.seal(text, out).map_err(|(m, raw)| error(m, raw))?;
            return Ok(SealedEntry {
                id,
                time,
                record,
                line,
            });
        }
        if let Some((time, id)) = platform_line::canonical_record(text, out, &mut self.scratch) {
            return Ok(SealedEntry {
                id,
                time,
                record,
                line,
            });
        }
        let error = |message: String, raw: String| RecordError {
            file: self.path.clone(),
            record,
            line,
            message,
            raw: Some(raw),
            fatal: false,
            chain: None,
        };
        let raw = || String::from_utf8_lossy(text).trim_end().to_string();
        let value = json::parse(text).map_err(|e| match self.in_array {
            // Said as the whole file's parser says it, where it is in the file.
            true => RecordError {
                line: line + e.line - 1,
                fatal: true,
                ..error(e.message, raw())
            },
            false => error(e.to_string(), raw()),
        })?;
        let Json::Object(m) = &value else {
            let message = format!("expected an object per entry, found {}", value.kind());
            return Err(error(message, raw()));
        };
        let entry = platform_entry(m).map_err(|message| error(message, raw()))?;
        if let Some(message) = too_deep(&entry) {
            return Err(error(message, entry.canonical_record()));
        }
        entry.to_record().write_canonical(out);
        Ok(SealedEntry {
            id: entry.id,
            time: entry.time,
            record,
            line,
        })
    }
}

/// Why an entry is refused for its depth, if it is.
fn too_deep(entry: &Entry) -> Option<String> {
    let depth = entry.record_depth();
    (depth > json::MAX_RECORD_DEPTH).then(|| {
        format!(
            "the entry is nested {depth} levels deep (counting its record); auditlens \
             accepts at most {} levels, so that every export of it can be read back",
            json::MAX_RECORD_DEPTH
        )
    })
}

/// Reads the cells of the raw records [`Source::next_line`] cuts from a
/// platform CSV file with the csv crate, as the file's own csv reader reads
/// them: one reader, put back to the start of each record.
struct CsvCells {
    columns: Arc<[String]>,
    /// Where each column is in [`PLATFORM_COLUMNS`], if it is one.
    platform: Vec<Option<usize>>,
    reader: csv::Reader<std::io::Cursor<Vec<u8>>>,
    record: csv::ByteRecord,
    scratch: LineScratch,
}

impl fmt::Debug for CsvCells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvCells")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl CsvCells {
    fn new(columns: Arc<[String]>) -> CsvCells {
        // Its row count is checked against the header's below, as the
        // file's reader checks it (`flexible(false)`).
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(std::io::Cursor::new(Vec::new()));
        // The first seek reads the (empty) first record as a header; later
        // ones only seek.
        let _ = reader.seek_raw(std::io::SeekFrom::Start(0), csv::Position::new());
        CsvCells {
            platform: columns
                .iter()
                .map(|c| PLATFORM_COLUMNS.iter().position(|p| p == c))
                .collect(),
            columns,
            reader,
            record: csv::ByteRecord::new(),
            scratch: LineScratch::default(),
        }
    }

    /// Writes the canonical record of one raw record to `out`; its time and
    /// id, or why it is refused and (when it could be read) the row for the
    /// rejects file. A row of the platform's columns, each empty or holding
    /// text in the shape the platform writes, goes straight to its record
    /// (`platform_line`, as a JSONL line would); any other is read by
    /// `platform_csv_entry`, with the same checks and words.
    fn seal(
        &mut self,
        text: &[u8],
        out: &mut String,
    ) -> Result<(Timestamp, String), (String, Option<String>)> {
        let buf = self.reader.get_mut().get_mut();
        buf.clear();
        buf.extend_from_slice(text);
        let read = self
            .reader
            .seek_raw(std::io::SeekFrom::Start(0), csv::Position::new())
            .and_then(|_| self.reader.read_byte_record(&mut self.record));
        if let Err(e) = read {
            return Err((e.to_string(), None));
        }
        if self.record.len() != self.columns.len() {
            return Err((
                csv_unequal(self.record.len() as u64, self.columns.len() as u64),
                None,
            ));
        }
        let cells = match csv::StringRecord::from_byte_record(std::mem::take(&mut self.record)) {
            Ok(cells) => cells,
            Err(e) => {
                self.record = e.into_byte_record();
                return Err((CSV_NOT_UTF8.to_string(), None));
            }
        };
        let mut plain = [None; PLATFORM_COLUMNS.len()];
        let mut fast = cells.as_byte_record().as_slice().len() <= MAX_VALUE_BYTES;
        for (v, k) in cells.iter().zip(&self.platform) {
            match k {
                _ if v.is_empty() => {}
                Some(k) => plain[*k] = Some(v),
                None => fast = false,
            }
        }
        let fast = fast
            .then(|| platform_line::canonical_csv_record(&plain, out, &mut self.scratch))
            .flatten();
        let sealed = match fast {
            Some(sealed) => Ok(sealed),
            None => platform_csv_entry(&self.columns, &cells)
                .map_err(|(m, raw)| (m, Some(raw)))
                .and_then(|entry| match too_deep(&entry) {
                    Some(message) => Err((message, Some(entry.canonical_record()))),
                    None => {
                        entry.to_record().write_canonical(out);
                        Ok((entry.time, entry.id))
                    }
                }),
        };
        self.record = cells.into_byte_record();
        sealed
    }
}

/// Why a CSV row is refused when it has `len` fields where the header has `expected`.
fn csv_unequal(len: u64, expected: u64) -> String {
    format!("has {len} fields but the header has {expected}")
}

/// Why a CSV row whose cells are not all UTF-8 is refused.
const CSV_NOT_UTF8: &str = "is not valid UTF-8";

/// Why a CSV row is refused for its size, if it is.
fn csv_too_big(cells: &csv::StringRecord) -> Option<String> {
    (cells.as_byte_record().as_slice().len() > MAX_VALUE_BYTES).then(|| {
        format!(
            "the record is larger than {} MiB, the most auditlens accepts for one entry",
            MAX_VALUE_BYTES / (1024 * 1024)
        )
    })
}

/// A platform CSV row as the csv crate reads it (its cells in the order of
/// the header's `columns`, as many), as its entry, or why it is refused
/// with the row (for the rejects file): how [`Source::read_next`] and
/// [`LineSealer`] both read one.
fn platform_csv_entry(
    columns: &[String],
    cells: &csv::StringRecord,
) -> Result<Entry, (String, String)> {
    let entry = match csv_too_big(cells) {
        Some(m) => Err(m),
        None => platform_row_entry(&CsvRow { columns, cells }),
    };
    entry.map_err(|m| (m, csv_line(&cells.iter().collect::<Vec<_>>())))
}

/// Cuts the next record of a CSV file from `input` (after its header) into
/// `out` as the csv crate reads one (RFC 4180 with its leniencies): blank
/// lines before it are skipped; it ends at `\n`, `\r` or `\r\n` outside a
/// quoted field, or at the end of the file; a quote opens a quoted field
/// only at the start of a field, and `""` inside one is a quote. `line`
/// counts the `\n` read. The line the record starts on, `None` at the end.
/// (The csv crate gives a record of a CRLF file, or one after blank lines,
/// the line where the previous record ended: an editor shows it lower.)
fn cut_csv_record(
    input: &mut Input,
    out: &mut Vec<u8>,
    line: &mut u64,
) -> std::io::Result<Option<u64>> {
    // Blank lines (and the `\n` of a record's `\r\n`).
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let n = buf
            .iter()
            .position(|&b| b != b'\n' && b != b'\r')
            .unwrap_or(buf.len());
        *line += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        let more = n < buf.len();
        input.consume(n);
        if more {
            break;
        }
    }
    let start = *line;
    #[derive(Clone, Copy, PartialEq)]
    enum At {
        /// At the start of a field, or after the closing quote of a quoted
        /// one (where a quote is an escaped quote: the same moves).
        FieldStart,
        InField,
        InQuotes,
    }
    let mut at = At::FieldStart;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(Some(start));
        }
        let mut i = 0;
        let mut end = false;
        while i < buf.len() && !end {
            match at {
                At::InQuotes => match memchr::memchr2(b'"', b'\n', &buf[i..]) {
                    None => i = buf.len(),
                    Some(j) => {
                        i += j + 1;
                        match buf[i - 1] {
                            b'"' => at = At::FieldStart,
                            _ => *line += 1,
                        }
                    }
                },
                At::InField => match memchr::memchr3(b',', b'\r', b'\n', &buf[i..]) {
                    None => i = buf.len(),
                    Some(j) => {
                        i += j + 1;
                        match buf[i - 1] {
                            b',' => at = At::FieldStart,
                            _ => end = true,
                        }
                    }
                },
                At::FieldStart => {
                    i += 1;
                    match buf[i - 1] {
                        b'"' => at = At::InQuotes,
                        b',' => {}
                        b'\r' | b'\n' => end = true,
                        _ => at = At::InField,
                    }
                }
            }
        }
        if end && buf[i - 1] == b'\n' {
            *line += 1;
        }
        out.extend_from_slice(&buf[..i]);
        input.consume(i);
        if end {
            return Ok(Some(start));
        }
    }
}

/// The header of an auditlens export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportHeader {
    pub archive_id: ArchiveId,
    pub checkpoint: Option<Checkpoint>,
    /// The checkpoint exactly as written, signature lines included.
    pub checkpoint_text: Option<String>,
    /// The export says every entry carries an inclusion proof (`"proofs":"rfc6962-inclusion"`).
    pub proofs: bool,
    /// The export says it holds every entry of its checkpoint (`"proofs":"rfc6962-root"`).
    pub whole: bool,
    pub exported_at: Option<String>,
    pub filter: Option<Json>,
}

/// Column order of the platform's `audit_logs` export.
pub const PLATFORM_COLUMNS: [&str; 15] = [
    "id",
    "createdAt",
    "updatedAt",
    "type",
    "apiKeyId",
    "userId",
    "orgId",
    "userOrgRole",
    "projectId",
    "userProjectRole",
    "resourceType",
    "resourceId",
    "action",
    "before",
    "after",
];

/// Columns a platform export must have (the others may be absent).
const PLATFORM_REQUIRED: [&str; 4] = ["id", "createdAt", "resourceType", "action"];

/// Extra fields a richer platform export may carry (the "log entry structure"
/// of the platform's documentation), in the platform's camelCase.
pub const PLATFORM_RICH_COLUMNS: [&str; 12] = [
    "userEmail",
    "authMethod",
    "apiKeyName",
    "apiKeyScope",
    "apiKeyScopeId",
    "apiKeyCreatedAt",
    "apiKeyCreatedBy",
    "orgName",
    "projectName",
    "resourceName",
    "ipAddress",
    "userAgent",
];

/// Columns of an auditlens CSV export, in order.
pub const EXPORT_CSV_COLUMNS: [&str; 32] = [
    "archive_id",
    "seq",
    "leaf_hash",
    "chain_hash",
    "id",
    "time",
    "updated_at",
    "actor_type",
    "user_id",
    "email",
    "org_role",
    "project_role",
    "auth_method",
    "api_key_id",
    "api_key_name",
    "api_key_scope",
    "api_key_scope_id",
    "api_key_created_at",
    "api_key_created_by",
    "org_id",
    "org_name",
    "project_id",
    "project_name",
    "resource_type",
    "resource_id",
    "resource_name",
    "action",
    "before",
    "after",
    "ip_address",
    "user_agent",
    "extra",
];

/// Key of the header object in auditlens JSON and NDJSON exports.
pub const EXPORT_HEADER_KEY: &str = "auditlens_export";
/// Key of the footer object (entry count) in auditlens exports.
pub const EXPORT_FOOTER_KEY: &str = "auditlens_export_end";
/// How an NDJSON export's end line starts, as auditlens writes it.
const FOOTER_LINE_START: &[u8] = b"{\"auditlens_export_end\"";

/// The kind of compressed file these first bytes begin, by its magic number.
fn compressed_kind(head: &[u8]) -> Option<&'static str> {
    const KINDS: [(&[u8], &str); 5] = [
        (b"\x1f\x8b", "gzip-compressed (.gz)"),
        (b"PK\x03\x04", "a zip archive (.zip)"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed (.zst)"),
        (b"BZh", "bzip2-compressed (.bz2)"),
        (b"\xfd7zXZ\x00", "xz-compressed (.xz)"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// Detects a file's format from its first bytes.
pub fn detect(path: &Path) -> Result<Format, SourceError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SourceError(format!("{}: {}", path.display(), io_msg(path, &e))))?;
    if meta.is_dir() {
        return Err(SourceError(format!(
            "{} is a directory; give a file",
            path.display()
        )));
    }
    // A pipe gives its bytes once (and opening one waits for a writer), but
    // every file is read more than once: to detect its format, to read it,
    // to hash it.
    if let Some(why) = crate::archive::not_a_regular_file(path) {
        return Err(SourceError(format!(
            "{why}: auditlens reads a file more than once, to detect its format, read and hash \
             it; save it to a file first"
        )));
    }
    if is_sqlite_file(path) {
        return Ok(Format::Archive);
    }
    let mut head = Vec::with_capacity(64 * 1024);
    File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| SourceError(format!("{}: {}", path.display(), io_msg(path, &e))))?;
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(SourceError(format!(
            "{} is empty: there are no entries to read",
            path.display()
        )));
    };
    let text = &text[start..];
    // A CSV header auditlens knows decides before the binary test below: CSV
    // has no escape for a NUL character, so an auditlens CSV export of an
    // entry holding one carries it raw, and must still read back.
    let first_line = &text[..text.iter().position(|&b| b == b'\n').unwrap_or(text.len())];
    if !matches!(text[0], b'[' | b'{')
        && !first_line.contains(&0)
        && let Some(f) = csv_header_format(first_line)
    {
        return Ok(f);
    }
    if head.starts_with(crate::export::PARQUET_MAGIC) {
        return Err(SourceError(format!(
            "{} is a Parquet file (an auditlens Parquet export is one): auditlens does not read \
             Parquet back; verify it in the warehouse with the SQL in docs/WAREHOUSE.md, or verify \
             the archive it was exported from",
            path.display()
        )));
    }
    // Compressed exports are common in transfer; say what to do with them.
    if let Some(kind) = compressed_kind(&head) {
        return Err(SourceError(format!(
            "{} is {kind}: auditlens reads exports as they come from the platform, not \
             compressed; decompress it first (keep the original: it is the evidence you received) \
             and give the file inside",
            path.display()
        )));
    }
    // Binary: NUL bytes, or mostly bytes that are not UTF-8 text. A few invalid
    // bytes in a text file are left to the reader, which names their line.
    let sniff = &text[..text.len().min(4096)];
    let invalid = String::from_utf8_lossy(sniff)
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER)
        .count();
    if sniff.contains(&0) || invalid * 20 > sniff.len().max(1) {
        return Err(SourceError(format!(
            "{} is not a text file auditlens can read (it holds binary data); expected an archive \
             (.sqlite) or a JSON, JSONL or CSV export",
            path.display()
        )));
    }
    match text[0] {
        b'[' => Ok(Format::PlatformJson),
        b'{' => {
            let compact: Vec<u8> = text
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .take(24)
                .copied()
                .collect();
            let is_export = compact.starts_with(format!("{{\"{EXPORT_HEADER_KEY}\"").as_bytes());
            let line_end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
            let first_line = &text[..line_end];
            let first = json::parse(first_line).ok();
            let complete = matches!(first, Some(Json::Object(_)));
            if is_export {
                // A first line that is a whole object is NDJSON's header line,
                // unless it holds the entries too: a JSON export on one line.
                let one_line_json = first.as_ref().is_some_and(|j| j.get("entries").is_some());
                Ok(if complete && !one_line_json {
                    Format::ExportNdjson
                } else {
                    Format::ExportJson
                })
            } else if first_line.trim_ascii() == b"{" {
                Err(SourceError(format!(
                    "{}: one JSON object spread over many lines is not an export auditlens reads \
                     (platform exports are a JSON array, or one entry per line)",
                    path.display()
                )))
            } else {
                // One object per line (a first line longer than the sniffed window, or one
                // that does not parse, is reported by the reader with its line number).
                Ok(Format::PlatformJsonl)
            }
        }
        _ => {
            if let Some(f) = csv_header_format(text) {
                return Ok(f);
            }
            let cols = csv_header(text);
            let missing: Vec<&str> = PLATFORM_REQUIRED
                .iter()
                .copied()
                .filter(|c| !cols.iter().any(|x| x == c))
                .collect();
            Err(SourceError(format!(
                "{}: not a format auditlens reads. Read as CSV, its header lacks the column(s) {}; \
                 expected the platform's columns ({}) or an auditlens export",
                path.display(),
                missing.join(", "),
                PLATFORM_COLUMNS.join(", ")
            )))
        }
    }
}

/// The trimmed cells of the first CSV record of `text` (empty if none).
fn csv_header(text: &[u8]) -> Vec<String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut header = csv::StringRecord::new();
    if rdr.read_record(&mut header).unwrap_or(false) {
        header.iter().map(|c| c.trim().to_string()).collect()
    } else {
        Vec::new()
    }
}

/// The CSV format whose header `text` starts with, if auditlens knows it.
fn csv_header_format(text: &[u8]) -> Option<Format> {
    let cols = csv_header(text);
    let has = |c: &str| cols.iter().any(|x| x == c);
    if has("leaf_hash") && has("seq") && has("archive_id") {
        Some(Format::ExportCsv)
    } else if PLATFORM_REQUIRED.iter().all(|c| has(c)) {
        Some(Format::PlatformCsv)
    } else {
        None
    }
}

fn io_msg(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => crate::archive::no_such_file(path),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// An open input file, yielding records one by one.
pub struct Source {
    pub path: PathBuf,
    pub format: Format,
    /// Present for auditlens JSON and NDJSON exports.
    pub header: Option<ExportHeader>,
    /// The entry count in an export's footer, once the reader has reached it.
    pub footer_count: Option<u64>,
    /// The completeness proof in an export's footer (docs/FORMAT.md §14).
    pub footer_complete: Option<Json>,
    reader: Reader,
    /// What maps each entry read to its record ([`RecordMapper`]).
    mapper: RecordMapper,
    record_no: u64,
    done: bool,
}

/// The input file, hashed as it is read: ingest records each file's
/// SHA-256 (see `coverage.rs`) without reading the file a second time.
struct HashedFile {
    file: File,
    hash: sha2::Sha256,
}

impl Read for HashedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        Ok(n)
    }
}

type Input = BufReader<HashedFile>;

/// What a CSV file's csv reader reads: its header a line at a time, so that
/// once the header is read the csv reader holds nothing past it and the rest
/// can be cut into records ([`Source::next_line`]); then whole buffers.
struct CsvInput {
    input: Input,
    header_read: bool,
}

impl Read for CsvInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.header_read {
            return self.input.read(buf);
        }
        let avail = self.input.fill_buf()?;
        let n = memchr::memchr2(b'\n', b'\r', avail)
            .map_or(avail.len(), |i| i + 1)
            .min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.input.consume(n);
        Ok(n)
    }
}

enum Reader {
    JsonArray {
        parser: Parser<Input>,
        /// What seals an entry ([`Source::next_sealed`]), and its text.
        sealer: Box<LineSealer>,
        buf: Vec<u8>,
    },
    ExportJson(Parser<Input>),
    Lines {
        reader: Input,
        line: u64,
        buf: Vec<u8>,
        /// What seals a platform JSONL line ([`Source::next_sealed`]).
        sealer: Box<LineSealer>,
    },
    Csv {
        reader: csv::Reader<CsvInput>,
        columns: Arc<[String]>,
        /// Once [`Source::next_line`] cuts a platform CSV file's records
        /// (the csv reader then reads no more): the csv reader's line count.
        cut_line: Option<u64>,
        /// What seals a platform CSV record ([`Source::next_sealed`]), and its text.
        sealer: Box<LineSealer>,
        buf: Vec<u8>,
    },
}

impl Source {
    /// Opens a file that is not an archive. Archives are read through `core::archive`.
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        let format = detect(path)?;
        Source::open_as(path, format)
    }

    pub fn open_as(path: &Path, format: Format) -> Result<Source, SourceError> {
        let file = File::open(path)
            .map_err(|e| SourceError(format!("{}: {}", path.display(), io_msg(path, &e))))?;
        let file = HashedFile {
            file,
            hash: sha2::Digest::new(),
        };
        let buffered = BufReader::with_capacity(256 * 1024, file);
        let fail = |msg: String| SourceError(format!("{}: {msg}", path.display()));
        let mut header = None;
        let reader = match format {
            Format::Archive => {
                return Err(fail("this is an archive; open it as an archive".into()));
            }
            Format::PlatformJson => {
                let mut p = Parser::new(buffered);
                p.skip_bom_and_ws().map_err(|e| fail(e.to_string()))?;
                p.expect(b'[').map_err(|e| fail(e.to_string()))?;
                Reader::JsonArray {
                    parser: p,
                    sealer: Box::new(LineSealer::for_format(path, format, None)),
                    buf: Vec::new(),
                }
            }
            Format::ExportJson => {
                let mut p = Parser::new(buffered);
                let h = (|| -> Result<ExportHeader, String> {
                    p.skip_bom_and_ws().map_err(|e| e.to_string())?;
                    p.expect(b'{').map_err(|e| e.to_string())?;
                    let k = p.parse_key().map_err(|e| e.to_string())?;
                    if k != EXPORT_HEADER_KEY {
                        return Err(format!(
                            "expected the {EXPORT_HEADER_KEY:?} header first, found {k:?}"
                        ));
                    }
                    let h = p.parse_value().map_err(|e| e.to_string())?;
                    let h = parse_export_header(&h)?;
                    p.expect(b',').map_err(|e| e.to_string())?;
                    let k = p.parse_key().map_err(|e| e.to_string())?;
                    if k != "entries" {
                        return Err(format!(
                            "expected \"entries\" after the header, found {k:?}"
                        ));
                    }
                    p.expect(b'[').map_err(|e| e.to_string())?;
                    Ok(h)
                })()
                .map_err(fail)?;
                header = Some(h);
                Reader::ExportJson(p)
            }
            Format::PlatformJsonl | Format::ExportNdjson => {
                let mut reader = buffered;
                let mut line = 0;
                if format == Format::ExportNdjson {
                    let mut buf = Vec::new();
                    read_line_capped(&mut reader, &mut buf).map_err(fail)?;
                    line = 1;
                    let j =
                        json::parse(strip_bom(&buf)).map_err(|e| fail(format!("line 1: {e}")))?;
                    let h = j
                        .get(EXPORT_HEADER_KEY)
                        .ok_or_else(|| fail("line 1 is not an export header".into()))?;
                    header = Some(parse_export_header(h).map_err(fail)?);
                }
                Reader::Lines {
                    reader,
                    line,
                    buf: Vec::new(),
                    sealer: Box::new(LineSealer::new(path)),
                }
            }
            Format::PlatformCsv | Format::ExportCsv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(CsvInput {
                        input: buffered,
                        header_read: false,
                    });
                let columns: Vec<String> = reader
                    .headers()
                    .map_err(|e| fail(format!("cannot read the CSV header: {e}")))?
                    .iter()
                    .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
                    .collect();
                let mut seen = std::collections::HashSet::new();
                if let Some(d) = columns.iter().find(|c| !seen.insert(c.as_str())) {
                    return Err(fail(format!("the CSV header names the column {d:?} twice")));
                }
                if format == Format::ExportCsv {
                    let missing: Vec<&str> = EXPORT_CSV_COLUMNS
                        .iter()
                        .copied()
                        .filter(|c| !columns.iter().any(|x| x == c))
                        .collect();
                    if !missing.is_empty() {
                        return Err(fail(format!(
                            "the export's CSV header lacks {}",
                            missing.join(", ")
                        )));
                    }
                    if let Some(u) = columns
                        .iter()
                        .find(|c| !EXPORT_CSV_COLUMNS.contains(&c.as_str()))
                    {
                        return Err(fail(format!(
                            "unknown column {u:?} in an auditlens CSV export"
                        )));
                    }
                }
                reader.get_mut().header_read = true;
                let columns: Arc<[String]> = columns.into();
                Reader::Csv {
                    reader,
                    sealer: Box::new(LineSealer::for_format(path, format, Some(&columns))),
                    columns,
                    cut_line: None,
                    buf: Vec::new(),
                }
            }
        };
        let mapper = RecordMapper {
            path: path.to_path_buf(),
            format,
            archive_id: header.as_ref().map(|h| h.archive_id),
        };
        Ok(Source {
            path: path.to_path_buf(),
            format,
            mapper,
            header,
            footer_count: None,
            footer_complete: None,
            reader,
            record_no: 0,
            done: false,
        })
    }

    fn record_error(
        &self,
        line: u64,
        message: String,
        raw: Option<String>,
        fatal: bool,
    ) -> RecordError {
        self.mapper.error(self.record_no, line, message, raw, fatal)
    }

    /// The next record, an error for a bad one, or `None` at the end.
    /// After a fatal error the reader returns `None`.
    pub fn next_record(&mut self) -> Option<Result<SourceRecord, RecordError>> {
        if self.done {
            return None;
        }
        let r = self.read_next();
        self.checked(r)
    }

    /// The next entry with its canonical record written to `out` (cleared
    /// first), an error for a bad one, or `None` at the end: what ingest
    /// reads. A platform JSONL line, JSON array entry or CSV record is cut
    /// and sealed as the sealer threads seal it ([`Source::next_line`],
    /// [`LineSealer`]); any other entry is read by [`Source::next_record`]'s
    /// path, with the same checks.
    pub fn next_sealed(&mut self, out: &mut String) -> Option<Result<SealedEntry, RecordError>> {
        if self.done {
            return None;
        }
        out.clear();
        let lines = match &mut self.reader {
            Reader::Lines { buf, sealer, .. } if self.format == Format::PlatformJsonl => {
                Some((buf, sealer))
            }
            Reader::JsonArray { buf, sealer, .. } => Some((buf, sealer)),
            Reader::Csv { buf, sealer, .. } if self.format == Format::PlatformCsv => {
                Some((buf, sealer))
            }
            _ => None,
        };
        if let Some((buf, sealer)) = lines {
            // One line (or array entry) at a time through what several
            // threads use for many.
            let (mut text, mut sealer) = (std::mem::take(buf), std::mem::take(sealer));
            text.clear();
            let r = match self.next_line(&mut text)? {
                Ok(at) => sealer.seal(&text, at, out),
                Err(e) => Err(e),
            };
            if let Reader::Lines { buf, sealer: s, .. }
            | Reader::JsonArray { buf, sealer: s, .. }
            | Reader::Csv { buf, sealer: s, .. } = &mut self.reader
            {
                (*buf, *s) = (text, sealer);
            }
            if r.as_ref().is_err_and(|e| e.fatal) {
                self.done = true;
            }
            return Some(r);
        }
        let next = self.read_next();
        let rec = match self.checked(next)? {
            Ok(rec) => rec,
            Err(e) => return Some(Err(e)),
        };
        out.clear();
        rec.entry.to_record().write_canonical(out);
        Some(Ok(SealedEntry {
            id: rec.entry.id,
            time: rec.entry.time,
            record: rec.record,
            line: rec.line,
        }))
    }

    /// The SHA-256 (hex) of the whole file: of the bytes read so far and
    /// of the rest, read now (nothing is left once the records are read).
    pub fn sha256(&mut self) -> std::io::Result<String> {
        let file = match &mut self.reader {
            Reader::JsonArray { parser: p, .. } | Reader::ExportJson(p) => p.source_mut().get_mut(),
            Reader::Lines { reader, .. } => reader.get_mut(),
            Reader::Csv { reader, .. } => reader.get_mut().input.get_mut(),
        };
        std::io::copy(file, &mut std::io::sink())?;
        Ok(crate::chain::to_hex(&sha2::Digest::finalize(
            file.hash.clone(),
        )))
    }

    /// Checks what [`Source::read_next`] read as an entry: its depth; after
    /// a fatal error, or at the end, the reader is done.
    fn checked(
        &mut self,
        mut r: Option<Result<SourceRecord, RecordError>>,
    ) -> Option<Result<SourceRecord, RecordError>> {
        r = r.map(|r| self.mapper.depth_checked(r));
        if let Some(Err(e)) = &r
            && e.fatal
        {
            self.done = true;
        }
        if r.is_none() {
            self.done = true;
        }
        r
    }

    /// The next non-blank line of a platform JSONL file (its byte order
    /// mark removed), the next entry of a platform JSON array, or the next
    /// record of a platform CSV file, appended to `out`, with its record and
    /// line numbers, for a [`Source::line_sealer`] to seal, on this thread or
    /// another; an error for a line that cannot be read (fatal unless it is
    /// only too long) or an array that does not hold together, `None` at the
    /// end and for any other format.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> Option<Result<LineAt, RecordError>> {
        if self.done {
            return None;
        }
        if matches!(
            self.reader,
            Reader::JsonArray { .. } | Reader::ExportJson(_)
        ) {
            return self.next_array_entry(out);
        }
        if self.format == Format::PlatformCsv {
            return self.next_csv_record(out);
        }
        if !matches!(self.format, Format::PlatformJsonl | Format::ExportNdjson) {
            return None;
        }
        let Reader::Lines { reader, line, .. } = &mut self.reader else {
            return None;
        };
        let start = out.len();
        loop {
            out.truncate(start);
            match read_line_capped(reader, out) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(m) => {
                    out.truncate(start);
                    *line += 1;
                    let l = *line;
                    self.record_no += 1;
                    let fatal = !m.contains("longer than");
                    self.done = fatal;
                    return Some(Err(self.record_error(l, m, None, fatal)));
                }
            }
            *line += 1;
            if *line == 1 && out[start..].starts_with(BOM) {
                out.drain(start..start + BOM.len());
            }
            if out[start..].iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            self.record_no += 1;
            return Some(Ok(LineAt {
                record: self.record_no,
                line: *line,
            }));
        }
    }

    /// [`Source::next_line`] for a platform JSON array: the entry's bytes as
    /// they stand (`json::Parser::raw_value`), framed as [`Source::read_next`]
    /// frames the entries it parses.
    fn next_array_entry(&mut self, out: &mut Vec<u8>) -> Option<Result<LineAt, RecordError>> {
        let (Reader::JsonArray { parser: p, .. } | Reader::ExportJson(p)) = &mut self.reader else {
            return None;
        };
        let first = self.record_no == 0;
        let start = out.len();
        let step = (|| -> Result<Option<u64>, json::JsonError> {
            let line = p.next_element(first)?;
            if line.is_some() {
                p.raw_value(out)?;
            }
            Ok(line)
        })();
        let (line, message) = match step {
            Ok(Some(line)) => {
                self.record_no += 1;
                return Some(Ok(LineAt {
                    record: self.record_no,
                    line,
                }));
            }
            Ok(None) => {
                self.done = true;
                match read_array_end(p, self.format) {
                    Ok(end) => {
                        let (count, complete) = end.unzip();
                        self.footer_count = count;
                        self.footer_complete = complete.flatten();
                        return None;
                    }
                    Err(m) => (p.line(), m),
                }
            }
            Err(e) => {
                out.truncate(start);
                self.record_no += 1;
                (e.line, e.message)
            }
        };
        self.done = true;
        Some(Err(self.record_error(line, message, None, true)))
    }

    /// [`Source::next_line`] for a platform CSV file: the next record's
    /// bytes, cut as the csv crate reads a record (`cut_csv_record`), with
    /// the line it starts on. (A file whose records
    /// [`Source::next_record`] has begun to read is not cut.)
    fn next_csv_record(&mut self, out: &mut Vec<u8>) -> Option<Result<LineAt, RecordError>> {
        let Reader::Csv {
            reader, cut_line, ..
        } = &mut self.reader
        else {
            return None;
        };
        if cut_line.is_none() && self.record_no > 0 {
            return None;
        }
        // The csv reader has read the header and nothing past it (`CsvInput`).
        let line = cut_line.get_or_insert_with(|| reader.position().line());
        let start = out.len();
        match cut_csv_record(&mut reader.get_mut().input, out, line) {
            Ok(None) => {
                self.done = true;
                None
            }
            Ok(Some(at)) => {
                // A fresh csv reader would take a byte order mark at its
                // start for the file's: a blank line before it keeps it.
                if out[start..].starts_with(BOM) {
                    out.insert(start, b'\n');
                }
                self.record_no += 1;
                Some(Ok(LineAt {
                    record: self.record_no,
                    line: at,
                }))
            }
            Err(e) => {
                out.truncate(start);
                self.record_no += 1;
                self.done = true;
                let message = csv::Error::from(e).to_string();
                Some(Err(self.record_error(0, message, None, true)))
            }
        }
    }

    /// What maps what [`Source::next_line`] gives of a JSON array, JSONL
    /// file or JSON or NDJSON export to records, for another thread.
    pub fn record_mapper(&self) -> RecordMapper {
        self.mapper.clone()
    }

    /// What an NDJSON export that ends without its end line says at its
    /// end, once every line is read.
    pub fn cut_short(&self) -> RecordError {
        let line = match &self.reader {
            Reader::Lines { line, .. } => *line,
            _ => 0,
        };
        let message = "the export ends without its end line: it was cut short";
        self.record_error(line, message.into(), None, true)
    }

    /// A sealer for what [`Source::next_line`] gives, for another thread.
    pub fn line_sealer(&self) -> LineSealer {
        let columns = match &self.reader {
            Reader::Csv { columns, .. } => Some(columns),
            _ => None,
        };
        LineSealer::for_format(&self.path, self.format, columns)
    }

    /// The next record.
    fn read_next(&mut self) -> Option<Result<SourceRecord, RecordError>> {
        let format = self.format;
        match &mut self.reader {
            Reader::JsonArray { parser: p, .. } | Reader::ExportJson(p) => {
                let first = self.record_no == 0;
                let step = (|| -> Result<Option<(Json, u64)>, json::JsonError> {
                    match p.next_element(first)? {
                        Some(line) => Ok(Some((p.parse_value()?, line))),
                        None => Ok(None),
                    }
                })();
                let value = match step {
                    Ok(v) => v,
                    Err(e) => {
                        self.record_no += 1;
                        let line = e.line;
                        return Some(Err(self.record_error(line, e.message, None, true)));
                    }
                };
                let Some((value, line)) = value else {
                    let end = read_array_end(p, format);
                    let end_line = p.line();
                    return match end {
                        Ok(end) => {
                            let (count, complete) = end.unzip();
                            self.footer_count = count;
                            self.footer_complete = complete.flatten();
                            None
                        }
                        Err(m) => Some(Err(self.record_error(end_line, m, None, true))),
                    };
                };
                self.record_no += 1;
                Some(self.mapper.map_value(&value, self.record_no, line))
            }
            Reader::Lines {
                reader, line, buf, ..
            } => loop {
                if self.footer_count.is_some() {
                    // Anything after the footer line other than blank lines is an error.
                    buf.clear();
                    return match read_line_capped(reader, buf) {
                        Ok(0) => None,
                        Ok(_) if buf.iter().all(|b| b.is_ascii_whitespace()) => continue,
                        Ok(_) => {
                            *line += 1;
                            let l = *line;
                            Some(Err(self.record_error(
                                l,
                                "data after the export's end line".into(),
                                None,
                                true,
                            )))
                        }
                        Err(m) => {
                            let l = *line;
                            Some(Err(self.record_error(l, m, None, true)))
                        }
                    };
                }
                buf.clear();
                let n = match read_line_capped(reader, buf) {
                    Ok(n) => n,
                    Err(m) => {
                        *line += 1;
                        let l = *line;
                        self.record_no += 1;
                        let fatal = !m.contains("longer than");
                        return Some(Err(self.record_error(l, m, None, fatal)));
                    }
                };
                if n == 0 {
                    return (format == Format::ExportNdjson).then(|| Err(self.cut_short()));
                }
                *line += 1;
                let l = *line;
                let text = if l == 1 { strip_bom(buf) } else { &buf[..] };
                if text.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let at = LineAt {
                    record: self.record_no + 1,
                    line: l,
                };
                match self.mapper.map_line(text, at) {
                    Mapped::End { count, complete } => {
                        self.footer_count = Some(count);
                        self.footer_complete = complete;
                        continue;
                    }
                    // (A malformed end line is no record, but fatal: the
                    // count is not read again.)
                    Mapped::Record(r) => {
                        self.record_no += 1;
                        return Some(r);
                    }
                }
            },
            Reader::Csv {
                reader, columns, ..
            } => {
                let mut rec = csv::StringRecord::new();
                match reader.read_record(&mut rec) {
                    Ok(false) => None,
                    Err(e) => {
                        self.record_no += 1;
                        let line = e.position().map(|p| p.line()).unwrap_or(0);
                        let fatal = !matches!(
                            e.kind(),
                            csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                        );
                        let msg = match e.kind() {
                            csv::ErrorKind::UnequalLengths {
                                expected_len, len, ..
                            } => csv_unequal(*len, *expected_len),
                            csv::ErrorKind::Utf8 { .. } => CSV_NOT_UTF8.to_string(),
                            _ => e.to_string(),
                        };
                        Some(Err(self.record_error(line, msg, None, fatal)))
                    }
                    Ok(true) if format == Format::PlatformCsv => {
                        self.record_no += 1;
                        let line = rec.position().map(|p| p.line()).unwrap_or(0);
                        let entry = platform_csv_entry(columns, &rec);
                        Some(
                            entry
                                .map(|entry| SourceRecord {
                                    entry,
                                    chain: None,
                                    archive_id: None,
                                    proof: None,
                                    unguarded: Vec::new(),
                                    record: self.record_no,
                                    line,
                                })
                                .map_err(|(m, raw)| self.record_error(line, m, Some(raw), false)),
                        )
                    }
                    Ok(true) => {
                        self.record_no += 1;
                        let line = rec.position().map(|p| p.line()).unwrap_or(0);
                        let raw = rec.iter().collect::<Vec<_>>();
                        let cells: Vec<(String, String)> = columns
                            .iter()
                            .cloned()
                            .zip(rec.iter().map(str::to_string))
                            .collect();
                        let result = if let Some(m) = csv_too_big(&rec) {
                            Err((m, None))
                        } else {
                            export_csv_entry(&cells)
                                .map(|(entry, chain, archive_id)| SourceRecord {
                                    entry,
                                    chain: Some(chain),
                                    archive_id: Some(archive_id),
                                    proof: None,
                                    unguarded: unguarded_columns(&cells),
                                    record: 0,
                                    line,
                                })
                                .map_err(|m| (m, csv_chain_fields(&cells).ok().map(Box::new)))
                        };
                        Some(
                            result
                                .map(|mut r| {
                                    r.record = self.record_no;
                                    r
                                })
                                .map_err(|(m, chain)| {
                                    let raw = csv_line(&raw);
                                    let mut e = self.record_error(line, m, Some(raw), false);
                                    e.chain = chain;
                                    e
                                }),
                        )
                    }
                }
            }
        }
    }
}

/// What an entry of a JSON or NDJSON file maps to: its record (or why it
/// has none), or an export's end line.
// Nearly every one is a record: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Mapped {
    Record(Result<SourceRecord, RecordError>),
    /// An NDJSON export's end line: the count it states, and its
    /// completeness proof.
    End {
        count: u64,
        complete: Option<Json>,
    },
}

/// Maps the entries of a JSON array or the lines of a JSONL or NDJSON file to
/// records, as [`Source::next_record`] reads them, with the same checks and
/// words, on whatever thread: it holds nothing but what names the file.
#[derive(Clone, Debug)]
pub struct RecordMapper {
    path: PathBuf,
    format: Format,
    /// The archive an export's header names.
    archive_id: Option<ArchiveId>,
}

impl RecordMapper {
    fn error(
        &self,
        record: u64,
        line: u64,
        message: String,
        raw: Option<String>,
        fatal: bool,
    ) -> RecordError {
        RecordError {
            file: self.path.clone(),
            record,
            line,
            message,
            raw,
            fatal,
            chain: None,
        }
    }

    /// A line of a JSONL file or NDJSON export (its byte order mark
    /// removed; not blank), found `at`: its record, or an export's end line.
    /// An end line whose count cannot be read is a fatal error of the
    /// record before it.
    pub fn map_line(&self, text: &[u8], at: LineAt) -> Mapped {
        let LineAt { record, line } = at;
        let raw = || String::from_utf8_lossy(text).trim_end().to_string();
        // The end line may be larger than any entry (`MAX_FOOTER_BYTES`).
        let budget = if text.starts_with(FOOTER_LINE_START) {
            json::MAX_FOOTER_BYTES
        } else {
            MAX_VALUE_BYTES
        };
        let value = match json::parse_within(text, budget) {
            Ok(v) => v,
            Err(e) => {
                return Mapped::Record(Err(self.error(
                    record,
                    line,
                    e.to_string(),
                    Some(raw()),
                    false,
                )));
            }
        };
        if self.format == Format::ExportNdjson
            && let Some(end) = value.get(EXPORT_FOOTER_KEY)
        {
            return match end.get("count").and_then(json_u64) {
                Some(count) => Mapped::End {
                    count,
                    complete: end.get("complete").cloned(),
                },
                None => {
                    let raw = Some(end.to_canonical());
                    let message = "malformed end line".into();
                    Mapped::Record(Err(self.error(record - 1, line, message, raw, true)))
                }
            };
        }
        // The line names the raw record on error.
        Mapped::Record(self.map_value(&value, record, line).map_err(|mut e| {
            e.raw = Some(raw());
            e
        }))
    }

    /// An entry of a JSON array as it stands in the file
    /// (`json::Parser::raw_value`), starting on line `at.line`: its record;
    /// an entry that is not JSON is said as the whole file's parser says it,
    /// where it is in the file, and ends the file.
    pub fn map_entry(&self, text: &[u8], at: LineAt) -> Result<SourceRecord, RecordError> {
        let LineAt { record, line } = at;
        let value = json::parse(text)
            .map_err(|e| self.error(record, line + e.line - 1, e.message, None, true))?;
        self.map_value(&value, record, line)
    }

    /// The record of an entry parsed (record number `record`, found on `line`).
    pub fn map_value(
        &self,
        value: &Json,
        record: u64,
        line: u64,
    ) -> Result<SourceRecord, RecordError> {
        let raw = || Some(value.to_canonical());
        let Json::Object(m) = value else {
            return Err(self.error(
                record,
                line,
                format!("expected an object per entry, found {}", value.kind()),
                raw(),
                false,
            ));
        };
        let result = match self.format {
            Format::PlatformJson | Format::PlatformJsonl => {
                platform_entry(m).map(|entry| SourceRecord {
                    entry,
                    chain: None,
                    archive_id: None,
                    proof: None,
                    unguarded: Vec::new(),
                    record,
                    line,
                })
            }
            _ => export_json_entry(m).map(|(entry, chain, proof)| SourceRecord {
                entry,
                chain: Some(chain),
                archive_id: self.archive_id,
                proof,
                unguarded: Vec::new(),
                record,
                line,
            }),
        };
        result.map_err(|msg| {
            let mut e = self.error(record, line, msg, raw(), false);
            if !matches!(self.format, Format::PlatformJson | Format::PlatformJsonl) {
                e.chain = json_chain_fields(m).ok().map(Box::new);
            }
            e
        })
    }

    /// An entry read is refused for its depth, if it is (what
    /// [`Source::next_record`] checks of every entry of every format).
    pub fn depth_checked(
        &self,
        r: Result<SourceRecord, RecordError>,
    ) -> Result<SourceRecord, RecordError> {
        let rec = r?;
        match too_deep(&rec.entry) {
            None => Ok(rec),
            Some(message) => {
                let raw = Some(rec.entry.canonical_record());
                Err(self.error(rec.record, rec.line, message, raw, false))
            }
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(BOM).unwrap_or(b)
}

fn csv_line(fields: &[&str]) -> String {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let _ = w.write_record(fields);
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
        .trim_end()
        .to_string()
}

/// Reads one line into `buf` (without growing past the per-entry limit).
/// Returns the number of bytes read, 0 at end of file.
fn read_line_capped<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> Result<usize, String> {
    let start = buf.len();
    let cap = MAX_VALUE_BYTES as u64 + 1;
    let mut n = reader
        .by_ref()
        .take(cap)
        .read_until(b'\n', buf)
        .map_err(|e| format!("read error: {e}"))?;
    // An export's end line may be larger than any entry.
    if n as u64 == cap && buf.last() != Some(&b'\n') && buf[start..].starts_with(FOOTER_LINE_START)
    {
        n += reader
            .by_ref()
            .take((json::MAX_FOOTER_BYTES - MAX_VALUE_BYTES) as u64)
            .read_until(b'\n', buf)
            .map_err(|e| format!("read error: {e}"))?;
        if buf.last() == Some(&b'\n') || n < json::MAX_FOOTER_BYTES {
            return Ok(n);
        }
        return Err(format!(
            "the export's end line is longer than {} MiB, the most auditlens accepts",
            json::MAX_FOOTER_BYTES / (1024 * 1024)
        ));
    }
    if n as u64 == cap && buf.last() != Some(&b'\n') {
        // Skip the rest of the over-long line so the next record can be read.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let k = reader
                .by_ref()
                .take(1 << 20)
                .read_until(b'\n', &mut rest)
                .map_err(|e| format!("read error: {e}"))?;
            if k == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        return Err(format!(
            "the line is longer than {} MiB, the most auditlens accepts for one entry",
            MAX_VALUE_BYTES / (1024 * 1024)
        ));
    }
    Ok(n)
}

/// The end of a JSON array, after its last entry: an export's footer
/// (its count and completeness proof), nothing for a platform file.
fn read_array_end(
    p: &mut Parser<Input>,
    format: Format,
) -> Result<Option<(u64, Option<Json>)>, String> {
    if format == Format::ExportJson {
        return read_export_json_end(p);
    }
    match p.skip_ws().and_then(|_| p.peek()) {
        Ok(None) => Ok(None),
        Ok(Some(_)) => Err("unexpected data after the JSON array".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The footer's count and completeness proof.
fn read_export_json_end(p: &mut Parser<Input>) -> Result<Option<(u64, Option<Json>)>, String> {
    let e = |e: json::JsonError| e.to_string();
    if !p.eat(b',').map_err(e)? {
        return Err("the export ends without its end record: it was cut short".into());
    }
    let k = p.parse_key().map_err(e)?;
    if k != EXPORT_FOOTER_KEY {
        return Err(format!(
            "expected {EXPORT_FOOTER_KEY:?} after the entries, found {k:?}"
        ));
    }
    p.set_budget(json::MAX_FOOTER_BYTES);
    let v = p.parse_value().map_err(e)?;
    let count = v
        .get("count")
        .and_then(json_u64)
        .ok_or("malformed end record")?;
    p.expect(b'}').map_err(e)?;
    p.skip_ws().map_err(e)?;
    if p.peek().map_err(e)?.is_some() {
        return Err("unexpected data after the export".into());
    }
    Ok(Some((count, v.get("complete").cloned())))
}

fn json_u64(j: &Json) -> Option<u64> {
    match j {
        Json::Number(n) => n.parse().ok(),
        _ => None,
    }
}

/// The keys an export header may hold in format version 1.
const EXPORT_HEADER_KEYS: [&str; 7] = [
    "version",
    "archive_id",
    "checkpoint",
    "proofs",
    "exported_at",
    "exported_by",
    "filter",
];

/// Reads an export header strictly: a key or a value this version does not
/// know is refused (exit 2) rather than guessed at.
fn parse_export_header(h: &Json) -> Result<ExportHeader, String> {
    let Json::Object(m) = h else {
        return Err(format!("the export header is {}, not an object", h.kind()));
    };
    if !matches!(m.get("version"), Some(Json::Number(n)) if n == "1") {
        return Err(format!(
            "unsupported auditlens export version {}: this version of auditlens reads version 1; \
             use a newer auditlens",
            m.get("version")
                .map_or_else(|| "(none)".to_string(), |v| v.to_canonical())
        ));
    }
    if let Some(k) = m.keys().find(|k| !EXPORT_HEADER_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "the export header holds {k:?}, which this version of auditlens does not know \
             (it knows {}); use a newer auditlens",
            EXPORT_HEADER_KEYS.join(", ")
        ));
    }
    for k in ["exported_at", "exported_by"] {
        if !matches!(m.get(k), None | Some(Json::String(_))) {
            return Err(format!("the export header's {k:?} must be text"));
        }
    }
    if !matches!(m.get("filter"), None | Some(Json::Object(_))) {
        return Err("the export header's \"filter\" must be an object".into());
    }
    let proofs = proofs_kind(m.get("proofs")).map_err(|e| format!("the export header: {e}"))?;
    let archive_id = h
        .get("archive_id")
        .and_then(Json::as_str)
        .and_then(ArchiveId::parse)
        .ok_or("the export header has no valid archive_id")?;
    let (checkpoint, checkpoint_text) = match h.get("checkpoint") {
        None | Some(Json::Null) => (None, None),
        Some(Json::String(t)) => (
            Some(Checkpoint::parse(t).map_err(|e| format!("the export's checkpoint: {e}"))?),
            Some(t.clone()),
        ),
        Some(_) => return Err("the export's checkpoint must be text".into()),
    };
    Ok(ExportHeader {
        archive_id,
        checkpoint,
        checkpoint_text,
        proofs: proofs == ProofsKind::Inclusion,
        whole: proofs == ProofsKind::Whole,
        exported_at: h
            .get("exported_at")
            .and_then(Json::as_str)
            .map(str::to_string),
        filter: h.get("filter").cloned(),
    })
}

/// Maps one platform row (a JSON object) to an entry.
pub fn platform_entry(m: &BTreeMap<String, Json>) -> Result<Entry, String> {
    platform_row_entry(m)
}

/// A field of a platform row: text (a JSON string, or a CSV cell), or
/// another JSON value.
#[derive(Clone, Copy)]
enum Field<'a> {
    /// Never a string.
    Json(&'a Json),
    /// An empty CSV cell is no field (`null`); an empty JSON string is text.
    Text(&'a str),
}

/// A platform row whose fields [`platform_row_entry`] reads by name: a JSON
/// object, or a CSV row's cells under the header's column names.
trait PlatformRow {
    fn field(&self, k: &str) -> Option<Field<'_>>;
    /// Every field with its name (in any order).
    fn each(&self, f: &mut dyn FnMut(&str, Field<'_>));
}

impl PlatformRow for BTreeMap<String, Json> {
    fn field(&self, k: &str) -> Option<Field<'_>> {
        self.get(k).map(json_field)
    }

    fn each(&self, f: &mut dyn FnMut(&str, Field<'_>)) {
        for (k, v) in self {
            f(k, json_field(v));
        }
    }
}

fn json_field(v: &Json) -> Field<'_> {
    match v {
        Json::String(s) => Field::Text(s),
        v => Field::Json(v),
    }
}

/// A platform CSV row: its cells in the order of the header's columns (as
/// many; the reader checks), an empty cell being no value.
struct CsvRow<'a> {
    columns: &'a [String],
    cells: &'a csv::StringRecord,
}

impl PlatformRow for CsvRow<'_> {
    fn field(&self, k: &str) -> Option<Field<'_>> {
        let i = self.columns.iter().position(|c| c == k)?;
        self.cells.get(i).filter(|v| !v.is_empty()).map(Field::Text)
    }

    fn each(&self, f: &mut dyn FnMut(&str, Field<'_>)) {
        for (k, v) in self.columns.iter().zip(self.cells.iter()) {
            if !v.is_empty() {
                f(k, Field::Text(v));
            }
        }
    }
}

/// Maps one platform row (JSON object, or CSV cells as strings) to an entry.
fn platform_row_entry(m: &impl PlatformRow) -> Result<Entry, String> {
    let mut used: Vec<&str> = Vec::new();
    let mut opt = |k: &'static str| -> Result<Option<String>, String> {
        used.push(k);
        match m.field(k) {
            None | Some(Field::Json(Json::Null)) => Ok(None),
            Some(Field::Text(s)) => Ok(Some(s.to_string())),
            Some(Field::Json(Json::Number(n))) => Ok(Some(n.clone())),
            Some(Field::Json(other)) => {
                Err(format!("{k:?} must be a string, not {}", other.kind()))
            }
        }
    };
    let id = opt("id")?
        .filter(|s| !s.is_empty())
        .ok_or("the entry has no \"id\"")?;
    let created = opt("createdAt")?.ok_or("the entry has no \"createdAt\"")?;
    let time = Timestamp::parse(&created).map_err(|e| format!("createdAt: {e}"))?;
    let updated_at = match opt("updatedAt")? {
        None => None,
        Some(s) => Some(Timestamp::parse(&s).map_err(|e| format!("updatedAt: {e}"))?),
    };
    let actor_type = opt("type")?.map(|t| ActorType::parse(&t));
    let api_key_created_at = match opt("apiKeyCreatedAt")? {
        None => None,
        Some(s) => Some(Timestamp::parse(&s).map_err(|e| format!("apiKeyCreatedAt: {e}"))?),
    };
    let actor = Actor {
        actor_type,
        user_id: opt("userId")?,
        email: opt("userEmail")?,
        org_role: opt("userOrgRole")?,
        project_role: opt("userProjectRole")?,
        auth_method: opt("authMethod")?,
        api_key_id: opt("apiKeyId")?,
        api_key_name: opt("apiKeyName")?,
        api_key_scope: opt("apiKeyScope")?,
        api_key_scope_id: opt("apiKeyScopeId")?,
        api_key_created_at,
        api_key_created_by: opt("apiKeyCreatedBy")?,
    };
    let resource_type = opt("resourceType")?.ok_or("the entry has no \"resourceType\"")?;
    let resource_id = opt("resourceId")?.unwrap_or_default();
    let action = opt("action")?.ok_or("the entry has no \"action\"")?;
    let mut entry = Entry::new(&id, time, &resource_type, &resource_id, &action);
    entry.updated_at = updated_at;
    entry.actor = actor;
    entry.resource_name = opt("resourceName")?;
    entry.org_id = opt("orgId")?;
    entry.org_name = opt("orgName")?;
    entry.project_id = opt("projectId")?;
    entry.project_name = opt("projectName")?;
    entry.ip_address = opt("ipAddress")?;
    entry.user_agent = opt("userAgent")?;
    used.extend(["before", "after"]);
    entry.before = platform_state(m.field("before"), "before")?;
    entry.after = platform_state(m.field("after"), "after")?;
    m.each(&mut |k, v| {
        if used.contains(&k) {
            return;
        }
        let v = match v {
            Field::Json(Json::Null) => return,
            Field::Json(v) => v.clone(),
            Field::Text(s) => Json::String(s.to_string()),
        };
        entry.extra.insert(k.to_string(), v);
    });
    Ok(entry)
}

/// `before`/`after` arrive as stringified JSON; some exporters already decoded them.
fn platform_state(v: Option<Field<'_>>, name: &str) -> Result<Option<Json>, String> {
    match v {
        None | Some(Field::Json(Json::Null)) => Ok(None),
        Some(Field::Text(s)) => json::parse(s.as_bytes())
            .map(Some)
            .map_err(|e| format!("{name:?} is not valid JSON text ({})", e.message)),
        Some(Field::Json(other)) => Ok(Some(other.clone())),
    }
}

fn hash_field(m: &BTreeMap<String, Json>, k: &str) -> Result<Hash, String> {
    m.get(k)
        .and_then(Json::as_str)
        .and_then(Hash::from_hex)
        .ok_or_else(|| format!("{k:?} is missing or not 64 hex digits"))
}

/// An entry's proof fields, or `None` when it has none (exports made before proofs).
type ProofFields = Option<Result<EntryProof, String>>;

/// The chain fields of an export's JSON entry.
fn json_chain_fields(m: &BTreeMap<String, Json>) -> Result<ChainFields, String> {
    let seq = m
        .get("seq")
        .and_then(json_u64)
        .filter(|s| *s > 0)
        .ok_or("\"seq\" is missing or not a positive integer")?;
    Ok(ChainFields {
        seq,
        leaf_hash: hash_field(m, "leaf_hash")?,
        chain_hash: m
            .get("chain_hash")
            .map(|_| hash_field(m, "chain_hash"))
            .transpose()?,
    })
}

fn export_json_entry(
    m: &BTreeMap<String, Json>,
) -> Result<(Entry, ChainFields, ProofFields), String> {
    let chain = json_chain_fields(m)?;
    let mut record = m.clone();
    for k in ["seq", "leaf_hash", "chain_hash"] {
        record.remove(k);
    }
    let index = record.remove(PROOF_INDEX_KEY);
    let path = record.remove(PROOF_PATH_KEY);
    let proof = match (index, path) {
        (None, None) => None,
        (index, path) => Some(EntryProof::from_json(index.as_ref(), path.as_ref())),
    };
    let entry = Entry::from_record(&Json::Object(record))?;
    Ok((entry, chain, proof))
}

/// Characters that make a spreadsheet treat a cell as a formula (OWASP CSV
/// injection), plus the apostrophe used to defuse them, so that decoding is exact.
const CSV_DANGEROUS_START: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// Encodes an optional text cell: absent is empty; a present value that is
/// empty or starts with a formula character gets a leading apostrophe.
pub fn csv_encode(v: Option<&str>) -> std::borrow::Cow<'_, str> {
    match v {
        None => "".into(),
        Some(s) if needs_guard(s) => format!("'{s}").into(),
        Some(s) => s.into(),
    }
}

/// Does auditlens write this value with the `'` guard? (Also true of a value
/// starting with `'`, which a reader could not tell from a guarded one.)
fn needs_guard(s: &str) -> bool {
    s.is_empty() || s.starts_with(CSV_DANGEROUS_START)
}

/// The columns of an auditlens CSV row whose cell would have been written
/// with the guard but was not: it starts with a formula character. The
/// decoded value is the same either way (the guard is removed on reading),
/// so the hashes cannot show such an edit; this does.
fn unguarded_columns(cells: &[(String, String)]) -> Vec<&'static str> {
    EXPORT_CSV_COLUMNS
        .iter()
        .copied()
        .filter(|c| {
            cells
                .iter()
                .find(|(k, _)| k == c)
                .is_some_and(|(_, v)| !v.starts_with('\'') && needs_guard(v) && !v.is_empty())
        })
        .collect()
}

/// The inverse of [`csv_encode`].
pub fn csv_decode(cell: &str) -> Option<String> {
    if cell.is_empty() {
        None
    } else if let Some(rest) = cell.strip_prefix('\'') {
        Some(rest.to_string())
    } else {
        Some(cell.to_string())
    }
}

/// The cell of column `k` in an auditlens CSV row ("" when it has none).
fn csv_cell<'a>(cells: &'a [(String, String)], k: &str) -> &'a str {
    cells
        .iter()
        .find(|(c, _)| c == k)
        .map_or("", |(_, v)| v.as_str())
}

/// The chain fields of an export's CSV row.
fn csv_chain_fields(cells: &[(String, String)]) -> Result<ChainFields, String> {
    let get = |k: &str| csv_cell(cells, k);
    let seq: u64 = get("seq")
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or("\"seq\" is missing or not a positive integer")?;
    let hash = |k: &str| {
        Hash::from_hex(get(k)).ok_or_else(|| format!("{k:?} is missing or not 64 hex digits"))
    };
    Ok(ChainFields {
        seq,
        leaf_hash: hash("leaf_hash")?,
        chain_hash: (!get("chain_hash").is_empty())
            .then(|| hash("chain_hash"))
            .transpose()?,
    })
}

fn export_csv_entry(cells: &[(String, String)]) -> Result<(Entry, ChainFields, ArchiveId), String> {
    let get = |k: &str| csv_cell(cells, k);
    let text = |k: &str| csv_decode(get(k));
    let time = |k: &str| -> Result<Option<Timestamp>, String> {
        text(k)
            .map(|s| Timestamp::parse(&s).map_err(|e| format!("{k}: {e}")))
            .transpose()
    };
    let json_cell = |k: &str| -> Result<Option<Json>, String> {
        text(k)
            .map(|s| json::parse(s.as_bytes()).map_err(|e| format!("{k} is not valid JSON ({e})")))
            .transpose()
    };
    let archive_id =
        ArchiveId::parse(get("archive_id")).ok_or("\"archive_id\" is missing or malformed")?;
    let chain = csv_chain_fields(cells)?;
    let id = text("id").ok_or("the entry has no id")?;
    let t = time("time")?.ok_or("the entry has no time")?;
    let mut e = Entry::new(
        &id,
        t,
        &text("resource_type").ok_or("the entry has no resource_type")?,
        &text("resource_id").ok_or("the entry has no resource_id")?,
        &text("action").ok_or("the entry has no action")?,
    );
    e.updated_at = time("updated_at")?;
    e.actor = Actor {
        actor_type: text("actor_type").map(|t| ActorType::parse(&t)),
        user_id: text("user_id"),
        email: text("email"),
        org_role: text("org_role"),
        project_role: text("project_role"),
        auth_method: text("auth_method"),
        api_key_id: text("api_key_id"),
        api_key_name: text("api_key_name"),
        api_key_scope: text("api_key_scope"),
        api_key_scope_id: text("api_key_scope_id"),
        api_key_created_at: time("api_key_created_at")?,
        api_key_created_by: text("api_key_created_by"),
    };
    e.org_id = text("org_id");
    e.org_name = text("org_name");
    e.project_id = text("project_id");
    e.project_name = text("project_name");
    e.resource_name = text("resource_name");
    e.before = json_cell("before")?;
    e.after = json_cell("after")?;
    e.ip_address = text("ip_address");
    e.user_agent = text("user_agent");
    e.extra = match json_cell("extra")? {
        None => BTreeMap::new(),
        Some(Json::Object(m)) => m,
        Some(_) => return Err("\"extra\" must be a JSON object".into()),
    };
    Ok((e, chain, archive_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export's end line lists the entries of its completeness proof:
    /// an export of 214,089 entries of a 1M archive had a 19 MB one, which
    /// the 16 MiB cap of a line refused, so auditlens could not verify its
    /// own export. The end line has a cap of its own; an entry does not.
    #[test]
    fn an_end_line_may_be_larger_than_an_entry() {
        let big = "1,".repeat(MAX_VALUE_BYTES / 2 + 10);
        let footer =
            format!("{{\"auditlens_export_end\":{{\"count\":1,\"complete\":[{big}1]}}}}\n");
        let entry = format!("{{\"seq\":1,\"x\":[{big}1]}}\n");
        let mut buf = Vec::new();
        let text = format!("{footer}{entry}{footer}");
        let mut r = std::io::BufReader::new(text.as_bytes());
        assert_eq!(read_line_capped(&mut r, &mut buf), Ok(footer.len()));
        assert!(json::parse_within(&buf, json::MAX_FOOTER_BYTES).is_ok());
        assert!(json::parse(&buf).is_err());
        buf.clear();
        let e = read_line_capped(&mut r, &mut buf).unwrap_err();
        assert!(e.contains("longer than 16 MiB"), "{e}");
        // The line after an over-long entry is read whole.
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf), Ok(footer.len()));
    }

    #[test]
    fn csv_cells_round_trip_and_are_inert() {
        for v in [
            None,
            Some(""),
            Some("=1+1"),
            Some("'"),
            Some("'=x"),
            Some("-5"),
            Some("plain"),
            Some("@a"),
            Some("\tx"),
        ] {
            let enc = csv_encode(v);
            assert!(
                !enc.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{enc:?}"
            );
            assert_eq!(csv_decode(&enc).as_deref(), v);
        }
    }
}

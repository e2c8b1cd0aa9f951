//! Exporting filtered entries as JSON, NDJSON, CSV or Parquet (docs/FORMAT.md,
//! "Exports"; Parquet for warehouses: docs/WAREHOUSE.md).
//!
//! Every exported entry carries its seq, leaf hash and chain hash, and the
//! export names the archive and its checkpoint, so the file can be verified
//! on its own and ingested back without loss. The file (and the CSV's proof
//! sidecar) is written through [`crate::output`]: never over evidence or the
//! archive read, staged and renamed into place when complete, so a cancelled
//! or failed export leaves nothing behind.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

mod parquet;
pub use self::parquet::{
    META_ARCHIVE_ID, META_CHECKPOINT, PARQUET_MAGIC, ParquetRow, ParquetWriter,
};

use crate::archive::{self, Archive, ArchiveError, Column, Columns, Scan};
use crate::chain::Hash;
use crate::filter::Filter;
use crate::job::Job;
use crate::json::write_canonical_string;
use crate::note::SignerKey;
use crate::output::{Destination, Output, OutputError};
use crate::proof::{
    self, EntryProof, PROOFS_KIND, PROOFS_WHOLE, SIDECAR_FOOTER_KEY, SIDECAR_HEADER_KEY,
    SignedCheckpoint,
};
use crate::record_view::RecordView;
use crate::source::{EXPORT_CSV_COLUMNS, EXPORT_FOOTER_KEY, EXPORT_HEADER_KEY, csv_encode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Ndjson,
    Csv,
    Parquet,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }

    /// The extensions a file of this format may carry.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ExportFormat::Json => &["json"],
            ExportFormat::Ndjson => &["ndjson", "jsonl"],
            ExportFormat::Csv => &["csv"],
            ExportFormat::Parquet => &["parquet"],
        }
    }

    /// Refuses a name whose extension is not this format's (JSON written
    /// into a `.jsonl` name misleads every tool that goes by names). The
    /// name is refused rather than corrected: the file the user finds must
    /// be the one they named.
    pub fn check_name(self, path: &Path) -> Result<(), String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if ext
            .as_deref()
            .is_some_and(|e| self.extensions().contains(&e))
        {
            return Ok(());
        }
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Err(format!(
            "{name}: a {} export's name ends in .{}; rename it, or choose the format its name says",
            self.label(),
            self.extensions().join(" or .")
        ))
    }

    /// The format's name for people.
    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Json => "JSON",
            ExportFormat::Ndjson => "NDJSON",
            ExportFormat::Csv => "CSV",
            ExportFormat::Parquet => "Parquet",
        }
    }
}

#[derive(Debug)]
pub enum ExportError {
    Archive(ArchiveError),
    /// The destination was refused, or could not be written.
    Output(OutputError),
    Io(String),
    Cancelled,
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Archive(e) => write!(f, "{e}"),
            ExportError::Output(e) => write!(f, "{e}"),
            ExportError::Io(m) => f.write_str(m),
            ExportError::Cancelled => f.write_str("export cancelled; no file was written"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<ArchiveError> for ExportError {
    fn from(e: ArchiveError) -> Self {
        ExportError::Archive(e)
    }
}

impl From<OutputError> for ExportError {
    fn from(e: OutputError) -> Self {
        ExportError::Output(e)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportReport {
    pub entries: u64,
    pub path: PathBuf,
    /// What the export is proven complete for ("all entries with action =
    /// delete from … to …"), when it carries a completeness proof (FORMAT.md §14).
    pub complete: Option<String>,
}

/// The filter as it is written into an export's header.
pub fn filter_json(f: &Filter) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Some(t) = f.from {
        m.insert("from".into(), t.to_string().into());
    }
    if let Some(t) = f.to {
        m.insert("to".into(), t.to_string().into());
    }
    for (k, v) in [
        ("projects", &f.projects),
        ("actions", &f.actions),
        ("resource_types", &f.resource_types),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), v.clone().into());
        }
    }
    if let Some(a) = &f.actor {
        m.insert("actor".into(), a.clone().into());
    }
    if let Some(t) = &f.actor_type {
        m.insert("actor_type".into(), t.as_str().into());
    }
    if let Some(s) = &f.search {
        m.insert("search".into(), s.clone().into());
    }
    serde_json::Value::Object(m)
}

/// The filter an export's header states, read back: the inverse of
/// [`filter_json`], for the verifier, which checks every entry against it
/// (docs/FORMAT.md §9). `selected_rows` is no criterion and other keys are
/// not read; a value of the wrong type or a time that is not canonical is an
/// error (the export misstates its filter).
pub fn stated_filter(v: &serde_json::Value) -> Result<Filter, String> {
    use serde_json::Value;
    let Some(m) = v.as_object() else {
        return Err("the stated filter is not an object".into());
    };
    let text = |k: &str| -> Result<Option<String>, String> {
        match m.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("the stated filter's {k:?} is not text")),
        }
    };
    let time = |k: &str| -> Result<Option<crate::time::Timestamp>, String> {
        match text(k)? {
            None => Ok(None),
            Some(t) => crate::time::Timestamp::parse(&t)
                .ok()
                .filter(|ts| ts.to_string() == t)
                .map(Some)
                .ok_or_else(|| format!("the stated filter's {k:?} is not a canonical time")),
        }
    };
    let list = |k: &str| -> Result<Vec<String>, String> {
        match m.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("the stated filter's {k:?} is not a list of text")),
            Some(_) => Err(format!("the stated filter's {k:?} is not a list")),
        }
    };
    Ok(Filter {
        from: time("from")?,
        to: time("to")?,
        projects: list("projects")?,
        actions: list("actions")?,
        resource_types: list("resource_types")?,
        actor: text("actor")?,
        actor_type: text("actor_type")?.map(|t| crate::model::ActorType::parse(&t)),
        search: text("search")?,
    })
}

/// The filter written into a header; rows picked one by one (the viewer's
/// selection) count as a filter too, so the verifier expects gaps in seq.
fn header_filter(filter: &Filter, only: Option<&[u64]>) -> serde_json::Value {
    let mut f = filter_json(filter);
    if let (Some(only), Some(m)) = (only, f.as_object_mut()) {
        m.insert("selected_rows".into(), only.len().into());
    }
    f
}

/// Exports the entries of `archive` that match `filter` to `out`, which
/// must not exist.
pub fn export(
    archive: &Archive,
    filter: &Filter,
    format: ExportFormat,
    out: &Path,
    job: &Job,
) -> Result<ExportReport, ExportError> {
    export_with(
        archive,
        filter,
        None,
        format,
        &Destination::new(out),
        None,
        job,
    )
}

/// Exports the entries matching `filter` (limited to the seqs in `only`
/// when set: the viewer passes the rows it shows) to `out`, with the
/// export's checkpoint signed by `signer` when one is given.
///
/// A subset's entries each carry their inclusion proof against the archive's
/// checkpoint at the time of export (in the entry for JSON and NDJSON, in the
/// sidecar `OUT.proof.json` for CSV), so the subset proves itself without the
/// archive. An export of every entry needs no per-entry proofs: its verifier
/// rebuilds the whole tree and compares the root with the checkpoint.
pub fn export_with(
    archive: &Archive,
    filter: &Filter,
    only: Option<&[u64]>,
    format: ExportFormat,
    out: &Destination,
    signer: Option<&SignerKey>,
    job: &Job,
) -> Result<ExportReport, ExportError> {
    // Both files are checked before any work: the export and, for CSV, its sidecar.
    let mut output = Output::reading(&[archive.path()]);
    let main = output.add(out)?;
    let side = match format {
        ExportFormat::Csv => Some(output.add(&out.side(proof::sidecar_path(&out.path)))?),
        _ => None,
    };
    let file = output.create(main)?;
    let out = out.path.as_path();
    let io = |e: std::io::Error| ExportError::Io(format!("{}: {e}", out.display()));
    let mut w = BufWriter::with_capacity(1 << 20, file.try_clone().map_err(io)?);

    // Streams: memory stays bounded whatever the archive's size.
    archive.read_streaming()?;
    job.start_phase("preparing", 0);
    let (tree, mut checkpoint) = proof::archive_tree(archive, job)?;
    // The index trees: their roots go into the checkpoint, and a subset's
    // completeness proof is a range of one of them (docs/FORMAT.md §14).
    // Only the indexes the filter maps to are kept in order (on disk), for
    // the range proof; the others give their roots.
    let whole = filter.is_empty() && only.is_none();
    let stated = filter_json(filter);
    let keep: Vec<crate::index_tree::IndexKind> = match (whole, only) {
        (false, None) => crate::verify::complete::ranges_for(&stated)
            .map(|rs| rs.iter().map(|r| r.kind).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    // An export of every entry proves itself by its root and needs no range
    // proof: its checkpoint goes without index roots (a valid four-line
    // checkpoint, FORMAT.md §5), which spares it five sorts of the archive.
    let index_set = if whole {
        None
    } else {
        Some(crate::index_tree::index_archive_keeping(
            archive,
            checkpoint.size,
            job,
            &keep,
        )?)
    };
    checkpoint.indexes = index_set.as_ref().map(|s| s.roots());
    let checkpoint_text = SignedCheckpoint::text(&checkpoint, signer)
        .map_err(|e| ExportError::Io(format!("cannot sign the checkpoint: {e}")))?;
    let proofs_kind = if whole { PROOFS_WHOLE } else { PROOFS_KIND };
    let proof_of = |seq: u64| -> Result<EntryProof, ExportError> {
        let path = tree.try_inclusion_proof(seq - 1, checkpoint.size)?;
        let path = path.ok_or_else(|| {
            ExportError::Io(format!(
                "entry {seq} is not in the checkpoint of {} entries; run `auditlens verify`",
                checkpoint.size
            ))
        })?;
        Ok(EntryProof {
            leaf_index: seq - 1,
            path,
        })
    };
    // CSV has no room for proofs or the checkpoint: they go to a sidecar beside it.
    let mut sidecar = None;
    if let Some(side) = side {
        let mut sw = BufWriter::new(output.create(side)?);
        let h = serde_json::json!({
            "version": 1,
            "archive_id": archive.id().to_string(),
            "checkpoint": checkpoint_text,
            "proofs": proofs_kind,
            "export": out.file_name().map(|n| n.to_string_lossy().into_owned()),
            "filter": header_filter(filter, only),
        });
        write!(sw, "{{\"{SIDECAR_HEADER_KEY}\":{h},\n\"entries\":[").map_err(io)?;
        sidecar = Some(sw);
    }
    let header = serde_json::json!({
        "version": 1,
        "archive_id": archive.id().to_string(),
        "checkpoint": checkpoint_text,
        "proofs": proofs_kind,
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "exported_by": format!("auditlens {}", env!("CARGO_PKG_VERSION")),
        "filter": header_filter(filter, only),
    });
    match format {
        ExportFormat::Json => {
            write!(w, "{{\"{EXPORT_HEADER_KEY}\":{header},\n\"entries\":[").map_err(io)?
        }
        ExportFormat::Ndjson => writeln!(w, "{{\"{EXPORT_HEADER_KEY}\":{header}}}").map_err(io)?,
        ExportFormat::Csv | ExportFormat::Parquet => {}
    }
    // Parquet writes its own file (row groups, then the footer with the
    // archive id, the checkpoint and the header as key-value metadata).
    let mut parquet = None;
    if format == ExportFormat::Parquet {
        let meta = vec![
            (META_ARCHIVE_ID.to_string(), archive.id().to_string()),
            (META_CHECKPOINT.to_string(), checkpoint_text.clone()),
            (EXPORT_HEADER_KEY.to_string(), header.to_string()),
        ];
        let pw =
            ParquetWriter::new(file.try_clone().map_err(io)?, meta).map_err(ExportError::Io)?;
        parquet = Some(pw);
    }
    // The CSV writer takes the file writer over and gives it back at the end.
    let mut csv = None;
    if format == ExportFormat::Csv {
        let mut c = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Necessary)
            .buffer_capacity(1 << 16)
            .from_writer(w);
        c.write_record(EXPORT_CSV_COLUMNS)
            .map_err(|e| ExportError::Io(e.to_string()))?;
        csv = Some(c);
        w = BufWriter::new(file.try_clone().map_err(io)?);
    }

    // Rows appended while exporting are not in the checkpoint the proofs refer to.
    let cols = Columns::of(&[Column::Record, Column::LeafHash, Column::ChainHash]);
    let scan = Scan::seqs(cols, 1..=checkpoint.size as i64).prefilter(filter);
    let mut cursor = archive.open_scan(&scan)?;
    let mut rows = cursor.rows()?;
    let only_set: Option<std::collections::HashSet<u64>> =
        only.map(|s| s.iter().copied().collect());
    job.start_phase(
        "exporting",
        only.map(|s| s.len() as u64).unwrap_or(checkpoint.size),
    );
    let id_text = archive.id().to_string();
    let needs_parse = !filter.is_empty();
    let mut count = 0u64;
    let mut seen = 0u64;
    let mut line = String::new();
    // Each row is held until the next matching row is known: an entry keeps
    // its chain hash only where the export can check it (its predecessor or
    // successor is exported, it links to the genesis, or it is the
    // checkpoint's last entry); elsewhere the inclusion proof stands for it.
    let mut held: Option<(u64, Vec<u8>, Hash, Hash)> = None;
    let mut prev_written = 0u64;
    let mut exported: Vec<u64> = Vec::new();
    let mut rows_done = false;
    loop {
        let mut next: Option<(u64, Vec<u8>, Hash, Hash)> = None;
        while !rows_done {
            let Some(r) = rows.next()? else {
                rows_done = true;
                break;
            };
            seen += 1;
            if seen.is_multiple_of(4096) {
                job.check().map_err(|_| ExportError::Cancelled)?;
                job.set_done(if only.is_some() { count } else { seen });
            }
            let seq = r.seq();
            if let Some(s) = &only_set
                && !s.contains(&seq)
            {
                continue;
            }
            let record = match r.get(Column::Record).as_bytes() {
                Some(t) => t,
                None => {
                    return Err(ExportError::Io(format!(
                        "entry {seq} has no record; run `auditlens verify`"
                    )));
                }
            };
            let (leaf, chain) = (r.leaf_hash(), r.chain_hash());
            if needs_parse {
                let e = archive::parse_record(record).map_err(|m| {
                    ExportError::Io(format!("entry {seq}: {m}; run `auditlens verify`"))
                })?;
                if !filter.matches(&e) {
                    continue;
                }
            }
            next = Some((seq, record.to_vec(), leaf, chain));
            break;
        }
        if let Some((seq, record, leaf, chain)) = held.take() {
            let checkable = seq == 1
                || prev_written + 1 == seq
                || next.as_ref().is_some_and(|n| n.0 == seq + 1)
                || seq == checkpoint.size;
            let chain = checkable.then_some(chain);
            let record = &record[..];
            match format {
                ExportFormat::Json | ExportFormat::Ndjson => {
                    let text = std::str::from_utf8(record)
                        .ok()
                        .filter(|t| t.starts_with('{') && t.len() > 2)
                        .ok_or_else(|| {
                            ExportError::Io(format!(
                                "entry {seq} has a malformed record; run `auditlens verify`"
                            ))
                        })?;
                    line.clear();
                    if format == ExportFormat::Json {
                        line.push_str(if count == 0 { "\n" } else { ",\n" });
                    }
                    line.push_str("{\"seq\":");
                    line.push_str(&seq.to_string());
                    line.push_str(",\"leaf_hash\":\"");
                    line.push_str(&leaf.to_hex());
                    line.push_str("\",");
                    if let Some(chain) = chain {
                        line.push_str("\"chain_hash\":\"");
                        line.push_str(&chain.to_hex());
                        line.push_str("\",");
                    }
                    if !whole {
                        proof_of(seq)?.write_json(&mut line);
                        line.push(',');
                    }
                    line.push_str(&text[1..]);
                    if format == ExportFormat::Ndjson {
                        line.push('\n');
                    }
                    w.write_all(line.as_bytes()).map_err(io)?;
                }
                ExportFormat::Csv => {
                    // Cells come from the stored record itself (the entry, if one was
                    // built, only served the filter).
                    let c = csv.as_mut().expect("csv writer");
                    let v = RecordView::parse(record).map_err(|m| {
                        ExportError::Io(format!("entry {seq}: {m}; run `auditlens verify`"))
                    })?;
                    let written = write_csv_row(c, &id_text, seq, &leaf, chain.as_ref(), &v);
                    written.map_err(|e| ExportError::Io(e.to_string()))?;
                    if let Some(sw) = sidecar.as_mut().filter(|_| !whole) {
                        line.clear();
                        line.push_str(if count == 0 { "\n" } else { ",\n" });
                        line.push_str("{\"seq\":");
                        line.push_str(&seq.to_string());
                        line.push_str(",\"leaf_hash\":\"");
                        line.push_str(&leaf.to_hex());
                        line.push_str("\",");
                        proof_of(seq)?.write_json(&mut line);
                        line.push('}');
                        sw.write_all(line.as_bytes()).map_err(io)?;
                    }
                }
                ExportFormat::Parquet => {
                    let pw = parquet.as_mut().expect("parquet writer");
                    let text = std::str::from_utf8(record).map_err(|_| {
                        ExportError::Io(format!(
                            "entry {seq} has a malformed record; run `auditlens verify`"
                        ))
                    })?;
                    let v = RecordView::parse(record).map_err(|m| {
                        ExportError::Io(format!("entry {seq}: {m}; run `auditlens verify`"))
                    })?;
                    let proof = if whole {
                        None
                    } else {
                        line.clear();
                        line.push('{');
                        proof_of(seq)?.write_json(&mut line);
                        line.push('}');
                        Some(line.as_str())
                    };
                    pw.push(&ParquetRow {
                        archive_id: &id_text,
                        seq,
                        leaf: &leaf,
                        chain: chain.as_ref(),
                        record: text,
                        view: &v,
                        proof,
                    })
                    .map_err(ExportError::Io)?;
                }
            }
            prev_written = seq;
            if !whole && only.is_none() {
                // Only a completeness claim needs them (8 bytes an entry).
                exported.push(seq);
            }
            count += 1;
        }
        match next {
            Some(n) => held = Some(n),
            None => break,
        }
    }
    // A subset whose filter maps to an index range proves it holds every
    // entry of that range (docs/FORMAT.md §14); the proof follows the entries.
    let claim = index_set
        .as_ref()
        .filter(|_| only.is_none())
        .and_then(|set| {
            Some((
                set,
                crate::verify::complete::make_claim(set, &stated, &exported)?,
            ))
        });
    // The kept indexes are read back from a temporary file: a failed read
    // leaves no claim, which must not pass for "no range fits".
    if let Some(why) = index_set.as_ref().and_then(|s| s.failure()) {
        return Err(ExportError::Io(why));
    }
    let proven_for = claim
        .as_ref()
        .and_then(|(_, c)| crate::verify::complete::claim_statement(&stated, c.kind));
    // `,"complete":{…}` after the count, streamed from the index set.
    let write_complete = |out: &mut dyn Write| -> std::io::Result<()> {
        if let Some((set, c)) = &claim {
            out.write_all(b",\"complete\":")?;
            c.write_json(set, &mut &mut *out)?;
        }
        Ok(())
    };
    match format {
        ExportFormat::Json => {
            write!(w, "\n],\n\"{EXPORT_FOOTER_KEY}\":{{\"count\":{count}").map_err(io)?;
            write_complete(&mut w).map_err(io)?;
            w.write_all(b"}}\n").map_err(io)?;
        }
        ExportFormat::Ndjson => {
            write!(w, "{{\"{EXPORT_FOOTER_KEY}\":{{\"count\":{count}").map_err(io)?;
            write_complete(&mut w).map_err(io)?;
            w.write_all(b"}}\n").map_err(io)?;
        }
        ExportFormat::Csv => {
            if let Some(c) = csv.take() {
                w = c
                    .into_inner()
                    .map_err(|e| ExportError::Io(e.error().to_string()))?;
            }
        }
        ExportFormat::Parquet => {
            if let Some(pw) = parquet.take() {
                pw.finish().map_err(ExportError::Io)?;
            }
        }
    }
    w.flush().map_err(io)?;
    drop(w);
    job.check().map_err(|_| ExportError::Cancelled)?;
    if let Some(mut sw) = sidecar {
        let path = proof::sidecar_path(out);
        let side_io = |e: std::io::Error| ExportError::Io(format!("{}: {e}", path.display()));
        let proofs = if whole { 0 } else { count };
        write!(sw, "\n],\n\"{SIDECAR_FOOTER_KEY}\":{{\"count\":{proofs}").map_err(side_io)?;
        write_complete(&mut sw).map_err(side_io)?;
        sw.write_all(b"}}\n").map_err(side_io)?;
        sw.flush().map_err(side_io)?;
    }
    drop(file);
    output.commit()?;
    Ok(ExportReport {
        entries: count,
        path: out.to_path_buf(),
        complete: proven_for,
    })
}

fn write_csv_row(
    w: &mut csv::Writer<BufWriter<std::fs::File>>,
    archive_id: &str,
    seq: u64,
    leaf: &Hash,
    chain: Option<&Hash>,
    v: &RecordView<'_>,
) -> csv::Result<()> {
    let a = &v.actor;
    let seq_text = seq.to_string();
    let leaf_hex = leaf.to_hex();
    let chain_hex = chain.map(Hash::to_hex);
    let cells: [Option<&str>; 32] = [
        Some(archive_id),
        Some(&seq_text),
        Some(&leaf_hex),
        chain_hex.as_deref(),
        Some(&v.id),
        Some(&v.time_text),
        v.updated_at.as_deref(),
        a.actor_type.as_deref(),
        a.user_id.as_deref(),
        a.email.as_deref(),
        a.org_role.as_deref(),
        a.project_role.as_deref(),
        a.auth_method.as_deref(),
        a.api_key_id.as_deref(),
        a.api_key_name.as_deref(),
        a.api_key_scope.as_deref(),
        a.api_key_scope_id.as_deref(),
        a.api_key_created_at.as_deref(),
        a.api_key_created_by.as_deref(),
        v.org_id.as_deref(),
        v.org_name.as_deref(),
        v.project_id.as_deref(),
        v.project_name.as_deref(),
        Some(&v.resource_type),
        Some(&v.resource_id),
        v.resource_name.as_deref(),
        Some(&v.action),
        v.before,
        v.after,
        v.ip_address.as_deref(),
        v.user_agent.as_deref(),
        v.extra,
    ];
    for c in cells {
        w.write_field(csv_encode(c).as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

/// Writes a JSON string literal (used by callers building JSON by hand).
pub fn json_string(s: &str) -> String {
    let mut out = String::new();
    write_canonical_string(s, &mut out);
    out
}

//! Writing an export as Apache Parquet, for warehouses (docs/WAREHOUSE.md).
//!
//! One row per entry: the CSV export's columns (the same names, in the same
//! order) with times as `TIMESTAMP(MILLIS, UTC)` and seq as `INT64`, then
//! the canonical record itself and, in a subset, the entry's inclusion proof
//! (the JSON export's `leaf_index`/`inclusion` object, as text). Hashes are
//! lower-case hex text, as in every other export and as DuckDB's `sha256()`
//! and Spark's `sha2()` return them, so the warehouse SQL compares them
//! without conversions. The archive id, the checkpoint and the export header
//! go into the file's key-value metadata.
//!
//! Rows are buffered column by column and written as a row group every
//! [`ROW_GROUP_BYTES`] of text, so memory stays bounded whatever the
//! archive's size, and warehouses read the row groups in parallel.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;

use ::parquet::basic::Compression;
use ::parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use ::parquet::errors::ParquetError;
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::WriterProperties;
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::parser::parse_message_type;
use ::parquet::schema::types::ColumnPath;

use crate::chain::Hash;
use crate::record_view::RecordView;
use crate::source::EXPORT_CSV_COLUMNS;
use crate::time::Timestamp;

/// The first four bytes (and the last four) of every Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
/// Metadata key of the archive id (32 hex digits).
pub const META_ARCHIVE_ID: &str = "auditlens.archive_id";
/// Metadata key of the checkpoint text the export was made at.
pub const META_CHECKPOINT: &str = "auditlens.checkpoint";
/// The column holding the canonical record, after the CSV export's columns.
pub const RECORD_COLUMN: &str = "record";
/// The column holding a subset entry's inclusion proof (null in a whole export).
pub const PROOF_COLUMN: &str = "proof";

/// Columns holding times (milliseconds since the epoch, UTC).
const TIME_COLUMNS: [&str; 3] = ["time", "updated_at", "api_key_created_at"];
/// Columns every row has; the others are null where the entry has no such field.
const REQUIRED_COLUMNS: [&str; 9] = [
    "archive_id",
    "seq",
    "leaf_hash",
    "id",
    "time",
    "resource_type",
    "resource_id",
    "action",
    RECORD_COLUMN,
];
/// Columns whose values are (nearly) all different: a dictionary would only
/// be built to be dropped, so they are written plain.
const UNIQUE_COLUMNS: [&str; 6] = [
    "seq",
    "leaf_hash",
    "chain_hash",
    "id",
    RECORD_COLUMN,
    PROOF_COLUMN,
];
/// Text buffered before a row group is written: large enough for warehouses
/// to split work by row group, small enough to keep the export's memory low.
const ROW_GROUP_BYTES: usize = 32 << 20;

/// The export's columns, in order.
pub fn columns() -> impl Iterator<Item = &'static str> {
    EXPORT_CSV_COLUMNS
        .into_iter()
        .chain([RECORD_COLUMN, PROOF_COLUMN])
}

/// The Parquet schema of an export, in the format's message syntax.
fn schema_text() -> String {
    let mut s = String::from("message auditlens_export {\n");
    for name in columns() {
        let rep = if REQUIRED_COLUMNS.contains(&name) {
            "required"
        } else {
            "optional"
        };
        let (ty, logical) = if TIME_COLUMNS.contains(&name) {
            ("int64", " (TIMESTAMP(MILLIS,true))")
        } else if name == "seq" {
            ("int64", "")
        } else {
            ("binary", " (STRING)")
        };
        s.push_str(&format!("  {rep} {ty} {name}{logical};\n"));
    }
    s.push('}');
    s
}

/// One column's values for the row group being built.
enum Values {
    Int(Vec<i64>),
    Text(Vec<ByteArray>),
}

struct ColumnBuffer {
    values: Values,
    /// Definition levels (1 present, 0 null); only for optional columns.
    defs: Option<Vec<i16>>,
}

/// A cell of a row, in column order.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

/// One entry as the export writes it.
pub struct ParquetRow<'a> {
    pub archive_id: &'a str,
    pub seq: u64,
    pub leaf: &'a Hash,
    /// `None` where the export cannot check it (as in the other formats).
    pub chain: Option<&'a Hash>,
    /// The stored record, and the view of it that gives the typed columns.
    pub record: &'a str,
    pub view: &'a RecordView<'a>,
    /// A subset entry's inclusion proof object (`None` in a whole export).
    pub proof: Option<&'a str>,
}

/// A text cell, null when the entry has no such field.
fn text(t: Option<&str>) -> Cell<'_> {
    t.map_or(Cell::Null, Cell::Text)
}

/// Writes rows into a Parquet file, one row group at a time.
pub struct ParquetWriter {
    file: SerializedFileWriter<BufWriter<File>>,
    buffers: Vec<ColumnBuffer>,
    rows: usize,
    bytes: usize,
}

/// Any error of the Parquet writer, in words.
fn pq_err(e: ParquetError) -> String {
    format!("writing Parquet: {e}")
}

impl ParquetWriter {
    /// Starts a Parquet file in `file`, with `metadata` as its key-value metadata.
    pub fn new(file: File, metadata: Vec<(String, String)>) -> Result<ParquetWriter, String> {
        let schema = parse_message_type(&schema_text()).map_err(pq_err)?;
        let kv = metadata
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
        for name in UNIQUE_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
        let props = props
            .set_created_by(format!("auditlens {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(kv))
            .build();
        let w = BufWriter::with_capacity(1 << 20, file);
        let file =
            SerializedFileWriter::new(w, Arc::new(schema), Arc::new(props)).map_err(pq_err)?;
        let buffers = columns()
            .map(|name| ColumnBuffer {
                values: if TIME_COLUMNS.contains(&name) || name == "seq" {
                    Values::Int(Vec::new())
                } else {
                    Values::Text(Vec::new())
                },
                defs: (!REQUIRED_COLUMNS.contains(&name)).then(Vec::new),
            })
            .collect();
        Ok(ParquetWriter {
            file,
            buffers,
            rows: 0,
            bytes: 0,
        })
    }

    /// Appends one entry; the row group is written once enough text is buffered.
    pub fn push(&mut self, row: &ParquetRow<'_>) -> Result<(), String> {
        let ParquetRow {
            archive_id,
            seq,
            leaf,
            chain,
            record,
            view: v,
            proof,
        } = *row;
        let time = |t: Option<&str>, what: &str| match t {
            None => Ok(Cell::Null),
            Some(t) => Timestamp::parse(t)
                .map(|t| Cell::Int(t.0))
                .map_err(|m| format!("entry {seq}: {what}: {m}; run `auditlens verify`")),
        };
        let a = &v.actor;
        let leaf_hex = leaf.to_hex();
        let chain_hex = chain.map(Hash::to_hex);
        let seq_i64 = i64::try_from(seq).map_err(|_| format!("entry {seq}: seq too large"))?;
        let cells: [Cell<'_>; 34] = [
            Cell::Text(archive_id),
            Cell::Int(seq_i64),
            Cell::Text(&leaf_hex),
            text(chain_hex.as_deref()),
            Cell::Text(&v.id),
            Cell::Int(v.time.0),
            time(v.updated_at.as_deref(), "updated_at")?,
            text(a.actor_type.as_deref()),
            text(a.user_id.as_deref()),
            text(a.email.as_deref()),
            text(a.org_role.as_deref()),
            text(a.project_role.as_deref()),
            text(a.auth_method.as_deref()),
            text(a.api_key_id.as_deref()),
            text(a.api_key_name.as_deref()),
            text(a.api_key_scope.as_deref()),
            text(a.api_key_scope_id.as_deref()),
            time(a.api_key_created_at.as_deref(), "api_key_created_at")?,
            text(a.api_key_created_by.as_deref()),
            text(v.org_id.as_deref()),
            text(v.org_name.as_deref()),
            text(v.project_id.as_deref()),
            text(v.project_name.as_deref()),
            Cell::Text(&v.resource_type),
            Cell::Text(&v.resource_id),
            text(v.resource_name.as_deref()),
            Cell::Text(&v.action),
            text(v.before),
            text(v.after),
            text(v.ip_address.as_deref()),
            text(v.user_agent.as_deref()),
            text(v.extra),
            Cell::Text(record),
            text(proof),
        ];
        for (b, cell) in self.buffers.iter_mut().zip(cells) {
            match (&mut b.values, cell) {
                (Values::Int(vals), Cell::Int(n)) => {
                    vals.push(n);
                    self.bytes += 8;
                }
                (Values::Text(vals), Cell::Text(t)) => {
                    vals.push(ByteArray::from(t.as_bytes().to_vec()));
                    self.bytes += t.len();
                }
                (_, Cell::Null) if b.defs.is_some() => {}
                _ => return Err(format!("entry {seq}: a value does not fit its column")),
            }
            if let Some(defs) = &mut b.defs {
                defs.push(i16::from(!matches!(cell, Cell::Null)));
            }
        }
        self.rows += 1;
        if self.bytes >= ROW_GROUP_BYTES {
            self.flush_row_group()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush_row_group(&mut self) -> Result<(), String> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut rg = self.file.next_row_group().map_err(pq_err)?;
        for b in &mut self.buffers {
            let mut col = rg
                .next_column()
                .map_err(pq_err)?
                .ok_or_else(|| "writing Parquet: fewer columns than the schema".to_string())?;
            let defs = b.defs.as_deref();
            match &b.values {
                Values::Int(v) => col.typed::<Int64Type>().write_batch(v, defs, None),
                Values::Text(v) => col.typed::<ByteArrayType>().write_batch(v, defs, None),
            }
            .map_err(pq_err)?;
            col.close().map_err(pq_err)?;
            match &mut b.values {
                Values::Int(v) => v.clear(),
                Values::Text(v) => v.clear(),
            }
            if let Some(d) = &mut b.defs {
                d.clear();
            }
        }
        rg.close().map_err(pq_err)?;
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }

    /// Writes the last row group and the footer, and flushes the file.
    pub fn finish(mut self) -> Result<(), String> {
        self.flush_row_group()?;
        self.file.close().map_err(pq_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parses_and_has_every_column_once() {
        let schema = parse_message_type(&schema_text()).unwrap();
        let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, columns().collect::<Vec<_>>());
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for name in TIME_COLUMNS.iter().chain(&REQUIRED_COLUMNS) {
            assert!(names.contains(name), "{name} is not a column");
        }
    }
}

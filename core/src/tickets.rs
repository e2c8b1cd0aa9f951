//! Approved change tickets, as a ticketing tool (Jira, ServiceNow) exports
//! them: CSV with a header row, or JSON (an array of objects, or Jira's
//! `{"issues": [...]}` / ServiceNow's `{"records": [...]}` / `{"result": [...]}`).
//!
//! Column names differ per tool and per site, so each field is found by,
//! in order: an explicit mapping (`--map ticket=Key,start="Planned start"`),
//! the mapping remembered for the same header row ([`Layouts`], a small JSON
//! file in the user's config folder, never beside evidence), or the common
//! Jira/ServiceNow names ([`KNOWN`]). A ticket file is input, not evidence:
//! it is only read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::json::{self, Json};
use crate::output::{Destination, Output};
use crate::time::Timestamp;

/// Largest ticket file read (a change calendar, not an archive).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most tickets read from one file.
pub const MAX_TICKETS: usize = 1_000_000;

/// A field of a change ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Ticket,
    Start,
    End,
    Project,
    ResourceType,
    ResourceId,
    Actor,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Ticket,
        Field::Start,
        Field::End,
        Field::Project,
        Field::ResourceType,
        Field::ResourceId,
        Field::Actor,
    ];

    /// The name used in `--map` and in the remembered layouts.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Ticket => "ticket",
            Field::Start => "start",
            Field::End => "end",
            Field::Project => "project",
            Field::ResourceType => "resource_type",
            Field::ResourceId => "resource_id",
            Field::Actor => "actor",
        }
    }

    pub fn named(s: &str) -> Option<Field> {
        let s = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    fn required(self) -> bool {
        matches!(self, Field::Ticket | Field::Start | Field::End)
    }
}

/// Column names recognised without a mapping (compared case-insensitively,
/// ignoring spaces, `_`, `-` and `.`): Jira's CSV and REST names, ServiceNow's
/// change_request field names and labels, and plain ones.
pub const KNOWN: [(Field, &[&str]); 7] = [
    (
        Field::Ticket,
        &[
            "issue key",
            "key",
            "number",
            "ticket",
            "ticket id",
            "change",
            "change number",
            "change request",
        ],
    ),
    (
        Field::Start,
        &[
            "planned start",
            "planned start date",
            "start_date",
            "fields.customfield planned start",
            "change start date",
            "scheduled start",
            "approved start",
            "window start",
            "start",
        ],
    ),
    (
        Field::End,
        &[
            "planned end",
            "planned end date",
            "end_date",
            "change completion date",
            "change end date",
            "scheduled end",
            "approved end",
            "window end",
            "end",
        ],
    ),
    (
        Field::Project,
        &[
            "project id",
            "projectid",
            "auditlens project",
            "u_project_id",
        ],
    ),
    (
        Field::ResourceType,
        &["resource type", "resourcetype", "u_resource_type"],
    ),
    (
        Field::ResourceId,
        &["resource id", "resourceid", "resource", "u_resource_id"],
    ),
    (
        Field::Actor,
        &[
            "assignee",
            "fields.assignee.emailaddress",
            "assigned_to",
            "assigned to",
            "implementer",
            "actor",
        ],
    ),
];

fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which column holds each field.
pub type Mapping = BTreeMap<Field, String>;

/// Parses `ticket=Key,start=Planned start,…` (quotes around a column name
/// are dropped).
pub fn parse_map(arg: &str) -> Result<Mapping, String> {
    let mut m = Mapping::new();
    for part in arg.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!("--map {part:?}: write FIELD=COLUMN, e.g. start=\"Planned start\"")
        })?;
        let field = Field::named(k).ok_or_else(|| {
            format!(
                "--map {part:?}: {k:?} is not a field; the fields are {}",
                Field::ALL.map(Field::as_str).join(", ")
            )
        })?;
        let column = v.trim().trim_matches('"').trim_matches('\'').to_string();
        if column.is_empty() {
            return Err(format!("--map {part:?}: the column name is empty"));
        }
        m.insert(field, column);
    }
    Ok(m)
}

/// One approved change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    /// The approved window, milliseconds UTC, both ends included.
    pub start: i64,
    pub end: i64,
    pub project: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub actor: Option<String>,
    /// Row number in the file (1 = first ticket).
    pub row: usize,
}

/// The tickets of one file, and how its columns were read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeTickets {
    pub file: String,
    pub sha256: String,
    /// The header row (CSV) or the keys of the objects (JSON), as found.
    pub header: Vec<String>,
    pub mapping: Mapping,
    pub tickets: Vec<Ticket>,
    /// Rows not read, each with its reason (`row 4: no start`).
    pub skipped: Vec<String>,
}

/// How to read a ticket file.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Explicit column names (they win).
    pub map: Mapping,
    /// Offset applied to times written without a zone, minutes east of UTC
    /// (ServiceNow exports local times).
    pub utc_offset_minutes: i32,
    /// The remembered layouts (see [`Layouts::load`]).
    pub layouts: Option<Layouts>,
    /// `map` is the whole mapping (the viewer's column chooser): a field it
    /// leaves out has no column, rather than a remembered or recognised one.
    pub exact: bool,
}

impl ChangeTickets {
    /// Reads `path`.
    pub fn read(path: &Path, opts: &ReadOptions) -> Result<ChangeTickets, String> {
        let shown = path.display();
        let bytes = crate::small_file::read(path, MAX_FILE_BYTES).map_err(|e| match e {
            crate::small_file::SmallFileError::Io(e) => format!("{shown}: {e}"),
            crate::small_file::SmallFileError::TooLarge => format!(
                "{shown}: more than a ticket file may hold ({MAX_FILE_BYTES} bytes); \
                 export only the changes of the period under audit"
            ),
        })?;
        let sha256 = crate::digest::bytes_sha256(&bytes);
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        let (header, rows) = if matches!(first, Some(b'[' | b'{')) {
            json_rows(text).map_err(|e| format!("{shown}: {e}"))?
        } else {
            csv_rows(text).map_err(|e| format!("{shown}: {e}"))?
        };
        let mapping = resolve(&header, opts).map_err(|e| format!("{shown}: {e}"))?;
        let col = |f: Field| {
            mapping
                .get(&f)
                .and_then(|name| header.iter().position(|h| h == name))
        };
        let cols: BTreeMap<Field, usize> = Field::ALL
            .into_iter()
            .filter_map(|f| col(f).map(|i| (f, i)))
            .collect();
        let mut tickets = Vec::new();
        let mut skipped = Vec::new();
        for (n, row) in rows.iter().enumerate() {
            let get = |f: Field| {
                cols.get(&f)
                    .and_then(|i| row.get(*i))
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let row_no = n + 1;
            let Some(id) = get(Field::Ticket) else {
                skipped.push(format!("row {row_no}: no ticket id"));
                continue;
            };
            let window = (|| {
                let s = get(Field::Start).ok_or("no approved start")?;
                let e = get(Field::End).ok_or("no approved end")?;
                let start = parse_time(&s, opts.utc_offset_minutes, false)
                    .map_err(|e| format!("start: {e}"))?;
                let end = parse_time(&e, opts.utc_offset_minutes, true)
                    .map_err(|e| format!("end: {e}"))?;
                if end < start {
                    return Err("the approved window ends before it starts".to_string());
                }
                Ok::<_, String>((start, end))
            })();
            match window {
                Ok((start, end)) => tickets.push(Ticket {
                    id,
                    start,
                    end,
                    project: get(Field::Project),
                    resource_type: get(Field::ResourceType),
                    resource_id: get(Field::ResourceId),
                    actor: get(Field::Actor),
                    row: row_no,
                }),
                Err(why) => skipped.push(format!("row {row_no} ({id}): {why}")),
            }
        }
        Ok(ChangeTickets {
            file: path.display().to_string(),
            sha256,
            header,
            mapping,
            tickets,
            skipped,
        })
    }
}

/// The column of each field: explicit, remembered, then recognised.
fn resolve(header: &[String], opts: &ReadOptions) -> Result<Mapping, String> {
    let remembered = opts
        .layouts
        .as_ref()
        .and_then(|l| l.get(header))
        .cloned()
        .unwrap_or_default();
    let mut m = Mapping::new();
    for f in Field::ALL {
        if opts.exact && !opts.map.contains_key(&f) {
            continue;
        }
        let chosen = opts.map.get(&f).or_else(|| remembered.get(&f));
        if let Some(name) = chosen {
            let found = header
                .iter()
                .find(|h| *h == name)
                .or_else(|| header.iter().find(|h| fold(h) == fold(name)));
            match found {
                Some(h) => {
                    m.insert(f, h.clone());
                }
                None if opts.map.contains_key(&f) => {
                    return Err(format!(
                        "--map {}={name:?}: no such column; the columns are {}",
                        f.as_str(),
                        quoted(header)
                    ));
                }
                None => {}
            }
            continue;
        }
        let known = KNOWN.iter().find(|(k, _)| *k == f).map(|(_, n)| *n);
        let hit = known.unwrap_or_default().iter().find_map(|want| {
            header
                .iter()
                .find(|h| fold(h) == fold(want))
                .filter(|h| !m.values().any(|used| used == *h))
        });
        if let Some(h) = hit {
            m.insert(f, h.clone());
        }
    }
    let missing: Vec<&str> = Field::ALL
        .into_iter()
        .filter(|f| f.required() && !m.contains_key(f))
        .map(Field::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "cannot tell which column holds {}; the columns are {}. Name them with \
             --map, e.g. --map ticket=Key,start=\"Planned start\",end=\"Planned end\" \
             (remembered for files with the same columns)",
            missing.join(", "),
            quoted(header)
        ));
    }
    Ok(m)
}

fn quoted(header: &[String]) -> String {
    let shown: Vec<String> = header.iter().take(40).map(|h| format!("{h:?}")).collect();
    shown.join(", ")
}

type Rows = (Vec<String>, Vec<Vec<String>>);

fn csv_rows(text: &[u8]) -> Result<Rows, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| format!("not a readable CSV header: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err("the file is empty: expected a CSV header row or JSON".into());
    }
    let mut rows = Vec::new();
    for (i, r) in rdr.records().enumerate() {
        let r = r.map_err(|e| format!("CSV row {}: {e}", i + 1))?;
        if rows.len() >= MAX_TICKETS {
            return Err(format!("more than {MAX_TICKETS} tickets"));
        }
        rows.push(r.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

/// The tickets of a JSON export, each object flattened (`fields.assignee.emailAddress`).
fn json_rows(text: &[u8]) -> Result<Rows, String> {
    let doc = json::parse(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let list = match &doc {
        Json::Array(items) => items,
        Json::Object(m) => ["issues", "records", "result", "tickets", "changes"]
            .iter()
            .find_map(|k| match m.get(*k) {
                Some(Json::Array(items)) => Some(items),
                _ => None,
            })
            .ok_or("a JSON ticket file is an array of objects, or an object whose \"issues\", \"records\" or \"result\" is one")?,
        _ => return Err("a JSON ticket file is an array of objects".into()),
    };
    if list.len() > MAX_TICKETS {
        return Err(format!("more than {MAX_TICKETS} tickets"));
    }
    let mut flat: Vec<BTreeMap<String, String>> = Vec::with_capacity(list.len());
    for item in list {
        let mut row = BTreeMap::new();
        flatten("", item, &mut row, 0);
        // Jira nests its fields: `fields.x` is also found as `x`.
        let lifted: Vec<(String, String)> = row
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("fields.")?.to_string(), v.clone())))
            .collect();
        for (k, v) in lifted {
            row.entry(k).or_insert(v);
        }
        flat.push(row);
    }
    let mut header: Vec<String> = Vec::new();
    for row in &flat {
        for k in row.keys() {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
        if header.len() > 2000 {
            break;
        }
    }
    header.sort();
    let rows = flat
        .into_iter()
        .map(|mut r| {
            header
                .iter()
                .map(|h| r.remove(h).unwrap_or_default())
                .collect()
        })
        .collect();
    Ok((header, rows))
}

fn flatten(prefix: &str, v: &Json, out: &mut BTreeMap<String, String>, depth: usize) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Json::Object(m) if depth < 4 => {
            for (k, v) in m {
                flatten(&key(k), v, out, depth + 1);
            }
        }
        Json::Null => {}
        Json::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Json::Number(n) => {
            out.insert(prefix.to_string(), n.clone());
        }
        Json::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        // ServiceNow's reference fields: {"display_value": …, "value": …}.
        other => {
            out.insert(prefix.to_string(), other.to_canonical());
        }
    }
    if let Json::Object(m) = v
        && let Some(Json::String(s)) = m.get("display_value").or_else(|| m.get("value"))
    {
        out.insert(prefix.to_string(), s.clone());
    }
}

/// A ticket time: ISO 8601 with a zone is exact; a time without a zone
/// (`2025-03-14 09:00:00`, Jira's `14/Mar/25 9:00 AM`) is local time at
/// `offset` minutes east of UTC; a date alone is the day's start, or its
/// last millisecond for the end of a window.
pub fn parse_time(s: &str, offset: i32, end_of_window: bool) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_rfc3339(&t.replacen(' ', "T", 1)))
    {
        return Ok(d.with_timezone(&Utc).timestamp_millis());
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%d/%b/%y %I:%M %p",
        "%d/%b/%Y %I:%M %p",
        "%d/%b/%y %H:%M",
        "%d/%b/%Y %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%d/%b/%y", "%d/%b/%Y"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
            .and_then(|d| {
                if end_of_window {
                    d.and_hms_milli_opt(23, 59, 59, 999)
                } else {
                    d.and_hms_opt(0, 0, 0)
                }
            })
    });
    match naive {
        Some(n) => Ok(n.and_utc().timestamp_millis() - i64::from(offset) * 60_000),
        None => Err(format!(
            "{t:?} is not a time (expected e.g. 2025-03-14T09:00:00Z, 2025-03-14 09:00:00 or 14/Mar/25 9:00 AM)"
        )),
    }
}

/// A time for people, UTC.
pub fn shown(ms: i64) -> String {
    Timestamp(ms).to_string()
}

/// The column mappings chosen for ticket files, keyed by their header row,
/// so that the next file with the same columns needs no `--map`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layouts {
    by_header: BTreeMap<String, Mapping>,
}

const LAYOUTS_FILE: &str = "ticket-layouts.json";

/// The user's configuration folder for auditlens: `$AUDITLENS_CONFIG_DIR`,
/// else the platform's (`$XDG_CONFIG_HOME` or `~/.config` on Linux,
/// `~/Library/Application Support` on macOS, `%APPDATA%` on Windows).
pub fn config_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("AUDITLENS_CONFIG_DIR") {
        return Some(d);
    }
    let base = if cfg!(windows) {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))
    };
    base.map(|b| b.join("auditlens"))
}

fn header_key(header: &[String]) -> String {
    header.join("\u{1f}")
}

impl Layouts {
    pub fn path() -> Option<PathBuf> {
        config_dir().map(|d| d.join(LAYOUTS_FILE))
    }

    /// The remembered layouts; none when the file is absent or unreadable
    /// (a damaged settings file must not stop an audit).
    pub fn load() -> Layouts {
        Self::path()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| Self::from_json(&b))
            .unwrap_or_default()
    }

    fn from_json(bytes: &[u8]) -> Layouts {
        let mut by_header = BTreeMap::new();
        if let Ok(Json::Object(m)) = json::parse(bytes)
            && let Some(Json::Array(items)) = m.get("layouts")
        {
            for item in items {
                let Some(Json::Array(cols)) = item.get("header") else {
                    continue;
                };
                let header: Vec<String> = cols
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect();
                let mapping: Mapping = item
                    .get("mapping")
                    .and_then(Json::as_object)
                    .map(|o| {
                        o.iter()
                            .filter_map(|(k, v)| Some((Field::named(k)?, v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                by_header.insert(header_key(&header), mapping);
            }
        }
        Layouts { by_header }
    }

    fn to_json(&self) -> String {
        let layouts: Vec<serde_json::Value> = self
            .by_header
            .iter()
            .map(|(k, m)| {
                let mapping: serde_json::Map<String, serde_json::Value> = m
                    .iter()
                    .map(|(f, c)| (f.as_str().to_string(), c.clone().into()))
                    .collect();
                serde_json::json!({
                    "header": k.split('\u{1f}').collect::<Vec<_>>(),
                    "mapping": mapping,
                })
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({ "layouts": layouts })).unwrap_or_default()
    }

    pub fn get(&self, header: &[String]) -> Option<&Mapping> {
        self.by_header.get(&header_key(header))
    }

    /// Remembers `tickets`' mapping for files with its header row, and saves
    /// the layouts in the config folder. `reads`: the ticket file, which the
    /// settings file may never replace.
    pub fn remember(&mut self, tickets: &ChangeTickets) -> Result<PathBuf, String> {
        self.by_header
            .insert(header_key(&tickets.header), tickets.mapping.clone());
        let path = Self::path().ok_or(
            "no configuration folder (set HOME, or AUDITLENS_CONFIG_DIR) to remember the columns in",
        )?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut out = Output::reading(&[PathBuf::from(&tickets.file)]);
        let slot = out
            .add(&Destination::cli(&path, true))
            .map_err(|e| e.to_string())?;
        out.write(slot, self.to_json().as_bytes())
            .map_err(|e| e.to_string())?;
        out.commit().map_err(|e| e.to_string())?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_exporters_forms() {
        let z = parse_time("2025-03-14T09:00:00Z", 0, false).unwrap();
        assert_eq!(parse_time("2025-03-14 09:00:00", 0, false), Ok(z));
        assert_eq!(parse_time("2025-03-14 10:00:00", 60, false), Ok(z));
        assert_eq!(parse_time("14/Mar/25 9:00 AM", 0, false), Ok(z));
        assert_eq!(
            parse_time("2025-03-14", 0, true).unwrap() - z,
            15 * 3_600_000 - 1
        );
        assert!(parse_time("next tuesday", 0, false).is_err());
    }

    #[test]
    fn map_arguments() {
        let m = parse_map("ticket=Key, start=\"Planned start\",end=Planned end").unwrap();
        assert_eq!(m[&Field::Start], "Planned start");
        assert_eq!(m[&Field::End], "Planned end");
        assert!(parse_map("when=x").is_err());
        assert!(parse_map("start").is_err());
    }

    #[test]
    fn layouts_round_trip() {
        let mut l = Layouts::default();
        let header = vec!["Key".to_string(), "From".into()];
        let mut m = Mapping::new();
        m.insert(Field::Start, "From".into());
        l.by_header.insert(header_key(&header), m.clone());
        let back = Layouts::from_json(l.to_json().as_bytes());
        assert_eq!(back.get(&header), Some(&m));
        assert_eq!(Layouts::from_json(b"not json"), Layouts::default());
    }
}

//! The auditor report: one self-contained HTML file an auditor files, and a
//! JSON twin with the same facts for machines.
//!
//! The facts are gathered once, as JSON ([`gather`]); the HTML is rendered
//! from that JSON ([`to_html`]), so the two cannot say different things.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::archive::{Archive, ArchiveError, Cell, Column, Columns, Scan};
use crate::case::CaseFile;
use crate::coverage::{self, CoverageSettings};
use crate::digest;
use crate::export::filter_json;
use crate::filter::Filter;
use crate::job::Job;
use crate::note::VerifierKey;
use crate::output::{Destination, Output, OutputError, Slot};
use crate::patterns::{Keep, Pattern, PatternSettings, scan_archive};
use crate::proof::SignedCheckpoint;
use crate::safe_text;
use crate::time::Timestamp;
use crate::{verdict, verify};

/// Hits listed per pattern (all are counted).
pub const HITS_LISTED: usize = 200;

pub struct ReportInput<'a> {
    pub archive: &'a Path,
    pub checkpoint: Option<&'a SignedCheckpoint>,
    pub keys: &'a [VerifierKey],
    pub filter: &'a Filter,
    pub patterns: &'a PatternSettings,
    pub case: Option<&'a CaseFile>,
}

/// The report's JSON twin: the HTML name with the extension `.json`.
pub fn twin_path(html: &Path) -> PathBuf {
    html.with_extension("json")
}

/// Where the viewer puts a report when no save dialog is available: the
/// first `ARCHIVE.report.html`, `ARCHIVE.report-2.html`, … whose HTML and
/// twin names are both free, so that an earlier report is never replaced
/// by one nobody named.
pub fn default_path(archive: &Path) -> PathBuf {
    let name = |n: u32| {
        let mut p = archive.as_os_str().to_owned();
        p.push(if n == 1 {
            ".report.html".to_string()
        } else {
            format!(".report-{n}.html")
        });
        PathBuf::from(p)
    };
    (1..)
        .map(name)
        .find(|p| {
            std::fs::symlink_metadata(p).is_err()
                && std::fs::symlink_metadata(twin_path(p)).is_err()
        })
        .expect("some number is free")
}

/// The report's two files, planned and checked before the facts are
/// gathered: neither the HTML nor its twin may replace a file the report
/// reads or any evidence (`incident.html` beside the `incident.json` under
/// investigation is refused, not a silent replacement).
pub struct ReportOutput {
    output: Output,
    html: Slot,
    twin: Slot,
}

impl ReportOutput {
    /// `reads`: the archive, and the checkpoint and key files given.
    pub fn plan<P: AsRef<Path>>(out: &Destination, reads: &[P]) -> Result<Self, OutputError> {
        let twin = twin_path(&out.path);
        if twin == out.path {
            return Err(OutputError::BadName {
                path: out.path.clone(),
                why: "its JSON twin takes the extension .json; give the report a .html name".into(),
            });
        }
        let mut output = Output::reading(reads);
        let html = output.add(out)?;
        let twin = output.add(&out.side(twin))?;
        Ok(ReportOutput { output, html, twin })
    }

    pub fn html_path(&self) -> &Path {
        self.output.path(self.html)
    }

    pub fn twin_path(&self) -> &Path {
        self.output.path(self.twin)
    }

    /// Writes the HTML page and the JSON twin from the same facts, and
    /// moves both into place together.
    pub fn write(mut self, facts: &Value) -> Result<(), OutputError> {
        let json = serde_json::to_string_pretty(facts)
            .map_err(|e| OutputError::Io(format!("cannot render the report's facts: {e}")))?;
        self.output.write(self.html, to_html(facts).as_bytes())?;
        self.output.write(self.twin, json.as_bytes())?;
        self.output.commit().map(|_| ())
    }
}

/// Everything the report states, as JSON.
pub fn gather(input: &ReportInput<'_>, job: &Job) -> Result<Value, String> {
    let path = input.archive;
    let archive = Archive::open(path).map_err(|e| e.0)?;
    // The report's passes over the table (time span, coverage, patterns)
    // read with plain reads: through the memory map, each would leave the
    // whole file resident.
    archive.read_streaming().map_err(|e| e.0)?;
    job.start_phase("hashing the file", 0);
    let sha = digest::file_sha256(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (report, anchor) = verify::verify_signed(path, input.checkpoint, input.keys, job)
        .map_err(|e| e.to_string())?;
    let span = archive.time_span().map_err(|e| e.0)?;
    let created = archive
        .meta()
        .iter()
        .find(|(k, _)| k == "created_at")
        .map(|(_, v)| v.clone());

    // The entries the filter selects: counted, and named in the hit lists.
    // Names beside bare ids, from the directory remembered beside the
    // archive (display only: docs/INVESTIGATE.md); an unreadable one is none.
    let names = crate::directory::Directory::remembered(path).ok().flatten();
    let describe = |seq: u64| {
        let mut v = entry_summary(&archive, seq);
        if let (Some(d), Some(a)) = (&names, v["actor"].as_str().map(str::to_string)) {
            v["actor"] = d.readable(&a, &a).into();
        }
        v
    };
    let matching = if input.filter.is_empty() {
        report.entries
    } else {
        count_matching(&archive, input.filter)?
    };

    // Every hit counted, the first of each pattern listed: the report's
    // memory does not grow with the archive.
    let scan = scan_archive(&archive, input.patterns, Keep::listed(HITS_LISTED), job)?;
    let patterns = scan.to_json(describe);
    let coverage_settings = CoverageSettings::default();
    let coverage = coverage::of_archive(&archive, &coverage_settings, job)?;
    let change_management = match (&scan.reconciliation, &input.patterns.tickets) {
        (Some(r), Some(t)) => r.to_json(t, describe),
        _ => Value::Null,
    };
    let bookmarks: Vec<Value> = input
        .case
        .map(|c| {
            c.bookmarked()
                .map(|(seq, m)| {
                    let mut d = describe(seq);
                    d["entry_id"] = m.entry_id.clone().into();
                    d["tags"] = json!(m.tags);
                    d["note"] = m.note.clone().into();
                    d
                })
                .collect()
        })
        .unwrap_or_default();

    let mut verification = verify::report_json(path, &report);
    verification["signature"] = verify::anchor_json(anchor.as_ref());
    verdict::add_to_json(&mut verification, &report, anchor.as_ref());
    Ok(json!({
        "auditlens_report": 1,
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "tool": format!("auditlens {}", env!("CARGO_PKG_VERSION")),
        "file": {
            "path": std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string(),
            "sha256": sha,
            "bytes": size,
        },
        "archive": {
            "id": archive.id().to_string(),
            "entries": report.entries,
            "created_at": created,
            "time_span": span.map(|(a, b)| json!({
                "from": Timestamp(a).to_string(),
                "to": Timestamp(b).to_string(),
            })),
            "head": report.head.map(|h| h.to_hex()),
            "root": report.root.map(|h| h.to_hex()),
        },
        "verification": verification,
        "filter": {
            "active": filter_json(input.filter),
            "matching_entries": matching,
        },
        "patterns": {
            "settings": {
                "utc_offset_minutes": input.patterns.utc_offset_minutes,
                "work_hours": [input.patterns.work_start_hour, input.patterns.work_end_hour],
                "bulk_count": input.patterns.bulk_count,
                "bulk_minutes": input.patterns.bulk_minutes,
                "protected_labels": input.patterns.protected_labels,
            },
            "results": patterns,
        },
        "authorization": scan.authorization.to_json(),
        "change_management": change_management,
        "coverage": coverage.to_json(&coverage_settings),
        "case": {
            "file": input.case.map(|_| crate::case::case_path(path).display().to_string()),
            "bookmarks": bookmarks,
        },
    }))
}

/// Seq, time, actor, action and resource type of one entry, as the table
/// shows them (`{"seq": N}` alone when the row cannot be read).
pub fn entry_summary(archive: &Archive, seq: u64) -> Value {
    let cols = Columns::of(&[
        Column::TimeMs,
        Column::ActorLabel,
        Column::Action,
        Column::ResourceType,
    ]);
    let mut summary = json!({"seq": seq});
    let _ = archive.scan::<ArchiveError>(&Scan::one(cols, seq), |r| {
        let text = |c: Column| r.get(c).text().map(|t| t.into_owned());
        summary = json!({
            "seq": seq,
            "time": match r.get(Column::TimeMs) {
                Cell::Integer(t) => Some(Timestamp(t).to_string()),
                _ => None,
            },
            "actor": text(Column::ActorLabel),
            "action": text(Column::Action),
            "resource_type": text(Column::ResourceType),
        });
        Ok(())
    });
    summary
}

fn count_matching(archive: &Archive, filter: &Filter) -> Result<u64, String> {
    let mut n = 0;
    let scan = Scan::all(Columns::of(&[Column::Record])).prefilter(filter);
    archive.scan::<String>(&scan, |r| {
        if crate::archive::parse_record(r.record()).is_ok_and(|e| filter.matches(&e)) {
            n += 1;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Text for HTML (element content and attribute values): hidden characters
/// shown as their code points by [`safe_text::escape`], as on every surface,
/// then the markup characters escaped.
fn esc(s: &str) -> String {
    let shown = safe_text::escape(s);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Like [`text`] for the auditor's own multi-line notes: each line escaped,
/// the line breaks kept (the cell keeps white space).
fn text_lines(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.split('\n').map(esc).collect::<Vec<_>>().join("\n"),
        None => text(v),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// A list of strings as `a, b`; anything else as text.
fn list(v: &Value) -> String {
    match v.as_array() {
        Some(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        None => text(v),
    }
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1b1b;max-width:1100px;margin:2em auto;padding:0 1.5em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600}td.k{width:14em;color:#444}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;word-break:break-all}
.verdict{display:block;padding:.5em .8em;border-radius:4px;font-weight:700}.intact{background:#e3f5e5;color:#135c1d}.tampered{background:#fde5e3;color:#8a1c12}
.muted{color:#666}.note{white-space:pre-wrap}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}tr{break-inside:avoid}a{color:inherit;text-decoration:none}}
";

/// Patterns whose hits are listed in their own section, not among the patterns.
const OWN_SECTION: [&str; 2] = [
    Pattern::NotAuthorized.as_str(),
    Pattern::UnapprovedChange.as_str(),
];

type EntryTable<'a> = dyn Fn(&mut String, &[Value], &str, &str) + 'a;

fn kv_table(h: &mut String, rows: &[(&str, String)]) {
    h.push_str("<table>");
    for (k, v) in rows {
        let _ = write!(h, "<tr><td class=\"k\">{}</td><td>{v}</td></tr>", esc(k));
    }
    h.push_str("</table>\n");
}

/// "Authorization at the time": the counts, and each entry the role did not grant.
fn authorization_html(h: &mut String, f: &Value, results: &[Value], table: &EntryTable<'_>) {
    let a = &f["authorization"];
    h.push_str("<h2>Authorization at the time</h2>");
    let _ = write!(
        h,
        "<p class=\"muted\">Each entry's actor role, as the entry records it (or as the last \
         membership entry set it), against the platform's role model ({}). An API key, an \
         unlisted action or an unrecorded role is \"cannot judge\", never \"allowed\".</p>",
        text(&a["source"])
    );
    let reasons = a["cannot_judge_by_reason"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{}: {}", esc(k), text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    kv_table(
        h,
        &[
            ("Granted by the role", text(&a["granted"])),
            ("Not granted", text(&a["not_granted"])),
            (
                "Cannot judge",
                format!("{} ({reasons})", text(&a["cannot_judge"])),
            ),
        ],
    );
    if let Some(p) = results
        .iter()
        .find(|p| p["name"] == Pattern::NotAuthorized.as_str())
    {
        let hits = p["hits"].as_array().cloned().unwrap_or_default();
        if !hits.is_empty() {
            table(h, &hits, "Why", "reason");
        }
        if p["count"].as_u64().unwrap_or(0) > hits.len() as u64 {
            let _ = write!(
                h,
                "<p class=\"muted\">The first {} are listed (here and in the JSON twin); \
                 <code>auditlens scan --json</code> lists all.</p>",
                hits.len()
            );
        }
    }
}

/// "Change management": each production change against the tickets.
fn change_management_html(h: &mut String, f: &Value, table: &EntryTable<'_>) {
    let c = &f["change_management"];
    h.push_str("<h2>Change management</h2>");
    if c.is_null() {
        h.push_str(
            "<p>No change tickets were given (<code>auditlens report --changes FILE</code>, or \
             Tickets in the viewer).</p>",
        );
        return;
    }
    let columns = c["columns"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{} = {}", esc(k), text(v)))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    kv_table(
        h,
        &[
            ("Ticket file", text(&c["tickets_file"])),
            ("Its SHA-256", text(&c["tickets_sha256"])),
            ("Tickets read", text(&c["tickets"])),
            ("Columns", columns),
            ("Rows skipped", list(&c["rows_skipped"])),
            ("Production changes", text(&c["production_changes"])),
            ("Approved", text(&c["approved"])),
            (
                "Mismatched (outside the window or by another actor)",
                text(&c["mismatched"]),
            ),
            ("Unapproved (no ticket)", text(&c["unapproved"])),
            ("Tickets with no change seen", list(&c["unused_tickets"])),
        ],
    );
    let rows: Vec<Value> = c["changes"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|r| {
                    let mut r = r.clone();
                    r["why"] = format!(
                        "{} — {}",
                        r["status"].as_str().unwrap_or_default(),
                        r["reason"].as_str().unwrap_or_default()
                    )
                    .into();
                    r
                })
                .collect()
        })
        .unwrap_or_default();
    if !rows.is_empty() {
        table(h, &rows, "Status and why", "why");
    }
}

/// "Coverage of the archive": the files ingested and the holes.
fn coverage_html(h: &mut String, f: &Value) {
    let c = &f["coverage"];
    h.push_str("<h2>Coverage of the archive</h2>");
    h.push_str(
        "<table><tr><th>File</th><th>SHA-256</th><th>Entries</th><th>From (UTC)</th>\
         <th>To (UTC)</th><th>Ingested</th></tr>",
    );
    for x in c["files"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let _ = write!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td>\
             <td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            text(&x["file"]),
            text(&x["sha256"]),
            text(&x["entries"]),
            text(&x["from"]),
            text(&x["to"]),
            text(&x["ingested_at"]),
        );
    }
    h.push_str("</table>\n");
    if c["files_without_window"].as_u64().unwrap_or(0) > 0 {
        let _ = write!(
            h,
            "<p class=\"muted\">{} file(s) were ingested before auditlens recorded each \
             file's SHA-256 and window; they are named only.</p>",
            text(&c["files_without_window"])
        );
    }
    let s = &c["settings"];
    let _ = write!(
        h,
        "<p class=\"muted\">A hole is a run of days with no entries between two days with at \
         least {} each, or more than {} hours that no file's window covers. Overlapping \
         exports are normal.</p>",
        text(&s["busy_day"]),
        text(&s["min_gap_hours"])
    );
    let empty = c["empty_days"].as_array().cloned().unwrap_or_default();
    let gaps = c["export_gaps"].as_array().cloned().unwrap_or_default();
    if empty.is_empty() && gaps.is_empty() {
        h.push_str("<p>No holes found.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>Hole</th><th>From</th><th>To</th><th>Around it</th><th>Weekend only</th></tr>");
    for d in &empty {
        let _ = write!(
            h,
            "<tr><td>{} day(s) with no entries</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
             <td>{} entries the day before, {} the day after</td><td>{}</td></tr>",
            text(&d["days"]),
            text(&d["from"]),
            text(&d["to"]),
            text(&d["entries_day_before"]),
            text(&d["entries_day_after"]),
            text(&d["weekend_only"]),
        );
    }
    for g in &gaps {
        let _ = write!(
            h,
            "<tr><td>{} hours no export covers</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
             <td>after {}, before {}</td><td>{}</td></tr>",
            text(&g["hours"]),
            text(&g["from"]),
            text(&g["to"]),
            text(&g["after_file"]),
            text(&g["before_file"]),
            text(&g["weekend_only"]),
        );
    }
    h.push_str("</table>\n");
}

/// The report as one HTML page with no external resources.
pub fn to_html(f: &Value) -> String {
    let mut h = String::new();
    let status = f["verification"]["status"].as_str().unwrap_or("unknown");
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Audit report — {}</title><style>{STYLE}</style></head><body>\n",
        text(&f["file"]["path"])
    );
    let _ = write!(
        h,
        "<h1>Audit-log archive report</h1><p class=\"muted\">Generated {} by {}</p>\n\
         <p class=\"verdict {}\">{}</p>\n",
        text(&f["generated_at"]),
        text(&f["tool"]),
        esc(status),
        text(&f["verification"]["verdict"]["sentence"]),
    );
    let row = |h: &mut String, k: &str, v: String| {
        let _ = write!(
            h,
            "<tr><td class=\"k\">{}</td><td class=\"mono\">{v}</td></tr>",
            esc(k)
        );
    };
    h.push_str("<h2>The file</h2><table>");
    row(&mut h, "Path", text(&f["file"]["path"]));
    row(&mut h, "SHA-256", text(&f["file"]["sha256"]));
    row(&mut h, "Size (bytes)", text(&f["file"]["bytes"]));
    row(&mut h, "Archive id", text(&f["archive"]["id"]));
    row(&mut h, "Entries", text(&f["archive"]["entries"]));
    row(&mut h, "Created", text(&f["archive"]["created_at"]));
    row(
        &mut h,
        "Time span",
        format!(
            "{} – {}",
            text(&f["archive"]["time_span"]["from"]),
            text(&f["archive"]["time_span"]["to"])
        ),
    );
    row(&mut h, "Chain head", text(&f["archive"]["head"]));
    row(&mut h, "Merkle root", text(&f["archive"]["root"]));
    h.push_str("</table>\n");

    let v = &f["verification"];
    h.push_str("<h2>Verification</h2><table>");
    let words = &v["verdict"];
    row(&mut h, "Result", text(&words["outcome"]));
    row(&mut h, "Problems", text(&v["problems"]));
    row(&mut h, "Warnings", text(&v["warnings"]));
    row(&mut h, "Checkpoint", text(&words["checkpoint"]));
    row(&mut h, "Signature", text(&words["signature"]));
    row(&mut h, "Verification time (ms)", text(&v["elapsed_ms"]));
    h.push_str("</table>\n");
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    if findings.is_empty() {
        h.push_str("<p>No findings.</p>\n");
    } else {
        h.push_str("<table><tr><th>Severity</th><th>Finding</th></tr>");
        for x in &findings {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"mono\">{}</td></tr>",
                text(&x["severity"]),
                text(&x["description"]),
            );
        }
        h.push_str("</table>\n");
        if let Some(meanings) = words["meanings"].as_object() {
            h.push_str("<table><tr><th>Kind</th><th>What it means</th></tr>");
            for (kind, meaning) in meanings {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(kind),
                    text(meaning)
                );
            }
            h.push_str("</table>\n");
        }
    }

    h.push_str("<h2>Filter</h2><table>");
    let active = &f["filter"]["active"];
    let active_text = match active.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{}: {}", esc(k), list(v)))
            .collect::<Vec<_>>()
            .join("; "),
        _ => "none (all entries)".into(),
    };
    row(&mut h, "Active filter", active_text);
    row(
        &mut h,
        "Matching entries",
        text(&f["filter"]["matching_entries"]),
    );
    h.push_str("</table>\n");

    let entry_table = |h: &mut String, rows: &[Value], last: &str, last_key: &str| {
        let last_text = if last_key == "annotation" {
            text_lines
        } else {
            text
        };
        let _ = write!(
            h,
            "<table><tr><th>Seq</th><th>Time (UTC)</th><th>Actor</th><th>Action</th>\
             <th>Resource type</th><th>{}</th></tr>",
            esc(last)
        );
        for r in rows {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"note\">{}</td></tr>",
                text(&r["seq"]),
                text(&r["time"]),
                text(&r["actor"]),
                text(&r["action"]),
                text(&r["resource_type"]),
                last_text(&r[last_key]),
            );
        }
        h.push_str("</table>\n");
    };
    h.push_str("<h2>Patterns to watch</h2>");
    let s = &f["patterns"]["settings"];
    let _ = write!(
        h,
        "<p class=\"muted\">Working hours {:02}:00–{:02}:00 Monday–Friday at UTC{:+} min; bursts: \
         more than {} in {} min; protected labels: {}.</p>\
         <table><tr><th>Pattern</th><th>Entries</th></tr>",
        s["work_hours"][0].as_u64().unwrap_or(0),
        s["work_hours"][1].as_u64().unwrap_or(0),
        s["utc_offset_minutes"].as_i64().unwrap_or(0),
        text(&s["bulk_count"]),
        text(&s["bulk_minutes"]),
        list(&s["protected_labels"]),
    );
    let results = f["patterns"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in &results {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            text(&p["title"]),
            text(&p["count"])
        );
    }
    h.push_str("</table>\n");
    for p in &results {
        let hits = p["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() || OWN_SECTION.contains(&p["name"].as_str().unwrap_or_default()) {
            continue;
        }
        let _ = write!(h, "<h3>{} ({})</h3>", text(&p["title"]), text(&p["count"]));
        entry_table(&mut h, &hits, "Why", "reason");
        if p["count"].as_u64().unwrap_or(0) > hits.len() as u64 {
            let _ = write!(
                h,
                "<p class=\"muted\">The first {} are listed (here and in the JSON twin); \
                 <code>auditlens scan --json</code> lists all.</p>",
                hits.len()
            );
        }
    }

    authorization_html(&mut h, f, &results, &entry_table);
    change_management_html(&mut h, f, &entry_table);
    coverage_html(&mut h, f);

    h.push_str("<h2>Bookmarked entries</h2>");
    let marks = f["case"]["bookmarks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if marks.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        let _ = write!(
            h,
            "<p class=\"muted\">Case file {}</p>",
            text(&f["case"]["file"])
        );
        let rows: Vec<Value> = marks
            .iter()
            .map(|m| {
                let mut m = m.clone();
                let tags = m["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let note = m["note"].as_str().unwrap_or_default().to_string();
                m["annotation"] = if tags.is_empty() {
                    note.into()
                } else {
                    format!("[{tags}] {note}").into()
                };
                m
            })
            .collect();
        entry_table(&mut h, &rows, "Tags and note", "annotation");
    }
    h.push_str("\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_controls_and_bidi_overrides() {
        assert_eq!(esc("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(esc("a\u{1b}[31mb"), "a⟨U+001B⟩[31mb");
        assert_eq!(esc("x\u{202E}y\u{200D}"), "x⟨U+202E⟩y⟨U+200D⟩");
        assert_eq!(text_lines(&"one\ntwo\u{7}".into()), "one\ntwo⟨U+0007⟩");
    }
}

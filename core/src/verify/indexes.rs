//! Verification of the archive's schema and SQLite indexes.
//!
//! auditlens never lets an index decide which entries exist, but the indexes
//! are evidence too: another tool reading the file trusts them, and a
//! tampered index is a sign of tampering. So every object of the schema is
//! compared with the schema auditlens makes, and every index auditlens makes
//! is proven to agree with its table exactly: each row is searched for in the
//! index under its own key (during the table scan, see `row_check`), and the
//! index holds as many entries as the table has rows. Together: the index
//! lists every row once, under its key, and nothing else. No hash sum stands
//! in for the comparison, so nothing can be forged to match.
//!
//! Only when that fails is the index walked in its own order to say which
//! entries are wrong and how (a slower read, by rowid, for every entry).

use super::{Collector, Finding, FindingKind};
use crate::archive::{
    Archive, INDEXES, IndexProblem, IndexProblemKind, KnownIndex, PROTECTIVE, SchemaObject,
    expected_schema,
};

/// Compares the archive's schema with the one auditlens makes, and returns
/// the indexes whose contents can be checked: those auditlens makes, defined
/// as it defines them.
pub(super) fn check_schema(
    schema: &[SchemaObject],
    out: &mut Collector,
) -> Vec<&'static KnownIndex> {
    let expected = expected_schema();
    for want in expected {
        if schema.iter().any(|o| o.name == want.name) {
            continue;
        }
        if PROTECTIVE.contains(&want.name.as_str()) {
            out.push(Finding::new(
                FindingKind::ProtectionRemoved,
                None,
                format!(
                    "{} was removed from the archive's schema: it no longer refuses changes",
                    want.name
                ),
            ));
        } else {
            out.push(
                Finding::new(
                    FindingKind::SchemaAltered,
                    None,
                    format!(
                        "the {} {} that auditlens makes is missing from the archive's schema",
                        want.kind, want.name
                    ),
                )
                .values(definition(want), "absent"),
            );
        }
    }
    for found in schema {
        match expected.iter().find(|e| e.name == found.name) {
            Some(want) if want.same_definition(found) => {}
            Some(want) => out.push(
                Finding::new(
                    FindingKind::SchemaAltered,
                    None,
                    format!(
                        "the {} {} is not defined as auditlens defines it",
                        found.kind, found.name
                    ),
                )
                .values(definition(want), definition(found)),
            ),
            None => out.push(
                Finding::new(
                    FindingKind::SchemaAltered,
                    None,
                    format!(
                        "the archive holds a {} {}{} that auditlens does not make: another \
                         program changed the file{}",
                        found.kind,
                        found.name,
                        if found.table == found.name {
                            String::new()
                        } else {
                            format!(" (on {})", found.table)
                        },
                        if found.kind == "index" {
                            "; its contents are not checked"
                        } else {
                            ""
                        }
                    ),
                )
                .values("absent", definition(found)),
            ),
        }
    }
    INDEXES
        .iter()
        .filter(|ix| {
            let want = expected.iter().find(|e| e.name == ix.name);
            let found = schema.iter().find(|o| o.name == ix.name);
            matches!((want, found), (Some(w), Some(f)) if w.same_definition(f))
        })
        .collect()
}

/// An object's definition as quoted in a finding.
fn definition(o: &SchemaObject) -> String {
    match &o.sql {
        Some(sql) => sql.split_whitespace().collect::<Vec<_>>().join(" "),
        None => format!(
            "{} {} (made by SQLite for a UNIQUE constraint)",
            o.kind, o.name
        ),
    }
}

/// Proves that `index` lists each of the `rows` rows of its table within
/// `rowids` once, under its key: `missing` are the rows a search of the index
/// did not find (sorted). Reports what is wrong, entry by entry.
pub(super) fn check_index(
    archive: &Archive,
    index: &KnownIndex,
    rowids: (i64, i64),
    rows: u64,
    missing: &[i64],
    out: &mut Collector,
) {
    let counted = match archive.index_count(index, rowids) {
        Ok(n) => n,
        Err(e) => return out.push(unreadable(index, &e.0)),
    };
    if counted == rows && missing.is_empty() {
        return;
    }
    let mut located = 0u64;
    let walked = archive.index_problems(index, rowids, missing, |p| {
        located += 1;
        out.push(problem_finding(index, p));
    });
    if let Err(e) = walked {
        return out.push(unreadable(index, &e.0));
    }
    if located == 0 {
        // The counts differ, yet no entry is wrong on its own: the index's
        // structure counts entries that a walk in order never reaches.
        out.push(
            Finding::new(
                FindingKind::SqliteIndexMismatch,
                None,
                format!(
                    "the SQLite index {} holds {counted} entries for {rows} rows of {}: it is damaged",
                    index.name, index.table
                ),
            )
            .values(rows, counted),
        );
    }
}

pub(super) fn unreadable(index: &KnownIndex, e: &str) -> Finding {
    Finding::new(
        FindingKind::SqliteIndexMismatch,
        None,
        format!(
            "the SQLite index {} cannot be read ({e}): it is damaged",
            index.name
        ),
    )
}

/// One wrong entry (or one row without an entry) as a finding, located by
/// seq for the entries table.
fn problem_finding(index: &KnownIndex, p: IndexProblem) -> Finding {
    let entries = index.table == "entries";
    let at = if entries {
        format!("seq {}", p.rowid)
    } else {
        format!("row {} of {}", p.rowid, index.table)
    };
    let key = index.key.join(", ");
    let message = match p.kind {
        IndexProblemKind::NoSuchRow => format!(
            "the SQLite index {} lists {at}, which the table does not hold: a query through \
             the index would show an entry that is not there",
            index.name
        ),
        IndexProblemKind::WrongKey => format!(
            "the SQLite index {} lists {at} under another {key} than the table holds: a query \
             through the index would misplace or miss it",
            index.name
        ),
        IndexProblemKind::Repeated => format!(
            "the SQLite index {} lists {at} twice: a query through the index would show it twice",
            index.name
        ),
        IndexProblemKind::Missing => format!(
            "the SQLite index {} has no entry for {at}: a query through the index would not see it",
            index.name
        ),
        IndexProblemKind::Unsearchable => format!(
            "the SQLite index {} lists {at} out of order, so a search of the index does not find \
             it: a query through the index would miss it",
            index.name
        ),
    };
    let seq = (entries && p.rowid > 0).then_some(p.rowid as u64);
    Finding::new(FindingKind::SqliteIndexMismatch, seq, message).values(
        p.expected
            .map(|k| format!("{key} {k}"))
            .unwrap_or_else(|| "no such row".into()),
        p.found
            .map(|k| format!("{key} {k}"))
            .unwrap_or_else(|| "no entry".into()),
    )
}

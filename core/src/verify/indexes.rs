//! Verification of the archive's schema and SQLite indexes.
//!
//! auditlens never lets an index decide which entries exist, but the indexes
//! are evidence too: another tool reading the file trusts them, and a lying
//! index is a sign of tampering. So every object of the schema is compared
//! with the schema auditlens makes, and every index auditlens makes is proven
//! to agree with its table entry by entry (`archive/index_check.rs`; the
//! entries table's keys are kept during verification's own scan, in
//! `row_check`). This module turns what is found into findings.

use super::{Collector, Finding, FindingKind, MAX_FINDINGS};
use crate::archive::{
    Archive, INDEXES, IndexProblem, IndexProblemKind, KeyBook, KeyHasher, KnownIndex, PROTECTIVE,
    SchemaObject, expected_schema,
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
                        "the archive holds {} {}{} that auditlens does not make: another \
                         program changed the file{}",
                        with_article(&found.kind),
                        found.name,
                        if found.table == found.name {
                            String::new()
                        } else {
                            format!(" (on {})", found.table)
                        },
                        if found.kind == "index" {
                            "; SQLite's own integrity check judges its contents"
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

/// Walks `index` over the rows within `rowids` and compares each entry
/// with `book`; the findings say which entries are wrong, and how.
pub(super) fn check_index(
    archive: &Archive,
    index: &KnownIndex,
    book: KeyBook,
    hasher: &KeyHasher,
    rowids: (i64, i64),
) -> Vec<Finding> {
    let problems = match archive.index_problems(index, book, hasher, rowids, MAX_FINDINGS) {
        Ok(p) => p,
        Err(e) => return vec![unreadable(index, &e.0)],
    };
    let mut out: Vec<Finding> = problems
        .listed
        .into_iter()
        .map(|p| {
            let expected = match p.kind {
                IndexProblemKind::NoSuchRow => None,
                _ => archive.table_key(index, p.rowid),
            };
            problem_finding(index, p, expected)
        })
        .collect();
    // Past the findings kept in full, each is still counted.
    out.extend((0..problems.more).map(|_| {
        Finding::new(
            FindingKind::SqliteIndexMismatch,
            None,
            format!("the SQLite index {} disagrees with its table", index.name),
        )
    }));
    out
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
fn problem_finding(index: &KnownIndex, p: IndexProblem, expected: Option<String>) -> Finding {
    let (rowid, found) = (p.rowid, p.found);
    let entries = index.table == "entries";
    let at = if entries {
        format!("seq {rowid}")
    } else {
        format!("row {rowid} of {}", index.table)
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
            "the SQLite index {} lists {at} more than once: a query through the index would \
             show it twice",
            index.name
        ),
        IndexProblemKind::Missing => format!(
            "the SQLite index {} has no entry for {at}: a query through the index would not see it",
            index.name
        ),
    };
    let seq = (entries && rowid > 0).then_some(rowid as u64);
    Finding::new(FindingKind::SqliteIndexMismatch, seq, message).values(
        expected
            .map(|k| format!("{key} {k}"))
            .unwrap_or_else(|| "no such row".into()),
        found
            .map(|k| format!("{key} {k}"))
            .unwrap_or_else(|| "no entry".into()),
    )
}

/// The tables that hold an index [`check_schema`] left unchecked (one
/// auditlens does not make, or one of its own that was redefined).
pub(super) fn tables_with_unchecked_indexes(
    schema: &[SchemaObject],
    checked: &[&KnownIndex],
) -> Vec<String> {
    let mut tables: Vec<String> = schema
        .iter()
        .filter(|o| o.kind == "index" && !checked.iter().any(|ix| ix.name == o.name))
        .map(|o| o.table.clone())
        .collect();
    tables.sort();
    tables.dedup();
    tables
}

/// SQLite's own check of `table`'s indexes as their definitions say: a
/// redefined index whose entries do not follow its new definition lies to
/// any tool that queries through it, as a tampered one does.
pub(super) fn sqlite_check(archive: &Archive, table: &str) -> Vec<Finding> {
    match archive.sqlite_check(table) {
        Ok(problems) => problems
            .into_iter()
            .map(|p| {
                // SQLite names the row in "row N missing from index X".
                let seq = (table == "entries")
                    .then(|| {
                        p.strip_prefix("row ")?
                            .split(' ')
                            .next()?
                            .parse::<u64>()
                            .ok()
                    })
                    .flatten();
                Finding::new(
                    FindingKind::SqliteIndexMismatch,
                    seq,
                    format!(
                        "SQLite's own check of the table {table} and its indexes as the schema \
                         now defines them: {p}"
                    ),
                )
            })
            .collect(),
        Err(e) => vec![Finding::new(
            FindingKind::SchemaAltered,
            None,
            format!(
                "the indexes on {table} that auditlens does not make (or that were redefined) \
                 cannot be checked by SQLite ({}): their contents are not proven",
                e.0
            ),
        )],
    }
}

/// "an index", "a trigger": the schema object's kind with its article.
fn with_article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

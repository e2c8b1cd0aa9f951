//! The words of a verification: the verdict sentence and what each finding
//! means. The CLI (`verify`, `consistency`), the viewer (banner, findings
//! list, detail pane) and the auditor report (HTML and `report.json`) print
//! these strings and word nothing of their own, so the three say the same
//! thing about the same file, in words an auditor can cite.
//!
//! The strings are raw: names and ids in them come from the file. Each
//! surface shows them through [`crate::safe_text`] (and the report then
//! escapes HTML); the JSON outputs carry them as they are.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::verify::AnchorInfo;
use crate::verify::{
    CheckpointStatus, Finding, FindingKind, NotProven, Report, Status, VerifyError,
};

/// The verdict on a raw platform export, which carries nothing to verify.
pub const UNSEALED: &str = "UNSEALED: a platform export carries no hash chain, so there is nothing \
                            to verify; ingest it into an archive to seal it";

/// The verdict when verification was stopped before it finished.
pub const CANCELLED: &str =
    "CANCELLED: verification was stopped before it finished; nothing was concluded";

/// The verdict of a finished verification, as one sentence: the outcome, then
/// the checkpoint, then its signature, joined by "; ".
pub fn sentence(report: &Report, anchor: Option<&AnchorInfo>) -> String {
    let mut parts = vec![outcome(report)];
    parts.extend(checkpoint(report));
    parts.extend(anchor.map(signature));
    parts.join("; ")
}

/// The verdict when verification could not run (exit code 2): why, or [`CANCELLED`].
pub fn not_run(e: &VerifyError) -> String {
    match e {
        VerifyError::Cannot(reason) => could_not_verify(reason),
        VerifyError::Cancelled => CANCELLED.to_string(),
    }
}

/// The verdict when verification could not run, for `reason`.
pub fn could_not_verify(reason: &str) -> String {
    format!("COULD NOT VERIFY: {reason}")
}

/// INTACT or TAMPERED, with the entries examined and the findings counted by kind.
pub fn outcome(r: &Report) -> String {
    let entries = count(r.entries, "entry", "entries");
    let kinds = |warnings: bool| {
        r.counts
            .iter()
            .filter(|(k, n)| k.is_warning() == warnings && *n > 0)
            .map(|(k, n)| format!("{} {}", thousands(*n), k.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let warnings = match r.warnings() {
        0 => String::new(),
        n => format!("{} ({})", count(n, "warning", "warnings"), kinds(true)),
    };
    match r.status() {
        Status::Intact => {
            let head = r
                .head
                .map(|h| format!(", chain head {}…", &h.to_hex()[..16]))
                .unwrap_or_default();
            // Nothing wrong was found, but nothing was proven either: say so first.
            let intact = match r.not_proven {
                Some(n) if n != NotProven::Empty => "INTACT as far as can be told",
                _ => "INTACT",
            };
            if warnings.is_empty() {
                format!("{intact}: {entries} verified{head}")
            } else {
                format!("{intact} with {warnings}: {entries} verified{head}")
            }
        }
        Status::Tampered => {
            let problems = count(r.problems(), "problem", "problems");
            let also = if warnings.is_empty() {
                String::new()
            } else {
                format!(" and {warnings}")
            };
            format!("TAMPERED: {problems} in {entries} ({}){also}", kinds(false))
        }
    }
}

/// How the entries compared with the checkpoint; `None` for an export that
/// names no checkpoint (nothing to say beyond the outcome).
pub fn checkpoint(r: &Report) -> Option<String> {
    if let Some(n) = r.not_proven {
        return Some(not_proven(n, r));
    }
    Some(match &r.checkpoint {
        None if r.format == crate::source::Format::Archive => {
            "no checkpoint given: a cut-off tail or a rewritten chain cannot be ruled out"
                .to_string()
        }
        None => return None,
        Some(CheckpointStatus::Matches { size, added }) => format!(
            "checkpoint matches its {}, {} added since",
            count(*size, "entry", "entries"),
            count(*added, "entry", "entries")
        ),
        Some(CheckpointStatus::Fails) => "checkpoint DOES NOT MATCH: see the findings".to_string(),
        Some(CheckpointStatus::NotCovered) => {
            let proofs_checked = r.counts.iter().any(|(k, n)| {
                *n > 0 && matches!(k, FindingKind::InclusionFailed | FindingKind::Unproven)
            });
            if proofs_checked {
                "not every entry is proven against the checkpoint: see the findings".to_string()
            } else if r.problems() > 0 {
                "checkpoint not checked: the entries do not run whole from seq 1 (see the \
                 findings)"
                    .to_string()
            } else {
                "checkpoint not reached: this export ends before the checkpoint's last entry, and \
                 its entries carry no inclusion proofs (made before auditlens had them; export it \
                 again to prove each entry)"
                    .to_string()
            }
        }
        Some(CheckpointStatus::Proven { size, entries }) => format!(
            "subset: {} proven against the checkpoint of archive {} (size {})",
            count(*entries, "entry", "entries"),
            r.archive_id.map(|i| i.to_string()).unwrap_or_default(),
            thousands(*size)
        ),
    })
}

/// Why nothing was proven about an export's entries, though nothing wrong was found.
pub fn not_proven(n: NotProven, r: &Report) -> String {
    match n {
        NotProven::NoSidecar => "NOT PROVEN: the CSV export's proof sidecar (the file named like \
             it plus .proof.json) is missing, so no entry is proven against a checkpoint and a \
             forged or rewritten export cannot be ruled out; keep the sidecar beside the CSV"
            .to_string(),
        NotProven::NoCheckpoint => "NOT PROVEN: the export names no checkpoint, so no entry is \
             proven against one; give the archive's checkpoint with --checkpoint"
            .to_string(),
        NotProven::NoProofs => "NOT PROVEN: its entries carry no inclusion proofs (an export made \
             before auditlens had them), so none is proven against its checkpoint; export it \
             again to prove each entry"
            .to_string(),
        NotProven::Empty => format!(
            "empty export: no entries, so nothing to prove against the checkpoint of archive {}{}",
            r.archive_id.map(|i| i.to_string()).unwrap_or_default(),
            match &r.checkpoint {
                Some(CheckpointStatus::NotCovered) => "",
                _ => " (see the findings)",
            }
        ),
    }
}

/// Who signed the checkpoint the verification was anchored to, and whether
/// the signatures verify against the verifier keys given.
pub fn signature(a: &AnchorInfo) -> String {
    let what = &a.what;
    let names = |v: &[String]| v.join(", ");
    match &a.check {
        None if a.signers.is_empty() => format!("{what} is not signed"),
        None => format!(
            "{what} is signed by {}, not checked: no verifier key given",
            names(&a.signers)
        ),
        Some(c) if !c.failed.is_empty() => format!(
            "{what}: the signature by {} DOES NOT VERIFY",
            names(&c.failed)
        ),
        Some(c) if c.accepted() => {
            format!("{what}: the signature by {} verified", names(&c.verified))
        }
        Some(_) if a.signers.is_empty() => {
            format!("{what} is NOT SIGNED, and a signature by a given key was required")
        }
        Some(_) => format!(
            "{what} is signed by {}, NOT by any key given",
            names(&a.signers)
        ),
    }
}

/// The verdict of `auditlens consistency`: does the archive extend the old checkpoint?
pub fn consistency(consistent: bool, old_size: u64, added: u64, problems: u64) -> String {
    if consistent {
        format!(
            "CONSISTENT: the archive extends the old checkpoint's {}, {} added since",
            count(old_size, "entry", "entries"),
            count(added, "entry", "entries")
        )
    } else {
        format!(
            "NOT CONSISTENT with the old checkpoint: {} (see the findings)",
            count(problems, "problem", "problems")
        )
    }
}

/// The sentence for a saved consistency proof checked between two
/// checkpoints, without the archive (`consistency --old --new --proof`).
pub fn checkpoints_consistency(
    consistent: bool,
    old_size: u64,
    new_size: u64,
    problems: u64,
) -> String {
    if consistent {
        format!(
            "CONSISTENT: the new checkpoint ({}) extends the old one ({}), as the proof shows",
            count(new_size, "entry", "entries"),
            count(old_size, "entry", "entries")
        )
    } else {
        format!(
            "NOT CONSISTENT: the proof does not show that the new checkpoint extends the old one: {} (see the findings)",
            count(problems, "problem", "problems")
        )
    }
}

/// One finding in one line: kind, where, what the verifier saw there, and the
/// expected and found values with what each one is.
pub fn describe(f: &Finding) -> String {
    let mut s = f.kind.as_str().to_string();
    if let Some(seq) = f.seq {
        let _ = write!(s, " at seq {seq}");
    }
    if let Some(id) = &f.entry_id {
        let _ = write!(s, " (entry id {id})");
    }
    let _ = write!(s, ": {}", f.message);
    if let (Some(e), Some(g)) = (&f.expected, &f.found) {
        match value_labels(f.kind) {
            Some((le, lf)) => {
                let _ = write!(s, "; expected {e} ({le}), found {g} ({lf})");
            }
            None => {
                let _ = write!(s, "; expected {e}, found {g}");
            }
        }
    }
    s
}

/// What the expected and the found value of a finding of this kind are.
pub fn value_labels(kind: FindingKind) -> Option<(&'static str, &'static str)> {
    use FindingKind as K;
    Some(match kind {
        K::RecordModified => (
            "the leaf hash sealed with it",
            "the hash of the record stored now",
        ),
        K::LeafHashChanged => ("the hash of the record", "the stored leaf hash"),
        K::ChainBroken => (
            "the chain hash that follows from the previous entry",
            "the stored chain hash",
        ),
        K::MissingEntries => ("the next seq", "the next seq present"),
        K::ForeignEntry => ("the stored leaf hash", "the hash of the record at this seq"),
        K::Misplaced => ("the seq it belongs at", "the seq it is stored at"),
        K::DuplicateEntry => ("the first seq with this id", "the seq of the copy"),
        K::IndexMismatch => ("the value in the hashed record", "the value in the column"),
        K::SqliteIndexMismatch => ("the key in the table", "the key in the index"),
        K::Truncated => ("the checkpoint's size", "the last seq present"),
        K::Rewritten => ("what the checkpoint records", "what the entries give now"),
        K::ExportIncomplete => ("the count in the export's footer", "the entries read"),
        K::TimeBackwards => ("the previous entry's time or later", "this entry's time"),
        K::UnreadableRecord
        | K::WrongArchive
        | K::OutOfOrder
        | K::InclusionFailed
        | K::Unproven
        | K::SignatureInvalid
        | K::NotSigned
        | K::ProtectionRemoved
        | K::SchemaAltered
        | K::NonCanonicalRecord => return None,
        K::AnchorMismatch => ("the checkpoint given", "the export's own checkpoint"),
        K::UnguardedCell => ("the cell with its ' guard", "the cell as written"),
        K::IndexRootMismatch => ("the checkpoint's index root", "the root the records give"),
        K::CompletenessFailed => return None,
        K::OutsideFilter => ("what the stated filter selects", "this entry's value"),
    })
}

/// What a finding of this kind means, for someone who has not read the format.
pub fn meaning(kind: FindingKind) -> &'static str {
    use FindingKind as K;
    match kind {
        K::RecordModified => {
            "The entry's record was changed after it was sealed: its bytes no longer hash to the \
             leaf hash stored with it."
        }
        K::LeafHashChanged => {
            "The leaf hash stored with the entry was changed; the record itself still links into \
             the chain."
        }
        K::ChainBroken => {
            "The stored chain hash does not follow from the previous entry: a hash was edited, or \
             an entry before it was removed or inserted."
        }
        K::MissingEntries => "Sequence numbers are missing: entries were deleted.",
        K::ForeignEntry => {
            "The entry does not belong at its position: it was inserted, forged or moved there."
        }
        K::Misplaced => "The entry belongs at another position: entries were swapped or moved.",
        K::DuplicateEntry => "The same entry id is stored twice.",
        K::IndexMismatch => {
            "A column kept for fast filtering disagrees with the hashed record: the table would \
             show a value that was never sealed."
        }
        K::SqliteIndexMismatch => {
            "A SQLite index of the archive disagrees with its table: it has no entry for a row, \
             lists one under another key or twice, or lists a row that is not there. A query \
             through it (by another tool) would miss or invent entries."
        }
        K::SchemaAltered => {
            "The archive's schema holds an index, trigger, view or table auditlens does not make, \
             defines one of its objects differently, or lacks one that is not protective."
        }
        K::UnreadableRecord => "The record cannot be read as an audit-log entry.",
        K::Truncated => {
            "The file holds fewer entries than the checkpoint records: its tail was cut off."
        }
        K::Rewritten => {
            "The entries up to the checkpoint's size are not the ones it records: history was \
             rewritten."
        }
        K::WrongArchive => "The checkpoint, or a row of the export, names another archive.",
        K::ExportIncomplete => {
            "The export holds another number of entries than its footer states, or it is cut short."
        }
        K::OutOfOrder => "The export's entries are not in increasing seq order.",
        K::InclusionFailed => {
            "The entry's inclusion proof does not lead to the checkpoint's root: it is not an \
             entry of the archive the checkpoint describes, as it was then."
        }
        K::Unproven => {
            "The entry lacks the inclusion proof the export promises, or the proof cannot be read: \
             it is not proven to belong to the archive."
        }
        K::SignatureInvalid => {
            "A signature by a given key does not verify, or the signature lines are malformed: the \
             checkpoint was changed after it was signed, or the signature was damaged."
        }
        K::NotSigned => {
            "Verifier keys were given but none of them signed the checkpoint: it is not proven to \
             come from them."
        }
        K::ProtectionRemoved => {
            "Triggers or indexes that guard the archive against ordinary edits were removed \
             (a warning: the hashes still decide)."
        }
        K::TimeBackwards => {
            "The entry's time is earlier than the previous entry's (a warning: clocks and \
             batching can cause it)."
        }
        K::AnchorMismatch => {
            "The export's own checkpoint is not the checkpoint given to verify it against: \
             another root, chain head or archive at the same size, or another size with nothing \
             in the export linking the two. Its entries are not proven against the checkpoint \
             given."
        }
        K::UnguardedCell => {
            "A CSV cell starts with a formula character (= + - @ tab CR) without the ' guard \
             auditlens writes before it: the cell was edited after export, and a spreadsheet \
             would run it as a formula."
        }
        K::NonCanonicalRecord => {
            "The record's hashes are correct, but its bytes are not what auditlens seals: not \
             the canonical form of the entry it reads as (an escape, a time, an empty field or \
             whitespace written another way), or over a limit of depth or size. Another writer \
             made it, or someone who recomputed the hashes."
        }
        K::IndexRootMismatch => {
            "An index root in the checkpoint is not the one the archive's records give: the \
             checkpoint's signer committed to an index that misstates the entries (so a \
             complete export proven against it could hide entries), or the entries changed."
        }
        K::CompletenessFailed => {
            "The export claims to hold every entry its filter selects, and that claim does not \
             hold: an entry of the proven range is missing or was added, its stated filter is \
             not the range proven, or the range proof does not lead to the checkpoint's index \
             root."
        }
        K::OutsideFilter => {
            "The export states the filter it was made with, and this entry does not match it: \
             the stated filter was narrowed after export (so it misdescribes what the file \
             holds), or the entry was added. A filter that cannot be read is this finding too."
        }
    }
}

/// The words as JSON, added to a verification report object (`verify --json`,
/// `report.json`): `verdict` (the sentence, its parts, and what each kind of
/// finding present means) and each finding's `description`. `j` is [`crate::verify::report_json`] of `r`.
pub fn add_to_json(j: &mut Value, r: &Report, anchor: Option<&AnchorInfo>) {
    j["verdict"] = json!({
        "sentence": sentence(r, anchor),
        "outcome": outcome(r),
        "checkpoint": checkpoint(r),
        "signature": anchor.map(signature),
        "meanings": r
            .counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| (k.as_str().to_string(), Value::from(meaning(*k))))
            .collect::<serde_json::Map<_, _>>(),
    });
    if let Some(findings) = j["findings"].as_array_mut() {
        for (fj, f) in findings.iter_mut().zip(&r.findings) {
            fj["description"] = describe(f).into();
        }
    }
}

/// `n` with its noun, singular or plural: "1 entry", "3,000 entries".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `n` with thousands separators: 1,000,000.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ArchiveId, Hash};
    use crate::checkpoint::Checkpoint;
    use crate::note::SignatureCheck;
    use crate::source::Format;

    fn report(counts: Vec<(FindingKind, u64)>, checkpoint: Option<CheckpointStatus>) -> Report {
        Report {
            format: Format::Archive,
            archive_id: Some(ArchiveId([7; 16])),
            entries: 3000,
            record_bytes: 0,
            findings: vec![],
            counts,
            head: Some(Hash([0xab; 32])),
            root: None,
            checkpoint,
            not_proven: None,
            complete: None,
            not_complete: None,
            elapsed: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn outcomes_count_entries_and_findings_by_kind() {
        let r = report(vec![], None);
        assert_eq!(
            sentence(&r, None),
            "INTACT: 3,000 entries verified, chain head abababababababab…; no checkpoint given: \
             a cut-off tail or a rewritten chain cannot be ruled out"
        );
        let r = report(vec![(FindingKind::ProtectionRemoved, 2)], None);
        assert!(outcome(&r).starts_with("INTACT with 2 warnings (2 protection_removed): 3,000"));
        let r = report(
            vec![
                (FindingKind::RecordModified, 1),
                (FindingKind::ChainBroken, 1_204),
                (FindingKind::TimeBackwards, 1),
            ],
            Some(CheckpointStatus::Fails),
        );
        assert_eq!(
            sentence(&r, None),
            "TAMPERED: 1,205 problems in 3,000 entries (1 record_modified, 1,204 chain_broken) \
             and 1 warning (1 time_backwards); checkpoint DOES NOT MATCH: see the findings"
        );
    }

    #[test]
    fn signature_words_cover_every_case() {
        let a = |signers: &[&str], check: Option<SignatureCheck>| AnchorInfo {
            what: "the checkpoint file".into(),
            checkpoint: Checkpoint {
                archive_id: ArchiveId([7; 16]),
                size: 3,
                root: Hash([1; 32]),
                head: Hash([2; 32]),
                indexes: None,
            },
            signers: signers.iter().map(|s| s.to_string()).collect(),
            check,
        };
        let check = |verified: &[&str], failed: &[&str]| SignatureCheck {
            verified: verified.iter().map(|s| s.to_string()).collect(),
            failed: failed.iter().map(|s| s.to_string()).collect(),
            unknown: vec![],
        };
        let cases = [
            (a(&[], None), "the checkpoint file is not signed"),
            (
                a(&["auditor"], None),
                "the checkpoint file is signed by auditor, not checked: no verifier key given",
            ),
            (
                a(&["auditor"], Some(check(&["auditor"], &[]))),
                "the checkpoint file: the signature by auditor verified",
            ),
            (
                a(&["auditor", "x"], Some(check(&["x"], &["auditor"]))),
                "the checkpoint file: the signature by auditor DOES NOT VERIFY",
            ),
            (
                a(&[], Some(check(&[], &[]))),
                "the checkpoint file is NOT SIGNED, and a signature by a given key was required",
            ),
            (
                a(&["someone"], Some(check(&[], &[]))),
                "the checkpoint file is signed by someone, NOT by any key given",
            ),
        ];
        for (anchor, want) in cases {
            assert_eq!(signature(&anchor), want);
        }
    }

    #[test]
    fn a_description_names_the_place_and_what_each_value_is() {
        let f = Finding {
            kind: FindingKind::RecordModified,
            seq: Some(12),
            entry_id: Some("e12".into()),
            expected: Some("aa".into()),
            found: Some("bb".into()),
            message: "the record was changed".into(),
        };
        assert_eq!(
            describe(&f),
            "record_modified at seq 12 (entry id e12): the record was changed; expected aa \
             (the leaf hash sealed with it), found bb (the hash of the record stored now)"
        );
        let f = Finding {
            kind: FindingKind::ProtectionRemoved,
            seq: None,
            entry_id: None,
            expected: None,
            found: None,
            message: "trigger t was removed".into(),
        };
        assert_eq!(describe(&f), "protection_removed: trigger t was removed");
    }

    #[test]
    fn numbers_are_grouped_and_nouns_agree() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(count(1, "entry", "entries"), "1 entry");
        assert_eq!(count(0, "entry", "entries"), "0 entries");
    }
}

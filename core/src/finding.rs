//! What verification reports: a finding says what is wrong, where (seq and
//! entry id) and, where it applies, the expected and the found value.
//!
//! Its own module, below everything that reports findings (verification of
//! archives and exports, proofs, signatures), so that none of them has to
//! import another to speak of what it found.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// The record's bytes no longer match the leaf hash stored beside it.
    RecordModified,
    /// The stored leaf hash was changed (the record still links correctly).
    LeafHashChanged,
    /// The stored chain hash does not follow from the previous entry.
    ChainBroken,
    /// Sequence numbers are missing: entries were deleted.
    MissingEntries,
    /// An entry that does not belong at this position (inserted or forged).
    ForeignEntry,
    /// An entry that belongs at another position (two entries swapped or moved).
    Misplaced,
    /// The same entry id stored twice.
    DuplicateEntry,
    /// A denormalised column disagrees with the hashed record.
    IndexMismatch,
    /// A SQLite index of the archive disagrees with its table: it lacks a
    /// row, lists one under another key or twice, or lists a row that is not
    /// there (so a query through the index would hide or invent entries).
    SqliteIndexMismatch,
    /// The record cannot be read as an entry.
    UnreadableRecord,
    /// Fewer entries than the checkpoint records: the tail was cut off.
    Truncated,
    /// The entries up to the checkpoint's size differ from what it records.
    Rewritten,
    /// The checkpoint names another archive.
    WrongArchive,
    /// An export's entry count disagrees with its footer, or it is cut short.
    ExportIncomplete,
    /// Entries of an export are not in increasing seq order.
    OutOfOrder,
    /// An exported entry's inclusion proof does not lead to the checkpoint's root.
    InclusionFailed,
    /// An exported entry lacks the inclusion proof the export promises, or it is unreadable.
    Unproven,
    /// A checkpoint signature by a given key does not verify, or the signature lines are malformed.
    SignatureInvalid,
    /// Keys were given but no given key signed the checkpoint.
    NotSigned,
    /// Protective triggers or indexes were removed (warning).
    ProtectionRemoved,
    /// The schema holds an object auditlens does not make (an index,
    /// trigger, view or table), or defines one of its objects differently,
    /// or lacks one that is not protective (warning: another program changed
    /// the file; the entries are judged by their hashes).
    SchemaAltered,
    /// An entry's time is earlier than the previous entry's (warning).
    TimeBackwards,
    /// `verify EXPORT --checkpoint C`: the export's own checkpoint is not C
    /// (another root, chain head or archive at the same size, or another size
    /// with nothing in the export linking the two).
    AnchorMismatch,
    /// A CSV export cell that auditlens would have written with the `'`
    /// guard (a value starting with a formula character) appears without it:
    /// a spreadsheet would run it as a formula.
    UnguardedCell,
    /// A stored record whose hashes are correct but whose bytes are not the
    /// canonical record of the entry it reads as, or that is over a limit
    /// (depth, size): not what ingest seals (docs/FORMAT.md §2–3).
    NonCanonicalRecord,
    /// `verify ARCHIVE --checkpoint C`: an index root of C is not the one the
    /// archive's records give (the signer lied in an index, or the entries changed).
    IndexRootMismatch,
    /// A complete export's completeness proof does not hold: an entry of the
    /// proven range is missing, one outside it was added, the stated filter
    /// is not the range proven, or the range proof does not lead to the
    /// checkpoint's index root.
    CompletenessFailed,
    /// A filtered export holds an entry that its stated filter does not
    /// select (the filter was narrowed after export, or the entry added), or
    /// states a filter that cannot be read.
    OutsideFilter,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::RecordModified => "record_modified",
            FindingKind::LeafHashChanged => "leaf_hash_changed",
            FindingKind::ChainBroken => "chain_broken",
            FindingKind::MissingEntries => "missing_entries",
            FindingKind::ForeignEntry => "foreign_entry",
            FindingKind::Misplaced => "misplaced_entry",
            FindingKind::DuplicateEntry => "duplicate_entry",
            FindingKind::IndexMismatch => "index_mismatch",
            FindingKind::SqliteIndexMismatch => "sqlite_index_mismatch",
            FindingKind::UnreadableRecord => "unreadable_record",
            FindingKind::Truncated => "truncated",
            FindingKind::Rewritten => "rewritten",
            FindingKind::WrongArchive => "wrong_archive",
            FindingKind::ExportIncomplete => "export_incomplete",
            FindingKind::OutOfOrder => "out_of_order",
            FindingKind::InclusionFailed => "inclusion_failed",
            FindingKind::Unproven => "unproven_entry",
            FindingKind::SignatureInvalid => "bad_signature",
            FindingKind::NotSigned => "not_signed",
            FindingKind::ProtectionRemoved => "protection_removed",
            FindingKind::SchemaAltered => "schema_altered",
            FindingKind::TimeBackwards => "time_backwards",
            FindingKind::AnchorMismatch => "anchor_mismatch",
            FindingKind::UnguardedCell => "unguarded_cell",
            FindingKind::NonCanonicalRecord => "non_canonical_record",
            FindingKind::IndexRootMismatch => "index_root_mismatch",
            FindingKind::CompletenessFailed => "completeness_failed",
            FindingKind::OutsideFilter => "outside_filter",
        }
    }

    /// Warnings are reported but do not make the archive "tampered".
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            FindingKind::ProtectionRemoved
                | FindingKind::SchemaAltered
                | FindingKind::TimeBackwards
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub seq: Option<u64>,
    pub entry_id: Option<String>,
    pub expected: Option<String>,
    pub found: Option<String>,
    pub message: String,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, seq: Option<u64>, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            seq,
            entry_id: None,
            expected: None,
            found: None,
            message: message.into(),
        }
    }

    pub(crate) fn id(mut self, id: Option<&str>) -> Self {
        self.entry_id = id.map(str::to_string);
        self
    }

    pub(crate) fn values(mut self, expected: impl ToString, found: impl ToString) -> Self {
        self.expected = Some(expected.to_string());
        self.found = Some(found.to_string());
        self
    }
}

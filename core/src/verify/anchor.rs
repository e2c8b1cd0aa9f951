//! Which checkpoint an export is verified against (docs/FORMAT.md §9,
//! "Verifying an export against a checkpoint").
//!
//! A checkpoint the user gives (`verify EXPORT --checkpoint C`) is the
//! anchor: it was kept apart from the export, while the export's own
//! checkpoint travels inside the file and can be forged with it. So every
//! entry must be proven against C, and an export whose own checkpoint is not
//! C fails with `anchor_mismatch` unless the export itself links the two
//! (only an export of every entry can: its leaves rebuild C's root at C's
//! size). Without C, the export's own checkpoint is the anchor.

use crate::chain::Hash;
use crate::checkpoint::Checkpoint;
use crate::finding::{Finding, FindingKind};

pub(super) struct Anchor {
    /// The checkpoint given by the user.
    given: Option<Checkpoint>,
    /// The checkpoint the export names (its header, or the CSV's sidecar).
    own: Option<Checkpoint>,
    /// The export holds every entry of its checkpoint (`"proofs":"rfc6962-root"`).
    whole: bool,
}

impl Anchor {
    pub(super) fn new(given: Option<&Checkpoint>, own: Option<&Checkpoint>, whole: bool) -> Self {
        Anchor {
            given: given.cloned(),
            own: own.cloned(),
            whole,
        }
    }

    /// The checkpoint the chain walk checks the entries against (chain head,
    /// and root when the export is complete from seq 1): the export's own,
    /// which shows whether the file agrees with itself; for an export of
    /// every entry, a smaller given checkpoint (its leaves prove C's root and
    /// head at C's size; the export's own is then checked by [`Self::mismatch`]);
    /// the given one when the export names none.
    pub(super) fn walk(&self) -> Option<&Checkpoint> {
        match (&self.given, &self.own) {
            (Some(c), Some(e)) if self.whole && c.size < e.size => Some(c),
            (_, Some(e)) => Some(e),
            (c, None) => c.as_ref(),
        }
    }

    /// The checkpoint each inclusion proof is checked against: the given one,
    /// unless the export's proofs were made for another tree (another size or
    /// archive), where they cannot lead to C's root; they are then checked
    /// against the export's own checkpoint, so damage is still located, and
    /// the entries are not proven against C ([`Self::proofs_on_given`]).
    pub(super) fn proofs(&self) -> Option<&Checkpoint> {
        match (&self.given, &self.own) {
            (Some(c), Some(e)) if !same_tree_shape(c, e) => Some(e),
            (Some(c), _) => Some(c),
            (None, e) => e.as_ref(),
        }
    }

    /// Was a checkpoint given?
    pub(super) fn given(&self) -> bool {
        self.given.is_some()
    }

    /// Does the chain walk check the given checkpoint (so that, when it
    /// matches, the export's leaves prove every entry up to its size)?
    pub(super) fn walk_on_given(&self) -> bool {
        // The same log: index roots that only one of them carries change nothing here.
        matches!((self.walk(), &self.given), (Some(w), Some(g)) if w.same_log(g))
    }

    /// Do the inclusion proofs lead to the given checkpoint's root (or, with
    /// none given, to the export's own)?
    pub(super) fn proofs_on_anchor(&self) -> bool {
        match (self.proofs(), &self.given) {
            (_, None) => true,
            (Some(p), Some(g)) => p.same_log(g),
            (None, Some(_)) => false,
        }
    }

    /// The finding for an entry of a subset that ended not proven against the
    /// given checkpoint although its own proof check found nothing wrong.
    pub(super) fn unproven_entry(&self, seq: u64, id: &str, carries_proofs: bool) -> Finding {
        let message = match (&self.given, &self.own) {
            (Some(c), Some(e)) if !self.proofs_on_anchor() => format!(
                "its inclusion proof leads to the export's own checkpoint ({} entries of archive {}), \
                 not to the checkpoint given ({} entries of archive {}), and nothing in the export \
                 links the two",
                e.size, e.archive_id, c.size, c.archive_id
            ),
            _ if carries_proofs => {
                "this entry has no inclusion proof, so it is not proven against the checkpoint given"
                    .to_string()
            }
            _ => "the export carries no inclusion proofs (a CSV export without its proof sidecar, or \
                  an export made before proofs), so this entry cannot be proven against the \
                  checkpoint given"
                .to_string(),
        };
        Finding::new(FindingKind::Unproven, Some(seq), message).id(Some(id))
    }

    /// `anchor_mismatch` when a checkpoint was given and the export's own is
    /// not it. `root` and `head` are what the export's leaves and chain give
    /// (the root only when the export is complete from seq 1), `last` its
    /// last seq: they let an export of every entry show that its own
    /// checkpoint extends a smaller given one.
    pub(super) fn mismatch(
        &self,
        root: Option<Hash>,
        head: Option<Hash>,
        last: u64,
    ) -> Option<Finding> {
        let (Some(c), Some(e)) = (&self.given, &self.own) else {
            return None;
        };
        if c.same_log(e) {
            return None;
        }
        let message = if c.archive_id != e.archive_id {
            format!(
                "the export's checkpoint is for archive {}, the checkpoint given for archive {}",
                e.archive_id, c.archive_id
            )
        } else if c.size == e.size {
            format!(
                "the export's checkpoint and the checkpoint given record different histories of the \
                 same {} entries (their root or chain head differ): the export was forged or \
                 rewritten, or the checkpoint given was",
                e.size
            )
        } else if self.whole && c.size < e.size {
            // The walk checked C against the leaves; the export's own
            // checkpoint must then describe those same leaves.
            if root == Some(e.root) && head == Some(e.head) && last == e.size {
                return None;
            }
            format!(
                "the export's own checkpoint ({} entries) is not the one its entries give",
                e.size
            )
        } else if c.size > e.size {
            format!(
                "the export was made when the archive held {} entries; the checkpoint given records \
                 {}. The export carries no consistency proof from its checkpoint to the given one, \
                 so its entries are not proven against it: prove that the given checkpoint extends \
                 the export's (`auditlens consistency`), or verify against a checkpoint of {} entries",
                e.size, c.size, e.size
            )
        } else {
            format!(
                "the export was made when the archive held {} entries, after the checkpoint given \
                 ({} entries): its inclusion proofs lead to its own checkpoint, and it carries no \
                 consistency proof linking the two",
                e.size, c.size
            )
        };
        Some(
            Finding::new(FindingKind::AnchorMismatch, None, message)
                .values(describe(c), describe(e)),
        )
    }
}

/// Do inclusion proofs made for `e` mean anything against `c`? (Same archive,
/// same size: then a proof that leads to C's root proves the entry in C.)
fn same_tree_shape(c: &Checkpoint, e: &Checkpoint) -> bool {
    c.archive_id == e.archive_id && c.size == e.size
}

fn describe(c: &Checkpoint) -> String {
    format!(
        "{} size {} root {} chain {}",
        c.origin(),
        c.size,
        c.root.to_hex(),
        c.head.to_hex()
    )
}

//! What panels ask for. A panel draws from the state and, instead of
//! changing it, pushes a [`Command`]; the viewer applies the frame's
//! commands once, in `App::logic` of the next frame (as rerun's viewer
//! does with its command queue), so drawing never changes what is drawn
//! halfway through a frame.

use std::path::PathBuf;

use auditlens_core::export::ExportFormat;
use auditlens_core::patterns::{Pattern, PatternSettings};
use auditlens_core::reconcile::Status;
use auditlens_core::row_index::SortKey;
use auditlens_core::tickets::Mapping;

use crate::app::filter_form::FilterForm;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Open a file (archive, auditlens export or platform export).
    Open(PathBuf),
    /// A dropped or typed path: a checkpoint or verifier key for the open
    /// file, else a file to open.
    OpenAny(PathBuf),
    /// Ask the system dialog for a file to open (or show the path field).
    PickOpen,
    /// Ask for a checkpoint file and verify against it.
    PickCheckpoint,
    /// Ask for a verifier key (KEY.pub) and verify again.
    PickVerifierKey,
    /// Ask where to save the sealed archive of an unsealed export.
    PickSealedArchive,
    /// Ask where to write the auditor report, and write it.
    PickReport,
    /// Ask the system dialog for the export window's destination.
    PickExportPath,
    /// Verify the open file again.
    Verify,
    CancelVerify,
    /// Export the shown entries.
    Export {
        out: PathBuf,
        format: ExportFormat,
        /// The save dialog chose `out` (it asked before returning an
        /// existing file), so that file may be replaced; a typed one not.
        confirmed: bool,
        /// Export what the filter selects with its completeness proof
        /// (docs/FORMAT.md §14) rather than the rows shown one by one.
        complete: bool,
    },
    CancelExport,
    /// The filter as the filter panel now has it.
    SetFilter(FilterForm),
    /// Clear the search text (Esc).
    ClearSearch,
    /// Show the time range `[from, to)` (ms), as dragged on the timeline;
    /// `None`: every time again.
    SetTimeRange(Option<(i64, i64)>),
    /// Back to every entry: no filter, no restriction.
    ClearFilters,
    /// Everything the actor with this key did.
    ShowActor(String),
    TogglePattern(Pattern),
    ToggleBookmarkedOnly,
    /// Drop the restriction to a pattern's hits or the bookmarks.
    ShowAll,
    SetPatternSettings(PatternSettings),
    /// A click on a column header.
    Sort(SortKey),
    /// Select a display row and scroll it into view (keys, jumps).
    SelectRow(usize),
    /// A click on a row (in view already).
    ClickRow(usize),
    /// Select an entry by seq, clearing the filter if it hides it.
    SelectSeq(u64),
    Deselect,
    /// Change the case notes of an entry (saved beside the archive).
    EditMark {
        seq: u64,
        entry_id: String,
        edit: MarkEdit,
    },
    ToggleTheme,
    ToggleLocalTime,
    DismissError,
    /// Open the export window (widget state, applied to the panel).
    ShowExportWindow,
    /// Ask the system dialog for a change-ticket file (or use the Change tickets panel's path field).
    PickTickets,
    /// Read approved change tickets and reconcile the production changes
    /// with them; `map` names columns (empty: remembered or recognised).
    LoadTickets {
        path: PathBuf,
        map: Mapping,
    },
    /// Forget the change tickets.
    ClearTickets,
    /// Show only the production changes with this status; again to show everything.
    ToggleChanges(Status),
    /// Every entry on this resource, oldest first, with the diffs chained.
    ShowHistory {
        label: String,
        resource_type: String,
        resource_id: String,
        /// The project the resource belongs to (an id is unique within one).
        project_id: Option<String>,
    },
    CloseHistory,
    /// What this identity touched, and who came after it.
    ShowBlastRadius(String),
    /// Show only these entries (a blast radius's subset) under `label`.
    RestrictTo {
        label: String,
        seqs: Vec<u64>,
    },
    /// Ask for a directory of names (members, API keys, projects).
    PickDirectory,
    /// Load names from this directory file and remember them beside the archive.
    LoadDirectory(PathBuf),
}

/// A change to one entry's case notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkEdit {
    Bookmark(bool),
    Notes { tags: Vec<String>, note: String },
}

/// The commands of one frame, in the order they were given.
#[derive(Default)]
pub struct Commands(Vec<Command>);

impl Commands {
    pub fn push(&mut self, c: Command) {
        self.0.push(c);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.0)
    }
}

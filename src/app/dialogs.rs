//! File pickers, behind a trait so tests can bypass the system dialog.

use std::path::PathBuf;

pub trait FileDialogs {
    fn pick_open(&mut self) -> Option<PathBuf>;
    fn pick_save(&mut self, default_name: &str) -> Option<PathBuf>;
}

/// The system dialogs (rfd). Without a desktop portal they return `None` and
/// the viewer offers a path field instead.
pub struct SystemDialogs;

impl FileDialogs for SystemDialogs {
    fn pick_open(&mut self) -> Option<PathBuf> {
        rfd::FileDialog::new()
            .add_filter(
                "Archives and exports",
                &["sqlite", "db", "json", "jsonl", "ndjson", "csv"],
            )
            .add_filter("All files", &["*"])
            .pick_file()
    }
    fn pick_save(&mut self, default_name: &str) -> Option<PathBuf> {
        rfd::FileDialog::new()
            .set_file_name(default_name)
            .save_file()
    }
}

/// Dialogs that never answer: the path fields are used instead (tests).
pub struct NoDialogs;

impl FileDialogs for NoDialogs {
    fn pick_open(&mut self) -> Option<PathBuf> {
        None
    }
    fn pick_save(&mut self, _: &str) -> Option<PathBuf> {
        None
    }
}

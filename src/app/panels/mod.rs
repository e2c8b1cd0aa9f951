//! The panels of the window, one small type per file. Each draws from the
//! state (read-only) and its own widget state, and pushes a
//! [`Command`](crate::app::command::Command) for anything it wants changed.

pub mod actor_summary;
pub mod banner;
pub mod case_notes;
pub mod detail;
pub mod error_modal;
pub mod export_window;
pub mod filters;
pub mod history;
pub mod open_window;
pub mod patterns;
pub mod status_bar;
pub mod table;
pub mod tickets;
pub mod timeline;
pub mod top_bar;

use eframe::egui;
use egui::Color32;

pub use actor_summary::ActorSummary;
pub use banner::Banner;
pub use detail::DetailPane;
pub use error_modal::ErrorModal;
pub use export_window::ExportWindow;
pub use filters::FilterPanel;
pub use history::HistoryWindow;
pub use open_window::OpenWindow;
pub use status_bar::StatusBar;
pub use table::TablePanel;
pub use timeline::Timeline;
pub use top_bar::TopBar;

/// The colour of problems and errors.
pub const ERROR_COLOR: Color32 = Color32::from_rgb(220, 70, 70);

/// 1234567 → "1,234,567".
pub use auditlens_core::verdict::thousands;

/// A time in UTC (or local time) with milliseconds.
pub fn format_time(ms: i64, local: bool) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    if local {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S%.3f %:z")
            .to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    }
}

/// A progress bar for `done` of `total` (empty while the total is unknown).
pub fn progress_bar(ui: &mut egui::Ui, done: u64, total: u64, width: f32) {
    let frac = if total > 0 {
        done as f32 / total as f32
    } else {
        0.0
    };
    ui.add(
        egui::ProgressBar::new(frac)
            .desired_width(width)
            .show_percentage(),
    );
}

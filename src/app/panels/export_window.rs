//! The export window: format, destination, progress, cancel, outcome.

use eframe::egui;
use egui::{Color32, TextEdit};

use super::{ERROR_COLOR, thousands};
use crate::app::command::{Command, Commands};
use crate::app::state::{AppState, task};
use auditlens_core::export::ExportFormat;

/// Widget state: whether the window is open, the path typed, the format.
pub struct ExportWindow {
    pub open: bool,
    pub path: String,
    /// The path the save dialog returned: the dialog asked before returning
    /// an existing file, so that one may be replaced. A typed path may not.
    pub dialog_path: Option<String>,
    pub format: ExportFormat,
    /// Prove the export complete when the filter allows it (on by default,
    /// as on the command line).
    pub complete: bool,
}

impl Default for ExportWindow {
    fn default() -> Self {
        ExportWindow {
            open: false,
            path: String::new(),
            dialog_path: None,
            format: ExportFormat::Json,
            complete: true,
        }
    }
}

impl ExportWindow {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        if !self.open {
            return;
        }
        let mut open = true;
        egui::Window::new("Export")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ui.ctx(), |ui| {
                ui.label(format!(
                    "Exports the {} entries shown, with their seq and hashes, so the file can be verified.",
                    thousands(s.view.len() as u64)
                ));
                ui.horizontal(|ui| {
                    ui.label("Format");
                    ui.radio_value(&mut self.format, ExportFormat::Json, "JSON");
                    ui.radio_value(&mut self.format, ExportFormat::Ndjson, "NDJSON");
                    ui.radio_value(&mut self.format, ExportFormat::Csv, "CSV");
                    ui.radio_value(&mut self.format, ExportFormat::Parquet, "Parquet");
                });
                let offer = s.completeness_offer();
                ui.add_enabled_ui(offer.is_ok(), |ui| {
                    ui.checkbox(
                        &mut self.complete,
                        "Prove it complete (every entry the filter selects, none left out)",
                    )
                });
                match &offer {
                    Ok(what) if self.complete => {
                        ui.label(format!("Proven complete for: {what}"));
                    }
                    Ok(_) => {
                        ui.label("Proven genuine only: each entry, not that none is missing.");
                    }
                    Err(why) => {
                        ui.label(format!("Proven genuine only: {why}."));
                    }
                }
                ui.horizontal(|ui| {
                    let l = ui.label("Save to");
                    ui.add(TextEdit::singleline(&mut self.path).desired_width(320.0))
                        .labelled_by(l.id);
                    if ui.button("Browse…").clicked() {
                        cmds.push(Command::PickExportPath);
                    }
                });
                match s.tasks.running(task::EXPORT).last() {
                    Some(job) => {
                        let (phase, done, total) = job.snapshot();
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(phase);
                            super::progress_bar(ui, done, total, 200.0);
                            if ui.button("Cancel").clicked() {
                                cmds.push(Command::CancelExport);
                            }
                        });
                    }
                    None => {
                        let path = self.path.trim();
                        if ui
                            .add_enabled(!path.is_empty(), egui::Button::new("Export"))
                            .clicked()
                        {
                            let out = std::path::PathBuf::from(path);
                            let confirmed = self.dialog_path.as_deref().map(std::path::Path::new)
                                == Some(out.as_path());
                            cmds.push(Command::Export {
                                out,
                                format: self.format,
                                confirmed,
                                complete: self.complete,
                            });
                        }
                    }
                }
                match &s.last_export {
                    Some(Ok(r)) => {
                        ui.colored_label(
                            Color32::from_rgb(60, 160, 80),
                            format!(
                                "Exported {} entries to {}",
                                thousands(r.entries),
                                r.path.display()
                            ),
                        );
                        if let Some(what) = &r.complete {
                            ui.label(format!("Proven complete: {what}"));
                        }
                    }
                    Some(Err(e)) => {
                        ui.colored_label(ERROR_COLOR, e);
                    }
                    None => {}
                }
            });
        if !open {
            self.open = false;
        }
    }
}

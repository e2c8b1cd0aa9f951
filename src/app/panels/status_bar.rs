//! Path, file hash, entry count, format, read-only, and the last notice.

use eframe::egui;
use egui::RichText;

use super::thousands;
use crate::app::state::AppState;

#[derive(Default)]
pub struct StatusBar;

impl StatusBar {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState) {
        ui.horizontal(|ui| {
            let Some(doc) = &s.doc else {
                ui.label("Ready");
                return;
            };
            ui.label(doc.path.display().to_string());
            ui.separator();
            match &doc.sha256 {
                Some(h) => {
                    ui.label(
                        RichText::new(format!("SHA-256 {}…{}", &h[..12], &h[h.len() - 6..]))
                            .monospace(),
                    )
                    .on_hover_text(h.clone());
                    if ui
                        .small_button("Copy")
                        .on_hover_text("Copy the file's SHA-256")
                        .clicked()
                    {
                        ui.ctx().copy_text(h.clone());
                    }
                }
                None => {
                    ui.label("SHA-256 …");
                }
            }
            ui.separator();
            if let Some(ix) = &doc.index {
                ui.label(format!("{} entries", thousands(ix.total)));
                ui.separator();
            }
            if let Some(f) = doc.format {
                ui.label(f.name());
                ui.separator();
            }
            ui.label(if doc.unsealed {
                "read-only · temporary archive"
            } else {
                "read-only"
            });
            if let Some(n) = &s.notice {
                ui.separator();
                ui.label(n);
            }
        });
    }
}

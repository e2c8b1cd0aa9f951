//! Open…, recent files, export, checkpoint, report, keys, theme and time zone.

use eframe::egui;
use egui::{Align, Layout};

use crate::app::command::{Command, Commands};
use crate::app::state::AppState;

#[derive(Default)]
pub struct TopBar;

impl TopBar {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        ui.horizontal(|ui| {
            ui.strong("auditlens");
            ui.separator();
            if ui.button("Open…").on_hover_text("Ctrl+O").clicked() {
                cmds.push(Command::PickOpen);
            }
            let recent = &s.settings.recent;
            ui.add_enabled_ui(!recent.is_empty(), |ui| {
                ui.menu_button("Recent", |ui| {
                    for p in recent {
                        if ui.button(p.display().to_string()).clicked() {
                            cmds.push(Command::Open(p.clone()));
                            ui.close();
                        }
                    }
                });
            });
            let doc = s.doc.as_ref();
            let has_index = doc.is_some_and(|d| d.index_complete());
            if ui
                .add_enabled(has_index, egui::Button::new("Export…"))
                .on_hover_text("Ctrl+E")
                .clicked()
            {
                cmds.push(Command::ShowExportWindow);
            }
            let sealed = doc.is_some_and(|d| !d.unsealed && d.format.is_some());
            if ui
                .add_enabled(sealed, egui::Button::new("Load checkpoint…"))
                .on_hover_text("Verify against a checkpoint stored elsewhere")
                .clicked()
            {
                cmds.push(Command::PickCheckpoint);
            }
            let sealed_archive = doc.is_some_and(|d| d.is_sealed_archive());
            if ui
                .add_enabled(sealed_archive, egui::Button::new("Report…"))
                .on_hover_text(
                    "The auditor report: one HTML page (and a JSON twin) with the file's hash, \
                     verification, checkpoint, filter, pattern hits and bookmarks",
                )
                .clicked()
            {
                cmds.push(Command::PickReport);
            }
            if ui
                .add_enabled(sealed_archive, egui::Button::new("Change tickets…"))
                .on_hover_text(
                    "Approved changes exported from Jira or ServiceNow (CSV or JSON): each \
                     production change is matched to a ticket, or flagged",
                )
                .clicked()
            {
                cmds.push(Command::PickTickets);
            }
            if ui
                .add_enabled(has_index, egui::Button::new("Add verifier key…"))
                .on_hover_text(
                    "A KEY.pub from `auditlens keygen`: checks who signed the checkpoint",
                )
                .clicked()
            {
                cmds.push(Command::PickVerifierKey);
            }
            if ui
                .add_enabled(has_index, egui::Button::new("Names…"))
                .on_hover_text(
                    "A directory exported from the platform (members, API keys, projects; CSV or \
                     JSON): names are shown beside ids, the records stay as they are",
                )
                .clicked()
            {
                cmds.push(Command::PickDirectory);
            }
            if doc.is_some_and(|d| d.unsealed && d.index.is_some())
                && ui.button("Save as sealed archive…").clicked()
            {
                cmds.push(Command::PickSealedArchive);
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let theme = if s.settings.dark {
                    "Light theme"
                } else {
                    "Dark theme"
                };
                if ui.button(theme).clicked() {
                    cmds.push(Command::ToggleTheme);
                }
                let tz = if s.settings.local_time {
                    "Local time"
                } else {
                    "UTC"
                };
                if ui
                    .button(tz)
                    .on_hover_text("Show times in UTC or local time")
                    .clicked()
                {
                    cmds.push(Command::ToggleLocalTime);
                }
            });
        });
    }
}

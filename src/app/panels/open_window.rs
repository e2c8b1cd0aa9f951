//! The typed-path fallback when no file dialog is available.

use eframe::egui;
use egui::TextEdit;

use crate::app::command::{Command, Commands};

/// Widget state: the path being typed, while the window is open.
#[derive(Default)]
pub struct OpenWindow {
    pub text: Option<String>,
}

impl OpenWindow {
    pub fn show(&mut self) {
        self.text.get_or_insert_with(String::new);
    }

    pub fn close(&mut self) {
        self.text = None;
    }

    pub fn is_open(&self) -> bool {
        self.text.is_some()
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, cmds: &mut Commands) {
        let Some(text) = &mut self.text else {
            return;
        };
        let mut keep = true;
        let mut go = false;
        egui::Window::new("Open file")
            .collapsible(false)
            .show(ui.ctx(), |ui| {
                ui.label(
                    "No file dialog is available here; type the path of an archive or export.",
                );
                ui.horizontal(|ui| {
                    let l = ui.label("Path");
                    let r = ui
                        .add(TextEdit::singleline(text).desired_width(360.0))
                        .labelled_by(l.id);
                    if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                        go = true;
                    }
                });
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() {
                        go = true;
                    }
                    if ui.button("Cancel").clicked() {
                        keep = false;
                    }
                });
            });
        if go && !text.trim().is_empty() {
            cmds.push(Command::OpenAny(std::path::PathBuf::from(text.trim())));
            keep = false;
        }
        if !keep {
            self.text = None;
        }
    }
}

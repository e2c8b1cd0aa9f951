//! A modal error message.

use eframe::egui;

use crate::app::command::{Command, Commands};
use crate::app::fonts::safe;
use crate::app::state::AppState;

#[derive(Default)]
pub struct ErrorModal;

impl ErrorModal {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(msg) = &s.error else { return };
        let modal = egui::Modal::new(egui::Id::unique("auditlens-error")).show(ui.ctx(), |ui| {
            ui.set_max_width(480.0);
            ui.heading("Cannot do that");
            ui.label(safe(ui, msg));
            ui.add_space(8.0);
            ui.button("OK").clicked()
        });
        if modal.inner || modal.should_close() {
            cmds.push(Command::DismissError);
        }
    }
}

//! A resource's history, one click from the detail pane: every entry on the
//! same resource, oldest first, each with its own change, and between two
//! entries whose states do not continue, the change the log does not hold.

use eframe::egui;
use egui::{Color32, FontFamily, RichText};

use super::{ERROR_COLOR, format_time};
use crate::app::command::{Command, Commands};
use crate::app::fonts;
use crate::app::state::{AppState, Pending};
use auditlens_core::history::{History, Link};
use auditlens_core::safe_text::{CELL_CHARS, FIELD_CHARS};

/// The history window (no widget state: what it shows is in the state).
#[derive(Default)]
pub struct HistoryWindow;

impl HistoryWindow {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some((label, pending)) = &s.investigation.history else {
            return;
        };
        let mut open = true;
        let title = fonts::shown(
            ui,
            &format!("History of {label}"),
            CELL_CHARS,
            &FontFamily::Proportional,
        );
        egui::Window::new(title)
            .id(egui::Id::unique("history_window"))
            .open(&mut open)
            .default_size([640.0, 480.0])
            .vscroll(true)
            .show(ui.ctx(), |ui| match pending {
                Pending::Running => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Reading every entry on this resource…");
                    });
                }
                Pending::Failed(e) => {
                    ui.colored_label(ERROR_COLOR, fonts::safe(ui, e));
                }
                Pending::Done(h) => steps_ui(ui, s, h, cmds),
            });
        if !open {
            cmds.push(Command::CloseHistory);
        }
    }
}

/// The steps of a history, oldest first, with the unlogged changes between them.
fn steps_ui(ui: &mut egui::Ui, s: &AppState, h: &History, cmds: &mut Commands) {
    let unlogged = h.unlogged().count();
    ui.label(format!(
        "{} entries, oldest first; {}",
        h.steps.len(),
        match unlogged {
            0 => "each before state continues the previous after state (or cannot be compared)"
                .to_string(),
            n => format!("{n} change(s) the log does not hold"),
        }
    ));
    ui.separator();
    let local = s.settings.local_time;
    for step in &h.steps {
        let e = &step.entry;
        if let Link::Unlogged(d) = &step.link {
            egui::Frame::new()
                .stroke(egui::Stroke::new(1.5, ERROR_COLOR))
                .inner_margin(4.0)
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.label(
                        RichText::new(
                            "Unlogged change: this before state is not the previous after state",
                        )
                        .strong()
                        .color(ERROR_COLOR),
                    );
                    for item in d {
                        mono(ui, &item.text(), None);
                    }
                });
        }
        ui.horizontal(|ui| {
            if ui
                .link(format!("seq {}", step.seq))
                .on_hover_text("Select this entry")
                .clicked()
            {
                cmds.push(Command::SelectSeq(step.seq));
            }
            let who = s.investigation.readable(e.actor.label(), e.actor.key());
            let project = e.project_id.as_deref().unwrap_or("");
            let project = s.investigation.readable(project, project);
            let line = format!(
                "{}  {}  {}  {}",
                format_time(e.time.0, local),
                e.action,
                who,
                project
            );
            ui.label(fonts::shown(
                ui,
                &line,
                FIELD_CHARS,
                &FontFamily::Proportional,
            ));
            if step.link == Link::NotComparable {
                ui.label(RichText::new("(not comparable with the previous state)").weak());
            }
        });
        for item in &step.diff {
            mono(ui, &item.text(), Some(Color32::GRAY));
        }
        ui.add_space(2.0);
    }
}

fn mono(ui: &mut egui::Ui, text: &str, color: Option<Color32>) {
    let mut t = RichText::new(format!(
        "    {}",
        fonts::shown(ui, text, FIELD_CHARS, &FontFamily::Monospace)
    ))
    .monospace();
    if let Some(c) = color {
        t = t.color(c);
    }
    ui.add(egui::Label::new(t).wrap());
}

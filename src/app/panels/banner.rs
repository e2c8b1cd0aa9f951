//! The verification banner, the loading progress and the findings list.

use eframe::egui;
use egui::{Color32, RichText, Sense};

use super::{progress_bar, thousands};
use crate::app::command::{Command, Commands};
use crate::app::document::VerifyState;
use crate::app::state::{AppState, task};
use auditlens_core::verify::{CheckpointStatus, Status};

pub const UNSEALED_LABEL: &str = "unsealed: no chain in the source";

#[derive(Default)]
pub struct Banner;

impl Banner {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(doc) = &s.doc else {
            ui.label("No file open. Open an archive or an export (Ctrl+O), or drop a file here.");
            return;
        };
        if !doc.index_complete() {
            let (phase, done, total) = doc.load_job.snapshot();
            ui.horizontal(|ui| {
                ui.spinner();
                if doc.index.is_some() {
                    ui.label(format!("Loading the index (filters, sorting) — {phase}"));
                } else {
                    ui.label(format!("Opening {} — {phase}", doc.path.display()));
                }
                progress_bar(ui, done, total, 200.0);
            });
        }
        if let Some(job) = s.tasks.running(task::TEXT_INDEX).last() {
            let (_, done, total) = job.snapshot();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(
                    "Indexing text for search (until it is ready, a search reads the records)",
                );
                progress_bar(ui, done, total, 200.0);
            });
        }
        match &doc.verify {
            VerifyState::Running(job) => {
                let (phase, done, total) = job.snapshot();
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Verifying… {phase}"));
                    progress_bar(ui, done, total, 240.0);
                    if ui.button("Cancel").clicked() {
                        cmds.push(Command::CancelVerify);
                    }
                });
            }
            VerifyState::Unsealed => {
                banner_frame(ui, Color32::from_rgb(120, 100, 20), |ui| {
                    ui.label(
                        RichText::new(UNSEALED_LABEL.to_string())
                            .strong()
                            .color(Color32::WHITE),
                    );
                    ui.label(
                        RichText::new("This raw platform export was sealed into a temporary archive for viewing.")
                            .color(Color32::WHITE),
                    );
                });
            }
            VerifyState::Cancelled => {
                ui.horizontal(|ui| {
                    ui.label("Verification was cancelled.");
                    if ui.button("Verify again").clicked() {
                        cmds.push(Command::Verify);
                    }
                });
            }
            VerifyState::Failed(m) => {
                banner_frame(ui, Color32::from_rgb(130, 40, 40), |ui| {
                    ui.label(RichText::new(format!("Could not verify: {m}")).color(Color32::WHITE));
                });
            }
            VerifyState::Done(r) => {
                let secs = r.elapsed.as_secs_f64();
                let checkpoint = match &r.checkpoint {
                    None => "no checkpoint loaded".to_string(),
                    Some(CheckpointStatus::Matches { size, added }) => {
                        format!(
                            "checkpoint matches ({} entries, {} added since)",
                            thousands(*size),
                            thousands(*added)
                        )
                    }
                    Some(CheckpointStatus::Fails) => "checkpoint FAILS".to_string(),
                    Some(CheckpointStatus::NotCovered) => "checkpoint not covered".to_string(),
                    Some(CheckpointStatus::Proven { size, entries }) => {
                        format!(
                            "subset: {} entries proven against the checkpoint of archive {} (size {})",
                            thousands(*entries),
                            r.archive_id.map(|a| a.to_string()).unwrap_or_default(),
                            thousands(*size)
                        )
                    }
                };
                let checkpoint = match &doc.anchor {
                    Some(a) => format!("{checkpoint} · {}", anchor_label(a)),
                    None => checkpoint,
                };
                if r.status() == Status::Intact {
                    let head = r.head.map(|h| h.to_hex()).unwrap_or_default();
                    let warn = if r.warnings() > 0 {
                        format!(" · {} warnings", r.warnings())
                    } else {
                        String::new()
                    };
                    banner_frame(ui, Color32::from_rgb(30, 110, 50), |ui| {
                        ui.label(
                            RichText::new(format!(
                                "Intact — {} entries · head {}… · {checkpoint} · verified in {secs:.2} s{warn}",
                                thousands(r.entries),
                                &head[..head.len().min(16)]
                            ))
                            .strong()
                            .color(Color32::WHITE),
                        );
                    });
                } else {
                    banner_frame(ui, Color32::from_rgb(150, 30, 30), |ui| {
                        ui.label(
                            RichText::new(format!(
                                "Tampered — {} findings ({} problems, {} warnings) · {checkpoint}",
                                thousands(r.problems() + r.warnings()),
                                thousands(r.problems()),
                                thousands(r.warnings())
                            ))
                            .strong()
                            .color(Color32::WHITE),
                        );
                    });
                }
                if !r.findings.is_empty() {
                    findings_list(ui, r, cmds);
                }
            }
        }
    }
}

/// The findings, one line each; a click shows the entry.
fn findings_list(ui: &mut egui::Ui, r: &auditlens_core::verify::Report, cmds: &mut Commands) {
    let title = format!("Findings ({})", r.findings.len());
    egui::CollapsingHeader::new(title)
        .id_salt("findings")
        .default_open(true)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .max_height(120.0)
                .auto_shrink([false, true])
                .show_rows(ui, 18.0, r.findings.len(), |ui, range| {
                    for f in &r.findings[range] {
                        let at = f
                            .seq
                            .map(|s| format!("entry {s}"))
                            .unwrap_or_else(|| "archive".into());
                        let color = if f.kind.is_warning() {
                            Color32::from_rgb(200, 150, 40)
                        } else {
                            Color32::from_rgb(220, 70, 70)
                        };
                        let text =
                            RichText::new(format!("{at} · {} · {}", f.kind.as_str(), f.message));
                        let resp = ui.add(
                            egui::Button::new(text.color(color))
                                .frame(false)
                                .sense(Sense::click()),
                        );
                        if let Some(seq) = f.seq
                            && resp.on_hover_text("Show this entry").clicked()
                        {
                            cmds.push(Command::SelectSeq(seq));
                        }
                    }
                });
        });
}

/// The checkpoint's origin, size, signers and whether their signatures
/// verify against the loaded verifier keys.
fn anchor_label(a: &auditlens_core::proof::AnchorInfo) -> String {
    let signed = match &a.check {
        _ if a.signers.is_empty() => "unsigned".to_string(),
        None => format!(
            "signed by {} (not checked: add its verifier key)",
            a.signers.join(", ")
        ),
        Some(c) if c.accepted() => format!("signature by {} verified", c.verified.join(", ")),
        Some(c) if !c.failed.is_empty() => {
            format!("signature by {} DOES NOT VERIFY", c.failed.join(", "))
        }
        Some(_) => format!("signed by {}, NOT by any loaded key", a.signers.join(", ")),
    };
    format!(
        "{} size {}, {signed}",
        a.checkpoint.origin(),
        thousands(a.checkpoint.size)
    )
}

fn banner_frame(ui: &mut egui::Ui, fill: Color32, add: impl FnOnce(&mut egui::Ui)) {
    egui::Frame::new()
        .fill(fill)
        .inner_margin(6.0)
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            add(ui)
        });
}

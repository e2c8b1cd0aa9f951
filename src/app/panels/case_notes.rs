//! The case notes of the selected entry: bookmark, tags and a note, saved
//! beside the archive (never in it).

use eframe::egui;
use egui::TextEdit;

use crate::app::command::{Command, Commands, MarkEdit};
use crate::app::state::AppState;

/// Widget state: the tags and note being typed, for one entry.
#[derive(Default)]
pub struct CaseNotes {
    draft: Option<Draft>,
}

struct Draft {
    seq: u64,
    tags: String,
    note: String,
}

impl CaseNotes {
    /// The Bookmark button and, for an entry with an actor, "All by this actor".
    pub fn buttons(
        &mut self,
        ui: &mut egui::Ui,
        s: &AppState,
        seq: u64,
        entry_id: &str,
        actor_key: Option<&str>,
        cmds: &mut Commands,
    ) {
        let bookmarked = s.mark(seq).is_some_and(|m| m.bookmarked);
        let star = if bookmarked { "Bookmarked" } else { "Bookmark" };
        if ui
            .selectable_label(bookmarked, star)
            .on_hover_text("Bookmarks are kept in ARCHIVE.case.json, beside the archive")
            .clicked()
        {
            cmds.push(Command::EditMark {
                seq,
                entry_id: entry_id.to_string(),
                edit: MarkEdit::Bookmark(!bookmarked),
            });
        }
        if let Some(key) = actor_key
            && ui
                .button("All by this actor")
                .on_hover_text("Everything this user or key did, with a summary")
                .clicked()
        {
            cmds.push(Command::ShowActor(key.to_string()));
        }
    }

    /// Tags and note; saved when a field loses focus.
    pub fn fields(
        &mut self,
        ui: &mut egui::Ui,
        s: &AppState,
        seq: u64,
        entry_id: &str,
        cmds: &mut Commands,
    ) {
        let mark = s.mark(seq).cloned().unwrap_or_default();
        if self.draft.as_ref().is_none_or(|d| d.seq != seq) {
            self.draft = Some(Draft {
                seq,
                tags: mark.tags.join(", "),
                note: mark.note.clone(),
            });
        }
        let Some(d) = &mut self.draft else { return };
        let mut save = false;
        ui.horizontal(|ui| {
            let l = ui.label("Tags");
            let r = ui
                .add(
                    TextEdit::singleline(&mut d.tags)
                        .desired_width(240.0)
                        .hint_text("a, b"),
                )
                .labelled_by(l.id);
            save |= r.lost_focus();
        });
        let l = ui.label("Note");
        let r = ui
            .add(
                TextEdit::multiline(&mut d.note)
                    .desired_rows(2)
                    .desired_width(f32::INFINITY)
                    .hint_text("what you found; saved beside the archive, never in it"),
            )
            .labelled_by(l.id);
        save |= r.lost_focus();
        let tags: Vec<String> = d
            .tags
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if save && (tags != mark.tags || d.note != mark.note) {
            cmds.push(Command::EditMark {
                seq,
                entry_id: entry_id.to_string(),
                edit: MarkEdit::Notes {
                    tags,
                    note: d.note.clone(),
                },
            });
        }
    }
}

//! The left panel: patterns to watch, search, actor, time range and the
//! facet lists (actor type, projects, actions, resource types), each value
//! with its count under the other filters.

use std::collections::BTreeSet;

use eframe::egui;
use egui::{RichText, TextEdit};

use super::patterns::PatternsPanel;
use super::tickets::TicketsPanel;
use super::{ERROR_COLOR, thousands};
use crate::app::command::{Command, Commands};
use crate::app::filter_form::{FilterForm, TimePreset};
use crate::app::fonts::safe;
use crate::app::state::AppState;

/// Facet lists longer than this start collapsed.
const OPEN_FACET_LIMIT: usize = 12;
/// Values shown per facet list.
const FACET_VALUES_SHOWN: usize = 500;

#[derive(Default)]
pub struct FilterPanel {
    patterns: PatternsPanel,
    tickets: TicketsPanel,
    /// Ctrl+F: focus the search field on the next frame.
    pub focus_search: bool,
}

impl FilterPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        // Edits go to a copy; a changed copy is the new filter, applied
        // in the next `App::logic`.
        let mut form = s.filter.clone();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.patterns.ui(ui, s, cmds);
                self.tickets.ui(ui, s, cmds);
                ui.add_space(4.0);
                self.filter_ui(ui, s, &mut form, cmds);
            });
        if form != s.filter {
            cmds.push(Command::SetFilter(form));
        }
    }

    fn filter_ui(
        &mut self,
        ui: &mut egui::Ui,
        s: &AppState,
        form: &mut FilterForm,
        cmds: &mut Commands,
    ) {
        ui.heading("Filter");
        let l = ui.label("Search");
        let r = ui
            .add(
                TextEdit::singleline(&mut form.search)
                    .hint_text("ids, names, email, IP, before/after…")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(l.id);
        if self.focus_search {
            r.request_focus();
            self.focus_search = false;
        }
        if let Some(n) = s.search_waits {
            ui.weak(search_waits_words(n));
        }
        let l = ui.label("Actor (id, email or key name)");
        ui.add(TextEdit::singleline(&mut form.actor).desired_width(f32::INFINITY))
            .labelled_by(l.id);
        // A name from a loaded directory: offer the id it stands for.
        if let Some(d) = s.investigation.directory.as_deref() {
            for id in d.people_named(&form.actor) {
                if ui
                    .small_button(safe(
                        ui,
                        &format!("{} is {id}: filter by the id", form.actor.trim()),
                    ))
                    .clicked()
                {
                    form.actor = id.to_string();
                }
            }
        }
        ui.add_space(6.0);
        ui.label("Time (relative to the newest entry)");
        ui.horizontal_wrapped(|ui| {
            for p in TimePreset::ALL {
                ui.selectable_value(&mut form.preset, p, p.label());
            }
        });
        if form.preset == TimePreset::Custom {
            let l = ui.label("From (UTC, ISO 8601)");
            ui.add(TextEdit::singleline(&mut form.from).hint_text("2025-03-01T00:00:00Z"))
                .labelled_by(l.id);
            let l = ui.label("To (exclusive)");
            ui.add(TextEdit::singleline(&mut form.to).hint_text("2025-04-01T00:00:00Z"))
                .labelled_by(l.id);
        }
        if let Some(e) = &s.filter_error {
            ui.colored_label(ERROR_COLOR, e);
        }
        let Some(ix) = s.index() else { return };
        if !ix.complete {
            ui.add_space(6.0);
            ui.weak("Lists of projects, actions and types appear when the index is loaded.");
            return;
        }
        let counts = s.facets.as_ref().unwrap_or(&ix.counts);
        ui.add_space(6.0);
        let label = form.actor_type.clone().unwrap_or_else(|| "Any".into());
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Actor type")
                .selected_text(label)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut form.actor_type, None, "Any");
                    for (i, v) in ix.actor_types.values.iter().enumerate() {
                        if let Some(v) = v {
                            ui.selectable_value(
                                &mut form.actor_type,
                                Some(v.to_string()),
                                format!("{v} ({})", thousands(counts.actor_types[i])),
                            );
                        }
                    }
                });
        });
        // The records' project names first, else a loaded directory's (display only).
        let directory = s.investigation.directory.as_deref();
        let name = |v: &str| {
            ix.project_names
                .get(v)
                .cloned()
                .or_else(|| directory.and_then(|d| d.name(v)).map(str::to_string))
        };
        facet(
            ui,
            "Projects",
            &ix.projects.values,
            &counts.projects,
            &mut form.projects,
            |v| name(v).unwrap_or_else(|| v.to_string()),
            |v| name(v).map(|_| format!("project id {v}")),
        );
        facet(
            ui,
            "Actions",
            &ix.actions.values,
            &counts.actions,
            &mut form.actions,
            |v| v.to_string(),
            |_| None,
        );
        facet(
            ui,
            "Resource types",
            &ix.resource_types.values,
            &counts.resource_types,
            &mut form.resource_types,
            |v| auditlens_core::catalog::display_name(v).to_string(),
            |v| Some(format!("{v} (internal name)")),
        );
        ui.add_space(8.0);
        if ui.button("Clear filters").clicked() {
            cmds.push(Command::ClearFilters);
        }
    }
}

/// One facet list: a checkbox per value with its count; values that the
/// other filters leave without entries are shown weak.
fn facet(
    ui: &mut egui::Ui,
    title: &str,
    values: &[Option<Box<str>>],
    counts: &[u64],
    chosen: &mut BTreeSet<String>,
    show: impl Fn(&str) -> String,
    hover: impl Fn(&str) -> Option<String>,
) {
    let mut items: Vec<(String, String, u64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let n = counts.get(i).copied().unwrap_or(0);
            v.as_ref().map(|v| (v.to_string(), show(v), n))
        })
        .collect();
    items.sort_by_key(|a| a.1.to_lowercase());
    let header = if chosen.is_empty() {
        title.to_string()
    } else {
        format!("{title} ({} chosen)", chosen.len())
    };
    egui::CollapsingHeader::new(header)
        .id_salt(title)
        .default_open(items.len() <= OPEN_FACET_LIMIT)
        .show(ui, |ui| {
            for (value, label, n) in items.into_iter().take(FACET_VALUES_SHOWN) {
                let mut on = chosen.contains(&value);
                let mut text = RichText::new(safe(ui, &format!("{label} ({})", thousands(n))));
                if n == 0 && !on {
                    text = text.weak();
                }
                let mut r = ui.checkbox(&mut on, text);
                if let Some(h) = hover(&value) {
                    r = r.on_hover_text(h);
                }
                if r.changed() {
                    if on {
                        chosen.insert(value);
                    } else {
                        chosen.remove(&value);
                    }
                }
            }
        });
}

/// What a search too short to run says (under the search box and above the table).
pub fn search_waits_words(entries: u64) -> String {
    format!(
        "Type {} or more characters to search {} entries",
        crate::app::text_index::MIN_SEARCH_CHARS,
        thousands(entries)
    )
}

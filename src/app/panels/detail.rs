//! The selected entry: its verification findings first, then every field,
//! the changes between before and after, both states, and the case notes.

use eframe::egui;
use egui::{Color32, FontFamily, RichText};

use super::case_notes::CaseNotes;
use super::{ERROR_COLOR, format_time};
use crate::app::command::{Command, Commands};
use crate::app::fonts::{self, safe};
use crate::app::rows::entry_json;
use crate::app::state::{AppState, Investigation};
use auditlens_core::diff::Change;
use auditlens_core::model::Entry;
use auditlens_core::safe_text::{CELL_CHARS, FIELD_CHARS};
use auditlens_core::verdict;
use auditlens_core::verify::Finding;

/// Widget state: the case notes being typed, and which entry is shown
/// (a newly selected entry opens at the top).
#[derive(Default)]
pub struct DetailPane {
    notes: CaseNotes,
    shown: Option<u64>,
}

impl DetailPane {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(d) = s.detail.as_ref().filter(|d| Some(d.seq) == s.selected) else {
            ui.centered_and_justified(|ui| ui.spinner());
            return;
        };
        let st = match &d.result {
            Ok(st) => st,
            Err(e) => {
                ui.horizontal(|ui| {
                    ui.colored_label(ERROR_COLOR, format!("Cannot read entry {}: {e}", d.seq));
                    close_button(ui, cmds);
                });
                return;
            }
        };
        let e = &st.entry;
        let mut scroll = egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .id_salt("detail");
        if self.shown != Some(d.seq) {
            scroll = scroll.vertical_scroll_offset(0.0);
            self.shown = Some(d.seq);
        }
        let (local, dark) = (s.settings.local_time, s.settings.dark);
        scroll.show(ui, |ui| {
            ui.horizontal(|ui| {
                let title = format!(
                    "{} · {} {}",
                    auditlens_core::catalog::display_name(&e.resource_type),
                    e.action,
                    e.resource_label()
                );
                ui.heading(fonts::shown(
                    ui,
                    &title,
                    CELL_CHARS,
                    &FontFamily::Proportional,
                ));
                if ui.button("Copy entry").clicked() {
                    ui.ctx().copy_text(entry_json(st));
                }
                if ui
                    .button("History")
                    .on_hover_text(
                        "Every entry on this resource (in this project), oldest first, each \
                         before state compared with the previous after state",
                    )
                    .clicked()
                {
                    cmds.push(Command::ShowHistory {
                        label: format!(
                            "{} {}",
                            auditlens_core::catalog::display_name(&e.resource_type),
                            e.resource_label()
                        ),
                        resource_type: e.resource_type.clone(),
                        resource_id: e.resource_id.clone(),
                        project_id: e.project_id.clone(),
                    });
                }
                let key = e.actor.key();
                self.notes
                    .buttons(ui, s, d.seq, &e.id, (!key.is_empty()).then_some(key), cmds);
                close_button(ui, cmds);
            });
            if let Some(doc) = &s.doc {
                for f in doc.findings_of(d.seq) {
                    finding_ui(ui, f);
                }
            }
            fields_ui(ui, st, local, &s.investigation);
            if !d.diff.is_empty() {
                ui.add_space(6.0);
                ui.strong(format!("Changes ({})", d.diff.len()));
                for item in &d.diff {
                    let text = item.text();
                    ui.label(
                        RichText::new(fonts::shown(ui, &text, FIELD_CHARS, &FontFamily::Monospace))
                            .monospace()
                            .background_color(change_color(item.change, dark)),
                    );
                }
            }
            if e.before.is_some() || e.after.is_some() {
                ui.add_space(6.0);
                rollback_ui(ui, e);
                states_ui(ui, e, &d.diff, dark);
            }
            if s.doc.as_ref().is_some_and(|d| d.is_sealed_archive()) {
                ui.add_space(6.0);
                ui.strong("Case notes");
                self.notes.fields(ui, s, d.seq, &e.id, cmds);
            }
        });
    }
}

fn close_button(ui: &mut egui::Ui, cmds: &mut Commands) {
    if ui
        .button("Close")
        .on_hover_text("Deselect the entry (Esc); the table gets the room back")
        .clicked()
    {
        cmds.push(Command::Deselect);
    }
}

/// One verification finding about the entry: the core's description (the
/// words the CLI and the report print), what the kind means, and the
/// expected and found values with what each one is
/// ([`verdict::value_labels`]): the one place the detail pane words a finding.
fn finding_ui(ui: &mut egui::Ui, f: &Finding) {
    let color = if f.kind.is_warning() {
        Color32::from_rgb(200, 150, 40)
    } else {
        Color32::from_rgb(230, 80, 60)
    };
    egui::Frame::new()
        .stroke(egui::Stroke::new(1.5, color))
        .inner_margin(6.0)
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            let text = safe(ui, &format!("Finding: {}", verdict::describe(f)));
            ui.label(RichText::new(text).strong().color(color));
            ui.label(RichText::new(verdict::meaning(f.kind)).weak());
            let (le, lf) = verdict::value_labels(f.kind).unwrap_or(("", ""));
            let values = [("Expected", le, &f.expected), ("Found", lf, &f.found)];
            if values.iter().any(|(_, _, v)| v.is_some()) {
                egui::Grid::new(("finding", f.kind.as_str(), &f.expected))
                    .num_columns(2)
                    .show(ui, |ui| {
                        for (k, what, v) in values {
                            if let Some(v) = v {
                                let k = if what.is_empty() {
                                    k.to_string()
                                } else {
                                    format!("{k} ({what})")
                                };
                                ui.label(RichText::new(k).weak());
                                let v = fonts::shown(ui, v, FIELD_CHARS, &FontFamily::Monospace);
                                ui.label(RichText::new(v).monospace());
                                ui.end_row();
                            }
                        }
                    });
            }
        });
    ui.add_space(4.0);
}

/// Every field of the record, seq and hashes.
fn fields_ui(
    ui: &mut egui::Ui,
    st: &auditlens_core::archive::StoredEntry,
    local: bool,
    inv: &Investigation,
) {
    let e = &st.entry;
    let a = &e.actor;
    // A directory's name beside a bare id (display only; unknown ids stay ids).
    let named = |id: &Option<String>| id.as_ref().map(|i| inv.readable(i, i));
    let time = |t: auditlens_core::time::Timestamp| format!("{} ({})", format_time(t.0, local), t);
    let fields: Vec<(&str, Option<String>)> = vec![
        ("Entry id", Some(e.id.clone())),
        ("Time", Some(time(e.time))),
        ("Updated at", e.updated_at.map(time)),
        ("Action", Some(e.action.clone())),
        (
            "Resource type",
            Some(format!(
                "{} ({})",
                auditlens_core::catalog::display_name(&e.resource_type),
                e.resource_type
            )),
        ),
        ("Resource id", Some(e.resource_id.clone())),
        ("Resource name", e.resource_name.clone()),
        (
            "Actor type",
            a.actor_type.as_ref().map(|t| t.display_name().to_string()),
        ),
        ("User id", named(&a.user_id)),
        ("Email", a.email.clone()),
        ("Org role", a.org_role.clone()),
        ("Project role", a.project_role.clone()),
        ("Auth method", a.auth_method.clone()),
        ("API key id", named(&a.api_key_id)),
        ("API key name", a.api_key_name.clone()),
        (
            "API key scope",
            a.api_key_scope.clone().map(|sc| match &a.api_key_scope_id {
                Some(id) => format!("{sc} {id}"),
                None => sc,
            }),
        ),
        ("API key created", a.api_key_created_at.map(time)),
        ("API key created by", a.api_key_created_by.clone()),
        ("Organization", name_id(&e.org_name, &e.org_id)),
        (
            "Project",
            match &e.project_name {
                Some(_) => name_id(&e.project_name, &e.project_id),
                None => named(&e.project_id),
            },
        ),
        ("IP address", e.ip_address.clone()),
        ("User agent", e.user_agent.clone()),
        (
            "Extra fields",
            (!e.extra.is_empty())
                .then(|| auditlens_core::json::Json::Object(e.extra.clone()).to_canonical()),
        ),
        ("Seq", Some(st.seq.to_string())),
        ("Leaf hash", Some(st.leaf_hash.to_hex())),
        ("Chain hash", Some(st.chain_hash.to_hex())),
    ];
    egui::Grid::new("fields")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for (k, v) in fields {
                if let Some(v) = v {
                    ui.label(RichText::new(k).weak());
                    let v = fonts::shown(ui, &v, FIELD_CHARS, &FontFamily::Monospace);
                    ui.add(egui::Label::new(RichText::new(v).monospace()).wrap());
                    ui.end_row();
                }
            }
        });
}

/// Rolling the change back: the before state, and the RFC 6902 patch that
/// turns the after state into it. The patch is built and checked (applied
/// to the after state, it must give the before state) when asked for; an
/// entry without both states says why there is no patch.
fn rollback_ui(ui: &mut egui::Ui, e: &Entry) {
    use auditlens_core::json_patch;
    ui.horizontal(|ui| {
        ui.strong("Roll back");
        if ui
            .add_enabled(e.before.is_some(), egui::Button::new("Copy before state"))
            .on_hover_text("The state before this action, as JSON")
            .clicked()
            && let Some(b) = &e.before
        {
            ui.ctx().copy_text(b.to_pretty());
        }
        let patch = json_patch::restore_patch(e.before.as_ref(), e.after.as_ref());
        let hover = match &patch {
            Ok(_) => "An RFC 6902 JSON Patch: applied to the after state it gives the before state"
                .to_string(),
            Err(why) => why.to_string(),
        };
        let clicked = ui
            .add_enabled(patch.is_ok(), egui::Button::new("Copy rollback patch"))
            .on_hover_text(hover)
            .on_disabled_hover_text(match &patch {
                Err(why) => why.to_string(),
                Ok(_) => String::new(),
            })
            .clicked();
        if clicked && let (Ok(p), Some(after), Some(before)) = (&patch, &e.after, &e.before) {
            // Never hand out a patch that does not do what it says.
            if json_patch::apply(after, p).as_ref() == Ok(before) {
                ui.ctx().copy_text(p.to_pretty());
            }
        }
    });
}

/// The before and after states side by side, changed lines marked.
fn states_ui(ui: &mut egui::Ui, e: &Entry, diff: &[auditlens_core::diff::DiffItem], dark: bool) {
    ui.columns(2, |cols| {
        for (col, (title, state, before)) in cols
            .iter_mut()
            .zip([("Before", &e.before, true), ("After", &e.after, false)])
        {
            col.horizontal(|ui| {
                ui.strong(title);
                if let Some(v) = state
                    && ui.small_button("Copy").clicked()
                {
                    ui.ctx().copy_text(v.to_pretty());
                }
            });
            match state {
                None => {
                    col.label(RichText::new("(none)").weak());
                }
                Some(v) => {
                    for line in auditlens_core::diff::lines(v, diff, before) {
                        // Wrapped labels drop leading spaces, so the
                        // indentation of nested values is space before.
                        let body = line.text.trim_start_matches(' ');
                        let pad = (line.text.len() - body.len()) as f32;
                        let body = fonts::shown(col, body, FIELD_CHARS, &FontFamily::Monospace);
                        let mut t = RichText::new(body).monospace();
                        if let Some(m) = line.mark {
                            t = t.background_color(change_color(m, dark));
                        }
                        let char_width = egui::TextStyle::Monospace.resolve(col.style()).size * 0.6;
                        col.horizontal_top(|ui| {
                            ui.spacing_mut().item_spacing.x = 0.0;
                            ui.add_space(pad * char_width);
                            ui.add(egui::Label::new(t).wrap());
                        });
                    }
                }
            }
        }
    });
}

fn name_id(name: &Option<String>, id: &Option<String>) -> Option<String> {
    match (name, id) {
        (Some(n), Some(i)) => Some(format!("{n} ({i})")),
        (Some(n), None) => Some(n.clone()),
        (None, Some(i)) => Some(i.clone()),
        (None, None) => None,
    }
}

fn change_color(c: Change, dark: bool) -> Color32 {
    match (c, dark) {
        (Change::Changed, true) => Color32::from_rgb(90, 75, 20),
        (Change::Added, true) => Color32::from_rgb(25, 80, 35),
        (Change::Removed, true) => Color32::from_rgb(100, 35, 35),
        (Change::Changed, false) => Color32::from_rgb(255, 236, 170),
        (Change::Added, false) => Color32::from_rgb(200, 240, 200),
        (Change::Removed, false) => Color32::from_rgb(255, 205, 205),
    }
}

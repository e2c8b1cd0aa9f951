//! Fonts, and text that every font can show. egui's bundled fonts cover
//! Latin, Greek, Cyrillic and some emoji; a comment holding a check mark or
//! Japanese would be drawn as empty boxes, hiding part of what was hashed.
//!
//! Two things prevent that:
//! - [`install_system_fonts`] adds the system's fonts as fallbacks after
//!   egui's own, through egui's own `SystemFontProvider` (the crate that
//!   eframe's `system_fonts` feature installs; fontconfig is loaded at run time,
//!   and without it nothing is found): the fonts are listed once, on a background thread, and a
//!   font is memory-mapped only when a character that no loaded font has is
//!   first laid out; the operating system's own fallback rules (fontconfig on
//!   Linux) choose it, e.g. Noto Sans CJK for 日本語, DejaVu Sans or Noto Sans
//!   Symbols 2 for ✓. egui's bundled monochrome Noto Emoji stays ahead of any
//!   colour emoji font.
//!
//!   Cost, measured on a 2-core Linux machine with 141 MB of fonts installed
//!   (Noto CJK, Noto core, DejaVu): the call returns in 0.3 ms; the first
//!   character egui's fonts lack waits for the listing, 70–150 ms, once; a
//!   CJK font then loads in 1–8 ms; the first character that no font has costs
//!   about 150 ms once (every font's character map is read), later ones 0.2 ms.
//!   Nothing is paid while every character is in egui's own fonts.
//! - [`drawable`] shows any character that no loaded font can draw as its code
//!   point, `⟨U+65E5⟩` (the notation of [`auditlens_core::safe_text`]), never as a
//!   box. Record text reaches the screen through [`shown`], which escapes the
//!   hidden characters first.

use std::borrow::Cow;
use std::sync::Arc;

use eframe::egui::{self, FontFamily, FontId};

use auditlens_core::safe_text;

/// Makes the bundled monospace font (Hack) a fallback of the proportional
/// family too: it has the escape brackets `⟨⟩` and many symbols that the
/// proportional font lacks. Installed once per context; cheap on later frames.
pub fn install_bundled(ctx: &egui::Context) {
    let id = egui::Id::unique("auditlens-fonts-installed");
    if ctx.data(|d| d.get_temp::<bool>(id)).unwrap_or(false) {
        return;
    }
    let mut fonts = egui::FontDefinitions::default();
    if let Some(mono) = fonts.families.get(&FontFamily::Monospace).cloned()
        && let Some(prop) = fonts.families.get_mut(&FontFamily::Proportional)
    {
        for name in mono {
            if !prop.contains(&name) {
                prop.push(name);
            }
        }
    }
    ctx.set_fonts(fonts);
    ctx.data_mut(|d| d.insert_temp(id, true));
}

/// Adds the system's fonts as fallbacks after egui's own (see the module
/// documentation). Returns at once: the fonts are listed in the background.
pub fn install_system_fonts(ctx: &egui::Context) {
    ctx.add_font_provider(Arc::new(
        egui_system_font_provider::SystemFontProvider::new(),
    ));
}

/// `text` with every character that no loaded font of `family` can draw
/// shown as its code point (`⟨U+65E5⟩`) instead of a box. The one place that
/// decides this; the text must already be escaped ([`shown`] does both).
pub fn drawable<'a>(ui: &egui::Ui, text: &'a str, family: &FontFamily) -> Cow<'a, str> {
    // Printable ASCII is in every bundled font; controls never get here escaped.
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let font = FontId::new(14.0, family.clone());
    ui.ctx().fonts_mut(|fonts| {
        let mut can = |c: char| c.is_ascii() || fonts.has_glyph(&font, c);
        let Some(first) = text.char_indices().find(|&(_, c)| !can(c)) else {
            return Cow::Borrowed(text);
        };
        let mut out = String::with_capacity(text.len() + 16);
        out.push_str(&text[..first.0]);
        for c in text[first.0..].chars() {
            if can(c) {
                out.push(c);
            } else {
                safe_text::push_code_point(&mut out, c);
            }
        }
        Cow::Owned(out)
    })
}

/// Record text as the viewer shows it: hidden characters escaped, cut after
/// `max_chars` characters ([`safe_text::shown`]), and what no font can draw
/// shown as its code point ([`drawable`]).
pub fn shown(ui: &egui::Ui, text: &str, max_chars: usize, family: &FontFamily) -> String {
    let escaped = safe_text::shown(text, max_chars);
    drawable(ui, &escaped, family).into_owned()
}

/// [`shown`] for proportional text of any length: verdicts, findings, titles.
pub fn safe(ui: &egui::Ui, text: &str) -> String {
    shown(ui, text, usize::MAX, &FontFamily::Proportional)
}

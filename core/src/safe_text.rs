//! Text from the file, shown safely: the one escaper of hidden characters.
//! The CLI, the viewer and the HTML report all show record text (and the
//! findings and verdicts that quote it) through [`escape`] or [`shown`], so
//! one character comes out the same way on every surface. Escaping is for
//! display only: the evidence and the JSON outputs keep the exact text.
//!
//! A hidden character would let an entry spoof what is shown (a right-to-left
//! override turning `exe.txt` into `txt.exe`, a newline faking a line of
//! output, an ESC sequence driving the terminal) or hide what was hashed
//! (zero-width characters, tag characters smuggling text that nobody sees).
//! Each one is shown as its code point, `⟨U+202E⟩`. The escape's own opening
//! bracket `⟨` (U+27E8) is escaped too, so a record holding the literal text
//! `⟨U+202E⟩` shows as `⟨U+27E8⟩U+202E⟩` and cannot pass for a hidden
//! character: what is shown maps back to exactly one text.
//!
//! The hidden characters ([`is_hidden`], [`HIDDEN`]):
//! - control characters: C0 (U+0000–U+001F, with tab, line feed and carriage
//!   return), DEL (U+007F) and C1 (U+0080–U+009F, with NEL and CSI);
//! - U+00AD soft hyphen; U+034F combining grapheme joiner; U+061C Arabic letter mark;
//! - U+115F, U+1160, U+3164, U+FFA0 Hangul fillers; U+17B4, U+17B5 Khmer inherent vowels;
//! - U+180B–U+180F Mongolian free variation selectors and vowel separator;
//! - U+200B–U+200F zero-width space, non-joiner and joiner, left-to-right and right-to-left marks;
//! - U+2028 line separator, U+2029 paragraph separator;
//! - U+202A–U+202E bidi embeddings, pop and overrides;
//! - U+2060–U+206F word joiner, invisible operators, bidi isolates (U+2066–U+2069) and the
//!   deprecated format characters;
//! - U+FE00–U+FE0F variation selectors (runs of them can smuggle bytes after a visible character);
//! - U+FEFF zero-width no-break space (byte-order mark);
//! - U+FFF0–U+FFF8 (default ignorable) and U+FFF9–U+FFFB interlinear annotation characters;
//! - U+13430–U+1343F Egyptian hieroglyph format controls; U+1BCA0–U+1BCA3 shorthand format controls;
//!   U+1D173–U+1D17A musical symbol format characters;
//! - U+E0000–U+E0FFF tag characters (which can spell out invisible ASCII) and variation selectors 17–256.
//!
//! That is every control character, every default-ignorable code point of
//! Unicode, the line and paragraph separators and the other invisible format
//! characters. An emoji sequence joined by U+200D or ending in U+FE0F shows
//! its joiners: in evidence, two code points are not shown as one.

use std::borrow::Cow;

/// Characters shown in a table cell.
pub const CELL_CHARS: usize = 200;
/// Characters shown in one field of the detail pane (Copy gives the whole value).
pub const FIELD_CHARS: usize = 20_000;

/// The escape's opening bracket; escaped itself wherever it occurs in text.
pub const OPEN: char = '⟨';
/// The escape's closing bracket.
pub const CLOSE: char = '⟩';

/// The hidden characters as inclusive ranges, besides the control characters
/// (`char::is_control`: U+0000–U+001F, U+007F–U+009F). See the module documentation.
pub const HIDDEN: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFFB}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Is `c` a character that hides itself or changes how other text is shown?
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control() || HIDDEN.iter().any(|&(a, b)| (a..=b).contains(&c))
}

/// Does `c` need an escape when shown: a hidden character, or the escape's own bracket?
fn needs_escape(c: char) -> bool {
    is_hidden(c) || c == OPEN
}

/// Appends `c` as its code point, `⟨U+202E⟩`: the notation of every escape, and
/// of the viewer's characters that no font can draw.
pub fn push_code_point(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let _ = write!(out, "{OPEN}U+{:04X}{CLOSE}", c as u32);
}

/// `s` with hidden characters (and [`OPEN`]) shown as their code points.
pub fn escape(s: &str) -> Cow<'_, str> {
    shown(s, usize::MAX)
}

/// `s` escaped like [`escape`], and cut after `max_chars` characters (so a
/// megabyte of text cannot stall a frame).
pub fn shown(s: &str, max_chars: usize) -> Cow<'_, str> {
    let short = s.len() <= max_chars || s.chars().nth(max_chars).is_none();
    if short && !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)) + 16);
    for (count, c) in s.chars().enumerate() {
        if count == max_chars {
            let rest = s.chars().count() - count;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        if needs_escape(c) {
            push_code_point(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_spoof_and_cuts_what_is_long() {
        assert!(matches!(shown("alice@acme.example", 50), Cow::Borrowed(_)));
        assert!(matches!(escape("日本語 ✓ café"), Cow::Borrowed(_)));
        assert_eq!(shown("a\u{1b}[31mred", 50), "a⟨U+001B⟩[31mred");
        assert_eq!(shown("evil\u{202E}txt.exe", 50), "evil⟨U+202E⟩txt.exe");
        assert_eq!(shown("a\u{200B}b\nc", 50), "a⟨U+200B⟩b⟨U+000A⟩c");
        assert_eq!(escape("x\u{E0041}\u{E0042}y"), "x⟨U+E0041⟩⟨U+E0042⟩y");
        assert_eq!(
            escape("\u{AD}\u{2028}\u{FFF9}\u{7F}\u{9B}"),
            "⟨U+00AD⟩⟨U+2028⟩⟨U+FFF9⟩⟨U+007F⟩⟨U+009B⟩"
        );
        let long = "x".repeat(1_000_000);
        let s = shown(&long, CELL_CHARS);
        assert!(s.len() < 300, "{}", s.len());
        assert!(s.ends_with("… (999800 more characters)"));
        // A long text with nothing to escape is cut; a short one is kept.
        assert!(matches!(shown(&"é".repeat(100), 100), Cow::Borrowed(_)));
    }

    /// What is shown maps back to one text: a literal escape in a record is
    /// not mistaken for a hidden character.
    #[test]
    fn a_literal_escape_is_told_apart_from_a_hidden_character() {
        let literal = escape("⟨U+202E⟩");
        let hidden = escape("\u{202E}");
        assert_eq!(literal, "⟨U+27E8⟩U+202E⟩");
        assert_eq!(hidden, "⟨U+202E⟩");
        assert_ne!(literal, hidden);
        assert_eq!(escape("a ⟩ b"), "a ⟩ b");
    }

    #[test]
    fn the_set_is_every_control_and_every_listed_range_and_nothing_else_nearby() {
        for c in [
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        for &(a, b) in HIDDEN {
            for c in [a, b] {
                assert!(is_hidden(c), "U+{:04X}", c as u32);
            }
            // The neighbours outside a range are ordinary characters here.
            for n in [a as u32 - 1, b as u32 + 1] {
                let c = char::from_u32(n).unwrap();
                let listed = HIDDEN.iter().any(|&(x, y)| (x..=y).contains(&c));
                assert_eq!(is_hidden(c), listed || c.is_control(), "U+{n:04X}");
            }
        }
        for c in [
            'a', ' ', '~', 'é', '日', '✓', '\u{A0}', '\u{2027}', '\u{2070}', '\u{FFFC}', '😀',
        ] {
            assert!(!is_hidden(c), "U+{:04X}", c as u32);
        }
    }
}

//! Text from the file, shown safely. Control characters, bidirectional
//! overrides and invisible characters become visible escapes (`<U+202E>`),
//! and very long values are cut, so a hostile entry can neither spoof what
//! another column says nor stall a frame laying out a megabyte of text.

use std::borrow::Cow;

/// Characters shown in a table cell.
pub const CELL_CHARS: usize = 200;
/// Characters shown in one field of the detail pane (Copy gives the whole value).
pub const FIELD_CHARS: usize = 20_000;

/// Characters that change how other text is shown, or hide themselves.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{061C}'
                | '\u{FEFF}'
        )
}

/// `s` with hidden characters escaped and cut after `max_chars` characters.
pub fn shown(s: &str, max_chars: usize) -> Cow<'_, str> {
    if s.len() <= max_chars && !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max_chars * 4) + 16);
    for (count, c) in s.chars().enumerate() {
        if count == max_chars {
            let rest = s.chars().count() - count;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        if is_hidden(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
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
        assert_eq!(shown("a\u{1b}[31mred", 50), "a<U+001B>[31mred");
        assert_eq!(shown("evil\u{202E}txt.exe", 50), "evil<U+202E>txt.exe");
        assert_eq!(shown("a\u{200B}b\nc", 50), "a<U+200B>b<U+000A>c");
        let long = "x".repeat(1_000_000);
        let s = shown(&long, CELL_CHARS);
        assert!(s.len() < 300, "{}", s.len());
        assert!(s.ends_with("… (999800 more characters)"));
    }
}

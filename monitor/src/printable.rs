//! Text read from a monitoring port is shown to operators (a terminal, STATUS=, the journal):
//! whatever the endpoint sends, it must not move the cursor, recolour the screen or start a new
//! line (a newline in a STATUS= line would inject a notify field).

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1), line or paragraph separator and bidi
/// override written as a Rust escape (`\n`, `\u{1b}`); text without any is returned as is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`printable`], cut to at most `max` characters (an ellipsis marks the cut).
pub fn printable_capped(text: &str, max: usize) -> String {
    let escaped = printable(text);
    if escaped.chars().count() <= max {
        return escaped.into_owned();
    }
    let mut out: String = escaped.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(printable("n1 ✓ ok"), Cow::Borrowed("n1 ✓ ok")));
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(printable("a\nREADY=1"), "a\\nREADY=1");
        assert_eq!(printable("\u{1b}[31mred\u{7f}"), "\\u{1b}[31mred\\u{7f}");
        assert_eq!(printable("x\u{85}y\u{202e}z\r"), "x\\u{85}y\\u{202e}z\\r");
    }

    #[test]
    fn capped_text_ends_with_an_ellipsis() {
        assert_eq!(printable_capped("abcdef", 4), "abc…");
        assert_eq!(printable_capped("abc", 4), "abc");
        assert_eq!(printable_capped("\n\n", 3), "\\n…");
    }
}

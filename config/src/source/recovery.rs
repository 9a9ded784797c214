//! The key a parse error is about, recovered from the parse tree or, for a file that does not
//! parse at all, from the text before the error.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The key path of the error at `span` with `message`: the innermost key there, else the one the
/// text around it names; a missing key is named after the table that lacks it.
pub(super) fn error_key(text: &str, span: Option<Range<usize>>, message: &str) -> String {
    let mut key = span
        .and_then(|span| key_at(text, span.start).or_else(|| key_from_text(text, span.start)))
        .unwrap_or_default();
    // A missing key has no span of its own: name it after the table that lacks it.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        key = if key.is_empty() {
            field.to_owned()
        } else {
            format!("{key}.{field}")
        };
    }
    key
}

/// The key path of the innermost key or value containing a byte offset.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    let mut path = String::new();
    walk_to(root.get_ref(), offset, &mut path);
    (!path.is_empty()).then_some(path)
}

/// The key path at `offset` read from the text itself, for a file that does not parse (a
/// duplicate key, an unterminated string): the last table header before it, then the bare key
/// at the offset, if any.
fn key_from_text(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let mut table = String::new();
    // Entries of each array of tables seen so far, to number `[[streams]]` as `streams[1]`.
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut line_start = 0;
    for line in text[..offset].split_inclusive('\n') {
        let trimmed = line.trim();
        if line_start + line.len() > offset && !line.ends_with('\n') {
            break;
        }
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let name = name.trim().to_owned();
            let count = counts.entry(name.clone()).or_insert(0);
            *count += 1;
            let index = *count - 1;
            // A new parent entry restarts the numbering of its nested arrays.
            counts.retain(|k, _| !k.starts_with(&format!("{name}.")));
            table = format!("{name}[{index}]");
            table = indexed_parents(&table, &counts);
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = indexed_parents(name.trim(), &counts);
        }
        line_start += line.len();
    }
    let rest = &text[offset..];
    let key: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let path = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    (!path.is_empty()).then_some(path)
}

/// Adds the current index of every enclosing array of tables: `streams.consumers[0]` inside the
/// second stream becomes `streams[1].consumers[0]`.
fn indexed_parents(path: &str, counts: &HashMap<String, usize>) -> String {
    let (head, tail) = match path.split_once('[') {
        Some((head, tail)) => (head, format!("[{tail}")),
        None => (path, String::new()),
    };
    let segments: Vec<&str> = head.split('.').collect();
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(segment);
        let prefix = segments[..=i].join(".");
        if i + 1 < segments.len() {
            if let Some(count) = counts.get(&prefix) {
                out.push_str(&format!("[{}]", count - 1));
            }
        }
    }
    out + &tail
}

fn walk_to(table: &DeTable, offset: usize, path: &mut String) {
    for (key, value) in table {
        let key_span = key.span();
        let value_span = value.span();
        let inside = |r: &Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        if !(inside(&key_span) || inside(&value_span) || value_contains(value, offset)) {
            continue;
        }
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key.get_ref());
        match value.get_ref() {
            DeValue::Table(t) => walk_to(t, offset, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if inside(&item.span()) || value_contains(item, offset) {
                        path.push_str(&format!("[{i}]"));
                        if let DeValue::Table(t) = item.get_ref() {
                            walk_to(t, offset, path);
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
        return;
    }
}

/// Whether a table (or array of tables) holds a key or value at `offset`. Standard tables' own
/// spans cover only their header, so the search has to look inside.
fn value_contains(value: &Spanned<DeValue>, offset: usize) -> bool {
    let span = value.span();
    if span.start <= offset && offset < span.end {
        return true;
    }
    match value.get_ref() {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            (k.span().start <= offset && offset < k.span().end) || value_contains(v, offset)
        }),
        DeValue::Array(items) => items.iter().any(|item| value_contains(item, offset)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::source::Source;

    #[test]
    fn a_file_that_does_not_parse_still_names_the_key() {
        let source = Source::from_text("p.toml", "[node]\nname = \"a\"\nname = \"b\"\n");
        let err = source.parse().unwrap_err();
        assert_eq!(err.key, "node.name", "{err}");
        let text = "[node]\nname = \"a\"\n[[streams]]\nname = \"A\"\n[[streams]]\nname = \"B\"\n[[streams.consumers]]\nname = \"c\"\nname = \"d\"\n";
        let err = Source::from_text("p.toml", text).parse().unwrap_err();
        assert_eq!(err.key, "streams[1].consumers[0].name", "{err}");
    }
}

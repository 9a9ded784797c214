//! Where every key of a file is: the span of each key path, and the line and column of an offset.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Every key path of a file (`streams[0].consumers[1].name`, `streams[0].subjects[2]`) with the
/// span of its key or array item, and where each line starts.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyIndex {
    spans: HashMap<String, Range<usize>>,
    line_starts: Vec<usize>,
    /// Characters before every [`CHECKPOINT`]-th byte, so that a column is counted from the
    /// nearest checkpoint rather than from the start of its line, which may be the whole file.
    chars_at_checkpoints: Vec<usize>,
}

/// The byte distance between two character-count checkpoints.
const CHECKPOINT: usize = 64;

/// Whether a byte starts a character in UTF-8 (is not a continuation byte).
fn starts_char(byte: &u8) -> bool {
    byte & 0xC0 != 0x80
}

impl KeyIndex {
    /// `root` is None for a file that does not parse, which has no typed configuration to
    /// report on beyond its parse error.
    pub(super) fn new(text: &str, root: Option<&DeTable>) -> Self {
        let mut index = KeyIndex {
            spans: HashMap::new(),
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            chars_at_checkpoints: std::iter::once(0)
                .chain(text.as_bytes().chunks(CHECKPOINT).scan(0, |count, chunk| {
                    *count += chunk.iter().filter(|b| starts_char(b)).count();
                    Some(*count)
                }))
                .collect(),
        };
        if let Some(root) = root {
            index.add_table(root, "");
        }
        index
    }

    fn add_table(&mut self, table: &DeTable, prefix: &str) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.spans.insert(path.clone(), key.span());
            self.add_value(value, &path);
        }
    }

    fn add_value(&mut self, value: &Spanned<DeValue>, path: &str) {
        match value.get_ref() {
            DeValue::Table(table) => self.add_table(table, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{path}[{i}]");
                    self.spans.insert(path.clone(), item.span());
                    self.add_value(item, &path);
                }
            }
            _ => {}
        }
    }

    /// 1-based line and column of a byte offset.
    pub(super) fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let column = self.chars_before(text, offset) - self.chars_before(text, start) + 1;
        (line, column)
    }

    /// The number of characters in `text[..offset]`.
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        let block = offset / CHECKPOINT;
        let counted = self.chars_at_checkpoints.get(block).copied().unwrap_or(0);
        let rest = text
            .as_bytes()
            .get(block * CHECKPOINT..offset)
            .unwrap_or_default();
        counted + rest.iter().filter(|b| starts_char(b)).count()
    }

    /// The span of the key named by a path like `streams[0].consumers[1].name`: the key itself
    /// when it is written, else the nearest enclosing one that is.
    pub(super) fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let mut prefix = String::with_capacity(path.len());
        let mut found = None;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let (name, item) = split_index(segment);
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(name);
            let Some(span) = self.spans.get(&prefix) else {
                break;
            };
            found = Some(span.clone());
            if let Some(item) = item {
                prefix.push_str(&format!("[{item}]"));
                match self.spans.get(&prefix) {
                    Some(span) => found = Some(span.clone()),
                    None => break,
                }
            }
        }
        found
    }
}

fn split_index(segment: &str) -> (&str, Option<usize>) {
    match segment.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse().ok()),
        None => (segment, None),
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Diagnostic;
    use crate::source::tests::TEXT;
    use crate::source::Source;

    #[test]
    fn key_paths_map_back_to_lines() {
        let text = TEXT.replace("bogus = 1\n", "");
        let source = Source::from_text("pier.toml", text);
        let located = source.locate(Diagnostic::error("streams[0].consumers[0].name", "x"));
        assert_eq!(located.line, Some(9));
        let located = source.locate(Diagnostic::error("streams[0].replicas", "x"));
        assert_eq!(located.line, Some(4), "falls back to the stream itself");
    }

    #[test]
    fn columns_count_characters_on_long_lines() {
        let padding = "é".repeat(300);
        let text = format!("[node]\nname = \"{padding}\"\ntags = [\"{padding}\", \"x\"]\n");
        let source = Source::from_text("p.toml", text);
        source.parse().unwrap();
        let located = source.locate(Diagnostic::error("node.tags[1]", "x"));
        assert_eq!((located.line, located.column), (Some(3), Some(313)));
    }
}

//! Reading pier.toml: the typed parse, and mapping key paths back to lines and columns.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::limited_read;
use crate::model::Config;

/// The file could not be read at all (as opposed to read and found wrong).
#[derive(Debug, thiserror::Error)]
#[error("cannot read configuration file {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The largest configuration file pier reads: a cluster's pier.toml with a thousand streams is
/// well under 100 KiB, and a cap keeps a mistaken path (a log, `/dev/zero`) from exhausting memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A configuration file's text, kept so that diagnostics can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    /// Where every key is, from one parse of `text`, built the first time a diagnostic is
    /// located: locating each diagnostic by parsing again made validation quadratic.
    index: OnceLock<KeyIndex>,
}

impl Source {
    /// Reads a configuration file: a regular file of at most [`MAX_CONFIG_BYTES`], in UTF-8.
    /// A FIFO or a device is refused without waiting on it.
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        let error = |source| ReadError {
            path: path.to_owned(),
            source,
        };
        let bytes = limited_read::read_regular(path, MAX_CONFIG_BYTES).map_err(error)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            ))
        })?;
        Ok(Source::from_text(path, text))
    }

    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
            index: OnceLock::new(),
        }
    }

    /// Parses the typed configuration; a syntax error, an unknown key or a wrong type becomes one
    /// located diagnostic.
    ///
    /// The text is parsed once: the same parse gives the typed configuration and the index that
    /// locates every later diagnostic.
    pub fn parse(&self) -> Result<Config, Box<Diagnostic>> {
        let root = DeTable::parse(&self.text).map_err(|e| Box::new(self.parse_error(&e)))?;
        self.index
            .get_or_init(|| KeyIndex::new(&self.text, Some(root.get_ref())));
        Config::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| Box::new(self.parse_error(&e)))
    }

    fn parse_error(&self, error: &toml::de::Error) -> Diagnostic {
        let span = error.span();
        let mut key = span
            .as_ref()
            .and_then(|span| {
                self.key_at(span.start)
                    .or_else(|| key_from_text(&self.text, span.start))
            })
            .unwrap_or_default();
        let message = error.message().trim().to_owned();
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
        let mut diagnostic = Diagnostic::error(key, message.clone());
        if let Some(hint) = known_mistake(&message) {
            diagnostic = diagnostic.hint(hint);
        }
        self.place(diagnostic, span)
    }

    /// Fills in the file, line and column of a diagnostic from its key path.
    pub fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        let span = self.span_of(&diagnostic.key);
        self.place(diagnostic, span)
    }

    fn place(&self, mut diagnostic: Diagnostic, span: Option<Range<usize>>) -> Diagnostic {
        diagnostic.file = Some(self.path.clone());
        if let Some(span) = span {
            let (line, column) = self.index().line_column(&self.text, span.start);
            diagnostic.line = Some(line);
            diagnostic.column = Some(column);
        }
        diagnostic
    }

    /// The span of the key named by a path like `streams[0].consumers[1].name`: the key itself
    /// when it is written, else the nearest enclosing one that is.
    fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let index = self.index();
        let mut prefix = String::with_capacity(path.len());
        let mut found = None;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let (name, item) = split_index(segment);
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(name);
            let Some(span) = index.spans.get(&prefix) else {
                break;
            };
            found = Some(span.clone());
            if let Some(item) = item {
                prefix.push_str(&format!("[{item}]"));
                match index.spans.get(&prefix) {
                    Some(span) => found = Some(span.clone()),
                    None => break,
                }
            }
        }
        found
    }

    fn index(&self) -> &KeyIndex {
        // Located without a typed parse first (tests, or a caller that only locates): parse here.
        self.index.get_or_init(|| {
            let root = DeTable::parse(&self.text).ok();
            KeyIndex::new(&self.text, root.as_ref().map(|r| r.get_ref()))
        })
    }

    /// The key path of the innermost key or value containing a byte offset.
    fn key_at(&self, offset: usize) -> Option<String> {
        let root = DeTable::parse(&self.text).ok()?;
        let mut path = String::new();
        walk_to(root.get_ref(), offset, &mut path);
        (!path.is_empty()).then_some(path)
    }
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

fn split_index(segment: &str) -> (&str, Option<usize>) {
    match segment.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse().ok()),
        None => (segment, None),
    }
}

/// Every key path of a file (`streams[0].consumers[1].name`, `streams[0].subjects[2]`) with the
/// span of its key or array item, and where each line starts.
#[derive(Debug, Clone, Default)]
struct KeyIndex {
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
    fn new(text: &str, root: Option<&DeTable>) -> Self {
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
    fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
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
}

/// Hints for keys people carry over from other tools or from the seed write-up.
fn known_mistake(message: &str) -> Option<&'static str> {
    const MISTAKES: &[(&str, &str)] = &[
        (
            "`file_sync`",
            "nats-server has no \"file_sync\" option; for an fsync after every write use `sync = \"always\"` in [jetstream]",
        ),
        (
            "`deliver_group`",
            "deliver_group belongs to push consumers, under [[streams.consumers]]",
        ),
        (
            "`routes`",
            "routes are derived from [[cluster.peers]]; list every node there, this one included",
        ),
        (
            "`filter_subject`",
            "write `filter_subjects = [\"...\"]` (a list)",
        ),
        (
            "`port`",
            "listeners are written as addresses: client_listen, monitor_listen, cluster_listen = \"IP:PORT\" in [node]",
        ),
    ];
    MISTAKES
        .iter()
        .find(|(needle, _)| message.contains(&format!("unknown field {needle}")))
        .map(|(_, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[node]\nname = \"a\"\n\n[[streams]]\nname = \"S\"\nsubjects = [\"s.>\"]\n\n[[streams.consumers]]\nname = \"c\"\nbogus = 1\n";

    #[test]
    fn unknown_key_is_located_and_named() {
        let source = Source::from_text("pier.toml", TEXT);
        let err = source.parse().unwrap_err();
        assert_eq!(err.key, "streams[0].consumers[0].bogus");
        assert_eq!((err.line, err.column), (Some(10), Some(1)));
        assert!(err.message.contains("bogus"), "{}", err.message);
    }

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

    #[test]
    fn a_file_that_does_not_parse_still_names_the_key() {
        let source = Source::from_text("p.toml", "[node]\nname = \"a\"\nname = \"b\"\n");
        let err = source.parse().unwrap_err();
        assert_eq!(err.key, "node.name", "{err}");
        let text = "[node]\nname = \"a\"\n[[streams]]\nname = \"A\"\n[[streams]]\nname = \"B\"\n[[streams.consumers]]\nname = \"c\"\nname = \"d\"\n";
        let err = Source::from_text("p.toml", text).parse().unwrap_err();
        assert_eq!(err.key, "streams[1].consumers[0].name", "{err}");
    }

    #[test]
    fn seed_file_sync_gets_a_hint() {
        let source = Source::from_text(
            "p.toml",
            "[node]\nname = \"a\"\n[jetstream]\nfile_sync = true\n",
        );
        let err = source.parse().unwrap_err();
        assert_eq!(err.key, "jetstream.file_sync");
        assert!(err.hint.unwrap().contains("sync = \"always\""));
    }
}

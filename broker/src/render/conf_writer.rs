//! A writer for nats-server's configuration syntax: `key: value` lines and `name { ... }` blocks.

use std::fmt::Write;

#[derive(Default)]
pub(super) struct ConfWriter {
    out: String,
    depth: usize,
}

impl ConfWriter {
    pub fn comment(&mut self, text: &str) {
        for line in text.lines() {
            self.indent();
            // nats-server ends a comment at a carriage return too: no control character in a
            // comment may turn the rest of its line into configuration.
            let line: String = line
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            let _ = writeln!(self.out, "# {line}");
        }
    }

    pub fn blank(&mut self) {
        self.out.push('\n');
    }

    pub fn string(&mut self, key: &str, value: &str) {
        self.raw(key, &quote(value));
    }

    pub fn number(&mut self, key: &str, value: impl std::fmt::Display) {
        self.raw(key, &value.to_string());
    }

    pub fn boolean(&mut self, key: &str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }

    pub fn strings(&mut self, key: &str, values: &[String]) {
        self.indent();
        let _ = writeln!(self.out, "{key}: [");
        self.depth += 1;
        for value in values {
            self.indent();
            let _ = writeln!(self.out, "{}", quote(value));
        }
        self.depth -= 1;
        self.indent();
        self.out.push_str("]\n");
    }

    pub fn raw(&mut self, key: &str, value: &str) {
        self.indent();
        let _ = writeln!(self.out, "{key}: {value}");
    }

    pub fn block(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.indent();
        if name.is_empty() {
            self.out.push_str("{\n");
        } else {
            let _ = writeln!(self.out, "{name} {{");
        }
        self.depth += 1;
        body(self);
        self.depth -= 1;
        self.indent();
        self.out.push_str("}\n");
    }

    /// An array of blocks: `name: [ { ... } { ... } ]`.
    pub fn block_list<T>(&mut self, name: &str, items: &[T], mut body: impl FnMut(&mut Self, &T)) {
        self.indent();
        let _ = writeln!(self.out, "{name}: [");
        self.depth += 1;
        for item in items {
            self.block("", |w| body(w, item));
        }
        self.depth -= 1;
        self.indent();
        self.out.push_str("]\n");
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
}

/// A double-quoted string in the only escapes nats-server's parser reads: `\t`, `\n`, `\r`,
/// `\"`, `\\` and `\xHH` (it refuses JSON's `\u`, `\b`, `\f` and `\/`, checked on 2.9 and
/// 2.15). Every other control character becomes `\xHH`, so no value can end the string or the
/// line early; everything else, non-ASCII included, is written as it is.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_use_the_escapes_nats_server_reads() {
        assert_eq!(quote("a\tb\nc\rd"), r#""a\tb\nc\rd""#);
        assert_eq!(quote("\u{1}\u{7f}\u{0}"), r#""\x01\x7f\x00""#);
        assert_eq!(quote("\\\"é"), r#""\\\"é""#);
    }

    #[test]
    fn blocks_nest_and_strings_are_quoted() {
        let mut w = ConfWriter::default();
        w.string("server_name", "a \"b\"");
        w.block("cluster", |w| {
            w.number("port", 6222);
            w.strings("routes", &["nats-route://h:1".to_owned()]);
        });
        assert_eq!(
            w.finish(),
            "server_name: \"a \\\"b\\\"\"\ncluster {\n  port: 6222\n  routes: [\n    \"nats-route://h:1\"\n  ]\n}\n"
        );
    }
}

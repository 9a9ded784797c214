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

/// A double-quoted string; the escapes JSON uses are the ones nats-server's parser reads.
fn quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Reading pier.toml: the typed parse, and mapping key paths back to lines and columns. The text
//! is read with a cap (`read.rs`), its keys indexed once (`index.rs`); a file that does not parse
//! still gets its error's key (`recovery.rs`), and a known mistake a hint (`mistakes.rs`).

mod index;
mod mistakes;
mod read;
mod recovery;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use toml::de::DeTable;

use crate::diagnostic::Diagnostic;
use crate::model::Config;
use index::KeyIndex;

pub use read::{ReadError, MAX_CONFIG_BYTES};

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
        Ok(Source::from_text(path, read::read_text(path)?))
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
        let message = error.message().trim().to_owned();
        let key = recovery::error_key(&self.text, span.clone(), &message);
        let mut diagnostic = Diagnostic::error(key, message.clone());
        if let Some(hint) = mistakes::known_mistake(&message) {
            diagnostic = diagnostic.hint(hint);
        }
        self.place(diagnostic, span)
    }

    /// Fills in the file, line and column of a diagnostic from its key path.
    pub fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        let span = self.index().span_of(&diagnostic.key);
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

    fn index(&self) -> &KeyIndex {
        // Located without a typed parse first (tests, or a caller that only locates): parse here.
        self.index.get_or_init(|| {
            let root = DeTable::parse(&self.text).ok();
            KeyIndex::new(&self.text, root.as_ref().map(|r| r.get_ref()))
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::source) const TEXT: &str = "[node]\nname = \"a\"\n\n[[streams]]\nname = \"S\"\nsubjects = [\"s.>\"]\n\n[[streams.consumers]]\nname = \"c\"\nbogus = 1\n";

    #[test]
    fn unknown_key_is_located_and_named() {
        let source = Source::from_text("pier.toml", TEXT);
        let err = source.parse().unwrap_err();
        assert_eq!(err.key, "streams[0].consumers[0].bogus");
        assert_eq!((err.line, err.column), (Some(10), Some(1)));
        assert!(err.message.contains("bogus"), "{}", err.message);
    }
}

//! The configuration as every command starts from it: read, parsed, validated against the
//! nats-server binary that will run it.

use std::path::{Path, PathBuf};

use pier_config::validate::{validate, Context};
use pier_config::{server_binary, Config, Diagnostic, ReadError, ServerVersion, Source};

/// Which nats-server to judge the configuration against, beyond what pier.toml says.
#[derive(Debug, Clone, Default)]
pub struct ServerChoice {
    /// Overrides `node.nats_server`.
    pub binary: Option<PathBuf>,
    /// Skips asking the binary: validate and render for this version.
    pub version: Option<ServerVersion>,
}

#[derive(Debug)]
pub struct Checked {
    pub source: Source,
    /// None when the file does not parse; then `diagnostics` says why.
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
    pub server: Option<PathBuf>,
    pub version: Option<ServerVersion>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// Reads and checks a configuration file. Only an unreadable file is an `Err`: everything wrong
/// inside it is a diagnostic.
pub fn check(path: &Path, choice: &ServerChoice) -> Result<Checked, ReadError> {
    let source = Source::read(path)?;
    let config = match source.parse() {
        Ok(config) => config,
        Err(diagnostic) => {
            return Ok(Checked {
                source,
                config: None,
                diagnostics: vec![*diagnostic],
                server: None,
                version: None,
            })
        }
    };

    let mut diagnostics = Vec::new();
    let configured = choice
        .binary
        .as_deref()
        .or(config.node.nats_server.as_deref());
    // A binary the operator named must work; one pier looks for may be missing on a machine
    // that only checks configurations.
    let problem = |message: String| match configured {
        Some(_) => Diagnostic::error("node.nats_server", message),
        None => Diagnostic::warning("node.nats_server", message),
    };
    let server = match server_binary::locate(configured) {
        Ok(path) => Some(path),
        Err(e) if choice.version.is_none() => {
            diagnostics.push(problem(e.to_string()));
            None
        }
        Err(_) => None,
    };
    let version = choice.version.or_else(|| {
        let server = server.as_deref()?;
        match server_binary::version(server) {
            Ok(version) => Some(version),
            Err(e) => {
                diagnostics.push(problem(e.to_string()));
                None
            }
        }
    });

    let context = Context {
        server_version: version,
    };
    diagnostics.extend(validate(&config, &context));
    let diagnostics = diagnostics.into_iter().map(|d| source.locate(d)).collect();
    Ok(Checked {
        source,
        config: Some(config),
        diagnostics,
        server,
        version,
    })
}

//! The one loader: every command of `pier-broker` and `pier-tuner` starts from [`check`], so both
//! binaries read, parse, validate and locate a pier.toml the same way and reach the same verdict.

use std::path::{Path, PathBuf};

use crate::validate::{validate, Context};
use crate::{server_binary, Config, Diagnostic, ReadError, ServerVersion, Source};

/// Which nats-server to judge the configuration against, beyond what pier.toml says.
#[derive(Debug, Clone, Default)]
pub struct ServerChoice {
    /// Overrides `node.nats_server`.
    pub binary: Option<PathBuf>,
    /// Where the version comes from.
    pub version: VersionSource,
}

/// Where the nats-server version that validation judges against comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum VersionSource {
    /// Ask the binary: the configured one, else pier's bundled one, else the first on PATH.
    #[default]
    Binary,
    /// This version, without asking (`--server-version`, or the running server on a reload).
    Given(ServerVersion),
    /// Ask these binaries first — the executables of running nats-servers, as the tuner finds
    /// them in /proc — then fall back to [`VersionSource::Binary`]: what runs is what matters.
    Running(Vec<PathBuf>),
    /// Ask nothing and skip the version-dependent checks: the tuner on a captured host tree,
    /// whose binaries are not on this machine.
    Unknown,
}

impl From<Option<ServerVersion>> for VersionSource {
    fn from(version: Option<ServerVersion>) -> Self {
        version.map_or(VersionSource::Binary, VersionSource::Given)
    }
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

    /// The configuration when it has no errors: what a command may act on.
    pub fn valid_config(&self) -> Option<&Config> {
        self.config.as_ref().filter(|_| !self.has_errors())
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
    let (server, version) = find_server(&config, choice, &mut diagnostics);
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

/// The binary and its version, as `choice` says to find them; problems become diagnostics.
fn find_server(
    config: &Config,
    choice: &ServerChoice,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<PathBuf>, Option<ServerVersion>) {
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
    match &choice.version {
        VersionSource::Unknown => (configured.map(Path::to_owned), None),
        VersionSource::Given(version) => (server_binary::locate(configured).ok(), Some(*version)),
        source => {
            if let VersionSource::Running(running) = source {
                for binary in running {
                    if let Ok(version) = server_binary::version(binary) {
                        return (Some(binary.clone()), Some(version));
                    }
                }
            }
            let server = match server_binary::locate(configured) {
                Ok(path) => path,
                Err(e) => {
                    diagnostics.push(problem(e.to_string()));
                    return (None, None);
                }
            };
            match server_binary::version(&server) {
                Ok(version) => (Some(server), Some(version)),
                Err(e) => {
                    diagnostics.push(problem(e.to_string()));
                    (Some(server), None)
                }
            }
        }
    }
}

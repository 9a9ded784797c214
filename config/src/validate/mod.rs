//! Semantic checks on a parsed configuration. Every check runs and every problem is returned, so
//! an operator fixes a file in one pass. Checks never touch the network or start anything.

mod cluster;
mod jetstream;
mod node;
mod security;
mod streams;

use crate::diagnostic::Diagnostic;
use crate::model::Config;
use crate::version::{Feature, ServerVersion};

/// What validation knows beyond the file itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The version of the nats-server that will run this configuration, when it could be asked.
    pub server_version: Option<ServerVersion>,
}

/// Runs every check; errors and warnings come back together, in file order of their checks.
pub fn validate(config: &Config, context: &Context) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    node::check(config, &mut out);
    cluster::check(config, &mut out);
    jetstream::check(config, context, &mut out);
    security::check(config, &mut out);
    streams::check(config, context, &mut out);
    out
}

/// Refuses a setting the target nats-server is too old for; warns when its version is unknown.
fn version_gate(key: &str, feature: Feature, context: &Context, out: &mut Vec<Diagnostic>) {
    match context.server_version {
        Some(version) if !version.supports(feature) => out.push(
            Diagnostic::error(
                key,
                format!(
                    "nats-server {version} cannot honour {}: it needs {} or newer",
                    feature.describe(),
                    feature.since()
                ),
            )
            .hint("upgrade nats-server (node.nats_server), or remove the setting"),
        ),
        Some(_) => {}
        None => out.push(Diagnostic::warning(
            key,
            format!(
                "the nats-server version is unknown, so support for {} was not checked",
                feature.describe()
            ),
        )),
    }
}

/// A name usable as nats-server's server, cluster, stream or consumer name.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("cannot be empty")
    } else if name.chars().any(char::is_whitespace) {
        Some("cannot contain white space")
    } else if name.contains(['.', '*', '>', '/', '\\']) {
        Some("cannot contain `.`, `*`, `>`, `/` or `\\`")
    } else {
        None
    }
}

//! Semantic checks on a parsed configuration. Every check runs and every problem is returned, so
//! an operator fixes a file in one pass. Checks look at the files the configuration names (their
//! type, size and mode; a secret's text, never shown) but never touch the network or start
//! anything.

mod accounts;
mod cluster;
mod consumers;
mod files;
mod jetstream;
mod node;
mod provision;
mod security;
mod streams;
mod subject_overlap;

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
    accounts::check(config, &mut out);
    files::check(config, &mut out);
    streams::check(config, context, &mut out);
    provision::check(config, &mut out);
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

/// The longest name JetStream accepts for a stream or consumer (its `JSMaxNameLen`), in bytes;
/// pier holds every name to it.
pub const MAX_NAME_BYTES: usize = 255;

/// A name usable as nats-server's server, cluster, stream or consumer name, or JetStream domain.
fn name_problem(name: &str) -> Option<String> {
    if let Some(problem) = word_problem(name) {
        Some(problem)
    } else if name.contains(['.', '*', '>', '/', '\\']) {
        Some("cannot contain `.`, `*`, `>`, `/` or `\\`".into())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!(
            "is {} bytes long; JetStream allows at most {MAX_NAME_BYTES}",
            name.len()
        ))
    } else {
        None
    }
}

/// A single word, as names, tags and queue groups are: not empty, without control characters or
/// white space.
fn word_problem(word: &str) -> Option<String> {
    if word.trim().is_empty() {
        Some("cannot be empty".into())
    } else if let Some(problem) = control_problem(word) {
        Some(problem)
    } else if word.chars().any(char::is_whitespace) {
        Some("cannot contain white space".into())
    } else {
        None
    }
}

/// A control character (C0 or DEL) in a value: refused everywhere, since it would reach
/// nats-server's configuration, JetStream or a terminal.
fn control_problem(value: &str) -> Option<String> {
    value
        .chars()
        .find(|c| c.is_ascii_control())
        .map(|c| format!("cannot contain the control character {:?}", c))
}

/// A placement tag (`node.tags`, `streams.placement_tags`).
fn check_tag(key: String, tag: &str, out: &mut Vec<Diagnostic>) {
    if let Some(problem) = word_problem(tag) {
        out.push(Diagnostic::error(key, format!("tag {tag:?} {problem}")));
    }
}

/// JetStream's longest description (`JSMaxDescriptionLen`), in bytes.
const MAX_DESCRIPTION_BYTES: usize = 4096;

/// A stream's or consumer's description: sent to JetStream as it is, and shown by tools.
fn check_description(key: &str, description: Option<&str>, out: &mut Vec<Diagnostic>) {
    let Some(description) = description else {
        return;
    };
    let key = format!("{key}.description");
    if description.len() > MAX_DESCRIPTION_BYTES {
        out.push(Diagnostic::error(
            key,
            format!(
                "the description is {} bytes long; JetStream allows at most {MAX_DESCRIPTION_BYTES}",
                description.len()
            ),
        ));
    } else if let Some(problem) = control_problem(&description.replace(['\n', '\t'], " ")) {
        out.push(Diagnostic::error(key, format!("the description {problem}")));
    }
}

/// A free-text value rendered or sent as it is (a user name, a description).
fn check_text(key: String, value: &str, out: &mut Vec<Diagnostic>) {
    if let Some(problem) = control_problem(value) {
        out.push(Diagnostic::error(key, problem));
    }
}

use serde::{Deserialize, Serialize};

use crate::units::Span;

/// How `pier-broker provision` reconciles the declared `[[streams]]` with the cluster
/// (`[provision]`). `run` reconciles too, but never prunes nor applies destructive changes.
///
/// Destructive changes are allowed per stream (`streams.allow_destructive`), never globally, so
/// that allowing one stream to be recreated cannot put another at risk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    /// Delete streams absent from the configuration, and durable consumers absent from their
    /// declared stream. Off: they are listed as unmanaged and left alone.
    #[serde(default = "default_prune")]
    pub prune: bool,
    /// How long to keep retrying while JetStream has no meta leader or requests time out.
    #[serde(default = "default_provision_timeout")]
    pub timeout: Span,
    /// The `client.users` name pier's own client provisions as. Absent: the first user with a
    /// name and a password file (none when `client.users` is empty).
    #[serde(default)]
    pub user: Option<String>,
}

impl Default for Provision {
    fn default() -> Self {
        Provision {
            prune: default_prune(),
            timeout: default_provision_timeout(),
            user: None,
        }
    }
}

pub fn default_prune() -> bool {
    false
}

pub fn default_provision_timeout() -> Span {
    Span(std::time::Duration::from_secs(60))
}

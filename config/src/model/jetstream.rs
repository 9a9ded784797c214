//! `[jetstream]`: the store, its limits, and when it fsyncs.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Span};
use crate::version::{Feature, ServerVersion};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JetStream {
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    #[serde(default = "default_store_dir")]
    pub store_dir: PathBuf,
    #[serde(default)]
    pub max_file_store: Option<Bytes>,
    #[serde(default)]
    pub max_memory_store: Option<Bytes>,
    /// When the file store is fsynced. Absent means `always` wherever nats-server can do it
    /// (2.10.0 and newer), so nothing is acknowledged before it is on disk; see [`Self::sync_in_force`].
    #[serde(default)]
    pub sync: Option<SyncPolicy>,
    #[serde(default)]
    pub domain: Option<String>,
}

impl Default for JetStream {
    fn default() -> Self {
        JetStream {
            enabled: default_enabled(),
            store_dir: default_store_dir(),
            max_file_store: None,
            max_memory_store: None,
            sync: None,
            domain: None,
        }
    }
}

fn default_enabled() -> bool {
    true
}

pub fn default_store_dir() -> PathBuf {
    PathBuf::from("/var/lib/pier/jetstream")
}

impl JetStream {
    /// The fsync policy the store runs with on `version`: the written one, else `always` where
    /// the server can fsync every write, else the server's own (older servers have no
    /// `sync_interval`).
    pub fn sync_in_force(&self, version: Option<ServerVersion>) -> SyncPolicy {
        match self.sync {
            Some(policy) => policy,
            None if version.is_some_and(|v| !v.supports(Feature::SyncInterval)) => {
                SyncPolicy::ServerDefault
            }
            None => SyncPolicy::Always,
        }
    }
}

/// `sync = "always"` (fsync after every write, before the acknowledgement), an interval such as
/// `"10s"`, or `"server-default"` (nats-server's own: every 2 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    Always,
    Every(Span),
    ServerDefault,
}

impl SyncPolicy {
    /// How `sync` spells the server's own policy.
    pub const SERVER_DEFAULT: &'static str = "server-default";

    /// What a policy that acknowledges before the write is on disk risks, in the words every
    /// warning about it uses (Jepsen's NATS 2.12.1 analysis, nats-server #7564 and #7567).
    pub const LAZY_RISK: &'static str = "a power cut of every node, or one node's crash while \
        another is paused or partitioned, loses messages that were already acknowledged";

    /// True when a write can be acknowledged before it is on disk.
    pub fn is_lazy(self) -> bool {
        self != SyncPolicy::Always
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Always => f.write_str("always"),
            SyncPolicy::Every(span) => write!(f, "every {span}"),
            SyncPolicy::ServerDefault => {
                f.write_str("on nats-server's own schedule (every 2 minutes)")
            }
        }
    }
}

impl<'de> Deserialize<'de> for SyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        match s.trim() {
            "always" => Ok(SyncPolicy::Always),
            SyncPolicy::SERVER_DEFAULT => Ok(SyncPolicy::ServerDefault),
            other => other.parse().map(SyncPolicy::Every).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{e}; or \"always\" for an fsync after every write, or \"{}\" for \
                     nats-server's own policy",
                    SyncPolicy::SERVER_DEFAULT
                ))
            }),
        }
    }
}

impl Serialize for SyncPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SyncPolicy::Always => serializer.serialize_str("always"),
            SyncPolicy::Every(span) => span.serialize(serializer),
            SyncPolicy::ServerDefault => serializer.serialize_str(SyncPolicy::SERVER_DEFAULT),
        }
    }
}

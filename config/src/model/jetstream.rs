use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Span};

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
    /// How often the file store is fsynced; absent leaves nats-server's default (every 2 minutes).
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

/// `sync = "always"` (fsync after every write) or an interval such as `"10s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    Always,
    Every(Span),
}

impl<'de> Deserialize<'de> for SyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        match s.trim() {
            "always" => Ok(SyncPolicy::Always),
            other => other.parse().map(SyncPolicy::Every).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{e}; or \"always\" for an fsync after every write"
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
        }
    }
}

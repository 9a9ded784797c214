//! nats-server versions and the configuration features each one understands.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// A configuration feature that only some nats-server versions accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `jetstream { sync_interval }`: fsync policy of the file store.
    SyncInterval,
    /// Consumers with several `filter_subjects`.
    MultipleFilterSubjects,
    /// Pull consumers with `ack_policy = "none"` (older servers require acks on pull consumers).
    PullWithoutAck,
}

impl Feature {
    pub fn since(self) -> ServerVersion {
        match self {
            Feature::SyncInterval | Feature::MultipleFilterSubjects | Feature::PullWithoutAck => {
                ServerVersion::new(2, 10, 0)
            }
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Feature::SyncInterval => "jetstream.sync (nats-server's sync_interval)",
            Feature::MultipleFilterSubjects => "several filter_subjects on one consumer",
            Feature::PullWithoutAck => "a pull consumer with ack_policy = \"none\"",
        }
    }
}

impl ServerVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ServerVersion {
            major,
            minor,
            patch,
        }
    }

    pub fn supports(self, feature: Feature) -> bool {
        self >= feature.since()
    }

    /// Reads the output of `nats-server --version` ("nats-server: v2.9.10").
    pub fn from_version_output(output: &str) -> Option<Self> {
        output
            .split_whitespace()
            .find_map(|word| word.trim_start_matches('v').parse().ok())
    }
}

impl FromStr for ServerVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let core = s.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next().unwrap_or(core);
        let mut parts = core.split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch)), None) => {
                Ok(ServerVersion::new(major, minor, patch))
            }
            _ => Err(format!("{s:?} is not a version like 2.10.4")),
        }
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for ServerVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_output() {
        let v = ServerVersion::from_version_output("nats-server: v2.9.10\n").unwrap();
        assert_eq!(v, ServerVersion::new(2, 9, 10));
        assert!(!v.supports(Feature::SyncInterval));
        let v = ServerVersion::from_version_output("nats-server: v2.15.1").unwrap();
        assert!(v.supports(Feature::SyncInterval));
        assert_eq!(
            "2.11.0-beta.1".parse::<ServerVersion>().unwrap(),
            ServerVersion::new(2, 11, 0)
        );
        assert!(ServerVersion::from_version_output("garbage").is_none());
    }
}

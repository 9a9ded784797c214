use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::units::Bytes;

/// TLS for a listener (clients or routes). Paths are absolute.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Require and verify peer certificates against `ca_file`.
    #[serde(default)]
    pub verify: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    #[serde(default)]
    pub tls: Option<Tls>,
    /// When non-empty, clients must authenticate as one of these users.
    #[serde(default)]
    pub users: Vec<User>,
    /// nats-server's accounts: each a subject space of its own, with JetStream when asked.
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// The declared account nats-server uses for its own requests (`$SYS.>`: server and
    /// account information, the day-2 commands). Absent: nats-server's own `$SYS`, which no
    /// user can log into.
    #[serde(default)]
    pub system_account: Option<String>,
}

impl Client {
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// Whether `user` can use JetStream: its account has it, or, with no account declared,
    /// nats-server gives the global account (where users without `account` are) JetStream.
    pub fn has_jetstream(&self, user: &User) -> bool {
        match &user.account {
            Some(name) => self.account(name).is_some_and(|a| a.jetstream.is_some()),
            None => self.accounts.is_empty(),
        }
    }
}

/// A client identity: a user with a password read from a file, or an nkey public key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub nkey: Option<String>,
    /// The declared account the user belongs to; absent: nats-server's global account.
    #[serde(default)]
    pub account: Option<String>,
    /// Absent: everything in its account.
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

/// What a user may publish and subscribe to, as nats-server's `permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    #[serde(default)]
    pub publish: Option<SubjectRule>,
    /// Subjects may carry a queue group after a space: `"jobs.process worker-group"`.
    #[serde(default)]
    pub subscribe: Option<SubjectRule>,
    /// May answer the requests it receives (publish to their reply subjects) whatever
    /// `publish` says.
    #[serde(default)]
    pub allow_responses: bool,
}

/// Subjects allowed and denied. With `allow` empty everything not denied is allowed; a subject
/// both allowed and denied is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRule {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

impl SubjectRule {
    /// Whether every subject `pattern` matches is allowed (for a concrete subject: whether it is).
    pub fn allows_all(&self, pattern: &str) -> bool {
        let allowed = self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|a| crate::subject::is_subset(pattern, a));
        allowed
            && !self
                .deny
                .iter()
                .any(|d| crate::subject::overlaps(pattern, d))
    }
}

/// `[[client.accounts]]`: nats-server keeps each account's subjects, streams and consumers
/// apart from every other's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    /// JetStream for the account, within these limits. Absent: the account has no JetStream.
    #[serde(default)]
    pub jetstream: Option<AccountJetStream>,
}

/// An account's share of JetStream; an absent limit is unlimited (up to the server's).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountJetStream {
    #[serde(default)]
    pub max_file_store: Option<Bytes>,
    #[serde(default)]
    pub max_memory_store: Option<Bytes>,
    #[serde(default)]
    pub max_streams: Option<u32>,
    #[serde(default)]
    pub max_consumers: Option<u32>,
}

impl AccountJetStream {
    pub fn unlimited(&self) -> bool {
        self.max_file_store.is_none() && self.max_memory_store.is_none()
    }
}

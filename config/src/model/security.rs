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

    /// Whether `user` can use JetStream: its account has it, or, with no account declared but
    /// the system account, nats-server gives the global account (where users without `account`
    /// are) JetStream.
    pub fn has_jetstream(&self, user: &User) -> bool {
        match &user.account {
            Some(name) => self.account(name).is_some_and(|a| a.jetstream.is_some()),
            None => self
                .accounts
                .iter()
                .all(|a| self.system_account.as_deref() == Some(a.name.as_str())),
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
    /// May answer the requests it receives (publish to their reply subjects). nats-server then
    /// allows no other publish unless `publish.allow` names it.
    #[serde(default)]
    pub allow_responses: bool,
}

impl Permissions {
    /// Whether the user may publish to every subject `pattern` matches.
    pub fn may_publish(&self, pattern: &str) -> bool {
        match &self.publish {
            // allow_responses turns an absent allow list into an empty one: only replies.
            Some(rule) if self.allow_responses && rule.allow.is_empty() => false,
            Some(rule) => rule.allows_all(pattern),
            None => !self.allow_responses,
        }
    }

    /// Whether the user may subscribe to every subject `pattern` matches (not as a queue).
    pub fn may_subscribe(&self, pattern: &str) -> bool {
        self.subscribe
            .as_ref()
            .map_or(true, |rule| rule.allows_all(pattern))
    }
}

/// Subjects allowed and denied. With `allow` empty everything not denied is allowed (but see
/// [`Permissions::allow_responses`]); a subject both allowed and denied is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRule {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

impl SubjectRule {
    /// Whether every subject `pattern` matches is allowed, for a plain (not queue)
    /// subscription or a publish. Entries naming a queue group (`"SUBJECT QUEUE"`) apply to that
    /// group only.
    pub fn allows_all(&self, pattern: &str) -> bool {
        let plain = |entries: &[String]| -> Vec<String> {
            entries
                .iter()
                .filter(|e| !e.contains(' '))
                .cloned()
                .collect()
        };
        let (allow, deny) = (plain(&self.allow), plain(&self.deny));
        let allowed =
            self.allow.is_empty() || allow.iter().any(|a| crate::subject::is_subset(pattern, a));
        allowed && !deny.iter().any(|d| crate::subject::overlaps(pattern, d))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: &[&str], deny: &[&str]) -> SubjectRule {
        SubjectRule {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_rule_allows_what_it_covers_and_deny_wins() {
        let r = rule(&["$JS.API.>", "jobs.*"], &["$JS.API.STREAM.DELETE.*"]);
        assert!(
            !r.allows_all("$JS.API.>"),
            "a denied part is not all allowed"
        );
        assert!(r.allows_all("$JS.API.STREAM.INFO.LOGS"));
        assert!(!r.allows_all("$JS.API.STREAM.DELETE.LOGS"));
        assert!(r.allows_all("jobs.process") && !r.allows_all("jobs.>"));
        assert!(rule(&[], &["logs.>"]).allows_all("jobs.process"));
        // A queue entry is that group's only.
        assert!(!rule(&["jobs.process worker-group"], &[]).allows_all("jobs.process"));
        assert!(rule(&[], &["_INBOX.> grp"]).allows_all("_INBOX.>"));
    }

    #[test]
    fn allow_responses_leaves_only_what_publish_allows() {
        let mut p = Permissions {
            allow_responses: true,
            ..Permissions::default()
        };
        assert!(!p.may_publish("$JS.API.>"), "replies only");
        p.publish = Some(rule(&["$JS.API.>"], &[]));
        assert!(p.may_publish("$JS.API.>"));
        p.publish = Some(rule(&[], &["logs.>"]));
        assert!(!p.may_publish("$JS.API.>"));
        p.allow_responses = false;
        assert!(p.may_publish("$JS.API.>"));
        assert!(Permissions::default().may_publish("anything"));
    }
}

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
}

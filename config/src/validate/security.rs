//! TLS and authentication settings: complete, and without inline secrets. The files they name are
//! checked in `files`.

use std::collections::HashSet;

use super::check_text;
use crate::diagnostic::Diagnostic;
use crate::model::{Config, Tls};

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    if let Some(tls) = &config.client.tls {
        check_tls("client.tls", tls, out);
    }
    if let Some(cluster) = &config.cluster {
        if let Some(tls) = &cluster.tls {
            check_tls("cluster.tls", tls, out);
        }
        if let Some(auth) = &cluster.authorization {
            if auth.user.trim().is_empty() {
                out.push(Diagnostic::error(
                    "cluster.authorization.user",
                    "route user cannot be empty",
                ));
            }
            check_text("cluster.authorization.user".into(), &auth.user, out);
            if cluster.tls.is_none() {
                out.push(
                    Diagnostic::warning(
                        "cluster.authorization",
                        "route credentials travel in clear text without cluster.tls",
                    )
                    .hint("add [cluster.tls] when routes cross an untrusted network"),
                );
            }
        }
    }

    let mut seen = HashSet::new();
    for (i, user) in config.client.users.iter().enumerate() {
        let key = format!("client.users[{i}]");
        match (&user.user, &user.password_file, &user.nkey) {
            (Some(name), Some(_), None) => {
                if name.trim().is_empty() {
                    out.push(Diagnostic::error(
                        format!("{key}.user"),
                        "user name cannot be empty",
                    ));
                }
                check_text(format!("{key}.user"), name, out);
                if !seen.insert(name.clone()) {
                    out.push(Diagnostic::error(
                        format!("{key}.user"),
                        format!("duplicate user {name:?}"),
                    ));
                }
            }
            (None, None, Some(nkey)) => {
                if !(nkey.len() == 56
                    && nkey.starts_with('U')
                    && nkey
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
                {
                    out.push(
                        Diagnostic::error(format!("{key}.nkey"), "not a user nkey public key")
                            .hint("a user public nkey is 56 characters starting with U (never the seed, which starts with SU)"),
                    );
                }
                if !seen.insert(nkey.clone()) {
                    out.push(Diagnostic::error(format!("{key}.nkey"), "duplicate nkey"));
                }
            }
            _ => out.push(
                Diagnostic::error(
                    key,
                    "a user needs either `user` with `password_file`, or `nkey`",
                )
                .hint("passwords are read from files so that they never sit in pier.toml"),
            ),
        }
    }
}

/// The files themselves are checked with every other named file (`files`).
fn check_tls(key: &str, tls: &Tls, out: &mut Vec<Diagnostic>) {
    if tls.verify && tls.ca_file.is_none() {
        out.push(Diagnostic::error(
            format!("{key}.verify"),
            "verify needs ca_file to check certificates against",
        ));
    }
}

//! TLS and authentication settings: complete, and without inline secrets; and the listeners
//! others can reach that let anyone in, each named. The files they name are checked in `files`.

use std::collections::HashSet;

use super::check_text;
use crate::diagnostic::Diagnostic;
use crate::model::{Config, Tls};

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    exposure(config, out);
    if let Some(tls) = &config.client.tls {
        check_tls("client.tls", tls, out);
        if tls.ca_file.is_none() && !config.streams.is_empty() {
            // pier provisions the declared streams as a client of this listener; nats-server
            // itself needs no CA to serve, so nothing else would say so before provisioning fails.
            out.push(
                Diagnostic::warning(
                    "client.tls",
                    "without ca_file, pier's own client (provisioning the declared streams) \
                     trusts only the system's CA certificates, so a certificate from a private \
                     CA makes provisioning fail",
                )
                .hint("set ca_file to the CA that signed cert_file"),
            );
        }
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

/// A listener others can reach that lets anyone in: pier's defaults never do, so each is named.
fn exposure(config: &Config, out: &mut Vec<Diagnostic>) {
    let node = &config.node;
    let client = &config.client;
    if !node.client_listen.ip().is_loopback() {
        let addr = node.client_listen;
        // A client certificate checked against the CA is a credential too.
        let verified = client.tls.as_ref().is_some_and(|tls| tls.verify);
        if client.users.is_empty() && !verified {
            let without = if client.tls.is_none() {
                "without TLS or credentials"
            } else {
                "without credentials (TLS alone lets anyone in)"
            };
            out.push(
                Diagnostic::warning(
                    "node.client_listen",
                    format!(
                        "anyone who reaches {addr} can connect {without}: publish, subscribe \
                         and use JetStream's API (delete streams)"
                    ),
                )
                .hint("add [client.tls] and [[client.users]] (docs/security.md), or listen on 127.0.0.1"),
            );
        } else if client.tls.is_none() && client.users.iter().any(|u| u.password_file.is_some()) {
            out.push(
                Diagnostic::warning(
                    "client.users",
                    format!("passwords travel in clear text to {addr} without client.tls"),
                )
                .hint("add [client.tls]"),
            );
        }
    }
    if let Some(cluster) = &config.cluster {
        let addr = node.cluster_listen;
        if !addr.ip().is_loopback() && cluster.tls.is_none() && cluster.authorization.is_none() {
            out.push(
                Diagnostic::warning(
                    "node.cluster_listen",
                    format!(
                        "anyone who reaches {addr} can join the cluster as a route and receive \
                         every message: routes have neither TLS nor credentials"
                    ),
                )
                .hint("add [cluster.tls] with verify = true (mutual TLS, docs/security.md)"),
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    fn warnings(toml: &str) -> Vec<String> {
        let config = Source::from_text("pier.toml", format!("[node]\nname = \"n1\"\n{toml}"))
            .parse()
            .expect("test config parses");
        let mut out = Vec::new();
        check(&config, &mut out);
        out.into_iter()
            .filter(|d| !d.is_error())
            .map(|d| d.key)
            .collect()
    }

    const TLS: &str = "[client.tls]\ncert_file = \"/etc/pier/tls/node.pem\"\n\
                       key_file = \"/etc/pier/tls/node-key.pem\"\n";
    const STREAM: &str = "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n";

    #[test]
    fn listeners_others_reach_without_tls_or_credentials_warn_by_name() {
        // The test node listens for clients on 0.0.0.0 (the default) unless told otherwise.
        assert_eq!(warnings(""), ["node.client_listen"]);
        let loopback = "client_listen = \"127.0.0.1:4222\"\n";
        assert_eq!(warnings(loopback), Vec::<String>::new());
        let users = "[[client.users]]\nuser = \"app\"\npassword_file = \"/p\"\n";
        assert_eq!(warnings(users), ["client.users"]);
        let with_tls = format!("{TLS}ca_file = \"/ca.pem\"\n{users}");
        assert_eq!(warnings(&with_tls), Vec::<String>::new());
        let tls_alone = format!("{TLS}ca_file = \"/ca.pem\"\n");
        assert_eq!(warnings(&tls_alone), ["node.client_listen"]);
        let verified = format!("{tls_alone}verify = true\n");
        assert_eq!(warnings(&verified), Vec::<String>::new());
        let cluster = format!(
            "{loopback}[cluster]\nname = \"c\"\n[[cluster.peers]]\nname = \"n1\"\naddress = \"10.0.0.1:6222\"\n"
        );
        assert_eq!(warnings(&cluster), ["node.cluster_listen"]);
        let routes_tls = format!(
            "{cluster}[cluster.tls]\ncert_file = \"/c\"\nkey_file = \"/k\"\nca_file = \"/ca\"\nverify = true\n"
        );
        assert_eq!(warnings(&routes_tls), Vec::<String>::new());
    }

    #[test]
    fn client_tls_without_a_ca_warns_only_when_pier_provisions_through_it() {
        let tls = format!("client_listen = \"127.0.0.1:4222\"\n{TLS}");
        assert_eq!(warnings(&format!("{tls}\n{STREAM}")), ["client.tls"]);
        assert_eq!(warnings(&tls), Vec::<String>::new());
        let with_ca = format!("{tls}ca_file = \"/etc/pier/tls/ca.pem\"\n\n{STREAM}");
        assert_eq!(warnings(&with_ca), Vec::<String>::new());
    }
}

//! TLS and authentication settings: complete, absolute, and without inline secrets.

use std::collections::HashSet;

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
            check_absolute(
                "cluster.authorization.password_file",
                &auth.password_file,
                out,
            );
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
            (Some(name), Some(file), None) => {
                if name.trim().is_empty() {
                    out.push(Diagnostic::error(
                        format!("{key}.user"),
                        "user name cannot be empty",
                    ));
                }
                check_absolute(&format!("{key}.password_file"), file, out);
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

fn check_tls(key: &str, tls: &Tls, out: &mut Vec<Diagnostic>) {
    check_absolute(&format!("{key}.cert_file"), &tls.cert_file, out);
    check_absolute(&format!("{key}.key_file"), &tls.key_file, out);
    match &tls.ca_file {
        Some(ca) => check_absolute(&format!("{key}.ca_file"), ca, out),
        None if tls.verify => out.push(Diagnostic::error(
            format!("{key}.verify"),
            "verify needs ca_file to check certificates against",
        )),
        None => {}
    }
}

fn check_absolute(key: &str, path: &std::path::Path, out: &mut Vec<Diagnostic>) {
    if !path.is_absolute() {
        out.push(
            Diagnostic::error(key, format!("{} is a relative path", path.display()))
                .hint("write an absolute path"),
        );
    }
}

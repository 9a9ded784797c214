//! Rendering pier.toml into nats-server's own configuration: a pure function of the configuration,
//! the server version and the secrets, so the same input always gives the same bytes.

mod conf_writer;
mod secrets;

use std::net::SocketAddr;

use pier_config::model::{AccountJetStream, Client, Cluster, LogLevel, SyncPolicy, Tls, User};
use pier_config::{Config, Feature, ServerVersion};

use conf_writer::ConfWriter;
pub use secrets::{Redacted, SecretError, SecretFiles, Secrets, REDACTED};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{key}: nats-server {version} does not support {}; it needs {} or newer", feature.describe(), feature.since())]
    Unsupported {
        key: &'static str,
        feature: Feature,
        version: ServerVersion,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Renders the nats-server configuration for `config`, emitting only keys `version` accepts.
pub fn render(
    config: &Config,
    version: ServerVersion,
    secrets: &dyn Secrets,
) -> Result<String, RenderError> {
    let mut w = ConfWriter::default();
    w.comment(&format!(
        "nats-server {version} configuration for {}, rendered by pier {}.\n\
         Do not edit: change pier.toml and reload (systemctl reload pier-broker).",
        config.node.name,
        env!("CARGO_PKG_VERSION"),
    ));
    w.blank();
    w.string("server_name", &config.node.name);
    listen(&mut w, config.node.client_listen);
    w.string("http", &config.node.monitor_listen.to_string());
    if !config.node.tags.is_empty() {
        w.strings("server_tags", &config.node.tags);
    }
    w.blank();

    w.comment("Logging goes to the journal through pier, which stamps the time itself.");
    w.boolean("logtime", false);
    w.boolean("debug", config.log.level != LogLevel::Info);
    w.boolean("trace", config.log.level == LogLevel::Trace);
    w.blank();

    let limits = &config.limits;
    if let Some(payload) = limits.max_payload {
        w.number("max_payload", payload.get());
    }
    if let Some(connections) = limits.max_connections {
        w.number("max_connections", connections);
    }
    if let Some(deadline) = limits.write_deadline {
        w.string("write_deadline", &deadline.to_go());
    }
    w.string("lame_duck_duration", &limits.lame_duck_duration.to_go());
    w.string(
        "lame_duck_grace_period",
        &limits.lame_duck_grace_period.to_go(),
    );

    if config.jetstream.enabled {
        w.blank();
        jetstream(&mut w, config, version)?;
    }
    if let Some(cluster) = &config.cluster {
        w.blank();
        cluster_block(&mut w, config, cluster, secrets)?;
    }
    if let Some(tls) = &config.client.tls {
        w.blank();
        tls_block(&mut w, tls);
    }
    users_and_accounts(&mut w, &config.client, secrets)?;
    Ok(w.finish())
}

/// Users without an account go to nats-server's global account (`authorization`), the others
/// into their account's block.
fn users_and_accounts(
    w: &mut ConfWriter,
    client: &Client,
    secrets: &dyn Secrets,
) -> Result<(), RenderError> {
    let mut users = Vec::with_capacity(client.users.len());
    for user in &client.users {
        let password = match &user.password_file {
            Some(file) => Some(secrets.read(file)?),
            None => None,
        };
        users.push((user, password));
    }
    let global: Vec<_> = users.iter().filter(|(u, _)| u.account.is_none()).collect();
    if !global.is_empty() {
        w.blank();
        w.block("authorization", |w| {
            w.block_list("users", &global, |w, (user, password)| {
                user_entry(w, user, password.as_deref())
            });
        });
    }
    if !client.accounts.is_empty() {
        w.blank();
        w.block("accounts", |w| {
            for account in &client.accounts {
                let members: Vec<_> = users
                    .iter()
                    .filter(|(u, _)| u.account.as_deref() == Some(account.name.as_str()))
                    .collect();
                // Validation keeps account names to letters, digits, `-` and `_`: a bare key.
                w.block(&account.name, |w| {
                    if let Some(js) = &account.jetstream {
                        account_jetstream(w, js);
                    }
                    w.block_list("users", &members, |w, (user, password)| {
                        user_entry(w, user, password.as_deref())
                    });
                });
            }
        });
    }
    if let Some(system) = &client.system_account {
        w.string("system_account", system);
    }
    Ok(())
}

fn user_entry(w: &mut ConfWriter, user: &User, password: Option<&str>) {
    if let Some(name) = &user.user {
        w.string("user", name);
    }
    if let Some(password) = password {
        w.string("password", password);
    }
    if let Some(nkey) = &user.nkey {
        w.string("nkey", nkey);
    }
    if let Some(permissions) = &user.permissions {
        w.block("permissions", |w| {
            let rules = [
                ("publish", &permissions.publish),
                ("subscribe", &permissions.subscribe),
            ];
            for (name, rule) in rules {
                let Some(rule) = rule else { continue };
                w.block(name, |w| {
                    if !rule.allow.is_empty() {
                        w.strings("allow", &rule.allow);
                    }
                    if !rule.deny.is_empty() {
                        w.strings("deny", &rule.deny);
                    }
                });
            }
            if permissions.allow_responses {
                w.boolean("allow_responses", true);
            }
        });
    }
}

/// Without a limit nats-server's `jetstream: enabled`; limits it does not get are unlimited.
fn account_jetstream(w: &mut ConfWriter, js: &AccountJetStream) {
    let limits = [
        ("max_file", js.max_file_store.map(|b| b.get())),
        ("max_mem", js.max_memory_store.map(|b| b.get())),
        ("max_streams", js.max_streams.map(u64::from)),
        ("max_consumers", js.max_consumers.map(u64::from)),
    ];
    if limits.iter().all(|(_, v)| v.is_none()) {
        w.raw("jetstream", "enabled");
        return;
    }
    w.block("jetstream", |w| {
        for (key, value) in limits {
            if let Some(value) = value {
                w.number(key, value);
            }
        }
    });
}

fn listen(w: &mut ConfWriter, addr: SocketAddr) {
    w.string("host", &addr.ip().to_string());
    w.number("port", addr.port());
}

fn jetstream(
    w: &mut ConfWriter,
    config: &Config,
    version: ServerVersion,
) -> Result<(), RenderError> {
    let js = &config.jetstream;
    // Only a written policy the server cannot honour is refused; unset falls back to what it can.
    if matches!(js.sync, Some(SyncPolicy::Always | SyncPolicy::Every(_)))
        && !version.supports(Feature::SyncInterval)
    {
        return Err(RenderError::Unsupported {
            key: "jetstream.sync",
            feature: Feature::SyncInterval,
            version,
        });
    }
    w.block("jetstream", |w| {
        w.string("store_dir", &js.store_dir.display().to_string());
        if let Some(max) = js.max_file_store {
            w.number("max_file_store", max.get());
        }
        if let Some(max) = js.max_memory_store {
            w.number("max_memory_store", max.get());
        }
        match js.sync_in_force(Some(version)) {
            SyncPolicy::Always => w.string("sync_interval", "always"),
            SyncPolicy::Every(span) => w.string("sync_interval", &span.to_go()),
            SyncPolicy::ServerDefault => {}
        }
        if let Some(domain) = &js.domain {
            w.string("domain", domain);
        }
    });
    Ok(())
}

fn cluster_block(
    w: &mut ConfWriter,
    config: &Config,
    cluster: &Cluster,
    secrets: &dyn Secrets,
) -> Result<(), RenderError> {
    let credentials = match &cluster.authorization {
        Some(auth) => Some((auth.user.clone(), secrets.read(&auth.password_file)?)),
        None => None,
    };
    // Outgoing routes authenticate with the credentials in their URL, so every route carries them.
    let userinfo = credentials
        .as_ref()
        .map(|(user, password)| format!("{}:{}@", encode_userinfo(user), encode_userinfo(password)))
        .unwrap_or_default();
    // Validation refuses a peer address that is not HOST:PORT, so none is dropped here.
    let routes: Vec<String> = config
        .route_peers()
        .filter_map(|peer| peer.route_url(&userinfo))
        .collect();
    w.block("cluster", |w| {
        w.string("name", &cluster.name);
        listen(w, config.node.cluster_listen);
        if !routes.is_empty() {
            w.strings("routes", &routes);
        }
        if let Some((user, password)) = &credentials {
            w.block("authorization", |w| {
                w.string("user", user);
                w.string("password", password);
            });
        }
        if let Some(tls) = &cluster.tls {
            tls_block(w, tls);
        }
    });
    Ok(())
}

/// A configuration holding nothing but one `tls` block as [`render`] writes it, for
/// `nats-server -t` to judge the files it names (see `tls_files`).
pub fn tls_probe(tls: &Tls) -> String {
    let mut w = ConfWriter::default();
    w.comment("pier: the TLS files of one tls block, for nats-server -t.");
    tls_block(&mut w, tls);
    w.finish()
}

fn tls_block(w: &mut ConfWriter, tls: &Tls) {
    w.block("tls", |w| {
        w.string("cert_file", &tls.cert_file.display().to_string());
        w.string("key_file", &tls.key_file.display().to_string());
        if let Some(ca) = &tls.ca_file {
            w.string("ca_file", &ca.display().to_string());
        }
        if tls.verify {
            w.boolean("verify", true);
        }
    });
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a URL's user:password.
fn encode_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_percent_encoded() {
        assert_eq!(encode_userinfo("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
        assert_eq!(encode_userinfo("plain-1.2_~"), "plain-1.2_~");
    }
}

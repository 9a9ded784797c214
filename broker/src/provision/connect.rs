//! Reaching the node's own nats-server as a client: which URL, which credentials.

use std::time::Duration;

use pier_config::model::local_address;
use pier_config::Config;

use crate::render::{SecretError, Secrets};

/// How long to wait for the TCP/TLS handshake and for each JetStream API answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
}

/// The node's own client listener: `node.client_listen`, with a wildcard address (0.0.0.0, ::)
/// replaced by loopback, since a server listening everywhere listens there too.
pub fn default_url(config: &Config) -> String {
    let scheme = if config.client.tls.is_some() {
        "tls"
    } else {
        "nats"
    };
    format!("{scheme}://{}", local_address(config.node.client_listen))
}

/// The credentials provisioning presents: those of [`Config::provisioning_user`], when it has a
/// password file (validation refuses a `provision.user` without one).
pub fn credentials(
    config: &Config,
    secrets: &dyn Secrets,
) -> Result<Option<(String, String)>, SecretError> {
    let Some(user) = config.provisioning_user() else {
        return Ok(None);
    };
    let (Some(name), Some(file)) = (&user.user, &user.password_file) else {
        return Ok(None);
    };
    Ok(Some((name.clone(), secrets.read(file)?)))
}

/// Connects to `url` as pier's provisioning client, with the configuration's credentials and,
/// when the client listener uses TLS, its CA (and its certificate when clients must present one).
pub async fn connect(
    url: &str,
    config: &Config,
    secrets: &dyn Secrets,
) -> Result<async_nats::Client, ConnectError> {
    let mut options = async_nats::ConnectOptions::new()
        .name("pier-provision")
        .connection_timeout(CONNECT_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT));
    if let Some((user, password)) = credentials(config, secrets)? {
        options = options.user_and_password(user, password);
    }
    if let Some(tls) = &config.client.tls {
        options = options.require_tls(true);
        if let Some(ca) = &tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if tls.verify {
            options = options.add_client_certificate(tls.cert_file.clone(), tls.key_file.clone());
        }
    }
    options
        .connect(url)
        .await
        .map_err(|source| ConnectError::Connect {
            url: url.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Redacted;
    use pier_config::Source;

    fn config(toml: &str) -> Config {
        Source::from_text("pier.toml", format!("[node]\nname = \"n1\"\n{toml}"))
            .parse()
            .expect("test config parses")
    }

    #[test]
    fn wildcard_listen_becomes_loopback() {
        assert_eq!(default_url(&config("")), "nats://127.0.0.1:4222");
        let c = config("client_listen = \"[::]:4300\"");
        assert_eq!(default_url(&c), "nats://[::1]:4300");
        let c = config("client_listen = \"127.0.0.2:4301\"");
        assert_eq!(default_url(&c), "nats://127.0.0.2:4301");
    }

    #[test]
    fn first_user_with_a_password_is_used() {
        let c = config(
            r#"
[[client.users]]
nkey = "UABC"

[[client.users]]
user = "admin"
password_file = "/etc/pier/admin.pass"
"#,
        );
        let creds = credentials(&c, &Redacted).expect("redacted never fails");
        assert_eq!(creds, Some(("admin".to_owned(), "REDACTED".to_owned())));
        assert_eq!(credentials(&config(""), &Redacted).expect("no users"), None);
    }

    #[test]
    fn provision_user_names_the_user() {
        let c = config(
            r#"
[provision]
user = "pier"

[[client.users]]
user = "admin"
password_file = "/etc/pier/admin.pass"

[[client.users]]
user = "pier"
password_file = "/etc/pier/pier.pass"
"#,
        );
        let creds = credentials(&c, &Redacted).expect("redacted never fails");
        assert_eq!(creds, Some(("pier".to_owned(), "REDACTED".to_owned())));
    }
}

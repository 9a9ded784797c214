//! Connections of a run: one per publisher, subscriber or worker. Each role is spread
//! round-robin over the server URLs on its own (publisher i and subscriber i both go to URL
//! i mod n), so the first publisher shares its server with the first subscribers. Every
//! connection knows every URL, its own first, so that it can leave a server that died or
//! hung for another. The client would learn the others from the server's `connect_urls`,
//! but a server may send none (the lab's pier cluster sends none), and a connection that
//! knows one URL can only wait for that server.
//! Client events that signal trouble (slow consumer, server errors, disconnects) are
//! collected for the report.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};

use super::stats::ErrorLog;
use super::BenchError;

/// Messages a subscription may buffer in the client before it counts as a slow consumer.
const SUBSCRIPTION_CAPACITY: usize = 1 << 18;
/// Commands (publishes, acks) a connection may queue before callers wait.
const COMMAND_CAPACITY: usize = 1 << 14;

/// How connections notice a server that froze or was cut off, in a fault run
/// (`--retry-publish`); elsewhere the client's defaults apply.
#[derive(Debug, Clone, Copy)]
pub struct FaultTimeouts {
    /// The client pings after this long without hearing from its server and leaves the
    /// server after two unanswered pings: within about three intervals instead of the
    /// default two to three minutes. Under load the server speaks all the time and no ping
    /// is sent.
    pub ping_interval: Duration,
    /// A reconnect to a server that accepts the connection but never answers (frozen) gives
    /// up after this long and tries another, instead of after 5 s.
    pub connection_timeout: Duration,
}

pub const FAULT_TIMEOUTS: FaultTimeouts = FaultTimeouts {
    ping_interval: Duration::from_secs(1),
    connection_timeout: Duration::from_secs(2),
};

/// Who the connections are and whom they trust: a secured cluster (docs/security.md) needs a
/// user and password, and its CA for TLS.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// User and password.
    pub user: Option<(String, String)>,
    /// Require TLS and trust this CA certificate (PEM) besides the system's.
    pub tls_ca: Option<std::path::PathBuf>,
}

/// The password is never shown, whatever prints the options.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user.as_ref().map(|(user, _)| user))
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Pool {
    servers: Arc<Vec<String>>,
    auth: Arc<Auth>,
    events: Arc<Mutex<ErrorLog>>,
    /// None: the client's defaults.
    fault_timeouts: Option<FaultTimeouts>,
}

impl Pool {
    pub fn new(servers: Vec<String>, auth: Auth, fault_timeouts: Option<FaultTimeouts>) -> Self {
        Pool {
            servers: Arc::new(servers),
            auth: Arc::new(auth),
            events: Arc::new(Mutex::new(ErrorLog::default())),
            fault_timeouts,
        }
    }

    /// Connection `index` of a role, to URL `index` mod n, named `pier-bench <role>-<index>`
    /// in nats-server's connz.
    pub async fn connect(&self, role: &str, index: usize) -> Result<Client, BenchError> {
        self.connect_to(index, &format!("{role}-{index}")).await
    }

    /// A connection to URL `first` mod n, or when that one fails, to the next that answers.
    async fn connect_to(&self, first: usize, role: &str) -> Result<Client, BenchError> {
        let first = first % self.servers.len();
        let urls: Vec<&str> = self.servers[first..]
            .iter()
            .chain(&self.servers[..first])
            .map(String::as_str)
            .collect();
        let events = self.events.clone();
        let mut options = ConnectOptions::new();
        if let Some(timeouts) = self.fault_timeouts {
            options = options
                .ping_interval(timeouts.ping_interval)
                .connection_timeout(timeouts.connection_timeout);
        }
        if let Some((user, password)) = &self.auth.user {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(ca) = &self.auth.tls_ca {
            options = options.require_tls(true).add_root_certificates(ca.clone());
        }
        options
            // In the order given, else the client shuffles them and the spread is lost. A
            // reconnect tries its own server first too: a hung one costs the connection
            // timeout before the next is tried.
            .retain_servers_order()
            .name(format!("pier-bench {role}"))
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .client_capacity(COMMAND_CAPACITY)
            .skip_subject_validation(true)
            .event_callback(move |event| {
                let events = events.clone();
                async move {
                    if matches!(event, Event::Connected | Event::Draining | Event::Closed) {
                        return;
                    }
                    if let Ok(mut events) = events.lock() {
                        events.push(event);
                    }
                }
            })
            .connect(urls.as_slice())
            .await
            .map_err(|source| BenchError::Connect {
                url: urls.join(","),
                source,
            })
    }

    /// Nodes in the cluster as the servers announce them: a clustered server advertises the
    /// client URLs of every member (its own included) in `connect_urls`. Servers listening on
    /// several interfaces advertise one URL per address, which can overcount; `--replicas`
    /// overrides what this is used for.
    pub async fn cluster_size(&self) -> Result<usize, BenchError> {
        let mut servers = BTreeSet::new();
        let mut advertised = 0;
        for index in 0..self.servers.len() {
            let client = self.connect_to(index, "probe").await?;
            let info = client.server_info();
            servers.insert(info.server_id);
            advertised = advertised.max(info.connect_urls.iter().collect::<BTreeSet<_>>().len());
        }
        Ok(servers.len().max(advertised).max(1))
    }

    pub fn take_events(&self) -> ErrorLog {
        self.events
            .lock()
            .map(|mut events| std::mem::take(&mut *events))
            .unwrap_or_default()
    }
}

//! A blocking HTTP/1.1 client for the monitoring port. Blocking on purpose: calls are rare, local
//! and short, and async callers run them on tokio's blocking pool.

use std::net::SocketAddr;
use std::time::Duration;

use pier_config::model::local_address;
use serde::de::DeserializeOwned;

use super::model::{Health, Jsz, Routez, Varz};
use super::summary::Snapshot;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("GET {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("GET {url}: unexpected answer: {source}")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Client for one nats-server's monitoring listener.
#[derive(Clone)]
pub struct Monitor {
    base: String,
    agent: ureq::Agent,
}

impl Monitor {
    /// `listen` is the configured `monitor_listen`; a wildcard address is reached on loopback.
    pub fn new(listen: SocketAddr, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(0)
            .build();
        Monitor {
            base: format!("http://{}", local_address(listen)),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The local readiness probe: the server runs and JetStream (when configured) is enabled.
    /// `js-enabled-only` exists in 2.9.10 and 2.15.1 and, unlike plain `/healthz`, does not wait
    /// for a JetStream meta leader, so a node whose peers are still down is healthy.
    pub fn local_health(&self) -> Result<Health, MonitorError> {
        self.health("/healthz?js-enabled-only=true")
    }

    /// The full health check: also fails while JetStream has no meta leader or is catching up.
    pub fn full_health(&self) -> Result<Health, MonitorError> {
        self.health("/healthz")
    }

    pub fn varz(&self) -> Result<Varz, MonitorError> {
        self.get_json("/varz")
            .and_then(|(_, v)| parse(self, "/varz", v))
    }

    pub fn routez(&self) -> Result<Routez, MonitorError> {
        self.get_json("/routez")
            .and_then(|(_, v)| parse(self, "/routez", v))
    }

    /// JetStream, with streams and consumers when `detail` (the account details are cheap for
    /// the handful of streams an appliance carries).
    pub fn jsz(&self, detail: bool) -> Result<Jsz, MonitorError> {
        let path = if detail {
            "/jsz?accounts=true&streams=true&consumers=true"
        } else {
            "/jsz"
        };
        self.get_json(path).and_then(|(_, v)| parse(self, path, v))
    }

    /// Everything `status` shows, in one go.
    pub fn snapshot(&self, detail: bool) -> Result<Snapshot, MonitorError> {
        Ok(Snapshot {
            varz: self.varz()?,
            routez: self.routez()?,
            jsz: self.jsz(detail)?,
            health: self.full_health()?,
        })
    }

    fn health(&self, path: &str) -> Result<Health, MonitorError> {
        let (status, value) = self.get_json(path)?;
        let mut health: Health = parse(self, path, value)?;
        health.http_status = status;
        Ok(health)
    }

    fn get_json(&self, path: &str) -> Result<(u16, serde_json::Value), MonitorError> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| MonitorError::Request {
                url: url.clone(),
                source: Box::new(e),
            })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| MonitorError::Request {
                url: url.clone(),
                source: Box::new(e),
            })?;
        match serde_json::from_str(&body) {
            Ok(value) => Ok((status, value)),
            Err(_) if status != 200 => Err(MonitorError::Status {
                url,
                status,
                body: body.trim().chars().take(200).collect(),
            }),
            Err(source) => Err(MonitorError::Json { url, source }),
        }
    }
}

fn parse<T: DeserializeOwned>(
    monitor: &Monitor,
    path: &str,
    value: serde_json::Value,
) -> Result<T, MonitorError> {
    serde_json::from_value(value).map_err(|source| MonitorError::Json {
        url: format!("{}{path}", monitor.base),
        source,
    })
}

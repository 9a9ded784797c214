//! A blocking HTTP/1.1 client for the monitoring port. Blocking on purpose: calls are rare, local
//! and short, and async callers run them on tokio's blocking pool.
//!
//! Nothing read from the port is trusted: whatever listens there may not be nats-server (another
//! process took the port, a proxy, a test double). Every call is time-limited end to end (a
//! trickling body included), the body is size-capped, redirects are not followed, and an answer
//! lacking what nats-server always sends is refused as "not a nats-server".

use std::net::SocketAddr;
use std::time::Duration;

use pier_config::model::local_address;
use serde::de::DeserializeOwned;

use super::model::{Answer, Health, Jsz, Routez, Varz};
use super::printable::printable_capped;
use super::summary::Snapshot;

/// The largest answer read. `/jsz` with stream and consumer details is a few KiB per stream;
/// an appliance carries a handful of streams, so this leaves room for thousands.
pub const MAX_BODY: u64 = 8 * 1024 * 1024;
/// How much of an unexpected body an error quotes.
const QUOTED: usize = 200;

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
    #[error("GET {url}: not a nats-server: {reason}")]
    NotNatsServer { url: String, reason: String },
}

/// Client for one nats-server's monitoring listener.
#[derive(Clone)]
pub struct Monitor {
    base: String,
    agent: ureq::Agent,
    timeout: Duration,
}

impl Monitor {
    /// `listen` is the configured `monitor_listen`; a wildcard address is reached on loopback.
    /// `timeout` bounds each call from connect to the last byte of the body.
    pub fn new(listen: SocketAddr, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // nats-server never redirects: a redirect is someone else's answer, and following
            // it would send pier's requests to an address the configuration never named.
            .max_redirects(0)
            .max_idle_connections(0)
            .build();
        Monitor {
            base: format!("http://{}", local_address(listen)),
            agent: ureq::Agent::new_with_config(config),
            timeout,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
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
        self.fetch("/varz").map(|(_, varz)| varz)
    }

    pub fn routez(&self) -> Result<Routez, MonitorError> {
        self.fetch("/routez").map(|(_, routez)| routez)
    }

    /// JetStream, with streams and consumers when `detail` (the account details are cheap for
    /// the handful of streams an appliance carries).
    pub fn jsz(&self, detail: bool) -> Result<Jsz, MonitorError> {
        let path = if detail {
            "/jsz?accounts=true&streams=true&consumers=true"
        } else {
            "/jsz"
        };
        self.fetch(path).map(|(_, jsz)| jsz)
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

    /// The answer at `path` as plain JSON, for what pier's model does not read (a field of
    /// `/varz`, `/connz` in a test): time-limited, size-capped and refused when not HTTP 200,
    /// but not vouched for, since no field is known to be there.
    pub fn json(&self, path: &str) -> Result<serde_json::Value, MonitorError> {
        let (url, status, value) = self.get(path)?;
        if status != 200 {
            return Err(MonitorError::Status {
                url,
                status,
                body: printable_capped(&value.to_string(), QUOTED),
            });
        }
        Ok(value)
    }

    fn health(&self, path: &str) -> Result<Health, MonitorError> {
        let (status, mut health): (u16, Health) = self.fetch(path)?;
        health.http_status = status;
        Ok(health)
    }

    /// GETs `path` and reads the answer as `T`, refusing one nats-server would not give.
    fn fetch<T: DeserializeOwned + Answer>(&self, path: &str) -> Result<(u16, T), MonitorError> {
        let (url, status, value) = self.get(path)?;
        let answer: T = serde_json::from_value(value).map_err(|source| MonitorError::Json {
            url: url.clone(),
            source,
        })?;
        answer
            .vouch()
            .map_err(|reason| MonitorError::NotNatsServer { url, reason })?;
        Ok((status, answer))
    }

    /// GETs `path`: (its URL, the HTTP status, the body as JSON). A redirect, a body beyond
    /// [`MAX_BODY`] or one that is not JSON is an error.
    fn get(&self, path: &str) -> Result<(String, u16, serde_json::Value), MonitorError> {
        let url = format!("{}{path}", self.base);
        let request_error = |e| MonitorError::Request {
            url: url.clone(),
            source: Box::new(e),
        };
        let mut response = self.agent.get(&url).call().map_err(request_error)?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get("location")
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(MonitorError::NotNatsServer {
                url,
                reason: format!(
                    "HTTP {status} redirect to {:?}, not followed",
                    printable_capped(&location, QUOTED)
                ),
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(request_error)?;
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) if status != 200 => {
                return Err(MonitorError::Status {
                    url,
                    status,
                    body: printable_capped(String::from_utf8_lossy(&body).trim(), QUOTED),
                })
            }
            Err(source) => return Err(MonitorError::Json { url, source }),
        };
        Ok((url, status, value))
    }
}

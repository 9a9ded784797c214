//! The JetStream API calls provisioning makes, through async-nats, with every failure classified:
//! worth retrying (no meta leader yet, timeouts) or not.

use async_nats::jetstream::context::RequestErrorKind;
use async_nats::jetstream::response::Response;
use async_nats::jetstream::{self, consumer, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// JetStream API error codes provisioning reacts to.
pub mod code {
    /// JetStream system temporarily unavailable (no meta leader).
    pub const CLUSTER_NOT_AVAILABLE: u64 = 10008;
    pub const CLUSTER_INCOMPLETE: u64 = 10004;
    pub const CLUSTER_NO_PEERS: u64 = 10005;
    pub const CLUSTER_NOT_ACTIVE: u64 = 10006;
    pub const CLUSTER_NOT_ASSIGNED: u64 = 10007;
    pub const CLUSTER_NOT_LEADER: u64 = 10009;
    pub const INSUFFICIENT_RESOURCES: u64 = 10023;
    pub const STREAM_NAME_IN_USE: u64 = 10058;
    pub const STREAM_NOT_FOUND: u64 = 10059;
    pub const CONSUMER_NOT_FOUND: u64 = 10014;
    pub const CONSUMER_NAME_EXISTS: u64 = 10013;
    pub const CONSUMER_EXISTING_ACTIVE: u64 = 10105;
    pub const CONSUMER_ALREADY_EXISTS: u64 = 10148;
    pub const CONSUMER_DOES_NOT_EXIST: u64 = 10149;
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{operation}: nats-server answered {description}")]
    JetStream {
        operation: String,
        code: u64,
        status: usize,
        description: String,
    },
    #[error("{operation}: nothing answered; is JetStream enabled on this server, and does the cluster have a meta leader?")]
    NoResponders { operation: String },
    #[error("{operation}: {source}")]
    Request {
        operation: String,
        kind: RequestErrorKind,
        #[source]
        source: jetstream::context::RequestError,
    },
}

impl ApiError {
    pub fn code(&self) -> Option<u64> {
        match self {
            ApiError::JetStream { code, .. } => Some(*code),
            ApiError::Request { .. } | ApiError::NoResponders { .. } => None,
        }
    }

    /// Whether the same request may succeed later: the cluster is electing a leader, a peer is
    /// not caught up yet, or the request timed out.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::NoResponders { .. } => true,
            ApiError::Request { kind, .. } => matches!(kind, RequestErrorKind::TimedOut),
            ApiError::JetStream {
                code: c, status, ..
            } => {
                matches!(
                    *c,
                    code::CLUSTER_NOT_AVAILABLE
                        | code::CLUSTER_INCOMPLETE
                        | code::CLUSTER_NO_PEERS
                        | code::CLUSTER_NOT_ACTIVE
                        | code::CLUSTER_NOT_ASSIGNED
                        | code::CLUSTER_NOT_LEADER
                        | code::INSUFFICIENT_RESOURCES
                ) || *status == 503
                    || *status == 408
            }
        }
    }

    /// Whether the object was created by someone else in the meantime.
    pub fn already_exists(&self) -> bool {
        matches!(
            self.code(),
            Some(
                code::STREAM_NAME_IN_USE
                    | code::CONSUMER_NAME_EXISTS
                    | code::CONSUMER_ALREADY_EXISTS
                    | code::CONSUMER_EXISTING_ACTIVE
            )
        )
    }

    /// Whether the object is not there (any more).
    pub fn not_found(&self) -> bool {
        matches!(
            self.code(),
            Some(code::STREAM_NOT_FOUND | code::CONSUMER_NOT_FOUND | code::CONSUMER_DOES_NOT_EXIST)
        )
    }
}

/// The JetStream API of one account, as provisioning uses it.
#[derive(Clone)]
pub struct Api {
    js: jetstream::Context,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerAction {
    Create,
    Update,
}

#[derive(Deserialize)]
struct Names {
    #[serde(default)]
    total: usize,
    #[serde(default)]
    streams: Option<Vec<String>>,
    #[serde(default)]
    consumers: Option<Vec<String>>,
}

impl Api {
    pub fn new(js: jetstream::Context) -> Self {
        Api { js }
    }

    async fn call<T: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        subject: String,
        payload: &T,
    ) -> Result<V, ApiError> {
        let response: Response<V> =
            self.js
                .request(subject.clone(), payload)
                .await
                .map_err(|source| match source.kind() {
                    RequestErrorKind::NoResponders => ApiError::NoResponders {
                        operation: subject.clone(),
                    },
                    kind => ApiError::Request {
                        operation: subject.clone(),
                        kind,
                        source,
                    },
                })?;
        match response {
            Response::Ok(value) => Ok(value),
            Response::Err { error } => Err(ApiError::JetStream {
                operation: subject,
                code: error.error_code().0,
                status: error.code(),
                description: error.to_string(),
            }),
        }
    }

    pub async fn stream_info(&self, name: &str) -> Result<Option<stream::Info>, ApiError> {
        match self.call(format!("STREAM.INFO.{name}"), &json!({})).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether any message of stream `name` is on a subject matching `filter`.
    pub async fn holds_messages_on(&self, name: &str, filter: &str) -> Result<bool, ApiError> {
        let info: serde_json::Value = self
            .call(
                format!("STREAM.INFO.{name}"),
                &json!({ "subjects_filter": filter }),
            )
            .await?;
        Ok(info["state"]["subjects"]
            .as_object()
            .is_some_and(|subjects| !subjects.is_empty()))
    }

    pub async fn stream_names(&self) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        loop {
            let page: Names = self
                .call("STREAM.NAMES".to_owned(), &json!({ "offset": out.len() }))
                .await?;
            let names = page.streams.unwrap_or_default();
            if names.is_empty() {
                break;
            }
            out.extend(names);
            if out.len() >= page.total {
                break;
            }
        }
        Ok(out)
    }

    pub async fn create_stream(&self, config: &stream::Config) -> Result<stream::Info, ApiError> {
        self.call(format!("STREAM.CREATE.{}", config.name), config)
            .await
    }

    pub async fn update_stream(&self, config: &stream::Config) -> Result<stream::Info, ApiError> {
        self.call(format!("STREAM.UPDATE.{}", config.name), config)
            .await
    }

    /// Deletes a stream; one already gone counts as deleted.
    pub async fn delete_stream(&self, name: &str) -> Result<(), ApiError> {
        match self
            .call::<_, serde::de::IgnoredAny>(format!("STREAM.DELETE.{name}"), &json!({}))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn consumer_info(
        &self,
        stream: &str,
        name: &str,
    ) -> Result<Option<consumer::Info>, ApiError> {
        match self
            .call(format!("CONSUMER.INFO.{stream}.{name}"), &json!({}))
            .await
        {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn consumer_names(&self, stream: &str) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        loop {
            let page: Names = self
                .call(
                    format!("CONSUMER.NAMES.{stream}"),
                    &json!({ "offset": out.len() }),
                )
                .await?;
            let names = page.consumers.unwrap_or_default();
            if names.is_empty() {
                break;
            }
            out.extend(names);
            if out.len() >= page.total {
                break;
            }
        }
        Ok(out)
    }

    /// Creates or updates a durable consumer. `action` makes nats-server 2.10+ refuse to
    /// overwrite (create) or to create (update); older servers ignore it.
    pub async fn put_consumer(
        &self,
        stream: &str,
        config: &consumer::Config,
        action: ConsumerAction,
    ) -> Result<consumer::Info, ApiError> {
        let name = config.durable_name.as_deref().unwrap_or_default();
        let subject = if config.filter_subject.is_empty() {
            format!("CONSUMER.CREATE.{stream}.{name}")
        } else {
            format!("CONSUMER.CREATE.{stream}.{name}.{}", config.filter_subject)
        };
        self.call(
            subject,
            &json!({ "stream_name": stream, "config": config, "action": action }),
        )
        .await
    }

    /// Deletes a consumer; one already gone counts as deleted.
    pub async fn delete_consumer(&self, stream: &str, name: &str) -> Result<(), ApiError> {
        match self
            .call::<_, serde::de::IgnoredAny>(
                format!("CONSUMER.DELETE.{stream}.{name}"),
                &json!({}),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

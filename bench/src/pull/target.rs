//! The stream and durable pull consumer a run uses: found or created before traffic starts,
//! checked for someone else's messages, and removed (or purged) after the run.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::{
    ConsumerInfoErrorKind, CreateStreamErrorKind, GetStreamErrorKind, PublishErrorKind,
};
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, Context, ErrorCode};
use bytes::Bytes;

use crate::clients::Pool;
use crate::{BenchError, Options};

/// Unacknowledged messages a consumer bench creates may have; far above workers × batch so
/// that it never throttles delivery.
const MAX_ACK_PENDING: i64 = 50_000;
/// The server's default duplicate window, set explicitly on a stream bench creates.
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Ack wait of a consumer bench creates under `--retry-publish` (the server's default is
/// 30 s): an ack lost with a node makes the message come again this soon, well within the
/// drain. Workers ack each message at once, so only a fault makes a message wait this long.
const FAULT_ACK_WAIT: Duration = Duration::from_secs(5);
/// JetStream API calls of the set-up and clean-up; generous, as a busy cluster answers slowly.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep retrying stream creation while the cluster lacks peers.
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The stream and consumer a run uses, and whether bench made them (and so removes them).
pub struct Target {
    pub(super) context: Context,
    pub(super) stream: stream::Stream,
    pub(super) stream_created: bool,
    pub(super) replicas: usize,
    pub(super) consumer: PullConsumer,
    pub(super) consumer_created: bool,
    /// One connection and consumer handle per worker, looked up before traffic starts.
    pub(super) workers: Vec<(async_nats::Client, PullConsumer)>,
}

/// Finds or creates the stream and consumer. Done before any traffic starts (mixed runs too),
/// so that JetStream API calls do not compete with peak load.
pub async fn set_up(
    options: &Options,
    pool: &Pool,
    cluster_size: usize,
) -> Result<Target, BenchError> {
    let admin = pool.connect("pull-admin", 0).await?;
    let context = jetstream::ContextBuilder::new()
        .timeout(ADMIN_TIMEOUT)
        .build(admin);
    let mut target = prepare(options, context, cluster_size).await?;
    if let Err(e) = connect_workers(options, pool, &mut target).await {
        // Nothing ran: what bench created for this run goes again.
        if let Err(cleanup) = clean_up(options, &target).await {
            tracing::warn!("{cleanup}");
        }
        return Err(e);
    }
    Ok(target)
}

async fn connect_workers(
    options: &Options,
    pool: &Pool,
    target: &mut Target,
) -> Result<(), BenchError> {
    for index in 0..options.subscribers {
        let client = pool.connect("pull-worker", index).await?;
        let consumer: PullConsumer = jetstream::ContextBuilder::new()
            .timeout(ADMIN_TIMEOUT)
            .build(client.clone())
            .get_stream(&options.stream)
            .await
            .map_err(|e| BenchError::nats(format!("stream {}", options.stream), e))?
            .get_consumer(&options.consumer)
            .await
            .map_err(|e| BenchError::Nats {
                what: format!("consumer {}", options.consumer),
                source: e,
            })?;
        target.workers.push((client, consumer));
    }
    Ok(())
}

/// Finds or creates the stream and the durable consumer. An existing consumer with
/// undelivered or unacknowledged messages is refused: bench would consume (and acknowledge)
/// someone else's messages.
async fn prepare(
    options: &Options,
    context: Context,
    cluster_size: usize,
) -> Result<Target, BenchError> {
    let wanted_replicas = options
        .replicas
        .unwrap_or(if cluster_size >= 3 { 3 } else { 1 });
    let (mut stream, stream_created) = match context.get_stream(&options.stream).await {
        Ok(stream) => (stream, false),
        Err(e) if is_stream_not_found(e.kind()) => {
            let config = stream::Config {
                name: options.stream.clone(),
                subjects: options.stream_subjects.clone(),
                storage: StorageType::File,
                num_replicas: wanted_replicas,
                duplicate_window: options.retry_publish.map_or(DEFAULT_DUPLICATE_WINDOW, |d| {
                    d.max(DEFAULT_DUPLICATE_WINDOW)
                }),
                ..Default::default()
            };
            (create_stream(&context, config).await?, true)
        }
        Err(e) => return Err(BenchError::nats(format!("stream {}", options.stream), e)),
    };
    let info = stream
        .info()
        .await
        .map_err(|e| BenchError::nats(format!("stream {} info", options.stream), e))?;
    let replicas = info.config.num_replicas;
    if let Some(retry) = options.retry_publish {
        // A re-send after the window closed would be stored twice.
        let window = info.config.duplicate_window;
        if window < retry {
            return Err(BenchError::Refused(format!(
                "stream {} deduplicates within {}s, shorter than --retry-publish {}s: a \
                 message re-sent after that would be stored twice. Shorten --retry-publish or \
                 raise the stream's duplicate window",
                options.stream,
                window.as_secs_f64(),
                retry.as_secs_f64()
            )));
        }
    }
    let (consumer, consumer_created) = match stream.consumer_info(&options.consumer).await {
        Ok(info) => {
            if info.num_pending > 0 || info.num_ack_pending > 0 {
                return Err(BenchError::Refused(format!(
                    "consumer {} on stream {} already has {} undelivered and {} unacknowledged \
                     messages; bench would consume them. Use --consumer/--stream to name a \
                     bench-owned one",
                    options.consumer, options.stream, info.num_pending, info.num_ack_pending
                )));
            }
            let consumer =
                stream
                    .get_consumer(&options.consumer)
                    .await
                    .map_err(|e| BenchError::Nats {
                        what: format!("consumer {}", options.consumer),
                        source: e,
                    })?;
            (consumer, false)
        }
        Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::NotFound) => {
            let config = pull::Config {
                durable_name: Some(options.consumer.clone()),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::New,
                filter_subject: options.pull_subject.clone(),
                max_ack_pending: MAX_ACK_PENDING,
                ack_wait: if options.retry_publish.is_some() {
                    FAULT_ACK_WAIT
                } else {
                    Duration::ZERO
                },
                ..Default::default()
            };
            let consumer = stream.create_consumer(config).await.map_err(|e| {
                BenchError::nats(format!("create consumer {}", options.consumer), e)
            })?;
            (consumer, true)
        }
        Err(e) => {
            return Err(BenchError::nats(
                format!("consumer {}", options.consumer),
                e,
            ))
        }
    };
    Ok(Target {
        context,
        stream,
        stream_created,
        replicas,
        consumer,
        consumer_created,
        workers: Vec::new(),
    })
}

/// Creates the stream, retrying while the cluster reports too few peers: right after a
/// cluster starts, JetStream places streams only once every peer has reported in.
async fn create_stream(
    context: &Context,
    config: stream::Config,
) -> Result<stream::Stream, BenchError> {
    let deadline = tokio::time::Instant::now() + PLACEMENT_TIMEOUT;
    loop {
        match context.create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(e) if is_no_peers(e.kind()) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(BenchError::nats(
                    format!("create stream {}", config.name),
                    e,
                ))
            }
        }
    }
}

/// A stream just created takes publishes on a server only once its subject interest has crossed
/// the routes to it; before that a publish has no responders ("no stream found for given
/// subject") and a run on a loaded machine failed every publish so. The probe is answered by the
/// stream and never stored: it expects another stream's name.
pub(super) async fn wait_for_stream_interest(
    client: &async_nats::Client,
    subject: &str,
) -> Result<(), BenchError> {
    let context = jetstream::new(client.clone());
    let deadline = tokio::time::Instant::now() + PLACEMENT_TIMEOUT;
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_EXPECTED_STREAM,
            "pier-bench-interest-probe",
        );
        let answer = match context
            .publish_with_headers(subject.to_owned(), headers, Bytes::new())
            .await
        {
            Ok(ack) => ack.await.map(drop),
            Err(e) => Err(e),
        };
        match answer {
            Err(e)
                if e.kind() == PublishErrorKind::StreamNotFound
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                return Err(BenchError::nats(
                    format!("publishing to {subject}: the new stream never answered"),
                    e,
                ))
            }
            // The stream answered (with "expected stream does not match"): it is reachable.
            _ => return Ok(()),
        }
    }
}

fn is_no_peers(kind: CreateStreamErrorKind) -> bool {
    matches!(kind, CreateStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::CLUSTER_NO_PEERS)
}

fn is_stream_not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// Deletes what bench created; in a stream it found, purges the bench subject only.
pub(super) async fn clean_up(options: &Options, target: &Target) -> Result<(), String> {
    if target.stream_created {
        return target
            .context
            .delete_stream(&options.stream)
            .await
            .map(drop)
            .map_err(|e| format!("delete stream {}: {e}", options.stream));
    }
    if target.consumer_created {
        target
            .stream
            .delete_consumer(&options.consumer)
            .await
            .map_err(|e| format!("delete consumer {}: {e}", options.consumer))?;
    }
    target
        .stream
        .purge()
        .filter(options.pull_subject.clone())
        .await
        .map(drop)
        .map_err(|e| {
            format!(
                "purge {} from {}: {e}",
                options.pull_subject, options.stream
            )
        })
}

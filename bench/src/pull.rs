//! Pull workload: JetStream publishers with a bounded window of outstanding publish acks, and
//! workers fetching batches from one durable pull consumer and acknowledging every message.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::{
    ConsumerInfoErrorKind, CreateStreamErrorKind, GetStreamErrorKind, PublishError,
    PublishErrorKind,
};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, Context, ErrorCode};
use async_nats::Subject;
use bytes::Bytes;
use futures::StreamExt;

use super::account::{Accounting, Acks};
use super::clients::Pool;
use super::payload::{PayloadWriter, Stamp};
use super::progress::{Slot, Workload};
use super::push::{schedule_for, static_subject, Published};
use super::report::{Measured, PullReport, WorkloadReport};
use super::schedule::Schedule;
use super::stats::{ErrorLog, Recorder};
use super::{wait, BenchError, Clock, Options, PullStyle};

/// Unacknowledged messages a consumer bench creates may have; far above workers × batch so
/// that it never throttles delivery.
const MAX_ACK_PENDING: i64 = 50_000;
/// The server's default duplicate window, set explicitly on a stream bench creates.
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Ack wait of a consumer bench creates under `--retry-publish` (the server's default is
/// 30 s): an ack lost with a node makes the message come again this soon, well within the
/// drain. Workers ack each message at once, so only a fault makes a message wait this long.
const FAULT_ACK_WAIT: Duration = Duration::from_secs(5);
/// How long to wait for the acks sent by the workers to show up in the consumer's state.
const ACK_SETTLE: Duration = Duration::from_secs(5);
/// JetStream API calls of the set-up and clean-up; generous, as a busy cluster answers slowly.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep retrying stream creation while the cluster lacks peers.
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the drain looks at the consumer's state.
const DRAIN_POLL: Duration = Duration::from_millis(100);
/// How often a consuming worker checks whether the run is over.
const STOP_POLL: Duration = Duration::from_millis(20);

/// The stream and consumer a run uses, and whether bench made them (and so removes them).
pub struct Target {
    context: Context,
    stream: stream::Stream,
    stream_created: bool,
    replicas: usize,
    consumer: PullConsumer,
    consumer_created: bool,
    /// One connection and consumer handle per worker, looked up before traffic starts.
    workers: Vec<(async_nats::Client, PullConsumer)>,
}

/// Tells the workers to stop when dropped, so that no worker outlives a run that failed.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
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

/// Runs the pull workload on a target from [`set_up`], then removes what bench created.
pub async fn run(
    options: &Options,
    pool: &Pool,
    clock: Clock,
    mut target: Target,
    progress: &Arc<Workload>,
) -> Result<WorkloadReport, BenchError> {
    let result = measure(options, pool, clock, progress, &mut target).await;
    let cleanup = clean_up(options, &target).await;
    let mut report = result?;
    if let Err(e) = cleanup {
        report.errors.push(e);
    }
    Ok(report)
}

async fn measure(
    options: &Options,
    pool: &Pool,
    clock: Clock,
    progress: &Arc<Workload>,
    target: &mut Target,
) -> Result<WorkloadReport, BenchError> {
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let mut workers = Vec::new();
    for (client, consumer) in target.workers.drain(..) {
        let worker = Worker {
            client,
            consumer,
            batch: options.batch,
            fetch_wait: options.fetch_wait,
            style: options.pull_style,
            stop: stop.clone(),
            slot: progress.consumed.slot(),
            recorder: Recorder::new()?,
            acked: 0,
            errors: ErrorLog::default(),
        };
        workers.push(tokio::spawn(worker.run(clock)));
    }

    let mut publishers = Vec::new();
    for index in 0..options.publishers {
        let client = pool.connect("pull-pub", index).await?;
        if target.stream_created {
            wait_for_stream_interest(&client, &options.pull_subject).await?;
        }
        publishers.push(client);
    }
    let retry = options.retry_publish.map(|within| Retry {
        run_id: Arc::from(nuid::next().as_str()),
        within,
    });
    let start_ns = clock.now_ns();
    let handles: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let job = Publisher {
                context: jetstream::ContextBuilder::new()
                    .max_ack_inflight(options.ack_window * 2)
                    .timeout(PUBLISH_ACK_TIMEOUT)
                    .build(client),
                subject: static_subject(&options.pull_subject),
                index: index as u16,
                size: options.size,
                window: options.ack_window,
                schedule: schedule_for(options, clock, index),
                slot: progress.published.slot(),
                retry: retry.clone(),
                clock,
            };
            tokio::spawn(job.run())
        })
        .collect();
    let mut sent = Vec::new();
    let mut errors = ErrorLog::default();
    let mut acks = Acks::default();
    let mut published_end_ns = start_ns;
    for handle in handles {
        let outcome = handle.await?;
        sent.push(outcome.published.sent);
        published_end_ns = published_end_ns.max(outcome.published.end_ns);
        errors.merge(outcome.published.errors);
        acks.merge(outcome.acks);
    }
    let drain_start = tokio::time::Instant::now();
    match options.drain_timeout() {
        Some(timeout) => drain(acks.highest, timeout, target).await,
        None => {
            let expected: u64 = sent.iter().sum();
            wait::until_consumed(&progress.consumed, expected, options.idle_timeout).await;
        }
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let mut recorder = Recorder::new()?;
    let mut acked = 0;
    for handle in workers {
        let worker = handle.await?;
        recorder.merge(worker.recorder);
        acked += worker.acked;
        errors.merge(worker.errors);
    }
    let (ack_pending, num_pending) = settled_state(target, &mut errors).await;
    let accounting = Accounting::new(&acks, &recorder.seen, recorder.redeliveries, drain_s);
    let mut report = WorkloadReport::from_measured(
        Measured {
            kind: "pull",
            subject: &options.pull_subject,
            size: options.size,
            start_ns,
            sent,
            published_end_ns,
            recorder,
            errors,
        },
        Some(PullReport {
            stream: options.stream.clone(),
            replicas: target.replicas,
            stream_created: target.stream_created,
            consumer: options.consumer.clone(),
            consumer_created: target.consumer_created,
            publish_acks: acks.received,
            acked,
            ack_pending,
            num_pending,
        }),
    );
    report.accounting = Some(accounting);
    Ok(report)
}

/// Waits until the consumer has had every stream sequence up to `highest` (the highest an
/// ack named) delivered and acknowledged, and has nothing left to deliver or redeliver; or
/// until `timeout`. Workers record a message before they ack it, so every acknowledged
/// message still in the stream has been recorded by then, and one that was not is lost.
/// The consumer's own state decides, not a count of consumed messages: the workers' counts
/// overlap (a redelivery can go to another worker), and a count says nothing of which
/// messages are still to come; the ack floor does. A message lost from the end of the
/// stream keeps the floor below `highest`: the drain then lasts until `timeout`.
async fn drain(highest: Option<u64>, timeout: Duration, target: &Target) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut consumer = target.consumer.clone();
    while tokio::time::Instant::now() < deadline {
        if let Ok(Ok(info)) = tokio::time::timeout_at(deadline, consumer.info()).await {
            if info.num_pending == 0
                && info.num_ack_pending == 0
                && highest.map_or(true, |h| info.ack_floor.stream_sequence >= h)
            {
                return;
            }
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
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
async fn wait_for_stream_interest(
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

/// Acks are plain publishes; wait until the consumer has processed them, then report what is
/// left: (unacknowledged, undelivered). A consumer that cannot answer (its leader is being
/// elected after a fault) is an error of the run, reported with the last state known.
async fn settled_state(target: &Target, errors: &mut ErrorLog) -> (u64, u64) {
    let deadline = tokio::time::Instant::now() + ACK_SETTLE;
    let mut consumer = target.consumer.clone();
    let mut state = None;
    let mut failure = None;
    loop {
        match consumer.info().await {
            Ok(info) => state = Some((info.num_ack_pending as u64, info.num_pending)),
            Err(e) => failure = Some(e),
        }
        if state == Some((0, 0)) || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match (state, failure) {
        (Some(state), _) => state,
        (None, failure) => {
            errors.push(format!(
                "consumer info: {}",
                failure.map_or_else(|| "no answer".to_owned(), |e| e.to_string())
            ));
            (0, 0)
        }
    }
}

/// Deletes what bench created; in a stream it found, purges the bench subject only.
async fn clean_up(options: &Options, target: &Target) -> Result<(), String> {
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

struct Publisher {
    context: Context,
    subject: Subject,
    index: u16,
    size: usize,
    window: usize,
    schedule: Schedule,
    slot: Arc<Slot>,
    retry: Option<Retry>,
    clock: Clock,
}

/// `--retry-publish`: every publish carries `Nats-Msg-Id: <run>-<publisher>-<sequence>`, and
/// one whose ack failed is sent again under the same id until `within` after its first try.
#[derive(Debug, Clone)]
struct Retry {
    run_id: Arc<str>,
    within: Duration,
}

/// After a failed attempt, the next one of the same message waits at least this long,
/// doubled after each failure up to [`RETRY_PAUSE_MAX`]: a stream without a leader fails
/// publishes at once, and re-sending a window of them in a tight loop would only load the
/// cluster that is trying to recover.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
const RETRY_PAUSE_MAX: Duration = Duration::from_millis(1600);

type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

/// How long a publish ack may take, from the moment the publish was handed to the client.
/// The client's own timeout starts when its future is first polled, and the publisher polls
/// the oldest first: with that timeout alone, a window of acks lost with a node would time
/// out one after the other, five seconds each.
const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A publish awaiting its ack.
struct InFlight {
    sequence: u64,
    ack: AckFuture,
    /// When the ack is given up on, as a clock reading.
    deadline_ns: u64,
    /// Under `--retry-publish` only, so that the ordinary run keeps no payload alive.
    resend: Option<Resend>,
}

struct Resend {
    payload: Bytes,
    first_ns: u64,
    last_ns: u64,
    /// How long to wait after the next failure.
    pause: Duration,
}

struct Publishing {
    published: Published,
    acks: Acks,
}

impl Publisher {
    /// Publishes asynchronously, keeping at most `window` acks outstanding; returns once
    /// every ack has arrived or been given up on. Acks come back in publish order, so
    /// awaiting the oldest first costs one wake-up per ack, where a `FuturesUnordered` would
    /// poll and wake each pending future. A publish the client refuses is settled like a
    /// failed ack: the publisher goes on.
    async fn run(self) -> Publishing {
        let mut schedule = self.schedule;
        let mut writer = PayloadWriter::new(self.size);
        let mut errors = ErrorLog::default();
        let mut acks = Acks::default();
        let mut pending = VecDeque::with_capacity(self.window);
        let mut sequence = 0;
        while let Some(sent_ns) = schedule.next(sequence).await {
            let payload = writer.next(Stamp {
                sent_ns,
                publisher: self.index,
                sequence,
            });
            let resend = self.retry.is_some().then(|| {
                let now_ns = self.clock.now_ns();
                Resend {
                    payload: payload.clone(),
                    first_ns: now_ns,
                    last_ns: now_ns,
                    pause: RETRY_PAUSE,
                }
            });
            let ack = schedule
                .send(std::pin::pin!(self.send(sequence, payload)))
                .await;
            pending.push_back(InFlight {
                sequence,
                ack,
                deadline_ns: schedule.last_reading_ns() + PUBLISH_ACK_TIMEOUT.as_nanos() as u64,
                resend,
            });
            sequence += 1;
            self.slot.set(sequence);
            while pending.len() >= self.window {
                let Some(mut in_flight) = pending.pop_front() else {
                    break;
                };
                let result = schedule
                    .send(std::pin::pin!(self.ack_of(&mut in_flight)))
                    .await;
                self.settle(in_flight, result, &mut pending, &mut acks, &mut errors)
                    .await;
            }
        }
        while let Some(mut in_flight) = pending.pop_front() {
            let result = self.ack_of(&mut in_flight).await;
            self.settle(in_flight, result, &mut pending, &mut acks, &mut errors)
                .await;
        }
        Publishing {
            published: Published {
                sent: sequence,
                end_ns: self.clock.now_ns(),
                errors,
            },
            acks,
        }
    }

    /// The ack of `in_flight`, or a time-out at its deadline (an ack that has arrived is
    /// taken even past it). An ack already there costs no timer: it is looked at first.
    async fn ack_of(&self, in_flight: &mut InFlight) -> Result<PublishAck, PublishError> {
        if let Poll::Ready(result) = futures::poll!(&mut in_flight.ack) {
            return result;
        }
        let deadline = self.clock.instant_at(in_flight.deadline_ns);
        tokio::time::timeout_at(deadline.into(), &mut in_flight.ack)
            .await
            .unwrap_or_else(|_| Err(PublishError::new(PublishErrorKind::TimedOut)))
    }

    /// Hands one publish to the client; a refusal becomes an ack that failed.
    async fn send(&self, sequence: u64, payload: Bytes) -> AckFuture {
        let sent = match &self.retry {
            None => self.context.publish(self.subject.clone(), payload).await,
            Some(retry) => {
                let id = format!("{}-{}-{sequence}", retry.run_id, self.index);
                let message = jetstream::message::PublishMessage::build()
                    .payload(payload)
                    .message_id(id);
                self.context
                    .send_publish(self.subject.clone(), message)
                    .await
            }
        };
        match sent {
            Ok(ack) => ack.into_future(),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    /// Records an ack, or sends the message again under `--retry-publish` while its time
    /// lasts (queued behind the others), or gives up on it.
    async fn settle(
        &self,
        in_flight: InFlight,
        result: Result<PublishAck, PublishError>,
        pending: &mut VecDeque<InFlight>,
        acks: &mut Acks,
        errors: &mut ErrorLog,
    ) {
        let error = match result {
            Ok(ack) => return acks.record(self.index, in_flight.sequence, ack.sequence),
            Err(e) => e,
        };
        errors.push(format!("publish ack: {error}"));
        let (Some(retry), Some(resend)) = (&self.retry, in_flight.resend) else {
            acks.unacknowledged += 1;
            return;
        };
        let since_first = Duration::from_nanos(self.clock.now_ns() - resend.first_ns);
        if since_first >= retry.within {
            acks.unacknowledged += 1;
            return;
        }
        let again_at = self.clock.instant_at(resend.last_ns) + resend.pause;
        tokio::time::sleep_until(again_at.into()).await;
        acks.retried += 1;
        let ack = self.send(in_flight.sequence, resend.payload.clone()).await;
        let now_ns = self.clock.now_ns();
        pending.push_back(InFlight {
            sequence: in_flight.sequence,
            ack,
            deadline_ns: now_ns + PUBLISH_ACK_TIMEOUT.as_nanos() as u64,
            resend: Some(Resend {
                last_ns: now_ns,
                pause: (resend.pause * 2).min(RETRY_PAUSE_MAX),
                ..resend
            }),
        });
    }
}

struct Worker {
    client: async_nats::Client,
    consumer: PullConsumer,
    batch: usize,
    fetch_wait: Duration,
    style: PullStyle,
    stop: Arc<AtomicBool>,
    slot: Arc<Slot>,
    recorder: Recorder,
    /// Message acks sent.
    acked: u64,
    errors: ErrorLog,
}

/// How long a worker waits after a failed pull request before the next one: the client is
/// reconnecting or the consumer is electing a leader, and neither is hurried by asking.
const FETCH_PAUSE: Duration = Duration::from_millis(50);

impl Worker {
    /// One pull request at a time: ask for a batch, take what arrives within the wait,
    /// repeat.
    async fn fetch_batches(&mut self, clock: Clock) {
        while !self.stop.load(Ordering::Relaxed) {
            let batch = self
                .consumer
                .batch()
                .max_messages(self.batch)
                .expires(self.fetch_wait)
                .messages()
                .await;
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    self.errors.push(format!("fetch: {e}"));
                    tokio::time::sleep(FETCH_PAUSE).await;
                    continue;
                }
            };
            while let Some(message) = batch.next().await {
                match message {
                    Ok(message) => self.handle(message, clock).await,
                    Err(e) => self.errors.push(format!("fetch: {e}")),
                }
            }
        }
    }

    /// Pull requests of the same size and wait, pipelined: the client asks for the next batch
    /// while the current one is still arriving. A consume that fails or ends (its server
    /// went away) starts again.
    async fn consume(&mut self, clock: Clock) {
        let mut tick = tokio::time::interval(STOP_POLL);
        'run: while !self.stop.load(Ordering::Relaxed) {
            let messages = self
                .consumer
                .stream()
                .max_messages_per_batch(self.batch)
                .expires(self.fetch_wait)
                .messages()
                .await;
            let mut messages = match messages {
                Ok(messages) => messages,
                Err(e) => {
                    self.errors.push(format!("consume: {e}"));
                    tokio::time::sleep(FETCH_PAUSE).await;
                    continue;
                }
            };
            loop {
                tokio::select! {
                    biased;
                    message = messages.next() => match message {
                        Some(Ok(message)) => self.handle(message, clock).await,
                        Some(Err(e)) => self.errors.push(format!("consume: {e}")),
                        None => continue 'run,
                    },
                    _ = tick.tick() => {
                        if self.stop.load(Ordering::Relaxed) {
                            break 'run;
                        }
                    }
                }
            }
        }
    }

    async fn handle(&mut self, message: jetstream::Message, clock: Clock) {
        self.recorder.record(&message.payload, clock.now_ns());
        if message.info().is_ok_and(|info| info.delivered > 1) {
            self.recorder.redeliveries += 1;
        }
        match message.ack().await {
            Ok(()) => self.acked += 1,
            Err(e) => self.errors.push(format!("ack: {e}")),
        }
        self.slot.set(self.recorder.distinct());
    }

    /// Fetches batches until told to stop, acknowledging every message. Acks are queued
    /// publishes (not round trips), so they pipeline behind the fetches. Errors are counted
    /// and the work goes on: only the stop flag ends a worker.
    async fn run(mut self, clock: Clock) -> Worker {
        match self.style {
            PullStyle::Fetch => self.fetch_batches(clock).await,
            PullStyle::Consume => self.consume(clock).await,
        }
        // Bounded: a client whose every server is gone would wait for a reconnect forever,
        // and the run must end whatever the fault.
        match tokio::time::timeout(ACK_SETTLE, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.errors.push(format!("flush acks: {e}")),
            Err(_) => self.errors.push(format!(
                "flush acks: no answer within {}s",
                ACK_SETTLE.as_secs()
            )),
        }
        self
    }
}

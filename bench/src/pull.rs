//! Pull workload: JetStream publishers with a bounded window of outstanding publish acks, and
//! workers fetching batches from one durable pull consumer and acknowledging every message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::{
    ConsumerInfoErrorKind, CreateStreamErrorKind, GetStreamErrorKind,
};
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, Context, ErrorCode};
use async_nats::Subject;
use futures::StreamExt;
use std::future::IntoFuture;

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
/// How long to wait for the acks sent by the workers to show up in the consumer's state.
const ACK_SETTLE: Duration = Duration::from_secs(5);
/// JetStream API calls of the set-up and clean-up; generous, as a busy cluster answers slowly.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep retrying stream creation while the cluster lacks peers.
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(15);
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
        };
        workers.push(tokio::spawn(worker.run(clock)));
    }

    let mut publishers = Vec::new();
    for index in 0..options.publishers {
        let client = pool.connect("pull-pub", index).await?;
        publishers.push(client);
    }
    let start_ns = clock.now_ns();
    let handles: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let job = Publisher {
                context: jetstream::ContextBuilder::new()
                    .max_ack_inflight(options.ack_window * 2)
                    .build(client),
                subject: static_subject(&options.pull_subject),
                index: index as u16,
                size: options.size,
                window: options.ack_window,
                schedule: schedule_for(options, clock, index),
                slot: progress.published.slot(),
            };
            tokio::spawn(job.run(clock))
        })
        .collect();
    let mut sent = Vec::new();
    let mut errors = ErrorLog::default();
    let mut publish_acks = 0;
    let mut published_end_ns = start_ns;
    for handle in handles {
        let (outcome, acks) = handle.await?;
        sent.push(outcome.sent);
        publish_acks += acks;
        published_end_ns = published_end_ns.max(outcome.end_ns);
        errors.merge(outcome.errors);
    }
    let expected: u64 = sent.iter().sum();
    wait::until_consumed(&progress.consumed, expected, options.idle_timeout).await;
    stop.store(true, Ordering::Relaxed);

    let mut recorder = Recorder::new()?;
    let mut acked = 0;
    for handle in workers {
        let outcome = handle.await?;
        recorder.merge(outcome.recorder);
        acked += outcome.acked;
        errors.merge(outcome.errors);
    }
    let (ack_pending, num_pending) = settled_state(target).await?;
    Ok(WorkloadReport::from_measured(
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
            publish_acks,
            acked,
            ack_pending,
            num_pending,
        }),
    ))
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
                ..Default::default()
            };
            (create_stream(&context, config).await?, true)
        }
        Err(e) => return Err(BenchError::nats(format!("stream {}", options.stream), e)),
    };
    let replicas = stream
        .info()
        .await
        .map(|info| info.config.num_replicas)
        .unwrap_or(wanted_replicas);
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

fn is_no_peers(kind: CreateStreamErrorKind) -> bool {
    matches!(kind, CreateStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::CLUSTER_NO_PEERS)
}

fn is_stream_not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// Acks are plain publishes; wait until the consumer has processed them, then report what is
/// left: (unacknowledged, undelivered).
async fn settled_state(target: &Target) -> Result<(u64, u64), BenchError> {
    let deadline = tokio::time::Instant::now() + ACK_SETTLE;
    let mut consumer = target.consumer.clone();
    loop {
        let info = consumer
            .info()
            .await
            .map_err(|e| BenchError::nats("consumer info", e))?;
        let state = (info.num_ack_pending as u64, info.num_pending);
        if state == (0, 0) || tokio::time::Instant::now() >= deadline {
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
}

impl Publisher {
    /// Publishes asynchronously, keeping at most `window` acks outstanding; returns once
    /// every ack has arrived (or failed), with the number of successful acks. Acks come back
    /// in publish order, so awaiting the oldest first costs one wake-up per ack, where a
    /// `FuturesUnordered` would poll and wake each pending future.
    async fn run(self, clock: Clock) -> (Published, u64) {
        let mut writer = PayloadWriter::new(self.size);
        let mut errors = ErrorLog::default();
        let mut pending = VecDeque::with_capacity(self.window);
        let mut acks = 0u64;
        let mut settle = |result: Result<_, async_nats::jetstream::context::PublishError>,
                          errors: &mut ErrorLog| match result {
            Ok(_) => acks += 1,
            Err(e) => errors.push(format!("publish ack: {e}")),
        };
        let mut schedule = self.schedule;
        let mut sequence = 0;
        while let Some(sent_ns) = schedule.next(sequence).await {
            let payload = writer.next(Stamp {
                sent_ns,
                publisher: self.index,
                sequence,
            });
            let publish = std::pin::pin!(self.context.publish(self.subject.clone(), payload));
            match schedule.send(publish).await {
                Ok(ack) => pending.push_back(ack.into_future()),
                Err(e) => {
                    errors.push(format!("publish: {e}"));
                    break;
                }
            }
            sequence += 1;
            self.slot.set(sequence);
            while pending.len() >= self.window {
                if let Some(ack) = pending.pop_front() {
                    settle(schedule.send(std::pin::pin!(ack)).await, &mut errors);
                }
            }
        }
        while let Some(ack) = pending.pop_front() {
            settle(ack.await, &mut errors);
        }
        (
            Published {
                sent: sequence,
                end_ns: clock.now_ns(),
                errors,
            },
            acks,
        )
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
}

impl Worker {
    /// One pull request at a time: ask for a batch, take what arrives within the wait,
    /// repeat.
    async fn fetch_batches(&mut self, clock: Clock, acked: &mut u64, errors: &mut ErrorLog) {
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
                    errors.push(format!("fetch: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while let Some(message) = batch.next().await {
                self.handle(message, clock, acked, errors).await;
            }
        }
    }

    /// Pull requests of the same size and wait, pipelined: the client asks for the next batch
    /// while the current one is still arriving.
    async fn consume(&mut self, clock: Clock, acked: &mut u64, errors: &mut ErrorLog) {
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
                errors.push(format!("consume: {e}"));
                return;
            }
        };
        let mut tick = tokio::time::interval(STOP_POLL);
        loop {
            tokio::select! {
                biased;
                message = messages.next() => match message {
                    Some(message) => self.handle(message, clock, acked, errors).await,
                    None => break,
                },
                _ = tick.tick() => {
                    if self.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }
    }

    async fn handle<E: std::fmt::Display>(
        &mut self,
        message: Result<jetstream::Message, E>,
        clock: Clock,
        acked: &mut u64,
        errors: &mut ErrorLog,
    ) {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                errors.push(format!("fetch: {e}"));
                return;
            }
        };
        self.recorder.record(&message.payload, clock.now_ns());
        if message.info().is_ok_and(|info| info.delivered > 1) {
            self.recorder.redeliveries += 1;
        }
        match message.ack().await {
            Ok(()) => *acked += 1,
            Err(e) => errors.push(format!("ack: {e}")),
        }
        self.slot.set(self.recorder.distinct());
    }
}

struct Consumed {
    recorder: Recorder,
    acked: u64,
    errors: ErrorLog,
}

impl Worker {
    /// Fetches batches until told to stop, acknowledging every message. Acks are queued
    /// publishes (not round trips), so they pipeline behind the fetches.
    async fn run(mut self, clock: Clock) -> Consumed {
        let mut errors = ErrorLog::default();
        let mut acked = 0;
        match self.style {
            PullStyle::Fetch => self.fetch_batches(clock, &mut acked, &mut errors).await,
            PullStyle::Consume => self.consume(clock, &mut acked, &mut errors).await,
        }
        if let Err(e) = self.client.flush().await {
            errors.push(format!("flush acks: {e}"));
        }
        Consumed {
            recorder: self.recorder,
            acked,
            errors,
        }
    }
}

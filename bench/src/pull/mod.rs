//! Pull workload: JetStream publishers with a bounded window of outstanding publish acks, and
//! workers fetching batches from one durable pull consumer and acknowledging every message.
//! This file runs a measurement: starts the workers and publishers, drains the consumer and
//! reports. The stream and consumer are set up in `target.rs`, the publishers with their retries
//! in `publisher.rs`, the fetching workers in `worker.rs`.

mod publisher;
mod target;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;

use crate::acks::{AckVerdict, PublishAcks};
use crate::clients::Pool;
use crate::progress::Workload;
use crate::push::{schedule_for, static_subject};
use crate::report::{Measured, PullReport, WorkloadReport};
use crate::stats::{ErrorLog, Recorder};
use crate::{wait, BenchError, Clock, Options};
use publisher::{Publisher, Retry, PUBLISH_ACK_TIMEOUT};
use target::{clean_up, wait_for_stream_interest};
use worker::Worker;

pub use target::{set_up, Target};

/// How long to wait for the acks sent by the workers to show up in the consumer's state.
const ACK_SETTLE: Duration = Duration::from_secs(5);
/// How often the drain looks at the consumer's state.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Tells the workers to stop when dropped, so that no worker outlives a run that failed.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
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
    let mut acks = PublishAcks::default();
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
    let accounting = AckVerdict::new(&acks, &recorder.seen, recorder.redeliveries, drain_s);
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

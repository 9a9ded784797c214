//! Push workload: core-NATS publishers on one subject, subscribers sharing it in a queue group.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Subject};
use futures::{FutureExt, StreamExt};

use super::clients::Pool;
use super::gap::{Arrivals, Gap, SendMarks};
use super::payload::{PayloadWriter, Stamp};
use super::progress::{Slot, Workload};
use super::report::{Measured, WorkloadReport};
use super::schedule::Schedule;
use super::stats::{ErrorLog, Recorder};
use super::{wait, BenchError, Clock, Options};

/// Queued messages a subscriber records with one clock read; at a few tens of nanoseconds
/// each, the last of a run is timed at most a few microseconds early.
const RECEIPT_RUN: usize = 64;
/// How long a publisher keeps asking whether a subscriber's interest has reached its server.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(
    options: &Options,
    pool: &Pool,
    clock: Clock,
    progress: &Arc<Workload>,
) -> Result<WorkloadReport, BenchError> {
    let mut subscribers = Vec::new();
    let publishers = match set_up(options, pool, clock, progress, &mut subscribers).await {
        Ok(publishers) => publishers,
        Err(e) => {
            // Subscriber tasks end only when their connection is drained.
            for (client, _) in &subscribers {
                let _ = client.drain().await;
            }
            return Err(e);
        }
    };

    let start_ns = clock.now_ns();
    let handles: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let job = Publisher {
                client,
                subject: static_subject(&options.push_subject),
                index: index as u16,
                size: options.size,
                schedule: schedule_for(options, clock, index),
                slot: progress.published.slot(),
            };
            tokio::spawn(job.run(clock))
        })
        .collect();
    let mut sent = Vec::new();
    let mut marks = Vec::new();
    let mut errors = ErrorLog::default();
    let mut published_end_ns = start_ns;
    for handle in handles {
        let (outcome, publisher_marks) = handle.await?;
        sent.push(outcome.sent);
        marks.push((publisher_marks, outcome.sent));
        published_end_ns = published_end_ns.max(outcome.end_ns);
        errors.merge(outcome.errors);
    }
    let expected: u64 = sent.iter().sum();
    wait::until_consumed(&progress.consumed, expected, options.idle_timeout).await;

    let mut recorder = Recorder::new()?;
    let mut arrivals = Arrivals::default();
    for (client, handle) in subscribers {
        // Draining ends each subscription once what the server already sent is delivered.
        if let Err(e) = client.drain().await {
            errors.push(format!("draining a subscriber: {e}"));
        }
        let (subscriber, subscriber_arrivals) = handle.await?;
        recorder.merge(subscriber);
        arrivals.merge(subscriber_arrivals);
    }
    let end_ns = published_end_ns.max(recorder.last_ns);
    let gap = Gap::find(&arrivals, &marks, start_ns, end_ns);
    let mut report = WorkloadReport::from_measured(
        Measured {
            kind: "push",
            subject: &options.push_subject,
            size: options.size,
            start_ns,
            sent,
            published_end_ns,
            recorder,
            errors,
        },
        None,
    );
    report.gap = Some(gap);
    Ok(report)
}

type Subscribers = Vec<(Client, tokio::task::JoinHandle<(Recorder, Arrivals)>)>;

/// Starts the subscribers (into `subscribers`, so the caller can drain them even on error),
/// then connects the publishers and waits until each sees every subscriber's interest.
async fn set_up(
    options: &Options,
    pool: &Pool,
    clock: Clock,
    progress: &Arc<Workload>,
    subscribers: &mut Subscribers,
) -> Result<Vec<Client>, BenchError> {
    let run_id = format!("{}.{}", std::process::id(), clock.now_ns());
    let mut ready_subjects = Vec::new();
    for index in 0..options.subscribers {
        let client = pool.connect("push-sub", index).await?;
        let ready = format!("_PIER_BENCH.{run_id}.ready.{index}");
        let handle =
            spawn_subscriber(options, &client, &ready, clock, progress.consumed.slot()).await?;
        ready_subjects.push(ready);
        subscribers.push((client, handle));
    }
    let mut publishers = Vec::new();
    for index in 0..options.publishers {
        let client = pool.connect("push-pub", index).await?;
        wait_for_interest(&client, &ready_subjects).await?;
        publishers.push(client);
    }
    Ok(publishers)
}

/// The subject of every message of a publisher, as a `'static` [`Subject`]: the per-message
/// clone is then free, where a shared one's reference count bounces between the publisher's
/// thread and the connection's, which drops each clone (a profile showed it). This leaks the
/// subject's few bytes once per publisher and run.
pub(super) fn static_subject(subject: &str) -> Subject {
    Subject::from_static(Box::leak(subject.to_owned().into_boxed_str()))
}

pub(super) fn schedule_for(options: &Options, clock: Clock, index: usize) -> Schedule {
    let duration = match options.amount {
        super::Amount::Duration(d) => Some(d),
        super::Amount::Messages(_) => None,
    };
    let rate = options
        .rate
        .map(|rate| rate as f64 / options.publishers as f64);
    Schedule::new(clock, rate, duration, options.share(index))
}

/// Subscribes in the queue group, then answers readiness probes on `ready`: the server sends
/// a client's subscriptions to its routes in order, so a publisher that gets an answer on
/// `ready` through its own server also sees the queue subscription made before it.
async fn spawn_subscriber(
    options: &Options,
    client: &Client,
    ready: &str,
    clock: Clock,
    slot: Arc<Slot>,
) -> Result<tokio::task::JoinHandle<(Recorder, Arrivals)>, BenchError> {
    let mut subscription = client
        .queue_subscribe(options.push_subject.clone(), options.queue_group.clone())
        .await
        .map_err(|e| BenchError::nats("queue subscribe", e))?;
    let mut probes = client
        .subscribe(ready.to_owned())
        .await
        .map_err(|e| BenchError::nats("subscribe to readiness probes", e))?;
    client
        .flush()
        .await
        .map_err(|e| BenchError::nats("flush subscriptions", e))?;
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(probe) = probes.next().await {
            if let Some(reply) = probe.reply {
                let _ = responder.publish(reply, "".into()).await;
            }
        }
    });
    let mut recorder = Recorder::new()?;
    let mut arrivals = Arrivals::default();
    Ok(tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            // One clock read for a run of messages already waiting in the client's queue
            // rather than one per message (a clock read costs as much as recording): each was
            // received when the run is taken, and recording one takes tens of nanoseconds.
            let now_ns = clock.now_ns();
            arrivals.mark(now_ns);
            recorder.record(&message.payload, now_ns);
            for _ in 1..RECEIPT_RUN {
                match subscription.next().now_or_never() {
                    Some(Some(message)) => recorder.record(&message.payload, now_ns),
                    _ => break,
                }
            }
            slot.set(recorder.distinct());
        }
        (recorder, arrivals)
    }))
}

async fn wait_for_interest(client: &Client, ready_subjects: &[String]) -> Result<(), BenchError> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    for subject in ready_subjects {
        loop {
            let probe = client.request(subject.clone(), "".into());
            match tokio::time::timeout(Duration::from_millis(500), probe).await {
                Ok(Ok(_)) => break,
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(BenchError::Refused(format!(
                        "a subscriber's interest did not reach a publisher's server within {}s",
                        READY_TIMEOUT.as_secs()
                    )))
                }
                // No responders yet: the subscription is still travelling between servers.
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
    Ok(())
}

struct Publisher {
    client: Client,
    subject: Subject,
    index: u16,
    size: usize,
    schedule: Schedule,
    slot: Arc<Slot>,
}

pub(super) struct Published {
    /// Messages sent; their sequences are 0..sent.
    pub sent: u64,
    pub end_ns: u64,
    pub errors: ErrorLog,
}

impl Publisher {
    async fn run(self, clock: Clock) -> (Published, SendMarks) {
        let mut writer = PayloadWriter::new(self.size);
        let mut marks = SendMarks::default();
        let mut errors = ErrorLog::default();
        let mut schedule = self.schedule;
        let mut sequence = 0;
        while let Some(sent_ns) = schedule.next(sequence).await {
            let payload = writer.next(Stamp {
                sent_ns,
                publisher: self.index,
                sequence,
            });
            let publish = std::pin::pin!(self.client.publish(self.subject.clone(), payload));
            if let Err(e) = schedule.send(publish).await {
                // The client only fails a publish when the connection is gone for good.
                errors.push(format!("publish: {e}"));
                break;
            }
            marks.note(sent_ns, sequence);
            sequence += 1;
            self.slot.set(sequence);
        }
        if let Err(e) = self.client.flush().await {
            errors.push(format!("flush: {e}"));
        }
        (
            Published {
                sent: sequence,
                end_ns: clock.now_ns(),
                errors,
            },
            marks,
        )
    }
}

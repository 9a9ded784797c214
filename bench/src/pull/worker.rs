//! A pull run's worker: fetches batches from the durable consumer (one request at a time, or
//! pipelined), records and acknowledges every message, until told to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;

use super::ACK_SETTLE;
use crate::progress::Slot;
use crate::stats::{ErrorLog, Recorder};
use crate::{Clock, PullStyle};

/// How often a consuming worker checks whether the run is over.
const STOP_POLL: Duration = Duration::from_millis(20);

pub(super) struct Worker {
    pub(super) client: async_nats::Client,
    pub(super) consumer: PullConsumer,
    pub(super) batch: usize,
    pub(super) fetch_wait: Duration,
    pub(super) style: PullStyle,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) slot: Arc<Slot>,
    pub(super) recorder: Recorder,
    /// Message acks sent.
    pub(super) acked: u64,
    pub(super) errors: ErrorLog,
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
    pub(super) async fn run(mut self, clock: Clock) -> Worker {
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

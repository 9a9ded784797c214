//! A pull run's publisher: JetStream publishes with a bounded window of outstanding acks, and
//! under `--retry-publish` the re-sending of a publish whose ack failed, under its message id.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, Context};
use async_nats::Subject;
use bytes::Bytes;

use crate::acks::PublishAcks;
use crate::payload::{PayloadWriter, Stamp};
use crate::progress::Slot;
use crate::push::Published;
use crate::schedule::Schedule;
use crate::stats::ErrorLog;
use crate::Clock;

pub(super) struct Publisher {
    pub(super) context: Context,
    pub(super) subject: Subject,
    pub(super) index: u16,
    pub(super) size: usize,
    pub(super) window: usize,
    pub(super) schedule: Schedule,
    pub(super) slot: Arc<Slot>,
    pub(super) retry: Option<Retry>,
    pub(super) clock: Clock,
}

/// `--retry-publish`: every publish carries `Nats-Msg-Id: <run>-<publisher>-<sequence>`, and
/// one whose ack failed is sent again under the same id until `within` after its first try.
#[derive(Debug, Clone)]
pub(super) struct Retry {
    pub(super) run_id: Arc<str>,
    pub(super) within: Duration,
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
pub(super) const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);

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

pub(super) struct Publishing {
    pub(super) published: Published,
    pub(super) acks: PublishAcks,
}

impl Publisher {
    /// Publishes asynchronously, keeping at most `window` acks outstanding; returns once
    /// every ack has arrived or been given up on. Acks come back in publish order, so
    /// awaiting the oldest first costs one wake-up per ack, where a `FuturesUnordered` would
    /// poll and wake each pending future. A publish the client refuses is settled like a
    /// failed ack: the publisher goes on.
    pub(super) async fn run(self) -> Publishing {
        let mut schedule = self.schedule;
        let mut writer = PayloadWriter::new(self.size);
        let mut errors = ErrorLog::default();
        let mut acks = PublishAcks::default();
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
        acks: &mut PublishAcks,
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

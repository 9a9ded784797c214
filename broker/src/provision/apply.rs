//! Applying a plan by converging each object: read, compare, make one write, read again, until
//! the server matches. Every step is idempotent, so several provisioners (one per node) running
//! at once converge on the same state: a create that loses the race reads the winner's stream
//! and finds nothing left to do.

use std::time::Duration;

use pier_config::model::{Consumer, Stream};
use pier_config::Config;
use tokio::time::Instant;

use super::api::{Api, ApiError, ConsumerAction};
use super::diff::{self, FieldChange, ServerFacts};
use super::observe;
use super::plan::{Action, Plan};
use super::{desired, ProvisionError};

/// Writes to one object that may fail to make it match before concluding that something else
/// keeps changing it.
const MAX_WRITES: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Exponential backoff towards a deadline shared by every retry of a run.
pub struct Backoff {
    started: Instant,
    /// None: the timeout reaches beyond what the clock can represent, so retries never expire.
    deadline: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    pub fn new(timeout: Duration) -> Self {
        let started = Instant::now();
        Backoff {
            started,
            deadline: started.checked_add(timeout),
            delay: FIRST_DELAY,
        }
    }

    /// Starts the next series of retries from the shortest delay again.
    pub fn reset(&mut self) {
        self.delay = FIRST_DELAY;
    }

    /// Sleeps before the next attempt, or gives up: at once on a permanent error, at the deadline
    /// on a transient one.
    pub async fn wait(&mut self, error: ApiError) -> Result<(), ProvisionError> {
        self.wait_if(error, ApiError::is_transient).await
    }

    async fn wait_if(
        &mut self,
        error: ApiError,
        retry: impl Fn(&ApiError) -> bool,
    ) -> Result<(), ProvisionError> {
        if !retry(&error) {
            return Err(ProvisionError::Api(error));
        }
        let now = Instant::now();
        let past_deadline = self
            .deadline
            .is_some_and(|deadline| now.checked_add(self.delay).map_or(true, |t| t > deadline));
        if past_deadline {
            return Err(ProvisionError::Timeout {
                waited: now - self.started,
                last: error,
            });
        }
        tracing::debug!(error = %error, delay = ?self.delay, "retrying");
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        Ok(())
    }
}

/// Whether re-reading may resolve the failure: the server is busy, or another provisioner
/// created or deleted the object between our read and our write.
fn worth_rereading(error: &ApiError) -> bool {
    error.is_transient() || error.already_exists() || error.not_found()
}

enum Step {
    Done,
    /// Wrote to the server; what was written, for the error when writes do not converge.
    Wrote(String),
    Refused(Vec<FieldChange>),
}

/// Converges every declared object, then prunes. `backoff` carries the run's deadline.
pub async fn apply(
    api: &Api,
    config: &Config,
    plan: &Plan,
    facts: ServerFacts,
    backoff: &mut Backoff,
) -> Result<(), ProvisionError> {
    for declared in &config.streams {
        converge(backoff, &format!("stream {}", declared.name), || {
            stream_step(api, declared, facts)
        })
        .await?;
        for consumer in &declared.consumers {
            let object = format!("consumer {} of stream {}", consumer.name, declared.name);
            converge(backoff, &object, || consumer_step(api, declared, consumer)).await?;
        }
    }
    for stream in &plan.streams {
        for consumer in &stream.consumers {
            if consumer.action == Action::Delete {
                tracing::info!(stream = %stream.name, consumer = %consumer.name, "pruning consumer");
                retry(backoff, || {
                    api.delete_consumer(&stream.name, &consumer.name)
                })
                .await?;
            }
        }
        if stream.action == Action::Delete {
            tracing::info!(stream = %stream.name, "pruning stream");
            retry(backoff, || api.delete_stream(&stream.name)).await?;
        }
    }
    Ok(())
}

async fn retry<F, Fut>(backoff: &mut Backoff, mut op: F) -> Result<(), ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    loop {
        match op().await {
            Ok(()) => return Ok(()),
            Err(e) => backoff.wait(e).await?,
        }
    }
}

async fn converge<F, Fut>(
    backoff: &mut Backoff,
    object: &str,
    mut step: F,
) -> Result<(), ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Step, ApiError>>,
{
    let mut writes = 0;
    loop {
        match step().await {
            Ok(Step::Done) => {
                backoff.reset();
                return Ok(());
            }
            Ok(Step::Wrote(what)) => {
                backoff.reset();
                writes += 1;
                if writes > MAX_WRITES {
                    return Err(ProvisionError::NotConverged {
                        object: object.to_owned(),
                        writes,
                        fields: what,
                    });
                }
            }
            Ok(Step::Refused(changes)) => {
                return Err(ProvisionError::Refused {
                    object: object.to_owned(),
                    fields: describe(&changes),
                })
            }
            Err(e) => {
                tracing::debug!(object, error = %e, "step failed");
                backoff.wait_if(e, worth_rereading).await?;
            }
        }
    }
}

fn describe(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(|c| format!("{} {} -> {}", c.field, c.from, c.to))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn stream_step(api: &Api, declared: &Stream, facts: ServerFacts) -> Result<Step, ApiError> {
    let Some(info) = api.stream_info(&declared.name).await? else {
        tracing::info!(stream = %declared.name, "creating stream");
        api.create_stream(&desired::new_stream(declared)).await?;
        return Ok(Step::Wrote("created".to_owned()));
    };
    let usage = observe::usage(api, declared, &info).await?;
    let changes = diff::stream_changes(declared, &info.config, &usage, facts);
    match Action::for_changes(&changes, declared.allow_destructive) {
        Action::Update => {
            tracing::info!(stream = %declared.name, changes = %describe(&changes), "updating stream");
            api.update_stream(&desired::overlay_stream(declared, &info.config))
                .await?;
            Ok(Step::Wrote(describe(&changes)))
        }
        Action::Recreate => {
            tracing::warn!(stream = %declared.name, changes = %describe(&changes), "deleting and recreating stream (allow_destructive)");
            api.delete_stream(&declared.name).await?;
            api.create_stream(&desired::new_stream(declared)).await?;
            Ok(Step::Wrote(format!("recreated for {}", describe(&changes))))
        }
        Action::Drift => Ok(Step::Refused(changes)),
        _ => Ok(Step::Done),
    }
}

async fn consumer_step(api: &Api, stream: &Stream, declared: &Consumer) -> Result<Step, ApiError> {
    let Some(info) = api.consumer_info(&stream.name, &declared.name).await? else {
        tracing::info!(stream = %stream.name, consumer = %declared.name, "creating consumer");
        api.put_consumer(
            &stream.name,
            &desired::new_consumer(declared),
            ConsumerAction::Create,
        )
        .await?;
        return Ok(Step::Wrote("created".to_owned()));
    };
    let changes = diff::consumer_changes(declared, &info.config);
    match Action::for_changes(&changes, stream.allow_destructive) {
        Action::Update => {
            tracing::info!(stream = %stream.name, consumer = %declared.name, changes = %describe(&changes), "updating consumer");
            api.put_consumer(
                &stream.name,
                &desired::overlay_consumer(declared, &info.config),
                ConsumerAction::Update,
            )
            .await?;
            Ok(Step::Wrote(describe(&changes)))
        }
        Action::Recreate => {
            tracing::warn!(stream = %stream.name, consumer = %declared.name, changes = %describe(&changes), "deleting and recreating consumer (allow_destructive)");
            api.delete_consumer(&stream.name, &declared.name).await?;
            api.put_consumer(
                &stream.name,
                &desired::new_consumer(declared),
                ConsumerAction::Create,
            )
            .await?;
            Ok(Step::Wrote(format!("recreated for {}", describe(&changes))))
        }
        Action::Drift => Ok(Step::Refused(changes)),
        _ => Ok(Step::Done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> ApiError {
        ApiError::NoResponders {
            operation: "stream info LOGS".into(),
        }
    }

    #[tokio::test]
    async fn a_timeout_beyond_the_clock_retries_instead_of_panicking() {
        let mut backoff = Backoff::new(Duration::MAX);
        assert!(backoff.wait(busy()).await.is_ok());
    }

    #[tokio::test]
    async fn a_spent_deadline_gives_up_on_a_transient_error() {
        let mut backoff = Backoff::new(Duration::ZERO);
        assert!(matches!(
            backoff.wait(busy()).await,
            Err(ProvisionError::Timeout { .. })
        ));
    }
}

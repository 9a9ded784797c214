#![allow(clippy::print_stdout)] // An example whose job is to print its figures.
//! A deliberately minimal async-nats load loop, independent of `pier_bench`: no stamps, no
//! histogram, no delivery check; it only counts. It tells what the client library alone
//! costs, on one thread as `pier-bench bench` runs by default, in client CPU per consumed
//! message (getrusage, user + system) as both pier-bench and the Go client (docs/bench/goref)
//! report it.
//!
//! cargo run --release -p pier-bench --example nats_loop -- push URL[,URL...] MSGS SUBS
//! cargo run --release -p pier-bench --example nats_loop -- pull URL[,URL...] MSGS SUBS

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeValLike;
use std::future::IntoFuture;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, urls, msgs, subs] = args.as_slice() else {
        return Err("usage: nats_loop push|pull URL[,URL...] MSGS SUBS".into());
    };
    let urls: Vec<&str> = urls.split(',').collect();
    let msgs: u64 = msgs.parse()?;
    let subs: usize = subs.parse()?;
    let (published, consumed) = match mode.as_str() {
        "push" => push(&urls, msgs, subs).await?,
        "pull" => pull_loop(&urls, msgs, subs).await?,
        _ => return Err("mode is push or pull".into()),
    };
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let cpu_s = (usage.user_time().num_microseconds() + usage.system_time().num_microseconds())
        as f64
        / 1e6;
    println!(
        "{mode}: published {msgs} in {:.3}s = {:.0} msg/s; consumed in {:.3}s = {:.0} msg/s; \
         client CPU {:.3} µs/msg",
        published.as_secs_f64(),
        msgs as f64 / published.as_secs_f64(),
        consumed.as_secs_f64(),
        msgs as f64 / consumed.as_secs_f64(),
        cpu_s * 1e6 / msgs as f64
    );
    Ok(())
}

async fn push(urls: &[&str], msgs: u64, subs: usize) -> Result<(Duration, Duration), Error> {
    let count = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for i in 0..subs {
        let client = async_nats::connect(urls[i % urls.len()]).await?;
        let mut sub = client
            .queue_subscribe("jobs.process", "worker-group".into())
            .await?;
        client.flush().await?;
        let count = count.clone();
        tokio::spawn(async move {
            let mut local = 0u64;
            while sub.next().await.is_some() {
                local += 1;
                if local % 1024 == 0 {
                    count.fetch_add(1024, Ordering::Relaxed);
                }
            }
            count.fetch_add(local % 1024, Ordering::Relaxed);
        });
        clients.push(client);
    }
    // Interest has to cross the routes before the first publish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Same placement as pier-bench bench: each role round-robin from the first URL.
    let publisher = async_nats::connect(urls[0]).await?;
    let payload = bytes::Bytes::from(vec![b'x'; 128]);
    let start = Instant::now();
    for _ in 0..msgs {
        publisher.publish("jobs.process", payload.clone()).await?;
    }
    publisher.flush().await?;
    let published = start.elapsed();
    let mut last = (0, Instant::now());
    while count.load(Ordering::Relaxed) + 1024 * subs as u64 <= msgs {
        let now = count.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for client in &clients {
        client.drain().await?;
    }
    let consumed = start.elapsed();
    Ok((published, consumed))
}

async fn pull_loop(urls: &[&str], msgs: u64, subs: usize) -> Result<(Duration, Duration), Error> {
    let admin = jetstream::new(async_nats::connect(urls[0]).await?);
    let _ = admin.delete_stream("LOOP").await;
    let stream = admin
        .create_stream(stream::Config {
            name: "LOOP".into(),
            subjects: vec!["loop.>".into()],
            storage: stream::StorageType::File,
            num_replicas: urls.len().min(3),
            ..Default::default()
        })
        .await?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some("loop-worker".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: 50_000,
            ..Default::default()
        })
        .await?;
    let count = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for i in 0..subs {
        let client = async_nats::connect(urls[i % urls.len()]).await?;
        let consumer: jetstream::consumer::PullConsumer = jetstream::new(client.clone())
            .get_stream("LOOP")
            .await?
            .get_consumer("loop-worker")
            .await?;
        let count = count.clone();
        workers.push(tokio::spawn(async move {
            while count.load(Ordering::Relaxed) < msgs {
                let Ok(mut batch) = consumer
                    .batch()
                    .max_messages(128)
                    .expires(Duration::from_millis(500))
                    .messages()
                    .await
                else {
                    continue;
                };
                while let Some(Ok(message)) = batch.next().await {
                    let _ = message.ack().await;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = client.flush().await;
        }));
    }
    let publisher = jetstream::new(async_nats::connect(urls[0]).await?);
    let payload = bytes::Bytes::from(vec![b'x'; 128]);
    let start = Instant::now();
    let mut acks = FuturesUnordered::new();
    for _ in 0..msgs {
        acks.push(
            publisher
                .publish("loop.x", payload.clone())
                .await?
                .into_future(),
        );
        while acks.len() >= 4096 {
            acks.next().await.transpose()?;
        }
    }
    while acks.next().await.transpose()?.is_some() {}
    let published = start.elapsed();
    while count.load(Ordering::Relaxed) < msgs {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let consumed = start.elapsed();
    for worker in workers {
        worker.await?;
    }
    admin.delete_stream("LOOP").await?;
    Ok((published, consumed))
}

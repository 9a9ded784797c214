// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Accounts, users and permissions as docs/security.md declares them, on three real nats-servers
//! of each supported version: pier provisions the seed's stream as its own user of the application account, the
//! seed's publisher and worker can do their work and nothing else (the worker pulls `LOGS` but
//! cannot delete it), an anonymous client is refused, and only the system account's user gets
//! answers from `$SYS`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::{ConnectErrorKind, Event};
use futures::StreamExt;
use pier_broker::render::REDACTED;
use support::cluster::{LocalCluster, Ports, NATS_SERVER_2_15, NATS_SERVER_2_9};
use support::seed;
use tokio::sync::mpsc;

/// docs/security.md's accounts block (its second pier.toml block), with its password files in
/// `dir`, each holding REDACTED, which is what the test cluster renders for every secret.
fn documented_accounts(dir: &Path) -> String {
    let doc = include_str!("../../docs/security.md");
    let section = &doc[doc
        .find("## Accounts, users and permissions")
        .expect("docs/security.md has its accounts section")..];
    let start = section.find("```toml\n").expect("a toml block") + 8;
    let block = &section[start..start + section[start..].find("```").expect("its end")];
    for file in block.split('"').filter_map(|w| w.strip_prefix(TLS_DIR)) {
        std::fs::write(dir.join(file), REDACTED).unwrap();
    }
    block.replace(TLS_DIR, &format!("{}/", dir.display()))
}

const TLS_DIR: &str = "/etc/pier/tls/";

/// A client of `user`, with the server's errors (permission violations) sent to `errors`.
async fn connect(
    url: &str,
    user: &str,
    errors: Option<mpsc::UnboundedSender<String>>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut options = async_nats::ConnectOptions::new()
        .user_and_password(user.into(), REDACTED.into())
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(2)));
    if let Some(errors) = errors {
        options = options.event_callback(move |event| {
            let errors = errors.clone();
            async move {
                if let Event::ServerError(e) = event {
                    let _ = errors.send(e.to_string());
                }
            }
        });
    }
    options.connect(url).await
}

/// The next server error within a few seconds.
async fn next_error(errors: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), errors.recv())
        .await
        .expect("a server error within 5 s")
        .expect("the client is alive")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_user_does_its_work_and_nothing_else() {
    for (n, binary) in [NATS_SERVER_2_15, NATS_SERVER_2_9].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let offset = 10 * n as u16;
        let ports = Ports {
            client: 28100 + offset,
            cluster: 28200 + offset,
            monitor: 28300 + offset,
        };
        let cluster = LocalCluster::start_with(binary, ports, 3, &documented_accounts(dir.path()));
        let version = cluster.version;
        let url = cluster.client_url(0);

        let config = cluster.pier_toml(0, &seed("LOGS", "logs.>"));
        let provisioned = Command::new(env!("CARGO_BIN_EXE_pier-broker"))
            .args(["provision", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            provisioned.status.success(),
            "{version}: provision as pier: {}{}",
            String::from_utf8_lossy(&provisioned.stdout),
            String::from_utf8_lossy(&provisioned.stderr)
        );

        let anonymous = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url.as_str())
            .await
            .err()
            .unwrap_or_else(|| panic!("{version}: an anonymous client got in"));
        assert_eq!(
            anonymous.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{version}"
        );

        // The publisher stores into LOGS, and may neither read it nor publish elsewhere.
        let (tx, mut errors) = mpsc::unbounded_channel();
        let publisher = connect(&url, "publisher", Some(tx)).await.unwrap();
        let js = jetstream::new(publisher.clone());
        for i in 0..3 {
            js.publish(format!("logs.app.{i}"), "line".into())
                .await
                .unwrap()
                .await
                .unwrap_or_else(|e| panic!("{version}: publisher's ack: {e}"));
        }
        let _spy = publisher.subscribe("logs.>").await.unwrap();
        let refused = next_error(&mut errors).await;
        assert!(
            refused.contains("Permissions Violation") && refused.contains("logs.>"),
            "{version}: {refused}"
        );
        publisher.publish("jobs.other", "x".into()).await.unwrap();
        publisher.flush().await.unwrap();
        let refused = next_error(&mut errors).await;
        assert!(
            refused.contains("Permissions Violation") && refused.contains("jobs.other"),
            "{version}: {refused}"
        );

        // The worker pulls and acknowledges, and cannot delete the stream.
        let worker = connect(&url, "worker", None).await.unwrap();
        let js = jetstream::new(worker);
        let stream = js.get_stream("LOGS").await.unwrap();
        let consumer: jetstream::consumer::PullConsumer =
            stream.get_consumer("pull-worker").await.unwrap();
        let mut batch = consumer.fetch().max_messages(3).messages().await.unwrap();
        let mut pulled = 0;
        while let Some(message) = batch.next().await {
            message.unwrap().ack().await.unwrap();
            pulled += 1;
        }
        assert_eq!(pulled, 3, "{version}: the worker pulled {pulled} of 3");
        assert!(
            js.delete_stream("LOGS").await.is_err(),
            "{version}: the worker deleted LOGS"
        );
        let pier = jetstream::new(connect(&url, "pier", None).await.unwrap());
        let mut logs = pier.get_stream("LOGS").await.unwrap();
        assert_eq!(logs.info().await.unwrap().state.messages, 3, "{version}");

        // $SYS answers the system account's user only.
        let ops = connect(&url, "ops", None).await.unwrap();
        let pong = ops
            .request("$SYS.REQ.SERVER.PING", "".into())
            .await
            .unwrap_or_else(|e| panic!("{version}: ops's ping: {e}"));
        let pong = String::from_utf8_lossy(&pong.payload);
        assert!(pong.contains("\"name\":\"node-"), "{version}: {pong}");
        let app = connect(&url, "pier", None).await.unwrap();
        assert!(
            app.request("$SYS.REQ.SERVER.PING", "".into())
                .await
                .is_err(),
            "{version}: an application user got an answer from $SYS"
        );
    }
}

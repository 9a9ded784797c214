// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker provision` against real nats-server clusters on loopback.
//!
//! Most tests share one three-node nats-server 2.15 cluster (client ports 14322-14324, routes
//! 16322-16324, monitoring 18322-18324) and keep apart by stream name; pruning, which touches
//! every stream, gets a single node of its own (14325 / 16325 / 18325), and nats-server 2.9 a
//! cluster of its own (14326-14328 / 16326-16328 / 18326-18328), as does the cold start, where
//! provisioning begins before the cluster has a meta leader (14329-14331 / 16329-16331 /
//! 18329-18331), and the lost stream, whose node keeps a record of its own (14332 / 16332 /
//! 18332).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use async_nats::jetstream::{self, consumer, stream};
use pier_broker::render::REDACTED;
use serde_json::Value;
use support::cluster::{LocalCluster, Ports, NATS_SERVER_2_15, NATS_SERVER_2_9};
use support::seed;

static SHARED: OnceLock<LocalCluster> = OnceLock::new();

fn cluster() -> &'static LocalCluster {
    LocalCluster::shared(
        &SHARED,
        NATS_SERVER_2_15,
        Ports {
            client: 14322,
            cluster: 16322,
            monitor: 18322,
        },
        3,
    )
}

/// Runs `pier-broker provision --config FILE ARGS...`.
fn provision(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pier-broker"))
        .arg("provision")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run pier-broker")
}

/// Runs provision with `--format json`; returns the exit code and the parsed report.
fn provision_json(config: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let output = provision(config, &all);
    let code = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "provision printed no JSON ({e}); exit {code}\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, report)
}

fn stream_plan<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["plan"]["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no stream {name} in the plan: {report:#}"))
}

fn consumer_plan<'a>(report: &'a Value, stream: &str, name: &str) -> &'a Value {
    stream_plan(report, stream)["consumers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no consumer {name} of {stream} in the plan: {report:#}"))
}

fn changed_fields(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn js(cluster: &LocalCluster, node: usize) -> jetstream::Context {
    let client = async_nats::connect(cluster.client_url(node))
        .await
        .expect("connect to the test cluster");
    jetstream::new(client)
}

async fn stream_info(js: &jetstream::Context, name: &str) -> stream::Info {
    js.get_stream(name)
        .await
        .unwrap_or_else(|e| panic!("stream {name}: {e}"))
        .get_info()
        .await
        .unwrap_or_else(|e| panic!("stream {name} info: {e}"))
}

async fn consumer_info(js: &jetstream::Context, stream: &str, name: &str) -> consumer::Info {
    js.get_stream(stream)
        .await
        .unwrap_or_else(|e| panic!("stream {stream}: {e}"))
        .consumer_info(name)
        .await
        .unwrap_or_else(|e| panic!("consumer {name}: {e}"))
        .clone()
}

/// Publishes until the stream acknowledges: a stream created a moment ago may still be electing
/// its leader. The message id makes a retry of a publish that was in fact stored a duplicate the
/// stream drops.
async fn publish_stored(js: &jetstream::Context, subject: &str, id: &str) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let mut last = String::new();
    for _ in 0..40 {
        match js
            .publish_with_headers(subject.to_owned(), headers.clone(), id.to_owned().into())
            .await
        {
            Ok(ack) => match ack.await {
                Ok(_) => return,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{subject}: message {id} never stored: {last}");
}

#[tokio::test]
async fn seed_stream_and_consumer_are_created_then_left_unchanged() {
    let cluster = cluster();
    let config = cluster.pier_toml(0, &seed("LOGS", "logs.>"));

    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}\n{}", cluster.logs());
    assert_eq!(stream_plan(&report, "LOGS")["action"], "create");
    assert_eq!(
        consumer_plan(&report, "LOGS", "pull-worker")["action"],
        "create"
    );
    assert_eq!(report["applied"], true);

    // What the server reports, read through another node.
    let js = js(cluster, 1).await;
    let info = stream_info(&js, "LOGS").await;
    assert_eq!(info.config.subjects, ["logs.>"]);
    assert_eq!(info.config.storage, stream::StorageType::File);
    assert_eq!(info.config.num_replicas, 3);
    assert_eq!(info.config.retention, stream::RetentionPolicy::Limits);
    assert_eq!(info.config.max_messages, -1, "server default kept");
    let worker = consumer_info(&js, "LOGS", "pull-worker").await;
    assert_eq!(worker.config.durable_name.as_deref(), Some("pull-worker"));
    assert_eq!(worker.config.deliver_subject, None, "a pull consumer");
    assert_eq!(worker.config.deliver_group, None);
    assert_eq!(worker.config.ack_policy, consumer::AckPolicy::Explicit);
    assert_eq!(worker.config.max_ack_pending, 50_000);

    // A second run finds nothing to do, server defaults included.
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        stream_plan(&report, "LOGS")["action"],
        "unchanged",
        "{report:#}"
    );
    assert_eq!(
        consumer_plan(&report, "LOGS", "pull-worker")["action"],
        "unchanged",
        "{report:#}"
    );
    assert_eq!(report["applied"], false);
    for action in ["create", "update", "recreate", "drift", "delete"] {
        assert_eq!(report["summary"][action], 0, "{action}: {report:#}");
    }

    let text = provision(&config, &[]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{stdout}");
    assert!(stdout.contains("stream LOGS: unchanged"), "{stdout}");
    assert!(
        stdout.contains("  consumer pull-worker: unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing to do"), "{stdout}");
}

#[tokio::test]
async fn edited_fields_are_updated_in_place() {
    let cluster = cluster();
    let declare = |max_age: &str, pending: u32| {
        format!(
            r#"
[[streams]]
name = "EDITS"
subjects = ["edits.>"]
replicas = 3
max_age = "{max_age}"

[[streams.consumers]]
name = "editor"
max_ack_pending = {pending}
"#
        )
    };
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare("1h", 100)), &[]);
    assert_eq!(code, 0, "{report:#}");
    let js = js(cluster, 2).await;
    let before = stream_info(&js, "EDITS").await;
    publish_stored(&js, "edits.a", "kept-0").await;

    let (code, report) = provision_json(&cluster.pier_toml(1, &declare("2h", 200)), &[]);
    assert_eq!(code, 0, "{report:#}");
    let plan = stream_plan(&report, "EDITS");
    assert_eq!(plan["action"], "update", "{report:#}");
    assert_eq!(
        changed_fields(plan),
        ["max_age"],
        "only what changed: {report:#}"
    );
    assert_eq!(plan["changes"][0]["from"], "1h");
    assert_eq!(plan["changes"][0]["to"], "2h");
    assert_eq!(plan["changes"][0]["effect"], "in_place");
    let editor = consumer_plan(&report, "EDITS", "editor");
    assert_eq!(editor["action"], "update");
    assert_eq!(changed_fields(editor), ["max_ack_pending"]);

    let after = stream_info(&js, "EDITS").await;
    assert_eq!(after.config.max_age, std::time::Duration::from_secs(7200));
    assert_eq!(
        after.created, before.created,
        "updated in place, not recreated"
    );
    assert_eq!(after.state.messages, 1, "no message lost");
    let consumer = consumer_info(&js, "EDITS", "editor").await;
    assert_eq!(consumer.config.max_ack_pending, 200);

    let (code, report) = provision_json(&cluster.pier_toml(2, &declare("2h", 200)), &[]);
    assert_eq!(code, 0);
    assert_eq!(
        stream_plan(&report, "EDITS")["action"],
        "unchanged",
        "{report:#}"
    );
}

#[tokio::test]
async fn destructive_changes_are_refused_unless_allowed() {
    let cluster = cluster();
    let declare = |storage: &str, replicas: u32, extra: &str| {
        format!(
            r#"
[[streams]]
name = "DESTR"
subjects = ["destr.>"]
storage = "{storage}"
replicas = {replicas}
{extra}

[[streams.consumers]]
name = "destr-worker"
"#
        )
    };
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare("file", 3, "")), &[]);
    assert_eq!(code, 0, "{report:#}");
    let js = js(cluster, 0).await;
    for i in 0..3 {
        publish_stored(&js, "destr.a", &format!("destr-{i}")).await;
    }

    // storage file -> memory, plus a harmless edit: the whole plan is refused.
    let config = cluster.pier_toml(0, &declare("memory", 3, "max_age = \"1d\""));
    let output = provision(&config, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("stream DESTR: drift"), "{stdout}");
    assert!(stdout.contains("storage: file -> memory"), "{stdout}");
    assert!(stdout.contains("its 3 messages would be lost"), "{stdout}");
    assert!(stdout.contains("allow_destructive = true"), "{stdout}");
    let info = stream_info(&js, "DESTR").await;
    assert_eq!(info.config.storage, stream::StorageType::File);
    assert_eq!(
        info.config.max_age,
        std::time::Duration::ZERO,
        "nothing applied"
    );
    assert_eq!(info.state.messages, 3);

    // replicas 3 -> 1 is refused too.
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare("file", 1, "")), &[]);
    assert_eq!(code, 1, "{report:#}");
    let change = &stream_plan(&report, "DESTR")["changes"][0];
    assert_eq!(change["field"], "replicas");
    assert_eq!(change["effect"], "destructive");
    assert_eq!(stream_info(&js, "DESTR").await.config.num_replicas, 3);

    // Allowed: fewer replicas happen in place and keep the messages...
    let allow = "allow_destructive = true";
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare("file", 1, allow)), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "DESTR")["action"], "update");
    let info = stream_info(&js, "DESTR").await;
    assert_eq!(info.config.num_replicas, 1);
    assert_eq!(info.state.messages, 3);

    // ...and a storage change deletes and recreates the stream and its consumers.
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare("memory", 1, allow)), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "DESTR")["action"], "recreate");
    assert_eq!(
        consumer_plan(&report, "DESTR", "destr-worker")["action"],
        "create"
    );
    let info = stream_info(&js, "DESTR").await;
    assert_eq!(info.config.storage, stream::StorageType::Memory);
    assert_eq!(info.state.messages, 0);
    consumer_info(&js, "DESTR", "destr-worker").await;
}

#[tokio::test]
async fn consumer_kind_change_is_refused() {
    let cluster = cluster();
    let declare = |consumer: &str| {
        format!(
            "[[streams]]\nname = \"KINDS\"\nsubjects = [\"kinds.>\"]\nreplicas = 3\n\n\
             [[streams.consumers]]\nname = \"kind\"\n{consumer}\n"
        )
    };
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare("type = \"pull\"")), &[]);
    assert_eq!(code, 0, "{report:#}");
    let push = "type = \"push\"\ndeliver_subject = \"deliver.kinds\"";
    let (code, report) = provision_json(&cluster.pier_toml(0, &declare(push)), &[]);
    assert_eq!(code, 1, "{report:#}");
    let plan = consumer_plan(&report, "KINDS", "kind");
    assert_eq!(plan["action"], "drift");
    assert_eq!(plan["changes"][0]["field"], "type");
    assert_eq!(plan["changes"][0]["effect"], "recreate");
    let js = js(cluster, 1).await;
    let consumer = consumer_info(&js, "KINDS", "kind").await;
    assert_eq!(
        consumer.config.deliver_subject, None,
        "still a pull consumer"
    );
}

#[tokio::test]
async fn three_provisioners_at_once_converge() {
    let cluster = cluster();
    for (round, max_age) in [(0, "1h"), (1, "3h")] {
        let declare = format!(
            r#"
[[streams]]
name = "CONC"
subjects = ["conc.>"]
replicas = 3
max_age = "{max_age}"

[[streams.consumers]]
name = "conc-worker"
max_ack_pending = 500

[[streams.consumers]]
name = "conc-push"
type = "push"
deliver_subject = "deliver.conc"
deliver_group = "conc-group"
"#
        );
        provision_everywhere(cluster, &declare, &format!("round {round}"));
        let js = js(cluster, round % 3).await;
        let info = stream_info(&js, "CONC").await;
        assert_eq!(info.config.num_replicas, 3);
        let hours = if round == 0 { 1 } else { 3 };
        assert_eq!(
            info.config.max_age,
            std::time::Duration::from_secs(hours * 3600)
        );
        assert_eq!(
            info.state.consumer_count, 2,
            "exactly the declared consumers"
        );

        let (code, report) = provision_json(&cluster.pier_toml(2, &declare), &[]);
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(
            stream_plan(&report, "CONC")["action"],
            "unchanged",
            "{report:#}"
        );
        for consumer in ["conc-worker", "conc-push"] {
            assert_eq!(
                consumer_plan(&report, "CONC", consumer)["action"],
                "unchanged",
                "{report:#}"
            );
        }
    }
}

/// Runs `pier-broker provision` on every node at once; panics unless all succeed.
fn provision_everywhere(cluster: &LocalCluster, declare: &str, what: &str) {
    let children: Vec<_> = (0..cluster.nodes.len())
        .map(|node| {
            Command::new(env!("CARGO_BIN_EXE_pier-broker"))
                .args(["provision", "--format", "json", "--config"])
                .arg(cluster.pier_toml(node, declare))
                .env("PIER_LOG", "pier_broker=debug")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start pier-broker")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("pier-broker ends");
        if std::env::var_os("PIER_TEST_SHOW_LOGS").is_some() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        }
        assert!(
            output.status.success(),
            "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            cluster.logs()
        );
    }
}

#[tokio::test]
async fn provisioning_at_boot_waits_for_the_meta_leader() {
    let cluster = LocalCluster::start_cold(
        NATS_SERVER_2_15,
        Ports {
            client: 14329,
            cluster: 16329,
            monitor: 18329,
        },
        3,
    );
    provision_everywhere(&cluster, &seed("BOOT", "boot.>"), "cold start");
    let js = js(&cluster, 2).await;
    assert_eq!(stream_info(&js, "BOOT").await.config.num_replicas, 3);
    consumer_info(&js, "BOOT", "pull-worker").await;
    let (code, report) = provision_json(&cluster.pier_toml(1, &seed("BOOT", "boot.>")), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["unchanged"], 2, "{report:#}");
}

/// The answers the concurrency handling relies on, as nats-server really gives them: a second
/// create of a different stream or consumer says "already exists", reads of absent objects are
/// "none", an update of an absent consumer says "not found".
#[tokio::test]
async fn jetstream_errors_are_classified() {
    use pier_broker::provision::api::{Api, ConsumerAction};
    let cluster = cluster();
    let api = Api::new(js(cluster, 0).await);
    let mut config = stream::Config {
        name: "RACE".into(),
        subjects: vec!["race.>".into()],
        num_replicas: 3,
        ..Default::default()
    };
    api.create_stream(&config).await.expect("create RACE");
    api.create_stream(&config)
        .await
        .expect("an identical create is accepted");
    config.max_messages = 5;
    let error = api
        .create_stream(&config)
        .await
        .expect_err("a different create is refused");
    assert!(error.already_exists(), "{error}");
    assert!(!error.is_transient(), "{error}");

    let mut consumer = consumer::Config {
        durable_name: Some("racer".into()),
        ..Default::default()
    };
    api.put_consumer("RACE", &consumer, ConsumerAction::Create)
        .await
        .expect("create racer");
    consumer.max_ack_pending = 7;
    let error = api
        .put_consumer("RACE", &consumer, ConsumerAction::Create)
        .await
        .expect_err("a different create is refused");
    assert!(error.already_exists(), "{error}");
    consumer.durable_name = Some("absent".into());
    let error = api
        .put_consumer("RACE", &consumer, ConsumerAction::Update)
        .await
        .expect_err("updating an absent consumer is refused");
    assert!(error.not_found(), "{error}");

    assert!(api.stream_info("ABSENT").await.expect("read").is_none());
    assert!(api
        .consumer_info("RACE", "absent")
        .await
        .expect("read")
        .is_none());
    api.delete_stream("ABSENT")
        .await
        .expect("deleting what is gone is fine");
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let cluster = cluster();
    let declare = |max_msgs: u32| {
        format!(
            "[[streams]]\nname = \"DRY\"\nsubjects = [\"dry.>\"]\nreplicas = 3\nmax_msgs = {max_msgs}\n\n\
             [[streams.consumers]]\nname = \"dry-worker\"\n"
        )
    };
    let js = js(cluster, 0).await;

    let (code, report) = provision_json(&cluster.pier_toml(0, &declare(10)), &["--dry-run"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "DRY")["action"], "create");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["applied"], false);
    assert!(
        js.get_stream("DRY").await.is_err(),
        "dry run created the stream"
    );

    // The library entry point, as `run` calls it.
    let config = pier_config::Source::read(&cluster.pier_toml(0, &declare(10)))
        .expect("read")
        .parse()
        .expect("parse");
    let client = async_nats::connect(cluster.client_url(1))
        .await
        .expect("connect");
    let options = pier_broker::provision::Options::from_config(&config);
    let outcome = pier_broker::provision::reconcile(&client, &config, &options)
        .await
        .expect("reconcile");
    assert!(outcome.applied);
    assert_eq!(stream_info(&js, "DRY").await.config.max_messages, 10);

    let (code, report) = provision_json(&cluster.pier_toml(0, &declare(20)), &["--dry-run"]);
    assert_eq!(code, 0, "{report:#}");
    let plan = stream_plan(&report, "DRY");
    assert_eq!(plan["action"], "update");
    assert_eq!(plan["changes"][0]["field"], "max_msgs");
    assert_eq!(plan["changes"][0]["from"], "10");
    assert_eq!(plan["changes"][0]["to"], "20");
    assert_eq!(
        stream_info(&js, "DRY").await.config.max_messages,
        10,
        "dry run changed it"
    );
}

/// Also checks that provisioning authenticates as the first `client.users` entry.
#[tokio::test]
async fn unmanaged_objects_are_kept_unless_pruning() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let password_file = secrets.path().join("pier.pass");
    std::fs::write(&password_file, format!("{REDACTED}\n")).expect("password file");
    let users = format!(
        "[[client.users]]\nnkey = \"UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4\"\n\n\
         [[client.users]]\nuser = \"pier\"\npassword_file = \"{}\"\n",
        password_file.display()
    );
    let cluster = LocalCluster::start_with(
        NATS_SERVER_2_15,
        Ports {
            client: 14325,
            cluster: 16325,
            monitor: 18325,
        },
        1,
        &users,
    );
    assert!(
        async_nats::connect(cluster.client_url(0)).await.is_err(),
        "the server lets clients in without credentials"
    );
    let client = async_nats::ConnectOptions::with_user_and_password("pier".into(), REDACTED.into())
        .connect(cluster.client_url(0))
        .await
        .expect("connect with the rendered credentials");
    let js = jetstream::new(client);
    let declare = "[[streams]]\nname = \"KEEP\"\nsubjects = [\"keep.>\"]\n\n\
                   [[streams.consumers]]\nname = \"kept\"\n";
    let (code, report) = provision_json(&cluster.pier_toml(0, declare), &[]);
    assert_eq!(code, 0, "{report:#}");
    js.create_stream(stream::Config {
        name: "EXTRA".into(),
        subjects: vec!["extra.>".into()],
        ..Default::default()
    })
    .await
    .expect("create EXTRA");
    js.get_stream("KEEP")
        .await
        .expect("KEEP")
        .create_consumer(consumer::pull::Config {
            durable_name: Some("stray".into()),
            ..Default::default()
        })
        .await
        .expect("create stray consumer");

    let (code, report) = provision_json(&cluster.pier_toml(0, declare), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "EXTRA")["action"], "unmanaged");
    assert_eq!(
        consumer_plan(&report, "KEEP", "stray")["action"],
        "unmanaged"
    );
    assert!(
        js.get_stream("EXTRA").await.is_ok(),
        "EXTRA deleted without prune"
    );

    let pruning = format!("[provision]\nprune = true\n\n{declare}");
    let (code, report) = provision_json(&cluster.pier_toml(0, &pruning), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "EXTRA")["action"], "delete");
    assert_eq!(consumer_plan(&report, "KEEP", "stray")["action"], "delete");
    assert!(
        js.get_stream("EXTRA").await.is_err(),
        "EXTRA kept despite prune"
    );
    let keep = stream_info(&js, "KEEP").await;
    assert_eq!(
        keep.state.consumer_count, 1,
        "only the declared consumer is left"
    );
    consumer_info(&js, "KEEP", "kept").await;
}

#[tokio::test]
async fn nats_server_2_9_gets_the_seed_stream_and_consumers() {
    let cluster = LocalCluster::start(
        NATS_SERVER_2_9,
        Ports {
            client: 14326,
            cluster: 16326,
            monitor: 18326,
        },
        3,
    );
    let declare = format!(
        "{}\n[[streams.consumers]]\nname = \"app-worker\"\nfilter_subjects = [\"logs.app\"]\n",
        seed("LOGS", "logs.>")
    );
    let config = cluster.pier_toml(0, &declare);
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}\n{}", cluster.logs());
    assert_eq!(report["plan"]["server_version"], "2.9.10");

    let js = js(&cluster, 1).await;
    let info = stream_info(&js, "LOGS").await;
    assert_eq!(info.config.num_replicas, 3);
    let worker = consumer_info(&js, "LOGS", "pull-worker").await;
    assert_eq!(worker.config.max_ack_pending, 50_000);
    let app = consumer_info(&js, "LOGS", "app-worker").await;
    assert_eq!(app.config.filter_subject, "logs.app");

    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        stream_plan(&report, "LOGS")["action"],
        "unchanged",
        "{report:#}"
    );
    assert_eq!(report["summary"]["unchanged"], 3, "{report:#}");

    // In-place updates work on 2.9 too, filters included; a retention change is refused.
    let edited = declare
        .replace("replicas = 3", "replicas = 3\nmax_age = \"1d\"")
        .replace("max_ack_pending = 50000", "max_ack_pending = 40000");
    let (code, report) = provision_json(&cluster.pier_toml(2, &edited), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        stream_plan(&report, "LOGS")["action"],
        "update",
        "{report:#}"
    );
    assert_eq!(
        stream_info(&js, "LOGS").await.config.max_age.as_secs(),
        86400
    );
    let worker = consumer_info(&js, "LOGS", "pull-worker").await;
    assert_eq!(worker.config.max_ack_pending, 40_000);

    let refiltered = edited.replace("[\"logs.app\"]", "[\"logs.web\"]");
    let (code, report) = provision_json(&cluster.pier_toml(2, &refiltered), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        consumer_plan(&report, "LOGS", "app-worker")["action"],
        "update"
    );
    let app = consumer_info(&js, "LOGS", "app-worker").await;
    assert_eq!(app.config.filter_subject, "logs.web");

    let interest = refiltered.replace("replicas = 3", "replicas = 3\nretention = \"interest\"");
    let (code, report) = provision_json(&cluster.pier_toml(2, &interest), &[]);
    assert_eq!(code, 1, "{report:#}");
    let plan = stream_plan(&report, "LOGS");
    assert_eq!(plan["action"], "drift", "{report:#}");
    assert_eq!(plan["changes"][0]["field"], "retention", "{report:#}");
    assert_eq!(plan["changes"][0]["effect"], "recreate", "{report:#}");
}

#[tokio::test]
async fn a_stream_that_held_messages_and_is_gone_is_lost_not_created() {
    let cluster = LocalCluster::start(
        NATS_SERVER_2_15,
        Ports {
            client: 14332,
            cluster: 16332,
            monitor: 18332,
        },
        1,
    );
    let record = cluster
        .dir
        .join("node-1")
        .join("jetstream")
        .join(pier_broker::provision::record::FILE);
    let config = cluster.pier_toml(0, "[[streams]]\nname = \"GONE\"\nsubjects = [\"gone.>\"]\n");
    let js = js(&cluster, 0).await;

    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "GONE")["action"], "create");
    for i in 0..5 {
        publish_stored(&js, "gone.a", &format!("m{i}")).await;
    }
    // The next reconcile (the supervisor's at a restart or reload) records how far it went.
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
    let text = std::fs::read_to_string(&record).expect("the record is written");
    assert!(text.contains("\"last_sequence\": 5"), "{text}");

    // Gone, as after a power cut of every node: reported, and not created again.
    js.delete_stream("GONE").await.expect("delete GONE");
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 1, "a lost stream fails provisioning: {report:#}");
    let plan = stream_plan(&report, "GONE");
    assert_eq!(plan["action"], "lost", "{report:#}");
    assert_eq!(plan["loss"]["held"]["last_sequence"], 5, "{report:#}");
    assert!(plan["loss"]["now"].is_null(), "{report:#}");
    assert_eq!(report["summary"]["lost"], 1, "{report:#}");
    assert!(
        js.get_stream("GONE").await.is_err(),
        "a lost stream was created again"
    );
    let out = provision(&config, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("LOST: held 5 messages up to sequence 5; gone")
            && stdout.contains("--accept-loss GONE"),
        "{stdout}"
    );

    // The operator's word creates it again and starts its record anew.
    let (code, report) = provision_json(&config, &["--accept-loss", "GONE"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(stream_plan(&report, "GONE")["action"], "create");
    publish_stored(&js, "gone.a", "again").await;
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");

    // A stream whose last sequence went backwards lost messages too, though it exists.
    js.delete_stream("GONE").await.expect("delete GONE");
    let (code, report) = provision_json(&config, &["--accept-loss", "GONE"]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
    publish_stored(&js, "gone.a", "m0").await;
    publish_stored(&js, "gone.a", "m1").await;
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 0, "{report:#}");
    js.delete_stream("GONE").await.expect("delete GONE");
    js.create_stream(stream::Config {
        name: "GONE".into(),
        subjects: vec!["gone.>".into()],
        ..Default::default()
    })
    .await
    .expect("create GONE by hand");
    publish_stored(&js, "gone.a", "only").await;
    let (code, report) = provision_json(&config, &[]);
    assert_eq!(code, 1, "{report:#}");
    let plan = stream_plan(&report, "GONE");
    assert_eq!(plan["action"], "unchanged", "{report:#}");
    assert_eq!(plan["loss"]["held"]["last_sequence"], 2, "{report:#}");
    assert_eq!(plan["loss"]["now"]["last_sequence"], 1, "{report:#}");
    let (code, report) = provision_json(&config, &["--accept-loss", "GONE"]);
    assert_eq!(code, 0, "{report:#}");
    assert!(stream_plan(&report, "GONE")["loss"].is_null(), "{report:#}");

    let out = provision(&config, &["--accept-loss", "NOPE"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no stream \"NOPE\" is declared"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

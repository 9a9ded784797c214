// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The property behind `validate` being the gate: whatever it accepts renders to a file the real
//! nats-server accepts (`nats-server -t`), on every supported version the version gate lets
//! through. Generated configurations mix ordinary values with hostile ones: control characters,
//! quotes, `$`, `#`, braces and non-ASCII in every string, durations up to u64 in every unit,
//! numbers at and beyond the limits, and secrets that are anything but a plain word.
//!
//! PROPTEST_CASES sets the number of cases (64 by default, a few seconds).

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use pier_broker::render::{render, SecretError, Secrets};
use pier_config::validate::{validate, Context};
use pier_config::{ServerVersion, Source};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

/// Every secret file renders as the generated password: the files themselves only need to pass
/// validation, what nats-server must parse is the password written into its configuration.
struct Hostile(String);

impl Secrets for Hostile {
    fn read(&self, _path: &Path) -> Result<String, SecretError> {
        Ok(self.0.clone())
    }
}

/// Both supported servers, with the version `render` takes.
fn servers() -> Vec<(ServerVersion, PathBuf)> {
    support::servers()
        .into_iter()
        .map(|(version, path)| (version.parse().unwrap(), path))
        .collect()
}

/// A TOML basic string: JSON's escapes are all valid TOML escapes.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Mostly the characters operators write, often characters that mean something to a parser
/// (`odd`: quotes, `$`, `#`, braces, non-ASCII, and more), sometimes anything: white space,
/// backslashes, control characters.
fn text_from(odd: &str, max: usize) -> impl Strategy<Value = String> {
    let ordinary = format!("[A-Za-z0-9_:-]{{1,{max}}}");
    let odd = format!("[A-Za-z0-9{odd}]{{1,{max}}}");
    let hostile = format!("(?s)[\\x00-\\x7fé€\u{2028}]{{0,{max}}}");
    prop_oneof![
        10 => proptest::string::string_regex(&ordinary).unwrap(),
        5 => proptest::string::string_regex(&odd).unwrap(),
        1 => proptest::string::string_regex(&hostile).unwrap(),
    ]
}

/// A name: its odd characters are those a NATS name may hold.
fn name(max: usize) -> impl Strategy<Value = String> {
    text_from("\"'$#{}\\[\\]=;,&|é€:_-", max)
}

/// Free text (user names, passwords, paths): white space and backslashes are odd but allowed.
fn text(max: usize) -> impl Strategy<Value = String> {
    text_from("\"'$#{}\\[\\]=;,&|\\\\é€ :_-", max)
}

/// A duration as pier.toml writes it, from zero to far beyond what Go can carry.
fn duration() -> impl Strategy<Value = String> {
    let amount = prop_oneof![4 => 0u64..200, 1 => any::<u64>()];
    let unit = prop::sample::select(vec!["ns", "ms", "s", "m", "h", "d", "years"]);
    (amount, unit).prop_map(|(n, unit)| format!("{n}{unit}"))
}

fn size() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (1u64..64).prop_map(|n| format!("\"{n}MiB\"")),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    toml: String,
    password: String,
}

fn case(password_file: String) -> impl Strategy<Value = Case> {
    let node = (
        name(16),
        prop::collection::vec(name(12), 0..3),
        prop_oneof![9 => 1024u16..60000, 1 => any::<u16>()],
        prop::option::of(name(16)),
    );
    let jetstream = (
        text(12),
        prop::option::of(size()),
        prop::option::of(prop_oneof![
            Just("always".to_owned()),
            Just("server-default".to_owned()),
            duration()
        ]),
        prop::option::of(name(12)),
    );
    let limits = (
        prop::option::of(size()),
        prop::option::of(prop_oneof![any::<u32>(), 1u32..1000]),
        prop::option::of(duration()),
        prop_oneof![6 => (30u64..600).prop_map(|n| format!("{n}s")), 1 => duration()],
        prop_oneof![6 => (0u64..30).prop_map(|n| format!("{n}s")), 1 => duration()],
    );
    let auth = (text(12), text(24), prop::bool::ANY);
    (node, jetstream, limits, auth).prop_map(move |(node, js, limits, auth)| {
        let (name, tags, port, cluster) = node;
        let (store, max_file, sync, domain) = js;
        let (payload, connections, deadline, lame_duck, grace) = limits;
        let (user, password, route_auth) = auth;
        let port = u32::from(port);
        let mut t = format!(
            "[node]\nname = {}\nclient_listen = \"127.0.0.1:{port}\"\n\
             monitor_listen = \"127.0.0.1:{}\"\ncluster_listen = \"127.0.0.1:{}\"\ntags = [{}]\n",
            toml_string(&name),
            port + 1,
            port + 2,
            tags.iter()
                .map(|t| toml_string(t))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if let Some(cluster) = cluster {
            t += &format!("\n[cluster]\nname = {}\n", toml_string(&cluster));
            for (i, peer) in [name.clone(), "peer-b".into(), "peer-c".into()]
                .iter()
                .enumerate()
            {
                t += &format!(
                    "\n[[cluster.peers]]\nname = {}\naddress = \"127.0.0.1:{}\"\n",
                    toml_string(peer),
                    port + 2 + 10 * i as u32
                );
            }
            if route_auth {
                t += &format!(
                    "\n[cluster.authorization]\nuser = {}\npassword_file = {}\n",
                    toml_string(&user),
                    toml_string(&password_file)
                );
            }
        }
        t += &format!(
            "\n[jetstream]\nstore_dir = {}\n",
            toml_string(&format!("/tmp/pier-property/{store}"))
        );
        if let Some(max) = max_file {
            t += &format!("max_file_store = {max}\n");
        }
        if let Some(sync) = sync {
            t += &format!("sync = {}\n", toml_string(&sync));
        }
        if let Some(domain) = domain {
            t += &format!("domain = {}\n", toml_string(&domain));
        }
        t += "\n[limits]\n";
        if let Some(payload) = payload {
            t += &format!("max_payload = {payload}\n");
        }
        if let Some(connections) = connections {
            t += &format!("max_connections = {connections}\n");
        }
        if let Some(deadline) = deadline {
            t += &format!("write_deadline = {}\n", toml_string(&deadline));
        }
        t += &format!(
            "lame_duck_duration = {}\nlame_duck_grace_period = {}\n",
            toml_string(&lame_duck),
            toml_string(&grace)
        );
        t += &format!(
            "\n[[client.users]]\nuser = {}\npassword_file = {}\n",
            toml_string(&user),
            toml_string(&password_file)
        );
        // As the secret reader gives it: without trailing line breaks, never empty.
        let password = password.trim_end_matches(['\r', '\n']).to_owned();
        let password = if password.is_empty() {
            "p".into()
        } else {
            password
        };
        Case { toml: t, password }
    })
}

#[test]
fn whatever_validate_accepts_nats_server_accepts() {
    let servers = servers();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "unused\n").unwrap();
    std::fs::set_permissions(
        &password_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let checked = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let conf = dir.path().join("nats-server.conf");
    let strategy = case(password_file.display().to_string());
    let result = runner.run(&strategy, |case| {
        let source = Source::from_text("pier.toml", case.toml.clone());
        let Ok(config) = source.parse() else {
            rejected.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        for (version, server) in &servers {
            let context = Context {
                server_version: Some(*version),
            };
            if validate(&config, &context).iter().any(|d| d.is_error()) {
                rejected.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let text = render(&config, *version, &Hostile(case.password.clone())).map_err(|e| {
                TestCaseError::fail(format!("validate accepted but render refused: {e}"))
            })?;
            std::fs::write(&conf, &text).unwrap();
            if let Err(refusal) = support::server_accepts(server, &conf) {
                return Err(TestCaseError::fail(format!(
                    "nats-server {version} -t refused what validate accepted:\n{refusal}\n--- pier.toml\n{}\n--- rendered\n{text}",
                    case.toml
                )));
            }
            checked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (checked, rejected) = (checked.into_inner(), rejected.into_inner());
    println!("{checked} renders checked by nats-server -t, {rejected} refused by validation");
    // A generator whose cases validation always refuses would check nothing. About half the
    // cases reach nats-server; an eighth leaves room for chance.
    assert!(
        checked >= cases as usize / 8,
        "only {checked} of {cases} cases reached nats-server"
    );
}

/// Not left to chance: every C0 control character, DEL and the characters that mean something
/// to nats-server's parser, in one password, are escaped so that both versions accept the file.
#[test]
fn every_control_character_in_a_secret_is_escaped_as_nats_server_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "unused\n").unwrap();
    let toml = format!(
        "[node]\nname = \"n1\"\nclient_listen = \"127.0.0.1:4222\"\n\
         monitor_listen = \"127.0.0.1:8222\"\ncluster_listen = \"127.0.0.1:6222\"\n\n\
         [[client.users]]\nuser = \"u\"\npassword_file = {}\n",
        toml_string(&password_file.display().to_string())
    );
    let config = Source::from_text("pier.toml", toml).parse().unwrap();
    let mut password: String = (0u8..0x20).chain([0x7f]).map(char::from).collect();
    password.push_str("\"\\$HOME #x} ]é\u{2028}");
    let conf = dir.path().join("nats-server.conf");
    for (version, server) in servers() {
        let text = render(&config, version, &Hostile(password.clone())).unwrap();
        assert!(
            !text.contains('\u{1}') && text.contains("\\x01") && text.contains("\\x7f"),
            "{text}"
        );
        std::fs::write(&conf, &text).unwrap();
        if let Err(refusal) = support::server_accepts(&server, &conf) {
            panic!("nats-server {version} -t refused:\n{refusal}\n{text}");
        }
    }
}

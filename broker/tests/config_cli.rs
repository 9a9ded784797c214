// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker validate` and `render` run as a user runs them: the real binary, real files, and
//! the real nats-server judging what pier renders.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::examples::example_in;
use support::{server_accepts, servers};

const BIN: &str = env!("CARGO_BIN_EXE_pier-broker");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pier(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .output()
        .expect("run pier-broker");
    output
}

fn describe(args: &[&str], output: &Output) -> String {
    format!(
        "pier-broker {}\nstatus: {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `configs/valid/full.toml` with the files it names under /etc/pier made under `dir` instead
/// (secrets and keys 0600, as an operator keeps them): the config's path.
fn full_toml_in(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    for (name, content) in [
        ("tls/route.crt", "certificate\n"),
        ("tls/route.key", "key\n"),
        ("tls/ca.crt", "certificate\n"),
        ("tls/client.crt", "certificate\n"),
        ("tls/client.key", "key\n"),
        ("secrets/route-password", "hunter2-very-secret\n"),
        ("secrets/billing-password", "billing-secret\n"),
    ] {
        let path = dir.join("etc/pier").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let text = std::fs::read_to_string(repo().join("broker/tests/configs/valid/full.toml"))
        .unwrap()
        .replace("\"/etc/pier/", &format!("\"{}/etc/pier/", dir.display()));
    let config = dir.join("full.toml");
    std::fs::write(&config, text).unwrap();
    config
}

fn examples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["docs/examples/hk", "docs/examples/local"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    assert_eq!(files.len(), 6, "three hk and three local examples");
    files
}

#[test]
fn every_example_validates() {
    let dir = tempfile::tempdir().unwrap();
    for file in examples() {
        let file = example_in(dir.path(), &file);
        let args = [
            "validate",
            "--config",
            file.to_str().unwrap(),
            "--server-version",
            "2.15.1",
            "--deny-warnings",
        ];
        let out = pier(&args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&args, &out));
    }
}

#[test]
fn every_example_renders_to_a_config_nats_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for (version, server) in servers() {
        for file in examples() {
            let file = example_in(dir.path(), &file);
            let args = [
                "render",
                "--config",
                file.to_str().unwrap(),
                "--nats-server",
                server.to_str().unwrap(),
            ];
            let out = pier(&args);
            let needs_sync = std::fs::read_to_string(&file).unwrap().contains("sync = ");
            if version == "2.9.10" && needs_sync {
                // The hk examples ask for sync_interval, which 2.9.10 lacks: refused, clearly.
                assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    stderr.contains("jetstream.sync") && stderr.contains("2.10.0"),
                    "{}",
                    describe(&args, &out)
                );
                assert!(out.stdout.is_empty(), "nothing is rendered on refusal");
                continue;
            }
            assert_eq!(out.status.code(), Some(0), "{}", describe(&args, &out));
            let conf = dir.path().join(format!(
                "{}-{version}.conf",
                file.file_stem().unwrap().to_str().unwrap()
            ));
            std::fs::write(&conf, &out.stdout).unwrap();
            if let Err(refusal) = server_accepts(&server, &conf) {
                panic!(
                    "nats-server {version} -t refused the render of {}:\n{refusal}\n{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
    }
}

#[test]
fn rendering_is_deterministic_and_matches_golden_files() {
    let cases = [
        (
            "docs/examples/local/node-1.toml",
            "2.15.1",
            "local-node-1.2.15.1.conf",
        ),
        (
            "docs/examples/local/node-1.toml",
            "2.9.10",
            "local-node-1.2.9.10.conf",
        ),
        (
            "docs/examples/hk/nats-node-1.toml",
            "2.15.1",
            "hk-nats-node-1.2.15.1.conf",
        ),
        (
            "broker/tests/configs/valid/full.toml",
            "2.15.1",
            "full.2.15.1.conf",
        ),
    ];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = tempfile::tempdir().unwrap();
    for (config, version, golden) in cases {
        // The files full.toml and the hk example name must exist to validate: they are made in a
        // temporary directory, whose name is taken out of the render again.
        let path = if config.ends_with("full.toml") {
            full_toml_in(dir.path())
        } else {
            example_in(dir.path(), &repo().join(config))
        };
        let args = [
            "render",
            "--config",
            path.to_str().unwrap(),
            "--server-version",
            version,
        ];
        let first = pier(&args);
        assert_eq!(first.status.code(), Some(0), "{}", describe(&args, &first));
        let second = pier(&args);
        assert_eq!(first.stdout, second.stdout, "same input, same bytes");
        let rendered = String::from_utf8_lossy(&first.stdout)
            .replace(&format!("{}/etc/pier/", dir.path().display()), "/etc/pier/");
        let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(golden);
        if update {
            std::fs::write(&golden, &rendered).unwrap();
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", golden.display()));
        assert_eq!(
            rendered,
            expected,
            "render of {config} for {version} differs from {}",
            golden.display()
        );
    }
}

#[test]
fn render_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = full_toml_in(dir.path());
    let args = [
        "render",
        "--config",
        config.to_str().unwrap(),
        "--server-version",
        "2.15.1",
    ];
    let out = pier(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("REDACTED"), "{stdout}");
}

/// Each file in tests/configs/invalid starts with `# expect: KEY`; validation must exit 1 and
/// name that key, with a line number. `@FILES@` in a file stands for tests/configs/files, the
/// secrets and certificates the corpus names (a path in pier.toml must be absolute).
#[test]
fn broken_configs_are_rejected_naming_the_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/invalid");
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/files");
    let copies = tempfile::tempdir().unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let mut file = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&file).unwrap();
        if text.contains("@FILES@") {
            text = text.replace("@FILES@", files.to_str().unwrap());
            file = copies.path().join(file.file_name().unwrap());
            std::fs::write(&file, &text).unwrap();
        }
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("# expect: KEY header");
        let version = if text.contains("--server-version 2.9.10") {
            "2.9.10"
        } else {
            "2.15.1"
        };
        let args = [
            "validate",
            "--config",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--server-version",
            version,
        ];
        let out = pier(&args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["valid"], false);
        let errors = report["errors"].as_array().unwrap();
        let hit = errors.iter().find(|e| e["key"] == expected);
        let hit = hit.unwrap_or_else(|| {
            panic!(
                "{}: no error for {expected}\n{}",
                file.display(),
                describe(&args, &out)
            )
        });
        assert!(
            hit["line"].as_u64().is_some(),
            "{}: error without a line: {hit}",
            file.display()
        );
        assert_eq!(hit["file"], file.to_str().unwrap());

        // The text form names the key too, with file:line:column.
        let args = [
            "validate",
            "--config",
            file.to_str().unwrap(),
            "--server-version",
            version,
        ];
        let out = pier(&args);
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("{}:{}:", file.display(), hit["line"])),
            "{stdout}"
        );
        assert!(stdout.contains(expected), "{stdout}");
        count += 1;
    }
    assert!(count >= 50, "the corpus has {count} files");
}

#[test]
fn the_seeds_pull_consumer_with_a_deliver_group_is_refused_with_a_hint() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs/invalid/seed-pull-deliver-group.toml");
    let args = ["validate", "--config", file.to_str().unwrap()];
    let out = pier(&args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deliver group belongs to push consumers"),
        "{stdout}"
    );
    assert!(stdout.contains("hint:"), "{stdout}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pier.toml");
    std::fs::write(
        &config,
        r#"
[node]
name = "a"
client_listen = "127.0.0.1:4222"
monitor_listen = "127.0.0.1:4222"
[jetstream]
store_dir = "relative"
[[streams]]
name = "LOGS"
subjects = ["logs.>"]
replicas = 3
[[streams.consumers]]
name = "w"
deliver_group = "g"
max_ack_pending = 0
"#,
    )
    .unwrap();
    let args = [
        "validate",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
        "--server-version",
        "2.15.1",
    ];
    let out = pier(&args);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    for key in [
        "node.monitor_listen",
        "jetstream.store_dir",
        "streams[0].replicas",
        "streams[0].consumers[0].deliver_group",
        "streams[0].consumers[0].max_ack_pending",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
}

#[test]
fn exit_codes_separate_invalid_from_unrunnable() {
    let args = ["validate", "--config", "/nonexistent/pier.toml"];
    let out = pier(&args);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&args, &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/pier.toml"));

    // A warning alone passes, and fails with --deny-warnings.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pier.toml");
    std::fs::write(
        &config,
        "[node]\nname = \"a\"\nmonitor_listen = \"0.0.0.0:8222\"\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let out = pier(&["validate", "--config", path, "--server-version", "2.15.1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        describe(&["validate"], &out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("node.monitor_listen"));
    let out = pier(&[
        "validate",
        "--config",
        path,
        "--server-version",
        "2.15.1",
        "--deny-warnings",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe(&["validate", "--deny-warnings"], &out)
    );

    let out = pier(&["render", "--config", "/nonexistent/pier.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn diff_says_for_each_changed_key_whether_a_reload_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let local = repo().join("docs/examples/local/node-1.toml");
    let text = std::fs::read_to_string(&local).unwrap();
    let reloadable = dir.path().join("reloadable.toml");
    std::fs::write(
        &reloadable,
        text.replace(
            "lame_duck_duration = \"30s\"",
            "lame_duck_duration = \"45s\"",
        ),
    )
    .unwrap();
    let renamed = dir.path().join("renamed.toml");
    std::fs::write(
        &renamed,
        text.replace("name = \"node-1\"", "name = \"node-9\"")
            .replace(
                "lame_duck_duration = \"30s\"",
                "lame_duck_duration = \"45s\"",
            ),
    )
    .unwrap();
    let from = local.to_str().unwrap();

    let args = ["diff", "--from", from, "--to", reloadable.to_str().unwrap()];
    let out = pier(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("limits.lame_duck_duration: \"30s\" -> \"45s\"  [reload")
            && stdout.contains("reload: `systemctl reload pier-broker`"),
        "{}",
        describe(&args, &out)
    );

    let args = [
        "diff",
        "--from",
        from,
        "--to",
        renamed.to_str().unwrap(),
        "--format",
        "json",
    ];
    let out = pier(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&args, &out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["apply"], "restart", "{report:#}");
    let keys: Vec<(&str, &str)> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["apply"].as_str().unwrap()))
        .collect();
    assert!(keys.contains(&("node.name", "restart")), "{report:#}");
    assert!(
        keys.contains(&("limits.lame_duck_duration", "reload")),
        "{report:#}"
    );

    let args = ["diff", "--from", from, "--to", from];
    let out = pier(&args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing changed"));

    let missing = dir.path().join("missing.toml");
    let args = ["diff", "--from", from, "--to", missing.to_str().unwrap()];
    assert_eq!(pier(&args).status.code(), Some(2));
}

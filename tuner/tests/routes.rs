// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Route checks against real nats-server processes on loopback, a listener that is not NATS,
//! and a cluster with another name. Ports 27100-27199 belong to this file.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;

use common::{fixture, start_server, status, tuner, Run};

fn server_conf(name: &str, cluster: &str, client: u16, route: u16, peers: &[u16]) -> String {
    let routes: Vec<String> = peers
        .iter()
        .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
        .collect();
    format!(
        "server_name: \"{name}\"\nlisten: \"127.0.0.1:{client}\"\ncluster {{\n  name: \"{cluster}\"\n  listen: \"127.0.0.1:{route}\"\n  routes: [{}]\n}}\n",
        routes.join(", ")
    )
}

/// pier.toml for node n1 of cluster c1 whose peers n2 and n3 answer on the given ports.
fn pier_toml(dir: &Path, n2: u16, n3: u16) -> std::path::PathBuf {
    let path = dir.join("pier.toml");
    std::fs::write(
        &path,
        format!(
            "[node]\nname = \"n1\"\n\n[cluster]\nname = \"c1\"\n\n\
             [[cluster.peers]]\nname = \"n1\"\naddress = \"127.0.0.1:27100\"\n\n\
             [[cluster.peers]]\nname = \"n2\"\naddress = \"127.0.0.1:{n2}\"\n\n\
             [[cluster.peers]]\nname = \"n3\"\naddress = \"127.0.0.1:{n3}\"\n\n\
             [jetstream]\nstore_dir = \"/var/lib/pier/jetstream\"\n"
        ),
    )
    .unwrap();
    path
}

/// `check` with the host facts of the tuned fixture (stable), online: only the routes differ.
fn check(config: &Path, offline: bool) -> Run {
    let root = fixture("tuned");
    let mut args = vec![
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    if offline {
        args.push("--offline".as_ref());
    }
    tuner(args)
}

fn observed(run: &Run, id: &str) -> String {
    run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["observed"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn peers_of_a_real_cluster_pass() {
    let _n2 = start_server(&server_conf("n2", "c1", 27101, 27111, &[27112]), 27111);
    let _n3 = start_server(&server_conf("n3", "c1", 27102, 27112, &[27111]), 27112);
    let dir = tempfile::tempdir().unwrap();
    let config = pier_toml(dir.path(), 27111, 27112);
    let run = check(&config, false);
    assert_eq!(status(&run, "routes.peer.n2"), "pass", "{}", run.context());
    assert_eq!(status(&run, "routes.peer.n3"), "pass", "{}", run.context());
    assert!(
        observed(&run, "routes.peer.n2").contains("\"n2\""),
        "{}",
        run.context()
    );
    // This node itself is never probed.
    assert!(
        !run.stdout().contains("routes.peer.n1"),
        "{}",
        run.context()
    );

    let offline = check(&config, true);
    assert_eq!(
        status(&offline, "routes.peer.n2"),
        "skip",
        "{}",
        offline.context()
    );
}

/// make-certs.sh, as operators run it (docs/security.md): a CA in `dir`, and `names`' certificates.
fn make_certs(dir: &Path, names: &[&str]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/security/make-certs.sh"
    );
    let dir = dir.to_str().unwrap();
    let mut runs = vec![vec!["ca", dir]];
    runs.extend(names.iter().map(|n| vec!["node", dir, n, "127.0.0.1"]));
    for args in runs {
        let out = std::process::Command::new("sh")
            .arg(script)
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "make-certs.sh {args:?}: {out:?}");
    }
}

/// A `tls` block, as pier renders it, for `name`'s certificate in `dir`.
fn tls_block(dir: &Path, name: &str) -> String {
    let d = dir.display();
    format!(
        "  tls {{\n    cert_file: \"{d}/{name}.pem\"\n    key_file: \"{d}/{name}-key.pem\"\n    ca_file: \"{d}/ca.pem\"\n    verify: true\n  }}\n"
    )
}

/// Routes with mutual TLS speak TLS from the first byte: the probe presents this node's
/// certificate and trusts only the cluster's CA, so a node of the cluster passes and one with a
/// certificate of another CA is told why it cannot reach the peers.
#[test]
fn peers_with_mutual_tls_pass_with_the_cluster_s_certificate_only() {
    let pki = tempfile::tempdir().unwrap();
    let foreign = tempfile::tempdir().unwrap();
    make_certs(pki.path(), &["n1", "n2", "n3"]);
    make_certs(foreign.path(), &["n1"]);
    let conf = |name: &str, client: u16, route: u16, peer: u16| {
        server_conf(name, "c1", client, route, &[peer]).replace(
            "  routes:",
            &format!("{}  routes:", tls_block(pki.path(), name)),
        )
    };
    let _n2 = start_server(&conf("n2", 27141, 27151, 27152), 27151);
    let _n3 = start_server(&conf("n3", 27142, 27152, 27151), 27152);
    let dir = tempfile::tempdir().unwrap();
    let config = pier_toml(dir.path(), 27151, 27152);
    let with_tls = |pki: &Path| {
        let d = pki.display();
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "[[cluster.peers]]\nname = \"n1\"",
            &format!(
                "[cluster.tls]\ncert_file = \"{d}/n1.pem\"\nkey_file = \"{d}/n1-key.pem\"\n\
                 ca_file = \"{d}/ca.pem\"\nverify = true\n\n[[cluster.peers]]\nname = \"n1\""
            ),
        );
        let path = dir.path().join(format!(
            "{}.toml",
            pki.file_name().unwrap().to_str().unwrap()
        ));
        std::fs::write(&path, text).unwrap();
        path
    };

    let run = check(&with_tls(pki.path()), false);
    for peer in ["routes.peer.n2", "routes.peer.n3"] {
        assert_eq!(status(&run, peer), "pass", "{}", run.context());
    }
    // In clear, a TLS route says nothing: the probe of old timed out here.
    let plain = check(&config, false);
    assert_eq!(
        status(&plain, "routes.peer.n2"),
        "fail",
        "{}",
        plain.context()
    );

    let run = check(&with_tls(foreign.path()), false);
    run.expect_code(1);
    let said = observed(&run, "routes.peer.n2");
    assert_eq!(status(&run, "routes.peer.n2"), "fail", "{}", run.context());
    assert!(said.contains("certificate"), "{said}");
}

#[test]
fn a_cluster_with_another_name_fails() {
    let _other = start_server(&server_conf("n2", "elsewhere", 27121, 27131, &[]), 27131);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = pier_toml(dir.path(), 27131, closed);
    let run = check(&config, false);
    run.expect_code(1);
    assert_eq!(status(&run, "routes.peer.n2"), "fail", "{}", run.context());
    assert!(
        observed(&run, "routes.peer.n2").contains("elsewhere"),
        "{}",
        run.context()
    );
    // Nothing listens on n3's port.
    assert_eq!(status(&run, "routes.peer.n3"), "fail", "{}", run.context());
}

#[test]
fn a_listener_that_is_not_nats_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let garbage = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    // n3 accepts (the backlog does) but never speaks: the read times out.
    let config = pier_toml(dir.path(), port, silent_port);
    let run = check(&config, false);
    run.expect_code(1);
    assert_eq!(status(&run, "routes.peer.n2"), "fail", "{}", run.context());
    assert!(
        observed(&run, "routes.peer.n2").contains("not a NATS greeting"),
        "{}",
        run.context()
    );
    assert_eq!(status(&run, "routes.peer.n3"), "fail", "{}", run.context());
    garbage.join().unwrap();
    drop(silent);
}

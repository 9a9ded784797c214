// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! TLS, mutual TLS and credentials on three `pier-broker run` nodes on loopback, on both
//! supported nats-servers: routes need a certificate from the cluster's CA, clients need TLS and
//! a password, no secret shows anywhere an operator looks, and a certificate is rotated by
//! SIGHUP without dropping a client. Certificates come from docs/security/make-certs.sh, the
//! script docs/security.md tells operators to run.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use async_nats::rustls::client::WebPkiServerVerifier;
use async_nats::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use async_nats::rustls::{self, DigitallySignedStruct, RootCertStore, SignatureScheme};
use pier_monitor::Monitor;
use support::examples::{make_certs, make_certs_output};
use support::*;
use tempfile::TempDir;

const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Passwords with characters a route URL must percent-encode, so an encoded copy is looked for
/// too.
const ROUTE_PASSWORD: &str = "route/Pw+7Zq9x";
const ROUTE_PASSWORD_ENCODED: &str = "route%2FPw%2B7Zq9x";
const APP_PASSWORD: &str = "app-Pw:4Kd8s";
const WRONG_PASSWORD: &str = "app-Pw:4Kd8t";

/// A CA and node certificates made by make-certs.sh in a directory of their own.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pier-pki-")
            .tempdir()
            .expect("tempdir");
        make_certs(&["ca", dir.path().to_str().unwrap()]);
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.pem"))
    }

    fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-key.pem"))
    }

    /// Makes (or, run again, rotates) `name`'s certificate, valid for loopback.
    fn node(&self, name: &str) {
        make_certs(&[
            "node",
            self.dir.path().to_str().unwrap(),
            name,
            "127.0.0.1",
            "::1",
            "localhost",
        ]);
    }
}

/// `pier-broker validate --config CONFIG EXTRA...`: its status and what it printed.
fn validate(config: &Path, extra: &[&str]) -> (std::process::ExitStatus, String) {
    let mut args = vec!["validate", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    pier_broker_output(&args, Duration::from_secs(60))
}

/// `openssl x509 -text` of a certificate.
fn cert_text(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(pem)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl x509 {}", pem.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PEM certificate's DER bytes (what a TLS peer presents), by openssl.
fn der(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .expect("run openssl: the tests need it, as make-certs.sh does");
    assert!(out.status.success(), "openssl x509 {}", pem.display());
    out.stdout
}

/// Three supervised nodes with route mTLS (one CA, verify), route credentials, client TLS, one
/// client user and a declared R3 stream; secrets in 0600 files.
struct SecuredCluster {
    pki: Pki,
    secrets: TempDir,
    nodes: Vec<NodeDir>,
    notify: Vec<NotifySocket>,
    supervisors: Vec<Option<Supervisor>>,
    log_level: &'static str,
}

impl SecuredCluster {
    /// Starts all three and waits until each is READY and sees the cluster formed.
    fn start(server: &Path, base: u16, log_level: &'static str) -> Self {
        let pki = Pki::new();
        let secrets = tempfile::Builder::new()
            .prefix("pier-secrets-")
            .tempdir()
            .expect("tempdir");
        for (file, secret) in [("route.pass", ROUTE_PASSWORD), ("app.pass", APP_PASSWORD)] {
            let path = secrets.path().join(file);
            std::fs::write(&path, format!("{secret}\n")).expect("password file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let ports: Vec<NodePorts> = (0..3).map(|i| node_ports(base, i)).collect();
        let mut cluster = SecuredCluster {
            pki,
            secrets,
            nodes: ports.iter().cloned().map(NodeDir::new).collect(),
            notify: (0..3).map(|_| NotifySocket::new()).collect(),
            supervisors: (0..3).map(|_| None).collect(),
            log_level,
        };
        for i in 0..3 {
            let name = ports[i].name.clone();
            cluster.pki.node(&name);
            let extra = cluster.extra(&name);
            cluster.nodes[i].write_config(&ports, server.to_str().unwrap(), &extra);
        }
        for i in 0..3 {
            cluster.start_node(i);
        }
        for i in 0..3 {
            cluster.wait_ready(i);
        }
        cluster.wait_formed();
        cluster
    }

    fn extra(&self, name: &str) -> String {
        let secret = |f: &str| self.secrets.path().join(f).display().to_string();
        format!(
            r#"[log]
level = "{level}"

[cluster.tls]
cert_file = "{cert}"
key_file = "{key}"
ca_file = "{ca}"
verify = true

[cluster.authorization]
user = "route"
password_file = "{route}"

[client.tls]
cert_file = "{cert}"
key_file = "{key}"
ca_file = "{ca}"

[[client.users]]
user = "app"
password_file = "{app}"

[[streams]]
name = "SECURE"
subjects = ["secure.>"]
replicas = 3
"#,
            level = self.log_level,
            cert = self.pki.cert(name).display(),
            key = self.pki.key(name).display(),
            ca = self.pki.ca().display(),
            route = secret("route.pass"),
            app = secret("app.pass"),
        )
    }

    fn start_node(&mut self, i: usize) {
        let notify = self.notify[i].path().to_owned();
        self.supervisors[i] = Some(Supervisor::start(&self.nodes[i], |cmd| {
            cmd.env("NOTIFY_SOCKET", notify).env("PIER_LOG", "debug");
        }));
    }

    fn supervisor(&self, i: usize) -> &Supervisor {
        self.supervisors[i].as_ref().expect("node running")
    }

    fn wait_ready(&mut self, i: usize) {
        if self.notify[i].wait_for("READY=1", FORM_TIMEOUT).is_none() {
            panic!(
                "{} never READY=1:\n{}",
                self.nodes[i].ports.name,
                self.logs()
            );
        }
    }

    /// What `systemctl reload` does (the unit's ExecReload): `pier-broker validate`, which must
    /// pass, then SIGHUP to the supervisor; returns the STATUS= of the READY=1 ending the reload.
    fn reload(&mut self, i: usize) -> String {
        let config = self.nodes[i].config_path();
        let (status, out) = validate(&config, &[]);
        assert!(status.success(), "validate refused the reload: {out}");
        self.sighup(i)
    }

    /// SIGHUP alone, as `kill -HUP` sends it without validating first; returns the STATUS= of
    /// the READY=1 ending the reload.
    fn sighup(&mut self, i: usize) -> String {
        self.supervisor(i).signal(nix::sys::signal::Signal::SIGHUP);
        self.notify[i]
            .wait_for("READY=1", Duration::from_secs(30))
            .and_then(|d| field(&d, "STATUS").map(str::to_owned))
            .unwrap_or_default()
    }

    /// Route connections of node `i` (ids: a reconnected route gets a new one).
    fn route_connections(&self, i: usize) -> BTreeSet<u64> {
        self.monitor(i)
            .routez()
            .map(|r| r.routes.into_iter().map(|r| r.rid).collect())
            .unwrap_or_default()
    }

    /// `pier-broker status --wait-cluster` on every node: all peers routed, a meta leader.
    fn wait_formed(&self) {
        for node in &self.nodes {
            let config = node.config_path();
            let (status, out) = pier_broker_output(
                &[
                    "status",
                    "--config",
                    config.to_str().unwrap(),
                    "--wait-cluster",
                ],
                FORM_TIMEOUT + Duration::from_secs(10),
            );
            assert!(
                status.success(),
                "{} does not see the cluster formed:\n{out}\n{}",
                node.ports.name,
                self.logs()
            );
        }
    }

    fn client_url(&self, i: usize) -> String {
        format!("tls://127.0.0.1:{}", self.nodes[i].ports.client)
    }

    fn monitor(&self, i: usize) -> Monitor {
        Monitor::new(
            ([127, 0, 0, 1], self.nodes[i].ports.monitor).into(),
            Duration::from_secs(2),
        )
    }

    /// Distinct servers node `i` has a route with (server ids: 2.9 does not name peers).
    fn routed(&self, i: usize) -> BTreeSet<String> {
        self.monitor(i)
            .routez()
            .map(|r| r.routes.into_iter().map(|r| r.remote_id).collect())
            .unwrap_or_default()
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .zip(&self.supervisors)
            .filter_map(|(node, s)| {
                Some(format!(
                    "--- {} ---\n{}",
                    node.ports.name,
                    s.as_ref()?.log()
                ))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Records the certificate every TLS handshake presents, then verifies it as usual (against
/// the cluster's CA, with the address in the URL as the name).
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.seen.lock().unwrap().push(end_entity.to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS client configuration trusting only `ca`, and where it records the server certificates
/// it was shown.
fn recording_tls(ca: &Path) -> (rustls::ClientConfig, Arc<Mutex<Vec<Vec<u8>>>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(der(ca)))
        .expect("CA certificate");
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("verifier");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recorder {
            inner,
            seen: seen.clone(),
        }))
        .with_no_client_auth();
    (config, seen)
}

/// Connects over TLS trusting `ca`, as `app` with `password` (None: no credentials).
async fn connect(
    url: &str,
    ca: &Path,
    password: Option<&str>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut options = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(ca.to_owned())
        .connection_timeout(Duration::from_secs(5));
    if let Some(password) = password {
        options = options.user_and_password("app".into(), password.into());
    }
    options.connect(url).await
}

/// What a client without TLS gets: the server's first line (INFO), then everything it sends
/// after a plain CONNECT and PING, and whether it closed the connection within 5 s.
fn plain_client(port: u16) -> (String, String, bool) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).expect("INFO");
    let mut writer = stream;
    let _ = writer.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    let mut answer = Vec::new();
    let closed = match std::io::Read::read_to_end(&mut reader, &mut answer) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    (info, String::from_utf8_lossy(&answer).into_owned(), closed)
}

/// The commands of docs/security.md, for the hk hosts.
#[test]
fn make_certs_makes_node_certificates_and_keeps_keys_private() {
    let pki = Pki::new();
    let dir = pki.dir.path().to_str().unwrap();
    make_certs(&[
        "node",
        dir,
        "nats-node-1",
        "203.0.113.11",
        "nats-node-1",
        "127.0.0.1",
    ]);
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(pki.dir.path().join("ca-key.pem")), 0o600);
    assert_eq!(mode(pki.key("nats-node-1")), 0o600);
    assert_eq!(mode(pki.ca()), 0o644);
    assert_eq!(mode(pki.cert("nats-node-1")), 0o644);

    let text = cert_text(&pki.cert("nats-node-1"));
    for wanted in [
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "IP Address:203.0.113.11, DNS:nats-node-1, IP Address:127.0.0.1",
        "CA:FALSE",
        "Subject: CN = nats-node-1",
    ] {
        assert!(text.contains(wanted), "{wanted} missing:\n{text}");
    }
    let verified = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(pki.ca())
        .arg(pki.cert("nats-node-1"))
        .output()
        .expect("run openssl");
    assert!(verified.status.success(), "{verified:?}");

    // Running `node` again rotates: a new key and serial, the same CA.
    let old = der(&pki.cert("nats-node-1"));
    let old_key = std::fs::read(pki.key("nats-node-1")).unwrap();
    make_certs(&[
        "node",
        dir,
        "nats-node-1",
        "203.0.113.11",
        "nats-node-1",
        "127.0.0.1",
    ]);
    assert_ne!(der(&pki.cert("nats-node-1")), old);
    assert_ne!(std::fs::read(pki.key("nats-node-1")).unwrap(), old_key);

    // Refused, with nothing written: a second CA over the first, a SAN that is neither an
    // address nor a name.
    let ca = std::fs::read(pki.ca()).unwrap();
    let again = make_certs_output(&["ca", dir]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a CA"));
    assert_eq!(std::fs::read(pki.ca()).unwrap(), ca);
    let bad = make_certs_output(&["node", dir, "other", "10.0.0.1/8"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SAN '10.0.0.1/8'"));
    assert!(!pki.cert("other").exists() && !pki.key("other").exists());
    let names: Vec<_> = std::fs::read_dir(pki.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "left behind: {names:?}");
}

/// The modes docs/security.md's `install` lines give the files in /etc/pier/tls/, by file name.
fn documented_modes(doc: &str) -> Vec<(String, u32)> {
    let mut modes = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("install -o pier")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.contains(&"-d") {
            continue;
        }
        let at = words
            .iter()
            .position(|w| *w == "-m")
            .expect("install -m MODE")
            + 1;
        let mode = u32::from_str_radix(words[at], 8).unwrap();
        let (dest, sources) = words[at + 1..].split_last().unwrap();
        let names: Vec<&str> = match dest.strip_suffix('/') {
            Some(_) => sources.to_vec(),
            None => vec![dest.rsplit('/').next().unwrap()],
        };
        modes.extend(names.into_iter().map(|n| (n.to_owned(), mode)));
    }
    modes
}

/// docs/security.md's pier.toml sections are the hk example's, key for key; with the files where
/// the page puts them (here in a temporary directory) and the modes its `install` lines give
/// them, the example validates without a warning: the page's rule for secret files is the one
/// validate applies.
#[test]
fn the_documented_sections_are_the_hk_example_s_and_validate() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(repo.join("docs/security.md")).unwrap();
    let start = doc
        .find("```toml\n")
        .expect("a toml block in docs/security.md")
        + 8;
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    assert!(block.contains("[cluster.tls]") && block.contains("[[client.users]]"));
    let example = repo.join("docs/examples/hk/nats-node-1.toml");
    let hk: toml::Table = std::fs::read_to_string(&example).unwrap().parse().unwrap();
    assert_within(&block.parse().unwrap(), &hk, "");

    let dir = tempfile::tempdir().unwrap();
    let config = support::examples::example_in(dir.path(), &example);
    let modes = documented_modes(&doc);
    for named in block.split('"').filter(|w| w.starts_with("/etc/pier/tls/")) {
        let name = &named["/etc/pier/tls/".len()..];
        let (_, mode) = modes
            .iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("docs/security.md installs no {name}: {modes:?}"));
        let path = dir.path().join("etc/pier/tls").join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let (status, out) = validate(&config, &["--deny-warnings"]);
    assert!(status.success(), "{out}");
}

/// Every key of `part` has the same value in `whole` (tables compared key by key).
fn assert_within(part: &toml::Table, whole: &toml::Table, at: &str) {
    for (key, value) in part {
        let key_at = format!("{at}{key}");
        match (value, whole.get(key)) {
            (toml::Value::Table(part), Some(toml::Value::Table(whole))) => {
                assert_within(part, whole, &format!("{key_at}."))
            }
            (value, found) => assert_eq!(Some(value), found, "{key_at}"),
        }
    }
}

/// What validation cannot see in the TLS files, nats-server -t can, and validate asks it: a key
/// that is not its certificate's, a key given as the certificate, a CA file without a
/// certificate are each refused at the key of their block, on both servers; a right pair
/// passes.
#[test]
fn validate_has_nats_server_judge_the_tls_files() {
    let pki = Pki::new();
    pki.node("a");
    pki.node("b");
    let junk = pki.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let path = |p: PathBuf| p.display().to_string();
    let block = |name: &str, cert: PathBuf, key: PathBuf, ca: PathBuf| {
        format!(
            "[{name}]\ncert_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n\n",
            path(cert),
            path(key),
            path(ca)
        )
    };
    let good = |name: &str| block(name, pki.cert("a"), pki.key("a"), pki.ca());
    let cases = [
        (
            block("client.tls", pki.cert("a"), pki.key("b"), pki.ca()) + &good("cluster.tls"),
            Some(("client.tls", "private key does not match public key")),
        ),
        (
            good("client.tls") + &block("cluster.tls", pki.key("a"), pki.key("a"), pki.ca()),
            Some(("cluster.tls", "failed to find certificate PEM data")),
        ),
        (
            good("client.tls") + &block("cluster.tls", pki.cert("a"), pki.key("a"), junk.clone()),
            Some(("cluster.tls", "failed to parse root ca certificate")),
        ),
        (good("client.tls") + &good("cluster.tls"), None),
    ];
    let ports: Vec<_> = (0..3).map(|i| node_ports(24_000, i)).collect();
    for (version, server) in servers() {
        let node = NodeDir::new(ports[0].clone());
        for (extra, refused) in &cases {
            let config = node.write_config(&ports, server.to_str().unwrap(), extra);
            let (status, out) = validate(&config, &["--deny-warnings"]);
            match refused {
                Some((key, reason)) => {
                    assert_eq!(status.code(), Some(1), "{version}: {out}");
                    let line = out
                        .lines()
                        .find(|line| line.contains("nats-server refuses these files"))
                        .unwrap_or_else(|| panic!("{version}: no refusal in {out}"));
                    assert!(
                        line.contains(&format!(": {key}: ")) && line.contains(reason),
                        "{version}: {line}"
                    );
                    assert!(
                        !line.contains("pier-tls-probe"),
                        "{version}: the probe's name leaks: {line}"
                    );
                }
                None => assert!(status.success(), "{version}: {out}"),
            }
        }
    }
}

/// The TLS files go to nats-server only when it can judge them: not when validation already
/// refused one (a missing file is one error, at its key, not also a refusal by nats-server), and
/// not to a binary that did not answer `--version` (its `-t` would fail too, and be blamed on the
/// files). Any other problem of the block does not keep them from it: every problem at once.
#[test]
fn validate_shows_nats_server_only_files_it_can_judge() {
    let pki = Pki::new();
    pki.node("a");
    pki.node("b");
    let missing = pki.dir.path().join("missing.pem");
    let not_a_server = pki.dir.path().join("not-a-server");
    std::fs::write(
        &not_a_server,
        "#!/bin/sh\necho \"not nats-server\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&not_a_server, std::fs::Permissions::from_mode(0o755)).unwrap();
    let client_tls = |cert: &Path, key: &Path, ca: Option<&Path>| {
        let mut block = format!(
            "[client.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        );
        match ca {
            Some(ca) => block += &format!("ca_file = \"{}\"\n", ca.display()),
            None => block += "verify = true\n",
        }
        block
    };
    let ports: Vec<_> = (0..3).map(|i| node_ports(24_000, i)).collect();
    let node = NodeDir::new(ports[0].clone());
    let (_, server) = &servers()[0];
    let (cert, key, other_key, ca) = (pki.cert("a"), pki.key("a"), pki.key("b"), pki.ca());
    let cases = [
        (
            server.as_path(),
            client_tls(&missing, &key, Some(&ca)),
            &["client.tls.cert_file"][..],
        ),
        (
            not_a_server.as_path(),
            client_tls(&cert, &key, Some(&ca)),
            &["node.nats_server"][..],
        ),
        // verify without ca_file, and a key that is not the certificate's.
        (
            server.as_path(),
            client_tls(&cert, &other_key, None),
            &["client.tls.verify", "client.tls"][..],
        ),
    ];
    for (server, block, keys) in cases {
        let config = node.write_config(&ports, server.to_str().unwrap(), &block);
        let (status, out) = validate(&config, &[]);
        assert_eq!(status.code(), Some(1), "{out}");
        let errors: Vec<_> = out.lines().filter(|l| l.starts_with("x error")).collect();
        assert_eq!(errors.len(), keys.len(), "{out}");
        for key in keys {
            assert!(
                errors.iter().any(|e| e.contains(&format!(": {key}: "))),
                "no error at {key}: {out}"
            );
        }
    }
}

#[test]
fn routes_need_a_certificate_from_the_cluster_ca() {
    for (n, (version, server)) in servers().into_iter().enumerate() {
        let mut cluster = SecuredCluster::start(&server, 26000 + 100 * n as u16, "info");
        let all: Vec<BTreeSet<String>> = (0..3).map(|i| cluster.routed(i)).collect();
        assert!(
            all.iter().all(|r| r.len() == 2),
            "{version}: routes {all:?}"
        );

        // n3 comes back with a certificate of another CA (it still trusts the cluster's CA, as
        // a host holding a stolen ca.pem would): n1 and n2 must refuse its routes.
        cluster.supervisors[2] = None;
        let foreign = Pki::new();
        foreign.node("n3");
        std::fs::copy(foreign.cert("n3"), cluster.pki.cert("n3")).unwrap();
        std::fs::copy(foreign.key("n3"), cluster.pki.key("n3")).unwrap();
        cluster.start_node(2);

        // Observed on both sides: n1 logs "TLS route handshake error: tls: failed to verify
        // client certificate: x509: certificate signed by unknown authority" (n3 dialled it) and
        // keeps one route, to n2; n3 logs "TLS route handshake error: remote error: tls: bad
        // certificate" and has no route.
        let refused = wait_until(FORM_TIMEOUT, || {
            let n3 = cluster.supervisor(2).log();
            let n1 = cluster.supervisor(0).log();
            n3.contains("TLS route handshake error")
                && n1.contains("TLS route handshake error")
                && n1.contains("certificate signed by unknown authority")
        });
        assert!(
            refused,
            "{version}: no refused handshake logged:\n{}",
            cluster.logs()
        );
        let still = wait_until(Duration::from_secs(5), || {
            cluster.routed(0).len() == 1 && cluster.routed(1).len() == 1
        });
        assert!(
            still,
            "{version}: n1/n2 routes: {:?} {:?}",
            cluster.routed(0),
            cluster.routed(1)
        );
        // And it stays so: several of n3's reconnect attempts later, no route formed.
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(500));
            let seen = [cluster.routed(0), cluster.routed(1), cluster.routed(2)];
            assert!(
                seen[0].len() == 1 && seen[1].len() == 1 && seen[2].is_empty(),
                "{version}: a route formed with the foreign certificate: {seen:?}\n{}",
                cluster.logs()
            );
        }
        // What the operator sees on n1: the unit's STATUS= (sent every 5 s) counts one peer.
        let lines = cluster.notify[0].collect(Duration::from_secs(6));
        let last = lines
            .iter()
            .rev()
            .find_map(|d| field(d, "STATUS"))
            .unwrap_or_default();
        assert!(last.contains("routes 1/2"), "{version}: STATUS={last}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_need_tls_and_credentials() {
    for (n, (version, server)) in servers().into_iter().enumerate() {
        let cluster = SecuredCluster::start(&server, 26200 + 100 * n as u16, "info");
        let ca = cluster.pki.ca();
        let url = cluster.client_url(0);

        let (info, answer, closed) = plain_client(cluster.nodes[0].ports.client);
        assert!(info.contains("\"tls_required\":true"), "{version}: {info}");
        assert!(
            !answer.contains("PONG"),
            "{version}: a plain client got {answer:?}"
        );
        assert!(closed, "{version}: the plain connection stays open");

        // TLS that does not trust the cluster's CA (the system's roots) is refused too.
        let untrusted = async_nats::ConnectOptions::new()
            .require_tls(true)
            .user_and_password("app".into(), APP_PASSWORD.into())
            .connection_timeout(Duration::from_secs(5))
            .connect(url.as_str())
            .await;
        assert!(
            untrusted.is_err(),
            "{version}: server certificate not checked"
        );

        for password in [None, Some(WRONG_PASSWORD)] {
            let refused = connect(&url, &ca, password)
                .await
                .err()
                .unwrap_or_else(|| panic!("{version}: password {password:?} let in"));
            assert_eq!(
                refused.kind(),
                async_nats::ConnectErrorKind::AuthorizationViolation,
                "{version}: password {password:?}: {refused}"
            );
        }
        let client = connect(&url, &ca, Some(APP_PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{version}: the right password refused: {e}"));
        client.flush().await.expect("round trip");

        // Provisioning authenticated over TLS: every supervisor reconciled the declared R3
        // stream at boot, and `pier-broker provision` succeeds too.
        for i in 0..3 {
            let provisioned = wait_until(FORM_TIMEOUT, || {
                let log = cluster.supervisor(i).log();
                log.contains("provisioned:") || log.contains("provisioning failed")
            });
            let log = cluster.supervisor(i).log();
            assert!(
                provisioned && log.contains("provisioned:"),
                "{version}: n{} did not provision:\n{log}",
                i + 1
            );
        }
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("SECURE").await.expect("SECURE provisioned");
        let info = stream.info().await.expect("stream info");
        assert_eq!(info.config.num_replicas, 3, "{version}");
        for node in &cluster.nodes {
            let config = node.config_path();
            let (status, out) = pier_broker_output(
                &["provision", "--config", config.to_str().unwrap()],
                Duration::from_secs(30),
            );
            assert!(status.success(), "{version}: provision: {out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_appear_nowhere() {
    for (n, (version, server)) in servers().into_iter().enumerate() {
        // nats-server at trace level logs every protocol line, CONNECT included.
        let mut cluster = SecuredCluster::start(&server, 26400 + 100 * n as u16, "trace");
        let ca = cluster.pki.ca();
        let url = cluster.client_url(1);
        assert!(connect(&url, &ca, Some(WRONG_PASSWORD)).await.is_err());
        connect(&url, &ca, Some(APP_PASSWORD))
            .await
            .expect("right password")
            .flush()
            .await
            .expect("round trip");
        // A reload renders the secrets again.
        let reloaded = cluster.reload(1);
        assert!(reloaded.contains("last reload ok"), "{version}: {reloaded}");

        // Every command an operator runs, its output and its debug log.
        let mut shown = Vec::new();
        for (i, node) in cluster.nodes.iter().enumerate() {
            let config = node.config_path();
            let config = config.to_str().unwrap();
            for command in [
                &["status", "--config", config][..],
                &["status", "--config", config, "--format", "json"],
                &["render", "--config", config],
                &["validate", "--config", config, "--format", "json"],
                &["provision", "--config", config, "--dry-run"],
            ] {
                let (status, stdout, stderr) =
                    pier_broker_logged(command, "debug", Duration::from_secs(30));
                assert!(status.success(), "{command:?}: {stdout}\n{stderr}");
                if command[0] == "render" {
                    assert!(stdout.contains("REDACTED"), "{stdout}");
                }
                shown.push((format!("{command:?}"), format!("{stdout}\n{stderr}")));
            }
            shown.push((
                format!("{} log", node.ports.name),
                cluster.supervisor(i).log(),
            ));
            // The monitoring port, which anyone on the host can read.
            for path in ["/varz", "/routez", "/connz?auth=true", "/jsz?accounts=true"] {
                let body = support::cluster::http_get(node.ports.monitor, path)
                    .unwrap_or_else(|| panic!("{version}: no answer to {path}"));
                shown.push((format!("{} {path}", node.ports.name), body));
            }
        }
        for (i, notify) in cluster.notify.iter_mut().enumerate() {
            let lines = notify
                .collect(Duration::from_millis(200))
                .into_iter()
                .chain(notify.received.clone())
                .flatten()
                .collect::<Vec<_>>()
                .join("\n");
            assert!(lines.contains("STATUS="), "{version}: no STATUS= seen");
            shown.push((format!("n{} notify", i + 1), lines));
        }
        let logs = &shown.iter().find(|(what, _)| what == "n2 log").unwrap().1;
        assert!(
            logs.contains("CONNECT") && logs.contains("\"user\":\"app\""),
            "{version}: the log is not at trace level, so it proves nothing:\n{logs}"
        );
        for (what, text) in &shown {
            for secret in [
                ROUTE_PASSWORD,
                ROUTE_PASSWORD_ENCODED,
                APP_PASSWORD,
                WRONG_PASSWORD,
            ] {
                assert!(
                    !text.contains(secret),
                    "{version}: {what} shows a secret ({secret}):\n{text}"
                );
            }
        }

        // Only the file nats-server reads holds them: owner-only, owned by the running user.
        let me = nix::unistd::geteuid().as_raw();
        for node in &cluster.nodes {
            let conf = node.runtime_conf();
            let meta = std::fs::metadata(&conf).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{}",
                conf.display()
            );
            assert_eq!(meta.uid(), me, "{}", conf.display());
            let text = std::fs::read_to_string(&conf).unwrap();
            assert!(text.contains(ROUTE_PASSWORD) && text.contains(APP_PASSWORD));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_rotation_by_sighup_keeps_clients() {
    for (n, (version, server)) in servers().into_iter().enumerate() {
        let mut cluster = SecuredCluster::start(&server, 26600 + 100 * n as u16, "info");
        let ca = cluster.pki.ca();
        let url = cluster.client_url(0);
        let old = der(&cluster.pki.cert("n1"));

        let (tls, seen_before) = recording_tls(&ca);
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorded = events.clone();
        let before =
            async_nats::ConnectOptions::with_user_and_password("app".into(), APP_PASSWORD.into())
                .require_tls(true)
                .tls_client_config(tls)
                .event_callback(move |event| {
                    let recorded = recorded.clone();
                    async move { recorded.lock().unwrap().push(event.to_string()) }
                })
                .connect(url.as_str())
                .await
                .expect("client before rotation");
        let mut subscription = before.subscribe("rotation.check").await.unwrap();
        before.flush().await.unwrap();
        assert_eq!(
            seen_before.lock().unwrap().as_slice(),
            std::slice::from_ref(&old)
        );

        // A botched rotation (a key that is not the certificate's) is refused by `nats-server
        // -t`: by validate, so `systemctl reload` fails before signalling, and by the
        // supervisor's own check when SIGHUP comes anyway; the server keeps its certificate.
        std::fs::copy(
            cluster.pki.key("n1"),
            cluster.pki.dir.path().join("n1-key.bak"),
        )
        .unwrap();
        std::fs::copy(cluster.pki.key("n2"), cluster.pki.key("n1")).unwrap();
        let config = cluster.nodes[0].config_path();
        let (validated, out) = validate(&config, &[]);
        assert_eq!(validated.code(), Some(1), "{version}: {out}");
        assert!(
            out.contains("private key does not match public key"),
            "{version}: {out}"
        );
        let status = cluster.sighup(0);
        assert!(status.contains("last reload FAILED"), "{version}: {status}");
        std::fs::rename(
            cluster.pki.dir.path().join("n1-key.bak"),
            cluster.pki.key("n1"),
        )
        .unwrap();

        // Rotation as docs/security.md tells it: make-certs.sh again (new key, new serial, same
        // CA, files replaced by rename), then a reload (systemctl reload sends SIGHUP).
        let routes = cluster.route_connections(0);
        cluster.pki.node("n1");
        let new = der(&cluster.pki.cert("n1"));
        assert_ne!(old, new);
        let status = cluster.reload(0);
        assert!(
            status.contains("last reload ok"),
            "{version}: {status}\n{}",
            cluster.logs()
        );

        let (tls, seen_after) = recording_tls(&ca);
        let after =
            async_nats::ConnectOptions::with_user_and_password("app".into(), APP_PASSWORD.into())
                .require_tls(true)
                .tls_client_config(tls)
                .connect(url.as_str())
                .await
                .expect("client after rotation");
        assert_eq!(
            seen_after.lock().unwrap().as_slice(),
            [new],
            "{version}: a new client is not shown the new certificate"
        );

        // The client from before still works on its first connection.
        after.publish("rotation.check", "hi".into()).await.unwrap();
        after.flush().await.unwrap();
        let message = tokio::time::timeout(
            Duration::from_secs(5),
            futures::StreamExt::next(&mut subscription),
        )
        .await
        .expect("the old client still receives")
        .expect("subscription open");
        assert_eq!(message.payload.as_ref(), b"hi");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let events = events.lock().unwrap().clone();
        assert!(
            !events.iter().any(|e| e == "disconnected"),
            "{version}: the old client saw {events:?}"
        );
        assert_eq!(
            seen_before.lock().unwrap().len(),
            1,
            "{version}: the old client reconnected"
        );
        // The routes stay up too: the same connections as before the rotation.
        assert_eq!(cluster.route_connections(0), routes, "{version}");
        cluster.wait_formed();
    }
}

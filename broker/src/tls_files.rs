//! What validation cannot judge in the TLS files, nats-server can: whether the certificate
//! file holds a certificate, the key file a key that matches it, the CA file a certificate.
//! Each `tls` block is rendered alone ([`render::tls_probe`]) and shown to `nats-server -t`, so
//! whatever `validate` accepts, `run` (which shows nats-server the whole rendered file the same
//! way before starting it) accepts too, and `systemctl reload` fails at its validate step
//! instead of at the supervisor's.

use std::io::Write;
use std::path::Path;

use pier_config::load::Checked;
use pier_config::model::Tls;
use pier_config::server_binary::{self, ServerBinaryError};
use pier_config::Diagnostic;

use crate::render;

/// Adds an error for each `tls` block nats-server refuses. Nothing to do without a
/// configuration or a nats-server (a missing one is already a warning, or an error when one
/// was named), nor for a block whose files validation already refused.
pub fn check(checked: &mut Checked) {
    let (Some(config), Some(server)) = (&checked.config, &checked.server) else {
        return;
    };
    let blocks = [
        ("client.tls", config.client.tls.as_ref()),
        (
            "cluster.tls",
            config.cluster.as_ref().and_then(|c| c.tls.as_ref()),
        ),
    ];
    let mut found = Vec::new();
    for (key, tls) in blocks {
        let Some(tls) = tls else { continue };
        if checked.errors().any(|d| d.key.starts_with(key)) {
            continue;
        }
        if let Some(diagnostic) = probe(server, key, tls) {
            found.push(checked.source.locate(diagnostic));
        }
    }
    checked.diagnostics.extend(found);
}

fn probe(server: &Path, key: &str, tls: &Tls) -> Option<Diagnostic> {
    let staged = tempfile::Builder::new()
        .prefix("pier-tls-probe.")
        .suffix(".conf")
        .tempfile()
        .and_then(|mut file| {
            file.write_all(render::tls_probe(tls).as_bytes())?;
            Ok(file)
        });
    let file = match staged {
        Ok(file) => file,
        Err(e) => {
            return Some(Diagnostic::warning(
                key,
                format!("could not have nats-server check these files: cannot write a probe: {e}"),
            ))
        }
    };
    match server_binary::test_config(server, file.path()) {
        Ok(()) => None,
        Err(ServerBinaryError::Refused { output, .. }) => Some(
            Diagnostic::error(
                key,
                format!(
                    "nats-server refuses these files: {}",
                    reason(&output, file.path())
                ),
            )
            .hint(
                "cert_file and key_file must be a PEM certificate and its own key: \
                 `openssl x509 -noout -pubkey -in CERT` and `openssl pkey -pubout -in KEY` \
                 print the same key; ca_file must hold PEM certificates",
            ),
        ),
        Err(e) => Some(Diagnostic::error(
            key,
            format!("nats-server could not check these files: {e}"),
        )),
    }
}

/// nats-server's message without its name and the probe's file name and position, which
/// mean nothing to whoever wrote pier.toml.
fn reason(output: &str, probe: &Path) -> String {
    let probe = probe.display().to_string();
    match output.split_once(probe.as_str()) {
        Some((_, rest)) => rest
            .trim_start_matches(|c: char| c == ':' || c == ' ' || c.is_ascii_digit())
            .to_owned(),
        None => output.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_drops_the_probe_and_its_position() {
        let probe = Path::new("/tmp/pier-tls-probe.abc.conf");
        assert_eq!(
            reason(
                "nats-server: /tmp/pier-tls-probe.abc.conf:2:1: error parsing X509 \
                 certificate/key pair: tls: private key does not match public key",
                probe
            ),
            "error parsing X509 certificate/key pair: tls: private key does not match public key"
        );
        assert_eq!(reason("something else", probe), "something else");
    }
}

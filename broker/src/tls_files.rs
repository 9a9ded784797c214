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

/// Adds an error for each `tls` block nats-server refuses, or a warning for each it could not
/// judge because none was found. Nothing to do without a configuration, for a block whose
/// files validation already refused, or when the binary found is already reported unusable.
pub fn check(checked: &mut Checked) {
    let Some(config) = &checked.config else {
        return;
    };
    // A binary pier could not use is already an error or a warning at node.nats_server; one
    // that did not answer `--version` is not asked again: `-t` would fail the same way (blamed
    // on the files) or hang as long again.
    if checked
        .diagnostics
        .iter()
        .any(|d| d.key == "node.nats_server")
    {
        return;
    }
    let server = match (&checked.server, checked.version) {
        (Some(server), Some(_)) => Some(server),
        // No version and no diagnostic: validation was told to ask no binary at all.
        (Some(_), None) => return,
        // --server-version asks no binary, so nothing has said yet that none is here.
        (None, _) => None,
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
        // Only a refused file stops the probe: nats-server would refuse it again, less clearly.
        let files = ["cert_file", "key_file", "ca_file"].map(|file| format!("{key}.{file}"));
        if checked.errors().any(|d| files.contains(&d.key)) {
            continue;
        }
        let diagnostic = match server {
            Some(server) => probe(server, key, tls),
            None => Some(
                Diagnostic::warning(
                    key,
                    format!(
                        "nats-server did not judge these files: none found (not at {} nor on PATH)",
                        server_binary::BUNDLED_SERVER
                    ),
                )
                .hint("install nats-server or name it with --nats-server"),
            ),
        };
        if let Some(diagnostic) = diagnostic {
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
    use pier_config::Source;

    use super::*;

    /// What `check` adds to a configuration with a `[client.tls]` block, given what finding
    /// nats-server gave.
    fn added(server: Option<&str>, found: Vec<Diagnostic>) -> Vec<Diagnostic> {
        let source = Source::from_text(
            "pier.toml",
            "[node]\nname = \"n1\"\n\n[client.tls]\ncert_file = \"/nonexistent/c.pem\"\n\
             key_file = \"/nonexistent/k.pem\"\n",
        );
        let before = found.len();
        let mut checked = Checked {
            config: Some(source.parse().unwrap()),
            source,
            diagnostics: found,
            server: server.map(Into::into),
            version: Some("2.15.1".parse().unwrap()),
        };
        check(&mut checked);
        checked.diagnostics.split_off(before)
    }

    #[test]
    fn files_left_unjudged_are_said_so_once_and_a_broken_binary_is_not_asked() {
        // --server-version asks no binary: nothing else says that none is here.
        let added_alone = added(None, Vec::new());
        assert_eq!(added_alone.len(), 1, "{added_alone:?}");
        assert_eq!(added_alone[0].key, "client.tls");
        assert!(!added_alone[0].is_error(), "{added_alone:?}");
        // Without it, the missing binary is already a warning; a broken one, named, an error.
        for found in [
            Diagnostic::warning("node.nats_server", "nats-server not found"),
            Diagnostic::error("node.nats_server", "printed no version"),
        ] {
            let server = found.is_error().then_some("/bin/false");
            assert!(added(server, vec![found]).is_empty());
        }
    }

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

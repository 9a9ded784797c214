//! The files keys name (`password_file`, TLS `cert_file`, `key_file`, `ca_file`): each must be an
//! absolute path to a regular, readable, non-empty file. A secret or private key that group or
//! others can access is a warning, as ssh gives: the one rule (docs/security.md, "Owners and
//! modes") is owner `pier`, mode 0600. No diagnostic ever carries a file's content.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::control_problem;
use crate::diagnostic::Diagnostic;
use crate::limited_read;
use crate::model::{Config, Tls};
use crate::secret;

/// The largest certificate or key file accepted: a PEM bundle of a few hundred CA certificates
/// stays well under it, and nats-server reads the whole file at every start and reload.
pub const MAX_PEM_BYTES: u64 = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A password, read and rendered by pier.
    Secret,
    /// A TLS private key, read by nats-server.
    PrivateKey,
    /// A certificate or CA bundle, read by nats-server.
    Certificate,
}

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    if let Some(tls) = &config.client.tls {
        check_tls("client.tls", tls, out);
    }
    if let Some(cluster) = &config.cluster {
        if let Some(tls) = &cluster.tls {
            check_tls("cluster.tls", tls, out);
        }
        if let Some(auth) = &cluster.authorization {
            check_file(
                "cluster.authorization.password_file",
                &auth.password_file,
                Kind::Secret,
                out,
            );
        }
    }
    for (i, user) in config.client.users.iter().enumerate() {
        if let Some(file) = &user.password_file {
            check_file(
                &format!("client.users[{i}].password_file"),
                file,
                Kind::Secret,
                out,
            );
        }
    }
}

fn check_tls(key: &str, tls: &Tls, out: &mut Vec<Diagnostic>) {
    check_file(
        &format!("{key}.cert_file"),
        &tls.cert_file,
        Kind::Certificate,
        out,
    );
    check_file(
        &format!("{key}.key_file"),
        &tls.key_file,
        Kind::PrivateKey,
        out,
    );
    if let Some(ca) = &tls.ca_file {
        check_file(&format!("{key}.ca_file"), ca, Kind::Certificate, out);
    }
}

fn check_file(key: &str, path: &Path, kind: Kind, out: &mut Vec<Diagnostic>) {
    if !check_path(key, path, out) {
        return;
    }
    let shown = path.display();
    let metadata = match limited_read::open_regular(path) {
        Ok((_, metadata)) => metadata,
        Err(e) => {
            out.push(
                Diagnostic::error(key, format!("cannot use {shown}: {e}"))
                    .hint("name an existing, readable regular file"),
            );
            return;
        }
    };
    let problem = match kind {
        Kind::Secret => secret::read_secret(path).err().map(|e| e.reason),
        Kind::PrivateKey | Kind::Certificate if metadata.len() == 0 => {
            Some("the file is empty".to_owned())
        }
        Kind::PrivateKey | Kind::Certificate if metadata.len() > MAX_PEM_BYTES => Some(format!(
            "the file is larger than the {MAX_PEM_BYTES}-byte limit"
        )),
        Kind::PrivateKey | Kind::Certificate => None,
    };
    if let Some(problem) = problem {
        out.push(Diagnostic::error(
            key,
            format!("cannot use {shown}: {problem}"),
        ));
        return;
    }
    let mode = metadata.permissions().mode() & 0o777;
    if kind != Kind::Certificate && mode & 0o077 != 0 {
        out.push(
            Diagnostic::warning(
                key,
                format!(
                    "{shown} is accessible by group or others (mode {mode:04o}): a secret is the pier user's alone"
                ),
            )
            .hint(format!(
                "chown pier:pier {shown} && chmod 0600 {shown} (docs/security.md, \"Owners and modes\")"
            )),
        );
    }
}

/// An absolute path without control characters; false when it is not one (and said why).
pub(super) fn check_path(key: &str, path: &Path, out: &mut Vec<Diagnostic>) -> bool {
    let text = path.to_string_lossy();
    if let Some(problem) = control_problem(&text) {
        out.push(Diagnostic::error(key, format!("the path {problem}")));
        return false;
    }
    if !path.is_absolute() {
        out.push(
            Diagnostic::error(key, format!("{} is a relative path", path.display()))
                .hint("write an absolute path"),
        );
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modes docs/security.md gives pass without a word; a group-readable secret, even
    /// 0640 root:pier, warns with the fix the page gives.
    #[test]
    fn a_secret_is_owner_only_and_a_certificate_may_be_public() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, mode: u32| {
            let path = dir.path().join(name);
            std::fs::write(&path, "-----BEGIN X-----\nsecret\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        let judge = |path: &Path, kind: Kind| {
            let mut out = Vec::new();
            check_file("k", path, kind, &mut out);
            out
        };
        for (kind, mode) in [
            (Kind::Secret, 0o600),
            (Kind::PrivateKey, 0o600),
            (Kind::Certificate, 0o644),
        ] {
            let found = judge(&file(&format!("{mode:o}"), mode), kind);
            assert!(found.is_empty(), "{mode:04o}: {found:?}");
        }
        for kind in [Kind::Secret, Kind::PrivateKey] {
            let path = file("group", 0o640);
            let found = judge(&path, kind);
            assert_eq!(found.len(), 1, "{found:?}");
            let text = found[0].to_string();
            assert!(text.contains("mode 0640"), "{text}");
            assert!(
                text.contains(&format!(
                    "chown pier:pier {0} && chmod 0600 {0}",
                    path.display()
                )),
                "{text}"
            );
        }
    }
}

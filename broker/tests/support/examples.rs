//! The documented examples as a test runs them: docs/examples/hk names its certificates, key and
//! passwords under /etc/pier/tls, which a test makes under a directory of its own (the
//! certificates by docs/security/make-certs.sh, as operators make them) and points a copy of the
//! example at.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The script docs/security.md has operators run.
pub const MAKE_CERTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/security/make-certs.sh"
);

/// What every password file made here holds: the word test clusters render for each secret.
pub const PASSWORD: &str = pier_broker::render::REDACTED;

/// A copy of `example` in `dir` whose `/etc/pier/...` files are under `dir/etc/pier/`, made
/// there when missing: ca.pem, node.pem and node-key.pem (valid for loopback), and each
/// `*.pass` it names. The caller's render replaces `dir` in paths to compare with a golden file.
pub fn example_in(dir: &Path, example: &Path) -> PathBuf {
    let text = std::fs::read_to_string(example).expect("read the example");
    let tls = dir.join("etc/pier/tls");
    if !tls.join("ca.pem").exists() {
        let tls = tls.to_str().expect("a UTF-8 path");
        make_certs(&["ca", tls]);
        make_certs(&["node", tls, "node", "127.0.0.1", "localhost"]);
    }
    for name in text
        .split('"')
        .filter_map(|w| w.strip_prefix("/etc/pier/tls/"))
    {
        let path = tls.join(name);
        if name.ends_with(".pass") && !path.exists() {
            std::fs::write(&path, PASSWORD).expect("write a password file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 0600");
        }
    }
    let copy = dir.join(example.file_name().expect("a file name"));
    let text = text.replace("\"/etc/pier/", &format!("\"{}/etc/pier/", dir.display()));
    std::fs::write(&copy, text).expect("write the copy");
    copy
}

/// Runs make-certs.sh with `sh`, as the docs do.
pub fn make_certs_output(args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg(MAKE_CERTS)
        .args(args)
        .output()
        .expect("run sh")
}

/// Runs make-certs.sh, which must succeed: a missing openssl fails the test.
pub fn make_certs(args: &[&str]) {
    let out = make_certs_output(args);
    assert!(
        out.status.success(),
        "make-certs.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! systemd/pier-broker.service as systemd judges it: `systemd-analyze verify` finds nothing, and
//! its exposure stays at least as low as upstream's hardened nats-server unit (1.7).

use std::path::Path;
use std::process::Command;

/// upstream util/nats-server-hardened.service, measured with the same systemd-analyze.
const UPSTREAM_HARDENED_EXPOSURE: f64 = 1.7;

fn unit_pointing_at_this_build(dir: &Path) -> std::path::PathBuf {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/pier-broker.service");
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(
        text.contains("/usr/bin/pier-broker"),
        "the unit runs the packaged binary"
    );
    let path = dir.join("pier-broker.service");
    std::fs::write(
        &path,
        text.replace("/usr/bin/pier-broker", env!("CARGO_BIN_EXE_pier-broker")),
    )
    .unwrap();
    path
}

#[test]
fn unit_verifies_clean_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_pointing_at_this_build(dir.path());

    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "verify: {stderr}"
    );

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for pier-broker.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure in:\n{stdout}"));
    assert!(
        exposure <= UPSTREAM_HARDENED_EXPOSURE,
        "exposure {exposure}:\n{stdout}"
    );
}

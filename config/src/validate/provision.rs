//! The `[provision]` section: how long provisioning may keep retrying.

use std::time::Duration;

use crate::diagnostic::Diagnostic;
use crate::model::Config;

/// The longest `[provision] timeout`: provisioning that has not converged in a day will not.
pub const MAX_PROVISION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    let timeout = config.provision.timeout;
    if timeout.get().is_zero() {
        out.push(Diagnostic::error(
            "provision.timeout",
            "the provisioning timeout cannot be zero",
        ));
    } else if timeout.get() > MAX_PROVISION_TIMEOUT {
        out.push(
            Diagnostic::error(
                "provision.timeout",
                format!("{timeout} is longer than the 24h pier allows"),
            )
            .hint("provisioning retries while the cluster has no JetStream leader; a few minutes is plenty"),
        );
    }
}

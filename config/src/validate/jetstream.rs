//! The JetStream store and its durability against the nats-server that will run it.

use super::files::check_path;
use super::{name_problem, Context};
use crate::diagnostic::Diagnostic;
use crate::model::Config;
use crate::version::Feature;

pub(super) fn check(config: &Config, context: &Context, out: &mut Vec<Diagnostic>) {
    let js = &config.jetstream;
    if !js.enabled {
        if !config.streams.is_empty() {
            out.push(
                Diagnostic::error(
                    "jetstream.enabled",
                    "streams are declared but JetStream is disabled",
                )
                .hint("enable JetStream or remove the [[streams]] entries"),
            );
        }
        return;
    }
    // A relative store would be resolved against nats-server's working directory.
    check_path("jetstream.store_dir", &js.store_dir, out);
    if js.max_file_store.is_some_and(|b| b.get() == 0) {
        out.push(Diagnostic::error(
            "jetstream.max_file_store",
            "0 leaves no room for file streams",
        ));
    }
    if let Some(domain) = &js.domain {
        if let Some(problem) = name_problem(domain) {
            out.push(Diagnostic::error(
                "jetstream.domain",
                format!("domain {problem}"),
            ));
        }
    }
    if js.max_memory_store.is_some_and(|b| b.get() == 0) {
        out.push(Diagnostic::warning(
            "jetstream.max_memory_store",
            "0 leaves no room for memory streams",
        ));
    }
    if js.sync.is_some() {
        super::version_gate("jetstream.sync", Feature::SyncInterval, context, out);
    }
}

//! The JetStream store and its durability against the nats-server that will run it.

use super::files::check_path;
use super::{name_problem, Context};
use crate::diagnostic::Diagnostic;
use crate::model::{Config, Storage, SyncPolicy};
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
    match js.sync {
        Some(SyncPolicy::Always | SyncPolicy::Every(_)) => {
            super::version_gate("jetstream.sync", Feature::SyncInterval, context, out);
        }
        Some(SyncPolicy::ServerDefault) | None => {}
    }
    lazy_sync(config, context, out);
}

/// Warns, by name, when file streams would be acknowledged before their writes are on disk.
fn lazy_sync(config: &Config, context: &Context, out: &mut Vec<Diagnostic>) {
    let policy = config.jetstream.sync_in_force(context.server_version);
    if !policy.is_lazy() {
        return;
    }
    let file_streams: Vec<&str> = config
        .streams
        .iter()
        .filter(|s| s.storage == Storage::File)
        .map(|s| s.name.as_str())
        .collect();
    let streams = if file_streams.is_empty() {
        "file streams".to_string()
    } else {
        format!("file streams ({})", file_streams.join(", "))
    };
    match (config.jetstream.sync, context.server_version) {
        (Some(_), _) => out.push(
            Diagnostic::warning(
                "jetstream.sync",
                format!(
                    "{streams} are fsynced {policy}, not before each acknowledgement: {}",
                    SyncPolicy::LAZY_RISK
                ),
            )
            .hint("sync = \"always\" (pier's default) fsyncs every write before acknowledging it"),
        ),
        // Unset on a server that cannot fsync every write: only worth saying where it matters.
        (None, Some(version)) if !file_streams.is_empty() => out.push(
            Diagnostic::warning(
                "jetstream.sync",
                format!(
                    "nats-server {version} cannot fsync before acknowledging (sync_interval \
                     needs {}), so {streams} are acknowledged before they are on disk: {}",
                    Feature::SyncInterval.since(),
                    SyncPolicy::LAZY_RISK
                ),
            )
            .hint(
                "run nats-server 2.10.0 or newer (node.nats_server); pier then fsyncs every write",
            ),
        ),
        (None, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;
    use crate::version::ServerVersion;

    /// The messages of the `jetstream.sync` diagnostics, errors marked.
    fn sync_diagnostics(toml: &str, version: Option<ServerVersion>) -> Vec<String> {
        let config = Source::from_text("pier.toml", format!("[node]\nname = \"n1\"\n{toml}"))
            .parse()
            .expect("test config parses");
        let mut out = Vec::new();
        check(
            &config,
            &Context {
                server_version: version,
            },
            &mut out,
        );
        out.into_iter()
            .filter(|d| d.key == "jetstream.sync")
            .map(|d| format!("{}{}", if d.is_error() { "error: " } else { "" }, d.message))
            .collect()
    }

    const NEW: Option<ServerVersion> = Some(ServerVersion::new(2, 15, 1));
    const OLD: Option<ServerVersion> = Some(ServerVersion::new(2, 9, 10));
    const STREAM: &str = "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\nreplicas = 3\n";

    #[test]
    fn unset_sync_fsyncs_every_write_and_says_nothing_where_the_server_can() {
        assert_eq!(sync_diagnostics(STREAM, NEW), Vec::<String>::new());
        assert_eq!(
            sync_diagnostics("[jetstream]\nsync = \"always\"\n", NEW),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_lazier_choice_warns_by_name_for_r3_streams_too() {
        for sync in ["\"2m\"", "\"server-default\""] {
            let found = sync_diagnostics(&format!("[jetstream]\nsync = {sync}\n{STREAM}"), NEW);
            assert_eq!(found.len(), 1, "{sync}: {found:?}");
            assert!(
                found[0].contains("LOGS") && found[0].contains("power cut"),
                "{sync}: {found:?}"
            );
        }
    }

    #[test]
    fn an_old_server_is_named_once_only_where_file_streams_are_declared() {
        assert_eq!(sync_diagnostics("", OLD), Vec::<String>::new());
        let found = sync_diagnostics(STREAM, OLD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("2.9.10") && found[0].contains("2.10.0"),
            "{found:?}"
        );
        // A written `always` is refused there, and "server-default" is the explicit lazy choice.
        let refused = sync_diagnostics("[jetstream]\nsync = \"always\"\n", OLD);
        assert!(refused[0].starts_with("error: "), "{refused:?}");
        let chosen = sync_diagnostics(
            &format!("[jetstream]\nsync = \"server-default\"\n{STREAM}"),
            OLD,
        );
        assert_eq!(chosen.len(), 1, "{chosen:?}");
        assert!(!chosen[0].starts_with("error: "), "{chosen:?}");
    }
}

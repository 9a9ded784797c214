//! Hints for the mistakes people make in pier.toml: keys carried over from other tools or from
//! the seed write-up.

/// Hints for keys people carry over from other tools or from the seed write-up.
pub(super) fn known_mistake(message: &str) -> Option<&'static str> {
    const MISTAKES: &[(&str, &str)] = &[
        (
            "`file_sync`",
            "nats-server has no \"file_sync\" option; for an fsync after every write use `sync = \"always\"` in [jetstream]",
        ),
        (
            "`deliver_group`",
            "deliver_group belongs to push consumers, under [[streams.consumers]]",
        ),
        (
            "`routes`",
            "routes are derived from [[cluster.peers]]; list every node there, this one included",
        ),
        (
            "`filter_subject`",
            "write `filter_subjects = [\"...\"]` (a list)",
        ),
        (
            "`port`",
            "listeners are written as addresses: client_listen, monitor_listen, cluster_listen = \"IP:PORT\" in [node]",
        ),
    ];
    MISTAKES
        .iter()
        .find(|(needle, _)| message.contains(&format!("unknown field {needle}")))
        .map(|(_, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use crate::source::Source;

    #[test]
    fn seed_file_sync_gets_a_hint() {
        let source = Source::from_text(
            "p.toml",
            "[node]\nname = \"a\"\n[jetstream]\nfile_sync = true\n",
        );
        let err = source.parse().unwrap_err();
        assert_eq!(err.key, "jetstream.file_sync");
        assert!(err.hint.unwrap().contains("sync = \"always\""));
    }
}

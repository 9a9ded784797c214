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
            "`password`",
            "pier.toml holds no secret: put the password alone in a file (owner pier, mode 0600) and name it with `password_file`",
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

    #[test]
    fn an_inline_password_is_refused_with_the_file_to_use() {
        let source = Source::from_text(
            "p.toml",
            "[node]\nname = \"a\"\n[[client.users]]\nuser = \"app\"\npassword = \"s3cret\"\n",
        );
        let err = source.parse().unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(err.key, "client.users[0].password");
        assert!(err.hint.unwrap().contains("password_file"));
    }
}

//! What nats-server said about its JetStream store before it exited. After a power cut
//! nats-server 2.15.1 may find a torn state file (`$SYS/_js_/_meta_/msgs/index.db: bad message`)
//! a corrupt raft snapshot or a file where its directory was, and refuse to start JetStream at all; systemd's restarts then fail the same way. Its exit is
//! reported as a damaged store, with the file it named and the way back, so that the operator
//! does not take it for a crash that another restart will cure.

/// The lines of one nats-server run that matter for its exit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LastWords {
    /// "Can't start JetStream: REASON".
    refused: Option<String>,
    /// The first state or block file it could not read, as it named it.
    unreadable: Option<String>,
}

impl LastWords {
    /// Takes one log message (its level and pid already parsed off).
    pub fn note(&mut self, message: &str) {
        if let Some(reason) = message.strip_prefix("Can't start JetStream: ") {
            self.refused = Some(reason.trim().to_owned());
        } else if self.unreadable.is_none() && is_unreadable_store_file(message) {
            self.unreadable = Some(message.trim().to_owned());
        }
    }

    /// Both streams of output were read by a task each: one account of the run.
    pub fn merge(&mut self, other: LastWords) {
        self.refused = self.refused.take().or(other.refused);
        self.unreadable = self.unreadable.take().or(other.unreadable);
    }

    /// Why JetStream did not start, and what to do, if nats-server said so.
    pub fn explain(&self) -> Option<String> {
        let refused = self.refused.as_ref()?;
        if self.unreadable.is_none() && !shows_damage(refused) {
            return Some(format!("JetStream could not start: {refused}"));
        }
        let file = self
            .unreadable
            .as_ref()
            .map_or(String::new(), |file| format!("; {file}"));
        Some(format!(
            "its JetStream store is damaged (Can't start JetStream: {refused}{file}): this node \
             cannot serve until its store is rebuilt from its peers (docs/operations.md, \
             \"A damaged store\")"
        ))
    }
}

/// How nats-server words a store it finds torn; a refused permission or a full disk is no damage
/// (rebuilding would not help).
fn shows_damage(message: &str) -> bool {
    [
        "bad message",
        "corrupt",
        "checksum",
        "not a directory",
        "storage directory not readable",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

fn is_unreadable_store_file(message: &str) -> bool {
    message.starts_with("Filestore [") && shows_damage(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    // nats-server 2.15.1's lines in the lab after a power cut of all three hosts (issue 19).
    const AFTER_A_POWER_CUT: &[&str] = &[
        "Starting restore for stream '$G > LOGS'",
        "Filestore [_meta_] Could not read stream state file: open /var/lib/pier/jetstream/jetstream/$SYS/_js_/_meta_/msgs/index.db: bad message",
        "Filestore [_meta_] Recovering stream state from index errored: open /var/lib/pier/jetstream/jetstream/$SYS/_js_/_meta_/msgs/index.db: bad message",
        "Error creating filestore: storage directory not readable",
        "Can't start JetStream: storage directory not readable",
    ];

    #[test]
    fn a_torn_state_file_is_reported_as_a_damaged_store_with_its_path() {
        let mut words = LastWords::default();
        for line in AFTER_A_POWER_CUT {
            words.note(line);
        }
        let said = words.explain().expect("JetStream refused to start");
        assert!(said.starts_with("its JetStream store is damaged (Can't start JetStream: storage directory not readable; Filestore [_meta_] Could not read stream state file: open /var/lib/pier/jetstream/jetstream/$SYS/_js_/_meta_/msgs/index.db: bad message)"), "{said}");
        assert!(said.contains("\"A damaged store\""), "{said}");
    }

    #[test]
    fn a_directory_the_cut_turned_into_a_file_is_damage_too() {
        // Also seen in the lab after a power cut of one host while another was paused.
        let mut words = LastWords::default();
        words.note("Can't start JetStream: could not create message storage directory - mkdir /var/lib/pier/jetstream/jetstream/$SYS/_js_/_meta_/msgs: not a directory");
        let said = words.explain().expect("JetStream refused to start");
        assert!(said.starts_with("its JetStream store is damaged (Can't start JetStream: could not create message storage directory - mkdir /var/lib/pier/jetstream/jetstream/$SYS/_js_/_meta_/msgs: not a directory): "), "{said}");
    }

    #[test]
    fn a_corrupt_raft_snapshot_is_damage_too() {
        // The third kind the lab's power cuts left (nats-server #7556 is its corruption twin).
        let mut words = LastWords::default();
        words.note("Can't start JetStream: raft: snapshot corrupt");
        assert!(words.explain().is_some_and(|s| s.starts_with(
            "its JetStream store is damaged (Can't start JetStream: raft: snapshot corrupt): "
        )));
    }

    #[test]
    fn a_refusal_that_is_no_damage_says_only_why() {
        let mut words = LastWords::default();
        words.note("Can't start JetStream: could not create storage directory - mkdir /var/lib/pier/jetstream: permission denied");
        assert_eq!(
            words.explain().as_deref(),
            Some("JetStream could not start: could not create storage directory - mkdir /var/lib/pier/jetstream: permission denied")
        );
    }

    #[test]
    fn a_file_rebuilt_from_its_blocks_is_no_refusal() {
        // nats-server recovers a stream's torn index.db from its blocks and runs on.
        let mut words = LastWords::default();
        words.note(AFTER_A_POWER_CUT[1]);
        assert_eq!(words.explain(), None);
    }

    #[test]
    fn the_two_outputs_merge_into_one_account() {
        let (mut err, mut out) = (LastWords::default(), LastWords::default());
        out.note(AFTER_A_POWER_CUT[1]);
        err.note(AFTER_A_POWER_CUT[4]);
        err.merge(out);
        assert!(err
            .explain()
            .is_some_and(|s| s.contains("index.db: bad message")));
    }
}

//! What this node has seen provisioned: each declared stream that existed, with the highest
//! sequence seen in it. Kept on disk beside the store and fsynced, so that after a power cut a
//! declared stream that is gone, or whose last sequence went backwards, is reported as lost
//! instead of being created again as on a first start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_nats::jetstream::stream;
use pier_config::Config;
use serde::{Deserialize, Serialize};

/// The record's file name, inside `jetstream.store_dir` (beside nats-server's own `jetstream/`).
pub const FILE: &str = "pier-provisioned.json";

/// How much a stream held when it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub messages: u64,
    pub bytes: u64,
    pub last_sequence: u64,
}

impl From<&stream::State> for Seen {
    fn from(state: &stream::State) -> Self {
        Seen {
            messages: state.messages,
            bytes: state.bytes,
            last_sequence: state.last_sequence,
        }
    }
}

/// A declared stream that lost what it held: gone (`now` is `None`) or wound back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// The most the record saw in the stream.
    pub held: Seen,
    /// What the cluster has now.
    pub now: Option<Seen>,
}

impl Loss {
    /// Compares what the cluster has with what was seen; `None` when nothing was lost.
    pub fn between(held: Option<Seen>, now: Option<Seen>) -> Option<Loss> {
        let held = held?;
        match now {
            Some(now) if now.last_sequence >= held.last_sequence => None,
            now => Some(Loss { held, now }),
        }
    }

    pub fn describe(&self) -> String {
        let held = format!(
            "held {} messages up to sequence {}",
            self.held.messages, self.held.last_sequence
        );
        match self.now {
            None => format!("{held}; gone from the cluster"),
            Some(now) => format!(
                "{held}; its last sequence went back to {} ({} messages)",
                now.last_sequence, now.messages
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read the provisioning record {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the provisioning record {path} is not valid ({source}); move it aside to start a new one, knowing that a stream lost meanwhile will then be created again")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the provisioning record {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    streams: BTreeMap<String, Seen>,
}

/// The record of one node, read at the start of a reconcile and written at its end.
#[derive(Debug, Clone)]
pub struct Record {
    path: PathBuf,
    contents: Contents,
    changed: bool,
}

impl Record {
    /// Where the node described by `config` keeps its record.
    pub fn path_for(config: &Config) -> PathBuf {
        config.jetstream.store_dir.join(FILE)
    }

    /// Reads the record; a missing file is an empty record (a node that never provisioned).
    pub fn load(path: &Path) -> Result<Record, RecordError> {
        let contents = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| RecordError::Parse {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Contents::default(),
            Err(source) => {
                return Err(RecordError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Ok(Record {
            path: path.to_owned(),
            contents,
            changed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, stream: &str) -> Option<Seen> {
        self.contents.streams.get(stream).copied()
    }

    /// Notes a stream as seen: its sequence only rises, unless `reset` (the operator accepted a
    /// loss, or let pier recreate the stream), which takes `seen` as it is.
    pub fn observe(&mut self, stream: &str, seen: Seen, reset: bool) {
        let entry = self.contents.streams.get(stream).copied();
        let next = match entry {
            Some(old) if !reset && old.last_sequence > seen.last_sequence => old,
            _ => seen,
        };
        if entry != Some(next) {
            self.contents.streams.insert(stream.to_owned(), next);
            self.changed = true;
        }
    }

    /// Forgets every stream no longer declared: removing one from pier.toml is the operator's word.
    pub fn retain_declared(&mut self, config: &Config) {
        let before = self.contents.streams.len();
        self.contents
            .streams
            .retain(|name, _| config.streams.iter().any(|s| s.name == *name));
        self.changed |= self.contents.streams.len() != before;
    }

    /// Writes the record when it changed, so that a power cut leaves the old or the new one.
    pub fn save(&mut self) -> Result<(), RecordError> {
        if !self.changed {
            return Ok(());
        }
        let err = |source| RecordError::Write {
            path: self.path.clone(),
            source,
        };
        let mut text =
            serde_json::to_vec_pretty(&self.contents).map_err(|e| err(std::io::Error::other(e)))?;
        text.push(b'\n');
        pier_cli::durable::write_atomically(&self.path, &text).map_err(err)?;
        owned_like_its_directory(&self.path).map_err(err)?;
        self.changed = false;
        Ok(())
    }
}

/// `pier-broker provision` run as root writes into the store directory of user pier: the record
/// must stay readable by the supervisor, which runs as that user.
fn owned_like_its_directory(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = path.parent().filter(|_| nix::unistd::geteuid().is_root()) else {
        return Ok(());
    };
    let (dir, file) = (std::fs::metadata(dir)?, std::fs::metadata(path)?);
    if (dir.uid(), dir.gid()) == (file.uid(), file.gid()) {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(dir.uid()), Some(dir.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(last_sequence: u64) -> Seen {
        Seen {
            messages: last_sequence,
            bytes: 100 * last_sequence,
            last_sequence,
        }
    }

    #[test]
    fn a_gone_or_wound_back_stream_is_a_loss() {
        assert_eq!(Loss::between(None, None), None, "never seen: new");
        assert_eq!(Loss::between(Some(seen(5)), Some(seen(7))), None);
        assert_eq!(Loss::between(Some(seen(5)), Some(seen(5))), None);
        let gone = Loss::between(Some(seen(5)), None).unwrap();
        assert!(gone.describe().contains("gone"), "{}", gone.describe());
        let back = Loss::between(Some(seen(5)), Some(seen(2))).unwrap();
        assert!(
            back.describe().contains("went back to 2"),
            "{}",
            back.describe()
        );
    }

    #[test]
    fn the_sequence_only_rises_until_reset_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut record = Record::load(&path).unwrap();
        assert_eq!(record.get("LOGS"), None);
        record.observe("LOGS", seen(10), false);
        record.observe("LOGS", seen(3), false);
        assert_eq!(record.get("LOGS"), Some(seen(10)));
        record.save().unwrap();

        let mut again = Record::load(&path).unwrap();
        assert_eq!(again.get("LOGS"), Some(seen(10)));
        again.observe("LOGS", seen(3), true);
        assert_eq!(again.get("LOGS"), Some(seen(3)));
    }

    #[test]
    fn written_by_root_the_record_belongs_to_the_store_directory_s_owner() {
        use std::os::unix::fs::MetadataExt;
        // Needs root, as CI and `pier-broker provision` on a node have: it fails without.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        let path = dir.path().join(FILE);
        let mut record = Record::load(&path).unwrap();
        record.observe("LOGS", seen(1), false);
        record.save().unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "{\"streams\": {\"LOGS\": ").unwrap();
        let err = Record::load(&path).unwrap_err().to_string();
        assert!(err.contains(FILE) && err.contains("move it aside"), "{err}");
    }
}

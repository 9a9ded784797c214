//! What changed between two pier.toml files, key by key, and whether nats-server takes each
//! change on a reload or only on a restart: the one place that knows, for the supervisor (which
//! refuses a reload that needs a restart), `pier-broker diff` and the Ansible role.

use serde::Serialize;
use toml::Value;

use crate::model::Config;

/// How a change reaches the running node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Apply {
    /// `systemctl reload`: nats-server reloads it, or pier applies it after the reload.
    Reload,
    /// Only a restart of pier-broker (and so of nats-server) applies it.
    Restart,
}

/// One changed key, with its old and new values as pier.toml spells them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub from: String,
    pub to: String,
    pub apply: Apply,
    pub why: &'static str,
}

/// Every key prefix and what a change under it needs; the longest matching prefix decides, and a
/// key no row names restarts (the safe answer for a key added without its row).
const RULES: &[(&str, Apply, &str)] = &[
    ("node", Apply::Restart, "nats-server cannot reload its server name, listeners or tags, and the binary is chosen at start"),
    ("cluster.name", Apply::Restart, "nats-server cannot reload the cluster's name"),
    ("cluster.peers", Apply::Reload, "nats-server reloads its routes"),
    ("cluster.tls", Apply::Reload, "nats-server reloads route TLS"),
    ("cluster.authorization", Apply::Reload, "nats-server reloads route credentials"),
    ("jetstream", Apply::Restart, "JetStream's store, limits and fsync policy are fixed when it starts"),
    ("resources", Apply::Restart, "pier-broker places nats-server on its cores and sets GOMEMLIMIT when it starts it"),
    ("limits", Apply::Reload, "nats-server reloads its limits"),
    ("client", Apply::Reload, "nats-server reloads client TLS, users, accounts and permissions"),
    ("client.system_account", Apply::Restart, "nats-server cannot reload its system account"),
    ("log", Apply::Reload, "nats-server reloads its logging options"),
    ("provision", Apply::Reload, "not a nats-server option: pier provisions again after a reload"),
    ("streams", Apply::Reload, "not a nats-server option: pier provisions again after a reload"),
];

/// How `key` (dotted, as in pier.toml) reaches the running node.
pub fn classify(key: &str) -> (Apply, &'static str) {
    RULES
        .iter()
        .filter(|(prefix, _, _)| {
            key == *prefix
                || key
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map_or(
            (
                Apply::Restart,
                "pier does not know how nats-server takes this key",
            ),
            |&(_, apply, why)| (apply, why),
        )
}

/// The keys that differ between `from` and `to`, in key order. A table is compared key by key,
/// anything else (a list such as `streams` or `cluster.peers`) as a whole.
pub fn changes(from: &Config, to: &Config) -> Vec<KeyChange> {
    let (Ok(from), Ok(to)) = (Value::try_from(from), Value::try_from(to)) else {
        // A model that cannot be written as TOML is a bug; restart is the answer that is never wrong.
        return vec![KeyChange {
            key: String::new(),
            from: String::new(),
            to: String::new(),
            apply: Apply::Restart,
            why: "the configurations could not be compared",
        }];
    };
    let mut out = Vec::new();
    walk("", Some(&from), Some(&to), &mut out);
    out
}

/// What the changes need together: a restart when any one does, `None` when nothing changed.
pub fn needed(changes: &[KeyChange]) -> Option<Apply> {
    changes.iter().map(|c| c.apply).max()
}

fn walk(key: &str, from: Option<&Value>, to: Option<&Value>, out: &mut Vec<KeyChange>) {
    if let (Some(Value::Table(a)), Some(Value::Table(b))) = (from, to) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let path = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{k}")
            };
            walk(&path, a.get(k), b.get(k), out);
        }
        return;
    }
    if from == to {
        return;
    }
    let (apply, why) = classify(key);
    out.push(KeyChange {
        key: key.to_owned(),
        from: shown(from),
        to: shown(to),
        apply,
        why,
    });
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "(unset)".to_owned(),
        Some(Value::Table(t)) if t.is_empty() => "(unset)".to_owned(),
        Some(v) => {
            let text = v.to_string();
            // A list of tables (streams, peers) is long: its size says enough.
            match v {
                Value::Array(items) if text.len() > 60 => format!("[{} entries]", items.len()),
                _ => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    fn config(extra: &str) -> Config {
        Source::from_text(
            "pier.toml",
            format!("[node]\nname = \"n1\"\nclient_listen = \"127.0.0.1:4222\"\n{extra}"),
        )
        .parse()
        .expect("test config parses")
    }

    #[test]
    fn each_changed_key_says_whether_a_reload_takes_it() {
        let old = config("[limits]\nmax_payload = \"1MiB\"\n");
        let new = Source::from_text(
            "pier.toml",
            "[node]\nname = \"n2\"\nclient_listen = \"127.0.0.1:4222\"\n[limits]\nmax_payload = \"2MiB\"\n",
        )
        .parse()
        .expect("parses");
        let found = changes(&old, &new);
        let keys: Vec<(&str, Apply)> = found.iter().map(|c| (c.key.as_str(), c.apply)).collect();
        assert_eq!(
            keys,
            [
                ("limits.max_payload", Apply::Reload),
                ("node.name", Apply::Restart)
            ]
        );
        assert_eq!(found[1].from, "\"n1\"");
        assert_eq!(found[1].to, "\"n2\"");
        assert_eq!(needed(&found), Some(Apply::Restart));
        assert_eq!(needed(&changes(&old, &old)), None);
    }

    #[test]
    fn a_key_set_or_unset_is_a_change_and_the_longest_rule_decides() {
        let old = config("");
        let new = config("[jetstream]\nsync = \"server-default\"\n");
        let found = changes(&old, &new);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, "jetstream.sync");
        assert_eq!(found[0].from, "(unset)");
        assert_eq!(found[0].apply, Apply::Restart);
        assert_eq!(classify("cluster.name").0, Apply::Restart);
        assert_eq!(classify("cluster.peers").0, Apply::Reload);
        assert_eq!(classify("cluster.tls.cert_file").0, Apply::Reload);
        assert_eq!(
            classify("nodes.x").0,
            Apply::Restart,
            "an unknown key restarts"
        );
        assert_eq!(classify("streams").0, Apply::Reload);
        assert_eq!(classify("client.accounts").0, Apply::Reload);
        assert_eq!(classify("client.system_account").0, Apply::Restart);
    }

    #[test]
    fn every_top_level_section_has_a_rule() {
        let value = Value::try_from(config(
            "[cluster]\nname = \"c\"\n[[cluster.peers]]\nname = \"n1\"\naddress = \"127.0.0.1:6222\"\n",
        )).expect("serializes");
        let Value::Table(table) = value else {
            panic!("a config is a table");
        };
        for key in table.keys() {
            assert!(
                RULES
                    .iter()
                    .any(|(prefix, _, _)| prefix.split('.').next() == Some(key.as_str())),
                "no reload-or-restart rule for [{key}]"
            );
        }
    }
}

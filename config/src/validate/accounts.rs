//! Accounts, the users in them and their permissions, and whether pier's own provisioning user
//! can do its work: every account a user names is declared, every permission subject is one
//! nats-server takes, and the provisioning user reaches JetStream's API.

use std::collections::HashSet;

use crate::diagnostic::Diagnostic;
use crate::model::{Config, SubjectRule};
use crate::subject;

/// What pier's provisioning client publishes to and receives its answers on (async-nats's
/// JetStream context and inbox prefixes).
const JS_API: &str = "$JS.API.>";
const INBOX: &str = "_INBOX.>";

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    let client = &config.client;
    let mut names = HashSet::new();
    for (i, account) in client.accounts.iter().enumerate() {
        let key = format!("client.accounts[{i}].name");
        if let Some(problem) = account_name_problem(&account.name) {
            out.push(Diagnostic::error(
                key.clone(),
                format!("account name {problem}"),
            ));
        }
        if !names.insert(account.name.as_str()) {
            out.push(Diagnostic::error(
                key,
                format!("duplicate account {:?}", account.name),
            ));
        }
        if account.jetstream.as_ref().is_some_and(|js| js.unlimited()) {
            out.push(
                Diagnostic::warning(
                    format!("client.accounts[{i}].jetstream"),
                    format!(
                        "account {:?} may fill the whole JetStream store: it has neither \
                         max_file_store nor max_memory_store",
                        account.name
                    ),
                )
                .hint("give each account with JetStream its share of the store"),
            );
        }
    }
    if let Some(system) = &client.system_account {
        match client.account(system) {
            None => out.push(
                Diagnostic::error(
                    "client.system_account",
                    format!("no account {system:?} is declared"),
                )
                .hint("declare it under [[client.accounts]]"),
            ),
            Some(account) if account.jetstream.is_some() => out.push(Diagnostic::error(
                "client.system_account",
                format!("the system account {system:?} cannot have JetStream"),
            )),
            Some(_) => {}
        }
    }

    for (i, user) in client.users.iter().enumerate() {
        let key = format!("client.users[{i}]");
        if let Some(account) = &user.account {
            if client.account(account).is_none() {
                out.push(
                    Diagnostic::error(
                        format!("{key}.account"),
                        format!("no account {account:?} is declared"),
                    )
                    .hint("declare it under [[client.accounts]], or leave `account` out for the global account"),
                );
            }
        }
        if let Some(permissions) = &user.permissions {
            let deny_only = permissions
                .publish
                .as_ref()
                .is_some_and(|p| p.allow.is_empty() && !p.deny.is_empty());
            if permissions.allow_responses && deny_only {
                out.push(
                    Diagnostic::error(
                        format!("{key}.permissions.publish"),
                        "a publish deny list without an allow list, with allow_responses: \
                         nats-server's result depends on the order it reads them",
                    )
                    .hint("list what the user may publish in publish.allow"),
                );
            }
            let rules = [
                ("publish", &permissions.publish, false),
                ("subscribe", &permissions.subscribe, true),
            ];
            for (name, rule, queues) in rules {
                if let Some(rule) = rule {
                    check_rule(&format!("{key}.permissions.{name}"), rule, queues, out);
                }
            }
        }
    }
    check_provisioning_user(config, out);
}

/// Accounts are bare keys in nats-server's configuration, and `$` names are its own ($G, $SYS).
fn account_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("cannot be empty".into())
    } else if name.eq_ignore_ascii_case("include") {
        // A bare `include` key is nats-server's include directive.
        Some("cannot be \"include\", a word of nats-server's configuration syntax".into())
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Some(format!(
            "{name:?} may hold only letters, digits, `-` and `_`"
        ))
    } else {
        None
    }
}

fn check_rule(key: &str, rule: &SubjectRule, queues: bool, out: &mut Vec<Diagnostic>) {
    for (list, subjects) in [("allow", &rule.allow), ("deny", &rule.deny)] {
        for (j, entry) in subjects.iter().enumerate() {
            // nats-server reads "SUBJECT QUEUE" in a subscribe permission as one queue group.
            let (subject, queue) = match entry.split_once(' ') {
                Some((subject, queue)) if queues => (subject, Some(queue)),
                _ => (entry.as_str(), None),
            };
            let problem = subject::invalid_reason(subject).or_else(|| {
                queue.and_then(|q| {
                    subject::invalid_reason(q).map(|p| format!("queue group {q:?}: {p}"))
                })
            });
            if let Some(problem) = problem {
                out.push(Diagnostic::error(format!("{key}.{list}[{j}]"), problem));
            }
        }
    }
}

/// pier provisions the declared streams as one user: it must exist, have a password, belong to
/// an account with JetStream, and be allowed JetStream's API and its answers.
fn check_provisioning_user(config: &Config, out: &mut Vec<Diagnostic>) {
    let client = &config.client;
    if !config.jetstream.enabled || config.streams.is_empty() {
        return;
    }
    if client.users.is_empty() {
        if let Some(name) = &config.provision.user {
            out.push(Diagnostic::error(
                "provision.user",
                format!("no user {name:?} in client.users"),
            ));
        }
        return;
    }
    let Some(user) = config.provisioning_user() else {
        let (key, problem) = match &config.provision.user {
            Some(name) => ("provision.user", format!("no user {name:?} in client.users")),
            None => (
                "client.users",
                "no user has a name and a password file, so pier cannot log in to provision the declared streams".to_owned(),
            ),
        };
        out.push(Diagnostic::error(key, problem).hint(
            "declare a user with `user` and `password_file` for pier, and name it in provision.user",
        ));
        return;
    };
    let name = user.user.as_deref().unwrap_or_default();
    // The key the operator reads: provision.user when it is written, else the user itself.
    let key = match &config.provision.user {
        Some(_) => "provision.user".to_owned(),
        None => format!(
            "client.users[{}]",
            client
                .users
                .iter()
                .position(|u| std::ptr::eq(u, user))
                .unwrap_or_default()
        ),
    };
    let key = key.as_str();
    if user.password_file.is_none() {
        out.push(Diagnostic::error(
            key,
            format!("user {name:?} has no password_file, which pier needs to log in"),
        ));
    }
    if !client.has_jetstream(user) {
        let problem = match &user.account {
            Some(account) => format!(
                "user {name:?} is in account {account:?}, which has no JetStream for the declared streams"
            ),
            None => format!(
                "user {name:?} is in the global account, which has no JetStream once accounts are declared"
            ),
        };
        out.push(
            Diagnostic::error(key, problem)
                .hint("put pier's user in the account whose streams it provisions, with [client.accounts.jetstream]"),
        );
    }
    let Some(permissions) = &user.permissions else {
        return;
    };
    let needs = [
        ("publish", permissions.may_publish(JS_API), JS_API),
        ("subscribe", permissions.may_subscribe(INBOX), INBOX),
    ];
    for (what, allowed, subjects) in needs {
        if !allowed {
            out.push(
                Diagnostic::error(
                    key,
                    format!("user {name:?} may not {what} {subjects}, which provisioning needs"),
                )
                .hint(format!("allow {subjects} in its {what} permissions")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    /// (key, is_error) of every diagnostic for `toml` after a node and a stream.
    fn diagnostics(toml: &str) -> Vec<(String, bool)> {
        let text = format!(
            "[node]\nname = \"n1\"\n[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n{toml}"
        );
        let config = Source::from_text("pier.toml", text)
            .parse()
            .expect("test config parses");
        let mut out = Vec::new();
        check(&config, &mut out);
        out.into_iter()
            .map(|d| (d.key.clone(), d.is_error()))
            .collect()
    }

    const APP: &str = "[[client.accounts]]\nname = \"APP\"\n\
                       [client.accounts.jetstream]\nmax_file_store = \"1GiB\"\n";
    const PIER: &str = "[[client.users]]\nuser = \"pier\"\n\
                        password_file = \"/etc/pier/secrets/pier\"\naccount = \"APP\"\n";

    #[test]
    fn a_user_of_an_account_with_jetstream_provisions() {
        assert_eq!(diagnostics(&format!("{APP}{PIER}")), []);
    }

    #[test]
    fn unknown_and_misnamed_accounts_are_refused() {
        assert_eq!(
            diagnostics(PIER),
            [
                ("client.users[0].account".to_owned(), true),
                ("client.users[0]".to_owned(), true)
            ]
        );
        assert_eq!(
            diagnostics("[[client.accounts]]\nname = \"Include\"\n"),
            [("client.accounts[0].name".to_owned(), true)]
        );
        let bad = "[[client.accounts]]\nname = \"$G\"\n[[client.accounts]]\nname = \"$G\"\n";
        assert_eq!(
            diagnostics(bad),
            [
                ("client.accounts[0].name".to_owned(), true),
                ("client.accounts[1].name".to_owned(), true),
                ("client.accounts[1].name".to_owned(), true)
            ]
        );
        let sys = format!("[client]\nsystem_account = \"SYS\"\n{APP}{PIER}");
        assert_eq!(
            diagnostics(&sys),
            [("client.system_account".to_owned(), true)]
        );
        let sys_js = format!("[client]\nsystem_account = \"APP\"\n{APP}{PIER}");
        assert_eq!(
            diagnostics(&sys_js),
            [("client.system_account".to_owned(), true)]
        );
    }

    #[test]
    fn jetstream_without_limits_warns() {
        let open =
            "[[client.accounts]]\nname = \"APP\"\n[client.accounts.jetstream]\nmax_streams = 4\n";
        assert_eq!(
            diagnostics(&format!("{open}{PIER}")),
            [("client.accounts[0].jetstream".to_owned(), false)]
        );
    }

    #[test]
    fn the_provisioning_user_must_reach_the_jetstream_api() {
        let global = "[[client.users]]\nuser = \"pier\"\npassword_file = \"/p\"\n";
        assert_eq!(
            diagnostics(&format!("{APP}{global}")),
            [("client.users[0]".to_owned(), true)]
        );
        // The system account alone leaves the global account its JetStream.
        let sys_only = format!(
            "[client]\nsystem_account = \"SYS\"\n[[client.accounts]]\nname = \"SYS\"\n{global}"
        );
        assert_eq!(diagnostics(&sys_only), []);
        let replies_only =
            format!("{APP}{PIER}[client.users.permissions]\nallow_responses = true\n");
        assert_eq!(
            diagnostics(&replies_only),
            [("client.users[0]".to_owned(), true)]
        );
        assert_eq!(
            diagnostics("[provision]\nuser = \"pier\"\n"),
            [("provision.user".to_owned(), true)]
        );
        let limited = format!(
            "{APP}{PIER}[client.users.permissions]\n\
             publish = {{ allow = [\"$JS.API.STREAM.>\"] }}\n\
             subscribe = {{ allow = [\"_INBOX.>\"] }}\n"
        );
        assert_eq!(
            diagnostics(&limited),
            [("client.users[0]".to_owned(), true)]
        );
        let allowed = format!(
            "{APP}{PIER}[client.users.permissions]\n\
             publish = {{ allow = [\"$JS.API.>\"], deny = [\"logs.>\"] }}\n\
             subscribe = {{ allow = [\"_INBOX.>\"] }}\n"
        );
        assert_eq!(diagnostics(&allowed), []);
        let nkey_only = "[[client.users]]\nnkey = \"UA\"\n";
        assert_eq!(diagnostics(nkey_only), [("client.users".to_owned(), true)]);
        let named = format!("{APP}{PIER}[provision]\nuser = \"admin\"\n");
        assert_eq!(diagnostics(&named), [("provision.user".to_owned(), true)]);
    }

    #[test]
    fn permission_subjects_are_checked_with_queue_groups_on_subscribe_only() {
        let perms = format!(
            "{APP}{PIER}[[client.users]]\nuser = \"worker\"\npassword_file = \"/w\"\naccount = \"APP\"\n\
             [client.users.permissions]\n\
             publish = {{ allow = [\"jobs process\", \"ok.*\"] }}\n\
             subscribe = {{ allow = [\"jobs.process worker-group\", \"a..b\", \"q a..b\"], deny = [\"x.>.y\"] }}\n"
        );
        assert_eq!(
            diagnostics(&perms),
            [
                (
                    "client.users[1].permissions.publish.allow[0]".to_owned(),
                    true
                ),
                (
                    "client.users[1].permissions.subscribe.allow[1]".to_owned(),
                    true
                ),
                (
                    "client.users[1].permissions.subscribe.allow[2]".to_owned(),
                    true
                ),
                (
                    "client.users[1].permissions.subscribe.deny[0]".to_owned(),
                    true
                )
            ]
        );
    }
}

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! What is written about pier-tuner elsewhere holds for the binary: the exit statuses each
//! subcommand's `--help` (and so its man page) states, and the check ids the Ansible role names.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::tuner;
use pier_tuner::checks::{spec_of, SPECS};

/// The `Exit status:` paragraph of a subcommand's `--help`, as (status, meaning) pairs.
fn stated_statuses(subcommand: &str) -> Vec<(i32, String)> {
    let help = tuner([subcommand, "--help"]);
    help.expect_code(0);
    let text = help.stdout();
    let start = text
        .find("Exit status:")
        .unwrap_or_else(|| panic!("no exit statuses\n{}", help.context()))
        + "Exit status:".len();
    let paragraph = text[start..].split("\n\n").next().unwrap();
    let words: Vec<&str> = paragraph.split_whitespace().collect();
    let mut statuses: Vec<(i32, Vec<&str>)> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        // A status opens the paragraph or follows a comma: "0 printed, 1 no cores ...".
        let opens = i == 0 || words[i - 1].ends_with(',');
        match word.parse::<i32>() {
            Ok(code) if opens && (0..=3).contains(&code) => statuses.push((code, Vec::new())),
            _ => statuses.last_mut().unwrap().1.push(word),
        }
    }
    statuses
        .into_iter()
        .map(|(code, meaning)| (code, meaning.join(" ")))
        .collect()
}

/// The status whose meaning mentions `what`; exactly one may.
fn stated(statuses: &[(i32, String)], subcommand: &str, what: &str) -> i32 {
    let matching: Vec<_> = statuses.iter().filter(|(_, m)| m.contains(what)).collect();
    assert_eq!(
        matching.len(),
        1,
        "{subcommand} --help: one status should say {what:?}: {statuses:?}"
    );
    matching[0].0
}

/// An invalid pier.toml and an unreadable one exit with the statuses each subcommand's help
/// gives them (pier_cli::exit: 1 what was judged is wrong, 2 could not run).
#[test]
fn every_subcommand_exits_as_its_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, "[node]\nname = \"n\"\nport = 4222\n").unwrap();
    let missing = dir.path().join("missing.toml");
    // A tree of its own: nothing of this machine is read, and apply could write nothing real.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    for subcommand in ["check", "apply", "boot-args"] {
        let statuses = stated_statuses(subcommand);
        for (file, what, expected) in [
            (&invalid, "pier.toml is invalid", 1),
            (&missing, "pier.toml unreadable", 2),
        ] {
            let code = stated(&statuses, subcommand, what);
            assert_eq!(code, expected, "pier_cli::exit's meaning of {what:?}");
            let run = tuner([
                subcommand.as_ref(),
                "--root".as_ref(),
                root.as_os_str(),
                "--config".as_ref(),
                file.as_os_str(),
            ]);
            run.expect_code(code);
        }
    }
}

/// Every check id the pier_tuner role names (its defaults' comments, its argument specs) and
/// docs/rollout.md gives as an example is one pier-tuner declares: an allowed failure under a
/// name no check has would allow nothing and say nothing.
#[test]
fn the_ansible_role_names_only_declared_check_ids() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let categories: BTreeSet<&str> = SPECS
        .iter()
        .flat_map(|s| s.iter())
        .map(|s| s.id.split('.').next().unwrap())
        .collect();
    let mut named = Vec::new();
    for file in [
        "ansible/roles/pier_tuner/defaults/main.yml",
        "ansible/roles/pier_tuner/meta/argument_specs.yml",
        "docs/rollout.md",
    ] {
        let text = std::fs::read_to_string(repo.join(file)).unwrap();
        let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)));
        for word in words {
            let word = word.trim_end_matches('.');
            let Some((category, rest)) = word.split_once('.') else {
                continue;
            };
            if categories.contains(category) && !rest.is_empty() {
                named.push((file, word.to_owned()));
            }
        }
    }
    let defaults: Vec<_> = named
        .iter()
        .filter(|(f, _)| f.contains("defaults"))
        .collect();
    assert!(!defaults.is_empty(), "the defaults give no example id");
    for (file, id) in &named {
        assert!(
            spec_of(id).is_some(),
            "{file} names {id}, which is not a pier-tuner check id"
        );
    }
}

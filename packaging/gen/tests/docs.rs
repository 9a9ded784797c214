// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The documentation the packages ship, read as a newcomer follows it: every relative link and
//! every `page.md` it names leads somewhere in this repository, and the Ansible commands it
//! gives run as written once its setup's PATH step is done.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md and every page under docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut pages = vec![PathBuf::from("README.md")];
    let mut dirs = vec![PathBuf::from("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(repo().join(&dir)).unwrap() {
            let name = dir.join(entry.unwrap().file_name());
            if repo().join(&name).is_dir() {
                dirs.push(name);
            } else if name.extension().is_some_and(|e| e == "md") {
                pages.push(name);
            }
        }
    }
    pages.sort();
    pages
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(repo().join(&p)).unwrap();
            (p, text)
        })
        .collect()
}

/// The prose of a page: its text without fenced code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The lines of a page's fenced code blocks.
fn code_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            out.push(line);
        }
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as
/// hyphens, a repeated heading numbered.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(text).lines() {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let slug: String = heading
            .trim_start_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut candidate = slug.clone();
        let mut n = 0;
        while !out.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
    }
    out
}

/// The targets of a page's Markdown links, `[text](target)`.
fn link_targets(prose: &str) -> Vec<&str> {
    prose
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .filter(|t| !t.contains(char::is_whitespace))
        .collect()
}

/// Every relative link resolves to a file of this repository, and an anchor to a heading of
/// that page; every page named in backquotes (`lab.md`, `docs/lab.md`) exists beside the page
/// or from the repository's top (systemd.md named `shared/lab.md`, which is not here).
#[test]
fn every_link_and_named_page_is_in_the_repository() {
    let pages = pages();
    let mut broken = Vec::new();
    for (page, text) in &pages {
        let dir = page.parent().unwrap();
        let prose = prose(text);
        for target in link_targets(&prose) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target, None),
            };
            let file = if path.is_empty() {
                repo().join(page)
            } else {
                repo().join(dir).join(path)
            };
            if !file.exists() {
                broken.push(format!(
                    "{}: link to {target}: no such file",
                    page.display()
                ));
                continue;
            }
            if let Some(anchor) = anchor {
                let headings = anchors(&std::fs::read_to_string(&file).unwrap_or_default());
                if !headings.contains(anchor) {
                    broken.push(format!(
                        "{}: link to {target}: no such heading",
                        page.display()
                    ));
                }
            }
        }
        for (i, quoted) in prose.split('`').enumerate() {
            let named = i % 2 == 1
                && quoted.ends_with(".md")
                && !quoted.starts_with('/')
                && !quoted.contains(['<', '*', ' ']);
            if named && !repo().join(dir).join(quoted).exists() && !repo().join(quoted).exists() {
                broken.push(format!(
                    "{}: names {quoted}, which is not here",
                    page.display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// `ansible/setup` installs into a venv and changes no PATH, so a page that runs an Ansible
/// command bare must first put that venv's bin on PATH (rollout.md's setup does); any other
/// page calls it by its full path.
#[test]
fn ansible_commands_run_as_written() {
    let setup = std::fs::read_to_string(repo().join("ansible/setup")).unwrap();
    let venv = setup
        .lines()
        .find_map(|l| l.strip_prefix("venv=${PIER_ANSIBLE_VENV:-"))
        .and_then(|rest| rest.strip_suffix('}'))
        .expect("ansible/setup's venv");
    let export = format!("export PATH={venv}/bin:$PATH");
    let tools = [
        "ansible",
        "ansible-playbook",
        "ansible-lint",
        "ansible-galaxy",
    ];
    let mut bare = Vec::new();
    for (page, text) in pages() {
        let mut exported = false;
        for line in code_lines(&text) {
            exported |= line.trim_start().starts_with(&export);
            // The command after any `cd DIR &&` or `ip netns exec NS` prefix.
            let mut words = line.split_whitespace().peekable();
            let mut command = None;
            while let Some(word) = words.next() {
                match word {
                    "cd" => {
                        words.next();
                    }
                    "&&" => {}
                    "ip" if words.peek() == Some(&"netns") => {
                        words.next();
                        words.next();
                        words.next();
                    }
                    _ => {
                        command = Some(word);
                        break;
                    }
                }
            }
            if command.is_some_and(|c| tools.contains(&c)) && !exported {
                bare.push(format!("{}: {line}", page.display()));
            }
        }
    }
    assert!(
        bare.is_empty(),
        "Ansible run bare before `{export}`:\n{}",
        bare.join("\n")
    );
}

/// README's install step names the packages packaging/build writes for this version, where it
/// writes them (`target/packages/`, not the clone's top, where `apt install ./...` looked).
#[test]
fn the_readme_installs_the_packages_packaging_build_writes() {
    let build = std::fs::read_to_string(repo().join("packaging/build")).unwrap();
    assert!(
        build.lines().any(|l| l == "out=$target_dir/packages"),
        "packaging/build no longer writes to <target>/packages"
    );
    // Wrapped lines read as one: whitespace collapsed.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let version = env!("CARGO_PKG_VERSION");
    for expected in [
        format!("apt install ./pier_{version}-1_amd64.deb"),
        format!("dnf install ./pier-{version}-1.x86_64.rpm"),
        "copied there from `target/packages/`".to_owned(),
    ] {
        assert!(
            readme.contains(&expected),
            "README.md does not say {expected:?}"
        );
    }
}

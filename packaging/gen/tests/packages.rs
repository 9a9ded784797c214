// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The packages packaging/build makes, as the package tools see them: dpkg-deb, rpm, lintian,
//! rpmlint, and an `rpm --root` install into an empty root. The first test to run builds both
//! packages (a release build the first time; later runs reuse it).
//!
//! Needs dpkg-deb, lintian, rpm and rpmlint and the nats-server packaging/build takes by default
//! (`bash .ci/setup` installs them all).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use clap::CommandFactory;

struct Packages {
    deb: PathBuf,
    rpm: PathBuf,
}

/// The version packaging/build expects by default; the packages must say which one they carry.
const NATS_SERVER_VERSION: &str = "2.15.1";

static PACKAGES: LazyLock<Packages> = LazyLock::new(|| {
    let stdout = run(&mut Command::new(repo().join("packaging/build")));
    let path_ending = |suffix: &str| {
        stdout
            .lines()
            .find(|l| l.ends_with(suffix))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no {suffix} among packaging/build's output:\n{stdout}"))
    };
    Packages {
        deb: path_ending(".deb"),
        rpm: path_ending(".rpm"),
    }
});

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the command, fails the test with its command line and output unless it succeeds.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} could not start: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?}: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Every man page the packages must carry: one per binary and per subcommand.
fn man_pages() -> BTreeSet<String> {
    let mut pages = BTreeSet::new();
    for cli in [
        pier_broker::cli::Cli::command(),
        pier_tuner::cli::Cli::command(),
    ] {
        let name = cli.get_name().to_owned();
        pages.insert(format!("/usr/share/man/man1/{name}.1.gz"));
        for sub in cli.get_subcommands() {
            pages.insert(format!(
                "/usr/share/man/man1/{name}-{}.1.gz",
                sub.get_name()
            ));
        }
    }
    pages
}

/// path → permissions ("-rwxr-xr-x") of the regular files in the .deb, owned by root.
fn deb_files(deb: &Path) -> BTreeMap<String, String> {
    run(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert!(
                ["0/0", "root/root"].contains(&fields[1]),
                "owned by root: {l}"
            );
            let path = fields[5].trim_start_matches('.').to_owned();
            (path, fields[0].to_owned())
        })
        .collect()
}

/// path → permissions of the regular files in the .rpm, owned by root.
fn rpm_files(rpm: &Path) -> BTreeMap<String, String> {
    run(Command::new("rpm")
        .args([
            "-qp",
            "--queryformat",
            "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]",
        ])
        .arg(rpm))
    .lines()
    .filter(|l| l.starts_with('-'))
    .map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(fields[1], "root:root", "{l}");
        (fields[2].to_owned(), fields[0].to_owned())
    })
    .collect()
}

#[test]
fn deb_carries_the_appliance() {
    let files = deb_files(&PACKAGES.deb);
    for (path, mode) in [
        ("/usr/bin/pier-broker", "-rwxr-xr-x"),
        ("/usr/bin/pier-tuner", "-rwxr-xr-x"),
        ("/usr/lib/pier/nats-server", "-rwxr-xr-x"),
        ("/etc/pier/pier.toml", "-rw-r--r--"),
        ("/usr/lib/systemd/system/pier-broker.service", "-rw-r--r--"),
        ("/usr/lib/sysusers.d/pier.conf", "-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/pier-broker.conf", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/pier-broker",
            "-rw-r--r--",
        ),
        (
            "/usr/share/zsh/vendor-completions/_pier-tuner",
            "-rw-r--r--",
        ),
        (
            "/usr/share/fish/vendor_completions.d/pier-broker.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/pier/copyright", "-rw-r--r--"),
        ("/usr/share/doc/pier/LICENSE", "-rw-r--r--"),
        ("/usr/share/doc/pier/operations.md", "-rw-r--r--"),
        ("/usr/share/doc/pier/packaging.md", "-rw-r--r--"),
        (
            "/usr/share/doc/pier/examples/hk/nats-node-1.toml",
            "-rw-r--r--",
        ),
        (
            "/usr/share/doc/pier/examples/local/node-3.toml",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/pier/security/make-certs.sh", "-rw-r--r--"),
    ] {
        assert_eq!(
            files.get(path).map(String::as_str),
            Some(mode),
            "{path} in {files:#?}"
        );
    }
    for page in man_pages() {
        assert!(files.contains_key(&page), "{page} in {files:#?}");
    }

    // The unit points at its documentation; the package must carry it.
    let unit = std::fs::read_to_string(repo().join("systemd/pier-broker.service")).unwrap();
    let documentation = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Documentation="))
        .flat_map(str::split_whitespace);
    for url in documentation {
        let path = match (url.strip_prefix("file:"), url.strip_prefix("man:")) {
            (Some(file), _) => file.to_owned(),
            (_, Some(page)) => {
                let (name, section) = page.trim_end_matches(')').split_once('(').unwrap();
                format!("/usr/share/man/man{section}/{name}.{section}.gz")
            }
            _ => panic!("{url}: neither file: nor man:"),
        };
        assert!(files.contains_key(&path), "{url}: {path} not packaged");
    }
}

#[test]
fn deb_metadata_and_maintainer_scripts() {
    let deb = &PACKAGES.deb;
    let info = run(Command::new("dpkg-deb").arg("--info").arg(deb));
    assert!(info.contains(" Package: pier\n"), "{info}");
    assert!(info.contains("systemd"), "Depends on systemd:\n{info}");
    assert!(
        info.contains(&format!(
            "Bundles nats-server {NATS_SERVER_VERSION} (sha256"
        )),
        "the nats-server version in the description:\n{info}"
    );

    let field = |name: &str| run(Command::new("dpkg-deb").arg("--info").arg(deb).arg(name));
    assert_eq!(field("conffiles").trim(), "/etc/pier/pier.toml");

    let postinst = field("postinst");
    for wanted in [
        "systemd-sysusers ${DPKG_ROOT:+--root=\"$DPKG_ROOT\"} pier.conf",
        "systemd-tmpfiles --create pier-broker.conf",
        // upgrade: a running service restarts once, a stopped one stays stopped
        "deb-systemd-invoke try-restart pier-broker.service",
        "neither enabled nor started",
    ] {
        assert!(
            postinst.contains(wanted),
            "postinst lacks {wanted}:\n{postinst}"
        );
    }
    // install: neither enabled nor started
    for unwanted in [
        "deb-systemd-helper enable pier-broker.service >/dev/null || true\n\telse",
        "deb-systemd-invoke start",
    ] {
        assert!(
            !postinst.contains(unwanted),
            "postinst has {unwanted}:\n{postinst}"
        );
    }
    let sysusers = postinst.find("systemd-sysusers").unwrap();
    let tmpfiles = postinst.find("systemd-tmpfiles").unwrap();
    assert!(sysusers < tmpfiles, "the user exists before its directory");

    // remove (not upgrade) stops the service
    let prerm = field("prerm");
    assert!(
        prerm.contains("[ \"$1\" = remove ]; then\n\tdeb-systemd-invoke stop pier-broker.service"),
        "{prerm}"
    );
    // the store is never deleted, not even on purge
    let postrm = field("postrm");
    assert!(
        !postrm.lines().any(|l| l.trim_start().starts_with("rm ")),
        "{postrm}"
    );
    assert!(
        postrm.contains("deb-systemd-helper purge pier-broker.service"),
        "{postrm}"
    );
}

/// Files only Debian has a place for: its changelog and lintian's overrides.
const DEB_ONLY: [&str; 2] = [
    "/usr/share/doc/pier/changelog.Debian.gz",
    "/usr/share/lintian/overrides/pier",
];

#[test]
fn rpm_has_the_same_files_as_the_deb() {
    let deb = deb_files(&PACKAGES.deb);
    for path in DEB_ONLY {
        assert!(deb.contains_key(path), "{path} in the .deb");
    }
    // Debian and Fedora put zsh's completions in different places.
    let deb_as_rpm: BTreeMap<String, String> = deb
        .into_iter()
        .filter(|(path, _)| !DEB_ONLY.contains(&path.as_str()))
        .map(|(path, mode)| {
            let path = path.replace(
                "/usr/share/zsh/vendor-completions/",
                "/usr/share/zsh/site-functions/",
            );
            (path, mode)
        })
        .collect();
    assert_eq!(deb_as_rpm, rpm_files(&PACKAGES.rpm));
}

#[test]
fn rpm_metadata_and_scriptlets() {
    let rpm = &PACKAGES.rpm;
    let query = |args: &[&str]| run(Command::new("rpm").arg("-qp").args(args).arg(rpm));

    let info = query(&["--info"]);
    assert!(info.starts_with("Name        : pier\n"), "{info}");
    assert!(info.contains("License     : Apache-2.0"), "{info}");
    let provides = query(&["--provides"]);
    assert!(
        provides.contains(&format!("bundled(nats-server) = {NATS_SERVER_VERSION}")),
        "{provides}"
    );
    assert!(query(&["--requires"]).contains("systemd"));

    // %config(noreplace): an edited pier.toml survives upgrades
    let flags = query(&["--queryformat", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"]);
    assert!(
        flags.lines().any(|l| l == "cn /etc/pier/pier.toml"),
        "{flags}"
    );
    assert_eq!(query(&["--configfiles"]).trim(), "/etc/pier/pier.toml");

    let scripts = query(&["--scripts"]);
    for wanted in [
        "postinstall scriptlet (using /bin/sh):\nsystemd-sysusers pier.conf",
        "systemd-tmpfiles --create pier-broker.conf",
        "neither enabled nor started",
        "preuninstall scriptlet (using /bin/sh):\nif [ \"$1\" -eq 0 ]; then\n    systemctl --no-reload disable --now pier-broker.service",
        "if [ \"$1\" -ge 1 ]; then\n    systemctl try-restart pier-broker.service",
    ] {
        assert!(scripts.contains(wanted), "scriptlets lack {wanted}:\n{scripts}");
    }
    assert!(
        !scripts.contains("preset"),
        "no preset: never enabled by the package"
    );
    assert!(
        !scripts.contains("/var/lib/pier"),
        "the store is never touched"
    );
}

/// An empty root has no shell to run the scriptlets in, so they are skipped there; what they
/// do is checked above and on a lab host.
#[test]
fn rpm_installs_into_an_empty_root() {
    let root = tempfile::tempdir().unwrap();
    run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .arg("--initdb"));
    run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .args(["--install", "--nodeps", "--noscripts"])
        .arg(&PACKAGES.rpm));
    let installed = run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .args(["--query", "--list", "pier"]));
    for path in [
        "/usr/bin/pier-broker",
        "/etc/pier/pier.toml",
        "/usr/lib/pier/nats-server",
    ] {
        assert!(
            installed.lines().any(|l| l == path),
            "{path} in {installed}"
        );
        assert!(root.path().join(&path[1..]).is_file(), "{path} on disk");
    }
    run(Command::new("rpm").arg("--root").arg(root.path()).args([
        "--verify",
        "--nodeps",
        "--noscripts",
        "pier",
    ]));
}

/// lintian finds no error, and every warning it still reports is explained in docs/packaging.md.
#[test]
fn lintian_has_no_errors_and_every_warning_is_explained() {
    let output = Command::new("lintian")
        .args(["--no-cfg", "--display-info", "--tag-display-limit", "0"])
        .arg(&PACKAGES.deb)
        .output()
        .expect("lintian (apt-get install lintian)");
    let report = String::from_utf8_lossy(&output.stdout);
    // lintian exits 0 or 1 (tags at or above the fail level) when it has checked the package;
    // anything else, or no report about pier at all, means it did not run.
    assert!(
        matches!(output.status.code(), Some(0 | 1)) && report.contains("pier: "),
        "lintian did not check the package ({:?}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !report.lines().any(|l| l.starts_with("E: ")),
        "lintian errors:\n{report}"
    );
    assert_tags_explained("lintian", &report, &["W: "]);
}

/// rpmlint runs, and every finding it reports is triaged in docs/packaging.md.
#[test]
fn rpmlint_findings_are_triaged() {
    let output = Command::new("rpmlint")
        .arg(&PACKAGES.rpm)
        .output()
        .expect("rpmlint (apt-get install rpmlint)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("1 packages and 0 specfiles checked"),
        "rpmlint did not check the package:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_tags_explained("rpmlint", &report, &[" E: ", " W: "]);
}

/// Each report line with one of the markers ("W: ", " E: ") names a tag that docs/packaging.md
/// mentions in backquotes.
fn assert_tags_explained(tool: &str, report: &str, markers: &[&str]) {
    let docs = std::fs::read_to_string(repo().join("docs/packaging.md")).unwrap();
    for line in report.lines() {
        let Some((_, rest)) = markers.iter().find_map(|m| line.split_once(m)) else {
            continue;
        };
        let rest = rest.trim_start_matches("pier: ");
        let tag = rest.split_whitespace().next().unwrap_or_default();
        assert!(
            docs.contains(&format!("`{tag}`")),
            "{tool} reports `{tag}`, which docs/packaging.md does not explain:\n{line}\n\n{report}"
        );
    }
}

/// The pier.toml the package installs is valid as it stands, without a warning, for the
/// nats-server the package carries.
#[test]
fn default_config_is_valid_for_the_packaged_server() {
    let stage = PACKAGES
        .deb
        .parent()
        .unwrap()
        .join("../release/pier-package");
    run(Command::new(stage.join("bin/pier-broker"))
        .args(["validate", "--deny-warnings", "--config"])
        .arg(repo().join("packaging/common/pier.toml"))
        .arg("--nats-server")
        .arg(stage.join("nats-server")));
}

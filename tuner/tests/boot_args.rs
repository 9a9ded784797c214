// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `boot-args`: the kernel command line for the configured cores, never applied by the tool.

mod common;

use common::{fixture, tuner};

#[test]
fn prints_the_command_line_and_how_to_install_it() {
    for host in ["tuned", "seed"] {
        let root = fixture(host);
        let run = tuner([
            "boot-args".as_ref(),
            "--root".as_ref(),
            root.as_os_str(),
            "--config".as_ref(),
            root.join("pier.toml").as_os_str(),
        ]);
        run.expect_code(0);
        let text = run.stdout();
        assert!(
            text.starts_with(
                "isolcpus=managed_irq,domain,2-7 nohz_full=2-7 rcu_nocbs=2-7 irqaffinity=0-1\n"
            ),
            "{}",
            run.context()
        );
        assert!(text.contains("/etc/default/grub.d/pier.cfg") && text.contains("update-grub"));
        assert!(
            text.contains("grubby --update-kernel=ALL --args=\"isolcpus=managed_irq,domain,2-7")
        );
    }
}

#[test]
fn auto_without_isolated_cores_explains_that_a_list_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&fixture("seed"), dir.path());
    let root = dir.path();
    std::fs::write(root.join("proc/cmdline"), "BOOT_IMAGE=/vmlinuz ro quiet\n").unwrap();
    std::fs::write(root.join("sys/devices/system/cpu/isolated"), "\n").unwrap();
    let run = tuner([
        "boot-args".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--config".as_ref(),
        root.join("pier.toml").as_os_str(),
    ]);
    run.expect_code(1);
    let text = run.stdout();
    assert!(
        text.contains("isolates none") && text.contains("cpus = \"2-7\""),
        "{}",
        run.context()
    );
    assert!(!text.contains("isolcpus="), "{}", run.context());
}

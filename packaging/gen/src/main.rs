//! pier-gen: writes the man pages and shell completions that pier's packages install, from the
//! same clap definitions the binaries parse, so they cannot drift from the command lines.
//!
//! Layout under OUT_DIR (the package asset lists in broker/Cargo.toml take these by glob, so a
//! new binary needs no new asset line for them):
//!   man/<binary>.1, man/<binary>-<subcommand>.1    one page per binary and per subcommand
//!   completions/bash/<binary>                      bash-completion loads it by command name
//!   completions/zsh/_<binary>
//!   completions/fish/<binary>.fish

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use clap_complete::Shell;

/// Every binary the packages ship, by its command line.
const BINARIES: &[fn() -> clap::Command] = &[
    pier_broker::cli::Cli::command,
    pier_tuner::cli::Cli::command,
    pier_bench::cli::Cli::command,
];

/// Write pier's man pages and bash, zsh and fish completions.
#[derive(Debug, Parser)]
#[command(name = "pier-gen", version, about, long_about = None)]
struct Args {
    /// Where to write man/ and completions/ (created if missing).
    #[arg(value_name = "OUT_DIR")]
    out_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for binary in BINARIES {
        let command = binary();
        write_man_pages(command.clone(), &args.out_dir.join("man"))?;
        write_completions(command, &args.out_dir.join("completions"))?;
    }
    Ok(())
}

/// The binary's page and one per subcommand, named `<binary>-<subcommand>.1` as in git's pages.
fn write_man_pages(command: clap::Command, dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = command.get_name().to_owned();
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("writing the man pages of {name} to {}", dir.display()))
}

fn write_completions(mut command: clap::Command, dir: &Path) -> anyhow::Result<()> {
    let name = command.get_name().to_owned();
    for (shell, file_name) in [
        (Shell::Bash, name.clone()),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let shell_dir = dir.join(shell.to_string());
        fs::create_dir_all(&shell_dir)
            .with_context(|| format!("creating {}", shell_dir.display()))?;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, &name, &mut script);
        let path = shell_dir.join(file_name);
        fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

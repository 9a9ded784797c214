//! Exit statuses, and how a pier binary ends.
//!
//! One meaning per status in every binary and subcommand, so that a unit file, a script or an
//! Ansible task can tell "pier.toml is wrong" from "pier could not run at all":
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done: valid, applied, answered |
//! | 1 | what was judged is wrong: invalid pier.toml, a failed check, a refused change, messages lost |
//! | 2 | could not run: unreadable file, missing binary, unreachable server, bad arguments |
//! | 3 | `pier-broker run` only: nats-server exited on its own |

use std::process::ExitCode;

pub const OK: u8 = 0;
/// What was judged is wrong: an invalid pier.toml in every binary, a failed check, a refused change.
pub const FAILED: u8 = 1;
pub const CANNOT_RUN: u8 = 2;
/// `pier-broker run`: nats-server exited by itself, so systemd's `Restart=` applies.
pub const SERVER_EXITED: u8 = 3;

/// Runs a binary's body and turns its outcome into the process's exit status: an error is printed
/// once, with its chain of causes, and exits [`CANNOT_RUN`]; an error caused by a closed stdout
/// (`pier-broker status | head -1`) ends the process quietly with success, as ripgrep does,
/// since whoever closed the pipe has all they wanted.
pub fn main(body: impl FnOnce() -> anyhow::Result<ExitCode>) -> ExitCode {
    match body() {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(CANNOT_RUN)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_closed_pipe_anywhere_in_the_chain_is_quiet_success() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let wrapped = Err::<(), _>(pipe).context("writing the report");
        let code = main(|| {
            wrapped?;
            Ok(ExitCode::from(FAILED))
        });
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[test]
    fn other_errors_cannot_run() {
        let code = main(|| Err(anyhow::anyhow!("no such file")));
        assert_eq!(code, ExitCode::from(CANNOT_RUN));
    }
}

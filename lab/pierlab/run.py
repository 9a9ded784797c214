"""Running the machine's tools, with errors that say what failed."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

log = logging.getLogger("pierlab")


class LabError(Exception):
    """Something the lab could not do; the message says what and why."""


def run(
    argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    log.debug("run: %s", " ".join(argv))
    try:
        done = subprocess.run(
            list(argv),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError as e:
        raise LabError(f"{argv[0]}: not installed (run lab/setup)") from e
    except subprocess.TimeoutExpired as e:
        raise LabError(f"{' '.join(argv)}: no answer in {timeout:.0f}s") from e
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {done.returncode}: {(done.stderr or done.stdout).strip()}")
    return done


def write_text(path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)

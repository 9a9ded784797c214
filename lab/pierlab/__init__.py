"""pier's lab: hosts nats-node-1..5 with their own network, root, systemd and store on one machine.

Use `Lab` from Python, the fixtures in `pierlab.fixtures` from pytest, or the `pier-lab` command."""

from .lab import Lab
from .run import LabError

__all__ = ["Lab", "LabError"]

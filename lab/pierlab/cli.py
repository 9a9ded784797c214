"""pier-lab: the command line over the Lab API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from . import layout
from .lab import Lab
from .run import LabError

TESTS = Path(__file__).resolve().parent.parent / "tests"
PYTEST = "/opt/pier-venv/bin/pytest"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pier-lab", description="pier's lab: bare-metal hosts with real systemd on one machine"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every command the harness runs")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help: str, *args: tuple) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        for flags, kwargs in args:
            c.add_argument(*flags, **kwargs)
        return c

    host = (("host",), {"metavar": "HOST", "help": "nats-node-N"})
    cmd(
        "up",
        "boot the lab (idempotent; adds hosts to a smaller lab)",
        (("--hosts",), {"type": int, "default": layout.DEFAULT_HOSTS, "help": "1..5 (default 3)"}),
    )
    cmd(
        "down",
        "remove everything of the lab, check that nothing is left, say what was removed",
        (("--purge",), {"action": "store_true", "help": "also remove the cached base layer"}),
    )
    cmd(
        "status",
        "hosts, their systemd state and faults (JSON with --json)",
        (("--json",), {"action": "store_true"}),
    )
    cmd(
        "exec",
        "run a command as root in a host",
        host,
        (("argv",), {"nargs": argparse.REMAINDER, "metavar": "-- CMD"}),
    )
    cmd(
        "ssh",
        "ssh into a host from ctl, as Ansible does",
        host,
        (("argv",), {"nargs": argparse.REMAINDER, "metavar": "CMD"}),
    )
    cmd(
        "ctl",
        "run a command in the control namespace",
        (("argv",), {"nargs": argparse.REMAINDER, "metavar": "-- CMD"}),
    )
    cmd("logs", "the host's journal of this boot, or one unit's", host, (("unit",), {"nargs": "?"}))
    cmd(
        "kill",
        "signal every process of a host with this name",
        host,
        (("process",), {}),
        (("signal",), {"nargs": "?", "default": "TERM"}),
    )
    cmd("freeze", "freeze every process of a host (a hung machine)", host)
    cmd("thaw", "undo freeze", host)
    cmd("crash", "every process of a host dies at once (disks kept)", host)
    cmd("boot", "boot a crashed host on the same disks", host)
    cmd(
        "power-cut",
        "the hosts lose power at one instant: their stores keep only what reached the device",
        (("hosts",), {"nargs": "+", "metavar": "HOST"}),
    )
    store_glob = (("glob",), {"metavar": "GLOB", "help": "files of the store, relative to /var/lib/pier"})
    cmd(
        "bitflip",
        "flip bits of a stopped host's store files, at random places; prints where",
        host,
        store_glob,
        (("--count",), {"type": int, "default": 1, "help": "bits to flip (default 1)"}),
        (("--seed",), {"type": int, "help": "seed of the random places, to repeat a run"}),
    )
    cmd(
        "truncate",
        "cut a stopped host's store files (default: to half their size)",
        host,
        store_glob,
        (("--size",), {"type": int, "help": "bytes to keep"}),
        (("--newest",), {"action": "store_true", "help": "only the most recently modified match"}),
    )
    cmd("keep", "copy a stopped host's store files aside, for rollback", host, store_glob)
    cmd("rollback", "put the kept copies back over a stopped host's store files", host)
    cmd(
        "partition",
        "cut a host off from peers (hosts or ctl; default all), both ways",
        host,
        (("peers",), {"nargs": "*", "metavar": "PEER"}),
    )
    cmd("heal", "remove partitions (of one host, default all)", (("host",), {"nargs": "?"}))
    cmd("loss", "drop PERCENT of a host's packets each way (0 undoes)", host, (("percent",), {"type": int}))
    cmd("fill", "fill a host's store filesystem", host)
    cmd("unfill", "undo fill", host)
    cmd("reset", "undo every fault on every host")
    cmd(
        "selftest",
        "run the lab's own tests (boots and removes a lab)",
        (("pytest_args",), {"nargs": argparse.REMAINDER}),
    )
    return p


def strip_dashes(argv: list[str]) -> list[str]:
    return argv[1:] if argv[:1] == ["--"] else argv


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return dispatch(args)
    except LabError as e:
        print(f"pier-lab {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "selftest":
        started = time.monotonic()
        if not os.access(PYTEST, os.X_OK):
            raise LabError(f"{PYTEST} not found: run lab/setup")
        code = subprocess.call([PYTEST, str(TESTS), *strip_dashes(args.pytest_args)])
        print(f"pier-lab selftest: {time.monotonic() - started:.0f}s")
        return code
    lab = Lab()
    c = args.command
    if c == "up":
        lab.up(args.hosts)
    elif c == "down":
        cleaned = lab.down(args.purge)
        for line in cleaned:
            print(f"lab: {line}")
        print("lab: down; nothing left (no process, mount, loop device, namespace, cgroup, route)")
    elif c == "status":
        status = lab.status()
        if args.json:
            print(json.dumps(status, indent=2))
        elif not status["up"]:
            print("lab: down" + "".join(f"\n  left over: {x}" for x in status["leftovers"]))
        else:
            for name, h in status["hosts"].items():
                faults = []
                if h["partitioned_from"]:
                    faults.append("partitioned from " + ",".join(h["partitioned_from"]))
                if h["loss_percent"]:
                    faults.append(f"loss {h['loss_percent']}%")
                if h["store_full"]:
                    faults.append("store full")
                print(f"{name}\t{h['address']}\tpid {h['pid']}\t{h['systemd']}\t{' '.join(faults)}")
    elif c in ("exec", "ctl"):
        argv = strip_dashes(args.argv)
        if not argv:
            raise LabError("no command given (exec HOST -- CMD...)")
        full = lab.exec_argv(args.host, argv) if c == "exec" else lab.ctl_argv(argv)
        os.execvp(full[0], full)
    elif c == "ssh":
        full = lab.ssh_argv(args.host)
        full += strip_dashes(args.argv)
        os.execvp(full[0], full)
    elif c == "logs":
        sys.stdout.write(lab.logs(args.host, args.unit))
    elif c == "kill":
        pids = lab.kill(args.host, args.process, args.signal)
        print(f"lab: sent SIG{args.signal.upper().removeprefix('SIG')} to {pids}")
    elif c == "partition":
        print(f"lab: {args.host} cut off from {', '.join(lab.partition(args.host, args.peers))}")
    elif c == "loss":
        lab.loss(args.host, args.percent)
    elif c == "fill":
        print(f"lab: {args.host}: wrote {lab.fill(args.host) >> 20} MiB, store full")
    elif c == "heal":
        lab.heal(args.host)
    elif c == "boot":
        lab.boot(args.host)
    elif c == "power-cut":
        lab.power_cut(args.hosts)
        print(f"lab: power cut on {', '.join(args.hosts)}; `pier-lab boot HOST` brings each back")
    elif c == "bitflip":
        for f in lab.bitflip(args.host, args.glob, args.count, args.seed):
            print(f"lab: {args.host}: flipped bit {f['bit']} of byte {f['offset']} of {f['path']}")
    elif c == "truncate":
        for f in lab.truncate(args.host, args.glob, args.size, args.newest):
            print(f"lab: {args.host}: {f['path']} cut from {f['from']} to {f['to']} bytes")
    elif c == "keep":
        for path in lab.keep(args.host, args.glob):
            print(f"lab: {args.host}: kept {path}")
    elif c == "rollback":
        for path in lab.rollback(args.host):
            print(f"lab: {args.host}: rolled back {path}")
    elif c == "reset":
        lab.reset_faults()
    else:
        getattr(lab, c)(args.host)
    return 0

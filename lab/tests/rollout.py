"""The pier cluster as the Ansible rollout makes it on the lab's three hosts, shared by the tests
that deploy it (test_ansible) and those that break it (test_cluster_faults): the playbooks run
from ctl, the .deb and pier-bench they use, and what the nodes say about themselves."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from pierlab import Lab, LabError, layout

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
VENV = Path(os.environ.get("PIER_ANSIBLE_VENV", "/opt/pier-ansible"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
NODES = ["nats-node-1", "nats-node-2", "nats-node-3"]
CONFIG = "/etc/pier/pier.toml"
UNIT = "pier-broker.service"
WHOLE_TIMEOUT = 120.0
NO_ANSWER = "no answer (the host is hung or down)"
ADDRESS = {n: f"203.0.113.1{i}" for i, n in enumerate(NODES, start=1)}
SERVERS = ",".join(f"tls://{ADDRESS[n]}:4222" for n in NODES)
# Where the rollout puts the certificates, key and passwords on the hosts (docs/security.md).
TLS_DIR = "/etc/pier/tls"
# The controller's CA, certificates and passwords, which the rollout makes once (the role's
# pier_broker_secrets_dir): as long-lived as the lab, so every module's rollout finds the same.
SECRETS = layout.STATE_DIR / "secrets"

# What the lab cannot be, and the only departures from inventories/hk: the lab's hosts share the
# machine's two cores (cpus "auto", not "2-7"), /proc/sys is read-only there (no `pier-tuner
# apply`), the store is a 256 MiB loop device and the hosts inherit the machine's open-files
# limit (those checks may fail). A 2 s lame-duck grace period keeps the rollouts short.
LAB_VARS = {
    "pier_broker_cpus": "auto",
    "pier_tuner_apply": False,
    "pier_tuner_allowed_failures": ["storage.rotational", "storage.free_space", "limits.nofile"],
    "pier_broker_secrets_dir": str(SECRETS),
    "pier_broker_limits": {
        "max_payload": "1MiB",
        "max_connections": 65536,
        "write_deadline": "10s",
        "lame_duck_duration": "30s",
        "lame_duck_grace_period": "2s",
    },
}


@functools.cache
def package() -> Path:
    """pier's .deb: PIER_DEB, or the one packaging/build makes from this clone (it also builds
    pier-bench in release)."""
    if os.environ.get("PIER_DEB"):
        return Path(os.environ["PIER_DEB"])
    done = subprocess.run([str(REPO / "packaging/build")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"packaging/build: {done.stdout}\n{done.stderr}"
    return Path(next(line for line in done.stdout.splitlines() if line.endswith(".deb")))


def bench_binary() -> Path:
    for profile in ("release", "debug"):
        path = TARGET / profile / "pier-bench"
        if path.exists():
            return path
    raise AssertionError(f"no pier-bench in {TARGET}: cargo build --release -p pier-bench")


def mixed_load(seconds: float, rate: int, *extra: str) -> list[str]:
    """The seed's two kinds of traffic from pier-bench, counted as issue 12 asks: push on
    jobs.process and pull on LOGS (its own consumer), publishes retried under their message id
    for 60 s (LOGS keeps ids for 2 minutes), JSON on stdout, over TLS as pier's own user (it
    makes and deletes its consumer). Run it in ctl."""
    return [
        str(bench_binary()),
        "bench",
        "--servers",
        SERVERS,
        "--tls-ca",
        str(SECRETS / "ca.pem"),
        "--user",
        "pier",
        "--password-file",
        str(SECRETS / "pier.pass"),
        "--mode",
        "mixed",
        "--duration",
        f"{seconds:.0f}s",
        "--rate",
        str(rate),
        "--consumer",
        "bench-worker",
        "--retry-publish",
        "60s",
        "--format",
        "json",
        *extra,
    ]


def say(request: pytest.FixtureRequest, line: str) -> None:
    """A phase's time on the terminal as it happens, past pytest's capture."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        terminal.write_line(line)


class Playbooks:
    """ansible-playbook in ctl with the hk inventory and the lab's connection settings."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab = lab
        self.tmp = tmp
        self.vars = tmp / "lab-vars.json"
        self.vars.write_text(json.dumps({**LAB_VARS, "pier_package_file": str(package())}))

    def run(
        self,
        playbook: str,
        *args: str,
        extra: dict | None = None,
        check: bool = True,
        limit: list[str] = NODES,
    ):
        argv = [
            "env",
            f"ANSIBLE_CONFIG={ANSIBLE / 'ansible.cfg'}",
            f"TMPDIR={self.tmp}",
            "ANSIBLE_NOCOLOR=1",
            f"ANSIBLE_LOCAL_TEMP={self.tmp}",
            f"HOME={self.tmp}",
            str(VENV / "bin" / "ansible-playbook"),
            "-i",
            str(ANSIBLE / "inventories" / "hk"),
            "-i",
            "/run/pier-lab/inventory.ini",
            "--limit",
            ",".join(limit),
            "-e",
            f"@{self.vars}",
            "-e",
            f"pier_broker_journal_dir={self.tmp / 'journal'}",
            *(["-e", json.dumps(extra)] if extra else []),
            str(ANSIBLE / playbook),
            *args,
        ]
        started = time.monotonic()
        done = subprocess.run(
            self.lab.ctl_argv(argv), capture_output=True, text=True, timeout=600, cwd=ANSIBLE
        )
        done.seconds = time.monotonic() - started
        (self.tmp / f"{playbook}.{int(started)}.log").write_text(done.stdout + done.stderr)
        if check:
            tail = f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
            assert done.returncode == 0, f"{playbook} {args} failed:\n{tail}"
        return done


def recap(output: str, hosts: list[str] = NODES) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host → counters (ok, changed, failed, ...), one for each of `hosts`."""
    found = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counters)}
    assert set(found) == set(hosts), f"no recap for exactly {hosts}:\n{output[-3000:]}"
    return found


def status(lab: Lab, node: str) -> dict:
    done = lab.exec(node, ["pier-broker", "status", "--config", "/etc/pier/pier.toml", "--format", "json"])
    return json.loads(done.stdout)


def unit_events(lab: Lab, node: str) -> list[tuple[float, str]]:
    """systemd's start/stop/reload messages for pier-broker on the node: (time, message)."""
    done = lab.exec(node, ["journalctl", "-b", "-u", "pier-broker", "-o", "json", "--no-pager"])
    events = []
    for line in done.stdout.splitlines():
        entry = json.loads(line)
        message = entry.get("MESSAGE", "")
        by_systemd = entry.get("_PID") == "1" and isinstance(message, str)
        if by_systemd and re.match(r"(Starting|Started|Stopping|Stopped|Reloading|Reloaded) ", message):
            events.append((int(entry["__REALTIME_TIMESTAMP"]) / 1e6, message.split()[0]))
    return events


def server_pids(lab: Lab) -> dict[str, str]:
    return {n: lab.exec(n, ["pgrep", "-x", "nats-server"]).stdout.strip() for n in NODES}


def varz(lab: Lab, node: str) -> dict:
    code = "import json,urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8222/varz').read().decode())"
    return json.loads(lab.exec(node, ["python3", "-c", code]).stdout)


def meta_leader(lab: Lab) -> str:
    leader = status(lab, NODES[0])["node"]["jetstream"]["meta_leader"]
    assert leader in NODES, f"no meta leader: {leader}"
    return leader


def rolled_out(
    request: pytest.FixtureRequest, lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> Playbooks:
    """The playbooks of a whole pier cluster: the one an earlier module (test_ansible) left, when
    every node says it is whole, else one rolled out now on a fresh lab."""
    tmp = tmp_path_factory.mktemp("rollout")
    os.chmod(tmp, 0o755)  # as test_ansible's playbooks fixture
    playbooks = Playbooks(lab, tmp)
    if len(lab.hosts()) < 3 or not all(ready(lab, n) for n in NODES):
        request.getfixturevalue("fresh_lab")
        playbooks.run("site.yml")
    wait_whole(lab)
    return playbooks


def view(lab: Lab, node: str) -> dict:
    """`pier-broker status --format json` on the node; empty if it gave none."""
    argv = ["pier-broker", "status", "--config", CONFIG, "--format", "json", "--timeout", "2"]
    try:
        return json.loads(lab.exec(node, argv, check=False, timeout=10).stdout)
    except (LabError, json.JSONDecodeError):
        return {}


def ready(lab: Lab, node: str) -> bool:
    return whole(view(lab, node))


def whole(shown: dict) -> bool:
    node = shown.get("node") or {}
    return bool(
        shown.get("cluster_formed")
        and node.get("healthy")
        and (node.get("routes") or {}).get("all_routed")
        and any(s.get("name") == "LOGS" for s in node.get("streams") or [])
    )


def wait_whole(lab: Lab, timeout: float = WHOLE_TIMEOUT) -> float:
    """Seconds until every node says it is healthy, routed to every peer, with LOGS current."""
    started = time.monotonic()
    while not all(ready(lab, n) for n in NODES):
        assert time.monotonic() - started < timeout, (
            f"the cluster was not whole again after {timeout:.0f}s: "
            + "; ".join(f"{n}: {said_by_status(lab, n)}" for n in NODES)
            + "".join(journal_tail(lab, n) for n in NODES if not ready(lab, n))
        )
        time.sleep(0.5)
    return time.monotonic() - started


def journal_tail(lab: Lab, node: str, lines: int = 25) -> str:
    """The last lines pier-broker's unit logged on a node, for a failure's message."""
    argv = ["journalctl", "-u", UNIT, "-n", str(lines), "--no-pager", "-o", "short-monotonic"]
    try:
        done = lab.exec(node, argv, check=False, timeout=15)
    except LabError as e:
        return f"\n--- {node}: no journal ({e})"
    return f"\n--- {node}: journalctl -u {UNIT}\n{done.stdout}"


def said_by_status(lab: Lab, node: str) -> str:
    """pier-broker status's text on the node, first lines; or why it gave none."""
    try:
        done = lab.exec(
            node,
            ["timeout", "5", "pier-broker", "status", "--config", CONFIG, "--timeout", "2"],
            check=False,
            timeout=10,
        )
    except LabError:
        return NO_ANSWER
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return " / ".join(lines[:3]) or f"nothing (exit {done.returncode})"

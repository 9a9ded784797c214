"""The Ansible roles and playbooks (ansible/) against the lab's three hosts, over SSH from ctl.

One scenario, in order: bare hosts → a READY cluster; a second run changes nothing; check mode
shows a change and makes none; a reloadable change reloads; a non-reloadable one rolls node by
node, the meta leader last; a rolling restart under load loses no acknowledged message.

Needs: the lab (root, namespaces), `bash ansible/setup` (ansible-core in /opt/pier-ansible),
and the Rust toolchain (the tests build pier's .deb and pier-bench with `packaging/build`, or take
the .deb PIER_DEB names). Without any of them the tests fail; they never skip.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from pierlab import Lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
VENV = Path(os.environ.get("PIER_ANSIBLE_VENV", "/opt/pier-ansible"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
NODES = ["nats-node-1", "nats-node-2", "nats-node-3"]
SERVERS = ",".join(f"nats://203.0.113.1{i}:4222" for i in (1, 2, 3))

# What the lab cannot be, and the only departures from inventories/hk: the lab's hosts share the
# machine's two cores (cpus "auto", not "2-7"), /proc/sys is read-only there (no `pier-tuner
# apply`), the store is a 256 MiB loop device and the hosts inherit the machine's open-files
# limit (those checks may fail). A 2 s lame-duck grace period keeps the rollouts short.
LAB_VARS = {
    "pier_broker_cpus": "auto",
    "pier_tuner_apply": False,
    "pier_tuner_allowed_failures": ["storage.rotational", "storage.free_space", "limits.nofile"],
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

    def run(self, playbook: str, *args: str, extra: dict | None = None, check: bool = True):
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
            ",".join(NODES),
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


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host → counters (ok, changed, failed, ...)."""
    found = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counters)}
    assert set(found) == set(NODES), f"no recap for every node:\n{output[-3000:]}"
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


@pytest.fixture(scope="module")
def playbooks(fresh_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Playbooks:
    assert (VENV / "bin" / "ansible-playbook").exists(), f"no ansible in {VENV}: bash ansible/setup"
    lab = fresh_lab
    for node in NODES:
        installed = lab.exec(node, ["dpkg-query", "-W", "pier"], check=False)
        assert installed.returncode != 0, (
            f"{node} is not a bare host (pier is installed): lab/pier-lab down, then run again"
        )
    tmp = tmp_path_factory.mktemp("ansible")
    os.chmod(tmp, 0o755)
    return Playbooks(lab, tmp)


def test_bare_hosts_become_a_ready_cluster(playbooks: Playbooks, lab: Lab, request) -> None:
    done = playbooks.run("site.yml")
    say(request, f"ansible: bare hosts → READY cluster in {done.seconds:.1f}s")
    started_together = re.search(r"new \(started together\): ([^;]*);", " ".join(done.stdout.split()))
    assert started_together and sorted(started_together.group(1).split(", ")) == NODES, done.stdout
    for node in NODES:
        view = status(lab, node)
        assert view["cluster_formed"], view
        assert view["node"]["healthy"], view
        assert view["node"]["routes"]["all_routed"], view
        streams = {s["name"]: s for s in view["node"]["streams"]}
        assert "LOGS" in streams, view
        assert "pull-worker" in [c["name"] for c in streams["LOGS"]["consumers"]], view
        # The file is the seed's, from the inventory: docs/examples/hk/ but for the lab's cores
        # and lame-duck grace period.
        written = lab.exec(node, ["cat", "/etc/pier/pier.toml"]).stdout
        example = (REPO / "docs" / "examples" / "hk" / f"{node}.toml").read_text()
        example = example.replace('cpus = "2-7"', 'cpus = "auto"').replace(
            'lame_duck_grace_period = "10s"', 'lame_duck_grace_period = "2s"'
        )
        assert meaningful(written) == meaningful(example)
    leader = status(lab, NODES[0])["node"]["streams"][0]["leader"]
    assert status(lab, leader)["node"]["streams"][0]["replicas"] == 3


def meaningful(toml: str) -> list[str]:
    return [line for line in toml.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_a_second_run_changes_nothing(playbooks: Playbooks, lab: Lab, request) -> None:
    events = {n: unit_events(lab, n) for n in NODES}
    done = playbooks.run("site.yml")
    say(request, f"ansible: second run in {done.seconds:.1f}s")
    for host, counters in recap(done.stdout).items():
        assert counters["changed"] == 0, f"{host} changed on a second run:\n{done.stdout[-4000:]}"
    assert {n: unit_events(lab, n) for n in NODES} == events


def test_check_mode_shows_a_change_and_makes_none(playbooks: Playbooks, lab: Lab) -> None:
    before = {n: lab.exec(n, ["sha256sum", "/etc/pier/pier.toml"]).stdout for n in NODES}
    pids = server_pids(lab)
    limits = {**LAB_VARS["pier_broker_limits"], "max_payload": "2MiB"}
    done = playbooks.run(
        "site.yml",
        "--check",
        "--diff",
        extra={"pier_broker_limits": limits, "pier_broker_memory_limit": "1GiB"},
    )
    assert '-max_payload = "1MiB"' in done.stdout and '+max_payload = "2MiB"' in done.stdout
    assert '+memory_limit = "1GiB"' in done.stdout
    assert {n: lab.exec(n, ["sha256sum", "/etc/pier/pier.toml"]).stdout for n in NODES} == before
    assert server_pids(lab) == pids


def test_a_reloadable_change_reloads(playbooks: Playbooks, lab: Lab, request) -> None:
    pids = server_pids(lab)
    events = {n: unit_events(lab, n) for n in NODES}
    limits = {**LAB_VARS["pier_broker_limits"], "max_payload": "2MiB"}
    done = playbooks.run("site.yml", extra={"pier_broker_limits": limits})
    say(request, f"ansible: reload in {done.seconds:.1f}s")
    assert server_pids(lab) == pids, "a reloadable change restarted nats-server"
    for node in NODES:
        new = [kind for _, kind in unit_events(lab, node)[len(events[node]) :]]
        assert new == ["Reloading", "Reloaded"], f"{node}: {new}"
        assert varz(lab, node)["max_payload"] == 2 * 1024 * 1024
    LAB_VARS["pier_broker_limits"] = limits
    playbooks.vars.write_text(json.dumps({**LAB_VARS, "pier_package_file": str(package())}))


def assert_one_at_a_time(lab: Lab, since: dict[str, int], last: str) -> list[tuple[float, float, str]]:
    """Each node stopped and started again before the next stopped; `last` went last. Returns
    (stopped, started, node) in order."""
    spans = []
    for node in NODES:
        new = unit_events(lab, node)[since[node] :]
        stops = [t for t, kind in new if kind == "Stopping"]
        starts = [t for t, kind in new if kind == "Started"]
        assert len(stops) == 1 and len(starts) == 1, f"{node}: {new}"
        spans.append((stops[0], starts[0], node))
    spans.sort()
    for (_, started, node), (stopped, _, following) in zip(spans, spans[1:], strict=False):
        assert started < stopped, f"{following} stopped before {node} was up again: {spans}"
    assert spans[-1][2] == last, f"the meta leader {last} was not last: {spans}"
    return spans


def test_a_non_reloadable_change_rolls_node_by_node(playbooks: Playbooks, lab: Lab, request) -> None:
    leader = meta_leader(lab)
    since = {n: len(unit_events(lab, n)) for n in NODES}
    done = playbooks.run("site.yml", extra={"pier_broker_memory_limit": "1GiB"})
    say(request, f"ansible: rolling change (memory_limit) in {done.seconds:.1f}s, meta leader {leader} last")
    assert_one_at_a_time(lab, since, leader)
    for node in NODES:
        pid = lab.exec(node, ["pgrep", "-x", "nats-server"]).stdout.strip()
        environ = lab.exec(node, ["cat", f"/proc/{pid}/environ"]).stdout.split("\0")
        assert f"GOMEMLIMIT={1024**3}" in environ
    LAB_VARS["pier_broker_memory_limit"] = "1GiB"
    playbooks.vars.write_text(json.dumps({**LAB_VARS, "pier_package_file": str(package())}))


def test_a_rolling_restart_under_load_loses_no_acknowledged_message(
    playbooks: Playbooks, lab: Lab, request
) -> None:
    leader = meta_leader(lab)
    since = {n: len(unit_events(lab, n)) for n in NODES}
    load_started, load_seconds = time.time(), 75
    bench = subprocess.Popen(
        lab.ctl_argv(
            [
                str(bench_binary()),
                "bench",
                "--servers",
                SERVERS,
                "--mode",
                "mixed",
                "--duration",
                f"{load_seconds}s",
                "--rate",
                "200",
                "--consumer",
                "bench-worker",
                "--format",
                "json",
            ]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        done = playbooks.run("rolling-restart.yml")
        out, err = bench.communicate(timeout=180)
    finally:
        if bench.poll() is None:
            bench.kill()
    say(request, f"ansible: rolling restart under load in {done.seconds:.1f}s")
    spans = assert_one_at_a_time(lab, since, leader)
    assert spans[-1][1] < load_started + load_seconds, "the load ended before the last node was back"
    report = json.loads(out)
    pull = next(w for w in report["workloads"] if w["kind"] == "pull")
    push = next(w for w in report["workloads"] if w["kind"] == "push")
    acked = pull["pull"]["publish_acks"]
    say(
        request,
        (
            f"ansible: under load: pull {acked} acknowledged, {pull['check']['unique']} consumed, "
            f"{pull['check']['missing']} missing, {pull['redeliveries']} redelivered; push gap "
            f"{push['check']['missing']} of {push['check']['expected']} lost, max latency "
            f"{push['latency_us']['max'] / 1000:.0f} ms; consumer at the end: {pull['pull']}"
        ),
    )
    assert acked > 0, err
    assert pull["check"]["unique"] >= acked, f"acknowledged messages not consumed: {pull['check']}"


def newer_package(deb: Path, tmp: Path) -> tuple[Path, str]:
    """The same package with a higher version: what an upgrade installs."""
    root = tmp / "pier-deb"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(root)], check=True)
    control = root / "DEBIAN" / "control"
    version = re.search(r"^Version: (\S+)$", control.read_text(), re.M).group(1) + "+upgrade1"
    control.write_text(re.sub(r"^Version: \S+$", f"Version: {version}", control.read_text(), flags=re.M))
    newer = tmp / f"pier_{version}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "-z1", "-b", str(root), str(newer)], check=True, capture_output=True
    )
    return newer, version


def test_an_upgrade_restarts_each_node_once_one_at_a_time(
    playbooks: Playbooks, lab: Lab, request, tmp_path: Path
) -> None:
    newer, version = newer_package(package(), tmp_path)
    os.chmod(tmp_path, 0o755)
    leader = meta_leader(lab)
    since = {n: len(unit_events(lab, n)) for n in NODES}
    done = playbooks.run("upgrade.yml", extra={"pier_package_file": str(newer)})
    say(request, f"ansible: upgrade to {version} in {done.seconds:.1f}s, meta leader {leader} last")
    # One stop and one start per node: the package's own try-restart was held back.
    assert_one_at_a_time(lab, since, leader)
    for node in NODES:
        installed = lab.exec(node, ["dpkg-query", "-W", "-f", "${Version}", "pier"]).stdout
        assert installed == version
        assert lab.exec(node, ["test", "-e", "/usr/sbin/policy-rc.d"], check=False).returncode == 1
        assert status(lab, node)["cluster_formed"]


def test_ansible_lint_production_profile_is_clean(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(VENV / "bin" / "ansible-lint"), "--offline", "--nocolor"],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr

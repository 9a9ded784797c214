"""The Ansible roles and playbooks (ansible/) against the lab's three hosts, over SSH from ctl.

One scenario, in order: bare hosts → a READY cluster (clients reach every node, the monitoring
port only the node itself); a second run changes nothing; check mode
shows a change and makes none; a reloadable change reloads; a non-reloadable one rolls node by
node, the meta leader last; a rolling restart under load loses no acknowledged message.

Needs: the lab (root, namespaces), `bash ansible/setup` (ansible-core in /opt/pier-ansible),
and the Rust toolchain (the tests build pier's .deb and pier-bench with `packaging/build`, or take
the .deb PIER_DEB names). Without any of them the tests fail; they never skip.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from rollout import (
    ANSIBLE,
    CONFIG,
    LAB_VARS,
    NODES,
    REPO,
    SECRETS,
    TLS_DIR,
    VENV,
    Playbooks,
    meta_leader,
    mixed_load,
    package,
    recap,
    say,
    server_pids,
    status,
    unit_events,
    varz,
)

from helpers import tcp_connect
from pierlab import Lab


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
        # The file is the seed's, from the inventory: docs/examples/hk/ key for key (its
        # security included), but for the lab's cores and lame-duck grace period.
        written = tomllib.loads(lab.exec(node, ["cat", "/etc/pier/pier.toml"]).stdout)
        example = (REPO / "docs" / "examples" / "hk" / f"{node}.toml").read_text()
        example = example.replace('cpus = "2-7"', 'cpus = "auto"').replace(
            'lame_duck_grace_period = "10s"', 'lame_duck_grace_period = "2s"'
        )
        assert written == tomllib.loads(example)
    leader = status(lab, NODES[0])["node"]["streams"][0]["leader"]
    assert status(lab, leader)["node"]["streams"][0]["replicas"] == 3


def test_clients_reach_every_node_but_the_monitoring_port_stays_local(playbooks: Playbooks, lab: Lab) -> None:
    # monitor_listen = "127.0.0.1:8222" (docs/security.md): /connz and /varz tell too much to
    # anyone on the network; status and the supervisor read it on the host.
    for node in NODES:
        address = lab.exec(node, ["hostname", "-I"]).stdout.split()[0]
        assert tcp_connect(lab, address, 4222) == "connected"
        assert tcp_connect(lab, address, 8222) == "ConnectionRefusedError"
        assert "http://127.0.0.1:8222" in status(lab, node)["monitor"]


def test_the_rollout_is_secure_by_default(playbooks: Playbooks, lab: Lab) -> None:
    # The controller keeps what it made private: the directory 0700, keys and passwords 0600.
    assert stat.S_IMODE(SECRETS.stat().st_mode) == 0o700
    made = {p.name: stat.S_IMODE(p.stat().st_mode) for p in SECRETS.iterdir()}
    secrets = [n for n in made if n.endswith((".pass", "-key.pem"))]
    assert {"ca-key.pem", "route.pass", "pier.pass", "publisher.pass", "worker.pass"} <= set(secrets), made
    assert all(made[n] == 0o600 for n in secrets), made
    # The hosts hold them as docs/security.md's one rule says: owner pier, secrets 0600.
    expected = {
        "ca.pem": "644",
        "node.pem": "644",
        "node-key.pem": "600",
        "route.pass": "600",
        "pier.pass": "600",
        "publisher.pass": "600",
        "worker.pass": "600",
    }
    for node in NODES:
        listing = lab.exec(
            node, ["stat", "-c", "%n %a %U:%G", TLS_DIR, *(f"{TLS_DIR}/{f}" for f in expected)]
        )
        found = dict(line.rsplit(" ", 1)[0].split(" ", 1) for line in listing.stdout.splitlines())
        assert found == {TLS_DIR: "750", **{f"{TLS_DIR}/{f}": m for f, m in expected.items()}}, found
        assert all(line.endswith(" pier:pier") for line in listing.stdout.splitlines()), listing.stdout
    # No secret in anything a play printed.
    printed = "".join(log.read_text() for log in playbooks.tmp.glob("*.log"))
    for name in secrets:
        assert (SECRETS / name).read_text().strip() not in printed, f"{name} in a play's output"


def test_a_second_run_changes_nothing(playbooks: Playbooks, lab: Lab, request) -> None:
    events = {n: unit_events(lab, n) for n in NODES}
    made = {p.name: p.read_bytes() for p in SECRETS.iterdir()}
    done = playbooks.run("site.yml")
    say(request, f"ansible: second run in {done.seconds:.1f}s")
    for host, counters in recap(done.stdout).items():
        assert counters["changed"] == 0, f"{host} changed on a second run:\n{done.stdout[-4000:]}"
    assert {n: unit_events(lab, n) for n in NODES} == events
    assert {p.name: p.read_bytes() for p in SECRETS.iterdir()} == made, "a second run made new secrets"


def test_a_run_limited_to_one_node_keeps_every_peer(playbooks: Playbooks, lab: Lab) -> None:
    # How operators try a change on one host; the peers once were the play's hosts, and this run
    # rendered node-1 a cluster of one (issue 23).
    events = {n: unit_events(lab, n) for n in NODES}
    done = playbooks.run("site.yml", limit=[NODES[0]])
    assert recap(done.stdout, [NODES[0]])[NODES[0]]["changed"] == 0, done.stdout[-4000:]
    peers = lab.exec(NODES[0], ["grep", "-c", r"^\[\[cluster.peers\]\]", CONFIG]).stdout.strip()
    assert peers == "3", f"{NODES[0]}'s pier.toml lists {peers} peers"
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
    # Long enough to span the restart of all three nodes over TLS on a loaded machine (77 s seen).
    load_started, load_seconds = time.time(), 120
    bench = subprocess.Popen(
        lab.ctl_argv(mixed_load(load_seconds, 200)),
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
    counted = pull["accounting"]
    say(
        request,
        (
            f"ansible: under load: {counted['acknowledged']} acknowledged, {counted['lost']} lost, "
            f"{counted['duplicates']} duplicates, {counted['unacknowledged']} unacknowledged, "
            f"{counted['retried']} retried, {counted['redeliveries']} redelivered; push gap "
            f"{push['gap']['longest_ms']:.0f} ms ({push['gap']['published_during']} published), "
            f"{push['check']['missing']} of {push['check']['expected']} lost"
        ),
    )
    assert counted["acknowledged"] > 0, err
    assert counted["lost"] == 0, f"acknowledged messages lost: {counted}"
    assert bench.returncode == 0, err


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

"""Faults under the seed's mixed load on the pier cluster the Ansible rollout made (issue 12).

For each fault, against the JetStream meta leader or a follower: pier-bench runs push on
jobs.process and pull on LOGS (R3, `sync = "always"`) from ctl, its clients spread over the three
nodes, publishing JetStream messages with a message id and retrying them under it; the fault is
injected and undone; the bench drains the consumer and counts. Every scenario must report lost = 0
(an acknowledged message never consumed); the one exception is nats-server's own defect, counted
and expected to fail (xfail) by name: a power cut after which it wound LOGS back behind its raft
snapshot on some replicas and left it without a leader (docs/reliability.md, "Power cuts").
Beside it: duplicates, unacknowledged publishes, the time until the cluster is whole again, the
longest push gap, and what `pier-broker status` and the unit's STATUS line said during the fault.

PIER_FAULTS=short (the default, what CI runs): each kind of fault once, short, at a low rate.
PIER_FAULTS=full: each against the meta leader and a follower, with the issue's durations; the
table in docs/reliability.md comes from it:

    PIER_FAULTS=full PIER_FAULTS_TABLE=/tmp/reliability.md lab/pier-lab selftest -k cluster_faults

The table of a run is written to PIER_FAULTS_TABLE (default: the session's tmp dir) and printed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pierlab import Lab, LabError
from rollout import (
    CONFIG,
    NO_ANSWER,
    NODES,
    UNIT,
    WHOLE_TIMEOUT,
    Playbooks,
    mixed_load,
    ready,
    rolled_out,
    said_by_status,
    say,
    status,
    view,
    wait_whole,
)

FULL = os.environ.get("PIER_FAULTS", "short") == "full"
# The lab's two cores run three nats-servers with fsync on every write, the bench and the
# observers: these rates are what they sustain with room for a fault's catch-up (docs/reliability.md).
RATE = 5000 if FULL else 300
# A host that is not hung answers `pier-broker status` (its own --timeout 2) within this.
ANSWER_S = 3.0


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[Cluster, str], None]
    undo: Callable[[Cluster, str], None]
    # How long the fault lasts: (short, full) seconds.
    lasts: tuple[float, float]
    # Whether it matters if the node is the meta leader (the full suite runs both then); the short
    # suite runs the first of `roles`, if `short`.
    roles: tuple[str, ...] = ("leader", "follower")
    short: bool = True

    @property
    def seconds(self) -> float:
        return self.lasts[1] if FULL else self.lasts[0]


def nothing(cluster: Cluster, node: str) -> None:
    pass


def broken_reload(cluster: Cluster, node: str) -> None:
    lab = cluster.lab
    lab.exec(node, f"cp {CONFIG} /root/pier.toml.good && printf '\\n[limits\\nbroken\\n' >> {CONFIG}")
    lab.exec(node, ["systemctl", "reload", UNIT], check=False)


def repaired_reload(cluster: Cluster, node: str) -> None:
    cluster.lab.exec(node, f"cp /root/pier.toml.good {CONFIG} && systemctl reload {UNIT}")


def peers_of(node: str) -> list[str]:
    return [n for n in NODES if n != node]


def partner(node: str) -> str:
    """Another node, the same for the inject and the undo of a fault on two nodes."""
    return peers_of(node)[0]


def crash_two(cluster: Cluster, node: str) -> None:
    for n in (node, partner(node)):
        cluster.lab.crash(n)


def boot_two(cluster: Cluster, node: str) -> None:
    for n in (node, partner(node)):
        cluster.lab.boot(n, say=lambda _: None)


def power_cut_all(cluster: Cluster, node: str) -> None:
    cluster.lab.power_cut(NODES)


# What pier-broker says when nats-server refused to start JetStream on a torn store file
# (broker/src/supervise/last_words.rs).
DAMAGED = "its JetStream store is damaged"
# docs/operations.md, "A damaged store", as an operator types it.
REBUILD = (
    "systemctl stop pier-broker && "
    "mv /var/lib/pier/jetstream /var/lib/pier/jetstream.damaged-$(date +%Y%m%dT%H%M%S) && "
    "systemctl reset-failed pier-broker && systemctl start --no-block pier-broker"
)


def boot_after_cut(cluster: Cluster, nodes: list[str], timeout: float = 30) -> None:
    """Boots cut hosts; one whose pier-broker reports its store damaged (nats-server 2.15.1 does,
    now and then, after a power cut) is rebuilt from its peers as docs/operations.md says, and
    the row names it. Waits until each nats-server answers or its store was found damaged."""
    lab = cluster.lab
    for n in nodes:
        lab.boot(n, say=lambda _: None)
    pending, deadline = list(nodes), time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for n in list(pending):
            if DAMAGED in boot_journal(lab, n):
                # The docs say never two at once: with one whole node left there is no quorum.
                assert not cluster.rebuilt, f"one cut damaged the stores of {cluster.rebuilt} and {n}"
                lab.exec(n, REBUILD)
                cluster.rebuilt.append(n)
                pending.remove(n)
            elif (view(lab, n).get("node") or {}).get("server"):  # nats-server answers
                pending.remove(n)
        time.sleep(0.5)


def boot_all(cluster: Cluster, node: str) -> None:
    boot_after_cut(cluster, NODES)


# What nats-server 2.15.1 logs every 5 s on a node whose LOGS store a power cut wound back behind
# its raft snapshot: it waits to catch up from a stream leader that no replica becomes.
STUCK = "catchup aborted, no leader for stream"
# How long a cluster gets to be whole again by itself before the suite looks for that.
STUCK_AFTER_S = 60.0


def whole_again(cluster: Cluster) -> float:
    """Seconds until the cluster is whole after a fault. A LOGS that a power cut left without a
    leader is brought back as docs/operations.md ("A stream without a leader") says."""
    lab = cluster.lab
    started = time.monotonic()
    try:
        wait_whole(lab, timeout=STUCK_AFTER_S)
    except AssertionError:
        # Still saying so now (it repeats every 5 s), not once while a leader was being elected.
        stuck = [
            n
            for n in NODES
            if n not in cluster.rebuilt
            and not ready(lab, n)
            and STUCK in boot_journal(lab, n, since="-20s")
        ]
        if not stuck:
            wait_whole(lab, timeout=WHOLE_TIMEOUT - STUCK_AFTER_S)
        else:
            cluster.stuck = stuck
            # One at a time, until LOGS has a leader: two when one replica had kept the stream,
            # all three when none had, in the lab (docs/operations.md).
            for n in stuck:
                lab.exec(n, REBUILD)
                cluster.rebuilt.append(n)
                if logs_leader(lab, timeout=30):
                    break
            wait_whole(lab)
    return time.monotonic() - started


def boot_journal(lab: Lab, node: str, since: str | None = None) -> str:
    argv = ["journalctl", "-b", "-u", UNIT, "--no-pager", "-o", "cat"]
    if since:
        argv += ["--since", since]
    try:
        return lab.exec(node, argv, check=False, timeout=15).stdout
    except LabError:
        return ""


def logs_leader(lab: Lab, timeout: float) -> bool:
    """Whether LOGS has a leader, as some node reports it, within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in NODES:
            streams = (view(lab, n).get("node") or {}).get("streams") or []
            if any(s.get("name") == "LOGS" and s.get("leader") for s in streams):
                return True
        time.sleep(1)
    return False


def power_cut_while_partner_paused(cluster: Cluster, node: str) -> None:
    # Jepsen's NATS 2.12.1 analysis: one node's OS crash while another is paused (#7567).
    cluster.lab.freeze(partner(node))
    cluster.lab.power_cut([node])


def boot_and_resume_partner(cluster: Cluster, node: str) -> None:
    boot_after_cut(cluster, [node])
    cluster.lab.thaw(partner(node))


def power_cut_while_partitioned(cluster: Cluster, node: str) -> None:
    cluster.lab.partition(node, peers_of(node))
    cluster.lab.power_cut([node])


def boot_and_heal(cluster: Cluster, node: str) -> None:
    boot_after_cut(cluster, [node])
    cluster.lab.heal(node)


def resume(cluster: Cluster, node: str) -> None:
    # The watchdog may have replaced the stopped nats-server already; a new one is running then.
    with contextlib.suppress(LabError):
        cluster.lab.kill(node, "nats-server", "CONT")


def rolling_restart(cluster: Cluster, node: str) -> None:
    cluster.playbooks.run("rolling-restart.yml")


FAULTS = [
    Fault("kill -9 nats-server", lambda c, n: c.lab.kill(n, "nats-server", "KILL"), nothing, (0, 0)),
    Fault(
        "kill -9 pier-broker (the supervisor)",
        lambda c, n: c.lab.kill(n, "pier-broker", "KILL"),
        nothing,
        (0, 0),
        ("follower", "leader"),
    ),
    Fault("host frozen", lambda c, n: c.lab.freeze(n), lambda c, n: c.lab.thaw(n), (10, 30)),
    Fault(
        "host crashed, booted again",
        lambda c, n: c.lab.crash(n),
        lambda c, n: c.lab.boot(n, say=lambda _: None),
        (5, 10),
        ("follower", "leader"),
    ),
    Fault(
        "partitioned from its peers",
        lambda c, n: c.lab.partition(n, peers_of(n)),
        lambda c, n: c.lab.heal(n),
        (10, 30),
    ),
    Fault(
        "5 % packet loss",
        lambda c, n: c.lab.loss(n, 5),
        lambda c, n: c.lab.loss(n, 0),
        (15, 60),
        ("follower", "leader"),
    ),
    Fault("store filesystem full", lambda c, n: c.lab.fill(n), lambda c, n: c.lab.unfill(n), (10, 30)),
    Fault("reload with a broken pier.toml", broken_reload, repaired_reload, (5, 10), ("follower",)),
    Fault(
        "nats-server hung (SIGSTOP; the watchdog restarts it)",
        lambda c, n: c.lab.kill(n, "nats-server", "STOP"),
        resume,
        (45, 45),
        ("leader",),
        short=False,  # test_package has the watchdog's restart
    ),
    Fault("two hosts crashed (no quorum), booted again", crash_two, boot_two, (10, 20), ("leader",)),
    # Jepsen's menu: the stores keep only what reached their devices (pier-lab power-cut).
    Fault("power cut of all three hosts at once", power_cut_all, boot_all, (5, 10), ("all",)),
    Fault(
        "power cut of one host while another is paused",
        power_cut_while_partner_paused,
        boot_and_resume_partner,
        (5, 10),
        ("follower", "leader"),
    ),
    Fault(
        "power cut of one host while it is partitioned",
        power_cut_while_partitioned,
        boot_and_heal,
        (5, 10),
        ("leader", "follower"),
    ),
    # The short suite has it in test_ansible (under load, counted the same way).
    Fault("rolling restart (rolling-restart.yml)", rolling_restart, nothing, (0, 75), ("all",), short=False),
]


@dataclasses.dataclass
class Cluster:
    """The ready cluster the scenarios break, and what they found."""

    lab: Lab
    playbooks: Playbooks
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    # The nodes whose store the scenario running now rebuilt, damaged or stuck.
    rebuilt: list[str] = dataclasses.field(default_factory=list)
    # The nodes whose LOGS replica a power cut left waiting for a leader none became.
    stuck: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Outcome:
    fault: str
    role: str
    node: str
    # From injected to undone, as it really was (the push gap is measured against it).
    lasted_s: float
    accounting: dict
    gap: dict
    whole_s: float
    rebuilt: list[str]
    stuck: list[str]
    status_said: str
    unit_said: str
    peer_said: str


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, lab: Lab, tmp_path_factory) -> Iterator[Cluster]:
    """A ready pier cluster: the one test_ansible left if it is whole, else one rolled out now on
    fresh hosts. Collects the scenarios' outcomes and writes their table at the end."""
    found = Cluster(lab, rolled_out(request, lab, tmp_path_factory))
    yield found
    table = render(found.outcomes)
    out = Path(os.environ.get("PIER_FAULTS_TABLE", tmp_path_factory.getbasetemp() / "reliability.md"))
    out.write_text(table)
    say(request, f"faults: table in {out}\n{table}")


def said_by_unit(lab: Lab, node: str) -> str:
    """The unit's state and STATUS= line, as `systemctl status` shows them."""
    # -p, not -P: systemctl prints properties in its own order, not in the order asked.
    argv = ["timeout", "5", "systemctl", "show", "-p", "ActiveState", "-p", "SubState", "-p", "StatusText", UNIT]
    try:
        done = lab.exec(node, argv, check=False, timeout=10)
    except LabError:
        return NO_ANSWER
    shown = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if "ActiveState" not in shown:
        return f"nothing (exit {done.returncode})"
    return f"{shown['ActiveState']} ({shown.get('SubState', '')}): {shown.get('StatusText', '')}"


def said_by_peer(lab: Lab, peer: str, node: str) -> str:
    """What `pier-broker status` on a healthy peer says of its routes, of JetStream and of the
    faulty node: where an operator looks when the node itself answers nothing."""
    try:
        done = lab.exec(peer, ["pier-broker", "status", "--config", CONFIG, "--timeout", "2"], check=False, timeout=15)
    except LabError:
        return NO_ANSWER  # a power cut of every host leaves no healthy peer to ask
    wanted = ("Routes:", "JetStream:", f"peer {node} ")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith(wanted)]
    return f"{peer}: " + " / ".join(lines)


def node_for(lab: Lab, role: str) -> str:
    if role == "all":
        return "all nodes"
    leader = status(lab, NODES[0])["node"]["jetstream"]["meta_leader"]
    assert leader in NODES, f"no meta leader: {leader}"
    return leader if role == "leader" else next(n for n in reversed(NODES) if n != leader)


def scenarios() -> list[tuple[Fault, str]]:
    if FULL:
        return [(f, role) for f in FAULTS for role in f.roles]
    return [(f, f.roles[0]) for f in FAULTS if f.short]


@pytest.mark.parametrize(
    ("fault", "role"), scenarios(), ids=[f"{f.name}-{role}" for f, role in scenarios()]
)
def test_no_acknowledged_message_is_lost(
    cluster: Cluster, lab: Lab, fault: Fault, role: str, request, tmp_path: Path
) -> None:
    wait_whole(lab)
    cluster.rebuilt.clear()
    cluster.stuck.clear()
    node = node_for(lab, role)
    observed = node if node in NODES else NODES[0]
    # Untouched by any fault, crash_two's included.
    peer = next(n for n in reversed(NODES) if n not in (observed, partner(observed)))
    warmup, after = 5.0, 10.0
    bench = start_bench(lab, warmup + fault.seconds + after, tmp_path)
    try:
        time.sleep(warmup)
        injected = time.monotonic()
        fault.inject(cluster, node)
        # Observed as an operator would who looks when the fault has lasted a while: shortly
        # before it ends (a second after an instant one), past the supervisor's 5 s health beat.
        # The looks run beside the fault: one at a hung host waits out its 10 s timeout, and
        # inline it kept a "10 s" freeze going for 29 s (issue 12). What has not answered
        # within ANSWER_S, or by the end of the fault, counts as no answer.
        time.sleep(max(0.0, max(fault.seconds - ANSWER_S, 1) - (time.monotonic() - injected)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            looks = [
                pool.submit(said_by_status, lab, observed),
                pool.submit(said_by_unit, lab, observed),
                pool.submit(said_by_peer, lab, peer, observed),
            ]
            answer_by = max(fault.seconds, time.monotonic() - injected + ANSWER_S)
            concurrent.futures.wait(looks, timeout=answer_by - (time.monotonic() - injected))
            status_said, unit_said, peer_said = (
                look.result() if look.done() else NO_ANSWER for look in looks
            )
            time.sleep(max(0.0, fault.seconds - (time.monotonic() - injected)))
            fault.undo(cluster, node)
            lasted_s = time.monotonic() - injected
        whole_s = whole_again(cluster)
        for n in cluster.rebuilt:  # caught up: the moved copy goes, as the docs say
            lab.exec(n, "rm -rf /var/lib/pier/jetstream.damaged-*")
        bench.wait(timeout=500)
        report = json.loads((tmp_path / "bench.json").read_text())
    finally:
        if bench.poll() is None:
            bench.kill()
        lab.reset_faults()
    pull = next(w for w in report["workloads"] if w["kind"] == "pull")
    push = next(w for w in report["workloads"] if w["kind"] == "push")
    outcome = Outcome(
        fault.name,
        role,
        node,
        lasted_s,
        pull["accounting"],
        push["gap"],
        whole_s,
        list(cluster.rebuilt),
        list(cluster.stuck),
        status_said,
        unit_said,
        peer_said,
    )
    cluster.outcomes.append(outcome)
    where = node if role == "all" else f"the {role} {node}"
    say(request, f"faults: {fault.name} on {where}: {row(outcome)}")
    assert pull["accounting"]["acknowledged"] > 0, report
    if pull["accounting"]["lost"] and outcome.stuck:
        version = (view(lab, NODES[0]).get("node") or {}).get("version", "?")
        # Counted, in the table, and expected to fail: nats-server's defect, not pier's
        # (docs/reliability.md, "Power cuts"). Any other loss fails.
        lost = pull["accounting"]["lost"]
        pytest.xfail(
            f"nats-server {version} wound the LOGS stores of {', '.join(outcome.stuck)} back "
            f"behind their raft snapshots at the power cut; {lost} acknowledged messages were "
            "lost with them"
        )
    assert pull["accounting"]["lost"] == 0, f"acknowledged messages lost: {pull['accounting']}"


def start_bench(lab: Lab, seconds: float, tmp: Path) -> subprocess.Popen:
    """pier-bench in ctl; its JSON report goes to tmp/bench.json, its log to tmp/bench.log."""
    # Past the longest a stuck LOGS takes to be brought back (whole_again: 60 s, three rebuilds
    # with their stops and 30 s waits, then up to WHOLE_TIMEOUT).
    argv = mixed_load(seconds, RATE, "--drain-timeout", "360s")
    with (tmp / "bench.json").open("w") as out, (tmp / "bench.log").open("w") as log:
        return subprocess.Popen(lab.ctl_argv(argv), stdout=out, stderr=log)


def row(o: Outcome) -> str:
    a, g = o.accounting, o.gap
    return (
        f"lost {a['lost']}, duplicates {a['duplicates']}, unacknowledged {a['unacknowledged']}, "
        f"retried {a['retried']}, redelivered {a['redeliveries']}; lasted {o.lasted_s:.1f}s, "
        f"whole after {o.whole_s:.1f}s{rebuilt(o)}; "
        f"push gap {g['longest_ms']:.0f} ms ({g['published_during']} published)"
    )


def rebuilt(o: Outcome) -> str:
    if o.stuck:
        return (
            f" (LOGS without a leader, its replicas on {', '.join(o.stuck)} stuck catching up: "
            f"the stores of {', '.join(o.rebuilt)} rebuilt)"
        )
    if not o.rebuilt:
        return ""
    return f" (the damaged store of {', '.join(o.rebuilt)} rebuilt from its peers)"


def cell(text: str) -> str:
    return text.replace("|", "/")


def render(outcomes: list[Outcome]) -> str:
    head = (
        "| fault | node | lasted | lost | duplicates | unacknowledged | retried | redelivered "
        "| whole again | push gap | `pier-broker status` on it | its unit: state, STATUS= "
        "| `pier-broker status` on a peer |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    cells = []
    for o in outcomes:
        a, g = o.accounting, o.gap
        cells.append(
            f"| {o.fault} | {o.role} | {o.lasted_s:.1f} s | {a['lost']} | {a['duplicates']} "
            f"| {a['unacknowledged']} "
            f"| {a['retried']} | {a['redeliveries']} | {o.whole_s:.1f} s{rebuilt(o)} "
            f"| {g['longest_ms']:.0f} ms ({g['published_during']} msgs) "
            f"| {cell(o.status_said)} | {cell(o.unit_said)} | {cell(o.peer_said)} |"
        )
    rate = f"{RATE} msg/s push + {RATE} msg/s pull, 128 B, sync = \"always\", R3"
    return f"Load: {rate}.\n\n{head}" + "\n".join(cells) + "\n"

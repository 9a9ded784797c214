"""up: the seed's three hosts, each with its own network, root, identity, store and systemd."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import time
from pathlib import Path

from helpers import ping_loss
from pierlab import base, layout, network
from pierlab.host import pid1

HOSTS = ["nats-node-1", "nats-node-2", "nats-node-3"]
PIER_LAB = str(Path(__file__).resolve().parent.parent / "pier-lab")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIER_LAB, *args], capture_output=True, text=True, timeout=60)


def test_three_hosts_answer_ssh_from_ctl_each_with_its_own_systemd(lab):
    assert lab.hosts() == HOSTS
    machine_ids = set()
    for name in HOSTS:
        # ssh with StrictHostKeyChecking=yes against known_hosts: proves each host's own key too.
        out = lab.ssh(
            name, "hostname; cat /etc/machine-id; readlink /proc/1/exe; systemctl is-system-running"
        )
        hostname, machine_id, init, state = out.stdout.split()
        assert hostname == name
        assert init == "/usr/lib/systemd/systemd"
        assert state == "running", lab.exec(name, ["systemctl", "--failed", "--no-pager"]).stdout
        machine_ids.add(machine_id)
    assert len(machine_ids) == len(HOSTS)


def test_hosts_and_ctl_know_each_other_by_name(lab):
    for name in HOSTS:
        assert ping_loss(lab, name, count=1) == 0
        for peer in HOSTS:
            assert ping_loss(lab, peer, count=1, source=name) == 0


def test_each_store_is_its_own_fixed_size_filesystem(lab):
    devices = set()
    for name in HOSTS:
        out = lab.exec(name, ["findmnt", "-n", "-b", "-o", "SOURCE,FSTYPE,SIZE", "/var/lib/pier"]).stdout
        source, fstype, size = out.split()
        assert fstype == "ext4"
        assert 200 << 20 < int(size) <= layout.STORE_SIZE_MIB << 20
        devices.add(source)
    assert len(devices) == len(HOSTS)


def test_the_machines_own_nats_server_never_starts_in_a_host(lab):
    for name in HOSTS:
        enabled = lab.exec(name, ["systemctl", "is-enabled", "nats-server.service"], check=False)
        assert enabled.stdout.strip() == "masked"


def test_no_lab_namespace_has_a_default_route(lab):
    for netns in [layout.NETNS_PREFIX + layout.CTL] + [layout.host(n).netns for n in HOSTS]:
        routes = network.run(["ip", "-n", netns, "route", "show", "default"]).stdout
        assert routes.strip() == "", f"{netns}: {routes}"


def test_up_again_changes_nothing(lab):
    before = [pid1(layout.host(n)) for n in HOSTS]
    started = time.monotonic()
    lab.up(len(lab.hosts()))
    assert time.monotonic() - started < 5
    assert [pid1(layout.host(n)) for n in HOSTS] == before


def test_an_outdated_base_layer_is_never_replaced_under_running_hosts(lab, monkeypatch):
    before = [pid1(layout.host(n)) for n in HOSTS]
    monkeypatch.setattr(base, "cache_key", lambda: "changed-machine")
    said: list[str] = []
    lab.up(len(lab.hosts()), say=said.append)
    assert any("base layer outdated" in line for line in said), said
    assert [pid1(layout.host(n)) for n in HOSTS] == before
    assert lab.exec("nats-node-1", ["systemctl", "is-system-running"]).stdout.strip() == "running"


def test_a_client_outside_the_lab_cannot_reach_a_lab_address(lab):
    # Checked before any connect: without the blackhole the connect below would leave the machine.
    assert network.containment_route() == f"blackhole {layout.CONTAINMENT}"
    assert network.run(["ip", "route", "show", "exact", str(layout.SUBNET)]).stdout == ""
    started = time.monotonic()
    with socket.socket() as s:
        s.settimeout(5)
        try:
            s.connect(("203.0.113.11", 22))
            raise AssertionError("connected to 203.0.113.11 from the machine's own namespace")
        except OSError as e:
            failed = e
    assert time.monotonic() - started < 0.5, "the connect waited instead of failing at once"
    assert failed.errno in (errno.EINVAL, errno.ENETUNREACH, errno.EHOSTUNREACH), failed


def test_the_command_line_runs_commands_in_hosts_and_reads_their_journal(lab):
    assert cli("exec", "nats-node-1", "--", "sh", "-c", "hostname; exit 3").returncode == 3
    assert cli("exec", "nats-node-2", "--", "hostname").stdout == "nats-node-2\n"
    assert cli("ssh", "nats-node-3", "--", "hostname").stdout == "nats-node-3\n"
    assert "Server listening on 0.0.0.0 port 22" in cli("logs", "nats-node-1", "ssh.service").stdout
    status = json.loads(cli("status", "--json").stdout)
    assert {n: h["systemd"] for n, h in status["hosts"].items()} == dict.fromkeys(HOSTS, "running")
    unknown = cli("exec", "nats-node-9", "--", "true")
    assert unknown.returncode == 1 and "unknown host 'nats-node-9'" in unknown.stderr


def test_ansible_inventory_and_ssh_config_name_every_host(lab):
    inventory = layout.INVENTORY.read_text()
    for name in HOSTS:
        assert f"{name} ansible_host={layout.host(name).address}" in inventory
    # What Ansible does: ssh from ctl with the inventory's arguments, to the address.
    out = lab.ctl(["ssh", "-F", str(layout.SSH_CONFIG), "root@203.0.113.12", "hostname"]).stdout
    assert out == "nats-node-2\n"

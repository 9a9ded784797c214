"""down: nothing of the lab is left, whatever state it was in (runs last: it takes the lab down)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from helpers import ping_loss
from pierlab import layout, network
from pierlab.cleanup import leftovers


def test_down_leaves_nothing_even_after_the_harness_forgot_the_lab(lab):
    # A client left running in ctl, a frozen host, a full store, a partition, and a harness that
    # lost its state file: down finds all of it from the kernel's view.
    client = subprocess.Popen(lab.ctl_argv(["sleep", "600"]))
    lab.freeze("nats-node-2")
    lab.fill("nats-node-3")
    lab.partition("nats-node-1")
    layout.STATE_FILE.unlink()
    cleaned = lab.down()
    assert any(c.startswith("killed") for c in cleaned), cleaned
    assert client.wait(timeout=5) != 0
    assert leftovers() == []
    assert network.run(["ip", "netns", "list"]).stdout.strip() == ""
    assert str(layout.STATE_DIR) not in Path("/proc/self/mountinfo").read_text()
    assert "pier-lab" not in network.run(["losetup", "-a"]).stdout
    assert network.containment_route() is None
    assert not layout.CGROUP_ROOT.exists()
    assert list(layout.NETNS_ETC.glob("lab-*")) == []
    # down again: nothing to do, still succeeds.
    started = time.monotonic()
    assert lab.down() == []
    assert time.monotonic() - started < 5


def test_three_hosts_boot_in_under_20s_then_five_on_request(lab):
    started = time.monotonic()
    lab.up(3)  # from nothing (the previous test took the lab down), the base layer cached
    assert time.monotonic() - started < 20
    started = time.monotonic()
    lab.up(5)  # grows the lab of three
    assert time.monotonic() - started < 20
    try:
        assert lab.hosts() == [f"nats-node-{i}" for i in range(1, 6)]
        for name in ("nats-node-4", "nats-node-5"):
            out = lab.ctl(["ssh", "-F", str(layout.SSH_CONFIG), str(layout.host(name).address), "hostname"])
            assert out.stdout == f"{name}\n"
            assert ping_loss(lab, name, count=1, source="nats-node-1") == 0
    finally:
        lab.down()
    assert leftovers() == []

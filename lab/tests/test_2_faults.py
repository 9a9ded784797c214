"""Every fault primitive, observed to take effect and to be undone with real traffic."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from helpers import ping_loss, ssh_banner, wait_in, write_4k
from pierlab import LabError, layout
from pierlab.host import pid1

N1, N2, N3 = "nats-node-1", "nats-node-2", "nats-node-3"
A1, A2, A3 = "203.0.113.11", "203.0.113.12", "203.0.113.13"


def show(lab, name, unit, prop):
    return lab.exec(name, ["systemctl", "show", "-P", prop, unit]).stdout.strip()


def test_kill_signals_a_process_of_that_host_only(healthy_lab):
    lab = healthy_lab
    main_pid = show(lab, N1, "ssh.service", "MainPID")
    restarts = int(show(lab, N1, "ssh.service", "NRestarts"))
    other_host = show(lab, N2, "ssh.service", "MainPID")
    pids = lab.kill(N1, "sshd", "KILL")
    assert len(pids) >= 1
    # ssh.service has Restart=on-failure: systemd in the host brings sshd back.
    wait_in(lab, N1, f"[ $(systemctl show -P NRestarts ssh.service) = {restarts + 1} ]")
    wait_in(lab, N1, "systemctl is-active -q ssh.service")
    assert show(lab, N1, "ssh.service", "MainPID") != main_pid
    assert show(lab, N2, "ssh.service", "MainPID") == other_host
    assert ssh_banner(lab, A1).startswith("SSH-2.0")
    with pytest.raises(LabError, match="no process named"):
        lab.kill(N1, "no-such-process")
    # What a test starts in a host is the host's too.
    started = subprocess.Popen(lab.exec_argv(N1, ["sleep", "600"]))
    wait_in(lab, N1, "pgrep -x sleep")
    assert lab.kill(N1, "sleep")
    assert started.wait(timeout=5) != 0


def test_freeze_hangs_the_whole_host_and_thaw_resumes_it(healthy_lab):
    lab = healthy_lab
    ticker = subprocess.Popen(
        lab.exec_argv(N2, ["sh", "-c", "while :; do date +%s%N > /tmp/lab-tick; sleep 0.02; done"])
    )
    tick = Path(f"/proc/{pid1(layout.host(N2))}/root/tmp/lab-tick")  # read from outside the host
    wait_in(lab, N2, "test -s /tmp/lab-tick")
    lab.freeze(N2)
    assert lab.status()["hosts"][N2]["systemd"] == "frozen"
    frozen_at = tick.read_text()
    time.sleep(0.3)
    assert tick.read_text() == frozen_at, "a process started in the host ran on while frozen"
    # The kernel still completes the handshake; nothing in the host answers.
    assert ssh_banner(lab, A2) == "TimeoutError"
    assert ssh_banner(lab, A3).startswith("SSH-2.0")
    lab.thaw(N2)
    assert ssh_banner(lab, A2).startswith("SSH-2.0")
    assert tick.read_text() != frozen_at
    ticker.kill()


def test_crash_kills_every_process_and_boot_brings_back_the_same_disks(healthy_lab):
    lab = healthy_lab
    h = layout.host(N3)
    boot_id = lab.exec(N3, ["cat", "/proc/sys/kernel/random/boot_id"]).stdout
    lab.exec(N3, "echo root > /root/lab-marker && echo store > /var/lib/pier/lab-marker && sync")
    lab.freeze(N3)  # a hung machine crashes as well
    lab.crash(N3)
    assert pid1(h) is None
    assert lab.status()["hosts"][N3]["systemd"] == "crashed"
    assert ssh_banner(lab, A3) == "ConnectionRefusedError"
    with pytest.raises(LabError, match="not running"):
        lab.exec(N3, ["true"])
    lab.boot(N3)
    assert lab.exec(N3, "cat /root/lab-marker /var/lib/pier/lab-marker").stdout.split() == ["root", "store"]
    assert lab.exec(N3, ["cat", "/proc/sys/kernel/random/boot_id"]).stdout != boot_id
    assert lab.ssh(N3, "systemctl is-system-running").stdout.strip() == "running"
    lab.exec(N3, "rm /root/lab-marker /var/lib/pier/lab-marker")


def test_partition_cuts_a_host_from_its_peers_and_heal_joins_it(healthy_lab):
    lab = healthy_lab
    assert lab.partition(N1, [N2]) == [N2]
    assert ping_loss(lab, A2, source=N1) == 100
    assert ping_loss(lab, A1, source=N2) == 100
    assert ping_loss(lab, A3, source=N1) == 0
    assert ping_loss(lab, A1) == 0
    lab.heal()
    assert ping_loss(lab, A2, source=N1) == 0
    # Without peers: from everyone, ctl included.
    assert sorted(lab.partition(N1)) == sorted([layout.CTL, N2, N3])
    assert ping_loss(lab, A1) == 100
    assert ping_loss(lab, A3, source=N1) == 100
    lab.heal(N1)
    assert ping_loss(lab, A1) == 0
    assert ping_loss(lab, A3, source=N1) == 0


def test_loss_drops_that_share_of_packets_and_zero_undoes_it(healthy_lab):
    lab = healthy_lab
    lab.loss(N2, 50)
    # 50 % each way: about 75 % of echo round trips are lost.
    assert 55 <= ping_loss(lab, A2, count=300) <= 92
    assert ping_loss(lab, A3, count=50) == 0
    lab.loss(N2, 0)
    assert ping_loss(lab, A2, count=100) == 0


def test_fill_makes_the_store_full_and_unfill_frees_it(healthy_lab):
    lab = healthy_lab
    lab.fill(N1)
    probe = "/var/lib/pier/lab-probe"
    assert write_4k(lab, N1, probe) == "ENOSPC"
    assert lab.exec(N1, ["findmnt", "-n", "-o", "AVAIL", "/var/lib/pier"]).stdout.strip() == "0"
    assert lab.status()["hosts"][N1]["store_full"]
    # Per host: the others' stores are untouched.
    assert write_4k(lab, N2, probe) == "written"
    lab.unfill(N1)
    assert write_4k(lab, N1, probe) == "written"
    for name in (N1, N2):
        lab.exec(name, ["rm", "-f", probe])


# Written in the host: one file fsynced, one not; the cut follows at once, long before ext4's
# 5 s journal commit or the 30 s writeback would have put the second on the device.
WRITE_BOTH = """
import os
with open("/var/lib/pier/lab-synced", "wb", buffering=0) as f:
    f.write(b"synced\\n")
    os.fsync(f.fileno())
fd = os.open("/var/lib/pier", os.O_DIRECTORY)
os.fsync(fd)
with open("/var/lib/pier/lab-unsynced", "wb", buffering=0) as f:
    f.write(b"unsynced\\n")
"""


def test_power_cut_keeps_what_was_fsynced_and_drops_what_was_not(healthy_lab):
    lab = healthy_lab
    for name in (N2, N3):
        lab.exec(name, ["python3", "-c", WRITE_BOTH])
    # Another mount namespace holds the stores' mounts across the cut, as a client started with
    # `ip netns exec` does: the cut stores must still come back from their devices, not dead.
    holder = subprocess.Popen(["unshare", "--mount", "sleep", "600"])
    try:
        lab.power_cut([N2, N3])
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(LabError, match="not running"):
        lab.power_cut([N2])
    for name in (N2, N3):
        assert pid1(layout.host(name)) is None
        assert lab.status()["hosts"][name]["systemd"] == "crashed"
    assert ssh_banner(lab, A1).startswith("SSH-2.0"), "a host that kept its power went down"
    for name in (N2, N3):
        lab.boot(name)
        kept = lab.exec(name, "cat /var/lib/pier/lab-synced; cat /var/lib/pier/lab-unsynced 2>/dev/null; true")
        assert kept.stdout == "synced\n", f"{name}: {kept.stdout!r}"
        lab.exec(name, "rm -f /var/lib/pier/lab-synced /var/lib/pier/lab-unsynced")


def test_a_client_in_ctl_holds_no_store(healthy_lab):
    # Its copy of the machine's mounts, kept across a cut, would write stale metadata over the
    # store mounted again when it went (lab.ctl_argv).
    lab = healthy_lab
    stores = [f" {layout.host(n).store} " for n in lab.hosts()]
    machine = Path("/proc/self/mountinfo").read_text()
    assert all(s in machine for s in stores), machine
    seen = lab.ctl(["cat", "/proc/self/mountinfo"]).stdout
    assert not [s for s in stores if s in seen], seen


def test_bitflip_truncate_and_rollback_change_a_stopped_store_where_they_say(healthy_lab):
    lab = healthy_lab
    store = layout.host(N3).store
    lab.exec(N3, "mkdir -p /var/lib/pier/lab-c && head -c 4096 /dev/zero > /var/lib/pier/lab-c/a.blk && sync")
    with pytest.raises(LabError, match="the host runs"):
        lab.bitflip(N3, "lab-c/*.blk")
    lab.crash(N3)
    with pytest.raises(LabError, match="no file of the store matches"):
        lab.bitflip(N3, "lab-c/*.idx")

    lab.keep(N3, "lab-c/*.blk")
    (flip,) = lab.bitflip(N3, "lab-c/*.blk", seed=7)
    assert flip["path"] == "/var/lib/pier/lab-c/a.blk"
    data = (store / "lab-c/a.blk").read_bytes()
    changed = [i for i, b in enumerate(data) if b]
    assert changed == [flip["offset"]] and data[flip["offset"]] == 1 << flip["bit"]

    (cut,) = lab.truncate(N3, "lab-c/*.blk", newest=True)
    assert (cut["from"], cut["to"]) == (4096, 2048)
    assert (store / "lab-c/a.blk").stat().st_size == 2048

    assert lab.rollback(N3) == ["/var/lib/pier/lab-c/a.blk"]
    assert (store / "lab-c/a.blk").read_bytes() == bytes(4096)
    lab.boot(N3)
    lab.exec(N3, "rm -r /var/lib/pier/lab-c")

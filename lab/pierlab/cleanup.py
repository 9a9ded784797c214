"""Taking the lab down from whatever state it is in, and checking that nothing is left.

Works from the kernel's view (mountinfo, /run/netns, the cgroup tree, loop devices, routes), not
from the harness's state file, so `down` also cleans up after a crash of the harness."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from . import layout, network
from .host import cgroup_pids, remove_cgroup
from .run import LabError, run


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def lab_mounts() -> list[str]:
    """Mount points of the machine's namespace under the lab's state dir, deepest first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == str(layout.STATE_DIR) or point.startswith(f"{layout.STATE_DIR}/"):
            found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def lab_loop_devices() -> list[str]:
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        if backing.read_text().strip().startswith(f"{layout.STATE_DIR}/"):
            found.append("/dev/" + backing.parent.parent.name)
    return found


def lab_netns_etc() -> list[Path]:
    return sorted(layout.NETNS_ETC.glob(layout.NETNS_PREFIX + "*"))


def _netns_inode(name: str) -> int | None:
    try:
        return os.stat(network.NETNS_DIR / name).st_ino
    except OSError:
        return None


def processes_in_lab() -> list[int]:
    """Processes in the lab's cgroups or in its network namespaces (e.g. a client left in ctl)."""
    inodes = {i for i in map(_netns_inode, network.netns_list()) if i is not None}
    found = set(cgroup_pids(layout.CGROUP_ROOT))
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.stat(proc / "ns/net").st_ino in inodes:
                    found.add(int(proc.name))
            except OSError:
                continue
    found.discard(os.getpid())
    return sorted(found)


def leftovers() -> list[str]:
    """Everything of the lab that still exists in the machine; empty when the lab is down."""
    left = [f"process {p}" for p in processes_in_lab()]
    left += [f"mount {m}" for m in lab_mounts()]
    left += [f"loop device {d}" for d in lab_loop_devices()]
    left += [f"network namespace {n}" for n in network.netns_list()]
    if layout.CGROUP_ROOT.exists():
        left.append(f"cgroup {layout.CGROUP_ROOT}")
    left += [f"interface {i} in the machine's namespace" for i in network.lab_ports_in_machine()]
    route = network.containment_route()
    if route and route.startswith("blackhole"):
        left.append(f"route {route}")
    for d in [layout.STATE_DIR, *lab_netns_etc()]:
        if d.exists():
            left.append(f"directory {d}")
    return left


def down() -> list[str]:
    """Removes everything of the lab; returns what it had to remove. Raises if anything is left."""
    cleaned: list[str] = []
    if layout.CGROUP_ROOT.is_dir():
        # os.walk, not rglob: a running host's systemd removes cgroups while this walks.
        for directory, _, files in os.walk(layout.CGROUP_ROOT):
            if "cgroup.freeze" in files:
                with contextlib.suppress(FileNotFoundError):
                    (Path(directory) / "cgroup.freeze").write_text("0")
    killed: set[int] = set()
    deadline = time.monotonic() + 15
    while (pids := processes_in_lab()) and time.monotonic() < deadline:
        # cgroup.kill reaches every host process even while frozen; the loop catches processes
        # that only share a lab network namespace (a client left running in ctl).
        if layout.CGROUP_ROOT.is_dir():
            (layout.CGROUP_ROOT / "cgroup.kill").write_text("1")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.update(pids)
        time.sleep(0.05)
    if killed:
        cleaned.append(f"killed {len(killed)} processes")
    if layout.CGROUP_ROOT.exists():
        # Each step goes on after a failure; the final check names whatever is left.
        with contextlib.suppress(OSError):
            remove_cgroup(layout.CGROUP_ROOT)
            cleaned.append(f"removed cgroup {layout.CGROUP_ROOT}")
    for point in lab_mounts():
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
        cleaned.append(f"unmounted {point}")
    for device in lab_loop_devices():
        run(["losetup", "-d", device], check=False)
        cleaned.append(f"detached {device}")
    for netns in network.netns_list():
        if run(["ip", "netns", "delete", netns], check=False).returncode == 0:
            cleaned.append(f"deleted network namespace {netns}")
    for d in lab_netns_etc():
        run(["rm", "-rf", str(d)])
        cleaned.append(f"removed {d}")
        with contextlib.suppress(OSError):
            layout.NETNS_ETC.rmdir()  # only if the lab's was the last one
    if network.remove_containment():
        cleaned.append(f"removed blackhole route {layout.CONTAINMENT}")
    if layout.STATE_DIR.exists() and not lab_mounts():
        # --one-file-system: never follow a mount that might still be there into the machine.
        run(["rm", "-rf", "--one-file-system", str(layout.STATE_DIR)])
        cleaned.append(f"removed {layout.STATE_DIR}")
    left = leftovers()
    if left:
        raise LabError("down could not remove: " + "; ".join(left))
    return cleaned

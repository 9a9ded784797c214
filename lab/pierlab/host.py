"""One lab host: its disks, its boot into systemd as PID 1, running commands in it, its death."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import time
import uuid
from pathlib import Path

from . import layout
from .run import LabError, run, write_text

INIT = Path(__file__).with_name("init.sh")
# Beside the host systemd's own tree: processes started by `exec`.
EXEC_CGROUP = "pier-lab-exec"


def prepare_disk(h: layout.HostLayout, ctl_public_key: str) -> None:
    """Writes the host's own identity into its (not yet mounted) upper dir, once."""
    if (h.upper / "etc/machine-id").exists():
        return
    for d in (h.upper, h.work, h.root):
        d.mkdir(parents=True, exist_ok=True)
    etc = h.upper / "etc"
    write_text(etc / "hostname", h.name + "\n")
    write_text(etc / "hosts", layout.etc_hosts(h.name))
    write_text(etc / "machine-id", uuid.uuid4().hex + "\n", 0o444)
    (etc / "ssh").mkdir(exist_ok=True)
    for kind in ("ed25519", "ecdsa"):
        key = etc / f"ssh/ssh_host_{kind}_key"
        run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{h.name}", "-f", str(key)])
    (h.upper / "root").mkdir(mode=0o700, exist_ok=True)
    write_text(h.upper / "root/.ssh/authorized_keys", ctl_public_key, 0o600)
    (h.upper / "root/.ssh").chmod(0o700)


def host_public_key(h: layout.HostLayout) -> str:
    return (h.upper / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split(" ", 2)[1]


def ensure_store(h: layout.HostLayout) -> None:
    """The host's JetStream store: a fixed-size ext4 image on a loop device, mounted in the
    machine's namespace (it survives a crash of the host), so "disk full" is real and per host."""
    if os.path.ismount(h.store):
        return
    h.store.mkdir(parents=True, exist_ok=True)
    if not h.store_image.exists():
        with open(h.store_image, "wb") as image:
            image.truncate(layout.STORE_SIZE_MIB << 20)
        # -m 0: no blocks reserved for root, so a full store is full for nats-server too.
        run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", h.name[-6:], str(h.store_image)])
    # A loop device of its own every time, never `mount -o loop`: that reuses a device still
    # attached to the image, and after a power cut another mount namespace (any `ip netns exec`
    # running meanwhile) keeps the dead superblock on it, which a mount would hand back (EIO)
    # instead of replaying the journal. Detaching the mounted device makes it go with the mount.
    device = run(["losetup", "--find", "--show", str(h.store_image)]).stdout.strip()
    try:
        run(["mount", device, str(h.store)])
    finally:
        run(["losetup", "--detach", device], check=False)


# linux/fs.h: FS_IOC_SHUTDOWN = _IOR('X', 125, __u32); ext4's flag that drops, with the
# filesystem, every write that had not reached the device (the journal is not flushed either).
FS_IOC_SHUTDOWN = 0x8004587D
EXT4_GOING_FLAGS_NOLOGFLUSH = 0x2


def cut_store(h: layout.HostLayout) -> None:
    """The store loses power: from now on it keeps exactly what had reached its device."""
    fd = os.open(h.store, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, FS_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)


def remount_store(h: layout.HostLayout, timeout: float = 10) -> None:
    """Mounts a cut store again, as the next boot would: its journal replays. The host's mount
    namespace, which held it too, may take a moment to go after its last process."""
    deadline = time.monotonic() + timeout
    while os.path.ismount(h.store):
        done = run(["umount", str(h.store)], check=False)
        if done.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise LabError(f"{h.name}: cannot unmount its store {h.store}: {done.stderr.strip()}")
        time.sleep(0.05)
    ensure_store(h)


def cgroup_pids(cgroup: Path) -> list[int]:
    """Every process in the cgroup tree. The host's systemd adds and removes cgroups while this
    walks (a unit restarting), so a directory that vanishes is skipped: os.walk ignores a
    directory it can no longer list, where Path.rglob raised (a flaky FileNotFoundError in CI)."""
    pids: list[int] = []
    for directory, _, files in os.walk(cgroup):
        if "cgroup.procs" not in files:
            continue
        try:
            pids += [int(p) for p in (Path(directory) / "cgroup.procs").read_text().split()]
        except OSError:
            continue  # removed between listing and reading
    return pids


def pid1(h: layout.HostLayout) -> int | None:
    """The host's systemd, seen from the machine: the process of the host's cgroup that is PID 1
    of its own PID namespace. Found from the kernel, so it works after a crash of the harness."""
    for pid in cgroup_pids(h.cgroup):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[1:] != [str(pid)] and line.split()[-1] == "1":
                return pid
    return None


def remove_cgroup(cgroup: Path) -> None:
    # Bottom-up, the tree's root last; a cgroup must be empty of children to go.
    for directory, _, _ in os.walk(cgroup, topdown=False):
        os.rmdir(directory)


def boot(h: layout.HostLayout) -> None:
    """Starts the host's systemd on its existing disk; returns at once (see wait_booted)."""
    if pid1(h) is not None:
        return
    remove_cgroup(h.cgroup)
    h.cgroup.mkdir(parents=True)
    # The launcher joins the host's cgroup before unshare --cgroup, so the host's cgroup
    # namespace is rooted there and freezing or killing that cgroup takes the whole host.
    launcher = (
        f"echo $$ > {h.cgroup}/cgroup.procs && exec nsenter --net=/run/netns/{h.netns} "
        f"unshare --pid --fork --mount --uts --ipc --cgroup {INIT} "
        f"{h.name} {layout.BASE_UPPER} {h.upper} {h.work} {h.root} {h.store}"
    )
    with open(h.console_log, "ab") as console:
        subprocess.Popen(
            ["sh", "-c", launcher],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def nsenter(pid: int) -> list[str]:
    return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w"]


def command(h: layout.HostLayout, argv: list[str]) -> list[str]:
    """argv run as root in the host: its namespaces, its root, and a cgroup of the host's own
    (EXEC_CGROUP), so that freeze, crash and kill reach what tests start there as well."""
    pid = pid1(h)
    if pid is None:
        raise LabError(f"{h.name} is not running (crashed or never booted: `pier-lab boot {h.name}`)")
    cgroup = h.cgroup / EXEC_CGROUP
    cgroup.mkdir(exist_ok=True)
    env = ["env", "-i", f"PATH={layout.HOST_PATH}", "HOME=/root", "LANG=C.UTF-8", "USER=root"]
    if "TERM" in os.environ:
        env.append(f"TERM={os.environ['TERM']}")
    join = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh"]
    return join + nsenter(pid) + env + argv


def wait_booted(h: layout.HostLayout, timeout: float = 60) -> str:
    """Waits until the host's systemd finished starting up and sshd runs; returns the state."""
    deadline = time.monotonic() + timeout
    while pid1(h) is None:
        if time.monotonic() > deadline:
            raise LabError(f"{h.name}: no systemd after {timeout:.0f}s; see {h.console_log}")
        time.sleep(0.05)
    while True:
        # Until the wrapper has exec'd systemd and systemd listens, systemctl says "offline".
        left = max(1.0, deadline - time.monotonic())
        state = run(command(h, ["systemctl", "is-system-running", "--wait"]), check=False, timeout=left)
        status = state.stdout.strip()
        if status in ("running", "degraded"):
            break
        if status not in ("offline", "") or time.monotonic() > deadline:
            raise LabError(f"{h.name}: systemd is {status or state.stderr.strip()!r} after booting")
        time.sleep(0.05)
    run(command(h, ["systemctl", "is-active", "--quiet", "ssh.service"]))
    return status


def wait_gone(h: layout.HostLayout, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while cgroup_pids(h.cgroup):
        if time.monotonic() > deadline:
            raise LabError(f"{h.name}: processes {cgroup_pids(h.cgroup)} still alive after {timeout:.0f}s")
        time.sleep(0.02)


def crash(h: layout.HostLayout) -> None:
    """Every process of the host dies at once: SIGKILL to its PID 1 takes its PID namespace.
    A frozen host crashes too: cgroup2 delivers SIGKILL to frozen tasks; the thaw after it lets
    the launcher (outside the host's PID namespace) see its child die and exit."""
    pid = pid1(h)
    if pid is None:
        raise LabError(f"{h.name} is not running")
    os.kill(pid, signal.SIGKILL)
    set_frozen(h, False)
    wait_gone(h)
    remove_cgroup(h.cgroup)


def set_frozen(h: layout.HostLayout, frozen: bool, timeout: float = 10) -> None:
    if not h.cgroup.is_dir():
        raise LabError(f"{h.name} is not running")
    (h.cgroup / "cgroup.freeze").write_text("1" if frozen else "0")
    want = f"frozen {int(frozen)}"
    deadline = time.monotonic() + timeout
    while want not in (h.cgroup / "cgroup.events").read_text().splitlines():
        if time.monotonic() > deadline:
            raise LabError(f"{h.name}: cgroup not {want} after {timeout:.0f}s")
        time.sleep(0.01)


def is_frozen(h: layout.HostLayout) -> bool:
    events = h.cgroup / "cgroup.events"
    return events.exists() and "frozen 1" in events.read_text().splitlines()

"""The lab as one object: up, down, status, running commands, and the fault primitives."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import random
import shlex
import shutil
import signal as signals
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import base, cleanup, host, layout, network
from .run import LabError, log, run, write_text

FILL_FILE = ".pier-lab-fill"


@dataclasses.dataclass
class Faults:
    """The network faults of one host, kept in the state file so each change re-renders them."""

    blocked: list[str] = dataclasses.field(default_factory=list)
    loss: int = 0


class Lab:
    """The lab on this machine. Every method works from the kernel's view plus a small state
    file under /run/pier-lab, so a new Lab() in another process (the CLI, a test) sees the same
    lab."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, mounts, cgroups)")

    # --- state -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict]:
        layout.STATE_DIR.mkdir(parents=True, exist_ok=True)
        with open(layout.STATE_DIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(layout.STATE_FILE.read_text()) if layout.STATE_FILE.exists() else {}
            yield state
            write_text(layout.STATE_FILE, json.dumps(state, indent=1) + "\n")

    def hosts(self) -> list[str]:
        """The hosts the lab was brought up with (empty when it is down)."""
        if not layout.STATE_FILE.exists():
            return []
        return json.loads(layout.STATE_FILE.read_text()).get("hosts", [])

    def _host(self, name: str) -> layout.HostLayout:
        try:
            h = layout.host(name)
        except ValueError as e:
            raise LabError(str(e)) from None
        if name not in self.hosts():
            raise LabError(f"{name} is not in the lab (hosts: {', '.join(self.hosts()) or 'none: run up'})")
        return h

    # --- up / down / status ----------------------------------------------------------------

    def up(self, count: int = layout.DEFAULT_HOSTS, say=print) -> None:
        """Brings the lab up with `count` hosts; adds hosts to a smaller lab; a no-op if it is up.
        Bad arguments change nothing; a failure later leaves the lab partly up for `down`."""
        try:
            names = layout.host_names(count)
        except ValueError as e:
            raise LabError(str(e)) from None
        running = self.hosts()
        if len(running) > count:
            raise LabError(f"the lab is up with {len(running)} hosts; run `down` first for {count}")
        try:
            self._up(names, say)
        except LabError as e:
            raise LabError(f"{e} (the lab is partly up: `pier-lab down` removes it)") from e

    def _up(self, names: list[str], say) -> None:
        started = time.monotonic()
        # Containment before any lab address exists.
        network.ensure_containment()
        if not os.path.ismount(layout.RW_DIR):
            layout.RW_DIR.mkdir(parents=True, exist_ok=True)
            run(["mount", "-t", "tmpfs", "-o", "mode=755,size=4g", "pier-lab", str(layout.RW_DIR)])
        in_use = any(host.pid1(layout.host(n)) is not None for n in self.hosts())
        say(f"lab: {base.ensure(in_use)}")
        if not layout.SSH_KEY.exists():
            layout.SSH_DIR.mkdir(parents=True, exist_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@ctl", "-f", str(layout.SSH_KEY)])
        public_key = Path(f"{layout.SSH_KEY}.pub").read_text()
        network.ensure_switch()
        network.ensure_member(network_name(layout.CTL), layout.CTL, layout.CTL_ADDRESS)
        write_text(layout.NETNS_ETC / network_name(layout.CTL) / "hosts", layout.etc_hosts(layout.CTL))
        booting = time.monotonic()
        to_boot = []
        for name in names:
            h = layout.host(name)
            network.ensure_member(h.netns, h.name, h.address)
            host.prepare_disk(h, public_key)
            host.ensure_store(h)
            if host.pid1(h) is None:
                host.boot(h)
                to_boot.append(h)
        with self._state() as state:
            state["hosts"] = names
            state.setdefault("faults", {})
        self._write_client_files(names)
        errors: list[str] = []

        def wait(h: layout.HostLayout) -> None:
            try:
                host.wait_booted(h)
            except LabError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=wait, args=(h,)) for h in to_boot]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise LabError("; ".join(errors))
        if to_boot:
            say(
                f"lab: booted {', '.join(h.name for h in to_boot)} in {time.monotonic() - booting:.1f}s "
                f"(systemd running, sshd up)"
            )
        else:
            say(f"lab: already up with {', '.join(names)}")
        say(f"lab: up in {time.monotonic() - started:.1f}s (`pier-lab ssh HOST`, `pier-lab status`)")

    def _write_client_files(self, names: list[str]) -> None:
        known = "".join(
            f"{n},{layout.host(n).address} ssh-ed25519 {host.host_public_key(layout.host(n))}\n"
            for n in names
        )
        write_text(layout.KNOWN_HOSTS, known)
        config = "".join(
            f"Host {n} {layout.host(n).address}\n  HostName {layout.host(n).address}\n" for n in names
        )
        options = [
            "User root",
            f"IdentityFile {layout.SSH_KEY}",
            f"UserKnownHostsFile {layout.KNOWN_HOSTS}",
            "StrictHostKeyChecking yes",
            "BatchMode yes",
            "ConnectTimeout 5",
            "LogLevel ERROR",
        ]
        config += "Host *\n" + "".join(f"  {o}\n" for o in options)
        write_text(layout.SSH_CONFIG, config)
        # The seed's inventory shape: Ansible runs in ctl with the lab's ssh config.
        inventory = "[nats]\n" + "".join(f"{n} ansible_host={layout.host(n).address}\n" for n in names)
        inventory += (
            f"\n[nats:vars]\nansible_user=root\nansible_python_interpreter=/usr/bin/python3\n"
            f"ansible_ssh_common_args=-F {layout.SSH_CONFIG}\n"
        )
        write_text(layout.INVENTORY, inventory)

    def down(self, purge: bool = False) -> list[str]:
        """Removes the whole lab whatever its state; returns what had to be removed. purge also
        removes the cached base layer (the next up builds it again)."""
        cleaned = cleanup.down()
        if purge and layout.CACHE_DIR.exists():
            run(["rm", "-rf", str(layout.CACHE_DIR)])
            cleaned.append(f"removed the base layer cache {layout.CACHE_DIR}")
        return cleaned

    def status(self) -> dict:
        names = self.hosts()
        hosts = {}
        faults = self._faults()
        for name in names:
            h = layout.host(name)
            pid = host.pid1(h)
            state = "crashed"
            if pid is not None and host.is_frozen(h):
                state = "frozen"
            elif pid is not None:
                state = run(host.command(h, ["systemctl", "is-system-running"]), check=False).stdout.strip()
            f = faults.get(name, Faults())
            hosts[name] = {
                "address": str(h.address),
                "pid": pid,
                "systemd": state,
                "partitioned_from": f.blocked,
                "loss_percent": f.loss,
                "store_full": (h.store / FILL_FILE).exists(),
            }
        return {"up": bool(names), "hosts": hosts, "leftovers": [] if names else cleanup.leftovers()}

    # --- running commands ------------------------------------------------------------------

    def exec(
        self,
        name: str,
        argv: Sequence[str] | str,
        *,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs a command as root in the host (all its namespaces, its root); a string runs in sh.
        `input` is its standard input (text), e.g. a file's content for `sh -c 'cat > FILE'`."""
        cmd = ["sh", "-c", argv] if isinstance(argv, str) else list(argv)
        return run(host.command(self._host(name), cmd), check=check, timeout=timeout, input=input)

    def exec_argv(self, name: str, argv: Sequence[str]) -> list[str]:
        """The command line that runs argv in the host, for callers that manage the process."""
        return host.command(self._host(name), list(argv))

    def ctl(self, argv: Sequence[str] | str, *, check: bool = True, timeout: float = 120):
        """Runs a command in the control namespace (the machine's files, the lab's network)."""
        return run(self.ctl_argv(argv), check=check, timeout=timeout)

    def ctl_argv(self, argv: Sequence[str] | str) -> list[str]:
        cmd = ["sh", "-c", argv] if isinstance(argv, str) else list(argv)
        # `ip netns exec` gives the command a copy of the machine's mounts, the hosts' stores
        # among them. A copy that outlives a power cut (the bench's) keeps the cut store's old
        # superblock beside the store mounted again, and its last unmount writes that superblock's
        # stale metadata over the image: a store corrupted by the lab, not by the cut (EXT4-fs
        # error "deleted inode referenced" a round later). Clients need no store: their copy
        # drops them.
        stores = " ".join(shlex.quote(str(layout.host(n).store)) for n in self.hosts())
        drop = f'umount -l {stores} 2>/dev/null; exec "$@"' if stores else 'exec "$@"'
        return ["ip", "netns", "exec", network_name(layout.CTL), "sh", "-c", drop, "ctl", *cmd]

    def ssh_argv(self, name: str, command: str | None = None) -> list[str]:
        """ssh from ctl to the host with the key every host trusts (what Ansible does)."""
        self._host(name)
        return self.ctl_argv(["ssh", "-F", str(layout.SSH_CONFIG), name, *([command] if command else [])])

    def ssh(self, name: str, command: str, *, check: bool = True, timeout: float = 60):
        return run(self.ssh_argv(name, command), check=check, timeout=timeout)

    def logs(self, name: str, unit: str | None = None) -> str:
        argv = ["journalctl", "-b", "--no-pager", *(["-u", unit] if unit else [])]
        return self.exec(name, argv).stdout

    # --- faults ----------------------------------------------------------------------------

    def kill(self, name: str, process: str, signal: str | int = "TERM") -> list[int]:
        """Sends a signal to every process of the host named `process` (its comm); returns them."""
        h = self._host(name)
        sig = parse_signal(signal)
        pids = []
        for pid in host.cgroup_pids(h.cgroup):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm == process[:15]:
                os.kill(pid, sig)
                pids.append(pid)
        if not pids:
            raise LabError(f"{name}: no process named {process!r}")
        return pids

    def freeze(self, name: str) -> None:
        """A hung machine: every process of the host stops (cgroup freeze); the network stack,
        being the kernel's, still answers pings and TCP handshakes."""
        host.set_frozen(self._host(name), True)

    def thaw(self, name: str) -> None:
        host.set_frozen(self._host(name), False)

    def crash(self, name: str) -> None:
        """Every process of the host dies at once; its disks and network stay as they were."""
        host.crash(self._host(name))

    def power_cut(self, names: Sequence[str]) -> None:
        """Every host named loses power at the same instant: all are frozen first, then each
        store drops the writes that had not reached its device, then the hosts die; each store
        is mounted again so its journal replays, as at the next boot (`boot` brings them back)."""
        hosts = [self._host(n) for n in dict.fromkeys(names)]
        if not hosts:
            raise LabError("power-cut: name at least one host")
        for h in hosts:
            if host.pid1(h) is None:
                raise LabError(f"power-cut: {h.name} is not running")
        for h in hosts:
            host.set_frozen(h, True)
        for h in hosts:
            host.cut_store(h)
        for h in hosts:
            host.crash(h)
        for h in hosts:
            host.remount_store(h)

    def _stopped_store(self, name: str, verb: str) -> layout.HostLayout:
        h = self._host(name)
        if host.pid1(h) is not None:
            raise LabError(f"{verb} {name}: the host runs; corrupt a stopped store (crash or power-cut it first)")
        return h

    def _store_files(self, h: layout.HostLayout, pattern: str, verb: str) -> list[Path]:
        """Regular files of the store matching `pattern` (a glob relative to the store's root,
        /var/lib/pier in the host), in name order."""
        files = sorted(p for p in h.store.glob(pattern) if p.is_file() and not p.is_symlink())
        if not files:
            raise LabError(f"{verb} {h.name}: no file of the store matches {pattern!r}")
        return files

    def bitflip(self, name: str, pattern: str, count: int = 1, seed: int | None = None) -> list[dict]:
        """Flips `count` bits of a stopped host's store, each in a random file matching `pattern`
        at a random place; returns where (path in the host, byte offset, bit)."""
        h = self._stopped_store(name, "bitflip")
        if count < 1:
            raise LabError(f"bitflip {name}: --count must be at least 1, not {count}")
        files = [f for f in self._store_files(h, pattern, "bitflip") if f.stat().st_size > 0]
        if not files:
            raise LabError(f"bitflip {name}: every file matching {pattern!r} is empty")
        rng = random.Random(seed)
        flips = []
        for _ in range(count):
            path = rng.choice(files)
            offset = rng.randrange(path.stat().st_size)
            bit = rng.randrange(8)
            with open(path, "r+b") as f:
                f.seek(offset)
                byte = f.read(1)[0]
                f.seek(offset)
                f.write(bytes([byte ^ (1 << bit)]))
                os.fsync(f.fileno())
            flips.append({"path": self._in_host(h, path), "offset": offset, "bit": bit})
        return flips

    def truncate(self, name: str, pattern: str, size: int | None = None, newest: bool = False) -> list[dict]:
        """Cuts the files of a stopped host's store matching `pattern` (only the most recently
        modified with `newest`) to `size` bytes, by default to half their size."""
        h = self._stopped_store(name, "truncate")
        files = self._store_files(h, pattern, "truncate")
        if newest:
            files = [max(files, key=lambda p: (p.stat().st_mtime_ns, p.name))]
        cuts = []
        for path in files:
            before = path.stat().st_size
            after = before // 2 if size is None else size
            if after > before:
                raise LabError(f"truncate {name}: {self._in_host(h, path)} has {before} bytes, fewer than {after}")
            os.truncate(path, after)
            cuts.append({"path": self._in_host(h, path), "from": before, "to": after})
        return cuts

    def keep(self, name: str, pattern: str) -> list[str]:
        """Copies the files of a stopped host's store matching `pattern` aside, for `rollback`."""
        h = self._stopped_store(name, "keep")
        kept = []
        for path in self._store_files(h, pattern, "keep"):
            copy = h.kept / path.relative_to(h.store)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
            kept.append(self._in_host(h, path))
        return kept

    def rollback(self, name: str) -> list[str]:
        """Puts the copies `keep` took back over the files of a stopped host's store: an old
        version of a file, as a restored backup or a misbehaving disk cache would leave it."""
        h = self._stopped_store(name, "rollback")
        copies = sorted(p for p in h.kept.rglob("*") if p.is_file()) if h.kept.is_dir() else []
        if not copies:
            raise LabError(f"rollback {name}: nothing kept (`pier-lab keep {name} GLOB` first)")
        restored = []
        for copy in copies:
            path = h.store / copy.relative_to(h.kept)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(copy, path)
            restored.append(self._in_host(h, path))
        shutil.rmtree(h.kept)
        os.sync()
        return restored

    @staticmethod
    def _in_host(h: layout.HostLayout, path: Path) -> str:
        return str(Path("/var/lib/pier") / path.relative_to(h.store))

    def boot(self, name: str, say=print) -> None:
        """Boots a crashed host on the same disks; returns when systemd and sshd run."""
        h = self._host(name)
        started = time.monotonic()
        host.boot(h)
        host.wait_booted(h)
        say(f"lab: {name} booted in {time.monotonic() - started:.1f}s")

    def partition(self, name: str, peers: Sequence[str] = ()) -> list[str]:
        """Cuts the host off from the peers (hosts or `ctl`), both ways; by default from all."""
        self._host(name)
        members = [layout.CTL, *self.hosts()]
        peers = list(peers) or [m for m in members if m != name]
        for p in peers:
            if p not in members or p == name:
                raise LabError(
                    f"partition {name}: {p!r} is not another member of the lab ({', '.join(members)})"
                )
        with self._state() as state:
            f = Faults(**state["faults"].get(name, {}))
            f.blocked = sorted(set(f.blocked) | set(peers))
            state["faults"][name] = dataclasses.asdict(f)
        self._apply_faults(name)
        return peers

    def heal(self, name: str | None = None) -> None:
        """Removes the partitions of one host, or of all."""
        names = [self._host(name).name] if name else self.hosts()
        with self._state() as state:
            for n in names:
                state["faults"].setdefault(n, {})["blocked"] = []
        for n in names:
            self._apply_faults(n)

    def loss(self, name: str, percent: int) -> None:
        """Drops `percent` of the host's packets at random in each direction; 0 undoes it."""
        self._host(name)
        if not 0 <= percent <= 100:
            raise LabError(f"loss {name}: percent must be 0..100, not {percent}")
        with self._state() as state:
            state["faults"].setdefault(name, {})["loss"] = percent
        self._apply_faults(name)

    def fill(self, name: str) -> int:
        """Fills the host's store filesystem to the last byte; returns the bytes written."""
        h = self._host(name)
        written = 0
        size = 1 << 20
        # Unbuffered, so ENOSPC comes from the write that hit it, never from a later flush.
        with open(h.store / FILL_FILE, "ab", buffering=0) as f:
            while size:
                try:
                    written += f.write(b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise LabError(f"fill {name}: {h.store / FILL_FILE}: {e}") from e
                    size //= 16
        return written

    def unfill(self, name: str) -> None:
        h = self._host(name)
        (h.store / FILL_FILE).unlink(missing_ok=True)

    def reset_faults(self) -> None:
        """Undoes every fault: thaws, boots crashed hosts, heals, no loss, store emptied."""
        for name in self.hosts():
            h = layout.host(name)
            if host.is_frozen(h):
                self.thaw(name)
            if host.pid1(h) is None:
                self.boot(name, say=log.info)
            self.unfill(name)
            shutil.rmtree(h.kept, ignore_errors=True)
        with self._state() as state:
            state["faults"] = {}
        for name in self.hosts():
            self._apply_faults(name)

    def _faults(self) -> dict[str, Faults]:
        if not layout.STATE_FILE.exists():
            return {}
        stored = json.loads(layout.STATE_FILE.read_text()).get("faults", {})
        return {n: Faults(**f) for n, f in stored.items()}

    def _apply_faults(self, name: str) -> None:
        f = self._faults().get(name, Faults())
        network.apply_faults(layout.host(name).netns, [layout.address_of(p) for p in f.blocked], f.loss)


def network_name(member: str) -> str:
    return layout.NETNS_PREFIX + member if member == layout.CTL else layout.host(member).netns


def parse_signal(value: str | int) -> int:
    if isinstance(value, int) or value.isdigit():
        return int(value)
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(getattr(signals.Signals, name))
    except AttributeError:
        raise LabError(f"unknown signal {value!r}") from None

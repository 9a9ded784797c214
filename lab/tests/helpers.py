"""Observations the lab tests make, always with real traffic between lab namespaces."""

from __future__ import annotations

import re

from pierlab import Lab

BANNER = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], 22), timeout=2)
    s.settimeout(2)
    print(s.recv(64).decode().strip())
except OSError as e:
    print(type(e).__name__)
"""


def ssh_banner(lab: Lab, address: str, *, source: str | None = None) -> str:
    """What sshd at address says within 2 s, seen from ctl or from a host: its banner, or the
    error's name (TimeoutError, ConnectionRefusedError)."""
    argv = ["python3", "-c", BANNER, address]
    done = lab.exec(source, argv) if source else lab.ctl(argv)
    return done.stdout.strip()


CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
    print("connected")
except OSError as e:
    print(type(e).__name__)
"""


def tcp_connect(lab: Lab, address: str, port: int) -> str:
    """Whether a TCP connection from ctl to address:port opens within 2 s: "connected", or the
    error's name (ConnectionRefusedError, TimeoutError)."""
    return lab.ctl(["python3", "-c", CONNECT, address, str(port)]).stdout.strip()


def ping_loss(lab: Lab, address: str, *, count: int = 3, source: str | None = None) -> float:
    """Percent of pings lost between ctl (or a host) and address."""
    argv = ["ping", "-q", "-n", "-c", str(count), "-i", "0.005", "-W", "1", address]
    done = lab.exec(source, argv, check=False) if source else lab.ctl(argv, check=False)
    found = re.search(r"([\d.]+)% packet loss", done.stdout)
    assert found, f"no ping summary: {done.stdout} {done.stderr}"
    return float(found.group(1))


WRITE = """
import errno, sys
try:
    with open(sys.argv[1], "wb", buffering=0) as f:
        f.write(b"x" * 4096)
        print("written")
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def write_4k(lab: Lab, name: str, path: str) -> str:
    """Writes 4 KiB in the host: "written" or the errno's name (ENOSPC)."""
    return lab.exec(name, ["python3", "-c", WRITE, path]).stdout.strip()


def wait_in(lab: Lab, name: str, condition: str, seconds: float = 5) -> None:
    """Waits until the shell condition holds in the host; fails the test if it never does."""
    tries = int(seconds / 0.05)
    lab.exec(name, f"for i in $(seq {tries}); do {condition} && exit 0; sleep 0.05; done; exit 1")

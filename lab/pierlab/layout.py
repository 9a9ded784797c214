"""Where everything of the lab lives: names, addresses, paths (the only probe: where cgroup2 is)."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

# The seed's hosts (docs/examples/hk/), so the examples and the Ansible inventory run unchanged.
SUBNET = ipaddress.ip_network("203.0.113.0/24")
# Blackholed in the machine's own namespace while the lab is up: exactly .8-.15, never the /24,
# whose other addresses may serve the machine itself.
CONTAINMENT = ipaddress.ip_network("203.0.113.8/29")
CTL_ADDRESS = ipaddress.ip_address("203.0.113.10")
FIRST_HOST_ADDRESS = 11
MAX_HOSTS = 5
DEFAULT_HOSTS = 3

CTL = "ctl"
NETNS_PREFIX = "lab-"
SWITCH_NETNS = NETNS_PREFIX + "sw"
BRIDGE = "br0"

STATE_DIR = Path("/run/pier-lab")
CACHE_DIR = Path("/var/cache/pier-lab")


def _cgroup2_mount() -> Path:
    """Where cgroup2 is mounted: /sys/fs/cgroup/unified on a hybrid machine like this one."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2":
            return Path(fields[1])
    return Path("/sys/fs/cgroup")


CGROUP_ROOT = _cgroup2_mount() / "pier-lab"
# One tmpfs holds the base layer's upper dir and every host's upper dir: an upper dir on the
# same filesystem as / breaks the per-host overlay ("Too many levels of symbolic links").
RW_DIR = STATE_DIR / "rw"
BASE_UPPER = RW_DIR / "base" / "upper"
BASE_WORK = RW_DIR / "base" / "work"
SSH_DIR = STATE_DIR / "ssh"
SSH_KEY = SSH_DIR / "id_ed25519"
SSH_CONFIG = SSH_DIR / "config"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
STATE_FILE = STATE_DIR / "state.json"
INVENTORY = STATE_DIR / "inventory.ini"
# `ip netns exec` binds /etc/netns/NAME/hosts over /etc/hosts: clients in ctl know hosts by name.
NETNS_ETC = Path("/etc/netns")

STORE_SIZE_MIB = 256
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host_names(count: int) -> list[str]:
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"the lab has 1 to {MAX_HOSTS} hosts, not {count}")
    return [f"nats-node-{i}" for i in range(1, count + 1)]


@dataclasses.dataclass(frozen=True)
class HostLayout:
    """One host: its name, address, namespace and the paths of its disks."""

    name: str

    @property
    def index(self) -> int:
        return int(self.name.rsplit("-", 1)[1])

    @property
    def address(self) -> ipaddress.IPv4Address:
        return SUBNET[FIRST_HOST_ADDRESS - 1 + self.index]

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.name

    @property
    def dir(self) -> Path:
        return STATE_DIR / "hosts" / self.name

    @property
    def upper(self) -> Path:
        return RW_DIR / self.name / "upper"

    @property
    def work(self) -> Path:
        return RW_DIR / self.name / "work"

    @property
    def root(self) -> Path:
        """Mount point of the host's overlay root, mounted only inside the host's namespace."""
        return self.dir / "root"

    @property
    def store_image(self) -> Path:
        return self.dir / "store.img"

    @property
    def store(self) -> Path:
        """The store's mount in the machine's namespace: it outlives a crash of the host."""
        return self.dir / "store"

    @property
    def kept(self) -> Path:
        """Copies of store files taken by `keep`, for `rollback`."""
        return self.dir / "kept"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def cgroup(self) -> Path:
        return CGROUP_ROOT / self.name


def host(name: str) -> HostLayout:
    try:
        layout = HostLayout(name)
        index = layout.index
    except (IndexError, ValueError):
        raise ValueError(f"unknown host {name!r}: hosts are nats-node-1..{MAX_HOSTS}") from None
    if name != f"nats-node-{index}" or not 1 <= index <= MAX_HOSTS:
        raise ValueError(f"unknown host {name!r}: hosts are nats-node-1..{MAX_HOSTS}")
    return layout


def address_of(member: str) -> ipaddress.IPv4Address:
    """The address of a host or of `ctl`."""
    return CTL_ADDRESS if member == CTL else host(member).address


def etc_hosts(hostname: str) -> str:
    """Every member the lab can have, so a host booted in a lab of three knows hosts added later."""
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{hostname}", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines.append(f"{CTL_ADDRESS}\t{CTL}")
    lines += [f"{host(n).address}\t{n}" for n in host_names(MAX_HOSTS)]
    return "\n".join(lines) + "\n"

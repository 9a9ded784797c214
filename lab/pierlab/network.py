"""The lab's network: a switch namespace with a bridge, one namespace per host and for ctl,
the containment route in the machine's own namespace, and the nftables faults per host."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from . import layout
from .run import LabError, run

NETNS_DIR = Path("/run/netns")
NFT_TABLE = "pier_lab"


def netns_list() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob(layout.NETNS_PREFIX + "*")) if NETNS_DIR.is_dir() else []


def exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def ip(netns: str, *args: str) -> None:
    run(["ip", "-n", netns, *args])


def ensure_switch() -> None:
    if exists(layout.SWITCH_NETNS):
        return
    run(["ip", "netns", "add", layout.SWITCH_NETNS])
    ip(layout.SWITCH_NETNS, "link", "set", "lo", "up")
    ip(layout.SWITCH_NETNS, "link", "add", layout.BRIDGE, "type", "bridge")
    ip(layout.SWITCH_NETNS, "link", "set", layout.BRIDGE, "up")


def ensure_member(netns: str, port: str, address: ipaddress.IPv4Address) -> None:
    """A namespace wired to the switch by a veth pair that never touches the machine's namespace.

    No default route: the only addresses a member can reach are the lab's."""
    if exists(netns):
        return
    run(["ip", "netns", "add", netns])
    ip(netns, "link", "set", "lo", "up")
    ip(layout.SWITCH_NETNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns)
    ip(layout.SWITCH_NETNS, "link", "set", port, "master", layout.BRIDGE, "up")
    ip(netns, "addr", "add", f"{address}/{layout.SUBNET.prefixlen}", "dev", "eth0")
    ip(netns, "link", "set", "eth0", "up")


def lab_ports_in_machine() -> list[str]:
    """Lab interfaces in the machine's own namespace: there must never be any."""
    ports = {layout.CTL, layout.BRIDGE, *layout.host_names(layout.MAX_HOSTS)}
    links = run(["ip", "-o", "link", "show"]).stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in links if ":" in line]
    return [n for n in names if n in ports]


def containment_route() -> str | None:
    out = run(["ip", "route", "show", "exact", str(layout.CONTAINMENT)]).stdout.strip()
    return out or None


def ensure_containment() -> None:
    route = containment_route()
    if route is None:
        run(["ip", "route", "add", "blackhole", str(layout.CONTAINMENT)])
    elif not route.startswith("blackhole"):
        raise LabError(
            f"the machine already routes {layout.CONTAINMENT} ({route}): the lab would not be contained"
        )


def remove_containment() -> bool:
    route = containment_route()
    if route and route.startswith("blackhole"):
        run(["ip", "route", "del", "blackhole", str(layout.CONTAINMENT)])
        return True
    return False


def nft_ruleset(blocked: list[ipaddress.IPv4Address], loss_percent: int) -> str:
    """The host's fault table: drop everything to and from the blocked peers, and lose
    loss_percent of the packets in each direction on top. Pure, so it is tested as text."""
    table = f"table inet {NFT_TABLE}"
    inbound: list[str] = []
    outbound: list[str] = []
    if blocked:
        peers = ", ".join(str(a) for a in blocked)
        inbound.append(f"ip saddr {{ {peers} }} drop")
        outbound.append(f"ip daddr {{ {peers} }} drop")
    if loss_percent >= 100:
        lose = "drop"  # nft refuses "mod 100 < 100"
    else:
        lose = f"numgen random mod 100 < {loss_percent} drop" if loss_percent else ""
    if lose:
        inbound.append(lose)
        outbound.append(lose)

    def chain(name: str, hook: str, rules: list[str]) -> str:
        body = "".join(f"\t\t{r}\n" for r in rules)
        return f"\tchain {name} {{\n\t\ttype filter hook {hook} priority -300; policy accept;\n{body}\t}}\n"

    # Declaring the table first makes the delete valid when it does not exist yet: one atomic
    # transaction replaces the whole table.
    return (
        f"{table} {{}}\ndelete {table}\n{table} {{\n"
        + chain("input", "prerouting", inbound)
        + chain("output", "output", outbound)
        + "}\n"
    )


def apply_faults(netns: str, blocked: list[ipaddress.IPv4Address], loss_percent: int) -> None:
    # The machine's nft in the host's namespace, not the host's own: faults work while the host
    # is frozen or crashed.
    run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=nft_ruleset(blocked, loss_percent))

"""The harness's pure parts: layout and the fault ruleset (checked by the real nft)."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from pierlab import layout, network
from pierlab.lab import parse_signal
from pierlab.run import LabError


def test_the_seeds_addresses_and_containment():
    assert [str(layout.host(n).address) for n in layout.host_names(5)] == [
        f"203.0.113.{i}" for i in range(11, 16)
    ]
    members = [layout.CTL_ADDRESS] + [layout.host(n).address for n in layout.host_names(5)]
    assert all(a in layout.CONTAINMENT for a in members)
    assert layout.CONTAINMENT.num_addresses == 8 and layout.CONTAINMENT != layout.SUBNET
    for bad in ("nats-node-0", "nats-node-6", "node-1", "nats-node-01"):
        with pytest.raises(ValueError, match="unknown host"):
            layout.host(bad)
    with pytest.raises(ValueError):
        layout.host_names(6)


def test_signals_by_name_or_number():
    assert parse_signal("KILL") == parse_signal("sigkill") == parse_signal("9") == 9
    with pytest.raises(LabError, match="unknown signal"):
        parse_signal("NOPE")


@pytest.mark.parametrize(
    "blocked, loss", [([], 0), (["203.0.113.12"], 0), ([], 30), (["203.0.113.10", "203.0.113.13"], 100)]
)
def test_fault_ruleset_is_valid_nftables(blocked, loss):
    ruleset = network.nft_ruleset([ipaddress.ip_address(a) for a in blocked], loss)
    for a in blocked:
        assert f"ip saddr {{ {a}" in ruleset or f", {a}" in ruleset
    assert (f"numgen random mod 100 < {loss} drop" in ruleset) == (0 < loss < 100)
    # nft judges it, applied twice (the second replaces the first), in a throwaway namespace.
    twice = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            'printf "%s" "$1" | nft -f - && printf "%s" "$1" | nft -f - && nft list ruleset',
            "-",
            ruleset,
        ],
        capture_output=True,
        text=True,
    )
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.count(f"table inet {network.NFT_TABLE}") == 1

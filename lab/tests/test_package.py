"""The .deb on a fresh lab host, driven the way an operator does: apt install, systemctl start,
reload (good and bad), watchdog restart, stop, upgrade with an edited pier.toml, remove, purge.

The tests run in file order and share one host's history; each checks what the one before left.
packaging/build makes the packages (release 1, then a rebuild numbered 2 for the upgrade).
docs/packaging.md lists what is checked here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A host nobody else uses while this runs: PIER_LAB_HOSTS must bring it up (4 for nats-node-4).
HOST = os.environ.get("PIER_PACKAGE_HOST", "nats-node-1")
UNIT = "pier-broker.service"
CONFIG = "/etc/pier/pier.toml"
# Upstream's util/nats-server-hardened.service, measured with the same systemd-analyze.
UPSTREAM_HARDENED_EXPOSURE = 1.7
# systemd's catalog id of "Started <unit>".
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"


def packages(tmp_path_factory, release: int) -> dict[str, Path]:
    """The .deb and the .rpm of `release`, built from this clone once per session: this file and
    test_package_rpm.py install the same builds. packaging/build empties its output directory
    at each run, so both are copied out: {"deb": path, "rpm": path}."""
    out = tmp_path_factory.getbasetemp() / f"packages-{release}"
    if not out.is_dir():
        done = subprocess.run(
            [str(REPO / "packaging/build"), "--release", str(release)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"packaging/build: {done.stdout}\n{done.stderr}"
        building = tmp_path_factory.mktemp(f"building-{release}")
        for line in done.stdout.splitlines():
            if line.endswith((".deb", ".rpm")):
                shutil.copy(line, building)
        building.rename(out)
    built = {kind: sorted(out.glob(f"*.{kind}")) for kind in ("deb", "rpm")}
    assert all(len(paths) == 1 for paths in built.values()), f"packaging/build's packages: {built}"
    return {kind: paths[0] for kind, paths in built.items()}


@pytest.fixture(scope="module")
def debs(tmp_path_factory) -> dict[int, Path]:
    """Release 1 and release 2 of the .deb, built from this clone."""
    return {release: packages(tmp_path_factory, release)["deb"] for release in (1, 2)}


@pytest.fixture(scope="module")
def host(debs, fresh_lab):
    """HOST with the debs in /root, on a lab booted anew (no pier package, no pier user), and
    left fresh again, whatever the tests did: package purged, store emptied, user deleted."""
    lab = fresh_lab
    for argv in (["dpkg-query", "-W", "pier"], ["getent", "passwd", "pier"]):
        found = lab.exec(HOST, argv, check=False)
        assert found.returncode != 0, (
            f"{HOST} is not fresh ({' '.join(argv)}: {found.stdout.strip()}): `pier-lab down`, then run again"
        )
    mode, uid, gid = sh(lab, "stat -c '%a %u %g' /var/lib/pier").stdout.split()
    for release, deb in debs.items():
        with open(deb, "rb") as f:
            subprocess.run(
                lab.exec_argv(HOST, ["sh", "-c", f"cat > /root/pier-{release}.deb"]), stdin=f, check=True
            )
    yield lab
    sh(lab, "DEBIAN_FRONTEND=noninteractive apt-get purge -y pier >/dev/null 2>&1", check=False)
    sh(lab, f"rm -rf /var/lib/pier/jetstream /root/pier-*.deb; userdel pier; chown {uid}:{gid} /var/lib/pier; chmod {mode} /var/lib/pier")
    assert sh(lab, "getent passwd pier", check=False).returncode != 0


def sh(lab, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return lab.exec(HOST, command, check=check, timeout=180)


def show(lab, *properties: str) -> dict[str, str]:
    out = sh(lab, f"systemctl show {UNIT} " + " ".join(f"-p {p}" for p in properties)).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def journal_since(lab, cursor: str, *extra: str) -> list[dict]:
    out = sh(lab, f"journalctl -u {UNIT} --after-cursor='{cursor}' -o json --no-pager " + " ".join(extra)).stdout
    return [json.loads(line) for line in out.splitlines()]


def cursor(lab) -> str:
    out = sh(lab, f"journalctl -u {UNIT} -n 0 --show-cursor --no-pager").stdout
    return out.strip().rsplit("cursor: ", 1)[1]


def wait_for(what: str, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def nats_server_pid(lab) -> int:
    return int(sh(lab, "pgrep -x -u pier nats-server").stdout.split()[0])


def test_install_creates_user_and_directories_and_leaves_the_unit_alone(host):
    done = sh(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /root/pier-1.deb 2>&1")
    assert "neither enabled nor started" in done.stdout, done.stdout

    user = sh(host, "getent passwd pier").stdout.strip().split(":")
    assert int(user[2]) < 1000 and user[5] == "/var/lib/pier" and user[6] == "/usr/sbin/nologin", user
    assert sh(host, "stat -c '%a %U %G' /var/lib/pier").stdout.split() == ["700", "pier", "pier"]
    assert sh(host, f"stat -c '%a %U %G' {CONFIG}").stdout.split() == ["644", "root", "root"]
    assert sh(host, "stat -c '%a' /usr/lib/pier/nats-server").stdout.strip() == "755"
    assert sh(host, f"systemctl is-enabled {UNIT}", check=False).stdout.strip() == "disabled"
    assert sh(host, f"systemctl is-active {UNIT}", check=False).stdout.strip() == "inactive"
    assert sh(host, "man -w pier-broker-run").stdout.strip() == "/usr/share/man/man1/pier-broker-run.1.gz"


def test_start_is_active_only_after_ready_with_a_status_line(host):
    sh(host, f"systemctl start {UNIT}")  # Type=notify: returns once READY=1 arrived
    state = show(host, "ActiveState", "SubState", "StatusText", "User")
    assert state["ActiveState"] == "active" and state["SubState"] == "running", state
    assert state["StatusText"], f"no STATUS= line: {state}"
    assert state["User"] == "pier"
    assert "Status: \"" in sh(host, f"systemctl status --no-pager {UNIT}", check=False).stdout
    status = sh(host, "pier-broker status", check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "node-1" in status.stdout


def test_reload_applies_a_good_file_and_refuses_a_bad_one(host):
    before = show(host, "MainPID")["MainPID"]
    server = nats_server_pid(host)
    mark = cursor(host)
    sh(host, f"printf '\\n[limits]\\nmax_payload = \"2MiB\"\\n' >> {CONFIG}")
    sh(host, f"systemctl reload {UNIT}")
    assert any(
        "reload" in e.get("MESSAGE", "").lower() for e in journal_since(host, mark)
    ), "no reload in the journal"

    good = sh(host, f"cat {CONFIG}").stdout
    sh(host, f"printf '\\n[nonsense]\\nkey = 1\\n' >> {CONFIG}")
    refused = sh(host, f"systemctl reload {UNIT}", check=False)
    assert refused.returncode != 0, "a bad pier.toml must make the reload fail"
    assert show(host, "ActiveState")["ActiveState"] == "active"
    assert show(host, "MainPID")["MainPID"] == before, "reload must not restart the supervisor"
    assert nats_server_pid(host) == server, "reload must not restart nats-server"
    sh(host, f"cat > {CONFIG} <<'EOF'\n{good}EOF")
    sh(host, f"systemctl reload {UNIT}")


def test_watchdog_restarts_a_hung_nats_server(host):
    restarts = int(show(host, "NRestarts")["NRestarts"])
    host.kill(HOST, "nats-server", "STOP")
    # WatchdogSec=30s, then RestartSec=5s and a start.
    wait_for(
        "a watchdog restart",
        lambda: int(show(host, "NRestarts")["NRestarts"]) > restarts
        and show(host, "ActiveState")["ActiveState"] == "active",
        timeout=150,
    )
    assert "watchdog" in sh(host, f"journalctl -u {UNIT} -b --no-pager").stdout.lower()


def test_journal_at_warning_shows_only_warnings_and_worse(host):
    entries = [
        json.loads(line)
        for line in sh(host, f"journalctl -u {UNIT} -b -o json --no-pager").stdout.splitlines()
    ]
    warnings = [e for e in entries if int(e.get("PRIORITY", 6)) <= 4]
    below = [e for e in entries if int(e.get("PRIORITY", 6)) > 4]
    assert warnings and below, "the journal holds both warnings (the watchdog) and info lines"
    filtered = [
        json.loads(line)
        for line in sh(host, f"journalctl -u {UNIT} -b -p warning -o json --no-pager").stdout.splitlines()
    ]
    assert all(int(e["PRIORITY"]) <= 4 for e in filtered)
    assert {e["__CURSOR"] for e in warnings} <= {e["__CURSOR"] for e in filtered}
    # nats-server's own [INF] lines never come out as warnings.
    assert not any("[INF]" in e.get("MESSAGE", "") for e in warnings)


def test_stop_goes_through_lame_duck(host):
    mark = cursor(host)
    sh(host, f"systemctl stop {UNIT}")
    messages = " ".join(e.get("MESSAGE", "") for e in journal_since(host, mark)).lower()
    assert "lame duck" in messages, messages
    assert show(host, "ActiveState", "Result")["Result"] == "success"


def test_upgrade_keeps_the_edited_config_and_restarts_a_running_service_once(host):
    sh(host, f"sed -i 's/^name = \"node-1\"/name = \"node-1\" # edited/' {CONFIG}")
    edited = sh(host, f"cat {CONFIG}").stdout
    sh(host, f"systemctl start {UNIT}")
    before = show(host, "MainPID")["MainPID"]
    mark = cursor(host)

    sh(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y /root/pier-2.deb 2>&1")
    assert sh(host, "dpkg-query -W -f '${Version}' pier").stdout.endswith("-2")
    assert sh(host, f"cat {CONFIG}").stdout == edited
    state = show(host, "ActiveState", "MainPID")
    assert state["ActiveState"] == "active" and state["MainPID"] != before, state
    starts = [e for e in journal_since(host, mark) if e.get("MESSAGE_ID") == UNIT_STARTED]
    assert len(starts) == 1, f"restarted {len(starts)} times"

    # A stopped service stays stopped through an upgrade (here: the same package again).
    sh(host, f"systemctl stop {UNIT}")
    sh(host, "DEBIAN_FRONTEND=noninteractive dpkg -i /root/pier-2.deb 2>&1")
    assert sh(host, f"systemctl is-active {UNIT}", check=False).stdout.strip() == "inactive"


def test_remove_keeps_the_store_and_purge_keeps_it_too(host):
    sh(host, f"systemctl start {UNIT}")
    store = "/var/lib/pier/jetstream"
    assert sh(host, f"test -d {store}", check=False).returncode == 0
    sh(host, "DEBIAN_FRONTEND=noninteractive apt-get remove -y pier 2>&1")
    assert sh(host, f"systemctl is-active {UNIT}", check=False).stdout.strip() == "inactive"
    assert sh(host, "pgrep -x nats-server", check=False).returncode != 0
    assert sh(host, f"test -d {store} && test -f {CONFIG}", check=False).returncode == 0

    purged = sh(host, "DEBIAN_FRONTEND=noninteractive apt-get purge -y pier 2>&1").stdout
    assert "rm -rf /var/lib/pier" in purged, purged
    assert sh(host, f"test -e {CONFIG}", check=False).returncode != 0
    assert sh(host, f"test -d {store}", check=False).returncode == 0
    assert sh(host, "getent passwd pier", check=False).returncode == 0


def test_installed_unit_exposure(host):
    """systemd-analyze security on the unit as the package installed it (reinstalled here)."""
    sh(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y /root/pier-2.deb >/dev/null 2>&1")
    out = sh(host, f"systemd-analyze security --no-pager {UNIT}").stdout
    found = re.search(r"Overall exposure level for pier-broker.service: ([\d.]+)", out)
    assert found, out
    print(f"systemd-analyze security {UNIT} on {HOST}: {found.group(1)}")
    assert float(found.group(1)) <= UPSTREAM_HARDENED_EXPOSURE, out


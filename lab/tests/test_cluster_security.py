"""TLS, mutual TLS and credentials on the lab's three hosts, set up as docs/security.md says
(issue 12): certificates made by docs/security/make-certs.sh with the lab's addresses as SANs,
installed in /etc/pier/tls, the documented pier.toml sections added on every node.

Runs on the cluster the rollout made (reused when whole, as test_cluster_faults does), turns it
into a TLS cluster (every node restarted at once: routes with and without TLS cannot meet) and
turns it back at the end. Clients are Python's ssl module in ctl, speaking the NATS protocol.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pierlab import Lab
from rollout import CONFIG, NODES, REPO, UNIT, rolled_out, status, wait_whole

MAKE_CERTS = REPO / "docs" / "security" / "make-certs.sh"
TLS_DIR = "/etc/pier/tls"
ADDRESS = {n: f"203.0.113.1{i}" for i, n in enumerate(NODES, start=1)}

# A NATS client in ctl: TLS with the CA, CONNECT with the given user (or none), then PING.
# Prints the server's first INFO, the server certificate's SHA-256 and the answer to PING; with
# --hold it keeps the connection, and on each line from stdin PINGs again on the same socket.
CLIENT = r"""
import hashlib, json, socket, ssl, sys
address, ca, user, password, hold = sys.argv[1:6]
raw = socket.create_connection((address, 4222), timeout=5)
info = raw.recv(4096).decode()
print(json.dumps({"info": info.strip()}), flush=True)
if ca == "-":
    raw.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    print(json.dumps({"answer": raw.recv(4096).decode().strip()}), flush=True)
    sys.exit(0)
context = ssl.create_default_context(cafile=ca)
try:
    s = context.wrap_socket(raw, server_hostname=address)
except ssl.SSLError as e:
    print(json.dumps({"answer": f"TLS: {e.reason}"}), flush=True)
    sys.exit(0)
cert = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
connect = {"verbose": False, "pedantic": False, "tls_required": True}
if user != "-":
    connect.update(user=user, pass_=password)
s.sendall(("CONNECT " + json.dumps(connect).replace("pass_", "pass") + "\r\nPING\r\n").encode())
def answer():
    try:
        return s.recv(4096).decode().strip()
    except OSError as e:
        return type(e).__name__
print(json.dumps({"cert": cert, "answer": answer()}), flush=True)
if hold == "hold":
    for _ in sys.stdin:
        s.sendall(b"PING\r\n")
        print(json.dumps({"answer": answer()}), flush=True)
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cluster's CA and a certificate per node, as docs/security.md makes them; and a foreign
    CA with a certificate for nats-node-3."""
    pki = tmp_path_factory.mktemp("pki")
    for ca in ("cluster", "foreign"):
        make_certs("ca", pki / ca)
    for node in NODES:
        make_certs("node", pki / "cluster", *sans(node))
    make_certs("node", pki / "foreign", *sans("nats-node-3"))
    (pki / "route.pass").write_text(secrets.token_hex(24) + "\n")
    (pki / "app.pass").write_text(secrets.token_hex(24) + "\n")
    return pki


def sans(node: str) -> list[str]:
    """The node's name and SANs, as docs/security.md lists them: its address, its name, and
    127.0.0.1, which pier's own client (provisioning) dials when clients listen on 0.0.0.0."""
    return [node, ADDRESS[node], node, "127.0.0.1"]


def make_certs(*args: str | Path) -> None:
    done = subprocess.run(["sh", str(MAKE_CERTS), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, f"make-certs.sh {args}: {done.stderr}"


def put(lab: Lab, node: str, source: Path, target: str, mode: str) -> None:
    """install(1) on the host, from a (text) file on the machine."""
    install = f"cat > {target}.new && install -o pier -g pier -m {mode} {target}.new {target} && rm {target}.new"
    lab.exec(node, install, input=source.read_text())


def install_node_files(lab: Lab, node: str, pki: Path, ca: str = "cluster") -> None:
    lab.exec(node, ["install", "-d", "-o", "pier", "-g", "pier", "-m", "0750", TLS_DIR])
    put(lab, node, pki / "cluster" / "ca.pem", f"{TLS_DIR}/ca.pem", "0644")
    put(lab, node, pki / ca / f"{node}.pem", f"{TLS_DIR}/node.pem", "0644")
    put(lab, node, pki / ca / f"{node}-key.pem", f"{TLS_DIR}/node-key.pem", "0600")
    for secret in ("route.pass", "app.pass"):
        put(lab, node, pki / secret, f"{TLS_DIR}/{secret}", "0600")


def documented_sections() -> str:
    doc = (REPO / "docs" / "security.md").read_text()
    found = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert found, "docs/security.md has no pier.toml sections"
    return found.group(1)


def restart(lab: Lab, node: str, *flags: str) -> None:
    # This module restarts nodes more often than the unit's start limit (5 in 120 s) allows a
    # crash loop; an operator restarting on purpose clears it the same way.
    lab.exec(node, ["systemctl", "reset-failed", UNIT])
    lab.exec(node, ["systemctl", "restart", *flags, UNIT], timeout=180)


def restart_all(lab: Lab) -> None:
    """Every node at once: a cluster changing its route TLS cannot do it one node at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(NODES)) as pool:
        for done in [pool.submit(restart, lab, n) for n in NODES]:
            done.result()  # a failed restart fails the test
    wait_whole(lab)


@pytest.fixture(scope="module")
def secure(request, lab: Lab, tmp_path_factory, pki: Path) -> Iterator[Lab]:
    rolled_out(request, lab, tmp_path_factory)
    for node in NODES:
        install_node_files(lab, node, pki)
        lab.exec(node, f"cp {CONFIG} /root/pier.toml.plain")
        lab.exec(node, f"printf '\\n' >> {CONFIG} && cat >> {CONFIG}", input=documented_sections())
        lab.exec(node, ["pier-broker", "validate", "--config", CONFIG])
    restart_all(lab)
    yield lab
    for node in NODES:
        lab.exec(node, f"cp /root/pier.toml.plain {CONFIG} && rm -rf {TLS_DIR}")
    restart_all(lab)


def client(lab: Lab, node: str, pki: Path | None, user: str | None = None, password: str = "") -> dict:
    """One connection from ctl to the node's client port; what the server said."""
    argv = [
        "python3", "-c", CLIENT, ADDRESS[node],
        str(pki / "cluster" / "ca.pem") if pki else "-", user or "-", password or "-", "once",
    ]
    lines = lab.ctl(argv, timeout=30).stdout.splitlines()
    said: dict = {}
    for line in lines:
        said.update(json.loads(line))
    return said


def test_routes_form_with_mutual_tls_and_provisioning_logs_in(secure: Lab) -> None:
    for node in NODES:
        view = status(secure, node)
        assert view["cluster_formed"] and view["node"]["routes"]["all_routed"], view
        assert '"tls_required":true' in client(secure, node, None)["info"]
        # Provisioning logs in over TLS once a meta leader is known; STATUS= says so at its
        # next 5 s beat.
        deadline = time.monotonic() + 30
        while "provisioned (" not in (said := unit_status(secure, node)):
            assert time.monotonic() < deadline and "FAILED" not in said, f"{node}: {said}"
            time.sleep(0.5)


def unit_status(lab: Lab, node: str) -> str:
    return lab.exec(node, ["systemctl", "show", "-P", "StatusText", UNIT]).stdout.strip()


def test_clients_need_tls_and_a_password(secure: Lab, pki: Path) -> None:
    password = (pki / "app.pass").read_text().strip()
    node = NODES[0]
    plain = client(secure, node, None)
    assert "PONG" not in plain["answer"], plain
    assert "Authorization Violation" in client(secure, node, pki)["answer"]
    assert "Authorization Violation" in client(secure, node, pki, "app", "wrong")["answer"]
    assert client(secure, node, pki, "app", password)["answer"] == "PONG"


def test_a_node_with_a_foreign_certificate_cannot_join(secure: Lab, pki: Path) -> None:
    lab, foreign = secure, "nats-node-3"
    install_node_files(lab, foreign, pki, ca="foreign")
    # --no-block: alone, the node may never be READY; what matters is what the others let in.
    restart(lab, foreign, "--no-block")
    try:
        deadline = time.monotonic() + 30
        while status_routes(lab, "nats-node-1")["missing"] != [foreign]:
            assert time.monotonic() < deadline, status_routes(lab, "nats-node-1")
            time.sleep(0.5)
        time.sleep(3)  # and it stays out
        assert status_routes(lab, "nats-node-1")["missing"] == [foreign]
        assert status_routes(lab, "nats-node-2")["missing"] == [foreign]
        journal = lab.exec("nats-node-1", ["journalctl", "-u", UNIT, "--since", "-1min", "--no-pager"]).stdout
        assert "certificate signed by unknown authority" in journal
    finally:
        install_node_files(lab, foreign, pki)
        restart(lab, foreign)
        wait_whole(lab)


def status_routes(lab: Lab, node: str) -> dict:
    argv = ["pier-broker", "status", "--config", CONFIG, "--format", "json"]
    return json.loads(lab.exec(node, argv, check=False).stdout)["node"]["routes"]


def test_secrets_appear_nowhere(secure: Lab, pki: Path) -> None:
    lab = secure
    passwords = [(pki / f).read_text().strip() for f in ("route.pass", "app.pass")]
    for node in NODES:
        said = "\n".join(
            lab.exec(node, argv, check=False).stdout
            for argv in (
                ["journalctl", "-b", "--no-pager", "-o", "verbose"],
                ["pier-broker", "status", "--config", CONFIG],
                ["pier-broker", "status", "--config", CONFIG, "--format", "json"],
                ["pier-broker", "render", "--config", CONFIG],
                ["systemctl", "show", "-P", "StatusText", UNIT],
            )
        )
        for password in passwords:
            assert password not in said, f"a password shows on {node}"
        runtime = lab.exec(node, ["stat", "-c", "%a %U", "/run/pier/nats-server.conf"]).stdout.split()
        assert runtime == ["600", "pier"], runtime
        # The file that holds them does hold them: the search above could have found them.
        assert passwords[0] in lab.exec(node, ["cat", "/run/pier/nats-server.conf"]).stdout


def test_a_certificate_rotated_by_reload_keeps_connected_clients(secure: Lab, pki: Path) -> None:
    lab, node = secure, NODES[0]
    password = (pki / "app.pass").read_text().strip()
    argv = ["python3", "-c", CLIENT, ADDRESS[node], str(pki / "cluster" / "ca.pem"), "app", password, "hold"]
    held = subprocess.Popen(lab.ctl_argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout is not None and held.stdin is not None
        held.stdout.readline()  # INFO
        before = json.loads(held.stdout.readline())
        assert before["answer"] == "PONG", before
        make_certs("node", pki / "cluster", *sans(node))
        install_node_files(lab, node, pki)
        lab.exec(node, ["systemctl", "reload", UNIT])
        held.stdin.write("again\n")
        held.stdin.flush()
        assert json.loads(held.stdout.readline())["answer"] == "PONG", "the connected client was dropped"
    finally:
        held.kill()
    after = client(lab, node, pki, "app", password)
    assert after["answer"] == "PONG"
    assert after["cert"] != before["cert"], "a new client still sees the old certificate"
    wait_whole(lab)

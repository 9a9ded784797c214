"""TLS, mutual TLS, credentials and permissions on the lab's three hosts as the default rollout
leaves them (issue 21): the CA, node certificates and passwords the pier_broker role made once on
the controller (rollout.SECRETS), in /etc/pier/tls on every host, and the sections of
docs/examples/hk. Nothing here secures the cluster: it is secure from its first start.

From ctl: an anonymous client, or a client that does not trust the cluster's CA, is refused; a
user cannot publish or subscribe outside its permissions; the worker cannot delete LOGS; a host
with a certificate of another CA cannot join the routes; no secret shows where an operator
looks; a certificate rotated by reload keeps its clients. Runs on the cluster the rollout made
(reused when whole, as test_cluster_faults does). Clients are Python's ssl module in ctl,
speaking the NATS protocol.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from rollout import ADDRESS, CONFIG, NODES, REPO, SECRETS, TLS_DIR, UNIT, rolled_out, status, wait_whole

from pierlab import Lab

MAKE_CERTS = REPO / "docs" / "security" / "make-certs.sh"

# A NATS client in ctl: TLS with the CA (or none: "-"), CONNECT with the given user (or none),
# then a protocol line of the test's (or none) and PING. Prints the server's first INFO, the
# server certificate's SHA-256 and what the server answered up to its PONG; with "hold" it keeps
# the connection, and on each line from stdin PINGs again on the same socket.
CLIENT = r"""
import hashlib, json, socket, ssl, sys, time
address, ca, user, password, hold, command = sys.argv[1:7]
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
line = "CONNECT " + json.dumps(connect).replace("pass_", "pass") + "\r\n"
if command != "-":
    line += command.replace("\\r\\n", "\r\n") + "\r\n"
s.sendall((line + "PING\r\n").encode())
def answer():
    said, deadline = "", time.monotonic() + 5
    while "PONG" not in said and time.monotonic() < deadline:
        try:
            chunk = s.recv(4096).decode()
        except OSError as e:
            return said + type(e).__name__
        if not chunk:
            break
        said += chunk
    return said.strip()
print(json.dumps({"cert": cert, "answer": answer()}), flush=True)
if hold == "hold":
    for _ in sys.stdin:
        s.sendall(b"PING\r\n")
        print(json.dumps({"answer": answer()}), flush=True)
"""


@pytest.fixture(scope="module")
def secure(request, lab: Lab, tmp_path_factory) -> Lab:
    rolled_out(request, lab, tmp_path_factory)
    return lab


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA, with a certificate for nats-node-3 as the rollout makes one."""
    pki = tmp_path_factory.mktemp("foreign")
    make_certs("ca", pki)
    make_certs("node", pki, *sans("nats-node-3"))
    return pki


def sans(node: str) -> list[str]:
    """The node's name and SANs as the rollout gives them: its name, its route address, and
    127.0.0.1, which pier's own client (provisioning) dials when clients listen on 0.0.0.0."""
    return [node, node, ADDRESS[node], "127.0.0.1"]


def make_certs(*args: str | Path) -> None:
    done = subprocess.run(["sh", str(MAKE_CERTS), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, f"make-certs.sh {args}: {done.stderr}"


def password(user: str) -> str:
    return (SECRETS / f"{user}.pass").read_text().strip()


def put(lab: Lab, node: str, source: Path, target: str, mode: str) -> None:
    """install(1) on the host, from a (text) file on the machine."""
    install = (
        f"cat > {target}.new && install -o pier -g pier -m {mode} {target}.new {target} && rm {target}.new"
    )
    lab.exec(node, install, input=source.read_text())


def install_node_certificate(lab: Lab, node: str, pki: Path) -> None:
    put(lab, node, pki / f"{node}.pem", f"{TLS_DIR}/node.pem", "0644")
    put(lab, node, pki / f"{node}-key.pem", f"{TLS_DIR}/node-key.pem", "0600")


def restart(lab: Lab, node: str, *flags: str) -> None:
    # This module restarts nodes more often than the unit's start limit (5 in 120 s) allows a
    # crash loop; an operator restarting on purpose clears it the same way.
    lab.exec(node, ["systemctl", "reset-failed", UNIT])
    lab.exec(node, ["systemctl", "restart", *flags, UNIT], timeout=180)


def client(
    lab: Lab, node: str, tls: bool = True, user: str | None = None, secret: str = "", command: str = ""
) -> dict:
    """One connection from ctl to the node's client port; what the server said."""
    argv = [
        "python3",
        "-c",
        CLIENT,
        ADDRESS[node],
        str(SECRETS / "ca.pem") if tls else "-",
        user or "-",
        secret or "-",
        "once",
        command or "-",
    ]
    said: dict = {}
    for line in lab.ctl(argv, timeout=30).stdout.splitlines():
        said.update(json.loads(line))
    return said


def test_routes_form_with_mutual_tls_and_provisioning_logs_in(secure: Lab) -> None:
    for node in NODES:
        view = status(secure, node)
        assert view["cluster_formed"] and view["node"]["routes"]["all_routed"], view
        assert '"tls_required":true' in client(secure, node, tls=False)["info"]
        # Provisioning logs in as pier over TLS once a meta leader is known; STATUS= says so at
        # its next 5 s beat.
        deadline = time.monotonic() + 30
        while "provisioned (" not in (said := unit_status(secure, node)):
            assert time.monotonic() < deadline and "FAILED" not in said, f"{node}: {said}"
            time.sleep(0.5)


def unit_status(lab: Lab, node: str) -> str:
    return lab.exec(node, ["systemctl", "show", "-P", "StatusText", UNIT]).stdout.strip()


def test_clients_need_tls_and_a_password(secure: Lab) -> None:
    node = NODES[0]
    plain = client(secure, node, tls=False)
    assert "PONG" not in plain["answer"], plain
    assert "Authorization Violation" in client(secure, node)["answer"]
    assert "Authorization Violation" in client(secure, node, user="publisher", secret="wrong")["answer"]
    assert client(secure, node, user="publisher", secret=password("publisher"))["answer"] == "PONG"


def test_users_stay_within_their_permissions(secure: Lab) -> None:
    node = NODES[1]
    publisher, worker = ("publisher", password("publisher")), ("worker", password("worker"))
    refused = {
        (publisher, "SUB logs.> 1"): 'Subscription to "logs.>"',
        (publisher, "PUB jobs.other 0\\r\\n"): 'Publish to "jobs.other"',
        (
            worker,
            "PUB $JS.API.STREAM.DELETE.LOGS _INBOX.x 0\\r\\n",
        ): 'Publish to "$JS.API.STREAM.DELETE.LOGS"',
        (worker, "PUB logs.forged 0\\r\\n"): 'Publish to "logs.forged"',
    }
    for ((user, secret), command), subject in refused.items():
        answer = client(secure, node, user=user, secret=secret, command=command)["answer"]
        assert f"Permissions Violation for {subject}" in answer, f"{user} {command}: {answer}"
    allowed = [
        (publisher, "PUB jobs.process 2\\r\\nhi"),
        (worker, "SUB jobs.process worker-group 1"),
        (worker, "PUB $JS.API.CONSUMER.INFO.LOGS.pull-worker _INBOX.x 0\\r\\n"),
    ]
    for (user, secret), command in allowed:
        answer = client(secure, node, user=user, secret=secret, command=command)["answer"]
        assert answer == "PONG", f"{user} {command}: {answer}"
    view = status(secure, node)
    assert "LOGS" in [s["name"] for s in view["node"]["streams"]], view


def test_a_node_with_a_foreign_certificate_cannot_join(secure: Lab, foreign: Path) -> None:
    lab, node = secure, "nats-node-3"
    install_node_certificate(lab, node, foreign)
    # --no-block: alone, the node may never be READY; what matters is what the others let in.
    restart(lab, node, "--no-block")
    try:
        deadline = time.monotonic() + 30
        while status_routes(lab, "nats-node-1")["missing"] != [node]:
            assert time.monotonic() < deadline, status_routes(lab, "nats-node-1")
            time.sleep(0.5)
        time.sleep(3)  # and it stays out
        assert status_routes(lab, "nats-node-1")["missing"] == [node]
        assert status_routes(lab, "nats-node-2")["missing"] == [node]
        journal = lab.exec("nats-node-1", ["journalctl", "-u", UNIT, "--since", "-1min", "--no-pager"]).stdout
        assert "certificate signed by unknown authority" in journal
    finally:
        install_node_certificate(lab, node, SECRETS)
        restart(lab, node)
        wait_whole(lab)


def status_routes(lab: Lab, node: str) -> dict:
    argv = ["pier-broker", "status", "--config", CONFIG, "--format", "json"]
    return json.loads(lab.exec(node, argv, check=False).stdout)["node"]["routes"]


def test_secrets_appear_nowhere(secure: Lab) -> None:
    lab = secure
    passwords = [password(user) for user in ("route", "pier", "publisher", "worker")]
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
        for secret in passwords:
            assert secret not in said, f"a password shows on {node}"
        runtime = lab.exec(node, ["stat", "-c", "%a %U", "/run/pier/nats-server.conf"]).stdout.split()
        assert runtime == ["600", "pier"], runtime
        # The file that holds them does hold them: the search above could have found them.
        assert passwords[0] in lab.exec(node, ["cat", "/run/pier/nats-server.conf"]).stdout


def test_a_certificate_rotated_by_reload_keeps_connected_clients(secure: Lab) -> None:
    lab, node = secure, NODES[0]
    secret = password("publisher")
    argv = ["python3", "-c", CLIENT, ADDRESS[node], str(SECRETS / "ca.pem"), "publisher", secret, "hold", "-"]
    held = subprocess.Popen(lab.ctl_argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout is not None and held.stdin is not None
        held.stdout.readline()  # INFO
        before = json.loads(held.stdout.readline())
        assert before["answer"] == "PONG", before
        # A new key and certificate where the rollout keeps them, so its next run copies these.
        make_certs("node", SECRETS, *sans(node))
        install_node_certificate(lab, node, SECRETS)
        lab.exec(node, ["systemctl", "reload", UNIT])
        held.stdin.write("again\n")
        held.stdin.flush()
        assert json.loads(held.stdout.readline())["answer"] == "PONG", "the connected client was dropped"
    finally:
        held.kill()
    after = client(lab, node, user="publisher", secret=secret)
    assert after["answer"] == "PONG"
    assert after["cert"] != before["cert"], "a new client still sees the old certificate"
    wait_whole(lab)

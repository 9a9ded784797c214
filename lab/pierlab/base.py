"""The base layer every host boots from: the machine's own / with what hosts need installed.

Built once into a tmpfs upper dir over lowerdir=/ (chroot apt-get install, services kept from
starting by a policy-rc.d that exits 101), then kept as a tar file under CACHE_DIR keyed by the
recipe and the machine's package database, so later `up`s only unpack it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from . import layout
from .run import LabError, log, run

RECIPE_VERSION = "1"
PACKAGES = [
    "openssh-server",
    "nftables",
    "iproute2",
    "iputils-ping",
    "netcat-openbsd",
    "procps",
    "python3",
    "e2fsprogs",
    "sudo",
]
# Units that would fight the machine or have nothing to do in a namespace host. Every unit the
# machine itself enables is masked as well (see machine_enabled_units), among them Debian's
# nats-server.service: the hosts run pier's cluster, never the machine's server.
MASKED = [
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-timesyncd.service",
    "systemd-networkd.service",
    "systemd-resolved.service",
    "networking.service",
    "systemd-pstore.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "man-db.timer",
    "nats-server.service",
]
SSHD_CONFIG = """\
# Written by pier-lab: keys only, root by key (Ansible logs in as root), no DNS look-ups.
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""
MARKER = ".pier-lab-base"


def machine_enabled_units(root: Path = Path("/")) -> list[str]:
    wants = root / "etc/systemd/system"
    found = {p.name for d in wants.glob("*.wants") for p in d.iterdir()} if wants.is_dir() else set()
    return sorted(found)


def cache_key() -> str:
    digest = hashlib.sha256()
    digest.update(RECIPE_VERSION.encode())
    digest.update(" ".join(PACKAGES + MASKED + machine_enabled_units()).encode())
    digest.update(SSHD_CONFIG.encode())
    # lowerdir=/ is the live machine: a package installed there since invalidates the base.
    digest.update(Path("/var/lib/dpkg/status").read_bytes())
    return digest.hexdigest()[:16]


def ensure(in_use: bool) -> str:
    """Makes BASE_UPPER hold the current base layer; says how it got there. A base layer that
    running hosts boot from (in_use) is never replaced under them, even when outdated."""
    key = cache_key()
    marker = layout.BASE_UPPER / MARKER
    if marker.exists() and marker.read_text().strip() == key:
        return "base layer already in place"
    if marker.exists() and in_use:
        return (
            "base layer outdated (the machine's packages changed): kept for the running hosts; "
            "down and up rebuild it"
        )
    started = time.monotonic()
    for d in (layout.BASE_UPPER, layout.BASE_WORK):
        run(["rm", "-rf", "--one-file-system", str(d)])
        d.mkdir(parents=True)
    cached = layout.CACHE_DIR / f"base-{key}.tar"
    if cached.exists():
        unpack(cached)
        how = f"base layer unpacked from {cached}"
    else:
        build()
        pack(cached)
        how = f"base layer built and cached in {cached}"
    marker.write_text(key + "\n")
    return f"{how} in {time.monotonic() - started:.1f}s"


# Overlay whiteouts are character devices and opaque dirs are trusted.* xattrs: tar keeps both.
TAR_FLAGS = ["--xattrs", "--xattrs-include=trusted.*", "--numeric-owner"]


def pack(cached: Path) -> None:
    cached.parent.mkdir(parents=True, exist_ok=True)
    for old in cached.parent.glob("base-*.tar"):
        old.unlink()
    partial = cached.with_suffix(".partial")
    run(["tar", "-C", str(layout.BASE_UPPER), *TAR_FLAGS, "-cf", str(partial), "."], timeout=300)
    partial.rename(cached)


def unpack(cached: Path) -> None:
    run(["tar", "-C", str(layout.BASE_UPPER), *TAR_FLAGS, "-xpf", str(cached)], timeout=300)


def build() -> None:
    """Installs PACKAGES into the base layer in a private mount namespace.

    Every mount made here (the overlay, proc, dev) lives in that namespace and is gone when the
    build ends, whatever happens; only the tmpfs upper dir keeps what was written.
    """
    masked = sorted(set(MASKED) | set(machine_enabled_units()))
    root = layout.STATE_DIR / "base-root"
    root.mkdir(parents=True, exist_ok=True)
    script = f"""
set -eu
root={root}
mount -t overlay overlay -o lowerdir=/,upperdir={layout.BASE_UPPER},workdir={layout.BASE_WORK} "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
printf '#!/bin/sh\\nexit 101\\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
chroot "$root" apt-get update -qq
chroot "$root" apt-get install -y -qq --no-install-recommends {" ".join(PACKAGES)}
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d" "$root"/etc/ssh/ssh_host_*
echo '# pier-lab host: no file systems of the machine' > "$root/etc/fstab"
printf '%s' '{SSHD_CONFIG}' > "$root/etc/ssh/sshd_config.d/pier-lab.conf"
systemctl --root="$root" mask {" ".join(masked)} >/dev/null 2>&1
systemctl --root="$root" enable ssh.service >/dev/null 2>&1
systemctl --root="$root" set-default multi-user.target >/dev/null 2>&1
"""
    log.info("building the base layer (apt-get install %s)", " ".join(PACKAGES))
    # In the lab's cgroup, so that `down` after a crash of the harness stops a build under way.
    cgroup = layout.CGROUP_ROOT / "base-build"
    cgroup.mkdir(parents=True, exist_ok=True)
    launcher = f'echo $$ > {cgroup}/cgroup.procs && exec unshare --mount --fork sh -c "$0"'
    done = run(["sh", "-c", launcher, script], check=False, timeout=900)
    cgroup.rmdir()
    os.rmdir(root)
    if done.returncode != 0:
        raise LabError(f"building the base layer failed: {done.stderr.strip()[-2000:]}")

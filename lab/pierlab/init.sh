#!/bin/sh
# PID 1 of a lab host's new namespaces (pid, mount, uts, ipc, cgroup; the network namespace is
# the host's, entered before): builds the host's root and becomes its systemd.
# Arguments: hostname, overlay lowerdir (base upper), upperdir, workdir, root mount point, store.
set -eu
host=$1 lower=$2 upper=$3 work=$4 root=$5 store=$6

# Nothing mounted here may reach the machine's namespace.
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$lower:/,upperdir=$upper,workdir=$work" "$root"
# The store is mounted in the machine's namespace, so it outlives a crash of this one.
mkdir -p "$root/var/lib/pier"
mount --bind "$store" "$root/var/lib/pier"

mount -t proc proc "$root/proc"
# Read-only /proc/sys, or systemd-sysctl would tune the real machine; the namespace's own net
# sysctls stay writable.
mount --bind "$root/proc/sys" "$root/proc/sys"
mount --bind "$root/proc/sys/net" "$root/proc/sys/net"
mount -o remount,bind,ro "$root/proc/sys"
# A boot id of its own, so journalctl -b and `systemctl` see one boot per boot.
cat /proc/sys/kernel/random/uuid > "$upper/../boot_id"
mount --bind "$upper/../boot_id" "$root/proc/sys/kernel/random/boot_id"
mount -t sysfs -o ro sysfs "$root/sys"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"

mount -t tmpfs -o mode=755,size=16m tmpfs "$root/dev"
for d in null zero full random urandom tty; do
    touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
done
touch "$root/dev/console"
mount --bind /dev/null "$root/dev/console"
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/run/systemd"
echo pier-lab > "$root/run/systemd/container"

hostname "$host"
cd "$root"
pivot_root . .
umount -l .
export container=pier-lab
exec /lib/systemd/systemd

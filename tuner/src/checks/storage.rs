//! Where the JetStream store lives: a local, non-rotational device on its own noatime mount with
//! room for `max_file_store`.

use std::path::{Path, PathBuf};

use super::{Category, Check, Context, Spec};
use crate::facts::mountinfo::{self, Mount};
use crate::host::{Host, HostError};

const CAT: Category = Category::Storage;

const NETWORK_OR_MEMORY: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "tmpfs",
    "ramfs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "9p",
    "virtiofs",
];

const FILESYSTEM: Spec = Spec::one("storage.filesystem", CAT, "JetStream store filesystem");
const LOCAL: Spec = Spec::one("storage.local", CAT, "JetStream store on a local device");
const OWN_MOUNT: Spec = Spec::one("storage.own_mount", CAT, "JetStream store on its own mount");
const NOATIME: Spec = Spec::one("storage.noatime", CAT, "JetStream store mounted noatime");
const ROTATIONAL: Spec = Spec::one(
    "storage.rotational",
    CAT,
    "JetStream store on a non-rotational device",
);
const FREE_SPACE: Spec = Spec::one("storage.free_space", CAT, "free space for max_file_store");
pub const SPECS: &[Spec] = &[
    FILESYSTEM, LOCAL, OWN_MOUNT, NOATIME, ROTATIONAL, FREE_SPACE,
];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let js = &ctx.config.jetstream;
    if !js.enabled {
        for spec in SPECS {
            out.push(spec.draft().skip("JetStream disabled"));
        }
        return;
    }
    let (store, existing) = store_path(ctx.host, &js.store_dir);
    let mounts = mountinfo::read(ctx.host);
    let mount = match &mounts {
        Err(e) => {
            for spec in SPECS {
                out.push(spec.draft().error(e));
            }
            return;
        }
        Ok(mounts) => match mountinfo::holding(mounts, &store) {
            Some(m) => m,
            None => {
                for spec in SPECS {
                    out.push(
                        spec.draft()
                            .skip(format!("no mount holds {}", store.display())),
                    );
                }
                return;
            }
        },
    };
    let at = format!(
        "{} ({} on {})",
        store.display(),
        mount.source,
        mount.mount_point.display()
    );
    let remote = NETWORK_OR_MEMORY.contains(&mount.fs_type.as_str());

    let draft = FILESYSTEM.draft().expected("xfs or ext4");
    out.push(match mount.fs_type.as_str() {
        "xfs" | "ext4" => draft.observed(format!("{} at {at}", mount.fs_type)).pass(),
        _ if remote => draft.skip(format!("{} (judged by storage.local)", mount.fs_type)),
        other => draft
            .observed(format!("{other} at {at}"))
            .warn("JetStream's fsync-heavy append log is best served by xfs or ext4"),
    });

    let draft = LOCAL
        .draft()
        .expected("a local block device (not nfs, cifs, smb3, tmpfs)");
    out.push(if remote {
        draft
            .observed(format!("{} at {at}", mount.fs_type))
            .fail("put jetstream.store_dir on a local SSD: network filesystems add latency and break fsync guarantees, tmpfs loses everything on reboot")
    } else {
        draft.observed(format!("{} at {at}", mount.fs_type)).pass()
    });

    let draft = OWN_MOUNT.draft().expected("a mount point other than /");
    out.push(if mount.mount_point == Path::new("/") {
        draft
            .observed(format!("on / ({})", mount.source))
            .warn("give the store its own filesystem (a dedicated SSD mounted at /var/lib/pier) so logs and packages cannot fill it")
    } else {
        draft.observed(format!("{}", mount.mount_point.display())).pass()
    });

    let draft = NOATIME.draft().expected("noatime");
    let options = mount.options.join(",");
    out.push(if mount.has_option("noatime") {
        draft.observed(options).pass()
    } else if mount.has_option("relatime") {
        draft.observed(options).warn(format!(
            "mount {} with noatime (add it in /etc/fstab, then `mount -o remount,noatime {}`)",
            mount.mount_point.display(),
            mount.mount_point.display()
        ))
    } else {
        draft.observed(options).fail(format!(
            "every read writes an access time: mount {} with noatime",
            mount.mount_point.display()
        ))
    });

    let draft = ROTATIONAL.draft().expected("rotational = 0");
    out.push(if remote {
        draft.skip(format!("{} has no local block device", mount.fs_type))
    } else {
        match disks(ctx.host, mount) {
            Err(e) => draft.error(&e),
            Ok(disks) if disks.is_empty() => {
                draft.skip(format!("no block device found for {}", mount.source))
            }
            Ok(disks) => {
                let rotating: Vec<&str> =
                    disks.iter().filter(|(_, r)| *r).map(|(d, _)| d.as_str()).collect();
                let names: Vec<String> = disks
                    .iter()
                    .map(|(d, r)| format!("{d} rotational={}", u8::from(*r)))
                    .collect();
                let draft = draft.observed(names.join(", "));
                if rotating.is_empty() {
                    draft.pass()
                } else {
                    draft.fail("move the store to an SSD or NVMe device: a seek per fsync caps JetStream at a few hundred writes per second")
                }
            }
        }
    });

    out.push(free_space(ctx, &existing));
}

/// The whole disks holding the JetStream store (empty on network filesystems or when unknown).
pub(crate) fn store_disks(host: &Host, store_dir: &Path) -> Result<Vec<(String, bool)>, HostError> {
    let (store, _) = store_path(host, store_dir);
    let mounts = mountinfo::read(host)?;
    match mountinfo::holding(&mounts, &store) {
        Some(mount) if !NETWORK_OR_MEMORY.contains(&mount.fs_type.as_str()) => disks(host, mount),
        _ => Ok(Vec::new()),
    }
}

/// The store path to match against mounts, and its nearest existing ancestor. On the live host
/// symlinks are resolved; in a captured tree the path is taken as written.
fn store_path(host: &Host, store: &Path) -> (PathBuf, PathBuf) {
    let mut existing = store.to_path_buf();
    while !host.exists(&existing) {
        match existing.parent() {
            Some(parent) => existing = parent.to_path_buf(),
            None => break,
        }
    }
    if host.is_live() {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let rest = store.strip_prefix(&existing).unwrap_or(Path::new(""));
            return (real.join(rest), real);
        }
    }
    (store.to_path_buf(), existing)
}

/// The whole disks under a mount and whether each rotates: partition → disk, device-mapper →
/// its slaves.
fn disks(host: &Host, mount: &Mount) -> Result<Vec<(String, bool)>, HostError> {
    let Some(name) = device_name(host, mount)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    collect_disks(host, &name, &mut out, 0)?;
    Ok(out)
}

fn device_name(host: &Host, mount: &Mount) -> Result<Option<String>, HostError> {
    if let Some(dm) = mount.source.strip_prefix("/dev/mapper/") {
        for dev in host
            .list("/sys/block")?
            .into_iter()
            .filter(|d| d.starts_with("dm-"))
        {
            if let Some(name) = host.read_optional(format!("/sys/block/{dev}/dm/name"))? {
                if name.trim() == dm {
                    return Ok(Some(dev));
                }
            }
        }
    }
    if let Some(name) = mount.source.strip_prefix("/dev/") {
        if !name.contains('/') && name != "root" {
            return Ok(Some(name.to_owned()));
        }
    }
    // /dev/root, /dev/disk/by-uuid/...: ask sysfs by device number.
    match host.read_link(format!("/sys/dev/block/{}", mount.device)) {
        Ok(link) => Ok(link.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(_) => Ok(None),
    }
}

fn collect_disks(
    host: &Host,
    name: &str,
    out: &mut Vec<(String, bool)>,
    depth: usize,
) -> Result<(), HostError> {
    if depth > 8 {
        return Ok(());
    }
    let disk = if host.exists(format!("/sys/block/{name}")) {
        name.to_owned()
    } else {
        match host
            .list("/sys/block")?
            .into_iter()
            .find(|disk| host.exists(format!("/sys/block/{disk}/{name}")))
        {
            Some(disk) => disk,
            None => return Ok(()),
        }
    };
    let slaves = host.list(format!("/sys/block/{disk}/slaves"))?;
    if !slaves.is_empty() {
        for slave in slaves {
            collect_disks(host, &slave, out, depth + 1)?;
        }
        return Ok(());
    }
    let rotational = host.parse(
        format!("/sys/block/{disk}/queue/rotational"),
        crate::facts::integer,
    )?;
    if !out.iter().any(|(d, _)| *d == disk) {
        out.push((disk, rotational != 0));
    }
    Ok(())
}

fn free_space(ctx: &Context, existing: &Path) -> Check {
    let max = ctx.config.jetstream.max_file_store;
    let draft = FREE_SPACE.draft().expected(match max {
        Some(max) => format!("≥ {max} available"),
        None => "max_file_store unset: nats-server takes up to 75% of the free space".to_owned(),
    });
    if !ctx.host.is_live() {
        return draft.skip("free space is measured on the live host only (--root /)");
    }
    match nix::sys::statvfs::statvfs(existing) {
        Err(e) => draft
            .observed(format!("statvfs {}: {e}", existing.display()))
            .warn("make the store directory reachable"),
        Ok(stat) => {
            // fsblkcnt_t and c_ulong are u64 on the 64-bit targets pier ships for.
            let (blocks, size): (u64, u64) = (stat.blocks_available(), stat.fragment_size());
            let free = blocks.saturating_mul(size);
            let draft = draft.observed(format!(
                "{} available at {}",
                pier_config::units::Bytes(free),
                existing.display()
            ));
            match max {
                Some(max) if free < max.get() => draft.fail("free space or lower jetstream.max_file_store: JetStream refuses writes when the disk fills"),
                _ => draft.pass(),
            }
        }
    }
}
